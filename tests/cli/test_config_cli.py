"""`xgate config check` as an operator runs it: the real CLI in a subprocess on real files.

Each bad file fails with exit status 2 and one line per problem, ``FILE: key.path: message``;
a good file prints ``ok: N chains, M routes``. Nothing read from a key file is ever printed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

_SCRIPT = Path(sys.executable).with_name("xgate")
XGATE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "gateway"]

KEY = "0x" + "4c" * 32  # a valid secp256k1 key; must never appear in any output
VALIDATORS = ["0x" + f"{i:02x}" * 20 for i in range(1, 5)]


def _contracts(*names: str) -> dict[str, str]:
    return {name: "0x" + f"{i + 0xA0:02x}" * 20 for i, name in enumerate(names)}


BASE: dict[str, Any] = {
    "store": {"url": "sqlite:///xgate.db"},
    "chains": {
        "consortium": {
            "kind": "qbft",
            "rpc_urls": ["http://127.0.0.1:8545"],
            "chain_id": 20250,
            "finality": "instant",
            "trusted_validators": VALIDATORS,
            "contracts": _contracts("endpoint", "header_store"),
        },
        "public": {
            "kind": "evm",
            "rpc_urls": ["http://127.0.0.1:8546"],
            "chain_id": 31337,
            "finality": {"confirmations": 2},
            "contracts": _contracts("endpoint", "light_client"),
        },
    },
    "routes": [{"from": "consortium", "to": "public"}, {"from": "public", "to": "consortium"}],
    "signers": {"relayer": {"key_file": "keys/relayer.key"}},
    "relayer": {"signer": "relayer"},
}


def write_config(folder: Path, raw: dict[str, Any], key_mode: int = 0o600) -> Path:
    keys = folder / "keys"
    keys.mkdir(exist_ok=True)
    key_file = keys / "relayer.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(key_mode)
    path = folder / "xgate.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def variant(**changes: Any) -> dict[str, Any]:
    """BASE with ``changes`` applied at dotted paths (``chains__public__chain_id``); a value of
    None deletes the key."""
    raw = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = raw
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return raw


def xgate_check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*XGATE, "config", "check", "--config", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
    )


def assert_problems(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit status 2 and exactly the ``expected`` lines (each a prefix of its line)."""
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(expected), result.stderr
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert KEY[2:] not in result.stdout + result.stderr


def test_a_good_file_is_ok(tmp_path: Path) -> None:
    result = xgate_check(write_config(tmp_path, BASE))
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok: 2 chains, 2 routes\n", "")


def test_an_unknown_key_is_one_line_naming_its_path(tmp_path: Path) -> None:
    raw = variant(chains__public__finalty="finalized")
    path = write_config(tmp_path, raw)
    assert_problems(
        xgate_check(path), f"{path}: chains.public.finalty: unknown key (check its spelling"
    )


def test_a_wrong_type_is_one_line_naming_its_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, variant(chains__public__chain_id="31337"))
    assert_problems(xgate_check(path), f"{path}: chains.public.chain_id: expected an integer")


def test_every_problem_is_its_own_line(tmp_path: Path) -> None:
    raw = variant(
        chains__consortium__chain_id=0,
        chains__public__rpc_urls=["ftp://example.org"],
        relayer__sleep=True,
    )
    path = write_config(tmp_path, raw)
    assert_problems(
        xgate_check(path),
        f"{path}: chains.consortium.chain_id: must be >= 1",
        f"{path}: chains.public.rpc_urls[0]: expected an http:// or https:// URL",
        f"{path}: relayer.sleep: unknown key",
    )


def test_a_missing_signer_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, variant(relayer__signer="hot-wallet"))
    assert_problems(
        xgate_check(path), f"{path}: relayer.signer: no signer named 'hot-wallet' in [signers]"
    )


def test_a_key_file_readable_by_others_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE, key_mode=0o644)
    key_file = tmp_path / "keys" / "relayer.key"
    assert_problems(
        xgate_check(path),
        f"{path}: signers.relayer: key file {key_file} is accessible to group or others; "
        f"run `chmod 600 {key_file}`",
    )


def test_a_missing_key_file_and_an_unset_variable_are_one_line_each(tmp_path: Path) -> None:
    raw = variant(
        signers__relayer={"key_file": "keys/gone.key"},
        signers__keeper={"key_file_env": "XGATE_TEST_UNSET_KEY_FILE"},
    )
    path = write_config(tmp_path, raw)
    assert_problems(
        xgate_check(path),
        f"{path}: signers.relayer: cannot read key file {tmp_path / 'keys' / 'gone.key'}",
        f"{path}: signers.keeper.key_file_env: environment variable XGATE_TEST_UNSET_KEY_FILE",
    )


def test_a_file_that_is_not_there_or_not_toml_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    assert_problems(xgate_check(missing), f"{missing}: cannot read it")
    path = write_config(tmp_path, BASE)
    path.write_text("[chains\n")
    assert_problems(xgate_check(path), f"{path}: not valid TOML")


def test_json_prints_the_verdict_or_every_problem_as_one_object(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE)
    result = xgate_check(path, "--json")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {"ok": True, "config": str(path), "chains": 2, "routes": 2}
    raw = variant(chains__consortium__chain_id=0, relayer__sleep=True)
    bad = write_config(tmp_path, raw, key_mode=0o644)
    result = xgate_check(bad, "--json")
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    error = json.loads(line)["error"]
    assert error["message"] == f"{bad}: 2 problems"
    assert error["problems"] == [
        f"{bad}: chains.consortium.chain_id: must be >= 1",
        f"{bad}: relayer.sleep: unknown key (check its spelling and section)",
    ]
    # The signers are only checked on a file that validates: one more problem, its key unread.
    result = xgate_check(write_config(tmp_path, BASE, key_mode=0o644), "--json")
    [problem] = json.loads(result.stderr)["error"]["problems"]
    assert "signers.relayer: key file" in problem and KEY[2:] not in result.stderr
    assert "\x1b" not in result.stdout + result.stderr


def closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connect_reports_an_unreachable_endpoint_without_its_path(tmp_path: Path) -> None:
    port = closed_loopback_port()
    url = f"http://127.0.0.1:{port}/v3/secret-api-key"
    path = write_config(tmp_path, variant(chains__public__rpc_urls=[url]))
    assert xgate_check(path).returncode == 0  # without --connect nothing is dialled
    result = xgate_check(path, "--connect")
    # The consortium's 8545 is closed too: each endpoint is its own line.
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert f"{path}: chains.public.rpc_urls[0]: http://127.0.0.1:{port} unreachable" in "\n".join(
        lines
    )
    assert all(" unreachable (" in line for line in lines) and len(lines) == 2, lines
    assert "secret-api-key" not in result.stdout + result.stderr
    # --json: the problems and what each endpoint served (nothing: unreachable), path-less.
    result = xgate_check(path, "--connect", "--json")
    assert (result.returncode, result.stdout) == (2, "")
    error = json.loads(result.stderr)["error"]
    assert len(error["problems"]) == 2
    assert error["endpoints"][1] == {
        "key": "chains.public.rpc_urls[0]",
        "chain": "public",
        "url": f"http://127.0.0.1:{port}",
        "chain_id": 31337,
        "served_chain_id": None,
    }
    assert "secret-api-key" not in result.stderr


async def _check_async(path: Path, *extra: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *XGATE,
        "config",
        "check",
        "--config",
        str(path),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


@pytest.mark.live
async def test_connect_passes_on_live_nodes_and_names_a_chain_id_mismatch(
    tmp_path: Path, anvil_node: Any, consortium_node: Any
) -> None:
    raw = variant(
        chains__consortium__rpc_urls=[consortium_node.url],
        chains__consortium__chain_id=consortium_node.chain_id,
        chains__public__rpc_urls=[anvil_node.url],
        chains__public__chain_id=int(anvil_node.chain_id),
    )
    path = write_config(tmp_path, raw)
    code, out, err = await _check_async(path, "--connect")
    assert (code, err) == (0, ""), err
    assert out == "ok: 2 chains, 2 routes; 2 RPC endpoints answered with their chain ids\n"
    code, out, err = await _check_async(path, "--connect", "--json")
    assert (code, err) == (0, ""), err
    seen = {e["chain"]: e["served_chain_id"] for e in json.loads(out)["endpoints"]}
    assert seen == {"consortium": consortium_node.chain_id, "public": int(anvil_node.chain_id)}

    raw["chains"]["public"]["chain_id"] = 1
    path.write_text(tomli_w.dumps(raw))
    code, out, err = await _check_async(path, "--connect")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"{path}: chains.public.rpc_urls[0]: {anvil_node.url} serves chain id "
        f"{int(anvil_node.chain_id)}, but chain_id is 1"
    ]
