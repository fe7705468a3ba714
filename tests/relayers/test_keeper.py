"""The HTLC keeper against two real anvil nodes and a real SQLite store, driven step by step:

- happy path: the initiator locks coin on A, the participant locks tokens on B, the initiator
  claims B (revealing the secret), and the keeper claims A for the participant with its relayed
  claim signature, paying the participant's chosen destination;
- timeout path: both users lock with a plain ``lock`` (each is its leg's refunder) and authorise
  refunds; the keeper refunds both legs with ``refundFor``, the assets going back to the users
  (not to the keeper), each only once its own chain's block time reached its timelock, never
  before;
- refusal: a swap whose timelocks leave less than the rule's margin gets nothing sent (the
  keeper's nonce does not move, the leg stays open) and the reason is recorded, on the swap in
  the store too; a reason is written when it changes and cleared when it goes away;
- a new keeper on the same store carries on where the first stopped (nothing sent twice);
- a swap stored only after the keeper scanned past its locks (and claims or refunds) is still
  followed: its legs' past is read back from the contracts' slots and logs, so it is completed
  or refunded, and a leg settled before it was stored is recorded settled.

The module runs its own two anvils: it moves their clocks forward.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.base import TxRequest
from adapters.evm import EvmAdapter, EvmConfig
from adapters.retry import RetryPolicy
from adapters.rpc.transport import RpcTransport
from adapters.signer import LocalSigner
from adapters.types import Address, ChainId, Finality, Hash32
from contracts import load_artifact
from gateway.domain.status import AssetKind, Swap, SwapLeg, SwapState
from gateway.domain.swaps import KeeperRules, swap_key
from gateway.domain.typed_data import htlc_claim_message
from gateway.store import Store
from relayers.keeper import LOOK_BACK_BLOCKS, HtlcKeeper, KeeperChain
from relayers.metrics import RelayMetrics
from relayers.routes import ChainSide
from relayers.sending import Sender

pytestmark = pytest.mark.live

FINAL = Finality.confirmations(0)  # anvil: every mined block is final
DEPLOYER, INITIATOR, PARTICIPANT, KEEPER, DESTINATION = 0, 1, 2, 3, 4
RULES_TERMS = {"relay_latency_s": 5.0, "clock_skew_s": 1.0, "safety_delay_s": 10.0}
REQUIRED_S = 2 + 2 + 5 + 1 + 10  # F_A + F_B + L + S + D
COIN = 10**18
TOKENS = 500
WAIT_S = 20.0

NATIVE = load_artifact("HtlcNative")
ERC20 = load_artifact("HtlcErc20")
TOKEN = load_artifact("HtlcTestToken")


@dataclass
class Chain:
    """One anvil: the test's control line, the users' adapter and the deployed contracts."""

    node: Any
    control: RpcTransport
    users: EvmAdapter  # signs for the deployer, initiator and participant
    htlc_native: Address
    htlc_erc20: Address
    token: Address

    @property
    def chain_id(self) -> ChainId:
        return ChainId(self.node.chain_id)

    def address(self, account: int) -> Address:
        return Address(self.node.accounts[account].address)

    async def send(self, account: int, to: Address | None, data: bytes, value: int = 0) -> Any:
        request = TxRequest(to=to, data=data, value=value, sender=self.address(account))
        sent = await self.users.writer(request.sender).submit(request)
        receipt = await self.users.wait_mined(sent, Finality.latest(), WAIT_S)
        assert receipt.status == 1
        return receipt

    async def now(self) -> int:
        return (await self.users.header(await self.users.height(Finality.latest()))).timestamp

    async def advance_to(self, timestamp: int) -> None:
        """Mine a block with a block time of at least ``timestamp``."""
        await self.control.request("evm_setNextBlockTimestamp", [hex(timestamp)])
        await self.control.request("evm_mine", [])

    async def view(self, htlc: Address, key: bytes) -> bool:
        raw = await self.users.call(htlc, NATIVE.call_data("swaps", key), finality=FINAL)
        return bool(NATIVE.decode_result("swaps", raw)[0])

    async def balance(self, who: Address) -> int:
        return int(await self.control.request("eth_getBalance", ["0x" + who.hex(), "latest"]), 16)

    async def token_balance(self, who: Address) -> int:
        data = TOKEN.call_data("balanceOf", who)
        return int(
            TOKEN.decode_result(
                "balanceOf", await self.users.call(self.token, data, finality=FINAL)
            )[0]
        )

    async def nonce(self, who: Address) -> int:
        return await self.users.pending_nonce(who)


def evm_config(node: Any) -> EvmConfig:
    return EvmConfig(
        rpc_url=node.url,
        chain_id=ChainId(node.chain_id),
        finality=FINAL,
        poll_interval_s=0.02,
        request_timeout_s=5.0,
        retry=RetryPolicy(initial_delay=0.02, max_attempts=3),
    )


@pytest.fixture(scope="module")
async def chains() -> AsyncIterator[tuple[Chain, Chain]]:
    from devnet.anvil import start_anvil

    async with start_anvil(chain_id=31337) as node_a, start_anvil(chain_id=31338) as node_b:
        made: list[Chain] = []
        for node in (node_a, node_b):
            control = RpcTransport(
                (node.url,),
                chain_id=node.chain_id,
                timeout_s=5.0,
                retry=RetryPolicy(max_attempts=1),
            )
            signers = [
                LocalSigner(node.accounts[i].private_key)
                for i in (DEPLOYER, INITIATOR, PARTICIPANT)
            ]
            users = EvmAdapter(evm_config(node), signers)
            await users.start()
            chain = Chain(node, control, users, Address(b""), Address(b""), Address(b""))
            chain.htlc_native = (
                await chain.send(DEPLOYER, None, NATIVE.deploy_data())
            ).contract_address
            chain.htlc_erc20 = (
                await chain.send(DEPLOYER, None, ERC20.deploy_data())
            ).contract_address
            chain.token = (await chain.send(DEPLOYER, None, TOKEN.deploy_data())).contract_address
            for who in (INITIATOR, PARTICIPANT):
                await chain.send(
                    DEPLOYER, chain.token, TOKEN.call_data("mint", chain.address(who), 10**6)
                )
                await chain.send(
                    who, chain.token, TOKEN.call_data("approve", chain.htlc_erc20, 2**256 - 1)
                )
            made.append(chain)
        try:
            yield made[0], made[1]
        finally:
            for chain in made:
                await chain.users.aclose()
                await chain.control.aclose()


@dataclass
class Keeper:
    worker: HtlcKeeper
    store: Store
    adapters: list[EvmAdapter]

    async def settle(self, steps: int = 6) -> None:
        """Step until a step finds nothing more to scan, ``steps`` times at most."""
        for _ in range(steps):
            if not await self.worker.step():
                return


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite:///{tmp_path / 'keeper.db'}")
    try:
        yield s
    finally:
        await s.close()


async def start_keeper(
    chains: tuple[Chain, Chain],
    store: Store,
    *,
    start_heights: tuple[int, int] = (0, 0),
    log_range: int = 1000,
    look_back_blocks: int = LOOK_BACK_BLOCKS,
) -> Keeper:
    adapters: list[EvmAdapter] = []
    sides: list[KeeperChain] = []
    metrics = RelayMetrics()
    for name, chain, start in zip(("a", "b"), chains, start_heights, strict=True):
        adapter = EvmAdapter(
            evm_config(chain.node), [LocalSigner(chain.node.accounts[KEEPER].private_key)]
        )
        await adapter.start()
        adapters.append(adapter)
        side = ChainSide(name, chain.chain_id, adapter, chain.htlc_native, FINAL, start)
        sender = Sender(adapter, metrics, name, WAIT_S, chain.address(KEEPER))
        htlcs = {chain.htlc_native: AssetKind.NATIVE, chain.htlc_erc20: AssetKind.ERC20}
        sides.append(KeeperChain(side, htlcs, sender))
    rules = KeeperRules(finality_s={c.chain_id: 2.0 for c in chains}, **RULES_TERMS)
    worker = HtlcKeeper(
        chains=sides,
        store=store,
        rules=rules,
        log_range=log_range,
        interval_s=0.1,
        look_back_blocks=look_back_blocks,
    )
    return Keeper(worker, store, adapters)


@pytest.fixture
async def keeper(chains: tuple[Chain, Chain], store: Store) -> AsyncIterator[Keeper]:
    k = await start_keeper(chains, store)
    try:
        yield k
    finally:
        for adapter in k.adapters:
            await adapter.aclose()


@dataclass
class Plan:
    """A swap and its secret: coin on A (initiator's leg), tokens on B (participant's leg)."""

    swap: Swap
    preimage: bytes

    @property
    def a(self) -> SwapLeg:
        return self.swap.initiator_leg

    @property
    def b(self) -> SwapLeg:
        return self.swap.participant_leg


async def plan_swap(
    chains: tuple[Chain, Chain],
    *,
    margin_s: int,
    authorise_refund: bool = False,
    authorise_claim: bool = True,
    submitter: int = KEEPER,
) -> Plan:
    a, b = chains
    preimage = os.urandom(32)
    hashlock = Hash32(hashlib.sha256(preimage).digest())
    t_b = max(await a.now(), await b.now()) + 120
    # Plain locks: each user is its own leg's refunder (the keeper refunds with refundFor).
    leg_a = SwapLeg(
        a.chain_id, a.htlc_native, AssetKind.NATIVE, Address(bytes(20)), COIN,
        a.address(PARTICIPANT), a.address(INITIATOR), t_b + margin_s,
    )  # fmt: skip
    leg_b = SwapLeg(
        b.chain_id, b.htlc_erc20, AssetKind.ERC20, b.token, TOKENS,
        b.address(INITIATOR), b.address(PARTICIPANT), t_b,
    )  # fmt: skip
    signature = destination = None
    if authorise_claim:
        destination = a.address(DESTINATION)
        message = htlc_claim_message(
            "HtlcNative", a.chain_id, a.htlc_native, swap_key(hashlock, leg_a),
            a.address(submitter), destination,
        )  # fmt: skip
        signature = LocalSigner(a.node.accounts[PARTICIPANT].private_key).sign_message(message)
    swap = Swap(
        swap_id=Hash32(os.urandom(32)),
        hashlock=hashlock,
        initiator=a.address(INITIATOR),
        participant=a.address(PARTICIPANT),
        initiator_leg=leg_a,
        participant_leg=leg_b,
        claim_signature=signature,
        claim_destination=destination,
        refund_authorised=authorise_refund,
    )
    return Plan(swap, preimage)


async def lock_both(chains: tuple[Chain, Chain], plan: Plan) -> tuple[Any, Any]:
    """Each user locks its leg with a plain ``lock`` (refunder = the user); the receipts."""
    a, b = chains
    h = plan.swap.hashlock
    lock_a = await a.send(
        INITIATOR, plan.a.htlc,
        NATIVE.call_data("lock", h, plan.a.claimer, plan.a.timelock),
        value=plan.a.value,
    )  # fmt: skip
    lock_b = await b.send(
        PARTICIPANT, plan.b.htlc,
        ERC20.call_data("lock", h, plan.b.value, plan.b.token, plan.b.claimer, plan.b.timelock),
    )  # fmt: skip
    return lock_a, lock_b


async def initiator_claims_b(chains: tuple[Chain, Chain], plan: Plan) -> Any:
    """The initiator claims the tokens on B, revealing the secret; the receipt."""
    b = chains[1]
    return await b.send(
        INITIATOR, plan.b.htlc,
        ERC20.call_data(
            "claim", plan.preimage, TOKENS, b.token, plan.b.refunder, plan.b.timelock
        ),
    )  # fmt: skip


async def state(store: Store, plan: Plan) -> Swap:
    swap = await store.swap(plan.swap.swap_id)
    assert swap is not None
    return swap


async def test_happy_path_keeper_claims_the_initiators_leg_for_the_participant(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40)
    await keeper.store.upsert_swap(plan.swap)
    await keeper.settle()
    assert (await state(keeper.store, plan)).state == SwapState.PROPOSED

    await a.send(
        INITIATOR, plan.a.htlc,
        NATIVE.call_data("lock", plan.swap.hashlock, plan.a.claimer, plan.a.timelock),
        value=COIN,
    )  # fmt: skip
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.INITIATOR_LOCKED and swap.initiator_leg.lock_tx is not None

    await b.send(
        PARTICIPANT,
        plan.b.htlc,
        ERC20.call_data(
            "lock", plan.swap.hashlock, TOKENS, b.token, plan.b.claimer, plan.b.timelock
        ),
    )
    await keeper.settle()
    assert (await state(keeper.store, plan)).state == SwapState.BOTH_LOCKED

    # The initiator claims the tokens on B, revealing the secret.
    initiator_tokens = await b.token_balance(b.address(INITIATOR))
    await b.send(
        INITIATOR, plan.b.htlc,
        ERC20.call_data(
            "claim", plan.preimage, TOKENS, b.token, plan.b.refunder, plan.b.timelock
        ),
    )  # fmt: skip
    assert await b.token_balance(b.address(INITIATOR)) == initiator_tokens + TOKENS

    destination_before = await a.balance(a.address(DESTINATION))
    keeper_nonce = await a.nonce(a.address(KEEPER))
    await keeper.settle()  # records the secret and sends the relayed claim on A
    await keeper.settle()  # records the claim once its block is scanned
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.COMPLETED
    assert swap.preimage == plan.preimage
    assert swap.participant_leg.claim_tx is not None and swap.initiator_leg.claim_tx is not None
    assert await a.balance(a.address(DESTINATION)) == destination_before + COIN
    assert not await a.view(plan.a.htlc, swap_key(plan.swap.hashlock, plan.a))
    assert await a.nonce(a.address(KEEPER)) == keeper_nonce + 1  # one transaction, no retry
    assert plan.swap.swap_id not in keeper.worker.notes

    # A restarted keeper on the same store finds nothing left to do.
    again = await start_keeper(chains, keeper.store)
    try:
        await again.settle()
        assert await a.nonce(a.address(KEEPER)) == keeper_nonce + 1
    finally:
        for adapter in again.adapters:
            await adapter.aclose()


async def test_timeout_path_keeper_refunds_each_leg_to_its_user_at_its_own_timelock(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40, authorise_refund=True)
    assert (plan.a.refunder, plan.b.refunder) == (a.address(INITIATOR), b.address(PARTICIPANT))
    await keeper.store.upsert_swap(plan.swap)
    await lock_both(chains, plan)
    await keeper.settle()
    assert (await state(keeper.store, plan)).state == SwapState.BOTH_LOCKED
    key_a, key_b = (swap_key(plan.swap.hashlock, leg) for leg in (plan.a, plan.b))

    # One second before T_B on B (and A far ahead of B, still before T_A): no refund yet.
    await b.advance_to(plan.b.timelock - 1)
    await a.advance_to(plan.a.timelock - 1)
    nonces = (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER)))
    await keeper.settle()
    assert (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER))) == nonces
    assert await b.view(plan.b.htlc, key_b) and await a.view(plan.a.htlc, key_a)
    assert (await state(keeper.store, plan)).state == SwapState.BOTH_LOCKED

    # B reaches T_B: the keeper refunds B with refundFor; the tokens go back to the participant
    # (the leg's refunder), who sends nothing, and the keeper only pays the gas.
    participant_tokens = await b.token_balance(b.address(PARTICIPANT))
    keeper_tokens = await b.token_balance(b.address(KEEPER))
    await b.advance_to(plan.b.timelock)
    await keeper.settle()
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.REFUNDING
    assert swap.participant_leg.refund_tx is not None and swap.initiator_leg.refund_tx is None
    assert await b.token_balance(b.address(PARTICIPANT)) == participant_tokens + TOKENS
    assert await b.token_balance(b.address(KEEPER)) == keeper_tokens
    assert await b.nonce(b.address(KEEPER)) == nonces[1] + 1  # one refundFor, no retry
    assert await a.view(plan.a.htlc, key_a)  # A waits for its own timelock
    assert await a.nonce(a.address(KEEPER)) == nonces[0]

    # A reaches T_A: the keeper refunds A; the coin goes back to the initiator, to the wei.
    initiator_coin = await a.balance(a.address(INITIATOR))
    await a.advance_to(plan.a.timelock)
    await keeper.settle()
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.REFUNDED
    assert swap.initiator_leg.refund_tx is not None
    assert await a.balance(a.address(INITIATOR)) == initiator_coin + COIN
    assert await a.nonce(a.address(KEEPER)) == nonces[0] + 1
    assert not await a.view(plan.a.htlc, key_a) and not await b.view(plan.b.htlc, key_b)
    assert plan.swap.swap_id not in keeper.worker.notes


async def test_unsafe_timelocks_are_refused_nothing_sent_reason_recorded(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S - 1, authorise_refund=True)
    await keeper.store.upsert_swap(plan.swap)
    await lock_both(chains, plan)
    # The initiator claims B: a claim of A for the participant would be due, but not here.
    await b.send(
        INITIATOR, plan.b.htlc,
        ERC20.call_data(
            "claim", plan.preimage, TOKENS, b.token, plan.b.refunder, plan.b.timelock
        ),
    )  # fmt: skip
    nonce_a = await a.nonce(a.address(KEEPER))
    await keeper.settle()
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.INITIATOR_CLAIMED  # the facts are recorded all the same
    assert swap.preimage == plan.preimage
    notes = keeper.worker.notes[plan.swap.swap_id]
    assert notes[0].startswith("refused: timelocks leave less margin")
    assert (
        f"margin_s={REQUIRED_S - 1}" in notes[0] and f"required_s={float(REQUIRED_S)}" in notes[0]
    )
    assert await a.nonce(a.address(KEEPER)) == nonce_a
    assert await a.view(plan.a.htlc, swap_key(plan.swap.hashlock, plan.a))
    # Operators see the refusal on the stored swap, written once (not at every step).
    assert swap.reason == "; ".join(notes) and swap.reason.startswith("refused:")
    await keeper.worker.step()
    assert (await state(keeper.store, plan)).updated_at == swap.updated_at

    # Past T_A a refund would be due: still refused.
    await a.advance_to(plan.a.timelock)
    await keeper.settle()
    assert await a.nonce(a.address(KEEPER)) == nonce_a
    assert await a.view(plan.a.htlc, swap_key(plan.swap.hashlock, plan.a))
    assert keeper.worker.notes[plan.swap.swap_id][0].startswith("refused:")
    stored = await state(keeper.store, plan)
    assert stored.reason == "; ".join(keeper.worker.notes[plan.swap.swap_id])


async def test_a_leg_its_owner_claimed_already_is_done_not_claimed_again(
    chains: tuple[Chain, Chain], store: Store
) -> None:
    """The keeper's scan of A lags behind A (one block per step): when it decides to claim,
    the participant has claimed A itself. The simulation's SwapNotFound means done: nothing is
    sent, nothing is noted, and the scan records the participant's claim when it gets there."""
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40)
    await store.upsert_swap(plan.swap)
    a_lock = await a.send(
        INITIATOR, plan.a.htlc,
        NATIVE.call_data("lock", plan.swap.hashlock, plan.a.claimer, plan.a.timelock),
        value=COIN,
    )  # fmt: skip
    await b.send(
        PARTICIPANT, plan.b.htlc,
        ERC20.call_data(
            "lock", plan.swap.hashlock, TOKENS, b.token, plan.b.claimer, plan.b.timelock
        ),
    )  # fmt: skip
    b_claim = await b.send(
        INITIATOR, plan.b.htlc,
        ERC20.call_data(
            "claim", plan.preimage, TOKENS, b.token, plan.b.refunder, plan.b.timelock
        ),
    )  # fmt: skip
    await a.send(
        PARTICIPANT, plan.a.htlc,
        NATIVE.call_data("claim", plan.preimage, COIN, plan.a.refunder, plan.a.timelock),
    )  # fmt: skip
    lagging = await start_keeper(
        chains, store, start_heights=(a_lock.block_number, b_claim.block_number), log_range=1
    )
    try:
        nonce_a = await a.nonce(a.address(KEEPER))
        assert await lagging.worker.step()  # A: the lock block only; B: the claim
        swap = await state(store, plan)
        assert swap.preimage == plan.preimage and swap.initiator_leg.claim_tx is None
        assert await a.nonce(a.address(KEEPER)) == nonce_a
        assert plan.swap.swap_id not in lagging.worker.notes
        await lagging.settle(steps=10)
        swap = await state(store, plan)
        assert swap.initiator_leg.claim_tx is not None  # the participant's own claim
        assert await a.nonce(a.address(KEEPER)) == nonce_a
    finally:
        for adapter in lagging.adapters:
            await adapter.aclose()


async def test_a_claim_signature_for_another_submitter_is_noted_not_retried_blindly(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40, submitter=DESTINATION)
    await keeper.store.upsert_swap(plan.swap)
    await lock_both(chains, plan)
    await b.send(
        INITIATOR, plan.b.htlc,
        ERC20.call_data(
            "claim", plan.preimage, TOKENS, b.token, plan.b.refunder, plan.b.timelock
        ),
    )  # fmt: skip
    nonce_a = await a.nonce(a.address(KEEPER))
    await keeper.settle()
    assert keeper.worker.notes[plan.swap.swap_id] == (
        "claim of the initiator leg reverts with InvalidSignature",
    )
    assert await a.nonce(a.address(KEEPER)) == nonce_a
    assert await a.view(plan.a.htlc, swap_key(plan.swap.hashlock, plan.a))


async def test_a_swaps_reason_is_written_when_it_changes_and_cleared_when_it_goes_away(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    """Nobody authorised the keeper to refund: once B's timelock passed, the stored swap says
    so (written at that change only); when the participant refunds B itself the reason goes
    away and is cleared, while A is still open (the swap still active)."""
    b = chains[1]
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40, authorise_claim=False)
    await keeper.store.upsert_swap(plan.swap)
    await lock_both(chains, plan)
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.BOTH_LOCKED and swap.reason is None

    await b.advance_to(plan.b.timelock)
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.reason == "participant leg is refundable but no refund was authorised"
    assert keeper.worker.notes[plan.swap.swap_id] == (swap.reason,)
    await b.advance_to(plan.b.timelock + 1)
    await keeper.settle()
    assert (await state(keeper.store, plan)).updated_at == swap.updated_at  # unchanged: no write

    refund = await b.send(
        PARTICIPANT, plan.b.htlc,
        ERC20.call_data(
            "refund", plan.swap.hashlock, TOKENS, b.token, plan.b.claimer, plan.b.timelock
        ),
    )  # fmt: skip
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.participant_leg.refund_tx == refund.tx_hash
    assert swap.state == SwapState.REFUNDING and swap.reason is None
    assert plan.swap.swap_id not in keeper.worker.notes


async def test_a_swap_stored_after_its_locks_were_scanned_is_still_completed(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    """Both locks are mined and scanned before the swap is in the store: the keeper reads the
    legs' slots and finds their locks, then claims A for the participant once the initiator's
    claim of B reveals the secret."""
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40)
    lock_a, lock_b = await lock_both(chains, plan)
    await keeper.settle()  # the checkpoints pass both locks; no swap is stored yet
    for chain, lock in ((a, lock_a), (b, lock_b)):
        checkpoint = await keeper.store.checkpoint(chain.chain_id, keeper.worker.stream)
        assert checkpoint is not None and checkpoint.height >= lock.block_number

    await keeper.store.upsert_swap(plan.swap)
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.BOTH_LOCKED
    assert swap.initiator_leg.lock_tx == lock_a.tx_hash
    assert swap.participant_leg.lock_tx == lock_b.tx_hash
    assert swap.reason is None

    claim_b = await initiator_claims_b(chains, plan)
    destination_before = await a.balance(a.address(DESTINATION))
    keeper_nonce = await a.nonce(a.address(KEEPER))
    await keeper.settle()
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.COMPLETED
    assert swap.participant_leg.claim_tx == claim_b.tx_hash
    assert swap.initiator_leg.claim_tx is not None
    assert await a.balance(a.address(DESTINATION)) == destination_before + COIN
    assert await a.nonce(a.address(KEEPER)) == keeper_nonce + 1


async def test_a_swap_stored_after_the_secret_was_revealed_is_still_completed(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    """Both locks and the initiator's claim of B are scanned before the swap is stored. B's
    slot is empty by then: its past says claimed (not "never locked"), with the secret, so the
    keeper claims A for the participant."""
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40)
    lock_a, lock_b = await lock_both(chains, plan)
    claim_b = await initiator_claims_b(chains, plan)
    await keeper.settle()
    assert not await b.view(plan.b.htlc, swap_key(plan.swap.hashlock, plan.b))

    await keeper.store.upsert_swap(plan.swap)
    destination_before = await a.balance(a.address(DESTINATION))
    keeper_nonce = await a.nonce(a.address(KEEPER))
    await keeper.settle()  # reads the past, records it and sends the relayed claim on A
    swap = await state(keeper.store, plan)
    assert swap.preimage == plan.preimage
    assert swap.initiator_leg.lock_tx == lock_a.tx_hash
    assert swap.participant_leg.lock_tx == lock_b.tx_hash
    assert swap.participant_leg.claim_tx == claim_b.tx_hash
    await keeper.settle()  # records the keeper's claim
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.COMPLETED and swap.initiator_leg.claim_tx is not None
    assert await a.balance(a.address(DESTINATION)) == destination_before + COIN
    assert await a.nonce(a.address(KEEPER)) == keeper_nonce + 1


async def test_a_swap_stored_after_its_locks_were_scanned_is_refunded_at_its_timelocks(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40, authorise_refund=True)
    await lock_both(chains, plan)
    await keeper.settle()
    await keeper.store.upsert_swap(plan.swap)
    await keeper.settle()
    assert (await state(keeper.store, plan)).state == SwapState.BOTH_LOCKED

    participant_tokens = await b.token_balance(b.address(PARTICIPANT))
    initiator_coin = await a.balance(a.address(INITIATOR))
    await b.advance_to(plan.b.timelock)
    await a.advance_to(plan.a.timelock)
    await keeper.settle()
    await keeper.settle()
    swap = await state(keeper.store, plan)
    assert swap.state == SwapState.REFUNDED
    assert swap.initiator_leg.refund_tx is not None and swap.participant_leg.refund_tx is not None
    assert await b.token_balance(b.address(PARTICIPANT)) == participant_tokens + TOKENS
    assert await a.balance(a.address(INITIATOR)) == initiator_coin + COIN


async def test_legs_settled_before_the_swap_was_stored_are_recorded_settled(
    chains: tuple[Chain, Chain], keeper: Keeper
) -> None:
    """Swap 1: both legs claimed by their owners, all before it is stored: it is recorded
    completed at once, nothing sent. Swap 2: the participant refunded B before it was stored:
    B is recorded refunded (the swap is refunding), not mistaken for a leg never locked."""
    a, b = chains
    done = await plan_swap(chains, margin_s=REQUIRED_S + 40)
    await lock_both(chains, done)
    claim_b = await initiator_claims_b(chains, done)
    claim_a = await a.send(
        PARTICIPANT, done.a.htlc,
        NATIVE.call_data("claim", done.preimage, COIN, done.a.refunder, done.a.timelock),
    )  # fmt: skip
    refunded = await plan_swap(chains, margin_s=REQUIRED_S + 40)
    lock_a, lock_b = await lock_both(chains, refunded)
    await b.advance_to(refunded.b.timelock)
    refund_b = await b.send(
        PARTICIPANT, refunded.b.htlc,
        ERC20.call_data(
            "refund", refunded.swap.hashlock, TOKENS, b.token, refunded.b.claimer,
            refunded.b.timelock,
        ),
    )  # fmt: skip
    await keeper.settle()

    await keeper.store.upsert_swap(done.swap)
    await keeper.store.upsert_swap(refunded.swap)
    nonces = (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER)))
    await keeper.settle()
    swap = await state(keeper.store, done)
    assert swap.state == SwapState.COMPLETED
    assert (swap.initiator_leg.claim_tx, swap.participant_leg.claim_tx) == (
        claim_a.tx_hash,
        claim_b.tx_hash,
    )
    swap = await state(keeper.store, refunded)
    assert swap.state == SwapState.REFUNDING
    assert swap.participant_leg.lock_tx == lock_b.tx_hash
    assert swap.participant_leg.refund_tx == refund_b.tx_hash
    assert swap.initiator_leg.lock_tx == lock_a.tx_hash and swap.initiator_leg.refund_tx is None
    assert (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER))) == nonces


async def test_a_leg_settled_deeper_than_the_look_back_stays_absent(
    chains: tuple[Chain, Chain], store: Store
) -> None:
    """The look-back at an empty slot is bounded (``look_back_blocks``): a swap whose legs were
    both claimed more blocks back than that is not found (it stays proposed, nothing is sent),
    while the same swap within reach is recorded completed."""
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40)
    await lock_both(chains, plan)
    await initiator_claims_b(chains, plan)
    await a.send(
        PARTICIPANT, plan.a.htlc,
        NATIVE.call_data("claim", plan.preimage, COIN, plan.a.refunder, plan.a.timelock),
    )  # fmt: skip
    for chain in chains:  # the claims end up 3 blocks below the scanned height
        for _ in range(3):
            await chain.advance_to(await chain.now() + 1)
    short = await start_keeper(chains, store, look_back_blocks=3)
    try:
        await short.settle()
        await store.upsert_swap(plan.swap)
        nonces = (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER)))
        await short.settle()
        swap = await state(store, plan)
        assert swap.state == SwapState.PROPOSED and swap.preimage is None
        assert swap.initiator_leg.lock_tx is None and swap.participant_leg.lock_tx is None
        assert (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER))) == nonces
    finally:
        for adapter in short.adapters:
            await adapter.aclose()
    deep = await start_keeper(chains, store, look_back_blocks=50)  # a restart looks again
    try:
        await deep.settle()
        swap = await state(store, plan)
        assert swap.state == SwapState.COMPLETED and swap.preimage == plan.preimage
    finally:
        for adapter in deep.adapters:
            await adapter.aclose()


async def test_an_open_leg_whose_lock_log_is_out_of_reach_is_noted_not_recorded(
    chains: tuple[Chain, Chain], store: Store
) -> None:
    """A keeper whose chains start after the locks (as a misconfigured ``start_height`` would)
    sees both legs open in the contracts but cannot find their locks: it records no lock it
    has no transaction for, sends nothing, and says why on the stored swap."""
    a, b = chains
    plan = await plan_swap(chains, margin_s=REQUIRED_S + 40, authorise_refund=True)
    lock_a, lock_b = await lock_both(chains, plan)
    await store.upsert_swap(plan.swap)
    late = await start_keeper(
        chains, store, start_heights=(lock_a.block_number + 1, lock_b.block_number + 1)
    )
    try:
        await a.advance_to(await a.now() + 1)  # a block to scan on each chain
        await b.advance_to(await b.now() + 1)
        nonces = (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER)))
        await late.settle()
        swap = await state(store, plan)
        assert swap.state == SwapState.PROPOSED and swap.initiator_leg.lock_tx is None
        assert swap.reason is not None
        for role in ("initiator", "participant"):
            assert f"{role} leg is open on chain at block" in swap.reason
        assert "not followed" in swap.reason
        assert (await a.nonce(a.address(KEEPER)), await b.nonce(b.address(KEEPER))) == nonces
    finally:
        for adapter in late.adapters:
            await adapter.aclose()
