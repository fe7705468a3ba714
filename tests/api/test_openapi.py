"""The OpenAPI document the registry generates is valid OpenAPI 3.1, documents every
operation with its scope and problem answers, and /docs renders it as one self-contained
page. (Every answer of the API tests is checked against this document: tests/api/conftest.)"""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from gateway.api.auth import document_security
from gateway.api.models import NoBody, NoParams, TransferPage
from gateway.api.spec import Api, Call, Scope
from gateway.api.v1 import v1_api
from tests.api.conftest import ApiClient


async def test_the_document_is_valid_openapi_3_1(api: ApiClient) -> None:
    document = api.document
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"] == "3.1.0"
    # The registry's document, with the security layer documented (gateway.api.auth).
    expected = v1_api()
    document_security(expected.openapi(), expected.operations)
    assert document == expected.openapi()
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


async def test_every_operation_declares_its_scope_and_problems(api: ApiClient) -> None:
    operations = [
        (path, method, op)
        for path, methods in api.document["paths"].items()
        for method, op in methods.items()
    ]
    assert {(method, path): op["x-xgate-scope"] for path, method, op in operations} == {
        ("get", "/v1/chains"): "read",
        ("get", "/v1/transfers"): "read",
        ("get", "/v1/transfers/{id}"): "read",
        ("get", "/v1/events"): "read",
        ("post", "/v1/webhooks"): "dapp",
        ("get", "/v1/webhooks"): "dapp",
        ("delete", "/v1/webhooks/{id}"): "dapp",
        ("get", "/v1/operator/dead-letters"): "operator",
        ("post", "/v1/operator/dead-letters/{webhook_id}/{event_id}/replay"): "operator",
        ("get", "/v1/chains/{chain_id}/status"): "read",
        ("get", "/v1/chains/{chain_id}/fees"): "read",
        ("post", "/v1/transfers/quote"): "dapp",
        ("post", "/v1/transfers/build"): "dapp",
        ("post", "/v1/chains/{chain_id}/transactions"): "dapp",
        ("post", "/v1/transfers/track"): "dapp",
        ("get", "/v1/transfers/{id}/manual-execution"): "read",
        ("get", "/v1/operator/keys"): "operator",
        ("post", "/v1/operator/keys"): "operator",
        ("delete", "/v1/operator/keys/{key_id}"): "operator",
        ("get", "/v1/operator/routes"): "operator",
        ("post", "/v1/operator/routes/{chain_id}/{remote_chain_id}/pause"): "operator",
        ("post", "/v1/operator/routes/{chain_id}/{remote_chain_id}/resume"): "operator",
        ("post", "/v1/operator/routes/{chain_id}/{remote_chain_id}/limits"): "operator",
        ("post", "/v1/operator/routes/{chain_id}/{remote_chain_id}/held/{message_id}/cancel"): (
            "operator"
        ),
        ("get", "/v1/operator/services"): "operator",
        ("post", "/v1/swaps"): "dapp",
        ("get", "/v1/swaps/{id}"): "read",
        ("post", "/v1/swaps/{id}/locks"): "dapp",
        ("post", "/v1/swaps/{id}/authorizations"): "dapp",
        ("post", "/v1/credit/attestations"): "issuer",
        ("get", "/v1/credit/{subject}"): "read",
        ("get", "/v1/credit/{subject}/report"): "read",
        ("post", "/v1/credit/{subject}/publication"): "issuer",
        ("post", "/v1/credit/{subject}/revocation"): "issuer",
        ("get", "/v1/receivables/{chain_id}/{token_id}"): "read",
        ("post", "/v1/receivables/{chain_id}/{token_id}/disclosures/verify"): "read",
    }
    for path, method, op in operations:
        problems = {
            status
            for status, response in op["responses"].items()
            if "application/problem+json" in response.get("content", {})
        }
        assert {"400", "401", "403", "413", "429", "500", "503"} <= problems, (method, path)
        assert op["security"] == [{"apiKey": [op["x-xgate-scope"]]}]
        assert any(status.startswith("2") for status in op["responses"]), (method, path)
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if method == "post":
            assert "Idempotency-Key" in headers and {"409", "422"} <= problems, path
        signed = op["x-xgate-scope"] in ("issuer", "operator") and method != "get"
        assert op.get("x-xgate-signed", False) == signed, path
        assert ("X-Xgate-Signature" in headers) == signed, path
    by_id = api.document["paths"]["/v1/transfers/{id}"]["get"]
    assert "404" in by_id["responses"] and "409" in by_id["responses"]
    [param] = by_id["parameters"]
    assert (param["name"], param["in"], param["required"]) == ("id", "path", True)
    query = api.document["paths"]["/v1/transfers"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in query] == [
        (name, "query", False)
        for name in ("src_chain_id", "dst_chain_id", "status", "src_tx_hash", "cursor", "limit")
    ]


async def test_docs_is_a_self_contained_page(api: ApiClient) -> None:
    answer = await api.get("/docs")
    assert (answer.status, answer.content_type) == (200, "text/html")
    page = answer.body
    for path in api.document["paths"]:
        assert path.replace("{", "&#x7b;") in page or path in page
    for name in api.document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?:""", page)  # nothing from elsewhere


def test_one_operation_is_declared_once() -> None:
    async def twice(call: Call[NoParams, NoParams, NoBody]) -> TransferPage:
        raise NotImplementedError

    api = Api("t", "1")
    kwargs = dict(
        summary="s",
        scope=Scope.READ,
        path_params=NoParams,
        query=NoParams,
        body=NoBody,
        response=TransferPage,
    )
    api.add("GET", "/x", twice, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="declared twice"):
        api.add("GET", "/x", twice, **kwargs)  # type: ignore[arg-type]
