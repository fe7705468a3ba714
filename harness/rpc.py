"""Plain JSON-RPC clients for tests and benchmarks: what the node answers, nothing more.

No retries, no failover, no result formatting (hex strings stay hex strings): a test sees
exactly what the node said, and a JSON-RPC error raises ``RpcError`` carrying the error
object. Production code talks to nodes through ``adapters.rpc`` instead.

- ``rpc(url, method, *params)``: one call on a short-lived aiohttp session;
- ``RpcClient``: async, reuses one aiohttp session (its own, or one the caller owns), with raw
  ``post``/``post_raw``/``batch`` for tests of the node's JSON-RPC layer;
- ``NodeRpc``: an ``RpcClient`` of a ``devnet.launcher`` node that also signs and sends with
  the node's dev keys;
- ``rpc_sync(url, method, *params)`` and ``SyncRpcClient``: blocking (urllib), for sync tests;
- ``result_of(method, answer)``: the one place an answer object becomes a result or an error,
  also used for answers of ``w3.provider.make_request`` (``harness.chain``).
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp
from eth_account import Account
from eth_utils.address import to_checksum_address

from devnet.keys import DevKey
from devnet.launcher import RunningNode

DEFAULT_TIMEOUT_S = 60.0


class RpcError(Exception):
    """A JSON-RPC error answer: ``error`` is the node's error object as sent, ``code``,
    ``message`` and ``data`` its fields, ``method`` the call that got it."""

    def __init__(self, method: str, error: Mapping[str, Any]) -> None:
        self.method = method
        self.error = dict(error)
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")
        self.data: Any = error.get("data")
        super().__init__(f"{method}: {self.error}")


def result_of(method: str, answer: Any) -> Any:
    """The ``result`` of one JSON-RPC answer object; ``RpcError`` if it is an error."""
    if not isinstance(answer, Mapping):
        raise RpcError(method, {"code": 0, "message": f"not an answer object: {answer!r}"})
    if "error" in answer:
        error = answer["error"]
        if not isinstance(error, Mapping):
            error = {"code": 0, "message": str(error)}
        raise RpcError(method, error)
    if "result" not in answer:
        raise RpcError(method, {"code": 0, "message": f"answer without a result: {answer!r}"})
    return answer["result"]


def request(method: str, params: Sequence[Any], request_id: int = 1) -> dict[str, Any]:
    """One JSON-RPC 2.0 request object."""
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def hex_of(value: bytes | str) -> str:
    return value if isinstance(value, str) else "0x" + value.hex()


async def rpc(url: str, method: str, *params: Any) -> Any:
    """One call on a short-lived session (prefer ``RpcClient`` for more than a few)."""
    async with RpcClient(url) as client:
        return await client.call(method, *params)


class RpcClient:
    """Async JSON-RPC to one URL over one aiohttp session.

    Pass ``session`` to share a session the caller owns (it is not closed here); without one,
    the client opens its own on first use and closes it in ``aclose`` / ``async with``.
    """

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._ids: Iterator[int] = itertools.count(1)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def post(self, payload: Any) -> Any:
        """POST any JSON payload (a request, a batch, or something invalid); the decoded
        answer as sent, whatever the HTTP status or content type."""
        async with self.session.post(self.url, json=payload) as resp:
            return await resp.json(content_type=None)

    async def post_raw(self, body: bytes) -> Any:
        """POST raw bytes as application/json; the decoded answer."""
        headers = {"Content-Type": "application/json"}
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            return await resp.json(content_type=None)

    async def call(self, method: str, *params: Any) -> Any:
        """The result of ``method(*params)``; ``RpcError`` with the node's error object."""
        return result_of(method, await self.post(request(method, params, next(self._ids))))

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One batch request (ids 0..n-1); the answer objects (not results) sorted by id."""
        payload = [request(m, p, i) for i, (m, p) in enumerate(calls)]
        answers = await self.post(payload)
        return sorted(answers, key=lambda a: a["id"])

    async def block(self, tag: str | int = "latest", full: bool = False) -> dict[str, Any]:
        if isinstance(tag, int):
            tag = hex(tag)
        result: dict[str, Any] = await self.call("eth_getBlockByNumber", tag, full)
        return result

    async def head(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def nonce(self, address: bytes | str, tag: str = "pending") -> int:
        return int(await self.call("eth_getTransactionCount", hex_of(address), tag), 16)

    async def send_raw(self, raw: bytes) -> str:
        """``eth_sendRawTransaction``; the transaction hash (hex)."""
        tx_hash: str = await self.call("eth_sendRawTransaction", "0x" + raw.hex())
        return tx_hash


class NodeRpc(RpcClient):
    """``RpcClient`` of a node started by ``devnet.launcher``, signing with its dev keys
    (dev-only keys) for the node's chain id."""

    def __init__(
        self,
        node: RunningNode,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(node.url, session, timeout=timeout)
        self.node = node

    async def sign(self, key: DevKey, **fields: Any) -> bytes:
        """A signed transaction: a 21,000-gas EIP-1559 transfer of 0 at the pending nonce
        unless ``fields`` say otherwise (``gasPrice`` makes it a legacy transaction)."""
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
        """Sign, send and return the receipt (for instant-seal nodes: mined on arrival)."""
        tx_hash = await self.send_raw(await self.sign(key, **fields))
        receipt: dict[str, Any] = await self.call("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None, "instant-seal node did not mine the transaction"
        return receipt


def rpc_sync(url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """One blocking call (urllib); ``RpcError`` with the node's error object."""
    return SyncRpcClient(url, timeout=timeout).call(method, *params)


class SyncRpcClient:
    """Blocking JSON-RPC (urllib), so a sync test reads as the sequence of node calls it
    makes."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self._timeout = timeout
        self._ids: Iterator[int] = itertools.count(1)

    def post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self._timeout) as response:
            return json.loads(response.read())

    def call(self, method: str, *params: Any) -> Any:
        return result_of(method, self.post(request(method, params, next(self._ids))))

    def block(self, tag: str | int = "latest", full: bool = False) -> dict[str, Any]:
        if isinstance(tag, int):
            tag = hex(tag)
        result: dict[str, Any] = self.call("eth_getBlockByNumber", tag, full)
        return result

    def head(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def nonce(self, address: bytes | str, tag: str = "pending") -> int:
        return int(self.call("eth_getTransactionCount", hex_of(address), tag), 16)
