"""Tests for the fake Cloud DNS v1 API in clouddns.py, driven through the real google-cloud-dns client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from google.api_core import exceptions, page_iterator
from google.auth.credentials import AnonymousCredentials
from google.cloud import dns
from google.cloud.dns.changes import Changes
from google.cloud.dns.resource_record_set import ResourceRecordSet
from google.cloud.dns.zone import ManagedZone

from .clouddns import ApiError, FakeCloudDns

PROJECT = "federation-test"
ZONE = "example-com"
DNS_NAME = "example.com."
PAGE_SIZE = 4  # small, so a handful of records already spans several pages

# The shared Cloud DNS fake (tests/dns_fixtures.py) with small pages and no managed zone to start with: the
# tests here create theirs through the API.
pytestmark = pytest.mark.clouddns_fake(zones=(), default_page_size=PAGE_SIZE)

State = dict[tuple[str, str], tuple[int, list[str]]]


@pytest.fixture
def zone(clouddns: dns.Client, fake: FakeCloudDns) -> ManagedZone:
    zone = clouddns.zone(ZONE, DNS_NAME)
    zone.create()
    fake.reset_counters()
    return zone


def record(zone: ManagedZone, name: str, rtype: str, ttl: int, *rrdatas: str) -> ResourceRecordSet:
    return zone.resource_record_set(name, rtype, ttl, list(rrdatas))


def submit(
    zone: ManagedZone,
    additions: Sequence[ResourceRecordSet] = (),
    deletions: Sequence[ResourceRecordSet] = (),
) -> Changes:
    change = zone.changes()
    for rrset in additions:
        change.add_record_set(rrset)
    for rrset in deletions:
        change.delete_record_set(rrset)
    change.create()
    return change


def seed(fake: FakeCloudDns, *rrsets: tuple[str, str, int, list[str]]) -> None:
    """Put records in place without HTTP, so counters only see what the test itself does."""
    additions = [
        {"name": name, "type": rtype, "ttl": ttl, "rrdatas": rrdatas} for name, rtype, ttl, rrdatas in rrsets
    ]
    fake.apply_change(PROJECT, ZONE, additions=additions)


def state(fake: FakeCloudDns) -> State:
    return {(r["name"], r["type"]): (r["ttl"], sorted(r["rrdatas"])) for r in fake.rrsets(PROJECT, ZONE)}


def reason_of(error: exceptions.GoogleAPICallError) -> str:
    return str(error.errors[0]["reason"])


def list_raw(client: dns.Client, path: str, items_key: str, **params: Any) -> list[dict[str, Any]]:
    """List through the client's own connection, with query parameters its helpers do not expose."""
    iterator = page_iterator.HTTPIterator(
        client=client,
        api_request=client._connection.api_request,
        path=path,
        item_to_value=lambda _iterator, item: item,
        items_key=items_key,
        extra_params=params,
    )
    return list(iterator)


def test_creating_a_zone_adds_apex_soa_and_ns(clouddns: dns.Client, fake: FakeCloudDns) -> None:
    zone = clouddns.zone(ZONE, DNS_NAME, description="federation test zone")
    zone.create()

    assert zone.zone_id
    assert zone.created is not None
    assert zone.name_servers == list(fake.name_servers)
    records = {(r.name, r.record_type): r for r in zone.list_resource_record_sets()}
    assert set(records) == {(DNS_NAME, "SOA"), (DNS_NAME, "NS")}
    assert records[(DNS_NAME, "NS")].rrdatas == list(fake.name_servers)
    assert records[(DNS_NAME, "SOA")].rrdatas[0].startswith(fake.name_servers[0])
    assert zone.exists()
    assert [change.name for change in zone.list_changes()] == ["0"]
    assert fake.calls == {
        "managedZones.create": 1,
        "resourceRecordSets.list": 1,
        "managedZones.get": 1,
        "changes.list": 1,
    }

    with pytest.raises(exceptions.Conflict) as caught:
        clouddns.zone(ZONE, DNS_NAME).create()
    assert reason_of(caught.value) == "alreadyExists"


def test_listing_rrsets_follows_next_page_token(zone: ManagedZone, fake: FakeCloudDns) -> None:
    names = [f"host{i:02d}.{DNS_NAME}" for i in range(10)]
    submit(zone, additions=[record(zone, name, "A", 300, "192.0.2.1") for name in names])
    fake.reset_counters()

    listed = [(r.name, r.record_type) for r in zone.list_resource_record_sets()]

    assert listed == [(DNS_NAME, "NS"), (DNS_NAME, "SOA")] + [(name, "A") for name in names]
    assert fake.calls["resourceRecordSets.list"] == 3  # 12 record sets, 4 per page
    assert "pageToken" not in fake.requests[0].query
    assert all("pageToken" in request.query for request in fake.requests[1:])


def test_max_results_caps_one_page(zone: ManagedZone, fake: FakeCloudDns) -> None:
    seed(fake, *[(f"host{i}.{DNS_NAME}", "A", 300, ["192.0.2.1"]) for i in range(6)])

    listed = list(zone.list_resource_record_sets(max_results=5))

    assert len(listed) == 5
    assert fake.calls["resourceRecordSets.list"] == 1
    assert fake.requests[0].query["maxResults"] == "5"


def test_listing_rrsets_filters_by_name_and_type(
    clouddns: dns.Client, zone: ManagedZone, fake: FakeCloudDns
) -> None:
    name = f"www.{DNS_NAME}"
    seed(
        fake,
        (name, "A", 300, ["192.0.2.1"]),
        (name, "TXT", 300, ['"owner=a"']),
        (f"api.{DNS_NAME}", "A", 60, ["192.0.2.2"]),
    )
    path = f"{zone.path}/rrsets"

    assert [(r["name"], r["type"]) for r in list_raw(clouddns, path, "rrsets", name=name, type="A")] == [
        (name, "A")
    ]
    assert {r["type"] for r in list_raw(clouddns, path, "rrsets", name=name)} == {"A", "TXT"}
    with pytest.raises(exceptions.BadRequest) as caught:
        list_raw(clouddns, path, "rrsets", type="A")  # a type filter needs a name
    assert reason_of(caught.value) == "invalid"


def test_change_adds_records_atomically(zone: ManagedZone, fake: FakeCloudDns) -> None:
    change = submit(
        zone,
        additions=[
            record(zone, f"www.{DNS_NAME}", "A", 300, "192.0.2.1", "192.0.2.2"),
            record(zone, f"api.{DNS_NAME}", "A", 60, "192.0.2.3"),
        ],
    )

    assert change.name == "1"
    assert change.status == "done"
    assert change.started is not None
    assert [(r.name, r.record_type, r.ttl) for r in change.additions] == [
        (f"www.{DNS_NAME}", "A", 300),
        (f"api.{DNS_NAME}", "A", 60),
    ]
    assert state(fake)[(f"www.{DNS_NAME}", "A")] == (300, ["192.0.2.1", "192.0.2.2"])
    assert state(fake)[(f"api.{DNS_NAME}", "A")] == (60, ["192.0.2.3"])
    assert fake.changes_applied == 1
    change.reload()
    assert change.status == "done"
    assert [c.name for c in zone.list_changes()] == ["0", "1"]
    assert fake.calls == {"changes.create": 1, "changes.get": 1, "changes.list": 1}


def test_change_swaps_a_for_cname_in_one_step(zone: ManagedZone, fake: FakeCloudDns) -> None:
    name = f"www.{DNS_NAME}"
    seed(fake, (name, "A", 300, ["192.0.2.1", "192.0.2.2"]))

    # The deletion lists rrdatas in another order: the API compares them as a set.
    submit(
        zone,
        deletions=[record(zone, name, "A", 300, "192.0.2.2", "192.0.2.1")],
        additions=[record(zone, name, "CNAME", 300, f"lb.{DNS_NAME}")],
    )

    at_name = {rtype: data for (owner, rtype), data in state(fake).items() if owner == name}
    assert at_name == {"CNAME": (300, [f"lb.{DNS_NAME}"])}
    assert fake.changes_applied == 1


@pytest.mark.parametrize(
    ("ttl", "rrdatas"),
    [
        pytest.param(60, ["192.0.2.1"], id="stale-ttl"),
        pytest.param(300, ["192.0.2.9"], id="stale-rrdatas"),
        pytest.param(300, ["192.0.2.1", "192.0.2.2"], id="extra-rrdata"),
    ],
)
def test_stale_deletion_fails_with_condition_not_met_and_applies_nothing(
    zone: ManagedZone, fake: FakeCloudDns, ttl: int, rrdatas: list[str]
) -> None:
    name = f"www.{DNS_NAME}"
    seed(fake, (name, "A", 300, ["192.0.2.1"]))
    before = state(fake)

    with pytest.raises(exceptions.PreconditionFailed) as caught:
        submit(
            zone,
            additions=[record(zone, f"new.{DNS_NAME}", "A", 300, "192.0.2.7")],
            deletions=[record(zone, name, "A", ttl, *rrdatas)],
        )

    assert caught.value.code == 412
    assert reason_of(caught.value) == "conditionNotMet"
    assert "entity.change.deletions[0]" in caught.value.message
    assert state(fake) == before  # the valid addition in the same change was not applied either
    assert fake.changes_applied == 0
    assert [c.name for c in zone.list_changes()] == ["0", "1"]


def test_deleting_a_missing_rrset_is_not_found(zone: ManagedZone, fake: FakeCloudDns) -> None:
    with pytest.raises(exceptions.NotFound) as caught:
        submit(zone, deletions=[record(zone, f"ghost.{DNS_NAME}", "A", 300, "192.0.2.1")])

    assert reason_of(caught.value) == "notFound"
    assert fake.changes_applied == 0


def test_adding_an_existing_rrset_fails_with_already_exists(zone: ManagedZone, fake: FakeCloudDns) -> None:
    name = f"www.{DNS_NAME}"
    seed(fake, (name, "A", 300, ["192.0.2.1"]))
    before = state(fake)

    with pytest.raises(exceptions.Conflict) as caught:
        submit(
            zone,
            additions=[
                record(zone, f"other.{DNS_NAME}", "A", 300, "192.0.2.5"),
                record(zone, name, "A", 60, "192.0.2.2"),
            ],
        )

    assert caught.value.code == 409
    assert reason_of(caught.value) == "alreadyExists"
    assert "entity.change.additions[1]" in caught.value.message
    assert state(fake) == before


@pytest.mark.parametrize(
    ("existing", "additions"),
    [
        pytest.param([("www", "A", "192.0.2.1")], [("www", "CNAME", "lb.example.com.")], id="cname-over-a"),
        pytest.param(
            [("www", "CNAME", "lb.example.com.")], [("www", "TXT", '"owner=a"')], id="txt-beside-cname"
        ),
        pytest.param(
            [], [("www", "A", "192.0.2.1"), ("www", "CNAME", "lb.example.com.")], id="both-in-one-change"
        ),
        pytest.param([], [("@", "CNAME", "lb.example.com.")], id="cname-at-apex"),
    ],
)
def test_cname_must_be_alone_at_its_name(
    zone: ManagedZone,
    fake: FakeCloudDns,
    existing: list[tuple[str, str, str]],
    additions: list[tuple[str, str, str]],
) -> None:
    def fqdn(label: str) -> str:
        return DNS_NAME if label == "@" else f"{label}.{DNS_NAME}"

    if existing:
        seed(fake, *[(fqdn(label), rtype, 300, [data]) for label, rtype, data in existing])
    before = state(fake)

    with pytest.raises(exceptions.BadRequest) as caught:
        submit(
            zone, additions=[record(zone, fqdn(label), rtype, 300, data) for label, rtype, data in additions]
        )

    assert reason_of(caught.value) == "cnameResourceRecordSetConflict"
    assert state(fake) == before


@pytest.mark.parametrize(
    ("rrset", "reason", "field"),
    [
        pytest.param(
            ("www.example.com", "A", 300, ["192.0.2.1"]), "invalid", ".name", id="not-fully-qualified"
        ),
        pytest.param(("www.example.org.", "A", 300, ["192.0.2.1"]), "invalid", ".name", id="outside-zone"),
        pytest.param(
            ("www.notexample.com.", "A", 300, ["192.0.2.1"]), "invalid", ".name", id="suffix-not-zone"
        ),
        pytest.param(("www.example.com.", "BOGUS", 300, ["x"]), "invalid", ".type", id="unknown-type"),
        pytest.param(("www.example.com.", "A", -1, ["192.0.2.1"]), "invalid", ".ttl", id="negative-ttl"),
        pytest.param(("www.example.com.", "A", 300, []), "invalid", ".rrdata", id="no-rrdatas"),
        pytest.param(
            ("www.example.com.", "A", 300, ["2001:db8::1"]), "invalid", ".rrdata[0]", id="a-not-ipv4"
        ),
        pytest.param(
            ("www.example.com.", "CNAME", 300, ["a.example.net.", "b.example.net."]),
            "invalidRecordCount",
            "",
            id="cname-two-records",
        ),
    ],
)
def test_invalid_record_sets_are_rejected(
    zone: ManagedZone, fake: FakeCloudDns, rrset: tuple[str, str, int, list[str]], reason: str, field: str
) -> None:
    name, rtype, ttl, rrdatas = rrset
    before = state(fake)

    with pytest.raises(exceptions.BadRequest) as caught:
        submit(zone, additions=[record(zone, name, rtype, ttl, *rrdatas)])

    assert reason_of(caught.value) == reason
    assert f"'entity.change.additions[0]{field}'" in caught.value.message
    assert state(fake) == before


def test_the_same_rrset_twice_in_additions_is_invalid(zone: ManagedZone, fake: FakeCloudDns) -> None:
    name = f"www.{DNS_NAME}"

    with pytest.raises(exceptions.BadRequest) as caught:
        submit(
            zone,
            additions=[record(zone, name, "A", 300, "192.0.2.1"), record(zone, name, "A", 60, "192.0.2.2")],
        )

    assert reason_of(caught.value) == "invalid"
    assert "entity.change.additions[1]" in caught.value.message
    assert (name, "A") not in state(fake)


def test_apex_ns_cannot_be_deleted(zone: ManagedZone, fake: FakeCloudDns) -> None:
    ns = next(r for r in zone.list_resource_record_sets() if r.record_type == "NS")

    with pytest.raises(exceptions.BadRequest) as caught:
        submit(zone, deletions=[ns])

    assert reason_of(caught.value) == "invalidZoneApex"
    assert (DNS_NAME, "NS") in state(fake)


@pytest.mark.parametrize(
    ("status", "error_type", "reason"),
    [
        (429, exceptions.TooManyRequests, "rateLimitExceeded"),
        (500, exceptions.InternalServerError, "internalError"),
        (503, exceptions.ServiceUnavailable, "backendError"),
    ],
)
def test_injected_fault_is_served_once_then_requests_succeed(
    zone: ManagedZone,
    fake: FakeCloudDns,
    status: int,
    error_type: type[exceptions.GoogleAPICallError],
    reason: str,
) -> None:
    fake.fail_next(status=status)
    addition = record(zone, f"www.{DNS_NAME}", "A", 300, "192.0.2.1")

    with pytest.raises(error_type) as caught:
        submit(zone, additions=[addition])
    assert caught.value.code == status
    assert reason_of(caught.value) == reason
    assert (f"www.{DNS_NAME}", "A") not in state(fake)  # a faulted request changes nothing

    submit(zone, additions=[addition])  # the retry goes through

    assert (f"www.{DNS_NAME}", "A") in state(fake)
    assert fake.calls["changes.create"] == 2
    assert fake.faults_served == 1
    assert fake.changes_applied == 1
    assert fake.pending_faults == 0


def test_fault_can_target_one_route_and_carry_retry_after(zone: ManagedZone, fake: FakeCloudDns) -> None:
    fake.fail_next(status=429, route="changes.create", retry_after=7)

    assert len(list(zone.list_resource_record_sets())) == 2  # other routes are untouched
    with pytest.raises(exceptions.TooManyRequests) as caught:
        submit(zone, additions=[record(zone, f"www.{DNS_NAME}", "A", 300, "192.0.2.1")])

    assert caught.value.response.headers["Retry-After"] == "7"
    assert fake.pending_faults == 0


def test_deleting_a_zone_requires_it_to_be_empty(zone: ManagedZone, fake: FakeCloudDns) -> None:
    www = record(zone, f"www.{DNS_NAME}", "A", 300, "192.0.2.1")
    submit(zone, additions=[www])

    with pytest.raises(exceptions.BadRequest) as caught:
        zone.delete()
    assert reason_of(caught.value) == "containerNotEmpty"
    assert zone.exists()

    submit(zone, deletions=[www])
    zone.delete()  # only the apex SOA and NS are left, which go with the zone

    assert not zone.exists()
    assert fake.zones(PROJECT) == []


def test_unknown_project_and_zone_are_not_found(clouddns: dns.Client, fake: FakeCloudDns) -> None:
    missing = clouddns.zone("missing-zone", DNS_NAME)
    assert not missing.exists()
    with pytest.raises(exceptions.NotFound) as caught:
        submit(missing, additions=[record(missing, f"www.{DNS_NAME}", "A", 300, "192.0.2.1")])
    assert reason_of(caught.value) == "notFound"

    stranger = dns.Client(
        project="no-such-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
    )
    try:
        with pytest.raises(exceptions.NotFound):
            list(stranger.list_zones())
    finally:
        stranger._http.close()


def test_listing_zones_pages_and_filters_by_dns_name(clouddns: dns.Client, fake: FakeCloudDns) -> None:
    for index in range(6):
        fake.seed_zone(PROJECT, f"zone-{index}", f"z{index}.example.com.")

    assert [z.name for z in clouddns.list_zones()] == [f"zone-{index}" for index in range(6)]
    assert fake.calls["managedZones.list"] == 2  # 6 zones, 4 per page
    filtered = list_raw(
        clouddns, f"/projects/{PROJECT}/managedZones", "managedZones", dnsName="z3.example.com."
    )
    assert [z["name"] for z in filtered] == ["zone-3"]
    assert filtered[0]["kind"] == "dns#managedZone"


def test_changes_list_supports_descending_order(
    clouddns: dns.Client, zone: ManagedZone, fake: FakeCloudDns
) -> None:
    for index in range(5):
        seed(fake, (f"h{index}.{DNS_NAME}", "A", 300, ["192.0.2.1"]))

    changes = list_raw(clouddns, f"{zone.path}/changes", "changes", sortOrder="descending")

    assert [c["id"] for c in changes] == ["5", "4", "3", "2", "1", "0"]
    assert all(c["kind"] == "dns#change" and c["status"] == "done" for c in changes)


def test_soa_serial_bump_is_opt_in() -> None:
    def serial_after_one_change(fake: FakeCloudDns) -> str:
        fake.seed_zone(PROJECT, ZONE, DNS_NAME)
        seed(fake, (f"www.{DNS_NAME}", "A", 300, ["192.0.2.1"]))
        soa = next(r for r in fake.rrsets(PROJECT, ZONE) if r["type"] == "SOA")
        return soa["rrdatas"][0].split()[2]

    assert serial_after_one_change(FakeCloudDns(projects=[PROJECT])) == "1"
    assert serial_after_one_change(FakeCloudDns(projects=[PROJECT], bump_soa_serial=True)) == "2"


# --- project quotas (projects.get) and the two record quotas changes are held to --------------------------


def test_project_quotas_are_served_with_the_real_defaults(clouddns: dns.Client, fake: FakeCloudDns) -> None:
    project = clouddns._connection.api_request(method="GET", path=f"/projects/{PROJECT}")
    assert project["kind"] == "dns#project"
    assert project["quota"]["resourceRecordsPerRrset"] == 100
    assert project["quota"]["rrsetsPerManagedZone"] == 10_000
    assert fake.calls["projects.get"] == 1
    with pytest.raises(exceptions.NotFound):
        clouddns._connection.api_request(method="GET", path="/projects/no-such-project")


def test_more_records_in_one_set_than_the_quota_are_refused(zone: ManagedZone, fake: FakeCloudDns) -> None:
    addresses = [f"10.0.0.{i}" for i in range(1, 102)]
    with pytest.raises(exceptions.Forbidden) as caught:
        submit(zone, [record(zone, f"big.{DNS_NAME}", "A", 60, *addresses)])
    assert reason_of(caught.value) == "quotaExceeded"
    assert "resourceRecordsPerRrset" in str(caught.value)
    assert (f"big.{DNS_NAME}", "A") not in state(fake)
    submit(zone, [record(zone, f"big.{DNS_NAME}", "A", 60, *addresses[:100])])  # exactly the quota: fine
    assert len(state(fake)[(f"big.{DNS_NAME}", "A")][1]) == 100


def test_a_zone_at_its_record_set_quota_refuses_growth_but_not_a_replacement() -> None:
    with FakeCloudDns(projects=[PROJECT], rrsets_per_managed_zone=4) as small:
        small.seed_zone(PROJECT, ZONE, DNS_NAME)  # SOA and NS: 2 record sets
        seed(small, (f"a.{DNS_NAME}", "A", 60, ["10.0.0.1"]), (f"b.{DNS_NAME}", "A", 60, ["10.0.0.2"]))
        with pytest.raises(ApiError, match="403 quotaExceeded"):
            seed(small, (f"c.{DNS_NAME}", "A", 60, ["10.0.0.3"]))
        assert len(small.rrsets(PROJECT, ZONE)) == 4  # nothing of the refused change applied
        # A replacement (deletion and addition in one change) does not grow the zone: accepted.
        small.apply_change(
            PROJECT,
            ZONE,
            deletions=[{"name": f"a.{DNS_NAME}", "type": "A", "ttl": 60, "rrdatas": ["10.0.0.1"]}],
            additions=[{"name": f"c.{DNS_NAME}", "type": "A", "ttl": 60, "rrdatas": ["10.0.0.3"]}],
        )
        assert (f"c.{DNS_NAME}", "A") in state(small)
