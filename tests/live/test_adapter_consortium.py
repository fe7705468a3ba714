"""The adapter behaviour suite and the QBFT profile against the consortium devnet node.

Also: a node that forges or corrupts QBFT headers (through a proxy) is caught by the light
client as ``HeaderInvalid``, even when the forger recomputes a consistent block hash.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.base import FinalityKind, TxRequest
from adapters.bft import (
    decode_qbft_extra,
    encode_qbft_extra,
    qbft_block_hash,
    qbft_quorum,
    seal_qbft_header,
)
from adapters.errors import HeaderInvalid, RpcResponseInvalid, TransactionFailed
from adapters.headers import Header, header_from_rpc
from adapters.qbft import MisbehaviourDetected, QbftAdapter, QbftConfig
from adapters.retry import RetryPolicy
from adapters.signer import LocalSigner
from adapters.testing import ChainAdapterContract
from adapters.types import Address, ChainId, Finality, Hash32, Height
from tests.live.faulty_proxy import Fault, FaultyProxy, faulty_proxy

pytestmark = pytest.mark.live


def _config(url: str, node: Any, **overrides: Any) -> QbftConfig:
    settings: dict[str, Any] = {
        "rpc_url": url,
        "chain_id": ChainId(node.chain_id),
        "trusted_validators": tuple(Address(v) for v in node.validators),
        "poll_interval_s": 0.02,
        "max_log_range": 2,  # force chunked eth_getLogs on the suite's small ranges
        "request_timeout_s": 2.0,
        "retry": RetryPolicy(initial_delay=0.01, max_attempts=2),
    }
    settings.update(overrides)
    return QbftConfig(**settings)


@pytest.fixture(scope="module")
async def adapter(consortium_node: Any) -> AsyncIterator[QbftAdapter]:
    signer = LocalSigner(consortium_node.accounts[0].private_key)
    async with QbftAdapter(_config(consortium_node.url, consortium_node), [signer]) as a:
        yield a


@pytest.fixture(scope="module")
def recipient(consortium_node: Any) -> Address:
    return Address(consortium_node.accounts[1].address)


@pytest.fixture(scope="module")
def expected_chain_id(consortium_node: Any) -> int:
    return int(consortium_node.chain_id)


class TestConsortiumAdapter(ChainAdapterContract):
    pass


# --- the QBFT profile --------------------------------------------------------------------------


async def _mined_height(adapter: QbftAdapter, recipient: Address) -> Height:
    tx = await adapter.submit(TxRequest(to=recipient, value=1))
    return (await adapter.wait_final(tx, adapter.finality, 30)).block_number


async def test_consortium_finality_is_instant_and_every_tag_is_the_head(
    adapter: QbftAdapter, recipient: Address
) -> None:
    assert adapter.capabilities.finality == FinalityKind.INSTANT
    assert adapter.capabilities.poa
    assert adapter.ref.kind == "qbft"
    height = await _mined_height(adapter, recipient)
    for tag in ("finalized", "safe", "latest"):
        assert await adapter.height(Finality(tag=tag)) >= height  # type: ignore[arg-type]
    assert await adapter.height(Finality.finalized()) == await adapter.height(Finality.latest())


async def test_verified_header_has_a_quorum_of_distinct_validator_seals(
    adapter: QbftAdapter, recipient: Address, consortium_node: Any
) -> None:
    height = await _mined_height(adapter, recipient)
    verified = await adapter.verified_header(height)
    validators = tuple(sorted(consortium_node.validators))
    assert verified.validators == validators
    assert len(set(verified.signers)) == len(verified.signers) >= qbft_quorum(len(validators))
    assert set(verified.signers) <= set(validators)
    assert verified.hash == adapter.block_hash(await adapter.header(height))


async def test_validators_match_the_verified_header(
    adapter: QbftAdapter, recipient: Address, consortium_node: Any
) -> None:
    height = await _mined_height(adapter, recipient)
    assert await adapter.validators(height) == tuple(sorted(consortium_node.validators))


async def test_allowlist_gates_senders(
    adapter: QbftAdapter, recipient: Address, consortium_node: Any
) -> None:
    outsider = LocalSigner(os.urandom(32))
    assert outsider.address not in await adapter.allowlist()
    # Fund the outsider, so only the allowlist can stop it.
    funded = await adapter.submit(TxRequest(to=outsider.address, value=10**18))
    await adapter.wait_final(funded, adapter.finality, 30)
    config = _config(consortium_node.url, consortium_node)
    async with QbftAdapter(config, [outsider]) as as_outsider:
        with pytest.raises(TransactionFailed):
            await as_outsider.submit(TxRequest(to=recipient, value=1, gas=21_000))
        await adapter.allow_accounts([outsider.address])
        assert outsider.address in await adapter.allowlist()
        tx = await as_outsider.submit(TxRequest(to=recipient, value=1, gas=21_000))
        assert (await as_outsider.wait_final(tx, as_outsider.finality, 30)).status == 1
        await adapter.disallow_accounts([outsider.address])
        assert outsider.address not in await adapter.allowlist()


async def test_trust_anchor_with_another_validator_set_is_refused(consortium_node: Any) -> None:
    wrong = (Address(b"\x01" * 20), *(Address(v) for v in consortium_node.validators[1:]))
    adapter = QbftAdapter(_config(consortium_node.url, consortium_node, trusted_validators=wrong))
    with pytest.raises(HeaderInvalid):
        await adapter.start()
    await adapter.aclose()


async def test_trust_anchor_with_another_hash_is_refused(consortium_node: Any) -> None:
    config = _config(consortium_node.url, consortium_node, trusted_hash=Hash32(b"\x02" * 32))
    adapter = QbftAdapter(config)
    with pytest.raises(HeaderInvalid):
        await adapter.start()
    await adapter.aclose()


# --- validator-set changes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
async def voting_node() -> AsyncIterator[Any]:
    from devnet.launcher import start_consortium

    async with start_consortium(config={"instant_seal": True, "spare_validators": 2}) as node:
        yield node


async def _drive_until(
    adapter: QbftAdapter, recipient: Address, done: Callable[[tuple[bytes, ...]], bool]
) -> Height:
    """Seal blocks (one transfer each) until the listed validator set satisfies ``done``."""
    for _ in range(60):
        height = await _mined_height(adapter, recipient)
        if done(decode_qbft_extra((await adapter.header(height)).extra_data).validators):
            return height
    raise AssertionError("validator votes did not take effect within 60 blocks")


async def test_validator_set_changes_are_followed_from_the_genesis_anchor(
    voting_node: Any,
) -> None:
    from devnet.keys import validator_keys

    genesis_set = tuple(sorted(voting_node.validators))
    spares = [
        Address(k.address)
        for k in validator_keys(len(genesis_set) + 2)
        if k.address not in genesis_set
    ]
    signer = LocalSigner(voting_node.accounts[0].private_key)
    recipient = Address(voting_node.accounts[1].address)
    async with QbftAdapter(_config(voting_node.url, voting_node), [signer]) as adapter:
        for spare in spares:
            await adapter.propose_validator_vote(spare, add=True)
        grown_at = await _drive_until(adapter, recipient, lambda vs: len(vs) == 6)
        assert set(await adapter.validators(grown_at)) == set(genesis_set) | set(spares)
        # Now retire every genesis validator: the final set shares no member with genesis.
        for old in genesis_set:
            await adapter.propose_validator_vote(Address(old), add=False)
        replaced_at = await _drive_until(adapter, recipient, lambda vs: set(vs) == set(spares))
        assert await adapter.validators(replaced_at) == tuple(sorted(spares))

    # A fresh client trusting only genesis reaches the grown set in one skip (> 1/3 of the
    # genesis set still seals it) ...
    async with faulty_proxy(voting_node.url) as proxy:
        async with QbftAdapter(_config(proxy.url, voting_node)) as fresh:
            proxy.calls.clear()
            verified = await fresh.verified_header(grown_at)
            assert len(verified.validators) == 6
            assert verified.quorum == qbft_quorum(6)
            assert proxy.count("eth_getBlockByNumber") == 1
        # ... and the fully replaced set only by bisecting through intermediate headers.
        async with QbftAdapter(_config(proxy.url, voting_node)) as fresh:
            proxy.calls.clear()
            verified = await fresh.verified_header(replaced_at)
            assert verified.validators == tuple(sorted(spares))
            assert set(verified.signers) <= set(spares)
            assert proxy.count("eth_getBlockByNumber") > 1


# --- forged and corrupted headers --------------------------------------------------------------


@pytest.fixture
async def proxy(consortium_node: Any) -> AsyncIterator[FaultyProxy]:
    async with faulty_proxy(consortium_node.url) as p:
        yield p


@pytest.fixture
async def proxied(proxy: FaultyProxy, consortium_node: Any) -> AsyncIterator[QbftAdapter]:
    async with QbftAdapter(_config(proxy.url, consortium_node)) as a:
        yield a


def _rewrite(change: Callable[[Header, Any], tuple[Header, Any]], rehash: bool = True) -> Any:
    """A mutation of an eth_getBlockByNumber result: rewrite the parsed header and extraData,
    optionally recomputing the QBFT hash so the forgery is self-consistent."""

    def mutate(result: Any) -> Any:
        header = header_from_rpc(result)
        if header.number == 0:
            return result
        header, extra = change(header, decode_qbft_extra(header.extra_data))
        raw_extra = (
            extra if isinstance(extra, bytes) else encode_qbft_extra(extra, check_order=False)
        )
        result["extraData"] = "0x" + raw_extra.hex()
        result["stateRoot"] = "0x" + header.state_root.hex()
        if rehash and not isinstance(extra, bytes):  # garbage extraData has no QBFT hash
            header = dataclasses.replace(header, extra_data=raw_extra)
            result["hash"] = "0x" + qbft_block_hash(header).hex()
        return result

    return mutate


def _flip_seal(h: Header, x: Any) -> tuple[Header, Any]:
    seal = bytearray(x.seals[0])
    seal[10] ^= 0x01
    return h, dataclasses.replace(x, seals=(bytes(seal), *x.seals[1:]))


def _other_round(h: Header, x: Any) -> tuple[Header, Any]:
    return h, dataclasses.replace(x, round=x.round + 1)


def _too_few_seals(h: Header, x: Any) -> tuple[Header, Any]:
    return h, dataclasses.replace(x, seals=x.seals[: qbft_quorum(len(x.validators)) - 1])


def _duplicate_seal(h: Header, x: Any) -> tuple[Header, Any]:
    return h, dataclasses.replace(x, seals=(x.seals[0], *x.seals[:-1]))


def _forged_state_root(h: Header, x: Any) -> tuple[Header, Any]:
    return dataclasses.replace(h, state_root=b"\x42" * 32), x


def _garbage_extra(h: Header, x: Any) -> tuple[Header, Any]:
    return h, b"\xde\xad\xbe\xef"


def _forged_validator_set(h: Header, x: Any) -> tuple[Header, Any]:
    return h, dataclasses.replace(x, validators=tuple(sorted((*x.validators, b"\x07" * 20))))


@pytest.mark.parametrize(
    "change",
    [
        _flip_seal,
        _other_round,
        _too_few_seals,
        _duplicate_seal,
        _forged_state_root,
        _garbage_extra,
        _forged_validator_set,
    ],
)
async def test_corrupted_or_forged_header_is_caught_by_the_light_client(
    proxied: QbftAdapter,
    proxy: FaultyProxy,
    adapter: QbftAdapter,
    recipient: Address,
    change: Callable[[Header, Any], tuple[Header, Any]],
) -> None:
    tx = await adapter.submit(TxRequest(to=recipient, value=1))
    mined = await adapter.wait_final(tx, adapter.finality, 30)
    proxy.fault = Fault(method="eth_getBlockByNumber", mutate=_rewrite(change))
    with pytest.raises(HeaderInvalid):
        await proxied.header(mined.block_number)
    # Proofs stand on the same verified header, so they fail the same way.
    with pytest.raises(HeaderInvalid):
        await proxied.receipt_proof(tx)


async def test_forged_header_with_the_original_hash_is_rejected_before_consensus(
    proxied: QbftAdapter, proxy: FaultyProxy, adapter: QbftAdapter, recipient: Address
) -> None:
    height = await _mined_height(adapter, recipient)
    proxy.fault = Fault(
        method="eth_getBlockByNumber", mutate=_rewrite(_forged_state_root, rehash=False)
    )
    with pytest.raises(RpcResponseInvalid):
        await proxied.header(height)


def _resealed_state_root(h: Header, x: Any) -> tuple[Header, Any]:
    """Another block at the same height, properly sealed by the validators' own (dev) keys: what
    a validator set that signs twice produces."""
    from devnet.keys import validator_keys

    keys = [k.private_key for k in validator_keys(8) if k.address in x.validators]
    unsealed = dataclasses.replace(
        h, state_root=b"\x42" * 32, extra_data=encode_qbft_extra(dataclasses.replace(x, seals=()))
    )
    sealed = seal_qbft_header(unsealed, keys, round_=x.round)
    return sealed, decode_qbft_extra(sealed.extra_data)


async def test_two_validly_sealed_headers_at_one_height_freeze_the_adapter(
    proxied: QbftAdapter, proxy: FaultyProxy, adapter: QbftAdapter, recipient: Address
) -> None:
    height = await _mined_height(adapter, recipient)
    genuine = await proxied.verified_header(height)
    proxy.fault = Fault(method="eth_getBlockByNumber", mutate=_rewrite(_resealed_state_root))
    with pytest.raises(MisbehaviourDetected, match="two different headers"):
        await proxied.verified_header(height)
    # From now on nothing from this chain is trusted, not even the genuine header.
    proxy.fault = None
    with pytest.raises(MisbehaviourDetected):
        await proxied.verified_header(genuine.number)
    assert (await adapter.verified_header(height)).hash == genuine.hash
