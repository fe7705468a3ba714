"""Bridge message ids and MessageSent logs (gateway.domain.messages), offline."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.errors import DecodeError
from adapters.receipts import Log
from adapters.types import Address, ChainId
from gateway.domain.messages import (
    MAX_NONCE,
    MESSAGE_SENT_TOPIC,
    Message,
    MessageIdMismatch,
    Nonce,
    decode_message_sent,
    encode_message_sent,
    message_id,
)

VECTORS = Path(__file__).parent.parent / "vectors" / "bridge_messages.json"


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def vector_message(v: dict[str, Any]) -> Message:
    return Message(
        src_chain_id=ChainId(v["src_chain_id"]),
        src_endpoint=Address(_hex(v["src_endpoint"])),
        nonce=Nonce(v["nonce"]),
        dst_chain_id=ChainId(v["dst_chain_id"]),
        dst_endpoint=Address(_hex(v["dst_endpoint"])),
        sender=Address(_hex(v["sender"])),
        receiver=Address(_hex(v["receiver"])),
        payload=_hex(v["payload"]),
    )


VECTOR_LIST: list[dict[str, Any]] = json.loads(VECTORS.read_text())["vectors"]
SAMPLE = vector_message(VECTOR_LIST[0])


def test_vectors_cover_the_edge_cases() -> None:
    assert any(v["payload"] == "0x" for v in VECTOR_LIST)
    assert any(v["nonce"] == MAX_NONCE for v in VECTOR_LIST)
    assert any(len(_hex(v["payload"])) >= 4096 for v in VECTOR_LIST)


@pytest.mark.parametrize("vector", VECTOR_LIST, ids=[v["name"] for v in VECTOR_LIST])
def test_message_id_matches_shared_vector(vector: dict[str, Any]) -> None:
    msg = vector_message(vector)
    assert message_id(msg) == _hex(vector["id"])
    assert msg.id == _hex(vector["id"])


@pytest.mark.parametrize("vector", VECTOR_LIST, ids=[v["name"] for v in VECTOR_LIST])
def test_message_sent_log_round_trips(vector: dict[str, Any]) -> None:
    msg = vector_message(vector)
    log = encode_message_sent(msg)
    assert log.topics[0] == MESSAGE_SENT_TOPIC
    assert log.topics[1] == _hex(vector["id"])
    assert decode_message_sent(log, msg.src_chain_id) == msg


def test_every_field_changes_the_id() -> None:
    base = message_id(SAMPLE)
    variants = [
        replace(SAMPLE, src_chain_id=ChainId(SAMPLE.src_chain_id + 1)),
        replace(SAMPLE, src_endpoint=Address(b"\x01" * 20)),
        replace(SAMPLE, nonce=Nonce(SAMPLE.nonce + 1)),
        replace(SAMPLE, dst_chain_id=ChainId(SAMPLE.dst_chain_id + 1)),
        replace(SAMPLE, dst_endpoint=Address(b"\x04" * 20)),
        replace(SAMPLE, sender=Address(b"\x02" * 20)),
        replace(SAMPLE, receiver=Address(b"\x03" * 20)),
        replace(SAMPLE, payload=SAMPLE.payload + b"\x00"),
    ]
    ids = {message_id(v) for v in variants}
    assert base not in ids
    assert len(ids) == len(variants)


def test_the_same_message_to_another_destination_endpoint_has_another_id() -> None:
    """The vectors hold one message twice, addressed to two endpoints of one chain."""
    [first] = [v for v in VECTOR_LIST if v["name"] == "simple transfer payload"]
    [other] = [v for v in VECTOR_LIST if v["name"] == "same message, another destination endpoint"]
    assert vector_message(first) == replace(
        vector_message(other), dst_endpoint=Address(_hex(first["dst_endpoint"]))
    )
    assert first["id"] != other["id"]


def test_log_read_on_another_chain_fails_the_id_check() -> None:
    log = encode_message_sent(SAMPLE)
    with pytest.raises(MessageIdMismatch):
        decode_message_sent(log, ChainId(SAMPLE.src_chain_id + 1))


def test_log_from_another_address_fails_the_id_check() -> None:
    log = encode_message_sent(SAMPLE)
    moved = Log(address=Address(b"\x09" * 20), topics=log.topics, data=log.data)
    with pytest.raises(MessageIdMismatch):
        decode_message_sent(moved, SAMPLE.src_chain_id)


def test_log_with_a_tampered_destination_topic_fails_the_id_check() -> None:
    log = encode_message_sent(SAMPLE)
    topics = (log.topics[0], log.topics[1], (SAMPLE.dst_chain_id + 1).to_bytes(32, "big"))
    with pytest.raises(MessageIdMismatch):
        decode_message_sent(Log(log.address, topics, log.data), SAMPLE.src_chain_id)


def test_log_with_another_event_signature_is_rejected() -> None:
    log = encode_message_sent(SAMPLE)
    other = Log(log.address, (b"\x11" * 32, *log.topics[1:]), log.data)
    with pytest.raises(DecodeError, match="not a MessageSent"):
        decode_message_sent(other, SAMPLE.src_chain_id)


def test_log_with_missing_topics_is_rejected() -> None:
    log = encode_message_sent(SAMPLE)
    with pytest.raises(DecodeError, match="not a MessageSent"):
        decode_message_sent(Log(log.address, log.topics[:2], log.data), SAMPLE.src_chain_id)
    with pytest.raises(DecodeError, match="not a MessageSent"):
        decode_message_sent(Log(log.address, (), log.data), SAMPLE.src_chain_id)


@pytest.mark.parametrize("cut", [0, 1, 31, 32, 100])
def test_truncated_log_data_is_rejected(cut: int) -> None:
    log = encode_message_sent(SAMPLE)
    with pytest.raises(DecodeError):
        decode_message_sent(Log(log.address, log.topics, log.data[:cut]), SAMPLE.src_chain_id)


def test_log_data_with_trailing_bytes_is_rejected() -> None:
    log = encode_message_sent(SAMPLE)
    padded = Log(log.address, log.topics, log.data + b"\x00" * 32)
    with pytest.raises(DecodeError, match="canonically"):
        decode_message_sent(padded, SAMPLE.src_chain_id)


def test_log_data_with_a_nonce_above_uint64_is_rejected() -> None:
    log = encode_message_sent(SAMPLE)
    data = b"\x01" + log.data[1:]  # high byte of the nonce word
    with pytest.raises(DecodeError):
        decode_message_sent(Log(log.address, log.topics, data), SAMPLE.src_chain_id)


@pytest.mark.parametrize(
    "changes",
    [
        {"nonce": MAX_NONCE + 1},
        {"nonce": -1},
        {"src_chain_id": 2**256},
        {"dst_chain_id": -1},
        {"sender": b"\x00" * 19},
        {"receiver": "0x" + "00" * 20},
        {"src_endpoint": b"\x00" * 21},
        {"dst_endpoint": b"\x00" * 19},
        {"payload": "not bytes"},
        {"nonce": True},
    ],
)
def test_message_with_out_of_range_field_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        replace(SAMPLE, **changes)


@given(
    src=st.integers(0, 2**256 - 1),
    dst=st.integers(0, 2**256 - 1),
    nonce=st.integers(0, MAX_NONCE),
    payload=st.binary(max_size=300),
    addrs=st.lists(st.binary(min_size=20, max_size=20), min_size=4, max_size=4),
)
def test_any_message_round_trips_through_its_log(
    src: int, dst: int, nonce: int, payload: bytes, addrs: list[bytes]
) -> None:
    msg = Message(
        ChainId(src),
        Address(addrs[0]),
        Nonce(nonce),
        ChainId(dst),
        Address(addrs[3]),
        Address(addrs[1]),
        Address(addrs[2]),
        payload,
    )
    assert decode_message_sent(encode_message_sent(msg), msg.src_chain_id) == msg
