"""The event log (docs/api.md §3): every message status change and swap state change is an
event written in the change's transaction; ids grow in commit order (PostgreSQL: under the
log's advisory lock, shown with writers that overlap for real); ``wait_for_events`` wakes on
another process's write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text

from adapters.types import ChainId, Hash32, Height, TxHash
from gateway.domain.events import EventKind
from gateway.domain.status import Checkpoint, InvalidTransition, MessageStatus, SwapState
from gateway.store import CheckpointMoved, LeaseLost, Store, StoreError, ValueOutOfRange
from gateway.store.db import libpq_conninfo, parse_store_url
from tests.store.conftest import T0, Clock, checkpoint, h32, new_message, scan, truncate
from tests.store.test_records import _swap

S = MessageStatus
WAITING = [S.FINAL, S.HEADER_READY, S.SUBMITTED]


def tx(n: object) -> TxHash:
    return TxHash(h32("delivery", n))


async def _claim(store: Store, owner: str, *, dst: int = 2, limit: int = 100) -> list[bytes]:
    got = await store.claim_messages(
        owner, dst_chain_id=ChainId(dst), statuses=[*WAITING, S.PARKED], limit=limit, lease_s=600
    )
    return [r.id for r in got]


async def test_every_message_status_change_is_an_event(store: Store, clock: Clock) -> None:
    a, b = new_message(1, tracking_id="trk-a"), new_message(2)
    await scan(store, [a, b])
    await _claim(store, "w")
    clock.advance(1)
    await store.transition_many([a.id, b.id], "w", S.HEADER_READY)
    await store.transition(a.id, "w", S.SUBMITTED, tx_hash=tx(1))
    await store.transition(a.id, "w", S.DELIVERED, block_number=99)
    await store.transition(b.id, "w", S.PARKED, reason="receiver reverts")
    await store.operator_retry(b.id, detail="fixed the receiver")
    # Rescheduling, renewing and releasing change no status: no events.
    await _claim(store, "w")
    await store.renew_leases("w", [b.id], 60)
    await store.defer(b.id, "w", clock.now, reason="node busy")
    await store.release("w", [b.id])

    events = await store.events_after(0, 100)
    assert [e.id for e in events] == list(range(1, 9))
    assert all(e.kind is EventKind.MESSAGE for e in events)
    steps = [(e.ref, e.data["old_status"], e.data["status"]) for e in events]
    assert steps == [
        (a.id, None, "final"),
        (b.id, None, "final"),
        (a.id, "final", "header_ready"),
        (b.id, "final", "header_ready"),
        (a.id, "header_ready", "submitted"),
        (a.id, "submitted", "delivered"),
        (b.id, "header_ready", "parked"),
        (b.id, "parked", "header_ready"),
    ]
    first = events[0]
    assert first.created_at == T0 and dict(first.data) == {
        "status": "final",
        "old_status": None,
        "src_chain_id": 1,
        "dst_chain_id": 2,
        "tx_hash": "0x" + a.src_tx_hash.hex(),
        "tracking_id": "trk-a",
        "detail": f"seen in final block {a.src_block_number}",
    }
    assert events[2].created_at == clock.now
    assert events[4].data["tx_hash"] == events[5].data["tx_hash"] == "0x" + tx(1).hex()
    assert events[6].data["detail"] == "receiver reverts"
    assert events[7].data["detail"] == "fixed the receiver"
    # The event log tells what the history tells, change for change.
    history = [h for mid in (a.id, b.id) for h in await store.history(mid)]
    assert sorted(steps, key=repr) == sorted(
        [
            (h.message_id, None if h.old_status is None else h.old_status.value, h.new_status.value)
            for h in history
        ],
        key=repr,
    )
    assert await store.last_event_id() == 8


async def test_a_scan_recording_nothing_new_appends_nothing(store: Store) -> None:
    a = new_message(1)
    assert await scan(store, [a]) == 1
    # The same message again (another stream's scan of the block): not new, no event.
    other = Checkpoint(ChainId(1), "other", Height(20), Hash32(h32("block", 1, 20)))
    assert await store.record_scan(ChainId(1), "other", None, other, [a]) == 0
    assert [e.ref for e in await store.events_after(0, 10)] == [a.id]


async def test_a_refused_change_appends_no_event(store: Store, other_store: Store) -> None:
    a, b = new_message(1), new_message(2)
    await scan(store, [a, b])
    await _claim(store, "w")
    before = await store.last_event_id()
    with pytest.raises(InvalidTransition):
        await store.transition(a.id, "w", S.DELIVERED)  # final -> delivered is not allowed
    with pytest.raises(LeaseLost):
        await store.transition(a.id, "someone else", S.HEADER_READY)
    with pytest.raises(InvalidTransition):
        # One message of the batch cannot move: none moves, no event for any.
        await store.transition(a.id, "w", S.HEADER_READY)
        await store.transition_many([a.id, b.id], "w", S.SUBMITTED, tx_hash=tx(2))
    with pytest.raises(InvalidTransition):
        await store.operator_retry(b.id)  # not parked
    with pytest.raises(CheckpointMoved):
        await other_store.record_scan(ChainId(1), "MessageSent", None, checkpoint(30), [])
    assert [e.data["status"] for e in await store.events_after(before, 10)] == ["header_ready"]


async def test_swap_records_and_state_changes_are_events(store: Store, clock: Clock) -> None:
    swap = _swap()
    await store.upsert_swap(swap)
    await store.upsert_swap(swap)  # the same swap again: nothing new
    # Progress without a state change (a reason, a transaction) is not an event.
    await store.set_swap_state(swap.swap_id, SwapState.PROPOSED, SwapState.PROPOSED, reason="x")
    clock.advance(5)
    lock_tx = TxHash(h32("lock tx"))
    await store.set_swap_state(
        swap.swap_id, SwapState.PROPOSED, SwapState.INITIATOR_LOCKED, initiator_leg_lock_tx=lock_tx
    )
    events = await store.events_after(0, 10)
    assert [(e.kind, e.ref) for e in events] == [(EventKind.SWAP, swap.swap_id)] * 2
    assert dict(events[0].data) == {
        "state": "proposed",
        "old_state": None,
        "initiator_chain_id": 1,
        "participant_chain_id": 2,
        "txs": {},
        "detail": None,
    }
    assert events[1].created_at == clock.now
    assert (events[1].data["old_state"], events[1].data["state"]) == (
        "proposed",
        "initiator_locked",
    )
    assert events[1].data["txs"] == {"initiator_leg_lock_tx": "0x" + lock_tx.hex()}
    assert events[1].data["detail"] == "x"


async def test_events_after_pages_in_id_order_and_filters_by_kind(store: Store) -> None:
    await scan(store, [new_message(i) for i in range(5)])
    await store.upsert_swap(_swap(1))
    await scan(store, [new_message(9)])
    await store.upsert_swap(_swap(2))
    everything = await store.events_after(0, 100)
    assert [e.id for e in everything] == list(range(1, 9))
    assert [e.id for e in await store.events_after(3, 2)] == [4, 5]
    assert [e.id for e in await store.events_after(0, 100, kinds=[EventKind.SWAP])] == [6, 8]
    assert [e.id for e in await store.events_after(6, 100, kinds=["message"])] == [7]  # type: ignore[list-item]
    assert await store.events_after(0, 10, kinds=[]) == []
    assert await store.events_after(8, 10) == []
    with pytest.raises(ValueOutOfRange):
        await store.events_after(0, 0)
    with pytest.raises(ValueOutOfRange):
        await store.events_after(0, 1001)
    with pytest.raises(ValueOutOfRange):
        await store.events_after(-1, 10)
    with pytest.raises(StoreError):
        await store.events_after(0, 10, kinds=["transfer"])  # type: ignore[list-item]


async def test_wait_for_events_wakes_on_another_connections_write(
    store: Store, other_store: Store
) -> None:
    assert await store.wait_for_events(0, 0.3) is False  # nothing yet: times out
    with pytest.raises(StoreError):
        await store.wait_for_events(0, -1)

    waiting = asyncio.create_task(store.wait_for_events(0, 30))
    await asyncio.sleep(0.5)  # let it start waiting (it must not have returned)
    assert not waiting.done()
    await scan(other_store, [new_message(1)])  # another process's write
    # Woken by the write, long before the 30 s timeout (which would return False).
    assert await asyncio.wait_for(waiting, 10) is True

    # An id above after_id that exists already: at once, no waiting.
    assert await store.wait_for_events(0, 0) is True
    # Events at or below after_id do not wake a waiter; a newer one does.
    waiting = asyncio.create_task(store.wait_for_events(1, 30))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await other_store.upsert_swap(_swap())
    assert await asyncio.wait_for(waiting, 10) is True
    assert await store.wait_for_events(2, 0.3) is False


# --- PostgreSQL: ids commit in order ----------------------------------------------------------


def _conninfo(url: str) -> str:
    return libpq_conninfo(parse_store_url(url))


@pytest.fixture
async def pg_stores(pg_store_url: str, clock: Clock) -> AsyncIterator[list[Store]]:
    """Four stores (four processes) on the session's PostgreSQL database, emptied."""
    truncate(pg_store_url)
    stores = [await Store.open(pg_store_url, migrate=False, clock=clock) for _ in range(4)]
    try:
        yield stores
    finally:
        for s in stores:
            await s.close()


async def _advisory_waiters(conninfo: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        row = await cur.fetchone()
        return 0 if row is None else int(row[0])


async def test_a_later_event_waits_for_an_earlier_uncommitted_one(
    pg_stores: list[Store], pg_store_url: str
) -> None:
    """The case the advisory lock exists for: writer A appended event 2 and has not committed;
    writer B's change must not draw and commit id 3 meanwhile, or a reader would see 3, move
    its cursor past 2, and never see 2."""
    store, slow, reader = pg_stores[:3]
    a = new_message(1)
    await scan(store, [a])  # event 1
    await _claim(store, "w")
    async with slow._engine.connect() as conn:  # another process, mid-transaction
        trans = await conn.begin()
        await slow._append_events(conn, [(EventKind.SWAP, b"\x01" * 32, {"state": "x"})], T0)
        assert (await conn.execute(text("SELECT max(id) FROM events"))).scalar() == 2
        change = asyncio.create_task(store.transition(a.id, "w", S.HEADER_READY))
        # B blocks on the log's lock (seen in pg_locks, not guessed from a delay).
        for _ in range(200):
            if await _advisory_waiters(_conninfo(pg_store_url)) == 1:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the second writer never waited for the event log's lock")
        assert not change.done()
        assert [e.id for e in await reader.events_after(0, 10)] == [1]
        await trans.commit()
    await asyncio.wait_for(change, 10)
    events = await reader.events_after(0, 10)
    assert [(e.id, e.kind) for e in events] == [
        (1, EventKind.MESSAGE),
        (2, EventKind.SWAP),
        (3, EventKind.MESSAGE),
    ]


async def test_concurrent_writers_ids_become_visible_in_order(pg_stores: list[Store]) -> None:
    """Three processes move their own messages through many transactions at once while a
    reader follows the log with ``events_after``: every event ever committed is seen, in id
    order, and none appears below the reader's cursor after it moved past (it would be missed:
    the final set differs)."""
    writers, reader = pg_stores[:3], pg_stores[3]
    per_writer = 6
    owned = {
        i: [
            new_message(100 * i + n, src=1, dst=10 + i, block=1000 + 100 * i + n)
            for n in range(per_writer)
        ]
        for i in range(len(writers))
    }
    await scan(writers[0], [m for ms in owned.values() for m in ms])
    done = asyncio.Event()

    async def write(i: int, s: Store) -> None:
        ids = await _claim(s, f"w{i}", dst=10 + i)
        assert len(ids) == per_writer
        for n, mid in enumerate(ids):
            await s.transition(mid, f"w{i}", S.HEADER_READY)
            for attempt in range(3):
                await s.transition(mid, f"w{i}", S.SUBMITTED, tx_hash=tx((i, n, attempt)))
                await s.transition(mid, f"w{i}", S.HEADER_READY, detail="dropped")
            await s.transition(mid, f"w{i}", S.SUBMITTED, tx_hash=tx((i, n)))
            await s.transition(mid, f"w{i}", S.DELIVERED, block_number=5)

    seen: list[int] = []

    async def read() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            batch = await reader.events_after(cursor, 50)
            ids = [e.id for e in batch]
            assert ids == sorted(ids) and (not ids or ids[0] > cursor)
            seen.extend(ids)
            if ids:
                cursor = ids[-1]
            elif finished:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(read())
    await asyncio.gather(*(write(i, s) for i, s in enumerate(writers)))
    done.set()
    await asyncio.wait_for(reading, 30)

    committed = [e.id for e in await reader.events_after(0, 1000)]
    per_message = (
        1 + 1 + 3 * 2 + 2
    )  # final, header_ready, 3 x (submitted, back), submitted, delivered
    assert len(committed) == len(writers) * per_writer * per_message
    assert seen == committed  # nothing appeared behind the reader's cursor


async def test_the_listener_survives_a_lost_connection(
    pg_stores: list[Store], pg_store_url: str
) -> None:
    store, other = pg_stores[:2]
    assert await store.wait_for_events(0, 0.2) is False  # the listener runs now
    async with await psycopg.AsyncConnection.connect(
        _conninfo(pg_store_url), autocommit=True
    ) as admin:
        cur = await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN xgate_events%' AND pid <> pg_backend_pid()"
            " AND datname = current_database()"
        )
        assert await cur.fetchall() == [(True,)]  # the store's one listening connection
    # An event committed while nobody listens is found by the next wait (it reads the log
    # after listening again); a later one wakes it through the new connection.
    await scan(other, [new_message(1)])
    assert await store.wait_for_events(0, 10) is True
    waiting = asyncio.create_task(store.wait_for_events(1, 30))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await scan(other, [new_message(2)])
    assert await asyncio.wait_for(waiting, 10) is True
    assert store._listener is not None and store._listener._generation == 2  # reconnected
    assert [e.id for e in await store.events_after(0, 10)] == [1, 2]
