"""The operator's operations' request and response bodies (``operator.py``, docs/api.md §7):
API keys, routes and their governance transactions, the relay services' health. Apart from
the handlers, so the SDK imports them without the handlers' chain and store dependencies."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.api.models import (
    ApiModel,
    ChainIdParam,
    ChecksumAddress,
    Hash32Hex,
    HexBytes,
    MessageIdHex,
    TxHashHex,
    Uint256,
    UnsignedTx,
    UtcTime,
)
from gateway.domain.apikeys import ApiKey, Scope
from gateway.domain.status import MessageStatus

__all__ = [
    "HELD_LOOKBACK_BLOCKS",
    "ChainCheckpoint",
    "Direction",
    "GovernanceTxs",
    "HeldTransfer",
    "OperatorKey",
    "OperatorKeyCreate",
    "OperatorKeyCreated",
    "OperatorKeyList",
    "OperatorKeyPath",
    "OperatorKeysQuery",
    "OperatorRoute",
    "OperatorRouteList",
    "OperatorRoutePath",
    "QueueDepth",
    "RelayerLease",
    "Role",
    "RouteLimit",
    "RouteLimitRequest",
    "RoutePauseRequest",
    "ServiceHealth",
    "ServicesReport",
    "SignerLock",
    "TimelockOperation",
    "TimelockedRequest",
    "Uint112",
    "UnavailableChain",
    "WorkerHealthItem",
]


_KEY_NAME_MAX = 100
_ED25519_HEX = r"^0x[0-9a-f]{64}$"


def _key_name(value: str) -> str:
    if not value.isprintable() or not value.strip():
        raise PydanticCustomError("key_name", "expected printable text that is not blank")
    return value


def _distinct(scopes: list[Scope]) -> list[Scope]:
    if len(set(scopes)) != len(scopes):
        raise PydanticCustomError("scopes", "a scope is given twice")
    return scopes


class OperatorKeyCreate(ApiModel):
    """A new API key. Keys of a signing scope (``issuer``, ``operator``) need the Ed25519
    public key their state-changing requests are signed with."""

    name: Annotated[str, Field(min_length=1, max_length=_KEY_NAME_MAX), AfterValidator(_key_name)]
    scopes: Annotated[
        list[Scope], Field(min_length=1, max_length=len(Scope)), AfterValidator(_distinct)
    ]
    ed25519_public_key: Annotated[str, Field(pattern=_ED25519_HEX)] | None = Field(
        default=None, description="0x and 64 lowercase hex digits"
    )
    chain_account: ChecksumAddress | None = Field(
        default=None,
        description="the EVM account the key acts as: required for the issuer scope (its "
        "credit transactions are built for this account only), optional otherwise",
    )
    rate_per_s: Annotated[float, Field(gt=0, le=1_000_000)] = 10.0
    burst: Annotated[int, Field(ge=1, le=1_000_000)] = 20

    @property
    def public_key(self) -> bytes | None:
        key = self.ed25519_public_key
        return None if key is None else bytes.fromhex(key[2:])


class OperatorKey(ApiModel):
    """An API key as stored, never its secret."""

    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    name: str
    scopes: list[Scope]
    ed25519_public_key: Annotated[str, Field(pattern=_ED25519_HEX)] | None
    chain_account: ChecksumAddress | None = Field(
        description="the EVM account the key acts as (null: none; an issuer key made before "
        "keys had one is refused until the operator makes a bound key)"
    )
    rate_per_s: float
    burst: int
    created_at: UtcTime
    revoked_at: UtcTime | None

    @classmethod
    def from_record(cls, key: ApiKey) -> OperatorKey:
        return cls(**_key_fields(key))


def _key_fields(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "scopes": sorted(key.scopes, key=list(Scope).index),
        "ed25519_public_key": None
        if key.ed25519_public_key is None
        else "0x" + key.ed25519_public_key.hex(),
        "chain_account": key.chain_account,
        "rate_per_s": key.rate_per_s,
        "burst": key.burst,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


class OperatorKeyCreated(OperatorKey):
    """The new key with its bearer token, shown this once (the store keeps its hash)."""

    token: str = Field(description="Authorization: Bearer <token>; shown this once")

    @classmethod
    def from_new(cls, key: ApiKey, token: str) -> OperatorKeyCreated:
        return cls(**_key_fields(key), token=token)


class OperatorKeyList(ApiModel):
    items: list[OperatorKey]


class OperatorKeysQuery(ApiModel):
    include_revoked: bool = Field(default=False, description="list revoked keys too")


class OperatorKeyPath(ApiModel):
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$", description="the key's id")]


_UINT112_MAX = 2**112 - 1
_UINT112_DIGITS = len(str(_UINT112_MAX))
_DECIMAL = re.compile(r"^(?:0|[1-9][0-9]*)$")


# How far back GET /v1/operator/routes looks for held transfers (TransferHeld events): the
# contract keeps holds by message id only, so the events are the way to find them.
HELD_LOOKBACK_BLOCKS = 10_000


Direction = Literal["inbound", "outbound"]


class RouteLimit(ApiModel):
    """One value limit (TransferLimits) of an asset contract for the route's remote chain: a
    token bucket of `capacity` units refilled at `rate` units a second; inbound transfers
    above `delay_above` (0: no size rule) or above what is available are held for the hold
    delay. Units: token base units; an ERC-721 token counts `units_per_token` units.
    `available` / `used` are null when the limit is disabled (everything passes at once)."""

    app: Literal["vault", "asset_gateway"]
    app_address: ChecksumAddress
    token: ChecksumAddress
    token_name: str = Field(description="the token's key in the chain's contracts")
    units_per_token: Uint256
    direction: Direction
    enabled: bool
    capacity: Uint256
    rate: Uint256
    delay_above: Uint256
    available: Uint256 | None
    used: Uint256 | None
    hold_delay_s: int = Field(description="how long a held inbound transfer waits")


class HeldTransfer(ApiModel):
    """An inbound transfer from the route's remote chain that an asset contract holds (above
    its size threshold or its bucket): anyone may execute it from `ready_at` unless the route
    is paused; the guardian may cancel it first. `tx_hash`: the delivery that held it."""

    app: Literal["vault", "asset_gateway"]
    message_id: MessageIdHex
    ready_at: UtcTime
    ready: bool = Field(description="ready_at has passed (by the chain's latest block)")
    block_number: int
    tx_hash: TxHashHex


class OperatorRoute(ApiModel):
    """The route of the endpoint on `chain_id` to `remote_chain_id`, as the chain has it now:
    `paused` is the route's own pause (sends to and deliveries from the remote chain stop),
    `endpoint_paused` the global one. `available: false` when the chain could not be read
    (`error` says why): the route is one the configuration's `[[routes]]` give the chain, and
    what only the chain knows (`remote_endpoint`, `oracle`, the pauses, the timelock's delay,
    `limits`, `held`) is null."""

    chain_id: int
    chain: str
    remote_chain_id: int
    remote_chain: str | None = Field(description="the remote chain's name, null if not ours")
    available: bool = Field(description="the chain was read; false: the chain's fields are null")
    error: str | None = Field(description="why the chain could not be read")
    endpoint: ChecksumAddress
    remote_endpoint: ChecksumAddress | None
    oracle: ChecksumAddress | None
    paused: bool | None
    endpoint_paused: bool | None
    timelock: ChecksumAddress | None = Field(description="the chain's XgateTimelock")
    timelock_delay_s: int | None
    limits: list[RouteLimit] | None
    held: list[HeldTransfer] | None = Field(
        description="pending held transfers whose TransferHeld is among the chain's last "
        f"{HELD_LOOKBACK_BLOCKS} blocks"
    )


class UnavailableChain(ApiModel):
    """A chain with a bridge endpoint that could not be read (its routes are listed with
    `available: false` as far as the configuration knows them)."""

    chain_id: int
    chain: str
    error: str


class OperatorRouteList(ApiModel):
    items: list[OperatorRoute]
    unavailable_chains: list[UnavailableChain]
    read_at: UtcTime


class OperatorRoutePath(ApiModel):
    chain_id: ChainIdParam = Field(description="the chain whose endpoint has the route")
    remote_chain_id: ChainIdParam = Field(description="the route's remote chain")


class RoutePauseRequest(ApiModel):
    """Pause the route at once: the guardian's `pauseRoute`, sent from `sender`, which must
    hold the endpoint's PAUSER_ROLE."""

    sender: ChecksumAddress = Field(description="the guardian's wallet (PAUSER_ROLE)")


class HeldTransferPath(OperatorRoutePath):
    message_id: MessageIdHex = Field(description="the held transfer's message id")


class HeldCancelRequest(ApiModel):
    """Who sends the guardian's cancellation of a held (delayed) inbound transfer."""

    sender: ChecksumAddress = Field(
        description="the guardian's wallet (GUARDIAN_ROLE on the asset contract holding it)"
    )


class TimelockedRequest(ApiModel):
    """A change only the admin (the chain's timelock) makes: `sender` (a PROPOSER_ROLE holder
    of the timelock) schedules it now; `executor` (default: `sender`; anyone when the timelock's
    executor role is open) executes it after the delay. `salt` tells apart operations of the
    same call (default: random)."""

    sender: ChecksumAddress = Field(description="a proposer of the chain's timelock")
    executor: ChecksumAddress | None = None
    salt: Hash32Hex | None = None


def _uint112(value: Any, info: ValidationInfo) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and info.mode == "python":
        number = value  # built in Python
    elif isinstance(value, str) and len(value) <= _UINT112_DIGITS and _DECIMAL.match(value):
        number = int(value)
    else:
        raise PydanticCustomError("uint", "expected a decimal string without sign or leading zeros")
    if not 0 <= number <= _UINT112_MAX:
        raise PydanticCustomError("uint_range", "must be between 0 and 2**112 - 1")
    return number


# TransferLimits' capacity, rate and size threshold are uint112: a decimal string.
Uint112 = Annotated[
    int,
    PlainValidator(_uint112),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^(?:0|[1-9][0-9]*)$",
            "maxLength": _UINT112_DIGITS,
            "description": "a uint112 as a decimal string",
        }
    ),
]


class RouteLimitRequest(ApiModel):
    """Set one value limit of the route's asset contract (the one on `chain_id` that moves
    `token`) towards the remote chain. `via`: `timelock` (the admin's `setLimit`, any
    configuration, scheduled by `sender` as a proposer) or `guardian` (`lowerLimit` from
    `sender`, at once, only tighter than now: enabled, capacity and rate not higher, size
    threshold not looser)."""

    sender: ChecksumAddress = Field(description="a timelock proposer, or the guardian")
    token: ChecksumAddress
    direction: Direction
    enabled: bool
    capacity: Uint112
    rate: Uint112 = Field(description="units refilled a second")
    delay_above: Uint112 = Field(
        description="inbound transfers above this are held (0: no size rule)"
    )
    via: Literal["timelock", "guardian"] = "timelock"
    executor: ChecksumAddress | None = None
    salt: Hash32Hex | None = None

    @model_validator(mode="after")
    def _guardian_takes_no_timelock_fields(self) -> RouteLimitRequest:
        if self.via == "guardian" and (self.executor is not None or self.salt is not None):
            raise PydanticCustomError(
                "via", "executor and salt are for via=timelock (the guardian acts at once)"
            )
        return self


class TimelockOperation(ApiModel):
    """The scheduled call: `operation_id` is the timelock's `hashOperation(target, value,
    data, predecessor, salt)`. It may be executed from `delay_s` after the schedule is mined
    (`earliest_execution_at`: if it is mined in the chain's next block)."""

    timelock: ChecksumAddress
    operation_id: Hash32Hex
    target: ChecksumAddress
    value: Uint256
    data: HexBytes
    predecessor: Hash32Hex
    salt: Hash32Hex
    delay_s: int
    earliest_execution_at: UtcTime


class GovernanceTxs(ApiModel):
    """The transactions that make the change, in order, for the operator's wallets to sign and
    send (the gateway signs nothing). `immediate`: one call a role makes at once;
    `timelocked`: `schedule` now, `execute` after the delay (`operation`)."""

    action: Literal["pause", "resume", "set_limit", "lower_limit", "cancel_held"]
    chain_id: int
    remote_chain_id: int
    mode: Literal["immediate", "timelocked"]
    txs: list[UnsignedTx]
    operation: TimelockOperation | None


Role = Literal["relayer", "attester", "keeper", "service"]


class WorkerHealthItem(ApiModel):
    """One worker of a relay process, as its `/readyz` reports it."""

    name: str
    role: Role
    ready: bool
    steps: int
    consecutive_failures: int
    last_error: str | None
    stopped: str | None = Field(description="why the worker stopped for good, if it did")


class ServiceHealth(ApiModel):
    """A relay process's ops server: `down` when `/healthz` did not answer 200 in time,
    `not_ready` when `/readyz` is not 200 (a worker failing, stopped, or not through a first
    step), `ready` otherwise."""

    name: str
    url: str
    state: Literal["ready", "not_ready", "down"]
    error: str | None = Field(description="why it is down or its readiness is unknown")
    roles: list[Role]
    workers: list[WorkerHealthItem]


class SignerLock(ApiModel):
    """A signer's lock: one process writes for the key; the lease is renewed while it runs."""

    signer: ChecksumAddress | None
    name: str
    owner: str
    lease_until: UtcTime
    expired: bool
    fencing_token: int


class QueueDepth(ApiModel):
    src_chain_id: int
    dst_chain_id: int
    status: MessageStatus
    count: int


class ChainCheckpoint(ApiModel):
    """The last block of a watcher's stream on a chain that was scanned completely."""

    chain_id: int
    chain: str | None
    stream: str
    height: int
    block_hash: Hash32Hex
    updated_at: UtcTime


class RelayerLease(ApiModel):
    """A relayer process (`owner`, its lease owner id) holding message leases: how many of the
    undelivered messages it holds, and the latest of their lease expiries (`expired` when even
    that has passed: the process stopped renewing, another relayer takes them over)."""

    owner: str
    messages: int
    lease_until: UtcTime
    expired: bool


class ServicesReport(ApiModel):
    services: list[ServiceHealth]
    signer_locks: list[SignerLock]
    relayer_leases: list[RelayerLease] = Field(
        description="leases on undelivered messages by owner, from the store (expired ones "
        "for a while after their expiry)"
    )
    queue: list[QueueDepth]
    checkpoints: list[ChainCheckpoint]
    checked_at: UtcTime
