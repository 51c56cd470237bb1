"""A plan as Route 53 ``ChangeResourceRecordSets`` requests, within Route 53's limits (pure).

==========================  =========================================================================
change                      Route 53 changes
==========================  =========================================================================
delete ``old``              ``DELETE`` of ``old`` exactly as held (TTL and every value)
update ``old`` → ``new``    ``DELETE`` of ``old`` exactly as held, then ``CREATE`` of ``new``
create ``new``              ``CREATE`` of ``new``
==========================  =========================================================================

A ``WEIGHTED`` record set (``spec.dns.policy`` type ``weighted``) is one weighted A record set per set
identifier it holds (one per member cluster, ``fedop-weight-...``, owned by the operator), with its weight
and the record set's TTL; its update deletes and creates only the sets whose weight or addresses changed.
A ``LATENCY`` record set (type ``latency``) is likewise one latency A record set per AWS region
(``fedop-latency-...``, its ``Region``), and a ``GEO`` record set (type ``geolocation``) one geolocation A
record set per location (``fedop-geo-...``, its ``GeoLocation``, ``*`` for the default), and a
``FAILOVER`` record set (type ``failover`` with ``healthCheck``) one failover A record set per role
(``fedop-failover-...``, its ``Failover``: ``PRIMARY``, and the ``SECONDARY`` Route 53 answers while the
primary's health check fails). A share of one of these groups that is a load balancer's hostname (an
*alias share*: a shard reached by an AWS load balancer only) is the same set as an alias A record set: its
``AliasTarget`` (the load balancer, its canonical hosted zone, ``EvaluateTargetHealth`` true, which stands
in for a health check of ours) instead of ``TTL`` and ``ResourceRecords``, and no ``HealthCheckId``; one
set of a group may be an alias and another plain A, as Route 53 allows.

An ``ALIAS`` record set (load balancer hostnames, and on a mixed tier IPv4 addresses) is one weighted group
of A records, every one with a ``SetIdentifier`` of ours (Route 53 wants every record set of one name and
type to share one routing policy, so the addresses cannot stay a plain A record set beside the aliases):

- one weighted alias A record per hostname: its ``AliasTarget`` names the load balancer and its canonical
  hosted zone (:func:`~federation_operator.domain.elb.elb_hosted_zone`), set identifier
  :func:`alias_set_identifier`, weight 1;
- when it holds addresses, one weighted A record set of them: set identifier
  :func:`addresses_set_identifier`, the record set's TTL, weight the number of addresses (at most 255,
  Route 53's largest weight). Route 53 picks
  one record set of the group in proportion to its weight and answers all of its values, so each address
  and each load balancer gets about the same share of queries: one shard each, as a shard has one ingress
  address or load balancer.

Its update deletes and creates only the load balancers that went and came, and the addresses' record set
only when its addresses or TTL changed. A switch between a plain A record set and the group (a tier's first
load balancer shard comes or its last goes) is the ``DELETE`` of one and the ``CREATE`` of the other in one
batch, which Route 53 applies at once.

Updates are ``DELETE`` + ``CREATE`` rather than ``UPSERT``: Route 53 checks that a ``DELETE`` names the
current record set exactly and that a ``CREATE`` finds none, and applies a batch all or nothing, so a plan
made against a zone that changed in between fails whole (→ ``StaleChangesError``) instead of silently
overwriting someone's edit. It costs Route 53's quota the same as an ``UPSERT``, which counts twice.

All changes about one name (its record sets and their ownership records, so an A → CNAME switch too) travel
in one batch, so resolvers never see the name empty or holding both. Names are packed in order into as few
batches as Route 53 accepts: at most 1,000 ``ResourceRecord`` values and 32,000 characters of values per
request, an ``UPSERT`` counting twice (:func:`plan_batches`). TXT values go in Route 53's text form
(:mod:`federation_operator.dns.txt`, octal escapes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from federation_operator.dns.packing import pack_greedily
from federation_operator.dns.txt import render_txt
from federation_operator.domain.elb import elb_hosted_zone
from federation_operator.domain.errors import PermanentError, RejectedChangeError
from federation_operator.domain.ownership import group_changes_by_name
from federation_operator.domain.records import (
    ALIAS,
    FAILOVER,
    GEO,
    LATENCY,
    OTHER,
    WEIGHTED,
    Changes,
    RecordSet,
    share_hostname,
    split_alias_values,
    split_failover_values,
    split_geo_values,
    split_latency_values,
    split_weighted_values,
)

if TYPE_CHECKING:
    from mypy_boto3_route53.literals import ChangeActionType, ResourceRecordSetFailoverType
    from mypy_boto3_route53.literals import ResourceRecordSetRegionType as RegionType
    from mypy_boto3_route53.type_defs import (
        AliasTargetTypeDef,
        ChangeTypeDef,
        GeoLocationTypeDef,
        ResourceRecordSetTypeDef,
    )

__all__ = [
    "MAX_BATCH_CHARACTERS",
    "MAX_BATCH_VALUES",
    "MAX_VALUE_CHARACTERS",
    "Batch",
    "addresses_set_identifier",
    "alias_set_identifier",
    "change_cost",
    "plan_batches",
    "read_geolocation",
    "render_geolocation",
]

MAX_BATCH_VALUES: Final = 1000
"""Route 53's limit on ``ResourceRecord`` elements in one ``ChangeResourceRecordSets`` request."""
MAX_BATCH_CHARACTERS: Final = 32_000
"""Route 53's limit on the characters of all ``Value`` elements in one request."""
MAX_VALUE_CHARACTERS: Final = 4000
"""Route 53's limit on one ``Value`` element (a TXT value with its quotes and escapes)."""
MAX_WEIGHT: Final = 255
"""Route 53's largest weight."""


@dataclass(frozen=True)
class Batch:
    """One ``ChangeResourceRecordSets`` request: the part of a plan it carries, and its Route 53 changes."""

    changes: Changes
    request: tuple[ChangeTypeDef, ...]


def plan_batches(
    changes: Changes,
    *,
    max_values: int = MAX_BATCH_VALUES,
    max_characters: int = MAX_BATCH_CHARACTERS,
    health_check_ids: Mapping[str, str] | None = None,
) -> list[Batch]:
    """``changes`` as Route 53 requests, each within the limits; all changes about one name in one request.

    Names are packed greedily in name order (an ownership record goes with the name it stands for), so one
    owner's changes larger than one request go out in several. A routing-policy set whose set identifier is
    in ``health_check_ids`` names that Route 53 health check (``HealthCheckId``). Raises
    :class:`RejectedChangeError` (what the changes hold, so the publisher pins it on the owner whose name it
    is, and the others publish) when the changes about one name exceed a limit on their own, or a value is
    longer than Route 53 accepts.
    """
    checks = health_check_ids or {}
    groups = [_NameGroup(name, part, _request(part, checks)) for name, part in group_changes_by_name(changes)]

    def too_big(group: _NameGroup) -> RejectedChangeError:
        values, characters = change_cost(group.request)
        return RejectedChangeError(
            f"route53: the changes at {group.name} need {values} values and {characters} "
            f"characters, more than one request may carry ({max_values} and {max_characters})"
        )

    pending = pack_greedily(
        groups,
        new_request=lambda: _Pending(max_values, max_characters),
        add=_Pending.add,
        too_big=too_big,
    )
    return [_batch(request.groups) for request in pending]


def change_cost(request: Iterable[ChangeTypeDef]) -> tuple[int, int]:
    """What ``request`` costs against Route 53's limits: (``ResourceRecord`` values, characters of values).

    Route 53 counts every value, and every character of it, twice in an ``UPSERT``.
    """
    values = characters = 0
    for change in request:
        weight = 2 if change["Action"] == "UPSERT" else 1
        records = change["ResourceRecordSet"].get("ResourceRecords", ())
        values += weight * len(records)
        characters += weight * sum(len(item["Value"]) for item in records)
    return values, characters


def _request(group: Changes, checks: Mapping[str, str]) -> list[ChangeTypeDef]:
    """The Route 53 changes of one name's changes."""
    # DELETEs first: an A → CNAME switch must free the name before the CNAME arrives.
    deletes = [change for record in group.delete for change in _changes("DELETE", record, checks=checks)]
    creates: list[ChangeTypeDef] = []
    for old, new in group.updates:
        # An alias record set changes record by record: what stays the same is left as it is.
        deletes += _changes("DELETE", old, beside=new, checks=checks)
        creates += _changes("CREATE", new, beside=old, checks=checks)
    creates += [change for record in group.create for change in _changes("CREATE", record, checks=checks)]
    return [*deletes, *creates]


def alias_set_identifier(name: str, hostname: str) -> str:
    """The set identifier of the weighted alias record for ``hostname`` at ``name``: ours (the ``fedop-``
    prefix) and the same for the same name and hostname, so that a deletion names exactly the record a
    creation made. Route 53 needs it unique per name and type only; it is unique in the zone because moto
    (our test server) deletes a set identifier wherever it is in the zone."""
    return f"fedop-{_digest(name, hostname)}"


def addresses_set_identifier(name: str) -> str:
    """The set identifier of the weighted A record set of a mixed tier's addresses at ``name`` (ours)."""
    return f"fedop-addresses-{_digest(name)}"


def _digest(*parts: str) -> str:
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()[:16]


def _changes(
    action: ChangeActionType,
    record: RecordSet,
    *,
    beside: RecordSet | None = None,
    checks: Mapping[str, str] | None = None,
) -> list[ChangeTypeDef]:
    """``record`` as Route 53 changes; for an alias record set, one per weighted record, less those that
    ``beside`` (the other side of an update) holds the same."""
    if record.type == WEIGHTED:
        return _group_changes(
            action,
            record,
            beside=beside,
            split=split_weighted_values,
            routing=lambda w: {"Weight": w},
            checks=checks or {},
        )
    if record.type == LATENCY:
        return _group_changes(
            action,
            record,
            beside=beside,
            split=split_latency_values,
            routing=lambda region: {"Region": cast("RegionType", region)},
            checks=checks or {},
        )
    if record.type == GEO:
        return _group_changes(
            action,
            record,
            beside=beside,
            split=split_geo_values,
            routing=lambda place: {"GeoLocation": render_geolocation(place)},
            checks=checks or {},
        )
    if record.type == FAILOVER:
        return _group_changes(
            action,
            record,
            beside=beside,
            split=split_failover_values,
            routing=lambda role: {"Failover": cast("ResourceRecordSetFailoverType", role)},
            checks=checks or {},
        )
    if record.type != ALIAS:
        return [_change(action, record)]
    addresses, hostnames = split_alias_values(record.values)
    kept_addresses, kept_hosts = split_alias_values(beside.values) if beside else ((), ())
    changes: list[ChangeTypeDef] = []
    if addresses and not (beside is not None and kept_addresses == addresses and beside.ttl == record.ttl):
        weighted: ResourceRecordSetTypeDef = {
            "Name": record.name,
            "Type": "A",
            "SetIdentifier": addresses_set_identifier(record.name),
            "Weight": min(len(addresses), MAX_WEIGHT),
            "TTL": record.ttl,
            "ResourceRecords": [{"Value": address} for address in addresses],
        }
        changes.append({"Action": action, "ResourceRecordSet": weighted})
    # One weighted alias A record per load balancer, weight 1: Route 53 answers each with its share.
    for host in (h for h in hostnames if h not in kept_hosts):
        rrset: ResourceRecordSetTypeDef = {
            "Name": record.name,
            "Type": "A",
            "SetIdentifier": alias_set_identifier(record.name, host),
            "Weight": 1,
            "AliasTarget": _alias_target(host),
        }
        changes.append({"Action": action, "ResourceRecordSet": rrset})
    return changes


def _group_changes(
    action: ChangeActionType,
    record: RecordSet,
    *,
    beside: RecordSet | None,
    split: Callable[[Iterable[str]], Mapping[str, tuple[Any, tuple[str, ...]]]],
    routing: Callable[[Any], Mapping[str, Any]],
    checks: Mapping[str, str],
) -> list[ChangeTypeDef]:
    """A routing-policy group (:data:`WEIGHTED`, :data:`LATENCY`, :data:`GEO`, :data:`FAILOVER`) as one A
    record set per set
    identifier, its routing field from ``routing`` (of the weight, AWS region or location ``split`` reads),
    less those that ``beside`` (the other side of an update) holds the same (that and the addresses, TTL);
    with its health check's id from ``checks`` when it has one."""
    kept = split(beside.values) if beside is not None else {}
    changes: list[ChangeTypeDef] = []
    for identifier, (key, targets) in sorted(split(record.values).items()):
        hostname = share_hostname(targets)
        # An alias share has no TTL of its own: the group's TTL changing leaves it as it is.
        same_ttl = hostname is not None or (beside is not None and beside.ttl == record.ttl)
        if beside is not None and same_ttl and kept.get(identifier) == (key, targets):
            continue
        answer: dict[str, Any]
        if hostname is not None:
            answer = {"AliasTarget": _alias_target(hostname)}
        else:
            answer = {"TTL": record.ttl, "ResourceRecords": [{"Value": address} for address in targets]}
        rrset = cast(
            "ResourceRecordSetTypeDef",
            {
                "Name": record.name,
                "Type": "A",
                "SetIdentifier": identifier,
                **routing(key),
                **answer,
                **({"HealthCheckId": checks[identifier]} if identifier in checks else {}),
            },
        )
        changes.append({"Action": action, "ResourceRecordSet": rrset})
    return changes


def _alias_target(hostname: str) -> AliasTargetTypeDef:
    """The ``AliasTarget`` of a load balancer: its canonical hosted zone, and ``EvaluateTargetHealth`` true,
    so that Route 53 answers it only while the load balancer has healthy targets (it stands in for a
    health check of ours, which Route 53 advises against for load balancers, and a failover alias set
    requires it)."""
    zone = elb_hosted_zone(hostname)
    if zone is None:  # the planner aliases only hostnames in the table
        raise PermanentError(f"route53: {hostname} is no load balancer with a known hosted zone")
    return {"HostedZoneId": zone, "DNSName": hostname, "EvaluateTargetHealth": True}


def render_geolocation(place: str) -> GeoLocationTypeDef:
    """A :data:`GEO` location as Route 53's ``GeoLocation`` (``*`` is its default location);
    :class:`RejectedChangeError` for a Google Cloud region (``gcp:``), which Route 53 cannot locate."""
    kind, _, code = place.partition(":")
    if kind == "gcp":
        raise RejectedChangeError(
            f"geolocation location {place}: Route 53 locates clients by country or continent, not by "
            "Google Cloud region"
        )
    if place == "*":
        return {"CountryCode": "*"}
    return {"CountryCode": code} if kind == "country" else {"ContinentCode": code}


def read_geolocation(geolocation: Mapping[str, str]) -> str | None:
    """Route 53's ``GeoLocation`` as a :data:`GEO` location, or None for one the operator never writes (a
    subdivision)."""
    if set(geolocation) == {"CountryCode"}:
        code = geolocation["CountryCode"]
        return "*" if code == "*" else f"country:{code}"
    if set(geolocation) == {"ContinentCode"}:
        return f"continent:{geolocation['ContinentCode']}"
    return None


@dataclass(frozen=True)
class _NameGroup:
    """The changes about one name, and their Route 53 changes."""

    name: str
    changes: Changes
    request: list[ChangeTypeDef]


@dataclass
class _Pending:
    """A request being filled, and what it costs so far."""

    max_values: int
    max_characters: int
    groups: list[_NameGroup] = field(default_factory=list)
    values: int = 0
    characters: int = 0

    def add(self, group: _NameGroup) -> bool:
        """Count ``group`` in, unless the request would then exceed a limit (then nothing changes)."""
        values, characters = change_cost(group.request)
        if self.values + values > self.max_values or self.characters + characters > self.max_characters:
            return False
        self.groups.append(group)
        self.values += values
        self.characters += characters
        return True


def _batch(groups: Sequence[_NameGroup]) -> Batch:
    parts = [group.changes for group in groups]
    return Batch(
        changes=Changes(
            create=tuple(record for part in parts for record in part.create),
            update_old=tuple(record for part in parts for record in part.update_old),
            update_new=tuple(record for part in parts for record in part.update_new),
            delete=tuple(record for part in parts for record in part.delete),
        ),
        request=tuple(change for group in groups for change in group.request),
    )


def _change(action: ChangeActionType, record: RecordSet) -> ChangeTypeDef:
    # check_in_zone refuses OTHER first, _changes takes ALIAS and WEIGHTED; narrows the type
    if record.type in (OTHER, ALIAS, WEIGHTED, LATENCY, GEO, FAILOVER):
        raise PermanentError(f"route53: {record.name}: the operator never changes records of other types")
    values = [render_txt(v, radix=8) for v in record.values] if record.type == "TXT" else list(record.values)
    for value in values:
        if len(value) > MAX_VALUE_CHARACTERS:
            raise RejectedChangeError(
                f"route53: a {record.type} value at {record.name} is {len(value)} characters long once "
                f"quoted; Route 53 takes at most {MAX_VALUE_CHARACTERS}"
            )
    rrset: ResourceRecordSetTypeDef = {
        "Name": record.name,
        "Type": record.type,
        "TTL": record.ttl,
        "ResourceRecords": [{"Value": value} for value in values],
    }
    return {"Action": action, "ResourceRecordSet": rrset}
