"""Webhooks and their deliveries: each event of a webhook's kinds becomes a delivery in the
event's transaction; dispatchers claim due deliveries under leases, record failures with the
caller's backoff, dead-letter after the caller's last attempt; an operator lists and replays
dead letters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.types import ChainId
from gateway.domain.apikeys import Scope
from gateway.domain.events import DeliveryState, EventKind
from gateway.domain.status import MessageStatus
from gateway.store import LeaseLost, NotDeadLettered, NotFound, Store, StoreError
from tests.store.conftest import T0, Clock, new_message, scan
from tests.store.test_records import _swap

SECRET = "s3cret-of-the-dapp-0001"
URL = "https://dapp.example/hooks/xgate"
M, W = EventKind.MESSAGE, EventKind.SWAP


async def _key(store: Store) -> str:
    return (await store.create_api_key("dapp", [Scope.DAPP])).api_key.key_id


async def test_events_become_deliveries_of_the_webhooks_of_their_kind(
    store: Store, clock: Clock
) -> None:
    key = await _key(store)
    await scan(store, [new_message(0)])  # before any webhook: delivered to none
    messages = await store.create_webhook(key, URL, SECRET, [M])
    swaps = await store.create_webhook(key, URL + "/swaps", SECRET, [W])
    both = await store.create_webhook(key, "http://10.0.0.1:8080/x", SECRET, [M, W])
    assert (messages.key_id, messages.url, messages.kinds, messages.created_at) == (
        key,
        URL,
        {M},
        T0,
    )
    assert SECRET not in repr(messages) and messages.secret == SECRET
    assert await store.webhooks(key) == [messages, swaps, both] == await store.webhooks()
    assert await store.webhook(both.id) == both

    await scan(store, [new_message(1)])  # event 2
    await store.upsert_swap(_swap())  # event 3
    due = await store.claim_deliveries("d", limit=100, lease_s=30)
    got = sorted((d.delivery.webhook_id, d.event.id) for d in due)
    assert got == sorted([(messages.id, 2), (swaps.id, 3), (both.id, 2), (both.id, 3)])
    one = next(d for d in due if d.webhook.id == swaps.id)
    assert one.webhook == swaps and one.event.kind is W and one.event.data["state"] == "proposed"
    assert (one.delivery.state, one.delivery.attempts, one.delivery.lease_owner) == (
        DeliveryState.PENDING,
        0,
        "d",
    )
    assert one.delivery.lease_until == T0 + timedelta(seconds=30)

    # A disabled webhook gets no new deliveries and its pending ones are not claimed.
    clock.advance(1)
    disabled = await store.disable_webhook(both.id)
    assert disabled.disabled_at == clock.now
    assert (await store.disable_webhook(both.id)).disabled_at == disabled.disabled_at
    await scan(store, [new_message(2)])  # event 4
    clock.advance(60)  # every lease expired
    again = await store.claim_deliveries("d2", limit=100, lease_s=30)
    assert sorted((d.delivery.webhook_id, d.event.id) for d in again) == sorted(
        [(messages.id, 2), (swaps.id, 3), (messages.id, 4)]
    )
    assert await store.delivery(both.id, 4) is None


async def test_a_revoked_key_has_its_webhooks_disabled(store: Store) -> None:
    key = await _key(store)
    hook = await store.create_webhook(key, URL, SECRET, [M])
    await store.revoke_api_key(key)
    assert (await store.webhook(hook.id)).disabled_at is not None  # type: ignore[union-attr]
    await scan(store, [new_message(1)])
    assert await store.claim_deliveries("d", limit=10, lease_s=30) == []
    with pytest.raises(NotFound):
        await store.create_webhook(key, URL, SECRET, [M])


async def test_invalid_webhooks_are_refused(store: Store) -> None:
    key = await _key(store)
    bad: list[tuple[str, str, str, list[object]]] = [
        (key, "ftp://dapp.example/x", SECRET, [M]),
        (key, "dapp.example/x", SECRET, [M]),
        (key, "https://", SECRET, [M]),
        (key, "https://dapp.example/x#frag", SECRET, [M]),
        (key, "https://dapp.example/a b", SECRET, [M]),
        (key, "https://dapp.example:99999/x", SECRET, [M]),
        (key, "https://dapp.example/" + "x" * 2048, SECRET, [M]),
        (key, URL, "too-short", [M]),
        (key, URL, "x" * 257, [M]),
        (key, URL, SECRET, []),
        (key, URL, SECRET, ["transfer"]),
        ("0" * 16, URL, SECRET, [M]),
    ]
    for args in bad:
        with pytest.raises(StoreError):
            await store.create_webhook(*args)  # type: ignore[arg-type]
    assert await store.webhooks() == []
    with pytest.raises(NotFound):
        await store.disable_webhook(12345)


async def test_failures_back_off_then_dead_letter_and_replay(store: Store, clock: Clock) -> None:
    key = await _key(store)
    hook = await store.create_webhook(key, URL, SECRET, [M])
    await scan(store, [new_message(1)])
    [due] = await store.claim_deliveries("d", limit=10, lease_s=30)
    event_id = due.event.id

    async def fail(retry_in: float) -> DeliveryState:
        failed = await store.record_delivery_failure(
            hook.id, event_id, "d", "HTTP 503", retry_at=clock.now + timedelta(seconds=retry_in),
            max_attempts=3,
        )  # fmt: skip
        assert failed.lease_owner is None and failed.last_error == "HTTP 503"
        return failed.state

    assert await fail(10) is DeliveryState.PENDING
    after_one = await store.delivery(hook.id, event_id)
    assert after_one is not None and after_one.attempts == 1
    assert after_one.next_at == T0 + timedelta(seconds=10)
    clock.advance(9)
    assert await store.claim_deliveries("d", limit=10, lease_s=30) == []  # not due yet
    clock.advance(1)
    assert len(await store.claim_deliveries("d", limit=10, lease_s=30)) == 1
    assert await fail(40) is DeliveryState.PENDING
    clock.advance(40)
    assert len(await store.claim_deliveries("d", limit=10, lease_s=30)) == 1
    assert await fail(80) is DeliveryState.DEAD  # the third attempt was the last
    clock.advance(1000)
    assert await store.claim_deliveries("d", limit=10, lease_s=30) == []
    [dead] = await store.dead_deliveries()
    assert (dead.webhook_id, dead.event_id, dead.attempts, dead.state) == (
        hook.id,
        event_id,
        3,
        DeliveryState.DEAD,
    )
    assert await store.dead_deliveries(webhook_id=hook.id + 1) == []

    replayed = await store.replay_delivery(hook.id, event_id)
    assert (replayed.state, replayed.attempts, replayed.next_at) == (
        DeliveryState.PENDING,
        0,
        clock.now,
    )
    assert await store.dead_deliveries() == []
    with pytest.raises(NotDeadLettered):
        await store.replay_delivery(hook.id, event_id)
    with pytest.raises(NotFound):
        await store.replay_delivery(hook.id, event_id + 100)
    [due] = await store.claim_deliveries("d", limit=10, lease_s=30)
    done = await store.record_delivery_success(hook.id, event_id, "d")
    assert done.state is DeliveryState.DELIVERED and done.lease_owner is None
    clock.advance(1000)
    assert await store.claim_deliveries("d", limit=10, lease_s=30) == []
    with pytest.raises(LeaseLost):  # finished: nobody holds it any more
        await store.record_delivery_success(hook.id, event_id, "d")


async def test_an_expired_lease_is_taken_over_and_fenced(
    store: Store, other_store: Store, clock: Clock
) -> None:
    key = await _key(store)
    hook = await store.create_webhook(key, URL, SECRET, [M])
    await scan(store, [new_message(1)])
    [mine] = await store.claim_deliveries("a", limit=10, lease_s=30)
    assert await other_store.claim_deliveries("b", limit=10, lease_s=30) == []
    clock.advance(30)
    [theirs] = await other_store.claim_deliveries("b", limit=10, lease_s=30)
    assert theirs.event.id == mine.event.id
    with pytest.raises(LeaseLost):
        await store.record_delivery_success(hook.id, mine.event.id, "a")
    with pytest.raises(LeaseLost):
        await store.record_delivery_failure(
            hook.id, mine.event.id, "a", "timeout", retry_at=clock.now, max_attempts=5
        )
    held = await store.delivery(hook.id, mine.event.id)
    assert held is not None and (held.lease_owner, held.attempts) == ("b", 0)
    with pytest.raises(NotFound):
        await store.record_delivery_success(hook.id, 999, "b")


async def test_concurrent_dispatchers_never_share_a_delivery(
    store: Store, other_store: Store
) -> None:
    key = await _key(store)
    hooks = [await store.create_webhook(key, f"{URL}/{i}", SECRET, [M]) for i in range(3)]
    await scan(store, [new_message(i) for i in range(20)])  # 60 deliveries

    async def claim(s: Store, owner: str) -> list[tuple[int, int]]:
        got = await s.claim_deliveries(owner, limit=4, lease_s=60)
        assert all(d.delivery.lease_owner == owner for d in got)
        return [(d.delivery.webhook_id, d.event.id) for d in got]

    batches = await asyncio.gather(
        *(claim(s, f"{n}{i}") for i in range(10) for s, n in ((store, "a"), (other_store, "b")))
    )
    claimed = [pair for batch in batches for pair in batch]
    assert len(claimed) == len(set(claimed)) == 60
    assert {w for w, _ in claimed} == {h.id for h in hooks}


async def test_invalid_delivery_calls_are_refused(store: Store, clock: Clock) -> None:
    key = await _key(store)
    hook = await store.create_webhook(key, URL, SECRET, [M])
    await scan(store, [new_message(1)])
    for kwargs in ({"limit": 0, "lease_s": 30}, {"limit": 5, "lease_s": 0}):
        with pytest.raises(StoreError):
            await store.claim_deliveries("d", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await store.claim_deliveries("", limit=5, lease_s=30)
    [due] = await store.claim_deliveries("d", limit=5, lease_s=30)
    for error, attempts in (("", 3), ("HTTP 500", 0)):
        with pytest.raises(StoreError):
            await store.record_delivery_failure(
                hook.id, due.event.id, "d", error, retry_at=clock.now, max_attempts=attempts
            )
    # Nothing was written: the lease and the attempts are as claimed.
    held = await store.delivery(hook.id, due.event.id)
    assert held is not None and (held.lease_owner, held.attempts) == ("d", 0)
    # A long error is kept shortened.
    failed = await store.record_delivery_failure(
        hook.id, due.event.id, "d", "x" * 5000, retry_at=clock.now, max_attempts=3
    )
    assert failed.last_error == "x" * 2000


async def test_message_events_reach_webhooks_from_every_status_change(store: Store) -> None:
    key = await _key(store)
    hook = await store.create_webhook(key, URL, SECRET, [M])
    item = new_message(1)
    await scan(store, [item])
    await store.claim_messages(
        "w", dst_chain_id=ChainId(2), statuses=[MessageStatus.FINAL], limit=1, lease_s=60
    )
    await store.transition(item.id, "w", MessageStatus.HEADER_READY)
    due = await store.claim_deliveries("d", limit=10, lease_s=30)
    assert [(d.webhook.id, d.event.data["status"]) for d in due] == [
        (hook.id, "final"),
        (hook.id, "header_ready"),
    ]
