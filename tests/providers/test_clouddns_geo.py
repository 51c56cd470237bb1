"""The geolocation policy on Cloud DNS against our fake of the v1 API: the global name as one A record set
with a ``geo`` routing policy (an item per Google Cloud region) and an ownership record of ours, read back as
planned (a second round sends nothing), a shard going unhealthy and a switch between tiered and geolocation
in one change each (the name answers throughout), what a client of a region without an item is answered
(the nearest region's), and the API's geo rules in the fake (a location that is no region, fencing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions
from google.cloud import dns

from federation_operator.dns.clouddns import CloudDnsProvider
from federation_operator.domain.errors import RejectedChangeError
from federation_operator.domain.records import GEO, Changes, RecordSet, ShardAddresses
from federation_operator.planning.records import plan_records
from tests.dns_fixtures import Sleeps
from tests.fakes.clouddns import FakeCloudDns

from . import ASIA, EUROPE, TOPOLOGY, US, global_name, publish, service_names, unique_service

PROJECT = "federation-test"
MANAGED_ZONE = "example-com"
# Where the shared shards' clusters are, as plan_geo_places(..., gcp_regions=True) names them.
PLACES = {"asia": "gcp:asia-east1", "europe": "gcp:europe-west1", "us": "gcp:us-central1"}


def located(
    svc: str, healthy: Sequence[ShardAddresses], places: Mapping[str, str] | None
) -> tuple[RecordSet, ...]:
    """The records of ``svc``: under geolocation (``places``) or tiered (None)."""
    return plan_records(
        names=service_names(svc), ttl=60, aliases=(), topology=TOPOLOGY, healthy=healthy, global_places=places
    )


def held(fake: FakeCloudDns, name: str) -> list[dict[str, Any]]:
    return [dict(r) for r in fake.rrsets(PROJECT, MANAGED_ZONE) if r["name"] == name]


def geo_items(fake: FakeCloudDns, name: str) -> list[tuple[str, list[str]]]:
    (rrset,) = [r for r in held(fake, name) if r["type"] == "A"]
    assert "rrdatas" not in rrset
    return sorted((i["location"], i["rrdatas"]) for i in rrset["routingPolicy"]["geo"]["items"])


def answer(fake: FakeCloudDns, name: str, region: str) -> list[str]:
    return fake.answer(PROJECT, MANAGED_ZONE, name, "A", client_region=region)


def changes_sent(fake: FakeCloudDns) -> int:
    return fake.calls["changes.create"]


async def test_geolocation_is_a_geo_policy_read_back_as_planned(
    clouddns_provider: CloudDnsProvider, clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    desired = located(svc, [ASIA, EUROPE, US], PLACES)
    assert await publish(clouddns_provider, desired, svc) == (1, ())
    assert geo_items(fake, name) == [
        ("asia-east1", ["127.10.0.1"]),
        ("europe-west1", ["127.20.0.1"]),
        ("us-central1", ["127.30.0.1"]),
    ]
    # No default location (Cloud DNS has none), no fencing, no health checks: plain items only.
    (rrset,) = [r for r in held(fake, name) if r["type"] == "A"]
    assert set(rrset["routingPolicy"]["geo"]) == {"items"}
    assert any(r["type"] == "TXT" for r in held(fake, f"_fedop-geo.{name}"))
    assert answer(fake, name, "europe-west1") == ["127.20.0.1"]
    # A restarted operator reads the policy back as the GEO record set it planned: nothing to send.
    fresh = CloudDnsProvider(clouddns, zone="example.com", sleep=Sleeps())
    assert [r for r in await fresh.records() if r.name == name and r.type == GEO] == [
        r for r in desired if r.type == GEO
    ]
    before = changes_sent(fake)
    assert await publish(fresh, desired, svc) == (0, ())
    assert changes_sent(fake) == before


async def test_a_shard_going_unhealthy_leaves_its_region_to_the_nearest_item_in_one_change(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(clouddns_provider, located(svc, [ASIA, EUROPE, US], PLACES), svc)
    before = changes_sent(fake)
    assert (await publish(clouddns_provider, located(svc, [ASIA, US], PLACES), svc))[0] == 1
    assert changes_sent(fake) == before + 1
    assert geo_items(fake, name) == [("asia-east1", ["127.10.0.1"]), ("us-central1", ["127.30.0.1"])]
    # Europe's clients get the nearest region that has an item (Iowa is nearer Belgium than Taiwan is).
    assert answer(fake, name, "europe-west1") == ["127.30.0.1"]
    assert answer(fake, name, "asia-east1") == ["127.10.0.1"]
    # Back to healthy: Europe's item returns.
    assert (await publish(clouddns_provider, located(svc, [ASIA, EUROPE, US], PLACES), svc))[0] == 1
    assert answer(fake, name, "europe-west1") == ["127.20.0.1"]


async def test_switching_between_tiered_and_geolocation_is_one_change_that_answers_throughout(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(clouddns_provider, located(svc, [ASIA, US], None), svc)
    assert answer(fake, name, "us-central1") == ["127.10.0.1", "127.30.0.1"]
    for places, expected in ((PLACES, ["127.30.0.1"]), (None, ["127.10.0.1", "127.30.0.1"])):
        before = changes_sent(fake)
        assert (await publish(clouddns_provider, located(svc, [ASIA, US], places), svc))[0] == 1
        assert changes_sent(fake) == before + 1
        # One atomic change deleted the old A record set and added the new one: no moment without it.
        body = next(r for r in reversed(fake.requests) if r.route == "changes.create").body
        assert [(r["name"], r["type"]) for r in body["deletions"] if r["name"] == name] == [(name, "A")]
        assert [(r["name"], r["type"]) for r in body["additions"] if r["name"] == name] == [(name, "A")]
        assert sorted(answer(fake, name, "us-central1")) == expected


async def test_route53_locations_are_refused_before_sending(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    await clouddns_provider.records()
    route53 = located(svc, [ASIA, US], {"asia": "country:TW", "us": "country:US"})
    group = next(r for r in route53 if r.type == GEO)
    before = changes_sent(fake)
    with pytest.raises(RejectedChangeError, match=r"country:TW.*Google Cloud region"):
        await clouddns_provider.apply(Changes(create=(group,)))
    assert changes_sent(fake) == before


@pytest.mark.parametrize(
    ("geo", "field"),
    [
        pytest.param({"items": [{"location": "*", "rrdatas": ["127.0.0.1"]}]}, "location", id="default"),
        pytest.param({"items": [{"location": "US", "rrdatas": ["127.0.0.1"]}]}, "location", id="country"),
        pytest.param({"items": [{"rrdatas": ["127.0.0.1"]}]}, "location", id="no-location"),
        pytest.param(
            {"items": [{"location": "us-east1", "rrdatas": ["127.0.0.1"]}], "enableFencing": "yes"},
            "enableFencing",
            id="fencing-not-a-boolean",
        ),
    ],
)
def test_the_fake_refuses_geo_policies_the_api_refuses(
    clouddns: dns.Client, geo: dict[str, Any], field: str
) -> None:
    body = {"additions": [{"name": "g.example.com.", "type": "A", "ttl": 60, "routingPolicy": {"geo": geo}}]}
    with pytest.raises(google_exceptions.BadRequest) as caught:
        clouddns._connection.api_request(
            method="POST", path=f"/projects/{PROJECT}/managedZones/{MANAGED_ZONE}/changes", data=body
        )
    assert field in str(caught.value)


@pytest.mark.clouddns_fake(resource_records_per_rrset=3)
async def test_a_group_over_the_projects_records_per_rrset_is_published_within_it(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    # The project takes 3 records per record set and counts a routing policy's items together: the planner
    # keeps each region's lowest address in turn, and the fake accepts the group.
    provider = CloudDnsProvider(clouddns, zone="example.com", sleep=Sleeps())
    await provider.records()
    limits = provider.limits
    assert (limits.max_values_per_set, limits.group_in_one_set) == (3, True)
    svc = unique_service()
    crowded = [
        ShardAddresses(cluster=c, region=s.region, zones=s.zones, ipv4=(s.ipv4[0], f"{s.ipv4[0][:-1]}2"))
        for c, s in (("asia", ASIA), ("us", US))
    ]
    plan = plan_records(
        names=service_names(svc),
        ttl=60,
        aliases=(),
        topology=TOPOLOGY,
        healthy=crowded,
        global_places=PLACES,
        max_values=limits.max_values_per_set,
        group_in_one_set=limits.group_in_one_set,
    )
    assert await publish(provider, plan, svc) == (1, ())
    assert geo_items(fake, global_name(svc)) == [
        ("asia-east1", ["127.10.0.1", "127.10.0.2"]),
        ("us-central1", ["127.30.0.1"]),
    ]
