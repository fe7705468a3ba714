"""`xgate deploy --config xgate.toml [--dry-run] [--json]`: deploy and wire xgate's contracts
on an operator's chains (docs/deploy.md).

The chains are the consortium hub (the ``qbft`` chain) and every public chain a route joins to
it; ``[deploy]`` names the signer of each chain and who holds which role afterwards. The
deployment is the one ``xgate devnet up`` makes (``gateway.cli.deployer``), journaled in a file
beside the config (``[deploy] journal``, default ``<config name>.deploy.json``): a run that
was interrupted continues where it stopped, a finished one sends nothing. At the end the
contracts' addresses, the light clients' trust anchor (``trusted_validators``,
``trusted_height``, ``trusted_hash``) and each chain's ``start_height`` are written into the
config file; everything else in it (comments, order) stays as it was.

``--dry-run`` sends nothing: it prints each chain's steps, who holds which role afterwards, the
gas of the steps left (deployments estimated by the node, calls from ``STEP_GAS``) and the
deployer's balance against their cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from eth_utils.address import to_checksum_address
from pydantic import ValidationError

from adapters.configmodel import config_error
from adapters.errors import ConfigError, TransactionFailed, XgateError
from adapters.registry import build_adapter
from adapters.types import Finality
from gateway.cli.deployer import (
    ChainEnd,
    ChainRun,
    DeployJournal,
    Deployment,
    HubResult,
    Progress,
    Roles,
    current_anchor,
    deploy_hub_chains,
    describe,
    hub_inputs,
    hub_steps,
    recorded_anchor,
)
from gateway.cli.deployment import (
    CALL_GAS,
    CONTRACT_FIELDS,
    DEPLOY_GAS,
    STEP_GAS,
    Deploy,
    Deployed,
    _json_value,
    private_terms_chain_ids,
)
from gateway.cli.progress import stderr_console
from gateway.config import ContractsConfig, XgateConfig, load_tx_signer

log = logging.getLogger("xgate.deploy")

_PLACEHOLDER = "0x" + "00" * 19 + "01"  # stands in for a contract the deployment will write


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "deploy",
        help="deploy and wire the contracts on the config's chains (resumable; docs/deploy.md)",
    )
    cmd.add_argument("--config", type=Path, required=True, help="xgate.toml with a [deploy]")
    cmd.add_argument(
        "--dry-run",
        action="store_true",
        help="send nothing: print the plan, the roles, gas estimates and the deployers' balances",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")
    cmd.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = read_deploy_config(args.config)
        return asyncio.run(_deploy(cfg, args.config, dry_run=args.dry_run, as_json=args.json))
    except KeyboardInterrupt:
        # Everything sent is in the journal: the next run continues from it.
        print("xgate deploy: interrupted; run it again to continue", file=sys.stderr)
        return 130
    except XgateError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": exc.message, **_jsonable(exc.context)}))
        else:
            print(f"xgate deploy: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1


def _jsonable(context: Mapping[str, Any]) -> dict[str, Any]:
    def one(value: Any) -> Any:
        if isinstance(value, bytes):
            return "0x" + value.hex()
        return value if isinstance(value, str | int | float | bool | None) else str(value)

    return {k: one(v) for k, v in context.items()}


# --- the config --------------------------------------------------------------------------------


def read_deploy_config(path: Path) -> XgateConfig:
    """``path`` validated as it will be once the deployment has written its contracts: the
    addresses it will write stand in for the ones missing (routes need endpoints, light
    clients ...). ``ConfigError`` (one line per problem) otherwise, or without ``[deploy]``."""
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    raw = doc.unwrap()
    for chain in (raw.get("chains") or {}).values():
        if isinstance(chain, dict):
            contracts = chain.setdefault("contracts", {})
            if isinstance(contracts, dict):
                for field in ContractsConfig.model_fields:
                    contracts.setdefault(field, _PLACEHOLDER)
                if chain.get("kind") == "evm":
                    contracts.pop("header_store", None)
                else:
                    contracts.pop("light_client", None)
    try:
        cfg = XgateConfig.model_validate(raw, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise config_error(exc, str(path)) from None
    if cfg.deploy is None:
        raise ConfigError(
            f"{path}: no [deploy] section: name the deployer's signer, the governor, guardian, "
            "attesters and threshold (docs/deploy.md)"
        )
    return cfg


def deployed_chains(cfg: XgateConfig) -> tuple[str, list[str]]:
    """The hub and the public chains a route joins to it, in [chains] order."""
    hub = cfg.hub
    joined = {r.source for r in cfg.routes} | {r.destination for r in cfg.routes}
    publics = [name for name in cfg.public_chains if name in joined]
    if not publics:
        raise ConfigError(
            f"no route joins a public chain to the hub {hub!r}: nothing to deploy ([[routes]])"
        )
    return hub, publics


def journal_path(cfg: XgateConfig, config_path: Path) -> Path:
    assert cfg.deploy is not None
    if cfg.deploy.journal is not None:
        return cfg.deploy.journal
    return config_path.with_name(f"{config_path.stem}.deploy.json")


def roles_of(cfg: XgateConfig) -> Roles:
    d = cfg.deploy
    assert d is not None
    return Roles(
        attesters=tuple(d.attesters),
        attester_threshold=d.attester_threshold,
        governor=d.governor,
        guardian=d.guardian,
        arbiter=d.arbiter,
        timelock_delay_s=d.timelock_delay_s,
        hold_delay_s=d.hold_delay_s,
    )


# --- the command -------------------------------------------------------------------------------


async def _deploy(cfg: XgateConfig, config_path: Path, *, dry_run: bool, as_json: bool) -> int:
    assert cfg.deploy is not None
    hub_name, public_names = deployed_chains(cfg)
    journal = DeployJournal.open(journal_path(cfg, config_path))
    roles = roles_of(cfg)
    private = private_terms_chain_ids(cfg)
    async with AsyncExitStack() as stack:
        ends: list[ChainEnd] = []
        for name in (hub_name, *public_names):
            signer_name = cfg.deploy.chain_signers.get(name, cfg.deploy.signer)
            signer = load_tx_signer(cfg.signers[signer_name], os.environ, name=signer_name)
            adapter = build_adapter(cfg.chains[name].adapter_config(name))
            await stack.enter_async_context(adapter)
            ends.append(ChainEnd(name, adapter, signer))
        hub, publics = ends[0], ends[1:]
        if dry_run:
            report = await dry_run_report(hub, publics, roles, journal, private)
            print(json.dumps(report, indent=2) if as_json else render_dry_run(report))
            return 0
        with progress_bar(enabled=not as_json) as progress:
            result = await deploy_hub_chains(
                hub,
                publics,
                roles,
                journal,
                private_terms_chain_ids=private,
                max_in_flight=cfg.deploy.max_in_flight,
                progress=progress,
            )
    write_config(config_path, result, journal)
    report = result_report(result, journal, config_path)
    print(json.dumps(report, indent=2) if as_json else render_result(report))
    return 0


@contextmanager
def progress_bar(*, enabled: bool) -> Iterator[Progress | None]:
    """A bar per chain (steps mined / steps in all) on stderr; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
    )
    tasks: dict[str, Any] = {}

    def update(chain: str, done: int, total: int) -> None:
        if chain not in tasks:
            tasks[chain] = bar.add_task(chain, total=total)
        bar.update(tasks[chain], completed=done, total=total)

    with bar:
        yield update


# --- writing the config ------------------------------------------------------------------------


def contract_fields(result: HubResult) -> dict[str, dict[str, str]]:
    """Per chain name, the [chains.NAME.contracts] entries of the deployment."""
    by_prefix = {prefix: name for name, prefix in result.chains.items()}
    out: dict[str, dict[str, str]] = {name: {} for name in result.chains}
    for key, item in sorted(result.contracts.items()):
        prefix, local = key.split(".", 1)
        field = CONTRACT_FIELDS.get(local, local)
        if field in ContractsConfig.model_fields:
            out[by_prefix[prefix]][field] = to_checksum_address(item.address)
    return out


def start_heights(journal: DeployJournal) -> dict[str, int]:
    """Per chain, the first block with a step of the deployment."""
    out: dict[str, int] = {}
    for name, chain in journal.data["chains"].items():
        blocks = [s["block"] for s in chain.get("steps", {}).values() if "block" in s]
        if blocks:
            out[name] = min(blocks)
    return out


def write_config(path: Path, result: HubResult, journal: DeployJournal) -> None:
    """Write the addresses, the hub's trust anchor and the start heights into ``path``,
    keeping the rest of the file as it is (comments, order); then check it loads."""
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    chains: Any = doc["chains"]  # tomlkit's tables: dicts that keep their formatting
    heights = start_heights(journal)
    for name, fields in contract_fields(result).items():
        table = chains[name]
        if "contracts" not in table:
            table["contracts"] = tomlkit.table()
        for field, address in fields.items():
            table["contracts"][field] = address
        if heights.get(name) and not table.get("start_height"):
            table["start_height"] = heights[name]
        if result.chains[name] == "c":
            anchor = result.anchor
            table["trusted_validators"] = [to_checksum_address(v) for v in anchor.validators]
            table["trusted_height"] = anchor.height
            table["trusted_hash"] = "0x" + anchor.hash.hex()
    text = tomlkit.dumps(doc)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    from gateway.config import load_config

    load_config(path)  # what the services will read: it must validate as written


# --- reports -----------------------------------------------------------------------------------


def roles_report(
    contracts: Mapping[str, Deployed], result_chains: Mapping[str, str]
) -> dict[str, Any]:
    """Per chain, who holds what afterwards (the timelock deployment's description)."""
    by_prefix = {prefix: name for name, prefix in result_chains.items()}
    out: dict[str, Any] = {}
    for key, item in contracts.items():
        if item.meta:
            prefix = key.split(".", 1)[0]
            out[by_prefix[prefix]] = {
                "timelock (admin of the rest)": to_checksum_address(item.address)
            } | {k: _json_value(v) for k, v in item.meta}
    return out


def result_report(result: HubResult, journal: DeployJournal, config_path: Path) -> dict[str, Any]:
    return {
        "ok": True,
        "already_deployed": result.sent == 0,
        "transactions_sent": result.sent,
        "config": str(config_path),
        "journal": str(journal.path),
        "anchor": result.anchor.to_json(),
        "chains": contract_fields(result),
        "roles": roles_report(result.contracts, result.chains),
    }


def render_result(report: Mapping[str, Any]) -> str:
    lines = [
        "already deployed: nothing sent"
        if report["already_deployed"]
        else f"deployed: {report['transactions_sent']} transactions sent",
    ]
    for chain, fields in report["chains"].items():
        lines.append(f"  {chain}:")
        lines += [f"    {field:<26} {address}" for field, address in fields.items()]
    anchor = report["anchor"]
    lines.append(
        f"  light clients anchored at consortium block {anchor['height']} {anchor['hash']}"
    )
    lines.append(f"  written to {report['config']} (journal: {report['journal']})")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Estimate:
    gas: int
    basis: str  # "estimated" (eth_estimateGas) or "measured" (STEP_GAS) or "limit"


async def dry_run_report(
    hub: ChainEnd,
    publics: Sequence[ChainEnd],
    roles: Roles,
    journal: DeployJournal,
    private: Sequence[int],
) -> dict[str, Any]:
    """The plan, the roles and the cost of what is left, read from the chains; nothing sent."""
    inputs = hub_inputs(hub, publics, roles, private)
    anchor = recorded_anchor(journal, inputs)
    if anchor is None:
        anchor = await current_anchor(hub.adapter)
    steps = hub_steps(hub, publics, roles, anchor, private)
    ends = [hub, *publics]
    runs = [ChainRun(e.name, e.adapter, e.signer, s) for e, s in zip(ends, steps, strict=True)]
    preview = Deployment(runs, DeployJournal(None, json.loads(json.dumps(journal.data))))
    await preview.preview()
    chains: dict[str, Any] = {}
    for end, run in zip(ends, runs, strict=True):
        done = {
            int(i) for i, s in preview.journal.steps(end.name).items() if s["status"] == "mined"
        }
        market = await end.adapter.fee_market()
        balance = await end.adapter.balance(end.signer.address, Finality.latest())
        listed = []
        total = 0
        for index, step in enumerate(run.steps):
            entry: dict[str, Any] = {"index": index, "step": describe(step)}
            if isinstance(step, Deploy):
                entry["address"] = to_checksum_address(preview.addresses[step.key])
            if index in done:
                entry["done"] = True
            else:
                estimate = await _estimate(preview, end, step)
                entry |= {"gas": estimate.gas, "gas_basis": estimate.basis}
                total += estimate.gas
            listed.append(entry)
        likely = total * market.likely_price
        chains[end.name] = {
            "chain_id": int(end.adapter.ref.chain_id),
            "prefix": inputs["chains"][end.name]["prefix"],
            "deployer": to_checksum_address(end.signer.address),
            "steps": listed,
            "steps_left": sum(1 for s in listed if not s.get("done")),
            "gas_left": total,
            "gas_price_wei": market.likely_price,
            "cost_wei": likely,
            "cost_max_wei": total * market.fees.ceiling,
            "balance_wei": balance,
            "enough_balance": balance >= likely,
        }
    return {
        "dry_run": True,
        "journal": str(journal.path),
        "resuming": journal.started,
        "anchor": anchor.to_json(),
        "chains": chains,
        "roles": roles_report(preview.contracts(), {n: c["prefix"] for n, c in chains.items()}),
        "gas_note": "deployments: eth_estimateGas on the chain now (plus the chain's margin); "
        "calls: the gas the same call used in a devnet deployment (STEP_GAS), the contracts "
        "they call not being deployed yet; the cost at the chain's current gas price "
        "(base fee + tip), its max at the fee cap the transactions are signed with",
    }


async def _estimate(preview: Deployment, end: ChainEnd, step: Any) -> _Estimate:
    request = preview.request(step)
    if isinstance(step, Deploy):
        try:
            gas = await end.adapter.estimate_gas(request, end.signer.address)
        except TransactionFailed:
            return _Estimate(STEP_GAS.get(step.artifact, DEPLOY_GAS), "measured")
        return _Estimate(gas, "estimated")
    artifact = preview.artifacts[step.target]
    measured = STEP_GAS.get(f"{artifact}.{step.function}")
    if measured is None:
        return _Estimate(CALL_GAS, "limit")
    return _Estimate(measured, "measured")


def render_dry_run(report: Mapping[str, Any]) -> str:
    lines = ["dry run: nothing is sent"]
    if report["resuming"]:
        lines.append(f"  continuing the journal {report['journal']}")
    anchor = report["anchor"]
    lines.append(
        f"  light clients anchored at consortium block {anchor['height']} {anchor['hash']} "
        f"({len(anchor['validators'])} validators)"
    )
    for name, chain in report["chains"].items():
        lines.append("")
        lines.append(
            f"{name} (chain id {chain['chain_id']}, deployer {chain['deployer']}): "
            f"{chain['steps_left']} of {len(chain['steps'])} steps left"
        )
        for step in chain["steps"]:
            where = f" -> {step['address']}" if "address" in step else ""
            cost = "done" if step.get("done") else f"{step['gas']:>9,} gas ({step['gas_basis']})"
            lines.append(f"  {step['index']:>3}. {step['step']:<58}{cost}{where}")
        gwei = chain["gas_price_wei"] / 1e9
        lines.append(
            f"  gas {chain['gas_left']:,} at {gwei:.3f} gwei: {chain['cost_wei'] / 1e18:.6f} "
            f"(at most {chain['cost_max_wei'] / 1e18:.6f}) of the chain's coin; the deployer "
            f"has {chain['balance_wei'] / 1e18:.6f}: "
            + ("enough" if chain["enough_balance"] else "NOT ENOUGH")
        )
    lines.append("")
    lines.append("roles afterwards:")
    for name, roles in report["roles"].items():
        lines.append(f"  {name}:")
        for key, value in roles.items():
            lines.append(f"    {key}: {json.dumps(value)}")
    lines.append("")
    lines.append(f"gas: {report['gas_note']}")
    return "\n".join(lines)
