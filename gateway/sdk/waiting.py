"""Waiting for a transfer or a swap to reach a state (``XgateClient.wait_for_transfer`` and
``wait_for_swap``), on the event stream rather than by polling.

``wait_until`` reads the object once (done if it is already in a wanted state), then opens the
event stream from "now" and reads the object again once the stream is connected: the server
fixes the stream's start before it answers, so a change committed before that start is in the
second read and one committed after it is in the stream; nothing falls between the two. From
then on each event about the object is followed by a read (the answer is the API's view, not
the event's), until the object is in a wanted state, or an event said it reached one (the read
after it may already show a later state). The stream resumes with ``Last-Event-ID`` across
dropped connections (``XgateClient.events``); when the server answers a resume 410
``events-pruned`` (events after the last one seen are gone), it subscribes again from now and
reads the object again once connected, as at the start: the read has what the gap held.

Only when the server answers that it has no event stream (404, 405, 501, or a problem
``events-unavailable``: an older gateway, a proxy that does not pass ``/v1/events``) does it
poll instead, every ``poll_interval_s`` at first, backing off (doubling, up to 10 s) while
nothing changes. The whole wait, reads included, is bounded by ``timeout_s``: ``WaitTimedOut``
then names the last state seen.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from contextlib import aclosing
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from gateway.api.models import EventItem
from gateway.sdk.errors import ApiProblem, WaitTimedOut

__all__ = [
    "EVENTS_PRUNED_SLUG",
    "EVENTS_UNAVAILABLE_SLUG",
    "EVENTS_UNAVAILABLE_STATUSES",
    "MAX_POLL_INTERVAL_S",
    "OnChange",
    "Waited",
    "events_unavailable",
    "wait_until",
]

M = TypeVar("M", bound=BaseModel)

OnChange = Callable[[M], Awaitable[object] | object]
"""Called with the first model read and with each later one that differs from the last passed
(a coroutine function is awaited)."""

EVENTS_UNAVAILABLE_STATUSES = frozenset({404, 405, 501})
EVENTS_UNAVAILABLE_SLUG = "events-unavailable"
EVENTS_PRUNED_SLUG = "events-pruned"
MAX_POLL_INTERVAL_S = 10.0


def events_unavailable(problem: ApiProblem) -> bool:
    """The server said it has no event stream (then, and only then, the wait polls)."""
    return problem.status in EVENTS_UNAVAILABLE_STATUSES or problem.slug == EVENTS_UNAVAILABLE_SLUG


@dataclass(frozen=True, slots=True)
class Waited(Generic[M]):
    """What is waited for: ``what`` names it in errors (``transfer trk-1``); ``read`` answers
    it (None: not recorded yet, waited for); ``state_of`` its status or state; ``event_state``
    the state an event reports when the event is about it (given the last model read, None
    before the first), else None; ``follow(connected)`` the event stream of its kind from now
    on, calling ``connected()`` once the stream's start is fixed."""

    what: str
    read: Callable[[], Awaitable[M | None]]
    state_of: Callable[[M], str]
    event_state: Callable[[EventItem, M | None], str | None]
    follow: Callable[[Callable[[], None]], AsyncGenerator[EventItem, None]]


class _Connected:
    """The stream's start is fixed: read again."""


_CONNECTED = _Connected()
_Item = EventItem | _Connected | BaseException


async def wait_until(
    waited: Waited[M],
    until: Collection[str],
    *,
    timeout_s: float,
    on_change: OnChange[M] | None = None,
    poll_interval_s: float = 1.0,
) -> M:
    """The object once it is in one of the ``until`` states (see the module's docstring);
    ``WaitTimedOut`` after ``timeout_s``."""
    if not timeout_s > 0:
        raise ValueError("timeout_s must be > 0")
    if not poll_interval_s > 0:
        raise ValueError("poll_interval_s must be > 0")
    watch = _Watch(waited, frozenset(until), on_change)
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            return await watch.run(poll_interval_s)
    except TimeoutError:
        if not deadline.expired():
            raise
    last = watch.last
    state = None if last is None else waited.state_of(last)
    raise WaitTimedOut(what=waited.what, timeout_s=timeout_s, last_state=state, last=last)


class _Watch(Generic[M]):
    def __init__(
        self, waited: Waited[M], until: frozenset[str], on_change: OnChange[M] | None
    ) -> None:
        self.waited = waited
        self.until = until
        self.on_change = on_change
        self.last: M | None = None

    async def _observe(self, model: M | None) -> bool:
        """Record ``model``; True when it differs from the last one (the callback had it)."""
        if model is None or model == self.last:
            return False
        self.last = model
        if self.on_change is not None:
            result = self.on_change(model)
            if inspect.isawaitable(result):
                await result
        return True

    def _done(self, model: M | None) -> bool:
        return model is not None and self.waited.state_of(model) in self.until

    async def run(self, poll_interval_s: float) -> M:
        model = await self.waited.read()
        await self._observe(model)
        if model is not None and self._done(model):
            return model
        while True:
            queue: asyncio.Queue[_Item] = asyncio.Queue()
            pump = asyncio.create_task(self._pump(queue))
            try:
                found = await self._follow(queue, poll_interval_s)
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            if found is not None:
                return found
            # The resume point was pruned: a new subscription, read again once connected.

    async def _pump(self, queue: asyncio.Queue[_Item]) -> None:
        connected = False

        def on_connect() -> None:
            nonlocal connected
            if not connected:
                connected = True
                queue.put_nowait(_CONNECTED)

        try:
            async with aclosing(self.waited.follow(on_connect)) as stream:
                async for item in stream:
                    queue.put_nowait(item)
        except Exception as exc:
            queue.put_nowait(exc)
        else:
            queue.put_nowait(ConnectionError("the event stream ended"))

    async def _follow(self, queue: asyncio.Queue[_Item], poll_interval_s: float) -> M | None:
        """The object in a wanted state; None when the stream cannot resume (410
        ``events-pruned``) and must be opened again from now."""
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                if isinstance(item, ApiProblem) and events_unavailable(item):
                    return await self._poll(poll_interval_s)
                if isinstance(item, ApiProblem) and item.slug == EVENTS_PRUNED_SLUG:
                    return None
                raise item
            if isinstance(item, _Connected):
                reached: str | None = None
            else:
                reached = self.waited.event_state(item, self.last)
                if reached is None:
                    continue  # another object's
                if self.on_change is None and reached not in self.until and self.last is not None:
                    continue  # nothing to report, not there yet: no need to read
            model = await self.waited.read()
            await self._observe(model)
            if model is not None and (self._done(model) or reached in self.until):
                return model

    async def _poll(self, interval_s: float) -> M:
        delay = interval_s
        while True:
            await asyncio.sleep(delay)
            model = await self.waited.read()
            changed = await self._observe(model)
            if model is not None and self._done(model):
                return model
            ceiling = max(interval_s, MAX_POLL_INTERVAL_S)
            delay = interval_s if changed else min(delay * 2, ceiling)
