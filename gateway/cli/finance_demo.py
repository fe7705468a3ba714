"""Supply-chain finance across chains: the four flows `make run` narrates after the bridge
flows (gateway/cli/demo.py), and tests/finance drives on a devnet with the services running.

1. ``financed_across_chains``: a supplier drafts, the buyer acknowledges by signature, the
   receivable goes to a public chain with private terms, a financier checks the disclosed
   terms and buys it there at a discount, the keeper collects the buyer's pre-authorised
   payment on the due date at home, and the payment reaches the financier on the public chain.
2. ``split_to_second_tier``: a first-tier supplier splits an acknowledged receivable and pays
   its own supplier with a part, who finances it at home.
3. ``credit_follows_conduct``: a buyer with a good record pays one receivable late and
   defaults on another; its score and grade fall, the old attestation is revoked and the new
   one published, and both reach ``creditOf`` on every public chain.
4. ``wash_ring``: four addresses that only trade among themselves, paying on time for months,
   still get no score.

Users sign their own transactions on their own chains (dev accounts, ``DEMO_ACCOUNTS`` of them
on the consortium); what crosses a chain, settles on the due date or marks a default is done
by the services. Flows 1, 3 and 4 move every chain's clock forward (``travel``): dev chains
only, in steps the public chains' light clients survive.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from nacl.public import PrivateKey

from adapters.errors import XgateError
from adapters.signer import LocalSigner
from adapters.types import Address, Hash32
from devnet.anvil import advance_clock
from devnet.keys import dev_accounts
from gateway.cli.credit_score_cmd import compute_score
from gateway.cli.demo_sides import (
    ADMIN,
    ALICE,
    DEMO_ACCOUNTS,
    REVOKED,
    DemoFailed,
    Side,
    crossing,
    dev_account,
    financing_terms,
    raw_address,
    say,
)
from gateway.config import XgateConfig
from gateway.domain.credit_attestation import attested_fields
from gateway.domain.credit_reports import grade_bytes
from gateway.domain.credit_score import CreditScore
from gateway.domain.disclosure import (
    Disclosure,
    check_disclosure,
    new_salt,
    open_disclosure,
    seal_disclosure,
)
from gateway.domain.typed_data import (
    FinancingOffer,
    financing_offer_message,
    receivable_acknowledgement_message,
)

# Flows 1-2: alice supplies DEBTOR (its own account: the earlier flows' receivables on bob
# come due as the clocks move, and a pre-authorised payment must go to the one meant).
FINANCIER, TIER2, DEBTOR = 3, 10, 11
BUYER, SUPPLIERS, OTHER_BUYER = 12, (13, 14, 15), 16  # flow 3
RING = (17, 18, 19, 20)  # flow 4
SCALE = 10**4  # settlement token units per fen (the devnet's CNY setting)
DAY = 86_400
SETTLED, DEFAULTED = 5, 6  # Receivable.State
REPORT_VALID_DAYS = 365


def _key(index: int) -> LocalSigner:
    return LocalSigner(dev_accounts(DEMO_ACCOUNTS)[index].private_key)


def _cny(fen: int) -> str:
    return f"{fen / 100:,.2f} CNY"


def _document(label: str) -> Hash32:
    return Hash32(hashlib.sha256(f"{label} {os.urandom(8).hex()}".encode()).digest())


# --- building blocks ----------------------------------------------------------------------------


async def draft(c: Side, creditor: int, debtor: int, face: int, due: int, label: str) -> int:
    """``creditor`` drafts a receivable on ``debtor`` (the creditor may draft its own); its id."""
    document = _document(label)
    terms = (dev_account(debtor), dev_account(creditor), face, b"CNY", due, document)
    await c.send(creditor, "receivable", "draft", terms)
    return int(await c.view("receivable", "tokenOfDocument", document))


async def acknowledge_by_signature(c: Side, token_id: int, debtor: int, submitter: int) -> None:
    """The debtor signs the EIP-712 acknowledgement, ``submitter`` sends it."""
    terms = financing_terms(await c.view("receivable", "financingOf", token_id))
    nonce = int(await c.view("receivable", "nonces", dev_account(debtor)))
    deadline = await c.now() + 3600
    message = receivable_acknowledgement_message(
        c.chain_id, c.address("receivable"), token_id, terms.document_hash, terms.face_value,
        terms.due_date, nonce, deadline,
    )  # fmt: skip
    signature = _key(debtor).sign_message(message)
    await c.send(submitter, "receivable", "acknowledgeBySig", token_id, deadline, signature)


async def fund(c: Side, who: int, fen: int) -> None:
    """The issuer mints ``fen`` worth of settlement tokens to ``who`` at home."""
    await c.send(ADMIN, "settlement_token", "mint", dev_account(who), fen * SCALE)


async def sell(
    side: Side, asset: str, pay_token: str, token_id: int, seller: int, financier: int,
    price: int, advance: int, discount_bps: int,
) -> None:  # fmt: skip
    """``seller`` offers ``token_id`` on ``side``'s financing desk, ``financier`` takes it."""
    desk = side.address("financing_desk")
    await side.send(seller, asset, "setApprovalForAll", desk, True)
    await side.send(financier, pay_token, "approve", desk, price)
    offer = FinancingOffer(
        asset=side.address(asset), token_id=token_id, seller=dev_account(seller),
        pay_token=side.address(pay_token), price=price, advance=advance,
        discount_bps=discount_bps, nonce=int.from_bytes(os.urandom(8), "big"),
        deadline=await side.now() + 3600, buyer=dev_account(financier),
    )  # fmt: skip
    signature = _key(seller).sign_message(financing_offer_message(side.chain_id, desk, offer))
    await side.send(financier, "financing_desk", "finance", offer.as_tuple(), signature)
    if raw_address(await side.view(asset, "ownerOf", token_id)) != dev_account(financier):
        raise DemoFailed(f"receivable #{token_id} did not reach the financier on {side.name}")


async def state_of(c: Side, token_id: int) -> int:
    return int(await c.view("receivable", "stateOf", token_id))


async def travel(c: Side, publics: Sequence[Side], seconds: int) -> None:
    """Move every chain's clock ``seconds`` forward (dev chains only). A public chain's light
    client takes consortium headers only while its latest one is younger than its trusting
    period, so the clocks move in steps of at most 2/5 of it, each followed by a wait until
    the relayer refreshed every light client whose header became too old (its keep-alive)."""
    periods = [int(await p.view("qbft_light_client", "trustingPeriod")) for p in publics]
    step_max = min(periods) * 2 // 5
    left = seconds
    while left > 0:
        step = min(left, step_max)
        await advance_clock(c.rpc_url, step)
        for p in publics:  # never behind the consortium: its headers would be from the future
            await advance_clock(p.rpc_url, max(step, await c.now() - await p.now()))
        left -= step
        for p, period in zip(publics, periods, strict=True):

            async def fresh(p: Side = p, period: int = period) -> bool:
                latest = int(await p.view("qbft_light_client", "latestTimestamp"))
                return await p.now() - latest < period - step_max

            await crossing(
                f"{p.name}'s light client keeps up with the consortium", fresh, show=False
            )


# --- flow 1 -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FinancedAcross:
    token_id: int
    public: str  # the public chain's name
    face: int  # fen
    price: int  # settlement token units the financier paid
    salt: Hash32


async def financed_across_chains(c: Side, private: Side, publics: Sequence[Side]) -> FinancedAcross:
    """Flow 1 on the public chain ``private`` (its route has private terms)."""
    alice, financier = dev_account(ALICE), dev_account(FINANCIER)
    # under the routes' hold threshold (100,000 CNY): a larger crossing waits for the guardian
    face, term_days, discount_bps = 80_000_00, 30, 320
    token_id = await draft(c, ALICE, DEBTOR, face, await c.now() + term_days * DAY, "po 4471")
    await acknowledge_by_signature(c, token_id, debtor=DEBTOR, submitter=ALICE)
    say(
        f"    alice drafted receivable #{token_id} on a buyer ({_cny(face)} in {term_days} days); "
        "the buyer acknowledged it with an EIP-712 signature alice submitted"
    )
    await fund(c, DEBTOR, face)
    await c.send(DEBTOR, "settlement_token", "approve", c.address("receivable"), face * SCALE)
    say("    the buyer pre-authorised the payment: the keeper collects it on the due date")

    salt = new_salt()
    await c.send(ALICE, "receivable", "approve", c.address("vault"), token_id)
    await c.send(
        ALICE, "vault", "lockERC721Private", c.address("receivable"), token_id,
        private.chain_id, alice, salt,
    )  # fmt: skip

    async def wrapped() -> bool:
        try:
            return (
                raw_address(await private.view("wrapped_receivable", "ownerOf", token_id)) == alice
            )
        except XgateError:
            return False  # not minted yet

    await crossing(f"minted on {private.name} with a commitment to its terms only", wrapped)
    commitment = bytes(await private.view("wrapped_receivable", "commitmentOf", token_id))
    try:
        await private.view("wrapped_receivable", "financingOf", token_id)
    except XgateError:
        pass  # TermsArePrivate: the public chain has the commitment only
    else:
        raise DemoFailed(f"the terms of #{token_id} are readable on {private.name}")

    terms = financing_terms(await c.view("receivable", "financingOf", token_id))
    financier_key = PrivateKey.generate()
    box = seal_disclosure(
        Disclosure(c.chain_id, c.address("receivable"), token_id, terms, salt),
        bytes(financier_key.public_key),
    )
    opened = open_disclosure(box, bytes(financier_key))
    mismatch = check_disclosure(
        opened, home_chain_id=c.chain_id, receivable=c.address("receivable"),
        token_id=token_id, commitment=commitment,
    )  # fmt: skip
    if mismatch is not None:
        raise DemoFailed(f"the disclosure of #{token_id} does not hold: {mismatch}")
    say(
        f"    alice sealed the terms to the financier's key ({len(box)} bytes); the financier "
        f"opened them and they match the commitment on {private.name}"
    )

    price = face * SCALE * (10_000 - discount_bps) // 10_000
    await fund(c, FINANCIER, face)
    await c.send(FINANCIER, "settlement_token", "approve", c.address("vault"), price)
    before = int(await private.view("wrapped_settlement_token", "balanceOf", financier))
    await c.send(
        FINANCIER, "vault", "lockERC20", c.address("settlement_token"), price, private.chain_id,
        financier,
    )  # fmt: skip

    async def funded() -> bool:
        balance = await private.view("wrapped_settlement_token", "balanceOf", financier)
        return int(balance) >= before + price

    await crossing(f"the financier's settlement tokens arrived on {private.name}", funded)
    alice_before = int(await private.view("wrapped_settlement_token", "balanceOf", alice))
    await sell(
        private, "wrapped_receivable", "wrapped_settlement_token", token_id, ALICE, FINANCIER,
        price, price // SCALE, discount_bps,
    )  # fmt: skip
    paid = int(await private.view("wrapped_settlement_token", "balanceOf", alice)) - alice_before
    if paid != price:
        raise DemoFailed(f"alice received {paid} for #{token_id}, not the price {price}")
    say(
        f"    the financier bought it on {private.name} at {discount_bps / 100:.2f} % off: "
        f"alice got {_cny(price // SCALE)} at once, in one transaction with the transfer"
    )

    await travel(c, publics, term_days * DAY)
    say(f"    ... {term_days} days later, the due date")

    async def settled_home() -> bool:
        return await state_of(c, token_id) == SETTLED

    await crossing("the keeper collected the buyer's payment on the consortium", settled_home)

    async def reached() -> bool:
        paid, settled = await private.view("wrapped_receivable", "paymentOf", token_id)
        return int(paid) == face and bool(settled)

    await crossing(
        f"the payment reached the financier on {private.name}, the copy is settled", reached
    )
    return FinancedAcross(token_id, private.name, face, price, salt)


# --- flow 2 -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SplitFinanced:
    parent_id: int
    part_ids: tuple[int, ...]
    financed_part: int
    price: int


async def split_to_second_tier(c: Side) -> SplitFinanced:
    """Flow 2, all on the consortium."""
    face, parts, discount_bps = 200_000_00, (120_000_00, 80_000_00), 250
    parent = await draft(c, ALICE, DEBTOR, face, await c.now() + 60 * DAY, "po 5120")
    await c.send(DEBTOR, "receivable", "acknowledge", parent)
    say(f"    the buyer acknowledged alice's receivable #{parent} ({_cny(face)} in 60 days)")
    await c.send(ALICE, "receivable", "split", parent, list(parts))
    parent_doc = (await c.view("receivable", "financingOf", parent))[5]
    part_ids = tuple(
        [
            int(await c.view("receivable", "tokenOfDocument", _part_document(parent_doc, i)))
            for i in range(len(parts))
        ]
    )
    say(
        f"    alice split it into #{part_ids[0]} ({_cny(parts[0])}) and #{part_ids[1]} "
        f"({_cny(parts[1])}), each still a claim on the buyer"
    )
    tier2 = dev_account(TIER2)
    await c.send(ALICE, "receivable", "transferFrom", dev_account(ALICE), tier2, part_ids[1])
    say(f"    alice paid her own supplier (second tier) with #{part_ids[1]}")
    price = parts[1] * SCALE * (10_000 - discount_bps) // 10_000
    await fund(c, FINANCIER, parts[1])
    before = int(await c.view("settlement_token", "balanceOf", tier2))
    await sell(
        c, "receivable", "settlement_token", part_ids[1], TIER2, FINANCIER, price,
        price // SCALE, discount_bps,
    )  # fmt: skip
    got = int(await c.view("settlement_token", "balanceOf", tier2)) - before
    financier, advance, bps, _ = await c.view("receivable", "financingRecord", part_ids[1], 0)
    if got != price or raw_address(financier) != dev_account(FINANCIER) or bps != discount_bps:
        raise DemoFailed(f"the financing of #{part_ids[1]} was not recorded as agreed")
    debtor = raw_address((await c.view("receivable", "financingOf", part_ids[1]))[0])
    if debtor != dev_account(DEBTOR):
        raise DemoFailed(f"part #{part_ids[1]} lost its debtor")
    say(
        f"    the second-tier supplier financed it on the buyer's credit: {_cny(advance)} "
        f"at {discount_bps / 100:.2f} % off, recorded on the receivable"
    )
    return SplitFinanced(parent, part_ids, part_ids[1], price)


def _part_document(parent_document: bytes, index: int) -> bytes:
    """``Receivable.split``'s part document hash: keccak256(abi.encode(parent, index))."""
    from adapters.mpt import keccak256

    return keccak256(bytes(parent_document) + index.to_bytes(32, "big"))


# --- flows 3 and 4 ------------------------------------------------------------------------------


async def _book(
    c: Side, claims: Sequence[tuple[int, int]], face: int, term_days: int, paid: bool, label: str
) -> list[int]:
    """Receivables (creditor, debtor) drafted by the issuer and acknowledged; when ``paid``,
    paid in full at once (each debtor approves exactly what it pays: nothing is left for the
    keeper to pull later). Three rounds of transactions, however many receivables."""
    due = await c.now() + term_days * DAY
    documents = [_document(f"{label} {n}") for n in range(len(claims))]
    owed = Counter(debtor for _, debtor in claims) if paid else Counter[int]()
    await c.send_all(
        [
            *(
                (ADMIN, "receivable", "draft",
                 ((dev_account(d), dev_account(cr), face, b"CNY", due, doc),))
                for (cr, d), doc in zip(claims, documents, strict=True)
            ),
            *(
                (ADMIN, "settlement_token", "mint", (dev_account(d), n * face * SCALE))
                for d, n in owed.items()
            ),
        ]
    )  # fmt: skip
    ids = [int(await c.view("receivable", "tokenOfDocument", doc)) for doc in documents]
    receivable = c.address("receivable")
    await c.send_all(
        [
            *((d, "receivable", "acknowledge", (t,)) for (_, d), t in zip(claims, ids, strict=True)),
            *((d, "settlement_token", "approve", (receivable, n * face * SCALE)) for d, n in owed.items()),
        ]
    )  # fmt: skip
    if paid:
        await c.send_all(
            [(d, "receivable", "pay", (t, face)) for (_, d), t in zip(claims, ids, strict=True)]
        )
    return ids


async def score(cfg: XgateConfig, c: Side, subject: int) -> CreditScore:
    """The subject's score at the consortium's latest block (what `xgate credit score` prints)."""
    return (await compute_score(cfg, dev_account(subject), None)).score


def _grade_line(s: CreditScore) -> str:
    value, grade = attested_fields(s)
    return f"{value} / {grade}" if s.score is not None else f"{grade} (no score)"


async def attest(c: Side, publics: Sequence[Side], subject: int, s: CreditScore) -> int:
    """The issuer attests ``s`` and publishes it to every public chain; the version."""
    value, grade = attested_fields(s)
    valid_until = s.as_of + REPORT_VALID_DAYS * DAY
    who = dev_account(subject)
    await c.send(
        ADMIN, "credit_registry", "attest", who, value, grade_bytes(grade), valid_until,
        s.report_hash(),
    )  # fmt: skip
    for p in publics:
        await c.send(ADMIN, "credit_registry", "publish", who, p.chain_id)
    return int((await c.view("credit_registry", "attestationOf", who))[1])  # its version


@dataclass(frozen=True, slots=True)
class ConductScored:
    subject: Address
    before: CreditScore
    after: CreditScore
    late_token: int
    defaulted_token: int


async def credit_follows_conduct(
    c: Side, publics: Sequence[Side], cfg: XgateConfig
) -> ConductScored:
    """Flow 3: the buyer builds a record, is attested, pays late and defaults, is re-rated."""
    face, buyer = 50_000_00, dev_account(BUYER)
    s1, s2, s3 = SUPPLIERS
    await _book(c, [(s, BUYER) for s in (s1, s2, s3, s1, s2)], face, 30, True, "buyer record")
    # each supplier sells to another buyer too: they are independent of the buyer
    await _book(c, [(s, OTHER_BUYER) for s in SUPPLIERS], face, 400, False, "other buyer")
    say(
        "    a buyer acknowledged and paid five receivables of three suppliers on time "
        "(who also sell to others)"
    )
    await travel(c, publics, 100 * DAY)
    before = await score(cfg, c, BUYER)
    if before.score is None:
        raise DemoFailed(f"the buyer's record did not make a score: {before.grade}")
    version = await attest(c, publics, BUYER, before)
    say(
        f"    ... 100 days later: scored {_grade_line(before)}; the issuer attested it (v{version})"
    )
    for p in publics:

        async def mirrored(p: Side = p) -> bool:
            return int((await p.view("credit_mirror", "creditOf", buyer))[0]) == before.score

        await crossing(f"creditOf(buyer) on {p.name} reads {_grade_line(before)}", mirrored)

    # two faces: the late payment's authorisation can only settle the one it is meant for
    [late] = await _book(c, [(s2, BUYER)], face, 10, False, "buyer late")
    [defaulted] = await _book(c, [(s3, BUYER)], face + 10_000_00, 10, False, "buyer default")
    say(f"    the buyer owes #{late} and #{defaulted}, due in 10 days, and pre-authorises neither")
    await travel(c, publics, 20 * DAY)
    await fund(c, BUYER, face)
    await c.send(BUYER, "settlement_token", "approve", c.address("receivable"), face * SCALE)
    say(f"    ... 10 days past due, the buyer authorises the payment of #{late}")

    async def paid_late() -> bool:
        return await state_of(c, late) == SETTLED

    await crossing(f"the keeper collected #{late}, 10 days late", paid_late)
    await travel(c, publics, 25 * DAY)

    async def marked() -> bool:
        return await state_of(c, defaulted) == DEFAULTED

    await crossing(f"the grace period over, the keeper marked #{defaulted} defaulted", marked)

    after = await score(cfg, c, BUYER)
    if after.score is None or before.score is None or after.score >= before.score:
        raise DemoFailed(f"the score did not fall: {_grade_line(before)} -> {_grade_line(after)}")
    say(f"    rescored from the chain: {_grade_line(before)} -> {_grade_line(after)}")
    await c.send(ADMIN, "credit_registry", "revoke", buyer)  # fans out to every mirror
    for p in publics:

        async def revoked(p: Side = p) -> bool:
            return int((await p.view("credit_mirror", "creditOf", buyer))[4]) == REVOKED

        await crossing(f"the revocation of v{version} reached {p.name}", revoked)
    new_version = await attest(c, publics, BUYER, after)
    for p in publics:

        async def updated(p: Side = p) -> bool:
            credit = await p.view("credit_mirror", "creditOf", buyer)
            return int(credit[0]) == after.score and int(credit[4]) != REVOKED

        await crossing(
            f"v{new_version} ({_grade_line(after)}) is creditOf(buyer) on {p.name}", updated
        )
    return ConductScored(buyer, before, after, late, defaulted)


@dataclass(frozen=True, slots=True)
class RingScored:
    members: tuple[Address, ...]
    token_ids: tuple[int, ...]
    score: CreditScore


async def wash_ring(c: Side, publics: Sequence[Side], cfg: XgateConfig) -> RingScored:
    """Flow 4: a ring trades in a circle, pays on time for months, and gets no score."""
    face, rounds = 90_000_00, 2
    circle = [(RING[(i + 1) % len(RING)], RING[i]) for i in range(len(RING))]  # i owes i+1
    ids = await _book(c, circle * rounds, face, 30, True, "ring")
    say(
        f"    four addresses drafted, acknowledged and paid {len(ids)} receivables in a circle, "
        "all on time"
    )
    await travel(c, publics, 95 * DAY)
    s = await score(cfg, c, RING[0])
    if s.score is not None:
        raise DemoFailed(f"the wash ring got a score: {_grade_line(s)}")
    say(
        f"    ... 95 days later, scored from the chain: {s.grade}: every claim of the ring "
        "is circular, none counts"
    )
    return RingScored(tuple(dev_account(i) for i in RING), tuple(ids), s)


__all__ = [
    "BUYER",
    "DEBTOR",
    "FINANCIER",
    "OTHER_BUYER",
    "RING",
    "SUPPLIERS",
    "TIER2",
    "ConductScored",
    "FinancedAcross",
    "RingScored",
    "SplitFinanced",
    "credit_follows_conduct",
    "financed_across_chains",
    "split_to_second_tier",
    "travel",
    "wash_ring",
]
