"""Header codec: every fork's field count, strictness, RPC parsing, and agreement with pyrlp and
py-evm (independent implementations used as oracles)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.rlp.headers import BlockHeader as FrontierHeader
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.errors import DecodeError
from adapters.headers import (
    EMPTY_OMMERS_HASH,
    Header,
    decode_header,
    encode_header,
    header_from_rpc,
    header_hash,
)
from tests.helpers.mutation import mutate_bytes

VECTORS = Path(__file__).parent.parent / "vectors"

OPTIONAL_BY_COUNT: dict[int, dict[str, Any]] = {
    15: {},
    16: {"base_fee_per_gas": 7},
    17: {"base_fee_per_gas": 7, "withdrawals_root": b"\x21" * 32},
    20: {
        "base_fee_per_gas": 7,
        "withdrawals_root": b"\x21" * 32,
        "blob_gas_used": 131072,
        "excess_blob_gas": 0,
        "parent_beacon_block_root": b"\x22" * 32,
    },
    21: {
        "base_fee_per_gas": 7,
        "withdrawals_root": b"\x21" * 32,
        "blob_gas_used": 131072,
        "excess_blob_gas": 0,
        "parent_beacon_block_root": b"\x22" * 32,
        "requests_hash": bytes.fromhex(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ),
    },
}
PYEVM_CLASS = {
    15: FrontierHeader,
    16: LondonBlockHeader,
    17: ShanghaiBlockHeader,
    20: CancunBlockHeader,
    21: PragueBlockHeader,
}


def make_header(count: int = 21, **changes: Any) -> Header:
    fields: dict[str, Any] = {
        "parent_hash": b"\x01" * 32,
        "ommers_hash": EMPTY_OMMERS_HASH,
        "coinbase": b"\x02" * 20,
        "state_root": b"\x03" * 32,
        "transactions_root": b"\x04" * 32,
        "receipts_root": b"\x05" * 32,
        "logs_bloom": b"\x00" * 255 + b"\x01",
        "difficulty": 0,
        "number": 1234567,
        "gas_limit": 30_000_000,
        "gas_used": 21000,
        "timestamp": 1_700_000_000,
        "extra_data": b"xgate",
        "mix_hash": b"\x06" * 32,
        "nonce": b"\x00" * 8,
        **OPTIONAL_BY_COUNT[count],
    }
    fields.update(changes)
    return Header(**fields)


def pyrlp_fields(h: Header) -> list[Any]:
    values = [getattr(h, f.name) for f in dataclasses.fields(Header)]
    return [v for v in values if v is not None]


@pytest.mark.parametrize("count", sorted(OPTIONAL_BY_COUNT))
def test_header_round_trips_for_every_fork_field_count(count: int) -> None:
    h = make_header(count)
    encoded = encode_header(h)
    assert h.field_count == count
    assert encoded == rlp.encode(pyrlp_fields(h))
    assert decode_header(encoded) == h


@pytest.mark.parametrize("count", sorted(OPTIONAL_BY_COUNT))
def test_header_hash_matches_py_evm_for_every_fork(count: int) -> None:
    h = make_header(count, difficulty=131072 if count == 15 else 0)
    oracle = rlp.decode(encode_header(h), sedes=PYEVM_CLASS[count])
    assert header_hash(h) == oracle.hash


def test_real_besu_qbft_header_decodes_and_re_encodes_byte_for_byte() -> None:
    vector = json.loads((VECTORS / "qbft_headers.json").read_text())["sealed_headers"][0]
    raw = bytes.fromhex(vector["sealed_rlp"])
    h = decode_header(raw)
    assert h.field_count == 15
    assert h.number == vector["number"] == 7528
    assert h.timestamp == vector["timestamp"]
    assert h.coinbase.hex() == vector["coinbase"]
    assert encode_header(h) == raw


def test_anvil_rpc_block_parses_and_hashes_to_the_node_claim() -> None:
    block = json.loads((VECTORS / "rpc_blocks.json").read_text())["blocks"][0]
    h = header_from_rpc(block)
    assert h.field_count == 21
    assert "0x" + header_hash(h).hex() == block["hash"]


def test_rpc_block_with_a_changed_field_no_longer_hashes_to_the_claim() -> None:
    block = dict(json.loads((VECTORS / "rpc_blocks.json").read_text())["blocks"][0])
    block["gasUsed"] = hex(int(block["gasUsed"], 16) + 1)
    assert "0x" + header_hash(header_from_rpc(block)).hex() != block["hash"]


@pytest.mark.parametrize("count", [0, 1, 14, 18, 19, 22, 23])
def test_header_with_unsupported_field_count_is_rejected(count: int) -> None:
    items = pyrlp_fields(make_header(21))
    items = (items + [b"\x01"] * 3)[:count]
    with pytest.raises(DecodeError, match="field count"):
        decode_header(rlp.encode(items))


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (0, b"\x01" * 31),  # parent hash
        (1, b"\x01" * 33),  # ommers hash
        (2, b"\x02" * 19),  # coinbase
        (3, b""),  # state root
        (6, b"\x00" * 255),  # bloom
        (13, b"\x06" * 31),  # mix hash
        (14, b"\x00" * 7),  # nonce
        (16, b"\x21" * 20),  # withdrawals root
        (19, b"\x22" * 31),  # parent beacon root
        (20, b"\x00" * 33),  # requests hash
    ],
)
def test_header_field_with_wrong_size_is_rejected(index: int, value: bytes) -> None:
    items = pyrlp_fields(make_header(21))
    items[index] = value
    with pytest.raises(DecodeError, match="wrong size"):
        decode_header(rlp.encode(items))


@pytest.mark.parametrize("index", [7, 8, 9, 10, 11, 15, 17, 18])
def test_header_integer_with_leading_zero_is_rejected(index: int) -> None:
    items = pyrlp_fields(make_header(21))
    items[index] = b"\x00\x05"
    with pytest.raises(DecodeError, match="leading zeros"):
        decode_header(rlp.encode(items))


def test_header_uint64_field_wider_than_8_bytes_is_rejected() -> None:
    items = pyrlp_fields(make_header(21))
    items[8] = b"\x01" * 9
    with pytest.raises(DecodeError, match="too large"):
        decode_header(rlp.encode(items))


def test_header_field_that_is_a_list_is_rejected() -> None:
    items: list[Any] = pyrlp_fields(make_header(21))
    items[12] = [b"x"]
    with pytest.raises(DecodeError, match="is a list"):
        decode_header(rlp.encode(items))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",  # a string, not a list
        b"\xc1\x81\x05",  # single byte < 0x80 wrapped as a string
        b"\xc2\x81\x05",  # truncated
        b"\xf8\x02\x01\x02",  # long-list form for a short list
        b"\xc1\x01\x00",  # trailing byte
        b"\xb8\x01\x80",  # long-string form for a short string
    ],
)
def test_non_canonical_or_broken_rlp_is_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_header(data)


def test_header_constructor_rejects_fields_out_of_fork_order() -> None:
    with pytest.raises(DecodeError, match="fork order"):
        make_header(15, withdrawals_root=b"\x21" * 32)
    with pytest.raises(DecodeError, match="incomplete fork field set"):
        make_header(17, blob_gas_used=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("coinbase", b"\x00" * 21), ("number", -1), ("gas_used", True), ("nonce", "0x00")],
)
def test_header_constructor_rejects_bad_values(field: str, value: Any) -> None:
    with pytest.raises(DecodeError):
        make_header(21, **{field: value})


def _rpc_block() -> dict[str, Any]:
    return dict(json.loads((VECTORS / "rpc_blocks.json").read_text())["blocks"][0])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("parentHash", None, "lacks"),
        ("parentHash", "0x1234", "wrong size"),
        ("miner", "0x" + "zz" * 20, "not hex"),
        ("stateRoot", "0x" + "0" * 63, "odd number"),
        ("number", 5, "not a 0x hex string"),
        ("number", "0x", "not a 0x hex string"),
        ("gasUsed", "0x-1", "not hex"),
        ("gasUsed", "0x1_0", "not hex"),
        ("gasUsed", "0x 1", "not hex"),
        ("stateRoot", "0x" + "00" * 31 + "  ", "not hex"),
        ("timestamp", "0x" + "f" * 17, "out of range"),
        ("logsBloom", "00" * 256, "not a 0x hex string"),
    ],
)
def test_rpc_block_with_bad_field_is_rejected(key: str, value: Any, message: str) -> None:
    block = _rpc_block()
    if value is None:
        del block[key]
    else:
        block[key] = value
    with pytest.raises(DecodeError, match=message):
        header_from_rpc(block)


def test_rpc_block_with_later_fork_field_but_missing_earlier_one_is_rejected() -> None:
    block = _rpc_block()
    del block["baseFeePerGas"]
    with pytest.raises(DecodeError, match="fork order"):
        header_from_rpc(block)


def test_rpc_block_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(DecodeError):
        header_from_rpc([1, 2])  # type: ignore[arg-type]


# --- property tests ----------------------------------------------------------------------------


def _mutations() -> st.SearchStrategy[tuple[int, str, int, int]]:
    return st.tuples(
        st.sampled_from(sorted(OPTIONAL_BY_COUNT)),
        st.sampled_from(["flip", "truncate", "append", "insert"]),
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=1, max_value=255),
    )


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_mutated_header_is_rejected_or_re_encodes_to_the_same_bytes(
    mutation: tuple[int, str, int, int],
) -> None:
    count, kind, position, byte = mutation
    mutated = mutate_bytes(encode_header(make_header(count)), kind, position, byte)
    try:
        h = decode_header(mutated)
    except DecodeError:
        return
    # Accepted only if it is itself a canonical header (e.g. a flipped byte inside a hash).
    assert encode_header(h) == mutated
    assert rlp.encode(pyrlp_fields(h)) == mutated
