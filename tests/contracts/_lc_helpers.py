"""Light-client test helpers: vectors, receipt tries, QBFT headers sealed by test keys.

The Solidity libraries (contracts/src/lib) and light clients (contracts/src/lightclient) must
agree with the Python verifiers (adapters.mpt, adapters.receipts, adapters.bft,
adapters.lightclient.qbft); these helpers build the shared inputs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from adapters.bft import (
    BFT_MIX_HASH,
    BftExtraData,
    Vote,
    address_of_key,
    encode_qbft_extra,
    qbft_block_hash,
    seal_qbft_header,
)
from adapters.headers import EMPTY_OMMERS_HASH, Header
from adapters.receipts import OrderedTrie, encode_receipt, receipt_from_rpc
from adapters.rlpcodec import keccak

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

# Custom errors the libraries and light clients revert with (anything else is a bug: a panic,
# an empty revert or an out-of-gas would mean unchecked input reached arithmetic or memory).
LIB_ERRORS = frozenset(
    {
        "RlpTruncated",
        "RlpNonCanonical",
        "RlpExpectedList",
        "RlpExpectedString",
        "RlpTrailingBytes",
        "RlpIntegerInvalid",
        "ProofEmpty",
        "ProofMissingNode",
        "ProofNodeHashMismatch",
        "ProofTrailingNodes",
        "ProofMalformedNode",
        "ProofKeyTooLong",
        "ProofValueInvalid",
        "ReceiptNotInProof",
        "ReceiptMalformed",
        "LogIndexOutOfRange",
        "LogMalformed",
    }
)


def h(value: str) -> bytes:
    """Bytes of a hex string with or without 0x."""
    return bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)


@cache
def vector(name: str) -> Any:
    return json.loads((VECTORS / f"{name}.json").read_text())


@cache
def anvil_block_receipts() -> tuple[bytes, tuple[bytes, ...], OrderedTrie]:
    """(receiptsRoot, encoded receipts, trie) of the real anvil block in the vectors."""
    data = vector("receipts_anvil_block")
    encoded = tuple(encode_receipt(receipt_from_rpc(r)) for r in data["receipts"])
    trie = OrderedTrie(encoded)
    root = h(data["block"]["receiptsRoot"])
    assert trie.root == root
    return root, encoded, trie


# --- QBFT headers ------------------------------------------------------------------------------


def lc_keys(count: int, label: bytes = b"xgate lc test validator") -> list[bytes]:
    """Deterministic TEST-ONLY private keys, sorted by address (validator lists are sorted)."""
    keys = [keccak(label + i.to_bytes(2, "big")) for i in range(count)]
    return sorted(keys, key=address_of_key)


def addresses(keys: list[bytes]) -> list[bytes]:
    return [address_of_key(k) for k in keys]


def make_header(
    validators: list[bytes],
    *,
    number: int = 100,
    parent_hash: bytes = b"\x11" * 32,
    round_: int = 0,
    fields: int = 17,
    vote: Vote | None = None,
    coinbase: bytes | None = None,
    timestamp: int = 1_750_000_000,
    tx_count: int = 3,
) -> Header:
    """An unsealed QBFT header with realistic content (roots, bloom, gas) and ``fields`` fields."""
    optional: dict[str, Any] = {}
    if fields >= 16:
        optional["base_fee_per_gas"] = 7
    if fields >= 17:
        optional["withdrawals_root"] = keccak(b"\x80")
    if fields >= 20:
        optional.update(blob_gas_used=0, excess_blob_gas=0, parent_beacon_block_root=b"\x22" * 32)
    if fields >= 21:
        optional["requests_hash"] = keccak(b"requests")
    extra = BftExtraData(b"\x00" * 32, tuple(validators), vote, round_, ())  # type: ignore[arg-type]
    bloom = bytes(i * 37 % 256 if i % 5 == 0 else 0 for i in range(256))
    return Header(
        parent_hash=parent_hash,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=coinbase if coinbase is not None else validators[number % len(validators)],
        state_root=keccak(b"state" + number.to_bytes(8, "big")),
        transactions_root=keccak(b"txs" + number.to_bytes(8, "big")),
        receipts_root=keccak(b"receipts" + number.to_bytes(8, "big")),
        logs_bloom=bloom,
        difficulty=1,
        number=number,
        gas_limit=60_000_000,
        gas_used=21_000 * tx_count,
        timestamp=timestamp,
        extra_data=encode_qbft_extra(extra),
        mix_hash=BFT_MIX_HASH,
        nonce=b"\x00" * 8,
        **optional,
    )


def sealed(header: Header, keys: list[bytes], round_: int | None = None) -> Header:
    return seal_qbft_header(header, keys, round_=round_)


def with_seals(header: Header, seals: tuple[bytes, ...]) -> Header:
    """``header`` with its seal list replaced (validator order checks kept)."""
    from adapters.bft import decode_qbft_extra, with_qbft_extra

    return with_qbft_extra(header, replace(decode_qbft_extra(header.extra_data), seals=seals))


def block_hash(header: Header) -> bytes:
    return bytes(qbft_block_hash(header))
