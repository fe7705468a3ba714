"""The ``Store``'s swaps: proposals, upserts and state changes, with their events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, select, text, update

from adapters.types import Address, ChainId, Hash32, TxHash
from gateway.domain.events import EventKind
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState
from gateway.store.base import StoreBase, _check_int64, _hex, _opt_bytes, _short
from gateway.store.errors import HashlockInUse, NotFound, StoreError, SwapConflict, SwapStateMoved
from gateway.store.models import metadata

__all__ = ["SwapsMixin"]

_swaps: Table = metadata.tables["swaps"]

# The advisory lock class of a hashlock's swaps ("xghl"): two-int keys, a space apart from the
# events' one-bigint key.
_HASHLOCK_LOCK_CLASS = 0x7867686C

_LEGS = ("initiator_leg", "participant_leg")
_LEG_TX_FIELDS = ("lock_tx", "claim_tx", "refund_tx")
_SWAP_FIELDS = frozenset(
    {"preimage", "claim_signature", "claim_destination", "refund_authorised", "reason"}
    | {f"{leg}_{name}" for leg in _LEGS for name in _LEG_TX_FIELDS}
)


class SwapsMixin(StoreBase):
    """Swaps."""

    # --- swaps ----------------------------------------------------------------------------------

    async def upsert_swap(self, swap: Swap, *, now: datetime | None = None) -> Swap:
        """Record a new swap, or return the stored one when its terms are the same (the state
        and progress fields of ``swap`` are then ignored: change them with ``set_swap_state``).
        ``SwapConflict`` when the id is recorded with other terms."""
        for leg in (swap.initiator_leg, swap.participant_leg):
            _check_int64(leg.chain_id, "chain_id")
            _check_int64(leg.timelock, "timelock")
        at = self._now(now)
        async with self._tx("upsert_swap") as conn:
            created = await conn.execute(
                self._insert(_swaps)
                .values(**_swap_row(swap), created_at=at, updated_at=at)
                .on_conflict_do_nothing(index_elements=[_swaps.c.swap_id])
                .returning(_swaps.c.swap_id)
            )
            if created.first() is not None:
                await self._append_events(conn, [_swap_event(swap, None)], at)
                return replace(swap, created_at=at, updated_at=at)
            row = (await conn.execute(select(_swaps).where(_swaps.c.swap_id == swap.swap_id))).one()
        existing = _swap_record(row)
        if existing.terms() != swap.terms():
            raise SwapConflict("swap id recorded with other terms", swap_id=swap.swap_id)
        return existing

    async def record_proposed_swap(self, swap: Swap, *, now: datetime | None = None) -> Swap:
        """Record a new swap whose hashlock no other swap uses, in any state: a preimage
        revealed for one swap must never open another's locks. ``HashlockInUse`` (with the
        ``existing`` swap) when another swap id has it; the same swap again is ``upsert_swap``.

        Two concurrent proposals with one hashlock cannot both be recorded: the check and the
        insert are one transaction, serialized per hashlock (SQLite: ``BEGIN IMMEDIATE``, one
        writer; PostgreSQL: a transaction-scoped advisory lock on the hashlock, taken before
        the check)."""
        for leg in (swap.initiator_leg, swap.participant_leg):
            _check_int64(leg.chain_id, "chain_id")
            _check_int64(leg.timelock, "timelock")
        at = self._now(now)
        async with self._tx("record_proposed_swap") as conn:
            if not self._sqlite:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:cls, :obj)"),
                    {
                        "cls": _HASHLOCK_LOCK_CLASS,
                        "obj": int.from_bytes(swap.hashlock[:4], "big", signed=True),
                    },
                )
            rows = (
                await conn.execute(
                    select(_swaps)
                    .where(_swaps.c.hashlock == swap.hashlock)
                    .order_by(_swaps.c.created_at, _swaps.c.swap_id)
                )
            ).all()
            for row in rows:
                existing = _swap_record(row)
                if existing.swap_id != swap.swap_id:
                    raise HashlockInUse(
                        "another swap uses this hashlock",
                        swap_id=existing.swap_id,
                        existing=existing,
                    )
                if existing.terms() != swap.terms():
                    raise SwapConflict("swap id recorded with other terms", swap_id=swap.swap_id)
                return existing
            await conn.execute(
                _swaps.insert().values(**_swap_row(swap), created_at=at, updated_at=at)
            )
            await self._append_events(conn, [_swap_event(swap, None)], at)
        return replace(swap, created_at=at, updated_at=at)

    async def swaps_with_hashlock(self, hashlock: bytes) -> list[Swap]:
        """The swaps whose hashlock is ``hashlock`` (any state), oldest first."""
        async with self._tx("swaps_with_hashlock", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_swaps)
                    .where(_swaps.c.hashlock == hashlock)
                    .order_by(_swaps.c.created_at, _swaps.c.swap_id)
                )
            ).all()
        return [_swap_record(row) for row in rows]

    async def swap(self, swap_id: Hash32) -> Swap | None:
        async with self._tx("swap", write=False) as conn:
            row = (await conn.execute(select(_swaps).where(_swaps.c.swap_id == swap_id))).first()
        return None if row is None else _swap_record(row)

    async def swaps_in(self, states: Iterable[SwapState]) -> list[Swap]:
        """Swaps in any of ``states``, oldest first."""
        wanted = [SwapState(s).value for s in states]
        async with self._tx("swaps_in", write=False) as conn:
            rows = (
                await conn.execute(
                    select(_swaps)
                    .where(_swaps.c.state.in_(wanted))
                    .order_by(_swaps.c.created_at, _swaps.c.swap_id)
                )
            ).all()
        return [_swap_record(row) for row in rows]

    async def set_swap_state(
        self,
        swap_id: Hash32,
        old: SwapState,
        new: SwapState,
        *,
        now: datetime | None = None,
        **fields: Any,
    ) -> Swap:
        """Compare-and-set: move the swap from ``old`` to ``new`` (which may be ``old``) and set
        ``fields`` (progress only: ``preimage``, ``claim_signature``, ``claim_destination``,
        ``refund_authorised``, ``reason``, ``<initiator|participant>_leg_<lock|claim|refund>_tx``).
        ``SwapStateMoved`` (retryable) when the swap is not in ``old`` any more."""
        unknown = set(fields) - _SWAP_FIELDS
        if unknown:
            raise StoreError("not a swap progress field", fields=sorted(unknown))
        at = self._now(now)
        async with self._tx("set_swap_state") as conn:
            row = (
                await conn.execute(
                    select(_swaps).where(_swaps.c.swap_id == swap_id).with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound("no such swap", what="swap", swap_id=swap_id)
            current = _swap_record(row)
            if current.state != SwapState(old):
                raise SwapStateMoved(
                    "swap is not in the expected state",
                    swap_id=swap_id, expected=str(old), current=str(current.state),
                )  # fmt: skip
            changed = _apply_swap_fields(current, SwapState(new), fields)
            await conn.execute(
                update(_swaps)
                .where(_swaps.c.swap_id == swap_id, _swaps.c.state == current.state.value)
                .values(**_swap_row(changed), updated_at=at)
            )
            if changed.state != current.state:
                await self._append_events(conn, [_swap_event(changed, current.state)], at)
        return replace(changed, updated_at=at)


# --- rows <-> records ----------------------------------------------------------------------------


def _swap_row(swap: Swap) -> dict[str, Any]:
    values: dict[str, Any] = {
        "swap_id": swap.swap_id,
        "hashlock": swap.hashlock,
        "state": swap.state.value,
        "initiator": swap.initiator,
        "participant": swap.participant,
        "preimage": swap.preimage,
        "claim_signature": swap.claim_signature,
        "claim_destination": swap.claim_destination,
        "refund_authorised": swap.refund_authorised,
        "reason": swap.reason,
    }
    for prefix, leg in (
        ("initiator_leg", swap.initiator_leg),
        ("participant_leg", swap.participant_leg),
    ):
        values.update(
            {
                f"{prefix}_chain_id": leg.chain_id,
                f"{prefix}_htlc": leg.htlc,
                f"{prefix}_asset_kind": leg.asset_kind.value,
                f"{prefix}_token": leg.token,
                f"{prefix}_value": leg.value,
                f"{prefix}_claimer": leg.claimer,
                f"{prefix}_refunder": leg.refunder,
                f"{prefix}_timelock": leg.timelock,
                f"{prefix}_lock_tx": leg.lock_tx,
                f"{prefix}_claim_tx": leg.claim_tx,
                f"{prefix}_refund_tx": leg.refund_tx,
            }
        )
    return values


def _swap_leg(row: Row[Any], prefix: str) -> SwapLeg:
    def get(name: str) -> Any:
        return getattr(row, f"{prefix}_{name}")

    def opt_tx(name: str) -> TxHash | None:
        value = get(name)
        return None if value is None else TxHash(bytes(value))

    return SwapLeg(
        chain_id=ChainId(get("chain_id")),
        htlc=Address(bytes(get("htlc"))),
        asset_kind=AssetKind(get("asset_kind")),
        token=Address(bytes(get("token"))),
        value=get("value"),
        claimer=Address(bytes(get("claimer"))),
        refunder=Address(bytes(get("refunder"))),
        timelock=get("timelock"),
        lock_tx=opt_tx("lock_tx"),
        claim_tx=opt_tx("claim_tx"),
        refund_tx=opt_tx("refund_tx"),
    )


def _swap_record(row: Row[Any]) -> Swap:
    return Swap(
        swap_id=Hash32(bytes(row.swap_id)),
        hashlock=Hash32(bytes(row.hashlock)),
        initiator=Address(bytes(row.initiator)),
        participant=Address(bytes(row.participant)),
        initiator_leg=_swap_leg(row, "initiator_leg"),
        participant_leg=_swap_leg(row, "participant_leg"),
        state=SwapState(row.state),
        preimage=_opt_bytes(row.preimage),
        claim_signature=_opt_bytes(row.claim_signature),
        claim_destination=(
            None if row.claim_destination is None else Address(bytes(row.claim_destination))
        ),
        refund_authorised=bool(row.refund_authorised),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _apply_swap_fields(current: Swap, state: SwapState, fields: Mapping[str, Any]) -> Swap:
    """``current`` in ``state`` with ``fields`` set; the records' own checks validate them."""
    top: dict[str, Any] = {k: v for k, v in fields.items() if not k.endswith("_tx")}
    for prefix in _LEGS:
        leg_fields = {
            name: fields[f"{prefix}_{name}"]
            for name in _LEG_TX_FIELDS
            if f"{prefix}_{name}" in fields
        }
        top[prefix] = replace(getattr(current, prefix), **leg_fields)
    return replace(current, state=state, **top)


def _swap_event(swap: Swap, old: SwapState | None) -> tuple[EventKind, bytes, dict[str, Any]]:
    txs = {
        f"{prefix}_{name}": _hex(value)
        for prefix in _LEGS
        for name in _LEG_TX_FIELDS
        if (value := getattr(getattr(swap, prefix), name)) is not None
    }
    return (
        EventKind.SWAP,
        swap.swap_id,
        {
            "state": swap.state.value,
            "old_state": None if old is None else old.value,
            "initiator_chain_id": swap.initiator_leg.chain_id,
            "participant_chain_id": swap.participant_leg.chain_id,
            "txs": txs,
            "detail": _short(swap.reason),
        },
    )
