"""The ``/v1`` operations (docs/api.md): chains and transfers (bridge messages), read scope.

- ``GET /v1/chains``: the configured chains (name, chain id, kind, finality policy);
- ``GET /v1/transfers/{id}``: one message by message id or tracking id, with its history;
- ``GET /v1/transfers``: messages newest first by chains and statuses, cursor-paged; with
  ``src_chain_id`` and ``src_tx_hash``, the messages one source transaction sent;
- ``GET /v1/events``: the event log as server-sent events (``events.py``);
- chain status; transfer quotes, building, forwarding and tracking transactions, manual
  execution (``transfers.py``);
- the operator's API keys, routes and services (``operator.py``);
- webhooks and their dead letters (``webhooks.py``);
- hashed-timelock swaps: propose, lock transactions, status, keeper authorisations
  (``swaps.py``);
- credit attestations: issue, publish, revoke, read by subject, sealed reports (``credit.py``);
- receivables by token id on the hub or a public chain, and disclosures of private terms
  checked against their on-chain commitment (``receivables.py``).
"""

from __future__ import annotations

from gateway.api.credit import add_credit_operations
from gateway.api.events import stream_events
from gateway.api.keys import CONFIG_KEY, STORE_KEY
from gateway.api.models import (
    Chain,
    ChainList,
    EventItem,
    EventsQuery,
    FinalityPolicy,
    NoBody,
    NoParams,
    Transfer,
    TransferPage,
    TransferPath,
    TransfersQuery,
    TransferSummary,
)
from gateway.api.operator import add_operator_operations
from gateway.api.problems import Problem
from gateway.api.receivables import add_receivable_operations
from gateway.api.spec import Api, Call, Scope
from gateway.api.swaps import add_swap_operations
from gateway.api.transfers import add_transfer_operations
from gateway.api.webhooks import add_webhook_operations
from gateway.config import ChainConfig, Confirmations
from gateway.domain.messages import MessageId
from gateway.domain.status import MessageRecord, TrackingKind
from gateway.store import Store

__all__ = ["API_VERSION", "v1_api"]

API_VERSION = "1.0.0"


def v1_api() -> Api:
    """The registry of every ``/v1`` operation."""
    api = Api(
        "xgate gateway API",
        API_VERSION,
        "Cross-chain transfers between the consortium chain and public EVM chains.",
    )
    api.add(
        "GET",
        "/v1/chains",
        list_chains,
        summary="The configured chains",
        scope=Scope.READ,
        path_params=NoParams,
        query=NoParams,
        body=NoBody,
        response=ChainList,
        tags=["chains"],
    )
    api.add(
        "GET",
        "/v1/transfers/{id}",
        get_transfer,
        summary="A transfer by message id or tracking id, with its status history",
        scope=Scope.READ,
        path_params=TransferPath,
        query=NoParams,
        body=NoBody,
        response=Transfer,
        problems=[404, 409],
        tags=["transfers"],
    )
    api.add(
        "GET",
        "/v1/transfers",
        list_transfers,
        summary="Transfers, newest first, by chains and statuses; or those of one transaction",
        scope=Scope.READ,
        path_params=NoParams,
        query=TransfersQuery,
        body=NoBody,
        response=TransferPage,
        tags=["transfers"],
    )
    api.add_stream(
        "/v1/events",
        stream_events,
        summary="The event log as server-sent events, from Last-Event-ID or after=",
        scope=Scope.READ,
        path_params=NoParams,
        query=EventsQuery,
        data=EventItem,
        problems=[410],
        tags=["events"],
    )
    add_webhook_operations(api)
    add_transfer_operations(api)
    add_swap_operations(api)
    add_operator_operations(api)
    add_credit_operations(api)
    add_receivable_operations(api)
    return api


async def list_chains(call: Call[NoParams, NoParams, NoBody]) -> ChainList:
    """Every chain of the gateway's configuration, the consortium hub first as configured."""
    cfg = call.request.app[CONFIG_KEY]
    return ChainList(items=[_chain(name, chain) for name, chain in cfg.chains.items()])


def _chain(name: str, chain: ChainConfig) -> Chain:
    finality = chain.finality
    if isinstance(finality, Confirmations):
        policy = FinalityPolicy(
            kind="confirmations",
            confirmations=finality.confirmations,
            time_to_finality_s=chain.time_to_finality_s,
        )
    else:
        policy = FinalityPolicy(kind=finality, time_to_finality_s=chain.time_to_finality_s)
    return Chain(name=name, chain_id=chain.chain_id, kind=chain.kind, finality=policy)


def _unknown(detail: str) -> Problem:
    return Problem(404, "transfer-not-found", "Transfer not found", detail)


async def get_transfer(call: Call[TransferPath, NoParams, NoBody]) -> Transfer:
    """``id`` is a message id (``0x`` and 64 hex digits) or a tracking id. A tracking id that
    names a source transaction which sent several messages is ambiguous (409): list them by
    the transaction instead."""
    store = call.request.app[STORE_KEY]
    ref = call.path.id
    if isinstance(ref, bytes):
        record = await store.message(MessageId(ref))
        if record is None:
            raise _unknown(f"no transfer has message id 0x{ref.hex()}")
    else:
        record = await _by_tracking_id(store, ref)
    return Transfer.from_records(record, await store.history(record.id))


async def _by_tracking_id(store: Store, tracking_id: str) -> MessageRecord:
    tracked = await store.tracked(tracking_id)
    if tracked is not None and tracked.kind is not TrackingKind.MESSAGE:
        raise _unknown(f"tracking id {tracking_id} names a {tracked.kind.value}, not a transfer")
    if tracked is not None and tracked.ref is not None:
        record = await store.message(MessageId(tracked.ref))
        if record is not None:
            return record
    # Messages carry the tracking id of their source transaction (from the watcher, or given
    # by ``Store.track`` when the transaction was registered).
    records = await store.messages_by_tracking(tracking_id)
    if not records:
        if tracked is None:
            raise _unknown(f"no transfer has tracking id {tracking_id}")
        raise _unknown(
            f"tracking id {tracking_id} names no recorded message yet: its source transaction "
            "is not final or not seen by the relay service yet; retry later"
        )
    if len(records) > 1:
        raise Problem(
            409,
            "ambiguous-tracking-id",
            "Tracking id names several transfers",
            f"tracking id {tracking_id} names {len(records)} messages of one source "
            "transaction; list them with GET /v1/transfers?src_chain_id=&src_tx_hash=",
        )
    return records[0]


async def list_transfers(call: Call[NoParams, TransfersQuery, NoBody]) -> TransferPage:
    """A page of transfers, newest first, filtered by source and destination chain and by
    statuses; ``next_cursor`` asks for the next page (null at the end). With ``src_tx_hash``
    (and ``src_chain_id``): the transfers that transaction sent, in log order, in one page
    (empty when the relay service has not recorded any yet)."""
    store = call.request.app[STORE_KEY]
    q = call.query
    if q.src_tx_hash is not None:
        assert q.src_chain_id is not None  # the query model requires it
        records = await store.messages_by_tx(q.src_chain_id, q.src_tx_hash)
        return TransferPage(items=[TransferSummary.from_record(r) for r in records])
    records, cursor = await store.messages_page(
        src_chain_id=q.src_chain_id,
        dst_chain_id=q.dst_chain_id,
        statuses=q.status,
        after=q.cursor,
        limit=q.limit,
    )
    return TransferPage(items=[TransferSummary.from_record(r) for r in records], next_cursor=cursor)
