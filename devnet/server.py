"""HTTP JSON-RPC server of the devnet node (aiohttp) and its block producer.

One process, one event loop: requests and block sealing run on the loop one at a time, so the
chain needs no locks. Block production:
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
from typing import Any

from aiohttp import web

from adapters.errors import XgateError
from devnet import errors
from devnet.chain import DevnetChain
from devnet.errors import RpcMethodError
from devnet.rpc import RpcApi

log = logging.getLogger("devnet.server")


def _error(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


class DevnetServer:
    def __init__(self, chain: DevnetChain) -> None:
        self.chain = chain
        self.api = RpcApi(chain)
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/", self.handle)
        self.app.router.add_get("/health", self.health)
        self.app.cleanup_ctx.append(self._producer_ctx)

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
            # A block that took longer than the interval is followed at once, without a burst.
            next_at = max(next_at + interval, loop.time())

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "block": int(self.chain.head.block_number)})

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.json_response(_error(None, errors.PARSE_ERROR, "Parse error"))
        if isinstance(payload, list):
            if not payload:
                return web.json_response(_error(None, errors.INVALID_REQUEST, "Invalid Request"))
            if len(payload) > self.chain.config.max_batch_size:
                return web.json_response(
                    _error(None, -32005, "Number of requests exceeds max batch size")
                )
            answers = [self._one(item) for item in payload]
            self._seal_if_instant()
            return web.json_response([a for a in answers if a is not None])
        answer = self._one(payload)
        self._seal_if_instant()
        if answer is None:
            return web.Response(status=204)
        return web.json_response(answer)

    def _one(self, req: Any) -> dict[str, Any] | None:
        if not isinstance(req, dict):
            return _error(None, errors.INVALID_REQUEST, "Invalid Request")
        id_ = req.get("id")
        method = req.get("method")
        if not isinstance(method, str) or req.get("jsonrpc", "2.0") != "2.0":
            return _error(id_, errors.INVALID_REQUEST, "Invalid Request")
        if id_ is not None and not isinstance(id_, str | int | float):
            return _error(None, errors.INVALID_REQUEST, "Invalid Request")
        try:
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
