"""The one error root of xgate, split into retryable and fatal.

Every error carries its context as attributes (``chain_id``, ``tx_hash``, ``height`` ...), so
logs, the API and the CLI can report the same facts without parsing messages. Library errors
are converted at the adapter boundary with ``raise XxxError(...) from exc``.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class XgateError(Exception):
    """Root of all xgate errors. ``context`` holds the facts that explain the error."""

    retryable: bool = False

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = context
        for key, value in context.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = ", ".join(f"{k}={_show(v)}" for k, v in self.context.items())
        return f"{self.message} ({details})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form used by the CLI and the API."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            **{k: _show(v) for k, v in self.context.items()},
        }


def _show(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, tuple | list):
        return [_show(v) for v in value]
    if isinstance(value, dict):
        return {k: _show(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A value such as a decoded revert error: its fields, JSON-friendly like the rest.
        return {f.name: _show(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class RetryableError(XgateError):
    """Transient: the same call may succeed later (timeouts, node unavailable, not yet final)."""

    retryable = True


class FatalError(XgateError):
    """Permanent: retrying the same input cannot succeed (bad proof, bad config, revert)."""


# --- decoding and verification (pure code) ---------------------------------------------------


class DecodeError(FatalError):
    """Bytes that do not decode as the expected structure (non-canonical RLP, wrong sizes)."""


class HeaderInvalid(FatalError):
    """A header that is well formed but must not be accepted (bad seals, wrong parent ...)."""


class ProofInvalid(FatalError):
    """A Merkle-Patricia proof that does not prove what it claims against its root."""


class ReorgDetected(FatalError):
    """A header chain that conflicts with what was already accepted."""


class ConfigError(FatalError):
    """Configuration that cannot be used; the message says which key and why."""


# --- chain access (I/O) ------------------------------------------------------------------------


class RpcUnavailable(RetryableError):
    """The node could not be reached or timed out."""


class RpcError(FatalError):
    """The node answered with a JSON-RPC error for this request."""


class RpcResponseInvalid(RetryableError):
    """The node answered with data that fails validation (garbage, wrong hash, wrong root).

    Retryable because another endpoint (or the same one later) may answer correctly; the
    answer itself is never used.
    """


class NotYetAvailable(RetryableError):
    """The requested block, receipt or finality level does not exist yet."""


class TransactionFailed(FatalError):
    """A submitted transaction was mined but reverted, or was rejected by the node."""


class FinalityViolation(ReorgDetected):
    """A reorg that would replace a block already reported final. Never applied: either the
    node serves a conflicting branch or the chain broke finality; an operator must look."""
