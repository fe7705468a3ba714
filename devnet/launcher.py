"""Start devnet nodes as child processes (DEV ONLY chains with well-known keys).

    async with start_consortium() as node:      # QBFT consortium node, chain id 20250
        node.url, node.chain_id, node.validators, node.accounts
    async with start_plain() as node:           # unsealed auto-mine node, chain id 31337
        ...
    async with start_public() as node:          # anvil when installed, else start_plain()
        ...

Each context manager spawns ``python -m devnet.node``, waits for its ready line (with a timeout;
if the child dies, its stderr is in the error), and terminates it on exit (SIGTERM, which flushes
persistence, then SIGKILL after a grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from adapters.errors import ConfigError, RpcUnavailable
from devnet.config import DevnetConfig
from devnet.keys import DevKey, dev_accounts

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class RunningNode:
    """A running dev chain. ``accounts`` hold dev-only keys (public knowledge)."""

    url: str
    chain_id: int
    mode: str  # "consortium", "plain" or "anvil"
    validators: tuple[bytes, ...]
    accounts: tuple[DevKey, ...]
    pid: int
    # The exit code once the process has exited, else None (a supervisor polls it).
    returncode: Callable[[], int | None] = field(default=lambda: None, compare=False, repr=False)


class NodeStartError(RpcUnavailable):
    """A devnet node process did not become ready."""


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _tail(file: IO[bytes], limit: int = 4000) -> str:
    try:
        file.seek(0)
        text = file.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""
    return text[-limit:]


@contextlib.asynccontextmanager
async def _start_node(
    mode: str,
    config: Mapping[str, Any] | None,
    data_dir: Path | None,
    ready_timeout_s: float,
) -> AsyncIterator[RunningNode]:
    # Validate here too, so a bad key fails fast with a ConfigError in the caller's process.
    parsed = DevnetConfig.from_dict(config or {}, mode=mode)
    args = [sys.executable, "-m", "devnet.node", "--mode", mode, "--port", "0"]
    if config:
        args += ["--config", json.dumps(dict(config))]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    # stderr goes to an unnamed temporary file: a pipe nobody drains would block a chatty node.
    stderr = tempfile.TemporaryFile(prefix=f"devnet-{mode}-")  # noqa: SIM115 - closed in finally
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env, cwd=str(REPO_ROOT)
    )
    try:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), ready_timeout_s)
        except TimeoutError as exc:
            raise NodeStartError(
                "devnet node did not become ready in time",
                mode=mode,
                timeout_s=ready_timeout_s,
                stderr=_tail(stderr),
            ) from exc
        try:
            ready = json.loads(line) if line else None
        except ValueError:
            ready = None
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            message = "devnet node exited before it was ready"
            if proc.returncode == 2:
                raise ConfigError(message, mode=mode, stderr=_tail(stderr))
            raise NodeStartError(
                message, mode=mode, returncode=proc.returncode, stderr=_tail(stderr)
            )
        node = RunningNode(
            url=str(ready["url"]),
            chain_id=int(ready["chain_id"]),
            mode=mode,
            validators=tuple(bytes.fromhex(v[2:]) for v in ready.get("validators", [])),
            accounts=dev_accounts(parsed.dev_accounts),
            pid=proc.pid,
            returncode=lambda: proc.returncode,
        )
        yield node
    finally:
        await _stop(proc)
        stderr.close()


@contextlib.asynccontextmanager
async def start_consortium(
    config: Mapping[str, Any] | None = None,
    data_dir: Path | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    genesis: Path | None = None,
    validator_keys: Path | None = None,
) -> AsyncIterator[RunningNode]:
    """A QBFT consortium devnet node (config keys: see ``devnet.config``).

    With ``genesis`` (a Besu QBFT genesis file, ``devnet.genesis``) the chain starts from it
    and seals with the validators' keys in ``validator_keys`` (default: the file's folder);
    the genesis decides chain id, fork, block period, epoch and gas limit, and must fund (and
    allowlist) the config's ``dev_accounts`` dev accounts (10 unless given)."""
    if genesis is not None:
        from devnet.genesis import devnet_config_for, load_genesis_setup

        # Read here too, so a bad file fails fast with a ConfigError in the caller's process.
        setup = load_genesis_setup(genesis, validator_keys)
        wanted = dict(config or {})
        wanted.update(devnet_config_for(setup, int(wanted.get("dev_accounts", 10))))
        config = wanted
    async with _start_node("consortium", config, data_dir, ready_timeout_s) as node:
        yield node


@contextlib.asynccontextmanager
async def start_plain(
    config: Mapping[str, Any] | None = None,
    data_dir: Path | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> AsyncIterator[RunningNode]:
    """The devnet node in plain mode: unsealed post-merge headers, auto-mine, chain id 31337."""
    async with _start_node("plain", config, data_dir, ready_timeout_s) as node:
        yield node


@contextlib.asynccontextmanager
async def start_public(
    prefer_anvil: bool = True, chain_id: int = 31337, data_dir: Path | None = None
) -> AsyncIterator[RunningNode]:
    """The public dev chain: anvil when ``make`` installed it, else the plain devnet node.

    With ``data_dir`` the chain survives a restart: anvil keeps its state in
    ``data_dir/anvil-state.json`` (``--state``, also dumped every second), the plain node its
    store in ``data_dir``."""
    from devnet import anvil

    if prefer_anvil and anvil.anvil_available():
        extra = () if data_dir is None else _anvil_state_args(data_dir)
        async with anvil.start_anvil(chain_id=chain_id, extra_args=extra) as node:
            yield RunningNode(
                url=node.url,
                chain_id=int(node.chain_id),
                mode="anvil",
                validators=(),
                accounts=node.accounts,
                pid=node.pid,
                returncode=node.returncode,
            )
        return
    async with start_plain(config={"chain_id": chain_id}, data_dir=data_dir) as node:
        yield node


def _anvil_state_args(data_dir: Path) -> tuple[str, ...]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return ("--state", str(data_dir / "anvil-state.json"), "--state-interval", "1")
