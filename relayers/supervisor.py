"""The owner of every worker task in a relay process (style rules 6 and 7).

A worker is a step: ``await worker.step()`` does one bounded piece of work and returns whether
there may be more right away. The supervisor calls each worker's step in its own task, sleeps
its interval between idle steps, and classifies what a step raises, in one place:

- a retryable ``XgateError`` (node down, database busy, block not there yet): back off
  (``Backoff``: exponential, capped) and try again; the worker counts as failing meanwhile;
- ``FinalityViolation``: the source chain broke the finality the route relies on. The worker
  stops for good and says so loudly (an operator must look); the others go on;
- any other error (fatal, or a bug): logged with its traceback and backed off at the cap, so a
  broken worker does not spin while the operator is told through /readyz and the logs.

``run(stop)`` returns only after ``stop`` is set and every worker task has been cancelled and
awaited. A task still running ``stop_grace_s`` after its cancellation (a step that swallowed it,
or one blocked in a slow cleanup) is named in the log with where it waits, and cancelled again,
so a shutdown that hangs says why.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adapters.errors import ConfigError, FinalityViolation, XgateError

__all__ = ["Backoff", "Supervisor", "Worker", "WorkerHealth", "cancel_and_wait"]

log = logging.getLogger(__name__)


class Worker(Protocol):
    """One kind of relay work for one chain or route."""

    @property
    def name(self) -> str:
        """Unique in the process, e.g. ``deliver:consortium->public``."""
        ...

    @property
    def interval_s(self) -> float:
        """Pause between two steps that found nothing to do."""
        ...

    async def step(self) -> bool:
        """Do one bounded piece of work; True if more may be waiting (step again at once)."""
        ...


FATAL_HEAD_START = 2  # doublings a fatal error's retry starts above a retryable one's


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry k (1-based) after consecutive failures: ``min(first * 2**(k-1), cap)``."""

    first_s: float = 0.5
    cap_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.cap_s:
            raise ConfigError("backoff needs 0 < first_s <= cap_s", first_s=self.first_s)

    def delay(self, failures: int) -> float:
        return min(self.first_s * 2.0 ** max(failures - 1, 0), self.cap_s)


@dataclass(slots=True)
class WorkerHealth:
    """What /readyz and the metrics report about one worker."""

    name: str
    steps: int = 0
    failures: int = 0  # consecutive
    total_failures: int = 0
    last_ok: float | None = None  # monotonic time of the last successful step
    last_error: str | None = None
    stopped: str | None = None  # why the worker stopped for good

    @property
    def ready(self) -> bool:
        return self.stopped is None and self.steps > 0 and self.failures == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "steps": self.steps,
            "consecutive_failures": self.failures,
            "last_error": self.last_error,
            "stopped": self.stopped,
            "ready": self.ready,
        }


@dataclass
class Supervisor:
    workers: Sequence[Worker]
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    stop_grace_s: float = 5.0
    health: dict[str, WorkerHealth] = field(init=False)

    def __post_init__(self) -> None:
        names = [w.name for w in self.workers]
        if len(set(names)) != len(names):
            raise ConfigError("two workers share a name", names=names)
        self.health = {name: WorkerHealth(name) for name in names}

    @property
    def ready(self) -> bool:
        return all(h.ready for h in self.health.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Run every worker until ``stop`` is set; then cancel and await them all."""
        tasks = [asyncio.create_task(self._loop(w, stop), name=w.name) for w in self.workers]
        try:
            await stop.wait()
        finally:
            await cancel_and_wait(tasks, self.stop_grace_s)

    async def _loop(self, worker: Worker, stop: asyncio.Event) -> None:
        health = self.health[worker.name]
        while not stop.is_set():  # also ends a step that swallowed its cancellation
            try:
                more = await worker.step()
            except asyncio.CancelledError:
                raise
            except FinalityViolation as exc:
                self._stop(worker, health, exc, "finality violated (the source chain "
                           "replaced a block it had reported final)")  # fmt: skip
                return
            except XgateError as exc:
                if not getattr(exc, "stops_worker", False):
                    await self._failed(worker, health, exc, retryable=exc.retryable)
                    continue
                self._stop(worker, health, exc, "its chain's trust is broken")
                return
            except Exception as exc:  # a bug: keep the process, report it, back off
                await self._failed(worker, health, exc, retryable=False)
                continue
            health.steps += 1
            health.failures = 0
            health.last_error = None
            health.last_ok = self.clock()
            if not more:
                await asyncio.sleep(worker.interval_s)

    @staticmethod
    def _stop(worker: Worker, health: WorkerHealth, exc: XgateError, why: str) -> None:
        health.stopped = f"{why}: {exc}"
        health.last_error = str(exc)
        log.critical(
            "%s stopped: %s; nothing more is relayed here until an operator has checked "
            "the chain (docs/relayer.md): %s",
            worker.name,
            why,
            exc,
            extra={"worker": worker.name, **_context(exc)},
        )

    async def _failed(
        self, worker: Worker, health: WorkerHealth, exc: Exception, *, retryable: bool
    ) -> None:
        health.failures += 1
        health.total_failures += 1
        health.last_error = str(exc)
        extra = {"worker": worker.name, **_context(exc)}
        if retryable:
            delay = self.backoff.delay(health.failures)
            log.warning("%s: %s (retrying in %.1fs)", worker.name, exc, delay, extra=extra)
        else:
            # Fatal for this step's input (a revert, an answer that does not verify): retried
            # more patiently, four times the first delay and doubling, never in a hot loop.
            delay = self.backoff.delay(health.failures + FATAL_HEAD_START)
            log.error(
                "%s failed: %s (retrying in %.0fs)",
                worker.name,
                exc,
                delay,
                exc_info=not isinstance(exc, XgateError),
                extra=extra,
            )
        await asyncio.sleep(delay)


def _context(exc: Exception) -> dict[str, object]:
    """Log fields from an error's context (chain, message id ...), prefixed so they never
    collide with the LogRecord's own attributes."""
    if not isinstance(exc, XgateError):
        return {}
    return {f"ctx_{k}": v for k, v in exc.to_dict().items() if k not in ("error", "message")}


async def cancel_and_wait(tasks: Sequence[asyncio.Task[None]], grace_s: float) -> None:
    """Cancel ``tasks`` and wait until all have ended; every ``grace_s`` one is still running,
    log where it waits and cancel it again."""
    for task in tasks:
        task.cancel()
    pending = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=grace_s)
        for task in pending:
            where = io.StringIO()
            task.print_stack(limit=12, file=where)
            log.error(
                "%s has not stopped %.0f s after it was cancelled; cancelling it again. %s",
                task.get_name(),
                grace_s,
                where.getvalue(),
            )
            task.cancel()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s ended with an error", task.get_name(), exc_info=task.exception())
