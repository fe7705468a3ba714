"""The API's operations, each declared once: method, path, summary, scope, request models
(path parameters, query, body) and response model. From that one declaration ``Api``

- installs the aiohttp route, whose handler parses and validates the request into the models
  (every bad field of every location in one 400 problem) and serialises the response model;
- generates the OpenAPI 3.1 document (``/openapi.json``), the schemas coming from the models
  (``model_json_schema``) and every operation documenting its problem answers, and a
  self-contained HTML page of it (``/docs``, rendered here, no script).

A handler takes one ``Call`` (the request and its parsed parts) and returns its response model;
errors are ``Problem``s (``problems.py``). A streaming operation (``Api.add_stream``) answers
``text/event-stream`` instead: its handler returns an async iterator of ``ServerSentEvent``s
(problems raised before it returns are answered as usual), each event's ``data`` an instance of
the declared model, which the document names (``x-xgate-event-data``). The registry writes the
frames and ends every stream when the application shuts down, so open streams never hold the
shutdown. The ``scope`` is what an API key needs to call the
operation (docs/api.md §2): the auth layer reads it from ``OPERATION_KEY`` on the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

from aiohttp import web
from pydantic import BaseModel, ValidationError

from adapters.errors import XgateError
from gateway.api.models import NoBody, ProblemDetails
from gateway.api.problems import (
    PROBLEM_CONTENT_TYPE,
    REQUEST_ID_KEY,
    FieldError,
    Location,
    Problem,
    field_errors,
    invalid_request,
)
from gateway.domain.apikeys import Scope

__all__ = [
    "EVENT_STREAM",
    "OPERATION_KEY",
    "VALIDATION_CONTEXT_KEY",
    "Api",
    "Call",
    "Operation",
    "Scope",
    "ServerSentEvent",
]

log = logging.getLogger(__name__)

REF_TEMPLATE = "#/components/schemas/{model}"
MediaType = Literal["application/json", "text/event-stream"]
JSON: MediaType = "application/json"
EVENT_STREAM: MediaType = "text/event-stream"


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


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One frame of a ``text/event-stream`` answer: an event (``id``, ``event``, ``data`` as
    one line of JSON), a ``retry`` hint for reconnecting clients, or a ``comment`` alone (a
    keep-alive, which clients ignore)."""

    data: BaseModel | None = None
    id: int | None = None
    event: str | None = None
    retry_ms: int | None = None
    comment: str | None = None

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines += [f": {line}" for line in self.comment.splitlines() or [""]]
        if self.retry_ms is not None:
            lines.append(f"retry: {self.retry_ms}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.event is not None:
            if "\n" in self.event or "\r" in self.event:
                raise ValueError("an event name is one line")
            lines.append(f"event: {self.event}")
        if self.data is not None:
            lines.append(f"data: {self.data.model_dump_json()}")  # JSON: one line
        return ("\n".join(lines) + "\n\n").encode()


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
    410: "gone: what was asked for was pruned",
    415: "the body is not application/json",
    422: "the request cannot be processed as it is",
    429: "rate limited; see Retry-After",
}


@dataclass(frozen=True, slots=True)
class Operation(Generic[P, Q, B, R]):
    """One declared operation (see ``Api.add``)."""

    method: Method
    path: str
    # Answers ``response`` (JSON), or the frames of an event stream (``media_type``).
    handler: (
        Callable[[Call[P, Q, B]], Awaitable[R]]
        | Callable[[Call[P, Q, B]], Awaitable[AsyncIterator[ServerSentEvent]]]
    )
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
    media_type: MediaType = JSON

    @property
    def streams(self) -> bool:
        return self.media_type == EVENT_STREAM

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
# Set when the application shuts down: every open event stream ends.
STREAMS_CLOSING_KEY = web.AppKey("streams_closing", asyncio.Event)


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


_CLIENT_GONE = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


async def _stream(
    op: Operation[Any, Any, Any, Any],
    request: web.Request,
    frames: AsyncIterator[ServerSentEvent],
) -> web.StreamResponse:
    """Write ``frames`` as ``text/event-stream`` until they end, the client goes away or the
    application shuts down. Once the answer has started an error can only end it: a store
    that fails mid-stream is logged and the stream ends (the client reconnects with
    ``Last-Event-ID``)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{EVENT_STREAM}; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # proxies must not buffer the stream
            "X-Content-Type-Options": "nosniff",
            "X-Request-Id": request.get(REQUEST_ID_KEY) or "",
        }
    )
    closing = request.app[STREAMS_CLOSING_KEY]
    closed = asyncio.ensure_future(closing.wait())
    step: asyncio.Future[ServerSentEvent] | None = None
    try:
        await response.prepare(request)
        while not closing.is_set():
            step = asyncio.ensure_future(anext(frames))
            await asyncio.wait({step, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                break  # shutting down: the step is cancelled below
            try:
                frame = step.result()
            except StopAsyncIteration:
                break
            if frame.data is not None and type(frame.data) is not op.response:
                raise TypeError(f"{op.operation_id} streamed {type(frame.data).__name__}")
            await response.write(frame.encode())
        with contextlib.suppress(*_CLIENT_GONE):
            await response.write_eof()
    except _CLIENT_GONE:
        pass  # the client went away
    except XgateError as exc:
        log.warning("%s stream ended: %s", op.operation_id, exc)
    except Exception:
        log.exception("%s stream failed (request %s)", op.operation_id, request.get(REQUEST_ID_KEY))
    finally:
        closed.cancel()
        if step is not None and not step.done():
            step.cancel()
            with contextlib.suppress(BaseException):
                await step
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    return response


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
        return self._declare(
            Operation(
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
        )

    def add_stream(
        self,
        path: str,
        handler: Callable[[Call[P, Q, NoBody]], Awaitable[AsyncIterator[ServerSentEvent]]],
        *,
        summary: str,
        scope: Scope,
        path_params: type[P],
        query: type[Q],
        data: type[R],
        problems: Sequence[int] = (),
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Operation[P, Q, NoBody, R]:
        """Declare a ``GET`` answering ``text/event-stream``: the handler validates and looks
        (raising ``Problem``s as any handler does), then returns the stream's frames; each
        event's ``data`` is a ``data`` model."""
        return self._declare(
            Operation(
                method="GET",
                path=path,
                handler=handler,
                summary=summary,
                scope=scope,
                path_params=path_params,
                query=query,
                body=NoBody,
                response=data,
                status=200,
                problems=tuple(problems),
                description=description or (handler.__doc__ or "").strip(),
                tags=tuple(tags),
                media_type=EVENT_STREAM,
            )
        )

    def _declare(self, op: Operation[P, Q, B, R]) -> Operation[P, Q, B, R]:
        if any(o.method == op.method and o.path == op.path for o in self._operations):
            raise ValueError(f"{op.method} {op.path} is declared twice")
        self._operations.append(op)
        self._document = None
        return op

    # --- serving ----------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Route every operation, ``/openapi.json`` and ``/docs`` on ``app``; end the event
        streams when ``app`` shuts down."""
        closing = asyncio.Event()
        app[STREAMS_CLOSING_KEY] = closing

        async def end_streams(_: web.Application) -> None:
            closing.set()

        app.on_shutdown.append(end_streams)
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
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
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
            call = Call(request, path, query, body)
            if op.streams:
                streamer = cast(
                    Callable[[Call[P, Q, B]], Awaitable[AsyncIterator[ServerSentEvent]]],
                    op.handler,
                )
                return await _stream(op, request, await streamer(call))
            result = await cast(Callable[[Call[P, Q, B]], Awaitable[R]], op.handler)(call)
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
        if op.streams:  # the header of the SSE protocol that resumes a stream
            parameters.append(
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "resume after this event id (sent by reconnecting clients)",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
                }
            )
        if parameters:
            doc["parameters"] = parameters
        if op.takes_body:
            doc["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": self.ref(op.body, "validation")}},
            }
        summary = op.response.__doc__.strip().splitlines()[0] if op.response.__doc__ else "success"
        content: dict[str, Any]
        if op.streams:
            model = op.response.__name__
            summary = f"server-sent events, each event's data a {model}"
            data_ref = self.ref(op.response, "serialization")
            content = {
                EVENT_STREAM: {
                    # One event of the stream, as OpenAPI reads a text/event-stream schema
                    # (3.2's itemSchema; 3.1 tools such as schemathesis read `schema` so): its
                    # fields as strings, `data` a JSON document of the model.
                    "schema": {
                        "type": "object",
                        "description": "one event of the text/event-stream: `id:`, `event:` "
                        f"and `data:` (one line of JSON, a {model}); lines starting with `:` "
                        "are keep-alive comments",
                        "properties": {
                            "id": {"type": "string", "pattern": "^[0-9]+$"},
                            "event": {"type": "string"},
                            "data": {
                                "type": "string",
                                "contentMediaType": JSON,
                                "contentSchema": data_ref,
                            },
                            "retry": {"type": "integer", "minimum": 0},
                        },
                    },
                    "x-xgate-event-data": data_ref,
                }
            }
        else:
            content = {JSON: {"schema": self.ref(op.response, "serialization")}}
        responses: dict[str, Any] = {str(op.status): {"description": summary, "content": content}}
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
                    + (
                        f" (each event's data: {_schema_name(media['x-xgate-event-data'])})"
                        if "x-xgate-event-data" in media
                        else ""
                    )
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
