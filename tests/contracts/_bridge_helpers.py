"""Bridge test helpers: a deployed endpoint set on one chain; receipt proofs come from the
adapters' own proof path (``EvmAdapter.receipt_proof`` through tests/helpers/proofs.py).

Delivery is tested on ONE chain with two endpoint instances: ``remote`` (A) sends with
``dstChainId == chain id`` and ``local`` (B) delivers, trusting the test header oracle, which
account 0 feeds with the real block's receiptsRoot. ``imposter`` (C) is a third endpoint that
B does not trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from adapters.receipts import ReceiptProof
from gateway.domain.messages import MESSAGE_SENT_TOPIC, Message, decode_message_sent
from harness import Chain
from tests.helpers.proofs import receipt_proof

ADMIN, PAUSER, USER, STRANGER = 0, 1, 2, 3
OTHER_CHAIN = 999  # a destination that is not this chain


def sent_messages(proven: ReceiptProof, chain_id: int) -> list[tuple[int, Message]]:
    """(log index within the receipt, message) of every MessageSent log of the receipt."""
    return [
        (i, decode_message_sent(log, chain_id))  # type: ignore[arg-type]
        for i, log in enumerate(proven.receipt.logs)
        if log.topics and log.topics[0] == MESSAGE_SENT_TOPIC
    ]


@dataclass
class Bridge:
    """Endpoints A (remote), B (local), C (imposter), the test oracle and a receiver."""

    chain: Chain
    oracle: Contract
    remote: Contract
    local: Contract
    imposter: Contract
    receiver: Contract
    sender: Contract

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    def send(
        self,
        payload: bytes,
        *,
        via: Contract | None = None,
        dst: int | None = None,
        receiver: str | None = None,
    ) -> tuple[ReceiptProof, int, Message]:
        """Send one message from ``via`` (A by default) as USER; returns proof, log index, msg."""
        endpoint = via if via is not None else self.remote
        call = endpoint.functions.send(
            self.chain_id if dst is None else dst, receiver or self.receiver.address, payload
        )
        self.chain.check_call(call, USER)  # a revert raises the decoded custom error
        tx = self.chain.send_with_margin(call, sender=USER)
        proven = receipt_proof(self.chain, tx["transactionHash"])
        [(log_index, msg)] = sent_messages(proven, self.chain_id)
        return proven, log_index, msg

    def post_header(self, proven: ReceiptProof, receipts_root: bytes | None = None) -> None:
        self.chain.send(
            self.oracle.functions.post(
                self.chain_id,
                proven.block_hash,
                receipts_root if receipts_root is not None else proven.receipts_root,
                b"\x01" * 32,
            ),
            sender=ADMIN,
        )

    def deliver_call(
        self,
        proven: ReceiptProof,
        log_index: int,
        *,
        nodes: tuple[bytes, ...] | None = None,
        tx_index: int | None = None,
        block_hash: bytes | None = None,
        endpoint: Contract | None = None,
    ) -> Any:
        return (endpoint or self.local).functions.deliver(
            self.chain_id,
            block_hash if block_hash is not None else proven.block_hash,
            proven.tx_index if tx_index is None else tx_index,
            list(proven.nodes if nodes is None else nodes),
            log_index,
        )


def deploy_endpoint(chain: Chain) -> Contract:
    return chain.deploy(
        "BridgeEndpoint", chain.accounts[ADMIN].address, chain.accounts[PAUSER].address
    )


def deploy_bridge(chain: Chain) -> Bridge:
    oracle = chain.deploy("BridgeTestHeaderOracle", sender=ADMIN)
    remote, local, imposter = (deploy_endpoint(chain) for _ in range(3))
    here = chain.chain_id
    for endpoint, dst in ((remote, here), (remote, OTHER_CHAIN), (imposter, here)):
        chain.send(endpoint.functions.setRoute(dst, local.address, oracle.address))
    chain.send(local.functions.setRoute(here, remote.address, oracle.address))
    receiver = chain.deploy("BridgeTestReceiver", local.address)
    sender = chain.deploy("BridgeTestSender")
    return Bridge(chain, oracle, remote, local, imposter, receiver, sender)


def mine_block(chain: Chain, calls: list[Any | None], sender: int = USER) -> list[Any]:
    """Mine ONE block (anvil, automine off) holding ``calls`` in order; None = a filler
    transfer. Returns the receipts. Lets a test build receipt tries with 3-node paths."""
    w3 = chain.w3
    account = chain.accounts[sender]
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    fee = 4 * int(w3.eth.get_block("latest")["baseFeePerGas"]) + 1
    base = {"chainId": chain.chain_id, "maxPriorityFeePerGas": 1, "maxFeePerGas": fee}
    chain.rpc("evm_setAutomine", False)
    try:
        hashes = []
        for i, call in enumerate(calls):
            params: dict[str, Any] = {**base, "from": account.address, "nonce": nonce + i}
            tx: dict[str, Any]
            if call is None:
                tx = {
                    **params,
                    "to": chain.accounts[(i % 5) + 4].address,
                    "value": 1,
                    "gas": 21_000,
                }
            else:
                tx = call.build_transaction({**params, "gas": 300_000})
            hashes.append(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
        chain.rpc("evm_mine")
    finally:
        chain.rpc("evm_setAutomine", True)
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=60) for h in hashes]
    assert len({r["blockHash"] for r in receipts}) == 1, "calls were not mined in one block"
    assert [r["transactionIndex"] for r in receipts] == list(range(len(calls)))
    assert all(r["status"] == 1 for r in receipts)
    return receipts
