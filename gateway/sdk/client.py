"""``XgateClient``: the async Python client of the gateway API (docs/api.md), on aiohttp.

Every operation is a typed method answering the API's own pydantic models
(``gateway.api.models``: one definition of the wire format for the server and its clients):

- reads: ``chains``, ``transfer`` (by message id or tracking id), ``transfers`` (one page) and
  ``iter_transfers`` (every page, following ``next_cursor``), ``transfers_of_tx``;
- ``events``: the server-sent event stream as an async iterator of ``EventItem``s that
  reconnects after a dropped connection or a restarted server, resuming with
  ``Last-Event-ID`` (delivery is at least once: it may repeat an event, never skip one);
- ``wait_for_transfer`` / ``wait_for_swap``: the transfer or swap once it reaches a state,
  followed on the event stream (``waiting.py``);
- webhooks (``create_webhook``, ``webhooks``, ``delete_webhook``) and an operator's dead
  letters (``dead_letters``, ``replay_dead_letter``);
- receivables: ``receivable``, ``verify_disclosure``, and a holder's ``disclose`` /
  ``seal_disclosure`` and a recipient's ``open_sealed_disclosure``, which check a disclosure of
  private terms on the client (``disclosures.py``): the salt never reaches the gateway;
- ``request``: any operation by method and path, for those without a method yet.

Requests carry the API key (``Authorization: Bearer``). With ``signing_key`` (an issuer's or
operator's Ed25519 key) every state-changing request is signed exactly as
``gateway.api.signing`` defines (a fresh nonce and timestamp per attempt). Every POST carries
an ``Idempotency-Key`` (a uuid4 unless given), the same on each of the client's retries, so a
retried POST runs once. Answers 429, 502, 503, 504 (and 409 ``idempotency-in-progress`` or
any 409 with ``Retry-After``, e.g. ``swap-busy``) and connection failures are retried (``Retries``: bounded attempts, exponential backoff, never
sooner than the answer's ``Retry-After``); a GET, a DELETE or a POST (which has its key) is
safe to send again. Problems raise ``ApiProblem`` (``errors.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Final, TypeVar, overload
from urllib.parse import quote

import aiohttp
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from pydantic import BaseModel, ValidationError
from yarl import URL

from adapters.retry import RetryPolicy
from adapters.types import ChainId, TxHash
from gateway.api.credit_models import (
    AttestationIssued,
    AttestationRequest,
    CreditTransactions,
    CreditView,
    PublicationRequest,
    RevocationRequest,
    SealedReportAnswer,
)
from gateway.api.models import (
    ChainList,
    Delivery,
    DeliveryList,
    EventItem,
    MessageEventData,
    ProblemDetails,
    SwapEventData,
    Transfer,
    TransferPage,
    TransferSummary,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
)
from gateway.api.operator_models import (
    GovernanceTxs,
    OperatorKey,
    OperatorKeyCreate,
    OperatorKeyCreated,
    OperatorKeyList,
    OperatorRouteList,
    RouteLimitRequest,
    RoutePauseRequest,
    ServicesReport,
    TimelockedRequest,
)
from gateway.api.receivable_models import (
    DisclosureVerdict,
    DisclosureVerifyRequest,
    ReceivableView,
)
from gateway.api.signing import signature_headers
from gateway.api.swap_models import SwapAuthorize, SwapLocks, SwapPropose, SwapView
from gateway.api.transfer_models import (
    ChainFees,
    ChainStatus,
    ManualExecution,
    RawTransactionBody,
    SubmittedTransaction,
    TrackedTransaction,
    TrackRequest,
    TransferBuild,
    TransferQuote,
    TransferTerms,
)
from gateway.domain.credit_reports import open_report
from gateway.domain.disclosure import Disclosure, open_disclosure, seal_disclosure
from gateway.domain.events import EventKind
from gateway.domain.status import DONE_STATUSES, MessageStatus, SwapState
from gateway.domain.swaps import TERMINAL_STATES
from gateway.sdk.disclosures import (
    DisclosureRefused,
    OpenedDisclosure,
    check_against_copy,
    disclosure_of,
    public_chain_of,
)
from gateway.sdk.errors import (
    ApiProblem,
    ApiResponseInvalid,
    ApiUnavailable,
    FieldProblem,
)
from gateway.sdk.sse import SseDecoder, SseFrame
from gateway.sdk.waiting import OnChange, Waited, wait_until

__all__ = [
    "IDEMPOTENCY_HEADER",
    "LAST_EVENT_ID_HEADER",
    "SWAP_TERMINAL_STATES",
    "TRANSFER_TERMINAL_STATUSES",
    "Retries",
    "XgateClient",
]

M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
LAST_EVENT_ID_HEADER: Final = "Last-Event-ID"
_SIGNED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAFE_TO_RESEND = frozenset({"GET", "HEAD", "PUT", "DELETE"})  # and a POST with its key
_PROBLEM = "application/problem+json"
_USER_AGENT = "xgate-sdk/1"
_DEFAULT_BACKOFF = RetryPolicy(initial_delay=0.5, multiplier=2.0, max_delay=8.0, max_attempts=4)

TRANSFER_TERMINAL_STATUSES: Final[frozenset[MessageStatus]] = DONE_STATUSES | {MessageStatus.PARKED}
"""Where ``wait_for_transfer`` stops by default: delivered, already delivered, or parked (only
an operator's retry moves a parked transfer on)."""
SWAP_TERMINAL_STATES: Final[frozenset[SwapState]] = TERMINAL_STATES
"""Where ``wait_for_swap`` stops by default: completed, refunded, expired."""


@dataclass(frozen=True, slots=True)
class Retries:
    """How the client retries (see the module's docstring). ``backoff``: attempts in total
    (``max_attempts``) and the sleep before retry k (``backoff.delay(k)``), raised to the
    answer's ``Retry-After`` when that is longer; a ``Retry-After`` above
    ``max_retry_after_s`` is not waited for (the problem is raised at once).
    ``stream_reconnects``: consecutive failed connections of an event stream before it gives
    up (None: never gives up)."""

    backoff: RetryPolicy = field(default_factory=lambda: _DEFAULT_BACKOFF)
    max_retry_after_s: float = 60.0
    stream_reconnects: int | None = 10

    @property
    def max_attempts(self) -> int:
        return self.backoff.max_attempts

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based)."""
        backoff = self.backoff.delay(retry)
        return backoff if retry_after is None else max(backoff, retry_after)


NO_RETRIES = Retries(backoff=RetryPolicy(max_attempts=1), stream_reconnects=0)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` value in seconds (delta seconds or an HTTP date), None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _segment(value: object) -> str:
    return quote(str(value), safe="")


def _hex(value: str | bytes) -> str:
    return _segment("0x" + value.hex() if isinstance(value, bytes) else value)


def _kinds(kinds: Iterable[EventKind | str]) -> list[EventKind]:
    return [EventKind(k) for k in kinds]


class XgateClient:
    """The async client (see the module's docstring). Use it as an async context manager, or
    call ``close()``; a ``session`` given is the caller's to close.

    ``base_url``: the API's root (``http://127.0.0.1:8080``); ``token``: an API key
    (``xg_<id>_<secret>``), never shown by ``repr``; ``signing_key``: the key's Ed25519 key,
    for a key of a signing scope; ``timeout_s``: each request's total time (an event stream
    is bounded by ``stream_idle_s`` between two reads instead: the server writes a keep-alive
    every 15 s); ``clock``: Unix seconds for signature timestamps; ``sleep``: how the client
    waits between retries (tests give their own)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        signing_key: SigningKey | None = None,
        retries: Retries | None = None,
        timeout_s: float = 30.0,
        stream_idle_s: float = 45.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        base = URL(base_url)
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError(f"the API's URL must be http(s)://HOST[:PORT], not {base_url!r}")
        self._base = base.with_query(None).with_fragment(None)
        self._token = token
        self._signing_key = signing_key
        self.retries = retries if retries is not None else Retries()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_read=stream_idle_s)
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        signed = ", signed" if self._signing_key is not None else ""
        return f"XgateClient({str(self._base)!r}{signed})"

    @property
    def base_url(self) -> str:
        return str(self._base)

    async def __aenter__(self) -> XgateClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's own session (not one given to it)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._owns_session = True
            self._session = aiohttp.ClientSession(headers={"User-Agent": _USER_AGENT})
        return self._session

    # --- chains and transfers ------------------------------------------------------------------

    async def chains(self) -> ChainList:
        """The gateway's configured chains (``GET /v1/chains``)."""
        return await self.request("GET", "/v1/chains", response=ChainList)

    async def transfer(self, ref: str | bytes) -> Transfer:
        """One transfer with its status history, by message id (``0x`` hex or 32 bytes) or by
        the tracking id the API handed out (``GET /v1/transfers/{id}``)."""
        text = "0x" + ref.hex() if isinstance(ref, bytes) else ref
        return await self.request("GET", f"/v1/transfers/{_segment(text)}", response=Transfer)

    async def transfers(
        self,
        *,
        src_chain_id: int | None = None,
        dst_chain_id: int | None = None,
        status: Iterable[MessageStatus | str] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> TransferPage:
        """One page of transfers, newest first (``GET /v1/transfers``); pass the page's
        ``next_cursor`` back as ``cursor`` for the next one (``iter_transfers`` does)."""
        params: dict[str, str] = {}
        if src_chain_id is not None:
            params["src_chain_id"] = str(src_chain_id)
        if dst_chain_id is not None:
            params["dst_chain_id"] = str(dst_chain_id)
        if status is not None:
            params["status"] = ",".join(MessageStatus(s).value for s in status)
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = str(limit)
        return await self.request("GET", "/v1/transfers", params=params, response=TransferPage)

    async def iter_transfers(
        self,
        *,
        src_chain_id: int | None = None,
        dst_chain_id: int | None = None,
        status: Iterable[MessageStatus | str] | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[TransferSummary, None]:
        """Every transfer matching the filters, newest first, a page at a time."""
        statuses = None if status is None else [MessageStatus(s) for s in status]
        cursor: str | None = None
        while True:
            page = await self.transfers(
                src_chain_id=src_chain_id,
                dst_chain_id=dst_chain_id,
                status=statuses,
                cursor=cursor,
                limit=page_size,
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = _cursor_text(page)

    async def transfers_of_tx(self, src_chain_id: int, src_tx_hash: str | bytes) -> TransferPage:
        """The transfers one source transaction sent, in log order (empty until the relay
        service recorded them)."""
        tx = "0x" + src_tx_hash.hex() if isinstance(src_tx_hash, bytes) else src_tx_hash
        params = {"src_chain_id": str(src_chain_id), "src_tx_hash": tx}
        return await self.request("GET", "/v1/transfers", params=params, response=TransferPage)

    # --- events --------------------------------------------------------------------------------

    def events(
        self,
        after: int | None = None,
        kinds: Iterable[EventKind | str] | None = None,
        *,
        reconnect: bool = True,
    ) -> AsyncGenerator[EventItem, None]:
        """The event log as it grows (``GET /v1/events``): after event ``after`` (0: from the
        first), or from now on when None; only ``kinds`` when given. A dropped connection or a
        stream the server ended (a restart) is reopened with ``Last-Event-ID`` (the last event
        seen, or where the stream said it started), after the server's ``retry`` hint or the
        backoff; ``Retries.stream_reconnects`` consecutive failures end it with
        ``ApiUnavailable``. ``reconnect=False``: end when the connection does. Problems (a bad
        ``after``, a key without the scope) raise ``ApiProblem`` at once."""
        return self._follow_events(after, kinds, reconnect=reconnect)

    async def _follow_events(
        self,
        after: int | None,
        kinds: Iterable[EventKind | str] | None,
        *,
        reconnect: bool = True,
        connected: Callable[[], None] | None = None,
    ) -> AsyncGenerator[EventItem, None]:
        """``events``; ``connected()`` is called each time a stream's answer arrives (the
        server fixed where it starts before answering)."""
        params: dict[str, str] = {}
        if kinds is not None:
            params["kinds"] = ",".join(k.value for k in _kinds(kinds))
        resume: int | None = after
        first = True
        failures = 0
        hint_ms: int | None = None
        while True:
            headers: dict[str, str] = {}
            query = dict(params)
            if first and after is not None:
                query["after"] = str(after)
            elif not first and resume is not None:
                headers[LAST_EVENT_ID_HEADER] = str(resume)
            first = False
            failure: BaseException | None = None
            try:
                async with self._stream("/v1/events", query, headers) as response:
                    failures = 0
                    if connected is not None:
                        connected()
                    decoder = SseDecoder()
                    async for raw in response.content:
                        frame = decoder.feed(raw.decode("utf-8", "replace"))
                        if frame is None:
                            continue
                        hint_ms = frame.retry_ms if frame.retry_ms is not None else hint_ms
                        if resume is None:
                            resume = _start_of(frame)
                        item = _event_of(frame, str(response.url))
                        if item is not None:
                            resume = item.id
                            yield item
            except ApiUnavailable as exc:
                failure = exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = exc
            if not reconnect:
                if failure is not None:
                    raise ApiUnavailable(
                        "the event stream was cut", url=str(self._base)
                    ) from failure
                return
            if failure is not None:
                failures += 1
                limit = self.retries.stream_reconnects
                if limit is not None and failures > limit:
                    raise ApiUnavailable(
                        "the event stream cannot be reopened",
                        url=str(self._base),
                        attempts=failures,
                    ) from failure
                await self._sleep(self.retries.backoff.delay(min(failures, 30)))
            else:
                await self._sleep((hint_ms if hint_ms is not None else 2000) / 1000)

    @asynccontextmanager
    async def _stream(
        self, path: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        url = self._url(path, params)
        response = await self._send(
            "GET",
            url,
            b"",
            {**headers, "Accept": "text/event-stream"},
            timeout=self._stream_timeout,
        )
        try:
            if response.content_type != "text/event-stream":
                raise ApiResponseInvalid(
                    "the event stream is not text/event-stream",
                    status=response.status,
                    url=str(url),
                    reason=response.content_type,
                )
            yield response
        finally:
            response.close()

    # --- waiting for a state ------------------------------------------------------------------

    async def wait_for_transfer(
        self,
        ref: str | bytes,
        *,
        until: Iterable[MessageStatus | str] | None = None,
        timeout_s: float = 600.0,
        on_change: OnChange[Transfer] | None = None,
        poll_interval_s: float = 1.0,
    ) -> Transfer:
        """The transfer (message id or tracking id) once its status is one of ``until``
        (default ``TRANSFER_TERMINAL_STATUSES``: delivered, already delivered, or parked, which
        only an operator's retry moves on), read from the API after the event that said so
        (``waiting.py``: the state is read, then followed on the event stream without missing
        a change in between; polled only when the server has no stream). A transfer not
        recorded yet (404 ``transfer-not-found``, e.g. a fresh tracking id) is waited for.
        ``on_change(transfer)``: the first answer and each later one that differs (a new step
        in ``history``; a coroutine function is awaited). After ``timeout_s``: ``WaitTimedOut``
        with the last status seen."""
        text = "0x" + ref.hex() if isinstance(ref, bytes) else ref
        wanted = (
            TRANSFER_TERMINAL_STATUSES
            if until is None
            else frozenset(MessageStatus(s) for s in until)
        )

        async def read() -> Transfer | None:
            try:
                return await self.transfer(text)
            except ApiProblem as problem:
                if problem.slug == "transfer-not-found":
                    return None
                raise

        def event_state(item: EventItem, known: Transfer | None) -> str | None:
            data = item.data
            if not isinstance(data, MessageEventData):
                return None
            if known is not None:
                ours = bytes(item.ref) == bytes(known.id)
            else:
                ours = text.lower() == "0x" + bytes(item.ref).hex() or data.tracking_id == text
            return data.status.value if ours else None

        waited = Waited(
            what=f"transfer {text}",
            read=read,
            state_of=lambda t: t.status.value,
            event_state=event_state,
            follow=lambda connected: self._follow_events(
                None, [EventKind.MESSAGE], connected=connected
            ),
        )
        return await wait_until(
            waited,
            {s.value for s in wanted},
            timeout_s=timeout_s,
            on_change=on_change,
            poll_interval_s=poll_interval_s,
        )

    async def wait_for_swap(
        self,
        swap_id: str | bytes,
        *,
        until: Iterable[SwapState | str] | None = None,
        timeout_s: float = 600.0,
        on_change: OnChange[SwapView] | None = None,
        poll_interval_s: float = 1.0,
    ) -> SwapView:
        """The swap once its state is one of ``until`` (default ``SWAP_TERMINAL_STATES``:
        completed, refunded, expired), as ``wait_for_transfer`` waits; an unknown swap raises
        its 404 ``swap-not-found`` at once (a swap exists from its proposal on)."""
        segment = _hex(swap_id)
        wanted = SWAP_TERMINAL_STATES if until is None else frozenset(SwapState(s) for s in until)

        async def read() -> SwapView:
            return await self.swap(swap_id)

        def event_state(item: EventItem, known: SwapView | None) -> str | None:
            data = item.data
            if not isinstance(data, SwapEventData):
                return None
            ours = (
                bytes(item.ref) == bytes(known.swap_id)
                if known is not None
                else segment.lower() == "0x" + bytes(item.ref).hex()
            )
            return data.state.value if ours else None

        waited = Waited(
            what=f"swap {segment}",
            read=read,
            state_of=lambda v: v.state.value,
            event_state=event_state,
            follow=lambda connected: self._follow_events(
                None, [EventKind.SWAP], connected=connected
            ),
        )
        return await wait_until(
            waited,
            {s.value for s in wanted},
            timeout_s=timeout_s,
            on_change=on_change,
            poll_interval_s=poll_interval_s,
        )

    # --- transfers: the write side and chain status ---------------------------------------------

    async def chain_status(self, chain_id: int) -> ChainStatus:
        """A chain's head and final heights, its counterparts' light-client heights and lag,
        and its paused routes (``GET /v1/chains/{chain_id}/status``; read live from the
        chains)."""
        return await self.request("GET", f"/v1/chains/{int(chain_id)}/status", response=ChainStatus)

    async def chain_fees(self, chain_id: int) -> ChainFees:
        """A chain's fee market now, in wei: head block, base fee (None without one) and the
        suggested EIP-1559 fees, or the gas price (``GET /v1/chains/{chain_id}/fees``)."""
        return await self.request("GET", f"/v1/chains/{int(chain_id)}/fees", response=ChainFees)

    async def quote_transfer(
        self, terms: TransferTerms, *, idempotency_key: str | None = None
    ) -> TransferQuote:
        """Fees and expected latency of a transfer (``POST /v1/transfers/quote``)."""
        return await self.request(
            "POST",
            "/v1/transfers/quote",
            json=terms,
            response=TransferQuote,
            idempotency_key=idempotency_key,
        )

    async def build_transfer(
        self, terms: TransferTerms, *, idempotency_key: str | None = None
    ) -> TransferBuild:
        """The unsigned transactions of a transfer, in order, for the user's wallet to sign
        and send (``POST /v1/transfers/build``): the gateway never holds user keys."""
        return await self.request(
            "POST",
            "/v1/transfers/build",
            json=terms,
            response=TransferBuild,
            idempotency_key=idempotency_key,
        )

    async def submit_transaction(
        self, chain_id: int, raw: bytes | str, *, idempotency_key: str | None = None
    ) -> SubmittedTransaction:
        """Forward a signed transaction to the chain and track it
        (``POST /v1/chains/{chain_id}/transactions``); its ``tracking_id`` names the transfer
        once the relay service recorded it."""
        data = bytes.fromhex(raw.removeprefix("0x")) if isinstance(raw, str) else raw
        return await self.request(
            "POST",
            f"/v1/chains/{int(chain_id)}/transactions",
            json=RawTransactionBody(raw=data),
            response=SubmittedTransaction,
            idempotency_key=idempotency_key,
        )

    async def track_transaction(
        self, chain_id: int, tx_hash: bytes | str, *, idempotency_key: str | None = None
    ) -> TrackedTransaction:
        """Track a source transaction the wallet sent itself (``POST /v1/transfers/track``)."""
        tx = bytes.fromhex(tx_hash.removeprefix("0x")) if isinstance(tx_hash, str) else tx_hash
        return await self.request(
            "POST",
            "/v1/transfers/track",
            json=TrackRequest(chain_id=ChainId(chain_id), tx_hash=TxHash(tx)),
            response=TrackedTransaction,
            idempotency_key=idempotency_key,
        )

    async def manual_execution(self, ref: str | bytes) -> ManualExecution:
        """The receipt proof and destination calldata anyone may send to deliver a stuck
        transfer (``GET /v1/transfers/{id}/manual-execution``)."""
        return await self.request(
            "GET", f"/v1/transfers/{_hex(ref)}/manual-execution", response=ManualExecution
        )

    # --- webhooks and dead letters ------------------------------------------------------------

    async def create_webhook(
        self, url: str, kinds: Iterable[EventKind | str], *, idempotency_key: str | None = None
    ) -> WebhookCreated:
        """Register ``url`` for the events of ``kinds`` (``POST /v1/webhooks``). The answer's
        ``secret`` is shown this once: keep it to verify the posts (``verify_webhook``)."""
        body = WebhookCreate(url=url, kinds=_kinds(kinds))
        return await self.request(
            "POST",
            "/v1/webhooks",
            json=body,
            response=WebhookCreated,
            idempotency_key=idempotency_key,
        )

    async def webhooks(self) -> WebhookList:
        """The key's webhooks that are not deleted (an operator's: everyone's)."""
        return await self.request("GET", "/v1/webhooks", response=WebhookList)

    async def delete_webhook(self, webhook_id: int) -> Webhook:
        """Disable a webhook (``DELETE /v1/webhooks/{id}``); the answer is it, disabled."""
        return await self.request("DELETE", f"/v1/webhooks/{int(webhook_id)}", response=Webhook)

    async def dead_letters(
        self, *, webhook_id: int | None = None, limit: int | None = None
    ) -> DeliveryList:
        """The dead-lettered deliveries, oldest event first (operator)."""
        params: dict[str, str] = {}
        if webhook_id is not None:
            params["webhook_id"] = str(int(webhook_id))
        if limit is not None:
            params["limit"] = str(int(limit))
        return await self.request(
            "GET", "/v1/operator/dead-letters", params=params, response=DeliveryList
        )

    async def replay_dead_letter(
        self, webhook_id: int, event_id: int, *, idempotency_key: str | None = None
    ) -> Delivery:
        """Make a dead-lettered delivery pending and due now (operator, signed)."""
        path = f"/v1/operator/dead-letters/{int(webhook_id)}/{int(event_id)}/replay"
        return await self.request("POST", path, response=Delivery, idempotency_key=idempotency_key)

    # --- credit attestations -------------------------------------------------------------------

    async def issue_attestation(
        self, request: AttestationRequest, *, idempotency_key: str | None = None
    ) -> AttestationIssued:
        """Issue a credit attestation (issuer, signed): the report is sealed to each reader
        and stored; the answer has the unsigned ``attest`` and ``publish`` transactions for
        the issuer's wallet (``POST /v1/credit/attestations``)."""
        return await self.request(
            "POST",
            "/v1/credit/attestations",
            json=request,
            response=AttestationIssued,
            idempotency_key=idempotency_key,
        )

    async def credit(self, subject: str) -> CreditView:
        """A subject's attestation on the registry and each mirror chain
        (``GET /v1/credit/{subject}``; ``subject`` EIP-55 checksummed)."""
        return await self.request("GET", f"/v1/credit/{_segment(subject)}", response=CreditView)

    async def sealed_report(self, subject: str, reader: bytes | str) -> SealedReportAnswer:
        """The report behind the subject's attestation, sealed to ``reader`` (its X25519
        public key), with the on-chain ``report_hash`` (``GET /v1/credit/{subject}/report``)."""
        key = "0x" + reader.hex() if isinstance(reader, bytes) else reader
        return await self.request(
            "GET",
            f"/v1/credit/{_segment(subject)}/report",
            params={"reader": key},
            response=SealedReportAnswer,
        )

    async def credit_report(self, subject: str, reader_private_key: bytes) -> dict[str, Any]:
        """The subject's full report, opened with the reader's X25519 private key and checked
        against the on-chain ``report_hash`` (``open_report`` raises when it does not match)."""
        public = bytes(PrivateKey(reader_private_key).public_key)
        answer = await self.sealed_report(subject, public)
        return open_report(answer.sealed, reader_private_key, bytes(answer.report_hash))

    async def publish_credit(
        self,
        subject: str,
        request: PublicationRequest,
        *,
        idempotency_key: str | None = None,
    ) -> CreditTransactions:
        """``publish`` transactions of the subject's current state (issuer, signed)."""
        return await self.request(
            "POST",
            f"/v1/credit/{_segment(subject)}/publication",
            json=request,
            response=CreditTransactions,
            idempotency_key=idempotency_key,
        )

    async def revoke_credit(
        self,
        subject: str,
        request: RevocationRequest,
        *,
        idempotency_key: str | None = None,
    ) -> CreditTransactions:
        """The unsigned ``revoke`` of the subject's attestation (issuer, signed)."""
        return await self.request(
            "POST",
            f"/v1/credit/{_segment(subject)}/revocation",
            json=request,
            response=CreditTransactions,
            idempotency_key=idempotency_key,
        )

    # --- receivables ---------------------------------------------------------------------------

    async def receivable(self, chain_id: int, token_id: int) -> ReceivableView:
        """Receivable ``token_id`` on ``chain_id``: the home token on the hub chain, its copy
        on a public chain (``GET /v1/receivables/{chain_id}/{token_id}``)."""
        return await self.request(
            "GET", f"/v1/receivables/{int(chain_id)}/{int(token_id)}", response=ReceivableView
        )

    async def verify_disclosure(
        self,
        chain_id: int,
        token_id: int,
        disclosure: Disclosure | DisclosureVerifyRequest,
    ) -> DisclosureVerdict:
        """The gateway's check of ``disclosure`` against the commitment of the copy on public
        chain ``chain_id`` (``POST .../disclosures/verify``). It sends the salt to the gateway:
        ``disclose`` and ``open_sealed_disclosure`` check on the client instead."""
        body = (
            DisclosureVerifyRequest(disclosure=disclosure)
            if isinstance(disclosure, Disclosure)
            else disclosure
        )
        return await self.request(
            "POST",
            f"/v1/receivables/{int(chain_id)}/{int(token_id)}/disclosures/verify",
            json=body,
            response=DisclosureVerdict,
        )

    async def hub_chain_id(self) -> int:
        """The consortium (hub) chain's id, from ``chains()``."""
        hub = next((c for c in (await self.chains()).items if c.kind == "qbft"), None)
        if hub is None:
            raise DisclosureRefused("the gateway lists no consortium chain")
        return hub.chain_id

    async def disclose(
        self, token_id: int, salt: bytes, *, chain_id: int | None = None
    ) -> tuple[Disclosure, int]:
        """The disclosure of home receivable ``token_id`` with the lock's ``salt``, checked
        here against the commitment of its copy on public chain ``chain_id`` (default: the
        chain the vault holds it for), and that chain's id. Raises ``DisclosureRefused`` when
        it would not hold. The salt never leaves the client."""
        home = await self.receivable(await self.hub_chain_id(), token_id)
        disclosure = disclosure_of(home, salt)
        public = public_chain_of(home, chain_id)
        reason = check_against_copy(disclosure, await self.receivable(public, token_id))
        if reason is not None:
            raise DisclosureRefused(
                "the disclosure would not hold for the public copy", reason=reason.value,
                chain_id=public, token_id=token_id,
            )  # fmt: skip
        return disclosure, public

    async def seal_disclosure(
        self, token_id: int, salt: bytes, recipient: bytes, *, chain_id: int | None = None
    ) -> bytes:
        """``disclose``, sealed to ``recipient``'s X25519 public key: the box to send."""
        disclosure, _ = await self.disclose(token_id, salt, chain_id=chain_id)
        return seal_disclosure(disclosure, recipient)

    async def open_sealed_disclosure(
        self, box: bytes, private_key: bytes, *, chain_id: int | None = None
    ) -> OpenedDisclosure:
        """What the recipient does: open ``box`` with its X25519 private key
        (``DisclosureUnreadable`` when it does not open) and check it here against the
        commitment of the copy on public chain ``chain_id`` (default: the chain the vault holds
        the home receivable for)."""
        disclosure = open_disclosure(box, private_key)
        if chain_id is None:
            home = await self.receivable(disclosure.home_chain_id, disclosure.token_id)
            chain_id = public_chain_of(home, None)
        copy = await self.receivable(chain_id, disclosure.token_id)
        reason = check_against_copy(disclosure, copy)
        commitment = None if copy.wrapped is None else copy.wrapped.commitment
        return OpenedDisclosure(disclosure, int(chain_id), commitment, reason)

    # --- swaps ---------------------------------------------------------------------------------

    async def propose_swap(
        self, proposal: SwapPropose, *, idempotency_key: str | None = None
    ) -> SwapView:
        """Propose an HTLC swap (``POST /v1/swaps``): the initiator sends only the hash of its
        secret; the gateway computes or checks the timelocks and refuses unsafe terms."""
        return await self.request(
            "POST", "/v1/swaps", json=proposal, response=SwapView, idempotency_key=idempotency_key
        )

    async def swap(self, swap_id: str | bytes) -> SwapView:
        """A swap and its legs' states (``GET /v1/swaps/{id}``)."""
        return await self.request("GET", f"/v1/swaps/{_hex(swap_id)}", response=SwapView)

    async def swap_locks(
        self, swap_id: str | bytes, *, idempotency_key: str | None = None
    ) -> SwapLocks:
        """The unsigned lock transactions of a swap's legs (``POST /v1/swaps/{id}/locks``)."""
        return await self.request(
            "POST",
            f"/v1/swaps/{_hex(swap_id)}/locks",
            response=SwapLocks,
            idempotency_key=idempotency_key,
        )

    async def authorize_swap(
        self,
        swap_id: str | bytes,
        authorization: SwapAuthorize,
        *,
        idempotency_key: str | None = None,
    ) -> SwapView:
        """Authorise the keeper to claim or refund for the caller
        (``POST /v1/swaps/{id}/authorizations``)."""
        return await self.request(
            "POST",
            f"/v1/swaps/{_hex(swap_id)}/authorizations",
            json=authorization,
            response=SwapView,
            idempotency_key=idempotency_key,
        )

    # --- operator --------------------------------------------------------------------------------

    async def operator_keys(self, *, include_revoked: bool = False) -> OperatorKeyList:
        """The API keys (operator), never a secret."""
        params = {"include_revoked": "true"} if include_revoked else {}
        return await self.request(
            "GET", "/v1/operator/keys", params=params, response=OperatorKeyList
        )

    async def create_operator_key(
        self, key: OperatorKeyCreate, *, idempotency_key: str | None = None
    ) -> OperatorKeyCreated:
        """A new API key (operator, signed); its token is in this answer only."""
        return await self.request(
            "POST",
            "/v1/operator/keys",
            json=key,
            response=OperatorKeyCreated,
            idempotency_key=idempotency_key,
        )

    async def revoke_operator_key(self, key_id: str) -> OperatorKey:
        """Revoke an API key (operator, signed); effective at once on every instance."""
        return await self.request(
            "DELETE", f"/v1/operator/keys/{_segment(key_id)}", response=OperatorKey
        )

    async def operator_routes(self) -> OperatorRouteList:
        """Every endpoint route with its pauses and value limits, read from the chains."""
        return await self.request("GET", "/v1/operator/routes", response=OperatorRouteList)

    async def pause_route(
        self, chain_id: int, remote_chain_id: int, request: RoutePauseRequest
    ) -> GovernanceTxs:
        """The guardian's unsigned transaction pausing a route (operator, signed)."""
        return await self._route_change(chain_id, remote_chain_id, "pause", request)

    async def resume_route(
        self, chain_id: int, remote_chain_id: int, request: TimelockedRequest
    ) -> GovernanceTxs:
        """The timelock's unsigned schedule and execute transactions unpausing a route."""
        return await self._route_change(chain_id, remote_chain_id, "resume", request)

    async def set_route_limit(
        self, chain_id: int, remote_chain_id: int, request: RouteLimitRequest
    ) -> GovernanceTxs:
        """The unsigned transactions setting a route's value limit."""
        return await self._route_change(chain_id, remote_chain_id, "limits", request)

    async def _route_change(
        self, chain_id: int, remote_chain_id: int, action: str, body: BaseModel
    ) -> GovernanceTxs:
        path = f"/v1/operator/routes/{int(chain_id)}/{int(remote_chain_id)}/{action}"
        return await self.request("POST", path, json=body, response=GovernanceTxs)

    async def operator_services(self) -> ServicesReport:
        """The relay services' health and what the store shows of them (operator)."""
        return await self.request("GET", "/v1/operator/services", response=ServicesReport)

    # --- any operation -------------------------------------------------------------------------

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = ...,
        json: BaseModel | Mapping[str, Any] | None = ...,
        response: type[M],
        idempotency_key: str | None = ...,
    ) -> M: ...

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = ...,
        json: BaseModel | Mapping[str, Any] | None = ...,
        response: None = ...,
        idempotency_key: str | None = ...,
    ) -> Any: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: BaseModel | Mapping[str, Any] | None = None,
        response: type[M] | None = None,
        idempotency_key: str | None = None,
    ) -> M | Any:
        """Call ``method path`` (``path`` from ``/v1``, its segments already percent-encoded)
        with the ``params`` query and the ``json`` body (a request model or plain data), with
        the client's authentication, signature, idempotency key and retries. Answers the
        ``response`` model, or the parsed JSON (None for an empty body) without one. A problem
        raises ``ApiProblem``."""
        method = method.upper()
        url = self._url(path, params or {})
        body = _body(json)
        headers: dict[str, str] = {}
        if body:
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers[IDEMPOTENCY_HEADER] = idempotency_key or str(uuid.uuid4())
        elif idempotency_key is not None:
            raise ValueError("an Idempotency-Key is for POSTs only")
        answer = await self._send(method, url, body, headers, timeout=self._timeout)
        try:
            raw = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnavailable("the answer was cut", url=str(url)) from exc
        finally:
            answer.release()
        if response is None:
            return _json.loads(raw) if raw else None
        try:
            return response.model_validate_json(raw)
        except ValidationError as exc:
            raise ApiResponseInvalid(
                "the answer is not the API's declared model",
                status=answer.status,
                url=str(url),
                reason=f"{response.__name__}: {exc.error_count()} bad fields",
            ) from exc

    # --- the transport -------------------------------------------------------------------------

    def _url(self, path: str, params: Mapping[str, str]) -> URL:
        if not path.startswith("/"):
            raise ValueError("a path starts with /")
        url = self._base.with_path(self._base.raw_path.rstrip("/") + path, encoded=True)
        return url.with_query(dict(params)) if params else url

    def _headers(self, method: str, url: URL, body: bytes) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        if self._signing_key is not None and method in _SIGNED_METHODS:
            headers.update(
                signature_headers(
                    self._signing_key,
                    method,
                    url.raw_path_qs,
                    body,
                    timestamp=int(self._clock()),
                )
            )
        return headers

    async def _send(
        self,
        method: str,
        url: URL,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109  (aiohttp's, per request)
    ) -> aiohttp.ClientResponse:
        """The first answer below 400 (the caller reads and releases it), retrying as the
        module's docstring says; a problem raises ``ApiProblem``, no answer
        ``ApiUnavailable``."""
        resend = method in _SAFE_TO_RESEND or IDEMPOTENCY_HEADER in headers
        attempt = 1
        while True:
            # Each attempt is signed anew: a nonce is used once.
            sent = {**headers, **self._headers(method, url, body)}
            retry_after: float | None = None
            try:
                response = await self._http().request(
                    method, url, data=body or None, headers=sent, timeout=timeout
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not resend or attempt >= self.retries.max_attempts:
                    raise ApiUnavailable(
                        f"no answer from the API: {type(exc).__name__}",
                        url=str(url),
                        attempts=attempt,
                    ) from exc
            else:
                if response.status < 400:
                    return response
                try:
                    problem = await _problem(response, self._clock())
                finally:
                    response.release()
                usable = problem.retry_after is None or (
                    problem.retry_after <= self.retries.max_retry_after_s
                )
                if not (problem.retryable and resend and usable):
                    raise problem
                if attempt >= self.retries.max_attempts:
                    raise problem
                retry_after = problem.retry_after
            await self._sleep(self.retries.delay(attempt, retry_after))
            attempt += 1


_json = json  # ``request`` has a parameter named json


def _body(data: BaseModel | Mapping[str, Any] | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, BaseModel):
        return data.model_dump_json().encode()
    return _json.dumps(dict(data), separators=(",", ":")).encode()


def _cursor_text(page: TransferPage) -> str:
    """The page's ``next_cursor`` as the API wrote it (the model holds it decoded)."""
    dumped = page.model_dump(mode="json")["next_cursor"]
    assert isinstance(dumped, str)
    return dumped


async def _problem(response: aiohttp.ClientResponse, now: float) -> ApiProblem:
    raw = await response.read()
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    if response.content_type == _PROBLEM:
        try:
            details = ProblemDetails.model_validate_json(raw)
        except ValidationError:
            pass
        else:
            return ApiProblem(
                status=response.status,
                type=details.type,
                title=details.title,
                detail=details.detail,
                instance=details.instance,
                request_id=details.request_id,
                errors=[FieldProblem(e.field, e.message) for e in details.errors or ()],
                retry_after=retry_after,
            )
    # Not the API's problem: a proxy's or load balancer's page. Its text is not shown (it
    # may be a whole HTML page); the status says enough.
    return ApiProblem(
        status=response.status,
        type="about:blank",
        slug=f"http-{response.status}",
        title=response.reason or f"HTTP {response.status}",
        detail=f"HTTP {response.status} {response.reason or ''} from {response.url.host}".strip(),
        instance=response.url.raw_path,
        retry_after=retry_after,
    )


_START_COMMENT = "events after "


def _start_of(frame: SseFrame) -> int | None:
    """Where the stream started (its opening comment ``events after N``), so that a client
    that asked for "from now on" resumes there, missing nothing, if the connection drops
    before its first event."""
    for comment in frame.comments:
        rest = comment.removeprefix(_START_COMMENT)
        if rest != comment and rest.isascii() and rest.isdigit():
            return int(rest)
    return None


def _event_of(frame: SseFrame, url: str) -> EventItem | None:
    if frame.data is None or frame.id is None:
        return None
    try:
        return EventItem.model_validate_json(frame.data)
    except ValidationError as exc:
        raise ApiResponseInvalid(
            "an event of the stream is not an EventItem",
            status=200,
            url=url,
            reason=f"event id {frame.id}",
        ) from exc
