"""The finance folder's devnet: the consortium (QBFT, instant seal) and one public chain whose
route from the consortium carries receivables with private terms, deployed as
``xgate devnet up --private-terms public`` does, with the demo's dev accounts; and one
``xgate run`` process (relayer, attesters, keeper) carrying everything across, as an operator
runs it. The tests act only as users do, through the flows of gateway/cli/finance_demo.py.

Its own devnet, not the e2e folder's: these flows move every chain's clock by months.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from gateway.cli.demo_sides import DEMO_ACCOUNTS, Side, open_sides
from gateway.cli.deployment import deployment_summary
from gateway.config import XgateConfig, load_config
from harness.relaynet import RelayNet, running_services
from harness.services import ServiceProcess


@dataclass
class Finance:
    net: RelayNet
    cfg: XgateConfig
    consortium: Side
    public: Side  # its route has private terms


@pytest.fixture(scope="package")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RelayNet]:
    folder = tmp_path_factory.mktemp("finance-devnet")
    async with RelayNet.start(folder, accounts=DEMO_ACCOUNTS, private_terms=("public",)) as n:
        yield n


@pytest.fixture(scope="package")
def services(net: RelayNet) -> Iterator[ServiceProcess]:
    with running_services(net.config_path) as service:
        yield service


@pytest.fixture
async def finance(net: RelayNet, services: ServiceProcess) -> AsyncIterator[Finance]:
    """The users' view of both chains (adapters with the dev keys), for one test."""
    cfg = load_config(net.config_path)
    consortium, publics = open_sides({"contracts": deployment_summary(net.deployed)}, cfg)
    for side in (consortium, *publics):
        await side.adapter.start()
    try:
        yield Finance(net, cfg, consortium, publics[0])
    finally:
        for side in (consortium, *publics):
            await side.adapter.aclose()
