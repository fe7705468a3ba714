"""``EvmAdapter``: async access to an EVM chain over JSON-RPC (web3.py ``AsyncWeb3``).

Every node answer is treated as untrusted input:
- headers are parsed strictly and their hash is recomputed and compared with the claimed one;
- receipt proofs are built from all of the block's receipts and the rebuilt root must equal the
  header's receiptsRoot; account proofs are verified against the header's stateRoot;
- logs must fall in the asked range and match the filter.
A failed check raises ``RpcResponseInvalid`` and the data is never returned.

Transport, JSON-RPC and validation failures are converted to ``adapters.errors`` types in one
place (``_rpc``); web3 types never leave this module. Retries follow a ``RetryPolicy`` value.

Submissions: each signer has exactly one writer task (queue + task, started by ``async with``),
which owns that signer's nonce, so concurrent ``submit`` calls get consecutive nonces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any, ClassVar, Literal, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
from eth_typing import URI
from eth_utils.address import to_checksum_address
from pydantic import Field, Strict
from web3 import AsyncWeb3
from web3.exceptions import ProviderConnectionError, Web3Exception
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from adapters.base import (
    AccountState,
    AdapterClosed,
    BadRequest,
    Capabilities,
    ChainEvent,
    EventQuery,
    FinalityKind,
    TransactionNotFound,
    TxReceipt,
    TxRequest,
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
    RpcUnavailable,
    TransactionFailed,
    XgateError,
)
from adapters.headers import Header, header_from_rpc, header_hash
from adapters.jsonlimits import loads_bounded
from adapters.lightclient.headerchain import ChainLink
from adapters.mpt import account_proof_from_rpc, verify_account_proof_result
from adapters.receipts import OrderedTrie, ReceiptProof, encode_receipt, receipt_from_rpc
from adapters.retry import RetryPolicy
from adapters.rpcjson import rpc_data, rpc_quantity
from adapters.signer import SignedTx, Signer, UnsignedTx
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

__all__ = [
    "MAX_RPC_RESPONSE_BYTES",
    "EvmAdapter",
    "EvmConfig",
    "parse_data",
    "parse_quantity",
    "redact_url",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# JSON-RPC error codes with a meaning we act on.
_METHOD_NOT_FOUND = -32601
_LIMIT_EXCEEDED = -32005  # EIP-1474: "limit exceeded" (too many logs, rate limits)

_NONCE_CONFLICT_HINTS = (
    "nonce too low",
    "nonce has already been used",
    "replacement transaction underpriced",
    "already imported",
)
_ALREADY_KNOWN_HINTS = ("already known", "known transaction", "already exists")
_LOG_RANGE_HINTS = ("range", "too many", "limit", "exceed")

# Bounds on one JSON-RPC answer (adapters.jsonlimits): a full block's receipts or a node-capped
# eth_getLogs page is a few MB; real answers nest < 10 deep.
MAX_RPC_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_RPC_JSON_DEPTH = 64


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


# --- parsing node answers ----------------------------------------------------------------------


def parse_quantity(value: Any, what: str, bits: int = 256) -> int:
    """A JSON-RPC quantity ("0x1a"); ``RpcResponseInvalid`` for anything else."""
    try:
        return rpc_quantity(value, what, bits)
    except DecodeError as exc:
        raise _malformed(exc, value) from None


def parse_data(value: Any, what: str, size: int | None = None) -> bytes:
    """JSON-RPC data ("0x..." even-length hex), optionally of an exact byte size."""
    try:
        return rpc_data(value, what, size)
    except DecodeError as exc:
        raise _malformed(exc, value) from None


def _malformed(exc: DecodeError, value: Any) -> RpcResponseInvalid:
    return RpcResponseInvalid(
        f"node sent a malformed value: {exc.message}", value=_clip(value), **exc.context
    )


def redact_url(url: str) -> str:
    """scheme://host[:port] only: provider URLs often carry an API key in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def _clip(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RpcResponseInvalid("node sent a non-object where an object belongs", field=what)
    return value


def _get(obj: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in obj:
        raise RpcResponseInvalid("node answer lacks a field", field=f"{what}.{key}")
    return obj[key]


def _opt_address(value: Any, what: str) -> Address | None:
    return None if value is None else Address(parse_data(value, what, 20))


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _has_hint(message: str, hints: Sequence[str]) -> bool:
    lowered = message.lower()
    return any(h in lowered for h in hints)


def _ensure_bytes(value: Any, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise BadRequest(f"{what} must be {size} bytes", value=value)


def _ensure_height(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{what} must be a non-negative integer", value=value)


@dataclass(frozen=True, slots=True)
class _Block:
    header: Header
    hash: Hash32
    tx_hashes: tuple[TxHash, ...]


@dataclass(slots=True)
class _Job:
    request: TxRequest
    future: asyncio.Future[TxHash]


_Fees = tuple[int | None, int | None, int | None]  # (max fee, tip, legacy gas price)


class _NonceConflict(Exception):
    """Internal: the node says our nonce is stale; the writer resyncs it."""


# --- the adapter -------------------------------------------------------------------------------


class _BoundedHTTPProvider(AsyncHTTPProvider):
    """web3's AsyncHTTPProvider, reading at most MAX_RPC_RESPONSE_BYTES of an answer and
    decoding it with ``loads_bounded``: web3 reads the whole body and hands it to json.loads,
    which a deeply nested answer crashes (C stack overflow). Errors are ``DecodeError``."""

    async def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        # Replaces web3's read-everything POST (retries are ours, so none are lost here).
        response = await self._request_session_manager.async_get_response_from_post_request(
            cast(URI, self.endpoint_uri),  # always set by AsyncHTTPProvider.__init__
            data=request_data,
            **dict(self.get_request_kwargs()),
        )
        try:
            response.raise_for_status()
            if (response.content_length or 0) > MAX_RPC_RESPONSE_BYTES:
                raise DecodeError(
                    "JSON document too large",
                    size=response.content_length,
                    limit=MAX_RPC_RESPONSE_BYTES,
                )
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > MAX_RPC_RESPONSE_BYTES:
                    raise DecodeError(
                        "JSON document too large", size=len(body), limit=MAX_RPC_RESPONSE_BYTES
                    )
        except BaseException:
            response.close()  # drop the connection rather than drain an unwanted body
            raise
        response.release()
        return bytes(body)

    @staticmethod
    def decode_rpc_response(raw_response: bytes) -> RPCResponse:
        answer: RPCResponse = loads_bounded(
            raw_response, max_bytes=MAX_RPC_RESPONSE_BYTES, max_depth=MAX_RPC_JSON_DEPTH
        )
        return answer


class EvmAdapter:
    """A ``ChainAdapter`` for plain EVM chains (Ethereum, L2s, anvil, the plain devnet)."""

    # Profile attributes (rule 10): subclasses override these, not the methods' bodies.
    finality_kind: ClassVar[FinalityKind | None] = None  # None: derived from config.finality
    poa: ClassVar[bool] = False
    chain_kind: ClassVar[Literal["qbft", "evm"]] = "evm"

    def __init__(self, config: EvmConfig, signers: Sequence[Signer] = ()) -> None:
        self._config = config
        self._ref = ChainRef(
            chain_id=config.chain_id,
            name=config.name or f"chain-{config.chain_id}",
            kind=self.chain_kind,
        )
        self._retry = config.retry
        provider = _BoundedHTTPProvider(
            config.rpc_url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=config.request_timeout_s)},
            # Our RetryPolicy decides retries; web3's own retry would hide them and double up.
            exception_retry_configuration=None,
        )
        self._w3 = AsyncWeb3(provider)
        self._provider = provider
        self._eip1559 = True
        self._block_receipts_supported: bool | None = None
        self._fee_quote: tuple[float, _Fees] | None = None
        self._signers: dict[Address, Signer] = {}
        for s in signers:
            if s.address in self._signers:
                raise ConfigError("the same signer was given twice", address=s.address)
            self._signers[s.address] = s
        self._default_sender: Address | None = signers[0].address if signers else None
        self._writers: dict[Address, _SignerWriter] = {}
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
        return Capabilities(finality=kind, eip1559=self._eip1559, poa=self.poa)

    @property
    def signers(self) -> tuple[Address, ...]:
        return tuple(self._signers)

    def __repr__(self) -> str:
        url = redact_url(self._config.rpc_url)
        return f"{type(self).__name__}(chain_id={self._ref.chain_id}, url={url})"

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> EvmAdapter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Check that the node serves the configured chain, then start one writer per signer."""
        if self._state != "new":
            raise AdapterClosed("adapter can be started once", state=self._state)
        chain_id = await self._call("eth_chainId", [], lambda r: parse_quantity(r, "chainId"))
        if chain_id != self._config.chain_id:
            raise ConfigError(
                "node serves another chain", expected=self._config.chain_id, got=chain_id
            )
        latest = await self._call("eth_getBlockByNumber", ["latest", False], _obj_or_none)
        if latest is not None:
            self._eip1559 = latest.get("baseFeePerGas") is not None
        await self._on_start()
        for address, signer in self._signers.items():
            writer = _SignerWriter(self, signer)
            self._writers[address] = writer
            self._tasks.append(
                asyncio.create_task(
                    writer.run(), name=f"writer-{self._ref.chain_id}-{address.hex()}"
                )
            )
        self._state = "running"

    async def _on_start(self) -> None:
        """Profile hook, run after the chain id check (QBFT: bootstrap the light client)."""

    async def aclose(self) -> None:
        """Stop the writers (queued submissions fail with ``AdapterClosed``) and close HTTP."""
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
            writer.fail_pending(AdapterClosed("adapter closed before the submission was sent"))
        await self._provider.disconnect()

    # -- JSON-RPC plumbing ------------------------------------------------------------------

    async def _rpc(self, method: str, params: Sequence[Any]) -> Any:
        """One JSON-RPC call. Every failure becomes an ``adapters.errors`` type."""
        try:
            response = await self._provider.make_request(RPCEndpoint(method), list(params))
        except aiohttp.ClientResponseError as exc:
            if exc.status == 429 or exc.status >= 500:
                raise RpcUnavailable(
                    "node answered with an HTTP error", method=method, status=exc.status
                ) from exc
            raise RpcError(
                "node rejected the HTTP request", method=method, status=exc.status
            ) from exc
        except (aiohttp.ClientError, TimeoutError, OSError, ProviderConnectionError) as exc:
            raise RpcUnavailable(
                "node unreachable",
                method=method,
                url=redact_url(self._config.rpc_url),
                reason=_clip(exc),
            ) from exc
        except DecodeError as exc:  # from _BoundedHTTPProvider: too large, too deep, not JSON
            raise RpcResponseInvalid(
                f"node answer refused: {exc.message}", method=method, **exc.context
            ) from exc
        except (ValueError, Web3Exception) as exc:
            raise RpcResponseInvalid(
                "node answer unusable", method=method, reason=_clip(str(exc))
            ) from exc
        if not isinstance(response, Mapping):
            raise RpcResponseInvalid("node answer is not a JSON-RPC object", method=method)
        error = response.get("error")
        if error is not None:
            if not isinstance(error, Mapping):
                raise RpcResponseInvalid("node sent a malformed JSON-RPC error", method=method)
            code = error.get("code")
            message = error.get("message")
            if isinstance(code, bool) or not isinstance(code, int) or not isinstance(message, str):
                raise RpcResponseInvalid("node sent a malformed JSON-RPC error", method=method)
            data = error.get("data")
            if code == _LIMIT_EXCEEDED and not _has_hint(message, _LOG_RANGE_HINTS):
                raise RpcUnavailable(
                    "node is rate limiting", method=method, code=code, rpc_message=message
                )
            raise RpcError(
                "node returned a JSON-RPC error",
                method=method,
                code=code,
                rpc_message=message,
                data=_clip(data) if data is not None else None,
            )
        if "result" not in response:
            raise RpcResponseInvalid("JSON-RPC answer has neither result nor error", method=method)
        return response["result"]

    async def _call(self, method: str, params: Sequence[Any], parse: Callable[[Any], T]) -> T:
        """``_rpc`` + parse, retried as a unit under the policy (a garbage answer is retried)."""

        async def once() -> T:
            return parse(await self._rpc(method, params))

        return await self._retry.run(once, what=f"{method} on chain {self._ref.chain_id}")

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        return await self._retry.run(operation, what=f"{what} on chain {self._ref.chain_id}")

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
            block = await self._call("eth_getBlockByNumber", [tag, False], _obj_or_none)
            if block is None:
                raise NotYetAvailable("no block at this finality yet", tag=finality.tag)
            return Height(parse_quantity(_get(block, "number", "block"), "block.number", 64))
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
        _ensure_height(height, "height")
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
            _ensure_height(block, "height")
            ref = block
        found = await self._retrying("header", lambda: self._block_once(ref))
        return ChainLink(found.header, found.hash)

    async def _block_once(self, height: int | str) -> _Block:
        """Fetch block ``height`` (or a node tag) and check it, including the profile's
        consensus rules. No retry here (callers retry the whole operation)."""
        block = await self._fetch_block(height)
        await self._check_consensus(block.header, block.hash)
        return block

    async def _fetch_block(self, height: int | str) -> _Block:
        """Fetch block ``height`` (or a node tag): strict parse, number (when asked by
        number), recomputed hash, tx hash list."""
        ref = height if isinstance(height, str) else hex(height)
        raw = _obj_or_none(await self._rpc("eth_getBlockByNumber", [ref, False]))
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
        claimed = Hash32(parse_data(_get(raw, "hash", "block"), "block.hash", 32))
        computed = self.block_hash(header)
        if computed != claimed:
            raise RpcResponseInvalid(
                "header does not hash to the hash the node claims",
                height=height,
                claimed=claimed,
                computed=computed,
            )
        txs = _get(raw, "transactions", "block")
        if not isinstance(txs, list):
            raise RpcResponseInvalid("block transactions is not a list", height=height)
        tx_hashes = tuple(
            TxHash(parse_data(t, f"block.transactions[{i}]", 32)) for i, t in enumerate(txs)
        )
        return _Block(header=header, hash=computed, tx_hashes=tx_hashes)

    # -- events -----------------------------------------------------------------------------

    async def events(self, query: EventQuery, start: Height, end: Height) -> Sequence[ChainEvent]:
        if not isinstance(query, EventQuery):
            raise BadRequest("events() needs an EventQuery", query=query)
        _ensure_height(start, "start")
        _ensure_height(end, "end")
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
                None if opts is None else [_hex(t) for t in opts] for opts in query.topics
            ]
        try:
            return await self._call(
                "eth_getLogs", [params], lambda r: self._parse_logs(r, query, start, end)
            )
        except RpcError as exc:
            # Providers cap ranges/result sizes differently; halve until the node accepts.
            message = str(exc.context.get("rpc_message", ""))
            if end > start and (
                exc.context.get("code") == _LIMIT_EXCEEDED or _has_hint(message, _LOG_RANGE_HINTS)
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
            entry = _obj(raw_log, f"logs[{i}]")
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
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events

    def _event_from_rpc(self, entry: Mapping[str, Any], what: str) -> ChainEvent:
        topics = _get(entry, "topics", what)
        if not isinstance(topics, list) or len(topics) > 4:
            raise RpcResponseInvalid("log topics must be a list of at most 4", field=what)
        return ChainEvent(
            chain_id=self._ref.chain_id,
            block_number=Height(parse_quantity(_get(entry, "blockNumber", what), what, 64)),
            block_hash=Hash32(parse_data(_get(entry, "blockHash", what), what, 32)),
            tx_hash=TxHash(parse_data(_get(entry, "transactionHash", what), what, 32)),
            tx_index=parse_quantity(_get(entry, "transactionIndex", what), what, 64),
            log_index=parse_quantity(_get(entry, "logIndex", what), what, 64),
            address=Address(parse_data(_get(entry, "address", what), what, 20)),
            topics=tuple(parse_data(t, f"{what}.topics", 32) for t in topics),
            data=parse_data(_get(entry, "data", what), f"{what}.data"),
        )

    # -- receipts and proofs ----------------------------------------------------------------

    async def _missing_tx(self, tx_hash: TxHash) -> NotYetAvailable:
        """The error for "no receipt": pending (NotYetAvailable) or unknown to the node."""
        tx = await self._call("eth_getTransactionByHash", [_hex(tx_hash)], _obj_or_none)
        if tx is None:
            return TransactionNotFound("node knows no such transaction", tx_hash=tx_hash)
        return NotYetAvailable("transaction is not mined yet", tx_hash=tx_hash)

    async def _receipt_json(self, tx_hash: TxHash) -> Mapping[str, Any] | None:
        receipt = await self._rpc("eth_getTransactionReceipt", [_hex(tx_hash)])
        if receipt is None:
            return None
        receipt = _obj(receipt, "receipt")
        got = parse_data(_get(receipt, "transactionHash", "receipt"), "transactionHash", 32)
        if got != tx_hash:
            raise RpcResponseInvalid("node sent the receipt of another transaction", got=got)
        return receipt

    async def receipt_proof(self, tx_hash: TxHash, log_index: int | None = None) -> ReceiptProof:
        _ensure_bytes(tx_hash, 32, "tx_hash")
        if log_index is not None:
            _ensure_height(log_index, "log_index")
        return await self._retrying(
            "receipt proof", lambda: self._receipt_proof_once(tx_hash, log_index)
        )

    async def _receipt_proof_once(self, tx_hash: TxHash, log_index: int | None) -> ReceiptProof:
        receipt = await self._receipt_json(tx_hash)
        if receipt is None:
            raise await self._missing_tx(tx_hash)
        number = parse_quantity(_get(receipt, "blockNumber", "receipt"), "blockNumber", 64)
        claimed_block = parse_data(_get(receipt, "blockHash", "receipt"), "blockHash", 32)
        index = parse_quantity(_get(receipt, "transactionIndex", "receipt"), "transactionIndex")
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
        receipts = await self._block_receipts(block)
        try:
            parsed = [receipt_from_rpc(r) for r in receipts]
            trie = OrderedTrie([encode_receipt(r) for r in parsed])
        except DecodeError as exc:
            raise RpcResponseInvalid(
                "node sent a malformed receipt", height=number, reason=exc.message
            ) from exc
        if trie.root != block.header.receipts_root:
            raise RpcResponseInvalid(
                "block receipts do not rebuild the header's receiptsRoot",
                height=number,
                rebuilt=trie.root,
                header=block.header.receipts_root,
            )
        if log_index is not None:
            log_indexes = [
                parse_quantity(_get(_obj(entry, "log"), "logIndex", "log"), "logIndex")
                for entry in _get(receipts[index], "logs", "receipt")
            ]
            if log_index not in log_indexes:
                raise BadRequest(
                    "the transaction emitted no log with this index",
                    tx_hash=tx_hash,
                    log_index=log_index,
                )
        proof = ReceiptProof(
            block_hash=block.hash,
            block_number=number,
            receipts_root=Hash32(block.header.receipts_root),
            tx_index=index,
            nodes=trie.proof(index),
            receipt=parsed[index],
        )
        try:
            proof.verify()  # cheap self-check: what we hand out must verify
        except ProofInvalid as exc:
            raise RpcResponseInvalid(
                "built receipt proof does not verify", reason=exc.message
            ) from exc
        return proof

    async def _block_receipts(self, block: _Block) -> list[Mapping[str, Any]]:
        """All receipts of ``block`` in order, each checked to belong to it."""
        number = block.header.number
        receipts: list[Any] | None = None
        if self._block_receipts_supported is not False:
            try:
                result = await self._rpc("eth_getBlockReceipts", [hex(number)])
            except RpcError as exc:
                if exc.context.get("code") not in (_METHOD_NOT_FOUND, -32602):
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
                    r = await self._receipt_json(tx_hash)
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
            r = _obj(raw, f"receipts[{i}]")
            if (
                parse_data(_get(r, "transactionHash", "receipt"), "transactionHash", 32) != tx_hash
                or parse_data(_get(r, "blockHash", "receipt"), "blockHash", 32) != block.hash
                or parse_quantity(_get(r, "transactionIndex", "receipt"), "transactionIndex") != i
            ):
                raise RpcResponseInvalid("block receipts are out of place", index=i)
            checked.append(r)
        return checked

    async def account_proof(
        self, address: Address, slots: Sequence[int], height: Height
    ) -> AccountState:
        _ensure_bytes(address, 20, "address")
        _ensure_height(height, "height")
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
                [_hex(s.to_bytes(32, "big")) for s in slots],
                hex(height),
            ],
        )
        try:
            proof = account_proof_from_rpc(_obj(result, "proof"))
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

    async def submit(self, call: TxRequest) -> TxHash:
        if not isinstance(call, TxRequest):
            raise BadRequest("submit() needs a TxRequest", call=call)
        if self._state != "running":
            raise AdapterClosed(
                "adapter is not running; use `async with adapter:`", state=self._state
            )
        sender = call.sender if call.sender is not None else self._default_sender
        if sender is None:
            raise BadRequest("adapter has no signer")
        writer = self._writers.get(sender)
        if writer is None:
            raise BadRequest("no signer for this sender", sender=sender)
        return await writer.submit(call)

    async def wait_final(
        self,
        tx_hash: TxHash,
        finality: Finality,
        timeout: float,  # noqa: ASYNC109 - the ChainAdapter role takes a per-call deadline
    ) -> TxReceipt:
        _ensure_bytes(tx_hash, 32, "tx_hash")
        if not isinstance(finality, Finality):
            raise BadRequest("wait_final() needs a Finality", finality=finality)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    receipt = await self._final_receipt(tx_hash, finality)
                    if receipt is not None:
                        break
                    await asyncio.sleep(self._config.poll_interval_s)
        except TimeoutError:
            raise NotYetAvailable(
                "transaction not final before the timeout", tx_hash=tx_hash, timeout=timeout
            ) from None
        if receipt.status != 1:
            reason = "transaction reverted" if receipt.status == 0 else "transaction status unknown"
            raise TransactionFailed(reason, tx_hash=tx_hash, receipt=receipt)
        return receipt

    async def _final_receipt(self, tx_hash: TxHash, finality: Finality) -> TxReceipt | None:
        """The receipt once its block is final and canonical; None while waiting."""

        async def fetch() -> TxReceipt | None:
            raw = await self._receipt_json(tx_hash)
            return None if raw is None else self._receipt_from_rpc(raw)

        receipt = await self._retrying("receipt", fetch)
        if receipt is None:
            missing = await self._missing_tx(tx_hash)
            if isinstance(missing, TransactionNotFound):
                raise missing
            return None
        try:
            final = await self.height(finality)
        except NotYetAvailable:
            return None
        if receipt.block_number > final:
            return None
        block = await self._retrying("header", lambda: self._block_once(receipt.block_number))
        if block.hash != receipt.block_hash:
            return None  # reorged out; the transaction may be mined again elsewhere
        return receipt

    def _receipt_from_rpc(self, r: Mapping[str, Any]) -> TxReceipt:
        logs = _get(r, "logs", "receipt")
        if not isinstance(logs, list):
            raise RpcResponseInvalid("receipt logs is not a list")
        status = r.get("status")
        return TxReceipt(
            chain_id=self._ref.chain_id,
            tx_hash=TxHash(parse_data(_get(r, "transactionHash", "receipt"), "receipt", 32)),
            block_number=Height(parse_quantity(_get(r, "blockNumber", "receipt"), "receipt", 64)),
            block_hash=Hash32(parse_data(_get(r, "blockHash", "receipt"), "receipt", 32)),
            tx_index=parse_quantity(_get(r, "transactionIndex", "receipt"), "receipt", 64),
            # Pre-Byzantium receipts have no status: STATUS_UNKNOWN, never success by default.
            status=parse_quantity(status, "receipt.status") if status is not None else -1,
            gas_used=parse_quantity(_get(r, "gasUsed", "receipt"), "receipt.gasUsed", 64),
            effective_gas_price=parse_quantity(r.get("effectiveGasPrice", "0x0"), "receipt"),
            sender=Address(parse_data(_get(r, "from", "receipt"), "receipt.from", 20)),
            to=_opt_address(r.get("to"), "receipt.to"),
            contract_address=_opt_address(r.get("contractAddress"), "receipt.contractAddress"),
            logs=tuple(
                self._event_from_rpc(_obj(entry, "log"), f"receipt.logs[{i}]")
                for i, entry in enumerate(logs)
            ),
        )

    async def pending_nonce(self, sender: Address) -> int:
        """The sender's next nonce, counting the node's pending transactions."""
        return await self._call(
            "eth_getTransactionCount",
            [to_checksum_address(sender), "pending"],
            lambda r: parse_quantity(r, "nonce", 64),
        )

    async def _prepare(self, call: TxRequest, sender: Address, nonce: int) -> UnsignedTx:
        """Fill in gas and fees: EIP-1559 (2 x base fee + tip) when the chain has a base fee,
        else a legacy gas price."""
        gas = call.gas if call.gas is not None else await self._estimate_gas(call, sender)
        max_fee, tip, price = await self._fees()
        return UnsignedTx(
            chain_id=self._ref.chain_id,
            nonce=nonce,
            to=call.to,
            value=call.value,
            data=call.data,
            gas=gas,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            gas_price=price,
        )

    async def _fees(self) -> _Fees:
        """(max fee, tip, gas price) from the latest header, reused for ``fee_cache_s`` so a
        burst of submissions does not re-ask per transaction (2x base fee absorbs the base
        fee rising for several blocks)."""
        now = asyncio.get_running_loop().time()
        cached = self._fee_quote
        if cached is not None and now - cached[0] < self._config.fee_cache_s:
            return cached[1]
        latest = await self._call("eth_getBlockByNumber", ["latest", False], _obj_or_none)
        if latest is None:
            raise RpcResponseInvalid("node has no latest block")
        base_fee = latest.get("baseFeePerGas")
        self._eip1559 = base_fee is not None
        if base_fee is None:
            price = await self._call("eth_gasPrice", [], lambda r: parse_quantity(r, "gasPrice"))
            fees: _Fees = (None, None, price)
        else:
            tip = await self._priority_fee()
            fees = (2 * parse_quantity(base_fee, "baseFeePerGas") + tip, tip, None)
        self._fee_quote = (now, fees)
        return fees

    async def _priority_fee(self) -> int:
        try:
            return await self._call(
                "eth_maxPriorityFeePerGas", [], lambda r: parse_quantity(r, "maxPriorityFeePerGas")
            )
        except RpcError as exc:
            if exc.context.get("code") != _METHOD_NOT_FOUND:
                raise
            return self._config.default_priority_fee_wei

    async def _estimate_gas(self, call: TxRequest, sender: Address) -> int:
        params: dict[str, Any] = {
            "from": to_checksum_address(sender),
            "value": hex(call.value),
            "data": _hex(call.data),
        }
        if call.to is not None:
            params["to"] = to_checksum_address(call.to)
        try:
            estimate = await self._call(
                "eth_estimateGas", [params], lambda r: parse_quantity(r, "gas", 64)
            )
        except RpcError as exc:
            raise TransactionFailed(
                "transaction would fail (gas estimation rejected it)",
                sender=sender,
                code=exc.context.get("code"),
                rpc_message=exc.context.get("rpc_message"),
                data=exc.context.get("data"),
            ) from exc
        return estimate * (100 + self._config.gas_margin_pct) // 100

    async def _tx_known(self, tx_hash: TxHash) -> bool:
        tx = await self._call("eth_getTransactionByHash", [_hex(tx_hash)], _obj_or_none)
        return tx is not None

    async def _broadcast(self, signed: SignedTx) -> None:
        """Send a signed transaction; success if the node has it afterwards."""

        async def once() -> None:
            try:
                result = await self._rpc("eth_sendRawTransaction", [_hex(signed.raw)])
            except RpcUnavailable:
                # The request may have reached the node before the connection failed.
                if await self._tx_known(signed.tx_hash):
                    return
                raise
            except RpcError as exc:
                message = str(exc.context.get("rpc_message", ""))
                if _has_hint(message, _ALREADY_KNOWN_HINTS) and await self._tx_known(
                    signed.tx_hash
                ):
                    return  # an earlier attempt of ours got through
                if _has_hint(message, _NONCE_CONFLICT_HINTS):
                    if await self._tx_known(signed.tx_hash):
                        return
                    raise _NonceConflict(message) from exc
                raise TransactionFailed(
                    "node rejected the transaction",
                    tx_hash=signed.tx_hash,
                    code=exc.context.get("code"),
                    rpc_message=message,
                ) from exc
            if parse_data(result, "txHash", 32) != signed.tx_hash:
                raise RpcResponseInvalid(
                    "node answered with another transaction hash", tx_hash=signed.tx_hash
                )

        await self._retrying("eth_sendRawTransaction", once)


def _obj_or_none(value: Any) -> Mapping[str, Any] | None:
    return None if value is None else _obj(value, "result")


class _SignerWriter:
    """The single writer of one signer: owns its nonce; jobs run strictly one at a time."""

    _MAX_RESYNCS = 3

    def __init__(self, adapter: EvmAdapter, signer: Signer) -> None:
        self._adapter = adapter
        self._signer = signer
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._nonce: int | None = None  # None: ask the node (start, or after a conflict)
        self._dead: BaseException | None = None

    async def submit(self, call: TxRequest) -> TxHash:
        if self._dead is not None:
            raise AdapterClosed("signer writer stopped", reason=_clip(self._dead))
        future: asyncio.Future[TxHash] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(call, future))
        return await future

    def fail_pending(self, error: XgateError) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(error)

    async def run(self) -> None:
        job: _Job | None = None
        try:
            while True:
                job = await self._queue.get()
                if job.future.done():  # the caller gave up (cancelled) before we got to it
                    continue
                try:
                    tx_hash = await self._send(job.request)
                except XgateError as exc:
                    # The nonce may or may not have been consumed: ask the node next time.
                    self._nonce = None
                    if not job.future.done():  # the caller may have been cancelled meanwhile
                        job.future.set_exception(exc)
                else:
                    if not job.future.done():
                        job.future.set_result(tx_hash)
                job = None
        except asyncio.CancelledError:
            if job is not None and not job.future.done():
                job.future.set_exception(AdapterClosed("adapter closed during the submission"))
            raise
        except Exception as exc:
            # A bug, not a chain condition: fail loudly to every waiter instead of hanging them.
            self._dead = exc
            log.exception("signer writer for %s crashed", to_checksum_address(self._signer.address))
            if job is not None and not job.future.done():
                job.future.set_exception(exc)
            self.fail_pending(AdapterClosed("signer writer crashed", reason=_clip(exc)))
            raise

    async def _send(self, call: TxRequest) -> TxHash:
        address = self._signer.address
        for _ in range(self._MAX_RESYNCS):
            if self._nonce is None:
                self._nonce = await self._adapter.pending_nonce(address)
            tx = await self._adapter._prepare(call, address, self._nonce)
            signed = await self._signer.sign_transaction(tx)
            try:
                await self._adapter._broadcast(signed)
            except _NonceConflict:
                log.info("nonce conflict for %s, resyncing", to_checksum_address(address))
                self._nonce = None
                continue
            self._nonce += 1
            return signed.tx_hash
        raise TransactionFailed(
            "nonce kept conflicting; another process sends from this account?", sender=address
        )
