"""`xgate devnet up`: one consortium chain and one public chain for development.

Prints what a developer needs and writes it to ``.xgate/devnet.json``. Everything it starts is
dev-only (well-known keys); Ctrl-C stops it all cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devnet.launcher import RunningNode

log = logging.getLogger("xgate.devnet")

DEFAULT_STATE_FILE = Path(".xgate/devnet.json")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    devnet = commands.add_parser("devnet", help="run local development chains")
    sub = devnet.add_subparsers(dest="devnet_command", required=True, metavar="DEVNET_COMMAND")
    up = sub.add_parser(
        "up",
        help="start a QBFT consortium devnet and a public devnet (anvil, or the plain Python node)",
    )
    up.add_argument("--validators", type=int, default=4, help="consortium validators (default 4)")
    up.add_argument(
        "--block-time",
        type=float,
        default=1.0,
        help="consortium block period in seconds (0 = seal on every transaction)",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the consortium chain in this folder across restarts",
    )
    up.add_argument(
        "--no-anvil",
        action="store_true",
        help="use the plain Python node as the public chain even if anvil is installed",
    )
    up.add_argument(
        "--out", type=Path, default=DEFAULT_STATE_FILE, help="where to write the summary"
    )
    up.set_defaults(run=_run_up)


def _run_up(args: argparse.Namespace) -> int:
    if args.validators < 1:
        log.error("--validators must be at least 1")
        return 2
    if args.block_time < 0:
        log.error("--block-time must be >= 0")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_up(args))
    return 0


async def _up(args: argparse.Namespace) -> None:
    # Imported here: py-evm is slow to import and only this command needs it.
    from devnet.launcher import start_consortium, start_public

    config: dict[str, Any] = {"validator_count": args.validators, "block_time": args.block_time}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("starting the consortium devnet (%d QBFT validators)...", args.validators)
    async with start_consortium(config=config, data_dir=args.data_dir) as consortium:
        log.info("consortium devnet ready at %s", consortium.url)
        log.info("starting the public devnet...")
        async with start_public(prefer_anvil=not args.no_anvil) as public:
            log.info("public devnet (%s) ready at %s", public.mode, public.url)
            summary = devnet_summary(consortium, public)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(summary, indent=2) + "\n")
            print(render_summary(summary, args.out), flush=True)
            await stop.wait()
            log.info("stopping devnets...")
    log.info("stopped")


def devnet_summary(consortium: RunningNode, public: RunningNode) -> dict[str, Any]:
    return {
        "warning": "DEV ONLY: these private keys are public knowledge; never use them elsewhere",
        "consortium": _node_json(consortium),
        "public": _node_json(public),
    }


def _node_json(node: RunningNode) -> dict[str, Any]:
    return {
        "mode": node.mode,
        "chain_id": node.chain_id,
        "rpc_url": node.url,
        "validators": [_addr(v) for v in node.validators],
        "dev_accounts": [
            {"address": _addr(a.address), "private_key": "0x" + a.private_key.hex()}
            for a in node.accounts
        ],
    }


def _addr(value: bytes | str) -> str:
    from eth_utils.address import to_checksum_address

    return to_checksum_address(value)


def render_summary(summary: dict[str, Any], path: Path) -> str:
    c, p = summary["consortium"], summary["public"]
    lines = [
        "",
        "xgate devnet is up",
        f"  consortium  chain id {c['chain_id']:<8} {c['rpc_url']}  ({len(c['validators'])} QBFT validators)",
        f"  public      chain id {p['chain_id']:<8} {p['rpc_url']}  ({p['mode']})",
        "",
        "  dev accounts (funded on both chains, allowlisted on the consortium chain):",
    ]
    for account in c["dev_accounts"][:3]:
        lines.append(f"    {account['address']}  key {account['private_key']}")
    lines += [
        f"    ... {len(c['dev_accounts'])} in all",
        "  DEV ONLY: these keys are public; never use them on a real network.",
        f"  Everything above is in {path}. Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)
