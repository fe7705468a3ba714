"""gateway.store.db.parse_store_url: the URLs a store accepts and the driver URLs they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.errors import ConfigError
from gateway.store.db import parse_store_url


def test_sqlite_urls(tmp_path: Path) -> None:
    for given in (f"sqlite:///{tmp_path}/x.db", f"sqlite+aiosqlite:///{tmp_path}/x.db"):
        url = parse_store_url(given)
        assert url.dialect == "sqlite"
        assert url.async_url.drivername == "sqlite+aiosqlite"
        assert url.sync_url.drivername == "sqlite+pysqlite"
        assert url.async_url.database == f"{tmp_path}/x.db"


def test_postgresql_urls() -> None:
    for given in (
        "postgresql://u:secret@db:5432/xgate",
        "postgres://u:secret@db:5432/xgate",
        "postgresql+psycopg://u:secret@db:5432/xgate",
    ):
        url = parse_store_url(given)
        assert url.dialect == "postgresql"
        assert url.async_url.drivername == url.sync_url.drivername == "postgresql+psycopg"
        assert url.async_url.password == "secret"
        assert "secret" not in url.shown and url.shown.endswith("@db:5432/xgate")


@pytest.mark.parametrize(
    "given",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////no/such/directory/x.db",
        "mysql://u@db/xgate",
        "not a url",
    ],
)
def test_unusable_urls(given: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_store_url(given)
    assert err.value.key == "store.url"
