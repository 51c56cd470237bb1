"""The Route 53 hosted zone as the provider last read it, and the rules it checks a plan against (pure).

- **Reading.** ``ListResourceRecordSets`` pages are added to a :class:`ZoneState`, which keeps A, AAAA,
  CNAME and TXT record sets. Route 53 writes names with octal escapes (``\\052`` for ``*``) and TXT values as
  quoted character-strings (``"abc" "def"``, with ``\\"``, ``\\\\`` and ``\\ooo`` escapes); both are
  unescaped (:func:`parse_route53_name`, :mod:`federation_operator.dns.txt`), and the strings of one TXT value
  joined, so what is read back equals what was planned.
- **The operator's alias records**: weighted alias A records whose ``SetIdentifier`` starts with ``fedop-``
  are folded, per name, into one ``ALIAS`` record set of their load balancer hostnames, with the addresses
  (and TTL) of a mixed tier's weighted A record set (``fedop-addresses-...``), what the planner planned, so
  that a second round plans nothing.
- **The operator's weighted record sets** (``spec.dns.policy`` type ``weighted``): weighted A record sets
  whose ``SetIdentifier`` starts with ``fedop-weight-`` are folded, per name, into one ``WEIGHTED`` record
  set (set identifier, weight and address per value), what the planner planned.
- **The operator's latency record sets** (type ``latency``): latency A record sets whose ``SetIdentifier``
  starts with ``fedop-latency-`` are folded into one ``LATENCY`` record set the same way, and geolocation A
  record sets starting with ``fedop-geo-`` into one ``GEO`` record set (type ``geolocation``), and failover
  A record sets starting with ``fedop-failover-`` into one ``FAILOVER`` record set (type ``failover`` with
  ``healthCheck``; a name holding two of one role, which Route 53 refuses and moto stores, is not one we
  write: its sets are stand-ins). A set of these groups may be an alias A record set of ours (a shard
  reached by an AWS load balancer only): it folds in as the load balancer's hostname when its
  ``AliasTarget`` is what the operator writes (the load balancer's canonical hosted zone,
  ``EvaluateTargetHealth`` true), and, having no TTL, leaves the group's TTL to its address sets (0 when it
  has none), as the planner plans it.
- **Health checks**: the ``HealthCheckId`` of each of our routing-policy sets is kept by set identifier
  (:attr:`ZoneState.health_checks`), so a ``DELETE`` names the set exactly and the provider knows which of
  its health checks are in use.
- **Other alias and routing-policy record sets** (``AliasTarget``, ``SetIdentifier``,
  ``TrafficPolicyInstanceId``) cannot be expressed as a ``RecordSet``, and the operator never writes them.
  Each (name, type) holding one is listed as a *stand-in*: TTL 0 and the value ``0.0.0.0`` (A), ``::`` (AAAA),
  ``alias.invalid.`` (CNAME) or ``route53 alias or routing-policy record set`` (TXT). The stand-in occupies
  its name and type for the diff, and has no ownership record, so
  :func:`~federation_operator.planning.zone_diff.plan_changes` treats it as foreign: reported as a conflict
  when wanted, never deleted. A record set listed twice under one name and type, or with values that are no
  such data (an A without an address), is listed as a stand-in too.

**Rules our own code enforces.** Real Route 53 refuses a CNAME beside other data at one name, a ``DELETE``
that does not match the current record set, a ``CREATE`` of a record set that exists, and applies a batch
all or nothing. moto's server (our test double) does none of these faithfully: it stores a CNAME beside an
A, duplicates a record set on ``CREATE``, checks a ``DELETE`` against its change journal instead of the
zone, and applies a failing batch partially. So before the first request the provider checks the *whole*
plan against the zone as it last read it (:meth:`ZoneState.check`), kept up to date by its own successful
batches (:meth:`ZoneState.apply`):

- a deletion or update whose record set is not held exactly, or a creation that finds one:
  ``StaleChangesError``, nothing sent;
- a name that would hold a CNAME beside other data (of any type, foreign or ours): ``PermanentError`` naming
  the name, nothing sent;
- a change to an alias or routing-policy record set: ``PermanentError``, nothing sent;
- a name that would hold A record sets under two routing policies (a plain A beside our weighted sets or
  our alias group): ``PermanentError``, nothing sent (moto stores them; Route 53 refuses them);
- one PRIMARY and one SECONDARY failover set per name: a ``FAILOVER`` record set cannot hold two sets of
  one role (:func:`~federation_operator.domain.records.split_failover_values`), so no plan sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from federation_operator.dns.route53.batches import read_geolocation
from federation_operator.dns.txt import parse_txt, unescape_at
from federation_operator.domain.elb import elb_hosted_zone
from federation_operator.domain.errors import PermanentError, StaleChangesError
from federation_operator.domain.records import (
    ALIAS,
    FAILOVER,
    GEO,
    LATENCY,
    RECORD_TYPES,
    WEIGHTED,
    Changes,
    RecordKey,
    RecordSet,
    RecordType,
    cname_clashes,
    describe_mismatch,
    failover_value,
    geo_value,
    latency_value,
    normalize_name,
    routing_clashes,
    weighted_value,
)

if TYPE_CHECKING:
    from mypy_boto3_route53.type_defs import ResourceRecordSetOutputTypeDef

__all__ = ["ZoneState", "parse_route53_name"]

_STAND_INS: Mapping[RecordType, str] = {
    "A": "0.0.0.0",
    "AAAA": "::",
    "CNAME": "alias.invalid.",
    "TXT": "route53 alias or routing-policy record set",
}
_SPECIAL_KEYS = ("AliasTarget", "SetIdentifier", "TrafficPolicyInstanceId")


@dataclass
class ZoneState:
    """The hosted zone as last read, advanced by the provider's own successful batches."""

    records: dict[RecordKey, RecordSet] = field(default_factory=dict)
    special: set[RecordKey] = field(default_factory=set)
    """Keys listed as stand-ins: alias and routing-policy record sets, or record sets Route 53 lists oddly."""
    types_at: dict[str, set[str]] = field(default_factory=dict)
    """Every record type at every name, unmanaged ones (MX, SRV, NS...) too: CNAME exclusivity needs them."""
    health_checks: dict[str, str] = field(default_factory=dict)
    """Set identifier → the ``HealthCheckId`` of our routing-policy set that names one (kept by the provider
    as it creates and deletes them)."""
    _timed: set[RecordKey] = field(default_factory=set, repr=False)
    """The routing-policy groups read so far holding an address set (whose TTL is the group's), as against
    alias sets only (no TTL): while reading, a later address set sets the TTL of a group of aliases."""

    def add(self, rrset: ResourceRecordSetOutputTypeDef) -> None:
        name = parse_route53_name(rrset["Name"])
        rtype = rrset["Type"]
        if any(
            fold(name, rrset)
            for fold in (self._add_weighted, self._add_latency, self._add_geo, self._add_failover)
        ):
            if rrset.get("HealthCheckId"):
                self.health_checks[rrset.get("SetIdentifier", "")] = rrset["HealthCheckId"]
            return
        if self._add_alias(name, rrset):
            return
        self.types_at.setdefault(name, set()).add(rtype)
        if rtype not in RECORD_TYPES:
            return
        key: RecordKey = (name, rtype)
        record = None
        if key not in self.records and not any(k in rrset for k in _SPECIAL_KEYS):
            record = _record_of(name, rtype, rrset)
        if record is None:
            self.special.add(key)
            record = RecordSet(name=name, type=rtype, ttl=0, values=(_STAND_INS[rtype],))
        self.records[key] = record

    def _add_weighted(self, name: str, rrset: ResourceRecordSetOutputTypeDef) -> bool:
        """Fold one of our weighted A record sets of a ``weighted`` policy (set identifier
        ``fedop-weight-...``) into the name's WEIGHTED record set; False for any other."""
        identifier = rrset.get("SetIdentifier", "")
        weight = rrset.get("Weight")
        addresses = _share_targets(rrset)
        if (
            rrset["Type"] != "A"
            or not identifier.startswith("fedop-weight-")
            or weight is None
            or not addresses
        ):
            return False
        return self._fold(
            name, WEIGHTED, _share_ttl(rrset), [weighted_value(identifier, weight, a) for a in addresses]
        )

    def _add_latency(self, name: str, rrset: ResourceRecordSetOutputTypeDef) -> bool:
        """Fold one of our latency A record sets of a ``latency`` policy (set identifier
        ``fedop-latency-...``) into the name's LATENCY record set; False for any other."""
        identifier = rrset.get("SetIdentifier", "")
        region = rrset.get("Region")
        addresses = _share_targets(rrset)
        ours = rrset["Type"] == "A" and identifier.startswith("fedop-latency-")
        if not ours or region is None or not addresses:
            return False
        return self._fold(
            name, LATENCY, _share_ttl(rrset), [latency_value(identifier, region, a) for a in addresses]
        )

    def _add_geo(self, name: str, rrset: ResourceRecordSetOutputTypeDef) -> bool:
        """Fold one of our geolocation A record sets of a ``geolocation`` policy (set identifier
        ``fedop-geo-...``) into the name's GEO record set; False for any other."""
        identifier = rrset.get("SetIdentifier", "")
        geolocation = rrset.get("GeoLocation")
        addresses = _share_targets(rrset)
        ours = rrset["Type"] == "A" and identifier.startswith("fedop-geo-")
        place = read_geolocation(cast(Mapping[str, str], geolocation)) if geolocation else None
        if not ours or place is None or not addresses:
            return False
        return self._fold(name, GEO, _share_ttl(rrset), [geo_value(identifier, place, a) for a in addresses])

    def _add_failover(self, name: str, rrset: ResourceRecordSetOutputTypeDef) -> bool:
        """Fold one of our failover A record sets of a ``failover`` policy with ``healthCheck`` (set
        identifier ``fedop-failover-...``) into the name's FAILOVER record set; False for any other."""
        identifier = rrset.get("SetIdentifier", "")
        role = rrset.get("Failover")
        addresses = _share_targets(rrset)
        ours = rrset["Type"] == "A" and identifier.startswith("fedop-failover-")
        if not ours or role is None or not addresses:
            return False
        return self._fold(
            name, FAILOVER, _share_ttl(rrset), [failover_value(identifier, role, a) for a in addresses]
        )

    def _fold(self, name: str, kind: RecordType, ttl: int | None, values: list[str]) -> bool:
        """Add the ``values`` of one provider record set to the name's ``kind`` group (WEIGHTED, LATENCY,
        GEO, FAILOVER: one logical record set of several provider ones); False when the group would not be
        one we write (values of another shape, two weights or places for one set, two TTLs): foreign.
        ``ttl`` None: an alias share, which has no TTL; the group's is its address sets' (0 without any)."""
        key: RecordKey = (name, kind)
        held = self.records.get(key)
        if held is not None and ttl is not None and key in self._timed and held.ttl != ttl:
            return False
        group_ttl = ttl if ttl is not None else (held.ttl if held is not None else 0)
        try:
            record = RecordSet(
                name=name, type=kind, ttl=group_ttl, values=(*(held.values if held else ()), *values)
            )
        except ValueError:
            return False
        if ttl is not None:
            self._timed.add(key)
        self.records[key] = record
        self.types_at.setdefault(name, set()).add(kind)
        return True

    def _add_alias(self, name: str, rrset: ResourceRecordSetOutputTypeDef) -> bool:
        """Fold one of our weighted A records (an alias, or a mixed tier's addresses) into the name's ALIAS
        record set; False for any other."""
        target = rrset.get("AliasTarget")
        identifier = rrset.get("SetIdentifier", "")
        # A weighted policy's set that _add_weighted did not take is not what we write: foreign.
        ours = identifier.startswith("fedop-") and not identifier.startswith(
            ("fedop-weight-", "fedop-latency-", "fedop-geo-", "fedop-failover-")
        )
        if rrset["Type"] != "A" or not ours:
            return False
        key: RecordKey = (name, ALIAS)
        held = self.records.get(key)
        ttl = held.ttl if held else 0
        if target is not None:
            added = [parse_route53_name(target["DNSName"])]
        elif rrset.get("ResourceRecords"):
            added = [item["Value"] for item in rrset.get("ResourceRecords", [])]
            ttl = rrset.get("TTL", 0)
        else:
            return False
        try:
            record = RecordSet(
                name=name, type=ALIAS, ttl=ttl, values=(*(held.values if held else ()), *added)
            )
        except ValueError:  # not addresses: not what we write, so foreign
            return False
        self.records[key] = record
        self.types_at.setdefault(name, set()).add(ALIAS)
        return True

    def check(self, changes: Changes) -> None:
        """Raise unless the whole of ``changes`` applies to this zone as Route 53 would apply it."""
        removed: dict[RecordKey, RecordSet] = {}
        for record in (*changes.delete, *changes.update_old):
            if record.key in removed:
                raise PermanentError(f"route53: the plan removes {record.name} {record.type} twice")
            removed[record.key] = record
            if record.key in self.special:
                raise PermanentError(
                    f"route53: {record.name} {record.type} is an alias or routing-policy record set, "
                    "which federation-operator never changes"
                )
            mismatch = describe_mismatch(record, self.records.get(record.key))
            if mismatch:
                raise StaleChangesError(f"route53: cannot delete or update {record}: {mismatch}")
        created: set[RecordKey] = set()
        for record in changes.create:
            if record.key in created:
                raise PermanentError(f"route53: the plan creates {record.name} {record.type} twice")
            created.add(record.key)
            if record.key in self.special or (record.key in self.records and record.key not in removed):
                raise StaleChangesError(
                    f"route53: cannot create {record}: the zone already holds {record.type}"
                )
        clashes = cname_clashes(self.types_at, changes)
        if clashes:
            raise PermanentError(f"route53: {clashes[0]}, which Route 53 refuses; nothing was sent")
        mixed = routing_clashes(self.types_at, changes, _A_KINDS)
        if mixed:
            raise PermanentError(f"route53: {mixed[0]}, which Route 53 refuses; nothing was sent")

    def apply(self, changes: Changes) -> None:
        """Advance the state by ``changes``, which Route 53 has just applied (after :meth:`check`)."""
        for record in changes.delete:
            del self.records[record.key]
            types = self.types_at[record.name]
            types.discard(record.type)
            if not types:
                del self.types_at[record.name]
        for record in (*changes.update_new, *changes.create):
            self.records[record.key] = record
            self.types_at.setdefault(record.name, set()).add(record.type)


# What Route 53 holds as A record sets: a plain one, our weighted group of aliases (and addresses), or our
# weighted sets of a weighted policy. Every A record set of a name shares one routing policy (moto does not
# check it), so at most one of these stands at a name.
_A_KINDS = frozenset({"A", ALIAS, WEIGHTED, LATENCY, GEO, FAILOVER})


def _share_targets(rrset: ResourceRecordSetOutputTypeDef) -> list[str]:
    """The targets of one set of a routing-policy group: its addresses, or for an alias set the load
    balancer's hostname, when the alias is one we write (the load balancer's canonical hosted zone, and
    ``EvaluateTargetHealth`` true); empty otherwise (not ours)."""
    target = rrset.get("AliasTarget")
    if target is None:
        return [item["Value"] for item in rrset.get("ResourceRecords", [])]
    hostname = parse_route53_name(target["DNSName"])
    if rrset.get("ResourceRecords") or not target.get("EvaluateTargetHealth"):
        return []
    if elb_hosted_zone(hostname) != target["HostedZoneId"]:
        return []
    return [hostname]


def _share_ttl(rrset: ResourceRecordSetOutputTypeDef) -> int | None:
    """A set's TTL; None for an alias set, which has none (Route 53 answers with the target's)."""
    return None if "AliasTarget" in rrset else rrset.get("TTL", 0)


def _record_of(name: str, rtype: RecordType, rrset: ResourceRecordSetOutputTypeDef) -> RecordSet | None:
    """The record set Route 53 listed, or ``None`` when it is no plain record set (listed as a stand-in)."""
    raw = [item["Value"] for item in rrset.get("ResourceRecords", [])]
    if rtype == "TXT":
        values = [parse_txt(value, radix=8) for value in raw]
    elif rtype == "CNAME":
        values = [parse_route53_name(value) for value in raw]
    else:
        values = raw
    try:
        return RecordSet(name=name, type=rtype, ttl=rrset.get("TTL", 0), values=tuple(values))
    except ValueError:  # no values, or values no resolver would read as such: foreign, whatever they are
        return None


def parse_route53_name(name: str) -> str:
    """A name as Route 53 lists it (``\\052.example.com.``), unescaped and normalized (``*.example.com.``).

    An escaped dot inside a label (``\\056``) cannot be told apart once unescaped; the operator publishes no
    such name, and a foreign one only has to stay distinct from ours, which it does.
    """
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name):
            octet, i = unescape_at(name, i, radix=8)
            out.append(octet)
        else:
            out += name[i].encode()
            i += 1
    return normalize_name(out.decode(errors="backslashreplace"))
