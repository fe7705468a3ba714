"""Migrations on both databases: upgrade from empty, downgrade to base, upgrade again, and the
models equal what the migrations create (Alembic's autogenerate comparison finds nothing)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text

from adapters.types import Address, ChainId, Hash32, Height
from gateway.domain.apikeys import IdempotencyOutcome, Scope
from gateway.domain.status import SwapState
from gateway.store import SchemaOutOfDate, Store, StoreError, migrate
from gateway.store.db import SQLITE_BUSY_TIMEOUT_MS, parse_store_url, sync_engine
from gateway.store.models import metadata
from gateway.store.swaps import _swap_row
from tests.store.conftest import T0, new_message, scan
from tests.store.test_records import _swap


def _tables(url: str) -> set[str]:
    engine = sync_engine(parse_store_url(url))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _execute(url: str, sql: str) -> None:
    engine = sync_engine(parse_store_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


async def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    store_tables = set(metadata.tables)
    assert migrate.current(empty_url) is None
    with pytest.raises(SchemaOutOfDate):
        await Store.open(empty_url, migrate=False)

    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head() == "0006"
    assert _tables(empty_url) == store_tables | {"alembic_version"}
    assert migrate.check_models_match(empty_url) == []
    migrate.upgrade(empty_url)  # at head already: nothing to do
    async with await Store.open(empty_url, migrate=False) as store:
        assert await store.acquire_lock("l", "o", 5) is not None

    migrate.downgrade(empty_url, "base")
    assert migrate.current(empty_url) is None
    assert _tables(empty_url) <= {"alembic_version"}

    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head()
    assert migrate.check_models_match(empty_url) == []
    async with await Store.open(empty_url, migrate=False) as store:
        assert await store.lock("l") is None  # the downgrade dropped the old rows


async def test_open_migrates_by_default(empty_url: str) -> None:
    async with await Store.open(empty_url) as store:
        assert store.dialect in ("sqlite", "postgresql")
    assert migrate.current(empty_url) == migrate.head()
    assert migrate.check_models_match(empty_url) == []


async def test_check_sees_a_schema_that_drifted(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    _execute(empty_url, "ALTER TABLE locks ADD COLUMN extra INTEGER")
    _execute(empty_url, "DROP INDEX ix_swaps_state")
    differences = migrate.check_models_match(empty_url)
    assert any("remove_column" in d and "locks.extra" in d for d in differences), differences
    assert any("add_index" in d and "ix_swaps_state" in d for d in differences), differences


async def test_migration_errors(empty_url: str) -> None:
    with pytest.raises(StoreError):
        migrate.upgrade(empty_url, "no-such-revision")
    assert migrate.current(empty_url) is None


async def test_signatures_survive_the_attester_key_migration(empty_url: str) -> None:
    """0002 puts the attester into the signatures' key: rows signed before are kept (under the
    zero address), and a downgrade keeps the earliest signature of each height."""
    migrate.upgrade(empty_url, "0001")
    assert migrate.check_models_match(empty_url)  # 0001 lacks the attester column
    _execute(
        empty_url,
        "INSERT INTO attester_signatures (store_chain_id, src_chain_id, number, block_hash,"
        " digest, signature, signed_at) VALUES (1, 2, 3, X'AA', X'BB', X'CC',"
        " '2026-01-01 00:00:00.000000')"
        if empty_url.startswith("sqlite")
        else "INSERT INTO attester_signatures (store_chain_id, src_chain_id, number, block_hash,"
        " digest, signature, signed_at) VALUES (1, 2, 3, '\\xaa', '\\xbb', '\\xcc',"
        " '2026-01-01 00:00:00+00')",
    )
    migrate.upgrade(empty_url)
    assert migrate.check_models_match(empty_url) == []
    async with await Store.open(empty_url, migrate=False) as store:
        old = await store.signature(ChainId(1), ChainId(2), Height(3), attester=Address(bytes(20)))
        assert old is not None and (old.block_hash, old.signature) == (b"\xaa", b"\xcc")
        later = datetime(2026, 1, 2, tzinfo=UTC)
        mine = Address(b"\x01" * 20)
        await store.record_signature(
            ChainId(1), ChainId(2), Height(3), Hash32(b"\xdd" * 32), Hash32(b"\xee" * 32), b"",
            attester=mine, now=later,
        )  # fmt: skip
    migrate.downgrade(empty_url, "0001")
    engine = sync_engine(parse_store_url(empty_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT block_hash FROM attester_signatures")).all()
    finally:
        engine.dispose()
    assert [bytes(r[0]) for r in rows] == [b"\xaa"]
    migrate.upgrade(empty_url)
    assert migrate.check_models_match(empty_url) == []


async def test_swaps_survive_the_reason_migration(empty_url: str) -> None:
    """0004 adds the swaps' reason: a swap recorded before starts without one and can get one;
    a downgrade drops the column and keeps the swap."""
    migrate.upgrade(empty_url, "0003")
    assert migrate.check_models_match(empty_url)  # 0003 lacks the reason column
    swap = _swap()
    row = {**_swap_row(swap), "created_at": T0, "updated_at": T0}
    del row["reason"]  # the models' table, without the column 0003 lacks
    engine = sync_engine(parse_store_url(empty_url))
    try:
        with engine.begin() as conn:
            conn.execute(metadata.tables["swaps"].insert().values(**row))
    finally:
        engine.dispose()
    migrate.upgrade(empty_url)
    assert migrate.check_models_match(empty_url) == []
    async with await Store.open(empty_url, migrate=False) as store:
        old = await store.swap(swap.swap_id)
        assert old == swap and old is not None and old.reason is None
        noted = await store.set_swap_state(
            swap.swap_id, SwapState.PROPOSED, SwapState.PROPOSED, reason="refused: unsafe"
        )
        assert noted.reason == "refused: unsafe"
    migrate.downgrade(empty_url, "0003")
    engine = sync_engine(parse_store_url(empty_url))
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("swaps")}
            rows = conn.execute(text("SELECT swap_id, state FROM swaps")).all()
    finally:
        engine.dispose()
    assert "reason" not in columns
    assert [(bytes(r[0]), r[1]) for r in rows] == [(swap.swap_id, "proposed")]
    migrate.upgrade(empty_url)
    assert migrate.check_models_match(empty_url) == []


async def test_connection_settings(url: str) -> None:
    """SQLite runs in WAL mode with a busy timeout, full sync and foreign keys; on both
    databases a message's history goes with it (the foreign key is enforced)."""
    async with await Store.open(url) as store:
        item = new_message(1)
        await scan(store, [item])
        async with store._engine.connect() as conn:  # the store's own connections
            if store.dialect == "sqlite":
                pragmas = {
                    name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
                }
                assert pragmas == {
                    "journal_mode": "wal",
                    "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                    "synchronous": 2,  # FULL
                    "foreign_keys": 1,
                }
        async with store._engine.begin() as conn:
            await conn.execute(text("DELETE FROM messages"))
            count = await conn.execute(text("SELECT count(*) FROM message_status_history"))
            assert count.scalar() == 0


async def test_the_api_tables_come_and_go_with_0005(empty_url: str) -> None:
    """0005 adds the API's tables and the transfer list's index; a downgrade drops them (and
    their rows) and keeps the relay's messages."""
    api_tables = {
        "events",
        "api_keys",
        "request_nonces",
        "idempotency",
        "webhooks",
        "webhook_deliveries",
        "credit_reports",
    }
    migrate.upgrade(empty_url, "0004")
    assert not api_tables & _tables(empty_url)
    migrate.upgrade(empty_url)
    assert api_tables <= _tables(empty_url)
    async with await Store.open(empty_url, migrate=False) as store:
        item = new_message(1)
        await scan(store, [item])
        await store.create_api_key("k", [Scope.READ])
        assert len(await store.events_after(0, 10)) == 1
    migrate.downgrade(empty_url, "0004")
    assert not api_tables & _tables(empty_url)
    engine = sync_engine(parse_store_url(empty_url))
    try:
        with engine.connect() as conn:
            indexes = {i["name"] for i in inspect(conn).get_indexes("messages")}
            ids = [bytes(r[0]) for r in conn.execute(text("SELECT id FROM messages")).all()]
    finally:
        engine.dispose()
    assert "ix_messages_created_at_id" not in indexes and ids == [item.id]
    migrate.upgrade(empty_url)
    assert migrate.check_models_match(empty_url) == []
    async with await Store.open(empty_url, migrate=False) as store:
        assert await store.api_keys() == [] and await store.events_after(0, 10) == []


async def test_idempotent_answers_survive_the_headers_migration(empty_url: str) -> None:
    """0006 keeps idempotent answers' headers and indexes events by time and swaps by
    hashlock; a downgrade drops the column (the headers) and the indexes and keeps the answers; an answer stored without the
    column comes back without headers (NULL: replayed as before), a new one with them."""
    body = hashlib.sha256(b"request").digest()
    migrate.upgrade(empty_url)
    async with await Store.open(empty_url, migrate=False) as store:
        key = (await store.create_api_key("k", [Scope.DAPP])).api_key.key_id
        fresh = await store.begin_idempotent(key, "new", body, now=T0)
        assert fresh.outcome is IdempotencyOutcome.NEW
        await store.finish_idempotent(key, "new", body, 201, b"{}", {"A": "1"}, now=T0)
    migrate.downgrade(empty_url, "0005")
    assert migrate.check_models_match(empty_url)  # 0005 lacks the column and the index
    engine = sync_engine(parse_store_url(empty_url))
    try:
        with engine.begin() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("idempotency")}
            event_indexes = {i["name"] for i in inspect(conn).get_indexes("events")}
            idem_indexes = {i["name"] for i in inspect(conn).get_indexes("idempotency")}
            swap_indexes = {i["name"] for i in inspect(conn).get_indexes("swaps")}
            conn.execute(
                text(
                    "INSERT INTO idempotency (key_id, idem_key, body_sha256, state, status,"
                    " response, created_at, updated_at) SELECT key_id, 'old', body_sha256,"
                    " state, status, response, created_at, updated_at FROM idempotency"
                )
            )
    finally:
        engine.dispose()
    assert "response_headers" not in columns and "ix_events_created_at" not in event_indexes
    assert "ix_idempotency_created_at" in idem_indexes
    assert swap_indexes == {"ix_swaps_state"}
    migrate.upgrade(empty_url)
    assert migrate.check_models_match(empty_url) == []
    async with await Store.open(empty_url, migrate=False) as store:
        for idem_key in ("new", "old"):
            answer = await store.begin_idempotent(key, idem_key, body, now=T0)
            assert (answer.outcome, answer.status, answer.response, answer.headers) == (
                IdempotencyOutcome.DONE,
                201,
                b"{}",
                None,
            ), idem_key


async def test_api_keys_get_their_chain_account_with_0006(empty_url: str) -> None:
    """0006 adds ``api_keys.chain_account`` (nullable): a downgrade drops it and keeps the
    keys; keys from before it (here: after the downgrade) come back with None, an issuer key
    too (the API refuses its credit requests until the operator makes a bound key)."""
    account = Address(b"\x42" * 20)
    migrate.upgrade(empty_url)
    async with await Store.open(empty_url, migrate=False) as store:
        issuer = await store.create_api_key(
            "issuer", [Scope.ISSUER], ed25519_public_key=b"\x07" * 32, chain_account=account
        )
        reader = await store.create_api_key("reader", [Scope.READ])
        assert (await store.api_key(issuer.api_key.key_id)).chain_account == account  # type: ignore[union-attr]
    migrate.downgrade(empty_url, "0005")
    engine = sync_engine(parse_store_url(empty_url))
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("api_keys")}
            count = conn.execute(text("SELECT COUNT(*) FROM api_keys")).scalar_one()
    finally:
        engine.dispose()
    assert "chain_account" not in columns and count == 2
    migrate.upgrade(empty_url)
    assert migrate.check_models_match(empty_url) == []
    async with await Store.open(empty_url, migrate=False) as store:
        keys = {k.key_id: k for k in await store.api_keys()}
        assert set(keys) == {issuer.api_key.key_id, reader.api_key.key_id}
        assert [k.chain_account for k in keys.values()] == [None, None]
        assert await store.verify_api_key(issuer.token) == keys[issuer.api_key.key_id]
