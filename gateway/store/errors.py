"""Errors of the store, under the two roots of ``adapters.errors`` (style rule 5).

Retryable: the database is busy or unreachable, or a compare-and-set lost a race (re-read and
try again). Fatal: a constraint or a rule the caller broke; retrying the same call cannot help.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.errors import FatalError, RetryableError

if TYPE_CHECKING:
    from gateway.domain.status import Swap

__all__ = [
    "CheckpointMoved",
    "ConflictingSignature",
    "CreditReportConflict",
    "HashlockInUse",
    "InvalidCheckpoint",
    "LeaseLost",
    "NotDeadLettered",
    "NotFound",
    "SchemaOutOfDate",
    "StoreError",
    "StoreUnavailable",
    "SwapConflict",
    "SwapStateMoved",
    "TrackingConflict",
    "TxConflict",
    "ValueOutOfRange",
]


class StoreUnavailable(RetryableError):
    """The database is unreachable, locked by another writer past the busy timeout, or aborted
    the transaction (serialization failure, deadlock). Nothing was written."""


class StoreError(FatalError):
    """A store operation that cannot succeed as asked (constraint violated, schema missing)."""


class SchemaOutOfDate(StoreError):
    """The database is not at the migration revision this code expects (``xgate db upgrade``)."""


class ValueOutOfRange(StoreError):
    """An integer that does not fit its column (``field`` names it)."""


class NotFound(StoreError):
    """No record with that key (``what`` says which kind)."""


class CheckpointMoved(RetryableError):
    """The stored checkpoint is not the one the scan started from: another watcher advanced it.
    Nothing was written; read the checkpoint again."""


class InvalidCheckpoint(StoreError):
    """A scan that moves the checkpoint backwards or records messages outside its range."""


class LeaseLost(FatalError):
    """The caller no longer holds the message's lease: another owner took it over. Fatal for this
    attempt only: the caller must drop the message, the new owner carries on."""


class ConflictingSignature(FatalError):
    """The attester already signed a different header at this height. Nothing was written; signing
    this one would be equivocation."""


class TxConflict(StoreError):
    """A transaction attempt that does not fit the recorded nonce (other purpose, already mined)."""


class SwapConflict(StoreError):
    """A swap id already recorded with other terms."""


class HashlockInUse(StoreError):
    """Another swap (``existing``, any state) already uses the hashlock: one secret must never
    open two swaps' locks."""

    existing: Swap


class SwapStateMoved(RetryableError):
    """A swap's state is not the expected one: another worker changed it. Re-read it."""


class TrackingConflict(StoreError):
    """A tracking id already recorded for something else."""


class NotDeadLettered(StoreError):
    """A webhook delivery that is not dead-lettered cannot be replayed (``state`` says what it
    is)."""


class CreditReportConflict(StoreError):
    """An attestation already recorded with another credit report."""
