"""Pure QBFT light client with Besu's header rules (docs/light-client.md).

Trust flows from a ``TrustedHeader`` (a checkpoint chosen by the operator, e.g. genesis) to
later headers. The rules are the same, byte for byte, as ``QbftLightClient.sol``:

* **Same set** (``verify_next`` for the child, ``verify_skipping`` for any later header): the
  header lists exactly the trusted set and ≥ ceil(2n/3) distinct members sealed it (Besu
  ``QbftValidatorsValidationRule`` + ``BftCommitSealsValidationRule``).
* **Changed set** (``verify_set_change``): the client must never accept what the consortium
  itself could not produce, so the header's seals must come from ≥ ``TrustPolicy.threshold``
  members of the *trusted* set (default ceil(2n/3), never fewer than n/3 + 1) and from a
  quorum of its own listed set. A removal leaves fewer validators to seal (4 → 3: quorum 2 < 3),
  so the change may be carried by a *run*: the header followed by descendants linked by
  parentHash, each sealed by a quorum of its own listed set; the distinct trusted signers
  across the run count together, because an honest validator that seals a later block vouches
  for its ancestors. Only the first header of the run is accepted.
* A set that changed by more than the trust threshold at once is followed through
  intermediate headers: ``TrustPathPlanner`` picks them (bisection).
* ``TrustPolicy.trusting_period_s``: a trusted header older than this cannot authorise
  anything; ``max_clock_drift_s`` bounds how far in the future a header may be.
* ``find_misbehaviour``: two verified headers at one height with different hashes (a double
  sign), or timestamps that decrease with height, are evidence that freezes the client.
* ``verify_ancestor``: an older header linked by parentHash to a verified one (hashing only).

Every rejection raises ``HeaderInvalid`` (``TrustTooLow`` when only the trust threshold is
missing) with a specific message and context.
Validator-contract mode (empty validator list in extraData) is not supported here: the set then
lives in contract storage and needs a storage proof against the parent's state root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

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
from adapters.rlpcodec import rlp_encode_strings
from adapters.types import Address, Hash32

__all__ = [
    "DEFAULT_POLICY",
    "MAX_GAS_LIMIT",
    "MAX_VALIDATORS",
    "MIN_GAS_LIMIT",
    "Misbehaviour",
    "MisbehaviourKind",
    "TrustPathPlanner",
    "TrustPolicy",
    "TrustTooLow",
    "TrustedHeader",
    "VerifiedHeader",
    "find_misbehaviour",
    "trust_header",
    "validator_set_rlp",
    "verify_ancestor",
    "verify_commit_seals",
    "verify_header",
    "verify_next",
    "verify_set_change",
    "verify_skipping",
]

# Besu GasLimitRangeAndDeltaValidationRule(DEFAULT_MIN_GAS_LIMIT, DEFAULT_MAX_GAS_LIMIT): a Java
# long. The delta to the parent's limit is not checked: the client keeps no parent gas limit.
MIN_GAS_LIMIT: Final = 5000
MAX_GAS_LIMIT: Final = 2**63 - 1
# The on-chain client collects signers in a 256-bit bitmap: a set change (and every header of
# its run) may list at most this many validators, here as there.
MAX_VALIDATORS: Final = 256


class TrustTooLow(HeaderInvalid):
    """A well-sealed header whose trusted signers fall short of the trust threshold: follow the
    change through intermediate headers or a longer run (``TrustPathPlanner``)."""


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """How much of the trusted set must vouch for a validator-set change, and for how long a
    trusted header may authorise anything (the on-chain client's constructor parameters)."""

    numerator: int = 2
    denominator: int = 3
    trusting_period_s: int | None = None  # None: not enforced (off-chain tools only)
    max_clock_drift_s: int = 15

    def __post_init__(self) -> None:
        num, den = self.numerator, self.denominator
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (num, den)):
            raise HeaderInvalid("trust level must be a fraction of integers")
        if den <= 0 or 3 * num < den or num > den:
            raise HeaderInvalid("trust level must lie in [1/3, 1]", numerator=num, denominator=den)
        if self.trusting_period_s is not None and self.trusting_period_s <= 0:
            raise HeaderInvalid("trusting period must be positive", period=self.trusting_period_s)
        if self.max_clock_drift_s < 0:
            raise HeaderInvalid("clock drift must not be negative", drift=self.max_clock_drift_s)

    def threshold(self, trusted_validators: int) -> int:
        """Distinct trusted signers a set change needs: ceil(level * n), never fewer than
        floor(n/3) + 1 (more than a third, so at least one honest validator)."""
        n = trusted_validators
        level = -(-self.numerator * n // self.denominator)
        return max(level, n // 3 + 1)


DEFAULT_POLICY: Final = TrustPolicy()


@dataclass(frozen=True, slots=True)
class TrustedHeader:
    """A header the client trusts, and the validator set trusted to seal the next block.

    ``validators`` is taken from the header's own list. A vote in this header that changes the
    set shows up as a different list in the child, which is then a set change.
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
    # Set changes only: the distinct trusted validators that vouched (across the whole run).
    trusted_signers: tuple[Address, ...] = field(default=())

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


def _extra(header: Header, *, check_order: bool = True) -> BftExtraData:
    try:
        return decode_qbft_extra(header.extra_data, check_order=check_order)
    except DecodeError as exc:
        raise HeaderInvalid(
            f"header extraData invalid: {exc.message}", height=header.number, **exc.context
        ) from exc


def _check_bft_fields(header: Header, extra: BftExtraData) -> None:
    """Besu's constant-field, gas and coinbase rules (QbftBlockHeaderValidationRulesetFactory).

    Besu has no rule on the nonce or the vanity length (QbftExtraDataCodec reads any bytes), so
    neither is checked here; the round limit lives in the extraData codec."""
    _check_constant_fields(header)
    n = header.number
    if not extra.validators:
        raise HeaderInvalid(
            "header lists no validators (validator-contract mode is not supported)", height=n
        )
    if header.coinbase not in extra.validators:
        raise HeaderInvalid("coinbase is not a validator", height=n, coinbase=header.coinbase)


def _check_constant_fields(header: Header) -> None:
    """The field rules the on-chain client applies while parsing any header (``_parse``),
    ancestry proofs included: BFT constants, gasLimit range, gasUsed <= gasLimit."""
    n = header.number
    if header.mix_hash != BFT_MIX_HASH:
        raise HeaderInvalid("mixHash is not the BFT constant", height=n, mix_hash=header.mix_hash)
    if header.difficulty != 1:
        raise HeaderInvalid("difficulty is not 1", height=n, difficulty=header.difficulty)
    if header.ommers_hash != EMPTY_OMMERS_HASH:
        raise HeaderInvalid("header has ommers", height=n, ommers_hash=header.ommers_hash)
    if not MIN_GAS_LIMIT <= header.gas_limit <= MAX_GAS_LIMIT:
        raise HeaderInvalid(
            "gasLimit outside Besu's range",
            height=n,
            gas_limit=header.gas_limit,
            min=MIN_GAS_LIMIT,
            max=MAX_GAS_LIMIT,
        )
    if header.gas_used > header.gas_limit:
        raise HeaderInvalid(
            "gasUsed exceeds gasLimit",
            height=n,
            gas_used=header.gas_used,
            gas_limit=header.gas_limit,
        )


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


def _verify_own_quorum(header: Header, extra: BftExtraData) -> VerifiedHeader:
    """Format rules plus a quorum of the header's own listed set (``extra``, decoded once)."""
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
    return VerifiedHeader(header, extra, block_hash, digest, signers, quorum, extra.validators)


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


def _check_forward(h: Header, trusted: TrustedHeader, now: int | None, policy: TrustPolicy) -> None:
    """Ordering and time rules for a header above the trusted one (both clients)."""
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
    if policy.trusting_period_s is not None:
        if now is None:
            raise HeaderInvalid("a trusting period needs the current time", height=h.number)
        if not now < trusted.timestamp + policy.trusting_period_s:
            raise HeaderInvalid(
                "trusted header is outside the trusting period",
                height=h.number,
                trusted_timestamp=trusted.timestamp,
                now=now,
                trusting_period_s=policy.trusting_period_s,
            )
    if now is not None and h.timestamp > now + policy.max_clock_drift_s:
        raise HeaderInvalid(
            "header timestamp is in the future", height=h.number, timestamp=h.timestamp, now=now
        )


def validator_set_rlp(validators: Iterable[bytes]) -> bytes:
    """The RLP list of a validator set exactly as extraData lists it (sorted): the preimage of
    the on-chain client's ``validatorSetHash`` that ``updateValidatorSet`` takes."""
    return rlp_encode_strings(_normalise_set(validators))


def verify_commit_seals(header: Header | bytes, validators: Sequence[bytes]) -> VerifiedHeader:
    """Verify one header against the validator set that must have sealed it.

    The header must list exactly ``validators`` (any order given here; the header's own list
    must be sorted) and carry distinct seals from ≥ ceil(2n/3) of them. ``header`` may be the
    RLP bytes or a decoded ``Header``. (Also the rule for an older header sealed by the set the
    client trusted at its height.)
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
    return _verify_own_quorum(h, extra)


def trust_header(header: Header | bytes) -> TrustedHeader:
    """Make a trust anchor from a header obtained out of band (genesis, operator checkpoint).

    Only its format is checked: trusting it is the caller's decision.
    """
    h = _as_header(header)
    # A genesis file may list its validators in any order (Besu sorts them when it loads the
    # genesis; every sealed header lists them sorted), and genesis is hashed raw.
    extra = _extra(h, check_order=h.number != 0)
    if not extra.validators:
        raise HeaderInvalid(
            "header lists no validators (validator-contract mode is not supported)",
            height=h.number,
        )
    block_hash, _ = qbft_hashes(h, extra)
    return TrustedHeader(h.number, block_hash, _normalise_set(extra.validators), h.timestamp)


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
    _require_same_set(h, extra, trusted)
    return _verify_own_quorum(h, extra)


def _require_same_set(h: Header, extra: BftExtraData, trusted: TrustedHeader) -> None:
    listed = extra.validators
    if listed != trusted.validators:
        raise HeaderInvalid(
            "header validator list differs from the trusted set (a set change)",
            height=h.number,
            listed=listed,
            trusted=trusted.validators,
        )


def verify_skipping(
    trusted: TrustedHeader,
    candidate: Header | bytes,
    *,
    now: int | None = None,
    policy: TrustPolicy = DEFAULT_POLICY,
) -> VerifiedHeader:
    """Verify a later header that lists the trusted set (any gap): a quorum of that set sealed
    it, so more than a third of honest trusted validators vouch for it."""
    h = _as_header(candidate)
    return _skipping(trusted, h, _extra(h), now, policy)


def _skipping(
    trusted: TrustedHeader, h: Header, extra: BftExtraData, now: int | None, policy: TrustPolicy
) -> VerifiedHeader:
    _check_forward(h, trusted, now, policy)
    _require_same_set(h, extra, trusted)
    return _verify_own_quorum(h, extra)


def verify_set_change(
    trusted: TrustedHeader,
    run: Sequence[Header | bytes],
    *,
    now: int | None = None,
    policy: TrustPolicy = DEFAULT_POLICY,
) -> VerifiedHeader:
    """Verify ``run[0]``, a later header whose listed set differs from the trusted one.

    ``run[1:]`` are its descendants in order (parent-linked, consecutive heights), each sealed by
    a quorum of its own listed set. Accept when the distinct trusted validators that sealed any
    header of the run reach ``policy.threshold``. Raises ``TrustTooLow`` when only that is
    missing. Returns the verified ``run[0]`` with those trusted signers.
    """
    if not run:
        raise HeaderInvalid("a set change needs at least one header")
    headers = [_as_header(h) for h in run]
    first = headers[0]
    _check_forward(first, trusted, now, policy)
    head = _verify_run_header(first)
    if head.validators == trusted.validators:
        raise HeaderInvalid("header lists the trusted set: not a set change", height=first.number)
    trusted_set = frozenset(trusted.validators)
    vouching = {s for s in head.signers if s in trusted_set}
    previous = head
    for h in headers[1:]:
        if h.number != previous.number + 1 or h.parent_hash != previous.hash:
            raise HeaderInvalid(
                "set-change run is not a parent-linked sequence",
                height=h.number,
                parent_hash=h.parent_hash,
                expected_parent=previous.hash,
            )
        previous = _verify_run_header(h)
        vouching.update(s for s in previous.signers if s in trusted_set)
    needed = policy.threshold(len(trusted_set))
    if len(vouching) < needed:
        raise TrustTooLow(
            "too few trusted validators vouch for the set change",
            height=first.number,
            got=len(vouching),
            needed=needed,
            trusted_validators=len(trusted_set),
            run=len(headers),
        )
    return VerifiedHeader(
        head.header,
        head.extra,
        head.hash,
        head.commit_digest,
        head.signers,
        head.quorum,
        head.validators,
        tuple(sorted(vouching)),
    )


def _verify_run_header(h: Header) -> VerifiedHeader:
    """A header of a set-change run: its own quorum, and at most ``MAX_VALIDATORS`` listed (the
    on-chain signer bitmap)."""
    extra = _extra(h)
    size = len(extra.validators)
    if size > MAX_VALIDATORS:
        raise HeaderInvalid(
            "set change lists more validators than the on-chain client can track",
            height=h.number,
            validators=size,
            max=MAX_VALIDATORS,
        )
    return _verify_own_quorum(h, extra)


def verify_header(
    trusted: TrustedHeader,
    candidate: Header | bytes,
    *,
    now: int | None = None,
    policy: TrustPolicy = DEFAULT_POLICY,
    min_block_period_s: int = 0,
) -> VerifiedHeader:
    """One later header, same set or changed (``verify_skipping`` / ``verify_set_change``)."""
    h = _as_header(candidate)
    if h.number == trusted.number + 1:
        _check_block_period(h, trusted, min_block_period_s)
    extra = _extra(h)
    if extra.validators == trusted.validators:
        return _skipping(trusted, h, extra, now, policy)
    return verify_set_change(trusted, [h], now=now, policy=policy)


def verify_ancestor(known_hash: bytes, chain: Sequence[Header | bytes]) -> Header:
    """An older header proven by hashing only: ``chain[0]`` has the QBFT hash ``known_hash`` (an
    accepted header) and each next header is the parent of the one before; returns the last.

    Every header of the proof passes the format rules the on-chain client applies while parsing
    (``_parse`` and the seal shapes): BFT constants, gas range, QBFT extraData (validator order
    is not checked: genesis may list them in any order), 65-byte seals. Genesis included."""
    if len(chain) < 2:
        raise HeaderInvalid("an ancestry proof needs the known header and at least one parent")
    expected = bytes(known_hash)
    headers = [_as_header(item) for item in chain]
    for index, header in enumerate(headers):
        _check_constant_fields(header)
        extra = _extra(header, check_order=False)
        block_hash, _ = qbft_hashes(header, extra)
        if block_hash != expected:
            raise HeaderInvalid(
                "ancestry link broken" if index else "first header is not the known header",
                index=index,
                height=header.number,
                expected=expected,
                got=block_hash,
            )
        expected = header.parent_hash
    return headers[-1]


# --- misbehaviour ------------------------------------------------------------------------------


class MisbehaviourKind(Enum):
    DOUBLE_SIGN = 1  # two sealed headers at one height
    TIMESTAMP_ORDER = 2  # a higher header with an earlier timestamp


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """Evidence that the trusted validators signed conflicting headers: freeze the client."""

    kind: MisbehaviourKind
    first: VerifiedHeader
    second: VerifiedHeader


def find_misbehaviour(a: VerifiedHeader, b: VerifiedHeader) -> Misbehaviour | None:
    """Compare two headers that each passed the client's rules.

    Timestamps that are equal at different heights are not evidence: Besu allows sub-second
    block periods (``xblockperiodmilliseconds``), where it drops its timestamp rule."""
    if a.number == b.number:
        return Misbehaviour(MisbehaviourKind.DOUBLE_SIGN, a, b) if a.hash != b.hash else None
    low, high = (a, b) if a.number < b.number else (b, a)
    if low.header.timestamp > high.header.timestamp:
        return Misbehaviour(MisbehaviourKind.TIMESTAMP_ORDER, low, high)
    return None


# --- bisection ---------------------------------------------------------------------------------


class TrustPathPlanner:
    """Picks the headers that move a light client from ``trusted`` to ``target`` (sans I/O).

    Drive it with ``wanted`` (the height it needs next, or None when done) and ``give``
    (that header, fetched by the caller). It tries the target first; a header the trusted set
    cannot vouch for enough is retried half way (bisection, as IBC light clients do); at the
    child of the trusted header it collects a run of descendants instead (a removal). The
    result, ``steps``, is the list of submissions in order: one header (same set or a change)
    or a set-change run whose first header is the one accepted; ``accepted`` holds the
    verified header of each step.
    """

    def __init__(
        self,
        trusted: TrustedHeader,
        target: int,
        *,
        now: int | None = None,
        policy: TrustPolicy = DEFAULT_POLICY,
        max_run: int = 64,
    ) -> None:
        if target <= trusted.number:
            raise HeaderInvalid(
                "target is not above the trusted header", target=target, trusted=trusted.number
            )
        self.trusted = trusted
        self.target = target
        self._now = now
        self._policy = policy
        self._max_run = max_run
        self._probe = target
        self._run: list[Header] | None = None
        self._cache: dict[int, Header] = {}
        self.steps: list[tuple[Header, ...]] = []
        self.accepted: list[VerifiedHeader] = []
        self.wanted: int | None = None
        self._advance()

    def give(self, header: Header | bytes) -> None:
        h = _as_header(header)
        if h.number != self.wanted:
            raise HeaderInvalid(
                "planner was given another height", height=h.number, wanted=self.wanted
            )
        self._cache[h.number] = h
        self._advance()

    def _accept(self, verified: VerifiedHeader, submitted: tuple[Header, ...]) -> None:
        self.steps.append(submitted)
        self.accepted.append(verified)
        self.trusted = verified.trusted()
        self._probe = self.target
        self._run = None

    def _advance(self) -> None:
        while self.trusted.number < self.target:
            if self._run is not None:
                if not self._extend_run():
                    return
                continue
            header = self._cache.get(self._probe)
            if header is None:
                self.wanted = self._probe
                return
            try:
                verified = verify_header(self.trusted, header, now=self._now, policy=self._policy)
            except TrustTooLow:
                if self._probe == self.trusted.number + 1:
                    self._run = [header]
                else:
                    self._probe = (self.trusted.number + 1 + self._probe) // 2
                continue
            self._accept(verified, (header,))
        self.wanted = None

    def _extend_run(self) -> bool:
        """Add the next descendant to the run; False when it must be fetched first."""
        assert self._run is not None
        height = self._run[-1].number + 1
        header = self._cache.get(height)
        if header is None:
            self.wanted = height
            return False
        self._run.append(header)
        try:
            verified = verify_set_change(
                self.trusted, self._run, now=self._now, policy=self._policy
            )
        except TrustTooLow:
            if len(self._run) >= self._max_run:
                raise
            return True
        self._accept(verified, tuple(self._run))
        return True
