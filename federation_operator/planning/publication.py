"""From shards to DNS and back: which shards DNS may count, the records they make, and the DNS status.

Pure functions between the health snapshot and the publisher:
- `plan_dns_shards` decides, member by member, whether DNS may use a shard — including the grace period
  for unreachable members (their last known health stands for `grace` seconds) — and whether DNS must
  hold (some member's state is not known yet, so publishing now could withdraw healthy shards);
- `plan_service_records` turns the shards DNS may count into the geo-tiered record sets;
- `render_dns_status` turns the publisher's last result into `status.dns` and the `DNSPublished` condition.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from federation_operator.domain.members import ClusterInfo, Ingress
from federation_operator.domain.records import PublishResult, RecordSet, ServiceNames, ShardAddresses
from federation_operator.domain.status import DnsStatus, ShardStatus
from federation_operator.planning.records import plan_records, render_published

__all__ = [
    "DnsShards",
    "DnsVerdict",
    "plan_dns_shards",
    "plan_service_records",
    "plan_topology",
    "render_dns_status",
]


@dataclass(frozen=True)
class DnsShards:
    """The shards DNS may count now, whether DNS must hold, and when to look again."""

    healthy: tuple[ShardStatus, ...]
    hold: bool = False
    hold_reason: str = ""
    recheck_after: float | None = None  # seconds until a grace period ends


@dataclass(frozen=True)
class DnsVerdict:
    """The `DNSPublished` condition's content."""

    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str


def plan_topology(clusters: Iterable[ClusterInfo]) -> dict[str, frozenset[str]]:
    """Region → its zones, over every registered member (healthy or not): every name gets a record."""
    topology: dict[str, set[str]] = {}
    for cluster in clusters:
        topology.setdefault(cluster.region, set()).update(cluster.zones)
    return {region: frozenset(zones) for region, zones in topology.items()}


def plan_dns_shards(
    *,
    clusters: Sequence[ClusterInfo],
    shards: Sequence[ShardStatus],
    shards_if_reachable: Sequence[ShardStatus],
    grace: float,
    now: float,
    expected: Collection[str] = (),
    started_at: float | None = None,
) -> DnsShards:
    """Which shards count for DNS.

    `shards` are the shards as the status reports them; `shards_if_reachable` the same shards evaluated as
    if their member were reachable (from the last state its watches reported). A reachable, synced member
    counts with its real health. An unreachable member counts with its last known health until `grace`
    seconds after it became unreachable — unreachable is not unhealthy at once — and not at all after. A
    reachable member whose watches have not listed everything yet, or an unreachable one whose start of
    unreachability is unknown, makes DNS hold: publishing then could withdraw shards that are fine.

    `expected` names every MemberCluster that exists; one that has not connected yet (the operator just
    started, say) also makes DNS hold — for at most `grace` seconds after `started_at`, after which it counts
    as unreachable like any other.
    """
    by_cluster = {c.name: c for c in clusters}
    missing = sorted(set(expected) - set(by_cluster))
    if missing and started_at is not None and (waited := now - started_at) < grace:
        return DnsShards(
            (), hold=True, hold_reason=f"{missing[0]} has not connected yet", recheck_after=grace - waited
        )
    reachable_view = {s.cluster: s for s in shards_if_reachable}
    healthy: list[ShardStatus] = []
    recheck: float | None = None
    for shard in shards:
        cluster = by_cluster.get(shard.cluster)
        if cluster is None:
            continue
        if cluster.ready:
            if not cluster.synced:
                return DnsShards(
                    (), hold=True, hold_reason=f"{cluster.name} has not been read completely yet"
                )
            if shard.healthy:
                healthy.append(shard)
            continue
        if cluster.not_ready_since is None:
            return DnsShards((), hold=True, hold_reason=f"{cluster.name} has not been probed yet")
        remaining = grace - (now - cluster.not_ready_since)
        if remaining > 0:
            last_known = reachable_view.get(shard.cluster)
            if last_known is not None and last_known.healthy:
                healthy.append(last_known)
            recheck = remaining if recheck is None else min(recheck, remaining)
    return DnsShards(tuple(healthy), recheck_after=recheck)


def plan_service_records(
    *,
    names: ServiceNames,
    ttl: int,
    aliases: Sequence[str],
    clusters: Sequence[ClusterInfo],
    healthy: Sequence[ShardStatus],
) -> tuple[RecordSet, ...]:
    """The geo-tiered record sets of one FederatedService from the shards DNS may count."""
    addresses = [
        ShardAddresses.from_ingress(
            cluster=s.cluster,
            region=s.region or "",
            zones=s.zones,
            ingress=[Ingress(ip=i.ip, hostname=i.hostname) for i in s.ingress],
        )
        for s in healthy
        if s.region
    ]
    return plan_records(
        service=names.service,
        namespace=names.namespace,
        federation=names.federation,
        domain=names.domain,
        ttl=ttl,
        aliases=aliases,
        topology=plan_topology(clusters),
        healthy=addresses,
    )


def render_dns_status(
    *,
    names: ServiceNames,
    regions: Iterable[str],
    submitted: tuple[RecordSet, ...] | None,
    result: PublishResult | None,
    frozen: bool,
    hold_reason: str,
    previous: DnsStatus | None,
) -> tuple[DnsStatus | None, DnsVerdict]:
    """`status.dns` and the `DNSPublished` verdict from what the publisher reports for this object."""
    if frozen:
        return previous, DnsVerdict(
            "False",
            "PartitionGuard",
            "every member cluster is unreachable at once: this operator is probably the one cut off, so DNS "
            "is frozen as last published",
        )
    if submitted is None:
        return previous, DnsVerdict(
            "Unknown", "Pending", f"waiting: {hold_reason}" if hold_reason else "waiting"
        )
    if result is None or result.desired != submitted:
        return previous, DnsVerdict("Unknown", "Pending", "records planned, not applied yet")
    published = render_published(
        result.desired, names=names, regions=list(regions), conflicts=result.conflicts
    )
    status = DnsStatus(global_name=names.global_name, names=published)
    if result.error:
        return status, DnsVerdict("False", "ProviderError", result.error)
    if result.conflicts:
        clashes = ", ".join(f"{c.name} {c.type} ({c.reason})" for c in result.conflicts)
        return status, DnsVerdict(
            "False", "Conflict", f"records this operator does not own are in the way: {clashes}"
        )
    if not result.desired:
        return status, DnsVerdict("True", "NoHealthyShards", "no healthy shard: nothing is published")
    count = len([r for r in result.desired if r.type != "TXT"])
    return status, DnsVerdict("True", "Published", f"{count} record sets published in {names.domain}")
