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

from adapters.evm import EvmAdapter, EvmConfig
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.signer import LocalSigner
from adapters.types import Address, ChainId, Finality
from gateway.cli.deployment import ChainPlan, Deployed, deployment_summary, execute, xgate_plan

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
            log.info("deploying and wiring the xgate contracts on both chains...")
            contracts = await deploy_contracts(consortium, public)
            log.info("deployed %d contracts", len(contracts))
            summary = devnet_summary(consortium, public)
            summary["contracts"] = deployment_summary(contracts)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(summary, indent=2) + "\n")
            print(render_summary(summary, args.out), flush=True)
            await stop.wait()
            log.info("stopping devnets...")
    log.info("stopped")


async def deploy_contracts(consortium: RunningNode, public: RunningNode) -> dict[str, Deployed]:
    """Deploy every contract on both devnets, wired to each other (dev account 0 is admin)."""
    admin = consortium.accounts[0]
    consortium_adapter = QbftAdapter(
        QbftConfig(
            rpc_url=consortium.url,
            chain_id=ChainId(consortium.chain_id),
            name="consortium",
            trusted_validators=tuple(Address(v) for v in consortium.validators),
        ),
        signers=[LocalSigner(admin.private_key)],
    )
    public_adapter = EvmAdapter(
        EvmConfig(
            rpc_url=public.url,
            chain_id=ChainId(public.chain_id),
            name="public",
            finality=Finality.latest(),  # a dev chain: nobody reorgs it
        ),
        signers=[LocalSigner(admin.private_key)],
    )
    async with consortium_adapter, public_adapter:
        head = await consortium_adapter.height(Finality.latest())
        trusted = consortium_adapter.block_hash(await consortium_adapter.header(head))
        consortium_steps, public_steps = xgate_plan(
            admin=Address(admin.address),
            attesters=[Address(a.address) for a in consortium.accounts[1:4]],
            attester_threshold=2,
            consortium_chain_id=consortium.chain_id,
            public_chain_id=public.chain_id,
            consortium_validators=[Address(v) for v in consortium.validators],
            trusted_consortium_header=(head, trusted),
        )
        return await execute(
            [
                ChainPlan(consortium_adapter, Address(admin.address), consortium_steps),
                ChainPlan(public_adapter, Address(admin.address), public_steps),
            ]
        )


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
    lines.append(f"    ... {len(c['dev_accounts'])} in all")
    contracts = summary.get("contracts")
    if contracts:
        lines.append("")
        for side in ("consortium", "public"):
            lines.append(f"  {side} contracts:")
            for name, item in contracts[side].items():
                lines.append(f"    {name:<26} {item['address']}  ({item['contract']})")
        lines.append(f"  ABIs: {contracts['abi_dir']}")
    lines += [
        "  DEV ONLY: these keys are public; never use them on a real network.",
        f"  Everything above is in {path}. Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)
