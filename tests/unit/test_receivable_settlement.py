"""The receivable keeper's rule (``plan_settlements``) and its choice of candidates from the
folded records (``due_candidates``), offline: settle on the due date when the debtor's
allowance and balance cover the outstanding amount, mark defaulted after the grace period
otherwise, a defaulted one settled late once funded, nothing for the other states; and the
``[keeper] settle_receivables`` switch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from adapters.types import Address
from gateway.config import load_config
from gateway.domain.credit_score import Payment, ReceivableRecord, TokenId
from gateway.domain.receivable_ledger import ReceivableState
from gateway.domain.receivable_settlement import (
    DebtorFunds,
    DueReceivable,
    SettlementAction,
    SettlementAsset,
    SettlementKind,
    applies_in,
    due_candidates,
    plan_settlements,
)
from relayers.service import _settles_receivables
from tests.unit.test_config import changed, problems, write

DEBTOR, OTHER = Address(b"\x0d" * 20), Address(b"\x0e" * 20)
CNY = SettlementAsset(Address(b"\xc1" * 20), 10**4)
USD = SettlementAsset(Address(b"\xc2" * 20), 10**16)
DUE = 1_800_000_000
GRACE = 30 * 86_400
S, D = SettlementKind.SETTLE, SettlementKind.MARK_DEFAULT
A, DF = ReceivableState.ACKNOWLEDGED, ReceivableState.DEFAULTED


def due(
    token_id: int = 1,
    *,
    state: ReceivableState = A,
    outstanding: int = 500,
    due_at: int = DUE,
    debtor: Address = DEBTOR,
    asset: SettlementAsset | None = CNY,
) -> DueReceivable:
    return DueReceivable(token_id, state, debtor, due_at, outstanding, asset)


def funded(
    amount: int, *, debtor: Address = DEBTOR, asset: SettlementAsset = CNY
) -> dict[tuple[Address, Address], DebtorFunds]:
    return {(debtor, asset.token): DebtorFunds(amount, amount)}


def plan(
    receivables: list[DueReceivable],
    funds: dict[tuple[Address, Address], DebtorFunds],
    now: int,
) -> tuple[SettlementAction, ...]:
    return plan_settlements(receivables, funds, now=now, grace_period_s=GRACE)


def test_settled_from_its_due_date_not_before() -> None:
    funds = funded(500 * 10**4)
    assert plan([due()], funds, DUE - 1) == ()
    assert plan([due()], funds, DUE) == (SettlementAction(S, 1, 500 * 10**4),)
    assert plan([due()], funds, DUE + 10 * GRACE) == (SettlementAction(S, 1, 500 * 10**4),)


@pytest.mark.parametrize(
    ("allowance", "balance"),
    [(500 * 10**4 - 1, 10**12), (10**12, 500 * 10**4 - 1), (0, 0)],
    ids=["allowance-short", "balance-short", "nothing"],
)
def test_unfunded_waits_for_the_grace_period_then_defaults(allowance: int, balance: int) -> None:
    funds = {(DEBTOR, CNY.token): DebtorFunds(allowance, balance)}
    assert plan([due()], funds, DUE) == ()
    assert plan([due()], funds, DUE + GRACE) == ()  # markDefault needs a time after it
    assert plan([due()], funds, DUE + GRACE + 1) == (SettlementAction(D, 1),)
    assert plan([due()], {}, DUE + GRACE + 1) == (SettlementAction(D, 1),)


def test_defaulted_is_settled_late_once_funded_and_never_defaulted_again() -> None:
    defaulted = due(state=DF)
    assert plan([defaulted], {}, DUE + 5 * GRACE) == ()
    late = plan([defaulted], funded(500 * 10**4), DUE + 5 * GRACE)
    assert late == (SettlementAction(S, 1, 500 * 10**4),)


def test_the_outstanding_amount_is_paid_at_the_currency_scale() -> None:
    partly_paid = due(outstanding=120, asset=USD)
    assert plan([partly_paid], funded(120 * 10**16, asset=USD), DUE) == (
        SettlementAction(S, 1, 120 * 10**16),
    )
    assert plan([partly_paid], funded(120 * 10**4), DUE) == ()  # funds in another token


@pytest.mark.parametrize(
    "state",
    [
        ReceivableState.DRAFTED,
        ReceivableState.CANCELLED,
        ReceivableState.DISPUTED,
        ReceivableState.SETTLED,
        ReceivableState.SPLIT,
    ],
)
def test_other_states_are_left_alone(state: ReceivableState) -> None:
    r = due(state=state)
    assert plan([r], funded(10**12), DUE + 2 * GRACE) == ()
    assert plan([r], {}, DUE + 2 * GRACE) == ()


def test_nothing_outstanding_is_left_alone() -> None:
    assert plan([due(outstanding=0)], funded(10**12), DUE + 2 * GRACE) == ()


def test_a_currency_without_settlement_token_can_only_default() -> None:
    r = due(asset=None)
    assert r.amount == 0
    assert plan([r], funded(10**12), DUE) == ()
    assert plan([r], funded(10**12), DUE + GRACE + 1) == (SettlementAction(D, 1),)


def test_one_debtors_funds_pay_the_oldest_debts_first() -> None:
    """Funds for one of two receivables: the older is settled, the younger waits (defaulted
    after its grace period); never two settles the funds cannot both pay."""
    older, younger = due(7, due_at=DUE), due(3, due_at=DUE + 10)
    funds = funded(500 * 10**4)
    assert plan([younger, older], funds, DUE + 10) == (SettlementAction(S, 7, 500 * 10**4),)
    assert plan([younger, older], funds, DUE + 10 + GRACE + 1) == (
        SettlementAction(S, 7, 500 * 10**4),
        SettlementAction(D, 3),
    )
    both = funded(1000 * 10**4)
    assert plan([younger, older], both, DUE + 10) == (
        SettlementAction(S, 7, 500 * 10**4),
        SettlementAction(S, 3, 500 * 10**4),
    )
    # Same due date: by token id. Another debtor's funds are its own.
    same = [due(9), due(2), due(5, debtor=OTHER)]
    funds = {**funded(500 * 10**4), **funded(500 * 10**4, debtor=OTHER)}
    assert [a.token_id for a in plan(same, funds, DUE)] == [2, 5]


def record(token_id: int, **facts: object) -> ReceivableRecord:
    base = ReceivableRecord(
        token_id=TokenId(token_id),
        creditor=Address(b"\x0c" * 20),
        debtor=DEBTOR,
        face_value=500,
        currency="CNY",
        due_at=DUE,
        drafted_at=DUE - 100,
        acknowledged_at=DUE - 90,
    )
    return replace(base, **facts)  # type: ignore[arg-type]


def test_candidates_are_acknowledged_due_and_open() -> None:
    records = [
        record(1),  # due, open
        record(2, acknowledged_at=None),  # drafted only
        record(3, cancelled_at=DUE - 80, acknowledged_at=None),
        record(4, payments=(Payment(DUE, 500),), settled_at=DUE),
        record(5, defaulted_at=DUE + GRACE + 1),  # defaulted: still payable
        record(6, due_at=DUE + 1),  # not due yet
        record(7),  # split into 8 and 9
        record(8, parent_id=TokenId(7)),
        record(9, parent_id=TokenId(7), due_at=DUE + 1),
        record(10, disputed_at=DUE - 50),  # its state now is read from the chain
    ]
    assert [r.token_id for r in due_candidates(records, DUE)] == [1, 5, 8, 10]
    assert [r.token_id for r in due_candidates(records, DUE - 1)] == []


def test_a_failed_action_still_applies_only_in_the_states_the_contract_allows_it() -> None:
    assert [s for s in ReceivableState if applies_in(S, s)] == [A, DF]
    assert [s for s in ReceivableState if applies_in(D, s)] == [A]


RECEIVABLE = "0x" + "ce" * 20


def test_the_keeper_settles_receivables_when_switched_on_and_the_hub_has_a_receivable(
    tmp_path: Path,
) -> None:
    with_receivable = changed("chains.consortium.contracts.receivable", RECEIVABLE)
    cfg = load_config(write(tmp_path, with_receivable))
    assert cfg.keeper is not None and cfg.keeper.settle_receivables  # on by default
    assert _settles_receivables(cfg)
    with_receivable["keeper"]["settle_receivables"] = False
    assert not _settles_receivables(load_config(write(tmp_path, with_receivable)))
    # no Receivable on the hub (one on a public chain does not count): nothing to settle
    elsewhere = changed("chains.public.contracts.receivable", RECEIVABLE)
    assert not _settles_receivables(load_config(write(tmp_path, elsewhere)))


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_the_switch_is_a_boolean(tmp_path: Path, value: object) -> None:
    (problem,) = problems(tmp_path, changed("keeper.settle_receivables", value))
    assert problem.startswith("keeper.settle_receivables: ")
