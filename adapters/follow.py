"""``HeaderFollower``: a public chain's heights and headers, verified from a trusted checkpoint.

The follower keeps a ``HeaderChain`` (hash linkage from a trusted checkpoint, confirmation depth,
the node's tags checked against the chain) in step with a node:

- ``step()`` fetches the node's new headers from our head + 1 (at most ``max_batch`` per step)
  and appends them when they link to our head;
- when they do not, it walks back over the node's canonical headers until one is on our chain
  (the common ancestor), then switches branch with ``HeaderChain.reconcile`` and reports the
  ``Reorg``; a reorg that would drop a final block raises ``ReorgDetected`` (fatal: it is never
  followed silently);
- node answers that contradict each other (a header that is not the parent of the node's next
  header) raise ``RpcResponseInvalid`` and leave the tracked chain unchanged.

I/O happens only in ``bootstrap`` and ``step``; everything else answers from the verified chain.
There is no loop here (style rule 6): the owner of the follower calls ``step()`` periodically.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal, Protocol

from adapters.base import BadRequest, Capabilities
from adapters.errors import (
    ConfigError,
    HeaderInvalid,
    NotYetAvailable,
    ReorgDetected,
    RpcResponseInvalid,
)
from adapters.lightclient.headerchain import ChainLink, HeaderChain, Reorg
from adapters.types import ChainRef, Finality, FinalityTag, Hash32, Height

__all__ = [
    "FollowConfig",
    "FollowResult",
    "HeaderFollower",
    "HeaderSource",
    "check_linked",
    "next_fork_height",
]

log = logging.getLogger(__name__)

TrackedTag = Literal["safe", "finalized"]

_FETCH_CONCURRENCY = 8  # parallel header fetches within one batch


class HeaderSource(Protocol):
    """Where headers come from: ``EvmAdapter`` (each header's hash already checked)."""

    @property
    def ref(self) -> ChainRef: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def header_link(self, block: Height | FinalityTag) -> ChainLink:
        """The header at a height or node tag, with its hash; ``NotYetAvailable`` if none."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowConfig:
    """How a follower starts and how far reorgs may reach.

    The trust anchor is stated explicitly, one of:
    - ``checkpoint_height`` + ``checkpoint_hash``: an operator checkpoint (the header at that
      height must have that hash);
    - ``trust_node_finalized=True``: trust the node's ``finalized`` block at start.

    ``finality_depth`` is the confirmation depth below the head that counts as final: a reorg
    that drops more blocks than that (or drops the node's verified ``finalized`` block) raises
    ``ReorgDetected``. ``finalized_floor`` is the highest height a previous run reported final
    (persisted with the checkpoint, ``HeaderFollower.finalized_floor``): a reorg below it is a
    ``FinalityViolation`` from the first step on. ``tags`` are the node tags checked against the
    chain in every step (what ``final_height(Finality(tag=...))`` answers from).
    """

    finality_depth: int
    checkpoint_height: int | None = None
    checkpoint_hash: Hash32 | None = None
    trust_node_finalized: bool = False
    finalized_floor: int | None = None
    tags: tuple[TrackedTag, ...] = ("finalized",)
    max_batch: int = 64  # headers fetched per step
    max_window: int = 4096  # headers kept in memory; must exceed finality_depth

    def __post_init__(self) -> None:
        if not isinstance(self.trust_node_finalized, bool):
            raise ConfigError(
                "trust_node_finalized must be a bool",
                trust_node_finalized=self.trust_node_finalized,
            )
        pinned = self.checkpoint_height is not None or self.checkpoint_hash is not None
        if self.trust_node_finalized == pinned:
            raise ConfigError(
                "name exactly one trust anchor: checkpoint_height + checkpoint_hash, "
                "or trust_node_finalized=True"
            )
        if pinned:
            if not _is_count(self.checkpoint_height, 0):
                raise ConfigError(
                    "checkpoint_height must be a non-negative integer",
                    checkpoint_height=self.checkpoint_height,
                )
            if not isinstance(self.checkpoint_hash, bytes) or len(self.checkpoint_hash) != 32:
                raise ConfigError(
                    "checkpoint_hash must be 32 bytes", checkpoint_hash=self.checkpoint_hash
                )
        if not _is_count(self.finality_depth, 0):
            raise ConfigError(
                "finality_depth must be a non-negative integer", finality_depth=self.finality_depth
            )
        if self.finalized_floor is not None and not _is_count(self.finalized_floor, 0):
            raise ConfigError(
                "finalized_floor must be a non-negative integer",
                finalized_floor=self.finalized_floor,
            )
        if not _is_count(self.max_batch, 1):
            raise ConfigError("max_batch must be a positive integer", max_batch=self.max_batch)
        if not _is_count(self.max_window, 2) or self.max_window <= self.finality_depth:
            raise ConfigError(
                "max_window must be an integer above finality_depth",
                max_window=self.max_window,
                finality_depth=self.finality_depth,
            )
        _validate_tags(self.tags)


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _validate_tags(tags: object) -> None:
    if not isinstance(tags, tuple) or any(t not in ("safe", "finalized") for t in tags):
        raise ConfigError("tags must be a tuple of 'safe' / 'finalized'", tags=tags)
    if len(set(tags)) != len(tags):
        raise ConfigError("tags lists a tag twice", tags=tags)


@dataclass(frozen=True, slots=True)
class FollowResult:
    """What one ``step()`` did."""

    head: Height  # our verified head after the step
    head_hash: Hash32
    node_head: Height  # the node's latest height seen by this step
    added: int  # headers appended (after the common ancestor, when there was a reorg)
    reorg: Reorg | None  # the reorg applied in this step, if any

    @property
    def caught_up(self) -> bool:
        """False while the node is more than one batch ahead: step again without waiting."""
        return self.head >= self.node_head


# --- pure rules --------------------------------------------------------------------------------


def check_linked(links: Sequence[ChainLink]) -> None:
    """Consecutive headers from the node must link (number + 1, parentHash = hash).

    A break means the node's answers contradict each other (forged, or a reorg between two
    calls): ``RpcResponseInvalid``, so the caller drops the whole batch and may ask again.
    """
    for parent, child in pairwise(links):
        if child.number != parent.number + 1 or child.header.parent_hash != parent.hash:
            raise RpcResponseInvalid(
                "node's headers do not link",
                height=child.number,
                parent_height=parent.number,
                parent_hash=child.header.parent_hash,
                expected=parent.hash,
            )


def next_fork_height(chain: HeaderChain, branch: Sequence[ChainLink]) -> int | None:
    """While walking back along the node's ``branch`` (ascending, not building on our head):
    the height of the node header to fetch next, or None to stop.

    Stops when the branch's lowest header builds on a header of ours (the common ancestor), or
    when the walk already reaches the final floor: ``reconcile`` then refuses the reorg (it
    would drop a final block), so walking deeper could only cost requests.
    """
    if not branch:
        raise ValueError("branch is empty")
    lowest = branch[0]
    parent_height = lowest.number - 1
    if chain.contains(parent_height, lowest.header.parent_hash):
        return None
    if parent_height < max(chain.finalized_height(), chain.base.number):
        return None
    return parent_height


# --- the follower ------------------------------------------------------------------------------


class HeaderFollower:
    """Follows one public chain's canonical headers from a trusted checkpoint.

    Build with ``await HeaderFollower.bootstrap(adapter, config)`` (fetches and checks the
    checkpoint), or directly from a ``HeaderChain`` seeded elsewhere. Not safe for concurrent
    ``step()`` calls: one owner steps it.
    """

    def __init__(
        self,
        source: HeaderSource,
        chain: HeaderChain,
        *,
        max_batch: int = 64,
        tags: tuple[TrackedTag, ...] = ("finalized",),
        reorg_history: int = 64,
    ) -> None:
        if source.capabilities.poa:
            # HeaderChain hashes with the plain Ethereum rule; BFT chains have their own client.
            raise ConfigError(
                "header follower is for public chains; a PoA/BFT adapter verifies its own headers",
                chain_id=source.ref.chain_id,
            )
        if not _is_count(max_batch, 1):
            raise ConfigError("max_batch must be a positive integer", max_batch=max_batch)
        if not _is_count(reorg_history, 1):
            raise ConfigError("reorg_history must be a positive integer", history=reorg_history)
        _validate_tags(tags)
        self._source = source
        self._chain = chain
        self._max_batch = max_batch
        self._tags = tags
        self._reorgs: deque[Reorg] = deque(maxlen=reorg_history)

    @classmethod
    async def bootstrap(cls, source: HeaderSource, config: FollowConfig) -> HeaderFollower:
        """Fetch the configured trust anchor and start a chain on it."""
        if config.trust_node_finalized:
            anchor = await source.header_link("finalized")
        else:
            assert config.checkpoint_height is not None  # FollowConfig checked it
            anchor = await source.header_link(Height(config.checkpoint_height))
            if anchor.hash != config.checkpoint_hash:
                raise HeaderInvalid(
                    "checkpoint header does not have the configured hash",
                    chain_id=source.ref.chain_id,
                    height=config.checkpoint_height,
                    expected=config.checkpoint_hash,
                    got=anchor.hash,
                )
        chain = HeaderChain(
            anchor.header,
            finality_depth=config.finality_depth,
            checkpoint_hash=anchor.hash,
            max_window=config.max_window,
            finalized_floor=config.finalized_floor,
        )
        log.info(
            "following chain %s from checkpoint %d 0x%s",
            source.ref.chain_id,
            anchor.number,
            anchor.hash.hex(),
        )
        return cls(source, chain, max_batch=config.max_batch, tags=config.tags)

    # -- queries (no I/O) -------------------------------------------------------------------

    @property
    def chain(self) -> HeaderChain:
        """The verified chain (read it; only ``step`` changes it)."""
        return self._chain

    @property
    def head(self) -> ChainLink:
        return self._chain.head

    @property
    def finalized_floor(self) -> int:
        """The highest height ever reported final: persist it with the checkpoint."""
        return self._chain.finalized_height()

    @property
    def reorgs(self) -> tuple[Reorg, ...]:
        """The reorgs followed so far (the most recent ones), oldest first."""
        return tuple(self._reorgs)

    def final_height(self, finality: Finality) -> Height:
        """The highest height at ``finality`` on the verified chain: a depth below our head,
        or a node tag that ``step`` found on our chain. ``NotYetAvailable`` until known."""
        if not isinstance(finality, Finality):
            raise BadRequest("final_height() needs a Finality", finality=finality)
        return Height(self._chain.final_height(finality))

    def final_header(self, finality: Finality) -> ChainLink:
        return self._chain.final_header(finality)

    def header(self, height: int) -> ChainLink:
        """A verified header of the window; ``NotYetAvailable`` above the head or when the
        height has left the window (or lies below the checkpoint)."""
        link = self._chain.get(height)
        if link is None:
            raise NotYetAvailable(
                "header is not in the verified window",
                height=height,
                base=self._chain.base.number,
                head=self._chain.head.number,
            )
        return link

    # -- the step (all I/O) -----------------------------------------------------------------

    async def step(self) -> FollowResult:
        """Catch up with the node by at most ``max_batch`` headers, following reorgs."""
        latest = await self._source.header_link("latest")
        head = self._chain.head
        reorg: Reorg | None = None
        if latest.number <= head.number:
            if self._chain.contains(latest.number, latest.hash):
                added = 0  # nothing new (or the node lags behind what we already verified)
            else:
                reorg, added = await self._follow_fork([latest])
        else:
            end = min(latest.number, head.number + self._max_batch)
            branch = await self._fetch_range(head.number + 1, end)
            check_linked(branch)
            if branch[0].header.parent_hash == head.hash:
                self._chain.extend([b.header for b in branch], [b.hash for b in branch])
                added = len(branch)
            else:
                reorg, added = await self._follow_fork(branch)
        await self._check_tags()
        new_head = self._chain.head
        return FollowResult(
            head=Height(new_head.number),
            head_hash=new_head.hash,
            node_head=Height(latest.number),
            added=added,
            reorg=reorg,
        )

    async def _fetch_range(self, start: int, end: int) -> list[ChainLink]:
        gate = asyncio.Semaphore(_FETCH_CONCURRENCY)

        async def one(height: int) -> ChainLink:
            async with gate:
                link = await self._source.header_link(Height(height))
            if link.number != height:
                raise RpcResponseInvalid("node sent another block than asked", height=height)
            return link

        # return_exceptions: every fetch ends before we raise, so none is left running.
        results = await asyncio.gather(
            *(one(h) for h in range(start, end + 1)), return_exceptions=True
        )
        links: list[ChainLink] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            links.append(result)
        return links

    async def _follow_fork(self, branch: list[ChainLink]) -> tuple[Reorg | None, int]:
        """Walk back along the node's canonical chain to the common ancestor, then switch."""
        check_linked(branch)
        while (height := next_fork_height(self._chain, branch)) is not None:
            parent = await self._source.header_link(Height(height))
            if parent.number != height or parent.hash != branch[0].header.parent_hash:
                raise RpcResponseInvalid(
                    "node's canonical header is not the parent of its next header",
                    height=height,
                    got=parent.hash,
                    expected=branch[0].header.parent_hash,
                )
            branch.insert(0, parent)
        before = self._chain.head
        try:
            reorg = self._chain.reconcile([b.header for b in branch], [b.hash for b in branch])
        except ReorgDetected as exc:
            chain_id = self._source.ref.chain_id
            log.error("chain %s: reorg beyond finality refused: %s", chain_id, exc)
            raise type(exc)(exc.message, **{**exc.context, "chain_id": chain_id}) from exc
        added = self._chain.head.number - (
            reorg.common_ancestor if reorg is not None else before.number
        )
        if reorg is not None:
            self._reorgs.append(reorg)
            log.warning(
                "chain %s: reorg of %d block(s) above %d 0x%s, new head %d",
                self._source.ref.chain_id,
                reorg.depth,
                reorg.common_ancestor,
                reorg.common_ancestor_hash.hex(),
                reorg.new_head,
            )
        return reorg, max(added, 0)

    async def _check_tags(self) -> None:
        """Record the node's tags that lie on our chain (``mark_tag`` checks the hash).

        A ``finalized`` block that conflicts with our chain is fatal (``ReorgDetected``). A
        ``safe`` one that conflicts is skipped: safe blocks can still be reorganised, and the
        next step follows the node's branch. Tags above our head wait for us to catch up; tags
        below the window cannot be checked and are not recorded.
        """
        for tag in self._tags:
            try:
                link = await self._source.header_link(tag)
            except NotYetAvailable:
                continue
            if not self._chain.base.number <= link.number <= self._chain.head.number:
                continue
            try:
                self._chain.mark_tag(tag, link.number, link.hash)
            except ReorgDetected:
                if tag == "finalized":
                    raise
                log.info(
                    "chain %s: node's safe block %d is not on our chain yet",
                    self._source.ref.chain_id,
                    link.number,
                )
