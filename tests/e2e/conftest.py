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
from functools import cached_property
from typing import Any

import pytest

from adapters.receipts import ProvenLog
from adapters.registry import AdapterConfig
from adapters.types import ChainId, TxHash
from gateway.cli.deployment import DEVNET_GOVERNOR_ACCOUNT
from gateway.config import XgateConfig, load_config
from gateway.domain.status import MessageRecord, MessageStatus
from gateway.store import Store
from harness.chain import sync_clock
from harness.relaynet import SELF_FUNDED_ACCOUNTS, RelayNet, running_services
from harness.services import ServiceProcess, wait_until
from tests.helpers.proofs import with_adapter

DELIVERY_TIMEOUT_S = 90
NO_PREDECESSOR = b"\x00" * 32


class Devnet(RelayNet):
    """Both chains, the deployment and the services' configuration."""

    @cached_property
    def config(self) -> XgateConfig:
        return load_config(self.config_path)  # the store path resolves beside the file

    @property
    def validators(self) -> tuple[bytes, ...]:
        """The consortium's QBFT validators."""
        return self.consortium_node.validators

    @property
    def cid(self) -> int:
        return self.consortium.chain_id

    @property
    def pid(self) -> int:
        return self.public.chain_id

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
    # Only the accounts the nodes fund themselves: the tests need no more.
    folder = tmp_path_factory.mktemp("e2e-devnet")
    async with Devnet.start(folder, accounts=SELF_FUNDED_ACCOUNTS) as net:
        yield net


@pytest.fixture(scope="package")
def services(devnet: Devnet) -> Iterator[ServiceProcess]:
    """One ``xgate run`` process for the whole folder; it must stop cleanly on SIGTERM."""
    with running_services(devnet.config_path) as service:
        yield service


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
