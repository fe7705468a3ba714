"""Receivables as the API shows them: the contracts' ``Financing`` as the domain's ``Financing``
and the home ``Receivable``'s lifecycle states by name (``Receivable.State``).

Pure and synchronous (style rule 4)."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from adapters.types import Address, Hash32
from gateway.domain.payloads import Financing

__all__ = ["ReceivableState", "financing_of", "state_of"]


class ReceivableState(StrEnum):
    """``Receivable.State`` by name (``None``, 0, is never shown: the token is unknown)."""

    DRAFTED = "drafted"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"
    DISPUTED = "disputed"
    SETTLED = "settled"
    DEFAULTED = "defaulted"
    SPLIT = "split"


_STATES = tuple(ReceivableState)


class FinancingFields(Protocol):
    """``Financing`` as a contract returns it (``adapters.contracts.FinancingTerms``)."""

    @property
    def debtor(self) -> Address: ...
    @property
    def creditor(self) -> Address: ...
    @property
    def face_value(self) -> int: ...
    @property
    def currency(self) -> bytes: ...
    @property
    def due_date(self) -> int: ...
    @property
    def document_hash(self) -> Hash32: ...


def state_of(number: int) -> ReceivableState:
    """The state numbered ``number`` by the contract (1 Drafted .. 7 Split)."""
    if not 1 <= number <= len(_STATES):
        raise ValueError(f"not a Receivable state: {number}")
    return _STATES[number - 1]


def financing_of(terms: FinancingFields) -> Financing:
    """The contracts' terms (``currency`` the raw ``bytes3``) as the domain's ``Financing``
    (``PayloadInvalid`` when they are not: a currency that is not ASCII)."""
    return Financing(
        debtor=terms.debtor,
        creditor=terms.creditor,
        face_value=terms.face_value,
        currency=terms.currency.rstrip(b"\0").decode("ascii", errors="replace"),
        due_date=terms.due_date,
        document_hash=terms.document_hash,
    )
