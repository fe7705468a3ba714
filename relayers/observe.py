"""The ops watch: values no other worker reads on its own, exported for the alert rules
(docker/prometheus/alerts.yml, docs/operations.md): the balance of every signer of the process
on every chain it sends on, and whether each route's destination endpoint refuses the route
(the route or the whole endpoint paused). Read at the chains' latest block every
``interval_s``; a failing read fails the step like any worker's (the supervisor retries it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from adapters.types import Address, ChainId, Finality
from relayers.metrics import RelayMetrics

__all__ = ["BalanceReader", "OpsWatch", "PauseReader", "WatchedRoute", "WatchedSigner"]

LATEST = Finality.latest()


class BalanceReader(Protocol):
    async def balance(self, address: Address, finality: Finality) -> int: ...


class PauseReader(Protocol):
    async def paused(self, remote_chain_id: ChainId, finality: Finality) -> tuple[bool, bool]: ...


@dataclass(frozen=True, slots=True)
class WatchedSigner:
    chain: str  # the [chains.NAME] it sends on
    address: Address
    reader: BalanceReader


@dataclass(frozen=True, slots=True)
class WatchedRoute:
    name: str  # "src->dst", as the other route metrics name it
    src_chain_id: ChainId
    endpoint: PauseReader  # the destination's BridgeEndpoint


class OpsWatch:
    """``xgate_signer_balance_wei{chain, signer}`` and ``xgate_route_paused{route}``."""

    name = "ops-watch"

    def __init__(
        self,
        metrics: RelayMetrics,
        *,
        signers: Sequence[WatchedSigner],
        routes: Sequence[WatchedRoute],
        interval_s: float = 15.0,
    ) -> None:
        self._metrics = metrics
        self._signers = list(signers)
        self._routes = list(routes)
        self.interval_s = interval_s

    async def step(self) -> bool:
        for s in self._signers:
            wei = await s.reader.balance(s.address, LATEST)
            self._metrics.signer_balance.labels(chain=s.chain, signer="0x" + s.address.hex()).set(
                wei
            )
        for r in self._routes:
            route_paused, endpoint_paused = await r.endpoint.paused(r.src_chain_id, LATEST)
            self._metrics.route_paused.labels(route=r.name).set(
                1 if route_paused or endpoint_paused else 0
            )
        return False
