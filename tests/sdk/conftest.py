# ruff: noqa: F811  (the API tests' fixtures are imported here, and named again as parameters)
"""Fixtures of the SDK tests: the real API app (``tests/api/conftest.py``: a migrated SQLite
store, one key of each scope) served over HTTP on a loopback port, and SDK clients to it.

- ``base_url``: where the app is served;
- ``sdk(caller, **options)``: an ``XgateClient`` with ``caller``'s token and signing key, whose
  signature timestamps come from the test's ``clock`` (the app's), and whose waits between
  retries are recorded in ``sleeps`` (and really slept for, scaled down to nothing);
- ``requests``: the requests the clients sent (method, URL, headers), seen by an aiohttp trace
  on the clients' session: what the SDK put on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from gateway.config import XgateConfig
from gateway.sdk import XgateClient
from gateway.store import Store
from tests.api.conftest import (  # noqa: F401  (fixtures, found by pytest here)
    Caller,
    Keys,
    clock,
    config,
    keys,
    serve,
    store,
    store_url,
)
from tests.store.conftest import Clock

Sent = tuple[str, str, CIMultiDict[str]]


@pytest.fixture
async def base_url(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> AsyncIterator[str]:
    async with serve(store, config, clock, keys) as api:
        yield str(api.client.make_url("")).rstrip("/")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def requests() -> list[Sent]:
    return []


def tracing(requests: list[Sent]) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def on_start(
        _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        requests.append((params.method, str(params.url), CIMultiDict(params.headers)))

    trace.on_request_start.append(on_start)
    return trace


@pytest.fixture
async def sdk(
    base_url: str, clock: Clock, sleeps: list[float], requests: list[Sent]
) -> AsyncIterator[Callable[..., XgateClient]]:
    session = aiohttp.ClientSession(trace_configs=[tracing(requests)])

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    def make(caller: Caller | None, **options: Any) -> XgateClient:
        options.setdefault("sleep", sleep)
        return XgateClient(
            options.pop("base_url", base_url),
            None if caller is None else caller.token,
            signing_key=None if caller is None else caller.signing_key,
            session=session,
            clock=lambda: clock().timestamp(),
            **options,
        )

    try:
        yield make
    finally:
        await session.close()
