"""Backfill: a message whose source block is at or below the light client's latest header
(someone else, here a third party, moved the client past it first) is still delivered: the
header feeder submits that older header (``QbftLightClientView.backfill_request``) instead of
waiting for the client to reach a height it has passed. Its own devnet: the relay services
start only once the client is ahead."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.headers import encode_header
from harness.relaynet import SELF_FUNDED_ACCOUNTS, running_services
from tests.e2e.conftest import Devnet, wait_delivered
from tests.helpers.proofs import checked_header

pytestmark = pytest.mark.live

ADMIN, STRANGER, ALICE = 0, 3, 7
AMOUNT = 7 * 10**6


@pytest.fixture(scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Devnet]:
    folder = tmp_path_factory.mktemp("backfill")
    async with Devnet.start(folder, accounts=SELF_FUNDED_ACCOUNTS) as devnet:
        yield devnet


def test_a_message_below_the_light_clients_latest_header_is_backfilled_and_delivered(
    net: Devnet,
) -> None:
    c, p = net.consortium, net.public
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    lc = net.contract("p.qbft_light_client")
    alice = net.address(ALICE)
    c.send(token.functions.mint(alice, AMOUNT), sender=ADMIN)
    c.send(token.functions.approve(vault.address, AMOUNT), sender=ALICE)
    lock = c.send(vault.functions.lockERC20(token.address, AMOUNT, net.pid, alice), sender=ALICE)
    # a later consortium block's header, submitted by anyone before the relayer runs
    later = c.send(token.functions.mint(alice, 1), sender=ADMIN)
    header, _ = checked_header(c, int(later["blockNumber"]))
    net.sync_clocks()
    p.send(lc.functions.submitHeader(encode_header(header)), sender=STRANGER)
    assert lc.functions.latestNumber().call() > lock["blockNumber"]
    assert not lc.functions.isAccepted(bytes(lock["blockHash"])).call()
    wrapped = net.contract("p.wrapped_settlement_token").functions
    before = wrapped.balanceOf(alice).call()

    with running_services(net.config_path) as services:
        [record] = wait_delivered(net, services, "c", lock)

    assert record.src_tx_hash == bytes(lock["transactionHash"])
    assert lc.functions.isAccepted(bytes(lock["blockHash"])).call()  # the older header, added
    assert lc.functions.latestNumber().call() >= later["blockNumber"]  # the latest kept
    assert wrapped.balanceOf(alice).call() == before + AMOUNT
