"""`xgate credit attest` and `xgate credit report --recompute` as real processes, on a devnet of
their own (its clock moves by months) with ``xgate run`` carrying the publication and the API
in process (the fixture style of tests/e2e/test_credit_api.py, an issuer key bound to the
devnet's issuer account).

Receivables are drafted, acknowledged and paid between independent parties; ``attest``
scores the debtor at the latest final block, issues it through the API, and the test signs
and sends the transactions it answers, as the issuer's wallet does: the public mirror's
``creditOf`` holds the same score and grade and its ``attestationOf`` the report's hash, and a
reader recomputes the report from the chain and it matches. A thin file is attested as score 0
with the grade ``insufficient-history``. Reports the chain does not give (another score, another
block), attested by an issuer through the API, are refused by the recompute."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from eth_utils.address import to_canonical_address
from nacl.public import PrivateKey

from adapters.registry import build_adapter
from gateway.api.app import create_app
from gateway.api.chains import ChainAccess
from gateway.api.v1 import v1_api
from gateway.domain.apikeys import Scope
from gateway.domain.credit_reports import canonical_report
from gateway.domain.credit_score import INSUFFICIENT_HISTORY
from gateway.store import Store
from harness.relaynet import SELF_FUNDED_ACCOUNTS, running_services
from harness.services import ServiceProcess
from tests.api.conftest import create_caller
from tests.contracts._assets_helpers import draft_acknowledged
from tests.e2e.conftest import Devnet, wait_delivered

pytestmark = pytest.mark.live

XGATE = [sys.executable, "-m", "gateway", "credit"]
DAY = 86_400
# 0 drafts for the creditors and issues (ISSUER_ROLE); the services sign with 1, 2, 5 and 6.
ISSUER, S1, S2, S3, BUYER, DEBTOR = 0, 3, 4, 9, 8, 7
FACE = 100_000  # fen (1 000 CNY)
SCALE = 10**4  # settlement token units per fen (the devnet's CNY setting)
STEP_DAYS = 25  # within the light client's trusting period


@dataclass
class Attesting:
    net: Devnet
    services: ServiceProcess
    api_url: str
    token: str
    signing_key_file: Path
    client: TestClient[Any, Any]
    early_block: int  # a final block before the last receivable


def _receivable(net: Devnet, creditor: int, debtor: int, term_s: int, n: int) -> int:
    c = net.consortium
    terms = (
        net.address(debtor),
        net.address(creditor),
        FACE,
        b"CNY",
        c.now() + term_s,
        sha256(f"attest invoice {n}".encode()).digest(),
    )
    return draft_acknowledged(c, net.contract("c.receivable"), terms, drafter=ISSUER)


def _months_pass(net: Devnet, services: ServiceProcess, step: int) -> None:
    """Move the consortium's clock by ``STEP_DAYS`` and carry a message across, so the public
    chain's light client trusts a header of the new time (a jump beyond its trusting period,
    30 days, would leave it unable to take any later header)."""
    net.consortium.advance_time(STEP_DAYS * DAY)
    registry = net.contract("c.credit_registry")
    filler = net.address(S1)
    grade = b"B".ljust(32, b"\0")
    until = net.consortium.now() + 365 * DAY
    hash_ = sha256(f"filler {step}".encode()).digest()
    net.consortium.send(registry.functions.attest(filler, 700, grade, until, hash_), sender=ISSUER)
    published = net.consortium.send(registry.functions.publish(filler, net.pid), sender=ISSUER)
    wait_delivered(net, services, "c", published)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
async def attesting(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Attesting]:
    folder = tmp_path_factory.mktemp("credit-attest")
    async with Devnet.start(folder, accounts=SELF_FUNDED_ACCOUNTS) as net:
        c = net.consortium
        token, receivable = net.contract("c.settlement_token"), net.contract("c.receivable")
        c.send(token.functions.mint(net.address(DEBTOR), 10 * FACE * SCALE), sender=ISSUER)
        c.send(token.functions.approve(receivable.address, 2**256 - 1), sender=DEBTOR)
        # The debtor buys from three suppliers and pays on time; each supplier also sells to
        # the buyer, so none of them trades only inside the debtor's circle.
        for n, supplier in enumerate((S1, S2, S3, S1)):
            paid = _receivable(net, supplier, DEBTOR, 30 * DAY, n)
            c.send(receivable.functions.pay(paid, FACE), sender=DEBTOR)
        for n, supplier in enumerate((S1, S2, S3), 10):
            _receivable(net, supplier, BUYER, 30 * DAY, n)
        early_block = int(c.w3.eth.block_number)
        with running_services(net.config_path) as services:  # it migrates the store
            for step in range(4):  # a record of more than 90 days
                await asyncio.to_thread(_months_pass, net, services, step)
            last = _receivable(net, S2, DEBTOR, 10 * DAY, 20)
            c.send(receivable.functions.pay(last, FACE), sender=DEBTOR)
            config = net.config
            store = await Store.open(config.store.url, migrate=False)
            chains = ChainAccess(
                config, lambda name, chain: build_adapter(chain.adapter_config(name))
            )
            app = create_app(store, config, api=v1_api(), chains=chains, clock=_utcnow)
            try:
                issuer = await create_caller(
                    store,
                    Scope.ISSUER,
                    name="credit-attest",
                    chain_account=to_canonical_address(net.address(ISSUER)),
                )
                assert issuer.signing_key is not None
                key_file = folder / "issuer.key"
                key_file.write_text(bytes(issuer.signing_key).hex())
                async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                    yield Attesting(
                        net,
                        services,
                        str(client.make_url("")).rstrip("/"),
                        issuer.token,
                        key_file,
                        client,
                        early_block,
                    )
            finally:
                await chains.aclose()
                await store.close()


async def xgate(a: Attesting, *args: str, config: bool = True) -> subprocess.CompletedProcess[str]:
    """One ``xgate credit`` command on the API under test and the devnet's config (the event
    loop keeps serving the API meanwhile)."""
    command = [
        *XGATE,
        *args,
        "--api",
        a.api_url,
        "--token",
        a.token,
        "--signing-key-file",
        str(a.signing_key_file),
        *(["--config", str(a.net.config_path)] if config else []),
        "--json",
    ]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=180
    )


async def _send(a: Attesting, tx: dict[str, Any]) -> Any:
    """What the issuer's wallet does with an unsigned transaction the API built."""
    assert tx["sender"] == a.net.address(ISSUER) and tx["chain_id"] == a.net.cid
    gas = None if tx["gas"] is None else int(tx["gas"])
    data = bytes.fromhex(tx["data"][2:])
    return await asyncio.to_thread(
        a.net.consortium.send_raw_tx, tx["to"], data, sender=ISSUER, gas=gas
    )


def _reader(folder: Path, name: str) -> tuple[str, Path]:
    """A reader's X25519 key: its public key (hex) and a file with its private key."""
    key = PrivateKey.generate()
    path = folder / f"{name}.x25519"
    path.write_text(bytes(key).hex())
    return "0x" + bytes(key.public_key).hex(), path


async def _issue_forged(a: Attesting, subject: str, report: dict[str, Any], reader: str) -> None:
    """An issuer attests ``report`` through the API (as ``xgate credit issue`` would) and its
    wallet sends it: the on-chain hash is the forged report's."""
    body = {
        "subject": subject,
        "issuer": a.net.address(ISSUER),
        "score": report["score"] or 0,
        "grade": report["grade"],
        "valid_until": datetime.fromtimestamp(a.net.consortium.now() + 30 * DAY, UTC).isoformat(),
        "report": report,
        "readers": [reader],
        "publish_to": [],
    }
    path = a.signing_key_file.with_name(f"forged-{sha256(canonical_report(report)).hexdigest()}")
    path.write_text(json.dumps(body))
    done = await xgate(a, "issue", "--body", str(path), config=False)
    assert done.returncode == 0, done.stderr
    [attest] = json.loads(done.stdout)["transactions"]
    await _send(a, attest)


async def test_attest_reaches_the_mirror_and_a_reader_recomputes_the_same_report(
    attesting: Attesting, tmp_path: Path
) -> None:
    a, net = attesting, attesting.net
    subject = net.address(DEBTOR)
    public_key, private_file = _reader(tmp_path, "bank")
    done = await xgate(
        a, "attest", subject, "--issuer", net.address(ISSUER), "--reader", public_key
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout)
    attest, publish = issued["transactions"]
    assert "publish" in publish["description"]

    await _send(a, attest)
    await asyncio.to_thread(wait_delivered, net, a.services, "c", await _send(a, publish))

    registry = net.contract("c.credit_registry").functions.attestationOf(subject).call()
    report_hash = bytes(registry[7])
    assert "0x" + report_hash.hex() == issued["report_hash"]
    score, grade, issuer, _, status = (
        net.contract("p.credit_mirror").functions.creditOf(subject).call()
    )
    mirrored = net.contract("p.credit_mirror").functions.attestationOf(subject).call()
    assert bytes(mirrored[7]) == report_hash
    assert (issuer, status) == (net.address(ISSUER), 1)  # valid
    assert (score, bytes(grade)) == (registry[0], bytes(registry[6]))  # the registry's figures

    opened = await xgate(
        a, "report", subject, "--reader-key-file", str(private_file), "--recompute"
    )
    assert opened.returncode == 0, opened.stderr
    answer = json.loads(opened.stdout)
    report = answer["report"]
    assert answer["recomputed"] is True
    assert sha256(canonical_report(report)).digest() == report_hash
    assert report["model"] == "xgate-credit-1" and report["score"] is not None
    assert (score, bytes(grade).rstrip(b"\0").decode()) == (report["score"], report["grade"])
    assert report["grade"] != INSUFFICIENT_HISTORY
    features = {f["name"]: f["raw"] for f in report["features"]}
    assert features["debtor_acknowledged"] == 5 and features["debtor_on_time_share"] == 10_000


async def test_a_thin_file_is_attested_as_insufficient_history_and_forgeries_are_refused(
    attesting: Attesting, tmp_path: Path
) -> None:
    a, net = attesting, attesting.net
    subject = net.address(BUYER)
    public_key, private_file = _reader(tmp_path, "fund")
    done = await xgate(
        a,
        "attest",
        subject,
        "--issuer",
        net.address(ISSUER),
        "--reader",
        public_key,
        "--no-publish",
    )
    assert done.returncode == 0, done.stderr
    [attest] = json.loads(done.stdout)["transactions"]  # --no-publish: attest only
    await _send(a, attest)
    score, grade, *_ = net.contract("c.credit_registry").functions.creditOf(subject).call()
    assert (score, bytes(grade).rstrip(b"\0").decode()) == (0, INSUFFICIENT_HISTORY)

    opened = await xgate(
        a, "report", subject, "--reader-key-file", str(private_file), "--recompute"
    )
    assert opened.returncode == 0, opened.stderr
    honest = json.loads(opened.stdout)["report"]
    assert honest["score"] is None and honest["grade"] == INSUFFICIENT_HISTORY

    # An issuer attests a report with a score the chain does not give: its hash is on chain,
    # so the box opens and matches, and only the recompute tells.
    await _issue_forged(a, subject, {**honest, "score": 820, "grade": "A"}, public_key)
    refused = await xgate(
        a, "report", subject, "--reader-key-file", str(private_file), "--recompute"
    )
    assert refused.returncode == 1, refused.stderr
    error = json.loads(refused.stderr.splitlines()[-1])["error"]
    assert "does not match the chain" in error["message"]
    assert {"grade", "score"} <= set(error["differs"])

    # The same figures claimed for an earlier block (a stale report passed off as another).
    await _issue_forged(a, subject, {**honest, "block": a.early_block}, public_key)
    stale = await xgate(a, "report", subject, "--reader-key-file", str(private_file), "--recompute")
    assert stale.returncode == 1, stale.stderr
    error = json.loads(stale.stderr.splitlines()[-1])["error"]
    assert f"block {a.early_block}" in error["message"] and "as_of" in error["differs"]


async def test_attest_at_an_earlier_block_issues_what_the_chain_gave_at_that_block(
    attesting: Attesting, tmp_path: Path
) -> None:
    a, net = attesting, attesting.net
    subject = net.address(DEBTOR)
    public_key, _ = _reader(tmp_path, "auditor")
    done = await xgate(
        a, "attest", subject, "--issuer", net.address(ISSUER), "--reader", public_key,
        "--block", str(a.early_block), "--no-publish",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout)

    score = [*XGATE, "score", subject, "--block", str(a.early_block), "--json"]
    scored = await asyncio.to_thread(
        subprocess.run, [*score, "--config", str(net.config_path)], capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    at_block = json.loads(scored.stdout)
    assert issued["report_hash"] == at_block["sha256"]  # the report of that block, not today's
    assert at_block["report"]["block"] == a.early_block
    # then the record was younger than 90 days: a thin file, whatever today's score is
    assert at_block["report"]["grade"] == INSUFFICIENT_HISTORY

    final = net.consortium.w3.eth.block_number
    future = await xgate(
        a, "attest", subject, "--issuer", net.address(ISSUER), "--reader", public_key,
        "--block", str(final + 1_000), "--no-publish",
    )  # fmt: skip
    assert future.returncode == 1
    assert "not a final block" in future.stderr
