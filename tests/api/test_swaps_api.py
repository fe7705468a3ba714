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
