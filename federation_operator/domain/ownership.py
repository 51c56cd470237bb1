"""Ownership records: how the operator marks the DNS records it manages, like external-dns's TXT registry.

Every record set the operator publishes has a companion TXT record set, its *ownership record*, naming the
federation and the owning FederatedService. The operator changes or deletes a record set only when its
ownership record says it is the owner; anything else in the zone is *foreign* and never touched.

**Naming scheme.** The ownership record of ``<name>`` (type ``T``) lives at ``_fedop-<t>.<name>``, where
``<t>`` is the lowercase type::

    nginx.mynamespace.myfederation.svc.example.com.  A     104.199.136.89
    _fedop-a.nginx.mynamespace.myfederation.svc.example.com.  TXT  "heritage=federation-operator,..."

Why this shape:

- one ownership name per (name, type): an A and an AAAA at one name have their own owners, and a TXT never
  has to share a name with a CNAME (which DNS forbids);
- a *new label* rather than a prefix on the first one: the first label may already be 63 octets long (a
  Service name), while the extra label only costs ``len("_fedop-cname.")`` = 13 octets of the 253;
- it sits *below* the record's own name, so it is always inside the record's zone;
- the leading underscore (RFC 8552 style, as ``_dmarc`` or ``_acme-challenge``) can appear in no name the
  operator publishes: Service names, namespaces, federation names, regions, zones and ``aliases`` are all
  RFC 1123 names without underscores, so an ownership name never collides with a published one.

**Value.** One TXT string: ``heritage=federation-operator,federation=<federation>,owner=<namespace>/<name>``.
A record set is owned by an owner only when its ownership record holds exactly that one value; an ownership
record with any other content (another federation, another FederatedService, extra values, free text) makes
the record set foreign to that owner.

Pure code: no I/O, no DNS library. :mod:`federation_operator.planning.zone_diff` builds plans on top of it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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
    normalize_name,
)

__all__ = [
    "HERITAGE",
    "MAX_NAME_LENGTH",
    "OWNERSHIP_PREFIX",
    "OWNERSHIP_TTL",
    "OwnerTag",
    "group_changes_by_name",
    "is_ownership_name",
    "ownership_name",
    "parse_ownership_name",
    "parse_ownership_value",
    "read_owner",
    "read_owners",
    "render_ownership_record",
    "render_ownership_records",
    "render_ownership_value",
]

HERITAGE = "federation-operator"
OWNERSHIP_PREFIX = "_fedop-"
# Ownership records are read by the operator only (from the provider's API, never by resolvers), so their TTL
# matters little; a fixed one means a change of the service's TTL does not rewrite every ownership record.
OWNERSHIP_TTL = 300
MAX_NAME_LENGTH = 253
"""The longest DNS name in text form without its trailing dot (RFC 1035: 255 octets on the wire)."""

_TYPES_BY_LABEL: Mapping[str, RecordType] = {
    f"{OWNERSHIP_PREFIX}{t.lower()}": t for t in (*RECORD_TYPES, ALIAS, WEIGHTED, LATENCY, GEO, FAILOVER)
}
_FORBIDDEN_IN_VALUES = frozenset(',="\\ \t\n')


@dataclass(frozen=True, order=True, slots=True)
class OwnerTag:
    """Who owns a record set: a federation and a FederatedService (``<namespace>/<name>``)."""

    federation: str
    owner: str

    def __str__(self) -> str:
        return f"{self.owner} in federation {self.federation}"


def ownership_name(name: str, rtype: RecordType) -> str:
    """Where the ownership record of the record set ``(name, rtype)`` lives: ``_fedop-<type>.<name>``."""
    return f"{OWNERSHIP_PREFIX}{rtype.lower()}.{normalize_name(name)}"


def parse_ownership_name(name: str) -> RecordKey | None:
    """The (name, type) an ownership name stands for, or ``None`` when ``name`` is not an ownership name."""
    first, _, rest = normalize_name(name).partition(".")
    rtype = _TYPES_BY_LABEL.get(first)
    if rtype is None or not rest:
        return None
    return (rest, rtype)


def is_ownership_name(name: str) -> bool:
    """Whether ``name`` is where some record set's ownership record would live."""
    return parse_ownership_name(name) is not None


# Memoized (bounded): the ownership records of one owner's record sets, planned one after the other, then
# hold one value string between them instead of one each.
@functools.lru_cache(maxsize=1 << 12)
def render_ownership_value(*, federation: str, owner: str) -> str:
    """The ownership TXT value: ``heritage=federation-operator,federation=<federation>,owner=<ns>/<name>``."""
    for what, value in (("federation", federation), ("owner", owner)):
        if not value or _FORBIDDEN_IN_VALUES & set(value):
            raise ValueError(f"{what} {value!r} cannot appear in an ownership record")
    namespace, slash, name = owner.partition("/")
    if not (namespace and slash and name) or "/" in name:
        raise ValueError(f"owner must be <namespace>/<name>, got {owner!r}")
    return f"heritage={HERITAGE},federation={federation},owner={owner}"


# Memoized (bounded): a zone read parses one value per record set, and the record sets of one owner then
# share one OwnerTag (the zone index holds one per ownership record).
@functools.lru_cache(maxsize=1 << 12)
def parse_ownership_value(value: str) -> OwnerTag | None:
    """The owner named by an ownership TXT value, or ``None`` if it is not one of ours.

    Keys other than ``heritage``, ``federation`` and ``owner`` are ignored, so that a later version may add
    some without making an older one treat its records as foreign.
    """
    fields: dict[str, str] = {}
    for part in value.split(","):
        key, equals, item = part.partition("=")
        if not equals or key in fields:
            return None
        fields[key] = item
    if fields.get("heritage") != HERITAGE:
        return None
    federation, owner = fields.get("federation"), fields.get("owner")
    if not federation or not owner:
        return None
    return OwnerTag(federation=federation, owner=owner)


def render_ownership_record(record: RecordSet, *, federation: str, owner: str) -> RecordSet:
    """The ownership TXT record set of ``record``."""
    return RecordSet(
        name=ownership_name(record.name, record.type),
        type="TXT",
        ttl=OWNERSHIP_TTL,
        values=(render_ownership_value(federation=federation, owner=owner),),
    )


def render_ownership_records(
    records: Iterable[RecordSet], *, federation: str, owner: str
) -> tuple[RecordSet, ...]:
    """``records`` together with their ownership records, sorted: the full desired state of one owner.

    Records already at ownership names (say, from an earlier call) are dropped and rendered afresh.
    """
    plain = {record.key: record for record in records if not is_ownership_name(record.name)}
    tags = (render_ownership_record(r, federation=federation, owner=owner) for r in plain.values())
    return tuple(sorted([*plain.values(), *tags]))


def read_owner(at_ownership_name: Iterable[RecordSet]) -> OwnerTag | None:
    """The owner named by the record sets found at one ownership name, or ``None`` for no known owner.

    Only a lone TXT record set holding a single parsable value names an owner. Anything else there (several
    values, free text, a CNAME or other data beside the TXT) makes the record set it stands for belong to
    nobody the operator knows, and so foreign to every owner.
    """
    found = list(at_ownership_name)
    if len(found) != 1 or found[0].type != "TXT" or len(found[0].values) != 1:
        return None
    return parse_ownership_value(found[0].values[0])


def read_owners(current: Iterable[RecordSet]) -> dict[RecordKey, OwnerTag | None]:
    """For every ownership name in ``current``: the (name, type) it stands for → the owner it names.

    A key missing from the result has no ownership record at all; a key mapped to ``None`` has one that names
    no known owner (see :func:`read_owner`).
    """
    by_name: dict[str, list[RecordSet]] = {}
    for record in current:
        if is_ownership_name(record.name):
            by_name.setdefault(record.name, []).append(record)
    owners: dict[RecordKey, OwnerTag | None] = {}
    for name, found in by_name.items():
        key = parse_ownership_name(name)
        if key is not None:
            owners[key] = read_owner(found)
    return owners


def group_changes_by_name(changes: Changes) -> list[tuple[str, Changes]]:
    """`changes` split by the name they are about, in name order, each ownership record with its record.

    Providers keep one name's changes together in one request (an A ↔ CNAME swap must not be split, nor a
    record from its ownership record) and pack whole groups into as few requests as their limits allow.
    """
    groups: dict[str, dict[str, list[RecordSet]]] = {}

    def group_of(record: RecordSet) -> dict[str, list[RecordSet]]:
        target = parse_ownership_name(record.name)
        name = target[0] if target else record.name
        return groups.setdefault(name, {"create": [], "old": [], "new": [], "delete": []})

    for record in changes.delete:
        group_of(record)["delete"].append(record)
    for old, new in changes.updates:
        group = group_of(old)
        group["old"].append(old)
        group["new"].append(new)
    for record in changes.create:
        group_of(record)["create"].append(record)
    return [
        (
            name,
            Changes(
                create=tuple(g["create"]),
                update_old=tuple(g["old"]),
                update_new=tuple(g["new"]),
                delete=tuple(g["delete"]),
            ),
        )
        for name, g in sorted(groups.items())
    ]
