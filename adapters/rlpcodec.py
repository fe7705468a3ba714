"""Strict RLP and keccak, shared by the header, extraData, receipt and trie-proof codecs.

Hand-written because pyrlp is measurably too slow on the verification hot paths
(``python -m bench.verify``): its decoder builds per-item encodings we never use (~23 us for a
532-byte branch node, ~100 us of the ~430 us budget per verified QBFT header, against a few us
here) and ``rlp.encode`` takes ~28 us for a header against ~9 us here. Acceptance and output
equal ``rlp.decode(strict=True)`` / ``rlp.encode`` (differential tests in test_rlpcodec.py).

Decoding is canonical-only: a single byte < 0x80 wrapped as a string, a long form for a short
payload, a length with leading zeros, truncation and trailing bytes each raise ``DecodeError``
with the ``offset`` of the offending item.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.errors import DecodeError

try:
    # safe-pysha3's C keccak hashes a header-sized input in ~3.5 us against ~11 us through
    # eth-hash's default pycryptodome backend (cffi round trips); verification hashes each
    # header 2-3 times and every proof node once.
    from sha3 import keccak_256 as _keccak_256

    KECCAK_BACKEND = "pysha3"

    def keccak(data: bytes) -> bytes:
        """keccak256 of ``data``."""
        digest: bytes = _keccak_256(data).digest()
        return digest

except ImportError:  # pragma: no cover - depends on the environment
    from eth_hash.auto import keccak as _eth_keccak

    KECCAK_BACKEND = "eth-hash auto"

    def keccak(data: bytes) -> bytes:
        """keccak256 of ``data``."""
        return _eth_keccak(data)


__all__ = [
    "KECCAK_BACKEND",
    "MAX_RLP_DEPTH",
    "RlpItem",
    "keccak",
    "rlp_decode",
    "rlp_decode_list",
    "rlp_encode_strings",
    "rlp_item_bounds",
    "rlp_list",
    "rlp_list_prefix",
    "rlp_scalar",
    "rlp_string",
    "scalar_bytes",
]

RlpItem = bytes | list["RlpItem"]

# Deepest list nesting any decoder accepts. Real structures nest at most 4 deep (a typed
# transaction's access list); the bound keeps hostile input from recursing into RecursionError.
MAX_RLP_DEPTH = 32


# --- decoding ----------------------------------------------------------------------------------


def _long_length(data: bytes, pos: int, end: int, width: int) -> tuple[int, int]:
    """(payload_start, payload_stop) of a long-form item at ``pos`` with a ``width``-byte length."""
    start = pos + 1 + width
    if start > end:
        raise DecodeError("RLP length prefix is truncated", offset=pos)
    if data[pos + 1] == 0:
        raise DecodeError("RLP length has leading zeros", offset=pos)
    size = int.from_bytes(data[pos + 1 : start], "big")
    if size < 56:
        raise DecodeError("RLP long form used for a short item", offset=pos)
    return start, start + size


def rlp_item_bounds(data: bytes, pos: int, end: int) -> tuple[bool, int, int]:
    """(is_list, payload_start, payload_stop) of the item at ``pos``, which must end by ``end``."""
    if pos >= end:
        raise DecodeError("RLP item is truncated", offset=pos)
    b0 = data[pos]
    if b0 < 0x80:
        return False, pos, pos + 1
    if b0 < 0xB8:
        start, stop = pos + 1, pos + b0 - 0x7F
        if b0 == 0x81 and (start >= end or data[start] < 0x80):
            raise DecodeError("RLP single byte encoded as a string", offset=pos)
    elif b0 < 0xC0:
        start, stop = _long_length(data, pos, end, b0 - 0xB7)
    elif b0 < 0xF8:
        start, stop = pos + 1, pos + b0 - 0xBF
    else:
        start, stop = _long_length(data, pos, end, b0 - 0xF7)
    if stop > end:
        raise DecodeError("RLP item is truncated", offset=pos)
    return b0 >= 0xC0, start, stop


def _decode_list(data: bytes, p: int, stop: int, depth: int) -> list[RlpItem]:
    """Items of the list payload ``data[p:stop]``, a list nested ``depth`` deep (1 = outermost).
    Item headers are parsed inline: a call per item was a large share of the decoding time."""
    items: list[RlpItem] = []
    append = items.append
    while p < stop:
        b0 = data[p]
        if b0 < 0x80:  # a single byte is its own encoding
            append(data[p : p + 1])
            p += 1
        elif b0 < 0xB8:  # short string
            q = p + b0 - 0x7F
            if q > stop:
                raise DecodeError("RLP item is truncated", offset=p)
            if b0 == 0x81 and data[p + 1] < 0x80:
                raise DecodeError("RLP single byte encoded as a string", offset=p)
            append(data[p + 1 : q])
            p = q
        elif b0 < 0xC0:  # long string
            start, q = _long_length(data, p, stop, b0 - 0xB7)
            if q > stop:
                raise DecodeError("RLP item is truncated", offset=p)
            append(data[start:q])
            p = q
        else:
            if b0 < 0xF8:  # short list
                start, q = p + 1, p + b0 - 0xBF
            else:
                start, q = _long_length(data, p, stop, b0 - 0xF7)
            if q > stop:
                raise DecodeError("RLP item is truncated", offset=p)
            if depth >= MAX_RLP_DEPTH:
                raise DecodeError("RLP nested too deeply", offset=p, limit=MAX_RLP_DEPTH)
            append(_decode_list(data, start, q, depth + 1))
            p = q
    return items


def rlp_decode(data: bytes) -> RlpItem:
    """Decode one canonical RLP item that spans all of ``data``; ``DecodeError`` otherwise."""
    if not isinstance(data, bytes):
        raise DecodeError("RLP input must be bytes", type=type(data).__name__)
    is_list, start, stop = rlp_item_bounds(data, 0, len(data))
    if stop != len(data):
        raise DecodeError("RLP has trailing bytes", offset=stop, trailing=len(data) - stop)
    return _decode_list(data, start, stop, 1) if is_list else data[start:stop]


def rlp_decode_list(data: bytes, what: str) -> list[RlpItem]:
    """``rlp_decode`` for ``data`` that must be a list; errors name ``what`` (e.g. "receipt")."""
    try:
        item = rlp_decode(data)
    except DecodeError as exc:
        raise DecodeError(f"{what}: {exc.message}", what=what, **exc.context) from exc
    if not isinstance(item, list):
        raise DecodeError(f"{what} is not an RLP list", what=what)
    return item


def rlp_scalar(raw: RlpItem, what: str, bits: int | None = None) -> int:
    """A decoded RLP integer: a byte string without leading zeros, of at most ``bits`` bits."""
    if not isinstance(raw, bytes):
        raise DecodeError(f"{what} must be an RLP string", what=what)
    if raw[:1] == b"\x00":
        raise DecodeError(f"{what} has leading zeros", what=what, value=raw)
    value = int.from_bytes(raw, "big")
    if bits is not None and value.bit_length() > bits:
        raise DecodeError(f"{what} exceeds {bits} bits", what=what, value=value)
    return value


# --- encoding ----------------------------------------------------------------------------------


def scalar_bytes(value: int) -> bytes:
    """Minimal big-endian bytes of a non-negative int (0 -> b""), as RLP encodes integers."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def rlp_string(item: bytes) -> bytes:
    """RLP of one byte string."""
    size = len(item)
    if size == 1 and item[0] < 0x80:
        return item
    if size < 56:
        return bytes((0x80 + size,)) + item
    length = scalar_bytes(size)
    return bytes((0xB7 + len(length),)) + length + item


def rlp_list_prefix(payload_size: int) -> bytes:
    """The RLP list header for a payload of ``payload_size`` bytes."""
    if payload_size < 56:
        return bytes((0xC0 + payload_size,))
    length = scalar_bytes(payload_size)
    return bytes((0xF7 + len(length),)) + length


def rlp_list(encoded_items: Sequence[bytes]) -> bytes:
    """RLP of a list whose items are already encoded."""
    payload = b"".join(encoded_items)
    return rlp_list_prefix(len(payload)) + payload


def rlp_encode_strings(items: Sequence[bytes]) -> bytes:
    """RLP of a flat list of byte strings (the header hot path: no per-item type checks)."""
    return rlp_list([rlp_string(item) for item in items])
