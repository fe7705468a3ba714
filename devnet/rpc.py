"""JSON-RPC methods of the devnet node: ``eth_*``, ``net_*``, ``web3_*``, Besu's ``qbft_*`` and
``perm_*``, and a few anvil-compatible ``evm_*`` helpers for tests.

``RpcApi.call(method, params)`` returns a JSON-ready result or raises ``RpcMethodError``.
Shapes follow what Besu and geth serve (hex quantities, 0x data, ``null`` for unknown blocks).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final

import rlp
from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.exceptions import (
    ContractCreationCollision,
    FullStack,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
    Revert,
    StackDepthLimit,
    VMError,
    WriteProtection,
)
from eth.vm.spoof import SpoofTransaction
from eth_bloom.bloom import BloomFilter
from eth_hash.auto import keccak
from eth_typing import Address as EthAddress
from eth_utils.exceptions import ValidationError
from trie.hexary import HexaryTrie

from adapters.mpt import proof_from_pytrie
from devnet import errors
from devnet.chain import DevnetChain
from devnet.errors import RpcMethodError, invalid_params

CLIENT_VERSION: Final = "xgate-devnet/v0.1.0/py-evm-0.12.1b1 (DEV ONLY)"
PRIORITY_FEE: Final = 1_000_000_000
ZERO_ADDRESS: Final = EthAddress(b"\x00" * 20)
_HEX_RE: Final = re.compile(r"^0x[0-9a-fA-F]*$")
_QTY_RE: Final = re.compile(r"^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$")
_OPCODE_RE: Final = re.compile(r"0x[0-9a-fA-F]+")
_TAGS: Final = frozenset({"latest", "pending", "safe", "finalized", "earliest"})


# --- formatting --------------------------------------------------------------------------------


def q(value: int) -> str:
    return hex(value)


def d(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


# --- parameter parsing -------------------------------------------------------------------------


def _args(params: Any, low: int, high: int) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list):
        raise invalid_params("Invalid params", "params must be an array")
    if not low <= len(params) <= high:
        raise invalid_params("Invalid params", f"expected {low}..{high} params, got {len(params)}")
    return params + [None] * (high - len(params))


def _data(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not _HEX_RE.match(value) or len(value) % 2:
        raise invalid_params("Invalid params", f"{what} must be 0x-prefixed hex bytes")
    raw = bytes.fromhex(value[2:])
    if size is not None and len(raw) != size:
        raise invalid_params("Invalid params", f"{what} must be {size} bytes")
    return raw


def _address(value: Any, what: str = "address") -> EthAddress:
    return EthAddress(_data(value, what, 20))


def _hash(value: Any, what: str = "hash") -> bytes:
    return _data(value, what, 32)


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if not isinstance(value, str) or not _QTY_RE.match(value):
        raise invalid_params("Invalid params", f"{what} must be a hex quantity")
    return int(value, 16)


def _slot(value: Any) -> int:
    # geth accepts storage keys as quantities or 32-byte words.
    if not isinstance(value, str) or not _HEX_RE.match(value) or len(value) > 66 or len(value) < 3:
        raise invalid_params("Invalid params", "storage key must be hex up to 32 bytes")
    return int(value, 16)


def _bool(value: Any, what: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid_params("Invalid params", f"{what} must be true or false")
    return value


# geth's maxQueryLimit: each percentile adds one entry per block to the answer, and a 5 MiB
# body holds millions of them (x 1,024 blocks: an answer too large for any memory).
MAX_REWARD_PERCENTILES: Final = 100
MAX_PROOF_KEYS: Final = 1_024  # storage keys of one eth_getProof
_PRECOMPILES: Final = frozenset(i.to_bytes(20, "big") for i in range(1, 0x12))


@dataclass
class Filter:
    kind: str  # "log", "block" or "pending"
    # last block whose changes were returned; pending: sequence number of the next new hash
    cursor: int
    query: LogQuery | None = None
    last_poll: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FilterTable:
    """Installed filters (Besu ``FilterManager``): at most ``limit``; one not polled for
    ``timeout_s`` seconds is uninstalled. Ids are random 128-bit quantities like Besu's.
    Thread-safe: log polls run on worker threads."""

    # New transaction hashes kept for pending-transaction filters, oldest dropped first: one
    # shared log with a cursor per filter, so 1,000 filters hold 10,000 hashes, not 10 million.
    MAX_PENDING: Final = 10_000
    # Addresses and topics of all installed log filters together. Each costs ~300 bytes (its
    # bloom mask is a 2,048-bit int): 1,000 filters of 1,000 addresses and 4 x 1,000 topics
    # would hold 1.5 GB; this keeps them to ~30 MB.
    MAX_CRITERIA: Final = 100_000

    def __init__(self, limit: int, timeout_s: float) -> None:
        self.limit = limit
        self.timeout_s = timeout_s
        self._filters: dict[str, Filter] = {}
        self._lock = threading.Lock()
        self._criteria = 0
        self._pending: deque[bytes] = deque(maxlen=self.MAX_PENDING)
        self._pending_seq = 0  # sequence number of the next hash appended

    def install(self, kind: str, head: int, query: LogQuery | None = None) -> str:
        now = time.monotonic()
        self.expire(now)
        size = _criteria(query)
        with self._lock:
            if len(self._filters) >= self.limit:
                raise RpcMethodError(
                    errors.LIMIT_EXCEEDED,
                    f"Filter limit of {self.limit} reached",
                    "uninstall unused filters (eth_uninstallFilter)",
                )
            if self._criteria + size > self.MAX_CRITERIA:
                raise RpcMethodError(
                    errors.LIMIT_EXCEEDED,
                    f"Installed filters exceed the limit of {self.MAX_CRITERIA} addresses and "
                    "topics",
                    "uninstall unused filters (eth_uninstallFilter)",
                )
            filter_id = q(secrets.randbits(128) | 1 << 127)
            cursor = self._pending_seq if kind == "pending" else head
            self._filters[filter_id] = Filter(kind, cursor, query, last_poll=now)
            self._criteria += size
        return filter_id

    def get(self, filter_id: str) -> Filter:
        now = time.monotonic()
        self.expire(now)
        with self._lock:
            flt = self._filters.get(filter_id)
            if flt is None:
                raise RpcMethodError(-32000, "Filter not found", filter_id)
            flt.last_poll = now
            return flt

    def peek(self, filter_id: str) -> Filter | None:
        """The filter, or None; not a poll (its expiry clock is left alone)."""
        with self._lock:
            return self._filters.get(filter_id)

    def remove(self, filter_id: str) -> bool:
        with self._lock:
            flt = self._filters.pop(filter_id, None)
            if flt is not None:
                self._criteria -= _criteria(flt.query)
            return flt is not None

    def expire(self, now: float) -> None:
        with self._lock:
            for filter_id in [
                i for i, f in self._filters.items() if now - f.last_poll > self.timeout_s
            ]:
                self._criteria -= _criteria(self._filters.pop(filter_id).query)

    def on_pending(self, tx_hash: bytes) -> None:
        with self._lock:
            self._pending.append(tx_hash)
            self._pending_seq += 1

    def pending_since(self, flt: Filter) -> list[bytes]:
        """The hashes a pending-transaction filter has not seen (the newest MAX_PENDING)."""
        with self._lock:
            base = self._pending_seq - len(self._pending)
            hashes = list(islice(self._pending, max(flt.cursor - base, 0), None))
            flt.cursor = self._pending_seq
            return hashes


def _criteria(query: LogQuery | None) -> int:
    """Addresses and topics ``query`` holds (what an installed log filter keeps in memory)."""
    if query is None:
        return 0
    return len(query.addresses or ()) + sum(len(p) for p in query.topics if p is not None)


def _filter_id(value: Any) -> str:
    if not isinstance(value, str) or not _QTY_RE.match(value):
        raise invalid_params("Invalid params", "filter id must be a hex quantity")
    return value.lower()


def _record_access(state: StateAPI, touched: dict[bytes, set[int]]) -> None:
    """Record every address and storage slot ``state`` marks warm (EIP-2929) while it runs."""
    mark_address = state.mark_address_warm
    mark_storage = state.mark_storage_warm

    def address_warm(address: EthAddress) -> None:
        touched.setdefault(bytes(address), set())
        mark_address(address)

    def storage_warm(address: EthAddress, slot: int) -> None:
        touched.setdefault(bytes(address), set()).add(int(slot))
        mark_storage(address, slot)

    state.mark_address_warm = address_warm  # type: ignore[method-assign]
    state.mark_storage_warm = storage_warm  # type: ignore[method-assign]


def _with_access_list(tx: Any, access_list: tuple[Any, ...], chain: DevnetChain) -> Any:
    """An unsigned EIP-1559 copy of the spoofed call ``tx`` carrying ``access_list``."""
    inner = tx.spoof_target if isinstance(tx, SpoofTransaction) else tx
    builder: Any = chain.vm_class.get_transaction_builder()
    return builder.new_unsigned_dynamic_fee_transaction(
        chain_id=chain.config.chain_id,
        nonce=inner.nonce,
        max_priority_fee_per_gas=0,
        max_fee_per_gas=0,
        gas=inner.gas,
        to=inner.to,
        value=inner.value,
        data=inner.data,
        access_list=access_list,
    )


_Located = tuple[SignedTransactionAPI, BlockHeaderAPI | None, int | None]


def _raw_of(found: _Located | None) -> str | None:
    return None if found is None else d(found[0].encode())


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A parsed log filter: ``addresses`` None means any, ``topics`` None positions any."""

    addresses: set[bytes] | None
    topics: list[set[int] | None]
    masks: tuple[tuple[int, ...], ...]
    block_hash: bytes | None
    from_tag: Any
    to_tag: Any


class RpcApi:
    """Method table over one ``DevnetChain``."""

    def __init__(self, chain: DevnetChain) -> None:
        self.chain = chain
        self.config = chain.config
        self.accepted_tx = False  # set when eth_sendRawTransaction pooled something
        self.filters = FilterTable(self.config.max_filters, self.config.filter_timeout_s)
        self.methods: dict[str, Callable[[Any], Any]] = {
            name[len("m_") :]: getattr(self, name) for name in dir(self) if name.startswith("m_")
        }
        if not self.config.consortium:
            for name in list(self.methods):
                if name.startswith(("qbft_", "perm_")):
                    del self.methods[name]

    def call(self, method: str, params: Any) -> Any:
        handler = self.methods.get(method)
        if handler is None:
            raise RpcMethodError(errors.METHOD_NOT_FOUND, "Method not found", method)
        try:
            return handler(params)
        except RpcMethodError:
            raise
        except (ValidationError, VMError) as exc:
            raise RpcMethodError(-32000, str(exc) or type(exc).__name__) from exc

    # --- block resolution ------------------------------------------------------------------

    def _header_for(self, tag: Any, *, required: bool = True) -> BlockHeaderAPI | None:
        chain = self.chain
        if tag is None or tag in ("latest", "pending", "safe", "finalized"):
            # QBFT has instant finality: safe = finalized = latest.
            return chain.head
        if tag == "earliest":
            return chain.header_by_number(0)
        if isinstance(tag, dict):
            if "blockHash" in tag:
                header = chain.header_by_hash(_hash(tag["blockHash"], "blockHash"))
            elif "blockNumber" in tag:
                return self._header_for(tag["blockNumber"], required=required)
            else:
                raise invalid_params(
                    "Invalid params", "block object needs blockHash or blockNumber"
                )
        elif isinstance(tag, str) and tag.startswith("0x"):
            header = chain.header_by_number(_quantity(tag, "block number"))
        else:
            raise invalid_params("Invalid params", f"bad block tag {tag!r}")
        if header is None and required:
            raise RpcMethodError(-39001, "Unknown block", tag)
        return header

    def _known_header(self, tag: Any) -> BlockHeaderAPI:
        """The header ``tag`` names; JSON-RPC error "Unknown block" when there is none."""
        header = self._header_for(tag)
        assert header is not None  # required=True raises instead of returning None
        return header

    def _number_for(self, tag: Any, default: int) -> int:
        if tag is None:
            return default
        if tag in ("latest", "pending", "safe", "finalized"):
            return int(self.chain.head.block_number)
        if tag == "earliest":
            return 0
        return _quantity(tag, "block number")

    # --- JSON shapes ------------------------------------------------------------------------

    def _block_json(self, header: BlockHeaderAPI, full: bool) -> dict[str, Any]:
        chain = self.chain
        block = chain.block(header)
        sealed = chain.sealed_extra_of(header)
        number = int(header.block_number)
        out: dict[str, Any] = {
            "number": q(number),
            "hash": d(header.hash),
            "parentHash": d(header.parent_hash),
            "nonce": d(header.nonce),
            "sha3Uncles": d(header.uncles_hash),
            "logsBloom": word_bloom(header.bloom),
            "transactionsRoot": d(header.transaction_root),
            "stateRoot": d(header.state_root),
            "receiptsRoot": d(header.receipt_root),
            "miner": d(header.coinbase),
            "difficulty": q(header.difficulty),
            "totalDifficulty": q(header.difficulty * (number + 1)),
            "extraData": d(sealed),
            "gasLimit": q(header.gas_limit),
            "gasUsed": q(header.gas_used),
            "timestamp": q(header.timestamp),
            "mixHash": d(header.mix_hash),
            "uncles": [],
        }
        if hasattr(header, "base_fee_per_gas"):
            out["baseFeePerGas"] = q(int(header.base_fee_per_gas or 0))
        if hasattr(header, "withdrawals_root"):
            out["withdrawalsRoot"] = d(header.withdrawals_root or b"")
            out["withdrawals"] = []
        if hasattr(header, "blob_gas_used"):
            out["blobGasUsed"] = q(int(header.blob_gas_used or 0))
            out["excessBlobGas"] = q(int(header.excess_blob_gas or 0))
            out["parentBeaconBlockRoot"] = d(header.parent_beacon_block_root or b"")
        if hasattr(header, "requests_hash"):
            out["requestsHash"] = d(header.requests_hash)
        txs = block.transactions
        if full:
            out["transactions"] = [self._tx_json(tx, header, i) for i, tx in enumerate(txs)]
        else:
            out["transactions"] = [d(tx.hash) for tx in txs]
        sealed_header = header.copy(extra_data=sealed) if sealed != header.extra_data else header
        body = [sealed_header, list(txs), []]
        if hasattr(header, "withdrawals_root"):
            body.append([])
        out["size"] = q(len(rlp.encode(body)))
        return out

    def _tx_json(
        self, tx: SignedTransactionAPI, header: BlockHeaderAPI | None, index: int | None
    ) -> dict[str, Any]:
        type_id = getattr(tx, "type_id", None)
        out: dict[str, Any] = {
            "hash": d(tx.hash),
            "nonce": q(tx.nonce),
            "blockHash": None if header is None else d(header.hash),
            "blockNumber": None if header is None else q(header.block_number),
            "transactionIndex": None if index is None else q(index),
            "from": d(tx.sender),
            "to": d(tx.to) if tx.to else None,
            "value": q(tx.value),
            "gas": q(tx.gas),
            "input": d(tx.data),
            "r": q(tx.r),
            "s": q(tx.s),
            "type": q(type_id or 0),
        }
        if type_id is None:
            out["gasPrice"] = q(tx.gas_price)
            out["v"] = q(int(getattr(tx, "v", 0)))
            if tx.chain_id is not None:
                out["chainId"] = q(tx.chain_id)
        else:
            out["chainId"] = q(int(tx.chain_id or 0))
            out["v"] = q(tx.y_parity)
            out["yParity"] = q(tx.y_parity)
            out["accessList"] = [
                {"address": d(account), "storageKeys": [word(k) for k in keys]}
                for account, keys in tx.access_list
            ]
            if type_id == 4:
                out["authorizationList"] = [
                    {
                        "chainId": q(auth.chain_id),
                        "address": d(auth.address),
                        "nonce": q(auth.nonce),
                        "yParity": q(auth.y_parity),
                        "r": q(auth.r),
                        "s": q(auth.s),
                    }
                    for auth in tx.authorization_list
                ]
            if type_id == 1:
                out["gasPrice"] = q(tx.max_fee_per_gas)
            else:
                out["maxFeePerGas"] = q(tx.max_fee_per_gas)
                out["maxPriorityFeePerGas"] = q(tx.max_priority_fee_per_gas)
                out["gasPrice"] = q(
                    tx.max_fee_per_gas if header is None else _effective_price(tx, header)
                )
        return out

    def _receipts_json(self, header: BlockHeaderAPI) -> list[dict[str, Any]]:
        chain = self.chain
        txs = chain.block(header).transactions
        receipts = chain.receipts(header)
        out = []
        log_index = 0
        previous = 0
        for index, (tx, receipt) in enumerate(zip(txs, receipts, strict=True)):
            item, log_index = self._receipt_json(tx, receipt, header, index, previous, log_index)
            previous = receipt.gas_used
            out.append(item)
        return out

    def _receipt_json(
        self,
        tx: SignedTransactionAPI,
        receipt: ReceiptAPI,
        header: BlockHeaderAPI,
        index: int,
        previous_cumulative: int,
        first_log_index: int,
    ) -> tuple[dict[str, Any], int]:
        sender = bytes(tx.sender)
        contract = None
        if not tx.to:
            contract = d(keccak(rlp.encode([sender, tx.nonce]))[12:])
        logs = []
        log_index = first_log_index
        for entry in receipt.logs:
            logs.append(_log_json(entry, header, tx.hash, index, log_index))
            log_index += 1
        item = {
            "transactionHash": d(tx.hash),
            "transactionIndex": q(index),
            "blockHash": d(header.hash),
            "blockNumber": q(header.block_number),
            "from": d(sender),
            "to": d(tx.to) if tx.to else None,
            "cumulativeGasUsed": q(receipt.gas_used),
            "gasUsed": q(receipt.gas_used - previous_cumulative),
            "contractAddress": contract,
            "logs": logs,
            "logsBloom": word_bloom(receipt.bloom),
            "status": "0x1" if receipt.state_root == b"\x01" else "0x0",
            "type": q(getattr(tx, "type_id", None) or 0),
            "effectiveGasPrice": q(_effective_price(tx, header)),
        }
        return item, log_index

    # --- web3 / net ---------------------------------------------------------------------------

    def m_web3_clientVersion(self, params: Any) -> str:
        _args(params, 0, 0)
        return f"{CLIENT_VERSION} {self.config.mode}"

    def m_web3_sha3(self, params: Any) -> str:
        (data,) = _args(params, 1, 1)
        return d(keccak(_data(data, "data")))

    def m_net_version(self, params: Any) -> str:
        _args(params, 0, 0)
        return str(self.config.chain_id)

    def m_net_listening(self, params: Any) -> bool:
        _args(params, 0, 0)
        return True

    def m_net_peerCount(self, params: Any) -> str:
        _args(params, 0, 0)
        return "0x0"

    # --- chain ------------------------------------------------------------------------------

    def m_eth_chainId(self, params: Any) -> str:
        _args(params, 0, 0)
        return q(self.config.chain_id)

    def m_eth_blockNumber(self, params: Any) -> str:
        _args(params, 0, 0)
        return q(self.chain.head.block_number)

    def m_eth_syncing(self, params: Any) -> bool:
        _args(params, 0, 0)
        return False

    def m_eth_accounts(self, params: Any) -> list[str]:
        _args(params, 0, 0)
        return []  # the node holds no user keys: sign client-side

    def m_eth_mining(self, params: Any) -> bool:
        _args(params, 0, 0)
        return self.config.consortium

    def m_eth_gasPrice(self, params: Any) -> str:
        _args(params, 0, 0)
        return q(self.chain.next_base_fee() + PRIORITY_FEE)

    def m_eth_blobBaseFee(self, params: Any) -> str:
        _args(params, 0, 0)
        try:
            fee = self.chain.head_state().blob_base_fee
        except (AttributeError, NotImplementedError):  # before Cancun py-evm raises
            fee = None
        if fee is None:
            raise RpcMethodError(
                errors.METHOD_NOT_FOUND, "Method not found", "eth_blobBaseFee needs fork cancun+"
            )
        return q(int(fee))

    def m_eth_maxPriorityFeePerGas(self, params: Any) -> str:
        _args(params, 0, 0)
        return q(PRIORITY_FEE)

    def m_eth_feeHistory(self, params: Any) -> dict[str, Any]:
        count_raw, newest_raw, percentiles_raw = _args(params, 2, 3)
        count = _quantity(count_raw, "blockCount")
        if not 1 <= count <= 1024:
            raise RpcMethodError(errors.INVALID_PARAMS, "Invalid block count params", count_raw)
        newest = self._known_header(newest_raw)
        percentiles: list[float] = []
        if percentiles_raw is not None:
            if (
                not isinstance(percentiles_raw, list)
                or len(percentiles_raw) > MAX_REWARD_PERCENTILES
                or not all(
                    isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 100
                    for p in percentiles_raw
                )
                or sorted(percentiles_raw) != percentiles_raw
            ):
                raise RpcMethodError(
                    errors.INVALID_PARAMS, "Invalid reward percentiles params", percentiles_raw
                )
            percentiles = [float(p) for p in percentiles_raw]
        last = int(newest.block_number)
        first = max(0, last - count + 1)
        base_fees, ratios, rewards = [], [], []
        for number in range(first, last + 1):
            header = self.chain.header_by_number(number)
            assert header is not None
            base_fees.append(q(getattr(header, "base_fee_per_gas", 0)))
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
            if percentiles_raw is not None:
                rewards.append([q(r) for r in self._rewards(header, percentiles)])
        from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas

        base_fees.append(q(calculate_expected_base_fee_per_gas(newest)))
        out: dict[str, Any] = {
            "oldestBlock": q(first),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        }
        if percentiles_raw is not None:
            out["reward"] = rewards
        return out

    def _rewards(self, header: BlockHeaderAPI, percentiles: list[float]) -> list[int]:
        txs = self.chain.block(header).transactions
        if not txs:
            return [0 for _ in percentiles]
        receipts = self.chain.receipts(header)
        base = getattr(header, "base_fee_per_gas", 0)
        tips, previous = [], 0
        for tx, receipt in zip(txs, receipts, strict=True):
            tips.append((_effective_price(tx, header) - base, receipt.gas_used - previous))
            previous = receipt.gas_used
        tips.sort()
        total = sum(g for _, g in tips) or 1
        out = []
        for p in percentiles:
            threshold, acc = total * p / 100, 0
            chosen = tips[-1][0]
            for tip, gas in tips:
                acc += gas
                if acc >= threshold:
                    chosen = tip
                    break
            out.append(chosen)
        return out

    def m_eth_getBlockByNumber(self, params: Any) -> dict[str, Any] | None:
        tag, full = _args(params, 1, 2)
        header = self._header_for(tag, required=False)
        return None if header is None else self._block_json(header, _bool(full, "full"))

    def m_eth_getBlockByHash(self, params: Any) -> dict[str, Any] | None:
        block_hash, full = _args(params, 1, 2)
        header = self.chain.header_by_hash(_hash(block_hash, "block hash"))
        if header is None or not self._canonical(header):
            return None
        return self._block_json(header, _bool(full, "full"))

    def _canonical(self, header: BlockHeaderAPI) -> bool:
        found = self.chain.header_by_number(header.block_number)
        return found is not None and found.hash == header.hash

    def m_eth_getBlockTransactionCountByNumber(self, params: Any) -> str | None:
        (tag,) = _args(params, 1, 1)
        header = self._header_for(tag, required=False)
        return None if header is None else q(len(self.chain.block(header).transactions))

    def m_eth_getBlockTransactionCountByHash(self, params: Any) -> str | None:
        (block_hash,) = _args(params, 1, 1)
        header = self.chain.header_by_hash(_hash(block_hash, "block hash"))
        return None if header is None else q(len(self.chain.block(header).transactions))

    def m_eth_getUncleCountByBlockNumber(self, params: Any) -> str | None:
        (tag,) = _args(params, 1, 1)
        return None if self._header_for(tag, required=False) is None else "0x0"

    # A transaction with its block header and index (both None while it is pooled).
    def _tx_by_hash(self, params: Any) -> _Located | None:
        (tx_hash_raw,) = _args(params, 1, 1)
        tx_hash = _hash(tx_hash_raw, "transaction hash")
        pooled = self.chain.pool.get(tx_hash)
        if pooled is not None:
            return pooled.tx, None, None
        location = self.chain.transaction_location(tx_hash)
        if location is None:
            return None
        header = self.chain.header_by_number(location[0])
        assert header is not None
        return self.chain.block(header).transactions[location[1]], header, location[1]

    def _tx_by_index(self, header: BlockHeaderAPI | None, index_raw: Any) -> _Located | None:
        index = _quantity(index_raw, "index")
        if header is None:
            return None
        txs = self.chain.block(header).transactions
        return (txs[index], header, index) if index < len(txs) else None

    def _tx_by_number_and_index(self, params: Any) -> _Located | None:
        tag, index = _args(params, 2, 2)
        return self._tx_by_index(self._header_for(tag, required=False), index)

    def _tx_by_hash_and_index(self, params: Any) -> _Located | None:
        block_hash, index = _args(params, 2, 2)
        return self._tx_by_index(self.chain.header_by_hash(_hash(block_hash, "block hash")), index)

    def _json_of(self, found: _Located | None) -> dict[str, Any] | None:
        return None if found is None else self._tx_json(*found)

    def m_eth_getTransactionByHash(self, params: Any) -> dict[str, Any] | None:
        return self._json_of(self._tx_by_hash(params))

    def m_eth_getTransactionByBlockNumberAndIndex(self, params: Any) -> dict[str, Any] | None:
        return self._json_of(self._tx_by_number_and_index(params))

    def m_eth_getTransactionByBlockHashAndIndex(self, params: Any) -> dict[str, Any] | None:
        return self._json_of(self._tx_by_hash_and_index(params))

    def m_eth_getRawTransactionByHash(self, params: Any) -> str | None:
        return _raw_of(self._tx_by_hash(params))

    def m_eth_getRawTransactionByBlockNumberAndIndex(self, params: Any) -> str | None:
        return _raw_of(self._tx_by_number_and_index(params))

    def m_eth_getRawTransactionByBlockHashAndIndex(self, params: Any) -> str | None:
        return _raw_of(self._tx_by_hash_and_index(params))

    def m_eth_getTransactionReceipt(self, params: Any) -> dict[str, Any] | None:
        (tx_hash_raw,) = _args(params, 1, 1)
        location = self.chain.transaction_location(_hash(tx_hash_raw, "transaction hash"))
        if location is None:
            return None
        number, index = location
        header = self.chain.header_by_number(number)
        assert header is not None
        txs = self.chain.block(header).transactions
        receipts = self.chain.receipts(header)
        first_log = sum(len(r.logs) for r in receipts[:index])
        previous = receipts[index - 1].gas_used if index else 0
        item, _ = self._receipt_json(
            txs[index], receipts[index], header, index, previous, first_log
        )
        return item

    def m_eth_getBlockReceipts(self, params: Any) -> list[dict[str, Any]] | None:
        (tag,) = _args(params, 1, 1)
        if isinstance(tag, str) and len(tag) == 66:
            header = self.chain.header_by_hash(_hash(tag, "block hash"))
        else:
            header = self._header_for(tag, required=False)
        return None if header is None else self._receipts_json(header)

    # --- state ------------------------------------------------------------------------------

    def _state(self, tag: Any) -> StateAPI:
        header = self._known_header(tag)
        return self.chain.state_at(header)

    def m_eth_getBalance(self, params: Any) -> str:
        address, tag = _args(params, 1, 2)
        return q(self._state(tag).get_balance(_address(address)))

    def m_eth_getCode(self, params: Any) -> str:
        address, tag = _args(params, 1, 2)
        return d(self._state(tag).get_code(_address(address)))

    def m_eth_getStorageAt(self, params: Any) -> str:
        address, slot, tag = _args(params, 2, 3)
        return word(self._state(tag).get_storage(_address(address), _slot(slot)))

    def m_eth_getTransactionCount(self, params: Any) -> str:
        address_raw, tag = _args(params, 1, 2)
        address = _address(address_raw)
        if tag == "pending":
            return q(self.chain.pending_nonce(address))
        return q(self._state(tag).get_nonce(address))

    def m_eth_getProof(self, params: Any) -> dict[str, Any]:
        address_raw, keys_raw, tag = _args(params, 2, 3)
        address = _address(address_raw)
        if not isinstance(keys_raw, list):
            raise invalid_params("Invalid params", "storage keys must be an array")
        if len(keys_raw) > MAX_PROOF_KEYS:
            # A 5 MiB body holds ~800,000 keys: gigabytes of proof nodes in one answer.
            raise RpcMethodError(
                errors.LIMIT_EXCEEDED,
                f"Too many storage keys, at most {MAX_PROOF_KEYS}",
                f"{len(keys_raw)} keys",
            )
        slots = [_slot(k) for k in keys_raw]
        header = self._known_header(tag)
        db = self.chain.base_db
        state_trie = HexaryTrie(db, root_hash=header.state_root)
        account_key = keccak(address)
        account_rlp = state_trie.get(account_key)
        if account_rlp:
            nonce_raw, balance_raw, storage_root, code_hash = rlp.decode(account_rlp)
            nonce = int.from_bytes(nonce_raw, "big")
            balance = int.from_bytes(balance_raw, "big")
        else:
            nonce, balance, storage_root, code_hash = 0, 0, BLANK_ROOT_HASH, EMPTY_SHA3
        account_proof = proof_from_pytrie(state_trie.get_proof(account_key))  # type: ignore[no-untyped-call]
        storage_trie = HexaryTrie(db, root_hash=storage_root)
        storage = []
        for raw_key, slot in zip(keys_raw, slots, strict=True):
            slot_key = keccak(slot.to_bytes(32, "big"))
            value_rlp = storage_trie.get(slot_key)
            value = int.from_bytes(rlp.decode(value_rlp), "big") if value_rlp else 0
            nodes = proof_from_pytrie(storage_trie.get_proof(slot_key))  # type: ignore[no-untyped-call]
            storage.append({"key": raw_key, "value": q(value), "proof": [d(n) for n in nodes]})
        return {
            "address": d(address),
            "accountProof": [d(n) for n in account_proof],
            "balance": q(balance),
            "codeHash": d(code_hash),
            "nonce": q(nonce),
            "storageHash": d(storage_root),
            "storageProof": storage,
        }

    # --- execution --------------------------------------------------------------------------

    def _call_tx(self, call: Any, state: StateAPI, gas_cap: int) -> tuple[Any, int]:
        if not isinstance(call, dict):
            raise invalid_params("Invalid params", "call object must be a JSON object")
        sender = _address(call["from"], "from") if call.get("from") else ZERO_ADDRESS
        to = _address(call["to"], "to") if call.get("to") else EthAddress(b"")
        if "input" in call and "data" in call and call["input"] != call["data"]:
            raise invalid_params("Invalid params", "input and data differ")
        data_raw = call.get("input", call.get("data"))
        data = _data(data_raw, "input") if data_raw is not None else b""
        value = _quantity(call["value"], "value") if call.get("value") is not None else 0
        gas = _quantity(call["gas"], "gas") if call.get("gas") is not None else gas_cap
        gas = min(gas, gas_cap)
        unsigned = self.chain.vm_class.create_unsigned_transaction(
            nonce=state.get_nonce(sender), gas_price=0, gas=gas, to=to, value=value, data=data
        )
        return SpoofTransaction(unsigned, from_=sender), gas

    def _apply_overrides(self, state: StateAPI, overrides: Any) -> None:
        if overrides is None:
            return
        if not isinstance(overrides, dict):
            raise invalid_params("Invalid params", "state overrides must be an object")
        for address_raw, change in overrides.items():
            address = _address(address_raw, "override address")
            if not isinstance(change, dict):
                raise invalid_params("Invalid params", "each state override must be an object")
            unknown = set(change) - {"balance", "nonce", "code", "state", "stateDiff"}
            if unknown:
                raise invalid_params("Invalid params", f"unknown state override {sorted(unknown)}")
            if "balance" in change:
                state.set_balance(address, _quantity(change["balance"], "balance"))
            if "nonce" in change:
                state.set_nonce(address, _quantity(change["nonce"], "nonce"))
            if "code" in change:
                state.set_code(address, _data(change["code"], "code"))
            if "state" in change and "stateDiff" in change:
                raise invalid_params("Invalid params", "state and stateDiff are exclusive")
            if "state" in change:
                state.delete_storage(address)
            for key in ("state", "stateDiff"):
                storage = change.get(key)
                if storage is not None and not isinstance(storage, dict):
                    raise invalid_params("Invalid params", f"override {key} must be an object")
                for slot, value in (storage or {}).items():
                    state.set_storage(
                        address, _slot(slot), int(_hash(value, "storage value").hex(), 16)
                    )

    def _run(self, state: StateAPI, tx: Any) -> Any:
        snapshot = state.snapshot()
        try:
            return state.apply_transaction(tx)
        finally:
            state.revert(snapshot)

    def gas_cap(self, header: BlockHeaderAPI) -> int:
        """Most gas one simulated call may use (Besu ``--rpc-gas-cap``)."""
        return min(int(header.gas_limit), self.config.rpc_gas_cap)

    def m_eth_call(self, params: Any) -> str:
        call, tag, overrides = _args(params, 1, 3)
        header = self._known_header(tag)
        with self.chain.chain.get_vm(header).in_costless_state() as state:
            self._apply_overrides(state, overrides)
            tx, _ = self._call_tx(call, state, self.gas_cap(header))
            computation = self._run(state, tx)
        if computation.is_error:
            raise _execution_error(computation)
        return d(computation.output)

    def m_eth_estimateGas(self, params: Any) -> str:
        call, tag, overrides = _args(params, 1, 3)
        header = self._known_header(tag)
        with self.chain.chain.get_vm(header).in_costless_state() as state:
            self._apply_overrides(state, overrides)
            tx, cap = self._call_tx(call, state, self.gas_cap(header))
            intrinsic = tx.intrinsic_gas
            if cap < intrinsic:
                raise errors.intrinsic_gas_exceeds_limit(
                    f"gas {cap} below intrinsic gas {intrinsic}"
                )
            top = self._run(state, tx)
            if top.is_error:
                if isinstance(top.error, Revert):
                    raise _execution_error(top)
                raise RpcMethodError(-32000, f"gas required exceeds allowance ({cap})")
            # Search [used, cap]: below the gas used before refunds nothing can succeed; the
            # first guess (used + 1/63 for the call stipend rule) almost always does.
            used = cap - top.get_gas_remaining()
            low, high = max(intrinsic, used) - 1, cap
            guess = min(cap, used + used // 63 + 2300)
            if guess < high:
                if self._ok(state, tx, guess):
                    high = guess
                else:
                    low = guess
            while high - low > 1:
                mid = (low + high) // 2
                if self._ok(state, tx, mid):
                    high = mid
                else:
                    low = mid
        return q(high)

    def _ok(self, state: StateAPI, tx: Any, gas: int) -> bool:
        return not self._run(state, SpoofTransaction(tx, gas=gas)).is_error

    def m_eth_sendRawTransaction(self, params: Any) -> str:
        (raw,) = _args(params, 1, 1)
        tx_hash = self.chain.submit_raw_transaction(_data(raw, "transaction"))
        self.accepted_tx = True
        self.filters.on_pending(tx_hash)
        return d(tx_hash)

    def m_eth_sendTransaction(self, params: Any) -> str:
        raise RpcMethodError(
            -32604,
            "The method eth_sendTransaction is not supported. Use eth_sendRawTransaction to send "
            "a signed transaction.",
        )

    # --- logs -------------------------------------------------------------------------------

    def m_eth_getLogs(self, params: Any) -> list[dict[str, Any]]:
        (flt,) = _args(params, 1, 1)
        return self.collect_logs(self.log_query(flt))

    def log_query(self, flt: Any, *, bounded: bool = True) -> LogQuery:
        """Parse and bound an ``eth_getLogs`` / ``eth_newFilter`` filter object. With
        ``bounded=False`` the block range is not checked (a filter's range is checked when it
        is queried)."""
        if not isinstance(flt, dict):
            raise RpcMethodError(
                errors.INVALID_PARAMS, "Invalid log filter params", "filter must be an object"
            )
        unknown = set(flt) - {"address", "topics", "fromBlock", "toBlock", "blockHash"}
        if unknown:
            raise RpcMethodError(
                errors.INVALID_PARAMS, "Invalid log filter params", sorted(unknown)
            )
        cfg = self.config
        addresses = _address_filter(flt.get("address"))
        if addresses is not None and len(addresses) > cfg.max_log_addresses:
            raise RpcMethodError(
                errors.LIMIT_EXCEEDED,
                f"Filter exceeds the limit of {cfg.max_log_addresses} addresses",
                f"{len(addresses)} addresses",
            )
        topics = _topic_filter(flt.get("topics"))
        for position in topics:
            if position is not None and len(position) > cfg.max_log_topics:
                raise RpcMethodError(
                    errors.LIMIT_EXCEEDED,
                    f"Filter exceeds the limit of {cfg.max_log_topics} topics per position",
                    f"{len(position)} topics",
                )
        block_hash = None
        if flt.get("blockHash") is not None:
            if flt.get("fromBlock") is not None or flt.get("toBlock") is not None:
                raise RpcMethodError(
                    errors.INVALID_PARAMS,
                    "Invalid log filter params",
                    "blockHash excludes fromBlock/toBlock",
                )
            block_hash = _hash(flt["blockHash"], "blockHash")
        for key in ("fromBlock", "toBlock"):
            self._number_for(flt.get(key), 0)  # a bad tag fails here, not when polled
        query = LogQuery(
            addresses=addresses,
            topics=topics,
            masks=_bloom_masks(addresses, topics),
            block_hash=block_hash,
            from_tag=flt.get("fromBlock"),
            to_tag=flt.get("toBlock"),
        )
        if bounded and block_hash is None:
            self.log_range(query)
        return query

    def log_range(self, query: LogQuery) -> tuple[int, int]:
        """The block numbers ``query`` covers now, bounded by ``max_log_range``."""
        head = int(self.chain.head.block_number)
        start = self._number_for(query.from_tag, head)
        requested_end = self._number_for(query.to_tag, head)
        if start > requested_end:
            raise RpcMethodError(
                errors.INVALID_PARAMS, "Invalid log filter params", "fromBlock is after toBlock"
            )
        if requested_end - start + 1 > self.config.max_log_range:
            raise RpcMethodError(
                errors.LIMIT_EXCEEDED,
                "Requested range exceeds maximum RPC range limit",
                f"{requested_end - start + 1} blocks requested, "
                f"at most {self.config.max_log_range}",
            )
        return start, min(requested_end, head)

    def collect_logs(
        self, query: LogQuery, span: tuple[int, int] | None = None
    ) -> list[dict[str, Any]]:
        """The logs ``query`` matches in its range (or ``span``, first and last block), at most
        ``max_log_results`` (else -32005)."""
        if query.block_hash is not None:
            header = self.chain.header_by_hash(query.block_hash)
            if header is None:
                raise RpcMethodError(-32000, "Block not found", d(query.block_hash))
            headers = [header]
        else:
            first, last = span if span is not None else self.log_range(query)
            headers = []
            for number in range(first, last + 1):
                header_n = self.chain.header_by_number(number)
                assert header_n is not None
                headers.append(header_n)
        limit = self.config.max_log_results
        out: list[dict[str, Any]] = []
        for header in headers:
            if not _bloom_may_match(int(header.bloom), query.masks):
                continue
            txs = self.chain.block(header).transactions
            log_index = 0
            for index, (tx, receipt) in enumerate(
                zip(txs, self.chain.receipts(header), strict=True)
            ):
                for entry in receipt.logs:
                    if _log_matches(entry, query.addresses, query.topics):
                        if len(out) == limit:
                            raise RpcMethodError(
                                errors.LIMIT_EXCEEDED, f"query returned more than {limit} results"
                            )
                        out.append(_log_json(entry, header, tx.hash, index, log_index))
                    log_index += 1
        return out

    # --- filters (Besu FilterManager) ----------------------------------------------------------

    def expire_filters(self) -> None:
        self.filters.expire(time.monotonic())

    def m_eth_newFilter(self, params: Any) -> str:
        (flt,) = _args(params, 1, 1)
        query = self.log_query(flt, bounded=False)
        return self.filters.install("log", int(self.chain.head.block_number), query)

    def m_eth_newBlockFilter(self, params: Any) -> str:
        _args(params, 0, 0)
        return self.filters.install("block", int(self.chain.head.block_number))

    def m_eth_newPendingTransactionFilter(self, params: Any) -> str:
        _args(params, 0, 0)
        return self.filters.install("pending", int(self.chain.head.block_number))

    def m_eth_uninstallFilter(self, params: Any) -> bool:
        (filter_id,) = _args(params, 1, 1)
        return self.filters.remove(_filter_id(filter_id))

    def m_eth_getFilterChanges(self, params: Any) -> list[Any]:
        (filter_id,) = _args(params, 1, 1)
        flt = self.filters.get(_filter_id(filter_id))
        head = int(self.chain.head.block_number)
        with flt.lock:
            if flt.kind == "pending":
                return [d(h) for h in self.filters.pending_since(flt)]
            first = flt.cursor + 1
            # At most max_log_range blocks per poll; the next poll continues from there.
            last = min(head, first + self.config.max_log_range - 1)
            if flt.kind == "block":
                out_blocks = []
                for number in range(first, last + 1):
                    header = self.chain.header_by_number(number)
                    assert header is not None
                    out_blocks.append(d(header.hash))
                flt.cursor = max(flt.cursor, last)
                return out_blocks
            assert flt.query is not None
            query = flt.query
            if query.block_hash is not None:  # one block: its logs on the first poll only
                if flt.cursor < 0:
                    return []
                flt.cursor = -1
                return self.collect_logs(query)
            start = max(first, self._number_for(query.from_tag, 0) if query.from_tag else 0)
            end = min(last, self._number_for(query.to_tag, last))
            logs = self.collect_logs(query, (start, end)) if start <= end else []
            flt.cursor = max(flt.cursor, last)
            return logs

    def m_eth_getFilterLogs(self, params: Any) -> list[dict[str, Any]]:
        (filter_id,) = _args(params, 1, 1)
        flt = self.filters.get(_filter_id(filter_id))
        if flt.query is None:
            raise RpcMethodError(-32000, "Filter not found", "not a log filter")
        return self.collect_logs(flt.query)

    # --- access lists -------------------------------------------------------------------------

    def m_eth_createAccessList(self, params: Any) -> dict[str, Any]:
        """geth's algorithm: run the call, list what it touched (sender, recipient, coinbase and
        precompiles excluded unless storage was read), repeat with that list until stable."""
        call, tag = _args(params, 1, 2)
        header = self._known_header(tag)
        vm = self.chain.chain.get_vm(header)
        found: dict[bytes, set[int]] = {}
        for _ in range(8):
            with vm.in_costless_state() as state:
                tx, _ = self._call_tx(call, state, self.gas_cap(header))
                touched: dict[bytes, set[int]] = {}
                _record_access(state, touched)
                listed = tuple((EthAddress(a), tuple(sorted(k))) for a, k in found.items())
                tx = SpoofTransaction(_with_access_list(tx, listed, self.chain), from_=tx.sender)
                computation = self._run(state, tx)
            excluded = {bytes(tx.sender), bytes(tx.to or b""), bytes(header.coinbase)}
            excluded |= _PRECOMPILES
            new = {a: k for a, k in touched.items() if a not in excluded or k}
            if new == found:
                break
            found = new
        out: dict[str, Any] = {
            "accessList": [
                {"address": d(a), "storageKeys": [word(k) for k in sorted(keys)]}
                for a, keys in found.items()
            ],
            "gasUsed": q(tx.gas - computation.get_gas_remaining()),
        }
        if computation.is_error:
            out["error"] = _execution_error(computation).message
        return out

    # --- QBFT (Besu names) -------------------------------------------------------------------

    def m_qbft_getValidatorsByBlockNumber(self, params: Any) -> list[str]:
        (tag,) = _args(params, 1, 1)
        header = self._known_header(tag)
        return [d(v) for v in self.chain.validators_of(header)]

    def m_qbft_getValidatorsByBlockHash(self, params: Any) -> list[str]:
        (block_hash,) = _args(params, 1, 1)
        header = self.chain.header_by_hash(_hash(block_hash, "block hash"))
        if header is None:
            raise RpcMethodError(-39001, "Unknown block", block_hash)
        return [d(v) for v in self.chain.validators_of(header)]

    def m_qbft_proposeValidatorVote(self, params: Any) -> bool:
        address, add = _args(params, 2, 2)
        if not isinstance(add, bool):
            raise RpcMethodError(errors.INVALID_PARAMS, "Invalid vote type params", add)
        self.chain.propose_vote(_address(address), add)
        return True

    def m_qbft_discardValidatorVote(self, params: Any) -> bool:
        (address,) = _args(params, 1, 1)
        self.chain.discard_vote(_address(address))
        return True

    def m_qbft_getPendingVotes(self, params: Any) -> dict[str, bool]:
        _args(params, 0, 0)
        return self.chain.pending_votes.to_json()

    # --- account permissioning (Besu perm_*) ---------------------------------------------------

    def _accounts_param(self, params: Any) -> list[bytes]:
        (accounts,) = _args(params, 1, 1)
        if not isinstance(accounts, list) or not accounts:
            raise RpcMethodError(-32000, "Request contains an empty list of accounts")
        parsed = []
        for item in accounts:
            if not isinstance(item, str) or not re.match(r"^0x[0-9a-fA-F]{40}$", item):
                raise RpcMethodError(-32000, "Request contains an invalid account", item)
            parsed.append(bytes.fromhex(item[2:]))
        if len(set(parsed)) != len(parsed):
            raise RpcMethodError(-32000, "Request contains duplicate accounts")
        return parsed

    def _need_permissioning(self) -> None:
        if not self.config.permissioning:
            raise RpcMethodError(-32000, "Account allowlist has not been enabled")

    def m_perm_getAccountsAllowlist(self, params: Any) -> list[str]:
        _args(params, 0, 0)
        self._need_permissioning()
        return sorted(d(a) for a in self.chain.allowlist)

    def m_perm_addAccountsToAllowlist(self, params: Any) -> str:
        self._need_permissioning()
        accounts = self._accounts_param(params)
        if any(a in self.chain.allowlist for a in accounts):
            raise RpcMethodError(-32000, "Cannot add an existing account to allowlist")
        self.chain.allowlist.update(accounts)
        self.chain.save_allowlist()
        return "Success"

    def m_perm_removeAccountsFromAllowlist(self, params: Any) -> str:
        self._need_permissioning()
        accounts = self._accounts_param(params)
        if any(a not in self.chain.allowlist for a in accounts):
            raise RpcMethodError(-32000, "Cannot remove an absent account from allowlist")
        self.chain.allowlist.difference_update(accounts)
        self.chain.save_allowlist()
        return "Success"

    # --- dev helpers (anvil-compatible, dev only) -----------------------------------------------

    def m_evm_mine(self, params: Any) -> str:
        (ts,) = _args(params, 0, 1)
        if ts is not None:
            wanted = _quantity(ts, "timestamp")
            self.chain.increase_time(max(0, wanted - self.chain.next_timestamp()))
        self.chain.produce_block()
        return "0x0"

    def m_evm_increaseTime(self, params: Any) -> str:
        (seconds,) = _args(params, 1, 1)
        return q(self.chain.increase_time(_quantity(seconds, "seconds")))

    def m_txpool_status(self, params: Any) -> dict[str, str]:
        _args(params, 0, 0)
        return {"pending": q(len(self.chain.pool)), "queued": "0x0"}


# --- request cost --------------------------------------------------------------------------------

# Methods whose work grows with their parameters; they run on worker threads, off the sealing
# loop (``devnet.server``). Everything else is a bounded lookup.
EXPENSIVE: Final = frozenset(
    {
        "eth_call",
        "eth_estimateGas",
        "eth_createAccessList",
        "eth_getLogs",
        "eth_getFilterLogs",
        "eth_getFilterChanges",
        "eth_getProof",
        "eth_feeHistory",
        "eth_getBlockReceipts",
    }
)
# Methods that change the node (pool, votes, allowlist, clock, filters, blocks) or read what
# block production changes while it runs (the pending nonce, the pending votes): the server
# runs them one at a time with block production (``devnet.server``). Everything else reads
# sealed data and does not wait for a block being built.
SERIALISED: Final = frozenset(
    {
        "eth_sendRawTransaction",
        "eth_sendTransaction",
        "qbft_proposeValidatorVote",
        "qbft_discardValidatorVote",
        "qbft_getPendingVotes",
        "perm_addAccountsToAllowlist",
        "perm_removeAccountsFromAllowlist",
        "evm_mine",
        "evm_increaseTime",
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_newPendingTransactionFilter",
        "eth_uninstallFilter",
    }
)


def serialised(method: str, params: Any) -> bool:
    """Whether ``method`` runs one at a time with block production (``SERIALISED``, and
    eth_getTransactionCount of the "pending" block: the pool and the head nonce together)."""
    if method == "eth_getTransactionCount":
        return isinstance(params, list) and len(params) > 1 and params[1] == "pending"
    return method in SERIALISED


GAS_PER_UNIT: Final = 1_000_000  # ~0.25 s of py-evm execution on the dev machine
BLOCKS_PER_UNIT: Final = 100


def request_cost(api: RpcApi, method: Any, params: Any) -> int:
    """What one request costs in batch units: 1 for a lookup; for simulated calls 1 per
    ``GAS_PER_UNIT`` of the gas they may use (their ``gas``, else the gas cap; estimateGas
    and createAccessList run the call several times); for log queries 1 per
    ``BLOCKS_PER_UNIT`` blocks (eth_getFilterLogs: its filter's range). Malformed params cost
    1 (they fail fast)."""
    first = params[0] if isinstance(params, list) and params else None
    head = int(api.chain.head.block_number)
    if method in ("eth_call", "eth_estimateGas", "eth_createAccessList"):
        gas = api.gas_cap(api.chain.head)
        if isinstance(first, dict) and first.get("gas") is not None:
            try:
                gas = min(gas, _quantity(first["gas"], "gas"))
            except RpcMethodError:
                return 1
        runs = 1 if method == "eth_call" else 3
        return 1 + runs * -(-gas // GAS_PER_UNIT)
    if method == "eth_getFilterLogs" and isinstance(first, str):
        # The installed filter's whole range, like the eth_getLogs it stands for.
        flt = api.filters.peek(first.lower())
        if flt is None or flt.query is None or flt.query.block_hash is not None:
            return 1
        first = {"fromBlock": flt.query.from_tag, "toBlock": flt.query.to_tag}
        method = "eth_getLogs"
    if method == "eth_getLogs" and isinstance(first, dict):
        try:
            start = api._number_for(first.get("fromBlock"), head)
            end = api._number_for(first.get("toBlock"), head)
        except RpcMethodError:
            return 1
        return 1 + max(0, min(end, head) - start + 1) // BLOCKS_PER_UNIT
    if method == "eth_getProof" and isinstance(params, list) and len(params) > 1:
        return 1 + (len(params[1]) if isinstance(params[1], list) else 0)
    if method == "eth_feeHistory" and isinstance(first, str | int):
        try:
            return 1 + _quantity(first, "blockCount") // 64
        except RpcMethodError:
            return 1
    return 1


# --- helpers -------------------------------------------------------------------------------------


def word_bloom(bloom: int) -> str:
    return "0x" + int(bloom).to_bytes(256, "big").hex()


def _effective_price(tx: SignedTransactionAPI, header: BlockHeaderAPI) -> int:
    base = getattr(header, "base_fee_per_gas", 0)
    return int(min(tx.max_fee_per_gas, base + tx.max_priority_fee_per_gas))


def _log_json(
    entry: Any, header: BlockHeaderAPI, tx_hash: bytes, tx_index: int, log_index: int
) -> dict[str, Any]:
    return {
        "address": d(entry.address),
        "topics": [word(t) for t in entry.topics],
        "data": d(entry.data),
        "blockNumber": q(header.block_number),
        "blockHash": d(header.hash),
        "transactionHash": d(tx_hash),
        "transactionIndex": q(tx_index),
        "logIndex": q(log_index),
        "removed": False,
    }


def _address_filter(value: Any) -> set[bytes] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {_address(value)}
    if isinstance(value, list):
        return {_address(v) for v in value}
    raise RpcMethodError(errors.INVALID_PARAMS, "Invalid log filter params", "address")


def _topic_filter(value: Any) -> list[set[int] | None]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 4:
        raise RpcMethodError(errors.INVALID_PARAMS, "Invalid log filter params", "topics")
    out: list[set[int] | None] = []
    for position in value:
        if position is None:
            out.append(None)
        elif isinstance(position, str):
            out.append({int.from_bytes(_hash(position, "topic"), "big")})
        elif isinstance(position, list):
            out.append({int.from_bytes(_hash(t, "topic"), "big") for t in position} or None)
        else:
            raise RpcMethodError(errors.INVALID_PARAMS, "Invalid log filter params", "topics")
    return out


def _bloom_bits(item: bytes) -> int:
    bloom = BloomFilter()
    bloom.add(item)
    return int(bloom)


def _bloom_masks(
    addresses: set[bytes] | None, topics: list[set[int] | None]
) -> tuple[tuple[int, ...], ...]:
    """Per filter position, the bloom bit masks of its alternatives (computed once per query,
    not once per block: a filter with 1,000 addresses over 5,000 blocks hashes 1,000 times)."""
    groups: list[tuple[int, ...]] = []
    if addresses is not None:
        groups.append(tuple(_bloom_bits(a) for a in addresses))
    for position in topics:
        if position is not None:
            groups.append(tuple(_bloom_bits(t.to_bytes(32, "big")) for t in position))
    return tuple(groups)


def _bloom_may_match(bloom: int, masks: tuple[tuple[int, ...], ...]) -> bool:
    return all(any(bloom & m == m for m in group) for group in masks)


def _log_matches(entry: Any, addresses: set[bytes] | None, topics: list[set[int] | None]) -> bool:
    if addresses is not None and bytes(entry.address) not in addresses:
        return False
    if len(topics) > len(entry.topics):
        return False
    return all(want is None or entry.topics[i] in want for i, want in enumerate(topics))


def _execution_error(computation: Any) -> RpcMethodError:
    error = computation.error
    if isinstance(error, Revert):
        output = bytes(computation.output)
        reason = _revert_reason(output)
        message = "execution reverted" + (f": {reason}" if reason else "")
        return RpcMethodError(3, message, d(output))
    # Not a revert: geth's message and no ``data`` (clients decode ``data`` as revert data).
    return RpcMethodError(-32000, _failure_message(error))


def _failure_message(error: Exception) -> str:
    for kind, message in _FAILURES:
        if isinstance(error, kind):
            found = _OPCODE_RE.search(str(error))
            if isinstance(error, InvalidInstruction) and found:
                return f"{message}: {found.group(0)}"
            return message
    return f"execution failed: {type(error).__name__}"


# geth's messages (core/vm/errors.go) for py-evm's exceptional halts.
_FAILURES: Final[tuple[tuple[type[Exception], str], ...]] = (
    (OutOfGas, "out of gas"),
    (InvalidInstruction, "invalid opcode"),
    (InvalidJumpDestination, "invalid jump destination"),
    (InsufficientStack, "stack underflow"),
    (FullStack, "stack limit reached 1024"),
    (StackDepthLimit, "max call depth exceeded"),
    (WriteProtection, "write protection"),
    (ContractCreationCollision, "contract address collision"),
)


def _revert_reason(output: bytes) -> str | None:
    if len(output) >= 68 and output[:4] == bytes.fromhex("08c379a0"):
        try:
            length = int.from_bytes(output[36:68], "big")
            return output[68 : 68 + length].decode("utf-8", errors="replace")
        except (ValueError, OverflowError):
            return None
    return None
