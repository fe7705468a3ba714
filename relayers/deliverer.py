"""The deliverer: a route's ``header_ready`` messages, proven and delivered in batches, and
``submitted`` ones whose outcome a crashed process never saw (docs/relayer.md §3, §4).

Per source block: one fetch of the block's receipts proves every message in it
(``proven_logs``); each proof is checked off-chain against the block (hash, receipts root,
the log decodes to the stored message) before any gas is spent; the ``deliverBatch`` call is
simulated, and what the simulation says decides:

- ``AlreadyDelivered(id)``: someone else delivered it: ``already_delivered``, no gas spent;
- ``ReceiverFailed(id, reason)`` / ``ReceiverNotContract``: the message can never be delivered
  as it is: ``parked`` with the reason (an operator may retry it), never retried in a loop;
- ``RoutePaused`` / ``Paused`` / ``UnknownHeader``: nothing wrong with the message: it waits;
- anything else reverting a batch is found by simulating its messages one by one.

Then the batch is sent through the signer's writer and its messages are ``submitted``. A step
claims up to ``max_in_flight`` batches and sends them all (consecutive nonces) before waiting
for any; once mined they are ``delivered``. A batch reverted on chain (a race with another
relayer) is sorted out by the endpoint's ``delivered`` view: ``already_delivered`` or back to
``header_ready``, parked after ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from adapters.base import CallReverted, TransactionNotFound, TxReceipt, TxRequest
from adapters.contracts import EndpointView
from adapters.errors import NotYetAvailable, TransactionFailed
from adapters.receipts import ProvenLog
from adapters.rpc.submit import SentTx
from adapters.types import Finality, Hash32, Height, TxHash
from gateway.domain.messages import check_proven_message, delivery_item
from gateway.domain.status import MessageRecord, MessageStatus
from relayers.metrics import RelayMetrics
from relayers.queue import WorkQueue, by_block
from relayers.routes import Route
from relayers.sending import Sender, reverted_with

__all__ = ["Deliverer"]

log = logging.getLogger(__name__)

WAIT_ERRORS = ("RoutePaused", "Paused", "UnknownHeader")
# A paused route or a header the destination does not know (yet): look again this much later.
PAUSED_RETRY_S = 30.0


class Deliverer:
    def __init__(
        self,
        route: Route,
        queue: WorkQueue,
        *,
        endpoint: EndpointView,
        sender: Sender,
        metrics: RelayMetrics,
        interval_s: float,
        max_attempts: int,
        max_in_flight: int,
    ) -> None:
        self.route = route
        self._queue = queue
        self._endpoint = endpoint
        self._sender = sender
        self._metrics = metrics
        self._interval_s = interval_s
        self._max_attempts = max_attempts
        self._max_in_flight = max_in_flight

    @property
    def name(self) -> str:
        return f"deliver:{self.route.name}"

    @property
    def interval_s(self) -> float:
        return self._interval_s

    async def step(self) -> bool:
        q = self._queue
        limit = self.route.batch_size * self._max_in_flight
        claimed = await q.claim(
            self.route, [MessageStatus.HEADER_READY, MessageStatus.SUBMITTED], limit
        )
        if not claimed:
            return False
        async with q.held(r.id for r in claimed):
            orphans = [r for r in claimed if r.status is MessageStatus.SUBMITTED]
            ready = [r for r in claimed if r.status is MessageStatus.HEADER_READY]
            in_flight: list[tuple[list[MessageRecord], SentTx]] = []
            # Every batch goes out before any is awaited (consecutive nonces, often one
            # destination block for all): a route is not held to a batch per block.
            for number, block_hash, records in by_block(ready):
                proven = await self._prove(number, block_hash, records)
                for start in range(0, len(records), self.route.batch_size):
                    chunk = records[start : start + self.route.batch_size]
                    sent = await self._submit(block_hash, chunk, proven)
                    if sent is not None:
                        in_flight.append(sent)
            outcomes = [self._confirm(batch, sent) for batch, sent in in_flight]
            outcomes += [self._recover(tx_hash, rs) for tx_hash, rs in _by_tx(orphans).items()]
            await _all(outcomes)
        return len(claimed) == limit

    # -- a block's batch ------------------------------------------------------------------

    async def _submit(
        self, block_hash: Hash32, records: list[MessageRecord], proven: dict[int, ProvenLog]
    ) -> tuple[list[MessageRecord], SentTx] | None:
        """The deliverable part of ``records``, sent and recorded ``submitted``."""
        batch = await self._deliverable(block_hash, records, proven)
        if not batch:
            return None
        q = self._queue
        ids = [r.id for r in batch]

        async def submitted(sent: SentTx) -> None:
            await q.store.transition_many(
                ids, q.owner, MessageStatus.SUBMITTED, tx_hash=sent.tx_hash
            )

        try:
            sent = await self._sender.submit(
                self._request(block_hash, batch, proven),
                purpose="deliver",
                refs=["0x" + i.hex() for i in ids],
                on_sent=submitted,
            )
        except CallReverted:
            # The state moved since the simulation (nothing sent): the next step sees it.
            return None
        return batch, sent

    async def _confirm(self, batch: Sequence[MessageRecord], sent: SentTx) -> None:
        try:
            receipt = await self._sender.confirm(sent, "deliver")
        except TransactionFailed as exc:
            await self._after_failure(batch, str(exc))
            return
        except NotYetAvailable:
            return  # still submitted; the next claim after the lease looks again
        await self._delivered(batch, receipt)

    async def _prove(
        self, number: Height, block_hash: Hash32, records: Sequence[MessageRecord]
    ) -> dict[int, ProvenLog]:
        src = self.route.src
        proven = await src.adapter.proven_logs(number, [r.block_log_index for r in records])
        for r in records:
            # The adapter verified the proof against the block's receiptsRoot; what is left is
            # that it proves this message, emitted by the route's source endpoint.
            check_proven_message(
                proven[r.block_log_index],
                message_id=r.id,
                src_chain_id=src.chain_id,
                src_endpoint=src.endpoint,
                block_hash=block_hash,
                tx_index=r.src_tx_index,
            )
        return proven

    def _request(
        self, block_hash: Hash32, batch: Sequence[MessageRecord], proven: dict[int, ProvenLog]
    ) -> TxRequest:
        items = [delivery_item(proven[r.block_log_index]) for r in batch]
        return self._endpoint.deliver_batch(self.route.src.chain_id, block_hash, items)

    async def _deliverable(
        self, block_hash: Hash32, records: list[MessageRecord], proven: dict[int, ProvenLog]
    ) -> list[MessageRecord]:
        """Simulate the batch; take out what the endpoint says cannot or need not go."""
        batch = list(records)
        while batch:
            try:
                await self._sender.simulate(self._request(block_hash, batch, proven))
                return batch
            except CallReverted as exc:
                if reverted_with(exc, *WAIT_ERRORS):
                    await self._queue.postpone(batch, PAUSED_RETRY_S)
                    log.warning(
                        "%s: waiting, the destination says %s",
                        self.name,
                        exc.decoded.name if exc.decoded else "?",
                        extra={"route": self.route.name},
                    )
                    return []
                culprit = self._named(exc, batch)
                if culprit is None and len(batch) > 1:
                    culprit, exc = await self._find_culprit(block_hash, batch, proven, exc)
                await self._settle_refused(culprit or batch[0], exc)
                batch.remove(culprit or batch[0])
        return batch

    @staticmethod
    def _named(exc: CallReverted, batch: Sequence[MessageRecord]) -> MessageRecord | None:
        """The batch member a revert names by id (AlreadyDelivered, ReceiverFailed)."""
        if exc.decoded is None or not exc.decoded.args:
            return None
        first = exc.decoded.args[0]
        for r in batch:
            if first == r.id:
                return r
        return None

    async def _find_culprit(
        self,
        block_hash: Hash32,
        batch: Sequence[MessageRecord],
        proven: dict[int, ProvenLog],
        batch_error: CallReverted,
    ) -> tuple[MessageRecord | None, CallReverted]:
        """The first message that reverts alone, with its own error (its reason is parked)."""
        for r in batch:
            try:
                await self._sender.simulate(self._request(block_hash, [r], proven))
            except CallReverted as exc:
                return r, exc
        return None, batch_error

    async def _settle_refused(self, r: MessageRecord, exc: CallReverted) -> None:
        q = self._queue
        if reverted_with(exc, "AlreadyDelivered"):
            await q.store.transition(
                r.id, q.owner, MessageStatus.ALREADY_DELIVERED, detail="delivered by someone else"
            )
            return
        reason = _reason(exc)
        await q.store.transition(r.id, q.owner, MessageStatus.PARKED, reason=reason)
        log.error(
            "%s: message 0x%s parked: %s",
            self.name,
            r.id.hex(),
            reason,
            extra={"route": self.route.name, "message_id": "0x" + r.id.hex()},
        )

    # -- sending and outcomes -------------------------------------------------------------

    async def _delivered(self, batch: Sequence[MessageRecord], receipt: TxReceipt) -> None:
        q = self._queue
        now = q.clock()
        await q.store.transition_many(
            [r.id for r in batch],
            q.owner,
            MessageStatus.DELIVERED,
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
        )
        for r in batch:
            self._metrics.delivery_latency.labels(route=self.route.name).observe(
                (now - r.created_at).total_seconds()
            )
        log.info(
            "%s: delivered %d message(s) in block %d",
            self.name,
            len(batch),
            receipt.block_number,
            extra={"route": self.route.name, "chain": self.route.dst.name},
        )

    async def _after_failure(self, batch: Sequence[MessageRecord], why: str) -> None:
        """The batch reverted on chain or was dropped: who delivered what?"""
        q = self._queue
        for r in batch:
            if await self._endpoint.delivered(r.id, finality=Finality.latest()):
                await q.store.transition(r.id, q.owner, MessageStatus.ALREADY_DELIVERED, detail=why)
            elif r.attempts + 1 >= self._max_attempts:
                await q.store.transition(
                    r.id,
                    q.owner,
                    MessageStatus.PARKED,
                    reason=f"delivery failed {r.attempts + 1} times; last: {why}",
                )
            else:
                await q.store.transition(r.id, q.owner, MessageStatus.HEADER_READY, detail=why)

    async def _recover(self, tx_hash: TxHash, records: Sequence[MessageRecord]) -> None:
        """``submitted`` messages whose lease ended: find out what became of their transaction
        (ours from before a restart, or another process's that died)."""
        try:
            receipt = await self._sender.adapter.wait_final(tx_hash, Finality.latest(), timeout=1.0)
        except TransactionFailed as exc:
            await self._after_failure(records, str(exc))
            return
        except TransactionNotFound:
            await self._after_failure(records, "no node knows the delivery transaction any more")
            return
        except NotYetAvailable:
            await self._queue.postpone(records, self._interval_s)  # still pending: wait for it
            return
        await self._delivered(records, receipt)


def _by_tx(records: Sequence[MessageRecord]) -> dict[TxHash, list[MessageRecord]]:
    """``submitted`` messages grouped by their delivery transaction."""
    groups: dict[TxHash, list[MessageRecord]] = {}
    for r in records:
        assert r.delivery_tx_hash is not None  # recorded with the status
        groups.setdefault(TxHash(r.delivery_tx_hash), []).append(r)
    return groups


async def _all(outcomes: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Await every outcome, even when one fails (each records its own batch); then raise
    the first failure for the supervisor."""
    results = await asyncio.gather(*outcomes, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _reason(exc: CallReverted) -> str:
    d = exc.decoded
    if d is None:
        return f"delivery reverts: 0x{exc.data.hex()}" if exc.data else "delivery reverts"
    args = ", ".join(f"0x{a.hex()}" if isinstance(a, bytes) else str(a) for a in d.args)
    return f"{d.name}({args})"
