"""The metrics contract: the series deploy/README.md lists are the ones the
alerts and the Grafana dashboard use, and the chart's ServiceMonitor,
PrometheusRule and dashboard ConfigMap are wired to what the pods serve."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "charts" / "laurel" / "dashboards" / "laurel.json"
# The four alerts issue 15 asks for, and the series each one watches.
ALERTS = {
    "LaurelOutboxStuck": "laurel_outbox_oldest_unpublished_age_seconds",
    "LaurelConsumerLagGrowing": "laurel_consumer_lag_positions",
    "LaurelParkedMessages": "laurel_parked_messages",
    "LaurelCheckpointOverdue": "laurel_audit_last_checkpoint_timestamp_seconds",
}
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def _contract() -> set[str]:
    """The series in the operator guide's metrics table."""
    guide = (ROOT / "deploy" / "README.md").read_text()
    section = guide.split("## Metrics and alerts", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(laurel_[a-z_]+)` \|", section, re.MULTILINE))


def _series(expression: str) -> set[str]:
    names = set()
    for name in re.findall(r"\blaurel_[a-z_]+", expression):
        for part in HISTOGRAM_PARTS:
            name = name.removesuffix(part) if name.endswith(part) else name
        names.add(name)
    return names


def _balanced(expression: str) -> bool:
    depth = {"(": 0, "{": 0, "[": 0}
    closing = {")": "(", "}": "{", "]": "["}
    for char in expression:
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                return False
    return not any(depth.values())


@pytest.fixture(scope="module")
def full(renderings: dict) -> list[Any]:
    return renderings["ci/full-values.yaml"]


def test_contract_lists_the_series_the_issue_names() -> None:
    contract = _contract()
    assert set(ALERTS.values()) <= contract
    assert len(contract) >= 10


def test_dashboard_shows_exactly_the_contract() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert all(_balanced(e) for e in expressions)
    shown = set().union(*map(_series, expressions))
    assert shown == _contract()
    assert all('namespace="$namespace"' in e for e in expressions)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "namespace"}
    assert dashboard["uid"] and len({p["id"] for p in dashboard["panels"]}) == len(
        dashboard["panels"])


def test_alerts_watch_their_series_in_the_release_namespace(full: list[Any], find: Any) -> None:
    rule = find(full, "PrometheusRule", "laurel")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [group] = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == set(ALERTS)
    for name, series in ALERTS.items():
        expression = alerts[name]["expr"]
        assert _balanced(expression), name
        assert _series(expression) == {series}, name
        assert f'{series}{{namespace="laurel"}}' in expression, name
        assert alerts[name]["labels"]["severity"] in ("warning", "critical")
        assert "deploy/README.md, Alerts" in alerts[name]["annotations"]["description"]
        # Prometheus fills these in; Helm must have left them alone.
        assert "{{ $labels." in alerts[name]["annotations"]["description"]
    assert alerts["LaurelOutboxStuck"]["expr"].endswith("> 300")
    assert "[15m]" in alerts["LaurelConsumerLagGrowing"]["expr"]
    # full-values: "*/30 * * * *" -> overdue after two periods, 3600 s.
    assert alerts["LaurelCheckpointOverdue"]["expr"].rstrip().endswith("> 3600")
    assert set(_series(" ".join(r["expr"] for r in group["rules"]))) <= _contract()


def test_checkpoint_alert_only_with_a_checkpoint_job(renderings: dict, render: Any,
                                                     find: Any) -> None:
    objects = render({"checkpointJob": {"enabled": False},
                      "metrics": {"prometheusRule": {"enabled": True}}})
    rule = find(objects, "PrometheusRule", "laurel")
    assert "LaurelCheckpointOverdue" not in {
        r["alert"] for r in rule["spec"]["groups"][0]["rules"]}


def test_service_monitor_scrapes_every_components_metrics_port(
    full: list[Any], find: Any
) -> None:
    monitor = find(full, "ServiceMonitor", "laurel")
    selector = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == (
        "metrics", "/metrics", "15s")
    selected = [o for o in full if o.kind == "Service"
                and selector.items() <= o.obj["metadata"]["labels"].items()]
    assert sorted(o.name for o in selected) == sorted(
        f"laurel-{c}" for c in ("intake", "scoring", "review", "notification", "audit"))
    for service in selected:
        port = next(p for p in service.obj["spec"]["ports"] if p["name"] == "metrics")
        deployment = find(full, "Deployment", service.name)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        served = next(p for p in container["ports"] if p["name"] == "metrics")
        assert port["targetPort"] == "metrics" and port["port"] == served["containerPort"]


def test_dashboard_configmap_carries_the_file(full: list[Any], find: Any) -> None:
    config = find(full, "ConfigMap", "laurel-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"]["laurel.json"]) == json.loads(DASHBOARD.read_text())


def test_metrics_objects_are_off_by_default(renderings: dict) -> None:
    for case in ("default", "deploy/values-small.yaml", "ci/minimal-values.yaml"):
        kinds = {o.kind for o in renderings[case]}
        assert not kinds & {"ServiceMonitor", "PrometheusRule"}, case
        assert "laurel-dashboard" not in {o.name for o in renderings[case]}
