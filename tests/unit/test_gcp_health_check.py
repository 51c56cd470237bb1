"""``spec.dns.policy.gcpHealthCheck`` (Cloud DNS failover with a Compute Engine health check): the spec's
checks, the URL the Cloud DNS API is given, and the refusal by every provider but clouddns."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from federation_operator.domain.specs import DnsPolicy
from federation_operator.planning.policy import plan_policy_refusal

CHECK = "projects/my-project/global/healthChecks/web-80"
URL = f"https://www.googleapis.com/compute/v1/{CHECK}"


def policy(**raw: Any) -> DnsPolicy:
    return DnsPolicy.model_validate(raw)


def failover(**raw: Any) -> DnsPolicy:
    return policy(type="failover", groups=[{"clusters": ["a"]}], **raw)


@pytest.mark.parametrize("given", [CHECK, URL])
def test_the_health_check_is_given_to_cloud_dns_as_its_url(given: str) -> None:
    assert failover(gcpHealthCheck=given).gcp_health_check_url == URL
    assert failover().gcp_health_check_url is None


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"type": "weighted", "gcpHealthCheck": CHECK}, "type failover only"),
        ({"type": "tiered", "gcpHealthCheck": CHECK}, "type failover only"),
        ({"type": "failover", "groups": [{}], "gcpHealthCheck": "web-80"}, "gcpHealthCheck"),
        (
            {"type": "failover", "groups": [{}], "gcpHealthCheck": "projects/p/global/healthChecks/web"},
            "gcpHealthCheck",
        ),
        (
            {
                "type": "failover",
                "groups": [{}],
                "gcpHealthCheck": "projects/my-project/regions/us-east1/healthChecks/web",
            },
            "gcpHealthCheck",
        ),
        (
            {"type": "failover", "groups": [{}], "gcpHealthCheck": f"http://example.com/compute/v1/{CHECK}"},
            "gcpHealthCheck",
        ),
    ],
)
def test_bad_gcp_health_checks_are_refused_naming_the_field(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        policy(**raw)


@pytest.mark.parametrize("provider", ["route53", "rfc2136", "inmemory"])
def test_providers_other_than_clouddns_refuse_it_naming_clouddns(provider: str) -> None:
    refusal = plan_policy_refusal(failover(gcpHealthCheck=CHECK), provider=provider, regions=["us-east1"])
    assert refusal is not None
    assert [field for field, _ in refusal.problems] == ["spec.dns.policy.gcpHealthCheck"]
    assert "clouddns" in str(refusal)
    assert provider in str(refusal)
    assert plan_policy_refusal(failover(gcpHealthCheck=CHECK), provider="clouddns", regions=["x"]) is None
    # Without it, failover is the operator's own on every provider, as before.
    assert plan_policy_refusal(failover(), provider=provider, regions=["x"]) is None
