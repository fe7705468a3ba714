"""Swaps through the API (docs/api.md "Swaps") on the devnet, with the real HTLC keeper process.

Alice (the initiator, who alone knows the secret) swaps the public chain's coin for Bob's
settlement tokens on the consortium. The dApp proposes the swap with only the hashlock, the
gateway sets the timelocks, builds both parties' lock transactions (their wallets, here the
devnet keys, sign and send them) and takes Bob's relayed-claim signature for the keeper; once
Alice claims Bob's tokens (revealing the secret) the keeper claims Alice's coin for Bob. When
nobody claims, the keeper refunds what was locked to its owner after the timelock.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

from adapters.registry import build_adapter
from gateway.api.app import create_app
from gateway.api.chains import ChainAccess
from gateway.cli.devnet_cmd import KEEPER_ACCOUNT
from gateway.config import XgateConfig, load_config
from gateway.domain.apikeys import Scope
from gateway.store import Store
from harness.chain import Chain
from harness.relaynet import SELF_FUNDED_ACCOUNTS, RelayNet
from harness.services import ServiceProcess
from tests.api.conftest import ApiClient, create_caller

pytestmark = pytest.mark.live

ADMIN, ALICE, BOB, CAROL = 0, 7, 8, 9
COINS = 3 * 10**18  # alice's public-chain coin
TOKENS = 25_000 * 10**6  # bob's settlement tokens on the consortium
STATE_TIMEOUT_S = 60.0


@dataclass
class Net:
    devnet: RelayNet
    config: XgateConfig
    keeper: ServiceProcess
    api: ApiClient

    @property
    def cid(self) -> int:
        return self.devnet.consortium.chain_id

    @property
    def pid(self) -> int:
        return self.devnet.public.chain_id

    def key(self, account: int) -> bytes:
        return bytes(self.devnet.consortium.accounts[account].key)


@pytest.fixture(scope="module")
async def devnet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RelayNet]:
    async with RelayNet.start(
        tmp_path_factory.mktemp("swaps-api"), accounts=SELF_FUNDED_ACCOUNTS
    ) as net:
        yield net


@pytest.fixture(scope="module")
def keeper(devnet: RelayNet) -> Iterator[ServiceProcess]:
    """``xgate keeper run`` on the devnet's xgate.toml (it migrates the store)."""
    service = ServiceProcess(devnet.config_path, command=("keeper", "run")).start()
    service.wait_serving()
    yield service
    assert service.stop() == 0, service.output()


@pytest.fixture(scope="module")
async def net(devnet: RelayNet, keeper: ServiceProcess) -> AsyncIterator[Net]:
    """The API on the keeper's store, with read access to both chains, and a dApp key."""
    config = load_config(devnet.config_path)
    store = await Store.open(config.store.url, migrate=False)
    chains = ChainAccess(config, lambda name, chain: build_adapter(chain.adapter_config(name)))
    app = create_app(store, config, chains=chains)  # v1_api(), swaps included
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            document = await (await client.get("/openapi.json")).json()
            dapp = await create_caller(store, Scope.DAPP, name="dapp")
            yield Net(devnet, config, keeper, ApiClient(client, document, caller=dapp))
    finally:
        await chains.aclose()
        await store.close()


def proposal(net: Net, hashlock: bytes, **extra: Any) -> dict[str, Any]:
    d = net.devnet
    return {
        "hashlock": "0x" + hashlock.hex(),
        "initiator": {
            "chain_id": net.pid,
            "address": d.address(ALICE),
            "asset": {"kind": "native", "value": str(COINS)},
        },
        "participant": {
            "chain_id": net.cid,
            "address": d.address(BOB),
            "asset": {
                "kind": "erc20",
                "token": d.contract("c.settlement_token").address,
                "value": str(TOKENS),
            },
        },
        "lock_window_s": 60,
        **extra,
    }


async def propose(net: Net) -> tuple[bytes, dict[str, Any]]:
    secret = os.urandom(32)
    answer = await net.api.request(
        "POST", "/v1/swaps", json=proposal(net, hashlib.sha256(secret).digest())
    )
    assert answer.status == 201, answer.body
    return secret, answer.body


def send_all(net: Net, txs: list[dict[str, Any]], account: int) -> None:
    """What the party's wallet does with the gateway's unsigned transactions."""
    for tx in txs:
        chain = net.devnet.public if tx["chain_id"] == net.pid else net.devnet.consortium
        assert tx["sender"] == chain.address(account)
        chain.send_raw_tx(
            tx["to"], bytes.fromhex(tx["data"][2:]), sender=account, value=int(tx["value"])
        )


async def wait_state(net: Net, swap_id: str, state: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STATE_TIMEOUT_S
    while True:
        answer = await net.api.get(f"/v1/swaps/{swap_id}")
        assert answer.status == 200, answer.body
        if answer.body["state"] == state:
            return dict(answer.body)
        assert net.keeper.alive(), net.keeper.output()
        if loop.time() > deadline:
            raise AssertionError(f"swap {swap_id} still {answer.body}\n{net.keeper.output()}")
        await asyncio.sleep(0.25)


def balance(chain: Chain, account: int) -> int:
    return int(chain.w3.eth.get_balance(chain.accounts[account].address))


def sign_claim(net: Net, swap: dict[str, Any], account: int) -> str:
    typed = swap["claim_typed_data"]
    signed = Account.sign_message(encode_typed_data(full_message=typed), net.key(account))
    return "0x" + bytes(signed.signature).hex()


async def test_a_swap_arranged_through_the_api_completes_with_the_keepers_claim_for_bob(
    net: Net,
) -> None:
    d = net.devnet
    c, p = d.consortium, d.public
    c.send(d.contract("c.settlement_token").functions.mint(d.address(BOB), TOKENS), sender=ADMIN)
    secret, swap = await propose(net)
    a, b = swap["initiator_leg"], swap["participant_leg"]
    # The gateway's timelocks: the keeper's margin exactly, the participant's leg first.
    assert swap["state"] == "proposed" and swap["keeper"] == d.address(KEEPER_ACCOUNT)
    assert int(a["timelock"]) - int(b["timelock"]) == swap["margin"]["margin_s"]
    assert swap["margin"]["margin_s"] >= swap["margin"]["required_s"]
    assert int(b["timelock"]) > max(c.now(), p.now())
    assert (a["claimer"], a["refunder"]) == (d.address(BOB), d.address(ALICE))
    swap_id = swap["swap_id"]

    locks = await net.api.request("POST", f"/v1/swaps/{swap_id}/locks")
    assert locks.status == 200, locks.body
    assert [len(locks.body["initiator"]), len(locks.body["participant"])] == [1, 2]
    send_all(net, locks.body["initiator"], ALICE)
    await wait_state(net, swap_id, "initiator_locked")  # final: bob may lock now
    send_all(net, locks.body["participant"], BOB)
    locked = await wait_state(net, swap_id, "both_locked")
    assert locked["participant_leg"]["lock_tx"] is not None

    signature = sign_claim(net, locked, BOB)
    answer = await net.api.request(
        "POST",
        f"/v1/swaps/{swap_id}/authorizations",
        json={"claim": {"destination": d.address(BOB), "signature": signature}},
    )
    assert answer.status == 200, answer.body
    assert answer.body["claim_authorized"] and answer.body["claim_destination"] == d.address(BOB)

    # Alice claims bob's tokens, revealing the secret; the keeper claims her coin for bob.
    bob_before = balance(p, BOB)
    htlc20 = d.contract("c.htlc_erc20")
    c.send(
        htlc20.functions.claim(
            secret, TOKENS, d.contract("c.settlement_token").address, d.address(BOB),
            int(b["timelock"]),
        ),
        sender=ALICE,
    )  # fmt: skip
    done = await wait_state(net, swap_id, "completed")
    assert balance(p, BOB) == bob_before + COINS  # the keeper paid the gas
    assert done["preimage"] == "0x" + secret.hex()
    for leg in ("initiator_leg", "participant_leg"):
        assert done[leg]["lock_tx"] and done[leg]["claim_tx"] and not done[leg]["refund_tx"]
    assert done["claim_typed_data"] is None  # over: nothing left to sign

    over = await net.api.request(
        "POST", f"/v1/swaps/{swap_id}/authorizations", json={"refund": True}
    )
    assert (over.status, over.body["type"].rsplit("/", 1)[1]) == (409, "swap-over")


async def test_unsafe_terms_are_refused_with_the_margin_they_need(net: Net) -> None:
    d = net.devnet
    now = max(d.consortium.now(), d.public.now())
    hashlock = os.urandom(32)
    t_b = now + 3600
    answer = await net.api.request(
        "POST",
        "/v1/swaps",
        json=proposal(
            net, hashlock, timelocks={"initiator": str(t_b + 60), "participant": str(t_b)}
        ),
    )
    assert answer.status == 422 and answer.body["type"].endswith("/unsafe-timelocks")
    # F_A 12 (public: 0 confirmations) + F_B 5 + L 60 + S 15 + D 300 (the keeper's defaults).
    assert "at least 392 s" in answer.body["detail"]
    assert f"set timelocks.initiator to {t_b + 392}" in answer.body["detail"]

    soon = await net.api.request(
        "POST",
        "/v1/swaps",
        json=proposal(
            net, hashlock, timelocks={"initiator": str(now + 460), "participant": str(now + 60)}
        ),
    )
    assert soon.status == 422 and soon.body["type"].endswith("/participant-timelock-too-soon")

    safe = await net.api.request(
        "POST",
        "/v1/swaps",
        json=proposal(
            net, hashlock, timelocks={"initiator": str(t_b + 392), "participant": str(t_b)}
        ),
    )
    assert safe.status == 201, safe.body
    assert safe.body["margin"]["margin_s"] == 392

    same_party = proposal(net, hashlock)
    same_party["participant"]["address"] = d.address(ALICE)
    bad = await net.api.request("POST", "/v1/swaps", json=same_party)
    assert bad.status == 400
    assert [e["field"] for e in bad.body["errors"]] == ["body.participant.address"]


async def test_a_claim_signature_that_is_not_the_participants_is_refused_and_not_stored(
    net: Net,
) -> None:
    d = net.devnet
    _, swap = await propose(net)
    path = f"/v1/swaps/{swap['swap_id']}/authorizations"
    for account, destination, slug in [
        (ALICE, BOB, "claim-signature-invalid"),  # not the participant's key
        (BOB, CAROL, "claim-signature-invalid"),  # signed for bob, sent for carol
    ]:
        signature = sign_claim(net, swap, account)
        answer = await net.api.request(
            "POST",
            path,
            json={"claim": {"destination": d.address(destination), "signature": signature}},
        )
        assert (answer.status, answer.body["type"].rsplit("/", 1)[1]) == (422, slug)
    high_s = bytes.fromhex(sign_claim(net, swap, BOB)[2:])
    s = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - int.from_bytes(
        high_s[32:64], "big"
    )
    malleable = high_s[:32] + s.to_bytes(32, "big") + bytes([55 - high_s[64]])
    answer = await net.api.request(
        "POST",
        path,
        json={"claim": {"destination": d.address(BOB), "signature": "0x" + malleable.hex()}},
    )
    assert answer.body["type"].endswith("/claim-signature-malformed"), answer.body
    stored = await net.api.get(f"/v1/swaps/{swap['swap_id']}")
    assert not stored.body["claim_authorized"] and not stored.body["refund_authorized"]

    missing = "0x" + "ab" * 32
    for method, suffix in [("GET", ""), ("POST", "/locks"), ("POST", "/authorizations")]:
        body = {"refund": True} if suffix == "/authorizations" else None
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        answer = await net.api.request(method, f"/v1/swaps/{missing}{suffix}", **kwargs)
        assert (answer.status, answer.body["type"].rsplit("/", 1)[1]) == (404, "swap-not-found")


def slug(answer: Any) -> tuple[int, str]:
    return answer.status, str(answer.body.get("type", "")).rsplit("/", 1)[1]


async def test_a_hashlock_used_by_another_swap_is_refused_and_the_same_proposal_is_answered(
    net: Net,
) -> None:
    hashlock = hashlib.sha256(os.urandom(32)).digest()
    first = await net.api.request("POST", "/v1/swaps", json=proposal(net, hashlock))
    assert first.status == 201, first.body
    # The same proposal again (a retry without an Idempotency-Key): the stored swap.
    again = await net.api.request("POST", "/v1/swaps", json=proposal(net, hashlock))
    assert again.status == 201 and again.body["swap_id"] == first.body["swap_id"]
    assert again.body["initiator_leg"] == first.body["initiator_leg"]
    # Other terms under the same hashlock: another swap its secret would open.
    other = proposal(net, hashlock)
    other["initiator"]["asset"]["value"] = str(COINS + 1)
    refused = await net.api.request("POST", "/v1/swaps", json=other)
    assert slug(refused) == (409, "hashlock-in-use"), refused.body
    assert first.body["swap_id"] in refused.body["detail"]
    assert "new 32-byte secret" in refused.body["detail"]
    # Explicit timelocks other than the stored swap's: other terms too.
    t_a, t_b = first.body["initiator_leg"]["timelock"], first.body["participant_leg"]["timelock"]
    moved = proposal(net, hashlock, timelocks={"initiator": str(int(t_a) + 1), "participant": t_b})
    assert slug(await net.api.request("POST", "/v1/swaps", json=moved)) == (409, "hashlock-in-use")
    same = proposal(net, hashlock, timelocks={"initiator": t_a, "participant": t_b})
    answer = await net.api.request("POST", "/v1/swaps", json=same)
    assert answer.status == 201 and answer.body["swap_id"] == first.body["swap_id"]


async def test_concurrent_proposals_with_one_hashlock_record_one_swap(net: Net) -> None:
    hashlock = hashlib.sha256(os.urandom(32)).digest()
    bodies = []
    for i in range(4):
        body = proposal(net, hashlock)
        body["initiator"]["asset"]["value"] = str(COINS + i)
        bodies.append(body)
    answers = await asyncio.gather(*(net.api.request("POST", "/v1/swaps", json=b) for b in bodies))
    assert sorted(a.status for a in answers) == [201, 409, 409, 409], [a.body for a in answers]
    assert {slug(a) for a in answers if a.status == 409} == {(409, "hashlock-in-use")}
    # The same proposal sent twice at once: one swap, both answered with it.
    hashlock = hashlib.sha256(os.urandom(32)).digest()
    twins = await asyncio.gather(
        *(net.api.request("POST", "/v1/swaps", json=proposal(net, hashlock)) for _ in range(2))
    )
    assert [t.status for t in twins] == [201, 201], [t.body for t in twins]
    assert twins[0].body["swap_id"] == twins[1].body["swap_id"]


async def test_a_hashlock_an_htlc_already_saw_on_either_chain_is_refused(net: Net) -> None:
    d = net.devnet
    for chain, htlc in [(d.public, "p.htlc_native"), (d.consortium, "c.htlc_native")]:
        hashlock = hashlib.sha256(os.urandom(32)).digest()
        chain.send(
            d.contract(htlc).functions.lock(hashlock, d.address(CAROL), chain.now() + 3600),
            sender=ALICE,
            value=1000,
        )
        refused = await net.api.request("POST", "/v1/swaps", json=proposal(net, hashlock))
        assert slug(refused) == (409, "hashlock-in-use"), refused.body
        assert f"({chain.chain_id})" in refused.body["detail"]


async def test_tokens_must_be_contracts_of_their_kind_on_their_chain(net: Net) -> None:
    d = net.devnet
    nft = d.consortium.deploy("HtlcTestNft")
    nowhere = to_checksum_address(os.urandom(20))
    d.consortium.send(nft.functions.mint(d.address(BOB), 7), sender=ADMIN)
    cases: list[tuple[str, str, int, int, str]] = [
        # (kind, token, value, status, slug), for the participant's leg on the consortium
        ("erc20", d.address(CAROL), TOKENS, 422, "token-not-a-contract"),  # an EOA
        ("erc20", nowhere, TOKENS, 422, "token-not-a-contract"),  # nothing there
        ("erc20", d.contract("c.receivable").address, TOKENS, 422, "token-not-erc20"),
        ("erc20", d.contract("c.htlc_native").address, TOKENS, 422, "token-not-erc20"),
        ("erc721", d.contract("c.settlement_token").address, 7, 422, "token-not-erc721"),
        ("erc721", nft.address, 8, 422, "token-not-erc721"),  # not minted
        ("erc721", nft.address, 7, 201, ""),
    ]
    for kind, token, value, status, want in cases:
        body = proposal(net, hashlib.sha256(os.urandom(32)).digest())
        body["participant"]["asset"] = {"kind": kind, "token": token, "value": str(value)}
        answer = await net.api.request("POST", "/v1/swaps", json=body)
        assert answer.status == status, (kind, token, answer.body)
        if status != 201:
            assert slug(answer) == (status, want), (kind, token, answer.body)
            assert "body.participant.asset" in answer.body["detail"], answer.body
    # The initiator's leg is checked on its own chain (the public one) too.
    body = proposal(net, hashlib.sha256(os.urandom(32)).digest())
    body["initiator"]["asset"] = {
        "kind": "erc20",
        "token": nowhere,
        "value": "1",
    }
    answer = await net.api.request("POST", "/v1/swaps", json=body)
    assert slug(answer) == (422, "token-not-a-contract"), answer.body
    assert "body.initiator.asset.token" in answer.body["detail"]


async def test_zero_amounts_and_values_beyond_uint256_are_refused_by_the_model(net: Net) -> None:
    token = net.devnet.contract("c.settlement_token").address
    nft = net.devnet.contract("c.receivable").address
    too_big = str(2**256)
    for asset, field in [
        ({"kind": "erc20", "token": token, "value": "0"}, "value"),
        ({"kind": "erc20", "token": token, "value": too_big}, "value"),
        ({"kind": "erc20", "token": token, "value": "-1"}, "value"),
        ({"kind": "erc721", "token": nft, "value": too_big}, "value"),
        ({"kind": "erc721", "token": nft, "value": "-1"}, "value"),
        ({"kind": "native", "value": "0"}, "value"),
    ]:
        body = proposal(net, hashlib.sha256(os.urandom(32)).digest())
        body["participant"]["asset"] = asset
        answer = await net.api.request("POST", "/v1/swaps", json=body)
        assert answer.status == 400, (asset, answer.body)
        fields = [e["field"] for e in answer.body["errors"]]
        assert fields == [f"body.participant.asset.{field}"], (asset, fields)


async def test_a_contract_wallet_participant_authorises_with_its_erc1271_signature(
    net: Net,
) -> None:
    """The HTLC checks a contract claimer's signature with ERC-1271 (SignatureChecker): so
    does the gateway, with the wallet on the initiator leg's chain (the public one)."""
    d = net.devnet
    wallet = d.public.deploy("HtlcTestWallet", d.address(BOB))  # a one-owner smart wallet
    body = proposal(net, hashlib.sha256(os.urandom(32)).digest())
    body["participant"]["address"] = wallet.address
    proposed = await net.api.request("POST", "/v1/swaps", json=body)
    assert proposed.status == 201, proposed.body
    swap = proposed.body
    assert swap["initiator_leg"]["claimer"] == wallet.address
    path = f"/v1/swaps/{swap['swap_id']}/authorizations"
    destination = d.address(BOB)
    typed = dict(swap["claim_typed_data"])
    typed["message"] = {**typed["message"], "destination": destination}
    swap_for_bob = {**swap, "claim_typed_data": typed}
    for account in (CAROL, ALICE):  # not the wallet's owner
        answer = await net.api.request(
            "POST",
            path,
            json={
                "claim": {
                    "destination": destination,
                    "signature": sign_claim(net, swap_for_bob, account),
                }
            },
        )
        assert slug(answer) == (422, "claim-signature-invalid"), answer.body
        assert "ERC-1271" in answer.body["detail"]
    answer = await net.api.request(
        "POST",
        path,
        json={
            "claim": {"destination": destination, "signature": sign_claim(net, swap_for_bob, BOB)}
        },
    )
    assert answer.status == 200, answer.body
    assert answer.body["claim_authorized"] and answer.body["claim_destination"] == destination


async def test_the_keeper_refunds_an_authorised_lock_nobody_claimed(net: Net) -> None:
    """Last: it moves both chains' clocks past the timelocks."""
    d = net.devnet
    _, swap = await propose(net)
    swap_id = swap["swap_id"]
    locks = await net.api.request("POST", f"/v1/swaps/{swap_id}/locks")
    send_all(net, locks.body["initiator"], ALICE)
    await wait_state(net, swap_id, "initiator_locked")
    answer = await net.api.request(
        "POST", f"/v1/swaps/{swap_id}/authorizations", json={"refund": True}
    )
    assert answer.status == 200 and answer.body["refund_authorized"], answer.body
    alice_before = balance(d.public, ALICE)

    ahead = int(swap["initiator_leg"]["timelock"]) - min(d.public.now(), d.consortium.now()) + 5
    d.public.advance_time(ahead)
    d.consortium.advance_time(ahead)
    done = await wait_state(net, swap_id, "refunded")
    assert done["initiator_leg"]["refund_tx"] is not None
    assert done["participant_leg"]["lock_tx"] is None
    assert balance(d.public, ALICE) == alice_before + COINS
