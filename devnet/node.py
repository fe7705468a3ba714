"""Run a devnet node (DEV ONLY): ``python -m devnet.node --mode consortium|plain --port 0``.

When the node serves, it prints exactly one line on stdout::

    {"ready": true, "url": "http://127.0.0.1:PORT", "chain_id": ..., "mode": ..., "validators": [...]}

Logs go to stderr. SIGINT/SIGTERM stop the node cleanly (persistence flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.errors import ConfigError, XgateError
from devnet.chain import DevnetChain
from devnet.config import DevnetConfig
from devnet.server import DevnetServer

log = logging.getLogger("devnet.node")


async def serve(config: DevnetConfig, host: str, port: int, data_dir: Path | None) -> None:
    chain = DevnetChain(config, data_dir)
    server = DevnetServer(chain)
    runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        url = f"http://{host}:{bound[1]}"
        ready: dict[str, Any] = {
            "ready": True,
            "url": url,
            "chain_id": config.chain_id,
            "mode": config.mode,
            "fork": config.fork,
            "block": int(chain.head.block_number),
            "validators": ["0x" + v.hex() for v in chain.tally.validators],
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        log.info(
            "devnet %s node (DEV ONLY) serving %s, chain id %d, head %d",
            config.mode,
            url,
            config.chain_id,
            chain.head.block_number,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping devnet node")
    finally:
        await runner.cleanup()
        chain.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.node", description=__doc__)
    parser.add_argument("--mode", choices=["consortium", "plain"], default="consortium")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS pick a free port")
    parser.add_argument("--data-dir", type=Path, default=None, help="persist the chain here")
    parser.add_argument("--config", default=None, help="JSON object of DevnetConfig keys")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        raw = json.loads(args.config) if args.config else {}
        if not isinstance(raw, dict):
            raise ConfigError("--config must be a JSON object", key="--config")
        config = DevnetConfig.from_dict(raw, mode=args.mode)
    except (ValueError, XgateError) as exc:
        print(f"devnet: bad config: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(serve(config, args.host, args.port, args.data_dir))
        except XgateError as exc:
            print(f"devnet: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
