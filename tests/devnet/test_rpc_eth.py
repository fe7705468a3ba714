"""Standard eth_* / net_* / web3_* behaviour of the consortium devnet node over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from adapters.mpt import verify_account_proof, verify_storage_proof
from devnet.artifacts import dev_token
from devnet.launcher import start_consortium
from harness import NodeRpc, RpcError

TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
SUPPLY = 10**24


def _sel(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def _call_data(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (_sel(signature) + abi_encode(types, args)).hex()


def _topic_address(address: bytes) -> str:
    return "0x" + address.rjust(32, b"\x00").hex()


@pytest.fixture(scope="module")
async def token(rpc: NodeRpc) -> str:
    """DevToken deployed by dev account 0, which holds the whole supply."""
    owner = rpc.node.accounts[0]
    init = dev_token()["bytecode"] + abi_encode(["uint256"], [SUPPLY]).hex()
    receipt = await rpc.send(owner, data=init, gas=2_000_000)
    assert receipt["status"] == "0x1" and receipt["contractAddress"]
    address: str = receipt["contractAddress"]
    return address


@pytest.fixture(scope="module")
async def held(http: aiohttp.ClientSession) -> AsyncIterator[NodeRpc]:
    """A node that only seals on evm_mine (block_time far away), to watch the pool."""
    async with start_consortium(config={"block_time": 3600}) as node:
        yield NodeRpc(node, http)


async def test_identity_methods_answer_like_a_besu_node(rpc: NodeRpc) -> None:
    assert await rpc.call("eth_chainId") == hex(20250)
    assert await rpc.call("net_version") == "20250"
    assert "DEV ONLY" in await rpc.call("web3_clientVersion")
    assert await rpc.call("eth_syncing") is False
    assert await rpc.call("eth_accounts") == []
    assert await rpc.call("net_listening") is True
    assert await rpc.call("net_peerCount") == "0x0"
    assert await rpc.call("web3_sha3", "0x") == "0x" + keccak(b"").hex()


async def test_safe_and_finalized_are_the_latest_block_under_instant_finality(rpc: NodeRpc) -> None:
    await rpc.call("evm_mine")
    latest = await rpc.block("latest")
    assert await rpc.block("safe") == latest == await rpc.block("finalized")
    assert (await rpc.block("earliest"))["number"] == "0x0"
    assert await rpc.call("eth_getBlockByNumber", hex(10**6), False) is None
    assert await rpc.call("eth_getBlockByHash", latest["hash"], False) == latest


@pytest.mark.parametrize(
    "fields",
    [
        {"gasPrice": 2 * 10**9},
        {"type": 1, "gasPrice": 2 * 10**9, "accessList": []},
        {"type": 2, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9},
    ],
    ids=["legacy", "eip2930", "eip1559"],
)
async def test_each_transaction_type_is_mined_with_a_matching_receipt(
    rpc: NodeRpc, fields: dict[str, Any]
) -> None:
    sender, to = rpc.node.accounts[2], rpc.node.accounts[3]
    before = int(await rpc.call("eth_getBalance", to.hex_address, "latest"), 16)
    receipt = await rpc.send(sender, to=to.hex_address, value=12345, **fields)
    assert receipt["status"] == "0x1"
    assert receipt["gasUsed"] == hex(21000)
    assert receipt["type"] == hex(fields.get("type", 0))
    assert receipt["from"] == sender.hex_address and receipt["to"] == to.hex_address
    assert int(await rpc.call("eth_getBalance", to.hex_address, "latest"), 16) == before + 12345
    tx = await rpc.call("eth_getTransactionByHash", receipt["transactionHash"])
    assert tx["blockHash"] == receipt["blockHash"] and tx["value"] == hex(12345)
    assert tx["type"] == receipt["type"]
    same = await rpc.call(
        "eth_getTransactionByBlockNumberAndIndex",
        receipt["blockNumber"],
        receipt["transactionIndex"],
    )
    assert same == tx
    block = await rpc.call("eth_getBlockByNumber", receipt["blockNumber"], True)
    assert block["transactions"][int(receipt["transactionIndex"], 16)] == tx
    assert receipt in await rpc.call("eth_getBlockReceipts", receipt["blockNumber"])
    base_fee = int(block["baseFeePerGas"], 16)
    price = int(receipt["effectiveGasPrice"], 16)
    assert price >= base_fee


async def _rejected(rpc: NodeRpc, raw: bytes) -> RpcError:
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
    return exc.value


async def test_invalid_transactions_are_rejected_with_clear_errors_and_change_nothing(
    rpc: NodeRpc,
) -> None:
    sender = rpc.node.accounts[4]
    to = rpc.node.accounts[5].hex_address
    nonce = await rpc.nonce(sender.address)
    head = await rpc.head()
    cases = [
        (
            await rpc.sign(sender, to=to, nonce=max(nonce - 1, 0)) if nonce else None,
            -32001,
            "Nonce too low",
        ),
        (await rpc.sign(sender, to=to, value=10**30), -32004, "insufficient funds"),
        (await rpc.sign(sender, to=to, chainId=1), -32000, "Wrong chainId"),
        (await rpc.sign(sender, to=to, gas=20000), -32003, "Intrinsic gas exceeds gas limit"),
        (await rpc.sign(sender, to=to, gas=10**9), -32005, "exceeds block gas limit"),
        (
            await rpc.sign(sender, to=to, maxFeePerGas=1, maxPriorityFeePerGas=1),
            -32009,
            "Gas price below current base fee",
        ),
    ]
    unprotected = Account.sign_transaction(
        {
            "nonce": nonce,
            "gasPrice": 10**10,
            "gas": 21000,
            "to": to_checksum_address(to),
            "value": 0,
        },
        sender.private_key,
    ).raw_transaction
    cases.append((bytes(unprotected), -32000, "ChainId is required"))
    for raw, code, text in cases:
        if raw is None:
            continue
        err = await _rejected(rpc, raw)
        assert err.code == code and text in err.message, (err, text)
    garbage = await _rejected(rpc, b"\x02\xf8\x01")
    assert garbage.code == -32602
    assert await rpc.nonce(sender.address) == nonce
    assert await rpc.head() == head


async def test_a_spent_nonce_is_too_low(rpc: NodeRpc) -> None:
    sender = rpc.node.accounts[4]
    raw = await rpc.sign(sender, to=rpc.node.accounts[5].hex_address)
    await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
    err = await _rejected(rpc, raw)
    assert (err.code, err.message) == (-32001, "Nonce too low")


async def test_pending_nonce_counts_pool_transactions_until_a_block_takes_them(
    held: NodeRpc,
) -> None:
    sender = held.node.accounts[0]
    latest = int(await held.call("eth_getTransactionCount", sender.hex_address, "latest"), 16)
    hashes = []
    for _ in range(3):
        raw = await held.sign(sender, to=held.node.accounts[1].hex_address)
        hashes.append(await held.call("eth_sendRawTransaction", "0x" + raw.hex()))
    assert await held.nonce(sender.address) == latest + 3
    assert (
        int(await held.call("eth_getTransactionCount", sender.hex_address, "latest"), 16) == latest
    )
    pooled = await held.call("eth_getTransactionByHash", hashes[0])
    assert pooled["blockHash"] is None and pooled["blockNumber"] is None
    assert await held.call("eth_getTransactionReceipt", hashes[0]) is None
    assert await held.call("txpool_status") == {"pending": "0x3", "queued": "0x0"}
    await held.call("evm_mine")
    receipts = [await held.call("eth_getTransactionReceipt", h) for h in hashes]
    assert {r["blockNumber"] for r in receipts} == {hex(await held.head())}
    assert [r["transactionIndex"] for r in receipts] == ["0x0", "0x1", "0x2"]


async def test_a_batch_of_raw_transactions_is_sealed_in_one_block(rpc: NodeRpc) -> None:
    sender = rpc.node.accounts[6]
    nonce = await rpc.nonce(sender.address)
    raws = [
        Account.sign_transaction(
            {
                "type": 2,
                "chainId": rpc.node.chain_id,
                "nonce": nonce + i,
                "gas": 21000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
                "to": to_checksum_address(rpc.node.accounts[7].hex_address),
                "value": 1,
            },
            sender.private_key,
        ).raw_transaction
        for i in range(50)
    ]
    head = await rpc.head()
    answers = await rpc.batch([("eth_sendRawTransaction", ["0x" + bytes(r).hex()]) for r in raws])
    assert all("result" in a for a in answers)
    assert await rpc.head() == head + 1
    assert len((await rpc.block("latest"))["transactions"]) == 50


async def test_contract_deploy_call_and_events(rpc: NodeRpc, token: str) -> None:
    owner, alice = rpc.node.accounts[0], rpc.node.accounts[8]
    assert len(await rpc.call("eth_getCode", token, "latest")) > 100
    data = _call_data("balanceOf(address)", ["address"], [owner.hex_address])
    balance = await rpc.call("eth_call", {"to": token, "data": data}, "latest")
    assert abi_decode(["uint256"], bytes.fromhex(balance[2:]))[0] == SUPPLY
    transfer = _call_data(
        "transfer(address,uint256)", ["address", "uint256"], [alice.hex_address, 777]
    )
    estimate = int(
        await rpc.call(
            "eth_estimateGas", {"from": owner.hex_address, "to": token, "data": transfer}
        ),
        16,
    )
    receipt = await rpc.send(owner, to=token, data=transfer, gas=estimate)
    assert receipt["status"] == "0x1"
    assert int(receipt["gasUsed"], 16) <= estimate
    (log,) = receipt["logs"]
    assert log["address"] == token and log["topics"][0] == TRANSFER_TOPIC
    assert log["topics"][2] == _topic_address(alice.address)
    assert int(log["data"], 16) == 777
    slot = await rpc.call("eth_getStorageAt", token, "0x0", "latest")
    assert int(slot, 16) == SUPPLY  # totalSupply


async def test_a_reverting_call_reports_the_reason(rpc: NodeRpc, token: str) -> None:
    owner, alice = rpc.node.accounts[0], rpc.node.accounts[8]
    data = _call_data(
        "transferFrom(address,address,uint256)",
        ["address", "address", "uint256"],
        [owner.hex_address, alice.hex_address, 1],
    )
    for method in ("eth_call", "eth_estimateGas"):
        with pytest.raises(RpcError) as exc:
            await rpc.call(method, {"from": alice.hex_address, "to": token, "data": data}, "latest")
        assert exc.value.code == 3
        assert exc.value.message == "execution reverted: DevToken: allowance"
        assert exc.value.data.startswith("0x08c379a0")


async def test_get_logs_filters_by_address_topics_and_range(rpc: NodeRpc, token: str) -> None:
    owner = rpc.node.accounts[0]
    bob, carol = rpc.node.accounts[9], rpc.node.accounts[1]
    first = await rpc.head() + 1
    for to, amount in ((bob, 1), (carol, 2), (bob, 3)):
        data = _call_data(
            "transfer(address,uint256)", ["address", "uint256"], [to.hex_address, amount]
        )
        await rpc.send(owner, to=token, data=data, gas=100_000)
    last = await rpc.head()
    span = {"fromBlock": hex(first), "toBlock": hex(last)}
    logs = await rpc.call("eth_getLogs", {**span, "address": token})
    assert [int(entry["data"], 16) for entry in logs] == [1, 2, 3]
    to_bob = await rpc.call(
        "eth_getLogs",
        {**span, "address": [token], "topics": [TRANSFER_TOPIC, None, _topic_address(bob.address)]},
    )
    assert [int(entry["data"], 16) for entry in to_bob] == [1, 3]
    either = await rpc.call(
        "eth_getLogs",
        {
            **span,
            "topics": [None, None, [_topic_address(bob.address), _topic_address(carol.address)]],
        },
    )
    assert len(either) == 3
    assert await rpc.call("eth_getLogs", {**span, "address": "0x" + "00" * 20}) == []
    by_hash = await rpc.call("eth_getLogs", {"blockHash": logs[1]["blockHash"]})
    assert by_hash == [logs[1]]
    with pytest.raises(RpcError) as exc:
        await rpc.call(
            "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(20_000), "address": token}
        )
    assert exc.value.code == -32005
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_getLogs", {"fromBlock": hex(last), "toBlock": hex(first)})
    assert exc.value.code == -32602


async def test_get_proof_verifies_against_the_block_state_root(rpc: NodeRpc, token: str) -> None:
    owner = rpc.node.accounts[0]
    await rpc.call("evm_mine")
    block = await rpc.block("latest")
    state_root = bytes.fromhex(block["stateRoot"][2:])
    slot = int.from_bytes(keccak(owner.address.rjust(32, b"\x00") + (1).to_bytes(32, "big")), "big")
    proof = await rpc.call("eth_getProof", token, [hex(slot), "0x5"], block["number"])
    account = verify_account_proof(
        state_root, bytes.fromhex(token[2:]), [bytes.fromhex(n[2:]) for n in proof["accountProof"]]
    )
    assert account is not None
    assert account.storage_root.hex() == proof["storageHash"][2:]
    assert account.code_hash == keccak(
        bytes.fromhex((await rpc.call("eth_getCode", token, block["number"]))[2:])
    )
    balance_proof, absent_proof = proof["storageProof"]
    proven = verify_storage_proof(
        account.storage_root, slot, [bytes.fromhex(n[2:]) for n in balance_proof["proof"]]
    )
    call = _call_data("balanceOf(address)", ["address"], [owner.hex_address])
    assert proven == int(
        await rpc.call("eth_call", {"to": token, "data": call}, block["number"]), 16
    )
    assert proven == int(balance_proof["value"], 16) > 0
    assert (
        verify_storage_proof(
            account.storage_root, 5, [bytes.fromhex(n[2:]) for n in absent_proof["proof"]]
        )
        == 0
    )
    nobody = bytes.fromhex("00000000000000000000000000000000deadbeef")
    missing = await rpc.call("eth_getProof", "0x" + nobody.hex(), [], block["number"])
    assert (
        verify_account_proof(
            state_root, nobody, [bytes.fromhex(n[2:]) for n in missing["accountProof"]]
        )
        is None
    )


async def test_fee_methods_follow_london_rules(rpc: NodeRpc) -> None:
    await rpc.call("evm_mine")
    history = await rpc.call("eth_feeHistory", "0x4", "latest", [25, 75])
    assert len(history["baseFeePerGas"]) == 5 and len(history["gasUsedRatio"]) == 4
    assert len(history["reward"]) == 4 and all(len(r) == 2 for r in history["reward"])
    latest = await rpc.block("latest")
    assert history["oldestBlock"] == hex(int(latest["number"], 16) - 3)
    assert history["baseFeePerGas"][-2] == latest["baseFeePerGas"]
    tip = int(await rpc.call("eth_maxPriorityFeePerGas"), 16)
    assert int(await rpc.call("eth_gasPrice"), 16) >= tip
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_feeHistory", "0x4", "latest", [75, 25])
    assert exc.value.code == -32602


async def test_bad_json_rpc_input_gets_the_standard_error_codes(rpc: NodeRpc) -> None:
    assert (await rpc.post_raw(b"{not json"))["error"]["code"] == -32700
    assert (await rpc.post([]))["error"]["code"] == -32600
    assert (await rpc.post({"jsonrpc": "2.0", "id": 1}))["error"]["code"] == -32600
    assert (await rpc.post({"jsonrpc": "2.0", "id": 1, "method": "eth_nope"}))["error"][
        "code"
    ] == -32601
    for method, params in [
        ("eth_getBalance", ["0x1234", "latest"]),
        ("eth_getBlockByNumber", ["tomorrow", False]),
        ("eth_getBlockByNumber", []),
        ("eth_getTransactionByHash", ["0xzz"]),
        ("eth_call", ["not an object"]),
    ]:
        answer = await rpc.post({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
        assert answer["id"] == 7 and answer["error"]["code"] == -32602, (method, answer)
    mixed = await rpc.batch([("eth_chainId", []), ("eth_nope", []), ("eth_blockNumber", [])])
    assert "result" in mixed[0] and mixed[1]["error"]["code"] == -32601 and "result" in mixed[2]
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_getBalance", rpc.node.accounts[0].hex_address, hex(10**9))
    assert exc.value.code == -39001


async def test_web3_async_client_works_against_the_node(rpc: NodeRpc) -> None:
    from web3 import AsyncHTTPProvider, AsyncWeb3
    from web3.middleware import ExtraDataToPOAMiddleware

    w3 = AsyncWeb3(AsyncHTTPProvider(rpc.url))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    try:
        assert await w3.eth.chain_id == 20250
        sender = rpc.node.accounts[3]
        tx = {
            "chainId": 20250,
            "nonce": await w3.eth.get_transaction_count(
                to_checksum_address(sender.hex_address), "pending"
            ),
            "to": to_checksum_address(rpc.node.accounts[2].hex_address),
            "value": 5,
            "gas": 21000,
            "maxFeePerGas": await w3.eth.gas_price * 2,
            "maxPriorityFeePerGas": await w3.eth.max_priority_fee,
        }
        signed = Account.sign_transaction(tx, sender.private_key)
        tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
        assert receipt["status"] == 1
        block = await w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
        mined: Any = block["transactions"][0]
        assert mined["hash"] == tx_hash
        token = dev_token()
        contract = w3.eth.contract(abi=token["abi"])
        assert contract.events.Transfer  # ABI loads
    finally:
        await w3.provider.disconnect()
