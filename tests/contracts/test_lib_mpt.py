"""On-chain RLP / Merkle-Patricia / receipt libraries agree with the Python verifiers.

Same vectors as tests/unit/test_mpt.py and test_receipts.py (TrieTests, a real anvil block with
132 receipts and eth_getProof results), plus tries built with ``adapters.receipts.OrderedTrie``.
Every call goes through ``LcLibHarness`` (contracts/src/test) on anvil and on the consortium
devnet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web3.contract import Contract

from adapters.errors import ProofInvalid
from adapters.mpt import account_proof_from_rpc, verify_account_proof, verify_proof
from adapters.receipts import OrderedTrie, decode_receipt, ordered_trie_key
from harness import Chain, Reverted
from tests.contracts._lc_helpers import LIB_ERRORS, anvil_block_receipts, h, vector


@pytest.fixture(scope="module", params=["anvil", "consortium"])
def lib(request: pytest.FixtureRequest) -> Iterator[tuple[Chain, Contract]]:
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    yield chain, chain.deploy("LcLibHarness")


def call(chain: Chain, fn: Any) -> Any:
    result = chain.check_call(fn)
    return tuple(result) if isinstance(result, list) else result


def expect_error(chain: Chain, fn: Any, error: str) -> Reverted:
    with pytest.raises(Reverted) as info:
        chain.check_call(fn)
    assert info.value.error == error, f"expected {error}, got {info.value.error}{info.value.args_}"
    return info.value


# --- generic proofs: TrieTests vectors -----------------------------------------------------------


@pytest.mark.parametrize("case", vector("mpt_trietests"), ids=lambda c: c["name"])
def test_trietests_vectors_prove_the_same_values_and_absences_as_python(
    lib: tuple[Chain, Contract], case: dict[str, Any]
) -> None:
    chain, harness = lib
    root = h(case["root"])
    for entry in case["proofs"]:
        key, nodes = h(entry["key"]), [h(n) for n in entry["nodes"]]
        expected = verify_proof(root, key, nodes)
        found, value = call(chain, harness.functions.mptGet(root, key, nodes))
        assert (found, value) == (expected is not None, expected or b""), entry["key"]


def test_empty_trie_proves_every_key_absent(lib: tuple[Chain, Contract]) -> None:
    chain, harness = lib
    empty_root = h("0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
    assert call(chain, harness.functions.mptGet(empty_root, b"\x80", [])) == (False, b"")
    assert call(chain, harness.functions.mptGet(empty_root, b"\x80", [b"\x80"])) == (False, b"")


def test_key_longer_than_32_bytes_is_rejected(lib: tuple[Chain, Contract]) -> None:
    chain, harness = lib
    case = vector("mpt_trietests")[0]
    nodes = [h(n) for n in case["proofs"][0]["nodes"]]
    expect_error(
        chain, harness.functions.mptGet(h(case["root"]), b"k" * 33, nodes), "ProofKeyTooLong"
    )


# --- receipts: a real anvil block ----------------------------------------------------------------

# 132 receipts: single-byte keys (0..127), 0x80 itself for 0, two-byte keys (128..131).
SAMPLE = (0, 1, 2, 7, 16, 64, 127, 128, 129, 131)


@pytest.mark.parametrize("index", SAMPLE)
def test_receipt_of_real_block_is_proven_and_its_logs_read(
    lib: tuple[Chain, Contract], index: int
) -> None:
    chain, harness = lib
    root, encoded, trie = anvil_block_receipts()
    nodes = list(trie.proof(index))
    receipt, status = call(chain, harness.functions.receiptAt(root, index, nodes))
    assert receipt == encoded[index]
    python = decode_receipt(encoded[index])
    assert status == python.status
    for k, log in enumerate(python.logs):
        emitter, topics, data = call(chain, harness.functions.logAt(root, index, nodes, k))
        assert bytes.fromhex(emitter[2:]) == log.address
        assert tuple(topics) == log.topics
        assert data == log.data
    expect_error(
        chain,
        harness.functions.logAt(root, index, nodes, len(python.logs)),
        "LogIndexOutOfRange",
    )


def test_index_key_is_rlp_of_the_index(lib: tuple[Chain, Contract]) -> None:
    chain, harness = lib
    for index in (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 2**64 - 1):
        key, length = call(chain, harness.functions.indexKey(index))
        assert key[:length] == ordered_trie_key(index)
        assert key[length:] == b"\x00" * (32 - length)


def test_proof_past_the_last_receipt_is_a_valid_exclusion_and_reverts(
    lib: tuple[Chain, Contract],
) -> None:
    chain, harness = lib
    root, encoded, trie = anvil_block_receipts()
    nodes = list(trie.proof(len(encoded)))
    assert verify_proof(root, ordered_trie_key(len(encoded)), nodes) is None
    expect_error(chain, harness.functions.receiptAt(root, len(encoded), nodes), "ReceiptNotInProof")


def test_proof_for_another_index_is_rejected(lib: tuple[Chain, Contract]) -> None:
    chain, harness = lib
    root, _, trie = anvil_block_receipts()
    with pytest.raises(Reverted) as info:
        chain.check_call(harness.functions.receiptAt(root, 5, list(trie.proof(6))))
    assert info.value.error in {"ProofMissingNode", "ProofNodeHashMismatch", "ReceiptNotInProof"}


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (
            lambda n: [n[0], n[1][:10] + bytes([n[1][10] ^ 1]) + n[1][11:], *n[2:]],
            "ProofNodeHashMismatch",
        ),
        (lambda n: n[:-1], "ProofMissingNode"),
        (lambda n: [*n, n[-1]], "ProofTrailingNodes"),
        (lambda n: [n[1], n[0], *n[2:]], "ProofNodeHashMismatch"),
        (lambda n: [], "ProofEmpty"),
    ],
    ids=["flipped-byte", "dropped-leaf", "duplicated-leaf", "reordered", "no-nodes"],
)
def test_tampered_receipt_proof_reverts_with_a_specific_error(
    lib: tuple[Chain, Contract], mutate: Any, error: str
) -> None:
    chain, harness = lib
    root, _, trie = anvil_block_receipts()
    nodes = list(trie.proof(3))
    mutated = mutate(nodes)
    with pytest.raises(ProofInvalid):
        verify_proof(root, ordered_trie_key(3), mutated)
    expect_error(chain, harness.functions.logAt(root, 3, mutated, 0), error)


def test_proof_against_another_root_is_rejected(lib: tuple[Chain, Contract]) -> None:
    chain, harness = lib
    _, _, trie = anvil_block_receipts()
    expect_error(
        chain,
        harness.functions.receiptAt(b"\x01" * 32, 3, list(trie.proof(3))),
        "ProofNodeHashMismatch",
    )


def test_small_trie_with_inlined_nodes_matches_python(lib: tuple[Chain, Contract]) -> None:
    """Tiny receipts-like values make leaves shorter than 32 bytes: they are inlined."""
    chain, harness = lib
    values = [
        bytes([0xC0 + 1, i]) if i < 0x80 else b"\xc2\x81" + bytes([i]) for i in range(0, 140, 7)
    ]
    trie = OrderedTrie(values)
    for index in range(len(values) + 1):
        nodes = list(trie.proof(index))
        key = ordered_trie_key(index)
        expected = verify_proof(trie.root, key, nodes)
        assert expected == (values[index] if index < len(values) else None)
        found, value = call(chain, harness.functions.mptGet(trie.root, key, nodes))
        assert (found, value) == (expected is not None, expected or b"")


# --- state and storage (EIP-1186) -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["contract", "deployer", "delegator", "absent"])
def test_account_and_storage_proofs_match_python(lib: tuple[Chain, Contract], who: str) -> None:
    chain, harness = lib
    data = vector("receipts_anvil_block")
    state_root = h(data["block"]["stateRoot"])
    result = account_proof_from_rpc(data["proofs"][who])
    expected = verify_account_proof(state_root, result.address, list(result.account_proof))
    got = call(
        chain, harness.functions.account(state_root, result.address, list(result.account_proof))
    )
    if expected is None:
        assert got[0] is False
    else:
        assert got == (
            True,
            expected.nonce,
            expected.balance,
            expected.storage_root,
            expected.code_hash,
        )
    for entry in result.storage_proofs:
        value = call(
            chain, harness.functions.storageAt(result.storage_hash, entry.slot, list(entry.proof))
        )
        assert value == entry.value


def test_library_errors_are_known(lib: tuple[Chain, Contract]) -> None:
    """The error names the tests check exist in the harness ABI (no typo can pass silently)."""
    _, harness = lib
    names = {str(item.get("name")) for item in harness.abi if item.get("type") == "error"}
    assert names >= LIB_ERRORS
