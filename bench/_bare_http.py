"""The ceiling of the API benchmark's reads on this machine: one aiohttp process answering
``GET /v1/transfers/{id}`` with a constant body (no store, no validation, no access log), read
by the same client, on the same event loop as ``xgate api`` (uvloop where installed).
``python -m bench._bare_http PORT BODY_FILE`` (run by ``bench.api``)."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from gateway.cli.api_cmd import new_event_loop


def main(argv: list[str]) -> None:
    port, body = int(argv[0]), Path(argv[1]).read_bytes()

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/transfers/{id}", answer)
    app.router.add_get("/healthz", answer)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        loop=new_event_loop(),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
