"""Governance of the deployed devnet: admin changes only through the timelock.

The deployment plan hands DEFAULT_ADMIN_ROLE of every contract to each chain's XgateTimelock
(OpenZeppelin TimelockController) and the deployer renounces it; the guardian may pause but
not unpause; the governor may only propose. Value limits are on. The devnet is the e2e
folder's shared one (tests/e2e/conftest.py).
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
from tests.e2e.conftest import Devnet

DEPLOYER, GOVERNOR, GUARDIAN, STRANGER = 0, DEVNET_GOVERNOR_ACCOUNT, DEVNET_GUARDIAN_ACCOUNT, 8
ADMIN_ROLE = b"\x00" * 32
INBOUND, OUTBOUND = 0, 1
NO_PREDECESSOR = b"\x00" * 32


def _governance(devnet: Devnet, chain: str) -> dict[str, Any]:
    return dict(deployment_summary(devnet.deployed)["governance"][chain])


def test_every_admin_role_is_the_timelocks_and_the_deployer_keeps_none(devnet: Devnet) -> None:
    for chain, side in (("consortium", "c"), ("public", "p")):
        gov = _governance(devnet, chain)
        timelock = devnet.contract(f"{side}.timelock")
        assert gov["timelock"] == timelock.address
        assert gov["proposers"] == [devnet.address(GOVERNOR)]
        assert gov["guardian"] == devnet.address(GUARDIAN)
        assert timelock.functions.getMinDelay().call() == gov["min_delay_s"] > 0
        for key, item in devnet.deployed.items():
            if key.startswith(side + ".") and to_checksum_address(item.address) in gov["admin_of"]:
                has = devnet.contract(key).functions.hasRole
                assert has(ADMIN_ROLE, timelock.address).call(), key
                for who in (DEPLOYER, GOVERNOR, GUARDIAN):
                    assert not has(ADMIN_ROLE, devnet.address(who)).call(), (key, who)
        assert len(gov["admin_of"]) >= 4
    # The timelock administers itself: nobody else holds its admin role.
    timelock = devnet.contract("p.timelock")
    for who in (DEPLOYER, GOVERNOR, GUARDIAN):
        assert not timelock.functions.hasRole(ADMIN_ROLE, devnet.address(who)).call()


def test_a_route_change_goes_through_the_timelock_and_nobody_makes_it_directly(
    devnet: Devnet,
) -> None:
    p = devnet.public
    endpoint, timelock = devnet.contract("p.endpoint"), devnet.contract("p.timelock")
    peer, oracle = devnet.address(STRANGER), devnet.contract("p.qbft_light_client").address
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
    devnet.sync_clocks()  # the services' light clients take no header from the future
    p.send(execute, sender=STRANGER)  # after the delay anyone executes it
    assert endpoint.functions.route(4242).call()[0] == peer


def test_the_guardian_pauses_at_once_but_only_the_timelock_unpauses(devnet: Devnet) -> None:
    c = devnet.consortium
    endpoint = devnet.contract("c.endpoint")
    c.send(endpoint.functions.pause(), sender=GUARDIAN)
    for who in (DEPLOYER, GUARDIAN):
        c.expect_revert(endpoint.functions.unpause(), "AccessControlUnauthorizedAccount", who)
    devnet.govern("c", endpoint.functions.unpause(), salt=b"\x02" * 32)
    assert endpoint.functions.paused().call() is False


def test_value_limits_are_on_and_the_guardian_can_only_tighten_them(devnet: Devnet) -> None:
    c = devnet.consortium
    vault, token = devnet.contract("c.vault"), devnet.contract("c.settlement_token")
    for direction in (INBOUND, OUTBOUND):
        config, _ = vault.functions.limit(token.address, devnet.pid, direction).call()
        assert list(config) == list(SETTLEMENT_LIMIT.config())
    gov = _governance(devnet, "consortium")
    assert gov["limits"]["vault"]  # written to .xgate/devdevnet.json
    looser = (True, SETTLEMENT_LIMIT.capacity * 2, SETTLEMENT_LIMIT.rate, 0)
    c.expect_revert(
        vault.functions.lowerLimit(token.address, devnet.pid, OUTBOUND, looser),
        "NotTighter",
        GUARDIAN,
    )
    c.expect_revert(
        vault.functions.setLimit(token.address, devnet.pid, OUTBOUND, looser),
        "AccessControlUnauthorizedAccount",
        DEPLOYER,
    )
