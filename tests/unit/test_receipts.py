"""Receipt/transaction encodings, ordered tries and receipt proofs: a real anvil block, py-evm and
eth-account cross-checks, strict decoding and mutated proofs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.vm.forks.prague.receipts import PragueReceiptBuilder
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.errors import DecodeError, ProofInvalid
from adapters.mpt import EMPTY_TRIE_ROOT, verify_proof
from adapters.receipts import (
    STATUS_UNKNOWN,
    BlockReceipts,
    Log,
    OrderedTrie,
    Receipt,
    ReceiptProof,
    build_ordered_proof,
    decode_receipt,
    encode_receipt,
    encode_transaction_from_rpc,
    ordered_trie_key,
    ordered_trie_root,
    receipt_from_rpc,
    verify_receipt_proof,
    verify_transaction_proof,
)
from adapters.rlpcodec import keccak
from adapters.types import Address, Hash32

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
ANVIL = json.loads((VECTORS / "receipts_anvil_block.json").read_text())
BLOCK = ANVIL["block"]
TXS = BLOCK["transactions"]
RPC_RECEIPTS = ANVIL["receipts"]


def h(value: str) -> bytes:
    return bytes.fromhex(value[2:])


RECEIPTS_ROOT = h(BLOCK["receiptsRoot"])
TRANSACTIONS_ROOT = h(BLOCK["transactionsRoot"])
RECEIPTS = [receipt_from_rpc(r) for r in RPC_RECEIPTS]
ENCODED_RECEIPTS = [encode_receipt(r) for r in RECEIPTS]
ENCODED_TXS = [encode_transaction_from_rpc(tx) for tx in TXS]
RECEIPT_TRIE = OrderedTrie(ENCODED_RECEIPTS)
REVERTED = next(i for i, r in enumerate(RPC_RECEIPTS) if r["status"] == "0x0")
CREATION = next(i for i, tx in enumerate(TXS) if tx["to"] is None)


# --- the anvil block -----------------------------------------------------------------------------


def test_anvil_block_covers_every_case_the_tests_rely_on() -> None:
    types = {int(tx["type"], 16) for tx in TXS}
    assert {0, 1, 2, 4} <= types
    legacy_v = {int(tx["v"], 16) for tx in TXS if tx["type"] == "0x0"}
    assert legacy_v & {27, 28} and legacy_v - {27, 28}  # unprotected and EIP-155
    assert len(TXS) > 128  # keys RLP(128+) = 0x81.. appear
    assert RPC_RECEIPTS[CREATION]["contractAddress"] and RPC_RECEIPTS[CREATION]["logs"]
    assert max(len(r["logs"]) for r in RPC_RECEIPTS) >= 2


def test_receipts_root_recomputed_from_rpc_receipts_matches_the_block() -> None:
    assert ordered_trie_root(ENCODED_RECEIPTS) == RECEIPTS_ROOT


def test_transactions_root_recomputed_from_rpc_transactions_matches_the_block() -> None:
    assert ordered_trie_root(ENCODED_TXS) == TRANSACTIONS_ROOT


def test_encoded_transactions_hash_to_their_transaction_hashes() -> None:
    assert [keccak(e) for e in ENCODED_TXS] == [h(tx["hash"]) for tx in TXS]


def test_every_receipt_of_the_block_is_proven_by_its_proof() -> None:
    for index, expected in enumerate(RECEIPTS):
        nodes = RECEIPT_TRIE.proof(index)
        assert verify_receipt_proof(RECEIPTS_ROOT, index, nodes) == expected


def test_proven_receipt_keeps_status_and_logs_of_the_rpc_receipt() -> None:
    reverted = verify_receipt_proof(RECEIPTS_ROOT, REVERTED, RECEIPT_TRIE.proof(REVERTED))
    assert reverted.status == 0 and reverted.logs == ()
    call = next(i for i, r in enumerate(RPC_RECEIPTS) if len(r["logs"]) == 2)
    receipt = verify_receipt_proof(RECEIPTS_ROOT, call, RECEIPT_TRIE.proof(call))
    rpc_log = RPC_RECEIPTS[call]["logs"][0]
    assert receipt.status == 1
    assert receipt.logs[0] == Log(
        address=Address(h(rpc_log["address"])),
        topics=tuple(h(t) for t in rpc_log["topics"]),
        data=h(rpc_log["data"]),
    )
    assert receipt.logs[0].topics[0] == h(ANVIL["topic"])


def test_every_transaction_of_the_block_is_proven_by_its_proof() -> None:
    trie = OrderedTrie(ENCODED_TXS)
    for index, encoded in enumerate(ENCODED_TXS):
        assert verify_transaction_proof(TRANSACTIONS_ROOT, index, trie.proof(index)) == encoded


def test_receipt_proof_has_three_nodes_like_a_mainnet_block() -> None:
    assert len(RECEIPT_TRIE.proof(5)) == 3


@pytest.mark.parametrize("index", [0, 1, 0x7F, 0x80, 0x81])
def test_build_ordered_proof_matches_the_trie_proof(index: int) -> None:
    assert build_ordered_proof(ENCODED_RECEIPTS, index) == RECEIPT_TRIE.proof(index)


def test_receipt_proof_dataclass_verifies_its_claimed_receipt() -> None:
    index = 3
    proof = ReceiptProof(
        block_hash=Hash32(h(BLOCK["hash"])),
        block_number=int(BLOCK["number"], 16),
        receipts_root=Hash32(RECEIPTS_ROOT),
        tx_index=index,
        nodes=RECEIPT_TRIE.proof(index),
        receipt=RECEIPTS[index],
    )
    assert proof.verify() == RECEIPTS[index]
    forged = ReceiptProof(
        block_hash=proof.block_hash,
        block_number=proof.block_number,
        receipts_root=proof.receipts_root,
        tx_index=index,
        nodes=proof.nodes,
        receipt=RECEIPTS[index + 1],
    )
    with pytest.raises(ProofInvalid, match="differs from the claimed"):
        forged.verify()


# --- rejected receipt proofs -------------------------------------------------------------------


def test_proof_used_for_another_index_is_rejected() -> None:
    with pytest.raises(ProofInvalid):
        verify_receipt_proof(RECEIPTS_ROOT, 4, RECEIPT_TRIE.proof(3))


def test_proof_against_the_transactions_root_is_rejected() -> None:
    with pytest.raises(ProofInvalid):
        verify_receipt_proof(TRANSACTIONS_ROOT, 3, RECEIPT_TRIE.proof(3))


def test_exclusion_proof_past_the_last_receipt_is_rejected_as_a_receipt_proof() -> None:
    index = len(RECEIPTS)
    nodes = RECEIPT_TRIE.proof(index)
    assert verify_proof(RECEIPTS_ROOT, ordered_trie_key(index), nodes) is None
    with pytest.raises(ProofInvalid, match="no receipt at this index"):
        verify_receipt_proof(RECEIPTS_ROOT, index, nodes)


@pytest.mark.parametrize("index", [-1, "3", None])
def test_invalid_index_is_rejected(index: Any) -> None:
    with pytest.raises(ProofInvalid):
        verify_receipt_proof(RECEIPTS_ROOT, index, RECEIPT_TRIE.proof(3))


def test_proven_value_that_is_not_a_receipt_is_rejected() -> None:
    values = [b"\x05" + rlp.encode([1, 2, 3]), b"\x01" + b"\xc0" * 40]
    trie = OrderedTrie(values)
    for index in range(2):
        with pytest.raises(ProofInvalid, match="does not decode"):
            verify_receipt_proof(trie.root, index, trie.proof(index))
        with pytest.raises(ProofInvalid, match="does not decode"):
            verify_transaction_proof(trie.root, index, trie.proof(index))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(RECEIPTS) - 1), data=st.data())
def test_mutated_receipt_proof_is_rejected(index: int, data: st.DataObject) -> None:
    nodes = list(RECEIPT_TRIE.proof(index))
    kind = data.draw(st.sampled_from(["flip", "drop", "duplicate", "swap", "truncate", "extra"]))
    i = data.draw(st.integers(0, len(nodes) - 1))
    if kind == "flip":
        pos = data.draw(st.integers(0, len(nodes[i]) - 1))
        node = bytearray(nodes[i])
        node[pos] ^= 1 << data.draw(st.integers(0, 7))
        nodes[i] = bytes(node)
    elif kind == "drop":
        del nodes[i]
    elif kind == "duplicate":
        nodes.insert(i, nodes[i])
    elif kind == "swap":
        j = data.draw(st.integers(0, len(nodes) - 1).filter(lambda j: j != i))
        nodes[i], nodes[j] = nodes[j], nodes[i]
    elif kind == "truncate":
        nodes[i] = nodes[i][: data.draw(st.integers(0, len(nodes[i]) - 1))]
    else:
        other = data.draw(st.integers(0, len(RECEIPTS) - 1).filter(lambda j: j != index))
        nodes.append(RECEIPT_TRIE.proof(other)[-1])
    with pytest.raises(ProofInvalid):
        verify_receipt_proof(RECEIPTS_ROOT, index, nodes)


# --- ordered tries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "key"),
    [
        (0, "80"),
        (1, "01"),
        (0x27, "27"),
        (0x7F, "7f"),
        (0x80, "8180"),
        (0xFF, "81ff"),
        (256, "820100"),
    ],
)
def test_ordered_trie_key_is_rlp_of_the_index(index: int, key: str) -> None:
    assert ordered_trie_key(index) == bytes.fromhex(key) == rlp.encode(index)


def test_empty_ordered_trie_has_the_empty_root_and_proves_nothing() -> None:
    assert ordered_trie_root([]) == EMPTY_TRIE_ROOT
    assert build_ordered_proof([], 0) == ()
    with pytest.raises(ProofInvalid, match="no receipt"):
        verify_receipt_proof(EMPTY_TRIE_ROOT, 0, ())


def test_ordered_trie_with_small_values_inlines_children_and_still_proves_them() -> None:
    values = [bytes([i % 7 + 1]) for i in range(40)]
    trie = OrderedTrie(values)
    for index, value in enumerate(values):
        nodes = trie.proof(index)
        assert verify_proof(trie.root, ordered_trie_key(index), nodes) == value
    assert any(len(trie.proof(i)) < 3 for i in range(40))  # some leaves are embedded


def test_ordered_trie_rejects_empty_values() -> None:
    with pytest.raises(DecodeError):
        OrderedTrie([b"\x01", b""])


# --- receipt encoding --------------------------------------------------------------------------

logs = st.builds(
    Log,
    address=st.binary(min_size=20, max_size=20).map(Address),
    topics=st.lists(st.binary(min_size=32, max_size=32), max_size=4).map(tuple),
    data=st.binary(max_size=100),
)
receipts = st.one_of(
    st.builds(
        Receipt,
        tx_type=st.sampled_from([0, 1, 2, 3, 4]),
        status=st.sampled_from([0, 1]),
        cumulative_gas_used=st.integers(0, 2**64 - 1),
        logs_bloom=st.binary(min_size=256, max_size=256),
        logs=st.lists(logs, max_size=4).map(tuple),
    ),
    st.builds(
        Receipt,
        tx_type=st.just(0),
        status=st.just(STATUS_UNKNOWN),
        cumulative_gas_used=st.integers(0, 2**64 - 1),
        logs_bloom=st.binary(min_size=256, max_size=256),
        logs=st.lists(logs, max_size=3).map(tuple),
        post_state=st.binary(min_size=32, max_size=32),
    ),
)


@given(receipts)
def test_decode_receipt_inverts_encode_receipt(receipt: Receipt) -> None:
    assert decode_receipt(encode_receipt(receipt)) == receipt


@given(receipts)
def test_encode_receipt_agrees_with_py_evm(receipt: Receipt) -> None:
    encoded = encode_receipt(receipt)
    theirs = PragueReceiptBuilder.decode(encoded)
    if receipt.post_state is not None:
        assert theirs.state_root == receipt.post_state
    else:
        assert theirs.state_root == (b"\x01" if receipt.status else b"")
    assert theirs.gas_used == receipt.cumulative_gas_used
    assert theirs.bloom == int.from_bytes(receipt.logs_bloom, "big")
    assert [(bytes(log.address), tuple(log.topics), log.data) for log in theirs.logs] == [
        (bytes(log.address), tuple(int.from_bytes(t, "big") for t in log.topics), log.data)
        for log in receipt.logs
    ]
    again = theirs.encode() if receipt.tx_type else rlp.encode(theirs)
    assert again == encoded


def test_pre_byzantium_receipt_from_rpc_keeps_its_post_state_and_unknown_status() -> None:
    rpc = dict(RPC_RECEIPTS[0], root="0x" + "ab" * 32, type="0x0")
    del rpc["status"]
    receipt = receipt_from_rpc(rpc)
    assert receipt.post_state == b"\xab" * 32
    assert receipt.status == STATUS_UNKNOWN
    assert rlp.decode(encode_receipt(receipt))[0] == b"\xab" * 32
    assert decode_receipt(encode_receipt(receipt)) == receipt


def _receipt_body(**change: Any) -> list[Any]:
    fields: dict[str, Any] = {"status": 1, "gas": 21000, "bloom": bytes(256), "logs": []}
    fields.update(change)
    return [fields["status"], fields["gas"], fields["bloom"], fields["logs"]]


BAD_RECEIPTS = {
    "unknown type 5": b"\x05" + rlp.encode(_receipt_body()),
    "OP deposit type 0x7e": b"\x7e" + rlp.encode(_receipt_body()),
    "type 0 prefix": b"\x00" + rlp.encode(_receipt_body()),
    "empty": b"",
    "trailing byte": rlp.encode(_receipt_body()) + b"\x00",
    "three fields": rlp.encode(_receipt_body()[:3]),
    "status 2": rlp.encode(_receipt_body(status=2)),
    "status is a list": rlp.encode(_receipt_body(status=[])),
    "typed with post-state": b"\x02" + rlp.encode(_receipt_body(status=b"\x01" * 32)),
    "gas with leading zero": rlp.encode(_receipt_body(gas=b"\x00\x01")),
    "gas over 64 bits": rlp.encode(_receipt_body(gas=2**64)),
    "short bloom": rlp.encode(_receipt_body(bloom=bytes(255))),
    "logs not a list": rlp.encode(_receipt_body(logs=b"\x01")),
    "log of two items": rlp.encode(_receipt_body(logs=[[b"\x01" * 20, []]])),
    "short log address": rlp.encode(_receipt_body(logs=[[b"\x01" * 19, [], b""]])),
    "five topics": rlp.encode(_receipt_body(logs=[[b"\x01" * 20, [b"\x02" * 32] * 5, b""]])),
    "short topic": rlp.encode(_receipt_body(logs=[[b"\x01" * 20, [b"\x02" * 31], b""]])),
    "topics not a list": rlp.encode(_receipt_body(logs=[[b"\x01" * 20, b"\x02", b""]])),
    "log data is a list": rlp.encode(_receipt_body(logs=[[b"\x01" * 20, [], []]])),
}


@pytest.mark.parametrize("data", BAD_RECEIPTS.values(), ids=BAD_RECEIPTS.keys())
def test_malformed_receipt_encoding_is_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_receipt(data)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "0x7e"},
        {"status": "0x2"},
        {"status": None, "root": None},
        {"logsBloom": "0x00"},
        {"cumulativeGasUsed": "21000"},
        {"logs": {}},
        {"logs": [{"address": "0x01", "topics": [], "data": "0x"}]},
        {"logs": [{"address": "0x" + "01" * 20, "topics": "0x", "data": "0x"}]},
        {"logs": [{"address": "0x" + "01" * 20, "topics": ["0x12"], "data": "0x"}]},
        {"logs": [{"address": "0x" + "01" * 20, "topics": [], "data": "0xabc"}]},
        {"logs": [{"address": "0x" + "01" * 20, "topics": []}]},
    ],
)
def test_malformed_rpc_receipt_is_rejected(change: dict[str, Any]) -> None:
    rpc = {k: v for k, v in dict(RPC_RECEIPTS[1], **change).items() if v is not None}
    with pytest.raises(DecodeError):
        receipt_from_rpc(rpc)


def test_rpc_receipt_without_type_is_a_legacy_receipt() -> None:
    legacy = next(r for r in RPC_RECEIPTS if r["type"] == "0x0")
    assert receipt_from_rpc({k: v for k, v in legacy.items() if k != "type"}).tx_type == 0


# --- transaction encoding ------------------------------------------------------------------------

KEY = Account.from_key(b"\x01" * 32)  # a throwaway key for signing test transactions
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)  # eth-account wants these
access_lists = st.lists(
    st.tuples(addresses, st.lists(st.binary(min_size=32, max_size=32), max_size=2)), max_size=2
)
uint = st.integers(0, 2**64 - 1)


def _hex(value: int | bytes) -> str:
    return hex(value) if isinstance(value, int) else "0x" + value.hex()


@st.composite
def signed_transactions(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """(RPC JSON as a node returns it, raw transaction signed by eth-account)."""
    tx_type = draw(st.sampled_from([0, 0, 1, 2, 3, 4]))
    to = draw(addresses)
    tx: dict[str, Any] = {
        "nonce": draw(uint),
        "gas": draw(st.integers(21000, 2**40)),
        "value": draw(st.integers(0, 2**200)),
        "data": draw(st.binary(max_size=64)),
        "to": to,
    }
    if tx_type in (0, 1):
        tx["gasPrice"] = draw(uint)
    else:
        tx["maxPriorityFeePerGas"] = draw(uint)
        tx["maxFeePerGas"] = draw(uint)
    creation = tx_type in (0, 1, 2) and draw(st.booleans())
    if creation:
        del tx["to"]
    protected = tx_type != 0 or draw(st.booleans())
    if protected:
        tx["chainId"] = draw(st.integers(1, 2**32))
    if tx_type:
        tx["type"] = tx_type
        accesses = draw(access_lists)
        tx["accessList"] = [
            {"address": a, "storageKeys": ["0x" + k.hex() for k in keys]} for a, keys in accesses
        ]
    if tx_type == 3:
        tx["maxFeePerBlobGas"] = draw(uint)
        hashes = draw(st.lists(st.binary(min_size=31, max_size=31), min_size=1, max_size=3))
        tx["blobVersionedHashes"] = ["0x01" + b.hex() for b in hashes]
    auths = []
    if tx_type == 4:
        for _ in range(draw(st.integers(1, 2))):
            auth = KEY.sign_authorization(
                {"chainId": draw(uint), "address": draw(addresses), "nonce": draw(uint)}
            )
            auths.append(auth)
        tx["authorizationList"] = auths
    signed = KEY.sign_transaction(tx)
    rpc: dict[str, Any] = {
        "type": hex(tx_type),
        "hash": "0x" + signed.hash.hex(),
        "nonce": hex(tx["nonce"]),
        "gas": hex(tx["gas"]),
        "value": hex(tx["value"]),
        "input": "0x" + tx["data"].hex(),
        "to": tx.get("to"),
        "v": hex(signed.v),
        "r": hex(signed.r),
        "s": hex(signed.s),
    }
    for name in ("gasPrice", "maxPriorityFeePerGas", "maxFeePerGas", "chainId", "accessList"):
        if name in tx:
            rpc[name] = tx[name] if name == "accessList" else hex(tx[name])
    if tx_type:
        rpc["yParity"] = hex(signed.v)
    if tx_type == 3:
        rpc["maxFeePerBlobGas"] = hex(tx["maxFeePerBlobGas"])
        rpc["blobVersionedHashes"] = tx["blobVersionedHashes"]
    if tx_type == 4:
        rpc["authorizationList"] = [
            {
                "chainId": hex(a.chain_id),
                "address": "0x" + bytes(a.address).hex(),
                "nonce": hex(a.nonce),
                "yParity": hex(a.y_parity),
                "r": hex(a.r),
                "s": hex(a.s),
            }
            for a in auths
        ]
    return rpc, bytes(signed.raw_transaction)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signed_transactions())
def test_transaction_encoding_from_rpc_equals_eth_account_signed_bytes(
    case: tuple[dict[str, Any], bytes],
) -> None:
    rpc, raw = case
    assert encode_transaction_from_rpc(rpc) == raw


def _tx(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(tx for tx in TXS if tx["type"] == kind))


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("0x2", {"value": "0x1"}),  # fields no longer hash to the claimed hash
        ("0x2", {"type": "0x5"}),
        ("0x2", {"yParity": "0x2", "v": "0x2"}),
        ("0x2", {"yParity": "0x0", "v": "0x1"}),
        ("0x2", {"yParity": None, "v": None}),
        ("0x4", {"to": None}),
        ("0x4", {"authorizationList": "0x"}),
        ("0x4", {"authorizationList": [{"chainId": "0x1"}]}),
        ("0x1", {"accessList": [{"address": "0x" + "00" * 20, "storageKeys": ["0x00"]}]}),
        ("0x0", {"gasPrice": None}),
        ("0x0", {"nonce": "0x" + "f" * 17}),
        ("0x0", {"input": None}),
        ("0x0", {"to": "0x1234"}),
    ],
)
def test_malformed_rpc_transaction_is_rejected(kind: str, change: dict[str, Any]) -> None:
    tx = _tx(kind)
    tx.update(change)
    tx = {k: v for k, v in tx.items() if v is not None}
    with pytest.raises(DecodeError):
        encode_transaction_from_rpc(tx)


def test_typed_transaction_with_only_v_is_accepted() -> None:
    tx = _tx("0x2")
    del tx["yParity"]
    assert encode_transaction_from_rpc(tx) == encode_transaction_from_rpc(_tx("0x2"))


def test_transaction_without_hash_is_encoded_without_the_hash_check() -> None:
    tx = _tx("0x1")
    del tx["hash"]
    assert keccak(encode_transaction_from_rpc(tx)) == h(_tx("0x1")["hash"])


# --- one block's receipts, many proofs -----------------------------------------------------------


def _block_receipts(receipts: list[Receipt] = RECEIPTS) -> BlockReceipts:
    return BlockReceipts(
        Hash32(h(BLOCK["hash"])), int(BLOCK["number"], 16), RECEIPTS_ROOT, receipts
    )


def test_block_receipts_give_the_same_proofs_as_one_trie_per_proof() -> None:
    block = _block_receipts()
    for index in (0, 5, 0x80, len(RECEIPTS) - 1):
        proof = block.proof(index)
        assert proof.nodes == build_ordered_proof(ENCODED_RECEIPTS, index)
        assert proof.verify() == RECEIPTS[index]
    with pytest.raises(IndexError):
        block.proof(len(RECEIPTS))


def test_block_receipts_that_do_not_rebuild_the_root_are_refused() -> None:
    with pytest.raises(ProofInvalid):
        _block_receipts(RECEIPTS[:-1])


def test_every_node_log_index_maps_to_its_receipt_and_position_in_it() -> None:
    block = _block_receipts()
    seen = 0
    for tx_index, raw in enumerate(RPC_RECEIPTS):
        for position, raw_log in enumerate(raw["logs"]):
            block_log_index = int(raw_log["logIndex"], 16)
            assert block_log_index == seen  # the node numbers logs across the block
            assert block.log_position(block_log_index) == (tx_index, position)
            proven = block.proven_log(block_log_index)
            assert proven is not None
            assert (proven.receipt_log_index, proven.proof.tx_index) == (position, tx_index)
            assert proven.log == RECEIPTS[tx_index].logs[position]
            seen += 1
    assert block.log_position(seen) is None
    assert block.proven_log(-1) is None


def test_receipts_without_logs_are_skipped_when_locating_a_log() -> None:
    empty, one = Receipt(2, 1, 21_000, b"\0" * 256, ()), RECEIPTS[CREATION]
    receipts = [empty, one, empty, one]
    root = OrderedTrie([encode_receipt(r) for r in receipts]).root
    block = BlockReceipts(Hash32(b"\1" * 32), 1, root, receipts)
    count = len(one.logs)
    assert block.log_position(0) == (1, 0)
    assert block.log_position(count) == (3, 0)
    assert block.first_log_index(2) == block.first_log_index(3) == count
    assert block.log_position(2 * count) is None
