"""Which shards DNS may count (grace period, holding), the records they make, and the DNS status verdicts."""

from __future__ import annotations

import pytest

from federation_operator.domain.members import ClusterInfo
from federation_operator.domain.records import Conflict, PublishResult, RecordSet, ServiceNames
from federation_operator.domain.status import IngressAddress, ShardStatus
from federation_operator.planning.publication import (
    plan_dns_shards,
    plan_service_records,
    plan_topology,
    render_dns_status,
)

NAMES = ServiceNames(
    service="nginx", namespace="mynamespace", federation="myfederation", domain="example.com"
)
GRACE = 40.0


def cluster(name: str, *, ready: bool = True, synced: bool = True, since: float | None = None) -> ClusterInfo:
    region = name.removeprefix("gce-")
    return ClusterInfo(
        name=name,
        region=region,
        zones=(f"{region}-a", f"{region}-b"),
        ready=ready,
        synced=synced,
        not_ready_since=since,
    )


def shard(name: str, *, healthy: bool, address: str) -> ShardStatus:
    region = name.removeprefix("gce-")
    return ShardStatus(
        cluster=name,
        region=region,
        zones=(f"{region}-a",),
        synced=True,
        ingress=(IngressAddress(ip=address),),
        ready_endpoints=1 if healthy else 0,
        healthy=healthy,
        reason="Healthy" if healthy else "ClusterNotReady",
    )


US, EU = "gce-us-central1", "gce-europe-west1"


@pytest.mark.parametrize(
    ("clusters", "shards", "reachable", "now", "counted", "hold", "recheck"),
    [
        pytest.param(
            [cluster(US), cluster(EU)],
            [shard(US, healthy=True, address="127.1.3.1"), shard(EU, healthy=False, address="127.1.2.1")],
            None,
            100.0,
            {US},
            False,
            None,
            id="reachable-members-count-with-their-real-health",
        ),
        pytest.param(
            [cluster(US), cluster(EU, ready=False, since=90.0)],
            [shard(US, healthy=True, address="127.1.3.1"), shard(EU, healthy=False, address="127.1.2.1")],
            [shard(US, healthy=True, address="127.1.3.1"), shard(EU, healthy=True, address="127.1.2.1")],
            100.0,
            {US, EU},
            False,
            30.0,
            id="unreachable-within-grace-keeps-last-known-health",
        ),
        pytest.param(
            [cluster(US), cluster(EU, ready=False, since=50.0)],
            [shard(US, healthy=True, address="127.1.3.1"), shard(EU, healthy=False, address="127.1.2.1")],
            [shard(US, healthy=True, address="127.1.3.1"), shard(EU, healthy=True, address="127.1.2.1")],
            100.0,
            {US},
            False,
            None,
            id="unreachable-past-grace-is-withdrawn",
        ),
        pytest.param(
            [cluster(US), cluster(EU, synced=False)],
            [shard(US, healthy=True, address="127.1.3.1"), shard(EU, healthy=False, address="127.1.2.1")],
            None,
            100.0,
            set(),
            True,
            None,
            id="a-member-not-listed-yet-makes-dns-hold",
        ),
        pytest.param(
            [cluster(US), cluster(EU, ready=False, since=None)],
            [shard(US, healthy=True, address="127.1.3.1"), shard(EU, healthy=False, address="127.1.2.1")],
            None,
            100.0,
            set(),
            True,
            None,
            id="a-member-never-probed-makes-dns-hold",
        ),
    ],
)
def test_plan_dns_shards(
    clusters: list[ClusterInfo],
    shards: list[ShardStatus],
    reachable: list[ShardStatus] | None,
    now: float,
    counted: set[str],
    hold: bool,
    recheck: float | None,
) -> None:
    result = plan_dns_shards(
        clusters=clusters, shards=shards, shards_if_reachable=reachable or shards, grace=GRACE, now=now
    )
    assert {s.cluster for s in result.healthy} == counted
    assert result.hold is hold
    assert result.recheck_after == recheck


def test_records_come_from_counted_shards_over_the_whole_topology() -> None:
    clusters = [cluster(US), cluster(EU)]
    records = plan_service_records(
        names=NAMES,
        ttl=180,
        aliases=(),
        clusters=clusters,
        healthy=[shard(US, healthy=True, address="127.1.3.1")],
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
        frozen=frozen,
        hold_reason="",
        previous=None,
    )
    assert (found.status, found.reason) == verdict
    if verdict[1] == "Published":
        assert status is not None
        assert status.global_name == NAMES.global_name
        assert [n.name for n in status.names] == [NAMES.global_name]


def test_a_member_not_connected_yet_makes_dns_hold_until_the_grace_period_ends() -> None:
    shards = [shard(US, healthy=True, address="127.1.3.1")]
    early = plan_dns_shards(
        clusters=[cluster(US)], shards=shards, shards_if_reachable=shards, grace=GRACE, now=110.0,
        expected={US, EU}, started_at=100.0,
    )  # fmt: skip
    assert early.hold
    assert early.recheck_after == 30.0
    late = plan_dns_shards(
        clusters=[cluster(US)], shards=shards, shards_if_reachable=shards, grace=GRACE, now=150.0,
        expected={US, EU}, started_at=100.0,
    )  # fmt: skip
    assert not late.hold
    assert {s.cluster for s in late.healthy} == {US}
