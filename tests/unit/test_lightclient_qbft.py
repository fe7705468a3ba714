"""QBFT light client: Besu's acceptance rules on headers sealed by deterministic validator keys,
on a real sealed Besu block, and under tampering (hypothesis mutations included)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bft import (
    Vote,
    address_of_key,
    decode_qbft_extra,
    qbft_block_hash,
    with_qbft_extra,
)
from adapters.errors import HeaderInvalid
from adapters.headers import Header, encode_header
from adapters.lightclient.qbft import (
    TrustedHeader,
    TrustPolicy,
    TrustTooLow,
    VerifiedHeader,
    trust_header,
    verify_commit_seals,
    verify_header,
    verify_next,
    verify_set_change,
    verify_skipping,
)
from adapters.types import Address
from tests.helpers.headers import (
    GENESIS_TIME,
    VALIDATOR_KEYS,
    VALIDATORS,
    keys_of,
    qbft_extra,
    qbft_header,
    validator_set,
)
from tests.helpers.mutation import mutate_bytes

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "qbft_headers.json").read_text())
OUTSIDER = keccak(b"not-a-validator")


def build_header(
    parent_number: int,
    parent_hash: bytes,
    validators: tuple[Address, ...],
    signers: list[bytes],
    *,
    round_: int = 0,
    vote: Vote | None = None,
    **changes: Any,
) -> Header:
    extra = qbft_extra(validators, vote=vote, round_=round_)
    return qbft_header(parent_number + 1, extra, signers, parent_hash=parent_hash, **changes)


def genesis(validators: tuple[Address, ...]) -> Header:
    return build_header(-1, b"\x00" * 32, validators, [])


def child(trusted: TrustedHeader, signers: list[bytes] | None = None, **kw: Any) -> Header:
    validators = kw.pop("validators", trusted.validators)
    if signers is None:
        signers = keys_of(list(validators)[:3])
    return build_header(trusted.number, trusted.hash, validators, signers, **kw)


V4 = validator_set(range(4))


@pytest.fixture
def anchor() -> TrustedHeader:
    return trust_header(genesis(V4))


# --- accepted headers --------------------------------------------------------------------------


def test_chain_of_sealed_headers_verifies_sequentially(anchor: TrustedHeader) -> None:
    trusted = anchor
    for height in range(1, 8):
        # Rotate which 3 of the 4 validators seal each block; vary the round too.
        signers = keys_of([V4[(height + i) % 4] for i in range(3)])
        header = child(trusted, signers, round_=height % 3)
        verified = verify_next(trusted, header)
        assert verified.number == height
        assert verified.hash == qbft_block_hash(header)
        assert verified.quorum == 3
        assert set(verified.signers) <= set(V4)
        trusted = verified.trusted()
    assert trusted.number == 7


def test_real_besu_block_verifies_against_its_validators() -> None:
    v = VECTORS["sealed_headers"][0]
    validators = [bytes.fromhex(a) for a in v["validators"]]
    verified = verify_commit_seals(bytes.fromhex(v["sealed_rlp"]), list(reversed(validators)))
    assert verified.commit_digest.hex() == v["commit_digest"]
    assert [s.hex() for s in verified.signers] == v["signers"]
    assert verified.quorum == 3
    assert verified.hash.hex() == v["block_hash_derived"]


def test_all_validators_sealing_is_accepted(anchor: TrustedHeader) -> None:
    verified = verify_next(anchor, child(anchor, keys_of(V4)))
    assert len(verified.signers) == 4


def test_header_bytes_and_decoded_header_verify_alike(anchor: TrustedHeader) -> None:
    header = child(anchor)
    assert verify_next(anchor, encode_header(header)) == verify_next(anchor, header)


def test_added_validator_is_accepted_through_the_skipping_rule(anchor: TrustedHeader) -> None:
    # Block 1 carries the vote; block 2 lists the enlarged set (Besu applies it after block 1).
    b1 = verify_next(anchor, child(anchor, vote=Vote(VALIDATORS[4], True)))
    v5 = validator_set(range(5))
    b2_header = child(b1.trusted(), keys_of(v5[:4]), validators=v5)
    with pytest.raises(HeaderInvalid, match="differs from the trusted set"):
        verify_next(b1.trusted(), b2_header)
    b2 = verify_header(b1.trusted(), b2_header)
    assert b2.validators == v5
    assert b2.quorum == 4
    b3 = verify_header(b2.trusted(), child(b2.trusted(), keys_of(v5[1:5])))
    assert b3.number == 3


def test_later_header_with_a_changed_set_needs_two_thirds_of_the_trusted_set(
    anchor: TrustedHeader,
) -> None:
    # Trusted set 0..3; the new set 1..5 is sealed by 1,2,3 (3 of the 4 trusted) + 4.
    new_set = validator_set(range(1, 6))
    signers = keys_of([VALIDATORS[i] for i in (1, 2, 3, 4)])
    header = build_header(40, b"\x77" * 32, new_set, signers)
    policy = TrustPolicy(trusting_period_s=3600)
    verified = verify_set_change(anchor, [header], now=GENESIS_TIME + 60, policy=policy)
    assert verified.validators == new_set
    assert verified.trusted_signers == validator_set(range(1, 4))
    assert verify_header(anchor, header).hash == verified.hash
    with pytest.raises(HeaderInvalid, match="differs from the trusted set"):
        verify_skipping(anchor, header)


# --- rejected headers --------------------------------------------------------------------------


def test_header_with_duplicate_seal_is_rejected(anchor: TrustedHeader) -> None:
    header = child(anchor, keys_of([V4[0], V4[1], V4[1]]))
    with pytest.raises(HeaderInvalid, match="duplicate commit seal") as err:
        verify_next(anchor, header)
    assert err.value.context["signer"] == V4[1]


def test_header_sealed_by_a_non_validator_is_rejected(anchor: TrustedHeader) -> None:
    header = child(anchor, [*keys_of(V4[:3]), OUTSIDER])
    with pytest.raises(HeaderInvalid, match="signer is not a validator") as err:
        verify_next(anchor, header)
    assert err.value.context["signer"] == address_of_key(OUTSIDER)


def test_header_with_too_few_seals_is_rejected(anchor: TrustedHeader) -> None:
    header = child(anchor, keys_of(V4[:2]))
    with pytest.raises(HeaderInvalid, match="too few commit seals") as err:
        verify_next(anchor, header)
    assert (err.value.context["got"], err.value.context["needed"]) == (2, 3)


def test_header_without_seals_is_rejected(anchor: TrustedHeader) -> None:
    with pytest.raises(HeaderInvalid, match="too few commit seals"):
        verify_next(anchor, child(anchor, []))


def test_seals_made_for_another_round_are_rejected(anchor: TrustedHeader) -> None:
    sealed_round_2 = child(anchor, round_=2)
    extra = decode_qbft_extra(sealed_round_2.extra_data)
    relabelled = with_qbft_extra(sealed_round_2, dataclasses.replace(extra, round=3))
    # Same block hash (round is not part of it) but the seals no longer match the digest.
    assert qbft_block_hash(relabelled) == qbft_block_hash(sealed_round_2)
    with pytest.raises(HeaderInvalid, match="signer is not a validator"):
        verify_next(anchor, relabelled)


def test_header_with_unsorted_validators_is_rejected(anchor: TrustedHeader) -> None:
    unsorted = tuple(reversed(V4))
    header = child(anchor, keys_of(V4[:3]), validators=unsorted, check_order=False)
    with pytest.raises(HeaderInvalid, match="not sorted ascending"):
        verify_next(anchor, header)


def test_header_with_wrong_parent_is_rejected(anchor: TrustedHeader) -> None:
    header = build_header(anchor.number, b"\x99" * 32, V4, keys_of(V4[:3]))
    with pytest.raises(HeaderInvalid, match="wrong parent hash"):
        verify_next(anchor, header)
    with pytest.raises(HeaderInvalid, match="wrong parent hash"):
        verify_header(anchor, header)


def test_header_at_wrong_height_is_rejected(anchor: TrustedHeader) -> None:
    header = build_header(anchor.number + 1, anchor.hash, V4, keys_of(V4[:3]))
    with pytest.raises(HeaderInvalid, match="not the child"):
        verify_next(anchor, header)
    same_height = TrustedHeader(5, anchor.hash, V4, GENESIS_TIME)
    with pytest.raises(HeaderInvalid, match="not newer"):
        verify_skipping(same_height, build_header(4, b"\x01" * 32, V4, keys_of(V4[:3])))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mix_hash": b"\x00" * 32}, "mixHash is not the BFT constant"),
        ({"difficulty": 2}, "difficulty is not 1"),
        ({"ommers_hash": b"\x01" * 32}, "header has ommers"),
        ({"coinbase": b"\x05" * 20}, "coinbase is not a validator"),
        ({"gas_used": 30_000_001}, "gasUsed exceeds gasLimit"),
    ],
)
def test_header_breaking_a_besu_field_rule_is_rejected(
    anchor: TrustedHeader, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(HeaderInvalid, match=message):
        verify_next(anchor, child(anchor, **changes))


def test_header_too_early_for_the_block_period_is_rejected(anchor: TrustedHeader) -> None:
    header = child(anchor, timestamp=GENESIS_TIME)
    assert verify_next(anchor, header).number == 1
    with pytest.raises(HeaderInvalid, match="too early"):
        verify_next(anchor, header, min_block_period_s=2)


def test_header_listing_no_validators_is_rejected(anchor: TrustedHeader) -> None:
    header = build_header(anchor.number, anchor.hash, (), [], coinbase=V4[0])
    with pytest.raises(HeaderInvalid, match="lists no validators"):
        verify_header(anchor, header)
    with pytest.raises(HeaderInvalid, match="lists no validators"):
        trust_header(header)


def test_set_change_sealed_by_a_third_of_the_trusted_set_is_too_little(
    anchor: TrustedHeader,
) -> None:
    new_set = validator_set(range(2, 7))  # shares validators 2 and 3 with the trusted 0..3
    header = build_header(10, b"\x01" * 32, new_set, keys_of(new_set[:4]))
    with pytest.raises(TrustTooLow, match="trusted validators vouch") as err:
        verify_set_change(anchor, [header])
    assert err.value.context["got"] == 2
    assert err.value.context["needed"] == 3


def test_set_change_still_needs_two_thirds_of_the_new_set(anchor: TrustedHeader) -> None:
    new_set = validator_set(range(0, 7))  # quorum(7) = 5
    header = build_header(10, b"\x01" * 32, new_set, keys_of(new_set[:4]))
    with pytest.raises(HeaderInvalid, match="too few commit seals"):
        verify_set_change(anchor, [header])


def test_skipping_rejects_seals_from_outside_the_new_set(anchor: TrustedHeader) -> None:
    new_set = validator_set(range(1, 5))
    signers = [*keys_of(new_set[:3]), VALIDATOR_KEYS[0]]  # validator 0 was dropped
    with pytest.raises(HeaderInvalid, match="signer is not a validator"):
        verify_set_change(anchor, [build_header(10, b"\x01" * 32, new_set, signers)])


def test_trusting_period_is_enforced(anchor: TrustedHeader) -> None:
    header = build_header(10, b"\x01" * 32, V4, keys_of(V4[:3]))
    with pytest.raises(HeaderInvalid, match="outside the trusting period"):
        verify_skipping(
            anchor, header, now=GENESIS_TIME + 3600, policy=TrustPolicy(trusting_period_s=3600)
        )
    with pytest.raises(HeaderInvalid, match="needs the current time"):
        verify_skipping(anchor, header, policy=TrustPolicy(trusting_period_s=3600))
    with pytest.raises(HeaderInvalid, match="in the future"):
        verify_skipping(anchor, header, now=GENESIS_TIME - 100)


def test_verify_commit_seals_rejects_a_different_validator_set() -> None:
    header = build_header(0, b"\x01" * 32, V4, keys_of(V4[:3]))
    with pytest.raises(HeaderInvalid, match="differs from the given set"):
        verify_commit_seals(header, list(validator_set(range(1, 5))))
    with pytest.raises(HeaderInvalid, match="twice"):
        verify_commit_seals(header, [*V4, V4[0]])
    with pytest.raises(HeaderInvalid, match="empty"):
        verify_commit_seals(header, [])
    with pytest.raises(HeaderInvalid, match="20-byte"):
        verify_commit_seals(header, [b"\x01" * 19])


def test_undecodable_header_is_header_invalid() -> None:
    with pytest.raises(HeaderInvalid, match="does not decode"):
        verify_commit_seals(b"\xc0", list(V4))


# --- property tests ----------------------------------------------------------------------------

SEALED = build_header(0, b"\x42" * 32, V4, keys_of(V4[:3]), round_=1)
SEALED_BYTES = encode_header(SEALED)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["flip", "truncate", "append"]),
    position=st.integers(min_value=0, max_value=10_000),
    byte=st.integers(min_value=1, max_value=255),
)
def test_any_mutation_of_a_sealed_header_is_rejected(kind: str, position: int, byte: int) -> None:
    data = mutate_bytes(SEALED_BYTES, kind, position, byte)
    # Every byte of a sealed header is either hashed into the commit digest or is a seal, so
    # no mutation can keep 3 valid distinct seals: it must be rejected, with HeaderInvalid.
    with pytest.raises(HeaderInvalid):
        verify_commit_seals(data, list(V4))


def test_unmutated_sealed_header_passes_the_property_baseline() -> None:
    assert isinstance(verify_commit_seals(SEALED_BYTES, list(V4)), VerifiedHeader)
