"""What moto's standalone Route 53 does with routing policies and health checks (#14): what it stores and
lists back, so that adapter tests of policy record sets and health checks can run against it, and which of
Route 53's documented rules it does not enforce, so that our own checks must (as the adapter already does
for CNAME exclusivity). A test here failing means moto changed: revisit the adapter's checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def health_check(client: Any, **config: Any) -> str:
    settings = {
        "IPAddress": "127.0.0.1",
        "Port": 80,
        "Type": "TCP",
        "RequestInterval": 10,
        "FailureThreshold": 3,
    }
    created = client.create_health_check(
        CallerReference=str(uuid.uuid4()), HealthCheckConfig={**settings, **config}
    )
    return str(created["HealthCheck"]["Id"])


def create(client: Any, zone_id: str, *rrsets: dict[str, Any]) -> str:
    changes = [{"Action": "CREATE", "ResourceRecordSet": r} for r in rrsets]
    reply = client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return str(reply["ChangeInfo"]["Status"])


def a(name: str, address: str, **routing: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": address}], **routing}


ELB = "k8s-web-1234567890.us-east-1.elb.amazonaws.com."
ELB_ZONE = "Z35SXDOTRQ7X7K"  # us-east-1's Application and Classic Load Balancers


def elb_alias(name: str, **routing: Any) -> dict[str, Any]:
    """An alias A record set to a load balancer, with a routing policy's fields."""
    target = {"HostedZoneId": ELB_ZONE, "DNSName": ELB, "EvaluateTargetHealth": True}
    return {"Name": name, "Type": "A", "AliasTarget": target, **routing}


def listed(client: Any, zone_id: str, name: str) -> list[dict[str, Any]]:
    records = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [{k: v for k, v in r.items() if k != "ResourceRecords"} for r in records if r["Name"] == name]


def test_policy_record_sets_are_stored_and_listed_with_their_routing(route53: Any, zone_id: str) -> None:
    check = health_check(route53)
    name = "p.example.com."
    assert create(
        route53,
        zone_id,
        a(name, "127.0.0.1", SetIdentifier="fedop-a", Weight=5, HealthCheckId=check),
        a(name, "127.0.0.2", SetIdentifier="fedop-b", Weight=0),
    ) in ("PENDING", "INSYNC")
    assert sorted(
        (r["SetIdentifier"], r["Weight"], r.get("HealthCheckId")) for r in listed(route53, zone_id, name)
    ) == [
        ("fedop-a", 5, check),
        ("fedop-b", 0, None),
    ]
    geo = "g.example.com."
    create(
        route53,
        zone_id,
        a(geo, "127.0.0.1", SetIdentifier="eu", GeoLocation={"ContinentCode": "EU"}),
        a(geo, "127.0.0.2", SetIdentifier="de", GeoLocation={"CountryCode": "DE"}),
        a(geo, "127.0.0.3", SetIdentifier="default", GeoLocation={"CountryCode": "*"}),
    )
    assert sorted(str(r["GeoLocation"]) for r in listed(route53, zone_id, geo)) == sorted(
        str(g) for g in ({"ContinentCode": "EU"}, {"CountryCode": "DE"}, {"CountryCode": "*"})
    )
    latency, failover = "l.example.com.", "f.example.com."
    create(route53, zone_id, a(latency, "127.0.0.1", SetIdentifier="use1", Region="us-east-1"))
    assert [r["Region"] for r in listed(route53, zone_id, latency)] == ["us-east-1"]
    create(
        route53,
        zone_id,
        a(failover, "127.0.0.1", SetIdentifier="p", Failover="PRIMARY", HealthCheckId=check),
        a(failover, "127.0.0.2", SetIdentifier="s", Failover="SECONDARY"),
    )
    assert sorted(r["Failover"] for r in listed(route53, zone_id, failover)) == ["PRIMARY", "SECONDARY"]


def test_alias_record_sets_with_a_routing_policy_are_stored_and_listed_beside_address_sets(
    route53: Any, zone_id: str
) -> None:
    """What an ELB shard of a routing-policy group needs: an alias A record set with a set identifier and
    its routing field, beside a plain A record set of the same group; moto lists it back with its alias
    target and no TTL, and a DELETE naming it removes it."""
    groups: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "w.example.com.": ({"Weight": 5}, {"Weight": 3}),
        "l.example.com.": ({"Region": "us-east-1"}, {"Region": "eu-west-1"}),
        "g.example.com.": ({"GeoLocation": {"CountryCode": "US"}}, {"GeoLocation": {"CountryCode": "*"}}),
        "f.example.com.": ({"Failover": "PRIMARY"}, {"Failover": "SECONDARY"}),
    }
    for name, (alias_routing, address_routing) in groups.items():
        create(
            route53,
            zone_id,
            elb_alias(name, SetIdentifier="fedop-alias", **alias_routing),
            a(name, "127.0.0.1", SetIdentifier="fedop-address", **address_routing),
        )
        held = {r["SetIdentifier"]: r for r in listed(route53, zone_id, name)}
        assert held["fedop-alias"] == {
            "Name": name,
            "Type": "A",
            "SetIdentifier": "fedop-alias",
            "AliasTarget": {"HostedZoneId": ELB_ZONE, "DNSName": ELB, "EvaluateTargetHealth": True},
            **alias_routing,
        }
        assert held["fedop-address"]["TTL"] == 60
        changes = [
            {
                "Action": "DELETE",
                "ResourceRecordSet": elb_alias(name, SetIdentifier="fedop-alias", **alias_routing),
            }
        ]
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
        assert [r["SetIdentifier"] for r in listed(route53, zone_id, name)] == ["fedop-address"]


def test_health_checks_are_created_tagged_updated_listed_and_deleted(route53: Any) -> None:
    check = health_check(
        route53, Type="HTTP", ResourcePath="/healthz", RequestInterval=30, FailureThreshold=2
    )
    config = route53.get_health_check(HealthCheckId=check)["HealthCheck"]["HealthCheckConfig"]
    assert (config["Type"], config["ResourcePath"], config["FailureThreshold"]) == ("HTTP", "/healthz", 2)
    route53.change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=check, AddTags=[{"Key": "fedop.io/owner", "Value": "ns/nginx"}]
    )
    tags = route53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=check)["ResourceTagSet"][
        "Tags"
    ]
    assert tags == [{"Key": "fedop.io/owner", "Value": "ns/nginx"}]
    route53.update_health_check(HealthCheckId=check, IPAddress="127.0.0.2")
    config = route53.get_health_check(HealthCheckId=check)["HealthCheck"]["HealthCheckConfig"]
    assert config["IPAddress"] == "127.0.0.2"
    assert check in [h["Id"] for h in route53.list_health_checks()["HealthChecks"]]
    route53.delete_health_check(HealthCheckId=check)
    assert check not in [h["Id"] for h in route53.list_health_checks()["HealthChecks"]]


def test_calculated_health_checks_are_stored_with_their_children(route53: Any) -> None:
    """What a failover share of several addresses would need to be checked on each (a CALCULATED health
    check over one per address): moto stores it. The operator checks a share on its first address only."""
    children = [health_check(route53, IPAddress=f"127.0.0.{i}") for i in (1, 2)]
    parent = route53.create_health_check(
        CallerReference=str(uuid.uuid4()),
        HealthCheckConfig={"Type": "CALCULATED", "ChildHealthChecks": children, "HealthThreshold": 1},
    )["HealthCheck"]["Id"]
    config = route53.get_health_check(HealthCheckId=parent)["HealthCheck"]["HealthCheckConfig"]
    assert (config["Type"], config["ChildHealthChecks"], config["HealthThreshold"]) == (
        "CALCULATED",
        children,
        1,
    )


def test_health_check_status_always_reports_success(route53: Any) -> None:
    """moto never probes: a failing check cannot be simulated, so 'a shard failing the provider's health
    check shows in status' needs a fake of get_health_check_status in the adapter tests."""
    check = health_check(route53, IPAddress="127.0.0.1", Port=9)  # nothing listens on port 9
    observations = route53.get_health_check_status(HealthCheckId=check)["HealthCheckObservations"]
    assert observations
    assert all(o["StatusReport"]["Status"].startswith("Success") for o in observations)


def test_health_check_status_and_tags_of_what_the_adapter_reads(route53: Any) -> None:
    """What the adapter's poll and collector read: GetHealthCheckStatus answers NoSuchHealthCheck for an id
    it does not have (the adapter's Unknown), and ListTagsForResources names each check with its tags, none
    for one never tagged (the collector's "created, not yet tagged")."""
    with pytest.raises(route53.exceptions.NoSuchHealthCheck):
        route53.get_health_check_status(HealthCheckId=str(uuid.uuid4()))
    tagged, untagged = health_check(route53), health_check(route53)
    route53.change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=tagged, AddTags=[{"Key": "k", "Value": "v"}]
    )
    sets = route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=[tagged, untagged])
    assert {s["ResourceId"]: s["Tags"] for s in sets["ResourceTagSets"]} == {
        tagged: [{"Key": "k", "Value": "v"}],
        untagged: [],
    }


def delete_health_check_in_use(client: Any, zone_id: str) -> None:
    check = health_check(client)
    create(
        client, zone_id, a("u.example.com.", "127.0.0.1", SetIdentifier="x", Weight=1, HealthCheckId=check)
    )
    client.delete_health_check(HealthCheckId=check)  # Route 53: HealthCheckInUse


# Each: a change batch (or call) real Route 53 refuses, which moto accepts. Our own checks must refuse them.
Refused = Callable[[Any, str], object]
NOT_ENFORCED: list[Any] = [
    pytest.param(
        lambda c, z: create(c, z, a("w.example.com.", "127.0.0.1", SetIdentifier="x", Weight=256)),
        id="weight-over-255",
    ),
    pytest.param(
        lambda c, z: create(
            c,
            z,
            a("m.example.com.", "127.0.0.1"),
            a("m.example.com.", "127.0.0.2", SetIdentifier="x", Weight=1),
        ),
        id="simple-beside-weighted",
    ),
    pytest.param(
        lambda c, z: create(
            c,
            z,
            a("m.example.com.", "127.0.0.1", SetIdentifier="x", Weight=1),
            a("m.example.com.", "127.0.0.2", SetIdentifier="y", Region="us-east-1"),
        ),
        id="two-routing-policies-at-one-name",
    ),
    pytest.param(
        lambda c, z: create(
            c,
            z,
            a("f.example.com.", "127.0.0.1", SetIdentifier="p", Failover="PRIMARY"),
            a("f.example.com.", "127.0.0.2", SetIdentifier="q", Failover="PRIMARY"),
        ),
        id="two-primaries",
    ),
    pytest.param(
        lambda c, z: create(c, z, a("l.example.com.", "127.0.0.1", SetIdentifier="x", Region="mars-1")),
        id="unknown-latency-region",
    ),
    pytest.param(
        lambda c, z: create(
            c, z, a("g.example.com.", "127.0.0.1", SetIdentifier="x", GeoLocation={"ContinentCode": "XX"})
        ),
        id="unknown-continent",
    ),
    pytest.param(
        lambda c, z: create(
            c,
            z,
            a("h.example.com.", "127.0.0.1", SetIdentifier="x", Weight=1, HealthCheckId=str(uuid.uuid4())),
        ),
        id="unknown-health-check",
    ),
    pytest.param(delete_health_check_in_use, id="delete-a-health-check-in-use"),
    # Alias record sets of routing-policy groups: the adapter never writes a TTL on an alias, always sets
    # EvaluateTargetHealth (a failover alias must), names the hosted zone from AWS's table of load
    # balancers, and plans one latency set per region (split_latency_values).
    pytest.param(
        lambda c, z: create(c, z, {**elb_alias("t.example.com.", SetIdentifier="x", Weight=1), "TTL": 60}),
        id="alias-with-a-ttl",
    ),
    pytest.param(
        lambda c, z: create(
            c,
            z,
            {
                **elb_alias("e.example.com.", SetIdentifier="x", Failover="PRIMARY"),
                "AliasTarget": {"HostedZoneId": ELB_ZONE, "DNSName": ELB, "EvaluateTargetHealth": False},
            },
        ),
        id="failover-alias-without-evaluate-target-health",
    ),
    pytest.param(
        lambda c, z: create(
            c,
            z,
            {
                **elb_alias("z.example.com.", SetIdentifier="x", Weight=1),
                "AliasTarget": {"HostedZoneId": "ZNOSUCHZONE", "DNSName": ELB, "EvaluateTargetHealth": True},
            },
        ),
        id="alias-to-a-hosted-zone-that-is-not-the-load-balancers",
    ),
    pytest.param(
        lambda c, z: create(
            c,
            z,
            a("r.example.com.", "127.0.0.1", SetIdentifier="x", Region="us-east-1"),
            elb_alias("r.example.com.", SetIdentifier="y", Region="us-east-1"),
        ),
        id="two-latency-sets-in-one-region",
    ),
]


@pytest.mark.parametrize("refused", NOT_ENFORCED)
def test_moto_accepts_what_route53_refuses(route53: Any, zone_id: str, refused: Refused) -> None:
    refused(route53, zone_id)  # no error: moto does not enforce this rule
