"""Header gates: a route's messages in ``final`` wait here until the destination's header
oracle has accepted their source block, then move to ``header_ready`` (docs/relayer.md §3).

- ``QbftHeaderFeeder`` (consortium -> public): keeps ``QbftLightClient`` current. One header
  per waiting source block serves every message in it. Above the client's latest header it
  follows the consortium with ``TrustPathPlanner`` from the client's own latest header (a
  ``submitHeader`` while the set is unchanged, ``updateValidatorSet`` runs when it changed,
  bisection when it changed too much); at or below it, ``submitHeader`` when the header lists
  the set of its epoch, else ``submitAncestors`` from the latest header when that chain is
  short. Every header comes from ``QbftAdapter.verified_header`` (the off-chain client checked
  it with the contract's rules) and every transaction is simulated before it is sent. Up to
  ``max_in_flight`` blocks' headers go out back to back per step and are awaited together
  (a set change waits for what is in flight before and after it).
  Keep-alive: the client trusts its latest header only for its ``trustingPeriod``, so at
  ``light_client_refresh`` of that period (the header's age on the destination's clock) the
  feeder submits the consortium's newest final header the client can take, with no message
  waiting, through the same planning and sending; past the period it logs that governance
  must re-anchor the client and sends nothing.
- ``AttestedHeaderGate`` (public -> consortium): the attesters put public headers into
  ``AttestedHeaderStore``; the gate only watches for acceptance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from adapters.base import CallReverted, TxRequest
from adapters.contracts import AttestedHeaderStoreView, LightClientState, QbftLightClientView
from adapters.errors import FatalError, FinalityViolation, TransactionFailed
from adapters.headers import Header
from adapters.lightclient.qbft import (
    TrustedHeader,
    TrustPolicy,
    VerifiedHeader,
)
from adapters.qbft import QbftAdapter
from adapters.rpc.submit import SentTx
from adapters.types import Finality, Hash32, Height
from gateway.domain.status import MessageStatus
from relayers.metrics import RelayMetrics
from relayers.queue import WorkQueue, by_block
from relayers.routes import Route
from relayers.sending import Sender, reverted_with

__all__ = ["AttestedHeaderGate", "LightClientFrozen", "QbftHeaderFeeder"]

log = logging.getLogger(__name__)


class LightClientFrozen(FatalError):
    """The destination's light client froze on misbehaviour evidence: nothing is delivered
    over this route until governance re-anchors it. Stops the worker (the supervisor)."""

    stops_worker = True


class _Gate:
    """Claim a route's ``final`` messages, make their blocks accepted, mark them ready."""

    def __init__(self, route: Route, queue: WorkQueue, interval_s: float, limit: int) -> None:
        self.route = route
        self._queue = queue
        self._interval_s = interval_s
        self._limit = limit

    @property
    def name(self) -> str:
        return f"headers:{self.route.name}"

    @property
    def interval_s(self) -> float:
        return self._interval_s

    async def step(self) -> bool:
        q = self._queue
        claimed = await q.claim(self.route, [MessageStatus.FINAL], self._limit)
        if not claimed:
            return False
        progressed = False
        async with q.held(r.id for r in claimed):
            blocks = by_block(claimed)
            accepted = await self._accept(
                [(number, block_hash) for number, block_hash, _ in blocks]
            )
            for number, block_hash, records in blocks:
                if block_hash not in accepted:
                    await q.postpone(records, self._interval_s)
                    continue
                await q.store.transition_many(
                    [r.id for r in records],
                    q.owner,
                    MessageStatus.HEADER_READY,
                    detail=f"header {number} accepted on {self.route.dst.name}",
                )
                progressed = True
        return progressed and len(claimed) == self._limit

    async def _accept(self, blocks: Sequence[tuple[Height, Hash32]]) -> set[Hash32]:
        """The hashes of ``blocks`` (lowest first) the destination's oracle has accepted,
        after doing what this gate does to get them accepted."""
        raise NotImplementedError


class AttestedHeaderGate(_Gate):
    """public -> consortium: wait until enough attesters have put the block into the
    ``AttestedHeaderStore`` (the attester service does the work)."""

    def __init__(
        self,
        route: Route,
        queue: WorkQueue,
        *,
        oracle: AttestedHeaderStoreView,
        interval_s: float,
        limit: int = 1024,
    ) -> None:
        super().__init__(route, queue, interval_s, limit)
        self._oracle = oracle

    async def _accept(self, blocks: Sequence[tuple[Height, Hash32]]) -> set[Hash32]:
        src = self.route.src.chain_id
        return {h for _, h in blocks if await self._oracle.is_accepted(src, h)}


class QbftHeaderFeeder(_Gate):
    """consortium -> public: submit the consortium headers the public light client needs."""

    def __init__(
        self,
        route: Route,
        queue: WorkQueue,
        *,
        oracle: QbftLightClientView,
        consortium: QbftAdapter,
        sender: Sender,
        metrics: RelayMetrics,
        interval_s: float,
        max_in_flight: int,
        refresh: float = 0.5,
        check_s: float = 10.0,
        limit: int = 1024,
    ) -> None:
        super().__init__(route, queue, interval_s, limit)
        if not 0 < refresh < 1:
            raise ValueError(f"refresh must be a fraction in (0, 1), not {refresh}")
        self._max_in_flight = max_in_flight  # headers sent before waiting for the first
        self._refresh = refresh  # of the trusting period: the keep-alive's header age
        self._check_s = check_s  # wall-clock seconds between keep-alive checks
        self._lc = oracle
        self._consortium = consortium
        self._sender = sender
        self._metrics = metrics
        self._policy: TrustPolicy | None = None
        self._next_check = 0.0  # time.monotonic() of the next keep-alive check
        self._reported: tuple[str, Hash32] | None = None  # (problem, latest hash) logged last

    async def step(self) -> bool:
        await self._keep_alive()
        return await super().step()

    async def _accept(self, blocks: Sequence[tuple[Height, Hash32]]) -> set[Hash32]:
        lc = self._lc
        accepted = {h for _, h in blocks if await lc.is_accepted(h)}
        waiting = [(n, h) for n, h in blocks if h not in accepted][: self._max_in_flight]
        if not waiting:
            return accepted
        state = await self._state()
        headers: dict[int, VerifiedHeader] = {}
        for number, block_hash in waiting:
            verified = await self._consortium.verified_header(number)
            if verified.hash != block_hash:
                raise FinalityViolation(
                    "the consortium block of a final message was replaced",
                    chain_id=self.route.src.chain_id,
                    height=number,
                    recorded=block_hash,
                    canonical=verified.hash,
                )
            headers[number] = verified
        flight = _Flight(self._sender, self._lc, self.route, self.name)
        for number, _ in waiting:
            if number <= state.latest_number:
                await self._backfill(flight, state, headers[number])
        above = [headers[n].header for n, _ in waiting if n > state.latest_number]
        if above:
            await self._advance(flight, state, above, now=await self._destination_time())
        await flight.drain()
        return accepted | {h for _, h in waiting if await lc.is_accepted(h)}

    @property
    def _labels(self) -> dict[str, str]:
        return {"chain": self.route.dst.name, "source": self.route.src.name}

    async def _read_state(self) -> LightClientState:
        """The client's state, its height and frozen gauges set."""
        state = await self._lc.state()
        labels = self._labels
        self._metrics.light_client_height.labels(**labels).set(state.latest_number)
        self._metrics.light_client_frozen.labels(**labels).set(1 if state.frozen else 0)
        return state

    async def _state(self) -> LightClientState:
        """``_read_state`` and the lag gauge; ``LightClientFrozen`` when it froze."""
        state = await self._read_state()
        head = await self._consortium.height(self.route.src.finality)
        self._metrics.light_client_lag.labels(**self._labels).set(
            max(head - state.latest_number, 0)
        )
        if state.frozen:
            raise LightClientFrozen(
                "the light client on the destination is frozen (misbehaviour evidence)",
                route=self.route.name,
                light_client=self._lc.address,
            )
        return state

    async def _trust_policy(self) -> TrustPolicy:
        if self._policy is None:
            self._policy = await self._lc.trust_policy()
        return self._policy

    async def _keep_alive(self) -> None:
        """Keep the client's trust alive on a quiet route (docs/relayer.md §3, keep-alive):
        once its latest header is ``refresh`` of the trusting period old on the destination's
        clock, submit the newest final consortium header it can take (not from its future)
        through ``_advance``. Nothing while it is fresher, or frozen (the gate reports that
        when a message needs it); past the period only an error, once: governance must
        re-anchor. Checked at most every ``check_s``."""
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + self._check_s
        state = await self._read_state()
        if state.frozen:
            return
        self._policy = policy = await self._lc.trust_policy()  # governance may change it
        period = policy.trusting_period_s
        assert period is not None  # the contract requires one
        now = await self._destination_time()
        age = now - state.latest_timestamp
        labels = self._labels
        self._metrics.light_client_age.labels(**labels).set(max(age, 0))
        self._metrics.light_client_trust_left.labels(**labels).set(max(period - age, 0))
        due = self._refresh * period
        if age < due:
            return
        extra = {"route": self.route.name, "chain": self.route.dst.name}
        if age >= period:
            if self._report("expired", state):
                log.error(
                    "%s: the light client on %s trusted consortium header %d last, %d s ago: "
                    "its trusting period (%d s) expired and it takes no new header; governance "
                    "must re-anchor it (docs/light-client.md §7, docs/relayer.md §7)",
                    self.name,
                    self.route.dst.name,
                    state.latest_number,
                    age,
                    period,
                    extra=extra,
                )
            return
        target = await self._newest_header(state, now + policy.max_clock_drift_s)
        if target is None or now - target.header.timestamp >= due:
            # No newer final consortium block, or only one that is as old (the consortium's
            # clock behind the destination's): sending it would not refresh the client.
            if self._report("stale", state):
                log.warning(
                    "%s: light client header %d on %s is %d s old (keep-alive at %d s, "
                    "trust ends at %d s) and the consortium has no newer final header to "
                    "refresh it with",
                    self.name,
                    state.latest_number,
                    self.route.dst.name,
                    age,
                    due,
                    period,
                    extra=extra,
                )
            return
        log.info(
            "%s: keep-alive: light client header %d on %s is %d s old (refresh at %d s of a "
            "%d s trusting period); submitting consortium header %d",
            self.name,
            state.latest_number,
            self.route.dst.name,
            age,
            due,
            period,
            target.number,
            extra=extra,
        )
        flight = _Flight(self._sender, self._lc, self.route, self.name)
        await self._advance(flight, state, [target.header], now=now)
        await flight.drain()
        if await self._lc.is_accepted(target.hash):
            self._metrics.light_client_keepalive.labels(**labels).inc()
            self._reported = None

    def _report(self, problem: str, state: LightClientState) -> bool:
        """Whether ``problem`` is new for the client's latest header (log it once, not at
        every check)."""
        key = (problem, state.latest_hash)
        if self._reported == key:
            return False
        self._reported = key
        return True

    async def _newest_header(self, state: LightClientState, limit: int) -> VerifiedHeader | None:
        """The newest final consortium header above the client's latest one with a timestamp
        at most ``limit`` (the destination's clock plus the drift the client allows: a later
        one is from its future); None when there is none. Block times never decrease: a
        bisection between the latest header and the final head."""
        head = int(await self._consortium.height(self.route.src.finality))
        low = state.latest_number  # its time is at most the limit (it was accepted)
        if head <= low:
            return None
        found = await self._consortium.verified_header(Height(head))
        if found.header.timestamp <= limit:
            return found
        best: VerifiedHeader | None = None
        high = head  # its time is beyond the limit
        while high - low > 1:
            mid = (low + high) // 2
            header = await self._consortium.verified_header(Height(mid))
            if header.header.timestamp <= limit:
                low, best = mid, header
            else:
                high = mid
        return best

    async def _destination_time(self) -> int:
        """The destination chain's clock: its latest block's timestamp (what the light
        client's time rules compare with, never this machine's clock)."""
        dst = self.route.dst.adapter
        return int((await dst.header(await dst.height(Finality.latest()))).timestamp)

    async def _advance(
        self, flight: _Flight, state: LightClientState, targets: Sequence[Header], *, now: int
    ) -> None:
        """Move the client's latest header up through ``targets`` (ascending): one
        ``submitHeader`` each while the set is the same, the planner's steps where it changed.
        Same-set headers go out back to back; a set change waits for what is in flight (its
        simulation must see it) and is awaited before the next step (which builds on it).
        ``now``: the destination's clock (``_destination_time``), as the caller read it."""
        latest = await self._consortium.verified_header(Height(state.latest_number))
        if latest.hash != state.latest_hash:
            raise FinalityViolation(
                "the light client's latest header is not on our consortium node's chain",
                chain_id=self.route.src.chain_id,
                height=state.latest_number,
                light_client=state.latest_hash,
                node=latest.hash,
            )
        policy = await self._trust_policy()
        trusted: TrustedHeader = latest.trusted()
        for target in targets:
            if target.timestamp > now + policy.max_clock_drift_s:
                # The consortium's clock runs ahead of the destination's (a burst of blocks, or
                # skew): the client would refuse the header as from the future. Not yet.
                log.info(
                    "%s: header %d is %d s ahead of %s's clock; waiting",
                    self.name,
                    target.number,
                    target.timestamp - now,
                    self.route.dst.name,
                    extra={"route": self.route.name},
                )
                return
            steps = await self._lc.advance_steps(
                self._consortium, trusted, target.number, now=now, policy=policy
            )
            for step in steps:
                if not step.same_set:
                    await flight.drain()  # its simulation must see what is in flight
                await flight.submit(step.request, step.accepted.number, step.accepted.hash)
                if not step.same_set:
                    await flight.drain()  # the next step builds on it
                trusted = step.accepted.trusted()

    async def _backfill(
        self, flight: _Flight, state: LightClientState, verified: VerifiedHeader
    ) -> None:
        """A header at or below the latest one: its epoch's set, else ancestry."""
        header = verified.header
        call = await self._lc.backfill_request(
            self._consortium, state.latest_number, header, sender=self._sender.address
        )
        if call is not None:
            await flight.submit(call[0], header.number, verified.hash)


class _Flight:
    """A feeder step's header transactions: submitted back to back, awaited together."""

    def __init__(self, sender: Sender, lc: QbftLightClientView, route: Route, name: str) -> None:
        self._sender = sender
        self._lc = lc
        self._route = route
        self._name = name
        self._sent: list[tuple[SentTx, int, Hash32]] = []

    async def submit(self, request: TxRequest, number: int, block_hash: Hash32) -> None:
        try:
            sent = await self._sender.submit(request, purpose="header", refs=(str(number),))
        except CallReverted as exc:
            # Another relayer submitted it between our read and our simulation: fine.
            if not reverted_with(exc, "HeaderAlreadyAccepted", "NotNewer"):
                raise
            return
        self._sent.append((sent, number, block_hash))

    async def drain(self) -> None:
        """Wait for every header in flight. One that reverted on chain is fine when the header
        is accepted all the same (another relayer's transaction came first); the first other
        failure is raised once all are settled."""
        sent, self._sent = self._sent, []
        outcomes = await asyncio.gather(
            *(self._sender.confirm(tx, "header") for tx, _, _ in sent), return_exceptions=True
        )
        failure: BaseException | None = None
        for (_, number, block_hash), outcome in zip(sent, outcomes, strict=True):
            if isinstance(outcome, TransactionFailed) and await self._lc.is_accepted(block_hash):
                continue
            if isinstance(outcome, BaseException):
                failure = failure or outcome
                continue
            log.info(
                "%s: light client on %s accepted consortium header %d",
                self._name,
                self._route.dst.name,
                number,
                extra={"route": self._route.name, "chain": self._route.dst.name},
            )
        if failure is not None:
            raise failure
