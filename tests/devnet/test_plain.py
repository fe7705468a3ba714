"""Plain mode: the public-chain fallback (unsealed post-merge headers, auto-mine, no allowlist)."""

from __future__ import annotations

import pytest
from eth_account import Account

from adapters.headers import header_from_rpc, header_hash
from devnet.keys import DevKey
from harness import NodeRpc, RpcError

STRANGER = DevKey(bytes.fromhex(Account.from_key(b"\x17" * 32).address[2:]), b"\x17" * 32)


async def test_plain_node_has_post_merge_headers_hashed_the_ethereum_way(
    plain_rpc: NodeRpc,
) -> None:
    assert await plain_rpc.call("eth_chainId") == hex(31337)
    await plain_rpc.call("evm_mine")
    genesis, block = await plain_rpc.block(0), await plain_rpc.block("latest")
    header = header_from_rpc(block)
    assert header.field_count == 20  # Cancun
    assert header.difficulty == 0 and header.nonce == b"\x00" * 8
    assert header.extra_data == b""
    assert "0x" + header_hash(header).hex() == block["hash"]
    assert "0x" + header_hash(header_from_rpc(genesis)).hex() == genesis["hash"]


async def test_plain_node_mines_each_transaction_at_once_for_anyone(plain_rpc: NodeRpc) -> None:
    funder = plain_rpc.node.accounts[0]
    head = await plain_rpc.head()
    await plain_rpc.send(funder, to=STRANGER.hex_address, value=10**18)
    assert await plain_rpc.head() == head + 1
    receipt = await plain_rpc.send(STRANGER, to=funder.hex_address, value=1)
    assert receipt["status"] == "0x1"
    assert await plain_rpc.head() == head + 2


async def test_plain_node_has_no_qbft_or_permissioning_methods(plain_rpc: NodeRpc) -> None:
    for method in ("qbft_getValidatorsByBlockNumber", "perm_getAccountsAllowlist"):
        with pytest.raises(RpcError) as exc:
            await plain_rpc.call(method, "latest")
        assert exc.value.code == -32601
