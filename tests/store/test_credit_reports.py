"""Credit reports are kept as sealed boxes only, one report per attestation."""

from __future__ import annotations

import pytest

from adapters.types import Address, Hash32
from gateway.store import CreditReportConflict, Store, StoreError, ValueOutOfRange
from tests.store.conftest import T0, Clock, addr, h32

READER_A, READER_B = b"\xaa" * 32, b"\xbb" * 32


def _att(n: int) -> Hash32:
    return Hash32(h32("attestation", n))


async def test_reports_are_kept_sealed_once_per_attestation(store: Store, clock: Clock) -> None:
    subject = addr(0x42)
    sealed = {READER_A: b"\x01" * 100, READER_B: b"\x02" * 49}
    report = await store.put_credit_report(_att(1), subject, Hash32(h32("report", 1)), sealed)
    assert (report.attestation_id, report.subject, report.created_at) == (_att(1), subject, T0)
    assert dict(report.sealed) == sealed
    assert await store.credit_report(_att(1)) == report
    # The same report again: the stored record (its time unchanged).
    clock.advance(10)
    assert await store.put_credit_report(_att(1), subject, report.report_sha256, sealed) == report
    # Another report under the same attestation: refused.
    for other in (
        (subject, Hash32(h32("report", 2)), sealed),
        (addr(0x43), report.report_sha256, sealed),
        (subject, report.report_sha256, {READER_A: b"\x01" * 100}),
    ):
        with pytest.raises(CreditReportConflict):
            await store.put_credit_report(_att(1), *other)
    later = await store.put_credit_report(_att(2), subject, Hash32(h32("report", 3)), sealed)
    assert await store.credit_reports_of(subject) == [report, later]
    assert await store.credit_reports_of(addr(0x44)) == []
    assert await store.credit_report(_att(3)) is None


async def test_invalid_reports_are_refused(store: Store) -> None:
    subject, digest = addr(1), Hash32(h32("r"))
    ok = {READER_A: b"\x01" * 60}
    bad: list[tuple[object, object, object, object]] = [
        (b"short", subject, digest, ok),
        (_att(1), Address(b"\x01" * 19), digest, ok),
        (_att(1), subject, b"\x00" * 31, ok),
        (_att(1), subject, digest, {}),
        (_att(1), subject, digest, {b"\x01" * 31: b"\x01" * 60}),
        (_att(1), subject, digest, {READER_A: b"\x01" * 48}),  # no room for a sealed box
        (_att(1), subject, digest, {READER_A: b"\x01" * (64 * 1024 + 49)}),
        (_att(1), subject, digest, {bytes([i]) * 32: b"\x01" * 60 for i in range(33)}),
    ]
    for args in bad:
        with pytest.raises((StoreError, ValueOutOfRange)):
            await store.put_credit_report(*args)  # type: ignore[arg-type]
    assert await store.credit_report(_att(1)) is None
