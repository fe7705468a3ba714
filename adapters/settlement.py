"""What the receivable keeper reads and sends on the consortium's ``Receivable`` (docs/relayer.md
§9): a token's state and outstanding amount, a currency's settlement token, a debtor's
allowance and balance in it, the grace period, all at one block; and the ``settle`` /
``markDefault`` transactions for the keeper signer's writer.

The lifecycle logs themselves are read by ``adapters.contracts.ReceivableView``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from eth_utils.address import to_canonical_address

from adapters.base import TxRequest
from adapters.contracts import ContractHandle
from adapters.evm import EvmAdapter
from adapters.types import Address, Height
from contracts import load_artifact

__all__ = ["ReceivableSettlementView", "SettlementStatus"]

_ZERO = bytes(20)


@dataclass(frozen=True, slots=True)
class SettlementStatus:
    """``Receivable.statusOf``'s state (the ``State`` enum's number) and outstanding amount
    (minor units of the currency)."""

    state: int
    outstanding: int


class ReceivableSettlementView:
    """The consortium's ``Receivable`` at ``address``, and the ERC-20 settlement tokens its
    debtors pay in, read at a given block."""

    def __init__(self, adapter: EvmAdapter, address: Address) -> None:
        self._adapter = adapter
        self._receivable = ContractHandle(adapter, address, load_artifact("Receivable"))

    @property
    def address(self) -> Address:
        return self._receivable.address

    async def grace_period(self, height: Height) -> int:
        """Seconds after a due date before an unpaid receivable can be marked defaulted."""
        return int(await self._receivable.view("gracePeriod", height=height))

    async def status(self, token_id: int, height: Height) -> SettlementStatus:
        """``CallReverted`` (``UnknownReceivable``) for a token the contract never had."""
        raw = await self._receivable.view("statusOf", token_id, height=height)
        return SettlementStatus(state=int(raw[0]), outstanding=int(raw[2]))

    async def settlement_asset(self, currency: bytes, height: Height) -> tuple[Address, int] | None:
        """The settlement token of a currency code (3 bytes) and its scale (token base units
        per minor unit); None when the currency has none."""
        token, scale = await self._receivable.view("settlementAssetOf", currency, height=height)
        address = Address(to_canonical_address(token))
        return None if address == _ZERO else (address, int(scale))

    async def funds(self, token: Address, debtor: Address, height: Height) -> tuple[int, int]:
        """The debtor's allowance to the ``Receivable`` and its balance in ``token``."""
        # any ERC-20's allowance and balanceOf
        erc20 = ContractHandle(self._adapter, token, load_artifact("SettlementToken"))
        allowance = await erc20.view("allowance", debtor, self.address, height=height)
        balance = await erc20.view("balanceOf", debtor, height=height)
        return int(allowance), int(balance)

    def settle(self, token_id: int, sender: Address) -> TxRequest:
        """``settle(tokenId)``: the outstanding amount from the debtor to the holder."""
        return replace(self._receivable.request("settle", token_id), sender=sender)

    def mark_default(self, token_id: int, sender: Address) -> TxRequest:
        return replace(self._receivable.request("markDefault", token_id), sender=sender)
