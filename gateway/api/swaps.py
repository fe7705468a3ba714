"""Hashed-timelock swaps (docs/api.md "Swaps", docs/htlc.md §5): the operations a dApp arranges a
two-chain swap with; the HTLC keeper (``relayers/keeper.py``) follows it from the store.

- ``POST /v1/swaps`` (dapp): propose a swap. The initiator sends only the hashlock; the gateway
  computes both timelocks from the two chains' time, their finality and the keeper's rule terms
  (``gateway.domain.swap_terms.plan_timelocks``), or checks the caller's against the keeper's
  margin (422 ``unsafe-timelocks`` naming the margin needed), records the swap (state
  ``proposed``) and answers its terms (201). Refused before anything is stored: a hashlock
  another swap or an HTLC on either chain already used (409 ``hashlock-in-use``; the same
  proposal again answers the stored swap), a token that is no contract of its kind on its
  chain (422 ``token-not-a-contract``, ``token-not-erc20``, ``token-not-erc721``);
- ``GET /v1/swaps/{id}`` (read): the swap, its state and the legs' transactions as the keeper
  recorded them from final blocks;
- ``POST /v1/swaps/{id}/locks`` (dapp): each party's unsigned transactions to lock its leg
  (an ERC-20 approval and the lock; the native lock with its value; the ERC-721 transfer into
  the HTLC, one transaction);
- ``POST /v1/swaps/{id}/authorizations`` (dapp): let the keeper claim the initiator's leg for
  the participant (its EIP-712 ``Claim`` signature, checked here: signed by the participant,
  its key or its ERC-1271 wallet, for this lock and the keeper as submitter, or 422 and
  nothing is stored) and/or refund expired legs (``refundFor``, which can only pay a leg's
  owner back after its timelock).

The keeper's terms (each chain's time to finality, ``[keeper]`` relay latency, clock skew,
safety delay) and its address (``[keeper] address``) come from the gateway's configuration,
the same file the keeper runs on; a gateway without a ``[keeper]`` section arranges no swaps
(409 ``keeper-not-configured``).
"""

from __future__ import annotations

import math
import os
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address

from adapters.base import CallReverted, EventQuery
from adapters.mpt import EMPTY_CODE_HASH, keccak256
from adapters.types import Address, ChainId, Hash32, Height
from contracts import load_artifact
from gateway.api.chains import ChainHandle, chains_of
from gateway.api.keys import CONFIG_KEY, STORE_KEY
from gateway.api.models import NoBody, NoParams, UnsignedTx
from gateway.api.problems import Problem
from gateway.api.spec import Api, Call, Scope
from gateway.api.swap_models import (
    LegProposal,
    SwapAuthorize,
    SwapLocks,
    SwapPath,
    SwapPropose,
    SwapView,
)
from gateway.config import XgateConfig
from gateway.domain.status import AssetKind, Swap, SwapLeg
from gateway.domain.swap_terms import (
    HTLC_NAMES,
    InvalidClaimSignature,
    claim_typed_data,
    earliest_participant_timelock,
    plan_timelocks,
    recover_claim_signer,
    swap_claim_digest,
)
from gateway.domain.swaps import (
    CLAIMED_TOPIC,
    LOCKED_NATIVE_TOPIC,
    LOCKED_TOKEN_TOPIC,
    REFUNDED_TOPIC,
    TERMINAL_STATES,
    KeeperRules,
    TimelockMargin,
)
from gateway.store import HashlockInUse, Store, SwapStateMoved

__all__ = ["add_swap_operations", "keeper_rules"]

_APPROVE = keccak256(b"approve(address,uint256)")[:4]
_SAFE_TRANSFER_FROM = keccak256(b"safeTransferFrom(address,address,uint256,bytes)")[:4]
_WRITE_ATTEMPTS = 5  # the keeper may move the swap's state between our read and our write
_DECIMALS = keccak256(b"decimals()")[:4]
_BALANCE_OF = keccak256(b"balanceOf(address)")[:4]
_OWNER_OF = keccak256(b"ownerOf(uint256)")[:4]
_SUPPORTS_INTERFACE = keccak256(b"supportsInterface(bytes4)")[:4]
_ERC721_INTERFACE = bytes.fromhex("80ac58cd")
_IS_VALID_SIGNATURE = keccak256(b"isValidSignature(bytes32,bytes)")[:4]
_ERC1271_MAGIC = _IS_VALID_SIGNATURE.ljust(32, b"\0")  # bytes4 magic value, as a bytes32 word
_HTLC_TOPICS = (LOCKED_NATIVE_TOPIC, LOCKED_TOKEN_TOPIC, CLAIMED_TOPIC, REFUNDED_TOPIC)


def add_swap_operations(api: Api) -> None:
    """Declare the swap operations on ``api``."""
    api.add(
        "POST",
        "/v1/swaps",
        propose_swap,
        summary="Propose a two-chain HTLC swap: the gateway sets safe timelocks",
        scope=Scope.DAPP,
        path_params=NoParams,
        query=NoParams,
        body=SwapPropose,
        response=SwapView,
        status=201,
        problems=[409, 422],
        tags=["swaps"],
    )
    api.add(
        "GET",
        "/v1/swaps/{id}",
        get_swap,
        summary="A swap: its terms, state and the legs' transactions",
        scope=Scope.READ,
        path_params=SwapPath,
        query=NoParams,
        body=NoBody,
        response=SwapView,
        problems=[404],
        tags=["swaps"],
    )
    api.add(
        "POST",
        "/v1/swaps/{id}/locks",
        build_locks,
        summary="Each party's unsigned transactions to lock its leg",
        scope=Scope.DAPP,
        path_params=SwapPath,
        query=NoParams,
        body=NoBody,
        response=SwapLocks,
        problems=[404, 409],
        tags=["swaps"],
    )
    api.add(
        "POST",
        "/v1/swaps/{id}/authorizations",
        authorize_keeper,
        summary="Authorise the keeper: a relayed claim for the participant, refunds",
        scope=Scope.DAPP,
        path_params=SwapPath,
        query=NoParams,
        body=SwapAuthorize,
        response=SwapView,
        problems=[404, 409, 422],
        tags=["swaps"],
    )


# --- the keeper's terms ------------------------------------------------------------------------


def keeper_rules(cfg: XgateConfig) -> KeeperRules | None:
    """The rule terms the configured keeper applies (as ``xgate keeper run`` builds them);
    None without a ``[keeper]`` section."""
    keeper = cfg.keeper
    if keeper is None:
        return None
    return KeeperRules(
        finality_s={ChainId(c.chain_id): c.time_to_finality_s for c in cfg.chains.values()},
        relay_latency_s=keeper.relay_latency_s,
        clock_skew_s=keeper.clock_skew_s,
        safety_delay_s=keeper.safety_delay_s,
    )


def _rules_or_refuse(cfg: XgateConfig) -> KeeperRules:
    rules = keeper_rules(cfg)
    if rules is None:
        raise Problem(
            409,
            "keeper-not-configured",
            "No HTLC keeper",
            "this gateway runs no HTLC keeper ([keeper] in its configuration): it arranges "
            "no swaps",
        )
    return rules


def _margin(swap: Swap, rules: KeeperRules | None) -> TimelockMargin | None:
    """The swap's margin against the rule, unsafe or not; None when a term is unknown."""
    return None if rules is None else rules.terms(swap)


def _view(swap: Swap, cfg: XgateConfig) -> SwapView:
    keeper = cfg.keeper.address if cfg.keeper is not None else None
    typed: dict[str, Any] | None = None
    if keeper is not None and swap.state not in TERMINAL_STATES:
        typed = claim_typed_data(swap, keeper, swap.claim_destination or swap.participant)
    return SwapView.build(
        swap, margin=_margin(swap, keeper_rules(cfg)), keeper=keeper, claim_typed_data=typed
    )


# --- propose -----------------------------------------------------------------------------------


def _htlc(cfg: XgateConfig, chain_id: int, kind: AssetKind, field: str) -> Address:
    name = _chain_name(cfg, chain_id)
    contracts = cfg.chains[name].contracts
    address = {
        AssetKind.NATIVE: contracts.htlc_native,
        AssetKind.ERC20: contracts.htlc_erc20,
        AssetKind.ERC721: contracts.htlc_erc721,
    }[kind]
    if address is None:
        raise Problem(
            422,
            "htlc-not-deployed",
            "No HTLC for this asset",
            f"{field}: chain {name} ({chain_id}) has no {HTLC_NAMES[kind]} contract configured; "
            "swap another kind of asset there",
        )
    return Address(address)


def _chain_name(cfg: XgateConfig, chain_id: int) -> str:
    for name, chain in cfg.chains.items():
        if chain.chain_id == chain_id:
            return name
    raise Problem(404, "unknown-chain", "Unknown chain", f"chain id {chain_id} is not configured")


def _leg(
    cfg: XgateConfig, owner: LegProposal, other: LegProposal, timelock: int, field: str
) -> SwapLeg:
    asset = owner.asset
    return SwapLeg(
        chain_id=ChainId(owner.chain_id),
        htlc=_htlc(cfg, owner.chain_id, asset.kind, field),
        asset_kind=asset.kind,
        token=Address(asset.token if asset.token is not None else bytes(20)),
        value=asset.value,
        claimer=Address(other.address),
        refunder=Address(owner.address),
        timelock=timelock,
    )


async def _chain_head(call: Call[Any, Any, Any], chain_id: int) -> tuple[ChainHandle, int, int]:
    """The chain, its latest block's number and block time (what its HTLC compares timelocks
    with)."""
    chain = await chains_of(call.request).get(chain_id)
    header = (await chain.adapter.header_link("latest")).header
    return chain, int(header.number), int(header.timestamp)


def _same_proposal(existing: Swap, cfg: XgateConfig, body: SwapPropose) -> bool:
    """Whether ``existing`` is the swap ``body`` proposes: the same hashlock, parties, chains,
    HTLCs and assets, and the same timelocks when ``body`` gives them (the gateway's own are
    those it set then)."""
    if body.timelocks is None:
        t_a, t_b = existing.initiator_leg.timelock, existing.participant_leg.timelock
    else:
        t_a, t_b = body.timelocks.initiator, body.timelocks.participant
    proposed = Swap(
        swap_id=existing.swap_id,
        hashlock=body.hashlock,
        initiator=body.initiator.address,
        participant=body.participant.address,
        initiator_leg=_leg(cfg, body.initiator, body.participant, t_a, "body.initiator"),
        participant_leg=_leg(cfg, body.participant, body.initiator, t_b, "body.participant"),
    )
    return proposed.terms() == existing.terms()


def _hashlock_in_use(hashlock: bytes, where: str) -> Problem:
    return Problem(
        409,
        "hashlock-in-use",
        "Hashlock already in use",
        f"body.hashlock 0x{hashlock.hex()} is already used by {where}: a secret revealed "
        "there would open this swap's locks too. Draw a new 32-byte secret and propose with "
        "its sha256",
    )


def _answer_or_refuse(existing: list[Swap], cfg: XgateConfig, body: SwapPropose) -> Swap | None:
    """The stored swap ``body`` proposes again (idempotent), None when the hashlock is
    unused; 409 ``hashlock-in-use`` when another swap uses it."""
    for swap in existing:
        if _same_proposal(swap, cfg, body):
            return swap
    if existing:
        raise _hashlock_in_use(body.hashlock, f"swap 0x{existing[0].swap_id.hex()}")
    return None


async def _read(chain: ChainHandle, to: Address, data: bytes, height: int) -> bytes | None:
    """An ``eth_call`` at ``height``; None when it reverts (a node failing is 503)."""
    try:
        return await chain.adapter.call(to, data, height=Height(height))
    except CallReverted:
        return None


def _word(answer: bytes | None, below: int = 2**256) -> int | None:
    """The first 32-byte word of a call's answer when it holds a value below ``below``."""
    if answer is None or len(answer) < 32:
        return None
    value = int.from_bytes(answer[:32], "big")
    return value if value < below else None


async def _check_token(chain: ChainHandle, height: int, party: LegProposal, field: str) -> None:
    """A leg's token is a contract on its chain that answers as its kind of token: an
    ERC-20's ``decimals()`` and ``balanceOf(party)``, an ERC-721's
    ``supportsInterface(0x80ac58cd)`` and ``ownerOf(id)`` (the id exists). 422 otherwise."""
    asset = party.asset
    if asset.kind is AssetKind.NATIVE or asset.token is None:
        return
    token = Address(asset.token)
    shown = f"{field}.asset.token {to_checksum_address(token)}"
    where = f"chain {chain.name} ({chain.chain_id})"
    state = await chain.adapter.account_proof(token, [], Height(height))
    if state.account is None or state.account.code_hash == EMPTY_CODE_HASH:
        raise Problem(
            422,
            "token-not-a-contract",
            "Token is not a contract",
            f"{shown} has no code on {where} at block {height}: name the token contract's "
            "address on that chain",
        )
    if asset.kind is AssetKind.ERC20:
        decimals = _word(await _read(chain, token, _DECIMALS, height), 256)
        balance = _word(
            await _read(
                chain, token, _BALANCE_OF + abi_encode(["address"], [party.address]), height
            )
        )
        if decimals is None or balance is None:
            raise Problem(
                422,
                "token-not-erc20",
                "Token is not an ERC-20",
                f"{shown} on {where} does not answer decimals() and balanceOf(address) as an "
                "ERC-20 does: name an ERC-20 token contract, or the asset's right kind",
            )
        return
    supports = _word(
        await _read(chain, token, _SUPPORTS_INTERFACE + _ERC721_INTERFACE.ljust(32, b"\0"), height),
        2,
    )
    if supports != 1:
        raise Problem(
            422,
            "token-not-erc721",
            "Token is not an ERC-721",
            f"{shown} on {where} does not declare ERC-721 (supportsInterface(0x80ac58cd)): "
            "name an ERC-721 token contract, or the asset's right kind",
        )
    owner = _word(
        await _read(chain, token, _OWNER_OF + asset.value.to_bytes(32, "big"), height), 2**160
    )
    if not owner:
        raise Problem(
            422,
            "token-not-erc721",
            "No such ERC-721 token",
            f"{field}.asset.value: token id {asset.value} of {to_checksum_address(token)} has "
            f"no owner on {where} (ownerOf reverts): name a minted token id",
        )


async def _check_hashlock_unused_on_chain(
    cfg: XgateConfig, chain: ChainHandle, height: int, hashlock: bytes
) -> None:
    """No HTLC of the chain ever logged a lock, claim or refund under ``hashlock`` (from the
    chain's ``start_height`` to block ``height``): 409 ``hashlock-in-use`` otherwise."""
    contracts = cfg.chains[chain.name].contracts
    htlcs = tuple(
        Address(a)
        for a in (contracts.htlc_native, contracts.htlc_erc20, contracts.htlc_erc721)
        if a is not None
    )
    start = chain.config.start_height
    if not htlcs or height < start:
        return
    query = EventQuery(addresses=htlcs, topics=(_HTLC_TOPICS, (hashlock,)))
    events = await chain.adapter.events(query, Height(start), Height(height))
    if events:
        event = events[0]
        raise _hashlock_in_use(
            hashlock,
            f"an HTLC lock on chain {chain.name} ({chain.chain_id}): "
            f"{to_checksum_address(event.address)}, transaction 0x{event.tx_hash.hex()}",
        )


async def propose_swap(call: Call[NoParams, NoParams, SwapPropose]) -> SwapView:
    """Record a swap between the initiator's lock on its chain (claimed by the participant)
    and the participant's lock on its chain (claimed by the initiator). Without `timelocks`
    the gateway sets `T_B = now + 2W + F_A + 2F_B + 2L + S + D` (`W`: `lock_window_s`) and
    `T_A = T_B + F_A + F_B + L + S + D`, the keeper's margin; given ones must keep that margin
    (422 `unsafe-timelocks`) and leave the initiator time to claim before `T_B` (422
    `participant-timelock-too-soon`). `now` is the later of the two chains' latest block
    times. A hashlock another swap uses, or that an HTLC on either chain already saw, is 409
    `hashlock-in-use` (the same proposal again answers the stored swap); each token must be
    a contract of its kind on its chain (422 `token-not-a-contract`, `token-not-erc20`,
    `token-not-erc721`). The swap starts `proposed`; lock with `POST /v1/swaps/{id}/locks`."""
    cfg = call.request.app[CONFIG_KEY]
    store = call.request.app[STORE_KEY]
    rules = _rules_or_refuse(cfg)
    body = call.body
    # Refuse assets without an HTLC before touching a chain.
    _htlc(cfg, body.initiator.chain_id, body.initiator.asset.kind, "body.initiator")
    _htlc(cfg, body.participant.chain_id, body.participant.asset.kind, "body.participant")
    again = _answer_or_refuse(await store.swaps_with_hashlock(body.hashlock), cfg, body)
    if again is not None:
        return _view(again, cfg)
    fin_a = rules.finality_s[ChainId(body.initiator.chain_id)]
    fin_b = rules.finality_s[ChainId(body.participant.chain_id)]
    chain_a, height_a, time_a = await _chain_head(call, body.initiator.chain_id)
    chain_b, height_b, time_b = await _chain_head(call, body.participant.chain_id)
    now = max(time_a, time_b)
    if body.timelocks is None:
        plan = plan_timelocks(now, body.lock_window_s, fin_a, fin_b, rules)
        t_a, t_b = plan.initiator_timelock, plan.participant_timelock
    else:
        t_a, t_b = body.timelocks.initiator, body.timelocks.participant
        earliest = earliest_participant_timelock(now, fin_a, fin_b, rules)
        if t_b < earliest:
            raise Problem(
                422,
                "participant-timelock-too-soon",
                "Participant's timelock too soon",
                f"timelocks.participant {t_b} leaves the initiator no time to claim (final) "
                f"before it: it must be at least {earliest} (chain time now {now} + "
                f"{earliest - now} s: F_A + 2 F_B + 2 L + S + D)",
            )
    swap = Swap(
        swap_id=Hash32(os.urandom(32)),
        hashlock=body.hashlock,
        initiator=body.initiator.address,
        participant=body.participant.address,
        initiator_leg=_leg(cfg, body.initiator, body.participant, t_a, "body.initiator"),
        participant_leg=_leg(cfg, body.participant, body.initiator, t_b, "body.participant"),
    )
    margin = _margin(swap, rules)
    assert margin is not None  # the rules know every configured chain
    if not margin.safe:
        required = math.ceil(margin.required_s)
        raise Problem(
            422,
            "unsafe-timelocks",
            "Unsafe timelocks",
            f"timelocks.initiator - timelocks.participant is {margin.margin_s} s; the keeper "
            f"needs at least {required} s (F_A {fin_a} + F_B {fin_b} + L "
            f"{rules.relay_latency_s} + S {rules.clock_skew_s} + D {rules.safety_delay_s}): "
            f"set timelocks.initiator to {t_b + required} or later",
        )
    await _check_token(chain_a, height_a, body.initiator, "body.initiator")
    await _check_token(chain_b, height_b, body.participant, "body.participant")
    await _check_hashlock_unused_on_chain(cfg, chain_a, height_a, body.hashlock)
    if chain_b.chain_id != chain_a.chain_id:
        await _check_hashlock_unused_on_chain(cfg, chain_b, height_b, body.hashlock)
    try:
        stored = await store.record_proposed_swap(swap)
    except HashlockInUse as exc:
        # Another proposal with this hashlock was recorded meanwhile.
        existing: Swap = exc.existing
        if _same_proposal(existing, cfg, body):
            return _view(existing, cfg)
        raise _hashlock_in_use(body.hashlock, f"swap 0x{existing.swap_id.hex()}") from exc
    return _view(stored, cfg)


# --- read --------------------------------------------------------------------------------------


async def _swap_or_404(store: Store, swap_id: Hash32) -> Swap:
    swap = await store.swap(swap_id)
    if swap is None:
        raise Problem(404, "swap-not-found", "Swap not found", f"no swap 0x{swap_id.hex()}")
    return swap


async def get_swap(call: Call[SwapPath, NoParams, NoBody]) -> SwapView:
    """The swap's terms and state; the legs' `lock_tx`, `claim_tx` and `refund_tx` as the
    keeper saw them in final blocks, `preimage` once a claim revealed it."""
    swap = await _swap_or_404(call.request.app[STORE_KEY], Hash32(call.path.id))
    return _view(swap, call.request.app[CONFIG_KEY])


# --- locks -------------------------------------------------------------------------------------


def _swap_over(swap: Swap) -> Problem:
    return Problem(
        409,
        "swap-over",
        "Swap is over",
        f"swap 0x{swap.swap_id.hex()} is {swap.state.value}: nothing more can be done for it",
    )


def _lock_txs(hashlock: bytes, leg: SwapLeg, who: str) -> list[UnsignedTx]:
    """The owner's transactions to open ``leg`` (refunder = the sender: a plain lock)."""
    kind = leg.asset_kind
    artifact = load_artifact(HTLC_NAMES[kind])
    base: dict[str, Any] = {"chain_id": leg.chain_id, "sender": leg.refunder, "gas": None}
    what = f"{who}: lock {leg.value} " if kind is not AssetKind.ERC721 else f"{who}: lock token "
    if kind is AssetKind.NATIVE:
        data = artifact.call_data("lock", hashlock, leg.claimer, leg.timelock)
        return [
            UnsignedTx(
                **base,
                to=leg.htlc,
                data=data,
                value=leg.value,
                description=f"{what}wei of the native coin in {HTLC_NAMES[kind]}",
            )
        ]
    if kind is AssetKind.ERC20:
        approve = _APPROVE + abi_encode(["address", "uint256"], [leg.htlc, leg.value])
        lock = artifact.call_data("lock", hashlock, leg.value, leg.token, leg.claimer, leg.timelock)
        token = to_checksum_address(leg.token)
        return [
            UnsignedTx(
                **base,
                to=leg.token,
                data=approve,
                value=0,
                description=f"{who}: allow {HTLC_NAMES[kind]} to take {leg.value} of {token}",
            ),
            UnsignedTx(
                **base,
                to=leg.htlc,
                data=lock,
                value=0,
                description=f"{what}of {token} in {HTLC_NAMES[kind]} (after the approval)",
            ),
        ]
    hook_data = abi_encode(["bytes32", "address", "uint256"], [hashlock, leg.claimer, leg.timelock])
    transfer = _SAFE_TRANSFER_FROM + abi_encode(
        ["address", "address", "uint256", "bytes"],
        [leg.refunder, leg.htlc, leg.value, hook_data],
    )
    return [
        UnsignedTx(
            **base,
            to=leg.token,
            data=transfer,
            value=0,
            description=f"{what}{leg.value} of {to_checksum_address(leg.token)}: transfer it "
            f"into {HTLC_NAMES[kind]}, which opens the lock",
        )
    ]


async def build_locks(call: Call[SwapPath, NoParams, NoBody]) -> SwapLocks:
    """The initiator's and the participant's transactions to lock their legs, for their
    wallets to sign (each from the party's own address, which the HTLC refunds). A leg already
    locked gets none. The initiator locks first; the participant only once the initiator's
    lock is final (the swap is `initiator_locked`), never before (docs/htlc.md §5.3 rule 1).
    `gas` is null: the wallet estimates it (the ERC-20 lock only after its approval)."""
    swap = await _swap_or_404(call.request.app[STORE_KEY], Hash32(call.path.id))
    if swap.state in TERMINAL_STATES:
        raise _swap_over(swap)
    a, b = swap.initiator_leg, swap.participant_leg
    return SwapLocks(
        swap_id=swap.swap_id,
        initiator=[] if a.lock_tx is not None else _lock_txs(swap.hashlock, a, "initiator"),
        participant=[] if b.lock_tx is not None else _lock_txs(swap.hashlock, b, "participant"),
    )


# --- authorisations ----------------------------------------------------------------------------


async def _contract_wallet_accepts(
    call: Call[Any, Any, Any], leg: SwapLeg, digest: bytes, signature: bytes
) -> bool | None:
    """None when the leg's claimer has no code on the leg's chain (an EOA: the HTLC recovers
    the signer); else whether its ERC-1271 ``isValidSignature(digest, signature)`` answers the
    magic value now, as the HTLC checks it (OpenZeppelin ``SignatureChecker``)."""
    chain = await chains_of(call.request).get(leg.chain_id)
    height = int((await chain.adapter.header_link("latest")).header.number)
    state = await chain.adapter.account_proof(leg.claimer, [], Height(height))
    if state.account is None or state.account.code_hash == EMPTY_CODE_HASH:
        return None
    data = _IS_VALID_SIGNATURE + abi_encode(["bytes32", "bytes"], [digest, signature])
    answer = await _read(chain, leg.claimer, data, height)
    return answer is not None and len(answer) >= 32 and answer[:32] == _ERC1271_MAGIC


async def authorize_keeper(call: Call[SwapPath, NoParams, SwapAuthorize]) -> SwapView:
    """Authorise the keeper for this swap. `claim`: the participant's EIP-712 signature of the
    swap's `claim_typed_data` (submitter: the keeper; `destination`: where the asset goes),
    recovered here and refused unless the participant signed exactly that (422
    `claim-signature-invalid`, or `claim-signature-malformed` for a signature the HTLC would
    refuse whoever signed it; nothing is stored). A participant that is a contract wallet
    (code at its address on the leg's chain) is asked, as the HTLC asks it, whether it accepts
    the signature (ERC-1271 `isValidSignature`, read now: a wallet may revoke it later).
    `refund`: the keeper sends `refundFor` for a leg whose timelock passed, which can only pay
    the leg's owner back. Given again, a claim authorisation replaces the
    stored one; a refund authorisation stays."""
    cfg = call.request.app[CONFIG_KEY]
    store = call.request.app[STORE_KEY]
    _rules_or_refuse(cfg)
    swap = await _swap_or_404(store, Hash32(call.path.id))
    fields: dict[str, Any] = {}
    claim = call.body.claim
    if claim is not None:
        keeper = cfg.keeper.address if cfg.keeper is not None else None
        if keeper is None:
            raise Problem(
                409,
                "keeper-address-unknown",
                "Keeper address unknown",
                "this gateway does not publish its keeper's address ([keeper] address): a "
                "relayed claim cannot be signed for it",
            )
        digest = swap_claim_digest(swap, keeper, claim.destination)
        claimer = swap.initiator_leg.claimer
        wallet = await _contract_wallet_accepts(call, swap.initiator_leg, digest, claim.signature)
        if wallet is False:
            raise Problem(
                422,
                "claim-signature-invalid",
                "Claim signature not the participant's",
                f"the participant {to_checksum_address(claimer)} is a contract wallet and its "
                "isValidSignature (ERC-1271) does not accept body.claim.signature for this "
                f"swap's initiator leg, the keeper {to_checksum_address(keeper)} as submitter "
                f"and the destination {to_checksum_address(claim.destination)}: have the "
                "wallet sign the swap's claim_typed_data with that destination",
            )
        try:
            signer = claimer if wallet else recover_claim_signer(digest, claim.signature)
        except InvalidClaimSignature as exc:
            raise Problem(
                422,
                "claim-signature-malformed",
                "Malformed claim signature",
                f"body.claim.signature: {exc.message}",
            ) from exc
        if signer != claimer:
            raise Problem(
                422,
                "claim-signature-invalid",
                "Claim signature not the participant's",
                "body.claim.signature does not recover to the participant "
                f"{to_checksum_address(claimer)} for this swap's initiator leg, the keeper "
                f"{to_checksum_address(keeper)} as submitter and the destination "
                f"{to_checksum_address(claim.destination)}: sign the swap's claim_typed_data "
                "with that destination",
            )
        fields["claim_signature"] = claim.signature
        fields["claim_destination"] = claim.destination
    if call.body.refund:
        fields["refund_authorised"] = True
    for _ in range(_WRITE_ATTEMPTS):
        if swap.state in TERMINAL_STATES:
            raise _swap_over(swap)
        try:
            updated = await store.set_swap_state(swap.swap_id, swap.state, swap.state, **fields)
        except SwapStateMoved:
            swap = await _swap_or_404(store, swap.swap_id)
            continue
        return _view(updated, cfg)
    raise Problem(
        409,
        "swap-busy",
        "Swap changing",
        "the swap's state kept changing while the authorisation was written; retry",
        headers={"Retry-After": "1"},
    )
