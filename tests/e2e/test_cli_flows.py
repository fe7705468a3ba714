# ruff: noqa: F811  (the SDK flows' fixtures are imported here, and named again as parameters)
"""The write side of the `xgate` commands on the SDK, as real processes against a real
``xgate api`` on the devnet (the fixtures of tests/e2e/test_sdk_flows.py: the API process and the
wallet; a dApp key; the e2e folder's ``xgate run`` relays): ``xgate transfer quote`` and ``build`` for a
lock of settlement tokens, the built transactions signed by the test's wallet (the devnet
account's key) and forwarded with ``xgate transfer submit``, ``xgate transfer status --wait``
until the lock is delivered on the public chain, then ``xgate swap propose`` and
``xgate swap status --json``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from gateway.api.models import UnsignedTx
from gateway.domain.apikeys import Scope
from gateway.store import Store
from harness.services import XGATE, ServiceProcess
from tests.api.test_events_process import ApiProcess
from tests.e2e.conftest import DELIVERY_TIMEOUT_S, Devnet
from tests.e2e.test_sdk_flows import (  # noqa: F401  (fixtures, found by pytest here)
    ADMIN,
    ALICE,
    BOB,
    TOKENS,
    api,
    proposal,
    sign,
)


@pytest.fixture(scope="module")
async def dapp_token(devnet: Devnet, api: ApiProcess) -> str:
    """A dApp key, made with the store's facade as ``xgate keys create`` does."""
    store = await Store.open(devnet.config.store.url, migrate=False)
    try:
        created = await store.create_api_key(
            "cli-dapp", [Scope.DAPP, Scope.READ], rate_per_s=1000, burst=1000
        )
    finally:
        await store.close()
    return created.token


async def xgate(*args: str, api: ApiProcess, token: str, timeout_s: float = 60) -> tuple[Any, str]:
    """One `xgate ... --json` process: its one JSON answer and its stderr (exit 0 asserted)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGATE_")}
    proc = await asyncio.create_subprocess_exec(
        *XGATE,
        *args,
        "--api",
        api.base,
        "--json",
        env={**env, "XGATE_API_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode == 0, (args, proc.returncode, err.decode())
    assert token not in out.decode() + err.decode()
    [line] = out.decode().splitlines()
    return json.loads(line), err.decode()


async def test_a_lock_quoted_built_submitted_and_followed_and_a_swap_proposed_with_xgate(
    devnet: Devnet,
    services: ServiceProcess,
    api: ApiProcess,
    dapp_token: str,
    tmp_path: Path,
) -> None:
    token = dapp_token
    c = devnet.consortium
    settlement = devnet.contract("c.settlement_token")
    wrapped = devnet.contract("p.wrapped_settlement_token")
    alice, bob = devnet.address(ALICE), devnet.address(BOB)
    c.send(settlement.functions.mint(alice, TOKENS), sender=ADMIN)  # setup: the issuer mints
    bob_wrapped = wrapped.functions.balanceOf(bob).call()
    terms = (
        *("--from-chain", str(devnet.cid), "--to-chain", str(devnet.pid)),
        *("--asset", "settlement_token", "--amount", str(TOKENS)),
        *("--sender", alice, "--recipient", bob),
    )

    async def submit(tx: UnsignedTx) -> str:
        """The wallet signs; `xgate transfer submit` forwards it; its tracking id once mined."""
        raw = sign(devnet, tx, ALICE).hex()
        sent, _ = await xgate(
            "transfer", "submit", "--chain", str(tx.chain_id), "--raw", raw, api=api, token=token
        )
        assert to_checksum_address(sent["sender"]) == alice
        await asyncio.to_thread(c.wait, bytes.fromhex(sent["tx_hash"][2:]))
        tracking_id: str = sent["tracking_id"]
        return tracking_id

    quote, _ = await xgate("transfer", "quote", *terms, api=api, token=token)
    assert (quote["src_chain_id"], quote["dst_chain_id"]) == (devnet.cid, devnet.pid)
    assert int(quote["fees"]["protocol_fee"]) == 0 and quote["fees"]["source_txs"] == 2
    built, _ = await xgate("transfer", "build", *terms, api=api, token=token)
    approve, lock = (UnsignedTx.model_validate_json(json.dumps(tx)) for tx in built["txs"])
    assert lock.gas is None  # estimable once the approval is mined
    await submit(approve)
    built, _ = await xgate("transfer", "build", *terms, api=api, token=token)
    [lock] = (
        UnsignedTx.model_validate_json(json.dumps(tx)) for tx in built["txs"]
    )  # the lock alone, with gas
    assert to_checksum_address(lock.to) == devnet.contract("c.vault").address
    tracking = await submit(lock)

    # `--wait` follows it on the API's event stream while the clocks are kept in step (the
    # light client takes no consortium header from its future).
    waiting = asyncio.ensure_future(
        xgate(
            *("transfer", "status", tracking, "--wait", "--timeout", str(DELIVERY_TIMEOUT_S)),
            api=api,
            token=token,
            timeout_s=DELIVERY_TIMEOUT_S + 30,
        )
    )
    try:
        while not waiting.done():
            devnet.sync_clocks()
            assert services.alive(), services.output()
            await asyncio.wait([waiting], timeout=0.25)
        delivered, progress = waiting.result()
    finally:
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, AssertionError):
            await waiting
    assert delivered["tracking_id"] == tracking and delivered["status"] == "delivered"
    assert delivered["history"][-1]["to"] == "delivered"
    assert progress == ""  # --json: no progress on stderr
    assert wrapped.functions.balanceOf(bob).call() == bob_wrapped + TOKENS

    body = tmp_path / "swap.json"
    body.write_text(proposal(devnet, hashlib.sha256(os.urandom(32)).digest()).model_dump_json())
    proposed, _ = await xgate("swap", "propose", "--body", str(body), api=api, token=token)
    assert proposed["state"] == "proposed"
    shown, _ = await xgate("swap", "status", proposed["swap_id"], api=api, token=token)
    assert shown["swap_id"] == proposed["swap_id"] and shown["state"] == "proposed"
    assert shown["initiator_leg"]["chain_id"] == devnet.pid
    assert shown["participant_leg"]["chain_id"] == devnet.cid
