"""End to end: the contracts exactly as ``xgate devnet up`` deploys and wires them, driven as a
relayer would, with the real light clients on both sides.

Consortium = the QBFT devnet (instant seal); public = anvil. Consortium -> public messages are
proven against a sealed QBFT header accepted by the deployed ``QbftLightClient``; public ->
consortium messages against an anvil header signed by the dev attesters (accounts 1..3,
threshold 2) and accepted by the deployed ``AttestedHeaderStore``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from adapters.lightclient.qbft import validator_set_rlp
from adapters.rlpcodec import keccak
from adapters.types import Address
from gateway.cli.deployment import DEVNET_GOVERNOR_ACCOUNT, Deployed
from gateway.cli.devnet_cmd import deploy_contracts
from gateway.domain.payloads import (
    CreditAttestation,
    Erc20Release,
    Erc20Transfer,
    decode_payload,
)
from gateway.domain.typed_data import attested_header_message, digest
from harness import Chain, make_chain, sync_clock
from tests.e2e._relay import (
    Outbound,
    attest_public_header,
    attested_header,
    consortium_header_rlp,
    deliver_call,
    outbound,
    sign_header,
    submit_consortium_header,
)

ADMIN = 0  # admin, minter and issuer in the dev deployment
ATTESTERS = (1, 2, 3)
ALICE, BOB, CAROL, STRANGER = 5, 6, 7, 8
VALID, REVOKED = 1, 3  # CreditStatus
GOVERNOR = DEVNET_GOVERNOR_ACCOUNT  # proposes to the timelocks
NO_PREDECESSOR = b"\x00" * 32


def raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


@dataclass
class Devnet:
    consortium: Chain
    public: Chain
    deployed: dict[str, Deployed]
    validators: tuple[bytes, ...]  # the consortium's QBFT validators

    def contract(self, key: str) -> Contract:
        item = self.deployed[key]
        chain = self.consortium if key.startswith("c.") else self.public
        return chain.at(item.artifact, to_checksum_address(item.address))

    @property
    def cid(self) -> int:
        return self.consortium.chain_id

    @property
    def pid(self) -> int:
        return self.public.chain_id

    # -- relaying (test code: the production relayer is a later issue) ----------------------

    def to_public(self, receipt: Any) -> tuple[Any, Outbound]:
        """The public ``deliver`` call of a consortium transaction's message, its block
        accepted by the light client."""
        out = outbound(self.consortium, receipt)
        lc = self.contract("p.qbft_light_client")
        submit_consortium_header(self.public, lc, self.consortium, out.proven.block_hash)
        return deliver_call(self.contract("p.endpoint"), self.cid, out), out

    def to_consortium(self, receipt: Any, signers: tuple[int, ...]) -> tuple[Any, Outbound]:
        """Prove the message sent by a public transaction and have the attesters ``signers``
        sign its block for the consortium's header store; returns the ``deliver`` call."""
        out = outbound(self.public, receipt)
        attest_public_header(
            self.consortium,
            self.contract("c.header_store"),
            self.public,
            out.proven.block_hash,
            [self.consortium.accounts[i] for i in signers],
        )
        return deliver_call(self.contract("c.endpoint"), self.pid, out), out

    def address(self, account: int) -> str:
        return str(self.consortium.accounts[account].address)

    def govern(self, side: str, call: Any, salt: bytes) -> None:
        """An admin ``call`` on chain ``side`` ("c" or "p"): the governor schedules it on that
        chain's timelock (the deployment made it every contract's admin), anyone executes it
        after the delay."""
        chain = self.consortium if side == "c" else self.public
        timelock = self.contract(f"{side}.timelock")
        args = (call.address, 0, call._encode_transaction_data(), NO_PREDECESSOR, salt)
        delay = timelock.functions.getMinDelay().call()
        chain.send(timelock.functions.schedule(*args, delay), sender=GOVERNOR)
        chain.advance_time(delay)
        chain.send(timelock.functions.execute(*args), sender=STRANGER)


@pytest.fixture(scope="module")
async def net() -> AsyncIterator[Devnet]:
    from devnet.launcher import start_consortium, start_public

    # The same nodes and the same deployment as `xgate devnet up` (instant seal for speed).
    async with (
        start_consortium(config={"instant_seal": True}) as consortium,
        start_public(prefer_anvil=True) as public,  # anvil: make installs it
    ):
        deployed = await deploy_contracts(consortium, public)
        yield Devnet(
            make_chain("consortium", consortium.url, poa=True),
            make_chain("public", public.url),
            deployed,
            consortium.validators,
        )


def bridge_settlement_to_public(net: Devnet, holder: int, amount: int) -> Outbound:
    """Mint ``amount`` to ``holder`` on the consortium, lock it, relay it to ``holder``."""
    c = net.consortium
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    user = net.address(holder)
    c.send(token.functions.mint(user, amount), sender=ADMIN)
    c.send(token.functions.approve(vault.address, amount), sender=holder)
    lock = c.send(vault.functions.lockERC20(token.address, amount, net.pid, user), sender=holder)
    deliver, out = net.to_public(lock)
    net.public.send(deliver, sender=STRANGER)  # anyone may relay
    return out


def test_deployment_wires_endpoints_oracles_and_attesters_to_each_other(net: Devnet) -> None:
    c_endpoint, p_endpoint = net.contract("c.endpoint"), net.contract("p.endpoint")
    store, lc = net.contract("c.header_store"), net.contract("p.qbft_light_client")
    assert c_endpoint.functions.route(net.pid).call() == [p_endpoint.address, store.address, False]
    assert p_endpoint.functions.route(net.cid).call() == [c_endpoint.address, lc.address, False]
    attester_role = store.functions.ATTESTER_ROLE().call()
    members = {
        store.functions.getRoleMember(attester_role, i).call()
        for i in range(store.functions.attesterCount().call())
    }
    assert members == {net.address(i) for i in ATTESTERS}
    assert store.functions.threshold().call() == 2
    assert lc.functions.sourceChainId().call() == net.cid
    listed = validator_set_rlp(net.validators)
    assert lc.functions.validatorSetHash().call() == keccak(listed)
    # re-anchoring the light client is a time-locked governance action
    assert lc.functions.governance().call() == net.contract("p.timelock").address
    # Every asset/credit contract answers only its counterpart on the other chain.
    pairs = (
        ("c.vault", "p.asset_gateway"),
        ("c.credit_registry", "p.credit_mirror"),
    )
    for home, foreign in pairs:
        assert (
            net.contract(home).functions.remoteOf(net.pid).call() == net.contract(foreign).address
        )
        assert (
            net.contract(foreign).functions.remoteOf(net.cid).call() == net.contract(home).address
        )


def test_settlement_tokens_locked_on_the_consortium_are_minted_on_the_public_chain(
    net: Devnet,
) -> None:
    c, p = net.consortium, net.public
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    wrapped = net.contract("p.wrapped_settlement_token")
    alice, amount = net.address(ALICE), 2_500_000
    c.send(token.functions.mint(alice, amount), sender=ADMIN)
    c.send(token.functions.approve(vault.address, amount), sender=ALICE)
    lock = c.send(vault.functions.lockERC20(token.address, amount, net.pid, alice), sender=ALICE)
    assert token.functions.balanceOf(vault.address).call() >= amount

    out = outbound(c, lock)
    assert decode_payload(out.message.payload) == Erc20Transfer(
        raw(token.address), net.cid, raw(alice), amount
    )
    deliver = deliver_call(net.contract("p.endpoint"), net.cid, out)
    # Not before the light client accepted the block.
    p.expect_revert(deliver, "UnknownHeader", sender=STRANGER)

    submit_consortium_header(p, net.contract("p.qbft_light_client"), c, out.proven.block_hash)
    before = wrapped.functions.balanceOf(alice).call()
    p.send(deliver, sender=STRANGER)
    assert wrapped.functions.balanceOf(alice).call() == before + amount
    assert net.contract("p.endpoint").functions.delivered(out.message.id).call()
    reverted = p.expect_revert(deliver, "AlreadyDelivered", sender=STRANGER)
    assert reverted.args_[0] == out.message.id


def test_tampered_consortium_header_is_refused_by_the_deployed_light_client(net: Devnet) -> None:
    c, p = net.consortium, net.public
    lc = net.contract("p.qbft_light_client")
    # A fresh consortium block (any transaction seals one).
    token = net.contract("c.settlement_token")
    receipt = c.send(token.functions.mint(net.address(CAROL), 1), sender=ADMIN)
    rlp = consortium_header_rlp(c, bytes(receipt["blockHash"]))
    # Flip one byte of the receiptsRoot (the only root a forged delivery would need).
    at = rlp.find(bytes(c.w3.eth.get_block(receipt["blockHash"])["receiptsRoot"]))
    assert at > 0
    forged = rlp[:at] + bytes([rlp[at] ^ 1]) + rlp[at + 1 :]
    sync_clock(p, c)
    p.expect_revert(lc.functions.submitHeader(forged), "SealerNotValidator", sender=STRANGER)
    assert not lc.functions.isAccepted(bytes(receipt["blockHash"])).call()
    p.send(lc.functions.submitHeader(rlp), sender=STRANGER)
    assert lc.functions.isAccepted(bytes(receipt["blockHash"])).call()


def test_burnt_wrapped_tokens_are_released_on_the_consortium_through_attested_headers(
    net: Devnet,
) -> None:
    c, p = net.consortium, net.public
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    wrapped, gateway = net.contract("p.wrapped_settlement_token"), net.contract("p.asset_gateway")
    bob, amount = net.address(BOB), 7_000_000
    bridge_settlement_to_public(net, BOB, amount)
    locked = vault.functions.lockedFor(token.address, net.pid).call()

    burn = p.send(gateway.functions.burnERC20(wrapped.address, amount, bob), sender=BOB)
    assert wrapped.functions.balanceOf(bob).call() == 0
    out = outbound(p, burn)
    assert decode_payload(out.message.payload) == Erc20Release(
        raw(token.address), net.cid, raw(bob), amount
    )
    deliver = deliver_call(net.contract("c.endpoint"), net.pid, out)
    c.expect_revert(deliver, "UnknownHeader", sender=STRANGER)

    store = net.contract("c.header_store")
    data = attested_header(p, out.proven.block_hash)
    assert store.functions.headerDigest(data).call() == digest(
        attested_header_message(net.cid, store.address, data)
    )
    sigs = [sign_header(store, net.cid, data, c.accounts[i]) for i in (1, 2)]
    c.send(store.functions.submitHeader(data, sigs), sender=STRANGER)
    assert store.functions.receiptsRootOf(net.pid, out.proven.block_hash).call() == (
        out.proven.receipts_root
    )

    before = token.functions.balanceOf(bob).call()
    c.send(deliver, sender=STRANGER)
    assert token.functions.balanceOf(bob).call() == before + amount
    assert vault.functions.lockedFor(token.address, net.pid).call() == locked - amount
    c.expect_revert(deliver, "AlreadyDelivered", sender=STRANGER)


def test_public_header_is_refused_without_two_distinct_registered_attesters(
    net: Devnet,
) -> None:
    c, p = net.consortium, net.public
    store = net.contract("c.header_store")
    receipt = p.send(
        net.contract("p.settlement_token").functions.mint(net.address(CAROL), 1), sender=ADMIN
    )
    data = attested_header(p, bytes(receipt["blockHash"]))

    def sig(account: int) -> bytes:
        return sign_header(store, net.cid, data, c.accounts[account])

    submit = store.functions.submitHeader
    reverted = c.expect_revert(submit(data, [sig(1), sig(STRANGER)]), "NotAttester", sender=ADMIN)
    assert to_checksum_address(reverted.args_[0]) == net.address(STRANGER)
    reverted = c.expect_revert(submit(data, [sig(2)]), "NotEnoughAttestations", sender=ADMIN)
    assert reverted.args_ == (1, 2)
    c.expect_revert(submit(data, [sig(3), sig(3)]), "DuplicateAttestation", sender=ADMIN)
    # A signature over other data (here: another receiptsRoot) recovers to a non-attester.
    other = (data[0], data[1], data[2], b"\x01" * 32, data[4])
    forged = [sign_header(store, net.cid, other, c.accounts[i]) for i in (1, 2)]
    c.expect_revert(submit(data, forged), "NotAttester", sender=ADMIN)
    assert not store.functions.isAccepted(net.pid, data[2]).call()

    c.send(submit(data, [sig(3), sig(1)]), sender=ADMIN)
    assert store.functions.isAccepted(net.pid, data[2]).call()


def test_receivable_crosses_with_its_financing_metadata_and_comes_back(net: Devnet) -> None:
    c, p = net.consortium, net.public
    receivable, vault = net.contract("c.receivable"), net.contract("c.vault")
    wrapped = net.contract("p.wrapped_receivable")
    alice, bob = net.address(ALICE), net.address(BOB)
    due = int(c.w3.eth.get_block("latest")["timestamp"]) + 90 * 86400
    document = c.w3.keccak(text="e2e invoice INV-2025-0042.pdf")
    financing = (bob, alice, 125_000_00, b"CNY", due, bytes(document))
    c.send(receivable.functions.tokenize(alice, financing), sender=ADMIN)
    token_id = receivable.functions.tokenOfDocument(document).call()
    assert token_id > 0

    transfer = receivable.get_function_by_signature(
        "safeTransferFrom(address,address,uint256,bytes)"
    )
    lock_data = c.w3.codec.encode(["uint256", "address"], [net.pid, alice])
    lock = c.send(transfer(alice, vault.address, token_id, lock_data), sender=ALICE)
    assert receivable.functions.ownerOf(token_id).call() == vault.address
    assert vault.functions.lockedTo(receivable.address, token_id).call() == net.pid

    deliver, _ = net.to_public(lock)
    p.send(deliver, sender=STRANGER)
    assert wrapped.functions.ownerOf(token_id).call() == alice
    assert tuple(wrapped.functions.financingOf(token_id).call()) == financing
    assert tuple(wrapped.functions.financingOf(token_id).call()) == tuple(
        receivable.functions.financingOf(token_id).call()
    )

    # And back: burning the wrapped receivable releases the original (attested header path).
    gateway = net.contract("p.asset_gateway")
    burn = p.send(gateway.functions.burnERC721(wrapped.address, token_id, bob), sender=ALICE)
    deliver, _ = net.to_consortium(burn, signers=(2, 3))
    c.send(deliver, sender=STRANGER)
    assert receivable.functions.ownerOf(token_id).call() == bob
    assert vault.functions.lockedTo(receivable.address, token_id).call() == 0


def test_credit_attestation_and_revocation_reach_the_public_mirror(net: Devnet) -> None:
    c, p = net.consortium, net.public
    registry, mirror = net.contract("c.credit_registry"), net.contract("p.credit_mirror")
    subject, issuer = net.address(CAROL), net.address(ADMIN)
    grade = b"AA-".ljust(32, b"\0")
    valid_until = int(c.w3.eth.get_block("latest")["timestamp"]) + 365 * 86400
    report = bytes(c.w3.keccak(text="e2e rating report"))
    c.send(registry.functions.attest(subject, 742, grade, valid_until, report), sender=ADMIN)
    publish = c.send(registry.functions.publish(subject, net.pid), sender=ADMIN)

    deliver, out = net.to_public(publish)
    payload = decode_payload(out.message.payload)
    assert isinstance(payload, CreditAttestation)
    assert (payload.score, payload.grade, payload.valid_until) == (742, "AA-", valid_until)
    p.send(deliver, sender=STRANGER)
    assert mirror.functions.creditOf(subject).call() == [742, grade, issuer, valid_until, VALID]
    assert registry.functions.creditOf(subject).call() == mirror.functions.creditOf(subject).call()

    c.send(registry.functions.revoke(subject), sender=ADMIN)
    publish = c.send(registry.functions.publish(subject, net.pid), sender=ADMIN)
    deliver, _ = net.to_public(publish)
    p.send(deliver, sender=STRANGER)
    score, _, _, _, status = mirror.functions.creditOf(subject).call()
    assert status == REVOKED
    assert score == 742  # the revoked attestation's figures stay visible
    assert registry.functions.creditOf(subject).call()[4] == REVOKED
