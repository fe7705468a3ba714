"""Pure header chain for public EVM chains: linkage from a trusted checkpoint, finality, reorgs.

A ``HeaderChain`` starts from a checkpoint header the operator trusts and accepts only headers
that link to it by hash (parentHash == keccak(RLP(parent))), with number + 1 and a timestamp no
earlier than the parent's. It keeps a bounded window of the canonical chain, answers "which
height is final" (a confirmation depth, or the node's ``finalized`` / ``safe`` tags once they
are shown to lie on this chain), and handles reorgs: ``reconcile`` switches to the node's new
branch and reports the common ancestor, but refuses any reorg that would drop a final block.

Headers from a node are checked against the hash the node claimed (``verified_rpc_header``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from adapters.errors import FinalityViolation, HeaderInvalid, NotYetAvailable, ReorgDetected
from adapters.headers import Header, header_from_rpc, header_hash, rpc_hash
from adapters.types import Finality, Hash32

__all__ = [
    "ChainLink",
    "HeaderChain",
    "Reorg",
    "verified_rpc_header",
]


@dataclass(frozen=True, slots=True)
class ChainLink:
    """A header of the canonical window with its hash."""

    header: Header
    hash: Hash32

    @property
    def number(self) -> int:
        return self.header.number


@dataclass(frozen=True, slots=True)
class Reorg:
    """A reorg that ``reconcile`` applied: the blocks above ``common_ancestor`` were replaced."""

    common_ancestor: int
    common_ancestor_hash: Hash32
    depth: int  # number of canonical blocks dropped
    dropped: tuple[Hash32, ...]  # hashes of the dropped blocks, ascending height
    new_head: int


def verified_rpc_header(block: Mapping[str, Any]) -> ChainLink:
    """Parse an ``eth_getBlockBy*`` object and check it hashes to the ``hash`` the node claims.

    Raises ``DecodeError`` for malformed fields and ``HeaderInvalid`` for a hash mismatch.
    """
    return _link(header_from_rpc(block), rpc_hash(block))


def _link(header: Header, claimed: Hash32 | None) -> ChainLink:
    """``header`` with its hash, which must equal ``claimed`` when the node claimed one."""
    actual = header_hash(header)
    if claimed is not None and actual != claimed:
        raise HeaderInvalid(
            "header hash does not match the node's claim",
            height=header.number,
            claimed=claimed,
            computed=actual,
        )
    return ChainLink(header, actual)


def _check_child(parent: ChainLink, child: ChainLink) -> None:
    h = child.header
    if h.number != parent.number + 1:
        raise HeaderInvalid(
            "header number does not follow its parent",
            height=h.number,
            parent_height=parent.number,
        )
    if h.parent_hash != parent.hash:
        raise HeaderInvalid(
            "wrong parent hash",
            height=h.number,
            parent_hash=h.parent_hash,
            expected=parent.hash,
        )
    if h.timestamp < parent.header.timestamp:
        raise HeaderInvalid(
            "timestamp earlier than the parent's",
            height=h.number,
            timestamp=h.timestamp,
            parent_timestamp=parent.header.timestamp,
        )


class HeaderChain:
    """The canonical window of a public chain, grown from a trusted checkpoint.

    ``finality_depth`` is the confirmation depth below the head that counts as final (and so can
    never be reorganised away). ``max_window`` bounds memory; headers that fall out of the
    window are final by then (the window must exceed the finality depth).
    """

    def __init__(
        self,
        checkpoint: Header,
        *,
        finality_depth: int,
        checkpoint_hash: Hash32 | None = None,
        max_window: int = 4096,
        finalized_floor: int | None = None,
    ) -> None:
        if finality_depth < 0:
            raise ValueError(f"finality_depth must be >= 0, got {finality_depth}")
        if max_window <= finality_depth:
            raise ValueError("max_window must exceed finality_depth")
        self._finality_depth = finality_depth
        self._max_window = max_window
        self._links: list[ChainLink] = [_link(checkpoint, checkpoint_hash)]
        self._checkpoint_number = checkpoint.number
        # The highest height ever reported final (``finalized_height``); it never drops, or a
        # reorg to a shorter branch would lower finality and let the next reorg replace a final
        # block. The checkpoint is trusted, so it is final whatever the depth says.
        # ``finalized_floor`` restores the floor a previous run reached (persist
        # ``finalized_height()`` with the checkpoint).
        self._final_floor = max(checkpoint.number, finalized_floor or 0)
        self._tags: dict[str, ChainLink] = {}

    # --- queries -------------------------------------------------------------------------------

    @property
    def head(self) -> ChainLink:
        return self._links[-1]

    @property
    def base(self) -> ChainLink:
        """The lowest header still in the window."""
        return self._links[0]

    @property
    def finality_depth(self) -> int:
        return self._finality_depth

    def get(self, number: int) -> ChainLink | None:
        """The canonical header at ``number`` if it is in the window."""
        index = number - self._links[0].number
        if 0 <= index < len(self._links):
            return self._links[index]
        return None

    def contains(self, number: int, hash_: bytes) -> bool:
        link = self.get(number)
        return link is not None and link.hash == hash_

    def finalized_height(self) -> int:
        """Height at and below which nothing may be reorganised: the highest height ever
        reported final (depth, tags, checkpoint, restored floor); persist it to restore it."""
        return self._final_floor

    def final_height(self, finality: Finality) -> int:
        """The highest height that satisfies ``finality``.

        ``NotYetAvailable`` when a tag was never recorded (``mark_tag``) or the depth reaches
        below the checkpoint.
        """
        if finality.depth is not None:
            height = self.head.number - finality.depth
            if height < self._checkpoint_number:
                raise NotYetAvailable(
                    "not enough confirmations above the checkpoint",
                    depth=finality.depth,
                    head=self.head.number,
                )
            return height
        if finality.tag == "latest":
            return self.head.number
        tag = finality.tag or ""
        link = self._tags.get(tag)
        if link is None:
            raise NotYetAvailable("block tag not recorded yet", tag=tag)
        return link.number

    def final_header(self, finality: Finality) -> ChainLink:
        """The header at ``final_height(finality)`` (must still be in the window)."""
        height = self.final_height(finality)
        link = self.get(height)
        if link is None:
            raise NotYetAvailable("final header is outside the window", height=height)
        return link

    # --- updates -------------------------------------------------------------------------------

    def mark_tag(self, tag: str, number: int, hash_: bytes) -> None:
        """Record the node's ``finalized`` or ``safe`` block after checking it is on this chain.

        A tagged block that conflicts with the window raises ``ReorgDetected``: the node's
        finalized chain disagrees with ours.
        """
        if tag not in ("finalized", "safe"):
            raise ValueError(f"unknown tag {tag!r}")
        link = self.get(number)
        if link is None:
            raise NotYetAvailable("tagged block is outside the window", tag=tag, height=number)
        if link.hash != hash_:
            raise ReorgDetected(
                "node's tagged block is not on the canonical chain",
                tag=tag,
                height=number,
                tagged_hash=hash_,
                canonical_hash=link.hash,
            )
        previous = self._tags.get(tag)
        if previous is not None and previous.number > number:
            raise ReorgDetected(
                "tagged block moved backwards", tag=tag, height=number, previous=previous.number
            )
        self._tags[tag] = link
        self._raise_floor()

    def extend(
        self,
        headers: Sequence[Header],
        claimed_hashes: Sequence[bytes] | None = None,
    ) -> ChainLink:
        """Append headers that continue the head. Returns the new head.

        A first header at head + 1 that does not link to the head raises ``ReorgDetected``
        (fetch the node's branch and call ``reconcile``); any other break raises
        ``HeaderInvalid``. Nothing is appended unless the whole batch is valid.
        """
        if claimed_hashes is not None and len(claimed_hashes) != len(headers):
            raise ValueError("claimed_hashes must match headers one to one")
        new: list[ChainLink] = []
        parent = self.head
        for index, header in enumerate(headers):
            claimed = None if claimed_hashes is None else Hash32(bytes(claimed_hashes[index]))
            link = _link(header, claimed)
            if (
                index == 0
                and header.number == parent.number + 1
                and header.parent_hash != parent.hash
            ):
                raise ReorgDetected(
                    "header does not build on the current head",
                    height=header.number,
                    parent_hash=header.parent_hash,
                    head_hash=parent.hash,
                )
            _check_child(parent, link)
            new.append(link)
            parent = link
        self._links.extend(new)
        self._raise_floor()
        self._trim()
        return self.head

    def reconcile(
        self,
        branch: Sequence[Header],
        claimed_hashes: Sequence[bytes] | None = None,
    ) -> Reorg | None:
        """Adopt the node's canonical ``branch`` (ascending, contiguous headers).

        The branch must start at or above the window base and its first new header must build
        on a header we hold (the common ancestor). Returns ``None`` when the branch only
        extends the head, else the applied ``Reorg``. Raises without changing anything:
        ``FinalityViolation`` when the reorg would drop a final block, ``ReorgDetected`` when the
        branch does not reach back to a common ancestor (``need_before`` says how far back).
        """
        if not branch:
            return None
        if claimed_hashes is not None and len(claimed_hashes) != len(branch):
            raise ValueError("claimed_hashes must match branch one to one")
        links = [
            _link(h, None if claimed_hashes is None else Hash32(bytes(claimed_hashes[i])))
            for i, h in enumerate(branch)
        ]
        for parent, child in pairwise(links):
            _check_child(parent, child)
        # Skip the part of the branch we already hold.
        start = 0
        while start < len(links) and self.contains(links[start].number, links[start].hash):
            start += 1
        if start == len(links):
            return None
        first = links[start]
        ancestor = self.get(first.number - 1)
        if ancestor is None or ancestor.hash != first.header.parent_hash:
            lowest = links[0].number
            if ancestor is None and first.number - 1 > self.head.number:
                raise HeaderInvalid(
                    "branch starts above the head", height=first.number, head=self.head.number
                )
            raise ReorgDetected(
                "branch does not reach a common ancestor",
                height=first.number,
                common_ancestor=None,
                need_before=lowest,
                window_base=self.base.number,
            )
        _check_child(ancestor, first)
        depth = self.head.number - ancestor.number
        if depth > 0 and ancestor.number < self.finalized_height():
            raise FinalityViolation(
                "reorg would drop final blocks",
                common_ancestor=ancestor.number,
                common_ancestor_hash=ancestor.hash,
                depth=depth,
                finalized_height=self.finalized_height(),
                finality_depth=self._finality_depth,
            )
        keep = ancestor.number - self._links[0].number + 1
        dropped = tuple(link.hash for link in self._links[keep:])
        del self._links[keep:]
        self._links.extend(links[start:])
        for tag, link in list(self._tags.items()):
            if not self.contains(link.number, link.hash):  # a "safe" block can be reorged away
                del self._tags[tag]
        self._raise_floor()
        self._trim()
        if not dropped:
            return None
        return Reorg(
            common_ancestor=ancestor.number,
            common_ancestor_hash=ancestor.hash,
            depth=len(dropped),
            dropped=dropped,
            new_head=self.head.number,
        )

    def _raise_floor(self) -> None:
        """After every change of head or tags: what is final now stays final."""
        tagged = self._tags.get("finalized")
        self._final_floor = max(
            self._final_floor,
            self.head.number - self._finality_depth,
            tagged.number if tagged else -1,
        )

    def _trim(self) -> None:
        excess = len(self._links) - self._max_window
        if excess > 0:
            del self._links[:excess]
