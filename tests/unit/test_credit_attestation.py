"""A model score as attestation fields, and the reader's recompute check
(gateway.domain.credit_attestation, docs/credit-scoring.md §10), offline."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nacl.public import PrivateKey

from adapters.types import Address, Height
from gateway.domain.credit_attestation import (
    INSUFFICIENT_HISTORY_SCORE,
    NotAScoreReport,
    ScoreReportMismatch,
    attested_fields,
    check_recomputed,
    score_report_ref,
)
from gateway.domain.credit_reports import (
    ReportHashMismatch,
    canonical_report,
    grade_bytes,
    open_report,
    report_sha256,
    seal_report,
)
from gateway.domain.credit_score import INSUFFICIENT_HISTORY, CreditScore, score_subject
from tests.unit.test_credit_score import HONEST, Ledger, addr, at, honest_market


def _scored() -> CreditScore:
    ledger = Ledger()
    honest_market(ledger, HONEST)
    return score_subject(HONEST, ledger.records, block=Height(1400), as_of=at(400))


def _thin() -> CreditScore:
    ledger = Ledger()
    ledger.claim(addr(100), HONEST, day=0)
    return score_subject(HONEST, ledger.records, block=Height(1010), as_of=at(10))


def _check(report: dict[str, Any], recomputed: CreditScore, **attested: Any) -> None:
    score, grade = attested_fields(recomputed)
    fields = {"attested_score": score, "attested_grade": grade}
    fields["attested_hash"] = recomputed.report_hash()
    check_recomputed(report, recomputed, **{**fields, **attested})


def _parsed(score: CreditScore) -> dict[str, Any]:
    """The report as a reader has it after opening the box: parsed JSON."""
    parsed: dict[str, Any] = json.loads(score.canonical())
    return parsed


def test_a_scored_subject_is_attested_with_its_own_score_and_grade() -> None:
    scored = _scored()
    assert attested_fields(scored) == (688, "B")


def test_a_thin_file_is_attested_as_zero_with_the_insufficient_history_grade() -> None:
    thin = _thin()
    assert thin.score is None
    assert (
        attested_fields(thin)
        == (INSUFFICIENT_HISTORY_SCORE, INSUFFICIENT_HISTORY)
        == (
            0,
            "insufficient-history",
        )
    )
    assert thin.report()["score"] is None  # the report says no score, not 0
    assert len(grade_bytes(INSUFFICIENT_HISTORY)) == 32  # the registry's bytes32 takes it


def test_a_real_score_of_zero_is_grade_e_so_the_grade_tells_it_from_a_thin_file() -> None:
    ledger = Ledger()
    suppliers = [addr(100 + i) for i in range(4)]
    for i, supplier in enumerate(suppliers):
        ledger.claim(supplier, addr(200 + i), day=0)
    for k in range(8):  # never paid: defaults and days past due take every point
        ledger.claim(suppliers[k % 4], HONEST, day=k, late=None, defaulted_at=at(k + 60))
    worst = score_subject(HONEST, ledger.records, block=Height(1), as_of=at(400))
    assert attested_fields(worst) == (0, "E")


def test_the_honest_report_recomputed_at_its_block_passes() -> None:
    for score in (_scored(), _thin()):
        report = _parsed(score)
        ref = score_report_ref(report, HONEST)
        assert (ref.model, ref.subject, ref.block) == (score.model, HONEST, score.block)
        _check(report, score)


def test_a_report_with_another_score_is_refused_naming_what_differs() -> None:
    honest = _scored()
    forged = {**_parsed(honest), "score": 905, "grade": "A"}
    with pytest.raises(ScoreReportMismatch) as caught:
        _check(forged, honest, attested_hash=report_sha256(canonical_report(forged)))
    assert caught.value.context["differs"] == ["grade", "score"]
    assert "not what the chain gives at block 1400" in str(caught.value)


def test_a_report_of_another_block_is_refused_by_the_score_at_that_block() -> None:
    honest = _scored()
    ledger = Ledger()
    honest_market(ledger, HONEST)
    earlier = score_subject(HONEST, ledger.records, block=Height(1200), as_of=at(200))
    moved = {**_parsed(honest), "block": 1200}  # the later figures claimed for block 1200
    assert score_report_ref(moved, HONEST).block == 1200
    with pytest.raises(ScoreReportMismatch) as caught:
        _check(moved, earlier)
    assert "as_of" in caught.value.context["differs"]


def test_an_attestation_whose_figures_are_not_its_reports_is_refused() -> None:
    honest = _scored()
    with pytest.raises(ScoreReportMismatch) as caught:
        _check(_parsed(honest), honest, attested_score=900, attested_grade="A")
    assert caught.value.context["differs"] == ["attested score", "attested grade"]
    with pytest.raises(ScoreReportMismatch, match="reportHash"):
        _check(_parsed(honest), honest, attested_hash=b"\x01" * 32)


def test_only_a_score_report_of_a_known_model_about_the_subject_is_recomputed() -> None:
    report = _parsed(_scored())
    for bad, field in (
        ({"period": "FY2025"}, "model"),
        ({**report, "model": "xgate-credit-9"}, "model"),
        ({**report, "subject": "0x1234"}, "subject"),
        ({**report, "block": -1}, "block"),
        ({**report, "block": True}, "block"),
    ):
        with pytest.raises(NotAScoreReport) as caught:
            score_report_ref(bad, HONEST)
        assert caught.value.context["field"] == field
    with pytest.raises(ScoreReportMismatch, match="not the attestation's subject"):
        score_report_ref(report, addr(2))


def test_a_report_resealed_with_another_score_by_a_reader_does_not_open_against_the_hash() -> None:
    reader = PrivateKey.generate()
    honest = _scored()
    attested = seal_report(honest.canonical(), [bytes(reader.public_key)]).report_sha256
    forged = canonical_report({**_parsed(honest), "score": 905})
    [box] = seal_report(forged, [bytes(reader.public_key)]).sealed.values()
    with pytest.raises(ReportHashMismatch):
        open_report(box, bytes(reader), attested)


def test_subject_addresses_compare_as_bytes() -> None:
    report = _parsed(_scored())
    ref = score_report_ref(
        {**report, "subject": report["subject"].upper().replace("0X", "0x")}, Address(bytes(HONEST))
    )
    assert ref.subject == HONEST
