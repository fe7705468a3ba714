"""RetryPolicy: the backoff schedule is a value, pinned here exactly."""

from __future__ import annotations

import pytest

from adapters.base import TransactionNotFound
from adapters.errors import (
    ConfigError,
    NotYetAvailable,
    RetryableError,
    RpcError,
    RpcResponseInvalid,
    RpcUnavailable,
)
from adapters.retry import NO_RETRY, RetryPolicy


def test_default_schedule_doubles_from_200ms_and_caps_at_5s() -> None:
    assert RetryPolicy().delays() == (0.2, 0.4, 0.8, 1.6, 3.2)
    long = RetryPolicy(max_attempts=9)
    assert long.delays() == (0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0)


def test_custom_schedule_is_exact() -> None:
    policy = RetryPolicy(initial_delay=0.05, multiplier=3.0, max_delay=1.0, max_attempts=5)
    assert policy.delays() == (0.05, 0.15, 0.45, 1.0)
    assert policy.delay(1) == 0.05


def test_no_retry_has_no_delays() -> None:
    assert NO_RETRY.delays() == ()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"initial_delay": -1.0},
        {"max_delay": -0.1},
        {"multiplier": 0.5},
        {"initial_delay": float("nan")},
        {"initial_delay": "0.1"},
        {"jitter": 0.1},
    ],
)
def test_unusable_policy_is_a_config_error_naming_the_key(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"RetryPolicy: {next(iter(kwargs))}: ")


async def _never_sleep(seconds: float) -> None:
    raise AssertionError("must not sleep")


async def test_retryable_errors_are_retried_with_the_pinned_sleeps() -> None:
    slept: list[float] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise RpcUnavailable("down") if calls % 2 else RpcResponseInvalid("garbage")
        return "ok"

    assert await RetryPolicy(max_attempts=4).run(flaky, sleep=sleep) == "ok"
    assert calls == 4
    assert slept == [0.2, 0.4, 0.8]


async def test_last_error_is_raised_when_attempts_run_out() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def down() -> None:
        raise RpcUnavailable("down", attempt=len(slept) + 1)

    with pytest.raises(RpcUnavailable) as info:
        await RetryPolicy(max_attempts=3).run(down, sleep=sleep)
    assert info.value.context["attempt"] == 3
    assert slept == [0.2, 0.4]


async def test_fatal_errors_are_not_retried() -> None:
    calls = 0

    async def rejected() -> None:
        nonlocal calls
        calls += 1
        raise RpcError("bad params", code=-32602)

    with pytest.raises(RpcError):
        await RetryPolicy().run(rejected, sleep=_never_sleep)
    assert calls == 1


class LeaseLost(RetryableError):
    """A retryable error the policy has never heard of (as later layers will define)."""


async def test_every_retryable_error_is_retried_by_default() -> None:
    # The policy follows XgateError.retryable, not a list of known classes.
    slept: list[float] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LeaseLost("taken over")
        return "ok"

    assert await RetryPolicy().run(flaky, sleep=sleep) == "ok"
    assert (calls, slept) == (2, [0.2])


@pytest.mark.parametrize("error", [NotYetAvailable("block 9"), TransactionNotFound("0x12")])
async def test_not_yet_available_is_left_to_the_callers_loop(error: Exception) -> None:
    calls = 0

    async def pending() -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await RetryPolicy().run(pending, sleep=_never_sleep)
    assert calls == 1


async def test_explicit_retry_on_replaces_the_default_choice() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def pending() -> None:
        raise NotYetAvailable("block 9")

    # Named explicitly, even NotYetAvailable is retried ...
    with pytest.raises(NotYetAvailable):
        await RetryPolicy(max_attempts=3).run(pending, retry_on=(NotYetAvailable,), sleep=sleep)
    assert slept == [0.2, 0.4]

    async def down() -> None:
        raise RpcUnavailable("down")

    # ... and a retryable class left out is not.
    with pytest.raises(RpcUnavailable):
        await RetryPolicy().run(down, retry_on=(RpcResponseInvalid,), sleep=_never_sleep)
