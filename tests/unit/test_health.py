"""Shard health decided once: the health rules, the unreachable grace, DNS holds and the partition guard."""

from __future__ import annotations

from dataclasses import replace

import pytest

from federation_operator.domain.health import HealthSnapshot
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress, ObservedService
from federation_operator.planning.health import ShardObservation, plan_health, plan_shard_health

GRACE = 40.0
US, EU = "gce-us-central1", "gce-europe-west1"


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


def seen(info: ClusterInfo, *, healthy: bool = True, address: str = "127.1.1.1") -> ShardObservation:
    service = ObservedService(
        cluster=info.name,
        namespace="mynamespace",
        name="nginx",
        owner=("mynamespace", "nginx"),
        owner_uid="uid",
        manifest={},
        ingress=(Ingress(ip=address),),
    )
    endpoints = EndpointSummary(ready=1 if healthy else 0, zones=frozenset({f"{info.region}-a"}))
    return ShardObservation(cluster=info, observed=service, owned=True, in_sync=True, endpoints=endpoints)


def snapshot(
    *shards: ShardObservation,
    now: float = 100.0,
    expected: frozenset[str] = frozenset(),
    started_at: float | None = None,
) -> HealthSnapshot:
    return plan_health(
        shards,
        clusters=[s.cluster for s in shards],
        min_ready_endpoints=1,
        grace=GRACE,
        now=now,
        expected=expected,
        started_at=started_at,
    )


@pytest.mark.parametrize(
    ("shards", "counted", "hold", "recheck"),
    [
        pytest.param(
            [seen(cluster(US)), seen(cluster(EU), healthy=False)],
            {US},
            False,
            None,
            id="reachable-members-count-with-their-real-health",
        ),
        pytest.param(
            [seen(cluster(US)), seen(cluster(EU, ready=False, since=90.0))],
            {US, EU},
            False,
            30.0,
            id="unreachable-within-grace-keeps-last-known-health",
        ),
        pytest.param(
            [seen(cluster(US)), seen(cluster(EU, ready=False, since=50.0))],
            {US},
            False,
            None,
            id="unreachable-past-grace-is-withdrawn",
        ),
        pytest.param(
            [seen(cluster(US)), seen(cluster(EU, ready=False, since=90.0), healthy=False)],
            {US},
            False,
            30.0,
            id="unreachable-and-unhealthy-when-last-seen-is-not-counted",
        ),
        pytest.param(
            [seen(cluster(US)), seen(cluster(EU, synced=False))],
            {US},
            True,
            None,
            id="a-member-not-listed-yet-makes-dns-hold",
        ),
        pytest.param(
            [seen(cluster(US)), seen(cluster(EU, ready=False, since=None))],
            {US},
            True,
            None,
            id="a-member-never-probed-makes-dns-hold",
        ),
    ],
)
def test_which_shards_dns_counts(
    shards: list[ShardObservation], counted: set[str], hold: bool, recheck: float | None
) -> None:
    health = snapshot(*shards)
    assert {s.cluster for s in health.counted()} == counted
    assert health.hold is hold
    assert health.recheck_after == recheck
    assert not health.frozen


def test_an_unreachable_shard_is_unhealthy_in_the_status_while_dns_still_counts_it() -> None:
    shard = plan_shard_health(
        seen(cluster(EU, ready=False, since=90.0)), min_ready_endpoints=1, grace=GRACE, now=100.0
    )
    assert (shard.healthy, shard.reason, shard.synced, shard.counted) == (
        False,
        "ClusterNotReady",
        False,
        True,
    )
    # The last-known-healthy addresses DNS keeps publishing are the ones the status shows.
    assert shard.ingress == (Ingress(ip="127.1.1.1"),)
    assert shard.zones == ("europe-west1-a",)


def test_every_member_unreachable_at_once_freezes_dns() -> None:
    health = snapshot(seen(cluster(US, ready=False, since=10.0)), seen(cluster(EU, ready=False, since=10.0)))
    assert health.frozen
    assert not health.publishable
    # A single member going away is that member's problem, not a partition of ours.
    alone = snapshot(seen(cluster(US, ready=False, since=10.0)))
    assert not alone.frozen


def test_a_member_not_connected_yet_makes_dns_hold_until_the_grace_period_ends() -> None:
    early = snapshot(seen(cluster(US)), now=110.0, expected=frozenset({US, EU}), started_at=100.0)
    assert early.hold
    assert early.recheck_after == 30.0
    late = snapshot(seen(cluster(US)), now=150.0, expected=frozenset({US, EU}), started_at=100.0)
    assert not late.hold
    assert {s.cluster for s in late.counted()} == {US}


def test_a_shard_being_withdrawn_is_never_counted() -> None:
    leaving = replace(seen(cluster(US)), selected=False)
    shard = plan_shard_health(leaving, min_ready_endpoints=1, grace=GRACE, now=0.0)
    assert (shard.reason, shard.counted, shard.synced) == ("NotSelected", False, False)
