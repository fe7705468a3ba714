"""Who may call what (docs/api.md §2), as a matrix over EVERY operation of the registries,
so an operation added later is covered without a new test:

- the real ``/v1`` registry (``v1_api()``) and ``probe_api()``, test-only operations that
  change state (POSTs creating a webhook in the store for the calling key, of each scope,
  and an operator GET), since no real operation changes state yet;
- every operation by every scope: allowed where the scope grants it (read ⊂ dapp, read ⊂
  issuer, operator all), otherwise 403; every operation by {no key, malformed key, wrong
  secret, revoked key, another scheme}: 401 with ``WWW-Authenticate: Bearer``;
- every state-changing operation by every signing scope that reaches it: unsigned, signed by
  another key, signature over another body, stale and future timestamps, malformed nonce,
  replayed nonce: 401 naming the problem; a correctly signed request goes through;
- every refused request leaves the whole database as it was (each table compared).

The probe registry's operations are imported by the other test_auth* modules.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import Field

from gateway.api.app import create_app
from gateway.api.auth import API_KEY_KEY, STATE_CHANGING_METHODS
from gateway.api.keys import STORE_KEY
from gateway.api.models import ApiModel, NoBody, NoParams
from gateway.api.signing import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from gateway.api.spec import Api, Call, Operation, Scope
from gateway.api.v1 import v1_api
from gateway.config import XgateConfig
from gateway.domain.apikeys import SIGNING_SCOPES
from gateway.domain.events import EventKind
from gateway.store import Store
from tests.api.conftest import Answer, ApiClient, Caller, Keys, create_caller, serve
from tests.store.conftest import Clock

PROBLEMS = "https://xgate.dev/problems/"
HOOK_URL = "https://hooks.example/xgate"

# The rule, written out independently of gateway.api.auth: what each scope of a key reaches.
ALLOWED: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.DAPP: frozenset({Scope.READ, Scope.DAPP}),
    Scope.ISSUER: frozenset({Scope.READ, Scope.ISSUER}),
    Scope.OPERATOR: frozenset(Scope),
}


# --- test-only operations that change state ---------------------------------------------------


class HookRequest(ApiModel):
    """A made-up state-changing request: a webhook for the calling key."""

    url: str = Field(max_length=200)


class HookAnswer(ApiModel):
    """The webhook created."""

    id: int
    key_id: str


class HookCount(ApiModel):
    """How many webhooks the store has."""

    count: int


@dataclass
class Probe:
    """Controls the probe operations: ``gate`` holds them (after setting ``entered``) until
    it is set; ``fail`` makes the next calls fail (a 500); ``calls`` counts the runs."""

    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    fail: int = 0
    calls: int = 0


def probe_api(probe: Probe | None = None) -> Api:
    """Operations of every scope that change state, and an operator GET."""
    p = Probe() if probe is None else probe
    api = Api("probe", "0.0.1")

    async def create(call: Call[NoParams, NoParams, HookRequest]) -> HookAnswer:
        p.calls += 1
        if p.gate is not None:
            p.entered.set()
            await p.gate.wait()
        if p.fail > 0:
            p.fail -= 1
            raise RuntimeError("probe failure")
        key = call.request[API_KEY_KEY]
        hook = await call.request.app[STORE_KEY].create_webhook(
            key.key_id, call.body.url, "s" * 16, [EventKind.MESSAGE]
        )
        return HookAnswer(id=hook.id, key_id=key.key_id)

    async def dapp_hook(call: Call[NoParams, NoParams, HookRequest]) -> HookAnswer:
        return await create(call)

    async def issuer_hook(call: Call[NoParams, NoParams, HookRequest]) -> HookAnswer:
        return await create(call)

    async def operator_hook(call: Call[NoParams, NoParams, HookRequest]) -> HookAnswer:
        return await create(call)

    async def operator_count(call: Call[NoParams, NoParams, NoBody]) -> HookCount:
        return HookCount(count=len(await call.request.app[STORE_KEY].webhooks()))

    for scope, handler in (
        (Scope.DAPP, dapp_hook),
        (Scope.ISSUER, issuer_hook),
        (Scope.OPERATOR, operator_hook),
    ):
        api.add(
            "POST",
            f"/v1/probe/{scope.value}",
            handler,
            summary=f"a {scope.value} POST",
            scope=scope,
            path_params=NoParams,
            query=NoParams,
            body=HookRequest,
            response=HookAnswer,
            status=201,
        )
    api.add(
        "GET",
        "/v1/probe/operator",
        operator_count,
        summary="an operator GET",
        scope=Scope.OPERATOR,
        path_params=NoParams,
        query=NoParams,
        body=NoBody,
        response=HookCount,
    )
    return api


# --- the matrix's cases -------------------------------------------------------------------------

REGISTRIES: dict[str, Callable[[], Api]] = {"v1": v1_api, "probe": probe_api}


def operations() -> list[tuple[str, Operation[Any, Any, Any, Any]]]:
    return [(name, op) for name, make in REGISTRIES.items() for op in make().operations]


def _id(name: str, op: Operation[Any, Any, Any, Any]) -> str:
    return f"{name}:{op.method} {op.path}"


SCOPE_CASES = [
    pytest.param(name, op.method, op.path, scope, id=f"{_id(name, op)}-{scope.value}")
    for name, op in operations()
    for scope in Scope
]
CREDENTIALS = ("none", "malformed", "wrong-secret", "revoked", "basic")
CREDENTIAL_CASES = [
    pytest.param(name, op.method, op.path, kind, id=f"{_id(name, op)}-{kind}")
    for name, op in operations()
    for kind in CREDENTIALS
]
SIGNATURE_FAILURES = (
    "unsigned",
    "other-key",
    "other-body",
    "stale",
    "future",
    "malformed-nonce",
    "malformed-signature",
    "replayed-nonce",
)
SIGNED_CASES = [
    pytest.param(name, op.method, op.path, scope, kind, id=f"{_id(name, op)}-{scope.value}-{kind}")
    for name, op in operations()
    if op.method in STATE_CHANGING_METHODS
    for scope in sorted(SIGNING_SCOPES)
    if op.scope in ALLOWED[scope]
    for kind in (*SIGNATURE_FAILURES, "signed")
]


def find(name: str, method: str, path: str) -> tuple[Api, Operation[Any, Any, Any, Any]]:
    api = REGISTRIES[name]()
    [op] = [o for o in api.operations if (o.method, o.path) == (method, path)]
    return api, op


def concrete_path(op: Operation[Any, Any, Any, Any]) -> str:
    """The operation's path with each parameter filled in (a plain token)."""
    out, rest = "", op.path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        _, _, rest = tail.partition("}")
        out += head + "probe-param"
    return out + rest


def body_of(op: Operation[Any, Any, Any, Any]) -> bytes:
    if op.body is HookRequest:
        return b'{"url": "' + HOOK_URL.encode() + b'"}'
    return b"{}" if op.takes_body else b""


def snapshot(store_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the SQLite store."""
    conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }
    finally:
        conn.close()


@dataclass
class Sent:
    status: int
    content_type: str
    headers: dict[str, str]
    body: Any


async def send(
    client: TestClient[Any, Any],
    op: Operation[Any, Any, Any, Any],
    headers: dict[str, str],
    body: bytes | None = None,
) -> Sent:
    """One request to ``op``; an event stream's answer is not read (only its status)."""
    data = body_of(op) if body is None else body
    if data:
        headers = {"Content-Type": "application/json", **headers}
    async with client.request(op.method, concrete_path(op), headers=headers, data=data) as r:
        parsed: Any = None
        if r.content_type in ("application/json", "application/problem+json"):
            parsed = await r.json(content_type=None)
        return Sent(r.status, r.content_type, dict(r.headers), parsed)


# --- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("registry", "method", "path", "scope"), SCOPE_CASES)
async def test_every_operation_by_every_scope(
    registry: str,
    method: str,
    path: str,
    scope: Scope,
    store: Store,
    store_url: str,
    config: XgateConfig,
    clock: Clock,
    keys: Keys,
) -> None:
    api, op = find(registry, method, path)
    async with serve(store, config, clock, keys, api=api) as client:
        caller = client.using(keys[scope])
        before = snapshot(store_url)
        headers = caller.auth_headers()
        signer = keys[scope].signing_key
        if signer is not None and op.method in STATE_CHANGING_METHODS:
            headers.update(caller.signed_headers(op.method, concrete_path(op), body_of(op), signer))
        answer = await send(client.client, op, headers)
        if op.scope in ALLOWED[scope]:
            assert answer.status not in (401, 403), answer.body
            if registry == "probe":
                assert answer.status == op.status, answer.body
        else:
            assert answer.status == 403, answer.body
            assert answer.body["type"] == PROBLEMS + "insufficient-scope"
            assert f"needs scope {op.scope.value}" in answer.body["detail"]
            assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
            assert f'scope="{op.scope.value}"' in answer.headers["WWW-Authenticate"]
            assert snapshot(store_url) == before
            client.check(op.method, concrete_path(op), _as_answer(answer))


def _as_answer(sent: Sent) -> Answer:
    return Answer(sent.status, sent.content_type, sent.headers, sent.body)  # type: ignore[arg-type]


@pytest.mark.parametrize(("registry", "method", "path", "kind"), CREDENTIAL_CASES)
async def test_every_operation_refuses_bad_credentials(
    registry: str,
    method: str,
    path: str,
    kind: str,
    store: Store,
    store_url: str,
    config: XgateConfig,
    clock: Clock,
    keys: Keys,
) -> None:
    api, op = find(registry, method, path)
    revoked = await create_caller(store, Scope.OPERATOR, name="revoked")
    await store.revoke_api_key(revoked.key_id)
    token = {
        "none": None,
        "malformed": "Bearer not-an-api-key",
        "wrong-secret": f"Bearer xg_{keys.operator.key_id}_{'A' * 43}",
        "revoked": f"Bearer {revoked.token}",
        "basic": "Basic " + keys.operator.token,
    }[kind]
    async with serve(store, config, clock, keys, api=api) as client:
        before = snapshot(store_url)
        headers = {} if token is None else {"Authorization": token}
        answer = await send(client.client, op, headers)
        assert answer.status == 401, answer.body
        slug = "missing-api-key" if kind == "none" else "invalid-api-key"
        assert answer.body["type"] == PROBLEMS + slug
        challenge = answer.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="xgate"')
        assert ("invalid_token" in challenge) == (kind != "none")
        # Never echoed: neither the token nor its secret.
        assert keys.operator.token not in str(answer.body)
        assert revoked.token not in str(answer.body) and "A" * 43 not in str(answer.body)
        assert snapshot(store_url) == before
        client.check(op.method, concrete_path(op), _as_answer(answer))


@pytest.mark.parametrize(("registry", "method", "path", "scope", "kind"), SIGNED_CASES)
async def test_signing_scopes_sign_what_changes_state(
    registry: str,
    method: str,
    path: str,
    scope: Scope,
    kind: str,
    store: Store,
    store_url: str,
    config: XgateConfig,
    clock: Clock,
    keys: Keys,
) -> None:
    api, op = find(registry, method, path)
    caller: Caller = keys[scope]
    assert caller.signing_key is not None
    target, body = concrete_path(op), body_of(op)
    async with serve(store, config, clock, keys, api=api) as client:
        client = client.using(caller)

        def signed(**kwargs: Any) -> dict[str, str]:
            assert caller.signing_key is not None
            return {
                **client.auth_headers(),
                **client.signed_headers(op.method, target, body, caller.signing_key, **kwargs),
            }

        now = int(clock().timestamp())
        headers = signed()
        if kind == "replayed-nonce":
            first = await send(client.client, op, headers)
            assert first.status not in (401, 403), first.body
        before = snapshot(store_url)
        if kind == "unsigned":
            headers = client.auth_headers()
        elif kind == "other-key":
            other = keys.issuer if scope is Scope.OPERATOR else keys.operator
            assert other.signing_key is not None
            headers = {
                **client.auth_headers(),
                **client.signed_headers(op.method, target, body, other.signing_key),
            }
        elif kind == "other-body":
            headers = {
                **client.auth_headers(),
                **client.signed_headers(op.method, target, body + b" ", caller.signing_key),
            }
        elif kind == "stale":
            headers = signed(timestamp=now - 301)
        elif kind == "future":
            headers = signed(timestamp=now + 301)
        elif kind == "malformed-nonce":
            headers = signed(nonce="short")
        elif kind == "malformed-signature":
            headers = {**headers, SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl"}
        answer = await send(client.client, op, headers)
        client.check(op.method, target, _as_answer(answer))
        if kind == "signed":
            assert answer.status not in (401, 403), answer.body
            # At the window's edge still good.
            edge = await send(client.client, op, signed(timestamp=now - 300))
            assert edge.status not in (401, 403), edge.body
            return
        expected = {
            "unsigned": "signature-required",
            "other-key": "signature-invalid",
            "other-body": "signature-invalid",
            "stale": "signature-expired",
            "future": "signature-expired",
            "malformed-nonce": "signature-malformed",
            "malformed-signature": "signature-malformed",
            "replayed-nonce": "nonce-reused",
        }[kind]
        assert answer.status == 401, answer.body
        assert answer.body["type"] == PROBLEMS + expected
        assert answer.headers["WWW-Authenticate"].startswith("Xgate-Ed25519 ")
        if kind == "unsigned":
            for name in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER):
                assert name in answer.body["detail"]
        assert caller.token not in str(answer.body)
        assert snapshot(store_url) == before


# --- beyond the matrix --------------------------------------------------------------------------


async def test_a_key_with_dapp_and_operator_scopes_does_not_sign_dapp_posts(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    both = await create_caller(store, Scope.DAPP, Scope.OPERATOR, name="both")
    async with serve(store, config, clock, keys, api=probe_api()) as client:
        client = client.using(both)
        body = {"url": HOOK_URL}
        assert (await client.request("POST", "/v1/probe/dapp", json=body, sign=False)).status == 201
        answer = await client.request("POST", "/v1/probe/operator", json=body, sign=False)
        assert (answer.status, answer.body["type"]) == (401, PROBLEMS + "signature-required")
        assert (await client.request("POST", "/v1/probe/operator", json=body)).status == 201
        # Read requests of a signing scope are not signed.
        assert (await client.request("GET", "/v1/probe/operator")).body == {"count": 2}


async def test_the_signature_covers_the_query_string(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    async with serve(store, config, clock, keys, api=probe_api()) as client:
        client = client.using(keys.operator)
        assert client.keys is not None and keys.operator.signing_key is not None
        body = b'{"url": "' + HOOK_URL.encode() + b'"}'
        headers = {
            **client.auth_headers(),
            "Content-Type": "application/json",
            **client.signed_headers("POST", "/v1/probe/operator", body, keys.operator.signing_key),
        }
        answer = await client.request(
            "POST", "/v1/probe/operator?x=1", data=body, headers=headers, sign=False
        )
        assert (answer.status, answer.body["type"]) == (401, PROBLEMS + "signature-invalid")


async def test_unknown_v1_paths_need_a_key_too(api: ApiClient) -> None:
    answer = await api.using(None).get("/v1/no-such-thing")
    assert answer.status == 401
    assert (await api.get("/v1/no-such-thing")).status == 404


def test_the_matrix_covers_every_registered_operation() -> None:
    covered = {(p.values[0], p.values[1], p.values[2]) for p in SCOPE_CASES}
    for name, make in REGISTRIES.items():
        for op in make().operations:
            assert (name, op.method, op.path) in covered
    assert len(SCOPE_CASES) == 4 * len(operations())
    assert len(CREDENTIAL_CASES) == len(CREDENTIALS) * len(operations())
    assert SIGNED_CASES  # the probe registry's POSTs at least


async def test_a_route_under_v1_that_is_no_operation_is_refused(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    async def raw(_: web.Request) -> web.Response:
        return web.json_response({"served": True})

    app = create_app(store, config, clock=clock)
    app.router.add_get("/v1/raw", raw)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for caller in (keys.read, keys.operator):
            headers = {"Authorization": f"Bearer {caller.token}"}
            async with client.get("/v1/raw", headers=headers) as answer:
                assert answer.status == 403
                assert (await answer.json())["type"] == PROBLEMS + "insufficient-scope"
        async with client.get("/v1/raw") as answer:
            assert answer.status == 401


async def test_no_token_or_signature_reaches_the_logs(
    api: ApiClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"xg_{keys.read.key_id}_{'B' * 43}"
    with caplog.at_level(logging.DEBUG):
        await api.get("/v1/chains")
        await api.using(None).get("/v1/chains", headers={"Authorization": f"Bearer {wrong}"})
        operator = api.using(keys.operator)
        answer = await operator.request(
            "POST", "/v1/webhooks", json={"url": HOOK_URL}, headers={"X-Xgate-Nonce": "n" * 20}
        )
        assert answer.status == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /v1/chains 200" in logged  # the access log is there
    for secret in (keys.read.token, keys.operator.token, "B" * 43, "n" * 20):
        assert secret not in logged
