"""A consortium node restarted on the same data directory comes back with its whole chain."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from adapters.errors import ConfigError
from adapters.headers import header_from_rpc
from adapters.lightclient.qbft import trust_header, verify_next
from devnet.keys import validator_keys
from devnet.launcher import start_consortium
from harness import NodeRpc

NEWCOMER = "0x" + "5a" * 20
CANDIDATE = "0x" + validator_keys(5)[4].address.hex()


async def test_restart_keeps_blocks_state_seals_votes_and_allowlist(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = {"instant_seal": True, "spare_validators": 1}
    async with start_consortium(config=config, data_dir=tmp_path) as node:
        rpc = NodeRpc(node, http)
        receipt = await rpc.send(node.accounts[0], to=node.accounts[1].hex_address, value=4242)
        await rpc.call("perm_addAccountsToAllowlist", [NEWCOMER])
        await rpc.call("qbft_proposeValidatorVote", CANDIDATE, True)
        await rpc.call("evm_mine")  # casts one vote (of the 3 needed)
        head = await rpc.block("latest", True)
        balance = await rpc.call("eth_getBalance", node.accounts[1].hex_address, "latest")
        allowlist = await rpc.call("perm_getAccountsAllowlist")
        first_pid = node.pid

    async with start_consortium(config=config, data_dir=tmp_path) as node:
        assert node.pid != first_pid
        rpc = NodeRpc(node, http)
        assert await rpc.block("latest", True) == head
        assert await rpc.call("eth_getBalance", node.accounts[1].hex_address, "latest") == balance
        assert await rpc.call("eth_getTransactionReceipt", receipt["transactionHash"]) == receipt
        assert await rpc.call("perm_getAccountsAllowlist") == allowlist
        assert NEWCOMER in allowlist
        assert await rpc.call("qbft_getPendingVotes") == {CANDIDATE: True}
        # The chain goes on from where it stopped, and the vote tally too.
        trusted = trust_header(header_from_rpc(head))
        await rpc.call("evm_mine")
        child = await rpc.block("latest")
        assert child["parentHash"] == head["hash"]
        verify_next(trusted, header_from_rpc(child))
        for _ in range(3):
            await rpc.call("evm_mine")
        assert CANDIDATE in await rpc.call("qbft_getValidatorsByBlockNumber", "latest")


async def test_a_data_directory_refuses_a_config_that_changes_the_chain(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with start_consortium(config={"instant_seal": True}, data_dir=tmp_path):
        pass
    with pytest.raises(ConfigError) as exc:
        async with start_consortium(
            config={"instant_seal": True, "chain_id": 777}, data_dir=tmp_path
        ):
            pass
    assert "chain_id" in str(exc.value)
