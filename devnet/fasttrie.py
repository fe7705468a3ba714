"""Build an ordered Merkle-Patricia trie (transactions / receipts of one block) in one pass.

py-trie's ``HexaryTrie`` inserts keys one at a time, re-reading and re-encoding the path each
time; for a 1,000-transaction block that took more time than executing the transactions (about
60 % of block sealing in a profile). The keys of an ordered trie are all known up front, so the
trie can be built bottom-up in one recursive pass. Output is identical: the same root and the
same hashed nodes (py-evm reads them back with ``HexaryTrie``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import rlp
from eth_hash.auto import keccak

BLANK_ROOT: Final = keccak(rlp.encode(b""))


def _key(index: int) -> bytes:
    if index == 0:
        return b"\x80"
    if index < 0x80:
        return bytes((index,))
    raw = index.to_bytes((index.bit_length() + 7) // 8, "big")
    return bytes((0x80 + len(raw),)) + raw


def _nibbles(key: bytes) -> bytes:
    out = bytearray()
    for b in key:
        out.append(b >> 4)
        out.append(b & 0x0F)
    return bytes(out)


def _hex_prefix(path: bytes, leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(path) % 2:
        packed = bytes((((flag + 1) << 4) | path[0],))
        rest = path[1:]
    else:
        packed = bytes((flag << 4,))
        rest = path
    return packed + bytes((rest[i] << 4) | rest[i + 1] for i in range(0, len(rest), 2))


def _common_prefix(a: bytes, b: bytes, start: int) -> int:
    end = min(len(a), len(b))
    i = start
    while i < end and a[i] == b[i]:
        i += 1
    return i


def ordered_trie(values: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """(root hash, {node hash: node RLP}) of the trie mapping RLP(i) -> values[i]."""
    if not values:
        return BLANK_ROOT, {}
    items = sorted((_nibbles(_key(i)), v) for i, v in enumerate(values))
    nodes: dict[bytes, bytes] = {}

    def ref(node: Any) -> Any:
        encoded = rlp.encode(node)
        if len(encoded) < 32:
            return node
        digest = keccak(encoded)
        nodes[digest] = encoded
        return digest

    def build(lo: int, hi: int, depth: int) -> Any:
        first_key, first_value = items[lo]
        if hi - lo == 1:
            return [_hex_prefix(first_key[depth:], True), first_value]
        # items are sorted, so the common prefix of the range is that of its ends.
        shared = _common_prefix(first_key, items[hi - 1][0], depth)
        if shared > depth:
            return [_hex_prefix(first_key[depth:shared], False), ref(build(lo, hi, shared))]
        branch: list[Any] = [b""] * 17
        i = lo
        if len(first_key) == depth:  # a key ending here (cannot happen for RLP keys; kept exact)
            branch[16] = first_value
            i += 1
        while i < hi:
            nibble = items[i][0][depth]
            j = i + 1
            while j < hi and items[j][0][depth] == nibble:
                j += 1
            branch[nibble] = ref(build(i, j, depth + 1))
            i = j
        return branch

    root = rlp.encode(build(0, len(items), 0))
    root_hash = keccak(root)
    nodes[root_hash] = root
    return root_hash, nodes
