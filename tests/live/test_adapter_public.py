"""The adapter behaviour suite against the public dev chains: anvil, and the devnet node in
plain mode (which stands in for the public chain when anvil is not installed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.evm import EvmAdapter, EvmConfig
from adapters.retry import RetryPolicy
from adapters.signer import LocalSigner
from adapters.testing import ChainAdapterContract
from adapters.types import Address, ChainId, Finality

pytestmark = pytest.mark.live


@pytest.fixture(scope="class")
async def adapter(public_node: Any) -> AsyncIterator[EvmAdapter]:
    config = EvmConfig(
        rpc_url=public_node.url,
        chain_id=ChainId(public_node.chain_id),
        # Both nodes auto-mine one block per transaction and never finalize small chains, so
        # the suite waits for the block itself (depth 0); the depth rule is still exercised.
        finality=Finality.confirmations(0),
        poll_interval_s=0.02,
        max_log_range=2,  # force chunked eth_getLogs on the suite's small ranges
        retry=RetryPolicy(initial_delay=0.05, max_attempts=3),
    )
    async with EvmAdapter(config, [LocalSigner(public_node.accounts[0].private_key)]) as a:
        yield a


@pytest.fixture(scope="class")
def recipient(public_node: Any) -> Address:
    return Address(public_node.accounts[1].address)


@pytest.fixture(scope="class")
def expected_chain_id(public_node: Any) -> int:
    return int(public_node.chain_id)


class TestAnvilAdapter(ChainAdapterContract):
    @pytest.fixture(scope="class")
    @classmethod
    def public_node(cls, anvil_node: Any) -> Any:
        return anvil_node


class TestPlainDevnetAdapter(ChainAdapterContract):
    @pytest.fixture(scope="class")
    @classmethod
    def public_node(cls, plain_node: Any) -> Any:
        return plain_node
