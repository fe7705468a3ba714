"""Fixtures for contract tests: the committed artifacts deployed on live nodes.

``chain`` runs a test once on anvil and once on the consortium devnet node (both started once
per session by tests/conftest.py), through the shared web3 harness (``harness.chain``).
Keys are the devnets' well-known dev keys (dev only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness import Chain, make_chain


@pytest.fixture(scope="session")
def anvil_chain(anvil_node: Any) -> Chain:
    return make_chain("anvil", anvil_node.url)


@pytest.fixture(scope="session")
def consortium_chain(consortium_node: Any) -> Chain:
    return make_chain("consortium", consortium_node.url, poa=True)


@pytest.fixture(params=["anvil", "consortium"])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """The test runs on both chains: anvil (public) and the QBFT consortium devnet."""
    yield request.getfixturevalue(f"{request.param}_chain")
