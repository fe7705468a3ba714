"""What clients of the gateway API can watch (docs/api.md §3): the store's event log and the
webhooks that push it.

Every message status change, swap state change and credit attestation step (``CreditAction``)
is appended to the store's ``events`` table in the transaction of the change, under a serial id
that orders them: a reader that saw id N never later finds an id below N. Events older than the
retention are pruned, except those a pending webhook delivery still needs. Webhooks get each event of their kinds as a delivery that a
dispatcher posts, retries with backoff and, after the last attempt, dead-letters.

Pure records and values (style rule 4); ``gateway.store`` persists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "CreditAction",
    "DeliveryState",
    "Event",
    "EventKind",
    "Webhook",
    "WebhookDelivery",
    "WebhookDue",
]


class EventKind(StrEnum):
    MESSAGE = "message"
    """A message's status changed (``ref``: the message id); ``data["status"]`` is the new
    one, ``data["old_status"]`` the one before (null when the watcher first recorded it)."""
    SWAP = "swap"
    """A swap was recorded or its state changed (``ref``: the swap id); ``data["state"]``."""
    CREDIT = "credit"
    """A credit attestation step (``data["action"]``, a ``CreditAction``): ``ref`` is the
    attestation id (``issued``) or the id of the message carrying it to a mirror chain
    (``published``, ``revoked``)."""


class CreditAction(StrEnum):
    """What happened to a credit attestation, as the gateway's store sees it."""

    ISSUED = "issued"
    """Its sealed report was stored (the ``attest`` transaction is the issuer's to send)."""
    PUBLISHED = "published"
    """The registry sent it to a mirror chain (a ``publish`` transaction was mined and its
    message recorded final on the consortium)."""
    REVOKED = "revoked"
    """The registry sent its revocation to a mirror chain (a ``revoke`` was mined: one event
    per mirror chain)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event log. ``data`` is small JSON: the new status or state, the chains,
    the transaction hash where known (``0x`` hex), a detail."""

    id: int
    kind: EventKind
    ref: bytes
    data: Mapping[str, Any]
    created_at: datetime


class DeliveryState(StrEnum):
    PENDING = "pending"
    """To be posted (again) at ``next_at``."""
    DELIVERED = "delivered"
    """The receiver acknowledged it."""
    DEAD = "dead"
    """Every attempt failed: kept for an operator, who may replay it."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """A URL a key registered to receive the events of ``kinds``. ``secret`` signs each post
    (HMAC-SHA256); it is never shown in ``repr``. Disabled webhooks get no new deliveries."""

    id: int
    key_id: str
    url: str
    secret: str = field(repr=False)
    kinds: frozenset[EventKind]
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for one webhook. ``attempts`` counts failed posts; ``lease_owner`` /
    ``lease_until`` say which dispatcher posts it now."""

    webhook_id: int
    event_id: int
    state: DeliveryState
    attempts: int
    next_at: datetime
    last_error: str | None
    lease_owner: str | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookDue:
    """A claimed delivery with what posting it needs: the webhook and the event."""

    delivery: WebhookDelivery
    webhook: Webhook
    event: Event
