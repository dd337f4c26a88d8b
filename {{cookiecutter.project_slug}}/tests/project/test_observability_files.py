"""The Grafana dashboard and the Prometheus files in infra/ against what the service exports:
every query names a metric the service's /metrics has (the package's, read from the code that
exports them, or BentoML's own), the dashboard's structure holds (unique panel ids, one data
source uid, the one provisioned), and promtool checks the rules and the scrape config and runs
the rules' unit tests (Debian's `prometheus` package provides it; skipped, saying so, without)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from {{ cookiecutter.package_name }}.serving.monitoring_snapshot import MonitoringResults, MonitoringSnapshot
from {{ cookiecutter.package_name }}.serving.operator_metrics import PREFIX, RequestMetrics, model_families, render
from tests.support.metrics import history_run, samples
from tests.support.project import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"
DASHBOARDS = sorted((INFRA / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS = INFRA / "prometheus"
PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").is_file() else None)
# BentoML's own metrics the dashboard reads (its documented defaults, checked on a live server
# by tests/integration/test_service_server.py).
BENTOML_METRICS = {
    "bentoml_service_request_total",
    "bentoml_service_request_in_progress",
    "bentoml_service_request_duration_seconds_bucket",
    "bentoml_service_request_duration_seconds_sum",
    "bentoml_service_request_duration_seconds_count",
}
METRIC_NAME = re.compile(rf"\b(?:{PREFIX}|bentoml)_[a-zA-Z0-9_]+")


def exported() -> set[str]:
    """Every sample name the service's code exports, each metric given a value."""
    registry = CollectorRegistry()
    requests = RequestMetrics(registry)
    requests.answered("/predict")
    requests.predictions("champion", "1", 1, [[{"kind": "unknown_field"}]])
    requests.refused("/predict", "contract")
    store = {
        "champion": {"version": "1", "trained_at": "2026-04-01T00:00:00+00:00"},
        "challenger": {"version": "2", "trained_at": "2026-04-02T00:00:00+00:00"},
        "registry": {"reachable": True},
    }
    snapshot = MonitoringSnapshot(lambda: MonitoringResults(history_run("m", "1"), 0.2, {"added": 1}), 60.0)
    snapshot.refresh()
    text = render([*model_families(store, datetime(2026, 4, 3, tzinfo=UTC), True), *snapshot.families()])
    names = {name for name, _ in samples(text)}
    names |= {sample.name for metric in registry.collect() for sample in metric.samples}
    return names


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alert-rules.yml").read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def unknown_metrics(expr: str, known: set[str]) -> list[str]:
    return [name for name in METRIC_NAME.findall(expr) if name not in known]


def test_there_is_a_dashboard() -> None:
    """infra/grafana/dashboards holds the service's dashboard."""
    # Given / When the dashboards folder is listed / Then there is one to check
    assert [path.name for path in DASHBOARDS] == ["model-service.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_names_metrics_the_service_exports(path: Path) -> None:
    """Each panel's query names at least one metric, and only metrics the service exports."""
    # Given the dashboard and the names the service's code exports
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    known = exported() | BENTOML_METRICS
    # When every query is read
    queries = [(panel["title"], target["expr"]) for panel in panels(dashboard) for target in panel.get("targets", [])]
    # Then each names only those
    assert queries
    assert {title: unknown_metrics(expr, known) for title, expr in queries if unknown_metrics(expr, known)} == {}
    assert [title for title, expr in queries if not METRIC_NAME.search(expr)] == []


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_have_unique_ids_and_the_provisioned_data_source(path: Path) -> None:
    """Panel ids are unique (Grafana keys edits and links by them), and every panel and query
    uses the data source uid that the provisioning file creates."""
    # Given the dashboard and the provisioned data source
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    provisioning = INFRA / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    provisioned = {source["uid"] for source in yaml.safe_load(provisioning.read_text(encoding="utf-8"))["datasources"]}
    # When its panels are read
    found = list(panels(dashboard))
    ids = [panel["id"] for panel in found]
    sources = {panel["datasource"]["uid"] for panel in found if "datasource" in panel}
    sources |= {target["datasource"]["uid"] for panel in found for target in panel.get("targets", [])}
    # Then
    assert len(ids) == len(set(ids)), f"repeated panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert sources == provisioned == {"prometheus"}
    assert dashboard["uid"]
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    unplaced = [p["title"] for p in found if not {"x", "y", "w", "h"} <= set(p["gridPos"])]
    assert unplaced == []


def test_every_alert_rule_names_metrics_the_service_exports() -> None:
    """Each rule's expression names at least one exported metric and nothing else; each has a
    severity and a summary."""
    # Given the rules and the exported names
    known = exported() | BENTOML_METRICS
    found = rules()
    # When their expressions are read / Then
    assert found
    assert {r["alert"]: unknown_metrics(r["expr"], known) for r in found if unknown_metrics(r["expr"], known)} == {}
    assert [r["alert"] for r in found if not METRIC_NAME.search(r["expr"])] == []
    assert [r["alert"] for r in found if r["labels"]["severity"] not in ("critical", "warning", "info")] == []
    assert [r["alert"] for r in found if not r["annotations"].get("summary")] == []


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus); the YAML checks above still ran")
    return subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_rules_and_the_scrape_config() -> None:
    """`promtool check rules` and `check config` (which loads the rule file it names) pass."""
    # Given / When promtool checks the files
    checks = [promtool("check", "rules", "alert-rules.yml"), promtool("check", "config", "prometheus.yml")]
    # Then both pass
    assert [c.returncode for c in checks] == [0, 0], "\n".join(c.stdout + c.stderr for c in checks)


def test_the_alert_rules_fire_on_their_unit_tests() -> None:
    """`promtool test rules`: a log that cannot be written, a refusal share over 5% and a primary
    metric 30% under the holdout's fire their alerts; a missing champion fires, drift under the
    threshold does not."""
    # Given / When the rules' unit tests run
    result = promtool("test", "rules", "alert-rules.test.yml")
    # Then they pass
    assert result.returncode == 0, result.stdout + result.stderr
