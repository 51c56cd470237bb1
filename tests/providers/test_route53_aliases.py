"""Load balancer hostnames on Route 53 (moto's server): a tier reached by several ELB/NLB hostnames is one
weighted alias A record per hostname, with the load balancer's canonical hosted zone and a set identifier
the operator owns; it reads back as what was planned (a second round sends nothing), changes hostname by
hostname, and is deleted whole. No shard is left out."""

from __future__ import annotations

import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config

from federation_operator.dns.route53 import Route53Provider
from federation_operator.dns.route53.batches import alias_set_identifier
from federation_operator.domain.records import RecordSet, ServiceNames, ShardAddresses
from federation_operator.planning.records import plan_tiers

from . import FEDERATION, NAMESPACE, TOPOLOGY, global_name, publish, tier_name, unique_service

# Fake keys and nothing else in boto3's credential chain (conftest.py), for every test here.
pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

NLB_EAST = "a1b2-0123456789abcdef.elb.us-east-1.amazonaws.com"
ALB_WEST = "k8s-web-1234567890.eu-west-1.elb.amazonaws.com"
ALB_ASIA = "k8s-web-abcdef.ap-southeast-1.elb.amazonaws.com"
ELSEWHERE = "lb.example.net"


@pytest.fixture
def client(moto_url: str) -> Any:
    with urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")) as reply:
        reply.read()
    made = boto3.session.Session(region_name="us-east-1").client(
        "route53", endpoint_url=moto_url, config=Config(retries={"total_max_attempts": 1})
    )
    made.create_hosted_zone(Name="example.com", CallerReference=unique_service())
    return made


def listed(client: Any, name: str) -> list[dict[str, Any]]:
    zone_id = client.list_hosted_zones()["HostedZones"][0]["Id"]
    found = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [r for r in found if r["Name"].rstrip(".") == name.rstrip(".") and r["Type"] == "A"]


def hostname_shard(cluster: str, region: str, zone: str, host: str) -> ShardAddresses:
    return ShardAddresses(cluster=cluster, region=region, zones=frozenset({zone}), hostnames=(host,))


def planned(service: str, shards: list[ShardAddresses], provider: Route53Provider) -> tuple[RecordSet, ...]:
    names = ServiceNames(service=service, namespace=NAMESPACE, federation=FEDERATION, domain="example.com")
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
    client: Any,
) -> None:
    provider = Route53Provider(client, zone="example.com")
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

    aliases = sorted(listed(client, global_name(svc)), key=lambda r: r["SetIdentifier"])
    assert len(aliases) == 3  # every shard, none left out
    by_host = {r["AliasTarget"]["DNSName"].rstrip("."): r for r in aliases}
    assert by_host[NLB_EAST]["AliasTarget"]["HostedZoneId"] == "Z26RNL4JYFTOTI"  # NLB, us-east-1
    assert by_host[ALB_WEST]["AliasTarget"]["HostedZoneId"] == "Z32O12XQLNTSW2"  # ALB/Classic, eu-west-1
    assert by_host[NLB_EAST]["SetIdentifier"] == alias_set_identifier(f"{NLB_EAST}.")
    assert {r["Weight"] for r in aliases} == {1}
    # A region's own tier is the alias of its one load balancer.
    assert [
        r["AliasTarget"]["DNSName"].rstrip(".") for r in listed(client, tier_name(svc, "europe-west1"))
    ] == [ALB_WEST]

    # Read back as planned: the same state again sends nothing.
    assert await publish(provider, desired, svc) == (0, ())

    # One load balancer goes: only its alias record is deleted.
    fewer = planned(svc, shards[:2], provider)
    assert (await publish(provider, fewer, svc))[1] == ()
    assert {r["AliasTarget"]["DNSName"].rstrip(".") for r in listed(client, global_name(svc))} == {
        NLB_EAST,
        ALB_WEST,
    }

    # Deleting the FederatedService removes every alias record.
    await publish(provider, (), svc)
    assert listed(client, global_name(svc)) == []


async def test_a_hostname_that_is_no_known_load_balancer_falls_back_to_the_cname(client: Any) -> None:
    provider = Route53Provider(client, zone="example.com")
    svc = unique_service()
    names = ServiceNames(service=svc, namespace=NAMESPACE, federation=FEDERATION, domain="example.com")
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
