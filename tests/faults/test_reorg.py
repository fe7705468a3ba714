"""Public-chain reorgs against a relay configured with ``finality = {confirmations = 3}``
(anvil's ``anvil_reorg``, blocks mined by hand): a reorg shallower than the depth never reaches
the relay (no message recorded or delivered from a reorged-out block, no attester signature on
a reorged-out header; what replaced it is relayed); a reorg deeper than the depth, below the
checkpoint the watcher recorded as final, stops the route loudly (``FinalityViolation``, a
CRITICAL log line, the worker stopped, /readyz 503) (docs/relayer.md §3)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from hexbytes import HexBytes

from adapters.types import Address, ChainId, Height
from gateway.config import load_config
from gateway.domain.messages import MessageId
from gateway.domain.status import Checkpoint, MessageRecord, SignatureRecord
from gateway.store import Store
from harness.relaynet import PUBLIC_BLOCK_TIME_S
from harness.services import ServiceProcess, wait_until
from tests.faults._fleet import wait_all_delivered
from tests.faults._net import USERS, FaultNet, Transfers, post_batch

CONFIRMATIONS = 3
ATTESTERS = (1, 2)  # dev accounts of attester-1 and attester-2
USER = USERS[3]


@contextlib.contextmanager
def mined_by_hand(net: FaultNet) -> Iterator[None]:
    """The public chain mines only when the test says so; a block a second again after."""
    p = net.public
    p.rpc("evm_setIntervalMining", 0)
    p.rpc("evm_setAutomine", False)
    try:
        yield
    finally:
        p.rpc("evm_setIntervalMining", PUBLIC_BLOCK_TIME_S)


T = TypeVar("T")


def _read(url: str, what: Callable[[Store], Awaitable[T]]) -> T:
    """``what(store)`` on a store opened for it."""

    async def run() -> T:
        store = await Store.open(url, migrate=False)
        try:
            return await what(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_reorgs_shallower_than_the_depth_never_reach_the_relay_and_a_deeper_one_stops_the_route(
    net: FaultNet,
) -> None:
    public_url = net.public_node.url
    p, c = net.public, net.consortium
    config = net.config(
        "reorg.toml", chains={"public": {"finality": {"confirmations": CONFIRMATIONS}}}
    )
    url = load_config(config).store.url
    load = Transfers(net)
    service = ServiceProcess(config, ("run",)).start()
    service.wait_serving()
    if load.wrapped.functions.balanceOf(load.user(USER)).call() < 10**6:
        load.fund(10**8)
        load.send([(USER, 10**6)], [])  # wrapped tokens to burn, relayed by the services
        wait_all_delivered(load, url, 60, [service])
    stream = "message_sent:0x" + bytes.fromhex(load.p_endpoint.address[2:]).hex()
    pid, cid = ChainId(p.chain_id), ChainId(c.chain_id)

    def checkpoint() -> Checkpoint | None:
        return _read(url, lambda s: s.checkpoint(pid, stream))

    def signatures(height: int) -> list[SignatureRecord]:
        attesters = [Address(bytes.fromhex(c.accounts[a].address[2:])) for a in ATTESTERS]

        async def read(store: Store) -> list[SignatureRecord]:
            found = [await store.signature(cid, pid, Height(height), attester=a) for a in attesters]
            return [f for f in found if f is not None]

        return _read(url, read)

    def message(mid: MessageId) -> MessageRecord | None:
        return _read(url, lambda s: s.message(mid))

    with mined_by_hand(net):
        # 1. A burn is mined with one block on top: two confirmations of the three required.
        nonce = p.w3.eth.get_transaction_count(p.accounts[USER].address)
        raw, tx_hash = load.sign_burn(USER, 111, nonce=nonce)
        post_batch(public_url, [raw])
        p.mine()
        p.mine()
        receipt = p.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        gone = load.record("p", receipt, USER, 111)
        load.sent.remove(gone)  # it will not exist: the load's sums must not count it
        height = int(receipt["blockNumber"])
        old_hash = bytes(receipt["blockHash"])
        time.sleep(3)  # six polls of the watcher and the attesters
        assert message(gone.id) is None
        assert signatures(height) == []

        # 2. Both blocks are reorganised away; the new block at that height holds another burn
        # with the same nonce (what a double spend by reorg looks like).
        raw2, tx2 = load.sign_burn(USER, 222, nonce=nonce)
        p.rpc("anvil_reorg", 2, [["0x" + raw2.hex(), 0]])
        for _ in range(CONFIRMATIONS + 1):
            p.mine()
        replacement = load.record("p", p.w3.eth.get_transaction_receipt(HexBytes(tx2)), USER, 222)
        new_hash = bytes(p.w3.eth.get_block(height)["hash"])
        assert new_hash != old_hash
        wait_all_delivered(load, url, 60, [service])
        assert message(gone.id) is None
        assert not load.c_endpoint.functions.delivered(gone.id).call()
        assert load.c_endpoint.functions.delivered(replacement.id).call()
        signed = signatures(height)
        assert signed and {s.block_hash for s in signed} == {new_hash}

        # 3. Once the watcher recorded a final checkpoint, a reorg deeper than the policy
        # replaces that block: the route stops, loudly.
        for _ in range(2):
            p.mine()
        head = int(p.w3.eth.block_number)
        recorded = wait_until(
            lambda: (cp := checkpoint()) is not None and cp.height == head - CONFIRMATIONS and cp,
            30,
            "the watcher's checkpoint at the final height",
            service,
        )
        depth = head - recorded.height + 1  # CONFIRMATIONS + 1: the checkpoint's block too
        filler = p.accounts[USER].sign_transaction(
            {
                "to": p.address(USER),  # type: ignore[dict-item]
                "value": 1,
                "gas": 21_000,
                "nonce": p.w3.eth.get_transaction_count(p.accounts[USER].address),
                "chainId": p.chain_id,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 1,
            }
        )
        p.rpc("anvil_reorg", depth, [["0x" + bytes(filler.raw_transaction).hex(), 0]])
        p.mine()

        def stopped() -> Any:
            """The watcher's /readyz entry once it stopped (and the process is not ready)."""
            answer = service.readyz()
            if answer is None:
                return None
            status, body = answer
            workers: Any = body.get("workers", {})
            worker = workers.get("watch:public", {})
            return worker if status == 503 and worker.get("stopped") else None

        worker = wait_until(stopped, 30, "the public watcher stopped", service)
        assert "finality violated" in str(worker["stopped"])
        assert "CRITICAL relayers.supervisor: watch:public stopped" in service.output()
        assert checkpoint() == recorded  # nothing was recorded past the broken floor
    assert service.stop() == 0, service.output()
