"""HtlcErc721 on both chains: lock in one transaction through safeTransferFrom(..., data),
claim and refund with safeTransferFrom, malformed lock data and callers that are not a token."""

from __future__ import annotations

from typing import Any

import pytest

from harness import Chain
from tests.contracts._htlc_helpers import (
    HOUR,
    Env,
    address,
    lock_data,
    logs,
    new_secret,
    rejects,
    swap_key,
)

ALICE, BOB, KEEPER, MALLORY = 0, 1, 2, 3


@pytest.fixture(scope="module")
def _envs() -> dict[str, Env]:
    return {}


@pytest.fixture
def env(chain: Chain, _envs: dict[str, Env]) -> Env:
    if chain.name not in _envs:
        htlc = chain.deploy("HtlcErc721")
        nft = chain.deploy("HtlcTestNft")
        _envs[chain.name] = Env(chain, htlc, "HtlcErc721", nft, {"ids": _Ids()})
    return _envs[chain.name]


class _Ids:
    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last += 1
        return self.last


def _mint(env: Env, owner: int = ALICE) -> int:
    assert env.extra is not None and env.token is not None
    token_id: int = env.extra["ids"].next()
    env.chain.send(env.token.functions.mint(address(env.chain, owner), token_id))
    return token_id


def _owner(env: Env, token_id: int) -> str:
    assert env.token is not None
    return str(env.token.functions.ownerOf(token_id).call())


def _lock(env: Env, ttl: int = HOUR, refunder: str | None = None) -> tuple[Any, ...]:
    """alice sends a fresh token to the HTLC for bob; (preimage, hashlock, id, timelock, key)."""
    assert env.token is not None
    chain = env.chain
    token_id = _mint(env)
    preimage, hashlock = new_secret()
    timelock = chain.now() + ttl
    alice, bob = address(chain, ALICE), address(chain, BOB)
    data = lock_data(hashlock, bob, timelock, refunder)
    chain.send(env.token.functions.safeTransferFrom(alice, env.htlc.address, token_id, data))
    key = swap_key(hashlock, token_id, env.token.address, bob, refunder or alice, timelock)
    return preimage, hashlock, token_id, timelock, key


def test_safe_transfer_with_data_locks_in_one_transaction_and_logs_the_swap(env: Env) -> None:
    chain = env.chain
    assert env.token is not None
    token_id = _mint(env)
    _, hashlock = new_secret()
    timelock = chain.now() + HOUR
    alice, bob = address(chain, ALICE), address(chain, BOB)
    data = lock_data(hashlock, bob, timelock)
    receipt = chain.send(
        env.token.functions.safeTransferFrom(alice, env.htlc.address, token_id, data)
    )
    assert _owner(env, token_id) == env.htlc.address
    assert env.is_open(swap_key(hashlock, token_id, env.token.address, bob, alice, timelock))
    assert logs(env.htlc, "Locked", receipt) == [
        {
            "hashlock": hashlock,
            "claimer": bob,
            "refunder": alice,
            "token": env.token.address,
            "tokenId": token_id,
            "timelock": timelock,
        }
    ]


def test_claim_transfers_the_token_to_the_claimer(env: Env) -> None:
    assert env.token is not None
    preimage, hashlock, token_id, timelock, key = _lock(env)
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    claim = env.htlc.functions.claim(preimage, token_id, env.token.address, alice, timelock)
    receipt = chain.send(claim, sender=BOB)
    assert _owner(env, token_id) == bob
    assert not env.is_open(key)
    assert logs(env.htlc, "Claimed", receipt) == [{"hashlock": hashlock, "preimage": preimage}]


def test_refund_goes_to_the_refunder_named_in_the_data(env: Env) -> None:
    assert env.token is not None
    chain = env.chain
    keeper, bob = address(chain, KEEPER), address(chain, BOB)
    _, hashlock, token_id, timelock, key = _lock(env, ttl=30, refunder=keeper)
    chain.advance_time(31)
    refund = env.htlc.functions.refund(hashlock, token_id, env.token.address, bob, timelock)
    rejects(chain, refund, "SwapNotFound", lambda: (env.is_open(key), _owner(env, token_id)))
    chain.send(refund, sender=KEEPER)
    assert _owner(env, token_id) == keeper
    assert not env.is_open(key)


# -- attacker paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(64),
        bytes(97),
        bytes(160),
        # a dirty address word (upper 12 bytes non-zero)
        bytes(32) + b"\x01" * 32 + (2**40).to_bytes(32, "big"),
    ],
    ids=["empty", "64-bytes", "97-bytes", "160-bytes", "dirty-claimer"],
)
def test_a_token_sent_with_malformed_data_is_refused_and_stays_with_its_owner(
    env: Env, data: bytes
) -> None:
    assert env.token is not None
    chain = env.chain
    token_id = _mint(env)
    alice = address(chain, ALICE)
    call = env.token.functions.safeTransferFrom(alice, env.htlc.address, token_id, data)
    rejects(chain, call, "InvalidLockData", lambda: _owner(env, token_id))
    assert _owner(env, token_id) == alice


def test_a_lock_with_a_zero_refunder_is_refused(env: Env) -> None:
    chain = env.chain
    token_id = _mint(env)
    alice, bob = address(chain, ALICE), address(chain, BOB)
    data = lock_data(new_secret()[1], bob, chain.now() + HOUR, refunder="0x" + "00" * 20)
    call = env.token.functions.safeTransferFrom(alice, env.htlc.address, token_id, data)
    rejects(chain, call, "ZeroRefunder", lambda: _owner(env, token_id))


def test_a_token_minted_into_the_htlc_without_a_refunder_is_refused(env: Env) -> None:
    """``_safeMint`` calls onERC721Received with ``from`` = 0: with the 3-word data the refunder
    would be address(0) and the token stuck for good once the timelock passed."""
    assert env.token is not None
    chain = env.chain
    token_id = env.extra["ids"].next()
    bob = address(chain, BOB)
    data = lock_data(new_secret()[1], bob, chain.now() + HOUR)
    call = env.token.functions.safeMint(env.htlc.address, token_id, data)
    balance = env.token.functions.balanceOf(env.htlc.address).call
    rejects(chain, call, "ZeroRefunder", balance)


def test_a_token_minted_into_the_htlc_with_a_named_refunder_locks_and_refunds(env: Env) -> None:
    assert env.token is not None
    chain = env.chain
    token_id = env.extra["ids"].next()
    _, hashlock = new_secret()
    timelock = chain.now() + 30
    keeper, bob = address(chain, KEEPER), address(chain, BOB)
    data = lock_data(hashlock, bob, timelock, refunder=keeper)
    receipt = chain.send(env.token.functions.safeMint(env.htlc.address, token_id, data))
    (locked,) = logs(env.htlc, "Locked", receipt)
    assert (locked["refunder"], locked["claimer"]) == (keeper, bob)
    key = swap_key(hashlock, token_id, env.token.address, bob, keeper, timelock)
    assert env.is_open(key)
    chain.advance_time(31)
    refund = env.htlc.functions.refund(hashlock, token_id, env.token.address, bob, timelock)
    chain.send(refund, sender=KEEPER)
    assert _owner(env, token_id) == keeper


def test_a_lock_with_a_past_timelock_is_refused(env: Env) -> None:
    assert env.token is not None
    chain = env.chain
    token_id = _mint(env)
    alice, bob = address(chain, ALICE), address(chain, BOB)
    data = lock_data(new_secret()[1], bob, chain.now() - 1)
    call = env.token.functions.safeTransferFrom(alice, env.htlc.address, token_id, data)
    rejects(chain, call, "TimelockNotInFuture", lambda: _owner(env, token_id))


def test_calling_the_hook_directly_without_sending_a_token_is_refused(env: Env) -> None:
    """Only the token's own transfer may open a swap: a direct call holds no token."""
    assert env.token is not None
    chain = env.chain
    token_id = _mint(env, owner=MALLORY)
    mallory, bob = address(chain, MALLORY), address(chain, BOB)
    data = lock_data(new_secret()[1], bob, chain.now() + HOUR)
    call = env.htlc.functions.onERC721Received(mallory, mallory, token_id, data)
    rejects(chain, call, "TokenNotReceived", lambda: _owner(env, token_id), sender=MALLORY)


def test_claims_with_a_wrong_preimage_token_or_caller_are_refused(env: Env) -> None:
    assert env.token is not None
    preimage, _, token_id, timelock, key = _lock(env)
    chain = env.chain
    alice = address(chain, ALICE)
    fn = env.htlc.functions
    state = lambda: (env.is_open(key), _owner(env, token_id))  # noqa: E731
    other_token = env.htlc.address  # any other address is another swap
    for call, sender in (
        (fn.claim(bytes(32), token_id, env.token.address, alice, timelock), BOB),
        (fn.claim(preimage, token_id + 1, env.token.address, alice, timelock), BOB),
        (fn.claim(preimage, token_id, other_token, alice, timelock), BOB),
        (fn.claim(preimage, token_id, env.token.address, alice, timelock), MALLORY),
    ):
        rejects(chain, call, "SwapNotFound", state, sender=sender)


def test_windows_and_double_settlement_are_enforced(env: Env) -> None:
    assert env.token is not None
    preimage, hashlock, token_id, timelock, key = _lock(env, ttl=30)
    chain = env.chain
    alice, bob = address(chain, ALICE), address(chain, BOB)
    state = lambda: (env.is_open(key), _owner(env, token_id))  # noqa: E731
    refund = env.htlc.functions.refund(hashlock, token_id, env.token.address, bob, timelock)
    claim = env.htlc.functions.claim(preimage, token_id, env.token.address, alice, timelock)
    rejects(chain, refund, "SwapNotExpired", state)
    chain.advance_time(31)
    rejects(chain, claim, "SwapExpired", state, sender=BOB)
    chain.send(refund)
    assert _owner(env, token_id) == alice
    rejects(chain, refund, "SwapNotFound", state)


def test_a_refunder_contract_without_the_receiver_hook_still_gets_its_token_back(env: Env) -> None:
    chain = env.chain
    wallet = chain.deploy("HtlcTestWallet", address(chain, ALICE))
    _, hashlock, token_id, timelock, key = _lock(env, ttl=30, refunder=wallet.address)
    chain.advance_time(31)
    bob = address(chain, BOB)
    refund = env.htlc.functions.refund(hashlock, token_id, env.token.address, bob, timelock)
    data = refund.build_transaction({"from": wallet.address, "gas": 500_000})["data"]
    chain.send(wallet.functions.execute(env.htlc.address, data))
    assert _owner(env, token_id) == wallet.address
    assert not env.is_open(key)


# -- refundFor: anyone refunds to the refunder after the timelock -------------------------------


def test_refund_for_by_a_stranger_returns_the_token_to_the_refunder(env: Env) -> None:
    assert env.token is not None
    _, hashlock, token_id, timelock, key = _lock(env, ttl=30)
    chain = env.chain
    chain.advance_time(31)
    alice, bob = address(chain, ALICE), address(chain, BOB)
    call = env.htlc.functions.refundFor(hashlock, token_id, env.token.address, bob, alice, timelock)
    receipt = chain.send(call, sender=MALLORY)
    assert _owner(env, token_id) == alice
    assert not env.is_open(key)
    assert logs(env.htlc, "Refunded", receipt) == [{"hashlock": hashlock}]
    state = lambda: (env.is_open(key), _owner(env, token_id))  # noqa: E731
    rejects(chain, call, "SwapNotFound", state, sender=MALLORY)  # twice
    refund = env.htlc.functions.refund(hashlock, token_id, env.token.address, bob, timelock)
    rejects(chain, refund, "SwapNotFound", state, sender=ALICE)


def test_refund_for_before_the_timelock_after_a_claim_or_for_another_refunder_is_refused(
    env: Env,
) -> None:
    assert env.token is not None
    chain = env.chain
    alice, bob, mallory = (address(chain, i) for i in (ALICE, BOB, MALLORY))
    fn, nft = env.htlc.functions, env.token.address
    _, hashlock, token_id, timelock, key = _lock(env, ttl=30)
    state = lambda: (env.is_open(key), _owner(env, token_id))  # noqa: E731
    call = fn.refundFor(hashlock, token_id, nft, bob, alice, timelock)
    rejects(chain, call, "SwapNotExpired", state, sender=MALLORY)
    preimage, c_hashlock, c_id, c_timelock, c_key = _lock(env, ttl=30)
    chain.send(fn.claim(preimage, c_id, nft, alice, c_timelock), sender=BOB)
    chain.advance_time(31)
    after_claim = fn.refundFor(c_hashlock, c_id, nft, bob, alice, c_timelock)
    c_state = lambda: (env.is_open(c_key), _owner(env, c_id))  # noqa: E731
    rejects(chain, after_claim, "SwapNotFound", c_state, sender=MALLORY)
    assert _owner(env, c_id) == bob
    for wrong in (
        fn.refundFor(hashlock, token_id, nft, bob, mallory, timelock),
        fn.refundFor(hashlock, token_id, nft, bob, bob, timelock),
        fn.refundFor(hashlock, token_id + 1, nft, bob, alice, timelock),
    ):
        rejects(chain, wrong, "SwapNotFound", state, sender=MALLORY)
    assert env.is_open(key) and _owner(env, token_id) == env.htlc.address


def test_refund_for_returns_the_token_to_a_refunder_without_the_receiver_hook(env: Env) -> None:
    """As ``refund``, ``refundFor`` uses ``transferFrom``: a refunder contract that cannot
    receive ERC-721 safely (no hook) still gets its token back, whoever triggers it."""
    assert env.token is not None
    chain = env.chain
    wallet = chain.deploy("HtlcTestWallet", address(chain, ALICE))
    _, hashlock, token_id, timelock, key = _lock(env, ttl=30, refunder=wallet.address)
    chain.advance_time(31)
    bob = address(chain, BOB)
    call = env.htlc.functions.refundFor(
        hashlock, token_id, env.token.address, bob, wallet.address, timelock
    )
    chain.send(call, sender=MALLORY)
    assert _owner(env, token_id) == wallet.address
    assert not env.is_open(key)
