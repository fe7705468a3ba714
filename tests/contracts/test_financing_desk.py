"""Financing a receivable, delivery versus payment (``FinancingDesk``): the holder signs an
offer, a financier takes it, and the price and the receivable change hands in one transaction
with the financing recorded on the receivable: at home on the consortium ``Receivable``, and on
the public chain on a bridged ``WrappedReceivable`` (public or private copy). An offer that is
forged, expired, spent, meant for someone else, or for a receivable that may not be financed
(unacknowledged, cancelled, settled) moves nothing.

Devnet (home) -> anvil (public) with real receipt proofs (the ``World`` of
test_receivable_settlement_bridge).
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3.contract import Contract

from gateway.domain.disclosure import new_salt
from gateway.domain.typed_data import FinancingOffer, digest, financing_offer_message
from harness import Chain
from tests.contracts._assets_helpers import ALICE, BOB, MALLORY, k, logs, raw, revert_args, send
from tests.contracts.test_assets_crosschain import _side
from tests.contracts.test_receivable_privacy import PrivateWorld
from tests.contracts.test_receivable_settlement_bridge import (
    DEBTOR,
    FACE,
    FINANCIER,
    SCALE,
)

PRICE = 480_000_00 * SCALE  # 4 % below the face value
ADVANCE, DISCOUNT_BPS = 480_000_00, 400
CANCELLED = 3  # Receivable.State.Cancelled
_nonces = iter(range(1, 10**6))


class DeskWorld(PrivateWorld):
    """Both chains with a desk each; the financier holds settlement tokens on both."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.home_desk = self.home.chain.deploy("FinancingDesk")
        self.foreign_desk = self.foreign.chain.deploy("FinancingDesk")
        hc, fc = self.home.chain, self.foreign.chain
        send(hc, self.token.functions.mint(self.addr(FINANCIER), 10 * PRICE))
        send(hc, self.token.functions.approve(self.home_desk.address, 2**255), FINANCIER)
        send(hc, self.token.functions.approve(self.vault.address, 2**255), FINANCIER)
        lock = self.vault.functions.lockERC20(
            self.token.address, 4 * PRICE, self.foreign.id, self.addr(FINANCIER)
        )
        self.to_foreign(send(hc, lock, FINANCIER))
        approve = self.wrapped_token.functions.approve(self.foreign_desk.address, 2**255)
        send(fc, approve, FINANCIER)
        for chain, desk, asset in (
            (hc, self.home_desk, self.receivable),
            (fc, self.foreign_desk, self.wrapped),
        ):
            for holder in (ALICE, BOB):
                send(chain, asset.functions.setApprovalForAll(desk.address, True), holder)

    def offer(
        self,
        chain: Chain,
        desk: Contract,
        asset: Contract,
        pay_token: Contract,
        token_id: int,
        seller: int = ALICE,
        signer: int | None = None,
        **changes: Any,
    ) -> tuple[tuple[Any, ...], bytes]:
        """``seller``'s signed offer of ``token_id`` (signed by ``signer``, default the seller)."""
        fields: dict[str, Any] = {
            "asset": raw(asset.address), "token_id": token_id, "seller": raw(self.addr(seller)),
            "pay_token": raw(pay_token.address), "price": PRICE, "advance": ADVANCE,
            "discount_bps": DISCOUNT_BPS, "nonce": next(_nonces), "deadline": chain.now() + 600,
        } | changes  # fmt: skip
        offer = FinancingOffer(**fields)
        message = financing_offer_message(chain.chain_id, desk.address, offer)
        key = chain.accounts[seller if signer is None else signer].key
        return offer.as_tuple(), bytes(Account.sign_message(message, key).signature)

    def home_offer(self, token_id: int, **kw: Any) -> tuple[tuple[Any, ...], bytes]:
        return self.offer(
            self.home.chain, self.home_desk, self.receivable, self.token, token_id, **kw
        )

    def foreign_offer(self, token_id: int, **kw: Any) -> tuple[tuple[Any, ...], bytes]:
        chain, desk = self.foreign.chain, self.foreign_desk
        return self.offer(chain, desk, self.wrapped, self.wrapped_token, token_id, **kw)

    def home_balance(self, who: int) -> int:
        return int(self.token.functions.balanceOf(self.addr(who)).call())


@pytest.fixture(scope="module")
def w(anvil_chain: Chain, consortium_chain: Chain) -> DeskWorld:
    return DeskWorld(_side(consortium_chain), _side(anvil_chain))


def test_the_offer_digest_is_the_one_the_desk_checks(w: DeskWorld) -> None:
    offer, _ = w.home_offer(1)
    built = FinancingOffer(*offer[:3], offer[4], *offer[5:], buyer=offer[3])
    message = financing_offer_message(w.home.id, w.home_desk.address, built)
    assert bytes(w.home_desk.functions.offerDigest(offer).call()) == digest(message)


def test_a_financier_buys_an_acknowledged_receivable_at_a_discount_in_one_transaction(
    w: DeskWorld,
) -> None:
    token_id = w.receivable_of_alice()
    offer, signature = w.home_offer(token_id)
    alice_before, financier_before = w.home_balance(ALICE), w.home_balance(FINANCIER)

    taken = send(w.home.chain, w.home_desk.functions.finance(offer, signature), FINANCIER)

    assert w.receivable.functions.ownerOf(token_id).call() == w.addr(FINANCIER)
    assert w.home_balance(ALICE) == alice_before + PRICE
    assert w.home_balance(FINANCIER) == financier_before - PRICE
    record = w.receivable.functions.financingRecord(token_id, 0).call()
    assert tuple(record[:3]) == (w.addr(FINANCIER), ADVANCE, DISCOUNT_BPS)
    [financed] = logs(w.receivable, "Financed", taken)
    assert (financed["from"], financed["financier"]) == (w.addr(ALICE), w.addr(FINANCIER))
    [event] = logs(w.home_desk, "OfferTaken", taken)
    assert (event["tokenId"], event["price"], event["nonce"]) == (token_id, PRICE, offer[8])

    # the same offer twice: spent, nothing moves
    err = w.home.chain.expect_revert(
        w.home_desk.functions.finance(offer, signature), "OfferAlreadySpent", FINANCIER
    )
    assert revert_args(err) == (w.addr(ALICE), offer[8])


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("forged", "BadOfferSignature"),
        ("expired", "OfferExpired"),
        ("for_bob", "OfferNotForCaller"),
        ("zero_price", "ZeroPrice"),
        ("cancelled_offer", "OfferAlreadySpent"),
        ("higher_price", "BadOfferSignature"),  # a field changed after signing
    ],
)
def test_a_bad_offer_moves_neither_the_receivable_nor_the_price(
    w: DeskWorld, change: str, error: str
) -> None:
    hc = w.home.chain
    token_id = w.receivable_of_alice()
    kw: dict[str, Any] = {
        "forged": {"signer": MALLORY},
        "expired": {"deadline": hc.now() - 1},
        "for_bob": {"buyer": raw(w.addr(BOB))},
        "zero_price": {"price": 0},
    }.get(change, {})
    offer, signature = w.home_offer(token_id, **kw)
    if change == "cancelled_offer":
        send(hc, w.home_desk.functions.cancelOffer(offer[8]), ALICE)
    if change == "higher_price":
        offer = (*offer[:5], PRICE + 1, *offer[6:])
    before = (w.home_balance(ALICE), w.home_balance(FINANCIER))
    hc.expect_revert(w.home_desk.functions.finance(offer, signature), error, FINANCIER)
    assert w.receivable.functions.ownerOf(token_id).call() == w.addr(ALICE)
    assert (w.home_balance(ALICE), w.home_balance(FINANCIER)) == before


def test_an_offer_cannot_move_a_receivable_its_seller_no_longer_holds(w: DeskWorld) -> None:
    hc = w.home.chain
    token_id = w.receivable_of_alice()
    offer, signature = w.home_offer(token_id)
    # alice sells it to bob elsewhere; bob approved the desk too
    send(hc, w.receivable.functions.transferFrom(w.addr(ALICE), w.addr(BOB), token_id), ALICE)
    err = hc.expect_revert(
        w.home_desk.functions.finance(offer, signature), "SellerNotHolder", FINANCIER
    )
    assert revert_args(err) == (token_id, w.addr(ALICE), w.addr(BOB))
    assert w.receivable.functions.ownerOf(token_id).call() == w.addr(BOB)


def test_unacknowledged_cancelled_and_settled_receivables_cannot_be_financed(
    w: DeskWorld,
) -> None:
    hc = w.home.chain
    r = w.receivable.functions
    due = hc.now() + 3600
    drafted = []
    for label in ("unacknowledged", "cancelled"):
        financing = (w.addr(DEBTOR), w.addr(ALICE), FACE, b"CNY", due, k(f"desk {label} {due}"))
        send(hc, r.draft(financing), ALICE)
        drafted.append(int(r.tokenOfDocument(financing[5]).call()))
    unacknowledged, cancelled = drafted
    send(hc, r.cancel(cancelled), ALICE)
    assert r.stateOf(cancelled).call() == CANCELLED
    settled = w.receivable_of_alice()
    send(hc, r.pay(settled, FACE), DEBTOR)
    for token_id, error in (
        (unacknowledged, "ReceivableNotAcknowledged"),
        (cancelled, "ReceivableIsCancelled"),
        (settled, "ReceivableIsSettled"),
    ):
        offer, signature = w.home_offer(token_id)
        before = w.home_balance(FINANCIER)
        hc.expect_revert(w.home_desk.functions.finance(offer, signature), error, FINANCIER)
        assert w.home_balance(FINANCIER) == before  # the price did not move either
        assert r.ownerOf(token_id).call() == w.addr(ALICE)


@pytest.mark.parametrize("private", [False, True], ids=["public-copy", "private-copy"])
def test_a_bridged_copy_is_financed_on_the_public_chain_and_the_home_payment_follows_it(
    w: DeskWorld, private: bool
) -> None:
    fc = w.foreign.chain
    token_id = w.receivable_of_alice()
    if private:
        w.set_private(True)
        try:
            w.to_foreign(w.lock_private(token_id, new_salt()))
        finally:
            w.set_private(False)
    else:
        w.to_foreign(w.lock(token_id))
    assert w.wrapped.functions.isPrivate(token_id).call() is private
    offer, signature = w.foreign_offer(token_id)
    alice_before = w.wrapped_balance(ALICE)

    taken = send(fc, w.foreign_desk.functions.finance(offer, signature), FINANCIER)

    assert w.wrapped.functions.ownerOf(token_id).call() == w.addr(FINANCIER)
    assert w.wrapped_balance(ALICE) == alice_before + PRICE
    [financed] = logs(w.wrapped, "Financed", taken)
    assert (financed["financier"], financed["advance"], financed["discountBps"]) == (
        w.addr(FINANCIER), ADVANCE, DISCOUNT_BPS,
    )  # fmt: skip

    # the debtor pays at home: the financier is paid on the public chain, the copy is settled
    financier_before = w.wrapped_balance(FINANCIER)
    w.to_foreign(w.settle(token_id))
    assert w.wrapped_balance(FINANCIER) == financier_before + FACE * SCALE
    assert w.payment_of(token_id) == (FACE, True)

    # a settled copy is not financed again
    offer, signature = w.foreign_offer(token_id, seller=FINANCIER)
    send(fc, w.wrapped.functions.setApprovalForAll(w.foreign_desk.address, True), FINANCIER)
    fc.expect_revert(w.foreign_desk.functions.finance(offer, signature), "ReceivableIsSettled", BOB)
