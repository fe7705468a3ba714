"""The API's transfer list (``Store.messages_page``): newest first by (created_at, id), keyset
pages that neither repeat nor skip when messages arrive between pages, filters, bounds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.types import ChainId
from gateway.domain.messages import MessageId
from gateway.domain.status import MessageCursor, MessageRecord, MessageStatus
from gateway.store import Store, StoreError, ValueOutOfRange
from tests.store.conftest import T0, Clock, new_message, scan

S = MessageStatus


async def _all_pages(store: Store, limit: int, **filters: object) -> list[MessageRecord]:
    got: list[MessageRecord] = []
    cursor: MessageCursor | None = None
    while True:
        page, cursor = await store.messages_page(after=cursor, limit=limit, **filters)  # type: ignore[arg-type]
        assert len(page) <= limit
        got += page
        if cursor is None:
            return got
        assert page and cursor == MessageCursor(page[-1].created_at, page[-1].id)


async def _fill(store: Store, clock: Clock) -> None:
    # Three scans at three times; several messages share a time (one scan), so the id orders
    # them. Chain 1 sends to 2 and 3; chain 5 sends to 2.
    await scan(store, [new_message(n, dst=2 + n % 2) for n in range(4)])
    clock.advance(10)
    await scan(store, [new_message(n, src=5, dst=2) for n in range(3)], chain=5)
    clock.advance(10)
    await scan(store, [new_message(n, dst=2) for n in range(4, 7)])


def _newest_first(records: list[MessageRecord]) -> list[bytes]:
    return [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)]


async def test_pages_cover_every_message_newest_first(store: Store, clock: Clock) -> None:
    await _fill(store, clock)
    everything, cursor = await store.messages_page(limit=200)
    assert cursor is None and len(everything) == 10
    assert [r.id for r in everything] == _newest_first(everything)
    assert everything[0].created_at == T0 + timedelta(seconds=20)
    for limit in (1, 3, 10):
        assert [r.id for r in await _all_pages(store, limit)] == [r.id for r in everything]
    # A page that ends exactly at the last message says so: no empty page after it.
    page, cursor = await store.messages_page(limit=10)
    assert len(page) == 10 and cursor is None


async def test_filters(store: Store, clock: Clock) -> None:
    await _fill(store, clock)
    everything, _ = await store.messages_page(limit=200)
    from_1 = await _all_pages(store, 2, src_chain_id=ChainId(1))
    assert [r.id for r in from_1] == [r.id for r in everything if r.src_chain_id == 1]
    to_3 = await _all_pages(store, 2, dst_chain_id=ChainId(3))
    assert len(to_3) == 2 and all(r.dst_chain_id == 3 for r in to_3)
    both = await _all_pages(store, 2, src_chain_id=ChainId(5), dst_chain_id=ChainId(2))
    assert len(both) == 3 and {r.src_chain_id for r in both} == {5}

    [first] = await store.claim_messages(
        "w", dst_chain_id=ChainId(3), statuses=[S.FINAL], limit=1, lease_s=60
    )
    await store.transition(first.id, "w", S.HEADER_READY)
    ready = await _all_pages(store, 2, statuses=[S.HEADER_READY])
    assert [r.id for r in ready] == [first.id]
    waiting = await _all_pages(store, 4, statuses=[S.FINAL, S.HEADER_READY])
    assert len(waiting) == 10
    assert await store.messages_page(statuses=[]) == ([], None)
    assert await store.messages_page(src_chain_id=ChainId(99)) == ([], None)


async def test_messages_arriving_between_pages_shift_nothing(store: Store, clock: Clock) -> None:
    await _fill(store, clock)
    first, cursor = await store.messages_page(limit=4)
    assert cursor is not None
    clock.advance(10)
    await scan(store, [new_message(n, dst=2) for n in range(7, 12)])  # newer than everything
    rest = await _all_pages_from(store, cursor, 4)
    everything_before = first + rest
    assert len(everything_before) == 10 == len({r.id for r in everything_before})
    assert all(r.created_at <= T0 + timedelta(seconds=20) for r in rest)


async def _all_pages_from(store: Store, cursor: MessageCursor, limit: int) -> list[MessageRecord]:
    got: list[MessageRecord] = []
    after: MessageCursor | None = cursor
    while after is not None:
        page, after = await store.messages_page(after=after, limit=limit)
        got += page
    return got


async def test_bounds_are_checked(store: Store, clock: Clock) -> None:
    await _fill(store, clock)
    for limit in (0, 201, -1):
        with pytest.raises(ValueOutOfRange):
            await store.messages_page(limit=limit)
    with pytest.raises(StoreError):
        await store.messages_page(statuses=["lost"])  # type: ignore[list-item]
    with pytest.raises(ValueOutOfRange):
        await store.messages_page(src_chain_id=ChainId(-1))
    with pytest.raises(StoreError):
        await store.messages_page(after=("2026-01-01", b"x"))  # type: ignore[arg-type]
    # A cursor past the oldest message: an empty last page.
    oldest = MessageCursor(T0, MessageId(b"\x00" * 32))
    assert await store.messages_page(after=oldest) == ([], None)
