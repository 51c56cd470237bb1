"""The ownership-aware DNS diff: named scenarios (first round, second round, switches, foreign records), the
multi-owner zone plan, the zone rules the diff shares with the providers (in the zone, no CNAME beside other
data), and hypothesis properties (idempotency, foreign records never touched)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation_operator.domain.ownership import ownership_name, read_owners, render_ownership_value
from federation_operator.domain.records import (
    Changes,
    Conflict,
    RecordSet,
    RecordType,
    ZoneDelta,
    ZoneProblem,
    cname_clash,
    cname_clashes,
    in_zone,
    other_types_marker,
    zone_problem,
)
from federation_operator.planning.zone_diff import (
    InapplicableChangesError,
    ZoneDrift,
    ZoneIndex,
    merge_changes,
    plan_changes,
    plan_drift,
    plan_zone_changes,
    plan_zone_changes_into,
    render_applied,
    render_delta,
)

FED = "myfederation"
OWNER = "mynamespace/nginx"
ZONE = "example.com."
GLOBAL = "nginx.mynamespace.myfederation.svc.example.com."
REGION = "nginx.mynamespace.myfederation.svc.europe-west1.example.com."
OURS = "heritage=federation-operator,federation=myfederation,owner=mynamespace/nginx"


def a(name: str, *ips: str, ttl: int = 180) -> RecordSet:
    return RecordSet(name, "A", ttl, ips)


def cname(name: str, target: str, ttl: int = 180) -> RecordSet:
    return RecordSet(name, "CNAME", ttl, (target,))


def txt(name: str, *values: str, ttl: int = 300) -> RecordSet:
    return RecordSet(name, "TXT", ttl, values)


def tag(name: str, rtype: RecordType, *, owner: str = OWNER, federation: str = FED) -> RecordSet:
    return txt(ownership_name(name, rtype), render_ownership_value(federation=federation, owner=owner))


def owned(*records: RecordSet, owner: str = OWNER, federation: str = FED) -> list[RecordSet]:
    """``records`` as the zone holds them after an owner published them: each with its ownership record."""
    return [x for r in records for x in (r, tag(r.name, r.type, owner=owner, federation=federation))]


def plan(
    current: Iterable[RecordSet], desired: Iterable[RecordSet], owner: str = OWNER
) -> tuple[Changes, tuple[Conflict, ...]]:
    return plan_changes(current, desired, federation=FED, owner=owner, zone=ZONE)


def test_first_round_creates_records_with_ownership_and_second_round_is_empty() -> None:
    desired = [a(GLOBAL, "1.1.1.1", "2.2.2.2"), cname(REGION, GLOBAL)]
    changes, conflicts = plan([], desired)
    assert conflicts == ()
    assert changes == Changes(
        create=(desired[1], tag(REGION, "CNAME"), desired[0], tag(GLOBAL, "A")),
    )
    zone = render_applied([], changes)
    again, conflicts = plan(zone, desired)
    assert again.is_empty
    assert conflicts == ()
    assert str(again) == "no changes"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(a(GLOBAL, "1.1.1.1"), a(GLOBAL, "1.1.1.1", "2.2.2.2"), id="address-added"),
        pytest.param(a(GLOBAL, "1.1.1.1", "2.2.2.2"), a(GLOBAL, "2.2.2.2"), id="address-withdrawn"),
        pytest.param(a(GLOBAL, "1.1.1.1"), a(GLOBAL, "1.1.1.1", ttl=30), id="ttl-changed"),
        pytest.param(cname(REGION, GLOBAL), cname(REGION, "elb.example.net."), id="cname-retargeted"),
    ],
)
def test_changed_record_is_one_update_and_its_ownership_record_stays(
    before: RecordSet, after: RecordSet
) -> None:
    changes, _ = plan(owned(before), [after])
    assert changes == Changes(update_old=(before,), update_new=(after,))


def test_a_to_cname_switch_is_a_delete_and_a_create_in_one_plan() -> None:
    zone = owned(a(REGION, "1.1.1.1"))
    changes, conflicts = plan(zone, [cname(REGION, GLOBAL)])
    assert conflicts == ()
    assert changes == Changes(
        create=(cname(REGION, GLOBAL), tag(REGION, "CNAME")),
        delete=(a(REGION, "1.1.1.1"), tag(REGION, "A")),
    )
    assert set(render_applied(zone, changes)) == set(owned(cname(REGION, GLOBAL)))
    back, _ = plan(render_applied(zone, changes), [a(REGION, "1.1.1.1")])
    assert set(render_applied(render_applied(zone, changes), back)) == set(zone)


def test_records_no_longer_desired_are_deleted_with_their_ownership_records() -> None:
    zone = owned(a(GLOBAL, "1.1.1.1"), cname(REGION, GLOBAL))
    changes, _ = plan(zone, [a(GLOBAL, "1.1.1.1")])
    assert changes == Changes(delete=(cname(REGION, GLOBAL), tag(REGION, "CNAME")))


def test_deleting_everything_of_an_owner_leaves_other_owners_and_foreign_records() -> None:
    ours = owned(a(GLOBAL, "1.1.1.1"), cname(REGION, GLOBAL))
    theirs = owned(a("other.example.com.", "3.3.3.3"), owner="mynamespace/other")
    elsewhere = owned(a("x.example.com.", "4.4.4.4"), federation="otherfed")
    foreign = [a("www.example.com.", "5.5.5.5"), txt("example.com.", "v=spf1 -all")]
    changes, conflicts = plan([*ours, *theirs, *elsewhere, *foreign], ())
    assert conflicts == ()
    assert set(changes.delete) == set(ours)
    assert changes.create == changes.update_old == ()


def test_ownership_record_kept_when_its_record_vanished_and_the_record_is_recreated() -> None:
    changes, _ = plan([tag(GLOBAL, "A")], [a(GLOBAL, "1.1.1.1")])
    assert changes == Changes(create=(a(GLOBAL, "1.1.1.1"),))


def test_orphan_ownership_record_is_cleaned_up() -> None:
    changes, _ = plan([tag(GLOBAL, "A")], [])
    assert changes == Changes(delete=(tag(GLOBAL, "A"),))


def test_ownership_record_with_another_ttl_is_left_alone() -> None:
    zone = [
        a(GLOBAL, "1.1.1.1"),
        txt(ownership_name(GLOBAL, "A"), render_ownership_value(federation=FED, owner=OWNER), ttl=60),
    ]
    changes, _ = plan(zone, [a(GLOBAL, "1.1.1.1")])
    assert changes.is_empty


@pytest.mark.parametrize(
    ("zone", "wanted", "reason"),
    [
        pytest.param(
            [a(GLOBAL, "9.9.9.9")], a(GLOBAL, "1.1.1.1"), "without an ownership record", id="unowned"
        ),
        pytest.param(
            owned(a(GLOBAL, "9.9.9.9"), owner="mynamespace/other"),
            a(GLOBAL, "1.1.1.1"),
            "owned by mynamespace/other in federation myfederation",
            id="other-owner-same-federation",
        ),
        pytest.param(
            owned(a(GLOBAL, "9.9.9.9"), federation="otherfed"),
            a(GLOBAL, "1.1.1.1"),
            "owned by mynamespace/nginx in federation otherfed",
            id="same-owner-other-federation",
        ),
        pytest.param(
            [a(GLOBAL, "9.9.9.9"), txt(ownership_name(GLOBAL, "A"), "mine, says someone")],
            a(GLOBAL, "1.1.1.1"),
            "no known owner",
            id="unreadable-ownership-record",
        ),
        pytest.param(
            [tag(GLOBAL, "A", owner="mynamespace/other")],
            a(GLOBAL, "1.1.1.1"),
            "names mynamespace/other",
            id="claimed-by-another-owner",
        ),
        pytest.param(
            [cname(REGION, "elsewhere.example.net.")],
            a(REGION, "1.1.1.1"),
            "a CNAME cannot share a name",
            id="foreign-cname-where-we-want-an-a",
        ),
        pytest.param(
            [a(REGION, "9.9.9.9")],
            cname(REGION, GLOBAL),
            "a CNAME cannot share a name",
            id="foreign-a-where-we-want-a-cname",
        ),
        pytest.param(
            [txt(REGION, "verification=1")],
            cname(REGION, GLOBAL),
            "a CNAME cannot share a name",
            id="foreign-txt-where-we-want-a-cname",
        ),
        pytest.param([], cname("nginx.acme.com.", GLOBAL), "outside the provider's zone", id="outside-zone"),
        pytest.param([], cname("example.com.", GLOBAL), "zone apex", id="cname-at-apex"),
        pytest.param(
            [], a(".".join(["x" * 60] * 4) + ".example.com.", "1.1.1.1"), "too long", id="name-too-long"
        ),
    ],
)
def test_conflicts_are_reported_and_foreign_records_untouched(
    zone: list[RecordSet], wanted: RecordSet, reason: str
) -> None:
    other = a("fine.example.com.", "8.8.8.8")
    changes, conflicts = plan(zone, [wanted, other])
    assert [(c.name, c.type) for c in conflicts] == [wanted.key]
    assert reason in conflicts[0].reason
    assert changes == Changes(create=(other, tag(other.name, "A")))
    assert set(zone) <= set(render_applied(zone, changes))


def test_foreign_txt_beside_our_a_is_no_conflict() -> None:
    zone = [txt(GLOBAL, "verification=1")]
    changes, conflicts = plan(zone, [a(GLOBAL, "1.1.1.1")])
    assert conflicts == ()
    assert changes.create == (a(GLOBAL, "1.1.1.1"), tag(GLOBAL, "A"))


def test_our_record_kept_as_is_while_a_foreign_cname_blocks_it() -> None:
    """A zone that somehow holds our A and a foreign CNAME at one name: leave ours alone, report it."""
    zone = [*owned(a(REGION, "1.1.1.1")), cname(REGION, GLOBAL)]
    changes, conflicts = plan(zone, [a(REGION, "2.2.2.2")])
    assert changes.is_empty
    assert [(c.name, c.type) for c in conflicts] == [(REGION, "A")]


@pytest.mark.parametrize(
    "desired",
    [
        pytest.param([a(GLOBAL, "1.1.1.1"), a(GLOBAL, "2.2.2.2")], id="two-a-at-one-name"),
        pytest.param([a(GLOBAL, "1.1.1.1"), cname(GLOBAL, "x.example.com.")], id="cname-beside-a"),
    ],
)
def test_inconsistent_desired_state_is_a_bug(desired: list[RecordSet]) -> None:
    with pytest.raises(ValueError, match="desired state"):
        plan([], desired)


def test_changes_print_as_a_readable_plan() -> None:
    changes, _ = plan(
        owned(a(REGION, "1.1.1.1"), a(GLOBAL, "1.1.1.1")),
        [cname(REGION, GLOBAL), a(GLOBAL, "1.1.1.1", "2.2.2.2")],
    )
    assert str(changes).splitlines() == [
        "5 changes: 2 to create, 1 to update, 2 to delete",
        f"  - {REGION} 180 A 1.1.1.1",
        f'  - _fedop-a.{REGION} 300 TXT "{OURS}"',
        f"  ~ {GLOBAL} 180 A 1.1.1.1",
        f"    → {GLOBAL} 180 A 1.1.1.1 2.2.2.2",
        f"  + {REGION} 180 CNAME {GLOBAL}",
        f'  + _fedop-cname.{REGION} 300 TXT "{OURS}"',
    ]
    assert len(changes) == 5
    assert not changes.is_empty
    # A bulk round's listing is cut short (the publisher logs it so at INFO); an update counts as one.
    assert changes.describe(limit=3).splitlines() == [
        *str(changes).splitlines()[:5],
        "  ... and 2 more",
    ]
    assert changes.describe(limit=5) == str(changes)


# --- render_applied, merge_changes, plan_zone_changes ------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "changes", "message"),
    [
        pytest.param(
            [a(GLOBAL, "1.1.1.1")],
            Changes(delete=(a(GLOBAL, "2.2.2.2"),)),
            "cannot delete",
            id="stale-delete",
        ),
        pytest.param(
            [a(GLOBAL, "1.1.1.1", ttl=60)],
            Changes(delete=(a(GLOBAL, "1.1.1.1"),)),
            "cannot delete",
            id="stale-ttl",
        ),
        pytest.param([], Changes(delete=(a(GLOBAL, "1.1.1.1"),)), "no such record set", id="delete-missing"),
        pytest.param(
            [a(GLOBAL, "1.1.1.1")],
            Changes(update_old=(a(GLOBAL, "3.3.3.3"),), update_new=(a(GLOBAL, "2.2.2.2"),)),
            "cannot update",
            id="stale-update",
        ),
        pytest.param(
            [a(GLOBAL, "1.1.1.1")],
            Changes(create=(a(GLOBAL, "1.1.1.1"),)),
            "already holds",
            id="create-existing",
        ),
        pytest.param(
            [a(GLOBAL, "1.1.1.1")],
            Changes(create=(cname(GLOBAL, "x.example.com."),)),
            "CNAME beside A",
            id="cname-clash",
        ),
    ],
)
def test_render_applied_is_strict(zone: list[RecordSet], changes: Changes, message: str) -> None:
    with pytest.raises(InapplicableChangesError, match=message):
        render_applied(zone, changes)


def test_merge_turns_a_release_and_a_take_into_an_update() -> None:
    release = Changes(delete=(a(GLOBAL, "1.1.1.1"),))
    take = Changes(create=(a(GLOBAL, "2.2.2.2"),))
    assert merge_changes([release, take]) == Changes(
        update_old=(a(GLOBAL, "1.1.1.1"),), update_new=(a(GLOBAL, "2.2.2.2"),)
    )
    assert merge_changes([release, Changes(create=(a(GLOBAL, "1.1.1.1"),))]).is_empty
    with pytest.raises(ValueError, match="two plans"):
        merge_changes([take, take])


def test_zone_plan_gives_a_contested_name_to_the_first_owner_only() -> None:
    changes, conflicts = plan_zone_changes(
        [],
        {"ns/b": [a(GLOBAL, "2.2.2.2")], "ns/a": [a(GLOBAL, "1.1.1.1")]},
        federation=FED,
        zone=ZONE,
    )
    assert changes == Changes(create=(a(GLOBAL, "1.1.1.1"), tag(GLOBAL, "A", owner="ns/a")))
    assert conflicts["ns/a"] == ()
    assert [(c.name, c.type) for c in conflicts["ns/b"]] == [(GLOBAL, "A")]


def test_zone_plan_hands_a_released_name_over_in_one_update() -> None:
    zone = owned(a(GLOBAL, "1.1.1.1"), owner="ns/a")
    wanted: dict[str, Sequence[RecordSet]] = {"ns/a": [], "ns/b": [a(GLOBAL, "2.2.2.2")]}
    first, conflicts = plan_zone_changes(zone, wanted, federation=FED, zone=ZONE)
    assert conflicts == {"ns/a": (), "ns/b": ()}
    assert first == Changes(
        update_old=(a(GLOBAL, "1.1.1.1"), tag(GLOBAL, "A", owner="ns/a")),
        update_new=(a(GLOBAL, "2.2.2.2"), tag(GLOBAL, "A", owner="ns/b")),
    )
    zone = list(render_applied(zone, first))
    assert read_owners(zone)[(GLOBAL, "A")] is not None
    again, _ = plan_zone_changes(zone, wanted, federation=FED, zone=ZONE)
    assert again.is_empty


def test_zone_plan_in_a_given_order_gives_a_contested_name_to_the_first_listed() -> None:
    wanted = {"ns/a": [a(GLOBAL, "1.1.1.1")], "ns/b": [a(GLOBAL, "2.2.2.2")]}
    changes, conflicts = plan_zone_changes_into(
        ZoneIndex([]), wanted, federation=FED, zone=ZONE, order=["ns/b", "ns/a"]
    )
    assert changes == Changes(create=(a(GLOBAL, "2.2.2.2"), tag(GLOBAL, "A", owner="ns/b")))
    assert conflicts["ns/b"] == ()
    assert [(c.name, c.type) for c in conflicts["ns/a"]] == [(GLOBAL, "A")]
    with pytest.raises(ValueError, match="order must list every owner"):
        plan_zone_changes_into(ZoneIndex([]), wanted, federation=FED, zone=ZONE, order=["ns/a"])


FOREIGN = "foreign.example.com."


@pytest.mark.parametrize(
    ("fresh", "owners", "names"),
    [
        pytest.param(lambda z: z, set(), set(), id="unchanged"),
        pytest.param(
            lambda z: [r for r in z if r != a(GLOBAL, "1.1.1.1")], {"ns/a"}, {GLOBAL}, id="our-a-deleted"
        ),
        pytest.param(
            lambda z: [r for r in z if r.name != ownership_name(GLOBAL, "A")],
            {"ns/a"},
            {GLOBAL},
            id="our-ownership-record-deleted",
        ),
        pytest.param(
            lambda z: [r if r != a(REGION, "2.2.2.2") else a(REGION, "9.9.9.9") for r in z],
            {"ns/b"},
            {REGION},
            id="our-values-changed",
        ),
        pytest.param(lambda z: [r for r in z if r.name != FOREIGN], set(), {FOREIGN}, id="foreign-deleted"),
        pytest.param(
            lambda z: [r for r in z if r.name != "other.example.com."],
            set(),
            {"other.example.com."},
            id="other-federation-not-ours",
        ),
    ],
)
def test_drift_names_the_owners_and_names_that_differ(
    fresh: Callable[[list[RecordSet]], list[RecordSet]], owners: set[str], names: set[str]
) -> None:
    zone = [
        *owned(a(GLOBAL, "1.1.1.1"), owner="ns/a"),
        *owned(a(REGION, "2.2.2.2"), owner="ns/b"),
        a(FOREIGN, "3.3.3.3"),
        *owned(a("other.example.com.", "4.4.4.4"), owner="ns/c", federation="otherfed"),
    ]
    drift = plan_drift(ZoneIndex(zone), ZoneIndex(fresh(zone)), federation=FED)
    assert drift == ZoneDrift(owners=frozenset(owners), names=frozenset(names))
    assert bool(drift) == bool(names)
    # Read as what changed (a server's journal) and replayed onto the index: the same drift, the same zone.
    kept = ZoneIndex(zone)
    assert kept.take(render_delta(kept, journal(zone, fresh(zone))), federation=FED) == drift
    assert kept.snapshot() == ZoneIndex(fresh(zone)).snapshot()


def test_drift_names_both_owners_when_a_record_changed_hands() -> None:
    before = owned(a(GLOBAL, "1.1.1.1"), owner="ns/a")
    after = owned(a(GLOBAL, "1.1.1.1"), owner="ns/b")
    drift = plan_drift(ZoneIndex(before), ZoneIndex(after), federation=FED)
    assert drift.owners == {"ns/a", "ns/b"}
    kept = ZoneIndex(before)
    assert kept.take(render_delta(kept, journal(before, after)), federation=FED) == drift
    assert kept.owners == ZoneIndex(after).owners


def journal(before: Iterable[RecordSet], after: Iterable[RecordSet]) -> ZoneDelta:
    """The steps a server's journal holds for ``before`` becoming ``after``: values removed, then added (a
    TTL change removes and adds the whole record set)."""
    old = {r.key: r for r in before}
    new = {r.key: r for r in after}
    removed: list[tuple[bool, str, RecordType, int, str]] = []
    added: list[tuple[bool, str, RecordType, int, str]] = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        was_values = set(was.values) if was else set()
        now_values = set(now.values) if now else set()
        kept = set() if was and now and was.ttl != now.ttl else was_values & now_values
        if was:
            removed += [(False, key[0], key[1], was.ttl, v) for v in sorted(was_values - kept)]
        if now:
            added += [(True, key[0], key[1], now.ttl, v) for v in sorted(now_values - kept)]
    return ZoneDelta((*removed, *added))


def test_a_replayed_journal_ends_as_its_last_step_says() -> None:
    """The index may already hold this operator's own changes, which the journal holds too: a value added
    and removed again is gone, a record set removed and added again with another TTL takes it."""
    zone = [a(GLOBAL, "1.1.1.1"), a(REGION, "2.2.2.2")]
    kept = ZoneIndex([a(GLOBAL, "1.1.1.1", "5.5.5.5"), a(REGION, "2.2.2.2")])  # our change: 5.5.5.5 added
    steps: tuple[tuple[bool, str, RecordType, int, str], ...] = (
        (True, GLOBAL, "A", 180, "5.5.5.5"),  # ours
        (False, GLOBAL, "A", 0, "5.5.5.5"),  # someone else's
        (False, REGION, "A", 0, "2.2.2.2"),
        (True, REGION.upper(), "A", 30, "2.2.2.2"),  # the TTL changed; names as the server spells them
    )
    replayed = render_delta(kept, ZoneDelta(steps))
    assert replayed == {(GLOBAL, "A"): zone[0], (REGION, "A"): RecordSet(REGION, "A", 30, ("2.2.2.2",))}
    assert render_delta(kept, ZoneDelta(steps), skip={GLOBAL}).keys() == {(REGION, "A")}


# --- zone rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "others"),
    [
        pytest.param(["A", "AAAA", "TXT"], (), id="no-cname"),
        pytest.param(["CNAME"], (), id="cname-alone"),
        pytest.param(["CNAME", "TXT", "A"], ("A", "TXT"), id="cname-beside-data"),
        pytest.param(["MX", "CNAME"], ("MX",), id="unmanaged-types-count"),
        pytest.param([], (), id="empty"),
    ],
)
def test_a_cname_shares_its_name_with_no_other_data(types: list[str], others: tuple[str, ...]) -> None:
    assert cname_clash(types) == others


def test_cname_clashes_judge_each_name_as_the_changes_leave_it() -> None:
    types_at = {"a.example.com.": {"A"}, "b.example.com.": {"A", "MX"}, "c.example.com.": {"CNAME"}}
    changes = Changes(
        delete=(a("a.example.com.", "192.0.2.1"),),  # an A -> CNAME switch in one plan: fine
        create=(
            cname("a.example.com.", GLOBAL),
            cname("b.example.com.", GLOBAL),  # the MX stays: a clash
            txt("c.example.com.", "x"),  # beside the CNAME held: a clash
            txt("d.example.com.", "x"),
        ),
    )
    assert cname_clashes(types_at, changes) == [
        "b.example.com. would hold a CNAME beside A, MX",
        "c.example.com. would hold a CNAME beside TXT",
    ]


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        pytest.param(a("www.example.com.", "192.0.2.1"), None, id="below"),
        pytest.param(a("example.com.", "192.0.2.1"), None, id="address-at-apex"),
        pytest.param(cname("example.com.", GLOBAL), "cname-at-apex", id="cname-at-apex"),
        pytest.param(a("www.example.org.", "192.0.2.1"), "outside", id="other-zone"),
        pytest.param(a("notexample.com.", "192.0.2.1"), "outside", id="same-suffix-other-label"),
    ],
)
def test_where_a_record_set_may_stand_in_a_zone(record: RecordSet, problem: ZoneProblem | None) -> None:
    assert zone_problem(record, ZONE) == problem
    assert in_zone(record.name, ZONE) == (problem != "outside")


# --- properties --------------------------------------------------------------------------------------------

NAMES = [f"{label}.example.com." for label in ("a", "b", "c", "d")] + ["example.com.", "alias.acme.com."]
OWNERS = ["ns/one", "ns/two", OWNER]
VALUES: dict[RecordType, list[str]] = {
    "A": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
    "AAAA": ["2001:db8::1", "2001:db8::2"],
    "CNAME": ["a.example.com.", "elb.example.net."],
    "TXT": ["hello", "v=spf1 -all"],
}


@st.composite
def record_sets(draw: st.DrawFn, names: Sequence[str] = NAMES) -> list[RecordSet]:
    """A consistent set of record sets: at each name either one CNAME or any of A, AAAA and TXT."""
    found: list[RecordSet] = []
    for name in draw(st.sets(st.sampled_from(names))):
        ttl = draw(st.sampled_from([60, 180]))
        types: list[RecordType] = (
            ["CNAME"]
            if draw(st.booleans())
            else draw(st.lists(st.sampled_from(["A", "AAAA", "TXT"]), unique=True))
        )
        for rtype in types:
            count = 1 if rtype == "CNAME" else draw(st.integers(1, 2))
            values = draw(
                st.lists(st.sampled_from(VALUES[rtype]), min_size=count, max_size=count, unique=True)
            )
            found.append(RecordSet(name, rtype, ttl, tuple(values)))
    return found


@st.composite
def zones(draw: st.DrawFn) -> list[RecordSet]:
    """A zone as history may leave it: foreign records, then each owner's published state, then claims."""
    zone = list(render_applied([], Changes(create=tuple(draw(record_sets())))))
    for owner in draw(st.lists(st.sampled_from(OWNERS), unique=True)):
        changes, _ = plan_changes(zone, draw(record_sets()), federation=FED, owner=owner)
        zone = list(render_applied(zone, changes))
    # Stray ownership records: claims without records, unreadable ones.
    for name in draw(st.sets(st.sampled_from(NAMES), max_size=2)):
        rtype: RecordType = draw(st.sampled_from(["A", "CNAME"]))
        key = ownership_name(name, rtype)
        if not any(r.name == key for r in zone):
            value = draw(
                st.sampled_from(
                    [render_ownership_value(federation=FED, owner=draw(st.sampled_from(OWNERS))), "junk"]
                )
            )
            zone.append(txt(key, value))
    return zone


@settings(max_examples=300, deadline=None)
@given(zones(), record_sets())
def test_plan_applies_cleanly_and_replanning_is_empty(
    zone: list[RecordSet], desired: list[RecordSet]
) -> None:
    changes, conflicts = plan_changes(zone, desired, federation=FED, owner=OWNER)
    after = render_applied(zone, changes)  # never stale, never a CNAME beside other data
    again, conflicts_again = plan_changes(after, desired, federation=FED, owner=OWNER)
    assert again.is_empty, str(again)
    assert conflicts_again == conflicts
    # Every desired record set is either published exactly or reported.
    blocked = {(c.name, c.type) for c in conflicts}
    for record in desired:
        assert record in after or record.key in blocked


@settings(max_examples=300, deadline=None)
@given(zones(), record_sets())
def test_foreign_records_are_never_in_any_changes(zone: list[RecordSet], desired: list[RecordSet]) -> None:
    owners = read_owners(zone)
    ours = {
        key for key, tag in owners.items() if tag is not None and tag.owner == OWNER and tag.federation == FED
    }
    ours = (ours | {(ownership_name(*key), "TXT") for key in ours}) & {r.key for r in zone}
    foreign = {r.key for r in zone} - ours
    changes, _ = plan_changes(zone, desired, federation=FED, owner=OWNER)
    touched = {r.key for r in (*changes.delete, *changes.update_old, *changes.create)}
    assert not touched & foreign
    deleting, _ = plan_changes(zone, (), federation=FED, owner=OWNER)
    assert {r.key for r in deleting.delete} == ours
    assert set(render_applied(zone, deleting)) == {r for r in zone if r.key in foreign}


@st.composite
def owners_desires(draw: st.DrawFn) -> dict[str, list[RecordSet]]:
    return {owner: draw(record_sets()) for owner in draw(st.lists(st.sampled_from(OWNERS), unique=True))}


@settings(max_examples=200, deadline=None)
@given(zones(), owners_desires())
def test_zone_plan_applies_cleanly_and_converges(
    zone: list[RecordSet], wanted: dict[str, list[RecordSet]]
) -> None:
    changes, _ = plan_zone_changes(zone, wanted, federation=FED, zone=ZONE)
    after = render_applied(zone, changes)
    # A second round may still hand over names released in the first; a third changes nothing.
    second, _ = plan_zone_changes(after, wanted, federation=FED, zone=ZONE)
    after = render_applied(after, second)
    third, conflicts = plan_zone_changes(after, wanted, federation=FED, zone=ZONE)
    assert third.is_empty, str(third)
    for owner, records in wanted.items():
        blocked = {(c.name, c.type) for c in conflicts[owner]}
        assert all(record in after or record.key in blocked for record in records)


@settings(max_examples=200, deadline=None)
@given(zones(), owners_desires(), owners_desires())
def test_a_kept_index_plans_as_a_fresh_read_of_the_zone_would(
    zone: list[RecordSet], first: dict[str, list[RecordSet]], then: dict[str, list[RecordSet]]
) -> None:
    """The publishing loop keeps one ZoneIndex across rounds instead of re-reading the zone: each round's
    plan is the one a fresh read would give, and the index ends as the zone the plans lead to."""
    index = ZoneIndex(zone)
    current = tuple(sorted(zone))
    for wanted in (first, then, first):
        expected = plan_zone_changes(current, wanted, federation=FED, zone=ZONE)
        assert plan_zone_changes_into(index, wanted, federation=FED, zone=ZONE) == expected
        current = render_applied(current, expected[0])
        assert index.snapshot() == current


@settings(max_examples=100, deadline=None)
@given(st.permutations([f"ns/o{i}" for i in range(4)]))
def test_a_name_all_owners_want_goes_to_the_first_in_the_order(order: list[str]) -> None:
    wanted = {owner: [cname(GLOBAL, f"{owner.split('/')[1]}.example.com.")] for owner in order}
    changes, conflicts = plan_zone_changes_into(ZoneIndex([]), wanted, federation=FED, zone=ZONE, order=order)
    assert changes.create[0] == cname(GLOBAL, f"{order[0].split('/')[1]}.example.com.")
    assert conflicts[order[0]] == ()
    assert all(conflicts[owner] for owner in order[1:])


# --- record types the operator does not manage, and the zone's quota --------------------------------------


def test_a_cname_beside_foreign_records_of_other_types_is_a_conflict() -> None:
    marker = other_types_marker(REGION, ["MX", "SRV"])
    assert marker == RecordSet(REGION, "OTHER", 0, ("MX", "SRV"))
    changes, conflicts = plan([marker], [cname(REGION, GLOBAL), a(GLOBAL, "1.1.1.1")])
    assert changes == Changes(create=(a(GLOBAL, "1.1.1.1"), tag(GLOBAL, "A")))
    assert [(c.name, c.type) for c in conflicts] == [(REGION, "CNAME")]
    assert "MX, SRV" in conflicts[0].reason
    assert "does not manage" in conflicts[0].reason


def test_an_a_beside_foreign_records_of_other_types_is_fine() -> None:
    marker = RecordSet(GLOBAL, "OTHER", 0, ("MX",))
    changes, conflicts = plan([marker], [a(GLOBAL, "1.1.1.1")])
    assert changes == Changes(create=(a(GLOBAL, "1.1.1.1"), tag(GLOBAL, "A")))
    assert conflicts == ()


def test_the_marker_leaves_out_managed_types_and_dnssec_records() -> None:
    assert other_types_marker(GLOBAL, ["A", "TXT", "RRSIG", "NSEC"]) is None
    assert other_types_marker(GLOBAL, ["mx", "A"]) == RecordSet(GLOBAL, "OTHER", 0, ("MX",))


@pytest.mark.parametrize("ours", sorted(set(get_args(RecordType)) - {"OTHER"}))
def test_the_marker_leaves_out_every_record_set_type_of_ours(ours: str) -> None:
    # A provider folding our routing-policy sets into one record set (Route 53's geolocation sets into GEO)
    # lists its type among the name's types: it is ours, not other data beside which no CNAME may stand.
    assert other_types_marker(GLOBAL, [ours]) is None
    assert other_types_marker(GLOBAL, [ours, "MX"]) == RecordSet(GLOBAL, "OTHER", 0, ("MX",))


def test_a_geo_group_read_back_is_no_drift_and_leaves_nothing_behind_when_withdrawn() -> None:
    group = RecordSet(GLOBAL, "GEO", 60, ("fedop-geo-a * 1.1.1.1", "fedop-geo-b continent:EU 2.2.2.2"))
    kept = ZoneIndex(owned(group))
    # A provider's read of the name: the group, its ownership record, and the marker of whatever else it
    # lists there (Route 53 lists the folded group's type among the name's types).
    marker = other_types_marker(GLOBAL, [group.type, "TXT"])
    fresh = ZoneIndex([*owned(group), *filter(None, [marker])])
    assert not plan_drift(kept, fresh, federation=FED)
    # The owner withdraws; another owner's CNAME (an alias) may then take the name.
    withdrawn, _ = plan(fresh.snapshot(), [])
    fresh.apply(withdrawn)
    changes, conflicts = plan(fresh.snapshot(), [cname(GLOBAL, REGION)], owner="ns/other")
    assert conflicts == ()
    assert changes.create == (cname(GLOBAL, REGION), tag(GLOBAL, "CNAME", owner="ns/other"))


def test_an_owner_past_the_zone_quota_publishes_no_new_names_and_the_next_one_fits() -> None:
    other = "nginx2.mynamespace.myfederation.svc.example.com."
    small = "nginx3.mynamespace.myfederation.svc.example.com."
    zone = owned(a(small, "3.3.3.3"), owner="ns/c")  # 2 record sets held
    # ns/a wants 3 names (6 record sets with ownership records): 2 + 6 > 5. ns/b's one name (2) fits: 4.
    changes, conflicts = plan_zone_changes_into(
        ZoneIndex(zone),
        {
            "ns/a": [a(GLOBAL, "1.1.1.1"), cname(REGION, GLOBAL), a("x.example.com.", "9.9.9.9")],
            "ns/b": [a(other, "2.2.2.2")],
            "ns/c": [],
        },
        federation=FED,
        zone=ZONE,
        order=["ns/a", "ns/b", "ns/c"],
        max_record_sets=5,
    )
    assert sorted((c.name, c.type) for c in conflicts["ns/a"]) == [
        (REGION, "CNAME"),
        (GLOBAL, "A"),
        ("x.example.com.", "A"),
    ]
    assert all("quota of 5 record sets" in c.reason for c in conflicts["ns/a"])
    assert conflicts["ns/b"] == ()
    assert set(changes.create) == {a(other, "2.2.2.2"), tag(other, "A", owner="ns/b")}
    assert set(changes.delete) == set(zone)  # ns/c's deletion goes out too


def test_within_the_quota_nothing_changes() -> None:
    desired = {"ns/a": [a(GLOBAL, "1.1.1.1")]}
    assert plan_zone_changes_into(
        ZoneIndex([]), desired, federation=FED, zone=ZONE, max_record_sets=2
    ) == plan_zone_changes([], desired, federation=FED, zone=ZONE)


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 4), min_size=1, max_size=6), quota=st.integers(0, 20))
def test_the_quota_is_never_exceeded_by_new_names(sizes: list[int], quota: int) -> None:
    desired = {
        f"ns/o{i}": [a(f"h{j}.o{i}.example.com.", "1.1.1.1") for j in range(size)]
        for i, size in enumerate(sizes)
    }
    state = ZoneIndex([])
    plan_zone_changes_into(state, desired, federation=FED, zone=ZONE, max_record_sets=max(quota, 1))
    assert len(state) <= max(quota, 1)


def test_the_zone_index_forgets_an_owner_whose_records_are_all_deleted() -> None:
    """A deleted FederatedService leaves nothing in the kept index of the zone (memory comes back after a bulk
    delete): not its records, nor an empty entry in the index by owner."""
    state = ZoneIndex([])
    owners = [f"ns/web-{i}" for i in range(20)]
    wanted = {owner: [a(f"web-{i}.ns.{FED}.svc.example.com.", "1.1.1.1")] for i, owner in enumerate(owners)}
    plan_zone_changes_into(state, wanted, federation=FED, zone=ZONE)
    assert len(state.owned) == 20
    assert len(state) == 40  # each A record set and its ownership TXT
    plan_zone_changes_into(state, {owner: [] for owner in owners}, federation=FED, zone=ZONE)
    assert len(state) == 0
    assert state.owners == {}
    assert state.owned == {}
    assert state.types_at == {}


def test_the_zone_index_holds_one_owner_tag_and_the_record_sets_own_names() -> None:
    """Memory per owner in the kept index: the ownership records of one owner's record sets share one
    OwnerTag, read from a zone too (not one per record set), and each ownership target is keyed by the
    record set's own name, not a copy cut out of the ownership name; types at a name are a small tuple."""
    names = [f"web.ns.{FED}.svc.{tier}example.com." for tier in ("", "us-central1.", "us-central1-a.")]
    state = ZoneIndex([])
    plan_zone_changes_into(
        state, {"ns/web": [a(name, "1.1.1.1") for name in names]}, federation=FED, zone=ZONE
    )
    tags = {id(state.owners[(name, "A")]) for name in names}
    assert len(tags) == 1
    held = {key[0]: key[0] for key in state.owners}
    assert all(held[name] is state.records[(name, "A")].name for name in names)
    assert all(type(types) is tuple for types in state.types_at.values())

    read = ZoneIndex(state.snapshot())  # as after a zone transfer: every value parsed afresh
    assert len({id(read.owners[(name, "A")]) for name in names}) == 1
    assert state.owned.keys() == read.owned.keys()
