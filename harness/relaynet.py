"""A relay devnet as the e2e, fault and relay-benchmark runs use it: a consortium devnet node
and one or more public chains (anvil), every xgate contract deployed and wired as `xgate devnet
up` does (the consortium the hub of every public chain, each light client anchored), the public
clocks caught up with the consortium's, each public chain mining a block every second as a
public chain does, and an ``xgate.toml`` written by ``write_dev_config`` (what `xgate devnet
up` writes), plus variants of it (``RelayNet.write_config``: another store, another relayer
signer, other knobs) for several service processes.

    async with relay_devnet(folder) as net:
        config = net.write_config("xgate-pg.toml", store_url=url, relayer={"signer": "relayer-2"})
        with running_services(config) as service:
            ...

A folder's own helpers subclass ``RelayNet`` and start it as ``TheirNet.start(folder)``.
"""

from __future__ import annotations

import contextlib
import os
import time
import tomllib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import tomli_w
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from devnet.keys import DevKey, dev_accounts
from devnet.launcher import RunningNode
from gateway.cli.deployment import Deployed, deployment_summary, public_prefix
from gateway.cli.devnet_cmd import (
    PUBLIC_CHAIN_ID,
    deploy_hub,
    devnet_summary,
    public_side,
    write_dev_config,
)
from gateway.config import load_config
from harness.chain import Chain, sync_clock
from harness.services import ServiceProcess

__all__ = [
    "DEV_ACCOUNTS",
    "PUBLIC_BLOCK_TIME_S",
    "SELF_FUNDED_ACCOUNTS",
    "RelayNet",
    "relay_devnet",
    "running_services",
]

PUBLIC_BLOCK_TIME_S = 1
# Both nodes fund the first ten dev accounts themselves (0-9 have roles in the dev config:
# deployer, attesters, governance, relayer, keeper, guardian ...).
SELF_FUNDED_ACCOUNTS = 10
# Enough funded dev accounts for several relayer signers and load senders.
DEV_ACCOUNTS = 16


@dataclass
class RelayNet:
    consortium: Chain
    publics: dict[str, Chain]  # by deployment-key prefix: "p", "p2" ...
    consortium_node: RunningNode
    public_nodes: tuple[RunningNode, ...]
    deployed: dict[str, Deployed]
    folder: Path
    config_path: Path  # the xgate.toml of write_dev_config
    keys: tuple[DevKey, ...]  # every funded dev account (all chains)

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        folder: Path,
        *,
        public_chains: int = 1,
        consortium_config: Mapping[str, Any] | None = None,
        public_block_time_s: float = PUBLIC_BLOCK_TIME_S,
        accounts: int = DEV_ACCOUNTS,
        private_terms: Sequence[str] = (),
    ) -> AsyncIterator[Self]:
        """Every chain with xgate deployed and ``folder/xgate.toml`` written; ``accounts`` dev
        accounts funded on all (the nodes fund ten themselves; the others get a balance);
        ``private_terms``: the public sides whose route carries receivables with private terms
        (``xgate devnet up --private-terms``)."""
        from devnet.launcher import start_consortium, start_public

        config = {"instant_seal": True, **(consortium_config or {}), "dev_accounts": accounts}
        async with AsyncExitStack() as stack:
            consortium = await stack.enter_async_context(start_consortium(config=config))
            nodes = [
                await stack.enter_async_context(
                    start_public(prefer_anvil=True, chain_id=PUBLIC_CHAIN_ID + i)
                )
                for i in range(public_chains)
            ]
            deployment = await deploy_hub(consortium, nodes, private_terms)
            c = Chain.connect("consortium", consortium.url, poa=True, accounts=accounts)
            publics = {
                public_prefix(i): Chain.connect(public_side(i), node.url, accounts=accounts)
                for i, node in enumerate(nodes)
            }
            keys = dev_accounts(accounts)
            # Deployed in a burst, an instant-seal consortium's block times ran ahead of the
            # wall clock: the public chains catch up (the light client refuses headers from its
            # future). A consortium sealing on its block period keeps to the wall clock, as
            # anvil does: unless it ran ahead, all are left alone, so block times compare.
            ran_ahead = config["instant_seal"] or c.now() > time.time()
            for public in publics.values():
                for key in keys[SELF_FUNDED_ACCOUNTS:]:
                    public.rpc("anvil_setBalance", key.hex_address, hex(10**22))
                if ran_ahead:
                    sync_clock(public, c)
                public.rpc("evm_setIntervalMining", public_block_time_s)
            summary = devnet_summary(consortium, *nodes)
            summary["contracts"] = deployment_summary(deployment.contracts)
            summary["private_terms"] = sorted(private_terms)
            config_path = folder / "xgate.toml"
            write_dev_config(config_path, summary, deployment.anchor, consortium)
            yield cls(
                c,
                publics,
                consortium,
                tuple(nodes),
                deployment.contracts,
                folder,
                config_path,
                tuple(keys),
            )

    @property
    def public(self) -> Chain:
        """The first public chain (the only one unless started with ``public_chains``)."""
        return self.publics[public_prefix(0)]

    @property
    def public_node(self) -> RunningNode:
        return self.public_nodes[0]

    def chain(self, prefix: str) -> Chain:
        """A chain by its deployment-key prefix: "c" (consortium), "p", "p2" ... (public)."""
        return self.consortium if prefix == "c" else self.publics[prefix]

    def contract(self, key: str) -> Contract:
        """A deployed contract by its deployment key ("c.vault", "p2.asset_gateway" ...)."""
        item = self.deployed[key]
        chain = self.chain(key.split(".", 1)[0])
        return chain.at(item.artifact, to_checksum_address(item.address))

    def address(self, account: int) -> str:
        return str(self.consortium.accounts[account].address)

    def heights(self) -> dict[str, int]:
        """Each chain's current height by its config name: a later config's ``start_height``
        skips older blocks (messages of earlier runs sharing the net)."""
        chains = (self.consortium, *self.publics.values())
        return {chain.name: int(chain.w3.eth.block_number) for chain in chains}

    def write_config(
        self,
        name: str,
        *,
        store_url: str | None = None,
        signers: Mapping[str, int] | None = None,
        relayer: Mapping[str, Any] | None = None,
        attester: Mapping[str, Any] | None = None,
        chains: Mapping[str, Mapping[str, Any]] | None = None,
        routes: Mapping[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> Path:
        """A variant of the dev ``xgate.toml`` beside it, as ``name``: ``store_url`` replaces
        the store, ``signers`` adds key-file signers (name -> dev account index, key files
        under keys/), ``relayer`` / ``attester`` / ``chains[NAME]`` / ``routes`` (every route)
        update those sections' keys, ``drop`` removes whole sections ("attester", "keeper"
        ...). The file is checked with ``load_config`` before it is returned."""
        raw: dict[str, Any] = tomllib.loads(self.config_path.read_text())
        if store_url is not None:
            raw["store"] = {"url": store_url}
        for signer, account in (signers or {}).items():
            key_path = self.config_path.parent / "keys" / f"{signer}.key"
            _write_private(key_path, "0x" + self.keys[account].private_key.hex() + "\n")
            raw["signers"][signer] = {"key_file": f"keys/{signer}.key"}
        if relayer:
            raw["relayer"] = {**raw["relayer"], **relayer}
        if attester:
            raw["attester"] = {**raw["attester"], **attester}
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


def relay_devnet(
    folder: Path,
    *,
    consortium_config: Mapping[str, Any] | None = None,
    public_block_time_s: float = PUBLIC_BLOCK_TIME_S,
    accounts: int = DEV_ACCOUNTS,
) -> AbstractAsyncContextManager[RelayNet]:
    """``RelayNet.start`` with one public chain."""
    return RelayNet.start(
        folder,
        consortium_config=consortium_config,
        public_block_time_s=public_block_time_s,
        accounts=accounts,
    )


@contextlib.contextmanager
def running_services(config_path: Path) -> Iterator[ServiceProcess]:
    """One ``xgate run`` process on ``config_path``, serving; it must stop cleanly on SIGTERM."""
    service = ServiceProcess(config_path).start()
    service.wait_serving()
    yield service
    code = service.stop()
    assert code == 0, service.output()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
