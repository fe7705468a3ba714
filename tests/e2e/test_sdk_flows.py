"""Issue 8's "done when", end to end: a dApp that uses only the SDK (``XgateClient``) against a
real ``xgate api`` process on the devnet bridges settlement tokens and a receivable both ways,
runs an HTLC swap to completion and another to refund, reads a credit attestation with its
encrypted report, and gets every refusal as problem+json (``ApiProblem``).

The wallet is the dApp's own: it signs the gateway's unsigned transactions locally with the
devnet accounts' keys (eth-account) and sends them through the API
(``POST /v1/chains/{id}/transactions``, ``submit_transaction``), never through web3; it only
waits for its own receipts on its node, as a wallet does. Setup the API has no operation for
is done as the asset's issuer would, directly on chain: minting settlement tokens and
tokenising the receivable (the dev deployment's admin, account 0). The relayer, attesters and
keeper are the e2e folder's ``xgate run`` (tests/e2e/conftest.py); the API process serves the
same store.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from adapters.types import Address, ChainId, Hash32
from gateway.api.credit_models import AttestationRequest, PublicationRequest
from gateway.api.models import PROBLEM_TYPE_BASE, Transfer, UnsignedTx
from gateway.api.swap_models import (
    ClaimAuthorization,
    LegProposal,
    SwapAsset,
    SwapAuthorize,
    SwapPropose,
    SwapTimelocks,
    SwapView,
)
from gateway.api.transfer_models import TransferTerms
from gateway.domain.apikeys import Scope
from gateway.domain.credit_reports import open_report
from gateway.domain.payloads import Erc721Release, Erc721Transfer, Financing, decode_payload
from gateway.domain.status import AssetKind, MessageStatus, SwapState
from gateway.sdk import ApiProblem, XgateClient
from gateway.store import Store
from harness.chain import Chain
from harness.services import ServiceProcess
from tests.api.test_events_process import ApiProcess
from tests.contracts._assets_helpers import draft_acknowledged
from tests.e2e.conftest import DELIVERY_TIMEOUT_S, Devnet

ADMIN, ALICE, BOB = 0, 7, 8  # admin: minter, receivable issuer and credit issuer
TOKENS = 40_000 * 10**6
COINS = 2 * 10**18
STATE_TIMEOUT_S = 60.0
POLL_S = 0.25
YEAR = 365 * 86400


@pytest.fixture(scope="module")
async def api(devnet: Devnet, services: ServiceProcess) -> AsyncIterator[ApiProcess]:
    """One ``xgate api`` process on the devnet's xgate.toml (the services' store)."""
    process = ApiProcess(devnet.config_path).start()
    try:
        await process.wait_serving()
        yield process
        assert process.stop() == 0, process.output()
    finally:
        process.kill()


@pytest.fixture(scope="module")
async def keys(devnet: Devnet, api: ApiProcess) -> dict[str, tuple[str, SigningKey | None]]:
    """A dApp key and an issuer key (with its Ed25519 signing key), made with the store's
    facade as ``xgate keys create`` does."""
    store = await Store.open(devnet.config.store.url, migrate=False)
    try:
        dapp = await store.create_api_key(
            "sdk-dapp", [Scope.DAPP, Scope.READ], rate_per_s=1000, burst=1000
        )
        signer = SigningKey.generate()
        issuer = await store.create_api_key(
            "sdk-issuer",
            [Scope.ISSUER, Scope.READ],
            ed25519_public_key=bytes(signer.verify_key),
            chain_account=to_canonical_address(devnet.address(ADMIN)),  # the credit issuer
            rate_per_s=1000,
            burst=1000,
        )
    finally:
        await store.close()
    return {"dapp": (dapp.token, None), "issuer": (issuer.token, signer)}


@pytest.fixture
async def dapp(
    api: ApiProcess, keys: dict[str, tuple[str, SigningKey | None]]
) -> AsyncIterator[XgateClient]:
    async with XgateClient(api.base, keys["dapp"][0]) as client:
        yield client


@pytest.fixture
async def issuer(
    api: ApiProcess, keys: dict[str, tuple[str, SigningKey | None]]
) -> AsyncIterator[XgateClient]:
    token, signer = keys["issuer"]
    async with XgateClient(api.base, token, signing_key=signer) as client:
        yield client


# --- the wallet ------------------------------------------------------------------------------


def _raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


def coins(chain: Chain, account: int) -> int:
    return int(chain.w3.eth.get_balance(chain.accounts[account].address))


def _chain(devnet: Devnet, chain_id: int) -> Chain:
    return devnet.consortium if chain_id == devnet.cid else devnet.public


def sign(devnet: Devnet, tx: UnsignedTx, account: int) -> bytes:
    """The wallet: the gateway's unsigned transaction signed with the account's own key
    (its next nonce, EIP-1559 fees; gas estimated here when the gateway left it null)."""
    chain = _chain(devnet, tx.chain_id)
    sender = chain.accounts[account]
    assert to_checksum_address(tx.sender) == sender.address
    call: dict[str, Any] = {
        "from": sender.address,
        "to": to_checksum_address(tx.to),
        "data": "0x" + tx.data.hex(),
        "value": tx.value,
    }
    gas = tx.gas if tx.gas is not None else int(chain.w3.eth.estimate_gas(call)) * 13 // 10  # type: ignore[arg-type]
    base = int(chain.w3.eth.get_block("latest")["baseFeePerGas"])
    signed = sender.sign_transaction(
        {
            "chainId": tx.chain_id,
            "nonce": chain.next_nonce(account),
            "to": call["to"],
            "data": call["data"],
            "value": tx.value,
            "gas": gas,
            "maxPriorityFeePerGas": 1,
            "maxFeePerGas": 2 * base + 1,
        }
    )
    return bytes(signed.raw_transaction)


async def send(client: XgateClient, devnet: Devnet, tx: UnsignedTx, account: int) -> str:
    """Sign, submit through the API, wait for the wallet's receipt; the tracking id."""
    sent = await client.submit_transaction(tx.chain_id, sign(devnet, tx, account))
    assert to_checksum_address(sent.sender) == devnet.address(account)
    await asyncio.to_thread(_chain(devnet, tx.chain_id).wait, bytes(sent.tx_hash))
    return sent.tracking_id


async def send_all(
    client: XgateClient, devnet: Devnet, txs: list[UnsignedTx], account: int
) -> list[str]:
    return [await send(client, devnet, tx, account) for tx in txs]


async def until_delivered(
    client: XgateClient, devnet: Devnet, services: ServiceProcess, tracking_id: str
) -> Transfer:
    """Poll the transfer by its tracking id (404 until the watcher recorded it) until
    delivered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT_S
    last: Transfer | None = None
    while True:
        devnet.sync_clocks()  # the light client takes no header from its future
        try:
            last = await client.transfer(tracking_id)
        except ApiProblem as problem:
            assert (problem.status, problem.slug) == (404, "transfer-not-found"), problem
        else:
            if last.status is MessageStatus.DELIVERED:
                return last
            assert last.status is not MessageStatus.PARKED, last
        assert services.alive(), services.output()
        if loop.time() > deadline:
            raise AssertionError(f"{tracking_id} not delivered: {last}\n{services.output()}")
        await asyncio.sleep(POLL_S)


async def until_state(
    client: XgateClient, services: ServiceProcess, swap_id: bytes, state: SwapState
) -> SwapView:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STATE_TIMEOUT_S
    while True:
        swap = await client.swap(swap_id)
        if swap.state is state:
            return swap
        assert services.alive(), services.output()
        if loop.time() > deadline:
            raise AssertionError(f"swap still {swap.state} ({swap.reason})\n{services.output()}")
        await asyncio.sleep(POLL_S)


def terms(
    devnet: Devnet, src: int, dst: int, sender: int, recipient: int, **asset: Any
) -> TransferTerms:
    return TransferTerms.model_validate(
        {
            "src_chain_id": src,
            "dst_chain_id": dst,
            "sender": devnet.address(sender),
            "recipient": devnet.address(recipient),
            **asset,
        }
    )


# --- the flows -------------------------------------------------------------------------------


async def test_settlement_tokens_cross_to_the_public_chain_and_back_through_the_sdk(
    devnet: Devnet, services: ServiceProcess, dapp: XgateClient
) -> None:
    c = devnet.consortium
    token = devnet.contract("c.settlement_token")
    wrapped = devnet.contract("p.wrapped_settlement_token")
    alice, bob = devnet.address(ALICE), devnet.address(BOB)
    c.send(token.functions.mint(alice, TOKENS), sender=ADMIN)  # setup: the issuer mints
    alice_home = token.functions.balanceOf(alice).call()
    bob_wrapped = wrapped.functions.balanceOf(bob).call()

    out = terms(devnet, devnet.cid, devnet.pid, ALICE, BOB, asset="settlement_token", amount=TOKENS)
    quote = await dapp.quote_transfer(out)
    assert quote.fees.protocol_fee == 0 and quote.fees.source_txs == 2
    built = await dapp.build_transfer(out)
    approve, lock = built.txs
    assert lock.gas is None  # estimable once the approval is mined
    await send(dapp, devnet, approve, ALICE)
    [lock] = (await dapp.build_transfer(out)).txs  # built again: the lock alone, with its gas
    assert (
        lock.gas is not None and to_checksum_address(lock.to) == devnet.contract("c.vault").address
    )
    tracking = await send(dapp, devnet, lock, ALICE)
    there = await until_delivered(dapp, devnet, services, tracking)
    assert there.src_chain_id == devnet.cid and there.dst_chain_id == devnet.pid
    assert [step.to_status for step in there.history][-1] is MessageStatus.DELIVERED
    assert wrapped.functions.balanceOf(bob).call() == bob_wrapped + TOKENS
    assert token.functions.balanceOf(alice).call() == alice_home - TOKENS

    back = terms(
        devnet, devnet.pid, devnet.cid, BOB, ALICE, asset="settlement_token", amount=TOKENS
    )
    txs = (await dapp.build_transfer(back)).txs
    *_, burn = await send_all(dapp, devnet, txs, BOB)
    home = await until_delivered(dapp, devnet, services, burn)
    assert home.src_chain_id == devnet.pid and home.status is MessageStatus.DELIVERED
    assert wrapped.functions.balanceOf(bob).call() == bob_wrapped
    assert token.functions.balanceOf(alice).call() == alice_home
    # The route has history now: the quote's latency is measured on its deliveries.
    c.send(token.functions.mint(alice, 1), sender=ADMIN)
    again = await dapp.quote_transfer(
        terms(devnet, devnet.cid, devnet.pid, ALICE, BOB, asset="settlement_token", amount=1)
    )
    assert again.latency.basis == "measured" and again.latency.samples >= 1


async def test_a_receivable_crosses_with_its_financing_and_comes_back_through_the_sdk(
    devnet: Devnet, services: ServiceProcess, dapp: XgateClient
) -> None:
    c = devnet.consortium
    receivable = devnet.contract("c.receivable")
    wrapped = devnet.contract("p.wrapped_receivable")
    alice, bob = devnet.address(ALICE), devnet.address(BOB)
    document = hashlib.sha256(os.urandom(32)).digest()
    financing = (bob, alice, 98_000_00, b"CNY", c.now() + 90 * 86400, document)
    # setup: the issuer drafts, bob acknowledges
    token_id = draft_acknowledged(c, receivable, financing, drafter=ADMIN)

    out = terms(devnet, devnet.cid, devnet.pid, ALICE, ALICE, asset="receivable", token_id=token_id)
    [transfer] = (await dapp.build_transfer(out)).txs  # safeTransferFrom to the vault
    tracking = await send(dapp, devnet, transfer, ALICE)
    there = await until_delivered(dapp, devnet, services, tracking)
    assert there.dst_chain_id == devnet.pid and there.tracking_id == tracking
    # The message the API shows carries the financing metadata ...
    assert decode_payload(there.payload) == Erc721Transfer(
        _raw(receivable.address),
        devnet.cid,
        _raw(alice),
        token_id,
        Financing(_raw(bob), _raw(alice), 98_000_00, "CNY", financing[4], Hash32(document)),
    )
    # ... and the wrapped receivable holds it on the public chain (no API read of it).
    assert wrapped.functions.ownerOf(token_id).call() == alice
    assert tuple(wrapped.functions.financingOf(token_id).call()) == financing

    back = terms(devnet, devnet.pid, devnet.cid, ALICE, BOB, asset="receivable", token_id=token_id)
    *_, burn = await send_all(dapp, devnet, (await dapp.build_transfer(back)).txs, ALICE)
    home = await until_delivered(dapp, devnet, services, burn)
    assert decode_payload(home.payload) == Erc721Release(
        _raw(receivable.address), devnet.cid, _raw(bob), token_id
    )
    assert receivable.functions.ownerOf(token_id).call() == bob
    assert tuple(receivable.functions.financingOf(token_id).call()) == financing


def proposal(devnet: Devnet, hashlock: bytes, **extra: Any) -> SwapPropose:
    """Alice's public-chain coin for Bob's settlement tokens on the consortium."""
    return SwapPropose(
        hashlock=hashlock,  # type: ignore[arg-type]
        initiator=LegProposal(
            chain_id=ChainId(devnet.pid),
            address=Address(bytes.fromhex(devnet.address(ALICE)[2:])),
            asset=SwapAsset(kind=AssetKind.NATIVE, value=COINS),
        ),
        participant=LegProposal(
            chain_id=ChainId(devnet.cid),
            address=Address(bytes.fromhex(devnet.address(BOB)[2:])),
            asset=SwapAsset(
                kind=AssetKind.ERC20,
                token=Address(bytes.fromhex(devnet.contract("c.settlement_token").address[2:])),
                value=TOKENS,
            ),
        ),
        lock_window_s=60,
        **extra,
    )


async def test_an_htlc_swap_completes_with_the_keepers_relayed_claim(
    devnet: Devnet, services: ServiceProcess, dapp: XgateClient
) -> None:
    c, p = devnet.consortium, devnet.public
    token = devnet.contract("c.settlement_token")
    c.send(token.functions.mint(devnet.address(BOB), TOKENS), sender=ADMIN)  # setup
    secret = os.urandom(32)
    swap = await dapp.propose_swap(proposal(devnet, hashlib.sha256(secret).digest()))
    assert swap.state is SwapState.PROPOSED
    locks = await dapp.swap_locks(swap.swap_id)
    assert [len(locks.initiator), len(locks.participant)] == [1, 2]  # the coin; approve + lock
    await send_all(dapp, devnet, locks.initiator, ALICE)
    await until_state(dapp, services, swap.swap_id, SwapState.INITIATOR_LOCKED)
    await send_all(dapp, devnet, locks.participant, BOB)
    locked = await until_state(dapp, services, swap.swap_id, SwapState.BOTH_LOCKED)

    # Bob lets the keeper claim alice's coin for him once the secret is public.
    assert locked.claim_typed_data is not None
    signed = Account.sign_message(
        encode_typed_data(full_message=locked.claim_typed_data),
        bytes(c.accounts[BOB].key),
    )
    authorised = await dapp.authorize_swap(
        swap.swap_id,
        SwapAuthorize(
            claim=ClaimAuthorization(
                destination=Address(bytes.fromhex(devnet.address(BOB)[2:])),
                signature=bytes(signed.signature),
            )
        ),
    )
    assert authorised.claim_authorized

    # Alice claims bob's tokens (revealing the secret), her wallet sending through the API.
    leg = locked.participant_leg
    htlc = devnet.contract("c.htlc_erc20")
    assert htlc.address == to_checksum_address(leg.htlc)
    claim = htlc.functions.claim(
        secret, TOKENS, token.address, devnet.address(BOB), leg.timelock
    )._encode_transaction_data()
    bob_coins = coins(p, BOB)
    alice_tokens = token.functions.balanceOf(devnet.address(ALICE)).call()
    await send(
        dapp,
        devnet,
        UnsignedTx.model_validate(
            {
                "chain_id": devnet.cid,
                "sender": devnet.address(ALICE),
                "to": htlc.address,
                "data": claim,
                "value": "0",
                "gas": None,
                "description": "claim",
            }
        ),
        ALICE,
    )
    done = await until_state(dapp, services, swap.swap_id, SwapState.COMPLETED)
    assert done.preimage == secret
    assert done.claim_typed_data is None  # over: nothing left to sign
    assert coins(p, BOB) == bob_coins + COINS  # keeper paid gas
    assert token.functions.balanceOf(devnet.address(ALICE)).call() == alice_tokens + TOKENS
    for view in (done.initiator_leg, done.participant_leg):
        assert view.lock_tx and view.claim_tx and not view.refund_tx


async def test_credit_attestation_issued_and_read_with_its_encrypted_report(
    devnet: Devnet, issuer: XgateClient, dapp: XgateClient
) -> None:
    subject = to_checksum_address(keccak(text=f"sdk flows subject {os.urandom(4).hex()}")[:20])
    reader = PrivateKey.generate()
    report = {"period": "FY2025", "revenue": "9100000.00", "notes": ["no arrears"]}
    valid_until = datetime.fromtimestamp(devnet.consortium.now() + YEAR, UTC)
    issued = await issuer.issue_attestation(
        AttestationRequest.model_validate(
            {
                "subject": subject,
                "issuer": devnet.address(ADMIN),
                "score": 715,
                "grade": "A",
                "valid_until": valid_until,
                "report": report,
                "readers": ["0x" + bytes(reader.public_key).hex()],
            }
        )
    )
    attest, publish = issued.transactions
    await send(dapp, devnet, attest, ADMIN)
    publish_tracking = await send(dapp, devnet, publish, ADMIN)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT_S
    while True:
        devnet.sync_clocks()
        view = await dapp.credit(subject)
        if all(m.in_sync for m in view.mirrors):
            break
        assert loop.time() < deadline, f"the mirror did not follow: {view}"
        await asyncio.sleep(POLL_S)
    assert publish_tracking.startswith(f"tx-{devnet.cid}-")
    state = view.registry.state
    assert state is not None and (state.status, state.score, state.grade) == ("valid", 715, "A")
    assert state.report_hash == issued.report_hash
    [mirror] = view.mirrors
    assert mirror.chain_id == devnet.pid and mirror.state is not None
    assert (mirror.state.status, mirror.state.version) == (state.status, state.version)
    assert view.report is not None and view.report.attestation_id == issued.attestation_id

    # The reader fetches its box and checks it against the on-chain hash.
    on_chain = bytes(
        devnet.contract("c.credit_registry").functions.attestationOf(subject).call()[7]
    )
    assert on_chain == bytes(state.report_hash)
    sealed = await dapp.sealed_report(subject, bytes(reader.public_key))
    assert bytes(sealed.report_hash) == on_chain
    assert open_report(sealed.sealed, bytes(reader), on_chain) == report
    assert await dapp.credit_report(subject, bytes(reader)) == report


async def test_every_refusal_is_a_problem_with_its_slug(
    devnet: Devnet,
    dapp: XgateClient,
    api: ApiProcess,
    keys: dict[str, tuple[str, SigningKey | None]],
) -> None:
    async def refused(call: Any, status: int, slug: str) -> ApiProblem:
        with pytest.raises(ApiProblem) as caught:
            await call
        problem = caught.value
        # The SDK reads type and slug only from an application/problem+json answer.
        assert problem.type == PROBLEM_TYPE_BASE + slug, problem
        assert (problem.status, problem.slug) == (status, slug), problem
        assert problem.request_id
        return problem

    await refused(dapp.transfer("0x" + "ab" * 32), 404, "transfer-not-found")
    await refused(dapp.swap(b"\xcd" * 32), 404, "swap-not-found")
    bad_checksum = devnet.address(ALICE)
    bad_checksum = bad_checksum[:2] + bad_checksum[2:].swapcase()
    body = {
        "src_chain_id": devnet.cid,
        "dst_chain_id": devnet.pid,
        "asset": "settlement_token",
        "amount": "1",
        "sender": bad_checksum,
        "recipient": devnet.address(BOB),
    }
    problem = await refused(
        dapp.request("POST", "/v1/transfers/quote", json=body), 400, "invalid-request"
    )
    assert [e.field for e in problem.errors] == ["body.sender"]
    now = max(devnet.consortium.now(), devnet.public.now())
    unsafe = proposal(
        devnet,
        os.urandom(32),
        timelocks=SwapTimelocks(initiator=now + 3660, participant=now + 3600),
    )
    problem = await refused(dapp.propose_swap(unsafe), 422, "unsafe-timelocks")
    assert "set timelocks.initiator to" in problem.detail

    # What the framework answers itself: no such route, no such method, too large a body.
    await refused(dapp.request("GET", "/v1/nowhere"), 404, "not-found")
    await refused(dapp.request("DELETE", "/v1/swaps"), 405, "method-not-allowed")
    huge = {**body, "sender": devnet.address(ALICE), "padding": "x" * (2 << 20)}
    await refused(dapp.request("POST", "/v1/transfers/quote", json=huge), 413, "body-too-large")
    # A raw transaction to an address that is none of the gateway's contracts.
    stray = UnsignedTx.model_validate(
        {
            "chain_id": devnet.cid,
            "sender": devnet.address(ALICE),
            "to": devnet.address(BOB),
            "data": "0x",
            "value": "1",
            "gas": "21000",
            "description": "a payment",
        }
    )
    raw = sign(devnet, stray, ALICE)
    await refused(dapp.submit_transaction(devnet.cid, raw), 422, "destination-not-allowed")
    # An issuer operation without the issuer scope, then unsigned with it.
    publication = PublicationRequest.model_validate({"sender": devnet.address(ADMIN)})
    await refused(dapp.publish_credit(devnet.address(BOB), publication), 403, "insufficient-scope")
    async with XgateClient(api.base, keys["issuer"][0]) as unsigned:
        await refused(
            unsigned.publish_credit(devnet.address(BOB), publication), 401, "signature-required"
        )


async def test_an_htlc_swap_nobody_claims_is_refunded_by_the_keeper(
    devnet: Devnet, services: ServiceProcess, dapp: XgateClient
) -> None:
    """Last: it moves both chains' clocks past the timelocks."""
    p = devnet.public
    swap = await dapp.propose_swap(proposal(devnet, hashlib.sha256(os.urandom(32)).digest()))
    locks = await dapp.swap_locks(swap.swap_id)
    await send_all(dapp, devnet, locks.initiator, ALICE)
    await until_state(dapp, services, swap.swap_id, SwapState.INITIATOR_LOCKED)
    authorised = await dapp.authorize_swap(swap.swap_id, SwapAuthorize(refund=True))
    assert authorised.refund_authorized
    alice_coins = coins(p, ALICE)

    ahead = swap.initiator_leg.timelock - min(p.now(), devnet.consortium.now()) + 5
    p.advance_time(ahead)
    devnet.consortium.advance_time(ahead)
    devnet.sync_clocks()
    done = await until_state(dapp, services, swap.swap_id, SwapState.REFUNDED)
    assert done.initiator_leg.refund_tx is not None and done.participant_leg.lock_tx is None
    assert coins(p, ALICE) == alice_coins + COINS
