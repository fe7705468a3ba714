"""Relayer processes killed with SIGKILL at random moments while 60 transfers cross both
ways, and started again: every message is delivered exactly once (one ``MessageDelivered`` per
id, the wrapped supply equal to what the vault holds), none is lost, and the store records each
as delivered (or already delivered), on SQLite (an ``xgate run`` process: relayer, attesters
and keeper killed together) and on PostgreSQL (a ``relayer run`` process beside an
``attester run`` one); and three relayer processes sharing PostgreSQL, one of them killed
again and again (docs/relayer.md §2, §7)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load_config
from harness.services import ServiceProcess
from tests.faults._fleet import (
    Killer,
    check_exactly_once,
    delivering_processes,
    mixed_rounds,
    snapshot,
    wait_all_delivered,
)
from tests.faults._net import USERS, FaultNet, Transfers

SEED = int(os.environ.get("XGATE_FAULT_SEED", random.randrange(10**6)))
SETUP_AMOUNT = 10**7


@pytest.fixture(scope="module")
def load(net: FaultNet) -> Transfers:
    transfers = Transfers(net)
    transfers.fund(10**10)
    return transfers


def _start(config: Path, *commands: tuple[str, ...]) -> list[ServiceProcess]:
    services = [ServiceProcess(config, command).start() for command in commands]
    for service in services:
        service.wait_serving()
    return services


def _stop(services: list[ServiceProcess]) -> None:
    for service in services:
        assert service.stop() == 0, service.output()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: SQLite beside the config; else a scratch PostgreSQL database."""
    yield None if request.param == "sqlite" else request.getfixturevalue("pg_url")


def _give_wrapped_tokens(load: Transfers, url: str, services: list[ServiceProcess]) -> None:
    """Every user gets wrapped tokens on the public chain to burn (a lock each, relayed)."""
    since = len(load.sent)
    load.send([(u, SETUP_AMOUNT) for u in USERS], [])
    wait_all_delivered(load, url, 60, services, since=since)


def test_relayer_killed_at_random_moments_during_60_transfers_delivers_each_exactly_once(
    net: FaultNet, load: Transfers, store_url: str | None
) -> None:
    dialect = "postgresql" if store_url else "sqlite"
    config = net.config(f"kill-{dialect}.toml", store_url=store_url)
    url = load_config(config).store.url
    if store_url is None:
        # `xgate run`: the attesters and the keeper die with the relayer, and start again.
        services = _start(config, ("run",))
    else:
        services = _start(config, ("attester", "run"), ("relayer", "run"))
    relayer = services[-1]
    _give_wrapped_tokens(load, url, services)

    before = snapshot(load)
    started = time.monotonic()
    killer = Killer(relayer, between_s=(1.0, 3.0), seed=SEED).start()
    # 60 transfers: 40 to the public chain, 20 back, in five rounds a second apart, so the
    # kills land while messages are claimed, submitted and confirmed (the devnet's py-evm
    # consortium node executes each proof-carrying delivery several times: simulation,
    # estimate, block; more transfers only lengthen the drain, not what a kill can hit).
    mixed_rounds(load, rounds=5, locks=8, burns=4, pause_s=1.0, users=USERS)
    sent_s = time.monotonic() - started
    # Keep killing while the backlog drains: at least four kills in all.
    killer.wait_kills(4)
    killer.stop()
    drained_s = wait_all_delivered(load, url, 150, services, killer, since=before.count)

    check_exactly_once(load, url, before)
    print(
        f"\n[{dialect}] seed {SEED}: {len(load.sent) - before.count} transfers sent in "
        f"{sent_s:.0f} s, {killer.kills} SIGKILLs, all delivered {time.monotonic() - started:.0f} s "
        f"after the first (drain after the last kill {drained_s:.0f} s)"
    )
    _stop(services)


def test_three_relayers_sharing_postgresql_one_killed_repeatedly_deliver_each_exactly_once(
    net: FaultNet, load: Transfers, pg_url: str
) -> None:
    signers = ("relayer", "relayer-2", "relayer-3")
    configs = [
        net.config(f"fleet-{name}.toml", store_url=pg_url, relayer={"signer": name}, signers=[name])
        if name != "relayer"
        else net.config("fleet-relayer.toml", store_url=pg_url)
        for name in signers
    ]
    # Everything starts at once on the empty database, as a fleet coming up does.
    services = [ServiceProcess(configs[0], ("attester", "run")).start()]
    services += [ServiceProcess(config, ("relayer", "run")).start() for config in configs]
    for service in services:
        service.wait_serving()
    victim = services[2]
    _give_wrapped_tokens(load, pg_url, services)

    before = snapshot(load)
    started = time.monotonic()
    killer = Killer(victim, between_s=(1.0, 3.0), seed=SEED).start()
    mixed_rounds(load, rounds=5, locks=8, burns=4, pause_s=1.0, users=USERS)
    killer.wait_kills(4)
    killer.stop()
    wait_all_delivered(load, pg_url, 120, services, killer, since=before.count)

    check_exactly_once(load, pg_url, before)
    owners = delivering_processes(pg_url, [s.id for s in load.sent[before.count :]])
    print(
        f"\n[3 relayers] seed {SEED}: {len(load.sent) - before.count} transfers, "
        f"{killer.kills} SIGKILLs of one relayer, delivered by {len(owners)} processes "
        f"{sorted(owners.values(), reverse=True)} in {time.monotonic() - started:.0f} s"
    )
    assert len(owners) >= 2  # the work was shared
    # The attester kept its checkpoint on PostgreSQL (a stream name too long for the column
    # once failed every scan there, never on SQLite).
    assert "ERROR" not in services[0].output(), services[0].output()
    assert not any("Traceback" in s.output() for s in services)
    _stop(services)
