"""Credit attestations through the API, what is refused before any chain is asked: unsigned
issuer requests, bad fields (each named), unusable reader keys, a gateway without a credit
registry. Nothing is stored by a refused request. The flow on the devnet (issue, send, read on
the registry and the mirror, open the sealed report, revoke) is tests/e2e/test_credit_api.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from eth_utils.address import to_canonical_address
from nacl.public import PrivateKey
from sqlalchemy import update

from adapters.types import Address, Hash32
from gateway.domain.apikeys import Scope
from gateway.store import Store
from gateway.store.models import metadata
from tests.api.conftest import ApiClient, Keys, create_caller
from tests.api.test_events import SseReader
from tests.store.conftest import Clock

ON_BOTH_STORES = True  # tests/api/conftest.py

PROBLEMS = "https://xgate.dev/problems/"
SUBJECT = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"
ISSUER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.fixture
def credit_api(api: ApiClient, keys: Keys) -> ApiClient:
    return api.using(keys.issuer)


def request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": SUBJECT,
        "issuer": ISSUER,
        "score": 742,
        "grade": "AA-",
        "valid_until": "2031-01-01T00:00:00Z",
        "report": {"summary": "sound", "debt_to_equity": 0.35},
        "readers": ["0x" + bytes(PrivateKey.generate().public_key).hex()],
    }
    return {**body, **changes}


async def nothing_stored(store: Store) -> bool:
    return await store.credit_reports_of(Address(to_canonical_address(SUBJECT))) == []


async def test_an_unsigned_issuer_request_is_refused(credit_api: ApiClient, store: Store) -> None:
    answer = await credit_api.request("POST", "/v1/credit/attestations", json=request(), sign=False)
    assert answer.status == 401
    assert answer.body["type"] == PROBLEMS + "signature-required"
    revoke = await credit_api.request(
        "POST", f"/v1/credit/{SUBJECT}/revocation", json={"sender": ISSUER}, sign=False
    )
    assert revoke.body["type"] == PROBLEMS + "signature-required"
    assert await nothing_stored(store)


async def test_every_bad_field_is_named_and_nothing_is_stored(
    credit_api: ApiClient, store: Store
) -> None:
    body = request(
        subject=SUBJECT.lower(),  # not checksummed
        issuer="0x" + "00" * 20,
        score=1001,
        grade="AAé",
        valid_until="2031-01-01T00:00:00.5Z",
        report={"exposure": 2**53},
        readers=["0x" + "ab" * 31],
        publish_to=[424242],
    )
    answer = await credit_api.request("POST", "/v1/credit/attestations", json=body)
    assert answer.status == 400, answer.body
    assert answer.body["type"] == PROBLEMS + "invalid-request"
    errors = {e["field"]: e["message"] for e in answer.body["errors"]}
    assert set(errors) == {
        "body.subject",
        "body.issuer",
        "body.score",
        "body.grade",
        "body.valid_until",
        "body.report",
        "body.readers[0]",
        "body.publish_to[0]",
    }
    assert "X25519" in errors["body.readers[0]"] and "32 bytes" in errors["body.readers[0]"]
    assert "printable ASCII" in errors["body.grade"]
    assert "2**53" in errors["body.report"]
    assert await nothing_stored(store)

    for grade in ("", "A" * 33, "A\u0000"):
        bad = await credit_api.request("POST", "/v1/credit/attestations", json=request(grade=grade))
        assert [e["field"] for e in bad.body["errors"]] == ["body.grade"], grade
    score = await credit_api.request("POST", "/v1/credit/attestations", json=request(score="742"))
    assert [e["field"] for e in score.body["errors"]] == ["body.score"]
    twice = request()
    twice["readers"] *= 2
    again = await credit_api.request("POST", "/v1/credit/attestations", json=twice)
    assert [e["field"] for e in again.body["errors"]] == ["body.readers"]
    assert await nothing_stored(store)


async def test_a_low_order_reader_key_is_refused(credit_api: ApiClient, store: Store) -> None:
    body = request()
    body["readers"].append("0x" + "00" * 32)  # no shared secret with any key
    answer = await credit_api.request("POST", "/v1/credit/attestations", json=body)
    assert answer.status == 400, answer.body
    assert [e["field"] for e in answer.body["errors"]] == ["body.readers[1]"]
    assert "low-order" in answer.body["errors"][0]["message"]
    assert await nothing_stored(store)


async def test_a_gateway_without_a_credit_registry_says_so(
    credit_api: ApiClient, store: Store
) -> None:
    answer = await credit_api.request("POST", "/v1/credit/attestations", json=request())
    assert answer.status == 503, answer.body
    assert answer.body["type"] == PROBLEMS + "credit-not-configured"
    read = await credit_api.get(f"/v1/credit/{SUBJECT}")
    assert read.body["type"] == PROBLEMS + "credit-not-configured"
    reader = "0x" + "11" * 32
    report = await credit_api.get(f"/v1/credit/{SUBJECT}/report?reader={reader}")
    assert report.body["type"] == PROBLEMS + "credit-not-configured"
    bad_reader = await credit_api.get(f"/v1/credit/{SUBJECT}/report?reader=0x11")
    assert [e["field"] for e in bad_reader.body["errors"]] == ["query.reader"]
    assert await nothing_stored(store)


OTHER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # another issuer's account


async def test_an_issuer_key_acts_as_its_own_account_only(
    credit_api: ApiClient, store: Store
) -> None:
    """The issue's issuer, and publish's and revoke's sender, must be the key's chain account
    (403 before anything is sealed, stored or asked of a chain)."""
    issue = await credit_api.request("POST", "/v1/credit/attestations", json=request(issuer=OTHER))
    assert (issue.status, issue.body["type"]) == (403, PROBLEMS + "issuer-account-mismatch")
    assert ISSUER in issue.body["detail"] and "body.issuer" in issue.body["detail"]
    for action in ("revocation", "publication"):
        answer = await credit_api.request(
            "POST", f"/v1/credit/{SUBJECT}/{action}", json={"sender": OTHER}
        )
        assert (answer.status, answer.body["type"]) == (
            403, PROBLEMS + "issuer-account-mismatch",
        ), action  # fmt: skip
        assert "body.sender" in answer.body["detail"]
    # Its own account passes the binding (this gateway has no registry: the next check).
    own = await credit_api.request(
        "POST", f"/v1/credit/{SUBJECT}/revocation", json={"sender": ISSUER}
    )
    assert own.body["type"] == PROBLEMS + "credit-not-configured"
    assert await nothing_stored(store)


async def test_an_issuer_key_without_an_account_is_refused(
    credit_api: ApiClient, store: Store
) -> None:
    """A key made before issuer keys had an account (NULL after 0006) is refused, the
    operator told to make a bound one; an operator key without one is not bound."""
    legacy = await create_caller(store, Scope.ISSUER, name="before 0006")
    keys_table = metadata.tables["api_keys"]
    async with store._engine.begin() as conn:
        await conn.execute(
            update(keys_table)
            .where(keys_table.c.key_id == legacy.key_id)
            .values(chain_account=None)
        )
    unbound = credit_api.using(legacy)
    for method, path, body in (
        ("POST", "/v1/credit/attestations", request()),
        ("POST", f"/v1/credit/{SUBJECT}/revocation", {"sender": ISSUER}),
        ("POST", f"/v1/credit/{SUBJECT}/publication", {"sender": ISSUER}),
    ):
        answer = await unbound.request(method, path, json=body)
        assert (answer.status, answer.body["type"]) == (
            403, PROBLEMS + "issuer-account-unbound",
        ), path  # fmt: skip
        assert "chain_account" in answer.body["detail"]
    read = await unbound.get(f"/v1/credit/{SUBJECT}")  # reading needs no account
    assert read.body["type"] == PROBLEMS + "credit-not-configured"
    operator = credit_api.using("operator")
    answer = await operator.request("POST", "/v1/credit/attestations", json=request(issuer=OTHER))
    assert answer.body["type"] == PROBLEMS + "credit-not-configured"
    assert await nothing_stored(store)


async def test_a_stored_report_is_a_credit_event_on_the_stream(
    credit_api: ApiClient, store: Store, clock: Clock
) -> None:
    """The ``issued`` event of a report stored as ``POST /v1/credit/attestations`` stores it
    (its chain checks need a devnet: tests/e2e/test_credit_api.py), read through the real
    server's stream; a resume from before pruned events is 410 ``events-pruned``."""
    subject = Address(to_canonical_address(SUBJECT))
    att, digest = Hash32(b"\x01" * 32), Hash32(b"\x02" * 32)
    await store.put_credit_report(
        att,
        subject,
        digest,
        {b"\xaa" * 32: b"\x03" * 60},
        issuer=Address(to_canonical_address(ISSUER)),
    )
    headers = credit_api.auth_headers()
    response = await credit_api.client.get("/v1/events?after=0&kinds=credit", headers=headers)
    assert response.status == 200, await response.text()
    frame = await SseReader(response).event()
    response.close()
    assert (frame.id, frame.event) == (1, "credit")
    credit_api.validate("#/components/schemas/EventItem", frame.data)
    assert frame.data["ref"] == "0x" + att.hex()
    assert frame.data["data"] == {
        "action": "issued", "subject": SUBJECT, "attestation_id": "0x" + att.hex(),
        "report_hash": "0x" + digest.hex(), "issuer": ISSUER, "version": None,
        "chain_id": None, "tx_hash": None, "readers": 1,
    }  # fmt: skip
    # Pruned: events 1 and 2 go, 3 (the log's last) stays. A client that saw 1 would miss 2.
    for n in (4, 5):
        await store.put_credit_report(
            Hash32(bytes([n]) * 32), subject, digest, {b"\xaa" * 32: b"\x03" * 60}
        )
    clock.advance(31 * 86400)
    assert await store.prune_events(clock.now - timedelta(days=30)) == 2
    pruned = await credit_api.get("/v1/events", headers={"Last-Event-ID": "1"})
    assert pruned.status == 410, pruned.body
    assert pruned.body["type"] == PROBLEMS + "events-pruned"
