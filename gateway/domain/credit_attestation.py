"""A model score as a credit attestation, and the reader's recompute check
(docs/credit-scoring.md §10).

``CreditRegistry.attest`` takes a ``uint16`` score and a ``bytes32`` grade. A scored subject is
attested with its score and grade (A..E); a thin file, which has no score, with the score ``0``
and the grade ``insufficient-history`` (``attested_fields``). The grade is what a reader of
``creditOf`` looks at first: a real score of 0 is always grade ``E``, so the pair
``(0, "insufficient-history")`` cannot be read as a low score by anyone who reads the grade.
The report behind it keeps ``"score": null``.

A reader who opened the sealed report and checked it against the on-chain ``reportHash``
still trusts the issuer for what the report says. ``score_report_ref`` tells a score report of
a known model (model, subject, block) from any other report, and ``check_recomputed`` compares
it, byte for byte, with the score recomputed from the consortium chain at that block, and the
registry's score and grade with what the recomputed score attests: a forged report (another
score, another feature, another block) or an attestation whose figures are not its report's
is refused (``ScoreReportMismatch``, naming what differs).

Pure and synchronous (style rule 4); the chain reads live in ``gateway.cli``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.types import Address, Height
from gateway.domain.credit_reports import CreditReportError, canonical_report, report_sha256
from gateway.domain.credit_score import INSUFFICIENT_HISTORY, MODEL_VERSION, CreditScore

__all__ = [
    "INSUFFICIENT_HISTORY_SCORE",
    "KNOWN_MODELS",
    "NotAScoreReport",
    "ScoreReportMismatch",
    "ScoreReportRef",
    "attested_fields",
    "check_recomputed",
    "score_report_ref",
]

INSUFFICIENT_HISTORY_SCORE = 0  # on chain, with the grade insufficient-history: no score
KNOWN_MODELS = frozenset({MODEL_VERSION})


class NotAScoreReport(CreditReportError):
    """The report is not a score report of a model this gateway knows (``field`` says why)."""


class ScoreReportMismatch(CreditReportError):
    """The report (or the attestation's figures) is not what the chain gives at the report's
    block (``differs`` names the fields)."""


@dataclass(frozen=True, slots=True)
class ScoreReportRef:
    """What a score report says it is: the model, the subject and the block it scores."""

    model: str
    subject: Address
    block: Height


def attested_fields(score: CreditScore) -> tuple[int, str]:
    """The ``(score, grade)`` the registry takes for ``score``: its own, or
    ``(INSUFFICIENT_HISTORY_SCORE, "insufficient-history")`` for a thin file."""
    if score.score is None:
        return INSUFFICIENT_HISTORY_SCORE, INSUFFICIENT_HISTORY
    return score.score, score.grade


def _address(value: Any) -> Address | None:
    if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
        return None
    try:
        return Address(bytes.fromhex(value[2:]))
    except ValueError:
        return None


def score_report_ref(report: Mapping[str, Any], subject: Address) -> ScoreReportRef:
    """The model, subject and block of ``report`` when it is a score report of a known model
    about ``subject`` (the attestation's subject); ``NotAScoreReport`` otherwise."""
    model = report.get("model")
    if not isinstance(model, str):
        raise NotAScoreReport("the report names no scoring model", field="model")
    if model not in KNOWN_MODELS:
        raise NotAScoreReport(
            f"the report's model {model!r} is not one this gateway recomputes "
            f"(known: {', '.join(sorted(KNOWN_MODELS))})",
            field="model",
        )
    raw = _address(report.get("subject"))
    if raw is None:
        raise NotAScoreReport("the report's subject is not an address", field="subject")
    if bytes(raw) != bytes(subject):
        raise ScoreReportMismatch(
            f"the report scores 0x{bytes(raw).hex()}, not the attestation's subject "
            f"0x{bytes(subject).hex()}",
            differs=["subject"],
        )
    block = report.get("block")
    if isinstance(block, bool) or not isinstance(block, int) or block < 0:
        raise NotAScoreReport("the report's block is not a block number", field="block")
    return ScoreReportRef(model, raw, Height(block))


def check_recomputed(
    report: Mapping[str, Any],
    recomputed: CreditScore,
    *,
    attested_score: int,
    attested_grade: str,
    attested_hash: bytes,
) -> None:
    """Refuse (``ScoreReportMismatch``) unless ``report`` is byte for byte ``recomputed``'s
    (the model over the chain at the report's block), the attestation's ``reportHash`` is its
    sha256 and the attestation's score and grade are what ``recomputed`` attests."""
    differs: list[str] = []
    expected = recomputed.report()
    same = canonical_report(report) == recomputed.canonical()
    if not same:
        differs += sorted(
            name
            for name in set(report) | set(expected)
            if name not in report
            or name not in expected
            or canonical_report({"v": report[name]}) != canonical_report({"v": expected[name]})
        )
    if same and not hmac.compare_digest(bytes(attested_hash), recomputed.report_hash()):
        differs.append("reportHash")
    score, grade = attested_fields(recomputed)
    if attested_score != score:
        differs.append("attested score")
    if attested_grade != grade:
        differs.append("attested grade")
    if differs:
        raise ScoreReportMismatch(
            f"not what the chain gives at block {recomputed.block} with {recomputed.model}: "
            f"{', '.join(differs)} differ(s)",
            differs=differs,
            expected_sha256=bytes(recomputed.report_hash()),
            report_sha256=bytes(report_sha256(canonical_report(report))),
        )
