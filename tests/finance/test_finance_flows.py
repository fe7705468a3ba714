"""The four supply-chain finance flows on a devnet with the services running (issue 9): each
runs as `make run` narrates it (gateway/cli/finance_demo.py), then its outcome is checked
here on the chains, independently of what the flow checked itself."""

from __future__ import annotations

from hashlib import sha256

from eth_utils.address import to_checksum_address

from gateway.cli.credit_score_cmd import compute_score
from gateway.cli.demo_sides import ALICE, dev_account, financing_terms
from gateway.cli.finance_demo import (
    BUYER,
    DEBTOR,
    FINANCIER,
    RING,
    SCALE,
    TIER2,
    credit_follows_conduct,
    financed_across_chains,
    split_to_second_tier,
    wash_ring,
)
from gateway.domain.credit_reports import grade_text
from gateway.domain.credit_score import GRADE_BANDS, INSUFFICIENT_HISTORY, MIN_RECORD_DAYS
from gateway.domain.disclosure import terms_commitment
from tests.finance.conftest import Finance

SETTLED, DEFAULTED, SPLIT = 5, 6, 7  # Receivable.State
VALID = 1  # CreditStatus.Valid
GRADES = [grade for _, grade in GRADE_BANDS]  # best first


def _checksummed(index: int) -> str:
    return to_checksum_address(dev_account(index))


async def test_a_first_tier_supplier_splits_a_receivable_and_its_supplier_finances_a_part(
    finance: Finance,
) -> None:
    done = await split_to_second_tier(finance.consortium)

    r = finance.net.contract("c.receivable").functions
    assert r.stateOf(done.parent_id).call() == SPLIT
    parent_face = r.financingOf(done.parent_id).call()[2]
    parts = [r.financingOf(p).call() for p in done.part_ids]
    assert sum(p[2] for p in parts) == parent_face
    assert {p[0] for p in parts} == {_checksummed(DEBTOR)}  # the buyer owes every part
    assert r.ownerOf(done.part_ids[0]).call() == _checksummed(ALICE)  # alice keeps one
    assert r.ownerOf(done.financed_part).call() == _checksummed(FINANCIER)
    financier, advance, discount_bps, _ = r.financingRecord(done.financed_part, 0).call()
    assert (financier, advance) == (_checksummed(FINANCIER), done.price // SCALE)
    assert 0 < discount_bps < 10_000
    token = finance.net.contract("c.settlement_token").functions
    assert token.balanceOf(_checksummed(TIER2)).call() == done.price


async def test_a_receivable_sold_on_a_private_route_pays_its_public_financier_on_the_due_date(
    finance: Finance,
) -> None:
    c, public = finance.consortium, finance.public
    done = await financed_across_chains(c, public, [public])

    home = finance.net.contract("c.receivable").functions
    wrapped = finance.net.contract("p.wrapped_receivable").functions
    assert home.stateOf(done.token_id).call() == SETTLED
    assert home.ownerOf(done.token_id).call() == finance.net.contract("c.vault").address
    assert wrapped.ownerOf(done.token_id).call() == _checksummed(FINANCIER)
    assert wrapped.isPrivate(done.token_id).call() is True
    terms = financing_terms(home.financingOf(done.token_id).call())
    assert (terms.debtor, terms.creditor) == (dev_account(DEBTOR), dev_account(ALICE))
    assert wrapped.commitmentOf(done.token_id).call() == terms_commitment(done.salt, terms)
    assert tuple(wrapped.paymentOf(done.token_id).call()) == (done.face, True)
    status = home.statusOf(done.token_id).call()
    assert status[8] == 0  # paid on the due date: no day past due
    wrapped_token = finance.net.contract("p.wrapped_settlement_token").functions
    # the financier paid the price and was paid the face value: the discount is its return
    assert wrapped_token.balanceOf(_checksummed(FINANCIER)).call() == done.face * SCALE
    assert wrapped_token.balanceOf(_checksummed(ALICE)).call() >= done.price


async def test_a_late_payment_and_a_default_lower_the_buyers_grade_and_the_mirror_follows(
    finance: Finance,
) -> None:
    c, public = finance.consortium, finance.public
    done = await credit_follows_conduct(c, [public], finance.cfg)

    before, after = done.before, done.after
    assert before.score is not None and after.score is not None
    assert after.score < before.score
    assert GRADES.index(after.grade) > GRADES.index(before.grade)
    raw = {f.name: f.raw for f in after.features}
    assert raw["debtor_defaults"] == 1 and (raw["debtor_days_past_due_max"] or 0) >= 10
    home = finance.net.contract("c.receivable").functions
    assert home.stateOf(done.late_token).call() == SETTLED
    assert home.statusOf(done.late_token).call()[8] >= 10  # days past due, recorded at home
    assert home.stateOf(done.defaulted_token).call() == DEFAULTED

    buyer = _checksummed(BUYER)
    attested = finance.net.contract("c.credit_registry").functions.attestationOf(buyer).call()
    mirror = finance.net.contract("p.credit_mirror").functions
    score, grade, _, _, status = mirror.creditOf(buyer).call()
    assert (score, grade_text(grade), status) == (after.score, after.grade, VALID)
    # the new attestation, not the revoked one, with the hash of the report it was made from
    assert tuple(mirror.attestationOf(buyer).call()) == tuple(attested)
    assert attested[7] == sha256(after.canonical()).digest()
    # a reader recomputes the attested report from the chain at its block: the same bytes
    again = (await compute_score(finance.cfg, done.subject, int(after.block))).score
    assert again.canonical() == after.canonical()


async def test_a_wash_trading_ring_that_pays_on_time_for_months_gets_no_score(
    finance: Finance,
) -> None:
    done = await wash_ring(finance.consortium, [finance.public], finance.cfg)

    s = done.score
    assert (s.score, s.grade) == (None, INSUFFICIENT_HISTORY)
    # not for want of time or conduct: months of receivables, every one paid on time, and
    # every one left out as circular
    home = finance.net.contract("c.receivable").functions
    statuses = [home.statusOf(t).call() for t in done.token_ids]
    assert len(statuses) >= 8
    assert all(st[0] == SETTLED and st[8] == 0 for st in statuses)
    assert s.as_of - min(st[5] for st in statuses) >= MIN_RECORD_DAYS * 86_400
    assert s.excluded_circular == sum(
        1 for st, t in zip(statuses, done.token_ids, strict=True)
        if dev_account(RING[0]) in {bytes.fromhex(a[2:]) for a in home.financingOf(t).call()[:2]}
    )  # fmt: skip
    for member in RING:
        again = (await compute_score(finance.cfg, dev_account(member), int(s.block))).score
        assert again.score is None
