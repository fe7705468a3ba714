"""The operator's operations over HTTP, on a real store: API keys (list without secrets, create
with the token shown once, revoke; a created key works, a revoked one is refused, the last
operator key is kept), the relay services' health from a real ops server and from a closed
port, with the store's signer locks, queue and checkpoints; several ops servers of ``[api]
services`` asked at once (two real ones, a closed port, two that never answer), with the
relayers' message leases by owner; bad inputs as specific problems.
The route operations read and build on live chains: tests/e2e/test_operator_routes.py."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from nacl.signing import SigningKey

from gateway.api.spec import Api
from gateway.api.v1 import v1_api
from gateway.config import XgateConfig
from gateway.domain.apikeys import Scope
from gateway.domain.status import MessageStatus
from gateway.store import Store
from relayers.metrics import RelayMetrics
from relayers.ops import ops_app, serve_ops
from relayers.supervisor import Supervisor
from tests.api.conftest import ApiClient, Caller, Keys, config_data, serve
from tests.store.conftest import Clock, new_message, scan

SIGNER = "11" * 20


def operator_api() -> Api:
    return v1_api()  # the operator's operations are v1's


@pytest.fixture
async def op(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> AsyncIterator[ApiClient]:
    async with serve(store, config, clock, keys, api=operator_api()) as client:
        yield client.using("operator")


async def test_an_operator_creates_lists_and_revokes_keys(op: ApiClient, keys: Keys) -> None:
    listed = await op.get("/v1/operator/keys")
    assert listed.status == 200
    assert {k["key_id"] for k in listed.body["items"]} == {keys[s].key_id for s in Scope}
    assert all("token" not in k and "secret" not in k for k in listed.body["items"])

    created = await op.request(
        "POST",
        "/v1/operator/keys",
        json={"name": "shop", "scopes": ["dapp"], "rate_per_s": 5, "burst": 10},
    )
    assert created.status == 201, created.body
    key = created.body
    assert key["scopes"] == ["dapp"] and key["ed25519_public_key"] is None
    assert (key["rate_per_s"], key["burst"], key["revoked_at"]) == (5.0, 10, None)
    assert key["token"].startswith(f"xg_{key['key_id']}_")
    listed = await op.get("/v1/operator/keys")
    assert key["key_id"] in {k["key_id"] for k in listed.body["items"]}
    assert all("token" not in k for k in listed.body["items"])

    # The new key works, with its scope only.
    shop = op.using(Caller(key["token"], keys.dapp.key, None))
    assert (await shop.get("/v1/chains")).status == 200
    assert (await shop.get("/v1/operator/keys")).status == 403

    revoked = await op.request("DELETE", f"/v1/operator/keys/{key['key_id']}")
    assert revoked.status == 200 and revoked.body["revoked_at"] is not None
    refused = await shop.get("/v1/chains")
    assert (refused.status, refused.body["type"].rsplit("/", 1)[1]) == (401, "invalid-api-key")
    active = await op.get("/v1/operator/keys")
    assert key["key_id"] not in [k["key_id"] for k in active.body["items"]]
    every = await op.get("/v1/operator/keys?include_revoked=true")
    assert key["key_id"] in {k["key_id"] for k in every.body["items"]}
    again = await op.request("DELETE", f"/v1/operator/keys/{key['key_id']}")
    assert again.status == 200 and again.body["revoked_at"] == revoked.body["revoked_at"]


async def test_a_new_operator_key_signs_and_the_last_operator_key_is_kept(
    op: ApiClient, keys: Keys, store: Store
) -> None:
    mine = keys.operator.key_id
    kept = await op.request("DELETE", f"/v1/operator/keys/{mine}")
    assert (kept.status, kept.body["type"].rsplit("/", 1)[1]) == (409, "last-operator-key")
    assert "the key of this request" in kept.body["detail"]

    signer = SigningKey.generate()
    public = "0x" + bytes(signer.verify_key).hex()
    created = await op.request(
        "POST",
        "/v1/operator/keys",
        json={"name": "second operator", "scopes": ["operator"], "ed25519_public_key": public},
    )
    assert created.status == 201 and created.body["ed25519_public_key"] == public
    assert created.body["chain_account"] is None
    record = await store.api_key(created.body["key_id"])
    assert record is not None
    second = op.using(Caller(created.body["token"], record, signer))
    assert (await second.request("DELETE", f"/v1/operator/keys/{mine}")).status == 200
    assert (await op.get("/v1/operator/keys")).status == 401  # the first one is revoked
    # Unsigned, the second one's request is refused and revokes nothing.
    unsigned = await second.request("DELETE", f"/v1/operator/keys/{keys.dapp.key_id}", sign=False)
    assert (unsigned.status, unsigned.body["type"].rsplit("/", 1)[1]) == (
        401,
        "signature-required",
    )
    dapp = await store.api_key(keys.dapp.key_id)
    assert dapp is not None and dapp.active


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["operator"]}, "body.ed25519_public_key"),
        ({"name": "x", "scopes": ["dapp", "dapp"]}, "body.scopes"),
        ({"name": "x", "scopes": []}, "body.scopes"),
        ({"name": "x", "scopes": ["admin"]}, "body.scopes[0]"),
        ({"name": " ", "scopes": ["read"]}, "body.name"),
        ({"name": "x" * 101, "scopes": ["read"]}, "body.name"),
        ({"name": "x", "scopes": ["read"], "rate_per_s": 0}, "body.rate_per_s"),
        ({"name": "x", "scopes": ["read"], "burst": "5"}, "body.burst"),
        ({"name": "x", "scopes": ["issuer"], "ed25519_public_key": "0x" + "AB" * 32},
         "body.ed25519_public_key"),
        ({"name": "x", "scopes": ["read"], "token": "mine"}, "body.token"),
        # An issuer key acts as one account, given checksummed.
        ({"name": "x", "scopes": ["issuer"], "ed25519_public_key": "0x" + "ab" * 32},
         "body.chain_account"),
        ({"name": "x", "scopes": ["read"], "chain_account": "0x" + "ab" * 20},
         "body.chain_account"),
    ],
)  # fmt: skip
async def test_a_bad_key_is_a_400_naming_the_field(
    op: ApiClient, body: dict[str, Any], field: str
) -> None:
    answer = await op.request("POST", "/v1/operator/keys", json=body)
    assert answer.status == 400, answer.body
    assert [e["field"] for e in answer.body["errors"]] == [field]


async def test_an_issuer_key_is_made_with_its_chain_account(op: ApiClient, store: Store) -> None:
    account = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    created = await op.request(
        "POST",
        "/v1/operator/keys",
        json={
            "name": "rating member",
            "scopes": ["issuer"],
            "ed25519_public_key": "0x" + "ab" * 32,
            "chain_account": account,
        },
    )
    assert created.status == 201, created.body
    assert created.body["chain_account"] == account
    record = await store.api_key(created.body["key_id"])
    assert record is not None and record.chain_account == bytes.fromhex(account[2:])
    listed = await op.get("/v1/operator/keys")
    accounts = {k["key_id"]: k["chain_account"] for k in listed.body["items"]}
    assert accounts[created.body["key_id"]] == account


async def test_unknown_and_malformed_key_ids(op: ApiClient) -> None:
    unknown = await op.request("DELETE", "/v1/operator/keys/0123456789abcdef")
    assert (unknown.status, unknown.body["type"].rsplit("/", 1)[1]) == (404, "api-key-not-found")
    bad = await op.request("DELETE", "/v1/operator/keys/NOT-A-KEY")
    assert bad.status == 400 and bad.body["errors"][0]["field"] == "path.key_id"


async def test_operator_operations_are_the_operators_only(op: ApiClient) -> None:
    for scope in ("read", "dapp", "issuer"):
        for path in ("/v1/operator/keys", "/v1/operator/services", "/v1/operator/routes"):
            answer = await op.using(scope).get(path)
            assert answer.status == 403, (scope, path)
    # No chain access in this app: the route operations say so, without a 5xx of their own.
    routes = await op.get("/v1/operator/routes")
    assert (routes.status, routes.body["type"].rsplit("/", 1)[1]) == (
        503,
        "chains-not-configured",
    )


class _Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.interval_s = 1.0

    async def step(self) -> bool:
        return True


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when this returns


async def test_services_health_from_a_real_ops_server_and_a_closed_port(
    store: Store, store_url: str, clock: Clock, keys: Keys
) -> None:
    names = ["deliver:consortium->public", "attest:public:0x11111111", "keeper", "trust"]
    supervisor = Supervisor([_Worker(n) for n in names])
    for health in supervisor.health.values():
        health.steps = 3
    supervisor.health["keeper"].failures = 2
    supervisor.health["keeper"].last_error = "RpcUnavailable: node down"
    # The store's side: a signer lock, messages waiting, a watcher checkpoint.
    lease = await store.acquire_lock(f"signer:0x{SIGNER}", "host:1:abc", 30.0)
    assert lease is not None
    await scan(store, [new_message(1, src=1, dst=2), new_message(2, src=1, dst=2)], chain=1)

    async with serve_ops(ops_app(supervisor, RelayMetrics()), "127.0.0.1", 0) as port:
        data = config_data(store_url) | {"ops": {"listen": f"127.0.0.1:{port}"}}
        config = XgateConfig.model_validate(data)
        async with serve(store, config, clock, keys, api=operator_api()) as client:
            answer = await client.using("operator").get("/v1/operator/services")
            assert answer.status == 200, answer.body
            (service,) = answer.body["services"]
            assert (service["state"], service["error"]) == ("not_ready", None)
            assert service["roles"] == ["attester", "keeper", "relayer"]
            workers = {w["name"]: w for w in service["workers"]}
            assert workers["keeper"]["consecutive_failures"] == 2
            assert workers["keeper"]["last_error"] == "RpcUnavailable: node down"
            assert [workers[n]["role"] for n in names] == [
                "relayer", "attester", "keeper", "service"
            ]  # fmt: skip
            supervisor.health["keeper"].failures = 0
            answer = await client.using("operator").get("/v1/operator/services")
            assert answer.body["services"][0]["state"] == "ready"

            (lock,) = answer.body["signer_locks"]
            assert lock["signer"].lower() == "0x" + SIGNER and lock["owner"] == "host:1:abc"
            assert lock["expired"] is False
            assert answer.body["queue"] == [
                {"src_chain_id": 1, "dst_chain_id": 2, "status": "final", "count": 2}
            ]
            (checkpoint,) = answer.body["checkpoints"]
            assert (checkpoint["chain_id"], checkpoint["chain"]) == (1, None)
            assert checkpoint["height"] == 12
            clock.advance(31)  # nobody renewed the lease
            answer = await client.using("operator").get("/v1/operator/services")
            assert answer.body["signer_locks"][0]["expired"] is True

    # Nothing listens there any more: the service is down, and the answer is still a 200.
    config = XgateConfig.model_validate(
        config_data(store_url) | {"ops": {"listen": f"127.0.0.1:{_closed_port()}"}}
    )
    async with serve(store, config, clock, keys, api=operator_api()) as client:
        answer = await client.using("operator").get("/v1/operator/services")
        assert answer.status == 200
        (service,) = answer.body["services"]
        assert service["state"] == "down" and service["workers"] == []
        assert "Connect" in service["error"]


@contextmanager
def _silent_ports(count: int) -> Iterator[list[int]]:
    """Ports that take connections (the kernel's backlog) and never answer."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            ports.append(int(sock.getsockname()[1]))
        yield ports


async def test_every_configured_ops_server_is_asked_at_once_with_the_relayers_leases(
    store: Store, store_url: str, clock: Clock, keys: Keys
) -> None:
    relayer = Supervisor([_Worker("deliver:consortium->public"), _Worker("headers:public")])
    attester = Supervisor([_Worker("attest:public:0x11111111")])
    for supervisor in (relayer, attester):
        for health in supervisor.health.values():
            health.steps = 1
    attester.health["attest:public:0x11111111"].stopped = "signer key refused"
    # Messages leased by two relayer processes; a third's lease expired long ago.
    messages = [new_message(n, src=1, dst=2) for n in range(1, 7)] + [new_message(7, dst=3)]
    await scan(store, messages, chain=1)
    final = [MessageStatus.FINAL]
    gone = await store.claim_messages("old:9", dst_chain_id=3, statuses=final, limit=1, lease_s=5)
    assert len(gone) == 1
    clock.advance(301 + 5)  # its lease expired more than 5 minutes ago
    a = await store.claim_messages("host-a:1", dst_chain_id=2, statuses=final, limit=3, lease_s=30)
    clock.advance(10)
    b = await store.claim_messages("host-b:2", dst_chain_id=2, statuses=final, limit=1, lease_s=5)
    assert (len(a), len(b)) == (3, 1)
    clock.advance(6)  # host-b stopped renewing

    ops = RelayMetrics()
    async with (
        serve_ops(ops_app(relayer, ops), "127.0.0.1", 0) as relayer_port,
        serve_ops(ops_app(attester, RelayMetrics()), "127.0.0.1", 0) as attester_port,
    ):
        with _silent_ports(2) as (silent_1, silent_2):
            services = [
                {"name": "relayer-a", "url": f"http://127.0.0.1:{relayer_port}"},
                {"name": "attester-1", "url": f"http://127.0.0.1:{attester_port}/"},
                {"name": "keeper", "url": f"http://127.0.0.1:{_closed_port()}"},
                {"name": "hung-1", "url": f"http://127.0.0.1:{silent_1}"},
                {"name": "hung-2", "url": f"http://127.0.0.1:{silent_2}"},
            ]
            data = config_data(store_url) | {"api": {"services": services}}
            config = XgateConfig.model_validate(data)
            async with serve(store, config, clock, keys, api=operator_api()) as client:
                started = time.monotonic()
                answer = await client.using("operator").get("/v1/operator/services")
                elapsed = time.monotonic() - started
    assert answer.status == 200, answer.body
    # Each within the 2-s timeout, all at once: two silent servers do not take 4 s.
    assert elapsed < 3.5, elapsed
    by_name = {s["name"]: s for s in answer.body["services"]}
    assert list(by_name) == ["relayer-a", "attester-1", "keeper", "hung-1", "hung-2"]
    assert by_name["relayer-a"]["state"] == "ready" and by_name["relayer-a"]["roles"] == ["relayer"]
    assert by_name["attester-1"]["url"].endswith("/")
    assert (by_name["attester-1"]["state"], by_name["attester-1"]["roles"]) == (
        "not_ready",
        ["attester"],
    )
    (stopped,) = by_name["attester-1"]["workers"]
    assert stopped["stopped"] == "signer key refused"
    assert by_name["keeper"]["state"] == "down" and "Connect" in by_name["keeper"]["error"]
    for name in ("hung-1", "hung-2"):
        assert (by_name[name]["state"], by_name[name]["error"]) == ("down", "timed out")

    leases = {lease["owner"]: lease for lease in answer.body["relayer_leases"]}
    assert set(leases) == {"host-a:1", "host-b:2"}  # "old:9" let its lease go long ago
    assert (leases["host-a:1"]["messages"], leases["host-a:1"]["expired"]) == (3, False)
    assert (leases["host-b:2"]["messages"], leases["host-b:2"]["expired"]) == (1, True)
    assert leases["host-b:2"]["lease_until"] < answer.body["checked_at"]
