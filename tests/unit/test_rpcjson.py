"""The one definition of a JSON-RPC DATA / QUANTITY value, shared by every node-answer codec."""

from __future__ import annotations

import pytest

from adapters.errors import DecodeError, RpcResponseInvalid
from adapters.evm import parse_data, parse_quantity
from adapters.rpcjson import rpc_data, rpc_field, rpc_quantity


@pytest.mark.parametrize(
    ("text", "bits", "number"),
    [
        ("0x0", 256, 0),
        ("0x1a", 256, 26),
        ("0X1A", 8, 26),
        ("0x00ff", 8, 255),
        ("0x" + "f" * 64, 256, 2**256 - 1),
    ],
)
def test_quantity_is_read_as_hex(text: str, bits: int, number: int) -> None:
    assert rpc_quantity(text, "q", bits) == number
    assert parse_quantity(text, "q", bits) == number


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (26, "not a 0x hex string"),
        ("1a", "not a 0x hex string"),
        ("0x", "not a 0x hex string"),
        ("0xzz", "not hex"),
        ("0x-1", "not hex"),
        ("0x+1", "not hex"),
        ("0x1_0", "not hex"),
        ("0x 1", "not hex"),
        ("0x1 ", "not hex"),
        ("0x\u0661", "not hex"),  # a Unicode digit that int() would accept
        ("0x100", "out of range"),
    ],
)
def test_malformed_quantity_is_rejected(value: object, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        rpc_quantity(value, "q", 8)
    assert info.value.context["field"] == "q"
    with pytest.raises(RpcResponseInvalid, match=message):
        parse_quantity(value, "q", 8)


@pytest.mark.parametrize(
    ("text", "raw"), [("0x", b""), ("0x00ff", b"\x00\xff"), ("0XABcd", b"\xab\xcd")]
)
def test_data_is_read_as_hex(text: str, raw: bytes) -> None:
    assert rpc_data(text, "d") == raw
    assert parse_data(text, "d") == raw


@pytest.mark.parametrize(
    ("value", "size", "message"),
    [
        (b"\x00", None, "not a 0x hex string"),
        ("00ff", None, "not a 0x hex string"),
        ("0x0", None, "odd number"),
        ("0xzz", None, "not hex"),
        ("0x00  ff", None, "not hex"),
        ("0x 0ff", None, "not hex"),
        ("0x0011", 3, "wrong size"),
    ],
)
def test_malformed_data_is_rejected(value: object, size: int | None, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        rpc_data(value, "d", size)
    assert info.value.context["field"] == "d"
    with pytest.raises(RpcResponseInvalid, match=message):
        parse_data(value, "d", size)


def test_missing_field_is_named() -> None:
    assert rpc_field({"a": 1}, "a") == 1
    with pytest.raises(DecodeError, match="missing field") as info:
        rpc_field({"a": 1}, "b")
    assert info.value.context["field"] == "b"
