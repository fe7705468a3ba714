"""The consortium light client's state in the store (docs/relayer.md §2, ``trust_states``):
the highest header the off-chain QBFT client verified, saved as it advances and adopted again
at start, so that a restart does not verify forward from the configured anchor again."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from adapters.lightclient.qbft import TrustedHeader
from adapters.qbft import QbftAdapter
from adapters.types import Address, Hash32
from gateway.store import Store

__all__ = ["TrustSaver", "restore_trust"]

log = logging.getLogger(__name__)

KIND = "qbft"


def trusted_to_json(t: TrustedHeader) -> dict[str, Any]:
    return {
        "number": t.number,
        "hash": "0x" + t.hash.hex(),
        "validators": ["0x" + v.hex() for v in t.validators],
        "timestamp": t.timestamp,
    }


def trusted_from_json(data: Mapping[str, Any]) -> TrustedHeader:
    return TrustedHeader(
        number=int(data["number"]),
        hash=Hash32(bytes.fromhex(data["hash"][2:])),
        validators=tuple(Address(bytes.fromhex(v[2:])) for v in data["validators"]),
        timestamp=int(data["timestamp"]),
    )


async def restore_trust(store: Store, adapter: QbftAdapter) -> None:
    """Adopt the header saved by the last run, if any."""
    state = await store.load_trust_state(adapter.ref.chain_id)
    if state is None or state.kind != KIND:
        return
    trusted = trusted_from_json(state.state["latest"])
    await adapter.adopt_trusted(trusted)
    log.info(
        "light client of %s resumes from verified header %d",
        adapter.ref.name,
        trusted.number,
        extra={"chain": adapter.ref.name},
    )


class TrustSaver:
    """A worker: saves the client's latest verified header whenever it moved."""

    def __init__(self, store: Store, adapter: QbftAdapter, interval_s: float) -> None:
        self._store = store
        self._adapter = adapter
        self.interval_s = interval_s
        self._saved: int | None = None

    @property
    def name(self) -> str:
        return f"trust:{self._adapter.ref.name}"

    async def step(self) -> bool:
        latest = self._adapter.latest_trusted()
        if latest.number != self._saved:
            await self._store.save_trust_state(
                self._adapter.ref.chain_id, KIND, {"latest": trusted_to_json(latest)}
            )
            self._saved = latest.number
        return False
