"""The webhook dispatcher on a real store, posting to real HTTP receivers (aiohttp servers on
loopback ports): each event of a webhook's kinds is posted once per successful delivery, signed
so that ``verify_webhook`` accepts it; a receiver that fails N times gets it on a retry after
the policy's backoff; one that always fails ends dead-lettered, listed to an operator, who
replays it once the receiver works. Two dispatchers on one store never post a delivery twice."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.retry import RetryPolicy
from gateway.api.webhook_signing import verify_webhook
from gateway.api.webhooks import DeliveryPolicy, PublicResolver, WebhookDispatcher
from gateway.config import XgateConfig
from gateway.domain.apikeys import Scope
from gateway.domain.events import DeliveryState, EventKind, Webhook
from gateway.store import Store
from tests.api.conftest import HUB, PUBLIC, config_data, create_caller, serve
from tests.store.conftest import Clock, new_message, scan

SECRET = "whsec_test-secret-0123456789"


def fast_policy(max_attempts: int = 4) -> DeliveryPolicy:
    return DeliveryPolicy(
        retry=RetryPolicy(
            initial_delay=0.05, multiplier=2.0, max_delay=0.2, max_attempts=max_attempts
        ),
        timeout_s=2.0,
        lease_s=5.0,
        batch=10,
        poll_s=0.05,
    )


@dataclass
class Receiver:
    """A webhook receiver on a loopback port: answers each post with the next of ``fail``'s
    statuses, then 200; keeps what it got and when."""

    fail: list[int] = field(default_factory=list)
    got: list[tuple[float, dict[str, str], bytes, int]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.fail.pop(0) if self.fail else 200
        self.got.append((time.monotonic(), dict(request.headers), body, status))
        return web.Response(status=status, text="ok" if status == 200 else "no")

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body, status in self.got if status == 200]


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@asynccontextmanager
async def dispatching(
    store: Store, policy: DeliveryPolicy, owner: str = "dispatcher-a"
) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(store, policy, owner=owner, allow_loopback=True)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'xgate.db'}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await Store.open(store_url, migrate=True)  # the real clock: retries fall due
    try:
        yield s
    finally:
        await s.close()


async def webhook(
    store: Store, url: str, kinds: tuple[EventKind, ...] = (EventKind.MESSAGE,)
) -> Webhook:
    owner = await create_caller(store, Scope.DAPP)
    return await store.create_webhook(owner.key_id, url, SECRET, kinds)


async def record(store: Store, *nonces: int) -> None:
    await scan(store, [new_message(n, src=HUB, dst=PUBLIC) for n in nonces], chain=HUB)


async def test_each_event_is_posted_once_signed_as_the_event_json(store: Store) -> None:
    async with receiving(Receiver()) as receiver:
        hook = await webhook(store, receiver.url)
        swaps_only = await webhook(
            store, receiver.url.replace("/hook", "/never"), (EventKind.SWAP,)
        )
        await record(store, 1, 2, 3)
        async with dispatching(store, fast_policy()) as dispatcher:
            await until(lambda: len(receiver.got) == 3)
            await asyncio.sleep(0.3)  # nothing more comes
        assert dispatcher.delivered == 3 and dispatcher.failed == 0
    assert [b["id"] for b in receiver.delivered()] == [1, 2, 3]
    for _, headers, body, _ in receiver.got:
        event_id = verify_webhook(SECRET, headers, body, 60)
        assert json.loads(body)["id"] == event_id
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == "xgate-webhooks/1"
    first = receiver.delivered()[0]
    assert (first["kind"], first["data"]["status"]) == ("message", "final")
    for event_id in (1, 2, 3):
        delivery = await store.delivery(hook.id, event_id)
        assert delivery is not None and delivery.state is DeliveryState.DELIVERED
        assert await store.delivery(swaps_only.id, event_id) is None


async def test_a_receiver_failing_then_succeeding_gets_it_on_a_retry(store: Store) -> None:
    policy = fast_policy(max_attempts=5)
    async with receiving(Receiver(fail=[500, 503, 404])) as receiver:
        hook = await webhook(store, receiver.url)
        await record(store, 1)
        async with dispatching(store, policy) as dispatcher:
            await until(lambda: bool(receiver.delivered()))
    assert [status for _, _, _, status in receiver.got] == [500, 503, 404, 200]
    posts = {
        s.labels["outcome"]: s.value
        for metric in dispatcher.posts.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    }
    assert posts == {"failed": 3.0, "delivered": 1.0}
    times = [at for at, _, _, _ in receiver.got]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Each retry waits at least the policy's delay after the failed attempt.
    for gap, delay in zip(gaps, policy.retry.delays(), strict=False):
        assert gap >= delay * 0.9, (gaps, policy.retry.delays())
    # Every attempt was signed anew and verifies.
    assert {verify_webhook(SECRET, h, b, 60) for _, h, b, _ in receiver.got} == {1}
    delivery = await store.delivery(hook.id, 1)
    assert delivery is not None
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        DeliveryState.DELIVERED,
        3,
        "HTTP 404",
    )


async def test_a_receiver_that_never_answers_2xx_is_dead_lettered_then_replayed(
    store: Store, store_url: str
) -> None:
    async with receiving(Receiver(fail=[500] * 3)) as receiver:
        hook = await webhook(store, receiver.url)
        await record(store, 1)
        async with dispatching(store, fast_policy(max_attempts=3)):
            await until(lambda: len(receiver.got) == 3)
            await asyncio.sleep(0.5)  # no fourth attempt
            assert len(receiver.got) == 3
            [dead] = await store.dead_deliveries()
            assert (dead.webhook_id, dead.event_id, dead.attempts, dead.last_error) == (
                hook.id,
                1,
                3,
                "HTTP 500",
            )
            # An operator lists and replays it through the API; the receiver works again.
            config = XgateConfig.model_validate(config_data(store_url))
            operator = await create_caller(store, Scope.OPERATOR)
            async with serve(store, config, Clock(datetime.now(UTC))) as api:
                ops = api.using(operator)
                dapp = api.using(await create_caller(store, Scope.DAPP))
                assert (await dapp.get("/v1/operator/dead-letters")).status == 403
                listed = await ops.get(f"/v1/operator/dead-letters?webhook_id={hook.id}")
                assert listed.status == 200
                assert [
                    (d["webhook_id"], d["event_id"], d["state"]) for d in listed.body["items"]
                ] == [(hook.id, 1, "dead")]
                replayed = await ops.request(
                    "POST", f"/v1/operator/dead-letters/{hook.id}/1/replay"
                )
                assert replayed.status == 200, replayed.body
                assert (replayed.body["state"], replayed.body["attempts"]) == ("pending", 0)
                again = await ops.request("POST", f"/v1/operator/dead-letters/{hook.id}/1/replay")
                assert again.status == 409  # pending or delivered: not dead any more
                unknown = await ops.request(
                    "POST", f"/v1/operator/dead-letters/{hook.id}/99/replay"
                )
                assert unknown.status == 404
            await until(lambda: len(receiver.delivered()) == 1)
    assert [s for _, _, _, s in receiver.got] == [500, 500, 500, 200]
    delivery = await store.delivery(hook.id, 1)
    assert delivery is not None and delivery.state is DeliveryState.DELIVERED
    assert await store.dead_deliveries() == []


async def test_two_dispatchers_on_one_store_post_each_delivery_once(
    store: Store, store_url: str
) -> None:
    other = await Store.open(store_url, migrate=False)
    try:
        async with receiving(Receiver()) as receiver:
            await webhook(store, receiver.url)
            async with (
                dispatching(store, fast_policy(), "a"),
                dispatching(other, fast_policy(), "b"),
            ):
                for n in range(1, 21):
                    await record(store, n)
                await until(lambda: len(receiver.got) == 20)
                await asyncio.sleep(0.3)
        assert sorted(b["id"] for b in receiver.delivered()) == list(range(1, 21))
    finally:
        await other.close()


def test_the_default_delivery_policy_is_pinned() -> None:
    policy = DeliveryPolicy()
    # 10 attempts over about 42 minutes, then the dead letters.
    assert policy.retry.max_attempts == 10
    assert policy.retry.delays() == (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0)
    assert [policy.retry_after_s(k) for k in (1, 2, 9)] == [5.0, 10.0, 1280.0]
    assert (policy.timeout_s, policy.lease_s) == (10.0, 60.0)
    with pytest.raises(ValueError, match="outlast"):
        DeliveryPolicy(timeout_s=60.0, lease_s=60.0)


async def test_a_stopping_dispatcher_records_the_post_in_flight(store: Store) -> None:
    slow = Receiver()
    entered = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        entered.set()
        await asyncio.sleep(0.5)
        return await Receiver.handle(slow, request)

    slow.handle = handle  # type: ignore[method-assign]
    async with receiving(slow) as receiver:
        hook = await webhook(store, receiver.url)
        await record(store, 1)
        async with dispatching(store, fast_policy()):
            await asyncio.wait_for(entered.wait(), 10)
        # The dispatcher stopped while the receiver was still answering: it waited for the
        # answer and recorded it, so nobody posts the event again.
    delivery = await store.delivery(hook.id, 1)
    assert delivery is not None
    assert (delivery.state, delivery.lease_owner) == (DeliveryState.DELIVERED, None)
    assert len(receiver.got) == 1


async def test_a_production_dispatcher_posts_nothing_inside_the_network(store: Store) -> None:
    async with receiving(Receiver()) as receiver:
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        hooks = [await webhook(store, receiver.url), await webhook(store, by_name)]
        await record(store, 1)
        dispatcher = WebhookDispatcher(store, fast_policy(max_attempts=1), owner="prod")
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        await until(lambda: dispatcher.failed == 2)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert receiver.got == []
    errors = [d.last_error for d in await store.dead_deliveries()]
    assert [d.webhook_id for d in await store.dead_deliveries()] == [h.id for h in hooks]
    assert (
        errors[0] == "refused: a loopback address is refused (only a development gateway takes one)"
    )
    assert errors[1] is not None and "refused" in errors[1]


async def test_the_resolver_keeps_only_public_addresses() -> None:
    strict = PublicResolver(allow_loopback=False)
    dev = PublicResolver(allow_loopback=True)
    try:
        with pytest.raises(OSError, match="no address the gateway posts to"):
            await strict.resolve("localhost", 443)
        assert {r["host"] for r in await dev.resolve("localhost", 443)} <= {"127.0.0.1", "::1"}
    finally:
        await strict.close()
        await dev.close()
