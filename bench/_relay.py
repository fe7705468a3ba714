"""Machinery of ``bench.relay``: load senders that sign transfers client-side and push them in
JSON-RPC batches, the bridge messages of a run read back from chain data (``MessageSent`` on
the source endpoint, ``MessageDelivered`` on the destination's, block numbers and timestamps),
scratch PostgreSQL databases, and CPU time of the processes involved (from ``/proc``)."""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from eth_account import Account
from eth_utils.address import to_checksum_address
from psycopg import sql

from devnet.keys import DevKey
from gateway.domain.messages import MESSAGE_DELIVERED_TOPIC, MESSAGE_SENT_TOPIC
from harness.rpc import RpcClient

PG_ADMIN_URL = os.environ.get("XGATE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PUSH_BATCH = 250  # raw transactions per JSON-RPC batch
FEES = {"maxFeePerGas": 2 * 10**11, "maxPriorityFeePerGas": 10**9}
LOG_CHUNK = 500  # blocks per eth_getLogs


def topic_int(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


# -- load ---------------------------------------------------------------------------------------


@dataclass
class Senders:
    """Dev accounts sending on one chain, nonces tracked here (nobody else uses them)."""

    rpc: RpcClient
    chain_id: int
    keys: Sequence[DevKey]
    nonces: dict[str, int] = field(default_factory=dict)

    async def sync(self) -> None:
        for key in self.keys:
            self.nonces[key.hex_address] = await self.rpc.nonce(key.hex_address, "pending")

    def sign(self, key: DevKey, to: str, data: bytes, gas: int, value: int = 0) -> bytes:
        nonce = self.nonces[key.hex_address]
        self.nonces[key.hex_address] = nonce + 1
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(to),
            "data": data,
            "gas": gas,
            "value": value,
            **FEES,
        }
        return bytes(Account.sign_transaction(tx, key.private_key).raw_transaction)

    def sign_many(self, count: int, build: Any) -> list[bytes]:
        """``count`` transactions, round-robin over the senders (as independent wallets);
        ``build(key) -> (to, data, gas)``."""
        return [
            self.sign(self.keys[i % len(self.keys)], *build(self.keys[i % len(self.keys)]))
            for i in range(count)
        ]

    async def push(self, raws: Sequence[bytes], *, max_pending: int | None = None) -> None:
        """Send ``raws`` in batches; with ``max_pending``, wait while more than that many of
        those already sent are unmined (the node's pool is bounded)."""
        base = await self.mined()
        for i in range(0, len(raws), PUSH_BATCH):
            if max_pending is not None:
                while i - (await self.mined() - base) > max_pending:
                    await asyncio.sleep(0.2)
            chunk = raws[i : i + PUSH_BATCH]
            answers = await self.rpc.batch(
                [("eth_sendRawTransaction", ["0x" + r.hex()]) for r in chunk]
            )
            failed = [a["error"] for a in answers if "error" in a]
            if failed:
                raise RuntimeError(f"{len(failed)} transactions refused, first: {failed[0]}")

    async def mined(self) -> int:
        """Transactions of all senders mined so far (the sum of their nonces)."""
        total = 0
        for key in self.keys:
            total += await self.rpc.nonce(key.hex_address, "latest")
        return total

    async def pending(self) -> int:
        """Signed here and not mined yet."""
        return sum(self.nonces[k.hex_address] for k in self.keys) - await self.mined()

    async def wait_mined(self, timeout_s: float = 600.0) -> None:
        deadline = time.monotonic() + timeout_s
        while await self.pending() > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("load transactions not mined in time")
            await asyncio.sleep(0.05)


async def capacity(senders: Senders, count: int, sink: str) -> float:
    """Plain transfers per second the chain accepts and mines: ``count`` 21,000-gas transfers
    signed beforehand (not timed), pushed in batches; from the first send until all are mined."""
    await senders.sync()
    return await mined_per_s(senders, senders.sign_many(count, lambda key: (sink, b"", 21_000)))


async def mined_per_s(senders: Senders, raws: Sequence[bytes]) -> float:
    """Transactions per second the chain accepts and mines of ``raws`` (signed beforehand, not
    timed), pushed in batches; from the first send until all are mined."""
    start = time.perf_counter()
    await senders.push(raws, max_pending=3_000)
    await senders.wait_mined()
    return len(raws) / (time.perf_counter() - start)


async def gas_used(rpc: RpcClient, start: int, end: int) -> tuple[int, int]:
    """Gas used by the blocks ``start..end`` together, and their (last) block gas limit."""
    used, limit = 0, 0
    for i in range(start, end + 1, 200):
        numbers = range(i, min(i + 200, end + 1))
        answers = await rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        for a in answers:
            used += int(a["result"]["gasUsed"], 16)
            limit = int(a["result"]["gasLimit"], 16)
    return used, limit


# -- chain data ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """Where a message was seen on chain: block, its timestamp, transaction."""

    block: int
    timestamp: int
    tx: str


class Blocks:
    """Block timestamps of one chain, fetched once each."""

    def __init__(self, rpc: RpcClient) -> None:
        self.rpc = rpc
        self._ts: dict[int, int] = {}

    async def fetch(self, numbers: Iterable[int]) -> None:
        wanted = sorted(set(numbers) - set(self._ts))
        for i in range(0, len(wanted), 200):
            chunk = wanted[i : i + 200]
            answers = await self.rpc.batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in chunk]
            )
            for n, a in zip(chunk, answers, strict=True):
                self._ts[n] = int(a["result"]["timestamp"], 16)

    def ts(self, number: int) -> int:
        return self._ts[number]

    async def head_at(self, timestamp: int, low: int, high: int, *, same_second: bool) -> int:
        """The chain's head (in ``low..high``) at the moment another chain made a block with
        ``timestamp``: the last block with an earlier timestamp, or with the same one when
        ``same_second`` (this chain's blocks of a second come before the other's); ``low - 1``
        when none."""
        await self.fetch(range(low, high + 1))
        best = low - 1
        for n in range(low, high + 1):
            if self._ts[n] < timestamp or (same_second and self._ts[n] == timestamp):
                best = n
        return best


async def phase(rpc: RpcClient, blocks: int = 4) -> float:
    """When in its second a chain makes its blocks: the smallest (arrival - timestamp) mod 1
    over ``blocks`` new blocks, their arrival seen by polling every 10 ms. Both devnets make a
    block every second at a fixed phase and stamp it with the whole second (``int(time)``), so
    this turns whole-second timestamps into comparable times across the chains."""
    seen: list[float] = []
    last = await rpc.head()
    while len(seen) < blocks:
        head = await rpc.head()
        if head > last:
            arrived = time.time()
            block = await rpc.block(head)
            seen.append((arrived - int(block["timestamp"], 16)) % 1.0)
            last = head
        await asyncio.sleep(0.01)
    return min(seen)


async def logs(
    rpc: RpcClient, address: str, topics: list[Any], start: int, end: int
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for lo in range(start, end + 1, LOG_CHUNK):
        hi = min(end, lo + LOG_CHUNK - 1)
        found += await rpc.call(
            "eth_getLogs",
            {"address": address, "topics": topics, "fromBlock": hex(lo), "toBlock": hex(hi)},
        )
    return found


async def sent(
    rpc: RpcClient, blocks: Blocks, endpoint: str, dst_chain_id: int, start: int, end: int
) -> dict[str, Seen]:
    """Message id -> where ``MessageSent`` was emitted (``start..end``)."""
    found = await logs(
        rpc, endpoint, [MESSAGE_SENT_TOPIC_HEX, None, topic_int(dst_chain_id)], start, end
    )
    await blocks.fetch(int(e["blockNumber"], 16) for e in found)
    return {
        e["topics"][1]: Seen(
            int(e["blockNumber"], 16), blocks.ts(int(e["blockNumber"], 16)), e["transactionHash"]
        )
        for e in found
    }


async def delivered(
    rpc: RpcClient, blocks: Blocks, endpoint: str, src_chain_id: int, start: int, end: int
) -> dict[str, Seen]:
    """Message id -> where ``MessageDelivered`` was emitted (``start..end``)."""
    found = await logs(
        rpc, endpoint, [MESSAGE_DELIVERED_TOPIC_HEX, None, topic_int(src_chain_id)], start, end
    )
    await blocks.fetch(int(e["blockNumber"], 16) for e in found)
    return {
        e["topics"][1]: Seen(
            int(e["blockNumber"], 16), blocks.ts(int(e["blockNumber"], 16)), e["transactionHash"]
        )
        for e in found
    }


MESSAGE_SENT_TOPIC_HEX = "0x" + MESSAGE_SENT_TOPIC.hex()
MESSAGE_DELIVERED_TOPIC_HEX = "0x" + MESSAGE_DELIVERED_TOPIC.hex()


class Stalled(Exception):
    """No delivery for a while: ``missing`` messages are not delivered (parked, or stuck)."""

    def __init__(self, missing: set[str], stall_s: float) -> None:
        super().__init__(f"{len(missing)} messages not delivered; none for {stall_s:.0f} s")
        self.missing = missing


async def wait_delivered(
    rpc: RpcClient,
    endpoint: str,
    src_chain_id: int,
    start: int,
    ids: set[str],
    stall_s: float,
    alive: Any = None,
) -> None:
    """Until every id in ``ids`` has a ``MessageDelivered`` on the destination (from
    ``start``); ``Stalled`` when none arrives for ``stall_s`` seconds (a parked message)."""
    seen: set[str] = set()
    lo = start
    last_progress = time.monotonic()
    while True:
        head = await rpc.head()
        if head >= lo:
            topics = [MESSAGE_DELIVERED_TOPIC_HEX, None, topic_int(src_chain_id)]
            found = await logs(rpc, endpoint, topics, lo, head)
            if found:
                last_progress = time.monotonic()
            seen.update(e["topics"][1] for e in found)
            lo = head + 1
        if ids <= seen:
            return
        if alive is not None:
            alive()
        if time.monotonic() - last_progress > stall_s:
            raise Stalled(ids - seen, stall_s)
        await asyncio.sleep(0.5)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return float(ordered[int(rank) - 1])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# -- processes ----------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out += [int(c) for c in text]
    except OSError:
        pass
    return out


def cpu_s(pid: int, tree: bool = True) -> float:
    """CPU seconds (user + system) of ``pid`` and, with ``tree``, its live descendants."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0
    if tree:
        total += sum(cpu_s(c) for c in _children(pid))
    return total


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cpu_of_named(name: str) -> float:
    return sum(cpu_s(p, tree=False) for p in pids_named(name))


# -- PostgreSQL ---------------------------------------------------------------------------------


class ScratchDb:
    """A fresh PostgreSQL database for one run, dropped at the end."""

    def __init__(self) -> None:
        self.name = f"xgate_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        self.url = f"{base}/{self.name}"

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
