"""Typed access to the deployed contracts that xgate's services (relay workers, API) read and call.

Views go through ``EvmAdapter.call`` at a named finality; writes are ``TxRequest`` values for
the signer's writer. Revert data is decoded with the artifacts' error tables, so a worker can
tell ``AlreadyDelivered`` from ``ReceiverFailed`` from ``RoutePaused``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.base import TxRequest
from adapters.bft import decode_qbft_extra
from adapters.errors import FatalError
from adapters.evm import EvmAdapter
from adapters.headers import Header, encode_header
from adapters.lightclient.qbft import (
    TrustedHeader,
    TrustPathPlanner,
    TrustPolicy,
    VerifiedHeader,
    validator_set_rlp,
)
from adapters.types import Address, ChainId, Finality, Hash32, Height
from contracts import Artifact, load_artifact

__all__ = [
    "AttestedHeaderStoreView",
    "ContractHandle",
    "EndpointView",
    "HeaderSource",
    "LightClientState",
    "LightClientStep",
    "QbftLightClientView",
]


# attest() measured on the devnet: ~95k for a plain attestation, ~150k for the one that
# accepts the header (roots and a dispute check); with room for larger attester sets.
ATTEST_GAS = 250_000
# submitAncestors hashes every header from the latest accepted one down to the target: past
# this many the transaction costs more than waiting for an operator's decision is worth.
MAX_ANCESTRY = 64
# Set-change runs longer than this are not collected (the contract has no limit; gas does).
MAX_RUN = 64


@dataclass(frozen=True, slots=True)
class ContractHandle:
    """One deployed contract: ``view`` calls a function at a finality, ``request`` builds a
    transaction calling one (for a signer's writer, or unsigned for a user's wallet)."""

    adapter: EvmAdapter
    address: Address
    artifact: Artifact

    async def view(self, function: str, *args: Any, finality: Finality | None = None) -> Any:
        data = self.artifact.call_data(function, *args)
        raw = await self.adapter.call(self.address, data, finality=finality or Finality.latest())
        result = self.artifact.decode_result(function, raw)
        return result[0] if len(result) == 1 else result

    def request(self, function: str, *args: Any, gas: int | None = None) -> TxRequest:
        return TxRequest(to=self.address, data=self.artifact.call_data(function, *args), gas=gas)


class HeaderSource(Protocol):
    """Where the consortium's sealed headers come from, each checked with the light client's
    rules (``QbftAdapter.verified_header``)."""

    async def verified_header(self, number: Height) -> VerifiedHeader: ...


@dataclass(frozen=True, slots=True)
class LightClientStep:
    """One call that moves the light client: ``request`` makes it accept ``accepted``."""

    request: TxRequest
    accepted: VerifiedHeader
    first: int  # the step's first header (a set-change run continues to ``accepted``'s run)
    last: int
    same_set: bool  # a plain submitHeader; else an updateValidatorSet run

    @property
    def description(self) -> str:
        if self.same_set:
            return f"submitHeader: consortium header {self.first}"
        return f"updateValidatorSet: headers {self.first}..{self.last} (the set changed)"


@dataclass(frozen=True, slots=True)
class LightClientState:
    latest_number: int
    latest_hash: Hash32
    latest_timestamp: int
    validator_set_hash: Hash32
    frozen: bool


class QbftLightClientView:
    """``QbftLightClient`` on a public chain."""

    def __init__(self, adapter: EvmAdapter, address: Address) -> None:
        self._c = ContractHandle(adapter, address, load_artifact("QbftLightClient"))

    @property
    def address(self) -> Address:
        return self._c.address

    async def state(self) -> LightClientState:
        v = self._c.view
        return LightClientState(
            latest_number=int(await v("latestNumber")),
            latest_hash=Hash32(bytes(await v("latestHash"))),
            latest_timestamp=int(await v("latestTimestamp")),
            validator_set_hash=Hash32(bytes(await v("validatorSetHash"))),
            frozen=bool(await v("frozen")),
        )

    async def is_accepted(self, block_hash: bytes) -> bool:
        return bool(await self._c.view("isAccepted", block_hash))

    async def trust_policy(self) -> TrustPolicy:
        """The client's constructor parameters, as the off-chain planner takes them."""
        v = self._c.view
        return TrustPolicy(
            numerator=int(await v("trustNumerator")),
            denominator=int(await v("trustDenominator")),
            trusting_period_s=int(await v("trustingPeriod")),
            max_clock_drift_s=int(await v("maxClockDrift")),
        )

    def submit_header(self, header_rlp: bytes) -> TxRequest:
        return self._c.request("submitHeader", header_rlp)

    def update_validator_set(self, trusted_set_rlp: bytes, run: Sequence[bytes]) -> TxRequest:
        return self._c.request("updateValidatorSet", trusted_set_rlp, list(run))

    def submit_ancestors(self, chain: Sequence[bytes]) -> TxRequest:
        return self._c.request("submitAncestors", list(chain))

    async def advance_steps(
        self,
        source: HeaderSource,
        trusted: TrustedHeader,
        target: int,
        *,
        now: int,
        policy: TrustPolicy,
    ) -> list[LightClientStep]:
        """The calls that take the client from ``trusted`` up to header ``target``, in order:
        ``TrustPathPlanner``'s steps (one ``submitHeader`` while the set is unchanged,
        ``updateValidatorSet`` runs where it changed, bisection where it changed too much).
        The relayer's header feeder sends them; the API's manual execution lists them."""
        planner = TrustPathPlanner(trusted, target, now=now, policy=policy, max_run=MAX_RUN)
        while planner.wanted is not None:
            planner.give((await source.verified_header(Height(planner.wanted))).header)
        steps: list[LightClientStep] = []
        for step, accepted in zip(planner.steps, planner.accepted, strict=True):
            request, same_set = self._step_request(trusted, step)
            steps.append(
                LightClientStep(request, accepted, step[0].number, step[-1].number, same_set)
            )
            trusted = accepted.trusted()
        return steps

    async def ancestry_request(
        self, source: HeaderSource, latest_number: int, number: int
    ) -> TxRequest:
        """``submitAncestors`` from the client's latest header down to header ``number``, for a
        header at or below the latest one whose epoch's set the client no longer trusts."""
        depth = latest_number - number
        if depth > MAX_ANCESTRY:
            raise FatalError(
                "the light client cannot accept this old header: its set's trust expired and "
                "the ancestry from the latest header is too long",
                height=number,
                latest=latest_number,
                max_ancestry=MAX_ANCESTRY,
            )
        chain = [
            encode_header((await source.verified_header(Height(n))).header)
            for n in range(latest_number, number - 1, -1)
        ]
        return self.submit_ancestors(chain)

    def _step_request(
        self, trusted: TrustedHeader, step: Sequence[Header]
    ) -> tuple[TxRequest, bool]:
        """The call that makes the client accept one planner step from ``trusted``, and
        whether it is a same-set ``submitHeader`` (one header listing the trusted set)."""
        if len(step) == 1 and tuple(decode_qbft_extra(step[0].extra_data).validators) == (
            trusted.validators
        ):
            return self.submit_header(encode_header(step[0])), True
        run = [encode_header(h) for h in step]
        return self.update_validator_set(validator_set_rlp(trusted.validators), run), False


class AttestedHeaderStoreView:
    """``AttestedHeaderStore`` on the consortium chain."""

    def __init__(self, adapter: EvmAdapter, address: Address) -> None:
        self._c = ContractHandle(adapter, address, load_artifact("AttestedHeaderStore"))

    @property
    def address(self) -> Address:
        return self._c.address

    async def is_accepted(self, chain_id: ChainId, block_hash: bytes) -> bool:
        return bool(await self._c.view("isAccepted", chain_id, block_hash))

    async def has_attested(self, data: tuple[Any, ...], attester: Address) -> bool:
        return bool(await self._c.view("hasAttested", data, attester))

    def attest(self, data: tuple[Any, ...], signature: bytes) -> TxRequest:
        # A fixed limit, not an estimate: the attestation that reaches the threshold also
        # stores the header, and which one that is depends on what lands first (an estimate
        # made while another attestation is in flight runs out of gas).
        return self._c.request("attest", data, signature, gas=ATTEST_GAS)


class EndpointView:
    """``BridgeEndpoint`` on a destination chain."""

    def __init__(self, adapter: EvmAdapter, address: Address) -> None:
        self._c = ContractHandle(adapter, address, load_artifact("BridgeEndpoint"))

    @property
    def address(self) -> Address:
        return self._c.address

    async def delivered(self, message_id: bytes, finality: Finality | None = None) -> bool:
        return bool(await self._c.view("delivered", message_id, finality=finality))

    def deliver_batch(
        self,
        src_chain_id: ChainId,
        block_hash: bytes,
        items: Sequence[tuple[int, int, Sequence[bytes]]],
    ) -> TxRequest:
        """``deliverBatch`` of ``items`` = (txIndex, receiptLogIndex, proof nodes)."""
        return self._c.request(
            "deliverBatch", src_chain_id, block_hash, [(t, i, list(p)) for t, i, p in items]
        )
