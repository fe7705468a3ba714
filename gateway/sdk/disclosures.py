"""A holder's disclosure of a private copy's terms, built and checked on the client: the salt
never goes to the gateway (docs/api.md §10).

The holder reads the home receivable (its terms, its contract) and the public copy (its
commitment) through the API, builds the ``Disclosure`` with the salt it kept from the lock,
checks it against the copy's commitment here, and seals it to the recipient's X25519 key
(``gateway.domain.disclosure``: one definition of the bytes, the commitment and the box). The
recipient opens the box and checks it the same way against the copy it reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.errors import FatalError
from adapters.types import Hash32
from gateway.api.receivable_models import ReceivableView
from gateway.domain.disclosure import Disclosure, DisclosureMismatch, check_disclosure

__all__ = [
    "DisclosureRefused",
    "OpenedDisclosure",
    "check_against_copy",
    "disclosure_of",
    "public_chain_of",
]


class DisclosureRefused(FatalError):
    """A disclosure that would not hold (``reason``), or a token that cannot be disclosed."""


@dataclass(frozen=True, slots=True)
class OpenedDisclosure:
    """A disclosure opened by its recipient and checked against the copy on ``chain_id``:
    ``reason`` is None when it holds."""

    disclosure: Disclosure
    chain_id: int
    commitment: Hash32 | None
    reason: DisclosureMismatch | None

    @property
    def valid(self) -> bool:
        return self.reason is None


def disclosure_of(home: ReceivableView, salt: bytes) -> Disclosure:
    """The disclosure of the home receivable ``home`` (``GET /v1/receivables/{hub}/{id}``)
    with ``salt`` (``DisclosureInvalid`` for a zero or short salt)."""
    if home.home is None:
        raise DisclosureRefused("not a home receivable (read it on the hub chain)")
    if home.home.terms is None:
        raise DisclosureRefused("the receivable has no owner, so no terms to disclose")
    return Disclosure(
        home.chain_id, home.contract, home.token_id, home.home.terms.financing(), Hash32(salt)
    )


def public_chain_of(home: ReceivableView, chain_id: int | None) -> int:
    """The public chain whose copy a disclosure of ``home`` is checked against: ``chain_id``
    when given, else the chain the vault holds the home receivable for."""
    if chain_id is not None:
        return int(chain_id)
    locked = None if home.home is None else home.home.locked_to_chain_id
    if locked is None:
        raise DisclosureRefused(
            f"receivable {home.token_id} is not bridged out: name the public chain"
        )
    return locked


def check_against_copy(d: Disclosure, copy: ReceivableView) -> DisclosureMismatch | None:
    """Whether ``d`` holds for the public copy ``copy`` (``GET /v1/receivables/{public}/{id}``):
    None when it does, else why not (``check_disclosure``)."""
    if copy.wrapped is None:
        raise DisclosureRefused("not a public copy (read it on a public chain)")
    w = copy.wrapped
    return check_disclosure(
        d,
        home_chain_id=w.home_chain_id,
        receivable=w.home_receivable,
        token_id=copy.token_id,
        commitment=w.commitment,
    )
