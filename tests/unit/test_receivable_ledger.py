"""The Receivable contract's events folded into scoring records offline
(gateway.domain.receivable_ledger): each lifecycle event lands in its record with its block's
time, split parts become records of their own linked to the parent, the order is the chain's
whatever order the logs arrive in, and sequences the contract cannot emit are refused."""

from __future__ import annotations

import random
from typing import Any

import pytest

from adapters.types import Address, Height
from gateway.domain.credit_score import (
    Financing,
    Payment,
    ReceivableRecord,
    TokenId,
    score_subject,
)
from gateway.domain.receivable_ledger import (
    LedgerEvent,
    LedgerInvalid,
    ReceivableState,
    fold_receivable_events,
)

DAY = 86_400
T0 = 1_700_000_000
CREDITOR, DEBTOR, FINANCIER = (Address(bytes([b]) * 20) for b in (0x11, 0x22, 0x33))


class Log:
    """Events as the chain emits them: one block per event unless told, block time 12 s."""

    def __init__(self) -> None:
        self.events: list[LedgerEvent] = []
        self.block = 100

    def emit(self, name: str, same_block: bool = False, at: int | None = None, **args: Any) -> int:
        if not same_block:
            self.block += 1
        index = sum(1 for e in self.events if e.block_number == self.block)
        time = at if at is not None else T0 + (self.block - 100) * 12
        self.events.append(LedgerEvent(name, args, Height(self.block), index, time))
        return time

    def draft(self, token: int, face: int = 1_000, due: int = T0 + 30 * DAY, **over: Any) -> int:
        args = {
            "tokenId": token,
            "documentHash": bytes([token]) * 32,
            "creditor": CREDITOR,
            "debtor": DEBTOR,
            "faceValue": face,
            "currency": b"CNY",
            "dueDate": due,
            "drafter": CREDITOR,
        }
        return self.emit("Drafted", **{**args, **over})

    def acknowledge(self, token: int, **kw: Any) -> int:
        return self.emit("Acknowledged", tokenId=token, debtor=DEBTOR, bySignature=False, **kw)

    def pay(self, token: int, amount: int, total: int, settles: bool = False) -> int:
        at = self.emit(
            "Paid", tokenId=token, payer=DEBTOR, holder=CREDITOR, amount=amount, totalPaid=total
        )
        if settles:
            self.emit("Settled", same_block=True, tokenId=token, paidAt=at, daysPastDue=0)
        return at


def test_a_paid_receivable_becomes_one_record_with_its_blocks_times() -> None:
    log = Log()
    drafted = log.draft(1)
    acknowledged = log.acknowledge(1)
    first = log.pay(1, 400, 400)
    settled = log.pay(1, 600, 1_000, settles=True)
    (record,) = fold_receivable_events(log.events)
    assert record == ReceivableRecord(
        token_id=TokenId(1),
        creditor=CREDITOR,
        debtor=DEBTOR,
        face_value=1_000,
        currency="CNY",
        due_at=T0 + 30 * DAY,
        drafted_at=drafted,
        acknowledged_at=acknowledged,
        payments=(Payment(first, 400), Payment(settled, 600)),
        settled_at=settled,
    )


def test_financing_dispute_cancel_and_default_are_recorded() -> None:
    log = Log()
    log.draft(1)
    log.acknowledge(1)
    financed = log.emit(
        "Financed",
        tokenId=1,
        **{"from": CREDITOR},
        financier=FINANCIER,
        advance=900,
        discountBps=1_000,
        index=0,
    )
    disputed = log.emit("Disputed", tokenId=1, debtor=DEBTOR, reasonHash=b"\0" * 32)
    log.emit("DisputeResolved", tokenId=1, arbiter=FINANCIER, outcome=ReceivableState.ACKNOWLEDGED)
    defaulted = log.emit("Defaulted", tokenId=1, outstanding=1_000)
    log.draft(2)
    cancelled = log.emit("Cancelled", tokenId=2, by=CREDITOR)
    log.draft(3)
    log.acknowledge(3)
    log.emit("Disputed", tokenId=3, debtor=DEBTOR, reasonHash=b"\1" * 32)
    resolved = log.emit(
        "DisputeResolved", tokenId=3, arbiter=FINANCIER, outcome=ReceivableState.CANCELLED
    )
    one, two, three = fold_receivable_events(log.events)
    assert one.financings == (Financing(FINANCIER, 900, 1_000, financed),)
    assert (one.disputed_at, one.defaulted_at, one.cancelled_at) == (disputed, defaulted, None)
    assert (two.cancelled_at, two.acknowledged_at) == (cancelled, None)
    assert three.cancelled_at == resolved


def test_a_defaulted_receivable_stays_payable_and_settles_late() -> None:
    log = Log()
    log.draft(1)
    log.acknowledge(1)
    log.emit("Defaulted", tokenId=1, outstanding=1_000)
    settled = log.pay(1, 1_000, 1_000, settles=True)
    (record,) = fold_receivable_events(log.events)
    assert record.defaulted_at is not None and record.settled_at == settled


def test_split_parts_are_records_of_their_own_linked_to_the_parent() -> None:
    log = Log()
    log.draft(1, face=1_000)
    log.acknowledge(1)
    log.pay(1, 100, 100)
    at = log.emit("Split", tokenId=1, holder=CREDITOR, partIds=(2, 3), amounts=(300, 600))
    log.pay(3, 600, 600, settles=True)
    parent, part, other = fold_receivable_events(log.events)
    assert parent.token_id == 1 and parent.payments[0].amount == 100
    assert (part.parent_id, part.face_value, part.drafted_at, part.acknowledged_at) == (
        1,
        300,
        at,
        at,
    )
    assert (part.creditor, part.debtor, part.due_at) == (CREDITOR, DEBTOR, parent.due_at)
    assert other.settled_at is not None and part.settled_at is None


def test_the_fold_follows_block_and_log_order_whatever_the_input_order() -> None:
    log = Log()
    for token in (1, 2, 3):
        log.draft(token)
        log.acknowledge(token)
        log.pay(token, 1_000, 1_000, settles=True)
    shuffled = list(log.events)
    random.Random(7).shuffle(shuffled)
    assert fold_receivable_events(shuffled) == fold_receivable_events(log.events)


def test_the_records_feed_the_scoring_model() -> None:
    log = Log()
    log.draft(1)
    log.acknowledge(1)
    records = fold_receivable_events(log.events)
    score = score_subject(DEBTOR, records, block=Height(log.block), as_of=log.events[-1].timestamp)
    assert score.grade == "insufficient-history"
    assert score.excluded_closed == 1  # a creditor trading with the subject alone


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown token", "never drafted"),
        ("acknowledged twice", "acknowledged twice"),
        ("drafted twice", "drafted twice"),
        ("paid while drafted", "state DRAFTED"),
        ("overpaid", "beyond the outstanding"),
        ("total mismatch", "totalPaid"),
        ("settled unpaid", "paid in full"),
        ("cancelled after acknowledgement", "state ACKNOWLEDGED"),
        ("acknowledged by another", "another address"),
        ("split not summing", "do not sum"),
        ("split onto an existing token", "already exists"),
        ("unknown event", "not a Receivable lifecycle event"),
        ("same position twice", "two logs at one position"),
        ("bad resolution", "neither"),
    ],
)
def test_sequences_the_contract_cannot_emit_are_refused(case: str, message: str) -> None:
    log = Log()
    log.draft(1)
    if case == "unknown token":
        log.acknowledge(9)
    elif case == "acknowledged twice":
        log.acknowledge(1)
        log.acknowledge(1)
    elif case == "drafted twice":
        log.draft(1)
    elif case == "paid while drafted":
        log.pay(1, 10, 10)
    elif case == "overpaid":
        log.acknowledge(1)
        log.pay(1, 1_001, 1_001)
    elif case == "total mismatch":
        log.acknowledge(1)
        log.pay(1, 10, 20)
    elif case == "settled unpaid":
        log.acknowledge(1)
        log.emit("Settled", tokenId=1, paidAt=T0, daysPastDue=0)
    elif case == "cancelled after acknowledgement":
        log.acknowledge(1)
        log.emit("Cancelled", tokenId=1, by=CREDITOR)
    elif case == "acknowledged by another":
        log.emit("Acknowledged", tokenId=1, debtor=FINANCIER, bySignature=True)
    elif case == "split not summing":
        log.acknowledge(1)
        log.emit("Split", tokenId=1, holder=CREDITOR, partIds=(2, 3), amounts=(1, 2))
    elif case == "split onto an existing token":
        log.draft(2)
        log.acknowledge(1)
        log.emit("Split", tokenId=1, holder=CREDITOR, partIds=(2, 3), amounts=(500, 500))
    elif case == "unknown event":
        log.emit("Transfer", tokenId=1)
    elif case == "same position twice":
        log.events.append(log.events[0])
    elif case == "bad resolution":
        log.acknowledge(1)
        log.emit("Disputed", tokenId=1, debtor=DEBTOR, reasonHash=b"\0" * 32)
        log.emit("DisputeResolved", tokenId=1, arbiter=FINANCIER, outcome=ReceivableState.SETTLED)
    with pytest.raises(LedgerInvalid, match=message) as caught:
        fold_receivable_events(log.events)
    assert caught.value.context["block"] >= 101


def test_an_error_names_the_token_event_and_position() -> None:
    log = Log()
    log.draft(1)
    log.acknowledge(1)
    log.acknowledge(1)
    with pytest.raises(LedgerInvalid) as caught:
        fold_receivable_events(log.events)
    assert caught.value.context == {
        "token_id": 1,
        "event": "Acknowledged",
        "block": 103,
        "log_index": 0,
    }
