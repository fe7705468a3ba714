"""Private terms on public chains: over a route with private terms (``AssetVault.privateTerms``)
a receivable reaches the public chain with only a salted commitment to its terms; its holder
discloses the terms (sealed to a chosen party's X25519 key) and anyone checks the disclosure
against the commitment on chain. Public routes keep the full metadata. Payments reach and settle
a private copy as any other: whether a payment settled the receivable travels in its payload.

Devnet (home) -> anvil (public) with real receipt proofs (the ``World`` of
test_receivable_settlement_bridge, its own contracts).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from nacl.public import PrivateKey

from adapters.types import Address, Hash32
from gateway.domain.disclosure import (
    Disclosure,
    DisclosureUnreadable,
    new_salt,
    open_disclosure,
    seal_disclosure,
    terms_commitment,
    verify_disclosure,
)
from gateway.domain.payloads import (
    Erc721PrivateTransfer,
    Financing,
    ReceivablePayment,
    decode_payload,
)
from harness import Chain
from tests.contracts._assets_helpers import (
    ALICE,
    BOB,
    COMMITMENT_CASES,
    MALLORY,
    logs,
    raw,
    revert_args,
    send,
)
from tests.contracts.test_assets_crosschain import _side, relay
from tests.contracts.test_receivable_settlement_bridge import (
    DEBTOR,
    FACE,
    FINANCIER,
    SCALE,
    World,
)


class PrivateWorld(World):
    def set_private(self, enabled: bool) -> None:
        send(self.home.chain, self.vault.functions.setPrivateTerms(self.foreign.id, enabled))

    def lock_private(self, token_id: int, salt: bytes, recipient: int = ALICE) -> Any:
        """Alice bridges ``token_id`` over the private route, in one safeTransferFrom."""
        safe = self.receivable.get_function_by_signature(
            "safeTransferFrom(address,address,uint256,bytes)"
        )
        data = abi_encode(
            ["uint256", "address", "bytes32"], [self.foreign.id, self.addr(recipient), salt]
        )
        return send(
            self.home.chain, safe(self.addr(ALICE), self.vault.address, token_id, data), ALICE
        )

    def terms(self, token_id: int) -> Financing:
        d, c, face, currency, due, doc = self.receivable.functions.financingOf(token_id).call()
        return Financing(raw(d), raw(c), face, currency.rstrip(b"\0").decode(), due, Hash32(doc))

    def disclosure(self, token_id: int, salt: bytes) -> Disclosure:
        return Disclosure(
            self.home.id, raw(self.receivable.address), token_id, self.terms(token_id), Hash32(salt)
        )


@pytest.fixture(scope="module")
def w(anvil_chain: Chain, consortium_chain: Chain) -> PrivateWorld:
    world = PrivateWorld(_side(consortium_chain), _side(anvil_chain))
    world.set_private(True)
    return world


def _all_log_bytes(receipt: Any) -> bytes:
    return b"".join(
        b"".join(bytes(t) for t in log["topics"]) + bytes(log["data"]) for log in receipt["logs"]
    )


def test_a_receivable_over_a_private_route_carries_only_a_commitment_to_the_public_chain(
    w: PrivateWorld,
) -> None:
    token_id = w.receivable_of_alice()
    terms = w.terms(token_id)
    salt = new_salt()
    lock = w.lock_private(token_id, salt, recipient=FINANCIER)
    deliver, msg = relay(w.home, w.foreign, lock)

    commitment = terms_commitment(salt, terms)
    assert decode_payload(msg.payload) == Erc721PrivateTransfer(
        raw(w.receivable.address), w.home.id, raw(w.addr(FINANCIER)), token_id, commitment
    )
    secrets = [terms.debtor, terms.creditor, terms.document_hash, salt]
    secrets.append(terms.face_value.to_bytes(32, "big"))
    assert not any(s in msg.payload for s in secrets)

    mint = send(w.foreign.chain, deliver)
    assert not any(s in _all_log_bytes(mint) for s in secrets)  # Minted, Transfer, Delivered
    wr = w.wrapped.functions
    assert wr.ownerOf(token_id).call() == w.addr(FINANCIER)
    assert wr.isPrivate(token_id).call() is True
    assert wr.commitmentOf(token_id).call() == commitment
    err = w.foreign.chain.expect_revert(wr.financingOf(token_id), "TermsArePrivate")
    assert revert_args(err) == (token_id, commitment)
    assert w.payment_of(token_id) == (0, False)
    # the home terms are what the commitment binds
    assert verify_disclosure(wr.commitmentOf(token_id).call(), terms, salt)


def test_a_disclosure_sealed_to_a_financier_opens_and_matches_the_commitment_on_chain(
    w: PrivateWorld,
) -> None:
    token_id = w.receivable_of_alice()
    salt = new_salt()
    w.to_foreign(w.lock_private(token_id, salt))
    financier = PrivateKey.generate()

    box = seal_disclosure(w.disclosure(token_id, salt), bytes(financier.public_key))
    opened = open_disclosure(box, bytes(financier))  # what the financier does

    on_chain = w.wrapped.functions.commitmentOf(token_id).call()
    assert opened.verify(on_chain)
    assert (opened.home_chain_id, opened.receivable, opened.token_id) == (
        w.home.id,
        raw(w.wrapped.functions.homeToken().call()),
        token_id,
    )
    assert opened.terms.face_value == FACE and opened.terms.debtor == raw(w.addr(DEBTOR))


def test_a_forged_disclosure_fails_verification(w: PrivateWorld) -> None:
    token_id = w.receivable_of_alice()
    salt = new_salt()
    w.to_foreign(w.lock_private(token_id, salt))
    on_chain = w.wrapped.functions.commitmentOf(token_id).call()
    real = w.disclosure(token_id, salt)
    assert real.verify(on_chain)

    inflated = replace(real, terms=replace(real.terms, face_value=FACE * 10))
    other_salt = replace(real, salt=new_salt())
    other_debtor = replace(real, terms=replace(real.terms, debtor=Address(b"\x42" * 20)))
    later = replace(real, terms=replace(real.terms, due_date=real.terms.due_date + 86_400))
    for forged in (inflated, other_salt, other_debtor, later):
        assert not forged.verify(on_chain)
    # a holder cannot pass off another receivable's real disclosure either
    other_id = w.receivable_of_alice()
    other_salt_value = new_salt()
    w.to_foreign(w.lock_private(other_id, other_salt_value))
    assert not w.disclosure(other_id, other_salt_value).verify(on_chain)

    # a forged box: sealed well, but to the commitment it does not open to the right terms
    financier = PrivateKey.generate()
    opened = open_disclosure(
        seal_disclosure(inflated, bytes(financier.public_key)), bytes(financier)
    )
    assert not opened.verify(on_chain)
    # a box for someone else, or altered, does not open at all
    box = bytearray(seal_disclosure(real, bytes(financier.public_key)))
    with pytest.raises(DisclosureUnreadable):
        open_disclosure(bytes(box), bytes(PrivateKey.generate()))
    box[-1] ^= 1
    with pytest.raises(DisclosureUnreadable):
        open_disclosure(bytes(box), bytes(financier))


def test_a_public_route_still_carries_the_full_terms(w: PrivateWorld) -> None:
    hc = w.home.chain
    try:
        w.set_private(False)
        token_id = w.receivable_of_alice()
        terms = w.terms(token_id)
        # a salted lock would publish what its caller meant to hide: refused
        send(hc, w.receivable.functions.approve(w.vault.address, token_id), ALICE)
        err = hc.expect_revert(
            w.vault.functions.lockERC721Private(
                w.receivable.address, token_id, w.foreign.id, w.addr(ALICE), new_salt()
            ),
            "TermsNotPrivate",
            ALICE,
        )
        assert revert_args(err) == (w.foreign.id,)
        w.to_foreign(w.lock(token_id))
        wr = w.wrapped.functions
        assert wr.isPrivate(token_id).call() is False
        assert wr.commitmentOf(token_id).call() == b"\0" * 32
        f = wr.financingOf(token_id).call()
        assert (raw(f[0]), raw(f[1]), f[2], f[4]) == (
            terms.debtor,
            terms.creditor,
            terms.face_value,
            terms.due_date,
        )
    finally:
        w.set_private(True)
    # and back on the private route, a lock without a salt is refused
    token_id = w.receivable_of_alice()
    err = hc.expect_revert(
        w.receivable.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")(
            w.addr(ALICE),
            w.vault.address,
            token_id,
            abi_encode(["uint256", "address"], [w.foreign.id, w.addr(ALICE)]),
        ),
        "SaltRequired",
        ALICE,
    )
    send(hc, w.receivable.functions.approve(w.vault.address, token_id), ALICE)
    assert revert_args(err) == (w.foreign.id,)
    hc.expect_revert(
        w.vault.functions.lockERC721Private(
            w.receivable.address, token_id, w.foreign.id, w.addr(ALICE), b"\0" * 32
        ),
        "SaltRequired",
        ALICE,
    )
    hc.expect_revert(
        w.vault.functions.setPrivateTerms(w.foreign.id, False),
        "AccessControlUnauthorizedAccount",
        MALLORY,
    )


def test_payments_reach_the_holder_of_a_private_copy_which_comes_home(w: PrivateWorld) -> None:
    token_id = w.receivable_of_alice()
    salt = new_salt()
    send(w.home.chain, w.receivable.functions.approve(w.vault.address, token_id), ALICE)
    lock = send(
        w.home.chain,
        w.vault.functions.lockERC721Private(
            w.receivable.address, token_id, w.foreign.id, w.addr(FINANCIER), salt
        ),
        ALICE,
    )
    w.to_foreign(lock)
    before = w.wrapped_balance(FINANCIER)
    partial = w.to_foreign(w.pay(token_id, 100_000_00))
    assert w.wrapped_balance(FINANCIER) == before + 100_000_00 * SCALE
    assert w.payment_of(token_id) == (100_000_00, False)
    assert logs(w.wrapped, "Settled", partial) == []
    delivery = w.to_foreign(w.settle(token_id))
    assert w.wrapped_balance(FINANCIER) == before + FACE * SCALE
    # the face value is not on this chain, but the home chain says the payment settled it
    assert w.payment_of(token_id) == (FACE, True)
    assert logs(w.wrapped, "Settled", delivery) == [{"tokenId": token_id, "totalPaid": FACE}]
    assert w.disclosure(token_id, salt).terms.face_value == w.payment_of(token_id)[0]
    assert w.wrapped.functions.isPrivate(token_id).call() is True

    # the private copy comes home like any other
    fc = w.foreign.chain
    carol = w.addr(BOB)
    burn = send(fc, w.gateway.functions.burnERC721(w.wrapped.address, token_id, carol), FINANCIER)
    w.to_home(burn)
    assert w.receivable.functions.ownerOf(token_id).call() == carol
    assert w.vault.functions.lockedTo(w.receivable.address, token_id).call() == 0
    fc.expect_revert(w.wrapped.functions.commitmentOf(token_id), "UnknownReceivable")


def test_a_private_copy_paid_while_in_flight_is_settled_at_its_mint_whatever_the_order(
    w: PrivateWorld,
) -> None:
    token_id = w.receivable_of_alice()
    lock = w.lock_private(token_id, new_salt(), recipient=FINANCIER)  # not relayed yet
    before = w.wrapped_balance(FINANCIER)
    partial = w.pay(token_id, 100_000_00)
    deliver, msg = relay(w.home, w.foreign, w.settle(token_id))
    payment = decode_payload(msg.payload)
    assert isinstance(payment, ReceivablePayment) and payment.settled is True

    # the settling payment overtakes both the partial one and the mint: it waits, settled
    waiting = send(w.foreign.chain, deliver)
    assert logs(w.gateway, "PaymentAwaiting", waiting)[0]["amount"] == (FACE - 100_000_00) * SCALE
    assert logs(w.wrapped, "Settled", waiting) == []  # nobody holds it yet
    assert w.payment_of(token_id) == (FACE, True)
    late = w.to_foreign(partial)  # the earlier payment, delivered later, unsettles nothing
    assert logs(w.wrapped, "Settled", late) == []
    assert w.payment_of(token_id) == (FACE, True)

    mint = w.to_foreign(lock)
    assert w.wrapped.functions.isPrivate(token_id).call() is True
    assert logs(w.wrapped, "Settled", mint) == [{"tokenId": token_id, "totalPaid": FACE}]
    [delivered] = logs(w.gateway, "PaymentDelivered", mint)
    assert delivered["awaited"] is True and delivered["amount"] == FACE * SCALE
    assert w.wrapped_balance(FINANCIER) == before + FACE * SCALE
    assert w.payment_of(token_id) == (FACE, True)


def test_the_contract_commitment_is_the_python_commitment(w: PrivateWorld) -> None:
    harness = w.home.chain.deploy("AssetsPayloadHarness")
    for _, salt, terms in COMMITMENT_CASES:
        financing = (
            w.home.chain.w3.to_checksum_address(terms.debtor),
            w.home.chain.w3.to_checksum_address(terms.creditor),
            terms.face_value,
            terms.currency.encode().ljust(3, b"\0"),
            terms.due_date,
            terms.document_hash,
        )
        assert harness.functions.termsCommitment(salt, financing).call() == terms_commitment(
            salt, terms
        )


def test_a_copy_that_was_private_shows_full_terms_after_a_public_trip_and_back(
    w: PrivateWorld,
) -> None:
    token_id = w.receivable_of_alice()
    salt = new_salt()
    fc = w.foreign.chain
    w.to_foreign(w.lock_private(token_id, salt))
    home_again = send(
        fc, w.gateway.functions.burnERC721(w.wrapped.address, token_id, w.addr(ALICE)), ALICE
    )
    w.to_home(home_again)
    try:
        w.set_private(False)
        w.to_foreign(w.lock(token_id))
        assert w.wrapped.functions.isPrivate(token_id).call() is False
        assert w.wrapped.functions.financingOf(token_id).call()[2] == FACE
    finally:
        w.set_private(True)
    burn = send(
        fc, w.gateway.functions.burnERC721(w.wrapped.address, token_id, w.addr(ALICE)), ALICE
    )
    w.to_home(burn)
    salt2 = new_salt()
    w.to_foreign(w.lock_private(token_id, salt2))
    commitment = w.wrapped.functions.commitmentOf(token_id).call()
    assert commitment == terms_commitment(salt2, w.terms(token_id))
    fc.expect_revert(w.wrapped.functions.financingOf(token_id), "TermsArePrivate")
