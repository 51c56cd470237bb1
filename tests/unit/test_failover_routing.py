"""Failover decided by the managed DNS service (``spec.dns.policy`` type ``failover`` with ``healthCheck``):
the ``FAILOVER`` record set's values (``<set identifier> <PRIMARY|SECONDARY> <address>``) and their rules."""

from __future__ import annotations

import pytest

from federation_operator.domain.records import (
    FAILOVER,
    FAILOVER_ROLES,
    RecordSet,
    ServiceNames,
    failover_set_identifier,
    failover_value,
    other_types_marker,
    split_failover_values,
)

NAMES = ServiceNames(service="nginx", namespace="ns", federation="fed", domain="example.com")


# --- the FAILOVER record set --------------------------------------------------------------------------------


def test_failover_values_are_normalized_and_read_back_per_set() -> None:
    primary = failover_set_identifier(NAMES.global_name, "PRIMARY", ["127.0.0.2", "127.0.0.1"])
    standby = failover_set_identifier(NAMES.global_name, "SECONDARY", ["127.0.0.3"])
    record = RecordSet(
        NAMES.global_name,
        FAILOVER,
        60,
        (
            failover_value(standby, "SECONDARY", "127.0.0.3"),
            failover_value(primary, "PRIMARY", " 127.0.0.2"),
            failover_value(primary, "PRIMARY", "127.0.0.1"),
        ),
    )
    assert record.values == tuple(
        sorted(
            (
                f"{primary} PRIMARY 127.0.0.1",
                f"{primary} PRIMARY 127.0.0.2",
                f"{standby} SECONDARY 127.0.0.3",
            )
        )
    )
    assert split_failover_values(record.values) == {
        primary: ("PRIMARY", ("127.0.0.1", "127.0.0.2")),
        standby: ("SECONDARY", ("127.0.0.3",)),
    }
    assert FAILOVER_ROLES == ("PRIMARY", "SECONDARY")


def test_failover_set_identifiers_are_ours_and_follow_the_role_and_the_addresses() -> None:
    primary = failover_set_identifier(NAMES.global_name, "PRIMARY", ["127.0.0.1"])
    assert primary.startswith("fedop-failover-")
    # The same share planned again keeps its identifier: a second round sends nothing.
    assert failover_set_identifier(NAMES.global_name.upper(), "PRIMARY", [" 127.0.0.1"]) == primary
    # A share changing role or addresses is a new set (the old deleted, the new created in one change).
    assert failover_set_identifier(NAMES.global_name, "SECONDARY", ["127.0.0.1"]) != primary
    assert failover_set_identifier(NAMES.global_name, "PRIMARY", ["127.0.0.2"]) != primary
    assert failover_set_identifier("other.example.com.", "PRIMARY", ["127.0.0.1"]) != primary


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (("fedop-failover-a ACTIVE 127.0.0.1",), "a failover value is"),
        (("fedop-failover-a PRIMARY",), "a failover value is"),
        (("fedop-failover-a primary 127.0.0.1",), "a failover value is"),
        (("fedop-failover-a PRIMARY 127.0.0.1", "fedop-failover-a SECONDARY 127.0.0.2"), "two roles"),
        # Route 53 takes one PRIMARY and one SECONDARY per name and type.
        (("fedop-failover-a PRIMARY 127.0.0.1", "fedop-failover-b PRIMARY 127.0.0.2"), "one failover"),
        (("fedop-failover-a SECONDARY 127.0.0.1", "fedop-failover-b SECONDARY 127.0.0.2"), "one failover"),
    ],
)
def test_failover_values_of_another_shape_or_two_sets_of_one_role_are_refused(
    values: tuple[str, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        RecordSet(NAMES.global_name, FAILOVER, 60, values)


def test_a_failover_address_must_be_ipv4() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (ipaddress's own message)
        RecordSet(NAMES.global_name, FAILOVER, 60, ("fedop-failover-a PRIMARY ::1",))


def test_a_failover_group_is_no_other_data_at_its_name() -> None:
    assert other_types_marker(NAMES.global_name, ["FAILOVER"]) is None
