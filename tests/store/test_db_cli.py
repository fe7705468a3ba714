"""`xgate db upgrade|current|check|downgrade --url` in a subprocess, on both databases.

Commands that do not depend on each other run concurrently: each is a new Python process."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from gateway.store import migrate

XGATE = [sys.executable, "-m", "gateway"]
HEAD = migrate.head()


async def xgate(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *XGATE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_db_commands(empty_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if empty_url.startswith("sqlite"):
        unusable = "sqlite:////no/such/directory/xgate.db"
        other_empty = f"sqlite:///{tmp_path / 'other.db'}"
    else:
        unusable = make_url(empty_url).set(port=1).render_as_string(hide_password=False)
        other_empty = request.getfixturevalue("pg_server").create()

    (
        (code, out, err),
        (bad_code, _, bad_err),
        (check_code, check_out, check_err),
    ) = await asyncio.gather(
        xgate("db", "upgrade", "--url", empty_url),
        xgate("db", "current", "--url", unusable),
        xgate("db", "check", "--url", other_empty),
    )
    assert (code, out.strip()) == (0, f"database at revision {HEAD}"), err
    # An unusable URL or database: exit 2 and one error line, no traceback.
    assert bad_code == 2, bad_err
    error_lines = [line for line in bad_err.splitlines() if "ERROR" in line]
    assert len(error_lines) == 1 and "xgate db current" in error_lines[0], bad_err
    assert "Traceback" not in bad_err
    # An empty database lacks every table the models describe: exit 1, one line each.
    assert check_code == 1, check_out + check_err
    assert "add_table: messages" in check_out.splitlines()

    (code, out, err), (check_code, check_out, check_err) = await asyncio.gather(
        xgate("db", "current", "--url", empty_url), xgate("db", "check", "--url", empty_url)
    )
    assert (code, out.strip()) == (0, HEAD), err
    assert check_code == 0, check_out + check_err
    assert check_out.strip() == f"models match the database (revision {HEAD})"

    code, out, err = await xgate("db", "downgrade", "base", "--url", empty_url)
    assert (code, out.strip()) == (0, "database at revision none"), err
