"""One zone mirrored on Route 53 (moto's server) and Cloud DNS (our fake) at once, through a PublisherGroup:
both converge with their ownership records, Cloud DNS failing never holds back Route 53 (each mirror's
state says which is which) and catches up once it answers, and a withdrawal empties both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from google.cloud import dns

from federation_operator.dns.clouddns import CloudDnsProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.dns.publishers import PublisherGroup, ZonePublisher
from federation_operator.dns.route53 import Route53Provider
from federation_operator.domain.records import PublishResult
from tests.fakes.clouddns import FakeCloudDns

from . import ASIA, EUROPE, FEDERATION, NAMESPACE, US, global_name, seed_records, unique_service

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

PROJECT = "federation-test"
MANAGED_ZONE = "example-com"


@pytest.fixture
async def group(route53: Any, zone_id: str, clouddns: dns.Client) -> AsyncIterator[PublisherGroup]:
    """Route 53 (the shared moto, its zone example.com) and Cloud DNS (the shared fake) mirroring one zone."""
    members = [
        ZonePublisher(
            Publisher(
                Route53Provider(route53, zone="example.com"),
                federation=FEDERATION,
                on_result=lambda _key: None,
                provider_name="route53",
            ),
            mirror="route53",
            provider_name="route53",
        ),
        ZonePublisher(
            Publisher(
                CloudDnsProvider(clouddns, zone="example.com"),
                federation=FEDERATION,
                on_result=lambda _key: None,
                provider_name="clouddns",
            ),
            mirror="clouddns",
            provider_name="clouddns",
        ),
    ]
    tasks = [asyncio.create_task(m.publisher.run()) for m in members]
    try:
        yield PublisherGroup(members)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def route53_state(client: Any) -> dict[tuple[str, str], list[str]]:
    (zone,) = client.list_hosted_zones()["HostedZones"]
    sets = client.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    return {(s["Name"], s["Type"]): sorted(r["Value"] for r in s.get("ResourceRecords", [])) for s in sets}


def clouddns_state(fake: FakeCloudDns) -> dict[tuple[str, str], list[str]]:
    return {(r["name"], r["type"]): sorted(r["rrdatas"]) for r in fake.rrsets(PROJECT, MANAGED_ZONE)}


async def until(what: str, probe: Callable[[], bool], deadline: float = 30.0) -> None:
    async with asyncio.timeout(deadline):
        while not probe():  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polling the providers, with a deadline
    assert probe(), what


def published(result: PublishResult | None) -> bool:
    return result is not None and not result.error and not result.unconfirmed


async def test_route53_and_cloud_dns_mirrors_publish_fail_and_catch_up_independently(
    group: PublisherGroup, route53: Any, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    key = (NAMESPACE, svc)
    first = seed_records(svc, [ASIA, EUROPE, US])
    group.submit(key, first)
    await until("both mirrors published", lambda: published(group.result(key)))
    result = group.result(key)
    assert result is not None
    assert [(m.mirror, m.state) for m in result.mirrors] == [
        ("route53", "Published"),
        ("clouddns", "Published"),
    ]
    for state in (route53_state(route53), clouddns_state(fake)):
        assert state[global_name(svc), "A"] == ["127.10.0.1", "127.20.0.1", "127.30.0.1"]
        assert any(rtype == "TXT" and svc in name for name, rtype in state)  # its ownership records

    # Cloud DNS refuses every change for now; Asia's shard goes: Route 53 publishes it regardless.
    fake.fail_next(503, count=10_000, route="changes.create")
    second = seed_records(svc, [EUROPE, US])
    group.submit(key, second)
    await until(
        "Route 53 converged alone",
        lambda: route53_state(route53).get((global_name(svc), "A")) == ["127.20.0.1", "127.30.0.1"],
    )
    assert clouddns_state(fake)[global_name(svc), "A"] == ["127.10.0.1", "127.20.0.1", "127.30.0.1"]
    await until(
        "the Cloud DNS mirror reported failing",
        lambda: (r := group.result(key)) is not None and any(m.state == "Failed" for m in r.mirrors),
    )
    failing = group.result(key)
    assert failing is not None
    assert failing.error is not None
    assert failing.error.startswith("example.com (clouddns): ")
    assert {m.mirror: m.state for m in failing.mirrors} == {"route53": "Published", "clouddns": "Failed"}

    # It answers again: it catches up on its own, with the records it missed.
    fake.clear_faults()
    await until("Cloud DNS caught up", lambda: published(group.result(key)), deadline=60)
    assert clouddns_state(fake)[global_name(svc), "A"] == ["127.20.0.1", "127.30.0.1"]

    async with asyncio.timeout(30):
        await group.withdraw(key)
    for state in (route53_state(route53), clouddns_state(fake)):
        assert not any(svc in name for name, _ in state)
