"""The ``Store``'s message work queue (claims, leases, status transitions, operator retries) and
its message queries, the API's transfer list among them (docs/relayer.md §2, docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.messages import Message, MessageId, Nonce
from gateway.domain.status import (
    DONE_STATUSES,
    WAITING_STATUSES,
    InvalidTransition,
    LeaseSummary,
    MessageCursor,
    MessageRecord,
    MessageStatus,
    StatusChange,
    check_transition,
)
from gateway.store.base import (
    StoreBase,
    _check_int64,
    _check_limit,
    _check_owner,
    _enum,
    _history,
    _message_event,
    _messages,
)
from gateway.store.errors import LeaseLost, NotFound, StoreError
from gateway.store.point_reads import PointQuery

__all__ = ["MessagesMixin"]

MESSAGES_PAGE_MAX = 200

# The point reads (gateway/store/point_reads.py): the API's hot path.
_MESSAGE_BY_ID = PointQuery.of(select(_messages).where(_messages.c.id == bindparam("id")))
_HISTORY_OF = PointQuery.of(
    select(_history).where(_history.c.message_id == bindparam("id")).order_by(_history.c.id)
)

_MESSAGE_ORDER = (
    _messages.c.src_chain_id,
    _messages.c.src_block_number,
    _messages.c.block_log_index,
)


class MessagesMixin(StoreBase):
    """The message work queue and message queries."""

    # --- the message work queue ---------------------------------------------------------------

    async def claim_messages(
        self,
        owner: str,
        *,
        dst_chain_id: ChainId,
        statuses: Iterable[MessageStatus],
        limit: int,
        lease_s: float,
        src_chain_id: ChainId | None = None,
        now: datetime | None = None,
    ) -> list[MessageRecord]:
        """Lease up to ``limit`` messages to ``owner`` for ``lease_s`` seconds: those for
        ``dst_chain_id`` (and ``src_chain_id`` if given) in ``statuses`` that are due
        (``next_attempt_at <= now``) and not leased (no lease, or an expired one). Oldest source
        block and position first. Rows another claimer holds are skipped, never waited for."""
        _check_owner(owner)
        if lease_s <= 0:
            raise StoreError("lease_s must be > 0", lease_s=lease_s)
        wanted = [MessageStatus(s).value for s in statuses]
        if limit <= 0 or not wanted:
            return []
        at = self._now(now)
        until = at + timedelta(seconds=lease_s)
        m = _messages.c
        conditions = [
            m.status.in_(wanted),
            m.dst_chain_id == dst_chain_id,
            m.next_attempt_at <= at,
            or_(m.lease_until.is_(None), m.lease_until <= at),
        ]
        if src_chain_id is not None:
            conditions.append(m.src_chain_id == src_chain_id)
        async with self._tx("claim_messages") as conn:
            # SKIP LOCKED on PostgreSQL; SQLite renders no FOR UPDATE and relies on BEGIN
            # IMMEDIATE having made this the only writer.
            ids = (
                (
                    await conn.execute(
                        select(m.id)
                        .where(*conditions)
                        .order_by(*_MESSAGE_ORDER)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            claimed = (
                await conn.execute(
                    update(_messages)
                    .where(m.id.in_(ids))
                    .values(lease_owner=owner, lease_until=until, updated_at=at)
                    .returning(*_messages.c)
                )
            ).all()
        records = [_message_record(row) for row in claimed]
        records.sort(key=lambda r: (r.src_chain_id, r.src_block_number, r.block_log_index))
        return records

    async def transition(
        self,
        message_id: MessageId,
        owner: str,
        new_status: MessageStatus,
        *,
        reason: str | None = None,
        tx_hash: TxHash | None = None,
        block_number: Height | None = None,
        retry_at: datetime | None = None,
        detail: str | None = None,
        now: datetime | None = None,
    ) -> MessageRecord:
        """Move a message ``owner`` holds the lease of to ``new_status`` and record the change.

        ``LeaseLost`` when the lease is someone else's (or was released); ``InvalidTransition``
        when the lifecycle does not allow the change. ``submitted`` needs the delivery
        ``tx_hash`` and counts an attempt; ``parked`` needs a ``reason``; ``delivered`` records
        ``tx_hash`` / ``block_number``; back to ``header_ready`` forgets the delivery transaction.
        The message is due again at ``retry_at`` (default: now). Reaching ``delivered``,
        ``already_delivered`` or ``parked`` ends the lease; otherwise the owner keeps it.
        """
        [record] = await self.transition_many(
            [message_id], owner, new_status, reason=reason, tx_hash=tx_hash,
            block_number=block_number, retry_at=retry_at, detail=detail, now=now,
        )  # fmt: skip
        return record

    async def transition_many(
        self,
        message_ids: Sequence[MessageId],
        owner: str,
        new_status: MessageStatus,
        *,
        reason: str | None = None,
        tx_hash: TxHash | None = None,
        block_number: Height | None = None,
        retry_at: datetime | None = None,
        detail: str | None = None,
        now: datetime | None = None,
    ) -> list[MessageRecord]:
        """``transition`` of several messages (a delivered batch) in ONE store transaction, all
        or nothing: one commit instead of one per message is what lets a relayer keep up with
        batches of dozens. Records in the order of ``message_ids``."""
        new_status = MessageStatus(new_status)
        at = self._now(now)
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return []
        first = wanted[0]
        if new_status is MessageStatus.SUBMITTED and tx_hash is None:
            raise InvalidTransition(
                "a submitted message needs its delivery tx_hash", message_id=first
            )
        if new_status is MessageStatus.PARKED and not reason:
            raise InvalidTransition("a parked message needs a reason", message_id=first)
        m = _messages.c
        values: dict[str, Any] = {
            "status": new_status.value,
            "reason": reason,
            "next_attempt_at": self._now(retry_at) if retry_at is not None else at,
            "updated_at": at,
        }
        if new_status is MessageStatus.SUBMITTED:
            values["attempts"] = m.attempts + 1
            values["delivery_tx_hash"] = tx_hash
            values["delivery_block_number"] = None
        elif new_status is MessageStatus.HEADER_READY:
            values["delivery_tx_hash"] = None
            values["delivery_block_number"] = None
        else:
            if tx_hash is not None:
                values["delivery_tx_hash"] = tx_hash
            if block_number is not None:
                values["delivery_block_number"] = _check_int64(block_number, "block_number")
        if new_status in DONE_STATUSES or new_status is MessageStatus.PARKED:
            values["lease_owner"] = None
            values["lease_until"] = None
        async with self._tx("transition") as conn:
            # Rows locked in id order: two claimers never wait on each other in a cycle.
            rows = {
                bytes(row.id): row
                for row in (
                    await conn.execute(
                        select(_messages).where(m.id.in_(wanted)).order_by(m.id).with_for_update()
                    )
                ).all()
            }
            old: dict[bytes, MessageStatus] = {}
            for mid in wanted:
                row = rows.get(mid)
                if row is None:
                    raise NotFound("no such message", what="message", message_id=mid)
                self._check_lease(row, owner, mid)
                old[mid] = MessageStatus(row.status)
                check_transition(old[mid], new_status, message_id=mid)
            updated = {
                bytes(row.id): row
                for row in (
                    await conn.execute(
                        update(_messages)
                        .where(m.id.in_(wanted))
                        .values(**values)
                        .returning(*_messages.c)
                    )
                ).all()
            }
            await conn.execute(
                _history.insert(),
                [
                    {
                        "message_id": mid,
                        "old_status": old[mid].value,
                        "new_status": new_status.value,
                        "owner": owner,
                        "at": at,
                        "detail": detail if detail is not None else reason,
                        "tx_hash": tx_hash,
                    }
                    for mid in wanted
                ],
            )
            await self._append_events(
                conn,
                [
                    _message_event(
                        updated[mid]._mapping,
                        old[mid],
                        new_status,
                        tx_hash=tx_hash if tx_hash is not None else updated[mid].delivery_tx_hash,
                        detail=detail if detail is not None else reason,
                    )
                    for mid in wanted
                ],
                at,
            )
        return [_message_record(updated[mid]) for mid in wanted]

    async def operator_retry(
        self,
        message_id: MessageId,
        *,
        operator: str = "operator",
        detail: str | None = None,
        now: datetime | None = None,
    ) -> MessageRecord:
        """Move a parked message back to ``header_ready`` (an operator decided its reason is
        gone): due now, attempts reset, no lease needed. Any other status is
        ``InvalidTransition``."""
        at = self._now(now)
        async with self._tx("operator_retry") as conn:
            row = await self._message_for_update(conn, message_id)
            old = MessageStatus(row.status)
            check_transition(old, MessageStatus.HEADER_READY, operator=True, message_id=message_id)
            updated = (
                await conn.execute(
                    update(_messages)
                    .where(_messages.c.id == message_id)
                    .values(
                        status=MessageStatus.HEADER_READY.value,
                        reason=None,
                        attempts=0,
                        next_attempt_at=at,
                        lease_owner=None,
                        lease_until=None,
                        delivery_tx_hash=None,
                        delivery_block_number=None,
                        updated_at=at,
                    )
                    .returning(*_messages.c)
                )
            ).one()
            note = detail or f"operator retry (was parked: {row.reason})"
            await conn.execute(
                _history.insert().values(
                    message_id=message_id,
                    old_status=old.value,
                    new_status=MessageStatus.HEADER_READY.value,
                    owner=operator,
                    at=at,
                    detail=note,
                    tx_hash=None,
                )
            )
            await self._append_events(
                conn,
                [
                    _message_event(
                        updated._mapping, old, MessageStatus.HEADER_READY, tx_hash=None, detail=note
                    )
                ],
                at,
            )
        return _message_record(updated)

    async def defer(
        self,
        message_id: MessageId,
        owner: str,
        retry_at: datetime,
        *,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> MessageRecord:
        """A try failed retryably: keep the status, count the attempt, note ``reason``, make the
        message due at ``retry_at`` and end ``owner``'s lease. No history row (no status
        change). ``LeaseLost`` when the lease is not ``owner``'s."""
        at = self._now(now)
        async with self._tx("defer") as conn:
            row = await self._message_for_update(conn, message_id)
            self._check_lease(row, owner, message_id)
            updated = (
                await conn.execute(
                    update(_messages)
                    .where(_messages.c.id == message_id)
                    .values(
                        attempts=_messages.c.attempts + 1,
                        reason=reason,
                        next_attempt_at=self._now(retry_at),
                        lease_owner=None,
                        lease_until=None,
                        updated_at=at,
                    )
                    .returning(*_messages.c)
                )
            ).one()
        return _message_record(updated)

    async def renew_leases(
        self,
        owner: str,
        ids: Iterable[MessageId],
        lease_s: float,
        *,
        now: datetime | None = None,
    ) -> list[MessageId]:
        """Extend ``owner``'s leases by ``lease_s`` from now; returns the ids still held (the
        others were taken over: stop working on them)."""
        wanted = list(ids)
        if not wanted:
            return []
        at = self._now(now)
        async with self._tx("renew_leases") as conn:
            renewed = (
                await conn.execute(
                    update(_messages)
                    .where(_messages.c.id.in_(wanted), _messages.c.lease_owner == owner)
                    .values(lease_until=at + timedelta(seconds=lease_s), updated_at=at)
                    .returning(_messages.c.id)
                )
            ).scalars()
            held = {bytes(mid) for mid in renewed}
        return [mid for mid in wanted if mid in held]

    async def release(
        self,
        owner: str,
        ids: Iterable[MessageId],
        *,
        retry_at: datetime | None = None,
        now: datetime | None = None,
    ) -> int:
        """End ``owner``'s leases on ``ids`` (others' leases are untouched); returns how many.
        With ``retry_at`` the messages are due again only then (no attempt counted, no
        history: waiting is not a failure)."""
        wanted = list(ids)
        if not wanted:
            return 0
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if retry_at is not None:
            values["next_attempt_at"] = self._now(retry_at)
            values["updated_at"] = self._now(now)
        async with self._tx("release") as conn:
            result = await conn.execute(
                update(_messages)
                .where(_messages.c.id.in_(wanted), _messages.c.lease_owner == owner)
                .values(**values)
                .returning(_messages.c.id)
            )
            return len(result.all())

    async def _message_for_update(self, conn: AsyncConnection, message_id: MessageId) -> Row[Any]:
        row = (
            await conn.execute(
                select(_messages).where(_messages.c.id == message_id).with_for_update()
            )
        ).first()
        if row is None:
            raise NotFound("no such message", what="message", message_id=message_id)
        return row

    @staticmethod
    def _check_lease(row: Row[Any], owner: str, message_id: MessageId) -> None:
        if row.lease_owner != owner:
            raise LeaseLost(
                "message lease is not held by this owner",
                message_id=message_id,
                owner=owner,
                holder=row.lease_owner,
                lease_until=row.lease_until,
            )

    # --- message queries ----------------------------------------------------------------------

    async def message(self, message_id: MessageId) -> MessageRecord | None:
        rows = await self._point_rows("message", _MESSAGE_BY_ID, id=message_id)
        return _message_record(rows[0]) if rows else None

    async def history(self, message_id: MessageId) -> list[StatusChange]:
        """Every status change of the message, oldest first."""
        rows = await self._point_rows("history", _HISTORY_OF, id=message_id)
        return [
            StatusChange(
                seq=row.id,
                message_id=MessageId(bytes(row.message_id)),
                old_status=None if row.old_status is None else MessageStatus(row.old_status),
                new_status=MessageStatus(row.new_status),
                at=row.at,
                owner=row.owner,
                detail=row.detail,
                tx_hash=None if row.tx_hash is None else TxHash(bytes(row.tx_hash)),
            )
            for row in rows
        ]

    async def messages_by_tx(self, src_chain_id: ChainId, tx_hash: TxHash) -> list[MessageRecord]:
        """The messages one source transaction sent, in log order."""
        m = _messages.c
        return await self._messages_where(
            "messages_by_tx", m.src_chain_id == src_chain_id, m.src_tx_hash == tx_hash
        )

    async def messages_in(
        self, statuses: Iterable[MessageStatus], *, limit: int = 100
    ) -> list[MessageRecord]:
        """Messages in any of ``statuses``, oldest source block first (an operator's list of
        parked messages, a queue's head)."""
        wanted = [MessageStatus(s).value for s in statuses]
        async with self._tx("messages_in", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_messages)
                    .where(_messages.c.status.in_(wanted))
                    .order_by(*_MESSAGE_ORDER)
                    .limit(limit)
                )
            ).all()
        return [_message_record(row) for row in rows]

    async def message_leases(
        self, now: datetime, *, expired_within: timedelta = timedelta(0)
    ) -> list[LeaseSummary]:
        """The leases on undelivered messages (``WAITING_STATUSES``) by owner, in owner order:
        how many messages each owner holds and the latest of their ``lease_until``. A lease
        counts while it is live at ``now`` or expired less than ``expired_within`` before (an
        expired lease stays on its message until another relayer claims it). One query."""
        if not isinstance(expired_within, timedelta) or expired_within < timedelta(0):
            raise StoreError("expired_within must be a timedelta >= 0", field="expired_within")
        since = self._now(now) - expired_within
        m = _messages.c
        query = (
            select(m.lease_owner, func.count(), func.max(m.lease_until))
            .where(
                m.status.in_([s.value for s in WAITING_STATUSES]),
                m.lease_owner.is_not(None),
                m.lease_until >= since,
            )
            .group_by(m.lease_owner)
            .order_by(m.lease_owner)
        )
        async with self._tx("message_leases", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [LeaseSummary(owner, int(n), until) for owner, n, until in rows]

    async def messages_by_tracking(self, tracking_id: str) -> list[MessageRecord]:
        return await self._messages_where(
            "messages_by_tracking", _messages.c.tracking_id == tracking_id
        )

    async def _messages_where(self, op: str, *conditions: Any) -> list[MessageRecord]:
        async with self._tx(op, write=False) as conn:
            rows = (
                await conn.execute(select(_messages).where(*conditions).order_by(*_MESSAGE_ORDER))
            ).all()
        return [_message_record(row) for row in rows]

    async def count_by_status(self) -> dict[tuple[ChainId, MessageStatus], int]:
        """Messages per (destination chain, status)."""
        m = _messages.c
        async with self._tx("count_by_status", write=False) as conn:
            rows = (
                await conn.execute(
                    select(m.dst_chain_id, m.status, func.count()).group_by(
                        m.dst_chain_id, m.status
                    )
                )
            ).all()
        return {(ChainId(dst), MessageStatus(status)): int(n) for dst, status, n in rows}

    async def count_by_route(self) -> dict[tuple[ChainId, ChainId, MessageStatus], int]:
        """Messages per (source chain, destination chain, status)."""
        m = _messages.c
        async with self._tx("count_by_route", write=False) as conn:
            rows = (
                await conn.execute(
                    select(m.src_chain_id, m.dst_chain_id, m.status, func.count()).group_by(
                        m.src_chain_id, m.dst_chain_id, m.status
                    )
                )
            ).all()
        return {
            (ChainId(src), ChainId(dst), MessageStatus(status)): int(n)
            for src, dst, status, n in rows
        }

    async def oldest_waiting(self, dst_chain_id: ChainId) -> MessageRecord | None:
        """The longest-waiting message for ``dst_chain_id`` that still needs work (``final``,
        ``header_ready`` or ``submitted``): the queue's age."""
        m = _messages.c
        async with self._tx("oldest_waiting", write=False) as conn:
            row = (
                await conn.execute(
                    select(_messages)
                    .where(
                        m.dst_chain_id == dst_chain_id,
                        m.status.in_([s.value for s in WAITING_STATUSES]),
                    )
                    .order_by(m.created_at, *_MESSAGE_ORDER)
                    .limit(1)
                )
            ).first()
        return None if row is None else _message_record(row)

    # --- the API's transfer list --------------------------------------------------------------

    async def messages_page(
        self,
        *,
        src_chain_id: ChainId | None = None,
        dst_chain_id: ChainId | None = None,
        statuses: Iterable[MessageStatus] | None = None,
        after: MessageCursor | None = None,
        limit: int = 50,
    ) -> tuple[list[MessageRecord], MessageCursor | None]:
        """One page of messages, newest first ((created_at, id) descending), filtered by
        source chain, destination chain and statuses, starting after ``after`` (the previous
        page's cursor). Returns the page and the cursor of the next one, None at the end.
        Keyset pages: messages recorded meanwhile never shift or repeat a later page."""
        _check_limit(limit, MESSAGES_PAGE_MAX)
        m = _messages.c
        conditions: list[Any] = []
        if src_chain_id is not None:
            conditions.append(m.src_chain_id == _check_int64(src_chain_id, "src_chain_id"))
        if dst_chain_id is not None:
            conditions.append(m.dst_chain_id == _check_int64(dst_chain_id, "dst_chain_id"))
        if statuses is not None:
            wanted = [_enum(MessageStatus, s, "statuses").value for s in statuses]
            if not wanted:
                return [], None
            conditions.append(m.status.in_(wanted))
        if after is not None:
            if not isinstance(after, MessageCursor):
                raise StoreError("after must be a MessageCursor", after=after)
            conditions.append(
                tuple_(m.created_at, m.id)
                < tuple_(
                    literal(self._now(after.created_at), m.created_at.type),
                    literal(after.id, m.id.type),
                )
            )
        async with self._tx("messages_page", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_messages)
                    .where(*conditions)
                    .order_by(m.created_at.desc(), m.id.desc())
                    .limit(limit + 1)
                )
            ).all()
        page = [_message_record(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return page, None
        last = page[-1]
        return page, MessageCursor(last.created_at, last.id)


# --- rows <-> records ----------------------------------------------------------------------------


def _message_record(row: Row[Any]) -> MessageRecord:
    message = Message(
        src_chain_id=ChainId(row.src_chain_id),
        src_endpoint=Address(bytes(row.src_endpoint)),
        nonce=Nonce(row.nonce),
        dst_chain_id=ChainId(row.dst_chain_id),
        dst_endpoint=Address(bytes(row.dst_endpoint)),
        sender=Address(bytes(row.sender)),
        receiver=Address(bytes(row.receiver)),
        payload=bytes(row.payload),
    )
    return MessageRecord(
        id=MessageId(bytes(row.id)),
        message=message,
        src_block_number=Height(row.src_block_number),
        src_block_hash=Hash32(bytes(row.src_block_hash)),
        src_tx_hash=TxHash(bytes(row.src_tx_hash)),
        src_tx_index=row.src_tx_index,
        block_log_index=row.block_log_index,
        receipt_log_index=row.receipt_log_index,
        status=MessageStatus(row.status),
        reason=row.reason,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        delivery_tx_hash=None
        if row.delivery_tx_hash is None
        else TxHash(bytes(row.delivery_tx_hash)),
        delivery_block_number=(
            None if row.delivery_block_number is None else Height(row.delivery_block_number)
        ),
        tracking_id=row.tracking_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
