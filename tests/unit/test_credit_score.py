"""The credit scoring model offline (gateway.domain.credit_score, docs/credit-scoring.md):
thin files, self-dealing rings, a payer going bad, split parts, the as-of cut-off, and a
report that is the same bytes whatever order the chain's records arrive in."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.types import Address, Height
from gateway.domain.credit_score import (
    BASE_POINTS,
    INSUFFICIENT_HISTORY,
    MODEL_VERSION,
    WEIGHTS,
    CreditScore,
    Financing,
    Payment,
    ReceivableRecord,
    RecordInvalid,
    TokenId,
    score_subject,
)

DAY = 86_400
T0 = 1_700_000_000  # the first day of business in these histories
FACE = 1_000_000


def addr(n: int) -> Address:
    return Address(n.to_bytes(20, "big"))


class Ledger:
    """Receivables as the chain would record them, built one claim at a time."""

    def __init__(self) -> None:
        self.records: list[ReceivableRecord] = []

    def claim(
        self,
        creditor: Address,
        debtor: Address,
        *,
        day: int,
        term: int = 30,
        late: int | None = 0,
        **facts: object,
    ) -> ReceivableRecord:
        """A receivable drafted and acknowledged on ``day``, due ``term`` days later and paid in
        full ``late`` days after its due date (``None``: not paid)."""
        due = T0 + (day + term) * DAY
        paid = None if late is None else due + late * DAY
        record = ReceivableRecord(
            token_id=TokenId(len(self.records) + 1),
            creditor=creditor,
            debtor=debtor,
            face_value=FACE,
            currency="EUR",
            due_at=due,
            drafted_at=T0 + day * DAY,
            acknowledged_at=T0 + day * DAY + 3600,
            payments=() if paid is None else (Payment(paid, FACE),),
            settled_at=paid,
        )
        record = replace(record, **facts)  # type: ignore[arg-type]
        self.records.append(record)
        return record


def at(day: int) -> int:
    return T0 + day * DAY


def score(subject: Address, records: list[ReceivableRecord], day: int) -> CreditScore:
    return score_subject(subject, records, block=Height(1000 + day), as_of=at(day))


def honest_market(ledger: Ledger, debtor: Address, claims: int = 12, first: int = 0) -> None:
    """``debtor`` pays ``claims`` receivables on time to four suppliers, each of which also
    sells to a buyer of its own (so the suppliers trade outside the debtor's circle)."""
    suppliers = [addr(100 + i) for i in range(4)]
    for i, supplier in enumerate(suppliers):
        ledger.claim(supplier, addr(200 + i), day=first)
    for k in range(claims):
        ledger.claim(suppliers[k % 4], debtor, day=first + 30 * k)


HONEST = addr(1)
RING = [addr(10 + i) for i in range(5)]


# --- the good, the thin and the washed ---------------------------------------------------------


def test_an_honest_debtor_paying_independent_creditors_on_time_gets_a_good_grade() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    result = score(HONEST, ledger.records, 400)
    assert result.score is not None and result.score >= 650
    assert result.grade in {"A", "B"}
    assert result.thin_file == ()
    assert result.excluded_circular == result.excluded_closed == 0


def wash_ring(ledger: Ledger, shape: str, rounds: int = 12) -> None:
    """Five addresses acknowledging and paying on time among themselves for a year."""
    pairs = {
        "cycle": [(RING[i], RING[(i + 1) % 5]) for i in range(5)],
        "mesh": [(a, b) for a in RING for b in RING if a != b],
        "acyclic": [(RING[j], RING[i]) for i in range(5) for j in range(i + 1, 5)],
    }[shape]
    for k in range(rounds):
        for creditor, debtor in pairs:
            ledger.claim(creditor, debtor, day=30 * k)


@pytest.mark.parametrize("shape", ["cycle", "mesh", "acyclic"])
def test_a_wash_trading_ring_gets_insufficient_history_however_it_is_wired(shape: str) -> None:
    ledger = Ledger()
    wash_ring(ledger, shape)
    for member in RING:
        result = score(member, ledger.records, 400)
        assert result.grade == INSUFFICIENT_HISTORY
        assert result.score is None
        assert result.excluded_circular + result.excluded_closed > 0


def test_one_token_outside_edge_does_not_open_a_circular_ring() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    wash_ring(ledger, "cycle")
    ledger.claim(RING[1], HONEST, day=10)  # one real sale out of the ring
    result = score(RING[0], ledger.records, 400)
    assert result.grade == INSUFFICIENT_HISTORY
    assert result.excluded_circular > 0


def test_paying_fresh_addresses_that_trade_with_no_one_else_does_not_build_a_score() -> None:
    ledger = Ledger()
    for k in range(20):
        ledger.claim(addr(500 + k), HONEST, day=20 * k)  # a new "supplier" every time
    result = score(HONEST, ledger.records, 400)
    assert result.grade == INSUFFICIENT_HISTORY
    assert result.excluded_closed == 20


def test_puppets_that_trade_with_one_outsider_are_not_caught_a_documented_limit() -> None:
    ledger = Ledger()
    puppets, outsider = [addr(500 + i) for i in range(3)], addr(600)
    for puppet in puppets:
        ledger.claim(puppet, outsider, day=0)
    for k in range(6):
        ledger.claim(puppets[k % 3], HONEST, day=20 * k)
    result = score(HONEST, ledger.records, 200)
    assert result.score is not None  # docs/credit-scoring.md §5 "What it does not catch"


def test_joining_a_wash_ring_leaves_an_honest_debtors_score_as_it_was() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    alone = score(HONEST, ledger.records, 400)
    for k in range(12):  # HONEST and the ring wash receivables in a cycle
        ledger.claim(RING[0], HONEST, day=30 * k)
        ledger.claim(RING[1], RING[0], day=30 * k)
        ledger.claim(HONEST, RING[1], day=30 * k)
    washed = score(HONEST, ledger.records, 400)
    assert (washed.score, washed.grade, washed.features) == (
        alone.score,
        alone.grade,
        alone.features,
    )
    assert washed.excluded_circular == 24


@pytest.mark.parametrize(
    ("claims", "suppliers", "day", "reason"),
    [
        (4, 4, 400, "fewer than 5 counted claims"),
        (12, 2, 400, "fewer than 3 independent counterparties"),
        (12, 4, 60, "record younger than 90 days"),
    ],
)
def test_a_thin_file_gets_insufficient_history_not_a_low_score(
    claims: int, suppliers: int, day: int, reason: str
) -> None:
    ledger = Ledger()
    for i in range(suppliers):
        ledger.claim(addr(100 + i), addr(200 + i), day=0)
    for k in range(claims):
        ledger.claim(addr(100 + k % suppliers), HONEST, day=min(5 * k, day - 40), late=None)
    result = score(HONEST, ledger.records, day)
    assert result.grade == INSUFFICIENT_HISTORY
    assert result.score is None
    assert reason in result.thin_file
    assert [f.name for f in result.features] == list(WEIGHTS)  # still reported


def test_a_late_payer_then_a_defaulter_sees_its_score_and_grade_drop() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST, claims=16)
    ledger.claim(addr(100), HONEST, day=480, late=40)  # due day 510, paid day 550
    ledger.claim(addr(101), HONEST, day=500, late=None, defaulted_at=at(590))  # due day 530
    before = score(HONEST, ledger.records, 505)
    after_late = score(HONEST, ledger.records, 560)
    after_default = score(HONEST, ledger.records, 600)
    assert before.score is not None and after_late.score is not None
    assert after_default.score is not None
    assert before.score > after_late.score > after_default.score
    # Grades sort best first ("A" < "B"): one late payment may stay in its band, a default not.
    assert before.grade <= after_late.grade < after_default.grade
    assert (before.grade, after_default.grade) == ("B", "C")
    defaults = {f.name: f for f in after_default.features}["debtor_defaults"]
    assert (defaults.raw, defaults.points) == (1, -200)


# --- what the chain recorded, as of the block ---------------------------------------------------


def test_facts_after_as_of_do_not_exist_yet() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    at_400 = score(HONEST, ledger.records, 400)
    ledger.claim(addr(100), HONEST, day=390, late=None, defaulted_at=at(450))  # due day 420
    ledger.claim(addr(101), HONEST, day=401, late=None, defaulted_at=at(480))
    assert score(HONEST, ledger.records, 400).features[1:] == at_400.features[1:]
    assert score(HONEST, ledger.records, 400).features[0].raw == 13  # acknowledged, not due


def test_split_parts_count_once_as_their_root() -> None:
    whole, split = Ledger(), Ledger()
    honest_market(whole, HONEST)
    honest_market(split, HONEST)
    parent = whole.claim(addr(102), HONEST, day=300)
    split.records.append(replace(parent, token_id=TokenId(900), settled_at=None, payments=()))
    for i in range(5):  # five parts of a fifth each, passed upstream, each paid on time
        split.records.append(
            replace(
                parent,
                token_id=TokenId(901 + i),
                parent_id=TokenId(900),
                face_value=FACE // 5,
                payments=(Payment(parent.due_at, FACE // 5),),
            )
        )
    assert score(HONEST, split.records, 400) == score(HONEST, whole.records, 400)


def test_unacknowledged_drafts_and_claims_cancelled_before_due_do_not_count() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    base = score(HONEST, ledger.records, 400)
    ledger.claim(addr(100), HONEST, day=300, late=None, acknowledged_at=None)
    ledger.claim(addr(101), HONEST, day=300, late=None, cancelled_at=at(310))
    assert score(HONEST, ledger.records, 400) == base


def test_cancelling_an_overdue_claim_does_not_erase_its_lateness() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    ledger.claim(addr(100), HONEST, day=300, late=None, cancelled_at=at(350))  # due day 330
    result = score(HONEST, ledger.records, 400)
    worst = {f.name: f.raw for f in result.features}["debtor_days_past_due_max"]
    assert worst == 70


def test_financing_counts_when_a_third_party_advanced_against_a_settled_claim() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    bank = addr(900)
    for i in range(3):
        ledger.claim(addr(400 + i), addr(300 + i), day=0)  # the buyers buy elsewhere too
        ledger.claim(
            HONEST,
            addr(300 + i),
            day=100 + i,
            financings=(Financing(bank, FACE * 9 // 10, 250, at(105)),),
        )
    features = {f.name: f for f in score(HONEST, ledger.records, 400).features}
    assert features["creditor_financed"].raw == 3
    assert features["creditor_financed_settled_share"].raw == 10_000
    assert features["creditor_distinct_debtors"].raw == 3


# --- the report ---------------------------------------------------------------------------------


def test_the_score_is_the_base_plus_every_features_points_in_a_fixed_order() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    result = score(HONEST, ledger.records, 400)
    assert [f.name for f in result.features] == list(WEIGHTS)
    assert result.score == BASE_POINTS + sum(f.points for f in result.features)
    for f in result.features:
        assert 0 <= f.normalized <= 10_000
        assert f.points == (1 if WEIGHTS[f.name] >= 0 else -1) * (
            abs(WEIGHTS[f.name]) * f.normalized // 10_000
        )


def test_a_worked_example_scores_as_the_doc_computes_it_by_hand() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)  # docs/credit-scoring.md §7
    result = score(HONEST, ledger.records, 400)
    assert [(f.raw, f.normalized, f.points) for f in result.features] == [
        (12, 6000, 36),
        (10_000, 10_000, 250),
        (0, 0, 0),
        (0, 0, 0),
        (0, 0, 0),
        (0, 0, 0),
        (12, 6000, 36),
        (0, 0, 0),
        (0, 0, 0),
        (None, 5000, 35),
        (399, 5465, 81),
    ]
    assert (result.score, result.grade) == (688, "B")


def test_the_report_is_canonical_json_without_floats_and_its_hash_is_its_sha256() -> None:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    ledger.claim(
        addr(100), HONEST, day=300, face_value=10**30, payments=(Payment(at(330), 10**30),)
    )
    result = score(HONEST, ledger.records, 400)
    canonical = result.canonical()
    report = json.loads(canonical)
    assert canonical == json.dumps(report, sort_keys=True, separators=(",", ":")).encode()
    assert result.report_hash() == hashlib.sha256(canonical).digest()
    assert report["model"] == MODEL_VERSION
    assert report["volume_paid"] == {"EUR": str(10**30 + 12 * FACE)}
    assert "." not in canonical.decode()


history = st.lists(
    st.tuples(
        st.integers(0, 7),  # creditor
        st.integers(0, 7),  # debtor
        st.integers(0, 360),  # day drafted and acknowledged
        st.one_of(st.none(), st.integers(-10, 90)),  # days late, None: unpaid
        st.booleans(),  # a part of the previous receivable rather than a receivable of its own
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(history, st.integers(0, 7), st.randoms(use_true_random=False))
def test_the_same_records_in_any_order_give_the_same_score_and_report_hash(
    facts: list[tuple[int, int, int, int | None, bool]], subject: int, rng: random.Random
) -> None:
    ledger = Ledger()
    honest_market(ledger, addr(0))
    for creditor, debtor, day, late, part in facts:
        parent = ledger.records[-1].token_id if part else None
        ledger.claim(addr(creditor), addr(debtor), day=day, late=late, parent_id=parent)
    ledger.claim(addr(100), addr(0), day=300, payments=(Payment(at(320), 1), Payment(at(320), 2)))
    expected = score(addr(subject), ledger.records, 400)
    shuffled = [
        replace(r, payments=tuple(rng.sample(r.payments, len(r.payments))))
        for r in rng.sample(ledger.records, len(ledger.records))
    ]
    again = score(addr(subject), shuffled, 400)
    assert again == expected
    assert again.report_hash() == expected.report_hash()


@pytest.mark.parametrize(
    "facts",
    [
        {"currency": "eur"},
        {"face_value": 0},
        {"payments": (Payment(T0, 0),)},
        {"debtor": b"\x01" * 19},
        {"parent_id": TokenId(1)},
    ],
)
def test_a_record_the_model_cannot_read_is_refused(facts: dict[str, object]) -> None:
    record = Ledger().claim(addr(1), addr(2), day=0)
    with pytest.raises(RecordInvalid):
        replace(record, **facts)  # type: ignore[arg-type]


def test_the_same_token_given_twice_is_refused() -> None:
    ledger = Ledger()
    record = ledger.claim(addr(1), addr(2), day=0)
    with pytest.raises(RecordInvalid):
        score(HONEST, [record, record], 400)
