"""Request budgets of the devnet node (issue 6 part 5): gas cap, log query limits, batch size
and cost, body size and depth, and block production that goes on while an expensive but allowed
request runs (the pace under load is a figure of ``bench/devnet.py``). Also JSON-RPC 2.0 conformance and non-revert execution errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from devnet.launcher import RunningNode, start_consortium
from harness import NodeRpc, RpcError

LOOP = "0x" + "11" * 20  # an address given infinite-loop code by a state override
LOOP_CODE = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP
INVALID = "0x" + "12" * 20
INVALID_CODE = "0xfe"  # INVALID
# Emits one LOG0 per call: PUSH1 0 PUSH1 0 LOG0 STOP
LOG_INIT = "0x6006600c60003960066000f3" + "60006000a000"


@pytest.fixture(scope="module")
async def limited() -> AsyncIterator[RunningNode]:
    config = {
        "instant_seal": True,
        "rpc_gas_cap": 1_000_000,
        "max_log_results": 3,
        "max_batch_cost": 200,
        "max_request_bytes": 64 * 1024,
    }
    async with start_consortium(config=config) as node:
        yield node


@pytest.fixture(scope="module")
async def lrpc(limited: RunningNode, http: aiohttp.ClientSession) -> NodeRpc:
    return NodeRpc(limited, http)


async def _raw_post(rpc: NodeRpc, body: bytes) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    async with rpc.session.post(rpc.url, data=body, headers=headers) as resp:
        return resp.status, await resp.read()


# --- gas cap -----------------------------------------------------------------------------------


async def test_estimate_gas_is_capped_by_rpc_gas_cap_with_besu_like_message(lrpc: NodeRpc) -> None:
    with pytest.raises(RpcError) as exc:
        await lrpc.call("eth_estimateGas", {"to": LOOP}, "latest", {LOOP: {"code": LOOP_CODE}})
    assert exc.value.code == -32000
    assert exc.value.message == "gas required exceeds allowance (1000000)"
    assert exc.value.data is None


async def test_eth_call_gas_above_the_cap_is_lowered_to_it(lrpc: NodeRpc) -> None:
    with pytest.raises(RpcError) as exc:
        await lrpc.call(
            "eth_call", {"to": LOOP, "gas": hex(10**9)}, "latest", {LOOP: {"code": LOOP_CODE}}
        )
    assert (exc.value.code, exc.value.message, exc.value.data) == (-32000, "out of gas", None)


# --- non-revert failures carry no revert data (item 3) ------------------------------------------


async def test_invalid_opcode_is_an_error_without_revert_data(lrpc: NodeRpc) -> None:
    with pytest.raises(RpcError) as exc:
        await lrpc.call("eth_call", {"to": INVALID}, "latest", {INVALID: {"code": INVALID_CODE}})
    assert exc.value.code == -32000
    assert exc.value.message.startswith("invalid opcode")
    assert exc.value.data is None


async def test_a_revert_still_carries_hex_revert_data(lrpc: NodeRpc) -> None:
    # PUSH1 0 PUSH1 0 REVERT: empty revert data
    code = "0x60006000fd"
    with pytest.raises(RpcError) as exc:
        await lrpc.call("eth_call", {"to": INVALID}, "latest", {INVALID: {"code": code}})
    assert (exc.value.code, exc.value.message, exc.value.data) == (3, "execution reverted", "0x")


# --- eth_getLogs limits --------------------------------------------------------------------------


async def test_get_logs_refuses_too_many_addresses(rpc: NodeRpc) -> None:
    addresses = ["0x" + i.to_bytes(20, "big").hex() for i in range(10_000)]
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_getLogs", {"address": addresses, "fromBlock": "0x0"})
    assert exc.value.code == -32005
    assert "1000 addresses" in exc.value.message


async def test_get_logs_refuses_too_many_topic_alternatives(rpc: NodeRpc) -> None:
    topics = [["0x" + i.to_bytes(32, "big").hex() for i in range(1_001)]]
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_getLogs", {"topics": topics, "fromBlock": "0x0"})
    assert exc.value.code == -32005
    assert "1000 topics" in exc.value.message


async def test_get_logs_refuses_a_range_beyond_the_besu_default(rpc: NodeRpc) -> None:
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(5_000)})
    assert exc.value.code == -32005
    assert exc.value.message == "Requested range exceeds maximum RPC range limit"


async def test_get_logs_refuses_more_results_than_the_limit(lrpc: NodeRpc) -> None:
    key = lrpc.node.accounts[0]
    receipt = await lrpc.send(key, data=LOG_INIT, gas=100_000)
    emitter = receipt["contractAddress"]
    for _ in range(4):
        await lrpc.send(key, to=emitter, gas=50_000)
    with pytest.raises(RpcError) as exc:
        await lrpc.call("eth_getLogs", {"address": emitter, "fromBlock": "0x0"})
    assert (exc.value.code, exc.value.message) == (-32005, "query returned more than 3 results")
    assert len(await lrpc.call("eth_getLogs", {"address": emitter, "fromBlock": "latest"})) == 1


# --- batches and bodies --------------------------------------------------------------------------


async def test_batch_size_limit_has_the_besu_default(rpc: NodeRpc) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1_025)]
    answer = await rpc.post(batch)
    assert answer["error"]["code"] == -32005
    assert answer["error"]["message"] == "Number of requests exceeds max batch size"
    assert len(await rpc.post(batch[:1_024])) == 1_024


async def test_batch_cost_counts_what_the_requests_cost(lrpc: NodeRpc) -> None:
    call = {"to": lrpc.node.accounts[0].hex_address}
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [call, "latest"]}
        for i in range(150)
    ]
    answer = await lrpc.post(batch)
    assert isinstance(answer, dict), "150 eth_calls must cost more than 150 cheap calls"
    assert answer["error"]["code"] == -32005
    assert answer["error"]["message"] == "Batch cost exceeds the limit"
    cheap = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(150)]
    assert len(await lrpc.post(cheap)) == 150


async def test_oversized_body_is_refused_with_http_413(lrpc: NodeRpc) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x" + "00" * 40_000]}
    ).encode()
    status, _ = await _raw_post(lrpc, body)
    assert status == 413
    assert await lrpc.head() >= 0  # the node still serves


async def test_deeply_nested_body_is_a_parse_error_that_names_the_depth(rpc: NodeRpc) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":' + b"[" * 100
    body += b"]" * 100 + b"}"
    _status, raw = await _raw_post(rpc, body)
    answer = json.loads(raw)
    assert answer["error"]["code"] == -32700
    assert "nested too deeply" in str(answer["error"].get("data"))
    assert answer["id"] is None


# --- JSON-RPC 2.0 conformance (item 2) -----------------------------------------------------------


async def test_unknown_transaction_type_is_invalid_params(rpc: NodeRpc) -> None:
    for raw in ("0x05c0", "0x7fc0"):
        with pytest.raises(RpcError) as exc:
            await rpc.call("eth_sendRawTransaction", raw)
        assert exc.value.code == -32602
        assert "transaction type" in exc.value.message.lower()


@pytest.mark.parametrize("bad_id", [b"NaN", b"Infinity", b"-Infinity", b"true", b"[1]", b"{}"])
async def test_invalid_ids_get_invalid_request_with_null_id(rpc: NodeRpc, bad_id: bytes) -> None:
    body = b'{"jsonrpc":"2.0","method":"eth_chainId","id":' + bad_id + b"}"
    _status, raw = await _raw_post(rpc, body)
    answer = json.loads(raw)  # strict JSON: no NaN echoed back
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "Invalid Request"},
    }


async def test_batch_of_only_notifications_returns_nothing(rpc: NodeRpc) -> None:
    batch = [{"jsonrpc": "2.0", "method": "eth_chainId"} for _ in range(3)]
    status, raw = await _raw_post(rpc, json.dumps(batch).encode())
    assert (status, raw) == (204, b"")


async def test_empty_batch_is_one_invalid_request(rpc: NodeRpc) -> None:
    answer = await rpc.post_raw(b"[]")
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "Invalid Request"},
    }


# --- sealing goes on under load ---------------------------------------------------------------


async def test_blocks_are_sealed_while_an_expensive_call_runs(http: aiohttp.ClientSession) -> None:
    # The block pace under sustained load is a figure of bench/devnet.py (load_block_interval_s).
    config = {"block_time": 0.2, "rpc_gas_cap": 10_000_000}
    async with start_consortium(config=config) as node:
        rpc = NodeRpc(node, http)
        start = await rpc.head()
        # Seconds of py-evm work on a worker thread: an infinite loop up to the gas cap.
        call = asyncio.create_task(
            rpc.call("eth_call", {"to": LOOP}, "latest", {LOOP: {"code": LOOP_CODE}})
        )
        sealed = 0
        while not call.done():
            sealed = await rpc.head() - start
            await asyncio.sleep(0.05)
        with pytest.raises(RpcError) as exc:
            await call
    assert exc.value.message == "out of gas"
    # A node that ran the call on its event loop sealed at most one block until it returned.
    assert sealed >= 3, f"only {sealed} blocks sealed while the call ran"
