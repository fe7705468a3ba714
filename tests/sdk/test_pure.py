"""The SDK's pure parts: the retry schedule (pinned), Retry-After parsing, the SSE decoder."""

from __future__ import annotations

from gateway.sdk import Retries
from gateway.sdk.client import parse_retry_after
from gateway.sdk.sse import SseDecoder, SseFrame


def test_the_default_retry_schedule_is_pinned() -> None:
    retries = Retries()
    assert retries.max_attempts == 4
    assert retries.backoff.delays() == (0.5, 1.0, 2.0)
    assert retries.delay(1, None) == 0.5
    assert retries.delay(1, 3.0) == 3.0  # never sooner than Retry-After
    assert retries.delay(3, 1.0) == 2.0
    assert retries.max_retry_after_s == 60.0 and retries.stream_reconnects == 10


def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("2", now) == 2.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now) == 20.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now) == 0.0  # past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_the_sse_decoder_makes_frames_of_lines() -> None:
    decoder = SseDecoder()
    lines = [
        "retry: 2000\n",
        ": events after 7\n",
        "\n",
        "id: 8\n",
        "event: message\r\n",
        'data: {"a":\n',
        "data: 1}\n",
        "unknown: x\n",
        "\n",
        "\n",  # nothing pending: no frame
        ": keep-alive\n",
        "\n",
    ]
    frames = [f for f in map(decoder.feed, lines) if f is not None]
    assert frames == [
        SseFrame(retry_ms=2000, comments=("events after 7",)),
        SseFrame(id="8", event="message", data='{"a":\n1}'),
        SseFrame(comments=("keep-alive",)),
    ]
