"""gateway.api.signing, offline: the canonical string a signed request covers (pinned), the
signature of a fixed key (Ed25519 is deterministic: pinned too), and the parsers of the
headers, which refuse anything but their exact forms."""

from __future__ import annotations

import base64
import hashlib

import pytest
from nacl.signing import SigningKey

from gateway.api.signing import (
    NONCE_HEADER,
    NONCE_PATTERN,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_request,
    decode_signature,
    missing_headers,
    new_nonce,
    parse_timestamp,
    sign_request,
    signature_headers,
    verify_signature,
)

KEY = SigningKey(bytes(range(32)))
PUBLIC = bytes(KEY.verify_key)
BODY = b'{"a":1}'
NONCE = "nonce-0123456789ab"
TS = "1767225600"
SIGNATURE = (
    "TSZiz/KGHD3uYPnkFcG1zIxei+Cf779i8WNEhm5dnehtZxGqO7EhzsB5PMDlnarYVjLc3O8N0jWvaNFlly1WDA=="
)


def test_the_canonical_string_is_pinned() -> None:
    assert PUBLIC.hex() == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    assert canonical_request("post", "/v1/x?a=1", TS, NONCE, BODY) == (
        b"POST\n/v1/x?a=1\n1767225600\nnonce-0123456789ab\n"
        b"015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    )
    assert hashlib.sha256(BODY).hexdigest().startswith("015abd7f")
    # No body: the hash of the empty string.
    assert canonical_request("DELETE", "/v1/x", TS, NONCE, b"").endswith(
        hashlib.sha256(b"").hexdigest().encode()
    )


def test_a_fixed_key_signs_the_pinned_signature() -> None:
    assert sign_request(KEY, "POST", "/v1/x?a=1", TS, NONCE, BODY) == SIGNATURE
    raw = decode_signature(SIGNATURE)
    assert raw is not None and len(raw) == 64
    assert verify_signature(PUBLIC, raw, "POST", "/v1/x?a=1", TS, NONCE, BODY)


@pytest.mark.parametrize(
    ("method", "target", "ts", "nonce", "body"),
    [
        ("PUT", "/v1/x?a=1", TS, NONCE, BODY),
        ("POST", "/v1/x?a=2", TS, NONCE, BODY),
        ("POST", "/v1/x", TS, NONCE, BODY),
        ("POST", "/v1/x?a=1", "1767225601", NONCE, BODY),
        ("POST", "/v1/x?a=1", TS, NONCE + "c", BODY),
        ("POST", "/v1/x?a=1", TS, NONCE, b'{"a":2}'),
    ],
)
def test_any_other_request_does_not_verify(
    method: str, target: str, ts: str, nonce: str, body: bytes
) -> None:
    raw = decode_signature(SIGNATURE)
    assert raw is not None
    assert not verify_signature(PUBLIC, raw, method, target, ts, nonce, body)
    other = bytes(SigningKey(bytes(32)).verify_key)
    assert not verify_signature(other, raw, "POST", "/v1/x?a=1", TS, NONCE, BODY)
    assert not verify_signature(b"short", raw, "POST", "/v1/x?a=1", TS, NONCE, BODY)


def test_signature_headers() -> None:
    headers = signature_headers(KEY, "POST", "/v1/x?a=1", BODY, timestamp=int(TS), nonce=NONCE)
    assert headers == {TIMESTAMP_HEADER: TS, NONCE_HEADER: NONCE, SIGNATURE_HEADER: SIGNATURE}
    fresh = signature_headers(KEY, "POST", "/v1/x", BODY, timestamp=1)
    assert NONCE_PATTERN.fullmatch(fresh[NONCE_HEADER])
    assert (
        fresh[NONCE_HEADER]
        != signature_headers(KEY, "POST", "/v1/x", BODY, timestamp=1)[NONCE_HEADER]
    )
    assert NONCE_PATTERN.fullmatch(new_nonce())
    assert missing_headers({TIMESTAMP_HEADER: TS}) == [NONCE_HEADER, SIGNATURE_HEADER]


@pytest.mark.parametrize(
    "text", ["", "-1", "+5", "1.5", "1e9", " 1", "\uff11\uff12", "1" * 13, "0x10", "12 "]
)
def test_timestamps_are_plain_decimal_seconds(text: str) -> None:
    assert parse_timestamp(text) is None


def test_timestamps_parse() -> None:
    assert parse_timestamp(TS) == 1767225600


@pytest.mark.parametrize(
    "text",
    [
        "",
        SIGNATURE[:-2],  # no padding
        SIGNATURE.replace("+", "-").replace("/", "_"),  # url-safe alphabet
        base64.b64encode(bytes(63)).decode(),
        base64.b64encode(bytes(65)).decode(),
        SIGNATURE + "\n",
        "!" * 88,
    ],
)
def test_signatures_are_the_base64_of_64_bytes(text: str) -> None:
    assert decode_signature(text) is None


@pytest.mark.parametrize("nonce", ["a" * 15, "a" * 65, "a" * 20 + "=", "a" * 20 + " ", "é" * 20])
def test_nonces_are_16_to_64_url_safe_characters(nonce: str) -> None:
    assert NONCE_PATTERN.fullmatch(nonce) is None
