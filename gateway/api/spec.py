"""The API's operations, each declared once: method, path, summary, scope, request models
(path parameters, query, body) and response model. From that one declaration ``Api``

- installs the aiohttp route, whose handler parses and validates the request into the models
  (every bad field of every location in one 400 problem) and serialises the response model;
- generates the OpenAPI 3.1 document (``/openapi.json``), the schemas coming from the models
  (``model_json_schema``) and every operation documenting its problem answers, and a
  self-contained HTML page of it (``/docs``, rendered here, no script).

A handler takes one ``Call`` (the request and its parsed parts) and returns its response model;
errors are ``Problem``s (``problems.py``). The ``scope`` is what an API key needs to call the
operation (docs/api.md §2): the auth layer reads it from ``OPERATION_KEY`` on the request.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api.models import NoBody, ProblemDetails
from gateway.api.problems import (
    PROBLEM_CONTENT_TYPE,
    FieldError,
    Location,
    Problem,
    field_errors,
    invalid_request,
)
from gateway.domain.apikeys import Scope

__all__ = [
    "OPERATION_KEY",
    "VALIDATION_CONTEXT_KEY",
    "Api",
    "Call",
    "Operation",
    "Scope",
]

REF_TEMPLATE = "#/components/schemas/{model}"
JSON = "application/json"


P = TypeVar("P", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)
B = TypeVar("B", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True, slots=True)
class Call(Generic[P, Q, B]):
    """One validated request: its path parameters, query and body as the declared models."""

    request: web.Request
    path: P
    query: Q
    body: B


# The problems every operation may answer, with what they mean.
_COMMON_PROBLEMS: dict[int, str] = {
    400: "invalid request: every bad field is listed in `errors`",
    413: "request body above the size limit",
    500: "internal error; the detail carries the request id",
    503: "the gateway's database is unavailable or busy; retry",
}
_PROBLEM_TEXT: dict[int, str] = {
    401: "missing or bad credentials",
    403: "the API key lacks the scope",
    404: "not found",
    409: "conflict with the current state",
    415: "the body is not application/json",
    422: "the request cannot be processed as it is",
    429: "rate limited; see Retry-After",
}


@dataclass(frozen=True, slots=True)
class Operation(Generic[P, Q, B, R]):
    """One declared operation (see ``Api.add``)."""

    method: Method
    path: str
    handler: Callable[[Call[P, Q, B]], Awaitable[R]]
    summary: str
    scope: Scope
    path_params: type[P]
    query: type[Q]
    body: type[B]
    response: type[R]
    status: int
    problems: tuple[int, ...]
    description: str
    tags: tuple[str, ...]

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def takes_body(self) -> bool:
        return self.body is not NoBody

    def problem_statuses(self) -> dict[int, str]:
        statuses = dict(_COMMON_PROBLEMS)
        if self.takes_body:
            statuses[415] = _PROBLEM_TEXT[415]
        for status in self.problems:
            statuses[status] = _PROBLEM_TEXT.get(status, "problem")
        return dict(sorted(statuses.items()))


# Set on each request the registry handles: its operation (scope, route template).
OPERATION_KEY = web.RequestKey("operation", Operation)
# The validation context of request models (configured chain ids ...), set by the app.
VALIDATION_CONTEXT_KEY = web.AppKey("validation_context", Mapping)


def _validate(
    model: type[P],
    data: dict[str, str],
    location: Location,
    context: Mapping[str, Any],
    errors: list[FieldError],
) -> P | None:
    """Path and query parameters: text, parsed as each field's type says (pydantic's strings
    mode, which the wire types of ``models`` follow)."""
    try:
        return model.model_validate_strings(data, context=context)
    except ValidationError as exc:
        errors.extend(field_errors(exc, location))
        return None


def _query(request: web.Request, errors: list[FieldError]) -> tuple[dict[str, str], set[str]]:
    """The query string as one value per name, and the names given more than once (each a
    field error; validation's errors about them are redundant)."""
    out: dict[str, str] = {}
    repeated: set[str] = set()
    for name in dict.fromkeys(request.query.keys()):
        values = request.query.getall(name)
        out[name] = values[0]
        if len(values) > 1:
            repeated.add(f"query.{name}")
            errors.append(FieldError(f"query.{name}", "given more than once"))
    return out, repeated


class Api:
    """A registry of operations: ``add`` them, then ``install`` on an application."""

    def __init__(self, title: str, version: str, description: str = "") -> None:
        self.title = title
        self.version = version
        self.description = description
        self._operations: list[Operation[Any, Any, Any, Any]] = []
        self._document: dict[str, Any] | None = None

    @property
    def operations(self) -> Sequence[Operation[Any, Any, Any, Any]]:
        return tuple(self._operations)

    def add(
        self,
        method: Method,
        path: str,
        handler: Callable[[Call[P, Q, B]], Awaitable[R]],
        *,
        summary: str,
        scope: Scope,
        path_params: type[P],
        query: type[Q],
        body: type[B],
        response: type[R],
        status: int = 200,
        problems: Sequence[int] = (),
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Operation[P, Q, B, R]:
        """Declare an operation. ``path_params`` / ``query`` are ``NoParams`` and ``body`` is
        ``NoBody`` when it takes none; ``problems`` are the statuses it may answer beyond the
        common ones (400, 413, 500, 503)."""
        if any(op.method == method and op.path == path for op in self._operations):
            raise ValueError(f"{method} {path} is declared twice")
        op = Operation(
            method=method,
            path=path,
            handler=handler,
            summary=summary,
            scope=scope,
            path_params=path_params,
            query=query,
            body=body,
            response=response,
            status=status,
            problems=tuple(problems),
            description=description or (handler.__doc__ or "").strip(),
            tags=tuple(tags),
        )
        self._operations.append(op)
        self._document = None
        return op

    # --- serving ----------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Route every operation, ``/openapi.json`` and ``/docs`` on ``app``."""
        for op in self._operations:
            app.router.add_route(op.method, op.path, self._endpoint(op), name=op.operation_id)

        async def openapi(_: web.Request) -> web.Response:
            return web.json_response(self.openapi())

        async def docs(_: web.Request) -> web.Response:
            return web.Response(text=render_docs(self.openapi()), content_type="text/html")

        app.router.add_get("/openapi.json", openapi, allow_head=False)
        app.router.add_get("/docs", docs, allow_head=False)

    def _endpoint(
        self, op: Operation[P, Q, B, R]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def endpoint(request: web.Request) -> web.Response:
            request[OPERATION_KEY] = op
            context = request.app.get(VALIDATION_CONTEXT_KEY) or {}
            errors: list[FieldError] = []
            path = _validate(op.path_params, dict(request.match_info), "path", context, errors)
            raw_query, repeated = _query(request, errors)
            query_errors: list[FieldError] = []
            query = _validate(op.query, raw_query, "query", context, query_errors)
            errors += [e for e in query_errors if e.field not in repeated]
            body = await self._body(op, request, context, errors)
            if errors or path is None or query is None or body is None:
                raise invalid_request(errors)
            result = await op.handler(Call(request, path, query, body))
            if type(result) is not op.response:
                raise TypeError(f"{op.operation_id} returned {type(result).__name__}")
            return web.Response(
                body=result.model_dump_json().encode(), status=op.status, content_type=JSON
            )

        return endpoint

    async def _body(
        self,
        op: Operation[P, Q, B, R],
        request: web.Request,
        context: Mapping[str, Any],
        errors: list[FieldError],
    ) -> B | None:
        # Read whole in any case: a body above the app's limit is a 413 here.
        raw = await request.read()
        if not op.takes_body:
            if raw:
                errors.append(FieldError("body", "this operation takes no body"))
                return None
            return op.body()
        if request.content_type != JSON:
            raise Problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"send the body as {JSON}",
            )
        try:
            return op.body.model_validate_json(raw, context=context)
        except ValidationError as exc:
            errors.extend(field_errors(exc, "body"))
            return None

    # --- the document -----------------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the declared operations (built once)."""
        if self._document is None:
            self._document = _OpenApiBuilder(self).build()
        return self._document


@dataclass
class _OpenApiBuilder:
    api: Api
    schemas: dict[str, Any] = field(default_factory=dict)

    def build(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        problem_ref = self.ref(ProblemDetails, "serialization")
        for op in self.api.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = self.operation(op, problem_ref)
        info: dict[str, Any] = {"title": self.api.title, "version": self.api.version}
        if self.api.description:
            info["description"] = self.api.description
        return {
            "openapi": "3.1.0",
            "info": info,
            "paths": paths,
            "components": {"schemas": dict(sorted(self.schemas.items()))},
        }

    def operation(self, op: Operation[Any, Any, Any, Any], problem_ref: dict[str, str]) -> Any:
        doc: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "x-xgate-scope": op.scope.value,
        }
        if op.description:
            doc["description"] = op.description
        if op.tags:
            doc["tags"] = list(op.tags)
        parameters = self.parameters(op.path_params, "path") + self.parameters(op.query, "query")
        if parameters:
            doc["parameters"] = parameters
        if op.takes_body:
            doc["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": self.ref(op.body, "validation")}},
            }
        responses: dict[str, Any] = {
            str(op.status): {
                "description": op.response.__doc__.strip().splitlines()[0]
                if op.response.__doc__
                else "success",
                "content": {JSON: {"schema": self.ref(op.response, "serialization")}},
            }
        }
        for status, text in op.problem_statuses().items():
            responses[str(status)] = {
                "description": text,
                "content": {PROBLEM_CONTENT_TYPE: {"schema": problem_ref}},
            }
        doc["responses"] = responses
        return doc

    def parameters(self, model: type[BaseModel], where: Literal["path", "query"]) -> list[Any]:
        schema = self.schema_of(model, "validation")
        required = set(schema.get("required", ()))
        out = []
        for name, prop in schema.get("properties", {}).items():
            prop = _without_null(prop)
            param: dict[str, Any] = {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                "schema": prop,
            }
            if "description" in prop:
                param["description"] = prop["description"]
            out.append(param)
        return out

    def ref(
        self, model: type[BaseModel], mode: Literal["validation", "serialization"]
    ) -> dict[str, str]:
        self.add(model.__name__, self.schema_of(model, mode))
        return {"$ref": REF_TEMPLATE.format(model=model.__name__)}

    def schema_of(
        self, model: type[BaseModel], mode: Literal["validation", "serialization"]
    ) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)
        for name, sub in schema.pop("$defs", {}).items():
            self.add(name, sub)
        return schema

    def add(self, name: str, schema: dict[str, Any]) -> None:
        known = self.schemas.setdefault(name, schema)
        if known != schema:
            raise ValueError(
                f"two schemas named {name} (a model used for requests and responses whose "
                "forms differ?): give them different models"
            )


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without its ``null``: a query never sends null, an
    absent parameter is how it says none."""
    options = schema.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options:
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) != 1:
        return schema
    outer = {k: v for k, v in schema.items() if k != "anyOf" and (k, v) != ("default", None)}
    return {**rest[0], **outer}


# --- /docs -------------------------------------------------------------------------------------

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:0}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;padding:.6rem;
overflow:auto}section.op{border-top:1px solid #ddd;padding:.4rem 0}.m{display:inline-block;
min-width:4rem;font-weight:700}.scope{float:right;color:#666}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _schema_name(schema: Mapping[str, Any]) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    return f"<code>{_e(json.dumps(schema))}</code>"


def render_docs(doc: Mapping[str, Any]) -> str:
    """A self-contained HTML page of an OpenAPI document: operations, then schemas."""
    info = doc["info"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(info['title'])} {_e(info['version'])}</title><style>{_STYLE}</style>",
        f"</head><body><h1>{_e(info['title'])}</h1><p>version {_e(info['version'])} · "
        '<a href="/openapi.json">openapi.json</a></p>',
    ]
    if "description" in info:
        parts.append(f"<p>{_e(info['description'])}</p>")
    parts.append("<h2>Operations</h2>")
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(
                f'<section class=op id="op-{_e(op["operationId"])}">'
                f"<span class=scope>scope: {_e(op.get('x-xgate-scope', ''))}</span>"
                f"<h3><span class=m>{_e(method.upper())}</span><code>{_e(path)}</code></h3>"
                f"<p>{_e(op['summary'])}</p>"
            )
            if "description" in op:
                parts.append(f"<p>{_e(op['description'])}</p>")
            if op.get("parameters"):
                parts.append("<table><tr><th>parameter</th><th>in</th><th>required</th>")
                parts.append("<th>description</th></tr>")
                for p in op["parameters"]:
                    parts.append(
                        f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
                        f"<td>{'yes' if p['required'] else 'no'}</td>"
                        f"<td>{_e(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            if "requestBody" in op:
                for ctype, media in op["requestBody"]["content"].items():
                    parts.append(f"<p>body ({_e(ctype)}): {_schema_name(media['schema'])}</p>")
            parts.append("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>")
            for status, response in op["responses"].items():
                bodies = ", ".join(
                    f"{_e(ctype)}: {_schema_name(media['schema'])}"
                    for ctype, media in response.get("content", {}).items()
                )
                parts.append(
                    f"<tr><td>{_e(status)}</td><td>{_e(response['description'])}</td>"
                    f"<td>{bodies}</td></tr>"
                )
            parts.append("</table></section>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        parts.append(
            f'<section id="schema-{_e(name)}"><h3>{_e(name)}</h3>'
            f"<pre>{_e(json.dumps(schema, indent=2))}</pre></section>"
        )
    parts.append("</body></html>")
    return "".join(parts)
