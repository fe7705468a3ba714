"""Fixtures for contract tests: the committed artifacts deployed on live nodes.

``chain`` runs a test once on anvil and once on the consortium devnet node (both started once
per session by tests/conftest.py). Tests use web3.py directly here: contracts are the subject.
Keys are the devnets' well-known dev keys (dev only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import TxReceipt

from contracts import decode_error, load_artifact
from devnet import keys as devnet_keys


class Reverted(AssertionError):
    """A call reverted; ``error`` is the custom error's name (or Error/Panic), ``args`` its data."""

    def __init__(self, error: str, args: tuple[Any, ...], raw: bytes) -> None:
        super().__init__(f"reverted with {error}{args}")
        self.error = error
        self.args_ = args
        self.raw = raw


def decode_revert(data: bytes) -> Reverted:
    """Revert data as ``Reverted``, named by the artifacts' error table (contracts.decode_error)."""
    if len(data) < 4:
        return Reverted("EmptyRevert", (), data)
    decoded = decode_error(data)
    if decoded is None:
        return Reverted(f"Unknown(0x{data[:4].hex()})", (), data)
    return Reverted(decoded.name, decoded.args, data)


@dataclass
class Chain:
    """One live chain with dev accounts and helpers to deploy, send and expect reverts."""

    name: str
    w3: Web3
    accounts: list[LocalAccount]
    _nonces: dict[str, int] = field(default_factory=dict)

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    def deploy(self, artifact: str, *args: Any, sender: int = 0) -> Contract:
        art = load_artifact(artifact)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        receipt = self._send_tx(factory.constructor(*args).build_transaction, sender, value=0)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=list(art.abi))

    def deploy_reverts(self, artifact: str, *args: Any) -> Reverted:
        """The constructor reverts (eth_call of the deployment): its decoded error."""
        art = load_artifact(artifact)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        with pytest.raises(Reverted) as info:
            try:
                factory.constructor(*args).estimate_gas({"from": self.accounts[0].address})
            except Exception as exc:
                raise _as_reverted(exc) from exc
        return info.value

    def at(self, artifact: str, address: str) -> Contract:
        return self.w3.eth.contract(address=address, abi=list(load_artifact(artifact).abi))

    def send(
        self, call: ContractFunction, sender: int = 0, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Send a transaction; a revert raises ``Reverted`` with the decoded custom error."""
        self.check_call(call, sender, value)
        return self._send_tx(call.build_transaction, sender, value, gas)

    def send_raw_tx(
        self, to: str, data: bytes, sender: int = 0, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        tx = {"to": to, "data": data, "value": value}
        try:
            self.w3.eth.call({**tx, "from": self.accounts[sender].address})
        except Exception as exc:
            raise _as_reverted(exc) from exc
        return self._send_tx(lambda params: {**params, **tx}, sender, value, gas)

    def check_call(self, call: ContractFunction, sender: int = 0, value: int = 0) -> Any:
        try:
            return call.call({"from": self.accounts[sender].address, "value": value})
        except Exception as exc:
            raise _as_reverted(exc) from exc

    def expect_revert(
        self, call: ContractFunction, error: str, sender: int = 0, value: int = 0
    ) -> Reverted:
        """Assert the call reverts with ``error`` (custom error name) and changes nothing."""
        with pytest.raises(Reverted) as info:
            self.send(call, sender=sender, value=value)
        assert info.value.error == error, (
            f"expected {error}, got {info.value.error}{info.value.args_}"
        )
        return info.value

    def _send_tx(self, build: Any, sender: int, value: int, gas: int | None = None) -> TxReceipt:
        account = self.accounts[sender]
        nonce = self.w3.eth.get_transaction_count(account.address, "pending")
        params: dict[str, Any] = {
            "from": account.address,
            "nonce": nonce,
            "value": value,
            "chainId": self.chain_id,
        }
        if gas is not None:
            params["gas"] = gas
        tx = build(params)
        if "gas" not in tx:
            # A margin, as a relayer would use: time-dependent paths (rate-limit refills) can
            # cost a little more when mined than when estimated.
            tx["gas"] = self.w3.eth.estimate_gas(tx) * 6 // 5
        if "maxFeePerGas" not in tx and "gasPrice" not in tx:
            base = self.w3.eth.get_block("latest")["baseFeePerGas"]
            tx["maxPriorityFeePerGas"] = 1
            tx["maxFeePerGas"] = base * 2 + 1
        signed = account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)
        if receipt["status"] != 1:
            raise Reverted("RevertedOnChain", (), b"")
        return receipt

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> None:
        """Mine a block at least ``seconds`` after the latest one, and keep the clock there.

        ``evm_increaseTime`` shifts the node's clock (anvil and the devnet both serve it); the
        devnet's instant-seal blocks may run ahead of the wall clock, so top up until reached.
        """
        target = self.now() + seconds
        shift = seconds
        while True:
            self.w3.provider.make_request("evm_increaseTime", [shift])
            self.w3.provider.make_request("evm_mine", [])
            shift = target - self.now()
            if shift <= 0:
                return


def sync_clock(behind: Chain, ahead: Chain) -> None:
    """Other tests move one test chain's clock (evm_increaseTime); real chains share the wall
    clock, and the light client refuses headers from further ahead than its clock drift."""
    lag = ahead.now() - behind.now()
    if lag > 0:
        behind.advance_time(lag)


def _as_reverted(exc: Exception) -> Reverted:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return decode_revert(bytes.fromhex(data[2:]))
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return decode_revert(bytes.fromhex(data["data"][2:]))
    message = str(exc)
    return Reverted("Unrecognised", (message,), b"")


@cache
def dev_accounts() -> list[LocalAccount]:
    """The devnets' dev accounts (devnet.keys) as eth-account signers."""
    return [Account.from_key(k.private_key) for k in devnet_keys.dev_accounts(10)]


def make_chain(name: str, url: str, poa: bool = False) -> Chain:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    if poa:  # QBFT extraData is longer than the 32 bytes web3 allows by default
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return Chain(name=name, w3=w3, accounts=dev_accounts())


@pytest.fixture(scope="session")
def anvil_chain(anvil_node: Any) -> Chain:
    return make_chain("anvil", anvil_node.url)


@pytest.fixture(scope="session")
def consortium_chain(consortium_node: Any) -> Chain:
    return make_chain("consortium", consortium_node.url, poa=True)


@pytest.fixture(params=["anvil", "consortium"])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """The test runs on both chains: anvil (public) and the QBFT consortium devnet."""
    yield request.getfixturevalue(f"{request.param}_chain")


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]
