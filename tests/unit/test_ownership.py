"""Ownership records: their names, their values, and who a zone's ownership records say owns what."""

from __future__ import annotations

import pytest

from federation_operator.domain.ownership import (
    OwnerTag,
    is_ownership_name,
    ownership_name,
    parse_ownership_name,
    parse_ownership_value,
    read_owner,
    read_owners,
    render_ownership_record,
    render_ownership_records,
    render_ownership_value,
)
from federation_operator.domain.records import RECORD_TYPES, RecordSet

GLOBAL = "nginx.mynamespace.myfederation.svc.example.com."
OURS = "heritage=federation-operator,federation=myfederation,owner=mynamespace/nginx"


@pytest.mark.parametrize(
    ("name", "rtype", "expected"),
    [
        pytest.param(GLOBAL, "A", f"_fedop-a.{GLOBAL}", id="a"),
        pytest.param(GLOBAL, "AAAA", f"_fedop-aaaa.{GLOBAL}", id="aaaa"),
        pytest.param("Nginx.Acme.com", "CNAME", "_fedop-cname.nginx.acme.com.", id="cname-normalized"),
        pytest.param("x.example.com.", "TXT", "_fedop-txt.x.example.com.", id="txt"),
    ],
)
def test_ownership_name_round_trip(name: str, rtype: str, expected: str) -> None:
    assert ownership_name(name, rtype) == expected  # type: ignore[arg-type]
    assert parse_ownership_name(expected) == (expected.partition(".")[2], rtype)
    assert is_ownership_name(expected)


@pytest.mark.parametrize(
    "name",
    [GLOBAL, "_fedop-mx.x.example.com.", "_fedop-a.", "fedop-a.x.example.com.", "_dmarc.example.com."],
)
def test_other_names_are_not_ownership_names(name: str) -> None:
    assert parse_ownership_name(name) is None
    assert not is_ownership_name(name)


def test_ownership_names_never_collide_with_published_names() -> None:
    """Published names are RFC 1123 (no underscore), and the ownership label always starts with one."""
    for rtype in RECORD_TYPES:
        assert ownership_name(GLOBAL, rtype).startswith("_")


def test_value_round_trip() -> None:
    value = render_ownership_value(federation="myfederation", owner="mynamespace/nginx")
    assert value == OURS
    assert parse_ownership_value(value) == OwnerTag(federation="myfederation", owner="mynamespace/nginx")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("v=spf1 -all", id="free-text"),
        pytest.param("heritage=external-dns,external-dns/owner=default", id="external-dns"),
        pytest.param("heritage=federation-operator,federation=f", id="no-owner"),
        pytest.param("heritage=federation-operator,owner=a/b,owner=c/d,federation=f", id="duplicate-key"),
    ],
)
def test_values_that_name_no_owner(value: str) -> None:
    assert parse_ownership_value(value) is None


def test_unknown_keys_are_ignored_for_forward_compatibility() -> None:
    value = "heritage=federation-operator,federation=f,owner=ns/n,version=2"
    assert parse_ownership_value(value) == OwnerTag(federation="f", owner="ns/n")


@pytest.mark.parametrize(
    ("federation", "owner"),
    [("f", "no-slash"), ("f", "a/b/c"), ("f", "/b"), ("f", "a,b/c"), ("f=g", "a/b"), ("", "a/b")],
)
def test_unrepresentable_owners_are_rejected(federation: str, owner: str) -> None:
    with pytest.raises(ValueError, match=r"ownership record|namespace"):
        render_ownership_value(federation=federation, owner=owner)


def test_render_ownership_records_adds_one_txt_per_record_set() -> None:
    a = RecordSet(GLOBAL, "A", 180, ("1.2.3.4",))
    aaaa = RecordSet(GLOBAL, "AAAA", 180, ("2001:db8::1",))
    stale_tag = RecordSet(f"_fedop-a.{GLOBAL}", "TXT", 1, ("old",))
    rendered = render_ownership_records(
        [a, aaaa, stale_tag], federation="myfederation", owner="mynamespace/nginx"
    )
    assert set(rendered) == {
        a,
        aaaa,
        RecordSet(f"_fedop-a.{GLOBAL}", "TXT", 300, (OURS,)),
        RecordSet(f"_fedop-aaaa.{GLOBAL}", "TXT", 300, (OURS,)),
    }
    assert render_ownership_record(a, federation="myfederation", owner="mynamespace/nginx") in rendered


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        pytest.param([RecordSet("_fedop-a.x.", "TXT", 300, (OURS,))], "ours", id="lone-txt"),
        pytest.param([RecordSet("_fedop-a.x.", "TXT", 300, (OURS, "extra"))], None, id="extra-value"),
        pytest.param([RecordSet("_fedop-a.x.", "TXT", 300, ("hello",))], None, id="free-text"),
        pytest.param([RecordSet("_fedop-a.x.", "CNAME", 300, ("y.",))], None, id="cname"),
        pytest.param(
            [RecordSet("_fedop-a.x.", "TXT", 300, (OURS,)), RecordSet("_fedop-a.x.", "A", 300, ("1.1.1.1",))],
            None,
            id="txt-beside-other-data",
        ),
    ],
)
def test_read_owner(found: list[RecordSet], expected: str | None) -> None:
    owner = read_owner(found)
    assert (owner and "ours") == expected


def test_read_owners_maps_every_ownership_name() -> None:
    zone = [
        RecordSet(GLOBAL, "A", 180, ("1.2.3.4",)),
        RecordSet(f"_fedop-a.{GLOBAL}", "TXT", 300, (OURS,)),
        RecordSet("_fedop-cname.www.example.com.", "TXT", 300, ("not ours",)),
    ]
    assert read_owners(zone) == {
        (GLOBAL, "A"): OwnerTag(federation="myfederation", owner="mynamespace/nginx"),
        ("www.example.com.", "CNAME"): None,
    }
