"""Consortium devnet headers are Besu-QBFT compatible: they verify with the same code that
verifies real Besu headers (adapters.bft, adapters.lightclient.qbft)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.bft import (
    BFT_MIX_HASH,
    decode_qbft_extra,
    encode_qbft_extra,
    qbft_block_hash,
    qbft_commit_digest,
    qbft_quorum,
    recover_seal_signer,
)
from adapters.errors import HeaderInvalid
from adapters.headers import EMPTY_OMMERS_HASH, header_from_rpc, header_hash
from adapters.lightclient.qbft import trust_header, verify_commit_seals, verify_next
from devnet.launcher import start_consortium
from harness import NodeRpc

OFFLINE = bytes.fromhex("00000000000000000000000000000000000000aa")


async def _mine(rpc: NodeRpc, count: int) -> None:
    for _ in range(count):
        await rpc.call("evm_mine")


async def _blocks(rpc: NodeRpc, first: int, last: int) -> list[dict[str, Any]]:
    return [await rpc.block(n) for n in range(first, last + 1)]


async def test_every_block_verifies_with_the_qbft_light_client_and_links_to_its_parent(
    rpc: NodeRpc,
) -> None:
    await _mine(rpc, 5)
    head = await rpc.head()
    blocks = await _blocks(rpc, 0, head)
    trusted = trust_header(header_from_rpc(blocks[0]))
    assert trusted.hash.hex() == blocks[0]["hash"][2:]
    for parent, block in itertools.pairwise(blocks):
        header = header_from_rpc(block)
        assert block["parentHash"] == parent["hash"]
        assert "0x" + qbft_block_hash(header).hex() == block["hash"]
        verified = verify_next(trusted, header)
        trusted = verified.trusted()
    assert trusted.number == head


async def test_commit_seals_are_distinct_validators_and_at_least_a_quorum(rpc: NodeRpc) -> None:
    await _mine(rpc, 1)
    block = await rpc.block("latest")
    header = header_from_rpc(block)
    extra = decode_qbft_extra(header.extra_data)
    digest = qbft_commit_digest(header)
    signers = [recover_seal_signer(digest, seal) for seal in extra.seals]
    assert len(set(signers)) == len(signers)
    assert set(signers) <= set(extra.validators)
    # The devnet seals with every validator key it holds (documented): all 4 here.
    assert len(signers) == 4 >= qbft_quorum(4)
    assert verify_commit_seals(header, rpc.node.validators).signers == tuple(signers)


async def test_header_carries_besu_qbft_constants(rpc: NodeRpc) -> None:
    await _mine(rpc, 1)
    block = await rpc.block("latest")
    header = header_from_rpc(block)
    assert header.field_count == 17  # Shanghai, like Besu's shipped QBFT genesis files
    assert header.difficulty == 1
    assert header.mix_hash == BFT_MIX_HASH
    assert header.nonce == b"\x00" * 8
    assert header.ommers_hash == EMPTY_OMMERS_HASH
    extra = decode_qbft_extra(header.extra_data)
    assert extra.vanity == b"\x00" * 32
    assert list(extra.validators) == sorted(rpc.node.validators)
    assert extra.vote is None
    # The served hash is the QBFT hash, not keccak of the sealed header.
    assert "0x" + header_hash(header).hex() != block["hash"]


async def test_genesis_lists_the_validators_without_seals_and_is_hashed_raw(rpc: NodeRpc) -> None:
    genesis = await rpc.block(0)
    header = header_from_rpc(genesis)
    extra = decode_qbft_extra(header.extra_data)
    assert extra.seals == () and extra.round == 0 and extra.vote is None
    assert set(extra.validators) == set(rpc.node.validators)
    assert "0x" + header_hash(header).hex() == genesis["hash"]


async def test_proposer_rotates_round_robin_and_is_the_coinbase(rpc: NodeRpc) -> None:
    await _mine(rpc, 8)
    head = await rpc.head()
    blocks = await _blocks(rpc, head - 7, head)
    ordered = sorted(rpc.node.validators)
    miners = [bytes.fromhex(b["miner"][2:]) for b in blocks]
    start = ordered.index(miners[0])
    assert miners == [ordered[(start + i) % 4] for i in range(8)]
    for block in blocks:
        assert decode_qbft_extra(header_from_rpc(block).extra_data).round == 0


@pytest.fixture(scope="module")
async def rotating(http: aiohttp.ClientSession) -> AsyncIterator[NodeRpc]:
    # A fifth validator whose key the devnet does not hold: its turns become round-1 blocks.
    config = {"instant_seal": True, "offline_validators": ["0x" + OFFLINE.hex()]}
    async with start_consortium(config=config) as node:
        yield NodeRpc(node, http)


async def test_an_offline_proposer_turn_is_sealed_in_round_one_and_verifies_only_with_that_round(
    rotating: NodeRpc,
) -> None:
    await _mine(rotating, 10)
    blocks = await _blocks(rotating, 1, 10)
    late = [b for b in blocks if decode_qbft_extra(header_from_rpc(b).extra_data).round > 0]
    # Proposers follow the previous proposer (Besu ProposerSelector), so the offline validator's
    # turn, and with it a round change, comes every 4 blocks here (blocks 1, 5 and 9).
    assert [int(b["number"], 16) for b in late] == [1, 5, 9]
    for block in late:
        header = header_from_rpc(block)
        extra = decode_qbft_extra(header.extra_data)
        assert extra.round == 1
        assert bytes.fromhex(block["miner"][2:]) != OFFLINE
        validators = (*rotating.node.validators,)
        verified = verify_commit_seals(header, validators)
        assert len(verified.signers) == 4 == qbft_quorum(5)
        assert "0x" + verified.hash.hex() == block["hash"]
        for wrong_round in (0, 2):
            forged = dataclasses.replace(
                header, extra_data=encode_qbft_extra(dataclasses.replace(extra, round=wrong_round))
            )
            # The block hash ignores the round; the commit seals do not.
            assert qbft_block_hash(forged) == qbft_block_hash(header)
            with pytest.raises(HeaderInvalid):
                verify_commit_seals(forged, validators)


# Cancun and Prague (with transactions and the light client): tests/devnet/test_forks.py.
@pytest.mark.parametrize(("fork", "fields"), [("london", 16)])
async def test_selectable_fork_sets_the_header_field_count(
    http: aiohttp.ClientSession, fork: str, fields: int
) -> None:
    async with start_consortium(config={"instant_seal": True, "fork": fork}) as node:
        rpc = NodeRpc(node, http)
        await _mine(rpc, 2)
        blocks = await _blocks(rpc, 0, 2)
        for parent, block in itertools.pairwise(blocks):
            header = header_from_rpc(block)
            assert header.field_count == fields
            assert block["parentHash"] == parent["hash"]
            assert "0x" + verify_commit_seals(header, node.validators).hash.hex() == block["hash"]


async def test_quorum_commit_seals_rotate_and_verify(http: aiohttp.ClientSession) -> None:
    config = {"instant_seal": True, "validator_count": 7, "commit_seals": "quorum"}
    async with start_consortium(config=config) as node:
        rpc = NodeRpc(node, http)
        await _mine(rpc, 7)
        blocks = await _blocks(rpc, 0, 7)
        trusted = trust_header(header_from_rpc(blocks[0]))
        sealer_sets = set()
        for block in blocks[1:]:
            header = header_from_rpc(block)
            verified = verify_next(trusted, header)
            trusted = verified.trusted()
            assert len(decode_qbft_extra(header.extra_data).seals) == 5  # ceil(2 * 7 / 3)
            sealer_sets.add(tuple(sorted(verified.signers)))
        assert len(sealer_sets) > 1, "the sealing quorum does not rotate"
