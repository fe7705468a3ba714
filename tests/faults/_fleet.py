"""Service processes under fault: a killer thread that SIGKILLs a relayer process at random
moments and starts it again, and the end-to-end checks of a transfer load (every message
delivered exactly once on chain, none lost, the store agreeing, balances adding up)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.domain.messages import MessageId
from gateway.domain.status import MessageStatus
from gateway.store import Store
from harness.services import ServiceProcess
from tests.faults._net import DONE, Transfers, store_statuses


@dataclass
class Killer:
    """SIGKILL ``victim`` every ``between_s`` (uniform) seconds and start it again at once,
    until ``stop()`` or ``max_kills``; a seeded ``random.Random`` so a failure can be
    replayed."""

    victim: ServiceProcess
    between_s: tuple[float, float]
    seed: int
    max_kills: int = 1_000
    kills: int = 0
    restarts_failed: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Killer:
        self._thread = threading.Thread(target=self._run, name="killer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def wait_kills(self, kills: int, timeout_s: float = 120.0) -> None:
        """Until ``kills`` kills happened (the victim keeps being killed meanwhile)."""
        deadline = time.monotonic() + timeout_s
        while self.kills < kills:
            assert not self.restarts_failed, self.restarts_failed[0]
            assert time.monotonic() < deadline, f"only {self.kills} kills in {timeout_s} s"
            time.sleep(0.5)

    def _run(self) -> None:
        rng = random.Random(self.seed)
        while self.kills < self.max_kills and not self._stop.wait(rng.uniform(*self.between_s)):
            if self.victim.proc is not None and self.victim.proc.poll() is not None:
                # It ended by itself: a crash the test must see, not hide by restarting.
                self.restarts_failed.append(self.victim.output())
                return
            self.victim.kill()
            self.kills += 1
            self.victim.start()
            try:  # the next kill comes a random time after it runs again, not at import
                self.victim.wait_serving()
            except AssertionError as exc:  # it could not start again
                self.restarts_failed.append(str(exc))
                return


def wait_all_delivered(
    load: Transfers,
    url: str,
    timeout_s: float,
    services: Sequence[ServiceProcess],
    killer: Killer | None = None,
    *,
    since: int = 0,
) -> float:
    """Wait until the store says ``delivered`` / ``already_delivered`` for every message the
    load sent (from ``load.sent[since]`` on: earlier tests used other stores) and the
    destination endpoints agree; the seconds it took. (The store is polled, not the chains: a
    poll of every message's ``delivered(id)`` would steal the devnet's time.)"""
    started = time.monotonic()
    ids = [s.id for s in load.sent[since:]]
    deadline = started + timeout_s
    while True:
        if killer is not None:
            assert not killer.restarts_failed, killer.restarts_failed[0]
        for service in services:
            if service.proc is not None and service.proc.poll() is not None:
                raise AssertionError(f"a service exited:\n{service.output()}")
        statuses = store_statuses(url, ids)
        if all(s in DONE for s in statuses.values()):
            missing = load.undelivered()
            assert not missing, f"the store says delivered, the chain does not: {missing[:3]}"
            return time.monotonic() - started
        if time.monotonic() > deadline:
            logs = "\n".join(s.output()[-3000:] for s in services)
            raise AssertionError(
                f"not all delivered within {timeout_s} s; store: "
                f"{Counter(statuses.values())}\n{logs}"
            )
        time.sleep(1.0)


def check_exactly_once(load: Transfers, url: str, before: Snapshot) -> None:
    """Every message delivered once (one ``MessageDelivered`` per id on its destination),
    none lost, the store says so, and the balances are the sums of what was sent."""
    sent = load.sent[before.count :]
    counts: Counter[bytes] = Counter()
    for endpoint, chain in (
        (load.p_endpoint, load.net.public),
        (load.c_endpoint, load.net.consortium),
    ):
        for entry in endpoint.events.MessageDelivered.get_logs(
            from_block=before.heights[chain.name]
        ):
            counts[bytes(entry["args"]["id"])] += 1
    assert {bytes(s.id): counts[bytes(s.id)] for s in sent} == {bytes(s.id): 1 for s in sent}
    assert not load.undelivered()
    statuses = store_statuses(url, [s.id for s in sent])
    assert set(statuses.values()) <= DONE, Counter(statuses.values())

    expected = dict(before.balances)
    for s in sent:
        token, wrapped = expected[s.user]
        sign = 1 if s.side == "c" else -1
        expected[s.user] = (token - sign * s.amount, wrapped + sign * s.amount)
    assert load.balances() == expected
    moved = sum(s.amount if s.side == "c" else -s.amount for s in sent)
    assert load.locked() == before.locked + moved
    assert load.supply() == load.locked()  # no double mint: every wrapped token is backed


@dataclass(frozen=True)
class Snapshot:
    count: int  # messages sent before
    heights: dict[str, int]
    balances: dict[str, tuple[int, int]]
    locked: int


def snapshot(load: Transfers) -> Snapshot:
    return Snapshot(len(load.sent), load.net.heights(), load.balances(), load.locked())


def statuses_of(url: str, ids: Sequence[MessageId]) -> Counter[MessageStatus | None]:
    return Counter(store_statuses(url, ids).values())


def mixed_rounds(
    load: Transfers, rounds: int, locks: int, burns: int, pause_s: float, users: Sequence[int]
) -> None:
    """``rounds`` batches of ``locks`` locks (consortium -> public) and ``burns`` burns
    (public -> consortium), users taken in turn, every amount different (a double mint of any
    one shows in the sums)."""
    k = 0
    for _ in range(rounds):
        batch_locks = [(users[(k + i) % len(users)], 1_000 + k + i) for i in range(locks)]
        batch_burns = [(users[(k + i + 1) % len(users)], 500 + k + i) for i in range(burns)]
        k += max(locks, burns)
        load.send(batch_locks, batch_burns)
        time.sleep(pause_s)


def delivering_processes(url: str, ids: Sequence[MessageId]) -> Counter[str]:
    """How many of the messages each process (lease owner, one per start) recorded delivered."""

    async def read() -> Counter[str]:
        store = await Store.open(url, migrate=False)
        try:
            owners: Counter[str] = Counter()
            for mid in ids:
                for change in await store.history(mid):
                    if change.new_status in DONE:
                        owners[change.owner or "?"] += 1
            return owners
        finally:
            await store.close()

    return asyncio.run(read())
