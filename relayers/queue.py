"""A worker's view of the message queue in the store (docs/relayer.md §2): claim a route's
messages in some statuses under a lease, keep the leases while waiting on a chain, postpone.

A worker claims messages for ``lease_s`` seconds; waiting for a transaction can take longer.
``held`` renews the leases in the background at a third of the lease time and, when the work
is done (or failed), releases the ones still held so that the next claim finds them at once.
A lease that was taken over is simply dropped: the store's fencing (``LeaseLost``) stops this
worker from recording anything for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from adapters.types import Hash32, Height
from gateway.domain.messages import MessageId
from gateway.domain.status import MessageRecord, MessageStatus
from gateway.store import Store
from relayers.routes import Route

__all__ = ["WorkQueue", "by_block"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class WorkQueue:
    """The store as one worker process sees it: ``owner`` names the process in every lease."""

    store: Store
    owner: str
    lease_s: float
    clock: Callable[[], datetime] = field(default=_utcnow)

    async def claim(
        self, route: Route, statuses: Iterable[MessageStatus], limit: int
    ) -> list[MessageRecord]:
        return await self.store.claim_messages(
            self.owner,
            dst_chain_id=route.dst.chain_id,
            src_chain_id=route.src.chain_id,
            statuses=statuses,
            limit=limit,
            lease_s=self.lease_s,
        )

    async def postpone(self, records: Sequence[MessageRecord], seconds: float) -> None:
        """Give the messages back, due again in ``seconds`` (no attempt counted, no history:
        waiting for a header or a paused route is not a failure)."""
        retry_at = self.clock() + timedelta(seconds=seconds)
        await self.store.release(self.owner, [r.id for r in records], retry_at=retry_at)

    @contextlib.asynccontextmanager
    async def held(self, ids: Iterable[MessageId]) -> AsyncIterator[None]:
        wanted = list(ids)

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease_s / 3)
                try:
                    await self.store.renew_leases(self.owner, wanted, self.lease_s)
                except Exception as exc:  # a failed renewal must not end the work
                    log.warning("lease renewal failed: %s", exc)

        task = asyncio.create_task(renew(), name=f"leases-{self.owner}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.store.release(self.owner, wanted)


def by_block(records: Sequence[MessageRecord]) -> list[tuple[Height, Hash32, list[MessageRecord]]]:
    """Messages grouped by source block, lowest block first."""
    groups: dict[tuple[int, bytes], list[MessageRecord]] = defaultdict(list)
    for r in records:
        groups[(r.src_block_number, r.src_block_hash)].append(r)
    return [(Height(n), Hash32(h), groups[(n, h)]) for n, h in sorted(groups)]
