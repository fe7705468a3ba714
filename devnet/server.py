"""HTTP JSON-RPC server of the devnet node (aiohttp) and its block producer.

Threads. One producer thread builds blocks (py-evm takes a second or more for a block of many
contract calls); the loop then writes them to SQLite (the connection is the loop's). One
asyncio lock (``write_lock``) keeps one writer: sealing holds it, and so does every request
that changes the node or reads what sealing changes (``devnet.rpc.serialised``: raw
transactions, votes, allowlist, filters, evm_* helpers, the pending nonce); those run on the
loop, one batch item at a time, and wait for a block being built (evm_mine seals on the loop).
Other requests read sealed data and never wait: bounded lookups on the loop, the
``devnet.rpc.EXPENSIVE`` ones (eth_call, eth_getLogs, ...) on ``rpc_workers`` worker threads,
at most that many at once. The producer publishes ``head`` last (``devnet.chain``), so a reader
sees the previous head or the new one with all its data; the new block and receipts are cached
as built, not decoded again on the loop. Under the GIL the producer hands the interpreter back
every few milliseconds. Large bodies are parsed and large answers encoded on the workers.

Budgets. A body is at most ``max_request_bytes`` (else HTTP 413) and ``max_json_depth`` deep
(else -32700 naming the depth), parsed with ``adapters.jsonlimits.loads_bounded``. A batch has
at most ``max_batch_size`` requests and costs at most ``max_batch_cost`` units
(``devnet.rpc.request_cost``): a batch of 1,000 eth_calls costs what 1,000 calls cost. Single
requests are bounded by the gas cap and the log limits (``devnet.config``).

Block production:
- ``block_time`` > 0 and not ``instant_seal``: a block every ``block_time`` seconds, empty or
  not (like Besu QBFT);
- ``instant_seal``: after each request (or JSON-RPC batch) that pooled transactions, seal
  blocks (on the producer thread) until the pool has nothing executable, before answering; so
  a batch of many raw transactions lands in as few blocks as the gas limit allows (requests
  answered meanwhile do not seal).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from aiohttp import web

from adapters.errors import DecodeError, XgateError
from adapters.jsonlimits import loads_bounded
from devnet import errors
from devnet.chain import DevnetChain
from devnet.errors import RpcMethodError
from devnet.rpc import EXPENSIVE, RpcApi, request_cost, serialised

log = logging.getLogger("devnet.server")

# Bodies and answers above this size are decoded/encoded on a worker thread.
_OFFLOAD_BYTES: Final = 256 * 1024


def _error(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


def _invalid_request(id_: Any) -> dict[str, Any]:
    return _error(id_, errors.INVALID_REQUEST, "Invalid Request")


def _valid_id(value: Any) -> bool:
    """JSON-RPC 2.0 ids: a string, a number or null (NaN and Infinity are not JSON numbers)."""
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats (echoed from a request) as strings: strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _encode(answer: Any) -> bytes:
    try:
        return json.dumps(answer, allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(answer), allow_nan=False).encode()


class DevnetServer:
    def __init__(self, chain: DevnetChain) -> None:
        self.chain = chain
        self.api = RpcApi(chain)
        cfg = chain.config
        self.app = web.Application(client_max_size=cfg.max_request_bytes)
        self.app.router.add_post("/", self.handle)
        self.app.router.add_get("/health", self.health)
        self.app.cleanup_ctx.append(self._producer_ctx)
        self.app.cleanup_ctx.append(self._workers_ctx)
        self.workers: ThreadPoolExecutor | None = None
        self.slots: asyncio.Semaphore | None = None
        self.producer: ThreadPoolExecutor | None = None
        # Held while a block is sealed and by every request that changes the node
        # (``devnet.rpc.serialised``): one writer at a time.
        self.write_lock = asyncio.Lock()

    async def _workers_ctx(self, app: web.Application) -> Any:
        workers = self.chain.config.rpc_workers
        self.workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devnet-rpc")
        self.slots = asyncio.Semaphore(workers)
        yield
        self.workers.shutdown(wait=True, cancel_futures=True)

    async def _producer_ctx(self, app: web.Application) -> Any:
        self.producer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devnet-producer")
        task = None
        cfg = self.chain.config
        if not cfg.instant_seal and cfg.block_time > 0:
            task = asyncio.create_task(self._produce_periodically(cfg.block_time))
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.producer.shutdown(wait=True)  # the chain is closed after this: no block half-sealed

    async def _produce_periodically(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                await self._seal(allow_empty=True)
            except Exception:  # keep producing: one bad block attempt must not stop the chain
                log.exception("block production failed")
            self.api.expire_filters()
            # A block that took longer than the interval is followed at once, without a burst.
            next_at = max(next_at + interval, loop.time())

    async def _seal(self, allow_empty: bool) -> None:
        """On the producer thread, seal one block, empty or not (``allow_empty``), or else
        blocks until the pool has nothing executable; then flush them here (SQLite belongs to
        the loop's thread). The write lock is held throughout; reads go on meanwhile."""
        async with self.write_lock:
            try:
                sealed = await self._on_producer(self.chain.seal_block, allow_empty)
                while sealed is not None and not allow_empty:
                    sealed = await self._on_producer(self.chain.seal_block, allow_empty)
            finally:
                self.chain.flush()

    async def _on_producer(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the producer thread. A cancelled caller still waits for it to end,
        so the write lock is never released while the producer writes."""
        assert self.producer is not None
        future = asyncio.get_running_loop().run_in_executor(self.producer, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            while not future.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({future})
            raise

    async def _offload(self, fn: Any, *args: Any) -> Any:
        assert self.workers is not None and self.slots is not None
        async with self.slots:
            return await asyncio.get_running_loop().run_in_executor(self.workers, fn, *args)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "block": int(self.chain.head.block_number)})

    def _reply(self, body: bytes) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp answers 413 above client_max_size
        cfg = self.chain.config
        try:
            if len(body) > _OFFLOAD_BYTES:
                payload = await self._offload(self._decode, body)
            else:
                payload = self._decode(body)
        except DecodeError as exc:
            return self._reply(_encode(_error(None, errors.PARSE_ERROR, "Parse error", str(exc))))
        if isinstance(payload, list):
            if not payload:
                return self._reply(_encode(_invalid_request(None)))
            if len(payload) > cfg.max_batch_size:
                return self._refuse_batch(
                    "Number of requests exceeds max batch size",
                    f"{len(payload)} requests, at most {cfg.max_batch_size}",
                )
            cost = sum(
                request_cost(self.api, item.get("method"), item.get("params"))
                if isinstance(item, dict)
                else 1
                for item in payload
            )
            if cost > cfg.max_batch_cost:
                return self._refuse_batch(
                    "Batch cost exceeds the limit",
                    f"batch costs {cost} units, at most {cfg.max_batch_cost}",
                )
            answers = []
            pooled = False
            for item in payload:
                answer, pooled_one = await self._one(item)
                pooled |= pooled_one
                if answer is not None:
                    answers.append(answer)
                await asyncio.sleep(0)  # let the producer in between the requests of a batch
            await self._seal_if_instant(pooled)
            if not answers:  # JSON-RPC 2.0: a batch of notifications gets nothing back
                return web.Response(status=204)
            return self._reply(await self._encode_answer(answers))
        answer, pooled = await self._one(payload)
        await self._seal_if_instant(pooled)
        if answer is None:
            return web.Response(status=204)
        return self._reply(await self._encode_answer(answer))

    def _refuse_batch(self, message: str, data: str) -> web.Response:
        return self._reply(_encode(_error(None, errors.LIMIT_EXCEEDED, message, data)))

    def _decode(self, body: bytes) -> Any:
        cfg = self.chain.config
        return loads_bounded(body, max_bytes=cfg.max_request_bytes, max_depth=cfg.max_json_depth)

    async def _encode_answer(self, answer: Any) -> bytes:
        # Rough size first: only large answers (many logs, full blocks) are worth a thread hop.
        if (isinstance(answer, list) and len(answer) > 64) or _large_result(answer):
            encoded: bytes = await self._offload(_encode, answer)
            return encoded
        return _encode(answer)

    async def _one(self, req: Any) -> tuple[dict[str, Any] | None, bool]:
        """The answer to one request (None for a notification), and whether it pooled a
        transaction."""
        if not isinstance(req, dict) or not _valid_id(req.get("id")):
            return _invalid_request(None), False
        id_ = req.get("id")
        method = req.get("method")
        if not isinstance(method, str) or req.get("jsonrpc", "2.0") != "2.0":
            return _invalid_request(id_), False
        pooled = False
        try:
            if method in EXPENSIVE:
                result = await self._offload(self.api.call, method, req.get("params"))
            elif serialised(method, req.get("params")):
                async with self.write_lock:  # waits for a block being sealed
                    self.api.accepted_tx = False
                    try:
                        result = self.api.call(method, req.get("params"))
                    finally:
                        pooled = self.api.accepted_tx
            else:
                result = self.api.call(method, req.get("params"))
        except RpcMethodError as exc:
            answer = {"jsonrpc": "2.0", "id": id_, "error": exc.to_json()}
        except XgateError as exc:
            answer = _error(id_, -32000, exc.message, exc.to_dict())
        except Exception:
            log.exception("internal error in %s", method)
            answer = _error(id_, errors.INTERNAL_ERROR, "Internal error")
        else:
            answer = {"jsonrpc": "2.0", "id": id_, "result": result}
        return (answer if "id" in req else None), pooled

    async def _seal_if_instant(self, pooled: bool) -> None:
        # Only the request that pooled seals: a read answered meanwhile does not cut a batch
        # of raw transactions into several blocks.
        if pooled and self.chain.config.instant_seal:
            await self._seal(allow_empty=False)


def _large_result(answer: Any) -> bool:
    result = answer.get("result") if isinstance(answer, dict) else None
    return isinstance(result, list) and len(result) > 64
