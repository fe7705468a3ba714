"""End to end: a credit attestation issued on the consortium reaches the public mirror, and its
revocation follows without anyone calling ``publish``; the relay services (``xgate run``, the
shared ``services`` of tests/e2e/conftest.py) carry both.

The contracts as ``xgate devnet up`` deploys them (consortium = QBFT devnet, public = anvil),
whose plan lists the public chain in ``CreditRegistry.setMirrorChains``: ``revoke`` sends the
revocation through the consortium endpoint in the same transaction.
"""

from __future__ import annotations

from itertools import count
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.logs import DISCARD

from adapters.types import Address
from gateway.cli.deployment import DEVNET_GUARDIAN_ACCOUNT as GUARDIAN  # pauses the endpoints
from gateway.domain.messages import MESSAGE_SENT_TOPIC
from gateway.domain.payloads import CreditAttestation, CreditRevocation, decode_payload
from harness.services import ServiceProcess
from tests.e2e.conftest import Devnet, wait_delivered

ADMIN = 0  # the dev deployment's issuer and publisher
STRANGER = 3  # replays a delivery
VALID, REVOKED = 1, 3  # CreditStatus
YEAR = 365 * 86400
_subjects = count(1)


def raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


def _subject() -> str:
    """A fresh subject per test (the contracts are shared by the whole e2e folder)."""
    return to_checksum_address(keccak(text=f"e2e credit sme {next(_subjects)}")[:20])


def _registry_events(devnet: Devnet, name: str, receipt: Any) -> list[dict[str, Any]]:
    registry = devnet.contract("c.credit_registry")
    found = getattr(registry.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == registry.address]


def _attest_and_publish(
    devnet: Devnet, services: ServiceProcess, who: str, score: int, grade: str
) -> tuple[CreditAttestation, int]:
    """Attest ``who``, publish it to the public chain and wait for the services to deliver it;
    the delivered payload and the attestation's valid_until."""
    c, registry = devnet.consortium, devnet.contract("c.credit_registry")
    valid_until = c.now() + YEAR
    report = keccak(text=f"rating report of {who}")
    grade32 = grade.encode().ljust(32, b"\0")
    c.send(registry.functions.attest(who, score, grade32, valid_until, report), sender=ADMIN)
    publish = c.send(registry.functions.publish(who, devnet.pid), sender=ADMIN)
    [record] = wait_delivered(devnet, services, "c", publish)
    payload = decode_payload(record.message.payload)
    assert isinstance(payload, CreditAttestation)
    assert (payload.subject, payload.score, payload.grade) == (raw(who), score, grade)
    assert (payload.valid_until, payload.report_hash) == (valid_until, report)
    return payload, valid_until


def test_credit_attestation_and_its_revocation_reach_the_public_mirror(
    devnet: Devnet, services: ServiceProcess
) -> None:
    c, p = devnet.consortium, devnet.public
    registry, mirror = devnet.contract("c.credit_registry"), devnet.contract("p.credit_mirror")
    # The deployment plan wires the fan-out (see CreditRegistry's notes).
    assert registry.functions.mirrorChains().call() == [devnet.pid]
    who, issuer = _subject(), devnet.address(ADMIN)
    grade = b"AA-".ljust(32, b"\0")
    _, valid_until = _attest_and_publish(devnet, services, who, 742, "AA-")
    assert mirror.functions.creditOf(who).call() == [742, grade, issuer, valid_until, VALID]
    assert registry.functions.creditOf(who).call() == mirror.functions.creditOf(who).call()

    revoke = c.send(registry.functions.revoke(who), sender=ADMIN)
    (published,) = _registry_events(devnet, "Published", revoke)
    assert (published["dstChainId"], published["version"]) == (devnet.pid, 2)
    [record] = wait_delivered(devnet, services, "c", revoke)  # revoke's own MessageSent
    assert decode_payload(record.message.payload) == CreditRevocation(raw(who), 2, raw(issuer))
    score, _, _, _, status = mirror.functions.creditOf(who).call()
    assert (score, status) == (742, REVOKED)  # the revoked attestation's figures stay visible
    assert registry.functions.creditOf(who).call() == mirror.functions.creditOf(who).call()
    p.expect_revert(devnet.redeliver("c", record), "AlreadyDelivered", sender=STRANGER)


def test_a_revocation_on_a_paused_route_is_recorded_and_publish_sends_it_later(
    devnet: Devnet, services: ServiceProcess
) -> None:
    c, registry = devnet.consortium, devnet.contract("c.credit_registry")
    endpoint, mirror = devnet.contract("c.endpoint"), devnet.contract("p.credit_mirror")
    pid = devnet.pid
    who = _subject()
    _attest_and_publish(devnet, services, who, 655, "A")

    c.send(endpoint.functions.pauseRoute(pid), sender=GUARDIAN)
    try:
        revoke = c.send(registry.functions.revoke(who), sender=ADMIN)
    finally:  # only the timelock unpauses
        devnet.govern("c", endpoint.functions.unpauseRoute(pid), salt=b"fan-out".rjust(32, b"\0"))
    assert registry.functions.creditOf(who).call()[4] == REVOKED
    (failed,) = _registry_events(devnet, "PublishFailed", revoke)
    route_paused = keccak(text="RoutePaused(uint256)")[:4] + pid.to_bytes(32, "big")
    assert (failed["dstChainId"], failed["version"], failed["reason"]) == (pid, 2, route_paused)
    sent = [log for log in revoke["logs"] if bytes(log["topics"][0]) == MESSAGE_SENT_TOPIC]
    assert sent == []  # nothing was sent
    assert mirror.functions.creditOf(who).call()[4] == VALID

    publish = c.send(registry.functions.publish(who, pid), sender=ADMIN)  # the issuer's retry
    [record] = wait_delivered(devnet, services, "c", publish)
    assert isinstance(decode_payload(record.message.payload), CreditRevocation)
    assert mirror.functions.creditOf(who).call()[4] == REVOKED
