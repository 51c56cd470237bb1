"""The geo-tiered DNS records of one FederatedService, from its healthy shards: pure code, no I/O.

The layout is the seed article's (Federation v1 federated services). For service ``nginx`` in namespace
``mynamespace``, federation ``myfederation`` and domain ``example.com``:

- global: ``nginx.mynamespace.myfederation.svc.example.com.`` holds every healthy shard;
- region: ``nginx.mynamespace.myfederation.svc.us-central1.example.com.`` holds the region's healthy shards,
  else is a CNAME to the global name;
- zone: ``nginx.mynamespace.myfederation.svc.us-central1-a.example.com.`` holds the healthy shards serving
  the zone, else is a CNAME to its region's name;
- alias: each of ``spec.dns.aliases`` (say ``nginx.acme.com.``) is a CNAME to the global name.

So a client resolving its own zone's name follows CNAMEs up to the nearest tier that has a healthy shard.
:func:`plan_records` spells out the rules; :func:`render_published` turns records into the status's list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal

from federation_operator.domain.records import (
    Conflict,
    RecordSet,
    ServiceNames,
    ShardAddresses,
    normalize_name,
)
from federation_operator.domain.status import PublishedRecord

__all__ = ["plan_records", "render_published"]

Tier = Literal["global", "region", "zone", "alias"]
_TIER_ORDER: Mapping[Tier, int] = {"global": 0, "region": 1, "zone": 2, "alias": 3}


def plan_records(
    *,
    names: ServiceNames,
    ttl: int,
    aliases: Sequence[str],
    topology: Mapping[str, frozenset[str]],
    healthy: Sequence[ShardAddresses],
) -> tuple[RecordSet, ...]:
    """The record sets to publish for one FederatedService, sorted, all with ``ttl``.

    ``topology`` maps every region of the federation's member clusters (healthy or not) to its zones, so
    that every region and zone name exists and a client can always resolve its local name. ``healthy`` holds
    the healthy shards only.

    Rules, where the design's table is silent:

    - **Nothing healthy, nothing published.** While no healthy shard has an address, the result is empty: no
      global record, and no region, zone or alias CNAMEs either, as they would only point at a name with
      no answer. The owner's plan then deletes whatever was published before.
    - **Whenever any shard is healthy, every zone name resolves** (through at most two CNAMEs) to a non-empty
      answer: its own shards, else its region's, else the global name's.
    - **IP ingress** gives A and AAAA record sets (both at one name when a tier has both families).
    - **Hostname ingress** (an AWS ELB's) is never resolved to addresses, which would go stale. A tier whose
      healthy shards are reached by hostnames only becomes a CNAME to one of them; a CNAME holds a single
      target, so it is the lexicographically first hostname of the tier (deterministic, so plans stay
      stable while health does). A tier mixing IP and hostname shards publishes the IPs only: a CNAME cannot
      sit beside A records, and the IPs already give clients healthy answers. A shard with both an IP and a
      hostname counts as an IP shard.
    - **Name clashes.** A zone whose label equals a region's (``dc1`` as both) gets the region's record only.
      A zone listed under several regions belongs to the lexicographically first. An alias equal to one of
      the generated names is dropped (it would point at itself); duplicate aliases collapse.
    """
    shards = [shard for shard in healthy if shard.has_addresses]
    if not shards:
        return ()

    region_of_zone: dict[str, str] = {}
    for region in sorted(r.lower() for r in topology):
        for zone in sorted(z.lower() for z in _zones_of(topology, region)):
            region_of_zone.setdefault(zone, region)
    for shard in sorted(shards, key=lambda s: (s.region, s.cluster)):
        for zone in sorted(shard.zones):
            region_of_zone.setdefault(zone, shard.region)
    regions = {r.lower() for r in topology} | {s.region for s in shards} | set(region_of_zone.values())

    records: list[RecordSet] = list(_tier(names.global_name, shards, ttl))
    taken = {names.global_name}
    for region in sorted(regions):
        name = names.region_name(region)
        in_region = [s for s in shards if s.region == region]
        records += _tier(name, in_region, ttl) or [_cname(name, names.global_name, ttl)]
        taken.add(name)
    for zone, region in sorted(region_of_zone.items()):
        name = names.zone_name(zone)
        if name in taken:
            continue
        serving = [s for s in shards if zone in s.zones]
        records += _tier(name, serving, ttl) or [_cname(name, names.region_name(region), ttl)]
        taken.add(name)
    for alias in sorted({normalize_name(a) for a in aliases} - taken):
        records.append(_cname(alias, names.global_name, ttl))
    return tuple(sorted(records))


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
        if record.type == "TXT" or record.key in blocked:
            continue
        label = names.tier_label(record.name)
        tier: Tier
        if label is None:
            tier = "alias"
        elif label == "":
            tier = "global"
        else:
            tier = "region" if label in region_labels else "zone"
        item = PublishedRecord(name=record.name, type=record.type, targets=record.values, tier=tier)
        published.append((_TIER_ORDER[tier], item))
    published.sort(key=lambda pair: (pair[0], pair[1].name, pair[1].type))
    return tuple(item for _, item in published)


def _zones_of(topology: Mapping[str, frozenset[str]], region: str) -> frozenset[str]:
    return frozenset().union(*(zones for r, zones in topology.items() if r.lower() == region))


def _tier(name: str, shards: Sequence[ShardAddresses], ttl: int) -> list[RecordSet]:
    """The records answering for ``shards`` at ``name``, or ``[]`` when they have nothing to offer."""
    ipv4 = {ip for shard in shards for ip in shard.ipv4}
    ipv6 = {ip for shard in shards for ip in shard.ipv6}
    if ipv4 or ipv6:
        found = [RecordSet(name=name, type="A", ttl=ttl, values=tuple(ipv4))] if ipv4 else []
        if ipv6:
            found.append(RecordSet(name=name, type="AAAA", ttl=ttl, values=tuple(ipv6)))
        return found
    hostnames = sorted({host for shard in shards for host in shard.hostnames})
    return [_cname(name, hostnames[0], ttl)] if hostnames else []


def _cname(name: str, target: str, ttl: int) -> RecordSet:
    return RecordSet(name=name, type="CNAME", ttl=ttl, values=(target,))
