"""``GET /v1/events`` across real ``xgate api`` processes on one PostgreSQL (a scratch database
per run): a client connected to either instance sees an event written while it is connected
(each instance wakes on ``LISTEN xgate_events``); a client that resumes from its
``Last-Event-ID`` after its instance restarted misses nothing that was written meanwhile (ids
increasing, at least once); an instance stops at once on SIGTERM with streams open."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomli_w
from aiohttp import ClientSession, ClientTimeout

from gateway.domain.apikeys import Scope
from gateway.store import Store, migrate
from harness.services import XGATE, free_port
from tests.api.conftest import HUB, PUBLIC, config_data
from tests.api.test_events import SseReader, relay
from tests.store.conftest import PgServer, new_message, scan
from tests.store.conftest import pg_server as pg_server  # the session's PostgreSQL


@dataclass
class ApiProcess:
    """One ``xgate api`` process; its stderr goes to ``log``."""

    config: Path
    extra: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.config.with_name(f"api-{self.port}.log")

    def start(self) -> ApiProcess:
        with self.log.open("ab") as stderr:
            self.proc = subprocess.Popen(
                [
                    *XGATE,
                    "api",
                    "--config",
                    str(self.config),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    *self.extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-8000:]

    async def wait_serving(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with ClientSession(timeout=ClientTimeout(total=2)) as session:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"xgate api exited:\n{self.output()}")
                try:
                    async with session.get(f"{self.base}/healthz") as response:
                        if response.status == 200:
                            return
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"xgate api did not serve:\n{self.output()}")
                await asyncio.sleep(0.2)

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"xgate api did not stop:\n{self.output()}") from None
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new PostgreSQL database at head for this test."""
    url = pg_server.create()
    migrate.upgrade(url)
    return url


@pytest.fixture
def api_config(tmp_path: Path, pg_url: str) -> Path:
    path = tmp_path / "xgate.toml"
    path.write_text(tomli_w.dumps(config_data(pg_url)))
    return path


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    """The store as the relay services open it (another process's view of the database)."""
    store = await Store.open(pg_url, migrate=False)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def processes() -> Iterator[list[ApiProcess]]:
    """Processes a test started; any left running are killed at the end."""
    started: list[ApiProcess] = []
    yield started
    for process in started:
        process.kill()


async def start(processes: list[ApiProcess], config: Path, *extra: str) -> ApiProcess:
    process = ApiProcess(config, extra).start()
    processes.append(process)
    await process.wait_serving()
    return process


async def open_stream(
    session: ClientSession,
    process: ApiProcess,
    token: str,
    path: str = "/v1/events",
    **headers: str,
) -> SseReader:
    response = await session.get(
        f"{process.base}{path}", headers={"Authorization": f"Bearer {token}", **headers}
    )
    assert response.status == 200, await response.text()
    reader = SseReader(response)
    await reader.next()  # the opening comment: the stream is live
    return reader


async def test_a_client_on_either_instance_sees_events_written_while_connected(
    api_config: Path, pg_store: Store, processes: list[ApiProcess]
) -> None:
    reader_key = await pg_store.create_api_key("reader", [Scope.READ])
    a, b = await asyncio.gather(start(processes, api_config), start(processes, api_config))
    async with ClientSession() as session:
        on_a = await open_stream(session, a, reader_key.token)
        on_b = await open_stream(session, b, reader_key.token)
        item = new_message(1, src=HUB, dst=PUBLIC)
        started = time.monotonic()
        await scan(pg_store, [item], chain=HUB)  # the watcher records it
        seen_a, seen_b = await asyncio.gather(on_a.event(), on_b.event())
        assert time.monotonic() - started < 5  # woken by NOTIFY, not a slow poll
        for seen in (seen_a, seen_b):
            assert (seen.id, seen.event, seen.data["ref"]) == (1, "message", "0x" + item.id.hex())
            assert seen.data["data"]["status"] == "final"
        await relay(pg_store, item)  # the relayer moves it on
        assert [(await on_a.event()).data["data"]["status"] for _ in range(2)] == [
            "header_ready",
            "submitted",
        ]
        on_a.response.close()
        on_b.response.close()
    assert a.stop() == 0 and b.stop() == 0


async def test_a_client_resumes_from_last_event_id_after_a_restart_without_losing_events(
    api_config: Path, pg_store: Store, processes: list[ApiProcess]
) -> None:
    reader_key = await pg_store.create_api_key("reader", [Scope.READ])
    a = await start(processes, api_config)
    got: list[int] = []
    async with ClientSession() as session:
        stream = await open_stream(session, a, reader_key.token, "/v1/events?after=0")
        await scan(pg_store, [new_message(n, src=HUB, dst=PUBLIC) for n in (1, 2, 3)], chain=HUB)
        got += [(await stream.event()).id or 0 for _ in range(3)]
        # SIGTERM with the stream open: the instance ends it and stops at once.
        stopping = time.monotonic()
        assert a.stop() == 0, a.output()
        assert time.monotonic() - stopping < 8  # well under the 10 s shutdown timeout
        assert await stream.ended(5)
        # Written while no instance serves.
        await scan(pg_store, [new_message(n, src=HUB, dst=PUBLIC) for n in (4, 5)], chain=HUB)
        a = await start(processes, api_config)
        resumed = await open_stream(
            session, a, reader_key.token, "/v1/events?after=0", **{"Last-Event-ID": str(got[-1])}
        )
        got += [(await resumed.event()).id or 0 for _ in range(2)]
        await scan(pg_store, [new_message(6, src=HUB, dst=PUBLIC)], chain=HUB)
        got.append((await resumed.event()).id or 0)
        resumed.response.close()
    assert got == [1, 2, 3, 4, 5, 6]
    assert a.stop() == 0
    assert "Traceback" not in a.output()
