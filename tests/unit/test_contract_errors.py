"""Revert data named by the committed artifacts (contracts.decode_error), and decoded errors
shown JSON-friendly by XgateError.to_dict."""

from __future__ import annotations

import json

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from adapters.base import CallReverted
from contracts import DecodedError, decode_error


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def test_custom_error_is_named_with_its_arguments_and_declaring_artifact() -> None:
    data = _selector("UnknownRoute(uint256)") + encode(["uint256"], [4242])
    assert decode_error(data) == DecodedError(
        "UnknownRoute", "UnknownRoute(uint256)", (4242,), "BridgeEndpoint"
    )


def test_error_string_and_panic_are_known_to_every_contract() -> None:
    reason = decode_error(_selector("Error(string)") + encode(["string"], ["no"]))
    assert reason == DecodedError("Error", "Error(string)", ("no",), None)
    panic = decode_error(_selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert panic is not None and (panic.name, panic.args) == ("Panic", (0x11,))


def test_unknown_selector_short_data_and_malformed_arguments_decode_to_none() -> None:
    assert decode_error(b"") is None
    assert decode_error(b"\x01\x02\x03") is None
    assert decode_error(_selector("NoSuchError()")) is None
    assert decode_error(_selector("UnknownRoute(uint256)") + b"\x01") is None


def test_call_reverted_shows_its_decoded_error_as_plain_json() -> None:
    data = _selector("UnknownRoute(uint256)") + encode(["uint256"], [7])
    error = CallReverted("call reverted", data=data, decoded=decode_error(data), to=b"\xaa" * 20)
    shown = json.loads(json.dumps(error.to_dict()))
    assert shown["error"] == "CallReverted"
    assert shown["data"] == "0x" + data.hex()
    assert shown["decoded"] == {
        "name": "UnknownRoute",
        "signature": "UnknownRoute(uint256)",
        "args": [7],
        "artifact": "BridgeEndpoint",
    }
    assert error.decoded is not None and error.decoded.args == (7,)
