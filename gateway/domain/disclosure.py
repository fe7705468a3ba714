"""Private terms on public chains: the commitment a private wrapped receivable carries, and the
holder's disclosure of the terms behind it (docs/architecture.md, "Private terms on public
chains").

**Commitment.** A receivable bridged over a route with private terms carries, instead of its
financing metadata, ``keccak256(abi.encode(salt, debtor, creditor, faceValue, currency,
dueDate, documentHash))``: all six fields of the home ``Financing`` behind a 32-byte salt
(``AssetPayloads.termsCommitment``, ``WrappedReceivable.commitmentOf``). ``currency`` is the
``bytes3`` ISO code, the others as ``abi.encode`` pads them.

**Salt.** The locker chooses it (``new_salt``: 32 random bytes, never zero) and passes it to
``AssetVault.lockERC721Private`` (or in 96 bytes of ``safeTransferFrom`` data); it never
leaves the consortium chain (the payload has only the commitment), and the locker keeps it to
disclose the terms. Whoever gets a disclosure learns the salt too and can pass it on.

**Disclosure.** The terms, the salt and which token they belong to (home chain, home
receivable, token id), serialized canonically (``DISCLOSURE_TAG`` then ``abi.encode`` of the
fields, ``DISCLOSURE_BYTES`` bytes) and sealed to the recipient's X25519 public key with a
NaCl sealed box, as credit reports are (``gateway.domain.credit_reports``). The recipient opens
it (``open_disclosure``) and checks it against the commitment read on chain
(``verify_disclosure``); a changed byte fails authentication, other terms or another salt fail
the check.

Pure and synchronous (style rule 4).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from adapters.errors import FatalError
from adapters.mpt import keccak256
from adapters.types import Address, Hash32
from gateway.domain.payloads import Financing, PayloadInvalid

__all__ = [
    "DISCLOSURE_BYTES",
    "DISCLOSURE_TAG",
    "Disclosure",
    "DisclosureError",
    "DisclosureInvalid",
    "DisclosureMismatch",
    "DisclosureUnreadable",
    "RecipientKeyInvalid",
    "check_disclosure",
    "decode_disclosure",
    "encode_disclosure",
    "new_salt",
    "open_disclosure",
    "seal_disclosure",
    "terms_commitment",
    "verify_disclosure",
]

DISCLOSURE_TAG: Final = b"xgate/terms-disclosure/v1".ljust(32, b"\0")
_COMMITMENT_TYPES: Final = (
    "bytes32",  # salt
    "address",  # debtor
    "address",  # creditor
    "uint128",  # faceValue
    "bytes3",  # currency
    "uint64",  # dueDate
    "bytes32",  # documentHash
)
_DISCLOSURE_TYPES: Final = ("bytes32", "uint256", "address", "uint256", *_COMMITMENT_TYPES)
DISCLOSURE_BYTES: Final = 32 * len(_DISCLOSURE_TYPES)
_U256: Final = 2**256 - 1


class DisclosureError(FatalError):
    """A disclosure that cannot be made, opened or read."""


class DisclosureInvalid(DisclosureError):
    """Fields or bytes that are not a disclosure (``field`` names the value)."""


class RecipientKeyInvalid(DisclosureError):
    """Not a usable X25519 public key (32 bytes, not a low-order point)."""


class DisclosureUnreadable(DisclosureError):
    """The box does not open with this private key: another recipient's, or changed bytes."""


def new_salt() -> Hash32:
    """A fresh salt for a private lock: 32 random bytes (never zero: the vault refuses it)."""
    while True:
        salt = secrets.token_bytes(32)
        if any(salt):
            return Hash32(salt)


def _salt(salt: object) -> bytes:
    if not isinstance(salt, bytes) or len(salt) != 32 or not any(salt):
        raise DisclosureInvalid("a salt is 32 bytes, not all zero", field="salt")
    return salt


def _terms_values(salt: bytes, terms: Financing) -> tuple[object, ...]:
    if not isinstance(terms, Financing):
        raise DisclosureInvalid("terms must be a Financing", field="terms")
    return (salt, *terms.abi_values())


def terms_commitment(salt: bytes, terms: Financing) -> Hash32:
    """The commitment a private copy carries: ``AssetPayloads.termsCommitment(salt, terms)``."""
    return keccak256(abi_encode(_COMMITMENT_TYPES, _terms_values(_salt(salt), terms)))


def verify_disclosure(commitment: bytes, terms: Financing, salt: bytes) -> bool:
    """Whether ``terms`` and ``salt`` are what ``commitment`` (read on chain) commits to.
    False for anything else, a zero salt or a zero commitment (a copy with full terms)."""
    if not isinstance(commitment, bytes) or len(commitment) != 32 or not any(commitment):
        return False
    try:
        expected = terms_commitment(salt, terms)
    except DisclosureInvalid:
        return False
    return hmac.compare_digest(expected, commitment)


@dataclass(frozen=True, slots=True)
class Disclosure:
    """The terms of home receivable ``token_id`` and the salt of its commitment."""

    home_chain_id: int
    receivable: Address  # the home Receivable contract
    token_id: int
    terms: Financing
    salt: Hash32

    def __post_init__(self) -> None:
        for name in ("home_chain_id", "token_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U256:
                raise DisclosureInvalid("not a uint256", field=name)
        if not isinstance(self.receivable, bytes) or len(self.receivable) != 20:
            raise DisclosureInvalid("an address is 20 raw bytes", field="receivable")
        if not isinstance(self.terms, Financing):
            raise DisclosureInvalid("terms must be a Financing", field="terms")
        _salt(self.salt)

    @property
    def commitment(self) -> Hash32:
        return terms_commitment(self.salt, self.terms)

    def verify(self, commitment: bytes) -> bool:
        """Whether this disclosure matches ``commitment`` (``verify_disclosure``)."""
        return verify_disclosure(commitment, self.terms, self.salt)


class DisclosureMismatch(StrEnum):
    """Why a disclosure does not hold for a token on a public chain (``check_disclosure``)."""

    NOT_PRIVATE = "not-private"  # the copy carries its terms in full: nothing to disclose
    OTHER_HOME = "other-home"  # another home chain or home Receivable than the copy's
    OTHER_TOKEN = "other-token"  # another token id
    COMMITMENT_MISMATCH = "commitment-mismatch"  # other terms or another salt


def check_disclosure(
    d: Disclosure,
    *,
    home_chain_id: int,
    receivable: bytes,
    token_id: int,
    commitment: bytes | None,
) -> DisclosureMismatch | None:
    """Whether ``d`` discloses the terms of the copy of home receivable ``token_id`` of
    (``home_chain_id``, ``receivable``) whose on-chain commitment is ``commitment`` (None or
    zero: a copy with full terms): None when it does, else why not."""
    if commitment is None or not any(commitment):
        return DisclosureMismatch.NOT_PRIVATE
    if d.home_chain_id != home_chain_id or bytes(d.receivable) != bytes(receivable):
        return DisclosureMismatch.OTHER_HOME
    if d.token_id != token_id:
        return DisclosureMismatch.OTHER_TOKEN
    if not d.verify(commitment):
        return DisclosureMismatch.COMMITMENT_MISMATCH
    return None


def encode_disclosure(d: Disclosure) -> bytes:
    """The canonical bytes of ``d``: the tag word, then its fields ``abi.encode``d."""
    return abi_encode(
        _DISCLOSURE_TYPES,
        (
            DISCLOSURE_TAG,
            d.home_chain_id,
            d.receivable,
            d.token_id,
            *_terms_values(d.salt, d.terms),
        ),
    )


def decode_disclosure(data: bytes) -> Disclosure:
    """The inverse of ``encode_disclosure``, strictly (exact length, tag, canonical ABI)."""
    if not isinstance(data, bytes) or len(data) != DISCLOSURE_BYTES:
        raise DisclosureInvalid("a disclosure has a fixed length", field="bytes")
    if data[:32] != DISCLOSURE_TAG:
        raise DisclosureInvalid("not a disclosure (tag)", field="tag")
    try:
        v = abi_decode(_DISCLOSURE_TYPES, data)
        terms = Financing.from_abi(v[5:11])
        d = Disclosure(v[1], Address(bytes.fromhex(v[2][2:])), v[3], terms, Hash32(v[4]))
    except (DecodingError, UnicodeDecodeError, PayloadInvalid) as exc:
        raise DisclosureInvalid("not a canonical disclosure", field="bytes") from exc
    if encode_disclosure(d) != data:
        raise DisclosureInvalid("not a canonical disclosure", field="bytes")
    return d


def seal_disclosure(d: Disclosure, recipient: bytes) -> bytes:
    """``d`` sealed to ``recipient``'s X25519 public key (32 bytes): a fresh sealed box."""
    if not isinstance(recipient, bytes) or len(recipient) != 32:
        raise RecipientKeyInvalid("a recipient key is an X25519 public key of 32 bytes")
    try:
        return bytes(SealedBox(PublicKey(recipient)).encrypt(encode_disclosure(d)))
    except CryptoError as exc:
        raise RecipientKeyInvalid("not a usable X25519 public key (a low-order point)") from exc


def open_disclosure(box: bytes, private_key: bytes) -> Disclosure:
    """What the recipient does: open ``box`` with its X25519 private key (32 bytes). Check
    the result against the on-chain commitment with ``Disclosure.verify``.

    ``DisclosureUnreadable`` when the box does not open (another recipient's, or changed
    bytes), ``DisclosureInvalid`` when its plaintext is not a disclosure."""
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise DisclosureUnreadable("a recipient's private key is 32 bytes (X25519)")
    try:
        plaintext = bytes(SealedBox(PrivateKey(private_key)).decrypt(bytes(box)))
    except CryptoError as exc:
        raise DisclosureUnreadable(
            "the box does not open with this key (another recipient's, or altered)"
        ) from exc
    return decode_disclosure(plaintext)
