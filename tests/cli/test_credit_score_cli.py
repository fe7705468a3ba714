"""`xgate credit score` as a real process on a devnet of its own (its clock moves by months):
receivables drafted and acknowledged between independent parties on the consortium, paid on
time, then one paid late; the debtor's score at the block before the late payment is the pure
model's over the same receivables (built here from what the test did, not from the events),
and at the block after it the late payment shows. A subject with too little history gets that
grade; a config without the Receivable's address, an unreachable node and a block beyond the
chain's final one are refused with the commands' exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from web3.logs import DISCARD

from adapters.types import Address, Height
from gateway.domain.credit_score import (
    INSUFFICIENT_HISTORY,
    CreditScore,
    Payment,
    ReceivableRecord,
    TokenId,
    score_subject,
)
from harness.relaynet import SELF_FUNDED_ACCOUNTS, RelayNet

pytestmark = pytest.mark.live

XGATE = [sys.executable, "-m", "gateway"]
DAY = 86_400
ADMIN, S1, S2, S3, BUYER, DEBTOR = 0, 3, 4, 5, 6, 7  # 0 drafts for the creditors (ISSUER_ROLE)
FACE = 100_000  # fen (1 000 CNY)
SCALE = 10**4  # settlement token units per fen (the devnet's CNY setting)


@dataclass
class Book:
    """The receivables as the test made them: the records the model should be given."""

    net: RelayNet
    records: dict[int, ReceivableRecord] = field(default_factory=dict)
    docs: int = 0

    def time(self, receipt: Any) -> int:
        return int(self.net.consortium.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def receivable(self, creditor: int, debtor: int, term_s: int) -> int:
        """Drafted (by the issuer for ``creditor``) and acknowledged by ``debtor``."""
        c, contract = self.net.consortium, self.net.contract("c.receivable")
        self.docs += 1
        due = c.now() + term_s
        doc = sha256(f"invoice {self.docs}".encode()).digest()
        terms = (self.net.address(debtor), self.net.address(creditor), FACE, b"CNY", due, doc)
        drafted = c.send(contract.functions.draft(terms), sender=ADMIN)
        (event,) = contract.events.Drafted().process_receipt(drafted, errors=DISCARD)
        token = int(event["args"]["tokenId"])
        acknowledged = c.send(contract.functions.acknowledge(token), sender=debtor)
        self.records[token] = ReceivableRecord(
            token_id=TokenId(token),
            creditor=_raw(self.net.address(creditor)),
            debtor=_raw(self.net.address(debtor)),
            face_value=FACE,
            currency="CNY",
            due_at=due,
            drafted_at=self.time(drafted),
            acknowledged_at=self.time(acknowledged),
        )
        return token

    def pay(self, token: int, payer: int) -> int:
        """Paid in full; the block's number."""
        c, contract = self.net.consortium, self.net.contract("c.receivable")
        receipt = c.send(contract.functions.pay(token, FACE), sender=payer)
        at = self.time(receipt)
        self.records[token] = replace(
            self.records[token], payments=(Payment(at, FACE),), settled_at=at
        )
        return int(receipt["blockNumber"])


def _raw(address: str) -> Address:
    return Address(bytes.fromhex(address[2:]))


def xgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*XGATE, "credit", "score", *args], capture_output=True, text=True, timeout=120
    )


def scored(config: Path, subject: str, block: int) -> tuple[dict[str, Any], bytes]:
    """``--json`` at ``block``: the report and its canonical bytes (their sha256 checked)."""
    done = xgate(subject, "--block", str(block), "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    answer = json.loads(line)
    canonical = line[len('{"report":') : line.rindex(',"sha256":')].encode()
    assert answer["sha256"] == "0x" + sha256(canonical).hexdigest()
    return answer["report"], canonical


@dataclass
class History:
    net: RelayNet
    book: Book
    on_time_block: int  # every receivable of the debtor acknowledged, none late yet
    late_block: int  # the late payment's block


@pytest.fixture(scope="module")
async def history(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[History]:
    folder = tmp_path_factory.mktemp("credit-score")
    async with RelayNet.start(folder, accounts=SELF_FUNDED_ACCOUNTS) as net:
        c = net.consortium
        token, receivable = net.contract("c.settlement_token"), net.contract("c.receivable")
        c.send(token.functions.mint(net.address(DEBTOR), 10 * FACE * SCALE), sender=ADMIN)
        c.send(token.functions.approve(receivable.address, 2**256 - 1), sender=DEBTOR)
        book = Book(net)
        # The debtor buys from three suppliers and pays on time; each supplier also sells to
        # another buyer, so none of them trades only inside the debtor's circle (independent).
        for supplier in (S1, S2, S3, S1):
            book.pay(book.receivable(supplier, DEBTOR, 30 * DAY), DEBTOR)
        for supplier in (S1, S2, S3):
            book.receivable(supplier, BUYER, 30 * DAY)
        c.advance_time(100 * DAY)  # a record of more than 90 days
        late = book.receivable(S2, DEBTOR, 10 * DAY)
        on_time_block = int(c.w3.eth.block_number)
        c.advance_time(20 * DAY)
        late_block = book.pay(late, DEBTOR)  # ten days after its due date
        yield History(net, book, on_time_block, late_block)


def model(h: History, subject: int, block: int) -> CreditScore:
    as_of = int(h.net.consortium.w3.eth.get_block(block)["timestamp"])
    return score_subject(
        _raw(h.net.address(subject)), h.book.records.values(), block=Height(block), as_of=as_of
    )


def test_the_score_before_the_late_payment_is_the_models_over_the_same_receivables(
    history: History,
) -> None:
    h = history
    report, canonical = scored(h.net.config_path, h.net.address(DEBTOR), h.on_time_block)
    expected = model(h, DEBTOR, h.on_time_block)
    assert canonical == expected.canonical()
    assert report["score"] is not None and report["grade"] != INSUFFICIENT_HISTORY
    features = {f["name"]: f for f in report["features"]}
    assert features["debtor_acknowledged"]["raw"] == 5
    assert features["debtor_on_time_share"]["raw"] == 10_000
    assert features["debtor_days_past_due_max"]["raw"] == 0
    assert report["block"] == h.on_time_block and report["model"] == "xgate-credit-1"


def test_the_late_payment_lowers_the_score_at_a_later_block(history: History) -> None:
    h = history
    before, _ = scored(h.net.config_path, h.net.address(DEBTOR), h.on_time_block)
    after, canonical = scored(h.net.config_path, h.net.address(DEBTOR), h.late_block)
    assert canonical == model(h, DEBTOR, h.late_block).canonical()
    features = {f["name"]: f for f in after["features"]}
    assert features["debtor_on_time_share"]["raw"] == 8_000  # 4 of 5 on time
    assert features["debtor_days_past_due_max"]["raw"] >= 10
    assert after["score"] < before["score"]


def test_a_thin_file_prints_insufficient_history_at_the_latest_final_block(
    history: History,
) -> None:
    h = history
    done = xgate(h.net.address(BUYER), "--config", str(h.net.config_path))
    assert done.returncode == 0, done.stderr
    assert f"grade   {INSUFFICIENT_HISTORY}" in done.stdout
    assert "fewer than 5 counted claims" in done.stdout
    for name in ("model   xgate-credit-1", "debtor_acknowledged", "record_age_days", "sha256 0x"):
        assert name in done.stdout
    head = int(h.net.consortium.w3.eth.block_number)
    block = int(done.stdout.split("block   ")[1].split()[0])
    assert h.late_block <= block <= head


def _variant(h: History, name: str, change: Any) -> Path:
    raw = tomllib.loads(h.net.config_path.read_text())
    change(raw["chains"]["consortium"])
    path = h.net.config_path.with_name(name)
    path.write_text(tomli_w.dumps(raw))
    return path


def test_refusals_have_the_commands_exit_codes(history: History) -> None:
    h = history
    subject = h.net.address(DEBTOR)
    head = int(h.net.consortium.w3.eth.block_number)
    beyond = xgate(subject, "--block", str(head + 1_000), "--config", str(h.net.config_path))
    assert beyond.returncode == 1 and "not a final block" in beyond.stderr

    no_address = _variant(h, "no-receivable.toml", lambda c: c["contracts"].pop("receivable"))
    done = xgate(subject, "--config", str(no_address))
    assert done.returncode == 2 and "contracts.receivable: no address" in done.stderr

    def closed_port(chain: dict[str, Any]) -> None:
        chain["rpc_urls"] = ["http://127.0.0.1:9"]
        chain["retry"] = {"max_attempts": 2, "initial_delay": 0.1}

    done = xgate(subject, "--config", str(_variant(h, "unreachable.toml", closed_port)), "--json")
    assert done.returncode == 3, done.stderr
    error = json.loads(done.stderr.splitlines()[-1])["error"]  # after the retries' log lines
    assert "unreachable" in error["message"] and error["error"] == "RpcUnavailable"
    assert "Unclosed" not in done.stderr
