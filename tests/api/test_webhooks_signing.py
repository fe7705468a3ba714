"""Webhook signatures (gateway.api.webhook_signing): pinned vectors, and a receiver's check
refusing every way a post can be wrong."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gateway.api.webhook_signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSignatureError,
    sign_webhook,
    signature,
    verify_webhook,
)

SECRET = "whsec_0123456789abcdef"
BODY = b'{"id":42,"kind":"message"}'
T = 1_767_225_600


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, T, BODY) == expected
    # Pinned: a change of the scheme breaks every receiver.
    assert signature("secret-secret-16", 1, b"{}") == (
        hmac.new(b"secret-secret-16", b"1.{}", hashlib.sha256).hexdigest()
    )
    assert sign_webhook(SECRET, 42, BODY, timestamp=T) == {
        EVENT_ID_HEADER: "42",
        TIMESTAMP_HEADER: str(T),
        SIGNATURE_HEADER: f"v1={expected}",
    }


def test_a_signed_post_verifies_and_names_its_event() -> None:
    headers = sign_webhook(SECRET, 42, BODY, timestamp=T)
    assert verify_webhook(SECRET, headers, BODY, 300, now=T + 299) == 42
    # Header names are matched without their case; several signatures (secret rotation).
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered[SIGNATURE_HEADER.lower()] = "v1=" + "0" * 64 + ", " + headers[SIGNATURE_HEADER]
    assert verify_webhook(SECRET, lowered, BODY, 300, now=T) == 42


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b + b" "), "no signature matches"),
        (lambda h, b: ({**h, SIGNATURE_HEADER: "v1=" + "ab" * 32}, b), "no signature matches"),
        (lambda h, b: ({**h, SIGNATURE_HEADER: "v0=" + "ab" * 32}, b), "no v1 signature"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: str(T + 1)}, b), "no signature matches"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: str(T - 301)}, b), "more than 300 s"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "soon"}, b), "not Unix seconds"),
        (lambda h, b: ({**h, EVENT_ID_HEADER: "43"}, b), "not the body's event id"),
        (lambda h, b: ({k: v for k, v in h.items() if k != SIGNATURE_HEADER}, b), "missing"),
    ],
)
def test_a_post_that_is_not_ours_is_refused(change: object, reason: str) -> None:
    headers = sign_webhook(SECRET, 42, BODY, timestamp=T)
    bad_headers, bad_body = change(headers, BODY)  # type: ignore[operator]
    with pytest.raises(WebhookSignatureError, match=reason) as info:
        verify_webhook(SECRET, bad_headers, bad_body, 300, now=T)
    assert SECRET not in str(info.value)


def test_another_secret_does_not_verify() -> None:
    headers = sign_webhook(SECRET, 42, BODY, timestamp=T)
    with pytest.raises(WebhookSignatureError):
        verify_webhook("another-secret-of-ours", headers, BODY, 300, now=T)
