"""`xgate db upgrade|current|check|downgrade --url` in a subprocess, on both databases, and the
exit codes of failures in process.

Commands that do not depend on each other run concurrently: each is a new Python process."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from gateway.cli import main
from gateway.store import migrate
from gateway.store.models import metadata

XGATE = [sys.executable, "-m", "gateway"]
HEAD = migrate.head()


async def xgate(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *XGATE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_db_commands(empty_url: str) -> None:
    code, out, err = await xgate("db", "upgrade", "--url", empty_url)
    assert (code, out.strip()) == (0, f"database at revision {HEAD}"), err

    (code, out, err), (check_code, check_out, check_err) = await asyncio.gather(
        xgate("db", "current", "--url", empty_url), xgate("db", "check", "--url", empty_url)
    )
    assert (code, out.strip()) == (0, HEAD), err
    assert check_code == 0, check_out + check_err
    assert check_out.strip() == f"models match the database (revision {HEAD})"

    code, out, err = await xgate("db", "downgrade", "base", "--url", empty_url)
    assert (code, out.strip()) == (0, "database at revision none"), err


# The exit codes of failures, in process (each subprocess costs seconds of imports).


def test_check_exit_code_when_models_differ(
    empty_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty database lacks every table the models describe: exit 1, one line each.
    assert main(["db", "check", "--url", empty_url]) == 1
    lines = capsys.readouterr().out.splitlines()
    tables = {line.split(": ")[1] for line in lines if line.startswith("add_table: ")}
    assert tables == set(metadata.tables)
    assert "add_index: messages.ix_messages_status_dst_next" in lines
    assert main(["db", "current", "--url", empty_url]) == 0
    assert capsys.readouterr().out.strip() == "none"


def test_unusable_database_exit_code(
    empty_url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    if empty_url.startswith("sqlite"):
        unusable = "sqlite:////no/such/directory/xgate.db"
    else:
        unusable = make_url(empty_url).set(port=1).render_as_string(hide_password=False)
    for command in (["current"], ["upgrade"], ["downgrade", "base"], ["check"]):
        caplog.clear()
        assert main(["db", *command, "--url", unusable]) == 2
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and f"xgate db {command[0]}" in errors[0].getMessage()
    assert main(["db", "upgrade", "no-such-revision", "--url", empty_url]) == 2
    assert capsys.readouterr().out == ""


def test_json_output_of_every_db_command(
    empty_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: one JSON object on stdout per command (nothing else there, no control
    characters), an error as one JSON object on stderr with the same exit code."""

    def run(*args: str) -> tuple[int, Any, str]:
        code = main(["db", *args, "--url", empty_url, "--json"])
        out, err = capsys.readouterr()
        assert "\x1b" not in out + err and len(out.splitlines()) == 1, out
        return code, json.loads(out), err

    try:
        assert run("current")[:2] == (0, {"revision": None})
        code, checked, _ = run("check")
        assert code == 1 and (checked["revision"], checked["match"]) == (None, False)
        assert "add_table: messages" in checked["differences"]
        assert run("upgrade")[:2] == (0, {"revision_before": None, "revision_after": HEAD})
        assert run("check")[:2] == (0, {"revision": HEAD, "match": True, "differences": []})
        assert run("current")[:2] == (0, {"revision": HEAD})
        assert run("downgrade", "base")[:2] == (
            0,
            {"revision_before": HEAD, "revision_after": None},
        )
        assert main(["db", "upgrade", "no-such-revision", "--url", empty_url, "--json"]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        [line] = err.splitlines()  # Alembic's narration is off: only the error
        assert json.loads(line)["error"]["message"].startswith("xgate db upgrade: ")
    finally:
        logging.getLogger("alembic").setLevel(logging.NOTSET)
