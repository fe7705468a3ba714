"""`xgate status` and `xgate transfer` as real processes against the real API app (served by
the test on a loopback port): JSON output, problems and exit codes, the token never printed,
and `--wait` following a transfer until it is delivered."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.cli import main
from gateway.store import Store
from harness.services import XGATE
from tests.api.conftest import HUB, PUBLIC, Keys
from tests.api.test_transfers import deliver
from tests.store.conftest import Clock, new_message, scan


@dataclass
class Run:
    code: int
    out: str
    err: str

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("XGATE_")}


async def xgate(*args: str, token: str | None, api: str) -> Run:
    env = clean_env()
    if token is not None:
        env["XGATE_API_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        *XGATE,
        *args,
        "--api",
        api,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_reads_with_json_output_problems_and_exit_codes(
    base_url: str,
    keys: Keys,
    store: Store,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in (1, 2, 3):
        await scan(store, [new_message(n, src=HUB, dst=PUBLIC, tracking_id=f"trk-{n}")], chain=HUB)
        clock.advance(1)
    token = keys.read.token
    chains, listed = await asyncio.gather(
        xgate("status", "--json", token=token, api=base_url),
        xgate("transfer", "list", "--limit", "2", "--json", token=token, api=base_url),
    )
    assert chains.code == 0, chains.err
    assert [(c["name"], c["chain_id"]) for c in chains.lines()] == [
        ("consortium", HUB),
        ("public", PUBLIC),
    ]
    assert listed.code == 0, listed.err
    assert [t["tracking_id"] for t in listed.lines()] == ["trk-3", "trk-2"]  # newest first
    for run in (chains, listed):
        assert token not in run.out + run.err

    # The same commands in this process (in a thread: each runs its own event loop).
    async def command(*args: str) -> Run:
        code = await asyncio.to_thread(main, [*args, "--api", base_url])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    for name in [k for k in os.environ if k.startswith("XGATE_")]:
        monkeypatch.delenv(name)
    no_token = await command("status")
    assert no_token.code == 2 and "XGATE_API_TOKEN" in no_token.err

    monkeypatch.setenv("XGATE_API_TOKEN", token)
    one = await command("transfer", "status", "trk-1", "--json")
    assert one.code == 0, one.err
    [transfer] = one.lines()
    assert (transfer["tracking_id"], transfer["status"]) == ("trk-1", "final")
    assert [h["to"] for h in transfer["history"]] == ["final"]

    unknown = await command("transfer", "status", "0x" + "ab" * 32, "--json")
    assert (unknown.code, unknown.out) == (1, "")
    problem = json.loads(unknown.err)["error"]
    assert (problem["status"], problem["type"]) == (
        404,
        "https://xgate.dev/problems/transfer-not-found",
    )
    # This app reads no chain: each chain's live status is reported unavailable, not waited on.
    chains_text = await command("status")
    assert chains_text.code == 0, chains_text.err
    assert chains_text.out.count("status unavailable") == 2
    refused = await command(
        *("transfer", "quote", "--from-chain", str(HUB), "--to-chain", str(PUBLIC)),
        *("--asset", "settlement_token", "--amount", "5"),
        *("--sender", "0x" + "ab" * 20, "--recipient", "0x" + "cd" * 20),
    )
    assert refused.code == 2 and "sender" in refused.err and "recipient" in refused.err
    watched = await command("transfer", "watch", "--after", "0", "--count", "2", "--json")
    assert watched.code == 0, watched.err
    assert [(e["id"], e["data"]["tracking_id"]) for e in watched.lines()] == [
        (1, "trk-1"),
        (2, "trk-2"),
    ]
    missing = await command("swap", "propose", "--body", "/nonexistent/swap.json")
    assert missing.code == 2 and "cannot read /nonexistent/swap.json" in missing.err
    bad_sender = await command("credit", "revoke", "0x" + "ab" * 20, "--sender", "0xnope")
    assert bad_sender.code == 2 and "sender" in bad_sender.err
    text = await command("transfer", "status", "0x" + "ab" * 32)
    assert text.code == 1 and "404 transfer-not-found: no transfer has message id" in text.err
    assert token not in one.out + one.err + unknown.err + text.err


async def test_status_wait_follows_a_transfer_until_it_is_delivered(
    base_url: str, keys: Keys, store: Store, clock: Clock
) -> None:
    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")
    await scan(store, [item], chain=HUB)
    args = ["status", "trk-1", "--wait", "--interval", "0.2", "--api", base_url]
    proc = await asyncio.create_subprocess_exec(
        *XGATE,
        *args,
        env={**clean_env(), "XGATE_API_TOKEN": keys.read.token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    progress: list[str] = []
    while not any("-> " not in p and " final" in p for p in progress):  # the first step seen
        line = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert line, "xgate status --wait ended early"
        progress.append(line.decode())
    await deliver(store, clock, item)  # the steps happen while it waits
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    progress += err.decode().splitlines()
    assert proc.returncode == 0, progress
    assert "status delivered" in out.decode()
    # stderr is no terminal: the steps as plain lines, no live status line drawn over them.
    assert not any("\x1b" in p or "\r" in p for p in progress), progress
    steps = [p.split("  ")[2] for p in progress if p.startswith("  20")]
    assert steps == [
        "final",
        "final -> header_ready",
        "header_ready -> submitted",
        "submitted -> delivered",
    ]
