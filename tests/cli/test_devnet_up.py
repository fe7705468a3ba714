"""`xgate devnet up` end to end: both chains answer, the summary file is right, the xgate.toml
written beside it loads and passes `xgate config check --connect`, a consortium header verifies
with `xgate proof verify-header` and links to the next block, Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from adapters.headers import encode_header, header_from_rpc
from harness.services import start_devnet_up, stop_devnet_up, wait_devnet_summary

XGATE = [sys.executable, "-m", "gateway"]


async def rpc(session: aiohttp.ClientSession, url: str, method: str, *params: object) -> object:
    async with session.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ) as r:
        body = await r.json()
    assert "error" not in body, body
    return body["result"]


def _start_up(
    out: Path, log: Path, *extra: str, stdout: Path | None = None
) -> subprocess.Popen[str]:
    return start_devnet_up(out, log, "--block-time", "0.5", *extra, stdout=stdout)


@pytest.fixture(scope="module")
def devnet_up(tmp_path_factory):
    folder = tmp_path_factory.mktemp("devnet")
    out, log = folder / "devnet.json", folder / "up.log"
    # --json: the summary is printed as one JSON line too (test_json_prints_the_summary_once)
    proc = _start_up(out, log, "--json", stdout=folder / "up.out")
    yield proc, wait_devnet_summary(proc, out, log)
    stop_devnet_up(proc)  # a worker without test_ctrl_c_stops_everything_cleanly


def test_summary_names_both_chains_with_dev_only_accounts(devnet_up):
    _, summary = devnet_up
    assert "DEV ONLY" in summary["warning"]
    consortium, public = summary["consortium"], summary["public"]
    assert consortium["chain_id"] != public["chain_id"]
    assert len(consortium["validators"]) == 4
    assert consortium["dev_accounts"][0]["address"] == public["dev_accounts"][0]["address"]


async def test_both_chains_answer_with_their_chain_ids(devnet_up):
    _, summary = devnet_up
    async with aiohttp.ClientSession() as session:
        for side in ("consortium", "public"):
            chain_id = await rpc(session, summary[side]["rpc_url"], "eth_chainId")
            assert int(chain_id, 16) == summary[side]["chain_id"]


async def test_consortium_header_verifies_with_the_cli_and_links_to_the_next_block(devnet_up):
    _, summary = devnet_up
    url = summary["consortium"]["rpc_url"]
    async with aiohttp.ClientSession() as session:
        while int(await rpc(session, url, "eth_blockNumber"), 16) < 3:
            await asyncio.sleep(0.2)
        block = await rpc(session, url, "eth_getBlockByNumber", "0x2", False)
        child = await rpc(session, url, "eth_getBlockByNumber", "0x3", False)
    header_hex = "0x" + encode_header(header_from_rpc(block)).hex()
    proc = await asyncio.create_subprocess_exec(
        *XGATE,
        "proof",
        "verify-header",
        "--kind",
        "qbft",
        "--validators",
        ",".join(summary["consortium"]["validators"]),
        header_hex,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stdout + stderr
    verdict = json.loads(stdout)
    assert verdict["valid"] is True
    assert verdict["hash"] == block["hash"] == child["parentHash"]
    assert len(verdict["signers"]) >= verdict["quorum"] == 3


def test_every_listed_contract_has_code_on_its_chain(devnet_up):
    from web3 import Web3

    _, summary = devnet_up
    contracts = summary["contracts"]
    assert {"endpoint", "header_store", "vault", "receivable", "credit_registry"} <= set(
        contracts["consortium"]
    )
    assert {"endpoint", "qbft_light_client", "asset_gateway", "credit_mirror"} <= set(
        contracts["public"]
    )
    for side in ("consortium", "public"):
        w3 = Web3(Web3.HTTPProvider(summary[side]["rpc_url"]))
        for name, item in contracts[side].items():
            assert Path(item["abi"]).is_file(), name
            assert len(w3.eth.get_code(item["address"])) > 0, f"{side}.{name} has no code"


def test_endpoints_are_wired_to_each_other_and_to_their_header_oracles(devnet_up):
    from web3 import Web3

    from contracts import load_artifact

    _, summary = devnet_up
    c, p = summary["contracts"]["consortium"], summary["contracts"]["public"]
    abi = list(load_artifact("BridgeEndpoint").abi)
    consortium = Web3(Web3.HTTPProvider(summary["consortium"]["rpc_url"]))
    public = Web3(Web3.HTTPProvider(summary["public"]["rpc_url"]))
    c_endpoint = consortium.eth.contract(address=c["endpoint"]["address"], abi=abi)
    p_endpoint = public.eth.contract(address=p["endpoint"]["address"], abi=abi)
    remote, oracle, paused = c_endpoint.functions.route(summary["public"]["chain_id"]).call()
    assert (remote, oracle, paused) == (
        p["endpoint"]["address"],
        c["header_store"]["address"],
        False,
    )
    remote, oracle, paused = p_endpoint.functions.route(summary["consortium"]["chain_id"]).call()
    assert (remote, oracle, paused) == (
        c["endpoint"]["address"],
        p["qbft_light_client"]["address"],
        False,
    )


def test_public_light_client_accepts_a_devnet_header_and_refuses_a_tampered_one(devnet_up):
    from eth_account import Account
    from eth_utils import keccak
    from web3 import Web3
    from web3.exceptions import ContractCustomError
    from web3.middleware import ExtraDataToPOAMiddleware

    from contracts import load_artifact

    _, summary = devnet_up
    consortium = Web3(Web3.HTTPProvider(summary["consortium"]["rpc_url"]))
    consortium.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    public = Web3(Web3.HTTPProvider(summary["public"]["rpc_url"]))
    light_client = public.eth.contract(
        address=summary["contracts"]["public"]["qbft_light_client"]["address"],
        abi=list(load_artifact("QbftLightClient").abi),
    )
    relayer = Account.from_key(summary["public"]["dev_accounts"][5]["private_key"])

    number = consortium.eth.block_number
    block = consortium.provider.make_request("eth_getBlockByNumber", [hex(number), False])["result"]
    header = encode_header(header_from_rpc(block))
    tampered = bytearray(header)
    tampered[-40] ^= 0x01  # any flipped byte changes the digests, so no seal matches

    with pytest.raises(ContractCustomError) as refused:
        light_client.functions.submitHeader(bytes(tampered)).call({"from": relayer.address})
    # The flipped byte changes the commit digest, so the seals recover to non-validators.
    sealer_not_validator = "0x" + keccak(text="SealerNotValidator(uint256,address)")[:4].hex()
    assert str(refused.value.data).startswith(sealer_not_validator), refused.value

    tx = light_client.functions.submitHeader(header).build_transaction(
        {"from": relayer.address, "nonce": public.eth.get_transaction_count(relayer.address)}
    )
    receipt = public.eth.wait_for_transaction_receipt(
        public.eth.send_raw_transaction(relayer.sign_transaction(tx).raw_transaction)
    )
    assert receipt["status"] == 1
    assert light_client.functions.isAccepted(block["hash"]).call() is True


def test_the_written_xgate_toml_loads_with_every_chain_contract_route_and_signer(devnet_up):
    import stat

    from gateway.config import load_config, load_signer

    proc, summary = devnet_up
    folder = Path(proc.args[proc.args.index("--out") + 1]).parent
    cfg = load_config(folder / "xgate.toml")
    assert set(cfg.chains) == {"consortium", "public"} and cfg.hub == "consortium"
    for side in ("consortium", "public"):
        chain = cfg.chains[side]
        assert chain.rpc_urls == (summary[side]["rpc_url"],)
        assert chain.chain_id == summary[side]["chain_id"]
        written = chain.contracts.model_dump(mode="json", exclude_none=True)
        deployed = {
            "light_client" if name == "qbft_light_client" else name: item["address"]
            for name, item in summary["contracts"][side].items()
        }
        assert written == deployed  # every deployed contract, checksummed
    consortium = cfg.chains["consortium"]
    assert consortium.finality == "instant"
    assert cfg.chains["public"].finality_policy.depth is not None
    assert {"0x" + v.hex() for v in consortium.trusted_validators or ()} == {
        v.lower() for v in summary["consortium"]["validators"]
    }
    anchor = summary["consortium"]["trust_anchor"]
    assert (consortium.trusted_height, "0x" + (consortium.trusted_hash or b"").hex()) == (
        anchor["height"],
        anchor["hash"],
    )
    assert {route.name for route in cfg.routes} == {"consortium->public", "public->consortium"}
    assert cfg.store.url == f"sqlite:///{folder.resolve() / 'xgate.db'}"
    assert (cfg.relayer.signer, cfg.attester.signers, cfg.keeper.signer) == (
        "relayer",
        ("attester-1", "attester-2"),
        "keeper",
    )
    assert cfg.attester.chains == ("public",)
    accounts = summary["consortium"]["dev_accounts"]
    expected = {"relayer": 5, "attester-1": 1, "attester-2": 2, "attester-3": 3, "keeper": 6}
    assert set(cfg.signers) == set(expected)
    assert stat.S_IMODE((folder / "keys").stat().st_mode) == 0o700
    for name, account in expected.items():
        key_file = cfg.signers[name].key_file
        assert key_file == folder.resolve() / "keys" / f"{name}.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        signer = load_signer(cfg.signers[name], {}, name=name)
        assert "0x" + signer.address.hex() == accounts[account]["address"].lower()


def test_json_prints_the_summary_once_as_one_line_and_logs_stay_on_stderr(devnet_up):
    proc, summary = devnet_up
    printed = Path(proc.args[proc.args.index("--out") + 1]).with_name("up.out")
    deadline = time.monotonic() + 10
    while not printed.read_text().endswith("\n") and time.monotonic() < deadline:
        time.sleep(0.1)  # printed right after the file is written
    [line] = printed.read_text().splitlines()
    assert json.loads(line) == summary
    assert "xgate devnet is up" not in printed.read_text()
    log = printed.with_name("up.log").read_text()
    assert "consortium devnet ready" in log and "\x1b" not in line + log


def test_json_refuses_bad_arguments_with_one_json_error(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    for extra, message in (
        (["--validators", "0"], "--validators must be at least 1"),
        (["--demo"], "--json and --demo: the demo's narration is for people, not scripts"),
    ):
        done = subprocess.run(
            [*XGATE, "devnet", "up", "--json", "--out", str(out), *extra],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (done.returncode, done.stdout) == (2, "")
        assert json.loads(done.stderr) == {"error": {"message": message}}
    assert not out.exists()


async def test_config_check_connect_passes_against_the_running_devnet(devnet_up):
    proc, _ = devnet_up
    config = Path(proc.args[proc.args.index("--out") + 1]).with_name("xgate.toml")
    check = await asyncio.create_subprocess_exec(
        *XGATE,
        "config",
        "check",
        "--config",
        str(config),
        "--connect",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await check.communicate()
    assert (check.returncode, stderr.decode()) == (0, "")
    assert (
        stdout.decode() == "ok: 2 chains, 2 routes; 2 RPC endpoints answered with their chain ids\n"
    )


# Last: it stops the devnet the other tests share.
def test_ctrl_c_stops_everything_cleanly(devnet_up):
    proc, summary = devnet_up
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    # The chains' processes are gone: their ports refuse connections.
    import socket
    from urllib.parse import urlparse

    for side in ("consortium", "public"):
        parsed = urlparse(summary[side]["rpc_url"])
        with socket.socket() as sock, pytest.raises(OSError):
            sock.settimeout(1)
            sock.connect((parsed.hostname, parsed.port))


def _consortium_child(pid: int) -> int:
    """The pid of the consortium node among ``pid``'s children (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if b"devnet.node" in cmdline and b"consortium" in cmdline:
            return int(child)
    raise AssertionError(f"no consortium node among the children {children}")


def test_a_dead_child_node_is_reported_and_the_command_exits_non_zero(tmp_path):
    out, log = tmp_path / "devnet.json", tmp_path / "up.log"
    proc = _start_up(out, log)
    try:
        summary = wait_devnet_summary(proc, out, log)
        node_pid = _consortium_child(proc.pid)
        assert summary["consortium"]["pid"] == node_pid
        os.kill(node_pid, signal.SIGKILL)
        try:
            status = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("xgate devnet up did not notice its consortium node died")
        assert status == 1
    finally:
        stop_devnet_up(proc)
    text = log.read_text()
    assert "consortium devnet node" in text and "exited unexpectedly" in text, text


def test_a_restart_on_the_same_data_dir_reuses_the_deployed_contracts(tmp_path):
    from web3 import Web3

    out, log, data = tmp_path / "devnet.json", tmp_path / "up.log", tmp_path / "chains"
    proc = _start_up(out, log, "--data-dir", str(data))
    try:
        first = wait_devnet_summary(proc, out, log)
        time.sleep(1.5)  # anvil dumps its state every second (and on exit)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        written = out.stat().st_mtime
        proc = _start_up(out, log, "--data-dir", str(data))
        second = wait_devnet_summary(proc, out, log, newer_than=written)
        assert second["contracts"] == first["contracts"]
        assert "reusing the" in log.read_text()
        # The rewritten xgate.toml keeps the light client's trust anchor and the new URLs.
        from gateway.config import load_config

        assert second["consortium"]["trust_anchor"] == first["consortium"]["trust_anchor"]
        cfg = load_config(out.with_name("xgate.toml"))
        assert cfg.chains["consortium"].rpc_urls == (second["consortium"]["rpc_url"],)
        assert cfg.chains["public"].contracts.endpoint is not None
        for side in ("consortium", "public"):
            w3 = Web3(Web3.HTTPProvider(second[side]["rpc_url"]))
            for name, item in second["contracts"][side].items():
                assert len(w3.eth.get_code(item["address"])) > 0, f"{side}.{name} has no code"
    finally:
        stop_devnet_up(proc)


def test_two_public_chains_are_summarised_and_written_with_four_routes_one_with_private_terms(
    tmp_path: Path,
) -> None:
    from web3 import Web3

    from gateway.config import load_config

    out, log = tmp_path / "devnet.json", tmp_path / "up.log"
    proc = _start_up(out, log, "--public-chains", "2", "--private-terms", "public-2")
    try:
        summary = wait_devnet_summary(proc, out, log)
        # the vault sends receivables to public-2 with a commitment only, to public in full
        w3 = Web3(Web3.HTTPProvider(summary["consortium"]["rpc_url"]))
        vault = summary["contracts"]["consortium"]["vault"]["address"]
        private_terms = Web3.keccak(text="privateTerms(uint256)")[:4]
        flags = {
            side: int.from_bytes(
                w3.eth.call(
                    {
                        "to": vault,
                        "data": private_terms + summary[side]["chain_id"].to_bytes(32, "big"),
                    }
                ),
                "big",
            )
            for side in ("public", "public-2")
        }
        assert flags == {"public": 0, "public-2": 1}
    finally:
        stop_devnet_up(proc)
    assert summary["private_terms"] == ["public-2"]
    ids = {side: summary[side]["chain_id"] for side in ("consortium", "public", "public-2")}
    assert len(set(ids.values())) == 3
    assert summary["public"]["rpc_url"] != summary["public-2"]["rpc_url"]
    for side in ("public", "public-2"):
        assert {"endpoint", "qbft_light_client", "asset_gateway"} <= set(summary["contracts"][side])
    cfg = load_config(out.with_name("xgate.toml"))
    assert {name: chain.chain_id for name, chain in cfg.chains.items()} == ids
    assert {route.name for route in cfg.routes} == {
        "consortium->public",
        "public->consortium",
        "consortium->public-2",
        "public-2->consortium",
    }
    assert cfg.attester is not None and set(cfg.attester.chains) == {"public", "public-2"}
    assert {r.name for r in cfg.routes if r.private_terms} == {"consortium->public-2"}


def test_private_terms_for_a_chain_that_is_not_started_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [*XGATE, "devnet", "up", "--private-terms", "public-2", "--out", str(tmp_path / "d.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--private-terms ['public-2']: not a public chain" in done.stderr
    assert not (tmp_path / "d.json").exists()
