"""Migrations on both databases: upgrade from empty, downgrade to base, upgrade again, and the
models equal what the migrations create (Alembic's autogenerate comparison finds nothing)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from gateway.store import SchemaOutOfDate, Store, StoreError, migrate
from gateway.store.db import parse_store_url, sync_engine
from gateway.store.models import metadata


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
    assert migrate.current(empty_url) == migrate.head() == "0001"
    assert _tables(empty_url) == store_tables | {"alembic_version"}
    assert migrate.check_models_match(empty_url) == []
    migrate.upgrade(empty_url)  # at head already: nothing to do
    async with await Store.open(empty_url, migrate=False) as store:
        assert await store.acquire_lock("l", "o", 5) is not None

    migrate.downgrade(empty_url, "base")
    assert migrate.current(empty_url) is None
    assert _tables(empty_url) <= {"alembic_version"}

    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == "0001"
    assert migrate.check_models_match(empty_url) == []
    async with await Store.open(empty_url, migrate=False) as store:
        assert await store.lock("l") is None  # the downgrade dropped the old rows


async def test_open_migrates_by_default(empty_url: str) -> None:
    async with await Store.open(empty_url) as store:
        assert store.dialect in ("sqlite", "postgresql")
    assert migrate.current(empty_url) == "0001"
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
