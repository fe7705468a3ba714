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

The schema says less than the validation checks (docs/api.md §1): a random string of the
address pattern is almost never EIP-55 checksummed, a random chain id is almost never a
configured one, a random uint256 text may be above 2**256 - 1. Schema-level hooks
(``flatmap_body``, ``flatmap_path_parameters``, ``flatmap_query``: ``Known.register``) make
most generated requests valid for the app too: walking the operation's schema along the
generated value, every value the schema accepts is replaced by one the app accepts (the
checksummed spelling or a configured contract, a configured chain id, a uint in range or a
small positive amount, an ``https`` webhook URL, a 65-byte signature; in paths and queries a
recorded transfer, tx hash, swap, webhook or event id, a spare API key). A value the schema
refuses (a negative case's mutation) is kept, and one request in ``KEEP_AS_GENERATED`` keeps
each part as generated, so requests the app refuses (400) are still sent. The run tallies the
POSTs' statuses and checks that most reach the operation (an answer other than 400), that
every POST operation does at least once, and that the ones that need no chain succeed.

An event stream (``GET /v1/events``) never ends by itself: its requests read the stream for
``STREAM_READ_S`` (what schemathesis does with ``text/event-stream``) and get fewer examples.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import hypothesis.errors
import requests
import schemathesis
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
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

from adapters.types import Address, ChainId, Hash32
from gateway.api.auth import IDEMPOTENCY_HEADER, STATE_CHANGING_METHODS
from gateway.api.problems import PROBLEM_TYPE_BASE
from gateway.api.signing import signature_headers
from gateway.config import XgateConfig
from gateway.domain.apikeys import SIGNING_SCOPES, Scope
from gateway.domain.status import AssetKind, Swap, SwapLeg
from gateway.store import Store
from tests.api.conftest import HUB, PUBLIC, config_data, create_caller, serve
from tests.store.conftest import Clock, addr, h32, new_message, scan

TARGET_REQUESTS = 1_200  # shared among the operations; the issue asks for >= 1,000
MIN_REQUESTS = 1_000
MIN_PER_OPERATION = 40
STREAM_EXAMPLES = 15  # per generation mode: each valid stream request is read for STREAM_READ_S
STREAM_READ_S = 0.25
REQUEST_TIMEOUT_S = 10.0
MESSAGES = 12
CHAINS_NOT_CONFIGURED = PROBLEM_TYPE_BASE + "chains-not-configured"
EVENT_STREAM = "text/event-stream"
SPARE_KEYS = 3  # API keys that generated DELETE /v1/operator/keys/{key_id} may revoke
KEEP_AS_GENERATED = 5  # one request part in 5 is sent as generated, without the hooks' values
# Of the POSTs' answers, the share that reached the operation (not a 400 of the validation):
# 0.11 before the hooks (positive and negative alike); with them 0.83 of the positive ones
# and 0.54 of all.
MIN_POSITIVE_POST_REACHED = 0.7
MIN_POST_REACHED = 0.45
# POSTs that need no chain access: some generated ones succeed.
SUCCEED_WITHOUT_CHAINS = ("POST /v1/webhooks", "POST /v1/operator/keys")

ADDRESS_PATTERN = "^0x[0-9a-fA-F]{40}$"  # gateway/api/models.py ChecksumAddress
ADDRESS = re.compile(ADDRESS_PATTERN)
UINT_PATTERN = "^(?:0|[1-9][0-9]*)$"
UINT = re.compile(UINT_PATTERN)
UINT_TOPS = {len(str(2**bits - 1)): 2**bits - 1 for bits in (64, 112, 256)}  # by maxLength
HEX_BYTES_PATTERN = "^0x(?:[0-9a-f]{2})*$"
CHAIN_ID_FIELDS = frozenset({"chain_id", "src_chain_id", "dst_chain_id", "remote_chain_id"})
CHAIN_ID_DESCRIPTION = "a chain id of a configured chain"  # ChainIdParam's (array items too)
MAX_CHAIN_ID = 2**63 - 1
EVENT_IDS = 8  # small ids: webhooks the run registered, events of the recorded messages
WEBHOOK_URLS = ("https://hooks.example.com/xgate", "https://receiver.example.org/events?x=1")


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


def _contracts(config: XgateConfig) -> set[str]:
    """The configured contracts' addresses, checksummed."""
    return {
        to_checksum_address(address)
        for chain in config.chains.values()
        for address in chain.contracts.model_dump().values()
        if isinstance(address, (str, bytes)) and address
    }


def _swap(config: XgateConfig) -> Swap:
    """A proposed swap between the two chains' ERC-20 HTLCs (``POST /v1/swaps`` needs the
    chains: the run could not make one)."""
    htlc = {chain.chain_id: chain.contracts.htlc_erc20 for chain in config.chains.values()}

    def leg(chain: int, claimer: int, refunder: int) -> SwapLeg:
        assert htlc[chain] is not None
        return SwapLeg(
            ChainId(chain), Address(bytes(htlc[chain])), AssetKind.ERC20, addr(0x60), 10,
            addr(claimer), addr(refunder), 1_800_000_000 + chain,
        )  # fmt: skip

    return Swap(
        swap_id=Hash32(h32("schemathesis swap")),
        hashlock=Hash32(h32("schemathesis lock")),
        initiator=addr(1),
        participant=addr(2),
        initiator_leg=leg(HUB, 2, 1),
        participant_leg=leg(PUBLIC, 1, 2),
    )


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


def _mostly(valid: st.SearchStrategy[Any], generated: Any) -> st.SearchStrategy[Any]:
    """``valid``, except one draw in ``KEEP_AS_GENERATED``: ``generated``. (Hypothesis draws an
    integer range's bounds more often than the others: both bounds here choose ``valid``.)"""
    return st.integers(0, 10 * KEEP_AS_GENERATED - 2).flatmap(
        lambda i: st.just(generated) if i % KEEP_AS_GENERATED == 1 else valid
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# A whole-second time after the test clock (2026-01-01), for valid_until.
TIMES = st.integers(1_767_225_600 + 86_400, 1_767_225_600 + 5 * 365 * 86_400).map(
    lambda t: datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
)
ED25519_KEY = "0x" + bytes(SigningKey(bytes(32)).verify_key).hex()
SIGNING_SCOPE_NAMES = frozenset(s.value for s in SIGNING_SCOPES)


@dataclass(frozen=True)
class Known:
    """What the test's app holds: the values generated requests are given so that the app
    accepts them (see the module's docstring)."""

    document: Mapping[str, Any]
    chain_ids: tuple[int, ...]
    addresses: tuple[str, ...]  # configured contracts, checksummed
    transfer_refs: tuple[str, ...]  # recorded messages' ids and tracking ids
    tx_hashes: tuple[str, ...]  # their source transactions
    swap_ids: tuple[str, ...]
    hashlocks: tuple[str, ...]
    key_ids: tuple[str, ...]  # spare API keys

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.document["components"]["schemas"][name]
        return schema

    def _fits(self, schema: Mapping[str, Any], value: Any) -> bool:
        """Whether ``value`` is of the (resolved) schema's type: picks an ``anyOf`` branch."""
        kind = self._resolve(schema).get("type")
        if kind == "null":
            return value is None
        if kind == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        types = {"object": dict, "array": list, "string": str, "boolean": bool}
        return kind is None or isinstance(value, types.get(kind, object))

    def value(self, schema: Mapping[str, Any], value: Any, name: str) -> st.SearchStrategy[Any]:
        """``value`` (of field ``name``) as the app accepts it, when the schema accepts it."""
        schema = self._resolve(schema)
        for branch in schema.get("anyOf", ()):
            if self._fits(branch, value):
                return self.value(branch, value, name)
        if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
            props = schema["properties"]
            fields = st.fixed_dictionaries(
                {
                    k: self.value(props[k], v, k) if k in props else st.just(v)
                    for k, v in value.items()
                }
            )
            consistent = getattr(self, f"_consistent_{schema.get('title')}", None)
            return fields if consistent is None else fields.map(consistent)
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            items = [self.value(schema["items"], v, name) for v in value]
            return st.tuples(*items).map(list)
        return self.scalar(schema, value, name)

    def scalar(self, schema: Mapping[str, Any], value: Any, name: str) -> st.SearchStrategy[Any]:
        pattern = schema.get("pattern")
        if schema.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON's 5.0: the app wants 5
        if _is_int(value):
            chain_id = name in CHAIN_ID_FIELDS or schema.get("description") == CHAIN_ID_DESCRIPTION
            if chain_id and 1 <= value <= MAX_CHAIN_ID:
                return st.sampled_from(self.chain_ids)
        elif isinstance(value, str):
            if pattern == ADDRESS_PATTERN and ADDRESS.match(value):
                if int(value, 16) == 0:  # the zero address is no account
                    return st.sampled_from(self.addresses)
                checksummed = to_checksum_address(value)
                return st.integers(0, 3).flatmap(
                    lambda i: st.sampled_from(self.addresses) if i == 1 else st.just(checksummed)
                )
            if schema.get("format") == "date-time":
                return TIMES
            top = UINT_TOPS.get(schema.get("maxLength", 0))
            if pattern == UINT_PATTERN and top is not None and UINT.match(value):
                in_range = str(int(value) % (top + 1))
                return st.one_of(st.just(in_range), st.integers(1, 10**21).map(str))
            if pattern == HEX_BYTES_PATTERN and name == "signature":  # 65 bytes: r, s, v
                return st.tuples(
                    st.binary(min_size=64, max_size=64), st.sampled_from([27, 28])
                ).map(lambda rv: "0x" + (rv[0] + bytes([rv[1]])).hex())
            if name == "hashlock" and self.hashlocks:
                return st.one_of(st.just(value), st.sampled_from(self.hashlocks))
            if name == "url":
                return st.sampled_from(WEBHOOK_URLS)
        return st.just(value)

    # The rules between a model's fields (its model validators), by the schema's title.

    def _consistent_TransferTerms(self, body: dict[str, Any]) -> dict[str, Any]:
        receivable = body.get("asset") == "receivable"
        given, other = ("token_id", "amount") if receivable else ("amount", "token_id")
        body.pop(other, None)
        body[given] = body.get(given) or "1"
        return body

    def _consistent_SwapAsset(self, asset: dict[str, Any]) -> dict[str, Any]:
        if asset.get("kind") == "native":
            asset.pop("token", None)
        elif not asset.get("token"):
            asset["token"] = self.addresses[0]
        self._consistent_SwapAsset_value(asset)
        return asset

    def _consistent_SwapAsset_value(self, asset: dict[str, Any]) -> None:
        if asset.get("kind") != "erc721" and asset.get("value") == "0":
            asset["value"] = "1"  # the HTLCs refuse a zero amount

    def _consistent_RouteLimitRequest(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("via") == "guardian":
            body.pop("executor", None)
            body.pop("salt", None)
        return body

    def _consistent_SwapAuthorize(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("claim"):
            body["refund"] = True
        return body

    def _consistent_OperatorKeyCreate(self, body: dict[str, Any]) -> dict[str, Any]:
        name = "".join(c for c in str(body.get("name", "")) if c.isprintable()).strip()
        body["name"] = name or "generated"
        scopes = body.get("scopes")
        if isinstance(scopes, list) and all(isinstance(x, str) for x in scopes):
            body["scopes"] = list(dict.fromkeys(scopes))
            if SIGNING_SCOPE_NAMES & set(scopes) and not body.get("ed25519_public_key"):
                body["ed25519_public_key"] = ED25519_KEY
        return body

    def parameter(
        self, operation: Any, where: str, name: str, value: Any
    ) -> st.SearchStrategy[Any]:
        """A path or query parameter: the ids the app holds, else as ``value``."""
        schema: Mapping[str, Any] = {}
        for p in operation.definition.raw.get("parameters", ()):
            if p.get("in") == where and p.get("name") == name:
                schema = p.get("schema", {})
        path = operation.path
        if isinstance(value, str):
            if name == "id" and path.startswith("/v1/transfers/") and value:
                return st.sampled_from(self.transfer_refs)
            if (
                name == "id"
                and path.startswith("/v1/swaps/")
                and re.fullmatch("0x[0-9a-f]{64}", value)
            ):
                return st.sampled_from(self.swap_ids)
            if name == "src_tx_hash" and re.fullmatch("0x[0-9a-f]{64}", value):
                return st.sampled_from(self.tx_hashes)
            if name == "key_id" and re.fullmatch("[0-9a-f]{16}", value):
                return st.sampled_from(self.key_ids)
        event_or_webhook = name in ("webhook_id", "event_id") or (
            name == "id" and path.startswith("/v1/webhooks/")
        )
        if event_or_webhook and _is_int(value) and value >= 0:
            return st.integers(1, EVENT_IDS)
        return self.value(schema, value, name)

    def register(self, schema: Any) -> None:
        """The hooks, on ``schema`` only."""

        def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
            definition = context.operation.definition.raw
            content = definition.get("requestBody", {}).get("content", {})
            body_schema = content.get("application/json", {}).get("schema", {})
            return _mostly(self.value(body_schema, body, ""), body)

        def parameters(where: str) -> Any:
            def flatmap(context: Any, values: Any) -> st.SearchStrategy[Any]:
                if not isinstance(values, dict) or not values:
                    return st.just(values)
                fixed = st.fixed_dictionaries(
                    {k: self.parameter(context.operation, where, k, v) for k, v in values.items()}
                )
                return _mostly(fixed, values)

            return flatmap

        schema.hook("flatmap_body")(flatmap_body)
        schema.hook("flatmap_path_parameters")(parameters("path"))
        schema.hook("flatmap_query")(parameters("query"))


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
    posts: Counter[tuple[str, int]] = field(default_factory=Counter)  # (mode, status)
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def call(self, case: Case[Any], timeout: float | tuple[float, float]) -> None:
        response = case.call(
            base_url=self.base_url, session=self.session, auth=self.auth, timeout=timeout
        )
        self.statuses[(case.operation.label, response.status_code)] += 1
        if case.method == "POST":
            mode = case.meta.generation.mode if case.meta is not None else GenerationMode.POSITIVE
            self.posts[(mode.value, response.status_code)] += 1
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


def run_schemathesis(
    document: dict[str, Any], base_url: str, auth: SigningAuth, known: Known
) -> Run:
    schema = schemathesis.openapi.from_dict(document)
    known.register(schema)
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
    config = full_config(store_url)
    swap = await store.upsert_swap(_swap(config))
    caller = await create_caller(
        store, Scope.OPERATOR, Scope.READ, name="schemathesis", rate_per_s=1e6, burst=1_000_000
    )
    spare = [await create_caller(store, Scope.READ, name=f"spare-{n}") for n in range(SPARE_KEYS)]
    assert caller.signing_key is not None
    auth = SigningAuth(caller.token, caller.signing_key, clock)
    async with serve(store, config, clock) as api:
        known = Known(
            document=api.document,
            chain_ids=tuple(chain.chain_id for chain in config.chains.values()),
            addresses=tuple(sorted(_contracts(config))),
            transfer_refs=tuple(
                ref
                for item in items
                for ref in ("0x" + bytes(item.id).hex(), item.tracking_id)
                if ref is not None
            ),
            tx_hashes=tuple("0x" + bytes(item.src_tx_hash).hex() for item in items),
            swap_ids=("0x" + swap.swap_id.hex(),),
            hashlocks=("0x" + swap.hashlock.hex(),),
            key_ids=tuple(c.key_id for c in spare),
        )
        base_url = str(api.client.make_url("")).rstrip("/")
        started = time.monotonic()
        run = await asyncio.to_thread(run_schemathesis, api.document, base_url, auth, known)
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

    # The generated POSTs reach the operations, not only their validation's 400.
    reached = Counter(label for (label, status) in run.statuses if label.startswith("POST "))
    reached.subtract(
        label for (label, status) in run.statuses if label.startswith("POST ") and status == 400
    )
    shares = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        answers = {st_: n for (m, st_), n in run.posts.items() if m == mode.value}
        shares[mode] = 1 - answers.get(400, 0) / max(sum(answers.values()), 1)
        print(f"POST {mode.value}: {dict(sorted(answers.items()))}; reached: {shares[mode]:.2f}")
    assert shares[GenerationMode.POSITIVE] >= MIN_POSITIVE_POST_REACHED, run.posts
    total = sum(run.posts.values())
    assert 1 - sum(n for (_, st_), n in run.posts.items() if st_ == 400) / total >= MIN_POST_REACHED
    unreached = {
        label
        for label in operations
        if label.startswith("POST ")
        and not any(lb == label and st_ != 400 for lb, st_ in run.statuses)
    }
    assert not unreached, f"POST operations that only answered 400: {sorted(unreached)}"
    for label in SUCCEED_WITHOUT_CHAINS:
        assert any(lb == label and 200 <= st_ < 300 for lb, st_ in run.statuses), label
