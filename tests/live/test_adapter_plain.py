"""The adapter behaviour suite against the devnet node in plain mode (the public chain when
anvil is not installed)."""

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
async def adapter(plain_node: Any) -> AsyncIterator[EvmAdapter]:
    config = EvmConfig(
        rpc_url=plain_node.url,
        chain_id=ChainId(plain_node.chain_id),
        finality=Finality.confirmations(0),  # auto-mine: a block per transaction
        poll_interval_s=0.02,
        max_log_range=2,  # force chunked eth_getLogs on the suite's small ranges
        retry=RetryPolicy(initial_delay=0.05, max_attempts=3),
    )
    async with EvmAdapter(config, [LocalSigner(plain_node.accounts[0].private_key)]) as a:
        yield a


@pytest.fixture(scope="class")
def recipient(plain_node: Any) -> Address:
    return Address(plain_node.accounts[1].address)


@pytest.fixture(scope="class")
def expected_chain_id(plain_node: Any) -> int:
    return int(plain_node.chain_id)


class TestPlainDevnetAdapter(ChainAdapterContract):
    pass
