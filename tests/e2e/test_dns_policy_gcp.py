"""spec.dns.policy.gcpHealthCheck on the local federation: the real API server's schema refuses it outside
failover and in a malformed name, and the operator, publishing to BIND (RFC 2136), refuses failover with it on
the object's status and in an event, naming clouddns, and writes nothing for the object."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed.operator import condition, eventually

from tests.e2e.test_dns import member_names
from tests.e2e.test_dns_policy import PolicySeed, seed

__all__ = ["seed"]  # the fixture, shared with test_dns_policy

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

CHECK = "projects/my-project/global/healthChecks/nginx-80"


def test_the_api_server_and_the_operator_refuse_a_gcp_health_check_they_cannot_take(seed: PolicySeed) -> None:
    first, second, *_ = member_names(seed.fed)
    groups: list[dict[str, Any]] = [{"clusters": [first]}, {"clusters": [second]}]
    for policy, words in (
        ({"type": "tiered", "gcpHealthCheck": CHECK}, "gcpHealthCheck applies to type failover only"),
        ({"type": "failover", "groups": groups, "gcpHealthCheck": "nginx-80"}, "gcpHealthCheck"),
        (
            {"type": "failover", "groups": groups, "locations": [{"region": "dc1", "gcpRegion": "us-east1"}]},
            "locations apply to types latency and geolocation, and to failover with gcpHealthCheck, only",
        ),
    ):
        with pytest.raises(ApiException) as caught:
            seed.create_with(policy)
        assert caught.value.status == 422
        assert words in str(caught.value.body)

    seed.create_with({"type": "failover", "groups": groups, "gcpHealthCheck": CHECK})
    propagated = eventually(
        "the health check refused on status",
        lambda: (c := condition(seed.get(), "Propagated")) and c["reason"] == "InvalidSpec" and c,
    )
    assert "spec.dns.policy.gcpHealthCheck" in propagated["message"]
    assert "clouddns" in propagated["message"]
    eventually(
        "an InvalidSpec event",
        lambda: any(
            e.reason == "InvalidSpec" and "gcpHealthCheck" in (e.message or "")
            for e in client.CoreV1Api(seed.fed.api_client("federation"))
            .list_namespaced_event(seed.namespace, field_selector=f"involvedObject.name={seed.name}")
            .items
        ),
    )
    for cluster in member_names(seed.fed):
        with pytest.raises(ApiException) as missing:
            client.CoreV1Api(seed.fed.api_client(cluster)).read_namespaced_service(seed.name, seed.namespace)
        assert missing.value.status == 404
