"""One hashlock, one swap (``Store.record_proposed_swap``, docs/api.md "Swaps"): a secret
revealed for one swap must never open another's locks, so a proposal whose hashlock another swap
uses is refused, in any state, and two concurrent proposals of one hashlock record one swap, on
SQLite (one writer) and PostgreSQL (an advisory lock per hashlock)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.types import ChainId, Hash32
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState
from gateway.store import HashlockInUse, Store, SwapConflict
from tests.store.conftest import addr, h32


def _swap(n: int, hashlock: bytes, *, value: int = 10**18) -> Swap:
    def leg(chain: int, claimer: int, refunder: int) -> SwapLeg:
        return SwapLeg(
            ChainId(chain), addr(0x50 + chain), AssetKind.NATIVE, addr(0), value,
            addr(claimer), addr(refunder), 1_800_000_000 + chain,
        )  # fmt: skip

    return Swap(
        swap_id=Hash32(h32("swap", n)),
        hashlock=Hash32(hashlock),
        initiator=addr(1),
        participant=addr(2),
        initiator_leg=leg(1, 2, 1),
        participant_leg=leg(2, 1, 2),
    )


async def test_a_hashlock_records_one_swap_in_any_state(store: Store) -> None:
    lock = h32("lock")
    first = await store.record_proposed_swap(_swap(1, lock))
    assert await store.swaps_with_hashlock(lock) == [first]
    assert await store.record_proposed_swap(_swap(1, lock)) == first  # the same swap again
    with pytest.raises(SwapConflict):
        await store.record_proposed_swap(_swap(1, lock, value=5))
    with pytest.raises(HashlockInUse) as err:
        await store.record_proposed_swap(_swap(2, lock))
    assert err.value.existing == first and err.value.retryable is False
    await store.set_swap_state(first.swap_id, SwapState.PROPOSED, SwapState.EXPIRED)
    with pytest.raises(HashlockInUse):  # over, but its secret may be public
        await store.record_proposed_swap(_swap(3, lock))
    assert [s.swap_id for s in await store.swaps_with_hashlock(lock)] == [first.swap_id]
    assert await store.swap(Hash32(h32("swap", 2))) is None
    other = await store.record_proposed_swap(_swap(2, h32("other lock")))
    assert other.state is SwapState.PROPOSED


async def test_concurrent_proposals_of_one_hashlock_record_one(store: Store) -> None:
    lock = h32("raced")
    swaps = [_swap(n, lock) for n in range(8)]
    results = await asyncio.gather(
        *(store.record_proposed_swap(s) for s in swaps), return_exceptions=True
    )
    recorded = [r for r in results if isinstance(r, Swap)]
    assert len(recorded) == 1, results
    assert all(isinstance(r, HashlockInUse) for r in results if not isinstance(r, Swap))
    assert [
        replace(s, created_at=None, updated_at=None) for s in await store.swaps_with_hashlock(lock)
    ] == [replace(recorded[0], created_at=None, updated_at=None)]
