"""Persistence of the relay service (docs/relayer.md §2) and of the gateway API (docs/api.md
§3, §4): sqlmodel tables, Alembic migrations and the async ``Store`` facade, on SQLite (WAL) or
PostgreSQL.

``Store`` returns frozen records of ``gateway.domain.status``; the tables in ``models`` are
internal. ``StoreJournal`` is the signer writers' transaction journal on the store. ``migrate``
runs the migrations from code (``xgate db``).
"""

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
from gateway.store.journal import StoreJournal
from gateway.store.store import Store

__all__ = [
    "CheckpointMoved",
    "ConflictingSignature",
    "CreditReportConflict",
    "HashlockInUse",
    "InvalidCheckpoint",
    "LeaseLost",
    "NotDeadLettered",
    "NotFound",
    "SchemaOutOfDate",
    "Store",
    "StoreError",
    "StoreJournal",
    "StoreUnavailable",
    "SwapConflict",
    "SwapStateMoved",
    "TrackingConflict",
    "TxConflict",
    "ValueOutOfRange",
]
