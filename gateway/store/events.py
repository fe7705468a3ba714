"""The ``Store``'s event log reads, waits and retention (docs/api.md §3); events are appended
by ``StoreBase._append_events`` in the transaction of each change."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, literal, or_, select

from gateway.domain.events import DeliveryState, Event, EventKind
from gateway.store.base import (
    _EVENTS_PAGE_MAX,
    StoreBase,
    _check_int64,
    _check_limit,
    _deliveries,
    _enum,
    _event_record,
    _events,
    _webhooks,
)
from gateway.store.db import libpq_conninfo
from gateway.store.errors import StoreError
from gateway.store.listener import _EventListener

__all__ = ["EventsMixin"]

# How often SQLite is polled for new events.
_EVENTS_POLL_S = 0.2
_EVENTS_PRUNE_MAX = 1000  # events removed by one prune_events call (one short transaction)


class EventsMixin(StoreBase):
    """The event log: reads, waits and retention."""

    # --- the event log (docs/api.md §3) ---------------------------------------------------------

    async def events_after(
        self, after_id: int, limit: int, kinds: Iterable[EventKind] | None = None
    ) -> list[Event]:
        """Up to ``limit`` events with ids above ``after_id`` (of ``kinds``, if given), in id
        order. Ids only grow in commit order: events never appear below one already read."""
        _check_int64(after_id, "after_id")
        _check_limit(limit, _EVENTS_PAGE_MAX)
        e = _events.c
        conditions = [e.id > after_id]
        if kinds is not None:
            wanted = [_enum(EventKind, k, "kinds").value for k in kinds]
            if not wanted:
                return []
            conditions.append(e.kind.in_(wanted))
        async with self._tx("events_after", write=False) as conn:
            rows = (
                await conn.execute(select(_events).where(*conditions).order_by(e.id).limit(limit))
            ).all()
        return [_event_record(row) for row in rows]

    async def last_event_id(self) -> int:
        """The highest event id committed so far, 0 before the first event."""
        async with self._tx("last_event_id", write=False) as conn:
            value = (await conn.execute(select(func.max(_events.c.id)))).scalar()
        return 0 if value is None else int(value)

    async def wait_for_events(self, after_id: int, timeout_s: float) -> bool:
        """Wait until an event with an id above ``after_id`` exists: True as soon as one does
        (at once if one does already), False when ``timeout_s`` passed first. PostgreSQL wakes
        on ``LISTEN xgate_events`` (one listening connection per ``Store``, shared by every
        waiter); SQLite is polled every 0.2 s. Events from any process are seen."""
        _check_int64(after_id, "after_id")
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s >= 0):
            raise StoreError("timeout_s must be a finite number >= 0", timeout_s=timeout_s)
        if self._sqlite:
            return await self._poll_events(after_id, timeout_s)
        if self._listener is None:
            self._listener = _EventListener(libpq_conninfo(self._url), self._url.shown)
        return await self._listener.wait(after_id, timeout_s, self.last_event_id)

    async def _poll_events(self, after_id: int, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if await self.last_event_id() > after_id:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(_EVENTS_POLL_S, remaining))

    async def prune_events(self, before: datetime, *, limit: int = 500) -> int:
        """Delete up to ``limit`` events created before ``before`` (lowest ids first) with their
        finished deliveries (delivered, dead-lettered, or of a disabled webhook). An event that
        a pending delivery of an enabled webhook still waits for is kept, and so is the log's
        last event (SQLite reuses the highest id once it is deleted). One short
        transaction (rows another holds are skipped, never waited for): call again while it
        returns ``limit``. Returns how many events were deleted."""
        cutoff = self._now(before)
        _check_limit(limit, _EVENTS_PRUNE_MAX)
        e, d, w = _events.c, _deliveries.c, _webhooks.c
        waited_for = (
            select(literal(1))
            .select_from(_deliveries.join(_webhooks, w.id == d.webhook_id))
            .where(
                d.event_id == e.id,
                d.state == DeliveryState.PENDING.value,
                w.disabled_at.is_(None),
            )
        )
        async with self._tx("prune_events") as conn:
            ids = (
                (
                    await conn.execute(
                        select(e.id)
                        .where(
                            e.created_at < cutoff,
                            ~waited_for.exists(),
                            # The last event stays: SQLite would hand its id out again.
                            e.id < select(func.max(e.id)).scalar_subquery(),
                        )
                        .order_by(e.id)
                        .limit(limit)
                        .with_for_update(of=_events, skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return 0
            await conn.execute(
                delete(_deliveries).where(
                    d.event_id.in_(ids),
                    or_(
                        d.state != DeliveryState.PENDING.value,
                        d.webhook_id.in_(select(w.id).where(w.disabled_at.is_not(None))),
                    ),
                )
            )
            # A delivery replayed meanwhile (dead -> pending) survived the delete above: its
            # event stays too.
            any_delivery = select(literal(1)).select_from(_deliveries).where(d.event_id == e.id)
            deleted = await conn.execute(
                delete(_events).where(e.id.in_(ids), ~any_delivery.exists()).returning(e.id)
            )
            return len(deleted.all())

    async def events_pruned_after(self, after_id: int, retention: timedelta) -> bool:
        """Whether a reader resuming after ``after_id`` may miss pruned events: an id is
        missing between it and the first event inside the ``retention`` window (or the log's
        end). Only ``prune_events`` deletes events, and only outside the window; on PostgreSQL
        an id a failed transaction drew is missing too, which a reader answers the same way
        (it resyncs). False for 0 (the log as kept)."""
        _check_int64(after_id, "after_id")
        if not (isinstance(retention, timedelta) and retention > timedelta(0)):
            raise StoreError("retention must be a positive timedelta", retention=retention)
        if after_id == 0:
            return False
        cutoff = self._now(None) - retention
        e = _events.c
        async with self._tx("events_pruned_after", write=False) as conn:
            window = (
                await conn.execute(
                    select(func.min(e.id)).where(e.id > after_id, e.created_at >= cutoff)
                )
            ).scalar()
            if window is None:
                top = (await conn.execute(select(func.max(e.id)))).scalar()
                if top is None or int(top) <= after_id:
                    return False
                window = int(top) + 1
            kept = (
                await conn.execute(
                    select(func.count())
                    .select_from(_events)
                    .where(e.id > after_id, e.id < int(window))
                )
            ).scalar()
        return int(kept or 0) < int(window) - after_id - 1
