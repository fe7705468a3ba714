"""The dashboard's routes: its pages (jinja2 templates, no data in them) and its static files
(the page script and style, and Chart.js as npm installed it: nothing comes from a CDN).

Every page answers with a Content-Security-Policy that allows scripts, styles and connections
to this origin only (no inline script, no other host), no framing, no referrer: the API key
the operator pastes stays in the tab's ``sessionStorage`` and goes only to this origin's
``/v1`` operations, in the ``Authorization`` header (and, for the operator's changes, the
request signature the API requires, made in the browser with WebCrypto's Ed25519).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

__all__ = ["CHART_JS", "DASHBOARD_PREFIX", "PAGES", "install_dashboard"]

log = logging.getLogger(__name__)

DASHBOARD_PREFIX = "/dashboard"
_HERE = Path(__file__).resolve().parent
# npm's copy (package.json pins chart.js; `npm ci` installs it beside the sources).
CHART_JS = _HERE.parents[1] / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
_STATIC = {
    "dashboard.js": (_HERE / "static" / "dashboard.js", "text/javascript"),
    "dashboard.css": (_HERE / "static" / "dashboard.css", "text/css"),
}
# (path under the prefix, template, title, in the navigation)
PAGES: tuple[tuple[str, str, str], ...] = (
    ("/", "overview", "Chains and services"),
    ("/routes", "routes", "Routes"),
    ("/transfers", "transfers", "Transfers"),
    ("/swaps", "swaps", "Swaps"),
    ("/credit", "credit", "Credit attestations"),
    ("/charts", "charts", "Delivery charts"),
)
_TRANSFER_REF = re.compile(r"^[A-Za-z0-9._:-]{1,160}$")  # a message id or a tracking id
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_JINJA_KEY = web.AppKey("dashboard_jinja", jinja2.Environment)
_CHART_KEY = web.AppKey("dashboard_chart_js", Path)


def install_dashboard(app: web.Application, *, chart_js: Path = CHART_JS) -> None:
    """Add the dashboard's routes to the API's ``app`` (``chart_js``: Chart.js's UMD build)."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("gateway.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        app_key=_JINJA_KEY,
    )
    env.globals["pages"] = [(DASHBOARD_PREFIX + path, title) for path, _, title in PAGES]
    env.globals["prefix"] = DASHBOARD_PREFIX
    app[_CHART_KEY] = chart_js
    if not chart_js.is_file():
        log.warning("the dashboard's charts are off: %s is missing (run npm ci)", chart_js)
    app.router.add_get(DASHBOARD_PREFIX, _to_overview, allow_head=False)
    for path, template, title in PAGES:
        app.router.add_get(
            DASHBOARD_PREFIX + path,
            _page(template, title),
            allow_head=False,
            name=f"web-{template}",
        )
    app.router.add_get(DASHBOARD_PREFIX + "/transfers/{ref}", _transfer_page, allow_head=False)
    app.router.add_get(DASHBOARD_PREFIX + "/static/{name}", _static, allow_head=False)


async def _to_overview(_: web.Request) -> web.Response:
    raise web.HTTPFound(DASHBOARD_PREFIX + "/")


def _render(request: web.Request, template: str, context: dict[str, object]) -> web.Response:
    response = aiohttp_jinja2.render_template(
        f"{template}.html", request, context, app_key=_JINJA_KEY
    )
    response.headers.update(_PAGE_HEADERS)
    return response


def _page(template: str, title: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return _render(request, template, {"page": template, "title": title})

    return handler


async def _transfer_page(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    if not _TRANSFER_REF.match(ref):
        raise web.HTTPNotFound(text="not a message id or tracking id")
    return _render(request, "transfer", {"page": "transfer", "title": "Transfer", "ref": ref})


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "chart.umd.min.js":
        path, content_type = request.app[_CHART_KEY], "text/javascript"
    elif name in _STATIC:
        path, content_type = _STATIC[name]
    else:
        raise web.HTTPNotFound(text="no such dashboard file")
    if not path.is_file():
        raise web.HTTPNotFound(text=f"{name} is not installed (npm ci)")
    return web.FileResponse(
        path, headers={"Content-Type": content_type, "Cache-Control": "max-age=300"}
    )
