"""The store's tables (sqlmodel). Internal to ``gateway.store``: the facade returns frozen domain
records (``gateway.domain.status``), never these rows.

Representation rules, the same on SQLite and PostgreSQL:

- Hashes, addresses, ids and signatures are raw bytes (BLOB / BYTEA), as the domain holds them
  (``Address`` is 20 raw bytes): no hex parsing at the boundary, no two spellings of one value
  ("0xAB" vs "0xab") that compare unequal, half the size of hex text.
- Chain ids, heights, signer nonces and timelocks are BIGINT: they are far below 2**63 (chain
  ids are configured by governance, heights and nonces count up one by one).
- On-chain uint256 values (amounts, token ids, fees, a message nonce) are ``Uint256``.
- Times are aware UTC (``UtcDateTime``); JSON goes in TEXT columns, written by the facade with
  sorted keys so equal values are equal text on both databases.

Every constraint and index has a fixed name (``NAMING``), so migrations can refer to them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from gateway.store.types import Uint256, UtcDateTime

__all__ = [
    "NAMING",
    "ApiKeyRow",
    "AttesterSignatureRow",
    "CheckpointRow",
    "CreditReportRow",
    "EventRow",
    "IdempotencyRow",
    "LockRow",
    "MessageRow",
    "MessageStatusHistoryRow",
    "RequestNonceRow",
    "StoreModel",
    "SwapRow",
    "TrackingRow",
    "TransactionRow",
    "TrustStateRow",
    "WebhookDeliveryRow",
    "WebhookRow",
    "metadata",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A registry of our own: other sqlmodel users in the process (none today) cannot add tables to
# what the migrations are compared with.
metadata = MetaData(naming_convention=NAMING)

# SQLite makes only an INTEGER PRIMARY KEY autoincrement (the rowid); PostgreSQL gets BIGINT.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")

OWNER_LEN = 200
TRACKING_ID_LEN = 100
STREAM_LEN = 64  # checkpoints.stream (PostgreSQL enforces it; SQLite does not)
KEY_ID_LEN = 16  # api_keys.key_id: 8 random bytes in hex
KEY_NAME_LEN = 100
NONCE_LEN = 64
IDEM_KEY_LEN = 128
URL_LEN = 2048
WEBHOOK_SECRET_LEN = 256


class StoreModel(SQLModel, registry=registry(metadata=metadata)):
    pass


class MessageRow(StoreModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        # The work queue: claim_messages filters on exactly these.
        Index("ix_messages_status_dst_next", "status", "dst_chain_id", "next_attempt_at"),
        Index("ix_messages_src_tx", "src_chain_id", "src_tx_hash"),
        # The API's transfer list: keyset pages in (created_at, id) order.
        Index("ix_messages_created_at_id", "created_at", "id"),
    )

    id: bytes = Field(sa_type=LargeBinary, primary_key=True)
    src_chain_id: int = Field(sa_type=BigInteger, nullable=False)
    dst_chain_id: int = Field(sa_type=BigInteger, nullable=False)
    src_endpoint: bytes = Field(sa_type=LargeBinary, nullable=False)
    dst_endpoint: bytes = Field(sa_type=LargeBinary, nullable=False)
    nonce: int = Field(sa_type=Uint256, nullable=False)
    sender: bytes = Field(sa_type=LargeBinary, nullable=False)
    receiver: bytes = Field(sa_type=LargeBinary, nullable=False)
    payload: bytes = Field(sa_type=LargeBinary, nullable=False)
    src_block_number: int = Field(sa_type=BigInteger, nullable=False)
    src_block_hash: bytes = Field(sa_type=LargeBinary, nullable=False)
    src_tx_hash: bytes = Field(sa_type=LargeBinary, nullable=False)
    src_tx_index: int = Field(sa_type=Integer, nullable=False)
    block_log_index: int = Field(sa_type=Integer, nullable=False)
    receipt_log_index: int | None = Field(default=None, sa_type=Integer, nullable=True)
    status: str = Field(sa_type=String(32), nullable=False)
    reason: str | None = Field(default=None, sa_type=Text, nullable=True)
    attempts: int = Field(default=0, sa_type=Integer, nullable=False)
    next_attempt_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    lease_owner: str | None = Field(default=None, sa_type=String(OWNER_LEN), nullable=True)
    lease_until: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    delivery_tx_hash: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    delivery_block_number: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    tracking_id: str | None = Field(default=None, sa_type=String(TRACKING_ID_LEN), nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class MessageStatusHistoryRow(StoreModel, table=True):
    __tablename__ = "message_status_history"
    __table_args__ = (Index("ix_message_status_history_message_id", "message_id"),)

    id: int | None = Field(default=None, sa_type=_SERIAL, primary_key=True)
    message_id: bytes = Field(
        sa_type=LargeBinary, foreign_key="messages.id", ondelete="CASCADE", nullable=False
    )
    old_status: str | None = Field(default=None, sa_type=String(32), nullable=True)
    new_status: str = Field(sa_type=String(32), nullable=False)
    owner: str | None = Field(default=None, sa_type=String(OWNER_LEN), nullable=True)
    at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    detail: str | None = Field(default=None, sa_type=Text, nullable=True)
    tx_hash: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)


class CheckpointRow(StoreModel, table=True):
    __tablename__ = "checkpoints"

    chain_id: int = Field(sa_type=BigInteger, primary_key=True)
    stream: str = Field(sa_type=String(STREAM_LEN), primary_key=True)
    height: int = Field(sa_type=BigInteger, nullable=False)
    block_hash: bytes = Field(sa_type=LargeBinary, nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class TrustStateRow(StoreModel, table=True):
    __tablename__ = "trust_states"

    # A chain id is given, never generated (a lone integer key is SERIAL unless told).
    chain_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    kind: str = Field(sa_type=String(32), nullable=False)
    state: str = Field(sa_type=Text, nullable=False)  # JSON
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class TransactionRow(StoreModel, table=True):
    """The transaction journal (``adapters.rpc.submit.TxJournal``): one row per entry. A nonce
    the node refused is used again by a later entry, so (chain, sender, nonce) is not unique;
    the signer's single writer keeps at most one entry per nonce open."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_key", "chain_id", "sender", "nonce"),
        Index("ix_transactions_open", "chain_id", "sender", "state"),
    )

    id: int | None = Field(default=None, sa_type=_SERIAL, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger, nullable=False)
    sender: bytes = Field(sa_type=LargeBinary, nullable=False)
    nonce: int = Field(sa_type=BigInteger, nullable=False)
    to_address: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    value: int = Field(sa_type=Uint256, nullable=False)
    data: bytes = Field(sa_type=LargeBinary, nullable=False)
    purpose: str = Field(sa_type=String(64), nullable=False)
    refs: str = Field(sa_type=Text, nullable=False)  # JSON list of strings
    # JSON list in sending order: hash, signed raw bytes, fees, gas, signing time.
    attempts: str = Field(sa_type=Text, nullable=False)
    state: str = Field(sa_type=String(16), nullable=False)
    mined_tx_hash: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    block_number: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    block_hash: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    gas_used: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    effective_gas_price: int | None = Field(default=None, sa_type=Uint256, nullable=True)
    receipt_status: int | None = Field(default=None, sa_type=Integer, nullable=True)
    reason: str | None = Field(default=None, sa_type=Text, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class AttesterSignatureRow(StoreModel, table=True):
    __tablename__ = "attester_signatures"

    store_chain_id: int = Field(sa_type=BigInteger, primary_key=True)
    src_chain_id: int = Field(sa_type=BigInteger, primary_key=True)
    # Several attesters (consortium members) may share one store; each signs once per height.
    attester: bytes = Field(sa_type=LargeBinary, primary_key=True)
    number: int = Field(sa_type=BigInteger, primary_key=True)
    block_hash: bytes = Field(sa_type=LargeBinary, nullable=False)
    digest: bytes = Field(sa_type=LargeBinary, nullable=False)
    signature: bytes = Field(sa_type=LargeBinary, nullable=False)
    signed_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    submitted_tx_hash: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)


class SwapRow(StoreModel, table=True):
    """Leg columns are prefixed by whose lock it is: ``initiator_leg_*`` is the lock the
    initiator makes (and the participant claims)."""

    __tablename__ = "swaps"
    __table_args__ = (
        Index("ix_swaps_state", "state"),
        # A proposal is refused when any stored swap has its hashlock (docs/api.md §6).
        Index("ix_swaps_hashlock", "hashlock"),
    )

    swap_id: bytes = Field(sa_type=LargeBinary, primary_key=True)
    hashlock: bytes = Field(sa_type=LargeBinary, nullable=False)
    state: str = Field(sa_type=String(32), nullable=False)
    initiator: bytes = Field(sa_type=LargeBinary, nullable=False)
    participant: bytes = Field(sa_type=LargeBinary, nullable=False)

    initiator_leg_chain_id: int = Field(sa_type=BigInteger, nullable=False)
    initiator_leg_htlc: bytes = Field(sa_type=LargeBinary, nullable=False)
    initiator_leg_asset_kind: str = Field(sa_type=String(16), nullable=False)
    initiator_leg_token: bytes = Field(sa_type=LargeBinary, nullable=False)
    initiator_leg_value: int = Field(sa_type=Uint256, nullable=False)
    initiator_leg_claimer: bytes = Field(sa_type=LargeBinary, nullable=False)
    initiator_leg_refunder: bytes = Field(sa_type=LargeBinary, nullable=False)
    initiator_leg_timelock: int = Field(sa_type=BigInteger, nullable=False)
    initiator_leg_lock_tx: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    initiator_leg_claim_tx: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    initiator_leg_refund_tx: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)

    participant_leg_chain_id: int = Field(sa_type=BigInteger, nullable=False)
    participant_leg_htlc: bytes = Field(sa_type=LargeBinary, nullable=False)
    participant_leg_asset_kind: str = Field(sa_type=String(16), nullable=False)
    participant_leg_token: bytes = Field(sa_type=LargeBinary, nullable=False)
    participant_leg_value: int = Field(sa_type=Uint256, nullable=False)
    participant_leg_claimer: bytes = Field(sa_type=LargeBinary, nullable=False)
    participant_leg_refunder: bytes = Field(sa_type=LargeBinary, nullable=False)
    participant_leg_timelock: int = Field(sa_type=BigInteger, nullable=False)
    participant_leg_lock_tx: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    participant_leg_claim_tx: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    participant_leg_refund_tx: bytes | None = Field(
        default=None, sa_type=LargeBinary, nullable=True
    )

    preimage: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    claim_signature: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    claim_destination: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    refund_authorised: bool = Field(default=False, sa_type=Boolean, nullable=False)
    # Why the keeper refuses or cannot act on the swap (Swap.reason); NULL when nothing does.
    reason: str | None = Field(default=None, sa_type=Text, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class LockRow(StoreModel, table=True):
    __tablename__ = "locks"

    name: str = Field(sa_type=String(128), primary_key=True)
    owner: str | None = Field(default=None, sa_type=String(OWNER_LEN), nullable=True)
    lease_until: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    fencing_token: int = Field(sa_type=BigInteger, nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class TrackingRow(StoreModel, table=True):
    __tablename__ = "tracking"
    __table_args__ = (Index("ix_tracking_src_tx", "src_chain_id", "src_tx_hash"),)

    tracking_id: str = Field(sa_type=String(TRACKING_ID_LEN), primary_key=True)
    kind: str = Field(sa_type=String(16), nullable=False)
    ref: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    src_chain_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    src_tx_hash: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


# --- the gateway API's tables (docs/api.md §4) -------------------------------------------------


class EventRow(StoreModel, table=True):
    """The event log: appended by the facade in the transaction of each change it reports."""

    __tablename__ = "events"
    # For pruning old events by time.
    __table_args__ = (Index("ix_events_created_at", "created_at"),)

    id: int | None = Field(default=None, sa_type=_SERIAL, primary_key=True)
    kind: str = Field(sa_type=String(16), nullable=False)
    ref: bytes = Field(sa_type=LargeBinary, nullable=False)
    data: str = Field(sa_type=Text, nullable=False)  # JSON object
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class ApiKeyRow(StoreModel, table=True):
    __tablename__ = "api_keys"

    key_id: str = Field(sa_type=String(KEY_ID_LEN), primary_key=True)
    name: str = Field(sa_type=String(KEY_NAME_LEN), nullable=False)
    secret_sha256: bytes = Field(sa_type=LargeBinary, nullable=False)
    scopes: str = Field(sa_type=String(64), nullable=False)  # sorted, comma-separated
    ed25519_public_key: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    rate_per_s: float = Field(sa_type=Double, nullable=False)
    burst: int = Field(sa_type=Integer, nullable=False)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    # The EVM account (20 bytes) the key acts as; required for issuer keys (0006).
    chain_account: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)


class RequestNonceRow(StoreModel, table=True):
    """Nonces of signed requests, kept until their window passed (replays are refused)."""

    __tablename__ = "request_nonces"
    __table_args__ = (Index("ix_request_nonces_expires_at", "expires_at"),)

    key_id: str = Field(
        sa_type=String(KEY_ID_LEN),
        foreign_key="api_keys.key_id",
        ondelete="CASCADE",
        primary_key=True,
    )
    nonce: str = Field(sa_type=String(NONCE_LEN), primary_key=True)
    expires_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class IdempotencyRow(StoreModel, table=True):
    """POST answers by ``Idempotency-Key``: ``in_progress`` while the request runs, then
    ``done`` with the answer (``status``, ``response``, ``response_headers``: NULL in the rows
    answered before 0006)."""

    __tablename__ = "idempotency"
    __table_args__ = (Index("ix_idempotency_created_at", "created_at"),)

    key_id: str = Field(
        sa_type=String(KEY_ID_LEN),
        foreign_key="api_keys.key_id",
        ondelete="CASCADE",
        primary_key=True,
    )
    idem_key: str = Field(sa_type=String(IDEM_KEY_LEN), primary_key=True)
    body_sha256: bytes = Field(sa_type=LargeBinary, nullable=False)
    state: str = Field(sa_type=String(16), nullable=False)
    status: int | None = Field(default=None, sa_type=Integer, nullable=True)
    response: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    # JSON object, sorted keys: the answer's headers, name -> value
    response_headers: str | None = Field(default=None, sa_type=Text, nullable=True)


class WebhookRow(StoreModel, table=True):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_key_id", "key_id"),)

    id: int | None = Field(default=None, sa_type=_SERIAL, primary_key=True)
    key_id: str = Field(
        sa_type=String(KEY_ID_LEN),
        foreign_key="api_keys.key_id",
        ondelete="CASCADE",
        nullable=False,
    )
    url: str = Field(sa_type=String(URL_LEN), nullable=False)
    secret: str = Field(sa_type=String(WEBHOOK_SECRET_LEN), nullable=False)
    kinds: str = Field(sa_type=String(64), nullable=False)  # sorted, comma-separated
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    disabled_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)


class WebhookDeliveryRow(StoreModel, table=True):
    """One event for one webhook, leased to a dispatcher while it posts it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The dispatcher's queue: claim_deliveries filters on exactly these.
        Index("ix_webhook_deliveries_state_next_at", "state", "next_at"),
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )

    webhook_id: int = Field(
        sa_type=BigInteger,
        foreign_key="webhooks.id",
        ondelete="CASCADE",
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
    )
    event_id: int = Field(
        sa_type=BigInteger,
        foreign_key="events.id",
        ondelete="CASCADE",
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
    )
    state: str = Field(sa_type=String(16), nullable=False)
    attempts: int = Field(default=0, sa_type=Integer, nullable=False)
    next_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    last_error: str | None = Field(default=None, sa_type=Text, nullable=True)
    lease_owner: str | None = Field(default=None, sa_type=String(OWNER_LEN), nullable=True)
    lease_until: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class CreditReportRow(StoreModel, table=True):
    """Credit reports as sealed boxes only (``sealed``: JSON of reader key hex -> ciphertext
    hex); the gateway never holds a reader's key."""

    __tablename__ = "credit_reports"
    __table_args__ = (Index("ix_credit_reports_subject", "subject"),)

    attestation_id: bytes = Field(sa_type=LargeBinary, primary_key=True)
    subject: bytes = Field(sa_type=LargeBinary, nullable=False)
    report_sha256: bytes = Field(sa_type=LargeBinary, nullable=False)
    sealed: str = Field(sa_type=Text, nullable=False)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
