"""Per-key rate limits (docs/api.md §2): a token bucket per API key (its record's rate and
burst) in the API process; over it a 429 problem with ``Retry-After`` in whole seconds (at
least 1); other keys are not affected; tokens come back with time. ``RateLimiter`` itself on
a hand-driven clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.api.auth import RateLimiter
from gateway.config import XgateConfig
from gateway.domain.apikeys import ApiKey, Scope
from gateway.store import Store
from tests.api.conftest import Keys, create_caller, serve
from tests.store.conftest import Clock

PROBLEMS = "https://xgate.dev/problems/"


@dataclass
class Monotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def key(key_id: str, rate: float, burst: int) -> ApiKey:
    return ApiKey(
        key_id,
        "k",
        frozenset({Scope.READ}),
        None,
        rate,
        burst,
        datetime(2026, 1, 1, tzinfo=UTC),
        None,
    )


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Monotonic()
    limiter = RateLimiter(clock)
    k = key("a" * 16, 2.0, 3)
    assert [limiter.take(k) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(k) == 0.5  # one token in half a second at 2/s
    clock.now += 0.25
    assert limiter.take(k) == 0.25
    clock.now += 0.25
    assert limiter.take(k) == 0.0
    clock.now += 100  # never more than the burst
    assert [limiter.take(k) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    # Another key has its own bucket.
    assert limiter.take(key("b" * 16, 2.0, 1)) == 0.0


def test_a_clock_going_back_adds_no_tokens() -> None:
    clock = Monotonic()
    limiter = RateLimiter(clock)
    k = key("a" * 16, 1.0, 1)
    assert limiter.take(k) == 0.0
    clock.now -= 50
    assert limiter.take(k) == 1.0


def test_idle_full_buckets_are_forgotten_when_there_are_many() -> None:
    clock = Monotonic()
    limiter = RateLimiter(clock)
    limiter.MAX_BUCKETS = 3
    keys = [key(f"{i:016x}", 1.0, 2) for i in range(3)]
    for k in keys:
        limiter.take(k)
    clock.now += 10  # full again: forgetting them changes no answer
    limiter.take(key("f" * 16, 1.0, 2))
    assert len(limiter._buckets) == 1


async def test_over_the_limit_is_a_429_with_retry_after(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    slow = await create_caller(store, Scope.READ, name="slow", rate_per_s=0.25, burst=2)
    fast = await create_caller(store, Scope.READ, name="fast", rate_per_s=2.0, burst=1)
    monotonic = Monotonic()
    async with serve(store, config, clock, keys, rate_clock=monotonic) as client:
        api = client.using(slow)
        assert [(await api.get("/v1/chains")).status for _ in range(2)] == [200, 200]
        limited = await api.get("/v1/chains")
        assert (limited.status, limited.body["type"]) == (429, PROBLEMS + "rate-limited")
        assert limited.headers["Retry-After"] == "4"  # a token every 4 s
        assert "0.25 requests a second" in limited.body["detail"]
        # Refused requests take no token; others' keys are not limited by this one.
        assert (await client.get("/v1/chains")).status == 200
        monotonic.now += 4
        assert (await api.get("/v1/chains")).status == 200
        assert (await api.get("/v1/chains")).status == 429
        # Retry-After is whole seconds, at least 1.
        fast_api = client.using(fast)
        assert (await fast_api.get("/v1/chains")).status == 200
        answer = await fast_api.get("/v1/chains")
        assert (answer.status, answer.headers["Retry-After"]) == (429, "1")
        # The ops endpoints are never limited.
        assert [(await api.get("/healthz")).status for _ in range(5)] == [200] * 5
