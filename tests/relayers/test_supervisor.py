"""The supervisor's error policy and shutdown, with real asyncio tasks and a real HTTP server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
import pytest

from adapters.errors import FinalityViolation, RpcUnavailable, TransactionFailed
from relayers.headers import LightClientFrozen
from relayers.metrics import RelayMetrics
from relayers.ops import ops_app, serve_ops
from relayers.supervisor import Backoff, Supervisor

FAST = Backoff(first_s=0.01, cap_s=0.04)


@dataclass
class Scripted:
    """A worker whose steps raise or return what its script says, then idle."""

    name: str
    script: list[object]
    interval_s: float = 0.01
    calls: int = 0
    cancelled: bool = False
    seen: list[object] = field(default_factory=list)

    async def step(self) -> bool:
        self.calls += 1
        try:
            if not self.script:
                await asyncio.sleep(0)
                return False
            item = self.script.pop(0)
            self.seen.append(item)
            if isinstance(item, BaseException):
                raise item
            return bool(item)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def _run_until(
    sup: Supervisor, done: asyncio.Event | None = None, seconds: float = 0.3
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_retryable_failures_back_off_and_recover() -> None:
    worker = Scripted("w", [RpcUnavailable("node down"), RpcUnavailable("node down"), True])
    sup = Supervisor([worker], backoff=FAST)
    await _run_until(sup)
    health = sup.health["w"]
    assert health.total_failures == 2
    assert health.failures == 0 and health.last_error is None
    assert health.ready and sup.ready


async def test_finality_violation_stops_only_that_worker() -> None:
    broken = Scripted("watch:public", [FinalityViolation("block 7 replaced", height=7)])
    fine = Scripted("deliver:public", [True, True])
    sup = Supervisor([broken, fine], backoff=FAST)
    await _run_until(sup)
    assert broken.calls == 1, "a stopped worker is never stepped again"
    assert sup.health["watch:public"].stopped is not None
    assert "block 7 replaced" in str(sup.health["watch:public"].stopped)
    assert fine.calls > 3 and sup.health["deliver:public"].ready
    assert not sup.ready


async def test_a_frozen_light_client_stops_its_header_worker() -> None:
    frozen = Scripted("headers:c->p", [LightClientFrozen("frozen on misbehaviour evidence")])
    sup = Supervisor([frozen], backoff=FAST)
    await _run_until(sup)
    assert frozen.calls == 1
    assert "frozen on misbehaviour evidence" in str(sup.health["headers:c->p"].stopped)


async def test_fatal_errors_and_bugs_keep_the_worker_failing_but_alive() -> None:
    worker = Scripted("w", [TransactionFailed("reverted"), ValueError("a bug")])
    sup = Supervisor([worker], backoff=FAST)
    await _run_until(sup, seconds=0.2)
    assert sup.health["w"].total_failures == 2
    assert worker.calls >= 3, "the worker goes on after the errors"


async def test_stop_cancels_and_awaits_every_worker() -> None:
    class Slow:
        name = "slow"
        interval_s = 0.01
        cancelled = False

        async def step(self) -> bool:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                Slow.cancelled = True
                raise
            return False

    sup = Supervisor([Slow()], backoff=FAST)
    await _run_until(sup, seconds=0.05)
    assert Slow.cancelled


async def test_a_worker_that_swallows_its_cancellation_is_named_and_still_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Stubborn:
        """Swallows the first cancellation and keeps waiting, as a cleanup blocked on a lock
        would; the second one ends it."""

        name = "stubborn"
        interval_s = 0.01
        cancellations = 0

        async def step(self) -> bool:
            while True:
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    Stubborn.cancellations += 1
                    if Stubborn.cancellations > 1:
                        raise

    sup = Supervisor([Stubborn()], backoff=FAST, stop_grace_s=0.1)
    await _run_until(sup, seconds=0.05)
    assert Stubborn.cancellations == 2
    [report] = [r for r in caplog.records if "has not stopped" in r.getMessage()]
    assert "stubborn" in report.getMessage() and "step" in report.getMessage()


def test_two_workers_with_one_name_are_refused() -> None:
    from adapters.errors import ConfigError

    with pytest.raises(ConfigError):
        Supervisor([Scripted("a", []), Scripted("a", [])])


def test_backoff_doubles_up_to_its_cap() -> None:
    b = Backoff(first_s=0.5, cap_s=3.0)
    assert [b.delay(k) for k in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_ops_endpoints_report_readiness_and_metrics() -> None:
    failing = Scripted("attest:public", [RpcUnavailable("down")] * 1000)
    sup = Supervisor([failing], backoff=FAST)
    metrics = RelayMetrics()
    metrics.set_message_counts(
        {("consortium->public", "delivered"): 3, ("consortium->public", "final"): 2}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    try:
        async with serve_ops(ops_app(sup, metrics), "127.0.0.1", 0) as port:
            await asyncio.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "/healthz") as r:
                    assert r.status == 200
                async with http.get(base + "/readyz") as r:
                    assert r.status == 503
                    body = await r.json()
                    assert body["workers"]["attest:public"]["consecutive_failures"] >= 1
                async with http.get(base + "/metrics") as r:
                    text = await r.text()
    finally:
        stop.set()
        await task
    assert 'xgate_messages{route="consortium->public",status="delivered"} 3.0' in text
    assert 'xgate_queue_depth{route="consortium->public"} 2.0' in text
    assert 'xgate_worker_up{worker="attest:public"} 0.0' in text
    assert "xgate_worker_failures_total" in text
