"""`xgate keys create | list | revoke` as real processes on a store file: the operator's
bootstrap. The token is printed once (by create, never by list); a signing scope needs its
Ed25519 public key; the keys created work against the API (an operator key signs a POST) and
a revoked one stops at once; an unknown key and an unmigrated store are refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import tomli_w
from nacl.signing import SigningKey

from gateway.config import XgateConfig
from gateway.domain.apikeys import Scope
from gateway.store import Store
from harness.services import XGATE
from tests.api.conftest import Caller, config_data, serve
from tests.api.test_auth import HOOK_URL, probe_api
from tests.store.conftest import Clock


def xgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*XGATE, *args], capture_output=True, text=True, timeout=60)


async def keys(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return await asyncio.to_thread(xgate, "keys", command, "--config", str(config), *rest)


async def test_keys_create_list_revoke(
    store: Store, store_url: str, clock: Clock, tmp_path: Path
) -> None:
    config_path = tmp_path / "xgate.toml"
    config_path.write_text(tomli_w.dumps(config_data(store_url)))
    signer = SigningKey.generate()
    public_hex = bytes(signer.verify_key).hex()

    done = await keys(config_path, "create", "--name", "ops", "--scope", "operator", "--json")
    assert done.returncode == 1 and "--ed25519-public-key" in done.stderr

    done = await keys(
        config_path,
        "create",
        *("--name", "ops", "--scope", "operator", "--ed25519-public-key", public_hex),
        *("--rate", "5", "--burst", "7", "--json"),
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    operator = json.loads(line)
    assert operator["scopes"] == ["operator"] and operator["name"] == "ops"
    assert (operator["rate_per_s"], operator["burst"]) == (5.0, 7)
    assert operator["ed25519_public_key"] == public_hex and operator["revoked_at"] is None
    token = operator["token"]
    assert token.startswith(f"xg_{operator['key_id']}_") and token not in done.stderr

    done = await keys(config_path, "create", "--name", "app", "--scope", "read", "--scope", "dapp")
    assert done.returncode == 0, done.stderr
    assert "token=xg_" in done.stdout and "shown this once" in done.stderr
    assert "scopes=dapp,read" in done.stdout

    listed = await keys(config_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(e["name"], e["scopes"]) for e in entries] == [
        ("ops", ["operator"]),
        ("app", ["dapp", "read"]),
    ]
    assert "token" not in entries[0] and token.split("_", 2)[2] not in listed.stdout

    # The key works against the API: reads, and a signed POST.
    record = await store.api_key(operator["key_id"])
    assert record is not None and record.scopes == {Scope.OPERATOR}
    config = XgateConfig.model_validate(config_data(store_url))
    async with serve(store, config, clock, api=probe_api()) as client:
        api = client.using(Caller(token, record, signer))
        answer = await api.request("POST", "/v1/probe/operator", json={"url": HOOK_URL})
        assert answer.status == 201
        revoked = await keys(config_path, "revoke", operator["key_id"], "--json")
        assert revoked.returncode == 0, revoked.stderr
        assert json.loads(revoked.stdout)["revoked_at"] is not None
        answer = await api.request("GET", "/v1/probe/operator")
        assert (answer.status, answer.body["type"]) == (
            401,
            "https://xgate.dev/problems/invalid-api-key",
        )

    active = await keys(config_path, "list", "--active", "--json")
    assert [json.loads(line)["name"] for line in active.stdout.splitlines()] == ["app"]
    unknown = await keys(config_path, "revoke", "f" * 16)
    assert unknown.returncode == 1 and "no API key" in unknown.stderr
    bad = await keys(config_path, "create", "--name", "x", "--scope", "read", "--rate", "0")
    assert bad.returncode == 2 and "rate" in bad.stderr


def test_keys_refuse_a_store_that_is_not_migrated(tmp_path: Path) -> None:
    config_path = tmp_path / "xgate.toml"
    config_path.write_text(tomli_w.dumps(config_data(f"sqlite:///{tmp_path / 'empty.db'}")))
    done = xgate("keys", "list", "--config", str(config_path))
    assert done.returncode == 2, done.stderr
    assert "xgate keys list" in done.stderr
