"""The chart's alerting rules and dashboard read what the running operator really serves: every metric they
name is in its /metrics, and the series the alerts select on carry the labels the rules group by."""

from __future__ import annotations

import json
import urllib.request

import pytest
from localfed.operator import OperatorProcess, eventually
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.prometheus import exported_series, metric_names, render_chart, rule_groups

pytestmark = pytest.mark.e2e


def fetch_metrics(port: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
    return text


def used_by_the_chart(helm: list[str]) -> set[str]:
    alerts = {
        name for group in rule_groups(helm) for rule in group["rules"] for name in metric_names(rule["expr"])
    }
    docs = render_chart(helm, "--set", "metrics.enabled=true", "--set", "metrics.dashboard.enabled=true")
    (board,) = [json.loads(*d["data"].values()) for d in docs if d["kind"] == "ConfigMap"]
    panels = {name for p in board["panels"] for t in p.get("targets", ()) for name in metric_names(t["expr"])}
    return alerts | panels


def test_every_metric_of_the_rules_and_dashboard_is_served(
    helm: list[str], operator: OperatorProcess, control: object
) -> None:
    """With the control FederatedService served by every member, the operator's own /metrics."""
    port = operator.settings["metrics_port"]
    wanted = used_by_the_chart(helm)
    assert {"fedop_shards", "fedop_cluster_ready", "fedop_leader", "fedop_dns_errors_total"} <= wanted

    def labelled() -> str | None:
        text = fetch_metrics(port)
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        shards = [s.labels for s in samples if s.name == "fedop_shards"]
        ready = [s.labels for s in samples if s.name == "fedop_cluster_ready"]
        healthy = any(labels.get("healthy") == "true" for labels in shards)
        return text if healthy and ready and all("cluster" in labels for labels in shards + ready) else None

    text = eventually("healthy shards and member readiness in /metrics", labelled, timeout=30)
    served = exported_series(text)
    assert wanted <= served, f"named by the chart but not served: {sorted(wanted - served)}"
    assert {
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == "fedop_leader"
    } == {1.0}
