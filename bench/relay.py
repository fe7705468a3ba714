"""Relay service benchmarks on the devnet, with the real service processes:
``python -m bench.relay [--quick] [--json] [--only latency,throughput,memory]``.

Starts a consortium devnet node (QBFT, a block every second, as `xgate devnet up` does) and a
public chain (anvil mining a block every second), deploys xgate, and runs ``xgate run`` /
``xgate relayer run`` processes on variants of the ``xgate.toml`` that `xgate devnet up` writes
(each run on a fresh store, scanning from the chains' current heads). Users are dev accounts
that sign their own transactions client-side; every figure comes from chain data: the
``MessageSent`` log's block on the source, the ``MessageDelivered`` log's block on the
destination, and their timestamps (whole seconds).

1. **latency** (``xgate run``, SQLite): a transfer each way every ~2 s; per direction p50 and
   p95 of (delivery block time - source block time) in seconds, and in public blocks: for
   consortium -> public, the delivery block minus the public head at the source block's time
   (the source is final at inclusion: QBFT); for public -> consortium (final at inclusion, 0
   confirmations on the devnet), the public head at the delivery's time minus the source
   block. Target (issue 7): consortium -> public within 2 public blocks. Run with the dev
   config's 1 s poll intervals and with 0.25 s ones.
2. **throughput**: the chains' capacity first: plain 21,000-gas transfers pushed in batches
   on each chain, and ``lockERC20`` transfers on the consortium (with no relayer running), each
   from the first send until all are mined. Then 1,000 ``lockERC20`` transfers consortium ->
   public pushed as fast as the consortium takes them, with 1 relayer process (SQLite,
   PostgreSQL) and 3 relayer processes sharing PostgreSQL. The relay's rate is the messages
   over the delivery blocks' span (first to last, a second each); the end-to-end rate adds the
   first message's latency. The relay capacity is what the chains can carry of this relay: the
   slower of the consortium's ``lockERC20``/s and the public chain's block gas limit over the
   relay gas per message (deliveries and their headers: every public transaction of the run).
   The target: the relay's rate >= 90 % of the slower of that capacity and the run's own source
   rate (the relayer is never the bottleneck). The source rate counts because every process of
   the bench shares this machine's cores: the consortium node mines slower while relayers and
   PostgreSQL run beside it, which a deployment on separate machines would not see. The share
   of the slower chain's plain-transfer capacity is shown too. CPU seconds per process kind
   show where the time went.
3. **memory**: 10,000 transfers through one relayer process (SQLite); its RSS (VmRSS) when
   started, at the steady state (a fifth of the messages delivered), at its peak and at the
   end; flat when the end is within 10 % of the steady state.

``--quick`` runs every part with small counts (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from bench._relay import (
    MESSAGE_SENT_TOPIC_HEX,
    Blocks,
    ScratchDb,
    Senders,
    Stalled,
    capacity,
    cpu_of_named,
    cpu_s,
    delivered,
    gas_used,
    median,
    mined_per_s,
    percentile,
    phase,
    sent,
    wait_delivered,
)
from bench._table import emit, print_table, progress
from harness.relaynet import RelayNet, relay_devnet
from harness.rpc import RpcClient
from harness.services import ServiceProcess

ADMIN = 0
SINK = 9  # receives the plain transfers of the capacity runs
LOAD_ACCOUNTS = (12, 13, 14, 15)  # senders of the load (funded on both chains)
RELAYER_ACCOUNTS = {"relayer-2": 10, "relayer-3": 11}  # 3 relayers: relayer (5) + these
CONSORTIUM = {"instant_seal": False, "block_time": 1.0}  # Besu-like 1 s blocks
TARGET_BLOCKS = 2
TARGET_SHARE = 0.90
FLAT_MARGIN = 0.10
FAST_POLL_S = 0.25
STALL_S = 90.0  # no delivery for this long: a message was parked (reported, not waited for)


@dataclass(frozen=True)
class Sizes:
    latency_samples: int
    latency_gap_s: float
    capacity_transfers: int
    transfers: int
    memory_messages: int
    latency_polls: tuple[float, ...]
    batch_size: int = 64

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(1, 1.0, 100, 20, 40, (FAST_POLL_S,))
        return cls(30, 2.0, 4_000, 1_000, 10_000, (1.0, FAST_POLL_S))


# -- the bench's users --------------------------------------------------------------------------


@dataclass
class Users:
    net: RelayNet
    c_rpc: RpcClient
    p_rpc: RpcClient
    c: Senders
    p: Senders
    phases: tuple[float, float] = (0.0, 0.0)  # block phases (consortium, public): see phase()
    _calls: dict[tuple[str, str], tuple[str, bytes, int]] = field(default_factory=dict)

    @property
    def vault(self) -> str:
        return str(self.net.contract("c.vault").address)

    @property
    def gateway(self) -> str:
        return str(self.net.contract("p.asset_gateway").address)

    def lock_call(self, key: Any) -> tuple[str, bytes, int]:
        cached = self._calls.get(("lock", key.hex_address))
        if cached is not None:
            return cached
        token = self.net.contract("c.settlement_token").address
        vault = self.net.contract("c.vault")
        data = vault.encode_abi(
            "lockERC20", [token, 1, self.net.public.chain_id, to_checksum_address(key.hex_address)]
        )
        call = str(vault.address), bytes.fromhex(data[2:]), 400_000
        self._calls[("lock", key.hex_address)] = call
        return call

    def burn_call(self, key: Any) -> tuple[str, bytes, int]:
        wrapped = self.net.contract("p.wrapped_settlement_token").address
        gateway = self.net.contract("p.asset_gateway")
        data = gateway.encode_abi("burnERC20", [wrapped, 1, to_checksum_address(key.hex_address)])
        return str(gateway.address), bytes.fromhex(data[2:]), 400_000


async def users(net: RelayNet, c_rpc: RpcClient, p_rpc: RpcClient) -> Users:
    """The load accounts, each with settlement tokens and the vault approved."""
    keys = [net.keys[i] for i in LOAD_ACCOUNTS]
    c = net.consortium
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    c_senders = Senders(c_rpc, c.chain_id, keys)
    await c_senders.sync()
    raws = []
    admin = Senders(c_rpc, c.chain_id, [net.keys[ADMIN]])
    await admin.sync()
    for key in keys:
        mint = token.encode_abi("mint", [to_checksum_address(key.hex_address), 10**11])
        raws.append(
            admin.sign(net.keys[ADMIN], str(token.address), bytes.fromhex(mint[2:]), 200_000)
        )
    await admin.push(raws)
    approve = token.encode_abi("approve", [vault.address, 2**255])
    await c_senders.push(
        [c_senders.sign(k, str(token.address), bytes.fromhex(approve[2:]), 100_000) for k in keys]
    )
    await admin.wait_mined()
    await c_senders.wait_mined()
    p_senders = Senders(p_rpc, net.public.chain_id, keys)
    await p_senders.sync()
    return Users(net, c_rpc, p_rpc, c_senders, p_senders, await phases(c_rpc, p_rpc))


async def phases(c_rpc: RpcClient, p_rpc: RpcClient) -> tuple[float, float]:
    c, p = await asyncio.gather(phase(c_rpc, 3), phase(p_rpc, 3))
    return c, p


# -- runs ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """Service processes on a config variant that starts at the chains' current heads."""

    net: RelayNet
    services: list[ServiceProcess]
    c_start: int
    p_start: int

    def check(self) -> None:
        for s in self.services:
            if not s.alive():
                raise RuntimeError(f"xgate {' '.join(s.command)} exited:\n{s.output()}")

    def cpu(self) -> float:
        return sum(cpu_s(s.pid) for s in self.services)


@contextlib.contextmanager
def services(
    net: RelayNet,
    tag: str,
    *,
    store: str,
    relayers: int = 1,
    all_roles: bool = False,
    poll_s: float | None = None,
    batch_size: int | None = None,
) -> Iterator[Run]:
    """Start ``xgate run`` (``all_roles``) or ``relayers`` ``xgate relayer run`` processes on
    a fresh store (``sqlite`` or ``postgresql``); stop them (SIGTERM) at the end."""
    c_start = int(net.consortium.w3.eth.block_number) + 1
    p_start = int(net.public.w3.eth.block_number) + 1
    scratch = ScratchDb() if store == "postgresql" else None
    url = scratch.url if scratch else f"sqlite:///{tag}.db"
    chains: dict[str, dict[str, Any]] = {
        "consortium": {"start_height": c_start},
        "public": {"start_height": p_start},
    }
    relayer: dict[str, Any] = {}
    if poll_s is not None:
        relayer["poll_interval_s"] = poll_s
        for knobs in chains.values():
            knobs["poll_interval_s"] = poll_s
    routes = {"batch_size": batch_size} if batch_size else None
    procs: list[ServiceProcess] = []
    try:
        names = ["relayer", *list(RELAYER_ACCOUNTS)][:relayers]
        for i, signer in enumerate(names):
            config = net.write_config(
                f"{tag}-{i}.toml",
                store_url=url,
                signers={k: v for k, v in RELAYER_ACCOUNTS.items() if k == signer},
                relayer={**relayer, "signer": signer},
                chains=chains,
                routes=routes,
                drop=() if all_roles else ("attester", "keeper"),
            )
            command = ("run",) if all_roles else ("relayer", "run")
            proc = ServiceProcess(config, command).start()
            procs.append(proc)
            proc.wait_serving()  # one at a time: the first migrates the fresh store
        yield Run(net, procs, c_start, p_start)
    finally:
        for proc in procs:
            try:
                proc.stop()
            except AssertionError as exc:
                progress(str(exc)[:2000])
        if scratch is not None:
            scratch.drop()


@dataclass(frozen=True)
class Outcome:
    seconds: list[float]
    blocks: list[int]
    first_src_ts: int
    last_src_ts: int
    first_dst_ts: int
    last_dst_ts: int
    delivery_txs: int
    undelivered: int


async def outcome(
    u: Users, run: Run, ids: set[str] | None, *, to_public: bool, phases: tuple[float, float]
) -> Outcome:
    """The run's messages of one direction from chain data (all of them when ``ids`` is
    None). ``phases`` (consortium, public): when in its second each chain makes its blocks
    (``bench._relay.phase``), which places whole-second block timestamps of the two chains
    on one time line."""
    net = u.net
    c_phase, p_phase = phases
    public_first = p_phase < c_phase  # a second's public block comes before its consortium one
    c_blocks, p_blocks = Blocks(u.c_rpc), Blocks(u.p_rpc)
    c_head, p_head = await u.c_rpc.head(), await u.p_rpc.head()
    c_end = str(net.contract("c.endpoint").address)
    p_end = str(net.contract("p.endpoint").address)
    c_id, p_id = net.consortium.chain_id, net.public.chain_id
    if to_public:
        src = await sent(u.c_rpc, c_blocks, c_end, p_id, run.c_start, c_head)
        dst = await delivered(u.p_rpc, p_blocks, p_end, c_id, run.p_start, p_head)
        shift = p_phase - c_phase
    else:
        src = await sent(u.p_rpc, p_blocks, p_end, c_id, run.p_start, p_head)
        dst = await delivered(u.c_rpc, c_blocks, c_end, p_id, run.c_start, c_head)
        shift = c_phase - p_phase
    wanted = set(src) if ids is None else ids
    missing = wanted - set(dst)
    wanted -= missing
    seconds, blocks = [], []
    for mid in wanted:
        s, d = src[mid], dst[mid]
        seconds.append(d.timestamp - s.timestamp + shift)
        if to_public:
            # public blocks after the one that was the head when the source block was made
            head = await p_blocks.head_at(
                s.timestamp, run.p_start - 1, d.block, same_second=public_first
            )
            blocks.append(d.block - head)
        else:
            # public blocks from the source block to the head when the delivery was made
            head = await p_blocks.head_at(d.timestamp, s.block, p_head, same_second=public_first)
            blocks.append(head - s.block)
    src_ts = [src[m].timestamp for m in wanted]
    dst_ts = [dst[m].timestamp for m in wanted]
    return Outcome(
        seconds,
        blocks,
        min(src_ts),
        max(src_ts),
        min(dst_ts),
        max(dst_ts),
        len({dst[m].tx for m in wanted}),
        len(missing),
    )


def ids_of(receipts: list[dict[str, Any]], topic0: str) -> set[str]:
    return {
        log["topics"][1]
        for r in receipts
        for log in r["logs"]
        if log["topics"] and log["topics"][0] == topic0
    }


async def receipts(rpc: RpcClient, hashes: list[str]) -> list[dict[str, Any]]:
    while True:
        answers = await rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        found = [a.get("result") for a in answers]
        if all(found):
            for r in found:
                if int(r["status"], 16) != 1:
                    raise RuntimeError(f"load transaction reverted: {r['transactionHash']}")
            return found
        await asyncio.sleep(0.2)


# -- 1. latency ---------------------------------------------------------------------------------


async def latency(net: RelayNet, u: Users, sizes: Sizes, store: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    c_key, p_key = u.c.keys[0], u.p.keys[0]
    primed = False
    for poll in sizes.latency_polls:
        tag = f"latency-poll{poll}"
        with services(
            net, tag, store=store, all_roles=True, poll_s=None if poll == 1.0 else poll
        ) as run:
            if not primed:
                # wrapped tokens for the burns, bridged before the measurement
                progress("latency: bridging tokens for the public -> consortium transfers")
                await u.c.sync()
                to, _data, gas = u.lock_call(c_key)
                vault = net.contract("c.vault")
                token = net.contract("c.settlement_token").address
                big = vault.encode_abi(
                    "lockERC20",
                    [token, 10**6, net.public.chain_id, to_checksum_address(p_key.hex_address)],
                )
                raw = u.c.sign(c_key, to, bytes.fromhex(big[2:]), gas)
                h = await u.c_rpc.send_raw(raw)
                (r,) = await receipts(u.c_rpc, [h])
                await wait_delivered(
                    u.p_rpc,
                    str(net.contract("p.endpoint").address),
                    net.consortium.chain_id,
                    run.p_start,
                    ids_of([r], MESSAGE_SENT_TOPIC_HEX),
                    120,
                    run.check,
                )
                primed = True
            progress(f"latency (poll {poll} s): {sizes.latency_samples} transfers each way")
            u.phases = await phases(u.c_rpc, u.p_rpc)
            figures[f"block_phase_poll{poll:g}_s"] = {
                "consortium": u.phases[0],
                "public": u.phases[1],
            }
            await u.c.sync()
            await u.p.sync()
            c_hashes, p_hashes = [], []
            for _ in range(sizes.latency_samples):
                c_hashes.append(await u.c_rpc.send_raw(u.c.sign(c_key, *u.lock_call(c_key))))
                p_hashes.append(await u.p_rpc.send_raw(u.p.sign(p_key, *u.burn_call(p_key))))
                await asyncio.sleep(sizes.latency_gap_s + random.uniform(0, 0.5))
                run.check()
            c_ids = ids_of(await receipts(u.c_rpc, c_hashes), MESSAGE_SENT_TOPIC_HEX)
            p_ids = ids_of(await receipts(u.p_rpc, p_hashes), MESSAGE_SENT_TOPIC_HEX)
            await wait_delivered(
                u.p_rpc,
                str(net.contract("p.endpoint").address),
                net.consortium.chain_id,
                run.p_start,
                c_ids,
                300,
                run.check,
            )
            await wait_delivered(
                u.c_rpc,
                str(net.contract("c.endpoint").address),
                net.public.chain_id,
                run.c_start,
                p_ids,
                300,
                run.check,
            )
            for name, ids, to_public in (("c2p", c_ids, True), ("p2c", p_ids, False)):
                o = await outcome(u, run, ids, to_public=to_public, phases=u.phases)
                key = f"{name}_poll{poll:g}"
                figures[f"{key}_p50_s"] = median(o.seconds)
                figures[f"{key}_p95_s"] = percentile(o.seconds, 95)
                figures[f"{key}_p50_blocks"] = median(o.blocks)
                figures[f"{key}_p95_blocks"] = percentile(o.blocks, 95)
                figures[f"{key}_max_blocks"] = max(o.blocks)
            figures[f"c2p_poll{poll:g}_target_met"] = (
                figures[f"c2p_poll{poll:g}_p95_blocks"] <= TARGET_BLOCKS
            )
    return figures


def latency_rows(f: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for poll in (1.0, FAST_POLL_S):
        for name, label in (("c2p", "consortium -> public"), ("p2c", "public -> consortium")):
            key = f"{name}_poll{poll:g}"
            if f"{key}_p50_s" not in f:
                continue
            target = ""
            if name == "c2p":
                met = f[f"c2p_poll{poll:g}_target_met"]
                target = f"<= {TARGET_BLOCKS} blocks: {'met' if met else 'MISSED'}"
            rows.append(
                (
                    label,
                    f"{poll:g}",
                    f[f"{key}_p50_s"],
                    f[f"{key}_p95_s"],
                    f[f"{key}_p50_blocks"],
                    f[f"{key}_p95_blocks"],
                    target,
                )
            )
    return rows


# -- 2. throughput ------------------------------------------------------------------------------


async def throughput(net: RelayNet, u: Users, sizes: Sizes) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    sink = net.keys[SINK].hex_address
    progress(f"capacity: {sizes.capacity_transfers} plain transfers on each chain")
    for name, senders in (("consortium", u.c), ("public", u.p)):
        figures[f"capacity_{name}_tx_per_s"] = await capacity(
            senders, sizes.capacity_transfers, sink
        )
    slower = min(figures["capacity_consortium_tx_per_s"], figures["capacity_public_tx_per_s"])
    figures["capacity_slower_tx_per_s"] = slower
    progress(f"capacity: {sizes.transfers} lockERC20 transfers on the consortium, no relayer")
    await u.c.sync()
    figures["capacity_consortium_lock_per_s"] = await mined_per_s(
        u.c, u.c.sign_many(sizes.transfers, u.lock_call)
    )
    for label, store, relayers in (
        ("1_sqlite", "sqlite", 1),
        ("1_pg", "postgresql", 1),
        ("3_pg", "postgresql", 3),
    ):
        progress(f"throughput ({label}): {sizes.transfers} transfers consortium -> public")
        with services(
            net,
            f"throughput-{label}",
            store=store,
            relayers=relayers,
            poll_s=FAST_POLL_S,
            batch_size=sizes.batch_size,
        ) as run:
            run_figures = await transfer_run(net, u, run, sizes.transfers)
        # What the chains can carry of this relay: locks on the consortium, and deliveries
        # (with their headers) on the public chain, whose blocks are gas-bound.
        public = run_figures["block_gas_limit"] / run_figures["relay_gas_per_message"]
        run_figures["public_relay_capacity_per_s"] = public
        run_figures["relay_capacity_per_s"] = min(figures["capacity_consortium_lock_per_s"], public)
        rate = run_figures["delivered_per_s"]
        reference = min(run_figures["relay_capacity_per_s"], run_figures["source_per_s"])
        run_figures["reference_per_s"] = reference
        run_figures["share_of_reference"] = rate / reference
        run_figures["share_of_capacity"] = rate / slower
        run_figures["target_met"] = run_figures["share_of_reference"] >= TARGET_SHARE
        figures.update({f"{label}_{k}": v for k, v in run_figures.items()})
    return figures


async def transfer_run(
    net: RelayNet, u: Users, run: Run, count: int, on_tick: Any = None
) -> dict[str, Any]:
    """``count`` locks consortium -> public pushed at once; figures from chain data."""
    await u.c.sync()
    raws = u.c.sign_many(count, u.lock_call)
    cpu0 = _cpu(net, run)
    await u.c.push(raws, max_pending=3_000)
    await u.c.wait_mined()
    tick = on_tick or (lambda: None)

    def alive() -> None:
        run.check()
        tick()

    ids = None
    # every MessageSent of the run's range is ours
    c_blocks = Blocks(u.c_rpc)
    src = await sent(
        u.c_rpc,
        c_blocks,
        str(net.contract("c.endpoint").address),
        net.public.chain_id,
        run.c_start,
        await u.c_rpc.head(),
    )
    ids = set(src)
    try:
        await wait_delivered(
            u.p_rpc,
            str(net.contract("p.endpoint").address),
            net.consortium.chain_id,
            run.p_start,
            ids,
            STALL_S,
            alive,
        )
    except Stalled as exc:
        progress(f"stalled: {exc} (the figures count the delivered ones)")
    cpu1 = _cpu(net, run)
    o = await outcome(u, run, ids, to_public=True, phases=u.phases)
    span = max(o.last_dst_ts - o.first_src_ts + u.phases[1] - u.phases[0], 1.0)
    done = len(ids) - o.undelivered
    gas, gas_limit = await gas_used(u.p_rpc, run.p_start, await u.p_rpc.head())
    return {
        "transfers": len(ids),
        "undelivered": o.undelivered,
        "source_per_s": len(ids) / max(o.last_src_ts - o.first_src_ts + 1, 1),
        # the relay's own rate: from the first delivery block to the last (one second each)
        "delivered_per_s": done / (o.last_dst_ts - o.first_dst_ts + 1),
        # with the latency of the first message in: first source block to last delivery
        "end_to_end_per_s": done / span,
        "span_s": span,
        "delivery_txs": o.delivery_txs,
        "messages_per_delivery_tx": done / o.delivery_txs,
        # every public transaction of the run is the relayers' (deliveries and headers)
        "relay_gas_per_message": gas / done,
        "block_gas_limit": gas_limit,
        "latency_p50_s": median(o.seconds),
        "latency_p95_s": percentile(o.seconds, 95),
        **{f"cpu_{k}_s": cpu1[k] - cpu0[k] for k in cpu0},
    }


def _cpu(net: RelayNet, run: Run) -> dict[str, float]:
    return {
        "relayers": run.cpu(),
        "consortium_node": cpu_s(net.consortium_node.pid),
        "anvil": cpu_s(net.public_node.pid) + cpu_of_named("anvil"),
        "postgres": cpu_of_named("postgres"),
    }


def throughput_rows(f: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for label, name in (
        ("1_sqlite", "1 relayer, SQLite"),
        ("1_pg", "1 relayer, PostgreSQL"),
        ("3_pg", "3 relayers, PostgreSQL"),
    ):
        if f"{label}_delivered_per_s" not in f:
            continue
        g = {k[len(label) + 1 :]: v for k, v in f.items() if k.startswith(label + "_")}
        undelivered = f" ({g['undelivered']} undelivered)" if g["undelivered"] else ""
        rows.append(
            (
                name,
                f"{g['transfers']:,}{undelivered}",
                g["source_per_s"],
                g["delivered_per_s"],
                g["end_to_end_per_s"],
                f"{g['relay_capacity_per_s']:.0f}",
                f"{g['reference_per_s']:.0f}",
                f"{100 * g['share_of_reference']:.0f} %",
                "met" if g["target_met"] else "MISSED",
                f"{100 * g['share_of_capacity']:.1f} %",
                g["delivery_txs"],
                f"{g['relay_gas_per_message']:,.0f}",
                g["latency_p50_s"],
                g["latency_p95_s"],
                f"{g['cpu_relayers_s']:.0f}/{g['cpu_consortium_node_s']:.0f}/"
                f"{g['cpu_anvil_s']:.0f}/{g['cpu_postgres_s']:.0f}",
            )
        )
    return rows


# -- 3. memory ----------------------------------------------------------------------------------


async def memory(net: RelayNet, u: Users, sizes: Sizes, store: str) -> dict[str, Any]:
    progress(f"memory: {sizes.memory_messages} transfers through one relayer process")
    with services(
        net, "memory", store=store, poll_s=FAST_POLL_S, batch_size=sizes.batch_size
    ) as run:
        proc = run.services[0]
        await asyncio.sleep(2.0)
        start = proc.rss_kib()
        samples: list[tuple[float, int]] = []
        t0 = time.monotonic()

        def tick() -> None:
            samples.append((time.monotonic() - t0, proc.rss_kib()))

        figures = await transfer_run(net, u, run, sizes.memory_messages, on_tick=tick)
        end = proc.rss_kib()
    # steady state: the sample a fifth of the way through the delivery phase
    steady = samples[len(samples) // 5][1] if samples else start
    peak = max([start, end, *(s for _, s in samples)])
    return {
        "messages": figures["transfers"],
        "delivered_per_s": figures["delivered_per_s"],
        "rss_start_kib": start,
        "rss_steady_kib": steady,
        "rss_peak_kib": peak,
        "rss_end_kib": end,
        "end_vs_steady": end / steady - 1,
        "flat": end <= steady * (1 + FLAT_MARGIN),
    }


def memory_rows(f: dict[str, Any]) -> list[tuple[Any, ...]]:
    mib = 1024
    return [
        ("messages", f["messages"]),
        ("delivered/s", f["delivered_per_s"]),
        ("RSS at start (MiB)", f["rss_start_kib"] / mib),
        ("RSS at steady state (MiB)", f["rss_steady_kib"] / mib),
        ("RSS peak (MiB)", f["rss_peak_kib"] / mib),
        ("RSS at end (MiB)", f["rss_end_kib"] / mib),
        ("end vs steady", f"{100 * f['end_vs_steady']:+.1f} %"),
        (f"flat (within {FLAT_MARGIN:.0%})", "yes" if f["flat"] else "NO"),
    ]


# -- main ---------------------------------------------------------------------------------------

PARTS = ("latency", "throughput", "memory")


async def run(
    parts: list[str], sizes: Sizes, store: str, workdir: Path | None, as_json: bool
) -> dict[str, Any]:
    """Run ``parts``; unless ``as_json``, print each part's table as soon as it is done."""
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if workdir is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-relay-"))
        else:
            tmp = str(workdir)
        progress("starting the consortium (1 s blocks) and anvil (1 s blocks), deploying xgate")
        async with (
            relay_devnet(Path(tmp), consortium_config=CONSORTIUM) as net,
            RpcClient(net.consortium_node.url) as c_rpc,
            RpcClient(net.public_node.url) as p_rpc,
        ):
            u = await users(net, c_rpc, p_rpc)
            for part in PARTS:
                if part not in parts:
                    continue
                if part == "latency":
                    figures[part] = await latency(net, u, sizes, store)
                elif part == "throughput":
                    figures[part] = await throughput(net, u, sizes)
                else:
                    figures[part] = await memory(net, u, sizes, store)
                if not as_json:
                    show(part, figures[part], sizes, store)
    return figures


def show(part: str, f: dict[str, Any], sizes: Sizes, store: str) -> None:
    if part == "latency":
        print_table(
            "End-to-end latency (source block -> delivery block; chain timestamps, whole "
            f"seconds; public blocks), {sizes.latency_samples} transfers each way, xgate run, "
            f"{store}",
            latency_rows(f),
            ("direction", "poll s", "p50 s", "p95 s", "p50 blocks", "p95 blocks", "target (c->p)"),
        )
    elif part == "throughput":
        print_table(
            "Chain capacity (transactions mined per second, 1 s blocks)",
            [
                (
                    "consortium (devnet QBFT node)",
                    f["capacity_consortium_tx_per_s"],
                    f["capacity_consortium_lock_per_s"],
                ),
                ("public (anvil)", f["capacity_public_tx_per_s"], "-"),
            ],
            ("chain", "plain transfers/s", "lockERC20/s"),
        )
        print()
        print_table(
            f"Throughput consortium -> public, lockERC20 transfers, batch <= {sizes.batch_size}, "
            f"polls {FAST_POLL_S} s. delivered/s: first to last delivery block; end-to-end/s: "
            "from the first source block. Relay capacity: the slower of the consortium's "
            "lockERC20/s and the public block gas limit / relay gas per message; reference: "
            f"the slower of that and source/s; target >= {TARGET_SHARE:.0%} of the reference. "
            "Last: share of the slower chain's plain-transfer capacity "
            f"({f['capacity_slower_tx_per_s']:.0f} tx/s)",
            throughput_rows(f),
            (
                "relayers",
                "transfers",
                "source/s",
                "delivered/s",
                "end-to-end/s",
                "relay capacity/s",
                "reference/s",
                "share",
                "target",
                "of plain",
                "deliver txs",
                "gas/msg",
                "p50 s",
                "p95 s",
                "CPU s relayer/node/anvil/pg",
            ),
        )
    else:
        print_table(
            f"Relayer memory (VmRSS) over {f['messages']:,} messages, one "
            f"`xgate relayer run`, {store}",
            memory_rows(f),
            ("figure", "value"),
        )
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke test)")
    parser.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated parts: " + ", ".join(PARTS)
    )
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="store of the latency and memory runs (throughput runs both)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="a new folder to keep the configs, stores and service logs in (default: temporary)",
    )
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    sizes = Sizes.of(args.quick)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=False)
    figures = asyncio.run(run(parts, sizes, args.store, args.workdir, args.json))
    if args.json:
        emit(figures, True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
