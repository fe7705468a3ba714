"""Session-wide fixtures: live nodes started once per test session on free loopback ports.

- ``anvil_node``: anvil (skipped with a reason when ``make`` has not installed it);
- ``consortium_node``: the devnet QBFT node, instant seal (devnet.launcher);
- ``plain_node``: the devnet node in plain mode (devnet.launcher);
- ``emitter_init_code``: the committed build of tests/live/Emitter.sol.

Each node is stopped when the session ends. Nodes start lazily: a module that needs none
starts none.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

LIVE_DIR = Path(__file__).parent / "live"


@pytest.fixture(scope="session")
async def anvil_node() -> AsyncIterator[Any]:
    from devnet.anvil import start_anvil

    # No skip when anvil is missing: `make` installs it, and start_anvil says so if it is not.
    async with start_anvil(chain_id=31337) as node:
        yield node


@pytest.fixture(scope="session")
async def consortium_node() -> AsyncIterator[Any]:
    from devnet.launcher import start_consortium

    async with start_consortium(config={"instant_seal": True}) as node:
        yield node


@pytest.fixture(scope="session")
async def plain_node() -> AsyncIterator[Any]:
    from devnet.launcher import start_plain

    async with start_plain() as node:
        yield node


@pytest.fixture(scope="session")
def emitter_init_code() -> bytes:
    artifact = json.loads((LIVE_DIR / "Emitter.bin.json").read_text())
    return bytes.fromhex(artifact["bytecode"][2:])
