"""The asset/credit payload codec matches the Solidity encoders byte for byte, and is strict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.errors import DecodeError
from adapters.types import Address, Hash32
from gateway.domain.payloads import (
    NO_FINANCING,
    CreditAttestation,
    CreditRevocation,
    Erc20Release,
    Erc20Transfer,
    Erc721Release,
    Erc721Transfer,
    Financing,
    Payload,
    PayloadInvalid,
    PayloadKind,
    ReceivablePayment,
    decode_payload,
    encode_payload,
    payload_from_dict,
    payload_kind,
    payload_to_dict,
)

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "asset_payloads.json").read_text())
VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]


def _hex(s: str) -> bytes:
    return bytes.fromhex(s[2:])


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_payload_encodes_to_the_solidity_bytes(vector: dict[str, Any]) -> None:
    payload = payload_from_dict(vector["payload"])
    assert encode_payload(payload) == _hex(vector["encoded"])


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_solidity_bytes_decode_to_the_vector_fields(vector: dict[str, Any]) -> None:
    payload = decode_payload(_hex(vector["encoded"]))
    assert payload_to_dict(payload) == vector["payload"]
    assert payload_kind(_hex(vector["encoded"])) == PayloadKind[vector["payload"]["kind"]]


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_payload_is_rejected_with_payload_invalid(vector: dict[str, Any]) -> None:
    with pytest.raises(PayloadInvalid):
        decode_payload(_hex(vector["encoded"]))


def test_vectors_cover_every_kind_and_both_rejection_layers() -> None:
    kinds = {v["payload"]["kind"] for v in VALID}
    assert kinds == {k.name for k in PayloadKind}
    layers = {v["solidity_error"] for v in INVALID}
    assert {"MalformedPayload", "EmptyRevert", "UnsupportedPayload", None} <= layers


def test_payload_invalid_is_a_decode_error_with_context() -> None:
    with pytest.raises(DecodeError) as info:
        decode_payload(b"\0" * 31 + b"\x09")
    assert isinstance(info.value, PayloadInvalid)
    assert info.value.context == {"kind": 9}


def test_non_bytes_input_is_rejected() -> None:
    with pytest.raises(PayloadInvalid):
        decode_payload("0x01")  # type: ignore[arg-type]


A = Address(b"\x11" * 20)
H = Hash32(b"\x22" * 32)


def bad(value: object) -> Any:
    """A deliberately ill-typed field value (the dataclass must refuse it at run time)."""
    return value


@pytest.mark.parametrize(
    "build",
    [
        lambda: Erc20Transfer(bad(b"\x11" * 19), 1, A, 1),
        lambda: Erc20Transfer(A, -1, A, 1),
        lambda: Erc20Transfer(A, 1, A, 2**256),
        lambda: Erc20Release(A, 1, A, True),
        lambda: Erc721Release(A, 1, A, bad(1.0)),
        lambda: Financing(A, A, 2**128, "CNY", 1, H),
        lambda: Financing(A, A, 1, "cny", 1, H),
        lambda: Financing(A, A, 1, "CNYX", 1, H),
        lambda: Financing(A, A, 1, "CNY", 2**64, H),
        lambda: Financing(A, A, 1, "CNY", 1, bad(H[:31])),
        lambda: Erc721Transfer(A, 1, A, 1, bad(None)),
        lambda: CreditAttestation(A, 1, 1001, "AA", A, 0, 1, H),
        lambda: CreditAttestation(A, 1, 1, "", A, 0, 1, H),
        lambda: CreditAttestation(A, 1, 1, "A" * 33, A, 0, 1, H),
        lambda: CreditAttestation(A, 1, 1, "é", A, 0, 1, H),
        lambda: CreditAttestation(A, 2**64, 1, "A", A, 0, 1, H),
        lambda: CreditRevocation(A, 1, bad(b"")),
        lambda: ReceivablePayment(A, 1, 1, A, 1, 2**128, False),
        lambda: ReceivablePayment(A, 1, -1, A, 1, 0, False),
        lambda: ReceivablePayment(A, 1, 1, A, 1, 1, bad(1)),
        lambda: ReceivablePayment(A, 1, 1, A, 1, 1, bad(None)),
    ],
)
def test_out_of_range_fields_cannot_be_built(build: Any) -> None:
    with pytest.raises(PayloadInvalid):
        build()


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "NOPE"},
        {"kind": 1},
        {"kind": "ERC20_RELEASE", "token": "0x" + "11" * 20, "home_chain_id": 1},
        {
            "kind": "ERC20_RELEASE",
            "token": "11" * 20,
            "home_chain_id": 1,
            "recipient": "0x" + "11" * 20,
            "amount": 1,
        },
        {
            "kind": "ERC20_RELEASE",
            "token": "0xzz",
            "home_chain_id": 1,
            "recipient": "0x" + "11" * 20,
            "amount": 1,
        },
        {
            "kind": "ERC721_TRANSFER",
            "token": "0x" + "11" * 20,
            "home_chain_id": 1,
            "recipient": "0x" + "11" * 20,
            "token_id": 1,
            "financing": "none",
        },
    ],
)
def test_bad_plain_data_is_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(PayloadInvalid):
        payload_from_dict(data)


@pytest.mark.parametrize("word", [2, 0xFF, 2**8, 2**255, 2**256 - 1])
def test_a_settled_word_other_than_0_or_1_is_rejected(word: int) -> None:
    data = encode_payload(ReceivablePayment(A, 1, 2, A, 3, 4, True))
    assert data[-32:] == (1).to_bytes(32, "big")  # settled is the last word
    with pytest.raises(PayloadInvalid) as info:
        decode_payload(data[:-32] + word.to_bytes(32, "big"))
    assert info.value.context["kind"] == "RECEIVABLE_PAYMENT"  # eth_abi's strict bool decoder


def test_settled_round_trips_in_the_last_word() -> None:
    for settled in (False, True):
        p = ReceivablePayment(A, 1, 2, A, 3, 4, settled)
        data = encode_payload(p)
        assert len(data) == 8 * 32 and data[-1] == settled
        assert decode_payload(data) == p
        assert payload_to_dict(p)["settled"] is settled
    plain = payload_to_dict(ReceivablePayment(A, 1, 2, A, 3, 4, True))
    del plain["settled"]  # the 7-field payment of before is not a payment any more
    with pytest.raises(PayloadInvalid):
        payload_from_dict(plain)


def test_empty_financing_round_trips_as_zero_bytes() -> None:
    p = Erc721Transfer(A, 5, A, 9, NO_FINANCING)
    data = encode_payload(p)
    assert data[5 * 32 :] == b"\0" * (6 * 32)
    decoded = decode_payload(data)
    assert isinstance(decoded, Erc721Transfer)
    assert decoded.financing.is_empty


# -- properties ----------------------------------------------------------------------------

addresses = st.binary(min_size=20, max_size=20).map(Address)
hashes = st.binary(min_size=32, max_size=32).map(Hash32)
u64 = st.integers(0, 2**64 - 1)
u256 = st.integers(0, 2**256 - 1)
currencies = st.one_of(st.just(""), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))
grades = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=32)
financings = st.builds(
    Financing, addresses, addresses, st.integers(0, 2**128 - 1), currencies, u64, hashes
)
payloads: st.SearchStrategy[Payload] = st.one_of(
    st.builds(Erc20Transfer, addresses, u256, addresses, u256),
    st.builds(Erc20Release, addresses, u256, addresses, u256),
    st.builds(Erc721Release, addresses, u256, addresses, u256),
    st.builds(Erc721Transfer, addresses, u256, addresses, u256, financings),
    st.builds(
        CreditAttestation, addresses, u64, st.integers(0, 1000), grades, addresses, u64, u64, hashes
    ),
    st.builds(CreditRevocation, addresses, u64, addresses),
    st.builds(
        ReceivablePayment,
        addresses,
        u256,
        u256,
        addresses,
        u256,
        st.integers(0, 2**128 - 1),
        st.booleans(),
    ),
)


@given(payloads)
def test_every_payload_round_trips(p: Payload) -> None:
    data = encode_payload(p)
    assert decode_payload(data) == p
    assert payload_from_dict(json.loads(json.dumps(payload_to_dict(p)))) == p


@given(payloads, st.data())
def test_a_mutated_payload_is_rejected_or_decodes_to_exactly_its_bytes(
    p: Payload, data: st.DataObject
) -> None:
    encoded = bytearray(encode_payload(p))
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] ^= data.draw(st.integers(1, 255))
    try:
        decoded = decode_payload(bytes(encoded))
    except PayloadInvalid:
        return
    # A flip inside a value's significant bytes is a different, valid payload: fine, as long
    # as it is exactly what those bytes say.
    assert encode_payload(decoded) == bytes(encoded)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        decoded = decode_payload(data)
    except PayloadInvalid:
        return
    assert encode_payload(decoded) == data
