"""The DNS diff: from what a zone holds and what an owner wants, the :class:`Changes` to apply, and no I/O.

This is external-dns's ``plan.Calculate`` with its TXT registry folded in. For one owner (a FederatedService,
``<namespace>/<name>``) in one federation, :func:`plan_changes` compares the zone's current record sets with
the owner's desired ones and

- creates what is missing, each record set together with its ownership record
  (:mod:`federation_operator.domain.ownership`);
- updates record sets the owner owns whose TTL or values differ;
- deletes record sets the owner owns that are no longer desired, with their ownership records;
- leaves everything else alone: record sets without an ownership record, or owned by another
  FederatedService or another federation, are *foreign*. A desired record set that would touch a foreign one
  (same name and type, or a CNAME and other data at one name) is not planned; it is reported as a
  :class:`Conflict` instead, for the owner's status.

An A → CNAME switch at one name is a deletion and a creation in the same :class:`Changes`, which providers
apply in one step. Planning is idempotent: applying a plan and planning again gives an empty plan.
Deleting everything an owner has is ``plan_changes(current, (), federation=..., owner=...)``.

:func:`plan_zone_changes` plans many owners against one zone at once, and :func:`render_applied` computes
the zone a plan leads to, as a provider would after applying it. The per-zone publishing loop keeps a
:class:`ZoneIndex` of its zone from round to round and plans with :func:`plan_zone_changes_into`, which
records each plan in the index: a round then costs time in proportion to the owners it plans, not to the
size of the zone (which, with thousands of FederatedServices, holds tens of thousands of record sets).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from federation_operator.domain.ownership import (
    MAX_NAME_LENGTH,
    OwnerTag,
    is_ownership_name,
    ownership_name,
    parse_ownership_name,
    read_owner,
    render_ownership_record,
    render_ownership_value,
)
from federation_operator.domain.records import (
    OTHER,
    Changes,
    Conflict,
    RecordKey,
    RecordSet,
    RecordType,
    ZoneDelta,
    cname_clash,
    cname_clashes,
    describe_mismatch,
    normalize_name,
    zone_problem,
)

__all__ = [
    "InapplicableChangesError",
    "ZoneDrift",
    "ZoneIndex",
    "merge_changes",
    "plan_changes",
    "plan_drift",
    "plan_zone_changes",
    "plan_zone_changes_into",
    "render_applied",
    "render_delta",
]


class InapplicableChangesError(ValueError):
    """A :class:`Changes` does not fit the zone it is applied to: it was planned against another state.

    Examples: deleting or updating a record set whose current content differs from the plan's, creating one
    that exists, or leaving a CNAME beside other data at one name.
    """


def plan_changes(
    current: Iterable[RecordSet],
    desired: Iterable[RecordSet],
    *,
    federation: str,
    owner: str,
    zone: str | None = None,
) -> tuple[Changes, tuple[Conflict, ...]]:
    """The changes that make ``current`` hold ``desired`` for ``owner``, and the conflicts that prevent it.

    ``current`` is everything the provider lists (record sets and ownership records, ours and foreign).
    ``desired`` is the owner's record sets without ownership records: they are added here (any record set at
    an ownership name in ``desired`` is ignored). With ``zone``, desired record sets outside it are reported
    as conflicts rather than planned. Conflicts come sorted by name and type.

    Raises :class:`ValueError` when ``desired`` is inconsistent (two different record sets for one name and
    type, or a CNAME beside other data) or ``current`` lists one name and type twice: both are bugs upstream.
    """
    state = ZoneIndex(current)
    return _plan_owner(state, desired, federation=federation, owner=owner, zone=zone)


def plan_zone_changes(
    current: Iterable[RecordSet],
    desired_by_owner: Mapping[str, Iterable[RecordSet]],
    *,
    federation: str,
    zone: str | None = None,
) -> tuple[Changes, dict[str, tuple[Conflict, ...]]]:
    """One plan for several owners of one zone, and each owner's conflicts.

    Owners are planned one after another in name order, each against the zone as the previous owners' plans
    leave it, so two owners never both create one name: the first gets it, the second sees a conflict (and
    keeps seeing it while the first holds the name). A name released by one owner and wanted by a later one
    changes hands in the same plan, as one update of the record set and of its ownership record; wanted by
    an earlier one, it changes hands on the next round. An owner mapped to no records has all its records
    deleted.
    """
    return plan_zone_changes_into(ZoneIndex(current), desired_by_owner, federation=federation, zone=zone)


def plan_zone_changes_into(
    state: ZoneIndex,
    desired_by_owner: Mapping[str, Iterable[RecordSet]],
    *,
    federation: str,
    zone: str | None = None,
    order: Sequence[str] | None = None,
    max_record_sets: int | None = None,
) -> tuple[Changes, dict[str, tuple[Conflict, ...]]]:
    """:func:`plan_zone_changes` against an index kept by the caller, which afterwards holds the zone as the
    plan leaves it (the caller re-reads the zone if the plan is not applied after all).

    ``order`` plans the owners in that order instead of name order (it must list each owner of
    ``desired_by_owner`` once): an earlier owner wins a name that several want. The publisher passes the
    oldest FederatedService first, so a contested name goes to the one that asked first.

    ``max_record_sets`` is the zone's quota of record sets (ownership records count: the provider counts
    them too): an owner whose plan would leave the zone above it publishes none of its *new* names, which
    are reported as conflicts naming the quota; its updates and deletions still go out, and so do the plans
    of the owners after it that fit (a deletion frees room for them).
    """
    owners = sorted(desired_by_owner) if order is None else list(order)
    if sorted(owners) != sorted(desired_by_owner):
        raise ValueError("order must list every owner of desired_by_owner exactly once")
    plans: list[Changes] = []
    conflicts: dict[str, tuple[Conflict, ...]] = {}
    for owner in owners:
        changes, found = _plan_owner(
            state, desired_by_owner[owner], federation=federation, owner=owner, zone=zone
        )
        if max_record_sets is not None:
            changes, found = _within_quota(state, changes, found, max_record_sets)
        state.apply(changes)
        plans.append(changes)
        conflicts[owner] = found
    return merge_changes(plans), conflicts


@dataclass(frozen=True)
class ZoneDrift:
    """How a zone read afresh differs from the index kept of it: what the publisher must look at again."""

    owners: frozenset[str]
    """Owners (``<namespace>/<name>``) of this federation with a record set or ownership record that
    differs, as the kept index or the fresh read names them."""
    names: frozenset[str]
    """Every name with a record set that differs (an ownership record counts at the name it stands for):
    a name freed by hand may be one that an owner is waiting for."""

    def __bool__(self) -> bool:
        return bool(self.names)


def plan_drift(kept: ZoneIndex, fresh: ZoneIndex, *, federation: str) -> ZoneDrift:
    """What differs between the index ``kept`` from round to round and a ``fresh`` read of the zone.

    Record sets compare whole (TTL and values, which :class:`RecordSet` normalizes); a record set deleted,
    added or changed by someone else shows up here, with the owners it concerns before and after.
    Costs time in proportion to the zone (it runs only when a read found the zone changed).
    """
    owners: set[str] = set()
    names: set[str] = set()
    for key in kept.records.keys() | fresh.records.keys():
        if kept.records.get(key) == fresh.records.get(key):
            continue
        target = parse_ownership_name(key[0]) or key
        names.add(target[0])
        for index in (kept, fresh):
            tag = index.owners.get(target)
            if tag is not None and tag.federation == federation:
                owners.add(tag.owner)
    return ZoneDrift(owners=frozenset(owners), names=frozenset(names))


def render_delta(
    kept: ZoneIndex, delta: ZoneDelta, *, skip: Collection[str] = ()
) -> dict[RecordKey, RecordSet | None]:
    """The record sets at every (name, type) that ``delta`` touches, as the zone holds them after it:
    ``kept``'s, replayed step by step (``None``: none left). Names in ``skip`` are left out.

    Replaying the journal since a read onto an index that also holds this operator's own changes since that
    read gives the zone as it is: the journal holds those changes too, and the last step about a value
    decides whether it is there, whatever came before. A record set's TTL is that of the last value added
    (a server writes a TTL change as the record set removed and added again).
    """
    work: dict[RecordKey, tuple[list[int], set[str]]] = {}
    for added, raw_name, rtype, ttl, value in delta.steps:
        name = normalize_name(raw_name)
        if name in skip:
            continue
        key = (name, rtype)
        entry = work.get(key)
        if entry is None:
            held = kept.records.get(key)
            entry = work[key] = ([held.ttl], set(held.values)) if held else ([ttl], set())
        normal = RecordSet(name=name, type=rtype, ttl=ttl, values=(value,)).values[0]
        if added:
            entry[1].add(normal)
            entry[0][0] = ttl
        else:
            entry[1].discard(normal)
    return {
        key: RecordSet(name=key[0], type=key[1], ttl=ttl[0], values=tuple(values)) if values else None
        for key, (ttl, values) in work.items()
    }


def render_applied(current: Iterable[RecordSet], changes: Changes) -> tuple[RecordSet, ...]:
    """The zone after ``changes``, sorted, checked as strictly as a careful provider would.

    Deletions and ``update_old`` must match the zone exactly (name, type, TTL and values), creations must
    not exist yet, and no name may end up with a CNAME beside other data; otherwise
    :class:`InapplicableChangesError`. The whole ``Changes`` applies at once, so an A → CNAME switch at one
    name is fine.
    """
    state = ZoneIndex(current)
    state.apply(changes)
    return state.snapshot()


def merge_changes(plans: Iterable[Changes]) -> Changes:
    """Several plans for one zone as one.

    The plans must not touch one record set twice, except that a deletion in one and a creation in another
    (a name released by one owner and taken by another) merge into an update; :class:`ValueError` otherwise.
    """
    create: dict[RecordKey, RecordSet] = {}
    delete: dict[RecordKey, RecordSet] = {}
    updates: dict[RecordKey, tuple[RecordSet, RecordSet]] = {}
    for plan in plans:
        for old, new in plan.updates:
            _claim(old.key, create, delete, updates)
            updates[old.key] = (old, new)
        for record in plan.delete:
            _claim(record.key, create, delete, updates)
            delete[record.key] = record
        for record in plan.create:
            if record.key in delete:
                old = delete.pop(record.key)
                if old != record:
                    updates[record.key] = (old, record)
                continue
            _claim(record.key, create, delete, updates)
            create[record.key] = record
    ordered = sorted(updates.values(), key=lambda pair: _reading_order(pair[0]))
    return Changes(
        create=tuple(sorted(create.values(), key=_reading_order)),
        update_old=tuple(old for old, _ in ordered),
        update_new=tuple(new for _, new in ordered),
        delete=tuple(sorted(delete.values(), key=_reading_order)),
    )


def _claim(key: RecordKey, *touched: Mapping[RecordKey, object]) -> None:
    if any(key in seen for seen in touched):
        raise ValueError(f"two plans change {key[0]} {key[1]}")


# --- internals ----------------------------------------------------------------------------------------------


class ZoneIndex:
    """A zone's record sets indexed for planning: by key, by name, and by owner.

    Mutable, and changed only through :meth:`apply` (and the planning functions, which apply their plans to
    it): planning many owners against one large zone costs time in proportion to what each owner has, not
    to the size of the zone.
    """

    def __init__(self, current: Iterable[RecordSet]) -> None:
        self.records: dict[RecordKey, RecordSet] = {}
        # A tuple, not a set: nearly every name holds one type, and an empty set alone is 216 bytes.
        self.types_at: dict[str, tuple[RecordType, ...]] = {}
        # The (name, type) each ownership record stands for → the owner it names (None: no known owner).
        self.owners: dict[RecordKey, OwnerTag | None] = {}
        self.owned: dict[OwnerTag, set[RecordKey]] = {}
        for record in current:
            if record.key in self.records:
                raise ValueError(f"the zone lists {record.name} {record.type} twice")
            self._put(record)
        for name in list(self.types_at):
            self._refresh_owner(name)

    def __len__(self) -> int:
        return len(self.records)

    def snapshot(self) -> tuple[RecordSet, ...]:
        """Every record set, sorted."""
        return tuple(sorted(self.records.values()))

    def _put(self, record: RecordSet) -> None:
        self.records[record.key] = record
        types = self.types_at.get(record.name, ())
        if record.type not in types:
            self.types_at[record.name] = (*types, record.type)

    def _drop(self, key: RecordKey) -> None:
        del self.records[key]
        types = tuple(t for t in self.types_at[key[0]] if t != key[1])
        if types:
            self.types_at[key[0]] = types
        else:
            del self.types_at[key[0]]

    def _refresh_owner(self, name: str) -> None:
        """Re-read the owner that the ownership name ``name`` names (no-op for other names)."""
        target = parse_ownership_name(name)
        if target is None:
            return
        held = self.records.get(target)
        if held is not None:  # the record set's own name, not the copy cut out of the ownership name
            target = (held.name, target[1])
        previous = self.owners.pop(target, None)
        if previous is not None:
            targets = self.owned[previous]
            targets.discard(target)
            if not targets:  # an owner with nothing left here (deleted) is forgotten, not kept empty
                del self.owned[previous]
        found = [self.records[(name, rtype)] for rtype in sorted(self.types_at.get(name, ()))]
        if not found:
            return
        tag = read_owner(found)
        self.owners[target] = tag
        if tag is not None:
            self.owned.setdefault(tag, set()).add(target)

    def adopt(self, names: Collection[str], source: ZoneIndex) -> None:
        """Hold ``source``'s record sets at ``names`` instead of this index's own: a fresh read of the zone
        takes over what the rounds that went out while it was read know of the names they changed (the read
        may have seen those names before or after the changes)."""
        for name in names:
            for rtype in list(self.types_at.get(name, ())):
                self._drop((name, rtype))
            for rtype in source.types_at.get(name, ()):
                self._put(source.records[(name, rtype)])
        for name in sorted(names):
            self._refresh_owner(name)

    def take(self, replayed: Mapping[RecordKey, RecordSet | None], *, federation: str) -> ZoneDrift:
        """Hold the record sets of ``replayed`` (``None``: none) instead of this index's own at those keys
        (what :func:`render_delta` found the zone holds now); returns how they differed, as
        :func:`plan_drift` says it of a whole fresh read, in time proportional to ``replayed``."""
        changed = [key for key, record in replayed.items() if self.records.get(key) != record]
        owners: set[str] = set()
        names: set[str] = set()

        def note() -> None:
            for key in changed:
                target = parse_ownership_name(key[0]) or key
                names.add(target[0])
                tag = self.owners.get(target)
                if tag is not None and tag.federation == federation:
                    owners.add(tag.owner)

        note()
        for key in changed:
            if key in self.records:
                self._drop(key)
            record = replayed[key]
            if record is not None:
                self._put(record)
        for name in sorted({key[0] for key in changed}):
            self._refresh_owner(name)
        note()
        return ZoneDrift(owners=frozenset(owners), names=frozenset(names))

    def apply(self, changes: Changes) -> None:
        """Apply ``changes`` in place, checking them as :func:`render_applied` documents."""
        clashes = cname_clashes(self.types_at, changes)  # judged on the zone before; raised after staleness
        touched: set[str] = set()
        for record in changes.delete:
            self._expect(record, "delete")
            self._drop(record.key)
            touched.add(record.name)
        for old, new in changes.updates:
            self._expect(old, "update")
            self._drop(old.key)
            self._put(new)
            touched.add(new.name)
        for record in changes.create:
            if record.key in self.records:
                raise InapplicableChangesError(
                    f"cannot create {record}: the zone already holds {self.records[record.key]}"
                )
            self._put(record)
            touched.add(record.name)
        if clashes:
            raise InapplicableChangesError(clashes[0])
        for name in sorted(touched):
            self._refresh_owner(name)

    def _expect(self, record: RecordSet, action: str) -> None:
        mismatch = describe_mismatch(record, self.records.get(record.key))
        if mismatch:
            raise InapplicableChangesError(f"cannot {action} {record}: {mismatch}")


def _desired_index(desired: Iterable[RecordSet]) -> dict[RecordKey, RecordSet]:
    wanted: dict[RecordKey, RecordSet] = {}
    types_at: dict[str, set[RecordType]] = {}
    for record in desired:
        if is_ownership_name(record.name):
            continue
        if wanted.get(record.key, record) != record:
            raise ValueError(f"desired state holds two {record.type} record sets at {record.name}")
        wanted[record.key] = record
        types_at.setdefault(record.name, set()).add(record.type)
    for name, types in types_at.items():
        if cname_clash(types):
            raise ValueError(f"desired state holds a CNAME beside other data at {name}")
    return wanted


def _blocker(state: ZoneIndex, record: RecordSet, ours: OwnerTag, zone: str | None) -> str | None:
    """Why ``record`` may not be published for ``ours``, or ``None`` when nothing stands in the way."""
    problem = zone_problem(record, zone) if zone is not None else None
    if problem == "outside":
        return f"outside the provider's zone {zone}"
    if problem == "cname-at-apex":
        return "a CNAME cannot be at the zone apex"
    tag_name = ownership_name(record.name, record.type)
    if len(tag_name) - 1 > MAX_NAME_LENGTH or any(len(label) > 63 for label in tag_name.split(".")):
        return f"name too long to publish with its ownership record {tag_name}"
    key = record.key
    if key in state.owners and state.owners[key] != ours:
        holder = state.owners[key]
        described = f"{holder.owner} in federation {holder.federation}" if holder else "no known owner"
        if key in state.records:
            return f"a {record.type} record set owned by {described} already exists here"
        return f"its ownership record {tag_name} names {described}"
    if key in state.records and key not in state.owners:
        return f"a {record.type} record set without an ownership record already exists here"
    for other in sorted(set(state.types_at.get(record.name, ())) - {record.type}):
        if other == OTHER and record.type == "CNAME":
            kinds = ", ".join(state.records[(record.name, OTHER)].values)
            return (
                f"records of type {kinds}, which this operator does not manage, exist at this name, "
                "and a CNAME cannot share a name with other data"
            )
        if cname_clash((record.type, other)) and state.owners.get((record.name, other)) != ours:
            return (
                f"a {other} record set not owned by {ours.owner} exists at this name, "
                "and a CNAME cannot share a name with other data"
            )
    return None


def _plan_owner(
    state: ZoneIndex,
    desired: Iterable[RecordSet],
    *,
    federation: str,
    owner: str,
    zone: str | None,
) -> tuple[Changes, tuple[Conflict, ...]]:
    render_ownership_value(federation=federation, owner=owner)  # validates both before anything else
    ours = OwnerTag(federation=federation, owner=owner)
    zone = normalize_name(zone) if zone is not None else None
    wanted = _desired_index(desired)

    planned: dict[RecordKey, RecordSet] = {}
    # Record sets we own but may not update now (a foreign record appeared beside them): left as they are.
    kept: set[RecordKey] = set()
    conflicts: list[Conflict] = []
    for key in sorted(wanted):
        record = wanted[key]
        reason = _blocker(state, record, ours, zone)
        if reason is not None:
            conflicts.append(Conflict(name=record.name, type=record.type, reason=reason))
            if state.owners.get(key) == ours:
                kept.add(key)
            continue
        planned[key] = record
        tag = render_ownership_record(record, federation=federation, owner=owner)
        planned[tag.key] = tag

    create: list[RecordSet] = []
    update_old: list[RecordSet] = []
    update_new: list[RecordSet] = []
    for key, record in sorted(planned.items()):
        existing = state.records.get(key)
        if existing is None:
            create.append(record)
        elif existing != record and not is_ownership_name(record.name):
            # An ownership record that names us is left as it is, whatever its TTL: it only has to name us.
            update_old.append(existing)
            update_new.append(record)

    delete: list[RecordSet] = []
    for target in sorted(state.owned.get(ours, set()) - planned.keys() - kept):
        if target in state.records:
            delete.append(state.records[target])
        delete.append(state.records[(ownership_name(*target), "TXT")])

    changes = Changes(
        create=tuple(sorted(create, key=_reading_order)),
        update_old=tuple(sorted(update_old, key=_reading_order)),
        update_new=tuple(sorted(update_new, key=_reading_order)),
        delete=tuple(sorted(delete, key=_reading_order)),
    )
    return changes, tuple(conflicts)


def _within_quota(
    state: ZoneIndex, changes: Changes, conflicts: tuple[Conflict, ...], quota: int
) -> tuple[Changes, tuple[Conflict, ...]]:
    """``changes`` without the owner's new names when they would take the zone past ``quota`` record sets.

    A creation at a name the plan also deletes from (an A → CNAME switch) replaces a record set and stays.
    """
    after = len(state) + len(changes.create) - len(changes.delete)
    if after <= quota:
        return changes, conflicts
    replaced = {_target_name(record) for record in changes.delete}
    kept = tuple(record for record in changes.create if _target_name(record) in replaced)
    dropped = [r for r in changes.create if _target_name(r) not in replaced and not is_ownership_name(r.name)]
    reason = (
        f"the zone's quota of {quota} record sets would be exceeded ({len(state)} held, this object's new "
        f"names need {len(changes.create) - len(kept)} more with their ownership records)"
    )
    found = [*conflicts, *(Conflict(name=r.name, type=r.type, reason=reason) for r in dropped)]
    trimmed = Changes(
        create=kept, update_old=changes.update_old, update_new=changes.update_new, delete=changes.delete
    )
    return trimmed, tuple(sorted(found))


def _target_name(record: RecordSet) -> str:
    """The name a record set stands at, or stands for (an ownership record)."""
    target = parse_ownership_name(record.name)
    return target[0] if target else record.name


def _reading_order(record: RecordSet) -> tuple[str, bool, str]:
    """Each record set followed by its ownership record, so that a printed plan reads name by name."""
    target = parse_ownership_name(record.name)
    return (target[0], True, target[1]) if target else (record.name, False, record.type)
