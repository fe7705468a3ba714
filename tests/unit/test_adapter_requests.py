"""Adapter request values reject bad input when built, and filters match like eth_getLogs."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import BadRequest, EventQuery, TxRequest
from adapters.types import Address

A, B = Address(b"\xaa" * 20), Address(b"\xbb" * 20)
T1, T2, T3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


@pytest.mark.parametrize(
    "kwargs",
    [
        {"addresses": (b"\xaa" * 19,)},
        {"topics": ((T1,),) * 5},
        {"topics": ((),)},
        {"topics": ((b"\x01" * 31,),)},
    ],
)
def test_malformed_event_query_is_a_bad_request(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        EventQuery(**kwargs)


def test_event_query_matches_addresses_and_topic_alternatives_by_position() -> None:
    query = EventQuery(addresses=(A,), topics=(None, (T2, T3)))
    assert query.matches(A, (T1, T2))
    assert query.matches(A, (T1, T3, T1))
    assert not query.matches(B, (T1, T2))
    assert not query.matches(A, (T2, T1))
    assert not query.matches(A, (T1,))
    assert EventQuery().matches(B, ())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": b"\x01" * 21},
        {"to": A, "value": -1},
        {"to": A, "value": True},
        {"to": A, "gas": 0},
        {"to": A, "data": "0x00"},
    ],
)
def test_malformed_transaction_request_is_a_bad_request(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        TxRequest(**kwargs)


def test_provider_api_keys_are_cut_from_urls_shown_in_errors_and_logs() -> None:
    from adapters.evm import redact_url

    assert (
        redact_url("https://mainnet.infura.io/v3/0123456789abcdef") == "https://mainnet.infura.io"
    )
    assert redact_url("http://127.0.0.1:8545/?key=secret") == "http://127.0.0.1:8545"
