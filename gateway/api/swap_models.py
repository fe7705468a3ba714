"""The swap operations' request and response bodies (``swaps.py``, docs/api.md "Swaps"), built on the
wire types of ``models.py`` (checksummed addresses, decimal uint256 strings, ``0x`` hex).

A swap has two legs (docs/htlc.md §5.3): the **initiator** holds the secret and locks on its
chain first (``initiator_leg``, claimed by the participant); the **participant** locks on its
chain (``participant_leg``, claimed by the initiator, which reveals the secret).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from adapters.types import Address
from gateway.api.models import (
    MAX_CHAIN_ID,
    ApiModel,
    ChainIdParam,
    ChecksumAddress,
    Hash32Hex,
    HexBytes,
    TxHashHex,
    Uint64,
    Uint256,
    UnsignedTx,
    UtcTime,
)
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState
from gateway.domain.swaps import TimelockMargin, swap_key

__all__ = [
    "ClaimAuthorization",
    "LegProposal",
    "SwapAsset",
    "SwapAuthorize",
    "SwapLegView",
    "SwapLocks",
    "SwapMargin",
    "SwapPath",
    "SwapPropose",
    "SwapTimelocks",
    "SwapView",
]

MIN_LOCK_WINDOW_S = 60
MAX_LOCK_WINDOW_S = 7 * 86400
DEFAULT_LOCK_WINDOW_S = 600


def _located(title: str, problems: list[tuple[str, str]]) -> None:
    """Raise several problems, each at its field, from a model validator."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=PydanticCustomError("swap", message), loc=(name,), input=None)
                for name, message in problems
            ],
        )


# --- requests ----------------------------------------------------------------------------------


class SwapAsset(ApiModel):
    """What one party locks: the chain's coin (``native``, no ``token``), an ERC-20 amount or
    an ERC-721 token id (``token``: the token contract). Fee-on-transfer and rebasing ERC-20
    tokens are not supported (docs/htlc.md §2.5)."""

    kind: AssetKind
    token: ChecksumAddress | None = Field(
        default=None, description="the ERC-20 or ERC-721 contract; null for the native coin"
    )
    value: Uint256 = Field(description="the amount (native, erc20) or the token id (erc721)")

    @model_validator(mode="after")
    def _fits_the_kind(self) -> SwapAsset:
        problems: list[tuple[str, str]] = []
        if self.kind is AssetKind.NATIVE and self.token is not None:
            problems.append(("token", "the native coin has no token contract: omit it"))
        if self.kind is not AssetKind.NATIVE and self.token is None:
            problems.append(("token", f"an {self.kind.value} asset needs its token contract"))
        if self.kind is not AssetKind.NATIVE and self.token == bytes(20):
            problems.append(("token", "the zero address is not a token contract"))
        if self.kind is not AssetKind.ERC721 and self.value == 0:
            problems.append(("value", "an amount above zero (the HTLCs refuse ZeroAmount)"))
        _located(type(self).__name__, problems)
        return self


class LegProposal(ApiModel):
    """One party: its address (it locks, and is refunded, from there) and what it locks on
    ``chain_id``."""

    chain_id: ChainIdParam
    address: ChecksumAddress
    asset: SwapAsset


class SwapTimelocks(ApiModel):
    """Explicit timelocks (unix seconds, block time): ``initiator`` (T_A) must outlast
    ``participant`` (T_B) by the keeper's margin, or the swap is refused (422)."""

    initiator: Uint64 = Field(description="T_A, unix seconds as a decimal string")
    participant: Uint64 = Field(description="T_B, unix seconds as a decimal string")


class SwapPropose(ApiModel):
    """A two-chain swap to arrange: the initiator (who alone knows the 32-byte secret) sends
    only its ``hashlock``, ``sha256(secret)``. Without ``timelocks`` the gateway computes them
    from the chains' finality, the keeper's relay latency, clock skew and safety delay, and
    ``lock_window_s`` (how long each party may take to send its lock)."""

    hashlock: Hash32Hex = Field(description="sha256 of the initiator's 32-byte secret")
    initiator: LegProposal
    participant: LegProposal
    timelocks: SwapTimelocks | None = None
    lock_window_s: Annotated[int, Field(ge=MIN_LOCK_WINDOW_S, le=MAX_LOCK_WINDOW_S)] = (
        DEFAULT_LOCK_WINDOW_S
    )

    @model_validator(mode="after")
    def _two_parties(self) -> SwapPropose:
        problems: list[tuple[str, str]] = []
        if self.initiator.address == self.participant.address:
            problems.append(("participant.address", "the two parties must differ"))
        if self.hashlock == bytes(32):
            problems.append(("hashlock", "not a hash of a secret"))
        _located(type(self).__name__, problems)
        return self


class SwapPath(ApiModel):
    id: Hash32Hex = Field(description="the swap id the gateway gave the swap")


class ClaimAuthorization(ApiModel):
    """The participant's EIP-712 ``Claim(swapKey, submitter, destination)`` over the
    initiator's leg, ``submitter`` the keeper (the swap's ``claim_typed_data``): 65 bytes
    ``r ‖ s ‖ v`` from the participant's key."""

    destination: ChecksumAddress = Field(description="where the claimed asset goes")
    signature: HexBytes = Field(description="65 bytes: r, s, v (27 or 28)")


class SwapAuthorize(ApiModel):
    """What the keeper may do for the swap: ``claim`` the initiator's leg for the participant
    once the secret is public (a relayed claim), and/or ``refund`` expired legs to their
    owners (``refundFor``: it can only pay a leg's refunder, after its timelock)."""

    claim: ClaimAuthorization | None = None
    refund: bool = False

    @model_validator(mode="after")
    def _something(self) -> SwapAuthorize:
        if self.claim is None and not self.refund:
            _located(
                type(self).__name__, [("claim", "give a claim authorisation, refund, or both")]
            )
        return self


# --- responses ---------------------------------------------------------------------------------


class SwapMargin(ApiModel):
    """The timelock rule ``T_A - T_B ≥ F_A + F_B + L + S + D`` (docs/htlc.md §5.3), seconds."""

    margin_s: int = Field(description="T_A - T_B")
    required_s: float = Field(description="F_A + F_B + L + S + D")
    initiator_chain_finality_s: float = Field(description="F_A")
    participant_chain_finality_s: float = Field(description="F_B")
    relay_latency_s: float = Field(description="L")
    clock_skew_s: float = Field(description="S")
    safety_delay_s: float = Field(description="D")

    @classmethod
    def from_margin(cls, m: TimelockMargin) -> SwapMargin:
        return cls(
            margin_s=m.margin_s,
            required_s=m.required_s,
            initiator_chain_finality_s=m.finality_a_s,
            participant_chain_finality_s=m.finality_b_s,
            relay_latency_s=m.relay_latency_s,
            clock_skew_s=m.clock_skew_s,
            safety_delay_s=m.safety_delay_s,
        )


class SwapLegView(ApiModel):
    """One HTLC lock of the swap: its terms (the contract's swap key binds them) and the
    transactions the keeper saw in final blocks."""

    chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    htlc: ChecksumAddress
    asset_kind: AssetKind
    token: ChecksumAddress | None = Field(description="null for the native coin")
    value: Uint256 = Field(description="the amount or the token id")
    claimer: ChecksumAddress
    refunder: ChecksumAddress
    timelock: Uint64 = Field(description="unix seconds (block time)")
    timelock_at: UtcTime
    swap_key: Hash32Hex = Field(description="the HTLC's key of this lock")
    lock_tx: TxHashHex | None
    claim_tx: TxHashHex | None
    refund_tx: TxHashHex | None

    @classmethod
    def from_leg(cls, hashlock: bytes, leg: SwapLeg) -> SwapLegView:
        return cls(
            chain_id=leg.chain_id,
            htlc=leg.htlc,
            asset_kind=leg.asset_kind,
            token=None if leg.asset_kind is AssetKind.NATIVE else leg.token,
            value=leg.value,
            claimer=leg.claimer,
            refunder=leg.refunder,
            timelock=leg.timelock,
            timelock_at=datetime.fromtimestamp(leg.timelock, UTC),
            swap_key=swap_key(hashlock, leg),
            lock_tx=leg.lock_tx,
            claim_tx=leg.claim_tx,
            refund_tx=leg.refund_tx,
        )


class SwapView(ApiModel):
    """A swap, its terms and where it is. ``state``: proposed → initiator_locked →
    both_locked → initiator_claimed → completed, or refunding → refunded, or expired (one
    side acted too late). ``claim_typed_data``: the EIP-712 message the participant signs to
    let the keeper claim for it (``destination`` preset to the participant; change it to be
    paid elsewhere), null when this gateway publishes no keeper. ``reason``: what the keeper
    refuses or cannot do for the swap as of its last step."""

    swap_id: Hash32Hex
    state: SwapState
    hashlock: Hash32Hex
    initiator: ChecksumAddress
    participant: ChecksumAddress
    initiator_leg: SwapLegView
    participant_leg: SwapLegView
    margin: SwapMargin | None = Field(description="null when a chain's finality is unknown")
    keeper: ChecksumAddress | None = Field(description="the keeper's address (the submitter)")
    claim_authorized: bool
    claim_destination: ChecksumAddress | None
    refund_authorized: bool
    claim_typed_data: dict[str, Any] | None
    preimage: HexBytes | None = Field(description="the secret, once a claim revealed it")
    reason: str | None
    created_at: UtcTime | None
    updated_at: UtcTime | None

    @classmethod
    def build(
        cls,
        swap: Swap,
        *,
        margin: TimelockMargin | None,
        keeper: bytes | None,
        claim_typed_data: dict[str, Any] | None,
    ) -> SwapView:
        return cls(
            swap_id=swap.swap_id,
            state=swap.state,
            hashlock=swap.hashlock,
            initiator=swap.initiator,
            participant=swap.participant,
            initiator_leg=SwapLegView.from_leg(swap.hashlock, swap.initiator_leg),
            participant_leg=SwapLegView.from_leg(swap.hashlock, swap.participant_leg),
            margin=None if margin is None else SwapMargin.from_margin(margin),
            keeper=None if keeper is None else Address(keeper),
            claim_authorized=swap.claim_signature is not None,
            claim_destination=swap.claim_destination,
            refund_authorized=swap.refund_authorised,
            claim_typed_data=claim_typed_data,
            preimage=swap.preimage,
            reason=swap.reason,
            created_at=swap.created_at,
            updated_at=swap.updated_at,
        )


class SwapLocks(ApiModel):
    """Each party's transactions to lock its leg, in order (an ERC-20 approval, then the
    lock). The initiator sends first; the participant once the initiator's lock is final
    (docs/htlc.md §5.3 rule 1: ``GET /v1/swaps/{id}`` shows ``initiator_locked``)."""

    swap_id: Hash32Hex
    initiator: list[UnsignedTx]
    participant: list[UnsignedTx]
