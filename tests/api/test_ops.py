"""/healthz, /readyz (the store answers and is migrated), /metrics (requests by route
template, status and the calling key's scope; latency), open without a key, and the request
id every answer carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.app import create_app
from gateway.api.metrics import ApiMetrics
from gateway.config import XgateConfig
from gateway.store import Store, migrate
from tests.api.conftest import ApiClient, config_data


async def test_healthz_and_readyz(api: ApiClient) -> None:
    api = api.using(None)  # open endpoints
    assert (await api.get("/healthz")).body == {"status": "ok"}
    assert (await api.get("/metrics")).status == 200
    assert (await api.get("/openapi.json")).status == 200
    assert (await api.get("/docs")).status == 200
    answer = await api.get("/readyz")
    assert answer.status == 200
    assert answer.body == {"status": "ready", "store": "ok", "revision": migrate.head()}


@pytest.fixture
async def unmigrated_client(
    store: Store, tmp_path: Path
) -> AsyncIterator[TestClient[object, object]]:
    # The app's store is fine, but the configured database (its readiness) is a new file.
    cfg = XgateConfig.model_validate(config_data(f"sqlite:///{tmp_path / 'other.db'}"))
    async with TestClient(TestServer(create_app(store, cfg), host="127.0.0.1")) as client:
        yield client


async def test_readyz_refuses_a_store_that_is_not_migrated(
    unmigrated_client: TestClient[object, object],
) -> None:
    response = await unmigrated_client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {
        "status": "not ready",
        "store": "not migrated",
        "revision": None,
        "expected": migrate.head(),
    }


async def test_request_ids(api: ApiClient) -> None:
    given = await api.get("/v1/chains", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    # A request id that is no plain token (it would go into logs) is replaced.
    odd = await api.get("/v1/chains", headers={"X-Request-Id": "a b\tc"})
    fresh = await api.get("/v1/chains")
    assert odd.headers["X-Request-Id"] != "a b\tc"
    assert len({odd.headers["X-Request-Id"], fresh.headers["X-Request-Id"]}) == 2


async def test_metrics_by_route_template_status_and_scope(api: ApiClient) -> None:
    await api.get("/v1/transfers/0x" + "00" * 32)
    await api.get("/v1/transfers/0x" + "11" * 32)
    await api.get("/v1/chains")
    await api.get("/no/such/path")
    await api.request("PATCH", "/v1/chains")
    await api.using("dapp").get("/v1/chains")
    await api.using(None).get("/v1/chains")  # 401: no key
    text = (await api.get("/metrics")).body
    assert (
        'xgate_api_requests_total{method="GET",route="/v1/transfers/{id}",scope="read",'
        'status="404"} 2.0'
    ) in text
    assert (
        'xgate_api_requests_total{method="GET",route="/v1/chains",scope="read",status="200"} 1.0'
    ) in text
    assert 'route="unmatched",scope="none",status="404"} 1.0' in text
    # The scope label is the calling key's highest scope.
    assert 'method="PATCH",route="unmatched",scope="read",status="405"} 1.0' in text
    assert 'route="/v1/chains",scope="dapp",status="200"} 1.0' in text
    assert 'route="/v1/chains",scope="none",status="401"} 1.0' in text
    assert 'xgate_api_request_duration_seconds_count{method="GET",route="/v1/chains"} 3.0' in text


def test_made_up_methods_share_one_label() -> None:
    metrics = ApiMetrics()
    metrics.observe("FROB", "unmatched", 405, "none", 0.001)
    text = metrics.render().decode()
    assert 'method="OTHER"' in text and "FROB" not in text
