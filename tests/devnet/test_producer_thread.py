"""Block production on the producer thread (``devnet.server``): the node answers reads while it
builds a block, and a reader sees either the previous head or the new one with all of it.

A block of 1,000 transfers makes production last long enough to be seen: in instant-seal mode
the batch that pooled them is answered only after their block is sealed, so reads answered
after the pool was seen full and before that block is published happened while it was built.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from devnet.launcher import RunningNode, start_consortium
from harness import NodeRpc

COUNT = 1_000  # 21 M gas: one block; well within the batch size and the pool
SENDERS = 4


@pytest.fixture(scope="module")
async def instant() -> AsyncIterator[RunningNode]:
    async with start_consortium(config={"instant_seal": True}) as node:
        yield node


@pytest.fixture(scope="module")
async def periodic() -> AsyncIterator[RunningNode]:
    async with start_consortium(config={"block_time": 1.0}) as node:
        yield node


async def _transfers(rpc: NodeRpc, count: int) -> list[bytes]:
    """``count`` signed transfers from ``SENDERS`` dev accounts, interleaved."""
    node = rpc.node
    to = to_checksum_address(node.accounts[9].hex_address)
    per_sender = []
    for key in node.accounts[:SENDERS]:
        first = await rpc.nonce(key.address)
        per_sender.append(
            [
                bytes(
                    Account.sign_transaction(
                        {
                            "type": 2,
                            "chainId": node.chain_id,
                            "nonce": first + i,
                            "to": to,
                            "value": 1,
                            "gas": 21_000,
                            "maxFeePerGas": 10**11,
                            "maxPriorityFeePerGas": 10**9,
                        },
                        key.private_key,
                    ).raw_transaction
                )
                for i in range(count // SENDERS)
            ]
        )
    return [raw for batch in zip(*per_sender, strict=True) for raw in batch]


def _send_all(raws: list[bytes]) -> list[dict[str, Any]]:
    return [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + r.hex()]}
        for i, r in enumerate(raws)
    ]


async def _assert_complete(rpc: NodeRpc, number: int) -> None:
    """Block ``number`` is served with every transaction and receipt of it."""
    block = await rpc.block(number)
    assert block is not None, f"block {number} announced but not served"
    hashes = block["transactions"]
    if not hashes:
        return
    for method in ("eth_getTransactionReceipt", "eth_getTransactionByHash"):
        answers = await rpc.batch([(method, [h]) for h in hashes])  # within the batch size
        for answer in answers:
            found = answer.get("result")
            assert found is not None, f"block {number} announced, {method} {answer} missing"
            assert int(found["blockNumber"], 16) == number


async def test_reads_are_answered_with_the_previous_head_while_a_block_is_sealed(
    instant: RunningNode, http: aiohttp.ClientSession
) -> None:
    rpc = NodeRpc(instant, http)
    raws = await _transfers(rpc, COUNT)
    probe = "0x" + keccak(raws[-1]).hex()  # the last one pooled
    before = await rpc.head()
    sending = asyncio.create_task(rpc.post(_send_all(raws)))
    # Wait until every transaction is pooled: what is left of the batch is sealing them.
    while int((await rpc.call("txpool_status"))["pending"], 16) < COUNT:
        assert not sending.done(), "the batch was answered before all of it was seen pooled"
    # Every read from now on was sent after the pool was full. On a node sealing on its event
    # loop none is answered before the block is published; here reads go on meanwhile.
    # The head is read last: the node publishes a block before it takes its transactions out
    # of the pool, so a head still at ``before`` means the pool was read before publication.
    during: list[tuple[int, int, Any]] = []
    while True:
        pending = int((await rpc.call("txpool_status"))["pending"], 16)
        probed = await rpc.call("eth_getTransactionByHash", probe)
        assert probed is not None, "a pooled transaction was neither pending nor mined"
        latest = int((await rpc.block("latest"))["number"], 16)
        head = await rpc.head()
        assert latest <= head
        await _assert_complete(rpc, head)
        if head > before:
            break
        during.append((latest, pending, probed["blockNumber"]))
    # While the block was built: the previous head, the pool full, the probe still pending.
    assert during, "no read was answered while the block was being sealed"
    assert all(seen == (before, COUNT, None) for seen in during), during
    answers = await sending
    assert sorted(a["id"] for a in answers if "result" in a) == list(range(COUNT))
    assert await rpc.head() == before + 1
    assert len((await rpc.block(before + 1))["transactions"]) == COUNT
    assert await rpc.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}


async def test_concurrent_readers_never_see_a_head_whose_block_or_receipts_are_missing(
    periodic: RunningNode, http: aiohttp.ClientSession
) -> None:
    rpc = NodeRpc(periodic, http)
    raws = await _transfers(rpc, COUNT)
    finals = {key.hex_address: await rpc.nonce(key.address) for key in rpc.node.accounts[:4]}
    finals = {a: n + COUNT // SENDERS for a, n in finals.items()}
    start = await rpc.head()
    done = asyncio.Event()
    seen: list[int] = []

    async def reader() -> None:
        client = NodeRpc(periodic, http)
        while not done.is_set():
            head = await client.head()
            await _assert_complete(client, head)
            seen.append(head)

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    answers = await rpc.post(_send_all(raws))
    assert all("result" in a for a in answers), [a for a in answers if "result" not in a][:1]
    while any([await rpc.nonce(a, "latest") < n for a, n in finals.items()]):
        await asyncio.sleep(0.05)
    done.set()
    await asyncio.gather(*readers)
    mined = [
        len((await rpc.block(n))["transactions"]) for n in range(start + 1, await rpc.head() + 1)
    ]
    assert sum(mined) == COUNT
    assert max(seen) > start
