"""`xgate api --config xgate.toml [--listen HOST:PORT]`: serve the gateway's HTTP API
(docs/api.md) on the store the relay services write.

The API never migrates the store: a database that is not at the code's revision is refused at
start (run `xgate db upgrade`). SIGINT/SIGTERM stop it cleanly: no new connections, requests
in flight get ``--shutdown-timeout`` seconds to finish, then the store is closed.
Exit codes: 0 stopped, 1 failed (store unreachable, port taken), 2 unusable configuration or
store schema.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from adapters.errors import ConfigError, XgateError
from gateway.api.app import create_app
from gateway.cli.config_cmd import DEFAULT_CONFIG
from gateway.cli.logs import configure_logging
from gateway.config import OpsConfig, XgateConfig, load_config
from gateway.store import SchemaOutOfDate, Store

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
DEFAULT_LISTEN = "127.0.0.1:8080"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "api",
        help="serve the gateway's HTTP API",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"xgate.toml (default {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--listen",
        type=_listen,
        default=_listen(DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"address to serve on (default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time requests in flight get to finish on SIGTERM (default 10)",
    )
    parser.set_defaults(run=_run)


def _listen(text: str) -> OpsConfig:
    try:
        return OpsConfig(listen=text)
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f'expected "HOST:PORT", e.g. "{DEFAULT_LISTEN}", got {text!r}'
        ) from None


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(cfg.log.format, "DEBUG" if args.verbose else cfg.log.level)
    try:
        asyncio.run(_serve(cfg, args.listen, args.shutdown_timeout))
    except SchemaOutOfDate as exc:
        print(f"xgate api: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except XgateError as exc:
        print(f"xgate api: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # the address is taken or not ours
        print(f"xgate api: cannot serve on {args.listen.listen}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


async def _serve(cfg: XgateConfig, listen: OpsConfig, shutdown_timeout_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = await Store.open(cfg.store.url, migrate=False)
    try:
        runner = web.AppRunner(
            create_app(store, cfg),
            access_log=None,  # the app logs each request itself, without query strings
            handle_signals=False,
            shutdown_timeout=shutdown_timeout_s,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, listen.host, listen.port).start()
            log.info(
                "xgate api serving on http://%s (store %s)", listen.listen, cfg.store.redacted_url
            )
            await stop.wait()
            log.info("xgate api stopping")
        finally:
            await runner.cleanup()
    finally:
        await store.close()
    log.info("xgate api stopped")
