"""QBFT light client trust rules: set changes never weaker than the chain, removals that stay
live, bisection, misbehaviour evidence, ancestry, and Besu's header field rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pytest

from adapters.bft import qbft_block_hash
from adapters.errors import HeaderInvalid
from adapters.headers import Header, header_hash
from adapters.lightclient.qbft import (
    MisbehaviourKind,
    TrustedHeader,
    TrustPathPlanner,
    TrustPolicy,
    TrustTooLow,
    VerifiedHeader,
    find_misbehaviour,
    trust_header,
    verify_ancestor,
    verify_commit_seals,
    verify_header,
    verify_set_change,
    verify_skipping,
)
from adapters.types import Address
from tests.helpers.headers import (
    BESU_ACCEPTED_VARIANTS,
    BESU_MAX_ROUND,
    BESU_REFUSED_GAS_LIMITS,
    BESU_REFUSED_ROUNDS,
    GENESIS_TIME,
    keys_of,
    qbft_extra,
    qbft_header,
    validator_set,
)

V4 = validator_set(range(4))
OUTSIDERS = validator_set(range(6, 8))


def header(
    parent: Header | TrustedHeader,
    validators: tuple[Address, ...],
    signers: Sequence[Address],
    **changes: object,
) -> Header:
    parent_hash = parent.hash if isinstance(parent, TrustedHeader) else qbft_block_hash(parent)
    extra = qbft_extra(validators, round_=int(changes.pop("round_", 0)))  # type: ignore[call-overload]
    return qbft_header(
        parent.number + 1, extra, keys_of(signers), parent_hash=parent_hash, **changes
    )


@pytest.fixture
def anchor() -> TrustedHeader:
    return trust_header(qbft_header(0, qbft_extra(V4)))


# --- minority takeover -------------------------------------------------------------------------


def test_two_of_four_validators_cannot_install_a_set_of_their_own(anchor: TrustedHeader) -> None:
    # Validators 0 and 1 (below the chain's quorum of 3) list themselves plus two keys of
    # theirs, seal with all four: a quorum of the listed set, and "more than a third" of V4.
    takeover = validator_set([0, 1, 6, 7])
    forged = header(anchor, takeover, takeover, receipts_root=b"\xee" * 32)
    with pytest.raises(TrustTooLow) as err:
        verify_header(anchor, forged)
    assert (err.value.context["got"], err.value.context["needed"]) == (2, 3)


@pytest.mark.parametrize(
    ("numerator", "denominator", "trusted", "needed"),
    [(2, 3, 4, 3), (1, 3, 4, 2), (1, 3, 6, 3), (1, 1, 4, 4), (3, 4, 7, 6), (2, 3, 16, 11)],
)
def test_trust_threshold_is_the_configured_level_and_never_a_third_or_less(
    numerator: int, denominator: int, trusted: int, needed: int
) -> None:
    assert TrustPolicy(numerator, denominator).threshold(trusted) == needed


@pytest.mark.parametrize(("numerator", "denominator"), [(1, 4), (4, 3), (0, 1), (1, 0)])
def test_trust_level_outside_a_third_to_one_is_refused(numerator: int, denominator: int) -> None:
    with pytest.raises(HeaderInvalid, match="trust level"):
        TrustPolicy(numerator, denominator)


def test_a_lower_configured_trust_level_accepts_what_it_promises(anchor: TrustedHeader) -> None:
    new_set = validator_set([0, 1, 4, 5])
    change = header(anchor, new_set, new_set)  # 2 of the trusted 4
    with pytest.raises(TrustTooLow):
        verify_set_change(anchor, [change])
    assert verify_set_change(anchor, [change], policy=TrustPolicy(1, 3)).validators == new_set


# --- removal through a run of headers ------------------------------------------------------------


def test_removal_is_accepted_once_later_sealers_vouch_for_it(anchor: TrustedHeader) -> None:
    v3 = validator_set(range(3))  # validator 3 removed: quorum(3) = 2 < ceil(8/3) = 3
    first = header(anchor, v3, v3[:2])
    with pytest.raises(TrustTooLow):
        verify_header(anchor, first)
    same_sealers = header(first, v3, v3[:2])
    with pytest.raises(TrustTooLow):
        verify_set_change(anchor, [first, same_sealers])
    vouching = header(first, v3, v3[1:])
    verified = verify_set_change(anchor, [first, vouching])
    assert verified.hash == qbft_block_hash(first)
    assert verified.validators == v3
    assert verified.trusted_signers == v3


def test_a_forged_descendant_cannot_vouch_with_keys_outside_the_trusted_set(
    anchor: TrustedHeader,
) -> None:
    v3 = validator_set(range(3))
    first = header(anchor, v3, v3[:2])
    forged = header(first, OUTSIDERS, OUTSIDERS)
    with pytest.raises(TrustTooLow):
        verify_set_change(anchor, [first, forged])


def test_a_run_must_be_linked_by_parent_hash(anchor: TrustedHeader) -> None:
    v3 = validator_set(range(3))
    first = header(anchor, v3, v3[:2])
    unlinked = header(trust_header(qbft_header(1, qbft_extra(v3))), v3, v3[1:])
    with pytest.raises(HeaderInvalid, match="parent-linked"):
        verify_set_change(anchor, [first, unlinked])


def test_a_run_descendant_needs_its_own_quorum(anchor: TrustedHeader) -> None:
    v3 = validator_set(range(3))
    first = header(anchor, v3, v3[:2])
    with pytest.raises(HeaderInvalid, match="too few commit seals"):
        verify_set_change(anchor, [first, header(first, v3, v3[2:])])


def test_an_unchanged_set_is_not_a_set_change(anchor: TrustedHeader) -> None:
    with pytest.raises(HeaderInvalid, match="not a set change"):
        verify_set_change(anchor, [header(anchor, V4, V4[:3])])


# --- bisection ---------------------------------------------------------------------------------


def build_chain(
    anchor_header: Header, sets: Callable[[int], tuple[Address, ...]], length: int
) -> dict[int, Header]:
    """Headers 1..length; each sealed by a quorum of its set, rotating who seals."""
    chain = {0: anchor_header}
    for number in range(1, length + 1):
        validators = sets(number)
        quorum = -(-2 * len(validators) // 3)
        sealers = [validators[(number + i) % len(validators)] for i in range(quorum)]
        chain[number] = header(chain[number - 1], validators, sealers)
    return chain


def sets_over_time(number: int) -> tuple[Address, ...]:
    if number < 10:
        return validator_set(range(4))
    if number < 20:
        return validator_set(range(5))  # 4 added
    if number < 30:
        return validator_set(range(1, 5))  # 0 removed
    return validator_set(range(2, 7))  # 1 removed, 5 and 6 added


def test_planner_finds_a_path_across_several_set_changes() -> None:
    genesis = qbft_header(0, qbft_extra(V4))
    chain = build_chain(genesis, sets_over_time, 40)
    trusted = trust_header(genesis)
    with pytest.raises(TrustTooLow):
        verify_header(trusted, chain[40])  # shares too few sealers with V4
    planner = TrustPathPlanner(trusted, 40)
    fetched = []
    while planner.wanted is not None:
        fetched.append(planner.wanted)
        planner.give(chain[planner.wanted])
    assert planner.trusted.number == 40
    assert len(fetched) < 40
    # Replaying the steps from the anchor reaches the target with the same rules.
    for step in planner.steps:
        verified = (
            verify_set_change(trusted, step) if len(step) > 1 else verify_header(trusted, step[0])
        )
        trusted = verified.trusted()
    assert trusted.hash == qbft_block_hash(chain[40])
    assert any(len(step) > 1 for step in planner.steps)  # the removal at 20 needed a run


def test_planner_refuses_a_header_of_another_height() -> None:
    genesis = qbft_header(0, qbft_extra(V4))
    planner = TrustPathPlanner(trust_header(genesis), 5)
    with pytest.raises(HeaderInvalid, match="another height"):
        planner.give(qbft_header(4, qbft_extra(V4)))


# --- misbehaviour ------------------------------------------------------------------------------


def test_two_sealed_headers_at_one_height_are_a_double_sign(anchor: TrustedHeader) -> None:
    a = verify_skipping(anchor, header(anchor, V4, V4[:3]))
    b = verify_skipping(anchor, header(anchor, V4, V4[1:], receipts_root=b"\xee" * 32))
    evidence = find_misbehaviour(a, b)
    assert evidence is not None and evidence.kind is MisbehaviourKind.DOUBLE_SIGN
    assert find_misbehaviour(a, a) is None


def test_a_higher_header_with_an_earlier_timestamp_is_evidence(anchor: TrustedHeader) -> None:
    low = verify_skipping(anchor, header(anchor, V4, V4[:3], timestamp=GENESIS_TIME + 100))

    def later(timestamp: int) -> VerifiedHeader:
        sealed = qbft_header(
            5, qbft_extra(V4), keys_of(V4[:3]), parent_hash=b"\x01" * 32, timestamp=timestamp
        )
        return verify_skipping(anchor, sealed)

    evidence = find_misbehaviour(later(GENESIS_TIME + 99), low)
    assert evidence is not None and evidence.kind is MisbehaviourKind.TIMESTAMP_ORDER
    assert evidence.first.number == 1
    # equal timestamps at different heights are not evidence (sub-second block periods)
    assert find_misbehaviour(low, later(GENESIS_TIME + 100)) is None


# --- ancestry ----------------------------------------------------------------------------------


def test_an_older_header_is_proven_by_parent_hashes_from_an_accepted_one() -> None:
    chain = build_chain(qbft_header(0, qbft_extra(V4)), sets_over_time, 25)
    proven = verify_ancestor(qbft_block_hash(chain[25]), [chain[25 - i] for i in range(8)])
    assert proven == chain[18]
    # Down to genesis, which is hashed raw.
    assert verify_ancestor(qbft_block_hash(chain[3]), [chain[3], chain[2], chain[1], chain[0]])


def test_a_broken_ancestry_link_is_refused() -> None:
    chain = build_chain(qbft_header(0, qbft_extra(V4)), sets_over_time, 6)
    with pytest.raises(HeaderInvalid, match="ancestry link broken"):
        verify_ancestor(qbft_block_hash(chain[6]), [chain[6], chain[4]])
    with pytest.raises(HeaderInvalid, match="not the known header"):
        verify_ancestor(b"\x00" * 32, [chain[6], chain[5]])


# --- Besu's QBFT header field rules --------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        *({"gas_limit": g, "gas_used": 0} for g in BESU_REFUSED_GAS_LIMITS),
        *({"round_": r} for r in BESU_REFUSED_ROUNDS),
    ],
)
def test_headers_besu_refuses_are_refused(anchor: TrustedHeader, changes: dict[str, int]) -> None:
    sealed = header(anchor, V4, V4[:3], **changes)
    with pytest.raises(HeaderInvalid, match=r"gasLimit outside|round does not fit"):
        verify_commit_seals(sealed, V4)


@pytest.mark.parametrize(("vanity", "changes"), BESU_ACCEPTED_VARIANTS)
def test_headers_besu_accepts_are_accepted(
    anchor: TrustedHeader, vanity: bytes, changes: dict[str, object]
) -> None:
    extra = dataclasses.replace(qbft_extra(V4, round_=BESU_MAX_ROUND), vanity=vanity)
    sealed = qbft_header(1, extra, keys_of(V4[:3]), parent_hash=anchor.hash, **changes)
    assert verify_header(anchor, sealed).number == 1


def test_a_genesis_listing_its_validators_unsorted_anchors_the_sorted_set() -> None:
    # Besu sorts the validators it reads from a genesis file; sealed headers list them sorted.
    unsorted = tuple(reversed(V4))
    genesis = qbft_header(0, qbft_extra(unsorted), check_order=False)
    anchor = trust_header(genesis)
    assert anchor.validators == V4
    assert anchor.hash == header_hash(genesis)
    assert verify_header(anchor, header(anchor, V4, V4[:3])).number == 1
