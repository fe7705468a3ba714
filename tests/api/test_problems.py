"""Every error is an RFC 9457 problem: aiohttp's own (no route, wrong method, body too
large), bodies where none is taken, the store being unavailable, and an unexpected failure,
which answers 500 with the request id and logs the stack trace without showing it."""

from __future__ import annotations

import logging

import pytest

from gateway.store import Store, StoreUnavailable
from tests.api.conftest import ApiClient

PROBLEMS = "https://xgate.dev/problems/"


async def test_unknown_route_is_a_404_problem(api: ApiClient) -> None:
    answer = await api.get("/v1/nothing-here")
    assert answer.content_type == "application/problem+json"
    assert answer.body == {
        "type": PROBLEMS + "not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no resource at /v1/nothing-here",
        "instance": "/v1/nothing-here",
        "request_id": answer.headers["X-Request-Id"],
    }


async def test_wrong_method_is_a_405_problem_naming_the_allowed_ones(api: ApiClient) -> None:
    answer = await api.request("POST", "/v1/chains", json={})
    assert (answer.status, answer.body["type"]) == (405, PROBLEMS + "method-not-allowed")
    assert answer.headers["Allow"] == "GET"
    assert "allowed: GET" in answer.body["detail"]
    answer = await api.request("DELETE", "/v1/transfers/" + "0x" + "00" * 32)
    assert answer.status == 405


async def test_a_body_above_64_kib_is_a_413_problem(api: ApiClient) -> None:
    answer = await api.request("GET", "/v1/chains", data=b"x" * (64 * 1024 + 1))
    assert (answer.status, answer.body["type"]) == (413, PROBLEMS + "body-too-large")
    assert "65536 bytes" in answer.body["detail"]


async def test_a_body_where_none_is_taken_is_refused(api: ApiClient) -> None:
    answer = await api.request("GET", "/v1/chains", json={"a": 1})
    assert answer.status == 400
    assert answer.body["errors"] == [{"field": "body", "message": "this operation takes no body"}]


async def test_an_unexpected_error_is_a_500_with_the_request_id_and_no_trace(
    api: ApiClient,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("secret internals: table dropped")

    monkeypatch.setattr(store, "message", broken)
    with caplog.at_level(logging.ERROR, logger="gateway.api.problems"):
        answer = await api.get("/v1/transfers/0x" + "00" * 32, headers={"X-Request-Id": "req-42"})
    assert (answer.status, answer.body["type"]) == (500, PROBLEMS + "internal-error")
    assert answer.body["request_id"] == answer.headers["X-Request-Id"] == "req-42"
    assert "req-42" in answer.body["detail"]
    assert "secret internals" not in str(answer.body) and "Traceback" not in str(answer.body)
    [logged] = [r for r in caplog.records if r.name == "gateway.api.problems"]
    assert logged.exc_info is not None and "req-42" in logged.getMessage()


async def test_an_unavailable_store_is_a_503_to_retry(
    api: ApiClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def busy(*_: object) -> None:
        raise StoreUnavailable("database unavailable or busy", op="messages_by_tx")

    monkeypatch.setattr(store, "messages_by_tx", busy)
    answer = await api.get(f"/v1/transfers?src_chain_id=20250&src_tx_hash=0x{'00' * 32}")
    assert (answer.status, answer.body["type"]) == (503, PROBLEMS + "store-unavailable")
    assert answer.headers["Retry-After"] == "1"
