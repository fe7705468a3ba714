"""A JSON-RPC proxy in front of a real node that corrupts answers on demand.

Faults a real node cannot produce on demand (a flipped byte, a dropped field, garbage, a slow
or failing answer) are injected by wrapping the real node, never by mocking it:

    async with faulty_proxy(node.url) as proxy:
        proxy.fault = Fault(method="eth_getBlockByNumber", mutate=flip("stateRoot"))
        adapter pointed at proxy.url ...

Without a fault (or once ``times`` is used up) requests pass through unchanged.

A test that blocks (service processes, ``time.sleep``) runs the proxy on its own event loop
in a thread instead, and sets ``proxy.fault`` from the test's thread:

    with proxy_thread(node.url) as proxy:
        proxy.fault = Fault(drop=True)            # every connection closed unanswered
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

Mutation = Callable[[Any], Any]


@dataclass
class Fault:
    """What to do with matching calls. Exactly one of mutate/body/error/status/drop, or only
    delay."""

    method: str | None = None  # JSON-RPC method to hit; None hits every call
    times: int | None = None  # hit only the first N matching calls
    mutate: Mutation | None = None  # rewrite the upstream result (gets a deep copy)
    body: bytes | None = None  # answer these raw bytes (e.g. garbage, not JSON)
    error: tuple[int, str] | None = None  # answer a JSON-RPC error
    status: int | None = None  # answer this HTTP status
    delay: float = 0.0  # sleep before answering
    drop: bool = False  # close the connection without an answer
    hits: int = 0

    def applies(self, method: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        return self.times is None or self.hits < self.times


@dataclass
class FaultyProxy:
    upstream: str
    url: str = ""
    fault: Fault | None = None
    calls: list[str] = field(default_factory=list)  # every method seen, in order

    def count(self, method: str) -> int:
        return self.calls.count(method)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        payload = json.loads(raw)
        method = payload.get("method", "") if isinstance(payload, dict) else "<batch>"
        self.calls.append(method)
        fault = self.fault
        if fault is not None and fault.applies(method):
            fault.hits += 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.drop:
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=599)  # never sent: the connection is gone
            if fault.status is not None:
                return web.Response(status=fault.status, text="injected HTTP error")
            if fault.body is not None:
                return web.Response(body=fault.body, content_type="application/json")
            if fault.error is not None:
                code, message = fault.error
                return web.json_response(
                    {
                        "jsonrpc": "2.0",
                        "id": payload.get("id"),
                        "error": {"code": code, "message": message},
                    }
                )
            answer = await self._forward(raw)
            if fault.mutate is not None and "result" in answer:
                answer["result"] = fault.mutate(copy.deepcopy(answer["result"]))
            return web.json_response(answer)
        return web.json_response(await self._forward(raw))

    async def _forward(self, raw: bytes) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.upstream, data=raw, headers={"Content-Type": "application/json"}
            ) as resp,
        ):
            return await resp.json(content_type=None)


@contextlib.asynccontextmanager
async def faulty_proxy(upstream: str) -> AsyncIterator[FaultyProxy]:
    proxy = FaultyProxy(upstream)
    app = web.Application()
    app.router.add_post("/", proxy.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held by us: no race with other processes
    site = web.SockSite(runner, sock)
    await site.start()
    proxy.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield proxy
    finally:
        await runner.cleanup()
        sock.close()


@contextlib.contextmanager
def proxy_thread(upstream: str) -> Iterator[FaultyProxy]:
    """``faulty_proxy`` served by a thread of its own (its own event loop), for tests that
    block; stopped when the block ends."""
    loop = asyncio.new_event_loop()
    started: asyncio.Future[FaultyProxy] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with faulty_proxy(upstream) as proxy:
            started.set_result(proxy)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    proxy = asyncio.run_coroutine_threadsafe(_result(started), loop).result(timeout=10)
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


async def _result(future: asyncio.Future[FaultyProxy]) -> FaultyProxy:
    return await future


# --- mutations ---------------------------------------------------------------------------------


def flip(key: str, byte: int = -1) -> Mutation:
    """Flip one bit of the ``byte``-th byte of a hex field of an object result."""

    def mutate(result: Any) -> Any:
        raw = bytearray(bytes.fromhex(result[key][2:]))
        raw[byte] ^= 0x01
        result[key] = "0x" + raw.hex()
        return result

    return mutate


def drop(key: str) -> Mutation:
    def mutate(result: Any) -> Any:
        del result[key]
        return result

    return mutate


def replace(key: str, value: Any) -> Mutation:
    def mutate(result: Any) -> Any:
        result[key] = value
        return result

    return mutate


def each(mutation: Mutation, index: int = 0) -> Mutation:
    """Apply ``mutation`` to element ``index`` of a list result."""

    def mutate(result: Any) -> Any:
        result[index] = mutation(result[index])
        return result

    return mutate


def constant(value: Any) -> Mutation:
    return lambda _result: value
