"""What the chart's alerting rules and dashboard need from the tests: the promtool binary, the chart's rules
as Prometheus loads them, the metric names a query uses, and the series names an exposition offers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from localfed.federation import binaries_dir

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "federation-operator"
RELEASE, NAMESPACE = "fedop", "fedop-system"
WITH_ALERTS = ["--set", "metrics.enabled=true", "--set", "metrics.prometheusRule.enabled=true"]

# Every metric of the operator is named fedop_*; PromQL's functions and keywords never are.
_METRIC = re.compile(r"\bfedop_[a-zA-Z0-9_]+")
# The series a metric family of each type offers beyond its own name.
_SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def promtool() -> Path:
    versions = dict(
        line.split("=", 1)
        for line in (REPO / "hack" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    binary = binaries_dir() / f"promtool-{versions['PROMTOOL_VERSION']}"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run hack/build-binaries.sh")
    return binary


def check_rules(path: Path, groups: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` of ``groups``, written to ``path``."""
    path.write_text(yaml.safe_dump({"groups": groups}))
    return subprocess.run(
        [str(promtool()), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def render_chart(helm: list[str], *values: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [*helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *values],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def rule_groups(helm: list[str], *values: str) -> list[dict[str, Any]]:
    """The rule groups of the chart's PrometheusRule, rendered with ``values`` on top of alerts enabled."""
    (rule,) = [doc for doc in render_chart(helm, *WITH_ALERTS, *values) if doc["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def metric_names(query: str) -> set[str]:
    return set(_METRIC.findall(query))


def exported_series(exposition: str) -> set[str]:
    """Every series name the Prometheus text ``exposition`` declares (a family with no samples yet, such as a
    labelled counter nothing has counted, still declares its name) or holds."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.update(f"{name}{suffix}" for suffix in _SUFFIXES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
