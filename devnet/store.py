"""Devnet persistence: py-evm's key-value store in memory, flushed to SQLite once per block.

py-evm needs a synchronous key-value DB with fast reads. The node keeps every key in a dict
(the devnet is small) and records what changed since the last block; ``flush`` writes those
keys, the block's sealed extraData and the node's metadata (votes, allowlist) in one SQLite
transaction, so a restart always finds a consistent chain. Without a data directory the node
is memory-only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from eth.db.backends.base import BaseDB

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sealed_extra (number INTEGER PRIMARY KEY, extra BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


class TrackedMemoryDB(BaseDB):
    """A dict-backed py-evm DB that remembers which keys changed since ``take_changes``."""

    def __init__(self, kv: dict[bytes, bytes] | None = None) -> None:
        self.kv: dict[bytes, bytes] = kv if kv is not None else {}
        self._written: set[bytes] = set()
        self._deleted: set[bytes] = set()

    def __getitem__(self, key: bytes) -> bytes:
        return self.kv[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.kv[key] = value
        self._written.add(key)
        self._deleted.discard(key)

    def __delitem__(self, key: bytes) -> None:
        del self.kv[key]
        self._written.discard(key)
        self._deleted.add(key)

    def _exists(self, key: bytes) -> bool:
        return key in self.kv

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.kv)

    def __len__(self) -> int:
        return len(self.kv)

    def take_changes(self) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        written = [(k, self.kv[k]) for k in self._written]
        deleted = list(self._deleted)
        self._written = set()
        self._deleted = set()
        return written, deleted


class ChainStore:
    """SQLite file ``<data_dir>/chain.sqlite3``, or nothing at all for a memory-only node."""

    def __init__(self, data_dir: Path | None) -> None:
        self.path = None if data_dir is None else Path(data_dir) / "chain.sqlite3"
        self._conn: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    @property
    def persistent(self) -> bool:
        return self._conn is not None

    def load_kv(self) -> dict[bytes, bytes]:
        if self._conn is None:
            return {}
        return {bytes(k): bytes(v) for k, v in self._conn.execute("SELECT k, v FROM kv")}

    def load_sealed_extra(self) -> dict[int, bytes]:
        if self._conn is None:
            return {}
        rows = self._conn.execute("SELECT number, extra FROM sealed_extra")
        return {int(n): bytes(e) for n, e in rows}

    def load_meta(self) -> dict[str, Any]:
        if self._conn is None:
            return {}
        return {k: json.loads(v) for k, v in self._conn.execute("SELECT k, v FROM meta")}

    def flush(
        self,
        db: TrackedMemoryDB,
        sealed_extra: Mapping[int, bytes] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Write everything changed since the last flush in one transaction."""
        written, deleted = db.take_changes()
        if self._conn is None:
            return
        conn = self._conn
        conn.execute("BEGIN")
        try:
            if written:
                conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", written)
            if deleted:
                conn.executemany("DELETE FROM kv WHERE k = ?", [(k,) for k in deleted])
            if sealed_extra:
                conn.executemany(
                    "INSERT OR REPLACE INTO sealed_extra (number, extra) VALUES (?, ?)",
                    list(sealed_extra.items()),
                )
            if meta:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
                    [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def save_meta(self, meta: Mapping[str, Any]) -> None:
        if self._conn is None:
            return
        self._conn.executemany(
            "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
            [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()],
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
