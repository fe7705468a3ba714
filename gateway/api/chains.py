"""The API's read-only access to the configured chains: ``ChainAccess`` (``CHAINS_KEY``).

Operations that read a chain (heads, light-client heights, proofs for manual execution) or
build an unsigned transaction for a user's wallet get the chain's ``EvmAdapter`` here. The
API holds no signer: its adapters only read and forward (the gateway never holds user keys).

An adapter is started on first use, not at the API's start, so that an RPC endpoint that is
down makes only the operations on its chain fail (503 ``chain-unavailable``, retryable),
while everything the store answers keeps working; a failed start is tried again by the next
request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from adapters.errors import XgateError
from adapters.evm import EvmAdapter
from adapters.types import ChainId
from gateway.api.problems import Problem
from gateway.config import ChainConfig, XgateConfig

__all__ = ["CHAINS_KEY", "ChainAccess", "ChainHandle", "chains_of"]

AdapterFactory = Callable[[str, ChainConfig], EvmAdapter]


@dataclass(frozen=True, slots=True)
class ChainHandle:
    """One configured chain and its started adapter."""

    name: str
    config: ChainConfig
    adapter: EvmAdapter

    @property
    def chain_id(self) -> ChainId:
        return ChainId(self.config.chain_id)


class ChainAccess:
    """Adapters for ``config``'s chains, made by ``factory`` and started on first use.

    The owner (``xgate api``) closes it after the app stopped."""

    def __init__(self, config: XgateConfig, factory: AdapterFactory) -> None:
        self._config = config
        self._factory = factory
        self._by_id: Mapping[int, str] = {c.chain_id: n for n, c in config.chains.items()}
        self._started: dict[str, EvmAdapter] = {}
        self._locks = {name: asyncio.Lock() for name in config.chains}
        self._closed = False

    def name_of(self, chain_id: int) -> str:
        """The configured name of ``chain_id`` (404 ``unknown-chain`` otherwise)."""
        name = self._by_id.get(chain_id)
        if name is None:
            raise Problem(
                404,
                "unknown-chain",
                "Unknown chain",
                f"chain id {chain_id} is not one of this gateway's chains (GET /v1/chains)",
            )
        return name

    async def get(self, chain_id: int) -> ChainHandle:
        """The chain ``chain_id`` with its adapter, started if it was not yet."""
        name = self.name_of(chain_id)
        config = self._config.chains[name]
        async with self._locks[name]:
            adapter = self._started.get(name)
            if adapter is None:
                if self._closed:
                    raise _unavailable(name, "the API is stopping")
                adapter = self._factory(name, config)
                try:
                    await adapter.start()
                except XgateError as exc:
                    await adapter.aclose()
                    raise _unavailable(name, exc.message) from exc
                self._started[name] = adapter
        return ChainHandle(name, config, adapter)

    async def aclose(self) -> None:
        self._closed = True
        started, self._started = self._started, {}
        for adapter in started.values():
            await adapter.aclose()


def _unavailable(name: str, reason: str) -> Problem:
    return Problem(
        503,
        "chain-unavailable",
        "Chain unavailable",
        f"chain {name} cannot be reached: {reason}; retry later",
        headers={"Retry-After": "5"},
    )


CHAINS_KEY = web.AppKey("chains", ChainAccess)


def chains_of(request: web.Request) -> ChainAccess:
    """The app's chain access; 503 when this API instance serves the store only."""
    chains = request.app.get(CHAINS_KEY)
    if chains is None:
        raise Problem(
            503,
            "chains-not-configured",
            "No chain access",
            "this API instance serves the store only: it was started without chain access",
        )
    return chains
