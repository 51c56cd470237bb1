"""Provider limits planned, not discovered, through the zone's publisher: a tier over BIND's 100 records per
set goes out as its deterministic subset beside an unrelated owner (real BIND), and an owner past the zone's
quota is reported while the others publish (the in-memory provider, and the Cloud DNS fake with the quota
read from the project, both of which refuse as the real providers would)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from google.cloud import dns as google_dns
from localfed.bind import BindServer, rfc2136_provider

from federation_operator.dns.clouddns import CloudDnsProvider
from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.provider import DnsProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.errors import RejectedChangeError
from federation_operator.domain.records import (
    Changes,
    ProviderLimits,
    PublishResult,
    RecordSet,
)
from federation_operator.planning.records import plan_tiers
from tests.dns_fixtures import CLOUDDNS_PROJECT
from tests.fakes.clouddns import FakeCloudDns

from . import (
    ASIA,
    EUROPE,
    FEDERATION,
    NAMESPACE,
    TOPOLOGY,
    US,
    crowded_shards,
    global_name,
    seed_records,
    service_names,
    unique_service,
)


async def run_round(
    provider: DnsProvider, owners: Mapping[str, tuple[RecordSet, ...]]
) -> dict[str, PublishResult]:
    """Submit every owner (service → records) to one publisher at once; each owner's result."""
    publisher = Publisher(provider, federation=FEDERATION, on_result=lambda _key: None, coalesce_seconds=0.1)
    task = asyncio.create_task(publisher.run())
    try:
        for service, records in owners.items():
            publisher.submit((NAMESPACE, service), records)
        async with asyncio.timeout(30):
            while any(publisher.result((NAMESPACE, s)) is None for s in owners):  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the publisher's outcome, polled with a deadline
        return {s: r for s in owners if (r := publisher.result((NAMESPACE, s))) is not None}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def crowd(service: str, count: int, max_values: int | None) -> tuple[RecordSet, ...]:
    shards = crowded_shards(count, 88)
    names = service_names(service)
    return plan_tiers(
        names=names, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards, max_values=max_values
    ).records


@pytest.mark.dns
async def test_a_tier_over_binds_limit_publishes_its_subset_and_blocks_no_one(
    bind_server: BindServer,
) -> None:
    provider = rfc2136_provider(bind_server)
    big, small = unique_service(), unique_service()
    records = crowd(big, 140, provider.limits.max_values_per_set)
    results = await run_round(provider, {big: records, small: seed_records(small, [ASIA, EUROPE])})
    assert results[big].error is None
    assert results[big].conflicts == ()
    assert results[small].error is None
    held = {r.key: r for r in await provider.records()}
    assert len(held[(global_name(big), "A")].values) == 100
    assert held[(global_name(big), "A")].values[0] == "127.88.0.1"  # lowest addresses first
    assert held[(global_name(small), "A")].values == ("127.10.0.1", "127.20.0.1")


async def test_an_owner_past_the_zone_quota_is_a_conflict_and_the_others_publish() -> None:
    # Each owner below needs 2 record sets per name (its record and ownership record).
    provider = InMemoryProvider("example.com", limits=ProviderLimits(max_record_sets=10))
    first, big, late = unique_service(), unique_service(), unique_service()
    one_name = {first: (RecordSet(global_name(first), "A", 180, ("127.10.0.1",)),)}
    assert (await run_round(provider, one_name))[first].conflicts == ()
    results = await run_round(
        provider,
        {
            big: seed_records(big, [ASIA, EUROPE, US]),  # every tier: far more than the 8 left
            late: (RecordSet(global_name(late), "A", 180, ("127.30.0.1",)),),
        },
    )
    assert results[big].error is None
    assert results[big].conflicts
    assert all("quota of 10 record sets" in c.reason for c in results[big].conflicts)
    assert results[late].conflicts == ()
    assert results[late].error is None
    names = {r.name for r in provider.snapshot()}
    assert global_name(late) in names
    assert global_name(big) not in names
    assert len(provider.snapshot()) <= 10


@pytest.mark.clouddns_fake(rrsets_per_managed_zone=8)  # the zone's SOA and NS: 2 of the 8
async def test_cloud_dns_zone_quota_read_from_the_project_is_planned_by_the_publisher(
    clouddns: google_dns.Client, fake: FakeCloudDns
) -> None:
    """The zone quota comes from the project's quotas (projects.get, read with the zone): a publisher round
    in a zone that has room for one small owner gives the big one a conflict naming the quota, and the fake,
    which refuses past the quota (403 quotaExceeded), is never asked to."""
    provider = CloudDnsProvider(clouddns, zone="example.com")
    big, small = unique_service(), unique_service()
    results = await run_round(
        provider,
        {
            big: seed_records(big, [ASIA, EUROPE, US]),
            small: (RecordSet(global_name(small), "A", 180, ("127.30.0.1",)),),
        },
    )
    assert provider.limits.max_record_sets == 8
    assert results[big].error is None
    assert results[big].conflicts
    assert all("quota of 8 record sets" in c.reason for c in results[big].conflicts)
    assert results[small] == PublishResult(results[small].desired)
    held = {(r["name"], r["type"]) for r in fake.rrsets(CLOUDDNS_PROJECT, "example-com")}
    assert (global_name(small), "A") in held
    assert len(held) <= 8
    assert not any("quotaExceeded" in str(r.body) for r in fake.requests)


@pytest.mark.clouddns_fake(resource_records_per_rrset=50)
async def test_cloud_dns_refuses_a_set_past_a_lower_project_quota_as_the_owners_fault(
    clouddns: google_dns.Client, fake: FakeCloudDns
) -> None:
    """Planned with the default 100 before the project's quotas were read, a set of 60 in a project whose
    quota is 50 is refused (403 quotaExceeded) as a refusal of what the change holds (which the publisher
    contains to its owner), not of the operator's credentials."""
    provider = CloudDnsProvider(clouddns, zone="example.com")
    svc = unique_service()
    records = crowd(svc, 60, None)
    with pytest.raises(RejectedChangeError, match="quotaExceeded"):
        await provider.apply(Changes(create=records))
    await provider.records()  # the publisher reads the zone again after a refusal
    # Known from here on (the operator takes the per-set limit at start-up: see README, DNS limits).
    assert provider.limits.max_values_per_set == 50
