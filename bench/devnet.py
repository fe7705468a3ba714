"""Consortium devnet throughput: ``python -m bench.devnet [--json] [--count N]``.

Starts a consortium devnet node (``devnet.launcher``), signs N simple transfers and N ERC-20
transfers client-side (not timed), sends them through JSON-RPC in batches and measures until
all are mined. Runs with the default 1 s block time and again in instant-seal mode. Also
reports the block interval and the latency of a lone transaction (send -> receipt).

Then (or alone, with ``--load-only``) a load run: for ``--load-seconds`` (60) several clients
send expensive but allowed requests (eth_call of an infinite loop up to the gas cap, eth_getLogs
with 1,000 addresses over the whole chain, batches of 100 eth_estimateGas) to a 1 s block node, and
the bench reports the block interval measured meanwhile against the configured one (target:
within 10%).

Then (or alone, with ``--reads-only``) a read-latency run: a 1 s block node mines ``--count``
ERC-20 transfers pushed in batches (blocks of up to 1,000 contract calls, seconds of py-evm
each) while ``READERS`` clients poll like a watcher (eth_blockNumber, then eth_getBlockByNumber
of that number, every 20 ms); the bench reports p50/p99/max of both reads. A node that seals on
its event loop answers nothing while it builds a block; one that seals on a producer thread
keeps answering.

Figures (``--json``): ``transfers_per_s``, ``erc20_transfers_per_s``, ``block_interval_s``,
``block_latency_s``, the same rates in instant mode (``*_instant``), and under load
``load_block_interval_s``, ``load_max_gap_s``, ``load_requests``, ``load_deviation_pct``, and
``pool_select_s``: how long the pool takes to select a block from 5,000 transactions whose nonces
arrived in reverse (it runs on the sealing loop; target: under 1 s); under mining
``reads_block_number_{p50,p99,max}_ms``, ``reads_get_block_{p50,p99,max}_ms``, ``reads_samples``,
``reads_blocks`` and ``reads_max_block_txs``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from typing import Any

import aiohttp
import rlp
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from bench._table import emit, progress
from devnet.artifacts import dev_token
from devnet.keys import DevKey
from devnet.launcher import start_consortium
from devnet.txpool import PoolTx, TxPool
from harness import NodeRpc

BATCH = 250
SENDERS = 8
FEE = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}


async def _send_batch(client: NodeRpc, raws: list[bytes]) -> None:
    """``eth_sendRawTransaction`` of every one of ``raws`` in one batch; all must be accepted."""
    answers = await client.batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws])
    failed = [a["error"] for a in answers if "error" in a]
    if failed:
        raise RuntimeError(f"{len(failed)} transactions rejected, first: {failed[0]}")


def _sign(key: DevKey, chain_id: int, nonce: int, **fields: Any) -> bytes:
    tx = {"type": 2, "chainId": chain_id, "nonce": nonce, "value": 0, **FEE, **fields}
    return bytes(Account.sign_transaction(tx, key.private_key).raw_transaction)


async def _push_and_wait(client: NodeRpc, raws: list[bytes], finals: dict[str, int]) -> float:
    """Send ``raws`` in batches; seconds until every sender reached its final nonce."""
    start = time.perf_counter()
    for i in range(0, len(raws), BATCH):
        await _send_batch(client, raws[i : i + BATCH])
    while True:
        done = [await client.nonce(a, "latest") >= n for a, n in finals.items()]
        if all(done):
            return time.perf_counter() - start
        await asyncio.sleep(0.02)


async def _transfers(client: NodeRpc, count: int) -> float:
    node = client.node
    senders = node.accounts[:SENDERS]
    per = count // len(senders)
    finals: dict[str, int] = {}
    raws: list[bytes] = []
    progress(f"signing {per * len(senders)} transfers...")
    chunks = []
    for s_index, key in enumerate(senders):
        first = await client.nonce(key.hex_address, "pending")
        to = to_checksum_address(node.accounts[(s_index + 1) % 10].hex_address)
        chunks.append(
            [_sign(key, node.chain_id, first + i, to=to, value=1, gas=21000) for i in range(per)]
        )
        finals[key.hex_address] = first + per
    for i in range(per):  # interleave senders, like independent wallets would
        raws.extend(chunk[i] for chunk in chunks)
    progress("sending transfers...")
    return len(raws) / await _push_and_wait(client, raws, finals)


async def _deploy_token(client: NodeRpc) -> tuple[str, int]:
    """Deploy the dev ERC-20 from account 9; (token address, the owner's next nonce)."""
    node = client.node
    owner = node.accounts[9]
    nonce = await client.nonce(owner.hex_address, "pending")
    init = bytes.fromhex(dev_token()["bytecode"][2:]) + abi_encode(["uint256"], [10**30])
    await _send_batch(client, [_sign(owner, node.chain_id, nonce, data=init, gas=2_000_000)])
    token = "0x" + keccak(rlp.encode([owner.address, nonce]))[12:].hex()
    while await client.nonce(owner.hex_address, "latest") <= nonce:
        await asyncio.sleep(0.05)
    assert len(await client.call("eth_getCode", token, "latest")) > 2, "token not deployed"
    return token, nonce + 1


def _sign_erc20(node: Any, token: str, first_nonce: int, count: int) -> list[bytes]:
    """``count`` ERC-20 transfers from account 9 (nonces from ``first_nonce``)."""
    selector = keccak(b"transfer(address,uint256)")[:4]
    raws = []
    for i in range(count):
        to = node.accounts[i % 9].address
        data = selector + abi_encode(["address", "uint256"], [to, 1 + i])
        raws.append(
            _sign(
                node.accounts[9],
                node.chain_id,
                first_nonce + i,
                to=to_checksum_address(token),
                data=data,
                gas=60_000,
            )
        )
    return raws


async def _erc20(client: NodeRpc, count: int) -> float:
    node = client.node
    owner = node.accounts[9]
    token, first = await _deploy_token(client)
    progress(f"signing {count} ERC-20 transfers...")
    raws = _sign_erc20(node, token, first, count)
    progress("sending ERC-20 transfers...")
    return count / await _push_and_wait(client, raws, {owner.hex_address: first + count})


READERS = 2
READ_PAUSE_S = 0.02


async def _reader(
    client: NodeRpc, stop: asyncio.Event, samples: dict[str, list[float]], sizes: dict[int, int]
) -> None:
    """Poll like a watcher until ``stop``: the head number, then that block."""
    while not stop.is_set():
        start = time.perf_counter()
        head = await client.head()
        middle = time.perf_counter()
        block = await client.block(head)
        samples["block_number"].append(middle - start)
        samples["get_block"].append(time.perf_counter() - middle)
        if block is None:
            raise RuntimeError(f"block {head} was announced but is not served")
        sizes[head] = len(block["transactions"])
        await asyncio.sleep(READ_PAUSE_S)


def _ms_quantiles(values: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of ``values`` (seconds) in milliseconds."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return 1000 * statistics.median(ordered), 1000 * p99, 1000 * ordered[-1]


async def run_reads(count: int) -> dict[str, Any]:
    """Read latency while a 1 s block node mines ``count`` ERC-20 transfers."""
    figures: dict[str, Any] = {"reads_count": count}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        progress("starting a consortium devnet node (1 s blocks) for reads under mining...")
        async with start_consortium(config={"block_time": 1.0}) as node:
            client = NodeRpc(node, session)
            token, first = await _deploy_token(client)
            progress(f"signing {count} ERC-20 transfers...")
            raws = _sign_erc20(node, token, first, count)
            samples: dict[str, list[float]] = {"block_number": [], "get_block": []}
            sizes: dict[int, int] = {}
            stop = asyncio.Event()
            readers = [
                asyncio.create_task(_reader(NodeRpc(node, session), stop, samples, sizes))
                for _ in range(READERS)
            ]
            progress("sending ERC-20 transfers while readers poll...")
            try:
                await _push_and_wait(client, raws, {node.accounts[9].hex_address: first + count})
            finally:
                stop.set()
                await asyncio.gather(*readers)
    for name in ("block_number", "get_block"):
        p50, p99, worst = _ms_quantiles(samples[name])
        figures.update(
            {
                f"reads_{name}_p50_ms": p50,
                f"reads_{name}_p99_ms": p99,
                f"reads_{name}_max_ms": worst,
            }
        )
    figures["reads_samples"] = len(samples["block_number"])
    figures["reads_blocks"] = sum(1 for n in sizes.values() if n)
    figures["reads_max_block_txs"] = max(sizes.values(), default=0)
    return figures


def _read_rows(figures: dict[str, Any]) -> list[tuple[str, Any, Any, Any]]:
    return [
        (
            method,
            figures[f"reads_{name}_p50_ms"],
            figures[f"reads_{name}_p99_ms"],
            figures[f"reads_{name}_max_ms"],
        )
        for method, name in (
            ("eth_blockNumber", "block_number"),
            ("eth_getBlockByNumber", "get_block"),
        )
    ]


async def _block_interval(client: NodeRpc, blocks: int = 4) -> float:
    """Mean wall-clock interval between blocks of an idle node, seen by polling."""
    seen: list[float] = []
    last = await client.head()
    while len(seen) < blocks + 1:
        head = await client.head()
        if head != last:
            seen.append(time.perf_counter())
            last = head
        await asyncio.sleep(0.01)
    return statistics.mean(b - a for a, b in itertools.pairwise(seen))


async def _latency(client: NodeRpc, samples: int = 4) -> float:
    """Mean seconds from sending one transfer to its receipt being served."""
    node = client.node
    key = node.accounts[8]
    out = []
    for _ in range(samples):
        nonce = await client.nonce(key.hex_address, "pending")
        raw = _sign(
            key,
            node.chain_id,
            nonce,
            to=to_checksum_address(node.accounts[0].hex_address),
            gas=21000,
        )
        start = time.perf_counter()
        tx_hash = await client.send_raw(raw)
        while await client.call("eth_getTransactionReceipt", tx_hash) is None:
            await asyncio.sleep(0.01)
        out.append(time.perf_counter() - start)
    return statistics.mean(out)


LOAD_CLIENTS = 6
LOOP = "0x" + "11" * 20
LOOP_CODE = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: runs until the gas cap is spent


async def _load_client(client: NodeRpc, stop: asyncio.Event, kind: int, served: list[int]) -> None:
    addresses = ["0x" + i.to_bytes(20, "big").hex() for i in range(1, 1_001)]
    overrides = {LOOP: {"code": LOOP_CODE}}
    call = {"jsonrpc": "2.0", "method": "eth_call", "params": [{"to": LOOP}, "latest", overrides]}
    logs = {
        "jsonrpc": "2.0",
        "method": "eth_getLogs",
        "params": [{"address": addresses, "fromBlock": "earliest", "toBlock": "latest"}],
    }
    estimate = {
        "jsonrpc": "2.0",
        "method": "eth_estimateGas",
        "params": [
            {"to": client.node.accounts[0].hex_address, "value": "0x1", "gas": hex(100_000)}
        ],
    }
    bodies: list[Any] = [
        {**call, "id": 1},
        {**logs, "id": 1},
        [{**estimate, "id": i} for i in range(100)],  # within the default batch cost
    ]
    body = bodies[kind % len(bodies)]
    while not stop.is_set():
        answer = await client.post(body)
        refused = isinstance(answer, dict) and "result" not in answer
        if refused and "gas" not in answer["error"]["message"].lower():  # out of gas: expected
            raise RuntimeError(f"load request refused: {answer['error']}")
        served[0] += 1


async def _under_load(client: NodeRpc, seconds: float) -> dict[str, float]:
    """Block interval seen by polling while LOAD_CLIENTS send expensive requests."""
    stop = asyncio.Event()
    served = [0]
    tasks = [
        asyncio.create_task(_load_client(client, stop, k, served)) for k in range(LOAD_CLIENTS)
    ]
    await asyncio.sleep(2.0)  # the load is on
    seen: list[float] = []
    first = last = await client.head()
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            head = await client.head()
            if head != last:
                seen.append(time.perf_counter())
                last = head
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    return {
        "load_blocks": float(last - first),
        "load_block_interval_s": statistics.mean(gaps) if gaps else float("inf"),
        "load_max_gap_s": max(gaps) if gaps else float("inf"),
        "load_requests": float(served[0]),
    }


async def run_load(seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"load_seconds": seconds, "configured_block_time_s": 1.0}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        progress(f"starting a consortium devnet node (1 s blocks) for {seconds:.0f} s of load...")
        async with start_consortium(config={"block_time": 1.0}) as node:
            figures.update(await _under_load(NodeRpc(node, session), seconds))
    figures["load_deviation_pct"] = 100 * (figures["load_block_interval_s"] - 1.0)
    return figures


def _pool_select_s(senders: int = 5, nonces: int = 1_000) -> float:
    """Seconds to select a block from ``senders`` x ``nonces`` pooled transactions that arrived
    in reverse nonce order (the worst order for a pass-per-nonce scan)."""
    pool = TxPool(max_txs=senders * nonces)
    addresses = [bytes([i]) * 20 for i in range(senders)]
    for nonce in reversed(range(nonces)):
        for sender in addresses:
            tx_hash = sender[:1] + nonce.to_bytes(31, "big")
            pool.add(PoolTx(None, tx_hash, sender, nonce, 21_000, 10, 1, 0))
    start = time.perf_counter()
    pool.select(lambda _: 0, 7, 60_000_000)
    return time.perf_counter() - start


async def run(count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"count": count, "pool_select_s": _pool_select_s()}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        progress("starting a consortium devnet node (1 s blocks)...")
        async with start_consortium(config={"block_time": 1.0}) as node:
            client = NodeRpc(node, session)
            figures["block_interval_s"] = await _block_interval(client)
            figures["block_latency_s"] = await _latency(client)
            figures["transfers_per_s"] = await _transfers(client, count)
            figures["erc20_transfers_per_s"] = await _erc20(client, count)
        progress("starting a consortium devnet node (instant seal)...")
        async with start_consortium(config={"instant_seal": True}) as node:
            client = NodeRpc(node, session)
            figures["block_latency_s_instant"] = await _latency(client)
            figures["transfers_per_s_instant"] = await _transfers(client, count)
            figures["erc20_transfers_per_s_instant"] = await _erc20(client, count)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.devnet", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--count", type=int, default=2000, help="transactions per run (2000)")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="load run length (60)")
    parser.add_argument("--load-only", action="store_true", help="only the load run")
    parser.add_argument(
        "--reads-only", action="store_true", help="only the read-latency run under mining"
    )
    args = parser.parse_args(argv)
    if args.reads_only:
        reads = asyncio.run(run_reads(args.count))
        emit(
            reads,
            args.json,
            title=(
                f"consortium devnet reads (ms) while mining {args.count} ERC-20 transfers, "
                f"1 s blocks of up to {reads['reads_max_block_txs']} txs"
            ),
            rows=_read_rows(reads),
            headers=("read", "p50 ms", "p99 ms", "max ms"),
        )
        return 0
    load = asyncio.run(run_load(args.load_seconds))
    load_rows = [
        ("configured block interval (s)", load["configured_block_time_s"]),
        ("measured block interval (s)", load["load_block_interval_s"]),
        ("deviation (%, target <= 10)", load["load_deviation_pct"]),
        ("longest gap between blocks (s)", load["load_max_gap_s"]),
        ("expensive requests served", load["load_requests"]),
    ]
    if args.load_only:
        emit(
            load,
            args.json,
            title=f"consortium devnet under {args.load_seconds:.0f} s of expensive RPC load",
            rows=load_rows,
            headers=("figure", "value"),
        )
        return 0
    figures = {**asyncio.run(run(args.count)), **asyncio.run(run_reads(args.count)), **load}
    rows = [
        ("simple transfers/s", figures["transfers_per_s"], figures["transfers_per_s_instant"]),
        (
            "ERC-20 transfers/s",
            figures["erc20_transfers_per_s"],
            figures["erc20_transfers_per_s_instant"],
        ),
        ("lone tx latency (s)", figures["block_latency_s"], figures["block_latency_s_instant"]),
        ("block interval (s)", figures["block_interval_s"], "n/a"),
        ("block interval under load (s)", figures["load_block_interval_s"], "n/a"),
        ("longest gap under load (s)", figures["load_max_gap_s"], "n/a"),
        ("pool select, 5,000 reversed txs (s, target < 1)", figures["pool_select_s"], "n/a"),
        *(
            (f"{method} under mining, p50/p99/max (ms)", f"{p50:.0f}/{p99:.0f}/{worst:.0f}", "n/a")
            for method, p50, p99, worst in _read_rows(figures)
        ),
    ]
    emit(
        figures,
        args.json,
        title=f"consortium devnet, {args.count} transactions per run, through JSON-RPC (target >= 500 transfers/s)",
        rows=rows,
        headers=("figure", "1 s blocks", "instant seal"),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
