"""Public-chain header chain: linkage, finality, reorg handling; plus a real reorg on anvil."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.errors import (
    DecodeError,
    FinalityViolation,
    HeaderInvalid,
    NotYetAvailable,
    ReorgDetected,
)
from adapters.headers import Header, header_hash
from adapters.lightclient.headerchain import HeaderChain, Reorg, verified_rpc_header
from adapters.types import Finality
from devnet.anvil import start_anvil
from harness import SyncRpcClient
from tests.helpers.headers import plain_branch, plain_header

VECTORS = Path(__file__).parent.parent / "vectors"


CHECKPOINT = plain_header(100, b"\x01" * 32)


def new_chain(
    length: int = 10, finality_depth: int = 3, **kw: Any
) -> tuple[HeaderChain, list[Header]]:
    chain = HeaderChain(CHECKPOINT, finality_depth=finality_depth, **kw)
    headers = plain_branch(CHECKPOINT, length)
    chain.extend(headers)
    return chain, [CHECKPOINT, *headers]


def test_chain_extends_from_checkpoint_by_hash_linkage() -> None:
    chain, headers = new_chain(10)
    assert chain.head.number == 110
    assert chain.head.hash == header_hash(headers[-1])
    assert chain.get(105) is not None and chain.get(105).header == headers[5]  # type: ignore[union-attr]
    assert chain.get(99) is None


def test_extend_checks_the_hashes_the_node_claimed() -> None:
    chain = HeaderChain(CHECKPOINT, finality_depth=3)
    branch = plain_branch(CHECKPOINT, 2)
    with pytest.raises(HeaderInvalid, match="does not match the node's claim"):
        chain.extend(branch, [header_hash(branch[0]), b"\x00" * 32])
    assert chain.head.number == 100  # nothing from the bad batch was kept
    chain.extend(branch, [header_hash(h) for h in branch])
    assert chain.head.number == 102


def test_checkpoint_hash_mismatch_is_rejected() -> None:
    with pytest.raises(HeaderInvalid, match="does not match"):
        HeaderChain(CHECKPOINT, finality_depth=3, checkpoint_hash=b"\x00" * 32)  # type: ignore[arg-type]


def test_header_that_does_not_build_on_the_head_reports_a_reorg() -> None:
    chain, _ = new_chain(5)
    stranger = plain_header(106, b"\x66" * 32)
    with pytest.raises(ReorgDetected, match="does not build on the current head"):
        chain.extend([stranger])


def _gap(parent: Header) -> Header:
    return plain_header(parent.number + 2, header_hash(parent))


def _stranger(parent: Header) -> Header:
    return plain_header(parent.number + 1, b"\x55" * 32)


def _time_travel(parent: Header) -> Header:
    return plain_header(parent.number + 1, header_hash(parent), timestamp=parent.timestamp - 1)


@pytest.mark.parametrize(
    ("bad_child", "message"),
    [
        (_gap, "number does not follow"),
        (_stranger, "wrong parent hash"),
        (_time_travel, "timestamp earlier"),
    ],
)
def test_broken_linkage_inside_a_batch_is_rejected_atomically(bad_child: Any, message: str) -> None:
    chain, headers = new_chain(3)
    good = plain_branch(headers[-1], 2)
    with pytest.raises(HeaderInvalid, match=message):
        chain.extend([*good, bad_child(good[-1])])
    assert chain.head.number == 103


def test_final_height_by_depth_and_by_tag() -> None:
    chain, headers = new_chain(10, finality_depth=3)
    assert chain.final_height(Finality.confirmations(3)) == 107
    assert chain.final_height(Finality.latest()) == 110
    with pytest.raises(NotYetAvailable, match="tag not recorded"):
        chain.final_height(Finality.finalized())
    chain.mark_tag("finalized", 104, header_hash(headers[4]))
    assert chain.final_height(Finality.finalized()) == 104
    assert chain.final_header(Finality.finalized()).hash == header_hash(headers[4])
    with pytest.raises(NotYetAvailable, match="above the checkpoint"):
        chain.final_height(Finality.confirmations(50))


def test_tag_that_conflicts_with_the_chain_is_a_reorg() -> None:
    chain, headers = new_chain(10)
    with pytest.raises(ReorgDetected, match="not on the canonical chain"):
        chain.mark_tag("finalized", 104, b"\x00" * 32)
    chain.mark_tag("finalized", 106, header_hash(headers[6]))
    with pytest.raises(ReorgDetected, match="moved backwards"):
        chain.mark_tag("finalized", 105, header_hash(headers[5]))


def test_shallow_reorg_is_applied_and_reports_the_common_ancestor() -> None:
    chain, headers = new_chain(10, finality_depth=3)
    ancestor = headers[8]  # height 108: blocks 109 and 110 are replaced
    branch = plain_branch(ancestor, 3, tag=b"fork")
    reorg = chain.reconcile(branch)
    assert reorg == Reorg(
        common_ancestor=108,
        common_ancestor_hash=header_hash(ancestor),
        depth=2,
        dropped=(header_hash(headers[9]), header_hash(headers[10])),
        new_head=111,
    )
    assert chain.head.hash == header_hash(branch[-1])


def test_reorg_branch_may_repeat_blocks_we_already_hold() -> None:
    chain, headers = new_chain(10)
    branch = [headers[7], headers[8], *plain_branch(headers[8], 3, tag=b"fork")]
    reorg = chain.reconcile(branch)
    assert reorg is not None and reorg.common_ancestor == 108


def test_reorg_deeper_than_finality_is_refused_and_changes_nothing() -> None:
    chain, headers = new_chain(10, finality_depth=3)
    branch = plain_branch(headers[5], 8, tag=b"deep")  # ancestor 105 < final height 107
    with pytest.raises(ReorgDetected, match="drop final blocks") as err:
        chain.reconcile(branch)
    assert err.value.context["common_ancestor"] == 105
    assert err.value.context["depth"] == 5
    assert chain.head.hash == header_hash(headers[-1])


def test_reorg_below_the_finalized_tag_is_refused() -> None:
    chain, headers = new_chain(10, finality_depth=1)
    chain.mark_tag("finalized", 108, header_hash(headers[8]))
    with pytest.raises(ReorgDetected, match="drop final blocks"):
        chain.reconcile(plain_branch(headers[7], 4, tag=b"x"))


def test_branch_that_does_not_reach_a_common_ancestor_asks_for_more() -> None:
    chain, _ = new_chain(10)
    forked_parent = plain_header(108, b"\x42" * 32)
    branch = plain_branch(forked_parent, 3)
    with pytest.raises(ReorgDetected, match="common ancestor") as err:
        chain.reconcile(branch)
    assert err.value.context["need_before"] == 109


def test_branch_that_only_extends_the_head_is_not_a_reorg() -> None:
    chain, headers = new_chain(5)
    assert chain.reconcile(plain_branch(headers[-1], 2)) is None
    assert chain.head.number == 107
    assert chain.reconcile(headers[3:]) is None


def test_window_is_bounded() -> None:
    chain, _ = new_chain(20, finality_depth=3, max_window=8)
    assert chain.base.number == 113
    assert chain.get(112) is None
    assert chain.head.number == 120


def test_rpc_header_is_checked_against_the_claimed_hash() -> None:
    block = json.loads((VECTORS / "rpc_blocks.json").read_text())["blocks"][0]
    link = verified_rpc_header(block)
    assert "0x" + link.hash.hex() == block["hash"]
    tampered = {**block, "stateRoot": "0x" + "ab" * 32}
    with pytest.raises(HeaderInvalid, match="does not match the node's claim"):
        verified_rpc_header(tampered)
    with pytest.raises(DecodeError):
        verified_rpc_header({**block, "hash": "0x1234"})


# --- a real reorg on anvil ---------------------------------------------------------------------


@pytest.fixture
async def anvil() -> AsyncIterator[SyncRpcClient]:
    """A private anvil: the test snapshots and reverts it, so not the shared session node."""
    async with start_anvil() as node:
        yield SyncRpcClient(node.url)


def test_reorg_on_a_real_node_is_detected_and_reconciled(anvil: SyncRpcClient) -> None:
    base_time = 1_800_000_000
    for i in range(3):
        anvil.call("evm_mine", base_time + i)
    checkpoint = verified_rpc_header(anvil.block(1))
    chain = HeaderChain(checkpoint.header, finality_depth=3, checkpoint_hash=checkpoint.hash)
    chain.extend([verified_rpc_header(anvil.block(n)).header for n in (2, 3)])

    snapshot = anvil.call("evm_snapshot")
    for i in range(2):
        anvil.call("evm_mine", base_time + 10 + i)
    chain.extend([verified_rpc_header(anvil.block(n)).header for n in (4, 5)])
    old_tip = chain.head.hash

    anvil.call("evm_revert", snapshot)
    for i in range(3):
        anvil.call("evm_mine", base_time + 20 + i)  # different timestamps: different blocks
    new_tip = verified_rpc_header(anvil.block(6))
    with pytest.raises(ReorgDetected, match="does not build on the current head"):
        chain.extend([new_tip.header])
    branch = [verified_rpc_header(anvil.block(n)) for n in (3, 4, 5, 6)]
    reorg = chain.reconcile([b.header for b in branch], [b.hash for b in branch])
    assert reorg is not None
    assert reorg.common_ancestor == 3
    assert reorg.depth == 2
    assert old_tip in reorg.dropped
    assert chain.head.hash == new_tip.hash


def test_finality_never_moves_back_after_a_reorg_to_a_shorter_branch() -> None:
    chain, headers = new_chain(10, finality_depth=3)
    assert chain.finalized_height() == 107
    chain.reconcile(plain_branch(headers[7], 1, tag=b"short"))  # head 110 -> 108
    assert chain.head.number == 108
    assert chain.finalized_height() == 107  # not 105: 107 was already reported final


def test_reorg_of_a_block_already_reported_final_is_refused_and_changes_nothing() -> None:
    chain, headers = new_chain(10, finality_depth=3)
    chain.reconcile(plain_branch(headers[7], 1, tag=b"short"))  # head 108, 107 stays final
    head = chain.head
    with pytest.raises(FinalityViolation) as err:
        chain.reconcile(plain_branch(headers[5], 2, tag=b"deeper"))  # would replace 106, 107
    assert err.value.context["common_ancestor"] == 105
    assert err.value.context["finalized_height"] == 107
    assert chain.head == head


def test_repeated_short_reorgs_cannot_walk_the_chain_back_to_its_checkpoint() -> None:
    chain, headers = new_chain(10, finality_depth=3)
    refused = 0
    for round_ in range(10):
        ancestor = chain.get(chain.head.number - 2)  # each branch one block shorter
        assert ancestor is not None
        try:
            chain.reconcile(plain_branch(ancestor.header, 1, tag=bytes([round_])))
        except FinalityViolation:
            refused += 1
    assert refused > 0
    assert chain.finalized_height() == 107
    assert chain.contains(107, header_hash(headers[7]))


def test_restored_finalized_floor_is_kept_by_a_new_chain() -> None:
    chain, headers = new_chain(10, finality_depth=3)
    restored = HeaderChain(CHECKPOINT, finality_depth=3, finalized_floor=chain.finalized_height())
    restored.extend(headers[1:9])  # head 108: by depth only 105 would be final
    assert restored.finalized_height() == 107
    with pytest.raises(FinalityViolation):
        restored.reconcile(plain_branch(headers[6], 3, tag=b"x"))
