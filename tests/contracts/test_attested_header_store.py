"""AttestedHeaderStore: public-chain headers accepted on k-of-m EIP-712 attestations.

Attesters sign off chain with eth_account (typed data); anyone relays. Each test uses its own
header numbers so one deployment per chain serves the tests that do not change the config.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import SignableMessage
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from adapters.bft import SECP256K1_N
from adapters.rlpcodec import keccak
from gateway.domain.typed_data import attested_header_message
from harness import Chain, Reverted
from tests.contracts._lc_helpers import addresses, lc_keys

ATTESTERS = lc_keys(3, b"xgate lc test attester")
OUTSIDER = lc_keys(1, b"xgate lc test not an attester")[0]
ADMIN, RELAYER, STRANGER = 0, 1, 2
PUBLIC_CHAIN = 31337
_numbers = itertools.count(1000)


def checksum(address: bytes) -> str:
    return Web3.to_checksum_address(address)


def deploy(chain: Chain, threshold: int = 2) -> Contract:
    admin = chain.accounts[ADMIN].address
    attesters = [checksum(a) for a in addresses(ATTESTERS)]
    return chain.deploy("AttestedHeaderStore", admin, attesters, threshold)


@pytest.fixture(scope="module", params=["anvil", "consortium"])
def store(request: pytest.FixtureRequest) -> tuple[Chain, Contract]:
    """A 2-of-3 store whose configuration no test changes."""
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    return chain, deploy(chain)


def header(number: int | None = None, salt: bytes = b"") -> dict[str, Any]:
    n = next(_numbers) if number is None else number
    tag = n.to_bytes(8, "big") + salt
    return {
        "chainId": PUBLIC_CHAIN,
        "number": n,
        "blockHash": keccak(b"hash" + tag),
        "receiptsRoot": keccak(b"receipts" + tag),
        "stateRoot": keccak(b"state" + tag),
    }


def as_tuple(h: dict[str, Any]) -> tuple[Any, ...]:
    return (h["chainId"], h["number"], h["blockHash"], h["receiptsRoot"], h["stateRoot"])


def typed(h: dict[str, Any], chain_id: int, contract: str) -> SignableMessage:
    return attested_header_message(chain_id, contract, as_tuple(h))


def sign(key: bytes, h: dict[str, Any], chain: Chain, store: Contract) -> bytes:
    return bytes(Account.sign_message(typed(h, chain.chain_id, store.address), key).signature)


def sigs(keys: list[bytes], h: dict[str, Any], chain: Chain, store: Contract) -> list[bytes]:
    return [sign(k, h, chain, store) for k in keys]


def expect_unchanged_revert(
    chain: Chain, lc: Contract, call: Any, error: str, h: dict[str, Any]
) -> Reverted:
    before = (
        lc.functions.isAccepted(h["chainId"], h["blockHash"]).call(),
        lc.functions.pendingAttestations(as_tuple(h)).call(),
    )
    reverted = chain.expect_revert(call, error, sender=RELAYER)
    after = (
        lc.functions.isAccepted(h["chainId"], h["blockHash"]).call(),
        lc.functions.pendingAttestations(as_tuple(h)).call(),
    )
    assert after == before
    return reverted


# --- acceptance ----------------------------------------------------------------------------------


def test_header_with_k_signatures_at_once_is_accepted(store: tuple[Chain, Contract]) -> None:
    chain, lc = store
    h = header()
    receipt = chain.send(
        lc.functions.submitHeader(as_tuple(h), sigs(ATTESTERS[1:], h, chain, lc)), sender=RELAYER
    )
    (event,) = lc.events.HeaderAccepted().process_receipt(receipt, errors=DISCARD)
    assert (event.args.chainId, event.args.number, event.args.blockHash) == (
        PUBLIC_CHAIN,
        h["number"],
        h["blockHash"],
    )
    assert lc.functions.receiptsRootOf(PUBLIC_CHAIN, h["blockHash"]).call() == h["receiptsRoot"]
    assert lc.functions.stateRootOf(PUBLIC_CHAIN, h["blockHash"]).call() == h["stateRoot"]
    assert lc.functions.headerAt(PUBLIC_CHAIN, h["number"]).call() == h["blockHash"]
    expect_unchanged_revert(
        chain,
        lc,
        lc.functions.submitHeader(as_tuple(h), sigs(ATTESTERS[:2], h, chain, lc)),
        "HeaderAlreadyAccepted",
        h,
    )


def test_attestations_accumulate_until_the_threshold(store: tuple[Chain, Contract]) -> None:
    chain, lc = store
    h = header()
    first, second = sigs(ATTESTERS[:2], h, chain, lc)
    chain.send(lc.functions.attest(as_tuple(h), first), sender=RELAYER)
    assert lc.functions.pendingAttestations(as_tuple(h)).call() == 1
    assert not lc.functions.isAccepted(PUBLIC_CHAIN, h["blockHash"]).call()
    with pytest.raises(Reverted) as info:
        chain.check_call(lc.functions.receiptsRootOf(PUBLIC_CHAIN, h["blockHash"]))
    assert info.value.error == "UnknownHeader"
    receipt = chain.send(lc.functions.attest(as_tuple(h), second), sender=STRANGER)
    assert lc.events.HeaderAccepted().process_receipt(receipt, errors=DISCARD)
    assert lc.functions.isAccepted(PUBLIC_CHAIN, h["blockHash"]).call()


# --- bad input -----------------------------------------------------------------------------------


def test_attester_signing_twice_is_rejected(store: tuple[Chain, Contract]) -> None:
    chain, lc = store
    h = header()
    one = sign(ATTESTERS[0], h, chain, lc)
    expect_unchanged_revert(
        chain, lc, lc.functions.submitHeader(as_tuple(h), [one, one]), "DuplicateAttestation", h
    )
    chain.send(lc.functions.attest(as_tuple(h), one), sender=RELAYER)
    expect_unchanged_revert(
        chain, lc, lc.functions.attest(as_tuple(h), one), "DuplicateAttestation", h
    )
    # the same attester's second, different signature (s -> n - s twin) is refused too
    twin = (
        one[:32]
        + (SECP256K1_N - int.from_bytes(one[32:64], "big")).to_bytes(32, "big")
        + bytes([one[64] ^ 1])
    )
    with pytest.raises(Reverted) as info:
        chain.check_call(lc.functions.attest(as_tuple(h), twin))
    assert info.value.error == "ECDSAInvalidSignatureS"


def test_non_attester_signature_is_rejected(store: tuple[Chain, Contract]) -> None:
    chain, lc = store
    h = header()
    outsider = sign(OUTSIDER, h, chain, lc)
    good = sign(ATTESTERS[0], h, chain, lc)
    expect_unchanged_revert(
        chain, lc, lc.functions.submitHeader(as_tuple(h), [good, outsider]), "NotAttester", h
    )
    expect_unchanged_revert(chain, lc, lc.functions.attest(as_tuple(h), outsider), "NotAttester", h)


def test_too_few_signatures_are_rejected(store: tuple[Chain, Contract]) -> None:
    chain, lc = store
    h = header()
    expect_unchanged_revert(
        chain,
        lc,
        lc.functions.submitHeader(as_tuple(h), sigs(ATTESTERS[:1], h, chain, lc)),
        "NotEnoughAttestations",
        h,
    )


def test_signature_over_other_fields_or_domain_does_not_count(
    store: tuple[Chain, Contract],
) -> None:
    chain, lc = store
    h = header()
    other_root = {**h, "receiptsRoot": keccak(b"forged")}
    forged = sigs(ATTESTERS[:2], other_root, chain, lc)
    expect_unchanged_revert(
        chain, lc, lc.functions.submitHeader(as_tuple(h), forged), "NotAttester", h
    )
    wrong_domain = [
        bytes(Account.sign_message(typed(h, chain.chain_id + 1, lc.address), k).signature)
        for k in ATTESTERS[:2]
    ]
    expect_unchanged_revert(
        chain, lc, lc.functions.submitHeader(as_tuple(h), wrong_domain), "NotAttester", h
    )
    expect_unchanged_revert(
        chain,
        lc,
        lc.functions.submitHeader(as_tuple(h), [b"\x01" * 64, sign(ATTESTERS[0], h, chain, lc)]),
        "ECDSAInvalidSignatureLength",
        h,
    )


def test_conflicting_header_disputes_the_height(chain: Chain) -> None:
    lc = deploy(chain)
    first = header(number=500)
    chain.send(lc.functions.submitHeader(as_tuple(first), sigs(ATTESTERS[:2], first, chain, lc)))
    rival = header(number=500, salt=b"rival")
    receipt = chain.send(
        lc.functions.submitHeader(as_tuple(rival), sigs(ATTESTERS[1:], rival, chain, lc)),
        sender=RELAYER,
    )
    (event,) = lc.events.ConflictingHeader().process_receipt(receipt, errors=DISCARD)
    assert (event.args.acceptedHash, event.args.conflictingHash) == (
        first["blockHash"],
        rival["blockHash"],
    )
    for h in (first, rival):  # neither is usable now
        assert not lc.functions.isAccepted(PUBLIC_CHAIN, h["blockHash"]).call()
    third = header(number=500, salt=b"third")
    expect_unchanged_revert(
        chain,
        lc,
        lc.functions.submitHeader(as_tuple(third), sigs(ATTESTERS[:2], third, chain, lc)),
        "HeaderDisputed",
        third,
    )
    chain.expect_revert(
        lc.functions.clearDispute(PUBLIC_CHAIN, 500),
        "AccessControlUnauthorizedAccount",
        sender=STRANGER,
    )
    chain.send(lc.functions.clearDispute(PUBLIC_CHAIN, 500))
    chain.send(lc.functions.submitHeader(as_tuple(third), sigs(ATTESTERS[:2], third, chain, lc)))
    assert lc.functions.headerAt(PUBLIC_CHAIN, 500).call() == third["blockHash"]


# --- administration ------------------------------------------------------------------------------


def test_admin_manages_attesters_and_threshold_with_events(chain: Chain) -> None:
    lc = deploy(chain)
    assert (lc.functions.attesterCount().call(), lc.functions.threshold().call()) == (3, 2)
    role = lc.functions.ATTESTER_ROLE().call()
    newcomer = checksum(addresses([OUTSIDER])[0])
    chain.expect_revert(
        lc.functions.grantRole(role, newcomer), "AccessControlUnauthorizedAccount", sender=STRANGER
    )
    chain.expect_revert(
        lc.functions.setThreshold(2), "AccessControlUnauthorizedAccount", sender=STRANGER
    )
    chain.expect_revert(lc.functions.setThreshold(0), "InvalidThreshold")
    chain.expect_revert(lc.functions.setThreshold(4), "InvalidThreshold")
    receipt = chain.send(lc.functions.grantRole(role, newcomer))
    assert lc.events.RoleGranted().process_receipt(receipt, errors=DISCARD)
    receipt = chain.send(lc.functions.setThreshold(4))
    (event,) = lc.events.ThresholdChanged().process_receipt(receipt, errors=DISCARD)
    assert (event.args.previous, event.args.threshold) == (2, 4)
    victim = checksum(addresses(ATTESTERS[:1])[0])
    chain.expect_revert(lc.functions.revokeRole(role, victim), "InvalidThreshold")  # lower it first
    chain.send(lc.functions.setThreshold(3))
    receipt = chain.send(lc.functions.revokeRole(role, victim))
    assert lc.events.RoleRevoked().process_receipt(receipt, errors=DISCARD)
    assert lc.functions.attesterCount().call() == 3
    h = header()
    removed = sign(ATTESTERS[0], h, chain, lc)
    expect_unchanged_revert(chain, lc, lc.functions.attest(as_tuple(h), removed), "NotAttester", h)


def test_pending_attestations_expire_when_the_config_changes(chain: Chain) -> None:
    lc = deploy(chain)
    h = header()
    first, second = sigs(ATTESTERS[:2], h, chain, lc)
    chain.send(lc.functions.attest(as_tuple(h), first), sender=RELAYER)
    assert lc.functions.pendingAttestations(as_tuple(h)).call() == 1
    chain.send(lc.functions.setThreshold(2))  # any change of attesters or threshold
    assert lc.functions.pendingAttestations(as_tuple(h)).call() == 0
    chain.send(lc.functions.attest(as_tuple(h), second), sender=RELAYER)
    assert not lc.functions.isAccepted(PUBLIC_CHAIN, h["blockHash"]).call()
    chain.send(lc.functions.attest(as_tuple(h), first), sender=RELAYER)  # re-attested: counts again
    assert lc.functions.isAccepted(PUBLIC_CHAIN, h["blockHash"]).call()
