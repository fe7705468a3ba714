"""The relay process's operator endpoints: ``/metrics``, ``/healthz`` and ``/readyz`` (aiohttp).

- ``/healthz``: 200 while the process serves requests (liveness: restart it if this fails);
- ``/readyz``: 200 when every worker has completed a step and none is failing or stopped, 503
  otherwise, with each worker's state as JSON (readiness: page someone if it stays 503);
- ``/metrics``: Prometheus text format (``relayers.metrics``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from relayers.metrics import RelayMetrics
from relayers.supervisor import Supervisor

__all__ = ["ops_app", "serve_ops"]


def ops_app(
    supervisor: Supervisor,
    metrics: RelayMetrics,
    refresh: Callable[[], object] | None = None,
) -> web.Application:
    """``refresh`` (optional, sync) updates gauges that are read rather than counted."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        workers = {name: h.as_dict() for name, h in supervisor.health.items()}
        ready = supervisor.ready
        return web.json_response(
            {"status": "ready" if ready else "not ready", "workers": workers},
            status=200 if ready else 503,
        )

    async def metrics_page(_: web.Request) -> web.Response:
        metrics.observe_workers(supervisor.health)
        if refresh is not None:
            refresh()
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app


@asynccontextmanager
async def serve_ops(app: web.Application, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``app`` on host:port (0 = any free port) and yield the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        bound: int = runner.addresses[0][1]
        yield bound
    finally:
        await runner.cleanup()
