"""Deploy and wire every xgate contract on a consortium chain and a public chain.

Used by ``xgate devnet up``. The plan is data: a list of deploy and call steps per chain whose
arguments may name other contracts (on either chain) by key. Contract addresses are known
before anything is sent (CREATE addresses follow the deployer's nonce), so both chains'
transactions are sent back to back through each chain's single signer writer and mined
together, instead of one round trip per step.

Governance (README "Governance"): each chain gets an ``XgateTimelock`` (OpenZeppelin
TimelockController; proposer: the governor key, executor: anyone, no timelock admin). The
deployer configures everything, then grants DEFAULT_ADMIN_ROLE of every contract to the
timelock and renounces its own, so afterwards every admin change is scheduled, waits the
timelock's delay and is executed; the deployer keeps only operational roles (minter, issuer).
The guardian key may pause the endpoints and cancel held transfers or tighten limits at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_utils.address import to_checksum_address

from adapters.base import TxRequest
from adapters.errors import TransactionFailed
from adapters.evm import EvmAdapter
from adapters.rlpcodec import keccak
from adapters.types import Address, Finality, Hash32
from contracts import ARTIFACTS_DIR, load_artifact
from devnet import keys as devnet_keys

# Explicit gas limits: estimation would fail for steps that depend on contracts deployed in the
# same batch (not mined yet). Unused gas is not charged.
DEPLOY_GAS = 7_000_000
CALL_GAS = 400_000
# QbftLightClient (trust numerator, denominator, trusting period s, max clock drift s): the
# chain's own 2/3; a devnet that sits idle for a month needs a governance re-anchor.
LIGHT_CLIENT_TRUST = (2, 3, 30 * 24 * 3600, 15)
RECEIPT_TIMEOUT_S = 120.0

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


@dataclass
class ChainPlan:
    """The steps for one chain, sent in order by ``deployer`` through ``adapter``."""

    adapter: EvmAdapter
    deployer: Address
    steps: list[Step] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Deployed:
    key: str
    artifact: str
    address: Address
    meta: tuple[tuple[str, Any], ...] = ()


def create_address(sender: bytes, nonce: int) -> Address:
    return Address(keccak(rlp.encode([sender, nonce]))[12:])


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
    """Steps for (consortium, public). Keys: ``c.*`` live on the consortium chain, ``p.*`` on the
    public chain. Roles: ``admin`` deploys and configures, then hands DEFAULT_ADMIN_ROLE of
    every contract to the chain's timelock (``governor`` proposes there) and keeps only the
    operational roles (minter, issuer); ``guardian`` pauses and cancels. Governor and guardian
    default to the devnet's dev accounts DEVNET_GOVERNOR_ACCOUNT and DEVNET_GUARDIAN_ACCOUNT."""
    dev = devnet_keys.dev_accounts(10)
    governor = governor or Address(dev[DEVNET_GOVERNOR_ACCOUNT].address)
    guardian = guardian or Address(dev[DEVNET_GUARDIAN_ACCOUNT].address)
    trusted_number, trusted_hash, trusted_timestamp = trusted_consortium_header

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
                ("hold_delay_s", hold_delay_s),
                ("limits", limits),
            ),
        )

    c_admin = ("c.endpoint", "c.header_store", "c.receivable", "c.settlement_token", "c.vault",
               "c.credit_registry")  # fmt: skip
    p_admin = ("p.endpoint", "p.asset_gateway", "p.credit_mirror", "p.settlement_token")
    vault_limits = _both_ways(
        ("c.settlement_token", SETTLEMENT_LIMIT), ("c.receivable", RECEIVABLE_LIMIT)
    )
    gateway_limits = _both_ways(
        ("p.wrapped_settlement_token", SETTLEMENT_LIMIT), ("p.wrapped_receivable", RECEIVABLE_LIMIT)
    )

    def described(limits: list[tuple[str, int, Limit]], remote: int) -> dict[str, Any]:
        return {
            f"{token.split('.', 1)[1]} {'inbound' if d == INBOUND else 'outbound'} "
            f"chain {remote}": limit.summary()
            for token, d, limit in limits
        }

    consortium: list[Step] = [
        timelock("c", c_admin, {"vault": described(vault_limits, public_chain_id)}),
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
        Call("c.endpoint", "setRoute", (public_chain_id, Ref("p.endpoint"), Ref("c.header_store"))),
        Call("c.vault", "setRemote", (public_chain_id, Ref("p.asset_gateway"))),
        Call("c.vault", "setRoute", (Ref("c.settlement_token"), public_chain_id, True)),
        Call("c.vault", "setRoute", (Ref("c.receivable"), public_chain_id, True)),
        Call("c.credit_registry", "setRemote", (public_chain_id, Ref("p.credit_mirror"))),
        # revocations fan out on chain to every mirror chain (no publisher needed)
        Call("c.credit_registry", "setMirrorChains", ([public_chain_id],)),
        Call("c.receivable", "grantRole", (_role("ISSUER_ROLE"), admin)),
        Call("c.settlement_token", "grantRole", (_role("MINTER_ROLE"), admin)),
        Call("c.credit_registry", "grantRole", (_role("ISSUER_ROLE"), admin)),
        *_limit_steps("c.vault", vault_limits, public_chain_id, guardian, hold_delay_s),
        *_handover(c_admin, "c.timelock", admin),
    ]
    public: list[Step] = [
        timelock("p", p_admin, {"asset_gateway": described(gateway_limits, consortium_chain_id)}),
        Deploy("p.endpoint", "BridgeEndpoint", (admin, guardian)),
        Deploy(
            "p.qbft_light_client",
            "QbftLightClient",
            (
                consortium_chain_id,
                sorted(consortium_validators),
                trusted_number,
                trusted_hash,
                trusted_timestamp,
                Ref("p.timelock"),  # governance: re-anchor, revoke, periods (time-locked)
                LIGHT_CLIENT_TRUST,
            ),
        ),
        Deploy("p.asset_gateway", "WrappedAssetGateway", (Ref("p.endpoint"), admin)),
        Deploy(
            "p.wrapped_settlement_token",
            "WrappedERC20",
            (
                "Wrapped Settlement Token",
                "wXST",
                6,
                Ref("p.asset_gateway"),
                consortium_chain_id,
                Ref("c.settlement_token"),
            ),
        ),
        Deploy(
            "p.wrapped_receivable",
            "WrappedReceivable",
            (
                "Wrapped xgate Receivable",
                "wXRCV",
                Ref("p.asset_gateway"),
                consortium_chain_id,
                Ref("c.receivable"),
            ),
        ),
        Deploy("p.credit_mirror", "CreditMirror", (Ref("p.endpoint"), admin)),
        Deploy(
            "p.settlement_token", "SettlementToken", ("Public Settlement Token", "PST", 6, admin)
        ),
        Deploy("p.htlc_native", "HtlcNative"),
        Deploy("p.htlc_erc20", "HtlcErc20"),
        Deploy("p.htlc_erc721", "HtlcErc721"),
        Call(
            "p.endpoint",
            "setRoute",
            (consortium_chain_id, Ref("c.endpoint"), Ref("p.qbft_light_client")),
        ),
        Call("p.asset_gateway", "setRemote", (consortium_chain_id, Ref("c.vault"))),
        Call("p.asset_gateway", "registerWrapped", (Ref("p.wrapped_settlement_token"),)),
        Call("p.asset_gateway", "registerWrapped", (Ref("p.wrapped_receivable"),)),
        Call("p.credit_mirror", "setRemote", (consortium_chain_id, Ref("c.credit_registry"))),
        Call("p.credit_mirror", "setSourceChain", (consortium_chain_id,)),
        Call("p.settlement_token", "grantRole", (_role("MINTER_ROLE"), admin)),
        *_limit_steps(
            "p.asset_gateway", gateway_limits, consortium_chain_id, guardian, hold_delay_s
        ),
        *_handover(p_admin, "p.timelock", admin),
    ]
    return consortium, public


def _both_ways(*limits: tuple[str, Limit]) -> list[tuple[str, int, Limit]]:
    """(token key, direction, limit) for each token's limit, inbound and outbound alike."""
    return [(token, d, limit) for token, limit in limits for d in (INBOUND, OUTBOUND)]


def _limit_steps(
    app: str,
    limits: Sequence[tuple[str, int, Limit]],
    remote_chain_id: int,
    guardian: Address,
    hold_delay_s: int,
) -> list[Step]:
    """Turn on an asset app's value limits, its hold delay and its guardian."""
    return [
        *(
            Call(app, "setLimit", (Ref(token), remote_chain_id, direction, limit.config()))
            for token, direction, limit in limits
        ),
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


async def execute(plans: Sequence[ChainPlan]) -> dict[str, Deployed]:
    """Send every plan's steps (chains in parallel) and return the deployed contracts by key.

    Raises ``TransactionFailed`` naming the step if any transaction reverts.
    """
    addresses: dict[str, Address] = {}
    artifacts: dict[str, str] = {}
    metas: dict[str, tuple[tuple[str, Any], ...]] = {}
    for plan in plans:
        nonce = await plan.adapter.pending_nonce(plan.deployer)
        for step in plan.steps:
            if isinstance(step, Deploy):
                addresses[step.key] = create_address(plan.deployer, nonce)
                artifacts[step.key] = step.artifact
                metas[step.key] = step.meta
            nonce += 1

    def resolve(value: Any) -> Any:
        if isinstance(value, Ref):
            return to_checksum_address(addresses[value.key])
        if isinstance(value, list | tuple):
            return [resolve(v) for v in value]
        if isinstance(value, bytes) and len(value) == 20:
            return to_checksum_address(value)
        return value

    def request(step: Step, sender: Address) -> TxRequest:
        args = tuple(resolve(a) for a in step.args)
        if isinstance(step, Deploy):
            data = load_artifact(step.artifact).deploy_data(*args)
            return TxRequest(to=None, data=data, gas=DEPLOY_GAS, sender=sender)
        target = load_artifact(artifacts[step.target])
        data = target.call_data(step.function, *args)
        return TxRequest(to=addresses[step.target], data=data, gas=CALL_GAS, sender=sender)

    async def run(plan: ChainPlan) -> None:
        sent = [
            (step, await plan.adapter.submit(request(step, plan.deployer))) for step in plan.steps
        ]
        for step, tx_hash in sent:
            try:
                receipt = await plan.adapter.wait_final(
                    tx_hash, Finality.latest(), RECEIPT_TIMEOUT_S
                )
            except TransactionFailed as exc:
                raise TransactionFailed(
                    f"deployment step failed: {_describe(step)}", chain_id=plan.adapter.ref.chain_id
                ) from exc
            if isinstance(step, Deploy) and receipt.contract_address != addresses[step.key]:
                raise TransactionFailed(
                    "contract landed at an unexpected address (another sender used the deployer "
                    "key meanwhile?)",
                    step=_describe(step),
                )

    await asyncio.gather(*(run(plan) for plan in plans))
    return {
        key: Deployed(key, artifacts[key], address, tuple((k, resolve(v)) for k, v in metas[key]))
        for key, address in addresses.items()
    }


def _describe(step: Step) -> str:
    if isinstance(step, Deploy):
        return f"deploy {step.artifact} as {step.key}"
    return f"{step.target}.{step.function}"


def deployment_summary(deployed: dict[str, Deployed]) -> dict[str, Any]:
    """The contracts part of .xgate/devnet.json: per chain, each contract's address and ABI,
    and, under ``governance``, who holds which role and the limits in force."""
    out: dict[str, Any] = {
        "abi_dir": str(ARTIFACTS_DIR.resolve()),
        "consortium": {},
        "public": {},
        "governance": {},
    }
    for key, item in sorted(deployed.items()):
        side, name = key.split(".", 1)
        chain = "consortium" if side == "c" else "public"
        out[chain][name] = {
            "address": to_checksum_address(item.address),
            "contract": item.artifact,
            "abi": str((ARTIFACTS_DIR / f"{item.artifact}.json").resolve()),
        }
        if item.meta:
            out["governance"][chain] = {"timelock": to_checksum_address(item.address)} | {
                k: _json_value(v) for k, v in item.meta
            }
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, bytes) and len(value) == 20:
        return to_checksum_address(value)
    return value
