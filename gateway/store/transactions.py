"""The ``Store``'s transaction journal of the signer writers (``StoreJournal`` is its
``TxJournal``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, func, select, update

from adapters.rpc.submit import Dropped, Failed, Fees, JournalEntry, Mined, TxAttempt, TxOutcome
from adapters.types import Address, ChainId, Hash32, Height, TxHash
from gateway.domain.status import LockLease, TxRecord, TxState
from gateway.store.base import (
    StoreBase,
    _check_address,
    _check_int64,
    _dump_json,
    _hex,
    _opt_bytes,
    _unhex,
)
from gateway.store.errors import NotFound, TxConflict, ValueOutOfRange
from gateway.store.models import metadata
from gateway.store.types import UINT256_MAX

__all__ = ["TransactionsMixin"]

_txs: Table = metadata.tables["transactions"]


class TransactionsMixin(StoreBase):
    """The signers' transaction journal."""

    # --- transactions ---------------------------------------------------------------------------

    async def record_tx_attempt(
        self,
        entry: JournalEntry,
        attempt: TxAttempt,
        *,
        fence: LockLease | None = None,
        now: datetime | None = None,
    ) -> TxRecord:
        """Write a signed transaction before it is broadcast (``TxJournal.record_attempt``):
        appended to the open entry at ``entry``'s (chain, sender, nonce), or a new open entry
        with ``entry``'s fields when there is none, also after a refused one (``failed``: its
        nonce is used again). Recording an attempt already there changes nothing.

        ``TxConflict`` when the open entry is another transaction (to, value, data, purpose or
        refs differ) or the nonce is used on chain already (an entry ``mined`` or ``dropped``).
        ``fence``: the signer's writer lock (``acquire_lock``); ``LeaseLost`` and nothing
        written when another writer holds it now (one writer per signer)."""
        _check_int64(entry.chain_id, "chain_id")
        _check_int64(entry.nonce, "nonce")
        _check_address(entry.sender, "sender")
        _check_uint256(entry.value, "value")
        _check_int64(attempt.gas, "gas")
        for fee in (
            attempt.fees.max_fee_per_gas,
            attempt.fees.max_priority_fee_per_gas,
            attempt.fees.gas_price,
        ):
            _check_uint256(fee, "fee")
        at = self._now(now)
        t = _txs.c
        refs = _dump_json(list(entry.refs))
        context = {"chain_id": entry.chain_id, "sender": entry.sender, "nonce": entry.nonce}
        async with self._tx("record_tx_attempt") as conn:
            if fence is not None:
                await self._check_fence(conn, fence)
            rows = (
                await conn.execute(
                    select(_txs)
                    .where(*_tx_key(entry.chain_id, entry.sender, entry.nonce))
                    .order_by(t.id)
                    .with_for_update()
                )
            ).all()
            used = [r for r in rows if r.state in (TxState.MINED.value, TxState.DROPPED.value)]
            if used:
                raise TxConflict("nonce already used on chain", state=used[-1].state, **context)
            current = next((r for r in rows if r.state == TxState.PENDING.value), None)
            if current is None:
                result = await conn.execute(
                    _txs.insert()
                    .values(
                        chain_id=entry.chain_id,
                        sender=entry.sender,
                        nonce=entry.nonce,
                        to_address=entry.to,
                        value=entry.value,
                        data=entry.data,
                        purpose=entry.purpose,
                        refs=refs,
                        attempts=_dump_attempts([attempt]),
                        state=TxState.PENDING.value,
                        created_at=at,
                        updated_at=at,
                    )
                    .returning(*_txs.c)
                )
                return _tx_record(result.one())
            if (_opt_bytes(current.to_address), current.value, bytes(current.data)) != (
                _opt_bytes(entry.to),
                entry.value,
                entry.data,
            ) or (current.purpose, current.refs) != (entry.purpose, refs):
                raise TxConflict(
                    "an open entry at this nonce is another transaction",
                    recorded=current.purpose, purpose=entry.purpose, **context,
                )  # fmt: skip
            attempts = _load_attempts(current.attempts)
            if any(a.tx_hash == attempt.tx_hash for a in attempts):
                return _tx_record(current)
            result = await conn.execute(
                update(_txs)
                .where(t.id == current.id)
                .values(attempts=_dump_attempts([*attempts, attempt]), updated_at=at)
                .returning(*_txs.c)
            )
            return _tx_record(result.one())

    async def update_tx(
        self,
        chain_id: ChainId,
        sender: Address,
        nonce: int,
        outcome: TxOutcome,
        *,
        fence: LockLease | None = None,
        now: datetime | None = None,
    ) -> TxRecord:
        """Close the open entry at this nonce with ``outcome`` (``TxJournal.record_outcome``):
        ``Mined`` (state ``mined``, the receipt's facts), ``Failed`` (``failed``: refused by
        the node) or ``Dropped`` (``dropped``). ``NotFound`` when no entry is open there.
        ``fence`` as for ``record_tx_attempt``."""
        values: dict[str, Any]
        if isinstance(outcome, Mined):
            _check_int64(outcome.block_number, "block_number")
            _check_int64(outcome.gas_used, "gas_used")
            _check_uint256(outcome.effective_gas_price, "effective_gas_price")
            values = {
                "state": TxState.MINED.value,
                "mined_tx_hash": outcome.tx_hash,
                "block_number": outcome.block_number,
                "block_hash": outcome.block_hash,
                "gas_used": outcome.gas_used,
                "effective_gas_price": outcome.effective_gas_price,
                "receipt_status": outcome.status,
            }
        elif isinstance(outcome, Failed):
            values = {"state": TxState.FAILED.value, "reason": outcome.reason}
        else:
            values = {"state": TxState.DROPPED.value, "reason": outcome.reason}
        at = self._now(now)
        t = _txs.c
        async with self._tx("update_tx") as conn:
            if fence is not None:
                await self._check_fence(conn, fence)
            row = (
                await conn.execute(
                    update(_txs)
                    .where(*_tx_key(chain_id, sender, nonce), t.state == TxState.PENDING.value)
                    .values(**values, updated_at=at)
                    .returning(*_txs.c)
                )
            ).first()
        if row is None:
            raise NotFound(
                "no open transaction at this nonce",
                what="transaction", chain_id=chain_id, sender=sender, nonce=nonce,
            )  # fmt: skip
        return _tx_record(row)

    async def txs(self, chain_id: ChainId, sender: Address, nonce: int) -> list[TxRecord]:
        """Every entry at this nonce, oldest first (refused ones before the one that took it)."""
        async with self._tx("txs", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_txs).where(*_tx_key(chain_id, sender, nonce)).order_by(_txs.c.id)
                )
            ).all()
        return [_tx_record(row) for row in rows]

    async def tx(self, chain_id: ChainId, sender: Address, nonce: int) -> TxRecord | None:
        """The latest entry at this nonce (the open one, if any)."""
        entries = await self.txs(chain_id, sender, nonce)
        return entries[-1] if entries else None

    async def open_txs(self, chain_id: ChainId, sender: Address) -> list[TxRecord]:
        """The signer's open entries, lowest nonce first: what to resume after a restart."""
        t = _txs.c
        async with self._tx("open_txs", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_txs)
                    .where(
                        t.chain_id == chain_id,
                        t.sender == sender,
                        t.state == TxState.PENDING.value,
                    )
                    .order_by(t.nonce, t.id)
                )
            ).all()
        return [_tx_record(row) for row in rows]

    async def last_nonce(self, chain_id: ChainId, sender: Address) -> int | None:
        """The highest nonce recorded for the signer, None if it never sent."""
        t = _txs.c
        async with self._tx("last_nonce", write=False) as conn:
            value = (
                await conn.execute(
                    select(func.max(t.nonce)).where(t.chain_id == chain_id, t.sender == sender)
                )
            ).scalar()
        return None if value is None else int(value)


# --- value checks ------------------------------------------------------------------------------


def _check_uint256(value: int | None, field: str) -> None:
    if value is not None and not 0 <= value <= UINT256_MAX:
        raise ValueOutOfRange("value is not a uint256", field=field, value=value)


# --- rows <-> records ----------------------------------------------------------------------------


def _tx_key(chain_id: ChainId, sender: Address, nonce: int) -> tuple[Any, ...]:
    t = _txs.c
    return (t.chain_id == chain_id, t.sender == sender, t.nonce == nonce)


def _dump_attempts(attempts: Sequence[TxAttempt]) -> str:
    return _dump_json(
        [
            {
                "tx_hash": _hex(a.tx_hash),
                "raw": _hex(a.raw),
                "gas": a.gas,
                "signed_at": a.signed_at,
                "max_fee_per_gas": a.fees.max_fee_per_gas,
                "max_priority_fee_per_gas": a.fees.max_priority_fee_per_gas,
                "gas_price": a.fees.gas_price,
            }
            for a in attempts
        ]
    )


def _load_attempts(text: str) -> list[TxAttempt]:
    return [
        TxAttempt(
            tx_hash=TxHash(_unhex(a["tx_hash"])),
            raw=_unhex(a["raw"]),
            fees=Fees(
                max_fee_per_gas=a["max_fee_per_gas"],
                max_priority_fee_per_gas=a["max_priority_fee_per_gas"],
                gas_price=a["gas_price"],
            ),
            gas=a["gas"],
            signed_at=a["signed_at"],
        )
        for a in json.loads(text)
    ]


def _tx_outcome(row: Row[Any]) -> TxOutcome | None:
    state = TxState(row.state)
    if state is TxState.MINED:
        return Mined(
            tx_hash=TxHash(bytes(row.mined_tx_hash)),
            block_number=Height(row.block_number),
            block_hash=Hash32(bytes(row.block_hash)),
            gas_used=row.gas_used,
            effective_gas_price=row.effective_gas_price,
            status=row.receipt_status,
        )
    if state is TxState.FAILED:
        return Failed(row.reason or "")
    if state is TxState.DROPPED:
        return Dropped(row.reason or "")
    return None


def _tx_record(row: Row[Any]) -> TxRecord:
    entry = JournalEntry(
        chain_id=ChainId(row.chain_id),
        sender=Address(bytes(row.sender)),
        nonce=row.nonce,
        to=None if row.to_address is None else Address(bytes(row.to_address)),
        value=row.value,
        data=bytes(row.data),
        purpose=row.purpose,
        refs=tuple(json.loads(row.refs)),
        attempts=tuple(_load_attempts(row.attempts)),
    )
    return TxRecord(
        id=row.id,
        entry=entry,
        state=TxState(row.state),
        outcome=_tx_outcome(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
