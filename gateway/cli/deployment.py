"""Deploy and wire every xgate contract on a consortium chain and a public chain.

Used by ``xgate deploy`` and ``xgate devnet up``. The plan is data: a list of deploy and call
steps per chain whose arguments may name other contracts (on either chain) by key. Contract
addresses are known before anything is sent (CREATE addresses follow the deployer's nonce), so
the chains' transactions are sent back to back and mined together, instead of one round trip
per step; ``gateway.cli.deployer`` sends them, journaled and resumable.

Governance (README "Governance"): each chain gets an ``XgateTimelock`` (OpenZeppelin
TimelockController; proposer: the governor key, executor: anyone, no timelock admin). The
deployer configures everything, then grants DEFAULT_ADMIN_ROLE of every contract to the
timelock and renounces its own, so afterwards every admin change is scheduled, waits the
timelock's delay and is executed; the deployer keeps only operational roles (minter, issuer).
The guardian key may pause the endpoints and cancel held transfers or tighten limits at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils.address import to_checksum_address

from adapters.errors import ConfigError
from adapters.rlpcodec import keccak
from adapters.types import Address, Hash32
from contracts import ARTIFACTS_DIR
from devnet import keys as devnet_keys
from gateway.config.model import XgateConfig

# Explicit gas limits: estimation would fail for steps that depend on contracts deployed in the
# same batch (not mined yet). Unused gas is not charged.
DEPLOY_GAS = 7_000_000
CALL_GAS = 400_000
# Gas used by each step of a devnet deployment (receipts; a contract's deployment under its
# artifact, a call as ARTIFACT.function, the largest seen): `xgate deploy --dry-run` estimates
# the calls with it (their contracts are not deployed yet), tests/cli/test_deploy.py checks a
# deployment stays within it.
STEP_GAS: dict[str, int] = {
    "AssetVault": 3_309_077,
    "AssetVault.grantRole": 51_484,
    "AssetVault.renounceRole": 24_688,
    "AssetVault.setHoldDelay": 30_001,
    "AssetVault.setLimit": 75_545,
    "AssetVault.setPrivateTerms": 47_811,
    "AssetVault.setRemote": 48_013,
    "AssetVault.setRoute": 55_162,
    "AttestedHeaderStore": 2_086_812,
    "AttestedHeaderStore.grantRole": 101_113,
    "AttestedHeaderStore.renounceRole": 44_724,
    "BridgeEndpoint": 2_421_951,
    "BridgeEndpoint.grantRole": 51_166,
    "BridgeEndpoint.renounceRole": 24_599,
    "BridgeEndpoint.setRoute": 117_496,
    "CreditMirror": 1_225_060,
    "CreditMirror.grantRole": 51_077,
    "CreditMirror.renounceRole": 24_621,
    "CreditMirror.setRemote": 48_034,
    "CreditMirror.setSourceChain": 49_319,
    "CreditRegistry": 1_659_920,
    "CreditRegistry.grantRole": 51_529,
    "CreditRegistry.renounceRole": 24_600,
    "CreditRegistry.setMirrorChains": 73_003,
    "CreditRegistry.setRemote": 48_035,
    "FinancingDesk": 1_046_332,
    "HtlcErc20": 1_449_413,
    "HtlcErc721": 1_416_704,
    "HtlcNative": 1_247_504,
    "QbftLightClient": 2_965_387,
    "Receivable": 4_010_040,
    "Receivable.grantRole": 51_600,
    "Receivable.renounceRole": 24_628,
    "Receivable.setBridgeVault": 48_148,
    "Receivable.setSettlementToken": 49_574,
    "SettlementToken": 1_212_309,
    "SettlementToken.grantRole": 51_468,
    "SettlementToken.renounceRole": 24_672,
    "WrappedAssetGateway": 3_128_295,
    "WrappedAssetGateway.grantRole": 51_528,
    "WrappedAssetGateway.registerWrapped": 98_970,
    "WrappedAssetGateway.renounceRole": 24_622,
    "WrappedAssetGateway.setHoldDelay": 29_979,
    "WrappedAssetGateway.setLimit": 75_532,
    "WrappedAssetGateway.setRemote": 48_058,
    "WrappedERC20": 1_046_187,
    "WrappedReceivable": 1_646_157,
    "XgateTimelock": 1_596_690,
}
# Deployment keys (after the chain prefix) whose [chains.X.contracts] field is named otherwise.
CONTRACT_FIELDS = {"qbft_light_client": "light_client"}
# QbftLightClient (trust numerator, denominator, trusting period s, max clock drift s): the
# chain's own 2/3; a devnet that sits idle for a month needs a governance re-anchor.
LIGHT_CLIENT_TRUST = (2, 3, 30 * 24 * 3600, 15)

# Governance on the devnet: short delays, real wiring. Dev accounts (devnet.keys): 0 deploys
# and keeps the operational roles, 1-3 attest, GOVERNOR proposes to the timelocks, GUARDIAN
# pauses and cancels.
DEVNET_GOVERNOR_ACCOUNT = 4
DEVNET_GUARDIAN_ACCOUNT = 9
DEVNET_TIMELOCK_DELAY_S = 5
DEVNET_HOLD_DELAY_S = 30
OPEN_EXECUTOR = "0x" + "00" * 20  # TimelockController: address(0) as executor = anyone
INBOUND, OUTBOUND = 0, 1  # TransferLimits.Direction
NFT_UNITS = 10**6  # TransferLimits.NFT_UNITS: one ERC-721 token
DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Limit:
    """One TransferLimits bucket (``LimitConfig``): capacity, refill per second, and the size
    above which an inbound transfer is held (0: none)."""

    capacity: int
    rate: int
    delay_above: int = 0

    def config(self) -> tuple[bool, int, int, int]:
        return (True, self.capacity, self.rate, self.delay_above)

    def summary(self) -> dict[str, int]:
        return {"capacity": self.capacity, "rate_per_s": self.rate, "delay_above": self.delay_above}


# Settlement tokens (6 decimals): 1,000,000 per day each way, refilled continuously; an inbound
# transfer above 100,000 waits the hold delay. Receivables: 50 a day each way (one unit each).
SETTLEMENT_LIMIT = Limit(10**12, 10**12 // DAY_S, 10**11)
RECEIVABLE_LIMIT = Limit(50 * NFT_UNITS, 50 * NFT_UNITS // DAY_S)


@dataclass(frozen=True, slots=True)
class Ref:
    """The address of the contract deployed under ``key`` (keys are unique across chains)."""

    key: str


@dataclass(frozen=True, slots=True)
class Deploy:
    key: str
    artifact: str
    args: tuple[Any, ...] = ()
    # Described in .xgate/devnet.json beside the contract (Refs resolved to addresses).
    meta: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Call:
    target: str
    function: str
    args: tuple[Any, ...] = ()


Step = Deploy | Call


@dataclass(frozen=True, slots=True)
class Deployed:
    key: str
    artifact: str
    address: Address
    meta: tuple[tuple[str, Any], ...] = ()


def create_address(sender: bytes, nonce: int) -> Address:
    return Address(keccak(rlp.encode([sender, nonce]))[12:])


def public_prefix(index: int) -> str:
    """The deployment-key prefix of the ``index``-th public chain (from 0): ``p``, ``p2``,
    ``p3`` ... (the consortium's is ``c``)."""
    if index < 0:
        raise ConfigError("a public chain's index is never negative", index=index)
    return "p" if index == 0 else f"p{index + 1}"


def side_name(prefix: str) -> str:
    """The chain a deployment-key prefix names in .xgate/devnet.json and xgate.toml:
    ``c`` -> ``consortium``, ``p`` -> ``public``, ``p2`` -> ``public-2`` ..."""
    if prefix == "c":
        return "consortium"
    if prefix == "p":
        return "public"
    if prefix.startswith("p") and prefix[1:].isdigit() and int(prefix[1:]) >= 2:
        return f"public-{int(prefix[1:])}"
    raise ConfigError("not a deployment-key prefix", prefix=prefix)


def xgate_plan(
    *,
    admin: Address,
    attesters: Sequence[Address],
    attester_threshold: int,
    consortium_chain_id: int,
    public_chain_id: int,
    consortium_validators: Sequence[Address],
    trusted_consortium_header: tuple[int, Hash32, int],
    governor: Address | None = None,
    guardian: Address | None = None,
    timelock_delay_s: int = DEVNET_TIMELOCK_DELAY_S,
    hold_delay_s: int = DEVNET_HOLD_DELAY_S,
) -> tuple[list[Step], list[Step]]:
    """Steps for (consortium, public): ``hub_plan`` with one public chain (keys ``c.*`` and
    ``p.*``)."""
    consortium, (public,) = hub_plan(
        admin=admin,
        attesters=attesters,
        attester_threshold=attester_threshold,
        consortium_chain_id=consortium_chain_id,
        public_chain_ids=(public_chain_id,),
        consortium_validators=consortium_validators,
        trusted_consortium_header=trusted_consortium_header,
        governor=governor,
        guardian=guardian,
        timelock_delay_s=timelock_delay_s,
        hold_delay_s=hold_delay_s,
    )
    return consortium, public


def hub_plan(
    *,
    admin: Address,
    attesters: Sequence[Address],
    attester_threshold: int,
    consortium_chain_id: int,
    public_chain_ids: Sequence[int],
    consortium_validators: Sequence[Address],
    trusted_consortium_header: tuple[int, Hash32, int],
    governor: Address | None = None,
    guardian: Address | None = None,
    timelock_delay_s: int = DEVNET_TIMELOCK_DELAY_S,
    hold_delay_s: int = DEVNET_HOLD_DELAY_S,
    private_terms_chain_ids: Sequence[int] = (),
    arbiter: Address | None = None,
    public_admins: Sequence[Address] | None = None,
) -> tuple[list[Step], list[list[Step]]]:
    """Steps for the consortium (the hub) and for each public chain, in the order of
    ``public_chain_ids``. Keys: ``c.*`` live on the consortium chain, ``p.*`` on the first
    public chain, ``p2.*``, ``p3.*`` ... on the others (``public_prefix``). The consortium's
    contracts are deployed once and wired to every public chain (endpoint route with the
    header store as oracle, vault and credit registry remotes, vault routes and limits, the
    credit revocations' mirror chains); each public chain gets its own set (light client
    anchored on ``trusted_consortium_header``, endpoint, gateway and wrapped tokens, credit
    mirror, HTLCs, timelock), wired to the consortium only.

    Roles: ``admin`` deploys and configures, then hands DEFAULT_ADMIN_ROLE of every contract
    to its chain's timelock (``governor`` proposes there) and keeps only the operational roles
    (minter, issuer); ``guardian`` pauses and cancels; ``arbiter`` (default ``admin``) resolves
    disputed receivables. Governor and guardian default to the
    devnet's dev accounts DEVNET_GOVERNOR_ACCOUNT and DEVNET_GUARDIAN_ACCOUNT.

    ``private_terms_chain_ids`` (public chains among ``public_chain_ids``; from a config:
    ``private_terms_chain_ids``): receivables bridged there carry only a commitment to their
    terms (the vault's ``setPrivateTerms``).

    ``public_admins``: the deployer of each public chain when it is not ``admin`` (one key
    per chain, ``xgate deploy``'s ``[deploy.chain_signers]``)."""
    ids = [int(i) for i in public_chain_ids]
    admins = list(public_admins) if public_admins is not None else [admin] * len(ids)
    if len(admins) != len(ids):
        raise ConfigError("one admin per public chain", admins=len(admins), chains=len(ids))
    private = [int(i) for i in private_terms_chain_ids]
    if any(i not in ids for i in private):
        raise ConfigError(
            "private terms apply to public chains of the hub",
            public_chain_ids=ids,
            private_terms_chain_ids=private,
        )
    if not ids:
        raise ConfigError("the hub needs at least one public chain")
    if len(set(ids)) != len(ids) or consortium_chain_id in ids:
        raise ConfigError(
            "every chain needs its own chain id",
            consortium_chain_id=consortium_chain_id,
            public_chain_ids=ids,
        )
    dev = devnet_keys.dev_accounts(10)
    governor = governor or Address(dev[DEVNET_GOVERNOR_ACCOUNT].address)
    guardian = guardian or Address(dev[DEVNET_GUARDIAN_ACCOUNT].address)
    trusted_number, trusted_hash, trusted_timestamp = trusted_consortium_header
    prefixes = [public_prefix(i) for i in range(len(ids))]

    def timelock(side: str, administered: Sequence[str], limits: dict[str, Any]) -> Deploy:
        return Deploy(
            f"{side}.timelock",
            "XgateTimelock",
            (timelock_delay_s, [governor], [OPEN_EXECUTOR]),
            meta=(
                ("min_delay_s", timelock_delay_s),
                ("proposers", [governor]),
                ("executors", "anyone"),
                ("guardian", guardian),
                ("admin_of", [Ref(k) for k in administered]),
                ("deployer_keeps", "MINTER_ROLE, ISSUER_ROLE (operational, no admin)"),
                ("arbiter", arbiter or admin),
                ("hold_delay_s", hold_delay_s),
                ("limits", limits),
            ),
        )

    def described(limits: list[tuple[str, int, Limit]], remote: int) -> dict[str, Any]:
        return {
            f"{token.split('.', 1)[1]} {'inbound' if d == INBOUND else 'outbound'} "
            f"chain {remote}": limit.summary()
            for token, d, limit in limits
        }

    c_admin = ("c.endpoint", "c.header_store", "c.receivable", "c.settlement_token", "c.vault",
               "c.credit_registry")  # fmt: skip
    vault_limits = _both_ways(
        ("c.settlement_token", SETTLEMENT_LIMIT), ("c.receivable", RECEIVABLE_LIMIT)
    )
    consortium: list[Step] = [
        timelock(
            "c",
            c_admin,
            {"vault": {k: v for i in ids for k, v in described(vault_limits, i).items()}},
        ),
        Deploy("c.endpoint", "BridgeEndpoint", (admin, guardian)),
        Deploy(
            "c.header_store", "AttestedHeaderStore", (admin, list(attesters), attester_threshold)
        ),
        Deploy("c.receivable", "Receivable", ("xgate Receivable", "XRCV", admin)),
        Deploy("c.settlement_token", "SettlementToken", ("Settlement Token", "XST", 6, admin)),
        Deploy("c.vault", "AssetVault", (Ref("c.endpoint"), admin)),
        Deploy("c.credit_registry", "CreditRegistry", (Ref("c.endpoint"), admin)),
        Deploy("c.htlc_native", "HtlcNative"),
        Deploy("c.htlc_erc20", "HtlcErc20"),
        Deploy("c.htlc_erc721", "HtlcErc721"),
        Deploy("c.financing_desk", "FinancingDesk"),
    ]
    for p, chain_id in zip(prefixes, ids, strict=True):
        consortium += [
            # one header store answers for every public chain (headers are keyed by chain id)
            Call("c.endpoint", "setRoute", (chain_id, Ref(f"{p}.endpoint"), Ref("c.header_store"))),
            Call("c.vault", "setRemote", (chain_id, Ref(f"{p}.asset_gateway"))),
            Call("c.vault", "setRoute", (Ref("c.settlement_token"), chain_id, True)),
            Call("c.vault", "setRoute", (Ref("c.receivable"), chain_id, True)),
            *(
                [Call("c.vault", "setPrivateTerms", (chain_id, True))]
                if chain_id in private
                else []
            ),
            Call("c.credit_registry", "setRemote", (chain_id, Ref(f"{p}.credit_mirror"))),
        ]
    consortium += [
        # revocations fan out on chain to every mirror chain (no publisher needed)
        Call("c.credit_registry", "setMirrorChains", (ids,)),
        Call("c.receivable", "grantRole", (_role("ISSUER_ROLE"), admin)),
        Call("c.receivable", "grantRole", (_role("ARBITER_ROLE"), arbiter or admin)),
        # a receivable the vault holds is bridged out: not payable at home (phase 1)
        Call("c.receivable", "setBridgeVault", (Ref("c.vault"), True)),
        # receivables in CNY settle in the settlement token: 6 decimals, 10**4 units per fen
        Call("c.receivable", "setSettlementToken", (b"CNY", Ref("c.settlement_token"), 10**4)),
        Call("c.settlement_token", "grantRole", (_role("MINTER_ROLE"), admin)),
        Call("c.credit_registry", "grantRole", (_role("ISSUER_ROLE"), admin)),
        *(step for i in ids for step in _limit_steps("c.vault", vault_limits, i)),
        *_guard_steps("c.vault", guardian, hold_delay_s),
        *_handover(c_admin, "c.timelock", admin),
    ]
    publics = [
        _public_plan(
            p,
            admin=public_admin,
            guardian=guardian,
            consortium_chain_id=consortium_chain_id,
            consortium_validators=consortium_validators,
            trusted=(trusted_number, trusted_hash, trusted_timestamp),
            timelock=timelock,
            described=described,
            hold_delay_s=hold_delay_s,
        )
        for p, public_admin in zip(prefixes, admins, strict=True)
    ]
    return consortium, publics


def _public_plan(
    p: str,
    *,
    admin: Address,
    guardian: Address,
    consortium_chain_id: int,
    consortium_validators: Sequence[Address],
    trusted: tuple[int, Hash32, int],
    timelock: Callable[[str, Sequence[str], dict[str, Any]], Deploy],
    described: Callable[[list[tuple[str, int, Limit]], int], dict[str, Any]],
    hold_delay_s: int,
) -> list[Step]:
    """One public chain's steps (keys ``{p}.*``), wired to the consortium's contracts."""
    trusted_number, trusted_hash, trusted_timestamp = trusted
    p_admin = (f"{p}.endpoint", f"{p}.asset_gateway", f"{p}.credit_mirror",
               f"{p}.settlement_token")  # fmt: skip
    gateway_limits = _both_ways(
        (f"{p}.wrapped_settlement_token", SETTLEMENT_LIMIT),
        (f"{p}.wrapped_receivable", RECEIVABLE_LIMIT),
    )
    return [
        timelock(p, p_admin, {"asset_gateway": described(gateway_limits, consortium_chain_id)}),
        Deploy(f"{p}.endpoint", "BridgeEndpoint", (admin, guardian)),
        Deploy(
            f"{p}.qbft_light_client",
            "QbftLightClient",
            (
                consortium_chain_id,
                sorted(consortium_validators),
                trusted_number,
                trusted_hash,
                trusted_timestamp,
                Ref(f"{p}.timelock"),  # governance: re-anchor, revoke, periods (time-locked)
                LIGHT_CLIENT_TRUST,
            ),
        ),
        Deploy(f"{p}.asset_gateway", "WrappedAssetGateway", (Ref(f"{p}.endpoint"), admin)),
        Deploy(
            f"{p}.wrapped_settlement_token",
            "WrappedERC20",
            (
                "Wrapped Settlement Token",
                "wXST",
                6,
                Ref(f"{p}.asset_gateway"),
                consortium_chain_id,
                Ref("c.settlement_token"),
            ),
        ),
        Deploy(
            f"{p}.wrapped_receivable",
            "WrappedReceivable",
            (
                "Wrapped xgate Receivable",
                "wXRCV",
                Ref(f"{p}.asset_gateway"),
                consortium_chain_id,
                Ref("c.receivable"),
            ),
        ),
        Deploy(f"{p}.credit_mirror", "CreditMirror", (Ref(f"{p}.endpoint"), admin)),
        Deploy(
            f"{p}.settlement_token",
            "SettlementToken",
            ("Public Settlement Token", "PST", 6, admin),
        ),
        Deploy(f"{p}.htlc_native", "HtlcNative"),
        Deploy(f"{p}.htlc_erc20", "HtlcErc20"),
        Deploy(f"{p}.htlc_erc721", "HtlcErc721"),
        Deploy(f"{p}.financing_desk", "FinancingDesk"),
        Call(
            f"{p}.endpoint",
            "setRoute",
            (consortium_chain_id, Ref("c.endpoint"), Ref(f"{p}.qbft_light_client")),
        ),
        Call(f"{p}.asset_gateway", "setRemote", (consortium_chain_id, Ref("c.vault"))),
        Call(f"{p}.asset_gateway", "registerWrapped", (Ref(f"{p}.wrapped_settlement_token"),)),
        Call(f"{p}.asset_gateway", "registerWrapped", (Ref(f"{p}.wrapped_receivable"),)),
        Call(f"{p}.credit_mirror", "setRemote", (consortium_chain_id, Ref("c.credit_registry"))),
        Call(f"{p}.credit_mirror", "setSourceChain", (consortium_chain_id,)),
        Call(f"{p}.settlement_token", "grantRole", (_role("MINTER_ROLE"), admin)),
        *_limit_steps(f"{p}.asset_gateway", gateway_limits, consortium_chain_id),
        *_guard_steps(f"{p}.asset_gateway", guardian, hold_delay_s),
        *_handover(p_admin, f"{p}.timelock", admin),
    ]


def private_terms_chain_ids(cfg: XgateConfig) -> tuple[int, ...]:
    """The chain ids of the public chains whose route from the hub has ``private_terms`` (for
    ``hub_plan``; the config model has checked that such routes leave the hub)."""
    return tuple(
        cfg.chains[route.destination].chain_id
        for route in cfg.routes
        if route.private_terms and route.source == cfg.hub
    )


def _both_ways(*limits: tuple[str, Limit]) -> list[tuple[str, int, Limit]]:
    """(token key, direction, limit) for each token's limit, inbound and outbound alike."""
    return [(token, d, limit) for token, limit in limits for d in (INBOUND, OUTBOUND)]


def _limit_steps(
    app: str, limits: Sequence[tuple[str, int, Limit]], remote_chain_id: int
) -> list[Step]:
    """Turn on an asset app's value limits towards one remote chain."""
    return [
        Call(app, "setLimit", (Ref(token), remote_chain_id, direction, limit.config()))
        for token, direction, limit in limits
    ]


def _guard_steps(app: str, guardian: Address, hold_delay_s: int) -> list[Step]:
    """An asset app's hold delay and its guardian (once per app, whatever its remotes)."""
    return [
        Call(app, "setHoldDelay", (hold_delay_s,)),
        Call(app, "grantRole", (_role("GUARDIAN_ROLE"), guardian)),
    ]


def _handover(keys: Sequence[str], timelock: str, deployer: Address) -> list[Step]:
    """The last steps: the timelock becomes every contract's admin, the deployer stops being one."""
    return [
        *(Call(key, "grantRole", (ADMIN_ROLE, Ref(timelock))) for key in keys),
        *(Call(key, "renounceRole", (ADMIN_ROLE, deployer)) for key in keys),
    ]


ADMIN_ROLE = b"\x00" * 32  # AccessControl.DEFAULT_ADMIN_ROLE


def _role(name: str) -> bytes:
    return keccak(name.encode())


def deployment_summary(deployed: dict[str, Deployed]) -> dict[str, Any]:
    """The contracts part of .xgate/devnet.json: per chain (``consortium``, ``public``,
    ``public-2`` ...: ``side_name`` of the keys' prefixes), each contract's address and ABI,
    and, under ``governance``, who holds which role and the limits in force."""
    out: dict[str, Any] = {"abi_dir": str(ARTIFACTS_DIR.resolve()), "consortium": {}, "public": {}}
    governance: dict[str, Any] = {}
    for key, item in sorted(deployed.items()):
        prefix, name = key.split(".", 1)
        chain = side_name(prefix)
        out.setdefault(chain, {})[name] = {
            "address": to_checksum_address(item.address),
            "contract": item.artifact,
            "abi": str((ARTIFACTS_DIR / f"{item.artifact}.json").resolve()),
        }
        if item.meta:
            governance[chain] = {"timelock": to_checksum_address(item.address)} | {
                k: _json_value(v) for k, v in item.meta
            }
    out["governance"] = governance
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, bytes) and len(value) == 20:
        return to_checksum_address(value)
    return value
