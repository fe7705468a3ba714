"""Signed raw transactions a wallet made, decoded before they are forwarded to a node.

``decode_raw_transaction`` reads an EIP-2718 typed transaction (access list, EIP-1559 ...) or a
legacy one, recovers its sender from the signature and says which chain it is for. A legacy
transaction without an EIP-155 chain id is refused: it could be replayed on any chain. Pure
and synchronous; ``EvmAdapter.send_raw_transaction`` checks the chain and sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from adapters.base import BadRequest
from adapters.errors import DecodeError
from adapters.rlpcodec import keccak, rlp_decode_list, rlp_scalar
from adapters.types import Address, ChainId, TxHash

__all__ = [
    "InvalidRawTransaction",
    "RawTransaction",
    "WrongChainTransaction",
    "decode_raw_transaction",
]

MAX_RAW_TX_BYTES = 128 * 1024  # geth's txMaxSize


class InvalidRawTransaction(BadRequest):
    """Bytes that are not a signed transaction this gateway forwards."""


class WrongChainTransaction(InvalidRawTransaction):
    """A signed transaction for another chain than the one it was sent to."""


@dataclass(frozen=True, slots=True)
class RawTransaction:
    """A decoded signed transaction: ``tx_hash`` is keccak of the raw bytes (what the node
    will answer); ``to`` None creates a contract."""

    raw: bytes
    tx_hash: TxHash
    tx_type: int
    chain_id: ChainId
    sender: Address
    nonce: int
    to: Address | None
    value: int
    data: bytes


def decode_raw_transaction(raw: bytes) -> RawTransaction:
    """``raw`` decoded; ``InvalidRawTransaction`` (with the reason) when it is not a signed
    transaction with a chain id."""
    if not isinstance(raw, bytes) or not raw:
        raise InvalidRawTransaction("empty raw transaction")
    if len(raw) > MAX_RAW_TX_BYTES:
        raise InvalidRawTransaction("raw transaction too large", size=len(raw))
    try:
        fields = _typed_fields(raw) if raw[0] <= 0x7F else _legacy_fields(raw)
        sender = Address(bytes.fromhex(Account.recover_transaction(raw)[2:]))
    except InvalidRawTransaction:
        raise
    except (DecodeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidRawTransaction(
            "not a signed transaction", reason=f"{type(exc).__name__}: {exc}"[:200]
        ) from exc
    except Exception as exc:  # the decoders' own error types (rlp, eth_keys) vary by version
        raise InvalidRawTransaction("not a signed transaction", reason=type(exc).__name__) from exc
    return RawTransaction(raw=raw, tx_hash=TxHash(keccak(raw)), sender=sender, **fields)


def _typed_fields(raw: bytes) -> dict[str, Any]:
    tx = TypedTransaction.from_bytes(HexBytes(raw))
    d = tx.as_dict()
    to = d.get("to")
    return {
        "tx_type": raw[0],
        "chain_id": ChainId(int(d["chainId"])),
        "nonce": int(d["nonce"]),
        "to": Address(bytes(to)) if to else None,
        "value": int(d.get("value", 0)),
        "data": bytes(d.get("data", b"")),
    }


def _legacy_fields(raw: bytes) -> dict[str, Any]:
    items = rlp_decode_list(raw, "legacy transaction")
    if len(items) != 9 or any(not isinstance(i, bytes) for i in items):
        raise InvalidRawTransaction("a legacy transaction has 9 fields", fields=len(items))
    nonce, _price, _gas, to, value, data, v_raw, _r, _s = items
    assert isinstance(to, bytes) and isinstance(data, bytes)
    v = rlp_scalar(v_raw, "v", 256)
    if v < 35:
        raise InvalidRawTransaction(
            "a legacy transaction without an EIP-155 chain id can be replayed on any chain"
        )
    if to and len(to) != 20:
        raise InvalidRawTransaction("the recipient is not 20 bytes")
    return {
        "tx_type": 0,
        "chain_id": ChainId((v - 35) // 2),
        "nonce": rlp_scalar(nonce, "nonce", 64),
        "to": Address(to) if to else None,
        "value": rlp_scalar(value, "value", 256),
        "data": data,
    }
