"""A node that lies, fails or stalls: the EvmAdapter raises the right error and never returns
the corrupted data. Faults are injected by a proxy in front of a real anvil node."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.base import AdapterClosed, EventQuery, TxRequest
from adapters.errors import ConfigError, RpcError, RpcResponseInvalid, RpcUnavailable
from adapters.evm import MAX_RPC_RESPONSE_BYTES, EvmAdapter, EvmConfig
from adapters.retry import RetryPolicy
from adapters.rpc.submit import SubmitPolicy
from adapters.signer import LocalSigner
from adapters.testing import PING_TOPIC, ping_calldata
from adapters.types import ChainId, Finality, Height
from tests.live.faulty_proxy import (
    Fault,
    FaultyProxy,
    constant,
    drop,
    each,
    faulty_proxy,
    flip,
    replace,
)

pytestmark = pytest.mark.live

ATTEMPTS = 3


def _config(url: str, chain_id: int, **overrides: Any) -> EvmConfig:
    settings: dict[str, Any] = {
        "rpc_url": url,
        "chain_id": ChainId(chain_id),
        "finality": Finality.confirmations(0),
        "poll_interval_s": 0.02,
        "request_timeout_s": 0.5,
        "retry": RetryPolicy(initial_delay=0.01, max_attempts=ATTEMPTS),
    }
    settings.update(overrides)
    return EvmConfig(**settings)


@pytest.fixture(scope="module")
async def direct(anvil_node: Any) -> AsyncIterator[EvmAdapter]:
    """An adapter talking to anvil directly: the reference answers, and the transactions."""
    signer = LocalSigner(anvil_node.accounts[2].private_key)
    async with EvmAdapter(_config(anvil_node.url, anvil_node.chain_id), [signer]) as adapter:
        yield adapter


@pytest.fixture(scope="module")
async def mined(direct: EvmAdapter, anvil_node: Any, emitter_init_code: bytes) -> dict[str, Any]:
    """A deployed Emitter and one ping, mined through the direct adapter."""
    deploy = await direct.wait_final(
        await direct.submit(TxRequest(to=None, data=emitter_init_code)), direct.finality, 30
    )
    assert deploy.contract_address is not None
    ping = await direct.wait_final(
        await direct.submit(TxRequest(to=deploy.contract_address, data=ping_calldata(7, b"hi"))),
        direct.finality,
        30,
    )
    return {"emitter": deploy.contract_address, "ping": ping}


@pytest.fixture
async def proxy(anvil_node: Any) -> AsyncIterator[FaultyProxy]:
    async with faulty_proxy(anvil_node.url) as p:
        yield p


@pytest.fixture
async def adapter(proxy: FaultyProxy, anvil_node: Any) -> AsyncIterator[EvmAdapter]:
    async with EvmAdapter(_config(proxy.url, anvil_node.chain_id)) as a:
        proxy.calls.clear()
        yield a


# --- headers -----------------------------------------------------------------------------------


async def test_header_with_a_flipped_state_root_byte_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    proxy.fault = Fault(method="eth_getBlockByNumber", mutate=flip("stateRoot"))
    with pytest.raises(RpcResponseInvalid) as info:
        await adapter.header(mined["ping"].block_number)
    assert "hash" in info.value.message
    assert proxy.count("eth_getBlockByNumber") == ATTEMPTS  # retried, then given up


async def test_header_with_a_dropped_field_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    proxy.fault = Fault(method="eth_getBlockByNumber", mutate=drop("miner"))
    with pytest.raises(RpcResponseInvalid) as info:
        await adapter.header(mined["ping"].block_number)
    assert info.value.context["field"] == "miner"


async def test_header_of_another_height_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, direct: EvmAdapter, mined: dict[str, Any]
) -> None:
    other = await direct._rpc("eth_getBlockByNumber", ["0x1", False])
    proxy.fault = Fault(method="eth_getBlockByNumber", mutate=constant(other))
    with pytest.raises(RpcResponseInvalid):
        await adapter.header(mined["ping"].block_number)


async def test_transient_corruption_is_retried_and_the_answer_is_correct(
    adapter: EvmAdapter, proxy: FaultyProxy, direct: EvmAdapter, mined: dict[str, Any]
) -> None:
    proxy.fault = Fault(method="eth_getBlockByNumber", times=1, mutate=flip("receiptsRoot"))
    header = await adapter.header(mined["ping"].block_number)
    assert header == await direct.header(mined["ping"].block_number)
    assert proxy.fault.hits == 1


# --- transport and JSON-RPC errors -------------------------------------------------------------


async def test_garbage_instead_of_json_is_an_invalid_response(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    proxy.fault = Fault(body=b"<html>502 bad gateway</html>")
    with pytest.raises(RpcResponseInvalid):
        await adapter.height(Finality.latest())


async def test_malformed_quantity_is_an_invalid_response(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    proxy.fault = Fault(method="eth_blockNumber", mutate=constant("0xnothex"))
    with pytest.raises(RpcResponseInvalid):
        await adapter.height(Finality.latest())


async def test_answer_without_result_is_an_invalid_response(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    proxy.fault = Fault(body=b'{"jsonrpc": "2.0", "id": 1}')
    with pytest.raises(RpcResponseInvalid):
        await adapter.height(Finality.latest())


# The adapter process as deployed: importing adapters.evm pulls in py_ecc, which raises the
# recursion limit to 100,000, so a deep answer must be refused before the C JSON parser runs.
_ADAPTER_PROCESS = """
import asyncio, json, sys
from adapters.errors import XgateError
from adapters.evm import EvmAdapter, EvmConfig
from adapters.retry import RetryPolicy
from adapters.types import ChainId, Finality

async def main() -> None:
    config = EvmConfig(
        rpc_url=sys.argv[1], chain_id=ChainId(int(sys.argv[2])),
        finality=Finality.confirmations(0), request_timeout_s=5.0,
        retry=RetryPolicy(initial_delay=0.01, max_attempts=2),
    )
    async with EvmAdapter(config) as adapter:
        try:
            await adapter.height(Finality.latest())
        except XgateError as exc:
            print(json.dumps(exc.to_dict()))
        print(json.dumps({"alive": sys.getrecursionlimit()}))

asyncio.run(main())
"""


async def test_deeply_nested_json_answer_is_an_invalid_response_and_the_process_survives(
    proxy: FaultyProxy, anvil_node: Any
) -> None:
    proxy.fault = Fault(method="eth_blockNumber", body=b"[" * 200_000 + b"]" * 200_000)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _ADAPTER_PROCESS,
        proxy.url,
        str(anvil_node.chain_id),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 0, f"adapter process died ({child.returncode}): {stderr[-2000:]!r}"
    error, alive = (json.loads(line) for line in stdout.decode().splitlines())
    assert error["error"] == "RpcResponseInvalid"
    assert (error["method"], error["depth"], error["limit"]) == ("eth_blockNumber", 200_000, 64)
    assert alive == {"alive": 100_000}
    assert proxy.count("eth_blockNumber") == 2  # retried like any invalid answer


async def test_oversized_answer_is_an_invalid_response_read_no_further_than_the_limit(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    proxy.fault = Fault(method="eth_blockNumber", body=b'"' + b"0" * MAX_RPC_RESPONSE_BYTES + b'"')
    with pytest.raises(RpcResponseInvalid) as info:
        await adapter.height(Finality.latest())
    assert info.value.context["limit"] == MAX_RPC_RESPONSE_BYTES


async def test_deeply_nested_json_error_object_is_an_invalid_response(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    nested = (
        b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "data": '
        + b"[" * 100
        + b"]" * 100
        + b', "message": "x"}}'
    )
    proxy.fault = Fault(method="eth_blockNumber", body=nested)
    with pytest.raises(RpcResponseInvalid) as info:
        await adapter.height(Finality.latest())
    assert info.value.context["depth"] == 102


async def test_json_rpc_error_carries_code_and_message_and_is_not_retried(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    proxy.fault = Fault(method="eth_blockNumber", error=(-32000, "header not found"))
    with pytest.raises(RpcError) as info:
        await adapter.height(Finality.latest())
    assert info.value.context["code"] == -32000
    assert info.value.context["rpc_message"] == "header not found"
    assert proxy.count("eth_blockNumber") == 1


async def test_internal_error_without_data_is_retried_until_the_node_recovers(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    proxy.fault = Fault(method="eth_blockNumber", times=ATTEMPTS - 1, error=(-32603, "internal"))
    assert await adapter.height(Finality.latest()) >= 0
    assert proxy.count("eth_blockNumber") == ATTEMPTS


async def test_internal_error_with_data_is_a_fatal_rpc_error(
    adapter: EvmAdapter, proxy: FaultyProxy
) -> None:
    # Hardhat reports reverts as -32603 with the revert data: not a node failure.
    body = (
        b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, '
        b'"message": "VM Exception while processing transaction", "data": "0x08c379a0"}}'
    )
    proxy.fault = Fault(method="eth_blockNumber", body=body)
    with pytest.raises(RpcError) as info:
        await adapter.height(Finality.latest())
    assert info.value.context["data"] == "0x08c379a0"
    assert proxy.count("eth_blockNumber") == 1


async def test_slow_node_is_unavailable(adapter: EvmAdapter, proxy: FaultyProxy) -> None:
    proxy.fault = Fault(method="eth_blockNumber", delay=0.8)
    with pytest.raises(RpcUnavailable):
        await adapter.height(Finality.latest())
    assert proxy.count("eth_blockNumber") == ATTEMPTS


async def test_http_503_is_unavailable(adapter: EvmAdapter, proxy: FaultyProxy) -> None:
    proxy.fault = Fault(status=503)
    with pytest.raises(RpcUnavailable) as info:
        await adapter.height(Finality.latest())
    assert info.value.context["status"] == 503


async def test_unreachable_node_is_unavailable(anvil_node: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        adapter = EvmAdapter(_config(f"http://127.0.0.1:{port}", anvil_node.chain_id))
        with pytest.raises(RpcUnavailable):
            await adapter.start()
        await adapter.aclose()


async def test_an_adapter_that_cannot_start_in_async_with_closes_its_session(
    anvil_node: Any,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        adapter = EvmAdapter(_config(f"http://127.0.0.1:{s.getsockname()[1]}", anvil_node.chain_id))
        with pytest.raises(RpcUnavailable):
            async with adapter:
                pass
    with pytest.raises(AdapterClosed):  # closed, HTTP session included: nothing is left open
        await adapter.height(Finality.latest())


async def test_node_of_another_chain_is_a_config_error(anvil_node: Any) -> None:
    adapter = EvmAdapter(_config(anvil_node.url, anvil_node.chain_id + 1))
    with pytest.raises(ConfigError):
        await adapter.start()
    await adapter.aclose()


# --- receipts, proofs, logs --------------------------------------------------------------------


async def test_receipts_that_do_not_rebuild_the_receipts_root_are_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    proxy.fault = Fault(
        method="eth_getBlockReceipts", mutate=each(replace("cumulativeGasUsed", "0x1"))
    )
    with pytest.raises(RpcResponseInvalid) as info:
        await adapter.receipt_proof(mined["ping"].tx_hash)
    assert "receiptsRoot" in info.value.message


async def test_receipt_with_a_forged_log_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    def forge(receipt: Any) -> Any:
        receipt["logs"][0]["data"] = "0x" + "00" * 64
        return receipt

    proxy.fault = Fault(method="eth_getBlockReceipts", mutate=each(forge))
    with pytest.raises(RpcResponseInvalid):
        await adapter.receipt_proof(mined["ping"].tx_hash)


async def test_receipt_of_another_transaction_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    proxy.fault = Fault(
        method="eth_getTransactionReceipt", mutate=replace("transactionHash", "0x" + "11" * 32)
    )
    with pytest.raises(RpcResponseInvalid):
        await adapter.receipt_proof(mined["ping"].tx_hash)


async def test_node_without_block_receipts_falls_back_to_per_transaction_receipts(
    adapter: EvmAdapter, proxy: FaultyProxy, direct: EvmAdapter, mined: dict[str, Any]
) -> None:
    proxy.fault = Fault(method="eth_getBlockReceipts", error=(-32601, "Method not found"))
    proof = await adapter.receipt_proof(mined["ping"].tx_hash)
    assert proof == await direct.receipt_proof(mined["ping"].tx_hash)
    assert proxy.count("eth_getTransactionReceipt") >= 2  # the receipt, then the block's


async def test_account_proof_with_a_forged_balance_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    proxy.fault = Fault(method="eth_getProof", mutate=replace("balance", "0xde0b6b3a7640000"))
    with pytest.raises(RpcResponseInvalid):
        await adapter.account_proof(mined["emitter"], [0], mined["ping"].block_number)


async def test_account_proof_with_a_forged_storage_value_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    def forge(result: Any) -> Any:
        result["storageProof"][0]["value"] = "0x8"
        return result

    proxy.fault = Fault(method="eth_getProof", mutate=forge)
    with pytest.raises(RpcResponseInvalid):
        await adapter.account_proof(mined["emitter"], [0], mined["ping"].block_number)


async def test_log_outside_the_asked_range_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    ping = mined["ping"]
    query = EventQuery(addresses=(mined["emitter"],), topics=((PING_TOPIC,),))
    proxy.fault = Fault(method="eth_getLogs", mutate=each(replace("blockNumber", "0x0")))
    with pytest.raises(RpcResponseInvalid):
        await adapter.events(query, ping.block_number, ping.block_number)


async def test_log_not_matching_the_filter_is_rejected(
    adapter: EvmAdapter, proxy: FaultyProxy, mined: dict[str, Any]
) -> None:
    ping = mined["ping"]
    query = EventQuery(addresses=(mined["emitter"],), topics=((PING_TOPIC,),))
    proxy.fault = Fault(method="eth_getLogs", mutate=each(replace("address", "0x" + "22" * 20)))
    with pytest.raises(RpcResponseInvalid):
        await adapter.events(query, ping.block_number, ping.block_number)


async def test_too_large_log_range_is_split_until_the_node_accepts(
    adapter: EvmAdapter, proxy: FaultyProxy, direct: EvmAdapter, mined: dict[str, Any]
) -> None:
    ping = mined["ping"]
    query = EventQuery(addresses=(mined["emitter"],))
    proxy.fault = Fault(
        method="eth_getLogs", times=2, error=(-32005, "query returned more than 10000 results")
    )
    events = await adapter.events(query, Height(0), ping.block_number)
    assert events == await direct.events(query, Height(0), ping.block_number)
    assert proxy.count("eth_getLogs") > 2


# --- the single writer ---------------------------------------------------------------------------


async def _nonce(adapter: EvmAdapter, address: bytes) -> int:
    head = await adapter.height(Finality.latest())
    state = await adapter.account_proof(address, [], head)  # type: ignore[arg-type]
    return state.account.nonce if state.account else 0


async def test_nonce_used_by_another_process_is_resynced(anvil_node: Any) -> None:
    key = anvil_node.accounts[3].private_key
    recipient = anvil_node.accounts[4].address
    config = _config(anvil_node.url, anvil_node.chain_id)
    async with EvmAdapter(config, [LocalSigner(key)]) as ours:
        first = await ours.submit(TxRequest(to=recipient, value=1))  # our writer caches the nonce
        await ours.wait_final(first, ours.finality, 30)
        # Another process sends from the same account behind our back.
        async with EvmAdapter(config, [LocalSigner(key)]) as other:
            await other.wait_final(
                await other.submit(TxRequest(to=recipient, value=1)), other.finality, 30
            )
        start = await _nonce(ours, LocalSigner(key).address)
        # Stale nonce: resync and resend. (A different value: an identical transfer at the same
        # nonce and fee would be byte-identical to the other process's, so "already known".)
        tx = await ours.submit(TxRequest(to=recipient, value=2))
        assert (await ours.wait_final(tx, ours.finality, 30)).status == 1
        assert await _nonce(ours, LocalSigner(key).address) == start + 1


async def test_send_that_timed_out_but_reached_the_node_is_not_sent_twice(
    proxy: FaultyProxy, anvil_node: Any
) -> None:
    signer = LocalSigner(anvil_node.accounts[5].private_key)
    config = _config(proxy.url, anvil_node.chain_id)
    async with EvmAdapter(config, [signer]) as adapter:
        start = await _nonce(adapter, signer.address)
        # The first send reaches the node only after our request timed out.
        proxy.fault = Fault(method="eth_sendRawTransaction", times=1, delay=0.8)
        tx = await adapter.submit(TxRequest(to=anvil_node.accounts[6].address, value=1))
        assert (await adapter.wait_final(tx, adapter.finality, 30)).status == 1
        following = await adapter.submit(TxRequest(to=anvil_node.accounts[6].address, value=1))
        await adapter.wait_final(following, adapter.finality, 30)
        assert await _nonce(adapter, signer.address) == start + 2
        assert proxy.fault.hits == 1


async def test_writer_keeps_sending_after_a_failed_check_of_its_transactions(
    proxy: FaultyProxy, anvil_node: Any
) -> None:
    """A node error while the writer checks what it has in flight (even a fatal one) waits
    for the next check: a stopped writer would leave the whole process unable to send."""
    signer = LocalSigner(anvil_node.accounts[8].private_key)
    config = _config(proxy.url, anvil_node.chain_id)
    policy = SubmitPolicy(check_interval_s=0.05)
    async with EvmAdapter(config, [signer], submit_policy=policy) as adapter:
        recipient = anvil_node.accounts[6].address
        proxy.fault = Fault(method="eth_getTransactionCount", times=3, error=(-32000, "boom"))
        first = await adapter.submit(TxRequest(to=recipient, value=1))  # in flight: checked
        while proxy.fault.hits < 3:
            await asyncio.sleep(0.05)
        assert (await adapter.wait_final(first, adapter.finality, 30)).status == 1
        second = await adapter.submit(TxRequest(to=recipient, value=1))
        assert (await adapter.wait_final(second, adapter.finality, 30)).status == 1


async def test_submit_needs_a_running_adapter(anvil_node: Any) -> None:
    signer = LocalSigner(anvil_node.accounts[7].private_key)
    adapter = EvmAdapter(_config(anvil_node.url, anvil_node.chain_id), [signer])
    request = TxRequest(to=anvil_node.accounts[6].address, value=1)
    with pytest.raises(AdapterClosed):
        await adapter.submit(request)
    async with adapter:
        await adapter.submit(request)
    with pytest.raises(AdapterClosed):
        await adapter.submit(request)
