"""``StoreBase``: what every part of the ``Store`` facade (``gateway.store.store``) stands on: the
engine, the clock and the point reader, one transaction per method (``_tx``) with its errors
classified, the event log's append (every concern that changes a message, swap or credit report
appends its events in the same transaction) and lock fencing, and the tables, value checks and
row converters more than one concern uses.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import psycopg
from psycopg_pool import PoolTimeout
from sqlalchemy import Row, Table, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.errors import XgateError
from gateway.domain.apikeys import Scope
from gateway.domain.events import CreditAction, DeliveryState, Event, EventKind
from gateway.domain.status import LockLease, MessageStatus
from gateway.store.db import BEGIN_OPTION, StoreUrl
from gateway.store.errors import LeaseLost, StoreError, StoreUnavailable, ValueOutOfRange
from gateway.store.listener import EVENTS_CHANNEL, _EventListener
from gateway.store.models import OWNER_LEN, metadata
from gateway.store.point_reads import PgPointReader, PointQuery, PointReadBusy, PointReader

__all__ = ["StoreBase"]

_INT64_MAX = 2**63 - 1
# SQLite reports schema problems as OperationalError too; those are not worth retrying.
_SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "has no column", "syntax error")

_messages: Table = metadata.tables["messages"]
_history: Table = metadata.tables["message_status_history"]
_locks: Table = metadata.tables["locks"]
_tracking: Table = metadata.tables["tracking"]
_events: Table = metadata.tables["events"]
_api_keys: Table = metadata.tables["api_keys"]
_webhooks: Table = metadata.tables["webhooks"]
_deliveries: Table = metadata.tables["webhook_deliveries"]

# The event log (docs/api.md §3): the advisory lock that orders the commits of new events
# ("xgevents" in ASCII).
_EVENTS_LOCK = 0x78676576656E7473
_EVENTS_PAGE_MAX = 1000
_DETAIL_LEN = 500  # an event's detail is cut to this many characters

_KEY_ID = re.compile(r"[0-9a-f]{16}")

_E = TypeVar("_E", EventKind, MessageStatus, Scope)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StoreBase:
    """The engine, clock and plumbing the ``Store`` facade's parts share."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: StoreUrl,
        *,
        clock: Callable[[], datetime] = _utcnow,
        point_reader: PointReader | None = None,
        pg_point_reader: PgPointReader | None = None,
    ) -> None:
        self._engine = engine
        self._point_reader = point_reader
        self._pg_point_reader = pg_point_reader
        self._url = url
        self._clock = clock
        self._sqlite = url.dialect == "sqlite"
        self._listener: _EventListener | None = None

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._url.dialect

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
        if self._pg_point_reader is not None:
            try:
                return await self._pg_point_reader.rows(query, params)
            except (psycopg.Error, PoolTimeout, OSError) as exc:
                raise self._classify_pg(exc, op) from exc
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

    def _classify_pg(self, exc: BaseException, op: str) -> XgateError:
        """A point read's psycopg error, classified as ``_classify`` does SQLAlchemy's."""
        if isinstance(exc, psycopg.OperationalError | PoolTimeout | OSError):
            return StoreUnavailable(
                "database unavailable or busy", op=op, dialect=self.dialect, reason=str(exc)
            )
        return StoreError("store operation failed", op=op, reason=str(exc))

    def _insert(self, table: Table) -> PgInsert | SqliteInsert:
        return sqlite_insert(table) if self._sqlite else pg_insert(table)

    def _now(self, now: datetime | None) -> datetime:
        value = self._clock() if now is None else now
        if value.tzinfo is None:
            raise StoreError("naive datetime: the store takes aware UTC times only", now=value)
        return value.astimezone(UTC)

    # --- lock fencing --------------------------------------------------------------------------

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

    # --- the event log's append (docs/api.md §3) ---------------------------------------------

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


# --- value checks ------------------------------------------------------------------------------


def _check_int64(value: int | None, field: str) -> int | None:
    if value is not None and not 0 <= value <= _INT64_MAX:
        raise ValueOutOfRange("value does not fit a BIGINT column", field=field, value=value)
    return value


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


def _check_digest(value: bytes, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise StoreError("a hash is 32 raw bytes", field=field)


def _join_set(values: Iterable[str]) -> str:
    return ",".join(sorted(values))


def _split_set(text_value: str) -> set[str]:
    return set(text_value.split(",")) if text_value else set()


def _opt_bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)


# --- rows <-> records ----------------------------------------------------------------------------


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _unhex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


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


def _event_record(row: Row[Any]) -> Event:
    return Event(
        id=int(row.id),
        kind=EventKind(row.kind),
        ref=bytes(row.ref),
        data=MappingProxyType(json.loads(row.data)),
        created_at=row.created_at,
    )
