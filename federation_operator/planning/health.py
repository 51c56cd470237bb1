"""Shard health, decided once: the health rules, the unreachable grace period and the partition guard.

:func:`plan_health` turns what was observed of each shard into a :class:`ShardHealth` and the federation's
:class:`HealthSnapshot`. Both the status and the DNS records are rendered from that snapshot, nothing else
judges health.

Why a grace period: a member that stops answering its probes may be partitioned from us rather than down,
and its shards may still serve their clients; withdrawing them at once would turn a blip of our own
connectivity into an outage. So for ``grace`` seconds DNS keeps counting a shard as it was last seen, then
drops it. Why the partition guard: when every member stops answering at the same moment, the likely cause
is that the operator is cut off, not that the whole federation failed; DNS is frozen as last published.

Why the grace clock stops while the guard holds: during a partition nothing can be learned about any
member, so that time is not held against them. When the partition ends the members come back one by one
(the first one's return lifts the guard); a member still away, or back but not yet re-listed, has the rest
of the grace period it had when the partition began — not a period that ran out while we were cut off
(which would withdraw its shards the moment the first member returned, and re-add them a moment later).
A member whose grace had already run out before the partition began stays withdrawn.
:func:`plan_partition` keeps track of the latest partition (the member registry calls it on every change
of a member's readiness); :func:`plan_health` takes it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from federation_operator.domain.health import (
    REASON_CLUSTER_NOT_READY,
    REASON_CONFLICT,
    REASON_HEALTHY,
    REASON_NO_LOAD_BALANCER_INGRESS,
    REASON_NOT_ENOUGH_READY_ENDPOINTS,
    REASON_NOT_SELECTED,
    REASON_OUT_OF_SYNC,
    REASON_PENDING,
    REASON_REJECTED,
    REASON_SERVICE_MISSING,
    HealthSnapshot,
    ShardHealth,
)
from federation_operator.domain.members import ClusterInfo, EndpointSummary, ObservedService

__all__ = [
    "Partition",
    "ShardObservation",
    "is_partitioned",
    "plan_health",
    "plan_partition",
    "plan_shard_health",
    "unreachable_for",
]


@dataclass(frozen=True)
class Partition:
    """The latest partition: every connected member (two or more) unreachable at once.

    ``started_at``: when the last member still reachable stopped answering; ``ended_at``: when one answered
    again (None while it lasts). Both ``time.monotonic()``, like a member's ``not_ready_since``. The default
    value is "no partition seen".
    """

    started_at: float | None = None
    ended_at: float | None = None

    @property
    def ongoing(self) -> bool:
        return self.started_at is not None and self.ended_at is None


def is_partitioned(clusters: Collection[ClusterInfo]) -> bool:
    """The partition guard's condition: two or more members connected, and not one of them reachable."""
    return len(clusters) >= 2 and not any(c.ready for c in clusters)


def plan_partition(previous: Partition, clusters: Collection[ClusterInfo], now: float) -> Partition:
    """The latest partition after the members changed to ``clusters`` at ``now``."""
    partitioned = is_partitioned(clusters)
    if partitioned and not previous.ongoing:
        return Partition(started_at=now)
    if not partitioned and previous.ongoing:
        return replace(previous, ended_at=now)
    return previous


def unreachable_for(cluster: ClusterInfo, now: float, partition: Partition = Partition()) -> float:
    """Seconds ``cluster`` has been unreachable that count toward its grace period: since its
    ``not_ready_since``, less the time a partition lasted meanwhile (0 for a reachable member)."""
    since = cluster.not_ready_since
    if cluster.ready or since is None:
        return 0.0
    elapsed = now - since
    if partition.started_at is not None:
        end = now if partition.ended_at is None else min(partition.ended_at, now)
        elapsed -= max(0.0, end - max(partition.started_at, since))
    return elapsed


@dataclass(frozen=True)
class ShardObservation:
    """What one reconcile knows of the shard in ``cluster``.

    ``owned``: the Service at our name is ours; ``in_sync``: it matches the desired manifest (as this
    reconcile's write left it, or as the member's cache shows it when no write was made); ``problem``: the
    error of this reconcile's write, added to the shard's message; ``rejected``: that error is the member's
    refusal of the Service itself (not a passing failure), so it is the shard's reason. ``selected`` is
    False while the Service is being removed from a cluster placement no longer selects.
    """

    cluster: ClusterInfo
    observed: ObservedService | None
    owned: bool
    in_sync: bool
    endpoints: EndpointSummary | None
    problem: str | None = None
    selected: bool = True
    rejected: bool = False


def plan_shard_health(
    shard: ShardObservation,
    *,
    min_ready_endpoints: int,
    grace: float,
    now: float,
    partition: Partition = Partition(),
) -> ShardHealth:
    """The shard's health now and whether DNS counts it (``now``: ``time.monotonic()``, like the member's
    ``not_ready_since``; ``partition``: the latest, whose time does not count toward the grace period)."""
    cluster = shard.cluster
    ours = shard.observed is not None and shard.owned
    ingress = shard.observed.ingress if ours and shard.observed is not None else ()
    endpoints = shard.endpoints if ours else None
    ready = endpoints.ready if endpoints is not None else 0
    if ready > 0 and endpoints is not None and endpoints.zones:
        zones = tuple(sorted(endpoints.zones))
    else:
        zones = tuple(sorted(set(cluster.zones)))
    listed = cluster.ready and cluster.synced
    reason, message = _verdict(
        shard, ours=ours, in_sync=shard.in_sync and listed, ready=ready, need=min_ready_endpoints
    )
    healthy = reason == REASON_HEALTHY
    counted = healthy and shard.selected
    if not cluster.ready and shard.selected and cluster.not_ready_since is not None:
        # As it was when its member last answered, for the grace period. A spec changed since then could
        # not reach it, so "out of sync" is no verdict on it: its Service serves as it did (otherwise a
        # template edited during an outage or a partition withdraws every shard still away at once).
        reachable = replace(shard, cluster=replace(cluster, ready=True, synced=True))
        last_known, _ = _verdict(reachable, ours=ours, in_sync=True, ready=ready, need=min_ready_endpoints)
        counted = last_known == REASON_HEALTHY and _grace_left(cluster, grace, now, partition) > 0
    if shard.problem and not shard.rejected:
        message = f"{message}; {shard.problem}"
    return ShardHealth(
        cluster=cluster.name,
        region=cluster.region,
        zones=zones,
        selected=shard.selected,
        synced=shard.selected and ours and shard.in_sync and listed,
        ingress=tuple(ingress),
        ready_endpoints=ready,
        healthy=healthy,
        reason=reason,
        message=message,
        counted=counted,
    )


def plan_health(
    shards: Sequence[ShardObservation],
    *,
    clusters: Sequence[ClusterInfo],
    min_ready_endpoints: int,
    grace: float,
    now: float,
    expected: Collection[str] = (),
    started_at: float | None = None,
    partition: Partition = Partition(),
) -> HealthSnapshot:
    """Every shard's health, and whether DNS may be planned from them.

    ``clusters`` are the connected members; ``expected`` names every MemberCluster that exists. DNS holds
    while a member that exists has not connected yet (the operator just started, say) — for at most
    ``grace`` seconds after ``started_at`` — and while a connected member has not been listed or probed
    yet. It is frozen (partition guard) when two or more members are connected and none is reachable;
    ``partition`` (the latest, from :func:`plan_partition`) does not count toward any grace period.
    """
    planned = tuple(
        plan_shard_health(
            s, min_ready_endpoints=min_ready_endpoints, grace=grace, now=now, partition=partition
        )
        for s in shards
    )
    frozen = is_partitioned(clusters)
    hold_reason, recheck = _hold(
        shards,
        clusters,
        grace=grace,
        now=now,
        expected=expected,
        started_at=started_at,
        partition=partition,
    )
    return HealthSnapshot(planned, frozen=frozen, hold_reason=hold_reason, recheck_after=recheck)


def _hold(
    shards: Sequence[ShardObservation],
    clusters: Sequence[ClusterInfo],
    *,
    grace: float,
    now: float,
    expected: Collection[str],
    started_at: float | None,
    partition: Partition,
) -> tuple[str, float | None]:
    """Why DNS must wait (or ""), and when a grace period ends."""
    missing = sorted(set(expected) - {c.name for c in clusters})
    if missing and started_at is not None and (waited := now - started_at) < grace:
        return f"{missing[0]} has not connected yet", grace - waited
    recheck: float | None = None
    for shard in shards:
        cluster = shard.cluster
        if not shard.selected:
            continue
        if cluster.ready and not cluster.synced:
            return f"{cluster.name} has not been read completely yet", None
        if cluster.ready:
            continue
        if cluster.not_ready_since is None:
            return f"{cluster.name} has not been probed yet", None
        remaining = _grace_left(cluster, grace, now, partition)
        if remaining > 0:
            recheck = remaining if recheck is None else min(recheck, remaining)
    return "", recheck


def _grace_left(cluster: ClusterInfo, grace: float, now: float, partition: Partition) -> float:
    """Seconds until an unreachable member's shards stop counting (<= 0: they no longer do)."""
    assert cluster.not_ready_since is not None
    return grace - unreachable_for(cluster, now, partition)


def _verdict(shard: ShardObservation, *, ours: bool, in_sync: bool, ready: int, need: int) -> tuple[str, str]:
    """The first health rule that fails, as (reason, message); (Healthy, endpoint count) when none does."""
    cluster, observed = shard.cluster, shard.observed
    where = f"in cluster {cluster.name}"
    if not shard.selected:
        return (
            REASON_NOT_SELECTED,
            f"cluster {cluster.name} is no longer selected; its Service is being removed",
        )
    if not cluster.ready:
        return REASON_CLUSTER_NOT_READY, f"cluster {cluster.name} is not Ready"
    if shard.rejected and shard.problem:
        return REASON_REJECTED, shard.problem
    if observed is None:
        if not cluster.synced:
            return REASON_PENDING, f"waiting for the first list of Services {where}"
        return REASON_SERVICE_MISSING, f"the Service does not exist {where} yet"
    if not ours:
        return REASON_CONFLICT, (
            f"Service {observed.namespace}/{observed.name} {where} is not managed by this FederatedService"
        )
    if not in_sync:
        return REASON_OUT_OF_SYNC, f"the Service {where} differs from the desired spec"
    if not any(point.ip or point.hostname for point in observed.ingress):
        return REASON_NO_LOAD_BALANCER_INGRESS, f"the Service {where} has no LoadBalancer ingress yet"
    counted = f"{ready} ready endpoint{'' if ready == 1 else 's'}"
    if ready < need:
        return REASON_NOT_ENOUGH_READY_ENDPOINTS, f"{counted}, {need} required"
    return REASON_HEALTHY, counted
