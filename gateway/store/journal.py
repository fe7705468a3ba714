"""``StoreJournal``: the ``adapters.rpc.submit.TxJournal`` of a signer writer, on the store.

Every attempt is durable in the ``transactions`` table before the writer broadcasts it, so a
writer that restarts after a crash (or a SIGKILL) resumes from the open entries instead of
guessing nonces. One journal serves every signer of an adapter.

``fences`` (signer address -> its writer lock from ``Store.acquire_lock``) makes the journal
refuse the writes of a writer whose lock passed to another process (``LeaseLost``): two
processes never both send for one signer. The mapping is read at every call, so a service that
re-takes a lock updates it in place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from adapters.rpc.submit import JournalEntry, TxAttempt, TxOutcome
from adapters.types import Address, ChainId
from gateway.domain.status import LockLease
from gateway.store.errors import NotFound
from gateway.store.store import Store

__all__ = ["StoreJournal"]

log = logging.getLogger(__name__)


class StoreJournal:
    """A ``TxJournal`` backed by ``store``."""

    def __init__(self, store: Store, *, fences: Mapping[Address, LockLease] | None = None) -> None:
        self._store = store
        self._fences: Mapping[Address, LockLease] = fences if fences is not None else {}

    async def open_entries(self, chain_id: ChainId, sender: Address) -> Sequence[JournalEntry]:
        return [record.entry for record in await self._store.open_txs(chain_id, sender)]

    async def record_attempt(self, entry: JournalEntry, attempt: TxAttempt) -> None:
        await self._store.record_tx_attempt(entry, attempt, fence=self._fences.get(entry.sender))

    async def record_outcome(
        self, chain_id: ChainId, sender: Address, nonce: int, outcome: TxOutcome
    ) -> None:
        try:
            await self._store.update_tx(
                chain_id, sender, nonce, outcome, fence=self._fences.get(sender)
            )
        except NotFound:
            # Closed already (a repeated outcome after a restart): nothing left to close.
            log.warning(
                "transaction outcome for an entry that is not open",
                extra={"chain": chain_id, "nonce": nonce},
            )
