"""Property test: mutated Merkle-Patricia proofs against the on-chain verifier.

Hypothesis builds tries (ordered tries keyed by RLP(index) and tries with arbitrary keys, with
values short enough to get inlined nodes), takes a proof, mutates it (flipped byte, dropped /
duplicated / reordered node, truncated node or proof, appended or foreign node) and requires
the on-chain verifier to either revert with one of the libraries' custom errors exactly when
adapters.mpt.verify_proof raises ProofInvalid, or return exactly what it returns (a mutation
can be neutral, e.g. swapping two equal nodes). Runs on anvil: the EVM semantics under test
are the same on the devnet, which test_lib_mpt.py covers with the fixed vectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie
from web3.contract import Contract

from adapters.errors import ProofInvalid
from adapters.mpt import proof_from_pytrie, verify_proof
from adapters.receipts import OrderedTrie, ordered_trie_key, verify_receipt_proof
from harness import Chain, Reverted
from tests.contracts._lc_helpers import LIB_ERRORS, anvil_block_receipts


@pytest.fixture(scope="module")
def lib(anvil_chain: Chain) -> Iterator[tuple[Chain, Contract]]:
    yield anvil_chain, anvil_chain.deploy("LcLibHarness")


values_st = st.binary(min_size=1, max_size=70)


@st.composite
def ordered_case(draw: st.DrawFn) -> tuple[bytes, bytes, list[bytes]]:
    values = draw(st.lists(values_st, min_size=1, max_size=40))
    index = draw(st.integers(0, len(values)))  # len(values): an exclusion proof
    trie = OrderedTrie(values)
    return bytes(trie.root), ordered_trie_key(index), list(trie.proof(index))


@st.composite
def keyed_case(draw: st.DrawFn) -> tuple[bytes, bytes, list[bytes]]:
    keys = draw(st.lists(st.binary(min_size=1, max_size=32), min_size=1, max_size=25, unique=True))
    trie = HexaryTrie({})
    for key in keys:
        trie[key] = draw(values_st)
    key = draw(st.one_of(st.sampled_from(keys), st.binary(min_size=1, max_size=32)))
    return trie.root_hash, key, list(proof_from_pytrie(trie.get_proof(key)))  # type: ignore[no-untyped-call]


@st.composite
def mutation(draw: st.DrawFn, nodes: list[bytes]) -> tuple[str, list[bytes]]:
    n = len(nodes)
    kinds = [
        "flip",
        "drop",
        "duplicate",
        "swap",
        "truncate-node",
        "truncate-proof",
        "append",
        "extend-node",
    ]
    kind = draw(st.sampled_from(kinds))
    out = list(nodes)
    if n == 0:
        return "append", [draw(st.binary(min_size=1, max_size=40))]
    i = draw(st.integers(0, n - 1))
    if kind == "flip":
        j = draw(st.integers(0, len(out[i]) - 1))
        bit = draw(st.integers(0, 7))
        out[i] = out[i][:j] + bytes([out[i][j] ^ (1 << bit)]) + out[i][j + 1 :]
    elif kind == "drop":
        del out[i]
    elif kind == "duplicate":
        out.insert(i, out[i])
    elif kind == "swap":
        j = draw(st.integers(0, n - 1))
        out[i], out[j] = out[j], out[i]
    elif kind == "truncate-node":
        out[i] = out[i][: draw(st.integers(0, len(out[i]) - 1))]
    elif kind == "truncate-proof":
        out = out[:i]
    elif kind == "append":
        out.append(draw(st.one_of(st.binary(min_size=1, max_size=40), st.sampled_from(nodes))))
    else:  # extend-node: trailing bytes after a node
        out[i] = out[i] + draw(st.binary(min_size=1, max_size=4))
    return kind, out


def onchain(chain: Chain, harness: Contract, root: bytes, key: bytes, nodes: list[bytes]) -> Any:
    try:
        return ("ok", tuple(chain.check_call(harness.functions.mptGet(root, key, nodes))))
    except Reverted as exc:
        return ("revert", exc.error)


def python(root: bytes, key: bytes, nodes: list[bytes]) -> Any:
    try:
        value = verify_proof(root, key, nodes)
    except ProofInvalid:
        return ("invalid", None)
    return ("ok", (value is not None, value or b""))


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), case=st.one_of(ordered_case(), keyed_case()))
def test_mutated_proof_reverts_with_a_custom_error_unless_python_accepts_it_too(
    lib: tuple[Chain, Contract], data: st.DataObject, case: tuple[bytes, bytes, list[bytes]]
) -> None:
    chain, harness = lib
    root, key, nodes = case
    # the unmutated proof: both verifiers agree on the value (or absence)
    assert onchain(chain, harness, root, key, nodes) == python(root, key, nodes)
    kind, mutated = data.draw(mutation(nodes))
    note(f"mutation {kind}")
    expected = python(root, key, mutated)
    got = onchain(chain, harness, root, key, mutated)
    if expected[0] == "invalid":
        assert got[0] == "revert" and got[1] in LIB_ERRORS, got
    else:
        assert got == expected


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), index=st.integers(0, 131))
def test_mutated_receipt_proof_never_yields_a_log(
    lib: tuple[Chain, Contract], data: st.DataObject, index: int
) -> None:
    chain, harness = lib
    root, _, trie = anvil_block_receipts()
    nodes = list(trie.proof(index))
    _, mutated = data.draw(mutation(nodes))
    try:
        receipt = verify_receipt_proof(root, index, mutated)
    except ProofInvalid:
        receipt = None
    try:
        got = chain.check_call(harness.functions.receiptAt(root, index, mutated))
    except Reverted as exc:
        assert receipt is None, "Python accepted a proof the contract refused"
        assert exc.error in LIB_ERRORS
        return
    assert receipt is not None, "the contract accepted a proof Python refused"
    assert got[1] == receipt.status
