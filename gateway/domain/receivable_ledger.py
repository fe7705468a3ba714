"""The Receivable contract's events folded into the scoring model's records (issue 9,
docs/credit-scoring.md "Recomputing a score").

``fold_receivable_events`` replays the lifecycle events of ``contracts/src/assets/Receivable.sol``
(Drafted, Acknowledged, Cancelled, Disputed, DisputeResolved, Financed, Split, Paid, Settled,
Defaulted) in block and log order and gives one ``ReceivableRecord`` per token, the input of
``credit_score.score_subject``. Every time in a record is the timestamp of the block whose log
said it (Drafted and Split carry no time of their own).

The fold follows the contract's state machine, so a sequence the contract cannot emit (an event
for a token never drafted, an acknowledgement twice, a payment beyond the face value ...) is
refused with ``LedgerInvalid`` rather than scored: events that do not fit are not the
contract's, or were not all read.

Pure and synchronous (style rule 4): ``adapters.contracts.ReceivableView`` reads and decodes the
logs; the command (``xgate credit score``) passes them here as ``LedgerEvent``s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

from adapters.types import Address, Height
from gateway.domain.credit_score import (
    Financing,
    Payment,
    ReceivableRecord,
    RecordInvalid,
    TokenId,
)

__all__ = [
    "EVENT_NAMES",
    "LedgerEvent",
    "LedgerInvalid",
    "ReceivableState",
    "fold_receivable_events",
]

# The lifecycle events the fold reads (the contract's other events, ERC-721 transfers and
# admin settings, say nothing about a claim).
EVENT_NAMES: tuple[str, ...] = (
    "Drafted",
    "Acknowledged",
    "Cancelled",
    "Disputed",
    "DisputeResolved",
    "Financed",
    "Split",
    "Paid",
    "Settled",
    "Defaulted",
)


class ReceivableState(IntEnum):
    """``Receivable.State``, in the contract's order (DisputeResolved carries one)."""

    NONE = 0
    DRAFTED = 1
    ACKNOWLEDGED = 2
    CANCELLED = 3
    DISPUTED = 4
    SETTLED = 5
    DEFAULTED = 6
    SPLIT = 7


class LedgerInvalid(RecordInvalid):
    """Events the contract cannot have emitted in this order (``token_id``, ``event``,
    ``block`` and ``log_index`` say where)."""


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One decoded Receivable log: the event's name, its arguments by ABI name (addresses as
    20 bytes, ``bytes3`` as 3 bytes, integers as ints, arrays as tuples), where it is, and its
    block's timestamp (unix seconds)."""

    name: str
    args: Mapping[str, Any]
    block_number: Height
    log_index: int
    timestamp: int


@dataclass(slots=True)
class _Token:
    """A token's record while the events are replayed (the fold's private, mutable state)."""

    record: ReceivableRecord
    state: ReceivableState
    paid: int = 0
    payments: list[Payment] = field(default_factory=list)
    financings: list[Financing] = field(default_factory=list)

    def frozen(self) -> ReceivableRecord:
        return replace(
            self.record, payments=tuple(self.payments), financings=tuple(self.financings)
        )


def _position(event: LedgerEvent) -> tuple[int, int]:
    return (event.block_number, event.log_index)


def fold_receivable_events(events: Iterable[LedgerEvent]) -> tuple[ReceivableRecord, ...]:
    """Every token the events record, by token id. ``events`` are all the contract's lifecycle
    events up to a block, in any order (they are put in block and log order here); a position
    given twice or a sequence the contract cannot emit raises ``LedgerInvalid``."""
    ordered = sorted(events, key=_position)
    tokens: dict[int, _Token] = {}
    for previous, event in zip([None, *ordered], ordered, strict=False):
        if previous is not None and _position(previous) == _position(event):
            raise _invalid("two logs at one position", event)
        _apply(tokens, event)
    return tuple(tokens[t].frozen() for t in sorted(tokens))


def _invalid(message: str, event: LedgerEvent, token: int | None = None) -> LedgerInvalid:
    return LedgerInvalid(
        message,
        token_id=token if token is not None else event.args.get("tokenId"),
        event=event.name,
        block=int(event.block_number),
        log_index=event.log_index,
    )


def _arg(event: LedgerEvent, name: str) -> Any:
    try:
        return event.args[name]
    except KeyError:
        raise _invalid(f"the event has no argument {name!r}", event) from None


def _address(event: LedgerEvent, name: str) -> Address:
    value = _arg(event, name)
    if not isinstance(value, bytes) or len(value) != 20:
        raise _invalid(f"{name} is not a 20-byte address", event)
    return Address(value)


def _int(event: LedgerEvent, name: str) -> int:
    value = _arg(event, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _invalid(f"{name} is not an unsigned integer", event)
    return value


def _expect(tokens: dict[int, _Token], event: LedgerEvent, *states: ReceivableState) -> _Token:
    token_id = _int(event, "tokenId")
    token = tokens.get(token_id)
    if token is None:
        raise _invalid(f"{event.name} of a receivable never drafted", event)
    if token.state not in states:
        raise _invalid(
            f"{event.name} of a receivable in state {token.state.name}"
            + (" (acknowledged twice)" if event.name == "Acknowledged" else ""),
            event,
        )
    return token


def _set(token: _Token, **facts: Any) -> None:
    token.record = replace(token.record, **facts)


def _apply(tokens: dict[int, _Token], event: LedgerEvent) -> None:
    name, at = event.name, event.timestamp
    S = ReceivableState
    if name == "Drafted":
        _draft(tokens, event)
    elif name == "Acknowledged":
        token = _expect(tokens, event, S.DRAFTED)
        if _address(event, "debtor") != token.record.debtor:
            raise _invalid("acknowledged by another address than its debtor", event)
        token.state = S.ACKNOWLEDGED
        _set(token, acknowledged_at=at)
    elif name == "Cancelled":
        token = _expect(tokens, event, S.DRAFTED)
        token.state = S.CANCELLED
        _set(token, cancelled_at=at)
    elif name == "Disputed":
        token = _expect(tokens, event, S.ACKNOWLEDGED)
        token.state = S.DISPUTED
        if token.record.disputed_at is None:  # the first dispute is the record's
            _set(token, disputed_at=at)
    elif name == "DisputeResolved":
        token = _expect(tokens, event, S.DISPUTED)
        outcome = _int(event, "outcome")
        if outcome == S.ACKNOWLEDGED:
            token.state = S.ACKNOWLEDGED
        elif outcome == S.CANCELLED:
            token.state = S.CANCELLED
            _set(token, cancelled_at=at)
        else:
            raise _invalid("a dispute resolved to neither Acknowledged nor Cancelled", event)
    elif name == "Financed":
        token = _expect(tokens, event, S.ACKNOWLEDGED)
        token.financings.append(
            Financing(
                financier=_address(event, "financier"),
                advance=_int(event, "advance"),
                discount_bps=_int(event, "discountBps"),
                at=at,
            )
        )
    elif name == "Split":
        _split(tokens, event)
    elif name == "Paid":
        token = _expect(tokens, event, S.ACKNOWLEDGED, S.DEFAULTED)
        amount = _int(event, "amount")
        if amount == 0 or token.paid + amount > token.record.face_value:
            raise _invalid("a payment beyond the outstanding value", event)
        token.paid += amount
        if _int(event, "totalPaid") != token.paid:
            raise _invalid("totalPaid differs from the payments before it", event)
        token.payments.append(Payment(at=at, amount=amount))
    elif name == "Settled":
        token = _expect(tokens, event, S.ACKNOWLEDGED, S.DEFAULTED)
        if token.paid != token.record.face_value:
            raise _invalid("settled before it was paid in full", event)
        token.state = S.SETTLED
        _set(token, settled_at=at)
    elif name == "Defaulted":
        token = _expect(tokens, event, S.ACKNOWLEDGED)
        token.state = S.DEFAULTED
        _set(token, defaulted_at=at)
    else:
        raise _invalid(f"not a Receivable lifecycle event: {name!r}", event)


def _currency(event: LedgerEvent) -> str:
    raw = _arg(event, "currency")
    if not isinstance(raw, bytes) or len(raw) != 3:
        raise _invalid("currency is not 3 bytes", event)
    return raw.decode("latin-1")


def _draft(tokens: dict[int, _Token], event: LedgerEvent) -> None:
    token_id = _int(event, "tokenId")
    if token_id in tokens:
        raise _invalid("a receivable drafted twice", event)
    try:
        record = ReceivableRecord(
            token_id=TokenId(token_id),
            creditor=_address(event, "creditor"),
            debtor=_address(event, "debtor"),
            face_value=_int(event, "faceValue"),
            currency=_currency(event),
            due_at=_int(event, "dueDate"),
            drafted_at=event.timestamp,
        )
    except LedgerInvalid:
        raise
    except RecordInvalid as exc:
        raise _invalid(f"a draft the model cannot take: {exc.message}", event) from exc
    tokens[token_id] = _Token(record, ReceivableState.DRAFTED)


def _split(tokens: dict[int, _Token], event: LedgerEvent) -> None:
    parent = _expect(tokens, event, ReceivableState.ACKNOWLEDGED)
    parts, amounts = _arg(event, "partIds"), _arg(event, "amounts")
    if not isinstance(parts, tuple | list) or not isinstance(amounts, tuple | list):
        raise _invalid("partIds and amounts are arrays", event)
    if len(parts) != len(amounts) or len(parts) < 2:
        raise _invalid("a split into fewer than 2 parts, or not one amount per part", event)
    if not all(isinstance(a, int) and a > 0 for a in amounts) or any(
        not isinstance(p, int) or p < 0 for p in parts
    ):
        raise _invalid("split parts and amounts are positive integers", event)
    if sum(amounts) != parent.record.face_value - parent.paid:
        raise _invalid("split parts do not sum to the outstanding value", event)
    parent.state = ReceivableState.SPLIT
    for part, amount in zip(parts, amounts, strict=True):
        if part in tokens:
            raise _invalid("a split part that already exists", event, token=part)
        record = replace(
            parent.record,
            token_id=TokenId(part),
            face_value=amount,
            drafted_at=event.timestamp,
            acknowledged_at=event.timestamp,
            cancelled_at=None,
            disputed_at=None,
            payments=(),
            settled_at=None,
            defaulted_at=None,
            financings=(),
            parent_id=parent.record.token_id,
        )
        tokens[part] = _Token(record, ReceivableState.ACKNOWLEDGED)
