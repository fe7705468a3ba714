"""HtlcNative on both chains: lock, claim, refund, and every attacker path (reverts on chain
with a custom error and changes nothing)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import Web3Exception

from harness import Chain
from tests.contracts._htlc_helpers import (
    HOUR,
    ZERO,
    Env,
    address,
    eth_balance,
    eth_spent,
    logs,
    new_secret,
    rejects,
    swap_key,
)

ALICE, BOB, KEEPER, MALLORY = 0, 1, 2, 3
AMOUNT = 10**15


@pytest.fixture(scope="module")
def _envs() -> dict[str, Env]:
    return {}


@pytest.fixture
def env(chain: Chain, _envs: dict[str, Env]) -> Env:
    """One HtlcNative per chain for the module; every test uses fresh secrets."""
    if chain.name not in _envs:
        _envs[chain.name] = Env(chain, chain.deploy("HtlcNative"), "HtlcNative")
    return _envs[chain.name]


def _lock(env: Env, amount: int = AMOUNT, ttl: int = HOUR) -> tuple[bytes, bytes, int, bytes]:
    """alice locks `amount` for bob; returns (preimage, hashlock, timelock, key)."""
    preimage, hashlock = new_secret()
    timelock = env.chain.now() + ttl
    bob = address(env.chain, BOB)
    env.chain.send(env.htlc.functions.lock(hashlock, bob, timelock), sender=ALICE, value=amount)
    key = swap_key(hashlock, amount, ZERO, bob, address(env.chain, ALICE), timelock)
    return preimage, hashlock, timelock, key


def _balance(env: Env, who: int | str) -> int:
    return eth_balance(env.chain, address(env.chain, who) if isinstance(who, int) else who)


def _state(env: Env, key: bytes) -> tuple[bool, int]:
    """What an attacker would like to change: the swap and the escrow (every payout leaves it;
    the senders' own balances move by their gas)."""
    return env.is_open(key), _balance(env, env.htlc.address)


# -- the helper agrees with the contract ---------------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hashlock=st.binary(min_size=32, max_size=32),
    value=st.integers(min_value=0, max_value=2**256 - 1),
    token=st.binary(min_size=20, max_size=20),
    claimer=st.binary(min_size=20, max_size=20),
    refunder=st.binary(min_size=20, max_size=20),
    timelock=st.integers(min_value=0, max_value=2**256 - 1),
)
def test_python_swap_key_equals_the_contracts_view(
    env: Env,
    hashlock: bytes,
    value: int,
    token: bytes,
    claimer: bytes,
    refunder: bytes,
    timelock: int,
) -> None:
    args = [hashlock, value]
    addrs = ["0x" + a.hex() for a in (token, claimer, refunder)]
    token_a, claimer_a, refunder_a = (to_checksum_address(a) for a in addrs)
    expected = swap_key(hashlock, value, token_a, claimer_a, refunder_a, timelock)
    assert env.key(*args, token_a, claimer_a, refunder_a, timelock) == expected


# -- happy paths ---------------------------------------------------------------------------------


def test_lock_opens_the_swap_escrows_the_value_and_logs_every_parameter(env: Env) -> None:
    chain = env.chain
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    bob, alice = address(chain, BOB), address(chain, ALICE)
    escrow = _balance(env, env.htlc.address)
    receipt = chain.send(env.htlc.functions.lock(hashlock, bob, timelock), value=AMOUNT)
    key = swap_key(hashlock, AMOUNT, ZERO, bob, alice, timelock)
    assert env.is_open(key)
    assert _balance(env, env.htlc.address) == escrow + AMOUNT
    assert logs(env.htlc, "Locked", receipt) == [
        {
            "hashlock": hashlock,
            "claimer": bob,
            "refunder": alice,
            "amount": AMOUNT,
            "timelock": timelock,
        }
    ]


def test_claim_pays_the_claimer_reveals_the_preimage_and_deletes_the_swap(env: Env) -> None:
    preimage, hashlock, timelock, key = _lock(env)
    before = _balance(env, BOB)
    receipt = env.chain.send(
        env.htlc.functions.claim(preimage, AMOUNT, address(env.chain, ALICE), timelock),
        sender=BOB,
    )
    assert _balance(env, BOB) == before + AMOUNT - eth_spent(receipt)
    assert not env.is_open(key)
    assert logs(env.htlc, "Claimed", receipt) == [{"hashlock": hashlock, "preimage": preimage}]


def test_refund_from_the_timelock_on_returns_the_value_to_the_refunder(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env, ttl=60)
    env.chain.advance_time(61)
    before = _balance(env, ALICE)
    bob = address(env.chain, BOB)
    receipt = env.chain.send(env.htlc.functions.refund(hashlock, AMOUNT, bob, timelock))
    assert _balance(env, ALICE) == before + AMOUNT - eth_spent(receipt)
    assert not env.is_open(key)
    assert logs(env.htlc, "Refunded", receipt) == [{"hashlock": hashlock}]


def test_lock_for_names_a_refunder_other_than_the_payer(env: Env) -> None:
    chain = env.chain
    _, hashlock = new_secret()
    timelock = chain.now() + 60
    bob, keeper = address(chain, BOB), address(chain, KEEPER)
    chain.send(env.htlc.functions.lockFor(hashlock, bob, keeper, timelock), value=AMOUNT)
    key = swap_key(hashlock, AMOUNT, ZERO, bob, keeper, timelock)
    assert env.is_open(key)
    chain.advance_time(61)
    # The payer is not the refunder: only the named refunder gets the value back.
    refund = env.htlc.functions.refund(hashlock, AMOUNT, bob, timelock)
    rejects(chain, refund, "SwapNotFound", lambda: _state(env, key), sender=ALICE)
    before = _balance(env, KEEPER)
    receipt = chain.send(refund, sender=KEEPER)
    assert _balance(env, KEEPER) == before + AMOUNT - eth_spent(receipt)


def test_a_contract_claimer_is_paid_with_call_and_cannot_reenter_for_a_second_payout(
    env: Env,
) -> None:
    chain = env.chain
    wallet = chain.deploy("HtlcReentrantClaimer", env.htlc.address)
    preimage, hashlock = new_secret()
    timelock = chain.now() + HOUR
    chain.send(env.htlc.functions.lock(hashlock, wallet.address, timelock), value=AMOUNT)
    escrow = _balance(env, env.htlc.address)
    chain.send(wallet.functions.claim(preimage, AMOUNT, address(chain, ALICE), timelock))
    # receive() used far more than 2,300 gas (storage writes and a nested call): paid once.
    assert wallet.functions.received().call() == AMOUNT
    assert wallet.functions.reentries().call() == 1
    assert bytes(wallet.functions.reentryError().call())[:4] == _selector("SwapNotFound(bytes32)")
    assert _balance(env, env.htlc.address) == escrow - AMOUNT


def test_a_recipient_that_refuses_payment_fails_the_claim_and_keeps_the_swap_open(env: Env) -> None:
    chain = env.chain
    wallet = chain.deploy("HtlcReentrantClaimer", env.htlc.address)
    chain.send(wallet.functions.setRefuse(True))
    preimage, hashlock = new_secret()
    timelock = chain.now() + HOUR
    alice = address(chain, ALICE)
    chain.send(env.htlc.functions.lock(hashlock, wallet.address, timelock), value=AMOUNT)
    key = swap_key(hashlock, AMOUNT, ZERO, wallet.address, alice, timelock)
    call = wallet.functions.claim(preimage, AMOUNT, alice, timelock)
    rejects(chain, call, "TransferFailed", lambda: _state(env, key))
    assert env.is_open(key)


# -- attacker paths ------------------------------------------------------------------------------


def test_lock_with_a_timelock_not_in_the_future_is_refused(env: Env) -> None:
    chain = env.chain
    _, hashlock = new_secret()
    bob = address(chain, BOB)
    for timelock in (chain.now() - 1, 0):
        call = env.htlc.functions.lock(hashlock, bob, timelock)
        escrow = lambda: _balance(env, env.htlc.address)  # noqa: E731
        rejects(chain, call, "TimelockNotInFuture", escrow, value=AMOUNT)


def test_lock_of_zero_value_is_refused(env: Env) -> None:
    _, hashlock = new_secret()
    call = env.htlc.functions.lock(hashlock, address(env.chain, BOB), env.chain.now() + HOUR)
    rejects(env.chain, call, "ZeroAmount", lambda: _balance(env, env.htlc.address))


def test_a_second_lock_with_identical_parameters_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env)
    call = env.htlc.functions.lock(hashlock, address(env.chain, BOB), timelock)
    rejects(env.chain, call, "SwapExists", lambda: _state(env, key), value=AMOUNT)


def test_claim_with_a_wrong_preimage_is_refused(env: Env) -> None:
    preimage, _, timelock, key = _lock(env)
    alice = address(env.chain, ALICE)
    wrong = bytes([preimage[0] ^ 1]) + preimage[1:]
    call = env.htlc.functions.claim(wrong, AMOUNT, alice, timelock)
    rejects(env.chain, call, "SwapNotFound", lambda: _state(env, key), sender=BOB)


def test_no_preimage_shorter_than_32_bytes_can_claim(env: Env) -> None:
    """A 31-byte secret (the preimage-size attack, htlc.md §5.4) cannot open a sha256 lock."""
    chain = env.chain
    short = os.urandom(31)
    hashlock = hashlib.sha256(short).digest()
    timelock = chain.now() + HOUR
    bob, alice = address(chain, BOB), address(chain, ALICE)
    chain.send(env.htlc.functions.lock(hashlock, bob, timelock), value=AMOUNT)
    key = swap_key(hashlock, AMOUNT, ZERO, bob, alice, timelock)
    # bytes32 is exactly 32 bytes: the secret padded either way is another preimage.
    for padded in (short + b"\0", b"\0" + short):
        call = env.htlc.functions.claim(padded, AMOUNT, alice, timelock)
        rejects(chain, call, "SwapNotFound", lambda: _state(env, key), sender=BOB)
    # Calldata that stops one byte short of the ABI's four words does not pass the decoder.
    selector = _selector("claim(bytes32,uint256,address,uint256)")
    data = selector + encode(
        ["bytes32", "uint256", "address", "uint256"], [short + b"\0", AMOUNT, alice, timelock]
    )
    before = _state(env, key)
    tx: Any = {"to": env.htlc.address, "data": data[:-1], "from": address(chain, BOB)}
    with pytest.raises(Web3Exception):
        chain.w3.eth.call(tx)
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        chain.w3.eth.send_raw_transaction(_signed(chain, BOB, env.htlc.address, data[:-1])),
        timeout=60,
        poll_latency=0.05,
    )
    assert receipt["status"] == 0
    assert _state(env, key) == before


def test_claim_by_anyone_but_the_claimer_is_refused(env: Env) -> None:
    preimage, _, timelock, key = _lock(env)
    call = env.htlc.functions.claim(preimage, AMOUNT, address(env.chain, ALICE), timelock)
    for sender in (MALLORY, ALICE, KEEPER):
        rejects(env.chain, call, "SwapNotFound", lambda: _state(env, key), sender=sender)


def test_claim_after_the_timelock_is_refused(env: Env) -> None:
    preimage, _, timelock, key = _lock(env, ttl=30)
    env.chain.advance_time(31)
    call = env.htlc.functions.claim(preimage, AMOUNT, address(env.chain, ALICE), timelock)
    rejects(env.chain, call, "SwapExpired", lambda: _state(env, key), sender=BOB)


def test_refund_before_the_timelock_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env)
    call = env.htlc.functions.refund(hashlock, AMOUNT, address(env.chain, BOB), timelock)
    rejects(env.chain, call, "SwapNotExpired", lambda: _state(env, key), sender=ALICE)


def test_refund_by_anyone_but_the_refunder_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env, ttl=30)
    env.chain.advance_time(31)
    call = env.htlc.functions.refund(hashlock, AMOUNT, address(env.chain, BOB), timelock)
    for sender in (MALLORY, BOB):
        rejects(env.chain, call, "SwapNotFound", lambda: _state(env, key), sender=sender)


def test_double_claim_and_refund_after_claim_are_refused(env: Env) -> None:
    preimage, hashlock, timelock, key = _lock(env)
    alice, bob = address(env.chain, ALICE), address(env.chain, BOB)
    claim = env.htlc.functions.claim(preimage, AMOUNT, alice, timelock)
    env.chain.send(claim, sender=BOB)
    rejects(env.chain, claim, "SwapNotFound", lambda: _state(env, key), sender=BOB)
    env.chain.advance_time(HOUR + 1)
    refund = env.htlc.functions.refund(hashlock, AMOUNT, bob, timelock)
    rejects(env.chain, refund, "SwapNotFound", lambda: _state(env, key), sender=ALICE)


def test_double_refund_and_claim_after_refund_are_refused(env: Env) -> None:
    preimage, hashlock, timelock, key = _lock(env, ttl=30)
    alice, bob = address(env.chain, ALICE), address(env.chain, BOB)
    env.chain.advance_time(31)
    refund = env.htlc.functions.refund(hashlock, AMOUNT, bob, timelock)
    env.chain.send(refund, sender=ALICE)
    rejects(env.chain, refund, "SwapNotFound", lambda: _state(env, key), sender=ALICE)
    claim = env.htlc.functions.claim(preimage, AMOUNT, alice, timelock)
    rejects(env.chain, claim, "SwapExpired", lambda: _state(env, key), sender=BOB)


def test_windows_are_disjoint_at_the_timelock_second(anvil_chain: Chain) -> None:
    """At block.timestamp == timelock the claim is already closed and the refund already open."""
    chain = anvil_chain
    env = Env(chain, chain.deploy("HtlcNative"), "HtlcNative")
    preimage, _, timelock, key = _lock(env, ttl=HOUR)
    alice, bob = address(chain, ALICE), address(chain, BOB)
    chain.rpc("evm_setNextBlockTimestamp", timelock)
    claim = chain.send_unchecked(env.htlc.functions.claim(preimage, AMOUNT, alice, timelock), BOB)
    assert claim["status"] == 0
    assert chain.w3.eth.get_block(claim["blockNumber"])["timestamp"] == timelock
    assert env.is_open(key)
    _, hashlock2, timelock2, key2 = _lock(env, ttl=HOUR)
    chain.rpc("evm_setNextBlockTimestamp", timelock2)
    refund = chain.send_unchecked(env.htlc.functions.refund(hashlock2, AMOUNT, bob, timelock2))
    assert refund["status"] == 1
    assert chain.w3.eth.get_block(refund["blockNumber"])["timestamp"] == timelock2
    assert not env.is_open(key2)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flip=st.integers(min_value=0, max_value=255),
    sender=st.sampled_from([ALICE, KEEPER, MALLORY, 4, 5]),
    amount_delta=st.sampled_from([0, 1, -1]),
)
def test_property_random_wrong_preimages_parties_and_amounts_never_claim(
    env: Env, flip: int, sender: int, amount_delta: int
) -> None:
    preimage, _, timelock, key = _lock(env)
    wrong = bytearray(preimage)
    wrong[flip % 32] ^= 1 + flip % 255  # always changes the byte
    alice = address(env.chain, ALICE)
    # Wrong preimage from the right claimer, right preimage from the wrong party.
    attempts = [
        (env.htlc.functions.claim(bytes(wrong), AMOUNT, alice, timelock), BOB),
        (env.htlc.functions.claim(preimage, AMOUNT + amount_delta, alice, timelock), sender),
    ]
    for call, who in attempts:
        env.chain.expect_revert(call, "SwapNotFound", sender=who)
    assert env.is_open(key)


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _signed(chain: Chain, sender: int, to: str, data: bytes) -> bytes:
    account = chain.accounts[sender]
    base = int(chain.w3.eth.get_block("latest")["baseFeePerGas"])
    tx: Any = {
        "to": to,
        "data": data,
        "value": 0,
        "gas": 200_000,
        "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": chain.chain_id,
        "maxPriorityFeePerGas": 1,
        "maxFeePerGas": 2 * base + 1,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


def test_lock_for_with_a_zero_refunder_is_refused(env: Env) -> None:
    _, hashlock = new_secret()
    call = env.htlc.functions.lockFor(
        hashlock, address(env.chain, BOB), ZERO, env.chain.now() + HOUR
    )
    rejects(env.chain, call, "ZeroRefunder", lambda: _balance(env, env.htlc.address), value=AMOUNT)


# -- refundFor: anyone refunds to the refunder after the timelock -------------------------------


def test_refund_for_by_a_stranger_pays_the_refunder_after_the_timelock(env: Env) -> None:
    chain = env.chain
    _, hashlock, timelock, key = _lock(env, ttl=30)
    chain.advance_time(31)
    bob = address(chain, BOB)
    alice_before, mallory_before = _balance(env, ALICE), _balance(env, MALLORY)
    escrow = _balance(env, env.htlc.address)
    call = env.htlc.functions.refundFor(hashlock, AMOUNT, bob, address(chain, ALICE), timelock)
    receipt = chain.send(call, sender=MALLORY)
    # The refunder gets the value without sending anything; the caller only pays gas.
    assert _balance(env, ALICE) == alice_before + AMOUNT
    assert _balance(env, MALLORY) == mallory_before - eth_spent(receipt)
    assert _balance(env, env.htlc.address) == escrow - AMOUNT
    assert not env.is_open(key)
    assert logs(env.htlc, "Refunded", receipt) == [{"hashlock": hashlock}]
    # The refunder's own refund finds nothing left.
    refund = env.htlc.functions.refund(hashlock, AMOUNT, bob, timelock)
    rejects(chain, refund, "SwapNotFound", lambda: _state(env, key), sender=ALICE)


def test_refund_for_before_the_timelock_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env)
    chain = env.chain
    call = env.htlc.functions.refundFor(
        hashlock, AMOUNT, address(chain, BOB), address(chain, ALICE), timelock
    )
    for sender in (MALLORY, ALICE):
        rejects(chain, call, "SwapNotExpired", lambda: _state(env, key), sender=sender)


def test_refund_for_after_a_claim_is_refused(env: Env) -> None:
    preimage, hashlock, timelock, key = _lock(env, ttl=30)
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    chain.send(env.htlc.functions.claim(preimage, AMOUNT, alice, timelock), sender=BOB)
    chain.advance_time(31)
    call = env.htlc.functions.refundFor(hashlock, AMOUNT, bob, alice, timelock)
    rejects(chain, call, "SwapNotFound", lambda: _state(env, key), sender=MALLORY)


def test_refund_for_twice_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env, ttl=30)
    chain = env.chain
    chain.advance_time(31)
    call = env.htlc.functions.refundFor(
        hashlock, AMOUNT, address(chain, BOB), address(chain, ALICE), timelock
    )
    chain.send(call, sender=KEEPER)
    for sender in (KEEPER, MALLORY):
        rejects(chain, call, "SwapNotFound", lambda: _state(env, key), sender=sender)


def test_refund_for_naming_another_refunder_or_term_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env, ttl=30)
    chain = env.chain
    chain.advance_time(31)
    alice, bob, mallory = (address(chain, i) for i in (ALICE, BOB, MALLORY))
    fn = env.htlc.functions
    for call in (
        fn.refundFor(hashlock, AMOUNT, bob, mallory, timelock),  # the caller as refunder
        fn.refundFor(hashlock, AMOUNT, bob, bob, timelock),  # the claimer as refunder
        fn.refundFor(hashlock, AMOUNT, mallory, alice, timelock),  # another claimer
        fn.refundFor(hashlock, AMOUNT + 1, bob, alice, timelock),  # another amount
    ):
        rejects(chain, call, "SwapNotFound", lambda: _state(env, key), sender=MALLORY)
    assert env.is_open(key)


def test_refund_for_pays_a_named_refunder_not_the_payer_of_the_lock(env: Env) -> None:
    chain = env.chain
    _, hashlock = new_secret()
    timelock = chain.now() + 30
    bob, keeper = address(chain, BOB), address(chain, KEEPER)
    chain.send(env.htlc.functions.lockFor(hashlock, bob, keeper, timelock), value=AMOUNT)
    chain.advance_time(31)
    before = _balance(env, KEEPER)
    chain.send(env.htlc.functions.refundFor(hashlock, AMOUNT, bob, keeper, timelock), MALLORY)
    assert _balance(env, KEEPER) == before + AMOUNT


def test_refund_for_to_a_refunder_that_refuses_payment_fails_and_keeps_the_swap_open(
    env: Env,
) -> None:
    chain = env.chain
    wallet = chain.deploy("HtlcReentrantClaimer", env.htlc.address)
    chain.send(wallet.functions.setRefuse(True))
    _, hashlock = new_secret()
    timelock = chain.now() + 30
    bob = address(chain, BOB)
    chain.send(env.htlc.functions.lockFor(hashlock, bob, wallet.address, timelock), value=AMOUNT)
    key = swap_key(hashlock, AMOUNT, ZERO, bob, wallet.address, timelock)
    chain.advance_time(31)
    call = env.htlc.functions.refundFor(hashlock, AMOUNT, bob, wallet.address, timelock)
    rejects(chain, call, "TransferFailed", lambda: _state(env, key), sender=MALLORY)
    assert env.is_open(key)
