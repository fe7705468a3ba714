"""Adapter registry: the only place that dispatches on chain kind (style rule 10).

``adapter_config(raw)`` turns a plain mapping (TOML/JSON config, CLI) into the typed, frozen
config of its kind: a pydantic union discriminated by ``kind``, so unknown keys, bad values and
unknown kinds are one ``ConfigError`` naming each key. ``build_adapter(cfg, signers)`` builds
the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from pydantic import Field, TypeAdapter, ValidationError

from adapters.base import ChainAdapter
from adapters.configmodel import config_error
from adapters.errors import ConfigError
from adapters.evm import EvmAdapter, EvmConfig
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.rpc.submit import SubmitPolicy, TxJournal
from adapters.rpc.transport import RpcObserver
from adapters.signer import Signer

__all__ = ["KINDS", "AdapterConfig", "adapter_config", "build_adapter"]

AdapterConfig = EvmConfig | QbftConfig

# kind -> (config class, adapter class). A new chain kind is one line here, one member of
# AdapterConfig, plus its profile.
KINDS: Final[dict[str, tuple[type[EvmConfig], type[EvmAdapter]]]] = {
    "evm": (EvmConfig, EvmAdapter),
    "qbft": (QbftConfig, QbftAdapter),
}

_PARSER: Final[TypeAdapter[AdapterConfig]] = TypeAdapter(
    Annotated[AdapterConfig, Field(discriminator="kind")]
)


def build_adapter(
    cfg: AdapterConfig,
    signers: Sequence[Signer] = (),
    *,
    journal: TxJournal | None = None,
    submit_policy: SubmitPolicy | None = None,
    observer: RpcObserver | None = None,
) -> EvmAdapter:
    """The adapter for ``cfg``'s kind. Start it with ``async with``."""
    entry = KINDS.get(cfg.kind)
    if entry is None or type(cfg) is not entry[0]:
        raise ConfigError("no adapter for this config type", type=type(cfg).__name__)
    return entry[1](cfg, signers, journal=journal, submit_policy=submit_policy, observer=observer)


def adapter_config(raw: Mapping[str, Any]) -> AdapterConfig:
    """Parse one chain's adapter settings; ``kind`` selects the profile ("evm" or "qbft").

    Raw values as TOML writes them: addresses and hashes as 0x hex, finality as "latest",
    "safe", "finalized" or {"depth": N}, ``retry`` as a table of ``RetryPolicy`` keys."""
    try:
        return _PARSER.validate_python(raw)
    except ValidationError as exc:
        # skip=1: below the union, pydantic's locations start with the kind's tag.
        raise config_error(exc, skip=1) from None


def _conforms(adapter: EvmAdapter) -> ChainAdapter:
    """Never called: makes mypy check that the adapters structurally satisfy ChainAdapter."""
    return adapter
