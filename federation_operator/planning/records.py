"""The geo-tiered DNS records of one FederatedService, from its healthy shards: pure code, no I/O.

The layout is the seed article's (Federation v1 federated services). For service ``nginx`` in namespace
``mynamespace``, federation ``myfederation`` and domain ``example.com``:

- global: ``nginx.mynamespace.myfederation.svc.example.com.`` holds every healthy shard;
- region: ``nginx.mynamespace.myfederation.svc.us-central1.example.com.`` holds the region's healthy shards,
  else is a CNAME to the global name;
- zone: ``nginx.mynamespace.myfederation.svc.us-central1-a.example.com.`` holds the healthy shards serving
  the zone, else is a CNAME to its region's name;
- alias: each of ``spec.dns.aliases`` (say ``nginx.acme.com.``) is a CNAME to the global name, or to the
  region's or zone's name it names (``eu.nginx.acme.com.`` → the ``europe-west1`` name): it follows that
  tier's fallback.

So a client resolving its own zone's name follows CNAMEs up to the nearest tier that has a healthy shard.
:func:`plan_records` spells out the rules; :func:`render_published` turns records into the status's list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from federation_operator.domain.elb import elb_hosted_zone
from federation_operator.domain.gcp_failover import GcpFailover, with_gcp_health_check, with_gcp_location
from federation_operator.domain.health_checks import HealthCheck, with_health_check
from federation_operator.domain.records import (
    ALIAS,
    FAILOVER,
    GEO,
    LATENCY,
    WEIGHTED,
    Conflict,
    RecordSet,
    RecordType,
    ServiceNames,
    ShardAddresses,
    failover_set_identifier,
    failover_value,
    geo_set_identifier,
    geo_value,
    latency_set_identifier,
    latency_value,
    normalize_name,
    share_hostname,
    split_failover_values,
    split_geo_values,
    split_latency_values,
    split_weighted_values,
    weighted_set_identifier,
    weighted_value,
)
from federation_operator.domain.specs import Alias
from federation_operator.domain.status import PublishedRecord

__all__ = ["TierPlan", "plan_alias_tier_problems", "plan_records", "plan_tiers", "render_published"]

Tier = Literal["global", "region", "zone", "alias"]
_TIER_ORDER: Mapping[Tier, int] = {"global": 0, "region": 1, "zone": 2, "alias": 3}


_Key = TypeVar("_Key", int, str)


@dataclass(frozen=True)
class TierPlan:
    """The record sets of one FederatedService, and what they leave out, said for its status."""

    records: tuple[RecordSet, ...]
    notes: tuple[str, ...] = ()
    """One sentence per tier that publishes fewer targets than it has healthy shards for, in tier order
    (global, regions, zones): over the provider's values per record set, or hostnames a CNAME cannot all
    hold."""
    unanswered: frozenset[str] = frozenset()
    """The clusters whose healthy shards the global name's routing-policy group leaves out (reached by
    hostnames the provider cannot alias, or a load balancer whose region or location already has a set), so
    that the status does not call them answering."""


def plan_records(
    *,
    names: ServiceNames,
    ttl: int,
    aliases: Sequence[str | Alias],
    topology: Mapping[str, frozenset[str]],
    healthy: Sequence[ShardAddresses],
    max_values: int | None = None,
    hostname_aliases: bool = False,
    global_clusters: frozenset[str] | None = None,
    global_weights: Mapping[str, int] | None = None,
    global_regions: Mapping[str, str] | None = None,
    global_places: Mapping[str, str] | None = None,
    global_roles: Mapping[str, str] | None = None,
    group_in_one_set: bool = False,
    geo_by_gcp_region: bool = False,
    global_health_check: HealthCheck | None = None,
    global_gcp_failover: GcpFailover | None = None,
) -> tuple[RecordSet, ...]:
    """The record sets of :func:`plan_tiers`, without its notes."""
    return plan_tiers(
        names=names,
        ttl=ttl,
        aliases=aliases,
        topology=topology,
        healthy=healthy,
        max_values=max_values,
        hostname_aliases=hostname_aliases,
        global_clusters=global_clusters,
        global_weights=global_weights,
        global_regions=global_regions,
        global_places=global_places,
        global_roles=global_roles,
        group_in_one_set=group_in_one_set,
        geo_by_gcp_region=geo_by_gcp_region,
        global_health_check=global_health_check,
        global_gcp_failover=global_gcp_failover,
    ).records


def plan_tiers(
    *,
    names: ServiceNames,
    ttl: int,
    aliases: Sequence[str | Alias],
    topology: Mapping[str, frozenset[str]],
    healthy: Sequence[ShardAddresses],
    max_values: int | None = None,
    hostname_aliases: bool = False,
    global_clusters: frozenset[str] | None = None,
    global_weights: Mapping[str, int] | None = None,
    global_regions: Mapping[str, str] | None = None,
    global_places: Mapping[str, str] | None = None,
    global_roles: Mapping[str, str] | None = None,
    group_in_one_set: bool = False,
    geo_by_gcp_region: bool = False,
    global_health_check: HealthCheck | None = None,
    global_gcp_failover: GcpFailover | None = None,
    reuse: Iterable[RecordSet] = (),
) -> TierPlan:
    """The record sets to publish for one FederatedService, sorted, all with ``ttl``.

    ``reuse``: record sets planned before (the object's last plan); an A, AAAA or CNAME record set planned
    again equal to one of them is that one, not a new equal one (each new record set parses its addresses).

    ``topology`` maps every region of the federation's member clusters (healthy or not) to its zones, so
    that every region and zone name exists and a client can always resolve its local name. ``healthy`` holds
    the healthy shards only.

    Rules, where the design's table is silent:

    - **Nothing healthy, nothing published.** While no healthy shard has an address, the result is empty: no
      global record, and no region, zone or alias CNAMEs either, as they would only point at a name with
      no answer. The owner's plan then deletes whatever was published before.
    - **Whenever any shard is healthy, every zone name resolves** (through at most two CNAMEs) to a non-empty
      answer: its own shards, else its region's, else the global name's.
    - **IP ingress** gives A and AAAA record sets (both at one name when a tier has both families; an
      IPv6-only tier has an AAAA record set alone).
    - **The provider's limit** (``max_values``, values per record set: 100 on BIND and Cloud DNS): a family
      with more healthy addresses publishes the lowest ones (by address: deterministic, so the subset only
      changes when health does, and never more than the limit), and a note says how many of how many.
    - **Hostname ingress** (an AWS ELB's) is never resolved to addresses, which would go stale. A tier whose
      healthy shards are reached by hostnames only becomes a CNAME to one of them; a CNAME holds a single
      target, so it is the lexicographically first hostname of the tier (deterministic, so plans stay
      stable while health does), and a note names the hostnames left out. A tier mixing IP and hostname
      shards publishes the IPs (a CNAME cannot sit beside A records, and the IPs already give clients healthy
      answers) and a note names the hostnames left out, unless the provider has alias records (below). A
      shard with both an IP and a hostname counts as an IP shard. No shard is ever dropped without its
      tier's note saying so.
    - **Alias records** (``hostname_aliases``: Route 53). A tier whose healthy shards are reached by AWS load
      balancer hostnames only is one :data:`ALIAS` record set of every such hostname (Route 53 answers with
      their addresses, weighted equally), so no shard is left out; hostnames that are no known load balancer
      (:func:`~federation_operator.domain.elb.elb_hosted_zone`) are named in a note, and a tier with none
      falls back to the CNAME above. A tier **mixing** IP and load balancer shards keeps them all: its IPv4
      addresses join the :data:`ALIAS` record set (with the tier's TTL; Route 53 writes them as one weighted
      A record set beside the weighted aliases, every record set of a name and type sharing one routing
      policy), and its IPv6 addresses stay an AAAA record set (another type, so no weighted group).
    - **A policy at the global name** (``global_clusters``, from ``spec.dns.policy``:
      :mod:`federation_operator.planning.policy`): the global name answers only the healthy shards of those
      clusters; region and zone names still answer their own healthy shards. None: every healthy shard.
      ``global_weights`` (cluster → weight, the ``weighted`` policy, on providers with weighted routing)
      makes the global name's IPv4 answers one :data:`WEIGHTED` record set, a set per cluster with its
      weight (a cluster left out weighs 1); its IPv6 addresses stay a plain AAAA record set, and shards
      reached by hostnames only are left out, said in a note (a tier with no IPv4 shard is planned as
      ``tiered``). ``global_regions`` (cluster → the AWS region it is nearest to, the ``latency`` policy)
      likewise makes them one :data:`LATENCY` record set, a set per AWS region (a cluster without a region
      is left out, said in a note), and ``global_places`` (cluster → ``country:XX`` or ``continent:XX``, the
      ``geolocation`` policy) one :data:`GEO` record set, a set per location plus the default location
      ``*`` holding every shard, for clients no other set covers; with Google Cloud regions (``gcp:<region>``,
      ``geo_by_gcp_region``: Cloud DNS) a set per region and no default, as Cloud DNS answers a client the
      nearest region's item (a shard without a region is left out, said in a note).
      ``global_roles`` (cluster → ``PRIMARY`` or ``SECONDARY``, ``failover`` with ``healthCheck``:
      :func:`~federation_operator.planning.policy.plan_failover_roles`) makes them one :data:`FAILOVER`
      record set, the primary's and the standby's IPv4 addresses a set each, which the provider answers in
      that order on its own health checks; the IPv6 addresses of the clusters in ``global_clusters`` (the
      operator's first group) stay a plain AAAA record set, and shards of that group reached by hostnames
      only are left out, said in a note (without a role, the global name is planned as the operator's
      failover).
    - **Load balancers in a group** (``hostname_aliases``: Route 53). A shard reached by hostnames only,
      one of them an AWS load balancer, is an *alias share* of the group (its first such hostname by name,
      :func:`~federation_operator.domain.records.share_hostname`) with its weight, AWS region, location or
      role, beside the address shares; where the group holds one set per key (latency region, location,
      failover role) and addresses hold it already, the load balancer is left out and said. With no
      address at all, the geolocation default ``*`` is the first load balancer by name. Other hostnames,
      and every hostname without alias records, are left out and said. :attr:`TierPlan.unanswered` names
      the clusters a group leaves out.
    - **A health check per share** (``global_health_check``, ``policy.healthCheck``): its settings ride in
      each set identifier of the group (:mod:`federation_operator.domain.health_checks`), except an alias
      share's: the provider evaluates the load balancer's own health instead.
    - **Cloud DNS failover** (``global_gcp_failover``, with ``global_roles``: ``failover`` with
      ``gcpHealthCheck``): the PRIMARY set's identifier carries the Compute Engine health check, the
      SECONDARY's the backup item's Google Cloud region (:mod:`federation_operator.domain.gcp_failover`), and
      a PRIMARY without a SECONDARY stands behind itself (Cloud DNS has no failover without a backup).
    - **The provider's limit in a routing-policy group**: each set of a group is held to ``max_values`` as
      a tier is (its lowest addresses, and a note), or, with ``group_in_one_set`` (Cloud DNS, where a group
      is one record set of policy items), the whole group is: the lowest addresses of each set in turn, so
      every set keeps an answer while the limit allows, and a note says how many of how many.
    - **Name clashes.** A zone whose label equals a region's (``dc1`` as both) gets the region's record only.
      A zone listed under several regions belongs to the lexicographically first. An alias equal to one of
      the generated names is dropped (it would point at itself); duplicate aliases collapse (the first
      wins). An alias to a region or zone the federation does not have is left out (the reconcile reports
      it: :func:`plan_alias_tier_problems`).
    """
    shards = [shard for shard in healthy if shard.has_addresses]
    if not shards:
        return TierPlan(records=())
    tier = _Tiers(
        ttl=ttl,
        max_values=max_values,
        hostname_aliases=hostname_aliases,
        group_in_one_set=group_in_one_set,
        geo_by_gcp_region=geo_by_gcp_region,
        health_check=global_health_check,
        gcp_failover=global_gcp_failover,
        reuse=reuse,
    )

    region_of_zone: dict[str, str] = {}
    for region in sorted(r.lower() for r in topology):
        for zone in sorted(z.lower() for z in _zones_of(topology, region)):
            region_of_zone.setdefault(zone, region)
    for shard in sorted(shards, key=lambda s: (s.region, s.cluster)):
        for zone in sorted(shard.zones):
            region_of_zone.setdefault(zone, shard.region)
    regions = {r.lower() for r in topology} | {s.region for s in shards} | set(region_of_zone.values())

    answering = shards if global_clusters is None else [s for s in shards if s.cluster in global_clusters]
    records = tier.plan_global(
        names.global_name,
        answering,
        weights=global_weights,
        regions=global_regions,
        places=global_places,
        roles=(global_roles, shards) if global_roles else None,
    )
    taken = {names.global_name}
    for region in sorted(regions):
        name = names.region_name(region)
        in_region = [s for s in shards if s.region == region]
        records += tier.plan(name, in_region) or [tier.cname(name, names.global_name)]
        taken.add(name)
    for zone, region in sorted(region_of_zone.items()):
        name = names.zone_name(zone)
        if name in taken:
            continue
        serving = [s for s in shards if zone in s.zones]
        records += tier.plan(name, serving) or [tier.cname(name, names.region_name(region))]
        taken.add(name)
    targets: dict[str, str] = {}
    for alias in aliases:
        entry = Alias(alias) if isinstance(alias, str) else alias
        target = _alias_target(entry, names, regions=regions, zones=region_of_zone)
        if target is not None:
            targets.setdefault(normalize_name(entry.name), target)
    for alias in sorted(targets.keys() - taken):
        records.append(tier.cname(alias, targets[alias]))
    return TierPlan(
        records=tuple(sorted(records)), notes=tuple(tier.notes), unanswered=frozenset(tier.unanswered)
    )


def render_published(
    records: Iterable[RecordSet],
    *,
    names: ServiceNames,
    regions: Collection[str],
    conflicts: Iterable[Conflict] = (),
) -> tuple[PublishedRecord, ...]:
    """The status's list of published names: what each points to and its tier.

    The tier comes from the name: the global name, a region name for a label in ``regions``, a zone name for
    any other single label between the service's stem and the domain, an alias otherwise. TXT record sets
    (ownership records) are not listed, nor record sets named in ``conflicts`` (they were not published).
    Sorted by tier (global, region, zone, alias), then name and type.
    """
    region_labels = {r.lower() for r in regions}
    blocked = {(c.name, c.type) for c in conflicts}
    published: list[tuple[int, PublishedRecord]] = []
    for record in records:
        if record.type not in ("A", "AAAA", "CNAME", ALIAS, WEIGHTED, LATENCY, GEO, FAILOVER):
            continue
        if record.key in blocked:
            continue
        label = names.tier_label(record.name)
        tier: Tier
        if label is None:
            tier = "alias"
        elif label == "":
            tier = "global"
        else:
            tier = "region" if label in region_labels else "zone"
        targets = record.values
        if record.type == WEIGHTED:  # addresses with their weight, not the provider's set identifiers
            groups = split_weighted_values(record.values).values()
            targets = tuple(sorted(f"{a} weight {w}" for w, addresses in groups for a in addresses))
        elif record.type == LATENCY:
            located = split_latency_values(record.values).values()
            targets = tuple(sorted(f"{a} region {r}" for r, addresses in located for a in addresses))
        elif record.type == GEO:
            places = split_geo_values(record.values).values()
            targets = tuple(sorted(f"{a} location {p}" for p, addresses in places for a in addresses))
        elif record.type == FAILOVER:  # the primary's addresses first, then the standby's
            roles = sorted(split_failover_values(record.values).values())
            targets = tuple(f"{a} failover {role}" for role, addresses in roles for a in addresses)
        item = PublishedRecord(name=record.name, type=record.type, targets=targets, tier=tier)
        published.append((_TIER_ORDER[tier], item))
    published.sort(key=lambda pair: (pair[0], pair[1].name, pair[1].type))
    return tuple(item for _, item in published)


def plan_alias_tier_problems(
    aliases: Sequence[str | Alias], topology: Mapping[str, frozenset[str]]
) -> tuple[str, ...]:
    """Why some of ``aliases`` point at no tier: a region or zone that none of the federation's member
    clusters has (``topology``: region → zones, as for :func:`plan_tiers`), one sentence per alias naming
    its field and what the federation has."""
    regions = sorted({r.lower() for r in topology})
    zones = sorted({z.lower() for r in topology for z in topology[r]})
    problems: list[str] = []
    for index, alias in enumerate(aliases):
        if isinstance(alias, str):
            continue
        field = f"spec.dns.aliases[{index}]"
        if alias.region is not None and alias.region.lower() not in regions:
            known = ", ".join(regions) or "none yet"
            problems.append(
                f"{field}: {alias.name} points at region {alias.region}, which no member cluster of the "
                f"federation is in (regions: {known}); it is not published"
            )
        elif alias.zone is not None and alias.zone.lower() not in zones and alias.zone.lower() not in regions:
            known = ", ".join(zones) or "none yet"
            problems.append(
                f"{field}: {alias.name} points at zone {alias.zone}, which no member cluster of the "
                f"federation is in (zones: {known}); it is not published"
            )
    return tuple(problems)


def _alias_target(
    alias: Alias, names: ServiceNames, *, regions: Collection[str], zones: Mapping[str, str]
) -> str | None:
    """The name ``alias`` points at, or None for a region or zone the federation does not have."""
    if alias.region is not None:
        region = alias.region.lower()
        return names.region_name(region) if region in regions else None
    if alias.zone is not None:
        zone = alias.zone.lower()
        # A zone labelled like a region has the region's record only (see the name clashes above).
        return names.zone_name(zone) if zone in zones or zone in regions else None
    return names.global_name


def _zones_of(topology: Mapping[str, frozenset[str]], region: str) -> frozenset[str]:
    return frozenset().union(*(zones for r, zones in topology.items() if r.lower() == region))


class _Tiers:
    """Plans one tier at a time within the provider's limit, collecting the notes of what was left out."""

    def __init__(
        self,
        *,
        ttl: int,
        max_values: int | None,
        hostname_aliases: bool = False,
        group_in_one_set: bool = False,
        geo_by_gcp_region: bool = False,
        health_check: HealthCheck | None = None,
        gcp_failover: GcpFailover | None = None,
        reuse: Iterable[RecordSet] = (),
    ) -> None:
        if max_values is not None and max_values < 1:
            raise ValueError(f"max_values must be at least 1, got {max_values}")
        self.ttl = ttl
        self.max_values = max_values
        self.hostname_aliases = hostname_aliases
        self.group_in_one_set = group_in_one_set
        self.geo_by_gcp_region = geo_by_gcp_region
        self.health_check = health_check
        self.gcp_failover = gcp_failover
        self.notes: list[str] = []
        self.unanswered: set[str] = set()
        self.reuse = {r.key: r for r in reuse if r.type in _REUSABLE}

    def record(self, name: str, rtype: Literal["A", "AAAA", "CNAME"], values: Collection[str]) -> RecordSet:
        """``RecordSet(name, rtype, ttl, values)``: the equal one in ``reuse`` when there is one. Equal when
        its name is ``name`` and its values are ``values`` as a set: these types' values are normalized one
        by one (an address, a name), so normalizing them again gives them back unchanged."""
        held = self.reuse.get((name, rtype))
        if held is not None and held.ttl == self.ttl and set(held.values) == set(values):
            return held
        return RecordSet(name=name, type=rtype, ttl=self.ttl, values=tuple(values))

    def cname(self, name: str, target: str) -> RecordSet:
        return self.record(name, "CNAME", (target,))

    def _checked(self, identifier: str) -> str:
        """A routing-policy set's identifier, carrying the policy's health check when it asks for one."""
        return with_health_check(identifier, self.health_check)

    def plan(self, name: str, shards: Sequence[ShardAddresses]) -> list[RecordSet]:
        """The records answering for ``shards`` at ``name``, or ``[]`` when they have nothing to offer."""
        found = [
            record
            for record in (
                self._addresses(name, "A", {ip for s in shards for ip in s.ipv4}),
                self._addresses(name, "AAAA", {ip for s in shards for ip in s.ipv6}),
            )
            if record is not None
        ]
        hostnames = sorted(
            {host for shard in shards if not (shard.ipv4 or shard.ipv6) for host in shard.hostnames}
        )
        if found and hostnames and self.hostname_aliases:
            mixed = self._mixed(name, found, hostnames)
            if mixed is not None:
                return mixed
        if found:
            if hostnames:
                self.notes.append(
                    f"{name} publishes IP addresses only: the hostname targets {', '.join(hostnames)} are "
                    "not published (a CNAME cannot stand beside A/AAAA records)"
                )
            return found
        if not hostnames:
            return []
        if self.hostname_aliases:
            aliased = [host for host in hostnames if elb_hosted_zone(host)]
            if aliased:
                return [self._alias(name, aliased, [h for h in hostnames if h not in aliased])]
        if len(hostnames) > 1:
            self.notes.append(
                f"{name} is a CNAME to {hostnames[0]}; {len(hostnames) - 1} more hostname targets are not "
                f"published (a CNAME holds one target): {', '.join(hostnames[1:])}"
            )
        return [self.cname(name, hostnames[0])]

    def plan_global(
        self,
        name: str,
        shards: Sequence[ShardAddresses],
        *,
        weights: Mapping[str, int] | None,
        regions: Mapping[str, str] | None,
        places: Mapping[str, str] | None,
        roles: tuple[Mapping[str, str], Sequence[ShardAddresses]] | None = None,
    ) -> list[RecordSet]:
        """The global name's records: under a routing policy's mapping (weights, latency regions,
        geolocations, or failover roles with every healthy shard: at most one given) its group, else as
        :meth:`plan`."""
        if roles is not None:
            return self.failover(name, roles[1], roles[0], shards)
        if weights is not None:
            return self.weighted(name, shards, weights)
        if regions is not None:
            return self.latency(name, shards, regions)
        if places is not None:
            return self.geolocation(name, shards, places)
        return self.plan(name, shards)

    def weighted(
        self, name: str, shards: Sequence[ShardAddresses], weights: Mapping[str, int]
    ) -> list[RecordSet]:
        """The answers of ``shards`` at ``name`` in weighted shares: a :data:`WEIGHTED` record set of their
        IPv4 addresses (a set per cluster) and, with alias records, of the load balancers of the shards
        reached by one only (an alias share per cluster: :meth:`_balancers`), beside a plain AAAA record set;
        as :meth:`plan` with neither."""
        with_ipv4 = sorted((s for s in shards if s.ipv4), key=lambda s: s.cluster)
        balancers = self._balancers(name, shards)
        if not with_ipv4 and not balancers:
            return self.plan(name, shards)
        kept = self._limit_group(name, "weighted", [(s.cluster, s.ipv4) for s in with_ipv4])
        self._leave_out(name, "answers in weighted shares by IPv4 address", shards, balancers)
        shares = [(weights.get(cluster, 1), addresses) for cluster, addresses in kept]
        shares += [(weights.get(cluster, 1), (host,)) for cluster, host in sorted(balancers.items())]
        return self._group(
            WEIGHTED, name, shares, identify=weighted_set_identifier, value=weighted_value, shards=shards
        )

    def latency(
        self, name: str, shards: Sequence[ShardAddresses], regions: Mapping[str, str]
    ) -> list[RecordSet]:
        """The answers of ``shards`` at ``name`` by lowest latency: a :data:`LATENCY` record set of their IPv4
        addresses (a set per AWS region) beside a plain AAAA record set; as :meth:`plan` without IPv4."""
        located = [s for s in shards if s.ipv4 and s.cluster in regions]
        balancers = self._balancers(name, [s for s in shards if s.cluster in regions])
        if not located and not balancers:
            return self.plan(name, shards)
        by_region: dict[str, list[str]] = {}
        for shard in located:
            by_region.setdefault(regions[shard.cluster], []).extend(shard.ipv4)
        kept: list[tuple[str, tuple[str, ...]]] = self._limit_group(
            name, "latency", sorted(by_region.items())
        )
        kept += self._alias_shares(name, "AWS region", balancers, regions, {region for region, _ in kept})
        left_out = sorted(
            s.cluster for s in shards if s not in located and s.cluster not in balancers and not s.ipv6
        )
        if left_out:
            what = "IPv4 addresses and AWS load balancers" if self.hostname_aliases else "IPv4 addresses"
            self.notes.append(
                f"{name} answers by latency from {what} in known regions: the shards of "
                f"{', '.join(left_out)} are not published there"
            )
            self.unanswered.update(left_out)
        return self._group(
            LATENCY, name, kept, identify=latency_set_identifier, value=latency_value, shards=shards
        )

    def geolocation(
        self, name: str, shards: Sequence[ShardAddresses], places: Mapping[str, str]
    ) -> list[RecordSet]:
        """The answers of ``shards`` at ``name`` by the client's location: a :data:`GEO` record set of their
        IPv4 addresses (a set per location, and on Route 53 the default ``*`` of them all) beside a plain
        AAAA record set; as :meth:`plan` without IPv4. Google Cloud region locations (``gcp:``, Cloud DNS)
        get no default: Cloud DNS answers a client from the nearest region's item, so a shard whose cluster
        has no location is left out, said in a note."""
        with_ipv4 = [s for s in shards if s.ipv4]
        located = [s for s in with_ipv4 if s.cluster in places]
        by_region = self.geo_by_gcp_region or any(p.startswith("gcp:") for p in places.values())
        unplaced = sorted(s.cluster for s in with_ipv4 if s not in located) if by_region else []
        if unplaced:
            self.notes.append(
                f"{name} answers by Google Cloud region: the shards of {', '.join(unplaced)}, whose region "
                "has no Google Cloud region, are not published there"
            )
            self.unanswered.update(unplaced)
        balancers = {} if by_region else self._balancers(name, shards)
        if (not with_ipv4 and not balancers) or (by_region and not located):
            # Nothing to locate: as tiered, so the name still answers (a region without a Google Cloud
            # region is refused on the object's spec, so this is a passing state at most).
            self.unanswered.difference_update(unplaced)
            return self.plan(name, shards)
        by_place: dict[str, list[str]] = {}
        if with_ipv4 and not by_region:
            by_place["*"] = [a for s in with_ipv4 for a in s.ipv4]
        for shard in located:
            by_place.setdefault(places[shard.cluster], []).extend(shard.ipv4)
        kept: list[tuple[str, tuple[str, ...]]] = self._limit_group(
            name, "geolocation", sorted(by_place.items())
        )
        if balancers and not with_ipv4:
            # The default location answers every client no other set covers: with no address to give them,
            # the first load balancer by name (an alias set names one target).
            kept.append(("*", (min(balancers.values()),)))
        placed = {c: host for c, host in balancers.items() if c in places}
        kept += self._alias_shares(name, "location", placed, places, {place for place, _ in kept})
        # A load balancer outside every location answers only as the default, when it is that one.
        default = dict(kept).get("*", ())
        unplaced_balancers = sorted(c for c, h in balancers.items() if c not in places and (h,) != default)
        if unplaced_balancers:
            self.notes.append(
                f"{name} answers by location: the load balancers of {', '.join(unplaced_balancers)}, whose "
                "region has no location, are not published there"
            )
            self.unanswered.update(unplaced_balancers)
        self._leave_out(name, "answers by location from IPv4 addresses", shards, balancers)
        return self._group(GEO, name, kept, identify=geo_set_identifier, value=geo_value, shards=shards)

    def failover(
        self,
        name: str,
        shards: Sequence[ShardAddresses],
        roles: Mapping[str, str],
        answering: Sequence[ShardAddresses],
    ) -> list[RecordSet]:
        """The answers at ``name`` in the provider's failover order: a :data:`FAILOVER` record set of the
        IPv4 addresses of the shards with a role in ``roles`` (a set per role, ``PRIMARY`` first), beside a
        plain AAAA record set of ``answering`` (the operator's first group); as :meth:`plan` of
        ``answering`` when no shard has a role."""
        by_role: dict[str, list[str]] = {}
        for shard in shards:
            if shard.ipv4 and shard.cluster in roles:
                by_role.setdefault(roles[shard.cluster], []).extend(shard.ipv4)
        balancers = self._balancers(name, [s for s in shards if s.cluster in roles])
        if not by_role and not balancers:
            return self.plan(name, answering)
        if self.gcp_failover is not None and "PRIMARY" in by_role and "SECONDARY" not in by_role:
            # Cloud DNS has no failover without a backup: the primary stands behind itself, so the name
            # keeps an answer while it fails its health check and no other group is healthy.
            by_role["SECONDARY"] = list(by_role["PRIMARY"])
        kept: list[tuple[str, tuple[str, ...]]] = self._limit_group(name, "failover", sorted(by_role.items()))
        kept += self._alias_shares(name, "role", balancers, roles, {role for role, _ in kept})
        self._leave_out(name, "fails over by IPv4 address", answering, balancers)
        return self._group(
            FAILOVER, name, kept, identify=self._failover_identifier, value=failover_value, shards=answering
        )

    def _failover_identifier(self, name: str, role: str, addresses: Sequence[str]) -> str:
        """A failover share's set identifier; for Cloud DNS (``gcp_failover``), the PRIMARY's carries the
        Compute Engine health check and the SECONDARY's the backup item's region."""
        identifier = failover_set_identifier(name, role, addresses)
        if self.gcp_failover is None:
            return identifier
        if role == "PRIMARY":
            return with_gcp_health_check(identifier, self.gcp_failover.health_check)
        return with_gcp_location(identifier, self.gcp_failover.location)

    def _balancers(self, name: str, shards: Sequence[ShardAddresses]) -> dict[str, str]:
        """Cluster → the load balancer hostname its alias share answers with: on providers with alias records
        (Route 53), for each of ``shards`` reached by hostnames only, the first of them (by name) that is an
        AWS load balancer Route 53 can alias to. An alias set names one target, so a shard's other hostnames
        are left out, said in a note; a shard with none such is left out by :meth:`_leave_out`."""
        found: dict[str, str] = {}
        if not self.hostname_aliases:
            return found
        for shard in sorted(shards, key=lambda s: s.cluster):
            if shard.ipv4 or shard.ipv6:
                continue
            known = [host for host in shard.hostnames if elb_hosted_zone(host)]
            if not known:
                continue
            found[shard.cluster] = known[0]
            if len(known) > 1:
                self.notes.append(
                    f"{name} answers the shard of {shard.cluster} by its load balancer {known[0]}: "
                    f"{', '.join(known[1:])} are not published there (an alias set names one target)"
                )
        return found

    def _alias_shares(
        self,
        name: str,
        kind: str,
        balancers: Mapping[str, str],
        keys: Mapping[str, str],
        taken: set[str],
    ) -> list[tuple[str, tuple[str, ...]]]:
        """The alias shares of ``balancers`` (cluster → hostname) in a group with one set per key (an AWS
        region, a location, a failover role: ``keys``, cluster → key): a key that already has a set
        (``taken``, address sets first) keeps it, and the load balancers crowded out are left out, said in a
        note."""
        shares: list[tuple[str, tuple[str, ...]]] = []
        crowded: list[str] = []
        for cluster, host in sorted(balancers.items()):
            key = keys.get(cluster)
            if key is None:
                continue
            if key in taken:
                crowded.append(cluster)
                continue
            taken.add(key)
            shares.append((key, (host,)))
        if crowded:
            self.notes.append(
                f"{name} holds one set per {kind}: the load balancers of {', '.join(crowded)} are not "
                f"published there, as their {kind} already has one"
            )
            self.unanswered.update(crowded)
        return shares

    def _leave_out(
        self, name: str, how: str, shards: Sequence[ShardAddresses], balancers: Mapping[str, str]
    ) -> None:
        """Note the shards reached by hostnames only that the group at ``name`` (which ``how`` answers) cannot
        answer: every such shard without alias records, else those with no AWS load balancer among their
        hostnames."""
        left_out = sorted(
            s.cluster for s in shards if not (s.ipv4 or s.ipv6) and s.hostnames and s.cluster not in balancers
        )
        if not left_out:
            return
        self.unanswered.update(left_out)
        reached = (
            "reached by hostnames that are no AWS load balancer (Route 53 aliases only to those)"
            if self.hostname_aliases
            else "reached by hostnames only"
        )
        self.notes.append(
            f"{name} {how}: the shards of {', '.join(left_out)}, {reached}, are not published there"
        )

    def _group(
        self,
        rtype: RecordType,
        name: str,
        shares: Sequence[tuple[_Key, Sequence[str]]],
        *,
        identify: Callable[[str, _Key, Sequence[str]], str],
        value: Callable[[str, _Key, str], str],
        shards: Sequence[ShardAddresses],
    ) -> list[RecordSet]:
        """A routing-policy group beside a plain AAAA record set of the shards' IPv6 addresses: each share's
        key (a weight, an AWS region, a location) and IPv4 addresses (groups answer by IPv4 address) or one
        load balancer hostname (an alias share), under the set identifier ``identify`` derives (carrying the
        policy's health check, except on an alias share: the provider evaluates the load balancer's own
        health instead), as ``value`` writes them. TTL 0 when every share is an alias (which has none)."""
        values: list[str] = []
        for key, targets in shares:
            identifier = identify(name, key, targets)
            aliased = share_hostname(targets) is not None
            values += [value(identifier if aliased else self._checked(identifier), key, t) for t in targets]
        ipv6: RecordSet | None = self._addresses(name, "AAAA", {ip for s in shards for ip in s.ipv6})
        timed = any(share_hostname(targets) is None for _, targets in shares)
        group = RecordSet(name=name, type=rtype, ttl=self.ttl if timed else 0, values=tuple(values))
        return [group, *([ipv6] if ipv6 is not None else [])]

    def _limit_group(
        self, name: str, kind: str, sets: Sequence[tuple[str, Sequence[str]]]
    ) -> list[tuple[str, tuple[str, ...]]]:
        """The IPv4 addresses of each set of a routing-policy group (``sets``: key → addresses, in a stable
        order) within the provider's values per record set, as plain tiers are: a deterministic subset and
        a note saying how many of how many. Each set is a record set of its own (Route 53): its lowest
        addresses. The group is one record set (``group_in_one_set``, Cloud DNS): the sets' lowest addresses
        in turn, one of each set per round, so every set keeps an answer while the limit allows one."""
        ordered = [(key, _sorted_ipv4(addresses)) for key, addresses in sets]
        limit = self.max_values
        if limit is None:
            return ordered
        why = f"the DNS provider takes at most {limit} per record set"
        if not self.group_in_one_set:
            kept: list[tuple[str, tuple[str, ...]]] = []
            for key, addresses in ordered:
                if len(addresses) > limit:
                    self.notes.append(
                        f"{name} publishes {limit} of {len(addresses)} healthy A addresses in its {kind} set "
                        f"{key} (lowest addresses first; {why})"
                    )
                kept.append((key, addresses[:limit]))
            return kept
        total = {a for _, addresses in ordered for a in addresses}
        if len(total) <= limit:
            return ordered
        chosen: set[str] = set()
        taken: dict[str, list[str]] = {key: [] for key, _ in ordered}
        for round_ in range(max(len(addresses) for _, addresses in ordered)):
            for key, addresses in ordered:
                if round_ < len(addresses) and len(chosen) < limit:
                    address = addresses[round_]
                    taken[key].append(address)
                    chosen.add(address)
        self.notes.append(
            f"{name} publishes {limit} of {len(total)} healthy A addresses in its {kind} group (the lowest "
            f"addresses of each set in turn; {why})"
        )
        return [(key, tuple(taken[key])) for key, _ in ordered if taken[key]]

    def _mixed(self, name: str, found: list[RecordSet], hostnames: list[str]) -> list[RecordSet] | None:
        """A tier of IP and load balancer shards as one :data:`ALIAS` record set of its IPv4 addresses and
        load balancers, beside its AAAA record set; None when no hostname is a known load balancer."""
        aliased = [host for host in hostnames if elb_hosted_zone(host)]
        if not aliased:
            return None
        ipv4 = next((r for r in found if r.type == "A"), None)
        alias = self._alias(name, aliased, [h for h in hostnames if h not in aliased])
        if ipv4 is not None:
            alias = RecordSet(name=name, type=ALIAS, ttl=self.ttl, values=(*ipv4.values, *alias.values))
        return [alias, *(r for r in found if r.type == "AAAA")]

    def _alias(self, name: str, aliased: list[str], others: list[str]) -> RecordSet:
        if self.max_values is not None and len(aliased) > self.max_values:
            self.notes.append(
                f"{name} publishes {self.max_values} of {len(aliased)} load balancer aliases (first by name)"
            )
            aliased = aliased[: self.max_values]
        if others:
            self.notes.append(
                f"{name} publishes load balancer aliases only: {', '.join(others)} (no known load balancer) "
                "are not published"
            )
        return RecordSet(name=name, type=ALIAS, ttl=0, values=tuple(aliased))

    def _addresses(self, name: str, rtype: Literal["A", "AAAA"], addresses: set[str]) -> RecordSet | None:
        if not addresses:
            return None
        record = self.record(name, rtype, addresses)
        if self.max_values is None or len(record.values) <= self.max_values:
            return record
        # RecordSet sorts values by address: the subset is the lowest addresses, the same for the same health.
        self.notes.append(
            f"{name} publishes {self.max_values} of {len(record.values)} healthy {rtype} addresses "
            f"(lowest addresses first; the DNS provider takes at most {self.max_values} per record set)"
        )
        return RecordSet(name=name, type=rtype, ttl=self.ttl, values=record.values[: self.max_values])


def _sorted_ipv4(addresses: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(a) for a in sorted({ipaddress.IPv4Address(a.strip()) for a in addresses}))


# The record types whose values normalize one by one (see _Tiers.record).
_REUSABLE = frozenset({"A", "AAAA", "CNAME"})
