"""`xgate api --config xgate.toml [--listen HOST:PORT]`: serve the gateway's HTTP API
(docs/api.md) on the store the relay services write, and post its webhooks.

Each instance runs a webhook dispatcher beside the HTTP server (unless --no-webhooks): several
instances on one store share the work, a delivery leased to one at a time. Failed posts are
retried after --webhook-retry-first-s, doubling up to --webhook-retry-max-s, and dead-lettered
after --webhook-max-attempts attempts. --dev-webhooks takes webhook URLs to loopback
addresses (http included): for a development gateway only.

Every setting has its key in the `[api]` section of xgate.toml (listen, max_body_bytes,
shutdown_timeout_s, webhooks, dev_webhooks, webhook_timeout_s, webhook_max_attempts,
webhook_retry_first_s, webhook_retry_max_s, webhook_poll_s); a flag given overrides its key.
Each instance also prunes the event log to `[api] event_retention_days` (30), at start and
hourly.

The API never migrates the store: a database that is not at the code's revision is refused at
start (run `xgate db upgrade`). SIGINT/SIGTERM stop it cleanly: no new connections, requests
in flight get ``--shutdown-timeout`` seconds to finish (event streams end at once), the
dispatcher records the posts in flight, then the store is closed.
Exit codes: 0 stopped, 1 failed (store unreachable, port taken), 2 unusable configuration or
store schema.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.errors import ConfigError, XgateError
from adapters.registry import build_adapter
from adapters.retry import RetryPolicy
from gateway.api.app import METRICS_KEY, create_app
from gateway.api.chains import ChainAccess
from gateway.api.events import EventPruner
from gateway.api.webhooks import (
    WEBHOOK_SETTINGS_KEY,
    DeliveryPolicy,
    WebhookDispatcher,
    WebhookSettings,
)
from gateway.cli.config_cmd import DEFAULT_CONFIG
from gateway.cli.logs import configure_logging
from gateway.config import ApiConfig, OpsConfig, XgateConfig, load_config
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
        metavar="HOST:PORT",
        help=f"address to serve on (default: [api] listen, else {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--shutdown-timeout",
        dest="shutdown_timeout_s",
        type=_positive,
        metavar="SECONDS",
        help="time requests in flight get to finish on SIGTERM (default: [api], else 10)",
    )
    hooks = parser.add_argument_group("webhooks")
    hooks.add_argument(
        "--no-webhooks",
        action="store_const",
        const=False,
        dest="webhooks",
        help="do not run the webhook dispatcher here",
    )
    hooks.add_argument(
        "--dev-webhooks",
        action="store_const",
        const=True,
        help="take webhook URLs to loopback addresses, http included (development only)",
    )
    hooks.add_argument(
        "--webhook-timeout-s", type=_positive, metavar="S",
        help="time a receiver gets to answer a post (default 10)",
    )  # fmt: skip
    hooks.add_argument(
        "--webhook-max-attempts", type=int, metavar="N",
        help="failed attempts before a delivery is dead-lettered (default 10)",
    )  # fmt: skip
    hooks.add_argument(
        "--webhook-retry-first-s", type=_positive, metavar="S",
        help="wait after the first failed attempt, doubled after each (default 5)",
    )  # fmt: skip
    hooks.add_argument(
        "--webhook-retry-max-s", type=_positive, metavar="S",
        help="longest wait between attempts (default 3600)",
    )  # fmt: skip
    hooks.add_argument(
        "--webhook-poll-s", type=_positive, metavar="S",
        help="longest pause between two looks for due deliveries (default 1)",
    )  # fmt: skip
    parser.set_defaults(run=_run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


# The flags that override a key of [api] (same names).
_OVERRIDES = (
    "listen",
    "shutdown_timeout_s",
    "webhooks",
    "dev_webhooks",
    "webhook_timeout_s",
    "webhook_max_attempts",
    "webhook_retry_first_s",
    "webhook_retry_max_s",
    "webhook_poll_s",
)


def _settings(cfg: ApiConfig, args: argparse.Namespace) -> ApiConfig:
    """``[api]`` with the flags given on the command line in place of its keys."""
    given = {key: getattr(args, key) for key in _OVERRIDES if getattr(args, key) is not None}
    try:
        return ApiConfig(**{**cfg.model_dump(), **given})
    except ConfigError as exc:
        raise ConfigError(f"[api] with the command's flags: {exc.message}") from None


def _policy(api: ApiConfig) -> DeliveryPolicy:
    return DeliveryPolicy(
        retry=RetryPolicy(
            initial_delay=api.webhook_retry_first_s,
            multiplier=2.0,
            max_delay=api.webhook_retry_max_s,
            max_attempts=api.webhook_max_attempts,
        ),
        timeout_s=api.webhook_timeout_s,
        lease_s=max(60.0, api.webhook_timeout_s * 3),
        poll_s=api.webhook_poll_s,
    )


def _listen(text: str) -> str:
    try:
        return OpsConfig(listen=text).listen
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f'expected "HOST:PORT", e.g. "{DEFAULT_LISTEN}", got {text!r}'
        ) from None


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
        api = _settings(cfg.api, args)
    except ConfigError as exc:
        print(f"xgate api: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    policy = _policy(api) if api.webhooks else None
    configure_logging(cfg.log.format, "DEBUG" if args.verbose else cfg.log.level)
    settings = WebhookSettings(allow_loopback=api.dev_webhooks)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve(cfg, api, policy, settings))
    except SchemaOutOfDate as exc:
        print(f"xgate api: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except XgateError as exc:
        print(f"xgate api: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # the address is taken or not ours
        print(f"xgate api: cannot serve on {api.listen}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (not on Windows), else asyncio's: the API's request
    handling is mostly event-loop work (bench.api measured 14 % more reads/s)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve(
    cfg: XgateConfig,
    api: ApiConfig,
    policy: DeliveryPolicy | None,
    webhooks: WebhookSettings,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = await Store.open(cfg.store.url, migrate=False)
    # Read-only adapters (no signer: the gateway never holds users' keys), started on use.
    chains = ChainAccess(cfg, lambda name, chain: build_adapter(chain.adapter_config(name)))
    try:
        app = create_app(store, cfg, chains=chains, max_body_bytes=api.max_body_bytes)
        app[WEBHOOK_SETTINGS_KEY] = webhooks
        pruner = EventPruner(store, timedelta(days=api.event_retention_days))
        workers: list[tuple[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]]] = [
            ("event-pruner", pruner.run)
        ]
        if policy is not None:
            dispatcher = WebhookDispatcher(
                store,
                policy,
                allow_loopback=webhooks.allow_loopback,
                registry=app[METRICS_KEY].registry,  # served on the API's /metrics
            )
            log.info("webhook dispatcher %s started", dispatcher.owner)
            workers.append(("webhook-dispatcher", dispatcher.run))
        await _serve_with_workers(workers, _serve_http(app, cfg, api, stop), stop)
    finally:
        await chains.aclose()
        await store.close()
    log.info("xgate api stopped")


async def _serve_with_workers(
    workers: list[tuple[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]]],
    serving: Coroutine[Any, Any, None],
    stop: asyncio.Event,
) -> None:
    """Serve beside the background workers (the event pruner, the webhook dispatcher), whose
    tasks are owned here: they stop with the server (after the server, so the posts in flight
    are recorded), and a worker that fails stops the server too (its error is raised, the
    process exits 1)."""
    tasks = {asyncio.create_task(run(stop), name=name): name for name, run in workers}
    for task in tasks:
        task.add_done_callback(lambda _: stop.set())
    try:
        await serving
    finally:
        stop.set()
        failures = []
        for task, name in tasks.items():
            try:
                await task
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("%s failed", name, exc_info=exc)
                failures.append(exc)
        if failures:
            raise failures[0]


async def _serve_http(
    app: web.Application,
    cfg: XgateConfig,
    api: ApiConfig,
    stop: asyncio.Event,
) -> None:
    runner = web.AppRunner(
        app,
        access_log=None,  # the app logs each request itself, without query strings
        handle_signals=False,
        shutdown_timeout=api.shutdown_timeout_s,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, api.host, api.port).start()
        log.info("xgate api serving on http://%s (store %s)", api.listen, cfg.store.redacted_url)
        await stop.wait()
        log.info("xgate api stopping")
    finally:
        await runner.cleanup()
