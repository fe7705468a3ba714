"""Merkle-Patricia proof verification: vectors, malformed nodes, EIP-1186, py-trie cross-checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie.exceptions import ValidationError as PyTrieValidationError
from trie.hexary import HexaryTrie

from adapters.errors import DecodeError, ProofInvalid
from adapters.mpt import (
    EMPTY_CODE_HASH,
    EMPTY_TRIE_ROOT,
    Account,
    account_proof_from_rpc,
    proof_from_pytrie,
    verify_account_proof,
    verify_account_proof_result,
    verify_proof,
    verify_storage_proof,
)
from adapters.rlpcodec import keccak
from adapters.types import Hash32

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
TRIETESTS = json.loads((VECTORS / "mpt_trietests.json").read_text())
ANVIL = json.loads((VECTORS / "receipts_anvil_block.json").read_text())
STATE_ROOT = bytes.fromhex(ANVIL["block"]["stateRoot"][2:])


def h(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def build(items: dict[bytes, bytes]) -> HexaryTrie:
    trie = HexaryTrie({})
    for key, value in items.items():
        trie[key] = value
    return trie


def proof(trie: HexaryTrie, key: bytes) -> list[bytes]:
    return list(proof_from_pytrie(trie.get_proof(key)))  # type: ignore[no-untyped-call]


DOGS = build({b"doe": b"reindeer", b"dog": b"puppy", b"dogglesworth": b"cat"})


# --- TrieTests vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("case", TRIETESTS, ids=[c["name"] for c in TRIETESTS])
def test_trietests_proofs_prove_stored_values_and_absences(case: dict[str, Any]) -> None:
    root = h(case["root"])
    stored = {h(k): h(v) for k, v in case["items"]}
    assert build(stored).root_hash == root  # the vector's items really give the published root
    for entry in case["proofs"]:
        key = h(entry["key"])
        expected = None if entry["value"] is None else h(entry["value"])
        assert expected == stored.get(key)
        assert verify_proof(root, key, [h(n) for n in entry["nodes"]]) == expected


def test_inline_child_node_is_walked_inside_its_parent() -> None:
    raw = DOGS.get_proof(b"dogglesworth")  # type: ignore[no-untyped-call]
    nodes = proof(DOGS, b"dogglesworth")
    assert len(nodes) < len(raw)  # the leaf is embedded in its parent branch
    assert verify_proof(DOGS.root_hash, b"dogglesworth", nodes) == b"cat"


def test_inline_node_listed_as_a_separate_proof_entry_is_rejected() -> None:
    raw = [rlp.encode(n) for n in DOGS.get_proof(b"dogglesworth")]  # type: ignore[no-untyped-call]
    with pytest.raises(ProofInvalid, match="after the end of the path"):
        verify_proof(DOGS.root_hash, b"dogglesworth", raw)


def test_key_ending_inside_an_extension_is_proven_absent() -> None:
    # py-trie's own verifier raises a ValidationError for this case; ours proves absence.
    nodes = proof(DOGS, b"do")
    with pytest.raises(PyTrieValidationError):
        HexaryTrie.get_from_proof(  # type: ignore[no-untyped-call]
            DOGS.root_hash,
            b"do",
            DOGS.get_proof(b"do"),  # type: ignore[no-untyped-call]
        )
    assert verify_proof(DOGS.root_hash, b"do", nodes) is None


def test_empty_trie_proves_every_key_absent() -> None:
    assert verify_proof(EMPTY_TRIE_ROOT, b"\x01", []) is None
    assert verify_proof(EMPTY_TRIE_ROOT, b"\x01", [b"\x80"]) is None


# --- rejected proofs -------------------------------------------------------------------------


def test_proof_for_another_root_is_rejected() -> None:
    with pytest.raises(ProofInvalid, match="hash not referenced"):
        verify_proof(b"\x11" * 32, b"dog", proof(DOGS, b"dog"))


def test_empty_proof_for_a_non_empty_root_is_rejected() -> None:
    with pytest.raises(ProofInvalid, match="no nodes"):
        verify_proof(DOGS.root_hash, b"dog", [])


def test_proof_missing_its_last_node_is_rejected() -> None:
    nodes = proof(DOGS, b"dog")
    with pytest.raises(ProofInvalid, match="missing a node"):
        verify_proof(DOGS.root_hash, b"dog", nodes[:-1])


def test_node_after_the_value_is_rejected() -> None:
    nodes = proof(DOGS, b"doe")
    with pytest.raises(ProofInvalid, match="after the end of the path"):
        verify_proof(DOGS.root_hash, b"doe", [*nodes, nodes[-1]])


def test_node_not_referenced_by_its_parent_is_rejected() -> None:
    other = build({bytes([i]): bytes([i]) * 40 for i in range(40)})
    nodes = proof(DOGS, b"dog")
    with pytest.raises(ProofInvalid, match="hash not referenced"):
        verify_proof(DOGS.root_hash, b"dog", [nodes[0], proof(other, b"\x01")[1], *nodes[2:]])


def test_proof_of_one_key_does_not_prove_a_sibling_key() -> None:
    trie = build({bytes([i]): bytes([i]) * 40 for i in range(40)})
    with pytest.raises(ProofInvalid):
        verify_proof(trie.root_hash, b"\x02", proof(trie, b"\x01"))


MALFORMED_NODES = {
    "not a list": rlp.encode(b"\x01" * 40),
    "three items": rlp.encode([b"\x20", b"x" * 40, b""]),
    "bad hex-prefix flag": rlp.encode([b"\x40", b"x" * 40]),
    "even path with odd-nibble padding": rlp.encode([b"\x21\x00", b"x" * 40]),
    "empty path": rlp.encode([b"", b"x" * 40]),
    "leaf with empty value": rlp.encode([b"\x20" + b"\x00" * 40, b""]),
    "leaf value is a list": rlp.encode([b"\x20" + b"\x00" * 40, [b"x"]]),
    "extension with empty path": rlp.encode([b"\x00", b"\x11" * 32]),
    "extension without child": rlp.encode([b"\x00" + b"\x00" * 40, b""]),
    "extension child of 5 bytes": rlp.encode([b"\x00" + b"\x00" * 40, b"\x11" * 5]),
    "branch child of 31 bytes": rlp.encode([b"\x11" * 31] + [b""] * 16),
    "branch embedded child of 32+ bytes": rlp.encode([[b"\x20", b"x" * 40]] + [b""] * 16),
    "branch value is a list": rlp.encode([b""] * 16 + [[b"x"]]),
    "trailing bytes": rlp.encode([b"\x20" + b"\x00" * 40, b"x"]) + b"\x00",
    "non-canonical length": b"\xf8\x03\x20\x81\x78" + b"\x00" * 30,
    "single byte with a header": b"\xe4\x81\x20" + b"\xa0" + b"\x00" * 32,
    "truncated": rlp.encode([b"\x20" + b"\x00" * 40, b"x" * 40])[:-3],
}


@pytest.mark.parametrize("node", MALFORMED_NODES.values(), ids=MALFORMED_NODES.keys())
def test_malformed_node_is_rejected_even_when_its_hash_matches(node: bytes) -> None:
    # The key's first nibble is 0, so a branch walks slot 0 and a leaf/extension compares paths.
    key = b"\x00" * 41
    with pytest.raises(ProofInvalid):
        verify_proof(keccak(node), key, [node])
    # The same node reached through a valid parent branch.
    parent = rlp.encode([keccak(node)] + [b""] * 16)
    with pytest.raises(ProofInvalid):
        verify_proof(keccak(parent), key, [parent, node])


@pytest.mark.parametrize(
    ("root", "key", "nodes"),
    [
        ("0x00", b"k", []),
        (b"\x00" * 31, b"k", [b"\x80"]),
        (DOGS.root_hash, "dog", []),
        (DOGS.root_hash, b"dog", ["0xe5"]),
        (DOGS.root_hash, b"dog", [None]),
        (DOGS.root_hash, b"dog", None),
        (DOGS.root_hash, b"dog", b"\x80"),
        (DOGS.root_hash, b"dog", iter([b"\x80"])),
    ],
)
def test_wrongly_typed_input_is_rejected(root: Any, key: Any, nodes: Any) -> None:
    with pytest.raises(ProofInvalid):
        verify_proof(root, key, nodes)


# --- py-trie cross-check and mutations -------------------------------------------------------

# Short keys over a tiny alphabet share prefixes (extensions, branch values, prefix keys);
# short values make nodes under 32 bytes, so children get inlined.
small_keys = st.lists(st.sampled_from([0x00, 0x01, 0x10, 0x11, 0xF0]), max_size=4).map(bytes)
small_tries = st.dictionaries(small_keys, st.binary(min_size=1, max_size=40), max_size=24)
# Secure-trie style: 32-byte hashed keys, account-sized values, several levels deep.
hashed_tries = st.lists(st.binary(min_size=1, max_size=90), min_size=1, max_size=80).map(
    lambda values: {keccak(i.to_bytes(4, "big")): v for i, v in enumerate(values)}
)
any_trie = st.one_of(small_tries.filter(bool), hashed_tries)


def pick_key(data: st.DataObject, items: dict[bytes, bytes]) -> bytes:
    keys = sorted(items)
    absent = st.one_of(small_keys, st.binary(min_size=32, max_size=32))
    if keys:
        return data.draw(st.one_of(st.sampled_from(keys), absent), label="key")
    return data.draw(absent, label="key")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=any_trie, data=st.data())
def test_verifier_agrees_with_the_trie_contents_and_with_pytrie(
    items: dict[bytes, bytes], data: st.DataObject
) -> None:
    trie = build(items)
    key = pick_key(data, items)
    ours = verify_proof(trie.root_hash, key, proof(trie, key))
    assert ours == items.get(key)
    try:
        raw = trie.get_proof(key)  # type: ignore[no-untyped-call]
        theirs = HexaryTrie.get_from_proof(trie.root_hash, key, raw)  # type: ignore[no-untyped-call]
    except PyTrieValidationError:  # py-trie cannot prove keys that end inside an extension
        assert ours is None
    else:
        assert (theirs or None) == ours


def mutate(data: st.DataObject, nodes: list[bytes]) -> list[bytes]:
    kind = data.draw(
        st.sampled_from(["flip", "drop", "duplicate", "swap", "truncate", "append", "insert"]),
        label="mutation",
    )
    nodes = list(nodes)
    i = data.draw(st.integers(0, len(nodes) - 1), label="node")
    if kind == "flip":
        pos = data.draw(st.integers(0, len(nodes[i]) - 1), label="byte")
        bit = data.draw(st.integers(0, 7), label="bit")
        node = bytearray(nodes[i])
        node[pos] ^= 1 << bit
        nodes[i] = bytes(node)
    elif kind == "drop":
        del nodes[i]
    elif kind == "duplicate":
        nodes.insert(i, nodes[i])
    elif kind == "swap":
        j = data.draw(st.integers(0, len(nodes) - 1), label="other")
        nodes[i], nodes[j] = nodes[j], nodes[i]
    elif kind == "truncate":
        cut = data.draw(st.integers(0, len(nodes[i]) - 1), label="cut")
        nodes[i] = nodes[i][:cut]
    elif kind == "append":
        nodes.append(data.draw(st.binary(min_size=1, max_size=40), label="garbage"))
    else:
        nodes.insert(i, data.draw(st.binary(max_size=40), label="garbage"))
    return nodes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=any_trie, data=st.data())
def test_mutated_proof_never_proves_a_wrong_value(
    items: dict[bytes, bytes], data: st.DataObject
) -> None:
    trie = build(items)
    key = pick_key(data, items)
    nodes = proof(trie, key)
    if not nodes:
        return
    mutated = mutate(data, nodes)
    try:
        result = verify_proof(trie.root_hash, key, mutated)
    except ProofInvalid:
        return
    # Only a mutation that left the proof unchanged (e.g. swapping a node with itself) may pass.
    assert mutated == nodes
    assert result == items.get(key)


# --- EIP-1186 account and storage proofs (anvil) -----------------------------------------------


def test_contract_account_and_storage_slot_verify_against_the_state_root() -> None:
    result = ANVIL["proofs"]["contract"]
    parsed = account_proof_from_rpc(result)
    account = verify_account_proof(STATE_ROOT, parsed.address, parsed.account_proof)
    assert account == Account(
        nonce=int(result["nonce"], 16),
        balance=int(result["balance"], 16),
        storage_root=Hash32(h(result["storageHash"])),
        code_hash=Hash32(h(result["codeHash"])),
    )
    assert account.code_hash != EMPTY_CODE_HASH
    slot0, slot5 = parsed.storage_proofs
    assert verify_storage_proof(account.storage_root, 0, slot0.proof) == 0x1234567890ABCDEF
    assert verify_storage_proof(account.storage_root, 5, slot5.proof) == 0  # absent slot
    assert verify_account_proof_result(STATE_ROOT, parsed) == account


def test_eip7702_delegated_account_has_the_delegation_designator_as_code() -> None:
    parsed = account_proof_from_rpc(ANVIL["proofs"]["delegator"])
    account = verify_account_proof_result(STATE_ROOT, parsed)
    assert account is not None
    assert account.code_hash == keccak(b"\xef\x01\x00" + h(ANVIL["contract"]))


def test_absent_account_is_proven_absent() -> None:
    parsed = account_proof_from_rpc(ANVIL["proofs"]["absent"])
    assert verify_account_proof(STATE_ROOT, parsed.address, parsed.account_proof) is None
    assert verify_account_proof_result(STATE_ROOT, parsed) is None


def test_externally_owned_account_has_empty_storage_and_code() -> None:
    parsed = account_proof_from_rpc(ANVIL["proofs"]["deployer"])
    account = verify_account_proof_result(STATE_ROOT, parsed)
    assert account is not None
    assert (account.storage_root, account.code_hash) == (EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
    assert account.nonce == 3


def test_account_proof_against_another_state_root_is_rejected() -> None:
    parsed = account_proof_from_rpc(ANVIL["proofs"]["contract"])
    with pytest.raises(ProofInvalid):
        verify_account_proof(bytes(32), parsed.address, parsed.account_proof)


def test_account_proof_for_another_address_is_rejected() -> None:
    parsed = account_proof_from_rpc(ANVIL["proofs"]["contract"])
    other = h(ANVIL["proofs"]["deployer"]["address"])
    with pytest.raises(ProofInvalid):
        verify_account_proof(STATE_ROOT, other, parsed.account_proof)


@pytest.mark.parametrize(
    ("field", "value"),
    [("balance", "0x1"), ("nonce", "0x7"), ("codeHash", "0x" + "00" * 32)],
)
def test_claimed_account_field_that_differs_from_the_proof_is_rejected(
    field: str, value: str
) -> None:
    result = dict(ANVIL["proofs"]["contract"], **{field: value})
    with pytest.raises(ProofInvalid, match="claimed account fields"):
        verify_account_proof_result(STATE_ROOT, account_proof_from_rpc(result))


def test_claimed_storage_value_that_differs_from_the_proof_is_rejected() -> None:
    result = json.loads(json.dumps(ANVIL["proofs"]["contract"]))
    result["storageProof"][0]["value"] = "0x1"
    with pytest.raises(ProofInvalid, match="claimed storage value"):
        verify_account_proof_result(STATE_ROOT, account_proof_from_rpc(result))


def test_single_leaf_storage_trie_proves_other_slots_absent() -> None:
    parsed = account_proof_from_rpc(ANVIL["proofs"]["contract"])
    slot0 = parsed.storage_proofs[0]
    assert len(slot0.proof) == 1  # the contract stores one slot: the root is that leaf
    assert verify_storage_proof(parsed.storage_hash, 1, slot0.proof) == 0


def test_storage_proof_against_another_storage_root_is_rejected() -> None:
    parsed = account_proof_from_rpc(ANVIL["proofs"]["contract"])
    with pytest.raises(ProofInvalid):
        verify_storage_proof(EMPTY_TRIE_ROOT, 0, parsed.storage_proofs[0].proof)


def test_storage_trie_holding_an_explicit_zero_is_rejected() -> None:
    slot_key = keccak((3).to_bytes(32, "big"))
    trie = build({slot_key: rlp.encode(b"")})
    with pytest.raises(ProofInvalid, match="explicit zero"):
        verify_storage_proof(trie.root_hash, 3, proof(trie, slot_key))


def test_storage_value_with_leading_zero_is_rejected() -> None:
    slot_key = keccak((3).to_bytes(32, "big"))
    trie = build({slot_key: rlp.encode(b"\x00\x01")})
    with pytest.raises(ProofInvalid, match="does not decode"):
        verify_storage_proof(trie.root_hash, 3, proof(trie, slot_key))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"address": "0x1234"}, "address"),
        ({"balance": "12"}, "balance"),
        ({"nonce": "0xzz"}, "nonce"),
        ({"storageHash": "0x" + "00" * 31}, "storageHash"),
        ({"accountProof": ["0xabc"]}, "accountProof[0]"),
        ({"accountProof": "0x00"}, "accountProof"),
        ({"storageProof": [{"key": "0x0", "value": "0x0"}]}, "proof"),
        ({"storageProof": [{"key": "0x", "value": "0x0", "proof": []}]}, "storageProof[0].key"),
    ],
)
def test_malformed_eth_get_proof_result_is_rejected(change: dict[str, Any], field: str) -> None:
    result = dict(ANVIL["proofs"]["contract"], **change)
    with pytest.raises(DecodeError) as info:
        account_proof_from_rpc(result)
    assert info.value.context["field"] == field


def test_eth_get_proof_result_without_a_field_is_rejected() -> None:
    result = dict(ANVIL["proofs"]["contract"])
    del result["codeHash"]
    with pytest.raises(DecodeError, match="missing field"):
        account_proof_from_rpc(result)


# --- every child reference is checked, not only the one walked -------------------------------

FORTY = build({bytes([i]): bytes([i]) * 40 for i in range(40)})


def proof_with_root_slot(slot: int, child: Any) -> tuple[bytes, list[bytes]]:
    """FORTY's proof of key 0x00 with the root branch's (unwalked) ``slot`` set to ``child``."""
    nodes = proof(FORTY, b"\x00")
    root_items = rlp.decode(nodes[0])
    assert len(root_items) == 17 and root_items[slot] == b""
    root_items[slot] = child
    root_node = rlp.encode(root_items)
    return keccak(root_node), [root_node, *nodes[1:]]


@pytest.mark.parametrize(
    "child",
    [b"\x11", b"\x11" * 31, b"\x11" * 33, [b"\x20", b"x" * 40]],
    ids=["1 byte", "31 bytes", "33 bytes", "embedded node of 32+ bytes"],
)
def test_malformed_child_in_a_branch_slot_not_walked_is_rejected(child: Any) -> None:
    root, nodes = proof_with_root_slot(15, child)
    with pytest.raises(ProofInvalid, match=r"child reference|malformed trie node") as info:
        verify_proof(root, b"\x00", nodes)
    assert info.value.context["index"] == 0
    assert info.value.context.get("slot", 15) == 15


@pytest.mark.parametrize(
    "child", [b"\x11" * 32, [b"\x31", b"x"]], ids=["hash", "embedded node under 32 bytes"]
)
def test_wellformed_children_in_slots_not_walked_are_accepted(child: Any) -> None:
    root, nodes = proof_with_root_slot(15, child)
    assert verify_proof(root, b"\x00", nodes) == b"\x00" * 40


@pytest.mark.parametrize(
    "child",
    [b"\x11" * 5, b"\x11" * 33, [b"\x20", b"x" * 40]],
    ids=["5 bytes", "33 bytes", "embedded node of 32+ bytes"],
)
def test_malformed_extension_child_is_rejected_when_the_key_diverges(child: Any) -> None:
    extension = rlp.encode([b"\x00\x12\x12", child])  # path 1212; key 00... diverges at once
    with pytest.raises(ProofInvalid, match=r"child reference|malformed trie node"):
        verify_proof(keccak(extension), b"\x00" * 32, [extension])


# --- account fields are range-checked ------------------------------------------------------


@pytest.mark.parametrize(
    ("nonce", "balance", "field"),
    [(2**64, 0, "nonce"), (0, 2**256, "balance"), (2**64 + 5, 2**300, "nonce")],
)
def test_proven_account_with_an_out_of_range_nonce_or_balance_is_rejected(
    nonce: int, balance: int, field: str
) -> None:
    address = b"\x42" * 20
    state = build({keccak(address): rlp.encode([nonce, balance, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH])})
    with pytest.raises(ProofInvalid, match="does not decode") as info:
        verify_account_proof(state.root_hash, address, proof(state, keccak(address)))
    assert field in info.value.context["reason"]


def test_account_with_the_largest_nonce_and_balance_is_accepted() -> None:
    address = b"\x42" * 20
    account = [2**64 - 1, 2**256 - 1, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH]
    state = build({keccak(address): rlp.encode(account)})
    proven = verify_account_proof(state.root_hash, address, proof(state, keccak(address)))
    assert proven == Account(2**64 - 1, 2**256 - 1, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
