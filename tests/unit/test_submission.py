"""Fee bumping arithmetic, the submit policy and the in-memory journal (adapters.rpc.submit)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import BadRequest
from adapters.errors import ConfigError
from adapters.rpc.submit import (
    Dropped,
    Failed,
    Fees,
    InMemoryJournal,
    JournalEntry,
    Mined,
    SubmitPolicy,
    TxAttempt,
    TxJournal,
    bump_fees,
)
from adapters.types import Address, ChainId, Hash32, Height, TxHash

GWEI = 10**9
ALICE, BOB = Address(b"\xaa" * 20), Address(b"\xbb" * 20)
CHAIN = ChainId(31337)


# --- bump arithmetic ---------------------------------------------------------------------------


def test_bump_raises_both_eip1559_fees_by_the_percentage() -> None:
    assert bump_fees(Fees(100 * GWEI, 2 * GWEI), 15) == Fees(115 * GWEI, 2_300_000_000)


def test_bump_rounds_up() -> None:
    # 101 * 1.15 = 116.15 -> 117; 3 * 1.15 = 3.45 -> 4
    assert bump_fees(Fees(101, 3), 15) == Fees(117, 4)
    assert bump_fees(Fees(gas_price=101), 10) == Fees(gas_price=112)  # 111.1 -> 112


def test_bump_raises_a_zero_tip_by_at_least_one_wei() -> None:
    assert bump_fees(Fees(10, 0), 10) == Fees(11, 1)


def test_bump_raises_a_legacy_gas_price() -> None:
    assert bump_fees(Fees(gas_price=20 * GWEI), 25) == Fees(gas_price=25 * GWEI)


def test_bump_below_the_replacement_rule_is_refused() -> None:
    with pytest.raises(BadRequest):
        bump_fees(Fees(100, 1), 9)


def test_bump_past_the_cap_keeps_the_transaction_as_it_is() -> None:
    assert bump_fees(Fees(100, 10), 15, cap=114) is None
    assert bump_fees(Fees(100, 10), 15, cap=115) == Fees(115, 12)
    assert bump_fees(Fees(gas_price=100), 15, cap=114) is None


@given(
    max_fee=st.integers(0, 10**30),
    tip_share=st.integers(0, 100),
    pct=st.integers(10, 300),
)
def test_every_bump_satisfies_the_geth_and_besu_replacement_rule(
    max_fee: int, tip_share: int, pct: int
) -> None:
    tip = max_fee * tip_share // 100
    bumped = bump_fees(Fees(max_fee, tip), pct)
    assert bumped is not None
    assert bumped.max_fee_per_gas is not None and bumped.max_priority_fee_per_gas is not None
    # geth: new >= old * (100 + priceBump) / 100 for both fees; and strictly more
    assert (
        bumped.max_fee_per_gas * 100 >= max_fee * (100 + pct) and bumped.max_fee_per_gas > max_fee
    )
    assert bumped.max_priority_fee_per_gas * 100 >= tip * (100 + pct)
    assert bumped.max_priority_fee_per_gas > tip
    assert bumped.max_priority_fee_per_gas <= bumped.max_fee_per_gas


def test_a_quote_caps_at_the_policy_maximum() -> None:
    assert Fees(300, 50).capped(200) == Fees(200, 50)
    assert Fees(300, 250).capped(200) == Fees(200, 200)
    assert Fees(gas_price=300).capped(None) == Fees(gas_price=300)


def test_fees_at_least_a_fresh_quote_take_the_higher_of_each() -> None:
    assert Fees(115, 2).at_least(Fees(200, 1)) == Fees(200, 2)
    assert Fees(gas_price=5).at_least(Fees(9, 1)) == Fees(gas_price=5)  # other model: unchanged


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_fee_per_gas": 1},
        {"max_fee_per_gas": 1, "max_priority_fee_per_gas": 1, "gas_price": 1},
        {},
        {"gas_price": -1},
    ],
)
def test_fees_are_either_eip1559_or_legacy(kwargs: dict[str, int]) -> None:
    with pytest.raises(BadRequest):
        Fees(**kwargs)


# --- policy ------------------------------------------------------------------------------------


def test_default_policy_bumps_by_15_percent_after_30_seconds_without_a_cap() -> None:
    policy = SubmitPolicy()
    assert (policy.stuck_after_s, policy.fee_bump_pct, policy.max_fee_per_gas) == (30.0, 15, None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fee_bump_pct": 9},
        {"fee_bump_pct": 12.5},
        {"stuck_after_s": 0},
        {"check_interval_s": -1},
        {"max_fee_per_gas": 0},
        {"max_fee_per_gas": True},
    ],
)
def test_unusable_policy_is_a_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SubmitPolicy(**kwargs)  # type: ignore[arg-type]


# --- journal -----------------------------------------------------------------------------------


def _attempt(n: int, fee: int = 10) -> TxAttempt:
    return TxAttempt(TxHash(bytes([n]) * 32), b"\x02raw" + bytes([n]), Fees(fee, 1), 21_000, 0.0)


def _entry(nonce: int, sender: Address = ALICE, purpose: str = "deliver") -> JournalEntry:
    return JournalEntry(CHAIN, sender, nonce, BOB, 1, b"", purpose, ("m1",))


async def test_journal_keeps_every_attempt_of_an_open_entry_in_order() -> None:
    journal = InMemoryJournal()
    await journal.record_attempt(_entry(7), _attempt(1))
    await journal.record_attempt(_entry(7), _attempt(2, fee=12))
    [entry] = await journal.open_entries(CHAIN, ALICE)
    assert entry.nonce == 7
    assert (entry.purpose, entry.refs) == ("deliver", ("m1",))
    assert [a.tx_hash for a in entry.attempts] == [_attempt(1).tx_hash, _attempt(2).tx_hash]
    assert entry.latest.fees == Fees(12, 1)


async def test_journal_lists_only_the_senders_open_entries_by_nonce() -> None:
    journal = InMemoryJournal()
    for nonce in (9, 3, 5):
        await journal.record_attempt(_entry(nonce), _attempt(nonce))
    await journal.record_attempt(_entry(4, sender=BOB), _attempt(4))
    await journal.record_outcome(CHAIN, ALICE, 5, Dropped("taken"))
    assert [e.nonce for e in await journal.open_entries(CHAIN, ALICE)] == [3, 9]
    assert [e.nonce for e in await journal.open_entries(ChainId(1), ALICE)] == []


async def test_journal_outcome_closes_the_entry_and_is_kept() -> None:
    journal = InMemoryJournal()
    await journal.record_attempt(_entry(1), _attempt(1))
    assert journal.outcome(CHAIN, ALICE, 1) is None
    mined = Mined(_attempt(1).tx_hash, Height(5), Hash32(b"\x05" * 32), 21_000, 10, 1)
    await journal.record_outcome(CHAIN, ALICE, 1, mined)
    assert journal.outcome(CHAIN, ALICE, 1) == mined
    entry = journal.entry(CHAIN, ALICE, 1)
    assert entry is not None and len(entry.attempts) == 1
    assert await journal.open_entries(CHAIN, ALICE) == []


async def test_journal_opens_a_new_entry_when_a_refused_nonce_is_used_again() -> None:
    journal = InMemoryJournal()
    await journal.record_attempt(_entry(1, purpose="first"), _attempt(1))
    await journal.record_outcome(CHAIN, ALICE, 1, Failed("node rejected the transaction"))
    await journal.record_attempt(_entry(1, purpose="second"), _attempt(2))
    [entry] = await journal.open_entries(CHAIN, ALICE)
    assert entry.purpose == "second"
    assert [a.tx_hash for a in entry.attempts] == [_attempt(2).tx_hash]


def test_in_memory_journal_is_a_tx_journal() -> None:
    assert isinstance(InMemoryJournal(), TxJournal)
