"""The operator's operations (docs/api.md "Operator"), all of scope ``operator`` (their
state-changing requests signed, as the security layer requires of that scope):

- API keys: ``GET /v1/operator/keys``, ``POST /v1/operator/keys`` (the token in the answer,
  once), ``DELETE /v1/operator/keys/{key_id}`` (revoke; never the last active operator key);
  the store's own key calls, as ``xgate keys`` makes them;
- routes: ``GET /v1/operator/routes``, every route of every configured endpoint read live from
  the chains (its pause, the global pause, the asset contracts' value limits towards the
  remote chain with what is available now; a chain that cannot be read has its routes marked
  unavailable, the others' are answered); ``POST /v1/operator/routes/{chain_id}/
  {remote_chain_id}/pause | resume | limits`` and ``.../held/{message_id}/cancel`` (the
  guardian's cancellation of a delayed transfer) answer the unsigned transactions that make the
  change, for the operator's governance wallets: the gateway signs nothing. What the contracts
  let a role do at once is one transaction (the guardian's ``pauseRoute``, its ``lowerLimit``
  that only tightens); what needs the admin (unpausing, any other limit) is a timelocked
  operation: ``schedule`` by a proposer now, ``execute`` once the timelock's delay has passed,
  with its operation id, salt and earliest execution time; the node's gas estimate on each
  but the ``execute`` (the timelock reverts it before the delay);
- services: ``GET /v1/operator/services``, the relay processes' ops endpoints (``[api]
  services``: ``/healthz``, ``/readyz``, all at once, a short timeout each: one that does not
  answer is reported down) and what the store shows of them (signer locks, relayer leases on
  messages, the message queue by route and status, the watchers' checkpoints).

Everything a request names is checked before an answer is built: the route exists on the
chain, the sender holds the role the call needs, a timelocked operation is not scheduled
already, a guardian's limit is tighter; each refusal is its own problem.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from aiohttp import web
from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from adapters.base import EventQuery, TxRequest
from adapters.contracts import ContractHandle
from adapters.errors import TransactionFailed, XgateError
from adapters.types import Address, ChainId, Finality, Hash32, Height, TxHash
from contracts import load_artifact
from gateway.api.auth import SECURITY_KEY, caller_key
from gateway.api.chains import ChainHandle, chains_of
from gateway.api.keys import CONFIG_KEY, STORE_KEY
from gateway.api.models import (
    NoBody,
    NoParams,
    UnsignedTx,
)
from gateway.api.operator_models import (
    HELD_LOOKBACK_BLOCKS,
    ChainCheckpoint,
    GovernanceTxs,
    HeldCancelRequest,
    HeldTransfer,
    HeldTransferPath,
    OperatorKey,
    OperatorKeyCreate,
    OperatorKeyCreated,
    OperatorKeyList,
    OperatorKeyPath,
    OperatorKeysQuery,
    OperatorRoute,
    OperatorRouteList,
    OperatorRoutePath,
    QueueDepth,
    RelayerLease,
    Role,
    RouteLimit,
    RouteLimitRequest,
    RoutePauseRequest,
    ServiceHealth,
    ServicesReport,
    SignerLock,
    TimelockedRequest,
    TimelockOperation,
    UnavailableChain,
    WorkerHealthItem,
)
from gateway.api.problems import FieldError, Problem, invalid_request
from gateway.api.spec import Api, Call
from gateway.config import XgateConfig
from gateway.domain.apikeys import ACCOUNT_SCOPES, SIGNING_SCOPES, Scope
from gateway.domain.messages import MessageId
from gateway.store import NotFound, Store, StoreError

__all__ = [
    "SERVICE_CHECKS_KEY",
    "OpsTarget",
    "ServiceChecks",
    "add_operator_operations",
    "service_checks_from_config",
]

log = logging.getLogger(__name__)

# --- API keys ----------------------------------------------------------------------------------


def _now(request: web.Request) -> datetime:
    """The app's wall clock (the one its security layer and store records use)."""
    security = request.app.get(SECURITY_KEY)
    return datetime.now(UTC) if security is None else security.clock()


async def list_operator_keys(call: Call[NoParams, OperatorKeysQuery, NoBody]) -> OperatorKeyList:
    """Every API key, oldest first, without secrets; revoked ones with `include_revoked`."""
    store = call.request.app[STORE_KEY]
    keys = await store.api_keys(include_revoked=call.query.include_revoked)
    return OperatorKeyList(items=[OperatorKey.from_record(k) for k in keys])


async def create_operator_key(
    call: Call[NoParams, NoParams, OperatorKeyCreate],
) -> OperatorKeyCreated:
    """Create an API key; its token is in the answer and nowhere else. A key with the `issuer`
    or `operator` scope needs `ed25519_public_key` (its requests are signed); an `issuer` key
    its `chain_account` (the account its credit transactions are built for)."""
    body = call.body
    scopes = frozenset(body.scopes)
    errors = []
    if scopes & SIGNING_SCOPES and body.ed25519_public_key is None:
        signing = ", ".join(sorted(s.value for s in scopes & SIGNING_SCOPES))
        errors.append(
            FieldError(
                "body.ed25519_public_key",
                f"a key with the {signing} scope signs its requests: give its public key",
            )
        )
    if scopes & ACCOUNT_SCOPES and body.chain_account is None:
        errors.append(
            FieldError(
                "body.chain_account",
                "an issuer key acts as one account on the consortium chain: give it",
            )
        )
    if errors:
        raise invalid_request(errors)
    store = call.request.app[STORE_KEY]
    try:
        created = await store.create_api_key(
            body.name,
            scopes,
            ed25519_public_key=body.public_key,
            chain_account=body.chain_account,
            rate_per_s=body.rate_per_s,
            burst=body.burst,
        )
    except StoreError as exc:  # the model checks what the store does; its backstop
        field = exc.context.get("field")
        raise invalid_request([FieldError(f"body.{field or 'name'}", exc.message)]) from exc
    return OperatorKeyCreated.from_new(created.api_key, created.token)


async def revoke_operator_key(call: Call[OperatorKeyPath, NoParams, NoBody]) -> OperatorKey:
    """Revoke a key: it stops working at once on every instance, and its webhooks are
    disabled. Revoking a revoked key answers it as it is. The last active operator key is
    never revoked (409): the API would have no operator left (make another first)."""
    store = call.request.app[STORE_KEY]
    key_id = call.path.key_id
    key = await store.api_key(key_id)
    if key is None:
        raise Problem(404, "api-key-not-found", "API key not found", f"no API key {key_id}")
    if key.active and Scope.OPERATOR in key.scopes:
        others = [
            k
            for k in await store.api_keys(include_revoked=False)
            if Scope.OPERATOR in k.scopes and k.key_id != key_id
        ]
        if not others:
            mine = " (the key of this request)" if key_id == caller_key(call.request).key_id else ""
            raise Problem(
                409,
                "last-operator-key",
                "Last operator key",
                f"API key {key_id}{mine} is the last active operator key: create another "
                "operator key before revoking it",
            )
    try:
        return OperatorKey.from_record(await store.revoke_api_key(key_id))
    except NotFound as exc:
        raise Problem(
            404, "api-key-not-found", "API key not found", f"no API key {key_id}"
        ) from exc


# --- routes: reading them ----------------------------------------------------------------------

LATEST = Finality.latest()
ZERO_ADDRESS = Address(bytes(20))
NO_PREDECESSOR = Hash32(bytes(32))
ADMIN_ROLE = bytes(32)
PAUSER_ROLE = keccak(text="PAUSER_ROLE")
GUARDIAN_ROLE = keccak(text="GUARDIAN_ROLE")
PROPOSER_ROLE = keccak(text="PROPOSER_ROLE")
EXECUTOR_ROLE = keccak(text="EXECUTOR_ROLE")
NFT_UNITS = 10**6  # TransferLimits: one ERC-721 token counts this many units
TRANSFER_HELD = keccak(text="TransferHeld(bytes32,uint256,uint64,bytes)")
HOLD_PENDING = 1  # TransferLimits.HoldState.Pending

_DIRECTIONS: dict[str, int] = {"inbound": 0, "outbound": 1}

# The asset contracts with value limits, by their key in [chains.NAME.contracts], and the
# tokens (their contracts keys) they move; ERC-721 ones count NFT_UNITS a token.
_ASSET_APPS: dict[str, tuple[str, str, tuple[tuple[str, bool], ...]]] = {
    "vault": ("AssetVault", "vault", (("settlement_token", False), ("receivable", True))),
    "asset_gateway": (
        "WrappedAssetGateway",
        "asset_gateway",
        (("wrapped_settlement_token", False), ("wrapped_receivable", True)),
    ),
}


@dataclass(frozen=True, slots=True)
class _Chain:
    """A chain's endpoint and governance, read through its adapter."""

    handle: ChainHandle
    endpoint: ContractHandle
    timelock: ContractHandle | None

    @property
    def chain_id(self) -> ChainId:
        return self.handle.chain_id


def _endpoint_of(handle: ChainHandle) -> ContractHandle | None:
    address = handle.config.contracts.endpoint
    if address is None:
        return None
    return ContractHandle(handle.adapter, Address(address), load_artifact("BridgeEndpoint"))


def _timelock_of(handle: ChainHandle) -> ContractHandle | None:
    address = handle.config.contracts.timelock
    if address is None:
        return None
    return ContractHandle(handle.adapter, Address(address), load_artifact("XgateTimelock"))


async def _chain(request: web.Request, chain_id: int) -> _Chain:
    handle = await chains_of(request).get(chain_id)
    endpoint = _endpoint_of(handle)
    if endpoint is None:
        raise Problem(
            404,
            "route-not-found",
            "Route not found",
            f"chain {handle.name} has no bridge endpoint configured",
        )
    return _Chain(handle, endpoint, _timelock_of(handle))


async def _limits(handle: ChainHandle, remote: int) -> list[RouteLimit]:
    contracts = handle.config.contracts
    out: list[RouteLimit] = []
    for key, (artifact, app_key, tokens) in _ASSET_APPS.items():
        app_address = getattr(contracts, app_key)
        if app_address is None:
            continue
        app = ContractHandle(handle.adapter, Address(app_address), load_artifact(artifact))
        hold_delay = int(await app.view("holdDelay", finality=LATEST))
        for token_key, nft in tokens:
            token = getattr(contracts, token_key)
            if token is None:
                continue
            for direction, code in _DIRECTIONS.items():
                config, available = await app.view(
                    "limit", to_checksum_address(token), remote, code, finality=LATEST
                )
                enabled, capacity, rate, delay_above = (bool(config[0]), *map(int, config[1:]))
                avail = int(available) if enabled else None
                out.append(
                    RouteLimit(
                        app=key,  # type: ignore[arg-type]  # a key of _ASSET_APPS
                        app_address=Address(app_address),
                        token=Address(token),
                        token_name=token_key,
                        units_per_token=NFT_UNITS if nft else 1,
                        direction=direction,  # type: ignore[arg-type]  # a key of _DIRECTIONS
                        enabled=enabled,
                        capacity=capacity,
                        rate=rate,
                        delay_above=delay_above,
                        available=avail,
                        used=None if avail is None else max(capacity - avail, 0),
                        hold_delay_s=hold_delay,
                    )
                )
    return out


async def _held(handle: ChainHandle) -> dict[int, list[HeldTransfer]]:
    """Pending held transfers of the chain's asset contracts, by source chain: the
    TransferHeld events of the last HELD_LOOKBACK_BLOCKS blocks whose hold is still pending."""
    contracts = handle.config.contracts
    apps = {
        key: Address(address)
        for key, (_, app_key, _) in _ASSET_APPS.items()
        if (address := getattr(contracts, app_key)) is not None
    }
    if not apps:
        return {}
    adapter = handle.adapter
    head = await adapter.height(LATEST)
    now = (await adapter.header(head)).timestamp
    start = Height(max(handle.config.start_height, head - HELD_LOOKBACK_BLOCKS + 1, 0))
    query = EventQuery(addresses=tuple(apps.values()), topics=((TRANSFER_HELD,),))
    by_address = {address: key for key, address in apps.items()}
    out: dict[int, list[HeldTransfer]] = {}
    for event in await adapter.events(query, start, head):
        key = by_address.get(event.address)
        if key is None or len(event.topics) != 2:
            continue
        src_chain_id, ready_at, _ = abi_decode(["uint256", "uint64", "bytes"], event.data)
        artifact = _ASSET_APPS[key][0]
        app = ContractHandle(adapter, event.address, load_artifact(artifact))
        _, _, state = await app.view("holds", event.topics[1], finality=LATEST)
        if int(state) != HOLD_PENDING:
            continue
        out.setdefault(int(src_chain_id), []).append(
            HeldTransfer(
                app=key,  # type: ignore[arg-type]  # a key of _ASSET_APPS
                message_id=MessageId(bytes(event.topics[1])),
                ready_at=datetime.fromtimestamp(int(ready_at), UTC),
                ready=int(ready_at) <= now,
                block_number=event.block_number,
                tx_hash=TxHash(event.tx_hash),
            )
        )
    return out


async def _routes_of(chain: _Chain, names: dict[int, str]) -> list[OperatorRoute]:
    ep = chain.endpoint
    ids = [int(i) for i in await ep.view("routeIds", finality=LATEST)]
    endpoint_paused = bool(await ep.view("paused", finality=LATEST))
    delay = None
    if chain.timelock is not None:
        delay = int(await chain.timelock.view("getMinDelay", finality=LATEST))
    held = await _held(chain.handle)
    out: list[OperatorRoute] = []
    for remote in ids:
        remote_endpoint, oracle, paused = await ep.view("route", remote, finality=LATEST)
        out.append(
            OperatorRoute(
                chain_id=chain.chain_id,
                chain=chain.handle.name,
                remote_chain_id=remote,
                remote_chain=names.get(remote),
                endpoint=ep.address,
                remote_endpoint=Address(bytes.fromhex(remote_endpoint[2:])),
                oracle=Address(bytes.fromhex(oracle[2:])),
                available=True,
                error=None,
                paused=bool(paused),
                endpoint_paused=endpoint_paused,
                timelock=None if chain.timelock is None else chain.timelock.address,
                timelock_delay_s=delay,
                limits=await _limits(chain.handle, remote),
                held=held.get(remote, []),
            )
        )
    return out


def _configured_remotes(cfg: XgateConfig, name: str) -> list[int]:
    """The remote chains the configuration's ``[[routes]]`` give chain ``name``'s endpoint
    (either direction: a route's pause stops both), by chain id."""
    remotes = {
        cfg.chains[other].chain_id
        for route in cfg.routes
        for this, other in ((route.source, route.destination), (route.destination, route.source))
        if this == name and other in cfg.chains
    }
    return sorted(remotes)


def _unreadable(exc: Problem | XgateError) -> str:
    """Why a chain could not be read, without its node's URL (it may hold a key)."""
    if isinstance(exc, Problem):
        return exc.detail
    if exc.retryable:
        return f"the chain's node did not answer ({type(exc).__name__}); retry shortly"
    return _short(f"{type(exc).__name__}: {exc.message}")


def _unavailable_routes(
    cfg: XgateConfig, name: str, names: dict[int, str], error: str
) -> list[OperatorRoute]:
    chain = cfg.chains[name]
    contracts = chain.contracts
    assert contracts.endpoint is not None  # only chains with an endpoint are listed
    return [
        OperatorRoute(
            chain_id=chain.chain_id,
            chain=name,
            remote_chain_id=remote,
            remote_chain=names.get(remote),
            available=False,
            error=error,
            endpoint=Address(contracts.endpoint),
            remote_endpoint=None,
            oracle=None,
            paused=None,
            endpoint_paused=None,
            timelock=None if contracts.timelock is None else Address(contracts.timelock),
            timelock_delay_s=None,
            limits=None,
            held=None,
        )
        for remote in _configured_remotes(cfg, name)
    ]


async def _read_routes(
    request: web.Request, chain_id: int, names: dict[int, str]
) -> list[OperatorRoute] | str:
    """The chain's routes, or why the chain could not be read."""
    try:
        return await _routes_of(await _chain(request, chain_id), names)
    except Problem as exc:
        if exc.slug != "chain-unavailable":
            raise
        return _unreadable(exc)
    except XgateError as exc:
        log.warning("operator routes: chain %s unreadable: %s", chain_id, type(exc).__name__)
        return _unreadable(exc)


async def list_operator_routes(call: Call[NoParams, NoParams, NoBody]) -> OperatorRouteList:
    """Every route of every configured bridge endpoint, read from the chains now (latest
    block): pauses, the timelock that governs the chain, and the asset contracts' value limits
    towards the remote chain with what they hold now. A chain that cannot be read is named in
    `unavailable_chains`, and its routes (those of the configuration's `[[routes]]`) are listed
    with `available: false` and the chain's fields null: the other chains' routes are answered
    as ever."""
    cfg = call.request.app[CONFIG_KEY]
    chains_of(call.request)  # 503 chains-not-configured for an instance without chain access
    names: dict[int, str] = {chain.chain_id: name for name, chain in cfg.chains.items()}
    with_endpoint = [
        (name, c.chain_id) for name, c in cfg.chains.items() if c.contracts.endpoint is not None
    ]
    found = await asyncio.gather(
        *(_read_routes(call.request, chain_id, names) for _, chain_id in with_endpoint)
    )
    items: list[OperatorRoute] = []
    unavailable: list[UnavailableChain] = []
    for (name, chain_id), routes in zip(with_endpoint, found, strict=True):
        if isinstance(routes, str):
            unavailable.append(UnavailableChain(chain_id=chain_id, chain=name, error=routes))
            items += _unavailable_routes(cfg, name, names, routes)
        else:
            items += routes
    return OperatorRouteList(
        items=items, unavailable_chains=unavailable, read_at=_now(call.request)
    )


# --- routes: governance transactions -----------------------------------------------------------


async def _has_role(contract: ContractHandle, role: bytes, who: Address) -> bool:
    return bool(await contract.view("hasRole", role, to_checksum_address(who), finality=LATEST))


def _missing_role(who: Address, role: str, what: str) -> Problem:
    return Problem(
        422,
        "missing-role",
        "Sender lacks the role",
        f"{to_checksum_address(who)} does not hold {role} on {what}: the transaction would revert",
    )


async def _route(chain: _Chain, remote: int) -> tuple[bool, bool]:
    """(the route's pause, the endpoint's global pause); 404 when the endpoint has no route to
    ``remote``."""
    remote_endpoint, _, paused = await chain.endpoint.view("route", remote, finality=LATEST)
    if int(remote_endpoint, 16) == 0:
        raise Problem(
            404,
            "route-not-found",
            "Route not found",
            f"the endpoint on chain {chain.handle.name} has no route to chain {remote}",
        )
    return bool(paused), bool(await chain.endpoint.view("paused", finality=LATEST))


async def _tx(
    chain: _Chain, sender: Address, call: TxRequest, description: str, *, estimate: bool = True
) -> UnsignedTx:
    """The unsigned transaction, with the node's gas estimate from ``sender`` (and the chain's
    margin). ``estimate=False`` for a timelock's ``execute``: before the delay has passed the
    timelock reverts it (the operation is not ready), so no node can estimate it then; the
    wallet estimates it when it is sent. 422 ``transaction-would-fail`` when the node says the
    call reverts (the checks before passed: the chain changed meanwhile)."""
    assert call.to is not None
    gas: int | None = None
    if estimate:
        try:
            gas = await chain.handle.adapter.estimate_gas(call, sender)
        except TransactionFailed as exc:
            decoded = exc.context.get("decoded")
            name = getattr(decoded, "name", None) or "an undecoded revert"
            raise Problem(
                422,
                "transaction-would-fail",
                "Transaction would fail",
                f"the node of chain {chain.handle.name} says the transaction would revert "
                f"({name}): {description}",
            ) from exc
    return UnsignedTx(
        chain_id=chain.chain_id,
        sender=sender,
        to=call.to,
        data=call.data,
        value=0,
        gas=gas,
        description=description,
    )


async def _timelocked(
    chain: _Chain,
    target: ContractHandle,
    data: bytes,
    request: TimelockedRequest | RouteLimitRequest,
    what: str,
) -> tuple[list[UnsignedTx], TimelockOperation]:
    """``schedule`` and ``execute`` of ``data`` on ``target`` through the chain's timelock,
    after checking the timelock governs ``target`` and the proposer and executor hold their
    roles, and that the operation is not already known to the timelock."""
    timelock = chain.timelock
    if timelock is None:
        raise Problem(
            409,
            "no-timelock",
            "No timelock configured",
            f"chain {chain.handle.name} has no contracts.timelock in the gateway's configuration",
        )
    if not await _has_role(target, ADMIN_ROLE, timelock.address):
        raise Problem(
            409,
            "not-governed",
            "Not governed by the timelock",
            f"the timelock on chain {chain.handle.name} is not the admin of "
            f"{to_checksum_address(target.address)}",
        )
    proposer = request.sender
    executor = request.executor if request.executor is not None else proposer
    if not await _has_role(timelock, PROPOSER_ROLE, proposer):
        raise _missing_role(proposer, "PROPOSER_ROLE", f"the timelock of {chain.handle.name}")
    open_execution = await _has_role(timelock, EXECUTOR_ROLE, ZERO_ADDRESS)
    if not open_execution and not await _has_role(timelock, EXECUTOR_ROLE, executor):
        raise _missing_role(executor, "EXECUTOR_ROLE", f"the timelock of {chain.handle.name}")
    salt = request.salt if request.salt is not None else Hash32(secrets.token_bytes(32))
    target_cs = to_checksum_address(target.address)
    op_args = (target_cs, 0, data, NO_PREDECESSOR, salt)
    operation_id = Hash32(bytes(await timelock.view("hashOperation", *op_args, finality=LATEST)))
    if await timelock.view("isOperation", operation_id, finality=LATEST):
        raise Problem(
            409,
            "operation-exists",
            "Timelock operation exists",
            f"the timelock already has operation 0x{operation_id.hex()} (this call with this "
            "salt): execute it, or use another salt",
        )
    delay = int(await timelock.view("getMinDelay", finality=LATEST))
    adapter = chain.handle.adapter
    head = await adapter.header(await adapter.height(LATEST))
    earliest = datetime.fromtimestamp(head.timestamp, UTC) + timedelta(seconds=delay + 1)
    schedule = timelock.request("schedule", *op_args, delay)
    execute = timelock.request("execute", *op_args)
    txs = [
        await _tx(
            chain,
            proposer,
            schedule,
            f"schedule on the {chain.handle.name} timelock: {what} (executable after {delay} s)",
        ),
        await _tx(
            chain,
            executor,
            execute,
            f"execute on the {chain.handle.name} timelock, from {earliest.isoformat()}: {what} "
            "(gas not estimated: the timelock reverts it until the delay has passed)",
            estimate=False,
        ),
    ]
    operation = TimelockOperation(
        timelock=timelock.address,
        operation_id=operation_id,
        target=target.address,
        value=0,
        data=data,
        predecessor=NO_PREDECESSOR,
        salt=salt,
        delay_s=delay,
        earliest_execution_at=earliest,
    )
    return txs, operation


async def pause_operator_route(
    call: Call[OperatorRoutePath, NoParams, RoutePauseRequest],
) -> GovernanceTxs:
    """The guardian's `pauseRoute` (immediate: PAUSER_ROLE needs no timelock): sends to and
    deliveries from the remote chain stop on this chain's endpoint, and so do held transfers
    from it. 404 unknown route, 409 already paused, 422 `sender` lacks PAUSER_ROLE."""
    path, body = call.path, call.body
    chain = await _chain(call.request, path.chain_id)
    paused, _ = await _route(chain, path.remote_chain_id)
    if paused:
        raise Problem(
            409,
            "route-already-paused",
            "Route already paused",
            f"the route of chain {chain.handle.name} to chain {path.remote_chain_id} is paused",
        )
    if not await _has_role(chain.endpoint, PAUSER_ROLE, body.sender):
        raise _missing_role(body.sender, "PAUSER_ROLE", f"the endpoint of {chain.handle.name}")
    request = chain.endpoint.request("pauseRoute", path.remote_chain_id)
    tx = await _tx(
        chain,
        body.sender,
        request,
        f"pause the route of {chain.handle.name} to chain {path.remote_chain_id}",
    )
    return GovernanceTxs(
        action="pause",
        chain_id=chain.chain_id,
        remote_chain_id=path.remote_chain_id,
        mode="immediate",
        txs=[tx],
        operation=None,
    )


async def cancel_held_transfer(
    call: Call[HeldTransferPath, NoParams, HeldCancelRequest],
) -> GovernanceTxs:
    """The guardian's `cancelHeld` on the chain's asset contract (vault or asset gateway) that
    holds the delayed inbound transfer (immediate): it is not paid out when its delay ends;
    only the timelock may then pay it to an account it names (`releaseCancelled`). The hold is
    found by its message id on the chain's asset contracts. 404 unknown route or no hold of
    this message, 409 the hold is no longer pending (executed or cancelled), 422 `sender`
    lacks GUARDIAN_ROLE on the contract holding it."""
    path, body = call.path, call.body
    chain = await _chain(call.request, path.chain_id)
    await _route(chain, path.remote_chain_id)
    message = f"0x{bytes(path.message_id).hex()}"
    contracts = chain.handle.config.contracts
    for artifact, app_key, _ in _ASSET_APPS.values():
        address = getattr(contracts, app_key)
        if address is None:
            continue
        app = ContractHandle(chain.handle.adapter, Address(address), load_artifact(artifact))
        _, _, state = await app.view("holds", bytes(path.message_id), finality=LATEST)
        if int(state) == 0:  # HoldState.None: not held here
            continue
        if int(state) != HOLD_PENDING:
            raise Problem(
                409,
                "hold-not-pending",
                "Held transfer not pending",
                f"the hold of message {message} on chain {chain.handle.name} was already "
                "executed or cancelled",
            )
        if not await _has_role(app, GUARDIAN_ROLE, body.sender):
            raise _missing_role(body.sender, "GUARDIAN_ROLE", to_checksum_address(app.address))
        what = f"cancel the held transfer {message} on chain {chain.handle.name}"
        tx = await _tx(chain, body.sender, app.request("cancelHeld", bytes(path.message_id)), what)
        return GovernanceTxs(
            action="cancel_held",
            chain_id=chain.chain_id,
            remote_chain_id=path.remote_chain_id,
            mode="immediate",
            txs=[tx],
            operation=None,
        )
    raise Problem(
        404,
        "held-transfer-not-found",
        "Held transfer not found",
        f"no asset contract on chain {chain.handle.name} holds message {message}",
    )


async def resume_operator_route(
    call: Call[OperatorRoutePath, NoParams, TimelockedRequest],
) -> GovernanceTxs:
    """Unpausing is the admin's (the timelock's): `unpauseRoute` scheduled by a proposer now,
    executed after the timelock's delay. 404 unknown route, 409 not paused (or no timelock,
    or the operation already scheduled with this salt), 422 a role is missing."""
    path = call.path
    chain = await _chain(call.request, path.chain_id)
    paused, _ = await _route(chain, path.remote_chain_id)
    if not paused:
        raise Problem(
            409,
            "route-not-paused",
            "Route not paused",
            f"the route of chain {chain.handle.name} to chain {path.remote_chain_id} is not paused",
        )
    data = chain.endpoint.request("unpauseRoute", path.remote_chain_id).data
    what = f"unpause the route of {chain.handle.name} to chain {path.remote_chain_id}"
    txs, operation = await _timelocked(chain, chain.endpoint, data, call.body, what)
    return GovernanceTxs(
        action="resume",
        chain_id=chain.chain_id,
        remote_chain_id=path.remote_chain_id,
        mode="timelocked",
        txs=txs,
        operation=operation,
    )


def _app_of_token(chain: _Chain, token: Address) -> ContractHandle:
    contracts = chain.handle.config.contracts
    for artifact, app_key, tokens in _ASSET_APPS.values():
        app_address = getattr(contracts, app_key)
        if app_address is None:
            continue
        if any(getattr(contracts, key) == token for key, _ in tokens):
            return ContractHandle(
                chain.handle.adapter, Address(app_address), load_artifact(artifact)
            )
    raise invalid_request(
        [
            FieldError(
                "body.token",
                f"not a token of an asset contract on chain {chain.handle.name} (see "
                "GET /v1/operator/routes)",
            )
        ]
    )


def _tighter(current: Sequence[Any], wanted: RouteLimitRequest) -> bool:
    """TransferLimits.lowerLimit's rule: enabled, and against an enabled bucket capacity and
    rate not higher, size threshold not looser."""
    if not wanted.enabled:
        return False
    enabled, capacity, rate, delay_above = bool(current[0]), *map(int, current[1:])
    if not enabled:
        return True
    if wanted.capacity > capacity or wanted.rate > rate:
        return False
    return not (delay_above != 0 and (wanted.delay_above == 0 or wanted.delay_above > delay_above))


async def set_operator_route_limit(
    call: Call[OperatorRoutePath, NoParams, RouteLimitRequest],
) -> GovernanceTxs:
    """One value limit of the route (token, direction) towards the remote chain: through the
    timelock (`setLimit`, any configuration) or by the guardian at once (`lowerLimit`, only
    tighter: 409 `limit-not-tighter` otherwise). 404 unknown route, 422 a role is missing."""
    path, body = call.path, call.body
    chain = await _chain(call.request, path.chain_id)
    await _route(chain, path.remote_chain_id)
    app = _app_of_token(chain, body.token)
    direction = _DIRECTIONS[body.direction]
    config = (body.enabled, body.capacity, body.rate, body.delay_above)
    token = to_checksum_address(body.token)
    what = (
        f"{body.direction} limit of {token} to chain {path.remote_chain_id}: "
        + (f"capacity {body.capacity}, rate {body.rate}/s" if body.enabled else "disabled")
        + (f", delay above {body.delay_above}" if body.enabled and body.delay_above else "")
    )
    if body.via == "guardian":
        current, _ = await app.view("limit", token, path.remote_chain_id, direction)
        if not _tighter(current, body):
            raise Problem(
                409,
                "limit-not-tighter",
                "Limit not tighter",
                "the guardian only tightens a limit (enabled, capacity and rate not higher, "
                "size threshold not looser than now): send it via the timelock",
            )
        if not await _has_role(app, GUARDIAN_ROLE, body.sender):
            raise _missing_role(body.sender, "GUARDIAN_ROLE", to_checksum_address(app.address))
        lower = app.request("lowerLimit", token, path.remote_chain_id, direction, config)
        return GovernanceTxs(
            action="lower_limit",
            chain_id=chain.chain_id,
            remote_chain_id=path.remote_chain_id,
            mode="immediate",
            txs=[await _tx(chain, body.sender, lower, f"lower the {what}")],
            operation=None,
        )
    data = app.request("setLimit", token, path.remote_chain_id, direction, config).data
    txs, operation = await _timelocked(chain, app, data, body, f"set the {what}")
    return GovernanceTxs(
        action="set_limit",
        chain_id=chain.chain_id,
        remote_chain_id=path.remote_chain_id,
        mode="timelocked",
        txs=txs,
        operation=operation,
    )


# --- services ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpsTarget:
    """A relay process's ops server: ``name`` (how the answer names it) and its base URL."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class ServiceChecks:
    """The ops servers ``GET /v1/operator/services`` asks, each request within ``timeout_s``."""

    targets: tuple[OpsTarget, ...]
    timeout_s: float = 2.0


SERVICE_CHECKS_KEY = web.AppKey("service_checks", ServiceChecks)


def service_checks_from_config(cfg: XgateConfig) -> ServiceChecks:
    """The configuration's ``[api] services``; without them its ``[ops] listen`` (an
    unspecified host is asked on loopback)."""
    if cfg.api.services is not None:
        return ServiceChecks(tuple(OpsTarget(s.name, s.url) for s in cfg.api.services))
    host = cfg.ops.host
    if host in ("0.0.0.0", "", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return ServiceChecks((OpsTarget("relay", f"http://{shown}:{cfg.ops.port}"),))


def _role(worker: str) -> Role:
    if worker.startswith(("deliver:", "headers:")):
        return "relayer"
    if worker.startswith("attest:"):
        return "attester"
    if worker == "keeper" or worker.startswith("keeper:"):
        return "keeper"
    return "service"


_ERROR_MAX = 300


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_MAX else text[: _ERROR_MAX - 1] + "…"


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any] | tuple[None, str]:
    """(status, JSON body or None) of a GET, or (None, why) when it got no answer."""
    try:
        async with session.get(url, allow_redirects=False) as response:
            try:
                body: Any = await response.json(content_type=None)
            except ValueError:
                body = None
            return response.status, body
    except TimeoutError:
        return None, "timed out"
    except aiohttp.ClientError as exc:
        return None, _short(f"{type(exc).__name__}: {exc}")


def _workers(body: Any) -> list[WorkerHealthItem] | None:
    if not isinstance(body, dict) or not isinstance(body.get("workers"), dict):
        return None
    out: list[WorkerHealthItem] = []
    for name, state in body["workers"].items():
        if not isinstance(name, str) or not isinstance(state, dict):
            return None
        steps, failures = state.get("steps"), state.get("consecutive_failures")
        error, stopped = state.get("last_error"), state.get("stopped")
        if not (
            isinstance(steps, int)
            and isinstance(failures, int)
            and isinstance(state.get("ready"), bool)
            and (error is None or isinstance(error, str))
            and (stopped is None or isinstance(stopped, str))
        ):
            return None
        out.append(
            WorkerHealthItem(
                name=_short(name),
                role=_role(name),
                ready=state["ready"],
                steps=steps,
                consecutive_failures=failures,
                last_error=None if error is None else _short(error),
                stopped=None if stopped is None else _short(stopped),
            )
        )
    return out


async def _service(session: aiohttp.ClientSession, target: OpsTarget) -> ServiceHealth:
    base = target.url.rstrip("/")
    (live, live_body), (ready, ready_body) = await asyncio.gather(
        _get(session, base + "/healthz"), _get(session, base + "/readyz")
    )
    error: str | None = None
    workers: list[WorkerHealthItem] = []
    if live != 200:
        state: Literal["ready", "not_ready", "down"] = "down"
        error = live_body if live is None else f"/healthz answered {live}"
    else:
        parsed = _workers(ready_body) if ready is not None else None
        if parsed is None:
            state = "not_ready"
            error = (
                ready_body if ready is None else f"/readyz answered {ready} without worker states"
            )
        else:
            workers = parsed
            state = "ready" if ready == 200 else "not_ready"
    roles = sorted({w.role for w in workers if w.role != "service"})
    return ServiceHealth(
        name=target.name,
        url=target.url,
        state=state,
        error=error,
        roles=roles,  # type: ignore[arg-type]  # Role values
        workers=workers,
    )


def _signer(lock_name: str) -> Address | None:
    hexa = lock_name.removeprefix("signer:0x")
    if len(hexa) == 40:
        try:
            return Address(bytes.fromhex(hexa))
        except ValueError:
            return None
    return None


# An expired lease stays on its message until another relayer claims it: reported this long.
LEASE_RECENT = timedelta(minutes=5)


async def _relayer_leases(store: Store, now: datetime) -> list[RelayerLease]:
    """The leases on undelivered messages by owner (``Store.message_leases``: one query)."""
    return [
        RelayerLease(
            owner=lease.owner,
            messages=lease.messages,
            lease_until=lease.lease_until,
            expired=lease.lease_until <= now,
        )
        for lease in await store.message_leases(now, expired_within=LEASE_RECENT)
    ]


async def operator_services(call: Call[NoParams, NoParams, NoBody]) -> ServicesReport:
    """The relay services' health: each configured ops server's `/healthz` and `/readyz`
    (`[api] services`, all at once, each within the timeout; one that does not answer in
    time is `down`, never an error of this operation), with their workers by role; and from
    the store: the signer locks (which process writes for which key, until when), the relayer
    leases on undelivered messages by owner, the message queue by route and status, and the
    watchers' last checkpoint on every chain."""
    app = call.request.app
    cfg, store = app[CONFIG_KEY], app[STORE_KEY]
    checks = app.get(SERVICE_CHECKS_KEY) or service_checks_from_config(cfg)
    timeout = aiohttp.ClientTimeout(total=checks.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        services = await asyncio.gather(*(_service(session, t) for t in checks.targets))
    now = _now(call.request)
    names = {chain.chain_id: name for name, chain in cfg.chains.items()}
    locks = [
        SignerLock(
            signer=_signer(lock.name),
            name=lock.name,
            owner=lock.owner,
            lease_until=lock.lease_until,
            expired=lock.lease_until <= now,
            fencing_token=lock.fencing_token,
        )
        for lock in await store.locks("signer:")
    ]
    counts = await store.count_by_route()
    queue = [
        QueueDepth(src_chain_id=src, dst_chain_id=dst, status=status, count=n)
        for (src, dst, status), n in sorted(counts.items())
    ]
    checkpoints = [
        ChainCheckpoint(
            chain_id=cp.chain_id,
            chain=names.get(cp.chain_id),
            stream=cp.stream,
            height=cp.height,
            block_hash=cp.block_hash,
            updated_at=updated_at,
        )
        for cp, updated_at in await store.checkpoints()
    ]
    return ServicesReport(
        services=list(services),
        signer_locks=locks,
        relayer_leases=await _relayer_leases(store, now),
        queue=queue,
        checkpoints=checkpoints,
        checked_at=now,
    )


# --- declarations ------------------------------------------------------------------------------


def add_operator_operations(api: Api) -> None:
    """Declare the operator's operations on ``api``."""
    tags = ["operator"]
    api.add(
        "GET",
        "/v1/operator/keys",
        list_operator_keys,
        summary="Every API key, without secrets",
        scope=Scope.OPERATOR,
        path_params=NoParams,
        query=OperatorKeysQuery,
        body=NoBody,
        response=OperatorKeyList,
        tags=tags,
    )
    api.add(
        "POST",
        "/v1/operator/keys",
        create_operator_key,
        summary="Create an API key; its token is in the answer, once",
        scope=Scope.OPERATOR,
        path_params=NoParams,
        query=NoParams,
        body=OperatorKeyCreate,
        response=OperatorKeyCreated,
        status=201,
        tags=tags,
    )
    api.add(
        "DELETE",
        "/v1/operator/keys/{key_id}",
        revoke_operator_key,
        summary="Revoke an API key",
        scope=Scope.OPERATOR,
        path_params=OperatorKeyPath,
        query=NoParams,
        body=NoBody,
        response=OperatorKey,
        problems=[404, 409],
        tags=tags,
    )
    api.add(
        "GET",
        "/v1/operator/routes",
        list_operator_routes,
        summary="Every endpoint route, with pauses and value limits read from the chains",
        scope=Scope.OPERATOR,
        path_params=NoParams,
        query=NoParams,
        body=NoBody,
        response=OperatorRouteList,
        tags=tags,
    )
    route = "/v1/operator/routes/{chain_id}/{remote_chain_id}"
    api.add(
        "POST",
        route + "/pause",
        pause_operator_route,
        summary="The guardian's transaction pausing a route",
        scope=Scope.OPERATOR,
        path_params=OperatorRoutePath,
        query=NoParams,
        body=RoutePauseRequest,
        response=GovernanceTxs,
        problems=[404, 409, 422],
        tags=tags,
    )
    api.add(
        "POST",
        route + "/resume",
        resume_operator_route,
        summary="The timelock's schedule and execute transactions unpausing a route",
        scope=Scope.OPERATOR,
        path_params=OperatorRoutePath,
        query=NoParams,
        body=TimelockedRequest,
        response=GovernanceTxs,
        problems=[404, 409, 422],
        tags=tags,
    )
    api.add(
        "POST",
        route + "/limits",
        set_operator_route_limit,
        summary="The transactions setting a route's value limit (timelock, or guardian)",
        scope=Scope.OPERATOR,
        path_params=OperatorRoutePath,
        query=NoParams,
        body=RouteLimitRequest,
        response=GovernanceTxs,
        problems=[404, 409, 422],
        tags=tags,
    )
    api.add(
        "POST",
        route + "/held/{message_id}/cancel",
        cancel_held_transfer,
        summary="The guardian's transaction cancelling a delayed (held) inbound transfer",
        scope=Scope.OPERATOR,
        path_params=HeldTransferPath,
        query=NoParams,
        body=HeldCancelRequest,
        response=GovernanceTxs,
        problems=[404, 409, 422],
        tags=tags,
    )
    api.add(
        "GET",
        "/v1/operator/services",
        operator_services,
        summary="Relay services' health and the store's view of them",
        scope=Scope.OPERATOR,
        path_params=NoParams,
        query=NoParams,
        body=NoBody,
        response=ServicesReport,
        tags=tags,
    )
