"""`xgate config check`: validate an ``xgate.toml``, its signers and (``--connect``) its chains.

Prints ``ok: N chains, M routes`` on stdout and exits 0, or prints one line per problem on
stderr (``FILE: key.path: what is wrong``) and exits 2. Besides the file itself it loads every
``[signers.NAME]`` key as a service would at start (file present, mode 0600, a valid key,
environment variables set, keystore decrypts), without printing anything of it; ``--connect``
asks every RPC URL for ``eth_chainId`` and compares it with the configured chain id.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from adapters.errors import ConfigError, DecodeError
from adapters.evm import redact_url
from adapters.rpcjson import rpc_quantity
from gateway.config import XgateConfig, load_config, load_tx_signer
from gateway.config.files import dev_config_path

EXIT_OK, EXIT_PROBLEMS = 0, 2
DEFAULT_CONFIG = dev_config_path()
CONNECT_TIMEOUT_S = 5.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="work with xgate.toml")
    sub = config.add_subparsers(dest="config_command", required=True, metavar="CONFIG_COMMAND")
    check = sub.add_parser(
        "check", help="validate xgate.toml and its signers; exit 2 listing every problem"
    )
    check.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"the file to check (default {DEFAULT_CONFIG}, as `xgate devnet up` writes it)",
    )
    check.add_argument(
        "--connect",
        action="store_true",
        help="also ask every RPC endpoint for its chain id (eth_chainId, "
        f"{CONNECT_TIMEOUT_S:g} s timeout) and compare it with the config",
    )
    check.set_defaults(run=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    if not args.verbose:
        # load_signer logs each signer's address at INFO; the check's verdict is enough.
        logging.getLogger("gateway.config.signers").setLevel(logging.WARNING)
    cfg, problems = check_config(args.config, connect=args.connect, environ=os.environ)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EXIT_PROBLEMS
    assert cfg is not None
    summary = f"ok: {len(cfg.chains)} chains, {len(cfg.routes)} routes"
    if args.connect:
        endpoints = sum(len(chain.rpc_urls) for chain in cfg.chains.values())
        summary += f"; {endpoints} RPC endpoints answered with their chain ids"
    print(summary)
    return EXIT_OK


def check_config(
    path: Path, *, connect: bool = False, environ: Mapping[str, str]
) -> tuple[XgateConfig | None, list[str]]:
    """``(config, problems)``: every problem is one line ``FILE: key.path: what is wrong``.
    The config is None when the file itself does not validate (signers and endpoints are then
    not checked)."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return None, exc.message.splitlines()
    problems = [f"{path}: {line}" for line in signer_problems(cfg, environ)]
    if connect:
        problems += [f"{path}: {line}" for line in asyncio.run(connect_problems(cfg))]
    return cfg, problems


def signer_problems(cfg: XgateConfig, environ: Mapping[str, str]) -> list[str]:
    """One ``signers.NAME: ...`` line per signer whose key cannot be loaded. The keys are read
    and dropped; the messages never carry anything read."""
    problems = []
    for name, signer in cfg.signers.items():
        try:
            load_tx_signer(signer, environ, name=name)  # external signers: nothing to read
        except ConfigError as exc:
            problems += exc.message.splitlines()
    return problems


async def connect_problems(cfg: XgateConfig) -> list[str]:
    """One ``chains.NAME.rpc_urls[i]: ...`` line per RPC endpoint that cannot be reached, does
    not answer ``eth_chainId`` or serves another chain."""
    timeout = aiohttp.ClientTimeout(total=CONNECT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        checks = [
            _check_endpoint(session, f"chains.{name}.rpc_urls[{i}]", url, chain.chain_id)
            for name, chain in cfg.chains.items()
            for i, url in enumerate(chain.rpc_urls)
        ]
        results = await asyncio.gather(*checks)
    return [problem for problem in results if problem is not None]


async def _check_endpoint(
    session: aiohttp.ClientSession, key: str, url: str, chain_id: int
) -> str | None:
    # Only scheme, host and port: provider URLs often carry an API key.
    where = f"{key}: {redact_url(url)}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        async with session.post(url, json=body) as response:
            if response.status != 200:
                return f"{where} answered HTTP {response.status}; check the URL and its access"
            answer = await response.json(content_type=None)
    except TimeoutError:
        return f"{where} unreachable (no answer within {CONNECT_TIMEOUT_S:g} s)"
    except aiohttp.ClientError as exc:
        return f"{where} unreachable ({_reason(exc)})"
    except ValueError:  # includes JSON and Unicode decoding errors
        return f"{where} answered eth_chainId with something that is not JSON"
    try:
        served = rpc_quantity(answer.get("result") if isinstance(answer, dict) else None, "id")
    except DecodeError:
        return f"{where} answered eth_chainId without a chain id"
    if served != chain_id:
        return f"{where} serves chain id {served}, but chain_id is {chain_id}"
    return None


def _reason(exc: aiohttp.ClientError) -> str:
    """Why a connection failed. Never ``str(exc)``: aiohttp puts the full URL in some messages,
    and its path or query may hold an API key."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        if isinstance(error, socket.gaierror):
            return f"cannot resolve the host: {error.strerror}"
        if error.errno and error.errno > 0:
            return os.strerror(error.errno).lower()  # asyncio's own text repeats the address
        return error.strerror or type(error).__name__
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return type(exc).__name__
