"""The asset and credit flows across two live chains through the real BridgeEndpoint.

Home = the consortium devnet (vault, receivables, settlement token, credit registry); foreign =
anvil (gateway, wrapped assets, credit mirror). Each chain runs a real ``BridgeEndpoint``; its
header oracle is ``BridgeTestHeaderOracle``, fed by the test with the other chain's real block
receiptsRoot, and every message is delivered with a real receipt proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from web3.contract import Contract

from gateway.domain.payloads import Erc20Transfer, decode_payload
from harness import Chain, Reverted, decode_revert
from tests.contracts._assets_helpers import (
    ADMIN,
    ALICE,
    BOB,
    ISSUER,
    ISSUER_ROLE,
    MINTER_ROLE,
    draft_acknowledged,
    encode_lock_data,
    grade32,
    k,
    raw,
    revert_args,
    send,
)
from tests.contracts._bridge_helpers import sent_messages
from tests.helpers.proofs import receipt_proof

PAUSER = 1
VALID, REVOKED = 1, 3


@dataclass
class Side:
    chain: Chain
    endpoint: Contract
    oracle: Contract  # accepts the OTHER chain's headers

    @property
    def id(self) -> int:
        return self.chain.chain_id


@dataclass
class World:
    home: Side
    foreign: Side
    vault: Contract
    receivable: Contract
    token: Contract
    registry: Contract
    gateway: Contract
    wrapped_token: Contract
    wrapped_receivable: Contract
    mirror: Contract


def _side(chain: Chain) -> Side:
    accounts = chain.accounts
    endpoint = chain.deploy("BridgeEndpoint", accounts[ADMIN].address, accounts[PAUSER].address)
    oracle = chain.deploy("BridgeTestHeaderOracle", sender=ADMIN)
    return Side(chain, endpoint, oracle)


@dataclass
class AssetRoute:
    """The asset contracts of a home/foreign pair, wired both ways: the endpoints route to each
    other, the vault and the gateway are each other's remote, the settlement token and the
    receivable are routed and their wrapped copies registered."""

    vault: Contract
    receivable: Contract
    token: Contract
    gateway: Contract
    wrapped_token: Contract
    wrapped_receivable: Contract


def _asset_route(home: Side, foreign: Side) -> AssetRoute:
    hc, fc = home.chain, foreign.chain
    admin = hc.accounts[ADMIN].address
    send(
        hc,
        home.endpoint.functions.setRoute(foreign.id, foreign.endpoint.address, home.oracle.address),
    )
    send(
        fc,
        foreign.endpoint.functions.setRoute(home.id, home.endpoint.address, foreign.oracle.address),
    )
    vault = hc.deploy("AssetVault", home.endpoint.address, admin)
    receivable = hc.deploy("Receivable", "Receivables", "RCV", admin)
    token = hc.deploy("SettlementToken", "Settlement CNY", "sCNY", 6, admin)
    gateway = fc.deploy("WrappedAssetGateway", foreign.endpoint.address, admin)
    wrapped_token = fc.deploy(
        "WrappedERC20", "Wrapped sCNY", "wsCNY", 6, gateway.address, home.id, token.address
    )
    wrapped_receivable = fc.deploy(
        "WrappedReceivable",
        "Wrapped Receivables",
        "wRCV",
        gateway.address,
        home.id,
        receivable.address,
    )
    send(hc, token.functions.grantRole(MINTER_ROLE, admin))
    send(hc, vault.functions.setRemote(foreign.id, gateway.address))
    send(hc, vault.functions.setRoute(token.address, foreign.id, True))
    send(hc, vault.functions.setRoute(receivable.address, foreign.id, True))
    send(fc, gateway.functions.setRemote(home.id, vault.address))
    send(fc, gateway.functions.registerWrapped(wrapped_token.address))
    send(fc, gateway.functions.registerWrapped(wrapped_receivable.address))
    return AssetRoute(vault, receivable, token, gateway, wrapped_token, wrapped_receivable)


@pytest.fixture(scope="module")
def w(anvil_chain: Chain, consortium_chain: Chain) -> World:
    home, foreign = _side(consortium_chain), _side(anvil_chain)
    hc, fc = home.chain, foreign.chain
    admin = hc.accounts[ADMIN].address
    r = _asset_route(home, foreign)
    registry = hc.deploy("CreditRegistry", home.endpoint.address, admin)
    mirror = fc.deploy("CreditMirror", foreign.endpoint.address, admin)

    issuer = hc.accounts[ISSUER].address
    send(hc, r.receivable.functions.grantRole(ISSUER_ROLE, issuer))
    send(hc, registry.functions.grantRole(ISSUER_ROLE, issuer))
    send(hc, registry.functions.setRemote(foreign.id, mirror.address))
    send(fc, mirror.functions.setRemote(home.id, registry.address))
    return World(
        home,
        foreign,
        r.vault,
        r.receivable,
        r.token,
        registry,
        r.gateway,
        r.wrapped_token,
        r.wrapped_receivable,
        mirror,
    )


def relay(src: Side, dst: Side, receipt: Any) -> tuple[Any, Any]:
    """Prove the MessageSent log of ``receipt`` (mined on ``src``) and deliver it on ``dst``."""
    proven = receipt_proof(src.chain, receipt["transactionHash"])
    [(log_index, msg)] = sent_messages(proven, src.id)
    send(
        dst.chain,
        dst.oracle.functions.post(src.id, proven.block_hash, proven.receipts_root, b"\1" * 32),
    )
    call = dst.endpoint.functions.deliver(
        src.id, proven.block_hash, proven.tx_index, list(proven.nodes), log_index
    )
    return call, msg


def test_settlement_tokens_go_to_the_public_chain_and_come_back(w: World) -> None:
    hc, fc = w.home.chain, w.foreign.chain
    alice, bob = hc.accounts[ALICE].address, hc.accounts[BOB].address
    amount = 5_000_000
    send(hc, w.token.functions.mint(alice, amount))
    send(hc, w.token.functions.approve(w.vault.address, amount), sender=ALICE)
    lock = send(
        hc, w.vault.functions.lockERC20(w.token.address, amount, w.foreign.id, bob), sender=ALICE
    )

    deliver, msg = relay(w.home, w.foreign, lock)
    assert decode_payload(msg.payload) == Erc20Transfer(
        raw(w.token.address), w.home.id, raw(bob), amount
    )
    send(fc, deliver)
    assert w.wrapped_token.functions.balanceOf(bob).call() == amount
    reverted = fc.expect_revert(deliver, "AlreadyDelivered")
    assert reverted.args_[0] == msg.id

    burn = send(
        fc, w.gateway.functions.burnERC20(w.wrapped_token.address, amount, alice), sender=BOB
    )
    before = w.token.functions.balanceOf(alice).call()
    deliver, _ = relay(w.foreign, w.home, burn)
    send(hc, deliver)
    assert w.token.functions.balanceOf(alice).call() == before + amount
    assert w.vault.functions.lockedFor(w.token.address, w.foreign.id).call() == 0
    assert w.wrapped_token.functions.totalSupply().call() == 0


def test_receivable_crosses_with_its_financing_metadata_and_comes_back(w: World) -> None:
    hc, fc = w.home.chain, w.foreign.chain
    alice, bob = hc.accounts[ALICE].address, hc.accounts[BOB].address
    f = (bob, alice, 98_000_00, b"CNY", hc.now() + 60 * 86400, k("crosschain invoice 1"))
    token_id = draft_acknowledged(hc, w.receivable, f, drafter=ISSUER)
    transfer = w.receivable.get_function_by_signature(
        "safeTransferFrom(address,address,uint256,bytes)"
    )
    lock = send(
        hc,
        transfer(alice, w.vault.address, token_id, encode_lock_data(w.foreign.id, bob)),
        sender=ALICE,
    )
    deliver, _ = relay(w.home, w.foreign, lock)
    send(fc, deliver)
    assert w.wrapped_receivable.functions.ownerOf(token_id).call() == bob
    assert w.wrapped_receivable.functions.financingOf(token_id).call() == f

    burn = send(
        fc,
        w.gateway.functions.burnERC721(w.wrapped_receivable.address, token_id, alice),
        sender=BOB,
    )
    deliver, _ = relay(w.foreign, w.home, burn)
    send(hc, deliver)
    assert w.receivable.functions.ownerOf(token_id).call() == alice


def test_credit_attestation_and_revocation_reach_the_public_chain(w: World) -> None:
    hc, fc = w.home.chain, w.foreign.chain
    subject = hc.accounts[BOB].address
    valid_until = hc.now() + 365 * 86400
    send(
        hc,
        w.registry.functions.attest(subject, 777, grade32("A"), valid_until, b"\2" * 32),
        sender=ISSUER,
    )
    publish = send(hc, w.registry.functions.publish(subject, w.foreign.id), sender=ISSUER)
    deliver, _ = relay(w.home, w.foreign, publish)
    send(fc, deliver)
    issuer = hc.accounts[ISSUER].address
    assert w.mirror.functions.creditOf(subject).call() == [
        777,
        grade32("A"),
        issuer,
        valid_until,
        VALID,
    ]

    send(hc, w.registry.functions.revoke(subject), sender=ISSUER)
    publish = send(hc, w.registry.functions.publish(subject, w.foreign.id), sender=ISSUER)
    deliver, _ = relay(w.home, w.foreign, publish)
    send(fc, deliver)
    assert w.mirror.functions.creditOf(subject).call()[4] == REVOKED


def test_a_refused_delivery_stays_deliverable_after_the_fix(w: World) -> None:
    # The vault routes a token whose wrapped twin is not registered on the gateway yet: the
    # endpoint reverts the delivery (ReceiverFailed wrapping UnknownAsset) and records nothing,
    # so once the operator registers the twin, the same proof delivers.
    hc, fc = w.home.chain, w.foreign.chain
    alice, bob = hc.accounts[ALICE].address, hc.accounts[BOB].address
    token = hc.deploy("SettlementToken", "Late", "LATE", 18, hc.accounts[ADMIN].address)
    send(hc, token.functions.grantRole(MINTER_ROLE, hc.accounts[ADMIN].address))
    send(hc, token.functions.mint(alice, 10))
    send(hc, w.vault.functions.setRoute(token.address, w.foreign.id, True))
    send(hc, token.functions.approve(w.vault.address, 10), sender=ALICE)
    lock = send(hc, w.vault.functions.lockERC20(token.address, 10, w.foreign.id, bob), sender=ALICE)
    deliver, msg = relay(w.home, w.foreign, lock)

    with pytest.raises(Reverted) as info:
        send(fc, deliver)
    assert info.value.error == "ReceiverFailed"
    inner = info.value.args_[1]
    assert decode_revert(inner).error == "UnknownAsset"

    wrapped = fc.deploy(
        "WrappedERC20", "wLATE", "wLATE", 18, w.gateway.address, w.home.id, token.address
    )
    send(fc, w.gateway.functions.registerWrapped(wrapped.address))
    send(fc, deliver)
    assert wrapped.functions.balanceOf(bob).call() == 10
    assert revert_args(fc.expect_revert(deliver, "AlreadyDelivered"))[0] == msg.id
