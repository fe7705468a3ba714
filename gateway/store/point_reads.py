"""The store's point reads on SQLite: a row by its key, or the rows of one indexed key, run on
the event loop over one read-only stdlib ``sqlite3`` connection.

Why not SQLAlchemy here (measured on the 2-core development machine, quiet):

- through the async engine, aiosqlite runs each statement in a thread and the transaction's
  BEGIN, execute, fetch and COMMIT each cost an event-loop round trip: ``Store.message`` took
  1.7 ms, and the API's status read (three point reads) was bound at about 130 reads/s by
  that alone;
- through a sync SQLAlchemy connection with the statement built once, a point read costs
  55 µs, of which SQLite's own work is 16 µs: the rest is SQLAlchemy's execution context.

So the statements are still SQLAlchemy's (built from the same tables, compiled once for the
SQLite dialect) and the rows are converted by the columns' own result processors (aware UTC
datetimes, uint256 from text), but they are executed on the stdlib connection. A WAL reader
does not wait for the writer, so a read blocks the loop for microseconds; each is one
statement in autocommit mode, a read transaction of its own (a consistent snapshot). A read
that finds the database locked past ``BUSY_TIMEOUT_MS`` raises ``PointReadBusy``: the caller
runs it again off the loop, through the async engine.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects import sqlite

__all__ = ["BUSY_TIMEOUT_MS", "PointQuery", "PointReadBusy", "PointReader"]

BUSY_TIMEOUT_MS = 50  # how long a read on the loop may wait for a lock

_DIALECT = sqlite.dialect()


class PointReadBusy(Exception):
    """The database was locked past ``BUSY_TIMEOUT_MS``: read it off the loop instead."""


@dataclass(frozen=True, slots=True)
class PointQuery:
    """A SELECT compiled once for SQLite, with what turns its raw rows into typed ones."""

    statement: Select[Any]
    sql: str
    params: tuple[str, ...]  # the bound parameters' names, in placeholder order
    row: Callable[..., Any]  # a named tuple of the selected columns
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, converter)

    @classmethod
    def of(cls, statement: Select[Any]) -> PointQuery:
        compiled = statement.compile(dialect=_DIALECT)
        for name, bind in compiled.binds.items():
            # Parameters go to the driver as given: only types without a bind conversion.
            if bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT) is not None:
                raise TypeError(f"point read parameter {name} needs a bind conversion")
        columns = list(statement.selected_columns)
        processors = tuple(
            (i, proc)
            for i, column in enumerate(columns)
            if (proc := column.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None))
            is not None
        )
        return cls(
            statement,
            str(compiled),
            tuple(compiled.positiontup or ()),
            namedtuple("PointRow", [c.name for c in columns]),
            processors,
        )

    def convert(self, raw: tuple[Any, ...]) -> Any:
        if not self.processors:
            return self.row(*raw)
        values = list(raw)
        for i, proc in self.processors:
            values[i] = proc(values[i])
        return self.row(*values)


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
        args = tuple(params[name] for name in query.params)
        try:
            raw = self._connection().execute(query.sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise PointReadBusy(str(exc)) from exc
            raise
        return [query.convert(r) for r in raw]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
