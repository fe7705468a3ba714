"""QbftLightClient accepts what adapters.lightclient.qbft accepts, and rejects the rest.

Headers come from three places: sealed here with test keys (adapters.bft.seal_qbft_header),
the real Besu block 7528 (tests/vectors/qbft_headers.json) and the consortium devnet node.
Every rejection reverts with a specific custom error and leaves the client unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.logs import DISCARD

from adapters.bft import (
    SECP256K1_N,
    Vote,
    address_of_key,
    decode_qbft_extra,
    qbft_block_hash,
    with_qbft_extra,
)
from adapters.errors import HeaderInvalid
from adapters.headers import Header, decode_header, encode_header, header_from_rpc
from adapters.lightclient.qbft import (
    MisbehaviourKind,
    TrustedHeader,
    TrustPolicy,
    find_misbehaviour,
    validator_set_rlp,
    verify_ancestor,
    verify_commit_seals,
    verify_header,
    verify_set_change,
    verify_skipping,
)
from adapters.rlpcodec import keccak, rlp_list, rlp_string
from adapters.types import Address
from harness import Chain, Reverted
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
from tests.helpers.headers import (
    BESU_ACCEPTED_VARIANTS,
    BESU_MAX_ROUND,
    BESU_REFUSED_GAS_LIMITS,
    BESU_REFUSED_ROUNDS,
)

KEYS = lc_keys(4)
VALIDATORS = addresses(KEYS)
OUTSIDER = lc_keys(1, b"outsider")[0]
TRUSTED_NUMBER = 99
TRUSTED_HASH = b"\x11" * 32  # make_header's default parent hash
TRUSTED_TIME = 1_750_000_000 - 12  # make_header's headers carry 1_750_000_000
SOURCE_CHAIN = 20250
# The sealed test headers carry 2025 timestamps: trust them for 20 years so the chain's clock
# (today) is within the trusting period; expiry tests deploy with a short one.
LONG_TRUST = (2, 3, 20 * 365 * 24 * 3600, 15)
_INITIAL_SETS: dict[str, tuple[Address, ...]] = {}


def deploy(
    chain: Chain,
    validators: list[bytes] = VALIDATORS,
    number: int = TRUSTED_NUMBER,
    trusted_hash: bytes = TRUSTED_HASH,
    timestamp: int = TRUSTED_TIME,
    trust: tuple[int, int, int, int] = LONG_TRUST,
    source: int = SOURCE_CHAIN,
) -> Contract:
    """A client trusting ``validators`` at ``number``; governance is dev account 0."""
    lc = chain.deploy(
        "QbftLightClient",
        source,
        validators,
        number,
        trusted_hash,
        timestamp,
        chain.accounts[0].address,
        trust,
    )
    _INITIAL_SETS[lc.address] = tuple(Address(v) for v in sorted(validators))
    return lc


def trusted_set(lc: Contract) -> tuple[Address, ...]:
    """The client's trusted set: the last set change or re-anchor, else the initial set; checked
    against the hash the contract keeps."""
    changes = [
        *lc.events.ValidatorSetChanged().get_logs(from_block=0),
        *lc.events.Reanchored().get_logs(from_block=0),
    ]
    if changes:
        latest = max(changes, key=lambda e: (e.blockNumber, e.logIndex))
        validators = tuple(Address(h(a)) for a in latest.args.validators)
    else:
        validators = _INITIAL_SETS[lc.address]
    assert keccak(validator_set_rlp(validators)) == lc.functions.validatorSetHash().call()
    return validators


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
        validators=trusted_set(lc),
        timestamp=lc.functions.latestTimestamp().call(),
    )


def snapshot(lc: Contract) -> tuple[Any, ...]:
    return (
        lc.functions.latestNumber().call(),
        lc.functions.latestHash().call(),
        lc.functions.validatorSetHash().call(),
        lc.functions.frozen().call(),
        lc.functions.epochCount().call(),
    )


def check_stored(lc: Contract, header: Header) -> None:
    hash_ = bytes(qbft_block_hash(header))
    assert lc.functions.isAccepted(hash_).call()
    assert lc.functions.receiptsRootOf(SOURCE_CHAIN, hash_).call() == header.receipts_root
    assert lc.functions.stateRootOf(SOURCE_CHAIN, hash_).call() == header.state_root


def submit_ok(chain: Chain, lc: Contract, header: Header) -> Any:
    """Submit; the Python client must agree it is valid; the roots must be stored."""
    python = verify_header(trusted_of(lc, chain), header)
    receipt = chain.send(lc.functions.submitHeader(encode_header(header)))
    assert python.hash == bytes(qbft_block_hash(header))
    check_stored(lc, header)
    return receipt


def change_set(chain: Chain, lc: Contract, run: Sequence[Header]) -> Any:
    """``updateValidatorSet`` with the trusted set's preimage; Python accepts the same run."""
    trusted = trusted_of(lc, chain)
    python = verify_set_change(trusted, run)
    call = lc.functions.updateValidatorSet(
        validator_set_rlp(trusted.validators), [encode_header(x) for x in run]
    )
    receipt = chain.send(call)
    assert lc.functions.latestHash().call() == python.hash
    assert trusted_set(lc) == python.validators
    check_stored(lc, run[0])
    return receipt


def change_set_bad(chain: Chain, lc: Contract, run: Sequence[Header], error: str) -> None:
    """The set change reverts with ``error``, nothing changes, and Python refuses it too."""
    trusted = trusted_of(lc, chain)
    before = snapshot(lc)
    with pytest.raises(HeaderInvalid):
        verify_set_change(trusted, run)
    call = lc.functions.updateValidatorSet(
        validator_set_rlp(trusted.validators), [encode_header(x) for x in run]
    )
    chain.expect_revert(call, error)
    assert snapshot(lc) == before


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
    lc = deploy(chain, validators, 7527, header.parent_hash, header.timestamp - 1)
    receipt = submit_ok(chain, lc, header)
    assert lc.functions.latestHash().call() == h(case["block_hash_derived"])
    assert receipt["gasUsed"] > 0


# --- validator-set changes -----------------------------------------------------------------------

NEWCOMERS = lc_keys(3, b"newcomers")
JOINING = addresses(NEWCOMERS)[0]
V5 = sorted([*VALIDATORS, JOINING])


def keys_for(validators: Sequence[bytes]) -> list[bytes]:
    by_address = {address_of_key(k): k for k in [*KEYS, *NEWCOMERS, OUTSIDER]}
    return [by_address[bytes(v)] for v in validators]


def test_validator_added_by_vote_is_accepted_with_two_thirds_of_the_trusted_set(
    chain: Chain,
) -> None:
    lc = deploy(chain)
    voting = sealed(
        make_header(VALIDATORS, number=100, vote=Vote(Address(JOINING), True)), KEYS[:3]
    )
    submit_ok(chain, lc, voting)
    changed = sealed(make_header(V5, number=101, parent_hash=block_hash(voting)), keys_for(V5[:4]))
    # submitHeader follows only the trusted set; a change goes through updateValidatorSet
    submit_bad(chain, lc, encode_header(changed), "SetChangeNeedsTrustedSet", python_rejects=False)
    receipt = change_set(chain, lc, [changed])
    (event,) = lc.events.ValidatorSetChanged().process_receipt(receipt, errors=DISCARD)
    assert [h(a) for a in event.args.validators] == V5
    assert lc.functions.epochCount().call() == 2
    # the new set is now trusted: its own quorum (4 of 5) is enough
    nxt = sealed(make_header(V5, number=102, parent_hash=block_hash(changed)), keys_for(V5[1:]))
    submit_ok(chain, lc, nxt)


def test_two_of_four_validators_cannot_install_a_set_of_their_own(
    fresh: tuple[Chain, Contract],
) -> None:
    """The minority takeover: 2 of 4 trusted validators (more than a third, below the chain's
    quorum of 3) list themselves and two keys of theirs, seal with all four and name any
    receiptsRoot. Before this issue the client accepted it."""
    chain, lc = fresh
    takeover = sorted([*VALIDATORS[:2], *addresses(NEWCOMERS[:2])])
    forged = sealed(
        replace(
            make_header(takeover, number=100, coinbase=takeover[0]), receipts_root=b"\xee" * 32
        ),
        keys_for(takeover),
    )
    change_set_bad(chain, lc, [forged], "TooFewTrustedSeals")


def test_a_set_change_needs_the_trusted_sets_preimage(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    changed = sealed(make_header(V5, number=100), keys_for(V5[:4]))
    for wrong in (validator_set_rlp(V5), validator_set_rlp(VALIDATORS[:3]), b""):
        call = lc.functions.updateValidatorSet(wrong, [encode_header(changed)])
        chain.expect_revert(call, "TrustedSetMismatch")
    unchanged = sealed(make_header(VALIDATORS, number=100), KEYS[:3])
    call = lc.functions.updateValidatorSet(
        validator_set_rlp(VALIDATORS), [encode_header(unchanged)]
    )
    chain.expect_revert(call, "SetUnchanged")


def test_new_set_without_its_own_quorum_is_rejected(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    keys = sorted([*KEYS, *NEWCOMERS], key=address_of_key)
    header = sealed(make_header(addresses(keys), number=100), KEYS)  # 4 of 7, needs 5
    change_set_bad(chain, lc, [header], "TooFewSeals")


def test_a_lower_configured_trust_level_accepts_two_of_four(chain: Chain) -> None:
    lc = deploy(chain, trust=(1, 3, LONG_TRUST[2], 15))
    assert lc.functions.trustThreshold(4).call() == 2
    assert lc.functions.trustThreshold(16).call() == 6
    assert deploy(chain).functions.trustThreshold(16).call() == 11
    new_set = sorted([*VALIDATORS[:2], *addresses(NEWCOMERS[:2])])
    header = sealed(make_header(new_set, number=100, coinbase=new_set[0]), keys_for(new_set))
    call = lc.functions.updateValidatorSet(validator_set_rlp(VALIDATORS), [encode_header(header)])
    chain.send(call)
    assert lc.functions.latestNumber().call() == 100


def test_trust_level_outside_a_third_to_one_is_refused_at_deployment(anvil_chain: Chain) -> None:
    anchor = (
        VALIDATORS,
        TRUSTED_NUMBER,
        TRUSTED_HASH,
        TRUSTED_TIME,
        anvil_chain.accounts[0].address,
    )
    for trust in ((1, 4, 3600, 15), (4, 3, 3600, 15), (2, 0, 3600, 15), (2, 3, 0, 15)):
        reverted = anvil_chain.deploy_reverts("QbftLightClient", SOURCE_CHAIN, *anchor, trust)
        assert reverted.error == "TrustParamsInvalid", trust
    deploy(anvil_chain, trust=(1, 1, 3600, 0))  # the bounds themselves are allowed


def removal_chain(first_sealers: list[bytes], second_sealers: list[bytes]) -> list[Header]:
    """Validator 3 removed at 100 (quorum 2 of 3), then its child, each with the given sealers."""
    v3 = VALIDATORS[:3]
    first = sealed(make_header(v3, number=100, coinbase=v3[0]), first_sealers)
    second = sealed(
        make_header(v3, number=101, parent_hash=block_hash(first), coinbase=v3[1]), second_sealers
    )
    return [first, second]


def test_removal_is_carried_by_later_blocks_whose_sealers_vouch_for_it(chain: Chain) -> None:
    lc = deploy(chain)
    first, second = removal_chain(KEYS[:2], KEYS[1:3])
    change_set_bad(chain, lc, [first], "TooFewTrustedSeals")  # 2 < ceil(2*4/3)
    change_set(chain, lc, [first, second])
    assert lc.functions.latestNumber().call() == 100
    assert trusted_set(lc) == tuple(VALIDATORS[:3])
    submit_ok(chain, lc, second)  # the child verifies against the new set alone


def test_a_run_whose_sealers_repeat_does_not_reach_the_threshold(
    fresh: tuple[Chain, Contract],
) -> None:
    chain, lc = fresh
    change_set_bad(chain, lc, removal_chain(KEYS[:2], KEYS[:2]), "TooFewTrustedSeals")


def test_a_forged_descendant_cannot_vouch_for_a_removal(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    first, _ = removal_chain(KEYS[:2], KEYS[1:3])
    outsiders = sorted(addresses(NEWCOMERS))
    forged = sealed(
        make_header(outsiders, number=101, parent_hash=block_hash(first), coinbase=outsiders[0]),
        keys_for(outsiders),
    )
    change_set_bad(chain, lc, [first, forged], "TooFewTrustedSeals")


def test_a_run_must_be_linked_by_parent_hash(fresh: tuple[Chain, Contract]) -> None:
    chain, lc = fresh
    first, _ = removal_chain(KEYS[:2], KEYS[1:3])
    v3 = VALIDATORS[:3]
    unlinked = sealed(make_header(v3, number=101, parent_hash=b"\x42" * 32), KEYS[1:3])
    change_set_bad(chain, lc, [first, unlinked], "RunNotLinked")
    skipping = sealed(make_header(v3, number=102, parent_hash=block_hash(first)), KEYS[1:3])
    change_set_bad(chain, lc, [first, skipping], "RunNotLinked")


def big_set(size: int) -> tuple[list[bytes], list[bytes]]:
    """(keys, sorted addresses) of a set of ``size``: the four trusted validators and others."""
    keys = sorted([*KEYS, *lc_keys(size - 4, b"big set")], key=address_of_key)
    return keys, addresses(keys)


def big_change(size: int, number: int = 100, parent: bytes = TRUSTED_HASH) -> Header:
    """A change to ``size`` validators sealed by 3 trusted ones and a quorum of the new list."""
    keys, listed = big_set(size)
    quorum = -(-2 * size // 3)
    others = [k for k in keys if k not in KEYS]
    header = make_header(listed, number=number, parent_hash=parent, coinbase=VALIDATORS[0])
    return sealed(header, [*KEYS[:3], *others[: quorum - 3]])


def test_a_set_change_lists_at_most_256_validators_on_both_sides(
    fresh: tuple[Chain, Contract],
) -> None:
    """The contract counts signers in a 256-bit bitmap. Before the fix the Python client (and the
    planner) accepted a change to 257 validators that the contract refuses: a relayer paid for a
    revert and the two clients disagreed on what the consortium may do."""
    chain, lc = fresh
    trusted = trusted_of(lc, chain)
    at_limit = big_change(256)
    assert verify_set_change(trusted, [at_limit]).validators == tuple(big_set(256)[1])
    call = lc.functions.updateValidatorSet(
        validator_set_rlp(trusted.validators), [encode_header(at_limit)]
    )
    assert chain.check_call(call) == block_hash(at_limit)
    change_set_bad(chain, lc, [big_change(257)], "ValidatorSetInvalid")
    # ...and every descendant of a run: each is parsed with the same bitmap
    first, _ = removal_chain(KEYS[:2], KEYS[1:3])
    change_set_bad(
        chain, lc, [first, big_change(257, 101, block_hash(first))], "ValidatorSetInvalid"
    )


# --- trusting period, clock drift, misbehaviour --------------------------------------------------


def timed(number: int, parent: bytes, at: int, keys: list[bytes] = KEYS[:3], **kw: Any) -> Header:
    validators = kw.pop("validators", VALIDATORS)
    header = make_header(validators, number=number, parent_hash=parent, timestamp=at, **kw)
    return sealed(header, keys)


def test_expired_trust_refuses_new_headers_until_governance_reanchors(chain: Chain) -> None:
    now = chain.now()
    lc = deploy(chain, timestamp=now - 7200, trust=(2, 3, 3600, 15))
    header = timed(100, TRUSTED_HASH, now - 100)
    policy = TrustPolicy(trusting_period_s=3600)
    with pytest.raises(HeaderInvalid, match="trusting period"):
        verify_skipping(trusted_of(lc, chain), header, now=now, policy=policy)
    chain.expect_revert(lc.functions.submitHeader(encode_header(header)), "TrustExpired")
    older = timed(98, b"\x05" * 32, now - 7300)
    chain.expect_revert(lc.functions.submitHeader(encode_header(older)), "NotTrustedSetAt")
    at_anchor = timed(99, b"\x05" * 32, now - 7300)
    chain.expect_revert(lc.functions.submitHeader(encode_header(at_anchor)), "TrustExpired")
    reanchor = lc.functions.reanchor(VALIDATORS, 99, TRUSTED_HASH, now - 200, [])
    chain.expect_revert(reanchor, "NotGovernance", sender=1)
    chain.send(reanchor)
    submit_ok(chain, lc, header)


def test_header_from_the_future_is_refused(chain: Chain) -> None:
    now = chain.now()
    lc = deploy(chain, timestamp=now - 60, trust=(2, 3, 3600, 15))
    ahead = timed(100, TRUSTED_HASH, now + 3600)
    with pytest.raises(HeaderInvalid, match="in the future"):
        verify_skipping(trusted_of(lc, chain), ahead, now=now)
    chain.expect_revert(lc.functions.submitHeader(encode_header(ahead)), "HeaderFromFuture")


def test_two_sealed_headers_at_one_height_freeze_the_client_until_recovered(chain: Chain) -> None:
    lc = deploy(chain)
    accepted = sealed(make_header(VALIDATORS, number=101), KEYS[:3])
    submit_ok(chain, lc, accepted)
    rival_header = replace(make_header(VALIDATORS, number=101), receipts_root=b"\xee" * 32)
    rival = sealed(rival_header, KEYS[1:])
    a, b = (verify_commit_seals(x, VALIDATORS) for x in (accepted, rival))
    evidence = find_misbehaviour(a, b)
    assert evidence is not None and evidence.kind is MisbehaviourKind.DOUBLE_SIGN
    call = lc.functions.submitMisbehaviour(encode_header(accepted), encode_header(rival))
    receipt = chain.send(call, sender=3)  # anyone may submit evidence
    (event,) = lc.events.ClientFrozen().process_receipt(receipt, errors=DISCARD)
    assert event.args.kind == 1 and event.args.hashB == block_hash(rival)
    assert lc.functions.frozen().call()
    nxt = sealed(make_header(VALIDATORS, number=102, parent_hash=block_hash(accepted)), KEYS[:3])
    chain.expect_revert(lc.functions.submitHeader(encode_header(nxt)), "ClientIsFrozen")
    for view in (lc.functions.receiptsRootOf, lc.functions.stateRootOf):
        with pytest.raises(Reverted) as info:
            chain.check_call(view(SOURCE_CHAIN, block_hash(accepted)))
        assert info.value.error == "ClientIsFrozen"
    chain.expect_revert(call, "ClientIsFrozen")
    # governance re-anchors on the honest header and revokes the other one
    recover = lc.functions.reanchor(
        VALIDATORS, 101, block_hash(rival), 1_750_000_000, [block_hash(accepted)]
    )
    chain.expect_revert(recover, "NotGovernance", sender=2)
    chain.send(recover)
    assert not lc.functions.frozen().call()
    assert not lc.functions.isAccepted(block_hash(accepted)).call()
    nxt = sealed(make_header(VALIDATORS, number=102, parent_hash=block_hash(rival)), KEYS[:3])
    submit_ok(chain, lc, nxt)


def test_old_evidence_cannot_freeze_the_client_again_after_a_reanchor(chain: Chain) -> None:
    lc = deploy(chain)
    accepted = sealed(make_header(VALIDATORS, number=110), KEYS[:3])
    submit_ok(chain, lc, accepted)
    # a conflicting header at the same height is stored too (backfill by the epoch's set)
    rival = sealed(replace(make_header(VALIDATORS, number=110), state_root=b"\x02" * 32), KEYS[1:])
    chain.send(lc.functions.submitHeader(encode_header(rival)))
    evidence = lc.functions.submitMisbehaviour(encode_header(accepted), encode_header(rival))
    chain.send(evidence)
    # governance re-anchors above the fork but forgets to revoke the pair
    chain.send(lc.functions.reanchor(VALIDATORS, 120, b"\x12" * 32, 1_750_000_000, []))
    chain.expect_revert(evidence, "NotTrustedSetAt")
    assert not lc.functions.frozen().call()
    # evidence above the new anchor still freezes
    x = sealed(make_header(VALIDATORS, number=130), KEYS[:3])
    y = sealed(replace(make_header(VALIDATORS, number=130), state_root=b"\x03" * 32), KEYS[1:])
    chain.send(lc.functions.submitMisbehaviour(encode_header(x), encode_header(y)))
    assert lc.functions.frozen().call()


def test_conflicting_headers_above_the_latest_and_decreasing_timestamps_are_evidence(
    fresh: tuple[Chain, Contract],
) -> None:
    chain, lc = fresh
    x = sealed(make_header(VALIDATORS, number=150), KEYS[:3])
    y = sealed(replace(make_header(VALIDATORS, number=150), state_root=b"\x01" * 32), KEYS[1:])
    chain.check_call(lc.functions.submitMisbehaviour(encode_header(x), encode_header(y)))
    earlier = sealed(make_header(VALIDATORS, number=151, timestamp=1_749_999_999), KEYS[:3])
    verified = [verify_commit_seals(z, VALIDATORS) for z in (earlier, x)]
    evidence = find_misbehaviour(*verified)
    assert evidence is not None and evidence.kind is MisbehaviourKind.TIMESTAMP_ORDER
    chain.check_call(lc.functions.submitMisbehaviour(encode_header(earlier), encode_header(x)))
    same_time = sealed(make_header(VALIDATORS, number=151), KEYS[:3])
    for a, b in ((x, same_time), (x, x)):
        call = lc.functions.submitMisbehaviour(encode_header(a), encode_header(b))
        chain.expect_revert(call, "NoMisbehaviour")


def test_headers_the_trusted_set_did_not_seal_are_no_evidence(
    fresh: tuple[Chain, Contract],
) -> None:
    chain, lc = fresh
    outsiders = sorted(addresses(NEWCOMERS))
    x, y = (
        sealed(make_header(outsiders, number=150, coinbase=outsiders[0], tx_count=t), NEWCOMERS)
        for t in (1, 2)
    )
    call = lc.functions.submitMisbehaviour(encode_header(x), encode_header(y))
    chain.expect_revert(call, "NotTrustedSetAt")
    ok = sealed(make_header(VALIDATORS, number=150), KEYS[:3])
    weak = sealed(make_header(VALIDATORS, number=150, tx_count=2), KEYS[:2])
    call = lc.functions.submitMisbehaviour(encode_header(ok), encode_header(weak))
    chain.expect_revert(call, "TooFewSeals")
    assert not lc.functions.frozen().call()


# --- older blocks after a set change -------------------------------------------------------------


def test_older_block_sealed_by_the_set_of_its_epoch_is_accepted_after_a_change(
    chain: Chain,
) -> None:
    lc = deploy(chain)
    submit_ok(chain, lc, sealed(make_header(VALIDATORS, number=110), KEYS[:3]))
    changed = sealed(make_header(V5, number=120), keys_for(V5[:4]))
    change_set(chain, lc, [changed])
    stranded = sealed(make_header(VALIDATORS, number=105, parent_hash=b"\x44" * 32), KEYS[:3])
    # Before this issue an older block had to list the CURRENT set: stranded for good.
    chain.send(lc.functions.submitHeader(encode_header(stranded)))
    check_stored(lc, stranded)
    assert lc.functions.latestNumber().call() == 120  # backfill never moves the client back
    again = lc.functions.submitHeader(encode_header(stranded))
    chain.expect_revert(again, "HeaderAlreadyAccepted")
    # the old set cannot seal blocks of the new epoch, nor anything below the anchor
    for bad in (
        sealed(make_header(VALIDATORS, number=120, tx_count=7), KEYS[:3]),
        sealed(make_header(VALIDATORS, number=90), KEYS[:3]),
    ):
        chain.expect_revert(lc.functions.submitHeader(encode_header(bad)), "NotTrustedSetAt")
    in_new_epoch = sealed(
        make_header(V5, number=121, parent_hash=block_hash(changed)), keys_for(V5[1:])
    )
    chain.send(lc.functions.submitHeader(encode_header(in_new_epoch)))
    check_stored(lc, in_new_epoch)


def test_an_old_epoch_expires_a_trusting_period_after_it_ended(anvil_chain: Chain) -> None:
    chain = anvil_chain
    now = chain.now()
    lc = deploy(chain, timestamp=now - 3000, trust=(2, 3, 3600, 15))
    submit_ok(chain, lc, timed(110, b"\x01" * 32, now - 2950))
    v5_keys = keys_for(V5[:4])
    change_set(chain, lc, [timed(120, b"\x02" * 32, now - 2900, v5_keys, validators=V5)])
    chain.advance_time(500)
    submit_ok(chain, lc, timed(130, b"\x03" * 32, now + 400, v5_keys, validators=V5))
    chain.advance_time(400)  # the first epoch ended at now - 2900: expired at now + 700
    old = timed(105, b"\x04" * 32, now - 2960)
    chain.expect_revert(lc.functions.submitHeader(encode_header(old)), "TrustExpired")
    current = timed(125, b"\x05" * 32, now - 2800, v5_keys, validators=V5)
    chain.send(lc.functions.submitHeader(encode_header(current)))


def linked_headers(count: int, first: int = 100) -> list[Header]:
    """Sealed headers first..first+count-1 whose first parent is the anchor, each the parent of
    the next."""
    out: list[Header] = []
    parent = TRUSTED_HASH
    for number in range(first, first + count):
        header = sealed(make_header(VALIDATORS, number=number, parent_hash=parent), KEYS[:3])
        out.append(header)
        parent = block_hash(header)
    return out


def test_older_block_linked_by_parent_hash_to_an_accepted_one_is_accepted(chain: Chain) -> None:
    lc = deploy(chain)
    blocks = linked_headers(8)  # 100..107
    submit_ok(chain, lc, blocks[-1])
    change_set(chain, lc, [sealed(make_header(V5, number=120), keys_for(V5[:4]))])
    proof = [blocks[i] for i in range(7, 2, -1)]  # 107, 106, ..., 103
    assert verify_ancestor(block_hash(blocks[7]), proof) == blocks[3]
    chain.send(lc.functions.submitAncestors([encode_header(x) for x in proof]))
    check_stored(lc, blocks[3])
    again = lc.functions.submitAncestors([encode_header(x) for x in proof])
    chain.expect_revert(again, "HeaderAlreadyAccepted")
    broken = [encode_header(blocks[7]), encode_header(blocks[5])]
    chain.expect_revert(lc.functions.submitAncestors(broken), "AncestryBroken")
    unknown = [encode_header(blocks[2]), encode_header(blocks[1])]
    chain.expect_revert(lc.functions.submitAncestors(unknown), "AncestryBroken")


def test_ancestry_may_start_from_the_anchor(chain: Chain) -> None:
    blocks = linked_headers(4, first=96)  # 96..99; the client trusts 99 by configuration
    lc = deploy(chain, number=99, trusted_hash=block_hash(blocks[3]))
    chain.send(lc.functions.submitAncestors([encode_header(blocks[3]), encode_header(blocks[2])]))
    check_stored(lc, blocks[2])


def ancestry_bad(
    chain: Chain, lc: Contract, known: bytes, proof: Sequence[Header], error: str
) -> None:
    """Both clients refuse the ancestry proof from ``known``; the contract with ``error``."""
    with pytest.raises(HeaderInvalid):
        verify_ancestor(known, proof)
    chain.expect_revert(lc.functions.submitAncestors([encode_header(x) for x in proof]), error)


def _rlp(item: Any) -> bytes:
    return rlp_list([_rlp(x) for x in item]) if isinstance(item, list) else rlp_string(item)


def with_raw_seals(header: Header, seals: list[Any]) -> Header:
    """``header`` with any RLP items (bytes or nested lists) in place of its seals."""
    from adapters.rlpcodec import rlp_decode

    items = rlp_decode(header.extra_data)
    assert isinstance(items, list)
    return replace(header, extra_data=_rlp([*items[:4], seals]))


def test_ancestry_headers_carry_well_formed_seals_on_both_sides(chain: Chain) -> None:
    """Seals are outside the block hash, so a relayer may rewrite them in a proof. Before the fix
    the contract stored a header whose seal list held anything, which Python refused."""
    blocks = linked_headers(3)  # 100..102
    lc = deploy(chain)
    submit_ok(chain, lc, blocks[2])
    for seals in ([b"\x01"], [_seal(0)[:64]], [_seal(0) + b"\x00"], [[_seal(0)]], [b""]):
        for at in (0, 1):
            proof = [blocks[2], blocks[1]]
            proof[at] = with_raw_seals(proof[at], seals)
            ancestry_bad(chain, lc, block_hash(blocks[2]), proof, "InvalidSeal")
    unsealed = [with_seals(blocks[2], ()), with_seals(blocks[1], ())]
    assert verify_ancestor(block_hash(blocks[2]), unsealed) == unsealed[1]
    chain.send(lc.functions.submitAncestors([encode_header(x) for x in unsealed]))
    check_stored(lc, blocks[1])


def test_a_genesis_outside_the_qbft_field_rules_is_refused_on_both_sides(chain: Chain) -> None:
    """Python hashed genesis without its field rules while the contract parses every header
    with them: a proof down to such a genesis split the clients."""
    genesis = replace(make_header(VALIDATORS, number=0), mix_hash=b"\x00" * 32)
    first = sealed(make_header(VALIDATORS, number=1, parent_hash=block_hash(genesis)), KEYS[:3])
    lc = deploy(chain, number=1, trusted_hash=block_hash(first))
    ancestry_bad(chain, lc, block_hash(first), [first, genesis], "NotQbftHeader")
    good = make_header(VALIDATORS, number=0)
    first = sealed(make_header(VALIDATORS, number=1, parent_hash=block_hash(good)), KEYS[:3])
    lc = deploy(chain, number=1, trusted_hash=block_hash(first))
    assert verify_ancestor(block_hash(first), [first, good]) == good
    chain.send(lc.functions.submitAncestors([encode_header(first), encode_header(good)]))
    check_stored(lc, good)


# --- Besu's QBFT header field rules --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "round_", "error"),
    [
        *(({"gas_limit": g, "gas_used": 0}, 0, "NotQbftHeader") for g in BESU_REFUSED_GAS_LIMITS),
        *(({}, r, "ExtraDataMalformed") for r in BESU_REFUSED_ROUNDS),
    ],
)
def test_headers_besu_refuses_are_refused(
    fresh: tuple[Chain, Contract], changes: dict[str, Any], round_: int, error: str
) -> None:
    chain, lc = fresh
    header = replace(make_header(VALIDATORS, number=100), **changes)
    submit_bad(chain, lc, encode_header(sealed(header, KEYS[:3], round_=round_)), error)


@pytest.mark.parametrize(("vanity", "changes"), BESU_ACCEPTED_VARIANTS)
def test_headers_besu_accepts_are_accepted(
    fresh: tuple[Chain, Contract], vanity: bytes, changes: dict[str, Any]
) -> None:
    chain, lc = fresh
    header = make_header(VALIDATORS, number=100)
    extra = replace(decode_qbft_extra(header.extra_data), vanity=vanity)
    header = replace(with_qbft_extra(header, extra), **changes)
    accepts(chain, lc, sealed(header, KEYS[:3], round_=BESU_MAX_ROUND))


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
        True,  # both refuse the malleable twin (Besu signs with low s)
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


def rpc_block(chain: Chain, number: int | str) -> dict[str, Any]:
    tag = hex(number) if isinstance(number, int) else number
    result = chain.rpc("eth_getBlockByNumber", tag, False)
    assert isinstance(result, dict)
    return result


def devnet_validators(chain: Chain, number: int) -> list[bytes]:
    result = chain.rpc("qbft_getValidatorsByBlockNumber", hex(number))
    return sorted(h(a) for a in result)


def test_devnet_header_is_accepted_on_anvil_and_tampered_ones_refused(
    consortium_chain: Chain, anvil_chain: Chain
) -> None:
    consortium_chain.mine()
    block = rpc_block(consortium_chain, "latest")
    number = int(block["number"], 16)
    parent = rpc_block(consortium_chain, number - 1)
    validators = devnet_validators(consortium_chain, number)
    header = header_from_rpc(block)
    assert bytes(qbft_block_hash(header)) == h(block["hash"])
    lc = deploy(
        anvil_chain,
        validators,
        number - 1,
        h(parent["hash"]),
        int(parent["timestamp"], 16),
        source=consortium_chain.chain_id,
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
        "SetChangeNeedsTrustedSet",
        "NotTrustedSetAt",
        "TrustExpired",
        "HeaderFromFuture",
    }
)


@pytest.fixture(scope="module")
def fuzz_client(anvil_chain: Chain) -> Contract:
    return deploy(anvil_chain)


# Live-chain fuzzing: a modest number of examples per entry point (each one is an eth_call).
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


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


@FUZZ
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


# Every other entry point: damaged bytes are refused with a custom error, and the two clients
# agree (accept both or refuse both) on ancestry proofs and set-change runs.

EVIDENCE_ERRORS = LC_ERRORS | {"NoMisbehaviour"}
RUN_ERRORS = LC_ERRORS | {"RunNotLinked", "NotNewer", "SetUnchanged"}
ANCESTRY_ERRORS = LC_ERRORS | {"AncestryBroken"}
FUZZ_BLOCKS = linked_headers(3)  # 100..102
FUZZ_RUN = removal_chain(KEYS[:2], KEYS[1:3])


@pytest.fixture(scope="module")
def fuzz_ancestry_client(anvil_chain: Chain) -> Contract:
    lc = deploy(anvil_chain)
    anvil_chain.send(lc.functions.submitHeader(encode_header(FUZZ_BLOCKS[2])))
    return lc


def _outcome(chain: Chain, call: Any, errors: frozenset[str]) -> bool:
    """True if the call succeeds; a revert must be one of ``errors``."""
    try:
        chain.check_call(call)
    except Reverted as info:
        assert info.error in errors, info
        return False
    return True


def _python_accepts(check: Callable[[], object]) -> bool:
    try:
        check()
    except HeaderInvalid:
        return False
    return True


@FUZZ
@given(data=st.data(), at=st.integers(0, 1))
def test_damaged_ancestry_proofs_get_one_answer_from_both_clients(
    anvil_chain: Chain, fuzz_ancestry_client: Contract, data: st.DataObject, at: int
) -> None:
    proof = [encode_header(FUZZ_BLOCKS[2]), encode_header(FUZZ_BLOCKS[1])]
    proof[at] = data.draw(damaged(proof[at]))
    python = _python_accepts(lambda: verify_ancestor(block_hash(FUZZ_BLOCKS[2]), proof))
    call = fuzz_ancestry_client.functions.submitAncestors(proof)
    assert _outcome(anvil_chain, call, ANCESTRY_ERRORS) == python


@FUZZ
@given(data=st.data(), at=st.integers(0, 1))
def test_damaged_set_change_runs_get_one_answer_from_both_clients(
    anvil_chain: Chain, fuzz_client: Contract, data: st.DataObject, at: int
) -> None:
    run = [encode_header(x) for x in FUZZ_RUN]
    run[at] = data.draw(damaged(run[at]))
    trusted = trusted_of(fuzz_client, anvil_chain)
    python = _python_accepts(lambda: verify_set_change(trusted, run))
    call = fuzz_client.functions.updateValidatorSet(validator_set_rlp(trusted.validators), run)
    assert _outcome(anvil_chain, call, RUN_ERRORS) == python


@FUZZ
@given(data=st.data())
def test_damaged_evidence_is_refused_with_a_custom_error(
    anvil_chain: Chain, fuzz_client: Contract, data: st.DataObject
) -> None:
    rival = sealed(replace(make_header(VALIDATORS, number=100), state_root=b"\x01" * 32), KEYS[1:])
    bad = data.draw(damaged(encode_header(rival)))
    try:  # evidence iff the damaged rival is still a validly sealed header of another block
        python = verify_commit_seals(bad, VALIDATORS).hash != block_hash(GOOD)
    except HeaderInvalid:
        python = False
    call = fuzz_client.functions.submitMisbehaviour(encode_header(GOOD), bad)
    assert _outcome(anvil_chain, call, EVIDENCE_ERRORS) == python
