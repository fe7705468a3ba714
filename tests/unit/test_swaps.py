"""gateway.domain.swaps: the timelock rule of htlc.md §5.3 at its boundary, the contracts' key
and logs, and every state and decision of the keeper's swap rules (pure, offline)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from adapters.errors import ConfigError, DecodeError, FatalError
from adapters.receipts import Log
from adapters.types import Address, ChainId, Hash32, TxHash
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState
from gateway.domain.swaps import (
    ACTIVE_STATES,
    CLAIMED_TOPIC,
    LOCKED_NATIVE_TOPIC,
    LOCKED_TOKEN_TOPIC,
    REFUNDED_TOPIC,
    TERMINAL_STATES,
    Action,
    ActionKind,
    ClaimedEvent,
    KeeperRules,
    LegRole,
    LegStatus,
    LockedEvent,
    RefundedEvent,
    TimelockMargin,
    UnsafeTimelocks,
    check_timelock_margin,
    decide,
    decode_htlc_event,
    derive_state,
    hashlock_of,
    leg_status,
    swap_key,
)

A, B = ChainId(1), ChainId(2)
KEEPER = Address(b"\x0e" * 20)
INITIATOR = Address(b"\x01" * 20)
PARTICIPANT = Address(b"\x02" * 20)
DESTINATION = Address(b"\x03" * 20)
HTLC_A, HTLC_B = Address(b"\xaa" * 20), Address(b"\xbb" * 20)
TOKEN = Address(b"\x70" * 20)
PREIMAGE = bytes(range(32))
HASHLOCK = Hash32(hashlib.sha256(PREIMAGE).digest())
T_B = 1_000_000
T_A = T_B + 3600
RULES = KeeperRules(
    finality_s={A: 780.0, B: 2.0}, relay_latency_s=300.0, clock_skew_s=60.0, safety_delay_s=1800.0
)  # F_A + F_B + L + S + D = 2942 s < 3600 s
TX_LOCK, TX_CLAIM, TX_REFUND = TxHash(b"\x11" * 32), TxHash(b"\x22" * 32), TxHash(b"\x33" * 32)


def make_swap(**changes: object) -> Swap:
    swap = Swap(
        swap_id=Hash32(b"\x5a" * 32),
        hashlock=HASHLOCK,
        initiator=INITIATOR,
        participant=PARTICIPANT,
        initiator_leg=SwapLeg(
            chain_id=A,
            htlc=HTLC_A,
            asset_kind=AssetKind.NATIVE,
            token=Address(bytes(20)),
            value=10**18,
            claimer=PARTICIPANT,
            refunder=INITIATOR,  # a plain lock: the user refunds (the keeper for them)
            timelock=T_A,
        ),
        participant_leg=SwapLeg(
            chain_id=B,
            htlc=HTLC_B,
            asset_kind=AssetKind.ERC20,
            token=TOKEN,
            value=500,
            claimer=INITIATOR,
            refunder=PARTICIPANT,
            timelock=T_B,
        ),
        claim_signature=b"\x99" * 65,
        claim_destination=DESTINATION,
        refund_authorised=True,
    )
    return replace(swap, **changes)  # type: ignore[arg-type]


def legs(swap: Swap, a: LegStatus, b: LegStatus) -> Swap:
    """``swap`` with each leg's progress set to show ``a`` / ``b``."""

    def leg(leg: SwapLeg, status: LegStatus) -> SwapLeg:
        return replace(
            leg,
            lock_tx=None if status == LegStatus.ABSENT else TX_LOCK,
            claim_tx=TX_CLAIM if status == LegStatus.CLAIMED else None,
            refund_tx=TX_REFUND if status == LegStatus.REFUNDED else None,
        )

    return replace(
        swap, initiator_leg=leg(swap.initiator_leg, a), participant_leg=leg(swap.participant_leg, b)
    )


L = LegStatus
EARLY = {A: T_B - 600, B: T_B - 600}  # both chains well before both timelocks
B_PASSED = {A: T_B + 10, B: T_B}  # B reached T_B, A still before T_A
BOTH_PASSED = {A: T_A, B: T_A}


# --- the timelock rule -----------------------------------------------------------------------------


def test_margin_rule_accepts_exactly_the_required_margin() -> None:
    # The docs' example: 13 min public finality, seconds on the consortium, 5 min relay,
    # 1 min skew, 30 min safety delay: 49 minutes (plus the consortium's 2 s).
    required = 780 + 2 + 300 + 60 + 1800
    margin = check_timelock_margin(T_B + required, T_B, 780, 2, 300, 60, 1800)
    assert isinstance(margin, TimelockMargin)
    assert (margin.margin_s, margin.required_s, margin.safe) == (required, required, True)


def test_margin_rule_refuses_one_second_less_with_the_numbers() -> None:
    required = 780 + 2 + 300 + 60 + 1800
    with pytest.raises(UnsafeTimelocks) as err:
        check_timelock_margin(T_B + required - 1, T_B, 780, 2, 300, 60, 1800)
    exc = err.value
    assert isinstance(exc, FatalError) and not exc.retryable
    assert exc.context == {
        "initiator_timelock": T_B + required - 1,
        "participant_timelock": T_B,
        "margin_s": required - 1,
        "required_s": required,
        "finality_a_s": 780,
        "finality_b_s": 2,
        "relay_latency_s": 300,
        "clock_skew_s": 60,
        "safety_delay_s": 1800,
    }


def test_margin_rule_refuses_reversed_timelocks() -> None:
    with pytest.raises(UnsafeTimelocks):
        check_timelock_margin(T_B, T_A, 0, 0, 0, 0, 0)
    check_timelock_margin(T_B, T_B, 0, 0, 0, 0, 0)  # all terms zero: equal timelocks pass


def test_margin_rule_refuses_negative_terms() -> None:
    with pytest.raises(ConfigError):
        check_timelock_margin(T_A, T_B, -1, 0, 0, 0, 0)
    with pytest.raises(ConfigError):
        KeeperRules(finality_s={A: 1.0}, relay_latency_s=0, clock_skew_s=-1, safety_delay_s=0)


def test_rules_margin_uses_each_legs_chain_finality() -> None:
    swap = make_swap()
    margin = RULES.margin(swap)
    assert (margin.finality_a_s, margin.finality_b_s) == (780.0, 2.0)
    assert margin.required_s == 780 + 2 + 300 + 60 + 1800
    # A chain without a known finality cannot be proven safe.
    unknown = replace(swap, participant_leg=replace(swap.participant_leg, chain_id=ChainId(9)))
    with pytest.raises(UnsafeTimelocks) as err:
        RULES.margin(unknown)
    assert err.value.context["chain_id"] == 9


# --- key and logs ----------------------------------------------------------------------------------


def test_swap_key_is_the_contracts_abi_encoding() -> None:
    leg = make_swap().participant_leg
    expected = keccak(
        encode(
            ["bytes32", "uint256", "address", "address", "address", "uint256"],
            [HASHLOCK, leg.value, leg.token, leg.claimer, leg.refunder, leg.timelock],
        )
    )
    assert swap_key(HASHLOCK, leg) == expected
    assert swap_key(HASHLOCK, replace(leg, value=leg.value + 1)) != expected


def test_hashlock_is_sha256_of_exactly_32_bytes() -> None:
    assert hashlock_of(PREIMAGE) == HASHLOCK
    with pytest.raises(DecodeError):
        hashlock_of(PREIMAGE[:31])


def word(address: bytes) -> bytes:
    return bytes(12) + address


def test_decode_native_lock_gives_the_key_of_the_leg() -> None:
    leg = make_swap().initiator_leg
    log = Log(
        HTLC_A,
        (LOCKED_NATIVE_TOPIC, HASHLOCK, word(leg.claimer), word(leg.refunder)),
        encode(["uint256", "uint256"], [leg.value, leg.timelock]),
    )
    event = decode_htlc_event(log, AssetKind.NATIVE)
    assert event == LockedEvent(
        HTLC_A, HASHLOCK, leg.claimer, leg.refunder, leg.token, leg.value, leg.timelock
    )
    assert isinstance(event, LockedEvent) and event.key == swap_key(HASHLOCK, leg)


def test_decode_token_lock_claim_and_refund() -> None:
    leg = make_swap().participant_leg
    lock = Log(
        HTLC_B,
        (LOCKED_TOKEN_TOPIC, HASHLOCK, word(leg.claimer), word(leg.refunder)),
        encode(["address", "uint256", "uint256"], [leg.token, leg.value, leg.timelock]),
    )
    event = decode_htlc_event(lock, AssetKind.ERC20)
    assert isinstance(event, LockedEvent) and event.key == swap_key(HASHLOCK, leg)
    assert decode_htlc_event(
        Log(HTLC_B, (CLAIMED_TOPIC, HASHLOCK), PREIMAGE), AssetKind.ERC721
    ) == (ClaimedEvent(HTLC_B, HASHLOCK, PREIMAGE))
    assert decode_htlc_event(Log(HTLC_B, (REFUNDED_TOPIC, HASHLOCK), b""), AssetKind.NATIVE) == (
        RefundedEvent(HTLC_B, HASHLOCK)
    )
    # A native Locked topic on a token HTLC is someone else's event.
    assert decode_htlc_event(Log(HTLC_B, (LOCKED_NATIVE_TOPIC,), b""), AssetKind.ERC20) is None
    assert decode_htlc_event(Log(HTLC_B, (), b""), AssetKind.ERC20) is None


@pytest.mark.parametrize(
    "log",
    [
        Log(HTLC_A, (CLAIMED_TOPIC, HASHLOCK), PREIMAGE[:31]),
        Log(HTLC_A, (REFUNDED_TOPIC,), b""),
        Log(HTLC_A, (LOCKED_NATIVE_TOPIC, HASHLOCK, b"\x01" * 32, word(KEEPER)), bytes(64)),
        Log(HTLC_A, (LOCKED_NATIVE_TOPIC, HASHLOCK, word(KEEPER), word(KEEPER)), bytes(63)),
    ],
)
def test_malformed_htlc_logs_are_decode_errors(log: Log) -> None:
    with pytest.raises(DecodeError):
        decode_htlc_event(log, AssetKind.NATIVE)


# --- states ----------------------------------------------------------------------------------------


def test_leg_status_follows_the_recorded_progress() -> None:
    leg = make_swap().initiator_leg
    assert leg_status(leg) == L.ABSENT
    assert leg_status(replace(leg, lock_tx=TX_LOCK)) == L.LOCKED
    assert leg_status(replace(leg, lock_tx=TX_LOCK, claim_tx=TX_CLAIM)) == L.CLAIMED
    assert leg_status(replace(leg, lock_tx=TX_LOCK, refund_tx=TX_REFUND)) == L.REFUNDED


@pytest.mark.parametrize(
    ("a", "b", "times", "preimage", "state"),
    [
        # the happy path
        (L.ABSENT, L.ABSENT, EARLY, None, SwapState.PROPOSED),
        (L.ABSENT, L.ABSENT, {}, None, SwapState.PROPOSED),  # nothing scanned yet
        (L.LOCKED, L.ABSENT, EARLY, None, SwapState.INITIATOR_LOCKED),
        (L.LOCKED, L.LOCKED, EARLY, None, SwapState.BOTH_LOCKED),
        (L.LOCKED, L.CLAIMED, EARLY, PREIMAGE, SwapState.INITIATOR_CLAIMED),
        (L.LOCKED, L.LOCKED, EARLY, PREIMAGE, SwapState.INITIATOR_CLAIMED),  # secret public
        (L.CLAIMED, L.CLAIMED, EARLY, PREIMAGE, SwapState.COMPLETED),
        # the timeout path
        (L.LOCKED, L.LOCKED, B_PASSED, None, SwapState.REFUNDING),
        (L.LOCKED, L.REFUNDED, B_PASSED, None, SwapState.REFUNDING),
        (L.LOCKED, L.REFUNDED, BOTH_PASSED, None, SwapState.REFUNDING),
        (L.REFUNDED, L.REFUNDED, BOTH_PASSED, None, SwapState.REFUNDED),
        (L.LOCKED, L.ABSENT, B_PASSED, None, SwapState.INITIATOR_LOCKED),  # A waits for T_A
        (L.LOCKED, L.ABSENT, BOTH_PASSED, None, SwapState.REFUNDING),
        (L.REFUNDED, L.ABSENT, BOTH_PASSED, None, SwapState.REFUNDED),
        # nothing locked in time
        (L.ABSENT, L.ABSENT, BOTH_PASSED, None, SwapState.EXPIRED),
        (L.ABSENT, L.ABSENT, B_PASSED, None, SwapState.PROPOSED),  # A may still lock
        # the participant locked first (against rule 1): its leg is refunded on time
        (L.ABSENT, L.LOCKED, EARLY, None, SwapState.PROPOSED),
        (L.ABSENT, L.LOCKED, B_PASSED, None, SwapState.REFUNDING),
        # a party acted too late: one leg claimed, the other refunded
        (L.REFUNDED, L.CLAIMED, BOTH_PASSED, PREIMAGE, SwapState.EXPIRED),
        (L.CLAIMED, L.REFUNDED, BOTH_PASSED, PREIMAGE, SwapState.EXPIRED),
        (L.LOCKED, L.CLAIMED, BOTH_PASSED, PREIMAGE, SwapState.INITIATOR_CLAIMED),
    ],
)
def test_derive_state(
    a: LegStatus,
    b: LegStatus,
    times: dict[ChainId, int],
    preimage: bytes | None,
    state: SwapState,
) -> None:
    assert derive_state(legs(make_swap(preimage=preimage), a, b), times) == state


def test_state_sets() -> None:
    assert set(SwapState) == TERMINAL_STATES | ACTIVE_STATES
    assert not TERMINAL_STATES & ACTIVE_STATES
    assert {SwapState.COMPLETED, SwapState.REFUNDED, SwapState.EXPIRED} == TERMINAL_STATES


# --- decisions -------------------------------------------------------------------------------------


def test_no_action_while_waiting_for_locks_or_the_secret() -> None:
    swap = make_swap()
    for a, b in [(L.ABSENT, L.ABSENT), (L.LOCKED, L.ABSENT), (L.LOCKED, L.LOCKED)]:
        decision = decide(legs(swap, a, b), EARLY, RULES)
        assert (decision.actions, decision.reasons, decision.refusal) == ((), (), None)


def test_claims_the_initiators_leg_for_the_participant_once_the_secret_is_final() -> None:
    swap = legs(make_swap(preimage=PREIMAGE), L.LOCKED, L.CLAIMED)
    decision = decide(swap, EARLY, RULES)
    assert decision.state == SwapState.INITIATOR_CLAIMED
    assert decision.actions == (
        Action(ActionKind.CLAIM, LegRole.INITIATOR, swap.initiator_leg, late=False),
    )


def test_claim_inside_the_safety_delay_is_late_and_none_at_the_timelock() -> None:
    swap = legs(make_swap(preimage=PREIMAGE), L.LOCKED, L.CLAIMED)
    just_before = {A: T_A - int(RULES.safety_delay_s) - 1, B: T_B}
    (claim,) = decide(swap, just_before, RULES).actions
    assert not claim.late
    inside = {A: T_A - int(RULES.safety_delay_s), B: T_B}
    (claim,) = decide(swap, inside, RULES).actions
    assert claim.late
    last_second = {A: T_A - 1, B: T_B}
    assert decide(swap, last_second, RULES).actions[0].late
    at_timelock = {A: T_A, B: T_B}
    decision = decide(swap, at_timelock, RULES)
    assert all(a.kind != ActionKind.CLAIM for a in decision.actions)
    assert any("reached its timelock" in r for r in decision.reasons)


def test_no_claim_without_the_participants_authorisation() -> None:
    for changes in ({"claim_signature": None}, {"claim_destination": None}):
        swap = legs(make_swap(preimage=PREIMAGE, **changes), L.LOCKED, L.CLAIMED)
        decision = decide(swap, EARLY, RULES)
        assert decision.actions == ()
        assert decision.reasons == ("participant did not authorise a relayed claim",)


def test_no_claim_before_the_initiators_chain_was_scanned() -> None:
    swap = legs(make_swap(preimage=PREIMAGE), L.LOCKED, L.CLAIMED)
    decision = decide(swap, {B: T_B - 10}, RULES)
    assert decision.actions == ()
    assert decision.reasons == ("no final block scanned on the initiator's chain yet",)


def test_no_claim_with_a_preimage_of_another_hashlock() -> None:
    swap = legs(make_swap(preimage=b"\x07" * 32), L.LOCKED, L.CLAIMED)
    decision = decide(swap, EARLY, RULES)
    assert decision.actions == ()
    assert decision.reasons == ("stored preimage does not hash to the swap's hashlock",)


def test_no_claim_of_a_leg_that_is_not_open() -> None:
    for a in (L.ABSENT, L.CLAIMED, L.REFUNDED):
        swap = legs(make_swap(preimage=PREIMAGE), a, L.CLAIMED)
        assert decide(swap, EARLY, RULES).actions == ()


def test_refunds_each_leg_only_from_its_timelock_on_its_own_chains_time() -> None:
    swap = legs(make_swap(), L.LOCKED, L.LOCKED)
    assert decide(swap, {A: T_A - 1, B: T_B - 1}, RULES).actions == ()
    decision = decide(swap, {A: T_A - 1, B: T_B}, RULES)
    assert decision.state == SwapState.REFUNDING
    assert decision.actions == (
        Action(ActionKind.REFUND, LegRole.PARTICIPANT, swap.participant_leg),
    )
    # A's chain time decides A, even when B's chain is far ahead.
    assert decide(swap, {A: T_A - 1, B: T_A + 10_000}, RULES).actions == (
        Action(ActionKind.REFUND, LegRole.PARTICIPANT, swap.participant_leg),
    )
    both = decide(swap, BOTH_PASSED, RULES)
    assert {(a.kind, a.role) for a in both.actions} == {
        (ActionKind.REFUND, LegRole.INITIATOR),
        (ActionKind.REFUND, LegRole.PARTICIPANT),
    }


def test_refund_only_when_authorised() -> None:
    swap = legs(make_swap(refund_authorised=False), L.LOCKED, L.LOCKED)
    decision = decide(swap, BOTH_PASSED, RULES)
    assert decision.actions == ()
    assert decision.reasons == (
        "initiator leg is refundable but no refund was authorised",
        "participant leg is refundable but no refund was authorised",
    )


def test_the_keeper_refunds_for_the_user_whoever_the_refunder_is() -> None:
    """``refundFor`` pays the leg's refunder whoever sends it: the keeper need not be the
    refunder (users lock with a plain ``lock``), and the action carries the leg's refunder."""
    swap = legs(make_swap(), L.LOCKED, L.LOCKED)
    for a_refunder, b_refunder in ((INITIATOR, PARTICIPANT), (KEEPER, DESTINATION)):
        other = replace(
            swap,
            initiator_leg=replace(swap.initiator_leg, refunder=a_refunder),
            participant_leg=replace(swap.participant_leg, refunder=b_refunder),
        )
        decision = decide(other, BOTH_PASSED, RULES)
        assert decision.reasons == ()
        assert [(a.kind, a.role, a.leg.refunder) for a in decision.actions] == [
            (ActionKind.REFUND, LegRole.INITIATOR, a_refunder),
            (ActionKind.REFUND, LegRole.PARTICIPANT, b_refunder),
        ]


def test_the_initiators_leg_is_refunded_after_the_participant_missed_its_claim() -> None:
    swap = legs(make_swap(preimage=PREIMAGE), L.LOCKED, L.CLAIMED)
    decision = decide(swap, BOTH_PASSED, RULES)
    assert decision.state == SwapState.INITIATOR_CLAIMED
    assert decision.actions == (Action(ActionKind.REFUND, LegRole.INITIATOR, swap.initiator_leg),)


def test_unsafe_timelocks_are_refused_whatever_is_due() -> None:
    tight = make_swap(
        preimage=PREIMAGE,
        initiator_leg=replace(make_swap().initiator_leg, timelock=T_B + 2941),  # 1 s short
    )
    for a, b, times in [
        (L.LOCKED, L.CLAIMED, EARLY),  # a claim would be due
        (L.LOCKED, L.LOCKED, {A: T_B + 2941, B: T_B + 2941}),  # refunds would be due
        (L.ABSENT, L.ABSENT, EARLY),  # nothing due: refused all the same, and said so early
    ]:
        decision = decide(legs(tight, a, b), times, RULES)
        assert decision.actions == ()
        assert isinstance(decision.refusal, UnsafeTimelocks)
        assert decision.refusal.context["margin_s"] == 2941
        assert decision.refusal.context["required_s"] == 2942
        assert decision.reasons[0].startswith("refused: timelocks leave less margin")


def test_a_finished_swap_needs_nothing_even_with_unsafe_timelocks() -> None:
    tight = make_swap(initiator_leg=replace(make_swap().initiator_leg, timelock=T_B))
    decision = decide(legs(tight, L.REFUNDED, L.REFUNDED), BOTH_PASSED, RULES)
    assert (decision.state, decision.actions, decision.refusal) == (SwapState.REFUNDED, (), None)


def test_nothing_locked_in_time_expires_without_action() -> None:
    decision = decide(make_swap(), BOTH_PASSED, RULES)
    assert (decision.state, decision.actions, decision.reasons) == (SwapState.EXPIRED, (), ())
