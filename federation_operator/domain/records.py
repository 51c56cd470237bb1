"""DNS values shared by the record planner, the ownership diff and the providers: plain frozen data.

- :class:`RecordSet`: one DNS record set (name, type, TTL, values), normalized on construction so that a
  record read back from a provider compares equal to the one that was planned;
- :class:`Changes`: what to do to a zone (create, update old → new, delete), a printable plan;
- :class:`Conflict`: a record the operator wanted but may not touch (someone else owns the name);
- :class:`ShardAddresses`: what a healthy shard contributes to DNS (its region, zones and ingress addresses);
- :class:`ServiceNames`: the seed article's DNS names of one FederatedService, tier by tier;
- :class:`ProviderLimits`: what a provider accepts (values per record set, record sets per zone), known to
  the planner before anything is sent;
- :data:`OTHER`: the marker record set a provider lists at a name holding types the operator does not manage
  (MX, SRV, NS...), so that the diff sees them (a CNAME may not join them);
- the rules of where record sets may stand, each written once for the diff and every provider:
  :func:`in_zone` and :func:`zone_problem` (inside the zone, no CNAME at its apex), :func:`cname_clash` and
  :func:`cname_clashes` (a CNAME shares its name with no other data).

Nothing here does I/O or imports a DNS library; :mod:`ipaddress` does the address normalization.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar, get_args

from federation_operator.domain.elb import elb_hosted_zone
from federation_operator.domain.members import Ingress

__all__ = [
    "ALIAS",
    "FAILOVER",
    "FAILOVER_ROLES",
    "OTHER",
    "RECORD_TYPES",
    "WEIGHTED",
    "Changes",
    "Conflict",
    "MirrorState",
    "ProviderLimits",
    "PublishResult",
    "RecordKey",
    "RecordSet",
    "RecordType",
    "ServiceNames",
    "ShardAddresses",
    "ZoneDelta",
    "ZoneProblem",
    "cname_clash",
    "cname_clashes",
    "describe_mismatch",
    "failover_set_identifier",
    "failover_value",
    "geo_set_identifier",
    "geo_value",
    "in_zone",
    "latency_set_identifier",
    "latency_value",
    "normalize_name",
    "other_types_marker",
    "routing_clashes",
    "share_hostname",
    "split_alias_values",
    "split_failover_values",
    "split_geo_values",
    "split_latency_values",
    "split_weighted_values",
    "weighted_set_identifier",
    "weighted_value",
    "zone_problem",
]

ManagedType = Literal["A", "AAAA", "CNAME", "TXT"]
RECORD_TYPES: tuple[ManagedType, ...] = get_args(ManagedType)
"""The record types the operator reads and writes."""

RecordType = Literal["A", "AAAA", "CNAME", "TXT", "OTHER", "ALIAS", "WEIGHTED", "LATENCY", "GEO", "FAILOVER"]
"""A record set's type: a managed one, :data:`OTHER`, :data:`ALIAS`, or a routing policy's group
(:data:`WEIGHTED`, :data:`LATENCY`, :data:`GEO`, :data:`FAILOVER`)."""

ALIAS: Literal["ALIAS"] = "ALIAS"
"""Load balancer hostnames answered as addresses by the provider itself, for providers that can (Route 53
alias records to ELBs: ``ProviderLimits.hostname_aliases``). Values: the hostnames, and on a tier that mixes
them with IPv4 shards, those addresses too (addresses first, by address; then hostnames, by name:
:func:`split_alias_values`). TTL: the tier's TTL when it holds addresses, else 0 (an alias has no TTL of its
own). Route 53 writes one weighted alias A record per hostname and one weighted A record set of the
addresses, all with set identifiers the operator owns, so that a tier keeps every shard rather than one
CNAME target or only its IPs."""

WEIGHTED: Literal["WEIGHTED"] = "WEIGHTED"
"""IPv4 answers in weighted shares, for providers with weighted routing (Route 53: ``spec.dns.policy`` type
``weighted``). One value per address, ``<set identifier> <weight> <address>`` (:func:`weighted_value`),
sorted; a set identifier (one per member cluster, owned by the operator) has one weight. Route 53 writes one
weighted A record set per set identifier, with the record set's TTL.

Each of the routing-policy groups (this one, :data:`LATENCY`, :data:`GEO`, :data:`FAILOVER`) may also hold
*alias shares*, on providers with alias records (Route 53): a share of a shard reached by an AWS load
balancer's hostname only is one value, ``<set identifier> <key> <hostname>`` (the hostname absolute, with
its final dot: :func:`share_hostname`), which Route 53 writes as an alias A record set with the share's
routing field. A group of alias shares only has TTL 0 (an alias has no TTL of its own), else the TTL of its
address shares."""

LATENCY: Literal["LATENCY"] = "LATENCY"
"""IPv4 answers by lowest latency, for providers with latency routing (Route 53: ``spec.dns.policy`` type
``latency``). One value per address, ``<set identifier> <AWS region> <address>`` (:func:`latency_value`),
sorted; a set identifier (one per AWS region the members are nearest to, owned by the operator) has one
region. Route 53 writes one latency A record set per set identifier, with the record set's TTL."""

GEO: Literal["GEO"] = "GEO"
"""IPv4 answers by the client's location, for providers with geolocation routing (``spec.dns.policy`` type
``geolocation``). One value per address, ``<set identifier> <location> <address>`` (:func:`geo_value`),
sorted, one set per location. On Route 53 a location is ``country:<ISO code>``, ``continent:<code>`` or
``*`` (its default location, for clients no other set covers); on Cloud DNS it is ``gcp:<Google Cloud
region>`` (an item of a ``geo`` routing policy: Cloud DNS answers a client the nearest region's item)."""

FAILOVER: Literal["FAILOVER"] = "FAILOVER"
"""IPv4 answers in failover order decided by the managed DNS service itself, for providers with failover
routing and health checks (Route 53 failover record sets: ``spec.dns.policy`` type ``failover`` with
``healthCheck``). One value per address, ``<set identifier> <PRIMARY|SECONDARY> <address>``
(:func:`failover_value`), sorted; at most one set per role (Route 53 takes exactly one PRIMARY and one
SECONDARY per name and type), and a set identifier has one role. The provider answers the PRIMARY set while
its health check passes, else the SECONDARY (the standby). Route 53 writes one failover A record set per set
identifier, with the record set's TTL."""

FAILOVER_ROLES = ("PRIMARY", "SECONDARY")
"""The roles of a :data:`FAILOVER` group's sets, in failover order."""

OTHER: Literal["OTHER"] = "OTHER"
"""The type of the marker a provider lists at a name that holds record types the operator does not manage
(MX, SRV, NS, CAA...): one marker per name, TTL 0, its values the type names (``("MX", "SRV")``). The
planner never writes one; it only has to see that the name holds other data, which a CNAME may not join
(without it, BIND silently drops a CNAME added beside an MX and the status would say published)."""

_OUR_GROUPS: tuple[RecordType, ...] = (ALIAS, WEIGHTED, LATENCY, GEO, FAILOVER)
"""The record set types of ours beside the managed ones: each one record set of the planner's that a provider
writes as several of its own, and lists again among a name's types when it reads them back folded."""

# Our own groups are ours, not other data; DNSSEC's own records may stand beside a CNAME (RFC 4035 §2.5),
# and the apex's SOA and NS are the zone's: none counts as other data at a name.
_NOT_OTHER = frozenset(
    {
        *_OUR_GROUPS,
        "RRSIG",
        "NSEC",
        "NSEC3",
        "NSEC3PARAM",
        "DNSKEY",
        "CDS",
        "CDNSKEY",
        "TYPE65534",
    }
)

RecordKey = tuple[str, RecordType]
"""A record set's identity in a zone: (absolute name, type)."""

ZoneProblem = Literal["outside", "cname-at-apex"]
"""Why a record set cannot stand in a zone (see :func:`zone_problem`)."""

_APEX_TYPES = ("NS", "SOA")  # what every zone holds at its apex


# Memoized: a zone read at 1,000 owners normalizes ~60,000 names, most of them several times (a record
# set's, its ownership record's, the index's), and the work per name is all string scanning. Bounded.
@functools.lru_cache(maxsize=1 << 16)
def normalize_name(name: str) -> str:
    """An absolute, lowercase DNS name with its trailing dot: ``Example.COM`` → ``example.com.``.

    DNS names compare case-insensitively; the operator writes lowercase and folds what it reads, so that a
    record read back from a provider is equal to the planned one.
    """
    text = name.strip().lower().rstrip(".")
    if not text or any(not label for label in text.split(".")):
        raise ValueError(f"not a DNS name: {name!r}")
    normal = f"{text}."
    # A name already normal is returned itself: the cache then holds one string for it, not two (its key
    # and an equal copy), and the caller's string is the one every later equal name is handed.
    return name if normal == name else normal


def _normalize_values(rtype: RecordType, values: Iterable[str]) -> tuple[str, ...]:
    raw = set(values)
    if not raw:
        raise ValueError(f"a {rtype} record set needs at least one value")
    if rtype == "A":
        addresses_v4 = sorted({ipaddress.IPv4Address(v.strip()) for v in raw})
        return tuple(str(address) for address in addresses_v4)
    if rtype == "AAAA":
        addresses_v6 = sorted({ipaddress.IPv6Address(v.strip()) for v in raw})
        return tuple(address.compressed for address in addresses_v6)
    if rtype == "CNAME":
        targets = {normalize_name(v) for v in raw}
        if len(targets) != 1:
            raise ValueError(f"a CNAME holds exactly one target, got {sorted(targets)}")
        return tuple(targets)
    if rtype == OTHER:
        return tuple(sorted({v.strip().upper() for v in raw}))
    if rtype == ALIAS:
        addresses, hostnames = split_alias_values(raw)
        return (*addresses, *hostnames)
    if rtype in (GEO, LATENCY, WEIGHTED, FAILOVER):
        shares: Mapping[str, tuple[str | int, tuple[str, ...]]]
        if rtype == FAILOVER:
            shares = split_failover_values(raw)
        elif rtype == GEO:
            shares = split_geo_values(raw)
        elif rtype == LATENCY:
            shares = split_latency_values(raw)
        else:
            shares = split_weighted_values(raw)
        return tuple(
            f"{identifier} {key} {address}"
            for identifier, (key, addresses) in sorted(shares.items())
            for address in addresses
        )
    # TXT: the unquoted text, one value per TXT record (its character-strings joined).
    return tuple(sorted(raw))


# Slots: a zone index holds every record set of the zone (26 per FederatedService in the benchmarks'
# federation), and an instance without a __dict__ is ~100 bytes smaller.
@dataclass(frozen=True, order=True, slots=True)
class RecordSet:
    """One DNS record set: every record of one type at one name.

    Normalized on construction: ``name`` absolute and lowercase with its trailing dot; A and AAAA values in
    canonical form, sorted by address; a CNAME's single target absolute with its trailing dot; TXT values
    as unquoted text, sorted. Duplicate values collapse. Invalid values raise :class:`ValueError`.
    """

    name: str
    type: RecordType
    ttl: int
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.type not in RECORD_TYPES and self.type != OTHER and self.type not in _OUR_GROUPS:
            raise ValueError(f"unsupported record type {self.type!r}; supported: {', '.join(RECORD_TYPES)}")
        if isinstance(self.ttl, bool) or not isinstance(self.ttl, int) or not 0 <= self.ttl <= 2**31 - 1:
            raise ValueError(f"TTL must be an integer from 0 to 2147483647, got {self.ttl!r}")
        if isinstance(self.values, str):  # type: ignore[unreachable]  # a common slip: values="1.2.3.4"
            raise TypeError("values must be a collection of strings, not one string")
        object.__setattr__(self, "name", normalize_name(self.name))
        object.__setattr__(self, "values", _normalize_values(self.type, self.values))

    @property
    def key(self) -> RecordKey:
        """The record set's identity in its zone: (name, type)."""
        return (self.name, self.type)

    def __str__(self) -> str:
        shown = (f'"{v}"' for v in self.values) if self.type == "TXT" else self.values
        return f"{self.name} {self.ttl} {self.type} {' '.join(shown)}"


@dataclass(frozen=True)
class Changes:
    """A plan for one zone, in the shape of external-dns's ``plan.Changes``.

    ``update_old[i]`` becomes ``update_new[i]`` (same name and type). Deletions and ``update_old`` carry the
    exact record sets the plan was computed against, so a provider can refuse to act on a zone that changed
    in between (exact-match deletes). An A → CNAME switch at one name is a deletion plus a creation in the
    same value: providers apply one ``Changes`` as atomically as they can.
    """

    create: tuple[RecordSet, ...] = ()
    update_old: tuple[RecordSet, ...] = ()
    update_new: tuple[RecordSet, ...] = ()
    delete: tuple[RecordSet, ...] = ()

    def __post_init__(self) -> None:
        if len(self.update_old) != len(self.update_new):
            raise ValueError("update_old and update_new must have the same length")
        for old, new in zip(self.update_old, self.update_new, strict=True):
            if old.key != new.key:
                raise ValueError(f"an update keeps name and type: {old.name} {old.type} → {new.type}")

    @property
    def is_empty(self) -> bool:
        """True when applying the plan would change nothing (and so must make no provider call)."""
        return not (self.create or self.update_old or self.delete)

    @property
    def updates(self) -> tuple[tuple[RecordSet, RecordSet], ...]:
        """The updates as (old, new) pairs."""
        return tuple(zip(self.update_old, self.update_new, strict=True))

    def __len__(self) -> int:
        return len(self.create) + len(self.update_old) + len(self.delete)

    def __str__(self) -> str:
        return self.describe()

    def describe(self, limit: int | None = None) -> str:
        """A heading with the counts, then one line per change (deletions, updates, creations); with
        ``limit``, at most that many changes listed and how many more there are."""
        if self.is_empty:
            return "no changes"
        lines = [
            f"{len(self)} changes: {len(self.create)} to create, {len(self.update_old)} to update, "
            f"{len(self.delete)} to delete"
        ]
        listed = len(self) if limit is None else min(limit, len(self))
        changes = itertools.chain(
            ((f"  - {record}",) for record in self.delete),
            ((f"  ~ {old}", f"    → {new}") for old, new in self.updates),
            ((f"  + {record}",) for record in self.create),
        )
        for change in itertools.islice(changes, listed):
            lines += change
        if listed < len(self):
            lines.append(f"  ... and {len(self) - listed} more")
        return "\n".join(lines)


def split_alias_values(values: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """An :data:`ALIAS` record set's values as (IPv4 addresses, sorted by address; hostnames, normalized and
    sorted by name)."""
    addresses: set[ipaddress.IPv4Address] = set()
    hostnames: set[str] = set()
    for value in values:
        try:
            addresses.add(ipaddress.IPv4Address(value.strip()))
        except ValueError:
            hostnames.add(normalize_name(value))
    return tuple(str(a) for a in sorted(addresses)), tuple(sorted(hostnames))


def weighted_set_identifier(name: str, weight: int, addresses: Iterable[str]) -> str:
    """The set identifier of a weighted share at ``name``: ours (``fedop-weight-``) and derived from what the
    share holds (its weight and addresses), so that a provider that keeps no identifier of its own (Cloud
    DNS's weighted round robin items) reads back exactly what was planned. It is unique in the zone (moto,
    our Route 53 test server, deletes a set identifier wherever it is in the zone); a cluster whose weight or
    addresses change gets a new one, its old share deleted and the new one created in one change."""
    return _share_identifier("weight", name, weight, addresses)


def weighted_value(identifier: str, weight: int, address: str) -> str:
    """One value of a :data:`WEIGHTED` record set."""
    return f"{identifier} {weight} {address}"


def split_weighted_values(values: Iterable[str]) -> dict[str, tuple[int, tuple[str, ...]]]:
    """A :data:`WEIGHTED` record set's values as set identifier → (weight, its IPv4 addresses, sorted);
    :class:`ValueError` for a value of another shape, a weight outside 0-255, or two weights of one set."""
    return _split_shares(
        values, _weight, kind="weighted", shape="<set identifier> <weight 0-255> <address>", key="weight"
    )


def _weight(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 <= int(text) <= 255 else None


_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


def latency_set_identifier(name: str, region: str, addresses: Iterable[str]) -> str:
    """The set identifier of the latency share of AWS ``region`` at ``name``: ours (``fedop-latency-``),
    derived from what the share holds, and unique in the zone (as :func:`weighted_set_identifier`)."""
    return _share_identifier("latency", name, region, addresses)


def latency_value(identifier: str, region: str, address: str) -> str:
    """One value of a :data:`LATENCY` record set."""
    return f"{identifier} {region} {address}"


def split_latency_values(values: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """A :data:`LATENCY` record set's values as set identifier → (AWS region, its IPv4 addresses, sorted);
    :class:`ValueError` for a value of another shape, a region that is no AWS region name, two regions of
    one set, or two sets of one region (Route 53 answers one record set per region)."""
    return _split_shares(
        values,
        lambda text: text if _AWS_REGION.match(text) else None,
        kind="latency",
        shape="<set identifier> <AWS region> <address>",
        key="region",
        one_set_each=True,
    )


# Google Cloud region names: ``us-central1``, ``northamerica-northeast1``, ``me-central2``.
_GEO_LOCATION = re.compile(
    r"^(\*|country:[A-Z]{2}|continent:(AF|AN|AS|EU|NA|OC|SA)|gcp:[a-z]+(-[a-z]+)+[0-9]+)$"
)


def geo_set_identifier(name: str, location: str, addresses: Iterable[str]) -> str:
    """The set identifier of the geolocation share of ``location`` at ``name``: ours (``fedop-geo-``),
    derived from what the share holds, and unique in the zone (as :func:`weighted_set_identifier`)."""
    return _share_identifier("geo", name, location, addresses)


def geo_value(identifier: str, location: str, address: str) -> str:
    """One value of a :data:`GEO` record set."""
    return f"{identifier} {location} {address}"


def split_geo_values(values: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """A :data:`GEO` record set's values as set identifier → (location, its IPv4 addresses, sorted);
    :class:`ValueError` for a value of another shape, two locations of one set, or two sets of one location
    (Route 53 refuses two record sets for one location)."""
    return _split_shares(
        values,
        lambda text: text if _GEO_LOCATION.match(text) else None,
        kind="geolocation",
        shape="<set identifier> <country:XX|continent:XX|*|gcp:region> <address>",
        key="location",
        one_set_each=True,
    )


def failover_set_identifier(name: str, role: str, addresses: Iterable[str]) -> str:
    """The set identifier of the failover share of ``role`` (``PRIMARY`` or ``SECONDARY``) at ``name``: ours
    (``fedop-failover-``), derived from what the share holds, and unique in the zone (as
    :func:`weighted_set_identifier`), so a share whose addresses change, or that changes role, is a new set:
    its old set deleted and the new one created in one change."""
    return _share_identifier("failover", name, role, addresses)


def failover_value(identifier: str, role: str, address: str) -> str:
    """One value of a :data:`FAILOVER` record set."""
    return f"{identifier} {role} {address}"


def split_failover_values(values: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """A :data:`FAILOVER` record set's values as set identifier → (``PRIMARY`` or ``SECONDARY``, its IPv4
    addresses, sorted); :class:`ValueError` for a value of another shape, two roles of one set, or two sets
    of one role (Route 53 takes one PRIMARY and one SECONDARY per name and type)."""
    return _split_shares(
        values,
        lambda text: text if text in FAILOVER_ROLES else None,
        kind="failover",
        shape="<set identifier> <PRIMARY|SECONDARY> <address>",
        key="role",
        one_set_each=True,
    )


def _share_identifier(prefix: str, name: str, key: str | int, targets: Iterable[str]) -> str:
    held = tuple(targets)
    hostname = share_hostname(held)
    if hostname is not None:
        canonical = hostname
    else:
        canonical = " ".join(str(a) for a in sorted(ipaddress.IPv4Address(a.strip()) for a in held))
    digest = hashlib.sha256(f"{normalize_name(name)} {key} {canonical}".encode()).hexdigest()[:16]
    return f"fedop-{prefix}-{digest}"


def share_hostname(targets: Iterable[str]) -> str | None:
    """The load balancer hostname of an *alias share* of a routing-policy group (a share whose one target is
    an AWS load balancer's hostname, which the provider answers with the load balancer's current addresses:
    Route 53 alias record sets with a routing policy), normalized; None for a share of IPv4 addresses.
    :class:`ValueError` for a hostname that is no load balancer Route 53 can alias to
    (:func:`~federation_operator.domain.elb.elb_hosted_zone`), or a hostname beside other targets (an alias
    record set names one target)."""
    held = [t.strip() for t in targets]
    hostnames = [t for t in held if not _is_ipv4(t)]
    if not hostnames:
        return None
    if len(held) != 1:
        raise ValueError(
            f"an alias share holds one load balancer hostname and nothing else, got {sorted(held)}"
        )
    hostname = normalize_name(hostnames[0])
    if elb_hosted_zone(hostname) is None:
        raise ValueError(f"{hostname} is no AWS load balancer with a known hosted zone: it cannot be aliased")
    return hostname


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


_Key = TypeVar("_Key", str, int)


def _split_shares(
    values: Iterable[str],
    parse: Callable[[str], _Key | None],
    *,
    kind: str,
    shape: str,
    key: str,
    one_set_each: bool = False,
) -> dict[str, tuple[_Key, tuple[str, ...]]]:
    """The values of a routing-policy group (each ``<set identifier> <key> <address>``) as set identifier →
    (its key: weight, region or location, and its IPv4 addresses, sorted); with ``one_set_each``, two sets
    may not share a key."""
    groups: dict[str, tuple[_Key, set[str]]] = {}
    for value in values:
        parts = value.split()
        parsed = parse(parts[1]) if len(parts) == 3 else None
        if parsed is None:
            raise ValueError(f"a {kind} value is '{shape}', got {value!r}")
        identifier = parts[0]
        held = groups.setdefault(identifier, (parsed, set()))
        if held[0] != parsed:
            raise ValueError(f"set identifier {identifier} has two {key}s: {held[0]} and {parsed}")
        held[1].add(parts[2])
    keys = [held for held, _ in groups.values()]
    if one_set_each and len(keys) != len(set(keys)):
        raise ValueError(f"one {kind} record set per {key}, got {sorted(keys)}")
    return {identifier: (held, _share_targets(targets)) for identifier, (held, targets) in groups.items()}


def _share_targets(targets: Iterable[str]) -> tuple[str, ...]:
    """A share's targets, canonical: its IPv4 addresses sorted by address, or its one load balancer hostname
    (:func:`share_hostname`)."""
    held = tuple(targets)
    addresses: set[ipaddress.IPv4Address] = set()
    for target in held:
        try:
            addresses.add(ipaddress.IPv4Address(target))
        except ValueError:  # a hostname: parsed once, as zone reads fold thousands of these values
            return (share_hostname(held) or target,)
    return tuple(str(a) for a in sorted(addresses))


def other_types_marker(name: str, types: Iterable[str]) -> RecordSet | None:
    """The :data:`OTHER` marker for ``types`` found at ``name`` (any types, as a provider lists them), or
    ``None`` when none of them is other data: managed types, DNSSEC records and the apex's SOA and NS are
    left out by the caller or here."""
    others = {t.upper() for t in types} - set(RECORD_TYPES) - {OTHER} - _NOT_OTHER
    return RecordSet(name=name, type=OTHER, ttl=0, values=tuple(others)) if others else None


@dataclass(frozen=True)
class ProviderLimits:
    """What one provider accepts, known to the planner so that nothing is discovered by a refusal.

    ``max_values_per_set``: records in one record set (BIND's ``max-records-per-type``, 100 by default;
    Cloud DNS's ``resourceRecordsPerRrset``, 100 by default); a tier with more healthy addresses publishes a
    deterministic subset (lowest addresses first) and says so. ``max_record_sets``: record sets in the zone
    (Cloud DNS's ``rrsetsPerManagedZone``, 10,000 by default; Route 53's hosted-zone limit, 10,000 by
    default); an owner whose new record sets would pass it gets them reported as conflicts, and the others
    publish. ``None``: no known limit.
    """

    max_values_per_set: int | None = None
    max_record_sets: int | None = None
    hostname_aliases: bool = False
    """Whether the provider answers load balancer hostnames itself (:data:`ALIAS`: Route 53)."""
    geo_by_gcp_region: bool = False
    """Whether the provider's geolocation routing is by Google Cloud region with no default location, each
    client answered from the nearest region's item (Cloud DNS ``geo``), rather than by Route 53 country or
    continent with the default ``*``."""
    group_in_one_set: bool = False
    """Whether a routing-policy group (:data:`WEIGHTED`, :data:`GEO`) is one record set at the provider
    (Cloud DNS: the items of one ``routingPolicy``), so ``max_values_per_set`` counts the addresses of all
    its sets together; else (Route 53) each set of the group is a record set of its own, held to it alone."""

    def __post_init__(self) -> None:
        for label, value in (
            ("max_values_per_set", self.max_values_per_set),
            ("max_record_sets", self.max_record_sets),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{label} must be at least 1, got {value}")


def in_zone(name: str, zone: str) -> bool:
    """Whether ``name`` is ``zone`` or a name below it (both as :func:`normalize_name` gives them)."""
    return name == zone or name.endswith(f".{zone}")


def cname_clash(types: Iterable[str]) -> tuple[str, ...]:
    """Among ``types``, the record types at one name, those standing beside a CNAME, sorted; empty when the
    types may share the name.

    A CNAME shares its name with no other data (RFC 1034 §3.6.2, RFC 2181 §10.1): servers refuse it, or
    silently drop one side. Types the operator does not manage (MX, NS, SOA...) count like any other.
    """
    present = set(types)
    return tuple(sorted(present - {"CNAME"})) if "CNAME" in present else ()


def cname_clashes(types_at: Mapping[str, Iterable[str]], changes: Changes) -> list[str]:
    """Each name that ``changes`` would leave holding a CNAME beside other data, in name order, said as
    ``<name> would hold a CNAME beside <types>`` (:func:`cname_clash`).

    ``types_at`` holds the record types at each name before the changes (all of them, or only those a
    provider knows of: what is not there cannot clash).
    """
    removed: dict[str, set[str]] = {}
    for record in changes.delete:
        removed.setdefault(record.name, set()).add(record.type)
    added: dict[str, set[str]] = {}
    for record in (*changes.update_new, *changes.create):
        added.setdefault(record.name, set()).add(record.type)
    clashes: list[str] = []
    for name in sorted(added):
        others = cname_clash((set(types_at.get(name, ())) - removed.get(name, set())) | added[name])
        if others:
            clashes.append(f"{name} would hold a CNAME beside {', '.join(others)}")
    return clashes


def routing_clashes(
    types_at: Mapping[str, Iterable[str]], changes: Changes, kinds: frozenset[str]
) -> list[str]:
    """Each name ``changes`` would leave holding two of ``kinds`` (record set types a provider stores as one
    type under different routing: a plain A, :data:`ALIAS`, :data:`WEIGHTED`), in name order, said as
    ``<name> would hold A record sets of two routing policies (<types>)``."""
    removed: dict[str, set[str]] = {}
    for record in changes.delete:
        removed.setdefault(record.name, set()).add(record.type)
    added: dict[str, set[str]] = {}
    for record in (*changes.update_new, *changes.create):
        added.setdefault(record.name, set()).add(record.type)
    found: list[str] = []
    for name in sorted(added):
        present = ((set(types_at.get(name, ())) - removed.get(name, set())) | added[name]) & kinds
        if len(present) > 1:
            found.append(
                f"{name} would hold A record sets of two routing policies ({', '.join(sorted(present))})"
            )
    return found


def describe_mismatch(expected: RecordSet, held: RecordSet | None) -> str | None:
    """What a zone holds instead of exactly ``expected`` (the precondition of a deletion or an update, which
    name the record set as planned, TTL and values), or ``None`` when it holds exactly that."""
    if held == expected:
        return None
    return f"the zone holds {held}" if held else "the zone holds no such record set"


def zone_problem(record: RecordSet, zone: str) -> ZoneProblem | None:
    """Why ``record`` cannot stand in ``zone`` (normalized), or ``None`` when it can.

    ``"outside"``: its name is not in the zone; ``"cname-at-apex"``: a CNAME at the zone's own name, where the
    zone's SOA and NS records are (:func:`cname_clash`).
    """
    if not in_zone(record.name, zone):
        return "outside"
    if record.name == zone and cname_clash((record.type, *_APEX_TYPES)):
        return "cname-at-apex"
    return None


@dataclass(frozen=True, order=True)
class Conflict:
    """A record set the plan wanted but left alone, and why (typically: someone else owns that name)."""

    name: str
    type: RecordType
    reason: str

    def __str__(self) -> str:
        return f"{self.name} {self.type}: {self.reason}"


@dataclass(frozen=True)
class ShardAddresses:
    """What one *healthy* shard contributes to DNS: where it is and how it is reached.

    ``zones`` are the zones the shard serves (those of its ready endpoints, else its cluster's). IP ingress is
    split by family; ``hostnames`` hold hostname ingress (an AWS ELB's), absolute with a trailing dot, which
    is published as a CNAME target and never resolved to addresses that would go stale.
    """

    cluster: str
    region: str
    zones: frozenset[str] = frozenset()
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "region", self.region.lower())
        object.__setattr__(self, "zones", frozenset(zone.lower() for zone in self.zones))
        object.__setattr__(self, "ipv4", _normalize_values("A", self.ipv4) if self.ipv4 else ())
        object.__setattr__(self, "ipv6", _normalize_values("AAAA", self.ipv6) if self.ipv6 else ())
        object.__setattr__(self, "hostnames", tuple(sorted({normalize_name(h) for h in self.hostnames})))

    @classmethod
    def from_ingress(
        cls, *, cluster: str, region: str, zones: Iterable[str], ingress: Iterable[Ingress]
    ) -> ShardAddresses:
        """Sort a member Service's LoadBalancer ingress into IPv4, IPv6 and hostnames.

        An ``ip`` that is not an IP address cannot be published and is left out (the shard's status still
        shows the raw ingress). A point with both an IP and a hostname contributes both; the planner then
        prefers the IP (see :func:`federation_operator.planning.records.plan_records`).
        """
        ipv4: list[str] = []
        ipv6: list[str] = []
        hostnames: list[str] = []
        for point in ingress:
            if point.ip:
                try:
                    address = ipaddress.ip_address(point.ip.strip())
                except ValueError:
                    pass
                else:
                    (ipv4 if address.version == 4 else ipv6).append(str(address))
            if point.hostname and point.hostname.strip(". "):
                hostnames.append(point.hostname)
        return cls(
            cluster=cluster,
            region=region,
            zones=frozenset(zones),
            ipv4=tuple(ipv4),
            ipv6=tuple(ipv6),
            hostnames=tuple(hostnames),
        )

    @property
    def has_addresses(self) -> bool:
        """Whether the shard has anything to publish."""
        return bool(self.ipv4 or self.ipv6 or self.hostnames)


@dataclass(frozen=True)
class ServiceNames:
    """The DNS names of one FederatedService, from the seed article.

    ``<svc>.<ns>.<federation>.svc.<domain>.`` (global), ``<svc>.<ns>.<federation>.svc.<region>.<domain>.``
    (region) and ``<svc>.<ns>.<federation>.svc.<zone>.<domain>.`` (zone).
    """

    service: str
    namespace: str
    federation: str
    domain: str
    _stem: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_name(self.domain))
        stem = f"{self.service}.{self.namespace}.{self.federation}.svc".lower()
        object.__setattr__(self, "_stem", stem)

    @property
    def global_name(self) -> str:
        """Every healthy shard, worldwide."""
        return f"{self._stem}.{self.domain}"

    def region_name(self, region: str) -> str:
        """Healthy shards of one region (else a CNAME to the global name)."""
        return f"{self._stem}.{region.lower()}.{self.domain}"

    def zone_name(self, zone: str) -> str:
        """Healthy shards serving one zone (else a CNAME to the zone's region name)."""
        return f"{self._stem}.{zone.lower()}.{self.domain}"

    def tier_label(self, name: str) -> str | None:
        """For a region or zone name, its region or zone label; ``""`` for the global name; else ``None``."""
        name = normalize_name(name)
        if name == self.global_name:
            return ""
        prefix, suffix = f"{self._stem}.", f".{self.domain}"
        if name.startswith(prefix) and name.endswith(suffix):
            label = name[len(prefix) : -len(suffix)]
            if label and "." not in label:
                return label
        return None


@dataclass(frozen=True)
class MirrorState:
    """How one zone on one provider (a mirror, when the zone has several) holds one owner's records:
    ``Published``, ``Pending``, ``Conflict`` or ``Failed``, and why."""

    zone: str
    mirror: str
    provider: str
    state: Literal["Published", "Pending", "Conflict", "Failed"]
    message: str


@dataclass(frozen=True)
class ZoneDelta:
    """What happened to a zone since a read of it, record by record, as a server's journal tells it (an
    incremental zone transfer): each step adds or removes one value of the record set at (name, type), with
    the TTL it was written with. Only managed types (a provider that meets any other reads the zone whole
    instead). Applying the steps in order to the zone as read then gives the zone as it is now."""

    steps: tuple[tuple[bool, str, RecordType, int, str], ...]
    """(added, name, type, TTL, value): ``added`` False for a removal. Names and values as the provider
    lists them (normalized as :class:`RecordSet` normalizes them when they are replayed)."""

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class PublishResult:
    """What the provider holds for one FederatedService after the last publishing round involving it."""

    desired: tuple[RecordSet, ...]
    conflicts: tuple[Conflict, ...] = ()
    error: str | None = None
    rejected: bool = False
    """True when ``error`` is the provider refusing this owner's own records (what they hold: a name or a set
    it will not take), which other owners' records do not share; False when it is the zone's fault (the
    provider unreachable, or refusing the operator), which every owner shares."""
    unconfirmed: str | None = None
    """Why the records, sent and accepted, are not known to be live yet (the provider has not confirmed the
    change within the polling bound), or ``None`` once it has."""
    mirrors: tuple[MirrorState, ...] = ()
    """With several zones or mirrors: each one's own state (empty with one zone on one provider)."""
