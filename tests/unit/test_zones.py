"""Several zones and mirrors, planned: the most specific managed zone holds a name, records split by zone
(every zone gets its share, empty too), aliases in no managed zone refused naming the alias and the zones,
and the answers of several zones and mirrors combined into one verdict with each mirror's state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.records import Conflict, PublishResult, RecordSet
from federation_operator.planning.zones import (
    MirrorAnswer,
    combine_results,
    plan_alias_zone_refusal,
    plan_records_by_zone,
    plan_zone_of,
)

ZONES = ("example.com.", "acme.com.", "eu.example.com.")
GLOBAL = RecordSet("nginx.ns.fed.svc.example.com.", "A", 180, ("127.1.0.1",))
ALIAS = RecordSet("nginx.acme.com.", "CNAME", 180, ("nginx.ns.fed.svc.example.com.",))
EU = RecordSet("nginx.eu.example.com.", "CNAME", 180, ("nginx.ns.fed.svc.europe-west1.example.com.",))


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("nginx.ns.fed.svc.example.com.", "example.com."),
        ("nginx.acme.com.", "acme.com."),
        ("acme.com.", "acme.com."),  # the apex belongs to its zone
        ("nginx.eu.example.com.", "eu.example.com."),  # the most specific zone wins
        ("nginx.example.org.", None),
        ("nginx.notacme.com.", None),  # a suffix of labels, not of characters
    ],
)
def test_a_name_belongs_to_the_most_specific_managed_zone(name: str, zone: str | None) -> None:
    assert plan_zone_of(name, ZONES) == zone


def test_records_are_split_by_zone_and_every_zone_gets_its_share() -> None:
    shares, outside = plan_records_by_zone((GLOBAL, ALIAS, EU), ZONES)
    assert shares == {"example.com.": (GLOBAL,), "acme.com.": (ALIAS,), "eu.example.com.": (EU,)}
    assert outside == ()
    # A zone that holds none of them gets an empty share: what it held before is deleted there.
    shares, _ = plan_records_by_zone((GLOBAL,), ZONES)
    assert shares == {"example.com.": (GLOBAL,), "acme.com.": (), "eu.example.com.": ()}
    stray = RecordSet("x.example.org.", "CNAME", 180, ("y.example.com.",))
    assert plan_records_by_zone((stray,), ZONES)[1] == (stray,)


def test_an_alias_in_no_managed_zone_is_refused_naming_it_and_the_zones() -> None:
    assert plan_alias_zone_refusal(["nginx.acme.com", "www.eu.example.com."], zones=ZONES) is None
    refusal = plan_alias_zone_refusal(["nginx.acme.com", "nginx.example.org"], zones=ZONES)
    assert isinstance(refusal, InvalidSpecError)
    assert refusal.field == "spec.dns.aliases[1]"
    assert "nginx.example.org is in no DNS zone this operator manages" in refusal.message
    assert "(example.com, acme.com, eu.example.com)" in refusal.message


def answer(mirror: str, submitted: tuple[RecordSet, ...], result: PublishResult | None) -> MirrorAnswer:
    return MirrorAnswer(
        zone="example.com.", mirror=mirror, provider="rfc2136", submitted=submitted, result=result
    )


def test_one_publisher_is_passed_through_unchanged() -> None:
    result = PublishResult((GLOBAL,), error="boom")
    assert combine_results((GLOBAL,), [answer("a", (GLOBAL,), result)]) is result
    assert combine_results((GLOBAL,), [answer("a", (GLOBAL,), None)]) is None


def test_every_mirror_published_is_published_with_each_state() -> None:
    done = PublishResult((GLOBAL,))
    combined = combine_results((GLOBAL, ALIAS), [answer("a", (GLOBAL,), done), answer("b", (GLOBAL,), done)])
    assert combined is not None
    assert combined.desired == (GLOBAL, ALIAS)
    assert (combined.error, combined.unconfirmed, combined.conflicts) == (None, None, ())
    assert [(m.mirror, m.state) for m in combined.mirrors] == [("a", "Published"), ("b", "Published")]


def test_a_failing_mirror_is_named_while_the_other_is_published() -> None:
    combined = combine_results(
        (GLOBAL,),
        [
            answer("primary", (GLOBAL,), PublishResult((GLOBAL,))),
            answer("secondary", (GLOBAL,), PublishResult((GLOBAL,), error="connection refused")),
        ],
    )
    assert combined is not None
    assert combined.error == "example.com (secondary): connection refused"
    assert not combined.rejected  # the zone's fault, not this owner's records
    assert [(m.mirror, m.state, m.message) for m in combined.mirrors] == [
        ("primary", "Published", "1 record sets"),
        ("secondary", "Failed", "connection refused"),
    ]


def test_a_mirror_behind_means_no_answer_yet_unless_another_failed() -> None:
    behind = answer("b", (GLOBAL,), PublishResult(()))  # an older round's answer: not these records yet
    assert combine_results((GLOBAL,), [answer("a", (GLOBAL,), PublishResult((GLOBAL,))), behind]) is None
    failed = answer("a", (GLOBAL,), PublishResult((GLOBAL,), error="refused"))
    combined = combine_results((GLOBAL,), [failed, behind])
    assert combined is not None
    assert combined.error == "example.com (a): refused"
    assert combined.unconfirmed == "example.com (b): not applied yet"
    assert [m.state for m in combined.mirrors] == ["Failed", "Pending"]


def test_conflicts_of_each_mirror_are_kept() -> None:
    clash = Conflict(GLOBAL.name, "A", "owned by someone else")
    combined = combine_results(
        (GLOBAL,),
        [
            answer("a", (GLOBAL,), PublishResult((GLOBAL,), conflicts=(clash,))),
            answer("b", (GLOBAL,), PublishResult((GLOBAL,), unconfirmed="change c-1 pending")),
        ],
    )
    assert combined is not None
    assert combined.conflicts == (clash,)
    assert combined.unconfirmed == "example.com (b): change c-1 pending"
    assert [m.state for m in combined.mirrors] == ["Conflict", "Pending"]


LABELS = st.sampled_from(["a", "b", "eu", "example", "acme", "com", "org"])


@given(
    names=st.lists(st.lists(LABELS, min_size=1, max_size=4), max_size=12),
    zones=st.lists(st.lists(LABELS, min_size=1, max_size=3), min_size=1, max_size=4),
)
def test_every_record_goes_to_exactly_its_most_specific_zone(
    names: list[list[str]], zones: list[list[str]]
) -> None:
    managed = [".".join(z) + "." for z in zones]
    records = [RecordSet(".".join(n) + ".", "CNAME", 60, ("target.example.com.",)) for n in names]
    shares, outside = plan_records_by_zone(records, managed)
    assert set(shares) == set(managed)
    placed = [r for share in shares.values() for r in share]
    assert sorted(placed + list(outside)) == sorted(records)  # each exactly once
    for zone, share in shares.items():
        for record in share:
            assert record.name == zone or record.name.endswith("." + zone)
            assert not any(
                len(other) > len(zone) and (record.name == other or record.name.endswith("." + other))
                for other in managed
            )
    for record in outside:
        assert not any(record.name == z or record.name.endswith("." + z) for z in managed)
