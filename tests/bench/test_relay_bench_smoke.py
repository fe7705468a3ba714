"""``python -m bench.relay --quick`` runs end to end: the devnet, the real service processes
(``xgate run``, one and three ``xgate relayer run`` on SQLite and PostgreSQL) and every figure
of the three parts, with small counts. The figures themselves are the benchmark's business;
this only checks that the script works and reports what the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.live


def test_the_relay_benchmark_quick_mode_reports_latency_throughput_and_memory() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.relay", "--quick", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(done.stdout)

    latency = figures["latency"]
    for direction in ("c2p", "p2c"):
        for figure in ("p50_s", "p95_s", "p50_blocks", "p95_blocks"):
            assert latency[f"{direction}_poll0.25_{figure}"] >= 0
    assert isinstance(latency["c2p_poll0.25_target_met"], bool)

    throughput = figures["throughput"]
    assert throughput["capacity_slower_tx_per_s"] > 0
    assert throughput["capacity_consortium_lock_per_s"] > 0
    for run in ("1_sqlite", "1_pg", "3_pg"):
        assert throughput[f"{run}_transfers"] == 20
        assert throughput[f"{run}_undelivered"] == 0
        assert throughput[f"{run}_delivered_per_s"] >= throughput[f"{run}_end_to_end_per_s"] > 0
        assert throughput[f"{run}_relay_gas_per_message"] > 0
        assert throughput[f"{run}_relay_capacity_per_s"] > 0
        assert 0 < throughput[f"{run}_reference_per_s"] <= throughput[f"{run}_source_per_s"]
        assert throughput[f"{run}_share_of_reference"] > 0
        assert throughput[f"{run}_share_of_capacity"] > 0
        assert isinstance(throughput[f"{run}_target_met"], bool)

    memory = figures["memory"]
    assert memory["messages"] == 40
    assert 0 < memory["rss_start_kib"] <= memory["rss_peak_kib"]
    assert memory["rss_end_kib"] > 0
    assert isinstance(memory["flat"], bool)
