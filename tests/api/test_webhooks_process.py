"""Webhooks across two real ``xgate api`` processes on one PostgreSQL, each running its
dispatcher: a webhook registered through instance A is posted to a real local receiver by
whichever dispatcher claims each delivery, exactly once per successful delivery, signed so that
``verify_webhook`` accepts it; a receiver failing twice gets the event on the third attempt;
one that always fails is dead-lettered, listed by an operator and replayed (signed requests)
through instance B; an instance killed and started again loses no event."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import tomli_w
from aiohttp import ClientSession
from nacl.signing import SigningKey
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from gateway.api.signing import signature_headers
from gateway.api.webhook_signing import verify_webhook
from gateway.domain.apikeys import Scope
from gateway.store import Store, migrate
from harness.services import XGATE, free_port
from tests.api.conftest import HUB, PUBLIC, config_data
from tests.api.test_events_process import (
    ApiProcess,
    start,
)
from tests.api.test_events_process import (  # fixtures
    api_config as api_config,
)
from tests.api.test_events_process import (
    pg_server as pg_server,
)
from tests.api.test_events_process import (
    pg_store as pg_store,
)
from tests.api.test_events_process import (
    pg_url as pg_url,
)
from tests.api.test_events_process import (
    processes as processes,
)
from tests.api.test_webhooks_delivery import Receiver, receiving, until
from tests.store.conftest import new_message, scan

FAST = (
    "--dev-webhooks",
    "--webhook-retry-first-s", "0.1",
    "--webhook-retry-max-s", "0.2",
    "--webhook-max-attempts", "3",
    "--webhook-poll-s", "0.1",
    "--webhook-timeout-s", "2",
)  # fmt: skip


async def register(session: ClientSession, process: ApiProcess, token: str, url: str) -> Any:
    async with session.post(
        f"{process.base}/v1/webhooks",
        json={"url": url, "kinds": ["message"]},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def signed(
    session: ClientSession,
    method: str,
    process: ApiProcess,
    path: str,
    token: str,
    signer: SigningKey,
) -> tuple[int, Any]:
    target = URL(path).raw_path_qs
    headers = {
        "Authorization": f"Bearer {token}",
        **signature_headers(signer, method, target, b"", timestamp=int(time.time())),
    }
    async with session.request(method, f"{process.base}{path}", headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_two_instances_deliver_each_event_once_retry_and_dead_letter(
    api_config: Path, pg_store: Store, processes: list[ApiProcess]
) -> None:
    dapp = await pg_store.create_api_key("dapp", [Scope.DAPP])
    signer = SigningKey.generate()
    operator = await pg_store.create_api_key(
        "operator", [Scope.OPERATOR], ed25519_public_key=bytes(signer.verify_key)
    )
    a, b = await asyncio.gather(
        start(processes, api_config, *FAST), start(processes, api_config, *FAST)
    )
    async with (
        ClientSession() as session,
        receiving(Receiver()) as steady,
        receiving(Receiver(fail=[500, 502])) as flaky,
        receiving(Receiver(fail=[503] * 1000)) as broken,
    ):
        hooks = {
            name: await register(session, a, dapp.token, receiver.url)
            for name, receiver in (("steady", steady), ("flaky", flaky), ("broken", broken))
        }
        for n in range(1, 11):
            await scan(pg_store, [new_message(n, src=HUB, dst=PUBLIC)], chain=HUB)
        await until(lambda: len(steady.got) >= 10, 30)
        await until(lambda: len(flaky.delivered()) >= 10, 30)
        await until(lambda: len(broken.got) >= 30, 30)  # 10 events, 3 attempts each
        await asyncio.sleep(1.0)  # time for a duplicate, were there one
        # Exactly once per successful delivery, whichever dispatcher posted it.
        assert sorted(e["id"] for e in steady.delivered()) == list(range(1, 11))
        assert sorted(e["id"] for e in flaky.delivered()) == list(range(1, 11))
        assert [s for _, _, _, s in flaky.got].count(200) == 10
        assert [s for _, _, _, s in flaky.got][:2] == [500, 502]
        for receiver, hook in ((steady, hooks["steady"]), (flaky, hooks["flaky"])):
            for _, headers, body, _ in receiver.got:
                verify_webhook(hook["secret"], headers, body, 60)
        # The broken receiver: every event had its 3 attempts and is dead-lettered.
        assert len(broken.got) == 30 and broken.delivered() == []
        status, dead = await signed(
            session, "GET", b, "/v1/operator/dead-letters", operator.token, signer
        )
        assert status == 200, dead
        assert [(d["webhook_id"], d["event_id"], d["attempts"]) for d in dead["items"]] == [
            (hooks["broken"]["id"], n, 3) for n in range(1, 11)
        ]
        assert {d["last_error"] for d in dead["items"]} == {"HTTP 503"}
        # It works again: an operator replays event 4 (through instance B).
        broken.fail.clear()
        path = f"/v1/operator/dead-letters/{hooks['broken']['id']}/4/replay"
        status, replayed = await signed(session, "POST", b, path, operator.token, signer)
        assert (status, replayed["state"], replayed["attempts"]) == (200, "pending", 0), replayed
        await until(lambda: len(broken.delivered()) == 1, 30)
        await asyncio.sleep(0.5)
        assert [e["id"] for e in broken.delivered()] == [4]
        verify_webhook(hooks["broken"]["secret"], broken.got[-1][1], broken.got[-1][2], 60)
        status, dead = await signed(
            session, "GET", a, "/v1/operator/dead-letters", operator.token, signer
        )
        assert [d["event_id"] for d in dead["items"]] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
        # The dispatchers' counts, on the instances' /metrics, add up to what was posted.
        totals: dict[str, float] = {}
        for process in (a, b):
            async with session.get(f"{process.base}/metrics") as response:
                for family in text_string_to_metric_families(await response.text()):
                    for sample in family.samples:
                        if sample.name == "xgate_webhook_posts_total":
                            outcome = sample.labels["outcome"]
                            totals[outcome] = totals.get(outcome, 0) + sample.value
        assert totals == {"delivered": 21, "failed": 22, "dead_lettered": 10}
    for process in (a, b):
        assert process.stop() == 0, process.output()
        assert "Traceback" not in process.output()
    # Both dispatchers ran (the log names each one).
    assert all("webhook dispatcher" in p.output() for p in (a, b))


async def test_no_event_is_lost_when_the_instance_is_killed_and_started_again(
    api_config: Path, pg_store: Store, processes: list[ApiProcess]
) -> None:
    """SIGKILL while deliveries wait for their retry, events written while no instance runs:
    after the restart every event reaches the receiver (at least once, each with its id and
    the same signed body, so a receiver de-duplicates by id). A delivery killed in the middle
    of its post is posted again once its lease expires (tests/store/test_webhooks.py)."""
    dapp = await pg_store.create_api_key("dapp", [Scope.DAPP])
    # Retries 2 s apart: the kill falls between posts, not during one.
    slow_retry = (*FAST, "--webhook-retry-first-s", "2", "--webhook-retry-max-s", "2")
    a = await start(processes, api_config, *slow_retry)
    async with ClientSession() as session, receiving(Receiver(fail=[503] * 3)) as receiver:
        hook = await register(session, a, dapp.token, receiver.url)
        await scan(pg_store, [new_message(n, src=HUB, dst=PUBLIC) for n in (1, 2, 3)], chain=HUB)
        await until(lambda: len(receiver.got) >= 3, 30)  # each refused once: retry in 2 s
        await asyncio.sleep(0.5)  # the failures recorded
        a.kill()
        assert receiver.delivered() == []
        await scan(pg_store, [new_message(n, src=HUB, dst=PUBLIC) for n in (4, 5)], chain=HUB)
        a = await start(processes, api_config, *FAST)
        await until(lambda: {e["id"] for e in receiver.delivered()} >= set(range(1, 6)), 30)
        bodies: dict[int, bytes] = {}
        for _, headers, body, _ in receiver.got:
            verify_webhook(hook["secret"], headers, body, 60)
            event_id = json.loads(body)["id"]
            assert bodies.setdefault(event_id, body) == body  # a repeat is the same event
    assert sorted(bodies) == [1, 2, 3, 4, 5]
    assert a.stop() == 0, a.output()
    assert "Traceback" not in a.output()


def test_xgate_api_refuses_a_bad_webhook_policy(tmp_path: Path) -> None:
    config = tmp_path / "xgate.toml"
    config.write_text(tomli_w.dumps(config_data(f"sqlite:///{tmp_path / 'xgate.db'}")))
    base = [*XGATE, "api", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}"]
    for extra, says in (
        (["--webhook-max-attempts", "0"], "webhook_max_attempts"),
        (["--webhook-retry-first-s", "10", "--webhook-retry-max-s", "1"], "must not exceed"),
        (["--webhook-timeout-s", "-1"], "positive number of seconds"),
    ):
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert says in done.stderr


def test_xgate_api_takes_its_settings_from_the_api_section(tmp_path: Path) -> None:
    """[api] listen is where the API serves; a bad [api] key is refused with its path."""
    port = free_port()
    data = config_data(f"sqlite:///{tmp_path / 'xgate.db'}")
    config = tmp_path / "xgate.toml"
    config.write_text(tomli_w.dumps({**data, "api": {"webhook_retry_first_s": 0}}))
    done = subprocess.run(
        [*XGATE, "api", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "api.webhook_retry_first_s" in done.stderr
    config.write_text(
        tomli_w.dumps({**data, "api": {"listen": f"127.0.0.1:{port}", "webhooks": False}})
    )
    migrate.upgrade(data["store"]["url"])
    log = tmp_path / "api.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [*XGATE, "api", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.loads(r.read()) == {"status": "ok"}
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, log.read_text()
    assert "webhook dispatcher" not in log.read_text()
