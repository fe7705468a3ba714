"""Credit reports offline (gateway.domain.credit_reports): the RFC 8785 canonical form and its
sha256, sealed boxes per reader, and what a reader checks when it opens one."""

from __future__ import annotations

import hashlib
import json

import pytest
from nacl.public import PrivateKey, PublicKey, SealedBox

from adapters.types import Address
from gateway.domain.credit_reports import (
    MAX_READERS,
    MAX_REPORT_BYTES,
    SEALED_OVERHEAD,
    ReaderKeyInvalid,
    ReportHashMismatch,
    ReportInvalid,
    ReportUnreadable,
    attestation_id,
    canonical_report,
    grade_bytes,
    grade_text,
    open_report,
    report_sha256,
    seal_report,
)

REPORT = {"summary": "sound", "ratios": {"debt_to_equity": 0.35, "current": 1.8}, "year": 2026}


def pub(key: PrivateKey) -> bytes:
    return bytes(key.public_key)


# --- canonical form ----------------------------------------------------------------------------


def test_the_canonical_form_is_rfc_8785() -> None:
    # RFC 8785 §3.2.3's example, as a JSON reader parses it.
    parsed = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    assert (
        canonical_report(parsed)
        == (
            '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
        ).encode()
    )
    # Member names sort by UTF-16 code units (the emoji's surrogates before U+FB33).
    names = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    text = canonical_report(dict.fromkeys(names, 0)).decode()
    order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert text == "{" + ",".join(json.dumps(n, ensure_ascii=False) + ":0" for n in order) + "}"


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (123456789.125, "123456789.125"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2**53 - 1, "9007199254740991"),
        (-(2**53 - 1), "-9007199254740991"),
    ],
)
def test_numbers_are_written_as_ecmascript_does(number: float, text: str) -> None:
    assert canonical_report({"n": number}) == b'{"n":' + text.encode() + b"}"


@pytest.mark.parametrize(
    "report",
    [
        {"n": 2**53},
        {"n": float("nan")},
        {"n": float("inf")},
        {"s": "\ud800"},  # a lone surrogate
        {"deep": json.loads("[" * 40 + "]" * 40)},
        {"big": "x" * MAX_REPORT_BYTES},
        {"set": {1, 2}},
    ],
    ids=["above-2**53", "nan", "inf", "lone-surrogate", "too-deep", "too-large", "not-json"],
)
def test_what_has_no_canonical_form_is_refused(report: dict[str, object]) -> None:
    with pytest.raises(ReportInvalid):
        canonical_report(report)


# --- sealing and opening -----------------------------------------------------------------------


def test_each_reader_opens_its_own_box_and_checks_the_hash() -> None:
    alice, bob = PrivateKey.generate(), PrivateKey.generate()
    canonical = canonical_report(REPORT)
    sealed = seal_report(canonical, [pub(alice), pub(bob)])
    assert sealed.report_sha256 == hashlib.sha256(canonical).digest() == report_sha256(canonical)
    assert list(sealed.sealed) == [pub(alice), pub(bob)]
    boxes = list(sealed.sealed.values())
    assert boxes[0] != boxes[1]  # a fresh ephemeral key per box
    assert all(len(box) == len(canonical) + SEALED_OVERHEAD for box in boxes)
    assert canonical not in boxes[0]
    for key in (alice, bob):
        assert open_report(sealed.sealed[pub(key)], bytes(key), sealed.report_sha256) == REPORT
    # Sealing again makes other boxes of the same report.
    again = seal_report(canonical, [pub(alice)])
    assert again.sealed[pub(alice)] != sealed.sealed[pub(alice)]
    assert again.report_sha256 == sealed.report_sha256


def test_another_key_cannot_open_a_box() -> None:
    alice, mallory = PrivateKey.generate(), PrivateKey.generate()
    sealed = seal_report(canonical_report(REPORT), [pub(alice)])
    with pytest.raises(ReportUnreadable):
        open_report(sealed.sealed[pub(alice)], bytes(mallory), sealed.report_sha256)


def test_a_changed_byte_is_refused() -> None:
    alice = PrivateKey.generate()
    sealed = seal_report(canonical_report(REPORT), [pub(alice)])
    box = sealed.sealed[pub(alice)]
    for position in (0, 40, len(box) - 1):  # ephemeral key, tag, ciphertext
        tampered = bytearray(box)
        tampered[position] ^= 0x01
        with pytest.raises(ReportUnreadable):
            open_report(bytes(tampered), bytes(alice), sealed.report_sha256)
    with pytest.raises(ReportUnreadable):
        open_report(box[:-1], bytes(alice), sealed.report_sha256)


def test_a_report_other_than_the_attested_one_is_detected() -> None:
    alice = PrivateKey.generate()
    attested = report_sha256(canonical_report(REPORT))
    # A well-formed box of another report (anyone can seal to a public key).
    other = seal_report(canonical_report({**REPORT, "summary": "excellent"}), [pub(alice)])
    with pytest.raises(ReportHashMismatch) as caught:
        open_report(other.sealed[pub(alice)], bytes(alice), attested)
    assert caught.value.context["expected"] == attested
    # A box whose plaintext matches its hash but is not a canonical report.
    loose = b'{ "summary": "sound" }'
    box = bytes(SealedBox(PublicKey(pub(alice))).encrypt(loose))
    with pytest.raises(ReportInvalid):
        open_report(box, bytes(alice), hashlib.sha256(loose).digest())


def test_reader_keys_are_checked() -> None:
    canonical = canonical_report(REPORT)
    good = pub(PrivateKey.generate())
    cases: list[tuple[list[bytes], int | None]] = [
        ([], None),
        ([good] * 2, 1),
        ([good, b"\x01" * 31], 1),
        ([bytes(32)], 0),  # a low-order point: no shared secret
        ([pub(PrivateKey.generate()) for _ in range(MAX_READERS + 1)], None),
    ]
    for readers, index in cases:
        with pytest.raises(ReaderKeyInvalid) as caught:
            seal_report(canonical, readers)
        assert caught.value.context["index"] == index


# --- attestation fields ------------------------------------------------------------------------


def test_grades_have_one_spelling() -> None:
    assert grade_bytes("AA-") == b"AA-".ljust(32, b"\0")
    assert grade_text(grade_bytes("AA-")) == "AA-"
    assert grade_text(bytes(32)) == ""
    for bad in ("", "x" * 33, "AAé", "A\tA"):
        with pytest.raises(ReportInvalid):
            grade_bytes(bad)


def test_the_attestation_id_binds_every_field() -> None:
    fields = {
        "chain_id": 20250,
        "registry": Address(b"\x01" * 20),
        "subject": Address(b"\x02" * 20),
        "issuer": Address(b"\x03" * 20),
        "score": 742,
        "grade": grade_bytes("AA-"),
        "valid_until": 1_900_000_000,
        "report_hash": report_sha256(canonical_report(REPORT)),
    }
    first = attestation_id(**fields)  # type: ignore[arg-type]
    assert attestation_id(**fields) == first  # type: ignore[arg-type]
    changed = {
        "chain_id": 20251,
        "registry": Address(b"\x04" * 20),
        "subject": Address(b"\x04" * 20),
        "issuer": Address(b"\x04" * 20),
        "score": 743,
        "grade": grade_bytes("AA"),
        "valid_until": 1_900_000_001,
        "report_hash": bytes(32),
    }
    ids = {attestation_id(**{**fields, name: value}) for name, value in changed.items()}  # type: ignore[arg-type]
    assert len(ids) == len(changed) and first not in ids
