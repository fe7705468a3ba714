"""Payloads of the asset and credit flows, byte-identical to the Solidity encoders.

Every payload is ``abi.encode(uint8 kind, ...)`` with static fields only, so each kind has one
exact length (``contracts/src/assets/AssetPayloads.sol``, ``contracts/src/credit/CreditPayloads.sol``)::

    1  ERC20_TRANSFER     token, homeChainId, recipient, amount                   (160 bytes)
    2  ERC721_TRANSFER    token, homeChainId, recipient, tokenId, debtor, creditor,
                          faceValue uint128, currency bytes3, dueDate uint64,
                          documentHash                                            (352 bytes)
    3  ERC20_RELEASE      token, homeChainId, recipient, amount                   (160 bytes)
    4  ERC721_RELEASE     token, homeChainId, recipient, tokenId                  (160 bytes)
    5  RECEIVABLE_PAYMENT receivable, homeChainId, tokenId, token, amount,
                          totalPaid uint128, settled bool                         (256 bytes)
    6  ERC721_PRIVATE_TRANSFER token, homeChainId, recipient, tokenId,
                          commitment bytes32 (to the terms: gateway.domain.disclosure) (192 bytes)
    16 CREDIT_ATTESTATION subject, version uint64, score uint16, grade bytes32, issuer,
                          issuedAt uint64, validUntil uint64, reportHash          (288 bytes)
    17 CREDIT_REVOCATION  subject, version uint64, issuer                         (128 bytes)

Decoding is strict: exact length, canonical ABI (zero padding, a bool word 0 or 1), known kind,
and the value rules the contracts enforce (currency = ISO 4217 letters, score <= 1000, canonical
grade). Anything else raises ``PayloadInvalid``. ``tests/vectors/asset_payloads.json`` (produced
by the Solidity encoders) is checked here and against the contracts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar, Final, TypeAlias

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

from adapters.errors import DecodeError
from adapters.types import Address, Hash32

__all__ = [
    "MAX_SCORE",
    "NO_FINANCING",
    "AssetPayload",
    "CreditAttestation",
    "CreditPayload",
    "CreditRevocation",
    "Erc20Release",
    "Erc20Transfer",
    "Erc721PrivateTransfer",
    "Erc721Release",
    "Erc721Transfer",
    "Financing",
    "Payload",
    "PayloadInvalid",
    "PayloadKind",
    "ReceivablePayment",
    "decode_payload",
    "encode_payload",
    "payload_from_dict",
    "payload_kind",
    "payload_to_dict",
]

MAX_SCORE: Final = 1000
_U256: Final = 2**256 - 1
_U128: Final = 2**128 - 1
_U64: Final = 2**64 - 1


class PayloadInvalid(DecodeError):
    """Bytes that are not a valid xgate payload, or payload fields that cannot be encoded."""


class PayloadKind(IntEnum):
    ERC20_TRANSFER = 1
    ERC721_TRANSFER = 2
    ERC20_RELEASE = 3
    ERC721_RELEASE = 4
    RECEIVABLE_PAYMENT = 5
    ERC721_PRIVATE_TRANSFER = 6
    CREDIT_ATTESTATION = 16
    CREDIT_REVOCATION = 17


_MOVE_TYPES: Final = ("uint8", "address", "uint256", "address", "uint256")
_FINANCING_TYPES: Final = ("address", "address", "uint128", "bytes3", "uint64", "bytes32")
_ATTESTATION_TYPES: Final = (
    "uint8",
    "address",  # subject
    "uint64",  # version
    "uint16",  # score
    "bytes32",  # grade
    "address",  # issuer
    "uint64",  # issuedAt
    "uint64",  # validUntil
    "bytes32",  # reportHash
)
_TYPES: Final[dict[PayloadKind, tuple[str, ...]]] = {
    PayloadKind.ERC20_TRANSFER: _MOVE_TYPES,
    PayloadKind.ERC721_TRANSFER: _MOVE_TYPES + _FINANCING_TYPES,
    PayloadKind.ERC20_RELEASE: _MOVE_TYPES,
    PayloadKind.ERC721_RELEASE: _MOVE_TYPES,
    # receivable, homeChainId, tokenId, token, amount, totalPaid, settled
    PayloadKind.RECEIVABLE_PAYMENT: (
        "uint8",
        "address",
        "uint256",
        "uint256",
        "address",
        "uint256",
        "uint128",
        "bool",
    ),
    PayloadKind.ERC721_PRIVATE_TRANSFER: (*_MOVE_TYPES, "bytes32"),
    PayloadKind.CREDIT_ATTESTATION: _ATTESTATION_TYPES,
    PayloadKind.CREDIT_REVOCATION: ("uint8", "address", "uint64", "address"),
}


# -- field checks ----------------------------------------------------------------------------


def _address(value: object, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != 20:
        raise PayloadInvalid("payload address must be 20 raw bytes", field=field)


def _hash(value: object, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise PayloadInvalid("payload hash must be 32 raw bytes", field=field)


def _uint(value: object, field: str, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise PayloadInvalid("payload integer out of range", field=field, value=value)


def _bool(value: object, field: str) -> None:
    if not isinstance(value, bool):
        raise PayloadInvalid("payload flag must be a bool", field=field, value=value)


def _currency(value: object) -> None:
    # "" is the all-zero currency of an ERC-721 that carries no financing metadata.
    if not isinstance(value, str) or not (
        value == "" or (len(value) == 3 and all("A" <= c <= "Z" for c in value))
    ):
        raise PayloadInvalid("currency must be an ISO 4217 code (3 capitals) or empty", value=value)


def _grade(value: object) -> None:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 32
        or not all(" " <= c <= "~" for c in value)
    ):
        raise PayloadInvalid("grade must be 1-32 printable ASCII characters", value=value)


# -- payloads --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Financing:
    """A receivable's financing metadata; all zero for an ERC-721 that is not a receivable."""

    debtor: Address
    creditor: Address
    face_value: int  # minor units of `currency`, uint128
    currency: str  # ISO 4217 alphabetic code, "" when absent
    due_date: int  # unix seconds, uint64
    document_hash: Hash32

    def __post_init__(self) -> None:
        _address(self.debtor, "debtor")
        _address(self.creditor, "creditor")
        _uint(self.face_value, "face_value", _U128)
        _currency(self.currency)
        _uint(self.due_date, "due_date", _U64)
        _hash(self.document_hash, "document_hash")

    @property
    def is_empty(self) -> bool:
        return self == NO_FINANCING

    def abi_values(self) -> tuple[object, ...]:
        """The contracts' ``Financing`` fields as ``abi.encode`` takes them (``currency`` as
        its ``bytes3``), in their Solidity order."""
        return (
            self.debtor, self.creditor, self.face_value,
            self.currency.encode("ascii").ljust(3, b"\0"), self.due_date, self.document_hash,
        )  # fmt: skip

    @classmethod
    def from_abi(cls, values: Sequence[Any]) -> Financing:
        """The inverse of ``abi_values`` on ``abi_decode``'s output; ``PayloadInvalid`` for a
        currency that is not canonical ASCII."""
        debtor, creditor, face_value, currency, due_date, document_hash = values
        return cls(
            _raw_address(debtor), _raw_address(creditor), face_value,
            _ascii(currency, 3, "currency"), due_date, Hash32(document_hash),
        )  # fmt: skip


NO_FINANCING: Final = Financing(Address(bytes(20)), Address(bytes(20)), 0, "", 0, Hash32(bytes(32)))


@dataclass(frozen=True, slots=True)
class _Move:
    token: Address  # the home-chain token, in every direction
    home_chain_id: int
    recipient: Address

    def _check(self) -> None:
        _address(self.token, "token")
        _uint(self.home_chain_id, "home_chain_id", _U256)
        _address(self.recipient, "recipient")


@dataclass(frozen=True, slots=True)
class Erc20Transfer(_Move):
    """Vault (home) -> gateway (foreign): mint `amount` wrapped tokens to `recipient`."""

    kind: ClassVar[PayloadKind] = PayloadKind.ERC20_TRANSFER
    amount: int

    def __post_init__(self) -> None:
        self._check()
        _uint(self.amount, "amount", _U256)


@dataclass(frozen=True, slots=True)
class Erc721Transfer(_Move):
    """Vault (home) -> gateway (foreign): mint wrapped `token_id` keeping its financing."""

    kind: ClassVar[PayloadKind] = PayloadKind.ERC721_TRANSFER
    token_id: int
    financing: Financing

    def __post_init__(self) -> None:
        self._check()
        _uint(self.token_id, "token_id", _U256)
        if not isinstance(self.financing, Financing):
            raise PayloadInvalid("financing must be a Financing", field="financing")


@dataclass(frozen=True, slots=True)
class Erc20Release(_Move):
    """Gateway (foreign) -> vault (home): release `amount` to `recipient`."""

    kind: ClassVar[PayloadKind] = PayloadKind.ERC20_RELEASE
    amount: int

    def __post_init__(self) -> None:
        self._check()
        _uint(self.amount, "amount", _U256)


@dataclass(frozen=True, slots=True)
class Erc721Release(_Move):
    """Gateway (foreign) -> vault (home): release `token_id` to `recipient`."""

    kind: ClassVar[PayloadKind] = PayloadKind.ERC721_RELEASE
    token_id: int

    def __post_init__(self) -> None:
        self._check()
        _uint(self.token_id, "token_id", _U256)


@dataclass(frozen=True, slots=True)
class Erc721PrivateTransfer(_Move):
    """Vault (home) -> gateway (foreign) over a route with private terms: mint wrapped
    `token_id` keeping only `commitment` to its financing (``disclosure.terms_commitment``)."""

    kind: ClassVar[PayloadKind] = PayloadKind.ERC721_PRIVATE_TRANSFER
    token_id: int
    commitment: Hash32

    def __post_init__(self) -> None:
        self._check()
        _uint(self.token_id, "token_id", _U256)
        _hash(self.commitment, "commitment")


@dataclass(frozen=True, slots=True)
class ReceivablePayment:
    """A payment made at home for a bridged-out receivable: vault -> gateway (pay the wrapped
    copy's holder) or gateway -> vault (the copy had gone home: pay the home holder). ``settled``:
    this payment settled the receivable at home (the only way a private copy learns it)."""

    kind: ClassVar[PayloadKind] = PayloadKind.RECEIVABLE_PAYMENT
    receivable: Address  # the home Receivable
    home_chain_id: int
    token_id: int
    token: Address  # the home settlement token
    amount: int  # settlement token base units
    total_paid: int  # minor units paid at home in total after this payment, uint128
    settled: bool  # the receivable is Settled at home after this payment

    def __post_init__(self) -> None:
        _address(self.receivable, "receivable")
        _uint(self.home_chain_id, "home_chain_id", _U256)
        _uint(self.token_id, "token_id", _U256)
        _address(self.token, "token")
        _uint(self.amount, "amount", _U256)
        _uint(self.total_paid, "total_paid", _U128)
        _bool(self.settled, "settled")


@dataclass(frozen=True, slots=True)
class CreditAttestation:
    """CreditRegistry (consortium) -> CreditMirror: the subject's current attestation."""

    kind: ClassVar[PayloadKind] = PayloadKind.CREDIT_ATTESTATION
    subject: Address
    version: int  # uint64, grows with every attestation/revocation of the subject
    score: int  # 0..1000
    grade: str  # printable ASCII, 1..32 characters
    issuer: Address
    issued_at: int  # unix seconds, uint64
    valid_until: int  # unix seconds, uint64
    report_hash: Hash32

    def __post_init__(self) -> None:
        _address(self.subject, "subject")
        _uint(self.version, "version", _U64)
        _uint(self.score, "score", MAX_SCORE)
        _grade(self.grade)
        _address(self.issuer, "issuer")
        _uint(self.issued_at, "issued_at", _U64)
        _uint(self.valid_until, "valid_until", _U64)
        _hash(self.report_hash, "report_hash")


@dataclass(frozen=True, slots=True)
class CreditRevocation:
    """CreditRegistry (consortium) -> CreditMirror: the subject's attestation is revoked."""

    kind: ClassVar[PayloadKind] = PayloadKind.CREDIT_REVOCATION
    subject: Address
    version: int
    issuer: Address

    def __post_init__(self) -> None:
        _address(self.subject, "subject")
        _uint(self.version, "version", _U64)
        _address(self.issuer, "issuer")


AssetPayload: TypeAlias = (
    Erc20Transfer
    | Erc721Transfer
    | Erc20Release
    | Erc721Release
    | ReceivablePayment
    | Erc721PrivateTransfer
)
CreditPayload: TypeAlias = CreditAttestation | CreditRevocation
Payload: TypeAlias = AssetPayload | CreditPayload


# -- codec -----------------------------------------------------------------------------------


def _values(p: Payload) -> tuple[object, ...]:
    match p:
        case Erc20Transfer() | Erc20Release():
            return (p.kind, p.token, p.home_chain_id, p.recipient, p.amount)
        case Erc721Release():
            return (p.kind, p.token, p.home_chain_id, p.recipient, p.token_id)
        case Erc721PrivateTransfer():
            return (p.kind, p.token, p.home_chain_id, p.recipient, p.token_id, p.commitment)
        case Erc721Transfer():
            return (
                p.kind, p.token, p.home_chain_id, p.recipient, p.token_id,
                *p.financing.abi_values(),
            )  # fmt: skip
        case ReceivablePayment():
            return (
                p.kind, p.receivable, p.home_chain_id, p.token_id, p.token, p.amount,
                p.total_paid, p.settled,
            )  # fmt: skip
        case CreditAttestation():
            return (
                p.kind, p.subject, p.version, p.score, p.grade.encode("ascii").ljust(32, b"\0"),
                p.issuer, p.issued_at, p.valid_until, p.report_hash,
            )  # fmt: skip
        case CreditRevocation():
            return (p.kind, p.subject, p.version, p.issuer)
    raise PayloadInvalid("not a payload", type=type(p).__name__)


def encode_payload(p: Payload) -> bytes:
    """The exact bytes the Solidity encoder produces for ``p``."""
    return abi_encode(_TYPES[p.kind], _values(p))


def payload_kind(data: bytes) -> PayloadKind:
    """The kind tag of ``data`` (the first ABI word), strictly."""
    if len(data) < 32:
        raise PayloadInvalid("payload shorter than its kind tag", length=len(data))
    word = int.from_bytes(data[:32], "big")
    try:
        return PayloadKind(word)
    except ValueError:
        raise PayloadInvalid("unknown payload kind", kind=word) from None


def _raw_address(value: str) -> Address:
    return Address(bytes.fromhex(value[2:]))


def _ascii(raw: bytes, width: int, field: str) -> str:
    text = raw.rstrip(b"\0")
    if b"\0" in text or not all(0x20 <= c <= 0x7E for c in text) or len(raw) != width:
        raise PayloadInvalid("non-canonical ASCII field", field=field, value=raw)
    return text.decode("ascii")


def decode_payload(data: bytes) -> Payload:
    """Decode any asset or credit payload; raises ``PayloadInvalid`` on anything non-canonical."""
    if not isinstance(data, bytes | bytearray):
        raise PayloadInvalid("payload must be bytes", type=type(data).__name__)
    data = bytes(data)
    kind = payload_kind(data)
    types = _TYPES[kind]
    if len(data) != 32 * len(types):
        raise PayloadInvalid(
            "payload length is not its kind's length",
            kind=kind.name,
            length=len(data),
            expected=32 * len(types),
        )
    try:
        v = abi_decode(types, data)
    except DecodingError as exc:  # dirty padding or a bool word not 0/1: no encoder writes it
        raise PayloadInvalid(
            "payload is not canonical ABI", kind=kind.name, reason=str(exc)
        ) from exc
    p: Payload
    match kind:
        case PayloadKind.ERC20_TRANSFER | PayloadKind.ERC20_RELEASE:
            cls = Erc20Transfer if kind == PayloadKind.ERC20_TRANSFER else Erc20Release
            p = cls(_raw_address(v[1]), v[2], _raw_address(v[3]), v[4])
        case PayloadKind.ERC721_RELEASE:
            p = Erc721Release(_raw_address(v[1]), v[2], _raw_address(v[3]), v[4])
        case PayloadKind.ERC721_TRANSFER:
            p = Erc721Transfer(
                _raw_address(v[1]), v[2], _raw_address(v[3]), v[4], Financing.from_abi(v[5:11])
            )
        case PayloadKind.ERC721_PRIVATE_TRANSFER:
            p = Erc721PrivateTransfer(
                _raw_address(v[1]), v[2], _raw_address(v[3]), v[4], Hash32(v[5])
            )
        case PayloadKind.RECEIVABLE_PAYMENT:
            p = ReceivablePayment(
                _raw_address(v[1]), v[2], v[3], _raw_address(v[4]), v[5], v[6], v[7]
            )
        case PayloadKind.CREDIT_ATTESTATION:
            p = CreditAttestation(
                subject=_raw_address(v[1]),
                version=v[2],
                score=v[3],
                grade=_ascii(v[4], 32, "grade"),
                issuer=_raw_address(v[5]),
                issued_at=v[6],
                valid_until=v[7],
                report_hash=Hash32(v[8]),
            )
        case PayloadKind.CREDIT_REVOCATION:
            p = CreditRevocation(_raw_address(v[1]), v[2], _raw_address(v[3]))
    # The field checks above are the contracts' rules; one spelling per value is what
    # canonical ABI guarantees, and this proves it for every kind.
    if encode_payload(p) != data:
        raise PayloadInvalid("payload is not canonical", kind=kind.name)
    return p


# -- plain-data form (JSON for the API and the shared vectors) -------------------------------

_HEX_FIELDS: Final = frozenset(
    {
        "token",
        "recipient",
        "debtor",
        "creditor",
        "document_hash",
        "subject",
        "issuer",
        "report_hash",
        "receivable",
        "commitment",
    }
)
_CLASSES: Final[dict[PayloadKind, type[Payload]]] = {
    PayloadKind.ERC20_TRANSFER: Erc20Transfer,
    PayloadKind.ERC721_TRANSFER: Erc721Transfer,
    PayloadKind.ERC20_RELEASE: Erc20Release,
    PayloadKind.ERC721_RELEASE: Erc721Release,
    PayloadKind.RECEIVABLE_PAYMENT: ReceivablePayment,
    PayloadKind.ERC721_PRIVATE_TRANSFER: Erc721PrivateTransfer,
    PayloadKind.CREDIT_ATTESTATION: CreditAttestation,
    PayloadKind.CREDIT_REVOCATION: CreditRevocation,
}


def _plain(obj: Payload | Financing) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        name, value = f.name, getattr(obj, f.name)
        if isinstance(value, Financing):
            out[name] = _plain(value)
        elif isinstance(value, bytes):
            out[name] = "0x" + value.hex()
        else:
            out[name] = value
    return out


def payload_to_dict(p: Payload) -> dict[str, Any]:
    """``{"kind": "ERC20_TRANSFER", field: value ...}``; bytes as 0x-hex, integers as ints."""
    return {"kind": p.kind.name, **_plain(p)}


def _fields(cls: type[Any], data: Mapping[str, Any], where: str) -> dict[str, Any]:
    names = [f.name for f in fields(cls)]
    if set(data) != set(names):
        raise PayloadInvalid(
            "payload fields do not match", where=where, expected=sorted(names), got=sorted(data)
        )
    out: dict[str, Any] = {}
    for name in names:
        value = data[name]
        if name in _HEX_FIELDS:
            if not isinstance(value, str) or not value.startswith("0x"):
                raise PayloadInvalid("expected 0x-hex", field=name, value=value)
            try:
                value = bytes.fromhex(value[2:])
            except ValueError:
                raise PayloadInvalid("expected 0x-hex", field=name, value=value) from None
        elif name == "financing":
            if not isinstance(value, Mapping):
                raise PayloadInvalid("financing must be an object", field=name)
            value = Financing(**_fields(Financing, value, "financing"))
        out[name] = value
    return out


def payload_from_dict(data: Mapping[str, Any]) -> Payload:
    """The inverse of ``payload_to_dict``; unknown or missing keys raise ``PayloadInvalid``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
        raise PayloadInvalid("payload object needs a string 'kind'")
    try:
        kind = PayloadKind[data["kind"]]
    except KeyError:
        raise PayloadInvalid("unknown payload kind", kind=data["kind"]) from None
    cls = _CLASSES[kind]
    rest = {k: v for k, v in data.items() if k != "kind"}
    return cls(**_fields(cls, rest, kind.name))
