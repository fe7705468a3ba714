"""`xgate relayer run`, `xgate attester run`, `xgate keeper run` and `xgate run` (all three in
one process): the long-running services of docs/relayer.md, configured by ``xgate.toml``.

A bad configuration fails at start with one line per problem (exit 2); SIGINT/SIGTERM stop the
services cleanly (leases released, signer locks given back)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from adapters.errors import ConfigError, XgateError
from gateway.cli.config_cmd import DEFAULT_CONFIG
from gateway.cli.logs import configure_logging
from gateway.config import XgateConfig, load_config
from relayers.service import Role, run_services

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for role in Role:
        parser = commands.add_parser(role.value, help=f"the {role.value} service")
        sub = parser.add_subparsers(dest=f"{role.value}_command", required=True, metavar="CMD")
        run = sub.add_parser("run", help=f"run the {role.value} until stopped")
        _common(run)
        run.set_defaults(run=lambda args, r=role: _run(args, {r}))
    every = commands.add_parser("run", help="run relayer, attester and keeper in one process")
    _common(every)
    every.set_defaults(run=lambda args: _run(args, set(Role)))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"xgate.toml (default {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--ops-port", type=int, default=None, help="override [ops] listen's port (0: any free)"
    )


def _run(args: argparse.Namespace, roles: set[Role]) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(cfg.log.format, "DEBUG" if args.verbose else cfg.log.level)
    try:
        asyncio.run(_serve(cfg, roles, args.ops_port))
    except ConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except XgateError as exc:
        print(f"xgate: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


async def _serve(cfg: XgateConfig, roles: set[Role], ops_port: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping(sig: signal.Signals) -> None:
        log.info("%s: stopping", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping, sig)
    await run_services(cfg, roles, stop, ops_port=ops_port)
    log.info("stopped")
