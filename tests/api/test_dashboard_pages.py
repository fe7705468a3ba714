"""The dashboard's pages as the API app serves them (no browser: tests/web drives Chromium):
open, holding no data, each with a same-origin-only Content-Security-Policy, no framing, no
referrer and no caching; the script, its style and Chart.js (npm's copy) served as files; a
transfer page only for a well-formed reference; and none of it in the OpenAPI document (the
pages are no operations: their data comes from the documented ones)."""

from __future__ import annotations

import pytest

from gateway.web.dashboard import CHART_JS, PAGES
from tests.api.conftest import HUB, ApiClient

PAGE_PATHS = [f"/dashboard{path}" for path, _, _ in PAGES]


@pytest.mark.parametrize("path", [*PAGE_PATHS, "/dashboard/transfers/0x" + "ab" * 32])
async def test_every_page_is_open_holds_no_data_and_allows_only_its_own_origin(
    api: ApiClient, path: str
) -> None:
    response = await api.client.get(path)  # no key: the pages are shells
    assert response.status == 200
    assert response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = await response.text()
    assert '<script src="/dashboard/static/dashboard.js" defer></script>' in html
    assert "<script>" not in html and " style=" not in html  # nothing inline: the CSP allows none
    assert str(HUB) not in html  # the data comes from /v1 with the operator's key


async def test_the_dashboard_redirects_to_its_first_page_and_refuses_unknown_names(
    api: ApiClient,
) -> None:
    redirect = await api.client.get("/dashboard", allow_redirects=False)
    assert (redirect.status, redirect.headers["Location"]) == (302, "/dashboard/")
    assert (await api.client.get("/dashboard/static/../../pyproject.toml")).status == 404
    assert (await api.client.get("/dashboard/static/secrets.txt")).status == 404
    assert (await api.client.get("/dashboard/transfers/%3Cscript%3E")).status == 404


@pytest.mark.parametrize("name", ["dashboard.js", "dashboard.css", "chart.umd.min.js"])
async def test_the_script_style_and_chart_library_are_served_from_the_package_and_npm(
    api: ApiClient, name: str
) -> None:
    response = await api.client.get(f"/dashboard/static/{name}")
    assert response.status == 200
    assert response.content_type == ("text/css" if name.endswith(".css") else "text/javascript")
    body = await response.read()
    if name == "chart.umd.min.js":
        assert body == CHART_JS.read_bytes()


async def test_the_pages_are_not_operations_of_the_openapi_document(api: ApiClient) -> None:
    assert not [path for path in api.document["paths"] if "dashboard" in path]
