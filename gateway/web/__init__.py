"""The operator's web dashboard, served by ``xgate api`` under ``/dashboard`` (docs/api.md §11).

Server-rendered pages (jinja2 through aiohttp-jinja2) and one small script: the pages are
open shells (navigation, forms, the columns of each table); every figure on them is read by
the browser from the ``/v1`` operations with the operator's own API key, so the API's
handlers, scopes, signatures and rate limits are the only way to the data and to the
operator's actions. Nothing here reads the store or a chain itself.
"""

from gateway.web.dashboard import DASHBOARD_PREFIX, install_dashboard

__all__ = ["DASHBOARD_PREFIX", "install_dashboard"]
