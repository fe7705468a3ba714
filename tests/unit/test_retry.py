"""RetryPolicy: the backoff schedule is a value, pinned here exactly."""

from __future__ import annotations

import pytest

from adapters.errors import ConfigError, RpcError, RpcResponseInvalid, RpcUnavailable
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
    ],
)
def test_unusable_policy_is_a_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


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

    async def sleep(seconds: float) -> None:
        raise AssertionError("must not sleep")

    with pytest.raises(RpcError):
        await RetryPolicy().run(rejected, sleep=sleep)
    assert calls == 1
