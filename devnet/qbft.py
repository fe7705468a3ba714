"""QBFT consensus rules the devnet follows: proposer rotation, validator votes, epochs.

Sources (hyperledger/besu, consensus/common/bft and consensus/common/validator):
- ``ProposerSelector`` (changeEachBlock = true): round 0 of height N is the validator after
  coinbase(N-1) in the sorted set; round r moves r further. If the previous proposer is no
  longer a validator, start from the next address after it in sorted order.
- ``VoteTally.addVote``: a proposer's vote for a recipient replaces its opposite vote; once
  votes reach floor(n/2)+1 the change applies and every vote for (and by a removed) recipient is
  discarded. ``VoteTallyUpdater``: epoch blocks ignore their vote and discard all pending votes.
- ``VoteProposer.getVote``: a node proposes the first of its pending votes that still makes sense
  (add a non-validator / drop a validator) and that it has not cast yet.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.bft import Vote
from adapters.types import Address


def proposer_for_round(prev_proposer: bytes, validators: Sequence[bytes], round_: int) -> bytes:
    """Besu ``ProposerSelector.selectProposerForRound`` for block-header validator selection."""
    ordered = sorted(validators)
    if not ordered:
        raise ValueError("empty validator set")
    if prev_proposer in ordered:
        start = ordered.index(prev_proposer)
        offset = round_ + 1
    else:
        # handleMissingProposer: the next validator after the old proposer (wrapping around).
        start = bisect.bisect_right(ordered, prev_proposer) % len(ordered)
        offset = round_
    return ordered[(start + offset) % len(ordered)]


def is_epoch_block(number: int, epoch_length: int) -> bool:
    return number % epoch_length == 0


@dataclass
class VoteTally:
    """Validators after a block plus the votes cast since the last epoch (Besu ``VoteTally``)."""

    validators: list[bytes]
    add_votes: dict[bytes, set[bytes]] = field(default_factory=dict)
    remove_votes: dict[bytes, set[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validators = sorted(self.validators)

    def copy(self) -> VoteTally:
        return VoteTally(
            list(self.validators),
            {k: set(v) for k, v in self.add_votes.items()},
            {k: set(v) for k, v in self.remove_votes.items()},
        )

    def threshold(self) -> int:
        return len(self.validators) // 2 + 1

    def add_vote(self, proposer: bytes, vote: Vote) -> bytes | None:
        """Count ``vote`` by ``proposer``; return the recipient if the validator set changed."""
        subject = bytes(vote.recipient)
        adds = self.add_votes.setdefault(subject, set())
        removes = self.remove_votes.setdefault(subject, set())
        if vote.add:
            adds.add(proposer)
            removes.discard(proposer)
        else:
            removes.add(proposer)
            adds.discard(proposer)
        limit = self.threshold()
        changed = None
        if len(adds) >= limit:
            if subject not in self.validators:
                self.validators = sorted([*self.validators, subject])
            self._discard_for(subject)
            changed = subject
        elif len(removes) >= limit:
            self.validators = [v for v in self.validators if v != subject]
            self._discard_for(subject)
            for voters in (*self.add_votes.values(), *self.remove_votes.values()):
                voters.discard(subject)
            changed = subject
        return changed

    def _discard_for(self, subject: bytes) -> None:
        self.add_votes.pop(subject, None)
        self.remove_votes.pop(subject, None)

    def discard_all(self) -> None:
        self.add_votes.clear()
        self.remove_votes.clear()

    def has_cast(self, proposer: bytes, vote: Vote) -> bool:
        table = self.add_votes if vote.add else self.remove_votes
        return proposer in table.get(bytes(vote.recipient), set())

    def to_json(self) -> dict[str, Any]:
        def votes(table: dict[bytes, set[bytes]]) -> dict[str, list[str]]:
            return {
                "0x" + k.hex(): sorted("0x" + p.hex() for p in v) for k, v in table.items() if v
            }

        return {
            "validators": ["0x" + v.hex() for v in self.validators],
            "add": votes(self.add_votes),
            "remove": votes(self.remove_votes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VoteTally:
        def votes(table: dict[str, list[str]]) -> dict[bytes, set[bytes]]:
            return {
                bytes.fromhex(k[2:]): {bytes.fromhex(p[2:]) for p in v} for k, v in table.items()
            }

        return cls(
            [bytes.fromhex(v[2:]) for v in data["validators"]],
            votes(data.get("add", {})),
            votes(data.get("remove", {})),
        )


@dataclass
class PendingVotes:
    """The operator's vote proposals (address -> add?), shared by every in-process validator."""

    proposals: dict[bytes, bool] = field(default_factory=dict)

    def choose(self, proposer: bytes, tally: VoteTally) -> Vote | None:
        for recipient, add in self.proposals.items():
            if add == (recipient in tally.validators):
                continue  # no longer makes sense
            vote = Vote(Address(recipient), add)
            if not tally.has_cast(proposer, vote):
                return vote
        return None

    def prune(self, tally: VoteTally) -> None:
        """Drop proposals that no longer make sense (add an existing validator, drop an absent one)."""
        self.proposals = {
            r: add for r, add in self.proposals.items() if add != (r in tally.validators)
        }

    def to_json(self) -> dict[str, bool]:
        return {"0x" + r.hex(): add for r, add in self.proposals.items()}

    @classmethod
    def from_json(cls, data: dict[str, bool]) -> PendingVotes:
        return cls({bytes.fromhex(k[2:]): bool(v) for k, v in data.items()})
