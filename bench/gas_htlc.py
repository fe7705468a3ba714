"""Gas of the xgate HTLCs (contracts/src/htlc): ``python -m bench.gas_htlc [--json]``.

``measure(url)`` runs against an already running anvil and returns receipt ``gasUsed`` per
path, under docs/htlc.md §6 steady-state conditions: the HTLC already holds one open swap of
the same asset, the recipient already holds a balance of the asset, the approval is sent in a
separate unmeasured transaction, and every swap gets a fresh random 32-byte preimage; each
figure is the median of 5. ``bench.gas`` merges these figures with the other areas' and
compares them with issue 3's targets.
"""

from __future__ import annotations

import hashlib
import os

from eth_abi.abi import encode
from web3.contract import Contract

from bench._evm import median, standalone
from gateway.domain.typed_data import htlc_claim_message, permit_message, signature_vrs
from harness import Chain

ROUNDS = 5
BATCH = 10
AMOUNT = 10**18  # 1 coin / 1 token (18 decimals)
HOUR = 3600
ZERO = "0x" + "00" * 20


def _preimage() -> tuple[bytes, bytes]:
    preimage = os.urandom(32)
    return preimage, hashlib.sha256(preimage).digest()


def _native(b: Chain) -> dict[str, int]:
    htlc = b.deploy("HtlcNative")
    fn = htlc.functions
    alice, bob = b.accounts[0].address, b.accounts[1].address
    # Steady state: one swap stays open for the whole run.
    _, h = _preimage()
    b.gas(fn.lock(h, bob, b.now() + 10 * HOUR), value=AMOUNT)
    locks, claims, refunds = [], [], []
    for _ in range(ROUNDS):
        p, h = _preimage()
        timelock = b.now() + HOUR
        locks.append(b.gas(fn.lock(h, bob, timelock), value=AMOUNT))
        claims.append(b.gas(fn.claim(p, AMOUNT, alice, timelock), sender=1))
    for _ in range(ROUNDS):
        _, h = _preimage()
        timelock = b.now() + 60
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        b.advance_time(61)
        refunds.append(b.gas(fn.refund(h, AMOUNT, bob, timelock)))
    refunds_for = []  # a keeper (account 2) refunds alice's swap to alice
    for _ in range(ROUNDS):
        _, h = _preimage()
        timelock = b.now() + 60
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        b.advance_time(61)
        refunds_for.append(b.gas(fn.refundFor(h, AMOUNT, bob, alice, timelock), sender=2))
    relayed = []
    for _ in range(ROUNDS):
        p, h = _preimage()
        timelock = b.now() + HOUR
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        key = fn.swapKey(h, AMOUNT, ZERO, bob, alice, timelock).call()
        keeper = b.accounts[2].address
        claim = htlc_claim_message("HtlcNative", b.w3.eth.chain_id, htlc.address, key, keeper, bob)
        sig = b.accounts[1].sign_message(claim).signature
        call = fn.claimWithSig(p, AMOUNT, bob, alice, timelock, bob, sig)
        relayed.append(b.gas(call, sender=2))
    # Batch: 10 swaps claimed one by one against 10 claimed in one transaction.
    singles = []
    for _ in range(BATCH):
        p, h = _preimage()
        timelock = b.now() + HOUR
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        singles.append(b.gas(fn.claim(p, AMOUNT, alice, timelock), sender=1))
    batch = []
    for _ in range(BATCH):
        p, h = _preimage()
        timelock = b.now() + HOUR
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        batch.append((p, AMOUNT, alice, timelock))
    batch_gas = b.gas(fn.claimBatch(batch), sender=1)
    refund_batch = []
    for _ in range(BATCH):
        _, h = _preimage()
        timelock = b.now() + 60
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        refund_batch.append((h, AMOUNT, bob, timelock))
    b.advance_time(61)
    refund_batch_gas = b.gas(fn.refundBatch(refund_batch))
    refund_for_batch = []
    for _ in range(BATCH):
        _, h = _preimage()
        timelock = b.now() + 60
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        refund_for_batch.append((h, AMOUNT, bob, alice, timelock))
    b.advance_time(61)
    refund_for_batch_gas = b.gas(fn.refundForBatch(refund_for_batch), sender=2)
    return {
        "eth_lock": median(locks),
        "eth_claim": median(claims),
        "eth_refund": median(refunds),
        "eth_refund_for": median(refunds_for),
        "eth_claim_relayed": median(relayed),
        "claim_single_x10": sum(singles),
        "claim_batch_10": batch_gas,
        "refund_batch_10": refund_batch_gas,
        "refund_for_batch_10": refund_for_batch_gas,
    }


def _erc20(b: Chain) -> dict[str, int]:
    htlc = b.deploy("HtlcErc20")
    token = b.deploy("HtlcTestToken")
    fn, tk = htlc.functions, token.functions
    alice, bob = b.accounts[0].address, b.accounts[1].address
    b.gas(tk.mint(alice, 1000 * AMOUNT))
    b.gas(tk.mint(bob, AMOUNT))  # the recipient already holds the token
    # Steady state: one open swap of the token (the HTLC's balance slot is non-zero), and alice
    # has used a permit before (her nonce slot is non-zero).
    _, h = _preimage()
    b.gas(
        fn.lockWithPermit(
            h,
            AMOUNT,
            token.address,
            bob,
            b.now() + 10 * HOUR,
            _permit(b, token, htlc.address, AMOUNT),
        )
    )
    locks, claims, permit_locks, refunds = [], [], [], []
    for _ in range(ROUNDS):
        p, h = _preimage()
        timelock = b.now() + HOUR
        b.gas(tk.approve(htlc.address, AMOUNT))  # exact approval, unmeasured
        locks.append(b.gas(fn.lock(h, AMOUNT, token.address, bob, timelock)))
        claims.append(b.gas(fn.claim(p, AMOUNT, token.address, alice, timelock), sender=1))
    for _ in range(ROUNDS):
        _, h = _preimage()
        timelock = b.now() + HOUR
        permit = _permit(b, token, htlc.address, AMOUNT)
        permit_locks.append(
            b.gas(fn.lockWithPermit(h, AMOUNT, token.address, bob, timelock, permit))
        )
    for _ in range(ROUNDS):
        _, h = _preimage()
        timelock = b.now() + 60
        b.gas(tk.approve(htlc.address, AMOUNT))
        b.gas(fn.lock(h, AMOUNT, token.address, bob, timelock))
        b.advance_time(61)
        refunds.append(b.gas(fn.refund(h, AMOUNT, token.address, bob, timelock)))
    refunds_for = []
    for _ in range(ROUNDS):
        _, h = _preimage()
        timelock = b.now() + 60
        b.gas(tk.approve(htlc.address, AMOUNT))
        b.gas(fn.lock(h, AMOUNT, token.address, bob, timelock))
        b.advance_time(61)
        call = fn.refundFor(h, AMOUNT, token.address, bob, alice, timelock)
        refunds_for.append(b.gas(call, sender=2))
    batch = []
    for _ in range(BATCH):
        p, h = _preimage()
        timelock = b.now() + HOUR
        b.gas(tk.approve(htlc.address, AMOUNT))
        b.gas(fn.lock(h, AMOUNT, token.address, bob, timelock))
        batch.append((p, AMOUNT, token.address, alice, timelock))
    batch_gas = b.gas(fn.claimBatch(batch), sender=1)
    return {
        "erc20_lock": median(locks),
        "erc20_claim_batch_10": batch_gas,
        "erc20_claim": median(claims),
        "erc20_refund": median(refunds),
        "erc20_refund_for": median(refunds_for),
        "erc20_permit_lock": median(permit_locks),
    }


def _permit(b: Chain, token: Contract, spender: str, amount: int) -> tuple[int, int, bytes, bytes]:
    owner = b.accounts[0]
    deadline = b.now() + HOUR
    msg = permit_message(
        token.functions.name().call(),
        "1",
        b.w3.eth.chain_id,
        token.address,
        owner.address,
        spender,
        amount,
        token.functions.nonces(owner.address).call(),
        deadline,
    )
    return deadline, *signature_vrs(bytes(owner.sign_message(msg).signature))


def _erc721(b: Chain) -> dict[str, int]:
    htlc = b.deploy("HtlcErc721")
    nft = b.deploy("HtlcTestNft")
    fn, nf = htlc.functions, nft.functions
    alice, bob = b.accounts[0].address, b.accounts[1].address
    next_id = iter(range(1, 1_000_000))
    b.gas(nf.mint(bob, next(next_id)))  # the recipient already holds one
    # Steady state: the HTLC already holds one token in an open swap.
    token_id = next(next_id)
    b.gas(nf.mint(alice, token_id))
    _, h = _preimage()
    b.gas(
        nf.safeTransferFrom(alice, htlc.address, token_id, _lock_data(h, bob, b.now() + 10 * HOUR))
    )
    locks, claims, refunds = [], [], []
    for _ in range(ROUNDS):
        p, h = _preimage()
        token_id = next(next_id)
        b.gas(nf.mint(alice, token_id))
        timelock = b.now() + HOUR
        data = _lock_data(h, bob, timelock)
        locks.append(b.gas(nf.safeTransferFrom(alice, htlc.address, token_id, data)))
        claims.append(b.gas(fn.claim(p, token_id, nft.address, alice, timelock), sender=1))
    for _ in range(ROUNDS):
        _, h = _preimage()
        token_id = next(next_id)
        b.gas(nf.mint(alice, token_id))
        timelock = b.now() + 60
        b.gas(nf.safeTransferFrom(alice, htlc.address, token_id, _lock_data(h, bob, timelock)))
        b.advance_time(61)
        refunds.append(b.gas(fn.refund(h, token_id, nft.address, bob, timelock)))
    refunds_for = []
    for _ in range(ROUNDS):
        _, h = _preimage()
        token_id = next(next_id)
        b.gas(nf.mint(alice, token_id))
        timelock = b.now() + 60
        b.gas(nf.safeTransferFrom(alice, htlc.address, token_id, _lock_data(h, bob, timelock)))
        b.advance_time(61)
        call = fn.refundFor(h, token_id, nft.address, bob, alice, timelock)
        refunds_for.append(b.gas(call, sender=2))
    return {
        "erc721_lock": median(locks),
        "erc721_claim": median(claims),
        "erc721_refund": median(refunds),
        "erc721_refund_for": median(refunds_for),
    }


def _lock_data(hashlock: bytes, claimer: str, timelock: int) -> bytes:
    return encode(["bytes32", "address", "uint256"], [hashlock, claimer, timelock])


def measure(url: str) -> dict[str, int]:
    """Gas figures of every HTLC path on the anvil node at ``url``."""
    b = Chain.connect("anvil", url, accounts=10)
    figures: dict[str, int] = {}
    for part in (_native, _erc20, _erc721):
        figures.update(part(b))
    return figures


def main(argv: list[str] | None = None) -> None:
    standalone(measure, __doc__, "HTLC gas (receipt gasUsed, anvil)", argv)


if __name__ == "__main__":
    main()
