"""Start anvil (Foundry's dev node, installed by ``make`` from npm) on a free loopback port.

    async with start_anvil(chain_id=31337) as node:
        node.url, node.chain_id, node.accounts

The node runs as a subprocess in its own process group (the npm ``anvil`` entry point is a
Node.js wrapper that spawns the native binary, so the whole group is signalled on exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from adapters.errors import ConfigError, RpcUnavailable
from adapters.types import ChainId
from devnet.keys import DEV_MNEMONIC, DevKey, dev_accounts

REPO_ROOT = Path(__file__).resolve().parent.parent
ANVIL_BIN = REPO_ROOT / "node_modules" / ".bin" / "anvil"

# Funded from anvil's default dev mnemonic (devnet.keys): public knowledge, dev-only.
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE_ETH = 10_000

_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 5.0
_PORT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class AnvilNode:
    url: str
    chain_id: ChainId
    accounts: tuple[DevKey, ...]  # the funded dev accounts, dev-only keys
    pid: int
    # The exit code once anvil has exited, else None.
    returncode: Callable[[], int | None] = field(default=lambda: None, compare=False, repr=False)


def anvil_available() -> bool:
    """True when ``make`` has installed anvil into node_modules."""
    return ANVIL_BIN.exists() and os.access(ANVIL_BIN, os.X_OK)


def _anvil_executable() -> Path:
    """The platform's native binary when present (we then reap it ourselves), else the wrapper."""
    for native in sorted(REPO_ROOT.glob("node_modules/@foundry-rs/anvil-*/bin/anvil")):
        if os.access(native, os.X_OK):
            return native
    return ANVIL_BIN


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _wait_ready(
    proc: asyncio.subprocess.Process, url: str, chain_id: int, deadline: float
) -> bool:
    """Poll ``eth_chainId`` until it answers. False when the process died (e.g. port taken)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                return False
            try:
                async with session.post(url, json=body) as resp:
                    answer = json.loads(await resp.text())
                if int(answer["result"], 16) != chain_id:
                    raise ConfigError(
                        "anvil answered with another chain id (port shared?)",
                        url=url,
                        expected=chain_id,
                        got=answer["result"],
                    )
                return True
            except (aiohttp.ClientError, OSError, ValueError, KeyError, TypeError):
                await asyncio.sleep(0.05)
    raise RpcUnavailable("anvil did not answer eth_chainId in time", url=url)


async def dev_rpc(url: str, method: str, *params: Any) -> Any:
    """One JSON-RPC call of a development method (``evm_*``, ``anvil_*``) that adapters do not
    speak; its result. anvil and the devnet node both serve the ``evm_*`` ones."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(url, json=body) as resp,
    ):
        answer = json.loads(await resp.text())
    if "error" in answer:
        raise RpcUnavailable(f"the node refused {method}", url=url, error=answer["error"])
    return answer.get("result")


async def set_interval_mining(url: str, seconds: int) -> None:
    """Make anvil mine a block every ``seconds`` (after a fast automined deployment)."""
    await dev_rpc(url, "evm_setIntervalMining", seconds)


async def advance_clock(url: str, seconds: int) -> None:
    """Mine a block on a development chain at least ``seconds`` after its latest one. A chain
    whose blocks ran ahead of the wall clock (instant seal: a block a transaction) moves less
    than ``evm_increaseTime`` asks: it is topped up until its latest block is there."""

    async def latest() -> int:
        return int((await dev_rpc(url, "eth_getBlockByNumber", "latest", False))["timestamp"], 16)

    target = await latest() + seconds
    shift = seconds
    while shift > 0:
        await dev_rpc(url, "evm_increaseTime", shift)
        await dev_rpc(url, "evm_mine")
        shift = target - await latest()


@contextlib.asynccontextmanager
async def start_anvil(
    chain_id: int = 31337,
    block_time: float | None = None,
    hardfork: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[AnvilNode]:
    """Run anvil on a free loopback port for the duration of the block.

    ``block_time`` None means auto-mine (one block per transaction).
    """
    if not anvil_available():
        raise ConfigError(
            "anvil is not installed; run `make` (it installs the pinned npm tools)",
            path=str(ANVIL_BIN),
        )
    with tempfile.TemporaryFile() as log:
        proc: asyncio.subprocess.Process | None = None
        try:
            for _attempt in range(_PORT_ATTEMPTS):
                port = _free_port()
                args = [
                    str(_anvil_executable()),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--chain-id",
                    str(chain_id),
                    "--accounts",
                    str(DEV_ACCOUNT_COUNT),
                    "--balance",
                    str(DEV_BALANCE_ETH),
                    "--mnemonic",
                    DEV_MNEMONIC,
                    "--silent",
                ]
                if block_time is not None:
                    args += ["--block-time", str(block_time)]
                if hardfork is not None:
                    args += ["--hardfork", hardfork]
                args += list(extra_args)
                proc = await asyncio.create_subprocess_exec(
                    *args,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,  # own process group: the npm wrapper has a child
                )
                url = f"http://127.0.0.1:{port}"
                if await _wait_ready(proc, url, chain_id, time.monotonic() + _STARTUP_TIMEOUT_S):
                    break
                # The process died: most likely another process grabbed the port between
                # our probe and anvil's bind. Try again on a new port.
                await _stop(proc)
                proc = None
            else:
                log.seek(0)
                tail = log.read()[-2000:].decode(errors="replace")
                raise RpcUnavailable("anvil failed to start", attempts=_PORT_ATTEMPTS, log=tail)
            yield AnvilNode(
                url=url,
                chain_id=ChainId(chain_id),
                accounts=dev_accounts(DEV_ACCOUNT_COUNT),
                pid=proc.pid,
                returncode=lambda: proc.returncode if proc is not None else None,
            )
        finally:
            if proc is not None:
                await _stop(proc)
