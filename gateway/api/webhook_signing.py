"""Webhook signatures (docs/api.md §3): how the gateway signs each post and how a receiver checks
it. Pure and synchronous, the standard library only, so the SDK and receivers import it alone.

A post carries

- ``X-Xgate-Event-Id``: the event's id (receivers de-duplicate by it: delivery is at least once);
- ``X-Xgate-Timestamp``: Unix seconds when this attempt was signed (each retry signs anew);
- ``X-Xgate-Signature``: ``v1=<hex HMAC-SHA256(secret, "TIMESTAMP.BODY")>``, the body as sent,
  byte for byte. Several signatures may be given, separated by commas (``v1=..,v1=..``); one
  that matches is enough.

``verify_webhook(secret, headers, body, tolerance_s)`` checks all three and the timestamp's
distance from the receiver's clock (a captured post cannot be replayed later).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "WebhookSignatureError",
    "sign_webhook",
    "signature",
    "verify_webhook",
]

EVENT_ID_HEADER = "X-Xgate-Event-Id"
TIMESTAMP_HEADER = "X-Xgate-Timestamp"
SIGNATURE_HEADER = "X-Xgate-Signature"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300.0


class WebhookSignatureError(ValueError):
    """A post that does not verify; the message says why (never the secret or the signature)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``hex(HMAC-SHA256(secret, "TIMESTAMP.BODY"))``: the secret's UTF-8 bytes as the key."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, event_id: int, body: bytes, *, timestamp: int) -> dict[str, str]:
    """The headers that sign one post of ``body`` (the event ``event_id``) at ``timestamp``."""
    return {
        EVENT_ID_HEADER: str(event_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={signature(secret, timestamp, body)}",
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict: look the name up without its case
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None:
        raise WebhookSignatureError(f"missing {name} header")
    return value


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> int:
    """Check a received post: its timestamp is within ``tolerance_s`` of ``now`` (the
    receiver's clock, ``time.time()`` by default) and one of its ``v1`` signatures is the HMAC
    of ``"TIMESTAMP.BODY"`` (compared in constant time). ``body`` is the raw body as received.
    Returns the event id (the signed body's ``id``, which the header must repeat); raises ``WebhookSignatureError`` saying what is wrong."""
    if tolerance_s < 0:
        raise ValueError("tolerance_s must be >= 0")
    stamp = _header(headers, TIMESTAMP_HEADER).strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds")
    timestamp = int(stamp)
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_s:
        raise WebhookSignatureError(
            f"{TIMESTAMP_HEADER} is more than {tolerance_s:g} s from this clock (a replay, or a "
            "clock that is off)"
        )
    given = [
        value
        for part in _header(headers, SIGNATURE_HEADER).split(",")
        for version, sep, value in [part.strip().partition("=")]
        if sep and version == SIGNATURE_VERSION
    ]
    if not given:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} has no {SIGNATURE_VERSION} signature")
    expected = signature(secret, timestamp, body)
    # Every candidate is compared, in constant time each.
    if not any([hmac.compare_digest(expected, value.lower()) for value in given]):
        raise WebhookSignatureError("no signature matches the body and the secret")
    # The header is not signed; the body (which is) must name the same event.
    event = _header(headers, EVENT_ID_HEADER).strip()
    try:
        signed_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        signed_id = None
    if not event.isascii() or not event.isdigit() or type(signed_id) is not int:
        raise WebhookSignatureError(f"{EVENT_ID_HEADER} is not the body's event id")
    if signed_id != int(event):
        raise WebhookSignatureError(f"{EVENT_ID_HEADER} is not the body's event id")
    return signed_id
