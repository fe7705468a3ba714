"""Receivables by token id (docs/api.md §10), read scope, nothing stored:

- ``GET /v1/receivables/{chain_id}/{token_id}``: on the hub chain the home ``Receivable``
  (owner, terms, lifecycle state, paid and outstanding, days past due, parent, financing
  records, and the chain the vault holds it for when bridged out); on a public chain the
  ``WrappedReceivable`` copy (owner, private or not, its terms or its commitment,
  ``paymentOf``). Every value read at the chain's latest block, one block per answer
  (``adapters.contracts.ReceivableStateView`` / ``WrappedReceivableView``).
- ``POST /v1/receivables/{chain_id}/{token_id}/disclosures/verify``: a holder's disclosure of
  a private copy's terms (the canonical bytes, or terms and salt) checked against the
  ``commitmentOf`` read on that public chain (``gateway.domain.disclosure.check_disclosure``):
  ``{valid, commitment, reason}``; a disclosure of another token or home is not valid, not an
  error.

404s: ``unknown-chain`` (no configured chain has the id), ``receivables-not-configured`` (the
chain has no receivable contract in this gateway's configuration: a public chain's
``wrapped_receivable``, the hub's ``receivable``; the hub carries no commitments to verify),
``receivable-not-found`` (the contract never had the token, or a copy is not on that chain).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.contracts import (
    FinancingTerms,
    HomeReceivable,
    ReceivableStateView,
    WrappedCopy,
    WrappedReceivableView,
)
from adapters.types import Address
from gateway.api.chains import ChainHandle, chains_of
from gateway.api.keys import CONFIG_KEY
from gateway.api.models import NoBody, NoParams
from gateway.api.problems import Problem
from gateway.api.receivable_models import (
    DisclosureVerdict,
    DisclosureVerifyRequest,
    FinancingRecordItem,
    HomeReceivableState,
    ReceivablePath,
    ReceivableTerms,
    ReceivableView,
    WrappedReceivableState,
    utc,
)
from gateway.api.spec import Api, Call, Scope
from gateway.config import XgateConfig
from gateway.domain.disclosure import Disclosure, DisclosureMismatch, check_disclosure
from gateway.domain.receivables import financing_of, state_of

__all__ = ["add_receivable_operations"]

_DETAILS = {
    DisclosureMismatch.NOT_PRIVATE: "the copy carries its terms in full: there is no commitment "
    "to disclose",
    DisclosureMismatch.OTHER_HOME: "the disclosure names another home chain or home receivable "
    "than the copy's",
    DisclosureMismatch.OTHER_TOKEN: "the disclosure is of another token id",
    DisclosureMismatch.COMMITMENT_MISMATCH: "the terms and salt are not what the copy's "
    "commitment binds",
}


def add_receivable_operations(api: Api) -> None:
    """Declare the receivable operations on ``api``."""
    api.add(
        "GET",
        "/v1/receivables/{chain_id}/{token_id}",
        get_receivable,
        summary="A receivable on one chain: the home token's lifecycle, or a public copy",
        scope=Scope.READ,
        path_params=ReceivablePath,
        query=NoParams,
        body=NoBody,
        response=ReceivableView,
        problems=[404],
        tags=["receivables"],
    )
    api.add(
        "POST",
        "/v1/receivables/{chain_id}/{token_id}/disclosures/verify",
        verify_disclosure,
        summary="Check a disclosure of a private copy's terms against its on-chain commitment",
        scope=Scope.READ,
        path_params=ReceivablePath,
        query=NoParams,
        body=DisclosureVerifyRequest,
        response=DisclosureVerdict,
        problems=[404],
        tags=["receivables"],
    )


# --- where ---------------------------------------------------------------------------------------


def _not_configured(name: str, contract: str) -> Problem:
    return Problem(
        404,
        "receivables-not-configured",
        "No receivables on the chain",
        f"this gateway's configuration names no {contract} on chain {name}",
    )


def _not_found(chain_id: int, token_id: int, where: str) -> Problem:
    return Problem(
        404,
        "receivable-not-found",
        "Receivable not found",
        f"token {token_id} is not {where} on chain {chain_id}",
    )


async def _chain(call: Call[ReceivablePath, NoParams, Any]) -> tuple[XgateConfig, ChainHandle]:
    chains = chains_of(call.request)
    chains.name_of(call.path.chain_id)  # 404 unknown-chain before any node is asked
    return call.request.app[CONFIG_KEY], await chains.get(call.path.chain_id)


async def _copy(
    config: XgateConfig, handle: ChainHandle, token_id: int
) -> tuple[Address, WrappedCopy]:
    """The public chain's ``WrappedReceivable`` and its copy of ``token_id`` (404s)."""
    address = handle.config.contracts.wrapped_receivable
    if handle.name == config.hub or address is None:
        raise _not_configured(handle.name, "wrapped_receivable")
    copy = await WrappedReceivableView(handle.adapter, address).read(token_id)
    if copy is None:
        raise _not_found(handle.chain_id, token_id, "a wrapped receivable (here now)")
    return address, copy


# --- GET /v1/receivables/{chain_id}/{token_id} -------------------------------------------------


async def get_receivable(call: Call[ReceivablePath, NoParams, NoBody]) -> ReceivableView:
    """The token on the hub chain (the home ``Receivable``) or on a public chain (its copy)."""
    config, handle = await _chain(call)
    token_id = call.path.token_id
    home: HomeReceivable | None = None
    wrapped: WrappedCopy | None = None
    if handle.name == config.hub:
        contracts = handle.config.contracts
        address = contracts.receivable
        if address is None:
            raise _not_configured(handle.name, "receivable")
        view = ReceivableStateView(handle.adapter, address, contracts.vault)
        home = await view.read(token_id)
        if home is None:
            raise _not_found(handle.chain_id, token_id, "a receivable")
        owner, block = home.owner, home.block
    else:
        address, wrapped = await _copy(config, handle, token_id)
        owner, block = wrapped.owner, wrapped.block
    return ReceivableView(
        chain_id=handle.chain_id,
        chain=handle.name,
        token_id=token_id,
        kind="home" if home is not None else "wrapped",
        contract=address,
        owner=owner,
        block=int(block),
        home=None if home is None else _home_state(home),
        wrapped=None if wrapped is None else _wrapped_state(wrapped),
    )


def _terms(terms: FinancingTerms | None) -> ReceivableTerms | None:
    return None if terms is None else ReceivableTerms.of(financing_of(terms))


def _home_state(r: HomeReceivable) -> HomeReceivableState:
    s = r.status
    return HomeReceivableState(
        terms=_terms(r.terms),
        state=state_of(s.state),
        paid=s.paid,
        outstanding=s.outstanding,
        days_past_due=s.days_past_due,
        parent_id=s.parent_id or None,
        drafted_at=utc(s.drafted_at),
        acknowledged_at=utc(s.acknowledged_at),
        closed_at=utc(s.closed_at),
        dispute_reason=s.dispute_reason if any(s.dispute_reason) else None,
        financing=[
            FinancingRecordItem(
                financier=f.financier,
                advance=f.advance,
                discount_bps=f.discount_bps,
                at=datetime.fromtimestamp(f.at, UTC),
            )
            for f in r.records
        ],
        locked_to_chain_id=r.locked_to,
    )


def _wrapped_state(c: WrappedCopy) -> WrappedReceivableState:
    return WrappedReceivableState(
        home_chain_id=c.home_chain_id,
        home_receivable=c.home_token,
        private=c.private,
        terms=_terms(c.terms),
        commitment=c.commitment,
        paid=c.paid,
        settled=c.settled,
    )


# --- POST /v1/receivables/{chain_id}/{token_id}/disclosures/verify -----------------------------


async def verify_disclosure(
    call: Call[ReceivablePath, NoParams, DisclosureVerifyRequest],
) -> DisclosureVerdict:
    """The disclosure checked against the copy's ``commitmentOf`` at the chain's latest block.
    Given as terms and salt, it is the disclosure of this token of the copy's own home."""
    config, handle = await _chain(call)
    token_id = call.path.token_id
    address, copy = await _copy(config, handle, token_id)
    body = call.body
    if body.disclosure is not None:
        disclosure = body.disclosure
    else:
        assert body.terms is not None and body.salt is not None  # the model requires them
        disclosure = Disclosure(
            copy.home_chain_id, copy.home_token, token_id, body.terms.financing(), body.salt
        )
    reason = check_disclosure(
        disclosure,
        home_chain_id=copy.home_chain_id,
        receivable=copy.home_token,
        token_id=token_id,
        commitment=copy.commitment,
    )
    return DisclosureVerdict(
        chain_id=handle.chain_id,
        token_id=token_id,
        contract=address,
        valid=reason is None,
        commitment=copy.commitment,
        reason=reason,
        detail=None if reason is None else _DETAILS[reason],
        block=int(copy.block),
    )
