"""Failover with a Compute Engine health check on Cloud DNS against our fake of the v1 API: the global name as
one A record set with a ``primaryBackup`` routing policy (the first group's addresses as external endpoints
probed by the named health check, the next group's as a backup geo item) and an ownership record of ours,
read back as planned (a second round sends nothing); Cloud DNS answering the backup while every primary
target fails its health check; the operator's own failover moving both roles in one change; and a switch
between the operator's failover (plain records) and Cloud DNS's in one change that answers throughout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from google.cloud import dns

from federation_operator.dns.clouddns import CloudDnsProvider
from federation_operator.domain.errors import RejectedChangeError
from federation_operator.domain.gcp_failover import GcpFailover
from federation_operator.domain.records import (
    FAILOVER,
    Changes,
    RecordSet,
    ShardAddresses,
    failover_set_identifier,
    failover_value,
)
from federation_operator.planning.records import plan_records
from tests.dns_fixtures import Sleeps
from tests.fakes.clouddns import FakeCloudDns

from . import ASIA, EUROPE, TOPOLOGY, US, global_name, publish, service_names, unique_service

PROJECT = "federation-test"
MANAGED_ZONE = "example-com"
CHECK = "https://www.googleapis.com/compute/v1/projects/federation-test/global/healthChecks/nginx-tcp-80"


def planned(
    svc: str,
    primary: Sequence[ShardAddresses],
    backup: Sequence[ShardAddresses] = (),
    location: str = "europe-west1",
) -> tuple[RecordSet, ...]:
    """The records of ``svc`` whose global name answers ``primary``: with ``backup`` behind it on Cloud DNS
    (the primary alone: its own backup), else the operator's own failover (plain records)."""
    roles = {s.cluster: "PRIMARY" for s in primary} | {
        s.cluster: "SECONDARY" for s in backup if s not in primary
    }
    return plan_records(
        names=service_names(svc),
        ttl=60,
        aliases=(),
        topology=TOPOLOGY,
        healthy=[*primary, *(s for s in backup if s not in primary)],
        global_clusters=frozenset(s.cluster for s in primary),
        global_roles=roles if backup else None,
        global_gcp_failover=GcpFailover(location, CHECK) if backup else None,
    )


def held(fake: FakeCloudDns, name: str) -> list[dict[str, Any]]:
    return [dict(r) for r in fake.rrsets(PROJECT, MANAGED_ZONE) if r["name"] == name]


def answer(fake: FakeCloudDns, name: str, region: str = "us-central1") -> list[str]:
    return fake.answer(PROJECT, MANAGED_ZONE, name, "A", client_region=region)


def changes_sent(fake: FakeCloudDns) -> int:
    return fake.calls["changes.create"]


async def test_failover_is_a_primary_backup_policy_read_back_as_planned(
    clouddns_provider: CloudDnsProvider, clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    desired = planned(svc, [US], [EUROPE])
    assert await publish(clouddns_provider, desired, svc) == (1, ())
    (rrset,) = [r for r in held(fake, name) if r["type"] == "A"]
    assert "rrdatas" not in rrset
    assert rrset["routingPolicy"] == {
        "primaryBackup": {
            "primaryTargets": {"externalEndpoints": ["127.30.0.1"]},
            "backupGeoTargets": {"items": [{"location": "europe-west1", "rrdatas": ["127.20.0.1"]}]},
        },
        "healthCheck": CHECK,
    }
    assert any(r["type"] == "TXT" for r in held(fake, f"_fedop-failover.{name}"))
    # A restarted operator reads the policy back as the FAILOVER record set it planned: nothing to send.
    fresh = CloudDnsProvider(clouddns, zone="example.com", sleep=Sleeps())
    assert [r for r in await fresh.records() if r.name == name and r.type == FAILOVER] == [
        r for r in desired if r.type == FAILOVER
    ]
    before = changes_sent(fake)
    assert await publish(fresh, desired, svc) == (0, ())
    assert changes_sent(fake) == before


async def test_cloud_dns_answers_the_backup_while_the_primary_fails_its_health_check(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    # What the health check buys: the operator (or the host cluster) may be down; Cloud DNS fails over alone.
    svc = unique_service()
    name = global_name(svc)
    await publish(clouddns_provider, planned(svc, [US], [EUROPE]), svc)
    assert answer(fake, name) == ["127.30.0.1"]
    fake.set_endpoint_health("127.30.0.1", healthy=False)
    assert answer(fake, name) == ["127.20.0.1"]
    assert answer(fake, name, "asia-east1") == ["127.20.0.1"]  # the one backup item is every client's nearest
    fake.set_endpoint_health("127.30.0.1", healthy=True)
    assert answer(fake, name) == ["127.30.0.1"]


async def test_the_operators_failover_moves_both_roles_in_one_change(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(clouddns_provider, planned(svc, [US], [EUROPE]), svc)
    before = changes_sent(fake)
    # US unhealthy in the operator's view: Europe answers, Asia stands behind it.
    assert (await publish(clouddns_provider, planned(svc, [EUROPE], [ASIA], "asia-east1"), svc))[0] == 1
    assert changes_sent(fake) == before + 1
    (rrset,) = [r for r in held(fake, name) if r["type"] == "A"]
    failover = rrset["routingPolicy"]["primaryBackup"]
    assert failover["primaryTargets"] == {"externalEndpoints": ["127.20.0.1"]}
    assert failover["backupGeoTargets"]["items"] == [{"location": "asia-east1", "rrdatas": ["127.10.0.1"]}]
    # Nothing behind the last group: the primary is its own backup, so the name still answers.
    assert (await publish(clouddns_provider, planned(svc, [ASIA], [ASIA], "asia-east1"), svc))[0] == 1
    (rrset,) = [r for r in held(fake, name) if r["type"] == "A"]
    assert rrset["routingPolicy"]["primaryBackup"]["backupGeoTargets"]["items"] == [
        {"location": "asia-east1", "rrdatas": ["127.10.0.1"]}
    ]
    fake.set_endpoint_health("127.10.0.1", healthy=False)
    assert answer(fake, name) == ["127.10.0.1"]


async def test_switching_between_the_operators_failover_and_cloud_dns_is_one_change_answering_throughout(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(clouddns_provider, planned(svc, [US]), svc)
    assert answer(fake, name) == ["127.30.0.1"]
    for backup in ([EUROPE], []):
        before = changes_sent(fake)
        assert (await publish(clouddns_provider, planned(svc, [US], backup), svc))[0] == 1
        assert changes_sent(fake) == before + 1
        # One atomic change deleted the old A record set and added the new one: no moment without it.
        body = next(r for r in reversed(fake.requests) if r.route == "changes.create").body
        assert [(r["name"], r["type"]) for r in body["deletions"] if r["name"] == name] == [(name, "A")]
        assert [(r["name"], r["type"]) for r in body["additions"] if r["name"] == name] == [(name, "A")]
        assert answer(fake, name) == ["127.30.0.1"]
        assert ("routingPolicy" in held(fake, name)[0]) == bool(backup)


async def test_a_failover_group_cloud_dns_cannot_express_is_refused_before_sending(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    # Route 53's form (no Compute Engine health check, no backup region) is no primaryBackup policy.
    name = global_name(unique_service())
    primary = failover_set_identifier(name, "PRIMARY", ["127.30.0.1"])
    standby = failover_set_identifier(name, "SECONDARY", ["127.20.0.1"])
    group = RecordSet(
        name,
        FAILOVER,
        60,
        (
            failover_value(primary, "PRIMARY", "127.30.0.1"),
            failover_value(standby, "SECONDARY", "127.20.0.1"),
        ),
    )
    await clouddns_provider.records()
    before = changes_sent(fake)
    with pytest.raises(RejectedChangeError, match=r"gcpHealthCheck"):
        await clouddns_provider.apply(Changes(create=(group,)))
    assert changes_sent(fake) == before


async def test_a_failover_policy_of_someone_elses_is_read_as_the_foreign_data_it_is(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    # Trickled traffic (a share of the queries sent to the backup while the primary is healthy) is not what
    # the operator writes: the record set is read as plain A data, a foreign record at that name.
    name = global_name(unique_service())
    fake.apply_change(
        PROJECT,
        MANAGED_ZONE,
        additions=[
            {
                "name": name,
                "type": "A",
                "ttl": 60,
                "routingPolicy": {
                    "primaryBackup": {
                        "primaryTargets": {"externalEndpoints": ["127.30.0.1"]},
                        "backupGeoTargets": {
                            "items": [{"location": "europe-west1", "rrdatas": ["127.20.0.1"]}]
                        },
                        "trickleTraffic": 0.1,
                    },
                    "healthCheck": CHECK,
                },
            }
        ],
    )
    (found,) = [r for r in await clouddns_provider.records() if r.name == name]
    assert (found.type, found.values) == ("A", ("127.20.0.1", "127.30.0.1"))


async def test_a_primary_that_is_its_own_backup_counts_its_addresses_once_against_the_quota(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    # 60 addresses listed twice (targets and backup item) are 60 records of the project's 100 per record set.
    svc = unique_service()
    crowded = ShardAddresses(
        cluster="us",
        region="us-central1",
        zones=frozenset({"us-central1-a"}),
        ipv4=tuple(f"127.30.1.{i}" for i in range(1, 61)),
    )
    assert await publish(clouddns_provider, planned(svc, [crowded], [crowded], "us-central1"), svc) == (1, ())
    (rrset,) = [r for r in held(fake, global_name(svc)) if r["type"] == "A"]
    failover = rrset["routingPolicy"]["primaryBackup"]
    assert len(failover["primaryTargets"]["externalEndpoints"]) == 60
    assert (
        failover["backupGeoTargets"]["items"][0]["rrdatas"] == failover["primaryTargets"]["externalEndpoints"]
    )
