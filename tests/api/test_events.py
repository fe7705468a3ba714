"""``GET /v1/events`` on a real store over HTTP: status changes written through the ``Store``
facade as the relay services write them arrive as server-sent events, in id order, from
``Last-Event-ID`` or ``after``, filtered by kind, with keep-alives; bad positions are 400
problems; a stream ends when the application shuts down, which it does not hold."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import OpenAPIV31SpecValidator

from adapters.types import ChainId, Hash32, TxHash
from gateway.api.app import create_app
from gateway.api.events import EVENT_STREAM_SETTINGS_KEY, EventStreamSettings
from gateway.config import XgateConfig
from gateway.domain.apikeys import Scope
from gateway.domain.status import AssetKind, MessageStatus, NewMessage, Swap, SwapLeg, SwapState
from gateway.store import Store
from tests.api.conftest import HUB, PUBLIC, config_data
from tests.store.conftest import addr, h32, new_message, scan

ON_BOTH_STORES = True  # tests/api/conftest.py

S = MessageStatus
KEEPALIVE_S = 0.3


@dataclass
class Frame:
    """One server-sent event, or a comment (``comment`` set, the rest empty)."""

    id: int | None = None
    event: str | None = None
    data: Any = None
    comment: str | None = None
    retry: int | None = None


@dataclass
class SseReader:
    """Reads frames off an open ``text/event-stream`` answer."""

    response: ClientResponse
    frames: list[Frame] = field(default_factory=list)

    async def next(self, timeout_s: float = 10.0) -> Frame:
        return await asyncio.wait_for(self._next(), timeout_s)

    async def _next(self) -> Frame:
        frame = Frame()
        seen = False
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line == "":
                if seen:
                    self.frames.append(frame)
                    return frame
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comment = value if frame.comment is None else f"{frame.comment}\n{value}"
            elif name == "id":
                frame.id = int(value)
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data = json.loads(value)
            elif name == "retry":
                frame.retry = int(value)

    async def event(self, timeout_s: float = 10.0) -> Frame:
        """The next frame that is an event (comments skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            frame = await self.next(max(0.01, deadline - time.monotonic()))
            if frame.id is not None:
                return frame

    async def ended(self, timeout_s: float = 10.0) -> bool:
        try:
            while True:
                await self.next(timeout_s)
        except EOFError:
            return True


def hub_message(nonce: int) -> NewMessage:
    return new_message(nonce, src=HUB, dst=PUBLIC)


async def relay(store: Store, item: NewMessage) -> None:
    """Claim and move a recorded message to delivered, as a relayer does."""
    [claimed] = await store.claim_messages(
        "relayer-1", dst_chain_id=ChainId(PUBLIC), statuses=[S.FINAL], limit=1, lease_s=30
    )
    assert claimed.id == item.id
    await store.transition(item.id, "relayer-1", S.HEADER_READY, detail="header accepted")
    await store.transition(item.id, "relayer-1", S.SUBMITTED, tx_hash=bytes(32))  # type: ignore[arg-type]


@dataclass
class Served:
    store: Store
    client: TestClient[Any, Any]
    token: str
    document: dict[str, Any]

    def auth(self, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **headers}

    async def stream(self, path: str = "/v1/events", **headers: str) -> SseReader:
        response = await self.client.get(path, headers=self.auth(**headers))
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-store"
        return SseReader(response)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    url = f"sqlite:///{tmp_path / 'xgate.db'}"
    store = await Store.open(url, migrate=True)
    try:
        app = create_app(store, XgateConfig.model_validate(config_data(url)))
        app[EVENT_STREAM_SETTINGS_KEY] = EventStreamSettings(keepalive_s=KEEPALIVE_S)
        key = await store.create_api_key("reader", [Scope.READ], rate_per_s=1000, burst=1000)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            document = await (await client.get("/openapi.json")).json()
            yield Served(store, client, key.token, document)
    finally:
        await store.close()


async def test_a_stream_sees_status_changes_as_the_relayer_writes_them(served: Served) -> None:
    sse = await served.stream()
    first = await sse.next()
    assert first.retry == 2000 and first.comment == "events after 0"
    item = hub_message(1)
    await scan(served.store, [item], chain=HUB)
    recorded = await sse.event()
    assert (recorded.event, recorded.data["kind"]) == ("message", "message")
    assert recorded.data["ref"] == "0x" + item.id.hex()
    assert recorded.data["id"] == recorded.id
    assert recorded.data["data"] == {
        "status": "final",
        "old_status": None,
        "src_chain_id": HUB,
        "dst_chain_id": PUBLIC,
        "tx_hash": "0x" + item.src_tx_hash.hex(),
        "tracking_id": None,
        "detail": f"seen in final block {item.src_block_number}",
    }
    await relay(served.store, item)
    steps = [await sse.event() for _ in range(2)]
    assert [(f.data["data"]["old_status"], f.data["data"]["status"]) for f in steps] == [
        ("final", "header_ready"),
        ("header_ready", "submitted"),
    ]
    assert steps[0].data["data"]["detail"] == "header accepted"
    assert steps[1].data["data"]["tx_hash"] == "0x" + "00" * 32
    ids = [f.id or 0 for f in [recorded, *steps]]
    assert ids == sorted(set(ids))
    sse.response.close()


async def test_a_stream_resumes_after_last_event_id_or_after(served: Served) -> None:
    items = [hub_message(n) for n in (1, 2, 3)]
    await scan(served.store, items, chain=HUB)
    last = await served.store.last_event_id()
    assert last == 3
    # From the start of the log; Last-Event-ID wins over after=.
    sse = await served.stream("/v1/events?after=0")
    assert [(await sse.event()).id for _ in range(3)] == [1, 2, 3]
    sse.response.close()
    sse = await served.stream("/v1/events?after=0", **{"Last-Event-ID": "2"})
    assert (await sse.event()).id == 3
    sse.response.close()
    # Without a position: only what comes next.
    sse = await served.stream()
    assert (await sse.next()).comment == "events after 3"
    await scan(served.store, [hub_message(4)], chain=HUB)
    assert (await sse.event()).id == 4
    sse.response.close()


async def test_kinds_filter_and_keep_alives(served: Served) -> None:
    sse = await served.stream("/v1/events?after=0&kinds=swap")
    await sse.next()
    await scan(served.store, [hub_message(1)], chain=HUB)  # a message event: not streamed
    started = time.monotonic()
    keepalive = await sse.next(5)
    assert keepalive.comment == "keep-alive" and keepalive.id is None
    assert time.monotonic() - started < KEEPALIVE_S * 3
    sse.response.close()


@pytest.mark.parametrize(
    ("path", "headers", "field"),
    [
        ("/v1/events?after=-1", {}, "query.after"),
        ("/v1/events?after=x", {}, "query.after"),
        ("/v1/events?kinds=message,nope", {}, "query.kinds"),
        ("/v1/events?after=1&after=2", {}, "query.after"),
        ("/v1/events", {"Last-Event-ID": "1e3"}, "header.Last-Event-ID"),
    ],
)
async def test_a_bad_position_is_a_400_problem(
    served: Served, path: str, headers: dict[str, str], field: str
) -> None:
    async with served.client.get(path, headers=served.auth(**headers)) as response:
        assert response.status == 400
        body = await response.json(content_type=None)
    assert [e["field"] for e in body["errors"]] == [field]


async def test_the_stream_is_declared_in_the_document(served: Served) -> None:
    op = served.document["paths"]["/v1/events"]["get"]
    assert op["x-xgate-scope"] == "read"
    media = op["responses"]["200"]["content"]["text/event-stream"]
    assert media["x-xgate-event-data"] == {"$ref": "#/components/schemas/EventItem"}
    # The schema describes one event (as OpenAPI tools read an event stream's): its data is
    # JSON of the model.
    data = media["schema"]["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    assert data["contentSchema"] == {"$ref": "#/components/schemas/EventItem"}
    schemas = served.document["components"]["schemas"]
    assert {"EventItem", "MessageEventData", "SwapEventData"} <= set(schemas)
    params = {(p["name"], p["in"]) for p in op["parameters"]}
    assert {("after", "query"), ("kinds", "query"), ("Last-Event-ID", "header")} <= params
    OpenAPIV31SpecValidator(served.document).validate()
    docs = await served.client.get("/docs")
    assert "each event&#x27;s data" in await docs.text() or "each event's data" in await docs.text()


async def test_shutdown_ends_open_streams_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'xgate.db'}"
    store = await Store.open(url, migrate=True)
    key = await store.create_api_key("reader", [Scope.READ])
    runner = web.AppRunner(
        create_app(store, XgateConfig.model_validate(config_data(url))), shutdown_timeout=30
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession() as session:
            streams = [
                await session.get(
                    f"http://127.0.0.1:{port}/v1/events",
                    headers={"Authorization": f"Bearer {key.token}"},
                )
                for _ in range(3)
            ]
            readers = [SseReader(r) for r in streams]
            for reader in readers:
                await reader.next()
            started = time.monotonic()
            await runner.cleanup()
            assert time.monotonic() - started < 5  # not the 30 s shutdown timeout
            for reader in readers:
                assert await reader.ended(5)
    finally:
        await runner.cleanup()
        await store.close()


def a_swap() -> Swap:
    def leg(chain: int, claimer: int, refunder: int) -> SwapLeg:
        return SwapLeg(
            ChainId(chain),
            addr(0x50 + chain),
            AssetKind.ERC20,
            addr(0x60),
            10**18,
            addr(claimer),
            addr(refunder),
            1_800_000_000 + chain,
        )

    return Swap(
        swap_id=Hash32(h32("swap", 1)),
        hashlock=Hash32(h32("lock", 1)),
        initiator=addr(1),
        participant=addr(2),
        initiator_leg=leg(1, 2, 1),
        participant_leg=leg(2, 1, 2),
    )


async def test_swap_events_stream_with_their_own_data(served: Served) -> None:
    sse = await served.stream("/v1/events?kinds=swap")
    await sse.next()
    swap = a_swap()
    await served.store.upsert_swap(swap)
    lock_tx = TxHash(h32("lock tx"))
    await served.store.set_swap_state(
        swap.swap_id, SwapState.PROPOSED, SwapState.INITIATOR_LOCKED, initiator_leg_lock_tx=lock_tx
    )
    proposed, locked = await sse.event(), await sse.event()
    assert (proposed.event, proposed.data["ref"]) == ("swap", "0x" + swap.swap_id.hex())
    assert proposed.data["data"] == {
        "state": "proposed",
        "old_state": None,
        "initiator_chain_id": 1,
        "participant_chain_id": 2,
        "txs": {},
        "detail": None,
    }
    assert (locked.data["data"]["old_state"], locked.data["data"]["state"]) == (
        "proposed",
        "initiator_locked",
    )
    assert locked.data["data"]["txs"] == {"initiator_leg_lock_tx": "0x" + lock_tx.hex()}
    sse.response.close()
