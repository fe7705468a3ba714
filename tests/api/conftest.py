"""Fixtures of the API tests: a real store (a SQLite file migrated to head, messages recorded
through the ``Store`` facade as the watcher and the relayers do) under the real aiohttp app,
served over HTTP on a loopback port.

``ApiClient`` checks every answer against the app's own OpenAPI document: an operation's
answer must have a declared status and match that status's schema, and every problem
(``application/problem+json``) matches the ``ProblemDetails`` schema, wherever it came from.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator, FormatChecker
from multidict import CIMultiDictProxy

from gateway.api.app import create_app
from gateway.api.problems import PROBLEM_CONTENT_TYPE
from gateway.config import XgateConfig
from gateway.store import Store
from tests.store.conftest import Clock

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


@dataclass
class ApiClient:
    """HTTP to the app under test; every answer is checked against the OpenAPI document."""

    client: TestClient[Any, Any]
    document: dict[str, Any]
    checked: list[tuple[str, str, int]] = field(default_factory=list)

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        async with self.client.request(method, path, **kwargs) as response:
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


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'xgate.db'}"


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
async def api(store: Store, config: XgateConfig) -> AsyncIterator[ApiClient]:
    app = create_app(store, config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        document = await (await client.get("/openapi.json")).json()
        yield ApiClient(client, document)
