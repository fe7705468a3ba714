"""Generated requests against the real app (issue 8: schemathesis against ``/openapi.json``, at
least 1,000 generated requests a run, no 5xx, every answer as the document says).

The app is ``create_app`` on a real SQLite store migrated to head, with recorded messages (so
the transfer reads and lists answer real items and the event log has events), served over HTTP
on loopback, with a whole deployment's configuration (``full_config``: every contract on both
chains, an HTLC keeper) so that no operation stops at a missing address; it has no chain
access. schemathesis reads the app's own ``/openapi.json``: every operation of the
registry is covered, the ones other parts add included, with no list to keep up to date.

Every operation gets ``examples_per_operation()`` generated requests (an even share of
``TARGET_REQUESTS``, at least ``MIN_PER_OPERATION``), half valid by the schema (positive) and
half invalid (negative); hypothesis runs derandomized (one fixed sequence, no example database),
so CI sees the same requests every run. The checks on every answer:

- ``not_a_server_error``: no 5xx, except a 503 ``chains-not-configured`` problem: this app has
  no chain access (the test needs no chain), and the operations that read a chain answer that
  (declared: every operation documents 503);
- ``status_code_conformance``: the status is one the operation declares;
- ``content_type_conformance``: the content type is the one declared for that status;
- ``response_schema_conformance``: the body matches that status's schema.

The caller: one API key with the ``operator`` and ``read`` scopes, so every operation is within
its scopes (``operator`` grants all). Its state-changing requests are signed (it is a signing
scope, docs/api.md §2): a ``requests`` auth hook adds ``Authorization`` and the Ed25519
signature headers (``gateway.api.signing.signature_headers``) over the request exactly as
sent, whatever schemathesis generated for those headers, and replaces a generated
``Idempotency-Key`` by a fresh one. So the generated requests reach the
operations themselves (validation, handlers, the store) rather than stopping at the security
layer, which ``test_auth*.py`` covers; the run also checks that no request was refused as
unauthenticated or out of scope (a 401 here would be a signing mismatch between a client that
signs what it sends and the server).

An event stream (``GET /v1/events``) never ends by itself: its requests read the stream for
``STREAM_READ_S`` (what schemathesis does with ``text/event-stream``) and get fewer examples.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import hypothesis.errors
import requests
import schemathesis
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, Phase, given, settings
from nacl.signing import SigningKey
from requests.auth import AuthBase
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.api.auth import IDEMPOTENCY_HEADER, STATE_CHANGING_METHODS
from gateway.api.problems import PROBLEM_TYPE_BASE
from gateway.api.signing import signature_headers
from gateway.config import XgateConfig
from gateway.domain.apikeys import Scope
from gateway.store import Store
from tests.api.conftest import HUB, PUBLIC, config_data, create_caller, serve
from tests.store.conftest import Clock, new_message, scan

TARGET_REQUESTS = 1_200  # shared among the operations; the issue asks for >= 1,000
MIN_REQUESTS = 1_000
MIN_PER_OPERATION = 40
STREAM_EXAMPLES = 15  # per generation mode: each valid stream request is read for STREAM_READ_S
STREAM_READ_S = 0.25
REQUEST_TIMEOUT_S = 10.0
MESSAGES = 12
CHAINS_NOT_CONFIGURED = PROBLEM_TYPE_BASE + "chains-not-configured"
EVENT_STREAM = "text/event-stream"


HUB_CONTRACTS = (
    "endpoint",
    "header_store",
    "vault",
    "credit_registry",
    "receivable",
    "settlement_token",
    "htlc_native",
    "htlc_erc20",
)
PUBLIC_CONTRACTS = (
    "endpoint",
    "light_client",
    "asset_gateway",
    "credit_mirror",
    "wrapped_receivable",
    "wrapped_settlement_token",
    "htlc_native",
    "htlc_erc20",
)


def _address(n: int) -> str:
    return to_checksum_address(bytes([n]) * 20)


def full_config(store_url: str) -> XgateConfig:
    """tests/api's configuration with every contract of a deployment on both chains and an
    HTLC keeper (its key is named, never read: the API signs nothing)."""
    data = config_data(store_url)
    for name, fields, base in (
        ("consortium", HUB_CONTRACTS, 0x20),
        ("public", PUBLIC_CONTRACTS, 0x40),
    ):
        contracts = data["chains"][name]["contracts"]
        for i, contract in enumerate(fields):
            contracts.setdefault(contract, _address(base + i))
    data["signers"] = {"keeper": {"key_file_env": "XGATE_TEST_KEEPER_KEY_FILE"}}
    data["keeper"] = {"signer": "keeper", "address": _address(0x66)}
    return XgateConfig.model_validate(data)


class SigningAuth(AuthBase):
    """``Authorization`` on every request; on state-changing ones, the signature headers over
    the prepared request: method, target (path and query as sent) and body bytes."""

    def __init__(self, token: str, signing_key: SigningKey, clock: Clock) -> None:
        self._token = token
        self._signing_key = signing_key
        self._clock = clock

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        if IDEMPOTENCY_HEADER in r.headers:
            # Generated keys repeat (derandomized, short): each would answer 422 for every
            # other body. A fresh key lets the operation run; test_auth_idempotency.py tests
            # the keys themselves.
            r.headers[IDEMPOTENCY_HEADER] = f"st-{uuid.uuid4().hex}"
        method = (r.method or "GET").upper()
        if method in STATE_CHANGING_METHODS:
            body = r.body or b""
            if isinstance(body, str):
                body = body.encode()
            assert isinstance(body, bytes), "a streamed body cannot be signed"
            parts = urlsplit(r.url or "")
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            now: datetime = self._clock()
            r.headers.update(
                signature_headers(
                    self._signing_key, method, target, body, timestamp=int(now.timestamp())
                )
            )
        return r


def _problem_type(response: Response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None


def no_server_error(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """``not_a_server_error``, less the 503 of an operation that needs the chains this app was
    started without."""
    if response.status_code == 503 and _problem_type(response) == CHAINS_NOT_CONFIGURED:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS: list[CheckFunction] = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _streams(operation: Any) -> bool:
    responses = operation.definition.raw.get("responses", {})
    return any(EVENT_STREAM in r.get("content", {}) for r in responses.values())


def examples_per_operation(operations: int) -> int:
    """Examples of each generation mode for one operation."""
    return max(MIN_PER_OPERATION, math.ceil(TARGET_REQUESTS / max(operations, 1))) // 2


@dataclass
class Run:
    """What the run sent and got."""

    base_url: str
    auth: SigningAuth
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def call(self, case: Case[Any], timeout: float | tuple[float, float]) -> None:
        response = case.call(
            base_url=self.base_url, session=self.session, auth=self.auth, timeout=timeout
        )
        self.statuses[(case.operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    def operation(self, operation: Any, mode: GenerationMode, examples: int) -> None:
        stream = _streams(operation)
        timeout: float | tuple[float, float] = (
            (REQUEST_TIMEOUT_S, STREAM_READ_S) if stream else REQUEST_TIMEOUT_S
        )

        @settings(
            max_examples=min(examples, STREAM_EXAMPLES) if stream else examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def test(case: Case[Any]) -> None:
            self.call(case, timeout)

        try:
            test()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing invalid to generate (an operation without parameters or body)
        except (Exception, FailureGroup) as exc:  # a check failed or a request could not be made
            self.failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}")


def run_schemathesis(document: dict[str, Any], base_url: str, auth: SigningAuth) -> Run:
    schema = schemathesis.openapi.from_dict(document)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot read an operation: {result.err()}"
        operations.append(result.ok())
    examples = examples_per_operation(len(operations))
    run = Run(base_url, auth)
    with run.session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run.operation(operation, mode, examples)
    return run


async def test_generated_requests_get_no_5xx_and_answers_match_the_document(
    store: Store, store_url: str, clock: Clock
) -> None:
    items = [
        new_message(n, src=HUB, dst=PUBLIC, tracking_id=f"trk-{n}" if n % 3 == 0 else None)
        for n in range(MESSAGES)
    ]
    await scan(store, items, chain=HUB)
    caller = await create_caller(
        store, Scope.OPERATOR, Scope.READ, name="schemathesis", rate_per_s=1e6, burst=1_000_000
    )
    assert caller.signing_key is not None
    auth = SigningAuth(caller.token, caller.signing_key, clock)
    async with serve(store, full_config(store_url), clock) as api:
        base_url = str(api.client.make_url("")).rstrip("/")
        started = time.monotonic()
        run = await asyncio.to_thread(run_schemathesis, api.document, base_url, auth)
        elapsed = time.monotonic() - started

    by_operation: Counter[str] = Counter()
    for (label, _), count in run.statuses.items():
        by_operation[label] += count
    print(
        f"\nschemathesis: {run.requests} requests to {len(by_operation)} operations in "
        f"{elapsed:.1f} s; statuses: "
        + ", ".join(f"{label} {status}: {n}" for (label, status), n in sorted(run.statuses.items()))
    )
    assert not run.failures, "\n\n".join(run.failures)
    assert run.requests >= MIN_REQUESTS
    operations = {
        f"{method.upper()} {path}" for path, ops in api.document["paths"].items() for method in ops
    }
    assert set(by_operation) == operations  # every operation was called
    refused = {key: n for key, n in run.statuses.items() if key[1] in (401, 403)}
    assert not refused, f"requests refused by the security layer: {refused}"
