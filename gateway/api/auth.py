"""The API's security layer (docs/api.md §2): API keys, scopes, signed requests, per-key rate
limits and idempotent POSTs, as two middlewares ``install_security`` puts on the app.

For a request to an operation (or any path under ``/v1``), ``security_middleware``:

1. authenticates ``Authorization: Bearer xg_<id>_<secret>`` through the store (missing,
   malformed, unknown, revoked or wrong: 401 with ``WWW-Authenticate: Bearer``) and puts the
   key on the request (``API_KEY_KEY``);
2. takes a token from the key's bucket (``RateLimiter``: 429 with ``Retry-After``);
3. checks that one of the key's scopes grants the operation's (``grants``; 403 otherwise);
4. when the request changes state (POST, PUT, PATCH, DELETE) under a signing scope only
   (``issuer``, ``operator``: ``needs_signature``), verifies its Ed25519 signature
   (``signing.py``): timestamp within ±300 s, well-formed nonce, signature by the key's public
   key, then the nonce used once (``Store.use_nonce``). Any failure is a 401 naming what is
   wrong; nothing is echoed.

Every check runs before the operation: a refused request changes nothing (only a correctly
signed request records its nonce). Then ``idempotency_middleware`` makes a POST with an
``Idempotency-Key`` header run at most once per key and request (``Store.begin_idempotent``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.api import signing
from gateway.api.problems import PROBLEM_CONTENT_TYPE, Problem, answer_or_problem
from gateway.api.spec import Api, Operation
from gateway.domain.apikeys import SIGNING_SCOPES, ApiKey, IdempotencyOutcome, Scope
from gateway.store import Store

__all__ = [
    "API_KEY_KEY",
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "SECURITY_KEY",
    "STATE_CHANGING_METHODS",
    "RateLimiter",
    "Security",
    "caller_key",
    "document_security",
    "grants",
    "highest_scope",
    "idempotency_middleware",
    "install_security",
    "needs_signature",
    "request_fingerprint",
    "security_middleware",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The authenticated key of the request (absent on the open endpoints).
API_KEY_KEY = web.RequestKey("api_key", ApiKey)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROTECTED_PREFIX = "/v1"
IDEMPOTENCY_TTL_S = 24 * 3600
IDEMPOTENCY_ABANDONED_AFTER_S = 300
_IDEMPOTENCY_KEY = re.compile(r"[ -~]{1,128}")
# Not part of a stored answer: they belong to one request (its id, the replay marker) or to
# the connection, and the server sets them again on every answer.
_NOT_STORED_HEADERS = frozenset(
    {
        "x-request-id",
        "date",
        "server",
        "content-length",
        "transfer-encoding",
        "connection",
        REPLAYED_HEADER.lower(),
    }
)
_REALM = 'realm="xgate"'

# --- scopes ------------------------------------------------------------------------------------

# What each scope of a key may call: read ⊂ dapp, read ⊂ issuer, operator everything.
_GRANTS: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.DAPP: frozenset({Scope.READ, Scope.DAPP}),
    Scope.ISSUER: frozenset({Scope.READ, Scope.ISSUER}),
    Scope.OPERATOR: frozenset(Scope),
}
# Highest first, for the metrics' label (dapp and issuer do not include each other; a key
# with both is counted as issuer).
_RANK = (Scope.OPERATOR, Scope.ISSUER, Scope.DAPP, Scope.READ)


def grants(scopes: Iterable[Scope], needed: Scope) -> bool:
    """Whether a key with ``scopes`` may call an operation of scope ``needed``."""
    return any(needed in _GRANTS[s] for s in scopes)


def highest_scope(scopes: Iterable[Scope]) -> Scope:
    held = frozenset(scopes)
    return next(s for s in _RANK if s in held)


def needs_signature(scopes: Iterable[Scope], needed: Scope, method: str) -> bool:
    """Whether the request must be signed: it changes state and only a signing scope of the
    key (``issuer``, ``operator``) grants it. An operator key calling a ``dapp`` POST signs
    it too; a key that also holds ``dapp`` does not."""
    if method.upper() not in STATE_CHANGING_METHODS:
        return False
    return not any(needed in _GRANTS[s] for s in scopes if s not in SIGNING_SCOPES)


# --- rate limits -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    refill_s: float  # from empty to full


class RateLimiter:
    """A token bucket per API key, in this process: ``rate_per_s`` tokens a second up to
    ``burst``, one per request. Several API instances each keep their own buckets."""

    MAX_BUCKETS = 10_000  # full buckets are forgotten above this many (a full one is no state)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: ApiKey) -> float:
        """Take a token for ``key``: 0.0 when allowed, otherwise the seconds until one is
        available (nothing taken)."""
        now = self._clock()
        bucket = self._buckets.get(key.key_id)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._forget_full(now)
            refill_s = key.burst / key.rate_per_s
            bucket = self._buckets[key.key_id] = _Bucket(float(key.burst), now, refill_s)
        else:
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(float(key.burst), bucket.tokens + elapsed * key.rate_per_s)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / key.rate_per_s

    def _forget_full(self, now: float) -> None:
        # A bucket idle long enough to be full again answers as a new one would.
        idle = [k for k, b in self._buckets.items() if now - b.at >= b.refill_s]
        for key_id in idle:
            del self._buckets[key_id]


# --- problems ----------------------------------------------------------------------------------


def caller_key(request: web.Request) -> ApiKey:
    """The API key the auth layer authenticated for this request (401 without one: the auth
    layer answers that first, this is its backstop)."""
    key: ApiKey | None = request.get(API_KEY_KEY)
    if key is None:
        raise Problem(
            401,
            "unauthenticated",
            "Unauthenticated",
            "send an API key: Authorization: Bearer xg_<id>_<secret>",
            headers={"WWW-Authenticate": 'Bearer realm="xgate"'},
        )
    return key


def _unauthorized(slug: str, title: str, detail: str, challenge: str) -> Problem:
    return Problem(401, slug, title, detail, headers={"WWW-Authenticate": challenge})


def _bearer_problem(detail: str, *, invalid: bool) -> Problem:
    if invalid:
        return _unauthorized(
            "invalid-api-key",
            "Invalid API key",
            detail,
            f'Bearer {_REALM}, error="invalid_token"',
        )
    return _unauthorized("missing-api-key", "API key required", detail, f"Bearer {_REALM}")


_SIGNATURE_CHALLENGE = (
    f"Xgate-Ed25519 {_REALM}, "
    f'headers="{signing.TIMESTAMP_HEADER} {signing.NONCE_HEADER} {signing.SIGNATURE_HEADER}"'
)


def _signature_problem(slug: str, title: str, detail: str) -> Problem:
    return _unauthorized(slug, title, detail, _SIGNATURE_CHALLENGE)


# --- the layer ---------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Security:
    """The security layer of one application: its operations by route, the store, the clocks
    (wall clock for signatures and the store's records, monotonic for rate limits)."""

    def __init__(
        self,
        store: Store,
        operations: Iterable[Operation[Any, Any, Any, Any]],
        *,
        clock: Callable[[], datetime] = _utcnow,
        rate_clock: Callable[[], float] = time.monotonic,
        max_skew_s: int = signing.MAX_SKEW_S,
    ) -> None:
        self.store = store
        # ``Api.install`` names each route after its operation.
        self.operations: Mapping[str, Operation[Any, Any, Any, Any]] = {
            op.operation_id: op for op in operations
        }
        self.clock = clock
        self.limiter = RateLimiter(rate_clock)
        self.max_skew_s = max_skew_s

    def operation(self, request: web.Request) -> Operation[Any, Any, Any, Any] | None:
        route = request.match_info.route
        op = self.operations.get(route.name or "")
        return op if op is not None and op.method == route.method else None

    # --- security_middleware ---------------------------------------------------------------

    async def check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        op = self.operation(request)
        if op is None and not _protected(request.path):
            return await handler(request)  # /healthz, /readyz, /metrics, /openapi.json, /docs
        key = await self._authenticate(request)
        request[API_KEY_KEY] = key
        wait_s = self.limiter.take(key)
        if wait_s > 0:
            retry_after = max(1, math.ceil(wait_s))
            raise Problem(
                429,
                "rate-limited",
                "Too many requests",
                f"this API key may send {key.rate_per_s:g} requests a second (bursts of "
                f"{key.burst}); retry after {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
        if op is None:
            if request.match_info.http_exception is None:
                # A route under /v1 that is no declared operation has no scope to check:
                # refused rather than served to any key.
                log.error(
                    "refused %s %s: a route that is no operation", request.method, request.path
                )
                raise Problem(
                    403,
                    "insufficient-scope",
                    "Insufficient scope",
                    f"{request.method} {request.path} is not a declared operation",
                )
            return await handler(request)  # no such operation: 404 / 405 as usual
        if not grants(key.scopes, op.scope):
            held = ", ".join(sorted(s.value for s in key.scopes))
            raise Problem(
                403,
                "insufficient-scope",
                "Insufficient scope",
                f"{op.method} {op.path} needs scope {op.scope.value}; this API key has: {held}",
                headers={
                    "WWW-Authenticate": (
                        f'Bearer {_REALM}, error="insufficient_scope", scope="{op.scope.value}"'
                    )
                },
            )
        if needs_signature(key.scopes, op.scope, request.method):
            await self._verify_signature(request, key)
        return await handler(request)

    async def _authenticate(self, request: web.Request) -> ApiKey:
        header = request.headers.get("Authorization")
        if header is None:
            raise _bearer_problem(
                "send an API key: Authorization: Bearer xg_<id>_<secret>", invalid=False
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _bearer_problem(
                "the Authorization header must be Bearer xg_<id>_<secret>", invalid=True
            )
        key = await self.store.verify_api_key(token.strip())
        if key is None:
            raise _bearer_problem(
                "the API key is malformed, unknown, revoked or wrong", invalid=True
            )
        return key

    async def _verify_signature(self, request: web.Request, key: ApiKey) -> None:
        scope = ", ".join(sorted(s.value for s in key.scopes & SIGNING_SCOPES))
        missing = signing.missing_headers(request.headers)
        if missing:
            raise _signature_problem(
                "signature-required",
                "Signed request required",
                f"this request changes state under the key's {scope} scope and must be signed; "
                f"missing: {', '.join(missing)}",
            )
        ts_text = request.headers[signing.TIMESTAMP_HEADER]
        nonce = request.headers[signing.NONCE_HEADER]
        timestamp = signing.parse_timestamp(ts_text)
        if timestamp is None:
            raise _signature_problem(
                "signature-malformed",
                "Malformed signature headers",
                f"{signing.TIMESTAMP_HEADER} must be Unix seconds (decimal digits)",
            )
        if not signing.NONCE_PATTERN.fullmatch(nonce):
            raise _signature_problem(
                "signature-malformed",
                "Malformed signature headers",
                f"{signing.NONCE_HEADER} must be 16-64 url-safe characters (A-Z a-z 0-9 _ -)",
            )
        signature = signing.decode_signature(request.headers[signing.SIGNATURE_HEADER])
        if signature is None:
            raise _signature_problem(
                "signature-malformed",
                "Malformed signature headers",
                f"{signing.SIGNATURE_HEADER} must be the base64 of a 64-byte Ed25519 signature",
            )
        now = self.clock()
        skew = timestamp - now.timestamp()
        if abs(skew) > self.max_skew_s:
            raise _signature_problem(
                "signature-expired",
                "Signature timestamp out of range",
                f"{signing.TIMESTAMP_HEADER} is {abs(skew):.0f} s "
                f"{'ahead of' if skew > 0 else 'behind'} the server's clock; "
                f"±{self.max_skew_s} s are accepted",
            )
        if key.ed25519_public_key is None:
            raise _signature_problem(
                "signature-invalid",
                "Invalid signature",
                "this API key has no Ed25519 public key registered",
            )
        body = await request.read()
        if not signing.verify_signature(
            key.ed25519_public_key,
            signature,
            request.method,
            request.raw_path,
            ts_text,
            nonce,
            body,
        ):
            raise _signature_problem(
                "signature-invalid",
                "Invalid signature",
                f"{signing.SIGNATURE_HEADER} is not this API key's Ed25519 signature of "
                "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(sha256(body)) for this request",
            )
        # Kept until the timestamp leaves the window: a replay after that is stale anyway.
        expires_at = datetime.fromtimestamp(timestamp + self.max_skew_s + 1, UTC)
        if not await self.store.use_nonce(key.key_id, nonce, expires_at, now=now):
            raise _signature_problem(
                "nonce-reused",
                "Nonce already used",
                f"this API key already used this {signing.NONCE_HEADER}; sign every request "
                "with a new nonce",
            )

    # --- idempotency_middleware ------------------------------------------------------------

    async def idempotent(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        idem_key = request.headers.get(IDEMPOTENCY_HEADER)
        key = request.get(API_KEY_KEY)
        if request.method != "POST" or idem_key is None or key is None:
            return await handler(request)
        if not _IDEMPOTENCY_KEY.fullmatch(idem_key):
            raise Problem(
                400,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                f"{IDEMPOTENCY_HEADER} must be 1-128 printable ASCII characters",
            )
        fingerprint = request_fingerprint(request.method, request.raw_path, await request.read())
        answer = await self.store.begin_idempotent(
            key.key_id,
            idem_key,
            fingerprint,
            ttl_s=IDEMPOTENCY_TTL_S,
            abandoned_after_s=IDEMPOTENCY_ABANDONED_AFTER_S,
            now=self.clock(),
        )
        if answer.outcome is IdempotencyOutcome.MISMATCH:
            raise Problem(
                422,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                f"this {IDEMPOTENCY_HEADER} was used with another request (method, path, query "
                "or body); use a new key for a new request",
            )
        if answer.outcome is IdempotencyOutcome.IN_PROGRESS:
            raise Problem(
                409,
                "idempotency-in-progress",
                "Request in progress",
                f"a request with this {IDEMPOTENCY_HEADER} is still running; retry later",
                headers={"Retry-After": "1"},
            )
        if answer.outcome is IdempotencyOutcome.DONE:
            assert answer.status is not None and answer.response is not None
            if answer.headers is None:  # stored before the headers were kept: as it was then
                return web.Response(
                    body=answer.response,
                    status=answer.status,
                    content_type=(
                        PROBLEM_CONTENT_TYPE if answer.status >= 400 else "application/json"
                    ),
                    headers={REPLAYED_HEADER: "true"},
                )
            return web.Response(
                body=answer.response,
                status=answer.status,
                headers={**answer.headers, REPLAYED_HEADER: "true"},
            )
        return await self._run_once(request, handler, key, idem_key, fingerprint)

    async def _run_once(
        self,
        request: web.Request,
        handler: Handler,
        key: ApiKey,
        idem_key: str,
        fingerprint: bytes,
    ) -> web.StreamResponse:
        try:
            response = await answer_or_problem(request, handler)
        except BaseException:  # cancelled, or a redirect: nothing to store, the client may retry
            await self._abandon(key, idem_key, fingerprint)
            raise
        body = response.body if isinstance(response, web.Response) else None
        # A 5xx, or any answer telling the client to retry (Retry-After: a 409 swap-busy, a
        # 503), is no final answer: the retry must run the operation again.
        if (
            response.status >= 500
            or "Retry-After" in response.headers
            or not isinstance(body, bytes)
        ):
            await self._abandon(key, idem_key, fingerprint)
            return response
        try:
            await self.store.finish_idempotent(
                key.key_id,
                idem_key,
                fingerprint,
                response.status,
                body,
                headers=_stored_headers(response),
                now=self.clock(),
            )
        except Exception:
            # The operation ran: answer it. The key stays running until it is abandoned.
            log.warning(
                "could not store the answer of an idempotent request (key %s)",
                key.key_id,
                exc_info=True,
            )
        return response

    async def _abandon(self, key: ApiKey, idem_key: str, fingerprint: bytes) -> None:
        # Best effort: otherwise the key is taken over after IDEMPOTENCY_ABANDONED_AFTER_S.
        with suppress(Exception):
            await asyncio.shield(self.store.abandon_idempotent(key.key_id, idem_key, fingerprint))


def _stored_headers(response: web.StreamResponse) -> dict[str, str]:
    """The headers of an answer that a replay repeats: all but the per-request and transport
    ones. A header sent several times is kept as one, its values joined by ", " (RFC 9110
    §5.3; the API sets no Set-Cookie, the one header where that is not the same)."""
    kept: dict[str, str] = {}
    names: dict[str, str] = {}  # lower case -> the first spelling seen
    for name, value in response.headers.items():
        lower = name.lower()
        if lower in _NOT_STORED_HEADERS:
            continue
        if lower in names:
            kept[names[lower]] += ", " + value
        else:
            names[lower] = name
            kept[name] = value
    return kept


def request_fingerprint(method: str, target: str, body: bytes) -> bytes:
    """What an ``Idempotency-Key`` is bound to: the method, the request target (path and
    query) and ``sha256(body)``."""
    return hashlib.sha256(
        f"{method.upper()}\n{target}\n".encode() + hashlib.sha256(body).digest()
    ).digest()


def _protected(path: str) -> bool:
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")


SECURITY_KEY = web.AppKey("security", Security)


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await request.app[SECURITY_KEY].check(request, handler)


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await request.app[SECURITY_KEY].idempotent(request, handler)


def install_security(app: web.Application, api: Api, security: Security) -> None:
    """Wire ``security`` on ``app`` (its middlewares must include ``security_middleware`` then
    ``idempotency_middleware``, inside the problem middleware) and document it in ``api``'s
    OpenAPI document."""
    app[SECURITY_KEY] = security
    document_security(api.openapi(), api.operations)


# --- the document ------------------------------------------------------------------------------

_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}


def _problem(text: str) -> dict[str, Any]:
    return {"description": text, "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}}


def document_security(
    document: dict[str, Any], operations: Iterable[Operation[Any, Any, Any, Any]]
) -> None:
    """Add the security layer to an OpenAPI document, in place: the bearer scheme, each
    operation's scope as its security requirement, the 401/403/429 answers, and for POSTs
    the ``Idempotency-Key`` header with its 409/422, for signed operations the signature
    headers."""
    components = document.setdefault("components", {})
    if "securitySchemes" in components:
        return  # documented already (another app on the same registry)
    components["securitySchemes"] = {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key, Authorization: Bearer xg_<id>_<secret>. The requirement "
            "names the scope the operation needs (read < dapp, read < issuer, operator: all).",
        }
    }
    for op in operations:
        doc = document["paths"][op.path][op.method.lower()]
        doc["security"] = [{"apiKey": [op.scope.value]}]
        responses = doc["responses"]
        responses.setdefault("401", _problem("missing or bad credentials or signature"))
        responses.setdefault("403", _problem("the API key lacks the scope"))
        responses.setdefault("429", _problem("rate limited; see Retry-After"))
        params: list[dict[str, Any]] = doc.setdefault("parameters", [])
        if op.method == "POST":
            params.append(
                {
                    "name": IDEMPOTENCY_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Run this POST at most once: the same key and request "
                    "answer the stored response again (Idempotent-Replayed: true) for 24 h; "
                    "the key with another request is 422, while it runs 409.",
                    "schema": {"type": "string", "pattern": "^[ -~]{1,128}$"},
                }
            )
            responses.setdefault("409", _problem("a request with this Idempotency-Key runs"))
            responses.setdefault(
                "422", _problem("the Idempotency-Key was used for another request")
            )
        if op.scope in SIGNING_SCOPES and op.method in STATE_CHANGING_METHODS:
            doc["x-xgate-signed"] = True
            for name, text in (
                (signing.TIMESTAMP_HEADER, "Unix seconds, within ±300 s of the server's clock"),
                (signing.NONCE_HEADER, "16-64 url-safe characters, once per key"),
                (signing.SIGNATURE_HEADER, "base64 Ed25519 signature of the canonical request"),
            ):
                params.append(
                    {
                        "name": name,
                        "in": "header",
                        "required": True,
                        "description": text,
                        "schema": {"type": "string"},
                    }
                )
        if not params:
            del doc["parameters"]
        doc["responses"] = dict(sorted(responses.items()))
