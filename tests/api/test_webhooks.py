"""The webhook operations over HTTP: a dapp key registers a webhook (its secret shown once),
lists and deletes its own; another key's webhooks do not exist for it; an operator sees and
deletes anyone's; URLs are https (loopback only on a development gateway); dead letters are
the operator's."""

from __future__ import annotations

import pytest

from gateway.api.webhooks import check_webhook_url
from gateway.domain.apikeys import Scope
from gateway.domain.events import EventKind
from gateway.store import Store
from tests.api.conftest import HUB, PUBLIC, ApiClient, Keys, create_caller
from tests.store.conftest import new_message, scan

ON_BOTH_STORES = True  # tests/api/conftest.py

URL = "https://hooks.example.com/xgate?team=7"


async def test_a_dapp_registers_lists_and_deletes_its_webhook(
    api: ApiClient, keys: Keys, store: Store
) -> None:
    dapp = api.using("dapp")
    created = await dapp.request("POST", "/v1/webhooks", json={"url": URL, "kinds": ["message"]})
    assert created.status == 201, created.body
    hook = created.body
    assert (hook["url"], hook["kinds"], hook["key_id"]) == (URL, ["message"], keys.dapp.key_id)
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    stored = await store.webhook(hook["id"])
    assert stored is not None and stored.secret == hook["secret"]
    listed = await dapp.get("/v1/webhooks")
    assert listed.status == 200
    assert [h["id"] for h in listed.body["items"]] == [hook["id"]]
    assert "secret" not in listed.body["items"][0]  # shown once, at creation
    deleted = await dapp.request("DELETE", f"/v1/webhooks/{hook['id']}")
    assert deleted.status == 200 and deleted.body["disabled_at"] is not None
    assert (await dapp.get("/v1/webhooks")).body["items"] == []
    assert (await dapp.request("DELETE", f"/v1/webhooks/{hook['id']}")).status == 404


async def test_another_keys_webhook_does_not_exist_for_a_dapp_but_does_for_an_operator(
    api: ApiClient, keys: Keys, store: Store
) -> None:
    mine = api.using("dapp")
    theirs = api.using(await create_caller(store, Scope.DAPP, name="other dapp"))
    created = await theirs.request("POST", "/v1/webhooks", json={"url": URL, "kinds": ["swap"]})
    hook_id = created.body["id"]
    assert (await mine.get("/v1/webhooks")).body["items"] == []
    refused = await mine.request("DELETE", f"/v1/webhooks/{hook_id}")
    assert refused.status == 404
    assert (await mine.request("DELETE", "/v1/webhooks/987654")).status == 404
    hook = await store.webhook(hook_id)
    assert hook is not None and hook.disabled_at is None
    operator = api.using("operator")
    assert [h["id"] for h in (await operator.get("/v1/webhooks")).body["items"]] == [hook_id]
    assert (await operator.request("DELETE", f"/v1/webhooks/{hook_id}")).status == 200
    # A read key may not touch webhooks at all.
    assert (await api.using("read").get("/v1/webhooks")).status == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/x", "kinds": ["message"]}, "body.url"),
        ({"url": "https://127.0.0.1:9000/x", "kinds": ["message"]}, "body.url"),
        ({"url": "https://10.1.2.3/x", "kinds": ["message"]}, "body.url"),
        ({"url": "https://user:pw@hooks.example.com/x", "kinds": ["message"]}, "body.url"),
        ({"url": "ftp://hooks.example.com/x", "kinds": ["message"]}, "body.url"),
        ({"url": URL, "kinds": []}, "body.kinds"),
        ({"url": URL, "kinds": ["transfer"]}, "body.kinds[0]"),
        ({"url": URL}, "body.kinds"),
        ({"url": URL, "kinds": ["message"], "secret": "mine"}, "body.secret"),
    ],
)
async def test_a_bad_webhook_is_a_400_naming_the_field(
    api: ApiClient, body: dict[str, object], field: str
) -> None:
    answer = await api.using("dapp").request("POST", "/v1/webhooks", json=body)
    assert answer.status == 400
    assert [e["field"] for e in answer.body["errors"]] == [field]
    assert "hooks.example.com" not in str(answer.body["errors"])  # input never echoed


def test_webhook_urls() -> None:
    ok = [
        "https://hooks.example.com/x",
        "https://8.8.8.8:8443/hook",
    ]
    dev_only = [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
        "https://127.0.0.2/hook",
    ]
    never = [
        "http://hooks.example.com/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://0.0.0.0/x",
        "https://h.example.com/x#frag",
        "hooks.example.com/x",
        "https://2130706433/x",
        "https://0x7f.1/x",
        "https://[::ffff:10.0.0.1]/x",
    ]
    for url in ok:
        assert check_webhook_url(url, allow_loopback=False) is None, url
        assert check_webhook_url(url, allow_loopback=True) is None, url
    for url in dev_only:
        assert check_webhook_url(url, allow_loopback=False) is not None, url
        assert check_webhook_url(url, allow_loopback=True) is None, url
    for url in never:
        assert check_webhook_url(url, allow_loopback=True) is not None, url


async def test_dead_letters_are_the_operators(api: ApiClient) -> None:
    assert (await api.using("dapp").get("/v1/operator/dead-letters")).status == 403
    listed = await api.using("operator").get("/v1/operator/dead-letters?limit=5")
    assert (listed.status, listed.body) == (200, {"items": []})
    missing = await api.using("operator").request("POST", "/v1/operator/dead-letters/1/2/replay")
    assert missing.status == 404
    bad = await api.using("operator").get("/v1/operator/dead-letters?webhook_id=x")
    assert bad.status == 400


async def test_a_key_has_at_most_20_webhooks(api: ApiClient) -> None:
    dapp = api.using("dapp")
    ids = []
    for n in range(20):
        body = {"url": f"{URL}&n={n}", "kinds": ["message"]}
        created = await dapp.request("POST", "/v1/webhooks", json=body)
        assert created.status == 201
        ids.append(created.body["id"])
    refused = await dapp.request("POST", "/v1/webhooks", json={"url": URL, "kinds": ["swap"]})
    assert (refused.status, refused.body["type"]) == (
        409,
        "https://xgate.dev/problems/too-many-webhooks",
    )
    assert (await dapp.request("DELETE", f"/v1/webhooks/{ids[0]}")).status == 200
    again = await dapp.request("POST", "/v1/webhooks", json={"url": URL, "kinds": ["swap"]})
    assert again.status == 201


async def test_a_dead_letter_of_a_deleted_webhook_is_not_replayed(
    api: ApiClient, keys: Keys, store: Store
) -> None:
    hook = await store.create_webhook(keys.dapp.key_id, URL, "s" * 32, [EventKind.MESSAGE])
    await scan(store, [new_message(1, src=HUB, dst=PUBLIC)], chain=HUB)
    [due] = await store.claim_deliveries("test", limit=1, lease_s=30)
    await store.record_delivery_failure(
        hook.id, due.event.id, "test", "HTTP 500", retry_at=due.delivery.next_at, max_attempts=1
    )
    await store.disable_webhook(hook.id)
    path = f"/v1/operator/dead-letters/{hook.id}/{due.event.id}/replay"
    refused = await api.using("operator").request("POST", path)
    assert (refused.status, refused.body["type"]) == (
        409,
        "https://xgate.dev/problems/webhook-deleted",
    )
    [dead] = await store.dead_deliveries()
    assert dead.webhook_id == hook.id  # still dead: nothing changed
