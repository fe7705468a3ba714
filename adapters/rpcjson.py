"""Strict parsing of the hex values in Ethereum JSON-RPC objects (DATA and QUANTITY).

Shared by the codecs that read node answers (headers, receipts, transactions, ``eth_getProof``)
so every one of them accepts exactly the same spellings: a ``0x`` prefix and hex digits only.
Python's ``int(s, 16)`` and ``bytes.fromhex`` also take signs, underscores and white space,
which no node sends and no JSON-RPC client should accept. Errors are ``DecodeError`` with the
offending ``field``; the I/O layer converts them to its own error (``adapters.evm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.errors import DecodeError

__all__ = ["rpc_data", "rpc_field", "rpc_quantity"]


def rpc_data(value: object, field: str, size: int | None = None) -> bytes:
    """A DATA value ("0x" + an even number of hex digits), optionally of exactly ``size`` bytes."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise DecodeError("value is not a 0x hex string", field=field)
    digits = value[2:]
    if len(digits) % 2:
        raise DecodeError("hex value has an odd number of digits", field=field)
    try:
        raw = bytes.fromhex(digits)
    except ValueError as exc:
        raise DecodeError("value is not hex", field=field) from exc
    if 2 * len(raw) != len(digits):  # fromhex skipped white space
        raise DecodeError("value is not hex", field=field)
    if size is not None and len(raw) != size:
        raise DecodeError("hex value has the wrong size", field=field, size=len(raw), expected=size)
    return raw


def rpc_quantity(value: object, field: str, bits: int = 256) -> int:
    """A QUANTITY ("0x" + at least one hex digit) of at most ``bits`` bits."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) < 3:
        raise DecodeError("value is not a 0x hex string", field=field)
    digits = value[2:]
    if not (digits.isascii() and digits.isalnum()):  # int() takes "+", "-", "_", spaces
        raise DecodeError("value is not hex", field=field)
    try:
        number = int(digits, 16)
    except ValueError as exc:
        raise DecodeError("value is not hex", field=field) from exc
    if number.bit_length() > bits:
        raise DecodeError("quantity out of range", field=field, bits=bits)
    return number


def rpc_field(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]``; ``DecodeError`` when the node left the field out."""
    try:
        return obj[name]
    except KeyError:
        raise DecodeError("missing field", field=name) from None
