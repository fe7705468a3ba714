"""The credit operations' request and response bodies (``credit.py``, docs/api.md §8) and their
wire types (reader keys, grades, registry times). Apart from the handlers, so the SDK imports
them without the handlers' chain and store dependencies."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    JsonValue,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from adapters.types import Address, ChainId
from gateway.api.models import (
    ApiModel,
    ChainIdParam,
    ChecksumAddress,
    Hash32Hex,
    HexBytes,
    Uint64,
    UnsignedTx,
    UtcTime,
)
from gateway.domain.credit_reports import MAX_READERS, ReaderKey, ReportInvalid, canonical_report
from gateway.domain.payloads import MAX_SCORE

__all__ = [
    "AttestationIssued",
    "AttestationRequest",
    "ChainCredit",
    "CreditReportRef",
    "CreditState",
    "CreditStatus",
    "CreditTransactions",
    "CreditView",
    "PublicationRequest",
    "ReaderKeyHex",
    "ReaderQuery",
    "RevocationRequest",
    "SealedReportAnswer",
    "SubjectPath",
]


_ZERO = bytes(20)
_UINT64_MAX = 2**64 - 1


# --- wire types --------------------------------------------------------------------------------

_READER_SHAPE = re.compile(r"^0x[0-9a-f]{64}$")


def _reader_key(value: Any) -> ReaderKey:
    if isinstance(value, bytes) and len(value) == 32:
        return ReaderKey(value)  # built in Python from a record
    if not isinstance(value, str) or not _READER_SHAPE.match(value):
        raise PydanticCustomError(
            "reader_key",
            "expected an X25519 public key: 0x and 64 lowercase hex digits (32 bytes)",
        )
    return ReaderKey(bytes.fromhex(value[2:]))


ReaderKeyHex = Annotated[
    ReaderKey,
    PlainValidator(_reader_key),
    PlainSerializer(lambda v: "0x" + v.hex(), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^0x[0-9a-f]{64}$",
            "description": "a reader's X25519 public key: 0x and 64 lowercase hex digits",
        }
    ),
]

_GRADE_SHAPE = re.compile(r"^[ -~]{1,32}$")


def _grade(value: Any) -> str:
    if not isinstance(value, str) or not _GRADE_SHAPE.match(value):
        raise PydanticCustomError(
            "grade",
            "a grade is 1 to 32 printable ASCII characters (the registry's canonical bytes32)",
        )
    return value


Grade = Annotated[
    str,
    PlainValidator(_grade),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[ -~]{1,32}$",
            "description": "1 to 32 printable ASCII characters",
        }
    ),
]


def _not_zero(value: Address) -> Address:
    if value == _ZERO:
        raise PydanticCustomError("address_zero", "the zero address is not an account")
    return value


Account = Annotated[ChecksumAddress, AfterValidator(_not_zero)]


def _valid_until(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError("timezone", "expected a time with a time zone")
    if value.microsecond:
        raise PydanticCustomError("whole_seconds", "the registry keeps whole seconds")
    out_of_range = PydanticCustomError("uint64_time", "out of the registry's range (after 1970)")
    try:
        seconds = value.timestamp()
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        raise out_of_range from None
    if not 0 < seconds <= _UINT64_MAX:
        raise out_of_range
    return utc


ValidUntil = Annotated[
    datetime,
    AfterValidator(_valid_until),
    PlainSerializer(
        lambda v: v.astimezone(UTC).isoformat().replace("+00:00", "Z"), return_type=str
    ),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "description": "RFC 3339, whole seconds"}
    ),
]


def _report(value: dict[str, Any]) -> dict[str, Any]:
    try:
        canonical_report(value)
    except ReportInvalid as exc:
        where = exc.context.get("path", "report")
        raise PydanticCustomError(
            "report", "{reason} (at {where})", {"reason": exc.message, "where": where}
        ) from exc
    return value


def _distinct(value: list[ReaderKey]) -> list[ReaderKey]:
    if len(set(value)) != len(value):
        raise PydanticCustomError("readers_distinct", "each reader key once")
    return value


def _distinct_chains(value: list[ChainId]) -> list[ChainId]:
    if len(set(value)) != len(value):
        raise PydanticCustomError("chains_distinct", "each chain once")
    return value


Readers = Annotated[
    list[ReaderKeyHex],
    Field(min_length=1, max_length=MAX_READERS),
    AfterValidator(_distinct),
]
ChainIds = Annotated[list[ChainIdParam], Field(max_length=16), AfterValidator(_distinct_chains)]


# --- requests ----------------------------------------------------------------------------------


class AttestationRequest(ApiModel):
    """A new attestation of ``subject`` by ``issuer`` with its full report, to be read only by
    ``readers`` (the X25519 public keys the subject chose). ``publish_to``: the mirror chains
    to publish it to once attested (default: every configured chain with a credit mirror;
    ``[]``: none)."""

    subject: Account = Field(description="the rated account")
    issuer: Account = Field(
        description="the issuer's account on the consortium chain (holds ISSUER_ROLE); the "
        "attest transaction is built for it to sign"
    )
    score: Annotated[int, Field(ge=0, le=MAX_SCORE)]
    grade: Grade
    valid_until: ValidUntil = Field(
        description="whole seconds, after the consortium chain's latest block"
    )
    report: Annotated[dict[str, JsonValue], AfterValidator(_report)] = Field(
        description="the full report, a JSON object; sealed to each reader, its sha256 "
        "(RFC 8785 canonical form) is the on-chain reportHash; integers within ±(2**53-1)"
    )
    readers: Readers
    publish_to: ChainIds | None = Field(
        default=None, description="default: every configured chain with a credit mirror"
    )


class PublicationRequest(ApiModel):
    """``publish`` transactions of the subject's current state, sent by ``sender`` (an issuer
    or a publisher of the registry), to ``chain_ids`` (default: every configured chain with a
    credit mirror)."""

    sender: Account
    chain_ids: ChainIds | None = Field(
        default=None, description="default: every configured chain with a credit mirror"
    )


class RevocationRequest(ApiModel):
    """The ``revoke`` of the subject's current attestation, sent by ``sender``: its issuer,
    or the registry's admin."""

    sender: Account


class SubjectPath(ApiModel):
    subject: ChecksumAddress = Field(description="the rated account")


class ReaderQuery(ApiModel):
    reader: ReaderKeyHex = Field(description="the reader's X25519 public key")


# --- answers -----------------------------------------------------------------------------------


class AttestationIssued(ApiModel):
    """The sealed report is stored; ``transactions`` are the issuer's to sign and send, in
    order: ``attest``, then one ``publish`` per mirror chain (after ``attest`` is mined)."""

    attestation_id: Hash32Hex = Field(description="the gateway's id of this attestation")
    subject: ChecksumAddress
    issuer: ChecksumAddress
    report_hash: Hash32Hex = Field(description="sha256 of the canonical report: the reportHash")
    readers: list[ReaderKeyHex]
    registry: ChecksumAddress
    transactions: list[UnsignedTx]


class CreditTransactions(ApiModel):
    """Transactions for the sender's wallet to sign and send."""

    subject: ChecksumAddress
    transactions: list[UnsignedTx]


class CreditStatus(StrEnum):
    NONE = "none"
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


class CreditState(ApiModel):
    """A subject's credit as one contract holds it (``attestationOf`` and ``creditOf`` read
    at ``block``). ``version`` grows with every attestation and revocation; a mirror holding a
    revocation whose attestation it never saw shows no figures."""

    status: CreditStatus
    version: Uint64
    score: int
    grade: str
    issuer: ChecksumAddress | None
    issued_at: UtcTime | None
    valid_until: UtcTime | None
    revoked: bool
    report_hash: Hash32Hex | None
    block: Uint64 = Field(description="the block read (the chain's latest)")


class ChainCredit(ApiModel):
    """The registry (consortium) or one mirror (public chain). ``state`` is null when the
    chain did not answer (``detail`` says why); ``in_sync``: the mirror holds the registry's
    current version (null when the mirror's chain did not answer; the registry: true)."""

    chain_id: ChainIdParam
    chain: str
    contract: ChecksumAddress
    state: CreditState | None
    in_sync: bool | None
    detail: str | None = None


class CreditReportRef(ApiModel):
    """The stored sealed report behind the current attestation."""

    attestation_id: Hash32Hex
    report_hash: Hash32Hex
    readers: int = Field(description="how many reader keys it is sealed to")
    created_at: UtcTime


class CreditView(ApiModel):
    """A subject's credit on the consortium registry and on every configured mirror."""

    subject: ChecksumAddress
    registry: ChainCredit
    mirrors: list[ChainCredit]
    report: CreditReportRef | None = Field(
        description="the stored sealed report of the registry's current attestation, if any"
    )


class SealedReportAnswer(ApiModel):
    """The report behind the subject's current attestation, sealed to ``reader``: open it
    with the reader's X25519 private key (``crypto_box_seal_open``) and check that its
    sha256 is ``report_hash``, read here from the registry."""

    subject: ChecksumAddress
    attestation_id: Hash32Hex
    reader: ReaderKeyHex
    sealed: HexBytes = Field(description="the NaCl sealed box")
    report_hash: Hash32Hex = Field(description="the registry's reportHash (on chain)")
    version: Uint64
    status: CreditStatus
