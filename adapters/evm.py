"""``EvmAdapter``: async access to an EVM chain over JSON-RPC.

Every node answer is treated as untrusted input:
- headers are parsed strictly and their hash is recomputed and compared with the claimed one;
- receipt proofs are built from all of the block's receipts and the rebuilt root must equal the
  header's receiptsRoot; account proofs are verified against the header's stateRoot;
- logs must fall in the asked range and match the filter.
A failed check raises ``RpcResponseInvalid`` and the data is never returned. (``call`` is the
exception: an ``eth_call`` result cannot be checked, so it is the node's word.)

The JSON-RPC transport (bounded answers, typed errors, retries, failover across endpoints) is
``adapters.rpc.transport``; submissions (one writer per signer, the journal, fee bumping) are
``adapters.rpc.submit``. This module is the adapter itself: headers, events, proofs, calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from eth_utils.address import to_checksum_address
from pydantic import Field, Strict

from adapters.base import (
    AccountState,
    AdapterClosed,
    BadRequest,
    CallReverted,
    Capabilities,
    ChainEvent,
    EventQuery,
    FinalityKind,
    TransactionNotFound,
    TxReceipt,
    TxRequest,
    check_bytes,
    check_height,
)
from adapters.configmodel import (
    ConfigModel,
    FinalityField,
    HttpUrlStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from adapters.errors import (
    ConfigError,
    DecodeError,
    NotYetAvailable,
    ProofInvalid,
    RpcError,
    RpcResponseInvalid,
    TransactionFailed,
)
from adapters.headers import Header, header_from_rpc, header_hash
from adapters.lightclient.headerchain import ChainLink
from adapters.mpt import account_proof_from_rpc, verify_account_proof_result
from adapters.rawtx import WrongChainTransaction, decode_raw_transaction
from adapters.receipts import BlockReceipts, ProvenLog, ReceiptProof, receipt_from_rpc
from adapters.retry import RetryPolicy
from adapters.rpc.answers import (
    as_object,
    field,
    has_hint,
    hexstr,
    object_or_none,
    optional_address,
    parse_data,
    parse_quantity,
)
from adapters.rpc.submit import (
    Dropped,
    Failed,
    FeeMarket,
    InMemoryJournal,
    Mined,
    NonceConflict,
    SentTx,
    SignerWriter,
    SubmitPolicy,
    TxChain,
    TxJournal,
)
from adapters.rpc.transport import (
    INVALID_PARAMS,
    LIMIT_EXCEEDED,
    LOG_RANGE_HINTS,
    MAX_RPC_RESPONSE_BYTES,
    METHOD_NOT_FOUND,
    RpcObserver,
    RpcTransport,
    redact_url,
    revert_data,
)
from adapters.signer import SignedTx, Signer
from adapters.types import (
    Address,
    ChainId,
    ChainRef,
    Finality,
    FinalityTag,
    Hash32,
    Height,
    TxHash,
)
from contracts import decode_error

__all__ = [
    "MAX_RPC_RESPONSE_BYTES",
    "Block",
    "EvmAdapter",
    "EvmConfig",
    "parse_data",
    "parse_quantity",
    "redact_url",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


# --- config ------------------------------------------------------------------------------------


class EvmConfig(ConfigModel):
    """Settings of one ``EvmAdapter``; built by ``adapters.registry`` from the app config.

    A frozen pydantic model: invalid values raise ``ConfigError`` naming the key."""

    kind: Literal["evm"] = "evm"  # the discriminator of adapters.registry
    rpc_url: HttpUrlStr
    # More endpoints of the same chain, tried in order when rpc_url fails (failover).
    fallback_rpc_urls: tuple[HttpUrlStr, ...] = ()
    chain_id: Annotated[ChainId, Strict(), Field(ge=1)]
    finality: FinalityField  # what "final" means on this chain; required, never a hidden "latest"
    name: str = ""
    request_timeout_s: PositiveFloat = 10.0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_log_range: PositiveInt = 2_000  # blocks per eth_getLogs call (public providers cap this)
    poll_interval_s: PositiveFloat = 1.0  # wait_final polling
    gas_margin_pct: NonNegativeInt = 20  # added to eth_estimateGas
    # Used when the node lacks eth_maxPriorityFeePerGas.
    default_priority_fee_wei: NonNegativeInt = 1_000_000_000
    # Per-tx receipt fetches in flight when the node lacks eth_getBlockReceipts.
    receipt_concurrency: PositiveInt = 8
    fee_cache_s: NonNegativeFloat = 1.0  # reuse a fee quote this long (0: ask every time)


# --- the adapter -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """A fetched block: its strictly parsed header, the hash recomputed by the chain's rule,
    and its transaction hashes in order."""

    header: Header
    hash: Hash32
    tx_hashes: tuple[TxHash, ...]


class EvmAdapter:
    """A ``ChainAdapter`` for plain EVM chains (Ethereum, L2s, anvil, the plain devnet).

    ``journal`` records every transaction before it is broadcast (default: in memory, so a
    crash loses track of them); ``submit_policy`` says when a stuck transaction is replaced
    with higher fees; ``observer`` sees every JSON-RPC request (metrics).
    """

    # Profile attributes (rule 10): subclasses override these, not the methods' bodies.
    finality_kind: ClassVar[FinalityKind | None] = None  # None: derived from config.finality
    poa: ClassVar[bool] = False
    chain_kind: ClassVar[Literal["qbft", "evm"]] = "evm"

    def __init__(
        self,
        config: EvmConfig,
        signers: Sequence[Signer] = (),
        *,
        journal: TxJournal | None = None,
        submit_policy: SubmitPolicy | None = None,
        observer: RpcObserver | None = None,
    ) -> None:
        self._config = config
        self._ref = ChainRef(
            chain_id=config.chain_id,
            name=config.name or f"chain-{config.chain_id}",
            kind=self.chain_kind,
        )
        self._transport = RpcTransport(
            (config.rpc_url, *config.fallback_rpc_urls),
            chain_id=config.chain_id,
            timeout_s=config.request_timeout_s,
            retry=config.retry,
            observer=observer,
        )
        self._txs = TxChain(
            self._transport,
            gas_margin_pct=config.gas_margin_pct,
            default_priority_fee_wei=config.default_priority_fee_wei,
            fee_cache_s=config.fee_cache_s,
        )
        self._block_receipts_supported: bool | None = None
        policy = submit_policy if submit_policy is not None else SubmitPolicy()
        tx_journal = journal if journal is not None else InMemoryJournal()
        self._writers: dict[Address, SignerWriter] = {}
        for s in signers:
            if s.address in self._writers:
                raise ConfigError("the same signer was given twice", address=s.address)
            self._writers[s.address] = SignerWriter(
                self._txs,
                s,
                chain_id=config.chain_id,
                journal=tx_journal,
                policy=policy,
                is_final=self._mined_is_final,
            )
        self._default_sender: Address | None = signers[0].address if signers else None
        self._tasks: list[asyncio.Task[None]] = []
        self._state = "new"  # new -> running -> closed

    # -- identity ---------------------------------------------------------------------------

    @property
    def ref(self) -> ChainRef:
        return self._ref

    @property
    def config(self) -> EvmConfig:
        return self._config

    @property
    def finality(self) -> Finality:
        return self._config.finality

    @property
    def capabilities(self) -> Capabilities:
        kind = self.finality_kind
        if kind is None:
            kind = FinalityKind.TAG if self._config.finality.tag else FinalityKind.DEPTH
        return Capabilities(finality=kind, eip1559=self._txs.eip1559, poa=self.poa)

    @property
    def signers(self) -> tuple[Address, ...]:
        return tuple(self._writers)

    def __repr__(self) -> str:
        url = redact_url(self._config.rpc_url)
        return f"{type(self).__name__}(chain_id={self._ref.chain_id}, url={url})"

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> EvmAdapter:
        try:
            await self.start()
        except BaseException:
            await self.aclose()  # the HTTP session exists from construction: close it too
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Check that the node serves the configured chain, resume each signer's open
        transactions from the journal, then start one writer task per signer."""
        if self._state != "new":
            raise AdapterClosed("adapter can be started once", state=self._state)
        chain_id = await self._call("eth_chainId", [], lambda r: parse_quantity(r, "chainId"))
        if chain_id != self._config.chain_id:
            raise ConfigError(
                "node serves another chain", expected=self._config.chain_id, got=chain_id
            )
        latest = await self._call("eth_getBlockByNumber", ["latest", False], object_or_none)
        if latest is not None:
            self._txs.eip1559 = latest.get("baseFeePerGas") is not None
        await self._on_start()
        for writer in self._writers.values():
            await writer.resume()
        for address, writer in self._writers.items():
            self._tasks.append(
                asyncio.create_task(
                    writer.run(), name=f"writer-{self._ref.chain_id}-{address.hex()}"
                )
            )
        self._state = "running"

    async def _on_start(self) -> None:
        """Profile hook, run after the chain id check (QBFT: bootstrap the light client)."""

    async def aclose(self) -> None:
        """Stop the writers (queued submissions fail with ``AdapterClosed``; transactions in
        flight stay open in the journal) and close HTTP."""
        if self._state == "closed":
            return
        self._state = "closed"
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for writer in self._writers.values():
            writer.close(AdapterClosed("adapter closed before the submission was sent"))
        await self._transport.aclose()

    # -- JSON-RPC plumbing ------------------------------------------------------------------

    async def _rpc(self, method: str, params: Sequence[Any]) -> Any:
        """One JSON-RPC request (no retry). Every failure becomes an ``adapters.errors`` type."""
        return await self._transport.request(method, params)

    async def _call(self, method: str, params: Sequence[Any], parse: Callable[[Any], T]) -> T:
        """``_rpc`` + parse, retried as a unit under the policy (a garbage answer is retried)."""
        return await self._transport.call(method, params, parse)

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        return await self._transport.retrying(what, operation)

    # -- heights and headers ----------------------------------------------------------------

    def node_tag(self, tag: str) -> str:
        """The block tag sent to the node for a finality tag (profiles may remap it)."""
        return tag

    async def height(self, finality: Finality) -> Height:
        if not isinstance(finality, Finality):
            raise BadRequest("height() needs a Finality", finality=finality)
        if finality.tag is not None:
            tag = self.node_tag(finality.tag)
            if tag == "latest":
                return await self._head()
            block = await self._call("eth_getBlockByNumber", [tag, False], object_or_none)
            if block is None:
                raise NotYetAvailable("no block at this finality yet", tag=finality.tag)
            return Height(parse_quantity(field(block, "number", "block"), "block.number", 64))
        assert finality.depth is not None
        head = await self._head()
        if head < finality.depth:
            raise NotYetAvailable(
                "chain is shorter than the confirmation depth", head=head, depth=finality.depth
            )
        return Height(head - finality.depth)

    async def _head(self) -> Height:
        return Height(
            await self._call("eth_blockNumber", [], lambda r: parse_quantity(r, "blockNumber", 64))
        )

    def block_hash(self, header: Header) -> Hash32:
        """The chain's block-hash rule: keccak of the RLP header (QBFT overrides)."""
        return header_hash(header)

    async def _check_consensus(self, header: Header, block_hash: Hash32) -> None:
        """Profile hook: consensus checks beyond the hash (QBFT: commit seals). May fetch
        more headers (light-client bisection), hence async."""

    async def header(self, height: Height) -> Header:
        check_height(height, "height")
        block = await self._retrying("header", lambda: self._block_once(height))
        return block.header

    async def header_link(self, block: Height | FinalityTag) -> ChainLink:
        """The header at a height, or at a node tag, together with its checked hash (the
        input of a header follower, which needs the hash to check linkage). Retried as
        ``header``; ``NotYetAvailable`` when the node has no such block (yet)."""
        ref: int | str
        if isinstance(block, str):
            if block not in ("latest", "safe", "finalized"):
                raise BadRequest("unknown block tag", tag=block)
            ref = self.node_tag(block)
        else:
            check_height(block, "height")
            ref = block
        found = await self._retrying("header", lambda: self._block_once(ref))
        return ChainLink(found.header, found.hash)

    async def _block_once(self, height: int | str) -> Block:
        """Fetch block ``height`` (or a node tag) and check it, including the profile's
        consensus rules. No retry here (callers retry the whole operation)."""
        block = await self._fetch_block(height)
        await self._check_consensus(block.header, block.hash)
        return block

    async def _fetch_block(self, height: int | str) -> Block:
        """Fetch block ``height`` (or a node tag): strict parse, number (when asked by
        number), recomputed hash, tx hash list."""
        ref = height if isinstance(height, str) else hex(height)
        raw = object_or_none(await self._rpc("eth_getBlockByNumber", [ref, False]))
        if raw is None:
            raise NotYetAvailable("block does not exist yet", height=height)
        try:
            header = header_from_rpc(raw)
        except DecodeError as exc:
            raise RpcResponseInvalid(
                "node sent a malformed header", height=height, reason=exc.message, **exc.context
            ) from exc
        if not isinstance(height, str) and header.number != height:
            raise RpcResponseInvalid(
                "node sent another block than asked", height=height, got=header.number
            )
        claimed = Hash32(parse_data(field(raw, "hash", "block"), "block.hash", 32))
        computed = self.block_hash(header)
        if computed != claimed:
            raise RpcResponseInvalid(
                "header does not hash to the hash the node claims",
                height=height,
                claimed=claimed,
                computed=computed,
            )
        txs = field(raw, "transactions", "block")
        if not isinstance(txs, list):
            raise RpcResponseInvalid("block transactions is not a list", height=height)
        tx_hashes = tuple(
            TxHash(parse_data(t, f"block.transactions[{i}]", 32)) for i, t in enumerate(txs)
        )
        return Block(header=header, hash=computed, tx_hashes=tx_hashes)

    # -- events -----------------------------------------------------------------------------

    async def events(self, query: EventQuery, start: Height, end: Height) -> Sequence[ChainEvent]:
        if not isinstance(query, EventQuery):
            raise BadRequest("events() needs an EventQuery", query=query)
        check_height(start, "start")
        check_height(end, "end")
        if start > end:
            raise BadRequest("event range is empty: start > end", start=start, end=end)
        head = await self._head()
        if end > head:
            # A node silently clamps toBlock to its head; scanning "up to end" would then
            # skip the blocks between head and end for good.
            raise NotYetAvailable("event range ends beyond the head", end=end, head=head)
        out: list[ChainEvent] = []
        step = self._config.max_log_range
        for chunk_start in range(start, end + 1, step):
            chunk_end = min(chunk_start + step - 1, end)
            out.extend(await self._logs(query, chunk_start, chunk_end))
        return tuple(out)

    async def _logs(self, query: EventQuery, start: int, end: int) -> list[ChainEvent]:
        params: dict[str, Any] = {"fromBlock": hex(start), "toBlock": hex(end)}
        if query.addresses:
            params["address"] = [to_checksum_address(a) for a in query.addresses]
        if query.topics:
            params["topics"] = [
                None if opts is None else [hexstr(t) for t in opts] for opts in query.topics
            ]
        try:
            return await self._call(
                "eth_getLogs", [params], lambda r: self._parse_logs(r, query, start, end)
            )
        except RpcError as exc:
            # Providers cap ranges/result sizes differently; halve until the node accepts.
            message = str(exc.context.get("rpc_message", ""))
            if end > start and (
                exc.context.get("code") == LIMIT_EXCEEDED or has_hint(message, LOG_RANGE_HINTS)
            ):
                middle = (start + end) // 2
                return await self._logs(query, start, middle) + await self._logs(
                    query, middle + 1, end
                )
            raise

    def _parse_logs(self, result: Any, query: EventQuery, start: int, end: int) -> list[ChainEvent]:
        if not isinstance(result, list):
            raise RpcResponseInvalid("eth_getLogs answer is not a list")
        events = []
        for i, raw_log in enumerate(result):
            entry = as_object(raw_log, f"logs[{i}]")
            if entry.get("removed") is True:
                continue
            event = self._event_from_rpc(entry, f"logs[{i}]")
            if not start <= event.block_number <= end:
                raise RpcResponseInvalid(
                    "node sent a log outside the asked range",
                    block=event.block_number,
                    start=start,
                    end=end,
                )
            if not query.matches(event.address, event.topics):
                raise RpcResponseInvalid("node sent a log that does not match the filter")
            events.append(event)
        events.sort(key=lambda e: (e.block_number, e.block_log_index))
        return events

    def _event_from_rpc(self, entry: Mapping[str, Any], what: str) -> ChainEvent:
        topics = field(entry, "topics", what)
        if not isinstance(topics, list) or len(topics) > 4:
            raise RpcResponseInvalid("log topics must be a list of at most 4", field=what)
        return ChainEvent(
            chain_id=self._ref.chain_id,
            block_number=Height(parse_quantity(field(entry, "blockNumber", what), what, 64)),
            block_hash=Hash32(parse_data(field(entry, "blockHash", what), what, 32)),
            tx_hash=TxHash(parse_data(field(entry, "transactionHash", what), what, 32)),
            tx_index=parse_quantity(field(entry, "transactionIndex", what), what, 64),
            block_log_index=parse_quantity(field(entry, "logIndex", what), what, 64),
            address=Address(parse_data(field(entry, "address", what), what, 20)),
            topics=tuple(parse_data(t, f"{what}.topics", 32) for t in topics),
            data=parse_data(field(entry, "data", what), f"{what}.data"),
        )

    # -- calls ------------------------------------------------------------------------------

    async def call(
        self,
        to: Address,
        data: bytes,
        *,
        finality: Finality | None = None,
        height: Height | None = None,
        sender: Address | None = None,
        gas: int | None = None,
    ) -> bytes:
        """``eth_call`` of ``data`` on ``to`` in the state of exactly one of ``finality`` (the
        block at that finality) or ``height``. Returns the call's output; ``CallReverted`` with
        the revert data, decoded when an artifact declares the error, if it reverts."""
        check_bytes(to, 20, "to")
        if not isinstance(data, bytes):
            raise BadRequest("call data must be bytes")
        if sender is not None:
            check_bytes(sender, 20, "sender")
        if gas is not None and (isinstance(gas, bool) or not isinstance(gas, int) or gas <= 0):
            raise BadRequest("gas must be a positive integer", gas=gas)
        block = await self._block_param(finality, height)
        params: dict[str, Any] = {"to": to_checksum_address(to), "data": hexstr(data)}
        if sender is not None:
            params["from"] = to_checksum_address(sender)
        if gas is not None:
            params["gas"] = hex(gas)

        async def once() -> bytes:
            try:
                result = await self._rpc("eth_call", [params, block])
            except RpcError as exc:
                revert = revert_data(exc)
                if revert is None:
                    raise
                decoded = decode_error(revert)
                raise CallReverted(
                    "call reverted" + (f" with {decoded.name}" if decoded is not None else ""),
                    data=revert,
                    decoded=decoded,
                    to=to,
                    block=block,
                    rpc_message=exc.context.get("rpc_message"),
                ) from exc
            return parse_data(result, "eth_call result")

        return await self._retrying("eth_call", once)

    async def _block_param(self, finality: Finality | None, height: Height | None) -> str:
        """The block parameter of a state query: a node tag or a hex height (style rule 2:
        the caller names it, there is no default)."""
        if (finality is None) == (height is None):
            raise BadRequest("name exactly one of finality or height")
        if height is not None:
            check_height(height, "height")
            return hex(height)
        if not isinstance(finality, Finality):
            raise BadRequest("finality must be a Finality", finality=finality)
        if finality.tag is not None:
            return self.node_tag(finality.tag)
        return hex(await self.height(finality))

    # -- receipts and proofs ----------------------------------------------------------------

    async def _missing_tx(self, tx_hash: TxHash) -> NotYetAvailable:
        """The error for "no receipt": pending (NotYetAvailable) or unknown to the node."""
        if not await self._txs.tx_known(tx_hash):
            return TransactionNotFound("node knows no such transaction", tx_hash=tx_hash)
        return NotYetAvailable("transaction is not mined yet", tx_hash=tx_hash)

    async def receipt_proof(self, tx_hash: TxHash) -> ReceiptProof:
        check_bytes(tx_hash, 32, "tx_hash")

        async def once() -> ReceiptProof:
            block, index = await self._tx_block(tx_hash)
            receipts, _ = await self._receipt_set(block)
            return _checked(receipts.proof(index))

        return await self._retrying("receipt proof", once)

    async def proven_log(self, tx_hash: TxHash, block_log_index: int) -> ProvenLog:
        """The log at ``block_log_index`` (its position among all logs of the block, as
        ``ChainEvent.block_log_index``) with the proof of its receipt and its position in the
        receipt (``receipt_log_index``, what ``BridgeEndpoint.deliver`` takes). ``BadRequest``
        when the transaction emitted no log at that position."""
        check_bytes(tx_hash, 32, "tx_hash")
        check_height(block_log_index, "block_log_index")

        async def once() -> ProvenLog:
            block, index = await self._tx_block(tx_hash)
            receipts, raw = await self._receipt_set(block)
            proven = receipts.proven_log(block_log_index)
            if proven is None or proven.proof.tx_index != index:
                raise BadRequest(
                    "the transaction emitted no log with this index",
                    tx_hash=tx_hash,
                    block_log_index=block_log_index,
                )
            _check_log_index(raw, proven)
            _checked(proven.proof)
            return proven

        return await self._retrying("receipt proof", once)

    async def receipt_proofs(
        self, block_number: Height, tx_indexes: Sequence[int]
    ) -> dict[int, ReceiptProof]:
        """Proofs of the receipts at ``tx_indexes`` of block ``block_number``, built from ONE
        fetch of the block's receipts and one trie (a relayer proves many messages of one
        block). The proofs name the block's hash: compare it with the events' block hash."""
        check_height(block_number, "block_number")
        wanted = _indexes(tx_indexes, "tx_indexes")

        async def once() -> dict[int, ReceiptProof]:
            block = await self._block_once(block_number)
            receipts, _ = await self._receipt_set(block)
            for i in wanted:
                if i >= len(receipts):
                    raise BadRequest(
                        "block has no transaction at this index", height=block_number, index=i
                    )
            return {i: _checked(receipts.proof(i)) for i in wanted}

        return await self._retrying("receipt proofs", once)

    async def proven_logs(
        self, block_number: Height, block_log_indexes: Sequence[int]
    ) -> dict[int, ProvenLog]:
        """``proven_log`` for several logs of one block (by their block-wide index), from ONE
        fetch of the block's receipts and one trie."""
        check_height(block_number, "block_number")
        wanted = _indexes(block_log_indexes, "block_log_indexes")

        async def once() -> dict[int, ProvenLog]:
            block = await self._block_once(block_number)
            receipts, raw = await self._receipt_set(block)
            out: dict[int, ProvenLog] = {}
            for i in wanted:
                proven = receipts.proven_log(i)
                if proven is None:
                    raise BadRequest(
                        "block has no log at this index", height=block_number, block_log_index=i
                    )
                _check_log_index(raw, proven)
                out[i] = proven
            for proof in {p.proof.tx_index: p.proof for p in out.values()}.values():
                _checked(proof)
            return out

        return await self._retrying("receipt proofs", once)

    async def _tx_block(self, tx_hash: TxHash) -> tuple[Block, int]:
        """The canonical, checked block holding ``tx_hash``, and the transaction's index."""
        receipt = await self._txs.receipt_json(tx_hash)
        if receipt is None:
            raise await self._missing_tx(tx_hash)
        number = parse_quantity(field(receipt, "blockNumber", "receipt"), "blockNumber", 64)
        claimed_block = parse_data(field(receipt, "blockHash", "receipt"), "blockHash", 32)
        index = parse_quantity(field(receipt, "transactionIndex", "receipt"), "transactionIndex")
        block = await self._block_once(number)
        if block.hash != claimed_block:
            raise RpcResponseInvalid(
                "receipt's block is not the canonical block at its height (reorg?)",
                height=number,
                receipt_block=claimed_block,
                canonical=block.hash,
            )
        if index >= len(block.tx_hashes) or block.tx_hashes[index] != tx_hash:
            raise RpcResponseInvalid(
                "receipt's transaction index does not match the block", index=index
            )
        return block, index

    async def _receipt_set(self, block: Block) -> tuple[BlockReceipts, list[Mapping[str, Any]]]:
        """Every receipt of ``block`` in one trie, whose root must be the header's
        receiptsRoot; and the raw receipts (for the node's log indexes)."""
        raw = await self._block_receipts(block)
        try:
            receipts = BlockReceipts(
                block.hash,
                block.header.number,
                block.header.receipts_root,
                [receipt_from_rpc(r) for r in raw],
            )
        except DecodeError as exc:
            raise RpcResponseInvalid(
                "node sent a malformed receipt", height=block.header.number, reason=exc.message
            ) from exc
        except ProofInvalid as exc:
            raise RpcResponseInvalid(exc.message, **exc.context) from exc
        return receipts, raw

    async def _block_receipts(self, block: Block) -> list[Mapping[str, Any]]:
        """All receipts of ``block`` in order, each checked to belong to it."""
        number = block.header.number
        receipts: list[Any] | None = None
        if self._block_receipts_supported is not False:
            try:
                result = await self._rpc("eth_getBlockReceipts", [hex(number)])
            except RpcError as exc:
                if exc.context.get("code") not in (METHOD_NOT_FOUND, INVALID_PARAMS):
                    raise
                self._block_receipts_supported = False
            else:
                self._block_receipts_supported = True
                if not isinstance(result, list):
                    raise RpcResponseInvalid("eth_getBlockReceipts answer is not a list")
                receipts = result
        if receipts is None:
            gate = asyncio.Semaphore(self._config.receipt_concurrency)

            async def one(tx_hash: TxHash) -> Mapping[str, Any]:
                async with gate:
                    r = await self._txs.receipt_json(tx_hash)
                if r is None:
                    raise RpcResponseInvalid("node lost a mined receipt", tx_hash=tx_hash)
                return r

            receipts = list(await asyncio.gather(*(one(h) for h in block.tx_hashes)))
        if len(receipts) != len(block.tx_hashes):
            raise RpcResponseInvalid(
                "receipt count differs from the block's transaction count",
                receipts=len(receipts),
                transactions=len(block.tx_hashes),
            )
        checked: list[Mapping[str, Any]] = []
        for i, (raw, tx_hash) in enumerate(zip(receipts, block.tx_hashes, strict=True)):
            r = as_object(raw, f"receipts[{i}]")
            if (
                parse_data(field(r, "transactionHash", "receipt"), "transactionHash", 32) != tx_hash
                or parse_data(field(r, "blockHash", "receipt"), "blockHash", 32) != block.hash
                or parse_quantity(field(r, "transactionIndex", "receipt"), "transactionIndex") != i
            ):
                raise RpcResponseInvalid("block receipts are out of place", index=i)
            checked.append(r)
        return checked

    async def account_proof(
        self, address: Address, slots: Sequence[int], height: Height
    ) -> AccountState:
        check_bytes(address, 20, "address")
        check_height(height, "height")
        for slot in slots:
            if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < 2**256:
                raise BadRequest("storage slot must be an integer in [0, 2**256)", slot=slot)
        return await self._retrying(
            "account proof", lambda: self._account_proof_once(address, tuple(slots), height)
        )

    async def _account_proof_once(
        self, address: Address, slots: tuple[int, ...], height: int
    ) -> AccountState:
        block = await self._block_once(height)
        result = await self._rpc(
            "eth_getProof",
            [
                to_checksum_address(address),
                [hexstr(s.to_bytes(32, "big")) for s in slots],
                hex(height),
            ],
        )
        try:
            proof = account_proof_from_rpc(as_object(result, "proof"))
        except DecodeError as exc:
            raise RpcResponseInvalid(
                "node sent a malformed eth_getProof answer", reason=exc.message, **exc.context
            ) from exc
        if proof.address != address:
            raise RpcResponseInvalid("node proved another account", got=proof.address)
        if tuple(e.slot for e in proof.storage_proofs) != slots:
            raise RpcResponseInvalid("node proved other storage slots than asked")
        try:
            account = verify_account_proof_result(block.header.state_root, proof)
        except (ProofInvalid, DecodeError) as exc:
            raise RpcResponseInvalid(
                "account proof does not verify against the header's stateRoot",
                height=height,
                reason=exc.message,
            ) from exc
        return AccountState(
            address=address,
            height=Height(height),
            block_hash=block.hash,
            state_root=Hash32(block.header.state_root),
            account=account,
            storage=tuple((e.slot, e.value) for e in proof.storage_proofs),
            proof=proof,
        )

    # -- transactions -----------------------------------------------------------------------

    def writer(self, sender: Address | None = None) -> SignerWriter:
        """The single writer of ``sender`` (default: the first signer). Its ``submit(call,
        purpose=..., refs=...)`` returns a ``SentTx`` to follow with ``wait_mined``."""
        if self._state != "running":
            raise AdapterClosed(
                "adapter is not running; use `async with adapter:`", state=self._state
            )
        address = sender if sender is not None else self._default_sender
        if address is None:
            raise BadRequest("adapter has no signer")
        writer = self._writers.get(address)
        if writer is None:
            raise BadRequest("no signer for this sender", sender=address)
        return writer

    async def submit(self, call: TxRequest) -> TxHash:
        """Sign and send through the sender's writer; the first attempt's hash (``wait_final``
        follows fee-bumped replacements of it)."""
        if not isinstance(call, TxRequest):
            raise BadRequest("submit() needs a TxRequest", call=call)
        sent = await self.writer(call.sender).submit(call)
        return sent.tx_hash

    async def estimate_gas(self, call: TxRequest, sender: Address) -> int:
        """``eth_estimateGas`` of ``call`` sent by ``sender`` (no signer needed: the gas limit
        of a transaction built for someone's wallet), plus the chain's ``gas_margin_pct``.
        ``TransactionFailed`` (with the revert data and its decoded error) when the node says
        it would fail."""
        if not isinstance(call, TxRequest):
            raise BadRequest("estimate_gas() needs a TxRequest", call=call)
        check_bytes(sender, 20, "sender")
        return await self._txs.estimate_gas(call, sender)

    async def fee_market(self) -> FeeMarket:
        """The chain's fee market read now at its latest block: the base fee and the fees
        this adapter's writers would send a transaction with (the same rule; no signer
        needed)."""
        return await self._txs.fee_market()  # each node call retried by the transport

    async def receipt(self, tx_hash: TxHash) -> TxReceipt | None:
        """The transaction's receipt at the node's head (not waiting for finality), None
        when it is not mined."""
        check_bytes(tx_hash, 32, "tx_hash")
        return await self._retrying("receipt", lambda: self._mined_receipt(tx_hash))

    async def pending_nonce(self, sender: Address) -> int:
        """The sender's next nonce, counting the node's pending transactions."""
        return await self._txs.nonce(sender, "pending")

    async def mined_nonce(self, sender: Address) -> int:
        """The sender's next nonce counting only mined transactions (every lower one is used)."""
        return await self._txs.nonce(sender, "latest")

    async def code(self, address: Address) -> bytes:
        """The contract code at ``address`` in the latest block (empty: no contract)."""
        check_bytes(address, 20, "address")
        return await self._call(
            "eth_getCode",
            [to_checksum_address(address), "latest"],
            lambda r: parse_data(r, "code"),
        )

    async def balance(self, address: Address, finality: Finality) -> int:
        """The account's balance in wei at ``finality`` (the signers' gas money, for metrics)."""
        check_bytes(address, 20, "address")
        block = await self._block_param(finality, None)
        return await self._call(
            "eth_getBalance",
            [to_checksum_address(address), block],
            lambda r: parse_quantity(r, "balance"),
        )

    async def transaction_known(self, tx_hash: TxHash) -> bool:
        """Whether the node has the transaction, pending or mined."""
        check_bytes(tx_hash, 32, "tx_hash")
        return await self._retrying("transaction", lambda: self._txs.tx_known(tx_hash))

    async def send_raw_transaction(self, raw: bytes) -> TxHash:
        """Forward a transaction signed elsewhere (a user's wallet): decoded first
        (``InvalidRawTransaction`` for anything that is not a signed transaction with a chain
        id, ``WrongChainTransaction`` when it is for another chain), then broadcast. Its hash;
        ``TransactionFailed`` when the node refuses it (nonce used, funds, fees ...)."""
        tx = decode_raw_transaction(raw)
        if tx.chain_id != self._ref.chain_id:
            raise WrongChainTransaction(
                "transaction signed for another chain",
                chain_id=tx.chain_id,
                expected=self._ref.chain_id,
            )
        try:
            await self._txs.broadcast(SignedTx(raw=tx.raw, tx_hash=tx.tx_hash))
        except NonceConflict as exc:
            raise TransactionFailed(
                "node rejected the transaction: its nonce is used",
                tx_hash=tx.tx_hash,
                rpc_message=str(exc),
            ) from exc
        return tx.tx_hash

    async def wait_mined(
        self,
        sent: SentTx,
        finality: Finality,
        timeout: float,  # noqa: ASYNC109 - a per-call deadline, as wait_final
    ) -> TxReceipt:
        """The receipt of whichever attempt of ``sent``'s nonce got mined (the first, or a
        fee-bumped replacement), once final at ``finality``. ``TransactionFailed`` if it
        reverted or the nonce went to a transaction none of ours; ``NotYetAvailable`` on
        timeout."""
        if not isinstance(sent, SentTx):
            raise BadRequest("wait_mined() needs a SentTx", sent=sent)
        if sent.chain_id != self._ref.chain_id:
            raise BadRequest("transaction of another chain", chain_id=sent.chain_id)
        if not isinstance(finality, Finality):
            raise BadRequest("wait_mined() needs a Finality", finality=finality)
        writer = self._writers.get(sent.sender)
        if writer is None or not writer.attempts_of(sent):
            # Not sent by this adapter's writers (another process): only its own hash.
            return await self._wait(
                lambda: self._final_receipt(sent.tx_hash, finality), sent.tx_hash, timeout
            )

        async def poll() -> TxReceipt | None:
            outcome = writer.outcome_of(sent)
            if isinstance(outcome, Dropped | Failed):
                raise TransactionFailed(
                    f"transaction not mined: {outcome.reason}",
                    tx_hash=sent.tx_hash,
                    sender=sent.sender,
                    nonce=sent.nonce,
                )
            for tx_hash in reversed(writer.attempts_of(sent)):
                receipt = await self._retrying("receipt", partial(self._mined_receipt, tx_hash))
                if receipt is not None:
                    final = await self._final_at(receipt.block_number, receipt.block_hash, finality)
                    return receipt if final else None
            return None

        return await self._wait(poll, sent.tx_hash, timeout)

    async def wait_final(
        self,
        tx_hash: TxHash,
        finality: Finality,
        timeout: float,  # noqa: ASYNC109 - the ChainAdapter role takes a per-call deadline
    ) -> TxReceipt:
        """Wait until the transaction is mined at ``finality``. A transaction this adapter
        sent is followed through its fee-bumped replacements (as ``wait_mined``)."""
        check_bytes(tx_hash, 32, "tx_hash")
        if not isinstance(finality, Finality):
            raise BadRequest("wait_final() needs a Finality", finality=finality)
        for writer in self._writers.values():
            sent = writer.sent_of(tx_hash)
            if sent is not None:
                return await self.wait_mined(sent, finality, timeout)
        return await self._wait(lambda: self._final_receipt(tx_hash, finality), tx_hash, timeout)

    async def _wait(
        self,
        poll: Callable[[], Awaitable[TxReceipt | None]],
        tx_hash: TxHash,
        timeout: float,  # noqa: ASYNC109
    ) -> TxReceipt:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    receipt = await poll()
                    if receipt is not None:
                        break
                    await asyncio.sleep(self._config.poll_interval_s)
        except TimeoutError:
            raise NotYetAvailable(
                "transaction not final before the timeout", tx_hash=tx_hash, timeout=timeout
            ) from None
        if receipt.status != 1:
            reason = "transaction reverted" if receipt.status == 0 else "transaction status unknown"
            raise TransactionFailed(reason, tx_hash=receipt.tx_hash, receipt=receipt)
        return receipt

    async def _final_receipt(self, tx_hash: TxHash, finality: Finality) -> TxReceipt | None:
        """The receipt once its block is final and canonical; None while waiting."""
        receipt = await self._retrying("receipt", lambda: self._mined_receipt(tx_hash))
        if receipt is None:
            missing = await self._missing_tx(tx_hash)
            if isinstance(missing, TransactionNotFound):
                raise missing
            return None
        if not await self._final_at(receipt.block_number, receipt.block_hash, finality):
            return None
        return receipt

    async def _mined_receipt(self, tx_hash: TxHash) -> TxReceipt | None:
        raw = await self._txs.receipt_json(tx_hash)
        return None if raw is None else self._receipt_from_rpc(raw)

    async def _final_at(self, number: Height, block_hash: Hash32, finality: Finality) -> bool:
        """Whether block ``number`` is final at ``finality`` and still ``block_hash``."""
        try:
            final = await self.height(finality)
        except NotYetAvailable:
            return False
        if number > final:
            return False
        block = await self._retrying("header", lambda: self._block_once(number))
        return block.hash == block_hash  # else reorged out; it may be mined again elsewhere

    async def _mined_is_final(self, mined: Mined) -> bool:
        """For the writers: a mined attempt is settled once final at the chain's finality."""
        return await self._final_at(mined.block_number, mined.block_hash, self.finality)

    def _receipt_from_rpc(self, r: Mapping[str, Any]) -> TxReceipt:
        logs = field(r, "logs", "receipt")
        if not isinstance(logs, list):
            raise RpcResponseInvalid("receipt logs is not a list")
        status = r.get("status")
        return TxReceipt(
            chain_id=self._ref.chain_id,
            tx_hash=TxHash(parse_data(field(r, "transactionHash", "receipt"), "receipt", 32)),
            block_number=Height(parse_quantity(field(r, "blockNumber", "receipt"), "receipt", 64)),
            block_hash=Hash32(parse_data(field(r, "blockHash", "receipt"), "receipt", 32)),
            tx_index=parse_quantity(field(r, "transactionIndex", "receipt"), "receipt", 64),
            # Pre-Byzantium receipts have no status: STATUS_UNKNOWN, never success by default.
            status=parse_quantity(status, "receipt.status") if status is not None else -1,
            gas_used=parse_quantity(field(r, "gasUsed", "receipt"), "receipt.gasUsed", 64),
            effective_gas_price=parse_quantity(r.get("effectiveGasPrice", "0x0"), "receipt"),
            sender=Address(parse_data(field(r, "from", "receipt"), "receipt.from", 20)),
            to=optional_address(r.get("to"), "receipt.to"),
            contract_address=optional_address(r.get("contractAddress"), "receipt.contractAddress"),
            logs=tuple(
                self._event_from_rpc(as_object(entry, "log"), f"receipt.logs[{i}]")
                for i, entry in enumerate(logs)
            ),
        )


def _indexes(values: Sequence[int], what: str) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise BadRequest(f"{what} must be a sequence of indexes")
    for v in values:
        check_height(v, what)
    return tuple(dict.fromkeys(values))


def _checked(proof: ReceiptProof) -> ReceiptProof:
    """Cheap self-check: a proof handed out must verify."""
    try:
        proof.verify()
    except ProofInvalid as exc:
        raise RpcResponseInvalid("built receipt proof does not verify", reason=exc.message) from exc
    return proof


def _check_log_index(raw: Sequence[Mapping[str, Any]], proven: ProvenLog) -> None:
    """The node's ``logIndex`` of the proven log must be its position in the block: a node
    numbering logs per receipt would otherwise make callers prove the wrong log."""
    logs = field(raw[proven.proof.tx_index], "logs", "receipt")
    if not isinstance(logs, list) or len(logs) <= proven.receipt_log_index:
        raise RpcResponseInvalid("receipt logs differ from the proven receipt")
    entry = as_object(logs[proven.receipt_log_index], "log")
    claimed = parse_quantity(field(entry, "logIndex", "log"), "logIndex", 64)
    if claimed != proven.block_log_index:
        raise RpcResponseInvalid(
            "node's logIndex is not the log's position in the block",
            claimed=claimed,
            position=proven.block_log_index,
        )
