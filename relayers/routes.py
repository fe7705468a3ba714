"""What the relay workers are told about chains and routes: plain values built by the
composition root from ``xgate.toml`` (the workers never read configuration themselves)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.evm import EvmAdapter
from adapters.types import Address, ChainId, Finality

__all__ = ["ChainSide", "Route"]


@dataclass(frozen=True, slots=True)
class ChainSide:
    name: str
    chain_id: ChainId
    adapter: EvmAdapter
    endpoint: Address
    finality: Finality  # what "final" means here (the source side waits for it)
    start_height: int = 0  # first block to scan when no checkpoint exists yet


@dataclass(frozen=True, slots=True)
class Route:
    """Messages from ``src``'s endpoint to ``dst``'s (the header gate holds ``dst``'s oracle)."""

    src: ChainSide
    dst: ChainSide
    batch_size: int = 16

    @property
    def name(self) -> str:
        return f"{self.src.name}->{self.dst.name}"
