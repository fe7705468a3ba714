"""The relay services on the devnet, as an operator runs them: `xgate run` (relayer, two
attesters, keeper) as a real process on the xgate.toml that `xgate devnet up` writes (the
shared ``services`` of tests/e2e/conftest.py), and users who only send their own transactions.
Settlement tokens go to the public chain and come back without any test code relaying."""

from __future__ import annotations

from adapters.types import Address
from gateway.domain.payloads import Erc20Release, Erc20Transfer, decode_payload
from gateway.domain.status import MessageStatus
from harness.services import ServiceProcess, wait_until
from tests.e2e.conftest import Devnet, wait_delivered

ADMIN, USER, STRANGER = 0, 7, 3


def raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


def test_settlement_tokens_cross_to_the_public_chain_and_back_through_the_services(
    devnet: Devnet, services: ServiceProcess
) -> None:
    c, p = devnet.consortium, devnet.public
    token, vault = devnet.contract("c.settlement_token"), devnet.contract("c.vault")
    wrapped = devnet.contract("p.wrapped_settlement_token")
    gateway = devnet.contract("p.asset_gateway")
    user, amount = devnet.address(USER), 3_000_000
    c.send(token.functions.mint(user, amount), sender=ADMIN)
    c.send(token.functions.approve(vault.address, amount), sender=USER)
    locked = vault.functions.lockedFor(token.address, devnet.pid).call()
    wrapped_before = wrapped.functions.balanceOf(user).call()
    lock = c.send(vault.functions.lockERC20(token.address, amount, devnet.pid, user), sender=USER)
    assert vault.functions.lockedFor(token.address, devnet.pid).call() == locked + amount

    [out] = wait_delivered(devnet, services, "c", lock)
    assert decode_payload(out.message.payload) == Erc20Transfer(
        raw(token.address), devnet.cid, raw(user), amount
    )
    assert wrapped.functions.balanceOf(user).call() == wrapped_before + amount
    assert devnet.contract("p.endpoint").functions.delivered(out.id).call()
    p.expect_revert(devnet.redeliver("c", out), "AlreadyDelivered", sender=STRANGER)

    before = token.functions.balanceOf(user).call()
    burn = p.send(gateway.functions.burnERC20(wrapped.address, amount, user), sender=USER)
    assert wrapped.functions.balanceOf(user).call() == wrapped_before
    [back] = wait_delivered(devnet, services, "p", burn)
    assert decode_payload(back.message.payload) == Erc20Release(
        raw(token.address), devnet.cid, raw(user), amount
    )
    assert token.functions.balanceOf(user).call() == before + amount
    assert vault.functions.lockedFor(token.address, devnet.pid).call() == locked
    c.expect_revert(devnet.redeliver("p", back), "AlreadyDelivered", sender=STRANGER)

    history = [r.status for r in devnet.records("c", lock) + devnet.records("p", burn)]
    assert history == [MessageStatus.DELIVERED, MessageStatus.DELIVERED]
    # The message gauges are refreshed from the store every few seconds.
    routes = ("consortium->public", "public->consortium")
    wait_until(
        lambda: all(
            f'xgate_messages{{route="{r}",status="delivered"}}' in services.metrics()
            for r in routes
        ),
        30,
        "both routes' delivered messages in /metrics",
        services,
    )
