"""xgate.toml: what loads, what is refused (one line per problem naming the key path), signers
and the secrets they must never show. Everything goes through real files in tmp_path."""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from eth_account import Account

from adapters.errors import ConfigError
from adapters.evm import EvmConfig
from adapters.qbft import QbftConfig
from adapters.retry import RetryPolicy
from adapters.types import Finality
from gateway.config import (
    SignerConfig,
    XgateConfig,
    dump_config,
    load_config,
    load_signer,
)

# Dev account 5 of anvil's mnemonic: public knowledge, fine as a test secret.
KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
KEY_ADDRESS = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
PASSWORD = "correct horse battery staple"
EP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # a valid EIP-55 checksum
LC = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
HS = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
V1 = "0x" + "11" * 20


def base() -> dict[str, Any]:
    """A complete, valid file as TOML data; tests break one thing at a time."""
    return {
        "store": {"url": "sqlite:///xgate.db"},
        "chains": {
            "consortium": {
                "kind": "qbft",
                "rpc_urls": ["http://127.0.0.1:8545"],
                "chain_id": 20250,
                "finality": "instant",
                "trusted_validators": [V1],
                "trusted_height": 7,
                "trusted_hash": "0x" + "ab" * 32,
                "contracts": {"endpoint": EP, "header_store": HS},
            },
            "public": {
                "kind": "evm",
                "rpc_urls": ["https://rpc.example/v2/APIKEY123", "http://10.0.0.2:8545"],
                "chain_id": 31337,
                "finality": {"confirmations": 2},
                "max_log_range": 500,
                "retry": {"max_attempts": 3},
                "contracts": {"endpoint": EP, "light_client": LC},
            },
        },
        "routes": [
            {"from": "consortium", "to": "public"},
            {"from": "public", "to": "consortium", "max_fee_per_gas_gwei": 1.5},
        ],
        "signers": {"relayer": {"key_file": "keys/relayer.key"}},
        "relayer": {"signer": "relayer"},
        "attester": {"signers": ["relayer"], "chains": ["public"]},
        "keeper": {"signer": "relayer"},
        "log": {"format": "json", "level": "DEBUG"},
        "ops": {"listen": "0.0.0.0:9500"},
    }


def write(folder: Path, data: dict[str, Any], name: str = "xgate.toml") -> Path:
    path = folder / name
    path.write_text(tomli_w.dumps(data))
    return path


def problems(folder: Path, data: dict[str, Any]) -> list[str]:
    """The lines of the ConfigError that loading ``data`` raises, without the file prefix."""
    path = write(folder, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    return [line.removeprefix(f"{path}: ") for line in lines]


def changed(path: str, value: Any) -> dict[str, Any]:
    """``base()`` with the value at the dotted ``path`` set (``routes.0.to``)."""
    data = copy.deepcopy(base())
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return data


def without(path: str) -> dict[str, Any]:
    data = copy.deepcopy(base())
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[part]
    del node[last]
    return data


# --- what loads --------------------------------------------------------------------------------


def test_a_complete_file_loads_into_typed_sections(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, base()))
    assert cfg.hub == "consortium" and cfg.public_chains == ("public",)
    assert [r.name for r in cfg.routes] == ["consortium->public", "public->consortium"]
    assert cfg.routes[0].batch_size == 16 and cfg.routes[0].enabled
    assert cfg.routes[1].max_fee_per_gas_wei == 1_500_000_000
    assert cfg.relayer is not None and cfg.relayer.fee_bump_pct == 15
    assert cfg.relayer.light_client_refresh == 0.5
    assert cfg.relayer.max_attempts == 5 and cfg.relayer.lease_ttl_s == 30
    assert cfg.keeper is not None and cfg.keeper.safety_delay_s == 300
    assert (cfg.ops.host, cfg.ops.port) == ("0.0.0.0", 9500)
    assert cfg.chains["public"].contracts.light_client == bytes.fromhex(LC[2:])
    assert cfg.chains["public"].contracts.vault is None


def test_relative_paths_resolve_against_the_config_files_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, base()))
    assert cfg.store.url == f"sqlite:///{tmp_path}/xgate.db"
    assert cfg.signers["relayer"].key_file == tmp_path / "keys" / "relayer.key"


def test_postgresql_store_is_accepted_and_its_password_stays_out_of_the_repr(
    tmp_path: Path,
) -> None:
    url = "postgresql+psycopg://xgate:s3cr3tpw@db.internal:5432/xgate"
    cfg = load_config(write(tmp_path, changed("store.url", url)))
    assert cfg.store.url == url
    assert "s3cr3tpw" not in repr(cfg) and "s3cr3tpw" not in repr(cfg.store)
    assert cfg.store.redacted_url == "postgresql+psycopg://xgate:***@db.internal:5432/xgate"


def test_chains_give_adapter_configs_with_failover_urls_and_their_finality(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, base()))
    public = cfg.chains["public"].adapter_config("public")
    assert type(public) is EvmConfig
    assert public.rpc_url == "https://rpc.example/v2/APIKEY123"
    assert public.fallback_rpc_urls == ("http://10.0.0.2:8545",)
    assert (public.name, public.chain_id, public.max_log_range) == ("public", 31337, 500)
    assert public.finality == Finality.confirmations(2)
    assert public.retry == RetryPolicy(max_attempts=3)
    assert public.request_timeout_s == 10.0  # unset knobs keep the adapter's default
    consortium = cfg.chains["consortium"].adapter_config("consortium")
    assert type(consortium) is QbftConfig
    assert consortium.finality == Finality.latest()
    assert consortium.trusted_validators == (bytes.fromhex(V1[2:]),)
    assert (consortium.trusted_height, consortium.trusted_hash) == (7, bytes.fromhex("ab" * 32))


@pytest.mark.parametrize(
    ("kind", "finality", "policy"),
    [
        ("qbft", "instant", Finality.latest()),
        ("evm", "finalized", Finality.finalized()),
        ("evm", {"confirmations": 12}, Finality.confirmations(12)),
        ("evm", {"confirmations": 0}, Finality.confirmations(0)),
    ],
)
def test_finality_settings_map_to_the_adapters_policy(
    tmp_path: Path, kind: str, finality: Any, policy: Finality
) -> None:
    name = "consortium" if kind == "qbft" else "public"
    cfg = load_config(write(tmp_path, changed(f"chains.{name}.finality", finality)))
    assert cfg.chains[name].finality_policy == policy
    assert cfg.chains[name].adapter_config(name).finality == policy


def test_addresses_in_lower_case_skip_the_checksum(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, changed("chains.public.contracts.endpoint", EP.lower())))
    assert cfg.chains["public"].contracts.endpoint == bytes.fromhex(EP[2:].lower())


def test_dump_then_load_gives_the_same_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, base()))
    text = dump_config(cfg, header="DEV ONLY\nsecond line")
    assert text.startswith("# DEV ONLY\n# second line\n")
    again = tmp_path / "again.toml"
    again.write_text(text)
    assert load_config(again) == cfg
    assert f'endpoint = "{EP}"' in text  # addresses written checksummed


def test_a_config_built_in_code_dumps_with_its_relative_paths(tmp_path: Path) -> None:
    # `xgate devnet up` builds the file in code: relative paths stay relative in the text and
    # resolve against the file's folder once loaded.
    raw = base()
    cfg = XgateConfig.model_validate(raw)
    assert cfg.signers["relayer"].key_file == Path("keys/relayer.key")
    (tmp_path / "xgate.toml").write_text(dump_config(cfg))
    loaded = load_config(tmp_path / "xgate.toml")
    assert loaded.signers["relayer"].key_file == tmp_path / "keys/relayer.key"


# --- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({**base(), "colour": "blue"}, "colour: unknown key (check its spelling and section)"),
        (changed("store.pool", 5), "store.pool: unknown key (check its spelling and section)"),
        (changed("chains.public.rpc", "x"), "chains.public.rpc: unknown key"),
        (changed("chains.public.contracts.bridge", EP), "chains.public.contracts.bridge: unknown"),
        (changed("chains.public.retry.jitter", 1), "chains.public.retry.jitter: unknown key"),
        (changed("routes.0.gas", 1), "routes[0].gas: unknown key"),
        (changed("signers.relayer.password", "x"), "signers.relayer.password: unknown key"),
        (changed("relayer.threads", 2), "relayer.threads: unknown key"),
    ],
)
def test_unknown_keys_are_refused_at_every_depth(
    tmp_path: Path, data: dict[str, Any], line: str
) -> None:
    (only,) = problems(tmp_path, data)
    assert only.startswith(line)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (changed("chains.public.chain_id", "31337"), "chains.public.chain_id: expected an integer"),
        (changed("chains.public.chain_id", 0), "chains.public.chain_id: must be >= 1"),
        (changed("chains.public.rpc_urls", "http://x"), "chains.public.rpc_urls: expected a list"),
        (changed("chains.public.rpc_urls", []), "chains.public.rpc_urls: needs at least one"),
        (
            changed("chains.public.rpc_urls", ["ws://x"]),
            "chains.public.rpc_urls[0]: expected an http:// or https:// URL with a host",
        ),
        (changed("routes.0.batch_size", True), "routes[0].batch_size: expected an integer"),
        (changed("routes.0.batch_size", 65), "routes[0].batch_size: must be <= 64"),
        (changed("routes.0.enabled", "yes"), "routes[0].enabled: expected true or false"),
        (changed("relayer.fee_bump_pct", 9), "relayer.fee_bump_pct: must be >= 10"),
        (changed("relayer.poll_interval_s", 0), "relayer.poll_interval_s: must be > 0"),
        (changed("relayer.light_client_refresh", 0), "relayer.light_client_refresh: must be > 0"),
        (changed("relayer.light_client_refresh", 1.0), "relayer.light_client_refresh: must be < 1"),
        (changed("log.format", "xml"), "log.format: expected 'text' or 'json'"),
        (changed("ops.listen", "9464"), 'ops.listen: expected "HOST:PORT"'),
        (changed("store.url", "mysql://db/x"), 'store.url: expected "sqlite:///PATH" or'),
        (changed("chains.public.kind", "cosmos"), "chains.public.kind: expected 'qbft' or 'evm'"),
        (without("chains.public.chain_id"), "chains.public.chain_id: required key is missing"),
        (
            changed("chains.consortium.trusted_hash", "0x1234"),
            "chains.consortium.trusted_hash: must be 32 bytes",
        ),
    ],
)
def test_wrong_values_are_refused_naming_the_key(
    tmp_path: Path, data: dict[str, Any], line: str
) -> None:
    (only,) = problems(tmp_path, data)
    assert only.startswith(line)


@pytest.mark.parametrize(
    ("chain", "finality", "line"),
    [
        ("public", "instant", 'chains.public.finality: "instant" is for BFT (qbft) chains'),
        ("public", "soon", 'expected "instant", "finalized" or {confirmations = N}'),
        ("public", "latest", 'expected "instant", "finalized" or {confirmations = N}'),
        ("public", {"depth": 2}, 'expected "instant", "finalized" or {confirmations = N}'),
        ("public", {"confirmations": -1}, "chains.public.finality.confirmations: must be >= 0"),
        ("consortium", "finalized", "chains.consortium.finality: a qbft chain is final once"),
        ("consortium", {"confirmations": 2}, "chains.consortium.finality: a qbft chain is"),
    ],
)
def test_finality_must_fit_the_chain_kind(
    tmp_path: Path, chain: str, finality: Any, line: str
) -> None:
    (only,) = problems(tmp_path, changed(f"chains.{chain}.finality", finality))
    assert line in only


def test_the_spec_example_reads_exactly(tmp_path: Path) -> None:
    (only,) = problems(tmp_path, changed("chains.public.finality", "soon"))
    assert only == 'chains.public.finality: expected "instant", "finalized" or {confirmations = N}'


def test_trust_anchor_belongs_to_the_qbft_chain_only(tmp_path: Path) -> None:
    assert problems(tmp_path, changed("chains.public.trusted_height", 3)) == [
        "chains.public.trusted_height: only a qbft chain has a trust anchor; remove it"
    ]
    (only,) = problems(tmp_path, without("chains.consortium.trusted_validators"))
    assert only.startswith("chains.consortium.trusted_validators: a qbft chain needs")


def test_a_mistyped_checksummed_address_is_refused(tmp_path: Path) -> None:
    typo = EP[:-1] + "A"  # mixed case whose checksum no longer matches
    (only,) = problems(tmp_path, changed("chains.public.contracts.endpoint", typo))
    assert only.startswith("chains.public.contracts.endpoint: bad EIP-55 checksum")
    (only,) = problems(tmp_path, changed("chains.public.contracts.endpoint", "0x1234"))
    assert only == "chains.public.contracts.endpoint: expected a 0x address of 40 hex digits"


def test_routes_refer_to_chains_that_exist(tmp_path: Path) -> None:
    assert problems(tmp_path, changed("routes.0.to", "mars")) == [
        "routes[0].to: no chain named 'mars' in [chains]"
    ]
    assert problems(tmp_path, changed("routes.1.to", "public")) == [
        "routes[1].to: a route needs two different chains"
    ]


def test_routes_need_the_contracts_that_verify_them(tmp_path: Path) -> None:
    assert problems(tmp_path, without("chains.public.contracts.light_client")) == [
        "chains.public.contracts.light_client: required by route consortium->public"
        " (it verifies consortium's headers)"
    ]
    assert problems(tmp_path, without("chains.consortium.contracts.header_store")) == [
        "chains.consortium.contracts.header_store: required by route public->consortium"
        " (it verifies public's headers)"
    ]
    # Both routes need the endpoint: one problem, not one per route.
    assert problems(tmp_path, without("chains.public.contracts.endpoint")) == [
        "chains.public.contracts.endpoint: required by route consortium->public"
    ]


def test_duplicate_routes_are_refused(tmp_path: Path) -> None:
    data = base()
    data["routes"].append({"from": "consortium", "to": "public", "batch_size": 4})
    assert problems(tmp_path, data) == ["routes[2]: duplicate of routes[0] (consortium->public)"]


def test_exactly_one_qbft_hub(tmp_path: Path) -> None:
    data = base()
    data["chains"]["consortium2"] = copy.deepcopy(data["chains"]["consortium"])
    assert problems(tmp_path, data) == [
        'chains: exactly one chain must be kind "qbft" (the consortium hub); '
        "found 2: consortium, consortium2"
    ]
    data = base()
    del data["chains"]["consortium"]
    data["routes"] = []
    del data["attester"]
    (only,) = problems(tmp_path, data)
    assert only.startswith('chains: exactly one chain must be kind "qbft"')


def test_routes_between_two_public_chains_are_refused(tmp_path: Path) -> None:
    data = base()
    data["chains"]["other"] = {**data["chains"]["public"], "chain_id": 5}
    data["routes"].append({"from": "public", "to": "other"})
    assert problems(tmp_path, data) == ["routes[2]: every route starts or ends at the qbft hub"]


def test_services_must_name_a_defined_signer(tmp_path: Path) -> None:
    assert problems(tmp_path, changed("relayer.signer", "x")) == [
        "relayer.signer: no signer named 'x' in [signers]"
    ]
    data = base()
    data["signers"] = {}
    assert problems(tmp_path, data) == [
        f"{key}: no signer named 'relayer' in [signers]"
        for key in ("relayer.signer", "keeper.signer", "attester.signers[0]")
    ]


def test_attesters_attest_public_chains_that_exist(tmp_path: Path) -> None:
    assert problems(tmp_path, changed("attester.chains", ["consortium", "moon"])) == [
        "attester.chains[0]: attesters sign public (evm) chains' headers",
        "attester.chains[1]: no chain named 'moon'",
    ]


@pytest.mark.parametrize(
    ("signer", "line"),
    [
        (
            {},
            "signers.relayer: give exactly one of keystore, key_file, key_file_env or external_url",
        ),
        (
            {"key_file": "a.key", "key_file_env": "KEY_PATH"},
            "signers.relayer: give exactly one of keystore, key_file, key_file_env or external_url",
        ),
        (
            {"keystore": "k.json"},
            "signers.relayer: a keystore needs exactly one of password_env or password_file",
        ),
        (
            {"key_file": "a.key", "password_env": "PW"},
            "signers.relayer: password_env belongs to a keystore; remove it for key_file",
        ),
        ({"key_file_env": "not a var"}, "signers.relayer.key_file_env: "),
    ],
)
def test_a_signer_names_exactly_one_key_source(
    tmp_path: Path, signer: dict[str, Any], line: str
) -> None:
    (only,) = problems(tmp_path, changed("signers.relayer", signer))
    assert only.startswith(line)


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    data = changed("chains.public.chain_id", "1")
    data["chains"]["public"]["finality"] = "soon"
    data["routes"][0]["batch_size"] = 0
    data["store"]["colour"] = 1
    assert problems(tmp_path, data) == [
        "store.colour: unknown key (check its spelling and section)",
        "chains.public.chain_id: expected an integer",
        'chains.public.finality: expected "instant", "finalized" or {confirmations = N}',
        "routes[0].batch_size: must be >= 1",
    ]


def test_unreadable_or_broken_files_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read it .*--config PATH"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('[chains.public]\nkind = "evm\n')
    with pytest.raises(ConfigError) as info:
        load_config(broken)
    assert len(str(info.value).splitlines()) == 1
    assert str(info.value).startswith(f"{broken}: not valid TOML: ")


# --- signers and secrets -----------------------------------------------------------------------


def _key_file(folder: Path, text: str = KEY, mode: int = 0o600, name: str = "relayer") -> Path:
    path = folder / f"{name}.key"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_a_key_file_signer_loads(tmp_path: Path) -> None:
    signer = load_signer(SignerConfig(key_file=_key_file(tmp_path)), {}, name="relayer")
    assert signer.address == bytes.fromhex(KEY_ADDRESS[2:])


def test_a_key_file_named_by_an_environment_variable_loads(tmp_path: Path) -> None:
    path = _key_file(tmp_path, KEY[2:])  # without 0x works too
    cfg = SignerConfig(key_file_env="XGATE_RELAYER_KEY")
    signer = load_signer(cfg, {"XGATE_RELAYER_KEY": str(path)}, name="relayer")
    assert signer.address == bytes.fromhex(KEY_ADDRESS[2:])
    with pytest.raises(ConfigError) as info:
        load_signer(cfg, {}, name="relayer")
    assert str(info.value) == (
        "signers.relayer.key_file_env: environment variable XGATE_RELAYER_KEY is not set; export it"
    )


def _keystore(folder: Path) -> Path:
    # Few KDF iterations keep the test fast; the format is the real keystore v3.
    data = Account.encrypt(KEY, PASSWORD, kdf="pbkdf2", iterations=2)
    path = folder / "relayer.json"
    path.write_text(json.dumps(data))
    return path


def test_a_keystore_signer_loads_with_its_password_from_env_or_file(tmp_path: Path) -> None:
    keystore = _keystore(tmp_path)
    by_env = SignerConfig(keystore=keystore, password_env="XGATE_PW")
    signer = load_signer(by_env, {"XGATE_PW": PASSWORD}, name="relayer")
    assert signer.address == bytes.fromhex(KEY_ADDRESS[2:])
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    by_file = SignerConfig(keystore=keystore, password_file=password_file)
    assert load_signer(by_file, {}, name="relayer").address == signer.address


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, mode=mode)
    with pytest.raises(ConfigError) as info:
        load_signer(SignerConfig(key_file=path), {}, name="relayer")
    assert f"run `chmod 600 {path}`" in str(info.value)


def test_a_password_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o644)
    cfg = SignerConfig(keystore=_keystore(tmp_path), password_file=password_file)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_signer(cfg, {}, name="relayer")


def _secret_failures(tmp_path: Path) -> list[ConfigError]:
    """Every way loading a signer can fail after a secret was read."""
    keystore = _keystore(tmp_path)
    attempts = [
        (SignerConfig(keystore=keystore, password_env="PW"), {"PW": PASSWORD + "x"}),
        (SignerConfig(key_file=_key_file(tmp_path, KEY[:-2], name="short")), {}),
        (SignerConfig(key_file=_key_file(tmp_path, KEY[:-1] + "g", name="nothex")), {}),
        (SignerConfig(key_file=_key_file(tmp_path, "0x" + "00" * 32, name="zero")), {}),
    ]
    errors = []
    for cfg, environ in attempts:
        with pytest.raises(ConfigError) as info:
            load_signer(cfg, environ, name="relayer")
        errors.append(info.value)
    return errors


def test_signer_errors_name_the_file_and_never_the_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors = _secret_failures(tmp_path)
    assert "could not be decrypted: wrong password" in str(errors[0])
    assert "must hold one private key: 64 hex digits" in str(errors[1])
    assert "must hold one private key: 64 hex digits" in str(errors[2])
    assert "holds no valid secp256k1 private key" in str(errors[3])
    for error in errors:
        text = f"{error} {error!r} {error.to_dict()}"
        # No library exception travels along (its text or locals may hold the secret).
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
        for secret in (KEY[2:], KEY[2:-2], KEY[2:-1], PASSWORD):
            assert secret not in text
    for secret in (KEY[2:], PASSWORD):
        assert secret not in caplog.text


def test_a_loaded_signer_shows_only_its_address_in_repr_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg_path = write(tmp_path, changed("signers.relayer.key_file", str(_key_file(tmp_path))))
    cfg = load_config(cfg_path)
    signer = load_signer(cfg.signers["relayer"], os.environ, name="relayer")
    assert KEY_ADDRESS in caplog.text  # the log line says which account was loaded ...
    for text in (repr(signer), str(signer), repr(cfg), dump_config(cfg), caplog.text):
        assert KEY[2:] not in text  # ... and never the key


def test_a_secret_under_a_wrong_key_is_not_echoed(tmp_path: Path) -> None:
    # A key pasted where a path or a variable name belongs must not reach the error text.
    for data in (
        changed("signers.relayer", {"private_key": KEY}),
        changed("signers.relayer", {"key_file_env": KEY}),
        changed("signers.relayer", {"keystore": "k.json", "password_env": PASSWORD}),
        changed("store.url", f"mysql://root:{PASSWORD}@db/x"),
    ):
        lines = problems(tmp_path, data)
        assert lines and all(KEY[2:] not in line and PASSWORD not in line for line in lines)


def test_chain_repr_hides_provider_api_keys(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, base()))
    assert "APIKEY123" not in repr(cfg.chains["public"])
    assert "https://rpc.example" in repr(cfg.chains["public"])


def test_event_retention_is_days_above_zero(tmp_path: Path) -> None:
    data = copy.deepcopy(base())
    assert load_config(write(tmp_path, data)).api.event_retention_days == 30
    data["api"] = {"event_retention_days": 7}
    assert load_config(write(tmp_path, data)).api.event_retention_days == 7
    for bad in (0, -1, 1.5, "30"):
        data["api"] = {"event_retention_days": bad}
        (only,) = problems(tmp_path, data)
        assert only.startswith("api.event_retention_days: "), only
