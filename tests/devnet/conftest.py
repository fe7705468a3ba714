"""Fixtures for the devnet node tests: nodes started with ``devnet.launcher`` on free loopback
ports and the shared plain JSON-RPC client (``harness.NodeRpc``, which also signs with the
node's dev-only keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from devnet.launcher import RunningNode, start_consortium, start_plain
from harness import NodeRpc


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture(scope="session")
async def devnet() -> AsyncIterator[RunningNode]:
    """The shared consortium node of this suite (instant seal, 4 validators)."""
    async with start_consortium(config={"instant_seal": True}) as node:
        yield node


@pytest.fixture(scope="session")
async def rpc(devnet: RunningNode, http: aiohttp.ClientSession) -> NodeRpc:
    return NodeRpc(devnet, http)


@pytest.fixture(scope="session")
async def plain() -> AsyncIterator[RunningNode]:
    async with start_plain() as node:
        yield node


@pytest.fixture(scope="session")
async def plain_rpc(plain: RunningNode, http: aiohttp.ClientSession) -> NodeRpc:
    return NodeRpc(plain, http)
