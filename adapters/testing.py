"""``ChainAdapterContract``: the one behaviour suite every ``ChainAdapter`` must pass.

Like web3.py's ``module_testing``: a base class of async tests, subclassed once per adapter and
node kind (tests/live/test_adapter_*.py). The subclass's module (or a conftest) provides:

- ``adapter``: a started adapter whose default signer is funded;
- ``recipient``: an address to send value to (not the signer);
- ``emitter_init_code``: init code of tests/live/Emitter.sol (``ping(uint256,bytes)`` stores
  ``n`` in slot 0 and emits ``Ping(address indexed sender, uint256 indexed n, bytes data)``;
  ``fail()`` reverts).

The tests only use the ``ChainAdapter`` role, so they hold for any implementation. Knobs are
class attributes (``finality_tags``, ``wait_timeout``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from typing import ClassVar

import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from adapters.base import (
    BadRequest,
    CallReverted,
    ChainAdapter,
    ChainEvent,
    EventQuery,
    TransactionNotFound,
    TxReceipt,
    TxRequest,
)
from adapters.errors import NotYetAvailable, TransactionFailed
from adapters.mpt import EMPTY_CODE_HASH
from adapters.receipts import verify_receipt_proof
from adapters.types import Address, Finality, FinalityTag, Height, TxHash

__all__ = [
    "LOG_COUNT",
    "PING_TOPIC",
    "ChainAdapterContract",
    "Emitter",
    "logging_init_code",
    "ping_calldata",
]

PING_TOPIC = keccak(b"Ping(address,uint256,bytes)")
_PING_SELECTOR = keccak(b"ping(uint256,bytes)")[:4]
_FAIL_SELECTOR = keccak(b"fail()")[:4]
_LAST_SELECTOR = keccak(b"last()")[:4]
LOG_COUNT = 3


def logging_init_code(count: int = LOG_COUNT) -> bytes:
    """Init code that emits ``count`` logs while it runs (LOG1, topic = the log's number, no
    data) and deploys nothing: one transaction with several logs, on any EVM chain."""
    code = b"".join(bytes((0x60, n, 0x60, 0, 0x60, 0, 0xA1)) for n in range(count))
    return code + b"\x00"  # PUSH1 n (topic), PUSH1 0 (size), PUSH1 0 (offset), LOG1; STOP


def ping_calldata(n: int, data: bytes) -> bytes:
    return _PING_SELECTOR + abi_encode(["uint256", "bytes"], [n, data])


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Emitter:
    """The deployed test contract and one ``ping`` already mined."""

    address: Address
    deployed_at: Height
    ping: TxReceipt
    ping_n: int
    ping_data: bytes


class ChainAdapterContract:
    """Behaviour every chain adapter must show against a live node."""

    finality_tags: ClassVar[tuple[FinalityTag, ...]] = ("latest", "safe", "finalized")
    wait_timeout: ClassVar[float] = 30.0
    concurrent_submits: ClassVar[int] = 8

    # -- helpers ----------------------------------------------------------------------------

    @classmethod
    async def _final(cls, adapter: ChainAdapter, tx_hash: TxHash) -> TxReceipt:
        return await adapter.wait_final(tx_hash, adapter.finality, cls.wait_timeout)

    async def _transfer(self, adapter: ChainAdapter, to: Address, value: int) -> TxReceipt:
        return await self._final(adapter, await adapter.submit(TxRequest(to=to, value=value)))

    @pytest.fixture(scope="class")
    @classmethod
    async def emitter(cls, adapter: ChainAdapter, emitter_init_code: bytes) -> Emitter:
        """The test contract, deployed once per adapter class, with one ``ping`` mined."""
        deploy = await cls._final(
            adapter, await adapter.submit(TxRequest(to=None, data=emitter_init_code))
        )
        assert deploy.contract_address is not None
        n, data = int.from_bytes(os.urandom(8), "big"), b"xgate adapter suite"
        ping = await cls._final(
            adapter,
            await adapter.submit(
                TxRequest(to=deploy.contract_address, data=ping_calldata(n, data))
            ),
        )
        return Emitter(deploy.contract_address, deploy.block_number, ping, n, data)

    # -- identity and heights ---------------------------------------------------------------

    async def test_chain_id_matches_the_node(
        self, adapter: ChainAdapter, expected_chain_id: int
    ) -> None:
        assert adapter.ref.chain_id == expected_chain_id

    async def test_heights_by_finality_tag_are_ordered(self, adapter: ChainAdapter) -> None:
        # Asked from the least to the most recent tag, so a growing head cannot break the order.
        heights = [await adapter.height(Finality(tag=t)) for t in reversed(self.finality_tags)]
        assert all(a <= b for a, b in itertools.pairwise(heights)), heights
        assert heights[-1] <= await adapter.height(Finality.latest())

    async def test_height_by_depth_counts_down_from_the_head(
        self, adapter: ChainAdapter, recipient: Address
    ) -> None:
        await self._transfer(adapter, recipient, 1)  # at least two blocks exist
        before = await adapter.height(Finality.latest())
        one_deep = await adapter.height(Finality.confirmations(1))
        after = await adapter.height(Finality.latest())
        assert before - 1 <= one_deep <= after - 1
        assert await adapter.height(Finality.confirmations(0)) >= before

    async def test_depth_beyond_the_chain_is_not_yet_available(self, adapter: ChainAdapter) -> None:
        with pytest.raises(NotYetAvailable):
            await adapter.height(Finality.confirmations(10**12))

    # -- headers ----------------------------------------------------------------------------

    async def test_header_hash_links_to_the_next_parent(
        self, adapter: ChainAdapter, recipient: Address
    ) -> None:
        mined = await self._transfer(adapter, recipient, 1)
        parent = await adapter.header(Height(mined.block_number - 1))
        child = await adapter.header(mined.block_number)
        assert parent.number == mined.block_number - 1
        assert child.parent_hash == adapter.block_hash(parent)
        assert adapter.block_hash(child) == mined.block_hash

    async def test_header_beyond_the_head_is_not_yet_available(self, adapter: ChainAdapter) -> None:
        head = await adapter.height(Finality.latest())
        with pytest.raises(NotYetAvailable):
            await adapter.header(Height(head + 1000))

    async def test_negative_height_is_a_bad_request(self, adapter: ChainAdapter) -> None:
        with pytest.raises(BadRequest):
            await adapter.header(Height(-1))

    # -- transactions -----------------------------------------------------------------------

    async def test_transfer_is_mined_and_final(
        self, adapter: ChainAdapter, recipient: Address
    ) -> None:
        value = 12345
        tx_hash = await adapter.submit(TxRequest(to=recipient, value=value))
        receipt = await self._final(adapter, tx_hash)
        assert receipt.tx_hash == tx_hash
        assert receipt.status == 1
        assert receipt.to == recipient
        assert receipt.block_number <= await adapter.height(adapter.finality)
        before = await adapter.account_proof(recipient, [], Height(receipt.block_number - 1))
        after = await adapter.account_proof(recipient, [], receipt.block_number)
        assert after.account is not None
        balance_before = before.account.balance if before.account else 0
        assert after.account.balance - balance_before == value

    async def test_concurrent_submits_from_one_signer_get_consecutive_nonces(
        self, adapter: ChainAdapter, recipient: Address
    ) -> None:
        sender = await self._transfer(adapter, recipient, 1)
        start = await adapter.account_proof(sender.sender, [], sender.block_number)
        assert start.account is not None
        hashes = await asyncio.gather(
            *(
                adapter.submit(TxRequest(to=recipient, value=i + 1))
                for i in range(self.concurrent_submits)
            )
        )
        assert len(set(hashes)) == self.concurrent_submits
        receipts = await asyncio.gather(*(self._final(adapter, h) for h in hashes))
        assert all(r.status == 1 for r in receipts)
        last = max(r.block_number for r in receipts)
        end = await adapter.account_proof(sender.sender, [], last)
        assert end.account is not None
        # Every nonce from start to start+k-1 was used exactly once (no gaps, no replacement).
        assert end.account.nonce - start.account.nonce == self.concurrent_submits

    async def test_reverting_call_fails_before_sending(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        with pytest.raises(TransactionFailed):
            await adapter.submit(TxRequest(to=emitter.address, data=_FAIL_SELECTOR))

    async def test_reverted_transaction_is_reported_by_wait_final(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        tx_hash = await adapter.submit(
            TxRequest(to=emitter.address, data=_FAIL_SELECTOR, gas=100_000)
        )
        with pytest.raises(TransactionFailed) as info:
            await self._final(adapter, tx_hash)
        assert info.value.context["tx_hash"] == tx_hash

    async def test_unknown_transaction_is_reported(self, adapter: ChainAdapter) -> None:
        unknown = TxHash(os.urandom(32))
        with pytest.raises(TransactionNotFound):
            await adapter.receipt_proof(unknown)
        with pytest.raises(TransactionNotFound):
            await adapter.wait_final(unknown, adapter.finality, self.wait_timeout)

    # -- events -----------------------------------------------------------------------------

    async def test_emitted_event_is_found_in_bounded_ranges(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        query = EventQuery(addresses=(emitter.address,), topics=((PING_TOPIC,),))
        found = await adapter.events(query, emitter.deployed_at, emitter.ping.block_number)
        pings = [e for e in found if e.tx_hash == emitter.ping.tx_hash]
        assert len(pings) == 1
        event: ChainEvent = pings[0]
        assert event.chain_id == adapter.ref.chain_id
        assert event.block_number == emitter.ping.block_number
        assert event.block_hash == emitter.ping.block_hash
        assert event.topics[1] == _word(int.from_bytes(emitter.ping.sender, "big"))
        assert event.topics[2] == _word(emitter.ping_n)
        assert emitter.ping_data in event.data
        # The same event as the receipt reports it.
        assert event in emitter.ping.logs

    async def test_events_outside_the_range_are_not_returned(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        query = EventQuery(addresses=(emitter.address,))
        assert await adapter.events(query, Height(0), Height(emitter.deployed_at)) == ()
        other_topic = EventQuery(addresses=(emitter.address,), topics=((b"\x01" * 32,),))
        assert (
            await adapter.events(other_topic, emitter.deployed_at, emitter.ping.block_number) == ()
        )

    async def test_event_range_must_be_ordered_and_mined(self, adapter: ChainAdapter) -> None:
        head = await adapter.height(Finality.latest())
        with pytest.raises(BadRequest):
            await adapter.events(EventQuery(), Height(2), Height(1))
        with pytest.raises(NotYetAvailable):
            await adapter.events(EventQuery(), Height(head), Height(head + 100))

    # -- proofs -----------------------------------------------------------------------------

    async def test_receipt_proof_verifies_against_the_header(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        proof = await adapter.receipt_proof(emitter.ping.tx_hash)
        header = await adapter.header(emitter.ping.block_number)
        assert proof.block_hash == adapter.block_hash(header) == emitter.ping.block_hash
        assert proof.receipts_root == header.receipts_root
        receipt = verify_receipt_proof(header.receipts_root, proof.tx_index, proof.nodes)
        assert receipt == proof.receipt
        assert receipt.status == 1
        (log,) = receipt.logs
        assert log.address == emitter.address
        assert log.topics == (PING_TOPIC, *emitter.ping.logs[0].topics[1:])
        assert log.data == emitter.ping.logs[0].data

    async def test_proven_log_locates_the_log_in_the_block_and_in_its_receipt(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        event = emitter.ping.logs[0]
        proven = await adapter.proven_log(emitter.ping.tx_hash, event.block_log_index)
        assert proven.block_log_index == event.block_log_index
        assert proven.receipt_log_index == 0  # the ping's only log
        assert proven.proof.tx_index == emitter.ping.tx_index
        assert proven.log == proven.proof.verify().logs[0]
        assert (proven.log.address, proven.log.topics) == (event.address, event.topics)
        with pytest.raises(BadRequest):
            await adapter.proven_log(emitter.ping.tx_hash, event.block_log_index + 1000)

    async def test_proven_log_of_a_transaction_with_several_logs_gives_both_indexes(
        self, adapter: ChainAdapter
    ) -> None:
        mined = await self._final(
            adapter, await adapter.submit(TxRequest(to=None, data=logging_init_code()))
        )
        assert len(mined.logs) == LOG_COUNT
        for position, event in enumerate(mined.logs):
            proven = await adapter.proven_log(mined.tx_hash, event.block_log_index)
            assert proven.receipt_log_index == position
            assert proven.block_log_index == event.block_log_index
            assert proven.log.topics == (_word(position),)
        # The block-wide indexes of one receipt's logs are consecutive.
        first = mined.logs[0].block_log_index
        assert [e.block_log_index for e in mined.logs] == list(range(first, first + LOG_COUNT))

    async def test_receipt_proofs_cover_every_transaction_of_a_busy_block(
        self, adapter: ChainAdapter, recipient: Address
    ) -> None:
        hashes = await asyncio.gather(
            *(adapter.submit(TxRequest(to=recipient, value=1)) for _ in range(4))
        )
        receipts = await asyncio.gather(*(self._final(adapter, h) for h in hashes))
        for block_number in {r.block_number for r in receipts}:
            mined_here = [r for r in receipts if r.block_number == block_number]
            proofs = await adapter.receipt_proofs(block_number, [r.tx_index for r in mined_here])
            for r in mined_here:
                proof = proofs[r.tx_index]
                assert proof == await adapter.receipt_proof(r.tx_hash)
                assert proof.block_hash == r.block_hash
                assert proof.verify().status == 1

    async def test_receipt_proofs_past_the_blocks_transactions_are_a_bad_request(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        with pytest.raises(BadRequest):
            await adapter.receipt_proofs(emitter.ping.block_number, [10_000])

    # -- calls ------------------------------------------------------------------------------

    async def test_call_reads_state_at_the_named_height(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        at_ping = await adapter.call(
            emitter.address, _LAST_SELECTOR, height=emitter.ping.block_number
        )
        assert at_ping == _word(emitter.ping_n)
        before = await adapter.call(emitter.address, _LAST_SELECTOR, height=emitter.deployed_at)
        assert before == _word(0)
        assert await adapter.call(
            emitter.address, _LAST_SELECTOR, finality=adapter.finality
        ) == _word(emitter.ping_n)

    async def test_call_names_exactly_one_block(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        with pytest.raises(BadRequest):
            await adapter.call(emitter.address, _LAST_SELECTOR)
        with pytest.raises(BadRequest):
            await adapter.call(
                emitter.address, _LAST_SELECTOR, finality=adapter.finality, height=Height(1)
            )

    async def test_reverting_call_carries_the_revert_data_and_its_decoded_error(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        with pytest.raises(CallReverted) as info:
            await adapter.call(emitter.address, _FAIL_SELECTOR, finality=adapter.finality)
        assert info.value.data[:4] == bytes.fromhex("08c379a0")  # Error(string)
        assert info.value.decoded is not None
        assert (info.value.decoded.name, info.value.decoded.args) == ("Error", ("Emitter: fail",))

    async def test_account_proof_verifies_code_and_storage(
        self, adapter: ChainAdapter, emitter: Emitter
    ) -> None:
        state = await adapter.account_proof(emitter.address, [0, 1], emitter.ping.block_number)
        header = await adapter.header(emitter.ping.block_number)
        assert state.state_root == header.state_root
        assert state.account is not None
        assert state.account.code_hash != EMPTY_CODE_HASH
        assert state.storage == ((0, emitter.ping_n), (1, 0))

    async def test_account_proof_of_an_absent_account_shows_absence(
        self, adapter: ChainAdapter
    ) -> None:
        head = await adapter.height(Finality.latest())
        state = await adapter.account_proof(Address(os.urandom(20)), [0], head)
        assert state.account is None
        assert state.storage == ((0, 0),)
