"""CreditRegistry (consortium) and CreditMirror (public) on one chain (run on both chains).

The mirror poses as chain ``FOREIGN``; ``AssetsTestEndpoint`` carries the messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from web3.contract import Contract
from web3.logs import DISCARD

from adapters.types import Hash32
from gateway.domain.payloads import (
    CreditAttestation,
    CreditRevocation,
    Erc20Transfer,
    encode_payload,
)
from tests.contracts._assets_helpers import (
    ADMIN,
    BOB,
    FOREIGN,
    ISSUER,
    ISSUER_ROLE,
    MALLORY,
    PUBLISHER_ROLE,
    grade32,
    k,
    last_sent,
    raw,
    relay,
    revert_args,
    send,
)
from tests.contracts.conftest import Chain

NONE, VALID, EXPIRED, REVOKED = range(4)
OTHER_ISSUER, PUBLISHER = 6, 7
DAY = 86400
_subjects = count(1)


@dataclass
class Credit:
    chain: Chain
    endpoint: Contract
    registry: Contract
    mirror: Contract

    @property
    def home(self) -> int:
        return self.chain.chain_id


@pytest.fixture(scope="module", params=["anvil", "consortium"])
def c(request: pytest.FixtureRequest) -> Credit:
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    admin = chain.accounts[ADMIN].address
    endpoint = chain.deploy("AssetsTestEndpoint", True)
    registry = chain.deploy("CreditRegistry", endpoint.address, admin)
    mirror = chain.deploy("CreditMirror", endpoint.address, admin)
    for who in (ISSUER, OTHER_ISSUER):
        send(chain, registry.functions.grantRole(ISSUER_ROLE, chain.accounts[who].address))
    send(chain, registry.functions.grantRole(PUBLISHER_ROLE, chain.accounts[PUBLISHER].address))
    send(chain, registry.functions.setRemote(FOREIGN, mirror.address))
    send(chain, mirror.functions.setRemote(chain.chain_id, registry.address))
    return Credit(chain, endpoint, registry, mirror)


def subject() -> str:
    """A fresh subject address per test (the contracts are shared by the module)."""
    from web3 import Web3

    return Web3.to_checksum_address(k(f"sme-{next(_subjects)}")[:20])


def attest(c: Credit, who: str, score: int = 742, grade: str = "AA-", days: int = 365) -> int:
    valid_until = c.chain.now() + days * DAY
    fn = c.registry.functions.attest(who, score, grade32(grade), valid_until, k(who))
    send(c.chain, fn, sender=ISSUER)
    return valid_until


def publish_and_relay(c: Credit, who: str, sender: int = ISSUER) -> Any:
    send(c.chain, c.registry.functions.publish(who, FOREIGN), sender=sender)
    return relay(c.chain, c.endpoint, last_sent(c.endpoint), src_chain_id=c.home)


def events(contract: Contract, name: str, receipt: Any) -> list[dict[str, Any]]:
    found = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == contract.address]


def test_issuer_attests_and_the_registry_reports_it_valid(c: Credit) -> None:
    who = subject()
    valid_until = attest(c, who)
    issuer = c.chain.accounts[ISSUER].address
    assert c.registry.functions.creditOf(who).call() == [
        742,
        grade32("AA-"),
        issuer,
        valid_until,
        VALID,
    ]
    record = c.registry.functions.attestationOf(who).call()
    assert (record[0], record[1], record[4], record[5]) == (742, 1, False, issuer)


def test_unknown_subject_has_status_none(c: Credit) -> None:
    assert c.registry.functions.creditOf(subject()).call()[4] == NONE
    assert c.mirror.functions.creditOf(subject()).call()[4] == NONE


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"score": 1001}, "ScoreOutOfRange"),
        ({"grade": b"\0" * 32}, "InvalidGrade"),
        ({"grade": b"A\0B" + b"\0" * 29}, "InvalidGrade"),
        ({"grade": b"\x7f" + b"\0" * 31}, "InvalidGrade"),
        ({"valid_until": 1}, "InvalidValidity"),
        ({"report": b"\0" * 32}, "ZeroReportHash"),
        ({"who": "0x" + "00" * 20}, "ZeroSubject"),
    ],
)
def test_attestation_with_invalid_input_is_refused(
    c: Credit, args: dict[str, Any], error: str
) -> None:
    values = {
        "who": subject(),
        "score": 500,
        "grade": grade32("BBB"),
        "valid_until": c.chain.now() + DAY,
        "report": b"\1" * 32,
        **args,
    }
    fn = c.registry.functions.attest(
        values["who"], values["score"], values["grade"], values["valid_until"], values["report"]
    )
    c.chain.expect_revert(fn, error, sender=ISSUER)


def test_only_an_issuer_attests(c: Credit) -> None:
    fn = c.registry.functions.attest(subject(), 1, grade32("C"), c.chain.now() + DAY, b"\1" * 32)
    for who in (MALLORY, PUBLISHER):
        c.chain.expect_revert(fn, "AccessControlUnauthorizedAccount", sender=who)


def test_published_attestation_reads_valid_on_the_mirror(c: Credit) -> None:
    who = subject()
    valid_until = attest(c, who, score=815, grade="A+")
    send(c.chain, c.registry.functions.publish(who, FOREIGN), sender=ISSUER)
    sent = last_sent(c.endpoint)
    record = c.registry.functions.attestationOf(who).call()
    issuer = c.chain.accounts[ISSUER].address
    assert (sent.dst_chain_id, sent.receiver) == (FOREIGN, c.mirror.address)
    assert sent.payload == encode_payload(
        CreditAttestation(raw(who), 1, 815, "A+", raw(issuer), record[2], valid_until, k(who))
    )
    receipt = relay(c.chain, c.endpoint, sent, src_chain_id=c.home)
    assert events(c.mirror, "CreditUpdated", receipt)[0]["version"] == 1
    assert c.mirror.functions.creditOf(who).call() == [
        815,
        grade32("A+"),
        issuer,
        valid_until,
        VALID,
    ]
    assert c.mirror.functions.attestationOf(who).call() == record


def test_mirror_reports_expired_once_valid_until_has_passed(c: Credit) -> None:
    who = subject()
    attest(c, who, days=1)
    publish_and_relay(c, who)
    assert c.mirror.functions.creditOf(who).call()[4] == VALID
    c.chain.advance_time(DAY + 1)
    assert c.mirror.functions.creditOf(who).call()[4] == EXPIRED
    assert c.registry.functions.creditOf(who).call()[4] == EXPIRED


def test_revocation_reaches_the_mirror(c: Credit) -> None:
    who = subject()
    attest(c, who, score=600)
    publish_and_relay(c, who)
    send(c.chain, c.registry.functions.revoke(who), sender=ISSUER)
    send(c.chain, c.registry.functions.publish(who, FOREIGN), sender=ISSUER)
    sent = last_sent(c.endpoint)
    issuer = c.chain.accounts[ISSUER].address
    assert sent.payload == encode_payload(CreditRevocation(raw(who), 2, raw(issuer)))
    relay(c.chain, c.endpoint, sent, src_chain_id=c.home)
    score, _, got_issuer, _, status = c.mirror.functions.creditOf(who).call()
    assert (score, got_issuer, status) == (600, issuer, REVOKED)
    assert c.registry.functions.creditOf(who).call()[4] == REVOKED


def test_a_new_attestation_supersedes_a_revocation(c: Credit) -> None:
    who = subject()
    attest(c, who)
    send(c.chain, c.registry.functions.revoke(who), sender=ISSUER)
    attest(c, who, score=300, grade="B")
    publish_and_relay(c, who)
    assert c.mirror.functions.creditOf(who).call()[0::4] == [300, VALID]
    assert c.mirror.functions.attestationOf(who).call()[1] == 3


def test_only_the_attestation_issuer_or_the_admin_revokes(c: Credit) -> None:
    who = subject()
    attest(c, who)
    issuer = c.chain.accounts[ISSUER].address
    for caller in (MALLORY, OTHER_ISSUER):
        reverted = c.chain.expect_revert(
            c.registry.functions.revoke(who), "NotAttestationIssuer", sender=caller
        )
        assert revert_args(reverted) == (c.chain.accounts[caller].address, issuer)
    send(c.chain, c.registry.functions.revoke(who), sender=ADMIN)
    c.chain.expect_revert(c.registry.functions.revoke(who), "AlreadyRevoked", sender=ISSUER)
    c.chain.expect_revert(c.registry.functions.revoke(subject()), "NoAttestation", sender=ADMIN)


def test_older_message_never_overwrites_a_newer_one(c: Credit) -> None:
    who = subject()
    attest(c, who, score=400, grade="BB")
    send(c.chain, c.registry.functions.publish(who, FOREIGN), sender=ISSUER)
    v1 = last_sent(c.endpoint)
    attest(c, who, score=900, grade="AAA")
    send(c.chain, c.registry.functions.publish(who, FOREIGN), sender=ISSUER)
    v2 = last_sent(c.endpoint)
    send(c.chain, c.registry.functions.revoke(who), sender=ISSUER)
    send(c.chain, c.registry.functions.publish(who, FOREIGN), sender=ISSUER)
    v3 = last_sent(c.endpoint)

    relay(c.chain, c.endpoint, v2, src_chain_id=c.home)
    receipt = relay(c.chain, c.endpoint, v1, src_chain_id=c.home)  # late: ignored, not reverted
    (stale,) = events(c.mirror, "StaleCreditIgnored", receipt)
    assert (stale["version"], stale["currentVersion"]) == (1, 2)
    assert c.mirror.functions.creditOf(who).call()[0::4] == [900, VALID]

    relay(c.chain, c.endpoint, v3, src_chain_id=c.home)
    relay(c.chain, c.endpoint, v2, src_chain_id=c.home)  # a replayed older attestation
    assert c.mirror.functions.creditOf(who).call()[0::4] == [900, REVOKED]
    assert c.mirror.functions.attestationOf(who).call()[1] == 3


def test_publish_needs_a_publisher_a_mirror_and_an_attestation(c: Credit) -> None:
    who = subject()
    attest(c, who)
    c.chain.expect_revert(
        c.registry.functions.publish(who, FOREIGN), "NotPublisher", sender=MALLORY
    )
    reverted = c.chain.expect_revert(
        c.registry.functions.publish(who, 999), "NoRemote", sender=ISSUER
    )
    assert revert_args(reverted) == (999,)
    c.chain.expect_revert(
        c.registry.functions.publish(subject(), FOREIGN), "NoAttestation", sender=ISSUER
    )
    publish_and_relay(c, who, sender=PUBLISHER)
    assert c.mirror.functions.creditOf(who).call()[4] == VALID


def test_mirror_is_written_only_by_the_registered_registry_through_the_endpoint(c: Credit) -> None:
    who = subject()
    forged = encode_payload(
        CreditAttestation(raw(who), 99, 1000, "AAA", raw(who), 0, 2**64 - 1, Hash32(b"\1" * 32))
    )
    mallory = c.chain.accounts[MALLORY].address
    reverted = c.chain.expect_revert(
        c.mirror.functions.onMessage(b"\1" * 32, c.home, c.registry.address, forged),
        "NotEndpoint",
        sender=MALLORY,
    )
    assert revert_args(reverted) == (mallory,)
    deliver = c.endpoint.functions.deliver
    for src, sender in ((c.home, mallory), (999, c.registry.address)):
        reverted = c.chain.expect_revert(
            deliver(b"\1" * 32, src, sender, c.mirror.address, forged), "UnknownRemote"
        )
        assert revert_args(reverted) == (src, sender)
    asset = encode_payload(Erc20Transfer(raw(who), c.home, raw(who), 1))
    reverted = c.chain.expect_revert(
        deliver(b"\1" * 32, c.home, c.registry.address, c.mirror.address, asset),
        "UnsupportedPayload",
    )
    assert revert_args(reverted) == (1,)
    c.chain.expect_revert(
        deliver(b"\1" * 32, c.home, c.registry.address, c.mirror.address, forged[:-32]),
        "MalformedPayload",
    )
    assert c.mirror.functions.creditOf(who).call()[4] == NONE


def test_registry_accepts_no_messages(c: Credit) -> None:
    payload = encode_payload(CreditRevocation(raw(c.mirror.address), 1, raw(c.mirror.address)))
    fn = c.endpoint.functions.deliver(
        b"\1" * 32, FOREIGN, c.mirror.address, c.registry.address, payload
    )
    c.chain.expect_revert(fn, "NotAReceiver")


def test_admin_functions_need_the_admin_role(c: Credit) -> None:
    for fn in (
        c.registry.functions.setRemote(FOREIGN, c.chain.accounts[BOB].address),
        c.mirror.functions.setRemote(c.home, c.chain.accounts[BOB].address),
        c.registry.functions.grantRole(ISSUER_ROLE, c.chain.accounts[MALLORY].address),
    ):
        c.chain.expect_revert(fn, "AccessControlUnauthorizedAccount", sender=MALLORY)
