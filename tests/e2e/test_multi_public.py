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
from functools import cached_property
from typing import Any

import pytest

from adapters.types import ChainId, TxHash
from gateway.config import XgateConfig, load_config
from gateway.domain.status import MessageStatus
from gateway.store import Store
from harness.chain import sync_clock
from harness.relaynet import SELF_FUNDED_ACCOUNTS, RelayNet, running_services
from harness.services import ServiceProcess, wait_until
from tests.contracts._assets_helpers import draft_acknowledged

ADMIN, ALICE, BOB = 0, 7, 8
DELIVERY_TIMEOUT_S = 120
# Deployment-key prefixes (gateway.cli.deployment.public_prefix) of public A and public B.
A, B = "p", "p2"


class Hub(RelayNet):
    @cached_property
    def config(self) -> XgateConfig:
        return load_config(self.config_path)

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
    folder = tmp_path_factory.mktemp("multi-public")
    async with Hub.start(folder, public_chains=2, accounts=SELF_FUNDED_ACCOUNTS) as net:
        yield net


@pytest.fixture(scope="module")
def services(hub: Hub) -> Iterator[ServiceProcess]:
    with running_services(hub.config_path) as service:
        yield service


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

    # A receivable with its financing metadata, drafted on the consortium for Alice (bob acks).
    due = int(c.w3.eth.get_block("latest")["timestamp"]) + 90 * 86400
    document = c.w3.keccak(text="multi-public invoice INV-2026-0007.pdf")
    financing = (bob, alice, 98_000_00, b"CNY", due, bytes(document))
    token_id = draft_acknowledged(c, receivable, financing, drafter=ADMIN)
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
