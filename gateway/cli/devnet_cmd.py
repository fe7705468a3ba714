"""`xgate devnet up`: one consortium chain (the hub) and one or more public chains for
development.

Prints what a developer needs and writes it to ``.xgate/devnet.json``, and beside it a ready
``xgate.toml`` for the relay services (every chain, every contract, routes both ways between
the consortium and each public chain, and key files under ``keys/`` for the relayer,
attesters and keeper). Everything it starts is dev-only (well-known keys); Ctrl-C stops it all
cleanly.

``--public-chains N`` starts N public chains, named ``public``, ``public-2`` ... in the summary
and in xgate.toml, with chain ids 31337, 31338 ...; the consortium's contracts are deployed
once and wired to every one of them, each public chain gets its own set.

With ``--data-dir`` every chain survives a restart (the consortium node's store in the folder,
each public chain's in ``<folder>/<its name>``), and a restart reuses the contracts listed in
the summary file when it names the same chains and every contract still has code on its chain;
otherwise it deploys a fresh set. If a node process dies, the command says which and exits with
status 1.

``--json`` prints, once the devnet is up, the summary object (what the summary file holds) as
one JSON line on stdout instead of the summary for people; the logs stay on stderr, and an
error is one ``{"error": {"message": ...}}`` line there (the exit codes do not change).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.errors import ConfigError
from adapters.evm import EvmAdapter, EvmConfig
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.signer import LocalSigner
from adapters.types import Address, ChainId, Finality, Hash32
from devnet.anvil import set_interval_mining
from devnet.keys import DEVNET_DEV_ACCOUNTS
from gateway.cli.deployer import ChainEnd, DeployJournal, Roles, deploy_hub_chains
from gateway.cli.deployment import (
    CONTRACT_FIELDS,
    Deployed,
    deployment_summary,
    public_prefix,
    side_name,
)
from gateway.cli.logs import configure_logging
from gateway.config import XgateConfig, dump_config
from gateway.config.files import DEFAULT_STATE_FILE, XGATE_CONFIG_NAME, dev_config_path

if TYPE_CHECKING:
    from devnet.launcher import RunningNode

log = logging.getLogger("xgate.devnet")


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
# Local chains answer in microseconds: the services look four times a block, so a delivery
# lands in the block after its header (bench.relay: 2 public blocks at 0.25 s, 4 at 1 s).
DEV_POLL_S = 0.25
PUBLIC_BLOCK_TIME_S = 1  # anvil mines a block every second once the contracts are deployed
# The public chains' ids: the first one's (anvil's default), then the next ones.
PUBLIC_CHAIN_ID = 31337
# The devnet's nodes take a whole chain's plan at once (one round of blocks, as before).
DEVNET_MAX_IN_FLIGHT = 64
_CONFIG_HEADER = (
    "DEV ONLY: written by `xgate devnet up` for its local chains. The keys under keys/ are\n"
    "public knowledge (anvil's mnemonic); never use this file or them on a real network."
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    devnet = commands.add_parser("devnet", help="run local development chains")
    sub = devnet.add_subparsers(dest="devnet_command", required=True, metavar="DEVNET_COMMAND")
    up = sub.add_parser(
        "up",
        help="start a QBFT consortium devnet and public devnets (anvil, or the plain Python node)",
    )
    up.add_argument("--validators", type=int, default=4, help="consortium validators (default 4)")
    up.add_argument(
        "--block-time",
        type=float,
        default=1.0,
        help="consortium block period in seconds (0 = seal on every transaction)",
    )
    up.add_argument(
        "--public-chains",
        type=int,
        default=1,
        help="public chains, each wired to the consortium hub (default 1; named public, "
        f"public-2 ..., chain ids {PUBLIC_CHAIN_ID}, {PUBLIC_CHAIN_ID + 1} ...)",
    )
    up.add_argument(
        "--private-terms",
        action="append",
        default=[],
        metavar="SIDE",
        help="a public chain (public, public-2 ...) whose route from the consortium carries "
        "receivables with private terms: only a commitment to their terms reaches it "
        "(repeatable; default: none)",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep every chain in this folder across restarts (the public ones in <folder>/public,"
        " <folder>/public-2 ...) and reuse the contracts deployed earlier",
    )
    up.add_argument(
        "--no-anvil",
        action="store_true",
        help="use the plain Python node for the public chains even if anvil is installed",
    )
    up.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help=f"where to write the summary ({XGATE_CONFIG_NAME} and keys/ go beside it)",
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="also start the relay services and walk through the flows (what `make run` does)",
    )
    up.add_argument(
        "--genesis",
        type=Path,
        default=None,
        help="start the consortium from this Besu QBFT genesis file (`xgate besu-config`): its "
        "chain id, validators, block period, alloc; permissions_config.toml beside it, if "
        "present, is the account allowlist (docs/besu.md)",
    )
    up.add_argument(
        "--validator-keys",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --genesis: the validators' Besu key files (DIR/key or DIR/*/key; default: "
        "the genesis file's folder)",
    )
    up.add_argument(
        "--json",
        action="store_true",
        help="once up, print the summary (the summary file's object) as one JSON line on stdout",
    )
    up.set_defaults(run=_run_up)


def _error(args: argparse.Namespace, message: str) -> None:
    """An error: logged, or with --json one JSON object on stderr."""
    if args.json:
        print(json.dumps({"error": {"message": message}}), file=sys.stderr, flush=True)
    else:
        log.error("%s", message)


def _run_up(args: argparse.Namespace) -> int:
    if args.validators < 1:
        _error(args, "--validators must be at least 1")
        return 2
    if args.block_time < 0:
        _error(args, "--block-time must be >= 0")
        return 2
    if args.public_chains < 1:
        _error(args, "--public-chains must be at least 1")
        return 2
    if args.json and args.demo:
        _error(args, "--json and --demo: the demo's narration is for people, not scripts")
        return 2
    sides = [public_side(i) for i in range(args.public_chains)]
    unknown = sorted(set(args.private_terms) - set(sides))
    if unknown:
        _error(args, f"--private-terms {unknown}: not a public chain (these are: {sides})")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        try:
            return asyncio.run(_up(args))
        except ConfigError as exc:  # a bad --genesis, its keys or permissions file
            _error(args, str(exc))
            return 2
    return 0


async def _watch(nodes: dict[str, RunningNode], poll_s: float = 0.5) -> tuple[str, int]:
    """Return (name, exit code) of the first node process that exits."""
    while True:
        for name, node in nodes.items():
            code = node.returncode()
            if code is not None:
                return name, code
        await asyncio.sleep(poll_s)


async def _demo_until(stop: asyncio.Event, summary: dict[str, Any], config_path: Path) -> None:
    """Run the services and the narrated flows (gateway/cli/demo.py) until ``stop``."""
    from gateway.cli.demo import demo_with_services  # the services only load for the demo

    # The narration is the demo's output; the services speak up only when something is wrong.
    configure_logging("text", "WARNING")
    demo = asyncio.create_task(demo_with_services(summary, config_path), name="demo")
    try:
        await asyncio.wait(
            {demo, asyncio.ensure_future(stop.wait())}, return_when="FIRST_COMPLETED"
        )
        if demo.done():
            demo.result()  # a failed demo ends the command with its error
    finally:
        demo.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await demo


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


def _report_death(
    args: argparse.Namespace, nodes: dict[str, RunningNode], death: tuple[str, int]
) -> int:
    name, code = death
    node = nodes[name]
    _error(
        args,
        f"the {name} devnet node ({node.mode}, pid {node.pid}) exited unexpectedly with status "
        f"{code}; stopping",
    )
    return 1


async def _up(args: argparse.Namespace) -> int:
    # Imported here: py-evm is slow to import and only this command needs it.
    from devnet.launcher import start_consortium, start_public

    config: dict[str, Any] = {
        "validator_count": args.validators,
        "block_time": args.block_time,
        "dev_accounts": DEVNET_DEV_ACCOUNTS,
    }
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("starting the consortium devnet (%d QBFT validators)...", args.validators)
    async with (
        start_consortium(
            config=config,
            data_dir=args.data_dir,
            genesis=args.genesis,
            validator_keys=args.validator_keys,
        ) as consortium,
        AsyncExitStack() as stack,
    ):
        log.info("consortium devnet ready at %s", consortium.url)
        publics: list[RunningNode] = []
        for index in range(args.public_chains):
            side = public_side(index)
            log.info("starting the public devnet %s...", side)
            public = await stack.enter_async_context(
                start_public(
                    prefer_anvil=not args.no_anvil,
                    chain_id=PUBLIC_CHAIN_ID + index,
                    data_dir=None if args.data_dir is None else args.data_dir / side,
                )
            )
            log.info("public devnet %s (%s) ready at %s", side, public.mode, public.url)
            publics.append(public)
        nodes = {"consortium": consortium} | {
            public_side(i): node for i, node in enumerate(publics)
        }
        summary = devnet_summary(consortium, *publics)
        summary["private_terms"] = sorted(set(args.private_terms))
        reused = None
        if args.data_dir is not None:
            reused = await reusable_contracts(args.out, nodes, summary["private_terms"])
        if reused is not None:
            log.info("reusing the %d contracts deployed earlier (all have code)", reused[1])
            summary["contracts"] = reused[0]
            anchor = TrustAnchor.from_summary(_read_json(args.out), consortium)
        else:
            log.info("deploying and wiring the xgate contracts on %d chains...", len(nodes))
            hub, death = await _until_stop_or_death(
                deploy_hub(consortium, publics, summary["private_terms"]), nodes
            )
            if death is not None:
                return _report_death(args, nodes, death)
            log.info("deployed %d contracts", len(hub.contracts))
            summary["contracts"] = deployment_summary(hub.contracts)
            anchor = hub.anchor
        summary["consortium"]["trust_anchor"] = anchor.to_json()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        config_path = dev_config_path(args.out)
        write_dev_config(config_path, summary, anchor, consortium)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        for public in publics:
            if public.mode == "anvil":
                # A public chain mines on its own clock: idle time and confirmations advance.
                await set_interval_mining(public.url, PUBLIC_BLOCK_TIME_S)
        if args.json:  # the same object as the file, on one line
            print(json.dumps(summary), flush=True)
        else:
            print(render_summary(summary, args.out, config_path), flush=True)
        work = _demo_until(stop, summary, config_path) if args.demo else stop.wait()
        _, death = await _until_stop_or_death(work, nodes)
        if death is not None:
            return _report_death(args, nodes, death)
        log.info("stopping devnets...")
    log.info("stopped")
    return 0


async def reusable_contracts(
    summary_file: Path, chains: dict[str, RunningNode], private_terms: Sequence[str] = ()
) -> tuple[dict[str, Any], int] | None:
    """The ``contracts`` of an earlier summary when they can be reused on these chains (by
    side: consortium, public, public-2 ...): the same public chains, the same chain ids, the
    same private-terms routes and every address has code. None (with the reason logged)
    otherwise."""
    try:
        earlier = _read_json(summary_file)
        contracts = earlier["contracts"]
        if set(public_sides(earlier)) != set(chains) - {"consortium"}:
            log.info("earlier public chains differ: deploying a fresh set")
            return None
        if sorted(earlier.get("private_terms", [])) != sorted(private_terms):
            log.info("earlier private-terms routes differ: deploying a fresh set")
            return None
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


@dataclass(frozen=True, slots=True)
class HubDeployment:
    """The contracts of a consortium hub and its public chains (keys ``c.*``, then ``p.*``,
    ``p2.*`` ... per public chain, in order: ``gateway.cli.deployment.public_prefix``) and the
    trust anchor every public light client was deployed with."""

    contracts: dict[str, Deployed]
    anchor: TrustAnchor
    public_count: int

    def for_public(self, index: int) -> dict[str, Deployed]:
        """The consortium's contracts and those of public chain ``index`` (from 0), the latter
        under ``p.*`` keys: what a one-public-chain deployment holds."""
        if not 0 <= index < self.public_count:
            raise IndexError(f"no public chain {index} (deployed {self.public_count})")
        prefix = public_prefix(index) + "."
        out = {k: v for k, v in self.contracts.items() if k.startswith("c.")}
        for key, item in self.contracts.items():
            if key.startswith(prefix):
                local = "p." + key.removeprefix(prefix)
                out[local] = replace(item, key=local)
        return out


async def deploy_contracts(consortium: RunningNode, public: RunningNode) -> dict[str, Deployed]:
    """Deploy every contract on both devnets, wired to each other (dev account 0 is admin)."""
    contracts, _ = await deploy_anchored(consortium, public)
    return contracts


async def deploy_anchored(
    consortium: RunningNode, public: RunningNode
) -> tuple[dict[str, Deployed], TrustAnchor]:
    """``deploy_contracts``, and the trust anchor the light client was deployed with: the
    one-public-chain case of ``deploy_hub``."""
    hub = await deploy_hub(consortium, [public])
    return hub.contracts, hub.anchor


async def deploy_hub(
    consortium: RunningNode, publics: Sequence[RunningNode], private_terms: Sequence[str] = ()
) -> HubDeployment:
    """Deploy the consortium's contracts once and each public chain's own set, every public
    chain wired to the consortium hub (``gateway.cli.deployment.hub_plan``; dev account 0 is
    admin). Every light client is anchored on the same consortium header. The chains' plans
    are sent in parallel. ``private_terms``: the public sides (``public``, ``public-2`` ...)
    whose route from the consortium carries receivables with private terms."""
    if not publics:
        raise ConfigError("the hub needs at least one public chain")
    private_ids = [p.chain_id for i, p in enumerate(publics) if public_side(i) in private_terms]
    admin = consortium.accounts[0]
    consortium_adapter = QbftAdapter(
        QbftConfig(
            rpc_url=consortium.url,
            chain_id=ChainId(consortium.chain_id),
            name="consortium",
            trusted_validators=tuple(Address(v) for v in consortium.validators),
        )
    )
    public_adapters = [
        EvmAdapter(
            EvmConfig(
                rpc_url=public.url,
                chain_id=ChainId(public.chain_id),
                name=public_side(index),
                finality=Finality.latest(),  # a dev chain: nobody reorgs it
            )
        )
        for index, public in enumerate(publics)
    ]
    async with AsyncExitStack() as stack:
        for adapter in (consortium_adapter, *public_adapters):
            await stack.enter_async_context(adapter)
        signer = LocalSigner(admin.private_key)
        # The same path as `xgate deploy` (gateway.cli.deployer), its journal in memory: the
        # devnet's chains do not outlive the process.
        hub = await deploy_hub_chains(
            ChainEnd("consortium", consortium_adapter, signer),
            [
                ChainEnd(public_side(index), adapter, signer)
                for index, adapter in enumerate(public_adapters)
            ],
            Roles(
                attesters=tuple(Address(a.address) for a in consortium.accounts[1:4]),
                attester_threshold=2,
            ),
            DeployJournal(None),
            private_terms_chain_ids=private_ids,
            max_in_flight=DEVNET_MAX_IN_FLIGHT,
        )
    anchor = TrustAnchor(hub.anchor.height, hub.anchor.hash, hub.anchor.validators)
    return HubDeployment(hub.contracts, anchor, len(publics))


def dev_config(summary: Mapping[str, Any], anchor: TrustAnchor, keys_dir: str) -> XgateConfig:
    """The xgate.toml of a devnet: the consortium and every public chain of ``summary`` with
    every deployed contract, routes both ways between the consortium and each public chain, a
    SQLite store and one key-file signer per ``DEV_SIGNERS`` entry (``keys_dir/NAME.key``)."""
    contracts = summary["contracts"]

    def addresses(side: str) -> dict[str, str]:
        return {CONTRACT_FIELDS.get(k, k): item["address"] for k, item in contracts[side].items()}

    c = summary["consortium"]
    chains: dict[str, Any] = {
        "consortium": {
            "kind": "qbft",
            "rpc_urls": [c["rpc_url"]],
            "chain_id": c["chain_id"],
            "finality": "instant",
            "poll_interval_s": DEV_POLL_S,
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
            "poll_interval_s": DEV_POLL_S,
            "contracts": addresses(side),
        }
        outbound: dict[str, Any] = {"from": "consortium", "to": side}
        if side in summary.get("private_terms", ()):
            outbound["private_terms"] = True
        routes += [outbound, {"from": side, "to": "consortium"}]
    return XgateConfig.model_validate(
        {
            "store": {"url": "sqlite:///xgate.db"},  # beside xgate.toml (relative to its folder)
            "chains": chains,
            "routes": routes,
            "signers": {name: {"key_file": f"{keys_dir}/{name}.key"} for name in DEV_SIGNERS},
            # The light-client keep-alive checks every second: dev clocks jump by days.
            "relayer": {
                "signer": "relayer",
                "poll_interval_s": DEV_POLL_S,
                "light_client_check_s": 1.0,
            },
            # Two members' keys: the header store's threshold (attester-3 stays spare).
            "attester": {
                "signers": ["attester-1", "attester-2"],
                "chains": public_sides(summary),
                "poll_interval_s": DEV_POLL_S,
            },
            "keeper": {
                "signer": "keeper",
                "address": c["dev_accounts"][DEV_SIGNERS["keeper"]]["address"],
            },
            "log": {"format": "text", "level": "INFO"},
            "ops": {"listen": "127.0.0.1:9464"},
        }
    )


def public_side(index: int) -> str:
    """The name of public chain ``index`` (from 0) in the summary and xgate.toml: ``public``,
    ``public-2`` ..."""
    return side_name(public_prefix(index))


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


def devnet_summary(consortium: RunningNode, *publics: RunningNode) -> dict[str, Any]:
    """The nodes part of .xgate/devnet.json: ``consortium``, then ``public``, ``public-2`` ...
    (``public_side``) for the public chains in order."""
    return {
        "warning": "DEV ONLY: these private keys are public knowledge; never use them elsewhere",
        "consortium": _node_json(consortium),
        **{public_side(i): _node_json(public) for i, public in enumerate(publics)},
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
    c, sides = summary["consortium"], public_sides(summary)
    private = summary.get("private_terms", ())
    lines = [
        "",
        "xgate devnet is up",
        f"  consortium  chain id {c['chain_id']:<8} {c['rpc_url']}  ({len(c['validators'])} QBFT validators)",
        *(
            f"  {side:<11} chain id {summary[side]['chain_id']:<8} {summary[side]['rpc_url']}"
            f"  ({summary[side]['mode']}"
            f"{', receivables arrive with private terms' if side in private else ''})"
            for side in sides
        ),
        "",
        "  dev accounts (funded on every chain, allowlisted on the consortium chain):",
    ]
    for account in c["dev_accounts"][:3]:
        lines.append(f"    {account['address']}  key {account['private_key']}")
    lines.append(f"    ... {len(c['dev_accounts'])} in all")
    contracts = summary.get("contracts")
    if contracts:
        lines.append("")
        for side in ("consortium", *sides):
            lines.append(f"  {side} contracts:")
            for name, item in contracts.get(side, {}).items():
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
