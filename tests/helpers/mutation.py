"""Byte-level mutations for property tests of strict decoders and verifiers."""

from __future__ import annotations


def mutate_bytes(data: bytes, kind: str, position: int, byte: int) -> bytes:
    """``data`` with one change at ``position`` (taken modulo the length).

    ``kind``: "flip" (xor the byte with ``byte``, which must be non-zero), "truncate" (cut
    from there), "append" (add ``byte`` at the end) or "insert" (add ``byte`` there).
    """
    out = bytearray(data)
    position %= len(out)
    if kind == "flip":
        out[position] ^= byte
    elif kind == "truncate":
        del out[position:]
    elif kind == "append":
        out.append(byte)
    elif kind == "insert":
        out.insert(position, byte)
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    return bytes(out)
