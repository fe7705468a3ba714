"""``HeaderFollower`` against live nodes: following, real reorgs on anvil, forged headers.

Reorgs are real: anvil's ``anvil_reorg`` (replace the last N blocks) and ``evm_snapshot`` /
``evm_revert`` followed by mining other blocks. The plain devnet has no snapshot/revert, so it
only shows plain following. Forged headers come from a proxy in front of the real node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from adapters.errors import FinalityViolation, HeaderInvalid, ReorgDetected, RpcResponseInvalid
from adapters.evm import EvmAdapter, EvmConfig
from adapters.follow import FollowConfig, HeaderFollower
from adapters.headers import header_from_rpc, header_hash
from adapters.retry import RetryPolicy
from adapters.types import ChainId, Finality, Hash32
from devnet.anvil import start_anvil
from harness import RpcClient
from tests.live.faulty_proxy import Fault, faulty_proxy

pytestmark = pytest.mark.live


class Rpc(RpcClient):
    """The harness's raw JSON-RPC to the node, for the test's own view of the chain and dev
    controls."""

    async def hash_at(self, height: int) -> Hash32:
        block = await self.block(height)
        return Hash32(bytes.fromhex(block["hash"][2:]))

    async def hashes(self, start: int, end: int) -> list[Hash32]:
        return [await self.hash_at(h) for h in range(start, end + 1)]

    async def mine(self, count: int) -> None:
        await self.call("anvil_mine", hex(count)) if count > 1 else await self.call("evm_mine")


@dataclasses.dataclass
class Node:
    url: str
    chain_id: int
    rpc: Rpc
    sender: str
    recipient: str


@pytest.fixture(scope="module")
async def anvil() -> AsyncIterator[Node]:
    """A private anvil: these tests rewrite its chain."""
    async with start_anvil(chain_id=31337) as node, Rpc(node.url) as rpc:
        yield Node(
            node.url,
            int(node.chain_id),
            rpc,
            to_checksum_address(node.accounts[0].address),
            to_checksum_address(node.accounts[1].address),
        )


def _config(url: str, chain_id: int) -> EvmConfig:
    return EvmConfig(
        rpc_url=url,
        chain_id=ChainId(chain_id),
        finality=Finality.confirmations(3),
        retry=RetryPolicy(initial_delay=0.01, max_attempts=2),
    )


@pytest.fixture
async def adapter(anvil: Node) -> AsyncIterator[EvmAdapter]:
    async with EvmAdapter(_config(anvil.url, anvil.chain_id)) as a:
        yield a


async def _follower_at_head(
    adapter: EvmAdapter, rpc: Rpc, finality_depth: int = 4, **kw: Any
) -> HeaderFollower:
    """A follower whose checkpoint is the node's current head (hash taken from the node)."""
    height = await rpc.head()
    config = FollowConfig(
        finality_depth=finality_depth,
        checkpoint_height=height,
        checkpoint_hash=await rpc.hash_at(height),
        **kw,
    )
    return await HeaderFollower.bootstrap(adapter, config)


async def _catch_up(follower: HeaderFollower) -> None:
    for _ in range(100):
        result = await follower.step()
        assert result.reorg is None
        if result.caught_up:
            return
    raise AssertionError("follower did not catch up")


def _window(follower: HeaderFollower, start: int, end: int) -> list[Hash32]:
    return [follower.header(h).hash for h in range(start, end + 1)]


# --- following ---------------------------------------------------------------------------------


async def test_follower_tracks_new_blocks_by_hash_linkage(anvil: Node, adapter: EvmAdapter) -> None:
    follower = await _follower_at_head(adapter, anvil.rpc, max_batch=4)
    start = follower.head.number
    await anvil.rpc.mine(10)
    first = await follower.step()
    assert (first.added, first.head, first.caught_up) == (4, start + 4, False)
    await _catch_up(follower)
    assert follower.head.number == start + 10
    assert _window(follower, start, start + 10) == await anvil.rpc.hashes(start, start + 10)
    assert follower.final_height(Finality.confirmations(3)) == start + 7
    assert follower.final_height(Finality.latest()) == start + 10
    again = await follower.step()
    assert (again.added, again.reorg, again.caught_up) == (0, None, True)


async def test_follower_records_the_nodes_finalized_block_once_on_its_chain(
    anvil: Node, adapter: EvmAdapter
) -> None:
    await anvil.rpc.mine(70)  # anvil finalizes head - 64
    follower = await HeaderFollower.bootstrap(
        adapter, FollowConfig(finality_depth=4, trust_node_finalized=True, max_batch=128)
    )
    finalized = await adapter.header_link("finalized")
    assert follower.chain.base.number == finalized.number  # seeded at the node's finalized block
    await anvil.rpc.mine(3)
    await _catch_up(follower)
    node_finalized = await adapter.header_link("finalized")
    assert node_finalized.number > finalized.number
    assert follower.final_height(Finality.finalized()) == node_finalized.number
    assert follower.header(node_finalized.number).hash == node_finalized.hash


async def test_checkpoint_with_another_hash_is_refused(anvil: Node, adapter: EvmAdapter) -> None:
    height = await anvil.rpc.head()
    wrong = bytearray(await anvil.rpc.hash_at(height))
    wrong[0] ^= 1
    config = FollowConfig(
        finality_depth=2, checkpoint_height=height, checkpoint_hash=Hash32(bytes(wrong))
    )
    with pytest.raises(HeaderInvalid):
        await HeaderFollower.bootstrap(adapter, config)


# --- reorgs ------------------------------------------------------------------------------------


async def test_anvil_reorg_is_followed_and_reports_the_common_ancestor(
    anvil: Node, adapter: EvmAdapter
) -> None:
    follower = await _follower_at_head(adapter, anvil.rpc, finality_depth=4)
    await anvil.rpc.mine(6)
    await _catch_up(follower)
    head = follower.head.number
    old = await anvil.rpc.hashes(head - 3, head)
    # Replace the last 2 blocks; a transfer in the first new block makes them differ for sure.
    tx = {"from": anvil.sender, "to": anvil.recipient, "value": "0x1"}
    await anvil.rpc.call("anvil_reorg", 2, [[tx, 0]])
    result = await follower.step()
    reorg = result.reorg
    assert reorg is not None
    assert reorg.common_ancestor == head - 2
    assert reorg.common_ancestor_hash == old[1]
    assert reorg.depth == 2
    assert reorg.dropped == tuple(old[2:])
    assert reorg.new_head == head
    assert follower.reorgs[-1] == reorg
    assert _window(follower, head - 3, head) == await anvil.rpc.hashes(head - 3, head)
    assert (result.head_hash, result.added) == (await anvil.rpc.hash_at(head), 2)


async def test_reverted_chain_with_a_longer_branch_is_followed(
    anvil: Node, adapter: EvmAdapter
) -> None:
    follower = await _follower_at_head(adapter, anvil.rpc, finality_depth=4)
    fork = follower.head
    snapshot = await anvil.rpc.call("evm_snapshot")
    await anvil.rpc.mine(3)
    await _catch_up(follower)
    dropped = tuple(_window(follower, fork.number + 1, fork.number + 3))
    assert await anvil.rpc.call("evm_revert", snapshot) is True
    # Later timestamps than the dropped blocks: the new blocks cannot equal the old ones.
    timestamp = follower.head.header.timestamp + 100
    for i in range(5):
        await anvil.rpc.call("evm_mine", hex(timestamp + i))
    result = await follower.step()
    assert result.reorg is not None
    assert (result.reorg.common_ancestor, result.reorg.common_ancestor_hash) == (
        fork.number,
        fork.hash,
    )
    assert (result.reorg.depth, result.reorg.dropped) == (3, dropped)
    assert (result.head, result.added) == (fork.number + 5, 5)
    assert _window(follower, fork.number, fork.number + 5) == await anvil.rpc.hashes(
        fork.number, fork.number + 5
    )


async def test_reverted_chain_with_a_shorter_branch_is_followed(
    anvil: Node, adapter: EvmAdapter
) -> None:
    follower = await _follower_at_head(adapter, anvil.rpc, finality_depth=4)
    fork = follower.head
    snapshot = await anvil.rpc.call("evm_snapshot")
    await anvil.rpc.mine(3)
    await _catch_up(follower)
    assert await anvil.rpc.call("evm_revert", snapshot) is True
    await anvil.rpc.call("evm_mine", hex(follower.head.header.timestamp + 100))
    assert await anvil.rpc.head() < follower.head.number  # the node's head is below ours
    result = await follower.step()
    assert result.reorg is not None
    assert (result.reorg.common_ancestor, result.reorg.depth) == (fork.number, 3)
    assert follower.head.number == fork.number + 1
    assert follower.head.hash == await anvil.rpc.hash_at(fork.number + 1)
    assert follower.chain.get(fork.number + 2) is None


async def test_finality_floor_survives_a_shorter_branch_and_a_restart(
    anvil: Node, adapter: EvmAdapter
) -> None:
    """A reorg to a shorter branch must not lower what was reported final; otherwise the next
    reorg replaces a final block, and repeated, the chain walks back to its checkpoint."""
    follower = await _follower_at_head(adapter, anvil.rpc, finality_depth=4)
    start = follower.head.number
    await anvil.rpc.mine(1)
    at_1 = await anvil.rpc.call("evm_snapshot")
    await anvil.rpc.mine(2)
    at_3 = await anvil.rpc.call("evm_snapshot")
    await anvil.rpc.mine(3)
    await _catch_up(follower)
    assert follower.finalized_floor == start + 2  # head start+6, depth 4
    # a 3-block reorg to a shorter branch (head start+4): followed, the floor stays
    assert await anvil.rpc.call("evm_revert", at_3) is True
    await anvil.rpc.call("evm_mine", hex(follower.head.header.timestamp + 100))
    assert (await follower.step()).reorg is not None
    assert follower.head.number == start + 4
    assert follower.finalized_floor == start + 2
    # a branch from start+1 would replace start+2, already reported final: refused, loudly
    assert await anvil.rpc.call("evm_revert", at_1) is True
    await anvil.rpc.call("evm_mine", hex(follower.head.header.timestamp + 200))
    await anvil.rpc.mine(1)
    with pytest.raises(FinalityViolation):
        await follower.step()
    assert follower.head.number == start + 4
    # a follower restarted from the same checkpoint with the persisted floor refuses it too
    restarted = await HeaderFollower.bootstrap(
        adapter,
        FollowConfig(
            finality_depth=4,
            checkpoint_height=start,
            checkpoint_hash=follower.header(start).hash,
            finalized_floor=follower.finalized_floor,
        ),
    )
    assert restarted.finalized_floor == start + 2


async def test_reorg_deeper_than_finality_is_refused_and_not_followed(
    anvil: Node, adapter: EvmAdapter
) -> None:
    follower = await _follower_at_head(adapter, anvil.rpc, finality_depth=2)
    await anvil.rpc.mine(6)
    await _catch_up(follower)
    head = follower.head
    window = _window(follower, head.number - 6, head.number)
    tx = {"from": anvil.sender, "to": anvil.recipient, "value": "0x2"}
    await anvil.rpc.call("anvil_reorg", 3, [[tx, 0]])  # drops 3 blocks; only 2 may be reorganised
    with pytest.raises(ReorgDetected) as caught:
        await follower.step()
    assert caught.value.context["common_ancestor"] == head.number - 3
    assert caught.value.context["depth"] == 3
    assert caught.value.context["chain_id"] == anvil.chain_id
    assert follower.head == head
    assert _window(follower, head.number - 6, head.number) == window
    with pytest.raises(ReorgDetected):  # never followed silently, however often it is asked
        await follower.step()


async def test_reorg_within_finality_depth_is_followed_at_the_limit(
    anvil: Node, adapter: EvmAdapter
) -> None:
    follower = await _follower_at_head(adapter, anvil.rpc, finality_depth=3)
    await anvil.rpc.mine(5)
    await _catch_up(follower)
    head = follower.head.number
    tx = {"from": anvil.sender, "to": anvil.recipient, "value": "0x3"}
    await anvil.rpc.call("anvil_reorg", 3, [[tx, 0]])  # exactly the finality depth
    result = await follower.step()
    assert result.reorg is not None
    assert (result.reorg.common_ancestor, result.reorg.depth) == (head - 3, 3)


# --- forged answers ----------------------------------------------------------------------------


def _forge_parent(height: int) -> Callable[[Any], Any]:
    """Give block ``height`` another parentHash and a hash that matches its new contents, so
    only the chain linkage can expose it."""

    def mutate(block: Any) -> Any:
        if block is None or int(block["number"], 16) != height:
            return block
        header = header_from_rpc(block)
        forged = dataclasses.replace(header, parent_hash=b"\x42" * 32)
        block["parentHash"] = "0x" + forged.parent_hash.hex()
        block["hash"] = "0x" + header_hash(forged).hex()
        return block

    return mutate


def _flip_parent(height: int) -> Callable[[Any], Any]:
    """Change block ``height``'s parentHash but keep the node's claimed hash."""

    def mutate(block: Any) -> Any:
        if block is None or int(block["number"], 16) != height:
            return block
        block["parentHash"] = "0x" + "42" * 32
        return block

    return mutate


@pytest.mark.parametrize(
    ("forge", "position", "reason"),
    [
        (_forge_parent, "tip", "not the parent of its next header"),
        (_forge_parent, "inside the batch", "headers do not link"),
        (_flip_parent, "tip", "does not hash to the hash the node claims"),
    ],
    ids=["bad-parent-at-tip", "bad-parent-inside-batch", "hash-mismatch"],
)
async def test_forged_header_is_rejected_and_the_chain_is_unchanged(
    anvil: Node, forge: Callable[[int], Callable[[Any], Any]], position: str, reason: str
) -> None:
    async with (
        faulty_proxy(anvil.url) as proxy,
        EvmAdapter(_config(proxy.url, anvil.chain_id)) as adapter,
    ):
        follower = await _follower_at_head(adapter, anvil.rpc)
        head = follower.head
        await anvil.rpc.mine(3 if position == "inside the batch" else 1)
        proxy.fault = Fault(method="eth_getBlockByNumber", mutate=forge(head.number + 1))
        with pytest.raises(RpcResponseInvalid, match=reason):
            await follower.step()
        assert follower.head == head
        assert follower.chain.get(head.number + 1) is None
        assert follower.reorgs == ()
        proxy.fault = None  # the honest node's answers are followed again
        await _catch_up(follower)
        assert follower.head.hash == await anvil.rpc.hash_at(follower.head.number)


# --- the plain devnet (no snapshot/revert: following only) -------------------------------------


async def test_follower_tracks_the_plain_devnet(plain_node: Any) -> None:
    async with (
        Rpc(plain_node.url) as rpc,
        EvmAdapter(_config(plain_node.url, plain_node.chain_id)) as adapter,
    ):
        follower = await _follower_at_head(adapter, rpc, finality_depth=2, max_batch=2)
        start = follower.head.number
        for _ in range(5):
            await rpc.call("evm_mine")
        await _catch_up(follower)
        assert follower.head.number >= start + 5
        end = follower.head.number
        assert _window(follower, start, end) == await rpc.hashes(start, end)
        # The plain devnet reports finalized = latest; the follower checked it is on its chain.
        assert follower.final_height(Finality.finalized()) == end
        assert follower.final_height(Finality.confirmations(2)) == end - 2
