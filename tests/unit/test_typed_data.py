"""EIP-712 messages of the xgate contracts (gateway.domain.typed_data), offline.

Each digest is checked against an independent computation that follows the Solidity
(``keccak256(abi.encode(TYPEHASH, ...))`` under ``_hashTypedDataV4``); the live check against
the deployed contracts' own views is tests/contracts/test_typed_data_matches_contracts.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.typed_data import (
    InvalidTypedData,
    attested_header_message,
    digest,
    htlc_claim_message,
    permit_message,
    signature_vrs,
)

DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
KEY = b"\x42" * 32  # test-only key
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OWNER = Account.from_key(KEY).address
OTHER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

addresses = st.binary(min_size=20, max_size=20)
words = st.binary(min_size=32, max_size=32)
uint256 = st.integers(min_value=0, max_value=2**256 - 1)


def expected(name: str, chain_id: int, contract: Any, type_string: str, abi: list[Any]) -> bytes:
    """``_hashTypedDataV4(keccak256(abi.encode(TYPEHASH, ...)))`` as OpenZeppelin computes it."""
    separator = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, keccak(text=name), keccak(text="1"), chain_id, contract],
        )
    )
    types = ["bytes32"] + [t for t, _ in abi]
    struct = keccak(encode(types, [keccak(text=type_string)] + [v for _, v in abi]))
    return keccak(b"\x19\x01" + separator + struct)


@settings(max_examples=25)
@given(uint256, addresses, addresses, addresses, uint256, uint256, uint256)
def test_permit_digest_is_the_eip2612_hash(
    chain_id: int, token: bytes, owner: bytes, spender: bytes, value: int, nonce: int, deadline: int
) -> None:
    msg = permit_message(
        "Settlement CNY", "1", chain_id, token, owner, spender, value, nonce, deadline
    )
    assert digest(msg) == expected(
        "Settlement CNY",
        chain_id,
        token,
        "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)",
        [
            ("address", owner),
            ("address", spender),
            ("uint256", value),
            ("uint256", nonce),
            ("uint256", deadline),
        ],
    )


@settings(max_examples=25)
@given(uint256, addresses, uint256, st.integers(0, 2**64 - 1), words, words, words)
def test_attested_header_digest_is_the_stores_header_hash(
    store_chain: int, store: bytes, chain_id: int, number: int, block: bytes, rr: bytes, sr: bytes
) -> None:
    msg = attested_header_message(store_chain, store, (chain_id, number, block, rr, sr))
    assert digest(msg) == expected(
        "xgate AttestedHeaderStore",
        store_chain,
        store,
        "Header(uint256 chainId,uint64 number,bytes32 blockHash,bytes32 receiptsRoot,"
        "bytes32 stateRoot)",
        [
            ("uint256", chain_id),
            ("uint64", number),
            ("bytes32", block),
            ("bytes32", rr),
            ("bytes32", sr),
        ],
    )


@pytest.mark.parametrize("name", ["HtlcNative", "HtlcErc20", "HtlcErc721"])
def test_htlc_claim_digest_is_the_htlcs_claim_hash(name: Any) -> None:
    key = bytes(range(32))
    msg = htlc_claim_message(name, 31337, CONTRACT, key, OWNER, OTHER)
    assert digest(msg) == expected(
        f"xgate {name}",
        31337,
        CONTRACT,
        "Claim(bytes32 swapKey,address submitter,address destination)",
        [("bytes32", key), ("address", OWNER), ("address", OTHER)],
    )


def test_claims_of_different_htlc_contracts_have_different_digests() -> None:
    key = bytes(32)
    digests = {
        digest(htlc_claim_message(name, 1, CONTRACT, key, OWNER, OTHER))
        for name in ("HtlcNative", "HtlcErc20", "HtlcErc721")
    }
    assert len(digests) == 3


def test_address_as_bytes_or_hex_string_gives_the_same_message() -> None:
    raw = bytes.fromhex(CONTRACT[2:])
    header = (1, 7, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    assert attested_header_message(5, raw, header) == attested_header_message(
        5, CONTRACT.lower(), header
    )


def test_a_signed_permit_recovers_to_the_owner_and_splits_into_v_r_s() -> None:
    msg = permit_message("Htlc Test Token", "1", 31337, CONTRACT, OWNER, OTHER, 10**18, 0, 2**40)
    signed = Account.sign_message(msg, KEY)
    assert Account.recover_message(msg, signature=signed.signature) == OWNER
    v, r, s = signature_vrs(bytes(signed.signature))
    assert (v, int.from_bytes(r, "big"), int.from_bytes(s, "big")) == (signed.v, signed.r, signed.s)


def test_a_signed_claim_recovers_from_the_digest_alone() -> None:
    msg = htlc_claim_message("HtlcNative", 1, CONTRACT, b"\x07" * 32, OTHER, OWNER)
    signature = Account.sign_message(msg, KEY).signature
    assert Account._recover_hash(digest(msg), signature=signature) == OWNER


def test_unknown_htlc_contract_is_rejected() -> None:
    with pytest.raises(InvalidTypedData):
        htlc_claim_message("HtlcBogus", 1, CONTRACT, bytes(32), OWNER, OTHER)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "header",
    [
        (1, 7, b"\x01" * 31, b"\x02" * 32, b"\x03" * 32),  # short hash: would be padded silently
        (1, 2**64, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32),  # number beyond uint64
        (-1, 7, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32),
        (1, 7, b"\x01" * 32, b"\x02" * 32),
    ],
)
def test_header_fields_out_of_their_solidity_types_are_rejected(header: Any) -> None:
    with pytest.raises(InvalidTypedData):
        attested_header_message(1, CONTRACT, header)


@pytest.mark.parametrize(
    "bad", ["0x1234", b"\x01" * 19, "0x5fbdb2315678afecb367f032d93F642f64180aa3"]
)
def test_malformed_addresses_are_rejected(bad: Any) -> None:
    with pytest.raises(InvalidTypedData):
        permit_message("T", "1", 1, bad, OWNER, OTHER, 1, 0, 1)


def test_a_signature_of_the_wrong_length_is_rejected() -> None:
    with pytest.raises(InvalidTypedData):
        signature_vrs(b"\x00" * 64)
