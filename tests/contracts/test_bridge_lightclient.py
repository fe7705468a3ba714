"""A message from the consortium devnet delivered on anvil through the real QbftLightClient.

The consortium endpoint (A) sends; its sealed QBFT header (from the devnet's RPC) is submitted
to QbftLightClient on anvil, trusted from the parent header; the anvil endpoint (B) then
delivers with a receipt proof built from the consortium block's receipts. Nothing here trusts
the relayer: a header the light client has not accepted, or a forged proof, is refused.
"""

from __future__ import annotations

import pytest

from adapters.bft import decode_qbft_extra, qbft_block_hash
from adapters.headers import encode_header, header_from_rpc
from harness import Chain, Reverted, sync_clock
from tests.contracts._bridge_helpers import (
    STRANGER,
    USER,
    deploy_endpoint,
    sent_messages,
)
from tests.helpers.proofs import receipt_proof


def test_consortium_message_is_delivered_on_anvil_through_the_qbft_light_client(
    anvil_chain: Chain, consortium_chain: Chain
) -> None:
    anvil, consortium = anvil_chain, consortium_chain
    assert anvil.chain_id != consortium.chain_id

    # Endpoints on both chains, wired to each other.
    source = deploy_endpoint(consortium)
    target = deploy_endpoint(anvil)
    placeholder_oracle = consortium.deploy("BridgeTestHeaderOracle")  # A only sends here
    consortium.send(
        source.functions.setRoute(anvil.chain_id, target.address, placeholder_oracle.address)
    )
    receiver = anvil.deploy("BridgeTestReceiver", target.address)

    # Send on the consortium chain.
    payload = b"credit attestation for subject 42"
    tx = consortium.send(
        source.functions.send(anvil.chain_id, receiver.address, payload), sender=USER
    )
    proven = receipt_proof(consortium, tx["transactionHash"])
    [(log_index, msg)] = sent_messages(proven, consortium.chain_id)

    # The light client on anvil trusts the parent header and its validator set.
    block = consortium.rpc("eth_getBlockByHash", "0x" + proven.block_hash.hex(), False)
    parent = consortium.rpc("eth_getBlockByHash", block["parentHash"], False)
    header, parent_header = header_from_rpc(block), header_from_rpc(parent)
    assert qbft_block_hash(header) == proven.block_hash  # the RPC's hash is the QBFT hash
    validators = decode_qbft_extra(parent_header.extra_data).validators
    client = anvil.deploy(
        "QbftLightClient",
        consortium.chain_id,
        [anvil.w3.to_checksum_address(v) for v in validators],
        parent_header.number,
        qbft_block_hash(parent_header),
        parent_header.timestamp,
        anvil.accounts[0].address,  # governance
        (2, 3, 30 * 24 * 3600, 15),  # trust 2/3, trusting period 30 days, drift 15 s
    )
    anvil.send(target.functions.setRoute(consortium.chain_id, source.address, client.address))

    deliver = target.functions.deliver(
        consortium.chain_id, proven.block_hash, proven.tx_index, list(proven.nodes), log_index
    )
    err = anvil.expect_revert(deliver, "UnknownHeader")
    assert err.args_ == (consortium.chain_id, proven.block_hash)

    # A tampered header is refused by the light client (one byte of the last seal flipped).
    rlp = encode_header(header)
    extra = header.extra_data
    assert rlp.count(extra) == 1
    at = rlp.index(extra) + len(extra) - 40  # inside the last 65-byte commit seal (r)
    tampered = rlp[:at] + bytes([rlp[at] ^ 1]) + rlp[at + 1 :]
    sync_clock(anvil, consortium)
    with pytest.raises(Reverted) as info:
        anvil.send(client.functions.submitHeader(tampered), sender=STRANGER)
    assert info.value.error in {"SealerNotValidator", "InvalidSeal"}
    assert client.functions.isAccepted(proven.block_hash).call() is False

    anvil.send(client.functions.submitHeader(rlp), sender=STRANGER)  # anyone relays headers
    assert client.functions.receiptsRootOf(consortium.chain_id, proven.block_hash).call() == (
        proven.receipts_root
    )

    # A flipped proof byte is still refused against the accepted header.
    nodes = list(proven.nodes)
    nodes[-1] = nodes[-1][:-1] + bytes([nodes[-1][-1] ^ 1])
    anvil.expect_revert(
        target.functions.deliver(
            consortium.chain_id, proven.block_hash, proven.tx_index, nodes, log_index
        ),
        "ProofNodeHashMismatch",
    )

    anvil.send(deliver, sender=STRANGER)
    assert target.functions.delivered(msg.id).call() is True
    got = receiver.functions.received(0).call()
    assert (got[0], got[1], got[2], got[3]) == (
        msg.id,
        consortium.chain_id,
        consortium.accounts[USER].address,
        payload,
    )
    anvil.expect_revert(deliver, "AlreadyDelivered")
