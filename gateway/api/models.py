"""The API's request and response bodies (docs/api.md §1): pydantic models that refuse unknown
fields and validate strictly, and that generate the OpenAPI document's schemas (``spec.py``),
so the schema and the validation have one source.

Wire forms, each a reusable annotated type:

- ``Hash32Hex`` / ``MessageIdHex`` / ``TxHashHex``: ``0x`` and lowercase hex of exactly 32
  bytes (``bytes`` in Python); ``HexBytes``: ``0x`` and lowercase hex of any length;
- ``ChecksumAddress``: an EIP-55 checksummed address (20 ``bytes`` in Python); a wrong or
  missing checksum is refused;
- ``Uint256`` / ``Uint64``: decimal strings (``int`` in Python): JSON numbers lose precision
  above 2**53 in most clients;
- ``ChainIdParam``: a positive integer (a JSON number; decimal text in a query or path); in
  a request it must name a configured chain (the validation context's ``chain_ids``, set by
  ``spec.py``);
- ``AnyChainIdParam``: the same, any chain id (the handler answers 404 for an unconfigured one);
- ``UtcTime``: RFC 3339 in UTC (``...Z``).

Path and query parameters are validated as text (``model_validate_strings``), bodies as JSON
(``model_validate_json``), so a JSON body's chain id must be a number and its amounts strings.
Response models are built in Python from the store's records (``from_record``); the same
validators accept the Python values (``bytes``, ``int``) there.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from eth_utils.address import is_checksum_address, to_canonical_address, to_checksum_address
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from adapters.types import Address, ChainId, Hash32, TxHash
from gateway.domain.events import CreditAction, DeliveryState, Event, EventKind, WebhookDelivery
from gateway.domain.events import Webhook as WebhookRecord
from gateway.domain.messages import MessageId
from gateway.domain.status import (
    MessageCursor,
    MessageRecord,
    MessageStatus,
    StatusChange,
    SwapState,
)

__all__ = [
    "MAX_CHAIN_ID",
    "PROBLEM_TYPE_BASE",
    "TRACKING_ID_PATTERN",
    "AnyChainIdParam",
    "ApiModel",
    "Chain",
    "ChainIdParam",
    "ChainList",
    "ChecksumAddress",
    "CreditEventData",
    "Cursor",
    "DeadLetterPath",
    "DeadLettersQuery",
    "Delivery",
    "DeliveryList",
    "EventIdParam",
    "EventItem",
    "EventsQuery",
    "FieldErrorItem",
    "FinalityPolicy",
    "Hash32Hex",
    "HexBytes",
    "KindList",
    "MessageEventData",
    "MessageIdHex",
    "NoBody",
    "NoParams",
    "PageLimit",
    "ProblemDetails",
    "StatusChangeItem",
    "StatusList",
    "SwapEventData",
    "Transfer",
    "TransferPage",
    "TransferPath",
    "TransferRef",
    "TransferSummary",
    "TransfersQuery",
    "TxHashHex",
    "Uint64",
    "Uint256",
    "UnsignedTx",
    "UtcTime",
    "Webhook",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookList",
    "WebhookPath",
    "encode_cursor",
    "parse_event_id",
]

MAX_CHAIN_ID = 2**63 - 1  # the store keeps chain ids as BIGINT
_UINT256_MAX = 2**256 - 1
_UINT64_MAX = 2**64 - 1
# A tracking id the API hands out: url-safe, and never "0x..." (that is a message id).
TRACKING_ID_PATTERN = r"^(?!0x)[A-Za-z0-9_-]{1,100}$"
_TRACKING_ID = re.compile(TRACKING_ID_PATTERN)


class ApiModel(BaseModel):
    """Every API model: frozen, unknown fields refused, no type coercion. A response always
    carries every field (null when unset), so its schema lists them all as required."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, json_schema_serialization_defaults_required=True
    )


# --- hex ---------------------------------------------------------------------------------------


def _hex_parser(size: int | None) -> Callable[[Any], bytes]:
    """``0x`` and lowercase hex of ``size`` bytes (any whole number of bytes when None)."""
    digits = "(?:[0-9a-f]{2})*" if size is None else f"[0-9a-f]{{{2 * size}}}"
    shape = re.compile(f"^0x{digits}$")
    what = "hex bytes" if size is None else f"{2 * size} hex digits ({size} bytes)"

    def parse(value: Any) -> bytes:
        if isinstance(value, bytes) and (size is None or len(value) == size):
            return value  # built in Python from a record
        if not isinstance(value, str) or not shape.match(value):
            raise PydanticCustomError(
                "hex", "expected 0x and {what}, in lower case", {"what": what}
            )
        return bytes.fromhex(value[2:])

    return parse


def _to_hex(value: bytes) -> str:
    return "0x" + value.hex()


def _hex_schema(size: int | None, description: str) -> dict[str, Any]:
    pattern = "^0x(?:[0-9a-f]{2})*$" if size is None else f"^0x[0-9a-f]{{{2 * size}}}$"
    return {"type": "string", "pattern": pattern, "description": description}


Hash32Hex = Annotated[
    Hash32,
    PlainValidator(_hex_parser(32)),
    PlainSerializer(_to_hex, return_type=str),
    WithJsonSchema(_hex_schema(32, "32 bytes: 0x and 64 lowercase hex digits")),
]
MessageIdHex = Annotated[
    MessageId,
    PlainValidator(_hex_parser(32)),
    PlainSerializer(_to_hex, return_type=str),
    WithJsonSchema(_hex_schema(32, "a message id: 0x and 64 lowercase hex digits")),
]
TxHashHex = Annotated[
    TxHash,
    PlainValidator(_hex_parser(32)),
    PlainSerializer(_to_hex, return_type=str),
    WithJsonSchema(_hex_schema(32, "a transaction hash: 0x and 64 lowercase hex digits")),
]
HexBytes = Annotated[
    bytes,
    PlainValidator(_hex_parser(None)),
    PlainSerializer(_to_hex, return_type=str),
    WithJsonSchema(_hex_schema(None, "bytes: 0x and lowercase hex, two digits a byte")),
]


# --- addresses ---------------------------------------------------------------------------------

_ADDRESS_SHAPE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _address(value: Any) -> Address:
    if isinstance(value, bytes) and len(value) == 20:
        return Address(value)
    if not isinstance(value, str) or not _ADDRESS_SHAPE.match(value):
        raise PydanticCustomError("address", "expected an address: 0x and 40 hex digits")
    if not is_checksum_address(value):
        raise PydanticCustomError(
            "address_checksum",
            "expected the address's EIP-55 checksummed spelling (mixed case); a digit may be "
            "mistyped",
        )
    return Address(to_canonical_address(value))


# EIP-55 costs a keccak per address, and answers spell the same few addresses (contracts,
# endpoints, a dApp's users) again and again: 6 % of a status read's CPU before this cache.
_checksummed = functools.lru_cache(maxsize=4096)(to_checksum_address)


ChecksumAddress = Annotated[
    Address,
    PlainValidator(_address),
    PlainSerializer(_checksummed, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^0x[0-9a-fA-F]{40}$",
            "description": "an EIP-55 checksummed address",
        }
    ),
]


# --- integers as decimal strings ---------------------------------------------------------------

_DECIMAL = re.compile(r"^(?:0|[1-9][0-9]*)$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _from_text(info: ValidationInfo) -> bool:
    """Validating path or query text (``model_validate_strings``: mode ``"string"``, which
    pydantic's type hints do not list)."""
    return str(info.mode) == "string"


def _uint_parser(bits: int) -> Callable[[Any, ValidationInfo], int]:
    top = 2**bits - 1
    digits = len(str(top))

    def parse(value: Any, info: ValidationInfo) -> int:
        if _is_int(value) and info.mode == "python":
            number = int(value)  # built in Python; a JSON number is refused
        elif isinstance(value, str) and len(value) <= digits and _DECIMAL.match(value):
            number = int(value)
        else:
            raise PydanticCustomError(
                "uint", "expected a decimal string without sign or leading zeros"
            )
        if not 0 <= number <= top:
            raise PydanticCustomError(
                "uint_range", "must be between 0 and 2**{bits} - 1", {"bits": bits}
            )
        return number

    return parse


def _uint_schema(bits: int) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": "^(?:0|[1-9][0-9]*)$",
        "maxLength": len(str(2**bits - 1)),
        "description": f"a uint{bits} as a decimal string",
    }


Uint256 = Annotated[
    int,
    PlainValidator(_uint_parser(256)),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_uint_schema(256)),
]
Uint64 = Annotated[
    int,
    PlainValidator(_uint_parser(64)),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_uint_schema(64)),
]


# --- chain ids ---------------------------------------------------------------------------------

_CHAIN_ID_TEXT = re.compile(r"^[1-9][0-9]{0,18}$")


def _any_chain_id(value: Any, info: ValidationInfo) -> ChainId:
    if _is_int(value) and not _from_text(info):
        number = int(value)  # a JSON number, or built in Python
    elif isinstance(value, str) and _from_text(info) and _CHAIN_ID_TEXT.match(value):
        number = int(value)  # a query or path parameter is text
    else:
        raise PydanticCustomError("chain_id", "expected a positive integer chain id")
    if not 1 <= number <= MAX_CHAIN_ID:
        raise PydanticCustomError("chain_id", "expected a positive integer chain id")
    return ChainId(number)


def _chain_id(value: Any, info: ValidationInfo) -> ChainId:
    number = _any_chain_id(value, info)
    known = (info.context or {}).get("chain_ids")
    if known is not None and number not in known:
        raise PydanticCustomError("chain_id_unknown", "no configured chain has this id")
    return ChainId(number)


ChainIdParam = Annotated[
    ChainId,
    PlainValidator(_chain_id),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_CHAIN_ID,
            "description": "a chain id of a configured chain",
        }
    ),
]
# Any positive chain id, configured or not: for a path whose handler answers 404
# ``unknown-chain`` for one that is not (a resource that does not exist, not a bad request).
AnyChainIdParam = Annotated[
    ChainId,
    PlainValidator(_any_chain_id),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_CHAIN_ID,
            "description": "a chain id (404 unknown-chain when this gateway has no such chain)",
        }
    ),
]


# --- times -------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError("timezone", "expected a time with a time zone")
    return value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcTime = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(_rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}),
]


# --- requests ----------------------------------------------------------------------------------


class NoParams(ApiModel):
    """An operation without path or query parameters: any given is refused."""


_MESSAGE_ID = _hex_parser(32)


def _transfer_ref(value: Any) -> MessageId | str:
    if isinstance(value, bytes):
        return MessageId(_MESSAGE_ID(value))
    if not isinstance(value, str):
        raise PydanticCustomError("transfer_ref", "expected a message id or a tracking id")
    if value.startswith("0x"):
        return MessageId(_MESSAGE_ID(value))
    if not _TRACKING_ID.match(value):
        raise PydanticCustomError(
            "transfer_ref",
            "expected a message id (0x and 64 lowercase hex digits) or a tracking id "
            "(1 to 100 of A-Z, a-z, 0-9, _ and -)",
        )
    return value


TransferRef = Annotated[
    MessageId | str,
    PlainValidator(_transfer_ref),
    WithJsonSchema(
        {
            "type": "string",
            "description": "a message id (0x and 64 lowercase hex digits) or a tracking id",
            "anyOf": [
                {"pattern": "^0x[0-9a-f]{64}$"},
                {"pattern": TRACKING_ID_PATTERN},
            ],
        }
    ),
]


class TransferPath(ApiModel):
    id: TransferRef = Field(description="a message id, or a tracking id the API handed out")


# --- paging ------------------------------------------------------------------------------------

PAGE_LIMIT_MAX = 200
PAGE_LIMIT_DEFAULT = 50
_LIMIT_TEXT = re.compile(r"^[1-9][0-9]{0,2}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_TEXT = re.compile(r"^[A-Za-z0-9_-]{54}$")  # 40 bytes, base64url without padding


def _limit(value: Any, info: ValidationInfo) -> int:
    text = _from_text(info)
    given = isinstance(value, str) and bool(_LIMIT_TEXT.match(value)) if text else _is_int(value)
    number = int(value) if given else 0
    if not 1 <= number <= PAGE_LIMIT_MAX:
        raise PydanticCustomError(
            "limit", "expected an integer from 1 to {most}", {"most": PAGE_LIMIT_MAX}
        )
    return number


PageLimit = Annotated[
    int,
    PlainValidator(_limit),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": PAGE_LIMIT_MAX,
            "default": PAGE_LIMIT_DEFAULT,
            "description": "items per page",
        }
    ),
]


def encode_cursor(cursor: MessageCursor) -> str:
    """A page's end as an opaque token: the last item's creation time (microseconds since the
    epoch) and id, base64url."""
    micros = (cursor.created_at - _EPOCH) // timedelta(microseconds=1)
    raw = micros.to_bytes(8, "big", signed=True) + bytes(cursor.id)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _cursor(value: Any) -> MessageCursor:
    if isinstance(value, MessageCursor):
        return value
    if isinstance(value, str) and _CURSOR_TEXT.match(value):
        raw = base64.urlsafe_b64decode(value + "==")
        micros = int.from_bytes(raw[:8], "big", signed=True)
        try:
            created = _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            pass
        else:
            return MessageCursor(created, MessageId(raw[8:]))
    raise PydanticCustomError(
        "cursor", "not a cursor this API handed out (use a page's next_cursor as it is)"
    )


Cursor = Annotated[
    MessageCursor,
    PlainValidator(_cursor),
    PlainSerializer(encode_cursor, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "opaque: a page's next_cursor, to ask for the page after it",
        }
    ),
]

_STATUSES = ", ".join(s.value for s in MessageStatus)


def _statuses(value: Any) -> tuple[MessageStatus, ...]:
    if isinstance(value, tuple | list) and all(isinstance(v, MessageStatus) for v in value):
        return tuple(value)
    if isinstance(value, str):
        try:
            return tuple(dict.fromkeys(MessageStatus(part) for part in value.split(",")))
        except ValueError:
            pass
    raise PydanticCustomError(
        "statuses", "expected statuses separated by commas, among: {all}", {"all": _STATUSES}
    )


StatusList = Annotated[
    tuple[MessageStatus, ...],
    PlainValidator(_statuses),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^({0})(,({0}))*$".format("|".join(s.value for s in MessageStatus)),
            "description": f"statuses separated by commas, among: {_STATUSES}",
        }
    ),
]


def _located(title: str, problems: list[tuple[str, str]]) -> None:
    """Raise several problems, each at its field, from a model validator."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("query", message), loc=(name,), input=None
                )
                for name, message in problems
            ],
        )


class TransfersQuery(ApiModel):
    """Transfers newest first, filtered by chains and statuses, a page at a time; or, with
    ``src_tx_hash`` and ``src_chain_id``, the transfers that source transaction sent (all of
    them, in log order, no other filter)."""

    src_chain_id: ChainIdParam | None = Field(default=None, description="the source chain")
    dst_chain_id: ChainIdParam | None = Field(default=None, description="the destination chain")
    status: StatusList | None = None
    src_tx_hash: TxHashHex | None = Field(
        default=None, description="the source transaction (needs src_chain_id)"
    )
    cursor: Cursor | None = None
    limit: PageLimit = PAGE_LIMIT_DEFAULT

    @model_validator(mode="after")
    def _by_transaction_alone(self) -> TransfersQuery:
        if self.src_tx_hash is None:
            return self
        problems = [
            (name, "not with src_tx_hash (a transaction's transfers are one page)")
            for name in ("dst_chain_id", "status", "cursor")
            if getattr(self, name) is not None
        ]
        if self.src_chain_id is None:
            problems.append(("src_chain_id", "required with src_tx_hash"))
        _located(type(self).__name__, problems)
        return self


# --- responses ---------------------------------------------------------------------------------


class FinalityPolicy(ApiModel):
    """When a block of the chain counts as final: ``instant`` (BFT, once sealed),
    ``finalized`` (the chain's finalized tag) or ``confirmations`` blocks on top of it."""

    kind: Literal["instant", "finalized", "confirmations"]
    confirmations: Annotated[int, Field(ge=0)] | None = None
    time_to_finality_s: Annotated[float, Field(gt=0)] = Field(
        description="seconds until a block is final under this policy (an estimate)"
    )


class Chain(ApiModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]
    chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    kind: Literal["qbft", "evm"] = Field(description="qbft: the consortium; evm: a public chain")
    finality: FinalityPolicy


class ChainList(ApiModel):
    items: list[Chain]


class UnsignedTx(ApiModel):
    """A transaction the gateway built for the caller's wallet to sign and send (the gateway
    never holds users' keys): on ``chain_id``, from ``sender``, calling ``to`` with ``data``
    and ``value`` wei. ``gas`` is the node's estimate with the chain's margin, null when the
    call cannot be estimated yet (it needs an earlier transaction of the same plan, e.g. an
    approval, to be mined first). Nonce and fees are the wallet's to choose."""

    chain_id: ChainIdParam
    sender: ChecksumAddress
    to: ChecksumAddress
    data: HexBytes
    value: Uint256
    gas: Uint64 | None
    description: str = Field(description="what the transaction does, for the wallet's user")


class StatusChangeItem(ApiModel):
    """One step of a message's life; ``from`` is null for the first."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        json_schema_serialization_defaults_required=True,
        serialize_by_alias=True,
    )

    from_status: MessageStatus | None = Field(alias="from")
    to_status: MessageStatus = Field(alias="to")
    at: UtcTime
    detail: str | None = None
    tx_hash: TxHashHex | None = Field(
        default=None,
        description="the transaction of this step, if any: the source transaction for "
        "final, the delivery for submitted and delivered",
    )

    @classmethod
    def from_change(cls, change: StatusChange) -> StatusChangeItem:
        return cls.model_validate(
            {
                "from": change.old_status,
                "to": change.new_status,
                "at": change.at,
                "detail": change.detail,
                "tx_hash": change.tx_hash,
            }
        )


class TransferSummary(ApiModel):
    """A bridge message and where it is."""

    id: MessageIdHex
    tracking_id: str | None = None
    status: MessageStatus
    reason: str | None = Field(
        default=None, description="why it is parked or was retried, if it is"
    )
    src_chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    dst_chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    src_endpoint: ChecksumAddress
    dst_endpoint: ChecksumAddress
    nonce: Uint64
    sender: ChecksumAddress
    receiver: ChecksumAddress
    payload: HexBytes
    src_block_number: Annotated[int, Field(ge=0)]
    src_block_hash: Hash32Hex
    src_tx_hash: TxHashHex
    src_log_index: Annotated[int, Field(ge=0)] = Field(
        description="the MessageSent log's position in its block"
    )
    attempts: Annotated[int, Field(ge=0)] = Field(description="delivery attempts so far")
    delivery_tx_hash: TxHashHex | None = None
    delivery_block_number: Annotated[int, Field(ge=0)] | None = None
    created_at: UtcTime
    updated_at: UtcTime

    @staticmethod
    def fields_of(record: MessageRecord) -> dict[str, Any]:
        m = record.message
        return {
            "id": record.id,
            "tracking_id": record.tracking_id,
            "status": record.status,
            "reason": record.reason,
            "src_chain_id": m.src_chain_id,
            "dst_chain_id": m.dst_chain_id,
            "src_endpoint": m.src_endpoint,
            "dst_endpoint": m.dst_endpoint,
            "nonce": m.nonce,
            "sender": m.sender,
            "receiver": m.receiver,
            "payload": m.payload,
            "src_block_number": record.src_block_number,
            "src_block_hash": record.src_block_hash,
            "src_tx_hash": record.src_tx_hash,
            "src_log_index": record.block_log_index,
            "attempts": record.attempts,
            "delivery_tx_hash": record.delivery_tx_hash,
            "delivery_block_number": record.delivery_block_number,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }

    @classmethod
    def from_record(cls, record: MessageRecord) -> TransferSummary:
        return cls.model_validate(cls.fields_of(record))


class Transfer(TransferSummary):
    """A bridge message with its full status history, oldest first."""

    history: list[StatusChangeItem]

    @classmethod
    def from_records(cls, record: MessageRecord, history: Sequence[StatusChange]) -> Transfer:
        return cls.model_validate(
            {
                **TransferSummary.fields_of(record),
                "history": [StatusChangeItem.from_change(c) for c in history],
            }
        )


class TransferPage(ApiModel):
    """One page of transfers; ``next_cursor`` asks for the next page, null at the end."""

    items: list[TransferSummary]
    next_cursor: Cursor | None = None


class FieldErrorItem(ApiModel):
    field: str = Field(description="location and path: path.id, query.limit, body.items[0].to")
    message: str


class NoBody(ApiModel):
    """An operation that takes no request body: any body is refused."""


# A problem's ``type`` is this and its slug (``problems.py`` builds them; the SDK parses them).
PROBLEM_TYPE_BASE = "https://xgate.dev/problems/"


class ProblemDetails(ApiModel):
    """An RFC 9457 problem (``application/problem+json``); ``request_id`` and ``errors`` are
    left out when they do not apply."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    type: str = Field(description="https://xgate.dev/problems/<slug>")
    title: str
    status: Annotated[int, Field(ge=400, le=599)]
    detail: str
    instance: str = Field(description="the request's path, percent-encoded as sent")
    request_id: str | None = Field(default=None, description="quote it when reporting a 5xx")
    errors: list[FieldErrorItem] | None = Field(
        default=None, description="every bad field of a validation problem"
    )


# --- events and webhooks (docs/api.md §3) ------------------------------------------------------

_EVENT_ID_TEXT = re.compile(r"^(?:0|[1-9][0-9]{0,18})$")
_KINDS = ", ".join(k.value for k in EventKind)


def _event_id(value: Any, info: ValidationInfo) -> int:
    given = _is_int(value) and not _from_text(info)
    if not given and not (isinstance(value, str) and _EVENT_ID_TEXT.match(value)):
        raise PydanticCustomError("event_id", "expected an event id: a decimal integer >= 0")
    number = int(value)
    if number > MAX_CHAIN_ID:
        raise PydanticCustomError("event_id", "expected an event id: a decimal integer >= 0")
    return number


EventIdParam = Annotated[
    int,
    PlainValidator(_event_id),
    WithJsonSchema(
        {"type": "integer", "minimum": 0, "maximum": MAX_CHAIN_ID, "description": "an event id"}
    ),
]


def parse_event_id(text: str) -> int | None:
    """An event id given as text (``Last-Event-ID``), None when it is not one."""
    if not _EVENT_ID_TEXT.match(text) or int(text) > MAX_CHAIN_ID:
        return None
    return int(text)


def _kinds(value: Any) -> tuple[EventKind, ...]:
    if isinstance(value, tuple | list) and all(isinstance(v, EventKind) for v in value):
        return tuple(value)
    if isinstance(value, str):
        try:
            return tuple(dict.fromkeys(EventKind(part) for part in value.split(",")))
        except ValueError:
            pass
    raise PydanticCustomError(
        "kinds", "expected event kinds separated by commas, among: {all}", {"all": _KINDS}
    )


KindList = Annotated[
    tuple[EventKind, ...],
    PlainValidator(_kinds),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^({0})(,({0}))*$".format("|".join(k.value for k in EventKind)),
            "description": f"event kinds separated by commas, among: {_KINDS}",
        }
    ),
]


class EventsQuery(ApiModel):
    """Where the stream starts: after ``Last-Event-ID`` (the header a reconnecting client
    sends; it wins over ``after``), else after ``after``, else at the current end of the log
    (only events from now on). ``kinds`` keeps the events of those kinds."""

    after: EventIdParam | None = Field(
        default=None, description="start after this event id (0: from the first event)"
    )
    kinds: KindList | None = None


class MessageEventData(ApiModel):
    """A message's status changed (``kind`` ``message``)."""

    status: MessageStatus
    old_status: MessageStatus | None = Field(description="null when it was first recorded")
    src_chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    dst_chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    tx_hash: TxHashHex | None = Field(description="the transaction of this step, if any")
    tracking_id: str | None
    detail: str | None


class SwapEventData(ApiModel):
    """A swap was recorded or its state changed (``kind`` ``swap``)."""

    state: SwapState
    old_state: SwapState | None = Field(description="null when it was first recorded")
    initiator_chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    participant_chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    txs: dict[str, TxHashHex] = Field(
        description="the legs' transactions known so far, e.g. initiator_leg_lock_tx"
    )
    detail: str | None


class CreditEventData(ApiModel):
    """A credit attestation step (``kind`` ``credit``): its report stored (``issued``), or the
    registry's message carrying it (``published``) or its revocation (``revoked``) to
    ``chain_id`` recorded final on the consortium."""

    action: CreditAction
    subject: ChecksumAddress
    attestation_id: Hash32Hex | None = Field(
        description="the gateway's attestation id; null for a revocation (its message names "
        "only the subject, version and issuer)"
    )
    report_hash: Hash32Hex | None = Field(description="null for a revocation")
    issuer: ChecksumAddress | None
    version: Annotated[int, Field(ge=0, le=2**64 - 1)] | None = Field(
        description="the registry's version; null for issued (known once attest is mined)"
    )
    chain_id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)] | None = Field(
        description="the mirror chain; null for issued"
    )
    tx_hash: TxHashHex | None = Field(
        description="the publish or revoke transaction on the consortium; null for issued"
    )
    readers: Annotated[int, Field(ge=1)] | None = Field(
        description="how many reader keys the report is sealed to (issued only)"
    )


def _opt(kind: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else kind(value)


def _tx_hash(value: Any) -> TxHash:
    return TxHash(bytes.fromhex(str(value).removeprefix("0x")))


def _hash32(value: Any) -> Hash32:
    return Hash32(bytes.fromhex(str(value).removeprefix("0x")))


def _raw_address(value: Any) -> Address:
    return Address(bytes.fromhex(str(value).removeprefix("0x")))


class EventItem(ApiModel):
    """One event of the log: the ``data:`` line of ``GET /v1/events`` and the body of a
    webhook post. ``id`` orders events; clients de-duplicate by it (delivery is at least
    once). ``ref`` is the message id (``kind`` ``message``), the swap id (``swap``), or for
    ``credit`` the attestation id (``issued``) or the id of the message carrying it to its
    mirror chain (``published``, ``revoked``: its delivery shows in ``message`` events)."""

    id: Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
    kind: EventKind
    ref: Hash32Hex
    created_at: UtcTime
    data: MessageEventData | SwapEventData | CreditEventData

    @classmethod
    def from_event(cls, event: Event) -> EventItem:
        d = event.data
        data: MessageEventData | SwapEventData | CreditEventData
        if event.kind is EventKind.CREDIT:
            data = CreditEventData(
                action=CreditAction(d["action"]),
                subject=_raw_address(d["subject"]),
                attestation_id=_opt(_hash32, d.get("attestation_id")),
                report_hash=_opt(_hash32, d.get("report_hash")),
                issuer=_opt(_raw_address, d.get("issuer")),
                version=d.get("version"),
                chain_id=d.get("chain_id"),
                tx_hash=_opt(_tx_hash, d.get("tx_hash")),
                readers=d.get("readers"),
            )
        elif event.kind is EventKind.MESSAGE:
            data = MessageEventData(
                status=MessageStatus(d["status"]),
                old_status=_opt(MessageStatus, d.get("old_status")),
                src_chain_id=d["src_chain_id"],
                dst_chain_id=d["dst_chain_id"],
                tx_hash=_opt(_tx_hash, d.get("tx_hash")),
                tracking_id=d.get("tracking_id"),
                detail=d.get("detail"),
            )
        else:
            data = SwapEventData(
                state=SwapState(d["state"]),
                old_state=_opt(SwapState, d.get("old_state")),
                initiator_chain_id=d["initiator_chain_id"],
                participant_chain_id=d["participant_chain_id"],
                txs={k: _tx_hash(v) for k, v in dict(d.get("txs") or {}).items()},
                detail=d.get("detail"),
            )
        return cls(
            id=event.id,
            kind=event.kind,
            ref=Hash32(event.ref),
            created_at=event.created_at,
            data=data,
        )


WEBHOOK_URL_MAX = 2048


class WebhookCreate(ApiModel):
    """A URL to post the events of ``kinds`` to. ``https`` only; plain ``http`` to a loopback
    address (127.0.0.0/8, ::1, localhost) only on a gateway started for development
    (``xgate api --dev-webhooks``). User info and fragments are refused."""

    url: Annotated[str, Field(min_length=1, max_length=WEBHOOK_URL_MAX)]
    kinds: Annotated[list[EventKind], Field(min_length=1, max_length=len(EventKind))]


class Webhook(ApiModel):
    """A registered webhook (its secret is shown once, when it is created)."""

    id: Annotated[int, Field(ge=1)]
    key_id: str = Field(description="the API key that registered it")
    url: str
    kinds: list[EventKind]
    created_at: UtcTime
    disabled_at: UtcTime | None = Field(default=None, description="set once it is deleted")

    @staticmethod
    def fields_of(hook: WebhookRecord) -> dict[str, Any]:
        return {
            "id": hook.id,
            "key_id": hook.key_id,
            "url": hook.url,
            "kinds": sorted(hook.kinds),
            "created_at": hook.created_at,
            "disabled_at": hook.disabled_at,
        }

    @classmethod
    def from_record(cls, hook: WebhookRecord) -> Webhook:
        return cls.model_validate(cls.fields_of(hook))


class WebhookCreated(Webhook):
    """The new webhook and its signing secret, shown here only: keep it to verify the posts
    (``X-Xgate-Signature``, docs/api.md §3)."""

    secret: str

    @classmethod
    def from_new(cls, hook: WebhookRecord) -> WebhookCreated:
        return cls.model_validate({**Webhook.fields_of(hook), "secret": hook.secret})


class WebhookList(ApiModel):
    """The caller's webhooks that are not deleted, oldest first (an operator's: everyone's)."""

    items: list[Webhook]


class WebhookPath(ApiModel):
    id: EventIdParam = Field(description="the webhook's id")


class DeadLetterPath(ApiModel):
    webhook_id: EventIdParam = Field(description="the webhook's id")
    event_id: EventIdParam = Field(description="the event's id")


class DeadLettersQuery(ApiModel):
    webhook_id: EventIdParam | None = Field(default=None, description="of this webhook only")
    limit: PageLimit = PAGE_LIMIT_DEFAULT


class Delivery(ApiModel):
    """One event for one webhook: ``pending`` (due at ``next_at``), ``delivered`` or ``dead``
    (every attempt failed; an operator may replay it). ``attempts`` counts failed posts."""

    webhook_id: Annotated[int, Field(ge=1)]
    event_id: Annotated[int, Field(ge=1)]
    state: DeliveryState
    attempts: Annotated[int, Field(ge=0)]
    next_at: UtcTime
    last_error: str | None
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def from_record(cls, delivery: WebhookDelivery) -> Delivery:
        return cls(
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            state=delivery.state,
            attempts=delivery.attempts,
            next_at=delivery.next_at,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
        )


class DeliveryList(ApiModel):
    """Dead-lettered deliveries, oldest event first (at most ``limit``)."""

    items: list[Delivery]
