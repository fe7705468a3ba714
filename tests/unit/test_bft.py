"""QBFT / IBFT 2.0 extraData codec, hashing and seals, against golden vectors from Besu, GoQuorum
and a real sealed Besu QBFT block (tests/vectors/qbft_headers.json cites each source)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak
from eth_keys import keys
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bft import (
    MAX_QBFT_ROUND,
    SECP256K1_N,
    BftExtraData,
    Vote,
    address_of_key,
    decode_ibft2_extra,
    decode_qbft_extra,
    encode_ibft2_extra,
    encode_qbft_extra,
    ibft2_block_hash,
    ibft2_commit_digest,
    qbft_block_hash,
    qbft_commit_digest,
    qbft_hashes,
    qbft_quorum,
    recover_seal_signer,
    seal_qbft_header,
    sign_commit_seal,
    with_qbft_extra,
)
from adapters.errors import DecodeError, HeaderInvalid
from adapters.headers import Header, decode_header, encode_header, header_hash
from adapters.types import Address
from tests.helpers.headers import VALIDATOR_KEYS, qbft_extra, qbft_header, validator_set
from tests.helpers.mutation import mutate_bytes

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "qbft_headers.json").read_text())
KEYS = VALIDATOR_KEYS[:4]
ADDRESSES = validator_set(range(4))


def _vector_extra(v: dict[str, Any]) -> BftExtraData:
    vote = v["vote"]
    return BftExtraData(
        vanity=bytes.fromhex(v["vanity"]),
        validators=tuple(Address(bytes.fromhex(a)) for a in v["validators"]),
        vote=None if vote is None else Vote(Address(bytes.fromhex(vote["recipient"])), vote["add"]),
        round=v["round"],
        seals=tuple(bytes.fromhex(s) for s in v["seals"]),
    )


def make_extra(**changes: Any) -> BftExtraData:
    return dataclasses.replace(qbft_extra(ADDRESSES), **changes)


def make_header(extra: BftExtraData | None = None, number: int = 5) -> Header:
    return qbft_header(number, extra or make_extra())


# --- golden vectors ----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["qbft_extra"], ids=lambda v: v["name"])
def test_qbft_extra_golden_vector_decodes_and_re_encodes(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    decoded = decode_qbft_extra(raw, check_order=vector["sorted"])
    assert decoded == _vector_extra(vector)
    assert encode_qbft_extra(decoded, check_order=vector["sorted"]) == raw


def test_goquorum_vector_with_unsorted_validators_is_rejected_by_strict_decoding() -> None:
    vector = next(v for v in VECTORS["qbft_extra"] if v["name"] == "goquorum_extract_to_qbft_extra")
    with pytest.raises(DecodeError, match="not sorted"):
        decode_qbft_extra(bytes.fromhex(vector["hex"]))


@pytest.mark.parametrize("vector", VECTORS["ibft2_extra"], ids=lambda v: v["name"])
def test_ibft2_extra_golden_vector_decodes_and_re_encodes(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    assert decode_ibft2_extra(raw) == _vector_extra(vector)
    assert encode_ibft2_extra(_vector_extra(vector)) == raw


def test_qbft_and_ibft2_codecs_do_not_accept_each_others_round_encoding() -> None:
    ibft2 = bytes.fromhex(VECTORS["ibft2_extra"][0]["hex"])
    qbft = bytes.fromhex(VECTORS["qbft_extra"][0]["hex"])
    with pytest.raises(DecodeError, match="leading zeros"):
        decode_qbft_extra(ibft2)  # 8400fedcba
    with pytest.raises(DecodeError, match="4 bytes"):
        decode_ibft2_extra(qbft)  # 83fedcba


def test_real_besu_block_commit_digest_and_seals_reproduce() -> None:
    v = VECTORS["sealed_headers"][0]
    header = decode_header(bytes.fromhex(v["sealed_rlp"]))
    extra = decode_qbft_extra(header.extra_data)
    digest = qbft_commit_digest(header)
    # The source publishes the digest as keccak of the header with the seals emptied.
    assert digest.hex() == v["commit_digest"]
    assert keccak(bytes.fromhex(v["unsealed_rlp"])).hex() == v["commit_digest"]
    signers = [recover_seal_signer(digest, s).hex() for s in extra.seals]
    assert signers == v["signers"]
    assert set(signers) <= set(v["validators"])
    assert extra.round == v["round"] == 1


def test_real_besu_block_hash_uses_round_zero_and_no_seals() -> None:
    v = VECTORS["sealed_headers"][0]
    header = decode_header(bytes.fromhex(v["sealed_rlp"]))
    items = rlp.decode(header.extra_data)
    filtered = rlp.encode([items[0], items[1], items[2], b"", []])
    oracle = keccak(encode_header(dataclasses.replace(header, extra_data=filtered)))
    assert qbft_block_hash(header) == oracle
    assert oracle.hex() == v["block_hash_derived"]
    assert qbft_block_hash(header) != qbft_commit_digest(header)  # round 1 != round 0


# --- encoding details --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("round_", "encoded"),
    [(0, "80"), (1, "01"), (0x7F, "7f"), (0x80, "8180"), (0xFEDCBA, "83fedcba")],
)
def test_qbft_round_is_a_minimal_scalar(round_: int, encoded: str) -> None:
    raw = encode_qbft_extra(make_extra(validators=(), round=round_))
    assert raw.hex().endswith(encoded + "c0")
    assert decode_qbft_extra(raw).round == round_


def test_qbft_vote_encodings_match_besu() -> None:
    target = Address(b"\x07" * 20)
    add = encode_qbft_extra(make_extra(validators=(), vote=Vote(target, True)))
    drop = encode_qbft_extra(make_extra(validators=(), vote=Vote(target, False)))
    none = encode_qbft_extra(make_extra(validators=()))
    assert ("d794" + "07" * 20 + "81ff") in add.hex()
    assert ("d694" + "07" * 20 + "80") in drop.hex()
    assert none.hex().endswith("c0c080c0")
    assert decode_qbft_extra(add).vote == Vote(target, True)
    assert decode_qbft_extra(drop).vote == Vote(target, False)


def test_ibft2_vote_encodings_match_besu() -> None:
    target = Address(b"\x07" * 20)
    drop = encode_ibft2_extra(make_extra(validators=(), vote=Vote(target, False)))
    none = encode_ibft2_extra(make_extra(validators=()))
    assert ("d694" + "07" * 20 + "00") in drop.hex()
    assert none.hex().endswith("c0" + "80" + "8400000000" + "c0")
    assert decode_ibft2_extra(drop).vote == Vote(target, False)
    assert decode_ibft2_extra(none).vote is None


def _raw_extra(items: list[Any]) -> bytes:
    return bytes(rlp.encode(items))


VALS = [bytes(a) for a in ADDRESSES]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([b"\x00" * 32, VALS, [], b""], "5 items"),
        ([b"\x00" * 32, VALS, [], b"", [], b""], "5 items"),
        ([b"\x00" * 32, VALS, [VALS[0], b"\xaa"], b"", []], "vote type is unknown"),
        ([b"\x00" * 32, VALS, [VALS[0], b"\x00"], b"", []], "vote type is unknown"),
        ([b"\x00" * 32, VALS, [VALS[0]], b"", []], r"\[recipient, type\]"),
        ([b"\x00" * 32, VALS, [VALS[0][:19], b"\xff"], b"", []], "recipient"),
        ([b"\x00" * 32, VALS, b"", b"", []], "vote is not a list"),
        ([b"\x00" * 32, [*VALS[:3], VALS[3][:19]], [], b"", []], "20-byte"),
        ([b"\x00" * 32, [VALS[1], VALS[0]], [], b"", []], "not sorted"),
        ([b"\x00" * 32, [VALS[0], VALS[0]], [], b"", []], "twice"),
        ([b"\x00" * 32, VALS, [], b"\x00\x01", []], "leading zeros"),
        ([b"\x00" * 32, VALS, [], b"\x01" * 5, []], "too large"),
        ([b"\x00" * 32, VALS, [], [], []], "round is not a scalar"),
        ([b"\x00" * 32, VALS, [], b"", [b"\x01" * 64]], "65 bytes"),
        ([b"\x00" * 32, VALS, [], b"", b""], "seals is not a list"),
        ([[], VALS, [], b"", []], "vanity"),
    ],
)
def test_malformed_qbft_extra_is_rejected(items: list[Any], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_qbft_extra(_raw_extra(items))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([b"\x00" * 32, VALS, b"\x01", b"\x00" * 4, []], "empty or a list"),
        ([b"\x00" * 32, VALS, b"", b"\x00" * 3, []], "4 bytes"),
        ([b"\x00" * 32, VALS, [VALS[0], b""], b"\x00" * 4, []], "vote type is unknown"),
    ],
)
def test_malformed_ibft2_extra_is_rejected(items: list[Any], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_ibft2_extra(_raw_extra(items))


def test_encoder_refuses_invalid_extra() -> None:
    with pytest.raises(DecodeError, match="not sorted"):
        encode_qbft_extra(make_extra(validators=tuple(reversed(ADDRESSES))))
    with pytest.raises(DecodeError, match="65 bytes"):
        encode_qbft_extra(make_extra(seals=(b"\x01" * 64,)))
    with pytest.raises(DecodeError, match="too large"):
        encode_qbft_extra(make_extra(round=2**32))
    with pytest.raises(DecodeError, match="non-negative"):
        encode_qbft_extra(make_extra(round=-1))


# --- hashing -----------------------------------------------------------------------------------


def test_qbft_block_hash_ignores_round_and_seals_but_digest_keeps_round() -> None:
    h0 = make_header(make_extra(round=0))
    h3 = make_header(make_extra(round=3))
    sealed = seal_qbft_header(h3, KEYS[:3])
    assert qbft_block_hash(h0) == qbft_block_hash(h3) == qbft_block_hash(sealed)
    assert qbft_commit_digest(h3) == qbft_commit_digest(sealed)
    assert qbft_commit_digest(h3) != qbft_commit_digest(h0)
    assert qbft_commit_digest(h0) == qbft_block_hash(h0)  # round 0 and no seals: same bytes


def test_qbft_hashes_match_an_independent_pyrlp_construction() -> None:
    extra = make_extra(vote=Vote(Address(b"\x09" * 20), False), round=7)
    header = seal_qbft_header(make_header(extra), KEYS)
    items = rlp.decode(header.extra_data)
    block_extra = rlp.encode([items[0], items[1], items[2], b"", []])
    commit_extra = rlp.encode([items[0], items[1], items[2], items[3], []])
    assert qbft_hashes(header) == (
        keccak(encode_header(dataclasses.replace(header, extra_data=block_extra))),
        keccak(encode_header(dataclasses.replace(header, extra_data=commit_extra))),
    )


def test_ibft2_hashes_drop_round_for_block_hash_and_keep_it_for_digest() -> None:
    extra = make_extra(vote=Vote(Address(b"\x09" * 20), True), round=2, seals=(b"\x01" * 65,))
    header = dataclasses.replace(make_header(), extra_data=encode_ibft2_extra(extra))
    items = rlp.decode(header.extra_data)
    three = rlp.encode(items[:3])
    four = rlp.encode(items[:4])
    assert ibft2_block_hash(header) == keccak(
        encode_header(dataclasses.replace(header, extra_data=three))
    )
    assert ibft2_commit_digest(header) == keccak(
        encode_header(dataclasses.replace(header, extra_data=four))
    )


def test_genesis_is_hashed_raw() -> None:
    genesis = make_header(make_extra(round=0), number=0)
    assert qbft_block_hash(genesis) == header_hash(genesis)
    odd = dataclasses.replace(genesis, extra_data=b"not even rlp")
    assert qbft_block_hash(odd) == header_hash(odd)


def test_with_qbft_extra_replaces_only_extra_data() -> None:
    header = make_header()
    updated = with_qbft_extra(header, make_extra(round=9))
    assert decode_qbft_extra(updated.extra_data).round == 9
    assert dataclasses.replace(updated, extra_data=header.extra_data) == header


# --- seals -------------------------------------------------------------------------------------


def test_commit_seal_signs_the_digest_directly_and_recovers() -> None:
    digest = keccak(b"some header")
    seal = sign_commit_seal(digest, KEYS[0])
    assert len(seal) == 65 and seal[64] in (0, 1)
    assert recover_seal_signer(digest, seal) == address_of_key(KEYS[0])
    # Cross-check with eth-keys: the message hash is the digest itself, no extra hashing.
    signature = keys.Signature(seal)
    assert signature.recover_public_key_from_msg_hash(digest).to_canonical_address() == (
        address_of_key(KEYS[0])
    )


def test_seal_for_another_round_recovers_a_different_signer() -> None:
    header = make_header(make_extra(round=1))
    other_round = make_header(make_extra(round=2))
    seal = sign_commit_seal(qbft_commit_digest(other_round), KEYS[0])
    assert recover_seal_signer(qbft_commit_digest(header), seal) != address_of_key(KEYS[0])


def _with(
    seal: bytes, *, r: int | None = None, s: int | None = None, v: int | None = None
) -> bytes:
    r_bytes = seal[:32] if r is None else r.to_bytes(32, "big")
    s_bytes = seal[32:64] if s is None else s.to_bytes(32, "big")
    v_byte = seal[64:] if v is None else bytes([v])
    return r_bytes + s_bytes + v_byte


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 2}, "recovery id"),
        ({"v": 27}, "recovery id"),
        ({"r": 0}, "r is out of range"),
        ({"r": SECP256K1_N}, "r is out of range"),
        ({"s": 0}, "s is out of range"),
        ({"s": SECP256K1_N}, "s is out of range"),
    ],
)
def test_malformed_seal_is_rejected(change: dict[str, int], message: str) -> None:
    digest = keccak(b"x")
    seal = _with(sign_commit_seal(digest, KEYS[1]), **change)
    with pytest.raises(HeaderInvalid, match=message):
        recover_seal_signer(digest, seal)


def test_seal_of_wrong_length_is_rejected() -> None:
    with pytest.raises(HeaderInvalid, match="65 bytes"):
        recover_seal_signer(keccak(b"x"), b"\x01" * 64)


def test_seal_whose_r_is_not_on_the_curve_is_rejected() -> None:
    # About half of all x coordinates have no curve point; such seals must fail cleanly.
    rejected = 0
    for r in range(1, 20):
        seal = r.to_bytes(32, "big") + (7).to_bytes(32, "big") + b"\x00"
        try:
            recover_seal_signer(keccak(b"x"), seal)
        except HeaderInvalid as exc:
            assert "does not recover" in exc.message
            rejected += 1
    assert rejected > 0


@pytest.mark.parametrize(
    ("n", "quorum"),
    [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (7, 5), (10, 7), (13, 9), (16, 11), (22, 15)],
)
def test_qbft_quorum_is_ceil_two_thirds(n: int, quorum: int) -> None:
    assert qbft_quorum(n) == quorum


# --- property tests ----------------------------------------------------------------------------


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["flip", "truncate", "append"]),
    position=st.integers(min_value=0, max_value=10_000),
    byte=st.integers(min_value=1, max_value=255),
    which=st.sampled_from([v["name"] for v in VECTORS["qbft_extra"] if v["sorted"]]),
)
def test_mutated_qbft_extra_is_rejected_or_canonical(
    kind: str, position: int, byte: int, which: str
) -> None:
    vector = next(v for v in VECTORS["qbft_extra"] if v["name"] == which)
    data = mutate_bytes(bytes.fromhex(vector["hex"]), kind, position, byte)
    try:
        decoded = decode_qbft_extra(data)
    except DecodeError:
        return
    assert encode_qbft_extra(decoded) == data


@settings(max_examples=100, deadline=None)
@given(
    validators=st.lists(st.binary(min_size=20, max_size=20), unique=True, max_size=8),
    vanity=st.binary(max_size=40),
    round_=st.integers(min_value=0, max_value=MAX_QBFT_ROUND),
    vote=st.one_of(st.none(), st.tuples(st.binary(min_size=20, max_size=20), st.booleans())),
    seals=st.lists(st.binary(min_size=65, max_size=65), max_size=4),
)
def test_qbft_and_ibft2_extra_round_trip(
    validators: list[bytes],
    vanity: bytes,
    round_: int,
    vote: tuple[bytes, bool] | None,
    seals: list[bytes],
) -> None:
    extra = BftExtraData(
        vanity=vanity,
        validators=tuple(Address(v) for v in sorted(validators)),
        vote=None if vote is None else Vote(Address(vote[0]), vote[1]),
        round=round_,
        seals=tuple(seals),
    )
    assert decode_qbft_extra(encode_qbft_extra(extra)) == extra
    assert decode_ibft2_extra(encode_ibft2_extra(extra)) == extra


def test_high_s_twin_of_a_valid_seal_is_rejected_like_the_contract_does() -> None:
    digest = keccak(b"commit digest")
    seal = sign_commit_seal(digest, VALIDATOR_KEYS[0])
    r, s, v = seal[:32], int.from_bytes(seal[32:64], "big"), seal[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v ^ 1])
    assert recover_seal_signer(digest, seal) == address_of_key(VALIDATOR_KEYS[0])
    with pytest.raises(HeaderInvalid, match="upper half"):
        recover_seal_signer(digest, twin)


def test_qbft_round_beyond_besus_signed_int_does_not_decode() -> None:
    # Besu reads the round into a Java int; 2^31 and above read negative and re-encode as
    # 8 bytes in the commit digest, so Besu rejects every seal of such a header.
    extra = BftExtraData(b"", (Address(b"\x01" * 20),), None, 2**32 - 1, ())
    with pytest.raises(DecodeError, match="signed int"):
        decode_qbft_extra(encode_qbft_extra(extra))
    assert decode_ibft2_extra(encode_ibft2_extra(extra)).round == 2**32 - 1
