"""`xgate keys create | list | revoke --api URL` as real processes against the real API app
(served by the test on a loopback port): the operator's signed requests through the SDK, the
same output as on the store, the remote exit codes, and the operator's token never printed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import tomli_w
from nacl.signing import SigningKey

from gateway.domain.apikeys import Scope
from gateway.store import Store
from harness.services import XGATE
from tests.api.conftest import Keys, config_data
from tests.sdk.test_cli import Run, clean_env
from tests.store.conftest import Clock


async def xgate(*args: str, env: dict[str, str]) -> Run:
    proc = await asyncio.create_subprocess_exec(
        *XGATE,
        *args,
        env={**clean_env(), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_keys_create_list_revoke_through_the_api(
    base_url: str, keys: Keys, store: Store, store_url: str, clock: Clock, tmp_path: Path
) -> None:
    # The processes sign with the real time: the app's clock must be near it.
    clock.now = datetime.now(UTC)
    operator = keys.operator
    assert operator.signing_key is not None
    key_file = tmp_path / "operator.key"
    key_file.write_text(bytes(operator.signing_key).hex())
    signed = {"XGATE_API_TOKEN": operator.token, "XGATE_SIGNING_KEY_FILE": str(key_file)}
    runs: list[Run] = []

    async def keys_cmd(*args: str, env: dict[str, str] = signed, api: str = base_url) -> Run:
        command, *rest = args
        run = await xgate("keys", command, "--api", api, *rest, env=env)
        runs.append(run)
        return run

    created = await keys_cmd("create", "--name", "app", "--scope", "read", "--scope", "dapp")
    assert created.code == 0, created.err
    assert "token=xg_" in created.out and "shown this once" in created.err
    assert "scopes=dapp,read" in created.out and "name=app" in created.out
    app_token = created.out.split("token=")[1].split()[0]

    signer = SigningKey.generate()
    public_hex = bytes(signer.verify_key).hex()
    created = await keys_cmd(
        "create",
        *("--name", "ops2", "--scope", "operator", "--ed25519-public-key", public_hex),
        *("--rate", "5", "--burst", "7", "--json"),
    )
    assert created.code == 0, created.err
    [ops2] = created.lines()
    assert (ops2["name"], ops2["scopes"], ops2["ed25519_public_key"]) == (
        "ops2",
        ["operator"],
        public_hex,
    )
    assert (ops2["rate_per_s"], ops2["burst"], ops2["revoked_at"]) == (5.0, 7, None)
    assert ops2["token"].startswith(f"xg_{ops2['key_id']}_")
    record = await store.api_key(ops2["key_id"])
    assert record is not None and record.scopes == {Scope.OPERATOR}
    assert record.ed25519_public_key == bytes(signer.verify_key)
    account = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    bound = await keys_cmd(
        "create",
        *("--name", "rating", "--scope", "issuer", "--ed25519-public-key", public_hex),
        *("--chain-account", account, "--json"),
    )
    assert bound.code == 0, bound.err
    [rating] = bound.lines()
    assert rating["chain_account"] == account

    listed = await keys_cmd("list", "--json")
    assert listed.code == 0, listed.err
    entries = listed.lines()
    assert {"app", "ops2"} <= {e["name"] for e in entries}  # made at the same (test) time
    assert all("token" not in e for e in entries)
    assert ops2["token"].split("_", 2)[2] not in listed.out
    assert app_token.split("_", 2)[2] not in listed.out

    # The same shape as on the store (`xgate keys list --config`).
    config_path = tmp_path / "xgate.toml"
    config_path.write_text(tomli_w.dumps(config_data(store_url)))
    on_store = await xgate("keys", "list", "--json", "--config", str(config_path), env={})
    assert on_store.code == 0, on_store.err
    assert on_store.lines() == entries

    revoked = await keys_cmd("revoke", ops2["key_id"], "--json")
    assert revoked.code == 0, revoked.err
    [gone] = revoked.lines()
    assert gone["key_id"] == ops2["key_id"] and gone["revoked_at"] is not None
    active = await keys_cmd("list", "--active")
    assert active.code == 0, active.err
    assert "name=app" in active.out and "name=ops2" not in active.out
    assert "token=" not in active.out

    # Refusals: the API's problems and the remote exit codes.
    # (In parallel: each is a process of its own.)
    (
        unknown,
        unsigned,
        read_only,
        no_key,
        no_token,
        unreachable,
        both,
        verbose,
    ) = await asyncio.gather(
        keys_cmd("revoke", "f" * 16, "--json"),
        keys_cmd(
            "create", "--name", "x", "--scope", "read", env={"XGATE_API_TOKEN": operator.token}
        ),
        keys_cmd("list", "--json", env={"XGATE_API_TOKEN": keys.read.token}),
        # A signing scope without its public key: refused before any request.
        keys_cmd("create", "--name", "x", "--scope", "issuer", "--json"),
        keys_cmd("list", env={}),
        keys_cmd("list", api="http://127.0.0.1:9"),
        keys_cmd("list", "--config", str(config_path)),
        xgate("-v", "keys", "list", "--api", base_url, env=signed),
    )
    assert (unknown.code, unknown.out) == (1, "")
    assert json.loads(unknown.err)["error"]["status"] == 404
    assert unsigned.code == 1 and "401 signature-required" in unsigned.err, unsigned.err
    assert read_only.code == 1
    assert json.loads(read_only.err)["error"]["type"].endswith("/insufficient-scope")
    assert no_key.code == 1 and "--ed25519-public-key" in no_key.err
    assert no_token.code == 2 and "XGATE_API_TOKEN" in no_token.err
    assert unreachable.code == 3, unreachable.err
    assert both.code == 2 and "--api and --config" in both.err
    assert verbose.code == 0, verbose.err
    runs.append(verbose)
    token_flag = await xgate(
        "keys", "list", "--config", str(config_path), "--token", operator.token, env={}
    )
    assert token_flag.code == 2 and "give --api" in token_flag.err
    assert token_flag.out == "" and operator.token not in token_flag.err

    # The operator's token and signing key are never printed.
    seed = bytes(operator.signing_key).hex()
    for run in runs:
        assert operator.token not in run.out + run.err
        assert operator.token.split("_", 2)[2] not in run.out + run.err
        assert seed not in run.out + run.err
