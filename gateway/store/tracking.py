"""The ``Store``'s tracking ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, or_, select, update

from adapters.types import ChainId, TxHash
from gateway.domain.status import TrackingKind, TrackingRecord
from gateway.store.base import StoreBase, _messages, _opt_bytes, _tracking
from gateway.store.errors import StoreError, TrackingConflict
from gateway.store.models import TRACKING_ID_LEN
from gateway.store.point_reads import PointQuery

__all__ = ["TrackingMixin"]

# A point read (gateway/store/point_reads.py): the API's hot path.
_TRACKED = PointQuery.of(select(_tracking).where(_tracking.c.tracking_id == bindparam("id")))


class TrackingMixin(StoreBase):
    """Tracking ids."""

    # --- tracking -----------------------------------------------------------------------------

    async def track(
        self,
        tracking_id: str,
        kind: TrackingKind,
        ref: bytes | None = None,
        *,
        src_chain_id: ChainId | None = None,
        src_tx_hash: TxHash | None = None,
        now: datetime | None = None,
    ) -> TrackingRecord:
        """Record a tracking id (idempotent; ``TrackingConflict`` if it names something else)
        and give it to the messages it names: message ``ref``, or those sent by the source
        transaction, now or when the watcher records them."""
        if not 0 < len(tracking_id) <= TRACKING_ID_LEN:
            raise StoreError("tracking id must be 1..100 characters", tracking_id=tracking_id)
        kind = TrackingKind(kind)
        at = self._now(now)
        wanted = TrackingRecord(tracking_id, kind, ref, src_chain_id, src_tx_hash, at)
        async with self._tx("track") as conn:
            created = await conn.execute(
                self._insert(_tracking)
                .values(
                    tracking_id=tracking_id,
                    kind=kind.value,
                    ref=ref,
                    src_chain_id=src_chain_id,
                    src_tx_hash=src_tx_hash,
                    created_at=at,
                )
                .on_conflict_do_nothing(index_elements=[_tracking.c.tracking_id])
                .returning(_tracking.c.tracking_id)
            )
            if created.first() is None:
                row = (
                    await conn.execute(
                        select(_tracking).where(_tracking.c.tracking_id == tracking_id)
                    )
                ).one()
                existing = _tracking_record(row)
                if replace(existing, created_at=at) != wanted:
                    raise TrackingConflict(
                        "tracking id already names something else", tracking_id=tracking_id
                    )
                return existing
            m = _messages.c
            links = []
            if kind is TrackingKind.MESSAGE and ref is not None:
                links.append(m.id == ref)
            if src_chain_id is not None and src_tx_hash is not None:
                links.append(and_(m.src_chain_id == src_chain_id, m.src_tx_hash == src_tx_hash))
            if links:
                await conn.execute(
                    update(_messages)
                    .where(or_(*links), m.tracking_id.is_(None))
                    .values(tracking_id=tracking_id)
                )
        return wanted

    async def tracked(self, tracking_id: str) -> TrackingRecord | None:
        rows = await self._point_rows("tracked", _TRACKED, id=tracking_id)
        return _tracking_record(rows[0]) if rows else None


# --- rows <-> records ----------------------------------------------------------------------------


def _tracking_record(row: Row[Any]) -> TrackingRecord:
    return TrackingRecord(
        tracking_id=row.tracking_id,
        kind=TrackingKind(row.kind),
        ref=_opt_bytes(row.ref),
        src_chain_id=None if row.src_chain_id is None else ChainId(row.src_chain_id),
        src_tx_hash=None if row.src_tx_hash is None else TxHash(bytes(row.src_tx_hash)),
        created_at=row.created_at,
    )
