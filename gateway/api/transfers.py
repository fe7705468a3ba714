"""Transfers, the write side, and chain status (docs/api.md §5): what a dApp's wallet needs to
bridge an asset through the gateway without the gateway ever holding its key.

- ``GET /v1/chains/{chain_id}/status`` (read): the chain's head and final heights, how far each
  counterpart's header oracle has followed it (the ``QbftLightClient`` on a public chain for
  the consortium; the ``AttestedHeaderStore`` on the consortium for a public chain) and which
  of its endpoint's routes are paused;
- ``GET /v1/chains/{chain_id}/fees`` (read): the chain's fee market read now (base fee and
  the suggested EIP-1559 fees, or the gas price), by the rule the relay service sends with;
- ``POST /v1/transfers/quote`` (dapp): the fees (the contracts charge none: gas, and its wei
  at the chains' current fees) and the expected latency of a transfer, both measured on the
  route's recent deliveries;
- ``POST /v1/transfers/build`` (dapp): the unsigned transactions of a transfer for the user's
  wallet (an approval when one is missing, then the lock or the burn);
- ``POST /v1/chains/{chain_id}/transactions`` (dapp): forward a signed transaction to the
  chain and track it; ``POST /v1/transfers/track`` (dapp): track one sent elsewhere;
- ``GET /v1/transfers/{id}/manual-execution`` (read): the receipt proof and the destination
  calldata anyone may submit to deliver a message the relay service has not delivered.

Assets: from the consortium (the assets' home chain) a transfer locks the home token in the
``AssetVault``; from a public chain it burns the wrapped token at the ``WrappedAssetGateway``,
which releases the original on the consortium. ``settlement_token`` is the ERC-20
``SettlementToken`` (an ``amount``), ``receivable`` the ERC-721 ``Receivable`` (a
``token_id``). Every check the contracts would make is made first, so a wallet is not asked to
sign a transaction that reverts.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from eth_abi.abi import encode as abi_encode

from adapters.base import BadRequest, CallReverted, EventQuery, TransactionNotFound, TxRequest
from adapters.contracts import (
    AttestedHeaderStoreView,
    ContractHandle,
    EndpointView,
    QbftLightClientView,
)
from adapters.errors import NotYetAvailable, TransactionFailed, XgateError
from adapters.lightclient.qbft import VerifiedHeader
from adapters.mpt import keccak256
from adapters.qbft import QbftAdapter
from adapters.rawtx import InvalidRawTransaction, WrongChainTransaction, decode_raw_transaction
from adapters.rpc.submit import FeeMarket
from adapters.types import Address, ChainId, Finality, Hash32, Height, TxHash
from contracts import load_artifact
from gateway.api.chains import ChainHandle, chains_of
from gateway.api.keys import CONFIG_KEY, STORE_KEY
from gateway.api.models import (
    NoBody,
    NoParams,
    TransferPath,
    UnsignedTx,
)
from gateway.api.problems import Problem
from gateway.api.spec import Api, Call, Scope
from gateway.api.transfer_models import (
    AssetKind,
    ChainFees,
    ChainPath,
    ChainStatus,
    CounterpartStatus,
    DeliveryCost,
    GasCost,
    HeaderCall,
    HeaderOnDestination,
    LatencyEstimate,
    ManualExecution,
    RawTransactionBody,
    SourceCost,
    SubmittedTransaction,
    TrackedTransaction,
    TrackRequest,
    TransferBuild,
    TransferFees,
    TransferQuote,
    TransferTerms,
)
from gateway.config import ChainConfig, RouteConfig, XgateConfig
from gateway.domain.messages import MessageId, check_proven_message, delivery_item
from gateway.domain.payloads import PayloadInvalid, PayloadKind, payload_kind
from gateway.domain.status import MessageRecord, MessageStatus, TrackingKind
from gateway.store import Store

__all__ = [
    "DELIVERY_GAS_ESTIMATE",
    "add_transfer_operations",
    "latency_percentiles",
    "tracking_id_of",
]

NFT_UNITS = 10**6  # TransferLimits.NFT_UNITS: what one ERC-721 draws on a bucket
OUTBOUND = 1  # TransferLimits.Direction.Outbound
# Gas of one message's delivery on the destination (proof verification, then the mint or
# release), measured on the devnet with a margin; the header that makes the block known there
# (a light-client header or the attesters' signatures) is paid by the relay service.
DELIVERY_GAS_ESTIMATE: dict[AssetKind, int] = {"settlement_token": 260_000, "receivable": 420_000}
# The recent deliveries of a route the expected latency is measured on.
LATENCY_SAMPLE = 200
# The delivery gas per message is measured on this many of the route's last distinct
# delivery transactions (their receipts' gasUsed over the messages each carried).
DELIVERY_GAS_SAMPLE_TXS = 5
# How far back a public chain's last accepted header is looked for in the header store's
# HeaderAccepted logs (the store keeps no "latest": it accepts only blocks with messages).
HEADER_LOOK_BACK_BLOCKS = 10_000
HEADER_ACCEPTED_TOPIC = keccak256(b"HeaderAccepted(uint256,uint256,bytes32,bytes32,bytes32)")
ZERO_ADDRESS = Address(b"\x00" * 20)

_ENDPOINT = load_artifact("BridgeEndpoint")
_VAULT = load_artifact("AssetVault")
_GATEWAY = load_artifact("WrappedAssetGateway")
_ERC20 = load_artifact("SettlementToken")
_ERC721 = load_artifact("Receivable")


# --- registration ------------------------------------------------------------------------------


def add_transfer_operations(api: Api) -> None:
    """Declare the transfer write operations and chain status on ``api``."""
    api.add(
        "GET",
        "/v1/chains/{chain_id}/status",
        chain_status,
        summary="A chain's heights, its counterparts' light-client heights and paused routes",
        scope=Scope.READ,
        path_params=ChainPath,
        query=NoParams,
        body=NoBody,
        response=ChainStatus,
        problems=[404],
        tags=["chains"],
    )
    api.add(
        "GET",
        "/v1/chains/{chain_id}/fees",
        chain_fees,
        summary="A chain's current fee market: base fee and suggested fees, in wei",
        scope=Scope.READ,
        path_params=ChainPath,
        query=NoParams,
        body=NoBody,
        response=ChainFees,
        problems=[404],
        tags=["chains"],
    )
    api.add(
        "POST",
        "/v1/transfers/quote",
        quote_transfer,
        summary="Fees and expected latency of a transfer",
        scope=Scope.DAPP,
        path_params=NoParams,
        query=NoParams,
        body=TransferTerms,
        response=TransferQuote,
        problems=[404, 409, 422],
        tags=["transfers"],
    )
    api.add(
        "POST",
        "/v1/transfers/build",
        build_transfer,
        summary="The unsigned transactions of a transfer, for the user's wallet",
        scope=Scope.DAPP,
        path_params=NoParams,
        query=NoParams,
        body=TransferTerms,
        response=TransferBuild,
        problems=[404, 409, 422],
        tags=["transfers"],
    )
    api.add(
        "POST",
        "/v1/chains/{chain_id}/transactions",
        submit_transaction,
        summary="Forward a signed transaction to the chain and track it",
        scope=Scope.DAPP,
        path_params=ChainPath,
        query=NoParams,
        body=RawTransactionBody,
        response=SubmittedTransaction,
        status=202,
        problems=[404, 422],
        tags=["transfers"],
    )
    api.add(
        "POST",
        "/v1/transfers/track",
        track_transaction,
        summary="Track a source transaction the wallet sent itself",
        scope=Scope.DAPP,
        path_params=NoParams,
        query=NoParams,
        body=TrackRequest,
        response=TrackedTransaction,
        problems=[404],
        tags=["transfers"],
    )
    api.add(
        "GET",
        "/v1/transfers/{id}/manual-execution",
        manual_execution,
        summary="The proof and calldata anyone may submit to deliver a stuck transfer",
        scope=Scope.READ,
        path_params=TransferPath,
        query=NoParams,
        body=NoBody,
        response=ManualExecution,
        problems=[404, 409],
        tags=["transfers"],
    )


# --- helpers -----------------------------------------------------------------------------------


def tracking_id_of(chain_id: int, tx_hash: bytes) -> str:
    """The tracking id of a source transaction: one per transaction, so registering it again
    (or forwarding it again) answers the same id."""
    return f"tx-{chain_id}-{tx_hash.hex()}"


def _problem(status: int, slug: str, title: str, detail: str) -> Problem:
    return Problem(status, slug, title, detail)


def _revert_name(exc: XgateError) -> str:
    decoded = exc.context.get("decoded")
    name = getattr(decoded, "name", None)
    return str(name) if name else exc.message


def _config(request: web.Request) -> XgateConfig:
    return request.app[CONFIG_KEY]


def _name_of(cfg: XgateConfig, chain_id: int) -> str:
    for name, chain in cfg.chains.items():
        if chain.chain_id == chain_id:
            return name
    raise _problem(404, "unknown-chain", "Unknown chain", f"chain id {chain_id} is not configured")


def _contracts_of(chain: ChainConfig) -> set[Address]:
    """Every contract address configured on ``chain``."""
    contracts = chain.contracts
    found = (getattr(contracts, name) for name in type(contracts).model_fields)
    return {Address(bytes(a)) for a in found if a is not None}


def _counterparts(cfg: XgateConfig, name: str) -> list[str]:
    """Chains with a route to or from ``name``, in configuration order."""
    linked = {r.destination for r in cfg.routes if r.source == name}
    linked |= {r.source for r in cfg.routes if r.destination == name}
    return [n for n in cfg.chains if n in linked]


def _route(cfg: XgateConfig, src: str, dst: str) -> RouteConfig:
    for route in cfg.routes:
        if route.source == src and route.destination == dst:
            if not route.enabled:
                raise _problem(
                    422,
                    "route-disabled",
                    "Route disabled",
                    f"the route {route.name} is disabled in this gateway's configuration",
                )
            return route
    raise _problem(
        422,
        "unknown-route",
        "Unknown route",
        f"this gateway relays no route {src}->{dst} (routes start or end at the consortium)",
    )


async def _view(handle: ContractHandle, function: str, *args: Any) -> Any:
    return await handle.view(function, *args, finality=Finality.latest())


# --- GET /v1/chains/{chain_id}/status ----------------------------------------------------------


async def chain_status(call: Call[ChainPath, NoParams, NoBody]) -> ChainStatus:
    """The chain's node answers the heights (503 ``chain-unavailable`` when it cannot); a
    counterpart that cannot be reached leaves its values null with the reason in
    ``detail``."""
    cfg = _config(call.request)
    chains = chains_of(call.request)
    this = await chains.get(call.path.chain_id)
    head = await this.adapter.height(Finality.latest())
    policy = this.config.finality_policy
    if policy.depth is not None:  # from the same head: the two heights agree
        final = Height(max(0, head - policy.depth))
    else:
        try:
            final = await this.adapter.height(policy)
        except NotYetAvailable:
            final = Height(0)
    endpoint_address = this.config.contracts.endpoint
    endpoint = None
    paused: bool | None = None
    if endpoint_address is not None:
        endpoint = ContractHandle(this.adapter, endpoint_address, _ENDPOINT)
        paused = bool(await _view(endpoint, "paused"))
    counterparts: list[CounterpartStatus] = []
    paused_routes: list[int] = []
    for other_name in _counterparts(cfg, this.name):
        other = cfg.chains[other_name]
        route_paused: bool | None = None
        if endpoint is not None:
            _, _, own = await _view(endpoint, "route", other.chain_id)
            route_paused = bool(own)
            if route_paused or paused:
                paused_routes.append(other.chain_id)
        counterparts.append(
            await _counterpart(call.request, this, other_name, other, final, route_paused)
        )
    return ChainStatus(
        chain_id=this.chain_id,
        name=this.name,
        kind=this.config.kind,
        head_height=head,
        finalized_height=final,
        endpoint=endpoint_address,
        endpoint_paused=paused,
        paused_routes=paused_routes,
        counterparts=counterparts,
    )


# --- GET /v1/chains/{chain_id}/fees ------------------------------------------------------------


async def chain_fees(call: Call[ChainPath, NoParams, NoBody]) -> ChainFees:
    """The chain's fee market read now through its read-only adapter
    (``EvmAdapter.fee_market``: the rule the relay service's submissions use)."""
    this = await chains_of(call.request).get(call.path.chain_id)
    market = await this.adapter.fee_market()
    fees = market.fees
    return ChainFees(
        chain_id=this.chain_id,
        name=this.name,
        block_number=market.block_number,
        eip1559=fees.eip1559,
        base_fee_per_gas=market.base_fee_per_gas,
        max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
        max_fee_per_gas=fees.max_fee_per_gas,
        gas_price=fees.gas_price,
    )


async def _counterpart(
    request: web.Request,
    this: ChainHandle,
    name: str,
    other: ChainConfig,
    final: int,
    route_paused: bool | None,
) -> CounterpartStatus:
    """What ``other``'s header oracle knows of ``this`` chain."""
    if this.config.kind == "qbft":
        oracle: Literal["qbft_light_client", "attested_header_store"] = "qbft_light_client"
        address = other.contracts.light_client
    else:
        oracle, address = "attested_header_store", other.contracts.header_store
    out: dict[str, Any] = {
        "chain_id": other.chain_id,
        "name": name,
        "oracle": oracle,
        "oracle_address": address,
        "known_height": None,
        "lag_blocks": None,
        "frozen": None,
        "route_paused": route_paused,
        "detail": None,
    }
    if address is None:
        return CounterpartStatus(**{**out, "detail": f"no {oracle} configured on {name}"})
    try:
        handle = await chains_of(request).get(other.chain_id)
        if oracle == "qbft_light_client":
            state = await QbftLightClientView(handle.adapter, address).state()
            known: int | None = state.latest_number
            out["frozen"] = state.frozen
        else:
            known = await _last_attested(handle, address, this.chain_id)
            if known is None:
                out["detail"] = (
                    f"no header of this chain accepted in {name}'s last "
                    f"{HEADER_LOOK_BACK_BLOCKS} blocks"
                )
    except (Problem, XgateError) as exc:
        reason = exc.detail if isinstance(exc, Problem) else exc.message
        return CounterpartStatus(**{**out, "detail": f"{name} cannot be read: {reason}"})
    out["known_height"] = known
    if known is not None:
        out["lag_blocks"] = max(0, final - known)
    return CounterpartStatus(**out)


async def _last_attested(handle: ChainHandle, store: Address, chain_id: int) -> int | None:
    """The newest block of ``chain_id`` the header store accepted, from its HeaderAccepted
    logs, newest range first, within ``HEADER_LOOK_BACK_BLOCKS``."""
    adapter = handle.adapter
    head = await adapter.height(Finality.latest())
    query = EventQuery(
        addresses=(store,),
        topics=((HEADER_ACCEPTED_TOPIC,), (chain_id.to_bytes(32, "big"),)),
    )
    step = adapter.config.max_log_range
    end = int(head)
    floor = max(0, end - HEADER_LOOK_BACK_BLOCKS + 1)
    while end >= floor:
        start = max(floor, end - step + 1)
        events = await adapter.events(query, Height(start), Height(end))
        if events:
            return max(int.from_bytes(e.topics[2], "big") for e in events)
        end = start - 1
    return None


# --- transfer terms ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """Checked terms: the source chain, the token moved there and the contract that moves it
    (the vault locks, the gateway burns)."""

    terms: TransferTerms
    src: ChainHandle
    dst_name: str
    dst: ChainConfig
    action: Literal["lock", "burn"]
    token: Address
    bridge: Address

    @property
    def erc721(self) -> bool:
        return self.terms.asset == "receivable"

    @property
    def units(self) -> int:
        """What the transfer draws on the outbound bucket."""
        if self.erc721:
            return NFT_UNITS
        assert self.terms.amount is not None
        return self.terms.amount


def _missing(name: str, what: str) -> Problem:
    return _problem(
        422,
        "asset-not-configured",
        "Asset not configured",
        f"chain {name} has no {what} configured in this gateway",
    )


async def _plan(request: web.Request, terms: TransferTerms) -> TransferPlan:
    """The terms checked against the configuration and the chains' state (every check a
    contract would make, so the wallet is not asked to sign a failing transaction)."""
    cfg = _config(request)
    src_name = _name_of(cfg, terms.src_chain_id)
    dst_name = _name_of(cfg, terms.dst_chain_id)
    if src_name == dst_name:
        raise _problem(
            422, "unknown-route", "Unknown route", "source and destination are the same chain"
        )
    _route(cfg, src_name, dst_name)
    if terms.amount == 0:
        raise _problem(422, "zero-amount", "Zero amount", "a transfer moves a positive amount")
    src_cfg, dst_cfg = cfg.chains[src_name], cfg.chains[dst_name]
    if terms.recipient == ZERO_ADDRESS or terms.recipient in _contracts_of(dst_cfg):
        raise _problem(
            422,
            "recipient-not-allowed",
            "Recipient not allowed",
            "the recipient is the zero address or one of the bridge's own contracts on the "
            "destination, where the asset would be lost",
        )
    c = src_cfg.contracts
    action: Literal["lock", "burn"]
    if src_cfg.kind == "qbft":
        action = "lock"
        token = c.receivable if terms.asset == "receivable" else c.settlement_token
        bridge = c.vault
        if bridge is None:
            raise _missing(src_name, "vault")
    else:
        action = "burn"
        token = c.wrapped_receivable if terms.asset == "receivable" else c.wrapped_settlement_token
        bridge = c.asset_gateway
        if bridge is None:
            raise _missing(src_name, "asset_gateway")
    if token is None:
        raise _missing(src_name, ("wrapped " if action == "burn" else "") + terms.asset)
    src = await chains_of(request).get(terms.src_chain_id)
    plan = TransferPlan(terms, src, dst_name, dst_cfg, action, token, bridge)
    await _check_on_chain(plan)
    return plan


async def _check_on_chain(plan: TransferPlan) -> None:
    terms, adapter = plan.terms, plan.src.adapter
    endpoint_address = plan.src.config.contracts.endpoint
    if endpoint_address is not None:
        endpoint = ContractHandle(adapter, endpoint_address, _ENDPOINT)
        remote, _, route_paused = await _view(endpoint, "route", terms.dst_chain_id)
        if _address(remote) == ZERO_ADDRESS:
            raise _problem(
                422,
                "unknown-route",
                "Unknown route",
                f"the source endpoint has no route to chain {terms.dst_chain_id}",
            )
        if route_paused or await _view(endpoint, "paused"):
            raise _problem(
                409,
                "route-paused",
                "Route paused",
                f"the source endpoint's route to chain {terms.dst_chain_id} is paused; "
                "retry once the guardian's pause is lifted",
            )
    bridge = ContractHandle(adapter, plan.bridge, _VAULT if plan.action == "lock" else _GATEWAY)
    if plan.action == "lock" and not await _view(
        bridge, "routeEnabled", plan.token, terms.dst_chain_id
    ):
        raise _problem(
            422,
            "asset-route-disabled",
            "Asset route disabled",
            f"the vault does not send this {terms.asset} to chain {terms.dst_chain_id}",
        )
    token = ContractHandle(adapter, plan.token, _ERC721 if plan.erc721 else _ERC20)
    if plan.erc721:
        assert terms.token_id is not None
        try:
            owner = await _view(token, "ownerOf", terms.token_id)
        except CallReverted:
            owner = None
        if owner is None or _address(owner) != terms.sender:
            raise _problem(
                422,
                "not-token-owner",
                "Not the token's owner",
                f"the sender does not own {terms.asset} {terms.token_id} on the source chain",
            )
    else:
        assert terms.amount is not None
        balance = int(await _view(token, "balanceOf", terms.sender))
        if balance < terms.amount:
            raise _problem(
                422,
                "insufficient-balance",
                "Insufficient balance",
                f"the sender holds {balance} and the transfer moves {terms.amount}",
            )
    # Limits are keyed by the remote chain: the destination of a lock, the asset's home
    # chain of a burn (the consortium: the destination again).
    _, available = await _view(bridge, "limit", plan.token, terms.dst_chain_id, OUTBOUND)
    if plan.units > int(available):
        raise _problem(
            422,
            "transfer-limit-exceeded",
            "Transfer limit exceeded",
            f"the route's outbound limit has {int(available)} units available now and the "
            f"transfer needs {plan.units}; retry later or move less",
        )


def _address(value: Any) -> Address:
    if isinstance(value, str):
        return Address(bytes.fromhex(value[2:]))
    return Address(bytes(value))


# --- building the transactions -----------------------------------------------------------------


async def _transactions(plan: TransferPlan) -> list[UnsignedTx]:
    terms = plan.terms
    adapter = plan.src.adapter
    dst = terms.dst_chain_id
    steps: list[tuple[TxRequest, str]] = []
    if plan.action == "lock" and plan.erc721:
        # One transaction: the vault's onERC721Received locks what safeTransferFrom hands it.
        receivable = ContractHandle(adapter, plan.token, _ERC721)
        data = abi_encode(["uint256", "address"], [dst, terms.recipient])
        steps.append(
            (
                receivable.request(
                    "safeTransferFrom(address,address,uint256,bytes)",
                    terms.sender,
                    plan.bridge,
                    terms.token_id,
                    data,
                ),
                f"hand receivable {terms.token_id} to the vault, locked for chain {dst}",
            )
        )
    elif plan.action == "lock":
        assert terms.amount is not None
        token = ContractHandle(adapter, plan.token, _ERC20)
        allowance = int(await _view(token, "allowance", terms.sender, plan.bridge))
        if allowance < terms.amount:
            steps.append(
                (
                    token.request("approve", plan.bridge, terms.amount),
                    f"allow the vault to take {terms.amount} of the settlement token",
                )
            )
        vault = ContractHandle(adapter, plan.bridge, _VAULT)
        steps.append(
            (
                vault.request("lockERC20", plan.token, terms.amount, dst, terms.recipient),
                f"lock {terms.amount} of the settlement token for chain {dst}",
            )
        )
    else:
        gateway = ContractHandle(adapter, plan.bridge, _GATEWAY)
        if plan.erc721:
            request = gateway.request("burnERC721", plan.token, terms.token_id, terms.recipient)
            what = f"burn wrapped receivable {terms.token_id}, released on chain {dst}"
        else:
            request = gateway.request("burnERC20", plan.token, terms.amount, terms.recipient)
            what = f"burn {terms.amount} wrapped settlement token, released on chain {dst}"
        steps.append((request, what))
    out: list[UnsignedTx] = []
    for i, (request, what) in enumerate(steps):
        # A step after an approval cannot be estimated before the approval is mined.
        gas = await _estimate(plan, request) if i == 0 else None
        assert request.to is not None
        out.append(
            UnsignedTx(
                chain_id=ChainId(terms.src_chain_id),
                sender=terms.sender,
                to=request.to,
                data=request.data,
                value=request.value,
                gas=gas,
                description=what,
            )
        )
    return out


async def _estimate(plan: TransferPlan, request: TxRequest) -> int:
    try:
        return await plan.src.adapter.estimate_gas(request, plan.terms.sender)
    except TransactionFailed as exc:
        raise _problem(
            422,
            "transaction-would-fail",
            "Transaction would fail",
            f"the source chain's node says the transaction would revert: {_revert_name(exc)}",
        ) from exc


async def build_transfer(call: Call[NoParams, NoParams, TransferTerms]) -> TransferBuild:
    """The transactions the user's wallet signs, in order: an ERC-20 approval when the
    allowance is short, then the lock (from the consortium) or the burn (from a public
    chain). ``gas`` is the node's estimate, null for a step that needs the previous one
    mined. Nonce and fees are the wallet's."""
    plan = await _plan(call.request, call.body)
    t = call.body
    return TransferBuild(
        src_chain_id=t.src_chain_id,
        dst_chain_id=t.dst_chain_id,
        asset=t.asset,
        txs=await _transactions(plan),
    )


# --- quote -------------------------------------------------------------------------------------


def latency_percentiles(durations_s: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) of ``durations_s`` by the nearest-rank method."""
    if not durations_s:
        raise ValueError("no durations")
    ordered = sorted(durations_s)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return rank(0.50), rank(0.95)


async def _latency(store: Store, src: ChainConfig, dst: ChainConfig) -> LatencyEstimate:
    records, _ = await store.messages_page(
        src_chain_id=ChainId(src.chain_id),
        dst_chain_id=ChainId(dst.chain_id),
        statuses=(MessageStatus.DELIVERED,),
        after=None,
        limit=LATENCY_SAMPLE,
    )
    finality = float(src.time_to_finality_s)
    relay = [max(0.0, (r.updated_at - r.created_at).total_seconds()) for r in records]
    if relay:
        p50, p95 = latency_percentiles(relay)
        return LatencyEstimate(
            basis="measured",
            p50_s=round(finality + p50, 3),
            p95_s=round(finality + p95, 3),
            samples=len(relay),
            source_finality_s=finality,
        )
    # No delivery yet: the source block must be final, its header known on the destination
    # (a header or the attesters' signatures, final there) and the delivery final there.
    typical = finality + 2.0 * float(dst.time_to_finality_s)
    return LatencyEstimate(
        basis="estimated",
        p50_s=typical,
        p95_s=2.0 * typical,
        samples=0,
        source_finality_s=finality,
    )


_ERC20_KINDS = (PayloadKind.ERC20_TRANSFER, PayloadKind.ERC20_RELEASE)
_ERC721_KINDS = (
    PayloadKind.ERC721_TRANSFER,
    PayloadKind.ERC721_RELEASE,
    PayloadKind.ERC721_PRIVATE_TRANSFER,
)


def _asset_of(record: MessageRecord) -> AssetKind | None:
    try:
        kind = payload_kind(record.message.payload)
    except PayloadInvalid:
        return None
    if kind in _ERC20_KINDS:
        return "settlement_token"
    return "receivable" if kind in _ERC721_KINDS else None


async def delivery_gas_per_message(
    store: Store, dst: ChainHandle, src_chain_id: int, asset: AssetKind
) -> tuple[int, int]:
    """(gas per message, delivery transactions measured) of the route's recent deliveries of
    ``asset``: the receipts' gasUsed of its last ``DELIVERY_GAS_SAMPLE_TXS`` distinct delivery
    transactions recorded in the store, each divided by the messages it carried, averaged
    (rounded up); (0, 0) without any."""
    records, more = await store.messages_page(
        src_chain_id=ChainId(src_chain_id),
        dst_chain_id=dst.chain_id,
        statuses=(MessageStatus.DELIVERED,),
        after=None,
        limit=LATENCY_SAMPLE,
    )
    carried: dict[TxHash, list[MessageRecord]] = {}  # newest first
    for r in records:
        if r.delivery_tx_hash is not None:
            carried.setdefault(r.delivery_tx_hash, []).append(r)
    groups = list(carried.items())
    if more is not None and groups:
        groups.pop()  # the oldest may carry messages beyond the page: not counted whole
    per_message: list[float] = []
    for tx_hash, messages in groups[: 2 * DELIVERY_GAS_SAMPLE_TXS]:
        if any(_asset_of(m) != asset for m in messages):
            continue
        receipt = await dst.adapter.receipt(tx_hash)
        if receipt is None or receipt.status != 1:
            continue  # not (or no longer) on the node's chain, or reverted
        per_message.append(receipt.gas_used / len(messages))
        if len(per_message) == DELIVERY_GAS_SAMPLE_TXS:
            break
    if not per_message:
        return 0, 0
    return math.ceil(sum(per_message) / len(per_message)), len(per_message)


def _cost(gas: int | None, market: FeeMarket) -> GasCost:
    if gas is None:
        return GasCost(gas=None, max_fee_wei=None, likely_fee_wei=None)
    return GasCost(
        gas=gas, max_fee_wei=gas * market.fees.ceiling, likely_fee_wei=gas * market.likely_price
    )


async def quote_transfer(call: Call[NoParams, NoParams, TransferTerms]) -> TransferQuote:
    """The fees and the expected latency of a transfer with these terms (checked as
    ``build`` checks them). Gas in units of each chain's gas, and its wei at each chain's
    current fees (``GET /v1/chains/{chain_id}/fees``)."""
    plan = await _plan(call.request, call.body)
    t = call.body
    txs = await _transactions(plan)
    gases = [tx.gas for tx in txs]
    source_gas = None if any(g is None for g in gases) else sum(g for g in gases if g is not None)
    store = call.request.app[STORE_KEY]
    dst = await chains_of(call.request).get(t.dst_chain_id)
    src_market, dst_market = await asyncio.gather(
        plan.src.adapter.fee_market(), dst.adapter.fee_market()
    )
    costs = [_cost(g, src_market) for g in gases]
    known = [c for c in costs if c.gas is not None]
    complete = len(known) == len(costs)
    gas, samples = await delivery_gas_per_message(store, dst, t.src_chain_id, t.asset)
    basis: Literal["measured", "estimated"] = "measured"
    if samples == 0:
        gas, basis = DELIVERY_GAS_ESTIMATE[t.asset], "estimated"
    delivery = _cost(gas, dst_market)
    assert delivery.max_fee_wei is not None and delivery.likely_fee_wei is not None
    latency = await _latency(store, plan.src.config, plan.dst)
    return TransferQuote(
        src_chain_id=t.src_chain_id,
        dst_chain_id=t.dst_chain_id,
        asset=t.asset,
        fees=TransferFees(
            protocol_fee=0,
            source_gas=source_gas,
            source_txs=len(txs),
            delivery_gas=gas,
            delivery_gas_basis=basis,
            source=SourceCost(
                chain_id=t.src_chain_id,
                max_fee_per_gas=src_market.fees.ceiling,
                likely_gas_price=src_market.likely_price,
                txs=costs,
                max_fee_wei=sum(c.max_fee_wei or 0 for c in known) if complete else None,
                likely_fee_wei=sum(c.likely_fee_wei or 0 for c in known) if complete else None,
            ),
            delivery=DeliveryCost(
                chain_id=t.dst_chain_id,
                paid_by="relayer",
                gas_per_message=gas,
                basis=basis,
                samples=samples,
                max_fee_per_gas=dst_market.fees.ceiling,
                likely_gas_price=dst_market.likely_price,
                max_fee_wei=delivery.max_fee_wei,
                likely_fee_wei=delivery.likely_fee_wei,
            ),
        ),
        latency=latency,
    )


# --- forwarding and tracking -------------------------------------------------------------------


async def submit_transaction(
    call: Call[ChainPath, NoParams, RawTransactionBody],
) -> SubmittedTransaction:
    """Forward a transaction the user's wallet signed to the chain (``eth_sendRawTransaction``)
    and track it. Only transactions for this chain (EIP-155 chain id) calling one of the
    gateway's configured contracts there are forwarded: the gateway is no open relay. The
    answer's ``tracking_id`` names the transfer once the relay service recorded it."""
    handle = await chains_of(call.request).get(call.path.chain_id)
    raw = call.body.raw
    try:
        tx = decode_raw_transaction(raw)
    except InvalidRawTransaction as exc:
        raise _problem(
            422,
            "invalid-raw-transaction",
            "Not a signed transaction",
            f"raw is not a signed transaction this gateway forwards: {exc.message}",
        ) from exc
    if tx.chain_id != handle.chain_id:
        raise _wrong_chain(tx.chain_id, handle.chain_id)
    if tx.to is None or tx.to not in _contracts_of(handle.config):
        raise _problem(
            422,
            "destination-not-allowed",
            "Destination not allowed",
            "the gateway forwards only calls to its own contracts on this chain (the vault, "
            "the asset gateway, the tokens, the HTLCs ...)",
        )
    try:
        tx_hash = await handle.adapter.send_raw_transaction(raw)
    except WrongChainTransaction as exc:  # decoded again by the adapter: same answer
        raise _wrong_chain(tx.chain_id, handle.chain_id) from exc
    except TransactionFailed as exc:
        rpc = exc.context.get("rpc_message")
        raise _problem(
            422,
            "transaction-rejected",
            "Transaction rejected",
            f"the chain's node refused the transaction: {rpc or exc.message}",
        ) from exc
    tracking_id = await _track(call.request, handle.chain_id, tx_hash)
    return SubmittedTransaction(
        chain_id=handle.chain_id,
        tx_hash=tx_hash,
        sender=tx.sender,
        nonce=tx.nonce,
        tracking_id=tracking_id,
    )


def _wrong_chain(got: int, expected: int) -> Problem:
    return _problem(
        422,
        "wrong-chain",
        "Transaction for another chain",
        f"the transaction is signed for chain {got}, not chain {expected}",
    )


async def _track(request: web.Request, chain_id: ChainId, tx_hash: TxHash) -> str:
    tracking_id = tracking_id_of(chain_id, tx_hash)
    await request.app[STORE_KEY].track(
        tracking_id, TrackingKind.MESSAGE, src_chain_id=chain_id, src_tx_hash=tx_hash
    )
    return tracking_id


async def track_transaction(
    call: Call[NoParams, NoParams, TrackRequest],
) -> TrackedTransaction:
    """Track a source transaction the wallet sent itself: the chain's node must know it
    (pending or mined), else 404 ``transaction-not-found``. Registering it again answers
    the same tracking id."""
    handle = await chains_of(call.request).get(call.body.chain_id)
    if not await handle.adapter.transaction_known(call.body.tx_hash):
        raise _problem(
            404,
            "transaction-not-found",
            "Transaction not found",
            f"chain {handle.name}'s node knows no transaction 0x{call.body.tx_hash.hex()}",
        )
    tracking_id = await _track(call.request, handle.chain_id, call.body.tx_hash)
    return TrackedTransaction(
        chain_id=handle.chain_id, tx_hash=call.body.tx_hash, tracking_id=tracking_id
    )


# --- manual execution --------------------------------------------------------------------------

_DONE = (MessageStatus.DELIVERED, MessageStatus.ALREADY_DELIVERED)


async def _message_of(store: Store, ref: MessageId | str) -> MessageRecord:
    if isinstance(ref, bytes):
        record = await store.message(MessageId(ref))
        if record is None:
            raise _problem(
                404, "transfer-not-found", "Transfer not found", f"no transfer 0x{ref.hex()}"
            )
        return record
    tracked = await store.tracked(ref)
    if tracked is not None and tracked.ref is not None:
        record = await store.message(MessageId(tracked.ref))
        if record is not None:
            return record
    records = await store.messages_by_tracking(ref)
    if len(records) == 1:
        return records[0]
    if len(records) > 1:
        raise _problem(
            409,
            "ambiguous-tracking-id",
            "Tracking id names several transfers",
            f"tracking id {ref} names {len(records)} messages: ask by message id",
        )
    raise _problem(
        404,
        "transfer-not-found",
        "Transfer not found",
        f"tracking id {ref} names no recorded message (yet): its source transaction is not "
        "final or not seen by the relay service yet",
    )


def _delivered(message_id: bytes, how: str) -> Problem:
    return _problem(
        409,
        "already-delivered",
        "Already delivered",
        f"message 0x{message_id.hex()} is delivered ({how}): there is nothing to execute",
    )


async def manual_execution(call: Call[TransferPath, NoParams, NoBody]) -> ManualExecution:
    """For a message the relay service recorded and has not delivered: the receipt proof of
    its ``MessageSent`` log (verified here against the source block, emitted by the source
    endpoint, decoding to the message) and the destination endpoint's ``deliverBatch`` call
    with that one item, which anyone may send. ``header`` says whether the destination's
    oracle accepted the source block; until it does the call reverts ``UnknownHeader``.
    409 ``already-delivered`` when the store or the destination endpoint says it is."""
    store = call.request.app[STORE_KEY]
    record = await _message_of(store, call.path.id)
    if record.status in _DONE:
        raise _delivered(record.id, f"status {record.status.value}")
    chains = chains_of(call.request)
    src, dst = await asyncio.gather(
        chains.get(record.src_chain_id), chains.get(record.dst_chain_id)
    )
    dst_endpoint = EndpointView(dst.adapter, record.message.dst_endpoint)
    if await dst_endpoint.delivered(record.id, finality=Finality.latest()):
        raise _delivered(record.id, "the destination endpoint says so")
    try:
        proven = await src.adapter.proven_log(record.src_tx_hash, record.block_log_index)
    except (TransactionNotFound, BadRequest) as exc:
        raise _problem(
            409,
            "source-log-unavailable",
            "Source log unavailable",
            f"the source chain's node cannot prove the message's log: {exc.message}",
        ) from exc
    check_proven_message(
        proven,
        message_id=record.id,
        src_chain_id=record.src_chain_id,
        src_endpoint=record.message.src_endpoint,
        block_hash=Hash32(record.src_block_hash),
        tx_index=record.src_tx_index,
    )
    request = dst_endpoint.deliver_batch(
        record.src_chain_id, record.src_block_hash, [delivery_item(proven)]
    )
    header = await _header_on(src, dst, record)
    gas: int | None = None
    if header.accepted:
        gas = await _delivery_gas(dst, request, record)
    tx_index, log_index, nodes = delivery_item(proven)
    return ManualExecution(
        message_id=record.id,
        status=record.status,
        src_chain_id=record.src_chain_id,
        dst_chain_id=record.dst_chain_id,
        src_block_number=record.src_block_number,
        src_block_hash=Hash32(record.src_block_hash),
        tx_index=tx_index,
        receipt_log_index=log_index,
        proof=list(nodes),
        to=record.message.dst_endpoint,
        data=request.data,
        gas=gas,
        header=header,
    )


async def _header_on(
    src: ChainHandle, dst: ChainHandle, record: MessageRecord
) -> HeaderOnDestination:
    block = f"block {record.src_block_number} (0x{record.src_block_hash.hex()})"
    if dst.config.kind == "evm":
        address = dst.config.contracts.light_client
        if address is None:
            raise _missing(dst.name, "light_client")
        lc = QbftLightClientView(dst.adapter, address)
        accepted = await lc.is_accepted(record.src_block_hash)
        calls: list[HeaderCall] = []
        required = None
        if not accepted:
            calls, why = await _light_client_calls(src, dst, lc, record)
            required = (
                f"the consortium's sealed header of {block} must be accepted by the light "
                "client first: send the calls in `submit` in order (anyone may), then the "
                "delivery; the relay service does it for blocks with messages"
            )
            if why:
                required += f" ({why})"
        return HeaderOnDestination(
            oracle="qbft_light_client",
            oracle_address=address,
            accepted=accepted,
            required=required,
            submit=calls,
        )
    address = dst.config.contracts.header_store
    if address is None:
        raise _missing(dst.name, "header_store")
    accepted = await AttestedHeaderStoreView(dst.adapter, address).is_accepted(
        record.src_chain_id, record.src_block_hash
    )
    required = (
        f"the threshold of registered attesters must attest the public chain's {block} in "
        "the header store first: each attester signs it (attest, or submitHeader with their "
        "signatures); there is no call anyone else can send until they have signed"
    )
    return HeaderOnDestination(
        oracle="attested_header_store",
        oracle_address=address,
        accepted=accepted,
        required=None if accepted else required,
        submit=[],
    )


async def _light_client_calls(
    src: ChainHandle, dst: ChainHandle, lc: QbftLightClientView, record: MessageRecord
) -> tuple[list[HeaderCall], str | None]:
    """The light-client calls that get the message's consortium block accepted, built as the
    relay service's header feeder builds them (``QbftLightClientView.advance_steps`` above the
    client's latest header; at or below it ``submitHeader``, or ``ancestry_request`` when its
    set's trust is gone), with why there are none when there are none."""
    consortium = src.adapter
    if not isinstance(consortium, QbftAdapter):
        return [], "the consortium's adapter cannot verify sealed headers"
    try:
        state = await lc.state()
        if state.frozen:
            return [], "the light client is frozen by misbehaviour evidence: nothing is accepted"
        number = Height(record.src_block_number)
        target = await consortium.verified_header(number)
        if target.hash != record.src_block_hash:
            return [], "the consortium's block at this height is no longer the message's"
        if number > state.latest_number:
            return await _advance_calls(consortium, dst, lc, state.latest_number, target)
        call = await lc.backfill_request(consortium, state.latest_number, target.header)
        if call is None:  # accepted since is_accepted said no
            return [], None
        request, what = call
        return [HeaderCall(to=lc.address, data=request.data, description=what)], None
    except XgateError as exc:
        return [], f"no header calls can be built now: {exc.message}"


async def _advance_calls(
    consortium: QbftAdapter,
    dst: ChainHandle,
    lc: QbftLightClientView,
    latest_number: int,
    target: VerifiedHeader,
) -> tuple[list[HeaderCall], str | None]:
    latest = await consortium.verified_header(Height(latest_number))
    head = await dst.adapter.header(await dst.adapter.height(Finality.latest()))
    policy = await lc.trust_policy()
    steps = await lc.advance_steps(
        consortium, latest.trusted(), target.header.number, now=int(head.timestamp), policy=policy
    )
    calls = [
        HeaderCall(to=lc.address, data=s.request.data, description=s.description) for s in steps
    ]
    why = None
    if target.header.timestamp > int(head.timestamp) + policy.max_clock_drift_s:
        why = "the header is ahead of the destination's clock: it is refused until it catches up"
    return calls, why


async def _delivery_gas(dst: ChainHandle, request: TxRequest, record: MessageRecord) -> int | None:
    """The node's estimate of the delivery (from the zero address: anyone may send it);
    None when it would revert (the problem shows when it is sent)."""
    try:
        return await dst.adapter.estimate_gas(request, ZERO_ADDRESS)
    except TransactionFailed as exc:
        if _revert_name(exc) == "AlreadyDelivered":
            raise _delivered(record.id, "the destination endpoint says so") from exc
        return None
