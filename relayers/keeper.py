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

   **Looking back.** A swap may be stored after the keeper scanned past its lock (or its
   claim or refund). So the first time the keeper sees a swap (and for every swap after a
   restart), each leg still absent after the range is read back: the ``swaps(key)`` slot at
   the scanned height says whether it is open, and the HTLCs' logs of its hashlock are read
   backwards (``log_range`` chunks) to the newest ``Locked`` of its key, then replayed as the
   scan does. An open leg's lock is searched down to the chain's ``start_height``; an empty
   slot (usually a leg not locked yet) only ``look_back_blocks`` deep, so a leg settled before
   the swap was stored is recorded claimed or refunded (with the secret of a claim), never
   taken for a leg never locked. An open leg whose ``Locked`` log the node does not serve is
   not recorded locked (the store holds no fact without its transaction) and is noted.
2. **Decide** (``gateway.domain.swaps.decide``) on the final facts and each chain's time: the
   block time of the newest final block scanned there, never the local clock.
3. **Act.** ``claimWithSig`` / ``refundFor`` through the chain's ``Sender`` (simulated first);
   ``refundFor`` pays the leg's refunder (the user) whoever sends it, so the keeper refunds
   legs locked with a plain ``lock``. A ``SwapNotFound`` revert means the leg was settled
   already (by us before a restart, by its owner, by another keeper): done, the scan will
   record how. Other reverts of one swap are noted on it and do not stop the others.

Everything the keeper knows comes from the store and the chains, so a restart carries on. What
it refuses or cannot do for a swap is logged once, kept in ``notes`` and stored as the swap's
``reason`` (the notes joined with ``"; "``): written when it changes, not at every step, and
cleared (None) when nothing is in the way any more or the swap is over.
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
    TERMINAL_STATES,
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
from gateway.store import Store, SwapStateMoved
from relayers.routes import ChainSide
from relayers.sending import Sender, reverted_with
from relayers.watcher import ScanRange, next_range

__all__ = ["LOOK_BACK_BLOCKS", "HtlcKeeper", "KeeperChain"]

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
# How far back (blocks below the keeper's scanned height) the look-back at a swap the keeper
# sees for the first time searches a leg's logs when the leg is not open on chain.
LOOK_BACK_BLOCKS = 10_000
_HTLC_TOPICS = (LOCKED_NATIVE_TOPIC, LOCKED_TOKEN_TOPIC, CLAIMED_TOPIC, REFUNDED_TOPIC)


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
        look_back_blocks: int = LOOK_BACK_BLOCKS,
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
        if log_range < 1 or look_back_blocks < 0:
            raise ConfigError(
                "the keeper's log range must be >= 1 and its look-back >= 0",
                log_range=log_range,
                look_back_blocks=look_back_blocks,
            )
        self._chains = {c.chain_id: c for c in chains}
        self._store = store
        self._rules = rules
        self._log_range = log_range
        self._look_back_blocks = look_back_blocks
        self._interval_s = interval_s
        self.address: Address = signers.pop()
        self.stream = f"keeper:0x{self.address.hex()}"
        self._notes: dict[Hash32, tuple[str, ...]] = {}
        self._looked_back: set[tuple[Hash32, LegRole]] = set()  # legs whose past was read
        self._unfollowed: dict[Hash32, dict[LegRole, str]] = {}  # open legs, no lock found
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
        the last step (a refusal starts with ``refused:``). The store keeps them joined with
        ``"; "`` as the swap's ``reason``."""
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
            for event in sorted(events, key=_order):
                await self._apply(chain, event, work, by_hashlock)
            new = await scan.checkpoint(chain.side)
            scans.append((chain, scan, new))
            checkpoints[chain.chain_id] = new
        looked_back = await self._look_back(stored, work, checkpoints)
        times = {
            chain_id: await self._time(chain_id, cp.height)
            for chain_id, cp in checkpoints.items()
            if cp is not None
        }
        current = await self._record(stored, work, times)
        for chain, scan, new in scans:
            await self._store.record_scan(chain.chain_id, self.stream, scan.previous, new, [])
        self._looked_back.update(looked_back)
        self._looked_back = {k for k in self._looked_back if k[0] in current}
        for swap_id in [s for s in self._notes if s not in current]:
            del self._notes[swap_id]
        for swap_id in [s for s in self._unfollowed if s not in current]:
            del self._unfollowed[swap_id]
        for swap in current.values():
            await self._act(swap, times)
        return any(scan.end < scan.final for _, scan, _ in scans)

    def _query(self, chain: KeeperChain) -> EventQuery:
        return EventQuery(addresses=tuple(chain.htlcs), topics=(_HTLC_TOPICS,))

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
        decoded = _decode(chain, event)
        if decoded is None:
            return
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

    # -- looking back ---------------------------------------------------------------------------

    async def _look_back(
        self,
        stored: Mapping[Hash32, Swap],
        work: dict[Hash32, Swap],
        checkpoints: Mapping[ChainId, Checkpoint | None],
    ) -> list[tuple[Hash32, LegRole]]:
        """Read the past of every leg the keeper sees for the first time (a new swap, or any
        swap after a restart) that is still absent once this step's range was applied: its
        lock may be in blocks scanned before the swap was stored. Updates ``work``; returns the
        legs done (marked only once the step's writes succeeded, so a failed step looks again).

        A leg on a chain nothing was scanned on yet waits: the first scan there starts at the
        chain's ``start_height`` and sees its lock anyway."""
        done: list[tuple[Hash32, LegRole]] = []
        for swap_id in stored:
            for role, leg in _roles(work[swap_id]):
                if (swap_id, role) in self._looked_back:
                    continue
                chain = self._chains.get(leg.chain_id)
                if (
                    chain is None
                    or chain.htlcs.get(leg.htlc) != leg.asset_kind
                    or leg_status(leg) != LegStatus.ABSENT
                ):
                    done.append((swap_id, role))  # refused, or its lock is known
                    continue
                checkpoint = checkpoints.get(leg.chain_id)
                if checkpoint is None:
                    continue
                work[swap_id] = await self._look_back_leg(
                    chain, work[swap_id], role, checkpoint.height
                )
                done.append((swap_id, role))
        return done

    async def _look_back_leg(
        self, chain: KeeperChain, swap: Swap, role: LegRole, height: Height
    ) -> Swap:
        """``swap`` with what the blocks up to ``height`` (scanned already) say about its absent
        ``role`` leg.

        The contract's ``swaps(key)`` slot at ``height`` says whether the leg is open. The
        leg's logs (``Locked`` / ``Claimed`` / ``Refunded``, all indexed by the hashlock) are
        read backwards from ``height`` in ``log_range`` chunks until the newest ``Locked`` of the
        leg's key: down to the chain's ``start_height`` when the slot is open (the lock is
        there), ``look_back_blocks`` otherwise (an empty slot is usually a leg not locked yet,
        which the scans will see; a settled one is found only inside that window). From that
        lock on, the logs are applied to the leg exactly as the scan applies them (a claim or
        refund counts only when the slot was empty at its block), so a leg locked and settled
        before the swap was stored is recorded settled, never taken for one never locked.
        A ``Claimed`` preimage found on the way is kept as the scan keeps it.

        An open leg whose ``Locked`` log the node does not serve (a ``start_height`` after the
        lock, pruned logs) is not recorded locked: every fact the store holds is a transaction
        in a final block, and the configuration that hides the log needs an operator anyway.
        It is noted on the swap (its reason) instead."""
        leg = _leg(swap, role)
        key = swap_key(swap.hashlock, leg)
        is_open = await self._is_open(chain, leg, swap.hashlock, height)
        floor = chain.side.start_height
        if not is_open:
            floor = max(floor, height - self._look_back_blocks + 1)
        query = EventQuery(addresses=tuple(chain.htlcs), topics=(_HTLC_TOPICS, (swap.hashlock,)))
        seen: list[tuple[ChainEvent, LockedEvent | ClaimedEvent | RefundedEvent]] = []
        lock: ChainEvent | None = None
        end = int(height)
        while lock is None and end >= floor:
            start = max(floor, end - self._log_range + 1)
            for event in await chain.side.adapter.events(query, Height(start), Height(end)):
                decoded = _decode(chain, event)
                if decoded is None or decoded.hashlock != swap.hashlock:
                    continue
                seen.append((event, decoded))
                if (
                    isinstance(decoded, LockedEvent)
                    and decoded.htlc == leg.htlc
                    and decoded.key == key
                    and (lock is None or _order(event) > _order(lock))
                ):
                    lock = event
            end = start - 1
        seen.sort(key=lambda item: _order(item[0]))
        for _, decoded in seen:
            if isinstance(decoded, ClaimedEvent) and swap.preimage is None:
                swap = replace(swap, preimage=decoded.preimage)
        if lock is None:
            if is_open:
                note = (
                    f"{role} leg is open on chain at block {height} but the node serves no "
                    f"Locked log of it from block {floor} on: not followed"
                )
                self._unfollowed.setdefault(swap.swap_id, {})[role] = note
                log.warning(
                    "swap 0x%s: %s (is the chain's start_height after the lock?)",
                    swap.swap_id.hex(),
                    note,
                    extra={"swap_id": "0x" + swap.swap_id.hex(), "chain": chain.side.name},
                )
            return swap
        for event, decoded in seen:
            if _order(event) < _order(lock) or decoded.htlc != leg.htlc:
                continue
            changed = await self._leg_fact(chain, event, decoded, swap, leg)
            if changed is not None:
                leg = changed
        log.info(
            "swap 0x%s: %s leg locked in 0x%s at block %d, before the keeper saw the swap: %s",
            swap.swap_id.hex(),
            role,
            lock.tx_hash.hex(),
            lock.block_number,
            leg_status(leg),
            extra={"swap_id": "0x" + swap.swap_id.hex(), "chain": chain.side.name},
        )
        return _with_leg(swap, role, leg)

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
            if state in TERMINAL_STATES and old.reason is not None:
                fields["reason"] = None  # over: nothing left in the keeper's way
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
        notes += [  # open legs whose lock was not found, while nothing else shows their lock
            note
            for role, note in self._unfollowed.get(swap.swap_id, {}).items()
            if leg_status(_leg(swap, role)) == LegStatus.ABSENT
        ]
        self._note(swap, tuple(notes))
        await self._store_reason(swap, notes)

    async def _store_reason(self, swap: Swap, notes: Sequence[str]) -> None:
        """Write the swap's ``reason`` when the notes changed from the stored one (not at every
        step); None clears it."""
        reason = "; ".join(notes) or None
        if reason == swap.reason:
            return
        try:
            await self._store.set_swap_state(swap.swap_id, swap.state, swap.state, reason=reason)
        except SwapStateMoved:
            # Moved by another writer since this step read it: the next step decides afresh.
            log.debug(
                "swap 0x%s: moved while its reason was written",
                swap.swap_id.hex(),
                extra={"swap_id": "0x" + swap.swap_id.hex()},
            )

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


def _decode(
    chain: KeeperChain, event: ChainEvent
) -> LockedEvent | ClaimedEvent | RefundedEvent | None:
    """The HTLC event ``event`` is, None for a log of no watched HTLC or another topic;
    ``RpcResponseInvalid`` for a log the contract cannot have emitted."""
    kind = chain.htlcs.get(event.address)
    if kind is None:
        return None
    try:
        decoded = decode_htlc_event(Log(event.address, event.topics, event.data), kind)
    except DecodeError as exc:
        raise RpcResponseInvalid(
            "node served an HTLC log the contract cannot have emitted",
            chain_id=chain.chain_id,
            tx_hash=event.tx_hash,
            reason=exc.message,
        ) from exc
    if isinstance(decoded, ClaimedEvent) and hashlock_of(decoded.preimage) != decoded.hashlock:
        raise RpcResponseInvalid(
            "node served a Claimed log whose preimage does not hash to its hashlock",
            chain_id=chain.chain_id,
            tx_hash=event.tx_hash,
        )
    return decoded


def _order(event: ChainEvent) -> tuple[int, int]:
    return event.block_number, event.block_log_index


def _roles(swap: Swap) -> tuple[tuple[LegRole, SwapLeg], ...]:
    return (LegRole.INITIATOR, swap.initiator_leg), (LegRole.PARTICIPANT, swap.participant_leg)


def _leg(swap: Swap, role: LegRole) -> SwapLeg:
    return swap.initiator_leg if role == LegRole.INITIATOR else swap.participant_leg


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
