"""`xgate besu-config` writes a Besu QBFT network's files, and `xgate devnet up --genesis` starts
the embedded consortium node from the same genesis: the genesis header it serves is the one a
Besu node computes from the file, its validators seal with the generated keys, the allowlist
beside the file is enforced, and bad files are refused with a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from adapters.besugenesis import (
    alloc_state_root,
    genesis_header,
    node_public_key,
    parse_genesis,
    read_node_key,
)
from adapters.bft import (
    address_of_key,
    decode_qbft_extra,
    qbft_hashes,
    qbft_quorum,
    recover_seal_signer,
)
from adapters.errors import ConfigError
from adapters.headers import header_from_rpc, header_hash
from devnet.genesis import devnet_config_for, load_genesis_setup
from devnet.keys import DevKey, dev_accounts
from harness import RpcError, SyncRpcClient
from harness.services import start_devnet_up, stop_devnet_up, wait_devnet_summary

XGATE = [sys.executable, "-m", "gateway"]
# Funded by hand in the genesis, never allowlisted (dev-only throwaway key).
OUTSIDER = DevKey(bytes.fromhex(Account.from_key(b"\x43" * 32).address[2:]), b"\x43" * 32)


def besu_config(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*XGATE, "besu-config", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("besu") / "net"
    done = besu_config(
        out,
        "--dev-accounts",
        "24",
        "--chain-id",
        "4242",
        "--enode-host",
        "10.0.0.{n}",
        "--enode-port",
        "3030{n}",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


# --- the files ---------------------------------------------------------------------------------


def test_genesis_is_qbft_with_the_validators_of_the_key_files_encoded_by_the_codec(network):
    out, summary = network
    data = json.loads((out / "genesis.json").read_text())
    assert data["config"]["chainId"] == 4242
    assert data["config"]["londonBlock"] == 0 and data["config"]["shanghaiTime"] == 0
    assert data["config"]["qbft"] == {
        "blockperiodseconds": 1,
        "epochlength": 30000,
        "requesttimeoutseconds": 10,
    }
    assert data["difficulty"] == "0x1"
    extra = decode_qbft_extra(bytes.fromhex(data["extraData"][2:]))
    assert (extra.vote, extra.round, extra.seals, len(extra.vanity)) == (None, 0, (), 32)
    keys = [read_node_key((out / f"node-{n}" / "key").read_text()) for n in range(1, 5)]
    assert list(extra.validators) == sorted(address_of_key(k) for k in keys)
    assert [v["address"] for v in summary["validators"]] == [
        "0x" + v.hex() for v in extra.validators
    ]
    for n, key in enumerate(keys, 1):
        assert (out / f"node-{n}" / "key").stat().st_mode & 0o077 == 0
        assert (out / f"node-{n}" / "key.pub").read_text() == "0x" + node_public_key(key).hex()
    funded = {a["balance"] for a in data["alloc"].values()}
    assert len(data["alloc"]) == 24 and funded == {hex(10_000 * 10**18)}


def test_static_nodes_and_permissions_name_every_node_and_account(network):
    out, summary = network
    enodes = json.loads((out / "static-nodes.json").read_text())
    pubs = [(out / f"node-{n}" / "key.pub").read_text()[2:] for n in range(1, 5)]
    assert enodes == [f"enode://{pub}@10.0.0.{n}:3030{n}" for n, pub in enumerate(pubs, 1)]
    permissions = tomllib.loads((out / "permissions_config.toml").read_text())
    assert permissions["nodes-allowlist"] == enodes
    assert permissions["accounts-allowlist"] == sorted(
        a.hex_address.lower() for a in dev_accounts(24)
    )
    assert summary["accounts"] == permissions["accounts-allowlist"]


def test_existing_keys_are_kept_unless_force(tmp_path):
    out = tmp_path / "net"
    assert besu_config(out, "--account", "0x" + "11" * 20, "--validators", "3").returncode == 0
    key = (out / "node-1" / "key").read_text()
    again = besu_config(out, "--account", "0x" + "11" * 20)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert (out / "node-1" / "key").read_text() == key
    forced = besu_config(out, "--account", "0x" + "11" * 20, "--validators", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / "node-1" / "key").read_text() != key
    assert not (out / "node-2" / "key").exists()  # a validator of the old network
    assert parse_genesis(json.loads((out / "genesis.json").read_text())).validators == (
        address_of_key(read_node_key((out / "node-1" / "key").read_text())),
    )


def test_accounts_must_be_named(tmp_path):
    done = besu_config(tmp_path / "net")
    assert done.returncode == 2 and "--account" in done.stderr
    assert not (tmp_path / "net").exists()


# --- bad genesis files -------------------------------------------------------------------------


def _copy(network: tuple[Path, dict[str, Any]], tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    out, _ = network
    target = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(out), str(target)], check=True)
    return target / "genesis.json", json.loads((out / "genesis.json").read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: g.update(extraData="0x" + "ab" * 40), "extraData: not QBFT extraData"),
        (lambda g: g["config"].update(osakaTime=0), "config.osakatime: a fork the embedded node"),
        (lambda g: g["config"].update(shanghaiTime=100), "forks must be active from genesis"),
        (lambda g: g["config"].pop("qbft"), "not a QBFT genesis"),
        (lambda g: g["config"].update(ibft2={}), "config.ibft2: not a QBFT genesis"),
        (lambda g: g.update(difficulty="0x2"), "difficulty"),
    ],
    ids=["extra-data", "unknown-fork", "fork-later", "no-qbft", "ibft2", "difficulty"],
)
def test_a_bad_genesis_is_refused_naming_what_is_wrong(network, tmp_path, change, message):
    path, data = _copy(network, tmp_path)
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as exc:
        load_genesis_setup(path)
    assert message in str(exc.value)


def test_a_validator_without_its_key_is_refused(network, tmp_path):
    path, _ = _copy(network, tmp_path)
    (path.parent / "node-3" / "key").unlink()
    with pytest.raises(ConfigError, match="has no node key in"):
        load_genesis_setup(path)


def test_devnet_up_refuses_a_bad_genesis_with_one_clear_line(network, tmp_path):
    path, data = _copy(network, tmp_path)
    data["extraData"] = "0x00"
    path.write_text(json.dumps(data))
    done = subprocess.run(
        [*XGATE, "devnet", "up", "--genesis", str(path), "--out", str(tmp_path / "d.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "extraData: not QBFT extraData" in done.stderr and "Traceback" not in done.stderr


def test_devnet_up_needs_the_dev_accounts_it_deploys_with(tmp_path):
    out = tmp_path / "net"
    assert besu_config(out, "--dev-accounts", "3").returncode == 0
    with pytest.raises(ConfigError, match=r"dev account 3 \(0x[0-9a-f]{40}\) is not funded"):
        devnet_config_for(load_genesis_setup(out / "genesis.json"), 24)


# --- devnet up --genesis -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def devnet(network, tmp_path_factory):
    folder = tmp_path_factory.mktemp("up")
    subprocess.run(["cp", "-r", str(network[0]), str(folder / "net")], check=True)
    # The genesis as an operator may edit it: one more account funded, not allowlisted.
    genesis = folder / "net" / "genesis.json"
    data = json.loads(genesis.read_text())
    data["alloc"][OUTSIDER.hex_address] = {"balance": "1000000000000000000000"}
    genesis.write_text(json.dumps(data, indent=2))
    summary_file, log = folder / "devnet.json", folder / "up.log"
    proc = start_devnet_up(summary_file, log, "--genesis", str(genesis))
    yield parse_genesis(data), wait_devnet_summary(proc, summary_file, log)
    assert stop_devnet_up(proc) == 0, log.read_text()


def test_the_genesis_header_is_the_one_besu_computes_from_the_file(devnet):
    genesis, summary = devnet
    rpc = SyncRpcClient(summary["consortium"]["rpc_url"])
    assert int(rpc.call("eth_chainId"), 16) == genesis.chain_id == summary["consortium"]["chain_id"]
    block = rpc.call("eth_getBlockByNumber", "0x0", False)
    served = header_from_rpc(block)
    expected = genesis_header(genesis, alloc_state_root(genesis.alloc))
    assert served == expected  # every field, extraData byte for byte
    assert block["hash"] == "0x" + bytes(header_hash(expected)).hex()
    assert [v.lower() for v in summary["consortium"]["validators"]] == [
        "0x" + v.hex() for v in genesis.validators
    ]
    for account in genesis.alloc:
        balance = rpc.call("eth_getBalance", "0x" + account.address.hex(), "0x0")
        assert int(balance, 16) == account.balance


def test_the_genesis_validators_seal_the_blocks_with_their_keys(devnet):
    genesis, summary = devnet
    rpc = SyncRpcClient(summary["consortium"]["rpc_url"])
    deadline = time.monotonic() + 30
    while int(rpc.call("eth_blockNumber"), 16) < 2:
        assert time.monotonic() < deadline, "no blocks sealed"
        time.sleep(0.2)
    block = rpc.call("eth_getBlockByNumber", "0x2", False)
    header = header_from_rpc(block)
    block_hash, digest = qbft_hashes(header)
    extra = decode_qbft_extra(header.extra_data)
    assert block["hash"] == "0x" + bytes(block_hash).hex()
    signers = {recover_seal_signer(digest, seal) for seal in extra.seals}
    assert signers <= set(genesis.validators)
    assert len(signers) >= qbft_quorum(len(genesis.validators))
    assert header.coinbase in genesis.validators
    parent = rpc.call("eth_getBlockByNumber", "0x1", False)
    assert header.parent_hash.hex() == parent["hash"][2:]


def test_the_allowlist_beside_the_genesis_is_enforced(devnet):
    genesis, summary = devnet
    rpc = SyncRpcClient(summary["consortium"]["rpc_url"])
    allowlist = rpc.call("perm_getAccountsAllowlist")
    assert sorted(allowlist) == sorted(a.hex_address.lower() for a in dev_accounts(24))
    tx = {
        "chainId": genesis.chain_id,
        "nonce": 0,
        "gas": 21000,
        "to": "0x" + "22" * 20,
        "value": 1,
        "type": 2,
        "maxFeePerGas": 10**11,
        "maxPriorityFeePerGas": 10**9,
    }
    raw = bytes(Account.sign_transaction(tx, OUTSIDER.private_key).raw_transaction)
    with pytest.raises(RpcError) as exc:
        rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
    assert exc.value.code == -32007  # funded by the genesis, but not allowlisted


def test_the_deployment_ran_on_the_genesis_chain(devnet):
    _, summary = devnet
    assert {"endpoint", "header_store", "vault"} <= set(summary["contracts"]["consortium"])
    anchor = summary["consortium"]["trust_anchor"]
    assert sorted(v.lower() for v in anchor["validators"]) == sorted(
        v.lower() for v in summary["consortium"]["validators"]
    )
