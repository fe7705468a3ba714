"""Receipt proofs and headers for the web3-driven tests, from the adapters' own code.

The contract and e2e tests have no proof path of their own: a proof is what
``EvmAdapter.receipt_proof`` / ``proven_log`` hand a relayer (``QbftAdapter`` on a QBFT chain,
whose block hash and header checks differ), and a header is what ``EvmAdapter.header`` fetched
and checked against the chain's block-hash rule. These are synchronous wrappers for
synchronous tests: each call opens an adapter on the chain's node, asks, and closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from adapters.bft import decode_qbft_extra
from adapters.errors import XgateError
from adapters.evm import EvmAdapter, EvmConfig
from adapters.headers import Header
from adapters.qbft import QbftConfig
from adapters.receipts import ProvenLog, ReceiptProof
from adapters.registry import AdapterConfig, build_adapter
from adapters.types import Address, ChainId, Finality, Hash32, Height, TxHash
from harness import Chain

T = TypeVar("T")

_configs: dict[tuple[str, int], AdapterConfig] = {}


def adapter_config(chain: Chain) -> AdapterConfig:
    """The adapter settings of ``chain``'s node: QBFT when its genesis extraData lists a
    validator set (the trust anchor), plain EVM otherwise."""
    url = str(getattr(chain.w3.provider, "endpoint_uri", ""))
    key = (url, chain.chain_id)
    if key not in _configs:
        genesis = chain.rpc("eth_getBlockByNumber", "0x0", False)
        try:
            extra = decode_qbft_extra(bytes.fromhex(genesis["extraData"][2:]))
        except XgateError:
            _configs[key] = EvmConfig(
                rpc_url=url,
                chain_id=ChainId(chain.chain_id),
                name=chain.name,
                finality=Finality.latest(),
            )
        else:
            _configs[key] = QbftConfig(
                rpc_url=url,
                chain_id=ChainId(chain.chain_id),
                name=chain.name,
                trusted_validators=tuple(Address(v) for v in extra.validators),
            )
    return _configs[key]


def with_adapter(config: AdapterConfig, use: Callable[[EvmAdapter], Awaitable[T]]) -> T:
    """``use(adapter)`` on a started adapter of ``config``, from synchronous code."""

    async def run() -> T:
        async with build_adapter(config) as adapter:
            return await use(adapter)

    return asyncio.run(run())


def _tx(tx_hash: Any) -> TxHash:
    return TxHash(bytes.fromhex(tx_hash[2:]) if isinstance(tx_hash, str) else bytes(tx_hash))


def receipt_proof(chain: Chain, tx_hash: Any) -> ReceiptProof:
    """``EvmAdapter.receipt_proof`` of a mined transaction (bytes, HexBytes or 0x hex)."""
    return with_adapter(adapter_config(chain), lambda a: a.receipt_proof(_tx(tx_hash)))


def proven_log(chain: Chain, tx_hash: Any, block_log_index: int) -> ProvenLog:
    """``EvmAdapter.proven_log``: the log at ``block_log_index`` of the block, with its
    receipt's proof and its position within the receipt."""
    return with_adapter(
        adapter_config(chain), lambda a: a.proven_log(_tx(tx_hash), block_log_index)
    )


def checked_header(chain: Chain, number: int) -> tuple[Header, Hash32]:
    """The header at ``number`` as the adapter fetched it, and its hash by the chain's rule
    (the node's word is not taken for it)."""

    async def fetch(adapter: EvmAdapter) -> tuple[Header, Hash32]:
        header = await adapter.header(Height(number))
        return header, adapter.block_hash(header)

    return with_adapter(adapter_config(chain), fetch)
