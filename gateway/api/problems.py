"""RFC 9457 problem details (``application/problem+json``), docs/api.md §1.

Handlers raise ``Problem``; ``problem_middleware`` renders it, and turns everything else into
one too: aiohttp's own HTTP errors (no route 404, 405 with its ``Allow``, 413 for a body above
the app's limit), a pydantic ``ValidationError`` (400, one ``errors`` entry per bad field),
``StoreUnavailable`` (503, retry later), a chain's node failing to answer (any
``RetryableError``: 503 ``chain-unavailable``) and anything unexpected (500 whose detail names the
request id; the stack trace goes to the log, never to the client).

Field errors never echo the input: a secret sent in the wrong field cannot come back in an
answer or reach a log through one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from adapters.errors import RetryableError
from gateway.api.models import PROBLEM_TYPE_BASE
from gateway.store import StoreUnavailable

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "REQUEST_ID_KEY",
    "FieldError",
    "Location",
    "Problem",
    "answer_or_problem",
    "field_errors",
    "internal_error",
    "invalid_request",
    "problem_middleware",
]

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Set by the app's outermost middleware on every request; problems carry it.
REQUEST_ID_KEY = web.RequestKey("request_id", str)

Location = Literal["path", "query", "body"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field: ``field`` is ``location.path`` (``query.limit``, ``body.items[0].to``)."""

    field: str
    message: str


class Problem(Exception):
    """An answer that is an error: ``status``, a ``slug`` (``type`` is
    ``https://xgate.dev/problems/<slug>``), a fixed ``title`` per slug, a ``detail`` about this
    occurrence, field ``errors`` for validation problems and extra response ``headers``."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {slug}: {detail}")
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug

    def body(self, instance: str, request_id: str | None) -> dict[str, Any]:
        """The problem document (``gateway.api.models.ProblemDetails``)."""
        doc: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if request_id is not None:
            doc["request_id"] = request_id
        if self.errors:
            doc["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return doc

    def response(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.body(request.rel_url.raw_path, request.get(REQUEST_ID_KEY)),
            status=self.status,
            content_type=PROBLEM_CONTENT_TYPE,
            headers=self.headers,
        )


# --- validation errors -------------------------------------------------------------------------

# Our words for pydantic's error types; custom errors (ours) keep their own message, and
# anything else falls back to pydantic's, which names the expectation, not the input.
_MESSAGES: dict[str, str] = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "json_invalid": "not valid JSON",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "does not have the expected form",
    "enum": "expected one of {expected}",
    "literal_error": "expected {expected}",
}


def _field(location: Location, loc: Iterable[int | str]) -> str:
    out: str = location
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _message(err: ErrorDetails) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    template = _MESSAGES.get(err["type"])
    if template is None:
        return err["msg"]
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return err["msg"]


def field_errors(exc: ValidationError, location: Location) -> list[FieldError]:
    """One ``FieldError`` per problem pydantic found, in its order, input never echoed."""
    return [
        FieldError(_field(location, err["loc"]), _message(err))
        for err in exc.errors(include_url=False, include_input=False, include_context=True)
    ]


def invalid_request(errors: Sequence[FieldError]) -> Problem:
    fields = ", ".join(sorted({e.field for e in errors}))
    return Problem(
        400,
        "invalid-request",
        "Invalid request",
        f"the request has invalid fields: {fields}" if fields else "the request is invalid",
        errors=errors,
    )


def internal_error(request_id: str | None) -> Problem:
    return Problem(
        500,
        "internal-error",
        "Internal error",
        f"the server failed to answer; quote request id {request_id} when reporting it",
    )


# --- aiohttp's own errors ----------------------------------------------------------------------

_HTTP_PROBLEMS: dict[int, tuple[str, str]] = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def _from_http(exc: web.HTTPException, request: web.Request) -> Problem:
    slug, title = _HTTP_PROBLEMS.get(exc.status, ("http-error", exc.reason))
    headers: dict[str, str] = {}
    if exc.status == 404:
        detail = f"no resource at {request.path}"
    elif exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        headers["Allow"] = allowed
        detail = f"{request.method} is not allowed here; allowed: {allowed or 'none'}"
    elif exc.status == 413:
        detail = f"the request body is larger than the limit of {request.client_max_size} bytes"
    else:
        detail = exc.reason
    return Problem(exc.status, slug, title, detail, headers=headers)


# --- the middleware ----------------------------------------------------------------------------


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer of the API is a problem document (see the module's docstring)."""
    return await answer_or_problem(request, handler)


async def answer_or_problem(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``handler``'s answer, or the problem document of what it raised (a redirect and a
    cancellation pass through): what ``problem_middleware`` answers, for an inner middleware
    that needs the final answer (the idempotency layer stores it)."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # a redirect is an answer, not an error
        return _from_http(exc, request).response(request)
    except ValidationError as exc:
        # A model validated outside the API's request parsing (spec.py names locations there).
        return invalid_request(field_errors(exc, "body")).response(request)
    except StoreUnavailable:
        log.warning(
            "store unavailable for %s %s (request %s)",
            request.method,
            request.path,
            request.get(REQUEST_ID_KEY),
            exc_info=True,
        )
        return Problem(
            503,
            "store-unavailable",
            "Service unavailable",
            "the gateway's database is unavailable or busy; retry shortly",
            headers={"Retry-After": "1"},
        ).response(request)
    except RetryableError as exc:
        # A chain's node did not answer (or answered garbage) while serving the request: the
        # caller may retry; the node's URL (which may hold a key) is not named.
        log.warning(
            "chain read failed for %s %s (request %s): %s",
            request.method,
            request.path,
            request.get(REQUEST_ID_KEY),
            type(exc).__name__,
        )
        chain = exc.context.get("chain_id")
        where = f"chain {chain}" if chain is not None else "a chain"
        return Problem(
            503,
            "chain-unavailable",
            "Chain unavailable",
            f"{where} did not answer in time ({type(exc).__name__}); retry shortly",
            headers={"Retry-After": "5"},
        ).response(request)
    except asyncio.CancelledError:
        raise
    except Exception:
        request_id = request.get(REQUEST_ID_KEY)
        log.exception(
            "unhandled error in %s %s (request %s)", request.method, request.path, request_id
        )
        return internal_error(request_id).response(request)
