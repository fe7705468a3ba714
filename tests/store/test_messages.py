"""Messages in the store: their life with its full history, the forbidden transitions, the
operator's retry, leases (claims, concurrency, expiry, fencing) and the queries."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import psycopg
import pytest

from adapters.types import ChainId, Height, TxHash
from gateway.domain.status import (
    MESSAGE_TRANSITIONS,
    OPERATOR_TRANSITIONS,
    InvalidTransition,
    LeaseSummary,
    MessageStatus,
)
from gateway.store import LeaseLost, NotFound, Store, StoreError
from gateway.store.db import libpq_conninfo, parse_store_url
from tests.store.conftest import T0, Clock, h32, new_message, scan, truncate

S = MessageStatus
WAITING = [S.FINAL, S.HEADER_READY, S.SUBMITTED]
ALL = list(MessageStatus)


def tx(n: object) -> TxHash:
    return TxHash(h32("delivery", n))


async def test_message_life_and_history(store: Store, clock: Clock) -> None:
    item = new_message(1, tracking_id="trk-1")
    assert await scan(store, [item]) == 1
    record = await store.message(item.id)
    assert record is not None
    assert record.message == item.message and record.id == item.message.id
    assert (record.status, record.attempts, record.lease_owner) == (S.FINAL, 0, None)
    assert record.src_block_hash == item.src_block_hash and record.src_tx_hash == item.src_tx_hash
    assert (record.block_log_index, record.receipt_log_index) == (1, 0)
    assert record.tracking_id == "trk-1" and record.created_at == T0

    [claimed] = await store.claim_messages(
        "r1", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=30
    )
    assert claimed.lease_owner == "r1" and claimed.lease_until == clock.advance(0) + _s(30)

    clock.advance(1)
    await store.transition(item.id, "r1", S.HEADER_READY, detail="header 11 accepted")
    clock.advance(1)
    sub = await store.transition(item.id, "r1", S.SUBMITTED, tx_hash=tx(1))
    assert (sub.attempts, sub.delivery_tx_hash, sub.lease_owner) == (1, tx(1), "r1")
    clock.advance(1)
    # The transaction was dropped: back to header_ready, the delivery transaction is forgotten.
    back = await store.transition(item.id, "r1", S.HEADER_READY, reason="tx dropped")
    assert back.delivery_tx_hash is None and back.reason == "tx dropped"
    clock.advance(1)
    await store.transition(item.id, "r1", S.SUBMITTED, tx_hash=tx(2))
    clock.advance(1)
    done = await store.transition(item.id, "r1", S.DELIVERED, block_number=Height(99))
    assert done.status is S.DELIVERED and done.attempts == 2
    assert (done.delivery_tx_hash, done.delivery_block_number) == (tx(2), 99)
    assert (done.lease_owner, done.lease_until) == (None, None)
    assert done.updated_at == T0 + _s(5)

    history = await store.history(item.id)
    assert [(c.old_status, c.new_status) for c in history] == [
        (None, S.FINAL),
        (S.FINAL, S.HEADER_READY),
        (S.HEADER_READY, S.SUBMITTED),
        (S.SUBMITTED, S.HEADER_READY),
        (S.HEADER_READY, S.SUBMITTED),
        (S.SUBMITTED, S.DELIVERED),
    ]
    assert [c.at for c in history] == [T0 + _s(i) for i in range(6)]
    assert [c.owner for c in history] == [None, "r1", "r1", "r1", "r1", "r1"]
    assert history[0].tx_hash == item.src_tx_hash and history[0].detail is not None
    assert history[1].detail == "header 11 accepted" and history[3].detail == "tx dropped"
    assert [c.tx_hash for c in history[2:]] == [tx(1), None, tx(2), None]
    assert all(c.message_id == item.id for c in history)
    assert [c.seq for c in history] == sorted(c.seq for c in history)

    # Nobody can claim or move a delivered message any more.
    assert (
        await store.claim_messages(
            "r2", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=30
        )
        == []
    )
    with pytest.raises(LeaseLost):
        await store.transition(item.id, "r1", S.HEADER_READY)


async def test_every_transition_allowed_or_refused(store: Store) -> None:
    """Each (old, new) pair on its own message: allowed ones land with one history row;
    forbidden ones (self-transitions, the operator's parked -> header_ready, anything out of a
    done status) raise InvalidTransition and change nothing."""
    paths = {
        S.FINAL: [],
        S.HEADER_READY: [S.HEADER_READY],
        S.SUBMITTED: [S.HEADER_READY, S.SUBMITTED],
        S.DELIVERED: [S.HEADER_READY, S.SUBMITTED, S.DELIVERED],
        S.ALREADY_DELIVERED: [S.ALREADY_DELIVERED],
        S.PARKED: [S.HEADER_READY, S.PARKED],
    }
    pairs = list(itertools.product(ALL, ALL))
    # One destination chain per pair, so each claim takes exactly that pair's message.
    items = [new_message(i, dst=100 + i) for i in range(len(pairs))]
    await scan(store, items)
    checked = 0
    for (old, new), item in zip(pairs, items, strict=True):
        dst = ChainId(item.message.dst_chain_id)
        await store.claim_messages("w", dst_chain_id=dst, statuses=[S.FINAL], limit=1, lease_s=60)
        for step in paths[old]:
            await store.transition(item.id, "w", step, **_needs(step))
        # Done and parked statuses end the lease: take it again to try the next change.
        if old not in WAITING:
            [again] = await store.claim_messages(
                "w", dst_chain_id=dst, statuses=[old], limit=1, lease_s=60
            )
            assert again.status is old
        before = await store.message(item.id)
        history = await store.history(item.id)
        allowed = new in MESSAGE_TRANSITIONS[old] and (old, new) not in OPERATOR_TRANSITIONS
        if allowed:
            after = await store.transition(item.id, "w", new, **_needs(new))
            assert after.status is new
            assert [(c.old_status, c.new_status) for c in await store.history(item.id)][-1] == (
                old,
                new,
            )
        else:
            with pytest.raises(InvalidTransition) as err:
                await store.transition(item.id, "w", new, **_needs(new))
            assert (err.value.old, err.value.new) == (old.value, new.value)
            assert err.value.retryable is False
            assert await store.message(item.id) == before
            assert await store.history(item.id) == history
            checked += 1
    assert checked == 36 - sum(len(v) for v in MESSAGE_TRANSITIONS.values()) + len(
        OPERATOR_TRANSITIONS
    )


async def test_transition_needs_its_facts(store: Store) -> None:
    item = new_message(1)
    await scan(store, [item])
    await store.claim_messages("w", dst_chain_id=ChainId(2), statuses=WAITING, limit=1, lease_s=60)
    await store.transition(item.id, "w", S.HEADER_READY)
    with pytest.raises(InvalidTransition):
        await store.transition(item.id, "w", S.SUBMITTED)  # no tx_hash
    with pytest.raises(InvalidTransition):
        await store.transition(item.id, "w", S.PARKED)  # no reason
    with pytest.raises(NotFound):
        await store.transition(h32("nothing"), "w", S.HEADER_READY)  # type: ignore[arg-type]
    assert (await store.message(item.id)).status is S.HEADER_READY  # type: ignore[union-attr]


async def test_parked_waits_for_operator_retry(store: Store, clock: Clock) -> None:
    item = new_message(1)
    await scan(store, [item])
    await store.claim_messages("w", dst_chain_id=ChainId(2), statuses=WAITING, limit=1, lease_s=60)
    await store.transition(item.id, "w", S.HEADER_READY)
    await store.transition(item.id, "w", S.SUBMITTED, tx_hash=tx(1))
    parked = await store.transition(item.id, "w", S.PARKED, reason="receiver reverts: Paused()")
    assert (parked.status, parked.reason, parked.lease_owner) == (
        S.PARKED,
        "receiver reverts: Paused()",
        None,
    )

    # Workers never see it again, and cannot bring it back themselves.
    clock.advance(3600)
    assert (
        await store.claim_messages(
            "w", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60
        )
        == []
    )
    await store.claim_messages(
        "w", dst_chain_id=ChainId(2), statuses=[S.PARKED], limit=1, lease_s=60
    )
    with pytest.raises(InvalidTransition):
        await store.transition(item.id, "w", S.HEADER_READY)
    await store.release("w", [item.id])

    # Only parked messages can be retried by an operator.
    other = new_message(2)
    await scan(store, [other])
    with pytest.raises(InvalidTransition):
        await store.operator_retry(other.id)

    retried = await store.operator_retry(item.id, operator="alice")
    assert (retried.status, retried.reason, retried.attempts) == (S.HEADER_READY, None, 0)
    assert retried.delivery_tx_hash is None and retried.next_attempt_at == clock.now
    last = (await store.history(item.id))[-1]
    assert (last.old_status, last.new_status, last.owner) == (S.PARKED, S.HEADER_READY, "alice")
    assert last.detail is not None and "Paused()" in last.detail

    claimed = await store.claim_messages(
        "w", dst_chain_id=ChainId(2), statuses=[S.HEADER_READY], limit=5, lease_s=60
    )
    assert [c.id for c in claimed] == [item.id]
    await store.transition(item.id, "w", S.SUBMITTED, tx_hash=tx(2))
    assert (await store.transition(item.id, "w", S.DELIVERED)).status is S.DELIVERED


async def test_claim_order_filters_and_limit(store: Store, clock: Clock) -> None:
    items = [new_message(i, block=20 - i) for i in range(5)]  # later nonce, earlier block
    items.append(new_message(9, dst=3))
    items.append(new_message(7, src=5, dst=2))
    await scan(store, items[:6])
    await scan(store, items[6:], chain=5)

    got = await store.claim_messages(
        "w", dst_chain_id=ChainId(2), statuses=WAITING, limit=3, lease_s=60, src_chain_id=ChainId(1)
    )
    assert [r.src_block_number for r in got] == [16, 17, 18]
    rest = await store.claim_messages(
        "w", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60
    )
    assert sorted((r.src_chain_id, r.src_block_number) for r in rest) == [(1, 19), (1, 20), (5, 17)]
    assert (
        await store.claim_messages(
            "w", dst_chain_id=ChainId(2), statuses=[S.HEADER_READY], limit=10, lease_s=60
        )
        == []
    )
    assert (
        await store.claim_messages(
            "w", dst_chain_id=ChainId(2), statuses=WAITING, limit=0, lease_s=60
        )
        == []
    )
    with pytest.raises(StoreError):
        await store.claim_messages(
            "w", dst_chain_id=ChainId(2), statuses=WAITING, limit=1, lease_s=0
        )
    with pytest.raises(StoreError):
        await store.claim_messages(
            "", dst_chain_id=ChainId(2), statuses=WAITING, limit=1, lease_s=1
        )


async def test_concurrent_claims_never_share_a_row(store: Store, other_store: Store) -> None:
    items = [new_message(i) for i in range(60)]
    await scan(store, items)

    async def claim(s: Store, owner: str) -> list[bytes]:
        got = await s.claim_messages(
            owner, dst_chain_id=ChainId(2), statuses=WAITING, limit=4, lease_s=60
        )
        assert all(r.lease_owner == owner for r in got)
        return [r.id for r in got]

    batches = await asyncio.gather(
        *(
            claim(s, f"{name}{i}")
            for i in range(12)
            for s, name in ((store, "a"), (other_store, "b"))
        )
    )
    claimed = [mid for batch in batches for mid in batch]
    assert len(claimed) == len(set(claimed)) == 60
    assert set(claimed) == {m.id for m in items}
    # Each row's lease names the one claimer that got it.
    for batch, (i, name) in zip(batches, itertools.product(range(12), "ab"), strict=True):
        for mid in batch:
            assert (await store.message(mid)).lease_owner == f"{name}{i}"  # type: ignore[union-attr]


async def test_expired_leases_are_taken_over_and_fenced(
    store: Store, other_store: Store, clock: Clock
) -> None:
    items = [new_message(i) for i in range(3)]
    await scan(store, items)
    ids = [m.id for m in items]
    mine = await store.claim_messages(
        "a", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=30
    )
    assert [r.id for r in mine] == ids

    clock.advance(10)
    assert (
        await other_store.claim_messages(
            "b", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=30
        )
        == []
    )
    # "a" renews two of them; the third expires.
    assert await store.renew_leases("a", ids[:2], 30) == ids[:2]
    clock.advance(25)  # t = 35: the third lease ran out at 30, the renewed ones run to 40
    taken = await other_store.claim_messages(
        "b", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=30
    )
    assert [r.id for r in taken] == [ids[2]]

    # "a" lost the third: every change it tries is refused and nothing is written.
    with pytest.raises(LeaseLost) as err:
        await store.transition(ids[2], "a", S.HEADER_READY)
    assert err.value.holder == "b" and err.value.retryable is False
    with pytest.raises(LeaseLost):
        await store.defer(ids[2], "a", clock.now)
    assert await store.renew_leases("a", ids, 30) == ids[:2]
    assert await store.release("a", [ids[2]]) == 0
    assert (await store.message(ids[2])).lease_owner == "b"  # type: ignore[union-attr]
    assert len(await store.history(ids[2])) == 1
    await other_store.transition(ids[2], "b", S.HEADER_READY)

    # An expired lease nobody took is still its owner's.
    clock.advance(40)  # t = 75
    assert (await store.transition(ids[0], "a", S.HEADER_READY)).status is S.HEADER_READY


async def test_a_dead_process_rows_are_reclaimed(
    url: str, clock: Clock, other_store: Store
) -> None:
    dead = await Store.open(url, migrate=False, clock=clock)
    items = [new_message(i) for i in range(4)]
    await scan(dead, items)
    assert (
        len(
            await dead.claim_messages(
                "dead", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=20
            )
        )
        == 4
    )
    await dead.close()  # it never releases

    assert (
        await other_store.claim_messages(
            "live", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=20
        )
        == []
    )
    clock.advance(20)
    got = await other_store.claim_messages(
        "live", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=20
    )
    assert sorted(r.id for r in got) == sorted(m.id for m in items)


async def test_release_and_defer(store: Store, clock: Clock) -> None:
    a, b = new_message(1), new_message(2)
    await scan(store, [a, b])
    await store.claim_messages("w", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60)
    assert await store.release("other", [a.id, b.id]) == 0
    assert await store.release("w", [a.id]) == 1
    got = await store.claim_messages(
        "v", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=600
    )
    assert [r.id for r in got] == [a.id]

    deferred = await store.defer(b.id, "w", clock.now + _s(60), reason="rpc timeout")
    assert (deferred.attempts, deferred.reason, deferred.lease_owner) == (1, "rpc timeout", None)
    assert deferred.status is S.FINAL and len(await store.history(b.id)) == 1
    clock.advance(59)
    assert (
        await store.claim_messages(
            "v", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60
        )
        == []
    )
    clock.advance(1)
    got = await store.claim_messages(
        "v", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60
    )
    assert [r.id for r in got] == [b.id]

    # Given back until later: no attempt counted, no history.
    assert await store.release("v", [a.id], retry_at=clock.now + _s(30)) == 1
    postponed = await store.message(a.id)
    assert postponed is not None and postponed.attempts == 0 and postponed.lease_owner is None
    assert postponed.next_attempt_at == clock.now + _s(30) and len(await store.history(a.id)) == 1

    # retry_at on a transition reschedules too.
    await store.transition(b.id, "v", S.HEADER_READY, retry_at=clock.now + _s(5))
    await store.release("v", [b.id])
    assert (
        await store.claim_messages(
            "v", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60
        )
        == []
    )
    clock.advance(5)
    assert (
        len(
            await store.claim_messages(
                "v", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60
            )
        )
        == 1
    )


async def test_queries(store: Store, clock: Clock) -> None:
    same_tx = h32("one tx")
    first = [new_message(i, block=10, tx=same_tx) for i in (3, 1, 2)]
    later = [new_message(7, block=12), new_message(8, dst=3, block=12)]
    await scan(store, first)
    clock.advance(10)
    await scan(store, later)
    await scan(store, [new_message(4, src=9, dst=2, block=3)], chain=9)

    by_tx = await store.messages_by_tx(ChainId(1), TxHash(same_tx))
    assert [r.block_log_index for r in by_tx] == [1, 2, 3]
    assert await store.messages_by_tx(ChainId(9), TxHash(same_tx)) == []
    assert await store.message(h32("nothing")) is None  # type: ignore[arg-type]
    assert await store.history(h32("nothing")) == []  # type: ignore[arg-type]

    oldest = await store.oldest_waiting(ChainId(2))
    assert oldest is not None and oldest.id == by_tx[0].id
    await store.claim_messages("w", dst_chain_id=ChainId(2), statuses=WAITING, limit=10, lease_s=60)
    for r in by_tx:
        await store.transition(r.id, "w", S.ALREADY_DELIVERED)
    await store.transition(later[0].id, "w", S.HEADER_READY)
    oldest = await store.oldest_waiting(ChainId(2))
    assert oldest is not None and oldest.id == later[0].id
    assert await store.oldest_waiting(ChainId(77)) is None

    assert await store.count_by_status() == {
        (2, S.ALREADY_DELIVERED): 3,
        (2, S.HEADER_READY): 1,
        (2, S.FINAL): 1,
        (3, S.FINAL): 1,
    }
    assert await store.count_by_route() == {
        (1, 2, S.ALREADY_DELIVERED): 3,
        (1, 2, S.HEADER_READY): 1,
        (1, 3, S.FINAL): 1,
        (9, 2, S.FINAL): 1,
    }


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _needs(status: MessageStatus) -> dict[str, object]:
    """The facts a transition to ``status`` must carry."""
    if status is S.SUBMITTED:
        return {"tx_hash": tx(status)}
    if status is S.PARKED:
        return {"reason": "receiver reverts"}
    return {}


async def test_a_batch_moves_in_one_transaction_or_not_at_all(
    store: Store, other_store: Store, clock: Clock
) -> None:
    items = [new_message(i) for i in range(4)]
    await scan(store, items)
    ids = [m.id for m in items]
    await store.claim_messages("a", dst_chain_id=ChainId(2), statuses=WAITING, limit=3, lease_s=30)
    moved = await store.transition_many(ids[:3], "a", S.HEADER_READY, detail="header 12")
    assert [r.id for r in moved] == ids[:3]
    assert all(r.status is S.HEADER_READY and r.lease_owner == "a" for r in moved)
    sent = await store.transition_many(ids[:3], "a", S.SUBMITTED, tx_hash=tx("batch"))
    assert {(r.attempts, r.delivery_tx_hash) for r in sent} == {(1, tx("batch"))}
    for mid in ids[:3]:
        assert [c.new_status for c in await store.history(mid)][-2:] == [
            S.HEADER_READY,
            S.SUBMITTED,
        ]

    # One message of the batch is not "a"'s: nothing of the batch changes.
    await other_store.claim_messages(
        "b", dst_chain_id=ChainId(2), statuses=WAITING, limit=1, lease_s=30
    )
    with pytest.raises(LeaseLost):
        await store.transition_many([ids[0], ids[3]], "a", S.DELIVERED, tx_hash=tx("batch"))
    assert (await store.message(ids[0])).status is S.SUBMITTED  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.transition_many([ids[1], h32("unknown")], "a", S.DELIVERED)  # type: ignore[list-item]
    assert (await store.message(ids[1])).status is S.SUBMITTED  # type: ignore[union-attr]
    assert await store.transition_many([], "a", S.DELIVERED) == []


async def test_message_leases_by_owner(store: Store, clock: Clock) -> None:
    """Leases on undelivered messages by owner, in one query: how many each holds and the
    latest expiry; a lease on a parked message does not count, nor one expired longer ago
    than ``expired_within``."""
    await scan(store, [new_message(n) for n in range(1, 6)] + [new_message(6, dst=3)])
    assert await store.message_leases(clock.now) == []
    # Message 1 parked, then leased by an operator's worker: not undelivered work.
    [parked] = await store.claim_messages(
        "x", dst_chain_id=ChainId(2), statuses=WAITING, limit=1, lease_s=60
    )
    await store.transition(parked.id, "x", S.HEADER_READY)
    await store.transition(parked.id, "x", S.SUBMITTED, tx_hash=tx(1))
    await store.transition(parked.id, "x", S.PARKED, reason="receiver reverts")
    await store.claim_messages(
        "p", dst_chain_id=ChainId(2), statuses=[S.PARKED], limit=1, lease_s=600
    )
    t0 = clock.now
    await store.claim_messages("r1", dst_chain_id=ChainId(2), statuses=WAITING, limit=2, lease_s=30)
    clock.advance(10)
    await store.claim_messages("r1", dst_chain_id=ChainId(3), statuses=WAITING, limit=1, lease_s=30)
    await store.claim_messages("r2", dst_chain_id=ChainId(2), statuses=WAITING, limit=1, lease_s=60)
    leases = await store.message_leases(clock.now)
    assert leases == [
        LeaseSummary("r1", 3, t0 + _s(40)),
        LeaseSummary("r2", 1, t0 + _s(70)),
    ]
    assert all(lease.lease_until.tzinfo is not None for lease in leases)
    # Later: r1's leases expired (at t0+30 and t0+40), r2's at t0+70.
    clock.advance(50)  # t0+60
    assert await store.message_leases(clock.now) == [LeaseSummary("r2", 1, t0 + _s(70))]
    recent = await store.message_leases(clock.now, expired_within=_s(25))  # since t0+35
    assert recent == [LeaseSummary("r1", 1, t0 + _s(40)), LeaseSummary("r2", 1, t0 + _s(70))]
    # A released lease is gone.
    await store.release("r2", [m.id for m in await store.messages_in([S.FINAL], limit=10)])
    assert [lease.owner for lease in await store.message_leases(clock.now)] == []
    with pytest.raises(StoreError):
        await store.message_leases(clock.now, expired_within=_s(-1))


async def test_point_reads_outlive_connections_the_server_dropped(
    pg_store_url: str, clock: Clock
) -> None:
    """A PostgreSQL restart drops every connection the store holds. The point reads (psycopg's
    pool, autocommit) find theirs broken and read again on a new one: the next read does not
    fail."""
    truncate(pg_store_url)
    async with await Store.open(pg_store_url, migrate=False, clock=clock) as store:
        message = new_message(1, block=5)
        await scan(store, [message])
        assert (await store.message(message.id)) is not None  # the pool holds a connection now
        with psycopg.connect(libpq_conninfo(parse_store_url(pg_store_url)), autocommit=True) as db:
            dropped = db.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert dropped is not None and dropped[0] >= 1
        record = await store.message(message.id)
        assert record is not None and record.id == message.id
        assert [c.new_status for c in await store.history(message.id)] == [S.FINAL]
