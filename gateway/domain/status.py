"""States of messages, swaps and transactions, and the frozen records the store returns.

Pure and synchronous (style rule 4): the store (``gateway.store``) persists these values and the
relayers act on them, but the rules of what may follow what live here, testable offline.

A message's life (docs/relayer.md §3)::

    final ─► header_ready ─► submitted ─► delivered
      │           │ ▲            │
      │           │ └────────────┤ (transaction dropped, replaced or failed retryably)
      │           ├──► parked ◄──┤ (receiver reverts, fatal error; kept with its reason)
      │           │      │       │
      └───────────┴──────┼───────┴──► already_delivered (someone else delivered it)
                         └──► header_ready (only by an operator's retry)

Setting a status to itself is not a transition: rescheduling a message without changing its
status is the store's ``defer`` / ``release``, which write no history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from adapters.errors import FatalError
from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.messages import Message, MessageId

if TYPE_CHECKING:
    # Only TxRecord's annotations: the submission machinery (eth_account, aiohttp) is not
    # loaded with the status types, which the SDK imports.
    from adapters.rpc.submit import JournalEntry, TxAttempt, TxOutcome

__all__ = [
    "DONE_STATUSES",
    "MESSAGE_TRANSITIONS",
    "OPERATOR_TRANSITIONS",
    "WAITING_STATUSES",
    "AssetKind",
    "Checkpoint",
    "CreditReport",
    "InvalidRecord",
    "InvalidTransition",
    "LeaseSummary",
    "LockLease",
    "MessageCursor",
    "MessageRecord",
    "MessageStatus",
    "NewMessage",
    "SignatureRecord",
    "StatusChange",
    "Swap",
    "SwapLeg",
    "SwapState",
    "TrackingKind",
    "TrackingRecord",
    "TrustState",
    "TxRecord",
    "TxState",
    "check_transition",
]


class InvalidTransition(FatalError):
    """A status change the lifecycle does not allow (``old`` -> ``new``)."""


class InvalidRecord(FatalError):
    """A record built with a field of the wrong size or range (``field`` names it)."""


class MessageStatus(StrEnum):
    FINAL = "final"
    """Seen in a final source block; waits for the destination to accept its header."""
    HEADER_READY = "header_ready"
    """The destination's header oracle accepted the source block: ready to deliver."""
    SUBMITTED = "submitted"
    """A delivery transaction was sent; its outcome is not final yet."""
    DELIVERED = "delivered"
    """Our delivery is final on the destination."""
    ALREADY_DELIVERED = "already_delivered"
    """Someone else delivered it first; we spent no gas (or our transaction lost the race)."""
    PARKED = "parked"
    """Can never be delivered as it is (receiver reverts, fatal error); kept with its reason
    until an operator retries it."""


_S = MessageStatus

MESSAGE_TRANSITIONS: Mapping[MessageStatus, frozenset[MessageStatus]] = {
    _S.FINAL: frozenset({_S.HEADER_READY, _S.ALREADY_DELIVERED}),
    _S.HEADER_READY: frozenset({_S.SUBMITTED, _S.ALREADY_DELIVERED, _S.PARKED}),
    _S.SUBMITTED: frozenset({_S.DELIVERED, _S.HEADER_READY, _S.ALREADY_DELIVERED, _S.PARKED}),
    _S.DELIVERED: frozenset(),
    _S.ALREADY_DELIVERED: frozenset(),
    _S.PARKED: frozenset({_S.HEADER_READY}),
}

# Transitions a worker must never make on its own: a parked message stays parked until a human
# decided the reason is gone, or it would be retried in a loop (docs/relayer.md §4).
OPERATOR_TRANSITIONS: frozenset[tuple[MessageStatus, MessageStatus]] = frozenset(
    {(_S.PARKED, _S.HEADER_READY)}
)

# Messages some worker still has to act on (the queue), and messages nobody ever acts on again.
WAITING_STATUSES: frozenset[MessageStatus] = frozenset({_S.FINAL, _S.HEADER_READY, _S.SUBMITTED})
DONE_STATUSES: frozenset[MessageStatus] = frozenset({_S.DELIVERED, _S.ALREADY_DELIVERED})


def check_transition(
    old: MessageStatus,
    new: MessageStatus,
    *,
    operator: bool = False,
    message_id: MessageId | None = None,
) -> None:
    """Raise ``InvalidTransition`` unless ``old`` -> ``new`` is allowed.

    ``operator`` allows the transitions only an operator may make (``OPERATOR_TRANSITIONS``),
    and only those: an operator's retry is not a way to move a message anywhere else.
    """
    old, new = MessageStatus(old), MessageStatus(new)
    context: dict[str, Any] = {"old": old.value, "new": new.value}
    if message_id is not None:
        context["message_id"] = message_id
    if new not in MESSAGE_TRANSITIONS[old]:
        raise InvalidTransition("message status change not allowed", **context)
    if ((old, new) in OPERATOR_TRANSITIONS) != operator:
        who = "an operator's retry" if not operator else "a worker"
        raise InvalidTransition(f"message status change is only for {who}", **context)


class SwapState(StrEnum):
    """An HTLC swap across two chains (docs/htlc.md §3, §5)."""

    PROPOSED = "proposed"
    INITIATOR_LOCKED = "initiator_locked"
    BOTH_LOCKED = "both_locked"
    INITIATOR_CLAIMED = "initiator_claimed"  # the secret is public now
    COMPLETED = "completed"
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    EXPIRED = "expired"


class TxState(StrEnum):
    """A transaction journal entry (``adapters.rpc.submit``): open, or closed by its outcome."""

    PENDING = "pending"  # open: signed and (about to be) sent, not final yet
    MINED = "mined"  # an attempt is in a final block (``Mined.status``: 1 success, 0 reverted)
    FAILED = "failed"  # the node refused it; the nonce goes to the signer's next transaction
    DROPPED = "dropped"  # the nonce went to a transaction none of ours


class AssetKind(StrEnum):
    NATIVE = "native"
    ERC20 = "erc20"
    ERC721 = "erc721"


class TrackingKind(StrEnum):
    MESSAGE = "message"
    SWAP = "swap"


def _check_len(value: bytes | None, size: int, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bytes) or len(value) != size:
        raise InvalidRecord(f"{name} must be {size} bytes", field=name)


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The last block of ``stream`` on ``chain_id`` that a watcher scanned completely."""

    chain_id: ChainId
    stream: str
    height: Height
    block_hash: Hash32

    def __post_init__(self) -> None:
        _check_len(self.block_hash, 32, "checkpoint block_hash")
        if self.height < 0:
            raise InvalidRecord("checkpoint height must be >= 0", field="height")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as a watcher found it: the message and where its ``MessageSent`` log is.

    ``block_log_index`` is the log's position in the block (JSON-RPC ``logIndex``);
    ``receipt_log_index`` its position within its receipt, when the watcher knows it.
    """

    message: Message
    src_block_number: Height
    src_block_hash: Hash32
    src_tx_hash: TxHash
    src_tx_index: int
    block_log_index: int
    receipt_log_index: int | None = None
    tracking_id: str | None = None

    def __post_init__(self) -> None:
        _check_len(self.src_block_hash, 32, "src_block_hash")
        _check_len(self.src_tx_hash, 32, "src_tx_hash")

    @property
    def id(self) -> MessageId:
        return self.message.id


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A stored message with its state. ``lease_owner`` / ``lease_until`` say who works on it."""

    id: MessageId
    message: Message
    src_block_number: Height
    src_block_hash: Hash32
    src_tx_hash: TxHash
    src_tx_index: int
    block_log_index: int
    receipt_log_index: int | None
    status: MessageStatus
    reason: str | None
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    delivery_tx_hash: TxHash | None
    delivery_block_number: Height | None
    tracking_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def src_chain_id(self) -> ChainId:
        return self.message.src_chain_id

    @property
    def dst_chain_id(self) -> ChainId:
        return self.message.dst_chain_id


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One row of a message's history. ``old_status`` is None for the first record."""

    seq: int
    message_id: MessageId
    old_status: MessageStatus | None
    new_status: MessageStatus
    at: datetime
    owner: str | None
    detail: str | None
    tx_hash: TxHash | None


@dataclass(frozen=True, slots=True)
class TxRecord:
    """One entry of a signer's transaction journal: the transaction at one nonce with every
    attempt in sending order (``entry``), its state and, once closed, its outcome. A nonce the
    node refused can have later entries; at most one entry per nonce is open."""

    id: int
    entry: JournalEntry
    state: TxState
    outcome: TxOutcome | None
    created_at: datetime
    updated_at: datetime

    @property
    def latest(self) -> TxAttempt:
        return self.entry.attempts[-1]


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    """A header an attester signed: one per (store chain, source chain, attester, height),
    ever."""

    store_chain_id: ChainId
    src_chain_id: ChainId
    attester: Address
    number: Height
    block_hash: Hash32
    digest: Hash32
    signature: bytes
    signed_at: datetime
    submitted_tx_hash: TxHash | None


@dataclass(frozen=True, slots=True)
class TrustState:
    """The off-chain light-client state of a chain, as its owner saved it (JSON values)."""

    chain_id: ChainId
    kind: str
    state: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LockLease:
    """A held named lock. ``fencing_token`` grows with every change of holder, so work stamped
    with an older token can be recognised as coming from a holder that lost the lock."""

    name: str
    owner: str
    lease_until: datetime
    fencing_token: int


@dataclass(frozen=True, slots=True)
class LeaseSummary:
    """The message leases one relayer process (``owner``, its lease owner id) holds on
    undelivered messages: how many, and the latest of their expiries."""

    owner: str
    messages: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class SwapLeg:
    """One HTLC lock of a swap. ``value`` is the amount or the ERC-721 token id; ``token`` is
    the zero address for the native coin; ``timelock`` is a unix time in seconds."""

    chain_id: ChainId
    htlc: Address
    asset_kind: AssetKind
    token: Address
    value: int
    claimer: Address
    refunder: Address
    timelock: int
    lock_tx: TxHash | None = None
    claim_tx: TxHash | None = None
    refund_tx: TxHash | None = None

    def __post_init__(self) -> None:
        for name in ("htlc", "token", "claimer", "refunder"):
            _check_len(getattr(self, name), 20, name)
        for name in ("lock_tx", "claim_tx", "refund_tx"):
            _check_len(getattr(self, name), 32, name, optional=True)
        if not 0 <= self.value < 2**256:
            raise InvalidRecord("swap leg value must be a uint256", field="value")

    def terms(self) -> tuple[object, ...]:
        """What the HTLC's swap key binds; the transactions are progress, not terms."""
        return (
            self.chain_id,
            self.htlc,
            self.asset_kind,
            self.token,
            self.value,
            self.claimer,
            self.refunder,
            self.timelock,
        )


@dataclass(frozen=True, slots=True)
class Swap:
    """A two-chain HTLC swap. The initiator's leg is the lock the initiator makes (the
    participant claims it); the participant's leg is the other one.

    ``claim_signature`` / ``claim_destination``: the claimer's EIP-712 authorisation for a
    keeper to claim for them; ``refund_authorised``: the refunder asked the keeper to refund.
    ``reason``: what the keeper refuses or cannot do for the swap as of its last decision
    (a refusal starts with ``refused:``; several reasons are joined with ``"; "``), None when
    nothing is in its way; progress, not terms. The store fills ``created_at`` /
    ``updated_at``.
    """

    swap_id: Hash32
    hashlock: Hash32
    initiator: Address
    participant: Address
    initiator_leg: SwapLeg
    participant_leg: SwapLeg
    state: SwapState = SwapState.PROPOSED
    preimage: bytes | None = None
    claim_signature: bytes | None = None
    claim_destination: Address | None = None
    refund_authorised: bool = False
    reason: str | None = None
    created_at: datetime | None = field(default=None, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.reason is not None and not self.reason.strip():
            raise InvalidRecord("a swap's reason is None or a non-blank text", field="reason")
        _check_len(self.swap_id, 32, "swap_id")
        _check_len(self.hashlock, 32, "hashlock")
        _check_len(self.initiator, 20, "initiator")
        _check_len(self.participant, 20, "participant")
        _check_len(self.preimage, 32, "preimage", optional=True)
        _check_len(self.claim_destination, 20, "claim_destination", optional=True)

    def terms(self) -> tuple[object, ...]:
        """What defines the swap; two records with equal terms are the same swap."""
        return (
            self.swap_id,
            self.hashlock,
            self.initiator,
            self.participant,
            self.initiator_leg.terms(),
            self.participant_leg.terms(),
        )


@dataclass(frozen=True, slots=True)
class TrackingRecord:
    """A tracking id the API handed out. ``ref`` is the message or swap id once known; until
    then the source transaction links it to the messages it sent."""

    tracking_id: str
    kind: TrackingKind
    ref: bytes | None
    src_chain_id: ChainId | None
    src_tx_hash: TxHash | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MessageCursor:
    """Where a page of messages ended (``Store.messages_page``): the last message's creation
    time and id. The API hands it out opaquely (base64url)."""

    created_at: datetime
    id: MessageId

    def __post_init__(self) -> None:
        _check_len(self.id, 32, "cursor id")


@dataclass(frozen=True, slots=True)
class CreditReport:
    """A credit report behind an attestation, as ciphertexts only: ``sealed`` maps each reader's
    X25519 public key (32 bytes) to the report sealed to it (a NaCl sealed box). The gateway
    never holds a reader's private key; ``report_sha256`` binds the plaintext."""

    attestation_id: Hash32
    subject: Address
    report_sha256: Hash32
    sealed: Mapping[bytes, bytes]
    created_at: datetime
