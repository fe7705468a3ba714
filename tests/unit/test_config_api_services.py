"""``[api] services``: the relay processes' ops servers the operator's services report asks
(docs/api.md §7): each a name and an http(s) URL, names distinct, every problem one line naming
its key path; without the key the report asks this file's ``[ops] listen``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gateway.api.operator import OpsTarget, service_checks_from_config
from gateway.config import load_config
from tests.unit.test_config import base, problems, write


def _with_services(services: Any) -> dict[str, Any]:
    data = copy.deepcopy(base())
    data["api"] = {"services": services}
    return data


def test_services_load_and_become_the_reports_targets(tmp_path: Path) -> None:
    services = [
        {"name": "relayer-a", "url": "http://10.0.0.5:9464"},
        {"name": "relayer-b", "url": "http://10.0.0.6:9464"},
        {"name": "attester_1", "url": "https://ops.member1.example/xgate"},
        {"name": "keeper", "url": "http://[::1]:9470"},
    ]
    cfg = load_config(write(tmp_path, _with_services(services)))
    assert cfg.api.services is not None
    assert [(s.name, s.url) for s in cfg.api.services] == [(s["name"], s["url"]) for s in services]
    checks = service_checks_from_config(cfg)
    assert checks.targets == tuple(OpsTarget(s["name"], s["url"]) for s in services)
    assert checks.timeout_s == 2.0


def test_without_services_the_report_asks_the_ops_listen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, base()))  # [ops] listen = "0.0.0.0:9500"
    assert cfg.api.services is None
    assert service_checks_from_config(cfg).targets == (OpsTarget("relay", "http://127.0.0.1:9500"),)
    # An empty list asks no process (the report shows the store's view only).
    cfg = load_config(write(tmp_path, _with_services([])))
    assert service_checks_from_config(cfg).targets == ()


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ("http://10.0.0.5:9464", "api.services: "),
        ([{"name": "a", "url": "ftp://10.0.0.5:9464"}], "api.services[0].url: expected an http"),
        ([{"name": "a", "url": "10.0.0.5:9464"}], "api.services[0].url: expected an http"),
        ([{"name": "a", "url": 9464}], "api.services[0].url: "),
        ([{"url": "http://h:1"}], "api.services[0].name: "),
        ([{"name": "a"}], "api.services[0].url: "),
        ([{"name": "", "url": "http://h:1"}], "api.services[0].name: "),
        ([{"name": "a b", "url": "http://h:1"}], "api.services[0].name: "),
        ([{"name": "a", "url": "http://h:1", "port": 1}], "api.services[0].port: unknown key"),
        (
            [{"name": "a", "url": "http://h:1"}, {"name": "a", "url": "http://h:2"}],
            "api.services[1].name: duplicate of services[0]",
        ),
    ],
)
def test_a_bad_service_is_refused_naming_its_key(
    tmp_path: Path, services: Any, expected: str
) -> None:
    (only,) = problems(tmp_path, _with_services(services))
    assert only.startswith(expected), only
