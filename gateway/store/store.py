"""The async ``Store`` facade: the only way the relay service reads or writes its database.

It returns frozen domain records (``gateway.domain.status``), never ORM rows, and every method is
one database transaction. The queries are SQLAlchemy Core over the sqlmodel tables: ON CONFLICT,
``FOR UPDATE SKIP LOCKED`` and compare-and-set UPDATEs say exactly what they do, and there is no
identity map that could hold a row another process changed.

Leases (docs/relayer.md §2): ``claim_messages`` stamps rows with an owner and an expiry; every
later change of a message names its owner and is refused (``LeaseLost``) once the lease passed
to someone else. A lease that expired but was not taken is still its owner's: the change and any
competing claim are serialized by the database, so the owner's change lands first or not at all.
Times come from the caller's clock (``now=`` or the store's ``clock``), not the database's, so
tests can drive expiry; processes sharing a database need clocks that agree to well within a
lease.

Events (docs/api.md §3): every message status change, swap state change and credit attestation
step (a report stored, a publication or revocation sent by the registry) appends to the
``events`` log in the transaction of the change (``_append_events``, the last statement before
the commit), with a delivery for each webhook of its kind; ``events_after`` reads the log in id
order and ``wait_for_events`` waits for it to grow (PostgreSQL LISTEN/NOTIFY, SQLite polling).
``prune_events`` removes old events in small batches, keeping those a delivery still waits for.
The gateway API's own state (keys, nonces, idempotent answers, webhooks, credit reports) is
here too, behind the same rules.

Errors: ``StoreUnavailable`` (retryable) when the database is unreachable, busy past its
timeout, or aborted the transaction; ``StoreError`` and its kin (fatal) for broken constraints
and rules. Nothing is written when a method raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
from alembic.migration import MigrationContext
from sqlalchemy import (
    Row,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.errors import XgateError
from adapters.rpc.submit import (
    Dropped,
    Failed,
    Fees,
    JournalEntry,
    Mined,
    TxAttempt,
    TxOutcome,
)
from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.apikeys import (
    SIGNING_SCOPES,
    ApiKey,
    CreatedApiKey,
    IdempotencyAnswer,
    IdempotencyOutcome,
    Scope,
    format_api_key,
    parse_api_key,
)
from gateway.domain.credit_reports import attestation_id, grade_bytes
from gateway.domain.events import (
    CreditAction,
    DeliveryState,
    Event,
    EventKind,
    Webhook,
    WebhookDelivery,
    WebhookDue,
)
from gateway.domain.messages import Message, MessageId, Nonce
from gateway.domain.payloads import (
    CreditAttestation,
    CreditRevocation,
    PayloadInvalid,
    decode_payload,
)
from gateway.domain.status import (
    DONE_STATUSES,
    WAITING_STATUSES,
    AssetKind,
    Checkpoint,
    CreditReport,
    InvalidTransition,
    LockLease,
    MessageCursor,
    MessageRecord,
    MessageStatus,
    NewMessage,
    SignatureRecord,
    StatusChange,
    Swap,
    SwapLeg,
    SwapState,
    TrackingKind,
    TrackingRecord,
    TrustState,
    TxRecord,
    TxState,
    check_transition,
)
from gateway.store.db import BEGIN_OPTION, StoreUrl, async_engine, parse_store_url
from gateway.store.errors import (
    CheckpointMoved,
    ConflictingSignature,
    CreditReportConflict,
    HashlockInUse,
    InvalidCheckpoint,
    LeaseLost,
    NotDeadLettered,
    NotFound,
    SchemaOutOfDate,
    StoreError,
    StoreUnavailable,
    SwapConflict,
    SwapStateMoved,
    TrackingConflict,
    TxConflict,
    ValueOutOfRange,
)
from gateway.store.migrate import head, upgrade
from gateway.store.models import (
    IDEM_KEY_LEN,
    KEY_NAME_LEN,
    OWNER_LEN,
    STREAM_LEN,
    TRACKING_ID_LEN,
    URL_LEN,
    WEBHOOK_SECRET_LEN,
    metadata,
)
from gateway.store.point_reads import PointQuery, PointReadBusy, PointReader
from gateway.store.types import UINT256_MAX

__all__ = ["Store"]

log = logging.getLogger(__name__)

_INT64_MAX = 2**63 - 1
# Rows per multi-VALUES insert: far below SQLite's bound-parameter limit (26 columns each).
_INSERT_CHUNK = 200
# SQLite reports schema problems as OperationalError too; those are not worth retrying.
_SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "has no column", "syntax error")

_messages: Table = metadata.tables["messages"]
_history: Table = metadata.tables["message_status_history"]
_checkpoints: Table = metadata.tables["checkpoints"]
_trust: Table = metadata.tables["trust_states"]
_txs: Table = metadata.tables["transactions"]
_sigs: Table = metadata.tables["attester_signatures"]
_swaps: Table = metadata.tables["swaps"]
_locks: Table = metadata.tables["locks"]
_tracking: Table = metadata.tables["tracking"]
_events: Table = metadata.tables["events"]
_api_keys: Table = metadata.tables["api_keys"]
_nonces: Table = metadata.tables["request_nonces"]
_idem: Table = metadata.tables["idempotency"]
_webhooks: Table = metadata.tables["webhooks"]
_deliveries: Table = metadata.tables["webhook_deliveries"]
_credit: Table = metadata.tables["credit_reports"]

# The event log (docs/api.md §3). NOTIFY channel of new events (payload: the highest new id),
# the advisory lock that orders their commits ("xgevents" in ASCII), how often SQLite is polled.
EVENTS_CHANNEL = "xgate_events"
_EVENTS_LOCK = 0x78676576656E7473
# The advisory lock class of a hashlock's swaps ("xghl"): two-int keys, a space apart from the
# events' one-bigint key.
_HASHLOCK_LOCK_CLASS = 0x7867686C
_EVENTS_POLL_S = 0.2
_EVENTS_PAGE_MAX = 1000
_DETAIL_LEN = 500  # an event's detail is cut to this many characters
_EVENTS_PRUNE_MAX = 1000  # events removed by one prune_events call (one short transaction)

MESSAGES_PAGE_MAX = 200
_DELIVERY_ERROR_LEN = 2000
_IDEM_RESPONSE_MAX = 1024 * 1024
_IDEM_HEADERS_MAX = 64 * 1024  # an answer's headers, as stored (JSON)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110 §5.1)
_PRUNE_BATCH = 500  # expired nonces / idempotent answers removed per call, at most
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_MAX_READERS = 32
_SEALED_MAX = 64 * 1024 + 48  # a sealed box: the report (64 KiB at most) + 48 bytes of overhead

# The point reads (gateway/store/point_reads.py): the API's hot path.
_MESSAGE_BY_ID = PointQuery.of(select(_messages).where(_messages.c.id == bindparam("id")))
_HISTORY_OF = PointQuery.of(
    select(_history).where(_history.c.message_id == bindparam("id")).order_by(_history.c.id)
)
_TRACKED = PointQuery.of(select(_tracking).where(_tracking.c.tracking_id == bindparam("id")))
_API_KEY = PointQuery.of(select(_api_keys).where(_api_keys.c.key_id == bindparam("id")))

_MESSAGE_ORDER = (
    _messages.c.src_chain_id,
    _messages.c.src_block_number,
    _messages.c.block_log_index,
)
_LEGS = ("initiator_leg", "participant_leg")
_LEG_TX_FIELDS = ("lock_tx", "claim_tx", "refund_tx")
_SWAP_FIELDS = frozenset(
    {"preimage", "claim_signature", "claim_destination", "refund_authorised", "reason"}
    | {f"{leg}_{name}" for leg in _LEGS for name in _LEG_TX_FIELDS}
)


_E = TypeVar("_E", EventKind, MessageStatus, Scope)
_T = TypeVar("_T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """The relay service's persistence. Open with ``await Store.open(url)`` (or ``async with``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: StoreUrl,
        *,
        clock: Callable[[], datetime] = _utcnow,
        point_reader: PointReader | None = None,
    ) -> None:
        self._engine = engine
        self._point_reader = point_reader
        self._url = url
        self._clock = clock
        self._sqlite = url.dialect == "sqlite"
        self._listener: _EventListener | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> Store:
        """Connect to ``url``; with ``migrate`` upgrade the schema to head first, otherwise refuse
        a database that is not at head (``SchemaOutOfDate``)."""
        parsed = parse_store_url(url)
        if migrate:
            await asyncio.to_thread(upgrade, parsed)
        reader = PointReader(parsed.sync_url.database or "") if parsed.dialect == "sqlite" else None
        store = cls(async_engine(parsed), parsed, clock=clock, point_reader=reader)
        try:
            await store._check_schema()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self._engine.dispose()
        if self._point_reader is not None:
            self._point_reader.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._url.dialect

    async def _check_schema(self) -> None:
        expected = head()
        async with self._tx("check_schema", write=False) as conn:
            found = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        if found != expected:
            raise SchemaOutOfDate(
                "database schema is not at the code's revision: run `xgate db upgrade`",
                found=found,
                expected=expected,
                url=self._url.shown,
            )

    # --- plumbing -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _tx(self, op: str, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """One transaction; database errors leave it as ``StoreUnavailable`` / ``StoreError``."""
        try:
            async with self._engine.connect() as conn:
                if self._sqlite and not write:
                    await conn.execution_options(**{BEGIN_OPTION: "DEFERRED"})
                async with conn.begin():
                    yield conn
        except XgateError:
            raise
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise self._classify(exc, op) from exc

    async def _point_rows(self, op: str, query: PointQuery, **params: Any) -> list[Any]:
        """The rows of ``query``, one statement reading a row by its key or the rows of one
        indexed key: on SQLite inline on the event loop (``point_reads`` says why), else in a
        read transaction of the async engine."""
        if self._point_reader is not None:
            try:
                return self._point_reader.rows(query, params)
            except (PointReadBusy, sqlite3.Error):
                # Locked past the short wait allowed on the loop, or failing: once more off
                # the loop, where errors are classified as for every other operation.
                pass
        async with self._tx(op, write=False) as conn:
            return list((await conn.execute(query.statement, params)).all())

    def _classify(self, exc: BaseException, op: str) -> XgateError:
        reason = str(getattr(exc, "orig", None) or exc)
        if isinstance(exc, sa_exc.IntegrityError):
            return StoreError("store constraint violated", op=op, reason=reason)
        transient = isinstance(
            exc,
            sa_exc.OperationalError
            | sa_exc.InterfaceError
            | sa_exc.TimeoutError
            | sa_exc.DisconnectionError
            | OSError,
        ) or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)
        if transient and not (
            self._sqlite and any(marker in reason for marker in _SQLITE_SCHEMA_ERRORS)
        ):
            return StoreUnavailable(
                "database unavailable or busy", op=op, dialect=self.dialect, reason=reason
            )
        return StoreError("store operation failed", op=op, reason=reason)

    def _insert(self, table: Table) -> PgInsert | SqliteInsert:
        return sqlite_insert(table) if self._sqlite else pg_insert(table)

    def _now(self, now: datetime | None) -> datetime:
        value = self._clock() if now is None else now
        if value.tzinfo is None:
            raise StoreError("naive datetime: the store takes aware UTC times only", now=value)
        return value.astimezone(UTC)

    # --- scans and checkpoints ----------------------------------------------------------------

    async def checkpoint(self, chain_id: ChainId, stream: str) -> Checkpoint | None:
        _check_stream(stream)
        async with self._tx("checkpoint", write=False) as conn:
            row = (
                await conn.execute(
                    select(_checkpoints).where(
                        _checkpoints.c.chain_id == chain_id, _checkpoints.c.stream == stream
                    )
                )
            ).first()
        if row is None:
            return None
        return Checkpoint(
            ChainId(row.chain_id), row.stream, Height(row.height), Hash32(row.block_hash)
        )

    async def checkpoints(self) -> list[tuple[Checkpoint, datetime]]:
        """Every watcher checkpoint, by chain and stream, with when it last moved."""
        c = _checkpoints.c
        async with self._tx("checkpoints", write=False) as conn:
            rows = (await conn.execute(select(_checkpoints).order_by(c.chain_id, c.stream))).all()
        return [
            (
                Checkpoint(
                    ChainId(row.chain_id), row.stream, Height(row.height), Hash32(row.block_hash)
                ),
                row.updated_at,
            )
            for row in rows
        ]

    async def record_scan(
        self,
        chain_id: ChainId,
        stream: str,
        expected_prev: Checkpoint | None,
        new: Checkpoint,
        messages: Sequence[NewMessage],
        *,
        credit_registry: Address | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record the messages found in the blocks after ``expected_prev`` up to ``new`` and move
        the checkpoint to ``new``, in one transaction. Returns how many messages were new
        (recording one again changes nothing). A new message sent by ``credit_registry`` (the
        chain's ``CreditRegistry``, if any) carrying a credit attestation or revocation also
        appends a ``credit`` event (``published`` / ``revoked``).

        ``CheckpointMoved`` (retryable, nothing written) when the stored checkpoint is not
        ``expected_prev``: another watcher got there first. ``InvalidCheckpoint`` when ``new``
        is below ``expected_prev`` or a message lies outside the scanned range.
        """
        at = self._now(now)
        _check_int64(chain_id, "chain_id")
        _check_stream(stream)
        for cp in (expected_prev, new):
            if cp is not None and (cp.chain_id != chain_id or cp.stream != stream):
                raise InvalidCheckpoint(
                    "checkpoint of another stream", chain_id=chain_id, stream=stream,
                    checkpoint_chain_id=cp.chain_id, checkpoint_stream=cp.stream,
                )  # fmt: skip
        _check_int64(new.height, "height")
        low = -1 if expected_prev is None else expected_prev.height
        if new.height < low:
            raise InvalidCheckpoint(
                "checkpoint would move backwards",
                chain_id=chain_id, stream=stream, height=new.height, previous=low,
            )  # fmt: skip
        if expected_prev is not None and new.height == low and new != expected_prev:
            raise InvalidCheckpoint(
                "checkpoint would change its block at the same height",
                chain_id=chain_id, stream=stream, height=new.height,
            )  # fmt: skip
        rows: dict[bytes, dict[str, Any]] = {}
        for item in messages:
            if item.message.src_chain_id != chain_id:
                raise InvalidCheckpoint(
                    "message from another chain in a scan",
                    chain_id=chain_id, message_chain_id=item.message.src_chain_id,
                )  # fmt: skip
            if not low < item.src_block_number <= new.height:
                raise InvalidCheckpoint(
                    "message outside the scanned blocks",
                    chain_id=chain_id, stream=stream, block=item.src_block_number,
                    after=low, up_to=new.height,
                )  # fmt: skip
            rows.setdefault(item.id, _message_row(item, at))

        async with self._tx("record_scan") as conn:
            await self._advance_checkpoint(conn, chain_id, stream, expected_prev, new, at)
            if not rows:
                return 0
            await self._fill_tracking_ids(conn, chain_id, rows)
            new_ids: list[bytes] = []
            values = list(rows.values())
            for start in range(0, len(values), _INSERT_CHUNK):
                stmt = (
                    self._insert(_messages)
                    .values(values[start : start + _INSERT_CHUNK])
                    .on_conflict_do_nothing(index_elements=[_messages.c.id])
                    .returning(_messages.c.id)
                )
                new_ids += (await conn.execute(stmt)).scalars().all()
            if new_ids:
                await conn.execute(
                    _history.insert(),
                    [
                        {
                            "message_id": mid,
                            "old_status": None,
                            "new_status": MessageStatus.FINAL.value,
                            "owner": None,
                            "at": at,
                            "detail": f"seen in final block {rows[mid]['src_block_number']}",
                            "tx_hash": rows[mid]["src_tx_hash"],
                        }
                        for mid in new_ids
                    ],
                )
                await self._append_events(
                    conn,
                    [
                        _message_event(
                            rows[mid],
                            None,
                            MessageStatus.FINAL,
                            tx_hash=rows[mid]["src_tx_hash"],
                            detail=f"seen in final block {rows[mid]['src_block_number']}",
                        )
                        for mid in new_ids
                    ]
                    + _credit_message_events(rows, new_ids, credit_registry),
                    at,
                )
        return len(new_ids)

    async def _advance_checkpoint(
        self,
        conn: AsyncConnection,
        chain_id: ChainId,
        stream: str,
        expected_prev: Checkpoint | None,
        new: Checkpoint,
        at: datetime,
    ) -> None:
        if expected_prev is None:
            result = await conn.execute(
                self._insert(_checkpoints)
                .values(
                    chain_id=chain_id,
                    stream=stream,
                    height=new.height,
                    block_hash=new.block_hash,
                    updated_at=at,
                )
                .on_conflict_do_nothing(
                    index_elements=[_checkpoints.c.chain_id, _checkpoints.c.stream]
                )
                .returning(_checkpoints.c.height)
            )
        else:
            # Compare-and-set: the row changes only if it still is the checkpoint we read.
            result = await conn.execute(
                update(_checkpoints)
                .where(
                    _checkpoints.c.chain_id == chain_id,
                    _checkpoints.c.stream == stream,
                    _checkpoints.c.height == expected_prev.height,
                    _checkpoints.c.block_hash == expected_prev.block_hash,
                )
                .values(height=new.height, block_hash=new.block_hash, updated_at=at)
                .returning(_checkpoints.c.height)
            )
        # RETURNING, not rowcount: the async psycopg driver reports -1 for an INSERT's rowcount.
        if result.first() is None:
            raise CheckpointMoved(
                "checkpoint moved since it was read: another watcher scanned these blocks",
                chain_id=chain_id,
                stream=stream,
                expected=None if expected_prev is None else expected_prev.height,
            )

    async def _fill_tracking_ids(
        self, conn: AsyncConnection, chain_id: ChainId, rows: dict[bytes, dict[str, Any]]
    ) -> None:
        """Messages of a transaction the API already tracks get its tracking id."""
        untracked = {r["src_tx_hash"] for r in rows.values() if r["tracking_id"] is None}
        if not untracked:
            return
        found = await conn.execute(
            select(_tracking.c.src_tx_hash, func.min(_tracking.c.tracking_id))
            .where(
                _tracking.c.src_chain_id == chain_id,
                _tracking.c.src_tx_hash.in_(untracked),
            )
            .group_by(_tracking.c.src_tx_hash)
        )
        by_tx = {bytes(tx): tid for tx, tid in found.all()}
        for r in rows.values():
            if r["tracking_id"] is None:
                r["tracking_id"] = by_tx.get(r["src_tx_hash"])

    # --- the message work queue ---------------------------------------------------------------

    async def claim_messages(
        self,
        owner: str,
        *,
        dst_chain_id: ChainId,
        statuses: Iterable[MessageStatus],
        limit: int,
        lease_s: float,
        src_chain_id: ChainId | None = None,
        now: datetime | None = None,
    ) -> list[MessageRecord]:
        """Lease up to ``limit`` messages to ``owner`` for ``lease_s`` seconds: those for
        ``dst_chain_id`` (and ``src_chain_id`` if given) in ``statuses`` that are due
        (``next_attempt_at <= now``) and not leased (no lease, or an expired one). Oldest source
        block and position first. Rows another claimer holds are skipped, never waited for."""
        _check_owner(owner)
        if lease_s <= 0:
            raise StoreError("lease_s must be > 0", lease_s=lease_s)
        wanted = [MessageStatus(s).value for s in statuses]
        if limit <= 0 or not wanted:
            return []
        at = self._now(now)
        until = at + timedelta(seconds=lease_s)
        m = _messages.c
        conditions = [
            m.status.in_(wanted),
            m.dst_chain_id == dst_chain_id,
            m.next_attempt_at <= at,
            or_(m.lease_until.is_(None), m.lease_until <= at),
        ]
        if src_chain_id is not None:
            conditions.append(m.src_chain_id == src_chain_id)
        async with self._tx("claim_messages") as conn:
            # SKIP LOCKED on PostgreSQL; SQLite renders no FOR UPDATE and relies on BEGIN
            # IMMEDIATE having made this the only writer.
            ids = (
                (
                    await conn.execute(
                        select(m.id)
                        .where(*conditions)
                        .order_by(*_MESSAGE_ORDER)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            claimed = (
                await conn.execute(
                    update(_messages)
                    .where(m.id.in_(ids))
                    .values(lease_owner=owner, lease_until=until, updated_at=at)
                    .returning(*_messages.c)
                )
            ).all()
        records = [_message_record(row) for row in claimed]
        records.sort(key=lambda r: (r.src_chain_id, r.src_block_number, r.block_log_index))
        return records

    async def transition(
        self,
        message_id: MessageId,
        owner: str,
        new_status: MessageStatus,
        *,
        reason: str | None = None,
        tx_hash: TxHash | None = None,
        block_number: Height | None = None,
        retry_at: datetime | None = None,
        detail: str | None = None,
        now: datetime | None = None,
    ) -> MessageRecord:
        """Move a message ``owner`` holds the lease of to ``new_status`` and record the change.

        ``LeaseLost`` when the lease is someone else's (or was released); ``InvalidTransition``
        when the lifecycle does not allow the change. ``submitted`` needs the delivery
        ``tx_hash`` and counts an attempt; ``parked`` needs a ``reason``; ``delivered`` records
        ``tx_hash`` / ``block_number``; back to ``header_ready`` forgets the delivery transaction.
        The message is due again at ``retry_at`` (default: now). Reaching ``delivered``,
        ``already_delivered`` or ``parked`` ends the lease; otherwise the owner keeps it.
        """
        [record] = await self.transition_many(
            [message_id], owner, new_status, reason=reason, tx_hash=tx_hash,
            block_number=block_number, retry_at=retry_at, detail=detail, now=now,
        )  # fmt: skip
        return record

    async def transition_many(
        self,
        message_ids: Sequence[MessageId],
        owner: str,
        new_status: MessageStatus,
        *,
        reason: str | None = None,
        tx_hash: TxHash | None = None,
        block_number: Height | None = None,
        retry_at: datetime | None = None,
        detail: str | None = None,
        now: datetime | None = None,
    ) -> list[MessageRecord]:
        """``transition`` of several messages (a delivered batch) in ONE store transaction, all
        or nothing: one commit instead of one per message is what lets a relayer keep up with
        batches of dozens. Records in the order of ``message_ids``."""
        new_status = MessageStatus(new_status)
        at = self._now(now)
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return []
        first = wanted[0]
        if new_status is MessageStatus.SUBMITTED and tx_hash is None:
            raise InvalidTransition(
                "a submitted message needs its delivery tx_hash", message_id=first
            )
        if new_status is MessageStatus.PARKED and not reason:
            raise InvalidTransition("a parked message needs a reason", message_id=first)
        m = _messages.c
        values: dict[str, Any] = {
            "status": new_status.value,
            "reason": reason,
            "next_attempt_at": self._now(retry_at) if retry_at is not None else at,
            "updated_at": at,
        }
        if new_status is MessageStatus.SUBMITTED:
            values["attempts"] = m.attempts + 1
            values["delivery_tx_hash"] = tx_hash
            values["delivery_block_number"] = None
        elif new_status is MessageStatus.HEADER_READY:
            values["delivery_tx_hash"] = None
            values["delivery_block_number"] = None
        else:
            if tx_hash is not None:
                values["delivery_tx_hash"] = tx_hash
            if block_number is not None:
                values["delivery_block_number"] = _check_int64(block_number, "block_number")
        if new_status in DONE_STATUSES or new_status is MessageStatus.PARKED:
            values["lease_owner"] = None
            values["lease_until"] = None
        async with self._tx("transition") as conn:
            # Rows locked in id order: two claimers never wait on each other in a cycle.
            rows = {
                bytes(row.id): row
                for row in (
                    await conn.execute(
                        select(_messages).where(m.id.in_(wanted)).order_by(m.id).with_for_update()
                    )
                ).all()
            }
            old: dict[bytes, MessageStatus] = {}
            for mid in wanted:
                row = rows.get(mid)
                if row is None:
                    raise NotFound("no such message", what="message", message_id=mid)
                self._check_lease(row, owner, mid)
                old[mid] = MessageStatus(row.status)
                check_transition(old[mid], new_status, message_id=mid)
            updated = {
                bytes(row.id): row
                for row in (
                    await conn.execute(
                        update(_messages)
                        .where(m.id.in_(wanted))
                        .values(**values)
                        .returning(*_messages.c)
                    )
                ).all()
            }
            await conn.execute(
                _history.insert(),
                [
                    {
                        "message_id": mid,
                        "old_status": old[mid].value,
                        "new_status": new_status.value,
                        "owner": owner,
                        "at": at,
                        "detail": detail if detail is not None else reason,
                        "tx_hash": tx_hash,
                    }
                    for mid in wanted
                ],
            )
            await self._append_events(
                conn,
                [
                    _message_event(
                        updated[mid]._mapping,
                        old[mid],
                        new_status,
                        tx_hash=tx_hash if tx_hash is not None else updated[mid].delivery_tx_hash,
                        detail=detail if detail is not None else reason,
                    )
                    for mid in wanted
                ],
                at,
            )
        return [_message_record(updated[mid]) for mid in wanted]

    async def operator_retry(
        self,
        message_id: MessageId,
        *,
        operator: str = "operator",
        detail: str | None = None,
        now: datetime | None = None,
    ) -> MessageRecord:
        """Move a parked message back to ``header_ready`` (an operator decided its reason is
        gone): due now, attempts reset, no lease needed. Any other status is
        ``InvalidTransition``."""
        at = self._now(now)
        async with self._tx("operator_retry") as conn:
            row = await self._message_for_update(conn, message_id)
            old = MessageStatus(row.status)
            check_transition(old, MessageStatus.HEADER_READY, operator=True, message_id=message_id)
            updated = (
                await conn.execute(
                    update(_messages)
                    .where(_messages.c.id == message_id)
                    .values(
                        status=MessageStatus.HEADER_READY.value,
                        reason=None,
                        attempts=0,
                        next_attempt_at=at,
                        lease_owner=None,
                        lease_until=None,
                        delivery_tx_hash=None,
                        delivery_block_number=None,
                        updated_at=at,
                    )
                    .returning(*_messages.c)
                )
            ).one()
            note = detail or f"operator retry (was parked: {row.reason})"
            await conn.execute(
                _history.insert().values(
                    message_id=message_id,
                    old_status=old.value,
                    new_status=MessageStatus.HEADER_READY.value,
                    owner=operator,
                    at=at,
                    detail=note,
                    tx_hash=None,
                )
            )
            await self._append_events(
                conn,
                [
                    _message_event(
                        updated._mapping, old, MessageStatus.HEADER_READY, tx_hash=None, detail=note
                    )
                ],
                at,
            )
        return _message_record(updated)

    async def defer(
        self,
        message_id: MessageId,
        owner: str,
        retry_at: datetime,
        *,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> MessageRecord:
        """A try failed retryably: keep the status, count the attempt, note ``reason``, make the
        message due at ``retry_at`` and end ``owner``'s lease. No history row (no status
        change). ``LeaseLost`` when the lease is not ``owner``'s."""
        at = self._now(now)
        async with self._tx("defer") as conn:
            row = await self._message_for_update(conn, message_id)
            self._check_lease(row, owner, message_id)
            updated = (
                await conn.execute(
                    update(_messages)
                    .where(_messages.c.id == message_id)
                    .values(
                        attempts=_messages.c.attempts + 1,
                        reason=reason,
                        next_attempt_at=self._now(retry_at),
                        lease_owner=None,
                        lease_until=None,
                        updated_at=at,
                    )
                    .returning(*_messages.c)
                )
            ).one()
        return _message_record(updated)

    async def renew_leases(
        self,
        owner: str,
        ids: Iterable[MessageId],
        lease_s: float,
        *,
        now: datetime | None = None,
    ) -> list[MessageId]:
        """Extend ``owner``'s leases by ``lease_s`` from now; returns the ids still held (the
        others were taken over: stop working on them)."""
        wanted = list(ids)
        if not wanted:
            return []
        at = self._now(now)
        async with self._tx("renew_leases") as conn:
            renewed = (
                await conn.execute(
                    update(_messages)
                    .where(_messages.c.id.in_(wanted), _messages.c.lease_owner == owner)
                    .values(lease_until=at + timedelta(seconds=lease_s), updated_at=at)
                    .returning(_messages.c.id)
                )
            ).scalars()
            held = {bytes(mid) for mid in renewed}
        return [mid for mid in wanted if mid in held]

    async def release(
        self,
        owner: str,
        ids: Iterable[MessageId],
        *,
        retry_at: datetime | None = None,
        now: datetime | None = None,
    ) -> int:
        """End ``owner``'s leases on ``ids`` (others' leases are untouched); returns how many.
        With ``retry_at`` the messages are due again only then (no attempt counted, no
        history: waiting is not a failure)."""
        wanted = list(ids)
        if not wanted:
            return 0
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if retry_at is not None:
            values["next_attempt_at"] = self._now(retry_at)
            values["updated_at"] = self._now(now)
        async with self._tx("release") as conn:
            result = await conn.execute(
                update(_messages)
                .where(_messages.c.id.in_(wanted), _messages.c.lease_owner == owner)
                .values(**values)
                .returning(_messages.c.id)
            )
            return len(result.all())

    async def _message_for_update(self, conn: AsyncConnection, message_id: MessageId) -> Row[Any]:
        row = (
            await conn.execute(
                select(_messages).where(_messages.c.id == message_id).with_for_update()
            )
        ).first()
        if row is None:
            raise NotFound("no such message", what="message", message_id=message_id)
        return row

    @staticmethod
    def _check_lease(row: Row[Any], owner: str, message_id: MessageId) -> None:
        if row.lease_owner != owner:
            raise LeaseLost(
                "message lease is not held by this owner",
                message_id=message_id,
                owner=owner,
                holder=row.lease_owner,
                lease_until=row.lease_until,
            )

    # --- message queries ----------------------------------------------------------------------

    async def message(self, message_id: MessageId) -> MessageRecord | None:
        rows = await self._point_rows("message", _MESSAGE_BY_ID, id=message_id)
        return _message_record(rows[0]) if rows else None

    async def history(self, message_id: MessageId) -> list[StatusChange]:
        """Every status change of the message, oldest first."""
        rows = await self._point_rows("history", _HISTORY_OF, id=message_id)
        return [
            StatusChange(
                seq=row.id,
                message_id=MessageId(bytes(row.message_id)),
                old_status=None if row.old_status is None else MessageStatus(row.old_status),
                new_status=MessageStatus(row.new_status),
                at=row.at,
                owner=row.owner,
                detail=row.detail,
                tx_hash=None if row.tx_hash is None else TxHash(bytes(row.tx_hash)),
            )
            for row in rows
        ]

    async def messages_by_tx(self, src_chain_id: ChainId, tx_hash: TxHash) -> list[MessageRecord]:
        """The messages one source transaction sent, in log order."""
        m = _messages.c
        return await self._messages_where(
            "messages_by_tx", m.src_chain_id == src_chain_id, m.src_tx_hash == tx_hash
        )

    async def messages_in(
        self, statuses: Iterable[MessageStatus], *, limit: int = 100
    ) -> list[MessageRecord]:
        """Messages in any of ``statuses``, oldest source block first (an operator's list of
        parked messages, a queue's head)."""
        wanted = [MessageStatus(s).value for s in statuses]
        async with self._tx("messages_in", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_messages)
                    .where(_messages.c.status.in_(wanted))
                    .order_by(*_MESSAGE_ORDER)
                    .limit(limit)
                )
            ).all()
        return [_message_record(row) for row in rows]

    async def messages_by_tracking(self, tracking_id: str) -> list[MessageRecord]:
        return await self._messages_where(
            "messages_by_tracking", _messages.c.tracking_id == tracking_id
        )

    async def _messages_where(self, op: str, *conditions: Any) -> list[MessageRecord]:
        async with self._tx(op, write=False) as conn:
            rows = (
                await conn.execute(select(_messages).where(*conditions).order_by(*_MESSAGE_ORDER))
            ).all()
        return [_message_record(row) for row in rows]

    async def count_by_status(self) -> dict[tuple[ChainId, MessageStatus], int]:
        """Messages per (destination chain, status)."""
        m = _messages.c
        async with self._tx("count_by_status", write=False) as conn:
            rows = (
                await conn.execute(
                    select(m.dst_chain_id, m.status, func.count()).group_by(
                        m.dst_chain_id, m.status
                    )
                )
            ).all()
        return {(ChainId(dst), MessageStatus(status)): int(n) for dst, status, n in rows}

    async def count_by_route(self) -> dict[tuple[ChainId, ChainId, MessageStatus], int]:
        """Messages per (source chain, destination chain, status)."""
        m = _messages.c
        async with self._tx("count_by_route", write=False) as conn:
            rows = (
                await conn.execute(
                    select(m.src_chain_id, m.dst_chain_id, m.status, func.count()).group_by(
                        m.src_chain_id, m.dst_chain_id, m.status
                    )
                )
            ).all()
        return {
            (ChainId(src), ChainId(dst), MessageStatus(status)): int(n)
            for src, dst, status, n in rows
        }

    async def oldest_waiting(self, dst_chain_id: ChainId) -> MessageRecord | None:
        """The longest-waiting message for ``dst_chain_id`` that still needs work (``final``,
        ``header_ready`` or ``submitted``): the queue's age."""
        m = _messages.c
        async with self._tx("oldest_waiting", write=False) as conn:
            row = (
                await conn.execute(
                    select(_messages)
                    .where(
                        m.dst_chain_id == dst_chain_id,
                        m.status.in_([s.value for s in WAITING_STATUSES]),
                    )
                    .order_by(m.created_at, *_MESSAGE_ORDER)
                    .limit(1)
                )
            ).first()
        return None if row is None else _message_record(row)

    # --- named locks --------------------------------------------------------------------------

    async def acquire_lock(
        self, name: str, owner: str, lease_s: float, *, now: datetime | None = None
    ) -> LockLease | None:
        """Take the lock ``name`` for ``lease_s`` seconds if it is free or its lease expired, or
        renew it if ``owner`` holds it; None while someone else holds it. The fencing token
        grows by one whenever the holder changes (including re-taking after a release)."""
        _check_owner(owner)
        if lease_s <= 0:
            raise StoreError("lease_s must be > 0", lease_s=lease_s)
        at = self._now(now)
        until = at + timedelta(seconds=lease_s)
        lk = _locks.c
        async with self._tx("acquire_lock") as conn:
            created = await conn.execute(
                self._insert(_locks)
                .values(name=name, owner=owner, lease_until=until, fencing_token=1, updated_at=at)
                .on_conflict_do_nothing(index_elements=[lk.name])
                .returning(lk.fencing_token)
            )
            if created.first() is not None:
                return LockLease(name, owner, until, 1)
            token = (
                await conn.execute(
                    update(_locks)
                    .where(
                        lk.name == name,
                        or_(lk.owner == owner, lk.owner.is_(None), lk.lease_until <= at),
                    )
                    .values(
                        owner=owner,
                        lease_until=until,
                        updated_at=at,
                        # SET sees the old row: the token moves only when the holder changes.
                        fencing_token=case(
                            (lk.owner == owner, lk.fencing_token), else_=lk.fencing_token + 1
                        ),
                    )
                    .returning(lk.fencing_token)
                )
            ).scalar_one_or_none()
        return None if token is None else LockLease(name, owner, until, int(token))

    async def lock(self, name: str) -> LockLease | None:
        """Who holds the lock ``name`` (possibly with an expired lease nobody took over yet);
        None when nobody does."""
        async with self._tx("lock", write=False) as conn:
            row = (await conn.execute(select(_locks).where(_locks.c.name == name))).first()
        if row is None or row.owner is None:
            return None
        return LockLease(row.name, row.owner, row.lease_until, int(row.fencing_token))

    async def locks(self, prefix: str = "") -> list[LockLease]:
        """Every held lock whose name starts with ``prefix``, by name (a lease may have
        expired without anyone taking the lock over yet: compare ``lease_until``)."""
        lk = _locks.c
        query = select(_locks).where(lk.owner.is_not(None)).order_by(lk.name)
        if prefix:
            query = query.where(lk.name.startswith(prefix, autoescape=True))
        async with self._tx("locks", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [
            LockLease(row.name, row.owner, row.lease_until, int(row.fencing_token)) for row in rows
        ]

    async def _check_fence(self, conn: AsyncConnection, fence: LockLease) -> None:
        """``LeaseLost`` unless ``fence`` is still the lock's holder and token. The lock row stays
        locked to the end of the transaction, so a takeover waits for the write it fences."""
        row = (
            await conn.execute(select(_locks).where(_locks.c.name == fence.name).with_for_update())
        ).first()
        if row is None or row.owner != fence.owner or row.fencing_token != fence.fencing_token:
            raise LeaseLost(
                "lock is no longer held under this fencing token: the write is refused",
                lock=fence.name,
                owner=fence.owner,
                fencing_token=fence.fencing_token,
                holder=None if row is None else row.owner,
                holder_token=None if row is None else row.fencing_token,
            )

    async def release_lock(self, name: str, owner: str) -> bool:
        """Give up ``owner``'s lock; False if ``owner`` did not hold it."""
        async with self._tx("release_lock") as conn:
            result = await conn.execute(
                update(_locks)
                .where(_locks.c.name == name, _locks.c.owner == owner)
                .values(owner=None, lease_until=None)
                .returning(_locks.c.name)
            )
            return result.first() is not None

    # --- transactions ---------------------------------------------------------------------------

    async def record_tx_attempt(
        self,
        entry: JournalEntry,
        attempt: TxAttempt,
        *,
        fence: LockLease | None = None,
        now: datetime | None = None,
    ) -> TxRecord:
        """Write a signed transaction before it is broadcast (``TxJournal.record_attempt``):
        appended to the open entry at ``entry``'s (chain, sender, nonce), or a new open entry
        with ``entry``'s fields when there is none, also after a refused one (``failed``: its
        nonce is used again). Recording an attempt already there changes nothing.

        ``TxConflict`` when the open entry is another transaction (to, value, data, purpose or
        refs differ) or the nonce is used on chain already (an entry ``mined`` or ``dropped``).
        ``fence``: the signer's writer lock (``acquire_lock``); ``LeaseLost`` and nothing
        written when another writer holds it now (one writer per signer)."""
        _check_int64(entry.chain_id, "chain_id")
        _check_int64(entry.nonce, "nonce")
        _check_address(entry.sender, "sender")
        _check_uint256(entry.value, "value")
        _check_int64(attempt.gas, "gas")
        for fee in (
            attempt.fees.max_fee_per_gas,
            attempt.fees.max_priority_fee_per_gas,
            attempt.fees.gas_price,
        ):
            _check_uint256(fee, "fee")
        at = self._now(now)
        t = _txs.c
        refs = _dump_json(list(entry.refs))
        context = {"chain_id": entry.chain_id, "sender": entry.sender, "nonce": entry.nonce}
        async with self._tx("record_tx_attempt") as conn:
            if fence is not None:
                await self._check_fence(conn, fence)
            rows = (
                await conn.execute(
                    select(_txs)
                    .where(*_tx_key(entry.chain_id, entry.sender, entry.nonce))
                    .order_by(t.id)
                    .with_for_update()
                )
            ).all()
            used = [r for r in rows if r.state in (TxState.MINED.value, TxState.DROPPED.value)]
            if used:
                raise TxConflict("nonce already used on chain", state=used[-1].state, **context)
            current = next((r for r in rows if r.state == TxState.PENDING.value), None)
            if current is None:
                result = await conn.execute(
                    _txs.insert()
                    .values(
                        chain_id=entry.chain_id,
                        sender=entry.sender,
                        nonce=entry.nonce,
                        to_address=entry.to,
                        value=entry.value,
                        data=entry.data,
                        purpose=entry.purpose,
                        refs=refs,
                        attempts=_dump_attempts([attempt]),
                        state=TxState.PENDING.value,
                        created_at=at,
                        updated_at=at,
                    )
                    .returning(*_txs.c)
                )
                return _tx_record(result.one())
            if (_opt_bytes(current.to_address), current.value, bytes(current.data)) != (
                _opt_bytes(entry.to),
                entry.value,
                entry.data,
            ) or (current.purpose, current.refs) != (entry.purpose, refs):
                raise TxConflict(
                    "an open entry at this nonce is another transaction",
                    recorded=current.purpose, purpose=entry.purpose, **context,
                )  # fmt: skip
            attempts = _load_attempts(current.attempts)
            if any(a.tx_hash == attempt.tx_hash for a in attempts):
                return _tx_record(current)
            result = await conn.execute(
                update(_txs)
                .where(t.id == current.id)
                .values(attempts=_dump_attempts([*attempts, attempt]), updated_at=at)
                .returning(*_txs.c)
            )
            return _tx_record(result.one())

    async def update_tx(
        self,
        chain_id: ChainId,
        sender: Address,
        nonce: int,
        outcome: TxOutcome,
        *,
        fence: LockLease | None = None,
        now: datetime | None = None,
    ) -> TxRecord:
        """Close the open entry at this nonce with ``outcome`` (``TxJournal.record_outcome``):
        ``Mined`` (state ``mined``, the receipt's facts), ``Failed`` (``failed``: refused by
        the node) or ``Dropped`` (``dropped``). ``NotFound`` when no entry is open there.
        ``fence`` as for ``record_tx_attempt``."""
        values: dict[str, Any]
        if isinstance(outcome, Mined):
            _check_int64(outcome.block_number, "block_number")
            _check_int64(outcome.gas_used, "gas_used")
            _check_uint256(outcome.effective_gas_price, "effective_gas_price")
            values = {
                "state": TxState.MINED.value,
                "mined_tx_hash": outcome.tx_hash,
                "block_number": outcome.block_number,
                "block_hash": outcome.block_hash,
                "gas_used": outcome.gas_used,
                "effective_gas_price": outcome.effective_gas_price,
                "receipt_status": outcome.status,
            }
        elif isinstance(outcome, Failed):
            values = {"state": TxState.FAILED.value, "reason": outcome.reason}
        else:
            values = {"state": TxState.DROPPED.value, "reason": outcome.reason}
        at = self._now(now)
        t = _txs.c
        async with self._tx("update_tx") as conn:
            if fence is not None:
                await self._check_fence(conn, fence)
            row = (
                await conn.execute(
                    update(_txs)
                    .where(*_tx_key(chain_id, sender, nonce), t.state == TxState.PENDING.value)
                    .values(**values, updated_at=at)
                    .returning(*_txs.c)
                )
            ).first()
        if row is None:
            raise NotFound(
                "no open transaction at this nonce",
                what="transaction", chain_id=chain_id, sender=sender, nonce=nonce,
            )  # fmt: skip
        return _tx_record(row)

    async def txs(self, chain_id: ChainId, sender: Address, nonce: int) -> list[TxRecord]:
        """Every entry at this nonce, oldest first (refused ones before the one that took it)."""
        async with self._tx("txs", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_txs).where(*_tx_key(chain_id, sender, nonce)).order_by(_txs.c.id)
                )
            ).all()
        return [_tx_record(row) for row in rows]

    async def tx(self, chain_id: ChainId, sender: Address, nonce: int) -> TxRecord | None:
        """The latest entry at this nonce (the open one, if any)."""
        entries = await self.txs(chain_id, sender, nonce)
        return entries[-1] if entries else None

    async def open_txs(self, chain_id: ChainId, sender: Address) -> list[TxRecord]:
        """The signer's open entries, lowest nonce first: what to resume after a restart."""
        t = _txs.c
        async with self._tx("open_txs", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_txs)
                    .where(
                        t.chain_id == chain_id,
                        t.sender == sender,
                        t.state == TxState.PENDING.value,
                    )
                    .order_by(t.nonce, t.id)
                )
            ).all()
        return [_tx_record(row) for row in rows]

    async def last_nonce(self, chain_id: ChainId, sender: Address) -> int | None:
        """The highest nonce recorded for the signer, None if it never sent."""
        t = _txs.c
        async with self._tx("last_nonce", write=False) as conn:
            value = (
                await conn.execute(
                    select(func.max(t.nonce)).where(t.chain_id == chain_id, t.sender == sender)
                )
            ).scalar()
        return None if value is None else int(value)

    # --- trust states -------------------------------------------------------------------------

    async def save_trust_state(
        self,
        chain_id: ChainId,
        kind: str,
        state: Mapping[str, Any],
        *,
        now: datetime | None = None,
    ) -> TrustState:
        """Replace the chain's light-client state. ``state`` must be JSON (bytes as hex)."""
        _check_int64(chain_id, "chain_id")
        at = self._now(now)
        try:
            text = json.dumps(state, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StoreError("trust state is not JSON", chain_id=chain_id, reason=str(exc)) from exc
        async with self._tx("save_trust_state") as conn:
            stmt = self._insert(_trust).values(
                chain_id=chain_id, kind=kind, state=text, updated_at=at
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_trust.c.chain_id],
                    set_={"kind": kind, "state": text, "updated_at": at},
                )
            )
        return TrustState(chain_id, kind, MappingProxyType(json.loads(text)), at)

    async def load_trust_state(self, chain_id: ChainId) -> TrustState | None:
        async with self._tx("load_trust_state", write=False) as conn:
            row = (await conn.execute(select(_trust).where(_trust.c.chain_id == chain_id))).first()
        if row is None:
            return None
        return TrustState(
            ChainId(row.chain_id), row.kind, MappingProxyType(json.loads(row.state)), row.updated_at
        )

    # --- attester signatures ------------------------------------------------------------------

    async def record_signature(
        self,
        store_chain_id: ChainId,
        src_chain_id: ChainId,
        number: Height,
        block_hash: Hash32,
        digest: Hash32,
        signature: bytes,
        *,
        attester: Address,
        now: datetime | None = None,
    ) -> SignatureRecord:
        """Record, before it is used, that ``attester`` signs ``block_hash`` at ``number``.

        The same header again returns the record already there (with its signature: submit
        that one). A different header (or digest) at a height ``attester`` already signed is
        ``ConflictingSignature`` and writes nothing: signing it would be equivocation. Other
        attesters sharing the store have their own records."""
        for value, field in ((store_chain_id, "store_chain_id"), (src_chain_id, "src_chain_id")):
            _check_int64(value, field)
        _check_int64(number, "number")
        _check_address(attester, "attester")
        at = self._now(now)
        s = _sigs.c
        async with self._tx("record_signature") as conn:
            created = await conn.execute(
                self._insert(_sigs)
                .values(
                    store_chain_id=store_chain_id,
                    src_chain_id=src_chain_id,
                    attester=attester,
                    number=number,
                    block_hash=block_hash,
                    digest=digest,
                    signature=signature,
                    signed_at=at,
                )
                .on_conflict_do_nothing(
                    index_elements=[s.store_chain_id, s.src_chain_id, s.attester, s.number]
                )
                .returning(*_sigs.c)
            )
            row = created.first()
            if row is not None:
                return _signature_record(row)
            row = (
                await conn.execute(
                    select(_sigs).where(
                        *_signature_key(store_chain_id, src_chain_id, attester, number)
                    )
                )
            ).one()
        existing = _signature_record(row)
        if existing.block_hash != block_hash or existing.digest != digest:
            raise ConflictingSignature(
                "attester already signed another header at this height",
                store_chain_id=store_chain_id,
                src_chain_id=src_chain_id,
                attester=attester,
                height=number,
                signed_hash=existing.block_hash,
                requested_hash=block_hash,
            )
        return existing

    async def mark_signature_submitted(
        self,
        store_chain_id: ChainId,
        src_chain_id: ChainId,
        number: Height,
        tx_hash: TxHash,
        *,
        attester: Address,
    ) -> SignatureRecord:
        """Note the transaction that submitted ``attester``'s signature at ``number``."""
        async with self._tx("mark_signature_submitted") as conn:
            row = (
                await conn.execute(
                    update(_sigs)
                    .where(*_signature_key(store_chain_id, src_chain_id, attester, number))
                    .values(submitted_tx_hash=tx_hash)
                    .returning(*_sigs.c)
                )
            ).first()
        if row is None:
            raise NotFound(
                "no signature recorded at this height",
                what="signature", store_chain_id=store_chain_id, src_chain_id=src_chain_id,
                attester=attester, height=number,
            )  # fmt: skip
        return _signature_record(row)

    async def signature(
        self, store_chain_id: ChainId, src_chain_id: ChainId, number: Height, *, attester: Address
    ) -> SignatureRecord | None:
        async with self._tx("signature", write=False) as conn:
            row = (
                await conn.execute(
                    select(_sigs).where(
                        *_signature_key(store_chain_id, src_chain_id, attester, number)
                    )
                )
            ).first()
        return None if row is None else _signature_record(row)

    # --- swaps ----------------------------------------------------------------------------------

    async def upsert_swap(self, swap: Swap, *, now: datetime | None = None) -> Swap:
        """Record a new swap, or return the stored one when its terms are the same (the state
        and progress fields of ``swap`` are then ignored: change them with ``set_swap_state``).
        ``SwapConflict`` when the id is recorded with other terms."""
        for leg in (swap.initiator_leg, swap.participant_leg):
            _check_int64(leg.chain_id, "chain_id")
            _check_int64(leg.timelock, "timelock")
        at = self._now(now)
        async with self._tx("upsert_swap") as conn:
            created = await conn.execute(
                self._insert(_swaps)
                .values(**_swap_row(swap), created_at=at, updated_at=at)
                .on_conflict_do_nothing(index_elements=[_swaps.c.swap_id])
                .returning(_swaps.c.swap_id)
            )
            if created.first() is not None:
                await self._append_events(conn, [_swap_event(swap, None)], at)
                return replace(swap, created_at=at, updated_at=at)
            row = (await conn.execute(select(_swaps).where(_swaps.c.swap_id == swap.swap_id))).one()
        existing = _swap_record(row)
        if existing.terms() != swap.terms():
            raise SwapConflict("swap id recorded with other terms", swap_id=swap.swap_id)
        return existing

    async def record_proposed_swap(self, swap: Swap, *, now: datetime | None = None) -> Swap:
        """Record a new swap whose hashlock no other swap uses, in any state: a preimage
        revealed for one swap must never open another's locks. ``HashlockInUse`` (with the
        ``existing`` swap) when another swap id has it; the same swap again is ``upsert_swap``.

        Two concurrent proposals with one hashlock cannot both be recorded: the check and the
        insert are one transaction, serialized per hashlock (SQLite: ``BEGIN IMMEDIATE``, one
        writer; PostgreSQL: a transaction-scoped advisory lock on the hashlock, taken before
        the check)."""
        for leg in (swap.initiator_leg, swap.participant_leg):
            _check_int64(leg.chain_id, "chain_id")
            _check_int64(leg.timelock, "timelock")
        at = self._now(now)
        async with self._tx("record_proposed_swap") as conn:
            if not self._sqlite:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:cls, :obj)"),
                    {
                        "cls": _HASHLOCK_LOCK_CLASS,
                        "obj": int.from_bytes(swap.hashlock[:4], "big", signed=True),
                    },
                )
            rows = (
                await conn.execute(
                    select(_swaps)
                    .where(_swaps.c.hashlock == swap.hashlock)
                    .order_by(_swaps.c.created_at, _swaps.c.swap_id)
                )
            ).all()
            for row in rows:
                existing = _swap_record(row)
                if existing.swap_id != swap.swap_id:
                    raise HashlockInUse(
                        "another swap uses this hashlock",
                        swap_id=existing.swap_id,
                        existing=existing,
                    )
                if existing.terms() != swap.terms():
                    raise SwapConflict("swap id recorded with other terms", swap_id=swap.swap_id)
                return existing
            await conn.execute(
                _swaps.insert().values(**_swap_row(swap), created_at=at, updated_at=at)
            )
            await self._append_events(conn, [_swap_event(swap, None)], at)
        return replace(swap, created_at=at, updated_at=at)

    async def swaps_with_hashlock(self, hashlock: bytes) -> list[Swap]:
        """The swaps whose hashlock is ``hashlock`` (any state), oldest first."""
        async with self._tx("swaps_with_hashlock", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_swaps)
                    .where(_swaps.c.hashlock == hashlock)
                    .order_by(_swaps.c.created_at, _swaps.c.swap_id)
                )
            ).all()
        return [_swap_record(row) for row in rows]

    async def swap(self, swap_id: Hash32) -> Swap | None:
        async with self._tx("swap", write=False) as conn:
            row = (await conn.execute(select(_swaps).where(_swaps.c.swap_id == swap_id))).first()
        return None if row is None else _swap_record(row)

    async def swaps_in(self, states: Iterable[SwapState]) -> list[Swap]:
        """Swaps in any of ``states``, oldest first."""
        wanted = [SwapState(s).value for s in states]
        async with self._tx("swaps_in", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_swaps)
                    .where(_swaps.c.state.in_(wanted))
                    .order_by(_swaps.c.created_at, _swaps.c.swap_id)
                )
            ).all()
        return [_swap_record(row) for row in rows]

    async def set_swap_state(
        self,
        swap_id: Hash32,
        old: SwapState,
        new: SwapState,
        *,
        now: datetime | None = None,
        **fields: Any,
    ) -> Swap:
        """Compare-and-set: move the swap from ``old`` to ``new`` (which may be ``old``) and set
        ``fields`` (progress only: ``preimage``, ``claim_signature``, ``claim_destination``,
        ``refund_authorised``, ``reason``, ``<initiator|participant>_leg_<lock|claim|refund>_tx``).
        ``SwapStateMoved`` (retryable) when the swap is not in ``old`` any more."""
        unknown = set(fields) - _SWAP_FIELDS
        if unknown:
            raise StoreError("not a swap progress field", fields=sorted(unknown))
        at = self._now(now)
        async with self._tx("set_swap_state") as conn:
            row = (
                await conn.execute(
                    select(_swaps).where(_swaps.c.swap_id == swap_id).with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound("no such swap", what="swap", swap_id=swap_id)
            current = _swap_record(row)
            if current.state != SwapState(old):
                raise SwapStateMoved(
                    "swap is not in the expected state",
                    swap_id=swap_id, expected=str(old), current=str(current.state),
                )  # fmt: skip
            changed = _apply_swap_fields(current, SwapState(new), fields)
            await conn.execute(
                update(_swaps)
                .where(_swaps.c.swap_id == swap_id, _swaps.c.state == current.state.value)
                .values(**_swap_row(changed), updated_at=at)
            )
            if changed.state != current.state:
                await self._append_events(conn, [_swap_event(changed, current.state)], at)
        return replace(changed, updated_at=at)

    # --- tracking -----------------------------------------------------------------------------

    async def track(
        self,
        tracking_id: str,
        kind: TrackingKind,
        ref: bytes | None = None,
        *,
        src_chain_id: ChainId | None = None,
        src_tx_hash: TxHash | None = None,
        now: datetime | None = None,
    ) -> TrackingRecord:
        """Record a tracking id (idempotent; ``TrackingConflict`` if it names something else)
        and give it to the messages it names: message ``ref``, or those sent by the source
        transaction, now or when the watcher records them."""
        if not 0 < len(tracking_id) <= TRACKING_ID_LEN:
            raise StoreError("tracking id must be 1..100 characters", tracking_id=tracking_id)
        kind = TrackingKind(kind)
        at = self._now(now)
        wanted = TrackingRecord(tracking_id, kind, ref, src_chain_id, src_tx_hash, at)
        async with self._tx("track") as conn:
            created = await conn.execute(
                self._insert(_tracking)
                .values(
                    tracking_id=tracking_id,
                    kind=kind.value,
                    ref=ref,
                    src_chain_id=src_chain_id,
                    src_tx_hash=src_tx_hash,
                    created_at=at,
                )
                .on_conflict_do_nothing(index_elements=[_tracking.c.tracking_id])
                .returning(_tracking.c.tracking_id)
            )
            if created.first() is None:
                row = (
                    await conn.execute(
                        select(_tracking).where(_tracking.c.tracking_id == tracking_id)
                    )
                ).one()
                existing = _tracking_record(row)
                if replace(existing, created_at=at) != wanted:
                    raise TrackingConflict(
                        "tracking id already names something else", tracking_id=tracking_id
                    )
                return existing
            m = _messages.c
            links = []
            if kind is TrackingKind.MESSAGE and ref is not None:
                links.append(m.id == ref)
            if src_chain_id is not None and src_tx_hash is not None:
                links.append(and_(m.src_chain_id == src_chain_id, m.src_tx_hash == src_tx_hash))
            if links:
                await conn.execute(
                    update(_messages)
                    .where(or_(*links), m.tracking_id.is_(None))
                    .values(tracking_id=tracking_id)
                )
        return wanted

    async def tracked(self, tracking_id: str) -> TrackingRecord | None:
        rows = await self._point_rows("tracked", _TRACKED, id=tracking_id)
        return _tracking_record(rows[0]) if rows else None

    # --- the event log (docs/api.md §3) ---------------------------------------------------------

    async def _append_events(
        self,
        conn: AsyncConnection,
        items: Sequence[tuple[EventKind, bytes, dict[str, Any]]],
        at: datetime,
    ) -> None:
        """Append ``items`` to the event log in ``conn``'s transaction (call it last in the
        transaction: on PostgreSQL it holds the log's lock until the commit), give them to the
        webhooks of their kinds and, on PostgreSQL, notify ``EVENTS_CHANNEL`` at the commit."""
        if not items:
            return
        hooks = (
            await conn.execute(
                select(_webhooks.c.id, _webhooks.c.kinds).where(_webhooks.c.disabled_at.is_(None))
            )
        ).all()
        if not self._sqlite:
            # Serial ids are drawn in one order and committed in another: without this lock, a
            # transaction that drew id 7 could commit before one holding id 6, and a reader
            # that saw 7 would skip 6 forever. Holding a transaction-scoped lock from before the
            # id is drawn until the commit makes ids become visible in id order. (SQLite has
            # one writer at a time already.)
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENTS_LOCK})
        result = await conn.execute(
            _events.insert().returning(_events.c.id, _events.c.kind, sort_by_parameter_order=True),
            [
                {"kind": kind.value, "ref": ref, "data": _dump_json(data), "created_at": at}
                for kind, ref, data in items
            ],
        )
        appended = [(int(row.id), row.kind) for row in result.all()]
        deliveries = [
            {
                "webhook_id": hook.id,
                "event_id": event_id,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for hook in hooks
            for event_id, kind in appended
            if kind in _split_set(hook.kinds)
        ]
        if deliveries:
            await conn.execute(_deliveries.insert(), deliveries)
        if not self._sqlite:
            # Sent when (and only if) the transaction commits.
            await conn.execute(
                select(func.pg_notify(EVENTS_CHANNEL, str(max(i for i, _ in appended))))
            )

    async def events_after(
        self, after_id: int, limit: int, kinds: Iterable[EventKind] | None = None
    ) -> list[Event]:
        """Up to ``limit`` events with ids above ``after_id`` (of ``kinds``, if given), in id
        order. Ids only grow in commit order: events never appear below one already read."""
        _check_int64(after_id, "after_id")
        _check_limit(limit, _EVENTS_PAGE_MAX)
        e = _events.c
        conditions = [e.id > after_id]
        if kinds is not None:
            wanted = [_enum(EventKind, k, "kinds").value for k in kinds]
            if not wanted:
                return []
            conditions.append(e.kind.in_(wanted))
        async with self._tx("events_after", write=False) as conn:
            rows = (
                await conn.execute(select(_events).where(*conditions).order_by(e.id).limit(limit))
            ).all()
        return [_event_record(row) for row in rows]

    async def last_event_id(self) -> int:
        """The highest event id committed so far, 0 before the first event."""
        async with self._tx("last_event_id", write=False) as conn:
            value = (await conn.execute(select(func.max(_events.c.id)))).scalar()
        return 0 if value is None else int(value)

    async def wait_for_events(self, after_id: int, timeout_s: float) -> bool:
        """Wait until an event with an id above ``after_id`` exists: True as soon as one does
        (at once if one does already), False when ``timeout_s`` passed first. PostgreSQL wakes
        on ``LISTEN xgate_events`` (one listening connection per ``Store``, shared by every
        waiter); SQLite is polled every 0.2 s. Events from any process are seen."""
        _check_int64(after_id, "after_id")
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s >= 0):
            raise StoreError("timeout_s must be a finite number >= 0", timeout_s=timeout_s)
        if self._sqlite:
            return await self._poll_events(after_id, timeout_s)
        if self._listener is None:
            conninfo = self._url.sync_url.set(drivername="postgresql").render_as_string(
                hide_password=False
            )
            self._listener = _EventListener(conninfo, self._url.shown)
        return await self._listener.wait(after_id, timeout_s, self.last_event_id)

    async def _poll_events(self, after_id: int, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if await self.last_event_id() > after_id:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(_EVENTS_POLL_S, remaining))

    async def prune_events(self, before: datetime, *, limit: int = 500) -> int:
        """Delete up to ``limit`` events created before ``before`` (lowest ids first) with their
        finished deliveries (delivered, dead-lettered, or of a disabled webhook). An event that
        a pending delivery of an enabled webhook still waits for is kept, and so is the log's
        last event (SQLite reuses the highest id once it is deleted). One short
        transaction (rows another holds are skipped, never waited for): call again while it
        returns ``limit``. Returns how many events were deleted."""
        cutoff = self._now(before)
        _check_limit(limit, _EVENTS_PRUNE_MAX)
        e, d, w = _events.c, _deliveries.c, _webhooks.c
        waited_for = (
            select(literal(1))
            .select_from(_deliveries.join(_webhooks, w.id == d.webhook_id))
            .where(
                d.event_id == e.id,
                d.state == DeliveryState.PENDING.value,
                w.disabled_at.is_(None),
            )
        )
        async with self._tx("prune_events") as conn:
            ids = (
                (
                    await conn.execute(
                        select(e.id)
                        .where(
                            e.created_at < cutoff,
                            ~waited_for.exists(),
                            # The last event stays: SQLite would hand its id out again.
                            e.id < select(func.max(e.id)).scalar_subquery(),
                        )
                        .order_by(e.id)
                        .limit(limit)
                        .with_for_update(of=_events, skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return 0
            await conn.execute(
                delete(_deliveries).where(
                    d.event_id.in_(ids),
                    or_(
                        d.state != DeliveryState.PENDING.value,
                        d.webhook_id.in_(select(w.id).where(w.disabled_at.is_not(None))),
                    ),
                )
            )
            # A delivery replayed meanwhile (dead -> pending) survived the delete above: its
            # event stays too.
            any_delivery = select(literal(1)).select_from(_deliveries).where(d.event_id == e.id)
            deleted = await conn.execute(
                delete(_events).where(e.id.in_(ids), ~any_delivery.exists()).returning(e.id)
            )
            return len(deleted.all())

    async def events_pruned_after(self, after_id: int, retention: timedelta) -> bool:
        """Whether a reader resuming after ``after_id`` may miss pruned events: an id is
        missing between it and the first event inside the ``retention`` window (or the log's
        end). Only ``prune_events`` deletes events, and only outside the window; on PostgreSQL
        an id a failed transaction drew is missing too, which a reader answers the same way
        (it resyncs). False for 0 (the log as kept)."""
        _check_int64(after_id, "after_id")
        if not (isinstance(retention, timedelta) and retention > timedelta(0)):
            raise StoreError("retention must be a positive timedelta", retention=retention)
        if after_id == 0:
            return False
        cutoff = self._now(None) - retention
        e = _events.c
        async with self._tx("events_pruned_after", write=False) as conn:
            window = (
                await conn.execute(
                    select(func.min(e.id)).where(e.id > after_id, e.created_at >= cutoff)
                )
            ).scalar()
            if window is None:
                top = (await conn.execute(select(func.max(e.id)))).scalar()
                if top is None or int(top) <= after_id:
                    return False
                window = int(top) + 1
            kept = (
                await conn.execute(
                    select(func.count())
                    .select_from(_events)
                    .where(e.id > after_id, e.id < int(window))
                )
            ).scalar()
        return int(kept or 0) < int(window) - after_id - 1

    # --- the API's transfer list --------------------------------------------------------------

    async def messages_page(
        self,
        *,
        src_chain_id: ChainId | None = None,
        dst_chain_id: ChainId | None = None,
        statuses: Iterable[MessageStatus] | None = None,
        after: MessageCursor | None = None,
        limit: int = 50,
    ) -> tuple[list[MessageRecord], MessageCursor | None]:
        """One page of messages, newest first ((created_at, id) descending), filtered by
        source chain, destination chain and statuses, starting after ``after`` (the previous
        page's cursor). Returns the page and the cursor of the next one, None at the end.
        Keyset pages: messages recorded meanwhile never shift or repeat a later page."""
        _check_limit(limit, MESSAGES_PAGE_MAX)
        m = _messages.c
        conditions: list[Any] = []
        if src_chain_id is not None:
            conditions.append(m.src_chain_id == _check_int64(src_chain_id, "src_chain_id"))
        if dst_chain_id is not None:
            conditions.append(m.dst_chain_id == _check_int64(dst_chain_id, "dst_chain_id"))
        if statuses is not None:
            wanted = [_enum(MessageStatus, s, "statuses").value for s in statuses]
            if not wanted:
                return [], None
            conditions.append(m.status.in_(wanted))
        if after is not None:
            if not isinstance(after, MessageCursor):
                raise StoreError("after must be a MessageCursor", after=after)
            conditions.append(
                tuple_(m.created_at, m.id)
                < tuple_(
                    literal(self._now(after.created_at), m.created_at.type),
                    literal(after.id, m.id.type),
                )
            )
        async with self._tx("messages_page", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_messages)
                    .where(*conditions)
                    .order_by(m.created_at.desc(), m.id.desc())
                    .limit(limit + 1)
                )
            ).all()
        page = [_message_record(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return page, None
        last = page[-1]
        return page, MessageCursor(last.created_at, last.id)

    # --- API keys -------------------------------------------------------------------------------

    async def create_api_key(
        self,
        name: str,
        scopes: Iterable[Scope],
        *,
        ed25519_public_key: bytes | None = None,
        rate_per_s: float = 10.0,
        burst: int = 20,
        now: datetime | None = None,
    ) -> CreatedApiKey:
        """A new API key. Its token ``xg_<key_id>_<secret>`` is in the result and nowhere else:
        the store keeps ``sha256(secret)``. Keys with a signing scope (``issuer``,
        ``operator``) need their Ed25519 public key (32 bytes)."""
        _check_text(name, KEY_NAME_LEN, "name")
        wanted = frozenset(_enum(Scope, s, "scopes") for s in scopes)
        if not wanted:
            raise StoreError("an API key needs at least one scope", field="scopes")
        if ed25519_public_key is not None and (
            not isinstance(ed25519_public_key, bytes) or len(ed25519_public_key) != 32
        ):
            raise StoreError("an Ed25519 public key is 32 bytes", field="ed25519_public_key")
        if wanted & SIGNING_SCOPES and ed25519_public_key is None:
            raise StoreError(
                "a key with a signing scope needs an Ed25519 public key",
                field="ed25519_public_key", scopes=sorted(wanted & SIGNING_SCOPES),
            )  # fmt: skip
        if not (
            isinstance(rate_per_s, int | float)
            and not isinstance(rate_per_s, bool)
            and math.isfinite(rate_per_s)
            and 0 < rate_per_s <= 1_000_000
        ):
            raise ValueOutOfRange("rate_per_s must be in (0, 1e6]", field="rate_per_s")
        _check_count(burst, 1, 1_000_000, "burst")
        at = self._now(now)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = ApiKey(
            key_id=key_id,
            name=name,
            scopes=wanted,
            ed25519_public_key=ed25519_public_key,
            rate_per_s=float(rate_per_s),
            burst=burst,
            created_at=at,
            revoked_at=None,
        )
        async with self._tx("create_api_key") as conn:
            await conn.execute(
                _api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    secret_sha256=_sha256(secret),
                    scopes=_join_set(wanted),
                    ed25519_public_key=ed25519_public_key,
                    rate_per_s=float(rate_per_s),
                    burst=burst,
                    created_at=at,
                    revoked_at=None,
                )
            )
        return CreatedApiKey(record, format_api_key(key_id, secret))

    async def verify_api_key(self, token: str) -> ApiKey | None:
        """The active key ``token`` belongs to; None for a malformed token, an unknown or
        revoked key, or a wrong secret (the secret's hash is compared in constant time)."""
        parsed = parse_api_key(token) if isinstance(token, str) else None
        if parsed is None:
            return None
        key_id, secret = parsed
        rows = await self._point_rows("verify_api_key", _API_KEY, id=key_id)
        row = rows[0] if rows else None
        stored = bytes(row.secret_sha256) if row is not None else bytes(32)
        matches = hmac.compare_digest(stored, _sha256(secret))
        if row is None or not matches or row.revoked_at is not None:
            return None
        return _api_key_record(row)

    async def api_key(self, key_id: str) -> ApiKey | None:
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            return None
        rows = await self._point_rows("api_key", _API_KEY, id=key_id)
        return _api_key_record(rows[0]) if rows else None

    async def api_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first."""
        k = _api_keys.c
        query = select(_api_keys).order_by(k.created_at, k.key_id)
        if not include_revoked:
            query = query.where(k.revoked_at.is_(None))
        async with self._tx("api_keys", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_api_key_record(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, now: datetime | None = None) -> ApiKey:
        """Revoke the key (it verifies no more) and disable its webhooks. Revoking it again
        changes nothing. ``NotFound`` for an unknown key."""
        _check_key_id(key_id)
        at = self._now(now)
        k = _api_keys.c
        async with self._tx("revoke_api_key") as conn:
            row = (
                await conn.execute(
                    update(_api_keys)
                    .where(k.key_id == key_id, k.revoked_at.is_(None))
                    .values(revoked_at=at)
                    .returning(*_api_keys.c)
                )
            ).first()
            if row is None:
                row = (await conn.execute(select(_api_keys).where(k.key_id == key_id))).first()
                if row is None:
                    raise NotFound("no such API key", what="api_key", key_id=key_id)
                return _api_key_record(row)
            await conn.execute(
                update(_webhooks)
                .where(_webhooks.c.key_id == key_id, _webhooks.c.disabled_at.is_(None))
                .values(disabled_at=at)
            )
        return _api_key_record(row)

    # --- signed requests' nonces and idempotent POSTs -------------------------------------------

    async def use_nonce(
        self, key_id: str, nonce: str, expires_at: datetime, *, now: datetime | None = None
    ) -> bool:
        """Record that ``key_id`` used ``nonce`` until ``expires_at``; False when it was used
        already and has not expired (a replay). Expired nonces are pruned on the way.
        ``nonce``: 16-64 url-safe characters; ``expires_at`` must be later than now."""
        _check_key_id(key_id)
        if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            raise StoreError("a nonce is 16-64 url-safe characters", field="nonce")
        at = self._now(now)
        until = self._now(expires_at)
        if until <= at:
            raise StoreError("a nonce must expire after now", field="expires_at", now=at)
        n = _nonces.c
        async with self._tx("use_nonce") as conn:
            await self._prune(conn, _nonces, (n.key_id, n.nonce), n.expires_at <= at)
            stmt = self._insert(_nonces).values(key_id=key_id, nonce=nonce, expires_at=until)
            # A row still there but expired (another pruner held it) is a nonce free to reuse.
            result = await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[n.key_id, n.nonce],
                    set_={"expires_at": until},
                    where=n.expires_at <= at,
                ).returning(n.nonce)
            )
            return result.first() is not None

    async def _prune(
        self, conn: AsyncConnection, table: Table, key: tuple[Any, ...], expired: Any
    ) -> None:
        """Delete up to ``_PRUNE_BATCH`` rows matching ``expired``, skipping rows another
        transaction holds (PostgreSQL): pruning never waits, never deadlocks."""
        victims = select(*key).where(expired).limit(_PRUNE_BATCH).with_for_update(skip_locked=True)
        await conn.execute(delete(table).where(tuple_(*key).in_(victims)))

    async def begin_idempotent(
        self,
        key_id: str,
        idem_key: str,
        body_sha256: bytes,
        *,
        ttl_s: float = 24 * 3600,
        abandoned_after_s: float = 300,
        now: datetime | None = None,
    ) -> IdempotencyAnswer:
        """Start a POST with ``Idempotency-Key: idem_key``: ``NEW`` (run it, then
        ``finish_idempotent``), ``IN_PROGRESS`` (409), ``MISMATCH`` (the key came with another
        body: 422) or ``DONE`` with the stored answer. Answers are kept ``ttl_s``; a request
        still marked running after ``abandoned_after_s`` died with its process and may run
        again."""
        _check_key_id(key_id)
        _check_idem_key(idem_key)
        _check_digest(body_sha256, "body_sha256")
        for value, field in ((ttl_s, "ttl_s"), (abandoned_after_s, "abandoned_after_s")):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise StoreError(f"{field} must be a finite number > 0", field=field)
        at = self._now(now)
        expired_before = at - timedelta(seconds=ttl_s)
        i = _idem.c
        fresh = {
            "body_sha256": body_sha256,
            "state": "in_progress",
            "status": None,
            "response": None,
            "response_headers": None,
            "created_at": at,
            "updated_at": at,
        }
        async with self._tx("begin_idempotent") as conn:
            await self._prune(conn, _idem, (i.key_id, i.idem_key), i.created_at <= expired_before)
            created = await conn.execute(
                self._insert(_idem)
                .values(key_id=key_id, idem_key=idem_key, **fresh)
                .on_conflict_do_nothing(index_elements=[i.key_id, i.idem_key])
                .returning(i.idem_key)
            )
            if created.first() is not None:
                return IdempotencyAnswer(IdempotencyOutcome.NEW)
            row = (
                await conn.execute(
                    select(_idem)
                    .where(i.key_id == key_id, i.idem_key == idem_key)
                    .with_for_update()
                )
            ).one()
            abandoned = row.state == "in_progress" and row.updated_at <= at - timedelta(
                seconds=abandoned_after_s
            )
            if row.created_at <= expired_before or abandoned:
                await conn.execute(
                    update(_idem).where(i.key_id == key_id, i.idem_key == idem_key).values(**fresh)
                )
                return IdempotencyAnswer(IdempotencyOutcome.NEW)
        if bytes(row.body_sha256) != body_sha256:
            return IdempotencyAnswer(IdempotencyOutcome.MISMATCH)
        if row.state == "in_progress":
            return IdempotencyAnswer(IdempotencyOutcome.IN_PROGRESS)
        headers = row.response_headers
        return IdempotencyAnswer(
            IdempotencyOutcome.DONE,
            status=row.status,
            response=bytes(row.response),
            # NULL: answered before the headers were kept (0006)
            headers=None if headers is None else MappingProxyType(json.loads(headers)),
        )

    async def finish_idempotent(
        self,
        key_id: str,
        idem_key: str,
        body_sha256: bytes,
        status: int,
        response: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        now: datetime | None = None,
    ) -> None:
        """Store the answer of the POST ``begin_idempotent`` started (HTTP ``status``, the
        ``response`` bytes, 1 MiB at most, and its ``headers``: name to value, one value per
        name, 64 KiB at most; None keeps none, and the replay answers with its defaults).
        ``NotFound`` unless that request is running."""
        _check_key_id(key_id)
        _check_idem_key(idem_key)
        _check_digest(body_sha256, "body_sha256")
        _check_count(status, 100, 599, "status")
        if not isinstance(response, bytes) or len(response) > _IDEM_RESPONSE_MAX:
            raise ValueOutOfRange("response must be bytes, 1 MiB at most", field="response")
        headers_json = None if headers is None else _dump_headers(headers)
        at = self._now(now)
        i = _idem.c
        async with self._tx("finish_idempotent") as conn:
            done = (
                await conn.execute(
                    update(_idem)
                    .where(
                        i.key_id == key_id,
                        i.idem_key == idem_key,
                        i.body_sha256 == body_sha256,
                        i.state == "in_progress",
                    )
                    .values(
                        state="done",
                        status=status,
                        response=response,
                        response_headers=headers_json,
                        updated_at=at,
                    )
                    .returning(i.idem_key)
                )
            ).first()
            if done is None:
                raise NotFound(
                    "no running request with this idempotency key",
                    what="idempotency", key_id=key_id, idem_key=idem_key,
                )  # fmt: skip

    async def abandon_idempotent(self, key_id: str, idem_key: str, body_sha256: bytes) -> bool:
        """Forget a running request that failed without an answer worth repeating, so the
        client may retry it; False if it was not running."""
        _check_key_id(key_id)
        _check_idem_key(idem_key)
        _check_digest(body_sha256, "body_sha256")
        i = _idem.c
        async with self._tx("abandon_idempotent") as conn:
            result = await conn.execute(
                delete(_idem)
                .where(
                    i.key_id == key_id,
                    i.idem_key == idem_key,
                    i.body_sha256 == body_sha256,
                    i.state == "in_progress",
                )
                .returning(i.idem_key)
            )
            return result.first() is not None

    # --- webhooks -------------------------------------------------------------------------------

    async def create_webhook(
        self,
        key_id: str,
        url: str,
        secret: str,
        kinds: Iterable[EventKind],
        *,
        now: datetime | None = None,
    ) -> Webhook:
        """Register ``url`` (http or https) for the events of ``kinds`` committed from now on,
        signed with ``secret`` (16-256 printable characters). ``NotFound`` for an unknown or
        revoked key."""
        _check_key_id(key_id)
        _check_url(url)
        _check_text(secret, WEBHOOK_SECRET_LEN, "secret", min_len=16)
        wanted = frozenset(_enum(EventKind, k, "kinds") for k in kinds)
        if not wanted:
            raise StoreError("a webhook needs at least one event kind", field="kinds")
        at = self._now(now)
        k = _api_keys.c
        async with self._tx("create_webhook") as conn:
            owner = (
                await conn.execute(
                    select(k.key_id).where(k.key_id == key_id, k.revoked_at.is_(None))
                )
            ).first()
            if owner is None:
                raise NotFound("no such active API key", what="api_key", key_id=key_id)
            row = (
                await conn.execute(
                    _webhooks.insert()
                    .values(
                        key_id=key_id,
                        url=url,
                        secret=secret,
                        kinds=_join_set(wanted),
                        created_at=at,
                        disabled_at=None,
                    )
                    .returning(*_webhooks.c)
                )
            ).one()
        return _webhook_record(row)

    async def webhook(self, webhook_id: int) -> Webhook | None:
        _check_int64(webhook_id, "webhook_id")
        async with self._tx("webhook", write=False) as conn:
            row = (
                await conn.execute(select(_webhooks).where(_webhooks.c.id == webhook_id))
            ).first()
        return None if row is None else _webhook_record(row)

    async def webhooks(self, key_id: str | None = None) -> list[Webhook]:
        """Every webhook (of ``key_id``, if given), oldest first."""
        query = select(_webhooks).order_by(_webhooks.c.id)
        if key_id is not None:
            _check_key_id(key_id)
            query = query.where(_webhooks.c.key_id == key_id)
        async with self._tx("webhooks", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_webhook_record(row) for row in rows]

    async def disable_webhook(self, webhook_id: int, *, now: datetime | None = None) -> Webhook:
        """Stop the webhook: no new deliveries, and its pending ones are not claimed any more.
        Disabling it again changes nothing. ``NotFound`` for an unknown webhook."""
        _check_int64(webhook_id, "webhook_id")
        at = self._now(now)
        w = _webhooks.c
        async with self._tx("disable_webhook") as conn:
            row = (
                await conn.execute(
                    update(_webhooks)
                    .where(w.id == webhook_id, w.disabled_at.is_(None))
                    .values(disabled_at=at)
                    .returning(*_webhooks.c)
                )
            ).first()
            if row is None:
                row = (await conn.execute(select(_webhooks).where(w.id == webhook_id))).first()
        if row is None:
            raise NotFound("no such webhook", what="webhook", webhook_id=webhook_id)
        return _webhook_record(row)

    async def claim_deliveries(
        self, owner: str, *, limit: int, lease_s: float, now: datetime | None = None
    ) -> list[WebhookDue]:
        """Lease up to ``limit`` due deliveries (pending, ``next_at <= now``, no live lease, of
        an enabled webhook) to ``owner`` for ``lease_s`` seconds, with their webhook and event.
        Earliest due first; rows another dispatcher holds are skipped, never waited for."""
        _check_owner(owner)
        if not (isinstance(lease_s, int | float) and math.isfinite(lease_s) and lease_s > 0):
            raise StoreError("lease_s must be > 0", lease_s=lease_s)
        _check_limit(limit, _EVENTS_PAGE_MAX)
        at = self._now(now)
        d = _deliveries.c
        async with self._tx("claim_deliveries") as conn:
            keys = (
                await conn.execute(
                    select(d.webhook_id, d.event_id)
                    .join(_webhooks, _webhooks.c.id == d.webhook_id)
                    .where(
                        d.state == DeliveryState.PENDING.value,
                        d.next_at <= at,
                        or_(d.lease_until.is_(None), d.lease_until <= at),
                        _webhooks.c.disabled_at.is_(None),
                    )
                    .order_by(d.next_at, d.event_id, d.webhook_id)
                    .limit(limit)
                    .with_for_update(of=_deliveries, skip_locked=True)
                )
            ).all()
            if not keys:
                return []
            pairs = [(k.webhook_id, k.event_id) for k in keys]
            claimed = (
                await conn.execute(
                    update(_deliveries)
                    .where(tuple_(d.webhook_id, d.event_id).in_(pairs))
                    .values(
                        lease_owner=owner,
                        lease_until=at + timedelta(seconds=lease_s),
                        updated_at=at,
                    )
                    .returning(*_deliveries.c)
                )
            ).all()
            hooks = {
                row.id: _webhook_record(row)
                for row in (
                    await conn.execute(
                        select(_webhooks).where(_webhooks.c.id.in_({p[0] for p in pairs}))
                    )
                ).all()
            }
            events = {
                row.id: _event_record(row)
                for row in (
                    await conn.execute(
                        select(_events).where(_events.c.id.in_({p[1] for p in pairs}))
                    )
                ).all()
            }
        due = [
            WebhookDue(_delivery_record(row), hooks[row.webhook_id], events[row.event_id])
            for row in claimed
        ]
        due.sort(key=lambda x: (x.delivery.next_at, x.delivery.event_id, x.delivery.webhook_id))
        return due

    async def record_delivery_success(
        self, webhook_id: int, event_id: int, owner: str, *, now: datetime | None = None
    ) -> WebhookDelivery:
        """The receiver acknowledged the delivery ``owner`` holds: ``delivered``, lease ended.
        ``LeaseLost`` when the lease is someone else's."""
        return await self._finish_delivery(
            "record_delivery_success", webhook_id, event_id, owner, now,
            lambda row: {"state": DeliveryState.DELIVERED.value},
        )  # fmt: skip

    async def record_delivery_failure(
        self,
        webhook_id: int,
        event_id: int,
        owner: str,
        error: str,
        *,
        retry_at: datetime,
        max_attempts: int,
        now: datetime | None = None,
    ) -> WebhookDelivery:
        """A post of the delivery ``owner`` holds failed with ``error``: the attempt is counted
        and the delivery is due again at ``retry_at`` (the caller's backoff), or dead-lettered
        once ``max_attempts`` attempts failed. The lease ends either way. ``LeaseLost`` when
        the lease is someone else's."""
        if not isinstance(error, str) or not error:
            raise StoreError("a failed delivery needs its error", field="error")
        _check_count(max_attempts, 1, 1000, "max_attempts")
        retry = self._now(retry_at)

        def values(row: Row[Any]) -> dict[str, Any]:
            attempts = row.attempts + 1
            dead = attempts >= max_attempts
            return {
                "attempts": attempts,
                "state": (DeliveryState.DEAD if dead else DeliveryState.PENDING).value,
                "next_at": row.next_at if dead else retry,
                "last_error": error[:_DELIVERY_ERROR_LEN],
            }

        return await self._finish_delivery(
            "record_delivery_failure", webhook_id, event_id, owner, now, values
        )

    async def _finish_delivery(
        self,
        op: str,
        webhook_id: int,
        event_id: int,
        owner: str,
        now: datetime | None,
        values: Callable[[Row[Any]], dict[str, Any]],
    ) -> WebhookDelivery:
        _check_int64(webhook_id, "webhook_id")
        _check_int64(event_id, "event_id")
        _check_owner(owner)
        at = self._now(now)
        d = _deliveries.c
        key = (d.webhook_id == webhook_id, d.event_id == event_id)
        async with self._tx(op) as conn:
            row = (await conn.execute(select(_deliveries).where(*key).with_for_update())).first()
            if row is None:
                raise NotFound(
                    "no such delivery", what="delivery", webhook_id=webhook_id, event_id=event_id
                )
            if row.lease_owner != owner or row.state != DeliveryState.PENDING.value:
                raise LeaseLost(
                    "delivery lease is not held by this owner",
                    webhook_id=webhook_id, event_id=event_id, owner=owner,
                    holder=row.lease_owner, state=row.state,
                )  # fmt: skip
            updated = (
                await conn.execute(
                    update(_deliveries)
                    .where(*key)
                    .values(**values(row), lease_owner=None, lease_until=None, updated_at=at)
                    .returning(*_deliveries.c)
                )
            ).one()
        return _delivery_record(updated)

    async def dead_deliveries(
        self, *, webhook_id: int | None = None, limit: int = 100
    ) -> list[WebhookDelivery]:
        """Dead-lettered deliveries (of ``webhook_id``, if given), oldest event first."""
        _check_limit(limit, _EVENTS_PAGE_MAX)
        d = _deliveries.c
        query = select(_deliveries).where(d.state == DeliveryState.DEAD.value)
        if webhook_id is not None:
            query = query.where(d.webhook_id == _check_int64(webhook_id, "webhook_id"))
        async with self._tx("dead_deliveries", write=False) as conn:
            rows = (await conn.execute(query.order_by(d.event_id, d.webhook_id).limit(limit))).all()
        return [_delivery_record(row) for row in rows]

    async def delivery(self, webhook_id: int, event_id: int) -> WebhookDelivery | None:
        _check_int64(webhook_id, "webhook_id")
        _check_int64(event_id, "event_id")
        d = _deliveries.c
        async with self._tx("delivery", write=False) as conn:
            row = (
                await conn.execute(
                    select(_deliveries).where(d.webhook_id == webhook_id, d.event_id == event_id)
                )
            ).first()
        return None if row is None else _delivery_record(row)

    async def replay_delivery(
        self, webhook_id: int, event_id: int, *, now: datetime | None = None
    ) -> WebhookDelivery:
        """An operator sends a dead-lettered delivery again: pending, due now, attempts reset
        (its last error is kept until the next attempt). ``NotFound`` for an unknown delivery,
        ``NotDeadLettered`` for one that is not dead."""
        _check_int64(webhook_id, "webhook_id")
        _check_int64(event_id, "event_id")
        at = self._now(now)
        d = _deliveries.c
        key = (d.webhook_id == webhook_id, d.event_id == event_id)
        async with self._tx("replay_delivery") as conn:
            row = (
                await conn.execute(
                    update(_deliveries)
                    .where(*key, d.state == DeliveryState.DEAD.value)
                    .values(
                        state=DeliveryState.PENDING.value,
                        attempts=0,
                        next_at=at,
                        lease_owner=None,
                        lease_until=None,
                        updated_at=at,
                    )
                    .returning(*_deliveries.c)
                )
            ).first()
            if row is None:
                found = (await conn.execute(select(d.state).where(*key))).first()
                if found is None:
                    raise NotFound(
                        "no such delivery",
                        what="delivery", webhook_id=webhook_id, event_id=event_id,
                    )  # fmt: skip
                raise NotDeadLettered(
                    "only a dead-lettered delivery can be replayed",
                    webhook_id=webhook_id, event_id=event_id, state=found.state,
                )  # fmt: skip
        return _delivery_record(row)

    # --- credit reports -------------------------------------------------------------------------

    async def put_credit_report(
        self,
        attestation_id: Hash32,
        subject: Address,
        report_sha256: bytes,
        sealed: Mapping[bytes, bytes],
        *,
        issuer: Address | None = None,
        now: datetime | None = None,
    ) -> CreditReport:
        """Keep the sealed report behind ``attestation_id``: ``sealed`` maps each reader's
        X25519 public key (32 bytes; 1-32 readers) to the report sealed to it (49 bytes to
        64 KiB + 48). Storing the same again returns the stored record;
        ``CreditReportConflict`` when the attestation has another report. A report stored
        appends a ``credit`` event (``issued``; ``issuer`` is named in it, not stored)."""
        _check_digest(attestation_id, "attestation_id")
        _check_address(subject, "subject")
        if issuer is not None:
            _check_address(issuer, "issuer")
        _check_digest(report_sha256, "report_sha256")
        if not isinstance(sealed, Mapping) or not 0 < len(sealed) <= _MAX_READERS:
            raise StoreError(f"a report is sealed to 1..{_MAX_READERS} readers", field="sealed")
        for reader, box in sealed.items():
            if not isinstance(reader, bytes) or len(reader) != 32:
                raise StoreError("a reader key is 32 bytes (X25519)", field="sealed")
            if not isinstance(box, bytes) or not 48 < len(box) <= _SEALED_MAX:
                raise ValueOutOfRange("a sealed box is 49 bytes to 64 KiB + 48", field="sealed")
        text_sealed = _dump_json({_hex(r): _hex(b) for r, b in sealed.items()})
        at = self._now(now)
        c = _credit.c
        async with self._tx("put_credit_report") as conn:
            created = await conn.execute(
                self._insert(_credit)
                .values(
                    attestation_id=attestation_id,
                    subject=subject,
                    report_sha256=report_sha256,
                    sealed=text_sealed,
                    created_at=at,
                )
                .on_conflict_do_nothing(index_elements=[c.attestation_id])
                .returning(*_credit.c)
            )
            row = created.first()
            if row is not None:
                issued = _credit_event(
                    attestation_id,
                    CreditAction.ISSUED,
                    subject=subject,
                    attestation=attestation_id,
                    report_hash=report_sha256,
                    issuer=issuer,
                    readers=len(sealed),
                )
                await self._append_events(conn, [issued], at)
            else:
                row = (
                    await conn.execute(select(_credit).where(c.attestation_id == attestation_id))
                ).one()
                if (bytes(row.subject), bytes(row.report_sha256), row.sealed) != (
                    subject,
                    report_sha256,
                    text_sealed,
                ):
                    raise CreditReportConflict(
                        "attestation recorded with another report", attestation_id=attestation_id
                    )
        return _credit_record(row)

    async def credit_report(self, attestation_id: Hash32) -> CreditReport | None:
        _check_digest(attestation_id, "attestation_id")
        async with self._tx("credit_report", write=False) as conn:
            row = (
                await conn.execute(
                    select(_credit).where(_credit.c.attestation_id == attestation_id)
                )
            ).first()
        return None if row is None else _credit_record(row)

    async def credit_reports_of(self, subject: Address) -> list[CreditReport]:
        """The subject's reports, oldest first."""
        _check_address(subject, "subject")
        c = _credit.c
        async with self._tx("credit_reports_of", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_credit)
                    .where(c.subject == subject)
                    .order_by(c.created_at, c.attestation_id)
                )
            ).all()
        return [_credit_record(row) for row in rows]


class _EventListener:
    """The ``LISTEN xgate_events`` connection of one ``Store`` on PostgreSQL, shared by every
    ``wait_for_events`` call. Its task is owned by the store: started by the first wait,
    restarted by the next wait after the connection broke, cancelled and awaited by ``close``.
    After each (re)start a waiter reads the log once, so events committed while nobody
    listened are not missed."""

    def __init__(self, conninfo: str, shown: str) -> None:
        self._conninfo = conninfo
        self._shown = shown
        self._task: asyncio.Task[None] | None = None
        self._generation = 0
        self._latest = 0  # the highest id notified
        self._changed = asyncio.Event()  # replaced by a new one at each wake-up
        self._starting = asyncio.Lock()

    async def wait(
        self, after_id: int, timeout_s: float, last_event_id: Callable[[], Awaitable[int]]
    ) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        checked = -1
        while True:
            generation = await self._ensure_started()
            changed = self._changed  # taken before looking: a later notification sets it
            if self._latest > after_id:
                return True
            if generation != checked:
                if await last_event_id() > after_id:
                    return True
                checked = generation
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return self._latest > after_id

    async def _ensure_started(self) -> int:
        async with self._starting:
            if self._task is None or self._task.done():
                try:
                    conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                except psycopg.Error as exc:
                    raise StoreUnavailable(
                        "database unavailable", op="wait_for_events", url=self._shown,
                        reason=str(exc),
                    ) from exc  # fmt: skip
                try:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                except psycopg.Error as exc:
                    await conn.close()
                    raise StoreUnavailable(
                        "database unavailable", op="wait_for_events", url=self._shown,
                        reason=str(exc),
                    ) from exc  # fmt: skip
                self._generation += 1
                self._task = asyncio.create_task(self._listen(conn), name="xgate-event-listener")
            return self._generation

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for note in conn.notifies():
                try:
                    self._latest = max(self._latest, int(note.payload))
                except ValueError:
                    continue
                self._wake()
        except psycopg.Error as exc:
            log.warning("event listener lost its connection", extra={"reason": str(exc)})
        finally:
            self._wake()  # waiters look again, and restart the listener
            await conn.close()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# --- value checks ------------------------------------------------------------------------------


def _check_int64(value: int | None, field: str) -> int | None:
    if value is not None and not 0 <= value <= _INT64_MAX:
        raise ValueOutOfRange("value does not fit a BIGINT column", field=field, value=value)
    return value


def _check_uint256(value: int | None, field: str) -> None:
    if value is not None and not 0 <= value <= UINT256_MAX:
        raise ValueOutOfRange("value is not a uint256", field=field, value=value)


def _check_stream(stream: str) -> None:
    # SQLite would keep a longer name that PostgreSQL refuses: refuse it on both alike.
    if not 0 < len(stream) <= STREAM_LEN:
        raise StoreError(f"stream name must be 1..{STREAM_LEN} characters", stream=stream)


def _check_owner(owner: str) -> None:
    if not 0 < len(owner) <= OWNER_LEN:
        raise StoreError("lease owner must be 1..200 characters", owner=owner)


def _check_address(value: bytes, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != 20:
        raise StoreError("an address must be 20 raw bytes", field=field)


def _check_limit(limit: int, most: int) -> None:
    _check_count(limit, 1, most, "limit")


def _check_count(value: int, low: int, high: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueOutOfRange(f"{field} must be an integer in {low}..{high}", field=field)


def _enum(kind: type[_E], value: Any, field: str) -> _E:
    try:
        return kind(value)
    except ValueError as exc:
        raise StoreError(
            f"not a {kind.__name__}", field=field, value=value, allowed=[k.value for k in kind]
        ) from exc


def _check_text(value: str, most: int, field: str, *, min_len: int = 1) -> None:
    """Printable text of ``min_len``..``most`` characters that is not blank."""
    if (
        not isinstance(value, str)
        or not min_len <= len(value) <= most
        or not value.isprintable()
        or not value.strip()
    ):
        raise StoreError(
            f"{field} must be {min_len}..{most} printable characters, not blank", field=field
        )


def _check_key_id(key_id: str) -> None:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise StoreError("an API key id is 16 lowercase hex characters", field="key_id")


def _check_idem_key(idem_key: str) -> None:
    # Printable ASCII only: the header's value, compared byte for byte on both databases.
    if (
        not isinstance(idem_key, str)
        or not 0 < len(idem_key) <= IDEM_KEY_LEN
        or not all(" " <= ch <= "~" for ch in idem_key)
    ):
        raise StoreError(
            f"an idempotency key is 1..{IDEM_KEY_LEN} printable ASCII characters",
            field="idem_key",
        )


def _dump_headers(headers: Mapping[str, str]) -> str:
    """An answer's headers as stored: checked (they are sent again as they are), JSON."""
    if not isinstance(headers, Mapping):
        raise StoreError("headers must be a mapping of names to values", field="headers")
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise StoreError("a header name is an HTTP token", field="headers")
        if name.lower() in seen:
            raise StoreError(f"header {name} is given twice", field="headers")
        seen.add(name.lower())
        # Visible ASCII and spaces: no line break could split the header when it is replayed.
        if not isinstance(value, str) or not all(" " <= ch <= "~" or ch == "\t" for ch in value):
            raise StoreError(f"header {name}: a value is printable ASCII", field="headers")
    text = _dump_json(dict(headers))
    if len(text) > _IDEM_HEADERS_MAX:
        raise ValueOutOfRange("headers must be 64 KiB at most", field="headers")
    return text


def _check_digest(value: bytes, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise StoreError("a hash is 32 raw bytes", field=field)


def _check_url(url: str) -> None:
    if not isinstance(url, str) or not 0 < len(url) <= URL_LEN or not url.isprintable():
        raise StoreError(f"a webhook url is 1..{URL_LEN} printable characters", field="url")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError("a webhook url is an absolute http(s) url", field="url")
    if " " in url or parts.fragment:
        raise StoreError("a webhook url has no spaces and no fragment", field="url")


def _sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _join_set(values: Iterable[str]) -> str:
    return ",".join(sorted(values))


def _split_set(text_value: str) -> set[str]:
    return set(text_value.split(",")) if text_value else set()


def _signature_key(
    store_chain_id: ChainId, src_chain_id: ChainId, attester: Address, number: Height
) -> tuple[Any, ...]:
    s = _sigs.c
    return (
        s.store_chain_id == store_chain_id,
        s.src_chain_id == src_chain_id,
        s.attester == attester,
        s.number == number,
    )


def _opt_bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)


# --- rows <-> records ----------------------------------------------------------------------------


def _message_row(item: NewMessage, at: datetime) -> dict[str, Any]:
    msg = item.message
    _check_int64(msg.dst_chain_id, "dst_chain_id")
    _check_int64(item.src_block_number, "src_block_number")
    if item.tracking_id is not None and not 0 < len(item.tracking_id) <= TRACKING_ID_LEN:
        raise StoreError("tracking id must be 1..100 characters", tracking_id=item.tracking_id)
    return {
        "id": item.id,
        "src_chain_id": msg.src_chain_id,
        "dst_chain_id": msg.dst_chain_id,
        "src_endpoint": msg.src_endpoint,
        "dst_endpoint": msg.dst_endpoint,
        "nonce": msg.nonce,
        "sender": msg.sender,
        "receiver": msg.receiver,
        "payload": msg.payload,
        "src_block_number": item.src_block_number,
        "src_block_hash": item.src_block_hash,
        "src_tx_hash": item.src_tx_hash,
        "src_tx_index": item.src_tx_index,
        "block_log_index": item.block_log_index,
        "receipt_log_index": item.receipt_log_index,
        "status": MessageStatus.FINAL.value,
        "reason": None,
        "attempts": 0,
        "next_attempt_at": at,
        "lease_owner": None,
        "lease_until": None,
        "delivery_tx_hash": None,
        "delivery_block_number": None,
        "tracking_id": item.tracking_id,
        "created_at": at,
        "updated_at": at,
    }


def _message_record(row: Row[Any]) -> MessageRecord:
    message = Message(
        src_chain_id=ChainId(row.src_chain_id),
        src_endpoint=Address(bytes(row.src_endpoint)),
        nonce=Nonce(row.nonce),
        dst_chain_id=ChainId(row.dst_chain_id),
        dst_endpoint=Address(bytes(row.dst_endpoint)),
        sender=Address(bytes(row.sender)),
        receiver=Address(bytes(row.receiver)),
        payload=bytes(row.payload),
    )
    return MessageRecord(
        id=MessageId(bytes(row.id)),
        message=message,
        src_block_number=Height(row.src_block_number),
        src_block_hash=Hash32(bytes(row.src_block_hash)),
        src_tx_hash=TxHash(bytes(row.src_tx_hash)),
        src_tx_index=row.src_tx_index,
        block_log_index=row.block_log_index,
        receipt_log_index=row.receipt_log_index,
        status=MessageStatus(row.status),
        reason=row.reason,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        delivery_tx_hash=None
        if row.delivery_tx_hash is None
        else TxHash(bytes(row.delivery_tx_hash)),
        delivery_block_number=(
            None if row.delivery_block_number is None else Height(row.delivery_block_number)
        ),
        tracking_id=row.tracking_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _tx_key(chain_id: ChainId, sender: Address, nonce: int) -> tuple[Any, ...]:
    t = _txs.c
    return (t.chain_id == chain_id, t.sender == sender, t.nonce == nonce)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _unhex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _dump_attempts(attempts: Sequence[TxAttempt]) -> str:
    return _dump_json(
        [
            {
                "tx_hash": _hex(a.tx_hash),
                "raw": _hex(a.raw),
                "gas": a.gas,
                "signed_at": a.signed_at,
                "max_fee_per_gas": a.fees.max_fee_per_gas,
                "max_priority_fee_per_gas": a.fees.max_priority_fee_per_gas,
                "gas_price": a.fees.gas_price,
            }
            for a in attempts
        ]
    )


def _load_attempts(text: str) -> list[TxAttempt]:
    return [
        TxAttempt(
            tx_hash=TxHash(_unhex(a["tx_hash"])),
            raw=_unhex(a["raw"]),
            fees=Fees(
                max_fee_per_gas=a["max_fee_per_gas"],
                max_priority_fee_per_gas=a["max_priority_fee_per_gas"],
                gas_price=a["gas_price"],
            ),
            gas=a["gas"],
            signed_at=a["signed_at"],
        )
        for a in json.loads(text)
    ]


def _tx_outcome(row: Row[Any]) -> TxOutcome | None:
    state = TxState(row.state)
    if state is TxState.MINED:
        return Mined(
            tx_hash=TxHash(bytes(row.mined_tx_hash)),
            block_number=Height(row.block_number),
            block_hash=Hash32(bytes(row.block_hash)),
            gas_used=row.gas_used,
            effective_gas_price=row.effective_gas_price,
            status=row.receipt_status,
        )
    if state is TxState.FAILED:
        return Failed(row.reason or "")
    if state is TxState.DROPPED:
        return Dropped(row.reason or "")
    return None


def _tx_record(row: Row[Any]) -> TxRecord:
    entry = JournalEntry(
        chain_id=ChainId(row.chain_id),
        sender=Address(bytes(row.sender)),
        nonce=row.nonce,
        to=None if row.to_address is None else Address(bytes(row.to_address)),
        value=row.value,
        data=bytes(row.data),
        purpose=row.purpose,
        refs=tuple(json.loads(row.refs)),
        attempts=tuple(_load_attempts(row.attempts)),
    )
    return TxRecord(
        id=row.id,
        entry=entry,
        state=TxState(row.state),
        outcome=_tx_outcome(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _signature_record(row: Row[Any]) -> SignatureRecord:
    return SignatureRecord(
        store_chain_id=ChainId(row.store_chain_id),
        src_chain_id=ChainId(row.src_chain_id),
        attester=Address(bytes(row.attester)),
        number=Height(row.number),
        block_hash=Hash32(bytes(row.block_hash)),
        digest=Hash32(bytes(row.digest)),
        signature=bytes(row.signature),
        signed_at=row.signed_at,
        submitted_tx_hash=(
            None if row.submitted_tx_hash is None else TxHash(bytes(row.submitted_tx_hash))
        ),
    )


def _swap_row(swap: Swap) -> dict[str, Any]:
    values: dict[str, Any] = {
        "swap_id": swap.swap_id,
        "hashlock": swap.hashlock,
        "state": swap.state.value,
        "initiator": swap.initiator,
        "participant": swap.participant,
        "preimage": swap.preimage,
        "claim_signature": swap.claim_signature,
        "claim_destination": swap.claim_destination,
        "refund_authorised": swap.refund_authorised,
        "reason": swap.reason,
    }
    for prefix, leg in (
        ("initiator_leg", swap.initiator_leg),
        ("participant_leg", swap.participant_leg),
    ):
        values.update(
            {
                f"{prefix}_chain_id": leg.chain_id,
                f"{prefix}_htlc": leg.htlc,
                f"{prefix}_asset_kind": leg.asset_kind.value,
                f"{prefix}_token": leg.token,
                f"{prefix}_value": leg.value,
                f"{prefix}_claimer": leg.claimer,
                f"{prefix}_refunder": leg.refunder,
                f"{prefix}_timelock": leg.timelock,
                f"{prefix}_lock_tx": leg.lock_tx,
                f"{prefix}_claim_tx": leg.claim_tx,
                f"{prefix}_refund_tx": leg.refund_tx,
            }
        )
    return values


def _swap_leg(row: Row[Any], prefix: str) -> SwapLeg:
    def get(name: str) -> Any:
        return getattr(row, f"{prefix}_{name}")

    def opt_tx(name: str) -> TxHash | None:
        value = get(name)
        return None if value is None else TxHash(bytes(value))

    return SwapLeg(
        chain_id=ChainId(get("chain_id")),
        htlc=Address(bytes(get("htlc"))),
        asset_kind=AssetKind(get("asset_kind")),
        token=Address(bytes(get("token"))),
        value=get("value"),
        claimer=Address(bytes(get("claimer"))),
        refunder=Address(bytes(get("refunder"))),
        timelock=get("timelock"),
        lock_tx=opt_tx("lock_tx"),
        claim_tx=opt_tx("claim_tx"),
        refund_tx=opt_tx("refund_tx"),
    )


def _swap_record(row: Row[Any]) -> Swap:
    return Swap(
        swap_id=Hash32(bytes(row.swap_id)),
        hashlock=Hash32(bytes(row.hashlock)),
        initiator=Address(bytes(row.initiator)),
        participant=Address(bytes(row.participant)),
        initiator_leg=_swap_leg(row, "initiator_leg"),
        participant_leg=_swap_leg(row, "participant_leg"),
        state=SwapState(row.state),
        preimage=_opt_bytes(row.preimage),
        claim_signature=_opt_bytes(row.claim_signature),
        claim_destination=(
            None if row.claim_destination is None else Address(bytes(row.claim_destination))
        ),
        refund_authorised=bool(row.refund_authorised),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _apply_swap_fields(current: Swap, state: SwapState, fields: Mapping[str, Any]) -> Swap:
    """``current`` in ``state`` with ``fields`` set; the records' own checks validate them."""
    top: dict[str, Any] = {k: v for k, v in fields.items() if not k.endswith("_tx")}
    for prefix in _LEGS:
        leg_fields = {
            name: fields[f"{prefix}_{name}"]
            for name in _LEG_TX_FIELDS
            if f"{prefix}_{name}" in fields
        }
        top[prefix] = replace(getattr(current, prefix), **leg_fields)
    return replace(current, state=state, **top)


def _tracking_record(row: Row[Any]) -> TrackingRecord:
    return TrackingRecord(
        tracking_id=row.tracking_id,
        kind=TrackingKind(row.kind),
        ref=_opt_bytes(row.ref),
        src_chain_id=None if row.src_chain_id is None else ChainId(row.src_chain_id),
        src_tx_hash=None if row.src_tx_hash is None else TxHash(bytes(row.src_tx_hash)),
        created_at=row.created_at,
    )


def _short(detail: str | None) -> str | None:
    return None if detail is None else detail[:_DETAIL_LEN]


def _message_event(
    row: Mapping[Any, Any],
    old: MessageStatus | None,
    new: MessageStatus,
    *,
    tx_hash: bytes | None,
    detail: str | None,
) -> tuple[EventKind, bytes, dict[str, Any]]:
    return (
        EventKind.MESSAGE,
        bytes(row["id"]),
        {
            "status": new.value,
            "old_status": None if old is None else old.value,
            "src_chain_id": row["src_chain_id"],
            "dst_chain_id": row["dst_chain_id"],
            "tx_hash": None if tx_hash is None else _hex(bytes(tx_hash)),
            "tracking_id": row["tracking_id"],
            "detail": _short(detail),
        },
    )


def _swap_event(swap: Swap, old: SwapState | None) -> tuple[EventKind, bytes, dict[str, Any]]:
    txs = {
        f"{prefix}_{name}": _hex(value)
        for prefix in _LEGS
        for name in _LEG_TX_FIELDS
        if (value := getattr(getattr(swap, prefix), name)) is not None
    }
    return (
        EventKind.SWAP,
        swap.swap_id,
        {
            "state": swap.state.value,
            "old_state": None if old is None else old.value,
            "initiator_chain_id": swap.initiator_leg.chain_id,
            "participant_chain_id": swap.participant_leg.chain_id,
            "txs": txs,
            "detail": _short(swap.reason),
        },
    )


def _credit_event(
    ref: bytes,
    action: CreditAction,
    *,
    subject: bytes,
    attestation: bytes | None = None,
    report_hash: bytes | None = None,
    issuer: bytes | None = None,
    version: int | None = None,
    chain_id: int | None = None,
    tx_hash: bytes | None = None,
    readers: int | None = None,
) -> tuple[EventKind, bytes, dict[str, Any]]:
    def hex_or_none(value: bytes | None) -> str | None:
        return None if value is None else _hex(bytes(value))

    return (
        EventKind.CREDIT,
        bytes(ref),
        {
            "action": action.value,
            "subject": _hex(bytes(subject)),
            "attestation_id": hex_or_none(attestation),
            "report_hash": hex_or_none(report_hash),
            "issuer": hex_or_none(issuer),
            "version": version,
            "chain_id": chain_id,
            "tx_hash": hex_or_none(tx_hash),
            "readers": readers,
        },
    )


def _credit_message_events(
    rows: Mapping[bytes, Mapping[str, Any]], new_ids: Sequence[bytes], registry: Address | None
) -> list[tuple[EventKind, bytes, dict[str, Any]]]:
    """The ``credit`` events of the new messages the registry sent: only its own messages
    count (anyone may send a look-alike payload through the endpoint)."""
    if registry is None:
        return []
    events = []
    for mid in new_ids:
        row = rows[mid]
        if bytes(row["sender"]) != registry:
            continue
        try:
            payload = decode_payload(bytes(row["payload"]))
        except PayloadInvalid:
            continue
        where = {"chain_id": row["dst_chain_id"], "tx_hash": row["src_tx_hash"]}
        if isinstance(payload, CreditAttestation):
            att = attestation_id(
                chain_id=row["src_chain_id"],
                registry=registry,
                subject=payload.subject,
                issuer=payload.issuer,
                score=payload.score,
                grade=grade_bytes(payload.grade),
                valid_until=payload.valid_until,
                report_hash=payload.report_hash,
            )
            event = _credit_event(
                mid, CreditAction.PUBLISHED, subject=payload.subject, attestation=att,
                report_hash=payload.report_hash, issuer=payload.issuer,
                version=payload.version, **where,
            )  # fmt: skip
            events.append(event)
        elif isinstance(payload, CreditRevocation):
            event = _credit_event(
                mid, CreditAction.REVOKED, subject=payload.subject, issuer=payload.issuer,
                version=payload.version, **where,
            )  # fmt: skip
            events.append(event)
    return events


def _event_record(row: Row[Any]) -> Event:
    return Event(
        id=int(row.id),
        kind=EventKind(row.kind),
        ref=bytes(row.ref),
        data=MappingProxyType(json.loads(row.data)),
        created_at=row.created_at,
    )


def _api_key_record(row: Row[Any]) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=frozenset(Scope(s) for s in _split_set(row.scopes)),
        ed25519_public_key=_opt_bytes(row.ed25519_public_key),
        rate_per_s=float(row.rate_per_s),
        burst=int(row.burst),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _webhook_record(row: Row[Any]) -> Webhook:
    return Webhook(
        id=int(row.id),
        key_id=row.key_id,
        url=row.url,
        secret=row.secret,
        kinds=frozenset(EventKind(k) for k in _split_set(row.kinds)),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _delivery_record(row: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=int(row.webhook_id),
        event_id=int(row.event_id),
        state=DeliveryState(row.state),
        attempts=int(row.attempts),
        next_at=row.next_at,
        last_error=row.last_error,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _credit_record(row: Row[Any]) -> CreditReport:
    return CreditReport(
        attestation_id=Hash32(bytes(row.attestation_id)),
        subject=Address(bytes(row.subject)),
        report_sha256=Hash32(bytes(row.report_sha256)),
        sealed=MappingProxyType({_unhex(r): _unhex(b) for r, b in json.loads(row.sealed).items()}),
        created_at=row.created_at,
    )
