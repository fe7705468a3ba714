"""The operation registry on an operation with a body (the read endpoints take none): the body
is parsed strictly into its model, every bad field of every location is listed in one 400,
another media type is a 415, and the generated document stays valid OpenAPI 3.1. Every
answer is checked against that document (tests/api/conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import OpenAPIV31SpecValidator
from pydantic import Field

from gateway.api.models import (
    ApiModel,
    ChainIdParam,
    ChecksumAddress,
    NoParams,
    TransferPath,
    Uint256,
)
from gateway.api.problems import problem_middleware
from gateway.api.spec import VALIDATION_CONTEXT_KEY, Api, Call, Scope
from tests.api.conftest import HUB, ApiClient

GOOD = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BAD_CHECKSUM = "0x5fbDB2315678afecb367f032d93F642f64180aa3"


class Quote(ApiModel):
    """A made-up request: what an operation with a body looks like."""

    dst_chain_id: ChainIdParam
    receiver: ChecksumAddress
    amount: Uint256
    memo: str | None = Field(default=None, max_length=10)


class QuoteAnswer(ApiModel):
    """The made-up answer."""

    receiver: ChecksumAddress
    amount: Uint256
    fee: Uint256
    ref: str


async def quote(call: Call[TransferPath, NoParams, Quote]) -> QuoteAnswer:
    body = call.body
    return QuoteAnswer(
        receiver=body.receiver, amount=body.amount, fee=body.amount // 100, ref=str(call.path.id)
    )


def quote_api() -> Api:
    api = Api("test", "0.0.1")
    api.add(
        "POST",
        "/v1/quotes/{id}",
        quote,
        summary="a quote",
        scope=Scope.DAPP,
        path_params=TransferPath,
        query=NoParams,
        body=Quote,
        response=QuoteAnswer,
        status=201,
        problems=[422],
    )
    return api


@pytest.fixture
async def quotes() -> AsyncIterator[ApiClient]:
    app = web.Application(middlewares=[problem_middleware], client_max_size=1024)
    app[VALIDATION_CONTEXT_KEY] = {"chain_ids": frozenset({HUB})}
    quote_api().install(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield ApiClient(client, quote_api().openapi())


def good(**overrides: Any) -> dict[str, Any]:
    return {"dst_chain_id": HUB, "receiver": GOOD, "amount": str(10**30), **overrides}


async def test_the_document_of_an_operation_with_a_body(quotes: ApiClient) -> None:
    OpenAPIV31SpecValidator(quotes.document).validate()
    op = quotes.document["paths"]["/v1/quotes/{id}"]["post"]
    assert op["x-xgate-scope"] == "dapp"
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Quote"
    }
    assert {"201", "400", "413", "415", "422", "500", "503"} == set(op["responses"])


async def test_a_good_body_is_parsed_into_its_model(quotes: ApiClient) -> None:
    answer = await quotes.request("POST", "/v1/quotes/trk-1", json=good())
    assert answer.status == 201
    assert answer.body == {
        "receiver": GOOD,
        "amount": str(10**30),
        "fee": str(10**28),
        "ref": "trk-1",
    }


async def test_every_bad_field_of_every_location_is_listed(quotes: ApiClient) -> None:
    body = good(
        dst_chain_id="20250",  # strict: a number in JSON, not a string
        receiver=BAD_CHECKSUM,
        amount=str(2**256),
        memo="far too long",
        colour="red",
    )
    answer = await quotes.request("POST", "/v1/quotes/0x12?x=1", json=body)
    assert answer.status == 400
    assert {(e["field"], e["message"]) for e in answer.body["errors"]} == {
        ("path.id", "expected 0x and 64 hex digits (32 bytes), in lower case"),
        ("query.x", "unknown field"),
        ("body.dst_chain_id", "expected a positive integer chain id"),
        (
            "body.receiver",
            "expected the address's EIP-55 checksummed spelling (mixed case); a digit may be "
            "mistyped",
        ),
        ("body.amount", "must be between 0 and 2**256 - 1"),
        ("body.memo", "must be at most 10 characters"),
        ("body.colour", "unknown field"),
    }
    # Input is never echoed back.
    assert BAD_CHECKSUM not in str(answer.body) and "far too long" not in str(answer.body)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (1000, "expected a decimal string without sign or leading zeros"),
        ("-1", "expected a decimal string without sign or leading zeros"),
        ("01", "expected a decimal string without sign or leading zeros"),
        ("1e3", "expected a decimal string without sign or leading zeros"),
        ("1" * 79, "expected a decimal string without sign or leading zeros"),
    ],
)
async def test_uint256_is_a_plain_decimal_string(
    quotes: ApiClient, amount: object, message: str
) -> None:
    answer = await quotes.request("POST", "/v1/quotes/trk", json=good(amount=amount))
    assert answer.body["errors"] == [{"field": "body.amount", "message": message}]


async def test_bodies_that_are_no_json_object(quotes: ApiClient) -> None:
    answer = await quotes.request(
        "POST", "/v1/quotes/trk", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.body["errors"] == [{"field": "body", "message": "not valid JSON"}]
    answer = await quotes.request("POST", "/v1/quotes/trk", json=[1, 2])
    assert answer.body["errors"][0]["field"] == "body"
    answer = await quotes.request(
        "POST", "/v1/quotes/trk", data=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert (answer.status, answer.body["type"]) == (
        415,
        "https://xgate.dev/problems/unsupported-media-type",
    )
    answer = await quotes.request("POST", "/v1/quotes/trk", json=good(memo="x" * 2000))
    assert answer.status == 413
