"""Domain types shared by every layer: NewType ids and frozen dataclasses.

web3 types never leave ``adapters/``; everything above speaks these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NewType

ChainId = NewType("ChainId", int)
Height = NewType("Height", int)
Hash32 = NewType("Hash32", bytes)
TxHash = NewType("TxHash", bytes)
Address = NewType("Address", bytes)  # 20 raw bytes; render with checksum only at the edges

FinalityTag = Literal["latest", "safe", "finalized"]


@dataclass(frozen=True, slots=True)
class Finality:
    """How final a block must be. Queries always name it; "latest" is never a hidden default.

    ``tag`` asks the node for a block tag; ``depth`` counts confirmations below the head
    (depth 0 == latest). Exactly one of them is set.
    """

    tag: FinalityTag | None = None
    depth: int | None = None

    def __post_init__(self) -> None:
        if (self.tag is None) == (self.depth is None):
            raise ValueError("Finality needs exactly one of tag or depth")
        if self.depth is not None and self.depth < 0:
            raise ValueError(f"Finality depth must be >= 0, got {self.depth}")

    @classmethod
    def latest(cls) -> Finality:
        return cls(tag="latest")

    @classmethod
    def finalized(cls) -> Finality:
        return cls(tag="finalized")

    @classmethod
    def confirmations(cls, depth: int) -> Finality:
        return cls(depth=depth)


@dataclass(frozen=True, slots=True)
class ChainRef:
    """Which chain an adapter talks to."""

    chain_id: ChainId
    name: str
    kind: Literal["qbft", "evm"]
