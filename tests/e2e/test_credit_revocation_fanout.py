"""End to end: a credit revocation reaches the public mirror without anyone calling ``publish``.

The contracts as ``xgate devnet up`` deploys them (consortium = QBFT devnet, public = anvil),
whose plan lists the public chain in ``CreditRegistry.setMirrorChains``. ``revoke`` then sends the revocation through the
consortium endpoint in the same transaction; a relayer proves that MessageSent log against a
sealed consortium header accepted by the public ``QbftLightClient`` and delivers it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.logs import DISCARD

from adapters.types import Address
from gateway.cli.deployment import Deployed
from gateway.cli.devnet_cmd import deploy_contracts
from gateway.domain.payloads import CreditAttestation, CreditRevocation, decode_payload
from tests.contracts.conftest import Chain, make_chain
from tests.e2e._relay import relay_to_public

ADMIN = 0  # the deployer: credit issuer (and admin and pauser until governance takes over)
GOVERNOR, GUARDIAN = 4, 9  # deployment.DEVNET_GOVERNOR_ACCOUNT / DEVNET_GUARDIAN_ACCOUNT
STRANGER = 8  # anyone may relay
ADMIN_ROLE = b"\0" * 32
NO_PREDECESSOR = b"\0" * 32
VALID, REVOKED = 1, 3  # CreditStatus
YEAR = 365 * 86400
_subjects = count(1)
_salts = count(1)


@dataclass
class Net:
    consortium: Chain
    public: Chain
    deployed: dict[str, Deployed]

    def contract(self, key: str) -> Contract:
        item = self.deployed[key]
        chain = self.consortium if key.startswith("c.") else self.public
        return chain.at(item.artifact, to_checksum_address(item.address))

    def relay_to_public(self, receipt: Any) -> Any:
        """Relay the one message of a consortium transaction; returns the decoded payload."""
        lc, endpoint = self.contract("p.qbft_light_client"), self.contract("p.endpoint")
        deliver, out = relay_to_public(self.consortium, self.public, lc, endpoint, receipt)
        self.public.send(deliver, sender=STRANGER)
        return decode_payload(out.message.payload)

    def admin(self, key: str, call: Any) -> None:
        """An admin call on consortium contract ``key``: directly while the deployer is its
        admin, else proposed to the chain's timelock by the governor and executed after the
        delay (the deployment hands DEFAULT_ADMIN_ROLE to ``c.timelock``)."""
        c = self.consortium
        if self.contract(key).functions.hasRole(ADMIN_ROLE, c.accounts[ADMIN].address).call():
            c.send(call, sender=ADMIN)
            return
        timelock = self.contract("c.timelock")
        salt = next(_salts).to_bytes(32, "big")
        args = (call.address, 0, call._encode_transaction_data(), NO_PREDECESSOR, salt)
        delay = timelock.functions.getMinDelay().call()
        c.send(timelock.functions.schedule(*args, delay), sender=GOVERNOR)
        c.advance_time(delay)
        c.send(timelock.functions.execute(*args), sender=STRANGER)

    def pauser(self) -> int:
        endpoint = self.contract("c.endpoint")
        role = endpoint.functions.PAUSER_ROLE().call()
        for who in (GUARDIAN, ADMIN):
            if endpoint.functions.hasRole(role, self.consortium.accounts[who].address).call():
                return who
        raise AssertionError("nobody pauses the consortium endpoint")


@pytest.fixture(scope="module")
async def net() -> AsyncIterator[Net]:
    from devnet.launcher import start_consortium, start_public

    async with (
        start_consortium(config={"instant_seal": True}) as consortium,
        start_public(prefer_anvil=True) as public,
    ):
        deployed = await deploy_contracts(consortium, public)
        net = Net(
            make_chain("consortium", consortium.url, poa=True),
            make_chain("public", public.url),
            deployed,
        )
        # The deployment plan wires the fan-out (see CreditRegistry's notes).
        registry = net.contract("c.credit_registry")
        assert registry.functions.mirrorChains().call() == [net.public.chain_id]
        yield net


def _subject() -> str:
    return to_checksum_address(keccak(text=f"fan-out sme {next(_subjects)}")[:20])


def _attest_and_publish(net: Net, who: str) -> None:
    c, registry = net.consortium, net.contract("c.credit_registry")
    valid_until = c.now() + YEAR
    report = keccak(text=f"report of {who}")
    grade = b"A".ljust(32, b"\0")
    c.send(registry.functions.attest(who, 655, grade, valid_until, report), sender=ADMIN)
    publish = c.send(registry.functions.publish(who, net.public.chain_id), sender=ADMIN)
    assert isinstance(net.relay_to_public(publish), CreditAttestation)
    assert net.contract("p.credit_mirror").functions.creditOf(who).call()[4] == VALID


def _registry_events(net: Net, name: str, receipt: Any) -> list[dict[str, Any]]:
    registry = net.contract("c.credit_registry")
    found = getattr(registry.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == registry.address]


def test_a_revocation_is_sent_by_revoke_itself_and_relayed_to_the_public_mirror(
    net: Net,
) -> None:
    c, registry = net.consortium, net.contract("c.credit_registry")
    mirror = net.contract("p.credit_mirror")
    who = _subject()
    _attest_and_publish(net, who)

    revoke = c.send(registry.functions.revoke(who), sender=ADMIN)
    issuer = Address(bytes.fromhex(c.accounts[ADMIN].address[2:]))
    payload = net.relay_to_public(revoke)  # the revoke transaction's own MessageSent
    assert payload == CreditRevocation(Address(bytes.fromhex(who[2:])), 2, issuer)
    (published,) = _registry_events(net, "Published", revoke)
    assert (published["dstChainId"], published["version"]) == (net.public.chain_id, 2)
    score, _, _, _, status = mirror.functions.creditOf(who).call()
    assert (score, status) == (655, REVOKED)
    assert registry.functions.creditOf(who).call() == mirror.functions.creditOf(who).call()


def test_a_revocation_on_a_paused_route_is_recorded_and_publish_sends_it_later(net: Net) -> None:
    c, registry = net.consortium, net.contract("c.credit_registry")
    endpoint, mirror = net.contract("c.endpoint"), net.contract("p.credit_mirror")
    pid = net.public.chain_id
    who = _subject()
    _attest_and_publish(net, who)

    c.send(endpoint.functions.pauseRoute(pid), sender=net.pauser())  # the guardian
    try:
        revoke = c.send(registry.functions.revoke(who), sender=ADMIN)
    finally:
        net.admin("c.endpoint", endpoint.functions.unpauseRoute(pid))
    assert registry.functions.creditOf(who).call()[4] == REVOKED
    (failed,) = _registry_events(net, "PublishFailed", revoke)
    route_paused = keccak(text="RoutePaused(uint256)")[:4] + pid.to_bytes(32, "big")
    assert (failed["dstChainId"], failed["version"], failed["reason"]) == (pid, 2, route_paused)
    assert mirror.functions.creditOf(who).call()[4] == VALID  # nothing was sent

    publish = c.send(registry.functions.publish(who, pid), sender=ADMIN)  # the relayer's retry
    assert isinstance(net.relay_to_public(publish), CreditRevocation)
    assert mirror.functions.creditOf(who).call()[4] == REVOKED
