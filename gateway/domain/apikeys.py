"""API keys and what the gateway API keeps per key (docs/api.md §2): scopes, the bearer token's
format, and the idempotency of POSTs.

A key is shown once, as ``xg_<key_id>_<secret>``; the store keeps ``sha256(secret)`` only.
``key_id`` is lowercase hex (no ``_``), so the token splits unambiguously even though the
secret (url-safe base64) may contain ``_``.

Pure records and values (style rule 4); ``gateway.store`` persists them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from adapters.types import Address

__all__ = [
    "ACCOUNT_SCOPES",
    "SIGNING_SCOPES",
    "ApiKey",
    "CreatedApiKey",
    "IdempotencyAnswer",
    "IdempotencyOutcome",
    "Scope",
    "format_api_key",
    "parse_api_key",
]

TOKEN_PREFIX = "xg"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class Scope(StrEnum):
    READ = "read"
    """Every GET except the operator's."""
    DAPP = "dapp"
    """``read`` + quotes, transactions, swaps, webhooks."""
    ISSUER = "issuer"
    """``read`` + credit attestations (signed requests), as the key's ``chain_account`` only."""
    OPERATOR = "operator"
    """Everything, ``/v1/operator/*`` included (signed requests)."""


# Scopes whose state-changing requests are signed with the key's Ed25519 key: a key with one of
# them must have a public key.
SIGNING_SCOPES: frozenset[Scope] = frozenset({Scope.ISSUER, Scope.OPERATOR})
# Scopes that act as one on-chain account: a key with one of them must name it (chain_account).
ACCOUNT_SCOPES: frozenset[Scope] = frozenset({Scope.ISSUER})


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key, without its secret. ``rate_per_s`` / ``burst`` are its token bucket.
    ``chain_account``: the EVM account (20 bytes) the key acts as: the account an ``issuer``
    key's credit transactions are built for (required for that scope since 0006; a key made
    before has None and is refused until bound); any other key may name one or not."""

    key_id: str
    name: str
    scopes: frozenset[Scope]
    ed25519_public_key: bytes | None
    rate_per_s: float
    burst: int
    created_at: datetime
    revoked_at: datetime | None
    chain_account: Address | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """A new key and its bearer token, which exists only here: the store keeps its hash."""

    api_key: ApiKey
    token: str = field(repr=False)


def format_api_key(key_id: str, secret: str) -> str:
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def parse_api_key(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed token, None otherwise."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not _KEY_ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        return None
    return key_id, secret


class IdempotencyOutcome(StrEnum):
    NEW = "new"
    """First time the key is seen (or its last answer expired): run the request, then
    ``finish_idempotent``."""
    IN_PROGRESS = "in_progress"
    """A request with this key is still running (409)."""
    MISMATCH = "mismatch"
    """The key was used with another body (422)."""
    DONE = "done"
    """Answer again with the stored ``status``, ``response`` and ``headers``."""


@dataclass(frozen=True, slots=True)
class IdempotencyAnswer:
    """What ``begin_idempotent`` found. ``status`` / ``response`` are set for ``DONE`` only;
    ``headers`` too, except for answers stored before they were kept (None: the caller
    answers with its defaults)."""

    outcome: IdempotencyOutcome
    status: int | None = None
    response: bytes | None = None
    headers: Mapping[str, str] | None = None
