"""Route 53 health checks of routing-policy shares (``spec.dns.policy.healthCheck``) against moto's server:
one per share, on its first address, with the spec's settings, tagged ours and named in the set's
``HealthCheckId``; read back as planned (a second round creates, deletes and changes nothing); replaced when
the share's address or the settings change, the old one deleted; none left once the object's records go;
ours left behind by a crash at the worst moments (after the creation, before its tags or the batch; after
the batch that drops a share, before the deletion) collected by a fresh provider, a foreign one untouched;
two federations' operators on one hosted zone each collecting only their own; and what Route 53's checkers
say of each check (``health_check_states``).

moto checks less than Route 53 here (it makes a new health check for a CallerReference used before, and
deletes an unknown id without complaint); the provider's own bookkeeping is what these tests pin. moto never
probes: its ``GetHealthCheckStatus`` always answers one successful checker
(``test_route53_moto_policies.py``), so a failing check is moto's answer with its reports turned to
failures on the way back (`failing`), the one part of these tests not moto's own."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError

from federation_operator.dns import make_provider
from federation_operator.dns.provider import ReportsHealthChecks
from federation_operator.dns.publisher import Publisher
from federation_operator.dns.route53 import Route53Provider
from federation_operator.domain.errors import PermanentError
from federation_operator.domain.health_checks import HealthCheck, read_health_check
from federation_operator.domain.records import RecordSet, ShardAddresses
from federation_operator.planning.records import plan_records
from tests.dns_fixtures import Wire

from . import ASIA, TOPOLOGY, US, global_name, publish, service_names, unique_service

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

HTTP_CHECK = HealthCheck(protocol="HTTP", port=8080, path="/healthz", interval=10, failure_threshold=2)


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
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    desired = weighted(svc, [ASIA, US], {"asia": 2})
    # A batch; per share create and tag.
    assert await publish(route53_provider, desired, svc) == (1 + 2 * 2, ())
    sets = held_sets(route53, zone_id, name)
    assert sorted(addresses for addresses, _ in sets.values()) == [("127.10.0.1",), ("127.30.0.1",)]
    checks = health_checks(route53)
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
        assert tags_of(route53, check_id) == {
            "federation-operator/federation": "myfederation",
            "federation-operator/owner": f"mynamespace/{svc}",
            "federation-operator/zone": "example.com.",
            "federation-operator/set-identifier": identifier.partition("~")[0],
        }
    # A restarted operator reads the zone back as planned: it changes, creates and deletes nothing.
    wire.reset()
    fresh = Route53Provider(route53, zone="example.com")
    assert await publish(fresh, desired, svc) == (0, ())
    assert set(wire.operations) == {"ListHostedZonesByName", "ListResourceRecordSets", "ListHealthChecks"}
    assert set(health_checks(route53)) == set(checks)


async def test_an_address_or_settings_change_replaces_the_health_check_and_deletes_the_old_one(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(route53_provider, weighted(svc, [ASIA, US], {}), svc)
    before = {addresses: check_id for addresses, check_id in held_sets(route53, zone_id, name).values()}
    moved = dataclasses.replace(US, ipv4=("127.30.0.9",))
    await publish(route53_provider, weighted(svc, [ASIA, moved], {}), svc)
    after = {addresses: check_id for addresses, check_id in held_sets(route53, zone_id, name).values()}
    assert set(after) == {("127.10.0.1",), ("127.30.0.9",)}
    assert after[("127.10.0.1",)] == before[("127.10.0.1",)]  # the unchanged share keeps its own
    checks = health_checks(route53)
    assert set(checks) == set(after.values())
    assert checks[str(after[("127.30.0.9",)])]["IPAddress"] == "127.30.0.9"
    # New settings: every share gets a new health check with them, the old ones go.
    tcp = HealthCheck(protocol="TCP", port=443, interval=30, failure_threshold=3)
    await publish(route53_provider, weighted(svc, [ASIA, moved], {}, tcp), svc)
    final = held_sets(route53, zone_id, name)
    checks = health_checks(route53)
    assert set(checks) == {check_id for _, check_id in final.values()}
    assert not set(checks) & set(after.values())
    assert {(c["Type"], c["Port"], c.get("ResourcePath")) for c in checks.values()} == {("TCP", 443, None)}


async def test_removing_the_records_or_the_setting_deletes_every_health_check(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    await publish(route53_provider, weighted(svc, [ASIA, US], {}), svc)
    other = unique_service()
    await publish(route53_provider, weighted(other, [ASIA, US], {"us": 3}), other)
    assert len(health_checks(route53)) == 4
    # The policy keeps its shares but drops healthCheck: the sets lose theirs, which are deleted.
    await publish(route53_provider, weighted(svc, [ASIA, US], {}, None), svc)
    sets = held_sets(route53, zone_id, global_name(svc))
    assert len(sets) == 2
    assert {check_id for _, check_id in sets.values()} == {None}
    assert len(health_checks(route53)) == 2
    # The other object is deleted: its records go, and its health checks with them.
    await publish(route53_provider, [], other)
    assert held_sets(route53, zone_id, global_name(other)) == {}
    assert health_checks(route53) == {}


async def test_ours_left_by_a_crash_are_collected_and_foreign_ones_kept(
    route53: Any, zone_id: str, wire: Wire
) -> None:
    foreign = route53.create_health_check(
        CallerReference="someone-else",
        HealthCheckConfig={"IPAddress": "127.0.0.5", "Port": 80, "Type": "TCP"},
    )["HealthCheck"]["Id"]
    svc = unique_service()
    desired = weighted(svc, [ASIA, US], {})

    def crash(**_: Any) -> None:
        raise RuntimeError("the operator stops between the health checks and the batch")

    route53.meta.events.register("before-call.route-53.ChangeResourceRecordSets", crash)
    with pytest.raises(RuntimeError):
        await publish(Route53Provider(route53, zone="example.com"), desired, svc)
    route53.meta.events.unregister("before-call.route-53.ChangeResourceRecordSets", crash)
    orphans = set(health_checks(route53)) - {foreign}
    assert len(orphans) == 2
    # The restarted operator publishes (new health checks: it cannot know the orphans were for these sets),
    # and its next reading of the zone collects the orphans; the foreign health check stays.
    restarted = Route53Provider(route53, zone="example.com")
    await publish(restarted, desired, svc)
    wire.reset()
    assert await publish(restarted, desired, svc) == (0, ())
    used = {check_id for _, check_id in held_sets(route53, zone_id, global_name(svc)).values()}
    assert set(health_checks(route53)) == used | {foreign}
    assert not used & orphans
    assert wire.count("DeleteHealthCheck") == 2


def crash_at(client: Any, operation: str) -> Any:
    """Make every ``operation`` request fail as if the operator stopped just before it; returns the hook, for
    `recover`."""

    def crash(**_: Any) -> None:
        raise RuntimeError(f"the operator stops before {operation}")

    client.meta.events.register(f"before-call.route-53.{operation}", crash)
    return crash


def recover(client: Any, operation: str, hook: Any) -> None:
    client.meta.events.unregister(f"before-call.route-53.{operation}", hook)


async def test_a_crash_after_creating_a_health_check_before_tagging_it_leaves_no_orphan(
    route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    desired = weighted(svc, [ASIA, US], {})
    hook = crash_at(route53, "ChangeTagsForResource")
    with pytest.raises(RuntimeError):
        await publish(Route53Provider(route53, zone="example.com"), desired, svc)
    recover(route53, "ChangeTagsForResource", hook)
    (untagged,) = health_checks(route53)
    assert tags_of(route53, untagged) == {}
    # A fresh provider (the restarted operator) takes the untagged one with its prefix for its own, in the
    # sweep after start (the zone holds no checked set: its reading would not look).
    restarted = Route53Provider(route53, zone="example.com")
    await restarted.collect_health_checks()
    assert health_checks(route53) == {}
    await publish(restarted, desired, svc)
    used = {check_id for _, check_id in held_sets(route53, zone_id, global_name(svc)).values()}
    assert set(health_checks(route53)) == used
    assert untagged not in used


@pytest.mark.parametrize("last", [True, False], ids=["the-zone's-last-checked-share", "one-of-several"])
async def test_a_crash_after_the_batch_dropping_a_share_before_deleting_its_check_leaves_no_orphan(
    route53: Any, zone_id: str, last: bool
) -> None:
    svc = unique_service()
    await publish(Route53Provider(route53, zone="example.com"), weighted(svc, [ASIA, US], {}), svc)
    other = unique_service()
    if not last:  # another object keeps health-checked sets in the zone
        await publish(Route53Provider(route53, zone="example.com"), weighted(other, [ASIA, US], {}), other)
    before = set(health_checks(route53))
    hook = crash_at(route53, "DeleteHealthCheck")
    with pytest.raises(RuntimeError):  # the object is deleted: its records go, then the operator stops
        await publish(Route53Provider(route53, zone="example.com"), [], svc)
    recover(route53, "DeleteHealthCheck", hook)
    assert held_sets(route53, zone_id, global_name(svc)) == {}
    assert set(health_checks(route53)) == before  # its two checks are orphans now
    # The restarted operator collects them: its reading of the zone when the zone still holds checked sets,
    # else the sweep its publisher asks for once after start (nothing in the zone hints at a check then).
    restarted = Route53Provider(route53, zone="example.com")
    await restarted.records()
    if last:
        assert set(health_checks(route53)) == before
        await restarted.collect_health_checks()
    kept = {check_id for _, check_id in held_sets(route53, zone_id, global_name(other)).values()} - {None}
    assert set(health_checks(route53)) == kept
    assert len(kept) == (0 if last else 2)


async def test_two_federations_on_one_zone_each_collect_only_their_own_orphans(
    route53: Any, zone_id: str
) -> None:
    east = Route53Provider(route53, zone="example.com", federation="east")
    west = Route53Provider(route53, zone="example.com", federation="west")
    assert east.health_check_reference_prefix != west.health_check_reference_prefix
    svc_east, svc_west = unique_service(), unique_service()
    await publish(east, weighted(svc_east, [ASIA, US], {}), svc_east, "east")
    await publish(west, weighted(svc_west, [ASIA, US], {}), svc_west, "west")
    in_use = set(health_checks(route53))
    assert len(in_use) == 4
    assert {tags_of(route53, c)["federation-operator/federation"] for c in in_use} == {"east", "west"}
    # Each operator stops between creating health checks for another object and its batch: two orphans each.
    orphans: dict[str, set[str]] = {}
    for federation in ("east", "west"):
        known = set(health_checks(route53))
        hook = crash_at(route53, "ChangeResourceRecordSets")
        svc = unique_service()
        provider = Route53Provider(route53, zone="example.com", federation=federation)
        with pytest.raises(RuntimeError):
            await publish(provider, weighted(svc, [ASIA, US], {}), svc, federation)
        recover(route53, "ChangeResourceRecordSets", hook)
        orphans[federation] = set(health_checks(route53)) - known
        assert len(orphans[federation]) == 2
    # One with east's prefix that west's operator tagged (a clash of prefixes): east never takes it.
    claimed = route53.create_health_check(
        CallerReference=f"{east.health_check_reference_prefix}claimed",
        HealthCheckConfig={"IPAddress": "127.0.0.5", "Port": 80, "Type": "TCP"},
    )["HealthCheck"]["Id"]
    route53.change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=claimed,
        AddTags=[{"Key": "federation-operator/federation", "Value": "west"}],
    )
    # East's restarted operator reads the zone (both federations' sets are in it): its own orphans go.
    await Route53Provider(route53, zone="example.com", federation="east").records()
    assert set(health_checks(route53)) == in_use | orphans["west"] | {claimed}
    await Route53Provider(route53, zone="example.com", federation="west").records()
    assert set(health_checks(route53)) == in_use | {claimed}


def failing(client: Any, failing_ids: set[str]) -> None:
    """moto's GetHealthCheckStatus answers, with every checker's report turned to a failure for the health
    checks in ``failing_ids`` (moto never probes, so it cannot fail one itself)."""

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["health_check_id"] = params.get("HealthCheckId")

    def fail(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("health_check_id") in failing_ids:
            for observation in parsed.get("HealthCheckObservations", []):
                observation["StatusReport"]["Status"] = "Failure: Connection timed out."

    client.meta.events.register("before-parameter-build.route-53.GetHealthCheckStatus", remember)
    client.meta.events.register("after-call.route-53.GetHealthCheckStatus", fail)


async def test_health_check_states_say_what_the_checkers_report_one_request_per_check(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    desired = weighted(svc, [ASIA, US], {})
    await publish(route53_provider, desired, svc)
    sets = held_sets(route53, zone_id, global_name(svc))
    by_address = {addresses[0]: (identifier, check_id) for identifier, (addresses, check_id) in sets.items()}
    identifiers = set(sets)
    wire.reset()
    states = await route53_provider.health_check_states(identifiers)
    assert states is not None
    assert {i: (s.state, s.health_check_id) for i, s in states.items()} == {
        i: ("Healthy", check_id) for i, (_, check_id) in sets.items()
    }
    assert wire.operations == ["GetHealthCheckStatus", "GetHealthCheckStatus"]
    us_identifier, us_check = by_address["127.30.0.1"]
    failing(route53, {str(us_check)})
    states = await route53_provider.health_check_states(identifiers)
    assert states is not None
    assert states[us_identifier].state == "Unhealthy"
    assert "Connection timed out" in states[us_identifier].message
    assert {s.state for i, s in states.items() if i != us_identifier} == {"Healthy"}
    # Sets without a health check, or of no set held, cost nothing; a check Route 53 no longer has is Unknown.
    wire.reset()
    assert await route53_provider.health_check_states({"fedop-weight-0123456789abcdef"}) == {}
    assert wire.operations == []
    route53.delete_health_check(HealthCheckId=us_check)
    states = await route53_provider.health_check_states({us_identifier})
    assert states is not None
    assert states[us_identifier].state == "Unknown"


async def test_health_check_states_need_a_reading_of_the_zone(route53: Any, zone_id: str) -> None:
    fresh = Route53Provider(route53, zone="example.com")
    assert await fresh.health_check_states({"fedop-weight-0123456789abcdef~hc~TCP~80~30~3"}) is None


async def test_credentials_without_health_check_permissions_still_publish_without_health_checks(
    route53: Any, zone_id: str
) -> None:
    """The sweep after start lists the account's health checks (orphans of a run that stopped after dropping
    the zone's last checked share); credentials made before health checks existed may not, which is no
    fault while the zone has none."""

    def denied(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized"}, "ResponseMetadata": {}},
            "ListHealthChecks",
        )

    route53.meta.events.register("before-call.route-53.ListHealthChecks", denied)
    svc = unique_service()
    provider = Route53Provider(route53, zone="example.com")
    desired = weighted(svc, [ASIA, US], {}, None)
    await publish(provider, desired, svc)
    await provider.collect_health_checks()  # no fault: nothing of theirs to collect
    assert len(held_sets(route53, zone_id, global_name(svc))) == 2
    # With health checks in the zone, the refusal is a fault: it names the permissions.
    other = unique_service()
    await publish(provider, weighted(other, [ASIA, US], {}), other)
    with pytest.raises(PermanentError, match="route53:ListHealthChecks"):
        await provider.collect_health_checks()


async def test_the_publisher_sweeps_after_start_and_reports_a_failing_check_to_its_owner_only(
    route53: Any, zone_id: str
) -> None:
    """The publisher's poll against moto: once the zone is read it sweeps the orphans a stopped run left
    (the zone names no health check yet), then asks about its owners' checks and re-queues the one whose
    check turned Unhealthy."""
    provider = Route53Provider(route53, zone="example.com")
    orphan = route53.create_health_check(
        CallerReference=f"{provider.health_check_reference_prefix}left-by-a-crash",
        HealthCheckConfig={"IPAddress": "127.0.0.5", "Port": 80, "Type": "TCP"},
    )["HealthCheck"]["Id"]
    notified: list[tuple[str, str]] = []
    publisher = Publisher(
        provider, federation="myfederation", on_result=notified.append, health_check_seconds=0.05
    )
    task = asyncio.create_task(publisher.run())
    try:
        checked, plain = ("mynamespace", unique_service()), ("mynamespace", unique_service())
        publisher.submit(checked, weighted(checked[1], [ASIA, US], {}))
        publisher.submit(plain, weighted(plain[1], [ASIA, US], {}, None))
        async with asyncio.timeout(20):
            while len(publisher.provider_health(checked)) < 2 or orphan in health_checks(route53):  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # polling the publisher's view, with a deadline
        said = publisher.provider_health(checked)
        assert {h.state for h in said.values()} == {"Healthy"}
        assert publisher.provider_health(plain) == {}
        sets = held_sets(route53, zone_id, global_name(checked[1]))
        us_identifier, (_, us_check) = next((i, v) for i, v in sets.items() if v[0] == ("127.30.0.1",))
        notified.clear()
        failing(route53, {str(us_check)})
        async with asyncio.timeout(20):
            while publisher.provider_health(checked)[us_identifier].state != "Unhealthy":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert checked in notified
        assert plain not in notified
        unhealthy = publisher.provider_health(checked)[us_identifier]
        assert (unhealthy.health_check_id, "Connection timed out" in unhealthy.message) == (us_check, True)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_the_factory_tells_the_provider_its_federation(moto_url: str) -> None:
    built = make_provider(
        "route53", zone="example.com", options={"endpoint_url": moto_url}, federation="east"
    )
    assert isinstance(built, Route53Provider)
    assert built.federation == "east"
    assert built.health_check_reference_prefix.startswith("fedop-east-")
    assert isinstance(built, ReportsHealthChecks)
