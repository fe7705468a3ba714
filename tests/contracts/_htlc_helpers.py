"""Helpers for the HTLC contract tests: the swap key computed in Python exactly as the contracts
do, EIP-712 claims and permits (gateway.domain.typed_data), and a check that an attacker's call
reverts on chain and changes nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, Hash32
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from gateway.domain.typed_data import HtlcName, htlc_claim_message, permit_message, signature_vrs
from harness import Chain, Reverted

ZERO = "0x" + "00" * 20
HOUR = 3600


def new_secret() -> tuple[bytes, bytes]:
    """A fresh random 32-byte preimage and its sha256 hashlock."""
    preimage = os.urandom(32)
    return preimage, hashlib.sha256(preimage).digest()


def swap_key(
    hashlock: bytes, value: int, token: str, claimer: str, refunder: str, timelock: int
) -> bytes:
    """The contracts' storage key: keccak256(abi.encode(hashlock, value, token, claimer,
    refunder, timelock)); token is the zero address for the native coin."""
    return keccak(
        encode(
            ["bytes32", "uint256", "address", "address", "address", "uint256"],
            [hashlock, value, token, claimer, refunder, timelock],
        )
    )


def sign_claim(
    signer: LocalAccount,
    contract: Contract,
    name: HtlcName,
    chain_id: int,
    key: bytes,
    submitter: str,
    destination: str,
) -> bytes:
    """The claimer's EIP-712 `Claim` signature (built independently of the contract)."""
    msg = htlc_claim_message(name, chain_id, contract.address, key, submitter, destination)
    return bytes(signer.sign_message(msg).signature)


def permit_args(
    chain: Chain, token: Contract, owner: int, spender: str, amount: int, signer: int | None = None
) -> tuple[int, int, bytes, bytes]:
    """An EIP-2612 permit of `owner` for `spender` (signed by `signer`, default the owner)."""
    account = chain.accounts[owner]
    deadline = chain.now() + HOUR
    msg = permit_message(
        token.functions.name().call(),
        "1",
        chain.chain_id,
        token.address,
        account.address,
        spender,
        amount,
        token.functions.nonces(account.address).call(),
        deadline,
    )
    key = chain.accounts[owner if signer is None else signer]
    return deadline, *signature_vrs(bytes(key.sign_message(msg).signature))


def lock_data(hashlock: bytes, claimer: str, timelock: int, refunder: str | None = None) -> bytes:
    """`data` for an ERC-721 lock through safeTransferFrom."""
    if refunder is None:
        return encode(["bytes32", "address", "uint256"], [hashlock, claimer, timelock])
    return encode(
        ["bytes32", "address", "address", "uint256"], [hashlock, claimer, refunder, timelock]
    )


def rejects(
    chain: Chain,
    call: ContractFunction,
    error: str,
    watch: Callable[[], Any],
    sender: int = 0,
    value: int = 0,
) -> Reverted:
    """The attacker's call reverts with custom error `error` (decoded from eth_call), and when
    mined anyway it fails and leaves `watch()` (the state the test cares about) unchanged."""
    before = watch()
    reverted = chain.expect_revert(call, error, sender=sender, value=value)
    receipt = chain.send_unchecked(call, sender=sender, value=value)
    assert receipt["status"] == 0
    assert watch() == before
    return reverted


def eth_balance(chain: Chain, who: str) -> int:
    return int(chain.w3.eth.get_balance(to_checksum_address(who)))


def sign_hash(signer: LocalAccount, digest: bytes) -> bytes:
    """A raw signature over an EIP-712 digest read from the contract."""
    return bytes(signer.unsafe_sign_hash(Hash32(digest)).signature)


def eth_spent(receipt: TxReceipt) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def address(chain: Chain, index: int) -> ChecksumAddress:
    return to_checksum_address(chain.accounts[index].address)


@dataclass
class Env:
    """One deployed HTLC (plus its assets) on one chain, shared by a module's tests."""

    chain: Chain
    htlc: Contract
    name: str
    token: Any = None  # the asset contract (ERC-20 / ERC-721), None for the native coin
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self, *args: Any) -> bytes:
        return bytes(self.htlc.functions.swapKey(*args).call())

    def is_open(self, key: bytes) -> bool:
        return bool(self.htlc.functions.swaps(key).call())


def logs(contract: Contract, event: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """Decoded `event` logs of `contract` in `receipt`, as plain dicts of their arguments."""
    found = getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)
    return [dict(entry["args"]) for entry in found if entry["address"] == contract.address]
