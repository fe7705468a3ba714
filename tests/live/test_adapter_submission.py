"""Submission, failover and proofs against a real anvil with automine switched off: a stuck
transaction is fee-bumped and its replacement mined; a new writer on the same journal resumes
after a crash (same nonces, nothing sent twice); a dead first endpoint fails over to the
second; reverting calls carry their decoded error; a log's block-wide and in-receipt
positions differ when an earlier transaction of the block has logs, and the proof verifies.

The module runs its own anvil (automine is switched off and on here), so the session's nodes
never see it.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from eth_utils.crypto import keccak

from adapters.base import BadRequest, CallReverted, TxReceipt, TxRequest
from adapters.errors import RpcError, RpcUnavailable, XgateError
from adapters.evm import EvmAdapter, EvmConfig
from adapters.retry import RetryPolicy
from adapters.rpc.answers import hexstr, parse_quantity
from adapters.rpc.submit import (
    MIN_FEE_BUMP_PCT,
    InMemoryJournal,
    Mined,
    SentTx,
    SubmitPolicy,
    TxJournal,
)
from adapters.rpc.transport import RpcObserver, RpcTransport
from adapters.signer import LocalSigner
from adapters.testing import logging_init_code
from adapters.types import Address, ChainId, Finality, Height
from contracts import load_artifact

pytestmark = pytest.mark.live

DEPTH0 = Finality.confirmations(0)
TRANSFER_GAS = 21_000
WAIT_S = 20.0


@pytest.fixture(scope="module")
async def node() -> AsyncIterator[Any]:
    from devnet.anvil import start_anvil

    async with start_anvil(chain_id=31337) as started:
        yield started


@pytest.fixture(scope="module")
async def control(node: Any) -> AsyncIterator[RpcTransport]:
    """The test's own line to anvil (automine, mining, the pool), beside the adapters."""
    transport = RpcTransport(
        (node.url,), chain_id=node.chain_id, timeout_s=5.0, retry=RetryPolicy(max_attempts=1)
    )
    yield transport
    await transport.aclose()


@asynccontextmanager
async def manual_mining(control: RpcTransport) -> AsyncIterator[None]:
    """Automine off for the block: transactions wait in the pool until ``mine``."""
    await control.request("evm_setAutomine", [False])
    try:
        yield
    finally:
        await control.request("evm_setAutomine", [True])


async def mine(control: RpcTransport) -> None:
    await control.request("evm_mine", [])


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not await check():
            await asyncio.sleep(0.05)
    assert await check(), what


def config(url: str, chain_id: int, **overrides: Any) -> EvmConfig:
    settings: dict[str, Any] = {
        "rpc_url": url,
        "chain_id": ChainId(chain_id),
        "finality": DEPTH0,
        "poll_interval_s": 0.02,
        "request_timeout_s": 2.0,
        "retry": RetryPolicy(initial_delay=0.02, max_attempts=3),
    }
    settings.update(overrides)
    return EvmConfig(**settings)


def adapter_for(
    node: Any,
    account: int,
    *,
    journal: TxJournal | None = None,
    policy: SubmitPolicy | None = None,
    observer: RpcObserver | None = None,
    **overrides: Any,
) -> EvmAdapter:
    return EvmAdapter(
        config(node.url, node.chain_id, **overrides),
        [LocalSigner(node.accounts[account].private_key)],
        journal=journal,
        submit_policy=policy,
        observer=observer,
    )


def transfer(node: Any, value: int) -> TxRequest:
    return TxRequest(to=Address(node.accounts[9].address), value=value, gas=TRANSFER_GAS)


async def balance(control: RpcTransport, address: bytes) -> int:
    return parse_quantity(await control.request("eth_getBalance", [hexstr(address), "latest"]), "b")


async def nonce(control: RpcTransport, address: bytes, block: str = "latest") -> int:
    return parse_quantity(
        await control.request("eth_getTransactionCount", [hexstr(address), block]), "nonce"
    )


class Recorder:
    """An ``RpcObserver`` that counts answers by (method, error kind)."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    def on_response(
        self, chain_id: int, method: str, seconds: float, error: XgateError | None
    ) -> None:
        assert seconds >= 0
        self.seen[method, "ok" if error is None else type(error).__name__] += 1

    def errors(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, kind), count in self.seen.items():
            if kind != "ok":
                out[kind] += count
        return out


@contextmanager
def dead_url() -> Iterator[str]:
    """A loopback URL where nothing listens (the port stays bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


# --- fee bumping -------------------------------------------------------------------------------


async def test_stuck_transaction_is_fee_bumped_and_the_replacement_is_mined(
    node: Any, control: RpcTransport
) -> None:
    journal = InMemoryJournal()
    policy = SubmitPolicy(stuck_after_s=0.3, fee_bump_pct=15, check_interval_s=0.05)
    async with (
        adapter_for(node, 1, journal=journal, policy=policy) as adapter,
        manual_mining(control),
    ):
        writer = adapter.writer()
        sent = await writer.submit(transfer(node, 7), purpose="test", refs=("bump",))
        assert isinstance(sent, SentTx) and sent.sender == writer.address

        async def bumped() -> bool:
            entry = journal.entry(node.chain_id, sent.sender, sent.nonce)
            return entry is not None and len(entry.attempts) >= 2

        await eventually(bumped, "the stuck transaction was never replaced")
        entry = journal.entry(node.chain_id, sent.sender, sent.nonce)
        assert entry is not None
        assert (entry.purpose, entry.refs) == ("test", ("bump",))
        assert entry.attempts[0].tx_hash == sent.tx_hash
        for old, new in zip(entry.attempts, entry.attempts[1:], strict=False):
            assert old.fees.max_fee_per_gas is not None and new.fees.max_fee_per_gas is not None
            assert old.fees.max_priority_fee_per_gas is not None
            assert new.fees.max_priority_fee_per_gas is not None
            # The replacement rule of geth and Besu, on both fees.
            assert new.fees.max_fee_per_gas * 100 >= old.fees.max_fee_per_gas * 115
            assert new.fees.max_priority_fee_per_gas * 100 >= (
                old.fees.max_priority_fee_per_gas * (100 + MIN_FEE_BUMP_PCT)
            )
        assert await nonce(control, sent.sender, "pending") == sent.nonce + 1  # one tx, replaced

        await mine(control)
        receipt = await adapter.wait_mined(sent, DEPTH0, WAIT_S)
        assert receipt.status == 1
        assert receipt.tx_hash != sent.tx_hash  # a replacement got mined, not the first attempt
        final_entry = journal.entry(node.chain_id, sent.sender, sent.nonce)
        assert final_entry is not None
        assert receipt.tx_hash in {a.tx_hash for a in final_entry.attempts}
        # wait_final on the first hash follows the replacement too.
        assert await adapter.wait_final(sent.tx_hash, DEPTH0, WAIT_S) == receipt

        async def settled() -> bool:
            return isinstance(journal.outcome(node.chain_id, sent.sender, sent.nonce), Mined)

        await eventually(settled, "the mined replacement was never recorded")
        outcome = journal.outcome(node.chain_id, sent.sender, sent.nonce)
        assert isinstance(outcome, Mined) and outcome.tx_hash == receipt.tx_hash
        assert await nonce(control, sent.sender) == sent.nonce + 1


async def test_no_bump_passes_the_fee_cap(node: Any, control: RpcTransport) -> None:
    journal = InMemoryJournal()
    latest = await control.request("eth_getBlockByNumber", ["latest", False])
    base_fee = parse_quantity(latest["baseFeePerGas"], "baseFeePerGas")
    cap = base_fee + base_fee // 2  # enough to be mined, too little for a 15 % bump of itself
    policy = SubmitPolicy(stuck_after_s=0.1, check_interval_s=0.02, max_fee_per_gas=cap)
    async with (
        adapter_for(node, 2, journal=journal, policy=policy) as adapter,
        manual_mining(control),
    ):
        sent = await adapter.writer().submit(transfer(node, 1))
        await asyncio.sleep(0.6)  # several stuck periods
        entry = journal.entry(node.chain_id, sent.sender, sent.nonce)
        assert entry is not None and len(entry.attempts) == 1
        assert entry.latest.fees.ceiling <= cap
        await mine(control)
        receipt = await adapter.wait_mined(sent, DEPTH0, WAIT_S)
        assert receipt.tx_hash == sent.tx_hash


# --- resume after a crash ----------------------------------------------------------------------


async def test_a_new_writer_on_the_same_journal_resumes_with_the_same_nonces(
    node: Any, control: RpcTransport
) -> None:
    journal = InMemoryJournal()
    policy = SubmitPolicy(stuck_after_s=600)  # no bumping: the hashes stay as journaled
    recipient = node.accounts[9].address
    async with manual_mining(control):
        crashed = adapter_for(node, 3, journal=journal, policy=policy)
        async with crashed:
            first = await crashed.writer().submit(transfer(node, 1), purpose="a")
            second = await crashed.writer().submit(transfer(node, 2), purpose="b")
        # The process is gone; its node lost the first transaction as well (a node restart,
        # or a crash between the journal write and the broadcast).
        await control.request("anvil_dropTransaction", [hexstr(first.tx_hash)])
        assert await control.request("eth_getTransactionByHash", [hexstr(first.tx_hash)]) is None
        open_nonces = [e.nonce for e in await journal.open_entries(first.chain_id, first.sender)]
        assert open_nonces == [first.nonce, first.nonce + 1] == [first.nonce, second.nonce]
        before = await balance(control, recipient)

        async with adapter_for(node, 3, journal=journal, policy=policy) as resumed:
            # Re-broadcast from the journal: the same signed bytes, so the same hash.
            known = await control.request("eth_getTransactionByHash", [hexstr(first.tx_hash)])
            assert known is not None
            assert parse_quantity(known["nonce"], "nonce") == first.nonce
            third = await resumed.writer().submit(transfer(node, 4), purpose="c")
            assert third.nonce == second.nonce + 1  # past the journal's nonces, none re-used
            await mine(control)
            receipts: list[TxReceipt] = [
                await resumed.wait_mined(s, DEPTH0, WAIT_S) for s in (first, second, third)
            ]
            assert [r.tx_hash for r in receipts] == [s.tx_hash for s in (first, second, third)]
            assert len({r.block_number for r in receipts}) == 1
            # Each transfer happened exactly once.
            assert await balance(control, recipient) - before == 1 + 2 + 4
            assert await nonce(control, first.sender) == third.nonce + 1

            async def settled() -> bool:
                return not await journal.open_entries(first.chain_id, first.sender)

            await eventually(settled, "the resumed entries were never closed")


# --- failover and the observer -----------------------------------------------------------------


async def test_a_dead_first_endpoint_fails_over_to_the_second(
    node: Any, control: RpcTransport
) -> None:
    recorder = Recorder()
    with dead_url() as dead:
        adapter = EvmAdapter(
            config(dead, node.chain_id, fallback_rpc_urls=(node.url,)),
            [LocalSigner(node.accounts[4].private_key)],
            observer=recorder,
        )
        async with adapter:
            receipt = await adapter.wait_final(
                await adapter.submit(transfer(node, 5)), DEPTH0, WAIT_S
            )
            assert receipt.status == 1
            header = await adapter.header(receipt.block_number)
            assert adapter.block_hash(header) == receipt.block_hash
    # The dead endpoint failed once, then stayed set aside; everything else was answered.
    assert recorder.errors() == Counter({"RpcUnavailable": 1})
    assert recorder.seen["eth_chainId", "RpcUnavailable"] == 1
    assert recorder.seen["eth_chainId", "ok"] == 1
    assert recorder.seen["eth_sendRawTransaction", "ok"] == 1


async def test_every_endpoint_dead_is_unavailable(node: Any) -> None:
    recorder = Recorder()
    with dead_url() as first, dead_url() as second:
        adapter = EvmAdapter(
            config(
                first,
                node.chain_id,
                fallback_rpc_urls=(second,),
                retry=RetryPolicy(initial_delay=0.01, max_attempts=2),
            ),
            observer=recorder,
        )
        with pytest.raises(RpcUnavailable):
            await adapter.start()
        await adapter.aclose()
    assert recorder.seen["eth_chainId", "RpcUnavailable"] == 4  # 2 endpoints x 2 attempts


# --- calls -------------------------------------------------------------------------------------


async def test_reverting_call_names_the_contracts_custom_error(
    node: Any, control: RpcTransport
) -> None:
    recorder = Recorder()
    endpoint = load_artifact("BridgeEndpoint")
    async with adapter_for(node, 5, observer=recorder) as adapter:
        admin = Address(node.accounts[5].address)
        deployed = await adapter.wait_final(
            await adapter.submit(TxRequest(to=None, data=endpoint.deploy_data(admin, admin))),
            DEPTH0,
            WAIT_S,
        )
        assert deployed.contract_address is not None
        assert await adapter.call(
            deployed.contract_address, endpoint.call_data("paused"), finality=DEPTH0
        ) == (0).to_bytes(32, "big")
        data = endpoint.call_data("deliver", 4242, b"\0" * 32, 0, [], 0)
        with pytest.raises(CallReverted) as info:
            await adapter.call(deployed.contract_address, data, finality=DEPTH0)
    error = info.value
    assert error.decoded is not None
    assert (error.decoded.name, error.decoded.args) == ("UnknownRoute", (4242,))
    assert error.decoded.artifact == "BridgeEndpoint"
    assert error.data[:4] == keccak(text=error.decoded.signature)[:4]
    assert error.to_dict()["decoded"]["name"] == "UnknownRoute"
    # The revert reached the observer as a JSON-RPC error answer, counted by kind.
    assert recorder.seen["eth_call", RpcError.__name__] == 1


# --- proofs ------------------------------------------------------------------------------------


async def test_proven_log_of_a_block_with_earlier_logs_has_two_different_indexes(
    node: Any, control: RpcTransport
) -> None:
    async with adapter_for(node, 6) as adapter, manual_mining(control):
        writer = adapter.writer()
        earlier = await writer.submit(TxRequest(to=None, data=logging_init_code(2), gas=100_000))
        later = await writer.submit(TxRequest(to=None, data=logging_init_code(3), gas=100_000))
        await mine(control)
        first = await adapter.wait_mined(earlier, DEPTH0, WAIT_S)
        mined = await adapter.wait_mined(later, DEPTH0, WAIT_S)
    assert first.block_number == mined.block_number
    assert (first.tx_index, mined.tx_index) == (0, 1)
    async with adapter_for(node, 6) as adapter:
        header = await adapter.header(mined.block_number)
        for position, event in enumerate(mined.logs):
            assert event.block_log_index == 2 + position  # after the earlier receipt's 2 logs
            proven = await adapter.proven_log(mined.tx_hash, event.block_log_index)
            assert proven.block_log_index == event.block_log_index
            assert proven.receipt_log_index == position
            assert proven.block_log_index != proven.receipt_log_index
            assert proven.proof.tx_index == mined.tx_index
            assert proven.proof.block_hash == mined.block_hash
            assert proven.proof.receipts_root == header.receipts_root
            receipt = proven.proof.verify()
            assert receipt.logs[proven.receipt_log_index] == proven.log
            assert proven.log.topics == (position.to_bytes(32, "big"),)
        # Block log 0 is the earlier transaction's, not this one's.
        with pytest.raises(BadRequest):
            await adapter.proven_log(mined.tx_hash, Height(0))
        proofs = await adapter.receipt_proofs(mined.block_number, [1, 0])
        assert set(proofs) == {0, 1}
        assert proofs[0] == await adapter.receipt_proof(first.tx_hash)
        assert proofs[1] == await adapter.receipt_proof(mined.tx_hash)
        assert len(proofs[0].verify().logs) == 2 and len(proofs[1].verify().logs) == 3
        both = await adapter.proven_logs(mined.block_number, [0, 4])
        assert (both[0].proof.tx_index, both[0].receipt_log_index) == (0, 0)
        assert (both[4].proof.tx_index, both[4].receipt_log_index) == (1, 2)
