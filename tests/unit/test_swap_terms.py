"""The gateway's swap terms and signature checks (gateway/domain/swap_terms.py), offline."""

from __future__ import annotations

import math
import os

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from adapters.types import Address, ChainId, Hash32
from gateway.domain.status import AssetKind, Swap, SwapLeg
from gateway.domain.swap_terms import (
    SECP256K1_N,
    InvalidClaimSignature,
    claim_typed_data,
    earliest_participant_timelock,
    plan_timelocks,
    recover_claim_signer,
    swap_claim_digest,
)
from gateway.domain.swaps import KeeperRules

A, B = ChainId(31337), ChainId(20250)
seconds = st.floats(min_value=0, max_value=3600, allow_nan=False)


def rules(f_a: float, f_b: float, latency: float, skew: float, delay: float) -> KeeperRules:
    return KeeperRules({A: f_a, B: f_b}, latency, skew, delay)


def swap(t_a: int, t_b: int, kind: AssetKind = AssetKind.ERC20, claimer: bytes = b"") -> Swap:
    initiator, participant = Address(os.urandom(20)), Address(claimer or os.urandom(20))
    token = Address(bytes(20) if kind is AssetKind.NATIVE else os.urandom(20))
    return Swap(
        Hash32(os.urandom(32)),
        Hash32(os.urandom(32)),
        initiator,
        participant,
        SwapLeg(A, Address(os.urandom(20)), kind, token, 7, participant, initiator, t_a),
        SwapLeg(B, Address(os.urandom(20)), AssetKind.NATIVE, Address(bytes(20)), 9, initiator,
                participant, t_b),
    )  # fmt: skip


@given(seconds, seconds, seconds, seconds, seconds, st.integers(60, 86400))
def test_planned_timelocks_keep_the_keepers_margin_and_give_each_party_its_window(
    f_a: float, f_b: float, latency: float, skew: float, delay: float, window: int
) -> None:
    r = rules(f_a, f_b, latency, skew, delay)
    now = 1_800_000_000
    plan = plan_timelocks(now, window, f_a, f_b, r)
    margin = r.margin(swap(plan.initiator_timelock, plan.participant_timelock))  # no refusal
    assert margin.margin_s == math.ceil(margin.required_s) >= margin.required_s
    earliest = earliest_participant_timelock(now, f_a, f_b, r)
    assert plan.participant_timelock == earliest + 2 * window


def test_the_devnet_terms() -> None:
    # consortium 5 s, public 12 s, the keeper's defaults: L 60, S 15, D 300.
    plan = plan_timelocks(1000, 600, 12.0, 5.0, rules(12.0, 5.0, 60.0, 15.0, 300.0))
    assert (plan.participant_timelock, plan.initiator_timelock) == (1000 + 1657, 1000 + 1657 + 392)


@pytest.mark.parametrize("kind", list(AssetKind))
def test_the_typed_data_a_wallet_signs_is_the_claim_the_htlc_checks(kind: AssetKind) -> None:
    account = Account.create()
    s = swap(2000, 1000, kind, claimer=bytes.fromhex(account.address[2:]))
    keeper, destination = os.urandom(20), os.urandom(20)
    typed = claim_typed_data(s, keeper, destination)
    signature = bytes(account.sign_message(encode_typed_data(full_message=typed)).signature)
    recovered = recover_claim_signer(swap_claim_digest(s, keeper, destination), signature)
    assert recovered == s.initiator_leg.claimer
    # Another destination or submitter is another message: someone else "signed" it.
    assert recover_claim_signer(swap_claim_digest(s, keeper, keeper), signature) != recovered
    assert recover_claim_signer(swap_claim_digest(s, destination, destination), signature) != (
        recovered
    )


def test_signatures_the_htlc_refuses_whoever_signed_them_are_malformed() -> None:
    account = Account.create()
    s = swap(2000, 1000, claimer=bytes.fromhex(account.address[2:]))
    keeper = os.urandom(20)
    digest = swap_claim_digest(s, keeper, keeper)
    good = bytes(account.unsafe_sign_hash(digest).signature)
    assert recover_claim_signer(digest, good) == s.initiator_leg.claimer
    high_s = SECP256K1_N - int.from_bytes(good[32:64], "big")
    twin = good[:32] + high_s.to_bytes(32, "big") + bytes([55 - good[64]])
    for bad in (good[:64], good + b"\x00", good[:64] + bytes([good[64] - 27]), twin):
        with pytest.raises(InvalidClaimSignature):
            recover_claim_signer(digest, bad)
