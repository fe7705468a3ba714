"""The credit scoring model: a subject's score, grade and features from the receivables the
consortium chain recorded up to one block (docs/credit-scoring.md, issue 9).

Deterministic by construction: integer arithmetic only (basis points, floor division), inputs
put in a fixed order before anything is counted, and a fact later than ``as_of`` does not exist
for the model (``ReceivableRecord.as_of``). The report's canonical form is the attestation's
(RFC 8785, ``credit_reports.canonical_report``) and its sha256 is the on-chain ``reportHash``.

Two rules keep the score honest (docs/credit-scoring.md §4, §5):

- a **thin file** (too few claims, independent counterparties or days of record) gets the grade
  ``insufficient-history`` and no score, never a low one;
- **self-dealing** does not count: a claim whose counterparty is on a short directed cycle with
  the subject (circular flow), or trades only inside the subject's own neighbourhood (closed
  cluster), is left out as if it did not exist.

Pure and synchronous (style rule 4); the chain extraction that builds the records lives above.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NewType

from adapters.types import Address, Hash32, Height
from gateway.domain.credit_reports import CreditReportError, canonical_report, report_sha256

__all__ = [
    "BASE_POINTS",
    "GRADE_BANDS",
    "INSUFFICIENT_HISTORY",
    "MAX_CYCLE",
    "MIN_CLAIMS",
    "MIN_COUNTERPARTIES",
    "MIN_RECORD_DAYS",
    "MODEL_VERSION",
    "WEIGHTS",
    "CreditScore",
    "Feature",
    "Financing",
    "Payment",
    "ReceivableRecord",
    "RecordInvalid",
    "TokenId",
    "score_subject",
]

MODEL_VERSION = "xgate-credit-1"
INSUFFICIENT_HISTORY = "insufficient-history"
BPS = 10_000
DAY = 86_400
SCORE_MAX = 1_000
BASE_POINTS = 250

MIN_CLAIMS = 5
MIN_COUNTERPARTIES = 3
MIN_RECORD_DAYS = 90
MAX_CYCLE = 6  # a counterparty on a directed cycle this short through the subject is circular

# Points at full normalized value (10_000 bps), in report order; negative weights subtract.
WEIGHTS: Mapping[str, int] = {
    "debtor_acknowledged": 60,
    "debtor_on_time_share": 250,
    "debtor_days_past_due_avg": -100,
    "debtor_days_past_due_max": -60,
    "debtor_defaults": -400,
    "debtor_partial_share": -60,
    "debtor_settled": 60,
    "creditor_distinct_debtors": 120,
    "creditor_financed": 40,
    "creditor_financed_settled_share": 70,
    "record_age_days": 150,
}
GRADE_BANDS: tuple[tuple[int, str], ...] = (
    (800, "A"),
    (650, "B"),
    (500, "C"),
    (350, "D"),
    (0, "E"),
)
NEUTRAL_SHARE = 5_000  # a share with nothing to measure yet: neither credit nor blame

TokenId = NewType("TokenId", int)


class RecordInvalid(CreditReportError):
    """A receivable record the model cannot score (``token_id`` names it)."""


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment towards a receivable: unix seconds and base units of its currency."""

    at: int
    amount: int


@dataclass(frozen=True, slots=True)
class Financing:
    """A transfer that carried financing: who advanced how much at what discount, and when."""

    financier: Address
    advance: int
    discount_bps: int
    at: int


@dataclass(frozen=True, slots=True)
class ReceivableRecord:
    """One receivable token as the consortium chain recorded it (times in unix seconds; ``None``
    for what has not happened). ``parent_id`` is set on the parts of a split receivable."""

    token_id: TokenId
    creditor: Address
    debtor: Address
    face_value: int
    currency: str
    due_at: int
    drafted_at: int
    acknowledged_at: int | None = None
    cancelled_at: int | None = None
    disputed_at: int | None = None
    payments: tuple[Payment, ...] = ()
    settled_at: int | None = None
    defaulted_at: int | None = None
    financings: tuple[Financing, ...] = ()
    parent_id: TokenId | None = None

    def __post_init__(self) -> None:
        if len(self.creditor) != 20 or len(self.debtor) != 20:
            raise RecordInvalid("addresses are 20 bytes", token_id=self.token_id)
        if self.face_value <= 0 or any(p.amount <= 0 for p in self.payments):
            raise RecordInvalid("amounts are positive", token_id=self.token_id)
        if len(self.currency) != 3 or not self.currency.isascii() or not self.currency.isupper():
            raise RecordInvalid("a currency is 3 upper-case letters", token_id=self.token_id)
        if self.parent_id == self.token_id:
            raise RecordInvalid("a receivable is not its own parent", token_id=self.token_id)

    def as_of(self, time: int) -> ReceivableRecord | None:
        """The record as it stood at ``time``: later facts removed; ``None`` if not yet drafted."""
        if self.drafted_at > time:
            return None

        def seen(at: int | None) -> int | None:
            return at if at is not None and at <= time else None

        return replace(
            self,
            acknowledged_at=seen(self.acknowledged_at),
            cancelled_at=seen(self.cancelled_at),
            disputed_at=seen(self.disputed_at),
            payments=tuple(sorted((p for p in self.payments if p.at <= time), key=_payment_key)),
            settled_at=seen(self.settled_at),
            defaulted_at=seen(self.defaulted_at),
            financings=tuple(f for f in self.financings if f.at <= time),
        )


def _payment_key(payment: Payment) -> tuple[int, int]:
    return (payment.at, payment.amount)


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature: its raw value (``None`` when there is nothing to measure), its normalized
    value in basis points (0..10_000) and the points it adds to (or takes from) the score."""

    name: str
    raw: int | None
    normalized: int
    points: int


@dataclass(frozen=True, slots=True)
class CreditScore:
    """The model's answer for one subject at one block. ``score`` is ``None`` exactly when the
    grade is ``insufficient-history``; ``thin_file`` says why."""

    model: str
    subject: Address
    block: Height
    as_of: int
    score: int | None
    grade: str
    features: tuple[Feature, ...]
    thin_file: tuple[str, ...]
    volume_paid: tuple[tuple[str, int], ...]  # (currency, base units) as debtor, counted claims
    excluded_circular: int
    excluded_closed: int

    def report(self) -> dict[str, Any]:
        """The report as a JSON object; amounts as decimal strings (JSON loses big integers)."""
        return {
            "model": self.model,
            "subject": "0x" + self.subject.hex(),
            "block": int(self.block),
            "as_of": self.as_of,
            "score": self.score,
            "grade": self.grade,
            "thin_file": list(self.thin_file),
            "features": [
                {"name": f.name, "raw": f.raw, "normalized": f.normalized, "points": f.points}
                for f in self.features
            ],
            "volume_paid": {currency: str(amount) for currency, amount in self.volume_paid},
            "excluded": {"circular": self.excluded_circular, "closed": self.excluded_closed},
        }

    def canonical(self) -> bytes:
        """The report's canonical bytes (RFC 8785), what an attestation commits to."""
        return canonical_report(self.report())

    def report_hash(self) -> Hash32:
        """sha256 of the canonical report: the attestation's ``reportHash``."""
        return report_sha256(self.canonical())


# --- claims: split parts folded into their root ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claim:
    """One receivable counted once, however many parts it was split into (facts as of the
    scoring time)."""

    root: TokenId
    creditor: Address
    debtor: Address
    face_value: int
    currency: str
    due_at: int
    acknowledged_at: int
    paid: int
    paid_by_due: int
    settled_at: int | None
    defaulted_at: int | None
    financiers: frozenset[Address]


def _root_of(token: TokenId, parents: Mapping[TokenId, TokenId]) -> TokenId:
    seen = {token}
    while token in parents:
        token = parents[token]
        if token in seen:
            raise RecordInvalid("split parts form a loop", token_id=token)
        seen.add(token)
    return token


def _claims(records: Iterable[ReceivableRecord], time: int) -> list[_Claim]:
    """Every acknowledged claim as of ``time``, parts folded into their root, by root id."""
    current: dict[TokenId, ReceivableRecord] = {}
    for record in records:
        seen = record.as_of(time)
        if seen is None:
            continue
        if record.token_id in current:
            raise RecordInvalid("a receivable is given twice", token_id=record.token_id)
        current[record.token_id] = seen
    parents = {t: r.parent_id for t, r in current.items() if r.parent_id is not None}
    groups: dict[TokenId, list[ReceivableRecord]] = {}
    for token in sorted(current):
        groups.setdefault(_root_of(token, parents), []).append(current[token])
    has_children = set(parents.values())
    claims = []
    for root, members in sorted(groups.items()):
        head = current.get(root, members[0])  # the root, or the lowest part if it is missing
        leaves = [m for m in members if m.token_id not in has_children]
        acknowledged = [m.acknowledged_at for m in members if m.acknowledged_at is not None]
        if not acknowledged or head.creditor == head.debtor:
            continue
        due_at = min(m.due_at for m in members)
        cancelled = [m.cancelled_at for m in members if m.cancelled_at is not None]
        if cancelled and min(cancelled) < due_at:
            continue  # cancelled before it fell due: the debt never existed
        # A dispute removes nothing: the debtor acknowledged the debt, and disputing it late
        # must not erase a late payment either (docs/credit-scoring.md §2).
        payments = [p for m in members for p in m.payments]
        settled = [m.settled_at for m in leaves]
        defaulted = [m.defaulted_at for m in members if m.defaulted_at is not None]
        claims.append(
            _Claim(
                root=root,
                creditor=head.creditor,
                debtor=head.debtor,
                face_value=head.face_value
                if root in current
                else sum(m.face_value for m in leaves),
                currency=head.currency,
                due_at=due_at,
                acknowledged_at=min(acknowledged),
                paid=sum(p.amount for p in payments),
                paid_by_due=sum(p.amount for p in payments if p.at <= due_at),
                settled_at=None if None in settled else max(s for s in settled if s is not None),
                defaulted_at=min(defaulted) if defaulted else None,
                financiers=frozenset(f.financier for m in members for f in m.financings),
            )
        )
    return claims


# --- self-dealing --------------------------------------------------------------------------------


def _distances(
    start: Address, edges: Mapping[Address, set[Address]], limit: int
) -> dict[Address, int]:
    """Shortest directed hop counts from ``start``, up to ``limit`` hops."""
    distance = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if distance[node] == limit:
            continue
        for nxt in edges.get(node, ()):
            if nxt not in distance:
                distance[nxt] = distance[node] + 1
                queue.append(nxt)
    return distance


def _circular_and_closed(
    subject: Address, claims: list[_Claim]
) -> tuple[frozenset[Address], frozenset[Address]]:
    """The subject's counterparties that are circular (on a directed debtor -> creditor cycle of
    at most ``MAX_CYCLE`` addresses through the subject) and those in a closed cluster (no
    acknowledged claim with anyone outside the subject and its direct counterparties)."""
    owes: dict[Address, set[Address]] = {}
    owed: dict[Address, set[Address]] = {}
    trades: dict[Address, set[Address]] = {}
    for c in claims:
        owes.setdefault(c.debtor, set()).add(c.creditor)
        owed.setdefault(c.creditor, set()).add(c.debtor)
        trades.setdefault(c.debtor, set()).add(c.creditor)
        trades.setdefault(c.creditor, set()).add(c.debtor)
    counterparties = trades.get(subject, set())
    ahead = _distances(subject, owes, MAX_CYCLE)
    behind = _distances(subject, owed, MAX_CYCLE)
    circular = {
        c
        for c in counterparties
        if c in ahead and c in behind and ahead[c] + behind[c] <= MAX_CYCLE
    }
    neighbourhood = counterparties | {subject}
    closed = {c for c in counterparties - circular if trades[c] <= neighbourhood}
    return frozenset(circular), frozenset(closed)


# --- features ------------------------------------------------------------------------------------


def _late_days(claim: _Claim, time: int) -> int:
    """Whole days past due, a started day counting as one: at settlement, else still running."""
    end = claim.settled_at if claim.settled_at is not None else time
    return max(0, -(-(end - claim.due_at) // DAY))


def _share(part: int, whole: int) -> int | None:
    return part * BPS // whole if whole else None


def _capped(raw: int, cap: int) -> int:
    return min(raw, cap) * BPS // cap


def _feature(name: str, raw: int | None, normalized: int) -> Feature:
    weight = WEIGHTS[name]
    magnitude = abs(weight) * normalized // BPS  # truncated toward zero, whatever the sign
    return Feature(name, raw, normalized, magnitude if weight >= 0 else -magnitude)


def _features(subject: Address, counted: list[_Claim], time: int) -> tuple[Feature, ...]:
    owed = [c for c in counted if c.debtor == subject]
    matured = [c for c in owed if c.settled_at is not None or c.due_at <= time]
    late = [_late_days(c, time) for c in matured]
    on_time = [c for c in matured if c.settled_at is not None and c.settled_at <= c.due_at]
    partial = [c for c in matured if 0 < c.paid_by_due < c.face_value]
    defaults = [c for c in owed if c.defaulted_at is not None]
    issued = [c for c in counted if c.creditor == subject]
    financed = [c for c in issued if c.financiers - {subject, c.debtor}]
    financed_matured = [c for c in financed if c.settled_at is not None or c.due_at <= time]
    financed_settled = [c for c in financed_matured if c.settled_at is not None]
    first = min((c.acknowledged_at for c in counted), default=None)

    on_time_share = _share(len(on_time), len(matured))
    avg_late = sum(late) // len(late) if late else None
    max_late = max(late, default=None)
    partial_share = _share(len(partial), len(matured))
    financed_share = _share(len(financed_settled), len(financed_matured))
    age = (time - first) // DAY if first is not None else None
    debtors = len({c.debtor for c in issued})
    settled = sum(1 for c in owed if c.settled_at is not None)
    return (
        _feature("debtor_acknowledged", len(owed), _capped(len(owed), 20)),
        _feature(
            "debtor_on_time_share",
            on_time_share,
            NEUTRAL_SHARE if on_time_share is None else on_time_share,
        ),
        _feature("debtor_days_past_due_avg", avg_late, _capped(avg_late or 0, 60)),
        _feature("debtor_days_past_due_max", max_late, _capped(max_late or 0, 180)),
        _feature("debtor_defaults", len(defaults), _capped(len(defaults), 2)),
        _feature("debtor_partial_share", partial_share, partial_share or 0),
        _feature("debtor_settled", settled, _capped(settled, 20)),
        _feature("creditor_distinct_debtors", debtors, _capped(debtors, 10)),
        _feature("creditor_financed", len(financed), _capped(len(financed), 10)),
        _feature(
            "creditor_financed_settled_share",
            financed_share,
            NEUTRAL_SHARE if financed_share is None else financed_share,
        ),
        _feature("record_age_days", age, _capped(age or 0, 730)),
    )


def _grade(score: int) -> str:
    return next(grade for floor, grade in GRADE_BANDS if score >= floor)


def score_subject(
    subject: Address, records: Iterable[ReceivableRecord], *, block: Height, as_of: int
) -> CreditScore:
    """Score ``subject`` from ``records`` as of block ``block`` (its timestamp ``as_of``).

    ``records`` are the consortium's receivables in any order (facts after ``as_of`` are cut
    off here), all of them rather than only the subject's: the self-dealing rules follow the
    counterparties' own trade, up to ``MAX_CYCLE - 1`` hops away."""
    claims = _claims(records, as_of)
    circular, closed = _circular_and_closed(subject, claims)
    excluded = circular | closed
    mine = [c for c in claims if subject in (c.creditor, c.debtor)]
    counted = [
        c for c in mine if (c.debtor if c.creditor == subject else c.creditor) not in excluded
    ]
    features = _features(subject, counted, as_of)
    counterparties = {c.debtor if c.creditor == subject else c.creditor for c in counted}
    age = next(f.raw for f in features if f.name == "record_age_days")
    thin = tuple(
        reason
        for reason, short in (
            (f"fewer than {MIN_CLAIMS} counted claims", len(counted) < MIN_CLAIMS),
            (
                f"fewer than {MIN_COUNTERPARTIES} independent counterparties",
                len(counterparties) < MIN_COUNTERPARTIES,
            ),
            (f"record younger than {MIN_RECORD_DAYS} days", age is None or age < MIN_RECORD_DAYS),
        )
        if short
    )
    score = None if thin else max(0, min(SCORE_MAX, BASE_POINTS + sum(f.points for f in features)))
    volume: dict[str, int] = {}
    for c in counted:
        if c.debtor == subject:
            volume[c.currency] = volume.get(c.currency, 0) + c.paid
    return CreditScore(
        model=MODEL_VERSION,
        subject=subject,
        block=block,
        as_of=as_of,
        score=score,
        grade=INSUFFICIENT_HISTORY if score is None else _grade(score),
        features=features,
        thin_file=thin,
        volume_paid=tuple(sorted(volume.items())),
        excluded_circular=sum(1 for c in mine if (c.creditor in circular or c.debtor in circular)),
        excluded_closed=sum(1 for c in mine if (c.creditor in closed or c.debtor in closed)),
    )
