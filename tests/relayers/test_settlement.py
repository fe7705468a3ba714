"""The receivable keeper in a real ``xgate keeper run`` process, on a devnet of its own (the
consortium's clock moves by the 30-day grace period; the public chain is left alone, nothing
crosses):

- a receivable whose debtor approved the payment is settled by the keeper at its due date,
  not before, and its holder (not its original creditor: it was assigned) is paid;
- one whose debtor approved nothing is left alone until its grace period is over, then
  marked Defaulted;
- after the service is stopped (SIGTERM: it stops within seconds) the debtor approves, and the
  restarted service, rebuilding its state from the chain, settles the defaulted receivable late
  (the days past due recorded) and sends nothing again for the settled one: the keeper's nonce
  moved by exactly its three transactions.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from hashlib import sha256
from typing import Any

import pytest
from web3.logs import DISCARD

from gateway.config import load_config
from harness.relaynet import SELF_FUNDED_ACCOUNTS, RelayNet
from harness.services import ServiceProcess, wait_until

pytestmark = pytest.mark.live

ADMIN, CREDITOR, HOLDER, PAYER, LATE_PAYER = 0, 7, 4, 8, 3  # 0 drafts (ISSUER_ROLE), mints
FACE = 250_000  # fen
SCALE = 10**4  # settlement token units per fen (the devnet's CNY setting)
AMOUNT = FACE * SCALE
HOUR, DAY = 3600, 86_400
ACKNOWLEDGED, SETTLED, DEFAULTED = 2, 5, 6  # Receivable.State
WAIT_S = 60.0
WORKER = "receivables:consortium"


@pytest.fixture(scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RelayNet]:
    async with RelayNet.start(
        tmp_path_factory.mktemp("settlement"), accounts=SELF_FUNDED_ACCOUNTS
    ) as relay_net:
        yield relay_net


class Book:
    """The test's receivables on the consortium, as users make them."""

    def __init__(self, net: RelayNet) -> None:
        self.net = net
        self.c = net.consortium
        self.receivable = net.contract("c.receivable")
        self.token = net.contract("c.settlement_token")
        self.docs = 0

    def draft(self, debtor: int, due: int) -> int:
        """Drafted by the issuer for the creditor, acknowledged by ``debtor``."""
        self.docs += 1
        doc = sha256(f"settlement invoice {self.docs}".encode()).digest()
        terms = (self.net.address(debtor), self.net.address(CREDITOR), FACE, b"CNY", due, doc)
        drafted = self.c.send(self.receivable.functions.draft(terms), sender=ADMIN)
        (event,) = self.receivable.events.Drafted().process_receipt(drafted, errors=DISCARD)
        token_id = int(event["args"]["tokenId"])
        self.c.send(self.receivable.functions.acknowledge(token_id), sender=debtor)
        return token_id

    def status(self, token_id: int) -> Any:
        return self.receivable.functions.statusOf(token_id).call()

    def state(self, token_id: int) -> int:
        return int(self.status(token_id)[0])

    def balance(self, account: int) -> int:
        return int(self.token.functions.balanceOf(self.net.address(account)).call())

    def paid_events(self, token_id: int) -> int:
        return len(
            self.receivable.events.Paid().get_logs(
                from_block=0, argument_filters={"tokenId": token_id}
            )
        )


def steps(service: ServiceProcess) -> int:
    answer = service.readyz()
    if answer is None:
        return 0
    workers = answer[1].get("workers")
    worker = workers.get(WORKER) if isinstance(workers, dict) else None
    return int(worker["steps"]) if worker else 0


def settle_steps(service: ServiceProcess, count: int = 3) -> None:
    """Until the worker completed ``count`` more steps: it decided on the chain as it is."""
    target = steps(service) + count
    wait_until(lambda: steps(service) >= target, WAIT_S, f"{count} {WORKER} steps", service)


def metric(service: ServiceProcess, name: str) -> float:
    for line in service.metrics().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def start(net: RelayNet) -> ServiceProcess:
    service = ServiceProcess(net.config_path, command=("keeper", "run")).start()
    service.wait_serving()
    return service


def stop(service: ServiceProcess) -> None:
    began = time.monotonic()
    assert service.stop() == 0, service.output()
    assert time.monotonic() - began < 10, "the keeper took too long to stop on SIGTERM"


def test_keeper_settles_on_the_due_date_defaults_after_grace_and_settles_late(
    net: RelayNet,
) -> None:
    book, c = Book(net), net.consortium
    keeper = load_config(net.config_path).keeper
    assert keeper is not None and keeper.address is not None and keeper.settle_receivables
    keeper_nonce = c.w3.eth.get_transaction_count(keeper.address)
    grace = int(book.receivable.functions.gracePeriod().call())
    assert grace == 30 * DAY

    for debtor in (PAYER, LATE_PAYER):
        c.send(book.token.functions.mint(net.address(debtor), 2 * AMOUNT), sender=ADMIN)
    due = c.now() + HOUR
    paid = book.draft(PAYER, due)
    unpaid = book.draft(LATE_PAYER, due)
    # Pre-authorised: exactly the amount due. Then the creditor assigns the claim.
    c.send(book.token.functions.approve(book.receivable.address, AMOUNT), sender=PAYER)
    c.send(
        book.receivable.functions.transferFrom(net.address(CREDITOR), net.address(HOLDER), paid),
        sender=CREDITOR,
    )

    service = start(net)
    try:
        settle_steps(service)  # due in an hour: nothing yet
        assert (book.state(paid), book.state(unpaid)) == (ACKNOWLEDGED, ACKNOWLEDGED)
        assert book.balance(HOLDER) == 0

        c.advance_time(due - c.now())  # the due date
        wait_until(lambda: book.state(paid) == SETTLED, WAIT_S, "the settlement", service)
        assert book.balance(HOLDER) == AMOUNT  # the holder, not the creditor, is paid
        assert book.balance(CREDITOR) == 0
        assert book.balance(PAYER) == AMOUNT
        assert int(book.status(paid)[8]) == 0  # days past due
        assert metric(service, "xgate_receivables_settled_total") == 1

        c.advance_time(due + grace - HOUR - c.now())  # an hour before the grace period ends
        settle_steps(service)
        assert book.state(unpaid) == ACKNOWLEDGED
        c.advance_time(HOUR + 1)
        wait_until(lambda: book.state(unpaid) == DEFAULTED, WAIT_S, "the default", service)
        assert book.balance(LATE_PAYER) == 2 * AMOUNT
        assert metric(service, "xgate_receivable_defaults_total") == 1
        assert metric(service, "xgate_receivable_failures_total") == 0
        logged = service.output()
        assert f"receivable {paid}: settled in 0x" in logged
        assert f"receivable {unpaid}: marked defaulted in 0x" in logged
    finally:
        stop(service)

    c.advance_time(5 * DAY)
    c.send(book.token.functions.approve(book.receivable.address, AMOUNT), sender=LATE_PAYER)
    service = start(net)
    try:
        wait_until(lambda: book.state(unpaid) == SETTLED, WAIT_S, "the late settlement", service)
        settle_steps(service)
        assert book.balance(LATE_PAYER) == AMOUNT
        assert book.balance(CREDITOR) == AMOUNT  # the unpaid one was never assigned
        status = book.status(unpaid)
        assert int(status[8]) == (int(status[7]) - due) // DAY >= 35  # days past due, paid at
        # Nothing twice: the settled one paid once; the keeper sent exactly three transactions.
        assert book.balance(HOLDER) == AMOUNT and book.paid_events(paid) == 1
        assert c.w3.eth.get_transaction_count(keeper.address) == keeper_nonce + 3
        assert metric(service, "xgate_receivables_settled_total") == 1  # this process's
        assert metric(service, "xgate_receivable_failures_total") == 0
    finally:
        stop(service)
