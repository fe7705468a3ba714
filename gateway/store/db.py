"""Engines for the store's URL: ``sqlite:///path`` or ``postgresql://...``.

The same URL gives an async engine (the ``Store``) and a sync one (Alembic):

- ``sqlite:///path`` -> ``sqlite+aiosqlite`` / ``sqlite+pysqlite``. Every connection runs in WAL
  mode with ``synchronous=FULL`` (a commit survives a power cut: the attester's record of what
  it signed must, or it could sign twice), a busy timeout (other processes' writes are waited
  for, not failed) and foreign keys on. The driver's own transaction handling is switched off
  and writes open with ``BEGIN IMMEDIATE``: SQLite has one writer, and taking the write lock at
  the start makes a second writer wait for the busy timeout instead of failing midway when it
  upgrades a read lock. One pooled connection per engine: a process has one writer anyway, and
  its coroutines queue for it in order.
- ``postgresql://`` (or ``postgres://``) -> ``postgresql+psycopg`` (psycopg 3, async and sync),
  with pre-ping so a server restart costs one reconnect instead of an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.errors import ConfigError

__all__ = [
    "BEGIN_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "StoreUrl",
    "async_engine",
    "parse_store_url",
    "sync_engine",
]

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option naming how a SQLite transaction begins ("IMMEDIATE" unless told "DEFERRED"):
# read-only transactions need not queue behind writers.
BEGIN_OPTION = "xgate_sqlite_begin"

_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"}
_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg_async"}


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A validated store URL and the driver URLs derived from it."""

    dialect: Literal["sqlite", "postgresql"]
    async_url: URL
    sync_url: URL

    @property
    def shown(self) -> str:
        """The URL for logs and errors: never the password."""
        return self.sync_url.render_as_string(hide_password=True)


def parse_store_url(url: str) -> StoreUrl:
    """Validate ``url`` (``ConfigError`` naming the problem) and derive the driver URLs."""
    # A postgres:// URL (Heroku style) is not a registered SQLAlchemy scheme; rename it first.
    text = "postgresql" + url[len("postgres") :] if url.startswith("postgres://") else url
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise ConfigError("store url is not a database URL", key="store.url") from exc
    scheme = parsed.drivername
    if scheme in _SQLITE_SCHEMES:
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ConfigError(
                "store url needs a SQLite file (sqlite:///path/xgate.db): an in-memory database "
                "is not shared between connections",
                key="store.url",
            )
        if not Path(database).parent.is_dir():
            raise ConfigError(
                "store url: the SQLite file's directory does not exist",
                key="store.url",
                directory=str(Path(database).parent),
            )
        return StoreUrl(
            "sqlite",
            parsed.set(drivername="sqlite+aiosqlite"),
            parsed.set(drivername="sqlite+pysqlite"),
        )
    if scheme in _POSTGRES_SCHEMES:
        return StoreUrl(
            "postgresql",
            parsed.set(drivername="postgresql+psycopg"),
            parsed.set(drivername="postgresql+psycopg"),
        )
    raise ConfigError(
        "store url scheme not supported: use sqlite:///path or postgresql://...",
        key="store.url",
        scheme=scheme,
    )


def _sqlite_events(sync: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: transactions are ours, begun in _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(sync, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")


def async_engine(url: StoreUrl) -> AsyncEngine:
    """The engine of the ``Store``."""
    if url.dialect == "sqlite":
        engine = create_async_engine(url.async_url, pool_size=1, max_overflow=0, pool_timeout=60)
        _sqlite_events(engine.sync_engine, foreign_keys=True)
        return engine
    return create_async_engine(url.async_url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def libpq_conninfo(url: StoreUrl) -> str:
    """A PostgreSQL URL as psycopg connects to it directly (``postgresql://...``)."""
    return url.sync_url.set(drivername="postgresql").render_as_string(hide_password=False)


def sync_engine(url: StoreUrl) -> Engine:
    """The engine of the migrations. Foreign keys stay off on SQLite there: a batch migration
    copies and drops tables, which enforcing keys would refuse midway."""
    if url.dialect == "sqlite":
        engine = create_engine(url.sync_url, pool_size=1, max_overflow=0)
        _sqlite_events(engine, foreign_keys=False)
        return engine
    return create_engine(url.sync_url, pool_pre_ping=True, pool_size=1, max_overflow=0)
