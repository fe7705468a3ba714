"""The ``Store``'s webhooks and their deliveries (docs/api.md §3)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Row, or_, select, tuple_, update

from gateway.domain.events import DeliveryState, EventKind, Webhook, WebhookDelivery, WebhookDue
from gateway.store.base import (
    _EVENTS_PAGE_MAX,
    StoreBase,
    _api_keys,
    _check_count,
    _check_int64,
    _check_key_id,
    _check_limit,
    _check_owner,
    _check_text,
    _deliveries,
    _enum,
    _event_record,
    _events,
    _join_set,
    _split_set,
    _webhooks,
)
from gateway.store.errors import LeaseLost, NotDeadLettered, NotFound, StoreError
from gateway.store.models import URL_LEN, WEBHOOK_SECRET_LEN

__all__ = ["WebhooksMixin"]

_DELIVERY_ERROR_LEN = 2000


class WebhooksMixin(StoreBase):
    """Webhooks and their deliveries."""

    # --- webhooks -------------------------------------------------------------------------------

    async def create_webhook(
        self,
        key_id: str,
        url: str,
        secret: str,
        kinds: Iterable[EventKind],
        *,
        now: datetime | None = None,
    ) -> Webhook:
        """Register ``url`` (http or https) for the events of ``kinds`` committed from now on,
        signed with ``secret`` (16-256 printable characters). ``NotFound`` for an unknown or
        revoked key."""
        _check_key_id(key_id)
        _check_url(url)
        _check_text(secret, WEBHOOK_SECRET_LEN, "secret", min_len=16)
        wanted = frozenset(_enum(EventKind, k, "kinds") for k in kinds)
        if not wanted:
            raise StoreError("a webhook needs at least one event kind", field="kinds")
        at = self._now(now)
        k = _api_keys.c
        async with self._tx("create_webhook") as conn:
            owner = (
                await conn.execute(
                    select(k.key_id).where(k.key_id == key_id, k.revoked_at.is_(None))
                )
            ).first()
            if owner is None:
                raise NotFound("no such active API key", what="api_key", key_id=key_id)
            row = (
                await conn.execute(
                    _webhooks.insert()
                    .values(
                        key_id=key_id,
                        url=url,
                        secret=secret,
                        kinds=_join_set(wanted),
                        created_at=at,
                        disabled_at=None,
                    )
                    .returning(*_webhooks.c)
                )
            ).one()
        return _webhook_record(row)

    async def webhook(self, webhook_id: int) -> Webhook | None:
        _check_int64(webhook_id, "webhook_id")
        async with self._tx("webhook", write=False) as conn:
            row = (
                await conn.execute(select(_webhooks).where(_webhooks.c.id == webhook_id))
            ).first()
        return None if row is None else _webhook_record(row)

    async def webhooks(self, key_id: str | None = None) -> list[Webhook]:
        """Every webhook (of ``key_id``, if given), oldest first."""
        query = select(_webhooks).order_by(_webhooks.c.id)
        if key_id is not None:
            _check_key_id(key_id)
            query = query.where(_webhooks.c.key_id == key_id)
        async with self._tx("webhooks", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_webhook_record(row) for row in rows]

    async def disable_webhook(self, webhook_id: int, *, now: datetime | None = None) -> Webhook:
        """Stop the webhook: no new deliveries, and its pending ones are not claimed any more.
        Disabling it again changes nothing. ``NotFound`` for an unknown webhook."""
        _check_int64(webhook_id, "webhook_id")
        at = self._now(now)
        w = _webhooks.c
        async with self._tx("disable_webhook") as conn:
            row = (
                await conn.execute(
                    update(_webhooks)
                    .where(w.id == webhook_id, w.disabled_at.is_(None))
                    .values(disabled_at=at)
                    .returning(*_webhooks.c)
                )
            ).first()
            if row is None:
                row = (await conn.execute(select(_webhooks).where(w.id == webhook_id))).first()
        if row is None:
            raise NotFound("no such webhook", what="webhook", webhook_id=webhook_id)
        return _webhook_record(row)

    async def claim_deliveries(
        self, owner: str, *, limit: int, lease_s: float, now: datetime | None = None
    ) -> list[WebhookDue]:
        """Lease up to ``limit`` due deliveries (pending, ``next_at <= now``, no live lease, of
        an enabled webhook) to ``owner`` for ``lease_s`` seconds, with their webhook and event.
        Earliest due first; rows another dispatcher holds are skipped, never waited for."""
        _check_owner(owner)
        if not (isinstance(lease_s, int | float) and math.isfinite(lease_s) and lease_s > 0):
            raise StoreError("lease_s must be > 0", lease_s=lease_s)
        _check_limit(limit, _EVENTS_PAGE_MAX)
        at = self._now(now)
        d = _deliveries.c
        async with self._tx("claim_deliveries") as conn:
            keys = (
                await conn.execute(
                    select(d.webhook_id, d.event_id)
                    .join(_webhooks, _webhooks.c.id == d.webhook_id)
                    .where(
                        d.state == DeliveryState.PENDING.value,
                        d.next_at <= at,
                        or_(d.lease_until.is_(None), d.lease_until <= at),
                        _webhooks.c.disabled_at.is_(None),
                    )
                    .order_by(d.next_at, d.event_id, d.webhook_id)
                    .limit(limit)
                    .with_for_update(of=_deliveries, skip_locked=True)
                )
            ).all()
            if not keys:
                return []
            pairs = [(k.webhook_id, k.event_id) for k in keys]
            claimed = (
                await conn.execute(
                    update(_deliveries)
                    .where(tuple_(d.webhook_id, d.event_id).in_(pairs))
                    .values(
                        lease_owner=owner,
                        lease_until=at + timedelta(seconds=lease_s),
                        updated_at=at,
                    )
                    .returning(*_deliveries.c)
                )
            ).all()
            hooks = {
                row.id: _webhook_record(row)
                for row in (
                    await conn.execute(
                        select(_webhooks).where(_webhooks.c.id.in_({p[0] for p in pairs}))
                    )
                ).all()
            }
            events = {
                row.id: _event_record(row)
                for row in (
                    await conn.execute(
                        select(_events).where(_events.c.id.in_({p[1] for p in pairs}))
                    )
                ).all()
            }
        due = [
            WebhookDue(_delivery_record(row), hooks[row.webhook_id], events[row.event_id])
            for row in claimed
        ]
        due.sort(key=lambda x: (x.delivery.next_at, x.delivery.event_id, x.delivery.webhook_id))
        return due

    async def record_delivery_success(
        self, webhook_id: int, event_id: int, owner: str, *, now: datetime | None = None
    ) -> WebhookDelivery:
        """The receiver acknowledged the delivery ``owner`` holds: ``delivered``, lease ended.
        ``LeaseLost`` when the lease is someone else's."""
        return await self._finish_delivery(
            "record_delivery_success", webhook_id, event_id, owner, now,
            lambda row: {"state": DeliveryState.DELIVERED.value},
        )  # fmt: skip

    async def record_delivery_failure(
        self,
        webhook_id: int,
        event_id: int,
        owner: str,
        error: str,
        *,
        retry_at: datetime,
        max_attempts: int,
        now: datetime | None = None,
    ) -> WebhookDelivery:
        """A post of the delivery ``owner`` holds failed with ``error``: the attempt is counted
        and the delivery is due again at ``retry_at`` (the caller's backoff), or dead-lettered
        once ``max_attempts`` attempts failed. The lease ends either way. ``LeaseLost`` when
        the lease is someone else's."""
        if not isinstance(error, str) or not error:
            raise StoreError("a failed delivery needs its error", field="error")
        _check_count(max_attempts, 1, 1000, "max_attempts")
        retry = self._now(retry_at)

        def values(row: Row[Any]) -> dict[str, Any]:
            attempts = row.attempts + 1
            dead = attempts >= max_attempts
            return {
                "attempts": attempts,
                "state": (DeliveryState.DEAD if dead else DeliveryState.PENDING).value,
                "next_at": row.next_at if dead else retry,
                "last_error": error[:_DELIVERY_ERROR_LEN],
            }

        return await self._finish_delivery(
            "record_delivery_failure", webhook_id, event_id, owner, now, values
        )

    async def _finish_delivery(
        self,
        op: str,
        webhook_id: int,
        event_id: int,
        owner: str,
        now: datetime | None,
        values: Callable[[Row[Any]], dict[str, Any]],
    ) -> WebhookDelivery:
        _check_int64(webhook_id, "webhook_id")
        _check_int64(event_id, "event_id")
        _check_owner(owner)
        at = self._now(now)
        d = _deliveries.c
        key = (d.webhook_id == webhook_id, d.event_id == event_id)
        async with self._tx(op) as conn:
            row = (await conn.execute(select(_deliveries).where(*key).with_for_update())).first()
            if row is None:
                raise NotFound(
                    "no such delivery", what="delivery", webhook_id=webhook_id, event_id=event_id
                )
            if row.lease_owner != owner or row.state != DeliveryState.PENDING.value:
                raise LeaseLost(
                    "delivery lease is not held by this owner",
                    webhook_id=webhook_id, event_id=event_id, owner=owner,
                    holder=row.lease_owner, state=row.state,
                )  # fmt: skip
            updated = (
                await conn.execute(
                    update(_deliveries)
                    .where(*key)
                    .values(**values(row), lease_owner=None, lease_until=None, updated_at=at)
                    .returning(*_deliveries.c)
                )
            ).one()
        return _delivery_record(updated)

    async def dead_deliveries(
        self, *, webhook_id: int | None = None, limit: int = 100
    ) -> list[WebhookDelivery]:
        """Dead-lettered deliveries (of ``webhook_id``, if given), oldest event first."""
        _check_limit(limit, _EVENTS_PAGE_MAX)
        d = _deliveries.c
        query = select(_deliveries).where(d.state == DeliveryState.DEAD.value)
        if webhook_id is not None:
            query = query.where(d.webhook_id == _check_int64(webhook_id, "webhook_id"))
        async with self._tx("dead_deliveries", write=False) as conn:
            rows = (await conn.execute(query.order_by(d.event_id, d.webhook_id).limit(limit))).all()
        return [_delivery_record(row) for row in rows]

    async def delivery(self, webhook_id: int, event_id: int) -> WebhookDelivery | None:
        _check_int64(webhook_id, "webhook_id")
        _check_int64(event_id, "event_id")
        d = _deliveries.c
        async with self._tx("delivery", write=False) as conn:
            row = (
                await conn.execute(
                    select(_deliveries).where(d.webhook_id == webhook_id, d.event_id == event_id)
                )
            ).first()
        return None if row is None else _delivery_record(row)

    async def replay_delivery(
        self, webhook_id: int, event_id: int, *, now: datetime | None = None
    ) -> WebhookDelivery:
        """An operator sends a dead-lettered delivery again: pending, due now, attempts reset
        (its last error is kept until the next attempt). ``NotFound`` for an unknown delivery,
        ``NotDeadLettered`` for one that is not dead."""
        _check_int64(webhook_id, "webhook_id")
        _check_int64(event_id, "event_id")
        at = self._now(now)
        d = _deliveries.c
        key = (d.webhook_id == webhook_id, d.event_id == event_id)
        async with self._tx("replay_delivery") as conn:
            row = (
                await conn.execute(
                    update(_deliveries)
                    .where(*key, d.state == DeliveryState.DEAD.value)
                    .values(
                        state=DeliveryState.PENDING.value,
                        attempts=0,
                        next_at=at,
                        lease_owner=None,
                        lease_until=None,
                        updated_at=at,
                    )
                    .returning(*_deliveries.c)
                )
            ).first()
            if row is None:
                found = (await conn.execute(select(d.state).where(*key))).first()
                if found is None:
                    raise NotFound(
                        "no such delivery",
                        what="delivery", webhook_id=webhook_id, event_id=event_id,
                    )  # fmt: skip
                raise NotDeadLettered(
                    "only a dead-lettered delivery can be replayed",
                    webhook_id=webhook_id, event_id=event_id, state=found.state,
                )  # fmt: skip
        return _delivery_record(row)


# --- value checks ------------------------------------------------------------------------------


def _check_url(url: str) -> None:
    if not isinstance(url, str) or not 0 < len(url) <= URL_LEN or not url.isprintable():
        raise StoreError(f"a webhook url is 1..{URL_LEN} printable characters", field="url")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError("a webhook url is an absolute http(s) url", field="url")
    if " " in url or parts.fragment:
        raise StoreError("a webhook url has no spaces and no fragment", field="url")


# --- rows <-> records ----------------------------------------------------------------------------


def _webhook_record(row: Row[Any]) -> Webhook:
    return Webhook(
        id=int(row.id),
        key_id=row.key_id,
        url=row.url,
        secret=row.secret,
        kinds=frozenset(EventKind(k) for k in _split_set(row.kinds)),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _delivery_record(row: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=int(row.webhook_id),
        event_id=int(row.event_id),
        state=DeliveryState(row.state),
        attempts=int(row.attempts),
        next_at=row.next_at,
        last_error=row.last_error,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
