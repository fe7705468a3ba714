"""Fixtures of the API tests: a real store (a SQLite file migrated to head, messages recorded
through the ``Store`` facade as the watcher and the relayers do) under the real aiohttp app,
served over HTTP on a loopback port.

``ApiClient`` checks every answer against the app's own OpenAPI document: an operation's
answer must have a declared status and match that status's schema, and every problem
(``application/problem+json``) matches the ``ProblemDetails`` schema, wherever it came from.

Every ``/v1`` operation needs an API key (docs/api.md §2). The fixtures:

- ``keys``: one API key of each scope in the test store, ``keys.read``, ``keys.dapp``,
  ``keys.issuer``, ``keys.operator`` (``Caller``: ``.token``, ``.key`` the stored ``ApiKey``,
  ``.signing_key`` the Ed25519 key of the signing scopes), generous rate limits;
- ``api``: an ``ApiClient`` that sends ``keys.read``'s token. ``api.using(keys.dapp)`` (or
  ``api.using("dapp")``) is the same client with another key, ``api.using(None)`` without
  one. A client whose key has a signing scope signs its state-changing requests itself
  (``sign=False`` to send one unsigned). ``json=`` bodies are serialised by the client (the
  bytes it signs are the bytes it sends);
- ``api.auth_headers()``: the ``Authorization`` header, for requests made on ``api.client``
  (the raw aiohttp ``TestClient``, e.g. for a stream);
- the app's wall clock is the test's ``clock`` (``tests.store.conftest.Clock``, shared with the
  store); ``serve(store, config, clock, keys)`` serves another app (another ``Api``
  registry, a restart) the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator, FormatChecker
from multidict import CIMultiDictProxy
from nacl.signing import SigningKey
from yarl import URL

from gateway.api.app import create_app
from gateway.api.auth import STATE_CHANGING_METHODS
from gateway.api.problems import PROBLEM_CONTENT_TYPE
from gateway.api.signing import signature_headers
from gateway.api.spec import Api
from gateway.config import XgateConfig
from gateway.domain.apikeys import SIGNING_SCOPES, ApiKey, Scope
from gateway.store import Store
from tests.store.conftest import DIALECTS, Clock, truncate
from tests.store.conftest import pg_server as pg_server  # the session's PostgreSQL
from tests.store.conftest import pg_store_url as pg_store_url

HUB = 20250
PUBLIC = 31337
EP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
LC = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
HS = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"


def config_data(store_url: str) -> dict[str, Any]:
    """An ``xgate.toml`` as data: the consortium hub and one public chain."""
    return {
        "store": {"url": store_url},
        "chains": {
            "consortium": {
                "kind": "qbft",
                "rpc_urls": ["http://127.0.0.1:8545"],
                "chain_id": HUB,
                "finality": "instant",
                "trusted_validators": ["0x" + "11" * 20],
                "contracts": {"endpoint": EP, "header_store": HS},
            },
            "public": {
                "kind": "evm",
                "rpc_urls": ["https://rpc.example/v2/SECRETKEY"],
                "chain_id": PUBLIC,
                "finality": {"confirmations": 2},
                "contracts": {"endpoint": EP, "light_client": LC},
            },
        },
        "routes": [{"from": "consortium", "to": "public"}, {"from": "public", "to": "consortium"}],
    }


@dataclass
class Answer:
    status: int
    content_type: str
    headers: CIMultiDictProxy[str]
    body: Any  # parsed JSON, or the text when not JSON


@dataclass(frozen=True)
class Caller:
    """An API key of the test store: its token, its record and, for signing scopes, the
    Ed25519 key it signs with."""

    token: str = field(repr=False)
    key: ApiKey
    signing_key: SigningKey | None = field(default=None, repr=False)

    @property
    def key_id(self) -> str:
        return self.key.key_id


@dataclass(frozen=True)
class Keys:
    """One key of each scope (``keys[Scope.DAPP]`` or ``keys.dapp``)."""

    read: Caller
    dapp: Caller
    issuer: Caller
    operator: Caller

    def __getitem__(self, scope: Scope | str) -> Caller:
        caller: Caller = getattr(self, Scope(scope).value)
        return caller


# The account issuer keys act as by default: the devnet's first account (its admin and issuer).
ISSUER_ACCOUNT = bytes.fromhex("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")


async def create_caller(
    store: Store,
    *scopes: Scope,
    name: str = "test",
    rate_per_s: float = 1000.0,
    burst: int = 1000,
    chain_account: bytes | None = None,
) -> Caller:
    """A new API key of ``scopes`` in ``store`` (with an Ed25519 key when one is a signing
    scope; an issuer key acts as ``chain_account``, by default ``ISSUER_ACCOUNT``)."""
    signer = SigningKey.generate() if set(scopes) & SIGNING_SCOPES else None
    if chain_account is None and Scope.ISSUER in scopes:
        chain_account = ISSUER_ACCOUNT
    created = await store.create_api_key(
        name,
        scopes,
        ed25519_public_key=None if signer is None else bytes(signer.verify_key),
        chain_account=chain_account,
        rate_per_s=rate_per_s,
        burst=burst,
    )
    return Caller(created.token, created.api_key, signer)


@dataclass
class ApiClient:
    """HTTP to the app under test; every answer is checked against the OpenAPI document.
    Requests carry ``caller``'s key, signed when it has a signing scope (see the module's
    docstring)."""

    client: TestClient[Any, Any]
    document: dict[str, Any]
    checked: list[tuple[str, str, int]] = field(default_factory=list)
    caller: Caller | None = None
    keys: Keys | None = None
    clock: Callable[[], Any] | None = None

    def using(self, caller: Caller | Scope | str | None) -> ApiClient:
        """This client with another key (a ``Caller``, a scope of ``keys``) or none."""
        if isinstance(caller, str):
            assert self.keys is not None
            caller = self.keys[caller]
        return replace(self, caller=caller, checked=self.checked)

    def auth_headers(self) -> dict[str, str]:
        return {} if self.caller is None else {"Authorization": f"Bearer {self.caller.token}"}

    def signed_headers(
        self, method: str, path: str, body: bytes, signer: SigningKey, **kwargs: Any
    ) -> dict[str, str]:
        """The signature headers of a request (the target as the client will send it);
        ``kwargs``: ``timestamp`` (default: the clock's), ``nonce``."""
        target = URL(path).raw_path_qs
        if "timestamp" not in kwargs:
            now = self.clock() if self.clock is not None else None
            kwargs["timestamp"] = int(now.timestamp()) if now is not None else 0
        return signature_headers(signer, method, target, body, **kwargs)

    async def request(self, method: str, path: str, *, sign: bool = True, **kwargs: Any) -> Answer:
        headers = {**self.auth_headers(), **kwargs.pop("headers", {})}
        if "json" in kwargs:
            kwargs["data"] = json.dumps(kwargs.pop("json")).encode()
            headers.setdefault("Content-Type", "application/json")
        body = kwargs.get("data", b"")
        signer = None if self.caller is None else self.caller.signing_key
        if sign and signer is not None and method.upper() in STATE_CHANGING_METHODS:
            assert isinstance(body, bytes)
            headers = {**self.signed_headers(method, path, body, signer), **headers}
        async with self.client.request(method, path, headers=headers, **kwargs) as response:
            answer = await self._read(response)
        self.check(method, path, answer)
        return answer

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    @staticmethod
    async def _read(response: ClientResponse) -> Answer:
        ctype = response.content_type
        body: Any
        if ctype in ("application/json", PROBLEM_CONTENT_TYPE):
            body = await response.json(content_type=None)
        else:
            body = await response.text()
        return Answer(response.status, ctype, response.headers, body)

    def _operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        bare = path.split("?", 1)[0]
        for template, methods in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, bare) and method.lower() in methods:
                return template, methods[method.lower()]
        return None

    def schema_validator(self, ref: str) -> Draft202012Validator:
        schema = {"$ref": ref, "components": self.document["components"]}
        return Draft202012Validator(schema, format_checker=FormatChecker())

    def check(self, method: str, path: str, answer: Answer) -> None:
        found = self._operation(method, path)
        if answer.content_type == PROBLEM_CONTENT_TYPE:
            self.validate("#/components/schemas/ProblemDetails", answer.body)
            assert answer.body["status"] == answer.status
            assert answer.body["instance"] == path.split("?", 1)[0]
        if found is None:
            return
        template, operation = found
        declared = operation["responses"].get(str(answer.status))
        assert declared is not None, f"{method} {template} answered undeclared {answer.status}"
        media = declared["content"].get(answer.content_type)
        assert media is not None, f"{method} {template} {answer.status}: {answer.content_type}"
        self.validate(media["schema"]["$ref"], answer.body)
        self.checked.append((method, template, answer.status))

    def validate(self, ref: str, body: Any) -> None:
        errors = list(self.schema_validator(ref).iter_errors(body))
        assert not errors, f"answer does not match {ref}: {[e.message for e in errors]}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A module with ``ON_BOTH_STORES = True`` runs its tests that use the store on PostgreSQL
    # too (the session's database, emptied before each test).
    if getattr(metafunc.module, "ON_BOTH_STORES", False) and "store_url" in metafunc.fixturenames:
        metafunc.parametrize("store_url", DIALECTS, indirect=True)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file, or PostgreSQL for a module's ``ON_BOTH_STORES`` run."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path / 'xgate.db'}"
    pg_url: str = request.getfixturevalue("pg_store_url")
    truncate(pg_url)
    return pg_url


@pytest.fixture
def config(store_url: str) -> XgateConfig:
    return XgateConfig.model_validate(config_data(store_url))


@pytest.fixture
async def store(store_url: str, clock: Clock) -> AsyncIterator[Store]:
    s = await Store.open(store_url, migrate=True, clock=clock)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def keys(store: Store) -> Keys:
    return Keys(*[await create_caller(store, scope, name=scope.value) for scope in Scope])


@asynccontextmanager
async def serve(
    store: Store,
    config: XgateConfig,
    clock: Callable[[], datetime],
    keys: Keys | None = None,
    *,
    api: Api | None = None,
    **options: Any,
) -> AsyncIterator[ApiClient]:
    """The app on ``store`` (the ``api`` registry, ``create_app``'s ``options``) over HTTP,
    with a client sending ``keys.read`` (when given). ``clock``: the test's ``Clock``, or the
    wall clock for an app on real nodes."""
    app = create_app(store, config, api=api, clock=clock, **options)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        document = await (await client.get("/openapi.json")).json()
        yield ApiClient(
            client,
            document,
            caller=None if keys is None else keys.read,
            keys=keys,
            clock=clock,
        )


@pytest.fixture
async def api(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> AsyncIterator[ApiClient]:
    async with serve(store, config, clock, keys) as client:
        yield client
