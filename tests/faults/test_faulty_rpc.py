"""A faulty RPC endpoint between the relayer and the chains (tests/live/faulty_proxy.py in a
thread, one proxy per chain; the attesters talk to the nodes directly): connections dropped,
answers delayed past the request timeout, JSON-RPC errors, HTTP 503 and garbage make the
relayer wait and retry, and every message is delivered once the faults end, with nothing
recorded that was not sent; a forged header or a forged receipt is refused before any gas is
spent: the relayer's account on the destination keeps its nonce and balance and the message
stays undelivered for as long as the forgery lasts (docs/relayer.md §3, §4)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from gateway.config import load_config
from gateway.domain.messages import MESSAGE_SENT_TOPIC
from gateway.domain.status import MessageStatus
from gateway.store import Store
from harness.services import ServiceProcess, wait_until
from tests.faults._fleet import wait_all_delivered
from tests.faults._net import RELAYER_ACCOUNTS, USERS, FaultNet, Transfers, store_statuses
from tests.live.faulty_proxy import Fault, FaultyProxy, Mutation, proxy_thread

FORGERY_S = 5.0  # a forgery is served this long after the relayer first met it


@pytest.fixture(scope="module")
def load(net: FaultNet) -> Transfers:
    transfers = Transfers(net)
    transfers.fund(10**9)
    return transfers


@pytest.fixture(scope="module")
def proxies(net: FaultNet) -> Iterator[dict[str, FaultyProxy]]:
    with (
        proxy_thread(net.consortium_node.url) as c,
        proxy_thread(net.public_node.url) as p,
    ):
        yield {"c": c, "p": p}


@pytest.fixture(scope="module")
def relay(
    net: FaultNet, load: Transfers, proxies: dict[str, FaultyProxy]
) -> Iterator[tuple[ServiceProcess, str]]:
    """The relayer behind the proxies (2 s request timeout), the attesters not; one store."""
    store = "sqlite:///faulty-rpc.db"
    relayer = net.config(
        "faulty-rpc-relayer.toml",
        store_url=store,
        chains={
            "consortium": {"rpc_urls": [proxies["c"].url], "request_timeout_s": 2.0},
            "public": {"rpc_urls": [proxies["p"].url], "request_timeout_s": 2.0},
        },
    )
    attester = net.config("faulty-rpc-attester.toml", store_url=store)
    url = load_config(relayer).store.url
    services = [
        ServiceProcess(attester, ("attester", "run")).start(),
        ServiceProcess(relayer, ("relayer", "run")).start(),
    ]
    for service in services:
        service.wait_serving()
    # Wrapped tokens for the users' burns, relayed while nothing is faulty.
    load.send([(u, 10**6) for u in USERS], [])
    wait_all_delivered(load, url, 60, services)
    yield services[1], url
    for service in services:
        assert service.stop() == 0, service.output()


def _relayer_account(net: FaultNet, side: str) -> tuple[int, int]:
    """The relayer's (nonce, balance) on chain ``side``."""
    chain = net.consortium if side == "c" else net.public
    address = chain.accounts[RELAYER_ACCOUNTS["relayer"]].address
    return chain.w3.eth.get_transaction_count(address), chain.w3.eth.get_balance(address)


FAULTS = {
    "dropped": Fault(drop=True),
    "delayed": Fault(delay=4.0),  # past the relayer's 2 s request timeout
    "http-503": Fault(status=503),
    "truncated-json": Fault(body=b'{"jsonrpc": "2.0", "id": 1, "result": '),
    "garbage-result": Fault(mutate=lambda _: "0xzz"),
    # A JSON-RPC internal error without data: the node failed, retried as unavailability.
    "rpc-error": Fault(error=(-32603, "internal error")),
}
FAULT_S = 3.0  # each fault, on both proxies, while messages wait


def test_the_relayer_waits_out_a_faulty_endpoint_and_delivers_after_it(
    net: FaultNet,
    load: Transfers,
    proxies: dict[str, FaultyProxy],
    relay: tuple[ServiceProcess, str],
) -> None:
    relayer, url = relay
    first = len(load.sent)
    hits: dict[str, list[int]] = {}
    ready: dict[str, int | None] = {}  # /readyz's status at the end of each fault
    try:
        for k, (name, fault) in enumerate(FAULTS.items()):
            faults = {side: replace(fault) for side in proxies}
            for side, proxy in proxies.items():
                proxy.fault = faults[side]
            load.send([(USERS[k % 4], 1_001 + k)], [(USERS[(k + 1) % 4], 501 + k)])
            time.sleep(FAULT_S)
            hits[name] = [f.hits for f in faults.values()]
            answer = relayer.readyz()
            ready[name] = None if answer is None else answer[0]
            assert relayer.proc is not None and relayer.proc.poll() is None, relayer.output()
    finally:
        for proxy in proxies.values():
            proxy.fault = None
    assert all(all(h) for h in hits.values()), hits  # every fault met the relayer on both
    assert 503 in ready.values(), ready  # the relayer said it was not ready: it waited
    wait_all_delivered(load, url, 90, [relayer])
    statuses = store_statuses(url, [s.id for s in load.sent[first:]])
    assert Counter(statuses.values()) == {MessageStatus.DELIVERED: 2 * len(FAULTS)}
    assert _store_count(url) == len(load.sent)  # nothing recorded that was not sent
    _wait_ready(relayer)


def _wait_ready(relayer: ServiceProcess) -> None:
    """Until /readyz says every worker's last step succeeded (a worker backing off at the
    30 s cap after a fatal error counts as failing)."""
    wait_until(lambda: (r := relayer.readyz()) is not None and r[0] == 200, 45, "ready", relayer)


def _store_count(url: str) -> int:
    """How many messages the store holds."""

    async def read() -> int:
        store = await Store.open(url, migrate=False)
        try:
            return sum((await store.count_by_status()).values())
        finally:
            await store.close()

    return asyncio.run(read())


def _forge_block(tx_hash: bytes, key: str) -> Mutation:
    """Flip the last byte of ``key`` in the header of the block holding ``tx_hash``."""

    def mutate(result: Any) -> Any:
        if isinstance(result, dict) and "0x" + tx_hash.hex() in result.get("transactions", []):
            raw = bytearray(bytes.fromhex(result[key][2:]))
            raw[-1] ^= 0x01
            result[key] = "0x" + raw.hex()
        return result

    return mutate


def _forge_message_log(tx_hash: bytes) -> Mutation:
    """Flip a byte of the ``MessageSent`` log data in the receipt of ``tx_hash``."""

    def mutate(result: Any) -> Any:
        for receipt in result if isinstance(result, list) else []:
            if receipt.get("transactionHash") != "0x" + tx_hash.hex():
                continue
            for log in receipt.get("logs", []):
                if bytes.fromhex(log["topics"][0][2:]) == MESSAGE_SENT_TOPIC:
                    data = bytearray(bytes.fromhex(log["data"][2:]))
                    data[-1] ^= 0x01
                    log["data"] = "0x" + data.hex()
        return result

    return mutate


@pytest.mark.parametrize(
    "forged",
    [{"c": "header", "p": "receipts"}, {"c": "receipts", "p": "header"}],
    ids=["consortium-header+public-receipts", "consortium-receipts+public-header"],
)
def test_a_forged_header_or_receipt_is_refused_before_any_gas_is_spent(
    net: FaultNet,
    load: Transfers,
    proxies: dict[str, FaultyProxy],
    relay: tuple[ServiceProcess, str],
    forged: dict[str, str],
) -> None:
    """Each chain's node forges what proves the message it carries: the block header (a seal
    of the consortium's; the public header's receipts root) or the receipt (the MessageSent
    log's data); a lock and a burn are sent meanwhile."""
    relayer, url = relay
    _wait_ready(relayer)  # no worker still backing off from an earlier fault
    signed = {"c": load.sign_lock(USERS[2], 1_002), "p": load.sign_burn(USERS[3], 502)}
    for side, what in forged.items():
        tx_hash = signed[side][1]
        if what == "header":
            key = "extraData" if side == "c" else "receiptsRoot"
            fault = Fault(method="eth_getBlockByNumber", mutate=_forge_block(tx_hash, key))
        else:
            fault = Fault(method="eth_getBlockReceipts", mutate=_forge_message_log(tx_hash))
        proxies[side].fault = fault
    try:
        accounts = {side: _relayer_account(net, side) for side in ("c", "p")}
        load.submit("c", signed["c"], USERS[2], 1_002)
        load.submit("p", signed["p"], USERS[3], 502)
        messages = load.sent[-2:]
        # Each forgery is served to the relayer (and refused), then a while longer.
        wait_until(
            lambda: all(p.fault is not None and p.fault.hits for p in proxies.values()),
            45,
            "both forgeries served",
            relayer,
        )
        time.sleep(FORGERY_S)
        assert load.undelivered() == messages
        # Not a transaction was sent to the destination of a message with a forged proof;
        # a forged consortium receipt leaves its (genuine) header free to be submitted.
        assert _relayer_account(net, "c") == accounts["c"]
        if forged["c"] == "header":
            assert _relayer_account(net, "p") == accounts["p"]
        assert relayer.proc is not None and relayer.proc.poll() is None, relayer.output()
    finally:
        for proxy in proxies.values():
            proxy.fault = None
    wait_all_delivered(load, url, 90, [relayer])
