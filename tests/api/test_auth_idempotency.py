"""Idempotent POSTs (docs/api.md §2) on the probe operations (tests/api/test_auth): the same
``Idempotency-Key`` and request answer the stored response again (``Idempotent-Replayed``),
also after the app restarts on the same database; the key with another request is 422, while
the first runs 409; a 5xx or an answer with Retry-After frees the key for a retry; a replay
answers the first answer's headers (its Content-Type, its own headers); a bad key is 400. Keys
are per API key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gateway.api.auth import API_KEY_KEY
from gateway.api.models import NoParams
from gateway.api.problems import Problem
from gateway.api.spec import Api, Call, Scope
from gateway.config import XgateConfig
from gateway.store import Store
from tests.api.conftest import Keys, serve
from tests.api.test_auth import HOOK_URL, HookAnswer, HookRequest, Probe, probe_api
from tests.store.conftest import Clock

ON_BOTH_STORES = True  # tests/api/conftest.py

PROBLEMS = "https://xgate.dev/problems/"
BODY = {"url": HOOK_URL}


def idem(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


@dataclass
class Refusals:
    """What ``POST /v1/probe/answer`` raises: the next of ``problems`` on each call, then it
    answers 201; ``calls`` counts the runs."""

    problems: list[Problem] = field(default_factory=list)
    calls: int = 0


def answer_api(refusals: Refusals) -> Api:
    """A dapp POST whose answers carry headers of their own (the problems')."""
    api = Api("probe-answers", "0.0.1")

    async def answer(call: Call[NoParams, NoParams, HookRequest]) -> HookAnswer:
        refusals.calls += 1
        if refusals.problems:
            raise refusals.problems.pop(0)
        return HookAnswer(id=refusals.calls, key_id=call.request[API_KEY_KEY].key_id)

    api.add(
        "POST",
        "/v1/probe/answer",
        answer,
        summary="a dapp POST answering problems with headers",
        scope=Scope.DAPP,
        path_params=NoParams,
        query=NoParams,
        body=HookRequest,
        response=HookAnswer,
        status=201,
        problems=(409, 422),
    )
    return api


async def test_the_same_key_and_request_answer_the_stored_response(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    probe = Probe()
    async with serve(store, config, clock, keys, api=probe_api(probe)) as client:
        dapp = client.using(keys.dapp)
        first = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("k-1"))
        assert first.status == 201 and "Idempotent-Replayed" not in first.headers
        again = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("k-1"))
        assert (again.status, again.body) == (201, first.body)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content_type == "application/json"
        assert probe.calls == 1 and len(await store.webhooks()) == 1
        # Another key, or no key at all: runs again.
        other = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("k-2"))
        plain = await dapp.request("POST", "/v1/probe/dapp", json=BODY)
        assert other.body["id"] != first.body["id"] != plain.body["id"]
        assert probe.calls == 3
        # Idempotency keys belong to an API key: the operator's k-1 is another request.
        operator = client.using(keys.operator)
        mine = await operator.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("k-1"))
        assert mine.status == 201 and "Idempotent-Replayed" not in mine.headers
        assert probe.calls == 4


async def test_a_stored_problem_is_replayed_as_a_problem(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    probe = Probe()
    async with serve(store, config, clock, keys, api=probe_api(probe)) as client:
        dapp = client.using(keys.dapp)
        bad = {"url": "x" * 300}
        first = await dapp.request("POST", "/v1/probe/dapp", json=bad, headers=idem("bad"))
        again = await dapp.request("POST", "/v1/probe/dapp", json=bad, headers=idem("bad"))
        assert first.status == again.status == 400
        assert again.content_type == "application/problem+json"
        assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"


async def test_a_replay_answers_the_first_answers_headers(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    quota = Problem(
        422, "probe-quota", "Over quota", "no more", headers={"X-Probe-Quota": "0; window=60"}
    )
    refusals = Refusals([quota])
    async with serve(store, config, clock, keys, api=answer_api(refusals)) as client:
        dapp = client.using(keys.dapp)
        for idem_key, status in (("refused", 422), ("created", 201)):
            first = await dapp.request(
                "POST", "/v1/probe/answer", json=BODY, headers=idem(idem_key)
            )
            again = await dapp.request(
                "POST", "/v1/probe/answer", json=BODY, headers=idem(idem_key)
            )
            assert (first.status, again.status, again.body) == (status, status, first.body)
            assert again.headers["Idempotent-Replayed"] == "true"
            # The stored Content-Type as it was sent (a problem's charset included), once.
            assert again.headers.getall("Content-Type") == first.headers.getall("Content-Type")
            # Per-request headers are the replay's own, not stored ones.
            assert len(again.headers.getall("X-Request-Id")) == 1
            assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
        assert first.headers["Content-Type"] == "application/json"
        assert refusals.calls == 2
        refused = await dapp.request("POST", "/v1/probe/answer", json=BODY, headers=idem("refused"))
        assert refused.headers["Content-Type"] == "application/problem+json; charset=utf-8"
        assert refused.headers["X-Probe-Quota"] == "0; window=60"
        assert refusals.calls == 2


async def test_an_answer_with_retry_after_is_not_replayed(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    # As the swaps' 409 swap-busy: the answer tells the client to retry, so the retry runs.
    busy = Problem(409, "probe-busy", "Busy", "retry", headers={"Retry-After": "1"})
    refusals = Refusals([busy])
    async with serve(store, config, clock, keys, api=answer_api(refusals)) as client:
        dapp = client.using(keys.dapp)
        first = await dapp.request("POST", "/v1/probe/answer", json=BODY, headers=idem("busy"))
        assert (first.status, first.headers["Retry-After"]) == (409, "1")
        retried = await dapp.request("POST", "/v1/probe/answer", json=BODY, headers=idem("busy"))
        assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
        assert refusals.calls == 2
        # The answer that ran to the end is the key's: replayed.
        again = await dapp.request("POST", "/v1/probe/answer", json=BODY, headers=idem("busy"))
        assert (again.status, again.body) == (201, retried.body)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert refusals.calls == 2


async def test_the_key_with_another_request_is_422(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    probe = Probe()
    async with serve(store, config, clock, keys, api=probe_api(probe)) as client:
        op = client.using(keys.operator)
        assert (
            await op.request("POST", "/v1/probe/operator", json=BODY, headers=idem("k"))
        ).status == 201
        for path, body in (
            ("/v1/probe/operator", {"url": HOOK_URL + "/other"}),  # another body
            ("/v1/probe/operator?x=1", BODY),  # another query
            ("/v1/probe/dapp", BODY),  # another operation
        ):
            answer = await op.request("POST", path, json=body, headers=idem("k"))
            assert (answer.status, answer.body["type"]) == (
                422,
                PROBLEMS + "idempotency-key-reused",
            ), path
        assert probe.calls == 1 and len(await store.webhooks()) == 1


async def test_a_request_still_running_is_409(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    probe = Probe(gate=asyncio.Event())
    async with serve(store, config, clock, keys, api=probe_api(probe)) as client:
        dapp = client.using(keys.dapp)
        first = asyncio.create_task(
            dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("slow"))
        )
        await asyncio.wait_for(probe.entered.wait(), 10)
        running = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("slow"))
        assert (running.status, running.body["type"]) == (409, PROBLEMS + "idempotency-in-progress")
        assert running.headers["Retry-After"] == "1"
        assert probe.gate is not None
        probe.gate.set()
        assert (await first).status == 201
        after = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("slow"))
        assert after.headers["Idempotent-Replayed"] == "true"
        assert probe.calls == 1


async def test_a_5xx_frees_the_key_for_a_retry(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    probe = Probe(fail=1)
    async with serve(store, config, clock, keys, api=probe_api(probe)) as client:
        dapp = client.using(keys.dapp)
        failed = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("retry"))
        assert failed.status == 500
        retried = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("retry"))
        assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
        assert probe.calls == 2 and len(await store.webhooks()) == 1


async def test_stored_answers_survive_a_restart(
    store: Store, store_url: str, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    async with serve(store, config, clock, keys, api=probe_api()) as client:
        first = await client.using(keys.dapp).request(
            "POST", "/v1/probe/dapp", json=BODY, headers=idem("durable")
        )
    # Another process: a new Store on the same database, a new app.
    reopened = await Store.open(store_url, migrate=False, clock=clock)
    try:
        probe = Probe()
        async with serve(reopened, config, clock, keys, api=probe_api(probe)) as client:
            dapp = client.using(keys.dapp)
            again = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("durable"))
            assert (again.status, again.body) == (201, first.body)
            assert again.headers["Idempotent-Replayed"] == "true"
            other = await dapp.request(
                "POST", "/v1/probe/dapp", json={"url": HOOK_URL + "/2"}, headers=idem("durable")
            )
            assert other.status == 422
            assert probe.calls == 0
    finally:
        await reopened.close()


async def test_answers_expire_after_24_hours(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    probe = Probe()
    async with serve(store, config, clock, keys, api=probe_api(probe)) as client:
        dapp = client.using(keys.dapp)
        await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("day"))
        clock.advance(24 * 3600 + 1)
        again = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("day"))
        assert again.status == 201 and "Idempotent-Replayed" not in again.headers
        assert probe.calls == 2


async def test_bad_idempotency_keys_are_400(
    store: Store, config: XgateConfig, clock: Clock, keys: Keys
) -> None:
    probe = Probe()
    async with serve(store, config, clock, keys, api=probe_api(probe)) as client:
        dapp = client.using(keys.dapp)
        for bad in ("x" * 129, "tab\there", "naïve"):
            answer = await dapp.request(
                "POST", "/v1/probe/dapp", json=BODY, headers={"Idempotency-Key": bad}
            )
            assert (answer.status, answer.body["type"]) == (
                400,
                PROBLEMS + "invalid-idempotency-key",
            ), bad
            assert bad not in str(answer.body)
        assert probe.calls == 0
        ok = await dapp.request("POST", "/v1/probe/dapp", json=BODY, headers=idem("~" * 128))
        assert ok.status == 201
