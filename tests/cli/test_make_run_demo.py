"""`make run` = `xgate devnet up --public-chains 2 --private-terms public-2 --demo`: on fresh chains it deploys, starts
the services and walks through the nine flows (five bridge flows, four supply-chain finance
flows), each step carried across by the services, then keeps running until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path

from harness.services import start_devnet_up, stop_devnet_up

DEMO_TIMEOUT_S = 300
FLOWS = tuple(f"[{i}/9]" for i in range(1, 10))


MAKE_RUN = ["devnet", "up", "--public-chains", "2", "--private-terms", "public-2", "--demo"]


def test_this_is_what_make_run_runs() -> None:
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].splitlines()[1].split()
    assert recipe == ["$(BIN)/xgate", *MAKE_RUN]


def test_make_run_walks_through_every_flow_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    proc = start_devnet_up(tmp_path / "devnet.json", err, *MAKE_RUN[2:], stdout=out)
    try:
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        while "All flows done" not in out.read_text():
            assert proc.poll() is None, f"demo exited early:\n{out.read_text()}\n{err.read_text()}"
            assert time.monotonic() < deadline, f"demo unfinished:\n{out.read_text()}"
            time.sleep(0.5)
        text = out.read_text()
        assert all(flow in text for flow in FLOWS)
        assert text.count("✓") == 24  # every crossing was seen on the other side
        assert "with a commitment to its terms only" in text  # flow 6 went the private way
        assert "insufficient-history" in text  # flow 9: the wash ring got no score
        assert stop_devnet_up(proc) == 0  # Ctrl-C
    finally:
        stop_devnet_up(proc)  # a failed check: the nodes go too
