"""The watcher: a source endpoint's ``MessageSent`` logs, from the durable checkpoint, into the
store (docs/relayer.md §3).

Only final blocks are scanned (the source's finality policy), in ranges of at most
``log_range`` blocks, so a reorg shallower than the policy never reaches the store. Each step
first checks that the checkpoint's block is still canonical: if it is not, the chain replaced
a block it had reported final, and the step raises ``FinalityViolation`` (the supervisor stops
this watcher loudly). The messages of a range and the new checkpoint are written in one store
transaction, so a crash repeats at most one range (the inserts are idempotent).

Several relayer processes may run a watcher for the same stream: the store refuses a
checkpoint that moved under us (``CheckpointMoved``, retryable), so they never interleave.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.base import ChainEvent, EventQuery
from adapters.errors import DecodeError, FinalityViolation, RpcResponseInvalid
from adapters.receipts import Log
from adapters.types import Address, ChainId, Hash32, Height
from gateway.domain.messages import MESSAGE_SENT_TOPIC, decode_message_sent
from gateway.domain.status import Checkpoint, NewMessage
from gateway.store import Store
from relayers.routes import ChainSide

__all__ = ["MessageWatcher", "ScanRange", "message_sent_query", "next_range", "range_after"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanRange:
    """The next blocks a stream's scanner reads: ``start..end``, all final; ``previous`` is the
    stream's checkpoint (None before the first scan) and ``final`` the chain's final height."""

    stream: str
    previous: Checkpoint | None
    start: Height
    end: Height
    final: Height

    async def checkpoint(self, side: ChainSide) -> Checkpoint:
        """The checkpoint after this range (its last block, hash recomputed by the adapter)."""
        header = await side.adapter.header(self.end)
        return Checkpoint(side.chain_id, self.stream, self.end, side.adapter.block_hash(header))


def message_sent_query(endpoint: Address, destinations: Sequence[ChainId]) -> EventQuery:
    """The endpoint's ``MessageSent`` logs to any of ``destinations`` (topic 2)."""
    return EventQuery(
        addresses=(endpoint,),
        topics=(
            (MESSAGE_SENT_TOPIC,),
            None,
            tuple(int(d).to_bytes(32, "big") for d in destinations),
        ),
    )


async def next_range(
    store: Store, side: ChainSide, stream: str, log_range: int
) -> ScanRange | None:
    """The stream's next range of at most ``log_range`` final blocks after its stored
    checkpoint, None when caught up (``range_after``)."""
    previous = await store.checkpoint(side.chain_id, stream)
    return await range_after(side, stream, previous, log_range)


async def range_after(
    side: ChainSide, stream: str, previous: Checkpoint | None, log_range: int
) -> ScanRange | None:
    """The next range of at most ``log_range`` final blocks after ``previous`` (from the
    side's ``start_height`` when None), None when caught up.

    First checks that the checkpoint's block is still canonical: if not, the chain replaced a
    block it had reported final (``FinalityViolation``: the supervisor stops the worker)."""
    adapter = side.adapter
    final = await adapter.height(side.finality)
    if previous is not None:
        canonical: Hash32 = adapter.block_hash(await adapter.header(previous.height))
        if canonical != previous.block_hash:
            raise FinalityViolation(
                "a block reported final was replaced: the chain reorganised below its "
                "finality policy (or the node serves another chain)",
                chain_id=side.chain_id,
                stream=stream,
                height=previous.height,
                recorded=previous.block_hash,
                canonical=canonical,
            )
        start = previous.height + 1
    else:
        start = side.start_height
    if start > final:
        return None
    return ScanRange(
        stream, previous, Height(start), Height(min(final, start + log_range - 1)), final
    )


class MessageWatcher:
    def __init__(
        self,
        *,
        source: ChainSide,
        destinations: Sequence[ChainId],
        store: Store,
        log_range: int,
        interval_s: float,
        credit_registry: Address | None = None,
    ) -> None:
        """``credit_registry``: the source chain's ``CreditRegistry``, whose messages the store
        also records as credit events (docs/api.md §3)."""
        self._source = source
        self._credit_registry = credit_registry
        self._destinations = tuple(destinations)
        self._store = store
        self._log_range = log_range
        self._interval_s = interval_s
        self.stream = "message_sent:0x" + source.endpoint.hex()
        self._query = message_sent_query(source.endpoint, self._destinations)

    @property
    def name(self) -> str:
        return f"watch:{self._source.name}"

    @property
    def interval_s(self) -> float:
        return self._interval_s

    async def step(self) -> bool:
        src = self._source
        scan = await next_range(self._store, src, self.stream, self._log_range)
        if scan is None:
            return False
        events = await src.adapter.events(self._query, scan.start, scan.end)
        new = await scan.checkpoint(src)
        messages = [self._message(e) for e in events]
        added = await self._store.record_scan(
            src.chain_id,
            self.stream,
            scan.previous,
            new,
            messages,
            credit_registry=self._credit_registry,
        )
        if added:
            log.info(
                "%s: %d new message(s) in blocks %d..%d",
                self.name,
                added,
                scan.start,
                scan.end,
                extra={"chain": src.name},
            )
        return scan.end < scan.final

    def _message(self, event: ChainEvent) -> NewMessage:
        try:
            message = decode_message_sent(
                Log(address=event.address, topics=event.topics, data=event.data),
                self._source.chain_id,
            )
        except DecodeError as exc:
            # Our endpoint emits only well-formed logs: a node that serves another is lying.
            raise RpcResponseInvalid(
                "node served a MessageSent log the endpoint cannot have emitted",
                chain_id=self._source.chain_id,
                tx_hash=event.tx_hash,
                reason=exc.message,
            ) from exc
        return NewMessage(
            message=message,
            src_block_number=event.block_number,
            src_block_hash=event.block_hash,
            src_tx_hash=event.tx_hash,
            src_tx_index=event.tx_index,
            block_log_index=event.block_log_index,
        )
