"""From shard health to DNS and back: the records the counted shards make, and the DNS status.

Pure functions between the health snapshot and the publisher:
- `plan_service_records` turns the shards DNS counts (:meth:`HealthSnapshot.counted`) into the geo-tiered
  record sets;
- `render_dns_status` turns the publisher's last result into `status.dns` and the `DNSPublished` verdict.

The verdict never says `Published` for records the publisher has not confirmed: after a drift check found
them changed by someone else it reports nothing for the owner until they are republished (`Pending`), and
while the provider cannot be read or refuses the operator it reports that fault (`ProviderError`, with the
provider's words, and a Warning event); when the provider refuses this owner's own records (a name or a set it
will not take) while others publish, it says so apart (`ProviderRejected`, with the provider's words), since
the fix is in this object or at its names, not in the provider's configuration; and while the provider has
accepted the records but not yet confirmed them live (Route 53 INSYNC, Cloud DNS done) it says `Pending`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from federation_operator.domain.health import HealthSnapshot, ShardHealth
from federation_operator.domain.members import ClusterInfo, Ingress
from federation_operator.domain.records import (
    ProviderLimits,
    PublishResult,
    RecordSet,
    ServiceNames,
    ShardAddresses,
    normalize_name,
)
from federation_operator.domain.specs import Alias, DnsPolicy
from federation_operator.domain.status import DnsMirrorStatus, DnsStatus
from federation_operator.planning.policy import (
    plan_failover_roles,
    plan_gcp_failover,
    plan_geo_places,
    plan_global_clusters,
    plan_latency_regions,
    plan_weights,
)
from federation_operator.planning.records import TierPlan, plan_tiers, render_published
from federation_operator.planning.status import DnsVerdict
from federation_operator.planning.zones import plan_zone_of

__all__ = [
    "Share",
    "plan_service_records",
    "plan_service_tiers",
    "plan_shard_addresses",
    "plan_shares",
    "plan_topology",
    "render_dns_status",
    "render_mirrors",
]


def plan_topology(clusters: Iterable[ClusterInfo]) -> dict[str, frozenset[str]]:
    """Region → its zones, over every registered member (healthy or not): every name gets a record."""
    topology: dict[str, set[str]] = {}
    for cluster in clusters:
        topology.setdefault(cluster.region, set()).update(cluster.zones)
    return {region: frozenset(zones) for region, zones in topology.items()}


Share = tuple[str, str, tuple[str, ...], tuple[Ingress, ...]]
"""What a counted shard's DNS addresses are made of: its cluster, region, zones and ingress."""


def plan_shares(counted: Iterable[ShardHealth]) -> tuple[Share, ...]:
    """The shares of the counted shards that DNS places (those with a region), in their order."""
    return tuple((s.cluster, s.region, s.zones, s.ingress) for s in counted if s.region)


def plan_shard_addresses(
    shares: Iterable[Share], reuse: Mapping[Share, ShardAddresses] | None = None
) -> tuple[ShardAddresses, ...]:
    """What each share contributes to DNS, as the tiers take it; ``reuse``: shares and their addresses made
    before (the object's last plan), taken for an equal share instead of parsing its ingress again."""
    return tuple(
        (reuse.get(share) if reuse else None)
        or ShardAddresses.from_ingress(cluster=share[0], region=share[1], zones=share[2], ingress=share[3])
        for share in shares
    )


def plan_service_records(
    *,
    names: ServiceNames,
    ttl: int,
    aliases: Sequence[str | Alias],
    clusters: Sequence[ClusterInfo],
    counted: Sequence[ShardHealth],
    limits: ProviderLimits = ProviderLimits(),  # noqa: B008 (frozen, so one shared default is safe)
    policy: DnsPolicy | None = None,
) -> tuple[RecordSet, ...]:
    """The geo-tiered record sets of one FederatedService from the shards DNS counts."""
    return plan_service_tiers(
        names=names,
        ttl=ttl,
        aliases=aliases,
        clusters=clusters,
        counted=counted,
        limits=limits,
        policy=policy,
    ).records


def plan_service_tiers(
    *,
    names: ServiceNames,
    ttl: int,
    aliases: Sequence[str | Alias],
    clusters: Sequence[ClusterInfo],
    counted: Sequence[ShardHealth],
    limits: ProviderLimits = ProviderLimits(),  # noqa: B008 (frozen, so one shared default is safe)
    policy: DnsPolicy | None = None,
    reuse: Iterable[RecordSet] = (),
    addresses: Sequence[ShardAddresses] | None = None,
) -> TierPlan:
    """The geo-tiered record sets of one FederatedService from the shards DNS counts, within the provider's
    ``limits``, with the notes of what a tier leaves out (:func:`plan_tiers`); under a ``failover``
    ``policy`` the global name answers the first group with a healthy shard, and a note says which while it
    is not the first; with ``healthCheck``, that group is the provider's primary and the next one its
    standby (:func:`plan_failover_roles`). ``reuse``: the object's last records (:func:`plan_tiers`);
    ``addresses``: the counted shards' addresses when the caller has them (:func:`plan_shard_addresses`)."""
    if addresses is None:
        addresses = plan_shard_addresses(plan_shares(counted))
    answering, group = plan_global_clusters(policy, clusters, addresses)
    roles = plan_failover_roles(policy, clusters, addresses, aliases=limits.hostname_aliases)
    kind = policy.type if policy is not None else "tiered"
    weights = plan_weights(policy, clusters) if policy is not None and kind == "weighted" else None
    regions = plan_latency_regions(policy, clusters) if policy is not None and kind == "latency" else None
    places = (
        plan_geo_places(policy, clusters, gcp_regions=limits.geo_by_gcp_region)
        if policy is not None and kind == "geolocation"
        else None
    )
    plan = plan_tiers(
        names=names,
        ttl=ttl,
        aliases=aliases,
        topology=plan_topology(clusters),
        healthy=addresses,
        max_values=limits.max_values_per_set,
        hostname_aliases=limits.hostname_aliases,
        global_clusters=answering,
        global_weights=weights,
        global_regions=regions,
        global_places=places,
        global_roles=roles,
        group_in_one_set=limits.group_in_one_set,
        geo_by_gcp_region=limits.geo_by_gcp_region,
        global_health_check=(
            policy.health_check.to_health_check() if policy is not None and policy.health_check else None
        ),
        global_gcp_failover=plan_gcp_failover(policy, clusters, roles),
        reuse=reuse,
    )
    if group and answering:
        note = (
            f"failover: {names.global_name} answers group {group + 1} ({', '.join(sorted(answering))}), "
            "no earlier group has a healthy shard"
        )
        plan = replace(plan, notes=(note, *plan.notes))
    return plan


def render_dns_status(
    *,
    names: ServiceNames,
    regions: Iterable[str],
    submitted: tuple[RecordSet, ...] | None,
    result: PublishResult | None,
    health: HealthSnapshot,
    previous: DnsStatus | None,
    notes: Sequence[str] = (),
    inherited: DnsVerdict | None = None,
) -> tuple[DnsStatus | None, DnsVerdict]:
    """`status.dns` and the `DNSPublished` verdict from what the publisher reports for this object
    (``submitted``: the records handed to it now, None when the snapshot let none be planned; ``notes``:
    what the tiers leave out, :attr:`TierPlan.notes`, added to the `Published` message; ``inherited``: the
    verdict the status holds for the object's current generation, written by this operator or one before
    it).

    While the publisher has not answered for the object at all (``result`` None: this operator has just
    started, and its publisher is still reading the zone), an inherited `Published` verdict stands if the
    records planned now are the ones the status lists as published: a `Pending` would turn back into the same
    `Published` a moment later, two status writes and an event for every object at each restart or
    failover of the operator."""
    if health.frozen:
        return previous, DnsVerdict(
            "False",
            "PartitionGuard",
            "every member cluster is unreachable at once: this operator is probably the one cut off, so DNS "
            "is frozen as last published",
        )
    if submitted is None:
        return previous, DnsVerdict(
            "Unknown", "Pending", f"waiting: {health.hold_reason}" if health.hold_reason else "waiting"
        )
    if result is None and _still_published(inherited, previous, submitted, names, regions):
        assert inherited is not None
        return previous, inherited
    if result is None or result.desired != submitted:
        return previous, DnsVerdict("Unknown", "Pending", "records planned, not applied yet")
    mirrors = render_mirrors(result)
    if result.error:
        # The zone cannot be read or written (or refused these records): what it holds is unknown, so
        # status.dns keeps what was last seen published rather than listing what was merely asked for
        # (beside each mirror's own state, with several).
        reason = "ProviderRejected" if result.rejected else "ProviderError"
        return _with_mirrors(previous, names, mirrors), DnsVerdict("False", reason, result.error)
    if result.unconfirmed:
        # Sent and accepted, not yet live everywhere: Published would claim what the provider has not said.
        return _with_mirrors(previous, names, mirrors), DnsVerdict(
            "Unknown", "Pending", f"the DNS provider has not confirmed the change yet: {result.unconfirmed}"
        )
    published = render_published(
        result.desired, names=names, regions=list(regions), conflicts=result.conflicts
    )
    status = DnsStatus(global_name=names.global_name, names=published, mirrors=mirrors)
    if result.conflicts:
        clashes = ", ".join(f"{c.name} {c.type} ({c.reason})" for c in result.conflicts)
        return status, DnsVerdict(
            "False", "Conflict", f"records this operator does not own are in the way: {clashes}"
        )
    if not result.desired:
        return status, DnsVerdict("True", "NoHealthyShards", "no healthy shard: nothing is published")
    count = len([r for r in result.desired if r.type != "TXT"])
    # With several zones: the zones that hold some of them (each mirror of a zone holds the same).
    managed = [normalize_name(m.zone) for m in result.mirrors]
    holding = dict.fromkeys(plan_zone_of(r.name, managed) for r in result.desired if r.type != "TXT")
    zones = [zone for zone in holding if zone is not None] or [names.domain]
    message = f"{count} record sets published in {', '.join(zones)}"
    if notes:
        message += f"; {'; '.join(notes)}"
    return status, DnsVerdict("True", "Published", message)


def _still_published(
    inherited: DnsVerdict | None,
    previous: DnsStatus | None,
    submitted: tuple[RecordSet, ...],
    names: ServiceNames,
    regions: Iterable[str],
) -> bool:
    """The status says ``submitted`` are published: an inherited `Published` verdict, and the names it lists
    are what ``submitted`` publishes."""
    if inherited is None or inherited.status != "True" or inherited.reason != "Published" or previous is None:
        return False
    return previous.names == render_published(submitted, names=names, regions=list(regions))


def render_mirrors(result: PublishResult) -> tuple[DnsMirrorStatus, ...]:
    """Each zone's and mirror's state for `status.dns.mirrors` (none with one zone on one provider)."""
    return tuple(
        DnsMirrorStatus(
            zone=m.zone, mirror=m.mirror, provider=m.provider, state=m.state, message=m.message or None
        )
        for m in result.mirrors
    )


def _with_mirrors(
    previous: DnsStatus | None, names: ServiceNames, mirrors: tuple[DnsMirrorStatus, ...]
) -> DnsStatus | None:
    if not mirrors:
        return previous
    base = previous or DnsStatus(global_name=names.global_name)
    return base.model_copy(update={"mirrors": mirrors})
