"""The consortium light client's progress survives a restart: the relay service saves the
highest verified header in the store and adopts it at start, instead of verifying forward from
the configured anchor again; a stored header the node no longer serves is refused."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.errors import HeaderInvalid
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.types import Address, ChainId, Hash32, Height
from gateway.store import Store
from harness.chain import make_chain
from relayers.trust import TrustSaver, restore_trust, trusted_to_json

BLOCKS = 5


def adapter(node: Any) -> QbftAdapter:
    return QbftAdapter(
        QbftConfig(
            rpc_url=node.url,
            chain_id=ChainId(node.chain_id),
            trusted_validators=tuple(Address(v) for v in node.validators),
        )
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite:///{tmp_path / 'trust.db'}")
    try:
        yield s
    finally:
        await s.close()


async def test_a_restarted_light_client_resumes_from_the_saved_header(
    consortium_node: Any, store: Store
) -> None:
    chain = make_chain("consortium", consortium_node.url, poa=True)
    for _ in range(BLOCKS):
        chain.mine()
    head = Height(chain.w3.eth.block_number)
    async with adapter(consortium_node) as before:
        await before.verified_header(head)
        assert before.latest_trusted().number == head
        await TrustSaver(store, before, interval_s=1.0).step()

    async with adapter(consortium_node) as after:
        assert after.latest_trusted().number == 0  # only the configured anchor
        await restore_trust(store, after)
        assert after.latest_trusted() == before.latest_trusted()
        # The next header verifies from the adopted one.
        chain.mine()
        verified = await after.verified_header(Height(head + 1))
        assert verified.number == head + 1


async def test_a_saved_header_the_node_does_not_serve_is_refused(
    consortium_node: Any, store: Store
) -> None:
    chain = make_chain("consortium", consortium_node.url, poa=True)
    chain.mine()
    head = Height(chain.w3.eth.block_number)
    async with adapter(consortium_node) as client:
        await client.verified_header(head)
        forged = dataclasses.replace(client.latest_trusted(), hash=Hash32(b"\x01" * 32))
        await store.save_trust_state(
            ChainId(consortium_node.chain_id), "qbft", {"latest": trusted_to_json(forged)}
        )
    async with adapter(consortium_node) as fresh:
        with pytest.raises(HeaderInvalid):
            await restore_trust(store, fresh)
        assert fresh.latest_trusted().number == 0
