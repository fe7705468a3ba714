"""The gateway API's aiohttp application: ``create_app(store, config)``.

Besides the ``/v1`` operations (``v1.py``), ``/openapi.json`` and ``/docs`` (``spec.py``):

- ``/healthz``: 200 while the process serves requests (liveness);
- ``/readyz``: 200 when the store answers and its schema is at the code's revision, 503 with
  the reason otherwise (readiness: take the instance out of the load balancer);
- ``/metrics``: Prometheus text (``metrics.py``), on the app's own registry;
- ``/dashboard``: the operator's web pages (``gateway/web``), which read the ``/v1`` operations.

Every ``/v1`` operation needs an API key of its scope; state-changing requests of signing
scopes are signed, POSTs may be made idempotent, each key is rate limited (``auth.py``,
docs/api.md §2). The ops endpoints, ``/openapi.json`` and ``/docs`` are open.

Every answer carries ``X-Request-Id`` (the caller's when it is a plain token, a new one
otherwise); every error is a problem document (``problems.py``); request bodies above
``max_body_bytes`` (64 KiB) are 413. Each request is logged once on ``gateway.api.access``:
method, path (never the query string, never a header), status, time and request id.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from adapters.errors import XgateError
from gateway.api.auth import (
    API_KEY_KEY,
    Security,
    highest_scope,
    idempotency_middleware,
    install_security,
    security_middleware,
)
from gateway.api.chains import CHAINS_KEY, ChainAccess
from gateway.api.keys import CONFIG_KEY, STORE_KEY
from gateway.api.metrics import ApiMetrics
from gateway.api.problems import REQUEST_ID_KEY, problem_middleware
from gateway.api.spec import VALIDATION_CONTEXT_KEY, Api
from gateway.api.v1 import v1_api
from gateway.config import XgateConfig
from gateway.store import Store, migrate
from gateway.web import install_dashboard

__all__ = ["DEFAULT_MAX_BODY_BYTES", "METRICS_KEY", "REQUEST_ID_HEADER", "create_app"]

access_log = logging.getLogger("gateway.api.access")

DEFAULT_MAX_BODY_BYTES = 64 * 1024
REQUEST_ID_HEADER = "X-Request-Id"
# A caller's request id is kept only when it is a plain token (it goes into logs and headers).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

METRICS_KEY = web.AppKey("metrics", ApiMetrics)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    store: Store,
    config: XgateConfig,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    registry: CollectorRegistry | None = None,
    readiness_timeout_s: float = 5.0,
    api: Api | None = None,
    clock: Callable[[], datetime] | None = None,
    rate_clock: Callable[[], float] = time.monotonic,
    chains: ChainAccess | None = None,
) -> web.Application:
    """The API on ``store``, whose URL is ``config.store.url``. The caller owns the store
    (opens it before, closes it after the app). ``api``: the operations (``v1_api()``);
    ``clock``: the wall clock signed requests' timestamps are checked against (UTC now);
    ``rate_clock``: the rate limits' monotonic clock; ``chains``: read access to the chains
    (without it, the operations that read a chain answer 503 ``chains-not-configured``)."""
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[
            _observe_middleware,
            problem_middleware,
            security_middleware,
            idempotency_middleware,
        ],
    )
    app[STORE_KEY] = store
    app[CONFIG_KEY] = config
    if chains is not None:
        app[CHAINS_KEY] = chains
    app[METRICS_KEY] = ApiMetrics(registry)
    app[VALIDATION_CONTEXT_KEY] = {
        "chain_ids": frozenset(chain.chain_id for chain in config.chains.values())
    }
    app[_READINESS_KEY] = StoreReadiness(config.store.url, readiness_timeout_s)
    api = v1_api() if api is None else api
    api.install(app)
    install_security(
        app,
        api,
        Security(store, api.operations, clock=clock or _utcnow, rate_clock=rate_clock),
    )
    app.router.add_get("/healthz", _healthz, allow_head=False)
    app.router.add_get("/readyz", _readyz, allow_head=False)
    app.router.add_get("/metrics", _metrics, allow_head=False)
    install_dashboard(app)
    return app


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- ops endpoints -----------------------------------------------------------------------------


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


class StoreReadiness:
    """Whether the store answers and its schema is at the code's revision."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._expected = migrate.head()

    async def check(self) -> dict[str, object]:
        try:
            # The migrations' own reading of the revision, on a connection of its own.
            found = await asyncio.wait_for(
                asyncio.to_thread(migrate.current, self._url), self._timeout_s
            )
        except TimeoutError:
            return {"store": "unreachable", "reason": f"no answer within {self._timeout_s} s"}
        except XgateError as exc:
            return {"store": "unreachable", "reason": exc.message}
        if found != self._expected:
            return {"store": "not migrated", "revision": found, "expected": self._expected}
        return {"store": "ok", "revision": found}


_READINESS_KEY = web.AppKey("readiness", StoreReadiness)


async def _readyz(request: web.Request) -> web.Response:
    state = await request.app[_READINESS_KEY].check()
    ready = state["store"] == "ok"
    return web.json_response(
        {"status": "ready" if ready else "not ready", **state}, status=200 if ready else 503
    )


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS_KEY].render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


# --- request id, metrics and the access log ----------------------------------------------------


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
    except web.HTTPException as exc:  # a redirect (the problem middleware answers the rest)
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away
        raise
    finally:
        elapsed = time.perf_counter() - start
        key = request.get(API_KEY_KEY)
        request.app[METRICS_KEY].observe(
            request.method,
            _route(request),
            status,
            highest_scope(key.scopes).value if key is not None else "none",
            elapsed,
        )
        access_log.info(
            "%s %s %d %.1f ms request_id=%s",
            request.method,
            request.path,
            status,
            elapsed * 1000,
            request_id,
        )
    response.headers[REQUEST_ID_HEADER] = request_id
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
