"""Webhooks (docs/api.md §3): their operations, and the dispatcher that posts the events.

Operations:

- ``POST /v1/webhooks`` (dapp): register a URL for the events of some kinds; the answer has
  the webhook's signing secret, shown that once;
- ``GET /v1/webhooks`` (dapp): the caller's webhooks (an operator's: everyone's);
- ``DELETE /v1/webhooks/{id}`` (dapp): disable one of the caller's (an operator: anyone's);
  another key's webhook is answered as unknown (404), never revealed;
- ``GET /v1/operator/dead-letters`` and ``POST /v1/operator/dead-letters/{webhook_id}/
  {event_id}/replay`` (operator): the deliveries whose every attempt failed, and sending one
  again.

URLs: ``https`` only. A gateway started for development (``xgate api --dev-webhooks``,
``WebhookSettings(allow_loopback=True)``) also takes ``http`` and ``https`` to a loopback
address (127.0.0.0/8, ``::1``, ``localhost``); otherwise loopback, private, link-local and
unspecified address literals, numeric host names and ``localhost`` are refused, and the
dispatcher connects only to the public addresses a host name resolves to (``PublicResolver``),
so a dApp cannot make the gateway post into its own network, by address or by name.

The dispatcher (``WebhookDispatcher``): the store gives every event a delivery for each
enabled webhook of its kind in the event's own transaction (the fan-out), so the dispatcher
only claims due deliveries with leases (``Store.claim_deliveries``), posts them with aiohttp
and records the outcome. Several API instances run one each on the same store: a lease keeps a
delivery from being posted by two at once (the lease outlasts the post's timeout). A 2xx answer
is delivered; anything else (another status, a redirect, a timeout, a refused connection) is a
failed attempt, due again after the policy's exponential backoff, dead-lettered after its
``max_attempts``. Delivery is at least once: a dispatcher that dies after a post and before
recording it leaves the lease to expire and the delivery is posted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from prometheus_client import CollectorRegistry, Counter

from adapters.errors import XgateError
from adapters.retry import RetryPolicy
from gateway.api.auth import caller_key
from gateway.api.keys import STORE_KEY
from gateway.api.models import (
    DeadLetterPath,
    DeadLettersQuery,
    Delivery,
    DeliveryList,
    EventItem,
    NoBody,
    NoParams,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPath,
)
from gateway.api.problems import FieldError, Problem, invalid_request
from gateway.api.spec import Api, Call
from gateway.api.webhook_signing import sign_webhook
from gateway.domain.apikeys import Scope
from gateway.domain.events import DeliveryState, WebhookDue
from gateway.store import LeaseLost, NotDeadLettered, NotFound, Store, StoreUnavailable

__all__ = [
    "WEBHOOK_SETTINGS_KEY",
    "DeliveryPolicy",
    "PublicResolver",
    "WebhookDispatcher",
    "WebhookSettings",
    "add_webhook_operations",
    "check_webhook_url",
    "refused_address",
]

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
MAX_WEBHOOKS_PER_KEY = 20  # active ones
USER_AGENT = "xgate-webhooks/1"


# --- operations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """``allow_loopback``: take webhook URLs to loopback addresses, ``http`` included (a
    development gateway only)."""

    allow_loopback: bool = False


WEBHOOK_SETTINGS_KEY = web.AppKey("webhook_settings", WebhookSettings)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def check_webhook_url(url: str, *, allow_loopback: bool) -> str | None:
    """Why ``url`` cannot be a webhook's, or None when it can (see the module's docstring)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("https", "http") or not host or not port_ok:
        return "expected an absolute https URL"
    if parts.username is not None or parts.password is not None:
        return "a webhook URL has no user name or password (sign with the webhook's secret)"
    if parts.fragment or any(ch.isspace() for ch in url) or not url.isprintable():
        return "a webhook URL has no fragment and no spaces"
    try:
        address: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
        last_label = host.rstrip(".").rsplit(".", 1)[-1].lower()
        if last_label.isdigit() or last_label.startswith("0x"):
            # 2130706433, 0x7f.1 ...: resolvers read these as addresses.
            return "write an IP address in its usual form (dotted decimal, or IPv6 in [ ])"
    loopback = host.lower() in _LOOPBACK_NAMES or (address is not None and address.is_loopback)
    if loopback:
        if not allow_loopback:
            return "a loopback address is refused (only a development gateway takes one)"
        return None
    if parts.scheme != "https":
        return "expected https (http only to a loopback address on a development gateway)"
    return None if address is None else refused_address(address, allow_loopback=allow_loopback)


def refused_address(address: IpAddress, *, allow_loopback: bool) -> str | None:
    """Why the gateway does not post to ``address``, or None when it may."""
    if address.is_loopback:
        return None if allow_loopback else "a loopback address is refused"
    if (
        address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    ):
        return "a private, link-local or reserved address is refused"
    return None


class PublicResolver(AbstractResolver):
    """Resolves a webhook's host name to its addresses the gateway may post to (see
    ``refused_address``): a name that resolves inside the network, or comes to (DNS
    rebinding), is not connected to. IP literals are not resolved (aiohttp connects to them
    directly): ``check_webhook_url`` checks them."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [
            result
            for result in found
            if refused_address(
                ipaddress.ip_address(result["host"]), allow_loopback=self._allow_loopback
            )
            is None
        ]
        if not allowed:
            raise OSError(f"{host} resolves to no address the gateway posts to")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _webhook_unknown(webhook_id: int) -> Problem:
    return Problem(404, "webhook-not-found", "Webhook not found", f"no webhook {webhook_id}")


async def create_webhook(call: Call[NoParams, NoParams, WebhookCreate]) -> WebhookCreated:
    """Register `url` for the events of `kinds` committed from now on. The answer carries the
    webhook's `secret`, shown this once: each post is signed with it (`X-Xgate-Signature`,
    docs/api.md §3). https only (http to loopback on a development gateway). A key has at
    most 20 webhooks (409 beyond)."""
    key = caller_key(call.request)
    settings = call.request.app.get(WEBHOOK_SETTINGS_KEY) or WebhookSettings()
    why = check_webhook_url(call.body.url, allow_loopback=settings.allow_loopback)
    if why is not None:
        raise invalid_request([FieldError("body.url", why)])
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    store = call.request.app[STORE_KEY]
    active = [h for h in await store.webhooks(key.key_id) if h.disabled_at is None]
    if len(active) >= MAX_WEBHOOKS_PER_KEY:
        raise Problem(
            409,
            "too-many-webhooks",
            "Too many webhooks",
            f"an API key has at most {MAX_WEBHOOKS_PER_KEY} webhooks; delete one first",
        )
    try:
        hook = await store.create_webhook(key.key_id, call.body.url, secret, call.body.kinds)
    except NotFound as exc:  # the key was revoked since it was authenticated
        raise Problem(401, "key-revoked", "API key revoked", "this API key is revoked") from exc
    return WebhookCreated.from_new(hook)


async def list_webhooks(call: Call[NoParams, NoParams, NoBody]) -> WebhookList:
    """The caller's webhooks that are not deleted, oldest first; an operator's: everyone's."""
    key = caller_key(call.request)
    store = call.request.app[STORE_KEY]
    hooks = await store.webhooks(None if Scope.OPERATOR in key.scopes else key.key_id)
    return WebhookList(items=[Webhook.from_record(h) for h in hooks if h.disabled_at is None])


async def delete_webhook(call: Call[WebhookPath, NoParams, NoBody]) -> Webhook:
    """Disable a webhook: no new deliveries, its pending ones are not posted any more. Only
    the key that registered it, or an operator, may; to anyone else it does not exist (404),
    nor does it once deleted."""
    key = caller_key(call.request)
    store = call.request.app[STORE_KEY]
    hook = await store.webhook(call.path.id)
    if (
        hook is None
        or hook.disabled_at is not None
        or (hook.key_id != key.key_id and Scope.OPERATOR not in key.scopes)
    ):
        raise _webhook_unknown(call.path.id)
    return Webhook.from_record(await store.disable_webhook(hook.id))


async def list_dead_letters(call: Call[NoParams, DeadLettersQuery, NoBody]) -> DeliveryList:
    """Deliveries whose every attempt failed, oldest event first (of one webhook with
    `webhook_id`), with their last error. Replay one once its receiver works again."""
    store = call.request.app[STORE_KEY]
    dead = await store.dead_deliveries(webhook_id=call.query.webhook_id, limit=call.query.limit)
    return DeliveryList(items=[Delivery.from_record(d) for d in dead])


async def replay_dead_letter(call: Call[DeadLetterPath, NoParams, NoBody]) -> Delivery:
    """Send a dead-lettered delivery again: pending, due now, its attempts reset. 404 for an
    unknown delivery, 409 for one that is not dead-lettered or whose webhook is deleted."""
    store = call.request.app[STORE_KEY]
    webhook_id, event_id = call.path.webhook_id, call.path.event_id
    hook = await store.webhook(webhook_id)
    if hook is not None and hook.disabled_at is not None:
        raise Problem(
            409,
            "webhook-deleted",
            "Webhook deleted",
            f"webhook {webhook_id} is deleted: its deliveries are not posted any more",
        )
    try:
        return Delivery.from_record(await store.replay_delivery(webhook_id, event_id))
    except NotFound as exc:
        raise Problem(
            404,
            "delivery-not-found",
            "Delivery not found",
            f"webhook {webhook_id} has no delivery of event {event_id}",
        ) from exc
    except NotDeadLettered as exc:
        raise Problem(
            409,
            "delivery-not-dead",
            "Delivery is not dead-lettered",
            f"the delivery of event {event_id} to webhook {webhook_id} is not dead-lettered",
        ) from exc


def add_webhook_operations(api: Api) -> None:
    """Declare the webhook operations on ``api``."""
    api.add(
        "POST",
        "/v1/webhooks",
        create_webhook,
        summary="Register a webhook; its signing secret is in the answer, once",
        scope=Scope.DAPP,
        path_params=NoParams,
        query=NoParams,
        body=WebhookCreate,
        response=WebhookCreated,
        status=201,
        problems=[409],
        tags=["webhooks"],
    )
    api.add(
        "GET",
        "/v1/webhooks",
        list_webhooks,
        summary="The caller's webhooks",
        scope=Scope.DAPP,
        path_params=NoParams,
        query=NoParams,
        body=NoBody,
        response=WebhookList,
        tags=["webhooks"],
    )
    api.add(
        "DELETE",
        "/v1/webhooks/{id}",
        delete_webhook,
        summary="Delete (disable) one of the caller's webhooks",
        scope=Scope.DAPP,
        path_params=WebhookPath,
        query=NoParams,
        body=NoBody,
        response=Webhook,
        problems=[404],
        tags=["webhooks"],
    )
    api.add(
        "GET",
        "/v1/operator/dead-letters",
        list_dead_letters,
        summary="Dead-lettered webhook deliveries",
        scope=Scope.OPERATOR,
        path_params=NoParams,
        query=DeadLettersQuery,
        body=NoBody,
        response=DeliveryList,
        tags=["operator", "webhooks"],
    )
    api.add(
        "POST",
        "/v1/operator/dead-letters/{webhook_id}/{event_id}/replay",
        replay_dead_letter,
        summary="Send a dead-lettered delivery again",
        scope=Scope.OPERATOR,
        path_params=DeadLetterPath,
        query=NoParams,
        body=NoBody,
        response=Delivery,
        problems=[404, 409],
        tags=["operator", "webhooks"],
    )


# --- the dispatcher ----------------------------------------------------------------------------


# 10 attempts over about 42 minutes: 5, 10, 20 ... 1280 s between them.
DEFAULT_RETRY = RetryPolicy(initial_delay=5.0, multiplier=2.0, max_delay=3600.0, max_attempts=10)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How deliveries are posted. ``retry``: the backoff after failed attempt k is
    ``retry.delay(k)`` (exponential, capped) and ``retry.max_attempts`` failed attempts
    dead-letter a delivery. ``timeout_s``: one post, connection included; ``lease_s``: how
    long a claimed delivery is this dispatcher's (longer than a post); ``batch``: deliveries
    claimed at a time, posted concurrently; ``poll_s``: the longest wait between two claims
    when no event arrives (retries fall due without one)."""

    retry: RetryPolicy = DEFAULT_RETRY
    timeout_s: float = 10.0
    lease_s: float = 60.0
    batch: int = 20
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s < self.lease_s:
            raise ValueError("a delivery's lease must outlast its post: 0 < timeout_s < lease_s")
        if not (1 <= self.batch <= 1000 and self.poll_s > 0):
            raise ValueError("batch in 1..1000 and poll_s > 0")

    def retry_after_s(self, failed_attempts: int) -> float:
        """Seconds before the next attempt once ``failed_attempts`` attempts failed."""
        return self.retry.delay(failed_attempts)


def dispatcher_owner() -> str:
    """A lease owner unique to this dispatcher: host, process and a random part."""
    return f"webhooks@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WebhookDispatcher:
    """Posts the store's due webhook deliveries (see the module's docstring). ``run(stop)`` is
    its one task: it returns after ``stop`` is set and the posts in flight are recorded (or,
    past ``grace_s``, cancelled: their leases expire and they are posted again).
    ``allow_loopback``: post to loopback addresses (a development gateway); addresses inside
    the network are never posted to (``PublicResolver``). ``registry``: where its metric
    ``xgate_webhook_posts_total{outcome}`` is kept (the API's own, served on /metrics)."""

    def __init__(
        self,
        store: Store,
        policy: DeliveryPolicy | None = None,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] | None = None,
        grace_s: float | None = None,
        allow_loopback: bool = False,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.allow_loopback = allow_loopback
        self.policy = policy or DeliveryPolicy()
        self.owner = owner or dispatcher_owner()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._grace_s = self.policy.timeout_s + 1.0 if grace_s is None else grace_s
        self._session: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failed = 0
        self.posts = Counter(
            "xgate_webhook_posts",
            "Webhook posts by outcome: delivered (2xx), failed (retried later), dead_lettered "
            "(the last attempt failed)",
            ["outcome"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and post until ``stop`` is set."""
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout_s)
        connector = aiohttp.TCPConnector(
            resolver=PublicResolver(allow_loopback=self.allow_loopback)
        )
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}
        ) as session:
            self._session = session
            try:
                await self._loop(stop)
            finally:
                self._session = None
        log.info("webhook dispatcher %s stopped", self.owner)

    async def _loop(self, stop: asyncio.Event) -> None:
        seen = await self._guard(self.store.last_event_id(), default=0)
        failures = 0
        while not stop.is_set():
            step = asyncio.create_task(self.step(), name=f"{self.owner} step")
            more = await self._finish_step(step, stop)
            if more is None:  # the step failed: back off, capped
                failures += 1
                await _sleep_or_stop(stop, min(self.policy.poll_s * 2**failures, 30.0))
                continue
            failures = 0
            if more:
                continue
            # Idle: wake on a new event (a new delivery) or after poll_s (a retry fell due).
            waiter = asyncio.create_task(self.store.wait_for_events(seen, self.policy.poll_s))
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (waiter, stopper):
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            seen = await self._guard(self.store.last_event_id(), default=seen)

    async def _finish_step(self, step: asyncio.Task[bool], stop: asyncio.Event) -> bool | None:
        """The step's result; None when it failed (logged). On ``stop`` it gets ``grace_s``."""
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({step, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                await asyncio.wait({step}, timeout=self._grace_s)
        finally:
            stopper.cancel()
            if not step.done():
                step.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({step})
        if step.cancelled():
            return False
        exc = step.exception()
        if exc is None:
            return step.result()
        if isinstance(exc, XgateError) and exc.retryable:
            log.warning("webhook dispatcher step failed, retrying: %s", exc)
        else:
            log.error("webhook dispatcher step failed", exc_info=exc)
        return None

    async def _guard(self, value: Awaitable[int], *, default: int) -> int:
        try:
            return await value
        except StoreUnavailable as exc:
            log.warning("webhook dispatcher: store unavailable: %s", exc)
            return default

    async def step(self) -> bool:
        """Claim a batch of due deliveries and post them; True when the batch was full (more
        may be due)."""
        due = await self.store.claim_deliveries(
            self.owner, limit=self.policy.batch, lease_s=self.policy.lease_s, now=self._clock()
        )
        # Every post is awaited (none left running unowned), then the first failure raised.
        outcomes = await asyncio.gather(
            *(self._deliver(item) for item in due), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return len(due) == self.policy.batch

    async def _deliver(self, due: WebhookDue) -> None:
        hook, event = due.webhook, due.event
        body = EventItem.from_event(event).model_dump_json().encode()
        error = await self.post(hook.url, hook.secret, event.id, body)
        try:
            if error is None:
                await self.store.record_delivery_success(hook.id, event.id, self.owner)
                self.delivered += 1
                self.posts.labels("delivered").inc()
                log.info("webhook %d: event %d delivered", hook.id, event.id)
                return
            attempts = due.delivery.attempts + 1
            retry_at = self._clock() + timedelta(seconds=self.policy.retry_after_s(attempts))
            record = await self.store.record_delivery_failure(
                hook.id,
                event.id,
                self.owner,
                error,
                retry_at=retry_at,
                max_attempts=self.policy.retry.max_attempts,
            )
            self.failed += 1
            dead = record.state is DeliveryState.DEAD
            self.posts.labels("dead_lettered" if dead else "failed").inc()
            log.warning(
                "webhook %d: event %d attempt %d failed (%s)%s",
                hook.id,
                event.id,
                attempts,
                error,
                ", dead-lettered" if dead else "",
            )
        except LeaseLost:
            # Held past its lease (a stalled process): another dispatcher has it now.
            log.warning("webhook %d: event %d: lease lost before recording", hook.id, event.id)

    async def post(self, url: str, secret: str, event_id: int, body: bytes) -> str | None:
        """Post one signed body; None when the receiver answered 2xx, else what went wrong
        (no secret, no answer body in it)."""
        assert self._session is not None, "post() runs inside run()"
        # Checked again: the URL may have been registered on a gateway that allowed more.
        refused = check_webhook_url(url, allow_loopback=self.allow_loopback)
        if refused is not None:
            return f"refused: {refused}"
        headers = {
            "Content-Type": "application/json",
            **sign_webhook(secret, event_id, body, timestamp=int(time.time())),
        }
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except TimeoutError:
            return f"no answer within {self.policy.timeout_s:g} s"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
