"""Header factories shared by the unit and CLI tests.

- plain public-chain headers that link by hash (``plain_header``, ``plain_branch``);
- QBFT headers sealed by deterministic validator keys (``qbft_header``). The keys are
  keccak("validator-<i>"): public, test-only, never used outside the test suite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from eth_hash.auto import keccak

from adapters.bft import (
    BFT_MIX_HASH,
    BftExtraData,
    Vote,
    address_of_key,
    encode_qbft_extra,
    qbft_hashes,
    sign_commit_seal,
    with_qbft_extra,
)
from adapters.headers import EMPTY_OMMERS_HASH, Header, header_hash
from adapters.types import Address

GENESIS_TIME = 1_700_000_000

# --- public chain ------------------------------------------------------------------------------


def plain_header(
    number: int, parent_hash: bytes, *, timestamp: int | None = None, tag: bytes = b""
) -> Header:
    """A post-merge (Shanghai) header; ``tag`` goes into extraData to tell forks apart."""
    return Header(
        parent_hash=parent_hash,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=b"\x00" * 20,
        state_root=b"\x03" * 32,
        transactions_root=b"\x04" * 32,
        receipts_root=b"\x05" * 32,
        logs_bloom=b"\x00" * 256,
        difficulty=0,
        number=number,
        gas_limit=30_000_000,
        gas_used=0,
        timestamp=GENESIS_TIME + 12 * number if timestamp is None else timestamp,
        extra_data=tag,
        mix_hash=b"\x06" * 32,
        nonce=b"\x00" * 8,
        base_fee_per_gas=7,
        withdrawals_root=b"\x07" * 32,
    )


def plain_branch(parent: Header, count: int, tag: bytes = b"") -> list[Header]:
    """``count`` headers, each the child of the previous one, starting on ``parent``."""
    out: list[Header] = []
    for _ in range(count):
        parent = plain_header(parent.number + 1, header_hash(parent), tag=tag)
        out.append(parent)
    return out


# --- QBFT --------------------------------------------------------------------------------------

VALIDATOR_KEYS: tuple[bytes, ...] = tuple(keccak(f"validator-{i}".encode()) for i in range(8))
VALIDATORS: tuple[Address, ...] = tuple(address_of_key(k) for k in VALIDATOR_KEYS)  # key order
KEY_OF: dict[Address, bytes] = dict(zip(VALIDATORS, VALIDATOR_KEYS, strict=True))


def validator_set(indices: Iterable[int]) -> tuple[Address, ...]:
    """The sorted addresses of validators ``indices`` (as a header lists them)."""
    return tuple(sorted(VALIDATORS[i] for i in indices))


def keys_of(addresses: Iterable[Address]) -> list[bytes]:
    return [KEY_OF[a] for a in addresses]


def qbft_extra(
    validators: tuple[Address, ...], *, vote: Vote | None = None, round_: int = 0
) -> BftExtraData:
    """Unsealed extraData with a zero vanity."""
    return BftExtraData(b"\x00" * 32, validators, vote, round_, ())


def qbft_header(
    number: int,
    extra: BftExtraData,
    signers: Sequence[bytes] = (),
    *,
    parent_hash: bytes = b"\x11" * 32,
    check_order: bool = True,
    **changes: Any,
) -> Header:
    """A QBFT header carrying ``extra``, sealed by the private keys ``signers``.

    ``changes`` replace header fields before sealing. The proposer (coinbase) rotates through
    the listed validators. ``check_order=False`` builds headers with an unsorted validator list.
    """
    validators = extra.validators
    header = Header(
        parent_hash=parent_hash,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=validators[number % len(validators)] if validators else b"\x00" * 20,
        state_root=b"\x12" * 32,
        transactions_root=b"\x13" * 32,
        receipts_root=b"\x14" * 32,
        logs_bloom=b"\x00" * 256,
        difficulty=1,
        number=number,
        gas_limit=30_000_000,
        gas_used=0,
        timestamp=GENESIS_TIME + number,
        extra_data=encode_qbft_extra(extra, check_order=check_order),
        mix_hash=BFT_MIX_HASH,
        nonce=b"\x00" * 8,
        base_fee_per_gas=0,
        withdrawals_root=b"\x15" * 32,
    )
    header = dataclasses.replace(header, **changes)
    if not signers:
        return header
    # Digest from ``extra`` rather than by decoding the header: works for unsorted lists too.
    digest = qbft_hashes(header, extra)[1]
    seals = tuple(sign_commit_seal(digest, k) for k in signers)
    return with_qbft_extra(header, dataclasses.replace(extra, seals=seals), check_order=check_order)


# Besu's QBFT header rules (QbftBlockHeaderValidationRulesetFactory, QbftExtraDataCodec), shared
# by the Python and the on-chain client tests. Accepted: any vanity length and any nonce (no
# Besu rule reads them), the gas-limit range ends, the highest round. Refused: a gas limit
# outside [5000, 2^63 - 1]; a round >= 2^31 (Besu reads it into a signed int).
BESU_ACCEPTED_VARIANTS: tuple[tuple[bytes, dict[str, Any]], ...] = (
    (b"", {}),
    (b"\x01" * 33, {}),
    (b"\x02" * 1000, {}),
    (b"\x00" * 32, {"nonce": b"\xff" * 8}),
    (b"\x00" * 32, {"gas_limit": 5000, "gas_used": 0}),
    (b"\x00" * 32, {"gas_limit": 2**63 - 1}),
)
BESU_MAX_ROUND = 2**31 - 1
BESU_REFUSED_GAS_LIMITS = (0, 4999, 2**63)
BESU_REFUSED_ROUNDS = (2**31, 2**32 - 1)
