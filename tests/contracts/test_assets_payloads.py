"""The Solidity payload codecs agree with tests/vectors/asset_payloads.json on both chains."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.domain.payloads import decode_payload, payload_from_dict
from harness import Chain, Reverted
from tests.contracts._assets_helpers import (
    build_vectors,
    harness_decode,
    harness_encode,
    load_vectors,
)

VECTORS = load_vectors()
VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]


@pytest.fixture(scope="module", params=["anvil", "consortium"])
def deployed(request: pytest.FixtureRequest) -> tuple[Chain, Any]:
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    return chain, chain.deploy("AssetsPayloadHarness")


def _hex(s: str) -> bytes:
    return bytes.fromhex(s[2:])


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_solidity_encodes_the_vector_bytes(
    deployed: tuple[Chain, Any], vector: dict[str, Any]
) -> None:
    _, harness = deployed
    payload = payload_from_dict(vector["payload"])
    assert harness_encode(harness, payload) == _hex(vector["encoded"])


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_solidity_decodes_the_vector_bytes_to_its_fields(
    deployed: tuple[Chain, Any], vector: dict[str, Any]
) -> None:
    _, harness = deployed
    data = _hex(vector["encoded"])
    decoded = harness_decode(harness, vector["payload"]["kind"], data)
    assert decoded == payload_from_dict(vector["payload"]) == decode_payload(data)
    assert harness.functions.decodeAny(data).call() == data[31]


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_solidity_decoder_refuses_malformed_payloads(
    deployed: tuple[Chain, Any], vector: dict[str, Any]
) -> None:
    chain, harness = deployed
    call = harness.functions.decodeAny(_hex(vector["encoded"]))
    expected = vector["solidity_error"]
    if expected is None:  # a value rule of the sending contract: the ABI shape is fine here
        chain.check_call(call)
        return
    with pytest.raises(Reverted) as info:
        chain.check_call(call)
    assert info.value.error == expected


def test_committed_vectors_are_what_the_solidity_encoders_produce(
    deployed: tuple[Chain, Any],
) -> None:
    _, harness = deployed
    assert build_vectors(harness) == VECTORS
