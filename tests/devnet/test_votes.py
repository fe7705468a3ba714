"""Validator votes (Besu qbft_* API): proposers cast them in extraData, a change applies at
floor(n/2)+1 votes, the next header lists the new set and the new set seals it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.bft import decode_qbft_extra, qbft_commit_digest, recover_seal_signer
from adapters.headers import header_from_rpc
from adapters.lightclient.qbft import trust_header, verify_commit_seals, verify_header
from devnet.keys import validator_keys
from devnet.launcher import start_consortium
from harness import NodeRpc, RpcError

SPARE = validator_keys(5)[4].address  # a dev validator key the node holds but did not start with
STRANGER = bytes.fromhex("00000000000000000000000000000000000000bb")


def _hex(a: bytes) -> str:
    return "0x" + a.hex()


@pytest.fixture(scope="module")
async def voting(http: aiohttp.ClientSession) -> AsyncIterator[NodeRpc]:
    config = {"instant_seal": True, "spare_validators": 1}
    async with start_consortium(config=config) as node:
        yield NodeRpc(node, http)


async def _mine_until_set_changes(rpc: NodeRpc, size_before: int) -> list[dict[str, Any]]:
    """Mine blocks until a header lists a different number of validators; return them all."""
    mined = []
    for _ in range(10):
        await rpc.call("evm_mine")
        block = await rpc.block("latest")
        mined.append(block)
        if len(decode_qbft_extra(header_from_rpc(block).extra_data).validators) != size_before:
            return mined
    raise AssertionError("validator set never changed")


async def test_adding_a_validator_takes_a_majority_of_votes_and_the_new_set_seals_the_next_block(
    voting: NodeRpc,
) -> None:
    before = await voting.call("qbft_getValidatorsByBlockNumber", "latest")
    assert len(before) == 4 and _hex(SPARE) not in before
    assert await voting.call("qbft_proposeValidatorVote", _hex(SPARE), True) is True
    assert await voting.call("qbft_getPendingVotes") == {_hex(SPARE): True}

    mined = await _mine_until_set_changes(voting, 4)
    voters = [
        bytes.fromhex(b["miner"][2:])
        for b in mined
        if (vote := decode_qbft_extra(header_from_rpc(b).extra_data).vote) is not None
        and vote.recipient == SPARE
        and vote.add
    ]
    # floor(4/2)+1 = 3 distinct proposers voted, then the next header lists 5 validators.
    assert len(voters) == 3 == len(set(voters))
    changed = mined[-1]
    header = header_from_rpc(changed)
    extra = decode_qbft_extra(header.extra_data)
    assert SPARE in extra.validators and len(extra.validators) == 5
    digest = qbft_commit_digest(header)
    assert SPARE in {recover_seal_signer(digest, s) for s in extra.seals}
    verify_commit_seals(header, extra.validators)
    # A light client follows the change with the skipping rule (> 1/3 of the old set).
    parent = mined[-2]
    verified = verify_header(trust_header(header_from_rpc(parent)), header)
    assert verified.validators == extra.validators
    assert await voting.call("qbft_getPendingVotes") == {}
    after = await voting.call("qbft_getValidatorsByBlockHash", changed["hash"])
    assert _hex(SPARE) in after and len(after) == 5
    # Earlier blocks keep reporting the set that sealed them.
    assert len(await voting.call("qbft_getValidatorsByBlockNumber", parent["number"])) == 4


async def test_removing_a_validator_drops_it_from_the_next_header(voting: NodeRpc) -> None:
    assert len(await voting.call("qbft_getValidatorsByBlockNumber", "latest")) == 5
    await voting.call("qbft_proposeValidatorVote", _hex(SPARE), False)
    mined = await _mine_until_set_changes(voting, 5)
    header = header_from_rpc(mined[-1])
    extra = decode_qbft_extra(header.extra_data)
    assert SPARE not in extra.validators and len(extra.validators) == 4
    assert len(verify_commit_seals(header, extra.validators).signers) == 4
    await voting.call("evm_mine")
    assert len(await voting.call("qbft_getValidatorsByBlockNumber", "latest")) == 4


async def test_a_discarded_vote_is_never_cast(voting: NodeRpc) -> None:
    await voting.call("qbft_proposeValidatorVote", _hex(STRANGER), True)
    assert await voting.call("qbft_discardValidatorVote", _hex(STRANGER)) is True
    assert await voting.call("qbft_getPendingVotes") == {}
    await voting.call("evm_mine")
    assert decode_qbft_extra(header_from_rpc(await voting.block("latest")).extra_data).vote is None


async def test_a_vote_that_makes_no_sense_is_refused(voting: NodeRpc) -> None:
    member = (await voting.call("qbft_getValidatorsByBlockNumber", "latest"))[0]
    with pytest.raises(RpcError) as exc:
        await voting.call("qbft_proposeValidatorVote", member, True)
    assert exc.value.code == -32602 and "already a validator" in exc.value.data
    with pytest.raises(RpcError) as exc:
        await voting.call("qbft_proposeValidatorVote", _hex(STRANGER), "yes")
    assert exc.value.code == -32602 and exc.value.message == "Invalid vote type params"


async def test_a_vote_that_would_lose_quorum_is_refused(http: aiohttp.ClientSession) -> None:
    async with start_consortium(config={"instant_seal": True, "validator_count": 1}) as node:
        rpc = NodeRpc(node, http)
        # Adding a validator whose key the devnet lacks would need 2 seals from 1 held key.
        with pytest.raises(RpcError) as exc:
            await rpc.call("qbft_proposeValidatorVote", _hex(STRANGER), True)
        assert exc.value.code == -32000 and "quorum" in exc.value.message
        with pytest.raises(RpcError):
            await rpc.call("qbft_proposeValidatorVote", _hex(node.validators[0]), False)
        assert await rpc.call("qbft_getPendingVotes") == {}
        # A one-validator chain still seals and verifies.
        await rpc.call("evm_mine")
        header = header_from_rpc(await rpc.block("latest"))
        assert len(verify_commit_seals(header, node.validators).signers) == 1
