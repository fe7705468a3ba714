"""End to end through the gateway API: an issuer issues a credit attestation with a sealed
report (``POST /v1/credit/attestations``), signs and sends the transactions the API built
(its wallet: the devnet's issuer key), the relay services carry the publication to the public
mirror, each reader fetches its box and opens it against the on-chain ``reportHash``, and the
revocation built by the API reaches the mirror the same way. Refusals that only the chain can
tell (no issuer role, not the attestation's issuer, already revoked) are specific problems
and store nothing.

Shares the e2e folder's devnet and ``xgate run`` (tests/e2e/conftest.py); the API runs in
process on the services' store, with read access to both chains.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from nacl.public import PrivateKey

from adapters.registry import build_adapter
from adapters.types import Address
from gateway.api.app import create_app
from gateway.api.chains import ChainAccess
from gateway.api.v1 import v1_api
from gateway.domain.apikeys import Scope
from gateway.domain.credit_reports import canonical_report, open_report
from gateway.store import Store
from harness.services import ServiceProcess
from tests.api.conftest import ApiClient, Caller, create_caller
from tests.e2e.conftest import Devnet, wait_delivered

PROBLEMS = "https://xgate.dev/problems/"
ISSUER = 0  # the dev deployment's issuer (ISSUER_ROLE)
USER = 7  # holds no role
YEAR = 365 * 86400
REPORT = {
    "period": "FY2025",
    "revenue": "18250000.00",
    "ratios": {"current": 1.8, "debt_to_equity": 0.35},
    "notes": ["no arrears", "collateral: receivables pool"],
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
async def issuer_api(devnet: Devnet, services: ServiceProcess) -> AsyncIterator[ApiClient]:
    """The API on the services' store with read access to both chains; an issuer's key."""
    config = devnet.config
    store = await Store.open(config.store.url, migrate=False)
    chains = ChainAccess(config, lambda name, chain: build_adapter(chain.adapter_config(name)))
    api = v1_api()  # with add_credit_operations
    app = create_app(store, config, api=api, chains=chains, clock=_utcnow)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            document = await (await client.get("/openapi.json")).json()
            issuer = await create_caller(store, Scope.ISSUER, name="rating-member")
            yield ApiClient(client, document, caller=issuer, clock=_utcnow)
    finally:
        await chains.aclose()
        await store.close()


def _subject(tag: str) -> str:
    return to_checksum_address(keccak(text=f"credit api subject {tag}")[:20])


def _key_hex(key: PrivateKey) -> str:
    return "0x" + bytes(key.public_key).hex()


async def _send(devnet: Devnet, tx: dict[str, Any], sender: int) -> Any:
    """What the wallet does: sign the unsigned transaction with the sender's key and send it."""
    assert tx["sender"] == devnet.address(sender)
    assert tx["chain_id"] == devnet.cid and tx["value"] == "0"
    gas = None if tx["gas"] is None else int(tx["gas"])
    data = bytes.fromhex(tx["data"][2:])
    return await asyncio.to_thread(
        devnet.consortium.send_raw_tx, tx["to"], data, sender=sender, gas=gas
    )


async def _bound_to(devnet: Devnet, account: int) -> Caller:
    """An issuer key acting as the devnet's account ``account``."""
    store = await Store.open(devnet.config.store.url, migrate=False)
    try:
        address = to_canonical_address(devnet.address(account))
        return await create_caller(store, Scope.ISSUER, name="bound", chain_account=address)
    finally:
        await store.close()


async def _delivered(devnet: Devnet, services: ServiceProcess, receipt: Any) -> None:
    await asyncio.to_thread(wait_delivered, devnet, services, "c", receipt)


async def test_an_attestation_issued_through_the_api_reaches_the_mirror_and_its_readers(
    devnet: Devnet, services: ServiceProcess, issuer_api: ApiClient
) -> None:
    api, registry = issuer_api, devnet.contract("c.credit_registry")
    subject, issuer = _subject("sme-1"), devnet.address(ISSUER)
    alice, bob, mallory = PrivateKey.generate(), PrivateKey.generate(), PrivateKey.generate()
    valid_until = devnet.consortium.now() + YEAR
    body = {
        "subject": subject,
        "issuer": issuer,
        "score": 742,
        "grade": "AA-",
        "valid_until": datetime.fromtimestamp(valid_until, UTC).isoformat(),
        "report": REPORT,
        "readers": [_key_hex(alice), _key_hex(bob)],
    }
    issued = await api.request("POST", "/v1/credit/attestations", json=body)
    assert issued.status == 201, issued.body
    report_hash = hashlib.sha256(canonical_report(REPORT)).digest()
    assert issued.body["report_hash"] == "0x" + report_hash.hex()
    assert issued.body["registry"] == registry.address
    attest, publish = issued.body["transactions"]
    assert attest["to"] == publish["to"] == registry.address
    assert attest["gas"] is not None and publish["gas"] is None  # after attest is mined
    again = await api.request("POST", "/v1/credit/attestations", json=body)
    assert again.body == issued.body  # the boxes first stored are kept
    other_readers = await api.request(
        "POST", "/v1/credit/attestations", json={**body, "readers": [_key_hex(mallory)]}
    )
    assert other_readers.status == 409
    assert other_readers.body["type"] == PROBLEMS + "credit-report-conflict"

    await _send(devnet, attest, ISSUER)
    published = await _send(devnet, publish, ISSUER)
    on_chain = registry.functions.attestationOf(subject).call()
    assert (on_chain[0], on_chain[1], bytes(on_chain[7])) == (742, 1, report_hash)

    await _delivered(devnet, services, published)
    view = await api.get(f"/v1/credit/{subject}")
    assert view.status == 200, view.body
    state = view.body["registry"]["state"]
    assert (state["status"], state["version"], state["score"], state["grade"]) == (
        "valid", "1", 742, "AA-",
    )  # fmt: skip
    assert (state["issuer"], state["report_hash"]) == (issuer, "0x" + report_hash.hex())
    [mirror] = view.body["mirrors"]
    assert (mirror["chain_id"], mirror["contract"]) == (
        devnet.pid,
        devnet.contract("p.credit_mirror").address,
    )
    assert mirror["in_sync"] is True
    assert {k: v for k, v in mirror["state"].items() if k != "block"} == {
        k: v for k, v in state.items() if k != "block"
    }
    assert view.body["report"]["attestation_id"] == issued.body["attestation_id"]
    assert view.body["report"]["readers"] == 2

    for reader in (alice, bob):
        sealed = await api.get(f"/v1/credit/{subject}/report?reader={_key_hex(reader)}")
        assert sealed.status == 200, sealed.body
        on_chain_hash = bytes(registry.functions.attestationOf(subject).call()[7])
        assert sealed.body["report_hash"] == "0x" + on_chain_hash.hex()
        box = bytes.fromhex(sealed.body["sealed"][2:])
        assert open_report(box, bytes(reader), on_chain_hash) == REPORT
    stranger = await api.get(f"/v1/credit/{subject}/report?reader={_key_hex(mallory)}")
    assert (stranger.status, stranger.body["type"]) == (404, PROBLEMS + "reader-not-found")

    # Revoked through the API: the revoke itself sends it on to the mirror. The issuer's key
    # builds transactions for its own account only; another account's key, for its own.
    others = await api.request(
        "POST", f"/v1/credit/{subject}/revocation", json={"sender": devnet.address(USER)}
    )
    assert (others.status, others.body["type"]) == (403, PROBLEMS + "issuer-account-mismatch")
    not_issuer = await api.using(await _bound_to(devnet, USER)).request(
        "POST", f"/v1/credit/{subject}/revocation", json={"sender": devnet.address(USER)}
    )
    assert (not_issuer.status, not_issuer.body["type"]) == (
        409, PROBLEMS + "not-attestation-issuer",
    )  # fmt: skip
    revocation = await api.request(
        "POST", f"/v1/credit/{subject}/revocation", json={"sender": issuer}
    )
    assert revocation.status == 200, revocation.body
    [revoke] = revocation.body["transactions"]
    await _delivered(devnet, services, await _send(devnet, revoke, ISSUER))
    revoked = await api.get(f"/v1/credit/{subject}")
    assert revoked.body["registry"]["state"]["status"] == "revoked"
    [mirror] = revoked.body["mirrors"]
    assert (mirror["state"]["status"], mirror["state"]["version"], mirror["in_sync"]) == (
        "revoked", "2", True,
    )  # fmt: skip
    # Publishing again sends the revocation (what an issuer does after a refused fan-out).
    publication = await api.request(
        "POST", f"/v1/credit/{subject}/publication", json={"sender": issuer}
    )
    assert publication.status == 200, publication.body
    [again_tx] = publication.body["transactions"]
    assert again_tx["gas"] is not None and again_tx["to"] == registry.address
    twice = await api.request("POST", f"/v1/credit/{subject}/revocation", json={"sender": issuer})
    assert (twice.status, twice.body["type"]) == (409, PROBLEMS + "credit-already-revoked")


async def test_what_the_chain_refuses_is_a_specific_problem_and_stores_nothing(
    devnet: Devnet, issuer_api: ApiClient
) -> None:
    api, subject = issuer_api, _subject("sme-2")
    user_api = api.using(await _bound_to(devnet, USER))
    body = {
        "subject": subject,
        "issuer": devnet.address(USER),  # no ISSUER_ROLE
        "score": 610,
        "grade": "BBB",
        "valid_until": datetime.fromtimestamp(devnet.consortium.now() + YEAR, UTC).isoformat(),
        "report": {"summary": "fair"},
        "readers": [_key_hex(PrivateKey.generate())],
    }
    refused = await user_api.request("POST", "/v1/credit/attestations", json=body)
    assert (refused.status, refused.body["type"]) == (422, PROBLEMS + "issuer-role-missing")
    past = await api.request(
        "POST",
        "/v1/credit/attestations",
        json={**body, "issuer": devnet.address(ISSUER), "valid_until": "2020-01-01T00:00:00Z"},
    )
    assert (past.status, past.body["type"]) == (422, PROBLEMS + "validity-passed")
    store = await Store.open(devnet.config.store.url, migrate=False)
    try:
        assert await store.credit_reports_of(Address(to_canonical_address(subject))) == []
    finally:
        await store.close()

    view = await api.get(f"/v1/credit/{subject}")
    assert view.body["registry"]["state"]["status"] == "none"
    assert view.body["report"] is None and view.body["mirrors"][0]["in_sync"] is True
    report = await api.get(f"/v1/credit/{subject}/report?reader={body['readers'][0]}")
    assert (report.status, report.body["type"]) == (404, PROBLEMS + "credit-not-found")
    revoke = await user_api.request(
        "POST", f"/v1/credit/{subject}/revocation", json={"sender": body["issuer"]}
    )
    assert (revoke.status, revoke.body["type"]) == (409, PROBLEMS + "credit-not-attested")
