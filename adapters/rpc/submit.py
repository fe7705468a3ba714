"""Transaction submission: one writer per signer, fees, a journal, fee bumping, resume.

- **One writer per signer** (style rule 8): ``SignerWriter`` owns the signer's nonce; its task
  sends queued requests strictly one at a time, so concurrent submissions get consecutive
  nonces.
- **Journal first**: before a transaction is broadcast, its nonce, hash, raw bytes, fees and
  gas are written to the ``TxJournal``; the entry stays open until the transaction is final
  (``Mined``) or its nonce went to a transaction none of ours (``Dropped``), or the node
  refused it (``Failed``). After a crash the writer resumes from the open entries instead of
  guessing.
- **Fee bumping**: an attempt not mined ``stuck_after_s`` after it was signed is re-signed with
  the same nonce and fees raised by ``fee_bump_pct`` (at least the 10 % replacement rule of geth
  and Besu), never above ``max_fee_per_gas``.

The writer talks to the node through ``TxChain`` (the transport calls of submission); it learns
whether a mined transaction is final from the adapter (``is_final``), which knows the chain's
finality rule.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from eth_utils.address import to_checksum_address

from adapters.base import AdapterClosed, BadRequest, TxRequest
from adapters.errors import (
    ConfigError,
    RpcError,
    RpcResponseInvalid,
    RpcUnavailable,
    TransactionFailed,
    XgateError,
)
from adapters.rpc.answers import (
    as_object,
    clip,
    field,
    has_hint,
    hexstr,
    object_or_none,
    parse_data,
    parse_quantity,
)
from adapters.rpc.transport import METHOD_NOT_FOUND, RpcTransport, revert_data
from adapters.signer import SignedTx, Signer, UnsignedTx
from adapters.types import Address, ChainId, Hash32, Height, TxHash
from contracts import decode_error

__all__ = [
    "MIN_FEE_BUMP_PCT",
    "Dropped",
    "Failed",
    "FeeMarket",
    "Fees",
    "InMemoryJournal",
    "JournalEntry",
    "Mined",
    "SentTx",
    "SignerWriter",
    "SubmitPolicy",
    "TxAttempt",
    "TxChain",
    "TxJournal",
    "TxOutcome",
    "bump_fees",
]

log = logging.getLogger(__name__)

MIN_FEE_BUMP_PCT = 10  # geth's and Besu's default price bump for a same-nonce replacement

_NONCE_CONFLICT_HINTS = (
    "nonce too low",
    "nonce has already been used",
    "replacement transaction underpriced",
    "already imported",
)
_ALREADY_KNOWN_HINTS = ("already known", "known transaction", "already exists")
_MAX_RESYNCS = 3
_REMEMBERED_NONCES = 4096  # per writer: what wait_mined can follow without the journal


# --- fees --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 (``max_fee_per_gas`` and ``max_priority_fee_per_gas``) or legacy
    (``gas_price``) fees of one transaction."""

    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None

    def __post_init__(self) -> None:
        dynamic = (self.max_fee_per_gas, self.max_priority_fee_per_gas)
        if (None in dynamic) != (dynamic == (None, None)):
            raise BadRequest("EIP-1559 fees need both the max fee and the priority fee")
        if (self.gas_price is None) == (self.max_fee_per_gas is None):
            raise BadRequest("fees are either EIP-1559 or a legacy gas price")
        for value in (*dynamic, self.gas_price):
            if value is not None and (isinstance(value, bool) or value < 0):
                raise BadRequest("fees must be non-negative integers", value=value)

    @property
    def eip1559(self) -> bool:
        return self.max_fee_per_gas is not None

    @property
    def ceiling(self) -> int:
        """The most one unit of gas may cost: the max fee, or the gas price."""
        value = self.max_fee_per_gas if self.max_fee_per_gas is not None else self.gas_price
        assert value is not None
        return value

    def capped(self, cap: int | None) -> Fees:
        """These fees with nothing above ``cap`` (None: no cap)."""
        if cap is None:
            return self
        if self.gas_price is not None:
            return Fees(gas_price=min(self.gas_price, cap))
        assert self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None
        return Fees(min(self.max_fee_per_gas, cap), min(self.max_priority_fee_per_gas, cap))

    def at_least(self, other: Fees) -> Fees:
        """Each fee the higher of the two (same fee model only; else ``self``)."""
        if self.eip1559 != other.eip1559:
            return self
        if self.gas_price is not None:
            return Fees(gas_price=max(self.gas_price, other.ceiling))
        assert self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None
        assert other.max_fee_per_gas is not None and other.max_priority_fee_per_gas is not None
        return Fees(
            max(self.max_fee_per_gas, other.max_fee_per_gas),
            max(self.max_priority_fee_per_gas, other.max_priority_fee_per_gas),
        )

    def unsigned(self) -> dict[str, int | None]:
        """As ``UnsignedTx`` keyword arguments."""
        return {
            "max_fee_per_gas": self.max_fee_per_gas,
            "max_priority_fee_per_gas": self.max_priority_fee_per_gas,
            "gas_price": self.gas_price,
        }


@dataclass(frozen=True, slots=True)
class FeeMarket:
    """A chain's fee market at its block ``block_number``: the base fee (None on a chain
    without one) and the fees a transaction would be sent with now."""

    block_number: Height
    base_fee_per_gas: int | None
    fees: Fees

    @property
    def likely_price(self) -> int:
        """What one unit of gas likely costs: base fee + tip (EIP-1559), or the gas price."""
        if self.fees.gas_price is not None:
            return self.fees.gas_price
        assert self.base_fee_per_gas is not None
        assert self.fees.max_priority_fee_per_gas is not None
        return self.base_fee_per_gas + self.fees.max_priority_fee_per_gas


def _raised(value: int, pct: int) -> int:
    # Rounded up, and at least one wei more: a node compares the new fee with the old one
    # raised by its bump percentage, and anvil wants strictly more even for a zero tip.
    return max(value + 1, -(-value * (100 + pct) // 100))


def bump_fees(fees: Fees, pct: int, cap: int | None = None) -> Fees | None:
    """The fees of a same-nonce replacement: every fee raised by ``pct`` percent (>= 10),
    rounded up; None when that would put the max fee (or gas price) above ``cap``: a smaller
    raise would be refused as underpriced, so the transaction stays as it is."""
    if isinstance(pct, bool) or not isinstance(pct, int) or pct < MIN_FEE_BUMP_PCT:
        raise BadRequest(f"fee bump must be an integer percentage >= {MIN_FEE_BUMP_PCT}", pct=pct)
    if fees.gas_price is not None:
        bumped = Fees(gas_price=_raised(fees.gas_price, pct))
    else:
        assert fees.max_fee_per_gas is not None and fees.max_priority_fee_per_gas is not None
        bumped = Fees(
            _raised(fees.max_fee_per_gas, pct), _raised(fees.max_priority_fee_per_gas, pct)
        )
    if cap is not None and bumped.ceiling > cap:
        return None
    return bumped


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitPolicy:
    """How a writer handles transactions that are not mined.

    ``stuck_after_s``: an attempt not mined this long after it was signed is replaced.
    ``fee_bump_pct``: how much each replacement raises every fee (>= 10, the replacement rule of
    geth and Besu). ``max_fee_per_gas``: no fee ever goes above it (wei; None: no cap); a
    transaction whose next bump would pass it stays as it is. ``check_interval_s``: how often
    the writer looks at its transactions in flight.
    """

    stuck_after_s: float = 30.0
    fee_bump_pct: int = 15
    max_fee_per_gas: int | None = None
    check_interval_s: float = 1.0

    def __post_init__(self) -> None:
        for key in ("stuck_after_s", "check_interval_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{key} must be a positive number", **{key: value})
        pct = self.fee_bump_pct
        if isinstance(pct, bool) or not isinstance(pct, int) or pct < MIN_FEE_BUMP_PCT:
            raise ConfigError(
                f"fee_bump_pct must be an integer >= {MIN_FEE_BUMP_PCT} (the replacement rule)",
                fee_bump_pct=pct,
            )
        cap = self.max_fee_per_gas
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0):
            raise ConfigError("max_fee_per_gas must be a positive integer", max_fee_per_gas=cap)


# --- the journal -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TxAttempt:
    """One signed version of a transaction. Attempts of one entry share its nonce; each later
    one pays more (a fee bump)."""

    tx_hash: TxHash
    raw: bytes  # the signed EIP-2718 bytes: what is re-broadcast after a crash
    fees: Fees
    gas: int
    signed_at: float  # Unix time; an attempt older than stuck_after_s is replaced


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A transaction of one signer at one nonce: what it does, why, and its attempts so far.

    ``purpose`` and ``refs`` are the caller's words for it (e.g. "deliver" and the message ids);
    the journal stores them and never interprets them.
    """

    chain_id: ChainId
    sender: Address
    nonce: int
    to: Address | None
    value: int
    data: bytes
    purpose: str = ""
    refs: tuple[str, ...] = ()
    attempts: tuple[TxAttempt, ...] = ()

    @property
    def latest(self) -> TxAttempt:
        return self.attempts[-1]


@dataclass(frozen=True, slots=True)
class Mined:
    """One attempt of the entry is in a final block (``status`` 1 success, 0 reverted)."""

    tx_hash: TxHash
    block_number: Height
    block_hash: Hash32
    gas_used: int
    effective_gas_price: int
    status: int


@dataclass(frozen=True, slots=True)
class Failed:
    """The node refused the transaction (or could not be reached to take it); the nonce was
    not used by it and goes to the signer's next transaction."""

    reason: str


@dataclass(frozen=True, slots=True)
class Dropped:
    """The nonce was used by a transaction that is none of this entry's attempts (another
    process sent from the same account)."""

    reason: str


TxOutcome = Mined | Failed | Dropped


@runtime_checkable
class TxJournal(Protocol):
    """Where a writer records its transactions before it broadcasts them.

    Keyed by (chain id, sender, nonce). An entry is *open* from its first attempt until its
    outcome. The writer of a signer is the only one writing its entries, and it awaits every
    call, so an implementation needs no ordering of its own; every call must be durable when
    it returns (the writer broadcasts right after ``record_attempt``).
    """

    async def open_entries(self, chain_id: ChainId, sender: Address) -> Sequence[JournalEntry]:
        """The sender's open entries, each with all its attempts in the order recorded."""
        ...

    async def record_attempt(self, entry: JournalEntry, attempt: TxAttempt) -> None:
        """Append ``attempt`` to the open entry at ``entry``'s key, or open one with
        ``entry``'s fields when there is none (also when an earlier entry at that key has an
        outcome: a refused transaction's nonce is used again). ``entry.attempts`` holds the
        attempts recorded before this one."""
        ...

    async def record_outcome(
        self, chain_id: ChainId, sender: Address, nonce: int, outcome: TxOutcome
    ) -> None:
        """Close the open entry at this key with ``outcome``."""
        ...


class InMemoryJournal:
    """A ``TxJournal`` in a dict: for tests and for processes that accept losing track of
    their transactions in a crash (the store-backed one lives in ``gateway.store``)."""

    def __init__(self) -> None:
        self._open: dict[tuple[int, bytes, int], JournalEntry] = {}
        self._closed: list[tuple[JournalEntry, TxOutcome]] = []

    async def open_entries(self, chain_id: ChainId, sender: Address) -> Sequence[JournalEntry]:
        return sorted(
            (e for (c, s, _), e in self._open.items() if c == chain_id and s == sender),
            key=lambda e: e.nonce,
        )

    async def record_attempt(self, entry: JournalEntry, attempt: TxAttempt) -> None:
        key = (entry.chain_id, bytes(entry.sender), entry.nonce)
        current = self._open.get(key)
        base = current if current is not None else dataclasses.replace(entry, attempts=())
        self._open[key] = dataclasses.replace(base, attempts=(*base.attempts, attempt))

    async def record_outcome(
        self, chain_id: ChainId, sender: Address, nonce: int, outcome: TxOutcome
    ) -> None:
        entry = self._open.pop((chain_id, bytes(sender), nonce), None)
        if entry is not None:
            self._closed.append((entry, outcome))

    def entry(self, chain_id: int, sender: Address, nonce: int) -> JournalEntry | None:
        """The open entry at this key, else the latest closed one."""
        found = self._open.get((chain_id, bytes(sender), nonce))
        if found is not None:
            return found
        for entry, _ in reversed(self._closed):
            if (entry.chain_id, entry.sender, entry.nonce) == (chain_id, sender, nonce):
                return entry
        return None

    def outcome(self, chain_id: int, sender: Address, nonce: int) -> TxOutcome | None:
        """The outcome of the latest closed entry at this key (None while it is open)."""
        if (chain_id, bytes(sender), nonce) in self._open:
            return None
        for entry, outcome in reversed(self._closed):
            if (entry.chain_id, entry.sender, entry.nonce) == (chain_id, sender, nonce):
                return outcome
        return None


# --- node calls of submission ------------------------------------------------------------------


class NonceConflict(Exception):
    """Internal: the node says the nonce is used (or the replacement is underpriced)."""


class TxChain:
    """The node calls behind submissions (nonces, gas, fees, broadcast, receipts)."""

    def __init__(
        self,
        transport: RpcTransport,
        *,
        gas_margin_pct: int,
        default_priority_fee_wei: int,
        fee_cache_s: float,
    ) -> None:
        self._rpc = transport
        self._gas_margin_pct = gas_margin_pct
        self._default_priority_fee = default_priority_fee_wei
        self._fee_cache_s = fee_cache_s
        self._fee_quote: tuple[float, Fees] | None = None
        self.eip1559 = True  # the latest header had a base fee (updated with every quote)

    async def nonce(self, sender: Address, block: Literal["pending", "latest"]) -> int:
        """The sender's next nonce: counting the node's pending transactions, or only mined
        ones (``latest``: every nonce below it is used)."""
        return await self._rpc.call(
            "eth_getTransactionCount",
            [to_checksum_address(sender), block],
            lambda r: parse_quantity(r, "nonce", 64),
        )

    async def fees(self) -> Fees:
        """``fee_market()``'s suggested fees, reused for ``fee_cache_s`` so a burst of
        submissions does not re-ask per transaction."""
        now = asyncio.get_running_loop().time()
        cached = self._fee_quote
        if cached is not None and now - cached[0] < self._fee_cache_s:
            return cached[1]
        fees = (await self.fee_market()).fees
        self._fee_quote = (now, fees)
        return fees

    async def fee_market(self) -> FeeMarket:
        """The fee market at the node's latest block, read now (no cache): EIP-1559 fees
        (2 x base fee + tip: 2x base fee absorbs the base fee rising for several blocks) when
        the chain has a base fee, else the gas price. The one fee rule of every submission."""
        latest = await self._rpc.call("eth_getBlockByNumber", ["latest", False], object_or_none)
        if latest is None:
            raise RpcResponseInvalid("node has no latest block")
        number = Height(parse_quantity(field(latest, "number", "block"), "block.number", 64))
        raw_base = latest.get("baseFeePerGas")
        self.eip1559 = raw_base is not None
        if raw_base is None:
            price = await self._rpc.call(
                "eth_gasPrice", [], lambda r: parse_quantity(r, "gasPrice")
            )
            return FeeMarket(number, None, Fees(gas_price=price))
        base_fee = parse_quantity(raw_base, "baseFeePerGas")
        tip = await self._priority_fee()
        return FeeMarket(number, base_fee, Fees(2 * base_fee + tip, tip))

    async def _priority_fee(self) -> int:
        try:
            return await self._rpc.call(
                "eth_maxPriorityFeePerGas", [], lambda r: parse_quantity(r, "maxPriorityFeePerGas")
            )
        except RpcError as exc:
            if exc.context.get("code") != METHOD_NOT_FOUND:
                raise
            return self._default_priority_fee

    async def estimate_gas(self, call: TxRequest, sender: Address) -> int:
        """``eth_estimateGas`` plus the margin; ``TransactionFailed`` (with the revert data and
        its decoded error) when the node says the transaction would fail."""
        params: dict[str, Any] = {
            "from": to_checksum_address(sender),
            "value": hex(call.value),
            "data": hexstr(call.data),
        }
        if call.to is not None:
            params["to"] = to_checksum_address(call.to)
        try:
            estimate = await self._rpc.call(
                "eth_estimateGas", [params], lambda r: parse_quantity(r, "gas", 64)
            )
        except RpcError as exc:
            data = revert_data(exc)
            raise TransactionFailed(
                "transaction would fail (gas estimation rejected it)",
                sender=sender,
                code=exc.context.get("code"),
                rpc_message=exc.context.get("rpc_message"),
                data=data,
                decoded=decode_error(data) if data else None,
            ) from exc
        return estimate * (100 + self._gas_margin_pct) // 100

    async def tx_known(self, tx_hash: TxHash) -> bool:
        """Whether the node has the transaction (pending or mined)."""
        tx = await self._rpc.call("eth_getTransactionByHash", [hexstr(tx_hash)], object_or_none)
        return tx is not None

    async def receipt_json(self, tx_hash: TxHash) -> Mapping[str, Any] | None:
        """The raw receipt (one request, no retry), checked to be this transaction's."""
        receipt = await self._rpc.request("eth_getTransactionReceipt", [hexstr(tx_hash)])
        if receipt is None:
            return None
        receipt = as_object(receipt, "receipt")
        got = parse_data(field(receipt, "transactionHash", "receipt"), "transactionHash", 32)
        if got != tx_hash:
            raise RpcResponseInvalid("node sent the receipt of another transaction", got=got)
        return receipt

    async def mined(self, tx_hash: TxHash) -> Mined | None:
        """The transaction as mined at the node's head, or None."""
        r = await self._rpc.retrying("receipt", lambda: self.receipt_json(tx_hash))
        if r is None:
            return None
        status = r.get("status")
        return Mined(
            tx_hash=tx_hash,
            block_number=Height(parse_quantity(field(r, "blockNumber", "receipt"), "receipt", 64)),
            block_hash=Hash32(parse_data(field(r, "blockHash", "receipt"), "receipt", 32)),
            gas_used=parse_quantity(field(r, "gasUsed", "receipt"), "receipt.gasUsed", 64),
            effective_gas_price=parse_quantity(r.get("effectiveGasPrice", "0x0"), "receipt"),
            status=parse_quantity(status, "receipt.status") if status is not None else -1,
        )

    async def broadcast(self, signed: SignedTx) -> None:
        """Send a signed transaction; success if the node has it afterwards. ``NonceConflict``
        when the nonce is used or a same-nonce transaction pays as much; ``TransactionFailed``
        when the node refuses it otherwise."""

        async def once() -> None:
            try:
                result = await self._rpc.request("eth_sendRawTransaction", [hexstr(signed.raw)])
            except RpcUnavailable:
                # The request may have reached the node before the connection failed.
                if await self.tx_known(signed.tx_hash):
                    return
                raise
            except RpcError as exc:
                message = str(exc.context.get("rpc_message", ""))
                if has_hint(message, _ALREADY_KNOWN_HINTS) and await self.tx_known(signed.tx_hash):
                    return  # an earlier attempt of ours got through
                if has_hint(message, _NONCE_CONFLICT_HINTS):
                    if await self.tx_known(signed.tx_hash):
                        return
                    raise NonceConflict(message) from exc
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

        await self._rpc.retrying("eth_sendRawTransaction", once)


# --- the writer --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentTx:
    """A transaction handed to the node: follow it with ``EvmAdapter.wait_mined``, which finds
    whichever attempt of this nonce gets mined (``tx_hash`` is the first attempt's)."""

    chain_id: ChainId
    sender: Address
    nonce: int
    tx_hash: TxHash


@dataclass(slots=True)
class _Job:
    request: TxRequest
    purpose: str
    refs: tuple[str, ...]
    future: asyncio.Future[SentTx]


@dataclass(slots=True)
class _Tracked:
    """What this process knows of one nonce it sent: every attempt hash, and the outcome."""

    sent: SentTx
    hashes: list[TxHash]
    outcome: TxOutcome | None = None


IsFinal = Callable[[Mined], Awaitable[bool]]


class SignerWriter:
    """The single writer of one signer: owns its nonce, journals and broadcasts its
    transactions one at a time, and replaces the ones that get stuck.

    The owner (``EvmAdapter``) awaits ``resume()`` once, then runs ``run()`` as a task and
    cancels it to stop.
    """

    def __init__(
        self,
        chain: TxChain,
        signer: Signer,
        *,
        chain_id: ChainId,
        journal: TxJournal,
        policy: SubmitPolicy,
        is_final: IsFinal,
    ) -> None:
        self._chain = chain
        self._signer = signer
        self._chain_id = chain_id
        self._journal = journal
        self._policy = policy
        self._is_final = is_final
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._nonce: int | None = None  # None: ask the node (start, or after a conflict)
        self._inflight: dict[int, JournalEntry] = {}  # sent, no outcome yet
        self._no_bump: set[int] = set()  # nonces whose replacement the node refused
        self._warned_cap: set[int] = set()
        self._tracked: dict[int, _Tracked] = {}  # insertion-ordered, bounded
        self._by_hash: dict[TxHash, int] = {}
        self._dead: BaseException | None = None
        # Until resume() has run the nonce is unknown: submissions are refused, not queued.
        self._closed: XgateError | None = AdapterClosed(
            "adapter is not running; use `async with adapter:`"
        )

    @property
    def address(self) -> Address:
        return self._signer.address

    @property
    def policy(self) -> SubmitPolicy:
        return self._policy

    # -- the caller's side ------------------------------------------------------------------

    async def submit(
        self, call: TxRequest, *, purpose: str = "", refs: tuple[str, ...] = ()
    ) -> SentTx:
        """Journal, sign and broadcast ``call`` at this signer's next nonce. Returns once the
        node has it; ``TransactionFailed`` when gas estimation or the node refuses it."""
        if not isinstance(call, TxRequest):
            raise BadRequest("submit() needs a TxRequest", call=call)
        if call.sender is not None and call.sender != self.address:
            raise BadRequest(
                "the request names another sender than this writer's", sender=call.sender
            )
        if not isinstance(purpose, str) or not isinstance(refs, tuple):
            raise BadRequest("purpose must be a string and refs a tuple of strings")
        if not all(isinstance(r, str) for r in refs):
            raise BadRequest("refs must be strings", refs=refs)
        if self._dead is not None:
            raise AdapterClosed("signer writer stopped", reason=clip(self._dead))
        if self._closed is not None:
            raise AdapterClosed(self._closed.message)
        future: asyncio.Future[SentTx] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(call, purpose, refs, future))
        return await future

    def attempts_of(self, sent: SentTx) -> tuple[TxHash, ...]:
        """Every attempt hash of ``sent`` this writer knows, oldest first (empty: unknown)."""
        tracked = self._tracked.get(sent.nonce)
        return tuple(tracked.hashes) if tracked is not None and tracked.sent == sent else ()

    def outcome_of(self, sent: SentTx) -> TxOutcome | None:
        """``sent``'s recorded outcome; None while in flight (or unknown)."""
        tracked = self._tracked.get(sent.nonce)
        return tracked.outcome if tracked is not None and tracked.sent == sent else None

    def sent_of(self, tx_hash: TxHash) -> SentTx | None:
        """The transaction of which ``tx_hash`` is an attempt, when this writer sent it."""
        nonce = self._by_hash.get(tx_hash)
        tracked = self._tracked.get(nonce) if nonce is not None else None
        return tracked.sent if tracked is not None else None

    def close(self, error: XgateError) -> None:
        """Refuse further submissions and fail the queued ones with ``error`` (the owner has
        cancelled ``run``). Transactions in flight stay open in the journal."""
        self._closed = error
        self.fail_pending(error)

    def fail_pending(self, error: XgateError) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(error)

    # -- the owner's side -------------------------------------------------------------------

    async def resume(self) -> None:
        """Take over the journal's open entries of this signer: await what the node has,
        re-broadcast what it lost (unless the nonce is used), then settle what is mined or
        dropped; the next nonce is past both the node's pending nonce and the journal's."""
        entries = await self._journal.open_entries(self._chain_id, self.address)
        used_below = await self._chain.nonce(self.address, "latest") if entries else 0
        for entry in sorted(entries, key=lambda e: e.nonce):
            if not entry.attempts:
                continue  # nothing was signed, so nothing can have been sent
            self._inflight[entry.nonce] = entry
            for attempt in entry.attempts:
                self._track(entry.nonce, attempt.tx_hash, entry.attempts[0].tx_hash)
            if entry.nonce >= used_below and not await self._any_known(entry):
                log.info(
                    "re-broadcasting %s nonce %d from the journal",
                    to_checksum_address(self.address),
                    entry.nonce,
                )
                await self._rebroadcast(entry)
        self._nonce = await self._next_nonce()
        await self.step()
        self._closed = None

    async def run(self) -> None:
        """Send queued requests one at a time; between them, every ``check_interval_s``,
        ``step()`` over the transactions in flight."""
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self._policy.check_interval_s
        job: _Job | None = None
        try:
            while True:
                job = await self._next_job(max(next_check - loop.time(), 0.0))
                if job is not None:
                    await self._handle(job)
                    job = None
                if loop.time() >= next_check:
                    await self._checked_step()
                    next_check = loop.time() + self._policy.check_interval_s
        except asyncio.CancelledError:
            if job is not None and not job.future.done():
                job.future.set_exception(AdapterClosed("adapter closed during the submission"))
            raise
        except Exception as exc:
            # A bug, not a chain condition: fail loudly to every waiter instead of hanging them.
            self._dead = exc
            log.exception("signer writer for %s crashed", to_checksum_address(self.address))
            if job is not None and not job.future.done():
                job.future.set_exception(exc)
            self.fail_pending(AdapterClosed("signer writer crashed", reason=clip(exc)))
            raise

    async def _next_job(self, wait: float) -> _Job | None:
        if not self._queue.empty():
            return self._queue.get_nowait()
        try:
            async with asyncio.timeout(wait):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def _handle(self, job: _Job) -> None:
        if job.future.done():  # the caller gave up (cancelled) before we got to it
            return
        try:
            sent = await self._send(job.request, job.purpose, job.refs)
        except XgateError as exc:
            # The nonce may or may not have been consumed: ask the node next time.
            self._nonce = None
            if not job.future.done():  # the caller may have been cancelled meanwhile
                job.future.set_exception(exc)
        else:
            if not job.future.done():
                job.future.set_result(sent)

    async def _checked_step(self) -> None:
        """``step()``, its errors classified (style rule 6). A chain error, retryable or not,
        waits for the next check: the transactions in flight are still there, and a stopped
        writer would leave every worker of the process unable to send until a restart.
        Anything else (a bug) stops the writer (``run`` fails every waiter)."""
        try:
            await self.step()
        except XgateError as exc:
            level = logging.WARNING if exc.retryable else logging.ERROR
            log.log(
                level,
                "checking transactions of %s failed, next check in %.1fs: %s",
                to_checksum_address(self.address),
                self._policy.check_interval_s,
                exc,
            )

    # -- sending ----------------------------------------------------------------------------

    async def _next_nonce(self) -> int:
        pending = await self._chain.nonce(self.address, "pending")
        return max(pending, max(self._inflight, default=-1) + 1)

    async def _send(self, call: TxRequest, purpose: str, refs: tuple[str, ...]) -> SentTx:
        address = self.address
        for _ in range(_MAX_RESYNCS):
            if self._nonce is None:
                self._nonce = await self._next_nonce()
            nonce = self._nonce
            gas = (
                call.gas if call.gas is not None else await self._chain.estimate_gas(call, address)
            )
            fees = (await self._chain.fees()).capped(self._policy.max_fee_per_gas)
            entry = JournalEntry(
                chain_id=self._chain_id,
                sender=address,
                nonce=nonce,
                to=call.to,
                value=call.value,
                data=call.data,
                purpose=purpose,
                refs=refs,
            )
            signed, attempt = await self._sign(entry, fees, gas)
            await self._journal.record_attempt(entry, attempt)
            entry = dataclasses.replace(entry, attempts=(attempt,))
            try:
                await self._chain.broadcast(signed)
            except NonceConflict as exc:
                log.info("nonce conflict for %s, resyncing", to_checksum_address(address))
                await self._close(entry, Dropped(f"nonce already used: {clip(str(exc))}"))
                self._nonce = None
                continue
            except XgateError as exc:
                await self._close(entry, Failed(exc.message))
                raise
            self._nonce = nonce + 1
            self._inflight[nonce] = entry
            return self._track(nonce, signed.tx_hash, signed.tx_hash)
        raise TransactionFailed(
            "nonce kept conflicting; another process sends from this account?", sender=address
        )

    async def _sign(self, entry: JournalEntry, fees: Fees, gas: int) -> tuple[SignedTx, TxAttempt]:
        tx = UnsignedTx(
            chain_id=self._chain_id,
            nonce=entry.nonce,
            to=entry.to,
            value=entry.value,
            data=entry.data,
            gas=gas,
            **fees.unsigned(),
        )
        signed = await self._signer.sign_transaction(tx)
        return signed, TxAttempt(signed.tx_hash, signed.raw, fees, gas, time.time())

    async def _rebroadcast(self, entry: JournalEntry) -> None:
        latest = entry.latest
        try:
            await self._chain.broadcast(SignedTx(latest.raw, latest.tx_hash))
        except NonceConflict:
            pass  # mined or replaced meanwhile: the next step settles it
        except TransactionFailed as exc:
            # E.g. its fees are below what the node takes now: the stuck timer replaces it.
            log.warning(
                "node refused the re-broadcast of %s nonce %d: %s",
                to_checksum_address(self.address),
                entry.nonce,
                exc,
            )

    # -- transactions in flight -------------------------------------------------------------

    async def step(self) -> None:
        """One look at every transaction in flight: record the final ones (``Mined``) and
        the ones whose nonce another transaction took (``Dropped``); replace the stuck ones."""
        if not self._inflight:
            return
        used_below = await self._chain.nonce(self.address, "latest")
        for nonce in sorted(self._inflight):
            entry = self._inflight[nonce]
            if nonce < used_below:
                await self._settle(entry)
            elif time.time() - entry.latest.signed_at >= self._policy.stuck_after_s:
                await self._replace(entry)

    async def _settle(self, entry: JournalEntry) -> None:
        """The nonce is used: by which of our attempts (once final), or by none."""
        for attempt in reversed(entry.attempts):
            mined = await self._chain.mined(attempt.tx_hash)
            if mined is not None:
                if await self._is_final(mined):
                    await self._close(entry, mined)
                return
        if await self._any_known(entry):
            return  # the node still has one of ours: its receipt is on the way
        await self._close(entry, Dropped("nonce used by a transaction none of ours"))

    async def _replace(self, entry: JournalEntry) -> None:
        """Re-sign a stuck transaction at the same nonce with bumped fees."""
        nonce = entry.nonce
        if nonce in self._no_bump:
            return
        policy = self._policy
        fees = bump_fees(entry.latest.fees, policy.fee_bump_pct, policy.max_fee_per_gas)
        if fees is None:
            if nonce not in self._warned_cap:
                self._warned_cap.add(nonce)
                log.warning(
                    "%s nonce %d is stuck, and a fee bump would pass max_fee_per_gas %d; "
                    "it stays at a max fee of %d",
                    to_checksum_address(self.address),
                    nonce,
                    policy.max_fee_per_gas,
                    entry.latest.fees.ceiling,
                )
            if not await self._any_known(entry):
                await self._rebroadcast(entry)  # the node lost it (restart, pool eviction)
            return
        # The market may have moved further than one bump: never below a fresh quote.
        fees = fees.at_least((await self._chain.fees()).capped(policy.max_fee_per_gas))
        signed, attempt = await self._sign(entry, fees, entry.latest.gas)
        await self._journal.record_attempt(entry, attempt)
        entry = dataclasses.replace(entry, attempts=(*entry.attempts, attempt))
        self._inflight[nonce] = entry
        self._track(nonce, attempt.tx_hash, entry.attempts[0].tx_hash)
        log.info(
            "%s nonce %d not mined after %.0fs: replaced by %s (max fee %d)",
            to_checksum_address(self.address),
            nonce,
            policy.stuck_after_s,
            hexstr(attempt.tx_hash),
            fees.ceiling,
        )
        try:
            await self._chain.broadcast(signed)
        except NonceConflict:
            pass  # mined meanwhile, or the node wants a higher bump: the next step sees which
        except TransactionFailed as exc:
            self._no_bump.add(nonce)
            log.error(
                "node refused the replacement of %s nonce %d; it stays as it is: %s",
                to_checksum_address(self.address),
                nonce,
                exc,
            )

    async def _any_known(self, entry: JournalEntry) -> bool:
        for attempt in reversed(entry.attempts):
            if await self._chain.tx_known(attempt.tx_hash):
                return True
        return False

    async def _close(self, entry: JournalEntry, outcome: TxOutcome) -> None:
        await self._journal.record_outcome(entry.chain_id, entry.sender, entry.nonce, outcome)
        self._inflight.pop(entry.nonce, None)
        self._no_bump.discard(entry.nonce)
        self._warned_cap.discard(entry.nonce)
        tracked = self._tracked.get(entry.nonce)
        if tracked is not None and tracked.sent.tx_hash == entry.attempts[0].tx_hash:
            tracked.outcome = outcome

    def _track(self, nonce: int, tx_hash: TxHash, first: TxHash) -> SentTx:
        tracked = self._tracked.get(nonce)
        if tracked is None or tracked.sent.tx_hash != first:
            if tracked is not None:
                for old in tracked.hashes:
                    self._by_hash.pop(old, None)
                del self._tracked[nonce]
            sent = SentTx(self._chain_id, self.address, nonce, first)
            tracked = self._tracked[nonce] = _Tracked(sent, [])
            while len(self._tracked) > _REMEMBERED_NONCES:
                oldest = next(iter(self._tracked))
                for old in self._tracked.pop(oldest).hashes:
                    self._by_hash.pop(old, None)
        if tx_hash not in tracked.hashes:
            tracked.hashes.append(tx_hash)
            self._by_hash[tx_hash] = nonce
        return tracked.sent


def _conforms(journal: InMemoryJournal) -> TxJournal:
    """Never called: makes mypy check that InMemoryJournal satisfies TxJournal."""
    return journal
