"""The shared test and benchmark harness (never imported by xgate's own packages).

- ``harness.rpc``: plain JSON-RPC clients that show what the node answers (``rpc``,
  ``RpcClient``, ``NodeRpc``, ``rpc_sync``, ``SyncRpcClient``; errors as ``RpcError``);
- ``harness.chain``: the web3 chain harness (``Chain``: deploy artifacts, send with nonce
  tracking, ``expect_revert`` decoded by ``contracts.decode_error``, time travel).
"""

from harness.chain import (
    Chain,
    Reverted,
    as_reverted,
    decode_revert,
    dev_accounts,
    make_chain,
    selector,
    sync_clock,
    w3_rpc,
)
from harness.rpc import (
    NodeRpc,
    RpcClient,
    RpcError,
    SyncRpcClient,
    result_of,
    rpc,
    rpc_sync,
)

__all__ = [
    "Chain",
    "NodeRpc",
    "Reverted",
    "RpcClient",
    "RpcError",
    "SyncRpcClient",
    "as_reverted",
    "decode_revert",
    "dev_accounts",
    "make_chain",
    "result_of",
    "rpc",
    "rpc_sync",
    "selector",
    "sync_clock",
    "w3_rpc",
]
