"""The receivable keeper: settles the consortium's receivables on their due date for debtors
who pre-authorised the payment, and marks the unpaid ones defaulted once their grace period
is over (docs/relayer.md §9 "The receivable keeper"; contracts/src/assets/Receivable.sol).

One step:

1. **Scan.** The next range (at most ``log_range`` blocks) of final consortium blocks is read
   for the ``Receivable``'s lifecycle logs (``adapters.contracts.ReceivableView``); once the
   scan reached the final head, the new ones are folded with every earlier one into records
   (``gateway.domain.receivable_ledger``), not at every range. The events live
   in memory only: a restart scans again from the chain's ``start_height``, so everything the
   worker knows comes from the chain. Until the scan reaches the final head, the step scans
   only (and asks to step again at once). The last scanned block is checked to be still
   canonical at every step (``FinalityViolation`` otherwise, as the watcher).
2. **Read** at the last scanned block H (its time is the worker's clock, never the local one):
   for each receivable the records show acknowledged, not settled, cancelled or split, and due
   by then, its ``statusOf`` (state, outstanding), its currency's settlement token and scale,
   and the debtor's allowance to the ``Receivable`` and balance in that token; the contract's
   ``gracePeriod``.
3. **Decide** (``gateway.domain.receivable_settlement.plan_settlements``): settle the ones
   whose debtor's funds cover them, mark defaulted the Acknowledged ones past their grace
   period, leave the rest.
4. **Act** through the keeper signer's ``Sender`` on the consortium (the signer's one writer,
   shared with the HTLC keeper: nonces never race). A transaction is simulated first (the
   writer's gas estimate) and never sent when it would revert. A revert saying the receivable
   is no longer payable or defaultable (settled, defaulted, split ... by someone else since
   block H) drops it; another revert is logged (once per reason) and counted as a failure.
   A sent transaction is followed until mined before the token is considered again, across
   steps, so this process never sends two for one receivable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from adapters.base import CallReverted, TxReceipt
from adapters.contracts import ReceivableView
from adapters.errors import TransactionFailed
from adapters.rpc.submit import SentTx
from adapters.settlement import ReceivableSettlementView
from adapters.types import Address, Finality, Height
from gateway.domain.credit_score import ReceivableRecord
from gateway.domain.receivable_ledger import (
    EVENT_NAMES,
    LedgerEvent,
    ReceivableState,
    fold_receivable_events,
)
from gateway.domain.receivable_settlement import (
    DebtorFunds,
    DueReceivable,
    SettlementAction,
    SettlementAsset,
    SettlementKind,
    applies_in,
    due_candidates,
    plan_settlements,
)
from gateway.domain.status import Checkpoint
from relayers.metrics import RelayMetrics
from relayers.routes import ChainSide
from relayers.sending import Sender, reverted_with
from relayers.watcher import range_after

__all__ = ["ReceivableKeeper"]

log = logging.getLogger(__name__)

# Reverts that mean "someone else changed the receivable since the block decided on": dropped.
GONE_ERRORS = (
    "ReceivableIsSettled",
    "ReceivableIsDefaulted",
    "ReceivableIsCancelled",
    "ReceivableIsDisputed",
    "ReceivableIsSplit",
    "ReceivableNotAcknowledged",
)
_PURPOSES = {
    SettlementKind.SETTLE: "receivable_settle",
    SettlementKind.MARK_DEFAULT: "receivable_default",
}


class ReceivableKeeper:
    """The receivable keeper worker (``relayers.supervisor.Worker``) of the keeper signer on
    the consortium ``side``."""

    def __init__(
        self,
        *,
        side: ChainSide,
        view: ReceivableSettlementView,
        sender: Sender,
        metrics: RelayMetrics,
        log_range: int,
        interval_s: float,
    ) -> None:
        self._side = side
        self._view = view
        self._sender = sender
        self._metrics = metrics
        self._log_range = log_range
        self._interval_s = interval_s
        self._events: list[LedgerEvent] = []
        self._records: tuple[ReceivableRecord, ...] = ()  # _events folded
        self._unfolded = False  # events scanned since _records was folded
        self._scanned: Checkpoint | None = None  # the last block scanned, in memory only
        self._now = 0  # its block time: the worker's clock
        # Sent, not known mined yet: never a second transaction for these tokens.
        self._in_flight: dict[int, tuple[SettlementAction, SentTx]] = {}
        self._problems: dict[int, str] = {}  # the last failure per token (logged once)

    @property
    def name(self) -> str:
        return f"receivables:{self._side.name}"

    @property
    def interval_s(self) -> float:
        return self._interval_s

    # -- the step -------------------------------------------------------------------------------

    async def step(self) -> bool:
        await self._follow_in_flight()
        if await self._scan():
            return True
        if self._unfolded:
            # Once caught up, not per range: the fold replays every event since the start.
            self._records = fold_receivable_events(self._events)  # LedgerInvalid: fails steps
            self._unfolded = False
        scanned = self._scanned
        if scanned is None:
            return False  # the chain is not at its start height yet
        actions = await self._decide(scanned.height, self._now)
        planned = {a.token_id for a in actions}
        self._problems = {t: p for t, p in self._problems.items() if t in planned}
        for action in actions:
            if action.token_id not in self._in_flight:
                await self._send(action)
        return False

    async def _scan(self) -> bool:
        """Read the next range of final blocks (the watcher's ``range_after``: the last one
        scanned is checked to be still canonical); True when more are waiting."""
        side = self._side
        adapter = side.adapter
        scan = await range_after(side, self.name, self._scanned, self._log_range)
        if scan is None:
            return False
        reader = ReceivableView(adapter, self._view.address, EVENT_NAMES, start_height=scan.start)
        logs = await reader.lifecycle(scan.end)
        header = await adapter.header(scan.end)
        if logs:
            self._events += [
                LedgerEvent(x.name, x.args, x.block_number, x.log_index, x.timestamp) for x in logs
            ]
            self._unfolded = True
        self._scanned = Checkpoint(side.chain_id, self.name, scan.end, adapter.block_hash(header))
        self._now = header.timestamp
        return scan.end < scan.final

    async def _decide(self, height: Height, now: int) -> tuple[SettlementAction, ...]:
        candidates = due_candidates(self._records, now)
        if not candidates:
            return ()
        view = self._view
        assets: dict[str, SettlementAsset | None] = {}
        funds: dict[tuple[Address, Address], DebtorFunds] = {}
        due: list[DueReceivable] = []
        for record in candidates:
            status = await view.status(record.token_id, height)
            if record.currency not in assets:
                found = await view.settlement_asset(record.currency.encode("latin-1"), height)
                assets[record.currency] = None if found is None else SettlementAsset(*found)
            asset = assets[record.currency]
            if asset is not None and (record.debtor, asset.token) not in funds:
                allowance, balance = await view.funds(asset.token, record.debtor, height)
                funds[(record.debtor, asset.token)] = DebtorFunds(allowance, balance)
            due.append(
                DueReceivable(
                    token_id=record.token_id,
                    state=ReceivableState(status.state),
                    debtor=record.debtor,
                    due_at=record.due_at,
                    outstanding=status.outstanding,
                    asset=asset,
                )
            )
        grace = await view.grace_period(height)
        return plan_settlements(due, funds, now=now, grace_period_s=grace)

    # -- acting ---------------------------------------------------------------------------------

    async def _send(self, action: SettlementAction) -> None:
        token_id = action.token_id
        address = self._sender.address
        if action.kind == SettlementKind.SETTLE:
            request = self._view.settle(token_id, address)
        else:
            request = self._view.mark_default(token_id, address)
        try:
            sent = await self._sender.submit(
                request, purpose=_PURPOSES[action.kind], refs=(f"receivable:{token_id}",)
            )
        except CallReverted as exc:
            if reverted_with(exc, *GONE_ERRORS):
                log.info(
                    "receivable %d: %s not sent: %s since (done by someone else)",
                    token_id,
                    action.kind,
                    exc.decoded.name if exc.decoded is not None else "changed",
                    extra={"token_id": token_id, "chain": self._side.name},
                )
                self._problems.pop(token_id, None)
                return
            name = exc.decoded.name if exc.decoded is not None else "an unknown error"
            self._failed(action, f"the simulation reverts with {name}")
            return
        self._in_flight[token_id] = (action, sent)
        await self._confirm(action, sent)

    async def _follow_in_flight(self) -> None:
        """Wait for the transactions a previous step sent but did not see mined."""
        for action, sent in list(self._in_flight.values()):
            await self._confirm(action, sent)

    async def _confirm(self, action: SettlementAction, sent: SentTx) -> None:
        """Until mined; a timeout (``NotYetAvailable``) leaves it in flight for the next step."""
        token_id = action.token_id
        try:
            receipt = await self._sender.confirm(sent, _PURPOSES[action.kind])
        except TransactionFailed as exc:
            del self._in_flight[token_id]
            latest = await self._side.adapter.height(Finality.latest())
            status = await self._view.status(token_id, latest)
            if not applies_in(action.kind, status.state):
                log.info(
                    "receivable %d: %s in 0x%s reverted: %s by someone else first",
                    token_id,
                    action.kind,
                    sent.tx_hash.hex(),
                    ReceivableState(status.state).name.lower(),
                    extra={"token_id": token_id, "chain": self._side.name},
                )
                return
            self._failed(action, f"transaction 0x{sent.tx_hash.hex()} failed: {exc.message}")
            return
        del self._in_flight[token_id]
        self._done(action, receipt)

    def _done(self, action: SettlementAction, receipt: TxReceipt) -> None:
        self._problems.pop(action.token_id, None)
        chain = self._side.name
        extra: Mapping[str, object] = {
            "token_id": action.token_id,
            "chain": chain,
            "tx_hash": "0x" + receipt.tx_hash.hex(),
        }
        if action.kind == SettlementKind.SETTLE:
            self._metrics.receivables_settled.labels(chain=chain).inc()
            log.info(
                "receivable %d: settled in 0x%s (%d token units from its debtor to its holder)",
                action.token_id,
                receipt.tx_hash.hex(),
                action.amount,
                extra=extra,
            )
        else:
            self._metrics.receivable_defaults.labels(chain=chain).inc()
            log.info(
                "receivable %d: marked defaulted in 0x%s (unpaid after its grace period)",
                action.token_id,
                receipt.tx_hash.hex(),
                extra=extra,
            )

    def _failed(self, action: SettlementAction, reason: str) -> None:
        """Counted and logged when the token's problem is new (not at every step)."""
        if self._problems.get(action.token_id) == reason:
            return
        self._problems[action.token_id] = reason
        self._metrics.receivable_failures.labels(
            chain=self._side.name, action=str(action.kind)
        ).inc()
        log.warning(
            "receivable %d: %s: %s",
            action.token_id,
            action.kind,
            reason,
            extra={"token_id": action.token_id, "chain": self._side.name},
        )
