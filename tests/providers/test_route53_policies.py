"""The weighted, latency and geolocation policies on Route 53 against moto's server: the global name as one
weighted A record set per member cluster (one latency A record set per AWS region, one geolocation A record
set per location and the default) with set identifiers and an
ownership record of ours, read back as planned (a second round sends nothing), a change touching only the
set that changed, a switch from and back to tiered in one batch each, and the one-routing-policy-per-name
rule moto does not enforce checked by our own code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from federation_operator.dns.route53 import Route53Provider
from federation_operator.domain.errors import PermanentError
from federation_operator.domain.records import (
    GEO,
    LATENCY,
    WEIGHTED,
    Changes,
    RecordSet,
    ShardAddresses,
    weighted_set_identifier,
)
from federation_operator.planning.records import plan_records
from federation_operator.planning.zone_diff import ZoneIndex, plan_changes, plan_drift
from tests.dns_fixtures import Wire

from . import (
    ASIA,
    EUROPE,
    FEDERATION,
    NAMESPACE,
    TOPOLOGY,
    US,
    global_name,
    publish,
    service_names,
    unique_service,
)
from .publisher_round import publish_together

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def weighted(
    svc: str, healthy: Sequence[ShardAddresses], weights: Mapping[str, int] | None
) -> tuple[RecordSet, ...]:
    return plan_records(
        names=service_names(svc),
        ttl=60,
        aliases=(),
        topology=TOPOLOGY,
        healthy=healthy,
        global_weights=weights,
    )


def held_sets(client: Any, zone_id: str, name: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """The weighted A record sets at ``name``: set identifier → (weight, addresses)."""
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {
        r["SetIdentifier"]: (r["Weight"], tuple(v["Value"] for v in r["ResourceRecords"]))
        for r in records
        if r["Name"] == name and r["Type"] == "A" and "Weight" in r
    }


async def test_weighted_sets_are_published_read_back_and_changed_one_by_one(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    desired = weighted(svc, [ASIA, EUROPE, US], {"asia": 5, "europe": 0})
    assert [r.type for r in desired if r.name == name] == [WEIGHTED]
    calls, conflicts = await publish(route53_provider, desired, svc)
    assert (calls, conflicts) == (1, ())
    assert held_sets(route53, zone_id, name) == {
        weighted_set_identifier(name, 5, ASIA.ipv4): (5, ("127.10.0.1",)),
        weighted_set_identifier(name, 0, EUROPE.ipv4): (0, ("127.20.0.1",)),
        weighted_set_identifier(name, 1, US.ipv4): (1, ("127.30.0.1",)),
    }
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert any(r["Name"] == f"_fedop-weighted.{name}" and r["Type"] == "TXT" for r in records)
    # Read back as planned: a fresh provider (a restarted operator) plans nothing.
    fresh = Route53Provider(route53, zone="example.com")
    assert await publish(fresh, desired, svc) == (0, ())
    # One weight changes: only that cluster's set is replaced (its identifier follows its weight).
    wire.batches.clear()
    calls, _ = await publish(fresh, weighted(svc, [ASIA, EUROPE, US], {"asia": 5, "europe": 10}), svc)
    assert calls == 1
    (batch,) = wire.batches
    touched = {(c["Action"], c["ResourceRecordSet"].get("SetIdentifier")) for c in batch}
    before, after = (weighted_set_identifier(name, w, EUROPE.ipv4) for w in (0, 10))
    assert touched == {("DELETE", before), ("CREATE", after)}
    assert held_sets(route53, zone_id, name)[after] == (10, ("127.20.0.1",))


async def test_switching_between_tiered_and_weighted_is_one_batch_each(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(route53_provider, weighted(svc, [ASIA, US], None), svc)
    wire.batches.clear()
    assert (await publish(route53_provider, weighted(svc, [ASIA, US], {"asia": 3}), svc))[0] == 1
    (batch,) = wire.batches
    # The plain A record set goes and the weighted sets come in one batch, which Route 53 applies at once.
    assert {
        (c["Action"], c["ResourceRecordSet"]["Type"], "Weight" in c["ResourceRecordSet"])
        for c in batch
        if c["ResourceRecordSet"]["Name"] == name
    } == {
        ("DELETE", "A", False),
        ("CREATE", "A", True),
    }
    # And from weighted to tiered (another object: moto refuses to create again a record set it deleted, here
    # the ownership record of the plain A set; tests/providers/test_route53.py's xfail; Route 53 accepts it).
    other = unique_service()
    await publish(route53_provider, weighted(other, [ASIA, US], {"us": 7}), other)
    wire.batches.clear()
    assert (await publish(route53_provider, weighted(other, [ASIA, US], None), other))[0] == 1
    assert held_sets(route53, zone_id, global_name(other)) == {}
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    plain = [
        sorted(v["Value"] for v in r["ResourceRecords"]) for r in records if r["Name"] == global_name(other)
    ]
    assert plain == [["127.10.0.1", "127.30.0.1"]]
    assert len(wire.batches) == 1


async def test_a_plain_a_record_set_beside_weighted_sets_is_refused_before_sending(
    route53_provider: Route53Provider, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await route53_provider.records()
    sets = weighted(svc, [ASIA], {"asia": 1})
    group = next(r for r in sets if r.type == WEIGHTED)
    plain = RecordSet(name=name, type="A", ttl=60, values=("127.10.0.1",))
    wire.operations.clear()
    with pytest.raises(PermanentError, match="two routing policies"):
        await route53_provider.apply(Changes(create=(group, plain)))
    assert "ChangeResourceRecordSets" not in wire.operations


async def test_the_publisher_publishes_a_weighted_owner_beside_a_tiered_one(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    first, second = unique_service(), unique_service()
    owners = {
        first: weighted(first, [ASIA, EUROPE], {"europe": 4}),
        second: weighted(second, [ASIA, EUROPE], None),
    }
    _, results = await publish_together(route53_provider, owners)
    assert {s: (r.error, r.conflicts) for s, r in results.items()} == {first: (None, ()), second: (None, ())}
    assert held_sets(route53, zone_id, global_name(first)) == {
        weighted_set_identifier(global_name(first), 1, ASIA.ipv4): (1, ("127.10.0.1",)),
        weighted_set_identifier(global_name(first), 4, EUROPE.ipv4): (4, ("127.20.0.1",)),
    }
    assert held_sets(route53, zone_id, global_name(second)) == {}


# --- latency ------------------------------------------------------------------------------------------------


def latency(svc: str, healthy: Sequence[ShardAddresses], regions: Mapping[str, str]) -> tuple[RecordSet, ...]:
    names = service_names(svc)
    return plan_records(
        names=names, ttl=60, aliases=(), topology=TOPOLOGY, healthy=healthy, global_regions=regions
    )


def held_latency(client: Any, zone_id: str, name: str) -> dict[str, tuple[str, ...]]:
    """The latency A record sets at ``name``: AWS region → addresses."""
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {
        r["Region"]: tuple(v["Value"] for v in r["ResourceRecords"])
        for r in records
        if r["Name"] == name and r["Type"] == "A" and "Region" in r
    }


async def test_latency_sets_are_published_per_region_read_back_and_switched_from_tiered(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(route53_provider, latency(svc, [ASIA, US], {}), svc)  # no region known: planned as tiered
    assert held_latency(route53, zone_id, name) == {}
    regions = {"asia": "ap-east-1", "europe": "eu-west-1", "us": "us-east-2"}
    desired = latency(svc, [ASIA, EUROPE, US], regions)
    assert [r.type for r in desired if r.name == name] == [LATENCY]
    wire.batches.clear()
    assert await publish(route53_provider, desired, svc) == (1, ())
    assert len(wire.batches) == 1  # the plain A record set out, the latency sets in, at once
    assert held_latency(route53, zone_id, name) == {
        "ap-east-1": ("127.10.0.1",),
        "eu-west-1": ("127.20.0.1",),
        "us-east-2": ("127.30.0.1",),
    }
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert any(r["Name"] == f"_fedop-latency.{name}" for r in records)
    fresh = Route53Provider(route53, zone="example.com")
    assert await publish(fresh, desired, svc) == (0, ())
    # The US shard's address changes: only its region's set is replaced at the global name. (Not a shard
    # going away: its region would flip back to a CNAME, which moto refuses to create again.)
    moved = ShardAddresses(cluster="us", region=US.region, zones=US.zones, ipv4=("127.30.0.2",))
    wire.batches.clear()
    assert (await publish(fresh, latency(svc, [ASIA, EUROPE, moved], regions), svc))[0] == 1
    (batch,) = wire.batches
    at_global = [c for c in batch if c["ResourceRecordSet"]["Name"] == name]
    assert sorted((c["Action"], c["ResourceRecordSet"].get("Region")) for c in at_global) == [
        ("CREATE", "us-east-2"),
        ("DELETE", "us-east-2"),
    ]
    assert held_latency(route53, zone_id, name)["us-east-2"] == ("127.30.0.2",)


# --- geolocation --------------------------------------------------------------------------------------------


def geolocated(
    svc: str, healthy: Sequence[ShardAddresses], places: Mapping[str, str]
) -> tuple[RecordSet, ...]:
    names = service_names(svc)
    return plan_records(
        names=names, ttl=60, aliases=(), topology=TOPOLOGY, healthy=healthy, global_places=places
    )


def held_geo(client: Any, zone_id: str, name: str) -> dict[str, tuple[str, ...]]:
    """The geolocation A record sets at ``name``: location (as Route 53 lists it) → addresses."""
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {
        "/".join(f"{k}={v}" for k, v in sorted(r["GeoLocation"].items())): tuple(
            v["Value"] for v in r["ResourceRecords"]
        )
        for r in records
        if r["Name"] == name and r["Type"] == "A" and "GeoLocation" in r
    }


async def test_geolocation_sets_with_the_default_location_are_published_and_read_back(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    places = {"asia": "country:TW", "europe": "continent:EU", "us": "country:US"}
    desired = geolocated(svc, [ASIA, EUROPE, US], places)
    assert [r.type for r in desired if r.name == name] == [GEO]
    assert await publish(route53_provider, desired, svc) == (1, ())
    assert held_geo(route53, zone_id, name) == {
        "CountryCode=*": ("127.10.0.1", "127.20.0.1", "127.30.0.1"),
        "CountryCode=TW": ("127.10.0.1",),
        "ContinentCode=EU": ("127.20.0.1",),
        "CountryCode=US": ("127.30.0.1",),
    }
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert any(r["Name"] == f"_fedop-geo.{name}" for r in records)
    fresh = Route53Provider(route53, zone="example.com")
    assert await publish(fresh, desired, svc) == (0, ())
    # A plain A record set beside the group: refused before sending (moto would store both).
    plain = RecordSet(name=name, type="A", ttl=60, values=("127.10.0.1",))
    wire.operations.clear()
    with pytest.raises(PermanentError, match="two routing policies"):
        await fresh.apply(Changes(create=(plain,)))
    assert "ChangeResourceRecordSets" not in wire.operations


async def test_a_geolocation_group_read_back_is_ours_and_no_drift(
    route53_provider: Route53Provider, route53: Any
) -> None:
    # The provider folds the geolocation sets into one GEO record set and lists it among the name's types:
    # no marker of foreign data may stand beside it, or every drift check after a change would see drift
    # at the name, and a CNAME could not take the name once the group is gone.
    svc = unique_service()
    name = global_name(svc)
    desired = geolocated(svc, [ASIA, EUROPE, US], {"asia": "country:TW", "europe": "continent:EU"})
    before = ZoneIndex(await route53_provider.records())
    changes, _ = plan_changes(
        before.snapshot(),
        desired,
        federation=FEDERATION,
        owner=f"{NAMESPACE}/{svc}",
        zone=route53_provider.zone,
    )
    await route53_provider.apply(changes)
    before.apply(changes)
    read = await Route53Provider(route53, zone="example.com").records()
    assert [r.type for r in read if r.name == name] == [GEO]
    assert not plan_drift(before, ZoneIndex(read), federation=FEDERATION)


async def test_google_cloud_region_locations_are_refused_before_sending(
    route53_provider: Route53Provider, wire: Wire
) -> None:
    # gcp:<region> is Cloud DNS's kind of location; Route 53 locates by country or continent only.
    svc = unique_service()
    await route53_provider.records()
    desired = geolocated(svc, [ASIA, US], {"asia": "gcp:asia-east1", "us": "gcp:us-central1"})
    group = next(r for r in desired if r.type == GEO)
    wire.operations.clear()
    # Whichever set comes first (their identifiers hash the random service name) is named.
    with pytest.raises(PermanentError, match=r"gcp:(asia-east1|us-central1): .*not by Google Cloud region"):
        await route53_provider.apply(Changes(create=(group,)))
    assert "ChangeResourceRecordSets" not in wire.operations
