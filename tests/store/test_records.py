"""Attester signatures, light-client trust states, named locks with fencing, the transaction
journal, swaps, and how the store reports a database it cannot use."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

import gateway.store.db
from adapters.rpc.submit import (
    Dropped,
    Failed,
    Fees,
    JournalEntry,
    Mined,
    TxAttempt,
    TxJournal,
)
from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.status import (
    AssetKind,
    InvalidRecord,
    Swap,
    SwapLeg,
    SwapState,
    TxState,
)
from gateway.store import (
    ConflictingSignature,
    LeaseLost,
    NotFound,
    Store,
    StoreError,
    StoreJournal,
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

SENDER = addr(0xAB)


def entry(nonce: int, *, purpose: str = "deliver", data: bytes = b"\x01\x02") -> JournalEntry:
    return JournalEntry(
        chain_id=ChainId(1),
        sender=SENDER,
        nonce=nonce,
        to=addr(0x22),
        value=0,
        data=data,
        purpose=purpose,
        refs=("0x" + "11" * 32, "0x" + "22" * 32),
    )


def attempt(name: str, *, fee: int = 10**9, legacy: bool = False) -> TxAttempt:
    fees = (
        Fees(gas_price=fee)
        if legacy
        else Fees(max_fee_per_gas=fee, max_priority_fee_per_gas=fee // 10)
    )
    return TxAttempt(TxHash(h32(name)), b"raw:" + name.encode(), fees, 300_000, 1_767_225_600.5)


def mined(name: str) -> Mined:
    return Mined(TxHash(h32(name)), Height(900), Hash32(h32("b900")), 210_000, 2**200, 1)


async def test_lock_leases_and_fencing(store: Store, other_store: Store, clock: Clock) -> None:
    name = "signer:1:0x" + "ab" * 20
    a = await store.acquire_lock(name, "a", 30)
    assert a is not None and (a.owner, a.fencing_token) == ("a", 1)
    assert a.lease_until == T0 + timedelta(seconds=30)
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
    with pytest.raises(LeaseLost) as err:
        await store.record_tx_attempt(entry(0), attempt("t0"), fence=renewed)
    assert (err.value.holder, err.value.holder_token) == ("b", 2)
    assert await store.tx(ChainId(1), SENDER, 0) is None
    await other_store.record_tx_attempt(entry(0), attempt("t0"), fence=b)
    with pytest.raises(LeaseLost):
        await store.update_tx(ChainId(1), SENDER, 0, mined("t0"), fence=renewed)
    await other_store.update_tx(ChainId(1), SENDER, 0, mined("t0"), fence=b)

    # Released and taken again: the token moves on, so b's old lease no longer fences.
    assert await other_store.release_lock(name, "b") is True
    assert await other_store.lock(name) is None
    again = await store.acquire_lock(name, "a", 30)
    assert again is not None and again.fencing_token == 3
    with pytest.raises(LeaseLost):
        await other_store.record_tx_attempt(entry(1), attempt("t1"), fence=b)
    assert await other_store.acquire_lock(name, "b", 30) is None
    with pytest.raises(StoreError):
        await store.acquire_lock(name, "a", 0)

    # The store-backed TxJournal fences each signer's writes with its lock.
    fences = {SENDER: b}
    journal = StoreJournal(other_store, fences=fences)
    with pytest.raises(LeaseLost):
        await journal.record_attempt(entry(1), attempt("t1"))
    fences[SENDER] = again
    await journal.record_attempt(entry(1), attempt("t1"))


# --- transactions ------------------------------------------------------------------------------


async def test_transaction_journal(store: Store, clock: Clock) -> None:
    chain = ChainId(1)
    big = 2**200
    first = attempt("t5a", fee=big)
    rec = await store.record_tx_attempt(entry(5), first)
    assert (rec.entry.nonce, rec.state, rec.entry.attempts, rec.outcome) == (
        5,
        TxState.PENDING,
        (first,),
        None,
    )
    assert rec.entry == replace(entry(5), attempts=(first,))
    assert rec.latest.fees.max_fee_per_gas == big and rec.latest.raw == b"raw:t5a"
    # Recording the same attempt again changes nothing.
    assert await store.record_tx_attempt(entry(5), first) == rec

    clock.advance(30)
    bump = attempt("t5b", fee=big + big // 10)
    rec = await store.record_tx_attempt(replace(entry(5), attempts=(first,)), bump)
    assert rec.entry.attempts == (first, bump) and rec.latest == bump
    assert (rec.created_at, rec.updated_at) == (T0, clock.now)
    for other in (entry(5, purpose="attest"), entry(5, data=b"other call")):
        with pytest.raises(TxConflict):
            await store.record_tx_attempt(other, bump)

    legacy = attempt("t6", legacy=True)
    await store.record_tx_attempt(entry(6, purpose="attest"), legacy)
    await store.record_tx_attempt(entry(4), attempt("t4"))
    await store.record_tx_attempt(replace(entry(9), chain_id=ChainId(2)), attempt("c2"))
    await store.record_tx_attempt(replace(entry(9), sender=addr(0xCD)), attempt("cd"))
    assert [r.entry.nonce for r in await store.open_txs(chain, SENDER)] == [4, 5, 6]
    assert await store.last_nonce(chain, SENDER) == 6  # nonce 9 was on other keys
    assert await store.last_nonce(chain, addr(0xEE)) is None

    done = await store.update_tx(chain, SENDER, 5, mined("t5b"))
    assert done.state is TxState.MINED and done.outcome == mined("t5b")
    assert done.entry.attempts == (first, bump)
    with pytest.raises(NotFound):  # closed already
        await store.update_tx(chain, SENDER, 5, mined("t5b"))
    with pytest.raises(TxConflict):  # a mined nonce takes no more attempts
        await store.record_tx_attempt(entry(5), attempt("t5c"))

    # The node refused nonce 4: a new entry uses it again; the refused one is kept.
    refused = await store.update_tx(chain, SENDER, 4, Failed("insufficient funds"))
    assert refused.state is TxState.FAILED and refused.outcome == Failed("insufficient funds")
    again = await store.record_tx_attempt(entry(4, purpose="attest"), attempt("t4b"))
    assert again.state is TxState.PENDING and again.entry.attempts == (attempt("t4b"),)
    assert [r.state for r in await store.txs(chain, SENDER, 4)] == [TxState.FAILED, TxState.PENDING]
    assert await store.tx(chain, SENDER, 4) == again
    # Nonce 6 went to a transaction none of ours.
    dropped = await store.update_tx(chain, SENDER, 6, Dropped("nonce used by 0xabc"))
    assert dropped.outcome == Dropped("nonce used by 0xabc")
    with pytest.raises(TxConflict):
        await store.record_tx_attempt(entry(6, purpose="attest"), legacy)
    assert [r.entry.nonce for r in await store.open_txs(chain, SENDER)] == [4]
    assert await store.tx(chain, SENDER, 99) is None
    with pytest.raises(NotFound):
        await store.update_tx(chain, SENDER, 99, Failed("x"))
    with pytest.raises(ValueOutOfRange):
        await store.record_tx_attempt(entry(2**63), legacy)
    with pytest.raises(ValueOutOfRange):
        await store.record_tx_attempt(entry(7), attempt("t7", fee=2**256))


async def test_journal_survives_reopen(url: str, clock: Clock) -> None:
    """What a writer journaled before a crash is what the next writer resumes from."""
    async with await Store.open(url, clock=clock) as store:
        journal = StoreJournal(store)
        assert isinstance(journal, TxJournal)
        await journal.record_attempt(entry(0), attempt("j0"))
        await journal.record_attempt(entry(1), attempt("j1"))
        await journal.record_attempt(replace(entry(1), attempts=(attempt("j1"),)), attempt("j1b"))
        await journal.record_outcome(ChainId(1), SENDER, 0, mined("j0"))
    async with await Store.open(url, clock=clock) as store:
        journal = StoreJournal(store)
        [open_entry] = await journal.open_entries(ChainId(1), SENDER)
        assert open_entry == replace(entry(1), attempts=(attempt("j1"), attempt("j1b")))
        await journal.record_outcome(ChainId(1), SENDER, 1, Failed("refused"))
        await journal.record_outcome(ChainId(1), SENDER, 1, Failed("refused"))  # repeated: no-op
        assert await journal.open_entries(ChainId(1), SENDER) == []


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


async def test_a_swaps_reason_is_set_kept_and_cleared(store: Store, clock: Clock) -> None:
    """The keeper's reason is progress: written with the state unchanged (compare-and-set on
    it all the same), kept by later writes that do not name it, cleared with None."""
    swap = await store.upsert_swap(_swap())
    assert swap.reason is None
    clock.advance(5)
    reason = "refused: timelocks leave less margin (margin_s=19, required_s=20.0); x"
    noted = await store.set_swap_state(
        swap.swap_id, SwapState.PROPOSED, SwapState.PROPOSED, reason=reason
    )
    assert noted.reason == reason and noted.updated_at == clock.now
    assert await store.swap(swap.swap_id) == noted
    locked = await store.set_swap_state(
        swap.swap_id,
        SwapState.PROPOSED,
        SwapState.INITIATOR_LOCKED,
        initiator_leg_lock_tx=TxHash(h32("lock tx")),
    )
    assert locked.reason == reason
    with pytest.raises(SwapStateMoved):
        await store.set_swap_state(swap.swap_id, SwapState.PROPOSED, SwapState.PROPOSED, reason="y")
    cleared = await store.set_swap_state(
        swap.swap_id, SwapState.INITIATOR_LOCKED, SwapState.INITIATOR_LOCKED, reason=None
    )
    assert cleared.reason is None
    reread = await store.swap(swap.swap_id)
    assert reread is not None and reread.reason is None
    with pytest.raises(InvalidRecord):
        await store.set_swap_state(
            swap.swap_id, SwapState.INITIATOR_LOCKED, SwapState.INITIATOR_LOCKED, reason=" "
        )


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
