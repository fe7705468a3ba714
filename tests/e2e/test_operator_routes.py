"""The operator's routes and services on the live devnet, through the gateway API: routes and
their value limits read from the chains; a pause built by the API, signed by the guardian's
key and sent, pauses the route at once; the resume the API builds (timelock schedule, then
execute after the delay), signed by the governor and another account, unpauses it; a limit
the guardian tightens at once and the timelock sets back; the running relay service's health.
The gateway signs nothing: the test signs what it answers, as an operator's wallet would, with
the gas the API estimated (a timelock's execute has none: it cannot be estimated before the
delay). A chain that cannot be read (its RPC URL a closed port, or a proxy to its node that
stops) leaves the other chains' routes listed and its own marked unavailable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.registry import build_adapter
from adapters.retry import RetryPolicy
from gateway.api.chains import ChainAccess
from gateway.api.v1 import v1_api
from gateway.cli.deployment import (
    DEVNET_GOVERNOR_ACCOUNT,
    DEVNET_GUARDIAN_ACCOUNT,
    SETTLEMENT_LIMIT,
)
from gateway.config import XgateConfig
from gateway.config.model import OpsConfig
from gateway.domain.apikeys import Scope
from gateway.store import Store
from harness.chain import Chain, Reverted
from harness.services import ServiceProcess, free_port
from tests.api.conftest import ApiClient, create_caller, serve
from tests.e2e.conftest import Devnet
from tests.store.conftest import Clock

GOVERNOR, GUARDIAN, STRANGER = DEVNET_GOVERNOR_ACCOUNT, DEVNET_GUARDIAN_ACCOUNT, 8
INBOUND = 0


@pytest.fixture
async def operator(devnet: Devnet, services: ServiceProcess) -> AsyncIterator[ApiClient]:
    """The API on the devnet's store and chains, its ops target the running services, with an
    operator key."""
    ops = OpsConfig(listen=f"127.0.0.1:{services.ops_port}")
    async with operator_api(devnet.config.model_copy(update={"ops": ops})) as client:
        yield client


@contextlib.asynccontextmanager
async def operator_api(cfg: XgateConfig) -> AsyncIterator[ApiClient]:
    """The API on ``cfg``'s store and chains, with an operator key."""
    api = v1_api()
    store = await Store.open(cfg.store.url, migrate=False)
    chains = ChainAccess(cfg, lambda name, chain: build_adapter(chain.adapter_config(name)))
    try:
        caller = await create_caller(store, Scope.OPERATOR, name="e2e operator")
        clock = Clock(datetime.now(UTC))
        async with serve(store, cfg, clock, api=api, chains=chains) as client:
            yield client.using(caller)
    finally:
        await chains.aclose()
        await store.close()


def sign_and_send(devnet: Devnet, chain: Chain, tx: dict[str, Any]) -> None:
    """What the operator's wallet does with an unsigned transaction of the API: with its gas
    when the API estimated it."""
    assert tx["chain_id"] == chain.chain_id and tx["value"] == "0"
    sender = next(i for i in range(10) if devnet.address(i) == tx["sender"])
    gas = None if tx["gas"] is None else int(tx["gas"])
    chain.send_raw_tx(tx["to"], bytes.fromhex(tx["data"][2:]), sender=sender, gas=gas)


def slug(answer: Any) -> tuple[int, str]:
    return answer.status, answer.body["type"].rsplit("/", 1)[1]


async def test_a_route_is_paused_at_once_and_resumed_through_the_timelock(
    devnet: Devnet, operator: ApiClient
) -> None:
    p, cid, pid = devnet.public, devnet.cid, devnet.pid
    endpoint, timelock = devnet.contract("p.endpoint"), devnet.contract("p.timelock")
    listed = await operator.get("/v1/operator/routes")
    assert listed.status == 200, listed.body
    routes = {(r["chain_id"], r["remote_chain_id"]): r for r in listed.body["items"]}
    assert {(cid, pid), (pid, cid)} <= set(routes)
    route = routes[(pid, cid)]
    assert (route["chain"], route["remote_chain"], route["paused"]) == (
        "public",
        "consortium",
        False,
    )
    assert route["timelock"] == timelock.address and route["timelock_delay_s"] > 0
    limits = {(lim["token_name"], lim["direction"]): lim for lim in route["limits"]}
    settle = limits[("wrapped_settlement_token", "inbound")]
    assert settle["enabled"] and int(settle["capacity"]) == SETTLEMENT_LIMIT.capacity
    assert int(settle["available"]) + int(settle["used"]) == SETTLEMENT_LIMIT.capacity
    assert limits[("wrapped_receivable", "outbound")]["units_per_token"] == "1000000"
    assert isinstance(route["held"], list)

    path = f"/v1/operator/routes/{pid}/{cid}"
    refused = await operator.request("POST", path + "/pause", json={"sender": devnet.address(8)})
    assert slug(refused) == (422, "missing-role")
    paused = await operator.request(
        "POST", path + "/pause", json={"sender": devnet.address(GUARDIAN)}
    )
    assert paused.status == 200, paused.body
    assert (paused.body["mode"], paused.body["operation"]) == ("immediate", None)
    (pause_tx,) = paused.body["txs"]
    assert pause_tx["to"] == endpoint.address and int(pause_tx["gas"]) > 21_000
    sign_and_send(devnet, p, pause_tx)
    try:
        assert endpoint.functions.route(cid).call()[2] is True
        again = await operator.request(
            "POST", path + "/pause", json={"sender": devnet.address(GUARDIAN)}
        )
        assert slug(again) == (409, "route-already-paused")
        listed = await operator.get("/v1/operator/routes")
        now = {(r["chain_id"], r["remote_chain_id"]): r["paused"] for r in listed.body["items"]}
        assert (now[(pid, cid)], now[(cid, pid)]) == (True, False)

        body = {"sender": devnet.address(GOVERNOR), "executor": devnet.address(STRANGER)}
        not_proposer = await operator.request(
            "POST", path + "/resume", json={**body, "sender": devnet.address(GUARDIAN)}
        )
        assert slug(not_proposer) == (422, "missing-role")
        resumed = await operator.request("POST", path + "/resume", json=body)
        assert resumed.status == 200, resumed.body
        schedule, execute = resumed.body["txs"]
        operation = resumed.body["operation"]
        assert schedule["sender"] == devnet.address(GOVERNOR)
        assert execute["sender"] == devnet.address(STRANGER)
        assert operation["timelock"] == schedule["to"] == execute["to"] == timelock.address
        assert operation["target"] == endpoint.address
        assert int(schedule["gas"]) > 21_000 and execute["gas"] is None
        assert "not estimated" in execute["description"]
        op_id = bytes.fromhex(operation["operation_id"][2:])
        sign_and_send(devnet, p, schedule)
        assert timelock.functions.isOperationPending(op_id).call()
        assert timelock.functions.getTimestamp(op_id).call() >= p.now()
        same_salt = await operator.request(
            "POST", path + "/resume", json={**body, "salt": operation["salt"]}
        )
        assert slug(same_salt) == (409, "operation-exists")
        if p.now() + 1 < timelock.functions.getTimestamp(op_id).call():
            with pytest.raises(Reverted):  # before the delay (unless the machine was slower)
                sign_and_send(devnet, p, execute)
        p.advance_time(operation["delay_s"])
        sign_and_send(devnet, p, execute)
        devnet.sync_clocks()
        assert timelock.functions.isOperationDone(op_id).call()
        assert endpoint.functions.route(cid).call()[2] is False
        not_paused = await operator.request("POST", path + "/resume", json=body)
        assert slug(not_paused) == (409, "route-not-paused")
    finally:
        if endpoint.functions.route(cid).call()[2]:
            devnet.govern("p", endpoint.functions.unpauseRoute(cid), salt=b"\x0b" * 32)


async def test_the_guardian_tightens_a_limit_at_once_and_the_timelock_sets_it_back(
    devnet: Devnet, operator: ApiClient
) -> None:
    p, cid, pid = devnet.public, devnet.cid, devnet.pid
    gateway, token = (
        devnet.contract("p.asset_gateway"),
        devnet.contract("p.wrapped_settlement_token"),
    )
    path = f"/v1/operator/routes/{pid}/{cid}/limits"
    original = SETTLEMENT_LIMIT
    tighter = {
        "sender": devnet.address(GUARDIAN),
        "token": token.address,
        "direction": "inbound",
        "enabled": True,
        "capacity": str(original.capacity - 1),
        "rate": str(original.rate),
        "delay_above": str(original.delay_above),
        "via": "guardian",
    }
    looser = {**tighter, "capacity": str(original.capacity + 1)}
    assert slug(await operator.request("POST", path, json=looser)) == (409, "limit-not-tighter")
    other_token = {**tighter, "token": devnet.contract("p.endpoint").address}
    bad = await operator.request("POST", path, json=other_token)
    assert bad.status == 400 and bad.body["errors"][0]["field"] == "body.token"

    lowered = await operator.request("POST", path, json=tighter)
    assert lowered.status == 200, lowered.body
    assert (lowered.body["action"], lowered.body["mode"]) == ("lower_limit", "immediate")
    assert int(lowered.body["txs"][0]["gas"]) > 21_000
    sign_and_send(devnet, p, lowered.body["txs"][0])
    read = gateway.functions.limit(token.address, cid, INBOUND).call
    try:
        assert read()[0][1] == original.capacity - 1
        back = {
            **tighter,
            "sender": devnet.address(GOVERNOR),
            "capacity": str(original.capacity),
            "via": "timelock",
        }
        answer = await operator.request("POST", path, json=back)
        assert answer.status == 200, answer.body
        assert (answer.body["action"], answer.body["mode"]) == ("set_limit", "timelocked")
        schedule, execute = answer.body["txs"]
        assert int(schedule["gas"]) > 21_000 and execute["gas"] is None
        sign_and_send(devnet, p, schedule)
        p.advance_time(answer.body["operation"]["delay_s"])
        sign_and_send(devnet, p, execute)
        devnet.sync_clocks()
        assert list(read()[0]) == list(original.config())
    finally:
        if list(read()[0]) != list(original.config()):
            call = gateway.functions.setLimit(token.address, cid, INBOUND, original.config())
            devnet.govern("p", call, salt=b"\x0c" * 32)


async def test_the_running_relay_service_is_reported_with_its_signer_locks(
    devnet: Devnet, operator: ApiClient
) -> None:
    answer = await operator.get("/v1/operator/services")
    assert answer.status == 200, answer.body
    (service,) = answer.body["services"]
    assert service["state"] in ("ready", "not_ready") and service["error"] is None
    assert service["roles"] == ["attester", "keeper", "relayer"]
    signers = {lock["signer"] for lock in answer.body["signer_locks"] if not lock["expired"]}
    for account in (1, 2, 5, 6):  # the attesters, the relayer, the keeper
        assert devnet.address(account) in signers
    chains = {cp["chain"] for cp in answer.body["checkpoints"]}
    assert {"consortium", "public"} <= chains


def _with_rpc(cfg: XgateConfig, chain: str, url: str) -> XgateConfig:
    """``cfg`` with ``chain`` reached at ``url`` only, retried briefly."""
    quick = RetryPolicy(max_attempts=2, initial_delay=0.05)
    changed = cfg.chains[chain].model_copy(
        update={"rpc_urls": (url,), "retry": quick, "request_timeout_s": 2.0}
    )
    return cfg.model_copy(update={"chains": {**cfg.chains, chain: changed}})


class TcpProxy:
    """A TCP forwarder to a node; ``close`` ends it and every connection through it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()


def _routes(answer: Any) -> dict[tuple[int, int], dict[str, Any]]:
    return {(r["chain_id"], r["remote_chain_id"]): r for r in answer.body["items"]}


def _assert_unavailable(route: dict[str, Any], timelock: str) -> None:
    assert (route["available"], route["chain"], route["remote_chain"]) == (
        False,
        "public",
        "consortium",
    )
    assert route["error"] and route["endpoint"] and route["timelock"] == timelock
    for key in ("remote_endpoint", "oracle", "paused", "endpoint_paused", "timelock_delay_s"):
        assert route[key] is None, key
    assert (route["limits"], route["held"]) == (None, None)


async def test_an_unreachable_chain_leaves_the_other_routes_listed(devnet: Devnet) -> None:
    cid, pid = devnet.cid, devnet.pid
    timelock = devnet.contract("p.timelock").address
    closed = _with_rpc(devnet.config, "public", f"http://127.0.0.1:{free_port()}")
    async with operator_api(closed) as operator:
        listed = await operator.get("/v1/operator/routes")
        assert listed.status == 200, listed.body
        routes = _routes(listed)
        assert routes[(cid, pid)]["available"] is True and routes[(cid, pid)]["error"] is None
        assert routes[(cid, pid)]["paused"] is False and routes[(cid, pid)]["limits"] is not None
        _assert_unavailable(routes[(pid, cid)], timelock)
        (chain,) = listed.body["unavailable_chains"]
        assert (chain["chain_id"], chain["chain"]) == (pid, "public")
        assert "cannot be reached" in chain["error"]
        assert chain["error"] == routes[(pid, cid)]["error"]
        # Operations on the route of the unreachable chain stay a retryable 503.
        pause = await operator.request(
            "POST",
            f"/v1/operator/routes/{pid}/{cid}/pause",
            json={"sender": devnet.address(GUARDIAN)},
        )
        assert slug(pause) == (503, "chain-unavailable")
        # The reachable chain's route operations still work.
        other = await operator.request(
            "POST",
            f"/v1/operator/routes/{cid}/{pid}/pause",
            json={"sender": devnet.address(STRANGER)},
        )
        assert slug(other) == (422, "missing-role")


async def test_a_chain_whose_node_goes_away_is_listed_unavailable(devnet: Devnet) -> None:
    cid, pid = devnet.cid, devnet.pid
    timelock = devnet.contract("p.timelock").address
    node = urlsplit(devnet.config.chains["public"].rpc_urls[0])
    assert node.hostname is not None and node.port is not None
    async with TcpProxy(node.hostname, node.port) as proxy:
        cfg = _with_rpc(devnet.config, "public", f"http://127.0.0.1:{proxy.port}")
        async with operator_api(cfg) as operator:
            listed = await operator.get("/v1/operator/routes")
            assert listed.status == 200 and listed.body["unavailable_chains"] == []
            assert all(route["available"] for route in listed.body["items"])
            await proxy.close()  # the adapter is started: its reads now fail
            listed = await operator.get("/v1/operator/routes")
            assert listed.status == 200, listed.body
            routes = _routes(listed)
            assert routes[(cid, pid)]["available"] is True
            _assert_unavailable(routes[(pid, cid)], timelock)
            (chain,) = listed.body["unavailable_chains"]
            assert chain["chain"] == "public" and "did not answer" in chain["error"]
            assert "127.0.0.1" not in chain["error"]  # never the node's URL
            pause = await operator.request(
                "POST",
                f"/v1/operator/routes/{pid}/{cid}/pause",
                json={"sender": devnet.address(GUARDIAN)},
            )
            assert slug(pause) == (503, "chain-unavailable")
