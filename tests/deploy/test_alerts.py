"""The chart's alerting rules (a PrometheusRule): Prometheus' own promtool loads them and runs their unit
tests (tests/deploy/alerting/rules_test.yaml), every alert fires in some test and stays quiet in another, and
every series they read is one the operator exports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from federation_operator.observability.metrics import Metrics
from tests.deploy.prometheus import (
    WITH_ALERTS,
    check_rules,
    exported_series,
    metric_names,
    promtool,
    render_chart,
    rule_groups,
)

TESTS = Path(__file__).parent / "alerting" / "rules_test.yaml"
ALERTS = {
    "FederationShardsUnhealthy",
    "FederationMemberServesNothing",
    "FederationNoHealthyShard",
    "FederationServiceWithoutHealthyShard",
    "FederationRegionWithoutHealthyShard",
    "FederationDNSFrozen",
    "FederationMemberNotReady",
    "FederationDNSPublishingFailing",
    "FederationDNSChangesPendingTooLong",
    "FederationNoActiveOperator",
    "FederationReconcileErrors",
}


def alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"]]


def run_promtool_tests(helm: list[str], tmp_path: Path, *values: str) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of the unit tests against the chart's rules rendered with ``values``."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups(helm, *values)}))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    return subprocess.run(
        [str(promtool()), "test", "rules", TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_rule_is_off_by_default_and_needs_metrics(helm: list[str]) -> None:
    assert [
        d for d in render_chart(helm, "--set", "metrics.enabled=true") if d["kind"] == "PrometheusRule"
    ] == []
    assert {d["kind"] for d in render_chart(helm, *WITH_ALERTS)} >= {"PrometheusRule", "Service"}
    out = subprocess.run(
        [
            *helm,
            "template",
            "fedop",
            "deploy/federation-operator",
            "--set",
            "metrics.prometheusRule.enabled=true",
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode != 0
    assert "metrics.prometheusRule.enabled needs metrics.enabled=true" in out.stderr


def test_promtool_accepts_the_rendered_rules(helm: list[str], tmp_path: Path) -> None:
    groups = rule_groups(helm, "--set", "metrics.prometheusRule.runbookBaseURL=https://example.com/README.md")
    assert {rule["alert"] for rule in alerts(groups)} == ALERTS
    for rule in alerts(groups):
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["runbook_url"] == f"https://example.com/README.md#{rule['alert'].lower()}"
    out = check_rules(tmp_path / "rules.yaml", groups)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in out.stdout


def test_every_alert_passes_its_promtool_unit_tests(helm: list[str], tmp_path: Path) -> None:
    out = run_promtool_tests(helm, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [case for test in yaml.safe_load(TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    assert {c["alertname"] for c in cases if c["exp_alerts"]} == ALERTS
    assert {c["alertname"] for c in cases if not c["exp_alerts"]} == ALERTS


@pytest.mark.parametrize(
    "values",
    [
        ["--set", "metrics.prometheusRule.for.shardsUnhealthy=30m"],
        ["--set", "metrics.prometheusRule.for.noActiveOperator=10m"],
        ["--set-json", 'metrics.prometheusRule.alertLabels={"team": "platform"}'],
    ],
    ids=["slower-shard-alert", "slower-leader-alert", "extra-alert-labels"],
)
def test_the_unit_tests_catch_a_changed_rule(helm: list[str], tmp_path: Path, values: list[str]) -> None:
    """The control: rules that behave otherwise than the tests say fail them."""
    out = run_promtool_tests(helm, tmp_path, *values)
    assert out.returncode != 0
    assert "FAILED" in out.stdout + out.stderr


def test_extra_alert_labels_reach_every_alert(helm: list[str]) -> None:
    groups = rule_groups(helm, "--set-json", 'metrics.prometheusRule.alertLabels={"team": "platform"}')
    assert all(rule["labels"]["team"] == "platform" for rule in alerts(groups))


def test_rules_and_their_tests_use_only_series_the_operator_exports(helm: list[str]) -> None:
    exported = exported_series(generate_latest(Metrics().registry).decode())
    used = {name for rule in alerts(rule_groups(helm)) for name in metric_names(rule["expr"])}
    assert used, "no metric found in the rules"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
    series = [s["series"] for t in yaml.safe_load(TESTS.read_text())["tests"] for s in t["input_series"]]
    in_tests = {name for s in series for name in metric_names(s)}
    assert in_tests <= exported, f"not exported: {sorted(in_tests - exported)}"
    # The check itself tells a made-up metric from a real one.
    assert not metric_names("rate(fedop_dns_failures_total[5m])") <= exported
