"""docker/compose.yaml and docker/Dockerfile, checked without a Docker engine: every image is
pinned, every mounted host path exists, every xgate service's config loads with xgate's config
loader (rendered as the deploy service renders it), host ports do not collide, dependencies
exist, and the image ends as a non-root user. The Besu network's files are the ones
`xgate besu-config` writes, and agree with each other."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from adapters.besugenesis import node_public_key, parse_genesis, parse_permissions, read_node_key
from adapters.bft import address_of_key
from gateway.config import load_config

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
PROJECT_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# name:exact-version (digits and dots, an optional -variant), optionally @sha256:<64 hex>.
PINNED = re.compile(r"^[a-z0-9./_-]+:v?\d+(\.\d+){1,3}(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$")
# The files the Prometheus/Grafana work provides at exactly these paths (mounted here).
OBSERVABILITY_FILES = (
    "prometheus/prometheus.yml",
    "prometheus/alerts.yml",
    "grafana/provisioning/datasources/prometheus.yml",
    "grafana/provisioning/dashboards/xgate.yml",
    "grafana/dashboards/xgate.json",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCKER / "xgate" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_image_is_pinned_to_an_exact_version(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: no image"
        assert "latest" not in image, f"{name}: {image}"
        assert PINNED.match(image), f"{name}: {image} is not pinned to an exact version"
        if "build" in service:  # built here: tagged with the project's own version
            assert image == f"xgate:{PROJECT_VERSION}", name
            assert (COMPOSE.parent / service["build"]["context"]).resolve() == REPO
            assert (REPO / service["build"]["dockerfile"]).is_file()


def test_the_services_the_issue_names_are_there(services):
    assert {f"besu-{n}" for n in range(1, 5)} <= set(services)
    assert {"anvil", "postgres", "deploy", "api", "prometheus", "grafana", "keeper"} <= set(
        services
    )
    assert {"relayer-1", "relayer-2"} <= set(services)
    assert {f"attester-{n}" for n in range(1, 5)} <= set(services)
    assert services["besu-1"]["image"].startswith("hyperledger/besu:")


def test_every_mounted_host_path_exists_in_the_repository(services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                continue  # a named volume
            relative = source.removeprefix("./")
            if relative in OBSERVABILITY_FILES:
                continue  # another piece of work writes these: checked below
            assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"


def test_the_prometheus_and_grafana_files_are_mounted_and_exist(services):
    mounted = {
        v.split(":", 1)[0].removeprefix("./")
        for s in services.values()
        for v in s.get("volumes", [])
    }
    for path in OBSERVABILITY_FILES:
        assert path in mounted, path
        assert (DOCKER / path).is_file(), f"docker/{path} is missing"


def test_no_host_port_is_published_twice(services):
    seen: dict[str, str] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host = str(port).rsplit(":", 1)[0]
            assert host not in seen, f"{name} and {seen.get(host)} both publish {host}"
            seen[host] = name


def test_every_dependency_is_a_service(services):
    for name, service in services.items():
        depends = service.get("depends_on", {})
        targets = depends if isinstance(depends, list) else list(depends)
        for target in targets:
            assert target in services, f"{name} depends on unknown {target}"
            if isinstance(depends, dict):
                assert depends[target]["condition"] in (
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully",
                )
    for name, service in services.items():  # the relay services wait for the deployment
        if str(service.get("image", "")).startswith("xgate:") and name not in ("deploy", "anvil"):
            assert service["depends_on"]["deploy"]["condition"] == (
                "service_completed_successfully"
            ), name


def test_the_template_config_loads_on_the_deploy_path(services):
    from gateway.cli.deploy_cmd import read_deploy_config

    cfg = read_deploy_config(DOCKER / "xgate" / "xgate.toml")
    assert cfg.deploy is not None
    assert len(cfg.deploy.attesters) == 4 and cfg.deploy.attester_threshold == 3
    genesis = parse_genesis(json.loads((DOCKER / "besu" / "genesis.json").read_text()))
    consortium = cfg.chains["consortium"]
    assert consortium.chain_id == genesis.chain_id
    assert tuple(sorted(consortium.trusted_validators or ())) == genesis.validators
    env = services["deploy"]["environment"]["XGATE_STORE_URL"]
    assert env == cfg.store.url


def test_every_xgate_service_config_validates_as_the_deploy_service_renders_it(services, tmp_path):
    """deploy.sh renders /state/<service>.toml from the deployed config plus the overlay: here
    the deployed config is the template with the addresses `xgate deploy` would write filled
    by placeholders (its own read_deploy_config)."""
    import tomli_w

    from gateway.cli.deploy_cmd import read_deploy_config

    render = _load_script("render_configs")
    cfg = read_deploy_config(DOCKER / "xgate" / "xgate.toml")
    base = tmp_path / "xgate.toml"
    deployed = tomllib.loads((DOCKER / "xgate" / "xgate.toml").read_text())
    for chain, chain_cfg in cfg.chains.items():
        contracts = chain_cfg.contracts.model_dump(mode="json", exclude_none=True)
        deployed["chains"][chain]["contracts"] = contracts
    base.write_text(tomli_w.dumps(deployed))
    written = {p.stem: p for p in render.render(base, DOCKER / "xgate" / "services", tmp_path)}
    for name, service in services.items():
        command = service.get("command") or []
        if "--config" not in command:
            continue
        config = command[command.index("--config") + 1]
        assert config.startswith("/state/"), name
        stem = Path(config).stem
        assert stem in written, f"{name}: no overlay renders {config}"
        loaded = load_config(written[stem])
        assert loaded.ops.listen.endswith(":9100") and loaded.api.listen.endswith(":8080")
        for key_file in (s.key_file for s in loaded.signers.values() if s.key_file):
            assert str(key_file).startswith("/etc/xgate/keys/"), name
            assert (DOCKER / "xgate" / "keys" / key_file.name).is_file(), key_file
    relayers = {load_config(written[f"relayer-{n}"]).relayer.signer for n in (1, 2)}
    assert relayers == {"relayer-1", "relayer-2"}  # one writer per key (style rule 8)
    attesters = [load_config(written[f"attester-{n}"]).attester for n in range(1, 5)]
    assert [a.signers for a in attesters if a] == [(f"attester-{n}",) for n in range(1, 5)]


def test_the_besu_network_files_agree_with_each_other(services):
    besu = DOCKER / "besu"
    genesis = parse_genesis(json.loads((besu / "genesis.json").read_text()))
    keys = [read_node_key((besu / f"node-{n}" / "key").read_text()) for n in range(1, 5)]
    assert genesis.validators == tuple(sorted(address_of_key(k) for k in keys))
    enodes = json.loads((besu / "static-nodes.json").read_text())
    assert enodes == [
        f"enode://{node_public_key(k).hex()}@besu-{n}:30303" for n, k in enumerate(keys, 1)
    ]
    accounts, nodes = parse_permissions((besu / "permissions_config.toml").read_text())
    assert nodes == tuple(enodes)
    assert accounts and set(accounts) <= {a.address for a in genesis.alloc}
    for n in range(1, 5):
        mounts = services[f"besu-{n}"]["volumes"]
        assert f"./besu/node-{n}:/config/node:ro" in mounts


def test_the_dockerfile_pins_its_bases_and_ends_as_a_non_root_user():
    lines = [
        line.strip()
        for line in (DOCKER / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert len(froms) >= 2  # multi-stage
    for image in froms:
        assert PINNED.match(image), image
    users = [line for line in lines if line.upper().startswith("USER ")]
    assert lines[-1] == users[-1]
    assert users[-1].split()[1] not in ("root", "0", "0:0")
    text = "\n".join(lines)
    assert "npm ci" in text and "package-lock.json" in text
    assert "pip install" in text and "pyproject.toml" in text
