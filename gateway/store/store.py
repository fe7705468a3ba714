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

The methods live with their concern, one mixin class each over ``StoreBase`` (``base``: the
engine, transactions, error classification, the event log's append, lock fencing and what the
concerns share): ``scans`` (scans and checkpoints), ``messages`` (the work queue, transitions,
message queries, the API's transfer list), ``locks``, ``transactions`` (the signers' journal),
``trust`` (light-client states), ``signatures`` (attester signatures), ``swaps``, ``tracking``,
``events`` (the event log's reads, waits and retention; ``listener`` its PostgreSQL LISTEN),
``api_keys`` (keys, nonces, idempotent POSTs), ``webhooks`` (webhooks and deliveries) and
``credit_reports``. ``Store`` joins them and owns the lifecycle.

Errors: ``StoreUnavailable`` (retryable) when the database is unreachable, busy past its
timeout, or aborted the transaction; ``StoreError`` and its kin (fatal) for broken constraints
and rules. Nothing is written when a method raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from alembic.migration import MigrationContext

from gateway.store.api_keys import ApiKeysMixin
from gateway.store.base import _utcnow
from gateway.store.credit_reports import CreditReportsMixin
from gateway.store.db import async_engine, libpq_conninfo, parse_store_url
from gateway.store.errors import SchemaOutOfDate
from gateway.store.events import EventsMixin
from gateway.store.locks import LocksMixin
from gateway.store.messages import MessagesMixin
from gateway.store.migrate import head, upgrade
from gateway.store.point_reads import PgPointReader, PointReader
from gateway.store.scans import ScansMixin
from gateway.store.signatures import SignaturesMixin
from gateway.store.swaps import SwapsMixin
from gateway.store.tracking import TrackingMixin
from gateway.store.transactions import TransactionsMixin
from gateway.store.trust import TrustMixin
from gateway.store.webhooks import WebhooksMixin

__all__ = ["Store"]


class Store(
    ScansMixin,
    MessagesMixin,
    LocksMixin,
    TransactionsMixin,
    TrustMixin,
    SignaturesMixin,
    SwapsMixin,
    TrackingMixin,
    EventsMixin,
    ApiKeysMixin,
    WebhooksMixin,
    CreditReportsMixin,
):
    """The relay service's persistence. Open with ``await Store.open(url)`` (or ``async with``)."""

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
        store = cls(
            async_engine(parsed),
            parsed,
            clock=clock,
            point_reader=reader,
            pg_point_reader=PgPointReader(libpq_conninfo(parsed))
            if parsed.dialect == "postgresql"
            else None,
        )
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
        if self._pg_point_reader is not None:
            await self._pg_point_reader.close()
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
