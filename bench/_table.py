"""Shared output and timing helpers for ``python -m bench.NAME`` benchmarks.

Every benchmark prints a table for people, or with ``--json`` exactly one JSON object (its
figures) on stdout, so runs can be compared. Progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["emit", "format_value", "print_table", "progress", "rate", "rates"]


def format_value(value: Any) -> str:
    """Human form of a figure: thousands separators, 3 significant decimals, n/a for None."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def print_table(
    title: str,
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    *,
    file: Any = None,
) -> None:
    """Print ``rows`` under ``headers`` as an aligned plain-text table (numbers right-aligned)."""
    out = file if file is not None else sys.stdout
    cells = [[format_value(v) if not isinstance(v, str) else v for v in row] for row in rows]
    numeric = [
        all(not isinstance(row[i], str) or row[i] == "n/a" for row in rows) if rows else False
        for i in range(len(headers))
    ]
    widths = [
        max([len(headers[i])] + [len(row[i]) for row in cells if i < len(row)])
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    print(title, file=out)
    print(line(list(headers)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print(line(row), file=out)


def emit(
    figures: Mapping[str, Any],
    as_json: bool,
    *,
    title: str = "figures",
    rows: Sequence[Sequence[Any]] | None = None,
    headers: Sequence[str] | None = None,
) -> None:
    """Print the figures: one JSON object when ``as_json``, else a table.

    The table is ``rows``/``headers`` when given (a benchmark's own layout), else one row per
    figure.
    """
    if as_json:
        print(json.dumps(dict(figures), sort_keys=False))
        return
    if rows is None or headers is None:
        rows = [(name, value) for name, value in figures.items()]
        headers = ("figure", "value")
    print_table(title, rows, headers)


def progress(message: str) -> None:
    """One progress line on stderr (stdout stays clean for ``--json``)."""
    print(message, file=sys.stderr, flush=True)


def rate(fn: Callable[[], int], *, seconds: float = 1.0, rounds: int = 5) -> float:
    """Operations per second of ``fn`` (which returns how many operations one call did).

    Runs ``rounds`` rounds of at least ``seconds`` / ``rounds`` each and keeps the best, the
    usual way to filter out scheduler noise on a shared machine.
    """
    return rates({"fn": fn}, seconds=seconds, rounds=rounds)["fn"]


def rates(
    fns: Mapping[str, Callable[[], int]], *, seconds: float = 1.0, rounds: int = 5
) -> dict[str, float]:
    """Best operations/s of each function, with their rounds interleaved.

    Interleaving exposes every contender to the same background load, so ratios between them
    stay meaningful even when absolute numbers move; ``seconds`` is per function.
    """
    for fn in fns.values():
        fn()  # warm-up: imports, caches, first-call backend selection
    best = dict.fromkeys(fns, 0.0)
    per_round = seconds / rounds
    for _ in range(rounds):
        for name, fn in fns.items():
            done = 0
            start = time.perf_counter()
            elapsed = 0.0
            while elapsed < per_round:
                done += fn()
                elapsed = time.perf_counter() - start
            best[name] = max(best[name], done / elapsed)
    return best
