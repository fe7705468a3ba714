"""Receipts and transactions as stored in a block's ordered tries, and their inclusion proofs.

Encodings follow the execution specs (EIP-2718 typed envelopes): a legacy item is ``RLP(list)``,
a typed one is ``type || RLP(list)``; a receipt is ``[status|postState, cumulativeGasUsed,
logsBloom, logs]`` and a log ``[address, [topic...], data]``. Trie keys are ``RLP(index)``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from trie.hexary import HexaryTrie

from adapters.errors import DecodeError, ProofInvalid
from adapters.mpt import EMPTY_TRIE_ROOT, proof_from_pytrie, verify_proof
from adapters.rlpcodec import keccak, rlp_decode_list, rlp_scalar, rlp_string, scalar_bytes
from adapters.rpcjson import rpc_data, rpc_field, rpc_quantity
from adapters.types import Address, Hash32

__all__ = [
    "RECEIPT_TYPES",
    "STATUS_UNKNOWN",
    "TX_TYPES",
    "BlockReceipts",
    "Log",
    "OrderedTrie",
    "ProvenLog",
    "Receipt",
    "ReceiptProof",
    "build_ordered_proof",
    "decode_receipt",
    "encode_receipt",
    "encode_transaction_from_rpc",
    "ordered_trie_key",
    "ordered_trie_root",
    "receipt_from_rpc",
    "verify_receipt_proof",
    "verify_transaction_proof",
]

TX_TYPES = frozenset({0, 1, 2, 3, 4})  # legacy, EIP-2930, EIP-1559, EIP-4844, EIP-7702
RECEIPT_TYPES = TX_TYPES  # all of them share one receipt layout; others (e.g. OP 0x7e) do not
STATUS_UNKNOWN = -1  # pre-Byzantium receipts carry a post-state root instead of a status
_MAX_TOPICS = 4  # LOG0..LOG4


@dataclass(frozen=True, slots=True)
class Log:
    """One event log of a receipt."""

    address: Address
    topics: tuple[bytes, ...]
    data: bytes

    def __post_init__(self) -> None:
        if len(self.address) != 20:
            raise DecodeError("log address must be 20 bytes", length=len(self.address))
        if len(self.topics) > _MAX_TOPICS:
            raise DecodeError("log has more than 4 topics", topics=len(self.topics))
        for topic in self.topics:
            if len(topic) != 32:
                raise DecodeError("log topic must be 32 bytes", length=len(topic))


@dataclass(frozen=True, slots=True)
class Receipt:
    """A transaction receipt as committed in the receipts trie.

    ``status`` is 1 (success) or 0 (reverted). Pre-Byzantium receipts have ``post_state`` (the
    32-byte state root after the transaction) and ``status == STATUS_UNKNOWN``, so a check for
    ``status == 1`` never passes on them by accident.
    """

    tx_type: int
    status: int
    cumulative_gas_used: int
    logs_bloom: bytes
    logs: tuple[Log, ...]
    post_state: bytes | None = None

    def __post_init__(self) -> None:
        if self.tx_type not in RECEIPT_TYPES:
            raise DecodeError("unsupported receipt type", tx_type=self.tx_type)
        if self.post_state is None:
            if self.status not in (0, 1):
                raise DecodeError("receipt status must be 0 or 1", status=self.status)
        elif len(self.post_state) != 32 or self.status != STATUS_UNKNOWN or self.tx_type:
            raise DecodeError(
                "post-state receipts are legacy, 32 bytes, with status STATUS_UNKNOWN",
                tx_type=self.tx_type,
                status=self.status,
            )
        if not 0 <= self.cumulative_gas_used < 1 << 64:
            raise DecodeError("cumulativeGasUsed out of range", value=self.cumulative_gas_used)
        if len(self.logs_bloom) != 256:
            raise DecodeError("logsBloom must be 256 bytes", length=len(self.logs_bloom))


# --- receipts ----------------------------------------------------------------------------------


def encode_receipt(receipt: Receipt) -> bytes:
    """The receipts-trie value: ``RLP([...])``, prefixed by the type byte when type != 0."""
    first: bytes | int = receipt.post_state if receipt.post_state is not None else receipt.status
    body: bytes = rlp.encode(
        [
            first,
            receipt.cumulative_gas_used,
            receipt.logs_bloom,
            [[log.address, list(log.topics), log.data] for log in receipt.logs],
        ]
    )
    return body if receipt.tx_type == 0 else bytes((receipt.tx_type,)) + body


def decode_receipt(data: bytes) -> Receipt:
    """Strictly decode a receipts-trie value (EIP-2718 envelope); DecodeError otherwise."""
    if not isinstance(data, bytes) or not data:
        raise DecodeError("receipt must be non-empty bytes")
    first = data[0]
    if first >= 0xC0:
        tx_type = 0
        fields = rlp_decode_list(data, "receipt")
    elif first in RECEIPT_TYPES and first != 0:
        tx_type = first
        fields = rlp_decode_list(data[1:], "receipt")
    else:
        raise DecodeError("unknown receipt type", type_byte=first)
    if len(fields) != 4:
        raise DecodeError("receipt must be an RLP list of 4 items", tx_type=tx_type)
    state, gas, bloom, raw_logs = fields
    post_state: bytes | None = None
    if state == b"\x01":
        status = 1
    elif state == b"":
        status = 0
    elif isinstance(state, bytes) and len(state) == 32:
        status, post_state = STATUS_UNKNOWN, state
    else:
        raise DecodeError("receipt status is neither 0, 1 nor a 32-byte post-state")
    if not isinstance(bloom, bytes):
        raise DecodeError("logsBloom must be an RLP string")
    if not isinstance(raw_logs, list):
        raise DecodeError("receipt logs must be an RLP list")
    logs = []
    for raw in raw_logs:
        if not isinstance(raw, list) or len(raw) != 3:
            raise DecodeError("log must be an RLP list of 3 items")
        address, topics, payload = raw
        if not isinstance(address, bytes) or not isinstance(payload, bytes):
            raise DecodeError("log address and data must be RLP strings")
        if not isinstance(topics, list) or not all(isinstance(t, bytes) for t in topics):
            raise DecodeError("log topics must be a list of RLP strings")
        logs.append(Log(Address(address), tuple(topics), payload))  # type: ignore[arg-type]
    return Receipt(
        tx_type=tx_type,
        status=status,
        cumulative_gas_used=rlp_scalar(gas, "cumulativeGasUsed"),
        logs_bloom=bloom,
        logs=tuple(logs),
        post_state=post_state,
    )


def _log_from_rpc(raw: Any, where: str) -> Log:
    if not isinstance(raw, Mapping):
        raise DecodeError("log must be an object", field=where)
    topics = rpc_field(raw, "topics")
    if not isinstance(topics, list):
        raise DecodeError("log topics must be a list", field=f"{where}.topics")
    return Log(
        address=Address(rpc_data(rpc_field(raw, "address"), f"{where}.address", 20)),
        topics=tuple(rpc_data(t, f"{where}.topics[{i}]", 32) for i, t in enumerate(topics)),
        data=rpc_data(rpc_field(raw, "data"), f"{where}.data"),
    )


def receipt_from_rpc(r: Mapping[str, Any]) -> Receipt:
    """Parse an ``eth_getTransactionReceipt`` JSON object; DecodeError for malformed input.

    ``type`` defaults to 0 when absent (older nodes). Pre-Byzantium receipts have ``root``
    instead of ``status``.
    """
    if not isinstance(r, Mapping):
        raise DecodeError("receipt must be an object")
    raw_type = r.get("type")
    tx_type = 0 if raw_type is None else rpc_quantity(raw_type, "type", 8)
    if tx_type not in RECEIPT_TYPES:
        raise DecodeError("unsupported receipt type", tx_type=tx_type)
    post_state: bytes | None = None
    if r.get("status") is not None:
        status = rpc_quantity(r["status"], "status")
        if status not in (0, 1):
            raise DecodeError("receipt status must be 0x0 or 0x1", status=status)
    elif r.get("root") is not None:
        status, post_state = STATUS_UNKNOWN, rpc_data(r["root"], "root", 32)
    else:
        raise DecodeError("receipt has neither status nor root", field="status")
    logs = rpc_field(r, "logs")
    if not isinstance(logs, list):
        raise DecodeError("logs must be a list", field="logs")
    return Receipt(
        tx_type=tx_type,
        status=status,
        cumulative_gas_used=rpc_quantity(
            rpc_field(r, "cumulativeGasUsed"), "cumulativeGasUsed", 64
        ),
        logs_bloom=rpc_data(rpc_field(r, "logsBloom"), "logsBloom", 256),
        logs=tuple(_log_from_rpc(log, f"logs[{i}]") for i, log in enumerate(logs)),
        post_state=post_state,
    )


# --- transactions ------------------------------------------------------------------------------


def _to(tx: Mapping[str, Any], required: bool) -> bytes:
    to = tx.get("to")
    if to is None:
        if required:
            raise DecodeError("this transaction type cannot create a contract", field="to")
        return b""
    return rpc_data(to, "to", 20)


def _input(tx: Mapping[str, Any]) -> bytes:
    data = tx.get("input", tx.get("data"))
    if data is None:
        raise DecodeError("missing field", field="input")
    return rpc_data(data, "input")


def _access_list(tx: Mapping[str, Any]) -> list[list[Any]]:
    raw = tx.get("accessList", [])
    if not isinstance(raw, list):
        raise DecodeError("accessList must be a list", field="accessList")
    out: list[list[Any]] = []
    for i, entry in enumerate(raw):
        where = f"accessList[{i}]"
        if not isinstance(entry, Mapping):
            raise DecodeError("access list entry must be an object", field=where)
        keys = rpc_field(entry, "storageKeys")
        if not isinstance(keys, list):
            raise DecodeError("storageKeys must be a list", field=f"{where}.storageKeys")
        out.append(
            [
                rpc_data(rpc_field(entry, "address"), f"{where}.address", 20),
                [rpc_data(k, f"{where}.storageKeys[{j}]", 32) for j, k in enumerate(keys)],
            ]
        )
    return out


def _y_parity(obj: Mapping[str, Any], where: str) -> int:
    """yParity of a typed signature; ``v`` is accepted as an alias (older nodes send only v)."""
    parity = obj.get("yParity")
    v = obj.get("v")
    if parity is None and v is None:
        raise DecodeError("missing field", field=f"{where}yParity")
    y = rpc_quantity(parity if parity is not None else v, f"{where}yParity")
    if y not in (0, 1):
        raise DecodeError("yParity must be 0 or 1", field=f"{where}yParity", value=y)
    if parity is not None and v is not None and rpc_quantity(v, f"{where}v") != y:
        raise DecodeError("v and yParity disagree", field=f"{where}v")
    return y


def _q(tx: Mapping[str, Any], name: str, bits: int = 256) -> int:
    return rpc_quantity(rpc_field(tx, name), name, bits)


def _authorizations(tx: Mapping[str, Any]) -> list[list[Any]]:
    raw = rpc_field(tx, "authorizationList")
    if not isinstance(raw, list):
        raise DecodeError("authorizationList must be a list", field="authorizationList")
    out: list[list[Any]] = []
    for i, auth in enumerate(raw):
        where = f"authorizationList[{i}]."
        if not isinstance(auth, Mapping):
            raise DecodeError("authorization must be an object", field=where[:-1])
        out.append(
            [
                rpc_quantity(rpc_field(auth, "chainId"), where + "chainId"),
                rpc_data(rpc_field(auth, "address"), where + "address", 20),
                rpc_quantity(rpc_field(auth, "nonce"), where + "nonce", 64),
                _y_parity(auth, where),
                rpc_quantity(rpc_field(auth, "r"), where + "r"),
                rpc_quantity(rpc_field(auth, "s"), where + "s"),
            ]
        )
    return out


def encode_transaction_from_rpc(tx: Mapping[str, Any]) -> bytes:
    """The transactions-trie value of an ``eth_getTransactionBy*`` / block JSON transaction.

    Types 0 (legacy, any ``v`` incl. EIP-155), 1, 2, 3 (without blobs: the network wrapper is
    not what the trie holds) and 4. When the object has a ``hash``, the encoding must hash to
    it, so a node that returns inconsistent fields is caught here (DecodeError).
    """
    if not isinstance(tx, Mapping):
        raise DecodeError("transaction must be an object")
    raw_type = tx.get("type")
    tx_type = 0 if raw_type is None else rpc_quantity(raw_type, "type", 8)
    nonce = _q(tx, "nonce", 64)
    gas = _q(tx, "gas", 64)
    value = _q(tx, "value")
    data = _input(tx)
    if tx_type == 0:
        fields: list[Any] = [
            nonce,
            _q(tx, "gasPrice"),
            gas,
            _to(tx, required=False),
            value,
            data,
            _q(tx, "v"),
            _q(tx, "r"),
            _q(tx, "s"),
        ]
    else:
        signature = [_y_parity(tx, ""), _q(tx, "r"), _q(tx, "s")]
        chain_id = _q(tx, "chainId")
        if tx_type == 1:
            fields = [chain_id, nonce, _q(tx, "gasPrice"), gas, _to(tx, False), value, data]
            fields += [_access_list(tx), *signature]
        elif tx_type in (2, 3, 4):
            fees = [_q(tx, "maxPriorityFeePerGas"), _q(tx, "maxFeePerGas")]
            to = _to(tx, required=tx_type != 2)
            fields = [chain_id, nonce, *fees, gas, to, value, data, _access_list(tx)]
            if tx_type == 3:
                hashes = rpc_field(tx, "blobVersionedHashes")
                if not isinstance(hashes, list):
                    raise DecodeError("blobVersionedHashes must be a list")
                fields.append(_q(tx, "maxFeePerBlobGas"))
                fields.append(
                    [rpc_data(h, f"blobVersionedHashes[{i}]", 32) for i, h in enumerate(hashes)]
                )
            elif tx_type == 4:
                fields.append(_authorizations(tx))
            fields += signature
        else:
            raise DecodeError("unsupported transaction type", tx_type=tx_type)
    body: bytes = rlp.encode(fields)
    encoded = body if tx_type == 0 else bytes((tx_type,)) + body
    claimed = tx.get("hash")
    if claimed is not None and keccak(encoded) != rpc_data(claimed, "hash", 32):
        raise DecodeError("transaction fields do not hash to the transaction hash", hash=claimed)
    return encoded


# --- ordered tries -----------------------------------------------------------------------------


def ordered_trie_key(index: int) -> bytes:
    """``RLP(index)``, the key of item ``index`` in a transactions/receipts/withdrawals trie."""
    if not isinstance(index, int) or index < 0:
        raise DecodeError("trie index must be a non-negative integer", index=index)
    return rlp_string(scalar_bytes(index))


class OrderedTrie:
    """An ordered trie built once (py-trie ``HexaryTrie``), for its root and several proofs."""

    __slots__ = ("_trie", "count")

    def __init__(self, values: Sequence[bytes]) -> None:
        self._trie = HexaryTrie({})
        with self._trie.squash_changes() as batch:
            for i, value in enumerate(values):
                if not isinstance(value, bytes) or not value:
                    raise DecodeError("ordered trie values must be non-empty bytes", index=i)
                batch[ordered_trie_key(i)] = value
        self.count = len(values)

    @property
    def root(self) -> Hash32:
        return Hash32(self._trie.root_hash)

    def proof(self, index: int) -> tuple[bytes, ...]:
        """Nodes root→leaf in ``eth_getProof`` format (an exclusion proof past the end)."""
        if self.count == 0:
            return ()
        return proof_from_pytrie(self._trie.get_proof(ordered_trie_key(index)))  # type: ignore[no-untyped-call]


def ordered_trie_root(values: Sequence[bytes]) -> Hash32:
    """Root of the trie mapping ``RLP(i)`` to ``values[i]`` (empty: EMPTY_TRIE_ROOT)."""
    if not values:
        return EMPTY_TRIE_ROOT
    return OrderedTrie(values).root


def build_ordered_proof(values: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """Proof nodes (root→leaf, hashed nodes only) for item ``index`` of an ordered trie."""
    return OrderedTrie(values).proof(index)


def _proof_key(index: int) -> bytes:
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ProofInvalid("index must be a non-negative integer", index=index)
    return ordered_trie_key(index)


def verify_receipt_proof(receipts_root: bytes, index: int, nodes: Sequence[bytes]) -> Receipt:
    """The receipt at ``index`` proven against ``receipts_root``; ProofInvalid otherwise."""
    value = verify_proof(receipts_root, _proof_key(index), nodes)
    if value is None:
        raise ProofInvalid("proof shows no receipt at this index", index=index)
    try:
        return decode_receipt(value)
    except DecodeError as exc:
        raise ProofInvalid(
            "proven receipt does not decode", index=index, reason=exc.message
        ) from exc


def verify_transaction_proof(transactions_root: bytes, index: int, nodes: Sequence[bytes]) -> bytes:
    """The encoded transaction at ``index`` proven against ``transactions_root``."""
    value = verify_proof(transactions_root, _proof_key(index), nodes)
    if value is None:
        raise ProofInvalid("proof shows no transaction at this index", index=index)
    first = value[0]
    try:
        if first >= 0xC0:
            rlp_decode_list(value, "transaction")
        elif first in TX_TYPES and first != 0:
            rlp_decode_list(value[1:], "transaction")
        else:
            raise DecodeError("unknown transaction type", type_byte=first)
    except DecodeError as exc:
        raise ProofInvalid(
            "proven transaction does not decode", index=index, reason=exc.message
        ) from exc
    return value


@dataclass(frozen=True, slots=True)
class ReceiptProof:
    """A receipt with the proof of its inclusion in a block's receipts trie.

    Linking ``receipts_root`` to ``block_hash`` is the header verifier's job; ``verify``
    checks the proof and that it proves exactly ``receipt``.
    """

    block_hash: Hash32
    block_number: int
    receipts_root: Hash32
    tx_index: int
    nodes: tuple[bytes, ...]
    receipt: Receipt

    def verify(self) -> Receipt:
        proven = verify_receipt_proof(self.receipts_root, self.tx_index, self.nodes)
        if proven != self.receipt:
            raise ProofInvalid("proven receipt differs from the claimed one", index=self.tx_index)
        return proven


@dataclass(frozen=True, slots=True)
class ProvenLog:
    """One log with the proof of its receipt, located both ways: ``block_log_index`` among all
    logs of the block (JSON-RPC ``logIndex``, ``ChainEvent.block_log_index``) and
    ``receipt_log_index`` within the receipt (what ``BridgeEndpoint.deliver`` takes)."""

    proof: ReceiptProof
    block_log_index: int
    receipt_log_index: int
    log: Log


class BlockReceipts:
    """All receipts of one block in one trie, checked against the header's receiptsRoot once:
    the proofs of any number of them, and where each log of the block sits.

    The one place receipt proofs are built (the adapters, the tests and the benchmarks use it),
    so every proof handed out stands on a rebuilt, compared root.
    """

    __slots__ = ("_first_log", "_trie", "block_hash", "block_number", "receipts", "receipts_root")

    def __init__(
        self,
        block_hash: Hash32,
        block_number: int,
        receipts_root: bytes,
        receipts: Sequence[Receipt],
    ) -> None:
        """``ProofInvalid`` when the receipts do not rebuild ``receipts_root``."""
        self.block_hash = block_hash
        self.block_number = block_number
        self.receipts_root = Hash32(receipts_root)
        self.receipts = tuple(receipts)
        self._trie = OrderedTrie([encode_receipt(r) for r in self.receipts])
        rebuilt = self._trie.root if self.receipts else EMPTY_TRIE_ROOT
        if rebuilt != receipts_root:
            raise ProofInvalid(
                "block receipts do not rebuild the header's receiptsRoot",
                height=block_number,
                rebuilt=rebuilt,
                header=receipts_root,
            )
        first, total = [], 0
        for r in self.receipts:
            first.append(total)
            total += len(r.logs)
        self._first_log = tuple(first)

    def __len__(self) -> int:
        return len(self.receipts)

    def proof(self, tx_index: int) -> ReceiptProof:
        """The proof of receipt ``tx_index``; ``IndexError`` past the block's last one."""
        if not 0 <= tx_index < len(self.receipts):
            raise IndexError(f"block has no transaction {tx_index}")
        return ReceiptProof(
            block_hash=self.block_hash,
            block_number=self.block_number,
            receipts_root=self.receipts_root,
            tx_index=tx_index,
            nodes=self._trie.proof(tx_index),
            receipt=self.receipts[tx_index],
        )

    def first_log_index(self, tx_index: int) -> int:
        """The block-wide index of receipt ``tx_index``'s first log (the logs of the receipts
        before it, counted)."""
        return self._first_log[tx_index]

    def log_position(self, block_log_index: int) -> tuple[int, int] | None:
        """(transaction index, index within its receipt) of the block's log number
        ``block_log_index``, or None when the block has fewer logs."""
        if block_log_index < 0:
            return None
        # The last receipt whose first log is at or before it (receipts without logs share
        # their first index with the next one and are skipped this way).
        tx_index = bisect.bisect_right(self._first_log, block_log_index) - 1
        if tx_index < 0:
            return None
        offset = block_log_index - self._first_log[tx_index]
        if offset >= len(self.receipts[tx_index].logs):
            return None
        return tx_index, offset

    def proven_log(self, block_log_index: int) -> ProvenLog | None:
        """The block's log number ``block_log_index`` with its receipt's proof, or None."""
        position = self.log_position(block_log_index)
        if position is None:
            return None
        tx_index, offset = position
        proof = self.proof(tx_index)
        return ProvenLog(proof, block_log_index, offset, proof.receipt.logs[offset])
