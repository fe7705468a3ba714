"""Deploy and wire every xgate contract on a consortium chain and a public chain.

Used by ``xgate devnet up``. The plan is data: a list of deploy and call steps per chain whose
arguments may name other contracts (on either chain) by key. Contract addresses are known
before anything is sent (CREATE addresses follow the deployer's nonce), so both chains'
transactions are sent back to back through each chain's single signer writer and mined
together, instead of one round trip per step.
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

# Explicit gas limits: estimation would fail for steps that depend on contracts deployed in the
# same batch (not mined yet). Unused gas is not charged.
DEPLOY_GAS = 7_000_000
CALL_GAS = 400_000
RECEIPT_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Ref:
    """The address of the contract deployed under ``key`` (keys are unique across chains)."""

    key: str


@dataclass(frozen=True, slots=True)
class Deploy:
    key: str
    artifact: str
    args: tuple[Any, ...] = ()


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
    trusted_consortium_header: tuple[int, Hash32],
) -> tuple[list[Step], list[Step]]:
    """Steps for (consortium, public). Keys: ``c.*`` live on the consortium chain, ``p.*`` on the
    public chain. Roles: ``admin`` administers everything (dev setup)."""
    trusted_number, trusted_hash = trusted_consortium_header
    consortium: list[Step] = [
        Deploy("c.endpoint", "BridgeEndpoint", (admin, admin)),
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
        Call("c.receivable", "grantRole", (_role("ISSUER_ROLE"), admin)),
        Call("c.settlement_token", "grantRole", (_role("MINTER_ROLE"), admin)),
        Call("c.credit_registry", "grantRole", (_role("ISSUER_ROLE"), admin)),
    ]
    public: list[Step] = [
        Deploy("p.endpoint", "BridgeEndpoint", (admin, admin)),
        Deploy(
            "p.qbft_light_client",
            "QbftLightClient",
            (consortium_chain_id, sorted(consortium_validators), trusted_number, trusted_hash),
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
        Call("p.settlement_token", "grantRole", (_role("MINTER_ROLE"), admin)),
    ]
    return consortium, public


def _role(name: str) -> bytes:
    return keccak(name.encode())


async def execute(plans: Sequence[ChainPlan]) -> dict[str, Deployed]:
    """Send every plan's steps (chains in parallel) and return the deployed contracts by key.

    Raises ``TransactionFailed`` naming the step if any transaction reverts.
    """
    addresses: dict[str, Address] = {}
    artifacts: dict[str, str] = {}
    for plan in plans:
        nonce = await plan.adapter.pending_nonce(plan.deployer)
        for step in plan.steps:
            if isinstance(step, Deploy):
                addresses[step.key] = create_address(plan.deployer, nonce)
                artifacts[step.key] = step.artifact
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
    return {key: Deployed(key, artifacts[key], address) for key, address in addresses.items()}


def _describe(step: Step) -> str:
    if isinstance(step, Deploy):
        return f"deploy {step.artifact} as {step.key}"
    return f"{step.target}.{step.function}"


def deployment_summary(deployed: dict[str, Deployed]) -> dict[str, Any]:
    """The contracts part of .xgate/devnet.json: per chain, each contract's address and ABI."""
    out: dict[str, Any] = {"abi_dir": str(ARTIFACTS_DIR.resolve()), "consortium": {}, "public": {}}
    for key, item in sorted(deployed.items()):
        side, name = key.split(".", 1)
        out["consortium" if side == "c" else "public"][name] = {
            "address": to_checksum_address(item.address),
            "contract": item.artifact,
            "abi": str((ARTIFACTS_DIR / f"{item.artifact}.json").resolve()),
        }
    return out
