"""`xgate api` as a real process: it serves /healthz, /v1/chains and what the relay services
recorded in the shared store, stops cleanly on SIGTERM, and refuses a store that is not
migrated (exit 2) instead of serving it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import tomli_w

from gateway.domain.apikeys import Scope
from gateway.store import Store
from harness.services import XGATE, free_port, wait_until
from tests.api.conftest import HUB, PUBLIC, config_data
from tests.store.conftest import new_message, scan


def http_get(url: str, token: str | None = None) -> tuple[int, Any] | None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")
    except OSError:
        return None


def write_config(folder: Path, store_url: str) -> Path:
    path = folder / "xgate.toml"
    path.write_text(tomli_w.dumps(config_data(store_url)))
    return path


async def record_message(url: str) -> tuple[str, str]:
    """A message recorded in a new store at ``url``, and a read key's token."""
    store = await Store.open(url, migrate=True)
    try:
        item = new_message(1, src=HUB, dst=PUBLIC)
        await scan(store, [item], chain=HUB)
        created = await store.create_api_key("reader", [Scope.READ])
    finally:
        await store.close()
    return "0x" + item.id.hex(), created.token


def test_xgate_api_serves_the_store_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'xgate.db'}"
    message_id, token = asyncio.run(record_message(url))
    config = write_config(tmp_path, url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [*XGATE, "api", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:

        def healthz() -> tuple[int, Any] | None:
            if proc.poll() is not None:
                raise AssertionError(f"xgate api exited:\n{log.read_text()}")
            return http_get(f"{base}/healthz")

        assert wait_until(healthz, 60, "xgate api to serve") == (200, {"status": "ok"})
        status, ready = http_get(f"{base}/readyz") or (0, None)
        assert (status, ready["status"]) == (200, "ready")
        status, problem = http_get(f"{base}/v1/chains") or (0, None)
        assert (status, problem["type"]) == (401, "https://xgate.dev/problems/missing-api-key")
        status, chains = http_get(f"{base}/v1/chains", token) or (0, None)
        assert status == 200
        assert [(c["name"], c["chain_id"]) for c in chains["items"]] == [
            ("consortium", HUB),
            ("public", PUBLIC),
        ]
        status, transfer = http_get(f"{base}/v1/transfers/{message_id}", token) or (0, None)
        assert (status, transfer["id"], transfer["status"]) == (200, message_id, "final")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"xgate api did not stop on SIGTERM:\n{log.read_text()}") from None
    output = log.read_text()
    assert code == 0, output
    assert "xgate api stopped" in output and "Traceback" not in output
    # The access log names the path, never the query string.
    assert "GET /v1/chains 200" in output


def test_xgate_api_refuses_a_store_that_is_not_migrated(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    done = subprocess.run(
        [*XGATE, "api", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "xgate db upgrade" in done.stderr


def test_xgate_api_refuses_a_bad_listen_address(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'xgate.db'}")
    done = subprocess.run(
        [*XGATE, "api", "--config", str(config), "--listen", "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert 'expected "HOST:PORT"' in done.stderr
