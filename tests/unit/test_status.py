"""gateway.domain.status: the message lifecycle rules and the records' own checks (pure)."""

from __future__ import annotations

import itertools

import pytest

from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.status import (
    DONE_STATUSES,
    MESSAGE_TRANSITIONS,
    WAITING_STATUSES,
    AssetKind,
    Checkpoint,
    InvalidRecord,
    InvalidTransition,
    MessageStatus,
    Swap,
    SwapLeg,
    check_transition,
)

S = MessageStatus

WORKER_ALLOWED = {
    (S.FINAL, S.HEADER_READY),
    (S.FINAL, S.ALREADY_DELIVERED),
    (S.HEADER_READY, S.SUBMITTED),
    (S.HEADER_READY, S.ALREADY_DELIVERED),
    (S.HEADER_READY, S.PARKED),
    (S.SUBMITTED, S.DELIVERED),
    (S.SUBMITTED, S.HEADER_READY),
    (S.SUBMITTED, S.ALREADY_DELIVERED),
    (S.SUBMITTED, S.PARKED),
}


@pytest.mark.parametrize(("old", "new"), list(itertools.product(S, S)))
def test_transitions(old: MessageStatus, new: MessageStatus) -> None:
    if (old, new) in WORKER_ALLOWED:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidTransition) as err:
            check_transition(old, new, message_id=b"\x01" * 32)  # type: ignore[arg-type]
        assert (err.value.old, err.value.new, err.value.retryable) == (old.value, new.value, False)
    if (old, new) == (S.PARKED, S.HEADER_READY):
        check_transition(old, new, operator=True)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(old, new, operator=True)


def test_status_sets() -> None:
    assert set(MESSAGE_TRANSITIONS) == set(S)
    assert WAITING_STATUSES | DONE_STATUSES | {S.PARKED} == set(S)
    assert not WAITING_STATUSES & DONE_STATUSES
    assert all(not MESSAGE_TRANSITIONS[s] for s in DONE_STATUSES)
    check_transition("final", "header_ready")  # type: ignore[arg-type]  # plain values work


def test_records_check_their_sizes() -> None:
    with pytest.raises(InvalidRecord):
        Checkpoint(ChainId(1), "s", Height(1), Hash32(b"\x00" * 31))
    with pytest.raises(InvalidRecord):
        Checkpoint(ChainId(1), "s", Height(-1), Hash32(b"\x00" * 32))
    a = Address(b"\x01" * 20)
    leg = SwapLeg(ChainId(1), a, AssetKind.ERC20, a, 2**256 - 1, a, a, 1)
    with pytest.raises(InvalidRecord):
        SwapLeg(ChainId(1), a, AssetKind.ERC20, a, 2**256, a, a, 1)
    with pytest.raises(InvalidRecord):
        SwapLeg(ChainId(1), a, AssetKind.ERC20, a, 1, a, a, 1, lock_tx=TxHash(b"\x00"))
    swap = Swap(Hash32(b"\x02" * 32), Hash32(b"\x03" * 32), a, a, leg, leg)
    with pytest.raises(InvalidRecord):
        Swap(Hash32(b"\x02" * 32), Hash32(b"\x03" * 32), a, a, leg, leg, preimage=b"short")
    # Progress (transactions, state) is not part of the terms.
    progressed = Swap(
        swap.swap_id,
        swap.hashlock,
        a,
        a,
        SwapLeg(
            ChainId(1), a, AssetKind.ERC20, a, 2**256 - 1, a, a, 1, lock_tx=TxHash(b"\x04" * 32)
        ),
        leg,
    )
    assert progressed.terms() == swap.terms() and progressed != swap
