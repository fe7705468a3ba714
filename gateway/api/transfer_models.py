"""The transfer and chain-status operations' request and response bodies (``transfers.py``,
docs/api.md §5), built on the wire types of ``models.py``. Apart from the handlers, so the SDK
imports them without the handlers' chain and store dependencies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.api.models import (
    MAX_CHAIN_ID,
    ApiModel,
    ChainIdParam,
    ChecksumAddress,
    Hash32Hex,
    HexBytes,
    MessageIdHex,
    TxHashHex,
    Uint64,
    Uint256,
    UnsignedTx,
)
from gateway.domain.status import MessageStatus

__all__ = [
    "AssetKind",
    "ChainFees",
    "ChainPath",
    "ChainStatus",
    "CounterpartStatus",
    "DeliveryCost",
    "GasCost",
    "HeaderCall",
    "HeaderOnDestination",
    "LatencyEstimate",
    "ManualExecution",
    "RawTransactionBody",
    "SourceCost",
    "SubmittedTransaction",
    "TrackRequest",
    "TrackedTransaction",
    "TransferBuild",
    "TransferFees",
    "TransferQuote",
    "TransferTerms",
]


AssetKind = Literal["settlement_token", "receivable"]


ChainIdOut = Annotated[int, Field(ge=1, le=MAX_CHAIN_ID)]
HeightOut = Annotated[int, Field(ge=0)]


# --- models ------------------------------------------------------------------------------------


class ChainPath(ApiModel):
    chain_id: ChainIdParam = Field(description="a configured chain's id")


class CounterpartStatus(ApiModel):
    """How far a counterpart chain's header oracle has followed this chain."""

    chain_id: ChainIdOut
    name: str
    oracle: Literal["qbft_light_client", "attested_header_store"] = Field(
        description="the contract on the counterpart that holds this chain's headers"
    )
    oracle_address: ChecksumAddress | None
    known_height: HeightOut | None = Field(
        description="the highest block of this chain the oracle accepted (the header store "
        "accepts only blocks with messages: its newest within the look-back window); null "
        "when unknown"
    )
    lag_blocks: HeightOut | None = Field(
        description="this chain's final height minus known_height (a header store follows "
        "only blocks with messages, so its lag grows between messages)"
    )
    frozen: bool | None = Field(description="a light client frozen by misbehaviour evidence")
    route_paused: bool | None = Field(
        description="this chain's endpoint route to the counterpart is paused (its own pause)"
    )
    detail: str | None = Field(description="why a value is null")


class ChainStatus(ApiModel):
    """A chain's heights, its counterparts' view of it and its endpoint's pauses."""

    chain_id: ChainIdOut
    name: str
    kind: Literal["qbft", "evm"]
    head_height: HeightOut
    finalized_height: HeightOut = Field(description="the newest block final under the policy")
    endpoint: ChecksumAddress | None
    endpoint_paused: bool | None = Field(description="the endpoint's global pause")
    paused_routes: list[ChainIdOut] = Field(
        description="counterparts whose route is paused here (globally paused: all)"
    )
    counterparts: list[CounterpartStatus]


class TransferTerms(ApiModel):
    """A transfer of ``asset`` from ``sender`` on ``src_chain_id`` to ``recipient`` on
    ``dst_chain_id``: an ``amount`` of the settlement token (base units), or the receivable
    ``token_id``."""

    src_chain_id: ChainIdParam
    dst_chain_id: ChainIdParam
    asset: AssetKind
    amount: Uint256 | None = Field(default=None, description="settlement_token: base units")
    token_id: Uint256 | None = Field(default=None, description="receivable: the token id")
    sender: ChecksumAddress = Field(description="the wallet that signs the source transactions")
    recipient: ChecksumAddress = Field(description="who receives the asset on dst_chain_id")

    @model_validator(mode="after")
    def _amount_or_token(self) -> TransferTerms:
        wanted, other = ("amount", "token_id")
        if self.asset == "receivable":
            wanted, other = other, wanted
        if getattr(self, wanted) is None:
            raise ValueError(f"{self.asset} needs {wanted}")
        if getattr(self, other) is not None:
            raise ValueError(f"{self.asset} takes {wanted}, not {other}")
        return self


class LatencyEstimate(ApiModel):
    """Seconds from the source transaction to the delivery: ``measured`` on the route's
    recent deliveries (the relay time the store recorded, plus the source chain's time to
    finality, before which nothing is relayed), or ``estimated`` from the chains' finality
    times when the route has no delivery yet."""

    basis: Literal["measured", "estimated"]
    p50_s: Annotated[float, Field(ge=0)]
    p95_s: Annotated[float, Field(ge=0)]
    samples: Annotated[int, Field(ge=0)]
    source_finality_s: Annotated[float, Field(ge=0)]


class ChainFees(ApiModel):
    """A chain's fee market read now at its latest block, in wei: EIP-1559 (a base fee, and
    the suggested ``max_priority_fee_per_gas`` and ``max_fee_per_gas`` = 2 x base fee + tip,
    what the relay service sends with) or legacy (``gas_price``)."""

    chain_id: ChainIdOut
    name: str
    block_number: HeightOut = Field(description="the head block the fees were read at")
    eip1559: bool
    base_fee_per_gas: Uint256 | None = Field(description="null on a chain without a base fee")
    max_priority_fee_per_gas: Uint256 | None = Field(description="EIP-1559: the suggested tip")
    max_fee_per_gas: Uint256 | None = Field(description="EIP-1559: 2 x base fee + tip")
    gas_price: Uint256 | None = Field(description="legacy: the node's gas price")


class GasCost(ApiModel):
    """One transaction's gas and its fee in wei at the chain's current suggestion: at most
    ``max_fee_wei`` (gas x max fee per gas), likely ``likely_fee_wei`` (gas x (base fee +
    tip), or gas x gas price); null while the gas cannot be estimated."""

    gas: Uint64 | None
    max_fee_wei: Uint256 | None
    likely_fee_wei: Uint256 | None


class SourceCost(ApiModel):
    """The source transactions the user's wallet pays, in wei of the source chain."""

    chain_id: ChainIdOut
    max_fee_per_gas: Uint256 = Field(description="max fee per gas (or gas price) now")
    likely_gas_price: Uint256 = Field(description="base fee + tip (or gas price) now")
    txs: list[GasCost] = Field(description="the build's transactions, in order")
    max_fee_wei: Uint256 | None = Field(description="the sum; null when a gas is null")
    likely_fee_wei: Uint256 | None = Field(description="the sum; null when a gas is null")


class DeliveryCost(ApiModel):
    """The delivery on the destination, paid by the relay service (not the user)."""

    chain_id: ChainIdOut
    paid_by: Literal["relayer"]
    gas_per_message: Uint64
    basis: Literal["measured", "estimated"] = Field(
        description="measured: the receipts' gasUsed of the route's last distinct delivery "
        "transactions divided by the messages each carried; estimated: a constant per asset"
    )
    samples: Annotated[int, Field(ge=0)] = Field(description="delivery transactions measured")
    max_fee_per_gas: Uint256
    likely_gas_price: Uint256
    max_fee_wei: Uint256
    likely_fee_wei: Uint256


class TransferFees(ApiModel):
    """What the transfer costs: the bridge contracts charge no fee (``protocol_fee`` 0), so
    the user pays the source chain's gas; the delivery's gas is the relay service's."""

    protocol_fee: Uint256
    source_gas: Uint64 | None = Field(
        description="the source transactions' gas (node estimates with the chain's margin); "
        "null when a step can be estimated only once an approval is mined"
    )
    source_txs: Annotated[int, Field(ge=1)]
    delivery_gas: Uint64 = Field(description="the delivery's gas per message (delivery)")
    delivery_gas_basis: Literal["measured", "estimated"]
    source: SourceCost
    delivery: DeliveryCost


class TransferQuote(ApiModel):
    """Fees and expected latency of a transfer."""

    src_chain_id: ChainIdOut
    dst_chain_id: ChainIdOut
    asset: AssetKind
    fees: TransferFees
    latency: LatencyEstimate


class TransferBuild(ApiModel):
    """The transactions the wallet signs and sends, in order (the next once the previous is
    mined)."""

    src_chain_id: ChainIdOut
    dst_chain_id: ChainIdOut
    asset: AssetKind
    txs: list[UnsignedTx]


class RawTransactionBody(ApiModel):
    raw: Annotated[HexBytes, Field(description="the signed transaction, as a wallet encodes it")]


class SubmittedTransaction(ApiModel):
    """A forwarded transaction, tracked: ``GET /v1/transfers/{tracking_id}`` finds its
    transfer once the relay service recorded it (after the source block is final)."""

    chain_id: ChainIdOut
    tx_hash: TxHashHex
    sender: ChecksumAddress
    nonce: Uint64
    tracking_id: str


class TrackRequest(ApiModel):
    chain_id: ChainIdParam
    tx_hash: TxHashHex


class TrackedTransaction(ApiModel):
    """A source transaction tracked: its tracking id names its transfer."""

    chain_id: ChainIdOut
    tx_hash: TxHashHex
    tracking_id: str


class HeaderCall(ApiModel):
    """A destination transaction anyone may send (``to``, ``data``) to get the source
    header accepted."""

    to: ChecksumAddress
    data: HexBytes
    description: str


class HeaderOnDestination(ApiModel):
    """Whether the destination's header oracle knows the message's source block, and when
    not, the calls that get it there (send them in order, then the delivery)."""

    oracle: Literal["qbft_light_client", "attested_header_store"]
    oracle_address: ChecksumAddress
    accepted: bool
    required: str | None = Field(description="what must be submitted first, when not accepted")
    submit: list[HeaderCall] = Field(
        description="the header calls, in order (the light client's submitHeader, "
        "updateValidatorSet runs or submitAncestors, as the relay service builds them); "
        "empty when accepted, or when the attesters must sign first (attested headers)"
    )


class ManualExecution(ApiModel):
    """The proof of a message and the destination call that delivers it; anyone may send
    it (``to``, ``data``) once the header is accepted. ``data`` is ``deliverBatch`` with the
    one item."""

    message_id: MessageIdHex
    status: MessageStatus
    src_chain_id: ChainIdOut
    dst_chain_id: ChainIdOut
    src_block_number: HeightOut
    src_block_hash: Hash32Hex
    tx_index: HeightOut
    receipt_log_index: HeightOut
    proof: list[HexBytes] = Field(description="receipts-trie nodes, root to leaf")
    to: ChecksumAddress = Field(description="the destination endpoint")
    data: HexBytes
    gas: Uint64 | None = Field(description="the node's estimate; null until the header is known")
    header: HeaderOnDestination
