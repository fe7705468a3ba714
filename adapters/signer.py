"""Transaction signers. A ``Signer`` turns an ``UnsignedTx`` into raw bytes; keys stay inside.

``LocalSigner`` holds a secp256k1 key in memory (eth-account). Its repr, str and error
messages show only the address; the key cannot be read back through a public attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eth_account import Account
from eth_account.messages import SignableMessage
from eth_utils.address import to_checksum_address

from adapters.errors import ConfigError, FatalError
from adapters.types import Address, ChainId, TxHash

__all__ = ["LocalSigner", "SignedTx", "Signer", "SigningFailed", "UnsignedTx"]


class SigningFailed(FatalError):
    """The signer refused or failed to sign (bad fields, unavailable key)."""


@dataclass(frozen=True, slots=True)
class UnsignedTx:
    """A fully specified transaction. EIP-1559 when ``max_fee_per_gas`` is set, else legacy
    (``gas_price``, EIP-155 replay protection). ``to`` None creates a contract."""

    chain_id: ChainId
    nonce: int
    to: Address | None
    value: int
    data: bytes
    gas: int
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None

    def __post_init__(self) -> None:
        dynamic = self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None
        legacy = self.gas_price is not None
        if dynamic == legacy or (
            (self.max_fee_per_gas is None) != (self.max_priority_fee_per_gas is None)
        ):
            raise SigningFailed("transaction needs either EIP-1559 fees or a gas price")
        if self.to is not None and len(self.to) != 20:
            raise SigningFailed("recipient must be 20 bytes", to=self.to)


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    tx_hash: TxHash


@runtime_checkable
class Signer(Protocol):
    """Signs transactions for one account. Implementations may be remote (KMS, HSM)."""

    @property
    def address(self) -> Address:
        """The 20-byte account address the signatures recover to."""
        ...

    async def sign_transaction(self, tx: UnsignedTx) -> SignedTx:
        """Sign ``tx`` and return the raw RLP bytes (EIP-2718 envelope) and its hash."""
        ...


def _tx_dict(tx: UnsignedTx) -> dict[str, Any]:
    out: dict[str, Any] = {
        "chainId": int(tx.chain_id),
        "nonce": tx.nonce,
        "value": tx.value,
        "data": tx.data,
        "gas": tx.gas,
    }
    if tx.to is not None:
        out["to"] = to_checksum_address(tx.to)
    if tx.max_fee_per_gas is not None:
        out["type"] = 2
        out["maxFeePerGas"] = tx.max_fee_per_gas
        out["maxPriorityFeePerGas"] = tx.max_priority_fee_per_gas
    else:
        out["gasPrice"] = tx.gas_price
    return out


class LocalSigner:
    """An in-memory key. Use for dev accounts and tests; production keys belong in a KMS."""

    __slots__ = ("__key", "_address")

    def __init__(self, private_key: bytes) -> None:
        if not isinstance(private_key, bytes) or len(private_key) != 32:
            # Deliberately no value in the error: it would be the key.
            raise ConfigError("private key must be 32 raw bytes")
        try:
            account = Account.from_key(private_key)
        except Exception as exc:  # eth-keys raises several types for an out-of-range key
            raise ConfigError("private key is not a valid secp256k1 key") from exc
        self.__key = private_key
        self._address = Address(bytes.fromhex(account.address[2:]))

    @property
    def address(self) -> Address:
        return self._address

    async def sign_transaction(self, tx: UnsignedTx) -> SignedTx:
        try:
            signed = Account.sign_transaction(_tx_dict(tx), self.__key)
        except (TypeError, ValueError) as exc:
            raise SigningFailed("transaction could not be signed", reason=str(exc)) from exc
        return SignedTx(raw=bytes(signed.raw_transaction), tx_hash=TxHash(bytes(signed.hash)))

    def sign_message(self, message: SignableMessage) -> bytes:
        """Sign an EIP-191/EIP-712 message (an attester's header, a relayed-claim authorisation):
        65 bytes r || s || v with v in {27, 28}, as OpenZeppelin's ECDSA.recover takes them."""
        try:
            signed = Account.sign_message(message, self.__key)
        except (TypeError, ValueError) as exc:
            raise SigningFailed("message could not be signed", reason=str(exc)) from exc
        return bytes(signed.signature)

    def __repr__(self) -> str:
        return f"LocalSigner(address={to_checksum_address(self._address)})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would copy the key out of the process (e.g. into a crash dump or queue).
        raise TypeError("LocalSigner cannot be pickled")
