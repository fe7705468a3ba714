"""HTTP JSON-RPC server of the devnet node (aiohttp) and its block producer.

Threads. Block production and every request that changes the node (transactions, votes,
allowlist, filters) run on the event loop, one at a time, so the chain is written by one
thread only. Requests whose work grows with their parameters (``devnet.rpc.EXPENSIVE``:
eth_call, eth_estimateGas, eth_getLogs, ...) are read-only and run on ``rpc_workers`` worker
threads, at most that many at once; they read content-addressed trie nodes and immutable
headers, so a block sealed meanwhile does not disturb them. The loop stays free to seal on
time: under the GIL a busy worker hands the interpreter back every few milliseconds, and a
block takes a few milliseconds to seal. Large bodies are parsed and large answers encoded on
the workers too.

Budgets. A body is at most ``max_request_bytes`` (else HTTP 413) and ``max_json_depth`` deep
(else -32700 naming the depth), parsed with ``adapters.jsonlimits.loads_bounded``. A batch has
at most ``max_batch_size`` requests and costs at most ``max_batch_cost`` units
(``devnet.rpc.request_cost``): a batch of 1,000 eth_calls costs what 1,000 calls cost. Single
requests are bounded by the gas cap and the log limits (``devnet.config``).

Block production:
- ``block_time`` > 0 and not ``instant_seal``: a block every ``block_time`` seconds, empty or
  not (like Besu QBFT);
- ``instant_seal``: after each request (or JSON-RPC batch) that pooled transactions, seal
  blocks until the pool has nothing executable, before answering; so a batch of many raw
  transactions lands in as few blocks as the gas limit allows.
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
from devnet.rpc import EXPENSIVE, RpcApi, request_cost

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

    async def _workers_ctx(self, app: web.Application) -> Any:
        workers = self.chain.config.rpc_workers
        self.workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devnet-rpc")
        self.slots = asyncio.Semaphore(workers)
        yield
        self.workers.shutdown(wait=True, cancel_futures=True)

    async def _producer_ctx(self, app: web.Application) -> Any:
        task = None
        cfg = self.chain.config
        if not cfg.instant_seal and cfg.block_time > 0:
            task = asyncio.create_task(self._produce_periodically(cfg.block_time))
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _produce_periodically(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                self.chain.produce_block()
            except Exception:  # keep producing: one bad block attempt must not stop the chain
                log.exception("block production failed")
            self.api.expire_filters()
            # A block that took longer than the interval is followed at once, without a burst.
            next_at = max(next_at + interval, loop.time())

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
            for item in payload:
                answer = await self._one(item)
                if answer is not None:
                    answers.append(answer)
                await asyncio.sleep(0)  # let the producer in between the requests of a batch
            self._seal_if_instant()
            if not answers:  # JSON-RPC 2.0: a batch of notifications gets nothing back
                return web.Response(status=204)
            return self._reply(await self._encode_answer(answers))
        answer = await self._one(payload)
        self._seal_if_instant()
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

    async def _one(self, req: Any) -> dict[str, Any] | None:
        if not isinstance(req, dict) or not _valid_id(req.get("id")):
            return _invalid_request(None)
        id_ = req.get("id")
        method = req.get("method")
        if not isinstance(method, str) or req.get("jsonrpc", "2.0") != "2.0":
            return _invalid_request(id_)
        try:
            if method in EXPENSIVE:
                result = await self._offload(self.api.call, method, req.get("params"))
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
        return answer if "id" in req else None

    def _seal_if_instant(self) -> None:
        if not self.api.accepted_tx:
            return
        self.api.accepted_tx = False
        if not self.chain.config.instant_seal:
            return
        while self.chain.produce_block(allow_empty=False) is not None:
            pass


def _large_result(answer: Any) -> bool:
    result = answer.get("result") if isinstance(answer, dict) else None
    return isinstance(result, list) and len(result) > 64
