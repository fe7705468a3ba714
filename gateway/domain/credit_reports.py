"""Credit reports behind credit attestations (docs/api.md "Credit attestations"): canonical
form, hash, NaCl sealed boxes to the readers the subject chose, and the reader's check.

A report is a JSON object. Its **canonical form** is RFC 8785 (JSON Canonicalization Scheme):
UTF-8, no insignificant whitespace, object members sorted by their names' UTF-16 code units,
strings with only the mandatory escapes, numbers as ECMAScript prints them. Integers beyond
±(2**53 - 1) are refused (JSON readers lose them: write large amounts as strings), as are
non-finite numbers, lone surrogates, nesting deeper than ``MAX_DEPTH`` and canonical forms
above ``MAX_REPORT_BYTES``.

The on-chain ``reportHash`` of ``CreditRegistry.attest`` is **sha256** of the canonical form
(the registry takes any non-zero bytes32; xgate fixes sha256, the store's ``report_sha256``).

Each reader gets its own sealed box (``crypto_box_seal``: an ephemeral X25519 key per box,
XSalsa20-Poly1305) of the canonical bytes, to its X25519 public key (32 bytes). Only the
holder of the matching private key opens it; a changed byte fails authentication. The reader
then checks sha256 of what it opened against the hash on chain (``open_report``), so neither
the gateway nor anyone who can write the store can hand it another report.

Pure and synchronous (style rule 4); the API (``gateway.api.credit``) stores and serves the
boxes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NewType

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from adapters.errors import FatalError
from adapters.types import Address, Hash32

__all__ = [
    "ATTESTATION_ID_TAG",
    "MAX_DEPTH",
    "MAX_READERS",
    "MAX_REPORT_BYTES",
    "MAX_SAFE_INTEGER",
    "SEALED_OVERHEAD",
    "CreditReportError",
    "ReaderKey",
    "ReaderKeyInvalid",
    "ReportHashMismatch",
    "ReportInvalid",
    "ReportUnreadable",
    "SealedReport",
    "attestation_id",
    "canonical_report",
    "grade_bytes",
    "grade_text",
    "open_report",
    "reader_key",
    "report_sha256",
    "seal_report",
]

MAX_READERS = 32  # the store's bound
MAX_REPORT_BYTES = 64 * 1024  # canonical form; a box is 48 bytes more (the store's bound)
MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1
SEALED_OVERHEAD = 48  # ephemeral public key (32) + Poly1305 tag (16)
ATTESTATION_ID_TAG = b"xgate/credit-attestation/v1"

ReaderKey = NewType("ReaderKey", bytes)
"""A reader's X25519 public key, 32 bytes."""


class CreditReportError(FatalError):
    """A credit report that cannot be sealed, opened or trusted."""


class ReportInvalid(CreditReportError):
    """The report is not a JSON object with a canonical form (``path`` names the value)."""


class ReaderKeyInvalid(CreditReportError):
    """A reader key that is not a usable X25519 public key (``index`` among the readers)."""


class ReportUnreadable(CreditReportError):
    """The box does not open with this private key: another reader's, or changed bytes."""


class ReportHashMismatch(CreditReportError):
    """The opened report's sha256 is not the hash on chain: not the attested report."""


# --- canonical form (RFC 8785) -----------------------------------------------------------------


def _number(value: int | float, path: str) -> str:
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ReportInvalid(
                "integers beyond 2**53 - 1 lose precision in JSON: write them as strings",
                path=path,
            )
        return str(value)
    if not math.isfinite(value):
        raise ReportInvalid("numbers are finite", path=path)
    if value == 0:
        return "0"  # -0 too
    sign = "-" if value < 0 else ""
    # repr is the shortest decimal that reads back as the same double, as ECMAScript's is;
    # only the layout differs (ECMAScript Number::toString, RFC 8785 §3.2.2.3).
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    # value = 0.DIGITS x 10**n, DIGITS without leading or trailing zeros
    significant = (whole + frac).lstrip("0")
    n = len(whole) + int(exp or "0") - (len(whole) + len(frac) - len(significant))
    digits = significant.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + digits
    else:
        e = n - 1
        mark = "+" if e >= 0 else "-"
        head = digits if k == 1 else digits[0] + "." + digits[1:]
        out = f"{head}e{mark}{abs(e)}"
    return sign + out


def _string(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ReportInvalid("strings are Unicode text (no lone surrogates)", path=path) from exc
    return json.dumps(value, ensure_ascii=False)


def _utf16_order(name: str) -> bytes:
    return name.encode("utf-16-be")


def _canonical(value: Any, path: str, depth: int, out: list[str]) -> None:
    if depth > MAX_DEPTH:
        raise ReportInvalid(f"nested deeper than {MAX_DEPTH} levels", path=path)
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | float):
        out.append(_number(value, path))
    elif isinstance(value, str):
        out.append(_string(value, path))
    elif isinstance(value, Mapping):
        names = list(value)
        if not all(isinstance(name, str) for name in names):
            raise ReportInvalid("object member names are strings", path=path)
        for name in names:
            _string(name, f"{path}.{name!r}")
        out.append("{")
        for i, name in enumerate(sorted(names, key=_utf16_order)):
            if i:
                out.append(",")
            out.append(json.dumps(name, ensure_ascii=False))
            out.append(":")
            _canonical(value[name], f"{path}.{name}", depth + 1, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _canonical(item, f"{path}[{i}]", depth + 1, out)
        out.append("]")
    else:
        raise ReportInvalid("not a JSON value", path=path, type=type(value).__name__)


def canonical_report(report: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``report`` (a JSON object), RFC 8785; ``ReportInvalid``
    otherwise."""
    if not isinstance(report, Mapping):
        raise ReportInvalid("a report is a JSON object", path="report")
    out: list[str] = []
    _canonical(report, "report", 1, out)
    data = "".join(out).encode("utf-8")
    if len(data) > MAX_REPORT_BYTES:
        raise ReportInvalid(
            f"the canonical report is {len(data)} bytes, above {MAX_REPORT_BYTES}", path="report"
        )
    return data


def report_sha256(canonical: bytes) -> Hash32:
    """The on-chain ``reportHash`` of a canonical report."""
    return Hash32(hashlib.sha256(canonical).digest())


# --- sealing -----------------------------------------------------------------------------------


def reader_key(value: bytes) -> ReaderKey:
    """``value`` as a reader key (32 bytes); ``ReaderKeyInvalid`` otherwise."""
    if not isinstance(value, bytes) or len(value) != 32:
        raise ReaderKeyInvalid("a reader key is an X25519 public key of 32 bytes", index=None)
    return ReaderKey(value)


@dataclass(frozen=True, slots=True)
class SealedReport:
    """A canonical report sealed to each of its readers: ``sealed`` maps each reader's key to
    its box; ``report_sha256`` is the hash that goes on chain."""

    report_sha256: Hash32
    sealed: Mapping[ReaderKey, bytes]


def seal_report(canonical: bytes, readers: Sequence[bytes]) -> SealedReport:
    """Seal ``canonical`` (``canonical_report``'s bytes) to each of ``readers`` (1 to
    ``MAX_READERS`` distinct X25519 public keys), a fresh box each. ``ReaderKeyInvalid``
    names the first key that is not 32 bytes, is repeated or is a low-order point (no shared
    secret: libsodium refuses it)."""
    if not 0 < len(readers) <= MAX_READERS:
        raise ReaderKeyInvalid(f"a report has 1 to {MAX_READERS} readers", index=None)
    if len(canonical) > MAX_REPORT_BYTES:
        raise ReportInvalid("report too large", path="report")
    sealed: dict[ReaderKey, bytes] = {}
    for i, raw in enumerate(readers):
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise ReaderKeyInvalid("a reader key is an X25519 public key of 32 bytes", index=i)
        key = ReaderKey(raw)
        if key in sealed:
            raise ReaderKeyInvalid("the same reader key is given twice", index=i)
        try:
            sealed[key] = bytes(SealedBox(PublicKey(raw)).encrypt(canonical))
        except CryptoError as exc:
            raise ReaderKeyInvalid(
                "not a usable X25519 public key (a low-order point)", index=i
            ) from exc
    return SealedReport(report_sha256(canonical), MappingProxyType(sealed))


def open_report(box: bytes, private_key: bytes, expected_sha256: bytes) -> dict[str, Any]:
    """What a reader does: open ``box`` with its X25519 private key (32 bytes), check the
    plaintext's sha256 against ``expected_sha256`` (the attestation's ``reportHash`` read on
    chain) and that it is a canonical report; the report.

    ``ReportUnreadable`` when the box does not open (another reader's, or changed bytes),
    ``ReportHashMismatch`` when it opens to another report than the one attested,
    ``ReportInvalid`` when the plaintext is not a canonical report."""
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise ReportUnreadable("a reader's private key is 32 bytes (X25519)")
    try:
        plaintext = bytes(SealedBox(PrivateKey(private_key)).decrypt(box))
    except CryptoError as exc:
        raise ReportUnreadable(
            "the box does not open with this key (another reader's, or altered)"
        ) from exc
    digest = hashlib.sha256(plaintext).digest()
    if not hmac.compare_digest(digest, bytes(expected_sha256)):
        raise ReportHashMismatch(
            "the report's sha256 is not the attested reportHash",
            report_sha256=digest,
            expected=bytes(expected_sha256),
        )
    try:
        report = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportInvalid("the report is not JSON", path="report") from exc
    if not isinstance(report, dict) or canonical_report(report) != plaintext:
        raise ReportInvalid("the report is not a canonical JSON object", path="report")
    return report


# --- attestation fields ------------------------------------------------------------------------


def grade_bytes(grade: str) -> bytes:
    """The registry's ``bytes32`` of ``grade``: 1 to 32 printable ASCII characters,
    left-aligned and zero-padded (the one canonical spelling ``CreditRegistry`` takes)."""
    if (
        not isinstance(grade, str)
        or not 1 <= len(grade) <= 32
        or not all(" " <= c <= "~" for c in grade)
    ):
        raise ReportInvalid("a grade is 1 to 32 printable ASCII characters", path="grade")
    return grade.encode("ascii").ljust(32, b"\0")


def grade_text(raw: bytes) -> str:
    """A ``bytes32`` grade read on chain as text ("" for none)."""
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


def attestation_id(
    *,
    chain_id: int,
    registry: Address,
    subject: Address,
    issuer: Address,
    score: int,
    grade: bytes,
    valid_until: int,
    report_hash: bytes,
) -> Hash32:
    """The gateway's id of one attestation request: sha256 of ``ATTESTATION_ID_TAG`` and the
    fields as the registry takes them (chain id uint256, registry, subject, issuer addresses,
    score uint16, grade bytes32, validUntil uint64, reportHash bytes32, big-endian, packed).
    The same request has the same id; any other field makes another."""
    for name, value, size in (
        ("registry", registry, 20),
        ("subject", subject, 20),
        ("issuer", issuer, 20),
        ("grade", grade, 32),
        ("report_hash", report_hash, 32),
    ):
        if not isinstance(value, bytes) or len(value) != size:
            raise ReportInvalid(f"{name} is {size} bytes", path=name)
    data = (
        ATTESTATION_ID_TAG
        + chain_id.to_bytes(32, "big")
        + registry
        + subject
        + issuer
        + score.to_bytes(2, "big")
        + grade
        + valid_until.to_bytes(8, "big")
        + report_hash
    )
    return Hash32(hashlib.sha256(data).digest())
