"""The ``Store``'s API keys, signed requests' nonces and idempotent POSTs (docs/api.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import Row, Table, bindparam, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.types import Address
from gateway.domain.apikeys import (
    ACCOUNT_SCOPES,
    SIGNING_SCOPES,
    ApiKey,
    CreatedApiKey,
    IdempotencyAnswer,
    IdempotencyOutcome,
    Scope,
    format_api_key,
    parse_api_key,
)
from gateway.store.base import (
    _KEY_ID,
    StoreBase,
    _api_keys,
    _check_count,
    _check_digest,
    _check_key_id,
    _check_text,
    _dump_json,
    _enum,
    _join_set,
    _opt_bytes,
    _split_set,
    _webhooks,
)
from gateway.store.errors import NotFound, StoreError, ValueOutOfRange
from gateway.store.models import IDEM_KEY_LEN, KEY_NAME_LEN, metadata
from gateway.store.point_reads import PointQuery

__all__ = ["ApiKeysMixin"]

_nonces: Table = metadata.tables["request_nonces"]
_idem: Table = metadata.tables["idempotency"]

_IDEM_RESPONSE_MAX = 1024 * 1024
_IDEM_HEADERS_MAX = 64 * 1024  # an answer's headers, as stored (JSON)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110 §5.1)
_PRUNE_BATCH = 500  # expired nonces / idempotent answers removed per call, at most
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")

# A point read (gateway/store/point_reads.py): the API's hot path.
_API_KEY = PointQuery.of(select(_api_keys).where(_api_keys.c.key_id == bindparam("id")))


class ApiKeysMixin(StoreBase):
    """API keys, signed requests' nonces and idempotent POSTs."""

    # --- API keys -------------------------------------------------------------------------------

    async def create_api_key(
        self,
        name: str,
        scopes: Iterable[Scope],
        *,
        ed25519_public_key: bytes | None = None,
        chain_account: bytes | None = None,
        rate_per_s: float = 10.0,
        burst: int = 20,
        now: datetime | None = None,
    ) -> CreatedApiKey:
        """A new API key. Its token ``xg_<key_id>_<secret>`` is in the result and nowhere else:
        the store keeps ``sha256(secret)``. Keys with a signing scope (``issuer``,
        ``operator``) need their Ed25519 public key (32 bytes); ``issuer`` keys the EVM account
        they act as (``chain_account``, 20 bytes), which any other key may have too."""
        _check_text(name, KEY_NAME_LEN, "name")
        wanted = frozenset(_enum(Scope, s, "scopes") for s in scopes)
        if not wanted:
            raise StoreError("an API key needs at least one scope", field="scopes")
        _check_optional_bytes(ed25519_public_key, 32, "an Ed25519 public key", "ed25519_public_key")
        _check_optional_bytes(chain_account, 20, "a chain account", "chain_account")
        if wanted & SIGNING_SCOPES and ed25519_public_key is None:
            raise StoreError(
                "a key with a signing scope needs an Ed25519 public key",
                field="ed25519_public_key", scopes=sorted(wanted & SIGNING_SCOPES),
            )  # fmt: skip
        if wanted & ACCOUNT_SCOPES and chain_account is None:
            raise StoreError(
                "an issuer key acts as one chain account: give it",
                field="chain_account", scopes=sorted(wanted & ACCOUNT_SCOPES),
            )  # fmt: skip
        account = None if chain_account is None else Address(bytes(chain_account))
        if not (
            isinstance(rate_per_s, int | float)
            and not isinstance(rate_per_s, bool)
            and math.isfinite(rate_per_s)
            and 0 < rate_per_s <= 1_000_000
        ):
            raise ValueOutOfRange("rate_per_s must be in (0, 1e6]", field="rate_per_s")
        _check_count(burst, 1, 1_000_000, "burst")
        at = self._now(now)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = ApiKey(
            key_id=key_id,
            name=name,
            scopes=wanted,
            ed25519_public_key=ed25519_public_key,
            rate_per_s=float(rate_per_s),
            burst=burst,
            created_at=at,
            revoked_at=None,
            chain_account=account,
        )
        async with self._tx("create_api_key") as conn:
            await conn.execute(
                _api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    secret_sha256=_sha256(secret),
                    scopes=_join_set(wanted),
                    ed25519_public_key=ed25519_public_key,
                    rate_per_s=float(rate_per_s),
                    burst=burst,
                    created_at=at,
                    revoked_at=None,
                    chain_account=account,
                )
            )
        return CreatedApiKey(record, format_api_key(key_id, secret))

    async def verify_api_key(self, token: str) -> ApiKey | None:
        """The active key ``token`` belongs to; None for a malformed token, an unknown or
        revoked key, or a wrong secret (the secret's hash is compared in constant time)."""
        parsed = parse_api_key(token) if isinstance(token, str) else None
        if parsed is None:
            return None
        key_id, secret = parsed
        rows = await self._point_rows("verify_api_key", _API_KEY, id=key_id)
        row = rows[0] if rows else None
        stored = bytes(row.secret_sha256) if row is not None else bytes(32)
        matches = hmac.compare_digest(stored, _sha256(secret))
        if row is None or not matches or row.revoked_at is not None:
            return None
        return _api_key_record(row)

    async def api_key(self, key_id: str) -> ApiKey | None:
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            return None
        rows = await self._point_rows("api_key", _API_KEY, id=key_id)
        return _api_key_record(rows[0]) if rows else None

    async def api_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first."""
        k = _api_keys.c
        query = select(_api_keys).order_by(k.created_at, k.key_id)
        if not include_revoked:
            query = query.where(k.revoked_at.is_(None))
        async with self._tx("api_keys", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_api_key_record(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, now: datetime | None = None) -> ApiKey:
        """Revoke the key (it verifies no more) and disable its webhooks. Revoking it again
        changes nothing. ``NotFound`` for an unknown key."""
        _check_key_id(key_id)
        at = self._now(now)
        k = _api_keys.c
        async with self._tx("revoke_api_key") as conn:
            row = (
                await conn.execute(
                    update(_api_keys)
                    .where(k.key_id == key_id, k.revoked_at.is_(None))
                    .values(revoked_at=at)
                    .returning(*_api_keys.c)
                )
            ).first()
            if row is None:
                row = (await conn.execute(select(_api_keys).where(k.key_id == key_id))).first()
                if row is None:
                    raise NotFound("no such API key", what="api_key", key_id=key_id)
                return _api_key_record(row)
            await conn.execute(
                update(_webhooks)
                .where(_webhooks.c.key_id == key_id, _webhooks.c.disabled_at.is_(None))
                .values(disabled_at=at)
            )
        return _api_key_record(row)

    # --- signed requests' nonces and idempotent POSTs -------------------------------------------

    async def use_nonce(
        self, key_id: str, nonce: str, expires_at: datetime, *, now: datetime | None = None
    ) -> bool:
        """Record that ``key_id`` used ``nonce`` until ``expires_at``; False when it was used
        already and has not expired (a replay). Expired nonces are pruned on the way.
        ``nonce``: 16-64 url-safe characters; ``expires_at`` must be later than now."""
        _check_key_id(key_id)
        if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            raise StoreError("a nonce is 16-64 url-safe characters", field="nonce")
        at = self._now(now)
        until = self._now(expires_at)
        if until <= at:
            raise StoreError("a nonce must expire after now", field="expires_at", now=at)
        n = _nonces.c
        async with self._tx("use_nonce") as conn:
            await self._prune(conn, _nonces, (n.key_id, n.nonce), n.expires_at <= at)
            stmt = self._insert(_nonces).values(key_id=key_id, nonce=nonce, expires_at=until)
            # A row still there but expired (another pruner held it) is a nonce free to reuse.
            result = await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[n.key_id, n.nonce],
                    set_={"expires_at": until},
                    where=n.expires_at <= at,
                ).returning(n.nonce)
            )
            return result.first() is not None

    async def _prune(
        self, conn: AsyncConnection, table: Table, key: tuple[Any, ...], expired: Any
    ) -> None:
        """Delete up to ``_PRUNE_BATCH`` rows matching ``expired``, skipping rows another
        transaction holds (PostgreSQL): pruning never waits, never deadlocks."""
        victims = select(*key).where(expired).limit(_PRUNE_BATCH).with_for_update(skip_locked=True)
        await conn.execute(delete(table).where(tuple_(*key).in_(victims)))

    async def begin_idempotent(
        self,
        key_id: str,
        idem_key: str,
        body_sha256: bytes,
        *,
        ttl_s: float = 24 * 3600,
        abandoned_after_s: float = 300,
        now: datetime | None = None,
    ) -> IdempotencyAnswer:
        """Start a POST with ``Idempotency-Key: idem_key``: ``NEW`` (run it, then
        ``finish_idempotent``), ``IN_PROGRESS`` (409), ``MISMATCH`` (the key came with another
        body: 422) or ``DONE`` with the stored answer. Answers are kept ``ttl_s``; a request
        still marked running after ``abandoned_after_s`` died with its process and may run
        again."""
        _check_key_id(key_id)
        _check_idem_key(idem_key)
        _check_digest(body_sha256, "body_sha256")
        for value, field in ((ttl_s, "ttl_s"), (abandoned_after_s, "abandoned_after_s")):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise StoreError(f"{field} must be a finite number > 0", field=field)
        at = self._now(now)
        expired_before = at - timedelta(seconds=ttl_s)
        i = _idem.c
        fresh = {
            "body_sha256": body_sha256,
            "state": "in_progress",
            "status": None,
            "response": None,
            "response_headers": None,
            "created_at": at,
            "updated_at": at,
        }
        async with self._tx("begin_idempotent") as conn:
            await self._prune(conn, _idem, (i.key_id, i.idem_key), i.created_at <= expired_before)
            created = await conn.execute(
                self._insert(_idem)
                .values(key_id=key_id, idem_key=idem_key, **fresh)
                .on_conflict_do_nothing(index_elements=[i.key_id, i.idem_key])
                .returning(i.idem_key)
            )
            if created.first() is not None:
                return IdempotencyAnswer(IdempotencyOutcome.NEW)
            row = (
                await conn.execute(
                    select(_idem)
                    .where(i.key_id == key_id, i.idem_key == idem_key)
                    .with_for_update()
                )
            ).one()
            abandoned = row.state == "in_progress" and row.updated_at <= at - timedelta(
                seconds=abandoned_after_s
            )
            if row.created_at <= expired_before or abandoned:
                await conn.execute(
                    update(_idem).where(i.key_id == key_id, i.idem_key == idem_key).values(**fresh)
                )
                return IdempotencyAnswer(IdempotencyOutcome.NEW)
        if bytes(row.body_sha256) != body_sha256:
            return IdempotencyAnswer(IdempotencyOutcome.MISMATCH)
        if row.state == "in_progress":
            return IdempotencyAnswer(IdempotencyOutcome.IN_PROGRESS)
        headers = row.response_headers
        return IdempotencyAnswer(
            IdempotencyOutcome.DONE,
            status=row.status,
            response=bytes(row.response),
            # NULL: answered before the headers were kept (0006)
            headers=None if headers is None else MappingProxyType(json.loads(headers)),
        )

    async def finish_idempotent(
        self,
        key_id: str,
        idem_key: str,
        body_sha256: bytes,
        status: int,
        response: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        now: datetime | None = None,
    ) -> None:
        """Store the answer of the POST ``begin_idempotent`` started (HTTP ``status``, the
        ``response`` bytes, 1 MiB at most, and its ``headers``: name to value, one value per
        name, 64 KiB at most; None keeps none, and the replay answers with its defaults).
        ``NotFound`` unless that request is running."""
        _check_key_id(key_id)
        _check_idem_key(idem_key)
        _check_digest(body_sha256, "body_sha256")
        _check_count(status, 100, 599, "status")
        if not isinstance(response, bytes) or len(response) > _IDEM_RESPONSE_MAX:
            raise ValueOutOfRange("response must be bytes, 1 MiB at most", field="response")
        headers_json = None if headers is None else _dump_headers(headers)
        at = self._now(now)
        i = _idem.c
        async with self._tx("finish_idempotent") as conn:
            done = (
                await conn.execute(
                    update(_idem)
                    .where(
                        i.key_id == key_id,
                        i.idem_key == idem_key,
                        i.body_sha256 == body_sha256,
                        i.state == "in_progress",
                    )
                    .values(
                        state="done",
                        status=status,
                        response=response,
                        response_headers=headers_json,
                        updated_at=at,
                    )
                    .returning(i.idem_key)
                )
            ).first()
            if done is None:
                raise NotFound(
                    "no running request with this idempotency key",
                    what="idempotency", key_id=key_id, idem_key=idem_key,
                )  # fmt: skip

    async def abandon_idempotent(self, key_id: str, idem_key: str, body_sha256: bytes) -> bool:
        """Forget a running request that failed without an answer worth repeating, so the
        client may retry it; False if it was not running."""
        _check_key_id(key_id)
        _check_idem_key(idem_key)
        _check_digest(body_sha256, "body_sha256")
        i = _idem.c
        async with self._tx("abandon_idempotent") as conn:
            result = await conn.execute(
                delete(_idem)
                .where(
                    i.key_id == key_id,
                    i.idem_key == idem_key,
                    i.body_sha256 == body_sha256,
                    i.state == "in_progress",
                )
                .returning(i.idem_key)
            )
            return result.first() is not None


# --- value checks ------------------------------------------------------------------------------


def _check_idem_key(idem_key: str) -> None:
    # Printable ASCII only: the header's value, compared byte for byte on both databases.
    if (
        not isinstance(idem_key, str)
        or not 0 < len(idem_key) <= IDEM_KEY_LEN
        or not all(" " <= ch <= "~" for ch in idem_key)
    ):
        raise StoreError(
            f"an idempotency key is 1..{IDEM_KEY_LEN} printable ASCII characters",
            field="idem_key",
        )


def _dump_headers(headers: Mapping[str, str]) -> str:
    """An answer's headers as stored: checked (they are sent again as they are), JSON."""
    if not isinstance(headers, Mapping):
        raise StoreError("headers must be a mapping of names to values", field="headers")
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise StoreError("a header name is an HTTP token", field="headers")
        if name.lower() in seen:
            raise StoreError(f"header {name} is given twice", field="headers")
        seen.add(name.lower())
        # Visible ASCII and spaces: no line break could split the header when it is replayed.
        if not isinstance(value, str) or not all(" " <= ch <= "~" or ch == "\t" for ch in value):
            raise StoreError(f"header {name}: a value is printable ASCII", field="headers")
    text = _dump_json(dict(headers))
    if len(text) > _IDEM_HEADERS_MAX:
        raise ValueOutOfRange("headers must be 64 KiB at most", field="headers")
    return text


def _sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# --- rows <-> records ----------------------------------------------------------------------------


def _api_key_record(row: Row[Any]) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=frozenset(Scope(s) for s in _split_set(row.scopes)),
        ed25519_public_key=_opt_bytes(row.ed25519_public_key),
        rate_per_s=float(row.rate_per_s),
        burst=int(row.burst),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        chain_account=None if row.chain_account is None else Address(bytes(row.chain_account)),
    )


def _check_optional_bytes(value: object, size: int, what: str, name: str) -> None:
    if value is not None and (not isinstance(value, bytes) or len(value) != size):
        raise StoreError(f"{what} is {size} bytes", field=name)
