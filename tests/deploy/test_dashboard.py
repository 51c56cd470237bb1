"""The chart's Grafana dashboard (a ConfigMap for Grafana's sidecar): off by default, valid JSON, every query
valid PromQL (promtool parses it), reading only this release's series of metrics the operator exports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest

from federation_operator.observability.metrics import Metrics
from tests.deploy.prometheus import check_rules, exported_series, metric_names, promtool, render_chart

WITH_DASHBOARD = ["--set", "metrics.enabled=true", "--set", "metrics.dashboard.enabled=true"]
SELECTOR = 'job="fedop-federation-operator-metrics",namespace="fedop-system"'


def dashboards(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]]


def dashboard(helm: list[str], *values: str) -> dict[str, Any]:
    (config_map,) = dashboards(render_chart(helm, *WITH_DASHBOARD, *values))
    (text,) = config_map["data"].values()
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def queries(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", ())]


def test_off_by_default_and_labelled_for_the_sidecar_when_on(helm: list[str]) -> None:
    assert dashboards(render_chart(helm, "--set", "metrics.enabled=true")) == []
    docs = render_chart(helm, *WITH_DASHBOARD, "--set", "metrics.dashboard.folder=Federation")
    (config_map,) = dashboards(docs)
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Federation"}
    assert list(config_map["data"]) == ["federation-operator.json"]
    other = render_chart(helm, *WITH_DASHBOARD, "--set", "metrics.dashboard.label=dashboards")
    assert dashboards(other) == []  # labelled for a sidecar that looks for "dashboards" instead
    assert any(d["kind"] == "ConfigMap" and "dashboards" in d["metadata"]["labels"] for d in other)


def test_every_panel_queries_this_releases_exported_metrics(helm: list[str]) -> None:
    board = dashboard(helm)
    assert board["uid"] == "federation-operator"
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel.get("targets"), f"panel {panel['title']!r} has no query"
    exported = exported_series(generate_latest(Metrics().registry).decode())
    for query in queries(board):
        assert SELECTOR in query, query
        assert metric_names(query), f"no metric in {query}"
        assert metric_names(query) <= exported, f"not exported: {metric_names(query) - exported} in {query}"
    # What the issue asks the dashboard to show: shards healthy, failovers, DNS changes and errors, member
    # readiness, the reconcile rate.
    used = {name for query in queries(board) for name in metric_names(query)}
    assert used >= {
        "fedop_shards",
        "fedop_cluster_ready",
        "fedop_dns_changes_total",
        "fedop_dns_errors_total",
        "fedop_reconcile_duration_seconds_count",
    }


def test_every_query_is_valid_promql(helm: list[str], tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (Grafana's $__rate_interval stands for a duration)."""
    board = dashboard(helm)
    rules = [
        {"record": f"dashboard:query_{i}", "expr": query.replace("$__rate_interval", "5m")}
        for i, query in enumerate(queries(board))
    ]
    path = tmp_path / "queries.yaml"
    out = check_rules(path, [{"name": "dashboard", "rules": rules}])
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout
    # The control: a broken query is refused.
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": [{"record": "x:y", "expr": "sum(("}]}]})
    )
    refused = subprocess.run([str(promtool()), "check", "rules", str(path)], capture_output=True, check=False)
    assert refused.returncode != 0
