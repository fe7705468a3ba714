"""Governance of the deployed devnet: admin changes only through the timelock.

The deployment plan hands DEFAULT_ADMIN_ROLE of every contract to each chain's XgateTimelock
(OpenZeppelin TimelockController) and the deployer renounces it; the guardian may pause but
not unpause; the governor may only propose. Value limits are on.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from gateway.cli.deployment import (
    DEVNET_GOVERNOR_ACCOUNT,
    DEVNET_GUARDIAN_ACCOUNT,
    SETTLEMENT_LIMIT,
    deployment_summary,
)
from tests.e2e.test_bridge_roundtrip import Devnet, net  # noqa: F401  (the deployed devnet)

DEPLOYER, GOVERNOR, GUARDIAN, STRANGER = 0, DEVNET_GOVERNOR_ACCOUNT, DEVNET_GUARDIAN_ACCOUNT, 8
ADMIN_ROLE = b"\x00" * 32
INBOUND, OUTBOUND = 0, 1
NO_PREDECESSOR = b"\x00" * 32


def _governance(net: Devnet, chain: str) -> dict[str, Any]:  # noqa: F811
    return dict(deployment_summary(net.deployed)["governance"][chain])


def test_every_admin_role_is_the_timelocks_and_the_deployer_keeps_none(net: Devnet) -> None:  # noqa: F811
    for chain, side in (("consortium", "c"), ("public", "p")):
        gov = _governance(net, chain)
        timelock = net.contract(f"{side}.timelock")
        assert gov["timelock"] == timelock.address
        assert gov["proposers"] == [net.address(GOVERNOR)]
        assert gov["guardian"] == net.address(GUARDIAN)
        assert timelock.functions.getMinDelay().call() == gov["min_delay_s"] > 0
        for key, item in net.deployed.items():
            if key.startswith(side + ".") and to_checksum_address(item.address) in gov["admin_of"]:
                has = net.contract(key).functions.hasRole
                assert has(ADMIN_ROLE, timelock.address).call(), key
                for who in (DEPLOYER, GOVERNOR, GUARDIAN):
                    assert not has(ADMIN_ROLE, net.address(who)).call(), (key, who)
        assert len(gov["admin_of"]) >= 4
    # The timelock administers itself: nobody else holds its admin role.
    timelock = net.contract("p.timelock")
    for who in (DEPLOYER, GOVERNOR, GUARDIAN):
        assert not timelock.functions.hasRole(ADMIN_ROLE, net.address(who)).call()


def test_a_route_change_goes_through_the_timelock_and_nobody_makes_it_directly(
    net: Devnet,  # noqa: F811
) -> None:
    p = net.public
    endpoint, timelock = net.contract("p.endpoint"), net.contract("p.timelock")
    peer, oracle = net.address(STRANGER), net.contract("p.qbft_light_client").address
    change = endpoint.functions.setRoute(4242, peer, oracle)
    for who in (DEPLOYER, GOVERNOR, GUARDIAN):
        p.expect_revert(change, "AccessControlUnauthorizedAccount", who)

    data = change._encode_transaction_data()
    delay = timelock.functions.getMinDelay().call()
    salt = b"\x01" * 32
    args = (endpoint.address, 0, data, NO_PREDECESSOR, salt)
    for who in (DEPLOYER, GUARDIAN):  # only the governor proposes
        p.expect_revert(
            timelock.functions.schedule(*args, delay), "AccessControlUnauthorizedAccount", who
        )
    p.send(timelock.functions.schedule(*args, delay), sender=GOVERNOR)
    execute = timelock.functions.execute(*args)
    p.expect_revert(execute, "TimelockUnexpectedOperationState", STRANGER)  # too early
    assert endpoint.functions.route(4242).call()[0] == "0x" + "00" * 20
    p.advance_time(delay)
    p.send(execute, sender=STRANGER)  # after the delay anyone executes it
    assert endpoint.functions.route(4242).call()[0] == peer


def test_the_guardian_pauses_at_once_but_only_the_timelock_unpauses(net: Devnet) -> None:  # noqa: F811
    c = net.consortium
    endpoint = net.contract("c.endpoint")
    c.send(endpoint.functions.pause(), sender=GUARDIAN)
    for who in (DEPLOYER, GUARDIAN):
        c.expect_revert(endpoint.functions.unpause(), "AccessControlUnauthorizedAccount", who)
    net.govern("c", endpoint.functions.unpause(), salt=b"\x02" * 32)
    assert endpoint.functions.paused().call() is False


def test_value_limits_are_on_and_the_guardian_can_only_tighten_them(net: Devnet) -> None:  # noqa: F811
    c = net.consortium
    vault, token = net.contract("c.vault"), net.contract("c.settlement_token")
    for direction in (INBOUND, OUTBOUND):
        config, _ = vault.functions.limit(token.address, net.pid, direction).call()
        assert list(config) == list(SETTLEMENT_LIMIT.config())
    gov = _governance(net, "consortium")
    assert gov["limits"]["vault"]  # written to .xgate/devnet.json
    looser = (True, SETTLEMENT_LIMIT.capacity * 2, SETTLEMENT_LIMIT.rate, 0)
    c.expect_revert(
        vault.functions.lowerLimit(token.address, net.pid, OUTBOUND, looser), "NotTighter", GUARDIAN
    )
    c.expect_revert(
        vault.functions.setLimit(token.address, net.pid, OUTBOUND, looser),
        "AccessControlUnauthorizedAccount",
        DEPLOYER,
    )
