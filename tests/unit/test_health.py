"""Shard health decided once: the health rules, the unreachable grace, DNS holds and the partition guard,
and the end of a partition: its time does not count toward any member's grace period."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.domain.health import HealthSnapshot
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress, ObservedService
from federation_operator.planning.health import (
    Partition,
    ShardObservation,
    plan_health,
    plan_partition,
    plan_shard_health,
    unreachable_for,
)

GRACE = 40.0
US, EU = "gce-us-central1", "gce-europe-west1"
NO_PARTITION = Partition()


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
    partition: Partition = NO_PARTITION,
) -> HealthSnapshot:
    return plan_health(
        shards,
        clusters=[s.cluster for s in shards],
        min_ready_endpoints=1,
        grace=GRACE,
        now=now,
        expected=expected,
        started_at=started_at,
        partition=partition,
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


# --- the end of a partition ---------------------------------------------------------------------------------

AS, US_EAST = "gce-asia-east1", "gce-us-east1"


@pytest.mark.parametrize(
    ("previous", "ready", "now", "expected"),
    [
        pytest.param(Partition(), [True, True], 5.0, Partition(), id="all-reachable-no-partition"),
        pytest.param(Partition(), [True, False], 5.0, Partition(), id="one-member-down-is-no-partition"),
        pytest.param(Partition(), [False, False], 5.0, Partition(started_at=5.0), id="all-down-starts-one"),
        pytest.param(
            Partition(started_at=5.0), [False, False], 9.0, Partition(started_at=5.0), id="it-lasts"
        ),
        pytest.param(
            Partition(started_at=5.0),
            [True, False],
            60.0,
            Partition(5.0, 60.0),
            id="first-member-back-ends-it",
        ),
        pytest.param(Partition(5.0, 60.0), [True, False], 70.0, Partition(5.0, 60.0), id="ended-stays-ended"),
        pytest.param(
            Partition(5.0, 60.0), [False, False], 80.0, Partition(started_at=80.0), id="a-new-one-replaces-it"
        ),
        pytest.param(Partition(), [False], 5.0, Partition(), id="a-lone-member-is-never-a-partition"),
    ],
)
def test_the_latest_partition_is_tracked_from_the_members_readiness(
    previous: Partition, ready: list[bool], now: float, expected: Partition
) -> None:
    clusters = [
        cluster(name, ready=r, since=None if r else 1.0)
        for name, r in zip((US, EU)[: len(ready)], ready, strict=True)
    ]
    assert plan_partition(previous, clusters, now) == expected


@pytest.mark.parametrize(
    ("since", "partition", "now", "elapsed"),
    [
        pytest.param(90.0, Partition(), 100.0, 10.0, id="no-partition"),
        pytest.param(0.0, Partition(started_at=5.0), 100.0, 5.0, id="the-clock-stops-during-a-partition"),
        pytest.param(0.0, Partition(5.0, 60.0), 70.0, 15.0, id="and-runs-again-after-it"),
        pytest.param(70.0, Partition(5.0, 60.0), 100.0, 30.0, id="down-after-the-partition"),
        pytest.param(-50.0, Partition(5.0, 60.0), 70.0, 65.0, id="down-long-before-it"),
        pytest.param(30.0, Partition(5.0, 60.0), 70.0, 10.0, id="down-during-it"),
    ],
)
def test_partition_time_does_not_count_toward_the_grace_period(
    since: float, partition: Partition, now: float, elapsed: float
) -> None:
    assert unreachable_for(cluster(EU, ready=False, since=since), now, partition) == elapsed


def test_the_end_of_a_partition_withdraws_no_member_still_away() -> None:
    """Every member down at once for 100 s (far past the 40 s grace); the first one back lifts the guard.
    The others, not back yet, keep their shards in DNS for the grace they had left, not a moment less."""
    partition = Partition(started_at=2.0, ended_at=100.0)
    back = seen(cluster(US))
    away = [
        seen(cluster(name, ready=False, since=0.0), address=f"127.{i}.0.1") for i, name in enumerate((EU, AS))
    ]
    right_after = snapshot(back, *away, now=101.0, partition=partition)
    assert not right_after.frozen
    assert {s.cluster for s in right_after.counted()} == {US, EU, AS}
    # 2 s of grace used before the partition began, 1 s after it: rechecked once the rest has run out.
    assert right_after.recheck_after == pytest.approx(GRACE - 3.0)
    # Without the partition's record, the same moment would have withdrawn both (the flap this prevents).
    assert {s.cluster for s in snapshot(back, *away, now=101.0).counted()} == {US}
    # A member that never comes back is withdrawn once its grace has run out after all.
    later = snapshot(back, *away, now=100.0 + GRACE - 1.0, partition=partition)
    assert {s.cluster for s in later.counted()} == {US}


def test_a_member_past_its_grace_before_the_partition_stays_withdrawn() -> None:
    partition = Partition(started_at=100.0, ended_at=200.0)
    long_gone = seen(cluster(EU, ready=False, since=0.0))
    health = snapshot(seen(cluster(US)), long_gone, now=201.0, partition=partition)
    assert {s.cluster for s in health.counted()} == {US}


def test_a_member_back_but_not_listed_again_holds_dns_rather_than_counting_as_empty() -> None:
    """Reconnected (a new connection: its cache is empty until both watches have listed): never planned as
    a member holding no Services."""
    relisting = ShardObservation(
        cluster=cluster(EU, synced=False), observed=None, owned=False, in_sync=False, endpoints=None
    )
    health = snapshot(seen(cluster(US)), relisting, now=101.0, partition=Partition(2.0, 100.0))
    assert health.hold
    assert not health.publishable


times = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


@given(since=times, start=times, length=times, after=times)
def test_the_grace_clock_stops_exactly_while_the_partition_lasts(
    since: float, start: float, length: float, after: float
) -> None:
    member = cluster(EU, ready=False, since=since)
    ended = Partition(start, start + length)
    now = max(since, start + length) + after
    elapsed = unreachable_for(member, now, ended)
    assert 0.0 <= elapsed <= now - since + 1e-6
    if since <= start:
        # Unreachable when the partition began: at its end, exactly as much grace is used as at its start.
        assert unreachable_for(member, start + length, ended) == pytest.approx(start - since, abs=1e-6)


def test_a_spec_changed_while_a_member_is_away_does_not_withdraw_its_shards() -> None:
    """The member could not receive the change: within its grace it counts as it was last seen, also
    when the partition that kept it away has just ended."""
    away = replace(seen(cluster(EU, ready=False, since=0.0)), in_sync=False)
    health = snapshot(seen(cluster(US)), away, now=101.0, partition=Partition(2.0, 100.0))
    assert {s.cluster for s in health.counted()} == {US, EU}
    # Once it answers again and still differs, it is out of sync like any other shard.
    back = replace(seen(cluster(EU)), in_sync=False)
    assert {s.cluster for s in snapshot(seen(cluster(US)), back).counted()} == {US}
