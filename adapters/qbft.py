"""``QbftAdapter``: the consortium-chain profile of ``EvmAdapter`` (Hyperledger Besu QBFT).

Differences from a public chain, as profile attributes and hooks (style rule 10):
- finality is instant: a block with a quorum of commit seals is final, so every finality tag
  maps to "latest";
- the block hash follows the QBFT rule (round 0, seals removed), not keccak of the raw header;
- EVERY header this adapter returns (also those behind receipt/account proofs and
  ``wait_final``) is verified with the QBFT light client: commit seals from the validator set
  tracked from a configured trust anchor. Validator-set changes need the trust threshold of
  the trusted set (adapters.lightclient.qbft), bisecting between the nearest verified header
  and the target when the set drifted too far for one step, and letting the following blocks
  vouch for a removal; two validly sealed headers at one height freeze the adapter.
- ``validators(height)`` and the Besu ``perm_*`` allowlist calls as typed methods.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Literal

from eth_utils.address import to_checksum_address
from pydantic import AfterValidator, Field, Strict

from adapters.base import AdapterClosed, BadRequest, FinalityKind, check_height
from adapters.bft import decode_qbft_extra, qbft_block_hash
from adapters.configmodel import AddressField, FinalityField, Hash32Field, NonNegativeInt
from adapters.errors import DecodeError, HeaderInvalid, RpcResponseInvalid
from adapters.evm import Block, EvmAdapter, EvmConfig
from adapters.headers import Header
from adapters.lightclient.qbft import (
    TrustedHeader,
    TrustPathPlanner,
    VerifiedHeader,
    trust_header,
    verify_commit_seals,
)
from adapters.rpc.answers import parse_data
from adapters.rpc.submit import SubmitPolicy, TxJournal
from adapters.rpc.transport import RpcObserver
from adapters.signer import Signer
from adapters.types import Address, Finality, Hash32, Height

__all__ = ["MisbehaviourDetected", "QbftAdapter", "QbftConfig"]

_MAX_RUN = 64  # blocks after a removal whose sealers may vouch for it


class MisbehaviourDetected(HeaderInvalid):
    """The trusted validators sealed conflicting headers; the adapter refuses everything."""


def _validator_set(validators: tuple[Address, ...]) -> tuple[Address, ...]:
    # Here, not as min_length: pydantic would also report an empty tuple after a bad item.
    if not validators:
        raise ValueError("must list at least one validator")
    if len(set(validators)) != len(validators):
        raise ValueError("lists an address twice")
    return validators


class QbftConfig(EvmConfig):
    """``EvmConfig`` plus the light client's trust anchor.

    ``trusted_validators`` is the validator set listed in the header at ``trusted_height``
    (genesis by default): the set trusted to seal the next block. ``trusted_hash`` optionally
    pins that header too (an operator checkpoint).
    """

    # A QbftConfig is an EvmConfig of another kind; the registry dispatches on this literal.
    kind: Literal["qbft"] = "qbft"  # type: ignore[assignment]
    # Instant finality: a sealed block is final, so "latest" is the finality policy.
    finality: FinalityField = Field(default_factory=Finality.latest)
    trusted_validators: Annotated[tuple[AddressField, ...], AfterValidator(_validator_set)]
    trusted_height: NonNegativeInt = 0
    trusted_hash: Hash32Field | None = None
    max_anchors: Annotated[int, Strict(), Field(ge=2)] = 4096  # verified headers kept as anchors


class QbftAdapter(EvmAdapter):
    """A ``ChainAdapter`` for a Besu-compatible QBFT consortium chain."""

    finality_kind: ClassVar[FinalityKind | None] = FinalityKind.INSTANT
    poa: ClassVar[bool] = True
    chain_kind: ClassVar[Literal["qbft", "evm"]] = "qbft"

    def __init__(
        self,
        config: QbftConfig,
        signers: Sequence[Signer] = (),
        *,
        journal: TxJournal | None = None,
        submit_policy: SubmitPolicy | None = None,
        observer: RpcObserver | None = None,
    ) -> None:
        super().__init__(
            config, signers, journal=journal, submit_policy=submit_policy, observer=observer
        )
        self._qconfig = config
        self._anchor: TrustedHeader | None = None  # the configured trust anchor
        # Verified headers (as skipping anchors), by height; heights kept sorted for bisect.
        self._trusted: dict[int, TrustedHeader] = {}
        self._trusted_heights: list[int] = []
        self._misbehaviour: MisbehaviourDetected | None = None

    # -- profile ----------------------------------------------------------------------------

    def node_tag(self, tag: str) -> str:
        # Instant finality: the sealed head is final; Besu QBFT has no separate safe/finalized.
        return "latest"

    def block_hash(self, header: Header) -> Hash32:
        try:
            return qbft_block_hash(header)
        except DecodeError as exc:
            # Not a QBFT header at all: a consensus failure, not a transport glitch.
            raise HeaderInvalid(
                "header extraData is not QBFT extraData", height=header.number, reason=exc.message
            ) from exc

    async def _on_start(self) -> None:
        await self._retrying("QBFT trust anchor", self._load_anchor)

    async def _load_anchor(self) -> None:
        cfg = self._qconfig
        block = await self._fetch_block(cfg.trusted_height)
        if cfg.trusted_hash is not None and block.hash != cfg.trusted_hash:
            raise HeaderInvalid(
                "trust anchor header does not have the configured hash",
                height=cfg.trusted_height,
                expected=cfg.trusted_hash,
                got=block.hash,
            )
        expected = tuple(sorted(cfg.trusted_validators))
        if block.header.number == 0:
            anchor = trust_header(block.header)  # genesis carries no seals
        else:
            anchor = verify_commit_seals(block.header, expected).trusted()
        if anchor.validators != expected:
            raise HeaderInvalid(
                "trust anchor header lists another validator set than configured",
                height=cfg.trusted_height,
                listed=anchor.validators,
                configured=expected,
            )
        self._anchor = anchor
        self._remember(anchor)

    # -- light client -----------------------------------------------------------------------

    def latest_trusted(self) -> TrustedHeader:
        """The highest header this light client has verified (what to persist so that a
        restart does not verify forward from the configured anchor again)."""
        if not self._trusted_heights:
            raise AdapterClosed("QBFT adapter has no trust anchor (not started?)")
        return self._trusted[self._trusted_heights[-1]]

    async def adopt_trusted(self, trusted: TrustedHeader) -> None:
        """Take ``trusted`` (verified by this light client before a restart, kept in the
        operator's own store) as an anchor. The node must still serve that block, sealed by
        the set it lists: otherwise the chain is not the one verified (``HeaderInvalid``)."""
        anchor = self._anchor
        if anchor is None:
            raise AdapterClosed("QBFT adapter has no trust anchor (not started?)")
        if trusted.number <= anchor.number:
            return  # nothing the configured anchor does not already give

        async def check() -> None:
            block = await self._fetch_block(trusted.number)
            if block.hash != trusted.hash:
                raise HeaderInvalid(
                    "the node's block differs from the header verified before the restart",
                    height=trusted.number,
                    verified=trusted.hash,
                    node=block.hash,
                )
            verified = verify_commit_seals(block.header, trusted.validators)
            if verified.trusted() != trusted:
                raise HeaderInvalid(
                    "stored trusted header does not match its block", height=trusted.number
                )

        await self._retrying("adopt trusted header", check)
        self._remember(trusted)

    def _remember(self, trusted: TrustedHeader) -> None:
        if trusted.number in self._trusted:
            return
        self._trusted[trusted.number] = trusted
        bisect.insort(self._trusted_heights, trusted.number)
        if len(self._trusted_heights) > self._qconfig.max_anchors:
            # Forget the oldest anchor except the configured one; it can be re-derived.
            anchor_height = self._anchor.number if self._anchor else -1
            for i, height in enumerate(self._trusted_heights):
                if height != anchor_height:
                    del self._trusted_heights[i]
                    del self._trusted[height]
                    break

    async def _check_consensus(self, header: Header, block_hash: Hash32) -> None:
        await self._verify(header, block_hash)

    async def _verify(self, header: Header, block_hash: Hash32) -> VerifiedHeader:
        """Verify ``header`` from the nearest verified header below it; raises HeaderInvalid."""
        anchor = self._anchor
        if anchor is None:
            raise HeaderInvalid("QBFT adapter has no trust anchor (not started?)")
        if self._misbehaviour is not None:
            raise self._misbehaviour
        n = header.number
        known = self._trusted.get(n)
        if known is not None:
            if n == anchor.number and n == 0:
                if known.hash != block_hash:
                    raise HeaderInvalid("genesis differs from the trust anchor", got=block_hash)
                return _genesis_verified(header, block_hash, known)
            # The QBFT hash leaves the seals out, so a matching hash says nothing about them.
            verified = verify_commit_seals(header, known.validators)
            if known.hash != block_hash:
                # Validly sealed by the set trusted at this height, yet another block: the
                # validators signed two headers at one height. Nothing from this chain is
                # trusted any more (the on-chain client freezes on the same evidence).
                self._misbehaviour = MisbehaviourDetected(
                    "validators sealed two different headers at one height",
                    height=n,
                    verified=known.hash,
                    got=block_hash,
                )
                raise self._misbehaviour
            return verified
        if n < anchor.number:
            raise HeaderInvalid(
                "header is below the trust anchor; it cannot be verified forward",
                height=n,
                anchor=anchor.number,
            )
        below = self._trusted_heights[bisect.bisect_left(self._trusted_heights, n) - 1]
        # The light client's planner: one step when it can, bisection when the set moved too
        # far, the following blocks' sealers when a removal's smaller quorum falls short.
        planner = TrustPathPlanner(self._trusted[below], n, max_run=_MAX_RUN)
        planner.give(header)
        while planner.wanted is not None:
            block = await self._fetch_block(planner.wanted)
            planner.give(block.header)
        for step in planner.accepted:
            self._remember(step.trusted())
        verified = planner.accepted[-1]
        if verified.hash != block_hash:
            raise HeaderInvalid("light client computed another block hash", height=n)
        return verified

    async def verified_header(self, height: Height) -> VerifiedHeader:
        """The header at ``height`` with its verified signers and commit digest (what a relayer
        submits to the on-chain light client)."""
        check_height(height, "height")

        async def once() -> VerifiedHeader:
            block: Block = await self._fetch_block(height)
            return await self._verify(block.header, block.hash)

        return await self._retrying("verified header", once)

    # -- Besu QBFT / permissioning RPCs -----------------------------------------------------

    async def validators(self, height: Height) -> tuple[Address, ...]:
        """The validator set of block ``height`` (``qbft_getValidatorsByBlockNumber``),
        cross-checked against the list in the verified header."""
        verified = await self.verified_header(height)
        listed = await self._call("qbft_getValidatorsByBlockNumber", [hex(height)], _address_list)
        if tuple(sorted(listed)) != verified.validators:
            raise RpcResponseInvalid(
                "node's validator list differs from the verified header",
                height=height,
                node=listed,
                header=verified.validators,
            )
        return verified.validators

    async def propose_validator_vote(self, validator: Address, add: bool) -> None:
        """Vote (as this node's validator) to add or remove ``validator``."""
        _check_address(validator)
        await self._call(
            "qbft_proposeValidatorVote",
            [to_checksum_address(validator), bool(add)],
            _expect_true("qbft_proposeValidatorVote"),
        )

    async def discard_validator_vote(self, validator: Address) -> None:
        _check_address(validator)
        await self._call(
            "qbft_discardValidatorVote",
            [to_checksum_address(validator)],
            _expect_true("qbft_discardValidatorVote"),
        )

    async def allowlist(self) -> tuple[Address, ...]:
        """Accounts allowed to send transactions (``perm_getAccountsAllowlist``)."""
        return await self._call("perm_getAccountsAllowlist", [], _address_list)

    async def allow_accounts(self, accounts: Sequence[Address]) -> None:
        """``perm_addAccountsToAllowlist``."""
        await self._change_allowlist("perm_addAccountsToAllowlist", accounts)

    async def disallow_accounts(self, accounts: Sequence[Address]) -> None:
        """``perm_removeAccountsFromAllowlist``."""
        await self._change_allowlist("perm_removeAccountsFromAllowlist", accounts)

    async def _change_allowlist(self, method: str, accounts: Sequence[Address]) -> None:
        """Besu answers "Success"."""
        for a in accounts:
            _check_address(a)
        await self._call(
            method, [[to_checksum_address(a) for a in accounts]], _expect_success(method)
        )


def _genesis_verified(header: Header, block_hash: Hash32, known: TrustedHeader) -> VerifiedHeader:
    """Genesis is trusted by configuration (it carries no seals); describe it as verified."""
    try:
        extra = decode_qbft_extra(header.extra_data, check_order=False)  # see trust_header
    except DecodeError as exc:
        raise HeaderInvalid("genesis extraData invalid", reason=exc.message) from exc
    listed = tuple(sorted(extra.validators))
    if listed != known.validators:
        raise HeaderInvalid("genesis validator list changed", height=0)
    return VerifiedHeader(header, extra, block_hash, block_hash, (), 0, listed)


def _check_address(value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != 20:
        raise BadRequest("address must be 20 bytes", address=value)


def _address_list(result: Any) -> tuple[Address, ...]:
    if not isinstance(result, list):
        raise RpcResponseInvalid("node sent a non-list where addresses belong")
    return tuple(Address(parse_data(a, f"addresses[{i}]", 20)) for i, a in enumerate(result))


def _expect_true(method: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        if result is not True:
            raise RpcResponseInvalid("node did not confirm the call", method=method)

    return check


def _expect_success(method: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        if result not in ("Success", True):
            raise RpcResponseInvalid(
                "node did not confirm the call", method=method, result=str(result)[:80]
            )

    return check
