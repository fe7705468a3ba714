"""What every ``bench.gas_*`` module shares: ``standalone`` runs and ``median``.

The modules measure with the shared web3 harness (``harness.Chain``): dev accounts sign
locally, every transaction must succeed (a revert raises ``harness.Reverted`` and stops the
benchmark rather than giving a figure). Figures are receipt ``gasUsed``, which the fee
parameters and gas margins do not change.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Callable, Sequence

from bench._table import emit, progress
from devnet.anvil import start_anvil


def median(samples: Sequence[int]) -> int:
    return int(statistics.median(samples))


def standalone(
    measure: Callable[[str], dict[str, int]], doc: str | None, title: str, argv: list[str] | None
) -> None:
    """``python -m bench.gas_<area> [--json]``: ``measure`` on a fresh anvil, printed as a table
    or one JSON object (``bench.gas`` runs every area together)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures")
    args = parser.parse_args(argv)

    async def run() -> dict[str, int]:
        async with start_anvil() as node:
            return await asyncio.to_thread(measure, node.url)

    progress(f"{title}: starting anvil")
    emit(asyncio.run(run()), args.json, title=title)
