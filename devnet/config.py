"""Typed configuration of the embedded devnet node (dev-only; never a production chain).

``DevnetConfig.from_dict`` is the one way in: a frozen pydantic model (``adapters.configmodel``)
that rejects unknown keys, bad values and broken cross-field rules with one ``ConfigError``: one
line per problem, ``devnet config: key: what is wrong``; its ``key`` context names the first
problem's key. Keys (all optional):

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
genesis_file           a Besu QBFT genesis file the chain starts from (consortium only; see
                       ``devnet.genesis``): its validators, alloc and header fields; the
                       launcher also sets chain_id, fork, block_time, epoch_length, gas_limit,
                       genesis_timestamp and validator_count from it (None)
validator_keys_dir     where the genesis validators' Besu ``key`` files are (``key`` or
                       ``*/key``; default: the genesis file's folder)
=====================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import Field, Strict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from adapters.configmodel import (
    AddressField,
    ConfigModel,
    NonNegativeInt,
    PositiveInt,
    describe_problems,
)
from adapters.errors import ConfigError

Mode = Literal["consortium", "plain"]
Fork = Literal["london", "shanghai", "cancun", "prague"]
CommitSeals = Literal["all", "quorum"]

CONSORTIUM_CHAIN_ID: Final = 20250
PLAIN_CHAIN_ID: Final = 31337
ETHER: Final = 10**18


Seconds = Annotated[float, Strict(), Field(ge=0, le=3600, allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]


class DevnetConfig(ConfigModel):
    """Configuration of one devnet node. Build it with ``from_dict`` (validates everything,
    fills the mode's defaults and checks the cross rules)."""

    mode: Mode = "consortium"
    chain_id: PositiveInt = CONSORTIUM_CHAIN_ID
    fork: Fork = "shanghai"
    validator_count: Annotated[int, Strict(), Field(ge=1, le=64)] = 4
    spare_validators: Annotated[int, Strict(), Field(ge=0, le=64)] = 0
    offline_validators: tuple[AddressField, ...] = ()
    commit_seals: CommitSeals = "all"
    block_time: Seconds = 1.0
    instant_seal: Flag = False
    epoch_length: PositiveInt = 30000
    gas_limit: Annotated[int, Strict(), Field(ge=5000, le=2**63 - 1)] = 60_000_000
    dev_accounts: Annotated[int, Strict(), Field(ge=0, le=100)] = 10
    dev_balance_wei: Annotated[int, Strict(), Field(ge=0, le=2**255)] = 10_000 * ETHER
    allowlist: tuple[AddressField, ...] = ()
    permissioning: Flag = True
    rpc_gas_cap: Annotated[int, Strict(), Field(ge=21_000, le=2**63 - 1)] = 30_000_000
    max_log_range: PositiveInt = 5_000
    max_log_addresses: PositiveInt = 1_000
    max_log_topics: PositiveInt = 1_000
    max_log_results: PositiveInt = 10_000
    max_batch_size: PositiveInt = 1_024
    max_batch_cost: PositiveInt = 2_000
    max_request_bytes: Annotated[int, Strict(), Field(ge=1024)] = 5 * 1024 * 1024
    max_json_depth: Annotated[int, Strict(), Field(ge=4, le=10_000)] = 32
    rpc_workers: Annotated[int, Strict(), Field(ge=1, le=64)] = 2
    max_filters: PositiveInt = 1_000
    filter_timeout_s: Seconds = 300.0
    max_pool_txs: PositiveInt = 4_096
    max_pool_bytes: Annotated[int, Strict(), Field(ge=1024)] = 32 * 1024 * 1024
    genesis_timestamp: NonNegativeInt | None = None
    genesis_file: str | None = None
    validator_keys_dir: str | None = None

    @property
    def consortium(self) -> bool:
        return self.mode == "consortium"

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:
        """Defaults that follow the mode: chain id, fork, sealing and permissioning."""
        if not isinstance(data, Mapping):
            return data
        plain = data.get("mode") == "plain"
        return {
            "chain_id": PLAIN_CHAIN_ID if plain else CONSORTIUM_CHAIN_ID,
            "fork": "cancun" if plain else "shanghai",
            "instant_seal": plain or data.get("block_time", 1.0) == 0,
            "permissioning": not plain,
            **data,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None = None, *, mode: str | None = None
    ) -> DevnetConfig:
        """Validate ``data``; mode-dependent defaults follow ``mode`` (argument or key).
        A ``ConfigError`` has one line per problem and names the first problem's key."""
        raw = dict(data or {})
        if mode is not None and raw.get("mode", mode) != mode:
            raise ConfigError(
                "devnet config: mode: given twice with different values "
                f"({raw['mode']!r} in the config, {mode!r} by the caller)",
                key="mode",
            )
        raw["mode"] = mode or raw.get("mode", "consortium")
        try:
            config = cls.model_validate(raw)
        except ValidationError as exc:
            # from None: pydantic's own text echoes the input.
            first = exc.errors(include_url=False, include_input=False)[0]["loc"]
            lines = describe_problems(exc)
            raise ConfigError(
                "\n".join(f"devnet config: {line}" for line in lines),
                key=str(first[0]) if first else None,
            ) from None
        return config

    @model_validator(mode="after")
    def _cross_rules(self) -> DevnetConfig:
        problems = self.rule_problems()
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("devnet_rule", message), loc=(key,), input=None
                    )
                    for key, message in problems
                ],
            )
        return self

    def rule_problems(self) -> list[tuple[str, str]]:
        """``(key, what is wrong)`` for each broken cross-field rule (the quorum must be
        reachable with the keys the node holds; validator settings need consortium mode)."""
        problems: list[tuple[str, str]] = []
        if self.block_time <= 0 and not self.instant_seal:
            problems.append(("block_time", "must be > 0 unless instant_seal is on"))
        if self.consortium:
            total = self.validator_count + len(self.offline_validators)
            quorum = -(-2 * total // 3)
            if self.validator_count < quorum:
                problems.append(
                    (
                        "offline_validators",
                        f"leave {self.validator_count} in-process keys of {total} validators; "
                        f"the QBFT quorum needs {quorum}",
                    )
                )
            if len(set(self.offline_validators)) != len(self.offline_validators):
                problems.append(("offline_validators", "lists an address twice"))
            if self.genesis_file is not None and (self.offline_validators or self.spare_validators):
                problems.append(
                    ("genesis_file", "the genesis names the validators: no offline or spare ones")
                )
            return problems
        if self.genesis_file is not None:
            problems.append(("genesis_file", "applies only to consortium mode"))
        if self.fork == "london":
            problems.append(
                ("fork", "plain mode serves post-merge headers: use shanghai, cancun or prague")
            )
        if self.offline_validators:
            problems.append(("offline_validators", "applies only to consortium mode"))
        if self.spare_validators:
            problems.append(("spare_validators", "applies only to consortium mode"))
        return problems

    def check(self) -> None:
        """Raise ``ConfigError`` (one line per problem) if a cross-field rule is broken.
        Validation already enforces them; this re-checks a config built without it."""
        problems = self.rule_problems()
        if problems:
            raise ConfigError(
                "\n".join(f"devnet config: {key}: {message}" for key, message in problems),
                key=problems[0][0],
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (addresses as 0x hex), e.g. to store beside a persisted chain."""
        return {
            key: ["0x" + v.hex() for v in value] if isinstance(value, tuple) else value
            for key, value in self
        }
