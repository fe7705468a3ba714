"""Adapter registry: the only place that dispatches on chain kind (style rule 10).

``adapter_config(raw)`` turns a plain mapping (TOML/JSON config, CLI) into the typed, frozen
config of its kind, rejecting unknown keys; ``build_adapter(cfg, signers)`` builds the adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any, Final

from adapters.base import ChainAdapter
from adapters.errors import ConfigError
from adapters.evm import EvmAdapter, EvmConfig
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.retry import RetryPolicy
from adapters.signer import Signer
from adapters.types import Address, ChainId, Finality, Hash32

__all__ = ["KINDS", "AdapterConfig", "adapter_config", "build_adapter"]

AdapterConfig = EvmConfig | QbftConfig

# kind -> (config class, adapter class). A new chain kind is one line here plus its profile.
KINDS: Final[dict[str, tuple[type[EvmConfig], type[EvmAdapter]]]] = {
    EvmConfig.KIND: (EvmConfig, EvmAdapter),
    QbftConfig.KIND: (QbftConfig, QbftAdapter),
}


def build_adapter(cfg: AdapterConfig, signers: Sequence[Signer] = ()) -> EvmAdapter:
    """The adapter for ``cfg``'s kind. Start it with ``async with``."""
    entry = KINDS.get(type(cfg).KIND)
    if entry is None or type(cfg) is not entry[0]:
        raise ConfigError("no adapter for this config type", type=type(cfg).__name__)
    return entry[1](cfg, signers)


# --- parsing -----------------------------------------------------------------------------------


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string", key=key)
    return value


def _int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer", key=key, value=value)
    return value


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number", key=key, value=value)
    return float(value)


def _hex(key: str, value: Any, size: int) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
        raise ConfigError(f"{key} must be 0x followed by {2 * size} hex digits", key=key)
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConfigError(f"{key} is not hex", key=key) from None


def _finality(key: str, value: Any) -> Finality:
    """ "latest" | "safe" | "finalized" | {"depth": N}."""
    if value in ("latest", "safe", "finalized"):
        return Finality(tag=value)
    if isinstance(value, Mapping) and set(value) == {"depth"}:
        depth = _int(f"{key}.depth", value["depth"])
        if depth < 0:
            raise ConfigError("finality depth must be >= 0", key=key, depth=depth)
        return Finality.confirmations(depth)
    raise ConfigError(
        'finality must be "latest", "safe", "finalized" or {"depth": N}', key=key, value=value
    )


def _retry(key: str, value: Any) -> RetryPolicy:
    if not isinstance(value, Mapping):
        raise ConfigError("retry must be a table", key=key)
    allowed = {f.name for f in fields(RetryPolicy)}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError("unknown retry keys", key=key, unknown=unknown, allowed=sorted(allowed))
    d = RetryPolicy()
    return RetryPolicy(
        initial_delay=_number(f"{key}.initial_delay", value.get("initial_delay", d.initial_delay)),
        multiplier=_number(f"{key}.multiplier", value.get("multiplier", d.multiplier)),
        max_delay=_number(f"{key}.max_delay", value.get("max_delay", d.max_delay)),
        max_attempts=_int(f"{key}.max_attempts", value.get("max_attempts", d.max_attempts)),
    )


def _validators(key: str, value: Any) -> tuple[Address, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError("trusted_validators must be a list of addresses", key=key)
    return tuple(Address(_hex(f"{key}[{i}]", v, 20)) for i, v in enumerate(value))


_PARSERS: Final[dict[str, Callable[[str, Any], Any]]] = {
    "rpc_url": _str,
    "chain_id": lambda k, v: ChainId(_int(k, v)),
    "finality": _finality,
    "name": _str,
    "request_timeout_s": _number,
    "retry": _retry,
    "max_log_range": _int,
    "poll_interval_s": _number,
    "gas_margin_pct": _int,
    "default_priority_fee_wei": _int,
    "receipt_concurrency": _int,
    "fee_cache_s": _number,
    "trusted_validators": _validators,
    "trusted_height": _int,
    "trusted_hash": lambda k, v: Hash32(_hex(k, v, 32)),
    "max_anchors": _int,
}


def adapter_config(raw: Mapping[str, Any]) -> AdapterConfig:
    """Parse one chain's adapter settings; ``kind`` selects the profile ("evm" or "qbft")."""
    if not isinstance(raw, Mapping):
        raise ConfigError("adapter config must be a table")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError("unknown chain kind", key="kind", value=kind, allowed=sorted(KINDS))
    config_cls = KINDS[kind][0]
    allowed = {f.name for f in fields(config_cls)} | {"kind"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            "unknown adapter config keys", kind=kind, unknown=unknown, allowed=sorted(allowed)
        )
    values = {k: _PARSERS[k](k, v) for k, v in raw.items() if k != "kind"}
    try:
        config = config_cls(**values)
    except TypeError as exc:  # a required key is missing
        raise ConfigError("adapter config is incomplete", kind=kind, reason=str(exc)) from exc
    assert isinstance(config, EvmConfig | QbftConfig)
    return config


def _conforms(adapter: EvmAdapter) -> ChainAdapter:
    """Never called: makes mypy check that the adapters structurally satisfy ChainAdapter."""
    return adapter
