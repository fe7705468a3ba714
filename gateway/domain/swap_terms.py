"""The terms the gateway offers for a two-chain HTLC swap, and the checks of what parties hand
it (docs/api.md "Swaps", docs/htlc.md §5.3). Pure and synchronous (style rule 4).

- ``plan_timelocks``: both timelocks from the chains' time now, each party's time to send its
  lock and the keeper's rule terms, so that the keeper (``KeeperRules.margin``) acts on the
  swap and each party has the time the protocol needs;
- ``earliest_participant_timelock``: the soonest ``T_B`` with which the initiator can still
  claim the participant's leg, final, before it (rule 2);
- ``claim_typed_data``: the EIP-712 ``Claim`` the participant signs for a relayed claim, as the
  JSON wallets sign (``eth_signTypedData_v4``); ``recover_claim_signer``: who signed one, with
  the contract's own acceptance rules (65 bytes, ``v`` 27 or 28, low ``s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import coincurve
from eth_utils.address import to_checksum_address

from adapters.errors import FatalError
from adapters.mpt import keccak256
from adapters.types import Address, Hash32
from gateway.domain.status import AssetKind, Swap
from gateway.domain.swaps import KeeperRules, swap_key
from gateway.domain.typed_data import HTLC_DOMAIN_NAMES, HtlcName, digest, htlc_claim_message

__all__ = [
    "HTLC_NAMES",
    "SECP256K1_N",
    "InvalidClaimSignature",
    "SwapPlan",
    "claim_typed_data",
    "earliest_participant_timelock",
    "plan_timelocks",
    "recover_claim_signer",
    "swap_claim_digest",
]

HTLC_NAMES: dict[AssetKind, HtlcName] = {
    AssetKind.NATIVE: "HtlcNative",
    AssetKind.ERC20: "HtlcErc20",
    AssetKind.ERC721: "HtlcErc721",
}
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class InvalidClaimSignature(FatalError):
    """A relayed-claim signature the HTLC would refuse whoever signed it (its shape)."""


@dataclass(frozen=True, slots=True)
class SwapPlan:
    """``T_A`` (the initiator's leg) and ``T_B`` (the participant's), unix seconds."""

    initiator_timelock: int
    participant_timelock: int


def _claim_path_s(finality_a_s: float, finality_b_s: float, rules: KeeperRules) -> float:
    """From the participant's lock being sent to the initiator's claim being final on B with
    the safety delay to spare: B's finality, the initiator seeing it, its claim, that claim's
    finality, the clock skew and ``D`` (rule 2: claim by ``T_B - F_B - D``)."""
    return (
        2 * finality_b_s
        + 2 * rules.relay_latency_s
        + rules.clock_skew_s
        + rules.safety_delay_s
        + finality_a_s  # the participant locks only once the initiator's lock is final (rule 1)
    )


def earliest_participant_timelock(
    now: int, finality_a_s: float, finality_b_s: float, rules: KeeperRules
) -> int:
    """The soonest ``T_B`` that leaves the swap's steps their time, with both locks sent at
    once (no time for the parties themselves)."""
    return now + math.ceil(_claim_path_s(finality_a_s, finality_b_s, rules))


def plan_timelocks(
    now: int, lock_window_s: int, finality_a_s: float, finality_b_s: float, rules: KeeperRules
) -> SwapPlan:
    """``T_B = now + 2W + F_A + 2 F_B + 2 L + S + D`` (each party ``W`` to send its lock) and
    ``T_A = T_B + ⌈F_A + F_B + L + S + D⌉``: the keeper's margin, exactly (htlc.md §5.3).
    ``now``: the later of the two chains' latest block times."""
    t_b = earliest_participant_timelock(now, finality_a_s, finality_b_s, rules) + 2 * lock_window_s
    margin = (
        finality_a_s
        + finality_b_s
        + rules.relay_latency_s
        + rules.clock_skew_s
        + rules.safety_delay_s
    )
    return SwapPlan(t_b + math.ceil(margin), t_b)


def claim_typed_data(swap: Swap, submitter: bytes, destination: bytes) -> dict[str, Any]:
    """The ``Claim(swapKey, submitter, destination)`` of the swap's initiator leg as EIP-712
    JSON (``types``, ``primaryType``, ``domain``, ``message``); the same message as
    ``typed_data.htlc_claim_message``, which the contract's ``claimDigest`` checks."""
    leg = swap.initiator_leg
    name = HTLC_NAMES[leg.asset_kind]
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Claim": [
                {"name": "swapKey", "type": "bytes32"},
                {"name": "submitter", "type": "address"},
                {"name": "destination", "type": "address"},
            ],
        },
        "primaryType": "Claim",
        "domain": {
            "name": HTLC_DOMAIN_NAMES[name],
            "version": "1",
            "chainId": int(leg.chain_id),
            "verifyingContract": to_checksum_address(leg.htlc),
        },
        "message": {
            "swapKey": "0x" + swap_key(swap.hashlock, leg).hex(),
            "submitter": to_checksum_address(submitter),
            "destination": to_checksum_address(destination),
        },
    }


def swap_claim_digest(swap: Swap, submitter: bytes, destination: bytes) -> Hash32:
    """The digest the initiator leg's HTLC recovers a relayed claim's signer from."""
    leg = swap.initiator_leg
    name = HTLC_NAMES[leg.asset_kind]
    message = htlc_claim_message(
        name,
        leg.chain_id,
        leg.htlc,
        swap_key(swap.hashlock, leg),
        submitter,
        destination,
    )
    return Hash32(digest(message))


def recover_claim_signer(message_digest: bytes, signature: bytes) -> Address:
    """The EOA that signed ``message_digest``: ``r ‖ s ‖ v``, ``v`` 27 or 28, ``s`` in the lower
    half (OpenZeppelin ``ECDSA.recover``, which the HTLCs use, refuses anything else);
    ``InvalidClaimSignature`` otherwise."""
    if len(signature) != 65:
        raise InvalidClaimSignature("a signature is 65 bytes: r, s, v", length=len(signature))
    v = signature[64]
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if v not in (27, 28):
        raise InvalidClaimSignature("v must be 27 or 28", v=v)
    if not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise InvalidClaimSignature("r or s out of range (s must be in the lower half)")
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v - 27]), message_digest, hasher=None
        ).format(compressed=False)
    except (ValueError, TypeError) as exc:
        raise InvalidClaimSignature("the signature recovers no public key") from exc
    return Address(keccak256(public[1:])[12:])
