"""The operator's dashboard in Chromium while the devnet and the relay services run: a lock on
the consortium appears on the transfers page and reaches delivered through the event stream,
without a reload, each status on its row's history; its page has the status history and the
manual-execution data; the routes page refuses the operator's changes to a read key and to an
unsigned operator key, and with the operator's key answers the guardian's pause (which the
test's wallet sends: the page shows the route paused) and the timelock's resume (scheduled,
executed after the delay: the page shows it open again); every page shows its data with no
console error, a transfer held for its size is cancelled by the guardian from the routes page
(the wallet sends the transaction the page shows), and the key never reaches the page's HTML, its URL or local storage."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any

from aiohttp import ClientSession
from playwright.async_api import expect

from gateway.cli.deployment import (
    DEVNET_GOVERNOR_ACCOUNT,
    DEVNET_GUARDIAN_ACCOUNT,
    SETTLEMENT_LIMIT,
)
from harness.chain import Chain
from harness.services import ServiceProcess
from tests.api.test_events_process import ApiProcess
from tests.e2e.conftest import Devnet
from tests.web.conftest import Dashboard, Key

USER, ADMIN, STRANGER = 7, 0, 8
HOLD_PENDING = 1  # TransferLimits.HoldState.Pending
DELIVERY_TIMEOUT_MS = 120_000
# What Chromium says of an answer the test expects to be refused (the page shows the problem).
REFUSED = ("status of 401", "status of 403")


def send_as_wallet(devnet: Devnet, chain: Chain, tx: dict[str, Any]) -> None:
    """What the operator's governance wallet does with an unsigned transaction of the API."""
    assert tx["chain_id"] == chain.chain_id
    sender = next(i for i in range(10) if devnet.address(i) == tx["sender"])
    gas = None if tx["gas"] is None else int(tx["gas"])
    chain.send_raw_tx(tx["to"], bytes.fromhex(tx["data"][2:]), sender=sender, gas=gas)


async def recorded(devnet: Devnet, receipt: Any) -> bytes:
    """The id of the message a consortium transaction sent, once the services recorded it."""
    for _ in range(240):
        records = await asyncio.to_thread(devnet.records, "c", receipt)
        if records:
            return records[0].id
        await asyncio.sleep(0.25)
    raise AssertionError("the relay services recorded no message of the lock")


async def propose_swap(devnet: Devnet, api: ApiProcess, key: Key) -> str:
    """A native-coin swap between two users proposed through the API (its ``proposed`` event)."""
    body = {
        "hashlock": "0x" + secrets.token_bytes(32).hex(),
        "initiator": {
            "chain_id": devnet.cid,
            "address": devnet.address(USER),
            "asset": {"kind": "native", "value": "1000"},
        },
        "participant": {
            "chain_id": devnet.pid,
            "address": devnet.address(STRANGER),
            "asset": {"kind": "native", "value": "2000"},
        },
    }
    headers = {"Authorization": f"Bearer {key.token}"}
    async with (
        ClientSession() as session,
        session.post(f"{api.base}/v1/swaps", json=body, headers=headers) as response,
    ):
        answer = await response.json()
        assert response.status == 201, answer
    swap_id: str = answer["swap_id"]
    return swap_id


async def action_result(board: Dashboard) -> dict[str, Any]:
    result = board.page.locator("#action-result")
    await expect(result).to_have_attribute("data-state", "ok")
    answer: dict[str, Any] = json.loads(await result.text_content() or "")
    return answer


async def test_a_lock_on_the_consortium_appears_and_reaches_delivered_without_reload(
    devnet: Devnet, services: ServiceProcess, dashboard: Dashboard, keys: dict[str, Key]
) -> None:
    page = dashboard.page
    await dashboard.open("/dashboard/transfers")
    await dashboard.use_key(keys["read"])
    await expect(page.locator("#stream-state")).to_have_attribute("data-state", "open")
    await page.evaluate("window.__notReloaded = true")

    c = devnet.consortium
    token, vault = devnet.contract("c.settlement_token"), devnet.contract("c.vault")
    user, amount = devnet.address(USER), 2_000_000
    c.send(token.functions.mint(user, amount), sender=ADMIN)
    c.send(token.functions.approve(vault.address, amount), sender=USER)
    lock = c.send(vault.functions.lockERC20(token.address, amount, devnet.pid, user), sender=USER)
    devnet.sync_clocks()  # the light client takes no header from its future
    message_id = "0x" + (await recorded(devnet, lock)).hex()

    row = page.locator(f'#transfers tbody tr[data-id="{message_id}"]')
    await expect(row).to_have_count(1)
    first_status = await row.get_attribute("data-status")
    await dashboard.screenshot("transfer-appeared")
    await expect(row).to_have_attribute("data-status", "delivered", timeout=DELIVERY_TIMEOUT_MS)
    await dashboard.screenshot("transfer-delivered")
    assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    history = (await row.locator("td").nth(5).text_content() or "").split(" → ")
    assert history[0] == first_status and first_status != "delivered"
    assert history[-1] == "delivered" and "submitted" in history, history

    # The filters keep it or hide it.
    await page.select_option("#filter-status", "parked")
    await expect(row).to_have_count(0)
    await page.select_option("#filter-status", "delivered")
    await page.fill("#filter-text", message_id)
    await expect(page.locator("#transfers tbody tr")).to_have_count(1)

    await row.locator("a.transfer-link").click()
    await expect(page.locator('#transfer-fields tr[data-field="status"]')).to_contain_text(
        "delivered"
    )
    statuses = await page.locator("#transfer-history tbody tr td:nth-child(3)").all_text_contents()
    assert statuses[-1] == "delivered" and "submitted" in statuses
    await page.click("#manual-load")
    # Delivered: the API answers that there is nothing left to execute, and the page says so.
    await expect(page.locator("#manual-execution")).to_contain_text("409 Already delivered")
    await dashboard.screenshot("transfer-page")
    assert dashboard.unexpected_errors("status of 409") == []


async def test_operator_changes_are_refused_without_the_operator_key_and_pause_and_resume_a_route(
    devnet: Devnet, dashboard: Dashboard, keys: dict[str, Key]
) -> None:
    page, p, cid, pid = dashboard.page, devnet.public, devnet.cid, devnet.pid
    endpoint = devnet.contract("p.endpoint")
    await dashboard.open("/dashboard/routes")
    await dashboard.use_key(keys["read"])
    await expect(page.locator("#notice")).to_contain_text("403")
    await expect(page.locator("#routes tbody tr[data-route]")).to_have_count(0)

    # The operator's key without its signing key: the routes are read, a change is refused.
    await dashboard.use_key(keys["operator"], sign=False)
    route = page.locator(f'#routes tbody tr[data-route="{pid}-{cid}"]')
    await expect(route).to_have_count(1)
    await expect(route.locator("[data-paused]")).to_have_text("open")
    await page.fill("#gov-sender", devnet.address(DEVNET_GUARDIAN_ACCOUNT))
    await route.locator("button.pause").click()
    result = page.locator("#action-result")
    await expect(result).to_have_attribute("data-state", "refused")
    await expect(result).to_contain_text("401")
    await expect(result).to_contain_text("signed")
    assert endpoint.functions.route(cid).call()[2] is False

    await dashboard.use_key(keys["operator"])
    await expect(page.locator("#key-state")).to_contain_text("signs changes")
    try:
        await route.locator("button.pause").click()
        paused = await action_result(dashboard)
        assert (paused["action"], paused["mode"]) == ("pause", "immediate")
        send_as_wallet(devnet, p, paused["txs"][0])
        await expect(route.locator("[data-paused]")).to_have_text("paused", timeout=20_000)
        await dashboard.screenshot("route-paused")

        await page.fill("#gov-sender", devnet.address(DEVNET_GOVERNOR_ACCOUNT))
        await page.fill("#gov-executor", devnet.address(STRANGER))
        await route.locator("button.resume").click()
        resumed = await action_result(dashboard)
        assert resumed["action"] == "resume" and resumed["mode"] == "timelocked"
        schedule, execute = resumed["txs"]
        send_as_wallet(devnet, p, schedule)
        p.advance_time(resumed["operation"]["delay_s"])
        send_as_wallet(devnet, p, execute)
        devnet.sync_clocks()
        await expect(route.locator("[data-paused]")).to_have_text("open", timeout=20_000)
        await dashboard.screenshot("route-resumed")
    finally:
        if endpoint.functions.route(cid).call()[2]:
            devnet.govern("p", endpoint.functions.unpauseRoute(cid), salt=b"\x0c" * 32)
    assert dashboard.unexpected_errors(*REFUSED) == []


async def test_a_delayed_transfer_is_cancelled_by_the_guardian_from_the_routes_page(
    devnet: Devnet, services: ServiceProcess, dashboard: Dashboard, keys: dict[str, Key]
) -> None:
    page, c, p, cid, pid = dashboard.page, devnet.consortium, devnet.public, devnet.cid, devnet.pid
    token, vault = devnet.contract("c.settlement_token"), devnet.contract("c.vault")
    gateway = devnet.contract("p.asset_gateway")
    user, amount = devnet.address(USER), SETTLEMENT_LIMIT.delay_above + 1  # held on arrival
    c.send(token.functions.mint(user, amount), sender=ADMIN)
    c.send(token.functions.approve(vault.address, amount), sender=USER)
    lock = c.send(vault.functions.lockERC20(token.address, amount, devnet.pid, user), sender=USER)
    devnet.sync_clocks()
    message_id = "0x" + (await recorded(devnet, lock)).hex()

    await dashboard.open("/dashboard/routes")
    await dashboard.use_key(keys["operator"])
    held = page.locator(f'#held tbody tr[data-message="{message_id}"]')
    await expect(held).to_have_count(1, timeout=DELIVERY_TIMEOUT_MS)
    await expect(held).to_contain_text("asset_gateway")
    await dashboard.screenshot("held-transfer")

    await page.fill("#gov-sender", devnet.address(STRANGER))
    await held.locator("button.cancel").click()
    await expect(page.locator("#action-result")).to_contain_text("422 Sender lacks the role")
    await page.fill("#gov-sender", devnet.address(DEVNET_GUARDIAN_ACCOUNT))
    await held.locator("button.cancel").click()
    cancel = await action_result(dashboard)
    assert (cancel["action"], cancel["chain_id"], cancel["remote_chain_id"]) == (
        "cancel_held",
        pid,
        cid,
    )
    send_as_wallet(devnet, p, cancel["txs"][0])
    await expect(held).to_have_count(0, timeout=20_000)
    assert gateway.functions.holds(bytes.fromhex(message_id[2:])).call()[2] != HOLD_PENDING
    await dashboard.screenshot("held-transfer-cancelled")
    assert dashboard.unexpected_errors("status of 422") == []


async def test_every_page_shows_live_data_with_no_console_error_and_keeps_the_key_private(
    devnet: Devnet, api: ApiProcess, dashboard: Dashboard, keys: dict[str, Key]
) -> None:
    page = dashboard.page
    operator = keys["operator"]
    await dashboard.open("/dashboard/")
    await expect(page.locator("#notice")).to_contain_text("Paste an API key")
    await dashboard.use_key(operator)

    chains = page.locator("#chains tbody tr[data-chain]")
    await expect(chains).to_have_count(2)
    heads = await page.locator("#chains tbody tr td:nth-child(4)").all_text_contents()
    assert all(int(h) > 0 for h in heads), heads
    await expect(page.locator("#light-clients tbody tr[data-counterpart]")).to_have_count(2)
    await expect(page.locator('#services tr[data-service="relay"] .state')).to_have_text("ready")
    await expect(page.locator("#checkpoints tbody tr")).not_to_have_count(0)
    await dashboard.screenshot("overview")

    await dashboard.open("/dashboard/routes")
    await expect(page.locator("#routes tbody tr[data-route]")).to_have_count(2)
    await expect(page.locator("#limits tbody tr[data-route]")).not_to_have_count(0)
    await dashboard.screenshot("routes")

    await dashboard.open("/dashboard/charts")
    # The deliveries of the module's earlier tests (none when this test runs alone).
    await expect(page.locator("body")).to_have_attribute("data-charted", re.compile(r"^\d+$"))
    assert await page.evaluate("document.getElementById('latency-chart').toDataURL().length > 1000")
    await dashboard.screenshot("charts")

    # A swap proposed while the page is open appears on it.
    await dashboard.open("/dashboard/swaps")
    await expect(page.locator("#swaps tbody tr.empty")).to_have_count(1)
    swap_id = await propose_swap(devnet, api, keys["dapp"])
    swap = page.locator(f'#swaps tbody tr[data-swap="{swap_id}"]')
    await expect(swap).to_contain_text("proposed")
    await expect(swap).to_contain_text(f"consortium ({devnet.cid})")
    await dashboard.screenshot("swaps")

    await dashboard.open("/dashboard/credit")
    await expect(page.locator("#credit tbody tr")).to_have_count(1)  # "no credit events yet"
    await dashboard.screenshot("credit")

    html = await page.content()
    stored = await page.evaluate("JSON.stringify(localStorage)")
    cookies = await page.context.cookies()
    assert operator.token not in html and operator.token not in page.url
    assert operator.signing_seed_hex not in html and operator.token not in stored
    assert cookies == []
    await page.click("#key-forget")
    await expect(page.locator("#key-state")).to_have_attribute("data-state", "none")
    assert await page.evaluate("sessionStorage.length") == 0
    assert dashboard.unexpected_errors() == []
