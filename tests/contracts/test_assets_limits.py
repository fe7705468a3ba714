"""Value limits of the asset bridge (TransferLimits in AssetVault and WrappedAssetGateway).

Outbound (lock, burn) beyond the bucket reverts; inbound (release, mint) beyond the bucket or
above the size threshold is held for the hold delay, executable by anyone afterwards and
cancellable by the guardian; a cancelled transfer is paid out only by the admin.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3.logs import DISCARD

from harness import Chain
from tests.contracts._assets_helpers import (
    ADMIN,
    ALICE,
    BOB,
    FOREIGN,
    MALLORY,
    AssetStack,
    deploy_asset_stack,
    last_sent,
    relay,
    send,
)
from tests.contracts.test_assets_bridge import acknowledged

GUARDIAN = 5
INBOUND, OUTBOUND = 0, 1
PENDING, CANCELLED, DONE = 1, 2, 3
NFT_UNITS = 10**6
DELAY = 60
BIG = 10**30


@pytest.fixture
def s(chain: Chain) -> AssetStack:
    return _limited_stack(chain)


def _limited_stack(chain: Chain) -> AssetStack:
    stack = deploy_asset_stack(chain)
    role = chain.w3.keccak(text="GUARDIAN_ROLE")
    for contract in (stack.vault, stack.gateway):
        send(chain, contract.functions.grantRole(role, chain.accounts[GUARDIAN].address))
        send(chain, contract.functions.setHoldDelay(DELAY))
    send(chain, stack.token.functions.mint(chain.accounts[ALICE].address, 10**12))
    send(chain, stack.token.functions.approve(stack.vault.address, 2**256 - 1), sender=ALICE)
    return stack


def _addr(s: AssetStack, i: int) -> str:
    return str(s.chain.accounts[i].address)


def _events(contract: Any, name: str, receipt: Any) -> list[dict[str, Any]]:
    found = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == contract.address]


def _lock_and_deliver(s: AssetStack, amount: int, to: int = BOB) -> tuple[Any, Any]:
    """Lock ``amount`` for FOREIGN and deliver it to the gateway: (message, delivery receipt)."""
    lock = s.vault.functions.lockERC20(s.token.address, amount, FOREIGN, _addr(s, to))
    send(s.chain, lock, sender=ALICE)
    sent = last_sent(s.endpoint)
    return sent, relay(s.chain, s.endpoint, sent, src_chain_id=s.home)


def _wrapped(s: AssetStack, who: int) -> int:
    return int(s.wrapped_token.functions.balanceOf(_addr(s, who)).call())


def test_large_inbound_mint_is_held_then_executed_by_anyone_after_the_delay(
    s: AssetStack,
) -> None:
    limit = (True, BIG, 10**6, 5_000)  # anything above 5,000 waits
    send(s.chain, s.gateway.functions.setLimit(s.wrapped_token.address, s.home, INBOUND, limit))
    _lock_and_deliver(s, 5_000)
    assert _wrapped(s, BOB) == 5_000  # at the threshold: at once

    sent, receipt = _lock_and_deliver(s, 5_001)
    assert _wrapped(s, BOB) == 5_000  # held: nothing minted yet
    (held,) = _events(s.gateway, "TransferHeld", receipt)
    assert (held["messageId"], held["srcChainId"], held["payload"]) == (
        sent.id,
        s.home,
        sent.payload,
    )
    _, ready_at, state = s.gateway.functions.holds(sent.id).call()
    assert state == PENDING and ready_at == held["readyAt"]
    execute = s.gateway.functions.executeHeld(sent.id, s.home, sent.payload)
    err = s.chain.expect_revert(execute, "HoldNotReady", MALLORY)
    assert err.args_ == (sent.id, ready_at)

    s.chain.advance_time(DELAY)
    receipt = send(s.chain, execute, sender=MALLORY)  # anyone executes it
    assert _wrapped(s, BOB) == 10_001
    (minted,) = _events(s.gateway, "Minted", receipt)
    assert (minted["messageId"], minted["recipient"]) == (sent.id, _addr(s, BOB))
    assert s.gateway.functions.holds(sent.id).call()[2] == DONE
    s.chain.expect_revert(execute, "HoldNotFound", MALLORY)  # once only


def test_inbound_beyond_the_bucket_is_held_not_refused(s: AssetStack) -> None:
    limit = (True, 2_000, 0, 0)  # two transfers of 1,000, no refill, no size rule
    send(s.chain, s.gateway.functions.setLimit(s.wrapped_token.address, s.home, INBOUND, limit))
    _lock_and_deliver(s, 1_000)
    _lock_and_deliver(s, 1_000)
    sent, receipt = _lock_and_deliver(s, 1_000)  # the delivery itself succeeds
    assert _wrapped(s, BOB) == 2_000
    assert len(_events(s.gateway, "TransferHeld", receipt)) == 1
    config, available = s.gateway.functions.limit(s.wrapped_token.address, s.home, INBOUND).call()
    assert (list(config), available) == ([True, 2_000, 0, 0], 0)
    s.chain.advance_time(DELAY)
    send(s.chain, s.gateway.functions.executeHeld(sent.id, s.home, sent.payload))
    assert _wrapped(s, BOB) == 3_000
    assert s.gateway.functions.limit(s.wrapped_token.address, s.home, INBOUND).call()[1] == 0


def test_cancelled_release_stays_reserved_until_the_admin_pays_it_out(s: AssetStack) -> None:
    _lock_and_deliver(s, 10_000)  # BOB holds 10,000 wrapped; the vault holds the originals
    limit = (True, BIG, 10**6, 1_000)
    send(s.chain, s.vault.functions.setLimit(s.token.address, FOREIGN, INBOUND, limit))
    burn = s.gateway.functions.burnERC20(s.wrapped_token.address, 10_000, _addr(s, BOB))
    send(s.chain, burn, sender=BOB)
    back = last_sent(s.endpoint)
    relay(s.chain, s.endpoint, back, src_chain_id=FOREIGN)
    # Accounted at delivery: the foreign chain burned it, so nothing can release it twice.
    assert s.vault.functions.lockedFor(s.token.address, FOREIGN).call() == 0
    vault_balance = s.token.functions.balanceOf(s.vault.address).call()

    cancel = s.vault.functions.cancelHeld(back.id)
    for who in (MALLORY, ADMIN):  # only the guardian cancels
        s.chain.expect_revert(cancel, "AccessControlUnauthorizedAccount", who)
    receipt = send(s.chain, cancel, sender=GUARDIAN)
    assert _events(s.vault, "HeldCancelled", receipt)[0]["guardian"] == _addr(s, GUARDIAN)
    s.chain.advance_time(DELAY)
    err = s.chain.expect_revert(
        s.vault.functions.executeHeld(back.id, FOREIGN, back.payload), "HoldNotFound", MALLORY
    )
    assert err.args_ == (back.id, CANCELLED)
    s.chain.expect_revert(cancel, "HoldNotFound", GUARDIAN)

    # Not lost: the admin (the timelock in a deployment) pays it to a recipient it names.
    pay = s.vault.functions.releaseCancelled(back.id, FOREIGN, back.payload, _addr(s, ALICE))
    s.chain.expect_revert(pay, "AccessControlUnauthorizedAccount", GUARDIAN)
    forged = s.vault.functions.releaseCancelled(
        back.id, FOREIGN, back.payload[:-1] + b"\x01", _addr(s, ALICE)
    )
    s.chain.expect_revert(forged, "HoldMismatch", ADMIN)
    alice_before = s.token.functions.balanceOf(_addr(s, ALICE)).call()
    receipt = send(s.chain, pay, sender=ADMIN)
    assert s.token.functions.balanceOf(_addr(s, ALICE)).call() == alice_before + 10_000
    assert s.token.functions.balanceOf(s.vault.address).call() == vault_balance - 10_000
    assert _events(s.vault, "CancelledReleased", receipt)[0]["to"] == _addr(s, ALICE)
    assert s.vault.functions.holds(back.id).call()[2] == DONE
    s.chain.expect_revert(pay, "HoldNotFound", ADMIN)


def test_outbound_lock_beyond_the_bucket_reverts_until_it_refills(s: AssetStack) -> None:
    limit = (True, 2 * 10**6, 10**5, 0)  # burst 2e6, then 1e5 per second
    send(s.chain, s.vault.functions.setLimit(s.token.address, FOREIGN, OUTBOUND, limit))
    lock = s.vault.functions.lockERC20(s.token.address, 2 * 10**6, FOREIGN, _addr(s, BOB))
    send(s.chain, lock, sender=ALICE)
    over = s.vault.functions.lockERC20(s.token.address, 10**6, FOREIGN, _addr(s, BOB))
    err = s.chain.expect_revert(over, "RateLimited", ALICE)
    assert err.args_[1:3] == (FOREIGN, 10**6) and err.args_[3] < 10**6
    s.chain.advance_time(10)
    send(s.chain, over, sender=ALICE)
    assert s.vault.functions.lockedFor(s.token.address, FOREIGN).call() == 3 * 10**6


def test_a_receivable_counts_one_unit_per_token_not_its_face_value(s: AssetStack) -> None:
    limit = (True, NFT_UNITS, 0, 0)  # one receivable, whatever its face value
    send(s.chain, s.vault.functions.setLimit(s.receivable.address, FOREIGN, OUTBOUND, limit))
    send(s.chain, s.receivable.functions.setApprovalForAll(s.vault.address, True), sender=ALICE)
    first, _ = acknowledged(s)
    second, _ = acknowledged(s)
    lock = s.vault.functions.lockERC721
    send(s.chain, lock(s.receivable.address, first, FOREIGN, _addr(s, BOB)), sender=ALICE)
    err = s.chain.expect_revert(
        lock(s.receivable.address, second, FOREIGN, _addr(s, BOB)), "RateLimited", ALICE
    )
    assert err.args_[2:] == (NFT_UNITS, 0)


def test_the_guardian_may_only_tighten_limits_and_the_admin_sets_any(s: AssetStack) -> None:
    token, g = s.token.address, GUARDIAN
    lower, set_ = s.vault.functions.lowerLimit, s.vault.functions.setLimit
    s.chain.expect_revert(
        set_(token, FOREIGN, INBOUND, (True, 1, 1, 1)), "AccessControlUnauthorizedAccount", g
    )
    s.chain.expect_revert(
        lower(token, FOREIGN, INBOUND, (True, 1, 1, 1)), "AccessControlUnauthorizedAccount", MALLORY
    )
    send(s.chain, lower(token, FOREIGN, INBOUND, (True, 1_000, 10, 500)), sender=g)  # was off
    for looser in (
        (False, 0, 0, 0),  # off
        (True, 1_001, 10, 500),  # more capacity
        (True, 1_000, 11, 500),  # faster refill
        (True, 1_000, 10, 501),  # bigger transfers at once
        (True, 1_000, 10, 0),  # no size rule
    ):
        s.chain.expect_revert(lower(token, FOREIGN, INBOUND, looser), "NotTighter", g)
    send(s.chain, lower(token, FOREIGN, INBOUND, (True, 100, 1, 50)), sender=g)
    config, available = s.vault.functions.limit(token, FOREIGN, INBOUND).call()
    assert (list(config), available) == ([True, 100, 1, 50], 100)  # tokens capped
    send(s.chain, set_(token, FOREIGN, INBOUND, (True, 10**9, 10**6, 0)), sender=ADMIN)
    assert list(s.vault.functions.limit(token, FOREIGN, INBOUND).call()[0]) == [
        True,
        10**9,
        10**6,
        0,
    ]
    s.chain.expect_revert(s.vault.functions.setHoldDelay(1), "AccessControlUnauthorizedAccount", g)


# -- review findings ------------------------------------------------------------------------


def test_a_paused_route_freezes_held_transfers_until_the_admin_unpauses(s: AssetStack) -> None:
    # The guardian's pause must stop every value movement of the route, held transfers
    # included: otherwise forged transfers held before the pause pay out once their delay is
    # over unless the guardian wins a race of one cancel per transfer.
    limit = (True, BIG, 10**6, 1_000)
    send(s.chain, s.gateway.functions.setLimit(s.wrapped_token.address, s.home, INBOUND, limit))
    sent, _ = _lock_and_deliver(s, 5_000)
    s.chain.advance_time(DELAY)
    execute = s.gateway.functions.executeHeld(sent.id, s.home, sent.payload)
    ep = s.endpoint.functions
    for pause, unpause in (
        (ep.setRoutePaused(s.home, True), ep.setRoutePaused(s.home, False)),
        (ep.setPaused(True), ep.setPaused(False)),
    ):
        send(s.chain, pause)
        err = s.chain.expect_revert(execute, "HeldPaused", MALLORY)
        assert err.args_ == (s.home,)
        send(s.chain, unpause)
    send(s.chain, execute, sender=MALLORY)
    assert _wrapped(s, BOB) == 5_000


def test_the_guardian_still_cancels_while_the_route_is_paused(s: AssetStack) -> None:
    limit = (True, BIG, 10**6, 1_000)
    send(s.chain, s.gateway.functions.setLimit(s.wrapped_token.address, s.home, INBOUND, limit))
    sent, _ = _lock_and_deliver(s, 5_000)
    send(s.chain, s.endpoint.functions.setPaused(True))
    send(s.chain, s.gateway.functions.cancelHeld(sent.id), sender=GUARDIAN)
    assert s.gateway.functions.holds(sent.id).call()[2] == CANCELLED


def test_the_real_endpoint_answers_the_pause_views_held_transfers_read(chain: Chain) -> None:
    from contracts import load_artifact

    admin, guardian = chain.accounts[ADMIN].address, chain.accounts[GUARDIAN].address
    real = chain.deploy("BridgeEndpoint", admin, guardian)
    remote = chain.w3.to_checksum_address("0x" + "77" * 20)
    send(chain, real.functions.setRoute(FOREIGN, remote, remote))
    view = chain.w3.eth.contract(
        address=real.address, abi=list(load_artifact("AssetsTestEndpoint").abi)
    ).functions
    assert (view.route(FOREIGN).call()[2], view.paused().call()) == (False, False)
    send(chain, real.functions.pauseRoute(FOREIGN), sender=GUARDIAN)
    assert view.route(FOREIGN).call()[2] is True
    send(chain, real.functions.pause(), sender=GUARDIAN)
    assert view.paused().call() is True


def test_a_receivable_cannot_be_locked_through_the_erc20_path(s: AssetStack) -> None:
    # ERC-20 and ERC-721 share the transferFrom selector: locking a receivable as an "amount"
    # would count 1 unit instead of NFT_UNITS, send an ERC-20 transfer the gateway can never
    # mint (AssetKindMismatch) and strand the receivable in the vault for good.
    token_id, _ = acknowledged(s)
    send(s.chain, s.receivable.functions.approve(s.vault.address, token_id), sender=ALICE)
    lock = s.vault.functions.lockERC20(s.receivable.address, token_id, FOREIGN, _addr(s, BOB))
    err = s.chain.expect_revert(lock, "WrongAssetKind", ALICE)
    assert err.args_[1] == FOREIGN
    assert s.receivable.functions.ownerOf(token_id).call() == _addr(s, ALICE)
    assert s.vault.functions.routeEnabled(s.receivable.address, FOREIGN).call() is True
    # and an ERC-20 through the ERC-721 path
    erc721 = s.vault.functions.lockERC721(s.token.address, 1, FOREIGN, _addr(s, BOB))
    s.chain.expect_revert(erc721, "WrongAssetKind", ALICE)
    # the right paths still work
    send(
        s.chain,
        s.vault.functions.lockERC721(s.receivable.address, token_id, FOREIGN, _addr(s, BOB)),
        sender=ALICE,
    )
    assert s.vault.functions.lockedTo(s.receivable.address, token_id).call() == FOREIGN


def test_a_call_simulated_before_the_buckets_last_update_sees_no_refill_not_a_panic(
    anvil_chain: Chain,
) -> None:
    """A node may simulate at a time before its latest block's (anvil's eth_call does under
    load; here a block override says so): the bucket holds what it held at its last update,
    and the call answers as it would then (an underflow panic made relayers park deliverable
    messages). anvil only: the devnet node takes no block overrides."""
    s = _limited_stack(anvil_chain)
    limit = (True, 3 * 10**6, 10**5, 0)
    send(s.chain, s.vault.functions.setLimit(s.token.address, FOREIGN, OUTBOUND, limit))
    lock = s.vault.functions.lockERC20(s.token.address, 10**6, FOREIGN, _addr(s, BOB))
    updated_at = s.chain.w3.eth.get_block(send(s.chain, lock, sender=ALICE)["blockNumber"])[
        "timestamp"
    ]

    def simulate(amount: int) -> dict[str, Any]:
        call = s.vault.functions.lockERC20(s.token.address, amount, FOREIGN, _addr(s, BOB))
        tx = {"from": _addr(s, ALICE), "to": s.vault.address}
        tx["data"] = call._encode_transaction_data()
        early = {"time": hex(updated_at - 30)}
        return dict(s.chain.w3.provider.make_request("eth_call", [tx, "latest", {}, early]))

    assert "error" not in simulate(2 * 10**6)  # what was left at the update
    refused = simulate(2 * 10**6 + 1)["error"]
    rate_limited = s.chain.w3.keccak(text="RateLimited(address,uint256,uint256,uint256)")[:4]
    assert refused["data"].startswith("0x" + rate_limited.hex())
