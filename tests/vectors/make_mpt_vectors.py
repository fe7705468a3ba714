"""Regenerate ``mpt_trietests.json``: inclusion and exclusion proofs on the TrieTests tries.

    .venv/bin/python -m tests.vectors.make_mpt_vectors

The tries and their roots are ethereum/tests ``TrieTests/trieanyorder.json`` ("dogs" and
"puppy" have children shorter than 32 bytes inlined in their parents, "testy" and "puppy"
store values in branch nodes). Proofs are built with py-trie (``HexaryTrie.get_proof``) and
converted to the ``eth_getProof`` wire format (hashed nodes only). The generator checks every
root against the published one before writing.
"""

from __future__ import annotations

import json
from pathlib import Path

from trie.hexary import HexaryTrie

from adapters.mpt import proof_from_pytrie

OUT = Path(__file__).with_name("mpt_trietests.json")

CASES: dict[str, tuple[list[tuple[str, str]], str]] = {
    "dogs": (
        [("doe", "reindeer"), ("dog", "puppy"), ("dogglesworth", "cat")],
        "0x8aad789dff2f538bca5d8ea56e8abe10f4c7ba3a5dea95fea4cd6e7c3a1168d3",
    ),
    "puppy": (
        [("do", "verb"), ("horse", "stallion"), ("doge", "coin"), ("dog", "puppy")],
        "0x5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84",
    ),
    "foo": (
        [("foo", "bar"), ("food", "bass")],
        "0x17beaa1648bafa633cda809c90c04af50fc8aed3cb40d16efbddee6fdf63c4c3",
    ),
    "smallValues": (
        [("be", "e"), ("dog", "puppy"), ("bed", "d")],
        "0x3f67c7a47520f79faa29255d2d3c084a7a6df0453116ed7232ff10277a8be68b",
    ),
    "testy": (
        [("test", "test"), ("te", "testy")],
        "0x8452568af70d8d140f58d941338542f645fcca50094b20f3c3d8c3df49337928",
    ),
}


def probe_keys(items: list[tuple[str, str]]) -> list[bytes]:
    """Every key, plus absent keys next to them: prefixes, extensions, siblings, empty."""
    keys = {k.encode() for k, _ in items}
    probes = set(keys) | {b"", b"zzz", b"\x00"}
    for key in keys:
        probes |= {key[:-1], key + b"x", key[:-1] + bytes((key[-1] ^ 1,))}
    return sorted(probes)


def main() -> None:
    out = []
    for name, (items, root) in CASES.items():
        trie = HexaryTrie({})
        for key, value in items:
            trie[key.encode()] = value.encode()
        assert "0x" + trie.root_hash.hex() == root, name
        stored = {k.encode(): v.encode() for k, v in items}
        proofs = []
        for probe in probe_keys(items):
            found = stored.get(probe)
            nodes = proof_from_pytrie(trie.get_proof(probe))  # type: ignore[no-untyped-call]
            proofs.append(
                {
                    "key": "0x" + probe.hex(),
                    "value": None if found is None else "0x" + found.hex(),
                    "nodes": ["0x" + n.hex() for n in nodes],
                }
            )
        out.append(
            {
                "name": name,
                "source": "ethereum/tests TrieTests/trieanyorder.json",
                "items": [["0x" + k.encode().hex(), "0x" + v.encode().hex()] for k, v in items],
                "root": root,
                "proofs": proofs,
            }
        )
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
