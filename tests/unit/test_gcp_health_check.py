"""``spec.dns.policy.gcpHealthCheck`` (Cloud DNS failover with a Compute Engine health check): the spec's
checks, the URL the Cloud DNS API is given, and the refusal by every provider but clouddns."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from federation_operator.domain.gcp_failover import read_gcp_health_check, read_gcp_location
from federation_operator.domain.health import ShardHealth
from federation_operator.domain.members import ClusterInfo, Ingress
from federation_operator.domain.records import FAILOVER, ServiceNames, split_failover_values
from federation_operator.domain.specs import DnsPolicy
from federation_operator.planning.policy import plan_policy_refusal
from federation_operator.planning.publication import plan_service_tiers
from federation_operator.planning.records import TierPlan, render_published

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
    ok = plan_policy_refusal(
        failover(gcpHealthCheck=CHECK), provider="clouddns", regions=["us-east1", "eastus"]
    )
    assert ok is None
    # Without it, failover is the operator's own on every provider, as before.
    assert plan_policy_refusal(failover(), provider=provider, regions=["x"]) is None


def test_on_clouddns_every_placed_region_needs_a_google_cloud_region() -> None:
    # Any group may become the backup, whose geo item is in a Google Cloud region.
    refusal = plan_policy_refusal(
        failover(gcpHealthCheck=CHECK), provider="clouddns", regions=["us-east1", "dc1"]
    )
    assert refusal is not None
    assert [field for field, _ in refusal.problems] == ["spec.dns.policy.locations"]
    assert "dc1" in str(refusal)
    placed = failover(gcpHealthCheck=CHECK, locations=[{"region": "dc1", "gcpRegion": "europe-west3"}])
    assert plan_policy_refusal(placed, provider="clouddns", regions=["us-east1", "dc1"]) is None
    # Without gcpHealthCheck, failover takes no locations.
    with pytest.raises(ValidationError, match="failover with gcpHealthCheck"):
        failover(locations=[{"region": "dc1", "gcpRegion": "europe-west3"}])


# --- the planner: the global name's FAILOVER group ----------------------------------------------------------

NAMES = ServiceNames(service="nginx", namespace="ns", federation="fed", domain="example.com")
CLUSTERS = [
    ClusterInfo(name="gke-east", region="us-east1", zones=("us-east1-b",), ready=True, synced=True),
    ClusterInfo(name="gke-west", region="europe-west1", zones=("europe-west1-b",), ready=True, synced=True),
    ClusterInfo(name="aks-asia", region="eastasia", zones=("eastasia-1",), ready=True, synced=True),
]
ADDRESSES = {"gke-east": "127.0.0.1", "gke-west": "127.0.0.2", "aks-asia": "127.0.0.3"}
GROUPS = [{"clusters": ["gke-east"]}, {"clusters": ["gke-west"]}, {"clusters": ["aks-asia"]}]


def counted(*up: str) -> list[ShardHealth]:
    by_name = {c.name: c for c in CLUSTERS}
    return [
        ShardHealth(
            cluster=name,
            region=by_name[name].region,
            zones=by_name[name].zones,
            selected=True,
            synced=True,
            ingress=(Ingress(ip=ADDRESSES[name]),),
            ready_endpoints=1,
            healthy=True,
            reason="Healthy",
            message="",
            counted=True,
        )
        for name in up
    ]


def tiers(*up: str, check: str | None = CHECK) -> TierPlan:
    chosen = failover(gcpHealthCheck=check) if check else failover()
    chosen = chosen.model_copy(update={"groups": policy(type="failover", groups=GROUPS).groups})
    return plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=CLUSTERS, counted=counted(*up), policy=chosen
    )


def roles(plan: TierPlan) -> dict[str, tuple[tuple[str, ...], str | None, str | None]]:
    """Role → (addresses, the health check URL its identifier carries, the region it carries)."""
    (group,) = [r for r in plan.records if r.name == NAMES.global_name and r.type == FAILOVER]
    return {
        role: (addresses, read_gcp_health_check(identifier), read_gcp_location(identifier))
        for identifier, (role, addresses) in split_failover_values(group.values).items()
    }


def test_the_first_group_is_primary_probed_by_the_health_check_and_the_next_the_backup() -> None:
    plan = tiers("gke-east", "gke-west", "aks-asia")
    assert roles(plan) == {
        "PRIMARY": (("127.0.0.1",), URL, None),
        "SECONDARY": (("127.0.0.2",), None, "europe-west1"),
    }
    assert not [r for r in plan.records if r.key == (NAMES.global_name, "A")]
    # Region names keep their own shards.
    assert next(r for r in plan.records if r.name == NAMES.region_name("eastasia")).values == ("127.0.0.3",)
    shown = render_published(plan.records, names=NAMES, regions=[c.region for c in CLUSTERS])
    assert shown[0].type == FAILOVER
    assert shown[0].targets == ("127.0.0.1 failover PRIMARY", "127.0.0.2 failover SECONDARY")


def test_the_operators_failover_moves_both_roles_down_the_groups() -> None:
    plan = tiers("gke-west", "aks-asia")
    # AKS eastasia is nearest Google Cloud's asia-east2 (the built-in table).
    assert roles(plan) == {
        "PRIMARY": (("127.0.0.2",), URL, None),
        "SECONDARY": (("127.0.0.3",), None, "asia-east2"),
    }
    assert "answers group 2 (gke-west)" in plan.notes[0]


def test_with_nothing_behind_it_the_primary_is_its_own_backup() -> None:
    # Cloud DNS needs a backup; the primary's own addresses keep the name answering while they fail the
    # health check and nothing else is healthy.
    assert roles(tiers("aks-asia")) == {
        "PRIMARY": (("127.0.0.3",), URL, None),
        "SECONDARY": (("127.0.0.3",), None, "asia-east2"),
    }


def test_without_the_health_check_failover_stays_the_operators_own() -> None:
    plan = tiers("gke-east", "gke-west", check=None)
    assert not [r for r in plan.records if r.type == FAILOVER]
    assert next(r for r in plan.records if r.key == (NAMES.global_name, "A")).values == ("127.0.0.1",)


def test_a_new_health_check_or_backup_region_is_a_new_record_set() -> None:
    first = roles(tiers("gke-east", "gke-west"))
    other = tiers("gke-east", "gke-west", check="projects/my-project/global/healthChecks/web-443")
    assert (
        roles(other)["PRIMARY"][1]
        == "https://www.googleapis.com/compute/v1/projects/my-project/global/healthChecks/web-443"
    )
    assert roles(other)["SECONDARY"] == first["SECONDARY"]
