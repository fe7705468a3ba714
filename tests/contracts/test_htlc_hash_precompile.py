"""The HTLCs' sha256 hashlock refuses a failed precompile call instead of using what it did not
compute.

``HtlcBase._hashlock`` writes the preimage to memory, staticcalls the sha256 precompile with the
output over the input, and reads the word back. When that staticcall fails, the word still holds
the preimage: the contract would take ``hashlock = preimage``, so whoever knows the hashlock (it
is public in ``Locked``) could present it as the "preimage" and match the swap key.

How a real failure is produced on demand:

- Out of gas (the 1/64 rule) does not work against ``staticcall(gas(), ...)``: the precompile
  runs out only when the HTLC frame forwards fewer than 72 gas, and the frame then keeps
  ``floor(remaining / 64)``, at most 1 gas, so it dies on its next opcode and the whole call
  reverts. No gas limit leaves the frame alive after a failed hash (a sweep over gas limits
  shows nothing either way, so there is no test for it).
- A missing precompile (success with no output) cannot be produced: anvil and py-evm give
  precompiles precedence over ``anvil_setCode``. The check covers it anyway (returndatasize).
- The call-depth limit does work: at depth 1024 every CALL/STATICCALL fails at once without
  consuming gas, so the frame survives. ``HtlcDeepCaller`` reaches that depth on an anvil with a
  1e13 block gas limit (about 1e12 gas: (64/63)^1023 ~ 1e7 times the innermost frame's need),
  which consortium chains with huge genesis gas limits also allow. Run there, today's
  ``_hashlock`` returns the preimage itself, and a native claim with ``preimage = hashlock``
  matches the swap and is stopped only because the payout call fails too (TransferFailed). These
  tests run on anvil only: py-evm nests one Python call per EVM frame and cannot go 1024 deep.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_abi.abi import decode
from web3.contract import Contract

from harness import Chain, Reverted, decode_revert, make_chain
from tests.contracts._htlc_helpers import HOUR, address, new_secret

DEPTH_LIMIT = 1024  # the EVM's call-depth limit; the transaction's own frame is depth 0
DEEP_GAS = 10**12  # enough for 1023 nested frames with a few thousand gas left at the bottom
AMOUNT = 10**15
ALICE = 0


@pytest.fixture(scope="module")
async def deep_chain() -> AsyncIterator[Chain]:
    from devnet.anvil import start_anvil

    async with start_anvil(chain_id=31338, extra_args=("--gas-limit", str(10 * DEEP_GAS))) as node:
        yield make_chain("deep-anvil", node.url)


def _at_depth(chain: Chain, deep: Contract, depth: int, target: Contract, data: bytes) -> Any:
    """``target`` called with ``data`` at call depth ``depth`` (eth_call); its return data, or
    ``Reverted`` with the target's own error (unwrapped from HtlcDeepCaller.InnerFailed)."""
    call = deep.functions.run(depth - 1, target.address, data)
    try:
        return bytes(call.call({"gas": DEEP_GAS}))
    except Exception as exc:  # web3 raises ContractCustomError with the revert data
        reverted = _reverted(exc)
    if reverted.error == "InnerFailed":
        raise decode_revert(reverted.args_[0])
    raise reverted


def _reverted(exc: Exception) -> Reverted:
    data = getattr(exc, "data", None)
    assert isinstance(data, str) and data.startswith("0x"), f"not a revert: {exc!r}"
    return decode_revert(bytes.fromhex(data[2:]))


def _calldata(fn: Any) -> bytes:
    return bytes.fromhex(fn._encode_transaction_data()[2:])


def test_a_failed_sha256_precompile_call_reverts_instead_of_returning_the_preimage(
    deep_chain: Chain,
) -> None:
    harness = deep_chain.deploy("HtlcHashHarness")
    deep = deep_chain.deploy("HtlcDeepCaller")
    preimage = b"\x11" * 32
    data = _calldata(harness.functions.hashlockOf(preimage))
    # One level above the limit the precompile answers: the harness computes sha256.
    (ok,) = decode(["bytes32"], _at_depth(deep_chain, deep, DEPTH_LIMIT - 1, harness, data))
    assert ok == hashlib.sha256(preimage).digest()
    # At the limit the staticcall fails: today the memory word (the preimage) came back as hash.
    with pytest.raises(Reverted) as info:
        _at_depth(deep_chain, deep, DEPTH_LIMIT, harness, data)
    assert info.value.error == "Sha256Failed"


def test_a_claim_at_the_call_depth_limit_cannot_match_the_swap_with_the_public_hashlock(
    deep_chain: Chain,
) -> None:
    """The counterparty (a contract claimer) presents the public hashlock as the preimage."""
    chain = deep_chain
    htlc = chain.deploy("HtlcNative")
    deep = chain.deploy("HtlcDeepCaller")  # the claimer: it is msg.sender of the HTLC call
    preimage, hashlock = new_secret()
    timelock = chain.now() + HOUR
    chain.send(htlc.functions.lock(hashlock, deep.address, timelock), value=AMOUNT)
    alice = address(chain, ALICE)
    key = htlc.functions.swapKey(
        hashlock, AMOUNT, "0x" + "00" * 20, deep.address, alice, timelock
    ).call()
    forged = _calldata(htlc.functions.claim(hashlock, AMOUNT, alice, timelock))

    with pytest.raises(Reverted) as info:
        _at_depth(chain, deep, DEPTH_LIMIT, htlc, forged)
    # Today: TransferFailed, i.e. the swap key matched and only the failing payout saved it.
    assert info.value.error == "Sha256Failed"
    # Mined, the forged claim fails and the swap stays open with its value.
    run = deep.functions.run(DEPTH_LIMIT - 1, htlc.address, forged)
    assert chain.send_unchecked(run, gas=DEEP_GAS)["status"] == 0
    assert htlc.functions.swaps(key).call()
    assert chain.w3.eth.get_balance(htlc.address) == AMOUNT

    # The real preimage one level up still claims through the same contract.
    honest = _calldata(htlc.functions.claim(preimage, AMOUNT, alice, timelock))
    chain.send(deep.functions.run(DEPTH_LIMIT - 2, htlc.address, honest), gas=DEEP_GAS)
    assert not htlc.functions.swaps(key).call()
    assert chain.w3.eth.get_balance(deep.address) == AMOUNT
