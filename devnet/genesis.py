"""Start the consortium devnet from a Besu QBFT genesis file (``xgate devnet up --genesis``).

The file is read with ``adapters.besugenesis`` (the same code ``xgate besu-config`` writes it
with): chain id, fork, block period, epoch, gas limit, timestamp, validators (decoded from
extraData), alloc. Beside it:

- ``permissions_config.toml`` (Besu local permissioning): when present, its
  ``accounts-allowlist`` is the node's account allowlist, exactly; when absent the node does
  not restrict senders (as Besu without account permissioning);
- the validators' node keys: a Besu ``key`` file (hex private key) in the keys folder or any
  of its subfolders (``xgate besu-config`` writes ``node-1/key`` ...); the keys folder is the
  genesis file's folder unless given. Every validator of the genesis must have its key there:
  the embedded node seals with all of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from adapters.besugenesis import BesuGenesis, parse_genesis, parse_permissions, read_node_key
from adapters.bft import address_of_key
from adapters.errors import ConfigError
from adapters.types import Address
from devnet.keys import dev_accounts

PERMISSIONS_FILE: Final = "permissions_config.toml"
KEY_FILE: Final = "key"


@dataclass(frozen=True, slots=True)
class GenesisSetup:
    """A genesis file with what sits beside it: validator keys and the account allowlist."""

    path: Path
    genesis: BesuGenesis
    keys: Mapping[bytes, bytes]  # validator address -> node private key
    allowlist: tuple[Address, ...] | None  # None: no account permissioning
    keys_dir: Path

    def __repr__(self) -> str:  # keep keys out of logs and tracebacks
        return f"GenesisSetup(path={self.path}, validators={len(self.keys)})"


def load_genesis_setup(genesis_file: Path, keys_dir: Path | None = None) -> GenesisSetup:
    """Read and check the genesis file, the validators' keys and the permissions file.
    ``ConfigError`` says which file and what is wrong."""
    try:
        text = genesis_file.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the genesis file: {exc.strerror}", key="genesis", path=str(genesis_file)
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"the genesis file is not JSON: {exc}", key="genesis", path=str(genesis_file)
        ) from None
    try:
        genesis = parse_genesis(data)
    except ConfigError as exc:
        raise ConfigError(
            f"genesis {genesis_file}: {exc.message}", **(exc.context | {"path": str(genesis_file)})
        ) from None
    folder = keys_dir if keys_dir is not None else genesis_file.parent
    found = _read_keys(folder)
    missing = [v for v in genesis.validators if v not in found]
    if missing:
        raise ConfigError(
            f"validator 0x{missing[0].hex()} of the genesis has no node key in {folder} "
            f"(a `{KEY_FILE}` file in it or one of its folders, as `xgate besu-config` writes "
            "them; --validator-keys DIR names another folder)",
            key="validator_keys",
            missing=["0x" + m.hex() for m in missing],
        )
    allowlist = None
    permissions = genesis_file.parent / PERMISSIONS_FILE
    if permissions.exists():
        try:
            allowlist, _nodes = parse_permissions(permissions.read_text())
        except ConfigError as exc:
            raise ConfigError(f"{permissions}: {exc.message}", **exc.context) from None
    keys = {bytes(v): found[v] for v in genesis.validators}
    return GenesisSetup(genesis_file, genesis, keys, allowlist, folder)


def _read_keys(folder: Path) -> dict[bytes, bytes]:
    if not folder.is_dir():
        raise ConfigError(
            f"the validator keys folder {folder} does not exist", key="validator_keys"
        )
    out: dict[bytes, bytes] = {}
    for path in sorted([folder / KEY_FILE, *folder.glob(f"*/{KEY_FILE}")]):
        if not path.is_file():
            continue
        try:
            key = read_node_key(path.read_text())
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}", key="validator_keys") from None
        out[bytes(address_of_key(key))] = key
    return out


def devnet_config_for(setup: GenesisSetup, dev_account_count: int) -> dict[str, Any]:
    """The devnet config keys a genesis decides. ``dev_account_count`` dev accounts (anvil's
    mnemonic) must be funded by the genesis, and allowlisted when it is permissioned: the
    caller deploys and runs with them."""
    g = setup.genesis
    funded = {a.address for a in g.alloc if a.balance > 0}
    allowed = None if setup.allowlist is None else set(setup.allowlist)
    for index, account in enumerate(dev_accounts(dev_account_count)):
        lacking = (
            "funded by the genesis"
            if account.address not in funded
            else "on the accounts allowlist"
            if allowed is not None and account.address not in allowed
            else None
        )
        if lacking is not None:
            raise ConfigError(
                f"dev account {index} ({account.hex_address}) is not {lacking}; the devnet "
                f"deploys and runs with dev accounts 0-{dev_account_count - 1}: generate the "
                f"genesis with `xgate besu-config --dev-accounts {dev_account_count}`",
                key="genesis",
                path=str(setup.path),
            )
    return {
        "chain_id": g.chain_id,
        "fork": g.fork,
        "block_time": float(g.block_period_s),
        "epoch_length": g.epoch_length,
        "gas_limit": g.gas_limit,
        "genesis_timestamp": g.timestamp,
        "validator_count": len(g.validators),
        "dev_accounts": dev_account_count,
        "permissioning": setup.allowlist is not None,
        "genesis_file": str(setup.path.resolve()),
        "validator_keys_dir": str(setup.keys_dir.resolve()),
    }
