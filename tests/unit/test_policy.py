"""spec.dns.policy: parsing, which providers may publish each policy, failover's choice of the global name's
shards (named scenarios and hypothesis invariants), weights and region locations, and the reconcile's
refusal of a policy the provider cannot express."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.cli.render import render_service, service_view
from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress
from federation_operator.domain.policies import DEFAULT_LOCATIONS
from federation_operator.domain.records import (
    ProviderLimits,
    PublishResult,
    RecordSet,
    ServiceNames,
    ShardAddresses,
    geo_set_identifier,
    latency_set_identifier,
    split_geo_values,
    split_latency_values,
    split_weighted_values,
    weighted_set_identifier,
)
from federation_operator.domain.specs import DnsPolicy, parse_federated_service_spec
from federation_operator.planning.policy import (
    plan_failover_ranks,
    plan_geo_places,
    plan_global_clusters,
    plan_latency_regions,
    plan_location,
    plan_mirrors_refusal,
    plan_policy_refusal,
    plan_weights,
)
from federation_operator.planning.publication import plan_service_tiers
from federation_operator.planning.reconcile import Federation, plan_member_writes, plan_reconcile
from federation_operator.planning.records import plan_tiers, render_published
from tests.unit.test_cli import FSVC
from tests.unit.test_publication import shard
from tests.unit.test_reconcile import SPEC, manifests, observe, ours

NAMES = ServiceNames(service="nginx", namespace="ns", federation="fed", domain="example.com")


def policy(**raw: Any) -> DnsPolicy:
    spec = parse_federated_service_spec({**SPEC, "dns": {"policy": raw}})
    assert spec.dns.policy is not None
    return spec.dns.policy


def member(name: str, region: str = "r1", **labels: str) -> ClusterInfo:
    return ClusterInfo(
        name=name, region=region, zones=(f"{region}-a",), labels=labels, ready=True, synced=True
    )


def healthy(name: str, address: str, region: str = "r1") -> ShardAddresses:
    return ShardAddresses(cluster=name, region=region, zones=frozenset({f"{region}-a"}), ipv4=(address,))


def global_a(records: tuple[RecordSet, ...]) -> tuple[str, ...]:
    return next((r.values for r in records if r.key == (NAMES.global_name, "A")), ())


# --- the spec -----------------------------------------------------------------------------------------------


def test_no_policy_is_none_and_tiered_is_the_default_type() -> None:
    assert parse_federated_service_spec(SPEC).dns.policy is None
    assert policy().type == "tiered"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param({"type": "roundrobin"}, "spec.dns.policy.type", id="unknown-type"),
        pytest.param({"type": "failover", "groups": []}, "spec.dns.policy", id="failover-without-groups"),
        pytest.param(
            {"type": "weighted", "weights": [{"clusters": ["a"], "weight": 256}]},
            "spec.dns.policy.weights[0].weight",
            id="weight-over-255",
        ),
        pytest.param(
            {"type": "weighted", "weights": [{"clusters": ["a"]}]},
            "spec.dns.policy.weights[0].weight",
            id="weight-missing",
        ),
        pytest.param(
            {"type": "geolocation", "locations": [{"region": "dc1", "country": "de"}]},
            "spec.dns.policy.locations[0].country",
            id="country-lowercase",
        ),
        pytest.param(
            {"type": "latency", "locations": [{"region": "dc1"}, {"region": "dc1"}]},
            "spec.dns.policy.locations",
            id="duplicate-region",
        ),
    ],
)
def test_bad_policies_are_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_federated_service_spec({**SPEC, "dns": {"policy": raw}})
    assert caught.value.field == field


# --- which providers publish what ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["rfc2136", "route53", "clouddns", "inmemory", None])
@pytest.mark.parametrize("kind", ["tiered", "failover"])
def test_operator_computed_policies_go_to_every_provider(provider: str | None, kind: str) -> None:
    raw: dict[str, Any] = {"type": kind, "groups": [{"clusters": ["a"]}]} if kind == "failover" else {}
    assert plan_policy_refusal(policy(**raw), provider=provider, regions=["r1"]) is None


@pytest.mark.parametrize(
    ("kind", "able"),
    [
        ("weighted", "providers that publish it: clouddns, route53"),
        ("latency", "providers that publish it: route53"),
        ("geolocation", "providers that publish it: clouddns, route53"),
    ],
)
def test_rfc2136_refuses_routing_policies_naming_the_field_and_the_alternatives(kind: str, able: str) -> None:
    refusal = plan_policy_refusal(policy(type=kind), provider="rfc2136", regions=["us-east-1"])
    assert refusal is not None
    assert refusal.field == "spec.dns.policy.type"
    assert "rfc2136" in refusal.message
    assert "plain DNS" in refusal.message
    assert "Route 53" in refusal.message  # where it would be answered
    assert "tiered and failover work with every provider" in refusal.message
    # Never a provider that would downgrade it: only those that publish it, or none.
    assert able in refusal.message


def test_what_route53_and_clouddns_take() -> None:
    for kind in ("weighted", "latency", "geolocation"):
        assert plan_policy_refusal(policy(type=kind), provider="route53", regions=["us-east-1"]) is None
    assert plan_policy_refusal(policy(type="weighted"), provider="clouddns", regions=["dc1"]) is None
    assert plan_policy_refusal(policy(type="geolocation"), provider="clouddns", regions=["us-east-1"]) is None
    refusal = plan_policy_refusal(policy(type="latency"), provider="clouddns", regions=["us-east-1"])
    assert refusal is not None
    assert "providers that publish it: route53" in refusal.message
    refusal = plan_policy_refusal(policy(type="weighted"), provider="inmemory", regions=["dc1"])
    assert refusal is not None
    assert "providers that publish it: clouddns, route53" in refusal.message


def test_a_region_without_a_location_is_named_under_latency() -> None:
    refusal = plan_policy_refusal(policy(type="latency"), provider="route53", regions=["dc1", "eu-west-1"])
    assert refusal is not None
    assert ("spec.dns.policy.locations", refusal.problems[-1][1]) == refusal.problems[-1]
    assert "dc1" in refusal.problems[-1][1]
    assert "eu-west-1" not in refusal.problems[-1][1]
    located = policy(type="latency", locations=[{"region": "dc1", "awsRegion": "eu-central-1"}])
    assert plan_policy_refusal(located, provider="route53", regions=["dc1"]) is None


def test_locations_override_the_built_in_table_field_by_field() -> None:
    assert plan_location(None, "europe-west1") == DEFAULT_LOCATIONS["europe-west1"]
    assert plan_location(None, "dc1") is None
    given_ = policy(type="geolocation", locations=[{"region": "europe-west1", "country": "NL"}])
    location = plan_location(given_, "europe-west1")
    assert location is not None
    assert (location.country, location.continent, location.gcp_region) == ("NL", "EU", "europe-west1")


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-central-1", "us-central1", "europe-west4", "eastus", "westeurope"]
)
def test_the_table_covers_eks_gke_and_aks_names(region: str) -> None:
    location = DEFAULT_LOCATIONS[region]
    assert location.continent in {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
    assert len(location.country) == 2
    assert location.aws_region in DEFAULT_LOCATIONS


def test_weights_first_entry_wins_then_the_default() -> None:
    weighted = policy(
        type="weighted",
        weights=[{"clusters": ["a"], "weight": 0}, {"matchLabels": {"tier": "canary"}, "weight": 5}],
        defaultWeight=100,
    )
    clusters = [member("a", tier="canary"), member("b", tier="canary"), member("c")]
    assert plan_weights(weighted, clusters) == {"a": 0, "b": 5, "c": 100}


# --- failover -----------------------------------------------------------------------------------------------

FAILOVER = {"type": "failover", "groups": [{"clusters": ["a", "b"]}, {"matchLabels": {"site": "backup"}}]}
CLUSTERS = [member("a"), member("b"), member("c", site="backup"), member("d")]


def test_ranks_first_group_wins_and_unchosen_clusters_form_a_last_group() -> None:
    both = policy(type="failover", groups=[{"clusters": ["a"]}, {"clusters": ["a", "c"]}])
    assert plan_failover_ranks(both, CLUSTERS) == {"a": 0, "b": 2, "c": 1, "d": 2}
    assert plan_failover_ranks(policy(**FAILOVER), CLUSTERS) == {"a": 0, "b": 0, "c": 1, "d": 2}


@pytest.mark.parametrize(
    ("up", "answering", "group"),
    [
        pytest.param({"a", "b", "c", "d"}, {"a", "b"}, 0, id="primaries-healthy"),
        pytest.param({"b", "c", "d"}, {"b"}, 0, id="one-primary-left"),
        pytest.param({"c", "d"}, {"c"}, 1, id="backup-group"),
        pytest.param({"d"}, {"d"}, 2, id="implicit-last-group"),
        pytest.param(set(), set(), None, id="nothing-healthy"),
    ],
)
def test_failover_answers_the_first_group_with_a_healthy_shard(
    up: set[str], answering: set[str], group: int | None
) -> None:
    shards = [healthy(name, f"127.0.0.{i + 1}") for i, name in enumerate("abcd") if name in up]
    assert plan_global_clusters(policy(**FAILOVER), CLUSTERS, shards) == (frozenset(answering), group)


def test_a_shard_without_an_address_cannot_answer_for_its_group() -> None:
    shards = [ShardAddresses(cluster="a", region="r1"), healthy("c", "127.0.0.3")]
    assert plan_global_clusters(policy(**FAILOVER), CLUSTERS, shards) == (frozenset({"c"}), 1)


def test_without_failover_the_global_name_answers_every_shard() -> None:
    shards = [healthy("a", "127.0.0.1")]
    assert plan_global_clusters(None, CLUSTERS, shards) == (None, None)
    assert plan_global_clusters(policy(), CLUSTERS, shards) == (None, None)


def test_failover_changes_the_global_name_only_and_says_which_group_answers() -> None:
    clusters = [member("a", "r1"), member("c", "r2", site="backup")]
    counted = [shard("a", healthy=True, address="127.0.0.1"), shard("c", healthy=True, address="127.0.0.3")]
    counted = [replace(s, region=c.region, zones=c.zones) for s, c in zip(counted, clusters, strict=True)]
    tiered = plan_service_tiers(names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted)
    failover = plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted, policy=policy(**FAILOVER)
    )
    assert global_a(tiered.records) == ("127.0.0.1", "127.0.0.3")
    assert global_a(failover.records) == ("127.0.0.1",)
    # Region and zone names are the same under both: each region still answers its own shards.
    others = {r for r in tiered.records if r.name != NAMES.global_name}
    assert others == {r for r in failover.records if r.name != NAMES.global_name}
    assert failover.notes == ()
    backup = plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted[1:], policy=policy(**FAILOVER)
    )
    assert global_a(backup.records) == ("127.0.0.3",)
    assert backup.notes[0].startswith(f"failover: {NAMES.global_name} answers group 2 (c)")


def test_tiered_and_no_policy_plan_the_same_records() -> None:
    clusters = [member("a", "r1"), member("c", "r2")]
    counted = [shard("a", healthy=True, address="127.0.0.1")]
    none = plan_service_tiers(names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted)
    tiered = plan_service_tiers(
        names=NAMES, ttl=60, aliases=(), clusters=clusters, counted=counted, policy=policy(type="tiered")
    )
    assert none == tiered


NAMES_AB = st.sampled_from(["a", "b", "c", "d", "e"])


@given(
    groups=st.lists(st.lists(NAMES_AB, min_size=1, max_size=3, unique=True), min_size=1, max_size=4),
    up=st.sets(NAMES_AB),
)
def test_failover_invariants(groups: list[list[str]], up: set[str]) -> None:
    chosen = policy(type="failover", groups=[{"clusters": g} for g in groups])
    clusters = [member(name, f"r{i % 2}") for i, name in enumerate("abcde")]
    shards = [healthy(name, f"127.0.0.{i + 1}", f"r{i % 2}") for i, name in enumerate("abcde") if name in up]
    ranks = plan_failover_ranks(chosen, clusters)
    answering, group = plan_global_clusters(chosen, clusters, shards)
    assert answering is not None
    # Something healthy: the global name answers; nothing healthy: it answers nothing.
    assert bool(answering) == bool(up)
    # Only healthy clusters answer, all of one group, and no healthy cluster ranks before them.
    assert answering <= up
    assert {ranks[c] for c in answering} <= {group}
    assert all(ranks[c] >= (group or 0) for c in up)
    # Every healthy cluster of the answering group answers.
    assert {c for c in up if ranks[c] == group} == answering
    records = plan_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        topology={"r0": frozenset({"r0-a"}), "r1": frozenset({"r1-a"})},
        healthy=shards,
        global_clusters=answering,
    ).records
    expected = {f"127.0.0.{'abcde'.index(c) + 1}" for c in answering}
    assert set(global_a(records)) == expected


# --- the reconcile ------------------------------------------------------------------------------------------


def test_a_policy_the_provider_cannot_publish_is_an_invalid_spec_and_nothing_is_written() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("rfc2136",))
    observation = observe(spec={**SPEC, "dns": {"policy": {"type": "weighted"}}})
    members = plan_member_writes(observation, federation)
    assert members.writes == ()
    plan = plan_reconcile(observation, federation, members, {})
    assert plan.records is None
    assert {c.type: c.reason for c in plan.status.conditions}["Propagated"] == "InvalidSpec"
    ((event),) = plan.events
    assert (event.type, event.reason) == ("Warning", "InvalidSpec")
    assert "spec.dns.policy.type: weighted cannot be published by the rfc2136 provider" in event.message


def test_a_policy_one_mirror_of_the_federation_zone_cannot_publish_is_refused() -> None:
    # Route 53 publishes weighted, its RFC 2136 mirror of the same zone cannot: the global name would
    # answer differently by mirror, so the object is refused, naming the mirror that cannot.
    federation = Federation(name="myfederation", domain="example.com", providers=("route53", "rfc2136"))
    observation = observe(spec={**SPEC, "dns": {"policy": {"type": "weighted"}}})
    members = plan_member_writes(observation, federation)
    assert members.writes == ()
    ((event),) = plan_reconcile(observation, federation, members, {}).events
    assert "weighted cannot be published by the rfc2136 provider" in event.message
    both = Federation(name="myfederation", domain="example.com", providers=("route53", "clouddns"))
    assert plan_member_writes(observation, both).invalid is None


def test_a_failover_policy_reconciles_on_rfc2136() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("rfc2136",))
    observation = observe(
        spec={**SPEC, "dns": {"policy": {"type": "failover", "groups": [{"clusters": ["eu"]}]}}}
    )
    members = plan_member_writes(observation, federation)
    assert members.invalid is None
    assert [w.action for w in members.writes] == ["create", "create"]


def test_ingress_hostnames_follow_failover_too() -> None:
    shards = [
        ShardAddresses.from_ingress(
            cluster="a", region="r1", zones=(), ingress=(Ingress(hostname="a.elb.example.net"),)
        ),
        healthy("c", "127.0.0.3", "r2"),
    ]
    answering, group = plan_global_clusters(policy(**FAILOVER), CLUSTERS, shards)
    assert (answering, group) == (frozenset({"a"}), 0)


# --- status -------------------------------------------------------------------------------------------------


def test_status_shows_the_policy_and_each_shards_priority_and_whether_it_answers() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("rfc2136",))
    spec = {**SPEC, "dns": {"policy": {"type": "failover", "groups": [{"clusters": ["eu"]}]}}}
    desired = manifests(observe(spec=spec))
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    assert global_a_of(plan.records) == ("127.0.0.20",)
    shards = {s.cluster: (s.priority, s.weight, s.answering) for s in plan.status.shards}
    assert shards == {"eu": (1, None, True), "us": (2, None, False)}
    confirmed = observe(
        spec=spec, services=services, endpoints=endpoints, published=PublishResult(plan.records)
    )
    done = plan_reconcile(confirmed, federation, plan_member_writes(confirmed, federation), {})
    assert done.status.dns is not None
    assert done.status.dns.policy == "failover"
    # Europe fails: the global name answers the implicit last group.
    down = observe(
        spec=spec, services=services, endpoints={**endpoints, "eu": EndpointSummary(ready=0)}, published=None
    )
    after = plan_reconcile(down, federation, plan_member_writes(down, federation), {})
    assert after.records is not None
    assert global_a_of(after.records) == ("127.0.0.10",)
    assert {s.cluster: s.answering for s in after.status.shards} == {"eu": False, "us": True}


def test_status_of_an_object_without_a_policy_carries_no_policy_fields() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("rfc2136",))
    desired = manifests(observe())
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    confirmed = observe(services=services, endpoints=endpoints, published=PublishResult(plan.records))
    done = plan_reconcile(confirmed, federation, plan_member_writes(confirmed, federation), {})
    written = done.status.model_dump(mode="json", exclude_none=True)
    assert "policy" not in written["dns"]
    assert all({"priority", "weight", "answering"}.isdisjoint(s) for s in written["shards"])


def test_fedctl_status_shows_policy_columns_only_under_a_policy() -> None:
    plain = render_service(service_view(FSVC), None, None)
    assert not any("PRIORITY" in line or "DNS policy" in line for line in plain)
    status = dict(FSVC["status"])
    status["shards"] = [
        {**status["shards"][0], "priority": 1, "answering": True},
        {**status["shards"][1], "priority": 2, "answering": False},
    ]
    status["dns"] = {**status["dns"], "policy": "failover"}
    lines = render_service(service_view({**FSVC, "status": status}), None, None)
    assert "  DNS policy: failover" in lines
    header = next(line for line in lines if line.strip().startswith("CLUSTER"))
    assert header.split()[-2:] == ["PRIORITY", "ANSWERING"]
    asia = next(line for line in lines if line.startswith("  gce-asia-east1  "))
    us = next(line for line in lines if line.startswith("  gce-us-central1  "))
    assert asia.split()[-2:] == ["1", "yes"]
    assert us.split()[-2:] == ["2", "no"]


def global_a_of(records: tuple[RecordSet, ...]) -> tuple[str, ...]:
    name = "nginx.mynamespace.myfederation.svc.example.com."
    return next((r.values for r in records if r.key == (name, "A")), ())


# --- weighted -----------------------------------------------------------------------------------------------


def test_weighted_global_name_is_one_weighted_set_per_cluster_and_other_names_stay_tiered() -> None:
    shards = [
        healthy("a", "127.0.0.1"),
        ShardAddresses(
            cluster="b", region="r2", zones=frozenset({"r2-a"}), ipv4=("127.0.0.2",), ipv6=("::2",)
        ),
        ShardAddresses(cluster="c", region="r2", hostnames=("c.elb.example.net",)),
    ]
    topology = {"r1": frozenset({"r1-a"}), "r2": frozenset({"r2-a"})}
    plan = plan_tiers(
        names=NAMES, ttl=60, aliases=(), topology=topology, healthy=shards, global_weights={"a": 0}
    )
    at_global = {r.type: r for r in plan.records if r.name == NAMES.global_name}
    assert set(at_global) == {"WEIGHTED", "AAAA"}
    assert split_weighted_values(at_global["WEIGHTED"].values) == {
        weighted_set_identifier(NAMES.global_name, 0, ["127.0.0.1"]): (0, ("127.0.0.1",)),
        weighted_set_identifier(NAMES.global_name, 1, ["127.0.0.2"]): (1, ("127.0.0.2",)),
    }
    assert at_global["AAAA"].values == ("::2",)
    assert plan.notes[0] == (
        f"{NAMES.global_name} answers in weighted shares by IPv4 address: the shards of c, reached by "
        "hostnames only, are not published there"
    )
    tiered = plan_tiers(names=NAMES, ttl=60, aliases=(), topology=topology, healthy=shards)
    assert {r for r in plan.records if r.name != NAMES.global_name} == {
        r for r in tiered.records if r.name != NAMES.global_name
    }
    published = render_published(plan.records, names=NAMES, regions=["r1", "r2"])
    assert next(p for p in published if p.type == "WEIGHTED").targets == (
        "127.0.0.1 weight 0",
        "127.0.0.2 weight 1",
    )


def test_weighted_values_are_checked_and_normalized() -> None:
    a = weighted_set_identifier(NAMES.global_name, 5, ["127.0.0.1", "127.0.0.2"])
    record = RecordSet(NAMES.global_name, "WEIGHTED", 60, (f"{a} 5 127.0.0.2", f"{a} 5 127.0.0.1"))
    assert record.values == (f"{a} 5 127.0.0.1", f"{a} 5 127.0.0.2")
    for bad in (f"{a} 256 127.0.0.1", f"{a} five 127.0.0.1", f"{a} 5 ::1", "127.0.0.1"):
        with pytest.raises(ValueError):  # noqa: PT011 (ipaddress's own messages for the address)
            RecordSet(NAMES.global_name, "WEIGHTED", 60, (bad,))
    with pytest.raises(ValueError, match="two weights"):
        RecordSet(NAMES.global_name, "WEIGHTED", 60, (f"{a} 5 127.0.0.1", f"{a} 6 127.0.0.2"))


def test_weighted_reconciles_on_route53_with_each_shards_weight_in_status() -> None:
    federation = Federation(name="myfederation", domain="example.com", providers=("route53",))
    raw = {"type": "weighted", "weights": [{"clusters": ["eu"], "weight": 9}], "defaultWeight": 2}
    spec = {**SPEC, "dns": {"policy": raw}}
    desired = manifests(observe(spec=spec))
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    first = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(first, federation, plan_member_writes(first, federation), {})
    assert plan.records is not None
    name = "nginx.mynamespace.myfederation.svc.example.com."
    (group,) = [r for r in plan.records if r.key == (name, "WEIGHTED")]
    assert sorted(w for w, _ in split_weighted_values(group.values).values()) == [2, 9]
    assert {s.cluster: (s.weight, s.answering) for s in plan.status.shards} == {
        "eu": (9, True),
        "us": (2, True),
    }
    # Drained to 0: still published, not answered while another healthy cluster weighs more.
    drained = {**SPEC, "dns": {"policy": {**raw, "defaultWeight": 0}}}
    second = observe(spec=drained, services=services, endpoints=endpoints)
    after = plan_reconcile(second, federation, plan_member_writes(second, federation), {})
    assert {s.cluster: (s.weight, s.answering) for s in after.status.shards} == {
        "eu": (9, True),
        "us": (0, False),
    }


@given(
    up=st.sets(NAMES_AB, min_size=1),
    weights=st.dictionaries(NAMES_AB, st.integers(min_value=0, max_value=255)),
)
def test_weighted_invariants(up: set[str], weights: dict[str, int]) -> None:
    shards = [healthy(name, f"127.0.0.{i + 1}", f"r{i % 2}") for i, name in enumerate("abcde") if name in up]
    topology = {"r0": frozenset({"r0-a"}), "r1": frozenset({"r1-a"})}
    records = plan_tiers(
        names=NAMES, ttl=60, aliases=(), topology=topology, healthy=shards, global_weights=weights
    ).records
    (group,) = [r for r in records if r.name == NAMES.global_name]
    shares = split_weighted_values(group.values)
    # Every healthy shard's address is answered once, with its cluster's weight (1 when unnamed).
    answered = {a: w for w, addresses in shares.values() for a in addresses}
    assert answered == {f"127.0.0.{'abcde'.index(c) + 1}": weights.get(c, 1) for c in up}
    # The provider's identifiers follow from the shares alone, so a provider that keeps none reads them back.
    for identifier, (weight, addresses) in shares.items():
        assert identifier == weighted_set_identifier(NAMES.global_name, weight, addresses)
    # Region names stay tiered: plain A record sets of their own shards, or CNAMEs up.
    assert all(r.type in ("A", "CNAME") for r in records if r.name != NAMES.global_name)


# --- latency ------------------------------------------------------------------------------------------------


def test_latency_global_name_is_one_set_per_aws_region_and_other_names_stay_tiered() -> None:
    clusters = [
        member("gke", "us-east1"),
        member("aks", "eastus"),
        member("eks", "eu-central-1"),
        member("dc"),
    ]
    latency = policy(type="latency", locations=[{"region": "r1", "country": "DE"}])
    regions = plan_latency_regions(latency, clusters)
    # us-east1 (GKE) and eastus (AKS) are both nearest to us-east-1; dc's r1 has no AWS region.
    assert regions == {"gke": "us-east-1", "aks": "us-east-1", "eks": "eu-central-1"}
    shards = [
        healthy("gke", "127.0.0.1", "us-east1"),
        healthy("aks", "127.0.0.2", "eastus"),
        healthy("eks", "127.0.0.3", "eu-central-1"),
        healthy("dc", "127.0.0.4"),
    ]
    topology = {c.region: frozenset(c.zones) for c in clusters}
    plan = plan_tiers(
        names=NAMES, ttl=60, aliases=(), topology=topology, healthy=shards, global_regions=regions
    )
    (group,) = [r for r in plan.records if r.name == NAMES.global_name]
    assert group.type == "LATENCY"
    assert sorted(split_latency_values(group.values).values()) == [
        ("eu-central-1", ("127.0.0.3",)),
        ("us-east-1", ("127.0.0.1", "127.0.0.2")),
    ]
    assert "the shards of dc are not published there" in plan.notes[0]
    assert all(r.type in ("A", "CNAME") for r in plan.records if r.name != NAMES.global_name)
    published = render_published(plan.records, names=NAMES, regions=list(topology))
    assert next(p for p in published if p.type == "LATENCY").targets == (
        "127.0.0.1 region us-east-1",
        "127.0.0.2 region us-east-1",
        "127.0.0.3 region eu-central-1",
    )


def test_latency_values_are_checked() -> None:
    a = latency_set_identifier(NAMES.global_name, "us-east-1", ["127.0.0.1"])
    b = latency_set_identifier(NAMES.global_name, "us-east-1", ["127.0.0.2"])
    for bad in ((f"{a} mars 127.0.0.1",), (f"{a} us-east-1 127.0.0.1", f"{b} us-east-1 127.0.0.2")):
        with pytest.raises(ValueError):  # noqa: PT011 (the shape, or two sets of one region)
            RecordSet(NAMES.global_name, "LATENCY", 60, bad)


# --- geolocation --------------------------------------------------------------------------------------------


def test_geolocation_global_name_is_one_set_per_location_and_a_default_of_them_all() -> None:
    clusters = [
        member("gke", "europe-west3"),
        member("eks", "eu-central-1"),
        member("dc"),
        member("aks", "eastus"),
    ]
    geo = policy(type="geolocation", locations=[{"region": "r1", "continent": "EU"}])
    places = plan_geo_places(geo, clusters)
    # Both German regions share one country set; dc's r1 is placed by continent only.
    assert places == {"gke": "country:DE", "eks": "country:DE", "dc": "continent:EU", "aks": "country:US"}
    shards = [
        healthy("gke", "127.0.0.1", "europe-west3"),
        healthy("eks", "127.0.0.2", "eu-central-1"),
        healthy("dc", "127.0.0.3"),
        healthy("aks", "127.0.0.4", "eastus"),
    ]
    topology = {c.region: frozenset(c.zones) for c in clusters}
    plan = plan_tiers(
        names=NAMES, ttl=60, aliases=(), topology=topology, healthy=shards, global_places=places
    )
    (group,) = [r for r in plan.records if r.name == NAMES.global_name]
    assert group.type == "GEO"
    assert sorted(split_geo_values(group.values).values()) == [
        ("*", ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")),
        ("continent:EU", ("127.0.0.3",)),
        ("country:DE", ("127.0.0.1", "127.0.0.2")),
        ("country:US", ("127.0.0.4",)),
    ]
    assert all(r.type in ("A", "CNAME") for r in plan.records if r.name != NAMES.global_name)


def test_geolocation_values_are_checked() -> None:
    a = geo_set_identifier(NAMES.global_name, "country:DE", ["127.0.0.1"])
    b = geo_set_identifier(NAMES.global_name, "country:DE", ["127.0.0.2"])
    for bad in ((f"{a} germany 127.0.0.1",), (f"{a} country:DE 127.0.0.1", f"{b} country:DE 127.0.0.2")):
        with pytest.raises(ValueError):  # noqa: PT011 (the shape, or two sets of one location)
            RecordSet(NAMES.global_name, "GEO", 60, bad)


# --- geolocation on Cloud DNS (Google Cloud regions) --------------------------------------------------------


def test_clouddns_geolocation_needs_a_gcp_region_for_every_member_region() -> None:
    # A continent is enough for Route 53, not for Cloud DNS: dc1 is refused, naming it, until it has one.
    by_continent = policy(type="geolocation", locations=[{"region": "dc1", "continent": "EU"}])
    assert plan_policy_refusal(by_continent, provider="route53", regions=["dc1"]) is None
    refusal = plan_policy_refusal(by_continent, provider="clouddns", regions=["dc1", "us-east-1"])
    assert refusal is not None
    assert refusal.field == "spec.dns.policy.locations"
    assert "dc1" in refusal.message
    assert "us-east-1" not in refusal.message
    placed = policy(type="geolocation", locations=[{"region": "dc1", "gcpRegion": "europe-west3"}])
    assert plan_policy_refusal(placed, provider="clouddns", regions=["dc1"]) is None


def test_geolocation_on_route53_and_clouddns_mirrors_together_is_refused() -> None:
    geo = policy(type="geolocation")
    refusal = plan_mirrors_refusal(geo, ("route53", "clouddns"))
    assert refusal is not None
    assert refusal.field == "spec.dns.policy.type"
    assert "clouddns and route53" in refusal.message
    assert plan_mirrors_refusal(geo, ("clouddns",)) is None
    assert plan_mirrors_refusal(policy(type="weighted"), ("route53", "clouddns")) is None
    federation = Federation(name="myfederation", domain="example.com", providers=("route53", "clouddns"))
    observation = observe(spec={**SPEC, "dns": {"policy": {"type": "geolocation"}}})
    members = plan_member_writes(observation, federation)
    assert members.writes == ()
    assert members.invalid is not None


def test_clouddns_geolocation_is_one_set_per_gcp_region_and_no_default() -> None:
    clusters = [
        member("gke", "europe-west3"),
        member("aks", "germanywestcentral"),
        member("eks", "us-east-1"),
        member("dc", "dc1"),
    ]
    geo = policy(type="geolocation", locations=[{"region": "dc1", "gcpRegion": "asia-east1"}])
    places = plan_geo_places(geo, clusters, gcp_regions=True)
    assert places == {
        "gke": "gcp:europe-west3",
        "aks": "gcp:europe-west3",
        "eks": "gcp:us-east4",
        "dc": "gcp:asia-east1",
    }
    shards = [
        healthy("gke", "127.0.0.1", "europe-west3"),
        healthy("aks", "127.0.0.2", "germanywestcentral"),
        healthy("eks", "127.0.0.3", "us-east-1"),
    ]
    tiers = plan_service_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        clusters=[replace(c, zones=()) for c in clusters],
        counted=[
            replace(shard(s.cluster, healthy=True, address=s.ipv4[0]), region=s.region, zones=())
            for s in shards
        ],
        limits=ProviderLimits(max_values_per_set=100, geo_by_gcp_region=True, group_in_one_set=True),
        policy=geo,
    )
    (group,) = [r for r in tiers.records if r.name == NAMES.global_name]
    assert group.type == "GEO"
    # No "*": Cloud DNS answers a client of a region without an item from the nearest one.
    assert sorted(split_geo_values(group.values).values()) == [
        ("gcp:europe-west3", ("127.0.0.1", "127.0.0.2")),
        ("gcp:us-east4", ("127.0.0.3",)),
    ]
    assert [
        p.targets for p in render_published(tiers.records, names=NAMES, regions=()) if p.type == "GEO"
    ] == [
        (
            "127.0.0.1 location gcp:europe-west3",
            "127.0.0.2 location gcp:europe-west3",
            "127.0.0.3 location gcp:us-east4",
        )
    ]


def test_a_shard_without_a_gcp_region_is_left_out_of_clouddns_geolocation_and_said() -> None:
    shards = [healthy("gke", "127.0.0.1", "europe-west3"), healthy("dc", "127.0.0.2", "dc1")]
    plan = plan_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        topology={"europe-west3": frozenset(), "dc1": frozenset()},
        healthy=shards,
        global_places={"gke": "gcp:europe-west3"},
    )
    (group,) = [r for r in plan.records if r.name == NAMES.global_name]
    assert list(split_geo_values(group.values).values()) == [("gcp:europe-west3", ("127.0.0.1",))]
    assert any("dc" in note and "Google Cloud region" in note for note in plan.notes)
    # With no shard located at all, Cloud DNS gets no Route 53 default "*": the name answers as tiered.
    nowhere = plan_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        topology={"dc1": frozenset()},
        healthy=shards[1:],
        global_places={},
        geo_by_gcp_region=True,
    )
    assert global_a(nowhere.records) == ("127.0.0.2",)
    assert any("dc" in note and "Google Cloud region" in note for note in nowhere.notes)


# --- the provider's limit inside a routing-policy group -----------------------------------------------------


def crowd(cluster: str, region: str, octet: int, count: int) -> ShardAddresses:
    """A shard of ``count`` IPv4 addresses 127.<octet>.0.1.. (in order)."""
    addresses = tuple(f"127.{octet}.0.{i + 1}" for i in range(count))
    return ShardAddresses(cluster=cluster, region=region, zones=frozenset(), ipv4=addresses)


def group_plan(shards: list[ShardAddresses], *, one_set: bool, **policy_: Any) -> Any:
    return plan_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        topology={s.region: frozenset() for s in shards},
        healthy=shards,
        max_values=3,
        group_in_one_set=one_set,
        **policy_,
    )


def global_notes(plan: Any) -> tuple[str, ...]:
    """The notes on the global name (region tiers say their own)."""
    return tuple(n for n in plan.notes if n.startswith(f"{NAMES.global_name} "))


def test_route53_geo_default_set_is_held_to_the_limit_per_set_and_said() -> None:
    shards = [crowd("a", "eu-central-1", 1, 2), crowd("b", "us-east-1", 2, 2)]
    plan = group_plan(shards, one_set=False, global_places={"a": "country:DE", "b": "country:US"})
    (group,) = [r for r in plan.records if r.name == NAMES.global_name]
    sets = dict(split_geo_values(group.values).values())
    # "*" holds every address (4): the lowest 3 of them; each country set (2) is within the limit.
    assert sets == {
        "*": ("127.1.0.1", "127.1.0.2", "127.2.0.1"),
        "country:DE": ("127.1.0.1", "127.1.0.2"),
        "country:US": ("127.2.0.1", "127.2.0.2"),
    }
    assert global_notes(plan) == (
        f"{NAMES.global_name} publishes 3 of 4 healthy A addresses in its geolocation set * (lowest "
        "addresses first; the DNS provider takes at most 3 per record set)",
    )


@pytest.mark.parametrize(
    "policy_",
    [
        pytest.param({"global_weights": {"a": 1, "b": 2}}, id="weighted"),
        pytest.param({"global_regions": {"a": "eu-central-1", "b": "us-east-1"}}, id="latency"),
    ],
)
def test_each_route53_set_of_a_group_is_held_to_the_limit(policy_: dict[str, Any]) -> None:
    plan = group_plan([crowd("a", "r1", 1, 5), crowd("b", "r2", 2, 1)], one_set=False, **policy_)
    (group,) = [r for r in plan.records if r.name == NAMES.global_name]
    addresses = sorted(v.split()[2] for v in group.values)
    assert addresses == ["127.1.0.1", "127.1.0.2", "127.1.0.3", "127.2.0.1"]
    (note,) = global_notes(plan)
    assert "3 of 5 healthy A addresses" in note


def test_a_clouddns_group_is_held_to_the_limit_as_one_record_set_each_set_keeping_an_answer() -> None:
    shards = [crowd("a", "r1", 1, 4), crowd("b", "r2", 2, 1), crowd("c", "r3", 3, 2)]
    plan = group_plan(shards, one_set=True, global_weights={"a": 1, "b": 1, "c": 1})
    (group,) = [r for r in plan.records if r.name == NAMES.global_name]
    shares = sorted(split_weighted_values(group.values).values())
    # One address of each set in turn (lowest first): every cluster keeps its share.
    assert shares == [(1, ("127.1.0.1",)), (1, ("127.2.0.1",)), (1, ("127.3.0.1",))]
    assert global_notes(plan) == (
        f"{NAMES.global_name} publishes 3 of 7 healthy A addresses in its weighted group (the lowest "
        "addresses of each set in turn; the DNS provider takes at most 3 per record set)",
    )
    # The same health plans the same subset: a second round sends nothing.
    assert group_plan(shards, one_set=True, global_weights={"a": 1, "b": 1, "c": 1}) == plan
    geo = group_plan(shards, one_set=True, global_places={"a": "gcp:r-one1", "c": "gcp:r-three3"})
    (group,) = [r for r in geo.records if r.name == NAMES.global_name]
    assert sorted(split_geo_values(group.values).values()) == [
        ("gcp:r-one1", ("127.1.0.1", "127.1.0.2")),
        ("gcp:r-three3", ("127.3.0.1",)),
    ]


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=5),
    limit=st.integers(min_value=1, max_value=8),
    one_set=st.booleans(),
)
def test_group_limit_invariants(sizes: list[int], limit: int, one_set: bool) -> None:
    shards = [crowd(f"c{i}", f"r{i}", i + 1, n) for i, n in enumerate(sizes)]
    weights = {s.cluster: 1 for s in shards}
    plan = plan_tiers(
        names=NAMES,
        ttl=60,
        aliases=(),
        topology={s.region: frozenset() for s in shards},
        healthy=shards,
        max_values=limit,
        group_in_one_set=one_set,
        global_weights=weights,
    )
    (group,) = [r for r in plan.records if r.name == NAMES.global_name]
    shares = split_weighted_values(group.values)
    healthy_addresses = {a for s in shards for a in s.ipv4}
    published = [a for _, addresses in shares.values() for a in addresses]
    assert set(published) <= healthy_addresses
    if one_set:
        assert len(published) == min(limit, len(healthy_addresses))
        # Every cluster keeps an answer while the limit allows one each.
        assert len(shares) == min(limit, len(shards))
    else:
        assert len(shares) == len(shards)
        assert all(
            len(addresses) == min(limit, n)
            for (_, addresses), n in zip(sorted(shares.values(), key=lambda v: v[1]), sizes, strict=True)
        )
    # Said whenever something was left out, never otherwise.
    assert bool(global_notes(plan)) == (len(published) < len(healthy_addresses))
