"""Batch claim/refund and relayed (EIP-712 signed) claims of the three HTLCs, on both chains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from web3.contract import Contract

from harness import Chain
from tests.contracts._htlc_helpers import (
    HOUR,
    ZERO,
    address,
    eth_balance,
    eth_spent,
    lock_data,
    logs,
    new_secret,
    rejects,
    sign_claim,
    sign_hash,
    swap_key,
)

ALICE, BOB, KEEPER, MALLORY = 0, 1, 2, 3
AMOUNT = 10**15


@dataclass
class Deployed:
    chain: Chain
    native: Contract
    erc20: Contract
    erc721: Contract
    token_a: Contract
    token_b: Contract
    nft: Contract
    next_id: int = 0

    def token_id(self) -> int:
        self.next_id += 1
        self.chain.send(self.nft.functions.mint(address(self.chain, ALICE), self.next_id))
        return self.next_id


@pytest.fixture(scope="module")
def _deployed() -> dict[str, Deployed]:
    return {}


@pytest.fixture
def d(chain: Chain, _deployed: dict[str, Deployed]) -> Deployed:
    if chain.name not in _deployed:
        tokens = [chain.deploy("HtlcTestToken") for _ in range(2)]
        for t in tokens:
            chain.send(t.functions.mint(address(chain, ALICE), 1000 * AMOUNT))
        _deployed[chain.name] = Deployed(
            chain,
            chain.deploy("HtlcNative"),
            chain.deploy("HtlcErc20"),
            chain.deploy("HtlcErc721"),
            tokens[0],
            tokens[1],
            chain.deploy("HtlcTestNft"),
        )
    return _deployed[chain.name]


def _lock_native(d: Deployed, claimer: str | None = None, ttl: int = HOUR) -> tuple[Any, ...]:
    preimage, hashlock = new_secret()
    timelock = d.chain.now() + ttl
    claimer = claimer or address(d.chain, BOB)
    d.chain.send(d.native.functions.lock(hashlock, claimer, timelock), value=AMOUNT)
    key = swap_key(hashlock, AMOUNT, ZERO, claimer, address(d.chain, ALICE), timelock)
    return preimage, hashlock, timelock, key


def _lock_erc20(d: Deployed, token: Contract, ttl: int = HOUR) -> tuple[Any, ...]:
    preimage, hashlock = new_secret()
    timelock = d.chain.now() + ttl
    bob = address(d.chain, BOB)
    d.chain.send(token.functions.approve(d.erc20.address, AMOUNT))
    d.chain.send(d.erc20.functions.lock(hashlock, AMOUNT, token.address, bob, timelock))
    key = swap_key(hashlock, AMOUNT, token.address, bob, address(d.chain, ALICE), timelock)
    return preimage, hashlock, timelock, key


def _lock_erc721(d: Deployed, ttl: int = HOUR) -> tuple[Any, ...]:
    token_id = d.token_id()
    preimage, hashlock = new_secret()
    timelock = d.chain.now() + ttl
    alice, bob = address(d.chain, ALICE), address(d.chain, BOB)
    data = lock_data(hashlock, bob, timelock)
    d.chain.send(d.nft.functions.safeTransferFrom(alice, d.erc721.address, token_id, data))
    return (
        preimage,
        hashlock,
        token_id,
        timelock,
        swap_key(hashlock, token_id, d.nft.address, bob, alice, timelock),
    )


def _open(contract: Contract, keys: list[bytes]) -> list[bool]:
    return [bool(contract.functions.swaps(k).call()) for k in keys]


def _eth(d: Deployed, who: str) -> int:
    return eth_balance(d.chain, who)


# -- batches -------------------------------------------------------------------------------------


def test_native_batch_claim_settles_every_swap_with_one_payout(d: Deployed) -> None:
    swaps = [_lock_native(d) for _ in range(3)]
    alice, bob = address(d.chain, ALICE), address(d.chain, BOB)
    before = _eth(d, bob)
    batch = [(p, AMOUNT, alice, t) for p, _, t, _ in swaps]
    receipt = d.chain.send(d.native.functions.claimBatch(batch), sender=BOB)
    assert _eth(d, bob) == before + 3 * AMOUNT - eth_spent(receipt)
    assert _open(d.native, [k for *_, k in swaps]) == [False] * 3
    assert [e["preimage"] for e in logs(d.native, "Claimed", receipt)] == [s[0] for s in swaps]


def test_a_batch_with_one_bad_entry_reverts_as_a_whole(d: Deployed) -> None:
    swaps = [_lock_native(d) for _ in range(3)]
    alice = address(d.chain, ALICE)
    batch = [(p, AMOUNT, alice, t) for p, _, t, _ in swaps]
    batch[2] = (bytes(32), AMOUNT, alice, swaps[2][2])
    keys = [k for *_, k in swaps]
    call = d.native.functions.claimBatch(batch)
    rejects(
        d.chain,
        call,
        "SwapNotFound",
        lambda: (_open(d.native, keys), _eth(d, d.native.address)),
        sender=BOB,
    )
    assert _open(d.native, keys) == [True] * 3


def test_empty_batches_are_refused(d: Deployed) -> None:
    for contract in (d.native, d.erc20, d.erc721):
        for fn in ("claimBatch", "refundBatch", "refundForBatch"):
            d.chain.expect_revert(getattr(contract.functions, fn)([]), "EmptyBatch")


def test_native_batch_refund_returns_everything_in_one_payout(d: Deployed) -> None:
    swaps = [_lock_native(d, ttl=30) for _ in range(3)]
    d.chain.advance_time(31)
    alice, bob = address(d.chain, ALICE), address(d.chain, BOB)
    before = _eth(d, alice)
    batch = [(h, AMOUNT, bob, t) for _, h, t, _ in swaps]
    receipt = d.chain.send(d.native.functions.refundBatch(batch))
    assert _eth(d, alice) == before + 3 * AMOUNT - eth_spent(receipt)
    assert _open(d.native, [k for *_, k in swaps]) == [False] * 3
    assert len(logs(d.native, "Refunded", receipt)) == 3


def test_erc20_batch_claim_makes_one_transfer_per_run_of_the_same_token(d: Deployed) -> None:
    a, b = d.token_a, d.token_b
    swaps = [(a, _lock_erc20(d, a)), (a, _lock_erc20(d, a)), (b, _lock_erc20(d, b))]
    alice, bob = address(d.chain, ALICE), address(d.chain, BOB)
    held = (a.functions.balanceOf(bob).call(), b.functions.balanceOf(bob).call())
    batch = [(p, AMOUNT, tok.address, alice, t) for tok, (p, _, t, _) in swaps]
    receipt = d.chain.send(d.erc20.functions.claimBatch(batch), sender=BOB)
    assert a.functions.balanceOf(bob).call() == held[0] + 2 * AMOUNT
    assert b.functions.balanceOf(bob).call() == held[1] + AMOUNT
    assert len(logs(a, "Transfer", receipt)) == 1
    assert len(logs(b, "Transfer", receipt)) == 1
    assert _open(d.erc20, [s[1][3] for s in swaps]) == [False] * 3


def test_erc20_batch_refund(d: Deployed) -> None:
    swaps = [_lock_erc20(d, d.token_a, ttl=30) for _ in range(2)]
    d.chain.advance_time(31)
    alice, bob = address(d.chain, ALICE), address(d.chain, BOB)
    before = d.token_a.functions.balanceOf(alice).call()
    batch = [(h, AMOUNT, d.token_a.address, bob, t) for _, h, t, _ in swaps]
    receipt = d.chain.send(d.erc20.functions.refundBatch(batch))
    assert d.token_a.functions.balanceOf(alice).call() == before + 2 * AMOUNT
    assert len(logs(d.token_a, "Transfer", receipt)) == 1


def test_erc721_batch_claim_and_refund(d: Deployed) -> None:
    alice, bob = address(d.chain, ALICE), address(d.chain, BOB)
    claims = [_lock_erc721(d) for _ in range(2)]
    batch = [(p, i, d.nft.address, alice, t) for p, _, i, t, _ in claims]
    d.chain.send(d.erc721.functions.claimBatch(batch), sender=BOB)
    assert [d.nft.functions.ownerOf(c[2]).call() for c in claims] == [bob, bob]
    refunds = [_lock_erc721(d, ttl=30) for _ in range(2)]
    d.chain.advance_time(31)
    batch = [(h, i, d.nft.address, bob, t) for _, h, i, t, _ in refunds]
    d.chain.send(d.erc721.functions.refundBatch(batch))
    assert [d.nft.functions.ownerOf(r[2]).call() for r in refunds] == [alice, alice]
    assert _open(d.erc721, [c[-1] for c in claims + refunds]) == [False] * 4


def _lock_native_for(d: Deployed, refunder: str, ttl: int = 30) -> tuple[Any, ...]:
    """alice locks for bob with ``refunder`` named (lockFor)."""
    _, hashlock = new_secret()
    timelock = d.chain.now() + ttl
    bob = address(d.chain, BOB)
    d.chain.send(d.native.functions.lockFor(hashlock, bob, refunder, timelock), value=AMOUNT)
    key = swap_key(hashlock, AMOUNT, ZERO, bob, refunder, timelock)
    return hashlock, timelock, refunder, key


def test_native_refund_for_batch_by_a_stranger_pays_each_refunder(d: Deployed) -> None:
    alice, bob, keeper = (address(d.chain, i) for i in (ALICE, BOB, KEEPER))
    swaps = [_lock_native_for(d, r) for r in (alice, alice, keeper, alice)]
    d.chain.advance_time(31)
    before = {who: _eth(d, who) for who in (alice, keeper)}
    mallory = address(d.chain, MALLORY)
    mallory_before = _eth(d, mallory)
    batch = [(h, AMOUNT, bob, r, t) for h, t, r, _ in swaps]
    receipt = d.chain.send(d.native.functions.refundForBatch(batch), sender=MALLORY)
    assert _eth(d, alice) == before[alice] + 3 * AMOUNT
    assert _eth(d, keeper) == before[keeper] + AMOUNT
    assert _eth(d, mallory) == mallory_before - eth_spent(receipt)
    assert _open(d.native, [k for *_, k in swaps]) == [False] * 4
    assert [e["hashlock"] for e in logs(d.native, "Refunded", receipt)] == [s[0] for s in swaps]


def test_a_refund_for_batch_with_an_entry_not_due_or_not_open_reverts_as_a_whole(
    d: Deployed,
) -> None:
    alice, bob, mallory = (address(d.chain, i) for i in (ALICE, BOB, MALLORY))
    due = [_lock_native_for(d, alice) for _ in range(2)]
    d.chain.advance_time(31)
    early = _lock_native_for(d, alice, ttl=HOUR)
    keys = [k for *_, k in [*due, early]]
    state = lambda: (_open(d.native, keys), _eth(d, d.native.address))  # noqa: E731
    batch = [(h, AMOUNT, bob, r, t) for h, t, r, _ in [*due, early]]
    call = d.native.functions.refundForBatch(batch)
    rejects(d.chain, call, "SwapNotExpired", state, sender=MALLORY)
    wrong = [(h, AMOUNT, bob, r, t) for h, t, r, _ in due]
    wrong[1] = (wrong[1][0], AMOUNT, bob, mallory, wrong[1][4])  # another refunder
    call = d.native.functions.refundForBatch(wrong)
    rejects(d.chain, call, "SwapNotFound", state, sender=MALLORY)
    assert _open(d.native, keys) == [True] * 3


def test_erc20_refund_for_batch_makes_one_transfer_per_run_of_token_and_refunder(
    d: Deployed,
) -> None:
    a, b = d.token_a, d.token_b
    alice, bob, keeper = (address(d.chain, i) for i in (ALICE, BOB, KEEPER))
    entries = []
    for token, refunder in ((a, alice), (a, alice), (a, keeper), (b, keeper)):
        _, hashlock = new_secret()
        timelock = d.chain.now() + 30
        d.chain.send(token.functions.approve(d.erc20.address, AMOUNT))
        d.chain.send(
            d.erc20.functions.lockFor(hashlock, AMOUNT, token.address, bob, refunder, timelock)
        )
        entries.append((hashlock, AMOUNT, token.address, bob, refunder, timelock))
    d.chain.advance_time(31)

    def held() -> list[int]:
        return [t.functions.balanceOf(who).call() for t in (a, b) for who in (alice, keeper)]

    before = held()
    receipt = d.chain.send(d.erc20.functions.refundForBatch(entries), sender=MALLORY)
    # (a, alice), (a, keeper), (b, alice), (b, keeper)
    gained = [x - y for x, y in zip(held(), before, strict=True)]
    assert gained == [2 * AMOUNT, AMOUNT, 0, AMOUNT]
    assert len(logs(a, "Transfer", receipt)) == 2
    assert len(logs(b, "Transfer", receipt)) == 1
    keys = [swap_key(h, v, t, c, r, tl) for h, v, t, c, r, tl in entries]
    assert _open(d.erc20, keys) == [False] * 4


def test_erc721_refund_for_batch_returns_each_token_to_its_refunder(d: Deployed) -> None:
    alice, bob, keeper = (address(d.chain, i) for i in (ALICE, BOB, KEEPER))
    entries = []
    for refunder in (alice, keeper):
        token_id = d.token_id()
        _, hashlock = new_secret()
        timelock = d.chain.now() + 30
        data = lock_data(hashlock, bob, timelock, refunder)
        d.chain.send(d.nft.functions.safeTransferFrom(alice, d.erc721.address, token_id, data))
        entries.append((hashlock, token_id, d.nft.address, bob, refunder, timelock))
    d.chain.advance_time(31)
    d.chain.send(d.erc721.functions.refundForBatch(entries), sender=MALLORY)
    assert [d.nft.functions.ownerOf(e[1]).call() for e in entries] == [alice, keeper]
    keys = [swap_key(h, i, t, c, r, tl) for h, i, t, c, r, tl in entries]
    assert _open(d.erc721, keys) == [False] * 2


# -- relayed claims ------------------------------------------------------------------------------


def test_a_keeper_claims_for_the_claimer_and_the_payout_goes_to_the_signed_destination(
    d: Deployed,
) -> None:
    preimage, hashlock, timelock, key = _lock_native(d)
    alice, bob, keeper = (address(d.chain, i) for i in (ALICE, BOB, KEEPER))
    destination = address(d.chain, 5)
    sig = sign_claim(
        d.chain.accounts[BOB], d.native, "HtlcNative", d.chain.chain_id, key, keeper, destination
    )
    before = _eth(d, destination)
    call = d.native.functions.claimWithSig(preimage, AMOUNT, bob, alice, timelock, destination, sig)
    receipt = d.chain.send(call, sender=KEEPER)
    assert _eth(d, destination) == before + AMOUNT
    assert not d.native.functions.swaps(key).call()
    assert logs(d.native, "Claimed", receipt) == [{"hashlock": hashlock, "preimage": preimage}]
    # Replaying the same signed claim finds no swap.
    rejects(d.chain, call, "SwapNotFound", lambda: _eth(d, d.native.address), sender=KEEPER)


def test_relayed_claims_with_a_wrong_signer_caller_or_destination_are_refused(d: Deployed) -> None:
    preimage, _, timelock, key = _lock_native(d)
    alice, bob, keeper, mallory = (address(d.chain, i) for i in (ALICE, BOB, KEEPER, MALLORY))
    fn = d.native.functions
    cid = d.chain.chain_id

    def sig(signer: int, submitter: str, destination: str) -> bytes:
        return sign_claim(
            d.chain.accounts[signer], d.native, "HtlcNative", cid, key, submitter, destination
        )

    good = sig(BOB, keeper, bob)
    state = lambda: (bool(fn.swaps(key).call()), _eth(d, d.native.address))  # noqa: E731
    attempts = [
        (
            fn.claimWithSig(preimage, AMOUNT, bob, alice, timelock, bob, good),
            MALLORY,
        ),  # wrong caller
        (
            fn.claimWithSig(preimage, AMOUNT, bob, alice, timelock, mallory, good),
            KEEPER,
        ),  # destination
        (
            fn.claimWithSig(
                preimage, AMOUNT, bob, alice, timelock, mallory, sig(MALLORY, mallory, mallory)
            ),
            MALLORY,
        ),
        (
            fn.claimWithSig(preimage, AMOUNT, bob, alice, timelock, bob, good[:64]),
            KEEPER,
        ),  # short sig
        (
            fn.claimWithSig(preimage, AMOUNT, bob, alice, timelock, bob, b"\x01" * 65),
            KEEPER,
        ),  # garbage
    ]
    for call, sender in attempts:
        rejects(d.chain, call, "InvalidSignature", state, sender=sender)
    assert fn.swaps(key).call()


def test_a_relayed_claim_after_the_timelock_is_refused(d: Deployed) -> None:
    preimage, _, timelock, key = _lock_native(d, ttl=30)
    alice, bob, keeper = (address(d.chain, i) for i in (ALICE, BOB, KEEPER))
    sig = sign_claim(
        d.chain.accounts[BOB], d.native, "HtlcNative", d.chain.chain_id, key, keeper, bob
    )
    d.chain.advance_time(31)
    call = d.native.functions.claimWithSig(preimage, AMOUNT, bob, alice, timelock, bob, sig)
    rejects(
        d.chain, call, "SwapExpired", lambda: d.native.functions.swaps(key).call(), sender=KEEPER
    )


def test_a_smart_wallet_claimer_authorises_a_relayed_claim_with_erc1271(d: Deployed) -> None:
    owner = d.chain.accounts[BOB]
    wallet = d.chain.deploy("HtlcTestWallet", owner.address)
    preimage, _, timelock, key = _lock_native(d, claimer=wallet.address)
    alice, keeper = address(d.chain, ALICE), address(d.chain, KEEPER)
    digest = bytes(d.native.functions.claimDigest(key, keeper, wallet.address).call())
    sig = sign_hash(owner, digest)
    foreign = sign_hash(d.chain.accounts[MALLORY], digest)
    fn = d.native.functions
    bad = fn.claimWithSig(
        preimage, AMOUNT, wallet.address, alice, timelock, wallet.address, foreign
    )
    rejects(d.chain, bad, "InvalidSignature", lambda: fn.swaps(key).call(), sender=KEEPER)
    before = _eth(d, wallet.address)
    call = fn.claimWithSig(preimage, AMOUNT, wallet.address, alice, timelock, wallet.address, sig)
    d.chain.send(call, sender=KEEPER)
    assert _eth(d, wallet.address) == before + AMOUNT


def test_relayed_erc20_and_erc721_claims(d: Deployed) -> None:
    alice, bob, keeper = (address(d.chain, i) for i in (ALICE, BOB, KEEPER))
    cid = d.chain.chain_id
    preimage, _, timelock, key = _lock_erc20(d, d.token_a)
    sig = sign_claim(d.chain.accounts[BOB], d.erc20, "HtlcErc20", cid, key, keeper, bob)
    held = d.token_a.functions.balanceOf(bob).call()
    call = d.erc20.functions.claimWithSig(
        preimage, AMOUNT, d.token_a.address, bob, alice, timelock, bob, sig
    )
    d.chain.send(call, sender=KEEPER)
    assert d.token_a.functions.balanceOf(bob).call() == held + AMOUNT
    rejects(
        d.chain,
        call,
        "SwapNotFound",
        lambda: d.token_a.functions.balanceOf(bob).call(),
        sender=KEEPER,
    )

    preimage, _, token_id, timelock, key = _lock_erc721(d)
    sig = sign_claim(d.chain.accounts[BOB], d.erc721, "HtlcErc721", cid, key, keeper, bob)
    fn = d.erc721.functions
    wrong_domain = sign_claim(d.chain.accounts[BOB], d.native, "HtlcNative", cid, key, keeper, bob)
    bad = fn.claimWithSig(
        preimage, token_id, d.nft.address, bob, alice, timelock, bob, wrong_domain
    )
    rejects(
        d.chain,
        bad,
        "InvalidSignature",
        lambda: d.nft.functions.ownerOf(token_id).call(),
        sender=KEEPER,
    )
    call = fn.claimWithSig(preimage, token_id, d.nft.address, bob, alice, timelock, bob, sig)
    d.chain.send(call, sender=KEEPER)
    assert d.nft.functions.ownerOf(token_id).call() == bob
