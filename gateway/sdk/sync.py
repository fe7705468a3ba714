"""``SyncXgateClient``: the async client (``client.py``) for synchronous code, with the same
methods and answers, blocking.

It owns a private event loop running in a daemon thread; each call submits the async method's
coroutine to that loop and waits for its result, so the client's aiohttp session stays on the
one loop it was made on, and the wrapper works from any thread, including code that is itself
running an event loop elsewhere (a notebook). The iterators (``iter_transfers``, ``events``)
step the async ones on that loop; the waits' ``on_change`` callbacks run on that loop's thread.
``close()`` (or leaving the ``with`` block) closes the
session and stops the thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from gateway.sdk.client import XgateClient

__all__ = ["SyncXgateClient"]

P = ParamSpec("P")
T = TypeVar("T")


def _blocking(
    method: Callable[Concatenate[XgateClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[SyncXgateClient, P], T]:
    def call(self: SyncXgateClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self.client, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


def _iterating(
    method: Callable[Concatenate[XgateClient, P], AsyncIterator[T]],
) -> Callable[Concatenate[SyncXgateClient, P], Generator[T, None, None]]:
    def call(
        self: SyncXgateClient, /, *args: P.args, **kwargs: P.kwargs
    ) -> Generator[T, None, None]:
        return self._iterate(method(self.client, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class SyncXgateClient:
    """``XgateClient(*args, **kwargs)`` behind blocking calls (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="xgate-sdk", daemon=True
        )
        self._thread.start()
        self._closed = False
        try:
            # Made on its loop: aiohttp objects belong to the loop they were made on.
            self.client: XgateClient = self._run(_make(args, kwargs))
        except BaseException:
            self._stop()
            raise

    def __repr__(self) -> str:
        return f"Sync{self.client!r}"

    def __enter__(self) -> SyncXgateClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self.client.close())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("the client is closed")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # interrupted (Ctrl-C): do not leave the request running
            raise

    def _iterate(self, iterator: AsyncIterator[T]) -> Generator[T, None, None]:
        async def step() -> list[T]:
            try:
                return [await anext(iterator)]
            except StopAsyncIteration:
                return []

        async def close() -> None:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

        try:
            while items := self._run(step()):
                yield items[0]
        finally:
            if not self._loop.is_closed():
                self._run(close())

    chains = _blocking(XgateClient.chains)
    transfer = _blocking(XgateClient.transfer)
    transfers = _blocking(XgateClient.transfers)
    transfers_of_tx = _blocking(XgateClient.transfers_of_tx)
    iter_transfers = _iterating(XgateClient.iter_transfers)
    events = _iterating(XgateClient.events)
    wait_for_transfer = _blocking(XgateClient.wait_for_transfer)
    wait_for_swap = _blocking(XgateClient.wait_for_swap)
    create_webhook = _blocking(XgateClient.create_webhook)
    webhooks = _blocking(XgateClient.webhooks)
    delete_webhook = _blocking(XgateClient.delete_webhook)
    dead_letters = _blocking(XgateClient.dead_letters)
    replay_dead_letter = _blocking(XgateClient.replay_dead_letter)
    chain_status = _blocking(XgateClient.chain_status)
    chain_fees = _blocking(XgateClient.chain_fees)
    quote_transfer = _blocking(XgateClient.quote_transfer)
    build_transfer = _blocking(XgateClient.build_transfer)
    submit_transaction = _blocking(XgateClient.submit_transaction)
    track_transaction = _blocking(XgateClient.track_transaction)
    manual_execution = _blocking(XgateClient.manual_execution)
    issue_attestation = _blocking(XgateClient.issue_attestation)
    credit = _blocking(XgateClient.credit)
    sealed_report = _blocking(XgateClient.sealed_report)
    credit_report = _blocking(XgateClient.credit_report)
    publish_credit = _blocking(XgateClient.publish_credit)
    revoke_credit = _blocking(XgateClient.revoke_credit)
    receivable = _blocking(XgateClient.receivable)
    verify_disclosure = _blocking(XgateClient.verify_disclosure)
    hub_chain_id = _blocking(XgateClient.hub_chain_id)
    disclose = _blocking(XgateClient.disclose)
    seal_disclosure = _blocking(XgateClient.seal_disclosure)
    open_sealed_disclosure = _blocking(XgateClient.open_sealed_disclosure)
    propose_swap = _blocking(XgateClient.propose_swap)
    swap = _blocking(XgateClient.swap)
    swap_locks = _blocking(XgateClient.swap_locks)
    authorize_swap = _blocking(XgateClient.authorize_swap)
    operator_keys = _blocking(XgateClient.operator_keys)
    create_operator_key = _blocking(XgateClient.create_operator_key)
    revoke_operator_key = _blocking(XgateClient.revoke_operator_key)
    operator_routes = _blocking(XgateClient.operator_routes)
    pause_route = _blocking(XgateClient.pause_route)
    resume_route = _blocking(XgateClient.resume_route)
    set_route_limit = _blocking(XgateClient.set_route_limit)
    operator_services = _blocking(XgateClient.operator_services)
    request = _blocking(XgateClient.request)


async def _make(args: tuple[Any, ...], kwargs: dict[str, Any]) -> XgateClient:
    return XgateClient(*args, **kwargs)
