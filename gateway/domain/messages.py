"""Cross-chain messages: the id rule and the ``MessageSent`` log, byte-identical to Solidity.

The id (``contracts/src/interfaces/IBridgeEndpoint.sol``) is::

    keccak256(abi.encode(uint256 srcChainId, address srcEndpoint, uint64 nonce,
                         uint256 dstChainId, address dstEndpoint, address sender,
                         address receiver, bytes32 keccak256(payload)))

Both endpoints are in the id: only the endpoint a message is addressed to delivers it, so a
second endpoint on the destination chain cannot replay it.

``MessageSent(bytes32 indexed id, uint256 indexed dstChainId, uint64 nonce, address dstEndpoint,
address sender, address receiver, bytes payload)`` carries everything but the source chain id
(the chain the log is read from) and the source endpoint (the log's address). ``tests/vectors/bridge_messages.json``
is checked here and against the deployed endpoint's ``messageId`` view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

from adapters.errors import DecodeError, RpcResponseInvalid
from adapters.mpt import keccak256
from adapters.receipts import Log, ProvenLog
from adapters.types import Address, ChainId, Hash32

__all__ = [
    "MAX_NONCE",
    "MESSAGE_DELIVERED_TOPIC",
    "MESSAGE_SENT_TOPIC",
    "DeliveryItem",
    "Message",
    "MessageId",
    "MessageIdMismatch",
    "Nonce",
    "check_proven_message",
    "decode_message_sent",
    "delivery_item",
    "encode_message_sent",
    "message_id",
]

MessageId = NewType("MessageId", bytes)  # 32 bytes
Nonce = NewType("Nonce", int)  # uint64, per source endpoint

MAX_NONCE = 2**64 - 1
_MAX_UINT256 = 2**256 - 1
_ID_TYPES = ("uint256", "address", "uint64", "uint256", "address", "address", "address", "bytes32")
_DATA_TYPES = ("uint64", "address", "address", "address", "bytes")

MESSAGE_SENT_TOPIC = keccak256(b"MessageSent(bytes32,uint256,uint64,address,address,address,bytes)")
MESSAGE_DELIVERED_TOPIC = keccak256(b"MessageDelivered(bytes32,uint256,address)")


class MessageIdMismatch(DecodeError):
    """A ``MessageSent`` log whose id topic is not the id of the fields it carries."""


def _check_address(value: bytes, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != 20:
        raise DecodeError("message address must be 20 raw bytes", field=field)


def _check_uint(value: int, field: str, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise DecodeError("message integer out of range", field=field, value=value)


@dataclass(frozen=True, slots=True)
class Message:
    """One cross-chain message as the source endpoint emitted it."""

    src_chain_id: ChainId
    src_endpoint: Address
    nonce: Nonce
    dst_chain_id: ChainId
    dst_endpoint: Address
    sender: Address
    receiver: Address
    payload: bytes

    def __post_init__(self) -> None:
        _check_uint(self.src_chain_id, "src_chain_id", _MAX_UINT256)
        _check_uint(self.dst_chain_id, "dst_chain_id", _MAX_UINT256)
        _check_uint(self.nonce, "nonce", MAX_NONCE)
        _check_address(self.src_endpoint, "src_endpoint")
        _check_address(self.dst_endpoint, "dst_endpoint")
        _check_address(self.sender, "sender")
        _check_address(self.receiver, "receiver")
        if not isinstance(self.payload, bytes):
            raise DecodeError("message payload must be bytes", field="payload")

    @property
    def id(self) -> MessageId:
        return message_id(self)


def message_id(msg: Message) -> MessageId:
    """The message id, exactly as ``BridgeEndpoint.messageId`` computes it."""
    encoded = abi_encode(
        _ID_TYPES,
        (
            msg.src_chain_id,
            msg.src_endpoint,
            msg.nonce,
            msg.dst_chain_id,
            msg.dst_endpoint,
            msg.sender,
            msg.receiver,
            keccak256(msg.payload),
        ),
    )
    return MessageId(keccak256(encoded))


def encode_message_sent(msg: Message) -> Log:
    """The ``MessageSent`` log the source endpoint emits for ``msg``."""
    data = abi_encode(
        _DATA_TYPES, (msg.nonce, msg.dst_endpoint, msg.sender, msg.receiver, msg.payload)
    )
    topics = (MESSAGE_SENT_TOPIC, message_id(msg), msg.dst_chain_id.to_bytes(32, "big"))
    return Log(address=msg.src_endpoint, topics=topics, data=data)


def decode_message_sent(log: Log, src_chain_id: ChainId) -> Message:
    """The message of a ``MessageSent`` log read on chain ``src_chain_id``.

    Strict: the topics and data must be exactly what an endpoint emits (canonical ABI, no
    trailing bytes), and the id topic must be the id of the decoded fields (else
    ``MessageIdMismatch``). The log's address is taken as the source endpoint; checking that it
    is the registered endpoint is the caller's job.
    """
    if len(log.topics) != 3 or log.topics[0] != MESSAGE_SENT_TOPIC:
        raise DecodeError(
            "log is not a MessageSent event",
            topics=len(log.topics),
            topic0=log.topics[0] if log.topics else b"",
        )
    try:
        nonce, dst_endpoint, sender, receiver, payload = abi_decode(_DATA_TYPES, log.data)
    except (DecodingError, ValueError, OverflowError) as exc:
        raise DecodeError("MessageSent data does not decode", reason=str(exc)) from exc
    msg = Message(
        src_chain_id=src_chain_id,
        src_endpoint=log.address,
        nonce=Nonce(nonce),
        dst_chain_id=ChainId(int.from_bytes(log.topics[2], "big")),
        dst_endpoint=Address(bytes.fromhex(dst_endpoint[2:])),
        sender=Address(bytes.fromhex(sender[2:])),
        receiver=Address(bytes.fromhex(receiver[2:])),
        payload=bytes(payload),
    )
    # Canonical form only: a log that decodes but is not what abi.encode writes is not ours.
    if encode_message_sent(msg).data != log.data:
        raise DecodeError("MessageSent data is not canonically encoded", length=len(log.data))
    expected = message_id(msg)
    if log.topics[1] != expected:
        raise MessageIdMismatch(
            "MessageSent id topic does not match its fields", topic=log.topics[1], expected=expected
        )
    return msg


# ``BridgeEndpoint.Delivery``: (txIndex, logIndex within the receipt, receipts-trie proof nodes).
DeliveryItem = tuple[int, int, tuple[bytes, ...]]


def delivery_item(proven: ProvenLog) -> DeliveryItem:
    """The ``deliverBatch`` item (``BridgeEndpoint.Delivery``) of a proven ``MessageSent`` log."""
    return (proven.proof.tx_index, proven.receipt_log_index, tuple(proven.proof.nodes))


def check_proven_message(
    proven: ProvenLog,
    *,
    message_id: bytes,
    src_chain_id: ChainId,
    src_endpoint: Address,
    block_hash: Hash32,
    tx_index: int,
) -> Message:
    """That ``proven`` (verified by the adapter against its block's receiptsRoot) proves the
    recorded message ``message_id``: of the recorded block and transaction, emitted by the
    source endpoint, decoding to that id. ``RpcResponseInvalid`` otherwise: a node that serves
    another log is not to be relayed from. Checked before any gas is spent on a delivery."""
    if proven.proof.block_hash != block_hash or proven.proof.tx_index != tx_index:
        raise RpcResponseInvalid(
            "receipt proof is not of the message's block and transaction",
            chain_id=src_chain_id,
            message_id=message_id,
        )
    if proven.log.address != src_endpoint:
        raise RpcResponseInvalid(
            "the proven log was not emitted by the source endpoint",
            chain_id=src_chain_id,
            message_id=message_id,
        )
    found = decode_message_sent(proven.log, src_chain_id)
    if found.id != message_id:
        raise RpcResponseInvalid(
            "the proven log is another message than the one recorded",
            chain_id=src_chain_id,
            message_id=message_id,
            proven_id=found.id,
        )
    return found
