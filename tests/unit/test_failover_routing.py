"""Failover decided by the managed DNS service (``spec.dns.policy`` type ``failover`` with ``healthCheck``):
the ``FAILOVER`` record set's values (``<set identifier> <PRIMARY|SECONDARY> <address>``) and their rules,
which groups become the primary and the standby (named scenarios and hypothesis invariants), the global
name's records, and what status says of each shard."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.domain.health_checks import HealthCheck, read_health_check
from federation_operator.domain.members import EndpointSummary, Ingress
from federation_operator.domain.records import (
    FAILOVER,
    FAILOVER_ROLES,
    RecordSet,
    ShardAddresses,
    failover_set_identifier,
    failover_value,
    other_types_marker,
    split_failover_values,
)
from federation_operator.planning.policy import (
    plan_failover_ranks,
    plan_failover_roles,
    plan_global_clusters,
)
from federation_operator.planning.publication import plan_service_tiers
from federation_operator.planning.reconcile import Federation, plan_member_writes, plan_reconcile
from federation_operator.planning.records import plan_tiers, render_published
from tests.unit.test_policy import (
    CLUSTERS,
    NAMES,
    NAMES_AB,
    healthy,
    member,
    policy,
)
from tests.unit.test_policy import (
    FAILOVER as FAILOVER_SPEC,
)
from tests.unit.test_publication import shard
from tests.unit.test_reconcile import SPEC, manifests, observe, ours

CHECK = {"protocol": "HTTP", "port": 8080, "path": "/healthz", "intervalSeconds": 10, "failureThreshold": 2}
CHECKED = {**FAILOVER_SPEC, "healthCheck": CHECK}


# --- the FAILOVER record set --------------------------------------------------------------------------------


def test_failover_values_are_normalized_and_read_back_per_set() -> None:
    primary = failover_set_identifier(NAMES.global_name, "PRIMARY", ["127.0.0.2", "127.0.0.1"])
    standby = failover_set_identifier(NAMES.global_name, "SECONDARY", ["127.0.0.3"])
    record = RecordSet(
        NAMES.global_name,
        FAILOVER,
        60,
        (
            failover_value(standby, "SECONDARY", "127.0.0.3"),
            failover_value(primary, "PRIMARY", " 127.0.0.2"),
            failover_value(primary, "PRIMARY", "127.0.0.1"),
        ),
    )
    assert record.values == tuple(
        sorted(
            (
                f"{primary} PRIMARY 127.0.0.1",
                f"{primary} PRIMARY 127.0.0.2",
                f"{standby} SECONDARY 127.0.0.3",
            )
        )
    )
    assert split_failover_values(record.values) == {
        primary: ("PRIMARY", ("127.0.0.1", "127.0.0.2")),
        standby: ("SECONDARY", ("127.0.0.3",)),
    }
    assert FAILOVER_ROLES == ("PRIMARY", "SECONDARY")


def test_failover_set_identifiers_are_ours_and_follow_the_role_and_the_addresses() -> None:
    primary = failover_set_identifier(NAMES.global_name, "PRIMARY", ["127.0.0.1"])
    assert primary.startswith("fedop-failover-")
    # The same share planned again keeps its identifier: a second round sends nothing.
    assert failover_set_identifier(NAMES.global_name.upper(), "PRIMARY", [" 127.0.0.1"]) == primary
    # A share changing role or addresses is a new set (the old deleted, the new created in one change).
    assert failover_set_identifier(NAMES.global_name, "SECONDARY", ["127.0.0.1"]) != primary
    assert failover_set_identifier(NAMES.global_name, "PRIMARY", ["127.0.0.2"]) != primary
    assert failover_set_identifier("other.example.com.", "PRIMARY", ["127.0.0.1"]) != primary


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (("fedop-failover-a ACTIVE 127.0.0.1",), "a failover value is"),
        (("fedop-failover-a PRIMARY",), "a failover value is"),
        (("fedop-failover-a primary 127.0.0.1",), "a failover value is"),
        (("fedop-failover-a PRIMARY 127.0.0.1", "fedop-failover-a SECONDARY 127.0.0.2"), "two roles"),
        # Route 53 takes one PRIMARY and one SECONDARY per name and type.
        (("fedop-failover-a PRIMARY 127.0.0.1", "fedop-failover-b PRIMARY 127.0.0.2"), "one failover"),
        (("fedop-failover-a SECONDARY 127.0.0.1", "fedop-failover-b SECONDARY 127.0.0.2"), "one failover"),
    ],
)
def test_failover_values_of_another_shape_or_two_sets_of_one_role_are_refused(
    values: tuple[str, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        RecordSet(NAMES.global_name, FAILOVER, 60, values)


def test_a_failover_address_must_be_ipv4() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (ipaddress's own message)
        RecordSet(NAMES.global_name, FAILOVER, 60, ("fedop-failover-a PRIMARY ::1",))


def test_a_failover_group_is_no_other_data_at_its_name() -> None:
    assert other_types_marker(NAMES.global_name, ["FAILOVER"]) is None


# --- which groups are the primary and the standby -----------------------------------------------------------


@pytest.mark.parametrize(
    ("up", "roles"),
    [
        pytest.param(
            {"a", "b", "c", "d"},
            {"a": "PRIMARY", "b": "PRIMARY", "c": "SECONDARY"},
            id="first-group-primary-next-standby",
        ),
        pytest.param({"b", "c", "d"}, {"b": "PRIMARY", "c": "SECONDARY"}, id="one-primary-left"),
        # The operator withdraws a group it finds unhealthy: the next ones move up.
        pytest.param({"c", "d"}, {"c": "PRIMARY", "d": "SECONDARY"}, id="backup-group-primary"),
        pytest.param({"a", "d"}, {"a": "PRIMARY", "d": "SECONDARY"}, id="implicit-last-group-standby"),
        # Nothing healthy to stand by: a primary alone.
        pytest.param({"d"}, {"d": "PRIMARY"}, id="primary-alone"),
        pytest.param(set(), {}, id="nothing-healthy"),
    ],
)
def test_the_first_group_with_a_healthy_shard_is_the_primary_and_the_next_the_standby(
    up: set[str], roles: dict[str, str]
) -> None:
    shards = [healthy(name, f"127.0.0.{i + 1}") for i, name in enumerate("abcd") if name in up]
    assert plan_failover_roles(policy(**CHECKED), CLUSTERS, shards) == roles


def test_without_health_check_or_failover_the_operator_decides() -> None:
    shards = [healthy("a", "127.0.0.1")]
    assert plan_failover_roles(policy(**FAILOVER_SPEC), CLUSTERS, shards) is None
    assert plan_failover_roles(policy(type="weighted", healthCheck=CHECK), CLUSTERS, shards) is None
    assert plan_failover_roles(None, CLUSTERS, shards) is None


def test_a_group_reached_by_hostnames_only_gets_no_role() -> None:
    elb = ShardAddresses(cluster="a", region="r1", hostnames=("x.elb.amazonaws.com",))
    roles = plan_failover_roles(policy(**CHECKED), CLUSTERS, [elb, healthy("c", "127.0.0.3")])
    assert roles == {"c": "PRIMARY"}


@given(
    groups=st.lists(st.lists(NAMES_AB, min_size=1, max_size=3, unique=True), min_size=1, max_size=4),
    up=st.sets(NAMES_AB),
)
def test_failover_roles_invariants(groups: list[list[str]], up: set[str]) -> None:
    chosen = policy(type="failover", groups=[{"clusters": g} for g in groups], healthCheck=CHECK)
    clusters = [member(name, f"r{i % 2}") for i, name in enumerate("abcde")]
    shards = [healthy(name, f"127.0.0.{i + 1}", f"r{i % 2}") for i, name in enumerate("abcde") if name in up]
    ranks = plan_failover_ranks(chosen, clusters)
    roles = plan_failover_roles(chosen, clusters, shards)
    assert roles is not None
    primary = {c for c, role in roles.items() if role == "PRIMARY"}
    standby = {c for c, role in roles.items() if role == "SECONDARY"}
    # Only healthy clusters have a role; the primary is what the operator's own failover would answer.
    assert set(roles) <= up
    answering, _ = plan_global_clusters(chosen, clusters, shards)
    assert primary == answering
    # One group each, the standby's after the primary's, and no healthy group between them or before.
    assert len({ranks[c] for c in primary}) <= 1
    assert len({ranks[c] for c in standby}) <= 1
    assert all(ranks[p] < ranks[s] for p in primary for s in standby)
    healthy_ranks = sorted({ranks[c] for c in up})
    assert {ranks[c] for c in roles} == set(healthy_ranks[:2])
    # Every healthy cluster of those groups has its role.
    assert {c for c in up if ranks[c] in {ranks[r] for r in roles}} == set(roles)
    # The global name: one FAILOVER record set whose sets are exactly those roles' addresses.
    records = plan_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        topology={"r0": frozenset({"r0-a"}), "r1": frozenset({"r1-a"})},
        healthy=shards,
        global_clusters=answering,
        global_roles=roles,
        global_health_check=HealthCheck(protocol="TCP", port=80),
    ).records
    at_global = [r for r in records if r.name == NAMES.global_name]
    if not up:
        assert at_global == []
        return
    (group,) = at_global
    assert group.type == FAILOVER
    held = {role: set(addresses) for role, addresses in split_failover_values(group.values).values()}
    expected = {
        role: {f"127.0.0.{'abcde'.index(c) + 1}" for c in cs}
        for role, cs in (("PRIMARY", primary), ("SECONDARY", standby))
        if cs
    }
    assert held == expected
    assert all(read_health_check(i) is not None for i in split_failover_values(group.values))


# --- the global name's records ------------------------------------------------------------------------------


def two_regions(up: str = "ac") -> tuple[list[Any], list[Any]]:
    clusters = [member("a", "r1"), member("c", "r2", site="backup"), member("d", "r2")]
    addresses = {"a": "127.0.0.1", "c": "127.0.0.3", "d": "127.0.0.4"}
    counted = [
        replace(shard(c.name, healthy=True, address=addresses[c.name]), region=c.region, zones=c.zones)
        for c in clusters
        if c.name in up
    ]
    return clusters, counted


def test_the_global_name_becomes_failover_sets_with_health_checks_and_other_names_stay_tiered() -> None:
    clusters, counted = two_regions("acd")
    operator = plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted, policy=policy(**FAILOVER_SPEC)
    )
    native = plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted, policy=policy(**CHECKED)
    )
    (group,) = [r for r in native.records if r.name == NAMES.global_name]
    assert group.type == FAILOVER
    sets = split_failover_values(group.values)
    assert sorted(sets.values()) == [("PRIMARY", ("127.0.0.1",)), ("SECONDARY", ("127.0.0.3",))]
    for identifier, (role, addresses) in sets.items():
        assert identifier.startswith(failover_set_identifier(NAMES.global_name, role, addresses))
        assert read_health_check(identifier) == HealthCheck(
            protocol="HTTP", port=8080, path="/healthz", interval=10, failure_threshold=2
        )
    # Region and zone names keep their geo meaning, as under the operator's failover.
    assert {r for r in native.records if r.name != NAMES.global_name} == {
        r for r in operator.records if r.name != NAMES.global_name
    }
    published = render_published(native.records, names=NAMES, regions=["r1", "r2"])
    assert next(p for p in published if p.type == FAILOVER).targets == (
        "127.0.0.1 failover PRIMARY",
        "127.0.0.3 failover SECONDARY",
    )


def test_ipv6_stays_a_plain_record_set_of_the_operators_first_group() -> None:
    clusters = [member("a"), member("c", site="backup")]
    counted = [
        shard("a", healthy=True, address="127.0.0.1"),
        replace(shard("a", healthy=True, address="::1"), cluster="a"),
        shard("c", healthy=True, address="127.0.0.3"),
    ]
    # One shard per cluster: merge a's two ingress points.
    counted = [replace(counted[0], ingress=(*counted[0].ingress, *counted[1].ingress)), counted[2]]
    counted = [replace(s, region="r1", zones=frozenset({"r1-a"})) for s in counted]
    plan = plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted, policy=policy(**CHECKED)
    )
    at_global = {r.type: r for r in plan.records if r.name == NAMES.global_name}
    assert set(at_global) == {FAILOVER, "AAAA"}
    assert at_global["AAAA"].values == ("::1",)


def test_without_an_ipv4_shard_the_operator_fails_over_as_without_health_check() -> None:
    elb = ShardAddresses(cluster="a", region="r1", hostnames=("x.example.net",))
    records = plan_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        topology={"r1": frozenset()},
        healthy=[elb],
        global_clusters=frozenset({"a"}),
        global_roles={},
    ).records
    assert [(r.type, r.values) for r in records if r.name == NAMES.global_name] == [
        ("CNAME", ("x.example.net.",))
    ]


# --- the reconcile and status -------------------------------------------------------------------------------


def test_failover_with_health_check_reconciles_on_route53_with_primary_and_standby_answering() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("route53",))
    raw = {
        "type": "failover",
        "groups": [{"clusters": ["eu"]}],
        "healthCheck": {"protocol": "TCP", "port": 80},
    }
    spec = {**SPEC, "dns": {"policy": raw}}
    desired = manifests(observe(spec=spec))
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    name = "nginx.mynamespace.myfederation.svc.example.com."
    (group,) = [r for r in plan.records if r.key == (name, FAILOVER)]
    assert sorted(split_failover_values(group.values).values()) == [
        ("PRIMARY", ("127.0.0.20",)),
        ("SECONDARY", ("127.0.0.10",)),
    ]
    # Route 53 may answer either (the standby while the primary fails its health check): both answer.
    assert {s.cluster: (s.priority, s.answering) for s in plan.status.shards} == {
        "eu": (1, True),
        "us": (2, True),
    }
    # Europe fails in the operator's view: the US is the primary, alone.
    down = observe(spec=spec, services=services, endpoints={**endpoints, "eu": EndpointSummary(ready=0)})
    after = plan_reconcile(down, federation, plan_member_writes(down, federation), {})
    assert after.records is not None
    (group,) = [r for r in after.records if r.key == (name, FAILOVER)]
    assert list(split_failover_values(group.values).values()) == [("PRIMARY", ("127.0.0.10",))]
    assert {s.cluster: s.answering for s in after.status.shards} == {"eu": False, "us": True}


def test_failover_with_health_check_is_refused_on_rfc2136_naming_the_field() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("rfc2136",))
    raw = {
        "type": "failover",
        "groups": [{"clusters": ["eu"]}],
        "healthCheck": {"protocol": "TCP", "port": 80},
    }
    spec = {**SPEC, "dns": {"policy": raw}}
    writes = plan_member_writes(observe(spec=spec), federation)
    assert writes.invalid is not None
    assert "spec.dns.policy.healthCheck" in str(writes.invalid)


def test_load_balancer_hostnames_only_are_answered_as_the_operators_failover_and_said_so_in_status() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("route53",))
    raw = {
        "type": "failover",
        "groups": [{"clusters": ["eu"]}],
        "healthCheck": {"protocol": "TCP", "port": 80},
    }
    spec = {**SPEC, "dns": {"policy": raw}}
    desired = manifests(observe(spec=spec))
    elb = "eu-1.elb.eu-west-1.amazonaws.com"
    services = {
        "us": replace(
            ours("us", desired["us"]), ingress=(Ingress(hostname="us-1.elb.us-east-1.amazonaws.com"),)
        ),
        "eu": replace(ours("eu", desired["eu"]), ingress=(Ingress(hostname=elb),)),
    }
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    name = "nginx.mynamespace.myfederation.svc.example.com."
    # No IPv4 shard to fail over by: the operator's failover, the first group's load balancer.
    assert [r.type for r in plan.records if r.name == name] != [FAILOVER]
    assert {s.cluster: (s.priority, s.answering) for s in plan.status.shards} == {
        "eu": (1, True),
        "us": (2, False),
    }
