"""Typed configuration of the embedded devnet node (dev-only; never a production chain).

``DevnetConfig.from_dict`` is the one way in: it rejects unknown keys and bad values with a
``ConfigError`` that names the key. Keys (all optional):

=====================  ======================================================================
key                    meaning (default)
=====================  ======================================================================
mode                   ``"consortium"`` (QBFT, permissioned) or ``"plain"`` (unsealed, auto-mine)
chain_id               20250 (consortium) / 31337 (plain)
fork                   ``"london"`` (16 header fields), ``"shanghai"`` (17), ``"cancun"`` (20)
                       or ``"prague"`` (21); default shanghai (consortium, like Besu's shipped
                       QBFT genesis files), cancun (plain)
validator_count        number of in-process validators with deterministic dev keys (4)
spare_validators       extra dev validator keys held by the node but not in the genesis set,
                       so a vote can add a validator that then seals (0)
offline_validators     list of 0x addresses in the genesis set whose keys the devnet does not
                       hold: rounds whose proposer is offline are skipped (round > 0 blocks)
commit_seals           ``"all"``: every held validator key seals each block (default);
                       ``"quorum"``: exactly quorum seals, from held keys rotating per block
block_time             seconds between blocks; empty blocks are produced like Besu (1.0);
                       0 means instant seal
instant_seal           seal as soon as transactions arrive, no empty blocks (default: plain
                       mode or block_time 0)
epoch_length           QBFT epoch: pending votes are discarded at epoch blocks (30000)
gas_limit              block gas limit (60,000,000: ~2,800 simple transfers)
dev_accounts           number of funded dev accounts from anvil's default mnemonic (10)
dev_balance_wei        balance of each dev account (10,000 ETH)
allowlist              extra 0x addresses allowlisted at genesis (dev accounts and validators
                       always are)
permissioning          account allowlist on (consortium True, plain False)
rpc_gas_cap            gas cap of eth_call / eth_estimateGas / eth_createAccessList, like
                       Besu's ``--rpc-gas-cap`` (30,000,000; a larger call gas is lowered to it)
max_log_range          largest eth_getLogs block range, Besu ``--rpc-max-logs-range`` (5,000)
max_log_addresses      most addresses in one log filter (1,000, like geth)
max_log_topics         most alternatives in one topic position (1,000, like geth)
max_log_results        most logs one eth_getLogs returns (10,000: "query returned more than
                       10000 results", -32005)
max_batch_size         largest JSON-RPC batch, Besu ``--rpc-http-max-batch-size`` (1,024)
max_batch_cost         largest summed cost of a batch, in request units: 1 per plain request,
                       1 per million gas a simulated call may use, 1 per 100 blocks of a log
                       query (see ``devnet.rpc.request_cost``) (2,000)
max_request_bytes      largest HTTP request body, Besu
                       ``--rpc-http-max-request-content-length`` (5 MiB; larger gets HTTP 413)
max_json_depth         deepest nesting of a request body (32)
rpc_workers            expensive read-only requests (eth_call, eth_getLogs, ...) run at most
                       this many at once on worker threads, off the sealing loop (2)
max_filters            most installed filters (eth_newFilter ...) at once (1,000)
filter_timeout_s       a filter not polled for this long is uninstalled (300, like geth)
max_pool_txs           most transactions in the pool, Besu ``--tx-pool-max-size`` (4,096)
max_pool_bytes         most bytes of raw transactions in the pool (32 MiB). A full pool makes
                       room for a transaction its sender can execute next by evicting the
                       newest transactions behind a nonce gap; anything else is refused
                       ("Transaction pool is full")
genesis_timestamp      genesis timestamp (default: now at first start)
=====================  ======================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, get_args

from adapters.errors import ConfigError

Mode = Literal["consortium", "plain"]
Fork = Literal["london", "shanghai", "cancun", "prague"]
CommitSeals = Literal["all", "quorum"]

CONSORTIUM_CHAIN_ID: Final = 20250
PLAIN_CHAIN_ID: Final = 31337
ETHER: Final = 10**18

_ADDRESS_RE: Final = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    """Configuration of one devnet node. Build it with ``from_dict`` (validates everything)."""

    mode: Mode = "consortium"
    chain_id: int = CONSORTIUM_CHAIN_ID
    fork: Fork = "shanghai"
    validator_count: int = 4
    spare_validators: int = 0
    offline_validators: tuple[bytes, ...] = ()
    commit_seals: CommitSeals = "all"
    block_time: float = 1.0
    instant_seal: bool = False
    epoch_length: int = 30000
    gas_limit: int = 60_000_000
    dev_accounts: int = 10
    dev_balance_wei: int = 10_000 * ETHER
    allowlist: tuple[bytes, ...] = field(default=())
    permissioning: bool = True
    rpc_gas_cap: int = 30_000_000
    max_log_range: int = 5_000
    max_log_addresses: int = 1_000
    max_log_topics: int = 1_000
    max_log_results: int = 10_000
    max_batch_size: int = 1_024
    max_batch_cost: int = 2_000
    max_request_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 32
    rpc_workers: int = 2
    max_filters: int = 1_000
    filter_timeout_s: float = 300.0
    max_pool_txs: int = 4_096
    max_pool_bytes: int = 32 * 1024 * 1024
    genesis_timestamp: int | None = None

    @property
    def consortium(self) -> bool:
        return self.mode == "consortium"

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None = None, *, mode: str | None = None
    ) -> DevnetConfig:
        """Validate ``data``; mode-dependent defaults follow ``mode`` (argument or key)."""
        raw = dict(data or {})
        known = {f.name for f in fields(cls)}
        for key in raw:
            if key not in known:
                raise ConfigError(
                    f"unknown devnet config key {key!r}", key=key, allowed=sorted(known)
                )
        key_mode = raw.pop("mode", None)
        if mode is not None and key_mode is not None and key_mode != mode:
            raise ConfigError("devnet mode given twice with different values", key="mode")
        chosen = mode or key_mode or "consortium"
        if chosen not in ("consortium", "plain"):
            raise ConfigError(
                "devnet mode must be 'consortium' or 'plain'", key="mode", value=chosen
            )
        plain = chosen == "plain"
        block_time = _float(raw, "block_time", 1.0)
        values: dict[str, Any] = {
            "mode": chosen,
            "chain_id": _int(raw, "chain_id", PLAIN_CHAIN_ID if plain else CONSORTIUM_CHAIN_ID, 1),
            "fork": _choice(raw, "fork", "cancun" if plain else "shanghai", get_args(Fork)),
            "validator_count": _int(raw, "validator_count", 4, 1, 64),
            "spare_validators": _int(raw, "spare_validators", 0, 0, 64),
            "offline_validators": _addresses(raw, "offline_validators"),
            "commit_seals": _choice(raw, "commit_seals", "all", get_args(CommitSeals)),
            "block_time": block_time,
            "instant_seal": _bool(raw, "instant_seal", plain or block_time == 0),
            "epoch_length": _int(raw, "epoch_length", 30000, 1),
            "gas_limit": _int(raw, "gas_limit", 60_000_000, 5000, 2**63 - 1),
            "dev_accounts": _int(raw, "dev_accounts", 10, 0, 100),
            "dev_balance_wei": _int(raw, "dev_balance_wei", 10_000 * ETHER, 0, 2**255),
            "allowlist": _addresses(raw, "allowlist"),
            "permissioning": _bool(raw, "permissioning", not plain),
            "rpc_gas_cap": _int(raw, "rpc_gas_cap", 30_000_000, 21_000, 2**63 - 1),
            "max_log_range": _int(raw, "max_log_range", 5_000, 1),
            "max_log_addresses": _int(raw, "max_log_addresses", 1_000, 1),
            "max_log_topics": _int(raw, "max_log_topics", 1_000, 1),
            "max_log_results": _int(raw, "max_log_results", 10_000, 1),
            "max_batch_size": _int(raw, "max_batch_size", 1_024, 1),
            "max_batch_cost": _int(raw, "max_batch_cost", 2_000, 1),
            "max_request_bytes": _int(raw, "max_request_bytes", 5 * 1024 * 1024, 1024),
            "max_json_depth": _int(raw, "max_json_depth", 32, 4, 10_000),
            "rpc_workers": _int(raw, "rpc_workers", 2, 1, 64),
            "max_filters": _int(raw, "max_filters", 1_000, 1),
            "filter_timeout_s": _float(raw, "filter_timeout_s", 300.0),
            "max_pool_txs": _int(raw, "max_pool_txs", 4_096, 1),
            "max_pool_bytes": _int(raw, "max_pool_bytes", 32 * 1024 * 1024, 1024),
            "genesis_timestamp": _opt_int(raw, "genesis_timestamp"),
        }
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Cross-field rules (quorum must be reachable with the keys the node holds)."""
        if self.block_time <= 0 and not self.instant_seal:
            raise ConfigError("block_time must be > 0 unless instant_seal is on", key="block_time")
        if self.consortium:
            total = self.validator_count + len(self.offline_validators)
            quorum = -(-2 * total // 3)
            if self.validator_count < quorum:
                raise ConfigError(
                    "offline_validators leave too few in-process keys to reach the QBFT quorum",
                    key="offline_validators",
                    validators=total,
                    held_keys=self.validator_count,
                    quorum=quorum,
                )
            if len(set(self.offline_validators)) != len(self.offline_validators):
                raise ConfigError(
                    "offline_validators lists an address twice", key="offline_validators"
                )
        elif self.fork == "london":
            raise ConfigError(
                "plain mode serves post-merge headers: fork must be shanghai, cancun or prague",
                key="fork",
                value=self.fork,
            )
        elif self.offline_validators or self.spare_validators:
            raise ConfigError(
                "validator settings apply only to consortium mode",
                key="offline_validators" if self.offline_validators else "spare_validators",
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = ["0x" + v.hex() for v in value]
            out[f.name] = value
        return out


def _int(raw: Mapping[str, Any], key: str, default: int, lo: int = 0, hi: int | None = None) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"devnet config {key!r} must be an integer", key=key, value=value)
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(
            f"devnet config {key!r} is out of range", key=key, value=value, min=lo, max=hi
        )
    return value


def _opt_int(raw: Mapping[str, Any], key: str) -> int | None:
    if raw.get(key) is None:
        return None
    return _int(raw, key, 0)


def _float(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value > 3600:
        raise ConfigError(
            f"devnet config {key!r} must be a number of seconds in [0, 3600]", key=key, value=value
        )
    return float(value)


def _bool(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"devnet config {key!r} must be true or false", key=key, value=value)
    return value


def _choice(raw: Mapping[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError(f"devnet config {key!r} must be one of {allowed}", key=key, value=value)
    return str(value)


def _addresses(raw: Mapping[str, Any], key: str) -> tuple[bytes, ...]:
    value = raw.get(key, ())
    if not isinstance(value, list | tuple):
        raise ConfigError(f"devnet config {key!r} must be a list of 0x addresses", key=key)
    out: list[bytes] = []
    for item in value:
        if isinstance(item, bytes) and len(item) == 20:
            out.append(item)
        elif isinstance(item, str) and _ADDRESS_RE.match(item):
            out.append(bytes.fromhex(item[2:]))
        else:
            raise ConfigError(f"devnet config {key!r} holds a bad address", key=key, value=item)
    return tuple(out)
