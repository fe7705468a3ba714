"""CreditRegistry (consortium) and CreditMirror (public) on one chain (run on both chains).

The mirror poses as chain ``FOREIGN``; ``AssetsTestEndpoint`` carries the messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.logs import DISCARD

from adapters.types import Hash32
from gateway.domain.payloads import (
    CreditAttestation,
    CreditRevocation,
    Erc20Transfer,
    encode_payload,
)
from harness import Chain, decode_revert
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
    sent_at,
)

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


def attest(
    c: Credit,
    who: str,
    score: int = 742,
    grade: str = "AA-",
    days: int = 365,
    sender: int = ISSUER,
    registry: Contract | None = None,
) -> int:
    valid_until = c.chain.now() + days * DAY
    fn = (registry or c.registry).functions.attest(who, score, grade32(grade), valid_until, k(who))
    send(c.chain, fn, sender=sender)
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


# -- issue 6: issuers own their attestations ---------------------------------------------------


def test_an_issuer_cannot_supersede_another_issuers_live_attestation_to_revoke_it(
    c: Credit,
) -> None:
    """Before: OTHER_ISSUER attested over ISSUER's rating, became its issuer, then revoked it."""
    who = subject()
    attest(c, who, score=810)
    issuer, other = (c.chain.accounts[i].address for i in (ISSUER, OTHER_ISSUER))
    fn = c.registry.functions.attest(who, 100, grade32("D"), c.chain.now() + DAY, k("takeover"))
    reverted = c.chain.expect_revert(fn, "NotAttestationIssuer", sender=OTHER_ISSUER)
    assert revert_args(reverted) == (other, issuer)
    reverted = c.chain.expect_revert(
        c.registry.functions.revoke(who), "NotAttestationIssuer", sender=OTHER_ISSUER
    )
    assert revert_args(reverted) == (other, issuer)
    record = c.registry.functions.attestationOf(who).call()
    assert (record[0], record[1], record[4], record[5]) == (810, 1, False, issuer)


def test_an_issuer_supersedes_its_own_and_others_take_over_once_revoked_or_expired(
    c: Credit,
) -> None:
    issuer, other = (c.chain.accounts[i].address for i in (ISSUER, OTHER_ISSUER))
    revoked, expired = subject(), subject()
    attest(c, revoked, score=500)
    attest(c, revoked, score=520)  # its own: superseded
    send(c.chain, c.registry.functions.revoke(revoked), sender=ISSUER)
    attest(c, revoked, score=300, sender=OTHER_ISSUER)
    record = c.registry.functions.attestationOf(revoked).call()
    assert (record[0], record[1], record[4], record[5]) == (300, 4, False, other)

    attest(c, expired, score=640, days=1)
    c.chain.advance_time(DAY + 1)
    attest(c, expired, score=450, sender=OTHER_ISSUER)
    assert c.registry.functions.creditOf(expired).call()[0::2] == [450, other, VALID]
    assert issuer != other


# -- issue 6: the mirror keeps one version line per (source chain, registry) -------------------

SECOND_SOURCE = 778  # a second consortium chain the mirror is also wired to


def _mirror_for(c: Credit, *sources: tuple[int, Contract]) -> Contract:
    """A fresh mirror (posing as FOREIGN) wired to ``sources`` (chain id, registry)."""
    admin = c.chain.accounts[ADMIN].address
    mirror = c.chain.deploy("CreditMirror", c.endpoint.address, admin)
    for chain_id, registry in sources:
        send(c.chain, mirror.functions.setRemote(chain_id, registry.address))
    return mirror


def _registry_for(c: Credit, mirror: Contract) -> Contract:
    """A fresh registry (ISSUER may attest) whose mirror on FOREIGN is ``mirror``."""
    admin = c.chain.accounts[ADMIN].address
    registry = c.chain.deploy("CreditRegistry", c.endpoint.address, admin)
    send(c.chain, registry.functions.grantRole(ISSUER_ROLE, c.chain.accounts[ISSUER].address))
    send(c.chain, registry.functions.setRemote(FOREIGN, mirror.address))
    return registry


def _publish_to(c: Credit, registry: Contract, who: str, src_chain_id: int) -> Any:
    """``registry`` publishes ``who`` to FOREIGN; delivered as coming from ``src_chain_id``."""
    send(c.chain, registry.functions.publish(who, FOREIGN), sender=ISSUER)
    return relay(c.chain, c.endpoint, last_sent(c.endpoint), src_chain_id=src_chain_id)


def test_a_second_source_can_neither_overwrite_nor_shadow_the_mirrored_registry(
    c: Credit,
) -> None:
    """Before: one record per subject, so the second source's higher version replaced the
    registry's attestation, and the registry's own revocation (a lower version) was ignored."""
    mirror = _mirror_for(c)
    first, second = _registry_for(c, mirror), _registry_for(c, mirror)
    send(c.chain, mirror.functions.setRemote(c.home, first.address))
    send(c.chain, mirror.functions.setRemote(SECOND_SOURCE, second.address))
    who = subject()
    attest(c, who, score=700, registry=first)
    _publish_to(c, first, who, c.home)  # the first message binds the source chain
    for score in (100, 110, 120):
        attest(c, who, score=score, registry=second)
    receipt = _publish_to(c, second, who, SECOND_SOURCE)
    assert mirror.functions.creditOf(who).call()[0::4] == [700, VALID]
    (update,) = events(mirror, "CreditUpdated", receipt)
    assert (update["version"], update["srcChainId"], update["registry"]) == (
        3,
        SECOND_SOURCE,
        second.address,
    )
    assert mirror.functions.sourceChainId().call() == c.home

    send(c.chain, first.functions.revoke(who), sender=ISSUER)  # version 2 < 3
    _publish_to(c, first, who, c.home)
    assert mirror.functions.creditOf(who).call()[0::4] == [700, REVOKED]
    assert mirror.functions.creditFrom(SECOND_SOURCE, second.address, who).call()[0::4] == [
        120,
        VALID,
    ]
    assert (
        mirror.functions.attestationOf(who).call()
        == mirror.functions.attestationFrom(c.home, first.address, who).call()
    )

    # The admin, and only it, points creditOf at another wired source.
    c.chain.expect_revert(
        mirror.functions.setSourceChain(SECOND_SOURCE),
        "AccessControlUnauthorizedAccount",
        sender=MALLORY,
    )
    reverted = c.chain.expect_revert(mirror.functions.setSourceChain(999), "NoRemote")
    assert revert_args(reverted) == (999,)
    send(c.chain, mirror.functions.setSourceChain(SECOND_SOURCE))
    assert mirror.functions.creditOf(who).call()[0::4] == [120, VALID]


def test_a_replacement_registry_starts_its_own_version_line_on_the_mirror(c: Credit) -> None:
    """Before: the new registry's version 1 was ignored as older than the old registry's 3."""
    mirror = _mirror_for(c)
    old = _registry_for(c, mirror)
    send(c.chain, mirror.functions.setRemote(c.home, old.address))
    who = subject()
    attest(c, who, score=900, registry=old)
    attest(c, who, score=910, registry=old)
    _publish_to(c, old, who, c.home)
    send(c.chain, old.functions.revoke(who), sender=ISSUER)
    _publish_to(c, old, who, c.home)
    assert mirror.functions.creditOf(who).call()[4] == REVOKED

    new = _registry_for(c, mirror)
    send(c.chain, mirror.functions.setRemote(c.home, new.address))
    assert mirror.functions.creditOf(who).call()[4] == NONE  # nothing from the new one yet
    attest(c, who, score=640, registry=new)
    receipt = _publish_to(c, new, who, c.home)
    assert events(mirror, "StaleCreditIgnored", receipt) == []
    assert mirror.functions.creditOf(who).call()[0::4] == [640, VALID]
    assert mirror.functions.attestationOf(who).call()[1] == 1
    assert mirror.functions.creditFrom(c.home, old.address, who).call()[0::4] == [910, REVOKED]


# -- issue 6: revocations fan out to every mirror chain ----------------------------------------

SECOND_MIRROR = 779  # a second public chain


def _fan_out_pair(c: Credit) -> tuple[Contract, Contract, Contract]:
    """A registry with mirrors on FOREIGN and SECOND_MIRROR, both in its mirrorChains."""
    first = _mirror_for(c)
    registry = _registry_for(c, first)
    second = _mirror_for(c, (c.home, registry))
    send(c.chain, first.functions.setRemote(c.home, registry.address))
    send(c.chain, registry.functions.setRemote(SECOND_MIRROR, second.address))
    send(c.chain, registry.functions.setMirrorChains([FOREIGN, SECOND_MIRROR]))
    return registry, first, second


def test_a_revocation_reaches_every_mirror_chain_without_a_publish(c: Credit) -> None:
    """Before: a revocation reached a mirror only once someone called publish for its chain."""
    registry, first, second = _fan_out_pair(c)
    assert registry.functions.mirrorChains().call() == [FOREIGN, SECOND_MIRROR]
    who = subject()
    attest(c, who, score=777, registry=registry)
    for dst in (FOREIGN, SECOND_MIRROR):
        send(c.chain, registry.functions.publish(who, dst), sender=ISSUER)
        relay(c.chain, c.endpoint, last_sent(c.endpoint), src_chain_id=c.home)
    before = c.endpoint.functions.sentCount().call()

    receipt = send(c.chain, registry.functions.revoke(who), sender=ISSUER)
    assert c.endpoint.functions.sentCount().call() == before + 2
    sent = [sent_at(c.endpoint, before + i) for i in range(2)]
    issuer = c.chain.accounts[ISSUER].address
    revocation = encode_payload(CreditRevocation(raw(who), 2, raw(issuer)))
    assert [(m.dst_chain_id, m.receiver, m.payload) for m in sent] == [
        (FOREIGN, first.address, revocation),
        (SECOND_MIRROR, second.address, revocation),
    ]
    published = events(registry, "Published", receipt)
    assert [(p["dstChainId"], p["version"], p["messageId"]) for p in published] == [
        (m.dst_chain_id, 2, m.id) for m in sent
    ]
    for message in sent:
        relay(c.chain, c.endpoint, message, src_chain_id=c.home)
    for mirror in (first, second):
        assert mirror.functions.creditOf(who).call()[0::4] == [777, REVOKED]


def test_a_fan_out_the_endpoint_refuses_does_not_block_the_revocation(c: Credit) -> None:
    registry, first, _ = _fan_out_pair(c)
    who = subject()
    attest(c, who, registry=registry)
    send(c.chain, registry.functions.setRemote(SECOND_MIRROR, "0x" + "00" * 20))  # disconnected
    receipt = send(c.chain, registry.functions.revoke(who), sender=ISSUER)
    assert registry.functions.creditOf(who).call()[4] == REVOKED
    (failed,) = events(registry, "PublishFailed", receipt)
    assert (failed["dstChainId"], failed["version"]) == (SECOND_MIRROR, 2)
    no_remote = keccak(text="NoRemote(uint256)")[:4] + SECOND_MIRROR.to_bytes(32, "big")
    assert failed["reason"] == no_remote
    assert [p["dstChainId"] for p in events(registry, "Published", receipt)] == [FOREIGN]
    relay(c.chain, c.endpoint, last_sent(c.endpoint), src_chain_id=c.home)
    assert first.functions.creditOf(who).call()[4] == REVOKED


def test_a_revoker_cannot_starve_the_fan_out_of_gas(c: Credit) -> None:
    """With every gas limit, a revoke either sends to every mirror chain or reverts: the
    endpoint call cannot be made to run out of gas (1/64 rule) while the revocation passes."""
    registry, _, _ = _fan_out_pair(c)
    who = subject()
    attest(c, who, registry=registry)
    issuer = c.chain.accounts[ISSUER].address
    revoke = registry.functions.revoke(who)

    def outcome(gas: int) -> str:
        try:
            revoke.call({"from": issuer, "gas": gas})
        except Exception as exc:  # the revert data, or an out-of-gas message
            data = getattr(exc, "data", None)
            return decode_revert(bytes.fromhex(data[2:])).error if isinstance(data, str) else "oog"
        return "ok"

    low, high = 30_000, 2_000_000
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if outcome(mid) == "ok" else (mid, high)
    below = {outcome(gas) for gas in range(high - 40_000, high, 500)}
    assert "ok" not in below
    assert "FanOutOutOfGas" in below
    assert events(registry, "PublishFailed", send(c.chain, revoke, sender=ISSUER)) == []


def test_mirror_chains_are_set_by_the_admin_and_each_needs_a_mirror(c: Credit) -> None:
    registry, _, _ = _fan_out_pair(c)
    fn = registry.functions.setMirrorChains
    c.chain.expect_revert(fn([FOREIGN]), "AccessControlUnauthorizedAccount", sender=ISSUER)
    assert revert_args(c.chain.expect_revert(fn([FOREIGN, 999]), "NoRemote")) == (999,)
    reverted = c.chain.expect_revert(fn([FOREIGN, FOREIGN]), "DuplicateMirrorChain")
    assert revert_args(reverted) == (FOREIGN,)
    reverted = c.chain.expect_revert(fn([FOREIGN] * 17), "TooManyMirrorChains")
    assert revert_args(reverted) == (17,)
    send(c.chain, fn([]))
    assert registry.functions.mirrorChains().call() == []


def test_a_revocation_of_an_unmirrored_attestation_shows_none_of_an_older_ones_figures(
    c: Credit,
) -> None:
    # The mirror saw issuer A's v1; A revoked it (v2), B attested (v3, never published) and
    # revoked (v4). Only v4 reaches the mirror: it must not present A's figures as B's.
    who = subject()
    attest(c, who, score=800, grade="AA")
    publish_and_relay(c, who)
    send(c.chain, c.registry.functions.revoke(who), sender=ISSUER)
    attest(c, who, score=300, grade="C", sender=OTHER_ISSUER)
    send(c.chain, c.registry.functions.revoke(who), sender=OTHER_ISSUER)
    publish_and_relay(c, who)
    other = c.chain.accounts[OTHER_ISSUER].address
    score, grade, issuer, valid_until, status = c.mirror.functions.creditOf(who).call()
    assert (issuer, status) == (other, REVOKED)
    assert (score, grade, valid_until) == (0, b"\0" * 32, 0)
    a = c.mirror.functions.attestationOf(who).call()
    assert a[1] == 4 and a[7] == b"\0" * 32  # version 4, no report hash of A's
