"""Signed requests (docs/api.md §2): the one definition of what an ``issuer`` or ``operator``
key signs, shared by the server (``auth.py``) and the clients (the SDK): pure, sync functions.

A state-changing request carries three headers:

- ``X-Xgate-Timestamp``: Unix seconds, decimal (within ±300 s of the server's clock);
- ``X-Xgate-Nonce``: 16-64 url-safe characters (``A-Z a-z 0-9 _ -``), used once per key;
- ``X-Xgate-Signature``: standard base64 (with padding) of the 64-byte Ed25519 signature over
  the canonical string::

      METHOD \\n TARGET \\n TIMESTAMP \\n NONCE \\n hex(sha256(body))

  ``METHOD`` in upper case; ``TARGET`` the request target exactly as sent on the wire: the
  percent-encoded path and, when the URL has one, ``?`` and the query string (aiohttp's
  ``request.raw_path``, yarl's ``URL.raw_path_qs``); ``hex`` in lower case, of the empty body
  when there is none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

__all__ = [
    "MAX_SKEW_S",
    "NONCE_HEADER",
    "NONCE_PATTERN",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "canonical_request",
    "decode_signature",
    "missing_headers",
    "new_nonce",
    "parse_timestamp",
    "sign_request",
    "signature_headers",
    "verify_signature",
]

TIMESTAMP_HEADER = "X-Xgate-Timestamp"
NONCE_HEADER = "X-Xgate-Nonce"
SIGNATURE_HEADER = "X-Xgate-Signature"
MAX_SKEW_S = 300
"""A signed request's timestamp is accepted within this many seconds of the server's clock."""

NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE_B64 = re.compile(r"[A-Za-z0-9+/]{86}==")  # 64 bytes


def canonical_request(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes a signed request's signature covers (see the module's docstring)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{target}\n{timestamp}\n{nonce}\n{digest}".encode()


def new_nonce() -> str:
    """A fresh random nonce (32 url-safe characters)."""
    return secrets.token_urlsafe(24)


def sign_request(
    signing_key: SigningKey, method: str, target: str, timestamp: str, nonce: str, body: bytes
) -> str:
    """The ``X-Xgate-Signature`` value: base64 of the Ed25519 signature of the canonical
    string."""
    signature = signing_key.sign(canonical_request(method, target, timestamp, nonce, body))
    return base64.b64encode(signature.signature).decode()


def signature_headers(
    signing_key: SigningKey,
    method: str,
    target: str,
    body: bytes,
    *,
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The three headers of a signed request (a new nonce unless given). ``timestamp``: Unix
    seconds, the caller's clock."""
    ts = str(int(timestamp))
    used = new_nonce() if nonce is None else nonce
    return {
        TIMESTAMP_HEADER: ts,
        NONCE_HEADER: used,
        SIGNATURE_HEADER: sign_request(signing_key, method, target, ts, used, body),
    }


def parse_timestamp(text: str) -> int | None:
    """A timestamp header's Unix seconds, None when it is no plain decimal number."""
    return int(text) if _TIMESTAMP.fullmatch(text) else None


def decode_signature(text: str) -> bytes | None:
    """The 64 signature bytes of a signature header, None when it is not their base64."""
    if not _SIGNATURE_B64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_signature(
    public_key: bytes,
    signature: bytes,
    method: str,
    target: str,
    timestamp: str,
    nonce: str,
    body: bytes,
) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of the canonical string."""
    try:
        VerifyKey(public_key).verify(
            canonical_request(method, target, timestamp, nonce, body), signature
        )
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def missing_headers(headers: Mapping[str, str]) -> list[str]:
    """The signature headers absent from ``headers`` (case-insensitive mapping), in order."""
    return [h for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER) if h not in headers]
