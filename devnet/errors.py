"""JSON-RPC error shapes the devnet node answers with (codes and messages follow Besu's
``RpcErrorType`` so clients written against Besu see the same errors)."""

from __future__ import annotations

from typing import Any

from adapters.errors import RpcError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
LIMIT_EXCEEDED = -32005  # EIP-1474; Besu's EXCEEDS_RPC_MAX_* errors


class RpcMethodError(RpcError):
    """A JSON-RPC error answer: ``code``, ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None, **context: Any) -> None:
        super().__init__(message, code=code, **context)
        self.code = code
        self.data = data

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


def invalid_params(message: str = "Invalid params", data: Any = None) -> RpcMethodError:
    return RpcMethodError(INVALID_PARAMS, message, data)


# Transaction validation failures (Besu RpcErrorType).
def nonce_too_low(detail: str) -> RpcMethodError:
    return RpcMethodError(-32001, "Nonce too low", detail)


def invalid_signature(detail: str) -> RpcMethodError:
    return RpcMethodError(-32002, "Invalid signature", detail)


def intrinsic_gas_exceeds_limit(detail: str) -> RpcMethodError:
    return RpcMethodError(-32003, "Intrinsic gas exceeds gas limit", detail)


def insufficient_funds(detail: str) -> RpcMethodError:
    # Besu's message, with geth's wording appended: wallets (ethers, viem) match "insufficient funds".
    return RpcMethodError(
        -32004,
        "Upfront cost exceeds account balance (insufficient funds for gas * price + value)",
        detail,
    )


def exceeds_block_gas_limit(detail: str) -> RpcMethodError:
    return RpcMethodError(-32005, "Transaction gas limit exceeds block gas limit", detail)


def sender_not_authorized(detail: str) -> RpcMethodError:
    return RpcMethodError(-32007, "Sender account not authorized to send transactions", detail)


def below_base_fee(detail: str) -> RpcMethodError:
    return RpcMethodError(-32009, "Gas price below current base fee", detail)


def tx_error(message: str, detail: str | None = None) -> RpcMethodError:
    return RpcMethodError(-32000, message, detail)
