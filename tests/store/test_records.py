"""Attester signatures, light-client trust states, named locks with fencing, the transaction
journal, swaps, and how the store reports a database it cannot use."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

import gateway.store.db
from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.status import (
    AssetKind,
    Swap,
    SwapLeg,
    SwapState,
    TxAttempt,
    TxRefs,
    TxState,
)
from gateway.store import (
    ConflictingSignature,
    LeaseLost,
    NotFound,
    Store,
    StoreError,
    StoreUnavailable,
    SwapConflict,
    SwapStateMoved,
    TxConflict,
    ValueOutOfRange,
)
from tests.store.conftest import STREAM, T0, Clock, addr, checkpoint, h32

STORE_CHAIN, SRC_CHAIN = ChainId(10), ChainId(20)


# --- attester signatures -----------------------------------------------------------------------


async def test_one_signed_header_per_height_across_reopen(url: str, clock: Clock) -> None:
    header, digest, sig = Hash32(h32("h", 100)), Hash32(h32("d", 100)), b"\x01" * 65
    me, other = addr(0xA1), addr(0xA2)
    async with await Store.open(url, clock=clock) as store:
        first = await store.record_signature(
            STORE_CHAIN, SRC_CHAIN, Height(100), header, digest, sig, attester=me
        )
        assert (first.block_hash, first.signature, first.signed_at) == (header, sig, T0)
        assert (first.attester, first.number, first.submitted_tx_hash) == (me, 100, None)
        # The same header again (a retry after a crash) returns what was signed first.
        clock.advance(5)
        again = await store.record_signature(
            STORE_CHAIN, SRC_CHAIN, Height(100), header, digest, b"\x02" * 65, attester=me
        )
        assert again == first

    async with await Store.open(url, clock=clock) as store:
        fork, fork_digest = Hash32(h32("fork")), Hash32(h32("fd"))
        with pytest.raises(ConflictingSignature) as err:
            await store.record_signature(
                STORE_CHAIN, SRC_CHAIN, Height(100), fork, fork_digest, sig, attester=me
            )
        assert err.value.signed_hash == header and err.value.retryable is False
        with pytest.raises(ConflictingSignature):  # same header, another digest (domain)
            await store.record_signature(
                STORE_CHAIN, SRC_CHAIN, Height(100), header, Hash32(h32("d2")), sig, attester=me
            )
        assert await store.signature(STORE_CHAIN, SRC_CHAIN, Height(100), attester=me) == first
        assert (
            await store.record_signature(
                STORE_CHAIN, SRC_CHAIN, Height(100), header, digest, sig, attester=me
            )
            == first
        )
        # Other attesters, heights, source chains and stores are separate.
        for store_chain, src_chain, who, height in (
            (STORE_CHAIN, SRC_CHAIN, other, 100),
            (STORE_CHAIN, SRC_CHAIN, me, 101),
            (STORE_CHAIN, ChainId(21), me, 100),
            (ChainId(11), SRC_CHAIN, me, 100),
        ):
            rec = await store.record_signature(
                store_chain, src_chain, Height(height), fork, fork_digest, sig, attester=who
            )
            assert (rec.block_hash, rec.attester) == (fork, who)
        assert await store.signature(STORE_CHAIN, SRC_CHAIN, Height(100), attester=me) == first

        sent = TxHash(h32("attest tx"))
        marked = await store.mark_signature_submitted(
            STORE_CHAIN, SRC_CHAIN, Height(100), sent, attester=me
        )
        assert marked.submitted_tx_hash == sent and marked.block_hash == header
        with pytest.raises(NotFound):
            await store.mark_signature_submitted(
                STORE_CHAIN, SRC_CHAIN, Height(999), sent, attester=me
            )
        assert await store.signature(STORE_CHAIN, SRC_CHAIN, Height(999), attester=me) is None
        with pytest.raises(StoreError):
            await store.record_signature(
                STORE_CHAIN, SRC_CHAIN, Height(1), header, digest, sig, attester=Address(b"\x01")
            )


# --- trust states ------------------------------------------------------------------------------


async def test_trust_state_survives_reopen(url: str, clock: Clock) -> None:
    state = {
        "trusted_set": ["0x" + "aa" * 20, "0x" + "bb" * 20],
        "latest_header": {"number": 1234, "hash": "0x" + "cd" * 32, "rlp": "0x" + "ee" * 500},
        "finalized_floor": 1200,
    }
    async with await Store.open(url, clock=clock) as store:
        assert await store.load_trust_state(ChainId(1)) is None
        saved = await store.save_trust_state(ChainId(1), "qbft", state)
        assert dict(saved.state) == state and saved.updated_at == T0
        await store.save_trust_state(ChainId(2), "attested", {"latest": 5})
        with pytest.raises(StoreError):
            await store.save_trust_state(ChainId(1), "qbft", {"raw": b"bytes are not JSON"})
    clock.advance(60)
    async with await Store.open(url, clock=clock) as store:
        loaded = await store.load_trust_state(ChainId(1))
        assert loaded == saved and dict(loaded.state) == state
        newer = {**state, "finalized_floor": 1300}
        await store.save_trust_state(ChainId(1), "qbft", newer)
        loaded = await store.load_trust_state(ChainId(1))
        assert loaded is not None and loaded.state["finalized_floor"] == 1300
        assert loaded.updated_at == T0 + timedelta(seconds=60) and loaded.kind == "qbft"
        other = await store.load_trust_state(ChainId(2))
        assert other is not None and dict(other.state) == {"latest": 5}


# --- locks -------------------------------------------------------------------------------------


async def test_lock_leases_and_fencing(store: Store, other_store: Store, clock: Clock) -> None:
    name = "signer:1:0x" + "ab" * 20
    a = await store.acquire_lock(name, "a", 30)
    assert a is not None and (a.owner, a.fencing_token, a.lease_until) == (
        "a",
        1,
        T0 + timedelta(seconds=30),
    )
    assert await other_store.acquire_lock(name, "b", 30) is None
    assert await other_store.lock(name) == a
    assert await store.lock("no such lock") is None

    clock.advance(20)
    renewed = await store.acquire_lock(name, "a", 30)  # renewing keeps the token
    assert renewed is not None and renewed.fencing_token == 1
    clock.advance(20)  # t = 40: still a's (runs to 50)
    assert await other_store.acquire_lock(name, "b", 30) is None
    clock.advance(10)  # t = 50: expired, b takes it over with a higher token
    b = await other_store.acquire_lock(name, "b", 30)
    assert b is not None and b.fencing_token == 2
    assert await store.acquire_lock(name, "a", 30) is None
    assert await store.release_lock(name, "a") is False

    # Work fenced with a's old lease is refused, b's goes through.
    attempt = TxAttempt(TxHash(h32("t0")), 21_000, clock.now, 10**9, 10**8)
    sender = Address(bytes.fromhex("ab" * 20))
    with pytest.raises(LeaseLost) as err:
        await store.record_tx_attempt(
            ChainId(1), sender, 0, attempt, b"raw", "deliver", fence=renewed
        )
    assert (err.value.holder, err.value.holder_token) == ("b", 2)
    assert await store.tx(ChainId(1), sender, 0) is None
    await other_store.record_tx_attempt(ChainId(1), sender, 0, attempt, b"raw", "deliver", fence=b)
    with pytest.raises(LeaseLost):
        await store.update_tx(ChainId(1), sender, 0, TxState.MINED, fence=renewed)
    await other_store.update_tx(ChainId(1), sender, 0, TxState.MINED, fence=b)

    # Released and taken again: the token moves on, so b's old lease no longer fences.
    assert await other_store.release_lock(name, "b") is True
    assert await other_store.lock(name) is None
    again = await store.acquire_lock(name, "a", 30)
    assert again is not None and again.fencing_token == 3
    with pytest.raises(LeaseLost):
        await other_store.update_tx(ChainId(1), sender, 0, TxState.MINED, fence=b)
    b_again = await other_store.acquire_lock(name, "b", 30)
    assert b_again is None
    with pytest.raises(StoreError):
        await store.acquire_lock(name, "a", 0)


# --- transactions ------------------------------------------------------------------------------


async def test_transaction_journal(store: Store, clock: Clock) -> None:
    chain, sender = ChainId(1), addr(0xAB)
    refs = TxRefs(message_ids=(h32("m1"), h32("m2")), height=Height(77))  # type: ignore[arg-type]
    big = 2**200
    first = TxAttempt(
        TxHash(h32("t5a")), 300_000, T0, max_fee_per_gas=big, max_priority_fee_per_gas=2
    )
    rec = await store.record_tx_attempt(chain, sender, 5, first, b"raw-a", "deliver", refs)
    assert (rec.nonce, rec.state, rec.attempts, rec.raw, rec.refs) == (
        5,
        TxState.PENDING,
        (first,),
        b"raw-a",
        refs,
    )
    assert rec.latest.max_fee_per_gas == big and rec.mined_tx_hash is None
    # Recording the same attempt again changes nothing.
    assert await store.record_tx_attempt(chain, sender, 5, first, b"raw-a", "deliver", refs) == rec

    clock.advance(30)
    bump = TxAttempt(
        TxHash(h32("t5b")),
        300_000,
        clock.now,
        max_fee_per_gas=big + big // 10,
        max_priority_fee_per_gas=3,
    )
    rec = await store.record_tx_attempt(chain, sender, 5, bump, b"raw-b", "deliver", refs)
    assert rec.attempts == (first, bump) and rec.latest == bump and rec.raw == b"raw-b"
    assert (rec.created_at, rec.updated_at) == (T0, clock.now)
    with pytest.raises(TxConflict):
        await store.record_tx_attempt(chain, sender, 5, bump, b"raw-b", "attest", refs)
    with pytest.raises(TxConflict):
        await store.record_tx_attempt(chain, sender, 5, bump, b"raw-b", "deliver", TxRefs())

    legacy = TxAttempt(TxHash(h32("t6")), 50_000, clock.now, gas_price=7)
    await store.record_tx_attempt(
        chain, sender, 6, legacy, b"raw-6", "attest", TxRefs(height=Height(3))
    )
    await store.record_tx_attempt(chain, sender, 4, legacy, b"raw-4", "attest")
    await store.record_tx_attempt(ChainId(2), sender, 9, legacy, b"raw", "attest")
    await store.record_tx_attempt(chain, addr(0xCD), 9, legacy, b"raw", "attest")
    assert [t.nonce for t in await store.open_txs(chain, sender)] == [4, 5, 6]
    assert await store.last_nonce(chain, sender) == 6
    assert await store.last_nonce(chain, addr(0xEE)) is None

    mined = await store.update_tx(
        chain, sender, 5, TxState.MINED, mined_tx_hash=bump.tx_hash, block_number=Height(900),
        gas_used=210_000, effective_gas_price=big,
    )  # fmt: skip
    assert (mined.state, mined.mined_tx_hash, mined.block_number, mined.gas_used) == (
        TxState.MINED,
        bump.tx_hash,
        900,
        210_000,
    )
    assert mined.effective_gas_price == big and mined.attempts == (first, bump)
    await store.update_tx(chain, sender, 4, TxState.DROPPED)
    assert [t.nonce for t in await store.open_txs(chain, sender)] == [6]
    with pytest.raises(TxConflict):  # a mined nonce takes no more attempts
        await store.record_tx_attempt(chain, sender, 5, legacy, b"raw", "deliver", refs)
    # A dropped nonce is free again for the same work.
    again = await store.record_tx_attempt(
        chain, sender, 4, TxAttempt(TxHash(h32("t4b")), 1, clock.now), b"r", "attest"
    )
    assert again.state is TxState.PENDING and len(again.attempts) == 2
    assert await store.tx(chain, sender, 5) == mined
    assert await store.tx(chain, sender, 99) is None
    with pytest.raises(NotFound):
        await store.update_tx(chain, sender, 99, TxState.MINED)
    with pytest.raises(ValueOutOfRange):
        await store.record_tx_attempt(chain, sender, 2**63, legacy, b"raw", "attest")
    with pytest.raises(ValueOutOfRange):
        await store.update_tx(chain, sender, 6, TxState.MINED, effective_gas_price=2**256)


# --- swaps -------------------------------------------------------------------------------------


def _swap(n: int = 1, *, value: int = 2**256 - 1) -> Swap:
    def leg(chain: int, claimer: int, refunder: int, kind: AssetKind) -> SwapLeg:
        return SwapLeg(
            ChainId(chain),
            addr(0x50 + chain),
            kind,
            addr(0x60),
            value,
            addr(claimer),
            addr(refunder),
            1_800_000_000 + chain,
        )

    return Swap(
        swap_id=Hash32(h32("swap", n)),
        hashlock=Hash32(h32("lock", n)),
        initiator=addr(1),
        participant=addr(2),
        initiator_leg=leg(1, 2, 1, AssetKind.ERC721),
        participant_leg=leg(2, 1, 2, AssetKind.ERC20),
    )


async def test_swaps(store: Store, clock: Clock) -> None:
    swap = _swap()
    stored = await store.upsert_swap(swap)
    assert stored == swap and stored.created_at == T0 and stored.state is SwapState.PROPOSED
    assert await store.swap(swap.swap_id) == swap
    # Same terms again: the stored record. Other terms under the same id: refused.
    assert await store.upsert_swap(swap) == swap
    with pytest.raises(SwapConflict):
        await store.upsert_swap(_swap(value=5))  # the same id, another amount

    clock.advance(10)
    lock_tx = TxHash(h32("lock tx"))
    locked = await store.set_swap_state(
        swap.swap_id, SwapState.PROPOSED, SwapState.INITIATOR_LOCKED, initiator_leg_lock_tx=lock_tx
    )
    assert locked.initiator_leg.lock_tx == lock_tx and locked.updated_at == clock.now
    with pytest.raises(SwapStateMoved) as err:
        await store.set_swap_state(swap.swap_id, SwapState.PROPOSED, SwapState.EXPIRED)
    assert err.value.retryable is True
    with pytest.raises(StoreError):
        await store.set_swap_state(
            swap.swap_id, SwapState.INITIATOR_LOCKED, SwapState.BOTH_LOCKED, state="x"
        )
    with pytest.raises(NotFound):
        await store.set_swap_state(Hash32(h32("none")), SwapState.PROPOSED, SwapState.EXPIRED)
    preimage = h32("secret")
    await store.set_swap_state(
        swap.swap_id,
        SwapState.INITIATOR_LOCKED,
        SwapState.BOTH_LOCKED,
        claim_signature=b"\x07" * 65,
        claim_destination=addr(9),
        refund_authorised=True,
    )
    claimed = await store.set_swap_state(
        swap.swap_id,
        SwapState.BOTH_LOCKED,
        SwapState.INITIATOR_CLAIMED,
        preimage=preimage,
        participant_leg_claim_tx=TxHash(h32("claim")),
    )
    reread = await store.swap(swap.swap_id)
    assert reread == claimed and reread is not None
    assert (reread.preimage, reread.claim_destination, reread.refund_authorised) == (
        preimage,
        addr(9),
        True,
    )
    assert reread.initiator_leg.value == 2**256 - 1 and reread.initiator_leg.lock_tx == lock_tx
    assert reread.created_at == T0

    other = await store.upsert_swap(_swap(2))
    assert [
        s.swap_id for s in await store.swaps_in([SwapState.PROPOSED, SwapState.INITIATOR_CLAIMED])
    ] == [swap.swap_id, other.swap_id]
    assert await store.swaps_in([SwapState.REFUNDED]) == []
    assert await store.swap(Hash32(h32("none"))) is None


# --- errors ------------------------------------------------------------------------------------


async def test_values_out_of_range_are_refused(store: Store) -> None:
    with pytest.raises(ValueOutOfRange):
        await store.record_scan(ChainId(2**63), STREAM, None, checkpoint(1, chain=2**63), [])
    with pytest.raises(ValueOutOfRange):
        await store.record_signature(
            STORE_CHAIN, SRC_CHAIN, Height(2**63), Hash32(h32(1)), Hash32(h32(2)), b"",
            attester=addr(1),
        )  # fmt: skip
    with pytest.raises(StoreError):
        await store.claim_messages(
            "x" * 201, dst_chain_id=ChainId(1), statuses=[], limit=1, lease_s=1
        )


async def test_unavailable_database_is_retryable(
    url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that cannot be reached (PostgreSQL) or stays locked past the busy timeout
    (SQLite) is StoreUnavailable, retryable; once it is back the same call succeeds."""
    if url.startswith("postgresql"):
        down = make_url(url).set(port=1).render_as_string(hide_password=False)
        with pytest.raises(StoreUnavailable) as err:
            await Store.open(down)
        assert err.value.retryable is True
        async with await Store.open(url, clock=clock) as store:
            await store.acquire_lock("x", "a", 10)
        return

    monkeypatch.setattr(gateway.store.db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    async with await Store.open(url, clock=clock) as store:
        path = make_url(url).database
        assert path is not None
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StoreUnavailable) as err:
                await store.acquire_lock("x", "a", 10)
            assert err.value.retryable is True
            assert await store.lock("x") is None  # readers are not blocked (WAL)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await store.acquire_lock("x", "a", 10) is not None
