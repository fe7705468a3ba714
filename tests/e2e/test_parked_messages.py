"""A message whose receiver reverts is parked with the decoded reason by the services, left
alone (no retry loop, no gas), listed by `xgate message list`, and delivered once the operator
retried it with `xgate message retry` after the receiver was fixed."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from gateway.domain.status import MessageStatus
from harness.services import ServiceProcess, wait_until
from tests.e2e.conftest import DELIVERY_TIMEOUT_S, Devnet

SENDER, OWNER = 9, 4
QUIET_S = 5  # a parked message must not be touched again on its own


def xgate_message(devnet: Devnet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "message", *args, "--config", str(devnet.config_path),
         "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_refused_message_is_parked_with_its_reason_until_the_operator_retries_it(
    devnet: Devnet, services: ServiceProcess
) -> None:
    c, p = devnet.consortium, devnet.public
    receiver = p.deploy("BridgeTestReceiver", devnet.contract("p.endpoint").address, sender=OWNER)
    p.send(receiver.functions.setFailing(True), sender=OWNER)
    sent = c.send(
        devnet.contract("c.endpoint").functions.send(devnet.pid, receiver.address, b"invoice 7"),
        sender=SENDER,
    )

    def parked() -> bool:
        records = devnet.records("c", sent)
        return len(records) == 1 and records[0].status is MessageStatus.PARKED

    devnet.sync_clocks()
    wait_until(parked, DELIVERY_TIMEOUT_S, "the refused message parked", services)
    [record] = devnet.records("c", sent)
    assert record.reason is not None and record.reason.startswith("ReceiverFailed(")
    relayer = devnet.address(5)
    nonce = p.w3.eth.get_transaction_count(relayer)
    time.sleep(QUIET_S)
    [again] = devnet.records("c", sent)
    assert (again.status, again.attempts) == (MessageStatus.PARKED, record.attempts)
    assert p.w3.eth.get_transaction_count(relayer) == nonce  # no gas spent on it meanwhile

    listed = xgate_message(devnet, "list")
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    [entry] = [e for e in entries if e["id"] == "0x" + record.id.hex()]
    assert entry["status"] == "parked" and entry["reason"] == record.reason

    p.send(receiver.functions.setFailing(False), sender=OWNER)
    retried = xgate_message(devnet, "retry", "0x" + record.id.hex())
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "header_ready"
    wait_until(
        lambda: devnet.records("c", sent)[0].status is MessageStatus.DELIVERED,
        DELIVERY_TIMEOUT_S,
        "the retried message delivered",
        services,
    )
    assert receiver.functions.count().call() == 1
    history = xgate_message(devnet, "show", "0x" + record.id.hex())
    steps = [json.loads(line).get("to") for line in history.stdout.splitlines()[1:]]
    assert steps == ["final", "header_ready", "parked", "header_ready", "submitted", "delivered"]
    # Retrying what is not parked is refused and changes nothing.
    refused = xgate_message(devnet, "retry", "0x" + record.id.hex())
    assert refused.returncode == 1
    assert devnet.records("c", sent)[0].status is MessageStatus.DELIVERED
