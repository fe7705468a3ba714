"""Typed access to the deployed contracts that xgate's services (relay workers, API) read and call.

Views go through ``EvmAdapter.call`` at a named finality; writes are ``TxRequest`` values for
the signer's writer. Revert data is decoded with the artifacts' error tables, so a worker can
tell ``AlreadyDelivered`` from ``ReceiverFailed`` from ``RoutePaused``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from eth_utils.address import to_canonical_address

from adapters.base import CallReverted, ChainEvent, EventQuery, TxRequest
from adapters.bft import decode_qbft_extra
from adapters.errors import DecodeError, FatalError
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
    "FinancingRecordView",
    "FinancingTerms",
    "HeaderSource",
    "HomeReceivable",
    "LightClientState",
    "LightClientStep",
    "QbftLightClientView",
    "ReceivableLog",
    "ReceivableStateView",
    "ReceivableStatus",
    "ReceivableView",
    "WrappedCopy",
    "WrappedReceivableView",
    "decode_financing",
]


# attest() measured on the devnet: ~95k for a plain attestation, ~150k for the one that
# accepts the header (roots and a dispute check); with room for larger attester sets.
ATTEST_GAS = 250_000
# submitAncestors hashes every header from the latest accepted one down to the target: past
# this many the transaction costs more than waiting for an operator's decision is worth.
MAX_ANCESTRY = 64
# Set-change runs longer than this are not collected (the contract has no limit; gas does).
MAX_RUN = 64
# Block headers fetched at once for the timestamps of a Receivable history.
HEADER_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class ContractHandle:
    """One deployed contract: ``view`` calls a function at a finality, ``request`` builds a
    transaction calling one (for a signer's writer, or unsigned for a user's wallet)."""

    adapter: EvmAdapter
    address: Address
    artifact: Artifact

    async def view(
        self,
        function: str,
        *args: Any,
        finality: Finality | None = None,
        height: Height | None = None,
    ) -> Any:
        """``function(args)`` at block ``height``, else at ``finality`` (default latest)."""
        data = self.artifact.call_data(function, *args)
        if height is not None:
            raw = await self.adapter.call(self.address, data, height=height)
        else:
            raw = await self.adapter.call(
                self.address, data, finality=finality or Finality.latest()
            )
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

    async def backfill_request(
        self,
        source: HeaderSource,
        latest_number: int,
        header: Header,
        *,
        sender: Address | None = None,
    ) -> tuple[TxRequest, str] | None:
        """The call that makes the client accept ``header``, at or below its latest header
        ``latest_number``, and what it is: ``submitHeader`` when it trusts the set of the
        header's epoch, else ``ancestry_request``; None when the header is accepted already.
        Simulated from ``sender`` on the latest state; another revert is raised
        (``CallReverted``)."""
        request = self.submit_header(encode_header(header))
        try:
            await self._c.adapter.call(
                self.address, request.data, finality=Finality.latest(), sender=sender
            )
        except CallReverted as exc:
            reason = exc.decoded.name if exc.decoded is not None else None
            if reason == "HeaderAlreadyAccepted":
                return None
            if reason not in ("NotTrustedSetAt", "TrustExpired"):
                raise
            ancestry = await self.ancestry_request(source, latest_number, header.number)
            return ancestry, f"submitAncestors: headers {latest_number} down to {header.number}"
        return request, f"submitHeader: consortium header {header.number}"

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

    async def paused(self, remote_chain_id: ChainId, finality: Finality) -> tuple[bool, bool]:
        """(the route from ``remote_chain_id`` paused, the whole endpoint paused)."""
        _, _, route_paused = await self._c.view("route", remote_chain_id, finality=finality)
        return bool(route_paused), bool(await self._c.view("paused", finality=finality))

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


@dataclass(frozen=True, slots=True)
class ReceivableLog:
    """One decoded lifecycle log of ``Receivable``: the event's name, its arguments by ABI name
    (addresses as 20 bytes, ``bytesN`` as bytes, integers as ints, arrays as tuples), its
    position and its block's timestamp (unix seconds)."""

    name: str
    args: Mapping[str, Any]
    block_number: Height
    log_index: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class _EventAbi:
    name: str
    inputs: tuple[dict[str, Any], ...]


def _plain(value: Any, abi_type: str) -> Any:
    """An eth_abi value as the domain takes it: addresses as 20 raw bytes, arrays as tuples."""
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return tuple(_plain(v, inner) for v in value)
    if abi_type == "address":
        return Address(bytes.fromhex(str(value)[2:]))
    return value


class ReceivableView:
    """``Receivable`` on the consortium chain, read from its logs: the lifecycle events from
    ``start_height`` (its deployment block, or 0) up to a block, decoded with the artifact's
    ABI, each with its block's timestamp (one header fetch per block that has any).

    The adapter queries the logs in ranges of at most ``max_log_range`` blocks (halved when a
    node refuses a range), so a long history is never one request."""

    def __init__(
        self,
        adapter: EvmAdapter,
        address: Address,
        events: Sequence[str],
        *,
        start_height: int = 0,
    ) -> None:
        """``events``: the names of the events to read (the caller's fold knows them)."""
        artifact = load_artifact("Receivable")
        self._adapter = adapter
        self._address = address
        self._start = Height(start_height)
        self._events: dict[bytes, _EventAbi] = {}
        for entry in artifact.abi:
            if entry.get("type") == "event" and entry.get("name") in events:
                topic = bytes(event_abi_to_log_topic(entry))  # type: ignore[arg-type]
                self._events[topic] = _EventAbi(entry["name"], tuple(entry["inputs"]))
        if len(self._events) != len(set(events)):
            raise FatalError("the Receivable artifact lacks lifecycle events", address=address)

    @property
    def address(self) -> Address:
        return self._address

    async def lifecycle(self, up_to: Height) -> tuple[ReceivableLog, ...]:
        """Every lifecycle log at or below block ``up_to``, in block and log order.
        ``NotYetAvailable`` when the chain has no block ``up_to`` yet."""
        if up_to < self._start:
            return ()
        query = EventQuery(addresses=(self._address,), topics=(tuple(self._events),))
        found = [
            e
            for e in await self._adapter.events(query, self._start, up_to)
            if e.block_number <= up_to
        ]
        times = await self._timestamps(sorted({e.block_number for e in found}))
        logs = [self._decode(e, times[e.block_number]) for e in found]
        return tuple(sorted(logs, key=lambda log: (log.block_number, log.log_index)))

    async def _timestamps(self, blocks: Sequence[Height]) -> dict[Height, int]:
        """Each block's timestamp from its (checked) header, a few fetches in flight."""
        limit = asyncio.Semaphore(HEADER_CONCURRENCY)
        times: dict[Height, int] = {}

        async def one(number: Height) -> None:
            async with limit:
                times[number] = (await self._adapter.header(number)).timestamp

        async with asyncio.TaskGroup() as group:
            for number in blocks:
                group.create_task(one(number))
        return times

    def _decode(self, event: ChainEvent, timestamp: int) -> ReceivableLog:
        abi = self._events.get(event.topics[0]) if event.topics else None
        if abi is None:
            raise DecodeError("not a Receivable lifecycle log", block=event.block_number)
        indexed = [i for i in abi.inputs if i.get("indexed")]
        plain = [i for i in abi.inputs if not i.get("indexed")]
        if len(event.topics) != 1 + len(indexed):
            raise DecodeError(
                f"a {abi.name} log with {len(event.topics)} topics",
                block=event.block_number,
                log_index=event.block_log_index,
            )
        try:
            values = {
                i["name"]: decode([collapse_if_tuple(i)], topic)[0]
                for i, topic in zip(indexed, event.topics[1:], strict=True)
            }
            values.update(
                zip(
                    (i["name"] for i in plain),
                    decode([collapse_if_tuple(i) for i in plain], event.data),
                    strict=True,
                )
            )
        except (DecodingError, ValueError) as exc:
            raise DecodeError(
                f"a {abi.name} log that does not decode",
                block=event.block_number,
                log_index=event.block_log_index,
            ) from exc
        args = {i["name"]: _plain(values[i["name"]], i["type"]) for i in abi.inputs}
        return ReceivableLog(abi.name, args, event.block_number, event.block_log_index, timestamp)


# --- receivables read by token id ----------------------------------------------------------------

# Financing records read at once for one token (a token is financed a few times at most).
FINANCING_RECORDS_MAX = 64
_ZERO_ADDRESS = bytes(20)


@dataclass(frozen=True, slots=True)
class FinancingTerms:
    """``Financing`` as the contracts return it (``currency``: the raw ``bytes3``)."""

    debtor: Address
    creditor: Address
    face_value: int
    currency: bytes
    due_date: int
    document_hash: Hash32


@dataclass(frozen=True, slots=True)
class ReceivableStatus:
    """``Receivable.statusOf`` (``state``: the ``State`` enum's number, 1 Drafted .. 7 Split)."""

    state: int
    paid: int
    outstanding: int
    parent_id: int
    financing_count: int
    drafted_at: int
    acknowledged_at: int
    closed_at: int
    days_past_due: int
    dispute_reason: Hash32


@dataclass(frozen=True, slots=True)
class FinancingRecordView:
    """``Receivable.financingRecord``: a transfer that carried financing."""

    financier: Address
    advance: int
    discount_bps: int
    at: int


@dataclass(frozen=True, slots=True)
class HomeReceivable:
    """One token of the home ``Receivable``, every value read at block ``block``. ``owner`` and
    ``terms`` are None when it has no owner (``ownerOf`` reverts); ``locked_to`` is the chain id
    the vault holds it for when its owner is the vault."""

    token_id: int
    block: Height
    owner: Address | None
    terms: FinancingTerms | None
    status: ReceivableStatus
    records: tuple[FinancingRecordView, ...]
    locked_to: int | None


@dataclass(frozen=True, slots=True)
class WrappedCopy:
    """One token of a ``WrappedReceivable`` on a public chain, read at block ``block``: its
    full ``terms``, or, a private copy, only ``commitment`` to them."""

    token_id: int
    block: Height
    owner: Address
    home_chain_id: int
    home_token: Address
    private: bool
    terms: FinancingTerms | None
    commitment: Hash32 | None
    paid: int
    settled: bool


def decode_financing(value: Sequence[Any]) -> FinancingTerms:
    """``financingOf``'s decoded answer as ``FinancingTerms`` (addresses as raw bytes)."""
    debtor, creditor, face, currency, due, document = value
    return FinancingTerms(
        Address(to_canonical_address(debtor)),
        Address(to_canonical_address(creditor)),
        int(face),
        bytes(currency),
        int(due),
        Hash32(bytes(document)),
    )


def _reverted_with(exc: CallReverted, *names: str) -> bool:
    return exc.decoded is not None and exc.decoded.name in names


class ReceivableStateView:
    """``Receivable`` on the consortium chain read by token id (``statusOf``, ``ownerOf``,
    ``financingOf``, ``financingRecord``), and where the ``AssetVault`` at ``vault`` holds it
    (``lockedTo``), all at one block."""

    def __init__(self, adapter: EvmAdapter, address: Address, vault: Address | None) -> None:
        self._adapter = adapter
        self._c = ContractHandle(adapter, address, load_artifact("Receivable"))
        self._vault = (
            None if vault is None else ContractHandle(adapter, vault, load_artifact("AssetVault"))
        )

    @property
    def address(self) -> Address:
        return self._c.address

    async def read(self, token_id: int, finality: Finality | None = None) -> HomeReceivable | None:
        """Token ``token_id`` at the block of ``finality`` (default latest); None when the
        contract never had it."""
        height = await self._adapter.height(finality or Finality.latest())

        async def call(function: str, *args: Any) -> Any:
            return await self._c.view(function, *args, height=height)

        try:
            raw_status = await call("statusOf", token_id)
        except CallReverted as exc:
            if _reverted_with(exc, "UnknownReceivable"):
                return None
            raise
        status = ReceivableStatus(*(_plain_value(v) for v in raw_status))
        try:  # both revert for a token without owner (split): one round trip for the two
            raw_owner, raw_terms = await asyncio.gather(
                call("ownerOf", token_id), call("financingOf", token_id)
            )
            owner = Address(to_canonical_address(raw_owner))
            terms: FinancingTerms | None = decode_financing(raw_terms)
        except CallReverted as exc:
            if not _reverted_with(exc, "ERC721NonexistentToken", "UnknownReceivable"):
                raise
            owner, terms = None, None
        count = min(status.financing_count, FINANCING_RECORDS_MAX)
        records = await asyncio.gather(
            *(call("financingRecord", token_id, i) for i in range(count))
        )
        locked_to = None
        vault = self._vault
        if owner is not None and vault is not None and owner == vault.address:
            chain = int(await vault.view("lockedTo", self.address, token_id, height=height))
            locked_to = chain or None
        return HomeReceivable(
            token_id=token_id,
            block=height,
            owner=owner,
            terms=terms,
            status=status,
            records=tuple(
                FinancingRecordView(Address(to_canonical_address(f)), int(a), int(d), int(t))
                for f, a, d, t in records
            ),
            locked_to=locked_to,
        )


def _plain_value(value: Any) -> Any:
    return Hash32(bytes(value)) if isinstance(value, bytes) else int(value)


class WrappedReceivableView:
    """``WrappedReceivable`` on a public chain read by token id, at one block."""

    def __init__(self, adapter: EvmAdapter, address: Address) -> None:
        self._adapter = adapter
        self._c = ContractHandle(adapter, address, load_artifact("WrappedReceivable"))

    @property
    def address(self) -> Address:
        return self._c.address

    async def read(self, token_id: int, finality: Finality | None = None) -> WrappedCopy | None:
        """Token ``token_id`` at the block of ``finality`` (default latest); None when it is
        not on this chain (never arrived, or went home)."""
        height = await self._adapter.height(finality or Finality.latest())

        async def call(function: str, *args: Any) -> Any:
            return await self._c.view(function, *args, height=height)

        try:
            commitment = Hash32(bytes(await call("commitmentOf", token_id)))
        except CallReverted as exc:
            if _reverted_with(exc, "UnknownReceivable"):
                return None
            raise
        private = any(commitment)
        owner, home_chain_id, home_token, (paid, settled) = await asyncio.gather(
            call("ownerOf", token_id),
            call("homeChainId"),
            call("homeToken"),
            call("paymentOf", token_id),
        )
        terms = None if private else decode_financing(await call("financingOf", token_id))
        return WrappedCopy(
            token_id=token_id,
            block=height,
            owner=Address(to_canonical_address(owner)),
            home_chain_id=int(home_chain_id),
            home_token=Address(to_canonical_address(home_token)),
            private=private,
            terms=terms,
            commitment=commitment if private else None,
            paid=int(paid),
            settled=bool(settled),
        )
