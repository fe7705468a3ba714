"""The pure parts of ``adapters.follow``: config rules, batch linkage, the fork walk."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.errors import ConfigError, ReorgDetected, RpcResponseInvalid
from adapters.follow import (
    FollowConfig,
    FollowResult,
    HeaderFollower,
    check_linked,
    next_fork_height,
)
from adapters.headers import Header, header_hash
from adapters.lightclient.headerchain import ChainLink, HeaderChain, Reorg
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.types import Address, ChainId, Hash32, Height
from tests.helpers.headers import plain_branch, plain_header

HASH = Hash32(b"\x11" * 32)


def links_on(parent: Header, count: int, tag: bytes = b"") -> list[ChainLink]:
    return [ChainLink(h, header_hash(h)) for h in plain_branch(parent, count, tag)]


CHECKPOINT = plain_header(100, b"\x01" * 32)


def chain_of(length: int, finality_depth: int) -> tuple[HeaderChain, list[ChainLink]]:
    chain = HeaderChain(CHECKPOINT, finality_depth=finality_depth)
    ours = links_on(CHECKPOINT, length)
    chain.extend([link.header for link in ours])
    return chain, [ChainLink(CHECKPOINT, header_hash(CHECKPOINT)), *ours]


# --- FollowConfig ------------------------------------------------------------------------------


def test_config_with_a_pinned_checkpoint_is_accepted() -> None:
    config = FollowConfig(finality_depth=12, checkpoint_height=5, checkpoint_hash=HASH)
    assert (config.checkpoint_height, config.trust_node_finalized) == (5, False)


def test_config_trusting_the_nodes_finalized_block_is_accepted() -> None:
    assert FollowConfig(finality_depth=0, trust_node_finalized=True).checkpoint_hash is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # no trust anchor at all: never implicit
        {"trust_node_finalized": True, "checkpoint_height": 5, "checkpoint_hash": HASH},
        {"checkpoint_height": 5},
        {"checkpoint_hash": HASH},
        {"checkpoint_height": -1, "checkpoint_hash": HASH},
        {"checkpoint_height": True, "checkpoint_hash": HASH},
        {"checkpoint_height": 5, "checkpoint_hash": b"\x11" * 31},
        {"checkpoint_height": 5, "checkpoint_hash": "0x" + "11" * 32},
        {"trust_node_finalized": 1},
        {"trust_node_finalized": True, "finality_depth": -1},
        {"trust_node_finalized": True, "max_batch": 0},
        {"trust_node_finalized": True, "max_window": 12},
        {"trust_node_finalized": True, "tags": ("latest",)},
        {"trust_node_finalized": True, "tags": ("safe", "safe")},
        {"trust_node_finalized": True, "tags": ["finalized"]},
    ],
)
def test_unusable_config_is_a_config_error(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("finality_depth", 12)
    with pytest.raises(ConfigError):
        FollowConfig(**kwargs)


def test_follower_refuses_a_bft_adapter() -> None:
    # No I/O happens: the check is on the adapter's profile.
    adapter = QbftAdapter(
        QbftConfig(
            rpc_url="http://127.0.0.1:1",
            chain_id=ChainId(1337),
            trusted_validators=(Address(b"\x01" * 20),),
        )
    )
    chain = HeaderChain(CHECKPOINT, finality_depth=2)
    with pytest.raises(ConfigError, match="public chains"):
        HeaderFollower(adapter, chain)


def test_result_is_caught_up_only_at_the_nodes_head() -> None:
    def result(head: int, node_head: int) -> FollowResult:
        return FollowResult(Height(head), HASH, Height(node_head), 0, None)

    assert result(10, 10).caught_up
    assert result(11, 10).caught_up  # the node lags behind what we verified
    assert not result(9, 10).caught_up


# --- check_linked ------------------------------------------------------------------------------


def test_linked_batch_passes() -> None:
    check_linked(links_on(CHECKPOINT, 5))
    check_linked([])


def test_batch_with_a_wrong_parent_hash_is_rejected() -> None:
    batch = links_on(CHECKPOINT, 3)
    stranger = links_on(plain_header(101, b"\x09" * 32), 1)[0]  # number 102, another parent
    with pytest.raises(RpcResponseInvalid, match="do not link"):
        check_linked([batch[0], stranger])


def test_batch_with_a_gap_is_rejected() -> None:
    batch = links_on(CHECKPOINT, 3)
    with pytest.raises(RpcResponseInvalid):
        check_linked([batch[0], batch[2]])


# --- next_fork_height and the walk -------------------------------------------------------------


def test_walk_stops_at_a_branch_building_on_our_chain() -> None:
    chain, ours = chain_of(10, finality_depth=5)
    fork = links_on(ours[7].header, 2, tag=b"fork")
    assert next_fork_height(chain, fork) is None


def test_walk_asks_for_the_parent_while_it_is_not_ours() -> None:
    chain, ours = chain_of(10, finality_depth=5)
    fork = links_on(ours[7].header, 4, tag=b"fork")
    assert next_fork_height(chain, fork[2:]) == fork[1].number


def test_walk_stops_at_the_final_floor() -> None:
    chain, ours = chain_of(10, finality_depth=3)  # head 110, final up to 107
    fork = links_on(ours[5].header, 5, tag=b"fork")  # 106..110 on a block below the floor
    assert next_fork_height(chain, fork[1:]) is None  # lowest is 107: its parent 106 is final
    assert next_fork_height(chain, fork[2:]) == 107


def test_walk_of_an_empty_branch_is_a_bug() -> None:
    chain, _ = chain_of(2, finality_depth=1)
    with pytest.raises(ValueError):
        next_fork_height(chain, [])


def _walk(chain: HeaderChain, node: dict[int, ChainLink], tip: int) -> Reorg | None:
    """The fork walk of ``HeaderFollower.step`` against an in-memory node chain."""
    branch = [node[tip]]
    while (height := next_fork_height(chain, branch)) is not None:
        branch.insert(0, node[height])
    return chain.reconcile([b.header for b in branch], [b.hash for b in branch])


@given(
    length=st.integers(min_value=1, max_value=20),
    finality_depth=st.integers(min_value=0, max_value=8),
    reorg_depth=st.integers(min_value=1, max_value=20),
    new_blocks=st.integers(min_value=1, max_value=8),
)
def test_walk_finds_the_exact_common_ancestor_or_refuses_a_final_reorg(
    length: int, finality_depth: int, reorg_depth: int, new_blocks: int
) -> None:
    reorg_depth = min(reorg_depth, length)
    chain, ours = chain_of(length, finality_depth)
    ancestor = ours[length - reorg_depth]
    fork = links_on(ancestor.header, new_blocks, tag=b"fork")
    node = {link.number: link for link in [*ours[: length - reorg_depth + 1], *fork]}
    if reorg_depth > finality_depth:
        with pytest.raises(ReorgDetected):
            _walk(chain, node, fork[-1].number)
        assert chain.head == ours[-1]  # unchanged
        return
    reorg = _walk(chain, node, fork[-1].number)
    assert reorg is not None
    assert (reorg.common_ancestor, reorg.common_ancestor_hash) == (ancestor.number, ancestor.hash)
    assert reorg.dropped == tuple(link.hash for link in ours[length - reorg_depth + 1 :])
    assert chain.head == fork[-1]
