"""The ``ChainAdapter`` role and the plain data it returns.

Everything here is web3-free: adapters translate node answers into these frozen dataclasses,
so code above ``adapters/`` never sees a web3 type or a JSON-RPC dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from adapters.errors import FatalError, NotYetAvailable
from adapters.types import Address, ChainId, ChainRef, Finality, Hash32, Height, TxHash

if TYPE_CHECKING:
    from types import TracebackType

    from adapters.headers import Header
    from adapters.mpt import Account, AccountProof
    from adapters.receipts import ReceiptProof

__all__ = [
    "AccountState",
    "AdapterClosed",
    "BadRequest",
    "Capabilities",
    "ChainAdapter",
    "ChainEvent",
    "EventQuery",
    "FinalityKind",
    "TransactionNotFound",
    "TxReceipt",
    "TxRequest",
]


# --- errors specific to adapters (subclasses of the shared hierarchy) --------------------------


class BadRequest(FatalError):
    """The caller asked for something that can never succeed (start > end, wrong sizes)."""


class AdapterClosed(FatalError):
    """A submission reached an adapter that is not started (``async with``) or already closed."""


class TransactionNotFound(NotYetAvailable):
    """The node knows neither a receipt nor a pending transaction for this hash.

    Retryable: a transaction just sent through another node may not have propagated yet.
    """


# --- capabilities ------------------------------------------------------------------------------


class FinalityKind(StrEnum):
    """How a chain finalises blocks: the adapter's profile, not a runtime guess."""

    INSTANT = "instant"  # BFT: a block is final once it has a quorum of commit seals
    TAG = "tag"  # post-merge Ethereum: the node's "finalized" / "safe" tags
    DEPTH = "depth"  # confirmation count below the head


@dataclass(frozen=True, slots=True)
class Capabilities:
    finality: FinalityKind
    eip1559: bool
    poa: bool  # extraData carries consensus data (BFT/Clique): not the plain Ethereum rules


# --- queries and results -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventQuery:
    """An ``eth_getLogs`` filter: any of ``addresses`` (empty = all); ``topics[i]`` is None for
    "any" or a tuple of alternatives for position i."""

    addresses: tuple[Address, ...] = ()
    topics: tuple[tuple[bytes, ...] | None, ...] = ()

    def __post_init__(self) -> None:
        for a in self.addresses:
            if not isinstance(a, bytes) or len(a) != 20:
                raise BadRequest("event query address must be 20 bytes", address=a)
        if len(self.topics) > 4:
            raise BadRequest("event query has more than 4 topic positions", count=len(self.topics))
        for position, options in enumerate(self.topics):
            if options is None:
                continue
            if not options:
                raise BadRequest("empty topic alternatives match nothing", position=position)
            for t in options:
                if not isinstance(t, bytes) or len(t) != 32:
                    raise BadRequest("topic must be 32 bytes", position=position, topic=t)

    def matches(self, address: bytes, topics: Sequence[bytes]) -> bool:
        """Whether a log satisfies this filter (used to reject nodes that ignore filters)."""
        if self.addresses and address not in self.addresses:
            return False
        for position, options in enumerate(self.topics):
            if options is None:
                continue
            if position >= len(topics) or topics[position] not in options:
                return False
        return True


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One log, located on its chain."""

    chain_id: ChainId
    block_number: Height
    block_hash: Hash32
    tx_hash: TxHash
    tx_index: int
    log_index: int  # position in the block (the JSON-RPC ``logIndex``)
    address: Address
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class TxRequest:
    """What to send. The adapter fills in nonce, fees and (unless given) the gas limit.

    ``to`` None deploys ``data`` as init code. ``sender`` None uses the adapter's default
    signer; otherwise it picks one of the adapter's signers by address.
    """

    to: Address | None
    data: bytes = b""
    value: int = 0
    gas: int | None = None
    sender: Address | None = None

    def __post_init__(self) -> None:
        if self.to is not None and (not isinstance(self.to, bytes) or len(self.to) != 20):
            raise BadRequest("recipient must be 20 bytes", to=self.to)
        if not isinstance(self.data, bytes):
            raise BadRequest("call data must be bytes")
        if isinstance(self.value, bool) or not isinstance(self.value, int) or self.value < 0:
            raise BadRequest("value must be a non-negative integer", value=self.value)
        if self.gas is not None and (not isinstance(self.gas, int) or self.gas <= 0):
            raise BadRequest("gas must be a positive integer", gas=self.gas)


@dataclass(frozen=True, slots=True)
class TxReceipt:
    """A mined transaction, as returned by ``wait_final``."""

    chain_id: ChainId
    tx_hash: TxHash
    block_number: Height
    block_hash: Hash32
    tx_index: int
    status: int  # 1 success, 0 reverted, -1 unknown (pre-Byzantium receipt)
    gas_used: int
    effective_gas_price: int
    sender: Address
    to: Address | None
    contract_address: Address | None
    logs: tuple[ChainEvent, ...]


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account (and storage slots) proven against the stateRoot of a verified header."""

    address: Address
    height: Height
    block_hash: Hash32
    state_root: Hash32
    account: Account | None  # None: the account does not exist at this height
    storage: tuple[tuple[int, int], ...]  # (slot, value), in the order asked
    proof: AccountProof  # the raw EIP-1186 proof, for relaying to a verifier contract


# --- the role ----------------------------------------------------------------------------------


@runtime_checkable
class ChainAdapter(Protocol):
    """Async access to one chain. Every answer is validated before it is returned: hashes are
    recomputed, roots rebuilt, proofs verified. Errors are ``adapters.errors`` types only."""

    @property
    def ref(self) -> ChainRef:
        """Which chain this adapter talks to."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """Finality kind, fee model and consensus family of the chain's profile."""
        ...

    @property
    def finality(self) -> Finality:
        """The configured finality policy: what "final" means on this chain."""
        ...

    async def __aenter__(self) -> ChainAdapter:
        """Check the node (chain id) and start the signer writers."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def aclose(self) -> None:
        """Stop the writers (pending submissions fail with ``AdapterClosed``), close HTTP."""
        ...

    async def height(self, finality: Finality) -> Height:
        """The highest block at ``finality``. No default: callers name the finality."""
        ...

    async def header(self, height: Height) -> Header:
        """The canonical header at ``height``, its hash checked (and for BFT, its seals)."""
        ...

    def block_hash(self, header: Header) -> Hash32:
        """The chain's block-hash rule (plain keccak, or the QBFT rule)."""
        ...

    async def events(self, query: EventQuery, start: Height, end: Height) -> Sequence[ChainEvent]:
        """Logs matching ``query`` in blocks ``start..end`` inclusive, in chain order."""
        ...

    async def receipt_proof(self, tx_hash: TxHash, log_index: int | None = None) -> ReceiptProof:
        """A Merkle-Patricia proof of the transaction's receipt against its block's
        receiptsRoot (checked by rebuilding the root from all the block's receipts)."""
        ...

    async def account_proof(
        self, address: Address, slots: Sequence[int], height: Height
    ) -> AccountState:
        """An EIP-1186 account/storage proof verified against the header's stateRoot."""
        ...

    async def submit(self, call: TxRequest) -> TxHash:
        """Sign and send through the sender's single writer (consecutive nonces)."""
        ...

    async def wait_final(
        self,
        tx_hash: TxHash,
        finality: Finality,
        timeout: float,  # noqa: ASYNC109 - the ChainAdapter role takes a per-call deadline
    ) -> TxReceipt:
        """Wait until the transaction is mined at ``finality``; ``TransactionFailed`` if it
        reverted, ``NotYetAvailable`` on timeout."""
        ...
