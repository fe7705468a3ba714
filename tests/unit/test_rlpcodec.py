"""Strict RLP codec and keccak, against pyrlp (strict mode) and eth-hash as oracles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak as eth_hash_keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bft import decode_qbft_extra
from adapters.errors import DecodeError, ProofInvalid
from adapters.headers import decode_header
from adapters.mpt import decode_account
from adapters.receipts import (
    build_ordered_proof,
    decode_receipt,
    ordered_trie_root,
    verify_receipt_proof,
)
from adapters.rlpcodec import (
    MAX_RLP_DEPTH,
    keccak,
    rlp_decode,
    rlp_decode_list,
    rlp_encode_strings,
    rlp_list,
    rlp_list_prefix,
    rlp_scalar,
    rlp_string,
    scalar_bytes,
)

rlp_items = st.recursive(
    st.binary(max_size=70), lambda children: st.lists(children, max_size=5), max_leaves=20
)


def _lists(item: Any) -> Any:
    return [_lists(i) for i in item] if isinstance(item, list | tuple) else item


@given(rlp_items)
def test_rlp_decode_inverts_rlp_encode(item: Any) -> None:
    assert rlp_decode(rlp.encode(item)) == item


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=80), rlp_items.map(rlp.encode).map(lambda b: b[:-1] + b"\x01")))
def test_rlp_decode_accepts_exactly_what_strict_pyrlp_accepts(data: bytes) -> None:
    try:
        expected = rlp.decode(data, strict=True)
    except (rlp.DecodingError, IndexError):
        with pytest.raises(DecodeError):
            rlp_decode(data)
    else:
        assert rlp_decode(data) == _lists(expected)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x81\x05",  # single byte < 0x80 wrapped as a string
        b"\xc2\x81\x05",  # the same inside a list
        b"\xb8\x05hello",  # long-string form for a short string
        b"\xf8\x02\x01\x02",  # long-list form for a short list
        b"\xb9\x00\x40" + b"x" * 64,  # length with a leading zero
        b"\xc1",  # truncated list
        b"\x82a",  # truncated string
        b"\xc3\x01\x82a",  # item runs past its list
        b"\x01\x02",  # trailing byte
    ],
)
def test_non_canonical_or_truncated_rlp_is_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError):
        rlp_decode(data)


def test_decode_error_says_where_and_what() -> None:
    with pytest.raises(DecodeError) as err:
        rlp_decode_list(b"\xc4\x01\x02\x81\x05", "receipt")
    assert err.value.context["offset"] == 3
    assert err.value.context["what"] == "receipt"
    assert str(err.value).startswith("receipt: RLP single byte")


def test_string_where_a_list_is_expected_is_rejected() -> None:
    with pytest.raises(DecodeError, match="account is not an RLP list"):
        rlp_decode_list(b"\x83abc", "account")


@pytest.mark.parametrize("data", [bytearray(b"\x80"), "0x80", None])
def test_non_bytes_input_is_rejected(data: Any) -> None:
    with pytest.raises(DecodeError):
        rlp_decode(data)


@given(st.integers(min_value=0, max_value=2**300))
def test_scalar_encoding_matches_pyrlp_and_decodes_back(value: int) -> None:
    encoded = rlp_string(scalar_bytes(value))
    assert encoded == rlp.encode(value)
    assert rlp_scalar(rlp_decode(encoded), "value") == value


@pytest.mark.parametrize("raw", [b"\x00", b"\x00\x01", [b"\x01"]])
def test_scalar_with_leading_zeros_or_as_a_list_is_rejected(raw: Any) -> None:
    with pytest.raises(DecodeError):
        rlp_scalar(raw, "nonce")


@settings(deadline=None, max_examples=200)
@given(st.lists(st.binary(max_size=70), max_size=25))
def test_flat_list_encoder_matches_pyrlp(items: list[bytes]) -> None:
    assert rlp_encode_strings(items) == rlp.encode(items)


@given(st.binary(max_size=300))
def test_keccak_matches_eth_hash(data: bytes) -> None:
    assert keccak(data) == eth_hash_keccak(data)


def test_keccak_of_empty_input_is_the_known_digest() -> None:
    expected = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak(b"").hex() == expected


def nested_empty_lists(levels: int) -> bytes:
    """RLP of ``levels`` lists nested in each other around an empty list, built inside out."""
    prefixes = [b"\xc0"]
    size = 1
    for _ in range(levels):
        prefix = rlp_list_prefix(size)
        prefixes.append(prefix)
        size += len(prefix)
    return b"".join(reversed(prefixes))


DEEP = nested_empty_lists(100_000)


def test_nested_empty_lists_helper_builds_valid_rlp() -> None:
    assert rlp_decode(nested_empty_lists(3)) == [[[[]]]]


def test_nesting_at_the_depth_limit_decodes_and_one_more_level_is_refused() -> None:
    assert rlp_decode(nested_empty_lists(MAX_RLP_DEPTH - 1)) is not None
    with pytest.raises(DecodeError) as info:
        rlp_decode(nested_empty_lists(MAX_RLP_DEPTH))
    assert info.value.context["limit"] == MAX_RLP_DEPTH


def _header_with_deep_field() -> bytes:
    return rlp_list([rlp_string(b"\x00" * 32)] * 14 + [DEEP])


def _account_with_deep_field() -> bytes:
    return rlp_list([b"\x01", b"\x02", rlp_string(b"\x00" * 32), DEEP])


@pytest.mark.parametrize(
    "decode",
    [
        rlp_decode,
        lambda data: rlp_decode_list(data, "test"),
        lambda data: decode_header(_header_with_deep_field()),
        lambda data: decode_receipt(rlp_list([b"\x01", b"\x01", rlp_string(b"\x00" * 256), data])),
        lambda data: decode_account(_account_with_deep_field()),
        lambda data: decode_qbft_extra(rlp_list([rlp_string(b"\x00" * 32), data])),
    ],
    ids=["rlp_decode", "rlp_decode_list", "header", "receipt", "account", "qbft_extra"],
)
def test_deeply_nested_rlp_raises_decode_error_in_every_decoder(
    decode: Callable[[bytes], object],
) -> None:
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode(DEEP)


def test_a_proven_receipt_nested_too_deeply_is_an_invalid_proof() -> None:
    receipt = rlp_list([b"\x01", b"\x01", rlp_string(b"\x00" * 256), DEEP])
    root = ordered_trie_root([receipt])
    with pytest.raises(ProofInvalid, match="does not decode") as info:
        verify_receipt_proof(root, 0, build_ordered_proof([receipt], 0))
    assert "nested too deeply" in info.value.context["reason"]


def test_scalar_of_more_than_the_allowed_bits_is_refused() -> None:
    assert rlp_scalar(b"\xff" * 8, "nonce", 64) == 2**64 - 1
    with pytest.raises(DecodeError, match="nonce exceeds 64 bits"):
        rlp_scalar(b"\x01" + b"\x00" * 8, "nonce", 64)
    assert rlp_scalar(b"\x01" + b"\x00" * 40, "unbounded") == 2**320
