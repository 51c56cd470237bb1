"""The geo-tiered record planner: the seed article's scenarios by name, then its invariants (hypothesis)."""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation_operator.domain.elb import elb_hosted_zone
from federation_operator.domain.members import Ingress
from federation_operator.domain.records import (
    Conflict,
    RecordSet,
    ServiceNames,
    ShardAddresses,
    normalize_name,
)
from federation_operator.planning.records import TierPlan, plan_records, plan_tiers, render_published

NAMES = ServiceNames(
    service="nginx", namespace="mynamespace", federation="myfederation", domain="example.com"
)
GLOBAL = "nginx.mynamespace.myfederation.svc.example.com."
TOPOLOGY = {
    "asia-east1": frozenset({"asia-east1-a", "asia-east1-b"}),
    "europe-west1": frozenset({"europe-west1-a", "europe-west1-b"}),
    "us-central1": frozenset({"us-central1-a", "us-central1-b"}),
}
ASIA = ShardAddresses(
    cluster="gce-asia-east1", region="asia-east1", zones=frozenset({"asia-east1-a"}), ipv4=("130.211.0.1",)
)
EUROPE = ShardAddresses(
    cluster="gce-europe-west1",
    region="europe-west1",
    zones=frozenset({"europe-west1-a"}),
    ipv4=("104.155.0.1",),
)
US = ShardAddresses(
    cluster="gce-us-central1", region="us-central1", zones=frozenset({"us-central1-a"}), ipv4=("104.197.0.1",)
)
US_B = ShardAddresses(
    cluster="gce-us-central1-b",
    region="us-central1",
    zones=frozenset({"us-central1-b"}),
    ipv4=("104.197.0.2",),
)
ELB_US = ShardAddresses(
    cluster="aws-us",
    region="us-central1",
    zones=frozenset({"us-central1-a"}),
    hostnames=("b-123.elb.amazonaws.com",),
)
ELB_EU = ShardAddresses(
    cluster="aws-eu",
    region="europe-west1",
    zones=frozenset({"europe-west1-a"}),
    hostnames=("a-456.elb.amazonaws.com",),
)


def plan(
    healthy: Sequence[ShardAddresses],
    *,
    aliases: Sequence[str] = (),
    topology: dict[str, frozenset[str]] | None = None,
    ttl: int = 180,
) -> tuple[RecordSet, ...]:
    return plan_records(
        names=ServiceNames(
            service="nginx", namespace="mynamespace", federation="myfederation", domain="example.com"
        ),
        ttl=ttl,
        aliases=aliases,
        topology=TOPOLOGY if topology is None else topology,
        healthy=healthy,
    )


def short(name: str) -> str:
    """``global``, a region or zone label, or the full name (aliases and hostnames)."""
    label = NAMES.tier_label(name)
    return name if label is None else (label or "global")


def table(records: Iterable[RecordSet]) -> dict[tuple[str, str], tuple[str, ...]]:
    return {
        (short(r.name), r.type): tuple(short(v) for v in r.values) if r.type == "CNAME" else r.values
        for r in records
    }


ALL_HEALTHY = {
    ("global", "A"): ("104.155.0.1", "104.197.0.1", "130.211.0.1"),
    ("asia-east1", "A"): ("130.211.0.1",),
    ("asia-east1-a", "A"): ("130.211.0.1",),
    ("asia-east1-b", "CNAME"): ("asia-east1",),
    ("europe-west1", "A"): ("104.155.0.1",),
    ("europe-west1-a", "A"): ("104.155.0.1",),
    ("europe-west1-b", "CNAME"): ("europe-west1",),
    ("us-central1", "A"): ("104.197.0.1",),
    ("us-central1-a", "A"): ("104.197.0.1",),
    ("us-central1-b", "CNAME"): ("us-central1",),
}


@pytest.mark.parametrize(
    ("healthy", "aliases", "expected"),
    [
        pytest.param((), (), {}, id="no-healthy-shard-no-records-at-all"),
        pytest.param((), ("nginx.acme.com",), {}, id="no-healthy-shard-no-alias-either"),
        pytest.param((ASIA, EUROPE, US), (), ALL_HEALTHY, id="all-healthy"),
        pytest.param(
            (ASIA, US),
            (),
            {
                ("global", "A"): ("104.197.0.1", "130.211.0.1"),
                ("asia-east1", "A"): ("130.211.0.1",),
                ("asia-east1-a", "A"): ("130.211.0.1",),
                ("asia-east1-b", "CNAME"): ("asia-east1",),
                ("europe-west1", "CNAME"): ("global",),
                ("europe-west1-a", "CNAME"): ("europe-west1",),
                ("europe-west1-b", "CNAME"): ("europe-west1",),
                ("us-central1", "A"): ("104.197.0.1",),
                ("us-central1-a", "A"): ("104.197.0.1",),
                ("us-central1-b", "CNAME"): ("us-central1",),
            },
            id="one-region-down",
        ),
        pytest.param(
            (ASIA, EUROPE, US, US_B),
            (),
            {
                **{key: value for key, value in ALL_HEALTHY.items() if key != ("us-central1-b", "CNAME")},
                ("global", "A"): ("104.155.0.1", "104.197.0.1", "104.197.0.2", "130.211.0.1"),
                ("us-central1", "A"): ("104.197.0.1", "104.197.0.2"),
                ("us-central1-b", "A"): ("104.197.0.2",),
            },
            id="two-clusters-in-one-region",
        ),
        pytest.param(
            (ASIA, EUROPE, US),
            ("nginx.acme.com", "EU.Nginx.acme.com."),
            {
                **ALL_HEALTHY,
                ("nginx.acme.com.", "CNAME"): ("global",),
                ("eu.nginx.acme.com.", "CNAME"): ("global",),
            },
            id="aliases-cname-to-global",
        ),
        pytest.param(
            (ASIA, EUROPE, US),
            (GLOBAL, "nginx.mynamespace.myfederation.svc.asia-east1.example.com"),
            ALL_HEALTHY,
            id="alias-equal-to-a-generated-name-dropped",
        ),
        pytest.param(
            (ELB_US, ELB_EU),
            (),
            {
                ("global", "CNAME"): ("a-456.elb.amazonaws.com.",),
                ("asia-east1", "CNAME"): ("global",),
                ("asia-east1-a", "CNAME"): ("asia-east1",),
                ("asia-east1-b", "CNAME"): ("asia-east1",),
                ("europe-west1", "CNAME"): ("a-456.elb.amazonaws.com.",),
                ("europe-west1-a", "CNAME"): ("a-456.elb.amazonaws.com.",),
                ("europe-west1-b", "CNAME"): ("europe-west1",),
                ("us-central1", "CNAME"): ("b-123.elb.amazonaws.com.",),
                ("us-central1-a", "CNAME"): ("b-123.elb.amazonaws.com.",),
                ("us-central1-b", "CNAME"): ("us-central1",),
            },
            id="hostname-ingress-cname-to-first-hostname",
        ),
        pytest.param(
            (ELB_US, US_B, EUROPE),
            (),
            {
                ("global", "A"): ("104.155.0.1", "104.197.0.2"),
                ("asia-east1", "CNAME"): ("global",),
                ("asia-east1-a", "CNAME"): ("asia-east1",),
                ("asia-east1-b", "CNAME"): ("asia-east1",),
                ("europe-west1", "A"): ("104.155.0.1",),
                ("europe-west1-a", "A"): ("104.155.0.1",),
                ("europe-west1-b", "CNAME"): ("europe-west1",),
                ("us-central1", "A"): ("104.197.0.2",),
                ("us-central1-a", "CNAME"): ("b-123.elb.amazonaws.com.",),
                ("us-central1-b", "A"): ("104.197.0.2",),
            },
            id="mixed-ip-and-hostname-tier-publishes-ips",
        ),
    ],
)
def test_seed_article_scenarios(
    healthy: Sequence[ShardAddresses],
    aliases: Sequence[str],
    expected: dict[tuple[str, str], tuple[str, ...]],
) -> None:
    assert table(plan(healthy, aliases=aliases)) == expected


def test_dual_stack_shard_gets_a_and_aaaa_at_each_of_its_names() -> None:
    dual = ShardAddresses.from_ingress(
        cluster="c1",
        region="us-central1",
        zones=("us-central1-a",),
        ingress=(Ingress(ip="104.197.0.1"), Ingress(ip="2001:DB8:0:0::1"), Ingress(ip="not-an-ip")),
    )
    found = table(plan([dual]))
    for name in ("global", "us-central1", "us-central1-a"):
        assert found[(name, "A")] == ("104.197.0.1",)
        assert found[(name, "AAAA")] == ("2001:db8::1",)
    assert found[("us-central1-b", "CNAME")] == ("us-central1",)


def test_every_record_carries_the_objects_ttl() -> None:
    assert {r.ttl for r in plan([ASIA, US], aliases=["nginx.acme.com"], ttl=30)} == {30}


def test_a_zone_named_like_its_region_gets_the_region_record_only() -> None:
    on_prem = ShardAddresses(cluster="dc", region="dc1", zones=frozenset({"dc1"}), ipv4=("10.1.0.1",))
    found = table(plan([on_prem], topology={"dc1": frozenset({"dc1"})}))
    assert found == {("global", "A"): ("10.1.0.1",), ("dc1", "A"): ("10.1.0.1",)}


def test_zones_and_regions_seen_only_on_healthy_shards_are_published() -> None:
    roaming = ShardAddresses(
        cluster="x", region="us-east1", zones=frozenset({"us-east1-c"}), ipv4=("1.2.3.4",)
    )
    found = table(plan([roaming], topology={}))
    assert found == {
        ("global", "A"): ("1.2.3.4",),
        ("us-east1", "A"): ("1.2.3.4",),
        ("us-east1-c", "A"): ("1.2.3.4",),
    }


def test_a_healthy_shard_without_addresses_counts_as_nothing() -> None:
    assert plan([ShardAddresses(cluster="c", region="us-central1")]) == ()


def test_render_published_tiers_and_order() -> None:
    records = plan([ASIA, US], aliases=["nginx.acme.com"])
    blocked = Conflict(name="nginx.acme.com.", type="CNAME", reason="foreign")
    published = render_published(records, names=NAMES, regions=TOPOLOGY, conflicts=[blocked])
    assert [(p.tier, short(p.name), p.type) for p in published] == [
        ("global", "global", "A"),
        ("region", "asia-east1", "A"),
        ("region", "europe-west1", "CNAME"),
        ("region", "us-central1", "A"),
        ("zone", "asia-east1-a", "A"),
        ("zone", "asia-east1-b", "CNAME"),
        ("zone", "europe-west1-a", "CNAME"),
        ("zone", "europe-west1-b", "CNAME"),
        ("zone", "us-central1-a", "A"),
        ("zone", "us-central1-b", "CNAME"),
    ]
    assert published[0].targets == ("104.197.0.1", "130.211.0.1")
    with_alias = render_published(records, names=NAMES, regions=TOPOLOGY)
    assert (with_alias[-1].tier, with_alias[-1].name, with_alias[-1].targets) == (
        "alias",
        "nginx.acme.com.",
        (GLOBAL,),
    )


def test_planning_imports_no_sdk() -> None:
    """Planner, diff, in-memory provider and factory import no kopf, kubernetes, boto3, google, dnspython."""
    code = (
        "import sys\n"
        "import federation_operator.planning.records, federation_operator.planning.zone_diff\n"
        "import federation_operator.dns.inmemory, federation_operator.dns.factory\n"
        "roots = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(roots & {'dns', 'kopf', 'kubernetes', 'boto3', 'botocore', 'google'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- invariants -------------------------------------------------------------------------------------------

REGIONS = ("asia-east1", "europe-west1", "us-central1", "dc1")


@st.composite
def topologies(draw: st.DrawFn) -> dict[str, frozenset[str]]:
    regions = draw(st.sets(st.sampled_from(REGIONS), max_size=4))
    return {
        region: frozenset(draw(st.sets(st.sampled_from([f"{region}-a", f"{region}-b", f"{region}-c"]))))
        for region in regions
    }


@st.composite
def shards(draw: st.DrawFn, topology: dict[str, frozenset[str]]) -> ShardAddresses:
    region = draw(st.sampled_from(sorted(topology) or REGIONS))
    known = sorted(topology.get(region, frozenset()) | {f"{region}-z"})
    octet = st.integers(min_value=1, max_value=254)
    return ShardAddresses(
        cluster=draw(st.text("abc", min_size=1, max_size=3)),
        region=region,
        zones=frozenset(draw(st.sets(st.sampled_from(known), max_size=2))),
        ipv4=tuple(f"10.0.{draw(octet)}.{draw(octet)}" for _ in range(draw(st.integers(0, 2)))),
        ipv6=tuple(f"2001:db8::{draw(octet):x}" for _ in range(draw(st.integers(0, 1)))),
        hostnames=tuple(f"lb-{draw(octet)}.elb.example.net" for _ in range(draw(st.integers(0, 1)))),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, frozenset[str]], list[ShardAddresses], list[str]]:
    topology = draw(topologies())
    healthy = draw(st.lists(shards(topology), max_size=5))
    aliases = draw(st.lists(st.sampled_from(["nginx.acme.com", "eu.nginx.acme.com", GLOBAL]), max_size=2))
    return topology, healthy, aliases


def resolve(name: str, records: Sequence[RecordSet], externals: set[str]) -> bool:
    """Whether ``name`` answers with addresses through CNAMEs (an external hostname counts as an answer)."""
    by_name: dict[str, list[RecordSet]] = {}
    for record in records:
        by_name.setdefault(record.name, []).append(record)
    seen: set[str] = set()
    while name not in seen:
        seen.add(name)
        found = by_name.get(name, [])
        cname = [r for r in found if r.type == "CNAME"]
        if not cname:
            if found:
                return any(r.values for r in found if r.type in ("A", "AAAA"))
            return name in externals
        name = cname[0].values[0]
    return False  # a CNAME loop


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_invariants(scenario: tuple[dict[str, frozenset[str]], list[ShardAddresses], list[str]]) -> None:
    topology, healthy, aliases = scenario
    records = plan(healthy, aliases=aliases, topology=topology)
    reachable = [s for s in healthy if s.has_addresses]
    if not reachable:
        assert records == ()
        return

    # Never a CNAME beside other data, never two record sets of one type at one name.
    types_at: dict[str, list[str]] = {}
    for record in records:
        types_at.setdefault(record.name, []).append(record.type)
    for types in types_at.values():
        assert len(types) == len(set(types))
        assert "CNAME" not in types or types == ["CNAME"]

    # Every zone and region name (and the global name and aliases) resolves to a non-empty answer.
    externals = {host for shard in reachable for host in shard.hostnames}
    zones = {z for zs in topology.values() for z in zs} | {z for s in reachable for z in s.zones}
    regions = set(topology) | {s.region for s in reachable}
    names = {GLOBAL, *map(NAMES.zone_name, zones), *map(NAMES.region_name, regions)}
    for name in names | {r.name for r in records}:
        assert resolve(name, records, externals), name

    # The global name answers every healthy IP (when any shard has one).
    ipv4 = {ip for shard in reachable for ip in shard.ipv4}
    found = {r.type: set(r.values) for r in records if r.name == GLOBAL}
    if ipv4:
        assert found["A"] == ipv4
    # A zone served by healthy IP shards answers exactly their addresses.
    for zone in zones:
        serving = {ip for s in reachable if zone in s.zones for ip in s.ipv4}
        at_zone = {r.type: set(r.values) for r in records if r.name == NAMES.zone_name(zone)}
        if serving and zone not in regions:
            assert at_zone["A"] == serving


# --- limits and what a tier leaves out (plan_tiers) ---------------------------------------------------


def tiers(healthy: Sequence[ShardAddresses], *, max_values: int | None = None) -> TierPlan:
    return plan_tiers(
        names=NAMES, ttl=180, aliases=(), topology=TOPOLOGY, healthy=healthy, max_values=max_values
    )


def many_shards(count: int, region: str = "us-central1", zone: str = "us-central1-a") -> list[ShardAddresses]:
    return [
        ShardAddresses(
            cluster=f"c{i}", region=region, zones=frozenset({zone}), ipv4=(f"10.0.{i // 250}.{i % 250 + 1}",)
        )
        for i in range(count)
    ]


def test_a_tier_over_the_providers_limit_publishes_the_lowest_addresses_and_says_so() -> None:
    plan = tiers(many_shards(140), max_values=100)
    by_key = {r.key: r for r in plan.records}
    published = by_key[(GLOBAL, "A")].values
    everything = RecordSet(GLOBAL, "A", 180, tuple(f"10.0.{i // 250}.{i % 250 + 1}" for i in range(140)))
    assert published == everything.values[:100]
    assert plan.notes == (
        f"{GLOBAL} publishes 100 of 140 healthy A addresses (lowest addresses first; the DNS provider takes "
        "at most 100 per record set)",
        f"{NAMES.region_name('us-central1')} publishes 100 of 140 healthy A addresses (lowest addresses "
        "first; the DNS provider takes at most 100 per record set)",
        f"{NAMES.zone_name('us-central1-a')} publishes 100 of 140 healthy A addresses (lowest addresses "
        "first; the DNS provider takes at most 100 per record set)",
    )


def test_a_tier_within_the_limit_is_whole_and_has_no_note() -> None:
    plan = tiers(many_shards(100), max_values=100)
    assert len({r.key: r for r in plan.records}[(GLOBAL, "A")].values) == 100
    assert plan.notes == ()


def test_an_ipv6_only_tier_is_an_aaaa_record_set_alone() -> None:
    v6 = ShardAddresses(
        cluster="v6", region="asia-east1", zones=frozenset({"asia-east1-a"}), ipv6=("2001:db8::1",)
    )
    plan = tiers([v6, EUROPE])
    found = table(plan.records)
    assert found[("global", "A")] == ("104.155.0.1",)
    assert found[("global", "AAAA")] == ("2001:db8::1",)
    assert found[("asia-east1", "AAAA")] == ("2001:db8::1",)
    assert ("asia-east1", "A") not in found
    assert found[("asia-east1-a", "AAAA")] == ("2001:db8::1",)


def test_hostnames_left_out_of_a_cname_tier_are_named() -> None:
    plan = tiers([ELB_US, ELB_EU])
    assert table(plan.records)[("global", "CNAME")] == ("a-456.elb.amazonaws.com.",)
    assert plan.notes == (
        f"{GLOBAL} is a CNAME to a-456.elb.amazonaws.com.; 1 more hostname targets are not published (a "
        "CNAME holds one target): b-123.elb.amazonaws.com.",
    )


def test_hostnames_left_out_of_a_mixed_tier_are_named() -> None:
    plan = tiers([ELB_US, US_B, EUROPE])
    assert table(plan.records)[("global", "A")] == ("104.155.0.1", "104.197.0.2")
    assert any(
        note.startswith(
            f"{GLOBAL} publishes IP addresses only: the hostname targets b-123.elb.amazonaws.com."
        )
        for note in plan.notes
    )


def test_plan_records_is_plan_tiers_without_notes() -> None:
    shards = many_shards(5)
    assert (
        plan_records(names=NAMES, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards, max_values=3)
        == tiers(shards, max_values=3).records
    )


@settings(max_examples=60, deadline=None)
@given(
    addresses=st.sets(st.integers(0, 2**32 - 1), min_size=1, max_size=60),
    limit=st.integers(1, 40),
    seed=st.randoms(use_true_random=False),
)
def test_the_subset_is_deterministic_never_over_the_limit_and_the_lowest(
    addresses: set[int], limit: int, seed: random.Random
) -> None:
    shards = [
        ShardAddresses(
            cluster=f"c{a}",
            region="us-central1",
            zones=frozenset({"us-central1-a"}),
            ipv4=(str(ipaddress.IPv4Address(a)),),
        )
        for a in addresses
    ]
    shuffled = list(shards)
    seed.shuffle(shuffled)
    first, second = tiers(shards, max_values=limit), tiers(shuffled, max_values=limit)
    assert first == second
    for record in first.records:
        assert len(record.values) <= limit
    published = {r.key: r for r in first.records}[(GLOBAL, "A")].values
    lowest = sorted(addresses)[:limit]
    assert published == tuple(str(ipaddress.IPv4Address(a)) for a in lowest)
    assert bool(first.notes) == (len(addresses) > limit)


# --- load balancer hostnames as alias records (Route 53) ---------------------------------------------------


@pytest.mark.parametrize(
    ("hostname", "zone"),
    [
        ("a1b2-0123456789abcdef.elb.us-east-1.amazonaws.com", "Z26RNL4JYFTOTI"),  # NLB
        ("k8s-web-1234567890.us-east-1.elb.amazonaws.com.", "Z35SXDOTRQ7X7K"),  # ALB / Classic
        ("dualstack.k8s-web-1234567890.eu-west-1.elb.amazonaws.com", "Z32O12XQLNTSW2"),
        ("K8S-WEB.EU-CENTRAL-1.ELB.AMAZONAWS.COM", "Z215JYRZR1TBD5"),
        ("web.elb.eu-central-1.amazonaws.com", "Z3F0SRJ5LGBH90"),
        ("web.xx-nowhere-1.elb.amazonaws.com", None),  # a region outside the table
        ("b-123.elb.amazonaws.com", None),  # no region
        ("lb.example.net", None),
    ],
)
def test_a_load_balancers_canonical_hosted_zone(hostname: str, zone: str | None) -> None:
    assert elb_hosted_zone(hostname) == zone


NLB = "a1b2.elb.us-east-1.amazonaws.com"
ALB = "web-1.eu-west-1.elb.amazonaws.com"


def test_with_aliases_a_hostname_tier_keeps_every_load_balancer() -> None:
    shards = [
        ShardAddresses(
            cluster="us", region="us-central1", zones=frozenset({"us-central1-a"}), hostnames=(NLB,)
        ),
        ShardAddresses(
            cluster="eu", region="europe-west1", zones=frozenset({"europe-west1-a"}), hostnames=(ALB,)
        ),
    ]
    plan = plan_tiers(
        names=NAMES, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards, hostname_aliases=True
    )
    by_key = {r.key: r for r in plan.records}
    assert by_key[(GLOBAL, "ALIAS")] == RecordSet(GLOBAL, "ALIAS", 0, (f"{ALB}.", f"{NLB}."))
    assert by_key[(NAMES.region_name("europe-west1"), "ALIAS")].values == (f"{ALB}.",)
    assert (GLOBAL, "CNAME") not in by_key
    assert plan.notes == ()
    # Without aliases (RFC 2136, Cloud DNS) the same shards give the CNAME and a note.
    without = plan_tiers(names=NAMES, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards)
    assert {r.key: r for r in without.records}[(GLOBAL, "CNAME")].values == (f"{NLB}.",)
    assert without.notes


def test_with_aliases_a_mixed_tier_keeps_every_shard_in_one_alias_record_set() -> None:
    shards = [
        ShardAddresses(
            cluster="us", region="us-central1", zones=frozenset({"us-central1-a"}), hostnames=(NLB,)
        ),
        US_B,
        ShardAddresses(
            cluster="v6", region="us-central1", zones=frozenset({"us-central1-b"}), ipv6=("2001:db8::7",)
        ),
    ]
    plan = plan_tiers(
        names=NAMES, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards, hostname_aliases=True
    )
    by_key = {r.key: r for r in plan.records}
    mixed = by_key[(GLOBAL, "ALIAS")]
    # The IPv4 shard's address and the load balancer, weighted as one group; the TTL is the tier's, for
    # the addresses' record set. IPv6 stays a plain AAAA record set (another type, no weighted group).
    assert mixed.values == ("104.197.0.2", f"{NLB}.")
    assert mixed.ttl == 180
    assert (GLOBAL, "A") not in by_key
    assert by_key[(GLOBAL, "AAAA")].values == ("2001:db8::7",)
    assert not any(NLB in note for note in plan.notes)  # nothing left out, nothing to say


def test_with_aliases_a_mixed_tier_whose_hostnames_are_no_load_balancer_publishes_its_ips() -> None:
    shards = [
        ShardAddresses(
            cluster="us",
            region="us-central1",
            zones=frozenset({"us-central1-a"}),
            hostnames=("lb.example.net",),
        ),
        US_B,
    ]
    plan = plan_tiers(
        names=NAMES, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards, hostname_aliases=True
    )
    assert table(plan.records)[("global", "A")] == ("104.197.0.2",)
    assert any("hostname targets lb.example.net." in note for note in plan.notes)


def test_without_aliases_a_mixed_tier_publishes_its_ips_and_names_the_hostnames() -> None:
    shards = [
        ShardAddresses(
            cluster="us", region="us-central1", zones=frozenset({"us-central1-a"}), hostnames=(NLB,)
        ),
        US_B,
    ]
    plan = plan_tiers(names=NAMES, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards)
    assert table(plan.records)[("global", "A")] == ("104.197.0.2",)
    assert any(f"hostname targets {NLB}." in note for note in plan.notes)


def test_an_alias_tier_is_listed_in_the_status() -> None:
    record = RecordSet(GLOBAL, "ALIAS", 0, (f"{NLB}.",))
    published = render_published([record], names=NAMES, regions=TOPOLOGY)
    assert [(p.name, p.type, p.targets, p.tier) for p in published] == [
        (GLOBAL, "ALIAS", (f"{NLB}.",), "global")
    ]


def test_a_name_already_normal_is_its_own_normal_form() -> None:
    """The name cache then holds one string per name, not the caller's and an equal copy."""
    normalize_name.cache_clear()  # a memo only: an equal name cached earlier would be handed back instead
    name = "".join(["web.ns.", "example.com."])  # built at run time: not a constant the compiler shares
    assert normalize_name(name) is name
    assert normalize_name("Web.NS.example.com") == "web.ns.example.com."
