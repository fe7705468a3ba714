"""The ``xgate.toml`` model: frozen pydantic models that refuse unknown keys.

Each section is a model; ``XgateConfig`` checks what spans sections (routes against chains and
contracts, services against signers, one consortium hub). Relative paths (the SQLite file, key
and keystore files) resolve against the folder of the config file when it is loaded through
``load_config`` (validation context ``base_dir``); built in code they stay as given.

Nothing here reads a secret: signers name files and environment variables, and
``gateway.config.signers.load_signer`` reads them when a service starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from eth_utils.address import (
    is_checksum_address,
    is_hex_address,
    to_canonical_address,
    to_checksum_address,
)
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from adapters.configmodel import (
    ConfigModel,
    Hash32Field,
    HttpUrlStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from adapters.evm import EvmConfig, redact_url
from adapters.qbft import QbftConfig
from adapters.registry import adapter_config
from adapters.retry import RetryPolicy
from adapters.types import Address, ChainId, Finality

__all__ = [
    "AttesterConfig",
    "ChainConfig",
    "Confirmations",
    "ContractsConfig",
    "DeployConfig",
    "KeeperConfig",
    "LogConfig",
    "OpsConfig",
    "OpsServiceConfig",
    "RelayerConfig",
    "RouteConfig",
    "SignerConfig",
    "StoreConfig",
    "XgateConfig",
]


# --- field types -------------------------------------------------------------------------------


def _address(value: Any) -> Any:
    """A 0x address; mixed case must be a valid EIP-55 checksum (catches a mistyped digit)."""
    if not isinstance(value, str):
        return value  # bytes from code; the bytes schema checks size and type
    if not is_hex_address(value):
        raise PydanticCustomError("address", "expected a 0x address of 40 hex digits")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise PydanticCustomError(
            "address",
            "bad EIP-55 checksum: a digit is probably mistyped; copy the address again "
            "(or write it in lower case to skip the check)",
        )
    return to_canonical_address(value)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


EthAddress = Annotated[
    Address,
    Strict(),
    Field(min_length=20, max_length=20),
    BeforeValidator(_address),
    PlainSerializer(to_checksum_address),
]
HashHex = Annotated[Hash32Field, PlainSerializer(_hex)]

_NAME = r"^[A-Za-z0-9_-]+$"
# Chain and signer names appear in log fields, metric labels and key paths.
Name = Annotated[str, Strict(), Field(pattern=_NAME)]
EnvName = Annotated[str, Strict(), Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    return path if path.is_absolute() or base is None else Path(base) / path


def _first_per_key(
    problems: list[tuple[tuple[str | int, ...], str]],
) -> list[tuple[tuple[str | int, ...], str]]:
    """A key that several sections need (a contract for two routes and the attester) is one
    problem, reported for the first of them."""
    first: dict[tuple[str | int, ...], str] = {}
    for loc, message in problems:
        first.setdefault(loc, message)
    return list(first.items())


def _problems(title: str, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
    """Raise several located problems at once from a model validator."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=PydanticCustomError("xgate", message), loc=loc, input=None)
                for loc, message in problems
            ],
        )


# --- [store] -----------------------------------------------------------------------------------

_STORE_URL_HINT = 'expected "sqlite:///PATH" or "postgresql://USER@HOST/DB"'


class StoreConfig(ConfigModel):
    """``url``: SQLite (a relative path resolves against the config file's folder) or
    PostgreSQL (``postgresql://`` or ``postgresql+psycopg://``)."""

    url: Annotated[str, Strict()] = "sqlite:///xgate.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise PydanticCustomError("store_url", _STORE_URL_HINT) from None
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise PydanticCustomError("store_url", _STORE_URL_HINT)
        if backend == "sqlite" and url.database not in (None, "", ":memory:"):
            url = url.set(database=str(_resolve(Path(url.database), info)))
        return url.render_as_string(hide_password=False)

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced by ``***`` (for logs)."""
        return make_url(self.url).render_as_string(hide_password=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield "url", self.redacted_url  # a PostgreSQL URL may carry a password


# --- [chains.NAME] -----------------------------------------------------------------------------


class Confirmations(ConfigModel):
    """``{ confirmations = N }``: final once N blocks are on top."""

    confirmations: NonNegativeInt


_FINALITY_HINT = 'expected "instant", "finalized" or {confirmations = N}'


def _finality(value: Any) -> Any:
    if value in ("instant", "finalized") or isinstance(value, Confirmations):
        return value
    if isinstance(value, Mapping) and set(value) == {"confirmations"}:
        # Validated here, not by the union below: its errors would name union members.
        return Confirmations.model_validate(value)
    raise PydanticCustomError("finality", _FINALITY_HINT)


FinalitySetting = Annotated[
    Literal["instant", "finalized"] | Confirmations, BeforeValidator(_finality)
]


class ContractsConfig(ConfigModel):
    """Deployed contract addresses on one chain; each is needed only by what uses it."""

    endpoint: EthAddress | None = None
    light_client: EthAddress | None = None  # QbftLightClient (on a public chain)
    header_store: EthAddress | None = None  # AttestedHeaderStore (on the consortium)
    vault: EthAddress | None = None
    asset_gateway: EthAddress | None = None
    credit_registry: EthAddress | None = None
    credit_mirror: EthAddress | None = None
    receivable: EthAddress | None = None
    settlement_token: EthAddress | None = None
    wrapped_receivable: EthAddress | None = None
    wrapped_settlement_token: EthAddress | None = None
    htlc_native: EthAddress | None = None
    htlc_erc20: EthAddress | None = None
    htlc_erc721: EthAddress | None = None
    financing_desk: EthAddress | None = None  # FinancingDesk: receivables sold for a price
    timelock: EthAddress | None = None


_QBFT_ONLY = ("trusted_validators", "trusted_height", "trusted_hash", "max_anchors")
# Adapter knobs: unset means the adapter's own default (EvmConfig / QbftConfig).
_KNOBS = (
    "request_timeout_s",
    "retry",
    "max_log_range",
    "poll_interval_s",
    "gas_margin_pct",
    "default_priority_fee_wei",
    "receipt_concurrency",
    "fee_cache_s",
    "max_anchors",
)


def _some_url(urls: tuple[str, ...]) -> tuple[str, ...]:
    # Here, not as min_length: pydantic would also report an empty list after a bad URL.
    if not urls:
        raise PydanticCustomError("rpc_urls", "needs at least one http(s) URL")
    return urls


class ChainConfig(ConfigModel):
    """One chain: how to reach it, what final means there, and its contracts.

    ``rpc_urls[0]`` is the primary endpoint, the rest are failover endpoints. A ``qbft`` chain
    (the consortium) carries the light client's trust anchor: ``trusted_validators`` (the set
    listed in the header at ``trusted_height``) and optionally ``trusted_hash``."""

    kind: Literal["qbft", "evm"]
    rpc_urls: Annotated[tuple[HttpUrlStr, ...], AfterValidator(_some_url)]
    chain_id: Annotated[ChainId, Strict(), Field(ge=1)]
    finality: FinalitySetting
    request_timeout_s: PositiveFloat | None = None
    retry: RetryPolicy | None = None
    max_log_range: PositiveInt | None = None
    poll_interval_s: PositiveFloat | None = None
    gas_margin_pct: NonNegativeInt | None = None
    default_priority_fee_wei: NonNegativeInt | None = None
    receipt_concurrency: PositiveInt | None = None
    fee_cache_s: NonNegativeFloat | None = None
    trusted_validators: tuple[EthAddress, ...] | None = None
    trusted_height: NonNegativeInt | None = None
    trusted_hash: HashHex | None = None
    max_anchors: Annotated[int, Strict(), Field(ge=2)] | None = None
    # Seconds until a block is final under ``finality`` (the keeper's timelock rule). Unset: a
    # qbft chain is final at its next seal (5 s); N confirmations of 12-s slots; "finalized"
    # is Ethereum's two epochs (13 min) with a margin.
    finality_time_s: PositiveFloat | None = None
    # First block the services scan while the store has no checkpoint (the contracts'
    # deployment block: nothing before it concerns xgate).
    start_height: NonNegativeInt = 0
    contracts: ContractsConfig = Field(default_factory=ContractsConfig)

    @field_validator("finality")
    @classmethod
    def _finality_fits_the_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind == "evm" and value == "instant":
            raise PydanticCustomError(
                "finality",
                '"instant" is for BFT (qbft) chains; use "finalized" or {confirmations = N}',
            )
        if kind == "qbft" and value != "instant":
            raise PydanticCustomError(
                "finality", 'a qbft chain is final once sealed: use "instant"'
            )
        return value

    @model_validator(mode="after")
    def _trust_anchor_fits_the_kind(self) -> ChainConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.kind == "evm":
            problems += [
                ((key,), "only a qbft chain has a trust anchor; remove it")
                for key in _QBFT_ONLY
                if getattr(self, key) is not None
            ]
        elif not self.trusted_validators:
            problems.append(
                (
                    ("trusted_validators",),
                    "a qbft chain needs its trusted validator set (the validators listed in the "
                    "header at trusted_height, genesis by default)",
                )
            )
        _problems(type(self).__name__, problems)
        return self

    @property
    def finality_policy(self) -> Finality:
        """The finality this chain's adapter and watchers wait for."""
        if isinstance(self.finality, Confirmations):
            return Finality.confirmations(self.finality.confirmations)
        return Finality.finalized() if self.finality == "finalized" else Finality.latest()

    @property
    def time_to_finality_s(self) -> float:
        if self.finality_time_s is not None:
            return self.finality_time_s
        if isinstance(self.finality, Confirmations):
            return 12.0 * (self.finality.confirmations + 1)
        return 900.0 if self.finality == "finalized" else 5.0

    def adapter_config(self, name: str) -> EvmConfig | QbftConfig:
        """The adapter settings of this chain, named ``name`` (its key under ``[chains]``).

        Built through ``adapters.registry``, the one place that dispatches on the kind."""
        raw: dict[str, Any] = {
            "kind": self.kind,
            "name": name,
            "rpc_url": self.rpc_urls[0],
            "fallback_rpc_urls": self.rpc_urls[1:],
            "chain_id": self.chain_id,
            "finality": self.finality_policy,
        }
        for key in _KNOBS + _QBFT_ONLY:
            value = getattr(self, key)
            if value is not None:
                raw[key] = value
        return adapter_config(raw)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            # Provider URLs often carry an API key in the path or query.
            yield key, tuple(map(redact_url, value)) if key == "rpc_urls" else value


# --- [[routes]] --------------------------------------------------------------------------------


class RouteConfig(ConfigModel):
    """Messages from ``from`` to ``to`` (attributes ``source``, ``destination``).

    ``private_terms`` (only on a route from the qbft hub to a public chain): receivables
    bridged over it carry only a salted commitment to their terms there (the vault's
    ``setPrivateTerms``; docs/architecture.md, "Private terms on public chains")."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, serialize_by_alias=True
    )

    # validation/serialization aliases, not alias: mypy keeps the attribute names as keywords.
    source: Name = Field(validation_alias="from", serialization_alias="from")
    destination: Name = Field(validation_alias="to", serialization_alias="to")
    batch_size: Annotated[int, Strict(), Field(ge=1, le=64)] = 16
    max_fee_per_gas_gwei: PositiveFloat | None = None  # a cap; unset: whatever the chain asks
    enabled: Annotated[bool, Strict()] = True
    private_terms: Annotated[bool, Strict()] = False

    @property
    def name(self) -> str:
        return f"{self.source}->{self.destination}"

    @property
    def max_fee_per_gas_wei(self) -> int | None:
        if self.max_fee_per_gas_gwei is None:
            return None
        return int(Decimal(str(self.max_fee_per_gas_gwei)) * 10**9)


# --- [signers.NAME] ----------------------------------------------------------------------------

_SIGNER_SOURCES = ("keystore", "key_file", "key_file_env", "external_url")


class SignerConfig(ConfigModel):
    """Where one key comes from: exactly one of ``keystore`` (Ethereum keystore v3, with
    ``password_env`` or ``password_file``), ``key_file`` (hex private key), ``key_file_env``
    (an environment variable holding the key file's path) or ``external_url`` (a remote signer
    answering ``eth_signTransaction`` for ``address``: transactions only, used by ``xgate
    deploy``; docs/deploy.md). Only names: no secret lives here."""

    keystore: Path | None = None
    password_env: EnvName | None = None
    password_file: Path | None = None
    key_file: Path | None = None
    key_file_env: EnvName | None = None
    external_url: HttpUrlStr | None = None
    address: EthAddress | None = None  # the external signer's account

    @field_validator("keystore", "password_file", "key_file")
    @classmethod
    def _relative_to_the_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _one_source(self) -> SignerConfig:
        given = [key for key in _SIGNER_SOURCES if getattr(self, key) is not None]
        passwords = [key for key in ("password_env", "password_file") if getattr(self, key)]
        if len(given) != 1:
            raise PydanticCustomError(
                "signer", "give exactly one of keystore, key_file, key_file_env or external_url"
            )
        if (self.address is None) != (given != ["external_url"]):
            raise PydanticCustomError(
                "signer", "an external signer needs the address it signs for (and only it)"
            )
        if given == ["keystore"] and len(passwords) != 1:
            raise PydanticCustomError(
                "signer", "a keystore needs exactly one of password_env or password_file"
            )
        if given != ["keystore"] and passwords:
            raise PydanticCustomError(
                "signer", f"{passwords[0]} belongs to a keystore; remove it for {given[0]}"
            )
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            # A remote signer's URL may carry an access token.
            yield key, redact_url(value) if key == "external_url" and value else value


# --- services ----------------------------------------------------------------------------------


class RelayerConfig(ConfigModel):
    signer: Name
    poll_interval_s: PositiveFloat = 1.0
    log_range: PositiveInt = 2000  # blocks per watcher scan
    lease_ttl_s: PositiveFloat = 30.0
    confirm_timeout_s: PositiveFloat = 120.0
    stuck_after_s: PositiveFloat = 30.0  # unmined this long: replace with raised fees
    # geth and Besu refuse a replacement without +10 % fees.
    fee_bump_pct: Annotated[int, Strict(), Field(ge=10)] = 15
    max_attempts: PositiveInt = 5  # delivery attempts before a message is parked
    # Batches a deliverer (and headers a header feeder) sends on consecutive nonces before
    # waiting for the first to be mined: one in flight caps a route at a batch per block.
    max_in_flight: PositiveInt = 8
    # Keep-alive: a header feeder submits the consortium's newest final header once its light
    # client's latest one is this fraction of the client's trusting period old (destination
    # time), with or without messages waiting, so a quiet route never lets the trust expire.
    light_client_refresh: Annotated[float, Strict(), Field(gt=0, lt=1, allow_inf_nan=False)] = 0.5
    # How often (wall-clock seconds) the keep-alive reads the light client and the destination's
    # clock: about ten calls a check, against a trusting period of days. A dev chain whose clock
    # is moved forward by days at a time needs it checked more often.
    light_client_check_s: PositiveFloat = 10.0


class AttesterConfig(ConfigModel):
    """A consortium member runs one attester with its own key; one process may also play
    several members (the devnet does), each key attesting on its own."""

    signers: Annotated[tuple[Name, ...], Field(min_length=1)]
    chains: Annotated[tuple[Name, ...], Field(min_length=1)]  # public chains it attests
    poll_interval_s: PositiveFloat = 1.0
    log_range: PositiveInt = 2000  # blocks per scan
    confirm_timeout_s: PositiveFloat = 120.0


class KeeperConfig(ConfigModel):
    """The HTLC keeper. It refuses swaps whose timelocks leave less than both chains' time to
    finality + ``relay_latency_s`` + ``clock_skew_s`` + ``safety_delay_s`` between them. With
    ``settle_receivables`` (and a ``receivable`` on the hub) it also settles the hub's
    receivables on their due date and marks unpaid ones defaulted (docs/relayer.md §9)."""

    signer: Name
    # The signer's address, published by the API: dApps authorise relayed claims to it
    # (``POST /v1/swaps/{id}/authorizations``). ``xgate keeper run`` checks its key has it.
    address: EthAddress | None = None
    safety_delay_s: NonNegativeFloat = 300.0  # act this long before a timelock ends, not later
    relay_latency_s: NonNegativeFloat = 60.0  # observe a secret and get a claim mined
    clock_skew_s: NonNegativeFloat = 15.0  # between the chains' block times
    poll_interval_s: PositiveFloat = 1.0
    log_range: PositiveInt = 2000  # blocks per scan
    confirm_timeout_s: PositiveFloat = 120.0
    # How deep a swap registered after its lock is searched for a lock already settled.
    look_back_blocks: NonNegativeInt = 10_000
    # Settle due receivables whose debtor approved the payment, mark the others defaulted
    # after the grace period, with the same signer on the hub (its ``receivable`` contract).
    settle_receivables: Annotated[bool, Strict()] = True


class LogConfig(ConfigModel):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def _host_port(value: str) -> str:
    try:
        parts = urlsplit(f"//{value}")
        ok = bool(parts.hostname) and parts.port is not None and parts.port > 0
    except ValueError:  # a port that is no number or out of range
        ok = False
    if not ok or parts.path or parts.username:
        raise PydanticCustomError("listen", 'expected "HOST:PORT", e.g. "127.0.0.1:9464"')
    return value


HostPort = Annotated[str, Strict(), AfterValidator(_host_port)]


class _Listening(ConfigModel):
    listen: HostPort

    @property
    def host(self) -> str:
        host = urlsplit(f"//{self.listen}").hostname
        assert host is not None  # checked by the validator
        return host

    @property
    def port(self) -> int:
        port = urlsplit(f"//{self.listen}").port
        assert port is not None  # checked by the validator
        return port


class OpsConfig(_Listening):
    """``listen``: ``HOST:PORT`` of ``/metrics``, ``/healthz`` and ``/readyz``."""

    listen: HostPort = "127.0.0.1:9464"


class OpsServiceConfig(ConfigModel):
    """One relay process's ops server that ``GET /v1/operator/services`` asks: ``name`` (how
    the answer names it) and ``url`` (``http://host:port``, its ``[ops] listen``)."""

    name: Annotated[str, Strict(), Field(min_length=1, max_length=100, pattern=_NAME)]
    url: HttpUrlStr


class ApiConfig(_Listening):
    """``xgate api``: where it serves (``listen``), the largest request body it reads, the
    time requests in flight get on SIGTERM, and its webhook dispatcher's policy (failed posts
    are retried after ``webhook_retry_first_s``, doubling up to ``webhook_retry_max_s``, and
    dead-lettered after ``webhook_max_attempts``). ``dev_webhooks`` takes loopback and http
    URLs: for a development gateway only. ``event_retention_days``: events older than this are
    pruned from the event log (docs/api.md §3). ``services``: the relay processes' ops servers
    the operator's services report asks (unset: this file's ``[ops] listen``; docs/api.md §7).
    The command's flags override these."""

    listen: HostPort = "127.0.0.1:8080"
    max_body_bytes: Annotated[int, Strict(), Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    shutdown_timeout_s: PositiveFloat = 10.0
    webhooks: StrictBool = True
    dev_webhooks: StrictBool = False
    webhook_timeout_s: PositiveFloat = 10.0
    webhook_max_attempts: Annotated[int, Strict(), Field(ge=1, le=1000)] = 10
    webhook_retry_first_s: PositiveFloat = 5.0
    webhook_retry_max_s: PositiveFloat = 3600.0
    webhook_poll_s: PositiveFloat = 1.0
    event_retention_days: Annotated[int, Strict(), Field(gt=0, le=36500)] = 30
    services: Annotated[tuple[OpsServiceConfig, ...], Field(max_length=100)] | None = None

    @model_validator(mode="after")
    def _retry_order(self) -> ApiConfig:
        if self.webhook_retry_first_s > self.webhook_retry_max_s:
            _problems(
                type(self).__name__,
                [(("webhook_retry_first_s",), "must not exceed webhook_retry_max_s")],
            )
        return self

    @model_validator(mode="after")
    def _distinct_services(self) -> ApiConfig:
        seen: dict[str, int] = {}
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, service in enumerate(self.services or ()):
            if service.name in seen:
                problems.append(
                    (("services", i, "name"), f"duplicate of services[{seen[service.name]}]")
                )
            seen.setdefault(service.name, i)
        _problems(type(self).__name__, problems)
        return self


# --- [deploy] ----------------------------------------------------------------------------------


class DeployConfig(ConfigModel):
    """``xgate deploy`` (docs/deploy.md): who deploys on which chain and who holds which role
    afterwards. ``signer`` deploys on every chain unless ``chain_signers`` names another for a
    chain; the deployer keeps only the operational roles (minter, issuer). Every contract's
    admin becomes its chain's timelock (``timelock_delay_s``; proposer ``governor``, executor
    anyone); ``guardian`` pauses and cancels; the consortium's header store trusts
    ``attester_threshold`` of ``attesters``; ``arbiter`` (default: the consortium's deployer)
    resolves disputed receivables. ``journal``: the resumable record of the deployment (default
    ``<config name>.deploy.json`` beside the config file)."""

    signer: Name
    chain_signers: dict[Name, Name] = Field(default_factory=dict)
    governor: EthAddress
    guardian: EthAddress
    attesters: Annotated[tuple[EthAddress, ...], Field(min_length=1)]
    attester_threshold: PositiveInt
    arbiter: EthAddress | None = None
    timelock_delay_s: NonNegativeInt = 2 * 86_400
    hold_delay_s: NonNegativeInt = 3_600
    max_in_flight: Annotated[int, Strict(), Field(ge=1, le=64)] = 16
    journal: Path | None = None

    @field_validator("journal")
    @classmethod
    def _journal_beside_the_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _attesters(self) -> DeployConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if len(set(self.attesters)) != len(self.attesters):
            problems.append((("attesters",), "an attester is listed twice"))
        if self.attester_threshold > len(self.attesters):
            problems.append(
                (
                    ("attester_threshold",),
                    f"more than the {len(self.attesters)} attesters listed",
                )
            )
        _problems(type(self).__name__, problems)
        return self


# --- the file ----------------------------------------------------------------------------------


class XgateConfig(ConfigModel):
    """One ``xgate.toml``."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    chains: Annotated[dict[Name, ChainConfig], Field(min_length=1)]
    routes: tuple[RouteConfig, ...] = ()
    signers: dict[Name, SignerConfig] = Field(default_factory=dict)
    relayer: RelayerConfig | None = None
    attester: AttesterConfig | None = None
    keeper: KeeperConfig | None = None
    log: LogConfig = Field(default_factory=LogConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    deploy: DeployConfig | None = None

    @property
    def hub(self) -> str:
        """The name of the consortium chain (the one ``qbft`` chain)."""
        return next(name for name, chain in self.chains.items() if chain.kind == "qbft")

    @property
    def public_chains(self) -> tuple[str, ...]:
        return tuple(name for name, chain in self.chains.items() if chain.kind == "evm")

    @model_validator(mode="after")
    def _consistent(self) -> XgateConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        hubs = [name for name, chain in self.chains.items() if chain.kind == "qbft"]
        if len(hubs) != 1:
            problems.append(
                (
                    ("chains",),
                    'exactly one chain must be kind "qbft" (the consortium hub); '
                    f"found {len(hubs)}" + (f": {', '.join(hubs)}" if hubs else ""),
                )
            )
        problems += self._route_problems(hubs)
        named: list[tuple[tuple[str | int, ...], str]] = []
        for service in ("relayer", "keeper"):
            section = getattr(self, service)
            if section is not None:
                named.append(((service, "signer"), section.signer))
        if self.attester is not None:
            named += [(("attester", "signers", i), n) for i, n in enumerate(self.attester.signers)]
        if self.deploy is not None:
            named.append((("deploy", "signer"), self.deploy.signer))
            for chain_name, signer in self.deploy.chain_signers.items():
                named.append((("deploy", "chain_signers", chain_name), signer))
                if chain_name not in self.chains:
                    problems.append(
                        (("deploy", "chain_signers", chain_name), f"no chain named {chain_name!r}")
                    )
        problems += [
            (loc, f"no signer named {name!r} in [signers]")
            for loc, name in named
            if name not in self.signers
        ]
        if self.attester is not None:
            for i, name in enumerate(self.attester.chains):
                chain = self.chains.get(name)
                if chain is None:
                    problems.append((("attester", "chains", i), f"no chain named {name!r}"))
                elif chain.kind != "evm":
                    problems.append(
                        (("attester", "chains", i), "attesters sign public (evm) chains' headers")
                    )
                elif chain.contracts.endpoint is None:
                    problems.append(
                        (
                            ("chains", name, "contracts", "endpoint"),
                            "required by the attester (it attests blocks with bridge messages)",
                        )
                    )
        _problems(type(self).__name__, _first_per_key(problems))
        return self

    def _route_problems(self, hubs: list[str]) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen: dict[tuple[str, str], int] = {}
        for i, route in enumerate(self.routes):
            ends = {"from": route.source, "to": route.destination}
            missing = [key for key, name in ends.items() if name not in self.chains]
            for key in missing:
                problems.append((("routes", i, key), f"no chain named {ends[key]!r} in [chains]"))
            if missing:
                continue
            if route.source == route.destination:
                problems.append((("routes", i, "to"), "a route needs two different chains"))
                continue
            pair = (route.source, route.destination)
            if pair in seen:
                problems.append(
                    (("routes", i), f"duplicate of routes[{seen[pair]}] ({route.name})")
                )
                continue
            seen[pair] = i
            if len(hubs) == 1 and hubs[0] not in pair:
                # The light clients verify consortium headers and the header store holds public
                # ones: every message crosses the consortium.
                problems.append((("routes", i), "every route starts or ends at the qbft hub"))
                continue
            for name in pair:
                if self.chains[name].contracts.endpoint is None:
                    problems.append(
                        (
                            ("chains", name, "contracts", "endpoint"),
                            f"required by route {route.name}",
                        )
                    )
            dst = self.chains[route.destination]
            if route.private_terms and (
                self.chains[route.source].kind != "qbft" or dst.kind != "evm"
            ):
                problems.append(
                    (
                        ("routes", i, "private_terms"),
                        "private terms apply to receivables leaving the qbft hub for a public "
                        "chain: set it on that route",
                    )
                )
            oracle = "light_client" if dst.kind == "evm" else "header_store"
            if getattr(dst.contracts, oracle) is None:
                problems.append(
                    (
                        ("chains", route.destination, "contracts", oracle),
                        f"required by route {route.name} (it verifies {route.source}'s headers)",
                    )
                )
        return problems
