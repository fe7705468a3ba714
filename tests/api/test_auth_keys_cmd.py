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


async def test_an_issuer_key_is_created_with_its_chain_account(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    config_path = tmp_path / "xgate.toml"
    config_path.write_text(tomli_w.dumps(config_data(store_url)))
    public_hex = bytes(SigningKey.generate().verify_key).hex()
    issuer = ("--name", "rating", "--scope", "issuer", "--ed25519-public-key", public_hex)
    account = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

    unbound = await keys(config_path, "create", *issuer)
    assert unbound.returncode == 1 and "--chain-account" in unbound.stderr
    for bad in ("0x1234", account.lower()[:-1] + "7", account.replace("f39F", "F39f")):
        refused = await keys(config_path, "create", *issuer, "--chain-account", bad)
        assert refused.returncode == 2 and "--chain-account" in refused.stderr, bad
    assert await store.api_keys() == []

    done = await keys(config_path, "create", *issuer, "--chain-account", account, "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["chain_account"] == account
    record = await store.api_key(created["key_id"])
    assert record is not None and record.chain_account == bytes.fromhex(account[2:])
    reader = await keys(config_path, "create", "--name", "r", "--scope", "read", "--json")
    assert json.loads(reader.stdout)["chain_account"] is None
    listed = await keys(config_path, "list")
    assert f"chain_account={account}" in listed.stdout


def test_keys_refuse_a_store_that_is_not_migrated(tmp_path: Path) -> None:
    config_path = tmp_path / "xgate.toml"
    config_path.write_text(tomli_w.dumps(config_data(f"sqlite:///{tmp_path / 'empty.db'}")))
    done = xgate("keys", "list", "--config", str(config_path))
    assert done.returncode == 2, done.stderr
    assert "xgate keys list" in done.stderr
