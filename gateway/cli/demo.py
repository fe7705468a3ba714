"""The narrated walk through xgate's flows that `make run` (`xgate devnet up --demo`) shows once
the devnet and the services are up.

Users here only sign their own transactions on their own chain (dev accounts: alice 7, bob 8);
everything that crosses a chain is carried by the services (relayer, attesters, keeper) started
beside the devnet. Each step prints what was done and how long the crossing took.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode

from adapters.errors import XgateError
from adapters.signer import LocalSigner
from adapters.types import Address, Hash32
from devnet.keys import dev_accounts
from gateway.cli import finance_demo as f
from gateway.cli.demo_sides import (
    ADMIN,
    ALICE,
    BOB,
    REVOKED,
    DemoFailed,
    Side,
    crossing,
    dev_account,
    financing_terms,
    open_sides,
    raw_address,
    say,
)
from gateway.cli.logs import configure_logging
from gateway.config import XgateConfig, load_config, load_signer
from gateway.domain.disclosure import new_salt, terms_commitment
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState
from gateway.domain.swaps import swap_key
from gateway.domain.typed_data import htlc_claim_message
from gateway.store import Store
from relayers.service import Role, run_services


async def run_demo(summary: Mapping[str, Any], cfg: XgateConfig, keeper: Address) -> None:
    consortium, publics = open_sides(summary, cfg)
    public = publics[0]
    adapters = [consortium.adapter, *(p.adapter for p in publics)]
    for adapter in adapters:
        await adapter.start()
    try:
        flows: Sequence[tuple[str, Callable[[], Awaitable[Any]]]] = (
            ("settlement tokens, consortium -> public -> consortium",
             lambda: settlement_round_trip(consortium, public)),
            ("a receivable with its financing terms, there and back",
             lambda: receivable_round_trip(consortium, public)),
            ("a credit attestation reaches the public mirror, then its revocation",
             lambda: credit_attestation(consortium, public)),
            ("an atomic swap: a receivable against settlement tokens, the keeper completes it",
             lambda: atomic_swap(consortium, public, cfg.store.url, keeper)),
        )  # fmt: skip
        if len(publics) > 1:
            flows = (*flows, (
                f"a receivable travels {publics[0].name} -> consortium -> {publics[1].name} "
                "while settlement tokens flow to both",
                lambda: across_the_hub(consortium, publics[0], publics[1]),
            ))  # fmt: skip
        flows = (*flows, *await finance_flows(consortium, publics, cfg))
        for i, (title, flow) in enumerate(flows, 1):
            say(f"\n[{i}/{len(flows)}] {title}")
            await flow()
        say("\nAll flows done. The devnet and the services keep running; Ctrl-C stops them.")
    finally:
        for adapter in adapters:
            await adapter.aclose()


async def settlement_round_trip(consortium: Side, public: Side) -> None:
    amount = 2_500 * 10**6
    alice = dev_account(ALICE)
    token = consortium.address("settlement_token")
    await consortium.send(ADMIN, "settlement_token", "mint", alice, amount)
    await consortium.send(ALICE, "settlement_token", "approve", consortium.address("vault"), amount)
    before = await public.view("wrapped_settlement_token", "balanceOf", alice)
    lock = await consortium.send(ALICE, "vault", "lockERC20", token, amount, public.chain_id, alice)
    say(
        f"    alice locked 2,500 settlement tokens in the vault (consortium block {lock.block_number})"
    )

    async def minted() -> bool:
        return bool(
            await public.view("wrapped_settlement_token", "balanceOf", alice) == before + amount
        )

    await crossing("relayed and minted on the public chain", minted)
    home = await consortium.view("settlement_token", "balanceOf", alice)
    burn = await public.send(
        ALICE, "asset_gateway", "burnERC20", public.address("wrapped_settlement_token"),
        amount, alice,
    )  # fmt: skip
    say(f"    alice burnt them on the public chain (block {burn.block_number})")

    async def released() -> bool:
        return bool(await consortium.view("settlement_token", "balanceOf", alice) == home + amount)

    await crossing("attested, relayed and released on the consortium", released)


async def _draft_acknowledged(consortium: Side, financing: tuple[Any, ...]) -> int:
    """The issuer drafts a receivable for its creditor and bob, its debtor, acknowledges it
    (only an acknowledged receivable can be transferred or bridged); the token id."""
    await consortium.send(ADMIN, "receivable", "draft", financing)
    token_id = int(await consortium.view("receivable", "tokenOfDocument", financing[5]))
    await consortium.send(BOB, "receivable", "acknowledge", token_id)
    return token_id


async def receivable_round_trip(consortium: Side, public: Side) -> None:
    alice, bob = dev_account(ALICE), dev_account(BOB)
    document = hashlib.sha256(b"demo invoice " + os.urandom(8)).digest()
    due = await consortium.now() + 90 * 86400
    financing = (bob, alice, 125_000_00, b"CNY", due, document)
    token_id = await _draft_acknowledged(consortium, financing)
    say(f"    receivable #{token_id} for alice, acknowledged by bob: 125,000.00 CNY in 90 days")
    await consortium.send(ALICE, "receivable", "approve", consortium.address("vault"), token_id)
    await consortium.send(
        ALICE, "vault", "lockERC721", consortium.address("receivable"), token_id,
        public.chain_id, alice,
    )  # fmt: skip

    async def wrapped() -> bool:
        try:
            return (
                raw_address(await public.view("wrapped_receivable", "ownerOf", token_id)) == alice
            )
        except XgateError:
            return False  # not minted yet

    await crossing("wrapped receivable minted to alice on the public chain", wrapped)
    terms = tuple(await public.view("wrapped_receivable", "financingOf", token_id))
    home_terms = tuple(await consortium.view("receivable", "financingOf", token_id))
    if terms != home_terms:
        raise DemoFailed("the wrapped receivable's terms differ from the original's")
    say("    its financing terms on the public chain equal the consortium's")
    await public.send(
        ALICE, "asset_gateway", "burnERC721", public.address("wrapped_receivable"), token_id, alice
    )

    async def back() -> bool:
        return raw_address(await consortium.view("receivable", "ownerOf", token_id)) == alice

    await crossing("released back to alice on the consortium", back)


async def across_the_hub(consortium: Side, first: Side, second: Side) -> None:
    """The consortium is the hub: a receivable bridged out to one public chain comes home and
    goes on to another, every hop verified; settlement tokens cross to both meanwhile."""
    alice, bob = dev_account(ALICE), dev_account(BOB)
    amount = 500 * 10**6
    token = consortium.address("settlement_token")
    await consortium.send(ADMIN, "settlement_token", "mint", bob, 2 * amount)
    await consortium.send(
        BOB, "settlement_token", "approve", consortium.address("vault"), 2 * amount
    )
    before = [await p.view("wrapped_settlement_token", "balanceOf", bob) for p in (first, second)]
    for p in (first, second):
        await consortium.send(BOB, "vault", "lockERC20", token, amount, p.chain_id, bob)
    say(f"    bob sent 500 settlement tokens to each of {first.name} and {second.name}")

    document = hashlib.sha256(b"demo hub invoice " + os.urandom(8)).digest()
    due = await consortium.now() + 30 * 86400
    financing = (bob, alice, 80_000_00, b"CNY", due, document)
    token_id = await _draft_acknowledged(consortium, financing)
    receivable, vault = consortium.address("receivable"), consortium.address("vault")
    await consortium.send(ALICE, "receivable", "approve", vault, token_id)
    await consortium.send(ALICE, "vault", "lockERC721", receivable, token_id, first.chain_id, alice)

    async def owned_on(side: Side) -> bool:
        try:
            return raw_address(await side.view("wrapped_receivable", "ownerOf", token_id)) == alice
        except XgateError:
            return False  # not minted there (yet)

    await crossing(f"receivable #{token_id} wrapped on {first.name}", lambda: owned_on(first))
    await first.send(
        ALICE, "asset_gateway", "burnERC721", first.address("wrapped_receivable"), token_id, alice
    )

    async def home() -> bool:
        return raw_address(await consortium.view("receivable", "ownerOf", token_id)) == alice

    await crossing("back in the consortium hub", home)
    await consortium.send(ALICE, "receivable", "approve", vault, token_id)
    private = bool(await consortium.view("vault", "privateTerms", second.chain_id))
    salt = new_salt()
    await consortium.send(
        ALICE, "vault", *(("lockERC721Private",) if private else ("lockERC721",)),
        receivable, token_id, second.chain_id, alice, *((salt,) if private else ()),
    )  # fmt: skip
    await crossing(f"wrapped on {second.name}", lambda: owned_on(second))
    home_terms = await consortium.view("receivable", "financingOf", token_id)
    if private:
        committed = await second.view("wrapped_receivable", "commitmentOf", token_id)
        if committed != terms_commitment(salt, financing_terms(home_terms)):
            raise DemoFailed(f"the commitment on {second.name} does not bind the terms")
        say(f"    {second.name} has a commitment to its terms only (a private-terms route)")
    elif tuple(await second.view("wrapped_receivable", "financingOf", token_id)) != home_terms:
        raise DemoFailed(f"the receivable's terms on {second.name} differ from the original's")

    async def both_funded() -> bool:
        now = [await p.view("wrapped_settlement_token", "balanceOf", bob) for p in (first, second)]
        return all(n == b + amount for n, b in zip(now, before, strict=True))

    await crossing("bob's settlement tokens arrived on both public chains", both_funded)


async def credit_attestation(consortium: Side, public: Side) -> None:
    subject = dev_account(BOB)
    grade = b"AA-".ljust(32, b"\0")
    valid_until = await consortium.now() + 365 * 86400
    report = hashlib.sha256(b"demo rating report").digest()
    await consortium.send(
        ADMIN, "credit_registry", "attest", subject, 742, grade, valid_until, report
    )
    await consortium.send(ADMIN, "credit_registry", "publish", subject, public.chain_id)
    say("    the issuer attested bob's credit (742, AA-) and published it to the public chain")

    async def mirrored() -> bool:
        return bool((await public.view("credit_mirror", "creditOf", subject))[0] == 742)

    await crossing("creditOf(bob) on the public chain reads 742 / AA-", mirrored)
    await consortium.send(ADMIN, "credit_registry", "revoke", subject)
    await consortium.send(ADMIN, "credit_registry", "publish", subject, public.chain_id)
    say("    the issuer revoked it")

    async def revoked() -> bool:
        return bool((await public.view("credit_mirror", "creditOf", subject))[4] == REVOKED)

    await crossing("the revocation reached the public mirror", revoked)


async def atomic_swap(consortium: Side, public: Side, store_url: str, keeper: Address) -> None:
    """Alice sells a receivable (consortium) to bob for settlement tokens (public). Alice holds
    the secret; bob authorises the keeper to claim the receivable for him."""
    alice, bob = dev_account(ALICE), dev_account(BOB)
    price = 100_000 * 10**6
    document = hashlib.sha256(b"demo swap invoice " + os.urandom(8)).digest()
    due = await consortium.now() + 60 * 86400
    token_id = await _draft_acknowledged(consortium, (bob, alice, price, b"CNY", due, document))
    # Bob's settlement tokens on the public chain (bridged in, as in flow 1).
    await consortium.send(ADMIN, "settlement_token", "mint", bob, price)
    await consortium.send(BOB, "settlement_token", "approve", consortium.address("vault"), price)
    await consortium.send(
        BOB, "vault", "lockERC20", consortium.address("settlement_token"), price,
        public.chain_id, bob,
    )  # fmt: skip
    wrapped_token = public.address("wrapped_settlement_token")

    async def funded() -> bool:
        return bool(await public.view("wrapped_settlement_token", "balanceOf", bob) >= price)

    await crossing("bob's settlement tokens arrived on the public chain", funded)

    preimage = os.urandom(32)
    hashlock = Hash32(hashlib.sha256(preimage).digest())
    t_b = max(await consortium.now(), await public.now()) + 900
    leg_a = SwapLeg(
        consortium.chain_id, consortium.address("htlc_erc721"), AssetKind.ERC721,
        consortium.address("receivable"), token_id, bob, alice, t_b + 900,
    )  # fmt: skip
    leg_b = SwapLeg(
        public.chain_id, public.address("htlc_erc20"), AssetKind.ERC20, wrapped_token, price,
        alice, bob, t_b,
    )  # fmt: skip
    claim = htlc_claim_message(
        "HtlcErc721", consortium.chain_id, leg_a.htlc, swap_key(hashlock, leg_a), keeper, bob
    )
    swap = Swap(
        swap_id=Hash32(hashlib.sha256(hashlock + b"demo").digest()),
        hashlock=hashlock,
        initiator=alice,
        participant=bob,
        initiator_leg=leg_a,
        participant_leg=leg_b,
        claim_signature=LocalSigner(dev_accounts(10)[BOB].private_key).sign_message(claim),
        claim_destination=bob,
    )
    store = await Store.open(store_url, migrate=False)
    try:
        await store.upsert_swap(swap)
        say("    swap agreed: bob signed the keeper's relayed claim of the receivable")
        lock_data = abi_encode(["bytes32", "address", "uint256"], [hashlock, bob, leg_a.timelock])
        await consortium.send(
            ALICE, "receivable", "safeTransferFrom(address,address,uint256,bytes)",
            alice, leg_a.htlc, token_id, lock_data,
        )  # fmt: skip
        say(f"    alice locked receivable #{token_id} in the consortium HTLC until T_A")
        await public.send(BOB, "wrapped_settlement_token", "approve", leg_b.htlc, price)
        await public.send(
            BOB, "htlc_erc20", "lock", hashlock, price, wrapped_token, alice, leg_b.timelock
        )
        say("    bob locked 100,000 settlement tokens in the public HTLC until T_B < T_A")
        await public.send(ALICE, "htlc_erc20", "claim", preimage, price, wrapped_token, bob, t_b)
        say("    alice claimed the tokens on the public chain, revealing the secret")

        async def completed() -> bool:
            found = await store.swap(swap.swap_id)
            owner = raw_address(await consortium.view("receivable", "ownerOf", token_id))
            return owner == bob and found is not None and found.state is SwapState.COMPLETED

        await crossing("the keeper claimed the receivable for bob on the consortium", completed)
    finally:
        await store.close()


async def finance_flows(
    consortium: Side, publics: Sequence[Side], cfg: XgateConfig
) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    """The supply-chain finance flows (gateway/cli/finance_demo.py); the first needs a public
    chain whose route has private terms (`xgate devnet up --private-terms SIDE`)."""
    private = [p for p in publics if await consortium.view("vault", "privateTerms", p.chain_id)]
    flows: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    if private:
        flows.append((
            f"supply-chain finance: a receivable sold to a financier on {private[0].name} with "
            "its terms private; the buyer's payment follows the financier",
            lambda: f.financed_across_chains(consortium, private[0], publics),
        ))  # fmt: skip
    else:
        say("\n(no public chain with private terms: `xgate devnet up --private-terms SIDE`)")
    return [
        *flows,
        ("a first-tier supplier splits a receivable; its own supplier finances a part",
         lambda: f.split_to_second_tier(consortium)),
        ("a buyer pays late, then defaults: its score falls and the public mirrors follow",
         lambda: f.credit_follows_conduct(consortium, publics, cfg)),
        ("a wash-trading ring pays on time for months and gets no score",
         lambda: f.wash_ring(consortium, publics, cfg)),
    ]  # fmt: skip


async def demo_with_services(summary: Mapping[str, Any], config_path: Path) -> None:
    """Start relayer, attesters and keeper in this process on ``config_path``, walk through
    the flows, then keep the services running until cancelled."""
    cfg = load_config(config_path)
    if cfg.keeper is None:
        raise DemoFailed("the demo needs a [keeper] section in " + str(config_path))
    keeper = load_signer(cfg.signers[cfg.keeper.signer], os.environ, name=cfg.keeper.signer)
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    services = asyncio.create_task(
        run_services(cfg, set(Role), stop, ops_port=0, on_ready=ready), name="services"
    )
    try:
        port = await asyncio.wait_for(asyncio.shield(ready), 60)
        say(f"\nxgate services running (relayer, attesters, keeper); metrics on :{port}/metrics")
        await run_demo(summary, cfg, keeper.address)
        await services
    finally:
        stop.set()
        await asyncio.gather(services, return_exceptions=True)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="start the services and walk through the flows on a running devnet"
    )
    demo.add_argument(
        "--summary",
        type=Path,
        default=Path(".xgate/devnet.json"),
        help="the devnet summary `xgate devnet up` wrote (its xgate.toml is beside it)",
    )
    demo.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if not args.summary.exists():
        print(
            f"{args.summary} not found: start the devnet first (`xgate devnet up`)", file=sys.stderr
        )
        return 2
    summary = json.loads(args.summary.read_text())
    # The narration is the demo's output; the services speak up only when something is wrong.
    configure_logging("text", "WARNING")
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(demo_with_services(summary, args.summary.with_name("xgate.toml")))
        except XgateError as exc:
            print(f"xgate demo: {exc}", file=sys.stderr)
            return 1
    return 0
