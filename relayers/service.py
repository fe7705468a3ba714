"""The composition of the relay services from an ``xgate.toml`` (docs/relayer.md §1, §7):
adapters with their signers, the store, the workers of the relayer, the attester and the
keeper, one supervisor and the ops server.

``run_services`` is what ``xgate relayer run``, ``xgate attester run`` and ``xgate run`` call.
Every chain gets one adapter carrying every signer this process uses on it, so each signer has
exactly one writer (its nonces); a store lock per signer keeps a second process from writing
for the same key at the same time (``SignerBusy``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from adapters.contracts import AttestedHeaderStoreView, EndpointView, QbftLightClientView
from adapters.errors import ConfigError, FatalError, RpcUnavailable, XgateError
from adapters.evm import EvmAdapter
from adapters.qbft import QbftAdapter
from adapters.registry import build_adapter
from adapters.rpc.submit import SubmitPolicy
from adapters.settlement import ReceivableSettlementView
from adapters.signer import LocalSigner
from adapters.types import Address, ChainId
from gateway.config import XgateConfig, load_signer
from gateway.config.model import ContractsConfig
from gateway.domain.status import AssetKind, LockLease
from gateway.domain.swaps import KeeperRules
from gateway.store import Store
from gateway.store.journal import StoreJournal
from relayers.attester import HeaderAttester
from relayers.deliverer import Deliverer
from relayers.headers import AttestedHeaderGate, QbftHeaderFeeder
from relayers.keeper import HtlcKeeper, KeeperChain
from relayers.metrics import RelayMetrics
from relayers.observe import OpsWatch, WatchedRoute, WatchedSigner
from relayers.ops import ops_app, serve_ops
from relayers.queue import WorkQueue
from relayers.routes import ChainSide, Route
from relayers.sending import Sender
from relayers.settlement import ReceivableKeeper
from relayers.supervisor import Supervisor, Worker
from relayers.trust import TrustSaver, restore_trust
from relayers.watcher import MessageWatcher

__all__ = ["Role", "SignerBusy", "run_services"]

log = logging.getLogger(__name__)

# Longest wait at start for the signer lock of a process that died holding it.
MAX_LOCK_WAIT_S = 120.0


class Role(StrEnum):
    RELAYER = "relayer"
    ATTESTER = "attester"
    KEEPER = "keeper"


class SignerBusy(FatalError):
    """Another live process holds this signer's lock: two writers would fight over nonces."""


def process_owner() -> str:
    """This process's name in leases and locks: unique per start, readable in the store."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _Signers:
    """Which key signs on which chain, loaded once."""

    by_name: dict[str, LocalSigner] = field(default_factory=dict)
    on_chain: dict[str, list[LocalSigner]] = field(default_factory=dict)

    def use(
        self, cfg: XgateConfig, name: str, chains: Sequence[str], env: Mapping[str, str]
    ) -> LocalSigner:
        signer = self.by_name.get(name)
        if signer is None:
            signer = load_signer(cfg.signers[name], env, name=name)
            self.by_name[name] = signer
        for chain in chains:
            listed = self.on_chain.setdefault(chain, [])
            if signer not in listed:
                listed.append(signer)
        return signer


class _MessageCounts:
    """A worker that refreshes the messages-by-status gauges from the store."""

    name = "metrics"

    def __init__(
        self,
        store: Store,
        metrics: RelayMetrics,
        routes: Mapping[tuple[int, int], str],
        chains: Mapping[int, str],
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._routes = routes
        self._chains = chains
        self.interval_s = 5.0

    async def step(self) -> bool:
        counts = await self._store.count_by_route()
        named = {
            (self._routes.get((src, dst), f"{src}->{dst}"), status.value): n
            for (src, dst, status), n in counts.items()
        }
        self._metrics.set_message_counts(named)
        now = datetime.now(UTC)
        for dst in sorted({dst for _, dst in self._routes}):
            oldest = await self._store.oldest_waiting(ChainId(dst))
            age = 0.0 if oldest is None else max((now - oldest.created_at).total_seconds(), 0.0)
            self._metrics.oldest_waiting.labels(chain=self._chains.get(dst, str(dst))).set(age)
        return False


class _RpcErrors:
    """``RpcObserver`` counting RPC errors by chain and kind."""

    def __init__(self, metrics: RelayMetrics, names: Mapping[int, str]) -> None:
        self._metrics = metrics
        self._names = names

    def on_response(
        self, chain_id: int, method: str, seconds: float, error: XgateError | None
    ) -> None:
        if error is not None:
            chain = self._names.get(chain_id, str(chain_id))
            self._metrics.rpc_errors.labels(chain=chain, kind=type(error).__name__).inc()


async def run_services(
    cfg: XgateConfig,
    roles: set[Role],
    stop: asyncio.Event,
    *,
    environ: Mapping[str, str] | None = None,
    ops_port: int | None = None,
    on_ready: asyncio.Future[int] | None = None,
) -> None:
    """Run the ``roles`` of ``cfg`` until ``stop`` is set. ``on_ready`` receives the bound ops
    port once everything started (tests and the demo wait for it)."""
    env = os.environ if environ is None else environ
    missing = [r.value for r in roles if getattr(cfg, r.value) is None]
    if missing:
        raise ConfigError(f"xgate.toml has no [{missing[0]}] section", section=missing[0])
    metrics = RelayMetrics()
    owner = process_owner()
    signers = _Signers()
    hub = cfg.hub
    relayer_signer: LocalSigner | None = None
    if Role.RELAYER in roles:
        assert cfg.relayer is not None
        relayer_signer = signers.use(cfg, cfg.relayer.signer, list(cfg.chains), env)
    attesters: list[LocalSigner] = []
    if Role.ATTESTER in roles:
        assert cfg.attester is not None
        attesters = [signers.use(cfg, name, [hub], env) for name in cfg.attester.signers]
    keeper_signer: LocalSigner | None = None
    if Role.KEEPER in roles:
        assert cfg.keeper is not None
        keeper_chains = _htlc_chains(cfg)
        if _settles_receivables(cfg):
            keeper_chains.append(hub)  # one writer per chain: shared with the HTLC keeper
        keeper_signer = signers.use(cfg, cfg.keeper.signer, keeper_chains, env)
        published = cfg.keeper.address
        if published is not None and Address(published) != keeper_signer.address:
            # dApps sign relayed claims to the published address: this key could not use them.
            raise ConfigError(
                "[keeper] address is not the keeper signer's address",
                signer=cfg.keeper.signer,
            )
    names: dict[int, str] = {chain.chain_id: name for name, chain in cfg.chains.items()}
    observer = _RpcErrors(metrics, names)

    async with AsyncExitStack() as stack:
        store = await Store.open(cfg.store.url)
        stack.push_async_callback(store.close)
        # One writer per signer: its lock, and the journal fenced by the lock's token.
        fences = {
            signer.address: await _lock_signer(stack, store, signer, owner, cfg, stop)
            for signer in signers.by_name.values()
        }
        journal = StoreJournal(store, fences=fences)
        relayer = cfg.relayer
        policy = SubmitPolicy(
            stuck_after_s=relayer.stuck_after_s if relayer else 30.0,
            fee_bump_pct=relayer.fee_bump_pct if relayer else 15,
        )
        adapters: dict[str, EvmAdapter] = {}
        for name, chain in cfg.chains.items():
            adapter = build_adapter(
                chain.adapter_config(name),
                signers.on_chain.get(name, []),
                journal=journal,
                submit_policy=policy,
                observer=observer,
            )
            # Closed also when it cannot start (its HTTP session exists from construction).
            stack.push_async_callback(adapter.aclose)
            try:
                await adapter.start()
            except RpcUnavailable as exc:
                # Say which [chains.NAME] the operator must look at, in the one line printed.
                raise RpcUnavailable(f"chains.{name}: {exc.message}", **exc.context) from exc
            adapters[name] = adapter
        sides = {
            name: ChainSide(
                name=name,
                chain_id=chain.chain_id,
                adapter=adapters[name],
                endpoint=Address(chain.contracts.endpoint or bytes(20)),  # none: no bridge
                finality=chain.finality_policy,
                start_height=chain.start_height,
            )
            for name, chain in cfg.chains.items()
        }
        hub_adapter = adapters[hub]
        assert isinstance(hub_adapter, QbftAdapter)  # the config's one qbft chain
        await restore_trust(store, hub_adapter)
        workers: list[Worker] = [TrustSaver(store, hub_adapter, interval_s=5.0)]
        if Role.RELAYER in roles:
            assert relayer is not None and relayer_signer is not None
            queue = WorkQueue(store, owner, relayer.lease_ttl_s)
            workers += _relayer_workers(cfg, sides, queue, relayer_signer.address, metrics)
        if Role.ATTESTER in roles:
            workers += _attester_workers(cfg, sides, attesters, store, metrics)
        if Role.KEEPER in roles:
            assert keeper_signer is not None
            if _htlc_chains(cfg) or not _settles_receivables(cfg):
                workers.append(_keeper_worker(cfg, sides, keeper_signer.address, store, metrics))
            if _settles_receivables(cfg):
                workers.append(_receivable_worker(cfg, sides, keeper_signer.address, metrics))
        workers.append(_ops_watch(cfg, roles, sides, adapters, signers, metrics))
        supervisor = Supervisor(workers)

        def refresh() -> None:
            metrics.observe_workers(supervisor.health)

        app = ops_app(supervisor, metrics, refresh)
        port = cfg.ops.port if ops_port is None else ops_port
        bound = await stack.enter_async_context(serve_ops(app, cfg.ops.host, port))
        log.info(
            "%s: %d workers; ops on %s:%d",
            ", ".join(sorted(roles)),
            len(workers),
            cfg.ops.host,
            bound,
        )
        if on_ready is not None and not on_ready.done():
            on_ready.set_result(bound)
        await supervisor.run(stop)
        log.info("workers stopped; releasing signer locks, closing the chains and the store")


def _ops_watch(
    cfg: XgateConfig,
    roles: set[Role],
    sides: Mapping[str, ChainSide],
    adapters: Mapping[str, EvmAdapter],
    signers: _Signers,
    metrics: RelayMetrics,
) -> OpsWatch:
    """Signer balances on every chain each signer sends on; the relayer's routes' pauses."""
    watched = [
        WatchedSigner(chain, signer.address, adapters[chain])
        for chain, listed in sorted(signers.on_chain.items())
        for signer in listed
    ]
    routes: list[WatchedRoute] = []
    if Role.RELAYER in roles:
        for rc in cfg.routes:
            if not rc.enabled:
                continue
            src, dst = sides[rc.source], sides[rc.destination]
            routes.append(
                WatchedRoute(
                    Route(src, dst, rc.batch_size).name,
                    src.chain_id,
                    EndpointView(dst.adapter, dst.endpoint),
                )
            )
    return OpsWatch(metrics, signers=watched, routes=routes)


async def _lock_signer(
    stack: AsyncExitStack,
    store: Store,
    signer: LocalSigner,
    owner: str,
    cfg: XgateConfig,
    stop: asyncio.Event,
) -> LockLease:
    """One writer per signer across processes: hold its lock for as long as we run."""
    name = "signer:0x" + signer.address.hex()
    ttl = cfg.relayer.lease_ttl_s if cfg.relayer else 30.0
    lease = await store.acquire_lock(name, owner, ttl)
    if lease is None:
        lease = await _take_over_dead_lock(store, name, owner, ttl, stop)

    async def keep() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                held = await store.acquire_lock(name, owner, ttl) is not None
            except XgateError as exc:
                log.warning(
                    "could not renew the lock of signer 0x%s: %s", signer.address.hex(), exc
                )
                continue
            if not held:
                # Another process took the key over (our lease ran out): stop writing now.
                log.critical("lost the lock of signer 0x%s; stopping", signer.address.hex())
                stop.set()
                return

    task = asyncio.create_task(keep(), name=f"lock-{name}")

    async def release() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.release_lock(name, owner)

    stack.push_async_callback(release)
    return lease


async def _take_over_dead_lock(
    store: Store, name: str, owner: str, ttl: float, stop: asyncio.Event
) -> LockLease:
    """The signer's lock is held. A holder that was killed (SIGKILL, a crash) never releases
    it, and its lease runs out within its lease time: wait for the recorded lease to end once
    (at most ``MAX_LOCK_WAIT_S``) and take the lock then, so a restarted process resumes
    instead of exiting. A holder that renewed its lease meanwhile is alive: ``SignerBusy``."""
    held = await store.lock(name)
    if held is not None:
        wait_s = (held.lease_until - datetime.now(UTC)).total_seconds() + 0.5
        wait_s = min(max(wait_s, 0.0), MAX_LOCK_WAIT_S)
        log.warning(
            "%s is held by %s; waiting %.1f s for its lease to run out (a killed process "
            "cannot release it)",
            name,
            held.owner,
            wait_s,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)
    lease = None if stop.is_set() else await store.acquire_lock(name, owner, ttl)
    if lease is None:
        raise SignerBusy(
            "another process is signing with this key; run one process per signer",
            signer=name.removeprefix("signer:"),
        )
    return lease


def _relayer_workers(
    cfg: XgateConfig,
    sides: Mapping[str, ChainSide],
    queue: WorkQueue,
    signer: Address,
    metrics: RelayMetrics,
) -> list[Worker]:
    """A watcher per source chain; a header gate and a deliverer per enabled route."""
    relayer = cfg.relayer
    assert relayer is not None
    routes = [r for r in cfg.routes if r.enabled]
    workers: list[Worker] = []
    for src_name in sorted({r.source for r in routes}):
        workers.append(
            MessageWatcher(
                source=sides[src_name],
                destinations=[
                    sides[r.destination].chain_id for r in routes if r.source == src_name
                ],
                store=queue.store,
                log_range=relayer.log_range,
                interval_s=relayer.poll_interval_s,
                credit_registry=cfg.chains[src_name].contracts.credit_registry,
            )
        )
    route_names: dict[tuple[int, int], str] = {}
    for rc in routes:
        src, dst = sides[rc.source], sides[rc.destination]
        contracts = cfg.chains[rc.destination].contracts
        sender = Sender(dst.adapter, metrics, dst.name, relayer.confirm_timeout_s, signer)
        gate: Worker
        if cfg.chains[rc.destination].kind == "evm":
            assert contracts.light_client is not None  # checked by the config
            route = Route(src, dst, rc.batch_size)
            consortium = src.adapter
            assert isinstance(consortium, QbftAdapter)
            gate = QbftHeaderFeeder(
                route,
                queue,
                oracle=QbftLightClientView(dst.adapter, Address(contracts.light_client)),
                consortium=consortium,
                sender=sender,
                metrics=metrics,
                interval_s=relayer.poll_interval_s,
                max_in_flight=relayer.max_in_flight,
                refresh=relayer.light_client_refresh,
                check_s=relayer.light_client_check_s,
            )
        else:
            assert contracts.header_store is not None  # checked by the config
            route = Route(src, dst, rc.batch_size)
            gate = AttestedHeaderGate(
                route,
                queue,
                oracle=AttestedHeaderStoreView(dst.adapter, Address(contracts.header_store)),
                interval_s=relayer.poll_interval_s,
            )
        route_names[(src.chain_id, dst.chain_id)] = route.name
        workers.append(gate)
        workers.append(
            Deliverer(
                route,
                queue,
                endpoint=EndpointView(dst.adapter, dst.endpoint),
                sender=sender,
                metrics=metrics,
                interval_s=relayer.poll_interval_s,
                max_attempts=relayer.max_attempts,
                max_in_flight=relayer.max_in_flight,
            )
        )
    chain_names: dict[int, str] = {side.chain_id: side.name for side in sides.values()}
    workers.append(_MessageCounts(queue.store, metrics, route_names, chain_names))
    return workers


def _attester_workers(
    cfg: XgateConfig,
    sides: Mapping[str, ChainSide],
    signers: Sequence[LocalSigner],
    store: Store,
    metrics: RelayMetrics,
) -> list[Worker]:
    """One attester per (signer, public chain)."""
    attester = cfg.attester
    assert attester is not None
    hub = sides[cfg.hub]
    header_store = cfg.chains[cfg.hub].contracts.header_store
    if header_store is None:
        raise ConfigError(
            f"the attester needs chains.{cfg.hub}.contracts.header_store", chain=cfg.hub
        )
    view = AttestedHeaderStoreView(hub.adapter, Address(header_store))
    workers: list[Worker] = []
    for signer in signers:
        sender = Sender(hub.adapter, metrics, hub.name, attester.confirm_timeout_s, signer.address)
        for chain_name in attester.chains:
            workers.append(
                HeaderAttester(
                    public=sides[chain_name],
                    consortium_chain_id=hub.chain_id,
                    header_store=view,
                    signer=signer,
                    sender=sender,
                    store=store,
                    log_range=attester.log_range,
                    interval_s=attester.poll_interval_s,
                    metrics=metrics,
                )
            )
    return workers


def _htlc_chains(cfg: XgateConfig) -> list[str]:
    return [name for name, chain in cfg.chains.items() if _htlcs(chain.contracts)]


def _htlcs(contracts: ContractsConfig) -> dict[Address, AssetKind]:
    found = {
        AssetKind.NATIVE: contracts.htlc_native,
        AssetKind.ERC20: contracts.htlc_erc20,
        AssetKind.ERC721: contracts.htlc_erc721,
    }
    return {Address(address): kind for kind, address in found.items() if address is not None}


def _keeper_worker(
    cfg: XgateConfig,
    sides: Mapping[str, ChainSide],
    signer: Address,
    store: Store,
    metrics: RelayMetrics,
) -> Worker:
    """The HTLC keeper over every chain with HTLC contracts."""
    keeper = cfg.keeper
    assert keeper is not None
    chains = [
        KeeperChain(
            side=sides[name],
            htlcs=_htlcs(cfg.chains[name].contracts),
            sender=Sender(sides[name].adapter, metrics, name, keeper.confirm_timeout_s, signer),
        )
        for name in _htlc_chains(cfg)
    ]
    rules = KeeperRules(
        finality_s={c.side.chain_id: cfg.chains[c.side.name].time_to_finality_s for c in chains},
        relay_latency_s=keeper.relay_latency_s,
        clock_skew_s=keeper.clock_skew_s,
        safety_delay_s=keeper.safety_delay_s,
    )
    return HtlcKeeper(
        chains=chains,
        store=store,
        rules=rules,
        log_range=keeper.log_range,
        interval_s=keeper.poll_interval_s,
        look_back_blocks=keeper.look_back_blocks,
    )


def _settles_receivables(cfg: XgateConfig) -> bool:
    """The keeper settles receivables: switched on and the hub has a ``Receivable``."""
    keeper = cfg.keeper
    return (
        keeper is not None
        and keeper.settle_receivables
        and cfg.chains[cfg.hub].contracts.receivable is not None
    )


def _receivable_worker(
    cfg: XgateConfig, sides: Mapping[str, ChainSide], signer: Address, metrics: RelayMetrics
) -> Worker:
    """The receivable keeper on the hub, sending with the keeper signer (docs/relayer.md §9)."""
    keeper = cfg.keeper
    assert keeper is not None
    side = sides[cfg.hub]
    address = cfg.chains[cfg.hub].contracts.receivable
    assert address is not None  # _settles_receivables
    return ReceivableKeeper(
        side=side,
        view=ReceivableSettlementView(side.adapter, Address(address)),
        sender=Sender(side.adapter, metrics, side.name, keeper.confirm_timeout_s, signer),
        metrics=metrics,
        log_range=keeper.log_range,
        interval_s=keeper.poll_interval_s,
    )
