"""Delivery with mainnet-shaped receipt proofs (a 40-transaction anvil block: branch, branch,
leaf) and a property test: every mutated proof is refused by the on-chain verifier."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.errors import ProofInvalid
from adapters.receipts import ReceiptProof, verify_receipt_proof
from harness import Chain, Reverted
from tests.contracts._bridge_helpers import (
    Bridge,
    deploy_bridge,
    mine_block,
    sent_messages,
)
from tests.helpers.proofs import receipt_proof

BLOCK_TXS = 40
DEEP = (0x11, 0x12, 0x1F)  # share the first key nibble with 15 others: 3-node proofs
SHALLOW = 0  # key 0x80: the only key under nibble 8, a leaf in the root's branch: 2 nodes


@dataclass
class DeepBlock:
    bridge: Bridge
    proofs: dict[int, tuple[ReceiptProof, int]]  # tx index -> (proof, log index)


@pytest.fixture(scope="module")
def deep(anvil_chain: Chain) -> DeepBlock:
    bridge = deploy_bridge(anvil_chain)
    here = anvil_chain.chain_id
    calls = [
        bridge.remote.functions.send(here, bridge.receiver.address, f"m{i}".encode() * 20)
        if i in (*DEEP, SHALLOW)
        else None
        for i in range(BLOCK_TXS)
    ]
    receipts = mine_block(anvil_chain, calls)
    proofs = {}
    for i in (*DEEP, SHALLOW):
        proven = receipt_proof(anvil_chain, receipts[i]["transactionHash"])
        [(log_index, _)] = sent_messages(proven, here)
        proofs[i] = (proven, log_index)
    bridge.post_header(proofs[SHALLOW][0])
    return DeepBlock(bridge, proofs)


def test_block_gives_mainnet_shaped_proofs(deep: DeepBlock) -> None:
    assert [len(deep.proofs[i][0].nodes) for i in DEEP] == [3, 3, 3]
    assert len(deep.proofs[SHALLOW][0].nodes) == 2


@pytest.mark.parametrize("index", [*DEEP, SHALLOW])
def test_message_with_a_multi_node_proof_is_delivered(deep: DeepBlock, index: int) -> None:
    bridge = deep.bridge
    proven, log_index = deep.proofs[index]
    [(_, msg)] = sent_messages(proven, bridge.chain_id)
    if not bridge.local.functions.delivered(msg.id).call():
        bridge.chain.send(bridge.deliver_call(proven, log_index))
    assert bridge.local.functions.delivered(msg.id).call() is True


def test_proof_for_another_index_is_refused(deep: DeepBlock) -> None:
    proven, log_index = deep.proofs[DEEP[0]]
    chain = deep.bridge.chain
    # The proof of 0x11 claimed for 0x12: the second branch points 0x12 at another leaf.
    err = chain.expect_revert(
        deep.bridge.deliver_call(proven, log_index, tx_index=DEEP[1]), "ProofNodeHashMismatch"
    )
    assert err.args_ == (2,)


def test_proof_missing_its_leaf_is_refused(deep: DeepBlock) -> None:
    proven, log_index = deep.proofs[DEEP[0]]
    err = deep.bridge.chain.expect_revert(
        deep.bridge.deliver_call(proven, log_index, nodes=proven.nodes[:-1]), "ProofMissingNode"
    )
    assert err.args_ == (2,)


def test_proof_with_an_extra_node_is_refused(deep: DeepBlock) -> None:
    proven, log_index = deep.proofs[DEEP[0]]
    deep.bridge.chain.expect_revert(
        deep.bridge.deliver_call(proven, log_index, nodes=(*proven.nodes, proven.nodes[-1])),
        "ProofTrailingNodes",
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_mutated_proof_is_refused_on_chain(deep: DeepBlock, data: st.DataObject) -> None:
    """A proof edited in any node (flip, truncate, extend) never delivers: the on-chain
    verifier refuses it with a custom error, and so does the Python verifier."""
    proven, log_index = deep.proofs[data.draw(st.sampled_from(DEEP), label="tx")]
    nodes = list(proven.nodes)
    k = data.draw(st.integers(0, len(nodes) - 1), label="node")
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend"]), label="kind")
    node = nodes[k]
    if kind == "flip":
        pos = data.draw(st.integers(0, len(node) - 1), label="pos")
        bit = data.draw(st.integers(0, 7), label="bit")
        node = node[:pos] + bytes([node[pos] ^ (1 << bit)]) + node[pos + 1 :]
    elif kind == "truncate":
        node = node[: data.draw(st.integers(0, len(node) - 1), label="len")]
    else:
        node = node + data.draw(st.binary(min_size=1, max_size=40), label="tail")
    nodes[k] = node
    bridge = deep.bridge
    with pytest.raises(Reverted) as info:
        bridge.chain.check_call(bridge.deliver_call(proven, log_index, nodes=tuple(nodes)))
    # The node's hash no longer matches its parent's reference (or the root).
    assert (info.value.error, info.value.args_) == ("ProofNodeHashMismatch", (k,))
    with pytest.raises(ProofInvalid):
        verify_receipt_proof(proven.receipts_root, proven.tx_index, nodes)
