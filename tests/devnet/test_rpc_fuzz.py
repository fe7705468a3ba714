"""Hostile JSON-RPC against a live consortium node: every method the node serves, with wrong
types and odd values in every param position, must get a JSON-RPC answer (a result, or an
error with a specific code and message: never HTTP 500, never -32603), and the node must keep
sealing blocks. Also the requests that once stopped the chain or grew without bound."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devnet import errors
from devnet.launcher import RunningNode, start_consortium
from devnet.rpc import RpcApi
from harness import NodeRpc, RpcError

METHODS = sorted(name[len("m_") :] for name in dir(RpcApi) if name.startswith("m_"))
ADDRESS = "0x" + "11" * 20
HASH = "0x" + "22" * 32

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**300),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(
        [
            "latest",
            "pending",
            "earliest",
            "safe",
            "finalized",
            "0x",
            "0x0",
            "0x00",
            "0x1",
            "0x01",
            "0xg",
            "0x" + "f" * 17,
            "0x" + "f" * 80,
            "-0x1",
            ADDRESS,
            ADDRESS.upper(),
            HASH,
            "0x" + "33" * 19,
            "0x" + "44" * 33,
            "0x02c0",
            "0xf800",
            "0xc0",
            "0x" + "7f" * 40,
        ]
    ),
)
_KEYS = st.sampled_from(
    [
        "from",
        "to",
        "gas",
        "value",
        "data",
        "input",
        "address",
        "topics",
        "fromBlock",
        "toBlock",
        "blockHash",
        "blockNumber",
        "balance",
        "nonce",
        "code",
        "state",
        "stateDiff",
        ADDRESS,
        HASH,
    ]
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_KEYS | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
_params = st.one_of(st.lists(_json, max_size=4), _json)


@pytest.fixture(scope="module")
async def fuzzed() -> AsyncIterator[RunningNode]:
    # Its own node: the fuzzer votes, edits the allowlist and moves the clock.
    async with start_consortium(config={"block_time": 0.2}) as node:
        yield node


@pytest.fixture(scope="module")
async def frpc(fuzzed: RunningNode, http: aiohttp.ClientSession) -> NodeRpc:
    return NodeRpc(fuzzed, http)


def _check_answer(method: str, params: Any, resp: requests.Response) -> None:
    where = f"{method} {json.dumps(params)[:300]}"
    assert resp.status_code == 200, f"{where}: HTTP {resp.status_code} {resp.text[:300]}"
    answer = resp.json()
    assert isinstance(answer, dict) and answer.get("id") == 7, f"{where}: {answer}"
    assert ("result" in answer) != ("error" in answer), f"{where}: {answer}"
    if "error" in answer:
        err = answer["error"]
        assert isinstance(err.get("code"), int) and isinstance(err.get("message"), str), where
        assert err["code"] != errors.INTERNAL_ERROR, f"{where}: {err}"
        assert err["message"], where
        assert "Traceback" not in resp.text, f"{where}: {resp.text[:500]}"


def test_every_method_answers_hostile_params_with_a_specific_error(fuzzed: RunningNode) -> None:
    session = requests.Session()

    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        derandomize=True,
    )
    @given(method=st.sampled_from(METHODS), params=_params)
    def fuzz(method: str, params: Any) -> None:
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
        resp = session.post(fuzzed.url, json=body, timeout=30)
        _check_answer(method, params, resp)

    fuzz()
    # Still sealing: the head moves on within a few block times.
    first = int(session.get(fuzzed.url + "/health", timeout=5).json()["block"])
    deadline = time.monotonic() + 10
    while int(session.get(fuzzed.url + "/health", timeout=5).json()["block"]) <= first:
        assert time.monotonic() < deadline, "the node stopped sealing blocks after the fuzzing"
        time.sleep(0.1)


async def test_state_override_storage_must_be_an_object(frpc: NodeRpc) -> None:
    for storage in (["0x1"], 5, "0x1"):
        with pytest.raises(RpcError) as exc:
            await frpc.call("eth_call", {"to": ADDRESS}, "latest", {ADDRESS: {"state": storage}})
        assert exc.value.code == errors.INVALID_PARAMS


async def _sealing(rpc: NodeRpc) -> None:
    first = await rpc.head()
    for _ in range(100):
        if await rpc.head() > first:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the node stopped sealing blocks")


@pytest.mark.parametrize(
    ("method", "params"),
    [("evm_increaseTime", ["0x" + "f" * 40]), ("evm_mine", ["0x" + "f" * 16])],
)
async def test_moving_the_clock_past_uint64_timestamps_is_refused_and_sealing_goes_on(
    frpc: NodeRpc, method: str, params: list[Any]
) -> None:
    with pytest.raises(RpcError) as exc:
        await frpc.call(method, *params)
    assert exc.value.code == errors.INVALID_PARAMS
    assert "2**63" in str(exc.value.data)
    await _sealing(frpc)


async def test_fee_history_reward_percentiles_are_limited_to_100(frpc: NodeRpc) -> None:
    await frpc.call("eth_feeHistory", "0x2", "latest", list(range(100)))
    with pytest.raises(RpcError) as exc:
        await frpc.call("eth_feeHistory", "0x2", "latest", [50] * 101)
    assert (exc.value.code, exc.value.message) == (
        errors.INVALID_PARAMS,
        "Invalid reward percentiles params",
    )


async def test_blob_base_fee_before_cancun_is_method_not_found(frpc: NodeRpc) -> None:
    with pytest.raises(RpcError) as exc:
        await frpc.call("eth_blobBaseFee")
    assert exc.value.code == errors.METHOD_NOT_FOUND


async def test_get_proof_takes_at_most_1024_storage_keys(frpc: NodeRpc) -> None:
    account = frpc.node.accounts[0].hex_address
    answer = await frpc.call("eth_getProof", account, ["0x1"] * 1024, "latest")
    assert len(answer["storageProof"]) == 1024
    with pytest.raises(RpcError) as exc:
        await frpc.call("eth_getProof", account, ["0x1"] * 1025, "latest")
    assert exc.value.code == errors.LIMIT_EXCEEDED


async def test_installed_log_filters_share_a_bounded_budget_of_addresses_and_topics(
    frpc: NodeRpc,
) -> None:
    # 5,000 criteria each (~1.5 MB held per filter before the budget): 20 fit in 100,000.
    widest = {
        "address": [f"0x{i:040x}" for i in range(1000)],
        "topics": [[f"0x{i + 1000 * j:064x}" for i in range(1000)] for j in range(4)],
    }
    installed: list[str] = []
    try:
        with pytest.raises(RpcError) as exc:
            for _ in range(25):
                installed.append(await frpc.call("eth_newFilter", widest))
        assert exc.value.code == errors.LIMIT_EXCEEDED
        assert 1 <= len(installed) <= 20
        assert await frpc.call("eth_uninstallFilter", installed.pop()) is True
        installed.append(await frpc.call("eth_newFilter", widest))
    finally:
        for filter_id in installed:
            await frpc.call("eth_uninstallFilter", filter_id)


async def test_a_batch_of_filter_log_queries_costs_what_the_filter_ranges_cost(
    frpc: NodeRpc,
) -> None:
    await frpc.batch([("evm_mine", [])] * 500)  # 500+ blocks: a whole-chain query costs 6 units
    filter_id = await frpc.call("eth_newFilter", {"fromBlock": "0x0", "toBlock": "latest"})
    try:
        answer = await frpc.post(
            [
                {"jsonrpc": "2.0", "id": i, "method": "eth_getFilterLogs", "params": [filter_id]}
                for i in range(400)
            ]
        )
        assert isinstance(answer, dict), "400 whole-chain filter queries were served as cost 400"
        assert answer["error"]["code"] == errors.LIMIT_EXCEEDED
        assert answer["error"]["message"] == "Batch cost exceeds the limit"
    finally:
        await frpc.call("eth_uninstallFilter", filter_id)
