"""The adapter behaviour suite against anvil (the public-chain devnet)."""

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
async def adapter(anvil_node: Any) -> AsyncIterator[EvmAdapter]:
    config = EvmConfig(
        rpc_url=anvil_node.url,
        chain_id=ChainId(anvil_node.chain_id),
        # anvil auto-mines one block per transaction and never finalizes small chains, so the
        # suite waits for the block itself (depth 0); the depth rule is still exercised.
        finality=Finality.confirmations(0),
        poll_interval_s=0.02,
        max_log_range=2,  # force chunked eth_getLogs on the suite's small ranges
        retry=RetryPolicy(initial_delay=0.05, max_attempts=3),
    )
    async with EvmAdapter(config, [LocalSigner(anvil_node.accounts[0].private_key)]) as a:
        yield a


@pytest.fixture(scope="class")
def recipient(anvil_node: Any) -> Address:
    return Address(anvil_node.accounts[1].address)


@pytest.fixture(scope="class")
def expected_chain_id(anvil_node: Any) -> int:
    return int(anvil_node.chain_id)


class TestAnvilAdapter(ChainAdapterContract):
    pass
