"""Disclosures of private receivable terms: the commitment, sealing to a recipient, opening,
verifying; forged and tampered disclosures fail (gateway.domain.disclosure)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_abi.abi import encode as abi_encode
from nacl.public import PrivateKey

from adapters.mpt import keccak256
from adapters.types import Address, Hash32
from gateway.domain.disclosure import (
    DISCLOSURE_BYTES,
    Disclosure,
    DisclosureInvalid,
    DisclosureMismatch,
    DisclosureUnreadable,
    RecipientKeyInvalid,
    check_disclosure,
    decode_disclosure,
    encode_disclosure,
    new_salt,
    open_disclosure,
    seal_disclosure,
    terms_commitment,
    verify_disclosure,
)
from gateway.domain.payloads import NO_FINANCING, Financing

DEBTOR, CREDITOR, RECEIVABLE = (Address(bytes([b]) * 20) for b in (0x11, 0x22, 0x33))
DOC = Hash32(keccak256(b"invoice 1"))
TERMS = Financing(DEBTOR, CREDITOR, 500_000_00, "CNY", 1_767_225_600, DOC)
SALT = Hash32(keccak256(b"salt"))
D = Disclosure(20250, RECEIVABLE, 7, TERMS, SALT)


def test_the_commitment_is_keccak_of_the_salt_and_all_six_terms_abi_encoded() -> None:
    encoded = abi_encode(
        ["bytes32", "address", "address", "uint128", "bytes3", "uint64", "bytes32"],
        [SALT, DEBTOR, CREDITOR, 500_000_00, b"CNY", 1_767_225_600, DOC],
    )
    assert terms_commitment(SALT, TERMS) == keccak256(encoded)
    assert D.commitment == terms_commitment(SALT, TERMS)
    # an ERC-721 without financing still commits (to zeros)
    assert terms_commitment(SALT, NO_FINANCING) != terms_commitment(SALT, TERMS)


def test_every_term_and_the_salt_change_the_commitment() -> None:
    variants = [
        replace(TERMS, debtor=CREDITOR),
        replace(TERMS, creditor=DEBTOR),
        replace(TERMS, face_value=TERMS.face_value + 1),
        replace(TERMS, currency="USD"),
        replace(TERMS, due_date=TERMS.due_date + 1),
        replace(TERMS, document_hash=Hash32(b"\0" * 32)),
    ]
    commitments = {terms_commitment(SALT, t) for t in variants}
    commitments.add(terms_commitment(new_salt(), TERMS))
    assert len(commitments) == 7 and D.commitment not in commitments


def test_a_disclosure_sealed_to_a_recipient_opens_with_its_key_and_verifies() -> None:
    recipient = PrivateKey.generate()
    box = seal_disclosure(D, bytes(recipient.public_key))
    assert len(box) == DISCLOSURE_BYTES + 48
    assert box != seal_disclosure(D, bytes(recipient.public_key))  # a fresh box each time
    opened = open_disclosure(box, bytes(recipient))
    assert opened == D
    assert opened.verify(D.commitment)
    assert verify_disclosure(D.commitment, opened.terms, opened.salt)


def test_a_forged_disclosure_fails_verification() -> None:
    commitment = D.commitment
    assert not verify_disclosure(commitment, replace(TERMS, face_value=10**12), SALT)
    assert not verify_disclosure(commitment, TERMS, new_salt())
    assert not verify_disclosure(commitment, replace(TERMS, debtor=CREDITOR), SALT)
    assert not verify_disclosure(b"\0" * 32, TERMS, SALT)  # a copy with full terms
    assert not verify_disclosure(commitment, TERMS, b"\0" * 32)  # no salt is ever zero
    assert not verify_disclosure(commitment[:31], TERMS, SALT)
    # sealing forged terms does not make them verify
    recipient = PrivateKey.generate()
    forged = replace(D, terms=replace(TERMS, face_value=10**12))
    opened = open_disclosure(seal_disclosure(forged, bytes(recipient.public_key)), bytes(recipient))
    assert not opened.verify(commitment)


@pytest.mark.parametrize("position", [0, 31, 32, 100, -17, -1])
def test_a_tampered_box_does_not_open(position: int) -> None:
    recipient = PrivateKey.generate()
    box = bytearray(seal_disclosure(D, bytes(recipient.public_key)))
    box[position] ^= 0x01
    with pytest.raises(DisclosureUnreadable):
        open_disclosure(bytes(box), bytes(recipient))


def test_a_box_does_not_open_for_another_key_or_a_bad_key() -> None:
    box = seal_disclosure(D, bytes(PrivateKey.generate().public_key))
    with pytest.raises(DisclosureUnreadable):
        open_disclosure(box, bytes(PrivateKey.generate()))
    with pytest.raises(DisclosureUnreadable):
        open_disclosure(box, b"\1" * 31)
    with pytest.raises(DisclosureUnreadable):
        open_disclosure(box[:40], bytes(PrivateKey.generate()))


def test_recipient_keys_must_be_usable_x25519_keys() -> None:
    with pytest.raises(RecipientKeyInvalid):
        seal_disclosure(D, b"\1" * 31)
    with pytest.raises(RecipientKeyInvalid):
        seal_disclosure(D, b"\0" * 32)  # a low-order point


def test_the_encoding_is_canonical_and_strict() -> None:
    data = encode_disclosure(D)
    assert len(data) == DISCLOSURE_BYTES and decode_disclosure(data) == D
    with pytest.raises(DisclosureInvalid):
        decode_disclosure(data[:-1])
    with pytest.raises(DisclosureInvalid):
        decode_disclosure(b"\0" + data[1:])  # not the tag
    with pytest.raises(DisclosureInvalid):
        decode_disclosure(data[: 2 * 32 + 1] + b"\1" + data[2 * 32 + 2 :])  # address padding
    with pytest.raises(DisclosureInvalid):
        decode_disclosure(data[: 8 * 32] + b"cny" + data[8 * 32 + 3 :])  # currency rule


def test_a_disclosure_needs_a_salt_and_valid_fields() -> None:
    with pytest.raises(DisclosureInvalid):
        Disclosure(20250, RECEIVABLE, 7, TERMS, Hash32(b"\0" * 32))
    with pytest.raises(DisclosureInvalid):
        Disclosure(-1, RECEIVABLE, 7, TERMS, SALT)
    with pytest.raises(DisclosureInvalid):
        Disclosure(20250, Address(b"\1" * 19), 7, TERMS, SALT)
    with pytest.raises(DisclosureInvalid):
        terms_commitment(b"short", TERMS)


def test_fresh_salts_are_32_random_non_zero_bytes() -> None:
    salts = {new_salt() for _ in range(64)}
    assert len(salts) == 64 and all(len(s) == 32 and any(s) for s in salts)


def test_a_disclosure_holds_only_for_its_own_token_home_and_commitment() -> None:
    def check(d: Disclosure, commitment: bytes | None = D.commitment) -> DisclosureMismatch | None:
        return check_disclosure(
            d, home_chain_id=20250, receivable=RECEIVABLE, token_id=7, commitment=commitment
        )

    assert check(D) is None
    assert check(D, None) is check(D, bytes(32)) is DisclosureMismatch.NOT_PRIVATE
    assert check(replace(D, home_chain_id=1)) is DisclosureMismatch.OTHER_HOME
    assert check(replace(D, receivable=DEBTOR)) is DisclosureMismatch.OTHER_HOME
    assert check(replace(D, token_id=8)) is DisclosureMismatch.OTHER_TOKEN
    assert check(replace(D, salt=new_salt())) is DisclosureMismatch.COMMITMENT_MISMATCH
    forged = replace(D, terms=replace(TERMS, face_value=1))
    assert check(forged) is DisclosureMismatch.COMMITMENT_MISMATCH
