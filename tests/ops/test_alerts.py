"""The Prometheus and Grafana files of docker/ against what the services export.

promtool is not needed: the rule file's structure is checked as Prometheus reads it (groups of
rules with alert, expr, for, labels, annotations), every PromQL expression of the rules and of
the dashboard's panels is reduced to the metric names it reads (a small extractor: string
literals, label matchers, ranges and grouping clauses removed; what is left is functions,
keywords and metric names), and each name must be a series the services export: the relay
process's ``RelayMetrics`` and the API's ``ApiMetrics`` registries (counters as ``_total``,
histograms as ``_bucket`` / ``_sum`` / ``_count``), or ``up``, which Prometheus writes itself.
The live test scrapes a real ``xgate run`` on a devnet: its ``/metrics`` serves exactly the
registry's families, and the values the rules need only from there (balances, pauses, the
oldest waiting message, frozen clients, attesters) are really set, a pause by the guardian
included. Every ``runbook`` annotation names a heading of docs/operations.md.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.metrics import ApiMetrics
from gateway.cli.deployment import DEVNET_GUARDIAN_ACCOUNT as GUARDIAN
from harness.relaynet import SELF_FUNDED_ACCOUNTS, running_services
from harness.services import wait_until
from relayers.metrics import RelayMetrics
from tests.e2e.conftest import Devnet

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
PROMETHEUS = DOCKER / "prometheus" / "prometheus.yml"
DATASOURCE = DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDER = DOCKER / "grafana" / "provisioning" / "dashboards" / "xgate.yml"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "xgate.json"
OPERATIONS = ROOT / "docs" / "operations.md"

SEVERITIES = {"info", "warning", "critical"}
SERVICES = {
    "relayer": {"relayer-1", "relayer-2"},
    "attester": {"attester-1", "attester-2", "attester-3", "attester-4"},
    "keeper": {"keeper"},
}
# Series Prometheus writes itself for every target.
PROMETHEUS_SERIES = {"up": {"job", "instance"}}
# Labels every scraped series carries besides its own.
TARGET_LABELS = {"job", "instance"}

# PromQL functions and keywords (https://prometheus.io/docs/prometheus/latest/querying/).
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes",
    "clamp", "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "day_of_month",
    "day_of_week", "delta", "deriv", "exp", "floor", "group", "histogram_quantile", "holt_winters",
    "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
    "log2", "log10", "max", "max_over_time", "min", "min_over_time", "minute", "month",
    "predict_linear", "present_over_time", "quantile", "quantile_over_time", "rate", "resets",
    "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "stddev", "stddev_over_time",
    "stdvar", "sum", "sum_over_time", "time", "timestamp", "topk", "vector", "year",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan"}  # fmt: skip
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)"
IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(|\{)?")


# -- what the services export -----------------------------------------------------------------


def exported(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Series name -> its label names, as the registry's exposition writes them. (A metric's
    label names are known before it has a child only to its collector: prometheus_client has
    no public way to them; the live test checks them against real samples.)"""
    series: dict[str, set[str]] = {}
    for family in registry.collect():
        metric = registry._names_to_collectors[_first_name(registry, family.name)]
        labels = set(getattr(metric, "_labelnames", ()))
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "gauge": [""],
        }[family.type]
        for suffix in suffixes:
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def _first_name(registry: CollectorRegistry, family: str) -> str:
    for candidate in (family, family + "_total", family + "_bucket"):
        if candidate in registry._names_to_collectors:
            return candidate
    raise AssertionError(f"{family}: no collector")


def service_series() -> dict[str, set[str]]:
    relay, api = exported(RelayMetrics().registry), exported(ApiMetrics().registry)
    assert not relay.keys() & api.keys(), "the relay and API metrics share a name"
    return {**relay, **api, **PROMETHEUS_SERIES}


# -- PromQL, enough to name what an expression reads -----------------------------------------


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The metric names ``expr`` reads, each with the label names its matchers use. Raises on
    a function that PromQL does not have (a typo would otherwise pass as a metric)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    matchers: list[set[str]] = []

    def keep_matchers(m: re.Match[str]) -> str:
        matchers.append(set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", m[1])))
        return f"{{{len(matchers) - 1}}}"

    text = re.sub(r"\{([^{}]*)\}", keep_matchers, text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # range and subquery durations ($__rate_interval)
    while re.search(GROUPING, text):
        text = re.sub(GROUPING, " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    found: list[tuple[str, set[str]]] = []
    for m in IDENT.finditer(text):
        name, after = m[1], m[2]
        if after == "(":
            assert name in FUNCTIONS, f"{name}: not a PromQL function, in {expr!r}"
        elif name.lower() in KEYWORDS:
            continue
        else:
            labels: set[str] = set()
            if after == "{":
                index = re.match(r"\{(\d+)\}", text[m.end() - 1 :])
                assert index is not None
                labels = matchers[int(index[1])]
            found.append((name, labels))
    assert found, f"no metric in {expr!r}"
    return found


def grouping_labels(expr: str) -> set[str]:
    return {
        label.strip()
        for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^()]*)\)", expr)
        for label in clause.split(",")
        if label.strip()
    }


def check_expression(expr: str, series: dict[str, set[str]]) -> list[str]:
    """What is wrong with ``expr``: unknown metrics, labels no selected metric has."""
    problems: list[str] = []
    read = selectors(expr)
    known: set[str] = set()
    for name, labels in read:
        if name not in series:
            problems.append(f"{name} is not exported (in {expr!r})")
            continue
        have = series[name] | TARGET_LABELS
        known |= have
        if labels - have:
            problems.append(f"{name} has no label {sorted(labels - have)} (in {expr!r})")
    if known and grouping_labels(expr) - known:
        problems.append(f"grouping by {sorted(grouping_labels(expr) - known)} in {expr!r}")
    return problems


def test_the_extractor_names_metrics_not_functions_labels_or_numbers() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (route, le) (rate(a_bucket{route=~"x.+", s="a b"}'
        "[$__rate_interval]))) > 1e17 and on (chain) b offset 5m unless c{} or sum(d) by (x)"
    )
    assert selectors(expr) == [
        ("a_bucket", {"route", "s"}),
        ("b", set()),
        ("c", set()),
        ("d", set()),
    ]
    with pytest.raises(AssertionError, match="not a PromQL function"):
        selectors("rtae(x[5m])")
    series = {"x_total": {"chain"}}
    assert check_expression('rate(x_total{chain="a"}[5m])', series) == []
    assert check_expression("sum by (chain) (x_total)", series) == []
    assert check_expression("sum by (route) (x_total)", series)  # no such label
    assert check_expression('x_total{kind="a"}', series)
    assert check_expression("rate(x[5m])", series)  # a counter is read as _total


# -- the rule file ----------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def rules() -> Iterator[dict[str, Any]]:
    for group in load_yaml(ALERTS)["groups"]:
        yield from group["rules"]


def test_the_rule_file_is_a_prometheus_rule_file() -> None:
    doc = load_yaml(ALERTS)
    assert set(doc) == {"groups"}
    names: set[str] = set()
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}, group.keys()
        assert isinstance(group["name"], str) and group["name"] not in names
        names.add(group["name"])
        assert group["rules"], group["name"]
        for rule in group["rules"]:
            assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"]), rule["alert"]
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            assert re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", str(rule["for"])), rule["for"]
            assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
            assert {"summary", "description", "runbook"} <= set(rule["annotations"])
            assert all(isinstance(v, str) and v for v in rule["annotations"].values())
    alerts = [r["alert"] for r in rules()]
    assert len(alerts) == len(set(alerts)), "duplicate alert names"


def test_the_rules_cover_what_an_operator_must_hear_about() -> None:
    """The issue's list: light-client lag, a stuck message, RPC errors, attester silence, a
    frozen client, a paused route, a signer's balance, trust about to expire, keeper failures."""
    read = {name for rule in rules() for name, _ in selectors(rule["expr"])}
    assert {
        "xgate_light_client_lag_blocks",
        "xgate_oldest_waiting_message_seconds",
        "xgate_rpc_errors_total",
        "xgate_attester_height",
        "xgate_light_client_frozen",
        "xgate_route_paused",
        "xgate_signer_balance_wei",
        "xgate_light_client_header_age_seconds",
        "xgate_light_client_trust_left_seconds",
        "xgate_receivable_failures_total",
    } <= read


def test_every_rule_reads_only_exported_metrics_and_labels() -> None:
    series = service_series()
    problems = [p for rule in rules() for p in check_expression(rule["expr"], series)]
    assert not problems, "\n".join(problems)


def github_anchor(heading: str) -> str:
    """The anchor GitHub's Markdown gives a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*)", line)):
            found.add(github_anchor(m[1]))
    return found


def test_every_runbook_annotation_names_a_heading_of_the_operations_guide() -> None:
    assert github_anchor("Light-client trust about to expire") == (
        "light-client-trust-about-to-expire"
    )
    headings = anchors(OPERATIONS)
    for rule in rules():
        path, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert path == "docs/operations.md", rule["alert"]
        assert anchor in headings, f"{rule['alert']}: no heading #{anchor} in {path}"


# -- scrape configuration and Grafana ---------------------------------------------------------


def test_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    doc = load_yaml(PROMETHEUS)
    assert [Path(f).name for f in doc["rule_files"]] == [ALERTS.name]
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    assert set(jobs) == {*SERVICES, "api"}
    for name, hosts in SERVICES.items():
        targets = [t for sc in jobs[name]["static_configs"] for t in sc["targets"]]
        assert {t.rsplit(":", 1)[0] for t in targets} == hosts
        assert all(t.endswith(":9100") for t in targets), targets  # the ops port
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
    api = jobs["api"]
    # The path the API serves its registry on.
    assert 'add_get("/metrics"' in (ROOT / "gateway" / "api" / "app.py").read_text()
    assert api.get("metrics_path", "/metrics") == "/metrics"
    assert [t for sc in api["static_configs"] for t in sc["targets"]] == ["api:8080"]
    # Alerts on `up` name jobs that exist.
    for rule in rules():
        for job in re.findall(r'job=~?"([^"]+)"', rule["expr"]):
            assert any(re.fullmatch(job, j) for j in jobs), (rule["alert"], job)


def panel_exprs(panels: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for panel in panels:
        yield from panel_exprs(panel.get("panels", []))  # rows
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_grafana_is_provisioned_with_the_dashboard_on_the_prometheus_datasource() -> None:
    sources = load_yaml(DATASOURCE)["datasources"]
    assert [s["type"] for s in sources] == ["prometheus"]
    uid = sources[0]["uid"]
    assert sources[0]["url"].startswith("http://prometheus:9090")
    providers = load_yaml(PROVIDER)["providers"]
    assert [p["type"] for p in providers] == ["file"] and providers[0]["options"]["path"]
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p["datasource"]["uid"] == uid for p in panels)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    titles = " ".join(p["title"].lower() for p in panels)
    for subject in ("latency", "throughput", "light-client", "rpc", "queue", "balance", "keeper"):
        assert subject in titles, subject


def test_every_panel_reads_only_exported_metrics_and_labels() -> None:
    series = service_series()
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = list(panel_exprs(dashboard["panels"]))
    assert exprs
    problems = [f"{title}: {p}" for title, e in exprs for p in check_expression(e, series)]
    assert not problems, "\n".join(problems)


# -- the real exposition ----------------------------------------------------------------------


def families(text: str) -> dict[str, list[Any]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


@pytest.mark.live
async def test_a_running_relay_process_exports_what_the_rules_read(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    registry = {f.name for f in RelayMetrics().registry.collect()}
    wanted = (
        "xgate_signer_balance_wei",
        "xgate_route_paused",
        "xgate_oldest_waiting_message_seconds",
        "xgate_light_client_frozen",
        "xgate_attester_height",
    )
    folder = tmp_path_factory.mktemp("ops-metrics")
    async with Devnet.start(folder, accounts=SELF_FUNDED_ACCOUNTS) as net:
        with running_services(net.config_path) as service:

            def sampled() -> tuple[dict[str, list[Any]]] | None:
                got = families(service.metrics())
                return (got,) if all(got.get(n) for n in wanted) else None

            (live,) = await asyncio.to_thread(wait_until, sampled, 60.0, "samples", service)
            assert set(live) == registry  # the real /metrics is the registry's exposition
            series = exported(RelayMetrics().registry)
            for samples in live.values():
                for sample in samples:
                    if not sample.name.endswith("_created"):
                        assert set(sample.labels) <= series[sample.name], sample
            balances = {s.labels["chain"]: s.value for s in live["xgate_signer_balance_wei"]}
            assert set(balances) == {"consortium", "public"} and min(balances.values()) > 0
            paused = {s.labels["route"]: s.value for s in live["xgate_route_paused"]}
            assert paused == {"consortium->public": 0, "public->consortium": 0}
            assert {s.value for s in live["xgate_light_client_frozen"]} == {0}
            assert {s.value for s in live["xgate_oldest_waiting_message_seconds"]} == {0}

            # The guardian pauses the public endpoint's route from the consortium: the relay
            # process reports the route consortium -> public paused.
            endpoint = net.contract("p.endpoint")
            net.public.send(endpoint.functions.pauseRoute(net.cid), sender=GUARDIAN)

            def reported() -> tuple[float] | None:
                for s in families(service.metrics())["xgate_route_paused"]:
                    if s.labels["route"] == "consortium->public" and s.value == 1:
                        return (s.value,)
                return None

            await asyncio.to_thread(wait_until, reported, 60.0, "the pause", service)
