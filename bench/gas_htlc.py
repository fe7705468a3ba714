"""Gas of the xgate HTLCs (contracts/src/htlc): ``python -m bench.gas_htlc [--json]``.

``measure(url)`` runs against an already running anvil and returns receipt ``gasUsed`` per
path, under docs/htlc.md §6 steady-state conditions: the HTLC already holds one open swap of
the same asset, the recipient already holds a balance of the asset, the approval is sent in a
separate unmeasured transaction, and every swap gets a fresh random 32-byte preimage; each
figure is the median of 5. ``bench.gas`` merges these figures with the other areas' and
compares them with issue 3's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from bench._table import emit, progress
from contracts import load_artifact
from devnet.anvil import start_anvil
from devnet.keys import dev_accounts

ROUNDS = 5
BATCH = 10
AMOUNT = 10**18  # 1 coin / 1 token (18 decimals)
HOUR = 3600
ZERO = "0x" + "00" * 20


def _preimage() -> tuple[bytes, bytes]:
    preimage = os.urandom(32)
    return preimage, hashlib.sha256(preimage).digest()


@dataclass
class _Bench:
    w3: Web3
    accounts: list[LocalAccount]

    def deploy(self, name: str, *args: Any, sender: int = 0) -> Contract:
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        receipt = self._send(factory.constructor(*args), sender, 0)
        address = receipt["contractAddress"]
        assert address is not None
        return self.w3.eth.contract(address=address, abi=list(art.abi))

    def gas(self, call: ContractFunction, sender: int = 0, value: int = 0) -> int:
        return int(self._send(call, sender, value)["gasUsed"])

    def _send(self, call: Any, sender: int, value: int) -> TxReceipt:
        account = self.accounts[sender]
        tx = call.build_transaction(
            {
                "from": account.address,
                "value": value,
                "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
                "maxPriorityFeePerGas": 1,
                "maxFeePerGas": 2 * int(self.w3.eth.get_block("latest")["baseFeePerGas"]) + 1,
            }
        )
        tx_hash = self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.02)
        if receipt["status"] != 1:
            raise RuntimeError(f"benchmark transaction reverted: {call.fn_name}")
        return receipt

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _median(samples: list[int]) -> int:
    return int(statistics.median(samples))


def _native(b: _Bench) -> dict[str, int]:
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
        b.advance(61)
        refunds.append(b.gas(fn.refund(h, AMOUNT, bob, timelock)))
    relayed = []
    for _ in range(ROUNDS):
        p, h = _preimage()
        timelock = b.now() + HOUR
        b.gas(fn.lock(h, bob, timelock), value=AMOUNT)
        key = fn.swapKey(h, AMOUNT, ZERO, bob, alice, timelock).call()
        keeper = b.accounts[2].address
        digest = fn.claimDigest(key, keeper, bob).call()
        sig = b.accounts[1].unsafe_sign_hash(digest).signature
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
    b.advance(61)
    refund_batch_gas = b.gas(fn.refundBatch(refund_batch))
    return {
        "eth_lock": _median(locks),
        "eth_claim": _median(claims),
        "eth_refund": _median(refunds),
        "eth_claim_relayed": _median(relayed),
        "claim_single_x10": sum(singles),
        "claim_batch_10": batch_gas,
        "refund_batch_10": refund_batch_gas,
    }


def _erc20(b: _Bench) -> dict[str, int]:
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
        b.advance(61)
        refunds.append(b.gas(fn.refund(h, AMOUNT, token.address, bob, timelock)))
    batch = []
    for _ in range(BATCH):
        p, h = _preimage()
        timelock = b.now() + HOUR
        b.gas(tk.approve(htlc.address, AMOUNT))
        b.gas(fn.lock(h, AMOUNT, token.address, bob, timelock))
        batch.append((p, AMOUNT, token.address, alice, timelock))
    batch_gas = b.gas(fn.claimBatch(batch), sender=1)
    return {
        "erc20_lock": _median(locks),
        "erc20_claim_batch_10": batch_gas,
        "erc20_claim": _median(claims),
        "erc20_refund": _median(refunds),
        "erc20_permit_lock": _median(permit_locks),
    }


def _permit(b: _Bench, token: Contract, spender: str, amount: int) -> tuple[int, int, bytes, bytes]:
    owner = b.accounts[0]
    deadline = b.now() + HOUR
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": token.functions.name().call(),
            "version": "1",
            "chainId": b.w3.eth.chain_id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": owner.address,
            "spender": spender,
            "value": amount,
            "nonce": token.functions.nonces(owner.address).call(),
            "deadline": deadline,
        },
    }
    sig = owner.sign_message(encode_typed_data(full_message=typed))
    return deadline, sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")


def _erc721(b: _Bench) -> dict[str, int]:
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
        b.advance(61)
        refunds.append(b.gas(fn.refund(h, token_id, nft.address, bob, timelock)))
    return {
        "erc721_lock": _median(locks),
        "erc721_claim": _median(claims),
        "erc721_refund": _median(refunds),
    }


def _lock_data(hashlock: bytes, claimer: str, timelock: int) -> bytes:
    return encode(["bytes32", "address", "uint256"], [hashlock, claimer, timelock])


def measure(url: str) -> dict[str, int]:
    """Gas figures of every HTLC path on the anvil node at ``url``."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    accounts = [Account.from_key(a.private_key) for a in dev_accounts(10)]
    b = _Bench(w3, accounts)
    figures: dict[str, int] = {}
    for part in (_native, _erc20, _erc721):
        figures.update(part(b))
    return figures


async def _run() -> dict[str, int]:
    async with start_anvil() as node:
        return await asyncio.to_thread(measure, node.url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures")
    args = parser.parse_args(argv)
    progress("bench.gas_htlc: starting anvil")
    emit(asyncio.run(_run()), args.json, title="HTLC gas (receipt gasUsed, anvil)")


if __name__ == "__main__":
    main()
