"""The PostgreSQL ``LISTEN`` connection behind ``Store.wait_for_events`` (docs/api.md §3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from gateway.store.errors import StoreUnavailable

__all__ = ["EVENTS_CHANNEL"]

log = logging.getLogger(__name__)

# The event log's NOTIFY channel of new events (payload: the highest new id).
EVENTS_CHANNEL = "xgate_events"


class _EventListener:
    """The ``LISTEN xgate_events`` connection of one ``Store`` on PostgreSQL, shared by every
    ``wait_for_events`` call. Its task is owned by the store: started by the first wait,
    restarted by the next wait after the connection broke, cancelled and awaited by ``close``.
    After each (re)start a waiter reads the log once, so events committed while nobody
    listened are not missed."""

    def __init__(self, conninfo: str, shown: str) -> None:
        self._conninfo = conninfo
        self._shown = shown
        self._task: asyncio.Task[None] | None = None
        self._generation = 0
        self._latest = 0  # the highest id notified
        self._changed = asyncio.Event()  # replaced by a new one at each wake-up
        self._starting = asyncio.Lock()

    async def wait(
        self, after_id: int, timeout_s: float, last_event_id: Callable[[], Awaitable[int]]
    ) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        checked = -1
        while True:
            generation = await self._ensure_started()
            changed = self._changed  # taken before looking: a later notification sets it
            if self._latest > after_id:
                return True
            if generation != checked:
                if await last_event_id() > after_id:
                    return True
                checked = generation
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return self._latest > after_id

    async def _ensure_started(self) -> int:
        async with self._starting:
            if self._task is None or self._task.done():
                try:
                    conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                except psycopg.Error as exc:
                    raise StoreUnavailable(
                        "database unavailable", op="wait_for_events", url=self._shown,
                        reason=str(exc),
                    ) from exc  # fmt: skip
                try:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                except psycopg.Error as exc:
                    await conn.close()
                    raise StoreUnavailable(
                        "database unavailable", op="wait_for_events", url=self._shown,
                        reason=str(exc),
                    ) from exc  # fmt: skip
                self._generation += 1
                self._task = asyncio.create_task(self._listen(conn), name="xgate-event-listener")
            return self._generation

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for note in conn.notifies():
                try:
                    self._latest = max(self._latest, int(note.payload))
                except ValueError:
                    continue
                self._wake()
        except psycopg.Error as exc:
            log.warning("event listener lost its connection", extra={"reason": str(exc)})
        finally:
            self._wake()  # waiters look again, and restart the listener
            await conn.close()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
