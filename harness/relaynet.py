"""A relay devnet as the e2e tests and the relay benchmarks use it: a consortium devnet node and
a public chain (anvil), every xgate contract deployed with the light client's trust anchor, the
public clock caught up with the consortium's, the public chain mining a block every second as a
public chain does, and an ``xgate.toml`` written by ``write_dev_config`` (what `xgate devnet
up` writes), plus variants of it (``RelayNet.write_config``: another store, another relayer
signer, other knobs) for several service processes.

    async with relay_devnet(folder) as net:
        config = net.write_config("xgate-pg.toml", store_url=url, relayer={"signer": "relayer-2"})
"""

from __future__ import annotations

import contextlib
import os
import time
import tomllib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from devnet.keys import DevKey, dev_accounts
from devnet.launcher import RunningNode
from gateway.cli.deployment import Deployed, deployment_summary
from gateway.cli.devnet_cmd import deploy_anchored, devnet_summary, write_dev_config
from gateway.config import load_config
from harness.chain import Chain, make_chain, sync_clock

__all__ = ["PUBLIC_BLOCK_TIME_S", "RelayNet", "relay_devnet"]

PUBLIC_BLOCK_TIME_S = 1
# Enough funded dev accounts for several relayer signers and load senders (0-9 have roles in
# the dev config: deployer, attesters, governance, relayer, keeper, guardian ...).
DEV_ACCOUNTS = 16


@dataclass
class RelayNet:
    consortium: Chain
    public: Chain
    consortium_node: RunningNode
    public_node: RunningNode
    deployed: dict[str, Deployed]
    folder: Path
    config_path: Path  # the xgate.toml of write_dev_config
    keys: tuple[DevKey, ...]  # every funded dev account (both chains)

    def contract(self, key: str) -> Contract:
        """A deployed contract by its deployment key ("c.vault", "p.asset_gateway" ...)."""
        item = self.deployed[key]
        chain = self.consortium if key.startswith("c.") else self.public
        return chain.at(item.artifact, to_checksum_address(item.address))

    def write_config(
        self,
        name: str,
        *,
        store_url: str | None = None,
        signers: Mapping[str, int] | None = None,
        relayer: Mapping[str, Any] | None = None,
        chains: Mapping[str, Mapping[str, Any]] | None = None,
        routes: Mapping[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> Path:
        """A variant of the dev ``xgate.toml`` beside it, as ``name``: ``store_url`` replaces
        the store, ``signers`` adds key-file signers (name -> dev account index, key files
        under keys/), ``relayer`` / ``chains[NAME]`` / ``routes`` (every route) update those
        sections' keys, ``drop`` removes whole sections ("attester", "keeper" ...). The file
        is checked with ``load_config`` before it is returned."""
        raw: dict[str, Any] = tomllib.loads(self.config_path.read_text())
        if store_url is not None:
            raw["store"] = {"url": store_url}
        for signer, account in (signers or {}).items():
            key_path = self.config_path.parent / "keys" / f"{signer}.key"
            _write_private(key_path, "0x" + self.keys[account].private_key.hex() + "\n")
            raw["signers"][signer] = {"key_file": f"keys/{signer}.key"}
        if relayer:
            raw["relayer"] = {**raw["relayer"], **relayer}
        for chain, knobs in (chains or {}).items():
            raw["chains"][chain] = {**raw["chains"][chain], **knobs}
        if routes:
            raw["routes"] = [{**r, **routes} for r in raw["routes"]]
        for section in drop:
            raw.pop(section, None)
        path = self.config_path.with_name(name)
        path.write_text(tomli_w.dumps(raw))
        load_config(path)  # refuse a broken variant here, not in the service's log
        return path


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


@contextlib.asynccontextmanager
async def relay_devnet(
    folder: Path,
    *,
    consortium_config: Mapping[str, Any] | None = None,
    public_block_time_s: float = PUBLIC_BLOCK_TIME_S,
    accounts: int = DEV_ACCOUNTS,
) -> AsyncIterator[RelayNet]:
    """Both chains with xgate deployed and ``folder/xgate.toml`` written; ``accounts`` dev
    accounts funded on both (anvil funds ten itself; the others get a balance)."""
    from devnet.launcher import start_consortium, start_public

    config = {"instant_seal": True, **(consortium_config or {}), "dev_accounts": accounts}
    async with (
        start_consortium(config=config) as consortium,
        start_public(prefer_anvil=True) as public,
    ):
        contracts, anchor = await deploy_anchored(consortium, public)
        chains = (
            make_chain("consortium", consortium.url, poa=True),
            make_chain("public", public.url),
        )
        keys = dev_accounts(accounts)
        for key in keys[10:]:
            chains[1].rpc("anvil_setBalance", key.hex_address, hex(10**22))
        # Deployed in a burst, an instant-seal consortium's block times ran ahead of the wall
        # clock: the public chain catches up (the light client refuses headers from its
        # future). A consortium sealing on its block period keeps to the wall clock, as anvil
        # does: both are left alone, so block times compare across the chains.
        if chains[0].now() > time.time():
            sync_clock(chains[1], chains[0])
        chains[1].rpc("evm_setIntervalMining", public_block_time_s)
        summary = devnet_summary(consortium, public)
        summary["contracts"] = deployment_summary(contracts)
        config_path = folder / "xgate.toml"
        write_dev_config(config_path, summary, anchor, consortium)
        yield RelayNet(
            *chains,
            consortium,
            public,
            contracts,
            folder,
            config_path,
            tuple(keys),
        )
