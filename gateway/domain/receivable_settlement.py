"""Which due receivables the keeper settles and which it marks defaulted (docs/relayer.md §9,
"The receivable keeper"), decided on what one final block of the consortium says: each
receivable's state and outstanding amount, its currency's settlement token, the debtor's
allowance to the ``Receivable`` and balance in that token, and the block's time.

``due_candidates`` picks from the folded records (``receivable_ledger``) the receivables whose
state the keeper reads; ``plan_settlements`` is the whole rule on what it read, pure and
synchronous (style rule 4), tested offline:

- only an Acknowledged or Defaulted receivable whose due date has come (``now >= due_at``, as
  the contract's ``settle`` requires) is considered;
- it is **settled** when its debtor pre-authorised the payment: the allowance and the balance
  both cover the outstanding amount times the currency's scale. Receivables of one debtor in
  one token are taken oldest due date first, each using up what it pays, so two debts that
  the funds cover only one of never send a second ``settle`` that must revert;
- otherwise an Acknowledged one is **marked defaulted** once ``now > due_at + grace_period_s``
  (the contract's ``markDefault`` condition); a Defaulted one stays payable and waits for its
  debtor's funds (a late payment);
- everything else waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from adapters.types import Address
from gateway.domain.credit_score import ReceivableRecord
from gateway.domain.receivable_ledger import ReceivableState

__all__ = [
    "DebtorFunds",
    "DueReceivable",
    "SettlementAction",
    "SettlementAsset",
    "SettlementKind",
    "applies_in",
    "due_candidates",
    "plan_settlements",
]

# The states a receivable can be paid in (``Receivable._pay``).
PAYABLE_STATES = frozenset({ReceivableState.ACKNOWLEDGED, ReceivableState.DEFAULTED})


class SettlementKind(StrEnum):
    SETTLE = "settle"
    MARK_DEFAULT = "mark_default"


@dataclass(frozen=True, slots=True)
class SettlementAsset:
    """A currency's settlement token and its scale (token base units per minor unit)."""

    token: Address
    scale: int


@dataclass(frozen=True, slots=True)
class DebtorFunds:
    """A debtor's allowance to the ``Receivable`` and balance in one token (base units)."""

    allowance: int
    balance: int


@dataclass(frozen=True, slots=True)
class DueReceivable:
    """One receivable as the block says it is: ``state`` and ``outstanding`` (minor units) from
    ``statusOf``, ``debtor`` and ``due_at`` from its terms, ``asset`` its currency's settlement
    token (None when the currency has none: it cannot be settled, only defaulted)."""

    token_id: int
    state: ReceivableState
    debtor: Address
    due_at: int
    outstanding: int
    asset: SettlementAsset | None

    @property
    def amount(self) -> int:
        """The outstanding amount in the settlement token's base units (0 without one)."""
        return 0 if self.asset is None else self.outstanding * self.asset.scale


@dataclass(frozen=True, slots=True)
class SettlementAction:
    """Send ``settle`` (paying ``amount`` token units from the debtor) or ``markDefault``."""

    kind: SettlementKind
    token_id: int
    amount: int = 0


def due_candidates(records: Sequence[ReceivableRecord], now: int) -> list[ReceivableRecord]:
    """The records that may be settled or defaulted at block time ``now``: acknowledged, due,
    and not settled, cancelled or split into parts (a parent of a part). Their current state
    (a dispute, a payment since) is read from the chain."""
    split = {r.parent_id for r in records if r.parent_id is not None}
    return [
        r
        for r in records
        if r.acknowledged_at is not None
        and r.settled_at is None
        and r.cancelled_at is None
        and r.token_id not in split
        and r.due_at <= now
    ]


def applies_in(kind: SettlementKind, state: int) -> bool:
    """Whether an action of ``kind`` can still apply to a receivable in ``state`` (after a
    transaction failed: was the receivable changed by someone else first?)."""
    if kind == SettlementKind.SETTLE:
        return state in PAYABLE_STATES
    return state == ReceivableState.ACKNOWLEDGED


def plan_settlements(
    receivables: Iterable[DueReceivable],
    funds: Mapping[tuple[Address, Address], DebtorFunds],
    *,
    now: int,
    grace_period_s: int,
) -> tuple[SettlementAction, ...]:
    """The actions for ``receivables`` at block time ``now``: ``funds`` by (debtor, token)
    (a pair not given has nothing), ``grace_period_s`` the contract's ``gracePeriod``. In
    the order to send them: oldest due date first, then token id."""
    left = dict(funds)
    actions: list[SettlementAction] = []
    for r in sorted(receivables, key=lambda r: (r.due_at, r.token_id)):
        if r.state not in PAYABLE_STATES or r.outstanding <= 0 or now < r.due_at:
            continue
        if r.asset is not None:
            key = (r.debtor, r.asset.token)
            have = left.get(key, DebtorFunds(0, 0))
            amount = r.amount
            if have.allowance >= amount and have.balance >= amount:
                left[key] = DebtorFunds(have.allowance - amount, have.balance - amount)
                actions.append(SettlementAction(SettlementKind.SETTLE, r.token_id, amount))
                continue
        if r.state == ReceivableState.ACKNOWLEDGED and now > r.due_at + grace_period_s:
            actions.append(SettlementAction(SettlementKind.MARK_DEFAULT, r.token_id))
    return tuple(actions)
