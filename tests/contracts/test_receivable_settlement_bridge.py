"""Settlement that follows the holder: a receivable bridged from the consortium devnet to anvil
is paid at home, and the payment reaches whoever holds the wrapped copy on the public chain.

Both chains run a real ``BridgeEndpoint``, every message is delivered with a real receipt proof
(``relay`` of test_assets_crosschain). The debtor pays in the settlement token at home; the
vault forwards the payment (RECEIVABLE_PAYMENT); the gateway mints the wrapped settlement token
to the wrapped receivable's holder at delivery and records the payment on it, with whether it
settled the receivable at home (the payload's ``settled``). A payment that arrives before the
wrapped copy waits in the gateway for its mint; one that arrives after the copy left for home
goes back to the vault (its payload unchanged), which pays the home holder.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from gateway.domain.payloads import ReceivablePayment, decode_payload, encode_payload
from harness import Chain, Reverted, decode_revert
from tests.contracts._assets_helpers import (
    ADMIN,
    ALICE,
    BOB,
    ISSUER_ROLE,
    MALLORY,
    draft_acknowledged,
    encode_lock_data,
    k,
    logs,
    raw,
    revert_args,
    send,
)
from tests.contracts.test_assets_crosschain import Side, _asset_route, _side, relay

DEBTOR, FINANCIER = 5, 6
SCALE = 10**4  # settlement token units per fen
FACE = 500_000_00
DUE_IN = 120  # seconds: the clocks of both shared chains move little (kept in step)
SETTLED = 5  # Receivable.State.Settled
_labels = count()


class World:
    def __init__(self, home: Side, foreign: Side) -> None:
        hc = home.chain
        self.home, self.foreign = home, foreign
        route = _asset_route(home, foreign)
        self.vault, self.receivable, self.token = route.vault, route.receivable, route.token
        self.gateway, self.wrapped_token = route.gateway, route.wrapped_token
        self.wrapped = route.wrapped_receivable
        r = self.receivable.functions
        for call in (
            r.grantRole(ISSUER_ROLE, hc.accounts[ADMIN].address),
            r.setBridgeVault(self.vault.address, True),
            r.setSettlementToken(b"CNY", self.token.address, SCALE),
            self.token.functions.mint(hc.accounts[DEBTOR].address, 10**9 * SCALE),
        ):
            send(hc, call)
        send(hc, self.token.functions.approve(self.receivable.address, 2**255), sender=DEBTOR)

    def addr(self, i: int) -> str:
        return self.home.chain.accounts[i].address

    def receivable_of_alice(self, face: int = FACE) -> int:
        """Alice's acknowledged receivable on the debtor, due in two minutes."""
        hc = self.home.chain
        f = (
            self.addr(DEBTOR),
            self.addr(ALICE),
            face,
            b"CNY",
            hc.now() + DUE_IN,
            k(f"sb {next(_labels)}"),
        )
        return draft_acknowledged(hc, self.receivable, f)

    def lock(self, token_id: int, recipient: int = ALICE) -> Any:
        """Alice bridges ``token_id`` to ``recipient`` on the public chain (not relayed yet)."""
        safe = self.receivable.get_function_by_signature(
            "safeTransferFrom(address,address,uint256,bytes)"
        )
        data = encode_lock_data(self.foreign.id, self.addr(recipient))
        return send(
            self.home.chain, safe(self.addr(ALICE), self.vault.address, token_id, data), ALICE
        )

    def to_foreign(self, receipt: Any) -> Any:
        deliver, _ = relay(self.home, self.foreign, receipt)
        return send(self.foreign.chain, deliver)

    def to_home(self, receipt: Any) -> Any:
        deliver, _ = relay(self.foreign, self.home, receipt)
        return send(self.home.chain, deliver)

    def bridged(self, recipient: int = ALICE) -> int:
        token_id = self.receivable_of_alice()
        self.to_foreign(self.lock(token_id, recipient))
        return token_id

    def pay(self, token_id: int, amount: int) -> Any:
        return send(self.home.chain, self.receivable.functions.pay(token_id, amount), DEBTOR)

    def settle(self, token_id: int) -> Any:
        due = self.receivable.functions.financingOf(token_id).call()[4]
        hc, fc = self.home.chain, self.foreign.chain
        if hc.now() < due:
            hc.advance_time(due - hc.now() + 1)
        # keep anvil's clock with the devnet's: its light client refuses headers from the future
        if fc.now() < hc.now():
            fc.advance_time(hc.now() - fc.now())
        return send(hc, self.receivable.functions.settle(token_id), MALLORY)  # the keeper

    def wrapped_balance(self, who: int) -> int:
        return int(self.wrapped_token.functions.balanceOf(self.addr(who)).call())

    def payment_of(self, token_id: int) -> tuple[int, bool]:
        paid, settled = self.wrapped.functions.paymentOf(token_id).call()
        return int(paid), bool(settled)


@pytest.fixture(scope="module")
def w(anvil_chain: Chain, consortium_chain: Chain) -> World:
    return World(_side(consortium_chain), _side(anvil_chain))


def test_payment_reaches_the_financier_who_bought_the_wrapped_receivable(w: World) -> None:
    token_id = w.bridged(ALICE)
    fc = w.foreign.chain
    # alice sells the wrapped receivable to a financier on the public chain
    send(fc, w.wrapped.functions.transferFrom(w.addr(ALICE), w.addr(FINANCIER), token_id), ALICE)

    paid = w.pay(token_id, 100_000_00)
    [event] = logs(w.receivable, "Paid", paid)
    assert event["holder"] == w.vault.address
    [forwarded] = logs(w.vault, "PaymentForwarded", paid)
    assert forwarded["dstChainId"] == w.foreign.id
    assert forwarded["amount"] == 100_000_00 * SCALE
    delivery = w.to_foreign(paid)
    assert w.wrapped_balance(FINANCIER) == 100_000_00 * SCALE
    assert w.wrapped_balance(ALICE) == 0
    [recorded] = logs(w.wrapped, "PaymentRecorded", delivery)
    assert recorded["holder"] == w.addr(FINANCIER) and recorded["totalPaid"] == 100_000_00
    assert w.payment_of(token_id) == (100_000_00, False)
    assert w.token.functions.balanceOf(w.vault.address).call() == 100_000_00 * SCALE


def test_partial_then_full_payment_settles_the_wrapped_receivable_which_still_comes_home(
    w: World,
) -> None:
    token_id = w.bridged(FINANCIER)
    hc, fc = w.home.chain, w.foreign.chain
    w.to_foreign(w.pay(token_id, 150_000_00))
    assert w.payment_of(token_id) == (150_000_00, False)
    before = w.wrapped_balance(FINANCIER)

    settle = w.settle(token_id)
    assert w.receivable.functions.stateOf(token_id).call() == SETTLED
    delivery = w.to_foreign(settle)
    assert w.wrapped_balance(FINANCIER) == before + (FACE - 150_000_00) * SCALE
    assert w.payment_of(token_id) == (FACE, True)
    assert logs(w.wrapped, "Settled", delivery) == [{"tokenId": token_id, "totalPaid": FACE}]

    # settling twice is refused at home, and nothing more is sent
    sent = w.home.endpoint.functions.nextNonce().call()
    err = hc.expect_revert(w.receivable.functions.settle(token_id), "ReceivableIsSettled")
    assert revert_args(err) == (token_id,)
    hc.expect_revert(w.receivable.functions.pay(token_id, 1), "ReceivableIsSettled", DEBTOR)
    assert w.home.endpoint.functions.nextNonce().call() == sent

    # the settled wrapped receivable is burnt back home, and its wrapped settlement tokens too
    burn = send(
        fc,
        w.gateway.functions.burnERC721(w.wrapped.address, token_id, w.addr(FINANCIER)),
        FINANCIER,
    )
    w.to_home(burn)
    assert w.receivable.functions.ownerOf(token_id).call() == w.addr(FINANCIER)
    amount = FACE * SCALE
    home_before = w.token.functions.balanceOf(w.addr(FINANCIER)).call()
    burn = send(
        fc,
        w.gateway.functions.burnERC20(w.wrapped_token.address, amount, w.addr(FINANCIER)),
        FINANCIER,
    )
    w.to_home(burn)
    assert w.token.functions.balanceOf(w.addr(FINANCIER)).call() == home_before + amount


def test_a_payment_while_the_receivable_is_in_flight_waits_and_is_forwarded_once(w: World) -> None:
    token_id = w.receivable_of_alice()
    lock = w.lock(token_id, recipient=FINANCIER)  # the mint is not relayed yet
    paid = w.pay(token_id, 40_000_00)
    fc = w.foreign.chain
    before = w.wrapped_balance(FINANCIER)
    supply = w.wrapped_token.functions.totalSupply().call()

    # the payment overtakes the receivable: nobody is paid, it waits keyed by the home token id
    deliver, msg = relay(w.home, w.foreign, paid)
    assert decode_payload(msg.payload) == ReceivablePayment(
        raw(w.receivable.address),
        w.home.id,
        token_id,
        raw(w.token.address),
        40_000_00 * SCALE,
        40_000_00,
        False,
    )
    receipt = send(fc, deliver)
    assert logs(w.gateway, "PaymentAwaiting", receipt)[0]["amount"] == 40_000_00 * SCALE
    awaiting = w.gateway.functions.paymentAwaiting(w.wrapped.address, token_id).call()
    assert awaiting == [w.wrapped_token.address, 40_000_00 * SCALE]
    assert w.wrapped_token.functions.totalSupply().call() == supply  # nothing minted yet
    assert w.wrapped_balance(FINANCIER) == before
    assert w.payment_of(token_id) == (40_000_00, False)  # recorded, not settled: not here yet
    fc.expect_revert(deliver, "AlreadyDelivered")

    # the receivable lands: the mint forwards what waited, once
    mint = w.to_foreign(lock)
    [forwarded] = logs(w.gateway, "PaymentDelivered", mint)
    assert forwarded["holder"] == w.addr(FINANCIER) and forwarded["awaited"] is True
    assert w.wrapped_balance(FINANCIER) == before + 40_000_00 * SCALE
    assert w.gateway.functions.paymentAwaiting(w.wrapped.address, token_id).call()[1] == 0
    fc.expect_revert(deliver, "AlreadyDelivered")

    # the rest, paid now, goes straight to the holder and settles it
    w.to_foreign(w.settle(token_id))
    assert w.wrapped_balance(FINANCIER) == before + FACE * SCALE
    assert w.payment_of(token_id) == (FACE, True)


def test_a_full_payment_that_waited_settles_the_receivable_when_it_lands(w: World) -> None:
    token_id = w.receivable_of_alice()
    lock = w.lock(token_id, recipient=FINANCIER)
    before = w.wrapped_balance(FINANCIER)
    deliver, msg = relay(w.home, w.foreign, w.settle(token_id))
    payment = decode_payload(msg.payload)
    assert isinstance(payment, ReceivablePayment)
    assert (payment.total_paid, payment.settled) == (FACE, True)
    waiting = send(w.foreign.chain, deliver)
    # recorded settled (the home chain said so), announced when a holder exists: at the mint
    assert w.payment_of(token_id) == (FACE, True)
    assert logs(w.wrapped, "Settled", waiting) == []
    mint = w.to_foreign(lock)
    assert logs(w.wrapped, "Settled", mint) == [{"tokenId": token_id, "totalPaid": FACE}]
    assert w.payment_of(token_id) == (FACE, True)
    assert w.wrapped_balance(FINANCIER) == before + FACE * SCALE


def test_a_payment_delivered_after_the_settling_one_does_not_unsettle_the_copy(w: World) -> None:
    token_id = w.bridged(FINANCIER)
    before = w.wrapped_balance(FINANCIER)
    partial = w.pay(token_id, 150_000_00)
    settle = w.settle(token_id)

    # the relayer delivers the settling payment first
    delivery = w.to_foreign(settle)
    assert w.payment_of(token_id) == (FACE, True)
    assert logs(w.wrapped, "Settled", delivery) == [{"tokenId": token_id, "totalPaid": FACE}]
    late = w.to_foreign(partial)
    [recorded] = logs(w.wrapped, "PaymentRecorded", late)
    assert recorded["totalPaid"] == 150_000_00
    assert w.payment_of(token_id) == (FACE, True)  # neither the total nor settled goes back
    assert logs(w.wrapped, "Settled", late) == []  # announced once
    assert w.wrapped_balance(FINANCIER) == before + FACE * SCALE


def test_a_payment_for_a_copy_on_its_way_home_goes_back_and_pays_the_home_holder(
    w: World,
) -> None:
    token_id = w.bridged(FINANCIER)
    fc = w.foreign.chain
    carol = w.addr(BOB)
    burn = send(fc, w.gateway.functions.burnERC721(w.wrapped.address, token_id, carol), FINANCIER)
    paid = w.pay(token_id, 70_000_00)  # the release has not landed: the vault still forwards
    home_before = w.token.functions.balanceOf(carol).call()
    wrapped_supply = w.wrapped_token.functions.totalSupply().call()

    # the copy is gone: the gateway sends the payment back instead of paying anyone there
    bounce = w.to_foreign(paid)
    [returned] = logs(w.gateway, "PaymentReturned", bounce)
    assert w.wrapped_token.functions.totalSupply().call() == wrapped_supply
    # the relayer brings it home before the release: still locked, so it goes out again
    again = w.to_home(bounce)
    assert logs(w.vault, "PaymentForwarded", again)[0]["tokenId"] == token_id
    w.to_home(burn)  # the release lands: carol holds the receivable at home
    assert w.receivable.functions.ownerOf(token_id).call() == carol
    bounce = w.to_foreign(again)
    landed = w.to_home(bounce)
    [event] = logs(w.vault, "PaymentReturned", landed)
    assert event["holder"] == carol and event["amount"] == 70_000_00 * SCALE
    assert w.token.functions.balanceOf(carol).call() == home_before + 70_000_00 * SCALE
    assert w.wrapped_token.functions.totalSupply().call() == wrapped_supply
    assert returned["returnId"] != b"\0" * 32


def test_a_settling_payment_that_finds_the_copy_gone_travels_back_and_out_with_its_flag(
    w: World,
) -> None:
    token_id = w.bridged(FINANCIER)
    hc, fc = w.home.chain, w.foreign.chain
    carol = w.addr(BOB)
    burn = send(fc, w.gateway.functions.burnERC721(w.wrapped.address, token_id, carol), FINANCIER)
    deliver, forwarded = relay(w.home, w.foreign, w.settle(token_id))
    assert decode_payload(forwarded.payload) == ReceivablePayment(
        raw(w.receivable.address), w.home.id, token_id, raw(w.token.address), FACE * SCALE, FACE,
        True,
    )  # fmt: skip
    bounce = send(fc, deliver)
    assert w.payment_of(token_id) == (0, False)  # gone: nothing recorded here
    # back home and, the release not landed yet, out again: the same payment, flag and all
    deliver, returned = relay(w.foreign, w.home, bounce)
    assert returned.payload == forwarded.payload
    again = send(hc, deliver)
    deliver, reforwarded = relay(w.home, w.foreign, again)
    assert reforwarded.payload == forwarded.payload
    w.to_home(burn)
    home_before = w.token.functions.balanceOf(carol).call()
    bounce = send(fc, deliver)
    deliver, returned = relay(w.foreign, w.home, bounce)
    assert returned.payload == forwarded.payload
    landed = send(hc, deliver)
    [event] = logs(w.vault, "PaymentReturned", landed)
    assert event["holder"] == carol and event["amount"] == FACE * SCALE
    assert w.token.functions.balanceOf(carol).call() == home_before + FACE * SCALE
    assert w.receivable.functions.stateOf(token_id).call() == SETTLED


def test_a_payment_after_the_receivable_came_home_pays_the_home_holder_directly(w: World) -> None:
    token_id = w.bridged(FINANCIER)
    fc = w.foreign.chain
    burn = send(
        fc,
        w.gateway.functions.burnERC721(w.wrapped.address, token_id, w.addr(FINANCIER)),
        FINANCIER,
    )
    w.to_home(burn)
    before = w.token.functions.balanceOf(w.addr(FINANCIER)).call()
    paid = w.pay(token_id, 1_00)
    assert logs(w.vault, "PaymentForwarded", paid) == []
    assert logs(w.receivable, "Paid", paid)[0]["holder"] == w.addr(FINANCIER)
    assert w.token.functions.balanceOf(w.addr(FINANCIER)).call() == before + 1_00 * SCALE


def test_forged_and_replayed_settlement_messages_are_refused(w: World) -> None:
    token_id = w.bridged(FINANCIER)
    hc, fc = w.home.chain, w.foreign.chain
    paid = w.pay(token_id, 5_00)
    deliver, _ = relay(w.home, w.foreign, paid)
    send(fc, deliver)
    before = w.wrapped_balance(FINANCIER)
    assert revert_args(fc.expect_revert(deliver, "AlreadyDelivered"))  # replay
    assert w.wrapped_balance(FINANCIER) == before

    # the same payload sent by someone else than the vault: the gateway refuses its sender
    forged = ReceivablePayment(
        raw(w.receivable.address), w.home.id, token_id, raw(w.token.address), 10**12, FACE, True
    )
    sent = send(
        hc,
        w.home.endpoint.functions.send(w.foreign.id, w.gateway.address, encode_payload(forged)),
        MALLORY,
    )
    deliver, _ = relay(w.home, w.foreign, sent)
    with pytest.raises(Reverted) as info:
        send(fc, deliver)
    assert info.value.error == "ReceiverFailed"
    assert decode_revert(info.value.args_[1]).error == "UnknownRemote"
    # and nobody but the endpoint reaches the gateway, nor a token not locked the vault
    fc.expect_revert(
        w.gateway.functions.onMessage(
            b"\1" * 32, w.home.id, w.vault.address, encode_payload(forged)
        ),
        "NotEndpoint",
        MALLORY,
    )
    err = hc.expect_revert(
        w.vault.functions.forwardPayment(token_id, w.token.address, 10**12, FACE, True),
        "NotLockedFor",
        MALLORY,
    )
    assert revert_args(err) == (w.addr(MALLORY), token_id, 0)
    assert w.wrapped_balance(FINANCIER) == before
    assert w.payment_of(token_id) == (5_00, False)
