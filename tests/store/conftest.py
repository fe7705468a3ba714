"""Fixtures of the store tests: every test runs on SQLite (a file under tmp_path) and on
PostgreSQL (127.0.0.1:5432, user postgres, or ``XGATE_TEST_PG_URL``).

PostgreSQL is required, never skipped: when it is down the tests fail with a line saying how to
start it. The session creates scratch databases with unique names and drops them at the end:
one migrated database shared by the store tests (emptied before each test) and an empty one per
migration test.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.messages import Message, Nonce
from gateway.domain.status import Checkpoint, NewMessage
from gateway.store import Store, migrate
from gateway.store.db import libpq_conninfo, parse_store_url
from gateway.store.models import metadata

PG_ADMIN_URL = os.environ.get("XGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DIALECTS = ["sqlite", "postgresql"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STREAM = "MessageSent"


class PgServer:
    """The PostgreSQL server of the session: creates scratch databases, drops them at the end."""

    def __init__(self, admin: psycopg.Connection[tuple[object, ...]]) -> None:
        self._admin = admin
        self._prefix = f"xgate_test_{os.getpid()}_{secrets.token_hex(3)}"
        self._created: list[str] = []

    def create(self) -> str:
        """A new empty database; returns its store URL."""
        name = f"{self._prefix}_{len(self._created)}"
        self._admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self._created:
            self._admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self._created.clear()
        self._admin.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    shown = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
    problem = ""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        problem = str(exc).strip()
    if problem:
        pytest.fail(
            f"PostgreSQL is not reachable at {shown} ({problem}). The store tests run on "
            "SQLite and PostgreSQL and never skip: start it (`.ci/run` does, with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or set "
            "XGATE_TEST_PG_URL.",
            pytrace=False,
        )
    server = PgServer(admin)
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture(scope="session")
def pg_store_url(pg_server: PgServer) -> str:
    """The session's migrated PostgreSQL database for the store tests."""
    url = pg_server.create()
    migrate.upgrade(url)
    return url


def truncate(url: str) -> None:
    conninfo = libpq_conninfo(parse_store_url(url))
    tables = sql.SQL(", ").join(sql.Identifier(name) for name in metadata.tables)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL at head with no rows in it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'xgate.db'}"
    pg_url: str = request.getfixturevalue("pg_store_url")
    truncate(pg_url)
    return pg_url


@pytest.fixture(params=DIALECTS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL of a database with nothing in it, not even the migrations' table."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create()


@dataclass
class Clock:
    """The stores' clock in a test: starts at T0, moves only when told."""

    now: datetime = field(default=T0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(url: str, clock: Clock) -> AsyncIterator[Store]:
    # The session's PostgreSQL database is migrated once; a SQLite file is new in every test.
    s = await Store.open(url, migrate=url.startswith("sqlite"), clock=clock)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def other_store(store: Store, url: str, clock: Clock) -> AsyncIterator[Store]:
    """A second ``Store`` on the same database (after ``store`` migrated it): another relayer
    process."""
    s = await Store.open(url, migrate=False, clock=clock)
    try:
        yield s
    finally:
        await s.close()


# --- values ------------------------------------------------------------------------------------


def h32(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def addr(n: int) -> Address:
    return Address(bytes([n]) * 20)


def new_message(
    nonce: int,
    *,
    src: int = 1,
    dst: int = 2,
    block: int | None = None,
    tx: bytes | None = None,
    log_index: int | None = None,
    tracking_id: str | None = None,
) -> NewMessage:
    block = 10 + nonce if block is None else block
    msg = Message(
        src_chain_id=ChainId(src),
        src_endpoint=addr(0x11),
        nonce=Nonce(nonce),
        dst_chain_id=ChainId(dst),
        dst_endpoint=addr(0x22),
        sender=addr(0x33),
        receiver=addr(0x44),
        payload=b"payload %d" % nonce,
    )
    return NewMessage(
        message=msg,
        src_block_number=Height(block),
        src_block_hash=Hash32(h32("block", src, block)),
        src_tx_hash=TxHash(tx if tx is not None else h32("tx", src, nonce)),
        src_tx_index=0,
        block_log_index=nonce if log_index is None else log_index,
        receipt_log_index=0,
        tracking_id=tracking_id,
    )


def checkpoint(height: int, *, chain: int = 1) -> Checkpoint:
    return Checkpoint(ChainId(chain), STREAM, Height(height), Hash32(h32("block", chain, height)))


async def scan(store: Store, messages: list[NewMessage], *, chain: int = 1) -> int:
    """Record ``messages`` as a watcher would: one scan from the stored checkpoint up to the
    highest block among them (or one block further when there are none)."""
    prev = await store.checkpoint(ChainId(chain), STREAM)
    low = -1 if prev is None else prev.height
    top = max([m.src_block_number for m in messages], default=low + 1)
    return await store.record_scan(
        ChainId(chain), STREAM, prev, checkpoint(top, chain=chain), messages
    )
