"""The EVM fork is chosen in the devnet config, as Besu networks choose it in genesis:
Shanghai (default), Cancun and Prague. Headers of every fork verify with the Python QBFT light
client (adapters.lightclient.qbft), transactions included, and the fork's opcodes work."""

from __future__ import annotations

import itertools

import aiohttp
import pytest

from adapters.headers import header_from_rpc
from adapters.lightclient.qbft import trust_header, verify_next
from devnet.launcher import start_consortium
from harness import NodeRpc, RpcError

CALLER = "0x" + "22" * 20
# BLOBBASEFEE (Cancun, 0x4a) PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
BLOBBASEFEE_CODE = "0x4a60005260206000f3"


@pytest.mark.parametrize(("fork", "fields"), [("cancun", 20), ("prague", 21)])
async def test_fork_headers_verify_with_the_qbft_light_client(
    http: aiohttp.ClientSession, fork: str, fields: int
) -> None:
    async with start_consortium(config={"instant_seal": True, "fork": fork}) as node:
        rpc = NodeRpc(node, http)
        for i in range(3):
            await rpc.send(node.accounts[i], to=node.accounts[i + 1].hex_address, value=1)
        head = await rpc.head()
        blocks = [await rpc.block(n) for n in range(head + 1)]
        trusted = trust_header(header_from_rpc(blocks[0]))
        for parent, block in itertools.pairwise(blocks):
            header = header_from_rpc(block)
            assert header.field_count == fields
            assert block["parentHash"] == parent["hash"]
            verified = verify_next(trusted, header)
            assert "0x" + verified.hash.hex() == block["hash"]
            trusted = verified.trusted()
        assert trusted.number == head >= 3
        assert len(blocks[-1]["transactions"]) == 1
        if fork == "prague":
            assert "requestsHash" in blocks[-1]
        overrides = {CALLER: {"code": BLOBBASEFEE_CODE}}
        assert int(await rpc.call("eth_call", {"to": CALLER}, "latest", overrides), 16) >= 1


async def test_shanghai_default_has_no_cancun_opcodes(rpc: NodeRpc) -> None:
    overrides = {CALLER: {"code": BLOBBASEFEE_CODE}}
    with pytest.raises(RpcError) as exc:
        await rpc.call("eth_call", {"to": CALLER}, "latest", overrides)
    assert exc.value.message == "invalid opcode: 0x4a"
    assert exc.value.data is None
