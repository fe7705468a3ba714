"""QbftLightClient accepts what adapters.lightclient.qbft accepts, and rejects the rest.

Headers come from three places: sealed here with test keys (adapters.bft.seal_qbft_header),
the real Besu block 7528 (tests/vectors/qbft_headers.json) and the consortium devnet node.
Every rejection reverts with a specific custom error and leaves the client unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import RPCEndpoint

from adapters.bft import (
    SECP256K1_N,
    Vote,
    decode_qbft_extra,
    encode_qbft_extra,
    qbft_block_hash,
    qbft_hashes,
    sign_commit_seal,
    with_qbft_extra,
)
from adapters.errors import HeaderInvalid
from adapters.headers import Header, decode_header, encode_header, header_from_rpc
from adapters.lightclient.qbft import TrustedHeader, verify_header
from adapters.types import Address
from tests.contracts._lc_helpers import (
    addresses,
    block_hash,
    h,
    lc_keys,
    make_header,
    sealed,
    vector,
    with_seals,
)
from tests.contracts.conftest import Chain, Reverted, make_chain

KEYS = lc_keys(4)
VALIDATORS = addresses(KEYS)
OUTSIDER = lc_keys(1, b"outsider")[0]
TRUSTED_NUMBER = 99
TRUSTED_HASH = b"\x11" * 32  # make_header's default parent hash
SOURCE_CHAIN = 20250


def deploy(
    chain: Chain,
    validators: list[bytes] = VALIDATORS,
    number: int = TRUSTED_NUMBER,
    trusted_hash: bytes = TRUSTED_HASH,
) -> Contract:
    return chain.deploy("QbftLightClient", SOURCE_CHAIN, validators, number, trusted_hash)


@pytest.fixture(scope="module", params=["anvil", "consortium"])
def fresh(request: pytest.FixtureRequest) -> tuple[Chain, Contract]:
    """A client that no test changes: for checks done with eth_call only (fast on the devnet)."""
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    return chain, deploy(chain)


def accepts(chain: Chain, lc: Contract, header: Header) -> None:
    """``submitHeader`` would succeed (eth_call) and return the QBFT block hash; Python agrees."""
    python = verify_header(trusted_of(lc, chain), header)
    assert chain.check_call(lc.functions.submitHeader(encode_header(header))) == python.hash


def trusted_of(lc: Contract, chain: Chain) -> TrustedHeader:
    """The Python client's view of the on-chain client's trust anchor."""
    return TrustedHeader(
        number=lc.functions.latestNumber().call(),
        hash=lc.functions.latestHash().call(),
        validators=tuple(Address(h(a)) for a in lc.functions.validators().call()),
        timestamp=lc.functions.latestTimestamp().call(),
    )


def snapshot(lc: Contract) -> tuple[Any, ...]:
    return (
        lc.functions.latestNumber().call(),
        lc.functions.latestHash().call(),
        lc.functions.validatorSetHash().call(),
    )


def submit_ok(chain: Chain, lc: Contract, header: Header) -> Any:
    """Submit; the Python client must agree it is valid; the roots must be stored."""
    python = verify_header(trusted_of(lc, chain), header)
    receipt = chain.send(lc.functions.submitHeader(encode_header(header)))
    hash_ = bytes(qbft_block_hash(header))
    assert python.hash == hash_
    assert lc.functions.isAccepted(hash_).call()
    assert lc.functions.receiptsRootOf(SOURCE_CHAIN, hash_).call() == header.receipts_root
    assert lc.functions.stateRootOf(SOURCE_CHAIN, hash_).call() == header.state_root
    return receipt


def submit_bad(
    chain: Chain, lc: Contract, rlp: bytes, error: str, python_rejects: bool = True
) -> None:
    """The call reverts with ``error``, nothing changes, and the Python client rejects it too."""
    before = snapshot(lc)
    if python_rejects:
        with pytest.raises(HeaderInvalid):
            verify_header(trusted_of(lc, chain), rlp)
    chain.expect_revert(lc.functions.submitHeader(rlp), error)
    assert snapshot(lc) == before


# --- acceptance ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [15, 16, 17, 20, 21])
def test_header_sealed_by_a_quorum_is_valid_for_every_fork_field_count(
    fresh: tuple[Chain, Contract], fields: int
) -> None:
    chain, lc = fresh
    accepts(chain, lc, sealed(make_header(VALIDATORS, number=100, fields=fields), KEYS[:3]))


def test_accepted_header_stores_its_roots_and_becomes_the_latest(chain: Chain) -> None:
    lc = deploy(chain)
    header = sealed(make_header(VALIDATORS, number=100), KEYS[:3])
    receipt = submit_ok(chain, lc, header)
    events = lc.events.HeaderAccepted().process_receipt(receipt, errors=DISCARD)
    assert [(e.args.number, e.args.blockHash) for e in events] == [(100, block_hash(header))]
    assert lc.functions.latestNumber().call() == 100
    assert lc.functions.latestHash().call() == block_hash(header)
    assert lc.functions.latestTimestamp().call() == header.timestamp
    chain.expect_revert(lc.functions.submitHeader(encode_header(header)), "HeaderAlreadyAccepted")
    # the oracle view refuses unknown headers and other chains
    for fn in (lc.functions.receiptsRootOf, lc.functions.stateRootOf):
        for chain_id, hash_ in (
            (SOURCE_CHAIN, b"\x99" * 32),
            (SOURCE_CHAIN + 1, block_hash(header)),
        ):
            with pytest.raises(Reverted) as info:
                chain.check_call(fn(chain_id, hash_))
            assert info.value.error == "UnknownHeader"
            assert info.value.args_ == (chain_id, hash_)


def test_header_with_round_above_zero_keeps_its_block_hash(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    header = sealed(make_header(VALIDATORS, number=100), KEYS[1:], round_=300)
    assert decode_qbft_extra(header.extra_data).round == 300
    assert block_hash(header) == block_hash(make_header(VALIDATORS, number=100))
    accepts(chain, lc, header)


def test_headers_chain_forward_and_may_skip_blocks(chain: Chain) -> None:
    lc = deploy(chain)
    first = sealed(make_header(VALIDATORS, number=100), KEYS[:3])
    submit_ok(chain, lc, first)
    child = sealed(make_header(VALIDATORS, number=101, parent_hash=block_hash(first)), KEYS[1:])
    submit_ok(chain, lc, child)
    later = sealed(make_header(VALIDATORS, number=150, parent_hash=b"\x33" * 32), KEYS)
    submit_ok(chain, lc, later)
    assert lc.functions.latestNumber().call() == 150


def test_older_header_sealed_by_the_trusted_set_is_backfilled(chain: Chain) -> None:
    lc = deploy(chain)
    submit_ok(chain, lc, sealed(make_header(VALIDATORS, number=110), KEYS[:3]))
    older = sealed(make_header(VALIDATORS, number=105, parent_hash=b"\x44" * 32), KEYS[:3])
    chain.send(lc.functions.submitHeader(encode_header(older)))
    assert lc.functions.isAccepted(block_hash(older)).call()
    assert lc.functions.latestNumber().call() == 110  # backfill never moves the client back
    chain.expect_revert(lc.functions.submitHeader(encode_header(older)), "HeaderAlreadyAccepted")


def test_real_besu_block_7528_verifies_on_chain(chain: Chain) -> None:
    (case,) = [v for v in vector("qbft_headers")["sealed_headers"] if "7528" in v["name"]]
    header = decode_header(h(case["sealed_rlp"]))
    validators = sorted(h(v) for v in case["validators"])
    lc = deploy(chain, validators, 7527, header.parent_hash)
    receipt = submit_ok(chain, lc, header)
    assert lc.functions.latestHash().call() == h(case["block_hash_derived"])
    assert receipt["gasUsed"] > 0


# --- validator-set changes -----------------------------------------------------------------------


def test_validator_added_by_vote_is_accepted_by_the_skipping_rule(chain: Chain) -> None:
    lc = deploy(chain)
    new_key = lc_keys(1, b"joining validator")[0]
    all_keys = sorted([*KEYS, new_key], key=lambda k: addresses([k])[0])
    new_set = addresses(all_keys)
    voting = sealed(
        make_header(VALIDATORS, number=100, vote=Vote(Address(addresses([new_key])[0]), True)),
        KEYS[:3],
    )
    submit_ok(chain, lc, voting)
    changed = sealed(make_header(new_set, number=101, parent_hash=block_hash(voting)), all_keys[:4])
    receipt = submit_ok(chain, lc, changed)
    (event,) = lc.events.ValidatorSetChanged().process_receipt(receipt, errors=DISCARD)
    assert [h(a) for a in event.args.validators] == new_set
    assert [h(a) for a in lc.functions.validators().call()] == new_set
    # the new set is now trusted: its own quorum (4 of 5) is enough
    nxt = sealed(make_header(new_set, number=102, parent_hash=block_hash(changed)), all_keys[1:])
    submit_ok(chain, lc, nxt)


def test_new_set_without_a_third_of_the_trusted_set_is_rejected(
    fresh: tuple[Chain, Contract],
) -> None:
    chain, lc = fresh
    strangers = lc_keys(4, b"takeover")
    header = sealed(make_header(addresses(strangers), number=100), strangers)
    submit_bad(chain, lc, encode_header(header), "TooFewTrustedSeals")


def test_new_set_without_its_own_quorum_is_rejected(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    extra = lc_keys(3, b"newcomers")
    keys = sorted([*KEYS, *extra], key=lambda k: addresses([k])[0])
    header = sealed(make_header(addresses(keys), number=100), KEYS)  # 4 of 7, needs 5
    submit_bad(chain, lc, encode_header(header), "TooFewSeals")


def test_unsorted_validator_list_is_rejected(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    header = make_header(VALIDATORS, number=100)
    x = decode_qbft_extra(header.extra_data)
    swapped = replace(x, validators=(x.validators[1], x.validators[0], *x.validators[2:]))
    bad = replace(header, extra_data=encode_qbft_extra(swapped, check_order=False))
    # seal by hand: seal_qbft_header refuses unsorted lists

    digest = qbft_hashes(bad, swapped)[1]
    seals = tuple(sign_commit_seal(digest, k) for k in KEYS)
    rlp = encode_header(
        replace(bad, extra_data=encode_qbft_extra(replace(swapped, seals=seals), check_order=False))
    )
    submit_bad(chain, lc, rlp, "ValidatorSetInvalid")


def test_backfill_with_a_different_set_is_rejected(chain: Chain) -> None:
    lc = deploy(chain)
    submit_ok(chain, lc, sealed(make_header(VALIDATORS, number=110), KEYS[:3]))
    three = sealed(make_header(VALIDATORS[:3], number=105), KEYS[:3])
    submit_bad(chain, lc, encode_header(three), "BackfillNeedsTrustedSet")


# --- tampering -----------------------------------------------------------------------------------

GOOD = sealed(make_header(VALIDATORS, number=100), KEYS)


def _seal(i: int) -> bytes:
    return decode_qbft_extra(GOOD.extra_data).seals[i]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _resign_s_high(seal: bytes) -> bytes:
    r, s, v = seal[:32], int.from_bytes(seal[32:64], "big"), seal[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v ^ 1])


TAMPERED: dict[str, tuple[Callable[[], bytes], str, bool]] = {
    # name: (rlp builder, error, python rejects too)
    "flipped-state-root": (
        lambda: encode_header(replace(GOOD, state_root=_flip(GOOD.state_root, 0))),
        "SealerNotValidator",
        True,
    ),
    "flipped-seal-byte": (
        lambda: encode_header(
            with_seals(GOOD, (_flip(_seal(0), 40), *[_seal(i) for i in (1, 2, 3)]))
        ),
        "SealerNotValidator",
        True,
    ),
    "seals-removed-below-quorum": (
        lambda: encode_header(with_seals(GOOD, (_seal(0), _seal(1)))),
        "TooFewSeals",
        True,
    ),
    "no-seals": (lambda: encode_header(with_seals(GOOD, ())), "TooFewSeals", True),
    "seal-from-non-validator": (
        lambda: encode_header(sealed(make_header(VALIDATORS, number=100), [*KEYS[:2], OUTSIDER])),
        "SealerNotValidator",
        True,
    ),
    "duplicate-seal": (
        lambda: encode_header(with_seals(GOOD, (_seal(0), _seal(1), _seal(0)))),
        "DuplicateSeal",
        True,
    ),
    "wrong-round": (
        # sealed for round 2, then the header claims round 0
        lambda: encode_header(
            with_qbft_extra(
                sealed(make_header(VALIDATORS, number=100), KEYS, round_=2),
                replace(
                    decode_qbft_extra(
                        sealed(make_header(VALIDATORS, number=100), KEYS, round_=2).extra_data
                    ),
                    round=0,
                ),
            )
        ),
        "SealerNotValidator",
        True,
    ),
    "high-s-seal": (
        lambda: encode_header(with_seals(GOOD, (_resign_s_high(_seal(0)), _seal(1), _seal(2)))),
        "InvalidSeal",
        False,  # Python accepts the malleable twin (same signer); the contract is stricter
    ),
    "bad-v": (
        lambda: encode_header(with_seals(GOOD, (_seal(0)[:64] + b"\x1b", _seal(1), _seal(2)))),
        "InvalidSeal",
        True,
    ),
    "zero-r": (
        lambda: encode_header(with_seals(GOOD, (b"\x00" * 32 + _seal(0)[32:], _seal(1), _seal(2)))),
        "InvalidSeal",
        True,
    ),
    "coinbase-not-validator": (
        lambda: encode_header(
            sealed(make_header(VALIDATORS, number=100, coinbase=addresses([OUTSIDER])[0]), KEYS)
        ),
        "CoinbaseNotValidator",
        True,
    ),
    "wrong-mix-hash": (
        lambda: encode_header(
            sealed(replace(make_header(VALIDATORS, number=100), mix_hash=b"\x00" * 32), KEYS)
        ),
        "NotQbftHeader",
        True,
    ),
    "difficulty-2": (
        lambda: encode_header(
            sealed(replace(make_header(VALIDATORS, number=100), difficulty=2), KEYS)
        ),
        "NotQbftHeader",
        True,
    ),
    "trailing-byte": (lambda: encode_header(GOOD) + b"\x00", "HeaderMalformed", True),
    "truncated": (lambda: encode_header(GOOD)[:-1], "RlpTruncated", True),
    "wrong-parent": (
        lambda: encode_header(
            sealed(make_header(VALIDATORS, number=100, parent_hash=b"\x12" * 32), KEYS)
        ),
        "WrongParent",
        True,
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_header_is_rejected_with_a_specific_error(
    fresh: tuple[Chain, Contract], case: str
) -> None:
    chain, lc = fresh
    build, error, python_rejects = TAMPERED[case]
    submit_bad(chain, lc, build(), error, python_rejects)
    accepts(chain, lc, GOOD)  # the untampered header is valid


def test_header_with_18_fields_is_rejected(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    from adapters.rlpcodec import rlp_decode, rlp_encode_strings

    items = rlp_decode(encode_header(GOOD))
    assert isinstance(items, list)
    rlp = rlp_encode_strings([*items, b"\x01"])  # type: ignore[list-item]
    chain.expect_revert(lc.functions.submitHeader(rlp), "HeaderFieldCount")


def test_one_seal_removed_above_quorum_is_still_valid(fresh: tuple[Chain, Contract]) -> None:
    """Besu's rule is a quorum, not all seals: 3 of 4 remain a valid header (same hash)."""
    chain, lc = fresh
    three = with_seals(GOOD, (_seal(0), _seal(1), _seal(3)))
    assert block_hash(three) == block_hash(GOOD)
    accepts(chain, lc, three)


# --- the consortium devnet -----------------------------------------------------------------------


def rpc(chain: Chain, method: str, params: list[Any]) -> Any:
    """A raw JSON-RPC call (hex strings, no web3 formatting)."""
    return chain.w3.provider.make_request(RPCEndpoint(method), params)


def rpc_block(chain: Chain, number: int | str) -> dict[str, Any]:
    tag = hex(number) if isinstance(number, int) else number
    result = rpc(chain, "eth_getBlockByNumber", [tag, False])["result"]
    assert isinstance(result, dict)
    return result


def devnet_validators(chain: Chain, number: int) -> list[bytes]:
    result = rpc(chain, "qbft_getValidatorsByBlockNumber", [hex(number)])
    return sorted(h(a) for a in result["result"])


def test_devnet_header_is_accepted_on_anvil_and_tampered_ones_refused(
    consortium_chain: Chain, anvil_chain: Chain
) -> None:
    rpc(consortium_chain, "evm_mine", [])
    block = rpc_block(consortium_chain, "latest")
    number = int(block["number"], 16)
    parent = rpc_block(consortium_chain, number - 1)
    validators = devnet_validators(consortium_chain, number)
    header = header_from_rpc(block)
    assert bytes(qbft_block_hash(header)) == h(block["hash"])
    lc = anvil_chain.deploy(
        "QbftLightClient", consortium_chain.chain_id, validators, number - 1, h(parent["hash"])
    )
    rlp = encode_header(header)
    seals = decode_qbft_extra(header.extra_data).seals
    outsider_seal = decode_qbft_extra(sealed(header, [OUTSIDER]).extra_data).seals[0]
    refused = {
        "flipped-receipts-root": (
            encode_header(replace(header, receipts_root=_flip(header.receipts_root, 31))),
            "SealerNotValidator",
        ),
        "too-few-seals": (encode_header(with_seals(header, seals[:1])), "TooFewSeals"),
        "duplicate-seal": (
            encode_header(with_seals(header, (seals[0], seals[0], *seals[1:]))),
            "DuplicateSeal",
        ),
        "non-validator-seal": (
            encode_header(with_seals(header, (*seals[:1], outsider_seal))),
            "SealerNotValidator",
        ),
        "wrong-round": (
            encode_header(
                with_qbft_extra(header, replace(decode_qbft_extra(header.extra_data), round=7))
            ),
            "SealerNotValidator",
        ),
    }
    for name, (bad, error) in refused.items():
        before = snapshot(lc)
        reverted = anvil_chain.expect_revert(lc.functions.submitHeader(bad), error)
        assert reverted.error == error, name
        assert snapshot(lc) == before
    anvil_chain.send(lc.functions.submitHeader(rlp))
    assert lc.functions.latestHash().call() == h(block["hash"])
    assert lc.functions.receiptsRootOf(consortium_chain.chain_id, h(block["hash"])).call() == h(
        block["receiptsRoot"]
    )


@pytest.fixture(scope="module")
async def voting_devnet() -> AsyncIterator[Chain]:
    from devnet.launcher import start_consortium

    async with start_consortium(config={"instant_seal": True, "spare_validators": 1}) as node:
        yield make_chain("voting-devnet", node.url, poa=True)


def test_devnet_validator_vote_is_followed_across_the_set_change(
    voting_devnet: Chain, anvil_chain: Chain
) -> None:
    dev = voting_devnet
    rpc(dev, "evm_mine", [])
    start = int(rpc_block(dev, "latest")["number"], 16)
    genesis_set = devnet_validators(dev, start)
    lc = anvil_chain.deploy(
        "QbftLightClient", dev.chain_id, genesis_set, start, h(rpc_block(dev, start)["hash"])
    )
    from devnet.keys import validator_keys

    spare = validator_keys(len(genesis_set) + 1)[-1].address
    assert spare not in genesis_set
    result = rpc(dev, "qbft_proposeValidatorVote", ["0x" + spare.hex(), True])
    assert result.get("result") is True, result
    # Votes pass after floor(n/2)+1 proposers voted; submit every block until the set changes.
    changed_at = None
    for _ in range(12):
        rpc(dev, "evm_mine", [])
        block = rpc_block(dev, "latest")
        anvil_chain.send(lc.functions.submitHeader(encode_header(header_from_rpc(block))))
        if spare in devnet_validators(dev, int(block["number"], 16)):
            changed_at = int(block["number"], 16)
            break
    assert changed_at is not None, "the devnet never added the spare validator"
    assert spare in [h(a) for a in lc.functions.validators().call()]
    assert len(lc.functions.validators().call()) == len(genesis_set) + 1
    # and the next block, sealed by the new set, still verifies
    rpc(dev, "evm_mine", [])
    block = rpc_block(dev, "latest")
    anvil_chain.send(lc.functions.submitHeader(encode_header(header_from_rpc(block))))
    assert lc.functions.latestHash().call() == h(block["hash"])


# --- fuzzing: any byte-level damage is refused with a custom error --------------------------------

LC_ERRORS = frozenset(
    {
        "RlpTruncated",
        "RlpNonCanonical",
        "RlpExpectedList",
        "RlpExpectedString",
        "RlpTrailingBytes",
        "RlpIntegerInvalid",
        "HeaderMalformed",
        "HeaderFieldCount",
        "NotQbftHeader",
        "ExtraDataMalformed",
        "ValidatorSetInvalid",
        "CoinbaseNotValidator",
        "InvalidSeal",
        "SealerNotValidator",
        "DuplicateSeal",
        "TooFewSeals",
        "TooFewTrustedSeals",
        "WrongParent",
        "TimestampBeforeLatest",
        "HeaderAlreadyAccepted",
        "BackfillNeedsTrustedSet",
    }
)


@pytest.fixture(scope="module")
def fuzz_client(anvil_chain: Chain) -> Contract:
    return deploy(anvil_chain)


@st.composite
def damaged(draw: st.DrawFn, rlp: bytes) -> bytes:
    at = draw(st.integers(0, len(rlp) - 1))
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    if kind == "flip":
        return rlp[:at] + bytes([rlp[at] ^ (1 << draw(st.integers(0, 7)))]) + rlp[at + 1 :]
    if kind == "insert":
        return rlp[:at] + bytes([draw(st.integers(0, 255))]) + rlp[at:]
    if kind == "delete":
        return rlp[:at] + rlp[at + 1 :]
    return rlp[:at]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damaged_header_bytes_are_refused_by_both_verifiers(
    anvil_chain: Chain, fuzz_client: Contract, data: st.DataObject
) -> None:
    lc = fuzz_client
    rlp = data.draw(damaged(encode_header(GOOD)))
    with pytest.raises(HeaderInvalid):
        verify_header(trusted_of(lc, anvil_chain), rlp)
    with pytest.raises(Reverted) as info:
        anvil_chain.check_call(lc.functions.submitHeader(rlp))
    assert info.value.error in LC_ERRORS, info.value
