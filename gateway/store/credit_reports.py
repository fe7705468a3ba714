"""The ``Store``'s credit reports (docs/api.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Row, Table, select

from adapters.types import Address, Hash32
from gateway.domain.events import CreditAction
from gateway.domain.status import CreditReport
from gateway.store.base import (
    StoreBase,
    _check_address,
    _check_digest,
    _credit_event,
    _dump_json,
    _hex,
    _unhex,
)
from gateway.store.errors import CreditReportConflict, StoreError, ValueOutOfRange
from gateway.store.models import metadata

__all__ = ["CreditReportsMixin"]

_credit: Table = metadata.tables["credit_reports"]

_MAX_READERS = 32
_SEALED_MAX = 64 * 1024 + 48  # a sealed box: the report (64 KiB at most) + 48 bytes of overhead


class CreditReportsMixin(StoreBase):
    """Credit reports."""

    # --- credit reports -------------------------------------------------------------------------

    async def put_credit_report(
        self,
        attestation_id: Hash32,
        subject: Address,
        report_sha256: bytes,
        sealed: Mapping[bytes, bytes],
        *,
        issuer: Address | None = None,
        now: datetime | None = None,
    ) -> CreditReport:
        """Keep the sealed report behind ``attestation_id``: ``sealed`` maps each reader's
        X25519 public key (32 bytes; 1-32 readers) to the report sealed to it (49 bytes to
        64 KiB + 48). Storing the same again returns the stored record;
        ``CreditReportConflict`` when the attestation has another report. A report stored
        appends a ``credit`` event (``issued``; ``issuer`` is named in it, not stored)."""
        _check_digest(attestation_id, "attestation_id")
        _check_address(subject, "subject")
        if issuer is not None:
            _check_address(issuer, "issuer")
        _check_digest(report_sha256, "report_sha256")
        if not isinstance(sealed, Mapping) or not 0 < len(sealed) <= _MAX_READERS:
            raise StoreError(f"a report is sealed to 1..{_MAX_READERS} readers", field="sealed")
        for reader, box in sealed.items():
            if not isinstance(reader, bytes) or len(reader) != 32:
                raise StoreError("a reader key is 32 bytes (X25519)", field="sealed")
            if not isinstance(box, bytes) or not 48 < len(box) <= _SEALED_MAX:
                raise ValueOutOfRange("a sealed box is 49 bytes to 64 KiB + 48", field="sealed")
        text_sealed = _dump_json({_hex(r): _hex(b) for r, b in sealed.items()})
        at = self._now(now)
        c = _credit.c
        async with self._tx("put_credit_report") as conn:
            created = await conn.execute(
                self._insert(_credit)
                .values(
                    attestation_id=attestation_id,
                    subject=subject,
                    report_sha256=report_sha256,
                    sealed=text_sealed,
                    created_at=at,
                )
                .on_conflict_do_nothing(index_elements=[c.attestation_id])
                .returning(*_credit.c)
            )
            row = created.first()
            if row is not None:
                issued = _credit_event(
                    attestation_id,
                    CreditAction.ISSUED,
                    subject=subject,
                    attestation=attestation_id,
                    report_hash=report_sha256,
                    issuer=issuer,
                    readers=len(sealed),
                )
                await self._append_events(conn, [issued], at)
            else:
                row = (
                    await conn.execute(select(_credit).where(c.attestation_id == attestation_id))
                ).one()
                if (bytes(row.subject), bytes(row.report_sha256), row.sealed) != (
                    subject,
                    report_sha256,
                    text_sealed,
                ):
                    raise CreditReportConflict(
                        "attestation recorded with another report", attestation_id=attestation_id
                    )
        return _credit_record(row)

    async def credit_report(self, attestation_id: Hash32) -> CreditReport | None:
        _check_digest(attestation_id, "attestation_id")
        async with self._tx("credit_report", write=False) as conn:
            row = (
                await conn.execute(
                    select(_credit).where(_credit.c.attestation_id == attestation_id)
                )
            ).first()
        return None if row is None else _credit_record(row)

    async def credit_reports_of(self, subject: Address) -> list[CreditReport]:
        """The subject's reports, oldest first."""
        _check_address(subject, "subject")
        c = _credit.c
        async with self._tx("credit_reports_of", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_credit)
                    .where(c.subject == subject)
                    .order_by(c.created_at, c.attestation_id)
                )
            ).all()
        return [_credit_record(row) for row in rows]


# --- rows <-> records ----------------------------------------------------------------------------


def _credit_record(row: Row[Any]) -> CreditReport:
    return CreditReport(
        attestation_id=Hash32(bytes(row.attestation_id)),
        subject=Address(bytes(row.subject)),
        report_sha256=Hash32(bytes(row.report_sha256)),
        sealed=MappingProxyType({_unhex(r): _unhex(b) for r, b in json.loads(row.sealed).items()}),
        created_at=row.created_at,
    )
