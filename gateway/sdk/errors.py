"""The SDK's errors, under xgate's one root (``adapters.errors.XgateError``), each with its
facts as attributes:

- ``ApiProblem``: the API answered an RFC 9457 problem (docs/api.md §1): ``status``, ``slug``
  (the last part of ``type``), ``type``, ``title``, ``detail``, ``instance``, ``request_id``,
  ``errors`` (every bad field of a 400) and ``retry_after`` (seconds, when the answer said);
  ``retryable`` when trying again later may succeed (429, 502, 503, 504, 409
  ``idempotency-in-progress``, and any 409 with ``Retry-After``, such as ``swap-busy``: the
  server keeps no such answer for an ``Idempotency-Key``, so the same request runs again). The
  client already retried those it could;
- ``ApiUnavailable``: no answer at all (connection refused or dropped, timeout) after the
  client's attempts; retryable;
- ``ApiResponseInvalid``: an answer that is not what the API declares (a proxy's page, a
  version mismatch); fatal;
- ``WaitTimedOut``: ``wait_for_transfer`` / ``wait_for_swap`` gave up: ``what``, ``timeout_s``,
  ``last_state`` (the last status or state seen, None when the transfer was never found) and
  ``last`` (the last model read, or None); retryable (waiting longer may succeed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.errors import FatalError, RetryableError, XgateError
from gateway.api.models import PROBLEM_TYPE_BASE

__all__ = [
    "RETRYABLE_STATUSES",
    "ApiProblem",
    "ApiResponseInvalid",
    "ApiUnavailable",
    "FieldProblem",
    "WaitTimedOut",
]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses that may succeed when the same request is sent again later."""
_RETRYABLE_SLUGS = frozenset({"idempotency-in-progress"})


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One bad field of a validation problem: ``field`` is ``location.path`` (``query.limit``,
    ``body.url``)."""

    field: str
    message: str


class ApiProblem(XgateError):
    """The API answered a problem (see the module's docstring)."""

    status: int
    slug: str
    type: str
    title: str
    detail: str
    instance: str | None
    request_id: str | None
    errors: tuple[FieldProblem, ...]
    retry_after: float | None

    def __init__(
        self,
        *,
        status: int,
        type: str,
        title: str,
        detail: str,
        slug: str | None = None,
        instance: str | None = None,
        request_id: str | None = None,
        errors: Sequence[FieldProblem] = (),
        retry_after: float | None = None,
    ) -> None:
        if slug is None:
            slug = type.removeprefix(PROBLEM_TYPE_BASE)
        super().__init__(
            f"{status} {slug}: {detail}",
            status=status,
            slug=slug,
            type=type,
            title=title,
            detail=detail,
            instance=instance,
            request_id=request_id,
            errors=tuple(errors),
            retry_after=retry_after,
        )
        self.retryable = (
            status in RETRYABLE_STATUSES
            or slug in _RETRYABLE_SLUGS
            # A conflict that passes (409 swap-busy) says when to come back.
            or (status == 409 and retry_after is not None)
        )

    def __str__(self) -> str:
        text = f"{self.status} {self.slug}: {self.detail}"
        if self.errors:
            text += "; " + "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        if self.request_id is not None:
            text += f" (request id {self.request_id})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The problem as the API sent it (for ``--json`` output)."""
        shown: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.instance is not None:
            shown["instance"] = self.instance
        if self.request_id is not None:
            shown["request_id"] = self.request_id
        if self.errors:
            shown["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return shown


class ApiUnavailable(RetryableError):
    """No answer from the API (``url``, ``attempts``; the cause chained)."""


class ApiResponseInvalid(FatalError):
    """An answer that is not the API's declared one (``status``, ``url``, ``reason``)."""


class WaitTimedOut(RetryableError):
    """A wait gave up (see the module's docstring). ``last`` is an attribute, not part of the
    message or of ``to_dict()``: it is a whole model."""

    what: str
    timeout_s: float
    last_state: str | None

    def __init__(
        self, *, what: str, timeout_s: float, last_state: str | None, last: Any = None
    ) -> None:
        seen = "not recorded yet" if last_state is None else f"last seen {last_state}"
        super().__init__(
            f"gave up waiting for {what} after {timeout_s:g} s: {seen}",
            what=what,
            timeout_s=timeout_s,
            last_state=last_state,
        )
        self.last = last

    def __str__(self) -> str:
        return self.message
