"""BridgeEndpoint on both chains: send, ids, delivery by receipt proof, and every bad path.

Delivery runs on one chain with two endpoints (A "remote" sends to this chain id, B "local"
delivers) and the TEST header oracle fed with the real block's receiptsRoot; proofs are built
in Python from the block's receipts (tests/contracts/_bridge_helpers.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import Web3

from adapters.types import Address, ChainId
from contracts import load_artifact
from gateway.domain.messages import MESSAGE_DELIVERED_TOPIC, Message, Nonce, message_id
from harness import Chain, as_reverted, selector
from tests.contracts._bridge_helpers import (
    ADMIN,
    OTHER_CHAIN,
    PAUSER,
    STRANGER,
    USER,
    Bridge,
    deploy_bridge,
    deploy_endpoint,
    sent_messages,
)
from tests.helpers.proofs import receipt_proof

VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "bridge_messages.json").read_text()
)["vectors"]
ZERO = "0x" + "00" * 20
ORACLE_STUB = Web3.to_checksum_address("0x" + "0a" * 20)  # never called: these tests only send


@pytest.fixture(scope="module")
def _bridges() -> dict[str, Bridge]:
    return {}


@pytest.fixture
def bridge(chain: Chain, _bridges: dict[str, Bridge]) -> Bridge:
    """One deployment per chain for the module; tests that change config restore it."""
    if chain.name not in _bridges:
        _bridges[chain.name] = deploy_bridge(chain)
    return _bridges[chain.name]


def _addr(hex_address: str) -> Address:
    return Address(bytes.fromhex(hex_address[2:]))


def _delivered_count(bridge: Bridge) -> int:
    return int(bridge.receiver.functions.count().call())


# ---- ids and send --------------------------------------------------------------------------


def test_message_id_view_matches_the_shared_vectors(bridge: Bridge) -> None:
    for v in VECTORS:
        onchain = bridge.local.functions.messageId(
            v["src_chain_id"],
            bridge.chain.w3.to_checksum_address(v["src_endpoint"]),
            v["nonce"],
            v["dst_chain_id"],
            bridge.chain.w3.to_checksum_address(v["dst_endpoint"]),
            bridge.chain.w3.to_checksum_address(v["sender"]),
            bridge.chain.w3.to_checksum_address(v["receiver"]),
            bytes.fromhex(v["payload"][2:]),
        ).call()
        assert onchain == bytes.fromhex(v["id"][2:]), v["name"]


def test_send_emits_message_sent_whose_id_python_recomputes(bridge: Bridge) -> None:
    chain = bridge.chain
    nonce = bridge.remote.functions.nextNonce().call()
    payload = b"hello across chains"
    returned = chain.check_call(
        bridge.remote.functions.send(chain.chain_id, bridge.receiver.address, payload), USER
    )
    proven, _, msg = bridge.send(payload)
    expected = Message(
        src_chain_id=ChainId(chain.chain_id),
        src_endpoint=_addr(bridge.remote.address),
        nonce=Nonce(nonce),
        dst_chain_id=ChainId(chain.chain_id),
        dst_endpoint=_addr(bridge.local.address),  # the endpoint routed to there
        sender=_addr(chain.accounts[USER].address),
        receiver=_addr(bridge.receiver.address),
        payload=payload,
    )
    assert msg == expected  # decode_message_sent also checked the id topic
    assert returned == message_id(expected)
    assert bridge.remote.functions.nextNonce().call() == nonce + 1
    [log] = proven.receipt.logs
    assert int.from_bytes(log.topics[2], "big") == chain.chain_id


def test_send_from_a_contract_names_the_contract_as_sender(bridge: Bridge) -> None:
    chain = bridge.chain
    tx = chain.send(
        bridge.sender.functions.sendVia(
            bridge.remote.address, chain.chain_id, bridge.receiver.address, b"x"
        ),
        sender=USER,
    )
    [(_, msg)] = sent_messages(receipt_proof(chain, tx["transactionHash"]), chain.chain_id)
    assert msg.sender == _addr(bridge.sender.address)


def test_send_to_a_chain_without_route_is_rejected(bridge: Bridge) -> None:
    err = bridge.chain.expect_revert(
        bridge.remote.functions.send(4242, bridge.receiver.address, b""), "UnknownRoute", USER
    )
    assert err.args_ == (4242,)


def test_send_to_the_zero_receiver_is_rejected(bridge: Bridge) -> None:
    bridge.chain.expect_revert(
        bridge.remote.functions.send(bridge.chain_id, ZERO, b""), "ZeroAddress", USER
    )


# ---- delivery ------------------------------------------------------------------------------


def test_proven_message_is_delivered_to_its_receiver_once(bridge: Bridge) -> None:
    chain = bridge.chain
    payload = b"\x00\x01payload" * 5
    proven, log_index, msg = bridge.send(payload)
    bridge.post_header(proven)
    before = _delivered_count(bridge)
    tx = chain.send(bridge.deliver_call(proven, log_index), sender=STRANGER)  # anyone relays

    assert _delivered_count(bridge) == before + 1
    got = bridge.receiver.functions.received(before).call()
    assert (got[0], got[1], got[2], got[3]) == (
        msg.id,
        chain.chain_id,
        chain.accounts[USER].address,
        payload,
    )
    assert bridge.local.functions.delivered(msg.id).call() is True
    [event] = [lg for lg in tx["logs"] if bytes(lg["topics"][0]) == MESSAGE_DELIVERED_TOPIC]
    assert bytes(event["topics"][1]) == msg.id
    assert int.from_bytes(bytes(event["topics"][2]), "big") == chain.chain_id

    err = chain.expect_revert(bridge.deliver_call(proven, log_index), "AlreadyDelivered")
    assert err.args_ == (msg.id,)
    assert _delivered_count(bridge) == before + 1


def test_proof_against_an_unaccepted_header_is_rejected(bridge: Bridge) -> None:
    proven, log_index, msg = bridge.send(b"no header")
    err = bridge.chain.expect_revert(bridge.deliver_call(proven, log_index), "UnknownHeader")
    assert err.args_ == (bridge.chain_id, proven.block_hash)
    assert bridge.local.functions.delivered(msg.id).call() is False


def test_proof_against_another_accepted_header_is_rejected(bridge: Bridge) -> None:
    proven, log_index, _ = bridge.send(b"header A")
    other, _, _ = bridge.send(b"header B")
    bridge.post_header(other)
    err = bridge.chain.expect_revert(
        bridge.deliver_call(proven, log_index, block_hash=other.block_hash),
        "ProofNodeHashMismatch",
    )
    assert err.args_ == (0,)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_proof_with_a_flipped_byte_is_rejected(bridge: Bridge, where: str) -> None:
    proven, log_index, msg = bridge.send(b"flip me")
    bridge.post_header(proven)
    nodes = list(proven.nodes)
    node = bytearray(nodes[-1])  # the leaf holds the receipt; the root node is checked the same
    pos = {"first": 0, "middle": len(node) // 2, "last": len(node) - 1}[where]
    node[pos] ^= 0x01
    nodes[-1] = bytes(node)
    err = bridge.chain.expect_revert(
        bridge.deliver_call(proven, log_index, nodes=tuple(nodes)), "ProofNodeHashMismatch"
    )
    assert err.args_ == (len(nodes) - 1,)
    assert bridge.local.functions.delivered(msg.id).call() is False


def test_log_index_past_the_receipts_logs_is_rejected(bridge: Bridge) -> None:
    proven, log_index, _ = bridge.send(b"one log")
    bridge.post_header(proven)
    err = bridge.chain.expect_revert(
        bridge.deliver_call(proven, log_index + 1), "LogIndexOutOfRange"
    )
    assert err.args_ == (log_index + 1,)


def test_log_of_another_contract_in_the_same_receipt_is_rejected(bridge: Bridge) -> None:
    chain = bridge.chain
    tx = chain.send(
        bridge.sender.functions.sendMany(
            bridge.remote.address, chain.chain_id, bridge.receiver.address, [b"a", b"b"]
        ),
        sender=USER,
    )
    proven = receipt_proof(chain, tx["transactionHash"])
    bridge.post_header(proven)
    assert proven.receipt.logs[0].address == _addr(bridge.sender.address)  # the Noise event
    err = chain.expect_revert(bridge.deliver_call(proven, 0), "WrongEmitter")
    assert err.args_ == (bridge.sender.address.lower(), bridge.remote.address.lower())


def test_message_from_an_unregistered_endpoint_is_rejected(bridge: Bridge) -> None:
    proven, log_index, msg = bridge.send(b"forged", via=bridge.imposter)
    bridge.post_header(proven)
    err = bridge.chain.expect_revert(bridge.deliver_call(proven, log_index), "WrongEmitter")
    assert err.args_ == (bridge.imposter.address.lower(), bridge.remote.address.lower())
    assert bridge.local.functions.delivered(msg.id).call() is False


def test_message_for_another_chain_is_rejected(bridge: Bridge) -> None:
    proven, log_index, msg = bridge.send(b"elsewhere", dst=OTHER_CHAIN)
    bridge.post_header(proven)
    err = bridge.chain.expect_revert(bridge.deliver_call(proven, log_index), "WrongDestination")
    assert err.args_ == (OTHER_CHAIN,)
    assert bridge.local.functions.delivered(msg.id).call() is False


def test_message_from_a_chain_without_route_is_rejected(bridge: Bridge) -> None:
    chain = bridge.chain
    proven, log_index, _ = bridge.send(b"no route")
    bridge.post_header(proven)
    call = bridge.local.functions.deliver(
        4242, proven.block_hash, proven.tx_index, list(proven.nodes), log_index
    )
    err = chain.expect_revert(call, "UnknownRoute")
    assert err.args_ == (4242,)


def test_receiver_that_reverts_leaves_the_message_deliverable(bridge: Bridge) -> None:
    chain = bridge.chain
    proven, log_index, msg = bridge.send(b"retry me")
    bridge.post_header(proven)
    chain.send(bridge.receiver.functions.setFailing(True))
    try:
        err = chain.expect_revert(bridge.deliver_call(proven, log_index), "ReceiverFailed")
        assert err.args_[0] == msg.id
        assert err.args_[1][:4] == selector("ReceiverRefused(bytes32)")
        assert bridge.local.functions.delivered(msg.id).call() is False
    finally:
        chain.send(bridge.receiver.functions.setFailing(False))
    chain.send(bridge.deliver_call(proven, log_index))
    assert bridge.local.functions.delivered(msg.id).call() is True


def test_receiver_without_code_is_rejected(bridge: Bridge) -> None:
    eoa = bridge.chain.accounts[STRANGER].address
    proven, log_index, msg = bridge.send(b"to an EOA", receiver=eoa)
    bridge.post_header(proven)
    err = bridge.chain.expect_revert(bridge.deliver_call(proven, log_index), "ReceiverNotContract")
    assert err.args_ == (eoa.lower(),)
    assert bridge.local.functions.delivered(msg.id).call() is False


def test_reentrant_delivery_of_the_same_message_fails(bridge: Bridge) -> None:
    chain = bridge.chain
    proven, log_index, msg = bridge.send(b"reenter")
    bridge.post_header(proven)
    call = bridge.deliver_call(proven, log_index)
    chain.send(bridge.receiver.functions.setReentry(call._encode_transaction_data()))
    try:
        chain.send(call)
    finally:
        chain.send(bridge.receiver.functions.setReentry(b""))
    result = bridge.receiver.functions.reentryResult().call()
    assert result == selector("AlreadyDelivered(bytes32)") + msg.id


def test_batch_delivers_several_messages_of_one_receipt(bridge: Bridge) -> None:
    chain = bridge.chain
    payloads = [b"first", b"", b"third" * 40]
    tx = chain.send(
        bridge.sender.functions.sendMany(
            bridge.remote.address, chain.chain_id, bridge.receiver.address, payloads
        ),
        sender=USER,
    )
    proven = receipt_proof(chain, tx["transactionHash"])
    bridge.post_header(proven)
    sent = sent_messages(proven, chain.chain_id)
    assert [m.payload for _, m in sent] == payloads
    items = [(proven.tx_index, i, list(proven.nodes)) for i, _ in sent]

    # One bad item (the foreign Noise log) reverts the whole batch.
    bad = [*items, (proven.tx_index, 0, list(proven.nodes))]
    chain.expect_revert(
        bridge.local.functions.deliverBatch(chain.chain_id, proven.block_hash, bad), "WrongEmitter"
    )
    assert not any(bridge.local.functions.delivered(m.id).call() for _, m in sent)
    chain.expect_revert(
        bridge.local.functions.deliverBatch(chain.chain_id, proven.block_hash, []), "EmptyBatch"
    )

    before = _delivered_count(bridge)
    ids = chain.check_call(
        bridge.local.functions.deliverBatch(chain.chain_id, proven.block_hash, items)
    )
    chain.send(bridge.local.functions.deliverBatch(chain.chain_id, proven.block_hash, items))
    assert ids == [m.id for _, m in sent]
    assert _delivered_count(bridge) == before + len(payloads)
    for k, (_, m) in enumerate(sent):
        assert bridge.receiver.functions.received(before + k).call()[3] == m.payload
    chain.expect_revert(
        bridge.local.functions.deliverBatch(chain.chain_id, proven.block_hash, items[:1]),
        "AlreadyDelivered",
    )


# ---- configuration -------------------------------------------------------------------------


def test_only_the_admin_configures_routes(bridge: Bridge) -> None:
    chain = bridge.chain
    local = bridge.local
    for who in (PAUSER, STRANGER):
        chain.expect_revert(
            local.functions.setRoute(7, bridge.remote.address, bridge.oracle.address),
            "AccessControlUnauthorizedAccount",
            who,
        )
    chain.expect_revert(local.functions.setRoute(7, ZERO, bridge.oracle.address), "ZeroAddress")
    chain.expect_revert(local.functions.setRoute(7, bridge.remote.address, ZERO), "ZeroAddress")
    assert list(local.functions.route(7).call()) == [ZERO, ZERO, False]


# ---- pause ---------------------------------------------------------------------------------


def test_paused_route_blocks_delivery_and_send_until_the_admin_unpauses(bridge: Bridge) -> None:
    chain = bridge.chain
    local, remote, here = bridge.local, bridge.remote, bridge.chain_id
    proven, log_index, msg = bridge.send(b"paused route")
    bridge.post_header(proven)
    chain.expect_revert(local.functions.pauseRoute(here), "AccessControlUnauthorizedAccount", USER)
    chain.send(local.functions.pauseRoute(here), sender=PAUSER)
    chain.send(remote.functions.pauseRoute(here), sender=PAUSER)
    try:
        err = chain.expect_revert(bridge.deliver_call(proven, log_index), "RoutePaused")
        assert err.args_ == (here,)
        chain.expect_revert(
            remote.functions.send(here, bridge.receiver.address, b""), "RoutePaused", USER
        )
        chain.expect_revert(
            local.functions.unpauseRoute(here), "AccessControlUnauthorizedAccount", PAUSER
        )
        assert local.functions.route(here).call()[2] is True
    finally:
        chain.send(local.functions.unpauseRoute(here), sender=ADMIN)
        chain.send(remote.functions.unpauseRoute(here), sender=ADMIN)
    chain.send(bridge.deliver_call(proven, log_index))
    assert local.functions.delivered(msg.id).call() is True


def test_global_pause_blocks_everything_until_the_admin_unpauses(bridge: Bridge) -> None:
    chain = bridge.chain
    local, here = bridge.local, bridge.chain_id
    proven, log_index, msg = bridge.send(b"global pause")
    bridge.post_header(proven)
    chain.expect_revert(local.functions.pause(), "AccessControlUnauthorizedAccount", STRANGER)
    chain.send(local.functions.pause(), sender=PAUSER)
    try:
        chain.expect_revert(bridge.deliver_call(proven, log_index), "Paused")
        chain.expect_revert(
            local.functions.deliverBatch(
                here, proven.block_hash, [(proven.tx_index, log_index, list(proven.nodes))]
            ),
            "Paused",
        )
        chain.expect_revert(
            local.functions.send(here, bridge.receiver.address, b""), "Paused", USER
        )
        chain.expect_revert(local.functions.unpause(), "AccessControlUnauthorizedAccount", PAUSER)
    finally:
        chain.send(local.functions.unpause(), sender=ADMIN)
    chain.send(bridge.deliver_call(proven, log_index))
    assert local.functions.delivered(msg.id).call() is True


def test_endpoint_needs_an_admin_and_a_pauser(chain: Chain) -> None:
    art = load_artifact("BridgeEndpoint")
    factory = chain.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
    for admin, pauser in (
        (ZERO, chain.accounts[PAUSER].address),
        (chain.accounts[ADMIN].address, ZERO),
    ):
        data = factory.constructor(admin, pauser).data_in_transaction
        with pytest.raises(Exception) as info:
            chain.w3.eth.call({"from": chain.accounts[ADMIN].address, "data": data})
        assert as_reverted(info.value).error == "ZeroAddress"


def test_global_pause_covers_routes_added_later_and_keeps_route_pauses(chain: Chain) -> None:
    endpoint = deploy_endpoint(chain)
    oracle = ORACLE_STUB
    peer = chain.accounts[STRANGER].address
    chain.send(endpoint.functions.setRoute(1, peer, oracle))
    chain.send(endpoint.functions.setRoute(2, peer, oracle))
    chain.send(endpoint.functions.pauseRoute(2), sender=PAUSER)
    chain.send(endpoint.functions.pause(), sender=PAUSER)
    chain.expect_revert(endpoint.functions.pause(), "Paused", PAUSER)
    chain.send(endpoint.functions.setRoute(3, peer, oracle))  # added while paused
    for dst in (1, 2, 3):
        chain.expect_revert(endpoint.functions.send(dst, peer, b""), "Paused", USER)
    assert endpoint.functions.paused().call() is True
    assert list(endpoint.functions.routeIds().call()) == [1, 2, 3]

    chain.send(endpoint.functions.unpause(), sender=ADMIN)
    chain.expect_revert(endpoint.functions.unpause(), "NotPaused", ADMIN)
    chain.send(endpoint.functions.send(1, peer, b""), sender=USER)
    chain.send(endpoint.functions.send(3, peer, b""), sender=USER)
    err = chain.expect_revert(endpoint.functions.send(2, peer, b""), "RoutePaused", USER)
    assert err.args_ == (2,)  # its own pause outlives the global one
    chain.expect_revert(endpoint.functions.pauseRoute(9), "UnknownRoute", PAUSER)


def proven_id(bridge: Bridge, proven: object, log_index: int) -> bytes:
    [msg] = [m for i, m in sent_messages(proven, bridge.chain_id) if i == log_index]  # type: ignore[arg-type]
    return bytes(msg.id)


def test_a_message_delivered_by_one_endpoint_cannot_be_replayed_through_another(
    bridge: Bridge,
) -> None:
    """Two endpoints on one chain with routes to the same source (e.g. an endpoint being
    migrated): the message A sent for B must not run again through the second one."""
    chain = bridge.chain
    second = deploy_endpoint(chain)
    chain.send(
        second.functions.setRoute(chain.chain_id, bridge.remote.address, bridge.oracle.address)
    )
    chain.send(bridge.receiver.functions.setAlsoTrusted(second.address))
    try:
        proven, log_index, _ = bridge.send(b"pay once")
        bridge.post_header(proven)
        chain.send(bridge.deliver_call(proven, log_index), sender=STRANGER)
        before = _delivered_count(bridge)
        err = chain.expect_revert(
            bridge.deliver_call(proven, log_index, endpoint=second), "WrongEndpoint", STRANGER
        )
        assert err.args_[0].lower() == bridge.local.address.lower()
        assert _delivered_count(bridge) == before
        assert second.functions.delivered(proven_id(bridge, proven, log_index)).call() is False
    finally:
        chain.send(bridge.receiver.functions.setAlsoTrusted(ZERO))
