"""Retry with a pinned exponential backoff. The policy is a value; its tests pin the delays.

Only errors marked retryable are retried (by default ``RpcUnavailable`` and
``RpcResponseInvalid``: a node that is down or answered garbage may answer correctly later).
``NotYetAvailable`` is deliberately not retried here: waiting for a block is the caller's loop,
not a hidden sleep inside one RPC call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from adapters.errors import ConfigError, RpcResponseInvalid, RpcUnavailable, XgateError

__all__ = ["NO_RETRY", "RetryPolicy"]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRY_ON: tuple[type[XgateError], ...] = (RpcUnavailable, RpcResponseInvalid)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` tries in total; before try k+1 (k >= 1) sleep
    ``min(initial_delay * multiplier**(k-1), max_delay)`` seconds. No jitter: the schedule is
    exactly what ``delays()`` says (one node per adapter, so there is no herd to spread)."""

    initial_delay: float = 0.2
    multiplier: float = 2.0
    max_delay: float = 5.0
    max_attempts: int = 6

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ConfigError("retry max_attempts must be an integer", value=self.max_attempts)
        if self.max_attempts < 1:
            raise ConfigError("retry max_attempts must be >= 1", value=self.max_attempts)
        if not self.initial_delay >= 0 or not self.max_delay >= 0:
            raise ConfigError(
                "retry delays must be >= 0",
                initial_delay=self.initial_delay,
                max_delay=self.max_delay,
            )
        if not self.multiplier >= 1:
            raise ConfigError("retry multiplier must be >= 1", value=self.multiplier)

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
        retry_on: tuple[type[XgateError], ...] = DEFAULT_RETRY_ON,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> T:
        """Await ``operation()`` until it succeeds, raises a non-retryable error, or the
        attempts run out (then the last error is raised unchanged)."""
        attempt = 1
        while True:
            try:
                return await operation()
            except retry_on as exc:
                if attempt >= self.max_attempts:
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
