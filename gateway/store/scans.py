"""The ``Store``'s scans and checkpoints: a scanner's new messages and its checkpoint, in one
transaction (docs/relayer.md §2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.types import Address, ChainId, Hash32, Height
from gateway.domain.credit_reports import attestation_id, grade_bytes
from gateway.domain.events import CreditAction, EventKind
from gateway.domain.payloads import (
    CreditAttestation,
    CreditRevocation,
    PayloadInvalid,
    decode_payload,
)
from gateway.domain.status import Checkpoint, MessageStatus, NewMessage
from gateway.store.base import (
    StoreBase,
    _check_int64,
    _credit_event,
    _history,
    _message_event,
    _messages,
    _tracking,
)
from gateway.store.errors import CheckpointMoved, InvalidCheckpoint, StoreError
from gateway.store.models import STREAM_LEN, TRACKING_ID_LEN, metadata

__all__ = ["ScansMixin"]

# Rows per multi-VALUES insert: far below SQLite's bound-parameter limit (26 columns each).
_INSERT_CHUNK = 200

_checkpoints: Table = metadata.tables["checkpoints"]


class ScansMixin(StoreBase):
    """Scans and checkpoints."""

    # --- scans and checkpoints ----------------------------------------------------------------

    async def checkpoint(self, chain_id: ChainId, stream: str) -> Checkpoint | None:
        _check_stream(stream)
        async with self._tx("checkpoint", write=False) as conn:
            row = (
                await conn.execute(
                    select(_checkpoints).where(
                        _checkpoints.c.chain_id == chain_id, _checkpoints.c.stream == stream
                    )
                )
            ).first()
        if row is None:
            return None
        return Checkpoint(
            ChainId(row.chain_id), row.stream, Height(row.height), Hash32(row.block_hash)
        )

    async def checkpoints(self) -> list[tuple[Checkpoint, datetime]]:
        """Every watcher checkpoint, by chain and stream, with when it last moved."""
        c = _checkpoints.c
        async with self._tx("checkpoints", write=False) as conn:
            rows = (await conn.execute(select(_checkpoints).order_by(c.chain_id, c.stream))).all()
        return [
            (
                Checkpoint(
                    ChainId(row.chain_id), row.stream, Height(row.height), Hash32(row.block_hash)
                ),
                row.updated_at,
            )
            for row in rows
        ]

    async def record_scan(
        self,
        chain_id: ChainId,
        stream: str,
        expected_prev: Checkpoint | None,
        new: Checkpoint,
        messages: Sequence[NewMessage],
        *,
        credit_registry: Address | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record the messages found in the blocks after ``expected_prev`` up to ``new`` and move
        the checkpoint to ``new``, in one transaction. Returns how many messages were new
        (recording one again changes nothing). A new message sent by ``credit_registry`` (the
        chain's ``CreditRegistry``, if any) carrying a credit attestation or revocation also
        appends a ``credit`` event (``published`` / ``revoked``).

        ``CheckpointMoved`` (retryable, nothing written) when the stored checkpoint is not
        ``expected_prev``: another watcher got there first. ``InvalidCheckpoint`` when ``new``
        is below ``expected_prev`` or a message lies outside the scanned range.
        """
        at = self._now(now)
        _check_int64(chain_id, "chain_id")
        _check_stream(stream)
        for cp in (expected_prev, new):
            if cp is not None and (cp.chain_id != chain_id or cp.stream != stream):
                raise InvalidCheckpoint(
                    "checkpoint of another stream", chain_id=chain_id, stream=stream,
                    checkpoint_chain_id=cp.chain_id, checkpoint_stream=cp.stream,
                )  # fmt: skip
        _check_int64(new.height, "height")
        low = -1 if expected_prev is None else expected_prev.height
        if new.height < low:
            raise InvalidCheckpoint(
                "checkpoint would move backwards",
                chain_id=chain_id, stream=stream, height=new.height, previous=low,
            )  # fmt: skip
        if expected_prev is not None and new.height == low and new != expected_prev:
            raise InvalidCheckpoint(
                "checkpoint would change its block at the same height",
                chain_id=chain_id, stream=stream, height=new.height,
            )  # fmt: skip
        rows: dict[bytes, dict[str, Any]] = {}
        for item in messages:
            if item.message.src_chain_id != chain_id:
                raise InvalidCheckpoint(
                    "message from another chain in a scan",
                    chain_id=chain_id, message_chain_id=item.message.src_chain_id,
                )  # fmt: skip
            if not low < item.src_block_number <= new.height:
                raise InvalidCheckpoint(
                    "message outside the scanned blocks",
                    chain_id=chain_id, stream=stream, block=item.src_block_number,
                    after=low, up_to=new.height,
                )  # fmt: skip
            rows.setdefault(item.id, _message_row(item, at))

        async with self._tx("record_scan") as conn:
            await self._advance_checkpoint(conn, chain_id, stream, expected_prev, new, at)
            if not rows:
                return 0
            await self._fill_tracking_ids(conn, chain_id, rows)
            new_ids: list[bytes] = []
            values = list(rows.values())
            for start in range(0, len(values), _INSERT_CHUNK):
                stmt = (
                    self._insert(_messages)
                    .values(values[start : start + _INSERT_CHUNK])
                    .on_conflict_do_nothing(index_elements=[_messages.c.id])
                    .returning(_messages.c.id)
                )
                new_ids += (await conn.execute(stmt)).scalars().all()
            if new_ids:
                await conn.execute(
                    _history.insert(),
                    [
                        {
                            "message_id": mid,
                            "old_status": None,
                            "new_status": MessageStatus.FINAL.value,
                            "owner": None,
                            "at": at,
                            "detail": f"seen in final block {rows[mid]['src_block_number']}",
                            "tx_hash": rows[mid]["src_tx_hash"],
                        }
                        for mid in new_ids
                    ],
                )
                await self._append_events(
                    conn,
                    [
                        _message_event(
                            rows[mid],
                            None,
                            MessageStatus.FINAL,
                            tx_hash=rows[mid]["src_tx_hash"],
                            detail=f"seen in final block {rows[mid]['src_block_number']}",
                        )
                        for mid in new_ids
                    ]
                    + _credit_message_events(rows, new_ids, credit_registry),
                    at,
                )
        return len(new_ids)

    async def _advance_checkpoint(
        self,
        conn: AsyncConnection,
        chain_id: ChainId,
        stream: str,
        expected_prev: Checkpoint | None,
        new: Checkpoint,
        at: datetime,
    ) -> None:
        if expected_prev is None:
            result = await conn.execute(
                self._insert(_checkpoints)
                .values(
                    chain_id=chain_id,
                    stream=stream,
                    height=new.height,
                    block_hash=new.block_hash,
                    updated_at=at,
                )
                .on_conflict_do_nothing(
                    index_elements=[_checkpoints.c.chain_id, _checkpoints.c.stream]
                )
                .returning(_checkpoints.c.height)
            )
        else:
            # Compare-and-set: the row changes only if it still is the checkpoint we read.
            result = await conn.execute(
                update(_checkpoints)
                .where(
                    _checkpoints.c.chain_id == chain_id,
                    _checkpoints.c.stream == stream,
                    _checkpoints.c.height == expected_prev.height,
                    _checkpoints.c.block_hash == expected_prev.block_hash,
                )
                .values(height=new.height, block_hash=new.block_hash, updated_at=at)
                .returning(_checkpoints.c.height)
            )
        # RETURNING, not rowcount: the async psycopg driver reports -1 for an INSERT's rowcount.
        if result.first() is None:
            raise CheckpointMoved(
                "checkpoint moved since it was read: another watcher scanned these blocks",
                chain_id=chain_id,
                stream=stream,
                expected=None if expected_prev is None else expected_prev.height,
            )

    async def _fill_tracking_ids(
        self, conn: AsyncConnection, chain_id: ChainId, rows: dict[bytes, dict[str, Any]]
    ) -> None:
        """Messages of a transaction the API already tracks get its tracking id."""
        untracked = {r["src_tx_hash"] for r in rows.values() if r["tracking_id"] is None}
        if not untracked:
            return
        found = await conn.execute(
            select(_tracking.c.src_tx_hash, func.min(_tracking.c.tracking_id))
            .where(
                _tracking.c.src_chain_id == chain_id,
                _tracking.c.src_tx_hash.in_(untracked),
            )
            .group_by(_tracking.c.src_tx_hash)
        )
        by_tx = {bytes(tx): tid for tx, tid in found.all()}
        for r in rows.values():
            if r["tracking_id"] is None:
                r["tracking_id"] = by_tx.get(r["src_tx_hash"])


# --- value checks ------------------------------------------------------------------------------


def _check_stream(stream: str) -> None:
    # SQLite would keep a longer name that PostgreSQL refuses: refuse it on both alike.
    if not 0 < len(stream) <= STREAM_LEN:
        raise StoreError(f"stream name must be 1..{STREAM_LEN} characters", stream=stream)


# --- rows <-> records ----------------------------------------------------------------------------


def _message_row(item: NewMessage, at: datetime) -> dict[str, Any]:
    msg = item.message
    _check_int64(msg.dst_chain_id, "dst_chain_id")
    _check_int64(item.src_block_number, "src_block_number")
    if item.tracking_id is not None and not 0 < len(item.tracking_id) <= TRACKING_ID_LEN:
        raise StoreError("tracking id must be 1..100 characters", tracking_id=item.tracking_id)
    return {
        "id": item.id,
        "src_chain_id": msg.src_chain_id,
        "dst_chain_id": msg.dst_chain_id,
        "src_endpoint": msg.src_endpoint,
        "dst_endpoint": msg.dst_endpoint,
        "nonce": msg.nonce,
        "sender": msg.sender,
        "receiver": msg.receiver,
        "payload": msg.payload,
        "src_block_number": item.src_block_number,
        "src_block_hash": item.src_block_hash,
        "src_tx_hash": item.src_tx_hash,
        "src_tx_index": item.src_tx_index,
        "block_log_index": item.block_log_index,
        "receipt_log_index": item.receipt_log_index,
        "status": MessageStatus.FINAL.value,
        "reason": None,
        "attempts": 0,
        "next_attempt_at": at,
        "lease_owner": None,
        "lease_until": None,
        "delivery_tx_hash": None,
        "delivery_block_number": None,
        "tracking_id": item.tracking_id,
        "created_at": at,
        "updated_at": at,
    }


def _credit_message_events(
    rows: Mapping[bytes, Mapping[str, Any]], new_ids: Sequence[bytes], registry: Address | None
) -> list[tuple[EventKind, bytes, dict[str, Any]]]:
    """The ``credit`` events of the new messages the registry sent: only its own messages
    count (anyone may send a look-alike payload through the endpoint)."""
    if registry is None:
        return []
    events = []
    for mid in new_ids:
        row = rows[mid]
        if bytes(row["sender"]) != registry:
            continue
        try:
            payload = decode_payload(bytes(row["payload"]))
        except PayloadInvalid:
            continue
        where = {"chain_id": row["dst_chain_id"], "tx_hash": row["src_tx_hash"]}
        if isinstance(payload, CreditAttestation):
            att = attestation_id(
                chain_id=row["src_chain_id"],
                registry=registry,
                subject=payload.subject,
                issuer=payload.issuer,
                score=payload.score,
                grade=grade_bytes(payload.grade),
                valid_until=payload.valid_until,
                report_hash=payload.report_hash,
            )
            event = _credit_event(
                mid, CreditAction.PUBLISHED, subject=payload.subject, attestation=att,
                report_hash=payload.report_hash, issuer=payload.issuer,
                version=payload.version, **where,
            )  # fmt: skip
            events.append(event)
        elif isinstance(payload, CreditRevocation):
            event = _credit_event(
                mid, CreditAction.REVOKED, subject=payload.subject, issuer=payload.issuer,
                version=payload.version, **where,
            )  # fmt: skip
            events.append(event)
    return events
