"""The Prometheus endpoint of the running operator, scraped while it propagates a FederatedService."""

from __future__ import annotations

import urllib.request
import uuid

import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.operator import OperatorProcess, condition, eventually
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_propagation import Host, fsvc_body

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: str) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_scrape_reports_writes_probes_reconciles_and_dns(
    operator: OperatorProcess, registered: LocalFederation
) -> None:
    port = operator.settings["metrics_port"]
    members = [m.spec.name for m in registered.members]
    namespace = f"metrics-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    host = Host(registered, namespace)
    host.create(fsvc_body("web", namespace))
    try:
        eventually(
            "web propagated",
            lambda: (c := condition(host.get("web"), "Propagated")) is not None and c["status"] == "True",
        )

        def complete() -> Samples | None:
            samples = scrape(port)
            checks = [
                *(
                    value(samples, "fedop_member_writes_total", cluster=m, verb="create") >= 1
                    for m in members
                ),
                *(value(samples, "fedop_cluster_ready", cluster=m) == 1 for m in members),
                *(
                    value(samples, "fedop_cluster_probe_total", cluster=m, result="success") > 0
                    for m in members
                ),
                *(
                    value(samples, "fedop_shards", cluster=m, healthy="true")
                    + value(samples, "fedop_shards", cluster=m, healthy="false")
                    >= 1
                    for m in members
                ),
                value(samples, "fedop_reconcile_duration_seconds_count", result="ok") > 0,
                value(samples, "fedop_dns_provider_calls_total", provider="rfc2136") > 0,
            ]
            return samples if all(checks) else None

        samples = eventually("metrics of the propagated FederatedService", complete, timeout=30)
        assert ("fedop_dns_frozen", frozenset()) in samples
        assert ("fedop_workqueue_depth", frozenset()) in samples
    finally:
        host.delete("web")
        assert operator.alive(), f"the operator died:\n{operator.tail()}"
