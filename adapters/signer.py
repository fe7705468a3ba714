"""Transaction signers. A ``Signer`` turns an ``UnsignedTx`` into raw bytes; keys stay inside.

``LocalSigner`` holds a secp256k1 key in memory (eth-account). Its repr, str and error
messages show only the address; the key cannot be read back through a public attribute.

``RemoteSigner`` holds no key: it asks a remote JSON-RPC signer ``eth_signTransaction`` (the
way Web3Signer, a node with unlocked accounts or a hardware-wallet bridge sign), then decodes
the raw transaction it answers (``adapters.rawtx``) and checks it before anyone broadcasts it: the signature
recovers to the configured address and every field is the one asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiohttp
from eth_account import Account
from eth_account.messages import SignableMessage
from eth_utils.address import to_checksum_address

from adapters.errors import ConfigError, DecodeError, FatalError
from adapters.rawtx import InvalidRawTransaction, RawTransaction, decode_raw_transaction
from adapters.rlpcodec import rlp_decode_list, rlp_scalar
from adapters.types import Address, ChainId, TxHash

__all__ = ["LocalSigner", "RemoteSigner", "SignedTx", "Signer", "SigningFailed", "UnsignedTx"]


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


class RemoteSigner:
    """An account whose key lives elsewhere: a JSON-RPC endpoint answering
    ``eth_signTransaction`` (Web3Signer, Clef behind a node, a hardware-wallet bridge, anvil's
    unlocked dev accounts). Nothing it answers is trusted: the raw transaction is decoded, its
    signature must recover to ``address`` and its chain id, nonce, recipient, value, data, gas
    and fees must be the ones asked for, else ``SigningFailed``. The URL (it may carry a
    token) appears in no repr or error, only its host."""

    __slots__ = ("_address", "_host", "_timeout_s", "_url")

    def __init__(self, url: str, address: Address, *, timeout_s: float = 300.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("an external signer needs an http(s) URL")
        if not isinstance(address, bytes) or len(address) != 20:
            raise ConfigError("an external signer needs its 20-byte account address")
        self._url = url
        self._host = parts.hostname
        self._address = Address(bytes(address))
        # A hardware wallet waits for a person to press a button: minutes, not seconds.
        self._timeout_s = timeout_s

    @property
    def address(self) -> Address:
        return self._address

    def request_params(self, tx: UnsignedTx) -> dict[str, Any]:
        """The ``eth_signTransaction`` object for ``tx`` (quantities as 0x hex)."""
        out: dict[str, Any] = {
            "from": to_checksum_address(self._address),
            "chainId": hex(tx.chain_id),
            "nonce": hex(tx.nonce),
            "value": hex(tx.value),
            "gas": hex(tx.gas),
            "data": "0x" + tx.data.hex(),
            "input": "0x" + tx.data.hex(),
        }
        if tx.to is not None:
            out["to"] = to_checksum_address(tx.to)
        if tx.max_fee_per_gas is not None:
            assert tx.max_priority_fee_per_gas is not None  # UnsignedTx checks both are set
            out["type"] = "0x2"
            out["maxFeePerGas"] = hex(tx.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = hex(tx.max_priority_fee_per_gas)
        else:
            assert tx.gas_price is not None
            out["gasPrice"] = hex(tx.gas_price)
        return out

    async def sign_transaction(self, tx: UnsignedTx) -> SignedTx:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_signTransaction"}
        body["params"] = [self.request_params(tx)]
        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self._url, json=body) as resp,
            ):
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SigningFailed(
                "external signer unreachable", host=self._host, reason=type(exc).__name__
            ) from exc
        try:
            answer = json.loads(text)
        except ValueError:
            raise SigningFailed("external signer answered no JSON", host=self._host) from None
        if not isinstance(answer, dict) or "error" in answer or "result" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
            raise SigningFailed(
                "external signer refused to sign", host=self._host, reason=str(message)[:200]
            )
        return self.checked(tx, answer["result"])

    def checked(self, tx: UnsignedTx, result: Any) -> SignedTx:
        """The signer's answer (the raw transaction as hex, or geth's ``{raw, tx}``) decoded
        and checked against ``tx``; ``SigningFailed`` naming the first field that differs."""
        raw_hex = result.get("raw") if isinstance(result, dict) else result
        if not isinstance(raw_hex, str) or not raw_hex.startswith("0x"):
            raise SigningFailed("external signer answered no raw transaction", host=self._host)
        try:
            decoded = decode_raw_transaction(bytes.fromhex(raw_hex[2:]))
            signed = _signed_fields(decoded)
        except (ValueError, InvalidRawTransaction, DecodeError) as exc:
            raise SigningFailed(
                "external signer answered an undecodable transaction",
                host=self._host,
                reason=getattr(exc, "message", type(exc).__name__),
            ) from exc
        if decoded.sender != self._address:
            raise SigningFailed(
                "external signer signed with another account",
                expected=to_checksum_address(self._address),
                got=to_checksum_address(decoded.sender),
            )
        asked = _asked_fields(tx)
        for key, value in asked.items():
            if signed.get(key) != value:
                raise SigningFailed(
                    f"external signer changed the transaction's {key}",
                    asked=value,
                    got=signed.get(key),
                )
        return SignedTx(raw=decoded.raw, tx_hash=decoded.tx_hash)

    def __repr__(self) -> str:
        return f"RemoteSigner(address={to_checksum_address(self._address)}, host={self._host})"

    __str__ = __repr__


def _asked_fields(tx: UnsignedTx) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": 2 if tx.max_fee_per_gas is not None else 0,
        "chain_id": int(tx.chain_id),
        "nonce": tx.nonce,
        "to": None if tx.to is None else bytes(tx.to),
        "value": tx.value,
        "data": bytes(tx.data),
        "gas": tx.gas,
    }
    if tx.max_fee_per_gas is not None:
        out["max_fee_per_gas"] = tx.max_fee_per_gas
        out["max_priority_fee_per_gas"] = tx.max_priority_fee_per_gas
    else:
        out["gas_price"] = tx.gas_price
    return out


def _signed_fields(tx: RawTransaction) -> dict[str, Any]:
    """A signed transaction's fields by ``_asked_fields``' names: ``decode_raw_transaction``'s,
    and the gas and fees it does not keep (typed: EIP-1559 only, legacy: EIP-155)."""
    items = rlp_decode_list(tx.raw[1:] if tx.tx_type else tx.raw, "signed transaction")
    fields: dict[str, Any] = {
        "type": tx.tx_type,
        "chain_id": int(tx.chain_id),
        "nonce": tx.nonce,
        "to": None if tx.to is None else bytes(tx.to),
        "value": tx.value,
        "data": tx.data,
    }
    if tx.tx_type == 2:
        tip, max_fee, gas = items[2:5]
        return fields | {
            "max_priority_fee_per_gas": rlp_scalar(tip, "max priority fee", 256),
            "max_fee_per_gas": rlp_scalar(max_fee, "max fee", 256),
            "gas": rlp_scalar(gas, "gas", 64),
        }
    if tx.tx_type == 0:
        price, gas = items[1:3]
        return fields | {
            "gas_price": rlp_scalar(price, "gas price", 256),
            "gas": rlp_scalar(gas, "gas", 64),
        }
    raise SigningFailed("external signer answered an unexpected transaction type", type=tx.tx_type)
