"""Receivables on both session nodes (the consortium devnet and anvil), with the API on them: the
contracts' world of tests/contracts/test_receivable_privacy.py (an ``AssetVault``, a home
``Receivable``, a ``WrappedReceivable`` on anvil; deliveries proven with real receipt proofs
against a test header oracle, the cheapest real path), and ``create_app`` on a SQLite store
with a configuration naming those contracts and read access to both nodes, served as
tests/api/conftest.py serves the app (``serve``).

Tokens: ``home_only`` (acknowledged, never bridged), ``public`` (bridged over the route while
its terms were public: a copy with full terms), ``private`` (bridged after the route was made
private, with ``salt``: a copy with only the commitment), ``other_private`` (another private
copy, its own salt), ``financed`` (assigned with financing to ``FINANCIER``, who split it:
``part`` is its second part). Token ``MISSING`` was never drafted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.registry import build_adapter
from adapters.types import Hash32
from gateway.api.chains import ChainAccess
from gateway.api.v1 import v1_api
from gateway.config import XgateConfig
from gateway.domain.apikeys import Scope
from gateway.domain.disclosure import Disclosure, new_salt
from gateway.store import Store
from harness import Chain, make_chain
from tests.api.conftest import ApiClient, Caller, create_caller, serve
from tests.contracts._assets_helpers import ALICE, send
from tests.contracts.test_assets_crosschain import _side
from tests.contracts.test_receivable_privacy import PrivateWorld
from tests.contracts.test_receivable_settlement_bridge import FACE, FINANCIER
from tests.helpers.proofs import adapter_config

MISSING = 10**9
ADVANCE = FACE * 9 // 10


@dataclass
class ReceivableNet:
    world: PrivateWorld
    config: XgateConfig
    api: ApiClient  # a read key
    reader: Caller
    url: str
    hub_id: int
    public_id: int
    home_only: int
    public: int
    private: int
    salt: Hash32
    other_private: int
    other_salt: Hash32
    financed: int  # assigned with financing to FINANCIER, then split by it
    part: int  # its second part

    def disclosure(self, token_id: int, salt: bytes) -> Disclosure:
        return self.world.disclosure(token_id, salt)


def _config(store_url: str, w: PrivateWorld) -> XgateConfig:
    hub = adapter_config(w.home.chain)
    trusted = getattr(hub, "trusted_validators", ())
    return XgateConfig.model_validate(
        {
            "store": {"url": store_url},
            "chains": {
                "consortium": {
                    "kind": "qbft",
                    "rpc_urls": [hub.rpc_url],
                    "chain_id": w.home.id,
                    "finality": "instant",
                    "trusted_validators": ["0x" + bytes(v).hex() for v in trusted],
                    "contracts": {
                        "endpoint": w.home.endpoint.address,
                        "header_store": w.home.oracle.address,  # unused here
                        "receivable": w.receivable.address,
                        "vault": w.vault.address,
                    },
                },
                "public": {
                    "kind": "evm",
                    "rpc_urls": [adapter_config(w.foreign.chain).rpc_url],
                    "chain_id": w.foreign.id,
                    "finality": {"confirmations": 0},
                    "contracts": {
                        "endpoint": w.foreign.endpoint.address,
                        "light_client": w.foreign.oracle.address,  # unused here
                        "wrapped_receivable": w.wrapped.address,
                    },
                },
            },
            "routes": [
                {"from": "consortium", "to": "public", "private_terms": True},
                {"from": "public", "to": "consortium"},
            ],
        }
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _world(
    anvil_url: str, consortium_url: str, salt: bytes, other_salt: bytes
) -> tuple[PrivateWorld, tuple[int, ...]]:
    consortium: Chain = make_chain("consortium", consortium_url, poa=True)
    anvil: Chain = make_chain("anvil", anvil_url)
    w = PrivateWorld(_side(consortium), _side(anvil))
    home_only = w.receivable_of_alice()
    public = w.receivable_of_alice()
    w.to_foreign(w.lock(public))
    w.set_private(True)
    private, other_private = w.receivable_of_alice(), w.receivable_of_alice()
    w.to_foreign(w.lock_private(private, salt))
    w.to_foreign(w.lock_private(other_private, other_salt))
    financed = w.receivable_of_alice()
    r = w.receivable.functions
    send(w.home.chain, r.assignWithFinancing(w.addr(FINANCIER), financed, ADVANCE, 250), ALICE)
    send(w.home.chain, r.split(financed, [FACE // 4, FACE - FACE // 4]), FINANCIER)
    part = int(r.totalTokenized().call())  # the second part
    return w, (home_only, public, private, other_private, financed, part)


@pytest.fixture(scope="module")
async def net(
    anvil_node: Any, consortium_node: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ReceivableNet]:
    """The receivables' world and API for one test module (``from tests.helpers.receivables
    import net as net``)."""
    folder = tmp_path_factory.mktemp("receivables")
    salt, other_salt = new_salt(), new_salt()
    # The proofs are made on an event loop of their own: off this one.
    w, (home_only, public, private, other_private, financed, part) = await asyncio.to_thread(
        _world, anvil_node.url, consortium_node.url, salt, other_salt
    )
    config = _config(f"sqlite:///{folder / 'xgate.db'}", w)
    store = await Store.open(config.store.url, migrate=True)
    chains = ChainAccess(config, lambda name, chain: build_adapter(chain.adapter_config(name)))
    try:
        reader = await create_caller(store, Scope.READ, name="receivables")
        async with serve(store, config, _utcnow, api=v1_api(), chains=chains) as api:
            yield ReceivableNet(
                world=w,
                config=config,
                api=api.using(reader),
                reader=reader,
                url=str(api.client.make_url("")).rstrip("/"),
                hub_id=w.home.id,
                public_id=w.foreign.id,
                home_only=home_only,
                public=public,
                private=private,
                salt=salt,
                other_private=other_private,
                other_salt=other_salt,
                financed=financed,
                part=part,
            )
    finally:
        await chains.aclose()
        await store.close()
