"""Deterministic DEV-ONLY keys: validators and funded accounts of every devnet chain.

These keys are public knowledge (anvil's default mnemonic, and validator keys derived from a
fixed label), so every devnet chain has the same addresses. Never use them on a real network.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from eth_account import Account
from eth_hash.auto import keccak

from adapters.bft import address_of_key

DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
# Dev accounts `xgate devnet up` funds and allowlists on the consortium: the services sign with
# some of the first ten, the demo's finance flows need suppliers, buyers and a wash ring beyond.
DEVNET_DEV_ACCOUNTS: Final = 24
_VALIDATOR_LABEL: Final = b"xgate devnet validator key (dev only) #"


@dataclass(frozen=True, slots=True)
class DevKey:
    """A dev-only key pair. ``address`` is 20 raw bytes."""

    address: bytes
    private_key: bytes

    @property
    def hex_address(self) -> str:
        return "0x" + self.address.hex()

    def __repr__(self) -> str:  # keep keys out of logs and tracebacks
        return f"DevKey(address={self.hex_address})"


@functools.cache
def dev_accounts(count: int = 10) -> tuple[DevKey, ...]:
    """The first ``count`` accounts of anvil's default mnemonic (m/44'/60'/0'/0/i)."""
    Account.enable_unaudited_hdwallet_features()
    out = []
    for index in range(count):
        acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        out.append(DevKey(bytes.fromhex(acct.address[2:]), bytes(acct.key)))
    return tuple(out)


@functools.cache
def validator_keys(count: int) -> tuple[DevKey, ...]:
    """``count`` deterministic validator keys: keccak(label ‖ index)."""
    out = []
    for index in range(count):
        key = keccak(_VALIDATOR_LABEL + str(index).encode())
        out.append(DevKey(bytes(address_of_key(key)), key))
    return tuple(out)
