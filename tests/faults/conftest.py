"""Fixtures of the fault tests (issue 7, "Faults and bad input"): real nodes, real ``xgate``
processes, faults injected from outside (SIGKILL, a proxy in front of a node, anvil reorgs,
broken files).

- ``net``: one relay devnet for the folder (tests/faults/_net.py); every test writes its own
  ``xgate.toml`` variant with its own store and scans from the chains' height at its start,
  so the tests do not see each other's messages.
- ``pg_url``: a scratch PostgreSQL database for one test (127.0.0.1:5432, user postgres, or
  ``XGATE_TEST_PG_URL``), dropped at its end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.faults._net import FaultNet

PG_ADMIN_URL = os.environ.get("XGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="package")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultNet]:
    async with FaultNet.start(tmp_path_factory.mktemp("faults")) as n:
        yield n


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new empty PostgreSQL database; its store URL. Dropped (connections and all) after
    the test."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL is not reachable ({str(exc).strip()}): the fault tests run on it and "
            "never skip; start it (`.ci/run` does) or set XGATE_TEST_PG_URL.",
            pytrace=False,
        )
    name = f"xgate_faults_{os.getpid()}_{secrets.token_hex(3)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
