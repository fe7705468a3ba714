"""The receivable's lifecycle on the consortium chain (run on anvil and on the devnet).

Drafted by its creditor (or an issuer for it), acknowledged by its debtor (a transaction or an
EIP-712 signature, ERC-1271 wallets included), then financeable: assigned with financing
records, split into parts, paid in part or settled by a keeper into the holder's hands, or
defaulted after the grace period. Every refused transition has its own error.

Receivables here fall due an hour after they are drafted, and the grace period is one day, so
the clock moves little (``advance_time``) on the session's shared chains.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from adapters.mpt import keccak256
from gateway.domain.typed_data import receivable_acknowledgement_message
from tests.contracts._assets_helpers import (
    ADMIN,
    ALICE,
    ARBITER_ROLE,
    BOB,
    FOREIGN,
    ISSUER,
    MALLORY,
    AssetStack,
    deploy_asset_stack,
    draft_acknowledged,
    encode_lock_data,
    k,
    last_sent,
    logs,
    relay,
    revert_args,
    send,
)

CAROL, ARBITER = 5, 6
HOUR, DAY = 3600, 86400
GRACE = DAY
SCALE = 10**4  # settlement token units per fen (6 decimals, CNY cents)
FACE = 1_000_00
_labels = count()

# Receivable.State
NONE, DRAFTED, ACKNOWLEDGED, CANCELLED, DISPUTED, SETTLED, DEFAULTED, SPLIT = range(8)


@pytest.fixture(scope="module", params=["anvil", "consortium"])
def s(request: pytest.FixtureRequest) -> AssetStack:
    stack = deploy_asset_stack(request.getfixturevalue(f"{request.param}_chain"))
    r = stack.receivable.functions
    send(stack.chain, r.grantRole(ARBITER_ROLE, stack.chain.accounts[ARBITER].address))
    send(stack.chain, r.setGracePeriod(GRACE))
    for who in (BOB, MALLORY):
        fund(stack, who, 10**9 * SCALE)
        send(stack.chain, stack.token.functions.approve(stack.receivable.address, 2**255), who)
    return stack


# -- helpers --------------------------------------------------------------------------------


def addr(s: AssetStack, i: int) -> str:
    return s.chain.accounts[i].address


def fund(s: AssetStack, who: int, amount: int) -> None:
    send(s.chain, s.token.functions.mint(addr(s, who), amount), sender=ADMIN)


def events(s: AssetStack, name: str, receipt: Any) -> list[dict[str, Any]]:
    return logs(s.receivable, name, receipt)


def terms(
    s: AssetStack, face: int = FACE, debtor: str | None = None, currency: bytes = b"CNY"
) -> tuple[Any, ...]:
    """Bob owes alice ``face`` fen, due in an hour."""
    doc = k(f"lifecycle invoice {next(_labels)}")
    due = s.chain.now() + HOUR
    return (debtor or addr(s, BOB), addr(s, ALICE), face, currency, due, doc)


def drafted(s: AssetStack, f: tuple[Any, ...] | None = None, sender: int = ALICE) -> int:
    receipt = send(s.chain, s.receivable.functions.draft(f or terms(s)), sender=sender)
    (event,) = events(s, "Drafted", receipt)
    return int(event["tokenId"])


def acknowledged(s: AssetStack, face: int = FACE) -> tuple[int, tuple[Any, ...]]:
    f = terms(s, face)
    return draft_acknowledged(s.chain, s.receivable, f, drafter=ALICE), f


def status(s: AssetStack, token_id: int) -> dict[str, Any]:
    fields = [
        "state",
        "paid",
        "outstanding",
        "parentId",
        "financingCount",
        "draftedAt",
        "acknowledgedAt",
        "closedAt",
        "daysPastDue",
        "disputeReason",
    ]
    return dict(zip(fields, s.receivable.functions.statusOf(token_id).call(), strict=True))


def expect(s: AssetStack, call: Any, error: str, sender: int = ADMIN) -> tuple[Any, ...]:
    return revert_args(s.chain.expect_revert(call, error, sender=sender))


def transfer(s: AssetStack, token_id: int, frm: int, to: int) -> Any:
    return s.receivable.functions.transferFrom(addr(s, frm), addr(s, to), token_id)


def sign_ack(
    s: AssetStack,
    token_id: int,
    signer: int = BOB,
    deadline: int | None = None,
    nonce: int | None = None,
    face: int | None = None,
    debtor: str | None = None,
) -> tuple[int, bytes]:
    f = s.receivable.functions.financingOf(token_id).call()
    deadline = deadline if deadline is not None else s.chain.now() + HOUR
    if nonce is None:
        nonce = s.receivable.functions.nonces(debtor or f[0]).call()
    msg = receivable_acknowledgement_message(
        s.home, s.receivable.address, token_id, f[5], face or f[2], f[4], nonce, deadline
    )
    return deadline, bytes(s.chain.accounts[signer].sign_message(msg).signature)


def balance(s: AssetStack, who: int | str) -> int:
    address = addr(s, who) if isinstance(who, int) else who
    return int(s.token.functions.balanceOf(address).call())


def until_due(s: AssetStack, token_id: int, extra: int = 0) -> None:
    due = s.receivable.functions.financingOf(token_id).call()[4]
    s.chain.advance_time(max(due + extra - s.chain.now(), 1))


# -- draft ----------------------------------------------------------------------------------


def test_creditor_drafts_its_receivable_which_starts_drafted(s: AssetStack) -> None:
    f = terms(s)
    receipt = send(s.chain, s.receivable.functions.draft(f), sender=ALICE)
    (event,) = events(s, "Drafted", receipt)
    token_id = event["tokenId"]
    assert event["creditor"] == addr(s, ALICE) and event["drafter"] == addr(s, ALICE)
    assert (event["debtor"], event["faceValue"], event["dueDate"]) == (f[0], f[2], f[4])
    assert s.receivable.functions.ownerOf(token_id).call() == addr(s, ALICE)
    assert s.receivable.functions.financingOf(token_id).call() == f
    st = status(s, token_id)
    assert (st["state"], st["paid"], st["outstanding"], st["parentId"]) == (DRAFTED, 0, FACE, 0)
    assert st["draftedAt"] > 0 and st["acknowledgedAt"] == 0 and st["financingCount"] == 0


def test_an_issuer_drafts_for_the_creditor_who_receives_the_token(s: AssetStack) -> None:
    f = terms(s)
    receipt = send(s.chain, s.receivable.functions.draft(f), sender=ISSUER)
    (event,) = events(s, "Drafted", receipt)
    assert event["drafter"] == addr(s, ISSUER)
    assert s.receivable.functions.ownerOf(event["tokenId"]).call() == addr(s, ALICE)


def test_a_debtor_cannot_be_its_own_creditor(s: AssetStack) -> None:
    f = terms(s, debtor=addr(s, ALICE))
    assert expect(s, s.receivable.functions.draft(f), "InvalidFinancing", ALICE) == ("debtor",)


def test_unknown_token_has_no_status(s: AssetStack) -> None:
    assert expect(s, s.receivable.functions.statusOf(10**9), "UnknownReceivable") == (10**9,)


# -- not financeable unless acknowledged -----------------------------------------------------


def test_a_drafted_receivable_cannot_be_transferred_financed_split_or_bridged(
    s: AssetStack,
) -> None:
    token_id = drafted(s)
    r = s.receivable.functions
    err = "ReceivableNotAcknowledged"
    assert expect(s, transfer(s, token_id, ALICE, CAROL), err, ALICE) == (token_id,)
    assign = r.assignWithFinancing(addr(s, CAROL), token_id, 1, 100)
    assert expect(s, assign, err, ALICE) == (token_id,)
    assert expect(s, r.split(token_id, [1, FACE - 1]), err, ALICE) == (token_id,)
    safe = s.receivable.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")
    lock = safe(
        addr(s, ALICE), s.vault.address, token_id, encode_lock_data(FOREIGN, addr(s, ALICE))
    )
    assert expect(s, lock, err, ALICE) == (token_id,)
    send(s.chain, r.approve(s.vault.address, token_id), sender=ALICE)
    lock721 = s.vault.functions.lockERC721(s.receivable.address, token_id, FOREIGN, addr(s, ALICE))
    assert expect(s, lock721, err, ALICE) == (token_id,)
    assert expect(s, r.pay(token_id, 1), err, BOB) == (token_id,)
    assert expect(s, r.dispute(token_id, k("why")), err, BOB) == (token_id,)


# -- acknowledgement ------------------------------------------------------------------------


def test_only_the_debtor_acknowledges_and_only_once(s: AssetStack) -> None:
    token_id = drafted(s)
    r = s.receivable.functions
    for who in (ALICE, MALLORY):
        assert expect(s, r.acknowledge(token_id), "NotDebtor", who) == (token_id, addr(s, who))
    receipt = send(s.chain, r.acknowledge(token_id), sender=BOB)
    (event,) = events(s, "Acknowledged", receipt)
    assert (event["tokenId"], event["debtor"], event["bySignature"]) == (
        token_id,
        addr(s, BOB),
        False,
    )
    st = status(s, token_id)
    assert st["state"] == ACKNOWLEDGED and st["acknowledgedAt"] == event["timestamp"]
    err = "ReceivableAlreadyAcknowledged"
    assert expect(s, r.acknowledge(token_id), err, BOB) == (token_id,)
    # now it is financeable: a plain transfer is an assignment of the claim
    send(s.chain, transfer(s, token_id, ALICE, CAROL), sender=ALICE)
    assert r.ownerOf(token_id).call() == addr(s, CAROL)


def test_the_creditor_submits_the_debtors_signed_acknowledgement(s: AssetStack) -> None:
    token_id = drafted(s)
    nonce = s.receivable.functions.nonces(addr(s, BOB)).call()
    deadline, signature = sign_ack(s, token_id)
    call = s.receivable.functions.acknowledgeBySig(token_id, deadline, signature)
    receipt = send(s.chain, call, sender=ALICE)
    (event,) = events(s, "Acknowledged", receipt)
    assert event["debtor"] == addr(s, BOB) and event["bySignature"] is True
    assert status(s, token_id)["state"] == ACKNOWLEDGED
    assert s.receivable.functions.nonces(addr(s, BOB)).call() == nonce + 1
    # the contract's digest is the one the Python helper signs
    f = s.receivable.functions.financingOf(token_id).call()
    from gateway.domain.typed_data import digest

    msg = receivable_acknowledgement_message(
        s.home, s.receivable.address, token_id, f[5], f[2], f[4], nonce, deadline
    )
    on_chain = s.receivable.functions.acknowledgementDigest(token_id, nonce, deadline).call()
    assert bytes(on_chain) == digest(msg)


def test_a_replayed_acknowledgement_signature_is_refused(s: AssetStack) -> None:
    r = s.receivable.functions
    token_id = drafted(s)
    deadline, signature = sign_ack(s, token_id)
    send(s.chain, r.acknowledgeBySig(token_id, deadline, signature), sender=ALICE)
    replay = r.acknowledgeBySig(token_id, deadline, signature)
    assert expect(s, replay, "ReceivableAlreadyAcknowledged", MALLORY) == (token_id,)
    # a signature whose nonce was spent since (bob acknowledged another one) is dead
    later, other = drafted(s), drafted(s)
    deadline, signature = sign_ack(s, later)
    send(s.chain, r.acknowledge(other), sender=BOB)
    stale = r.acknowledgeBySig(later, deadline, signature)
    assert expect(s, stale, "BadAcknowledgementSignature", ALICE) == (later, addr(s, BOB))


def test_an_acknowledgement_signed_by_someone_else_or_for_other_terms_is_refused(
    s: AssetStack,
) -> None:
    r = s.receivable.functions
    token_id = drafted(s)
    deadline, forged = sign_ack(s, token_id, signer=MALLORY)
    call = r.acknowledgeBySig(token_id, deadline, forged)
    assert expect(s, call, "BadAcknowledgementSignature", ALICE) == (token_id, addr(s, BOB))
    deadline, other_face = sign_ack(s, token_id, face=FACE + 1)
    call = r.acknowledgeBySig(token_id, deadline, other_face)
    assert expect(s, call, "BadAcknowledgementSignature", ALICE) == (token_id, addr(s, BOB))
    expired, signature = sign_ack(s, token_id, deadline=s.chain.now() - 1)
    call = r.acknowledgeBySig(token_id, expired, signature)
    assert expect(s, call, "SignatureExpired", ALICE) == (expired,)
    assert status(s, token_id)["state"] == DRAFTED


def test_an_erc1271_wallet_debtor_acknowledges_by_signature(s: AssetStack) -> None:
    wallet = s.chain.deploy("HtlcTestWallet", addr(s, BOB))
    token_id = drafted(s, terms(s, debtor=wallet.address))
    r = s.receivable.functions
    deadline, signature = sign_ack(s, token_id, signer=MALLORY, debtor=wallet.address)
    call = r.acknowledgeBySig(token_id, deadline, signature)
    assert expect(s, call, "BadAcknowledgementSignature", ALICE) == (token_id, wallet.address)
    deadline, signature = sign_ack(s, token_id, signer=BOB, debtor=wallet.address)
    receipt = send(s.chain, r.acknowledgeBySig(token_id, deadline, signature), sender=ALICE)
    (event,) = events(s, "Acknowledged", receipt)
    assert event["debtor"] == wallet.address
    assert status(s, token_id)["state"] == ACKNOWLEDGED


# -- cancel and dispute ---------------------------------------------------------------------


def test_the_creditor_cancels_a_draft_which_then_goes_nowhere(s: AssetStack) -> None:
    token_id = drafted(s, sender=ISSUER)
    r = s.receivable.functions
    assert expect(s, r.cancel(token_id), "NotCreditor", ISSUER) == (addr(s, ISSUER),)
    receipt = send(s.chain, r.cancel(token_id), sender=ALICE)
    (event,) = events(s, "Cancelled", receipt)
    assert event["by"] == addr(s, ALICE)
    assert status(s, token_id)["state"] == CANCELLED
    err = "ReceivableIsCancelled"
    assert expect(s, r.acknowledge(token_id), err, BOB) == (token_id,)
    assert expect(s, transfer(s, token_id, ALICE, CAROL), err, ALICE) == (token_id,)
    assert expect(s, r.cancel(token_id), err, ALICE) == (token_id,)


def test_an_acknowledged_receivable_is_not_cancelled_by_the_creditor_alone(
    s: AssetStack,
) -> None:
    token_id, _ = acknowledged(s)
    call = s.receivable.functions.cancel(token_id)
    assert expect(s, call, "ReceivableAlreadyAcknowledged", ALICE) == (token_id,)


def test_a_dispute_freezes_the_receivable_until_the_arbiter_resolves_it(s: AssetStack) -> None:
    token_id, _ = acknowledged(s)
    r = s.receivable.functions
    reason = k("goods not delivered")
    assert expect(s, r.dispute(token_id, reason), "NotDebtor", ALICE) == (token_id, addr(s, ALICE))
    receipt = send(s.chain, r.dispute(token_id, reason), sender=BOB)
    (event,) = events(s, "Disputed", receipt)
    assert (event["debtor"], event["reasonHash"]) == (addr(s, BOB), reason)
    st = status(s, token_id)
    assert (st["state"], st["disputeReason"]) == (DISPUTED, reason)
    err = "ReceivableIsDisputed"
    assert expect(s, transfer(s, token_id, ALICE, CAROL), err, ALICE) == (token_id,)
    assert expect(s, r.pay(token_id, 1), err, BOB) == (token_id,)
    assert expect(s, r.split(token_id, [1, FACE - 1]), err, ALICE) == (token_id,)
    assert expect(s, r.dispute(token_id, reason), err, BOB) == (token_id,)
    unauthorized = expect(
        s, r.resolveDispute(token_id, ACKNOWLEDGED), "AccessControlUnauthorizedAccount", BOB
    )
    assert unauthorized == (addr(s, BOB), ARBITER_ROLE)
    assert expect(s, r.resolveDispute(token_id, SETTLED), "BadResolution", ARBITER) == (SETTLED,)

    receipt = send(s.chain, r.resolveDispute(token_id, ACKNOWLEDGED), sender=ARBITER)
    (event,) = events(s, "DisputeResolved", receipt)
    assert (event["arbiter"], event["outcome"]) == (addr(s, ARBITER), ACKNOWLEDGED)
    send(s.chain, transfer(s, token_id, ALICE, CAROL), sender=ALICE)  # financeable again

    send(s.chain, r.dispute(token_id, k("second thoughts")), sender=BOB)
    send(s.chain, r.resolveDispute(token_id, CANCELLED), sender=ARBITER)
    assert status(s, token_id)["state"] == CANCELLED
    err = "ReceivableIsCancelled"
    assert expect(s, transfer(s, token_id, CAROL, ALICE), err, CAROL) == (token_id,)
    assert expect(s, r.resolveDispute(token_id, ACKNOWLEDGED), err, ARBITER) == (token_id,)


# -- financing ------------------------------------------------------------------------------


def test_each_financed_assignment_keeps_a_record_of_financier_advance_and_discount(
    s: AssetStack,
) -> None:
    token_id, _ = acknowledged(s)
    r = s.receivable.functions
    call = r.assignWithFinancing(addr(s, CAROL), token_id, 95_000, 500)
    receipt = send(s.chain, call, sender=ALICE)
    (event,) = events(s, "Financed", receipt)
    assert (event["from"], event["financier"], event["advance"], event["discountBps"]) == (
        addr(s, ALICE),
        addr(s, CAROL),
        95_000,
        500,
    )
    assert event["index"] == 0
    assert r.ownerOf(token_id).call() == addr(s, CAROL)
    # a plain transfer keeps no record; the next financed one is the second record
    send(s.chain, transfer(s, token_id, CAROL, MALLORY), sender=CAROL)
    send(s.chain, r.assignWithFinancing(addr(s, ALICE), token_id, 97_000, 300), sender=MALLORY)
    assert status(s, token_id)["financingCount"] == 2
    first = r.financingRecord(token_id, 0).call()
    second = r.financingRecord(token_id, 1).call()
    assert tuple(first[:3]) == (addr(s, CAROL), 95_000, 500) and first[3] == event["timestamp"]
    assert tuple(second[:3]) == (addr(s, ALICE), 97_000, 300)

    too_much = r.assignWithFinancing(addr(s, CAROL), token_id, 1, 10_001)
    assert expect(s, too_much, "BadDiscount", ALICE) == (10_001,)
    not_holder = r.assignWithFinancing(addr(s, MALLORY), token_id, 1, 1)
    assert expect(s, not_holder, "ERC721InsufficientApproval", MALLORY) == (
        addr(s, MALLORY),
        token_id,
    )
    never_drafted = r.totalTokenized().call() + 1000
    missing = r.assignWithFinancing(addr(s, CAROL), never_drafted, 1, 1)
    assert expect(s, missing, "ERC721NonexistentToken", ALICE) == (never_drafted,)


# -- split ----------------------------------------------------------------------------------


def test_the_holder_splits_a_receivable_into_linked_parts_that_split_again(
    s: AssetStack,
) -> None:
    token_id, f = acknowledged(s)
    r = s.receivable.functions
    send(s.chain, transfer(s, token_id, ALICE, CAROL), sender=ALICE)
    amounts = [50_000, 30_000, 20_000]
    receipt = send(s.chain, r.split(token_id, amounts), sender=CAROL)
    (event,) = events(s, "Split", receipt)
    parts = list(event["partIds"])
    assert event["holder"] == addr(s, CAROL) and list(event["amounts"]) == amounts
    assert len(parts) == 3
    for i, (part, amount) in enumerate(zip(parts, amounts, strict=True)):
        doc = keccak256(f[5] + i.to_bytes(32, "big"))
        assert r.financingOf(part).call() == (f[0], f[1], amount, f[3], f[4], doc)
        assert r.tokenOfDocument(doc).call() == part
        assert r.ownerOf(part).call() == addr(s, CAROL)
        st = status(s, part)
        assert (st["state"], st["parentId"], st["outstanding"]) == (ACKNOWLEDGED, token_id, amount)
    assert status(s, token_id)["state"] == SPLIT
    assert r.ownerOf(token_id).call() == addr(s, CAROL)  # kept, readable, frozen
    err = "ReceivableIsSplit"
    assert expect(s, transfer(s, token_id, CAROL, ALICE), err, CAROL) == (token_id,)
    assert expect(s, r.split(token_id, amounts), err, CAROL) == (token_id,)
    assert expect(s, r.pay(token_id, 1), err, BOB) == (token_id,)

    # a part passes upstream and is split again by its new holder
    send(s.chain, r.assignWithFinancing(addr(s, MALLORY), parts[0], 48_000, 400), sender=CAROL)
    receipt = send(s.chain, r.split(parts[0], [25_000, 25_000]), sender=MALLORY)
    (event,) = events(s, "Split", receipt)
    grandchild = event["partIds"][1]
    assert status(s, grandchild)["parentId"] == parts[0]
    assert status(s, parts[0])["parentId"] == token_id


def test_a_split_whose_parts_do_not_sum_up_is_refused(s: AssetStack) -> None:
    token_id, _ = acknowledged(s)
    r = s.receivable.functions
    short = r.split(token_id, [50_000, 49_999])
    assert expect(s, short, "PartsDoNotSum", ALICE) == (token_id, 99_999, FACE)
    over = r.split(token_id, [50_000, 50_001])
    assert expect(s, over, "PartsDoNotSum", ALICE) == (token_id, 100_001, FACE)
    assert expect(s, r.split(token_id, [FACE, 0]), "ZeroPart", ALICE) == (1,)
    assert expect(s, r.split(token_id, [FACE]), "TooFewParts", ALICE) == (1,)
    assert expect(s, r.split(token_id, [1] * 33), "TooManyParts", ALICE) == (33,)
    not_holder = r.split(token_id, [50_000, 50_000])
    assert expect(s, not_holder, "NotHolder", BOB) == (token_id, addr(s, BOB))
    assert status(s, token_id)["state"] == ACKNOWLEDGED


def test_a_partly_paid_receivable_splits_its_outstanding_value(s: AssetStack) -> None:
    token_id, _ = acknowledged(s)
    r = s.receivable.functions
    send(s.chain, r.pay(token_id, 40_000), sender=BOB)
    whole = r.split(token_id, [50_000, 50_000])
    assert expect(s, whole, "PartsDoNotSum", ALICE) == (token_id, FACE, 60_000)
    receipt = send(s.chain, r.split(token_id, [35_000, 25_000]), sender=ALICE)
    (event,) = events(s, "Split", receipt)
    assert [r.financingOf(p).call()[2] for p in event["partIds"]] == [35_000, 25_000]
    assert status(s, token_id)["paid"] == 40_000


# -- payment and settlement -----------------------------------------------------------------


def test_partial_payments_go_to_whoever_holds_the_receivable(s: AssetStack) -> None:
    token_id, _ = acknowledged(s)
    r = s.receivable.functions
    send(s.chain, r.assignWithFinancing(addr(s, CAROL), token_id, 95_000, 500), sender=ALICE)
    carol = balance(s, CAROL)
    receipt = send(s.chain, r.pay(token_id, 30_000), sender=BOB)
    (paid,) = events(s, "Paid", receipt)
    assert (paid["payer"], paid["holder"], paid["amount"], paid["totalPaid"]) == (
        addr(s, BOB),
        addr(s, CAROL),
        30_000,
        30_000,
    )
    assert balance(s, CAROL) == carol + 30_000 * SCALE
    assert not events(s, "Settled", receipt)
    st = status(s, token_id)
    assert (st["state"], st["paid"], st["outstanding"]) == (ACKNOWLEDGED, 30_000, 70_000)

    assert expect(s, r.pay(token_id, 70_001), "BadPaymentAmount", BOB) == (
        token_id,
        70_001,
        70_000,
    )
    assert expect(s, r.pay(token_id, 0), "BadPaymentAmount", BOB) == (token_id, 0, 70_000)

    # the claim moves on: the next payment (by someone paying for bob) reaches the new holder
    send(s.chain, transfer(s, token_id, CAROL, ALICE), sender=CAROL)
    alice = balance(s, ALICE)
    send(s.chain, r.pay(token_id, 20_000), sender=MALLORY)
    assert balance(s, ALICE) == alice + 20_000 * SCALE
    receipt = send(s.chain, r.pay(token_id, 50_000), sender=BOB)
    (settled,) = events(s, "Settled", receipt)
    assert settled["daysPastDue"] == 0
    st = status(s, token_id)
    assert (st["state"], st["paid"], st["outstanding"]) == (SETTLED, FACE, 0)
    assert st["closedAt"] == settled["paidAt"] and st["daysPastDue"] == 0

    err = "ReceivableIsSettled"
    assert expect(s, r.pay(token_id, 1), err, BOB) == (token_id,)
    assert expect(s, r.settle(token_id), err, MALLORY) == (token_id,)
    assert expect(s, transfer(s, token_id, ALICE, CAROL), err, ALICE) == (token_id,)
    assert expect(s, r.dispute(token_id, k("late")), err, BOB) == (token_id,)


def test_the_keeper_settles_on_the_due_date_from_the_debtors_allowance_once(
    s: AssetStack,
) -> None:
    token_id, f = acknowledged(s)
    r = s.receivable.functions
    send(s.chain, r.pay(token_id, 10_000), sender=BOB)
    assert expect(s, r.settle(token_id), "NotDue", MALLORY) == (token_id, f[4])
    until_due(s, token_id)
    bob, alice = balance(s, BOB), balance(s, ALICE)
    receipt = send(s.chain, r.settle(token_id), sender=MALLORY)  # anyone: the keeper
    (paid,) = events(s, "Paid", receipt)
    assert (paid["payer"], paid["holder"], paid["amount"]) == (addr(s, BOB), addr(s, ALICE), 90_000)
    (settled,) = events(s, "Settled", receipt)
    assert settled["daysPastDue"] == 0  # on the due date (within its first day) is on time
    assert balance(s, BOB) == bob - 90_000 * SCALE
    assert balance(s, ALICE) == alice + 90_000 * SCALE
    assert expect(s, r.settle(token_id), "ReceivableIsSettled", MALLORY) == (token_id,)


def test_a_late_settlement_records_the_days_past_due(s: AssetStack) -> None:
    token_id, _ = acknowledged(s)
    until_due(s, token_id, extra=2 * DAY + HOUR)  # 2 days and an hour late: 2 days past due
    receipt = send(s.chain, s.receivable.functions.settle(token_id), sender=MALLORY)
    (settled,) = events(s, "Settled", receipt)
    assert settled["daysPastDue"] == 2
    assert status(s, token_id)["daysPastDue"] == 2


def test_an_unpaid_receivable_defaults_after_the_grace_period_and_can_still_be_paid(
    s: AssetStack,
) -> None:
    token_id, f = acknowledged(s)
    r = s.receivable.functions
    send(s.chain, r.pay(token_id, 25_000), sender=BOB)
    until_due(s, token_id, extra=HOUR)
    assert expect(s, r.markDefault(token_id), "GraceNotOver", MALLORY) == (token_id, f[4] + GRACE)
    until_due(s, token_id, extra=GRACE + 1)
    receipt = send(s.chain, r.markDefault(token_id), sender=MALLORY)
    (event,) = events(s, "Defaulted", receipt)
    assert event["outstanding"] == 75_000
    assert status(s, token_id)["state"] == DEFAULTED
    err = "ReceivableIsDefaulted"
    assert expect(s, transfer(s, token_id, ALICE, CAROL), err, ALICE) == (token_id,)
    assert expect(s, r.markDefault(token_id), err, MALLORY) == (token_id,)
    assert expect(s, r.split(token_id, [1, 74_999]), err, ALICE) == (token_id,)
    # a late recovery still reaches the holder and settles it, days past due recorded
    receipt = send(s.chain, r.settle(token_id), sender=MALLORY)
    (settled,) = events(s, "Settled", receipt)
    assert settled["daysPastDue"] == 1  # a day (the grace) and a few seconds
    assert status(s, token_id)["state"] == SETTLED


def test_a_disputed_receivable_does_not_default(s: AssetStack) -> None:
    token_id, _ = acknowledged(s)
    r = s.receivable.functions
    send(s.chain, r.dispute(token_id, k("quality")), sender=BOB)
    until_due(s, token_id, extra=GRACE + 1)
    assert expect(s, r.markDefault(token_id), "ReceivableIsDisputed", MALLORY) == (token_id,)


def test_a_currency_without_a_settlement_token_cannot_be_paid(s: AssetStack) -> None:
    f = terms(s, currency=b"USD")
    token_id = draft_acknowledged(s.chain, s.receivable, f, drafter=ALICE)
    call = s.receivable.functions.pay(token_id, 1)
    assert expect(s, call, "NoSettlementToken", BOB) == (b"USD",)


def test_only_the_admin_sets_settlement_tokens_bridge_vaults_and_the_grace_period(
    s: AssetStack,
) -> None:
    r = s.receivable.functions
    for call in (
        r.setSettlementToken(b"EUR", s.token.address, 1),
        r.setBridgeVault(addr(s, MALLORY), True),
        r.setGracePeriod(0),
    ):
        s.chain.expect_revert(call, "AccessControlUnauthorizedAccount", sender=MALLORY)
    assert expect(s, r.setSettlementToken(b"eur", s.token.address, 1), "InvalidFinancing") == (
        "currency",
    )
    assert expect(s, r.setSettlementToken(b"EUR", s.token.address, 0), "InvalidFinancing") == (
        "scale",
    )
    assert tuple(r.settlementAssetOf(b"CNY").call()) == (s.token.address, SCALE)


# -- the bridge -----------------------------------------------------------------------------


def test_a_bridged_out_receivable_is_paid_through_the_vault_and_still_comes_home(
    s: AssetStack,
) -> None:
    token_id, f = acknowledged(s)
    r = s.receivable.functions
    safe = s.receivable.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")
    lock = safe(
        addr(s, ALICE), s.vault.address, token_id, encode_lock_data(FOREIGN, addr(s, CAROL))
    )
    send(s.chain, lock, sender=ALICE)
    out = last_sent(s.endpoint)
    assert r.ownerOf(token_id).call() == s.vault.address
    # paid while bridged out: the vault keeps nothing, it forwards the payment to FOREIGN
    vault_before = s.token.functions.balanceOf(s.vault.address).call()
    send(s.chain, r.pay(token_id, 1), sender=BOB)
    payment = last_sent(s.endpoint)
    assert payment.dst_chain_id == FOREIGN and payment.receiver == s.gateway.address
    assert s.token.functions.balanceOf(s.vault.address).call() == vault_before + SCALE
    assert s.vault.functions.lockedFor(s.token.address, FOREIGN).call() >= SCALE
    assert status(s, token_id)["paid"] == 1

    # the payment lands before the receivable: it waits, and the mint forwards it to carol
    relay(s.chain, s.endpoint, payment, src_chain_id=s.home)
    relay(s.chain, s.endpoint, out, src_chain_id=s.home)
    assert s.wrapped_receivable.functions.financingOf(token_id).call() == f
    assert s.wrapped_token.functions.balanceOf(addr(s, CAROL)).call() == SCALE
    assert s.wrapped_receivable.functions.paymentOf(token_id).call() == [1, False]

    # the wrapped copy's holder comes home while the debtor disputes: the release still lands
    send(s.chain, r.dispute(token_id, k("while away")), sender=BOB)
    burn = s.gateway.functions.burnERC721(s.wrapped_receivable.address, token_id, addr(s, CAROL))
    send(s.chain, burn, sender=CAROL)
    relay(s.chain, s.endpoint, last_sent(s.endpoint), src_chain_id=FOREIGN)
    assert r.ownerOf(token_id).call() == addr(s, CAROL)
    assert status(s, token_id)["state"] == DISPUTED
