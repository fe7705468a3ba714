"""End to end: a receivable tokenized on the consortium crosses to the public chain with its
financing metadata and comes back, carried by the relay services (``xgate run``, the shared
``services`` of tests/e2e/conftest.py); and the rules of the deployed light clients that a
relayer cannot bend.

Consortium = the QBFT devnet (instant seal); public = anvil. Consortium -> public messages are
proven against sealed QBFT headers the relayer submits to the deployed ``QbftLightClient``;
public -> consortium messages against anvil headers the attesters (dev accounts 1 and 2,
threshold 2) sign for the deployed ``AttestedHeaderStore``. The contract-level checks below use
the production code paths (``EvmAdapter`` / ``QbftAdapter`` headers and proofs, the EIP-712
header of gateway.domain.typed_data signed by ``LocalSigner``), never a proof path of their own.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from adapters.headers import encode_header
from adapters.lightclient.qbft import validator_set_rlp
from adapters.rlpcodec import keccak
from adapters.signer import LocalSigner
from adapters.types import Address, Hash32
from devnet.keys import dev_accounts
from gateway.domain.payloads import Erc721Release, Erc721Transfer, Financing, decode_payload
from gateway.domain.typed_data import HeaderData, attested_header_message, digest
from harness.services import ServiceProcess
from tests.contracts._assets_helpers import draft_acknowledged
from tests.e2e.conftest import Devnet, wait_delivered
from tests.helpers.proofs import checked_header

ADMIN = 0  # admin, minter and issuer in the dev deployment
ATTESTERS = (1, 2, 3)
STRANGER = 3  # the spare attester: sends nothing for the services
ALICE, BOB = 7, 8
OUTSIDER = 8  # signs as a non-attester


def raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


def header_data(devnet: Devnet, receipt: Any) -> HeaderData:
    """``AttestedHeaderStore.HeaderData`` of the public block of ``receipt`` as an attester
    builds it: from the header the adapter fetched and hashed itself, not the node's word."""
    header, block_hash = checked_header(devnet.public, int(receipt["blockNumber"]))
    assert block_hash == bytes(receipt["blockHash"]), "node served a header of another block"
    return (devnet.pid, header.number, block_hash, header.receipts_root, header.state_root)


def sign_header(devnet: Devnet, data: HeaderData, account: int) -> bytes:
    store = devnet.contract("c.header_store")
    message = attested_header_message(devnet.cid, store.address, data)
    return LocalSigner(dev_accounts(10)[account].private_key).sign_message(message)


def test_deployment_wires_endpoints_oracles_and_attesters_to_each_other(devnet: Devnet) -> None:
    c_endpoint, p_endpoint = devnet.contract("c.endpoint"), devnet.contract("p.endpoint")
    store, lc = devnet.contract("c.header_store"), devnet.contract("p.qbft_light_client")
    assert c_endpoint.functions.route(devnet.pid).call() == [
        p_endpoint.address,
        store.address,
        False,
    ]
    assert p_endpoint.functions.route(devnet.cid).call() == [c_endpoint.address, lc.address, False]
    attester_role = store.functions.ATTESTER_ROLE().call()
    members = {
        store.functions.getRoleMember(attester_role, i).call()
        for i in range(store.functions.attesterCount().call())
    }
    assert members == {devnet.address(i) for i in ATTESTERS}
    assert store.functions.threshold().call() == 2
    assert lc.functions.sourceChainId().call() == devnet.cid
    listed = validator_set_rlp(devnet.validators)
    assert lc.functions.validatorSetHash().call() == keccak(listed)
    # re-anchoring the light client is a time-locked governance action
    assert lc.functions.governance().call() == devnet.contract("p.timelock").address
    # Every asset/credit contract answers only its counterpart on the other chain.
    pairs = (
        ("c.vault", "p.asset_gateway"),
        ("c.credit_registry", "p.credit_mirror"),
    )
    for home, foreign in pairs:
        assert (
            devnet.contract(home).functions.remoteOf(devnet.pid).call()
            == devnet.contract(foreign).address
        )
        assert (
            devnet.contract(foreign).functions.remoteOf(devnet.cid).call()
            == devnet.contract(home).address
        )


def test_receivable_crosses_with_its_financing_metadata_and_comes_back(
    devnet: Devnet, services: ServiceProcess
) -> None:
    c, p = devnet.consortium, devnet.public
    receivable, vault = devnet.contract("c.receivable"), devnet.contract("c.vault")
    wrapped = devnet.contract("p.wrapped_receivable")
    alice, bob = devnet.address(ALICE), devnet.address(BOB)
    due = c.now() + 90 * 86400
    document = bytes(c.w3.keccak(text="e2e invoice INV-2025-0042.pdf"))
    financing = (bob, alice, 125_000_00, b"CNY", due, document)
    token_id = draft_acknowledged(c, receivable, financing, drafter=ADMIN)
    assert token_id > 0

    # Alice locks it in the vault for herself on the public chain (one transaction).
    transfer = receivable.get_function_by_signature(
        "safeTransferFrom(address,address,uint256,bytes)"
    )
    lock_data = c.w3.codec.encode(["uint256", "address"], [devnet.pid, alice])
    lock = c.send(transfer(alice, vault.address, token_id, lock_data), sender=ALICE)
    assert receivable.functions.ownerOf(token_id).call() == vault.address
    assert vault.functions.lockedTo(receivable.address, token_id).call() == devnet.pid

    [out] = wait_delivered(devnet, services, "c", lock)
    assert decode_payload(out.message.payload) == Erc721Transfer(
        raw(receivable.address),
        devnet.cid,
        raw(alice),
        token_id,
        Financing(raw(bob), raw(alice), 125_000_00, "CNY", due, Hash32(document)),
    )
    assert wrapped.functions.ownerOf(token_id).call() == alice
    assert tuple(wrapped.functions.financingOf(token_id).call()) == financing
    assert tuple(wrapped.functions.financingOf(token_id).call()) == tuple(
        receivable.functions.financingOf(token_id).call()
    )
    # Delivered once: the same proof, relayed by anyone, is refused.
    replay = devnet.redeliver("c", out)
    reverted = p.expect_revert(replay, "AlreadyDelivered", sender=STRANGER)
    assert reverted.args_[0] == out.id

    # And back: burning the wrapped receivable releases the original (attested header path).
    gateway = devnet.contract("p.asset_gateway")
    burn = p.send(gateway.functions.burnERC721(wrapped.address, token_id, bob), sender=ALICE)
    [back] = wait_delivered(devnet, services, "p", burn)
    assert decode_payload(back.message.payload) == Erc721Release(
        raw(receivable.address), devnet.cid, raw(bob), token_id
    )
    assert receivable.functions.ownerOf(token_id).call() == bob
    assert vault.functions.lockedTo(receivable.address, token_id).call() == 0
    assert tuple(receivable.functions.financingOf(token_id).call()) == financing
    c.expect_revert(devnet.redeliver("p", back), "AlreadyDelivered", sender=STRANGER)


def test_tampered_consortium_header_is_refused_by_the_deployed_light_client(
    devnet: Devnet,
) -> None:
    c, p = devnet.consortium, devnet.public
    lc = devnet.contract("p.qbft_light_client")
    # A fresh consortium block without a bridge message (the relayer leaves it alone).
    token = devnet.contract("c.settlement_token")
    receipt = c.send(token.functions.mint(devnet.address(BOB), 1), sender=ADMIN)
    header, block_hash = checked_header(c, int(receipt["blockNumber"]))  # QbftAdapter: verified
    assert block_hash == bytes(receipt["blockHash"])
    rlp = encode_header(header)
    # Flip one byte of the receiptsRoot (the only root a forged delivery would need).
    at = rlp.find(header.receipts_root)
    assert at > 0
    forged = rlp[:at] + bytes([rlp[at] ^ 1]) + rlp[at + 1 :]
    devnet.sync_clocks()
    p.expect_revert(lc.functions.submitHeader(forged), "SealerNotValidator", sender=STRANGER)
    assert not lc.functions.isAccepted(block_hash).call()
    p.send(lc.functions.submitHeader(rlp), sender=STRANGER)
    assert lc.functions.isAccepted(block_hash).call()


def test_public_header_is_refused_without_two_distinct_registered_attesters(
    devnet: Devnet,
) -> None:
    c, p = devnet.consortium, devnet.public
    store = devnet.contract("c.header_store")
    # A public block without a bridge message (the attesters leave it alone).
    receipt = p.send(
        devnet.contract("p.settlement_token").functions.mint(devnet.address(BOB), 1),
        sender=ADMIN,
    )
    data = header_data(devnet, receipt)
    assert store.functions.headerDigest(data).call() == digest(
        attested_header_message(devnet.cid, store.address, data)
    )

    def sig(account: int) -> bytes:
        return sign_header(devnet, data, account)

    submit = store.functions.submitHeader
    reverted = c.expect_revert(submit(data, [sig(1), sig(OUTSIDER)]), "NotAttester", ADMIN)
    assert to_checksum_address(reverted.args_[0]) == devnet.address(OUTSIDER)
    reverted = c.expect_revert(submit(data, [sig(2)]), "NotEnoughAttestations", ADMIN)
    assert reverted.args_ == (1, 2)
    c.expect_revert(submit(data, [sig(3), sig(3)]), "DuplicateAttestation", ADMIN)
    # A signature over other data (here: another receiptsRoot) recovers to a non-attester.
    other = (data[0], data[1], data[2], b"\x01" * 32, data[4])
    forged = [sign_header(devnet, other, i) for i in (1, 2)]
    c.expect_revert(submit(data, forged), "NotAttester", ADMIN)
    assert not store.functions.isAccepted(devnet.pid, data[2]).call()

    c.send(submit(data, [sig(3), sig(1)]), sender=ADMIN)
    assert store.functions.isAccepted(devnet.pid, data[2]).call()
    assert store.functions.receiptsRootOf(devnet.pid, data[2]).call() == data[3]
