"""Sending a relay transaction: simulate it first (no gas for a call that would revert), then
hand it to the signer's single writer and wait until it is mined (docs/relayer.md §5).

Workers never build nonces or fees: the adapter's ``SignerWriter`` owns them, journals every
attempt and replaces stuck transactions with higher fees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from adapters.base import CallReverted, TxReceipt, TxRequest
from adapters.errors import TransactionFailed
from adapters.evm import EvmAdapter
from adapters.rpc.submit import SentTx
from adapters.types import Address, Finality
from relayers.metrics import RelayMetrics

__all__ = ["Sender", "reverted_with"]


def reverted_with(exc: CallReverted, *names: str) -> bool:
    """Whether the revert is one of the contract errors ``names``."""
    return exc.decoded is not None and exc.decoded.name in names


@dataclass(frozen=True, slots=True)
class Sender:
    """One signer on one chain: ``simulate`` and ``send`` its relay transactions."""

    adapter: EvmAdapter
    metrics: RelayMetrics
    chain: str  # the chain's configured name (metrics label)
    confirm_timeout_s: float
    address: Address  # the signer (one of the adapter's): its writer sends

    async def simulate(self, request: TxRequest) -> None:
        """``eth_call`` the request from this signer on the latest state; ``CallReverted``
        (with the decoded contract error) when it would revert."""
        assert request.to is not None
        await self.adapter.call(
            request.to, request.data, finality=Finality.latest(), sender=self.address
        )

    async def send(
        self,
        request: TxRequest,
        *,
        purpose: str,
        refs: Iterable[str] = (),
        on_sent: Callable[[SentTx], Awaitable[None]] | None = None,
    ) -> TxReceipt:
        """``submit`` and ``confirm``: one transaction, sent and mined."""
        sent = await self.submit(request, purpose=purpose, refs=refs, on_sent=on_sent)
        return await self.confirm(sent, purpose)

    async def submit(
        self,
        request: TxRequest,
        *,
        purpose: str,
        refs: Iterable[str] = (),
        on_sent: Callable[[SentTx], Awaitable[None]] | None = None,
    ) -> SentTx:
        """Simulate and submit through the writer; returns once the node has the transaction,
        after ``on_sent`` (record it before waiting). ``CallReverted`` when it would revert:
        nothing was sent. Several submits in a row go out on consecutive nonces, each
        simulated on the latest state (not on the ones still pending)."""
        if request.gas is not None:
            await self.simulate(request)
        # else the writer's gas estimate is the simulation: one call less per transaction
        try:
            sent = await self.adapter.writer(self.address).submit(
                request, purpose=purpose, refs=tuple(refs)
            )
        except TransactionFailed as exc:
            data = exc.context.get("data")
            if not isinstance(data, bytes):
                raise
            # The gas estimate reverted: the same decoded revert as a simulation's.
            raise CallReverted(
                "transaction would revert now",
                data=data,
                decoded=exc.context.get("decoded"),
                to=request.to,
            ) from exc
        if on_sent is not None:
            await on_sent(sent)
        return sent

    async def confirm(self, sent: SentTx, purpose: str) -> TxReceipt:
        """Wait until ``sent`` is mined (any attempt of its nonce: fee-bumped replacements
        count). ``TransactionFailed`` if it reverted on chain after all (another relayer got
        there between the simulation and the block); ``NotYetAvailable`` when it is not mined
        within ``confirm_timeout_s``."""
        try:
            receipt = await self.adapter.wait_mined(sent, Finality.latest(), self.confirm_timeout_s)
        except TransactionFailed as exc:
            failed = exc.context.get("receipt")
            if isinstance(failed, TxReceipt):
                self.count(failed, purpose)
            raise
        self.count(receipt, purpose)
        return receipt

    def count(self, receipt: TxReceipt, purpose: str) -> None:
        self.metrics.gas_used.labels(chain=self.chain, purpose=purpose).inc(receipt.gas_used)
        self.metrics.fees_paid.labels(chain=self.chain, purpose=purpose).inc(
            receipt.gas_used * receipt.effective_gas_price
        )
