"""Header gates: a route's messages in ``final`` wait here until the destination's header
oracle has accepted their source block, then move to ``header_ready`` (docs/relayer.md §3).

- ``QbftHeaderFeeder`` (consortium -> public): keeps ``QbftLightClient`` current. One header
  per waiting source block serves every message in it. Above the client's latest header it
  follows the consortium with ``TrustPathPlanner`` from the client's own latest header (a
  ``submitHeader`` while the set is unchanged, ``updateValidatorSet`` runs when it changed,
  bisection when it changed too much); at or below it, ``submitHeader`` when the header lists
  the set of its epoch, else ``submitAncestors`` from the latest header when that chain is
  short. Every header comes from ``QbftAdapter.verified_header`` (the off-chain client checked
  it with the contract's rules) and every transaction is simulated before it is sent.
- ``AttestedHeaderGate`` (public -> consortium): the attesters put public headers into
  ``AttestedHeaderStore``; the gate only watches for acceptance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from adapters.base import CallReverted, TxRequest
from adapters.bft import decode_qbft_extra
from adapters.errors import FatalError, FinalityViolation
from adapters.headers import Header, encode_header
from adapters.lightclient.qbft import (
    TrustedHeader,
    TrustPathPlanner,
    TrustPolicy,
    validator_set_rlp,
)
from adapters.qbft import QbftAdapter
from adapters.types import Finality, Hash32, Height
from gateway.domain.status import MessageStatus
from relayers.contracts import AttestedHeaderStoreView, LightClientState, QbftLightClientView
from relayers.metrics import RelayMetrics
from relayers.queue import WorkQueue, by_block
from relayers.routes import Route
from relayers.sending import Sender, reverted_with

__all__ = ["AttestedHeaderGate", "LightClientFrozen", "QbftHeaderFeeder"]

log = logging.getLogger(__name__)

# submitAncestors hashes every header from the latest accepted one down to the target: past
# this many the transaction costs more than waiting for an operator's decision is worth.
MAX_ANCESTRY = 64
# Set-change runs longer than this are not collected (the contract has no limit; gas does).
MAX_RUN = 64


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
            for number, block_hash, records in by_block(claimed):
                if not await self._accepted(number, block_hash):
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

    async def _accepted(self, number: Height, block_hash: Hash32) -> bool:
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
        limit: int = 256,
    ) -> None:
        super().__init__(route, queue, interval_s, limit)
        self._oracle = oracle

    async def _accepted(self, number: Height, block_hash: Hash32) -> bool:
        return await self._oracle.is_accepted(self.route.src.chain_id, block_hash)


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
        limit: int = 256,
    ) -> None:
        super().__init__(route, queue, interval_s, limit)
        self._lc = oracle
        self._consortium = consortium
        self._sender = sender
        self._metrics = metrics
        self._policy: TrustPolicy | None = None

    async def _accepted(self, number: Height, block_hash: Hash32) -> bool:
        if await self._lc.is_accepted(block_hash):
            return True
        state = await self._state()
        verified = await self._consortium.verified_header(number)
        if verified.hash != block_hash:
            raise FinalityViolation(
                "the consortium block of a final message was replaced",
                chain_id=self.route.src.chain_id,
                height=number,
                recorded=block_hash,
                canonical=verified.hash,
            )
        if number > state.latest_number:
            now = await self._destination_time()
            policy = await self._trust_policy()
            if verified.header.timestamp > now + policy.max_clock_drift_s:
                # The consortium's clock runs ahead of the destination's (a burst of blocks, or
                # skew): the client would refuse the header as from the future. Not yet.
                log.info(
                    "%s: header %d is %d s ahead of %s's clock; waiting",
                    self.name,
                    number,
                    verified.header.timestamp - now,
                    self.route.dst.name,
                    extra={"route": self.route.name},
                )
                return False
            await self._advance(state, number, now)
        else:
            await self._backfill(state, verified.header)
        return await self._lc.is_accepted(block_hash)

    async def _state(self) -> LightClientState:
        state = await self._lc.state()
        labels = {"chain": self.route.dst.name, "source": self.route.src.name}
        self._metrics.light_client_height.labels(**labels).set(state.latest_number)
        head = await self._consortium.height(self.route.src.finality)
        self._metrics.light_client_lag.labels(**labels).set(max(head - state.latest_number, 0))
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

    async def _destination_time(self) -> int:
        """The destination chain's clock: its latest block's timestamp (what the light
        client's time rules compare with, never this machine's clock)."""
        dst = self.route.dst.adapter
        return int((await dst.header(await dst.height(Finality.latest()))).timestamp)

    async def _advance(self, state: LightClientState, target: Height, now: int) -> None:
        """Move the client's latest header up to ``target`` (one step when the set is the
        same, the planner's steps when it changed)."""
        latest = await self._consortium.verified_header(Height(state.latest_number))
        if latest.hash != state.latest_hash:
            raise FinalityViolation(
                "the light client's latest header is not on our consortium node's chain",
                chain_id=self.route.src.chain_id,
                height=state.latest_number,
                light_client=state.latest_hash,
                node=latest.hash,
            )
        planner = TrustPathPlanner(
            latest.trusted(), target, now=now, policy=await self._trust_policy(), max_run=MAX_RUN
        )
        while planner.wanted is not None:
            planner.give((await self._consortium.verified_header(Height(planner.wanted))).header)
        trusted: TrustedHeader = latest.trusted()
        for step, accepted in zip(planner.steps, planner.accepted, strict=True):
            await self._submit(self._step_request(trusted, step), accepted.number)
            trusted = accepted.trusted()

    def _step_request(self, trusted: TrustedHeader, step: Sequence[Header]) -> TxRequest:
        first = step[0]
        if len(step) == 1 and self._lists(first) == trusted.validators:
            return self._lc.submit_header(encode_header(first))
        return self._lc.update_validator_set(
            validator_set_rlp(trusted.validators), [encode_header(h) for h in step]
        )

    @staticmethod
    def _lists(header: Header) -> tuple[bytes, ...]:
        return tuple(decode_qbft_extra(header.extra_data).validators)

    async def _backfill(self, state: LightClientState, header: Header) -> None:
        """A header at or below the latest one: its epoch's set, else ancestry."""
        request = self._lc.submit_header(encode_header(header))
        try:
            await self._sender.simulate(request)
        except CallReverted as exc:
            if reverted_with(exc, "HeaderAlreadyAccepted"):
                return
            if not reverted_with(exc, "NotTrustedSetAt", "TrustExpired"):
                raise
            request = await self._ancestry(state, header)
        await self._submit(request, header.number)

    async def _ancestry(self, state: LightClientState, header: Header) -> TxRequest:
        depth = state.latest_number - header.number
        if depth > MAX_ANCESTRY:
            raise FatalError(
                "the light client cannot accept this old header: its set's trust expired and "
                "the ancestry from the latest header is too long",
                height=header.number,
                latest=state.latest_number,
                max_ancestry=MAX_ANCESTRY,
            )
        chain: list[bytes] = []
        for n in range(state.latest_number, header.number - 1, -1):
            h = (await self._consortium.verified_header(Height(n))).header
            chain.append(encode_header(h))
        return self._lc.submit_ancestors(chain)

    async def _submit(self, request: TxRequest, number: int) -> None:
        try:
            await self._sender.send(request, purpose="header", refs=(str(number),))
        except CallReverted as exc:
            # Another relayer submitted it between our read and our simulation: fine.
            if not reverted_with(exc, "HeaderAlreadyAccepted", "NotNewer"):
                raise
        log.info(
            "%s: light client on %s accepted consortium header %d",
            self.name,
            self.route.dst.name,
            number,
            extra={"route": self.route.name, "chain": self.route.dst.name},
        )
