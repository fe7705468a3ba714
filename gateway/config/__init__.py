"""The typed configuration of an xgate deployment (``xgate.toml``).

``load_config(path)`` reads and validates one file (every problem is one line of a
``ConfigError``: ``FILE: key.path: what is wrong``); ``dump_config(cfg)`` writes it back.
``ChainConfig.adapter_config(name)`` and ``.finality_policy`` give what the adapters need;
``load_signer(cfg.signers[name], os.environ, name=name)`` reads a key when a service starts.
"""

from gateway.config.files import dump_config, load_config
from gateway.config.model import (
    ApiConfig,
    AttesterConfig,
    ChainConfig,
    Confirmations,
    ContractsConfig,
    KeeperConfig,
    LogConfig,
    OpsConfig,
    RelayerConfig,
    RouteConfig,
    SignerConfig,
    StoreConfig,
    XgateConfig,
)
from gateway.config.signers import load_signer, load_tx_signer

__all__ = [
    "ApiConfig",
    "AttesterConfig",
    "ChainConfig",
    "Confirmations",
    "ContractsConfig",
    "KeeperConfig",
    "LogConfig",
    "OpsConfig",
    "RelayerConfig",
    "RouteConfig",
    "SignerConfig",
    "StoreConfig",
    "XgateConfig",
    "dump_config",
    "load_config",
    "load_signer",
    "load_tx_signer",
]
