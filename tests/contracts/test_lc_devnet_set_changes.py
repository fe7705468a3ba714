"""Validator additions and removals on the consortium devnet (n = 4, 5 and 7), followed by the
Python light client and the on-chain QbftLightClient side by side.

The devnet seals each block with a rotating quorum of its validators, as Besu's proposer does
with the commit seals it collected first, so a removal (whose smaller quorum falls short of
two thirds of the trusted set) is followed through a run of headers whose sealers vouch for
it. ``TrustPathPlanner`` picks what to submit; the contract must accept exactly that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from web3.contract import Contract

from adapters.bft import decode_qbft_extra
from adapters.headers import Header, encode_header, header_from_rpc
from adapters.lightclient.qbft import (
    TrustedHeader,
    TrustPathPlanner,
    trust_header,
    validator_set_rlp,
)
from adapters.rlpcodec import keccak
from devnet.keys import validator_keys
from devnet.launcher import start_consortium
from harness import Chain, make_chain, sync_clock

TRUST = (2, 3, 30 * 24 * 3600, 15)


def header_at(chain: Chain, number: int | str) -> Header:
    tag = hex(number) if isinstance(number, int) else number
    return header_from_rpc(chain.rpc("eth_getBlockByNumber", tag, False))


class Relay:
    """Moves the on-chain client to the devnet's head along the Python planner's path."""

    def __init__(self, source: Chain, target: Chain, anchor: Header) -> None:
        self.source, self.target = source, target
        self.trusted: TrustedHeader = trust_header(anchor)
        self.lc: Contract = target.deploy(
            "QbftLightClient",
            source.chain_id,
            sorted(self.trusted.validators),
            anchor.number,
            self.trusted.hash,
            anchor.timestamp,
            target.accounts[0].address,
            TRUST,
        )
        self.runs = 0  # set changes that needed descendants to vouch

    def to_head(self) -> None:
        head = header_at(self.source, "latest")
        if head.number <= self.trusted.number:
            return
        planner = TrustPathPlanner(self.trusted, head.number)
        while planner.wanted is not None:
            planner.give(header_at(self.source, planner.wanted))
        sync_clock(self.target, self.source)
        for step in planner.steps:
            listed = decode_qbft_extra(step[0].extra_data).validators
            if listed == self.trusted.validators:
                self.target.send(self.lc.functions.submitHeader(encode_header(step[0])))
            else:
                self.runs += len(step) > 1
                call = self.lc.functions.updateValidatorSet(
                    validator_set_rlp(self.trusted.validators), [encode_header(h) for h in step]
                )
                self.target.send(call)
            self.trusted = trust_header(step[0])
            # both clients now trust the same header and the same set
            assert self.lc.functions.latestHash().call() == self.trusted.hash
            assert self.lc.functions.validatorSetHash().call() == keccak(validator_set_rlp(listed))
        assert self.trusted.number == head.number


def mine_until(chain: Chain, done: Any, limit: int = 20) -> None:
    for _ in range(limit):
        chain.mine()
        listed = decode_qbft_extra(header_at(chain, "latest").extra_data).validators
        if done(listed):
            return
    raise AssertionError("the devnet's validator set never changed")


@pytest.fixture(scope="module", params=[4, 5, 7])
async def voting(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Chain, int]]:
    n = request.param
    config = {
        "instant_seal": True,
        "validator_count": n,
        "spare_validators": 1,
        "commit_seals": "quorum",
    }
    async with start_consortium(config=config) as node:
        yield make_chain(f"voting-{n}", node.url, poa=True), n


def test_validator_added_then_removed_is_followed_by_both_light_clients(
    voting: tuple[Chain, int], anvil_chain: Chain
) -> None:
    dev, n = voting
    dev.mine()
    relay = Relay(dev, anvil_chain, header_at(dev, "latest"))
    assert len(relay.trusted.validators) == n

    spare = validator_keys(n + 1)[-1].address
    assert dev.rpc("qbft_proposeValidatorVote", "0x" + spare.hex(), True) is True
    mine_until(dev, lambda listed: spare in listed)
    dev.mine()  # a block of the new set on top
    relay.to_head()
    assert spare in relay.trusted.validators and len(relay.trusted.validators) == n + 1

    leaving = relay.trusted.validators[0]
    assert dev.rpc("qbft_proposeValidatorVote", "0x" + leaving.hex(), False) is True
    mine_until(dev, lambda listed: leaving not in listed)
    for _ in range(4):  # later blocks, whose sealers may vouch for the removal
        dev.mine()
    relay.to_head()
    assert leaving not in relay.trusted.validators and len(relay.trusted.validators) == n
    if n in (4, 7):
        # n+1 -> n: a quorum of the smaller set is below two thirds of the trusted one
        assert relay.runs >= 1
