"""The web3 chain harness of the contract tests, the e2e tests and the gas benchmarks.

``Chain`` is one live node (anvil or the devnet) seen through synchronous web3.py with the
devnets' dev accounts (dev-only keys): deploy the committed artifacts, send transactions signed
locally (EIP-1559 fees: priority 1 wei, cap twice the latest base fee + 1; nonces tracked per
sender), expect reverts decoded by ``contracts.decode_error``, and move the node's clock.
Contracts are the subject here, so web3 is used directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import RPCEndpoint, TxParams, TxReceipt

from contracts import decode_error, load_artifact
from devnet import keys as devnet_keys
from harness.rpc import result_of

RECEIPT_TIMEOUT_S = 60
RECEIPT_POLL_S = 0.05


class Reverted(AssertionError):
    """A call reverted; ``error`` is the custom error's name (or Error/Panic), ``args`` its data."""

    def __init__(self, error: str, args: tuple[Any, ...], raw: bytes, detail: str = "") -> None:
        super().__init__(f"reverted with {error}{args}" + (f": {detail}" if detail else ""))
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


def as_reverted(exc: Exception) -> Reverted:
    """web3's exception for a reverted call or estimate as ``Reverted`` (decoded data)."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return decode_revert(bytes.fromhex(data[2:]))
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return decode_revert(bytes.fromhex(data["data"][2:]))
    message = str(exc)
    return Reverted("Unrecognised", (message,), b"")


def w3_rpc(w3: Web3, method: str, *params: Any) -> Any:
    """A raw JSON-RPC call through ``w3``'s provider (hex strings, no web3 formatting);
    ``harness.rpc.RpcError`` with the node's error object."""
    return result_of(method, w3.provider.make_request(RPCEndpoint(method), list(params)))


@cache
def dev_accounts(count: int = 10) -> list[LocalAccount]:
    """The devnets' dev accounts (devnet.keys) as eth-account signers."""
    return [Account.from_key(k.private_key) for k in devnet_keys.dev_accounts(count)]


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


Build = Callable[[Any], Any]  # the sender's params -> the transaction to sign


@dataclass
class Chain:
    """One live chain with dev accounts and helpers to deploy, send and expect reverts.

    ``sender`` arguments are indexes into ``accounts``.
    """

    name: str
    w3: Web3
    accounts: list[LocalAccount]
    _nonces: dict[str, int] = field(default_factory=dict)
    _chain_id: int | None = None

    @classmethod
    def connect(cls, name: str, url: str, poa: bool = False, accounts: int = 10) -> Chain:
        """The node at ``url``; ``poa`` for QBFT headers (extraData longer than 32 bytes)."""
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        if poa:
            w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        return cls(name=name, w3=w3, accounts=dev_accounts(accounts))

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def address(self, sender: int) -> str:
        return str(self.accounts[sender].address)

    def rpc(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call (dev controls such as evm_mine, hex-string results)."""
        return w3_rpc(self.w3, method, *params)

    # -- contracts ----------------------------------------------------------------------------

    def deploy(self, artifact: str, *args: Any, sender: int = 0) -> Contract:
        art = load_artifact(artifact)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        receipt = self.transact(factory.constructor(*args).build_transaction, sender)
        address = receipt["contractAddress"]
        assert address is not None
        return self.w3.eth.contract(address=address, abi=list(art.abi))

    def deploy_reverts(self, artifact: str, *args: Any) -> Reverted:
        """The constructor reverts (estimate of the deployment): its decoded error."""
        art = load_artifact(artifact)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        constructor: ContractConstructor = factory.constructor(*args)
        try:
            constructor.estimate_gas({"from": self.accounts[0].address})
        except Exception as exc:
            return as_reverted(exc)
        raise AssertionError(f"deploying {artifact} did not revert")

    def at(self, artifact: str, address: str) -> Contract:
        abi = list(load_artifact(artifact).abi)
        return self.w3.eth.contract(address=cast(ChecksumAddress, address), abi=abi)

    # -- transactions -------------------------------------------------------------------------

    def check_call(self, call: ContractFunction, sender: int = 0, value: int = 0) -> Any:
        """``eth_call`` of ``call``; a revert raises ``Reverted`` with the decoded error."""
        try:
            return call.call(
                cast(TxParams, {"from": self.accounts[sender].address, "value": value})
            )
        except Exception as exc:
            raise as_reverted(exc) from exc

    def send(
        self, call: ContractFunction, sender: int = 0, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Send a transaction; a revert raises ``Reverted`` with the decoded custom error."""
        self.check_call(call, sender, value)
        return self.transact(call.build_transaction, sender, value, gas)

    def send_raw_tx(
        self, to: str, data: bytes, sender: int = 0, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Send ``data`` to ``to`` (no ABI); a revert raises ``Reverted``."""
        tx: dict[str, Any] = {"to": to, "data": data, "value": value}
        try:
            self.w3.eth.call(cast(TxParams, {**tx, "from": self.accounts[sender].address}))
        except Exception as exc:
            raise as_reverted(exc) from exc
        return self.transact(lambda params: {**params, **tx}, sender, value, gas)

    def send_with_margin(self, call: ContractFunction, sender: int = 0) -> TxReceipt:
        """``send`` with a gas margin, for calls whose cost depends on block.timestamp (value
        limits refill with it): the node's estimate is exact for the block it simulates, and
        the mined block may need a little more (a permit's try/catch would swallow the
        out-of-gas)."""
        estimate = call.estimate_gas({"from": self.accounts[sender].address})
        return self.send(call, sender=sender, gas=estimate * 5 // 4 + 10_000)

    def gas(self, call: ContractFunction, sender: int = 0, value: int = 0) -> int:
        """Send ``call``; its receipt's gasUsed."""
        return int(self.send(call, sender, value)["gasUsed"])

    def gas_with_margin(self, call: ContractFunction, sender: int = 0) -> int:
        """``send_with_margin``; the receipt's gasUsed."""
        return int(self.send_with_margin(call, sender)["gasUsed"])

    def expect_revert(
        self, call: ContractFunction, error: str, sender: int = 0, value: int = 0
    ) -> Reverted:
        """Assert the call reverts with ``error`` (custom error name) and changes nothing."""
        try:
            self.send(call, sender=sender, value=value)
        except Reverted as reverted:
            assert reverted.error == error, (
                f"expected {error}, got {reverted.error}{reverted.args_}"
            )
            return reverted
        raise AssertionError(f"expected {error}, but the call succeeded")

    def submit(
        self,
        call: ContractFunction | None,
        sender: int = 0,
        value: int = 0,
        gas: int | None = None,
        to: str | None = None,
    ) -> bytes:
        """Sign and send ``call`` (or, with ``call=None``, a plain transfer to ``to``) without
        checking it or waiting for it to be mined (works with automine off); the tx hash."""
        if call is None:
            transfer = {"to": to, "gas": gas or 21_000}
            return self._submit(lambda params: {**params, **transfer}, sender, value, gas)
        return self._submit(call.build_transaction, sender, value, gas)

    def send_unchecked(
        self, call: ContractFunction, sender: int = 0, value: int = 0, gas: int = 1_000_000
    ) -> TxReceipt:
        """Mine ``call`` without the pre-flight eth_call (fixed gas), so a revert happens on
        chain; the receipt, whatever its status."""
        return self.wait(self.submit(call, sender, value, gas), check=False)

    def wait(self, tx_hash: bytes, what: str = "", check: bool = True) -> TxReceipt:
        """The receipt of ``tx_hash``; with ``check``, ``Reverted("RevertedOnChain")`` if the
        transaction failed."""
        receipt = self.w3.eth.wait_for_transaction_receipt(
            HexBytes(tx_hash), timeout=RECEIPT_TIMEOUT_S, poll_latency=RECEIPT_POLL_S
        )
        if check and receipt["status"] != 1:
            raise Reverted("RevertedOnChain", (), b"", what or "0x" + bytes(tx_hash).hex())
        return receipt

    def transact(
        self, build: Build, sender: int = 0, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Sign what ``build`` makes of the sender's params, send it and wait for success."""
        return self.wait(self._submit(build, sender, value, gas))

    def next_nonce(self, sender: int) -> int:
        """The sender's next nonce: the node's pending count, or past the last one this
        harness sent if the node does not count it yet."""
        address = self.accounts[sender].address
        pending = self.w3.eth.get_transaction_count(address, "pending")
        return max(pending, self._nonces.get(address, 0))

    def _submit(self, build: Build, sender: int, value: int, gas: int | None) -> bytes:
        """EIP-1559 fees: priority 1 wei, cap twice the latest base fee + 1."""
        account = self.accounts[sender]
        nonce = self.next_nonce(sender)
        base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        params: dict[str, Any] = {
            "from": account.address,
            "nonce": nonce,
            "value": value,
            "chainId": self.chain_id,
            "maxPriorityFeePerGas": 1,
            "maxFeePerGas": 2 * base + 1,
        }
        if gas is not None:
            params["gas"] = gas
        tx = build(params)
        if "gas" not in tx:
            # A margin, as a relayer would use: time-dependent paths (rate-limit refills) can
            # cost a little more when mined than when estimated.
            tx["gas"] = self.w3.eth.estimate_gas(tx) * 6 // 5
        signed = account.sign_transaction(tx)
        tx_hash = bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        self._nonces[account.address] = nonce + 1
        return tx_hash

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def mine(self) -> None:
        self.rpc("evm_mine")

    def advance_time(self, seconds: int) -> None:
        """Mine a block at least ``seconds`` after the latest one, and keep the clock there.

        ``evm_increaseTime`` shifts the node's clock (anvil and the devnet both serve it); the
        devnet's instant-seal blocks may run ahead of the wall clock, so top up until reached.
        """
        target = self.now() + seconds
        shift = seconds
        while True:
            self.rpc("evm_increaseTime", shift)
            self.mine()
            shift = target - self.now()
            if shift <= 0:
                return


def make_chain(name: str, url: str, poa: bool = False) -> Chain:
    """``Chain.connect`` with the ten dev accounts."""
    return Chain.connect(name, url, poa=poa)


def sync_clock(behind: Chain, ahead: Chain) -> None:
    """Other tests move one test chain's clock (evm_increaseTime); real chains share the wall
    clock, and the light client refuses headers from further ahead than its clock drift."""
    lag = ahead.now() - behind.now()
    if lag > 0:
        behind.advance_time(lag)
