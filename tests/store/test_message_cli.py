"""`xgate message list|show|retry --json` on a store (in process, both databases): one JSON
object per line on stdout, an error as one JSON object on stderr with the text mode's exit
code."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.types import ChainId
from gateway.cli import main
from gateway.domain.status import MessageStatus as S
from gateway.store import Store
from tests.cli.test_config_cli import variant, write_config
from tests.store.conftest import new_message, scan


async def xgate_message(
    capsys: pytest.CaptureFixture[str], config: Path, *args: str
) -> tuple[int, list[Any], str]:
    code = await asyncio.to_thread(main, ["message", *args, "--config", str(config), "--json"])
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err
    return code, [json.loads(line) for line in out.splitlines()], err


async def test_list_show_and_retry_print_json_and_errors_as_json(
    store: Store, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, variant(store={"url": url}))
    parked, other = new_message(1, tracking_id="trk-1"), new_message(2)
    await scan(store, [parked, other])
    await store.claim_messages(
        "w", dst_chain_id=ChainId(2), statuses=[S.FINAL], limit=1, lease_s=60
    )
    await store.transition(parked.id, "w", S.HEADER_READY)
    await store.transition(parked.id, "w", S.PARKED, reason="receiver reverts: Paused()")
    ref = "0x" + parked.id.hex()

    code, [listed], err = await xgate_message(capsys, config, "list")
    assert (code, err) == (0, "")
    assert (listed["id"], listed["status"], listed["reason"]) == (
        ref,
        "parked",
        "receiver reverts: Paused()",
    )
    code, [shown, *history], _ = await xgate_message(capsys, config, "show", ref)
    assert code == 0 and shown["tracking_id"] == "trk-1"
    assert [h["to"] for h in history] == ["final", "header_ready", "parked"]

    code, [retried], err = await xgate_message(capsys, config, "retry", ref)
    assert (code, err, retried["id"], retried["status"]) == (0, "", ref, "header_ready")

    # Refused: not parked any more (exit 1), an unknown id (exit 1); nothing on stdout.
    code, out, err = await xgate_message(capsys, config, "retry", ref)
    assert (code, out) == (1, [])
    assert json.loads(err)["error"]["message"].startswith("not retried: only a parked message")
    code, out, err = await xgate_message(capsys, config, "retry", "0x" + "ab" * 32)
    assert (code, out) == (1, [])
    assert json.loads(err) == {"error": {"message": f"no message 0x{'ab' * 32} in the store"}}
    # An unusable config: exit 2, its problems in the one object.
    code, out, err = await xgate_message(capsys, tmp_path / "missing.toml", "list")
    assert (code, out) == (2, [])
    assert "cannot read it" in json.loads(err)["error"]["message"]
