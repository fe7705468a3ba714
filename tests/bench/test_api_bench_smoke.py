"""``python -m bench.api --quick`` runs end to end: a real ``xgate api`` process on SQLite and
on PostgreSQL, status reads, registrations and the store's own read, with small counts. The
figures are the benchmark's business; this checks that the script works and reports what the
issue asks for (reads/s, p99, registrations/s, the API's overhead over the store, the
target, the ceiling of a bare aiohttp process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_api_benchmark_quick_mode_reports_reads_registrations_and_overhead() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.api", "--quick", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(done.stdout)
    assert set(figures) == {"sqlite", "postgresql"}
    for store, f in figures.items():
        assert f["messages"] == 200, store
        assert f["reads"] > 0 and f["read_errors"] == 0, (store, f["read_statuses"])
        assert f["reads_per_s"] > 0
        assert 0 < f["read_p50_ms"] <= f["read_p99_ms"]
        assert f["registration"] in ("track", "webhook")
        assert f["registrations"] == 40 and f["registration_errors"] == 0, (
            store,
            f["registration_statuses"],
        )
        assert f["registrations_per_s"] > 0
        assert f["bare_reads_per_s"] > 0 and f["share_of_bare"] > 0
        assert f["store_reads_per_s"] > 0
        assert f["api_overhead_ratio"] > 0
        assert isinstance(f["target_met"], bool)
