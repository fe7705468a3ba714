"""The devnet transaction pool under spam: bounded in transactions and bytes, gapped nonces
cannot crowd out executable transactions, and block selection takes each sender's nonces in
order however they arrive (its speed is a figure of ``bench/devnet.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from devnet.launcher import RunningNode, start_consortium
from devnet.txpool import PoolTx, TxPool
from harness import NodeRpc, RpcError


@pytest.fixture(scope="module")
async def small_pool() -> AsyncIterator[RunningNode]:
    config = {"instant_seal": True, "max_pool_txs": 6, "max_pool_bytes": 8 * 1024}
    async with start_consortium(config=config) as node:
        yield node


@pytest.fixture(scope="module")
async def prpc(small_pool: RunningNode, http: aiohttp.ClientSession) -> NodeRpc:
    return NodeRpc(small_pool, http)


async def _send_raw(rpc: NodeRpc, raw: bytes) -> str:
    result: str = await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
    return result


async def test_gapped_nonces_fill_the_pool_but_never_crowd_out_an_executable_transaction(
    prpc: NodeRpc,
) -> None:
    spammer, other, to = prpc.node.accounts[0], prpc.node.accounts[1], prpc.node.accounts[2]
    base = await prpc.nonce(spammer.address)
    gapped = [
        await _send_raw(prpc, await prpc.sign(spammer, to=to.hex_address, nonce=base + 2 + i))
        for i in range(6)
    ]
    assert await prpc.call("txpool_status") == {"pending": "0x6", "queued": "0x0"}
    # Another gapped transaction is refused: the pool is full of them.
    with pytest.raises(RpcError) as exc:
        await _send_raw(prpc, await prpc.sign(other, to=to.hex_address, nonce=50))
    assert (exc.value.code, exc.value.message) == (-32000, "Transaction pool is full")
    # An executable one evicts the newest gapped transaction and is mined at once.
    receipt = await prpc.send(other, to=to.hex_address)
    assert receipt["status"] == "0x1"
    assert await prpc.call("eth_getTransactionByHash", gapped[-1]) is None
    assert await prpc.call("eth_getTransactionByHash", gapped[0]) is not None
    # Filling the gap mines the rest and empties the pool.
    await _send_raw(prpc, await prpc.sign(spammer, to=to.hex_address, nonce=base))
    await _send_raw(prpc, await prpc.sign(spammer, to=to.hex_address, nonce=base + 1))
    assert await prpc.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert await prpc.nonce(spammer.address) == base + 7


async def test_the_pool_is_bounded_in_bytes(prpc: NodeRpc) -> None:
    sender, to = prpc.node.accounts[3], prpc.node.accounts[4]
    base = await prpc.nonce(sender.address)
    big = "0x" + "ab" * 3000
    await _send_raw(
        prpc, await prpc.sign(sender, to=to.hex_address, nonce=base + 5, data=big, gas=100_000)
    )
    await _send_raw(
        prpc, await prpc.sign(sender, to=to.hex_address, nonce=base + 6, data=big, gas=100_000)
    )
    with pytest.raises(RpcError) as exc:
        await _send_raw(
            prpc, await prpc.sign(sender, to=to.hex_address, nonce=base + 7, data=big, gas=100_000)
        )
    assert exc.value.message == "Transaction pool is full"


def test_block_selection_takes_each_senders_nonces_in_order_when_they_arrive_in_reverse() -> None:
    # How long this selection takes is a figure of bench/devnet.py (pool_select_s).
    pool = TxPool(max_txs=10_000)
    senders = [bytes([i]) * 20 for i in range(5)]
    for nonce in reversed(range(1_000)):  # the worst arrival order for a pass-per-nonce scan
        for sender in senders:
            tx_hash = sender[:1] + nonce.to_bytes(31, "big")
            pool.add(PoolTx(None, tx_hash, sender, nonce, 21_000, 10, 1, 0))
    chosen, stale = pool.select(lambda _: 0, 7, 60_000_000)
    assert len(chosen) == 2857 and not stale  # the block gas limit
    for sender in senders:
        nonces = [p.nonce for p in chosen if p.sender == sender]
        assert nonces == list(range(len(nonces)))
