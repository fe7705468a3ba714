"""The objects an API application holds (``web.AppKey``), wired by ``create_app``."""

from __future__ import annotations

from aiohttp import web

from gateway.config import XgateConfig
from gateway.store import Store

__all__ = ["CONFIG_KEY", "STORE_KEY"]

STORE_KEY = web.AppKey("store", Store)
CONFIG_KEY = web.AppKey("config", XgateConfig)
