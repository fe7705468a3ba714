"""The relay services on the devnet, as an operator runs them: `xgate run` (relayer and two
attesters) as a real process on the xgate.toml that `xgate devnet up` writes, and users who
only send their own transactions. Settlement tokens go to the public chain and come back
without any test code relaying."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from gateway.cli.deployment import Deployed, deployment_summary
from gateway.cli.devnet_cmd import deploy_anchored, devnet_summary, write_dev_config
from gateway.config import XgateConfig, load_config
from gateway.domain.status import MessageStatus
from gateway.store import Store
from harness.chain import Chain, make_chain, sync_clock
from tests.helpers.services import ServiceProcess, wait_until

ADMIN, USER = 0, 7
DELIVERY_TIMEOUT_S = 90
PUBLIC_BLOCK_TIME_S = 1


@dataclass
class Net:
    consortium: Chain
    public: Chain
    deployed: dict[str, Deployed]
    config_path: Path
    config: XgateConfig

    def contract(self, key: str) -> Contract:
        """A deployed contract by its deployment key ("c.vault", "p.asset_gateway" ...)."""
        item = self.deployed[key]
        chain = self.consortium if key.startswith("c.") else self.public
        return chain.at(item.artifact, to_checksum_address(item.address))

    def address(self, account: int) -> str:
        return str(self.consortium.accounts[account].address)


@pytest.fixture(scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Net]:
    from devnet.launcher import start_consortium, start_public

    folder = tmp_path_factory.mktemp("relay-service")
    async with (
        start_consortium(config={"instant_seal": True}) as consortium,
        start_public(prefer_anvil=True) as public,
    ):
        contracts, anchor = await deploy_anchored(consortium, public)
        chains = (
            make_chain("consortium", consortium.url, poa=True),
            make_chain("public", public.url),
        )
        # Deployed in a burst, the consortium's block times ran ahead of the wall clock; the
        # public chain catches up, then mines a block every second as a public chain does.
        sync_clock(chains[1], chains[0])
        chains[1].w3.provider.make_request("evm_setIntervalMining", [PUBLIC_BLOCK_TIME_S])
        summary = devnet_summary(consortium, public)
        summary["contracts"] = deployment_summary(contracts)
        config_path = folder / "xgate.toml"
        write_dev_config(config_path, summary, anchor, consortium)
        config = load_config(config_path)  # the store path resolves beside the file
        yield Net(
            *chains,
            contracts,
            config_path,
            config,
        )


@pytest.fixture(scope="module")
def services(net: Net) -> AsyncIterator[ServiceProcess]:
    service = ServiceProcess(net.config_path).start()
    service.wait_serving()
    yield service
    code = service.stop()
    assert code == 0, service.output()


async def statuses(net: Net, tx_hash: bytes, chain_id: int) -> list[MessageStatus]:
    store = await Store.open(net.config.store.url, migrate=False)
    try:
        return [m.status for m in await store.messages_by_tx(chain_id, tx_hash)]
    finally:
        await store.close()


def test_settlement_tokens_cross_to_the_public_chain_and_back_through_the_services(
    net: Net, services: ServiceProcess
) -> None:
    c, p = net.consortium, net.public
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    wrapped = net.contract("p.wrapped_settlement_token")
    gateway = net.contract("p.asset_gateway")
    user, amount = net.address(USER), 3_000_000
    c.send(token.functions.mint(user, amount), sender=ADMIN)
    c.send(token.functions.approve(vault.address, amount), sender=USER)
    lock = c.send(vault.functions.lockERC20(token.address, amount, p.chain_id, user), sender=USER)

    wait_until(
        lambda: wrapped.functions.balanceOf(user).call() == amount,
        DELIVERY_TIMEOUT_S,
        "the wrapped tokens on the public chain",
        services,
    )
    wait_until(
        lambda: (
            asyncio.run(statuses(net, bytes(lock["transactionHash"]), c.chain_id))
            == [MessageStatus.DELIVERED]
        ),
        DELIVERY_TIMEOUT_S,
        "the message recorded as delivered",
        services,
    )

    before = token.functions.balanceOf(user).call()
    burn = p.send(gateway.functions.burnERC20(wrapped.address, amount, user), sender=USER)
    wait_until(
        lambda: token.functions.balanceOf(user).call() == before + amount,
        DELIVERY_TIMEOUT_S,
        "the released tokens on the consortium",
        services,
    )
    wait_until(
        lambda: (
            asyncio.run(statuses(net, bytes(burn["transactionHash"]), p.chain_id))
            == [MessageStatus.DELIVERED]
        ),
        DELIVERY_TIMEOUT_S,
        "the message recorded as delivered",
        services,
    )
    # The message gauges are refreshed from the store every few seconds.
    wait_until(
        lambda: (
            'xgate_messages{route="public->consortium",status="delivered"} 1.0'
            in services.metrics()
        ),
        DELIVERY_TIMEOUT_S,
        "the delivered messages in /metrics",
        services,
    )
    metrics = services.metrics()
    assert 'xgate_messages{route="consortium->public",status="delivered"} 1.0' in metrics
    assert 'xgate_light_client_height{chain="public",source="consortium"}' in metrics
