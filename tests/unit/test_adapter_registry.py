"""adapter_config / build_adapter: typed configs per chain kind, unknown keys rejected."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from adapters.errors import ConfigError
from adapters.evm import EvmAdapter, EvmConfig
from adapters.qbft import QbftAdapter, QbftConfig
from adapters.registry import adapter_config, build_adapter
from adapters.retry import RetryPolicy
from adapters.types import Address, ChainId, Finality

V1, V2 = "0x" + "11" * 20, "0x" + "22" * 20


def _evm(**extra: Any) -> dict[str, Any]:
    return {"kind": "evm", "rpc_url": "http://127.0.0.1:8545", "chain_id": 1, **extra}


def test_evm_config_parses_every_setting() -> None:
    cfg = adapter_config(
        _evm(
            finality={"depth": 12},
            name="mainnet",
            request_timeout_s=3,
            retry={"initial_delay": 0.1, "max_attempts": 4},
            max_log_range=500,
        )
    )
    assert isinstance(cfg, EvmConfig)
    assert cfg.finality == Finality.confirmations(12)
    assert cfg.retry == RetryPolicy(initial_delay=0.1, max_attempts=4)
    assert (cfg.name, cfg.request_timeout_s, cfg.max_log_range) == ("mainnet", 3.0, 500)


def test_evm_config_needs_an_explicit_finality() -> None:
    with pytest.raises(ConfigError):
        adapter_config(_evm())


def test_qbft_config_defaults_to_instant_finality_and_parses_the_trust_anchor() -> None:
    cfg = adapter_config(
        {
            "kind": "qbft",
            "rpc_url": "http://127.0.0.1:8545",
            "chain_id": 20250,
            "trusted_validators": [V1, V2],
            "trusted_hash": "0x" + "ab" * 32,
        }
    )
    assert isinstance(cfg, QbftConfig)
    assert cfg.finality == Finality.latest()
    assert cfg.trusted_validators == (bytes.fromhex("11" * 20), bytes.fromhex("22" * 20))
    assert cfg.trusted_hash == bytes.fromhex("ab" * 32)
    assert isinstance(build_adapter(cfg), QbftAdapter)


def test_build_adapter_picks_the_adapter_of_the_kind() -> None:
    adapter = build_adapter(adapter_config(_evm(finality="finalized")))
    assert type(adapter) is EvmAdapter
    assert adapter.ref.kind == "evm"
    assert adapter.capabilities.finality == "tag"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (_evm(finality="latest", colour="blue"), "colour"),
        (_evm(finality="latest", trusted_validators=[V1]), "trusted_validators"),
        (_evm(finality="latest", retry={"jitter": 1}), "jitter"),
        ({**_evm(finality="latest"), "kind": "cosmos"}, "kind"),
        (_evm(finality="soon"), "finality"),
        (_evm(finality={"depth": -1}), "depth"),
        (_evm(finality="latest", chain_id="1"), "chain_id"),
        (_evm(finality="latest", chain_id=0), "chain_id"),
        (_evm(finality="latest", rpc_url="ftp://x"), "rpc_url"),
        (_evm(finality="latest", max_log_range=0), "max_log_range"),
        (_evm(finality="latest", retry={"max_attempts": 0}), "retry.max_attempts: must be >= 1"),
        (_evm(finality="latest", fallback_rpc_urls=["ws://x"]), "fallback_rpc_urls[0]"),
        ({"kind": "qbft", "rpc_url": "http://x", "chain_id": 5, "trusted_validators": []}, None),
        (
            {"kind": "qbft", "rpc_url": "http://x", "chain_id": 5, "trusted_validators": [V1, V1]},
            None,
        ),
        (
            {"kind": "qbft", "rpc_url": "http://x", "chain_id": 5, "trusted_validators": ["0x12"]},
            "trusted_validators[0]: must be 20 bytes",
        ),
        ({"kind": "qbft", "rpc_url": "http://x", "chain_id": 5}, "trusted_validators"),
    ],
)
def test_unusable_config_is_a_config_error_naming_the_problem(
    raw: dict[str, Any], key: str | None
) -> None:
    with pytest.raises(ConfigError) as info:
        adapter_config(raw)
    if key is not None:  # the error names what is wrong (in its message or context)
        assert key in str(info.value)


def test_every_problem_is_one_line_naming_its_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        adapter_config(_evm(finality="soon", chain_id=True, retry={"multiplier": 0.5}))
    assert str(info.value).splitlines() == [
        "chain_id: expected an integer",
        'finality: expected "latest", "safe", "finalized" or {"depth": N} with N >= 0',
        "retry.multiplier: must be >= 1.0",
    ]


def test_fallback_urls_and_hex_values_are_parsed() -> None:
    cfg = adapter_config(
        _evm(finality="safe", fallback_rpc_urls=["https://a.example/key", "http://10.0.0.2:8545"])
    )
    assert cfg.fallback_rpc_urls == ("https://a.example/key", "http://10.0.0.2:8545")
    assert cfg.finality == Finality(tag="safe")


def test_direct_construction_refuses_bad_values_with_a_config_error() -> None:
    # Callers build configs in code too; the same rules and error type apply there.
    with pytest.raises(ConfigError, match=r"^EvmConfig: max_log_range: must be >= 1$"):
        EvmConfig(
            rpc_url="http://127.0.0.1:8545",
            chain_id=ChainId(1),
            finality=Finality.latest(),
            max_log_range=0,
        )
    with pytest.raises(ConfigError, match="trusted_validators: lists an address twice"):
        QbftConfig(
            rpc_url="http://127.0.0.1:8545",
            chain_id=ChainId(1),
            trusted_validators=(Address(b"\x01" * 20), Address(b"\x01" * 20)),
        )


def test_configs_are_frozen_values() -> None:
    cfg = adapter_config(_evm(finality="latest"))
    with pytest.raises(ValidationError):
        cfg.max_log_range = 1  # type: ignore[misc]
    assert cfg == adapter_config(_evm(finality="latest"))
    assert hash(cfg) == hash(adapter_config(_evm(finality="latest")))
