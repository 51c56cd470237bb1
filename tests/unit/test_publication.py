"""The records that counted shards make, and the DNS status verdicts (which shards count: test_health.py)."""

from __future__ import annotations

import pytest

from federation_operator.domain.health import HealthSnapshot, ShardHealth
from federation_operator.domain.members import Ingress
from federation_operator.domain.records import (
    Conflict,
    MirrorState,
    ProviderLimits,
    PublishResult,
    RecordSet,
    ServiceNames,
)
from federation_operator.domain.status import DnsStatus
from federation_operator.planning.publication import (
    plan_service_records,
    plan_service_tiers,
    plan_topology,
    render_dns_status,
)
from federation_operator.planning.status import DnsVerdict
from tests.unit.test_health import EU, US, cluster

NAMES = ServiceNames(
    service="nginx", namespace="mynamespace", federation="myfederation", domain="example.com"
)


def shard(name: str, *, healthy: bool, address: str) -> ShardHealth:
    region = name.removeprefix("gce-")
    return ShardHealth(
        cluster=name,
        region=region,
        zones=(f"{region}-a",),
        selected=True,
        synced=True,
        ingress=(Ingress(ip=address),),
        ready_endpoints=1 if healthy else 0,
        healthy=healthy,
        reason="Healthy" if healthy else "ClusterNotReady",
        message="",
        counted=healthy,
    )


def test_records_come_from_counted_shards_over_the_whole_topology() -> None:
    clusters = [cluster(US), cluster(EU)]
    records = plan_service_records(
        names=NAMES,
        ttl=180,
        aliases=(),
        clusters=clusters,
        counted=[shard(US, healthy=True, address="127.1.3.1")],
    )
    by_name = {(r.name, r.type): r for r in records}
    assert by_name[(NAMES.global_name, "A")].values == ("127.1.3.1",)
    # Europe has nothing healthy: its region and zones fall back by CNAME.
    assert by_name[(NAMES.region_name("europe-west1"), "CNAME")].values == (NAMES.global_name,)
    assert by_name[(NAMES.zone_name("europe-west1-b"), "CNAME")].values == (
        NAMES.region_name("europe-west1"),
    )
    assert plan_topology(clusters) == {
        "us-central1": frozenset({"us-central1-a", "us-central1-b"}),
        "europe-west1": frozenset({"europe-west1-a", "europe-west1-b"}),
    }


RECORD = RecordSet(NAMES.global_name, "A", 180, ("127.1.3.1",))


@pytest.mark.parametrize(
    ("submitted", "result", "frozen", "verdict"),
    [
        pytest.param(None, None, True, ("False", "PartitionGuard"), id="frozen"),
        pytest.param(None, None, False, ("Unknown", "Pending"), id="holding"),
        pytest.param((RECORD,), None, False, ("Unknown", "Pending"), id="not-applied-yet"),
        pytest.param((RECORD,), PublishResult((RECORD,)), False, ("True", "Published"), id="published"),
        pytest.param((), PublishResult(()), False, ("True", "NoHealthyShards"), id="nothing-healthy"),
        pytest.param(
            (RECORD,),
            PublishResult((RECORD,), error="REFUSED"),
            False,
            ("False", "ProviderError"),
            id="error",
        ),
        pytest.param(
            (RECORD,),
            PublishResult((RECORD,), error="BIND answered SERVFAIL", rejected=True),
            False,
            ("False", "ProviderRejected"),
            id="rejected",
        ),
        pytest.param(
            (RECORD,),
            PublishResult((RECORD,), unconfirmed="route53 change C1 still PENDING"),
            False,
            ("Unknown", "Pending"),
            id="unconfirmed",
        ),
        pytest.param(
            (RECORD,),
            PublishResult((RECORD,), conflicts=(Conflict(NAMES.global_name, "A", "not ours"),)),
            False,
            ("False", "Conflict"),
            id="conflict",
        ),
    ],
)
def test_render_dns_status(
    submitted: tuple[RecordSet, ...] | None,
    result: PublishResult | None,
    frozen: bool,
    verdict: tuple[str, str],
) -> None:
    status, found = render_dns_status(
        names=NAMES,
        regions=["us-central1"],
        submitted=submitted,
        result=result,
        health=HealthSnapshot(
            (), frozen=frozen, hold_reason="" if frozen or submitted is not None else "a member is listing"
        ),
        previous=None,
    )
    assert (found.status, found.reason) == verdict
    if verdict[1] == "Published":
        assert status is not None
        assert status.global_name == NAMES.global_name
        assert [n.name for n in status.names] == [NAMES.global_name]


def published_once() -> tuple[DnsStatus | None, DnsVerdict]:
    """RECORD submitted and published: the status and verdict of its first answer."""
    return render_dns_status(
        names=NAMES,
        regions=["us-central1"],
        submitted=(RECORD,),
        result=PublishResult((RECORD,)),
        health=HealthSnapshot(()),
        previous=None,
    )


def test_a_provider_error_keeps_the_last_published_names() -> None:
    published, _ = published_once()
    other = RecordSet(NAMES.global_name, "A", 180, ("127.1.3.9",))
    status, verdict = render_dns_status(
        names=NAMES,
        regions=["us-central1"],
        submitted=(other,),
        result=PublishResult((other,), error="the DNS provider cannot be reached: timed out"),
        health=HealthSnapshot(()),
        previous=published,
    )
    assert status == published
    assert (verdict.status, verdict.reason) == ("False", "ProviderError")
    assert "cannot be reached" in verdict.message


def test_after_a_restart_a_published_verdict_stands_for_the_same_records_until_the_publisher_answers() -> (
    None
):
    """Its publisher is still reading the zone (no result for anyone yet): the verdict the status holds
    stands for the records it lists as published; other records, or a verdict other than Published, are
    Pending as for a new object."""
    published, verdict = published_once()
    assert verdict.reason == "Published"

    def restarted(submitted: tuple[RecordSet, ...], inherited: DnsVerdict) -> tuple[object, DnsVerdict]:
        return render_dns_status(
            names=NAMES,
            regions=["us-central1"],
            submitted=submitted,
            result=None,
            health=HealthSnapshot(()),
            previous=published,
            inherited=inherited,
        )

    assert restarted((RECORD,), verdict) == (published, verdict)
    moved = RecordSet(NAMES.global_name, "A", 180, ("127.1.3.9",))
    assert restarted((moved,), verdict)[1].reason == "Pending", "other records than the status lists"
    conflict = DnsVerdict("False", "Conflict", "records this operator does not own are in the way")
    assert restarted((RECORD,), conflict)[1].reason == "Pending", "only a Published verdict stands"


def test_a_tier_over_the_providers_limit_is_published_in_part_and_the_status_says_so() -> None:
    counted = [
        ShardHealth(
            cluster=f"c{i}",
            region="us-central1",
            zones=("us-central1-a",),
            selected=True,
            synced=True,
            ingress=(Ingress(ip=f"127.1.{i // 200}.{i % 200 + 1}"),),
            ready_endpoints=1,
            healthy=True,
            reason="Healthy",
            message="",
            counted=True,
        )
        for i in range(140)
    ]
    tiers = plan_service_tiers(
        names=NAMES,
        ttl=180,
        aliases=(),
        clusters=[cluster(US)],
        counted=counted,
        limits=ProviderLimits(max_values_per_set=100),
    )
    assert max(len(r.values) for r in tiers.records) == 100
    assert tiers.notes[0].startswith(f"{NAMES.global_name} publishes 100 of 140 healthy A addresses")
    _, verdict = render_dns_status(
        names=NAMES,
        regions=["us-central1"],
        submitted=tiers.records,
        result=PublishResult(tiers.records),
        health=HealthSnapshot(()),
        previous=None,
        notes=tiers.notes,
    )
    assert (verdict.status, verdict.reason) == ("True", "Published")
    assert "publishes 100 of 140 healthy A addresses (lowest addresses first" in verdict.message


@pytest.mark.parametrize(
    ("aliases", "said"),
    [
        pytest.param(("nginx.acme.com.",), "2 record sets published in example.com., acme.com.", id="both"),
        pytest.param((), "1 record sets published in example.com.", id="federation zone only"),
    ],
)
def test_published_names_the_zones_that_hold_the_records(aliases: tuple[str, ...], said: str) -> None:
    records = (RECORD, *(RecordSet(a, "CNAME", 180, (NAMES.global_name,)) for a in aliases))
    # Each zone on each provider answers (several: mirrors listed), the acme.com one with an empty share.
    mirrors = tuple(
        MirrorState(zone=zone, mirror="rfc2136", provider="rfc2136", state="Published", message="")
        for zone in ("example.com", "acme.com")
    )
    _, found = render_dns_status(
        names=NAMES,
        regions=["us-central1"],
        submitted=records,
        result=PublishResult(records, mirrors=mirrors),
        health=HealthSnapshot(()),
        previous=None,
    )
    assert (found.reason, found.message) == ("Published", said)
