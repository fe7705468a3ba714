"""Strict reading of JSON-RPC answers: every value a node sends is untrusted input.

Failures are ``RpcResponseInvalid`` (retryable: another endpoint, or the same one later, may
answer correctly), never a ``KeyError`` or ``ValueError`` from deep inside a parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.errors import DecodeError, RpcResponseInvalid
from adapters.rpcjson import rpc_data, rpc_quantity
from adapters.types import Address

__all__ = [
    "as_object",
    "clip",
    "field",
    "has_hint",
    "hexstr",
    "object_or_none",
    "optional_address",
    "parse_data",
    "parse_quantity",
]


def parse_quantity(value: Any, what: str, bits: int = 256) -> int:
    """A JSON-RPC quantity ("0x1a"); ``RpcResponseInvalid`` for anything else."""
    try:
        return rpc_quantity(value, what, bits)
    except DecodeError as exc:
        raise _malformed(exc, value) from None


def parse_data(value: Any, what: str, size: int | None = None) -> bytes:
    """JSON-RPC data ("0x..." even-length hex), optionally of an exact byte size."""
    try:
        return rpc_data(value, what, size)
    except DecodeError as exc:
        raise _malformed(exc, value) from None


def _malformed(exc: DecodeError, value: Any) -> RpcResponseInvalid:
    return RpcResponseInvalid(
        f"node sent a malformed value: {exc.message}", value=clip(value), **exc.context
    )


def clip(value: Any) -> str:
    """A short repr for errors and logs (node answers can be megabytes)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RpcResponseInvalid("node sent a non-object where an object belongs", field=what)
    return value


def object_or_none(value: Any) -> Mapping[str, Any] | None:
    """A JSON object, or None for JSON null (the node's "no such block/transaction")."""
    return None if value is None else as_object(value, "result")


def field(obj: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in obj:
        raise RpcResponseInvalid("node answer lacks a field", field=f"{what}.{key}")
    return obj[key]


def optional_address(value: Any, what: str) -> Address | None:
    return None if value is None else Address(parse_data(value, what, 20))


def hexstr(data: bytes) -> str:
    return "0x" + data.hex()


def has_hint(message: str, hints: Sequence[str]) -> bool:
    """Whether a node's error message contains one of ``hints`` (clients word errors
    differently; there is no standard code for "nonce too low" or "already known")."""
    lowered = message.lower()
    return any(h in lowered for h in hints)
