"""Pure QBFT light client with Besu's header rules (docs/light-client-formats.md §1.4-1.6).

Trust flows from a ``TrustedHeader`` (a checkpoint chosen by the operator, e.g. genesis) to
later headers in one of two ways:

* ``verify_next``: the child of the trusted header. Its listed validators must equal the trusted
  set, and ≥ ceil(2n/3) distinct members of that set must have sealed it (Besu
  ``BftValidatorsValidationRule`` + ``BftCommitSealsValidationRule``).
* ``verify_skipping``: any later header (also a child whose listed set changed through a vote).
  Seals from more than 1/3 of the trusted set (``3s > |V_trusted|``, so at least one honest
  trusted validator vouches for it) and from ≥ ceil(2n/3) of the header's own listed set; with
  an optional trusting period as in yui-ibc-solidity's IBFT 2.0 light client.

``verify_header`` picks the right one. ``verify_commit_seals`` checks one header against a
given validator set (the CLI's ``proof verify-header`` and the benchmark).

Every rejection raises ``HeaderInvalid`` with a specific message and context.
Validator-contract mode (empty validator list in extraData) is not supported here: the set then
lives in contract storage and needs a storage proof against the parent's state root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adapters.bft import (
    BFT_MIX_HASH,
    BftExtraData,
    decode_qbft_extra,
    qbft_hashes,
    qbft_quorum,
    recover_seal_signer,
)
from adapters.errors import DecodeError, HeaderInvalid
from adapters.headers import EMPTY_OMMERS_HASH, Header, decode_header
from adapters.types import Address, Hash32

__all__ = [
    "TrustedHeader",
    "VerifiedHeader",
    "trust_header",
    "verify_commit_seals",
    "verify_header",
    "verify_next",
    "verify_skipping",
]


@dataclass(frozen=True, slots=True)
class TrustedHeader:
    """A header the client trusts, and the validator set trusted to seal the next block.

    ``validators`` is taken from the header's own list. A vote in this header that changes the
    set shows up as a different list in the child, which is then accepted by the skipping rule.
    """

    number: int
    hash: Hash32
    validators: tuple[Address, ...]
    timestamp: int


@dataclass(frozen=True, slots=True)
class VerifiedHeader:
    """A header that passed verification, with the facts that were checked."""

    header: Header
    extra: BftExtraData
    hash: Hash32
    commit_digest: Hash32
    signers: tuple[Address, ...]  # in seal order
    quorum: int  # seals required from the header's own validator set
    validators: tuple[Address, ...]  # the set listed in (and sealing) this header

    @property
    def number(self) -> int:
        return self.header.number

    def trusted(self) -> TrustedHeader:
        """This header as the next trust anchor."""
        return TrustedHeader(
            number=self.header.number,
            hash=self.hash,
            validators=self.validators,
            timestamp=self.header.timestamp,
        )


def _as_header(header: Header | bytes) -> Header:
    if isinstance(header, Header):
        return header
    try:
        return decode_header(header)
    except DecodeError as exc:
        raise HeaderInvalid(f"header does not decode: {exc.message}", **exc.context) from exc


def _extra(header: Header) -> BftExtraData:
    try:
        return decode_qbft_extra(header.extra_data)
    except DecodeError as exc:
        raise HeaderInvalid(
            f"header extraData invalid: {exc.message}", height=header.number, **exc.context
        ) from exc


def _check_bft_fields(header: Header, extra: BftExtraData) -> None:
    """Besu's constant-field, gas and coinbase rules (QbftBlockHeaderValidationRulesetFactory)."""
    n = header.number
    if header.mix_hash != BFT_MIX_HASH:
        raise HeaderInvalid("mixHash is not the BFT constant", height=n, mix_hash=header.mix_hash)
    if header.difficulty != 1:
        raise HeaderInvalid("difficulty is not 1", height=n, difficulty=header.difficulty)
    if header.ommers_hash != EMPTY_OMMERS_HASH:
        raise HeaderInvalid("header has ommers", height=n, ommers_hash=header.ommers_hash)
    if header.gas_used > header.gas_limit:
        raise HeaderInvalid(
            "gasUsed exceeds gasLimit",
            height=n,
            gas_used=header.gas_used,
            gas_limit=header.gas_limit,
        )
    if not extra.validators:
        raise HeaderInvalid(
            "header lists no validators (validator-contract mode is not supported)", height=n
        )
    if header.coinbase not in extra.validators:
        raise HeaderInvalid("coinbase is not a validator", height=n, coinbase=header.coinbase)


def _signers(
    header: Header, extra: BftExtraData, digest: Hash32, allowed: frozenset[bytes]
) -> tuple[Address, ...]:
    """Recover every seal; each must be a distinct member of ``allowed``."""
    signers: list[Address] = []
    seen: set[bytes] = set()
    for index, seal in enumerate(extra.seals):
        signer = recover_seal_signer(digest, seal)
        if signer in seen:
            raise HeaderInvalid(
                "duplicate commit seal", height=header.number, signer=signer, index=index
            )
        if signer not in allowed:
            # Also what a seal made for another round or another block looks like.
            raise HeaderInvalid(
                "commit seal signer is not a validator",
                height=header.number,
                signer=signer,
                index=index,
            )
        seen.add(signer)
        signers.append(signer)
    return tuple(signers)


def _verify_own_quorum(
    header: Header, extra: BftExtraData
) -> tuple[Hash32, Hash32, tuple[Address, ...], int]:
    _check_bft_fields(header, extra)
    block_hash, digest = qbft_hashes(header, extra)
    signers = _signers(header, extra, digest, frozenset(extra.validators))
    quorum = qbft_quorum(len(extra.validators))
    if len(signers) < quorum:
        raise HeaderInvalid(
            "too few commit seals",
            height=header.number,
            got=len(signers),
            needed=quorum,
            validators=len(extra.validators),
        )
    return block_hash, digest, signers, quorum


def _normalise_set(validators: Iterable[bytes]) -> tuple[Address, ...]:
    out = []
    for index, v in enumerate(validators):
        if not isinstance(v, bytes) or len(v) != 20:
            raise HeaderInvalid("validator is not a 20-byte address", index=index)
        out.append(Address(v))
    ordered = tuple(sorted(set(out)))
    if len(ordered) != len(out):
        raise HeaderInvalid("validator set lists an address twice")
    return ordered


def _check_parent(h: Header, trusted: TrustedHeader) -> None:
    """For the child of ``trusted``: its parentHash must be the trusted hash."""
    if h.parent_hash != trusted.hash:
        raise HeaderInvalid(
            "wrong parent hash",
            height=h.number,
            parent_hash=h.parent_hash,
            trusted_hash=trusted.hash,
        )


def _check_block_period(h: Header, trusted: TrustedHeader, min_block_period_s: int) -> None:
    """For the child of ``trusted``: Besu's minimum block period between the two."""
    if h.timestamp < trusted.timestamp + min_block_period_s:
        raise HeaderInvalid(
            "timestamp too early for the block period",
            height=h.number,
            timestamp=h.timestamp,
            parent_timestamp=trusted.timestamp,
        )


def verify_commit_seals(header: Header | bytes, validators: Sequence[bytes]) -> VerifiedHeader:
    """Verify one header against the validator set that must have sealed it.

    The header must list exactly ``validators`` (any order given here; the header's own list
    must be sorted) and carry distinct seals from ≥ ceil(2n/3) of them. ``header`` may be the
    RLP bytes or a decoded ``Header``.
    """
    h = _as_header(header)
    expected = _normalise_set(validators)
    if not expected:
        raise HeaderInvalid("validator set is empty")
    extra = _extra(h)
    if extra.validators != expected:
        raise HeaderInvalid(
            "header validator list differs from the given set",
            height=h.number,
            listed=extra.validators,
            expected=expected,
        )
    block_hash, digest, signers, quorum = _verify_own_quorum(h, extra)
    return VerifiedHeader(h, extra, block_hash, digest, signers, quorum, extra.validators)


def trust_header(header: Header | bytes) -> TrustedHeader:
    """Make a trust anchor from a header obtained out of band (genesis, operator checkpoint).

    Only its format is checked: trusting it is the caller's decision.
    """
    h = _as_header(header)
    extra = _extra(h)
    if not extra.validators:
        raise HeaderInvalid(
            "header lists no validators (validator-contract mode is not supported)",
            height=h.number,
        )
    block_hash, _ = qbft_hashes(h, extra)
    return TrustedHeader(h.number, block_hash, extra.validators, h.timestamp)


def verify_next(
    trusted: TrustedHeader, candidate: Header | bytes, *, min_block_period_s: int = 0
) -> VerifiedHeader:
    """Verify the child of ``trusted``: linkage, unchanged validator set, ceil(2n/3) seals."""
    h = _as_header(candidate)
    if h.number != trusted.number + 1:
        raise HeaderInvalid(
            "header is not the child of the trusted header",
            height=h.number,
            trusted_height=trusted.number,
        )
    _check_parent(h, trusted)
    _check_block_period(h, trusted, min_block_period_s)
    extra = _extra(h)
    if extra.validators != trusted.validators:
        raise HeaderInvalid(
            "header validator list differs from the trusted set (use the skipping rule)",
            height=h.number,
            listed=extra.validators,
            trusted=trusted.validators,
        )
    block_hash, digest, signers, quorum = _verify_own_quorum(h, extra)
    return VerifiedHeader(h, extra, block_hash, digest, signers, quorum, extra.validators)


def verify_skipping(
    trusted: TrustedHeader,
    candidate: Header | bytes,
    *,
    now: int | None = None,
    trusting_period_s: int | None = None,
    max_clock_drift_s: int = 15,
) -> VerifiedHeader:
    """Verify a later header whose validator set may differ from the trusted one.

    Accept when distinct seals come from > 1/3 of the trusted set and ≥ ceil(2n/3) of the
    header's own set. With ``now`` and ``trusting_period_s`` the trusted header must be younger
    than the trusting period and the candidate no further in the future than the drift.
    """
    h = _as_header(candidate)
    if h.number <= trusted.number:
        raise HeaderInvalid(
            "header is not newer than the trusted header",
            height=h.number,
            trusted_height=trusted.number,
        )
    if h.timestamp < trusted.timestamp:
        raise HeaderInvalid(
            "header is older than the trusted header",
            height=h.number,
            timestamp=h.timestamp,
            trusted_timestamp=trusted.timestamp,
        )
    if h.number == trusted.number + 1:
        _check_parent(h, trusted)
    if trusting_period_s is not None:
        if now is None:
            raise HeaderInvalid("a trusting period needs the current time", height=h.number)
        if not trusted.timestamp <= now < trusted.timestamp + trusting_period_s:
            raise HeaderInvalid(
                "trusted header is outside the trusting period",
                height=h.number,
                trusted_timestamp=trusted.timestamp,
                now=now,
                trusting_period_s=trusting_period_s,
            )
    if now is not None and h.timestamp > now + max_clock_drift_s:
        raise HeaderInvalid(
            "header timestamp is in the future", height=h.number, timestamp=h.timestamp, now=now
        )
    extra = _extra(h)
    block_hash, digest, signers, quorum = _verify_own_quorum(h, extra)
    trusted_set = frozenset(trusted.validators)
    overlap = sum(1 for s in signers if s in trusted_set)
    if 3 * overlap <= len(trusted_set):
        raise HeaderInvalid(
            "too few commit seals from the trusted validator set",
            height=h.number,
            got=overlap,
            needed=len(trusted_set) // 3 + 1,
            trusted_validators=len(trusted_set),
        )
    return VerifiedHeader(h, extra, block_hash, digest, signers, quorum, extra.validators)


def verify_header(
    trusted: TrustedHeader,
    candidate: Header | bytes,
    *,
    now: int | None = None,
    trusting_period_s: int | None = None,
    min_block_period_s: int = 0,
) -> VerifiedHeader:
    """The child with an unchanged set goes through ``verify_next``; anything else (a later
    header, or a child whose set changed by a vote) through ``verify_skipping``."""
    h = _as_header(candidate)
    if h.number == trusted.number + 1:
        extra = _extra(h)
        if extra.validators == trusted.validators:
            return verify_next(trusted, h, min_block_period_s=min_block_period_s)
        _check_block_period(h, trusted, min_block_period_s)
    return verify_skipping(trusted, h, now=now, trusting_period_s=trusting_period_s)
