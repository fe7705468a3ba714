"""web3.py's own node test suites (``web3._utils.module_testing``: EthModuleTest,
AsyncEthModuleTest, NetModuleTest, AsyncNetModuleTest, Web3ModuleTest, AsyncWeb3ModuleTest) run
against the consortium devnet, as dApps use Besu: client-side signing (web3's
SignAndSendRawMiddlewareBuilder), the QBFT extraData middleware, no unlocked accounts.

The fixtures are those of web3's tests/integration/go_ethereum conftest, built on a fresh node:
the math, emitter, revert, offchain-lookup, panic-errors and storage contracts, a block with a
transaction, one with a log, an empty block.

``XGATE_WEB3_SUITE_NODE=anvil`` runs the same suites against anvil (for comparison) and
``XGATE_WEB3_SUITE_ALL=1`` drops the exclusions (to count what fails).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncHTTPProvider, AsyncWeb3, HTTPProvider, Web3
from web3._utils.contract_sources.contract_data.emitter_contract import EMITTER_CONTRACT_DATA
from web3._utils.contract_sources.contract_data.math_contract import MATH_CONTRACT_DATA
from web3._utils.contract_sources.contract_data.offchain_lookup import (
    OFFCHAIN_LOOKUP_DATA,
)
from web3._utils.contract_sources.contract_data.panic_errors_contract import (
    PANIC_ERRORS_CONTRACT_DATA,
)
from web3._utils.contract_sources.contract_data.revert_contract import REVERT_CONTRACT_DATA
from web3._utils.contract_sources.contract_data.storage_contract import STORAGE_CONTRACT_DATA
from web3._utils.module_testing import (
    AsyncEthModuleTest,
    AsyncNetModuleTest,
    EthModuleTest,
    NetModuleTest,
    Web3ModuleTest,
)
from web3._utils.module_testing.utils import RequestMocker
from web3._utils.module_testing.web3_module import AsyncWeb3ModuleTest
from web3.middleware import ExtraDataToPOAMiddleware, SignAndSendRawMiddlewareBuilder

from devnet.anvil import start_anvil
from devnet.keys import dev_accounts
from devnet.launcher import start_consortium
from harness import rpc_sync, w3_rpc

NODE = os.environ.get("XGATE_WEB3_SUITE_NODE", "devnet")
ALL = os.environ.get("XGATE_WEB3_SUITE_ALL") == "1"
POA = "qbft_extra_data"  # QBFT extraData is longer than 32 bytes, like any BFT chain
EMITTER_ENUM_LOG_DOUBLE_WITH_INDEX = 9
GETH_CHAIN_ID = 131277322940537  # geth's dev fixture chain id, hard-coded in the suites  # web3's emitter contract: LogDoubleWithIndex

# Documented exclusions on the devnet, by test function name (sync and async twins), each
# with its reason. "fails on anvil too" marks limits of client-side signing or of this
# web3/pyunormalize pair, not of the node.
_NODE_KEYS = "needs node-held keys: eth_accounts is [] (no unlocked accounts, like Besu)"
_SENDER = "takes its sender from eth_accounts[0] (node-held keys; Besu returns [])"
_SIGN = "node-side signing (eth_sign/eth_signTransaction/eth_signTypedData): Besu has none"
_ENS = "ENS name normalisation fails in this web3/pyunormalize pair (fails on anvil too)"
EXCLUDED: dict[str, str] = {
    "test_eth_accounts": _NODE_KEYS,
    "test_async_eth_accounts": _NODE_KEYS,
    "test_eth_call": _SENDER,
    "test_eth_call_with_0_result": _SENDER,
    "test_eth_call_with_override_code": _SENDER,
    "test_eth_call_with_override_param_type_check": _SENDER,
    "test_eth_estimate_gas_with_override_param_type_check": _SENDER,
    "test_eth_get_balance": _SENDER,
    "test_eth_get_balance_with_block_identifier": _SENDER,
    "test_eth_get_storage_at_invalid_address": _SENDER,
    "test_async_eth_get_storage_at_invalid_address": _SENDER,
    "test_eth_get_transaction_count_invalid_address": _SENDER,
    "test_eth_sign": _SIGN,
    "test_async_eth_sign": _SIGN,
    "test_eth_sign_typed_data": _SIGN,
    "test_invalid_eth_sign_typed_data": _SIGN,
    "test_eth_sign_transaction": _SIGN,
    "test_eth_sign_transaction_legacy": _SIGN,
    "test_eth_sign_transaction_hex_fees": _SIGN,
    "test_async_eth_sign_transaction": _SIGN,
    "test_async_eth_sign_transaction_legacy": _SIGN,
    "test_async_eth_sign_transaction_hex_fees": _SIGN,
    "test_eth_get_balance_with_ens_name": _ENS,
    "test_eth_get_code_ens_address": _ENS,
    "test_eth_get_storage_at_ens_name": _ENS,
    "test_async_eth_get_storage_at_ens_name": _ENS,
    "test_eth_get_transaction_count_ens_name": _ENS,
    "test_eth_sign_ens_names": _ENS,
    "test_async_eth_sign_ens_names": _ENS,
    "test_eth_sign_transaction_ens_names": _ENS,
    "test_async_eth_sign_transaction_ens_names": _ENS,
    "test_solidity_keccak_ens": _ENS,
    "test_async_sign_authorization_send_raw_and_send_set_code_transactions": (
        "expects fresh storage at the delegating account, which the sync twin already used "
        "(fails on anvil too)"
    ),
    "test_eth_getBlockByNumber_pending": "QBFT has no pending block: 'pending' is the head (Besu)",
    "test_eth_getBlockByHash_pending": "QBFT has no pending block: 'pending' is the head (Besu)",
    "test_eth_replace_transaction_underpriced": (
        "matches geth's lowercase message; the devnet answers Besu's "
        "'Replacement transaction underpriced'"
    ),
    "test_async_eth_replace_transaction_underpriced": (
        "matches geth's lowercase message; the devnet answers Besu's "
        "'Replacement transaction underpriced'"
    ),
    "test_eth_simulate_v1": "eth_simulateV1 is not served by the devnet yet",
    "test_gas_price_from_strategy_bypassed_for_dynamic_fee_txn": (
        "the signing middleware rejects the gasPrice the test leaves in a 1559 transaction "
        "(fails on anvil too)"
    ),
    "test_eth_modify_transaction_legacy": (
        "client-side signing cannot re-sign the legacy replacement (eth-account: unknown "
        "transaction type 0; fails on anvil too)"
    ),
}


@pytest.fixture(autouse=True)
def _documented_exclusions(request: pytest.FixtureRequest) -> None:
    if ALL or NODE != "devnet":
        return
    reason = EXCLUDED.get(getattr(request.node, "originalname", ""))
    if reason is not None:
        pytest.skip(f"excluded on the devnet: {reason}")


# --- the node ----------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def node_url() -> AsyncIterator[str]:
    if NODE == "anvil":
        async with start_anvil(chain_id=GETH_CHAIN_ID, block_time=0.5) as anvil:
            yield anvil.url
        return
    # Prague (MCOPY in the contracts), short blocks so replacement tests see a pending
    # transaction.
    config = {"chain_id": GETH_CHAIN_ID, "fork": "prague", "block_time": 0.5}
    async with start_consortium(config=config) as node:
        yield node.url


@pytest.fixture(autouse=True)
def _pool_drained(node_url: str, keyfile_account: LocalAccount) -> None:
    """Each test starts with none of the shared account's transactions pending (blocks come
    every 0.5 s; a test that does not wait for its receipt must not decide the next one's
    nonce), as web3's geth fixture mines between tests."""
    address = keyfile_account.address
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if rpc_sync(node_url, "eth_getTransactionCount", address, "pending") == rpc_sync(
            node_url, "eth_getTransactionCount", address, "latest"
        ):
            return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def keyfile_account() -> LocalAccount:
    account: LocalAccount = Account.from_key(dev_accounts(1)[0].private_key)
    return account


@pytest.fixture(scope="module")
def keyfile_account_pkey(keyfile_account: LocalAccount) -> str:
    return "0x" + bytes(keyfile_account.key).hex()


@pytest.fixture(scope="module")
def w3(node_url: str, keyfile_account: LocalAccount) -> Web3:
    web3 = Web3(HTTPProvider(node_url, request_kwargs={"timeout": 60}))
    web3.middleware_onion.inject(ExtraDataToPOAMiddleware, POA, layer=0)
    web3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(keyfile_account), layer=0)
    return web3


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def async_w3(node_url: str, keyfile_account: LocalAccount) -> AsyncWeb3[Any]:
    web3 = AsyncWeb3(AsyncHTTPProvider(node_url, request_kwargs={"timeout": 60}))
    web3.middleware_onion.inject(ExtraDataToPOAMiddleware, POA, layer=0)
    web3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(keyfile_account), layer=0)
    return web3


# --- chain state (web3's go_ethereum fixture, built on the fresh node) -------------------------


def _deploy(w3: Web3, sender: str, data: dict[str, Any]) -> dict[str, Any]:
    factory = w3.eth.contract(abi=data["abi"], bytecode=data["bytecode"])
    tx_hash = factory.constructor().transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
    return {"address": receipt["contractAddress"], "tx": tx_hash}


@pytest.fixture(scope="module")
def chain_data(w3: Web3, keyfile_account: LocalAccount) -> dict[str, Any]:
    sender = keyfile_account.address
    out: dict[str, Any] = {}
    for name, data in (
        ("math", MATH_CONTRACT_DATA),
        ("emitter", EMITTER_CONTRACT_DATA),
        ("revert", REVERT_CONTRACT_DATA),
        ("offchain_lookup", OFFCHAIN_LOOKUP_DATA),
        ("panic_errors", PANIC_ERRORS_CONTRACT_DATA),
        ("storage", STORAGE_CONTRACT_DATA),
    ):
        out[name] = _deploy(w3, sender, data)
    emitter = w3.eth.contract(address=out["emitter"]["address"], abi=EMITTER_CONTRACT_DATA["abi"])
    tx_hash = emitter.functions.logDouble(
        EMITTER_ENUM_LOG_DOUBLE_WITH_INDEX, 12345, 54321
    ).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    out["txn_hash_with_log"] = tx_hash
    out["block_hash_with_log"] = receipt["blockHash"]
    w3_rpc(w3, "evm_mine")
    out["empty_block_hash"] = w3.eth.get_block("latest")["hash"]
    tx_hash = w3.eth.send_transaction({"from": sender, "to": sender, "value": 1, "gas": 21000})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    out["mined_txn_hash"] = tx_hash
    out["block_with_txn_hash"] = receipt["blockHash"]
    return out


@pytest.fixture(scope="module")
def address_conversion_func() -> Any:
    return lambda address: address


@pytest.fixture
def request_mocker() -> type[RequestMocker]:
    return RequestMocker


@pytest.fixture(scope="module")
def keyfile_account_address(keyfile_account: LocalAccount) -> str:
    return str(keyfile_account.address)


@pytest.fixture(scope="module")
def keyfile_account_address_dual_type(keyfile_account_address: str) -> str:
    return keyfile_account_address


@pytest.fixture(scope="module")
def async_keyfile_account_address(keyfile_account_address: str) -> str:
    return keyfile_account_address


@pytest.fixture(scope="module")
def async_keyfile_account_address_dual_type(keyfile_account_address: str) -> str:
    return keyfile_account_address


@pytest.fixture(scope="module")
def math_contract_deploy_txn_hash(chain_data: dict[str, Any]) -> Any:
    return chain_data["math"]["tx"]


@pytest.fixture(scope="module")
def mined_txn_hash(chain_data: dict[str, Any]) -> Any:
    return chain_data["mined_txn_hash"]


@pytest.fixture(scope="module")
def txn_hash_with_log(chain_data: dict[str, Any]) -> Any:
    return chain_data["txn_hash_with_log"]


def _contract(web3: Any, chain_data: dict[str, Any], name: str, data: dict[str, Any]) -> Any:
    return web3.eth.contract(address=chain_data[name]["address"], abi=data["abi"])


@pytest.fixture(scope="module")
def math_contract(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return _contract(w3, chain_data, "math", MATH_CONTRACT_DATA)


@pytest.fixture(scope="module")
def math_contract_address(math_contract: Any) -> Any:
    return math_contract.address


@pytest.fixture(scope="module")
def emitter_contract(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return _contract(w3, chain_data, "emitter", EMITTER_CONTRACT_DATA)


@pytest.fixture(scope="module")
def emitter_contract_address(emitter_contract: Any) -> Any:
    return emitter_contract.address


@pytest.fixture(scope="module")
def revert_contract(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return _contract(w3, chain_data, "revert", REVERT_CONTRACT_DATA)


@pytest.fixture(scope="module")
def offchain_lookup_contract(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return _contract(w3, chain_data, "offchain_lookup", OFFCHAIN_LOOKUP_DATA)


@pytest.fixture(scope="module")
def panic_errors_contract(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return _contract(w3, chain_data, "panic_errors", PANIC_ERRORS_CONTRACT_DATA)


@pytest.fixture(scope="module")
def storage_contract(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return _contract(w3, chain_data, "storage", STORAGE_CONTRACT_DATA)


@pytest.fixture(scope="module")
def async_math_contract(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return _contract(async_w3, chain_data, "math", MATH_CONTRACT_DATA)


@pytest.fixture(scope="module")
def async_math_contract_address(async_math_contract: Any) -> Any:
    return async_math_contract.address


@pytest.fixture(scope="module")
def async_emitter_contract(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return _contract(async_w3, chain_data, "emitter", EMITTER_CONTRACT_DATA)


@pytest.fixture(scope="module")
def async_emitter_contract_address(async_emitter_contract: Any) -> Any:
    return async_emitter_contract.address


@pytest.fixture(scope="module")
def async_revert_contract(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return _contract(async_w3, chain_data, "revert", REVERT_CONTRACT_DATA)


@pytest.fixture(scope="module")
def async_offchain_lookup_contract(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return _contract(async_w3, chain_data, "offchain_lookup", OFFCHAIN_LOOKUP_DATA)


@pytest.fixture(scope="module")
def async_panic_errors_contract(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return _contract(async_w3, chain_data, "panic_errors", PANIC_ERRORS_CONTRACT_DATA)


@pytest.fixture(scope="module")
def async_storage_contract(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return _contract(async_w3, chain_data, "storage", STORAGE_CONTRACT_DATA)


@pytest.fixture(scope="module")
def empty_block(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return w3.eth.get_block(chain_data["empty_block_hash"])


@pytest.fixture(scope="module")
def block_with_txn(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return w3.eth.get_block(chain_data["block_with_txn_hash"])


@pytest.fixture(scope="module")
def block_with_txn_with_log(w3: Web3, chain_data: dict[str, Any]) -> Any:
    return w3.eth.get_block(chain_data["block_hash_with_log"])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def async_empty_block(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return await async_w3.eth.get_block(chain_data["empty_block_hash"])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def async_block_with_txn(async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]) -> Any:
    return await async_w3.eth.get_block(chain_data["block_with_txn_hash"])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def async_block_with_txn_with_log(
    async_w3: AsyncWeb3[Any], chain_data: dict[str, Any]
) -> Any:
    return await async_w3.eth.get_block(chain_data["block_hash_with_log"])


@pytest.fixture
def skip_if_testrpc() -> Any:
    return lambda w3: None


@pytest.fixture
def async_skip_if_testrpc() -> Any:
    return lambda w3: None


# --- the suites ----------------------------------------------------------------------------------


class TestDevnetEthModule(EthModuleTest):
    pass


class TestDevnetAsyncEthModule(AsyncEthModuleTest):
    async def test_ExtraDataToPOAMiddleware(  # type: ignore[override]
        self, async_w3: AsyncWeb3[Any], request_mocker: type[RequestMocker]
    ) -> None:
        # The suite injects the middleware itself: lift ours for the duration.
        async_w3.middleware_onion.remove(POA)
        try:
            await super().test_ExtraDataToPOAMiddleware(async_w3, request_mocker)
        finally:
            async_w3.middleware_onion.inject(ExtraDataToPOAMiddleware, POA, layer=0)


class TestDevnetNetModule(NetModuleTest):
    pass


class TestDevnetAsyncNetModule(AsyncNetModuleTest):
    pass


class TestDevnetWeb3Module(Web3ModuleTest):
    def _check_web3_client_version(self, client_version: str) -> None:  # type: ignore[override]
        assert client_version.startswith(("xgate-devnet/", "anvil/"))


class TestDevnetAsyncWeb3Module(AsyncWeb3ModuleTest):
    def _check_web3_client_version(self, client_version: str) -> None:  # type: ignore[override]
        assert client_version.startswith(("xgate-devnet/", "anvil/"))
