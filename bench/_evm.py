"""The sync transaction harness every ``bench.gas_*`` module measures with.

Dev accounts sign locally; each transaction pays EIP-1559 fees (priority 1 wei, cap twice the
latest base fee + 1) and must succeed: a revert stops the benchmark rather than giving a
figure. Figures are receipt ``gasUsed``, which the fee parameters do not change.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from bench._table import emit, progress
from contracts import load_artifact
from devnet.anvil import start_anvil
from devnet.keys import dev_accounts


def median(samples: Sequence[int]) -> int:
    return int(statistics.median(samples))


@dataclass
class Evm:
    """A node at ``w3`` and the dev accounts that send to it (account 0 by default)."""

    w3: Web3
    accounts: list[LocalAccount]

    @classmethod
    def connect(cls, url: str, accounts: int) -> Evm:
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        return cls(w3, [Account.from_key(a.private_key) for a in dev_accounts(accounts)])

    def addr(self, i: int) -> str:
        return self.accounts[i].address

    def rpc(self, method: str, *params: Any) -> Any:
        answer = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def deploy(self, name: str, *args: Any, sender: int = 0) -> Contract:
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        address = self.send(factory.constructor(*args), sender)["contractAddress"]
        assert address is not None
        return self.w3.eth.contract(address=address, abi=list(art.abi))

    def submit(
        self,
        call: Any,
        sender: int = 0,
        value: int = 0,
        gas: int | None = None,
        to: str | None = None,
    ) -> bytes:
        """Sign and send ``call`` (or, with ``call=None``, a plain transfer to ``to``) without
        waiting for it to be mined (works with automine off)."""
        account = self.accounts[sender]
        params: dict[str, Any] = {
            "from": account.address,
            "value": value,
            "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
            "maxPriorityFeePerGas": 1,
            "maxFeePerGas": 2 * int(self.w3.eth.get_block("latest")["baseFeePerGas"]) + 1,
            "chainId": self.w3.eth.chain_id,
        }
        if gas is not None:
            params["gas"] = gas
        tx = (
            {**params, "to": to, "gas": gas or 21_000}
            if call is None
            else call.build_transaction(params)
        )
        return bytes(self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))

    def wait(self, tx_hash: bytes, what: str = "") -> TxReceipt:
        receipt = self.w3.eth.wait_for_transaction_receipt(
            HexBytes(tx_hash), timeout=60, poll_latency=0.02
        )
        if receipt["status"] != 1:
            raise RuntimeError(f"benchmark transaction reverted: {what or '0x' + tx_hash.hex()}")
        return receipt

    def send(self, call: Any, sender: int = 0, value: int = 0) -> TxReceipt:
        """Send ``call`` and wait for its successful receipt."""
        return self.wait(self.submit(call, sender, value), getattr(call, "fn_name", ""))

    def gas(self, call: Any, sender: int = 0, value: int = 0) -> int:
        return int(self.send(call, sender, value)["gasUsed"])

    def send_with_margin(self, call: Any, sender: int = 0) -> TxReceipt:
        """``send`` for a call whose cost depends on block.timestamp (value limits refill with
        it): the mined block may need a little more than the estimate, and a permit's
        try/catch would swallow the out-of-gas."""
        estimate = call.estimate_gas({"from": self.accounts[sender].address})
        return self.wait(self.submit(call, sender, gas=estimate * 5 // 4 + 10_000), call.fn_name)

    def gas_with_margin(self, call: Any, sender: int = 0) -> int:
        return int(self.send_with_margin(call, sender)["gasUsed"])

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Mine a block ``seconds`` later (anvil)."""
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")


def standalone(
    measure: Callable[[str], dict[str, int]], doc: str | None, title: str, argv: list[str] | None
) -> None:
    """``python -m bench.gas_<area> [--json]``: ``measure`` on a fresh anvil, printed as a table
    or one JSON object (``bench.gas`` runs every area together)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures")
    args = parser.parse_args(argv)

    async def run() -> dict[str, int]:
        async with start_anvil() as node:
            return await asyncio.to_thread(measure, node.url)

    progress(f"{title}: starting anvil")
    emit(asyncio.run(run()), args.json, title=title)
