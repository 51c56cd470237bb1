"""Record sets as Cloud DNS JSON, and a plan as Cloud DNS *changes* within the per-change limits (pure).

- **Record sets.** :func:`render_rrset` and :func:`read_rrset` translate between a ``RecordSet`` and the
  v1 API's ``ResourceRecordSet``. TXT data is in presentation form (``"part one" "part two"``, RFC 1035
  decimal escapes: :mod:`federation_operator.dns.txt`) and is read back as one value per record. A
  ``WEIGHTED`` record set (the ``weighted`` policy) is an A record set with a weighted round robin routing
  policy, an item per share, and a ``GEO`` record set (the ``geolocation`` policy, its locations Google Cloud
  regions) an A record set with a ``geo`` routing policy, an item per region; such record sets of plain
  items (no health checks, no fencing) are read back as the groups they stand for. A ``FAILOVER`` record set
  (``failover`` with ``gcpHealthCheck``) is an A record set with a ``primaryBackup`` routing policy: the
  PRIMARY share's addresses as external endpoints probed by the Compute Engine health check its set
  identifier names, the SECONDARY share's as the one backup ``geo`` item, in the region its identifier names
  (:mod:`federation_operator.domain.gcp_failover`); read back into the same identifiers. Any other record set
  with a routing policy is read as the union of its policy's data, so it shows up as the foreign data it
  is; a type the operator does not manage, or data it cannot read, is skipped (the latter logged).
- **Changes.** A change is atomic and its ``deletions`` are preconditions: the server applies it only if
  every deleted record set is held exactly as sent. So deletions and the old side of updates are sent as
  the record sets were *read* (``as_read``), an update is the deletion of the old record set plus the
  addition of the new one, and an A → CNAME switch is one change. A plan is one change, unless it exceeds
  :class:`ChangeLimits`; then it is split into as few changes as fit, never splitting the changes at one
  name (a record set and its ownership records) across two (:func:`plan_change_requests`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from federation_operator.dns.packing import pack_greedily
from federation_operator.dns.txt import parse_txt, render_txt
from federation_operator.domain.errors import PermanentError, RejectedChangeError
from federation_operator.domain.gcp_failover import (
    read_gcp_health_check,
    read_gcp_location,
    with_gcp_health_check,
    with_gcp_location,
)
from federation_operator.domain.ownership import group_changes_by_name
from federation_operator.domain.records import (
    FAILOVER,
    GEO,
    RECORD_TYPES,
    WEIGHTED,
    Changes,
    RecordSet,
    failover_set_identifier,
    failover_value,
    geo_set_identifier,
    geo_value,
    split_failover_values,
    split_geo_values,
    split_weighted_values,
    weighted_set_identifier,
    weighted_value,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ChangeLimits",
    "ChangeRequest",
    "NameChanges",
    "RrsetJson",
    "plan_change_requests",
    "read_rrset",
    "render_rrset",
]

log = logging.getLogger(__name__)

_GCP = "gcp:"  # a GEO location that is a Google Cloud region, as Cloud DNS geo items name them


@dataclass(frozen=True)
class ChangeLimits:
    """What one Cloud DNS change may hold.

    The defaults are the documented per-project defaults ("Quotas and limits",
    https://cloud.google.com/dns/quotas: additions per change 1,000, deletions per change 1,000, resource
    record data size per change 100,000 bytes, records per RR set 100; the API reports a project's own values
    as ``rrsetAdditionsPerChange``, ``rrsetDeletionsPerChange``, ``totalRrdataSizePerChange`` and
    ``resourceRecordsPerRrset`` of ``projects.get``). A project granted more can raise them here.
    """

    additions: int = 1000
    deletions: int = 1000
    rrdata_bytes: int = 100_000
    records_per_rrset: int = 100

    def __post_init__(self) -> None:
        for name in ("additions", "deletions", "rrdata_bytes", "records_per_rrset"):
            if getattr(self, name) < 1:
                raise PermanentError(f"clouddns: limit {name} must be at least 1")


DEFAULT_LIMITS = ChangeLimits()


class RrsetJson(TypedDict):
    """A ResourceRecordSet of the Cloud DNS v1 API, as sent and as read."""

    name: str
    type: str
    ttl: int
    rrdatas: NotRequired[list[str]]
    routingPolicy: NotRequired[dict[str, Any]]
    kind: NotRequired[str]


@dataclass
class NameChanges:
    """Every change at one name (a record set's own name and its ownership records' names), as JSON."""

    name: str
    deletions: list[RrsetJson] = field(default_factory=list)
    additions: list[RrsetJson] = field(default_factory=list)


@dataclass
class ChangeRequest:
    """One Cloud DNS change: the whole names it carries, and what they count against the limits."""

    limits: ChangeLimits
    groups: list[NameChanges] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0
    rrdata_bytes: int = 0

    def add(self, group: NameChanges) -> bool:
        """Count ``group`` in, unless the change would then exceed the limits (then nothing changes)."""
        additions = self.additions + len(group.additions)
        deletions = self.deletions + len(group.deletions)
        size = self.rrdata_bytes + sum(_rrdata_size(r) for r in (*group.additions, *group.deletions))
        limits = self.limits
        if additions > limits.additions or deletions > limits.deletions or size > limits.rrdata_bytes:
            return False
        self.groups.append(group)
        self.additions, self.deletions, self.rrdata_bytes = additions, deletions, size
        return True

    def body(self) -> dict[str, list[RrsetJson]]:
        return {
            "additions": [r for g in self.groups for r in g.additions],
            "deletions": [r for g in self.groups for r in g.deletions],
        }


def plan_change_requests(
    changes: Changes, *, limits: ChangeLimits, as_read: Callable[[RecordSet], RrsetJson]
) -> list[ChangeRequest]:
    """``changes`` as as few Cloud DNS changes as ``limits`` allow, whole names in name order.

    ``as_read`` gives a deletion's JSON (the record set as last read, where it matches). Raises
    :class:`RejectedChangeError` for a record set with more records than one may hold, or a name whose changes
    exceed one change on their own.
    """
    groups: list[NameChanges] = []
    for name, part in group_changes_by_name(changes):
        group = NameChanges(name)
        group.deletions += [as_read(record) for record in (*part.delete, *part.update_old)]
        for record in (*part.update_new, *part.create):
            rendered = render_rrset(record)
            # A routing policy's records are counted as its distinct data (a failover whose primary is its own
            # backup lists each address twice); the quota's documentation does not say, our fake does so.
            count = len(set(rendered.get("rrdatas") or _policy_rrdatas(rendered.get("routingPolicy"))))
            if count > limits.records_per_rrset:
                raise RejectedChangeError(
                    f"{record.name} {record.type} has {count} records; Cloud DNS takes at "
                    f"most {limits.records_per_rrset} per record set"
                )
            group.additions.append(rendered)
        groups.append(group)
    return pack_greedily(
        groups,
        new_request=lambda: ChangeRequest(limits),
        add=ChangeRequest.add,
        too_big=lambda group: RejectedChangeError(
            f"the changes at {group.name} exceed what one Cloud DNS change may hold ({limits})"
        ),
    )


def render_rrset(record: RecordSet) -> RrsetJson:
    """``record`` as the API takes it; a :data:`WEIGHTED` record set as an A record set with a weighted round
    robin routing policy, an item per share (its weight and addresses), in set identifier order; a
    :data:`GEO` record set as an A record set with a ``geo`` routing policy, an item per Google Cloud region
    (its addresses), in region order. :class:`RejectedChangeError` for a GEO location that is no Google Cloud
    region (Route 53's countries, continents and ``*``: Cloud DNS has no such locations); a :data:`FAILOVER`
    record set as an A record set with a ``primaryBackup`` routing policy (:func:`_render_failover`)."""
    if record.type == FAILOVER:
        return _render_failover(record)
    if record.type == GEO:
        places = sorted(split_geo_values(record.values).values())
        foreign = [place for place, _ in places if not place.startswith(_GCP)]
        if foreign:
            raise RejectedChangeError(
                f"{record.name} geolocation locations {', '.join(foreign)}: Cloud DNS geo routing locates "
                "clients by Google Cloud region only"
            )
        geo_items = [
            {"location": place.removeprefix(_GCP), "rrdatas": list(addresses)} for place, addresses in places
        ]
        return {
            "name": record.name,
            "type": "A",
            "ttl": record.ttl,
            "routingPolicy": {"geo": {"items": geo_items}},
        }
    if record.type == WEIGHTED:
        shares = sorted(split_weighted_values(record.values).items())
        items = [{"weight": weight, "rrdatas": list(addresses)} for _, (weight, addresses) in shares]
        return {
            "name": record.name,
            "type": "A",
            "ttl": record.ttl,
            "routingPolicy": {"wrr": {"items": items}},
        }
    values = [render_txt(v) for v in record.values] if record.type == "TXT" else list(record.values)
    return {"name": record.name, "type": record.type, "ttl": record.ttl, "rrdatas": values}


def _render_failover(record: RecordSet) -> RrsetJson:
    """A :data:`FAILOVER` record set as a ``primaryBackup`` routing policy: the PRIMARY share's addresses as
    external endpoints, probed by the Compute Engine health check its identifier carries, and the SECONDARY
    share's as the one backup ``geo`` item, in the region its identifier carries (a lone item is every
    client's nearest). :class:`RejectedChangeError` for a group without them: Cloud DNS has no failover
    without a health check (``spec.dns.policy.gcpHealthCheck``) and a backup."""
    roles = {
        role: (identifier, addresses)
        for identifier, (role, addresses) in split_failover_values(record.values).items()
    }
    primary, backup = roles.get("PRIMARY"), roles.get("SECONDARY")
    check = read_gcp_health_check(primary[0]) if primary is not None else None
    location = read_gcp_location(backup[0]) if backup is not None else None
    if primary is None or backup is None or check is None or location is None:
        raise RejectedChangeError(
            f"{record.name} failover: Cloud DNS fails over with a primaryBackup routing policy, which needs "
            "a PRIMARY share probed by a Compute Engine health check (spec.dns.policy.gcpHealthCheck) and a "
            "SECONDARY share in a Google Cloud region"
        )
    return {
        "name": record.name,
        "type": "A",
        "ttl": record.ttl,
        "routingPolicy": {
            "primaryBackup": {
                "primaryTargets": {"externalEndpoints": list(primary[1])},
                "backupGeoTargets": {"items": [{"location": location, "rrdatas": list(backup[1])}]},
            },
            "healthCheck": check,
        },
    }


def _read_weighted(raw: dict[str, Any]) -> RecordSet | None:
    """An A record set whose routing policy is a weighted round robin of plain items (whole weights 0-255,
    IPv4 rrdatas), as the :data:`WEIGHTED` record set it stands for; None for anything else."""
    policy = raw.get("routingPolicy")
    if raw.get("type") != "A" or raw.get("rrdatas") or not isinstance(policy, dict):
        return None
    if set(policy) - {"kind"} != {"wrr"} or not isinstance(policy["wrr"], dict):
        return None
    items = policy["wrr"].get("items")
    if not isinstance(items, list) or not items:
        return None
    values: list[str] = []
    for item in items:
        if not isinstance(item, dict) or set(item) - {"kind", "weight", "rrdatas"}:
            return None
        weight, addresses = item.get("weight"), item.get("rrdatas")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight != int(weight):
            return None
        if not isinstance(addresses, list) or not addresses:
            return None
        try:
            identifier = weighted_set_identifier(str(raw["name"]), int(weight), [str(a) for a in addresses])
        except ValueError:  # not IPv4 addresses
            return None
        values += [weighted_value(identifier, int(weight), str(a)) for a in addresses]
    try:
        return RecordSet(
            name=str(raw["name"]), type=WEIGHTED, ttl=int(raw.get("ttl", 0)), values=tuple(values)
        )
    except (KeyError, TypeError, ValueError):
        return None


def _read_geo(raw: dict[str, Any]) -> RecordSet | None:
    """An A record set whose routing policy is ``geo`` of plain items (a location, IPv4 rrdatas; no health
    checks, no fencing), as the :data:`GEO` record set it stands for; None for anything else."""
    policy = raw.get("routingPolicy")
    if raw.get("type") != "A" or raw.get("rrdatas") or not isinstance(policy, dict):
        return None
    if set(policy) - {"kind"} != {"geo"} or not isinstance(policy["geo"], dict):
        return None
    geo = policy["geo"]
    items = geo.get("items")
    if set(geo) - {"kind", "items", "enableFencing"} or geo.get("enableFencing"):
        return None
    if not isinstance(items, list) or not items:
        return None
    values: list[str] = []
    for item in items:
        if not isinstance(item, dict) or set(item) - {"kind", "location", "rrdatas"}:
            return None
        location, addresses = item.get("location"), item.get("rrdatas")
        if not isinstance(location, str) or not isinstance(addresses, list) or not addresses:
            return None
        place = f"{_GCP}{location}"
        try:
            identifier = geo_set_identifier(str(raw["name"]), place, [str(a) for a in addresses])
        except ValueError:  # not IPv4 addresses
            return None
        values += [geo_value(identifier, place, str(a)) for a in addresses]
    try:
        return RecordSet(name=str(raw["name"]), type=GEO, ttl=int(raw.get("ttl", 0)), values=tuple(values))
    except (KeyError, TypeError, ValueError):  # a location that is no Google Cloud region name, say
        return None


def _read_failover(raw: dict[str, Any]) -> RecordSet | None:
    """An A record set whose routing policy is ``primaryBackup`` as the operator writes it (external
    endpoints probed by a global Compute Engine health check, one plain backup ``geo`` item, no fencing, no
    trickled traffic), as the :data:`FAILOVER` record set it stands for; None for anything else."""
    policy = raw.get("routingPolicy")
    if raw.get("type") != "A" or raw.get("rrdatas") or not isinstance(policy, dict):
        return None
    if set(policy) - {"kind"} != {"primaryBackup", "healthCheck"}:
        return None
    body, check = policy["primaryBackup"], policy["healthCheck"]
    if not isinstance(body, dict) or not isinstance(check, str):
        return None
    if set(body) - {"kind", "trickleTraffic"} != {"primaryTargets", "backupGeoTargets"}:
        return None
    trickle = body.get("trickleTraffic", 0)
    targets, backup = body["primaryTargets"], body["backupGeoTargets"]
    if isinstance(trickle, bool) or trickle not in (0, 0.0) or not isinstance(targets, dict):
        return None
    if set(targets) - {"kind"} != {"externalEndpoints"} or not isinstance(backup, dict):
        return None
    if set(backup) - {"kind", "items", "enableFencing"} or backup.get("enableFencing"):
        return None
    endpoints, items = targets["externalEndpoints"], backup.get("items")
    if not isinstance(endpoints, list) or not endpoints or not isinstance(items, list) or len(items) != 1:
        return None
    (item,) = items
    if not isinstance(item, dict) or set(item) - {"kind", "location", "rrdatas"}:
        return None
    location, addresses = item.get("location"), item.get("rrdatas")
    if not isinstance(location, str) or not isinstance(addresses, list) or not addresses:
        return None
    name = str(raw.get("name", ""))
    try:
        primary = [str(a) for a in endpoints]
        standby = [str(a) for a in addresses]
        primary_id = with_gcp_health_check(failover_set_identifier(name, "PRIMARY", primary), check)
        backup_id = with_gcp_location(failover_set_identifier(name, "SECONDARY", standby), location)
        values = [failover_value(primary_id, "PRIMARY", a) for a in primary]
        values += [failover_value(backup_id, "SECONDARY", a) for a in standby]
        return RecordSet(name=name, type=FAILOVER, ttl=int(raw.get("ttl", 0)), values=tuple(values))
    except (TypeError, ValueError):  # not IPv4 addresses, a health check of another shape...
        return None


def read_rrset(raw: dict[str, Any]) -> RecordSet | None:
    """The record set ``raw`` stands for, or ``None`` for a type the operator does not manage (or data it
    cannot read, which is logged: a foreign oddity must not stop the zone from being published)."""
    rtype = raw.get("type")
    if rtype not in RECORD_TYPES:
        return None
    grouped = _read_weighted(raw) or _read_geo(raw) or _read_failover(raw)
    if grouped is not None:
        return grouped
    # A record set with a routing policy (geo, weighted, primaryBackup) has its data in the policy's items
    # (and a failover's primary targets): their union stands for it, so that it shows up as the foreign
    # record it is at that name.
    rrdatas = raw.get("rrdatas") or sorted(set(_policy_rrdatas(raw.get("routingPolicy"))))
    try:
        values = [parse_txt(v) for v in rrdatas] if rtype == "TXT" else [str(v) for v in rrdatas]
        return RecordSet(name=str(raw["name"]), type=rtype, ttl=int(raw.get("ttl", 0)), values=tuple(values))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring Cloud DNS record set %s %s: %s", raw.get("name"), rtype, exc)
        return None


def _policy_rrdatas(policy: object) -> Iterator[str]:
    if isinstance(policy, dict):
        for key, value in policy.items():
            # A failover policy's primary targets are its external endpoints: data like rrdatas.
            if key in ("rrdatas", "externalEndpoints") and isinstance(value, list):
                yield from (str(v) for v in value)
            else:
                yield from _policy_rrdatas(value)
    elif isinstance(policy, list):
        for item in policy:
            yield from _policy_rrdatas(item)


def _rrdata_size(rrset: RrsetJson) -> int:
    # The quota does not say how it measures rrdata; the text as sent, plus a length octet per record,
    # is at least the wire size for every type the operator writes.
    rrdatas = [*rrset.get("rrdatas", ()), *_policy_rrdatas(rrset.get("routingPolicy"))]
    return sum(len(data.encode()) + 1 for data in rrdatas)
