"""`xgate deploy` against real nodes (a QBFT consortium devnet and anvil), run as a subprocess:
a dry run sends nothing and shows the plan, roles and costs; a deployment killed part-way
(SIGKILL) completes when run again with one transaction per step and nothing deployed twice,
its wiring right on chain and written into the config; a finished deployment sends nothing;
the external signer (anvil answering eth_signTransaction) deploys; bad configs say what is
wrong."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from eth_utils.address import to_checksum_address

from adapters.errors import ConfigError
from adapters.signer import LocalSigner, RemoteSigner, SigningFailed, UnsignedTx
from adapters.types import Address, ChainId
from contracts import load_artifact
from gateway.cli.deployment import STEP_GAS
from gateway.config import load_config
from harness import rpc

XGATE = [sys.executable, "-m", "gateway"]
GOVERNOR, GUARDIAN = 4, 9
ATTESTERS = (1, 2, 3)
ADMIN_ROLE = b"\x00" * 32


@pytest.fixture(scope="module")
async def nodes() -> AsyncIterator[dict[str, Any]]:
    """A consortium devnet (sealing every transaction at once) and three anvils: ``slow`` mines
    a block every half second (so a deployment can be killed part-way), ``remote`` auto-mines
    and signs for its dev accounts (the external signer), ``lossy`` loses its pool."""
    from devnet.anvil import start_anvil
    from devnet.launcher import start_consortium

    async with (
        start_consortium(config={"instant_seal": True, "dev_accounts": 12}) as consortium,
        start_anvil(chain_id=31401, block_time=0.5) as slow,
        start_anvil(chain_id=31402) as remote,
        start_anvil(chain_id=31403) as lossy,
    ):
        yield {"consortium": consortium, "slow": slow, "remote": remote, "lossy": lossy}


def _addr(account: Any) -> str:
    return to_checksum_address(account.address)


def write_config(
    folder: Path,
    consortium: Any,
    public: Any,
    *,
    deployer: int = 0,
    external: bool = False,
    max_in_flight: int = 4,
) -> Path:
    """An operator's xgate.toml before deployment: chains, routes, a signer, [deploy]."""
    accounts = consortium.accounts
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "deployer.key"
    key.write_text("0x" + accounts[deployer].private_key.hex() + "\n")
    key.chmod(0o600)
    validators = ", ".join(f'"{to_checksum_address(v)}"' for v in consortium.validators)
    external_signer = ""
    if external:
        external_signer = (
            f'\n[signers.wallet]\nexternal_url = "{public.url}"\n'
            f'address = "{_addr(public.accounts[0])}"\n'
        )
    text = f"""# The operator's own notes: kept by xgate deploy.
[store]
url = "sqlite:///xgate.db"

[chains.consortium]
kind = "qbft"
rpc_urls = ["{consortium.url}"]
chain_id = {consortium.chain_id}
finality = "instant"
trusted_validators = [{validators}]

[chains.public]
kind = "evm"
rpc_urls = ["{public.url}"]
chain_id = {public.chain_id}
finality = {{ confirmations = 0 }}  # a dev chain

[[routes]]
from = "consortium"
to = "public"
private_terms = true

[[routes]]
from = "public"
to = "consortium"

[signers.deployer]
key_file = "deployer.key"
{external_signer}
[deploy]
signer = "deployer"
governor = "{_addr(accounts[GOVERNOR])}"
guardian = "{_addr(accounts[GUARDIAN])}"
attesters = [{", ".join(f'"{_addr(accounts[i])}"' for i in ATTESTERS)}]
attester_threshold = 2
timelock_delay_s = 5
hold_delay_s = 30
max_in_flight = {max_in_flight}
"""
    if external:
        text += '\n[deploy.chain_signers]\npublic = "wallet"\n'
    path = folder / "xgate.toml"
    path.write_text(text)
    return path


def xgate_deploy(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*XGATE, "deploy", "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=240,
    )


async def nonces(nodes_: dict[str, Any], address: str, *names: str) -> dict[str, int]:
    return {
        n: int(await rpc(nodes_[n].url, "eth_getTransactionCount", address, "latest"), 16)
        for n in names
    }


async def code_at(url: str, address: bytes) -> bytes:
    return bytes.fromhex(
        (await rpc(url, "eth_getCode", to_checksum_address(address), "latest"))[2:]
    )


def mined_steps(journal: Path, chain: str) -> int:
    try:
        data = json.loads(journal.read_text())
    except (FileNotFoundError, ValueError):
        return 0
    steps = data.get("chains", {}).get(chain, {}).get("steps", {})
    return sum(1 for s in steps.values() if s["status"] == "mined")


def step_gas(steps: Any) -> dict[str, int]:
    """Gas used per STEP_GAS key (a deployment's artifact, a call's ARTIFACT.function)."""
    steps = list(steps)
    artifacts = {
        s["step"].split()[3]: s["step"].split()[1] for s in steps if s["step"].startswith("deploy ")
    }
    out: dict[str, int] = {}
    for s in steps:
        if s["step"].startswith("deploy "):
            key = s["step"].split()[1]
        else:
            target, function = s["step"].rsplit(".", 1)
            key = f"{artifacts[target]}.{function}"
        out[key] = max(out.get(key, 0), s["gas_used"])
    return out


async def view(url: str, contract: str, address: str, function: str, *args: Any) -> Any:
    artifact = load_artifact(contract)
    data = artifact.call_data(function, *args)
    result = await rpc(url, "eth_call", {"to": address, "data": "0x" + data.hex()}, "latest")
    return bytes.fromhex(result[2:])


async def test_dry_run_prints_plan_roles_and_costs_and_sends_nothing(nodes, tmp_path):
    config = write_config(tmp_path, nodes["consortium"], nodes["slow"])
    deployer = _addr(nodes["consortium"].accounts[0])
    before = await nonces(nodes, deployer, "consortium", "slow")
    text = xgate_deploy(config, "--dry-run")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "dry run: nothing is sent" in out
    assert "deploy XgateTimelock as c.timelock" in out and "deploy QbftLightClient as p" in out
    assert "c.vault.setRemote" in out and "renounceRole" in out
    assert "roles afterwards:" in out and "proposers" in out and "enough" in out
    report = json.loads(xgate_deploy(config, "--dry-run", "--json").stdout)
    for chain in report["chains"].values():
        assert chain["steps_left"] == len(chain["steps"]) > 10
        assert chain["enough_balance"] and chain["gas_left"] > 0
        bases = {s["gas_basis"] for s in chain["steps"]}
        assert bases <= {"estimated", "measured", "limit"} and "estimated" in bases
    assert report["roles"]["consortium"]["proposers"] == [_addr(nodes["consortium"].accounts[4])]
    assert await nonces(nodes, deployer, "consortium", "slow") == before
    assert not (tmp_path / "xgate.deploy.json").exists()


async def test_a_killed_deployment_completes_when_run_again(nodes, tmp_path):
    consortium, public = nodes["consortium"], nodes["slow"]
    config = write_config(tmp_path, consortium, public, deployer=0)
    journal = tmp_path / "xgate.deploy.json"
    deployer = _addr(consortium.accounts[0])
    proc = await asyncio.create_subprocess_exec(
        *XGATE,
        "deploy",
        "--config",
        str(config),
        "--json",
        stdout=(tmp_path / "killed.out").open("w"),
        stderr=(tmp_path / "killed.log").open("w"),
    )
    deadline = time.monotonic() + 120
    while mined_steps(journal, "public") < 6:
        assert proc.returncode is None, (tmp_path / "killed.out").read_text()
        assert time.monotonic() < deadline, "no public steps mined within 120 s"
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    interrupted = json.loads(journal.read_text())
    assert not interrupted.get("finished")
    public_steps = interrupted["chains"]["public"]["steps"]
    assert len(public_steps) < interrupted["chains"]["public"]["total"]

    # The dry run of an interrupted deployment shows what is left of it.
    plan = json.loads(xgate_deploy(config, "--dry-run", "--json").stdout)
    assert plan["resuming"] and plan["anchor"] == interrupted["inputs"]["anchor"]
    mined = sum(1 for s in public_steps.values() if s["status"] == "mined")
    assert plan["chains"]["public"]["steps_left"] == len(plan["chains"]["public"]["steps"]) - mined

    done = xgate_deploy(config, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and not report["already_deployed"]
    final = json.loads(journal.read_text())
    assert final["finished"]
    # One transaction per step on each chain, nothing sent twice: the deployer's nonce.
    counts = await nonces(nodes, deployer, "consortium", "slow")
    assert counts == {
        "consortium": final["chains"]["consortium"]["total"],
        "slow": final["chains"]["public"]["total"],
    }
    # The steps recorded before the kill kept their transactions.
    for index, step in public_steps.items():
        if step["status"] == "mined":
            assert final["chains"]["public"]["steps"][index]["mined_tx"] == step["mined_tx"]

    cfg = load_config(config)
    assert "# The operator's own notes: kept by xgate deploy." in config.read_text()
    c, p = cfg.chains["consortium"].contracts, cfg.chains["public"].contracts
    for contracts, url in ((c, consortium.url), (p, public.url)):
        assert contracts.endpoint is not None and contracts.timelock is not None
        assert await code_at(url, contracts.endpoint)
    vault, gateway = to_checksum_address(c.vault), to_checksum_address(p.asset_gateway)
    remote = await view(consortium.url, "AssetVault", vault, "remoteOf", public.chain_id)
    assert remote[12:] == bytes(p.asset_gateway)
    back = await view(public.url, "WrappedAssetGateway", gateway, "remoteOf", consortium.chain_id)
    assert back[12:] == bytes(c.vault)
    # The light client's anchor is the one written into the config.
    hub = cfg.chains["consortium"]
    client = to_checksum_address(p.light_client)
    anchored = await view(public.url, "QbftLightClient", client, "anchorHash")
    latest = await view(public.url, "QbftLightClient", client, "latestNumber")
    assert hub.trusted_hash is not None and anchored == bytes(hub.trusted_hash)
    assert int.from_bytes(latest, "big") == hub.trusted_height
    assert hub.trusted_height == final["inputs"]["anchor"]["height"]
    # The timelock holds the admin role, the deployer none.
    for url, contracts in ((consortium.url, c), (public.url, p)):
        endpoint = to_checksum_address(contracts.endpoint)
        timelock = to_checksum_address(contracts.timelock)
        held = await view(url, "BridgeEndpoint", endpoint, "hasRole", ADMIN_ROLE, timelock)
        kept = await view(url, "BridgeEndpoint", endpoint, "hasRole", ADMIN_ROLE, deployer)
        assert int.from_bytes(held, "big") == 1 and int.from_bytes(kept, "big") == 0
    # Every step stayed within the gas the dry run assumes for it (STEP_GAS).
    for chain in final["chains"].values():
        for key, gas_used in step_gas(chain["steps"].values()).items():
            assert gas_used <= STEP_GAS[key] * 11 // 10, key

    # A finished deployment: checked, nothing sent.
    again = xgate_deploy(config, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_deployed"]
    assert await nonces(nodes, deployer, "consortium", "slow") == counts
    text = xgate_deploy(config)
    assert "already deployed: nothing sent" in text.stdout


def sent_steps(journal: Path, chain: str) -> int:
    try:
        return len(json.loads(journal.read_text())["chains"][chain]["steps"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


@pytest.mark.parametrize("fees_too_low", [False, True])
async def test_transactions_the_node_lost_are_sent_again_at_their_nonce(
    nodes, tmp_path, fees_too_low
):
    """Killed with transactions in the pool, which the node then loses: the rerun broadcasts
    the journal's signed bytes again (or, when the node refuses them because their fees no
    longer suffice, signs the steps again at the same nonces with raised fees), and every
    step still lands exactly once."""
    consortium, public = nodes["consortium"], nodes["lossy"]
    account = 6 if fees_too_low else 5
    config = write_config(tmp_path, consortium, public, deployer=account, max_in_flight=4)
    journal = tmp_path / "xgate.deploy.json"
    deployer = _addr(consortium.accounts[account])
    await rpc(public.url, "evm_setAutomine", False)
    proc = await asyncio.create_subprocess_exec(
        *XGATE, "deploy", "--config", str(config), "--json",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while sent_steps(journal, "public") < 4:
        assert proc.returncode is None, "xgate deploy ended before it was killed"
        assert time.monotonic() < deadline, "no public steps sent within 120 s"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the fourth broadcast follows its journal record
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    lost = json.loads(journal.read_text())["chains"]["public"]["steps"]
    assert len(lost) == 4 and all(s["status"] == "sent" for s in lost.values())
    await rpc(public.url, "anvil_dropAllTransactions")
    if fees_too_low:  # the next base fee above their fee cap: the node refuses their bytes
        fee_cap = max(s["attempts"][0]["fees"]["max_fee_per_gas"] for s in lost.values())
        await rpc(public.url, "anvil_setNextBlockBaseFeePerGas", hex(fee_cap + 1))
    await rpc(public.url, "evm_setAutomine", True)

    done = xgate_deploy(config, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("signing it again at nonce" in done.stderr) == fees_too_low
    final = json.loads(journal.read_text())
    assert final["finished"]
    counts = await nonces(nodes, deployer, "consortium", "lossy")
    assert counts["lossy"] == final["chains"]["public"]["total"]
    for index, step in lost.items():
        now = final["chains"]["public"]["steps"][index]
        assert now["nonce"] == step["nonce"] and now["status"] == "mined"
        assert now["attempts"][0] == step["attempts"][0]
        # Once a block is mined the base fee falls again: later bytes may be taken as they are.
        if index == "0" or not fees_too_low:
            assert len(now["attempts"]) == (2 if fees_too_low else 1)
        assert now["mined_tx"] == now["attempts"][-1]["tx_hash"]


async def test_the_external_signer_deploys_on_anvil(nodes, tmp_path):
    consortium, public = nodes["consortium"], nodes["remote"]
    config = write_config(tmp_path, consortium, public, deployer=7, external=True, max_in_flight=16)
    done = xgate_deploy(config, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    wallet = _addr(public.accounts[0])
    assert report["roles"]["public"]["arbiter"] == _addr(consortium.accounts[7])
    journal = json.loads((tmp_path / "xgate.deploy.json").read_text())
    assert journal["chains"]["public"]["deployer"] == wallet
    assert (await nonces(nodes, wallet, "remote"))["remote"] == journal["chains"]["public"]["total"]
    cfg = load_config(config)
    assert await code_at(public.url, cfg.chains["public"].contracts.endpoint)


async def test_the_external_signer_checks_what_it_gets_back(nodes):
    remote = nodes["remote"]
    account = remote.accounts[1]
    signer = RemoteSigner(remote.url, Address(bytes(account.address)))
    tx = UnsignedTx(ChainId(remote.chain_id), 1000, None, 0, b"\x60\x00", 60_000, 10**9, 10**8)
    signed = await signer.sign_transaction(tx)
    assert signed.raw[0] == 2
    other = LocalSigner(remote.accounts[2].private_key)
    foreign = await other.sign_transaction(tx)
    with pytest.raises(SigningFailed, match="another account"):
        signer.checked(tx, "0x" + foreign.raw.hex())
    mine = LocalSigner(account.private_key)
    changed = await mine.sign_transaction(
        UnsignedTx(ChainId(remote.chain_id), 1000, None, 0, b"\x60\x01", 60_000, 10**9, 10**8)
    )
    with pytest.raises(SigningFailed, match="data"):
        signer.checked(tx, "0x" + changed.raw.hex())
    with pytest.raises(SigningFailed, match="refused"):
        await RemoteSigner(remote.url, Address(b"\x01" * 20)).sign_transaction(tx)
    with pytest.raises(ConfigError):
        RemoteSigner("ftp://signer", Address(b"\x01" * 20))


def _bad(tmp_path: Path, edit: Any) -> subprocess.CompletedProcess[str]:
    class _Node:
        url = "http://127.0.0.1:9"
        chain_id = 1999
        validators = (b"\x01" * 20,)
        accounts = [
            type("A", (), {"address": "0x" + f"{i:040x}", "private_key": b"\x11" * 32})
            for i in range(1, 13)
        ]

    path = write_config(tmp_path, _Node(), _Node())
    doc = tomlkit.parse(path.read_text())
    edit(doc)
    path.write_text(tomlkit.dumps(doc))
    return xgate_deploy(path, "--dry-run")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["deploy"].__setitem__("chain_signers", {"moon": "deployer"}),
            "deploy.chain_signers.moon: no chain named 'moon'",
        ),
        (
            lambda d: d["deploy"].__setitem__("signer", "nobody"),
            "deploy.signer: no signer named 'nobody' in [signers]",
        ),
        (lambda d: d.pop("deploy"), "no [deploy] section"),
        (
            lambda d: d["deploy"].__setitem__("attester_threshold", 4),
            "deploy.attester_threshold: more than the 3 attesters listed",
        ),
        (
            lambda d: d["signers"]["deployer"].__setitem__("external_url", "http://x:1"),
            "give exactly one of keystore, key_file, key_file_env or external_url",
        ),
        (
            lambda d: d["signers"].__setitem__("wallet", {"external_url": "http://x:1"}),
            "signers.wallet: an external signer needs the address it signs for",
        ),
    ],
)
def test_a_bad_config_says_what_is_wrong(tmp_path, edit, message):
    result = _bad(tmp_path, edit)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
