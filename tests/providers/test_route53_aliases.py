"""Load balancer hostnames on Route 53 (moto's server): a tier reached by several ELB/NLB hostnames is one
weighted alias A record per hostname, with the load balancer's canonical hosted zone and a set identifier
the operator owns; it reads back as what was planned (a second round sends nothing), changes hostname by
hostname, and is deleted whole; a tier mixing IP and load balancer shards keeps them all in one weighted
group. No shard is left out."""

from __future__ import annotations

from typing import Any

import pytest

from federation_operator.dns.route53 import Route53Provider
from federation_operator.dns.route53.batches import addresses_set_identifier, alias_set_identifier
from federation_operator.domain.records import RecordSet, ShardAddresses
from federation_operator.planning.records import plan_tiers

from . import (
    TOPOLOGY,
    global_name,
    publish,
    service_names,
    tier_name,
    unique_service,
)

# Fake keys and nothing else in boto3's credential chain, and the hosted zone example.com on a fresh moto
# (tests/dns_fixtures.py), for every test here.
pytestmark = pytest.mark.usefixtures("fake_aws_credentials", "zone_id")

NLB_EAST = "a1b2-0123456789abcdef.elb.us-east-1.amazonaws.com"
ALB_WEST = "k8s-web-1234567890.eu-west-1.elb.amazonaws.com"
ALB_ASIA = "k8s-web-abcdef.ap-southeast-1.elb.amazonaws.com"
ELSEWHERE = "lb.example.net"


def listed(client: Any, name: str) -> list[dict[str, Any]]:
    zone_id = client.list_hosted_zones()["HostedZones"][0]["Id"]
    found = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [r for r in found if r["Name"].rstrip(".") == name.rstrip(".") and r["Type"] == "A"]


def hostname_shard(cluster: str, region: str, zone: str, host: str) -> ShardAddresses:
    return ShardAddresses(cluster=cluster, region=region, zones=frozenset({zone}), hostnames=(host,))


def planned(service: str, shards: list[ShardAddresses], provider: Route53Provider) -> tuple[RecordSet, ...]:
    names = service_names(service)
    return plan_tiers(
        names=names,
        ttl=180,
        aliases=(),
        topology=TOPOLOGY,
        healthy=shards,
        max_values=provider.limits.max_values_per_set,
        hostname_aliases=provider.limits.hostname_aliases,
    ).records


async def test_every_load_balancer_of_a_tier_is_a_weighted_alias_and_reads_back_as_planned(
    route53: Any,
) -> None:
    provider = Route53Provider(route53, zone="example.com")
    svc = unique_service()
    shards = [
        hostname_shard("us", "us-central1", "us-central1-a", NLB_EAST),
        hostname_shard("eu", "europe-west1", "europe-west1-a", ALB_WEST),
        hostname_shard("asia", "asia-east1", "asia-east1-a", ALB_ASIA),
    ]
    desired = planned(svc, shards, provider)
    assert RecordSet(global_name(svc), "ALIAS", 0, (ALB_ASIA, ALB_WEST, NLB_EAST)) in desired
    calls, conflicts = await publish(provider, desired, svc)
    assert calls >= 1
    assert conflicts == ()

    aliases = sorted(listed(route53, global_name(svc)), key=lambda r: r["SetIdentifier"])
    assert len(aliases) == 3  # every shard, none left out
    by_host = {r["AliasTarget"]["DNSName"].rstrip("."): r for r in aliases}
    assert by_host[NLB_EAST]["AliasTarget"]["HostedZoneId"] == "Z26RNL4JYFTOTI"  # NLB, us-east-1
    assert by_host[ALB_WEST]["AliasTarget"]["HostedZoneId"] == "Z32O12XQLNTSW2"  # ALB/Classic, eu-west-1
    assert by_host[NLB_EAST]["SetIdentifier"] == alias_set_identifier(global_name(svc), f"{NLB_EAST}.")
    assert {r["Weight"] for r in aliases} == {1}
    # A region's own tier is the alias of its one load balancer.
    assert [
        r["AliasTarget"]["DNSName"].rstrip(".") for r in listed(route53, tier_name(svc, "europe-west1"))
    ] == [ALB_WEST]

    # Read back as planned: the same state again sends nothing.
    assert await publish(provider, desired, svc) == (0, ())

    # One load balancer goes: only its alias record is deleted.
    fewer = planned(svc, shards[:2], provider)
    assert (await publish(provider, fewer, svc))[1] == ()
    assert {r["AliasTarget"]["DNSName"].rstrip(".") for r in listed(route53, global_name(svc))} == {
        NLB_EAST,
        ALB_WEST,
    }

    # Deleting the FederatedService removes every alias record.
    await publish(provider, (), svc)
    assert listed(route53, global_name(svc)) == []


async def test_a_hostname_that_is_no_known_load_balancer_falls_back_to_the_cname(route53: Any) -> None:
    provider = Route53Provider(route53, zone="example.com")
    svc = unique_service()
    names = service_names(svc)
    plan = plan_tiers(
        names=names,
        ttl=180,
        aliases=(),
        topology=TOPOLOGY,
        healthy=[
            hostname_shard("x", "us-central1", "us-central1-a", ELSEWHERE),
            hostname_shard("us", "us-central1", "us-central1-a", NLB_EAST),
        ],
        hostname_aliases=True,
    )
    by_key = {r.key: r for r in plan.records}
    assert by_key[(global_name(svc), "ALIAS")].values == (f"{NLB_EAST}.",)
    assert any(f"{ELSEWHERE}. (no known load balancer) are not published" in note for note in plan.notes)
    only_elsewhere = planned(svc, [hostname_shard("x", "us-central1", "us-central1-a", ELSEWHERE)], provider)
    assert RecordSet(global_name(svc), "CNAME", 180, (ELSEWHERE,)) in only_elsewhere
    assert (await publish(provider, only_elsewhere, svc))[1] == ()


def ip_shard(cluster: str, region: str, zone: str, address: str) -> ShardAddresses:
    return ShardAddresses(cluster=cluster, region=region, zones=frozenset({zone}), ipv4=(address,))


def weighted(client: Any, name: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """The A records at ``name`` by set identifier (``-`` for a plain one): weight and what they answer."""
    found: dict[str, tuple[int, tuple[str, ...]]] = {}
    for r in listed(client, name):
        values = (
            (r["AliasTarget"]["DNSName"].rstrip("."),)
            if "AliasTarget" in r
            else tuple(v["Value"] for v in r["ResourceRecords"])
        )
        found[r.get("SetIdentifier", "-")] = (r.get("Weight", 0), values)
    return found


async def test_a_mixed_tier_keeps_every_shard_through_its_transitions(route53: Any) -> None:
    """IP only → mixed → load balancers only → mixed again → IP only, each one valid batch on moto: a mixed
    tier is one weighted group of A records we own (the addresses' record set, weighted by its number of
    addresses, and an alias per load balancer, weight 1), which reads back as planned (a second round sends
    nothing, also from a fresh provider) with its ownership record; the plain A record set and the group
    replace each other in one batch; back to IP only, the name holds again the record set it held at first."""
    provider = Route53Provider(route53, zone="example.com")
    svc = unique_service()
    name = global_name(svc)
    nlb = alias_set_identifier(name, f"{NLB_EAST}.")
    addresses = addresses_set_identifier(name)
    ip_a = ip_shard("gce-a", "us-central1", "us-central1-a", "104.197.0.1")
    ip_b = ip_shard("gce-b", "us-central1", "us-central1-b", "104.197.0.2")
    ip_c = ip_shard("gce-c", "us-central1", "us-central1-a", "104.197.0.3")
    elb = hostname_shard("aws-us", "us-central1", "us-central1-a", NLB_EAST)
    phases = [
        ([ip_a, ip_b], {"-": (0, ("104.197.0.1", "104.197.0.2"))}),
        (
            [ip_a, ip_b, elb],
            {addresses: (2, ("104.197.0.1", "104.197.0.2")), nlb: (1, (NLB_EAST,))},
        ),
        ([elb], {nlb: (1, (NLB_EAST,))}),
        ([ip_c, elb], {addresses: (1, ("104.197.0.3",)), nlb: (1, (NLB_EAST,))}),
        ([ip_a, ip_b], {"-": (0, ("104.197.0.1", "104.197.0.2"))}),
    ]
    for shards, expected in phases:
        desired = planned(svc, shards, provider)
        calls, conflicts = await publish(provider, desired, svc)
        assert calls >= 1
        assert conflicts == ()
        assert weighted(route53, name) == expected
        assert await publish(provider, desired, svc) == (0, ())
        assert await publish(Route53Provider(route53, zone="example.com"), desired, svc) == (0, ())
    await publish(provider, (), svc)
    assert listed(route53, name) == []


async def test_a_mixed_tiers_addresses_change_without_touching_its_aliases(route53: Any) -> None:
    provider = Route53Provider(route53, zone="example.com")
    svc = unique_service()
    elb = hostname_shard("aws-us", "us-central1", "us-central1-a", NLB_EAST)
    shards = [ip_shard("gce-a", "us-central1", "us-central1-a", "104.197.0.1"), elb]
    await publish(provider, planned(svc, shards, provider), svc)
    before = listed(route53, global_name(svc))
    more = [*shards, ip_shard("gce-b", "us-central1", "us-central1-b", "104.197.0.2")]
    assert (await publish(provider, planned(svc, more, provider), svc))[1] == ()
    after = weighted(route53, global_name(svc))
    assert after[addresses_set_identifier(global_name(svc))] == (2, ("104.197.0.1", "104.197.0.2"))
    alias_id = alias_set_identifier(global_name(svc), f"{NLB_EAST}.")
    assert [r for r in before if r.get("SetIdentifier") == alias_id] == [
        r for r in listed(route53, global_name(svc)) if r.get("SetIdentifier") == alias_id
    ]
