"""Failover decided by Route 53 (``spec.dns.policy`` type ``failover`` with ``healthCheck``) against moto's
server: the global name as one failover A record set per role (PRIMARY, SECONDARY) with set identifiers and
an ownership record of ours, each naming a health check of ours on its first address; read back as planned
(a second round sends nothing); the primary moving to the next group in one batch, its health checks
replaced; switching tiered → failover → weighted in one batch each, the name answering after each; and
deleting the object leaving no record set and no health check behind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from federation_operator.dns.route53 import Route53Provider
from federation_operator.domain.errors import PermanentError
from federation_operator.domain.health_checks import HealthCheck, read_health_check
from federation_operator.domain.records import (
    FAILOVER,
    Changes,
    RecordSet,
    ShardAddresses,
    failover_set_identifier,
)
from federation_operator.planning.records import plan_records
from tests.dns_fixtures import Wire

from . import ASIA, EUROPE, TOPOLOGY, US, global_name, publish, service_names, unique_service

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

TCP_CHECK = HealthCheck(protocol="TCP", port=443, interval=10, failure_threshold=2)


def failover(
    svc: str,
    healthy: Sequence[ShardAddresses],
    roles: Mapping[str, str] | None,
    *,
    weights: Mapping[str, int] | None = None,
) -> tuple[RecordSet, ...]:
    """The records of ``svc``: with ``roles`` (cluster → PRIMARY/SECONDARY) the global name's failover sets,
    health-checked; with ``weights`` weighted sets; with neither, tiered."""
    primary = {c for c, role in (roles or {}).items() if role == "PRIMARY"}
    return plan_records(
        names=service_names(svc),
        ttl=60,
        aliases=(),
        topology=TOPOLOGY,
        healthy=healthy,
        global_clusters=frozenset(primary) if roles else None,
        global_roles=roles,
        global_weights=weights,
        global_health_check=TCP_CHECK if roles else None,
    )


def held_failover(client: Any, zone_id: str, name: str) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    """The failover A record sets at ``name``: set identifier → (role, addresses, HealthCheckId)."""
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {
        r["SetIdentifier"]: (
            r["Failover"],
            tuple(v["Value"] for v in r["ResourceRecords"]),
            r.get("HealthCheckId"),
        )
        for r in records
        if r["Name"] == name and r["Type"] == "A" and "Failover" in r
    }


def a_records_at(client: Any, zone_id: str, name: str) -> list[dict[str, Any]]:
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [r for r in records if r["Name"] == name and r["Type"] == "A"]


def health_checks(client: Any) -> dict[str, dict[str, Any]]:
    """Every health check of the account: id → its configuration."""
    return {c["Id"]: c["HealthCheckConfig"] for c in client.list_health_checks()["HealthChecks"]}


async def test_primary_and_secondary_sets_are_published_health_checked_and_read_back(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    desired = failover(svc, [ASIA, EUROPE, US], {"europe": "PRIMARY", "asia": "SECONDARY"})
    assert [r.type for r in desired if r.name == name] == [FAILOVER]
    assert await publish(route53_provider, desired, svc) == (1 + 2 * 2, ())  # a batch; per set create and tag
    held = held_failover(route53, zone_id, name)
    assert sorted((role, addresses) for role, addresses, _ in held.values()) == [
        ("PRIMARY", EUROPE.ipv4),
        ("SECONDARY", ASIA.ipv4),
    ]
    checks = health_checks(route53)
    assert {check_id for _, _, check_id in held.values()} == set(checks)
    for identifier, (role, addresses, check_id) in held.items():
        assert identifier.startswith(failover_set_identifier(name, role, addresses))
        assert read_health_check(identifier) == TCP_CHECK
        config = checks[str(check_id)]
        assert (config["IPAddress"], config["Port"], config["Type"]) == (addresses[0], 443, "TCP")
        assert (config["RequestInterval"], config["FailureThreshold"]) == (10, 2)
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert any(r["Name"] == f"_fedop-failover.{name}" and r["Type"] == "TXT" for r in records)
    # A restarted operator reads the zone back as planned: it changes, creates and deletes nothing.
    wire.reset()
    fresh = Route53Provider(route53, zone="example.com")
    assert await publish(fresh, desired, svc) == (0, ())
    assert set(wire.operations) == {"ListHostedZonesByName", "ListResourceRecordSets", "ListHealthChecks"}
    assert set(health_checks(route53)) == set(checks)


async def test_the_primary_moves_to_the_next_group_in_one_batch_its_health_checks_replaced(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(
        route53_provider, failover(svc, [ASIA, EUROPE, US], {"europe": "PRIMARY", "asia": "SECONDARY"}), svc
    )
    before = set(health_checks(route53))
    # Europe fails in the operator's view: Asia is the primary, the US the standby.
    wire.reset()
    await publish(route53_provider, failover(svc, [ASIA, US], {"asia": "PRIMARY", "us": "SECONDARY"}), svc)
    (batch,) = wire.batches
    assert sorted(
        (
            c["Action"],
            c["ResourceRecordSet"]["Failover"],
            c["ResourceRecordSet"]["ResourceRecords"][0]["Value"],
        )
        for c in batch
        if c["ResourceRecordSet"]["Name"] == name
    ) == [
        ("CREATE", "PRIMARY", "127.10.0.1"),
        ("CREATE", "SECONDARY", "127.30.0.1"),
        ("DELETE", "PRIMARY", "127.20.0.1"),
        ("DELETE", "SECONDARY", "127.10.0.1"),
    ]
    held = held_failover(route53, zone_id, name)
    assert sorted((role, addresses) for role, addresses, _ in held.values()) == [
        ("PRIMARY", ASIA.ipv4),
        ("SECONDARY", US.ipv4),
    ]
    checks = health_checks(route53)
    assert set(checks) == {check_id for _, _, check_id in held.values()}
    assert not set(checks) & before  # a set of a new role or addresses is a new set: new health checks
    # Only the US is left: a primary alone.
    await publish(route53_provider, failover(svc, [US], {"us": "PRIMARY"}), svc)
    held = held_failover(route53, zone_id, name)
    assert [(role, addresses) for role, addresses, _ in held.values()] == [("PRIMARY", US.ipv4)]
    assert set(health_checks(route53)) == {check_id for _, _, check_id in held.values()}


async def test_switching_tiered_failover_weighted_is_one_batch_each_and_the_name_answers_throughout(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(route53_provider, failover(svc, [ASIA, US], None), svc)
    assert [r.get("SetIdentifier") for r in a_records_at(route53, zone_id, name)] == [None]
    for step in (
        failover(svc, [ASIA, US], {"asia": "PRIMARY", "us": "SECONDARY"}),
        failover(svc, [ASIA, US], None, weights={"asia": 2}),
    ):
        wire.batches.clear()
        calls, conflicts = await publish(route53_provider, step, svc)
        assert conflicts == ()
        # Route 53 refuses a plain A beside failover sets and two routing policies at one name: the old
        # record sets go and the new come in one ChangeBatch, which it applies at once.
        assert len(wire.batches) == 1
        assert calls >= 1
        answering = a_records_at(route53, zone_id, name)
        assert answering
        assert len({("Failover" in r, "Weight" in r) for r in answering}) == 1
    assert held_failover(route53, zone_id, name) == {}
    assert sorted(r["Weight"] for r in a_records_at(route53, zone_id, name)) == [1, 2]
    # Weighted without healthCheck: the failover sets' health checks went with them.
    assert health_checks(route53) == {}
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert not any(r["Name"] == f"_fedop-failover.{name}" for r in records)


async def test_deleting_the_object_leaves_no_record_set_and_no_health_check(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(
        route53_provider, failover(svc, [ASIA, EUROPE], {"asia": "PRIMARY", "europe": "SECONDARY"}), svc
    )
    assert len(health_checks(route53)) == 2
    await publish(route53_provider, [], svc)
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [r for r in records if svc in r["Name"]] == []
    assert held_failover(route53, zone_id, name) == {}
    assert health_checks(route53) == {}


async def test_a_plain_a_record_set_beside_failover_sets_is_refused_before_sending(
    route53_provider: Route53Provider, wire: Wire
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await route53_provider.records()
    group = next(r for r in failover(svc, [ASIA], {"asia": "PRIMARY"}) if r.type == FAILOVER)
    plain = RecordSet(name=name, type="A", ttl=60, values=("127.10.0.1",))
    wire.operations.clear()
    with pytest.raises(PermanentError, match="two routing policies"):
        await route53_provider.apply(Changes(create=(group, plain)))
    assert "ChangeResourceRecordSets" not in wire.operations
    assert "CreateHealthCheck" not in wire.operations


async def test_two_primaries_at_one_name_are_read_without_error_and_left_alone(
    route53_provider: Route53Provider, route53: Any, zone_id: str, wire: Wire
) -> None:
    """moto stores two PRIMARY sets at one name (Route 53 refuses them; pinned in
    test_route53_moto_policies.py): read back, they are no FAILOVER record set the operator could hold (one
    set per role), the second is a stand-in, and the name, without our ownership record, is someone else's:
    reported as a conflict, never changed."""
    svc = unique_service()
    name = global_name(svc)
    rrsets = [
        {
            "Name": name,
            "Type": "A",
            "TTL": 60,
            "SetIdentifier": failover_set_identifier(name, "PRIMARY", [address]),
            "Failover": "PRIMARY",
            "ResourceRecords": [{"Value": address}],
        }
        for address in ("127.10.0.1", "127.20.0.1")
    ]
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in rrsets]},
    )
    held = {r.key: r for r in await route53_provider.records()}
    assert held[(name, "A")].values == ("0.0.0.0",)  # the stand-in of what no RecordSet of ours can be
    wire.reset()
    _, conflicts = await publish(route53_provider, failover(svc, [ASIA], {"asia": "PRIMARY"}), svc)
    assert {c.name for c in conflicts} == {name}
    # The region and zone names publish; nothing at the global name, no health check for it.
    assert not [c for batch in wire.batches for c in batch if c["ResourceRecordSet"]["Name"] == name]
    assert "CreateHealthCheck" not in wire.operations
