"""End to end: a credit revocation reaches the public mirror without anyone calling ``publish``.

The contracts as ``xgate devnet up`` deploys them (consortium = QBFT devnet, public = anvil),
whose plan lists the public chain in ``CreditRegistry.setMirrorChains``. ``revoke`` then sends the revocation through the
consortium endpoint in the same transaction; a relayer proves that MessageSent log against a
sealed consortium header accepted by the public ``QbftLightClient`` and delivers it.
"""

from __future__ import annotations

from itertools import count
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.logs import DISCARD

from adapters.types import Address
from gateway.cli.deployment import DEVNET_GUARDIAN_ACCOUNT as GUARDIAN  # pauses the endpoints
from gateway.domain.payloads import CreditAttestation, CreditRevocation, decode_payload
from tests.e2e.test_bridge_roundtrip import (  # the deployed devnet (its own per module)
    ADMIN,
    REVOKED,
    STRANGER,
    VALID,
    Devnet,
    net,  # noqa: F401
)

YEAR = 365 * 86400
_subjects = count(1)


def relay(net: Devnet, receipt: Any) -> Any:  # noqa: F811
    """Relay the one message of a consortium transaction; returns the decoded payload."""
    deliver, out = net.to_public(receipt)
    net.public.send(deliver, sender=STRANGER)
    return decode_payload(out.message.payload)


def _subject() -> str:
    return to_checksum_address(keccak(text=f"fan-out sme {next(_subjects)}")[:20])


def _attest_and_publish(net: Devnet, who: str) -> None:  # noqa: F811
    c, registry = net.consortium, net.contract("c.credit_registry")
    valid_until = c.now() + YEAR
    report = keccak(text=f"report of {who}")
    grade = b"A".ljust(32, b"\0")
    c.send(registry.functions.attest(who, 655, grade, valid_until, report), sender=ADMIN)
    publish = c.send(registry.functions.publish(who, net.public.chain_id), sender=ADMIN)
    assert isinstance(relay(net, publish), CreditAttestation)
    assert net.contract("p.credit_mirror").functions.creditOf(who).call()[4] == VALID


def _registry_events(net: Devnet, name: str, receipt: Any) -> list[dict[str, Any]]:  # noqa: F811
    registry = net.contract("c.credit_registry")
    found = getattr(registry.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == registry.address]


def test_a_revocation_is_sent_by_revoke_itself_and_relayed_to_the_public_mirror(
    net: Devnet,  # noqa: F811
) -> None:
    c, registry = net.consortium, net.contract("c.credit_registry")
    # The deployment plan wires the fan-out (see CreditRegistry's notes).
    assert registry.functions.mirrorChains().call() == [net.pid]
    mirror = net.contract("p.credit_mirror")
    who = _subject()
    _attest_and_publish(net, who)

    revoke = c.send(registry.functions.revoke(who), sender=ADMIN)
    issuer = Address(bytes.fromhex(c.accounts[ADMIN].address[2:]))
    payload = relay(net, revoke)  # the revoke transaction's own MessageSent
    assert payload == CreditRevocation(Address(bytes.fromhex(who[2:])), 2, issuer)
    (published,) = _registry_events(net, "Published", revoke)
    assert (published["dstChainId"], published["version"]) == (net.public.chain_id, 2)
    score, _, _, _, status = mirror.functions.creditOf(who).call()
    assert (score, status) == (655, REVOKED)
    assert registry.functions.creditOf(who).call() == mirror.functions.creditOf(who).call()


def test_a_revocation_on_a_paused_route_is_recorded_and_publish_sends_it_later(
    net: Devnet,  # noqa: F811
) -> None:
    c, registry = net.consortium, net.contract("c.credit_registry")
    endpoint, mirror = net.contract("c.endpoint"), net.contract("p.credit_mirror")
    pid = net.public.chain_id
    who = _subject()
    _attest_and_publish(net, who)

    c.send(endpoint.functions.pauseRoute(pid), sender=GUARDIAN)
    try:
        revoke = c.send(registry.functions.revoke(who), sender=ADMIN)
    finally:  # only the timelock unpauses
        net.govern("c", endpoint.functions.unpauseRoute(pid), salt=b"fan-out".rjust(32, b"\0"))
    assert registry.functions.creditOf(who).call()[4] == REVOKED
    (failed,) = _registry_events(net, "PublishFailed", revoke)
    route_paused = keccak(text="RoutePaused(uint256)")[:4] + pid.to_bytes(32, "big")
    assert (failed["dstChainId"], failed["version"], failed["reason"]) == (pid, 2, route_paused)
    assert mirror.functions.creditOf(who).call()[4] == VALID  # nothing was sent

    publish = c.send(registry.functions.publish(who, pid), sender=ADMIN)  # the relayer's retry
    assert isinstance(relay(net, publish), CreditRevocation)
    assert mirror.functions.creditOf(who).call()[4] == REVOKED
