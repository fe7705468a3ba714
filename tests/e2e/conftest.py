"""The e2e folder's devnet and relay services, started once for every e2e test.

``devnet``: the consortium (QBFT devnet, instant seal) and the public chain (anvil, a block every
second as a public chain mines), with the contracts exactly as ``xgate devnet up`` deploys and
wires them and the ``xgate.toml`` it writes. ``services``: one ``xgate run`` process on that
file (relayer, attesters, keeper), as an operator runs it. Tests act only as users and
governance do (their own transactions); the services carry every message.

Accounts (devnet.keys): the services sign with 1 and 2 (attesters, on the consortium), 5 (the
relayer, on both chains) and 6 (the keeper); tests send only from the others (0 admin and
issuer, 3 the spare attester, 4 the governor, 7 and 8 users, 9 the guardian), so no nonce is
contended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from adapters.receipts import ProvenLog
from adapters.registry import AdapterConfig
from adapters.types import ChainId, TxHash
from gateway.cli.deployment import DEVNET_GOVERNOR_ACCOUNT, Deployed, deployment_summary
from gateway.cli.devnet_cmd import deploy_anchored, devnet_summary, write_dev_config
from gateway.config import XgateConfig, load_config
from gateway.domain.status import MessageRecord, MessageStatus
from gateway.store import Store
from harness import Chain, make_chain, sync_clock
from harness.services import ServiceProcess, wait_until
from tests.helpers.proofs import with_adapter

PUBLIC_BLOCK_TIME_S = 1
DELIVERY_TIMEOUT_S = 90
NO_PREDECESSOR = b"\x00" * 32


@dataclass
class Devnet:
    """Both chains, the deployment and the services' configuration."""

    consortium: Chain
    public: Chain
    deployed: dict[str, Deployed]
    validators: tuple[bytes, ...]  # the consortium's QBFT validators
    config_path: Path
    config: XgateConfig

    @property
    def cid(self) -> int:
        return self.consortium.chain_id

    @property
    def pid(self) -> int:
        return self.public.chain_id

    def chain(self, side: str) -> Chain:
        """ "c" (consortium) or "p" (public)."""
        return self.consortium if side == "c" else self.public

    def contract(self, key: str) -> Contract:
        """A deployed contract by its deployment key ("c.vault", "p.asset_gateway" ...)."""
        item = self.deployed[key]
        return self.chain(key[0]).at(item.artifact, to_checksum_address(item.address))

    def address(self, account: int) -> str:
        return str(self.consortium.accounts[account].address)

    def adapter_config(self, side: str) -> AdapterConfig:
        """The adapter settings the services use for chain ``side``."""
        name = "consortium" if side == "c" else "public"
        return self.config.chains[name].adapter_config(name)

    def sync_clocks(self) -> None:
        """Bring the chain that is behind to the other's time. Real chains share the wall
        clock; the light client refuses consortium headers from further ahead than its drift,
        and the devnet's instant-seal blocks (and time travel) run ahead of the wall clock."""
        sync_clock(self.public, self.consortium)
        sync_clock(self.consortium, self.public)

    def govern(self, side: str, call: Any, salt: bytes, executor: int = 8) -> None:
        """An admin ``call`` on chain ``side``: the governor schedules it on that chain's
        timelock (every contract's admin), anyone executes it after the delay."""
        chain = self.chain(side)
        timelock = self.contract(f"{side}.timelock")
        args = (call.address, 0, call._encode_transaction_data(), NO_PREDECESSOR, salt)
        delay = timelock.functions.getMinDelay().call()
        chain.send(timelock.functions.schedule(*args, delay), sender=DEVNET_GOVERNOR_ACCOUNT)
        chain.advance_time(delay)
        chain.send(timelock.functions.execute(*args), sender=executor)
        self.sync_clocks()

    def proven_log(self, side: str, record: MessageRecord) -> ProvenLog:
        """The production proof of a stored message's MessageSent log (``EvmAdapter.proven_log``
        on the source chain ``side``)."""
        return with_adapter(
            self.adapter_config(side),
            lambda a: a.proven_log(record.src_tx_hash, record.block_log_index),
        )

    def redeliver(self, side: str, record: MessageRecord) -> Any:
        """The ``deliver`` call, on the other chain, of a message sent on chain ``side``, with
        the production proof of its log: what anyone could relay again."""
        proven = self.proven_log(side, record)
        dst = "p" if side == "c" else "c"
        return self.contract(f"{dst}.endpoint").functions.deliver(
            self.chain(side).chain_id,
            proven.proof.block_hash,
            proven.proof.tx_index,
            list(proven.proof.nodes),
            proven.receipt_log_index,
        )

    def records(self, side: str, receipt: Any) -> list[MessageRecord]:
        """The messages the services recorded for a source transaction, in log order."""

        async def read() -> list[MessageRecord]:
            store = await Store.open(self.config.store.url, migrate=False)
            try:
                return await store.messages_by_tx(
                    ChainId(self.chain(side).chain_id), TxHash(bytes(receipt["transactionHash"]))
                )
            finally:
                await store.close()

        return asyncio.run(read())


@pytest.fixture(scope="package")
async def devnet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Devnet]:
    from devnet.launcher import start_consortium, start_public

    folder = tmp_path_factory.mktemp("e2e-devnet")
    async with (
        start_consortium(config={"instant_seal": True}) as consortium,
        start_public(prefer_anvil=True) as public,  # anvil: make installs it
    ):
        contracts, anchor = await deploy_anchored(consortium, public)
        c = make_chain("consortium", consortium.url, poa=True)
        p = make_chain("public", public.url)
        # Deployed in a burst, the consortium's block times ran ahead of the wall clock; the
        # public chain catches up, then mines a block every second as a public chain does.
        sync_clock(p, c)
        p.rpc("evm_setIntervalMining", PUBLIC_BLOCK_TIME_S)
        summary = devnet_summary(consortium, public)
        summary["contracts"] = deployment_summary(contracts)
        config_path = folder / "xgate.toml"
        write_dev_config(config_path, summary, anchor, consortium)
        yield Devnet(
            c,
            p,
            contracts,
            consortium.validators,
            config_path,
            load_config(config_path),  # the store path resolves beside the file
        )


@pytest.fixture(scope="package")
def services(devnet: Devnet) -> Iterator[ServiceProcess]:
    """One ``xgate run`` process for the whole folder; it must stop cleanly on SIGTERM."""
    service = ServiceProcess(devnet.config_path).start()
    service.wait_serving()
    yield service
    code = service.stop()
    assert code == 0, service.output()


def wait_delivered(
    devnet: Devnet,
    services: ServiceProcess,
    side: str,
    receipt: Any,
    count: int = 1,
    timeout_s: float = DELIVERY_TIMEOUT_S,
) -> list[MessageRecord]:
    """Wait until the services recorded the ``count`` messages of a source transaction on
    chain ``side`` as delivered; their records."""
    if side == "c":
        devnet.sync_clocks()  # the light client takes no header from its future

    def delivered() -> list[MessageRecord] | None:
        records = devnet.records(side, receipt)
        if len(records) == count and all(r.status is MessageStatus.DELIVERED for r in records):
            return records
        return None

    found: list[MessageRecord] = wait_until(
        delivered, timeout_s, f"{count} message(s) of a {side} transaction delivered", services
    )
    return found
