"""The dashboard in a real browser: Debian's Chromium (``/usr/bin/chromium``, which ``make
setup`` installs when missing) driven by Playwright, on a real ``xgate api`` process serving the
store and chains of a devnet whose relay services (``xgate run``) run; one devnet per module.

``Dashboard`` opens pages with a key pasted as an operator would, records the console's errors
and the page's uncaught exceptions, and saves screenshots under the test's folder (their paths
are printed: ``pytest -s`` or ``-rP`` shows them).
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from nacl.signing import SigningKey
from playwright.async_api import expect

from gateway.domain.apikeys import Scope
from gateway.store import Store
from harness.relaynet import SELF_FUNDED_ACCOUNTS, running_services
from harness.services import ServiceProcess
from tests.api.test_events_process import ApiProcess
from tests.e2e.conftest import Devnet

CHROMIUM = Path("/usr/bin/chromium")
# Pages refresh every few seconds and the first chain reads start adapters: not Playwright's 5 s.
expect.set_options(timeout=15_000)


@dataclass(frozen=True)
class Key:
    token: str = field(repr=False)
    signing_seed_hex: str | None = field(default=None, repr=False)


@pytest.fixture(scope="module")
async def devnet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Devnet]:
    async with Devnet.start(
        tmp_path_factory.mktemp("web-devnet"), accounts=SELF_FUNDED_ACCOUNTS
    ) as net:
        yield net


@pytest.fixture(scope="module")
def services(devnet: Devnet) -> Iterator[ServiceProcess]:
    with running_services(devnet.config_path) as service:
        yield service


@pytest.fixture(scope="module")
async def api(devnet: Devnet, services: ServiceProcess) -> AsyncIterator[ApiProcess]:
    """``xgate api`` on the devnet's xgate.toml, asking the running services for their health."""
    raw: dict[str, Any] = tomllib.loads(devnet.config_path.read_text())
    raw.setdefault("api", {})["services"] = [
        {"name": "relay", "url": f"http://127.0.0.1:{services.ops_port}"}
    ]
    config = devnet.config_path.with_name("xgate-api.toml")
    config.write_text(tomli_w.dumps(raw))
    process = ApiProcess(config).start()
    try:
        await process.wait_serving()
        yield process
        assert process.stop() == 0, process.output()
    finally:
        process.kill()


@pytest.fixture(scope="module")
async def keys(devnet: Devnet, api: ApiProcess) -> dict[str, Key]:
    """A read key, a dApp key and an operator key (with its Ed25519 seed) made on the store, as `xgate keys
    create` makes them."""
    store = await Store.open(devnet.config.store.url, migrate=False)
    try:
        read = await store.create_api_key("dashboard read", [Scope.READ], rate_per_s=500, burst=500)
        dapp = await store.create_api_key("dashboard dapp", [Scope.DAPP], rate_per_s=500, burst=500)
        signer = SigningKey.generate()
        operator = await store.create_api_key(
            "dashboard operator",
            [Scope.OPERATOR],
            ed25519_public_key=bytes(signer.verify_key),
            rate_per_s=500,
            burst=500,
        )
    finally:
        await store.close()
    return {
        "read": Key(read.token),
        "dapp": Key(dapp.token),
        "operator": Key(operator.token, bytes(signer).hex()),
    }


def chromium_path() -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable)
        yield chromium
        await chromium.close()


@dataclass
class Dashboard:
    """One browser tab on the dashboard, with what its console said."""

    page: Any
    base: str
    shots: Path
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def use_key(self, key: Key, *, sign: bool = True) -> None:
        """Paste ``key`` in the page's form, as an operator does."""
        await self.page.fill("#key-token", key.token)
        if sign and key.signing_seed_hex is not None:
            await self.page.fill("#key-signing", key.signing_seed_hex)
        await self.page.click("#key-use")

    async def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    def unexpected_errors(self, *allowed: str) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in allowed)]


@pytest.fixture
async def dashboard(browser: Any, api: ApiProcess, tmp_path: Path) -> AsyncIterator[Dashboard]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    board = Dashboard(page, api.base, shots)
    page.on(
        "console",
        lambda message: board.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: board.errors.append(f"uncaught: {error}"))
    try:
        yield board
    finally:
        await context.close()
