"""Several public chains at once, through the services: the consortium is the hub of two public
chains (what `xgate devnet up --public-chains 2` starts), one `xgate run` process relays every
route of the xgate.toml it writes (four), and users only send their own transactions.

A receivable tokenized on the consortium goes to public A, comes back (burnt on A's gateway,
released by the consortium vault) and goes on to public B, wrapped there with the same
financing metadata; every hop is delivered by the services with the destination's own check
(QBFT light client on A and B, attested headers on the consortium). Meanwhile settlement
tokens flow consortium -> A and consortium -> B, then back from both, concurrently.

Accounts (devnet.keys): the services sign with 1, 2 (attesters), 5 (relayer) and 6 (keeper);
the test sends from 0 (admin, issuer and minter), 7 and 8 (users).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from adapters.types import ChainId, TxHash
from gateway.cli.deployment import Deployed, deployment_summary
from gateway.cli.devnet_cmd import (
    PUBLIC_CHAIN_ID,
    deploy_hub,
    devnet_summary,
    public_side,
    write_dev_config,
)
from gateway.config import XgateConfig, load_config
from gateway.domain.status import MessageStatus
from gateway.store import Store
from harness.chain import Chain, make_chain, sync_clock
from harness.services import ServiceProcess, wait_until

ADMIN, ALICE, BOB = 0, 7, 8
PUBLIC_BLOCK_TIME_S = 1
DELIVERY_TIMEOUT_S = 120
# Deployment-key prefixes (gateway.cli.deployment.public_prefix) of public A and public B.
A, B = "p", "p2"


@dataclass
class Hub:
    consortium: Chain
    publics: dict[str, Chain]  # by deployment-key prefix
    deployed: dict[str, Deployed]
    config_path: Path
    config: XgateConfig

    def chain(self, prefix: str) -> Chain:
        return self.consortium if prefix == "c" else self.publics[prefix]

    def contract(self, key: str) -> Contract:
        """A deployed contract by its deployment key ("c.vault", "p2.asset_gateway" ...)."""
        item = self.deployed[key]
        chain = self.chain(key.split(".", 1)[0])
        return chain.at(item.artifact, to_checksum_address(item.address))

    def address(self, account: int) -> str:
        return str(self.consortium.accounts[account].address)

    def sync_clocks(self) -> None:
        """The consortium's instant-seal blocks run ahead of the wall clock; the public light
        clients take no header from further ahead than their drift."""
        for public in self.publics.values():
            sync_clock(public, self.consortium)

    def statuses(self, prefix: str, receipt: Any) -> list[MessageStatus]:
        """What the services recorded for the messages of a source transaction on ``prefix``."""

        async def read() -> list[MessageStatus]:
            store = await Store.open(self.config.store.url, migrate=False)
            try:
                records = await store.messages_by_tx(
                    ChainId(self.chain(prefix).chain_id), TxHash(bytes(receipt["transactionHash"]))
                )
                return [r.status for r in records]
            finally:
                await store.close()

        return asyncio.run(read())


@pytest.fixture(scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    from devnet.launcher import start_consortium, start_public

    folder = tmp_path_factory.mktemp("multi-public")
    async with (
        start_consortium(config={"instant_seal": True}) as consortium,
        AsyncExitStack() as stack,
    ):
        nodes = [
            await stack.enter_async_context(
                start_public(prefer_anvil=True, chain_id=PUBLIC_CHAIN_ID + i)
            )
            for i in range(2)
        ]
        deployment = await deploy_hub(consortium, nodes)
        c = make_chain("consortium", consortium.url, poa=True)
        publics = {A: make_chain(public_side(0), nodes[0].url)}
        publics[B] = make_chain(public_side(1), nodes[1].url)
        for public in publics.values():
            # Deployed in a burst, the consortium's block times ran ahead of the wall clock;
            # each public chain catches up, then mines a block every second.
            sync_clock(public, c)
            public.rpc("evm_setIntervalMining", PUBLIC_BLOCK_TIME_S)
        summary = devnet_summary(consortium, *nodes)
        summary["contracts"] = deployment_summary(deployment.contracts)
        config_path = folder / "xgate.toml"
        write_dev_config(config_path, summary, deployment.anchor, consortium)
        yield Hub(c, publics, deployment.contracts, config_path, load_config(config_path))


@pytest.fixture(scope="module")
def services(hub: Hub) -> Iterator[ServiceProcess]:
    service = ServiceProcess(hub.config_path).start()
    service.wait_serving()
    yield service
    code = service.stop()
    assert code == 0, service.output()


def test_the_hub_config_relays_four_routes_and_attests_both_public_chains(hub: Hub) -> None:
    cfg = hub.config
    assert {route.name for route in cfg.routes} == {
        "consortium->public",
        "public->consortium",
        "consortium->public-2",
        "public-2->consortium",
    }
    assert cfg.attester is not None and set(cfg.attester.chains) == {"public", "public-2"}
    c_endpoint, header_store = hub.contract("c.endpoint"), hub.contract("c.header_store")
    vault = hub.contract("c.vault")
    for prefix in (A, B):
        chain_id = hub.chain(prefix).chain_id
        endpoint, gateway = (
            hub.contract(f"{prefix}.endpoint"),
            hub.contract(f"{prefix}.asset_gateway"),
        )
        assert c_endpoint.functions.route(chain_id).call() == [
            endpoint.address,
            header_store.address,
            False,
        ]
        assert vault.functions.remoteOf(chain_id).call() == gateway.address
        assert endpoint.functions.route(hub.consortium.chain_id).call() == [
            c_endpoint.address,
            hub.contract(f"{prefix}.qbft_light_client").address,
            False,
        ]


def test_a_receivable_travels_public_a_to_consortium_to_public_b_while_tokens_flow_both_routes(
    hub: Hub, services: ServiceProcess
) -> None:
    c, a, b = hub.consortium, hub.publics[A], hub.publics[B]
    receivable, vault = hub.contract("c.receivable"), hub.contract("c.vault")
    token = hub.contract("c.settlement_token")
    alice, bob = hub.address(ALICE), hub.address(BOB)

    def wait(check: Any, what: str) -> Any:
        return wait_until(check, DELIVERY_TIMEOUT_S, what, services)

    def delivered(prefix: str, receipt: Any, count: int = 1) -> None:
        wait(
            lambda: hub.statuses(prefix, receipt) == [MessageStatus.DELIVERED] * count,
            f"the message(s) of a {prefix} transaction recorded as delivered",
        )

    # A receivable with its financing metadata, tokenized on the consortium for Alice.
    due = int(c.w3.eth.get_block("latest")["timestamp"]) + 90 * 86400
    document = c.w3.keccak(text="multi-public invoice INV-2026-0007.pdf")
    financing = (bob, alice, 98_000_00, b"CNY", due, bytes(document))
    c.send(receivable.functions.tokenize(alice, financing), sender=ADMIN)
    token_id = receivable.functions.tokenOfDocument(document).call()
    assert token_id > 0
    transfer = receivable.get_function_by_signature(
        "safeTransferFrom(address,address,uint256,bytes)"
    )

    def lock_receivable(to: str) -> Any:
        data = c.w3.codec.encode(["uint256", "address"], [hub.chain(to).chain_id, alice])
        return c.send(transfer(alice, vault.address, token_id, data), sender=ALICE)

    # Settlement tokens to both public chains, in the same blocks as the receivable's first hop.
    amounts = {A: 4_000_000, B: 6_000_000}
    c.send(token.functions.mint(bob, sum(amounts.values())), sender=ADMIN)
    c.send(token.functions.approve(vault.address, sum(amounts.values())), sender=BOB)
    start_balance = token.functions.balanceOf(bob).call()
    locks = {
        p: c.send(
            vault.functions.lockERC20(token.address, amount, hub.chain(p).chain_id, bob),
            sender=BOB,
        )
        for p, amount in amounts.items()
    }
    to_a = lock_receivable(A)
    assert vault.functions.lockedTo(receivable.address, token_id).call() == a.chain_id
    hub.sync_clocks()

    # Hop 1: consortium -> public A (QBFT light client on A).
    wrapped_a = hub.contract(f"{A}.wrapped_receivable")
    wait(
        lambda: wrapped_a.functions.balanceOf(alice).call() == 1,
        "the wrapped receivable on public A",
    )
    assert wrapped_a.functions.ownerOf(token_id).call() == alice
    assert tuple(wrapped_a.functions.financingOf(token_id).call()) == financing
    delivered("c", to_a)
    for p, amount in amounts.items():
        wrapped = hub.contract(f"{p}.wrapped_settlement_token")
        wait(
            lambda w=wrapped, n=amount: w.functions.balanceOf(bob).call() == n,
            f"the wrapped settlement tokens on {p}",
        )
        delivered("c", locks[p])

    # Hop 2: public A -> consortium (burnt on A's gateway, attested A header on the hub);
    # meanwhile the settlement tokens come back from both public chains.
    back = hub.contract(f"{A}.asset_gateway").functions.burnERC721(
        wrapped_a.address, token_id, alice
    )
    from_a = a.send(back, sender=ALICE)
    burns = {
        p: hub.chain(p).send(
            hub.contract(f"{p}.asset_gateway").functions.burnERC20(
                hub.contract(f"{p}.wrapped_settlement_token").address, amount, bob
            ),
            sender=BOB,
        )
        for p, amount in amounts.items()
    }
    wait(
        lambda: receivable.functions.ownerOf(token_id).call() == alice,
        "the receivable released on the consortium",
    )
    assert vault.functions.lockedTo(receivable.address, token_id).call() == 0
    assert wrapped_a.functions.balanceOf(alice).call() == 0
    delivered(A, from_a)

    # Hop 3: consortium -> public B, the same receivable with the same financing metadata.
    to_b = lock_receivable(B)
    assert vault.functions.lockedTo(receivable.address, token_id).call() == b.chain_id
    hub.sync_clocks()
    wrapped_b = hub.contract(f"{B}.wrapped_receivable")
    wait(
        lambda: wrapped_b.functions.balanceOf(alice).call() == 1,
        "the wrapped receivable on public B",
    )
    assert wrapped_b.functions.ownerOf(token_id).call() == alice
    assert tuple(wrapped_b.functions.financingOf(token_id).call()) == financing
    assert tuple(wrapped_b.functions.financingOf(token_id).call()) == tuple(
        receivable.functions.financingOf(token_id).call()
    )
    # B's wrapped receivable names the consortium's original, as A's does.
    for wrapped in (wrapped_a, wrapped_b):
        assert wrapped.functions.homeToken().call() == receivable.address
        assert wrapped.functions.homeChainId().call() == c.chain_id
    delivered("c", to_b)

    # The settlement tokens are all home, every message delivered once.
    wait(
        lambda: token.functions.balanceOf(bob).call() == start_balance,
        "the settlement tokens released on the consortium",
    )
    for p, burn in burns.items():
        delivered(p, burn)
        wrapped = hub.contract(f"{p}.wrapped_settlement_token")
        assert wrapped.functions.balanceOf(bob).call() == 0
    # Per route in /metrics (the message gauges are refreshed from the store every few s).
    expected = {
        "consortium->public": 2.0,  # settlement tokens, the receivable's first hop
        "consortium->public-2": 2.0,  # settlement tokens, the receivable's last hop
        "public->consortium": 2.0,  # settlement tokens, the receivable's way back
        "public-2->consortium": 1.0,  # settlement tokens
    }
    wait(
        lambda: all(
            f'xgate_messages{{route="{route}",status="delivered"}} {n}' in services.metrics()
            for route, n in expected.items()
        ),
        "every route's deliveries in /metrics",
    )
    metrics = services.metrics()
    for side in ("public", "public-2"):
        assert f'xgate_light_client_height{{chain="{side}",source="consortium"}}' in metrics
