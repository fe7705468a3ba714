"""``XgateClient.wait_for_transfer`` / ``wait_for_swap`` against the real API app and store: the
state is followed on the event stream (not polled), a change made right after the first read
is not missed, a timeout names the last state seen, the sync wrapper blocks on it, a
server without an event stream is polled instead, a resume refused as pruned subscribes again, and `xgate swap status --wait` /
`xgate transfer status --wait` (real processes) end with the final state or exit 4. Changes are written to the store as the
relayers and the keeper write them (``Store.transition``, ``Store.set_swap_state``)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.types import ChainId, Hash32
from gateway.api.app import create_app
from gateway.api.events import EVENT_STREAM_SETTINGS_KEY, EventStreamSettings
from gateway.api.models import Transfer
from gateway.api.swap_models import SwapView
from gateway.config import XgateConfig
from gateway.domain.status import AssetKind, MessageStatus, Swap, SwapLeg, SwapState
from gateway.sdk import (
    SWAP_TERMINAL_STATES,
    TRANSFER_TERMINAL_STATUSES,
    SyncXgateClient,
    WaitTimedOut,
    XgateClient,
)
from gateway.store import Store
from harness.services import free_port
from tests.api.conftest import HUB, PUBLIC, Keys
from tests.api.test_transfers import deliver
from tests.sdk.conftest import Sent
from tests.sdk.test_cli import xgate
from tests.store.conftest import Clock, addr, h32, new_message, scan

Sdk = Callable[..., XgateClient]
S = MessageStatus


def gets(requests: list[Sent], part: str) -> int:
    return sum(1 for method, url, _ in requests if method == "GET" and part in url)


async def test_wait_for_transfer_follows_the_event_stream_until_delivered(
    sdk: Sdk, keys: Keys, store: Store, clock: Clock, requests: list[Sent]
) -> None:
    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")
    await scan(store, [item], chain=HUB)
    seen: list[MessageStatus] = []
    async with sdk(keys.read) as client:
        waiting = asyncio.create_task(
            client.wait_for_transfer(
                "trk-1", timeout_s=20, on_change=lambda t: seen.append(t.status)
            )
        )
        while gets(requests, "/v1/events") == 0 or len(seen) < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # connected and read again
        assert not waiting.done()
        await deliver(store, clock, item)
        transfer = await asyncio.wait_for(waiting, 10)
    assert isinstance(transfer, Transfer) and transfer.status is S.DELIVERED
    assert [h.to_status for h in transfer.history][-1] is S.DELIVERED
    assert seen[0] is S.FINAL and seen[-1] is S.DELIVERED
    assert gets(requests, "/v1/events") == 1  # one subscription, no polling
    # The first read, the one once connected, and at most one per event (4 steps).
    assert gets(requests, "/v1/transfers/") <= 2 + 3


async def test_a_change_right_after_the_first_read_is_not_missed(
    sdk: Sdk, keys: Keys, store: Store, clock: Clock
) -> None:
    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")
    await scan(store, [item], chain=HUB)
    seen: list[MessageStatus] = []

    async def on_change(t: Transfer) -> None:
        seen.append(t.status)
        if len(seen) == 1:  # after the first read, before the stream is opened
            await deliver(store, clock, item)

    async with sdk(keys.read) as client:
        transfer = await client.wait_for_transfer(
            "0x" + bytes(item.id).hex(), timeout_s=10, on_change=on_change
        )
    assert transfer.status is S.DELIVERED and seen == [S.FINAL, S.DELIVERED]


async def test_an_already_final_state_answers_at_once_and_until_picks_states(
    sdk: Sdk, keys: Keys, store: Store, clock: Clock, requests: list[Sent]
) -> None:
    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")
    await scan(store, [item], chain=HUB)
    async with sdk(keys.read) as client:
        now = await client.wait_for_transfer("trk-1", until=["final"], timeout_s=5)
        assert now.status is S.FINAL and gets(requests, "/v1/events") == 0
        waiting = asyncio.create_task(
            client.wait_for_transfer("trk-1", until={S.SUBMITTED}, timeout_s=10)
        )
        await deliver(store, clock, item)
        reached = await asyncio.wait_for(waiting, 10)
    # The answer is the API's view after the event: it may have moved on since.
    assert S.SUBMITTED in [h.to_status for h in reached.history]
    assert {S.DELIVERED, S.ALREADY_DELIVERED, S.PARKED} == TRANSFER_TERMINAL_STATUSES


async def test_a_timeout_names_the_last_state_seen(
    sdk: Sdk, keys: Keys, store: Store, clock: Clock
) -> None:
    await scan(store, [new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")], chain=HUB)
    async with sdk(keys.read) as client:
        with pytest.raises(WaitTimedOut) as stuck:
            await client.wait_for_transfer("trk-1", timeout_s=0.5)
        with pytest.raises(WaitTimedOut) as unknown:
            await client.wait_for_transfer("trk-never", timeout_s=0.3)
    assert (stuck.value.what, stuck.value.last_state) == ("transfer trk-1", "final")
    assert isinstance(stuck.value.last, Transfer) and stuck.value.retryable
    assert "after 0.5 s: last seen final" in str(stuck.value)
    assert unknown.value.last_state is None and unknown.value.last is None
    assert "not recorded yet" in str(unknown.value)


async def test_a_transfer_not_recorded_yet_is_waited_for_by_tracking_id(
    sdk: Sdk, keys: Keys, store: Store, clock: Clock
) -> None:
    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-late")
    async with sdk(keys.read) as client:
        waiting = asyncio.create_task(
            client.wait_for_transfer("trk-late", until=["final"], timeout_s=10)
        )
        await asyncio.sleep(0.3)
        await scan(store, [item], chain=HUB)
        transfer = await asyncio.wait_for(waiting, 10)
    assert bytes(transfer.id) == bytes(item.id) and transfer.status is S.FINAL


def _swap() -> Swap:
    def leg(chain: int, claimer: int, refunder: int) -> SwapLeg:
        return SwapLeg(
            ChainId(chain), addr(0x50), AssetKind.ERC20, addr(0x60), 10, addr(claimer), addr(refunder),
            1_800_000_000 + chain,
        )  # fmt: skip

    return Swap(
        swap_id=Hash32(h32("swap", 1)),
        hashlock=Hash32(h32("lock", 1)),
        initiator=addr(1),
        participant=addr(2),
        initiator_leg=leg(HUB, 2, 1),
        participant_leg=leg(PUBLIC, 1, 2),
    )


async def test_wait_for_swap_follows_its_states_and_times_out(
    sdk: Sdk, keys: Keys, store: Store
) -> None:
    swap = await store.upsert_swap(_swap())
    states: list[SwapState] = []
    async with sdk(keys.read) as client:
        with pytest.raises(WaitTimedOut) as stuck:
            await client.wait_for_swap(swap.swap_id, timeout_s=0.3)
        assert stuck.value.last_state == "proposed"
        waiting = asyncio.create_task(
            client.wait_for_swap(
                "0x" + swap.swap_id.hex(), timeout_s=10, on_change=lambda v: states.append(v.state)
            )
        )
        await asyncio.sleep(0.3)
        path = [SwapState.PROPOSED, SwapState.INITIATOR_LOCKED, SwapState.BOTH_LOCKED]
        path += [SwapState.INITIATOR_CLAIMED, SwapState.COMPLETED]
        for old, new in itertools.pairwise(path):
            await store.set_swap_state(swap.swap_id, old, new)
        done = await asyncio.wait_for(waiting, 10)
    assert isinstance(done, SwapView) and done.state is SwapState.COMPLETED
    assert states[0] is SwapState.PROPOSED and states[-1] is SwapState.COMPLETED
    assert SwapState.COMPLETED in SWAP_TERMINAL_STATES


async def test_the_sync_client_waits_blocking(
    base_url: str, keys: Keys, store: Store, clock: Clock
) -> None:
    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")
    await scan(store, [item], chain=HUB)
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def use() -> Transfer:
        with SyncXgateClient(base_url, keys.read.token) as client:
            return client.wait_for_transfer(
                "trk-1", timeout_s=10, on_change=lambda _: loop.call_soon_threadsafe(started.set)
            )

    waiting = asyncio.create_task(asyncio.to_thread(use))
    await asyncio.wait_for(started.wait(), 10)
    await deliver(store, clock, item)
    assert (await asyncio.wait_for(waiting, 10)).status is S.DELIVERED


async def test_without_an_event_stream_the_wait_polls(
    sdk: Sdk,
    keys: Keys,
    store: Store,
    config: XgateConfig,
    clock: Clock,
    requests: list[Sent],
) -> None:
    @web.middleware
    async def no_events(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/v1/events":
            raise web.HTTPNotImplemented()  # an older gateway, or a proxy without streams
        return await handler(request)

    app = create_app(store, config, clock=clock)
    app.middlewares.insert(0, no_events)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")
    await scan(store, [item], chain=HUB)
    try:
        async with sdk(keys.read, base_url=str(server.make_url("")).rstrip("/")) as client:
            waiting = asyncio.create_task(
                client.wait_for_transfer("trk-1", timeout_s=10, poll_interval_s=0.05)
            )
            await asyncio.sleep(0.3)
            await deliver(store, clock, item)
            transfer = await asyncio.wait_for(waiting, 10)
    finally:
        await server.close()
    assert transfer.status is S.DELIVERED
    assert gets(requests, "/v1/events") == 1 and gets(requests, "/v1/transfers/") >= 3


async def test_a_resume_answered_events_pruned_subscribes_again_and_reads_again(
    sdk: Sdk, keys: Keys, store: Store, config: XgateConfig, clock: Clock, requests: list[Sent]
) -> None:
    port = free_port()

    async def start() -> TestServer:
        app = create_app(store, config, clock=clock)
        app[EVENT_STREAM_SETTINGS_KEY] = EventStreamSettings(retry_ms=20)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        return server

    item = new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")
    await scan(store, [item], chain=HUB)  # event 1
    seen: list[MessageStatus] = []
    server = await start()
    client = sdk(keys.read, base_url=f"http://127.0.0.1:{port}", sleep=asyncio.sleep)
    async with client:
        waiting = asyncio.create_task(
            client.wait_for_transfer(
                "trk-1", timeout_s=20, on_change=lambda t: seen.append(t.status)
            )
        )
        while gets(requests, "/v1/events") == 0 or len(seen) < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # connected after event 1
        await server.close()  # the client will resume with Last-Event-ID: 1
        # Event 2 ages past the retention and is pruned; the delivery's events are new.
        await scan(store, [new_message(2, src=PUBLIC, dst=HUB)], chain=PUBLIC)
        clock.advance(timedelta(days=config.api.event_retention_days + 1).total_seconds())
        await deliver(store, clock, item)
        assert await store.prune_events(clock() - timedelta(days=1)) == 2
        server = await start()
        try:
            transfer = await asyncio.wait_for(waiting, 15)
        finally:
            await server.close()
    assert transfer.status is S.DELIVERED and seen == [S.FINAL, S.DELIVERED]
    streams = [h.get("Last-Event-ID") for m, u, h in requests if "/v1/events" in u]
    # Subscribed from now, resumed after 1 (410 events-pruned), subscribed from now again.
    assert streams[0] is None and "1" in streams and streams[-1] is None


async def test_swap_status_wait_prints_the_final_swap_and_exits_0(
    base_url: str, keys: Keys, store: Store
) -> None:
    swap = await store.upsert_swap(_swap())
    ref = "0x" + swap.swap_id.hex()
    args = ("swap", "status", ref, "--wait")
    running = asyncio.gather(
        xgate(*args, "--json", token=keys.read.token, api=base_url),
        xgate(*args, token=keys.read.token, api=base_url),
    )
    await asyncio.sleep(0.5)  # either way (before or after its first read) it must end
    await store.set_swap_state(swap.swap_id, SwapState.PROPOSED, SwapState.REFUNDING)
    await store.set_swap_state(swap.swap_id, SwapState.REFUNDING, SwapState.REFUNDED)
    run, text = await running
    # Text: the states as plain lines on stderr (no terminal: no live line), the swap on stdout.
    assert text.code == 0 and "state refunded" in text.out, text
    # (as it started: proposed, or already refunded, the steps after it then)
    assert text.err.startswith(f"swap {ref}: ") and text.err.endswith("refunded\n"), text.err
    assert not any(c in text.out + text.err for c in ("\x1b", "\r")), text
    assert run.code == 0, run.err
    [shown] = run.lines()  # --json: the swap once, as GET /v1/swaps/{id} answers it
    assert run.err == "" and "\x1b" not in run.out  # --json: no progress at all
    assert (shown["swap_id"], shown["state"]) == (ref, "refunded")
    async with XgateClient(base_url, keys.read.token) as client:
        assert set(shown) == set((await client.swap(ref)).model_dump(mode="json"))


async def test_transfer_status_wait_times_out_with_exit_4_and_the_last_answer(
    base_url: str, keys: Keys, store: Store
) -> None:
    await scan(store, [new_message(1, src=HUB, dst=PUBLIC, tracking_id="trk-1")], chain=HUB)
    args = ("transfer", "status", "trk-1", "--wait", "--timeout", "0.5")
    as_json, as_text = await asyncio.gather(
        xgate(*args, "--json", token=keys.read.token, api=base_url),
        xgate(*args, token=keys.read.token, api=base_url),
    )
    assert as_json.code == 4, as_json.err
    [transfer] = as_json.lines()
    assert (transfer["tracking_id"], transfer["status"]) == ("trk-1", "final")
    assert json.loads(as_json.err)["error"]["message"] == "gave up waiting after 0.5 s"
    assert as_text.code == 4 and "status final" in as_text.out
    assert "gave up waiting after 0.5 s" in as_text.err and "  final" in as_text.err
    # No terminal here: no live status line, no control characters, the steps line by line;
    # --json: nothing but the error on stderr.
    for run in (as_json, as_text):
        assert not any(c in run.out + run.err for c in ("\x1b", "\r")), run
    assert len(as_json.err.splitlines()) == 1
