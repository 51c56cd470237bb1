"""The Route 53 provider's pure parts: packing a plan into ChangeBatches within Route 53's limits (one name
per batch, DELETE before CREATE, UPSERT counted twice), and Route 53's text forms (TXT quoting and escapes,
escaped names). No server: these are functions of their arguments."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation_operator.dns.route53 import (
    MAX_BATCH_CHARACTERS,
    MAX_BATCH_VALUES,
    change_cost,
    parse_route53_name,
    plan_batches,
)
from federation_operator.dns.route53.provider import ROUTE53_MAX_VALUES_PER_SET
from federation_operator.dns.txt import parse_txt, render_txt
from federation_operator.domain.errors import RejectedChangeError
from federation_operator.domain.ownership import render_ownership_record
from federation_operator.domain.records import Changes, RecordSet

if TYPE_CHECKING:
    from mypy_boto3_route53.type_defs import ResourceRecordSetTypeDef


def a_record(name: str, *last_octets: int, ttl: int = 60) -> RecordSet:
    return RecordSet(f"{name}.example.com.", "A", ttl, tuple(f"192.0.2.{octet}" for octet in last_octets))


def owned(record: RecordSet) -> RecordSet:
    return render_ownership_record(record, federation="myfederation", owner="mynamespace/nginx")


def values_and_characters(request: tuple[Any, ...]) -> tuple[int, int]:
    """Counted here independently of the module: every value and its characters, an UPSERT twice."""
    values = characters = 0
    for change in request:
        weight = 2 if change["Action"] == "UPSERT" else 1
        for item in change["ResourceRecordSet"]["ResourceRecords"]:
            values += weight
            characters += weight * len(item["Value"])
    return values, characters


def names_of(request: tuple[Any, ...]) -> set[str]:
    """The names a request is about, ownership names folded into the names they stand for."""
    names = {change["ResourceRecordSet"]["Name"] for change in request}
    return {name.split(".", 1)[1] if name.startswith("_fedop-") else name for name in names}


def test_an_empty_plan_is_no_batch() -> None:
    assert plan_batches(Changes()) == []


def test_one_name_swaps_a_for_cname_in_one_batch_deleting_first() -> None:
    old = a_record("www", 1, 2)
    cname = RecordSet("www.example.com.", "CNAME", 60, ("lb.example.net.",))
    (batch,) = plan_batches(Changes(create=(cname, owned(cname)), delete=(old, owned(old))))
    assert [(c["Action"], c["ResourceRecordSet"]["Type"]) for c in batch.request] == [
        ("DELETE", "A"),
        ("DELETE", "TXT"),
        ("CREATE", "CNAME"),
        ("CREATE", "TXT"),
    ]
    assert batch.request[0]["ResourceRecordSet"] == {
        "Name": "www.example.com.",
        "Type": "A",
        "TTL": 60,
        "ResourceRecords": [{"Value": "192.0.2.1"}, {"Value": "192.0.2.2"}],
    }


def test_an_update_is_an_exact_delete_then_a_create() -> None:
    old, new = a_record("www", 1), a_record("www", 1, 2, ttl=180)
    (batch,) = plan_batches(Changes(update_old=(old,), update_new=(new,)))
    assert [c["Action"] for c in batch.request] == ["DELETE", "CREATE"]
    assert batch.request[0]["ResourceRecordSet"]["TTL"] == 60
    assert batch.request[1]["ResourceRecordSet"]["TTL"] == 180
    assert batch.changes == Changes(update_old=(old,), update_new=(new,))


def test_an_upsert_counts_twice() -> None:
    rrset: ResourceRecordSetTypeDef = {
        "Name": "x.example.com.",
        "Type": "A",
        "TTL": 60,
        "ResourceRecords": [{"Value": "192.0.2.1"}] * 3,
    }
    assert change_cost([{"Action": "CREATE", "ResourceRecordSet": rrset}]) == (3, 27)
    assert change_cost([{"Action": "UPSERT", "ResourceRecordSet": rrset}]) == (6, 54)


def test_exactly_the_value_limit_fits_one_batch_and_one_more_value_needs_two() -> None:
    records = [
        RecordSet(f"h{i}.example.com.", "A", 60, tuple(f"10.0.{i}.{j}" for j in range(1, 11)))
        for i in range(100)
    ]
    assert len(plan_batches(Changes(create=tuple(records)))) == 1
    extra = a_record("zzz", 1)
    batches = plan_batches(Changes(create=(*records, extra)))
    assert [values_and_characters(b.request)[0] for b in batches] == [MAX_BATCH_VALUES, 1]


def test_long_txt_values_split_on_characters() -> None:
    # 40 names, each a TXT of 1,000 characters: 40,000 characters of values, over the 32,000 of one batch.
    records = [RecordSet(f"t{i:02}.example.com.", "TXT", 60, ("x" * 1000,)) for i in range(40)]
    batches = plan_batches(Changes(create=tuple(records)))
    assert len(batches) == 2
    assert all(values_and_characters(b.request)[1] <= MAX_BATCH_CHARACTERS for b in batches)
    # Greedy: the first batch is as full as whole names allow (1,000 characters + 4 per 255-octet string).
    assert values_and_characters(batches[0].request)[1] > MAX_BATCH_CHARACTERS - 1020


def test_the_changes_of_one_name_that_exceed_a_batch_are_refused_naming_it() -> None:
    big = RecordSet("big.example.com.", "TXT", 60, tuple(f"{i:03}" + "y" * 900 for i in range(40)))
    with pytest.raises(RejectedChangeError, match=r"big\.example\.com\."):
        plan_batches(Changes(create=(big,)))


def test_a_value_longer_than_route53_takes_is_refused_naming_its_name() -> None:
    with pytest.raises(RejectedChangeError, match=r"long\.example\.com\..*4000"):
        plan_batches(Changes(create=(RecordSet("long.example.com.", "TXT", 60, ("z" * 3990,)),)))


def test_one_owners_changes_larger_than_a_batch_go_out_in_several_whole_names() -> None:
    # One owner, 150 names of 10 addresses each with their ownership records: 1,650 values, two batches.
    records = [a_record(f"o{i:03}", *range(1, 11)) for i in range(150)]
    changes = Changes(create=tuple(r for record in records for r in (record, owned(record))))
    batches = plan_batches(changes)
    assert len(batches) == 2
    assert all(values_and_characters(b.request)[0] <= MAX_BATCH_VALUES for b in batches)
    assert not names_of(batches[0].request) & names_of(batches[1].request)
    assert sorted(r for b in batches for r in b.changes.create) == sorted(changes.create)


def test_the_fullest_name_the_planner_makes_fits_one_batch() -> None:
    # The worst case the provider's limit allows: A and AAAA at one name both replaced at once (DELETE and
    # CREATE of each, the longest IPv6 spelling), with their ownership records created beside them.
    most = ROUTE53_MAX_VALUES_PER_SET
    name = "full.example.com."

    def v4(i: int) -> str:
        return f"{100 + i // 200}.{100 + i % 100}.{200 + i % 50}.{100 + i % 150}"

    def v6(i: int) -> str:
        return ":".join(f"{0xA000 + i:x}" if k == 7 else f"{0xB000 + k:x}" for k in range(8))

    old_a = RecordSet(name, "A", 60, tuple(v4(i) for i in range(most)))
    new_a = RecordSet(name, "A", 60, tuple(v4(i + most) for i in range(most)))
    old_aaaa = RecordSet(name, "AAAA", 60, tuple(v6(i) for i in range(most)))
    new_aaaa = RecordSet(name, "AAAA", 60, tuple(v6(i + most) for i in range(most)))
    assert all(len(v) == 39 for v in new_aaaa.values)
    changes = Changes(
        create=(owned(new_a), owned(new_aaaa)),
        update_old=(old_a, old_aaaa),
        update_new=(new_a, new_aaaa),
    )
    assert len(plan_batches(changes)) == 1


@st.composite
def plans(draw: st.DrawFn) -> Changes:
    """Plans over distinct names, each created, deleted or updated, with or without its ownership record."""
    create: list[RecordSet] = []
    delete: list[RecordSet] = []
    old_new: list[tuple[RecordSet, RecordSet]] = []
    count = draw(st.integers(min_value=0, max_value=40))
    for i in range(count):
        octets = draw(st.lists(st.integers(1, 254), min_size=1, max_size=4, unique=True))
        record = a_record(f"n{i}", *octets)
        action = draw(st.sampled_from(["create", "delete", "update"]))
        if action == "update":
            old_new.append((a_record(f"n{i}", 1, 2, 3, 4), record))
            continue
        target = create if action == "create" else delete
        target.append(record)
        if draw(st.booleans()):
            target.append(owned(record))
    return Changes(
        create=tuple(create),
        delete=tuple(delete),
        update_old=tuple(old for old, _ in old_new),
        update_new=tuple(new for _, new in old_new),
    )


@settings(max_examples=60, deadline=None)
@given(plans())
def test_batches_respect_the_limits_and_never_split_a_name(changes: Changes) -> None:
    batches = plan_batches(changes, max_values=12, max_characters=400)
    for batch in batches:
        values, characters = values_and_characters(batch.request)
        assert values <= 12
        assert characters <= 400
        assert change_cost(batch.request) == (values, characters)
    for i, batch in enumerate(batches):
        for other in batches[i + 1 :]:
            assert not names_of(batch.request) & names_of(other.request)
    # Every change is carried exactly once.
    assert sorted(r for b in batches for r in b.changes.create) == sorted(changes.create)
    assert sorted(r for b in batches for r in b.changes.delete) == sorted(changes.delete)
    assert sorted(p for b in batches for p in b.changes.updates) == sorted(changes.updates)
    # Packing is greedy: two neighbouring batches could not have been one.
    for first, second in itertools.pairwise(batches):
        v1, c1 = values_and_characters(first.request)
        v2, c2 = values_and_characters(second.request)
        assert v1 + v2 > 12 or c1 + c2 > 400


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        pytest.param("plain", '"plain"', id="plain"),
        pytest.param("", '""', id="empty"),
        pytest.param('say "hi" \\o/', '"say \\"hi\\" \\\\o/"', id="quotes-and-backslash"),
        pytest.param("café", '"caf\\303\\251"', id="utf-8-as-octal"),
        pytest.param("a" * 300, f'"{"a" * 255}" "{"a" * 45}"', id="split-at-255"),
    ],
)
def test_txt_values_are_quoted_escaped_split_and_read_back(text: str, rendered: str) -> None:
    assert render_txt(text, radix=8) == rendered
    assert parse_txt(rendered, radix=8) == text


@pytest.mark.parametrize(
    ("listed", "text"),
    [
        pytest.param('"v=spf1 -all"', "v=spf1 -all", id="one-string"),
        pytest.param('"abc" "def"', "abcdef", id="strings-joined"),
        pytest.param("unquoted", "unquoted", id="unquoted"),
        pytest.param('"tab\\011here"', "tab\there", id="octal-escape"),
        pytest.param('"\\q"', "q", id="escaped-ordinary-character"),
    ],
)
def test_txt_values_as_route53_lists_them(listed: str, text: str) -> None:
    assert parse_txt(listed, radix=8) == text


@pytest.mark.parametrize(
    ("listed", "name"),
    [
        pytest.param("\\052.example.com.", "*.example.com.", id="wildcard"),
        pytest.param("WWW.Example.COM", "www.example.com.", id="case-and-trailing-dot"),
        pytest.param("a\\100b.example.com.", "a@b.example.com.", id="at-sign"),
        pytest.param("_fedop-a.x.example.com.", "_fedop-a.x.example.com.", id="underscore-unescaped"),
    ],
)
def test_escaped_names_are_unescaped(listed: str, name: str) -> None:
    assert parse_route53_name(listed) == name
