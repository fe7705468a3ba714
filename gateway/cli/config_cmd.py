"""`xgate config check`: validate an ``xgate.toml``, its signers and (``--connect``) its chains.

Prints ``ok: N chains, M routes`` on stdout and exits 0, or prints one line per problem on
stderr (``FILE: key.path: what is wrong``) and exits 2. Besides the file itself it loads every
``[signers.NAME]`` key as a service would at start (file present, mode 0600, a valid key,
environment variables set, keystore decrypts), without printing anything of it; ``--connect``
asks every RPC URL for ``eth_chainId`` and compares it with the configured chain id.

``--json`` prints the verdict as one JSON object: ``{"ok": true, "config": FILE, "chains": N,
"routes": M}`` on stdout (with ``--connect`` also ``"endpoints"``: each RPC endpoint's chain,
URL without path, configured and served chain id), or ``{"error": {"message": ...,
"problems": [LINE, ...]}}`` on stderr (with ``--connect`` also ``"endpoints"``) and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    check.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: the verdict on stdout, or the problems on stderr",
    )
    check.set_defaults(run=_run_check)


@dataclass(frozen=True, slots=True)
class EndpointCheck:
    """What ``--connect`` found at one RPC endpoint."""

    key: str  # chains.NAME.rpc_urls[i]
    chain: str
    url: str  # scheme, host and port only (provider URLs often carry an API key)
    chain_id: int  # configured
    served_chain_id: int | None  # what it answered to eth_chainId (None: no usable answer)
    problem: str | None


def _run_check(args: argparse.Namespace) -> int:
    if not args.verbose:
        # load_signer logs each signer's address at INFO; the check's verdict is enough.
        logging.getLogger("gateway.config.signers").setLevel(logging.WARNING)
    cfg, problems, endpoints = check_config(args.config, connect=args.connect, environ=os.environ)
    seen: dict[str, Any] = {}
    if args.connect:
        seen["endpoints"] = [
            {k: v for k, v in asdict(e).items() if k != "problem"} for e in endpoints
        ]
    if problems:
        if args.json:
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            error = {"message": f"{args.config}: {count}", "problems": problems, **seen}
            print(json.dumps({"error": error}), file=sys.stderr)
        else:
            print("\n".join(problems), file=sys.stderr)
        return EXIT_PROBLEMS
    assert cfg is not None
    if args.json:
        verdict = {"ok": True, "config": str(args.config), "chains": len(cfg.chains)}
        print(json.dumps({**verdict, "routes": len(cfg.routes), **seen}))
        return EXIT_OK
    summary = f"ok: {len(cfg.chains)} chains, {len(cfg.routes)} routes"
    if args.connect:
        summary += f"; {len(endpoints)} RPC endpoints answered with their chain ids"
    print(summary)
    return EXIT_OK


def check_config(
    path: Path, *, connect: bool = False, environ: Mapping[str, str]
) -> tuple[XgateConfig | None, list[str], list[EndpointCheck]]:
    """``(config, problems, endpoints)``: every problem is one line ``FILE: key.path: what is
    wrong``; ``endpoints`` is what ``connect`` found at each RPC endpoint (empty without it).
    The config is None when the file itself does not validate (signers and endpoints are then
    not checked)."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return None, exc.message.splitlines(), []
    problems = [f"{path}: {line}" for line in signer_problems(cfg, environ)]
    endpoints = asyncio.run(check_endpoints(cfg)) if connect else []
    problems += [f"{path}: {e.problem}" for e in endpoints if e.problem is not None]
    return cfg, problems, endpoints


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


async def check_endpoints(cfg: XgateConfig) -> list[EndpointCheck]:
    """Every RPC endpoint asked for ``eth_chainId`` (in parallel), in the config's order; the
    ``problem`` of one that cannot be reached, does not answer ``eth_chainId`` or serves
    another chain is a line ``chains.NAME.rpc_urls[i]: ...``."""
    timeout = aiohttp.ClientTimeout(total=CONNECT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(name: str, i: int, url: str, chain_id: int) -> EndpointCheck:
            key = f"chains.{name}.rpc_urls[{i}]"
            served, problem = await _check_endpoint(session, key, url, chain_id)
            return EndpointCheck(key, name, redact_url(url), chain_id, served, problem)

        return list(
            await asyncio.gather(
                *(
                    one(name, i, url, chain.chain_id)
                    for name, chain in cfg.chains.items()
                    for i, url in enumerate(chain.rpc_urls)
                )
            )
        )


async def _check_endpoint(
    session: aiohttp.ClientSession, key: str, url: str, chain_id: int
) -> tuple[int | None, str | None]:
    """(the chain id served, the problem) of one endpoint."""
    # Only scheme, host and port: provider URLs often carry an API key.
    where = f"{key}: {redact_url(url)}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        async with session.post(url, json=body) as response:
            if response.status != 200:
                return (
                    None,
                    f"{where} answered HTTP {response.status}; check the URL and its access",
                )
            answer = await response.json(content_type=None)
    except TimeoutError:
        return None, f"{where} unreachable (no answer within {CONNECT_TIMEOUT_S:g} s)"
    except aiohttp.ClientError as exc:
        return None, f"{where} unreachable ({_reason(exc)})"
    except ValueError:  # includes JSON and Unicode decoding errors
        return None, f"{where} answered eth_chainId with something that is not JSON"
    try:
        served = rpc_quantity(answer.get("result") if isinstance(answer, dict) else None, "id")
    except DecodeError:
        return None, f"{where} answered eth_chainId without a chain id"
    if served != chain_id:
        return served, f"{where} serves chain id {served}, but chain_id is {chain_id}"
    return served, None


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
