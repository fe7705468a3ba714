"""gateway.domain.typed_data agrees with the deployed contracts, on both chains: its digests
equal the contracts' own ``claimDigest`` / ``headerDigest`` views, and a permit it builds is
accepted by an OpenZeppelin ERC20Permit token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3.contract import Contract

from gateway.domain.typed_data import (
    attested_header_message,
    digest,
    htlc_claim_message,
    permit_message,
    signature_vrs,
)
from harness import Chain

ATTESTER_KEY = b"\x5a" * 32  # test-only key
OWNER, SPENDER, KEEPER, CLAIMER = 0, 1, 2, 3


@dataclass
class Deployed:
    chain: Chain
    htlcs: dict[str, Contract]
    store: Contract
    token: Contract


@pytest.fixture(scope="module", params=["anvil", "consortium"])
def d(request: pytest.FixtureRequest) -> Deployed:
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    attester = Account.from_key(ATTESTER_KEY).address
    return Deployed(
        chain,
        {name: chain.deploy(name) for name in ("HtlcNative", "HtlcErc20", "HtlcErc721")},
        chain.deploy("AttestedHeaderStore", chain.accounts[0].address, [attester], 1),
        chain.deploy("HtlcTestToken"),
    )


@pytest.mark.parametrize("name", ["HtlcNative", "HtlcErc20", "HtlcErc721"])
def test_htlc_claim_digest_equals_the_contracts_claim_digest(d: Deployed, name: Any) -> None:
    htlc = d.htlcs[name]
    key = bytes(range(32))
    keeper, claimer = d.chain.accounts[KEEPER].address, d.chain.accounts[CLAIMER].address
    msg = htlc_claim_message(name, d.chain.chain_id, htlc.address, key, keeper, claimer)
    assert bytes(htlc.functions.claimDigest(key, keeper, claimer).call()) == digest(msg)


def test_attested_header_digest_equals_the_stores_header_digest(d: Deployed) -> None:
    header = (31337, 123_456, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    msg = attested_header_message(d.chain.chain_id, d.store.address, header)
    assert bytes(d.store.functions.headerDigest(header).call()) == digest(msg)


def test_a_header_signed_by_the_attester_is_accepted_by_the_store(d: Deployed) -> None:
    header = (31337, 123_457, b"\x04" * 32, b"\x05" * 32, b"\x06" * 32)
    msg = attested_header_message(d.chain.chain_id, d.store.address, header)
    signature = bytes(Account.sign_message(msg, ATTESTER_KEY).signature)
    d.chain.send(d.store.functions.submitHeader(header, [signature]))
    assert d.store.functions.isAccepted(header[0], header[2]).call()


def test_a_permit_signed_off_chain_is_accepted_by_the_token(d: Deployed) -> None:
    owner, spender = d.chain.accounts[OWNER], d.chain.accounts[SPENDER].address
    tk = d.token.functions
    value, deadline = 12_345 + tk.nonces(owner.address).call(), d.chain.now() + 3600
    msg = permit_message(
        tk.name().call(),
        "1",
        d.chain.chain_id,
        d.token.address,
        owner.address,
        spender,
        value,
        tk.nonces(owner.address).call(),
        deadline,
    )
    v, r, s = signature_vrs(bytes(owner.sign_message(msg).signature))
    d.chain.send(tk.permit(owner.address, spender, value, deadline, v, r, s), sender=SPENDER)
    assert tk.allowance(owner.address, spender).call() == value
