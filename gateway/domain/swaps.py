"""The rules of a two-chain HTLC swap as the keeper applies them (docs/htlc.md §3, §5;
docs/relayer.md "The HTLC keeper"): pure and synchronous (style rule 4), tested offline.

Roles (htlc.md §5.3): the **initiator** holds the secret and locks on chain A with timelock
``T_A`` (the swap's ``initiator_leg``, claimed by the participant); the **participant** locks on
chain B with ``T_B`` (``participant_leg``, claimed by the initiator, which reveals the secret).

- ``check_timelock_margin``: the ordering rule ``T_A - T_B ≥ F_A + F_B + L + S + D``; a swap that
  breaks it is refused (``UnsafeTimelocks``): the keeper sends nothing for it.
- ``swap_key`` and ``decode_htlc_event``: the contracts' storage key and their ``Locked`` /
  ``Claimed`` / ``Refunded`` logs, byte-identical to Solidity.
- ``leg_status``, ``derive_state`` and ``decide``: what the *final* facts say a swap is, and what
  the keeper does about it. The facts are the stored legs' progress (lock, claim and refund
  transactions the keeper saw in final blocks, the revealed preimage) and, per chain, the block
  time of the newest final block the keeper has completely scanned. Every time comparison uses
  that chain time, never a local clock: a leg is refundable once a final block at or after its
  timelock is scanned (the contract's windows are disjoint, htlc.md §4.2, so no claim of it can
  come any more), and claimable while the scanned time is before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

from adapters.errors import ConfigError, DecodeError, FatalError
from adapters.mpt import keccak256
from adapters.receipts import Log
from adapters.types import Address, ChainId, Hash32
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState

__all__ = [
    "ACTIVE_STATES",
    "CLAIMED_TOPIC",
    "LOCKED_NATIVE_TOPIC",
    "LOCKED_TOKEN_TOPIC",
    "REFUNDED_TOPIC",
    "TERMINAL_STATES",
    "Action",
    "ActionKind",
    "ClaimedEvent",
    "Decision",
    "HtlcEvent",
    "KeeperRules",
    "LegRole",
    "LegStatus",
    "LockedEvent",
    "RefundedEvent",
    "TimelockMargin",
    "UnsafeTimelocks",
    "check_timelock_margin",
    "decide",
    "decode_htlc_event",
    "derive_state",
    "hashlock_of",
    "leg_status",
    "swap_key",
]

ZERO_ADDRESS = Address(bytes(20))

LOCKED_NATIVE_TOPIC = keccak256(b"Locked(bytes32,address,address,uint256,uint256)")
# HtlcErc20 (token, amount) and HtlcErc721 (token, tokenId) share one signature.
LOCKED_TOKEN_TOPIC = keccak256(b"Locked(bytes32,address,address,address,uint256,uint256)")
CLAIMED_TOPIC = keccak256(b"Claimed(bytes32,bytes32)")
REFUNDED_TOPIC = keccak256(b"Refunded(bytes32)")

TERMINAL_STATES: frozenset[SwapState] = frozenset(
    {SwapState.COMPLETED, SwapState.REFUNDED, SwapState.EXPIRED}
)
ACTIVE_STATES: frozenset[SwapState] = frozenset(SwapState) - TERMINAL_STATES


class UnsafeTimelocks(FatalError):
    """The swap's timelocks leave less than ``required_s`` between them (``margin_s`` =
    ``T_A - T_B``): a keeper acting on it could let the participant be robbed (htlc.md §5.3)."""


# --- the timelock rule ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelockMargin:
    """``T_A - T_B`` against ``F_A + F_B + L + S + D`` (all in seconds)."""

    initiator_timelock: int  # T_A
    participant_timelock: int  # T_B
    finality_a_s: float  # F_A: time to finality of the initiator's chain
    finality_b_s: float  # F_B: of the participant's chain
    relay_latency_s: float  # L: observe and relay, inclusion under congestion included
    clock_skew_s: float  # S: between the two chains' clocks
    safety_delay_s: float  # D

    @property
    def margin_s(self) -> int:
        return self.initiator_timelock - self.participant_timelock

    @property
    def required_s(self) -> float:
        return (
            self.finality_a_s
            + self.finality_b_s
            + self.relay_latency_s
            + self.clock_skew_s
            + self.safety_delay_s
        )

    @property
    def safe(self) -> bool:
        return self.margin_s >= self.required_s


def check_timelock_margin(
    initiator_timelock: int,
    participant_timelock: int,
    finality_a_s: float,
    finality_b_s: float,
    relay_latency_s: float,
    clock_skew_s: float,
    safety_delay_s: float,
) -> TimelockMargin:
    """The margin of a swap; ``UnsafeTimelocks`` (with every number) when
    ``T_A - T_B < F_A + F_B + L + S + D``. Equality is enough."""
    margin = TimelockMargin(
        initiator_timelock,
        participant_timelock,
        finality_a_s,
        finality_b_s,
        relay_latency_s,
        clock_skew_s,
        safety_delay_s,
    )
    for name in ("finality_a_s", "finality_b_s", "relay_latency_s", "clock_skew_s"):
        if getattr(margin, name) < 0:
            raise ConfigError("timelock rule terms must be >= 0", field=name)
    if margin.safety_delay_s < 0:
        raise ConfigError("timelock rule terms must be >= 0", field="safety_delay_s")
    if not margin.safe:
        raise UnsafeTimelocks(
            "timelocks leave less margin than both chains' finality, relay latency, clock skew "
            "and the safety delay",
            initiator_timelock=initiator_timelock,
            participant_timelock=participant_timelock,
            margin_s=margin.margin_s,
            required_s=margin.required_s,
            finality_a_s=finality_a_s,
            finality_b_s=finality_b_s,
            relay_latency_s=relay_latency_s,
            clock_skew_s=clock_skew_s,
            safety_delay_s=safety_delay_s,
        )
    return margin


@dataclass(frozen=True, slots=True)
class KeeperRules:
    """The keeper's terms of the rule: each chain's time to finality in seconds (by chain id),
    the relay latency, the clock skew and the safety delay."""

    finality_s: Mapping[ChainId, float]
    relay_latency_s: float
    clock_skew_s: float
    safety_delay_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "finality_s", MappingProxyType(dict(self.finality_s)))
        for chain_id, seconds in self.finality_s.items():
            if seconds < 0:
                raise ConfigError("finality seconds must be >= 0", chain_id=chain_id)
        for name in ("relay_latency_s", "clock_skew_s", "safety_delay_s"):
            if getattr(self, name) < 0:
                raise ConfigError("keeper rule terms must be >= 0", field=name)

    def terms(self, swap: Swap) -> TimelockMargin | None:
        """The swap's margin against the rule, unchecked (for display); None when a leg's
        chain has no known finality."""
        a, b = swap.initiator_leg, swap.participant_leg
        if a.chain_id not in self.finality_s or b.chain_id not in self.finality_s:
            return None
        return TimelockMargin(
            a.timelock,
            b.timelock,
            self.finality_s[a.chain_id],
            self.finality_s[b.chain_id],
            self.relay_latency_s,
            self.clock_skew_s,
            self.safety_delay_s,
        )

    def margin(self, swap: Swap) -> TimelockMargin:
        """``check_timelock_margin`` of ``swap``; ``UnsafeTimelocks`` also when a leg's chain has
        no known finality (nothing can be proven safe there)."""
        terms = self.terms(swap)
        if terms is None:
            unknown = next(
                leg.chain_id
                for leg in (swap.initiator_leg, swap.participant_leg)
                if leg.chain_id not in self.finality_s
            )
            raise UnsafeTimelocks(
                "no time to finality known for a leg's chain",
                chain_id=unknown,
                swap_id=swap.swap_id,
            )
        return check_timelock_margin(
            terms.initiator_timelock,
            terms.participant_timelock,
            terms.finality_a_s,
            terms.finality_b_s,
            terms.relay_latency_s,
            terms.clock_skew_s,
            terms.safety_delay_s,
        )


# --- the contracts' key and logs -----------------------------------------------------------------


def swap_key(hashlock: bytes, leg: SwapLeg) -> Hash32:
    """``keccak256(abi.encode(hashlock, value, token, claimer, refunder, timelock))``
    (``HtlcBase._key``; ``token`` is the zero address for the native coin)."""
    return _key(hashlock, leg.value, leg.token, leg.claimer, leg.refunder, leg.timelock)


def _key(
    hashlock: bytes, value: int, token: bytes, claimer: bytes, refunder: bytes, timelock: int
) -> Hash32:
    return keccak256(
        abi_encode(
            ["bytes32", "uint256", "address", "address", "address", "uint256"],
            [hashlock, value, token, claimer, refunder, timelock],
        )
    )


def hashlock_of(preimage: bytes) -> Hash32:
    """``sha256(preimage)``: the contracts' hashlock of a 32-byte secret (htlc.md §5.4-5.5)."""
    if len(preimage) != 32:
        raise DecodeError("an HTLC preimage is exactly 32 bytes", length=len(preimage))
    return Hash32(hashlib.sha256(preimage).digest())


@dataclass(frozen=True, slots=True)
class LockedEvent:
    htlc: Address
    hashlock: Hash32
    claimer: Address
    refunder: Address
    token: Address  # zero for the native coin
    value: int  # amount or token id
    timelock: int

    @property
    def key(self) -> Hash32:
        return _key(
            self.hashlock, self.value, self.token, self.claimer, self.refunder, self.timelock
        )


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    htlc: Address
    hashlock: Hash32
    preimage: bytes


@dataclass(frozen=True, slots=True)
class RefundedEvent:
    htlc: Address
    hashlock: Hash32


HtlcEvent = LockedEvent | ClaimedEvent | RefundedEvent


def decode_htlc_event(log: Log, asset_kind: AssetKind) -> HtlcEvent | None:
    """A ``Locked`` / ``Claimed`` / ``Refunded`` log of an HTLC of ``asset_kind``; None for any
    other topic. ``DecodeError`` for a log with a known topic that does not decode (a node
    serving a log the contract cannot have emitted)."""
    topics = log.topics
    if not topics:
        return None
    htlc = Address(bytes(log.address))
    try:
        if topics[0] == CLAIMED_TOPIC:
            _need(len(topics) == 2 and len(log.data) == 32, "Claimed")
            return ClaimedEvent(htlc, Hash32(topics[1]), bytes(log.data))
        if topics[0] == REFUNDED_TOPIC:
            _need(len(topics) == 2 and not log.data, "Refunded")
            return RefundedEvent(htlc, Hash32(topics[1]))
        native = asset_kind == AssetKind.NATIVE
        if topics[0] == (LOCKED_NATIVE_TOPIC if native else LOCKED_TOKEN_TOPIC):
            _need(len(topics) == 4, "Locked")
            claimer, refunder = _topic_address(topics[2]), _topic_address(topics[3])
            if native:
                _need(len(log.data) == 64, "Locked")
                value, timelock = abi_decode(["uint256", "uint256"], bytes(log.data))
                token = ZERO_ADDRESS
            else:
                _need(len(log.data) == 96, "Locked")
                token_hex, value, timelock = abi_decode(
                    ["address", "uint256", "uint256"], bytes(log.data)
                )
                token = Address(bytes.fromhex(token_hex[2:]))
            return LockedEvent(
                htlc, Hash32(topics[1]), claimer, refunder, token, int(value), int(timelock)
            )
    except (DecodingError, ValueError) as exc:
        raise DecodeError("HTLC log does not decode", htlc=htlc, reason=str(exc)) from exc
    return None


def _need(ok: bool, event: str) -> None:
    if not ok:
        raise DecodeError(f"{event} log of the wrong shape")


def _topic_address(topic: bytes) -> Address:
    if len(topic) != 32 or any(topic[:12]):
        raise DecodeError("indexed address topic is not a clean address word")
    return Address(topic[12:])


# --- facts and state ------------------------------------------------------------------------------


class LegRole(StrEnum):
    INITIATOR = "initiator"  # the initiator's lock on chain A (the participant claims it)
    PARTICIPANT = "participant"  # the participant's lock on chain B (the initiator claims it)


class LegStatus(StrEnum):
    """A leg as final blocks show it."""

    ABSENT = "absent"  # no lock seen
    LOCKED = "locked"  # open: neither claimed nor refunded
    CLAIMED = "claimed"
    REFUNDED = "refunded"


def leg_status(leg: SwapLeg) -> LegStatus:
    if leg.claim_tx is not None:
        return LegStatus.CLAIMED
    if leg.refund_tx is not None:
        return LegStatus.REFUNDED
    if leg.lock_tx is not None:
        return LegStatus.LOCKED
    return LegStatus.ABSENT


def _legs(swap: Swap) -> tuple[tuple[LegRole, SwapLeg], tuple[LegRole, SwapLeg]]:
    return (LegRole.INITIATOR, swap.initiator_leg), (LegRole.PARTICIPANT, swap.participant_leg)


def _passed(leg: SwapLeg, times: Mapping[ChainId, int]) -> bool:
    """Whether a final block at or after the leg's timelock was scanned on its chain."""
    t = times.get(leg.chain_id)
    return t is not None and t >= leg.timelock


def derive_state(swap: Swap, times: Mapping[ChainId, int]) -> SwapState:
    """The state the final facts put ``swap`` in. ``times``: per chain id, the block time of
    the newest final block scanned there (absent: nothing scanned yet).

    A leg can still change while it is open, or absent before its timelock (it may still be
    locked). When neither leg can change any more the swap is over: ``completed`` (both
    claimed), ``refunded`` (no claim, a refund) or ``expired`` (nothing was locked in time, or
    one leg was claimed and the other refunded or never locked: a party acted too late).
    Before that: ``initiator_claimed`` once the secret is public (a claim or a known
    preimage), ``refunding`` once a leg was refunded or an open leg's timelock passed, then
    ``both_locked`` / ``initiator_locked`` / ``proposed`` by what is locked."""
    a, b = leg_status(swap.initiator_leg), leg_status(swap.participant_leg)
    statuses = (a, b)

    def over(status: LegStatus, leg: SwapLeg) -> bool:
        if status in (LegStatus.CLAIMED, LegStatus.REFUNDED):
            return True
        return status == LegStatus.ABSENT and _passed(leg, times)

    if over(a, swap.initiator_leg) and over(b, swap.participant_leg):
        if a == b == LegStatus.CLAIMED:
            return SwapState.COMPLETED
        if LegStatus.REFUNDED in statuses and LegStatus.CLAIMED not in statuses:
            return SwapState.REFUNDED
        return SwapState.EXPIRED
    if LegStatus.CLAIMED in statuses or swap.preimage is not None:
        return SwapState.INITIATOR_CLAIMED
    due = any(
        s == LegStatus.LOCKED and _passed(leg, times)
        for s, leg in ((a, swap.initiator_leg), (b, swap.participant_leg))
    )
    if LegStatus.REFUNDED in statuses or due:
        return SwapState.REFUNDING
    if a == LegStatus.LOCKED:
        return SwapState.BOTH_LOCKED if b == LegStatus.LOCKED else SwapState.INITIATOR_LOCKED
    return SwapState.PROPOSED


# --- decisions --------------------------------------------------------------------------------------


class ActionKind(StrEnum):
    CLAIM = "claim"  # claimWithSig of the initiator's leg for the participant
    REFUND = "refund"  # refundFor of a leg whose timelock passed, paid to the leg's refunder


@dataclass(frozen=True, slots=True)
class Action:
    """A transaction the keeper should send for a swap. ``late``: a claim after ``T_A - D``
    (still possible, but inside the safety delay: worth an operator's attention)."""

    kind: ActionKind
    role: LegRole
    leg: SwapLeg
    late: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """What the facts say (``state``) and what to do: ``actions`` to send; ``reasons`` why
    something the swap might want is not done (not authorised, too late ...); ``refusal``
    when the keeper refuses the swap altogether (its timelocks are unsafe): then no actions."""

    state: SwapState
    actions: tuple[Action, ...] = ()
    reasons: tuple[str, ...] = ()
    refusal: UnsafeTimelocks | None = None


def decide(swap: Swap, times: Mapping[ChainId, int], rules: KeeperRules) -> Decision:
    """The keeper's decision for ``swap`` on final facts (``times`` as in ``derive_state``).

    - A swap over (``TERMINAL_STATES``) needs nothing.
    - Unsafe timelocks (``KeeperRules.margin``): refused, nothing is sent, ever.
    - Claim the initiator's leg for the participant (``claimWithSig``) when it is open, the
      preimage is known from a final claim and hashes to the swap's hashlock, the participant
      authorised a relayed claim (``claim_signature`` and ``claim_destination``), and the
      scanned chain time is before ``T_A`` (``late`` from ``T_A - D`` on).
    - Refund a leg (``refundFor``, which anyone may send and which always pays the leg's
      refunder, htlc.md §2.7) when it is open, a final block at or after its timelock was
      scanned and the user authorised it (``refund_authorised``). The keeper need not be the
      refunder: the legs are locked with a plain ``lock``, and the asset goes back to the user.
    """
    state = derive_state(swap, times)
    if state in TERMINAL_STATES:
        return Decision(state)
    try:
        rules.margin(swap)
    except UnsafeTimelocks as exc:
        return Decision(state, reasons=(f"refused: {exc}",), refusal=exc)
    actions: list[Action] = []
    reasons: list[str] = []
    a = swap.initiator_leg
    if leg_status(a) == LegStatus.LOCKED and swap.preimage is not None:
        t_a = times.get(a.chain_id)
        if hashlock_of(swap.preimage) != swap.hashlock:
            reasons.append("stored preimage does not hash to the swap's hashlock")
        elif t_a is None:
            reasons.append("no final block scanned on the initiator's chain yet")
        elif t_a >= a.timelock:
            reasons.append("initiator's leg reached its timelock before it was claimed")
        elif swap.claim_signature is None or swap.claim_destination is None:
            reasons.append("participant did not authorise a relayed claim")
        else:
            late = t_a >= a.timelock - rules.safety_delay_s
            actions.append(Action(ActionKind.CLAIM, LegRole.INITIATOR, a, late=late))
    for role, leg in _legs(swap):
        if leg_status(leg) != LegStatus.LOCKED or not _passed(leg, times):
            continue
        if not swap.refund_authorised:
            reasons.append(f"{role} leg is refundable but no refund was authorised")
        else:
            actions.append(Action(ActionKind.REFUND, role, leg))
    return Decision(state, tuple(actions), tuple(reasons))
