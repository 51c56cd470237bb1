"""Load balancer shards in the global name's routing-policy groups on Route 53 (moto's server, #14): a shard
reached by an AWS load balancer's hostname only is an alias set of the weighted, latency, geolocation or
failover group (its routing field, the load balancer's canonical hosted zone, EvaluateTargetHealth true, no
TTL and no health check of ours) beside the address sets; it reads back as planned (a second round sends
nothing), and a shard moving from hostname to address replaces only its own set, in one batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from federation_operator.dns.route53 import Route53Provider
from federation_operator.domain.elb import elb_hosted_zone
from federation_operator.domain.errors import PermanentError
from federation_operator.domain.health_checks import HealthCheck, read_health_check
from federation_operator.domain.records import (
    FAILOVER,
    GEO,
    LATENCY,
    WEIGHTED,
    RecordSet,
    ShardAddresses,
    failover_set_identifier,
    geo_set_identifier,
    latency_set_identifier,
    weighted_set_identifier,
)
from federation_operator.planning.records import TierPlan, plan_tiers
from tests.dns_fixtures import Wire

from . import EUROPE, TOPOLOGY, global_name, publish, service_names, unique_service

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

ALB_EAST = "k8s-web-1234567890.us-east-1.elb.amazonaws.com."
NLB_WEST = "a1b2-0123456789abcdef.elb.eu-west-1.amazonaws.com."
# Reached by an AWS load balancer only (a shard of an EKS cluster), in the topology's us-central1.
ELB_US = ShardAddresses(
    cluster="us", region="us-central1", zones=frozenset({"us-central1-a"}), hostnames=(ALB_EAST,)
)
ELB_ASIA = ShardAddresses(
    cluster="asia", region="asia-east1", zones=frozenset({"asia-east1-a"}), hostnames=(NLB_WEST,)
)
TCP_CHECK = HealthCheck(protocol="TCP", port=443, interval=10, failure_threshold=2)


def planned(svc: str, healthy: Sequence[ShardAddresses], **policy: Any) -> TierPlan:
    """The records of ``svc`` on Route 53 (alias records on) under the routing policy ``policy`` names
    (``global_weights``, ``global_regions``, ``global_places`` or ``global_roles``)."""
    return plan_tiers(
        names=service_names(svc),
        ttl=60,
        aliases=(),
        topology=TOPOLOGY,
        healthy=healthy,
        hostname_aliases=True,
        **policy,
    )


def sets_at(client: Any, zone_id: str, name: str) -> dict[str, dict[str, Any]]:
    """Every A record set at ``name``: set identifier → the record set as listed."""
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r for r in records if r["Name"] == name and r["Type"] == "A"}


def alias_to(hostname: str) -> dict[str, Any]:
    return {"HostedZoneId": elb_hosted_zone(hostname), "DNSName": hostname, "EvaluateTargetHealth": True}


def address_set(held: Mapping[str, Any]) -> tuple[int, tuple[str, ...]]:
    return held["TTL"], tuple(v["Value"] for v in held["ResourceRecords"])


async def round_trip(client: Any, records: Sequence[RecordSet], svc: str) -> tuple[int, tuple[object, ...]]:
    """A restarted operator's round: a fresh provider reads the zone and plans ``records`` again."""
    return await publish(Route53Provider(client, zone="example.com"), records, svc)


async def test_a_weighted_group_of_an_address_share_and_a_load_balancer_share(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    plan = planned(svc, [EUROPE, ELB_US], global_weights={"europe": 3, "us": 7})
    assert plan.notes == ()
    assert plan.unanswered == frozenset()
    (group,) = [r for r in plan.records if r.name == name]
    assert (group.type, group.ttl) == (WEIGHTED, 60)
    assert await publish(route53_provider, plan.records, svc) == (1, ())
    assert len(wire.batches) == 1
    held = sets_at(route53, zone_id, name)
    ip_set, elb_set = (
        weighted_set_identifier(name, 3, EUROPE.ipv4),
        weighted_set_identifier(name, 7, [ALB_EAST]),
    )
    assert set(held) == {ip_set, elb_set}
    assert (held[ip_set]["Weight"], address_set(held[ip_set])) == (3, (60, EUROPE.ipv4))
    # The load balancer's share is an alias record set of the group: no TTL, no records, no health check.
    assert held[elb_set]["Weight"] == 7
    assert held[elb_set]["AliasTarget"] == alias_to(ALB_EAST)
    assert not {"TTL", "ResourceRecords", "HealthCheckId"} & set(held[elb_set])
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert any(r["Name"] == f"_fedop-weighted.{name}" and r["Type"] == "TXT" for r in records)
    # Read back as planned: nothing to send.
    assert await round_trip(route53, plan.records, svc) == (0, ())


async def test_a_group_of_load_balancers_only_has_no_ttl_and_keeps_its_aliases_when_an_address_joins(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    only = planned(svc, [ELB_ASIA, ELB_US], global_weights={"us": 2})
    (group,) = [r for r in only.records if r.name == name]
    assert (group.type, group.ttl) == (WEIGHTED, 0)  # an alias has no TTL of its own
    await publish(route53_provider, only.records, svc)
    assert await round_trip(route53, only.records, svc) == (0, ())
    # A shard with an address joins: the group takes the object's TTL, the aliases are not sent again.
    wire.reset()
    joined = planned(svc, [ELB_ASIA, EUROPE, ELB_US], global_weights={"us": 2})
    assert await round_trip(route53, joined.records, svc) == (1, ())
    (batch,) = wire.batches
    at_name = [c for c in batch if c["ResourceRecordSet"]["Name"] == name]
    assert [(c["Action"], c["ResourceRecordSet"]["SetIdentifier"]) for c in at_name] == [
        ("CREATE", weighted_set_identifier(name, 1, EUROPE.ipv4))
    ]
    assert await round_trip(route53, joined.records, svc) == (0, ())


async def test_a_shard_moving_from_load_balancer_to_address_replaces_its_own_set_in_one_batch(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    before = planned(svc, [EUROPE, ELB_US], global_weights={"us": 4})
    await publish(route53_provider, before.records, svc)
    wire.reset()
    us_by_address = ShardAddresses(
        cluster="us", region="us-central1", zones=frozenset({"us-central1-a"}), ipv4=("127.30.0.1",)
    )
    after = planned(svc, [EUROPE, us_by_address], global_weights={"us": 4})
    assert await round_trip(route53, after.records, svc) == (1, ())
    (batch,) = wire.batches
    at_name = {
        (c["Action"], c["ResourceRecordSet"]["SetIdentifier"])
        for c in batch
        if c["ResourceRecordSet"]["Name"] == name
    }
    assert at_name == {
        ("DELETE", weighted_set_identifier(name, 4, [ALB_EAST])),
        ("CREATE", weighted_set_identifier(name, 4, us_by_address.ipv4)),
    }
    held = sets_at(route53, zone_id, name)
    assert all("AliasTarget" not in r for r in held.values())
    assert sorted(address_set(r) for r in held.values()) == [(60, EUROPE.ipv4), (60, us_by_address.ipv4)]
    assert await round_trip(route53, after.records, svc) == (0, ())


async def test_latency_sets_of_an_address_region_and_a_load_balancer_region(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    name = global_name(svc)
    plan = planned(svc, [EUROPE, ELB_US], global_regions={"europe": "eu-west-1", "us": "us-east-1"})
    (group,) = [r for r in plan.records if r.name == name]
    assert group.type == LATENCY
    assert await publish(route53_provider, plan.records, svc) == (1, ())
    held = sets_at(route53, zone_id, name)
    ip_set = latency_set_identifier(name, "eu-west-1", EUROPE.ipv4)
    elb_set = latency_set_identifier(name, "us-east-1", [ALB_EAST])
    assert {i: r["Region"] for i, r in held.items()} == {ip_set: "eu-west-1", elb_set: "us-east-1"}
    assert address_set(held[ip_set]) == (60, EUROPE.ipv4)
    assert held[elb_set]["AliasTarget"] == alias_to(ALB_EAST)
    assert await round_trip(route53, plan.records, svc) == (0, ())


async def test_geolocation_sets_of_an_address_location_a_load_balancer_location_and_the_default(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    name = global_name(svc)
    places = {"europe": "continent:EU", "us": "country:US"}
    plan = planned(svc, [EUROPE, ELB_US], global_places=places)
    (group,) = [r for r in plan.records if r.name == name]
    assert group.type == GEO
    assert await publish(route53_provider, plan.records, svc) == (1, ())
    held = {str(r["GeoLocation"]): r for r in sets_at(route53, zone_id, name).values()}
    # The default location holds the addresses; the load balancer answers its own location.
    assert address_set(held[str({"CountryCode": "*"})]) == (60, EUROPE.ipv4)
    assert address_set(held[str({"ContinentCode": "EU"})]) == (60, EUROPE.ipv4)
    us = held[str({"CountryCode": "US"})]
    assert us["SetIdentifier"] == geo_set_identifier(name, "country:US", [ALB_EAST])
    assert us["AliasTarget"] == alias_to(ALB_EAST)
    assert await round_trip(route53, plan.records, svc) == (0, ())
    # Load balancers only: the default location is the first of them by name, an alias too.
    other = unique_service()
    only = planned(other, [ELB_ASIA, ELB_US], global_places={"asia": "country:TW", "us": "country:US"})
    await publish(route53_provider, only.records, other)
    held = {str(r["GeoLocation"]): r for r in sets_at(route53, zone_id, global_name(other)).values()}
    assert {g: r["AliasTarget"]["DNSName"] for g, r in held.items()} == {
        str({"CountryCode": "*"}): NLB_WEST,
        str({"CountryCode": "TW"}): NLB_WEST,
        str({"CountryCode": "US"}): ALB_EAST,
    }
    assert await round_trip(route53, only.records, other) == (0, ())


async def test_failover_with_a_load_balancer_primary_and_a_health_checked_address_standby(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    name = global_name(svc)
    plan = planned(
        svc,
        [EUROPE, ELB_US],
        global_clusters=frozenset({"us"}),
        global_roles={"us": "PRIMARY", "europe": "SECONDARY"},
        global_health_check=TCP_CHECK,
    )
    (group,) = [r for r in plan.records if r.name == name]
    assert group.type == FAILOVER
    # One batch, and one health check (created and tagged) for the address set only.
    assert await publish(route53_provider, plan.records, svc) == (1 + 2, ())
    held = {r["Failover"]: r for r in sets_at(route53, zone_id, name).values()}
    primary, standby = held["PRIMARY"], held["SECONDARY"]
    assert primary["SetIdentifier"] == failover_set_identifier(name, "PRIMARY", [ALB_EAST])
    assert primary["AliasTarget"] == alias_to(ALB_EAST)  # EvaluateTargetHealth stands in for a check
    assert "HealthCheckId" not in primary
    assert standby["SetIdentifier"].startswith(failover_set_identifier(name, "SECONDARY", EUROPE.ipv4))
    assert read_health_check(standby["SetIdentifier"]) == TCP_CHECK
    checks = route53.list_health_checks()["HealthChecks"]
    assert [c["Id"] for c in checks] == [standby["HealthCheckId"]]
    assert checks[0]["HealthCheckConfig"]["IPAddress"] == EUROPE.ipv4[0]
    assert await round_trip(route53, plan.records, svc) == (0, ())
    assert len(route53.list_health_checks()["HealthChecks"]) == 1


async def test_an_alias_set_of_ours_edited_by_hand_is_left_alone_and_the_plan_refused_before_sending(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    """EvaluateTargetHealth turned off in the console is not what the operator writes: the set is read as
    foreign (a stand-in A record set), never deleted, and a plan putting the group back beside it is refused
    before anything is sent (Route 53 takes one routing policy per name and type), so the owner is reported
    rather than silently taken as published."""
    svc = unique_service()
    name = global_name(svc)
    plan = planned(svc, [EUROPE, ELB_US], global_weights={})
    await publish(route53_provider, plan.records, svc)
    elb_set = sets_at(route53, zone_id, name)[weighted_set_identifier(name, 1, [ALB_EAST])]
    edited = {**elb_set, "AliasTarget": {**elb_set["AliasTarget"], "EvaluateTargetHealth": False}}
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {"Action": "DELETE", "ResourceRecordSet": elb_set},
                {"Action": "CREATE", "ResourceRecordSet": edited},
            ]
        },
    )
    fresh = Route53Provider(route53, zone="example.com")
    held = {r.key: r for r in await fresh.records()}
    (group,) = [r for r in plan.records if r.name == name]
    assert held[(name, WEIGHTED)].values == tuple(v for v in group.values if ALB_EAST not in v)
    assert (name, "A") in held  # the edited set, as a stand-in
    wire.reset()
    with pytest.raises(PermanentError, match="two routing policies"):
        await publish(fresh, plan.records, svc)
    assert wire.batches == []
    assert sets_at(route53, zone_id, name)[elb_set["SetIdentifier"]]["AliasTarget"] == edited["AliasTarget"]


async def test_an_object_of_load_balancers_only_switches_from_tiered_to_weighted_in_one_batch(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    """Tiered, the global name of load balancers only is the tier's weighted alias group (ALIAS, weight 1
    each); weighted, the policy's group of alias shares: the one replaces the other in one batch (an object
    published before this version switches so on its first round)."""
    svc = unique_service()
    name = global_name(svc)
    tiered = planned(svc, [ELB_ASIA, ELB_US])
    assert [r.type for r in tiered.records if r.name == name] == ["ALIAS"]
    await publish(route53_provider, tiered.records, svc)
    wire.reset()
    weighted = planned(svc, [ELB_ASIA, ELB_US], global_weights={"us": 3})
    assert await round_trip(route53, weighted.records, svc) == (1, ())
    held = sets_at(route53, zone_id, name)
    assert {i: (r["Weight"], r["AliasTarget"]["DNSName"]) for i, r in held.items()} == {
        weighted_set_identifier(name, 1, [NLB_WEST]): (1, NLB_WEST),
        weighted_set_identifier(name, 3, [ALB_EAST]): (3, ALB_EAST),
    }
    assert await round_trip(route53, weighted.records, svc) == (0, ())
