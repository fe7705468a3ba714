"""HtlcErc20 on both chains: lock (approve, permit), claim, refund with a standard OpenZeppelin
token and a USDT-style token that returns nothing, and the attacker paths."""

from __future__ import annotations

from typing import Any

import pytest

from harness import Chain
from tests.contracts._htlc_helpers import (
    HOUR,
    Env,
    address,
    logs,
    new_secret,
    permit_args,
    rejects,
    swap_key,
)

ALICE, BOB, KEEPER, MALLORY = 0, 1, 2, 3
AMOUNT = 10**18


@pytest.fixture(scope="module")
def _envs() -> dict[str, Env]:
    return {}


@pytest.fixture
def env(chain: Chain, _envs: dict[str, Env]) -> Env:
    """One HtlcErc20 and its tokens per chain for the module."""
    if chain.name not in _envs:
        htlc = chain.deploy("HtlcErc20")
        token = chain.deploy("HtlcTestToken")
        usdt = chain.deploy("HtlcNoReturnToken")
        for t in (token, usdt):
            chain.send(t.functions.mint(address(chain, ALICE), 1000 * AMOUNT))
        _envs[chain.name] = Env(chain, htlc, "HtlcErc20", token, {"usdt": usdt})
    return _envs[chain.name]


def _usdt(env: Env) -> Any:
    assert env.extra is not None
    return env.extra["usdt"]


def _lock(
    env: Env, token: Any = None, amount: int = AMOUNT, ttl: int = HOUR
) -> tuple[bytes, bytes, int, bytes]:
    """alice approves and locks `amount` of `token` for bob."""
    token = token or env.token
    preimage, hashlock = new_secret()
    timelock = env.chain.now() + ttl
    bob, alice = address(env.chain, BOB), address(env.chain, ALICE)
    env.chain.send(token.functions.approve(env.htlc.address, amount))
    env.chain.send(env.htlc.functions.lock(hashlock, amount, token.address, bob, timelock))
    return (
        preimage,
        hashlock,
        timelock,
        swap_key(hashlock, amount, token.address, bob, alice, timelock),
    )


def _bal(token: Any, who: str) -> int:
    return int(token.functions.balanceOf(who).call())


def _state(env: Env, key: bytes, token: Any = None) -> tuple[Any, ...]:
    token = token or env.token
    chain = env.chain
    return (
        env.is_open(key),
        _bal(token, env.htlc.address),
        *(_bal(token, address(chain, i)) for i in (ALICE, BOB, KEEPER, MALLORY)),
    )


@pytest.mark.parametrize("kind", ["openzeppelin", "no-return"])
def test_lock_claim_moves_tokens_and_logs_the_swap(env: Env, kind: str) -> None:
    token = env.token if kind == "openzeppelin" else _usdt(env)
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    escrow, held = _bal(token, env.htlc.address), _bal(token, bob)
    preimage, hashlock = new_secret()
    timelock = chain.now() + HOUR
    chain.send(token.functions.approve(env.htlc.address, AMOUNT))
    receipt = chain.send(env.htlc.functions.lock(hashlock, AMOUNT, token.address, bob, timelock))
    key = swap_key(hashlock, AMOUNT, token.address, bob, alice, timelock)
    assert env.is_open(key)
    assert _bal(token, env.htlc.address) == escrow + AMOUNT
    assert logs(env.htlc, "Locked", receipt) == [
        {
            "hashlock": hashlock,
            "claimer": bob,
            "refunder": alice,
            "token": token.address,
            "amount": AMOUNT,
            "timelock": timelock,
        }
    ]
    claim = env.htlc.functions.claim(preimage, AMOUNT, token.address, alice, timelock)
    receipt = chain.send(claim, sender=BOB)
    assert _bal(token, bob) == held + AMOUNT
    assert _bal(token, env.htlc.address) == escrow
    assert not env.is_open(key)
    assert logs(env.htlc, "Claimed", receipt) == [{"hashlock": hashlock, "preimage": preimage}]


@pytest.mark.parametrize("kind", ["openzeppelin", "no-return"])
def test_refund_returns_tokens_to_the_refunder(env: Env, kind: str) -> None:
    token = env.token if kind == "openzeppelin" else _usdt(env)
    _, hashlock, timelock, key = _lock(env, token, ttl=30)
    env.chain.advance_time(31)
    alice, bob = address(env.chain, ALICE), address(env.chain, BOB)
    before = _bal(token, alice)
    receipt = env.chain.send(
        env.htlc.functions.refund(hashlock, AMOUNT, token.address, bob, timelock)
    )
    assert _bal(token, alice) == before + AMOUNT
    assert not env.is_open(key)
    assert logs(env.htlc, "Refunded", receipt) == [{"hashlock": hashlock}]


def test_lock_with_permit_needs_no_prior_approval(env: Env) -> None:
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    assert env.token.functions.allowance(alice, env.htlc.address).call() == 0
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    permit = permit_args(chain, env.token, ALICE, env.htlc.address, AMOUNT)
    call = env.htlc.functions.lockWithPermit(
        hashlock, AMOUNT, env.token.address, bob, timelock, permit
    )
    chain.send(call)
    assert env.is_open(swap_key(hashlock, AMOUNT, env.token.address, bob, alice, timelock))
    assert env.token.functions.allowance(alice, env.htlc.address).call() == 0


def test_lock_with_a_permit_front_run_from_the_mempool_still_locks(env: Env) -> None:
    """Someone submits alice's permit first: the permit call fails, the allowance it set is used."""
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    deadline, v, r, s = permit_args(chain, env.token, ALICE, env.htlc.address, AMOUNT)
    chain.send(
        env.token.functions.permit(alice, env.htlc.address, AMOUNT, deadline, v, r, s),
        sender=MALLORY,
    )
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    call = env.htlc.functions.lockWithPermit(
        hashlock, AMOUNT, env.token.address, bob, timelock, (deadline, v, r, s)
    )
    chain.send(call)
    assert env.is_open(swap_key(hashlock, AMOUNT, env.token.address, bob, alice, timelock))


def test_lock_with_a_foreign_permit_and_no_allowance_is_refused(env: Env) -> None:
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    permit = permit_args(chain, env.token, ALICE, env.htlc.address, AMOUNT, signer=MALLORY)
    call = env.htlc.functions.lockWithPermit(
        hashlock, AMOUNT, env.token.address, bob, timelock, permit
    )
    key = swap_key(hashlock, AMOUNT, env.token.address, bob, alice, timelock)
    rejects(chain, call, "PermitFailed", lambda: _state(env, key))


def test_lock_for_pays_from_the_caller_and_refunds_to_the_named_refunder(env: Env) -> None:
    chain = env.chain
    bob, keeper = address(chain, BOB), address(chain, KEEPER)
    _, hashlock = new_secret()
    timelock = chain.now() + 30
    chain.send(env.token.functions.approve(env.htlc.address, AMOUNT))
    chain.send(
        env.htlc.functions.lockFor(hashlock, AMOUNT, env.token.address, bob, keeper, timelock)
    )
    chain.advance_time(31)
    before = _bal(env.token, keeper)
    chain.send(
        env.htlc.functions.refund(hashlock, AMOUNT, env.token.address, bob, timelock), sender=KEEPER
    )
    assert _bal(env.token, keeper) == before + AMOUNT


# -- attacker paths ------------------------------------------------------------------------------


def test_lock_without_allowance_or_balance_is_refused_and_changes_nothing(env: Env) -> None:
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    key = swap_key(hashlock, AMOUNT, env.token.address, bob, alice, timelock)
    call = env.htlc.functions.lock(hashlock, AMOUNT, env.token.address, bob, timelock)
    rejects(chain, call, "ERC20InsufficientAllowance", lambda: _state(env, key))
    # The USDT-style token reverts too, with its own error, bubbled up unchanged.
    usdt = _usdt(env)
    key = swap_key(hashlock, AMOUNT, usdt.address, bob, alice, timelock)
    call = env.htlc.functions.lock(hashlock, AMOUNT, usdt.address, bob, timelock)
    rejects(chain, call, "NoReturnInsufficient", lambda: _state(env, key, usdt))


def test_a_token_that_returns_false_is_refused_by_safe_erc20(env: Env) -> None:
    chain = env.chain
    usdt = _usdt(env)
    alice, bob = address(chain, ALICE), address(chain, BOB)
    chain.send(usdt.functions.setReturnFalse(True))
    try:
        _, hashlock = new_secret()
        timelock = chain.now() + HOUR
        key = swap_key(hashlock, AMOUNT, usdt.address, bob, alice, timelock)
        call = env.htlc.functions.lock(hashlock, AMOUNT, usdt.address, bob, timelock)
        rejects(chain, call, "SafeERC20FailedOperation", lambda: _state(env, key, usdt))
    finally:
        chain.send(usdt.functions.setReturnFalse(False))


def test_a_token_without_code_is_refused(env: Env) -> None:
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    nowhere = address(chain, 7)
    key = swap_key(hashlock, AMOUNT, nowhere, bob, alice, timelock)
    call = env.htlc.functions.lock(hashlock, AMOUNT, nowhere, bob, timelock)
    rejects(chain, call, "SafeERC20FailedOperation", lambda: _state(env, key))


def test_lock_of_zero_amount_or_with_a_past_timelock_is_refused(env: Env) -> None:
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    _, hashlock = new_secret()
    chain.send(env.token.functions.approve(env.htlc.address, AMOUNT))
    timelock = chain.now() + HOUR
    key = swap_key(hashlock, 0, env.token.address, bob, alice, timelock)
    call = env.htlc.functions.lock(hashlock, 0, env.token.address, bob, timelock)
    rejects(chain, call, "ZeroAmount", lambda: _state(env, key))
    past = chain.now() - 1
    key = swap_key(hashlock, AMOUNT, env.token.address, bob, alice, past)
    call = env.htlc.functions.lock(hashlock, AMOUNT, env.token.address, bob, past)
    rejects(chain, call, "TimelockNotInFuture", lambda: _state(env, key))
    chain.send(env.token.functions.approve(env.htlc.address, 0))


def test_a_duplicate_lock_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env)
    chain = env.chain
    chain.send(env.token.functions.approve(env.htlc.address, AMOUNT))
    call = env.htlc.functions.lock(
        hashlock, AMOUNT, env.token.address, address(chain, BOB), timelock
    )
    rejects(chain, call, "SwapExists", lambda: _state(env, key))
    chain.send(env.token.functions.approve(env.htlc.address, 0))


def test_claims_with_a_wrong_preimage_token_amount_or_caller_are_refused(env: Env) -> None:
    preimage, _, timelock, key = _lock(env)
    chain = env.chain
    alice = address(chain, ALICE)
    fn = env.htlc.functions
    wrong = bytes(31) + b"\x01"
    usdt = _usdt(env).address
    for call, sender in (
        (fn.claim(wrong, AMOUNT, env.token.address, alice, timelock), BOB),
        (fn.claim(preimage, AMOUNT, usdt, alice, timelock), BOB),
        (fn.claim(preimage, AMOUNT + 1, env.token.address, alice, timelock), BOB),
        (fn.claim(preimage, AMOUNT, env.token.address, alice, timelock), MALLORY),
    ):
        rejects(chain, call, "SwapNotFound", lambda: _state(env, key), sender=sender)


def test_claim_after_and_refund_before_the_timelock_are_refused(env: Env) -> None:
    preimage, hashlock, timelock, key = _lock(env, ttl=30)
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    refund = env.htlc.functions.refund(hashlock, AMOUNT, env.token.address, bob, timelock)
    rejects(chain, refund, "SwapNotExpired", lambda: _state(env, key))
    chain.advance_time(31)
    claim = env.htlc.functions.claim(preimage, AMOUNT, env.token.address, alice, timelock)
    rejects(chain, claim, "SwapExpired", lambda: _state(env, key), sender=BOB)
    chain.send(refund)
    rejects(chain, refund, "SwapNotFound", lambda: _state(env, key))


def test_double_claim_is_refused(env: Env) -> None:
    preimage, _, timelock, key = _lock(env)
    chain = env.chain
    claim = env.htlc.functions.claim(
        preimage, AMOUNT, env.token.address, address(chain, ALICE), timelock
    )
    chain.send(claim, sender=BOB)
    rejects(chain, claim, "SwapNotFound", lambda: _state(env, key), sender=BOB)


def test_lock_for_with_a_zero_refunder_is_refused(env: Env) -> None:
    chain = env.chain
    bob = address(chain, BOB)
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    zero = "0x" + "00" * 20
    key = swap_key(hashlock, AMOUNT, env.token.address, bob, zero, timelock)
    call = env.htlc.functions.lockFor(hashlock, AMOUNT, env.token.address, bob, zero, timelock)
    rejects(chain, call, "ZeroRefunder", lambda: _state(env, key))


# -- refundFor: anyone refunds to the refunder after the timelock -------------------------------


@pytest.mark.parametrize("kind", ["openzeppelin", "no-return"])
def test_refund_for_by_a_stranger_pays_the_refunder_after_the_timelock(env: Env, kind: str) -> None:
    token = env.token if kind == "openzeppelin" else _usdt(env)
    _, hashlock, timelock, key = _lock(env, token, ttl=30)
    chain = env.chain
    chain.advance_time(31)
    alice, bob, mallory = address(chain, ALICE), address(chain, BOB), address(chain, MALLORY)
    before = (_bal(token, alice), _bal(token, mallory), _bal(token, env.htlc.address))
    call = env.htlc.functions.refundFor(hashlock, AMOUNT, token.address, bob, alice, timelock)
    receipt = chain.send(call, sender=MALLORY)
    assert (_bal(token, alice), _bal(token, mallory), _bal(token, env.htlc.address)) == (
        before[0] + AMOUNT,
        before[1],
        before[2] - AMOUNT,
    )
    assert not env.is_open(key)
    assert logs(env.htlc, "Refunded", receipt) == [{"hashlock": hashlock}]
    refund = env.htlc.functions.refund(hashlock, AMOUNT, token.address, bob, timelock)
    rejects(chain, refund, "SwapNotFound", lambda: _state(env, key, token))


def test_refund_for_before_the_timelock_after_a_claim_or_twice_is_refused(env: Env) -> None:
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    fn = env.htlc.functions
    token = env.token.address
    # before the timelock
    _, hashlock, timelock, key = _lock(env, ttl=30)
    early = fn.refundFor(hashlock, AMOUNT, token, bob, alice, timelock)
    rejects(chain, early, "SwapNotExpired", lambda: _state(env, key), sender=MALLORY)
    # after a claim
    preimage, claimed_hashlock, claimed_timelock, claimed_key = _lock(env, ttl=30)
    chain.send(fn.claim(preimage, AMOUNT, token, alice, claimed_timelock), sender=BOB)
    chain.advance_time(31)
    after_claim = fn.refundFor(claimed_hashlock, AMOUNT, token, bob, alice, claimed_timelock)
    rejects(chain, after_claim, "SwapNotFound", lambda: _state(env, claimed_key), sender=MALLORY)
    # twice
    chain.send(early, sender=MALLORY)
    rejects(chain, early, "SwapNotFound", lambda: _state(env, key), sender=MALLORY)


def test_refund_for_naming_another_refunder_or_term_is_refused(env: Env) -> None:
    _, hashlock, timelock, key = _lock(env, ttl=30)
    chain = env.chain
    chain.advance_time(31)
    alice, bob, mallory = (address(chain, i) for i in (ALICE, BOB, MALLORY))
    fn = env.htlc.functions
    token, usdt = env.token.address, _usdt(env).address
    for call in (
        fn.refundFor(hashlock, AMOUNT, token, bob, mallory, timelock),
        fn.refundFor(hashlock, AMOUNT, token, bob, bob, timelock),
        fn.refundFor(hashlock, AMOUNT, usdt, bob, alice, timelock),
        fn.refundFor(hashlock, AMOUNT - 1, token, bob, alice, timelock),
    ):
        rejects(chain, call, "SwapNotFound", lambda: _state(env, key), sender=MALLORY)
    assert env.is_open(key)


def test_refund_for_returns_a_lock_for_to_its_named_refunder(env: Env) -> None:
    chain = env.chain
    bob, keeper = address(chain, BOB), address(chain, KEEPER)
    _, hashlock = new_secret()
    timelock = chain.now() + 30
    chain.send(env.token.functions.approve(env.htlc.address, AMOUNT))
    chain.send(
        env.htlc.functions.lockFor(hashlock, AMOUNT, env.token.address, bob, keeper, timelock)
    )
    chain.advance_time(31)
    before = _bal(env.token, keeper)
    call = env.htlc.functions.refundFor(hashlock, AMOUNT, env.token.address, bob, keeper, timelock)
    chain.send(call, sender=MALLORY)
    assert _bal(env.token, keeper) == before + AMOUNT
