"""The store's point reads (a row by its key, or the rows of one indexed key), run on the
database driver directly with SQLAlchemy's statements compiled once.

Why not SQLAlchemy's execution here (measured on the 2-core development machine, quiet):

- SQLite: through the async engine, aiosqlite runs each statement in a thread and the
  transaction's BEGIN, execute, fetch and COMMIT each cost an event-loop round trip:
  ``Store.message`` took 1.7 ms, and the API's status read (three point reads) was bound at
  about 130 reads/s by that alone. Through a sync SQLAlchemy connection with the statement
  built once a point read costs 55 µs, of which SQLite's own work is 16 µs.
- PostgreSQL: a transaction through the async engine costs five round trips (pre-ping, BEGIN,
  the SELECT, COMMIT, the pool's reset): ``Store.message`` took 3.5 ms; in autocommit through
  the engine 1 ms, about 0.5 ms of it SQLAlchemy's and greenlet's CPU per statement.

So the statements are still SQLAlchemy's (built from the same tables, compiled once per
dialect) and the rows are converted by the columns' own result processors (aware UTC
datetimes, uint256 from text), but they are executed on the driver:

- ``PointReader`` (SQLite): the stdlib ``sqlite3`` on one read-only connection, inline on the
  event loop. A WAL reader does not wait for the writer, so a read blocks the loop for
  microseconds; each is one statement in autocommit mode, a read transaction of its own (a
  consistent snapshot). A read that finds the database locked past ``BUSY_TIMEOUT_MS`` raises
  ``PointReadBusy``: the caller runs it again off the loop, through the async engine.
- ``PgPointReader`` (PostgreSQL): psycopg's async connections from its pool, in autocommit:
  one round trip per read, prepared by psycopg after a few uses.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

__all__ = [
    "BUSY_TIMEOUT_MS",
    "PgPointReader",
    "PointQuery",
    "PointReadBusy",
    "PointReader",
]

BUSY_TIMEOUT_MS = 50  # how long a read on the loop may wait for a lock
PG_POOL_SIZE = 4  # connections of a process's point reads (the API's many clients share them)
POOL_WAIT_S = 10.0  # a read waits this long for a connection, then the database is unavailable

_SQLITE = sqlite.dialect()
_POSTGRESQL = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


class PointReadBusy(Exception):
    """The database was locked past ``BUSY_TIMEOUT_MS``: read it off the loop instead."""


_Processors = tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, converter)


@dataclass(frozen=True, slots=True)
class CompiledRead:
    """A SELECT compiled for one dialect, with what turns its raw rows into typed ones."""

    sql: str
    params: tuple[str, ...] | None  # positional parameters' names in order; None: named
    row: Callable[..., Any]  # a named tuple of the selected columns
    types: tuple[TypeEngine[Any], ...]  # the selected columns' types, for this dialect
    dialect: Dialect
    # The columns' result processors by the driver's column type codes (SQLAlchemy picks some
    # by the code: psycopg's numeric by its oid); found at the first read of each.
    _processors: dict[tuple[Any, ...], _Processors] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> CompiledRead:
        compiled = statement.compile(dialect=dialect)
        for name, bind in compiled.binds.items():
            # Parameters go to the driver as given: only types without a bind conversion.
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"point read parameter {name} needs a bind conversion")
        columns = list(statement.selected_columns)
        positional = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(
            str(compiled),
            positional,
            namedtuple("PointRow", [c.name for c in columns]),
            tuple(c.type.dialect_impl(dialect) for c in columns),
            dialect,
        )

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...] | Mapping[str, Any]:
        return params if self.params is None else tuple(params[name] for name in self.params)

    def convert(self, raw: Sequence[Sequence[Any]], description: Sequence[Any]) -> list[Any]:
        """The typed rows of a cursor's raw rows (``description``: the cursor's)."""
        codes = tuple(column[1] for column in description)
        processors = self._processors.get(codes)
        if processors is None:
            processors = tuple(
                (i, proc)
                for i, (type_, code) in enumerate(zip(self.types, codes, strict=True))
                if (proc := type_.result_processor(self.dialect, code)) is not None
            )
            self._processors[codes] = processors
        if not processors:
            return [self.row(*r) for r in raw]
        rows = []
        for r in raw:
            values = list(r)
            for i, to_python in processors:
                values[i] = to_python(values[i])
            rows.append(self.row(*values))
        return rows


@dataclass(frozen=True, slots=True)
class PointQuery:
    """A point read's statement (the async engine's fallback) and its compiled forms."""

    statement: Select[Any]
    sqlite: CompiledRead
    postgresql: CompiledRead

    @classmethod
    def of(cls, statement: Select[Any]) -> PointQuery:
        return cls(
            statement,
            CompiledRead.of(statement, _SQLITE),
            CompiledRead.of(statement, _POSTGRESQL),
        )


class PointReader:
    """One read-only connection to the SQLite file at ``path``, opened on first use."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            self._conn = conn
        return self._conn

    def rows(self, query: PointQuery, params: Mapping[str, Any]) -> list[Any]:
        """The typed rows of ``query``; ``PointReadBusy`` when the database stayed locked,
        ``sqlite3.Error`` for anything else."""
        read = query.sqlite
        try:
            cursor = self._connection().execute(read.sql, read.args(params))
            raw = cursor.fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise PointReadBusy(str(exc)) from exc
            raise
        return read.convert(raw, cursor.description)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PgPointReader:
    """Autocommit connections to the PostgreSQL database at ``conninfo`` (a libpq URI), from a
    pool opened on first use."""

    def __init__(self, conninfo: str, size: int = PG_POOL_SIZE) -> None:
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True},
            open=False,
            timeout=POOL_WAIT_S,
        )

    async def rows(self, query: PointQuery, params: Mapping[str, Any]) -> list[Any]:
        """The typed rows of ``query``; psycopg's errors as they come."""
        if self._pool.closed:
            await self._pool.open()
        read = query.postgresql
        for attempt in (1, 2):
            conn: AsyncConnection[Any] | None = None
            try:
                async with self._pool.connection() as conn:
                    cursor = await conn.execute(read.sql, read.args(params))
                    raw = await cursor.fetchall()
                    description = cursor.description or ()
                return read.convert(raw, description)
            except psycopg.OperationalError:
                # A server restart drops every connection, found by its next query (a check at
                # every checkout would cost a round trip): check the idle ones all now, and
                # read again on a good one.
                if attempt == 2 or conn is None or not conn.broken:
                    raise
                await self._pool.check()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if not self._pool.closed:
            await self._pool.close()
