"""``GET /v1/events`` (docs/api.md §3): the store's event log as server-sent events.

The stream starts after ``Last-Event-ID`` (the header a reconnecting client sends), else after
``?after=``, else at the log's current end; ``?kinds=`` keeps the events of those kinds. Each
event is a frame ``id: <serial>``, ``event: <kind>``, ``data: <EventItem JSON>``; ids only grow,
and a client that reconnects with the last id it saw misses nothing (at least once: it may see
an event twice only if it resumes from an older id). A ``: keep-alive`` comment goes out when
nothing was written for ``keepalive_s`` (15 s), so proxies keep the connection and a client
that went away is noticed.

The stream wakes on ``Store.wait_for_events`` (PostgreSQL ``LISTEN xgate_events``, shared by
every stream of the process; SQLite polling), so an instance sees events any process writes.
It ends when the application shuts down (``spec.py``): the client reconnects elsewhere.

Events older than ``[api] event_retention_days`` are pruned (``Store.prune_events``): a client
resuming from an id whose following events may be gone is answered 410 ``events-pruned``
before the stream starts, never silently given the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from gateway.api.keys import CONFIG_KEY, STORE_KEY
from gateway.api.models import EventItem, EventsQuery, NoBody, NoParams, parse_event_id
from gateway.api.problems import FieldError, Problem, invalid_request
from gateway.api.spec import Call, ServerSentEvent
from gateway.domain.events import EventKind
from gateway.store import Store

__all__ = [
    "EVENT_STREAM_SETTINGS_KEY",
    "LAST_EVENT_ID_HEADER",
    "EventPruner",
    "EventStreamSettings",
]

log = logging.getLogger(__name__)

LAST_EVENT_ID_HEADER = "Last-Event-ID"


@dataclass(frozen=True, slots=True)
class EventStreamSettings:
    """``keepalive_s``: the longest silence before a keep-alive comment; ``page``: events read
    from the store at a time; ``retry_ms``: the reconnection delay suggested to clients."""

    keepalive_s: float = 15.0
    page: int = 200
    retry_ms: int = 2000

    def __post_init__(self) -> None:
        if not (self.keepalive_s > 0 and 1 <= self.page <= 1000 and self.retry_ms >= 0):
            raise ValueError("keepalive_s > 0, page in 1..1000 and retry_ms >= 0")


# Optional on an application (the defaults otherwise); tests shorten the keep-alive.
EVENT_STREAM_SETTINGS_KEY = web.AppKey("event_stream_settings", EventStreamSettings)


async def stream_events(
    call: Call[NoParams, EventsQuery, NoBody],
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events of the event log: each `id:` is the event's serial, `event:` its
    kind, `data:` the event (EventItem). Starts after the `Last-Event-ID` header (a
    reconnecting client's; it wins over `after`), else after `after` (0: the whole log),
    else at the log's end (only new events). Keep-alive comments (`: keep-alive`) after 15 s
    of silence. Delivery is at least once: de-duplicate by id."""
    app = call.request.app
    store = app[STORE_KEY]
    settings = app.get(EVENT_STREAM_SETTINGS_KEY) or EventStreamSettings()
    given = call.request.headers.get(LAST_EVENT_ID_HEADER, "").strip()
    if given:
        after = parse_event_id(given)
        if after is None:
            raise invalid_request(
                [FieldError(f"header.{LAST_EVENT_ID_HEADER}", "expected an event id")]
            )
    elif call.query.after is not None:
        after = call.query.after
    else:
        return _frames(store, await store.last_event_id(), call.query.kinds, settings)
    days = app[CONFIG_KEY].api.event_retention_days
    if await store.events_pruned_after(after, timedelta(days=days)):
        raise Problem(
            410,
            "events-pruned",
            "Events were pruned",
            f"events after {after} may have been pruned (the log keeps {days} days): read "
            "the current state again, then follow the stream from now on or from after=0 "
            "(the oldest event kept)",
        )
    return _frames(store, after, call.query.kinds, settings)


async def _frames(
    store: Store,
    after: int,
    kinds: tuple[EventKind, ...] | None,
    settings: EventStreamSettings,
) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(retry_ms=settings.retry_ms, comment=f"events after {after}")
    wrote = time.monotonic()
    scanned = after  # every event up to here was read (and sent if of the kinds)
    while True:
        # Ids become visible in id order (docs/api.md §3): once the log's end is ``top``,
        # nothing at or below it can appear later, so a filtered read may skip past it.
        top = await store.last_event_id()
        events = await store.events_after(scanned, settings.page, kinds)
        for event in events:
            yield ServerSentEvent(
                data=EventItem.from_event(event), id=event.id, event=event.kind.value
            )
        if events:
            wrote = time.monotonic()
            scanned = events[-1].id
        if len(events) == settings.page:
            continue  # more may be waiting
        scanned = max(scanned, top)
        silent_s = time.monotonic() - wrote
        if silent_s >= settings.keepalive_s:
            yield ServerSentEvent(comment="keep-alive")
            wrote = time.monotonic()
            silent_s = 0.0
        await store.wait_for_events(scanned, settings.keepalive_s - silent_s)


class EventPruner:
    """Keeps the event log to ``retention``: prunes once when ``run`` starts, then every
    ``interval_s`` (an hour), in batches of ``batch`` events (each its own short transaction,
    so writers of new events never wait long). Several instances may prune at once: each
    skips the rows another holds. A failed pass is logged and tried again at the next."""

    def __init__(
        self,
        store: Store,
        retention: timedelta,
        *,
        interval_s: float = 3600.0,
        batch: int = 500,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not (retention > timedelta(0) and interval_s > 0 and 1 <= batch <= 1000):
            raise ValueError("retention > 0, interval_s > 0 and batch in 1..1000")
        self.store = store
        self.retention = retention
        self.interval_s = interval_s
        self.batch = batch
        self._clock = clock or (lambda: datetime.now(UTC))

    async def run(self, stop: asyncio.Event) -> None:
        """Prune until ``stop`` is set (a batch in flight finishes first)."""
        while not stop.is_set():
            try:
                await self.prune(stop)
            except Exception as exc:  # the next pass tries again; the API keeps serving
                log.warning("event pruning failed: %s", exc, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def prune(self, stop: asyncio.Event | None = None) -> int:
        """One pass: every event older than the retention that no delivery waits for.
        Returns how many were deleted."""
        cutoff = self._clock() - self.retention
        total = 0
        while stop is None or not stop.is_set():
            deleted = await self.store.prune_events(cutoff, limit=self.batch)
            total += deleted
            if deleted < self.batch:
                break
            await asyncio.sleep(0)  # between batches, let the requests run
        if total:
            log.info("pruned %d event(s) created before %s", total, cutoff.isoformat())
        return total
