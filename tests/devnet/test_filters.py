"""Filters as Besu serves them (eth_newFilter, eth_newBlockFilter,
eth_newPendingTransactionFilter, eth_getFilterChanges, eth_getFilterLogs, eth_uninstallFilter),
with expiry of unpolled filters and a cap on their number; and eth_createAccessList."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from devnet.launcher import RunningNode, start_consortium
from harness import NodeRpc, RpcError

# Emits LOG1(topic 0x2a) per call: PUSH1 0x2a PUSH1 0 PUSH1 0 LOG1 STOP
EMITTER_INIT = "0x6008600c60003960086000f3" + "602a60006000a100"
TOPIC = "0x" + (0x2A).to_bytes(32, "big").hex()
# SLOAD(1) of its own storage: PUSH1 1 SLOAD STOP
SLOAD_CODE = "0x60015400"


@pytest.fixture(scope="module")
async def node() -> AsyncIterator[RunningNode]:
    config = {"instant_seal": True, "max_filters": 5, "filter_timeout_s": 2.0}
    async with start_consortium(config=config) as running:
        yield running


@pytest.fixture(scope="module")
async def frpc(node: RunningNode, http: aiohttp.ClientSession) -> NodeRpc:
    return NodeRpc(node, http)


async def test_log_filter_returns_new_logs_once_and_all_logs_on_demand(frpc: NodeRpc) -> None:
    key = frpc.node.accounts[0]
    emitter = (await frpc.send(key, data=EMITTER_INIT, gas=100_000))["contractAddress"]
    filter_id = await frpc.call(
        "eth_newFilter", {"address": emitter, "topics": [TOPIC], "fromBlock": "0x0"}
    )
    other = await frpc.call("eth_newFilter", {"address": emitter, "topics": [TOPIC[:-1] + "b"]})
    assert await frpc.call("eth_getFilterChanges", filter_id) == []
    for _ in range(2):
        await frpc.send(key, to=emitter, gas=50_000)
    changes = await frpc.call("eth_getFilterChanges", filter_id)
    assert [c["topics"] for c in changes] == [[TOPIC], [TOPIC]]
    assert await frpc.call("eth_getFilterChanges", filter_id) == []
    assert len(await frpc.call("eth_getFilterLogs", filter_id)) == 2
    assert await frpc.call("eth_getFilterChanges", other) == []
    by_hash = await frpc.call("eth_newFilter", {"blockHash": changes[-1]["blockHash"]})
    assert len(await frpc.call("eth_getFilterChanges", by_hash)) == 1
    assert await frpc.call("eth_getFilterChanges", by_hash) == []
    assert await frpc.call("eth_uninstallFilter", by_hash) is True
    assert await frpc.call("eth_uninstallFilter", filter_id) is True
    assert await frpc.call("eth_uninstallFilter", filter_id) is False
    assert await frpc.call("eth_uninstallFilter", other) is True
    with pytest.raises(RpcError) as exc:
        await frpc.call("eth_getFilterChanges", filter_id)
    assert (exc.value.code, exc.value.message) == (-32000, "Filter not found")


async def test_block_and_pending_transaction_filters(frpc: NodeRpc) -> None:
    blocks = await frpc.call("eth_newBlockFilter")
    pending = await frpc.call("eth_newPendingTransactionFilter")
    key = frpc.node.accounts[1]
    receipt = await frpc.send(key, to=frpc.node.accounts[2].hex_address, value=1)
    assert await frpc.call("eth_getFilterChanges", blocks) == [receipt["blockHash"]]
    assert await frpc.call("eth_getFilterChanges", pending) == [receipt["transactionHash"]]
    assert await frpc.call("eth_getFilterChanges", pending) == []
    with pytest.raises(RpcError):
        await frpc.call("eth_getFilterLogs", blocks)
    for filter_id in (blocks, pending):
        assert await frpc.call("eth_uninstallFilter", filter_id) is True


async def test_pending_filters_each_see_the_transactions_sent_since_they_were_installed(
    frpc: NodeRpc,
) -> None:
    key, to = frpc.node.accounts[3], frpc.node.accounts[4].hex_address
    early = await frpc.call("eth_newPendingTransactionFilter")
    first = await frpc.send(key, to=to, value=1)
    late = await frpc.call("eth_newPendingTransactionFilter")
    second = await frpc.send(key, to=to, value=2)
    hashes = [first["transactionHash"], second["transactionHash"]]
    assert await frpc.call("eth_getFilterChanges", early) == hashes
    assert await frpc.call("eth_getFilterChanges", late) == hashes[1:]
    assert await frpc.call("eth_getFilterChanges", early) == []
    for filter_id in (early, late):
        assert await frpc.call("eth_uninstallFilter", filter_id) is True


async def test_filters_are_capped_and_unpolled_ones_expire(frpc: NodeRpc) -> None:
    ids = [await frpc.call("eth_newBlockFilter") for _ in range(5)]
    with pytest.raises(RpcError) as exc:
        await frpc.call("eth_newBlockFilter")
    assert exc.value.code == -32005
    await asyncio.sleep(2.5)
    with pytest.raises(RpcError) as exc:
        await frpc.call("eth_getFilterChanges", ids[0])
    assert exc.value.message == "Filter not found"
    fresh = await frpc.call("eth_newBlockFilter")  # room again: the expired ones are gone
    assert await frpc.call("eth_uninstallFilter", fresh) is True


async def test_bad_filter_ids_are_invalid_params(frpc: NodeRpc) -> None:
    for bad in (12, "xyz", None):
        with pytest.raises(RpcError) as exc:
            await frpc.call("eth_getFilterChanges", bad)
        assert exc.value.code == -32602


async def test_create_access_list_lists_the_storage_a_call_reads(frpc: NodeRpc) -> None:
    key = frpc.node.accounts[3]
    # deploy the SLOAD contract: init copies 4 bytes of runtime
    init = "0x6004600c60003960046000f3" + SLOAD_CODE[2:]
    contract = (await frpc.send(key, data=init, gas=100_000))["contractAddress"]
    result = await frpc.call(
        "eth_createAccessList", {"from": key.hex_address, "to": contract}, "latest"
    )
    assert result["accessList"] == [
        {"address": contract.lower(), "storageKeys": ["0x" + (1).to_bytes(32, "big").hex()]}
    ]
    assert int(result["gasUsed"], 16) > 21_000
