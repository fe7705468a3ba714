"""`make run` = `xgate devnet up --public-chains 2 --demo`: on fresh chains it deploys, starts
the services and walks through the five flows, each step carried across by the services, then keeps running
until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

DEMO_TIMEOUT_S = 300
FLOWS = ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]")


def test_make_run_walks_through_every_flow_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "devnet", "up", "--public-chains", "2", "--demo",
             "--out", str(tmp_path / "devnet.json")],
            stdout=stdout,
            stderr=stderr,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        while "All flows done" not in out.read_text():
            assert proc.poll() is None, f"demo exited early:\n{out.read_text()}\n{err.read_text()}"
            assert time.monotonic() < deadline, f"demo unfinished:\n{out.read_text()}"
            time.sleep(0.5)
        text = out.read_text()
        assert all(flow in text for flow in FLOWS)
        assert text.count("✓") == 12  # every crossing was seen on the other side
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:  # a failed check: stop it as Ctrl-C would, so the nodes go too
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
