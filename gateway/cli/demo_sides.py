"""What the narrated flows (gateway/cli/demo.py, gateway/cli/finance_demo.py) share: each chain
as a user sees it (``Side``: an adapter holding the dev accounts' keys, the deployed contracts by
name), the dev accounts by index, and the progress lines of a crossing. Dev chains only: the
keys are anvil's well-known ones.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.base import TxReceipt, TxRequest
from adapters.contracts import decode_financing
from adapters.errors import XgateError
from adapters.evm import EvmAdapter
from adapters.registry import build_adapter
from adapters.signer import LocalSigner
from adapters.types import Address, ChainId, Finality
from contracts import load_artifact
from devnet.keys import DEVNET_DEV_ACCOUNTS, dev_accounts
from gateway.config import XgateConfig
from gateway.domain.payloads import Financing
from gateway.domain.receivables import financing_of

ADMIN, ALICE, BOB = 0, 7, 8
DEMO_ACCOUNTS = DEVNET_DEV_ACCOUNTS  # the finance flows' suppliers, buyers and ring: 10-19
REVOKED = 3  # CreditRegistry's CreditStatus
CROSSING_TIMEOUT_S = 120.0


class DemoFailed(XgateError):
    """A flow did not complete: the services did not carry a step in time."""


@dataclass(frozen=True, slots=True)
class Side:
    """One chain as a user sees it: an adapter with the users' keys and the deployed contracts
    by deployment name (``vault``, ``asset_gateway`` ...)."""

    name: str
    adapter: EvmAdapter
    contracts: Mapping[str, tuple[str, Address]]  # name -> (artifact, address)
    rpc_url: str

    @property
    def chain_id(self) -> ChainId:
        return self.adapter.ref.chain_id

    def address(self, name: str) -> Address:
        return self.contracts[name][1]

    async def view(self, name: str, function: str, *args: Any) -> Any:
        artifact, address = self.contracts[name]
        a = load_artifact(artifact)
        raw = await self.adapter.call(
            address, a.call_data(function, *args), finality=Finality.latest()
        )
        out = a.decode_result(function, raw)
        return out[0] if len(out) == 1 else out

    async def send(self, user: int, name: str, function: str, *args: Any) -> TxReceipt:
        (receipt,) = await self.send_all([(user, name, function, args)])
        return receipt

    async def send_all(
        self, calls: Sequence[tuple[int, str, str, tuple[Any, ...]]]
    ) -> list[TxReceipt]:
        """Transactions that do not depend on each other (each is estimated before it is
        sent): sent in order, each user's on its next nonce, then awaited together, so a
        chain with a block period mines them in one or two blocks instead of one each."""
        sent = []
        for user, name, function, args in calls:
            artifact, address = self.contracts[name]
            data = load_artifact(artifact).call_data(function, *args)
            sender = dev_account(user)
            request = TxRequest(to=address, data=data, sender=sender)
            sent.append(await self.adapter.writer(sender).submit(request))
        mined = (self.adapter.wait_mined(s, Finality.latest(), CROSSING_TIMEOUT_S) for s in sent)
        return list(await asyncio.gather(*mined))

    async def now(self) -> int:
        adapter = self.adapter
        return int((await adapter.header(await adapter.height(Finality.latest()))).timestamp)


def dev_account(index: int) -> Address:
    return Address(dev_accounts(DEMO_ACCOUNTS)[index].address)


def raw_address(value: str) -> Address:
    """The raw bytes of an address as the ABI decoder returns it (checksummed hex)."""
    return Address(bytes.fromhex(value[2:]))


def say(text: str) -> None:
    print(text, flush=True)


async def crossing(what: str, check: Callable[[], Awaitable[bool]], show: bool = True) -> float:
    """Wait until ``check()``, showing a progress line (``show``: and a line once done); the
    seconds it took."""
    start = time.monotonic()
    frames = "|/-\\"
    i = 0
    while not await check():
        waited = time.monotonic() - start
        if waited > CROSSING_TIMEOUT_S:
            raise DemoFailed(
                f"{what}: not done after {CROSSING_TIMEOUT_S:.0f} s; see the services' log lines "
                "above (is a worker failing?)"
            )
        if sys.stdout.isatty():
            print(f"\r    {frames[i % 4]} {what} ({waited:4.1f} s)", end="", flush=True)
        i += 1
        await asyncio.sleep(0.25)
    took = time.monotonic() - start
    if sys.stdout.isatty():
        print("\r" + " " * (len(what) + 20) + "\r", end="")
    if show:
        say(f"    ✓ {what} ({took:.1f} s)")
    return took


def financing_terms(raw: Sequence[Any]) -> Financing:
    """``financingOf``'s answer as the domain's ``Financing``."""
    return financing_of(decode_financing(raw))


def open_sides(summary: Mapping[str, Any], cfg: XgateConfig) -> tuple[Side, list[Side]]:
    """The consortium and the public chains of a devnet, with the users' keys (adapters as the
    services build them from ``cfg``, so consortium headers are verified the same way)."""
    keys = [LocalSigner(key.private_key) for key in dev_accounts(DEMO_ACCOUNTS)]

    def side(name: str) -> Side:
        adapter = build_adapter(cfg.chains[name].adapter_config(name), keys)
        contracts = {
            key: (item["contract"], Address(bytes.fromhex(item["address"][2:])))
            for key, item in summary["contracts"][name].items()
        }
        return Side(name, adapter, contracts, cfg.chains[name].rpc_urls[0])

    return side(cfg.hub), [side(n) for n in cfg.public_chains]
