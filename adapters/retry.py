"""Retry with a pinned exponential backoff. The policy is a value; its tests pin the delays.

By default every ``XgateError`` marked ``retryable`` is retried (a node that is down or answered
garbage may answer correctly later), except ``NotYetAvailable``: waiting for a block, receipt or
finality level is the caller's loop (``wait_final``, a relayer's next step), not a hidden sleep
inside one RPC call. ``retry_on=`` names the retried classes explicitly instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from pydantic import Field

from adapters.configmodel import ConfigModel, NonNegativeFloat, PositiveInt
from adapters.errors import NotYetAvailable, XgateError

__all__ = ["NO_RETRY", "RetryPolicy", "retried_by_default"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def retried_by_default(exc: XgateError) -> bool:
    """Retryable, and not a wait for something that does not exist yet."""
    return exc.retryable and not isinstance(exc, NotYetAvailable)


class RetryPolicy(ConfigModel):
    """``max_attempts`` tries in total; before try k+1 (k >= 1) sleep
    ``min(initial_delay * multiplier**(k-1), max_delay)`` seconds. No jitter: the schedule is
    exactly what ``delays()`` says (one node per adapter, so there is no herd to spread)."""

    initial_delay: NonNegativeFloat = 0.2
    multiplier: Annotated[float, Field(strict=True, ge=1, allow_inf_nan=False)] = 2.0
    max_delay: NonNegativeFloat = 5.0
    max_attempts: PositiveInt = 6

    def delay(self, retry: int) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based)."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        # round(): keep the schedule readable (0.8, not 0.8000000000000002).
        return round(min(self.initial_delay * self.multiplier ** (retry - 1), self.max_delay), 6)

    def delays(self) -> tuple[float, ...]:
        """The whole schedule: one sleep between each pair of consecutive attempts."""
        return tuple(self.delay(k) for k in range(1, self.max_attempts))

    async def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        what: str = "operation",
        retry_on: tuple[type[XgateError], ...] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> T:
        """Await ``operation()`` until it succeeds, raises an error that is not retried, or the
        attempts run out (then the last error is raised unchanged). ``retry_on`` replaces the
        default choice (``retried_by_default``) with exactly these classes."""
        attempt = 1
        while True:
            try:
                return await operation()
            except XgateError as exc:
                retried = retried_by_default(exc) if retry_on is None else isinstance(exc, retry_on)
                if not retried or attempt >= self.max_attempts:
                    raise
                delay = self.delay(attempt)
                log.warning(
                    "%s failed (attempt %d/%d), retrying in %.3fs: %s",
                    what,
                    attempt,
                    self.max_attempts,
                    delay,
                    exc,
                )
                attempt += 1
                await sleep(delay)


NO_RETRY = RetryPolicy(max_attempts=1)
