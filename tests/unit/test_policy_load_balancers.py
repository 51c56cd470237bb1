"""Shards reached by an AWS load balancer only, under the weighted, latency, geolocation and failover (with
healthCheck) policies (#14): on a provider with alias records (Route 53) each is an alias share of the
global name's group (its hostname instead of an address, a set identifier from its contents, no health check
of ours); a hostname that is no known load balancer, or any hostname on other providers, stays left out with
its note; and the status calls a shard answering exactly when the group holds it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.domain.health_checks import HealthCheck, read_health_check
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress
from federation_operator.domain.records import (
    FAILOVER,
    GEO,
    LATENCY,
    WEIGHTED,
    ProviderLimits,
    RecordSet,
    ServiceNames,
    ShardAddresses,
    failover_set_identifier,
    geo_set_identifier,
    latency_set_identifier,
    share_hostname,
    split_failover_values,
    split_geo_values,
    split_latency_values,
    split_weighted_values,
    weighted_set_identifier,
)
from federation_operator.domain.specs import parse_federated_service_spec
from federation_operator.planning.policy import plan_failover_roles
from federation_operator.planning.reconcile import Federation, plan_member_writes, plan_reconcile
from federation_operator.planning.records import TierPlan, plan_tiers, render_published
from tests.unit.test_reconcile import SPEC, manifests, observe, ours

NAMES = ServiceNames(service="nginx", namespace="ns", federation="fed", domain="example.com")
NAME = NAMES.global_name
TOPOLOGY = {"r1": frozenset({"r1-a"}), "r2": frozenset({"r2-a"})}
ALB = "k8s-web-1234567890.us-east-1.elb.amazonaws.com."
NLB = "a1b2-0123456789abcdef.elb.eu-west-1.amazonaws.com."
CHECK = HealthCheck(protocol="TCP", port=443)


def by_ip(cluster: str, address: str, region: str = "r1") -> ShardAddresses:
    return ShardAddresses(cluster=cluster, region=region, zones=frozenset({f"{region}-a"}), ipv4=(address,))


def by_host(cluster: str, *hosts: str, region: str = "r2") -> ShardAddresses:
    return ShardAddresses(cluster=cluster, region=region, zones=frozenset({f"{region}-a"}), hostnames=hosts)


def tiers(shards: list[ShardAddresses], *, aliases: bool = True, **policy: Any) -> TierPlan:
    return plan_tiers(
        names=NAMES, ttl=60, aliases=(), topology=TOPOLOGY, healthy=shards, hostname_aliases=aliases, **policy
    )


def group_of(plan: TierPlan) -> RecordSet:
    (group,) = [r for r in plan.records if r.name == NAME]
    return group


# --- the values ---------------------------------------------------------------------------------------------


def test_an_alias_share_is_one_load_balancer_hostname_with_an_identifier_from_its_contents() -> None:
    alias = weighted_set_identifier(NAME, 5, [ALB])
    assert alias.startswith("fedop-weight-")
    assert alias == weighted_set_identifier(NAME, 5, [ALB.rstrip(".").upper()])  # normalized
    assert alias not in (weighted_set_identifier(NAME, 6, [ALB]), weighted_set_identifier(NAME, 5, [NLB]))
    record = RecordSet(NAME, WEIGHTED, 0, (f"{alias} 5 {ALB.upper()}",))
    assert split_weighted_values(record.values) == {alias: (5, (ALB,))}
    assert share_hostname((ALB,)) == ALB
    assert share_hostname(("127.0.0.1", "127.0.0.2")) is None


@pytest.mark.parametrize(
    ("values", "why"),
    [
        pytest.param(["x 5 lb.example.net."], "no AWS load balancer", id="not-an-elb"),
        pytest.param([f"x 5 {ALB}", "x 5 127.0.0.1"], "one load balancer hostname", id="beside-an-address"),
        pytest.param([f"x 5 {ALB}", f"x 5 {NLB}"], "one load balancer hostname", id="two-hostnames"),
    ],
)
def test_an_alias_share_is_refused_unless_one_known_load_balancer(values: list[str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        RecordSet(NAME, WEIGHTED, 60, tuple(values))


# --- weighted -----------------------------------------------------------------------------------------------


def test_weighted_group_of_an_address_share_and_a_load_balancer_share() -> None:
    plan = tiers([by_ip("a", "127.0.0.1"), by_host("b", ALB)], global_weights={"a": 2, "b": 9})
    group = group_of(plan)
    assert (group.type, group.ttl) == (WEIGHTED, 60)
    assert split_weighted_values(group.values) == {
        weighted_set_identifier(NAME, 2, ["127.0.0.1"]): (2, ("127.0.0.1",)),
        weighted_set_identifier(NAME, 9, [ALB]): (9, (ALB,)),
    }
    assert (plan.notes, plan.unanswered) == ((), frozenset())
    published = render_published(plan.records, names=NAMES, regions=["r1", "r2"])
    assert next(p for p in published if p.type == WEIGHTED).targets == (
        "127.0.0.1 weight 2",
        f"{ALB} weight 9",
    )


def test_a_group_of_load_balancers_only_has_ttl_0_and_no_health_check_of_ours() -> None:
    plan = tiers(
        [by_host("a", NLB, region="r1"), by_host("b", ALB)], global_weights={}, global_health_check=CHECK
    )
    group = group_of(plan)
    assert (group.type, group.ttl) == (WEIGHTED, 0)  # an alias has no TTL of its own
    identifiers = split_weighted_values(group.values)
    assert set(identifiers) == {weighted_set_identifier(NAME, 1, [h]) for h in (ALB, NLB)}
    # Route 53 evaluates the load balancer's health instead (EvaluateTargetHealth): no settings ride along.
    assert all(read_health_check(i) is None for i in identifiers)
    # An address share beside them carries the check.
    mixed = group_of(
        tiers([by_ip("c", "127.0.0.3"), by_host("b", ALB)], global_weights={}, global_health_check=CHECK)
    )
    checked = {i for i, (_, targets) in split_weighted_values(mixed.values).items() if read_health_check(i)}
    assert checked == {f"{weighted_set_identifier(NAME, 1, ['127.0.0.3'])}~hc~TCP~443~30~3"}


def test_a_shard_of_several_load_balancers_is_answered_by_the_first_and_the_rest_said() -> None:
    plan = tiers([by_ip("a", "127.0.0.1"), by_host("b", NLB, ALB)], global_weights={})
    assert split_weighted_values(group_of(plan).values)[weighted_set_identifier(NAME, 1, [NLB])] == (
        1,
        (NLB,),
    )
    assert plan.notes == (
        f"{NAME} answers the shard of b by its load balancer {NLB}: {ALB} are not published there (an alias "
        "set names one target)",
    )
    assert plan.unanswered == frozenset()


def test_a_hostname_that_is_no_load_balancer_stays_left_out_with_its_note() -> None:
    plan = tiers(
        [by_ip("a", "127.0.0.1"), by_host("b", ALB), by_host("c", "lb.example.net")], global_weights={}
    )
    assert {targets for _, targets in split_weighted_values(group_of(plan).values).values()} == {
        ("127.0.0.1",),
        (ALB,),
    }
    # (The region name r2 has its own note: a tier's alias group leaves the hostname out too.)
    assert tuple(n for n in plan.notes if n.startswith(NAME)) == (
        f"{NAME} answers in weighted shares by IPv4 address: the shards of c, reached by hostnames that are "
        "no AWS load balancer (Route 53 aliases only to those), are not published there",
    )
    assert plan.unanswered == frozenset({"c"})


def test_without_alias_records_every_hostname_shard_is_left_out_as_before() -> None:
    """Cloud DNS (wrr, geo) and the operator's own policies: unchanged, the note as it always read."""
    plan = tiers([by_ip("a", "127.0.0.1"), by_host("b", ALB)], aliases=False, global_weights={})
    assert split_weighted_values(group_of(plan).values) == {
        weighted_set_identifier(NAME, 1, ["127.0.0.1"]): (1, ("127.0.0.1",))
    }
    assert plan.notes == (
        f"{NAME} answers in weighted shares by IPv4 address: the shards of b, reached by hostnames only, are "
        "not published there",
    )
    assert plan.unanswered == frozenset({"b"})


# --- latency and geolocation --------------------------------------------------------------------------------


def test_latency_gives_a_load_balancer_its_region_unless_an_address_set_holds_it() -> None:
    shards = [by_ip("a", "127.0.0.1"), by_host("b", ALB), by_host("c", NLB, region="r1")]
    plan = tiers(shards, global_regions={"a": "eu-west-1", "b": "us-east-1", "c": "eu-west-1"})
    group = group_of(plan)
    assert group.type == LATENCY
    assert split_latency_values(group.values) == {
        latency_set_identifier(NAME, "eu-west-1", ["127.0.0.1"]): ("eu-west-1", ("127.0.0.1",)),
        latency_set_identifier(NAME, "us-east-1", [ALB]): ("us-east-1", (ALB,)),
    }
    # Route 53 takes one latency set per region: eu-west-1's is the addresses', c is left out and said.
    assert plan.notes == (
        f"{NAME} holds one set per AWS region: the load balancers of c are not published there, as their AWS "
        "region already has one",
    )
    assert plan.unanswered == frozenset({"c"})


def test_latency_of_load_balancers_only_and_one_without_a_region() -> None:
    plan = tiers([by_host("b", ALB), by_host("c", NLB, region="r1")], global_regions={"b": "us-east-1"})
    assert split_latency_values(group_of(plan).values) == {
        latency_set_identifier(NAME, "us-east-1", [ALB]): ("us-east-1", (ALB,))
    }
    assert plan.notes == (
        f"{NAME} answers by latency from IPv4 addresses and AWS load balancers in known regions: the shards "
        "of c are not published there",
    )
    assert plan.unanswered == frozenset({"c"})


def test_geolocation_gives_a_load_balancer_its_location_and_the_default_stays_the_addresses() -> None:
    shards = [by_ip("a", "127.0.0.1"), by_host("b", ALB), by_host("c", NLB, region="r1")]
    plan = tiers(shards, global_places={"a": "continent:EU", "b": "country:US"})
    group = group_of(plan)
    assert group.type == GEO
    assert split_geo_values(group.values) == {
        geo_set_identifier(NAME, "*", ["127.0.0.1"]): ("*", ("127.0.0.1",)),
        geo_set_identifier(NAME, "continent:EU", ["127.0.0.1"]): ("continent:EU", ("127.0.0.1",)),
        geo_set_identifier(NAME, "country:US", [ALB]): ("country:US", (ALB,)),
    }
    assert plan.notes == (
        f"{NAME} answers by location: the load balancers of c, whose region has no location, are not "
        "published there",
    )
    assert plan.unanswered == frozenset({"c"})


def test_geolocation_of_load_balancers_only_defaults_to_the_first_by_name() -> None:
    plan = tiers([by_host("b", ALB), by_host("c", NLB, region="r1")], global_places={"b": "country:US"})
    group = group_of(plan)
    assert group.ttl == 0
    assert {place: targets for place, targets in split_geo_values(group.values).values()} == {
        "*": (NLB,),  # a1b2-... sorts before k8s-...
        "country:US": (ALB,),
    }
    assert (plan.notes, plan.unanswered) == ((), frozenset())


def test_a_load_balancer_in_a_location_an_address_set_holds_is_left_out_and_said() -> None:
    plan = tiers(
        [by_ip("a", "127.0.0.1"), by_host("b", ALB)], global_places={"a": "country:US", "b": "country:US"}
    )
    assert {place for place, _ in split_geo_values(group_of(plan).values).values()} == {"*", "country:US"}
    assert plan.notes == (
        f"{NAME} holds one set per location: the load balancers of b are not published there, as their "
        "location already has one",
    )
    assert plan.unanswered == frozenset({"b"})


# --- failover -----------------------------------------------------------------------------------------------

CLUSTERS = [ClusterInfo(name=n, region=r) for n, r in (("a", "r1"), ("b", "r2"), ("c", "r2"))]


def failover_policy() -> Any:
    raw = {
        "type": "failover",
        "groups": [{"clusters": ["b"]}, {"clusters": ["a"]}],
        "healthCheck": {"protocol": "TCP", "port": 443},
    }
    policy = parse_federated_service_spec({**SPEC, "dns": {"policy": raw}}).dns.policy
    assert policy is not None
    return policy


def test_a_load_balancer_group_holds_a_failover_role_where_the_provider_aliases_it() -> None:
    shards = [by_ip("a", "127.0.0.1"), by_host("b", ALB)]
    assert plan_failover_roles(failover_policy(), CLUSTERS, shards) == {"a": "PRIMARY"}
    roles = plan_failover_roles(failover_policy(), CLUSTERS, shards, aliases=True)
    assert roles == {"b": "PRIMARY", "a": "SECONDARY"}
    # An unknown hostname is no alias: its group still has no role.
    unknown = [by_ip("a", "127.0.0.1"), by_host("b", "lb.example.net")]
    assert plan_failover_roles(failover_policy(), CLUSTERS, unknown, aliases=True) == {"a": "PRIMARY"}


def test_failover_with_a_load_balancer_primary_and_an_address_standby() -> None:
    shards = [by_ip("a", "127.0.0.1"), by_host("b", ALB), by_host("c", NLB)]
    plan = tiers(
        shards,
        global_clusters=frozenset({"b", "c"}),
        global_roles={"b": "PRIMARY", "c": "PRIMARY", "a": "SECONDARY"},
        global_health_check=CHECK,
    )
    group = group_of(plan)
    assert (group.type, group.ttl) == (FAILOVER, 60)
    shares = split_failover_values(group.values)
    assert {role: targets for role, targets in shares.values()} == {
        "PRIMARY": (ALB,),
        "SECONDARY": ("127.0.0.1",),
    }
    assert set(shares) == {
        failover_set_identifier(NAME, "PRIMARY", [ALB]),
        f"{failover_set_identifier(NAME, 'SECONDARY', ['127.0.0.1'])}~hc~TCP~443~30~3",
    }
    assert plan.notes == (
        f"{NAME} holds one set per role: the load balancers of c are not published there, as their role "
        "already has one",
    )
    assert plan.unanswered == frozenset({"c"})


# --- the reconcile and status -------------------------------------------------------------------------------


def elb(cluster: str, manifest: dict[str, Any], hostname: str) -> Any:
    return replace(ours(cluster, manifest), ingress=(Ingress(hostname=hostname),))


@pytest.mark.parametrize(
    ("provider", "limits", "published", "answering"),
    [
        pytest.param("route53", ProviderLimits(hostname_aliases=True), True, True, id="route53"),
        pytest.param("clouddns", ProviderLimits(group_in_one_set=True), False, False, id="clouddns"),
    ],
)
def test_status_says_a_load_balancer_shard_answers_where_the_group_holds_it(
    provider: str, limits: ProviderLimits, published: bool, answering: bool
) -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=(provider,), limits=limits)
    spec = {**SPEC, "dns": {"policy": {"type": "weighted", "weights": [{"clusters": ["eu"], "weight": 3}]}}}
    desired = manifests(observe(spec=spec))
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": elb("eu", desired["eu"], ALB)}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    name = "nginx.mynamespace.myfederation.svc.example.com."
    (group,) = [r for r in plan.records if r.key == (name, WEIGHTED)]
    held = {targets for _, targets in split_weighted_values(group.values).values()}
    assert ((ALB,) in held) is published
    assert {s.cluster: (s.weight, s.answering) for s in plan.status.shards} == {
        "eu": (3, answering),
        "us": (1, True),
    }


# --- invariants ---------------------------------------------------------------------------------------------

REACH = st.sampled_from(["ipv4", "elb", "other-host", "ipv6"])


def reached(cluster: str, how: str, index: int) -> ShardAddresses:
    region = f"r{index % 2 + 1}"
    if how == "ipv4":
        return by_ip(cluster, f"127.0.0.{index + 1}", region)
    if how == "elb":
        return by_host(cluster, f"lb-{cluster}.us-east-1.elb.amazonaws.com", region=region)
    if how == "other-host":
        return by_host(cluster, f"lb-{cluster}.example.net", region=region)
    return ShardAddresses(cluster=cluster, region=region, ipv6=(f"::{index + 1}",))


@given(
    reach=st.dictionaries(st.sampled_from("abcdef"), REACH, min_size=1),
    keys=st.dictionaries(st.sampled_from("abcdef"), st.sampled_from([0, 1])),
    kind=st.sampled_from(["weighted", "latency", "geolocation", "failover"]),
)
def test_every_shard_is_in_the_group_or_said_left_out(
    reach: dict[str, str], keys: dict[str, int], kind: str
) -> None:
    shards = [reached(c, how, i) for i, (c, how) in enumerate(sorted(reach.items()))]
    policy: dict[str, Any] = {"global_health_check": CHECK}
    if kind == "weighted":
        policy["global_weights"] = {c: k + 1 for c, k in keys.items()}
    elif kind == "latency":
        policy["global_regions"] = {c: ("us-east-1", "eu-west-1")[k] for c, k in keys.items()}
    elif kind == "geolocation":
        policy["global_places"] = {c: ("country:US", "continent:EU")[k] for c, k in keys.items()}
    else:
        # As plan_failover_roles gives them: to shards reached by an IPv4 address or an aliased load balancer.
        keys = {c: k for c, k in keys.items() if reach.get(c) in ("ipv4", "elb")}
        policy["global_roles"] = {c: ("PRIMARY", "SECONDARY")[k] for c, k in keys.items()}
        policy["global_clusters"] = frozenset(c for c, k in keys.items() if k == 0)
    plan = tiers(shards, **policy)
    at_global = [r for r in plan.records if r.name == NAME and r.type in (WEIGHTED, LATENCY, GEO, FAILOVER)]
    split = {WEIGHTED: split_weighted_values, LATENCY: split_latency_values, GEO: split_geo_values}
    held: dict[str, tuple[Any, tuple[str, ...]]] = (
        dict(split.get(at_global[0].type, split_failover_values)(at_global[0].values)) if at_global else {}
    )
    targets = {t for _, ts in held.values() for t in ts}
    for shard in shards:
        if shard.ipv6 or (kind == "failover" and shard.cluster not in keys):
            continue  # a plain AAAA record set; no failover role: neither published nor said
        if not at_global:
            continue  # planned as tiered: no group to be left out of
        published = bool(set(shard.ipv4) & targets or set(shard.hostnames) & targets)
        assert published != (shard.cluster in plan.unanswered), shard
    if plan.unanswered:
        assert any(n.startswith(NAME) for n in plan.notes)
    # An alias share carries no health check; an address share carries the policy's.
    for identifier, (_, ts) in held.items():
        assert (read_health_check(identifier) is None) == (share_hostname(ts) is not None)


def test_failover_reconciles_on_route53_with_a_load_balancer_primary_both_answering() -> None:
    limits = ProviderLimits(hostname_aliases=True)
    federation = Federation(name="myfederation", domain="example.com", providers=("route53",), limits=limits)
    raw = {
        "type": "failover",
        "groups": [{"clusters": ["eu"]}],
        "healthCheck": {"protocol": "TCP", "port": 80},
    }
    spec = {**SPEC, "dns": {"policy": raw}}
    desired = manifests(observe(spec=spec))
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": elb("eu", desired["eu"], ALB)}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    seed = ServiceNames(
        service="nginx", namespace="mynamespace", federation="myfederation", domain="example.com"
    )
    (group,) = [r for r in plan.records if r.key == (seed.global_name, FAILOVER)]
    assert sorted(split_failover_values(group.values).values()) == [
        ("PRIMARY", (ALB,)),
        ("SECONDARY", ("127.0.0.10",)),
    ]
    assert {s.cluster: (s.priority, s.answering) for s in plan.status.shards} == {
        "eu": (1, True),
        "us": (2, True),
    }
    published = render_published(plan.records, names=seed, regions=())
    assert next(p.targets for p in published if p.type == FAILOVER) == (
        f"{ALB} failover PRIMARY",
        "127.0.0.10 failover SECONDARY",
    )


def test_failover_of_load_balancers_only_on_route53_is_two_alias_sets_both_answering() -> None:
    """Where the provider has no alias records (tests/unit/test_failover_routing.py), load balancers only
    fail over by the operator; on Route 53 they are the PRIMARY and SECONDARY alias sets."""
    limits = ProviderLimits(hostname_aliases=True)
    federation = Federation(name="myfederation", domain="example.com", providers=("route53",), limits=limits)
    raw = {
        "type": "failover",
        "groups": [{"clusters": ["eu"]}],
        "healthCheck": {"protocol": "TCP", "port": 80},
    }
    spec = {**SPEC, "dns": {"policy": raw}}
    desired = manifests(observe(spec=spec))
    services = {"us": elb("us", desired["us"], ALB), "eu": elb("eu", desired["eu"], NLB)}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    name = "nginx.mynamespace.myfederation.svc.example.com."
    (group,) = [r for r in plan.records if r.name == name]
    assert (group.type, group.ttl) == (FAILOVER, 0)
    assert sorted(split_failover_values(group.values).values()) == [
        ("PRIMARY", (NLB,)),
        ("SECONDARY", (ALB,)),
    ]
    assert {s.cluster: (s.priority, s.answering) for s in plan.status.shards} == {
        "eu": (1, True),
        "us": (2, True),
    }
