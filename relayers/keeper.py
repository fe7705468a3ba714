"""The HTLC keeper: watches the HTLC contracts of every configured chain, records what final
blocks say about the stored swaps, and claims or refunds for users who authorised it
(docs/relayer.md "The HTLC keeper", docs/htlc.md §5).

One step:

1. **Scan.** Per chain, the next range of final blocks (``next_range``, stream
   ``keeper:0x<signer>``) is read for the HTLCs' ``Locked`` / ``Claimed`` / ``Refunded`` logs.
   A ``Locked`` log matches a stored leg by its swap key (all the swap's terms). ``Claimed``
   and ``Refunded`` carry only the hashlock, which anyone can re-use in a swap of their own, so
   a leg counts as settled only when the contract's ``swaps(key)`` slot is empty at that block;
   whether it was claimed or refunded follows from the block time against the leg's timelock
   (the windows are disjoint). A ``Claimed`` preimage is kept once it hashes to the swap's
   hashlock. The swaps' facts and states are written first (``set_swap_state``,
   compare-and-set), the checkpoints after: a crash repeats at most one range, idempotently.
2. **Decide** (``gateway.domain.swaps.decide``) on the final facts and each chain's time: the
   block time of the newest final block scanned there, never the local clock.
3. **Act.** ``claimWithSig`` / ``refundFor`` through the chain's ``Sender`` (simulated first);
   ``refundFor`` pays the leg's refunder (the user) whoever sends it, so the keeper refunds
   legs locked with a plain ``lock``. A ``SwapNotFound`` revert means the leg was settled
   already (by us before a restart, by its owner, by another keeper): done, the scan will
   record how. Other reverts of one swap are noted on it and do not stop the others.

Everything the keeper knows comes from the store and the chains, so a restart carries on. What
it refuses or cannot do for a swap is logged once and kept in ``notes`` (the store has no reason
column for swaps yet).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from adapters.base import CallReverted, ChainEvent, EventQuery, TxRequest
from adapters.errors import ConfigError, DecodeError, RpcResponseInvalid, TransactionFailed
from adapters.receipts import Log
from adapters.types import Address, ChainId, Hash32, Height
from contracts import Artifact, load_artifact
from gateway.domain.status import AssetKind, Checkpoint, Swap, SwapLeg
from gateway.domain.swaps import (
    ACTIVE_STATES,
    CLAIMED_TOPIC,
    LOCKED_NATIVE_TOPIC,
    LOCKED_TOKEN_TOPIC,
    REFUNDED_TOPIC,
    Action,
    ActionKind,
    ClaimedEvent,
    KeeperRules,
    LegRole,
    LegStatus,
    LockedEvent,
    RefundedEvent,
    decide,
    decode_htlc_event,
    derive_state,
    hashlock_of,
    leg_status,
    swap_key,
)
from gateway.store import Store
from relayers.routes import ChainSide
from relayers.sending import Sender, reverted_with
from relayers.watcher import ScanRange, next_range

__all__ = ["HtlcKeeper", "KeeperChain"]

log = logging.getLogger(__name__)

_ARTIFACTS: Mapping[AssetKind, str] = MappingProxyType(
    {
        AssetKind.NATIVE: "HtlcNative",
        AssetKind.ERC20: "HtlcErc20",
        AssetKind.ERC721: "HtlcErc721",
    }
)
# Reverts that mean "this leg is settled already": nothing left to do, the scan records it.
SETTLED_ERRORS = ("SwapNotFound",)


@dataclass(frozen=True, slots=True)
class KeeperChain:
    """One chain the keeper watches: its side (adapter, finality, first block to scan), its
    HTLC contracts by address, and the keeper signer's ``Sender`` there."""

    side: ChainSide
    htlcs: Mapping[Address, AssetKind]
    sender: Sender

    def __post_init__(self) -> None:
        object.__setattr__(self, "htlcs", MappingProxyType(dict(self.htlcs)))
        if not self.htlcs:
            raise ConfigError("a keeper chain needs at least one HTLC", chain=self.side.name)

    @property
    def chain_id(self) -> ChainId:
        return self.side.chain_id


class HtlcKeeper:
    """The keeper worker (``relayers.supervisor.Worker``) of one signer over ``chains``."""

    def __init__(
        self,
        *,
        chains: Sequence[KeeperChain],
        store: Store,
        rules: KeeperRules,
        log_range: int,
        interval_s: float,
    ) -> None:
        if not chains:
            raise ConfigError("the keeper needs at least one chain")
        signers = {c.sender.address for c in chains}
        if len(signers) != 1:
            raise ConfigError("every keeper chain must send with the one keeper signer")
        ids = [c.chain_id for c in chains]
        if len(set(ids)) != len(ids):
            raise ConfigError("a chain is given twice to the keeper", chain_ids=ids)
        missing = [c.side.name for c in chains if c.chain_id not in rules.finality_s]
        if missing:
            raise ConfigError("no time to finality for the keeper's chains", chains=missing)
        self._chains = {c.chain_id: c for c in chains}
        self._store = store
        self._rules = rules
        self._log_range = log_range
        self._interval_s = interval_s
        self.address: Address = signers.pop()
        self.stream = f"keeper:0x{self.address.hex()}"
        self._notes: dict[Hash32, tuple[str, ...]] = {}
        self._times: dict[tuple[ChainId, Height], int] = {}  # block time by (chain, height)

    @property
    def name(self) -> str:
        return "keeper"

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @property
    def notes(self) -> Mapping[Hash32, tuple[str, ...]]:
        """Per active swap: why the keeper refused it or could not do something for it, as of
        the last step (a refusal starts with ``refused:``)."""
        return MappingProxyType(self._notes)

    # -- the step -------------------------------------------------------------------------------

    async def step(self) -> bool:
        stored = {s.swap_id: s for s in await self._store.swaps_in(ACTIVE_STATES)}
        work = dict(stored)
        by_hashlock: dict[Hash32, list[Hash32]] = {}
        for swap in stored.values():
            by_hashlock.setdefault(swap.hashlock, []).append(swap.swap_id)
        scans: list[tuple[KeeperChain, ScanRange, Checkpoint]] = []
        checkpoints: dict[ChainId, Checkpoint | None] = {}
        for chain in self._chains.values():
            scan = await next_range(self._store, chain.side, self.stream, self._log_range)
            if scan is None:
                checkpoints[chain.chain_id] = await self._store.checkpoint(
                    chain.chain_id, self.stream
                )
                continue
            events = await chain.side.adapter.events(self._query(chain), scan.start, scan.end)
            for event in sorted(events, key=lambda e: (e.block_number, e.block_log_index)):
                await self._apply(chain, event, work, by_hashlock)
            new = await scan.checkpoint(chain.side)
            scans.append((chain, scan, new))
            checkpoints[chain.chain_id] = new
        times = {
            chain_id: await self._time(chain_id, cp.height)
            for chain_id, cp in checkpoints.items()
            if cp is not None
        }
        current = await self._record(stored, work, times)
        for chain, scan, new in scans:
            await self._store.record_scan(chain.chain_id, self.stream, scan.previous, new, [])
        for swap_id in [s for s in self._notes if s not in current]:
            del self._notes[swap_id]
        for swap in current.values():
            await self._act(swap, times)
        return any(scan.end < scan.final for _, scan, _ in scans)

    def _query(self, chain: KeeperChain) -> EventQuery:
        return EventQuery(
            addresses=tuple(chain.htlcs),
            topics=((LOCKED_NATIVE_TOPIC, LOCKED_TOKEN_TOPIC, CLAIMED_TOPIC, REFUNDED_TOPIC),),
        )

    async def _time(self, chain_id: ChainId, height: Height) -> int:
        """The block time at ``height`` (final, so it never changes: cached)."""
        key = (chain_id, height)
        if key not in self._times:
            header = await self._chains[chain_id].side.adapter.header(height)
            self._times[key] = header.timestamp
            if len(self._times) > 4096:
                self._times.pop(next(iter(self._times)))
        return self._times[key]

    # -- scanning -------------------------------------------------------------------------------

    async def _apply(
        self,
        chain: KeeperChain,
        event: ChainEvent,
        work: dict[Hash32, Swap],
        by_hashlock: Mapping[Hash32, Sequence[Hash32]],
    ) -> None:
        kind = chain.htlcs.get(event.address)
        if kind is None:
            return
        try:
            decoded = decode_htlc_event(Log(event.address, event.topics, event.data), kind)
        except DecodeError as exc:
            raise RpcResponseInvalid(
                "node served an HTLC log the contract cannot have emitted",
                chain_id=chain.chain_id,
                tx_hash=event.tx_hash,
                reason=exc.message,
            ) from exc
        if decoded is None:
            return
        if isinstance(decoded, ClaimedEvent) and hashlock_of(decoded.preimage) != decoded.hashlock:
            raise RpcResponseInvalid(
                "node served a Claimed log whose preimage does not hash to its hashlock",
                chain_id=chain.chain_id,
                tx_hash=event.tx_hash,
            )
        for swap_id in by_hashlock.get(decoded.hashlock, ()):
            swap = work[swap_id]
            if isinstance(decoded, ClaimedEvent) and swap.preimage is None:
                swap = replace(swap, preimage=decoded.preimage)
            for role, leg in _roles(swap):
                if leg.chain_id != chain.chain_id or leg.htlc != decoded.htlc:
                    continue
                changed = await self._leg_fact(chain, event, decoded, swap, leg)
                if changed is not None:
                    swap = _with_leg(swap, role, changed)
            work[swap_id] = swap

    async def _leg_fact(
        self,
        chain: KeeperChain,
        event: ChainEvent,
        decoded: LockedEvent | ClaimedEvent | RefundedEvent,
        swap: Swap,
        leg: SwapLeg,
    ) -> SwapLeg | None:
        """The leg with what ``event`` proves about it, or None when it proves nothing."""
        status = leg_status(leg)
        if isinstance(decoded, LockedEvent):
            if status == LegStatus.ABSENT and decoded.key == swap_key(swap.hashlock, leg):
                return replace(leg, lock_tx=event.tx_hash)
            return None
        if status != LegStatus.LOCKED:
            return None
        if await self._is_open(chain, leg, swap.hashlock, event.block_number):
            return None  # the same hashlock in someone else's swap
        before_timelock = await self._time(chain.chain_id, event.block_number) < leg.timelock
        if isinstance(decoded, ClaimedEvent) and before_timelock:
            return replace(leg, claim_tx=event.tx_hash)
        if isinstance(decoded, RefundedEvent) and not before_timelock:
            return replace(leg, refund_tx=event.tx_hash)
        return None

    async def _is_open(self, chain: KeeperChain, leg: SwapLeg, hashlock: bytes, at: Height) -> bool:
        artifact = _artifact(leg.asset_kind)
        data = artifact.call_data("swaps", swap_key(hashlock, leg))
        raw = await chain.side.adapter.call(leg.htlc, data, height=at)
        return bool(artifact.decode_result("swaps", raw)[0])

    async def _record(
        self,
        stored: Mapping[Hash32, Swap],
        work: Mapping[Hash32, Swap],
        times: Mapping[ChainId, int],
    ) -> dict[Hash32, Swap]:
        """Write every swap whose facts or state changed; the swaps as they are now."""
        current: dict[Hash32, Swap] = {}
        for swap_id, old in stored.items():
            new = work[swap_id]
            state = derive_state(new, times)
            fields = _changes(old, new)
            if state == old.state and not fields:
                current[swap_id] = old
                continue
            updated = await self._store.set_swap_state(swap_id, old.state, state, **fields)
            log.info(
                "swap 0x%s: %s -> %s%s",
                swap_id.hex(),
                old.state,
                state,
                f" ({', '.join(sorted(fields))})" if fields else "",
                extra={"swap_id": "0x" + swap_id.hex()},
            )
            current[swap_id] = updated
        return {k: v for k, v in current.items() if v.state in ACTIVE_STATES}

    # -- acting ---------------------------------------------------------------------------------

    async def _act(self, swap: Swap, times: Mapping[ChainId, int]) -> None:
        notes: list[str] = []
        unknown = [
            leg.chain_id
            for _, leg in _roles(swap)
            if leg.chain_id not in self._chains
            or self._chains[leg.chain_id].htlcs.get(leg.htlc) != leg.asset_kind
        ]
        if unknown:
            notes.append("refused: a leg's chain or HTLC is not one this keeper watches")
        else:
            decision = decide(swap, times, self._rules)
            notes += decision.reasons
            for action in decision.actions:
                note = await self._send(swap, action)
                if note is not None:
                    notes.append(note)
        self._note(swap, tuple(notes))

    async def _send(self, swap: Swap, action: Action) -> str | None:
        chain = self._chains[action.leg.chain_id]
        request = self._request(swap, action)
        purpose = f"htlc_{action.kind}"
        what = f"{action.kind} of the {action.role} leg"
        if action.late:
            log.warning(
                "swap 0x%s: %s inside the safety delay before its timelock",
                swap.swap_id.hex(),
                what,
                extra={"swap_id": "0x" + swap.swap_id.hex(), "chain": chain.side.name},
            )
        try:
            receipt = await chain.sender.send(
                request, purpose=purpose, refs=("0x" + swap.swap_id.hex(),)
            )
        except CallReverted as exc:
            if reverted_with(exc, *SETTLED_ERRORS):
                log.debug(
                    "swap 0x%s: %s: settled already, the scan will record how",
                    swap.swap_id.hex(),
                    what,
                    extra={"swap_id": "0x" + swap.swap_id.hex(), "chain": chain.side.name},
                )
                return None
            name = exc.decoded.name if exc.decoded is not None else "unknown error"
            return f"{what} reverts with {name}"
        except TransactionFailed as exc:
            return f"{what} failed on chain: {exc.message}"
        log.info(
            "swap 0x%s: %s sent in 0x%s",
            swap.swap_id.hex(),
            what,
            receipt.tx_hash.hex(),
            extra={"swap_id": "0x" + swap.swap_id.hex(), "chain": chain.side.name},
        )
        return None

    def _request(self, swap: Swap, action: Action) -> TxRequest:
        leg = action.leg
        artifact = _artifact(leg.asset_kind)
        token: tuple[Any, ...] = () if leg.asset_kind == AssetKind.NATIVE else (leg.token,)
        if action.kind == ActionKind.CLAIM:
            assert swap.preimage is not None and swap.claim_signature is not None
            data = artifact.call_data(
                "claimWithSig",
                swap.preimage,
                leg.value,
                *token,
                leg.claimer,
                leg.refunder,
                leg.timelock,
                swap.claim_destination,
                swap.claim_signature,
            )
        else:  # paid to the leg's refunder, never to the keeper (htlc.md §2.7)
            data = artifact.call_data(
                "refundFor",
                swap.hashlock,
                leg.value,
                *token,
                leg.claimer,
                leg.refunder,
                leg.timelock,
            )
        return TxRequest(to=leg.htlc, data=data, sender=self.address)

    def _note(self, swap: Swap, notes: tuple[str, ...]) -> None:
        if not notes:
            self._notes.pop(swap.swap_id, None)
            return
        before = set(self._notes.get(swap.swap_id, ()))
        for note in notes:
            if note not in before:
                level = logging.WARNING if note.startswith("refused") else logging.INFO
                log.log(
                    level,
                    "swap 0x%s: %s",
                    swap.swap_id.hex(),
                    note,
                    extra={"swap_id": "0x" + swap.swap_id.hex()},
                )
        self._notes[swap.swap_id] = notes


def _artifact(kind: AssetKind) -> Artifact:
    return load_artifact(_ARTIFACTS[kind])


def _roles(swap: Swap) -> tuple[tuple[LegRole, SwapLeg], ...]:
    return (LegRole.INITIATOR, swap.initiator_leg), (LegRole.PARTICIPANT, swap.participant_leg)


def _with_leg(swap: Swap, role: LegRole, leg: SwapLeg) -> Swap:
    if role == LegRole.INITIATOR:
        return replace(swap, initiator_leg=leg)
    return replace(swap, participant_leg=leg)


def _changes(old: Swap, new: Swap) -> dict[str, Any]:
    """The ``set_swap_state`` progress fields that differ between ``old`` and ``new``."""
    fields: dict[str, Any] = {}
    if new.preimage != old.preimage:
        fields["preimage"] = new.preimage
    for prefix in ("initiator_leg", "participant_leg"):
        before, after = getattr(old, prefix), getattr(new, prefix)
        for name in ("lock_tx", "claim_tx", "refund_tx"):
            if getattr(after, name) != getattr(before, name):
                fields[f"{prefix}_{name}"] = getattr(after, name)
    return fields
