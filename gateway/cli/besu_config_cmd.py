"""`xgate besu-config`: what a Hyperledger Besu QBFT network needs for xgate's consortium.

    xgate besu-config [--validators 4] [--chain-id 20250] [--block-period 1] [--fork shanghai]
                      (--account 0xADDR ... | --dev-accounts N) [--balance-eth 10000]
                      [--enode-host besu-{n}] [--enode-port 30303] [--out DIR] [--force] [--json]

Writes into ``--out`` (docs/besu.md):

- ``genesis.json``: Besu's QBFT genesis, ``fork`` active from block 0, extraData encoded by
  ``adapters.bft`` (the validators, no vote, round 0, no seals), every named account funded;
- ``node-<n>/key`` and ``node-<n>/key.pub``: one fresh node key per validator (the key's
  address is the validator's address; mode 0600);
- ``static-nodes.json``: every node's enode URL (``--enode-host`` / ``--enode-port``, where
  ``{n}`` is the node's number, 1-based);
- ``permissions_config.toml``: the named accounts as the accounts allowlist and every node as
  the nodes allowlist (Besu local permissioning).

The same genesis starts the embedded node: ``xgate devnet up --genesis DIR/genesis.json``
(which deploys with dev accounts, so generate it with ``--dev-accounts 24`` for that).
Existing keys are never overwritten unless ``--force``. ``--json`` prints one JSON object.
Exit codes: 0 written, 2 unusable arguments or files in the way.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Final

from eth_utils.address import is_hex_address, to_canonical_address

from adapters.besugenesis import (
    FORKS,
    alloc_state_root,
    build_genesis,
    enode_url,
    format_node_key,
    genesis_header,
    node_public_key,
    parse_genesis,
    render_permissions,
)
from adapters.bft import address_of_key
from adapters.errors import ConfigError
from adapters.headers import header_hash

DEFAULT_OUT: Final = Path(".xgate/besu")
DEFAULT_CHAIN_ID: Final = 20250  # the embedded consortium devnet's
GENESIS_FILE: Final = "genesis.json"
STATIC_NODES_FILE: Final = "static-nodes.json"
PERMISSIONS_FILE: Final = "permissions_config.toml"
ETHER: Final = 10**18
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
EXIT_OK, EXIT_UNUSABLE = 0, 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "besu-config",
        help="generate a Besu QBFT network's genesis, node keys, static nodes and permissions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--validators", type=int, default=4, help="validator nodes (default 4)")
    cmd.add_argument("--chain-id", type=int, default=DEFAULT_CHAIN_ID)
    cmd.add_argument(
        "--block-period", type=int, default=1, help="QBFT blockperiodseconds (default 1)"
    )
    cmd.add_argument("--epoch-length", type=int, default=30000, help="QBFT epochlength")
    cmd.add_argument(
        "--request-timeout", type=int, default=10, help="QBFT requesttimeoutseconds (default 10)"
    )
    cmd.add_argument("--gas-limit", type=int, default=60_000_000)
    cmd.add_argument("--fork", choices=FORKS, default="shanghai", help="active from block 0")
    cmd.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="0xADDR",
        help="an account to fund and allowlist (repeatable)",
    )
    cmd.add_argument(
        "--dev-accounts",
        type=int,
        default=0,
        metavar="N",
        help="also fund and allowlist the first N dev accounts (anvil's mnemonic: DEV ONLY)",
    )
    cmd.add_argument(
        "--balance-eth", type=int, default=10_000, help="balance of each account (ether)"
    )
    cmd.add_argument(
        "--enode-host",
        default="besu-{n}",
        help="host of node n in the enode URLs ({n}: 1, 2 ...; default besu-{n})",
    )
    cmd.add_argument(
        "--enode-port",
        default="30303",
        help="P2P port of node n, a number or a pattern like 3030{n} (default 30303)",
    )
    cmd.add_argument("--timestamp", type=int, default=None, help="genesis timestamp (default: now)")
    cmd.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    cmd.add_argument("--force", action="store_true", help="overwrite existing keys and files")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        summary = generate(args)
    except ConfigError as exc:
        print(f"xgate besu-config: {exc.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render(summary))
    return EXIT_OK


def _accounts(args: argparse.Namespace) -> list[bytes]:
    accounts: list[bytes] = []
    for text in args.account:
        if not is_hex_address(text):
            raise ConfigError(f"--account {text!r}: not a 0x address")
        accounts.append(bytes(to_canonical_address(text)))
    if not 0 <= args.dev_accounts <= 100:
        raise ConfigError("--dev-accounts: between 0 and 100")
    if args.dev_accounts:
        from devnet.keys import dev_accounts  # dev keys only when asked for

        accounts += [a.address for a in dev_accounts(args.dev_accounts)]
    if not accounts:
        raise ConfigError(
            "name the accounts to fund and allowlist: --account 0xADDR (repeatable) or "
            "--dev-accounts N (dev only)"
        )
    return sorted(set(accounts))


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.validators <= 64:
        raise ConfigError("--validators: between 1 and 64")
    for name in ("chain_id", "block_period", "epoch_length", "request_timeout"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: must be at least 1")
    if args.balance_eth < 0:
        raise ConfigError("--balance-eth: must be >= 0")


def _port(pattern: str, n: int) -> int:
    try:
        port = int(pattern.format(n=n))
    except (ValueError, KeyError, IndexError):
        raise ConfigError(f"--enode-port {pattern!r}: not a port number for node {n}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"--enode-port {pattern!r}: {port} is not a port")
    return port


def _host(pattern: str, n: int) -> str:
    try:
        host = pattern.format(n=n)
    except (ValueError, KeyError, IndexError):
        raise ConfigError(f"--enode-host {pattern!r}: use {{n}} for the node's number") from None
    if not host or any(c in host for c in "@/ "):
        raise ConfigError(f"--enode-host {pattern!r}: {host!r} is not a host name")
    return host


def _new_node_key() -> bytes:
    while True:
        key = secrets.token_bytes(32)
        if 0 < int.from_bytes(key, "big") < _SECP256K1_N:
            return key


def generate(args: argparse.Namespace) -> dict[str, Any]:
    """Write every file; return the summary (printed, or as JSON with ``--json``)."""
    _check(args)
    accounts = _accounts(args)
    out: Path = args.out
    node_dirs = [out / f"node-{n}" for n in range(1, args.validators + 1)]
    in_the_way = [
        p
        for p in [out / GENESIS_FILE, *(d / "key" for d in node_dirs), *out.glob("node-*/key")]
        if p.exists()
    ]
    if in_the_way and not args.force:
        raise ConfigError(
            f"{in_the_way[0]} exists: refusing to overwrite node keys or a genesis "
            "(--force replaces them: a new network)"
        )
    keys = [_new_node_key() for _ in node_dirs]
    nodes = []
    for n, (folder, key) in enumerate(zip(node_dirs, keys, strict=True), 1):
        public = node_public_key(key)
        nodes.append(
            {
                "name": folder.name,
                "address": "0x" + address_of_key(key).hex(),
                "enode": enode_url(public, _host(args.enode_host, n), _port(args.enode_port, n)),
                "key_file": str(folder / "key"),
            }
        )
    balance = args.balance_eth * ETHER
    genesis = build_genesis(
        chain_id=args.chain_id,
        validators=[address_of_key(k) for k in keys],
        alloc=dict.fromkeys(accounts, balance),
        timestamp=int(time.time()) if args.timestamp is None else args.timestamp,
        fork=args.fork,
        block_period_s=args.block_period,
        epoch_length=args.epoch_length,
        request_timeout_s=args.request_timeout,
        gas_limit=args.gas_limit,
    )
    parsed = parse_genesis(genesis)  # what we wrote reads back (and gives the hash below)
    out.mkdir(parents=True, exist_ok=True)
    for folder, key in zip(node_dirs, keys, strict=True):
        folder.mkdir(exist_ok=True)
        _write_private(folder / "key", format_node_key(key))
        (folder / "key.pub").write_text("0x" + node_public_key(key).hex())
    # Stale node folders of a larger network generated before (--force) would hold keys of
    # validators the new genesis does not name: removed with the keys being replaced.
    for stale in sorted(out.glob("node-*/key")):
        if stale.parent not in node_dirs:
            stale.unlink()
            stale.with_name("key.pub").unlink(missing_ok=True)
    enodes = [str(n["enode"]) for n in nodes]
    (out / GENESIS_FILE).write_text(json.dumps(genesis, indent=2) + "\n")
    (out / STATIC_NODES_FILE).write_text(json.dumps(enodes, indent=2) + "\n")
    (out / PERMISSIONS_FILE).write_text(render_permissions(accounts, enodes))
    genesis_hash = header_hash(genesis_header(parsed, alloc_state_root(parsed.alloc)))
    return {
        "out": str(out),
        "genesis": str(out / GENESIS_FILE),
        "genesis_hash": "0x" + bytes(genesis_hash).hex(),
        "chain_id": args.chain_id,
        "fork": args.fork,
        "block_period_s": args.block_period,
        "validators": sorted(nodes, key=lambda n: str(n["address"])),
        "accounts": ["0x" + a.hex() for a in accounts],
        "dev_accounts": args.dev_accounts,
        "static_nodes": str(out / STATIC_NODES_FILE),
        "permissions": str(out / PERMISSIONS_FILE),
    }


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"Besu QBFT network written to {summary['out']}/ "
        f"(chain id {summary['chain_id']}, {summary['fork']}, "
        f"{summary['block_period_s']} s blocks)",
        f"  genesis      {summary['genesis']}  (genesis hash {summary['genesis_hash']})",
        f"  static nodes {summary['static_nodes']}",
        f"  permissions  {summary['permissions']}  "
        f"({len(summary['accounts'])} accounts allowlisted and funded)",
        "  validators (node key files are secrets: keep them on their node only)",
    ]
    for node in summary["validators"]:
        lines.append(f"    {node['address']}  {node['key_file']}")
        lines.append(f"      {node['enode']}")
    if summary["dev_accounts"]:
        lines.append(
            f"  DEV ONLY: the first {summary['dev_accounts']} dev accounts (anvil's public "
            "mnemonic) are funded: never use this genesis on a real network"
        )
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    """Mode 0600 through a fresh file renamed over the old one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
