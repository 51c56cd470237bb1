"""``spec.dns.policy.healthCheck``: the spec's checks, the refusal by providers that run no health checks,
the settings carried in the set identifiers the planner makes and read back from them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from federation_operator.domain.health_checks import HealthCheck, read_health_check, with_health_check
from federation_operator.domain.records import ServiceNames, ShardAddresses, split_weighted_values
from federation_operator.domain.specs import DnsPolicy
from federation_operator.planning.policy import plan_policy_refusal
from federation_operator.planning.publication import plan_service_tiers
from federation_operator.planning.records import plan_records
from tests.unit.test_policy import NAMES, member
from tests.unit.test_publication import shard


def policy(**raw: Any) -> DnsPolicy:
    return DnsPolicy.model_validate(raw)


HTTP = {"protocol": "HTTPS", "port": 8443, "path": "/ready", "intervalSeconds": 10, "failureThreshold": 5}


def test_the_spec_becomes_the_health_check_with_defaults() -> None:
    checked = policy(type="weighted", healthCheck=HTTP).health_check
    assert checked is not None
    assert checked.to_health_check() == HealthCheck("HTTPS", 8443, "/ready", 10, 5)
    tcp = policy(type="latency", healthCheck={"protocol": "TCP", "port": 80}).health_check
    assert tcp is not None
    assert tcp.to_health_check() == HealthCheck("TCP", 80, "/", 30, 3)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (
            {"type": "tiered", "healthCheck": {"protocol": "TCP", "port": 80}},
            "weighted, latency, geolocation and failover",
        ),
        ({"type": "weighted", "healthCheck": {"protocol": "TCP", "port": 80, "path": "/"}}, "HTTP and HTTPS"),
        ({"type": "weighted", "healthCheck": {**HTTP, "intervalSeconds": 20}}, "intervalSeconds"),
        ({"type": "weighted", "healthCheck": {**HTTP, "failureThreshold": 11}}, "failureThreshold"),
        ({"type": "weighted", "healthCheck": {**HTTP, "path": "/a~b"}}, "path"),
        ({"type": "weighted", "healthCheck": {"protocol": "UDP", "port": 80}}, "protocol"),
    ],
)
def test_bad_health_checks_are_refused_naming_the_field(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        policy(**raw)


@pytest.mark.parametrize("provider", ["clouddns", "rfc2136", "inmemory"])
def test_providers_without_health_checks_refuse_them_naming_route53(provider: str) -> None:
    refusal = plan_policy_refusal(
        policy(type="weighted", healthCheck=HTTP), provider=provider, regions=["us-east-1"]
    )
    assert refusal is not None
    assert "spec.dns.policy.healthCheck" in str(refusal)
    assert "route53" in str(refusal)
    assert provider in str(refusal)
    ok = plan_policy_refusal(policy(type="weighted", healthCheck=HTTP), provider="route53", regions=["x"])
    assert ok is None


@pytest.mark.parametrize(
    "check",
    [HealthCheck("TCP", 1), HealthCheck("HTTP", 65535, "/a/b.c-d_e", 10, 10), HealthCheck("HTTPS", 443)],
)
def test_set_identifiers_carry_the_settings_both_ways(check: HealthCheck) -> None:
    identifier = with_health_check("fedop-weight-0123456789abcdef", check)
    assert identifier.startswith("fedop-weight-0123456789abcdef~hc~")
    assert len(identifier) <= 128  # Route 53's limit on a set identifier
    assert read_health_check(identifier) == check
    assert with_health_check("fedop-weight-x", None) == "fedop-weight-x"
    assert read_health_check("fedop-weight-x") is None
    assert read_health_check("fedop-weight-x~hc~TCP~80~20~3") is None  # no interval Route 53 takes


def test_the_planner_puts_the_check_in_every_share_and_a_new_setting_is_a_new_identifier() -> None:
    shards = [
        ShardAddresses(cluster=c, region="r", zones=frozenset({"z"}), ipv4=(f"127.0.0.{i}",))
        for i, c in enumerate(["a", "b"], 1)
    ]

    def identifiers(check: HealthCheck | None) -> set[str]:
        records = plan_records(
            names=ServiceNames(service="web", namespace="ns", federation="fed", domain="example.com"),
            ttl=60,
            aliases=(),
            topology={"r": frozenset({"z"})},
            healthy=shards,
            global_weights={},
            global_health_check=check,
        )
        (group,) = [r for r in records if r.type == "WEIGHTED"]
        return set(split_weighted_values(group.values))

    check = HealthCheck("HTTP", 80, "/hz")
    with_check = identifiers(check)
    assert len(with_check) == 2
    assert {read_health_check(i) for i in with_check} == {check}
    assert not with_check & identifiers(HealthCheck("HTTP", 81, "/hz"))
    assert {read_health_check(i) for i in identifiers(None)} == {None}


def test_the_object_spec_reaches_the_planned_identifiers() -> None:
    # What the reconciler plans from the spec (plan_service_tiers), not only the planner's own argument.
    clusters = [member("a", "r1"), member("c", "r2")]
    counted = [shard("a", healthy=True, address="127.0.0.1"), shard("c", healthy=True, address="127.0.0.3")]
    kinds = {"type": "weighted", "healthCheck": {"protocol": "TCP", "port": 443}}
    tiers = plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted, policy=policy(**kinds)
    )
    (group,) = [r for r in tiers.records if r.type == "WEIGHTED"]
    assert {read_health_check(i) for i in split_weighted_values(group.values)} == {HealthCheck("TCP", 443)}
