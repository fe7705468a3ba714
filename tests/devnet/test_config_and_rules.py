"""Devnet config validation, the QBFT consensus rules the devnet follows, and the launchers."""

from __future__ import annotations

import pytest

from adapters.bft import Vote, decode_qbft_extra
from adapters.errors import ConfigError
from adapters.types import Address
from devnet.chain import DevnetChain
from devnet.config import DevnetConfig
from devnet.keys import validator_keys
from devnet.launcher import start_consortium, start_public
from devnet.qbft import PendingVotes, VoteTally, proposer_for_round

A, B, C, D = (bytes([i]) * 20 for i in (1, 2, 3, 4))


def test_unknown_config_key_is_rejected_naming_the_key() -> None:
    with pytest.raises(ConfigError) as exc:
        DevnetConfig.from_dict({"blocktime": 2})
    assert exc.value.context["key"] == "blocktime"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"chain_id": "20250"}, "chain_id"),
        ({"block_time": -1}, "block_time"),
        ({"fork": "osaka"}, "fork"),
        ({"validator_count": 0}, "validator_count"),
        ({"instant_seal": "yes"}, "instant_seal"),
        ({"allowlist": ["0x12"]}, "allowlist"),
        # 2 held keys cannot reach ceil(2*4/3) = 3 seals with 2 offline validators.
        (
            {"validator_count": 2, "offline_validators": ["0x" + "aa" * 20, "0x" + "bb" * 20]},
            "offline_validators",
        ),
    ],
)
def test_bad_config_values_are_rejected_naming_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        DevnetConfig.from_dict(raw)
    assert exc.value.context["key"] == key


def test_every_bad_value_is_one_line_naming_its_key() -> None:
    with pytest.raises(ConfigError) as exc:
        DevnetConfig.from_dict({"chain_id": 0, "fork": "osaka", "allowlist": ["0x12"]})
    assert exc.value.message.splitlines() == [
        "devnet config: chain_id: must be >= 1",
        "devnet config: fork: expected 'london', 'shanghai', 'cancun' or 'prague'",
        "devnet config: allowlist[0]: must be 20 bytes",
    ]


def test_broken_cross_rules_are_one_line_each_also_when_built_in_code() -> None:
    with pytest.raises(ConfigError) as exc:
        DevnetConfig.from_dict({"fork": "london", "spare_validators": 1}, mode="plain")
    assert exc.value.message.splitlines() == [
        "devnet config: fork: plain mode serves post-merge headers: use shanghai, cancun or prague",
        "devnet config: spare_validators: applies only to consortium mode",
    ]
    assert exc.value.context["key"] == "fork"
    with pytest.raises(ConfigError, match=r"offline_validators: .* the QBFT quorum needs 2"):
        DevnetConfig(validator_count=1, offline_validators=(Address(A),))
    with pytest.raises(ConfigError, match="mode: given twice"):
        DevnetConfig.from_dict({"mode": "plain"}, mode="consortium")


def test_to_dict_reads_back_to_the_same_config() -> None:
    config = DevnetConfig.from_dict(
        {"allowlist": ["0x" + "ab" * 20], "block_time": 2, "genesis_timestamp": 7}, mode="plain"
    )
    assert config.to_dict()["allowlist"] == ["0x" + "ab" * 20]
    assert config.block_time == 2.0 and config.instant_seal  # plain mode seals on arrival
    assert DevnetConfig.from_dict(config.to_dict()) == config


def test_mode_defaults() -> None:
    consortium = DevnetConfig.from_dict({})
    assert (consortium.chain_id, consortium.fork, consortium.permissioning) == (
        20250,
        "shanghai",
        True,
    )
    assert consortium.block_time == 1.0 and not consortium.instant_seal
    plain = DevnetConfig.from_dict({}, mode="plain")
    assert (plain.chain_id, plain.fork, plain.permissioning, plain.instant_seal) == (
        31337,
        "cancun",
        False,
        True,
    )
    assert DevnetConfig.from_dict({"block_time": 0}).instant_seal
    with pytest.raises(ConfigError):
        DevnetConfig.from_dict({"fork": "london"}, mode="plain")  # pre-merge PoW is not offered


def test_proposer_rotation_follows_besus_proposer_selector() -> None:
    validators = [A, B, C, D]
    assert proposer_for_round(B, validators, 0) == C
    assert proposer_for_round(D, validators, 0) == A
    assert proposer_for_round(B, validators, 2) == A
    # The previous proposer left the set (or genesis coinbase 0x0): start after it.
    assert proposer_for_round(b"\x00" * 20, validators, 0) == A
    assert proposer_for_round(bytes([2]) * 19 + b"\x09", validators, 1) == D


def test_vote_tally_applies_a_change_at_a_majority_of_distinct_proposers() -> None:
    tally = VoteTally([A, B, C, D])
    add = Vote(Address(b"\x09" * 20), True)
    assert tally.add_vote(A, add) is None
    assert tally.add_vote(A, add) is None  # the same proposer again does not count twice
    assert tally.add_vote(B, add) is None
    assert tally.add_vote(C, add) == b"\x09" * 20  # floor(4/2)+1 = 3
    assert b"\x09" * 20 in tally.validators and tally.add_votes == {}
    drop = Vote(Address(A), False)
    tally.add_vote(B, drop)
    tally.add_vote(B, Vote(Address(A), True))  # a proposer's later vote replaces its earlier one
    assert tally.remove_votes[A] == set()


def test_pending_votes_skip_votes_already_cast_and_prune_pointless_ones() -> None:
    tally = VoteTally([A, B, C, D])
    pending = PendingVotes({b"\x09" * 20: True, A: True})
    vote = pending.choose(B, tally)
    assert vote == Vote(Address(b"\x09" * 20), True)
    tally.add_vote(B, vote)
    assert pending.choose(B, tally) is None  # B already voted; adding A makes no sense
    pending.prune(tally)
    assert pending.proposals == {b"\x09" * 20: True}


def test_epoch_blocks_discard_pending_votes() -> None:
    chain = DevnetChain(
        DevnetConfig.from_dict({"epoch_length": 3, "spare_validators": 1, "instant_seal": True})
    )
    try:
        spare = validator_keys(5)[4].address
        chain.propose_vote(spare, True)
        votes = []
        for _ in range(6):
            chain.produce_block()
            votes.append(decode_qbft_extra(chain.sealed_extra[chain.head.block_number]).vote)
            if chain.head.block_number == 2:
                assert len(chain.tally.add_votes[spare]) == 2
        # Blocks 1, 2 vote; epoch block 3 carries no vote and discards both; 4, 5 vote again
        # and epoch block 6 discards them: 3 votes (floor(4/2)+1) are never reached.
        assert [v is not None for v in votes] == [True, True, False, True, True, False]
        assert spare not in chain.tally.validators
        assert chain.pending_votes.proposals == {spare: True}
    finally:
        chain.close()


async def test_launcher_rejects_a_bad_config_before_starting_anything() -> None:
    with pytest.raises(ConfigError):
        async with start_consortium(config={"no_such_key": 1}):
            pass


async def test_start_public_falls_back_to_the_plain_node() -> None:
    async with start_public(prefer_anvil=False) as node:
        assert node.mode == "plain" and node.chain_id == 31337 and node.validators == ()
        assert len(node.accounts) == 10
