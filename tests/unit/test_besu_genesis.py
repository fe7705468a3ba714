"""Besu genesis files (adapters/besugenesis.py, docs/besu.md): what build_genesis writes reads
back, Besu's spellings are read as Besu reads them, and the embedded node's block 0 is the
header Besu builds from the file, for every fork the node runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.besugenesis import (
    DEFAULT_GENESIS_BASE_FEE,
    FORKS,
    alloc_state_root,
    build_genesis,
    enode_url,
    format_node_key,
    genesis_header,
    node_public_key,
    parse_genesis,
    parse_permissions,
    read_node_key,
    render_permissions,
)
from adapters.bft import address_of_key
from adapters.errors import ConfigError
from adapters.headers import encode_header, header_fields, header_hash

KEYS = [bytes([n]) * 32 for n in range(1, 5)]  # dev-only test keys
VALIDATORS = [address_of_key(k) for k in KEYS]
FIELDS = {"london": 16, "shanghai": 17, "cancun": 20, "prague": 21}


def _write(folder: Path, fork: str) -> Path:
    for n, key in enumerate(KEYS, 1):
        (folder / f"node-{n}").mkdir(parents=True)
        (folder / f"node-{n}" / "key").write_text(format_node_key(key))
    genesis = build_genesis(
        chain_id=777,
        validators=VALIDATORS,
        alloc={b"\x11" * 20: 5 * 10**18, b"\x22" * 20: 1},
        timestamp=1_700_000_000,
        fork=fork,
        block_period_s=3,
    )
    (folder / "genesis.json").write_text(json.dumps(genesis))
    return folder / "genesis.json"


@pytest.mark.parametrize("fork", FORKS)
def test_the_devnet_genesis_is_the_header_besu_builds_from_the_file(tmp_path, fork):
    from devnet.chain import DevnetChain
    from devnet.config import DevnetConfig
    from devnet.genesis import devnet_config_for, load_genesis_setup

    path = _write(tmp_path, fork)
    setup = load_genesis_setup(path)
    config = DevnetConfig.from_dict(devnet_config_for(setup, 0), mode="consortium")
    assert (config.fork, config.chain_id, config.block_time) == (fork, 777, 3.0)
    assert config.permissioning is False  # no permissions file beside it
    chain = DevnetChain(config)
    try:
        expected = genesis_header(setup.genesis, alloc_state_root(setup.genesis.alloc))
        assert len(encode_header(expected)) > 0
        assert bytes(chain.head.hash) == bytes(header_hash(expected))
        assert chain.sealed_extra[0] == setup.genesis.extra_data
        sealed = chain.produce_block()
        assert sealed is not None and sealed.proposer in VALIDATORS
    finally:
        chain.close()


@pytest.mark.parametrize("fork", FORKS)
def test_built_genesis_reads_back_with_the_forks_header_fields(fork):
    genesis = parse_genesis(
        build_genesis(chain_id=5, validators=VALIDATORS, alloc={}, timestamp=9, fork=fork)
    )
    assert genesis.fork == fork and genesis.validators == tuple(sorted(VALIDATORS))
    assert genesis.base_fee == DEFAULT_GENESIS_BASE_FEE
    assert len(header_fields(genesis_header(genesis, b"\x00" * 32))) == FIELDS[fork]


def test_besus_spellings_are_read_as_besu_reads_them():
    data = build_genesis(chain_id=5, validators=VALIDATORS, alloc={}, timestamp=9)
    data["config"] = {k.lower(): v for k, v in data["config"].items()}
    data["GASLIMIT"] = data.pop("gasLimit")
    data.pop("baseFeePerGas")
    data["alloc"] = {"33" * 20: {"balance": "1000"}}  # no 0x, decimal balance
    genesis = parse_genesis(data)
    assert genesis.chain_id == 5 and genesis.base_fee == DEFAULT_GENESIS_BASE_FEE
    assert genesis.alloc[0].balance == 1000 and genesis.alloc[0].address == b"\x33" * 20


def test_node_keys_enodes_and_permissions_round_trip():
    key = KEYS[0]
    assert read_node_key(format_node_key(key) + "\n") == key
    assert len(node_public_key(key)) == 64
    enode = enode_url(node_public_key(key), "besu-1", 30303)
    assert enode == f"enode://{node_public_key(key).hex()}@besu-1:30303"
    accounts, nodes = parse_permissions(render_permissions(VALIDATORS, [enode]))
    assert accounts == tuple(VALIDATORS) and nodes == (enode,)
    assert parse_permissions('nodes-allowlist=["x"]\n') == (None, ("x",))
    with pytest.raises(ConfigError):
        read_node_key("0x" + "00" * 32)  # not a valid secp256k1 key
