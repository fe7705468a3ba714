"""JSON-RPC over HTTP for the EVM adapters: bounded answers, typed errors, retries, failover.

Hand-written on aiohttp rather than web3's provider: web3 reads a whole answer into memory and
hands it to ``json.loads`` (a deeply nested answer overflows the C stack), and bounding it meant
overriding web3's private ``_make_request``. Here one POST is read at most
``max_response_bytes`` far and parsed by ``adapters.jsonlimits.loads_bounded``.

- Every failure is an ``adapters.errors`` type: ``RpcUnavailable`` (unreachable, timeout, HTTP
  429/5xx, rate limiting), ``RpcError`` (a JSON-RPC error answer, with ``code``,
  ``rpc_message`` and ``data``), ``RpcResponseInvalid`` (not JSON-RPC, too large, too deep).
- **Failover**: the endpoints are tried in order; one that is unavailable is set aside for
  ``failover_cooldown_s`` and the next one answers the same request. Other errors are the
  answer (a JSON-RPC error from a healthy node is not a reason to ask another).
- Errors and logs show endpoints as ``scheme://host:port`` only (``redact_url``): provider URLs
  carry API keys.
- An optional ``RpcObserver`` sees every answer (or failure) with its duration; the relay
  service counts RPC errors by chain and kind with it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import aiohttp

from adapters.base import AdapterClosed
from adapters.errors import (
    ConfigError,
    DecodeError,
    RpcError,
    RpcResponseInvalid,
    RpcUnavailable,
    XgateError,
)
from adapters.jsonlimits import loads_bounded
from adapters.retry import RetryPolicy
from adapters.rpc.answers import clip, has_hint, parse_data

__all__ = [
    "EXECUTION_REVERTED",
    "INVALID_PARAMS",
    "LIMIT_EXCEEDED",
    "MAX_RPC_JSON_DEPTH",
    "MAX_RPC_RESPONSE_BYTES",
    "METHOD_NOT_FOUND",
    "RpcObserver",
    "RpcTransport",
    "redact_url",
    "revert_data",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# JSON-RPC error codes with a meaning we act on.
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603  # JSON-RPC 2.0: the server failed
LIMIT_EXCEEDED = -32005  # EIP-1474: "limit exceeded" (too many logs, rate limits)
EXECUTION_REVERTED = 3  # geth, anvil, the devnet: eth_call / eth_estimateGas reverted

# Providers word "too many logs" as a limit error too; that one is answered by splitting the
# range (EvmAdapter.events), not by waiting.
LOG_RANGE_HINTS = ("range", "too many", "limit", "exceed")

# Bounds on one JSON-RPC answer (adapters.jsonlimits): a full block's receipts or a node-capped
# eth_getLogs page is a few MB; real answers nest < 10 deep.
MAX_RPC_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_RPC_JSON_DEPTH = 64
# Revert data is kept whole up to this size (hex characters) so it can be decoded; longer
# error data is clipped like any other value shown in an error.
_MAX_ERROR_DATA_CHARS = 2 + 2 * 64 * 1024
_READ_CHUNK = 1 << 16


@runtime_checkable
class RpcObserver(Protocol):
    """Sees every JSON-RPC request the transport sends, once per endpoint tried.

    Called inline on the event loop: it must neither block nor raise (count, do not log).
    ``error`` is None for a result, else the typed error the request ended with (a JSON-RPC
    error answer included); ``type(error).__name__`` is its kind.
    """

    def on_response(
        self, chain_id: int, method: str, seconds: float, error: XgateError | None
    ) -> None: ...


def redact_url(url: str) -> str:
    """scheme://host[:port] only: provider URLs often carry an API key in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def revert_data(exc: RpcError) -> bytes | None:
    """The revert data of a JSON-RPC error that reports an EVM revert (b"" for a bare
    ``revert()``), or None when the error is something else (bad params, out of gas ...)."""
    message = str(exc.context.get("rpc_message", ""))
    reverted = exc.context.get("code") == EXECUTION_REVERTED or "revert" in message.lower()
    if not reverted:
        return None
    data = exc.context.get("data")
    if isinstance(data, Mapping):  # some clients nest it: {"data": "0x..."}
        data = data.get("data")
    if not isinstance(data, str) or len(data) > _MAX_ERROR_DATA_CHARS:
        return b""
    try:
        return parse_data(data, "error.data")
    except RpcResponseInvalid:
        return b""


class RpcTransport:
    """JSON-RPC requests to one chain through an ordered list of equivalent endpoints."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        chain_id: int,
        timeout_s: float,
        retry: RetryPolicy,
        observer: RpcObserver | None = None,
        failover_cooldown_s: float = 30.0,
        max_response_bytes: int = MAX_RPC_RESPONSE_BYTES,
        max_json_depth: int = MAX_RPC_JSON_DEPTH,
    ) -> None:
        if not urls:
            raise ConfigError("the transport needs at least one endpoint URL")
        if len(set(urls)) != len(urls):
            raise ConfigError("an endpoint URL is listed twice", urls=[redact_url(u) for u in urls])
        self._urls = tuple(urls)
        self._chain_id = chain_id
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retry = retry
        self._observer = observer
        self._cooldown = failover_cooldown_s
        self._max_bytes = max_response_bytes
        self._max_depth = max_json_depth
        self._down_until = [0.0] * len(urls)  # loop time before which an endpoint is set aside
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The endpoints, redacted, in failover order."""
        return tuple(redact_url(u) for u in self._urls)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- requests ---------------------------------------------------------------------------

    async def call(self, method: str, params: Sequence[Any], parse: Callable[[Any], T]) -> T:
        """``request`` + ``parse``, retried as a unit under the policy (a garbage answer is
        retried like an unreachable node)."""

        async def once() -> T:
            return parse(await self.request(method, params))

        return await self.retrying(method, once)

    async def retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """``operation`` under the retry policy; the log line names the chain."""
        return await self._retry.run(operation, what=f"{what} on chain {self._chain_id}")

    async def request(self, method: str, params: Sequence[Any]) -> Any:
        """One JSON-RPC request, no retry: its ``result``, or a typed error. An unavailable
        endpoint hands the request to the next one."""
        if self._closed:
            raise AdapterClosed("RPC transport is closed", method=method)
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Endpoints not set aside first, in configured order; set-aside ones still get a try.
        order = sorted(range(len(self._urls)), key=lambda i: (self._down_until[i] > now, i))
        unavailable: RpcUnavailable | None = None
        for position, index in enumerate(order):
            started = loop.time()
            try:
                result = await self._post(self._urls[index], method, params)
            except XgateError as exc:
                self._observe(method, loop.time() - started, exc)
                if not isinstance(exc, RpcUnavailable):
                    raise
                unavailable = exc
                self._down_until[index] = loop.time() + self._cooldown
                if position + 1 < len(order):
                    log.warning(
                        "chain %d: endpoint %s unavailable (%s), failing over to %s",
                        self._chain_id,
                        redact_url(self._urls[index]),
                        exc.message,
                        redact_url(self._urls[order[position + 1]]),
                    )
                continue
            self._observe(method, loop.time() - started, None)
            self._down_until[index] = 0.0
            return result
        assert unavailable is not None
        raise unavailable

    def _observe(self, method: str, seconds: float, error: XgateError | None) -> None:
        if self._observer is not None:
            self._observer.on_response(self._chain_id, method, seconds, error)

    async def _post(self, url: str, method: str, params: Sequence[Any]) -> Any:
        request_id = next(self._ids)
        payload = json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        ).encode()
        try:
            body = await self._exchange(url, payload)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RpcUnavailable(
                "node unreachable", method=method, url=redact_url(url), reason=clip(exc)
            ) from exc
        except _HttpStatus as exc:
            if exc.status == 429 or exc.status >= 500:
                raise RpcUnavailable(
                    "node answered with an HTTP error",
                    method=method,
                    url=redact_url(url),
                    status=exc.status,
                ) from None
            raise RpcError(
                "node rejected the HTTP request",
                method=method,
                url=redact_url(url),
                status=exc.status,
            ) from None
        try:
            answer = loads_bounded(body, max_bytes=self._max_bytes, max_depth=self._max_depth)
        except DecodeError as exc:
            raise RpcResponseInvalid(
                f"node answer refused: {exc.message}", method=method, **exc.context
            ) from exc
        return _result(answer, method, request_id)

    async def _exchange(self, url: str, payload: bytes) -> bytes:
        """POST ``payload``; the body, read no further than the size bound."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        response = await self._session.post(
            url, data=payload, headers={"Content-Type": "application/json"}
        )
        try:
            if response.status >= 400:
                raise _HttpStatus(response.status)
            if (response.content_length or 0) > self._max_bytes:
                raise _too_large(response.content_length or 0, self._max_bytes)
            body = bytearray()
            async for chunk in response.content.iter_chunked(_READ_CHUNK):
                body += chunk
                if len(body) > self._max_bytes:
                    raise _too_large(len(body), self._max_bytes)
        except BaseException:
            response.close()  # drop the connection rather than drain an unwanted body
            raise
        response.release()
        return bytes(body)


class _HttpStatus(Exception):
    """Internal: an HTTP error status, mapped by ``_post``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _too_large(size: int, limit: int) -> RpcResponseInvalid:
    return RpcResponseInvalid(
        "node answer refused: JSON document too large", size=size, limit=limit
    )


def _result(answer: Any, method: str, request_id: int) -> Any:
    if not isinstance(answer, Mapping):
        raise RpcResponseInvalid("node answer is not a JSON-RPC object", method=method)
    error = answer.get("error")
    if error is not None:
        raise _rpc_error(error, method)
    if answer.get("id") != request_id:
        raise RpcResponseInvalid("node answered another request id", method=method)
    if "result" not in answer:
        raise RpcResponseInvalid("JSON-RPC answer has neither result nor error", method=method)
    return answer["result"]


def _rpc_error(error: Any, method: str) -> XgateError:
    if not isinstance(error, Mapping):
        return RpcResponseInvalid("node sent a malformed JSON-RPC error", method=method)
    code = error.get("code")
    message = error.get("message")
    if isinstance(code, bool) or not isinstance(code, int) or not isinstance(message, str):
        return RpcResponseInvalid("node sent a malformed JSON-RPC error", method=method)
    if code == LIMIT_EXCEEDED and not has_hint(message, LOG_RANGE_HINTS):
        return RpcUnavailable(
            "node is rate limiting", method=method, code=code, rpc_message=clip(message)
        )
    data = error.get("data")
    if code == INTERNAL_ERROR and data is None:
        # The node failed on its side (overload, a storage hiccup): the same request may
        # succeed later. With data it may be a revert (Hardhat reports them so): fatal.
        return RpcUnavailable(
            "node failed internally", method=method, code=code, rpc_message=clip(message)
        )
    if data is not None and not (isinstance(data, str) and len(data) <= _MAX_ERROR_DATA_CHARS):
        data = clip(data)
    return RpcError(
        "node returned a JSON-RPC error",
        method=method,
        code=code,
        rpc_message=message[:500],
        data=data,
    )
