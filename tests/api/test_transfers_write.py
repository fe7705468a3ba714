"""The transfer write side and chain status against the real devnet (QBFT consortium, anvil):
a dApp's wallet quotes and builds a settlement-token transfer, signs it with its own key,
forwards it through the gateway, finds it by its tracking id once the relay service's watcher
recorded it, and, since no relayer runs here, delivers it itself with the manual-execution
proof and calldata, which the destination endpoint verifies on chain.

One devnet for the module; no relay services: the watcher's own code (``MessageWatcher``)
records the messages in the API's store, and the test submits the consortium header to the
public light client as anyone may.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from adapters.headers import Header, encode_header
from adapters.rawtx import InvalidRawTransaction, decode_raw_transaction
from adapters.registry import build_adapter
from adapters.types import ChainId, Height, TxHash
from gateway.api.chains import ChainAccess
from gateway.api.transfers import DELIVERY_GAS_ESTIMATE, tracking_id_of
from gateway.api.v1 import v1_api
from gateway.domain.apikeys import Scope
from gateway.domain.status import MessageStatus
from gateway.sdk import SyncXgateClient, XgateClient
from gateway.store import Store
from harness.relaynet import SELF_FUNDED_ACCOUNTS
from relayers.routes import ChainSide
from relayers.watcher import MessageWatcher
from tests.api.conftest import ApiClient, create_caller, serve
from tests.e2e.conftest import Devnet

ON_BOTH_STORES = True  # tests/api/conftest.py

ADMIN, STRANGER, ALICE, BOB = 0, 3, 7, 8
AMOUNT = 1_500


@dataclass
class Live:
    net: Devnet
    store: Store
    api: ApiClient

    @property
    def cid(self) -> int:
        return self.net.cid

    @property
    def pid(self) -> int:
        return self.net.pid

    async def header(self, side: str, number: int) -> Header:
        """The block's header as the chain's adapter fetched and checked it (sealed, for the
        consortium)."""
        name = "consortium" if side == "c" else "public"
        config = self.net.config.chains[name].adapter_config(name)
        async with build_adapter(config) as adapter:
            return await adapter.header(Height(number))

    async def record_messages(self, side: str) -> None:
        """The relay service's watcher, one step at a time until caught up."""
        name = "consortium" if side == "c" else "public"
        chain = self.net.config.chains[name]
        assert chain.contracts.endpoint is not None
        async with build_adapter(chain.adapter_config(name)) as adapter:
            other = "public" if side == "c" else "consortium"
            watcher = MessageWatcher(
                source=ChainSide(
                    name,
                    ChainId(chain.chain_id),
                    adapter,
                    chain.contracts.endpoint,
                    chain.finality_policy,
                    chain.start_height,
                ),
                destinations=[ChainId(self.net.config.chains[other].chain_id)],
                store=self.store,
                log_range=2000,
                interval_s=1.0,
            )
            while await watcher.step():
                pass


def _utcnow() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    folder: Path = tmp_path_factory.mktemp("transfers-write")
    async with Devnet.start(folder, accounts=SELF_FUNDED_ACCOUNTS) as net:
        cfg = net.config
        store = await Store.open(cfg.store.url, migrate=True)
        chains = ChainAccess(cfg, lambda name, chain: build_adapter(chain.adapter_config(name)))
        api = v1_api()  # with the transfer operations (add_transfer_operations)
        dapp = await create_caller(store, Scope.DAPP, name="wallet-dapp")
        try:
            async with serve(store, cfg, _utcnow, api=api, chains=chains) as client:  # type: ignore[arg-type]
                yield Live(net, store, client.using(dapp))
        finally:
            await chains.aclose()
            await store.close()


def terms(live: Live, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "src_chain_id": live.cid,
        "dst_chain_id": live.pid,
        "asset": "settlement_token",
        "amount": str(AMOUNT),
        "sender": live.net.address(ALICE),
        "recipient": live.net.address(BOB),
    }
    return {**body, **changes}


def sign(live: Live, side: str, tx: dict[str, Any], account: int = ALICE) -> str:
    """The wallet: ``tx`` (an UnsignedTx answer) signed with the account's own key (EIP-1559
    fees, its next nonce)."""
    chain = live.net.chain(side)
    base = int(chain.w3.eth.get_block("latest")["baseFeePerGas"])
    signed = chain.accounts[account].sign_transaction(
        {
            "chainId": tx["chain_id"],
            "nonce": chain.next_nonce(account),
            "to": tx["to"],
            "data": tx["data"],
            "value": int(tx["value"]),
            "gas": int(tx["gas"]),
            "maxPriorityFeePerGas": 1,
            "maxFeePerGas": 2 * base + 1,
        }
    )
    return "0x" + bytes(signed.raw_transaction).hex()


async def forward(live: Live, side: str, raw: str) -> dict[str, Any]:
    chain = live.net.chain(side)
    answer = await live.api.request(
        "POST", f"/v1/chains/{chain.chain_id}/transactions", json={"raw": raw}
    )
    assert answer.status == 202, answer.body
    chain.wait(bytes.fromhex(answer.body["tx_hash"][2:]))
    return dict(answer.body)


def test_raw_transactions_decode_with_their_chain_and_sender_or_are_refused() -> None:
    account = Account.from_key("0x" + "11" * 32)
    base = {"nonce": 3, "to": "0x" + "22" * 20, "data": b"\x01", "value": 5, "gas": 50_000}
    for fees in ({"maxPriorityFeePerGas": 1, "maxFeePerGas": 9}, {"gasPrice": 9}):
        signed = account.sign_transaction({**base, **fees, "chainId": 20250})
        tx = decode_raw_transaction(bytes(signed.raw_transaction))
        assert (tx.chain_id, tx.nonce, tx.value, tx.data) == (20250, 3, 5, b"\x01")
        assert tx.to == b"\x22" * 20 and tx.tx_hash == bytes(signed.hash)
        assert "0x" + tx.sender.hex() == account.address.lower()
    # Without an EIP-155 chain id a transaction can be replayed on any chain.
    replayable = account.sign_transaction({**base, "gasPrice": 9})
    for raw in (
        bytes(replayable.raw_transaction),
        b"",
        b"\x12\x34",
        b"\xc0",
        b"\x02" + b"\xff" * 40,
    ):
        with pytest.raises(InvalidRawTransaction):
            decode_raw_transaction(raw)


async def test_chain_status_numbers_are_the_nodes(live: Live) -> None:
    c, p = live.net.consortium, live.net.public
    lc = live.net.contract("p.qbft_light_client")
    before = c.w3.eth.block_number
    answer = await live.api.get(f"/v1/chains/{live.cid}/status")
    after = c.w3.eth.block_number
    assert answer.status == 200, answer.body
    s = answer.body
    assert before <= s["head_height"] <= after
    assert s["finalized_height"] == s["head_height"]  # instant finality
    assert s["endpoint_paused"] is False and s["paused_routes"] == []
    [public] = s["counterparts"]
    assert public["chain_id"] == live.pid and public["oracle"] == "qbft_light_client"
    assert public["oracle_address"] == lc.address
    assert public["known_height"] == lc.functions.latestNumber().call()
    assert public["lag_blocks"] == s["finalized_height"] - public["known_height"]
    assert public["frozen"] is False and public["route_paused"] is False

    confirmations = live.net.config.chains["public"].finality.confirmations  # type: ignore[union-attr]
    before = p.w3.eth.block_number
    answer = await live.api.get(f"/v1/chains/{live.pid}/status")
    after = p.w3.eth.block_number
    s = answer.body
    assert answer.status == 200, s
    assert before <= s["head_height"] <= after
    assert s["head_height"] - s["finalized_height"] == confirmations
    [hub] = s["counterparts"]
    assert hub["oracle"] == "attested_header_store"
    # No attester runs here: the header store holds no public header yet.
    assert hub["known_height"] is None and "no header" in hub["detail"]

    unknown = await live.api.get("/v1/chains/999999/status")
    assert unknown.status == 400
    assert unknown.body["errors"][0]["field"] == "path.chain_id"


async def test_chain_fees_are_the_nodes_fee_market_by_the_relayers_rule(live: Live) -> None:
    for side, chain_id in (("c", live.cid), ("p", live.pid)):
        w3 = live.net.chain(side).w3
        before = w3.eth.block_number
        answer = await live.api.get(f"/v1/chains/{chain_id}/fees")
        after = w3.eth.block_number
        assert answer.status == 200, answer.body
        f = answer.body
        assert f["chain_id"] == chain_id and before <= f["block_number"] <= after
        base = int(w3.eth.get_block(f["block_number"])["baseFeePerGas"])
        assert f["eip1559"] is True and f["gas_price"] is None
        assert f["base_fee_per_gas"] == str(base)  # wei as decimal strings
        tip = int(f["max_priority_fee_per_gas"])
        assert int(f["max_fee_per_gas"]) == 2 * base + tip  # the submitter's rule

    # The SDK (a read key): the same answer as a model.
    reader = await create_caller(live.store, Scope.READ, name="fees-reader")
    url = str(live.api.client.make_url("/"))
    async with XgateClient(url, reader.token) as client:
        fees = await client.chain_fees(live.pid)
    assert fees.chain_id == live.pid and fees.eip1559 and fees.base_fee_per_gas is not None
    assert fees.max_fee_per_gas == 2 * fees.base_fee_per_gas + (fees.max_priority_fee_per_gas or 0)

    def blocking() -> Any:  # off the event loop that serves the app
        with SyncXgateClient(url, reader.token) as sync:
            return sync.chain_fees(live.cid)

    consortium = await asyncio.to_thread(blocking)
    assert consortium.chain_id == live.cid and consortium.block_number >= 0

    unknown = await live.api.get("/v1/chains/999999/fees")
    assert unknown.status == 400
    assert unknown.body["errors"][0]["field"] == "path.chain_id"


def check_costs(quote: dict[str, Any]) -> None:
    """The quote's wei: each gas times the chain's fee per gas, summed."""
    fees = quote["fees"]
    source, delivery = fees["source"], fees["delivery"]
    top, likely = int(source["max_fee_per_gas"]), int(source["likely_gas_price"])
    assert 0 < likely <= top
    for tx in source["txs"]:
        if tx["gas"] is None:
            assert tx["max_fee_wei"] is None and tx["likely_fee_wei"] is None
            continue
        assert int(tx["max_fee_wei"]) == int(tx["gas"]) * top
        assert int(tx["likely_fee_wei"]) == int(tx["gas"]) * likely
    if fees["source_gas"] is None:
        assert source["max_fee_wei"] is None and source["likely_fee_wei"] is None
    else:
        assert int(source["max_fee_wei"]) == int(fees["source_gas"]) * top
        assert int(source["likely_fee_wei"]) == int(fees["source_gas"]) * likely
    assert delivery["paid_by"] == "relayer"
    assert delivery["gas_per_message"] == fees["delivery_gas"]
    assert delivery["basis"] == fees["delivery_gas_basis"]
    gas = int(delivery["gas_per_message"])
    assert int(delivery["max_fee_wei"]) == gas * int(delivery["max_fee_per_gas"])
    assert int(delivery["likely_fee_wei"]) == gas * int(delivery["likely_gas_price"])


async def test_bad_terms_and_bad_transactions_are_refused_and_change_nothing(
    live: Live,
) -> None:
    c = live.net.consortium
    alice = c.accounts[ALICE].address
    nonce = c.w3.eth.get_transaction_count(alice)

    async def refused(path: str, body: dict[str, Any], status: int, slug: str) -> None:
        answer = await live.api.request("POST", path, json=body)
        assert answer.status == status, answer.body
        assert answer.body["type"].endswith("/" + slug), answer.body

    q = "/v1/transfers/build"
    await refused(q, terms(live, amount="0"), 422, "zero-amount")
    await refused(q, terms(live, dst_chain_id=live.cid), 422, "unknown-route")
    await refused(q, terms(live, recipient="0x" + "00" * 20), 422, "recipient-not-allowed")
    wrapped = live.net.contract("p.wrapped_settlement_token").address
    await refused(q, terms(live, recipient=wrapped), 422, "recipient-not-allowed")
    await refused(q, terms(live, amount=str(10**30)), 422, "insufficient-balance")
    await refused(q, terms(live, token_id="5"), 400, "invalid-request")
    await refused("/v1/transfers/quote", terms(live, amount="0"), 422, "zero-amount")

    forward_to = f"/v1/chains/{live.cid}/transactions"
    await refused(forward_to, {"raw": "0x1234"}, 422, "invalid-raw-transaction")
    await refused(forward_to, {"raw": "0x02" + "ff" * 40}, 422, "invalid-raw-transaction")
    token = live.net.contract("c.settlement_token").address
    tx = {"chain_id": live.pid, "to": token, "data": "0x", "value": "0", "gas": "50000"}
    # Signed for the public chain, sent to the consortium's.
    await refused(forward_to, {"raw": sign(live, "c", tx)}, 422, "wrong-chain")
    # For this chain, but to an address that is none of the gateway's contracts.
    stray = {**tx, "chain_id": live.cid, "to": live.net.address(BOB)}
    await refused(forward_to, {"raw": sign(live, "c", stray)}, 422, "destination-not-allowed")
    assert c.w3.eth.get_transaction_count(alice, "pending") == nonce

    await refused(
        "/v1/transfers/track",
        {"chain_id": live.cid, "tx_hash": "0x" + "ab" * 32},
        404,
        "transaction-not-found",
    )
    assert await live.store.tracked(tracking_id_of(live.cid, b"\xab" * 32)) is None


async def test_a_transfer_built_signed_forwarded_tracked_and_executed_by_hand(
    live: Live,
) -> None:
    net, c, p = live.net, live.net.consortium, live.net.public
    alice, bob = net.address(ALICE), net.address(BOB)
    c.send(net.contract("c.settlement_token").functions.mint(alice, AMOUNT), sender=ADMIN)
    wrapped = net.contract("p.wrapped_settlement_token")
    minted_before = wrapped.functions.balanceOf(bob).call()

    # Quote without history: estimated from the chains' finality times.
    quote = await live.api.request("POST", "/v1/transfers/quote", json=terms(live))
    assert quote.status == 200, quote.body
    assert quote.body["fees"]["protocol_fee"] == "0"
    assert quote.body["fees"]["source_txs"] == 2  # approve, then lock
    assert quote.body["fees"]["source_gas"] is None  # the lock needs the approval mined
    assert quote.body["latency"]["basis"] == "estimated"
    assert quote.body["latency"]["samples"] == 0
    check_costs(quote.body)
    assert quote.body["fees"]["source"]["txs"][0]["gas"] is not None  # the approval
    assert quote.body["fees"]["source"]["txs"][1]["gas"] is None
    delivery = quote.body["fees"]["delivery"]
    assert delivery["chain_id"] == live.pid and delivery["samples"] == 0
    assert delivery["basis"] == "estimated"
    assert int(delivery["gas_per_message"]) == DELIVERY_GAS_ESTIMATE["settlement_token"]

    built = await live.api.request("POST", "/v1/transfers/build", json=terms(live))
    assert built.status == 200, built.body
    approve, lock = built.body["txs"]
    assert approve["to"] == net.contract("c.settlement_token").address
    assert lock["to"] == net.contract("c.vault").address and lock["gas"] is None
    await forward(live, "c", sign(live, "c", approve))
    # Approved: the lock alone, now with its gas.
    [lock] = (await live.api.request("POST", "/v1/transfers/build", json=terms(live))).body["txs"]
    assert lock["gas"] is not None
    sent = await forward(live, "c", sign(live, "c", lock))
    assert sent["sender"] == alice
    tracking_id = sent["tracking_id"]
    assert tracking_id == tracking_id_of(live.cid, bytes.fromhex(sent["tx_hash"][2:]))
    # The same transaction registered again: the same tracking id.
    again = await live.api.request(
        "POST", "/v1/transfers/track", json={"chain_id": live.cid, "tx_hash": sent["tx_hash"]}
    )
    assert again.status == 200 and again.body["tracking_id"] == tracking_id

    not_yet = await live.api.get(f"/v1/transfers/{tracking_id}")
    assert not_yet.status == 404
    await live.record_messages("c")
    found = await live.api.get(f"/v1/transfers/{tracking_id}")
    assert found.status == 200, found.body
    assert found.body["status"] == "final" and found.body["src_tx_hash"] == sent["tx_hash"]
    message_id = found.body["id"]

    # No relayer: the header is not on the public light client yet.
    manual = await live.api.get(f"/v1/transfers/{tracking_id}/manual-execution")
    assert manual.status == 200, manual.body
    assert manual.body["message_id"] == message_id
    assert manual.body["header"]["accepted"] is False and manual.body["header"]["required"]
    assert manual.body["gas"] is None
    # Anyone submits the header calls it gives: the sealed header (the adapter's checked one)
    # in the light client's submitHeader, as the relay service's feeder builds it ...
    lc = net.contract("p.qbft_light_client")
    [call] = manual.body["header"]["submit"]
    assert call["to"] == lc.address and "submitHeader" in call["description"]
    header = await live.header("c", manual.body["src_block_number"])
    expected = lc.encode_abi("submitHeader", [encode_header(header)])
    assert call["data"] == expected
    net.sync_clocks()
    p.send_raw_tx(call["to"], bytes.fromhex(call["data"][2:]), sender=STRANGER)
    manual = await live.api.get(f"/v1/transfers/{message_id}/manual-execution")
    assert manual.body["header"] == {**manual.body["header"], "accepted": True, "required": None}
    assert manual.body["to"] == net.contract("p.endpoint").address
    assert manual.body["gas"] is not None and manual.body["header"]["submit"] == []
    # ... and delivers with the calldata, from its own key: the proof verifies on chain.
    delivered = p.send_raw_tx(manual.body["to"], bytes.fromhex(manual.body["data"][2:]), sender=BOB)
    assert wrapped.functions.balanceOf(bob).call() == minted_before + AMOUNT
    assert net.contract("p.endpoint").functions.delivered(bytes.fromhex(message_id[2:])).call()

    done = await live.api.get(f"/v1/transfers/{message_id}/manual-execution")
    assert done.status == 409 and done.body["type"].endswith("/already-delivered")

    # The store learns it as the relayer would (delivered): the route has a measured latency.
    store, mid = live.store, bytes.fromhex(message_id[2:])
    [claimed] = await store.claim_messages(
        "test", dst_chain_id=ChainId(live.pid), statuses=[MessageStatus.FINAL], limit=1, lease_s=30
    )
    assert claimed.id == mid
    await store.transition(claimed.id, "test", MessageStatus.HEADER_READY)
    await store.transition(
        claimed.id,
        "test",
        MessageStatus.SUBMITTED,
        tx_hash=TxHash(bytes(delivered["transactionHash"])),
    )
    await store.transition(claimed.id, "test", MessageStatus.DELIVERED, block_number=Height(1))
    c.send(net.contract("c.settlement_token").functions.mint(alice, 10), sender=ADMIN)
    quote = await live.api.request("POST", "/v1/transfers/quote", json=terms(live, amount="1"))
    assert quote.status == 200, quote.body
    latency = quote.body["latency"]
    assert latency["basis"] == "measured" and latency["samples"] == 1
    assert latency["p50_s"] >= latency["source_finality_s"]
    # The delivery's gas is now measured on that delivery: its receipt's gasUsed, one message.
    check_costs(quote.body)
    delivery = quote.body["fees"]["delivery"]
    assert delivery["basis"] == "measured" and delivery["samples"] == 1
    assert int(delivery["gas_per_message"]) == int(delivered["gasUsed"])

    # The way back, from the public chain: Bob burns the wrapped tokens at the gateway (one
    # transaction, no approval), forwarded and found by its tracking id once final there.
    back = {"src_chain_id": live.pid, "dst_chain_id": live.cid, "sender": bob, "recipient": alice}
    built = await live.api.request("POST", "/v1/transfers/build", json=terms(live, **back))
    assert built.status == 200, built.body
    [burn] = built.body["txs"]
    assert burn["to"] == net.contract("p.asset_gateway").address and burn["gas"] is not None
    sent = await forward(live, "p", sign(live, "p", burn, account=BOB))
    assert wrapped.functions.balanceOf(bob).call() == minted_before
    for _ in range(30):  # the watcher records it once its block is final (confirmations)
        await live.record_messages("p")
        found = await live.api.get(f"/v1/transfers/{sent['tracking_id']}")
        if found.status == 200:
            break
        await asyncio.sleep(1)
    assert found.status == 200, found.body
    assert found.body["dst_chain_id"] == live.cid and found.body["status"] == "final"
    assert found.body["src_tx_hash"] == sent["tx_hash"]
