"""The SDK against the real API app served over HTTP: typed answers, cursor iteration, problems
as ``ApiProblem``, retries honouring ``Retry-After`` with the same idempotency key, signed
operator requests, the event stream resuming across a server restart, the sync wrapper, and
the webhook verification helper; a 409 with ``Retry-After`` is retried too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import aclosing

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import gateway.api.webhook_signing as webhook_signing
from adapters.retry import RetryPolicy
from gateway.api.app import create_app
from gateway.api.events import EVENT_STREAM_SETTINGS_KEY, EventStreamSettings
from gateway.api.models import ChainList, Delivery, EventItem, Transfer, TransferSummary
from gateway.api.operator_models import OperatorKeyCreate
from gateway.api.problems import Problem
from gateway.config import XgateConfig
from gateway.domain.apikeys import Scope
from gateway.domain.events import DeliveryState, EventKind
from gateway.domain.status import MessageStatus
from gateway.sdk import (
    ApiProblem,
    ApiUnavailable,
    Retries,
    SyncXgateClient,
    XgateClient,
    verify_webhook,
)
from gateway.store import Store
from harness.services import free_port
from tests.api.conftest import HUB, PUBLIC, Keys, create_caller, serve
from tests.sdk.conftest import Sent
from tests.store.conftest import Clock, new_message, scan

Sdk = Callable[..., XgateClient]
HOOK = "https://hooks.example.com/xgate"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FAST = Retries(backoff=RetryPolicy(initial_delay=0.05, max_delay=0.2, max_attempts=4))


async def record(store: Store, clock: Clock, count: int) -> list[bytes]:
    """``count`` transfers from the hub, one a second; their ids, oldest first."""
    items = []
    for n in range(1, count + 1):
        item = new_message(n, src=HUB, dst=PUBLIC, tracking_id=f"trk-{n}")
        await scan(store, [item], chain=HUB)
        clock.advance(1)
        items.append(bytes(item.id))
    return items


async def test_reads_are_the_apis_models_and_pages_are_followed(
    sdk: Sdk, keys: Keys, store: Store, clock: Clock, requests: list[Sent]
) -> None:
    ids = await record(store, clock, 5)
    async with sdk(keys.read) as client:
        chains = await client.chains()
        assert isinstance(chains, ChainList)
        assert [(c.name, c.chain_id) for c in chains.items] == [
            ("consortium", HUB),
            ("public", PUBLIC),
        ]

        by_id = await client.transfer(ids[0])
        by_tracking = await client.transfer("trk-1")
        assert isinstance(by_id, Transfer) and by_id == by_tracking
        assert (
            by_id.status is MessageStatus.FINAL
            and by_id.history[0].to_status is MessageStatus.FINAL
        )

        del requests[:]
        listed = [t async for t in client.iter_transfers(page_size=2)]
        assert all(isinstance(t, TransferSummary) for t in listed)
        assert [bytes(t.id) for t in listed] == ids[::-1]  # newest first, every page
        assert len(requests) == 3  # 2 + 2 + 1
        assert "cursor=" not in requests[0][1] and "cursor=" in requests[1][1]

        finals = await client.transfers(status=["final"], src_chain_id=HUB, limit=1)
        assert len(finals.items) == 1 and finals.next_cursor is not None
        tx = (await client.transfer(ids[1])).src_tx_hash
        assert [bytes(t.id) for t in (await client.transfers_of_tx(HUB, tx)).items] == [ids[1]]


async def test_problems_raise_api_problem_with_their_slug(sdk: Sdk, keys: Keys) -> None:
    async with sdk(keys.read) as client:
        with pytest.raises(ApiProblem) as unknown:
            await client.transfer("0x" + "ab" * 32)
        assert (unknown.value.status, unknown.value.slug) == (404, "transfer-not-found")
        assert unknown.value.title and not unknown.value.retryable
        assert unknown.value.instance == "/v1/transfers/0x" + "ab" * 32

        with pytest.raises(ApiProblem) as bad:
            await client.transfers(limit=500)
        assert (bad.value.status, bad.value.slug) == (400, "invalid-request")
        assert [e.field for e in bad.value.errors] == ["query.limit"]

        with pytest.raises(ApiProblem) as scope:
            await client.create_webhook(HOOK, [EventKind.MESSAGE])
        assert (scope.value.status, scope.value.slug) == (403, "insufficient-scope")

    async with sdk(None) as anonymous:
        with pytest.raises(ApiProblem) as missing:
            await anonymous.chains()
        assert (missing.value.status, missing.value.slug) == (401, "missing-api-key")


async def test_429_is_retried_after_retry_after_with_the_same_idempotency_key(
    sdk: Sdk, store: Store, config: XgateConfig, clock: Clock, requests: list[Sent]
) -> None:
    # The rate limiter's clock moves only when the client sleeps.
    elapsed = [0.0]
    operator = await create_caller(store, Scope.OPERATOR, rate_per_s=0.5, burst=1)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        elapsed[0] += seconds

    async with serve(store, config, clock, rate_clock=lambda: elapsed[0]) as api:
        base = str(api.client.make_url("")).rstrip("/")
        async with sdk(operator, base_url=base, sleep=sleep) as client:
            await client.webhooks()  # the burst's one token
            del requests[:]
            created = await client.create_webhook(HOOK, ["message"])  # 429, then created
            assert created.url == HOOK and created.secret.startswith("whsec_")
            # Retry-After: 2 (1 token at 0.5/s) is longer than the first backoff (0.5 s).
            assert slept == [2.0]
            assert [m for m, _, _ in requests] == ["POST", "POST"]
            first, second = (h for _, _, h in requests)
            assert first["Idempotency-Key"] == second["Idempotency-Key"]
            assert first["X-Xgate-Nonce"] != second["X-Xgate-Nonce"]  # each attempt signed anew

        once = XgateClient(
            base,
            operator.token,
            signing_key=operator.signing_key,
            retries=Retries(backoff=RetryPolicy(max_attempts=1)),
            clock=lambda: clock().timestamp(),
        )
        async with once:
            with pytest.raises(ApiProblem) as limited:
                await once.webhooks()
        assert (limited.value.status, limited.value.slug) == (429, "rate-limited")
        assert limited.value.retryable and limited.value.retry_after == 2.0


async def test_an_idempotency_key_given_twice_answers_the_first_post(sdk: Sdk, keys: Keys) -> None:
    async with sdk(keys.dapp) as client:
        first = await client.create_webhook(HOOK, ["message"], idempotency_key="hook-1")
        again = await client.create_webhook(HOOK, ["message"], idempotency_key="hook-1")
        assert again == first  # replayed, not a second webhook
        assert [h.id for h in (await client.webhooks()).items] == [first.id]
        with pytest.raises(ApiProblem) as reused:
            await client.create_webhook(HOOK, ["swap"], idempotency_key="hook-1")
        assert (reused.value.status, reused.value.slug) == (422, "idempotency-key-reused")


async def test_an_operator_signs_its_changes_through_the_sdk(
    sdk: Sdk, keys: Keys, store: Store
) -> None:
    hook = await store.create_webhook(keys.dapp.key_id, HOOK, "s" * 32, [EventKind.MESSAGE])
    await scan(store, [new_message(1, src=HUB, dst=PUBLIC)], chain=HUB)
    [due] = await store.claim_deliveries("test", limit=1, lease_s=30)
    await store.record_delivery_failure(
        hook.id, due.event.id, "test", "HTTP 500", retry_at=due.delivery.next_at, max_attempts=1
    )
    async with sdk(keys.operator) as operator:
        [dead] = (await operator.dead_letters(webhook_id=hook.id)).items
        assert (dead.event_id, dead.state, dead.last_error) == (
            due.event.id,
            DeliveryState.DEAD,
            "HTTP 500",
        )
        replayed = await operator.replay_dead_letter(hook.id, due.event.id)
        assert isinstance(replayed, Delivery) and replayed.state is DeliveryState.PENDING
        assert (await operator.dead_letters()).items == []
    # The same key without its signing key: the server refuses the unsigned change.
    unsigned = XgateClient(str(operator.base_url), keys.operator.token)
    async with unsigned:
        with pytest.raises(ApiProblem) as refused:
            await unsigned.replay_dead_letter(hook.id, due.event.id)
    assert (refused.value.status, refused.value.slug) == (401, "signature-required")


async def test_the_event_stream_resumes_after_the_server_restarts(
    sdk: Sdk, keys: Keys, store: Store, config: XgateConfig, clock: Clock, requests: list[Sent]
) -> None:
    port = free_port()

    async def start() -> TestServer:
        app = create_app(store, config, clock=clock)
        app[EVENT_STREAM_SETTINGS_KEY] = EventStreamSettings(retry_ms=20)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        return server

    await scan(store, [new_message(1, src=HUB, dst=PUBLIC)], chain=HUB)
    server = await start()
    client = sdk(keys.read, base_url=f"http://127.0.0.1:{port}", retries=FAST, sleep=asyncio.sleep)
    seen: list[EventItem] = []
    async with client, aclosing(client.events(after=0, kinds=["message"])) as stream:
        seen.append(await anext(stream))
        await server.close()  # ends the stream; the port refuses connections for a while
        await scan(store, [new_message(n, src=HUB, dst=PUBLIC) for n in (2, 3)], chain=HUB)
        following = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.3)
        assert not following.done()
        server = await start()
        try:
            seen.append(await asyncio.wait_for(following, 10))
            seen.append(await asyncio.wait_for(anext(stream), 10))
        finally:
            await server.close()
    assert [e.id for e in seen] == [1, 2, 3]
    assert all(e.kind is EventKind.MESSAGE for e in seen)
    resumed = [h.get("Last-Event-ID") for m, u, h in requests if "/v1/events" in u]
    assert resumed[0] is None and "after=0" in next(u for _, u, _ in requests if "/v1/events" in u)
    assert set(resumed[1:]) == {"1"}


async def test_an_event_stream_that_cannot_reconnect_ends_with_api_unavailable(
    sdk: Sdk, keys: Keys
) -> None:
    retries = Retries(backoff=RetryPolicy(initial_delay=0, max_attempts=2), stream_reconnects=2)
    dead = sdk(keys.read, base_url=f"http://127.0.0.1:{free_port()}", retries=retries)
    async with dead, aclosing(dead.events()) as stream:
        with pytest.raises(ApiUnavailable):
            await anext(stream)


async def test_the_sync_client_is_the_async_one_blocking(
    base_url: str, keys: Keys, store: Store, clock: Clock
) -> None:
    ids = await record(store, clock, 3)

    def use() -> tuple[Transfer, list[bytes], str]:
        with SyncXgateClient(base_url, keys.read.token) as client:
            transfer = client.transfer("trk-1")
            listed = [bytes(t.id) for t in client.iter_transfers(page_size=2)]
            with pytest.raises(ApiProblem):
                client.transfer("nope")
            stream = client.events(after=1)
            try:
                events = [next(stream).id, next(stream).id]
            finally:
                stream.close()
            assert events == [2, 3]
            return transfer, listed, repr(client)

    transfer, listed, shown = await asyncio.to_thread(use)
    assert bytes(transfer.id) == ids[0] and transfer.status is MessageStatus.FINAL
    assert listed == ids[::-1]
    assert keys.read.token not in shown and base_url in shown


def test_verify_webhook_is_the_gateways_definition() -> None:
    assert verify_webhook is webhook_signing.verify_webhook
    body = json.dumps({"id": 7, "kind": "message"}).encode()
    headers = webhook_signing.sign_webhook("whsec_x", 7, body, timestamp=1_700_000_000)
    assert verify_webhook("whsec_x", headers, body, now=1_700_000_010) == 7
    with pytest.raises(webhook_signing.WebhookSignatureError):
        verify_webhook("whsec_other", headers, body, now=1_700_000_010)


async def test_the_newer_operations_answer_their_models_through_the_sdk(
    sdk: Sdk, keys: Keys, sleeps: list[float]
) -> None:
    async with sdk(keys.operator) as operator:
        listed = await operator.operator_keys()
        assert keys.read.key_id in {k.key_id for k in listed.items}
        created = await operator.create_operator_key(
            OperatorKeyCreate(name="reader-2", scopes=[Scope.READ])
        )
        assert created.token.startswith("xg_") and created.scopes == [Scope.READ]
        revoked = await operator.revoke_operator_key(created.key_id)
        assert revoked.revoked_at is not None
    async with sdk(keys.dapp) as dapp:
        with pytest.raises(ApiProblem) as unknown:
            await dapp.swap(b"\x01" * 32)
        assert unknown.value.status == 404
        # This app reads no chain: 503, retried with the backoff, then raised.
        with pytest.raises(ApiProblem) as no_chains:
            await dapp.chain_status(HUB)
        assert (no_chains.value.status, no_chains.value.slug) == (503, "chains-not-configured")
        assert no_chains.value.retryable and sleeps == [0.5, 1.0, 2.0]


async def test_a_409_with_retry_after_is_retried_with_the_same_idempotency_key(
    sdk: Sdk, keys: Keys, store: Store, config: XgateConfig, clock: Clock, requests: list[Sent]
) -> None:
    # The first POST is answered as a swap whose state kept changing (409 swap-busy with
    # Retry-After), inside the idempotency layer as the real one is; later one without it.
    scripted: list[dict[str, str]] = [{"Retry-After": "1"}]

    @web.middleware
    async def busy(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and scripted:
            raise Problem(409, "swap-busy", "Swap changing", "retry", headers=scripted.pop(0))
        return await handler(request)

    app = create_app(store, config, clock=clock)
    app.middlewares.append(busy)
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        async with sdk(keys.dapp, base_url=base, sleep=sleep) as client:
            created = await client.create_webhook(HOOK, ["message"])  # 409, then created
            assert slept == [1.0]  # Retry-After: 1, longer than the first backoff (0.5 s)
            posts = [h for m, _, h in requests if m == "POST"]
            assert len(posts) == 2 and posts[0]["Idempotency-Key"] == posts[1]["Idempotency-Key"]
            assert [h.id for h in (await client.webhooks()).items] == [created.id]

            scripted.append({})
            with pytest.raises(ApiProblem) as conflict:  # no Retry-After: not retried
                await client.create_webhook(HOOK, ["swap"])
            assert (conflict.value.status, conflict.value.slug) == (409, "swap-busy")
            assert not conflict.value.retryable and slept == [1.0]
