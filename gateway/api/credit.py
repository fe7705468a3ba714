"""Credit attestations (docs/api.md "Credit attestations"): issue with a sealed report, publish,
revoke, read by subject on every chain, and fetch one reader's sealed report.

Operations:

- ``POST /v1/credit/attestations`` (issuer, signed): seals the report to each reader key the
  subject chose (``gateway.domain.credit_reports``), stores the boxes, and answers the
  unsigned ``CreditRegistry.attest`` transaction for the issuer's wallet (its gas estimated
  from the issuer's account, so a transaction that would revert is refused here with its
  reason) followed by one ``publish(subject, chainId)`` per mirror chain (their gas is null:
  they can only be estimated once the attestation is mined);
- ``POST /v1/credit/{subject}/publication`` (issuer, signed): ``publish`` transactions of the
  subject's current state (an attestation, or a revocation a route refused);
- ``POST /v1/credit/{subject}/revocation`` (issuer, signed): the unsigned ``revoke``, which
  itself sends the revocation to every chain of the registry's ``mirrorChains``;
- ``GET /v1/credit/{subject}`` (read): the registry's attestation and each configured mirror's
  copy, read at one block per chain, with whether the mirror holds the registry's version;
- ``GET /v1/credit/{subject}/report?reader=`` (read): the box sealed to that reader of the
  report behind the subject's current attestation, with the ``reportHash`` read on chain.

The gateway holds no issuer key: the issuer signs and sends. A key with a ``chain_account``
acts as that account only: the issue's ``issuer`` and the ``sender`` of publish and revoke must
be it (403 ``issuer-account-mismatch``); an issuer key without one (made before keys had it) is
refused (403 ``issuer-account-unbound``); an operator key without one is not bound. Nothing is
stored when a request is refused: the inputs are checked, then the chain (the estimate), and the boxes are stored
last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from eth_utils.address import to_canonical_address, to_checksum_address

from adapters.base import TxRequest
from adapters.contracts import ContractHandle
from adapters.errors import RetryableError, TransactionFailed
from adapters.evm import EvmAdapter
from adapters.types import Address, ChainId, Finality, Hash32
from contracts import Artifact, load_artifact
from gateway.api.auth import caller_key
from gateway.api.chains import ChainAccess, chains_of
from gateway.api.credit_models import (
    AttestationIssued,
    AttestationRequest,
    ChainCredit,
    CreditReportRef,
    CreditState,
    CreditStatus,
    CreditTransactions,
    CreditView,
    PublicationRequest,
    ReaderQuery,
    RevocationRequest,
    SealedReportAnswer,
    SubjectPath,
)
from gateway.api.keys import CONFIG_KEY, STORE_KEY
from gateway.api.models import (
    NoBody,
    NoParams,
    UnsignedTx,
)
from gateway.api.problems import FieldError, Problem, invalid_request
from gateway.api.spec import Api, Call, Scope
from gateway.config import XgateConfig
from gateway.domain.apikeys import ACCOUNT_SCOPES
from gateway.domain.credit_reports import (
    ReaderKey,
    ReaderKeyInvalid,
    ReportInvalid,
    attestation_id,
    canonical_report,
    grade_bytes,
    grade_text,
    seal_report,
)
from gateway.domain.status import CreditReport
from gateway.store import CreditReportConflict, Store

__all__ = ["add_credit_operations"]


_ZERO = bytes(20)
_STATUSES = (CreditStatus.NONE, CreditStatus.VALID, CreditStatus.EXPIRED, CreditStatus.REVOKED)


# --- operations --------------------------------------------------------------------------------


def add_credit_operations(api: Api) -> None:
    """Declare the credit operations on ``api``."""
    api.add(
        "POST",
        "/v1/credit/attestations",
        issue_attestation,
        summary="Issue a credit attestation: store its sealed report, build attest and publish",
        scope=Scope.ISSUER,
        path_params=NoParams,
        query=NoParams,
        body=AttestationRequest,
        response=AttestationIssued,
        status=201,
        problems=[404, 409, 422],
        tags=["credit"],
    )
    api.add(
        "GET",
        "/v1/credit/{subject}",
        get_credit,
        summary="A subject's credit on the registry and on every mirror",
        scope=Scope.READ,
        path_params=SubjectPath,
        query=NoParams,
        body=NoBody,
        response=CreditView,
        tags=["credit"],
    )
    api.add(
        "GET",
        "/v1/credit/{subject}/report",
        get_sealed_report,
        summary="The current attestation's report, sealed to one reader",
        scope=Scope.READ,
        path_params=SubjectPath,
        query=ReaderQuery,
        body=NoBody,
        response=SealedReportAnswer,
        problems=[404],
        tags=["credit"],
    )
    api.add(
        "POST",
        "/v1/credit/{subject}/publication",
        publish_credit,
        summary="Build publish transactions of a subject's current credit to mirror chains",
        scope=Scope.ISSUER,
        path_params=SubjectPath,
        query=NoParams,
        body=PublicationRequest,
        response=CreditTransactions,
        problems=[404, 409, 422],
        tags=["credit"],
    )
    api.add(
        "POST",
        "/v1/credit/{subject}/revocation",
        revoke_credit,
        summary="Build the revoke transaction of a subject's current attestation",
        scope=Scope.ISSUER,
        path_params=SubjectPath,
        query=NoParams,
        body=RevocationRequest,
        response=CreditTransactions,
        problems=[409, 422],
        tags=["credit"],
    )


# --- the caller's account ----------------------------------------------------------------------


def _check_account(request: web.Request, account: Address, field: str) -> None:
    """Refuse (403) a request whose account (``field``) is not the one the calling key acts
    as: a key's ``chain_account`` binds it; an issuer key without one is refused until the
    operator makes it a bound key; an operator key without one is not bound."""
    key = caller_key(request)
    bound = key.chain_account
    if bound is None:
        if key.scopes & ACCOUNT_SCOPES:
            raise Problem(
                403,
                "issuer-account-unbound",
                "The API key is bound to no account",
                f"API key {key.key_id} has no chain account (it was made before issuer keys "
                "had one): the operator creates an issuer key with its chain_account "
                "(xgate keys create --chain-account, POST /v1/operator/keys) and revokes "
                "this one",
            )
        return
    if bytes(bound) != bytes(account):
        raise Problem(
            403,
            "issuer-account-mismatch",
            "The account is not the API key's",
            f"{field} must be this API key's chain account "
            f"{to_checksum_address(bound)}; a key acts as its own account only",
        )


# --- the contracts -----------------------------------------------------------------------------


def _registry_address(config: XgateConfig) -> tuple[str, Address]:
    hub = config.hub
    address = config.chains[hub].contracts.credit_registry
    if address is None:
        raise Problem(
            503,
            "credit-not-configured",
            "No credit registry",
            f"this gateway's configuration names no credit registry on chain {hub}",
        )
    return hub, Address(to_canonical_address(address))


def _mirrors(config: XgateConfig) -> list[tuple[str, ChainId, Address]]:
    out = []
    for name, chain in config.chains.items():
        mirror = chain.contracts.credit_mirror
        if chain.kind == "evm" and mirror is not None:
            out.append((name, ChainId(chain.chain_id), Address(to_canonical_address(mirror))))
    return out


async def _registry(request: web.Request) -> tuple[ContractHandle, ChainId, ChainAccess]:
    """The consortium's CreditRegistry, its chain id, and the chain access."""
    config = request.app[CONFIG_KEY]
    hub, address = _registry_address(config)
    chains = chains_of(request)
    handle = await chains.get(config.chains[hub].chain_id)
    registry = ContractHandle(handle.adapter, address, _artifact("CreditRegistry"))
    return registry, handle.chain_id, chains


_ARTIFACTS: dict[str, Artifact] = {}


def _artifact(name: str) -> Artifact:
    found = _ARTIFACTS.get(name)
    if found is None:
        found = _ARTIFACTS[name] = load_artifact(name)
    return found


def _no_mirror(chain_id: int, why: str) -> Problem:
    return Problem(
        422,
        "no-credit-mirror",
        "No credit mirror on the chain",
        f"chain {chain_id} cannot take credit attestations: {why}",
    )


async def _publish_targets(
    registry: ContractHandle, config: XgateConfig, wanted: list[ChainId] | None
) -> list[ChainId]:
    """The chains to publish to: ``wanted`` or every configured mirror chain, each checked to
    have a mirror configured and registered with the registry (``remoteOf``)."""
    configured = {chain_id for _, chain_id, _ in _mirrors(config)}
    targets = sorted(configured) if wanted is None else list(wanted)
    for chain_id in targets:
        if chain_id not in configured:
            raise _no_mirror(chain_id, "no credit mirror is configured there")
        remote = await registry.view("remoteOf", chain_id, finality=Finality.latest())
        if to_canonical_address(remote) == _ZERO:
            raise _no_mirror(chain_id, "the registry has no mirror registered for it (remoteOf)")
    return targets


# What a reverting estimate means for the caller (the registry's errors, AccessControl's).
_REVERTS: dict[str, tuple[int, str, str]] = {
    "AccessControlUnauthorizedAccount": (
        422,
        "issuer-role-missing",
        "The account does not hold the registry's ISSUER_ROLE",
    ),
    "NotAttestationIssuer": (
        409,
        "not-attestation-issuer",
        "The attestation is another issuer's",
    ),
    "InvalidValidity": (
        422,
        "validity-passed",
        "valid_until is not after the consortium chain's latest block",
    ),
    "NoAttestation": (409, "credit-not-attested", "The subject has no attestation"),
    "AlreadyRevoked": (409, "credit-already-revoked", "The attestation is already revoked"),
    "NotPublisher": (
        422,
        "not-a-publisher",
        "The account holds neither ISSUER_ROLE nor PUBLISHER_ROLE",
    ),
    "NoRemote": (422, "no-credit-mirror", "No credit mirror on the chain"),
}


async def _estimate(adapter: EvmAdapter, tx: TxRequest, sender: Address, what: str) -> int:
    """The transaction's gas from ``sender``; its revert as the problem it means."""
    try:
        return await adapter.estimate_gas(tx, sender)
    except TransactionFailed as exc:
        decoded = exc.context.get("decoded")
        name = getattr(decoded, "name", None)
        known = _REVERTS.get(name) if isinstance(name, str) else None
        if known is not None:
            status, slug, title = known
            raise Problem(status, slug, title, f"{what} would revert with {name}: {title}") from exc
        reason = name or "an undecoded revert"
        raise Problem(
            422,
            "transaction-would-fail",
            "The transaction would fail",
            f"{what} would revert ({reason})",
        ) from exc


def _unsigned(
    chain_id: ChainId, sender: Address, tx: TxRequest, gas: int | None, description: str
) -> UnsignedTx:
    assert tx.to is not None
    return UnsignedTx(
        chain_id=chain_id,
        sender=sender,
        to=tx.to,
        data=tx.data,
        value=tx.value,
        gas=gas,
        description=description,
    )


def _publish_tx(
    registry: ContractHandle,
    hub_id: ChainId,
    sender: Address,
    subject: Address,
    chain_id: ChainId,
    gas: int | None,
) -> UnsignedTx:
    return _unsigned(
        hub_id,
        sender,
        registry.request("publish", subject, chain_id),
        gas,
        f"publish the subject's current credit to the mirror on chain {chain_id}",
    )


# --- issue ---------------------------------------------------------------------------------------


async def issue_attestation(
    call: Call[NoParams, NoParams, AttestationRequest],
) -> AttestationIssued:
    """Seal the report to each reader, check the ``attest`` transaction against the registry
    (the issuer's role, a live attestation of another issuer, the validity), store the boxes
    and answer the transactions. The same request again answers the same (the boxes first
    stored are kept); the same attestation fields with other readers is 409."""
    body = call.body
    _check_account(call.request, body.issuer, "body.issuer")
    config = call.request.app[CONFIG_KEY]
    canonical = canonical_report(body.report)
    try:
        sealed = seal_report(canonical, body.readers)
    except ReaderKeyInvalid as exc:
        index = exc.context.get("index")
        where = "body.readers" if index is None else f"body.readers[{index}]"
        raise invalid_request([FieldError(where, exc.message)]) from exc
    registry, hub_id, _ = await _registry(call.request)
    grade = grade_bytes(body.grade)
    valid_until = int(body.valid_until.timestamp())
    targets = await _publish_targets(registry, config, body.publish_to)
    attest = registry.request(
        "attest", body.subject, body.score, grade, valid_until, sealed.report_sha256
    )
    gas = await _estimate(registry.adapter, attest, body.issuer, "attest")
    att_id = attestation_id(
        chain_id=hub_id,
        registry=registry.address,
        subject=body.subject,
        issuer=body.issuer,
        score=body.score,
        grade=grade,
        valid_until=valid_until,
        report_hash=sealed.report_sha256,
    )
    stored = await _store_report(
        call.request.app[STORE_KEY],
        att_id,
        body.subject,
        body.issuer,
        sealed.report_sha256,
        sealed.sealed,
    )
    transactions = [
        _unsigned(
            hub_id,
            body.issuer,
            attest,
            gas,
            f"attest the subject's credit: score {body.score}, grade {body.grade!r}",
        ),
        *(
            _publish_tx(registry, hub_id, body.issuer, body.subject, chain_id, None)
            for chain_id in targets
        ),
    ]
    return AttestationIssued(
        attestation_id=att_id,
        subject=body.subject,
        issuer=body.issuer,
        report_hash=stored.report_sha256,
        readers=[ReaderKey(k) for k in stored.sealed],
        registry=registry.address,
        transactions=transactions,
    )


async def _store_report(
    store: Store,
    att_id: Hash32,
    subject: Address,
    issuer: Address,
    report_sha256: Hash32,
    sealed: Mapping[ReaderKey, bytes],
) -> CreditReport:
    """Keep the boxes of ``att_id`` (the store appends the ``issued`` credit event); the same
    attestation again keeps the boxes first stored (boxes are random: sealing again makes
    others) when they are sealed to the same readers."""
    known = await store.credit_report(att_id)
    if known is None:
        try:
            boxes: dict[bytes, bytes] = {bytes(k): v for k, v in sealed.items()}
            return await store.put_credit_report(
                att_id, subject, report_sha256, boxes, issuer=issuer
            )
        except CreditReportConflict:
            known = await store.credit_report(att_id)  # stored meanwhile by another request
    if known is None or set(known.sealed) != set(sealed):
        raise Problem(
            409,
            "credit-report-conflict",
            "The attestation's report is sealed to other readers",
            f"attestation 0x{att_id.hex()} has its report stored for another set of readers; "
            "change a field (e.g. valid_until) to issue another attestation",
        )
    return known


# --- publish and revoke ------------------------------------------------------------------------


async def publish_credit(
    call: Call[SubjectPath, NoParams, PublicationRequest],
) -> CreditTransactions:
    """``publish`` transactions of the subject's current state (its attestation, or its
    revocation when a route refused the fan-out), one per chain, each estimated from
    ``sender``."""
    config = call.request.app[CONFIG_KEY]
    subject, sender = call.path.subject, call.body.sender
    _check_account(call.request, sender, "body.sender")
    registry, hub_id, _ = await _registry(call.request)
    targets = await _publish_targets(registry, config, call.body.chain_ids)
    transactions = []
    for chain_id in targets:
        publish = registry.request("publish", subject, chain_id)
        gas = await _estimate(registry.adapter, publish, sender, f"publish to chain {chain_id}")
        transactions.append(_publish_tx(registry, hub_id, sender, subject, chain_id, gas))
    return CreditTransactions(subject=subject, transactions=transactions)


async def revoke_credit(
    call: Call[SubjectPath, NoParams, RevocationRequest],
) -> CreditTransactions:
    """The ``revoke`` transaction, estimated from ``sender`` (the attestation's issuer or the
    registry's admin); mining it sends the revocation to every chain of the registry's
    ``mirrorChains``."""
    subject, sender = call.path.subject, call.body.sender
    _check_account(call.request, sender, "body.sender")
    registry, hub_id, _ = await _registry(call.request)
    revoke = registry.request("revoke", subject)
    gas = await _estimate(registry.adapter, revoke, sender, "revoke")
    tx = _unsigned(
        hub_id,
        sender,
        revoke,
        gas,
        "revoke the subject's credit attestation (sent on to every mirror chain)",
    )
    return CreditTransactions(subject=subject, transactions=[tx])


# --- read ----------------------------------------------------------------------------------------


async def _state(adapter: EvmAdapter, address: Address, subject: Address) -> CreditState:
    """``attestationOf`` and ``creditOf`` of ``subject`` at the chain's latest block (one
    block for both)."""
    artifact = _artifact("CreditRegistry")  # CreditMirror answers the same ICreditSource
    height = await adapter.height(Finality.latest())

    async def view(function: str) -> tuple[Any, ...]:
        raw = await adapter.call(address, artifact.call_data(function, subject), height=height)
        return artifact.decode_result(function, raw)

    ((score, version, issued_at, valid_until, revoked, issuer, grade, report_hash),) = await view(
        "attestationOf"
    )
    status = _STATUSES[int((await view("creditOf"))[4])]
    attested = int(version) > 0
    issuer_raw = to_canonical_address(issuer)
    return CreditState(
        status=status,
        version=int(version),
        score=int(score),
        grade=grade_text(bytes(grade)),
        issuer=None if issuer_raw == _ZERO else Address(issuer_raw),
        issued_at=_time(int(issued_at)) if attested and int(issued_at) else None,
        valid_until=_time(int(valid_until)) if attested and int(valid_until) else None,
        revoked=bool(revoked),
        report_hash=None if bytes(report_hash) == bytes(32) else Hash32(bytes(report_hash)),
        block=int(height),
    )


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def _mirror_credit(
    chains: ChainAccess,
    name: str,
    chain_id: ChainId,
    address: Address,
    subject: Address,
    registry: CreditState,
) -> ChainCredit:
    """One mirror's copy; a chain that does not answer is shown so, not failing the read."""
    try:
        handle = await chains.get(chain_id)
        state = await _state(handle.adapter, address, subject)
    except Problem as exc:  # the chain's adapter did not start
        detail = exc.detail
    except RetryableError as exc:
        detail = f"chain {name} did not answer ({type(exc).__name__}); retry later"
    else:
        in_sync = state.version == registry.version
        return ChainCredit(
            chain_id=chain_id, chain=name, contract=address, state=state, in_sync=in_sync
        )
    return ChainCredit(
        chain_id=chain_id, chain=name, contract=address, state=None, in_sync=None, detail=detail
    )


async def get_credit(call: Call[SubjectPath, NoParams, NoBody]) -> CreditView:
    """The registry's attestation of the subject and each configured mirror's copy (a subject
    never attested has status ``none``). A mirror is ``in_sync`` when it holds the registry's
    current version; a mirror chain that does not answer is listed with ``state`` null."""
    config = call.request.app[CONFIG_KEY]
    subject = call.path.subject
    registry, hub_id, chains = await _registry(call.request)
    state = await _state(registry.adapter, registry.address, subject)
    mirrors = await asyncio.gather(
        *(
            _mirror_credit(chains, name, chain_id, address, subject, state)
            for name, chain_id, address in _mirrors(config)
        )
    )
    report = await _current_report(call.request.app[STORE_KEY], registry, hub_id, subject, state)
    return CreditView(
        subject=subject,
        registry=ChainCredit(
            chain_id=hub_id,
            chain=config.hub,
            contract=registry.address,
            state=state,
            in_sync=True,
        ),
        mirrors=list(mirrors),
        report=None
        if report is None
        else CreditReportRef(
            attestation_id=report.attestation_id,
            report_hash=report.report_sha256,
            readers=len(report.sealed),
            created_at=report.created_at,
        ),
    )


async def _current_report(
    store: Store, registry: ContractHandle, hub_id: ChainId, subject: Address, state: CreditState
) -> CreditReport | None:
    """The stored report of the registry's current attestation: its attestation id computed
    from the attested fields (so only the report issued with exactly these fields, hash and
    issuer is served, never a look-alike stored under other fields)."""
    if state.report_hash is None or state.issuer is None or state.valid_until is None:
        return None
    try:
        grade = grade_bytes(state.grade)
    except ReportInvalid:
        return None
    att_id = attestation_id(
        chain_id=hub_id,
        registry=registry.address,
        subject=subject,
        issuer=state.issuer,
        score=state.score,
        grade=grade,
        valid_until=int(state.valid_until.timestamp()),
        report_hash=state.report_hash,
    )
    return await store.credit_report(att_id)


async def get_sealed_report(call: Call[SubjectPath, ReaderQuery, NoBody]) -> SealedReportAnswer:
    """The box sealed to ``reader`` of the report behind the subject's current attestation
    (a revoked or expired one's too: its status says so), with the registry's ``reportHash``
    read on chain now. 404 when the subject has no attestation, no report of it is stored
    here, or the report is not sealed to this reader."""
    subject, reader = call.path.subject, call.query.reader
    registry, hub_id, _ = await _registry(call.request)
    state = await _state(registry.adapter, registry.address, subject)
    if state.report_hash is None:
        raise Problem(
            404,
            "credit-not-found",
            "No attestation",
            "the subject has no attestation on the registry",
        )
    report = await _current_report(call.request.app[STORE_KEY], registry, hub_id, subject, state)
    if report is None:
        raise Problem(
            404,
            "credit-report-not-found",
            "No report stored",
            "the current attestation's report was not issued through this gateway",
        )
    box = report.sealed.get(reader)
    if box is None:
        raise Problem(
            404,
            "reader-not-found",
            "Not a reader of the report",
            "the report is not sealed to this reader key",
        )
    return SealedReportAnswer(
        subject=subject,
        attestation_id=report.attestation_id,
        reader=reader,
        sealed=box,
        report_hash=state.report_hash,
        version=state.version,
        status=state.status,
    )
