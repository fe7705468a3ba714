"""Fixtures for the devnet node tests: nodes started with ``devnet.launcher`` on free loopback
ports, a small JSON-RPC client, and transaction helpers (dev-only keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from devnet.keys import DevKey
from devnet.launcher import RunningNode, start_consortium, start_plain


@dataclass
class RpcFailure(Exception):
    code: int
    message: str
    data: Any = None


class Rpc:
    """Plain JSON-RPC over aiohttp, so tests see exactly what the node answers."""

    def __init__(self, node: RunningNode, session: aiohttp.ClientSession) -> None:
        self.node = node
        self.url = node.url
        self.session = session
        self._id = 0

    async def post(self, payload: Any) -> Any:
        async with self.session.post(self.url, json=payload) as resp:
            return await resp.json(content_type=None)

    async def post_raw(self, body: bytes) -> Any:
        headers = {"Content-Type": "application/json"}
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            return await resp.json(content_type=None)

    async def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        answer = await self.post(
            {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        )
        if "error" in answer:
            err = answer["error"]
            raise RpcFailure(err["code"], err["message"], err.get("data"))
        return answer["result"]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        answers = await self.post(payload)
        return sorted(answers, key=lambda a: a["id"])

    async def block(self, tag: str | int = "latest", full: bool = False) -> dict[str, Any]:
        if isinstance(tag, int):
            tag = hex(tag)
        result: dict[str, Any] = await self.call("eth_getBlockByNumber", tag, full)
        return result

    async def head(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def nonce(self, address: bytes | str) -> int:
        return int(await self.call("eth_getTransactionCount", _hex(address), "pending"), 16)

    async def sign(self, key: DevKey, **fields: Any) -> bytes:
        tx: dict[str, Any] = {
            "chainId": self.node.chain_id,
            "nonce": await self.nonce(key.address),
            "gas": 21000,
            "value": 0,
        }
        if "gasPrice" not in fields:
            tx.update(type=2, maxFeePerGas=10**11, maxPriorityFeePerGas=10**9)
        tx.update(fields)
        if isinstance(tx.get("to"), str):
            tx["to"] = to_checksum_address(tx["to"])
        return bytes(Account.sign_transaction(tx, key.private_key).raw_transaction)

    async def send(self, key: DevKey, **fields: Any) -> dict[str, Any]:
        """Sign, send and return the receipt (the test nodes seal instantly)."""
        raw = await self.sign(key, **fields)
        tx_hash = await self.call("eth_sendRawTransaction", "0x" + raw.hex())
        receipt: dict[str, Any] = await self.call("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None, "instant-seal node did not mine the transaction"
        return receipt


def _hex(value: bytes | str) -> str:
    return value if isinstance(value, str) else "0x" + value.hex()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture(scope="session")
async def devnet() -> AsyncIterator[RunningNode]:
    """The shared consortium node of this suite (instant seal, 4 validators)."""
    async with start_consortium(config={"instant_seal": True}) as node:
        yield node


@pytest.fixture(scope="session")
async def rpc(devnet: RunningNode, http: aiohttp.ClientSession) -> Rpc:
    return Rpc(devnet, http)


@pytest.fixture(scope="session")
async def plain() -> AsyncIterator[RunningNode]:
    async with start_plain() as node:
        yield node


@pytest.fixture(scope="session")
async def plain_rpc(plain: RunningNode, http: aiohttp.ClientSession) -> Rpc:
    return Rpc(plain, http)
