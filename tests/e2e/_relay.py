"""Test-only relaying between the deployed devnet chains (the production relayer is later work).

What a relayer does, step by step, with the Python proof code:
- consortium -> public: fetch the consortium block's header, check its QBFT block hash, submit
  its RLP to ``QbftLightClient`` on the public chain, then ``deliver`` with the receipt proof;
- public -> consortium: fetch the public block's header, check its hash, have attesters sign its
  data as EIP-712 ``Header`` typed data, ``submitHeader`` on ``AttestedHeaderStore``, then
  ``deliver``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from adapters.bft import qbft_block_hash
from adapters.headers import Header, encode_header, header_from_rpc, header_hash
from adapters.receipts import ReceiptProof
from gateway.domain.messages import Message
from gateway.domain.typed_data import HeaderData, attested_header_message
from tests.contracts._bridge_helpers import prove_receipt, rpc, sent_messages
from tests.contracts.conftest import Chain, sync_clock


@dataclass(frozen=True)
class Outbound:
    """One MessageSent log of a mined transaction, proven against its block's receiptsRoot."""

    proven: ReceiptProof
    receipt_log_index: int  # the log's position within its receipt (what deliver takes)
    message: Message


def outbound(src: Chain, receipt: Any) -> Outbound:
    """The single bridge message sent by the transaction of ``receipt`` on ``src``."""
    proven = prove_receipt(src.w3, receipt["transactionHash"])
    [(receipt_log_index, message)] = sent_messages(proven, src.chain_id)
    return Outbound(proven, receipt_log_index, message)


def fetch_header(chain: Chain, block_hash: bytes) -> Header:
    block = rpc(chain.w3, "eth_getBlockByHash", "0x" + block_hash.hex(), False)
    return header_from_rpc(block)


# -- consortium -> public: the QBFT light client ---------------------------------------------


def consortium_header_rlp(consortium: Chain, block_hash: bytes) -> bytes:
    """The sealed QBFT header RLP of ``block_hash``, checked against the BFT block-hash rule."""
    header = fetch_header(consortium, block_hash)
    assert qbft_block_hash(header) == block_hash, "node served a header that is not its block"
    return encode_header(header)


def submit_consortium_header(
    public: Chain, light_client: Contract, consortium: Chain, block_hash: bytes
) -> None:
    rlp = consortium_header_rlp(consortium, block_hash)
    sync_clock(public, consortium)
    public.send(light_client.functions.submitHeader(rlp))


# -- public -> consortium: the attested header store -----------------------------------------


def attested_header(public: Chain, block_hash: bytes) -> HeaderData:
    """``AttestedHeaderStore.HeaderData`` of a public block, after checking its hash: what an
    attester signs is what it verified, not what the node claims."""
    header = fetch_header(public, block_hash)
    assert header_hash(header) == block_hash, "node served a header that is not its block"
    return (
        public.chain_id,
        header.number,
        block_hash,
        header.receipts_root,
        header.state_root,
    )


def sign_header(
    store: Contract, store_chain_id: int, data: HeaderData, attester: LocalAccount
) -> bytes:
    """The attester's EIP-712 signature (r||s||v, v in {27, 28}) over ``data``."""
    msg = attested_header_message(store_chain_id, store.address, data)
    return bytes(attester.sign_message(msg).signature)


def attest_public_header(
    consortium: Chain,
    store: Contract,
    public: Chain,
    block_hash: bytes,
    attesters: Sequence[LocalAccount],
) -> None:
    data = attested_header(public, block_hash)
    sigs = [sign_header(store, consortium.chain_id, data, a) for a in attesters]
    consortium.send(store.functions.submitHeader(data, sigs))


# -- delivery ---------------------------------------------------------------------------------


def deliver_call(endpoint: Contract, src_chain_id: int, out: Outbound) -> Any:
    return endpoint.functions.deliver(
        src_chain_id,
        out.proven.block_hash,
        out.proven.tx_index,
        list(out.proven.nodes),
        out.receipt_log_index,
    )
