"""`xgate devnet up`: one consortium chain and one public chain for development.

Prints what a developer needs and writes it to ``.xgate/devnet.json``, and beside it a ready
``xgate.toml`` for the relay services (both chains, every contract, routes both ways, and key
files under ``keys/`` for the relayer, attesters and keeper). Everything it starts is dev-only
(well-known keys); Ctrl-C stops it all cleanly.

With ``--data-dir`` both chains survive a restart (the consortium node's store in the folder,
the public chain's in ``<folder>/public``), and a restart reuses the contracts listed in the
summary file when every one of them still has code on its chain; otherwise it deploys a fresh
set. If a node process dies, the command says which and exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.evm import EvmAdapter, EvmConfig
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.signer import LocalSigner
from adapters.types import Address, ChainId, Finality, Hash32
from gateway.cli.deployment import ChainPlan, Deployed, deployment_summary, execute, xgate_plan
from gateway.config import XgateConfig, dump_config

if TYPE_CHECKING:
    from devnet.launcher import RunningNode

log = logging.getLogger("xgate.devnet")

DEFAULT_STATE_FILE = Path(".xgate/devnet.json")
XGATE_CONFIG_NAME = "xgate.toml"  # written beside the summary file

# Dev accounts of the services (0 deploys, 1-3 are the header store's attesters, 4 governs,
# 9 guards): every dev account is funded on both chains and allowlisted on the consortium.
RELAYER_ACCOUNT = 5
ATTESTER_ACCOUNTS = (1, 2, 3)
KEEPER_ACCOUNT = 6
# Signer name in xgate.toml (and key file keys/NAME.key) -> dev account index.
DEV_SIGNERS: Mapping[str, int] = {
    "relayer": RELAYER_ACCOUNT,
    **{f"attester-{i}": account for i, account in enumerate(ATTESTER_ACCOUNTS, 1)},
    "keeper": KEEPER_ACCOUNT,
}
# The public devnets (anvil, the plain node) mine one block per transaction, so a deeper
# confirmation depth would hold every public message until unrelated transactions arrive; and
# nobody reorgs a dev chain. Reorg tests write their own config with a depth.
PUBLIC_CONFIRMATIONS = 0
# Deployment keys (gateway.cli.deployment) whose [chains.X.contracts] key differs.
_CONTRACT_KEYS = {"qbft_light_client": "light_client"}
_CONFIG_HEADER = (
    "DEV ONLY: written by `xgate devnet up` for its local chains. The keys under keys/ are\n"
    "public knowledge (anvil's mnemonic); never use this file or them on a real network."
)


def dev_config_path(summary_file: Path = DEFAULT_STATE_FILE) -> Path:
    """Where ``xgate devnet up --out SUMMARY_FILE`` writes its xgate.toml (beside the summary;
    its key files are in ``keys/`` beside that)."""
    return summary_file.with_name(XGATE_CONFIG_NAME)


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
        help="keep both chains in this folder across restarts (the public one in <folder>/public)"
        " and reuse the contracts deployed earlier",
    )
    up.add_argument(
        "--no-anvil",
        action="store_true",
        help="use the plain Python node as the public chain even if anvil is installed",
    )
    up.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help=f"where to write the summary ({XGATE_CONFIG_NAME} and keys/ go beside it)",
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
        return asyncio.run(_up(args))
    return 0


async def _watch(nodes: dict[str, RunningNode], poll_s: float = 0.5) -> tuple[str, int]:
    """Return (name, exit code) of the first node process that exits."""
    while True:
        for name, node in nodes.items():
            code = node.returncode()
            if code is not None:
                return name, code
        await asyncio.sleep(poll_s)


async def _until_stop_or_death(
    work: Awaitable[Any], nodes: dict[str, RunningNode]
) -> tuple[Any, tuple[str, int] | None]:
    """Await ``work`` unless a node dies first: (result, None) or (None, (name, status))."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.create_task(_watch(nodes))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, watcher):
            if not t.done():
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
    if watcher.done() and not watcher.cancelled():
        return None, watcher.result()
    return task.result(), None


def _report_death(nodes: dict[str, RunningNode], death: tuple[str, int]) -> int:
    name, code = death
    node = nodes[name]
    log.error(
        "the %s devnet node (%s, pid %d) exited unexpectedly with status %d; stopping",
        name,
        node.mode,
        node.pid,
        code,
    )
    return 1


async def _up(args: argparse.Namespace) -> int:
    # Imported here: py-evm is slow to import and only this command needs it.
    from devnet.launcher import start_consortium, start_public

    config: dict[str, Any] = {"validator_count": args.validators, "block_time": args.block_time}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("starting the consortium devnet (%d QBFT validators)...", args.validators)
    public_dir = None if args.data_dir is None else args.data_dir / "public"
    async with start_consortium(config=config, data_dir=args.data_dir) as consortium:
        log.info("consortium devnet ready at %s", consortium.url)
        log.info("starting the public devnet...")
        async with start_public(prefer_anvil=not args.no_anvil, data_dir=public_dir) as public:
            log.info("public devnet (%s) ready at %s", public.mode, public.url)
            nodes = {"consortium": consortium, "public": public}
            summary = devnet_summary(consortium, public)
            reused = None
            if args.data_dir is not None:
                reused = await reusable_contracts(args.out, nodes)
            if reused is not None:
                log.info("reusing the %d contracts deployed earlier (all have code)", reused[1])
                summary["contracts"] = reused[0]
                anchor = TrustAnchor.from_summary(_read_json(args.out), consortium)
            else:
                log.info("deploying and wiring the xgate contracts on both chains...")
                deployment, death = await _until_stop_or_death(
                    deploy_anchored(consortium, public), nodes
                )
                if death is not None:
                    return _report_death(nodes, death)
                contracts, anchor = deployment
                log.info("deployed %d contracts", len(contracts))
                summary["contracts"] = deployment_summary(contracts)
            summary["consortium"]["trust_anchor"] = anchor.to_json()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            config_path = dev_config_path(args.out)
            write_dev_config(config_path, summary, anchor, consortium)
            args.out.write_text(json.dumps(summary, indent=2) + "\n")
            print(render_summary(summary, args.out, config_path), flush=True)
            _, death = await _until_stop_or_death(stop.wait(), nodes)
            if death is not None:
                return _report_death(nodes, death)
            log.info("stopping devnets...")
    log.info("stopped")
    return 0


async def reusable_contracts(
    summary_file: Path, chains: dict[str, RunningNode]
) -> tuple[dict[str, Any], int] | None:
    """The ``contracts`` of an earlier summary when they can be reused on these chains (by
    side: consortium, public): same chain ids and every address has code. None (with the reason
    logged) otherwise."""
    try:
        earlier = _read_json(summary_file)
        contracts = earlier["contracts"]
        for side, node in chains.items():
            if earlier[side]["chain_id"] != node.chain_id:
                log.info("earlier %s chain id differs: deploying a fresh set", side)
                return None
        entries = [(side, item["address"]) for side in chains for item in contracts[side].values()]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable %s (%s): deploying a fresh set", summary_file, exc)
        return None
    if not entries:
        return None
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for side, address in entries:
            body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getCode"}
            body["params"] = [address, "latest"]
            async with session.post(chains[side].url, json=body) as resp:
                answer = await resp.json(content_type=None)
            code = answer.get("result") if isinstance(answer, dict) else None
            if not isinstance(code, str) or code in ("0x", ""):
                log.info(
                    "%s contract %s has no code on the restarted chain: deploying a fresh set",
                    side,
                    address,
                )
                return None
    return contracts, len(entries)


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """The consortium header the public chain's light client was deployed with, and the
    validators it lists: the trust anchor of every consortium adapter built from xgate.toml."""

    height: int
    hash: Hash32 | None  # None: genesis of a summary written before anchors were recorded
    validators: tuple[Address, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "hash": None if self.hash is None else "0x" + self.hash.hex(),
            "validators": [_addr(v) for v in self.validators],
        }

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], consortium: RunningNode) -> TrustAnchor:
        """The anchor recorded in an earlier summary; genesis when it has none."""
        recorded = summary.get("consortium", {}).get("trust_anchor")
        if not recorded:
            return cls(0, None, tuple(Address(v) for v in consortium.validators))
        return cls(
            height=int(recorded["height"]),
            hash=Hash32(bytes.fromhex(recorded["hash"][2:])) if recorded["hash"] else None,
            validators=tuple(Address(bytes.fromhex(v[2:])) for v in recorded["validators"]),
        )


async def deploy_contracts(consortium: RunningNode, public: RunningNode) -> dict[str, Deployed]:
    """Deploy every contract on both devnets, wired to each other (dev account 0 is admin)."""
    contracts, _ = await deploy_anchored(consortium, public)
    return contracts


async def deploy_anchored(
    consortium: RunningNode, public: RunningNode
) -> tuple[dict[str, Deployed], TrustAnchor]:
    """``deploy_contracts``, and the trust anchor the light client was deployed with."""
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
        trusted_header = await consortium_adapter.header(head)
        trusted = consortium_adapter.block_hash(trusted_header)
        consortium_steps, public_steps = xgate_plan(
            admin=Address(admin.address),
            attesters=[Address(a.address) for a in consortium.accounts[1:4]],
            attester_threshold=2,
            consortium_chain_id=consortium.chain_id,
            public_chain_id=public.chain_id,
            consortium_validators=[Address(v) for v in consortium.validators],
            trusted_consortium_header=(head, trusted, trusted_header.timestamp),
        )
        contracts = await execute(
            [
                ChainPlan(consortium_adapter, Address(admin.address), consortium_steps),
                ChainPlan(public_adapter, Address(admin.address), public_steps),
            ]
        )
    validators = tuple(sorted(Address(v) for v in consortium.validators))
    return contracts, TrustAnchor(head, trusted, validators)


def dev_config(summary: Mapping[str, Any], anchor: TrustAnchor, keys_dir: str) -> XgateConfig:
    """The xgate.toml of a devnet: the consortium and every public chain of ``summary`` with
    every deployed contract, routes both ways between the consortium and each public chain, a
    SQLite store and one key-file signer per ``DEV_SIGNERS`` entry (``keys_dir/NAME.key``)."""
    contracts = summary["contracts"]

    def addresses(side: str) -> dict[str, str]:
        return {_CONTRACT_KEYS.get(k, k): item["address"] for k, item in contracts[side].items()}

    c = summary["consortium"]
    chains: dict[str, Any] = {
        "consortium": {
            "kind": "qbft",
            "rpc_urls": [c["rpc_url"]],
            "chain_id": c["chain_id"],
            "finality": "instant",
            "trusted_validators": list(anchor.validators),
            "trusted_height": anchor.height,
            "trusted_hash": anchor.hash,
            "contracts": addresses("consortium"),
        }
    }
    routes: list[dict[str, Any]] = []
    for side in public_sides(summary):
        chains[side] = {
            "kind": "evm",
            "rpc_urls": [summary[side]["rpc_url"]],
            "chain_id": summary[side]["chain_id"],
            "finality": {"confirmations": PUBLIC_CONFIRMATIONS},
            "contracts": addresses(side),
        }
        routes += [{"from": "consortium", "to": side}, {"from": side, "to": "consortium"}]
    return XgateConfig.model_validate(
        {
            "store": {"url": "sqlite:///xgate.db"},  # beside xgate.toml (relative to its folder)
            "chains": chains,
            "routes": routes,
            "signers": {name: {"key_file": f"{keys_dir}/{name}.key"} for name in DEV_SIGNERS},
            "relayer": {"signer": "relayer"},
            # Two members' keys: the header store's threshold (attester-3 stays spare).
            "attester": {"signers": ["attester-1", "attester-2"], "chains": public_sides(summary)},
            "keeper": {"signer": "keeper"},
            "log": {"format": "text", "level": "INFO"},
            "ops": {"listen": "127.0.0.1:9464"},
        }
    )


def public_sides(summary: Mapping[str, Any]) -> list[str]:
    """The public chains of a devnet summary: every node entry besides ``consortium``."""
    return [
        side
        for side, value in summary.items()
        if side != "consortium" and isinstance(value, Mapping) and "rpc_url" in value
    ]


def write_dev_config(
    path: Path, summary: Mapping[str, Any], anchor: TrustAnchor, consortium: RunningNode
) -> XgateConfig:
    """Write ``path`` (xgate.toml) and its key files ``keys/NAME.key`` beside it (folder 0700,
    files 0600, each never readable by others even for a moment). Returns what it wrote."""
    keys = path.parent / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys.chmod(0o700)  # an older folder may have been created with looser rights
    for name, account in DEV_SIGNERS.items():
        key = "0x" + consortium.accounts[account].private_key.hex() + "\n"
        _write_private(keys / f"{name}.key", key)
    config = dev_config(summary, anchor, keys_dir="keys")
    path.write_text(dump_config(config, header=_CONFIG_HEADER))
    return config


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` as mode 0600 through a fresh file renamed over it: an older copy with
    looser rights is replaced, not rewritten in place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:  # sync: a small local file (ASYNC240)
    return json.loads(path.read_text())


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
        "pid": node.pid,
        "validators": [_addr(v) for v in node.validators],
        "dev_accounts": [
            {"address": _addr(a.address), "private_key": "0x" + a.private_key.hex()}
            for a in node.accounts
        ],
    }


def _addr(value: bytes | str) -> str:
    from eth_utils.address import to_checksum_address

    return to_checksum_address(value)


def render_summary(summary: dict[str, Any], path: Path, config_path: Path | None = None) -> str:
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
    if config_path is not None:
        lines.append(f"  relay services config: {config_path} (check it: xgate config check)")
    lines += [
        "  DEV ONLY: these keys are public; never use them on a real network.",
        f"  Everything above is in {path}. Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)
