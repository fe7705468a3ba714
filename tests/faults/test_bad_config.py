"""Bad configuration files stop ``xgate run`` / ``xgate relayer run`` at start: one clear line
naming the file and the key, a non-zero exit, no traceback, no hang (docs/relayer.md §1).
``xgate config check`` has its own tests (tests/cli/test_config_cli.py); these run the
services themselves."""

from __future__ import annotations

import subprocess
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from harness.services import XGATE, ServiceProcess, free_port
from tests.faults._net import FaultNet

START_TIMEOUT_S = 60.0


def _variant(net: FaultNet, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    raw: dict[str, Any] = tomllib.loads(net.config(f"{name}.toml").read_text())
    change(raw)
    path = net.folder / f"{name}.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def _unknown_key(raw: dict[str, Any]) -> None:
    raw["relayer"]["poll_intervall_s"] = 1.0


def _wrong_type(raw: dict[str, Any]) -> None:
    raw["relayer"]["lease_ttl_s"] = "soon"


def _signer_not_defined(raw: dict[str, Any]) -> None:
    raw["relayer"]["signer"] = "nobody"


def _key_file_missing(raw: dict[str, Any]) -> None:
    raw["signers"]["relayer"] = {"key_file": "keys/absent.key"}


def _rpc_unreachable(raw: dict[str, Any]) -> None:
    # A port nobody listens on (taken and released just now).
    raw["chains"]["public"]["rpc_urls"] = [f"http://127.0.0.1:{free_port()}"]


CASES = [
    ("unknown-key", _unknown_key, "relayer.poll_intervall_s", 2),
    ("wrong-type", _wrong_type, "relayer.lease_ttl_s", 2),
    ("signer-not-defined", _signer_not_defined, "nobody", 2),
    ("key-file-missing", _key_file_missing, "absent.key", 2),
    ("rpc-unreachable", _rpc_unreachable, "127.0.0.1", 1),
]


# Every case through `xgate run`; `xgate relayer run` reads its file through the same
# `services_cmd._run` (load_config, then run_services with its roles), so one case shows it:
# the unreachable node, the one that gets past the file to the role's own start. Each start
# is a Python process of several seconds.
RUNS = [(("run",), *case) for case in CASES] + [
    (("relayer", "run"), *case) for case in CASES if case[0] == "rpc-unreachable"
]


RUN_IDS = [f"{'-'.join(r[0])}:{r[1]}" for r in RUNS]
AT_ONCE = 2  # processes started at a time: this machine's cores


@pytest.fixture(scope="module")
def outcomes(net: FaultNet) -> dict[str, tuple[subprocess.CompletedProcess[str], float]]:
    """Each run's finished process and the seconds it took, ``AT_ONCE`` at a time: a start is
    mostly a Python process importing xgate (and for the unreachable node, retries waited
    out), so the runs need not wait for each other."""
    configs = [
        _variant(net, f"bad-{case}-{'-'.join(command)}", change)
        for command, case, change, _, _ in RUNS
    ]

    def start(
        command: tuple[str, ...], config: Path
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        done = subprocess.run(
            [*XGATE, *command, "--config", str(config), "--ops-port", "0"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )
        return done, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        results = list(pool.map(start, [r[0] for r in RUNS], configs))
    return dict(zip(RUN_IDS, results, strict=True))


@pytest.mark.parametrize(("command", "case", "change", "named", "code"), RUNS, ids=RUN_IDS)
def test_a_bad_config_stops_the_service_at_start_with_one_clear_line(
    outcomes: dict[str, tuple[subprocess.CompletedProcess[str], float]],
    command: tuple[str, ...],
    case: str,
    change: Callable[[dict[str, Any]], None],
    named: str,
    code: int,
) -> None:
    done, took = outcomes[f"{'-'.join(command)}:{case}"]
    lines = done.stderr.strip().splitlines()
    problems = [line for line in lines if " INFO " not in line and " WARNING " not in line]
    assert done.returncode == code, done.stderr
    assert len(problems) == 1, done.stderr
    assert named in problems[0], done.stderr
    assert "Traceback" not in done.stderr
    assert took < 30, f"took {took:.0f} s to give up"


def test_a_second_process_with_a_live_signer_is_refused(net: FaultNet) -> None:
    """The signer lock still refuses a live holder (a dead one's lock is taken over once its
    lease ends, see test_kill)."""
    config = net.config("busy.toml")
    first = ServiceProcess(config, ("relayer", "run")).start()
    first.wait_serving()
    try:
        second = subprocess.run(
            [*XGATE, "relayer", "run", "--config", str(config), "--ops-port", "0"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )
        assert second.returncode == 1, second.stderr
        assert "another process is signing with this key" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        assert first.stop() == 0, first.output()
