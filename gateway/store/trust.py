"""The ``Store``'s light-client trust states."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Table, select

from adapters.types import ChainId
from gateway.domain.status import TrustState
from gateway.store.base import StoreBase, _check_int64
from gateway.store.errors import StoreError
from gateway.store.models import metadata

__all__ = ["TrustMixin"]

_trust: Table = metadata.tables["trust_states"]


class TrustMixin(StoreBase):
    """Light-client trust states."""

    # --- trust states -------------------------------------------------------------------------

    async def save_trust_state(
        self,
        chain_id: ChainId,
        kind: str,
        state: Mapping[str, Any],
        *,
        now: datetime | None = None,
    ) -> TrustState:
        """Replace the chain's light-client state. ``state`` must be JSON (bytes as hex)."""
        _check_int64(chain_id, "chain_id")
        at = self._now(now)
        try:
            text = json.dumps(state, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StoreError("trust state is not JSON", chain_id=chain_id, reason=str(exc)) from exc
        async with self._tx("save_trust_state") as conn:
            stmt = self._insert(_trust).values(
                chain_id=chain_id, kind=kind, state=text, updated_at=at
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_trust.c.chain_id],
                    set_={"kind": kind, "state": text, "updated_at": at},
                )
            )
        return TrustState(chain_id, kind, MappingProxyType(json.loads(text)), at)

    async def load_trust_state(self, chain_id: ChainId) -> TrustState | None:
        async with self._tx("load_trust_state", write=False) as conn:
            row = (await conn.execute(select(_trust).where(_trust.c.chain_id == chain_id))).first()
        if row is None:
            return None
        return TrustState(
            ChainId(row.chain_id), row.kind, MappingProxyType(json.loads(row.state)), row.updated_at
        )
