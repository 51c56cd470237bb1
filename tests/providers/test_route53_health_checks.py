"""Route 53 health checks of routing-policy shares (``spec.dns.policy.healthCheck``) against moto's server:
one per share, on its first address, with the spec's settings, tagged ours and named in the set's
``HealthCheckId``; read back as planned (a second round creates, deletes and changes nothing); replaced when
the share's address or the settings change, the old one deleted; none left once the object's records go;
and ours left behind by a crash between the creation and the batch collected, a foreign one untouched.

moto checks less than Route 53 here (it makes a new health check for a CallerReference used before, and
deletes an unknown id without complaint); the provider's own bookkeeping is what these tests pin."""

from __future__ import annotations

import dataclasses
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from federation_operator.dns.route53 import Route53Provider
from federation_operator.domain.health_checks import HealthCheck, read_health_check
from federation_operator.domain.records import RecordSet, ShardAddresses
from federation_operator.planning.records import plan_records

from . import ASIA, TOPOLOGY, US, global_name, publish, service_names, unique_service
from .test_route53 import Wire, create_zone, new_client

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

HTTP_CHECK = HealthCheck(protocol="HTTP", port=8080, path="/healthz", interval=10, failure_threshold=2)


@pytest.fixture
def client(moto_url: str) -> Any:
    with urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")) as reply:
        reply.read()
    return new_client(moto_url)


@pytest.fixture
def zone_id(client: Any) -> str:
    return create_zone(client, "example.com")


@pytest.fixture
def wire(client: Any, zone_id: str) -> Wire:
    return Wire(client)


@pytest.fixture
def provider(client: Any, zone_id: str) -> Route53Provider:
    return Route53Provider(client, zone="example.com")


def weighted(
    svc: str,
    healthy: Sequence[ShardAddresses],
    weights: Mapping[str, int],
    check: HealthCheck | None = HTTP_CHECK,
) -> tuple[RecordSet, ...]:
    return plan_records(
        names=service_names(svc),
        ttl=60,
        aliases=(),
        topology=TOPOLOGY,
        healthy=healthy,
        global_weights=weights,
        global_health_check=check,
    )


def held_sets(client: Any, zone_id: str, name: str) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """The weighted A record sets at ``name``: set identifier → (addresses, HealthCheckId)."""
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {
        r["SetIdentifier"]: (tuple(v["Value"] for v in r["ResourceRecords"]), r.get("HealthCheckId"))
        for r in records
        if r["Name"] == name and r["Type"] == "A" and "Weight" in r
    }


def health_checks(client: Any) -> dict[str, dict[str, Any]]:
    """Every health check of the account: id → its configuration."""
    return {c["Id"]: c["HealthCheckConfig"] for c in client.list_health_checks()["HealthChecks"]}


def tags_of(client: Any, health_check_id: str) -> dict[str, str]:
    (tag_set,) = client.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=[health_check_id])[
        "ResourceTagSets"
    ]
    return {t["Key"]: t["Value"] for t in tag_set["Tags"]}


async def test_each_share_gets_a_tagged_health_check_with_the_spec_settings_read_back_as_planned(
    provider: Route53Provider, client: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    desired = weighted(svc, [ASIA, US], {"asia": 2})
    assert await publish(provider, desired, svc) == (1 + 2 * 2, ())  # a batch; per share create and tag
    sets = held_sets(client, zone_id, name)
    assert sorted(addresses for addresses, _ in sets.values()) == [("127.10.0.1",), ("127.30.0.1",)]
    checks = health_checks(client)
    assert {check_id for _, check_id in sets.values()} == set(checks)
    assert len(checks) == 2
    for identifier, (addresses, check_id) in sets.items():
        assert read_health_check(identifier) == HTTP_CHECK
        assert check_id is not None
        config = checks[check_id]
        assert (config["IPAddress"], config["Port"], config["Type"]) == (addresses[0], 8080, "HTTP")
        assert (config["ResourcePath"], config["RequestInterval"], config["FailureThreshold"]) == (
            "/healthz",
            10,
            2,
        )
        assert tags_of(client, check_id) == {
            "federation-operator/zone": "example.com.",
            "federation-operator/set-identifier": identifier.partition("~")[0],
        }
    # A restarted operator reads the zone back as planned: it changes, creates and deletes nothing.
    wire.reset()
    fresh = Route53Provider(client, zone="example.com")
    assert await publish(fresh, desired, svc) == (0, ())
    assert set(wire.operations) == {"ListHostedZonesByName", "ListResourceRecordSets", "ListHealthChecks"}
    assert set(health_checks(client)) == set(checks)


async def test_an_address_or_settings_change_replaces_the_health_check_and_deletes_the_old_one(
    provider: Route53Provider, client: Any, zone_id: str
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(provider, weighted(svc, [ASIA, US], {}), svc)
    before = {addresses: check_id for addresses, check_id in held_sets(client, zone_id, name).values()}
    moved = dataclasses.replace(US, ipv4=("127.30.0.9",))
    await publish(provider, weighted(svc, [ASIA, moved], {}), svc)
    after = {addresses: check_id for addresses, check_id in held_sets(client, zone_id, name).values()}
    assert set(after) == {("127.10.0.1",), ("127.30.0.9",)}
    assert after[("127.10.0.1",)] == before[("127.10.0.1",)]  # the unchanged share keeps its own
    checks = health_checks(client)
    assert set(checks) == set(after.values())
    assert checks[str(after[("127.30.0.9",)])]["IPAddress"] == "127.30.0.9"
    # New settings: every share gets a new health check with them, the old ones go.
    tcp = HealthCheck(protocol="TCP", port=443, interval=30, failure_threshold=3)
    await publish(provider, weighted(svc, [ASIA, moved], {}, tcp), svc)
    final = held_sets(client, zone_id, name)
    checks = health_checks(client)
    assert set(checks) == {check_id for _, check_id in final.values()}
    assert not set(checks) & set(after.values())
    assert {(c["Type"], c["Port"], c.get("ResourcePath")) for c in checks.values()} == {("TCP", 443, None)}


async def test_removing_the_records_or_the_setting_deletes_every_health_check(
    provider: Route53Provider, client: Any, zone_id: str
) -> None:
    svc = unique_service()
    await publish(provider, weighted(svc, [ASIA, US], {}), svc)
    other = unique_service()
    await publish(provider, weighted(other, [ASIA, US], {"us": 3}), other)
    assert len(health_checks(client)) == 4
    # The policy keeps its shares but drops healthCheck: the sets lose theirs, which are deleted.
    await publish(provider, weighted(svc, [ASIA, US], {}, None), svc)
    sets = held_sets(client, zone_id, global_name(svc))
    assert len(sets) == 2
    assert {check_id for _, check_id in sets.values()} == {None}
    assert len(health_checks(client)) == 2
    # The other object is deleted: its records go, and its health checks with them.
    await publish(provider, [], other)
    assert held_sets(client, zone_id, global_name(other)) == {}
    assert health_checks(client) == {}


async def test_ours_left_by_a_crash_are_collected_and_foreign_ones_kept(
    client: Any, zone_id: str, wire: Wire
) -> None:
    foreign = client.create_health_check(
        CallerReference="someone-else",
        HealthCheckConfig={"IPAddress": "127.0.0.5", "Port": 80, "Type": "TCP"},
    )["HealthCheck"]["Id"]
    svc = unique_service()
    desired = weighted(svc, [ASIA, US], {})

    def crash(**_: Any) -> None:
        raise RuntimeError("the operator stops between the health checks and the batch")

    client.meta.events.register("before-call.route-53.ChangeResourceRecordSets", crash)
    with pytest.raises(RuntimeError):
        await publish(Route53Provider(client, zone="example.com"), desired, svc)
    client.meta.events.unregister("before-call.route-53.ChangeResourceRecordSets", crash)
    orphans = set(health_checks(client)) - {foreign}
    assert len(orphans) == 2
    # The restarted operator publishes (new health checks: it cannot know the orphans were for these sets),
    # and its next reading of the zone collects the orphans; the foreign health check stays.
    restarted = Route53Provider(client, zone="example.com")
    await publish(restarted, desired, svc)
    wire.reset()
    assert await publish(restarted, desired, svc) == (0, ())
    used = {check_id for _, check_id in held_sets(client, zone_id, global_name(svc)).values()}
    assert set(health_checks(client)) == used | {foreign}
    assert not used & orphans
    assert wire.count("DeleteHealthCheck") == 2
