"""The ``ChainAdapter`` role and the plain data it returns.

Everything here is web3-free: adapters translate node answers into these frozen dataclasses,
so code above ``adapters/`` never sees a web3 type or a JSON-RPC dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from adapters.errors import FatalError, NotYetAvailable
from adapters.types import Address, ChainId, ChainRef, Finality, Hash32, Height, TxHash

if TYPE_CHECKING:
    from types import TracebackType

    from adapters.headers import Header
    from adapters.mpt import Account, AccountProof
    from adapters.receipts import ProvenLog, ReceiptProof
    from contracts import DecodedError

__all__ = [
    "AccountState",
    "AdapterClosed",
    "BadRequest",
    "CallReverted",
    "Capabilities",
    "ChainAdapter",
    "ChainEvent",
    "EventQuery",
    "FinalityKind",
    "TransactionNotFound",
    "TxReceipt",
    "TxRequest",
    "check_bytes",
    "check_height",
]


# --- errors specific to adapters (subclasses of the shared hierarchy) --------------------------


class BadRequest(FatalError):
    """The caller asked for something that can never succeed (start > end, wrong sizes)."""


class AdapterClosed(FatalError):
    """A submission reached an adapter that is not started (``async with``) or already closed."""


class CallReverted(FatalError):
    """``eth_call`` reverted. ``data`` is the revert data (b"" when the node gave none) and
    ``decoded`` the error an artifact declares for it (``contracts.decode_error``), or None."""

    data: bytes
    decoded: DecodedError | None

    def __init__(
        self, message: str, *, data: bytes, decoded: DecodedError | None, **context: Any
    ) -> None:
        super().__init__(message, data=data, decoded=decoded, **context)


class TransactionNotFound(NotYetAvailable):
    """The node knows neither a receipt nor a pending transaction for this hash.

    Retryable: a transaction just sent through another node may not have propagated yet.
    """


def check_height(value: object, what: str) -> None:
    """``BadRequest`` unless ``value`` is a non-negative int (a height, an index)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{what} must be a non-negative integer", value=value)


def check_bytes(value: object, size: int, what: str) -> None:
    """``BadRequest`` unless ``value`` is exactly ``size`` bytes (an address, a hash)."""
    if not isinstance(value, bytes) or len(value) != size:
        raise BadRequest(f"{what} must be {size} bytes", value=value)


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
    # Position among all logs of the block (the JSON-RPC ``logIndex``). Not the position within
    # the transaction's receipt, which ``BridgeEndpoint.deliver`` takes: ``ProvenLog`` has both.
    block_log_index: int
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
        """``eth_call`` at exactly one of ``finality`` or ``height``; ``CallReverted`` (with the
        revert data, decoded when an artifact declares the error) when it reverts."""
        ...

    async def receipt_proof(self, tx_hash: TxHash) -> ReceiptProof:
        """A Merkle-Patricia proof of the transaction's receipt against its block's
        receiptsRoot (checked by rebuilding the root from all the block's receipts)."""
        ...

    async def proven_log(self, tx_hash: TxHash, block_log_index: int) -> ProvenLog:
        """The log at ``block_log_index`` of the transaction's block, which the transaction must
        have emitted, with its receipt proof and its position within the receipt."""
        ...

    async def receipt_proofs(
        self, block_number: Height, tx_indexes: Sequence[int]
    ) -> dict[int, ReceiptProof]:
        """Proofs of several receipts of one block, from one fetch of its receipts."""
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
