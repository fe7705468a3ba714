"""An atomic swap of a receivable on the consortium chain against settlement tokens on the
public chain, with the HTLC keeper of the shared `xgate run` process: on the happy path the
keeper completes the second claim for the buyer once the seller's claim revealed the secret;
on the timeout path nobody claims and the keeper refunds both sides to their owners."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode

from adapters.signer import LocalSigner
from adapters.types import Address, ChainId, Hash32
from gateway.cli.devnet_cmd import KEEPER_ACCOUNT
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState
from gateway.domain.swaps import swap_key
from gateway.domain.typed_data import htlc_claim_message
from gateway.store import Store
from harness.services import ServiceProcess, wait_until
from tests.contracts._assets_helpers import draft_acknowledged
from tests.e2e.conftest import Devnet, wait_delivered

ADMIN, ALICE, BOB = 0, 7, 8  # alice sells a receivable to bob
PRICE = 40_000 * 10**6
T_B_AHEAD_S, MARGIN_S = 600, 600  # the keeper's rule asks ~400 s between the timelocks
SWAP_TIMEOUT_S = 60


def raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


@dataclass(frozen=True)
class Deal:
    swap: Swap
    preimage: bytes
    token_id: int


def agree(devnet: Devnet, services: ServiceProcess, *, keeper_claims: bool) -> Deal:
    """Alice's receivable and bob's bridged tokens, and the swap both sides agreed on, recorded
    in the services' store (as the gateway API will)."""
    c = devnet.consortium
    receivable, vault = devnet.contract("c.receivable"), devnet.contract("c.vault")
    token = devnet.contract("c.settlement_token")
    alice, bob = devnet.address(ALICE), devnet.address(BOB)
    document = hashlib.sha256(os.urandom(32)).digest()
    due = c.now() + 60 * 86400
    token_id = draft_acknowledged(c, receivable, (bob, alice, PRICE, b"CNY", due, document))
    c.send(token.functions.mint(bob, PRICE), sender=ADMIN)
    c.send(token.functions.approve(vault.address, PRICE), sender=BOB)
    lock = c.send(vault.functions.lockERC20(token.address, PRICE, devnet.pid, bob), sender=BOB)
    wait_delivered(devnet, services, "c", lock)

    preimage = os.urandom(32)
    hashlock = Hash32(hashlib.sha256(preimage).digest())
    t_b = max(c.now(), devnet.public.now()) + T_B_AHEAD_S
    htlc721, htlc20 = devnet.contract("c.htlc_erc721"), devnet.contract("p.htlc_erc20")
    leg_a = SwapLeg(
        ChainId(devnet.cid), raw(htlc721.address), AssetKind.ERC721, raw(receivable.address),
        token_id, raw(bob), raw(alice), t_b + MARGIN_S,
    )  # fmt: skip
    leg_b = SwapLeg(
        ChainId(devnet.pid), raw(htlc20.address), AssetKind.ERC20,
        raw(devnet.contract("p.wrapped_settlement_token").address), PRICE, raw(alice), raw(bob),
        t_b,
    )  # fmt: skip
    signature = destination = None
    if keeper_claims:
        destination = raw(bob)
        claim = htlc_claim_message(
            "HtlcErc721", devnet.cid, leg_a.htlc, swap_key(hashlock, leg_a),
            raw(devnet.address(KEEPER_ACCOUNT)), destination,
        )  # fmt: skip
        signature = LocalSigner(bytes(c.accounts[BOB].key)).sign_message(claim)
    swap = Swap(
        swap_id=Hash32(os.urandom(32)),
        hashlock=hashlock,
        initiator=raw(alice),
        participant=raw(bob),
        initiator_leg=leg_a,
        participant_leg=leg_b,
        claim_signature=signature,
        claim_destination=destination,
        refund_authorised=not keeper_claims,
    )
    asyncio.run(_store(devnet, lambda store: store.upsert_swap(swap)))
    return Deal(swap, preimage, token_id)


def lock_both(devnet: Devnet, deal: Deal) -> None:
    c, p = devnet.consortium, devnet.public
    a, b = deal.swap.initiator_leg, deal.swap.participant_leg
    receivable = devnet.contract("c.receivable")
    transfer = receivable.get_function_by_signature(
        "safeTransferFrom(address,address,uint256,bytes)"
    )
    data = abi_encode(
        ["bytes32", "address", "uint256"], [deal.swap.hashlock, a.claimer, a.timelock]
    )
    c.send(transfer(devnet.address(ALICE), devnet.contract("c.htlc_erc721").address,
                    deal.token_id, data), sender=ALICE)  # fmt: skip
    wrapped, htlc20 = devnet.contract("p.wrapped_settlement_token"), devnet.contract("p.htlc_erc20")
    p.send(wrapped.functions.approve(htlc20.address, PRICE), sender=BOB)
    p.send(
        htlc20.functions.lock(deal.swap.hashlock, PRICE, wrapped.address, devnet.address(ALICE),
                              b.timelock),
        sender=BOB,
    )  # fmt: skip


async def _store(devnet: Devnet, use):  # type: ignore[no-untyped-def]
    store = await Store.open(devnet.config.store.url, migrate=False)
    try:
        return await use(store)
    finally:
        await store.close()


def swap_state(devnet: Devnet, deal: Deal) -> SwapState | None:
    found = asyncio.run(_store(devnet, lambda store: store.swap(deal.swap.swap_id)))
    return None if found is None else found.state


def test_the_keeper_completes_the_buyers_claim_once_the_seller_revealed_the_secret(
    devnet: Devnet, services: ServiceProcess
) -> None:
    deal = agree(devnet, services, keeper_claims=True)
    lock_both(devnet, deal)
    receivable = devnet.contract("c.receivable")
    wrapped, htlc20 = devnet.contract("p.wrapped_settlement_token"), devnet.contract("p.htlc_erc20")
    alice_before = wrapped.functions.balanceOf(devnet.address(ALICE)).call()
    b = deal.swap.participant_leg
    devnet.public.send(
        htlc20.functions.claim(deal.preimage, PRICE, wrapped.address, devnet.address(BOB),
                               b.timelock),
        sender=ALICE,
    )  # fmt: skip
    assert wrapped.functions.balanceOf(devnet.address(ALICE)).call() == alice_before + PRICE

    wait_until(
        lambda: (
            receivable.functions.ownerOf(deal.token_id).call() == devnet.address(BOB)
            and swap_state(devnet, deal) is SwapState.COMPLETED
        ),
        SWAP_TIMEOUT_S,
        "the keeper's claim of the receivable for bob",
        services,
    )


def test_the_keeper_refunds_both_sides_when_nobody_claims_in_time(
    devnet: Devnet, services: ServiceProcess
) -> None:
    deal = agree(devnet, services, keeper_claims=False)
    lock_both(devnet, deal)
    receivable = devnet.contract("c.receivable")
    wrapped = devnet.contract("p.wrapped_settlement_token")
    bob_before = wrapped.functions.balanceOf(devnet.address(BOB)).call()
    assert receivable.functions.ownerOf(deal.token_id).call() != devnet.address(ALICE)

    # Both chains' clocks pass both timelocks (the public one first: the light client takes
    # no consortium header from its future).
    ahead = deal.swap.initiator_leg.timelock - devnet.consortium.now() + 5
    devnet.public.advance_time(ahead)
    devnet.consortium.advance_time(ahead)
    devnet.sync_clocks()

    wait_until(
        lambda: (
            receivable.functions.ownerOf(deal.token_id).call() == devnet.address(ALICE)
            and wrapped.functions.balanceOf(devnet.address(BOB)).call() == bob_before + PRICE
            and swap_state(devnet, deal) is SwapState.REFUNDED
        ),
        SWAP_TIMEOUT_S,
        "the keeper's refunds to alice and bob",
        services,
    )
