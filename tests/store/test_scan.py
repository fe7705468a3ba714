"""Scans: the checkpoint and the messages it found are written together or not at all."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.types import ChainId, Hash32, Height, TxHash
from gateway.domain.status import Checkpoint, MessageStatus, TrackingKind
from gateway.store import (
    CheckpointMoved,
    InvalidCheckpoint,
    Store,
    StoreError,
    StoreUnavailable,
    TrackingConflict,
)
from tests.store.conftest import STREAM, checkpoint, h32, new_message

CHAIN = ChainId(1)


async def test_checkpoint_advances_with_its_messages(store: Store) -> None:
    assert await store.checkpoint(CHAIN, STREAM) is None
    first = [new_message(i, block=5) for i in range(3)]
    assert await store.record_scan(CHAIN, STREAM, None, checkpoint(9), first) == 3
    assert await store.checkpoint(CHAIN, STREAM) == checkpoint(9)
    assert await store.checkpoint(CHAIN, "other stream") is None
    assert await store.checkpoint(ChainId(2), STREAM) is None

    # The next range; a message recorded again (same id) is not new, nor is a duplicate.
    seen = replace(first[0], src_block_number=Height(12))
    again = [seen, new_message(7, block=12), new_message(7, block=12)]
    assert await store.record_scan(CHAIN, STREAM, checkpoint(9), checkpoint(15), again) == 1
    # A range without messages moves the checkpoint alone.
    assert await store.record_scan(CHAIN, STREAM, checkpoint(15), checkpoint(20), []) == 0
    assert await store.checkpoint(CHAIN, STREAM) == checkpoint(20)
    assert len(await store.history(first[0].id)) == 1
    counts = await store.count_by_status()
    assert counts == {(2, MessageStatus.FINAL): 4}


async def test_a_moved_checkpoint_writes_nothing(store: Store) -> None:
    await store.record_scan(CHAIN, STREAM, None, checkpoint(9), [])
    late = new_message(1, block=12)
    # Another watcher already started this stream, or advanced it past what we read.
    with pytest.raises(CheckpointMoved) as err:
        await store.record_scan(CHAIN, STREAM, None, checkpoint(12), [late])
    assert err.value.retryable is True
    with pytest.raises(CheckpointMoved):
        await store.record_scan(CHAIN, STREAM, checkpoint(8), checkpoint(12), [late])
    stale_hash = Checkpoint(CHAIN, STREAM, Height(9), Hash32(h32("reorged")))
    with pytest.raises(CheckpointMoved):
        await store.record_scan(CHAIN, STREAM, stale_hash, checkpoint(12), [late])
    assert await store.checkpoint(CHAIN, STREAM) == checkpoint(9)
    assert await store.message(late.id) is None


async def test_bad_scans_are_refused(store: Store) -> None:
    await store.record_scan(CHAIN, STREAM, None, checkpoint(9), [])
    cases = [
        (checkpoint(9), checkpoint(8), []),  # backwards
        (
            checkpoint(9),
            Checkpoint(CHAIN, STREAM, Height(9), Hash32(h32("x"))),
            [],
        ),  # same height, other block
        (checkpoint(9), checkpoint(12), [new_message(1, block=9)]),  # at the previous checkpoint
        (checkpoint(9), checkpoint(12), [new_message(1, block=13)]),  # past the new one
        (checkpoint(9), checkpoint(12), [new_message(1, src=5, block=11)]),  # another chain
        (checkpoint(9), checkpoint(12, chain=5), []),  # another chain's checkpoint
    ]
    for prev, new, messages in cases:
        with pytest.raises(InvalidCheckpoint):
            await store.record_scan(CHAIN, STREAM, prev, new, messages)
    assert await store.checkpoint(CHAIN, STREAM) == checkpoint(9)
    assert await store.count_by_status() == {}


async def test_a_stream_name_longer_than_the_column_is_refused_on_both_databases(
    store: Store,
) -> None:
    # PostgreSQL refuses a varchar(64) overflow, SQLite would keep it: the store refuses it
    # first on both (an attester's long stream name once failed only on PostgreSQL).
    stream = "s" * 65
    with pytest.raises(StoreError, match="stream name"):
        await store.checkpoint(CHAIN, stream)
    cp = Checkpoint(CHAIN, stream, Height(1), Hash32(h32(1)))
    with pytest.raises(StoreError, match="stream name"):
        await store.record_scan(CHAIN, stream, None, cp, [])
    ok = Checkpoint(CHAIN, "s" * 64, Height(1), Hash32(h32(1)))
    await store.record_scan(CHAIN, "s" * 64, None, ok, [])
    assert await store.checkpoint(CHAIN, "s" * 64) == ok


async def test_scan_is_atomic_when_the_write_fails(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint row is updated first; a failure while the messages are written undoes it."""
    await store.record_scan(CHAIN, STREAM, None, checkpoint(9), [])
    items = [new_message(i, block=11) for i in range(3)]

    async def broken(*_args: object) -> None:
        raise StoreUnavailable("connection lost midway")

    monkeypatch.setattr(store, "_fill_tracking_ids", broken)
    with pytest.raises(StoreUnavailable):
        await store.record_scan(CHAIN, STREAM, checkpoint(9), checkpoint(12), items)
    monkeypatch.undo()
    assert await store.checkpoint(CHAIN, STREAM) == checkpoint(9)
    assert [await store.message(m.id) for m in items] == [None, None, None]
    assert await store.record_scan(CHAIN, STREAM, checkpoint(9), checkpoint(12), items) == 3


async def test_two_watchers_race_for_one_range(store: Store, other_store: Store) -> None:
    await store.record_scan(CHAIN, STREAM, None, checkpoint(9), [])
    items = [new_message(i, block=10 + i) for i in range(5)]
    results = await asyncio.gather(
        store.record_scan(CHAIN, STREAM, checkpoint(9), checkpoint(14), items),
        other_store.record_scan(CHAIN, STREAM, checkpoint(9), checkpoint(14), items),
        return_exceptions=True,
    )
    assert [r for r in results if not isinstance(r, BaseException)] == [5], results
    assert [type(r) for r in results if isinstance(r, BaseException)] == [CheckpointMoved]
    assert await store.checkpoint(CHAIN, STREAM) == checkpoint(14)
    assert [len(await store.history(m.id)) for m in items] == [1] * 5


async def test_tracking_ids(store: Store) -> None:
    src_tx = TxHash(h32("user tx"))
    # The API hands out a tracking id before the watcher saw the transaction's messages.
    tracked = await store.track(
        "trk-a", TrackingKind.MESSAGE, src_chain_id=CHAIN, src_tx_hash=src_tx
    )
    assert tracked.ref is None and await store.tracked("trk-a") == tracked
    assert (
        await store.track("trk-a", TrackingKind.MESSAGE, src_chain_id=CHAIN, src_tx_hash=src_tx)
        == tracked
    )
    items = [new_message(i, block=3, tx=src_tx) for i in range(2)]
    other = new_message(5, block=3)
    await store.record_scan(CHAIN, STREAM, None, checkpoint(3), [*items, other])
    assert [r.id for r in await store.messages_by_tracking("trk-a")] == [m.id for m in items]
    assert (await store.message(other.id)).tracking_id is None  # type: ignore[union-attr]

    # ... or after: a message id names it directly.
    await store.track("trk-b", TrackingKind.MESSAGE, other.id)
    assert [r.id for r in await store.messages_by_tracking("trk-b")] == [other.id]
    with pytest.raises(TrackingConflict):
        await store.track("trk-b", TrackingKind.MESSAGE, items[0].id)
    with pytest.raises(TrackingConflict):
        await store.track("trk-b", TrackingKind.SWAP, other.id)
    with pytest.raises(StoreError):
        await store.track("x" * 101, TrackingKind.SWAP)
    swap = await store.track("trk-swap", TrackingKind.SWAP, h32("swap"))
    assert await store.tracked("trk-swap") == swap and swap.kind is TrackingKind.SWAP
    assert await store.tracked("nope") is None
    assert await store.messages_by_tracking("trk-swap") == []
