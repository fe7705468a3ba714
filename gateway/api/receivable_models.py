"""The receivable operations' request and response bodies (``receivables.py``, docs/api.md §10).
Apart from the handlers, so the SDK imports them without the handlers' chain dependencies.

Receivables are ERC-721 tokens: the home ``Receivable`` on the consortium (hub) chain, a
``WrappedReceivable`` copy on a public chain. A copy bridged over a route with private terms
carries only a salted commitment to its terms; its holder discloses them
(``gateway.domain.disclosure``) and anyone checks a disclosure against the commitment read on
chain (``POST .../disclosures/verify``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from adapters.types import Address, Hash32
from gateway.api.models import (
    MAX_CHAIN_ID,
    AnyChainIdParam,
    ApiModel,
    ChecksumAddress,
    Hash32Hex,
    Uint64,
    Uint256,
    UtcTime,
)
from gateway.domain.disclosure import (
    DISCLOSURE_BYTES,
    DISCLOSURE_TAG,
    Disclosure,
    DisclosureInvalid,
    DisclosureMismatch,
    decode_disclosure,
    encode_disclosure,
)
from gateway.domain.payloads import Financing
from gateway.domain.receivables import ReceivableState

__all__ = [
    "DisclosureHex",
    "DisclosureVerdict",
    "DisclosureVerifyRequest",
    "FinancingRecordItem",
    "HomeReceivableState",
    "ReceivablePath",
    "ReceivableTerms",
    "ReceivableView",
    "WrappedReceivableState",
]

_U128 = 2**128 - 1


# --- wire types --------------------------------------------------------------------------------

_ANY = "[0-9a-f]{64}"
_ADDRESS_WORD = "0{24}[0-9a-f]{40}"
_CAPITAL = "(?:4[1-9a-f]|5[0-9a])"  # A-Z in ASCII
# The canonical encoding (encode_disclosure): the tag, home chain id, home receivable, token id,
# salt, debtor, creditor, face value (uint128), currency (bytes3, three capitals), due date
# (uint64), document hash.
_DISCLOSURE_PATTERN = (
    f"^0x{DISCLOSURE_TAG.hex()}{_ANY}{_ADDRESS_WORD}{_ANY}{_ANY}{_ADDRESS_WORD}{_ADDRESS_WORD}"
    f"0{{32}}[0-9a-f]{{32}}{_CAPITAL}{{3}}0{{58}}0{{48}}[0-9a-f]{{16}}{_ANY}$"
)
_DISCLOSURE_SHAPE = re.compile(_DISCLOSURE_PATTERN)


def _disclosure(value: Any) -> Disclosure:
    if isinstance(value, Disclosure):
        return value  # built in Python
    if not isinstance(value, str) or not _DISCLOSURE_SHAPE.match(value):
        raise PydanticCustomError(
            "disclosure",
            "expected a canonical disclosure: 0x and {digits} lowercase hex digits starting with "
            "its tag",
            {"digits": 2 * DISCLOSURE_BYTES},
        )
    try:
        return decode_disclosure(bytes.fromhex(value[2:]))
    except DisclosureInvalid as exc:
        raise PydanticCustomError(
            "disclosure", "not a canonical disclosure: {reason}", {"reason": exc.message}
        ) from exc


DisclosureHex = Annotated[
    Disclosure,
    PlainValidator(_disclosure),
    PlainSerializer(lambda d: "0x" + encode_disclosure(d).hex(), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DISCLOSURE_PATTERN,
            "description": "a canonical disclosure (encode_disclosure): 0x and "
            f"{2 * DISCLOSURE_BYTES} lowercase hex digits, its tag first",
        }
    ),
]


def _uint128(value: int) -> int:
    if value > _U128:
        raise PydanticCustomError("uint_range", "must be between 0 and 2**128 - 1")
    return value


def _not_zero_salt(value: Hash32) -> Hash32:
    if not any(value):
        raise PydanticCustomError("salt", "a salt is never zero")
    return value


Currency = Annotated[
    str,
    Field(pattern="^[A-Z]{3}$", description="ISO 4217 alphabetic code"),
]


# --- shared ------------------------------------------------------------------------------------


class ReceivablePath(ApiModel):
    chain_id: AnyChainIdParam
    token_id: Uint256 = Field(description="the receivable's token id (the same on every chain)")


class ReceivableTerms(ApiModel):
    """A receivable's financing terms (``Financing``): ``face_value`` in the currency's minor
    unit, ``due_date`` unix seconds."""

    debtor: ChecksumAddress
    creditor: ChecksumAddress
    face_value: Annotated[Uint256, AfterValidator(_uint128)] = Field(
        description="a uint128 as a decimal string: minor units of the currency"
    )
    currency: Currency
    due_date: Uint64 = Field(description="unix seconds")
    document_hash: Hash32Hex

    @classmethod
    def of(cls, terms: Financing) -> ReceivableTerms:
        return cls(
            debtor=terms.debtor,
            creditor=terms.creditor,
            face_value=terms.face_value,
            currency=terms.currency,
            due_date=terms.due_date,
            document_hash=terms.document_hash,
        )

    def financing(self) -> Financing:
        return Financing(
            debtor=Address(self.debtor),
            creditor=Address(self.creditor),
            face_value=self.face_value,
            currency=self.currency,
            due_date=self.due_date,
            document_hash=Hash32(self.document_hash),
        )


# --- GET /v1/receivables/{chain_id}/{token_id} ------------------------------------------------


class FinancingRecordItem(ApiModel):
    """A transfer of the receivable that carried financing (``Receivable.financingRecord``)."""

    financier: ChecksumAddress
    advance: Uint256 = Field(description="minor units advanced")
    discount_bps: int = Field(ge=0, le=10_000)
    at: UtcTime


class HomeReceivableState(ApiModel):
    """The home ``Receivable`` (the hub chain): lifecycle, payments and where the token is.
    ``locked_to_chain_id``: the chain the vault holds it for (bridged out), else null."""

    terms: ReceivableTerms | None = Field(description="null when the token has no owner")
    state: ReceivableState
    paid: Uint256 = Field(description="minor units paid")
    outstanding: Uint256 = Field(description="minor units still owed")
    days_past_due: int = Field(ge=0, description="of the settlement, whole days late")
    parent_id: Uint256 | None = Field(description="the receivable it was split from")
    drafted_at: UtcTime | None
    acknowledged_at: UtcTime | None
    closed_at: UtcTime | None = Field(description="cancelled, settled, defaulted or split at")
    dispute_reason: Hash32Hex | None
    financing: list[FinancingRecordItem]
    locked_to_chain_id: int | None = Field(ge=1, le=MAX_CHAIN_ID)


class WrappedReceivableState(ApiModel):
    """A ``WrappedReceivable`` copy on a public chain: its full ``terms``, or (``private``)
    only the ``commitment`` to them; ``paid`` and ``settled`` as the copy's ``paymentOf``
    answers them (the total paid at home as of the last payment delivered here, and whether
    that settled the receivable)."""

    home_chain_id: int = Field(ge=1)
    home_receivable: ChecksumAddress
    private: bool
    terms: ReceivableTerms | None
    commitment: Hash32Hex | None
    paid: Uint256
    settled: bool


class ReceivableView(ApiModel):
    """A receivable on one chain, every value read at one block.

    ``block`` is the chain's latest; ``home`` on the hub chain, ``wrapped`` on a public chain
    (the other null)."""

    chain_id: int = Field(ge=1, le=MAX_CHAIN_ID)
    chain: str
    token_id: Uint256
    kind: Literal["home", "wrapped"]
    contract: ChecksumAddress
    owner: ChecksumAddress | None = Field(description="null when the token has no owner")
    block: Uint64
    home: HomeReceivableState | None
    wrapped: WrappedReceivableState | None


def utc(seconds: int) -> datetime | None:
    """Unix seconds as a UTC time; 0 (never) as None."""
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


# --- POST /v1/receivables/{chain_id}/{token_id}/disclosures/verify -----------------------------


class DisclosureVerifyRequest(ApiModel):
    """Either ``disclosure`` (the canonical bytes a holder sealed, as opened) or ``terms`` and
    ``salt``. Nothing is stored."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "oneOf": [{"required": ["disclosure"]}, {"required": ["terms", "salt"]}]
        }
    }

    disclosure: DisclosureHex | None = None
    terms: ReceivableTerms | None = None
    salt: Annotated[Hash32Hex, AfterValidator(_not_zero_salt)] | None = Field(
        default=None, description="with terms: the salt of the commitment (never zero)"
    )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if self.disclosure is not None:
            if self.terms is not None or self.salt is not None:
                raise PydanticCustomError(
                    "disclosure_form", "give either disclosure, or terms and salt, not both"
                )
        elif self.terms is None or self.salt is None:
            raise PydanticCustomError(
                "disclosure_form", "give either disclosure, or both terms and salt"
            )
        return self


class DisclosureVerdict(ApiModel):
    """Whether the disclosure holds for the token's copy on the chain.

    ``commitment`` is what the copy carries (read at ``block``; null for a copy with full terms). When not valid,
    ``reason``: ``not-private`` (a copy with full terms), ``other-home`` (another home chain
    or home receivable), ``other-token``, ``commitment-mismatch`` (other terms or another
    salt), with ``detail``."""

    chain_id: int = Field(ge=1, le=MAX_CHAIN_ID)
    token_id: Uint256
    contract: ChecksumAddress
    valid: bool
    commitment: Hash32Hex | None
    reason: DisclosureMismatch | None
    detail: str | None
    block: Uint64
