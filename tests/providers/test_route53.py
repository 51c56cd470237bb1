"""The Route 53 provider against moto's standalone server on 127.0.0.1: the seed article's rounds (first
round, an unchanged second round that sends nothing, an A → CNAME switch and back, deletion), foreign and
alias records, paging past 300 record sets, ChangeBatches split within Route 53's limits, the hosted zone
found by name, the factory builder; moto refusing a CREATE as Route 53 does (the fixtures patch its journal
check: ``dns_fixtures.check_creates_against_the_zone``).

Then, without moto, what moto does not do like Route 53: a Route 53-like fake client shows that a plan which
cannot apply whole sends nothing (moto applies a failing batch partly), that a zone changed between read and
write is refused and read again, and that health can flap back and forth; botocore's Stubber drives
retries, backoff and error mapping, and GetChange polled until INSYNC within its bound. A publisher round
where Route 53 refuses one owner and publishes the other."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
)
from botocore.stub import Stubber

from federation_operator.dns.route53 import (
    MAX_BATCH_CHARACTERS,
    MAX_BATCH_VALUES,
    Route53Provider,
    build_route53,
)
from federation_operator.dns.route53.provider import ROUTE53_MAX_VALUES_PER_SET
from federation_operator.dns.txt import render_txt
from federation_operator.domain.errors import PermanentError, StaleChangesError, TransientError
from federation_operator.domain.ownership import render_ownership_records
from federation_operator.domain.records import (
    Changes,
    ProviderLimits,
    RecordSet,
    ShardAddresses,
)
from federation_operator.planning.records import plan_tiers
from tests.dns_fixtures import Wire, create_zone, new_client

from . import (
    ASIA,
    EUROPE,
    FEDERATION,
    NAMESPACE,
    TOPOLOGY,
    US,
    global_name,
    plan_for,
    publish,
    seed_records,
    service_names,
    tier_name,
    unique_service,
)
from .publisher_round import publish_together

# Fake keys and nothing else in boto3's credential chain (tests/dns_fixtures.py), for every test here.
pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

ZONE = "example.com."


# --- helpers (moto's server, its client and `Wire`: tests/dns_fixtures.py) ----------------------------------


def write(client: Any, zone_id: str, action: str, name: str, rtype: str, *values: str, ttl: int = 60) -> None:
    """A change made behind the operator's back, straight through the API."""
    rrset = {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}
    client.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": rrset}]}
    )


def listed(client: Any, zone_id: str, name: str) -> list[dict[str, Any]]:
    """What the API lists at ``name`` (straight from the server, not through the provider)."""
    found = client.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name)["ResourceRecordSets"]
    return [rrset for rrset in found if rrset["Name"] == name]


def owned_records(desired: tuple[RecordSet, ...], svc: str) -> list[RecordSet]:
    return list(render_ownership_records(desired, federation=FEDERATION, owner=f"{NAMESPACE}/{svc}"))


def values_and_characters(batch: list[dict[str, Any]]) -> tuple[int, int]:
    values = [item["Value"] for change in batch for item in change["ResourceRecordSet"]["ResourceRecords"]]
    return len(values), sum(len(value) for value in values)


def names_in(batch: list[dict[str, Any]]) -> set[str]:
    names = {change["ResourceRecordSet"]["Name"] for change in batch}
    return {name.split(".", 1)[1] if name.startswith("_fedop-") else name for name in names}


# --- against moto -------------------------------------------------------------------------------------------


async def test_first_round_second_round_then_a_region_turns_cname(
    route53_provider: Route53Provider, wire: Wire, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    alias = f"{svc}.acme.example.com."
    desired = seed_records(svc, [ASIA, EUROPE, US], aliases=[alias])

    # First round: every tier and its ownership records, in one ChangeBatch; read back equal.
    assert await publish(route53_provider, desired, svc) == (1, ())
    assert wire.count("ChangeResourceRecordSets") == 1
    assert [r for r in await route53_provider.records() if svc in r.name] == owned_records(desired, svc)
    # On the wire, TXT values travel quoted, and the hosted zone was found by its name.
    assert route53_provider.hosted_zone_id == zone_id
    owner_txt = listed(route53, zone_id, f"_fedop-a.{global_name(svc)}")
    assert owner_txt[0]["ResourceRecords"] == [
        {"Value": f'"heritage=federation-operator,federation=myfederation,owner=mynamespace/{svc}"'}
    ]

    # Second round, same state: the read, and not one write.
    wire.reset()
    assert await publish(route53_provider, desired, svc) == (0, ())
    assert wire.operations == ["ListResourceRecordSets"]

    # Europe's backends lose readiness: its region's A becomes a CNAME to the global name, in one batch.
    failover = seed_records(svc, [ASIA, US], aliases=[alias])
    changes, conflicts = await plan_for(route53_provider, failover, svc)
    assert conflicts == ()
    region = tier_name(svc, "europe-west1")
    assert (region, "A") in {r.key for r in changes.delete}
    assert (region, "CNAME") in {r.key for r in changes.create}
    wire.reset()
    assert await route53_provider.apply(changes) == 1
    (batch,) = wire.batches
    assert [c["Action"] for c in batch if c["ResourceRecordSet"]["Name"] == region] == ["DELETE", "CREATE"]
    assert [r for r in await route53_provider.records() if svc in r.name] == owned_records(failover, svc)
    assert [rrset["Type"] for rrset in listed(route53, zone_id, region)] == ["CNAME"]
    assert await publish(route53_provider, failover, svc) == (0, ())


async def test_empty_plan_sends_nothing(route53_provider: Route53Provider, wire: Wire) -> None:
    assert await route53_provider.apply(Changes()) == 0
    assert wire.operations == []  # not even the hosted zone's lookup
    assert route53_provider.requests_sent == 0


async def test_deletion_removes_every_tier_and_ownership_record(
    route53_provider: Route53Provider, wire: Wire
) -> None:
    svc = unique_service()
    await publish(
        route53_provider, seed_records(svc, [ASIA, EUROPE, US], aliases=[f"{svc}.acme.example.com."]), svc
    )
    wire.reset()
    assert await publish(route53_provider, (), svc) == (1, ())
    assert wire.count("ChangeResourceRecordSets") == 1
    assert {c["Action"] for c in wire.batches[0]} == {"DELETE"}
    assert [r for r in await route53_provider.records() if svc in r.name] == []


async def test_foreign_and_alias_records_survive_and_are_reported(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    # Someone else's A at our global name, and an alias A at one of our region names.
    write(route53, zone_id, "CREATE", global_name(svc), "A", "192.0.2.1")
    region = tier_name(svc, "asia-east1")
    alias_target = {"HostedZoneId": zone_id, "DNSName": f"lb.{ZONE}", "EvaluateTargetHealth": False}
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {"Name": region, "Type": "A", "AliasTarget": alias_target},
                }
            ]
        },
    )
    # The alias is listed as a stand-in that occupies its name and type.
    assert RecordSet(region, "A", 0, ("0.0.0.0",)) in await route53_provider.records()

    desired = seed_records(svc, [ASIA, US])
    calls, conflicts = await publish(route53_provider, desired, svc)
    assert calls == 1
    assert [(c.name, c.type) for c in conflicts] == sorted([(global_name(svc), "A"), (region, "A")])
    assert all("without an ownership record" in c.reason for c in conflicts)
    assert await publish(route53_provider, desired, svc) == (0, conflicts)

    # A plan that touches the alias anyway is refused before anything is sent.
    with pytest.raises(PermanentError, match="alias or routing-policy"):
        await route53_provider.apply(Changes(delete=(RecordSet(region, "A", 0, ("0.0.0.0",)),)))

    # Deleting the FederatedService removes ours and leaves both foreign record sets as they were.
    await publish(route53_provider, (), svc)
    assert [r for r in await route53_provider.records() if svc in r.name] == sorted(
        [RecordSet(global_name(svc), "A", 60, ("192.0.2.1",)), RecordSet(region, "A", 0, ("0.0.0.0",))]
    )
    assert listed(route53, zone_id, global_name(svc))[0]["ResourceRecords"] == [{"Value": "192.0.2.1"}]
    assert listed(route53, zone_id, region)[0]["AliasTarget"]["DNSName"] == f"lb.{ZONE}"


async def test_reading_pages_past_300_record_sets(route53_provider: Route53Provider, wire: Wire) -> None:
    records = tuple(
        RecordSet(f"h{i}.paging.example.com.", "A", 60, (f"10.0.{i // 250}.{i % 250 + 1}",))
        for i in range(650)
    )
    # The zone's lookup, its read, one batch.
    assert await route53_provider.apply(Changes(create=records)) == 3
    wire.reset()
    held = await route53_provider.records()
    # 650 record sets and the apex SOA and NS: pages of 300, 300 and 52.
    assert wire.count("ListResourceRecordSets") == 3
    assert [r for r in held if r.name.endswith(".paging.example.com.")] == sorted(records)
    assert {r.type for r in held} <= {"A", "AAAA", "CNAME", "TXT"}  # the apex SOA and NS are not listed


async def test_a_large_plan_is_split_into_batches_within_the_limits(
    route53_provider: Route53Provider, wire: Wire
) -> None:
    svc = unique_service()
    # 400 names with two addresses each, and their ownership records: 1,200 values, ~42,000 characters.
    desired = tuple(
        RecordSet(f"h{i}.{svc}.example.com.", "A", 60, (f"10.{i // 250}.{i % 250}.1", "10.255.0.2"))
        for i in range(400)
    )
    changes, conflicts = await plan_for(route53_provider, desired, svc)
    assert conflicts == ()
    wire.reset()
    calls = await route53_provider.apply(changes)
    assert calls == len(wire.batches) == wire.count("ChangeResourceRecordSets") > 1
    for batch in wire.batches:
        values, characters = values_and_characters(batch)
        assert values <= MAX_BATCH_VALUES
        assert characters <= MAX_BATCH_CHARACTERS
    for i, batch in enumerate(wire.batches):
        for other in wire.batches[i + 1 :]:
            assert not names_in(batch) & names_in(other)  # a name and its ownership record travel together
    assert [r for r in await route53_provider.records() if svc in r.name] == owned_records(desired, svc)
    assert await publish(route53_provider, desired, svc) == (0, ())
    assert (await publish(route53_provider, (), svc))[0] > 1
    assert [r for r in await route53_provider.records() if svc in r.name] == []


async def test_many_values_split_on_the_value_limit(route53_provider: Route53Provider, wire: Wire) -> None:
    records = tuple(
        RecordSet(f"v{i}.example.com.", "A", 60, tuple(f"10.1.{i}.{j}" for j in range(1, 11)))
        for i in range(120)
    )
    await route53_provider.records()
    wire.reset()
    assert await route53_provider.apply(Changes(create=records)) == 2
    assert [values_and_characters(batch)[0] for batch in wire.batches] == [1000, 200]


async def test_long_and_odd_txt_values_round_trip(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    record = RecordSet(f"txt.{ZONE}", "TXT", 60, ("x" * 600, 'with "quotes" and \\ and café', "short"))
    await route53_provider.records()
    await route53_provider.apply(Changes(create=(record,)))
    assert record in await route53_provider.records()
    values = {item["Value"] for item in listed(route53, zone_id, f"txt.{ZONE}")[0]["ResourceRecords"]}
    assert render_txt("x" * 600, radix=8) in values
    await route53_provider.apply(Changes(delete=(record,)))
    assert record not in await route53_provider.records()


async def test_a_stale_delete_is_refused_before_sending(
    route53_provider: Route53Provider, wire: Wire, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    await publish(route53_provider, seed_records(svc, [ASIA]), svc)
    changes, _ = await plan_for(route53_provider, (), svc)  # delete everything, as planned now
    # Someone edits our global record behind our back; the provider's next read sees it.
    write(route53, zone_id, "UPSERT", global_name(svc), "A", "192.0.2.99", ttl=180)
    await route53_provider.records()
    wire.reset()
    with pytest.raises(StaleChangesError, match=r"cannot delete .*192\.0\.2\.99"):
        await route53_provider.apply(changes)
    assert wire.operations == []
    # moto would have deleted the edited record (it checks a DELETE against its journal, not the zone).
    assert listed(route53, zone_id, global_name(svc))[0]["ResourceRecords"] == [{"Value": "192.0.2.99"}]

    # A deletion with the wrong TTL is just as stale.
    wire.reset()
    wrong_ttl = RecordSet(global_name(svc), "A", 60, ("192.0.2.99",))
    with pytest.raises(StaleChangesError):
        await route53_provider.apply(Changes(delete=(wrong_ttl,)))
    assert wire.operations == []


async def test_creating_what_exists_is_stale(route53_provider: Route53Provider, wire: Wire) -> None:
    record = RecordSet(f"dup.{ZONE}", "A", 60, ("192.0.2.1",))
    await route53_provider.apply(Changes(create=(record,)))
    wire.reset()
    with pytest.raises(StaleChangesError, match="already holds"):
        await route53_provider.apply(Changes(create=(RecordSet(record.name, "A", 60, ("192.0.2.2",)),)))
    assert wire.operations == []  # moto would have stored a second A record set at the name


@pytest.mark.parametrize(
    ("foreign", "ours"),
    [
        pytest.param(("A", "192.0.2.1"), ("CNAME", "elsewhere.example.net."), id="cname-beside-a"),
        pytest.param(("CNAME", "elsewhere.example.net."), ("A", "192.0.2.1"), id="a-beside-cname"),
        pytest.param(("TXT", '"hello"'), ("CNAME", "elsewhere.example.net."), id="cname-beside-txt"),
        pytest.param(
            ("MX", "10 mail.example.net."), ("CNAME", "elsewhere.example.net."), id="cname-beside-mx"
        ),
    ],
)
async def test_a_cname_beside_other_data_is_refused_naming_the_name(
    route53_provider: Route53Provider,
    wire: Wire,
    route53: Any,
    zone_id: str,
    *,
    foreign: tuple[str, str],
    ours: tuple[str, str],
) -> None:
    name = f"www.{ZONE}"
    write(route53, zone_id, "CREATE", name, foreign[0], foreign[1])
    await route53_provider.records()
    wire.reset()
    with pytest.raises(PermanentError, match=rf"{name} would hold a CNAME beside"):
        await route53_provider.apply(Changes(create=(RecordSet(name, ours[0], 60, (ours[1],)),)))  # type: ignore[arg-type]
    assert wire.operations == []
    assert [rrset["Type"] for rrset in listed(route53, zone_id, name)] == [foreign[0]]


async def test_the_hosted_zone_is_found_by_name_public_only_and_unambiguous(
    route53: Any, zone_id: str, wire: Wire
) -> None:
    create_zone(route53, "internal.example.com", private=True)
    with pytest.raises(PermanentError, match=r"no public hosted zone named internal\.example\.com\."):
        await Route53Provider(route53, zone="internal.example.com").records()
    with pytest.raises(PermanentError, match=r"no public hosted zone named example\.org\."):
        await Route53Provider(route53, zone="example.org").records()

    second = create_zone(route53, "example.com")
    with pytest.raises(
        PermanentError, match=r"2 public hosted zones are named example\.com\..*hosted_zone_id"
    ):
        await Route53Provider(route53, zone="example.com").records()
    chosen = Route53Provider(route53, zone="example.com", hosted_zone_id=f"/hostedzone/{second}")
    wire.reset()
    await chosen.records()
    assert wire.operations == ["ListResourceRecordSets"]  # no lookup when the id is given
    assert chosen.hosted_zone_id == second


async def test_a_hosted_zone_that_does_not_exist_is_permanent(route53: Any, zone_id: str) -> None:
    provider = Route53Provider(route53, zone="example.com", hosted_zone_id="ZNOSUCHZONE")
    with pytest.raises(PermanentError, match="NoSuchHostedZone") as caught:
        await provider.records()
    assert isinstance(caught.value.__cause__, ClientError)


async def test_the_factory_builder_makes_a_working_provider(moto_url: str, zone_id: str) -> None:
    built = build_route53("example.com", {"endpoint_url": moto_url, "max_retries": "2", "timeout": "5"})
    assert built.zone == ZONE
    assert await built.records() == []
    assert built.hosted_zone_id == zone_id
    assert "testing" not in repr(built)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"bogus": "1"}, "unknown option bogus", id="unknown-option"),
        pytest.param({"max_retries": "many"}, "max_retries='many' is not a number", id="not-a-number"),
        pytest.param({"max_retries": "-1"}, "max_retries must be 0 or more", id="negative-retries"),
        pytest.param({"timeout": "0"}, "timeout must be positive", id="zero-timeout"),
    ],
)
def test_the_factory_builder_refuses_bad_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        build_route53("example.com", options)


async def test_a_region_switches_back_from_cname(route53_provider: Route53Provider) -> None:
    """A region's tier goes A → CNAME → A: the record sets it held before are created anew. (moto alone
    refuses that from its change journal; the tests' moto refuses a CREATE as Route 53 does:
    ``dns_fixtures.check_creates_against_the_zone``.)"""
    svc = unique_service()
    everywhere = seed_records(svc, [ASIA, EUROPE, US])
    await publish(route53_provider, everywhere, svc)
    await publish(route53_provider, seed_records(svc, [ASIA, US]), svc)
    calls, conflicts = await publish(route53_provider, everywhere, svc)
    assert calls >= 1
    assert conflicts == ()
    assert await publish(route53_provider, everywhere, svc) == (0, ()), "read back as planned"


def test_the_tests_moto_refuses_a_create_only_where_the_record_set_is(route53: Any, zone_id: str) -> None:
    """Route 53's rule, which the fixtures' moto follows: a CREATE fails where the zone holds that record set
    at that point of the batch (after the batch's own deletions), and nowhere else."""

    def change(action: str, value: str) -> dict[str, Any]:
        record = {"Name": "x.example.com.", "Type": "A", "TTL": 30, "ResourceRecords": [{"Value": value}]}
        return {"Action": action, "ResourceRecordSet": record}

    def apply(*changes: dict[str, Any]) -> None:
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)})

    apply(change("CREATE", "192.0.2.1"))
    with pytest.raises(ClientError, match="already exists"):
        apply(change("CREATE", "192.0.2.2"))
    apply(change("DELETE", "192.0.2.1"), change("CREATE", "192.0.2.2"))  # replaced in one batch
    apply(change("DELETE", "192.0.2.2"))
    apply(change("CREATE", "192.0.2.1"))  # created again, as it was once before
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [r["ResourceRecords"] for r in records if r["Name"] == "x.example.com."] == [
        [{"Value": "192.0.2.1"}]
    ]


# --- a Route 53-like fake client, for what moto does not do faithfully --------------------------------------


def invalid_change_batch(message: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "InvalidChangeBatch", "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(response, "ChangeResourceRecordSets")


class FakeRoute53:
    """One public hosted zone kept the way Route 53 documents it: a DELETE must match the record set exactly,
    a CREATE must find none, a CNAME shares its name with nothing, every record set of one name and type
    shares one routing policy (all plain, one of them, or all weighted with set identifiers), and a batch
    applies whole or not at all (its changes in order, checked as the batch leaves the zone).

    ``atomic=False`` applies a batch change by change up to the first failure, as moto does. ``calls`` lists
    every operation called; ``fail_next`` queues exceptions to raise instead of answering.
    """

    def __init__(self, *, atomic: bool = True) -> None:
        self.atomic = atomic
        self.rrsets: dict[tuple[str, str, str], dict[str, Any]] = {}  # (name, type, set identifier or "")
        self.calls: list[str] = []
        self._failures: list[Exception] = []

    def fail_next(self, *errors: Exception) -> None:
        self._failures.extend(errors)

    def _call(self, operation: str) -> None:
        self.calls.append(operation)
        if self._failures:
            raise self._failures.pop(0)

    def list_hosted_zones_by_name(self, **_: Any) -> dict[str, Any]:
        self._call("ListHostedZonesByName")
        zone = {
            "Id": "/hostedzone/ZFAKE",
            "Name": ZONE,
            "CallerReference": "x",
            "Config": {"PrivateZone": False},
        }
        return {"HostedZones": [zone], "IsTruncated": False}

    def list_resource_record_sets(self, **_: Any) -> dict[str, Any]:
        self._call("ListResourceRecordSets")
        return {
            "ResourceRecordSets": [copy.deepcopy(r) for _, r in sorted(self.rrsets.items())],
            "IsTruncated": False,
        }

    def change_resource_record_sets(
        self, *, HostedZoneId: str, ChangeBatch: dict[str, Any]
    ) -> dict[str, Any]:
        self._call("ChangeResourceRecordSets")
        work = dict(self.rrsets) if self.atomic else self.rrsets
        for change in ChangeBatch["Changes"]:
            rrset = copy.deepcopy(change["ResourceRecordSet"])
            key = (rrset["Name"], rrset["Type"], rrset.get("SetIdentifier", ""))
            where = f"[name='{key[0]}', type='{key[1]}', set-identifier='{key[2]}']"
            held = work.get(key)
            if change["Action"] == "DELETE":
                if held is None:
                    raise invalid_change_batch(
                        f"Tried to delete resource record set {where} but it was not found"
                    )
                if (
                    held.get("TTL") != rrset.get("TTL")
                    or held.get("Weight") != rrset.get("Weight")
                    or held.get("AliasTarget") != rrset.get("AliasTarget")
                    or sorted(map(str, held.get("ResourceRecords", [])))
                    != sorted(map(str, rrset.get("ResourceRecords", [])))
                ):
                    raise invalid_change_batch(
                        f"Tried to delete resource record set {where} "
                        "but the values provided do not match the current values"
                    )
                del work[key]
                continue
            if held is not None:
                raise invalid_change_batch(
                    f"Tried to create resource record set {where} but it already exists"
                )
            types = {t for n, t, _ in work if n == key[0]}
            if types and "CNAME" in types | {key[1]}:
                raise invalid_change_batch(
                    f"RRSet of type {key[1]} with DNS name {key[0]} is not permitted as it conflicts "
                    f"with other records with the same DNS name in zone {ZONE}"
                )
            work[key] = rrset
        for name, rtype in {(n, t) for n, t, _ in work}:
            group = [r for (n, t, _), r in work.items() if (n, t) == (name, rtype)]
            plain = [r for r in group if "SetIdentifier" not in r]
            if (plain and len(group) > 1) or any(r.get("SetIdentifier") and "Weight" not in r for r in group):
                raise invalid_change_batch(
                    f"RRSet with DNS name {name} and type {rtype} would mix routing policies: every record "
                    "set of one name and type must have the same routing policy"
                )
        self.rrsets = work
        # INSYNC at once, as moto answers (the stubbed client below plays PENDING): requests are counted here.
        return {"ChangeInfo": {"Id": "/change/C1", "Status": "INSYNC", "SubmittedAt": datetime.now(UTC)}}

    def put(self, record: RecordSet) -> None:
        """A record set written behind the operator's back."""
        values = [render_txt(v, radix=8) for v in record.values] if record.type == "TXT" else record.values
        self.rrsets[(record.name, record.type, "")] = {
            "Name": record.name,
            "Type": record.type,
            "TTL": record.ttl,
            "ResourceRecords": [{"Value": v} for v in values],
        }


def faked(fake: FakeRoute53, **options: Any) -> Route53Provider:
    return Route53Provider(fake, zone="example.com", **options)  # type: ignore[arg-type]


def mixed_tier(svc: str, *shards: ShardAddresses) -> tuple[RecordSet, ...]:
    names = service_names(svc)
    return plan_tiers(
        names=names, ttl=180, aliases=(), topology=TOPOLOGY, healthy=list(shards), hostname_aliases=True
    ).records


async def test_a_mixed_tier_goes_through_every_transition_in_valid_batches() -> None:
    """IP only → mixed → load balancers only → mixed → IP only on the fake that enforces Route 53's rule
    that every record set of one name and type shares one routing policy: each transition is one batch
    (the plain A record set and the weighted group replace each other in it), reads back as planned, and
    the group holds every shard, weighted per shard."""
    fake = FakeRoute53()
    provider = faked(fake)
    svc = unique_service()
    name = global_name(svc)
    ip_a = ShardAddresses(
        cluster="a", region="us-central1", zones=frozenset({"us-central1-a"}), ipv4=("104.197.0.1",)
    )
    ip_b = ShardAddresses(
        cluster="b", region="us-central1", zones=frozenset({"us-central1-b"}), ipv4=("104.197.0.2",)
    )
    elb = ShardAddresses(
        cluster="aws",
        region="us-central1",
        zones=frozenset({"us-central1-a"}),
        hostnames=("a1.elb.us-east-1.amazonaws.com",),
    )
    phases: list[tuple[tuple[ShardAddresses, ...], dict[int, int]]] = [
        ((ip_a, ip_b), {}),  # a plain A record set: no weights
        ((ip_a, ip_b, elb), {2: 1, 1: 1}),  # the addresses' set (weight 2) and the load balancer (1)
        ((elb,), {1: 1}),
        ((ip_b, elb), {1: 2}),
        ((ip_a, ip_b), {}),
    ]
    for shards, weights in phases:
        desired = mixed_tier(svc, *shards)
        calls, conflicts = await publish(provider, desired, svc)
        assert conflicts == ()
        assert calls >= 1
        group = [r for (n, t, _), r in fake.rrsets.items() if (n, t) == (name, "A")]
        found: dict[int, int] = {}
        for rrset in group:
            if "Weight" in rrset:
                found[rrset["Weight"]] = found.get(rrset["Weight"], 0) + 1
        assert found == weights
        assert await publish(provider, desired, svc) == (0, ())
    # The fake does refuse a plain A record set beside the weighted group (what a wrong plan would send).
    await publish(provider, mixed_tier(svc, ip_a, elb), svc)
    with pytest.raises(ClientError, match="mix routing policies"):
        fake.change_resource_record_sets(
            HostedZoneId="ZFAKE",
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "CREATE",
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": "A",
                            "TTL": 60,
                            "ResourceRecords": [{"Value": "192.0.2.9"}],
                        },
                    }
                ]
            },
        )


async def test_health_flapping_back_and_forth() -> None:
    fake = FakeRoute53()
    provider = faked(fake)
    svc = unique_service()
    everywhere, failover = seed_records(svc, [ASIA, EUROPE, US]), seed_records(svc, [ASIA, US])
    for desired in (everywhere, failover, everywhere, failover, everywhere):
        assert (await publish(provider, desired, svc))[0] == 1
        assert [r for r in await provider.records() if svc in r.name] == owned_records(desired, svc)
        assert await publish(provider, desired, svc) == (0, ())


async def test_a_plan_that_cannot_apply_whole_sends_nothing() -> None:
    # A partial-applying client, as moto is: only our own check of the whole plan keeps it all-or-nothing.
    fake = FakeRoute53(atomic=False)
    held = RecordSet(f"b.{ZONE}", "A", 60, ("192.0.2.2",))
    fake.put(held)
    fake.put(RecordSet(f"z.{ZONE}", "A", 60, ("192.0.2.3",)))
    provider = faked(fake)
    await provider.records()
    before = copy.deepcopy(fake.rrsets)

    # One good creation, one deletion of a record set that is not held as planned.
    stale = Changes(
        create=(RecordSet(f"a.{ZONE}", "A", 60, ("192.0.2.1",)),),
        delete=(RecordSet(held.name, "A", 300, held.values),),
    )
    with pytest.raises(StaleChangesError):
        await provider.apply(stale)

    # Many names over several batches, and a CNAME clash at the very last name (z).
    many = tuple(
        RecordSet(f"h{i}.{ZONE}", "A", 60, tuple(f"10.2.{i}.{j}" for j in range(1, 11))) for i in range(150)
    )
    clash = RecordSet(f"z.{ZONE}", "CNAME", 60, ("elsewhere.example.net.",))
    with pytest.raises(PermanentError, match=r"z\.example\.com\. would hold a CNAME beside A"):
        await provider.apply(Changes(create=(*many, clash)))

    assert "ChangeResourceRecordSets" not in fake.calls
    assert fake.rrsets == before


async def test_a_zone_changed_between_read_and_write_is_refused_by_route53_then_read_again() -> None:
    fake = FakeRoute53()
    provider = faked(fake)
    svc = unique_service()
    await publish(provider, seed_records(svc, [ASIA, US]), svc)
    changes, _ = await plan_for(provider, seed_records(svc, [ASIA]), svc)
    # After our read, someone edits a record set the plan deletes; only Route 53 itself can see it now.
    (deleted,) = [r for r in changes.delete if r.key == (tier_name(svc, "us-central1"), "A")]
    fake.put(RecordSet(deleted.name, "A", deleted.ttl, ("192.0.2.77",)))
    before = copy.deepcopy(fake.rrsets)
    with pytest.raises(StaleChangesError, match="values provided do not match") as caught:
        await provider.apply(changes)
    assert isinstance(caught.value.__cause__, ClientError)
    assert fake.rrsets == before  # the batch failed whole
    # The provider no longer trusts its reading: the next apply reads the zone first, then refuses locally.
    fake.calls.clear()
    with pytest.raises(StaleChangesError, match=r"192\.0\.2\.77"):
        await provider.apply(changes)
    assert fake.calls == ["ListResourceRecordSets"]


async def test_escaped_names_and_txt_strings_are_read_as_planned() -> None:
    fake = FakeRoute53()
    fake.rrsets[("\\052.wild.example.com.", "A", "")] = {
        "Name": "\\052.wild.example.com.",
        "Type": "A",
        "TTL": 60,
        "ResourceRecords": [{"Value": "192.0.2.1"}],
    }
    fake.rrsets[("Mixed.Example.COM.", "TXT", "")] = {
        "Name": "Mixed.Example.COM.",
        "Type": "TXT",
        "TTL": 60,
        "ResourceRecords": [{"Value": '"part one, " "part two"'}, {"Value": '"caf\\303\\251"'}],
    }
    assert await faked(fake).records() == [
        RecordSet("*.wild.example.com.", "A", 60, ("192.0.2.1",)),
        RecordSet("mixed.example.com.", "TXT", 60, ("café", "part one, part two")),
    ]


# --- retries, backoff and error mapping ---------------------------------------------------------------------


class Sleeps(list[float]):
    """An injectable sleep that records the delays instead of waiting."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


LISTING: dict[str, Any] = {"ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "300"}
CHANGED: dict[str, Any] = {
    "ChangeInfo": {"Id": "/change/C1", "Status": "INSYNC", "SubmittedAt": datetime(2026, 1, 1, tzinfo=UTC)}
}
PENDING: dict[str, Any] = {
    "ChangeInfo": {"Id": "/change/C1", "Status": "PENDING", "SubmittedAt": datetime(2026, 1, 1, tzinfo=UTC)}
}
NEW = RecordSet(f"new.{ZONE}", "A", 60, ("192.0.2.1",))


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    """A real boto3 client whose answers come from botocore's Stubber: nothing goes on the network."""
    client = new_client("http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        pytest.param("Throttling", 400, id="throttling"),
        pytest.param("PriorRequestNotComplete", 400, id="prior-request-not-complete"),
        pytest.param("ServiceUnavailable", 503, id="service-unavailable"),
        pytest.param("InternalError", 500, id="internal-error"),
    ],
)
async def test_transient_answers_are_retried_with_jittered_exponential_backoff(
    stubbed: tuple[Any, Stubber], code: str, status: int
) -> None:
    client, stubber = stubbed
    stubber.add_response("list_resource_record_sets", LISTING)
    for _ in range(3):
        stubber.add_client_error(
            "change_resource_record_sets", service_error_code=code, http_status_code=status
        )
    stubber.add_response("change_resource_record_sets", CHANGED)
    sleeps = Sleeps()
    provider = Route53Provider(
        client, zone="example.com", hosted_zone_id="Z1", backoff_base=0.2, sleep=sleeps
    )
    await provider.records()
    assert await provider.apply(Changes(create=(NEW,))) == 4  # requests, retries included
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0.2 * 2**attempt / 2 <= delay <= 0.2 * 2**attempt


async def test_retries_give_up_with_a_transient_error(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    for _ in range(3):
        stubber.add_client_error(
            "list_resource_record_sets", service_error_code="Throttling", http_status_code=400
        )
    sleeps = Sleeps()
    provider = Route53Provider(client, zone="example.com", hosted_zone_id="Z1", max_retries=2, sleep=sleeps)
    with pytest.raises(TransientError, match=r"Throttling.*gave up after 3 attempts") as caught:
        await provider.records()
    assert type(caught.value) is TransientError
    assert isinstance(caught.value.__cause__, ClientError)
    assert len(sleeps) == 2
    assert provider.requests_sent == 3


@pytest.mark.parametrize(
    ("code", "status", "message", "error", "match"),
    [
        pytest.param(
            "InvalidChangeBatch",
            400,
            "Tried to delete resource record set [name='new.example.com.', type='A'] but it was not found",
            StaleChangesError,
            "changed since the plan",
            id="delete-not-found",
        ),
        pytest.param(
            "InvalidChangeBatch",
            400,
            "Tried to create resource record set [name='new.example.com.', type='A'] but it already exists",
            StaleChangesError,
            "already exists",
            id="create-exists",
        ),
        pytest.param(
            "InvalidChangeBatch",
            400,
            "RRSet of type CNAME with DNS name new.example.com. is not permitted as it conflicts with other "
            "records with the same DNS name in zone example.com.",
            PermanentError,
            "not permitted",
            id="cname-conflict",
        ),
        pytest.param(
            "InvalidInput", 400, "Invalid request", PermanentError, "InvalidInput", id="invalid-input"
        ),
        pytest.param(
            "NoSuchHostedZone",
            404,
            "No hosted zone found with ID: Z1",
            PermanentError,
            "Z1",
            id="no-such-zone",
        ),
        pytest.param(
            "AccessDenied",
            403,
            "not authorized",
            PermanentError,
            "route53:ChangeResourceRecordSets",
            id="denied",
        ),
    ],
)
async def test_refusals_are_mapped_once_and_not_retried(
    stubbed: tuple[Any, Stubber],
    *,
    code: str,
    status: int,
    message: str,
    error: type[Exception],
    match: str,
) -> None:
    client, stubber = stubbed
    stubber.add_response("list_resource_record_sets", LISTING)
    stubber.add_client_error(
        "change_resource_record_sets",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
    )
    sleeps = Sleeps()
    provider = Route53Provider(client, zone="example.com", hosted_zone_id="Z1", sleep=sleeps)
    await provider.records()
    with pytest.raises(error, match=match) as caught:
        await provider.apply(Changes(create=(NEW,)))
    assert isinstance(caught.value.__cause__, ClientError)
    assert sleeps == []
    assert provider.requests_sent == 2


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), id="refused"),
        pytest.param(ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), id="closed"),
    ],
)
async def test_connection_failures_are_retried_then_transient(failure: Exception) -> None:
    fake = FakeRoute53()
    sleeps = Sleeps()
    fake.fail_next(failure, failure)
    provider = faked(fake, hosted_zone_id="ZFAKE", max_retries=2, sleep=sleeps)
    assert await provider.records() == []
    assert len(sleeps) == 2
    fake.fail_next(failure, failure, failure)
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        await provider.records()


async def test_missing_credentials_are_permanent() -> None:
    fake = FakeRoute53()
    fake.fail_next(NoCredentialsError())
    sleeps = Sleeps()
    with pytest.raises(PermanentError, match="no usable AWS credentials"):
        await faked(fake, sleep=sleeps).records()
    assert sleeps == []


async def test_no_serial_and_no_call_for_it(route53_provider: Route53Provider, wire: Wire) -> None:
    # Route 53's SOA serial does not move with changes: drift checks read the zone (records()).
    assert await route53_provider.serial() is None
    assert wire.operations == []


async def test_a_round_with_one_owner_route53_refuses_publishes_the_healthy_one(
    route53_provider: Route53Provider,
) -> None:
    """An alias that is not in ASCII (an IDN not turned into punycode) is refused by Route 53 (moto:
    InvalidChangeBatch, UnsupportedCharacter): the publisher splits the round, the healthy owner is
    published in it, only the other fails with Route 53's words, and its other names are published."""
    bad, good = unique_service(), unique_service()
    alias = f"{bad}-café.acme.example.com."
    publisher, results = await publish_together(
        route53_provider,
        {bad: seed_records(bad, [ASIA], aliases=[alias]), good: seed_records(good, [ASIA, EUROPE, US])},
    )
    assert publisher.rounds == 1
    assert results[good].error is None
    names = {r.name for r in await route53_provider.records()}
    assert set(owned_records(seed_records(good, [ASIA, EUROPE, US]), good)) <= set(
        await route53_provider.records()
    )
    error = results[bad].error
    assert error is not None
    assert "UnsupportedCharacter" in error
    assert alias in error
    assert global_name(bad) in names
    assert alias not in names


async def test_an_owner_whose_one_name_is_over_a_batch_is_refused_alone(
    route53_provider: Route53Provider,
) -> None:
    """A record set that, with its ownership record, exceeds what one ChangeBatch carries (1,000 values) is
    that owner's fault (ProviderRejected), found before anything is sent: the other owner of the round is
    published in it."""
    big, good = unique_service(), unique_service()
    huge = RecordSet(global_name(big), "A", 60, tuple(f"10.9.{i // 250}.{i % 250 + 1}" for i in range(1000)))
    publisher, results = await publish_together(
        route53_provider, {big: (huge,), good: seed_records(good, [ASIA, EUROPE, US])}
    )
    assert publisher.rounds == 1
    assert results[good].error is None
    assert set(owned_records(seed_records(good, [ASIA, EUROPE, US]), good)) <= set(
        await route53_provider.records()
    )
    refused = results[big]
    assert refused.rejected
    assert refused.error is not None
    assert global_name(big) in refused.error
    assert "more than one request may carry" in refused.error
    assert publisher.fault is None
    assert not any(r.name == global_name(big) for r in await route53_provider.records())


# --- foreign types seen, limits known (issue #10 item 2) -------------------------------------------------


async def test_a_foreign_mx_beside_a_planned_cname_is_a_conflict(
    route53_provider: Route53Provider, route53: Any, zone_id: str
) -> None:
    svc = unique_service()
    region = tier_name(svc, "europe-west1")
    write(route53, zone_id, "CREATE", region, "MX", "10 mail.example.net.")
    assert RecordSet(region, "OTHER", 0, ("MX",)) in await route53_provider.records()
    calls, conflicts = await publish(route53_provider, seed_records(svc, [ASIA, US]), svc)
    assert calls >= 1
    assert [(c.name, c.type) for c in conflicts] == [(region, "CNAME")]
    assert [r["Type"] for r in listed(route53, zone_id, region)] == ["MX"]


def test_limits_are_the_hosted_zone_quota_and_the_batch_values(route53: Any) -> None:
    assert Route53Provider(route53, zone="example.com").limits == ProviderLimits(
        max_values_per_set=ROUTE53_MAX_VALUES_PER_SET, max_record_sets=10_000, hostname_aliases=True
    )
    assert (
        Route53Provider(route53, zone="example.com", max_record_sets=20_000).limits.max_record_sets == 20_000
    )


async def test_apply_returns_once_route53_says_insync(stubbed: tuple[Any, Stubber]) -> None:
    """DNSPublished=True means live: a PENDING change is polled with GetChange until INSYNC (moto answers
    INSYNC at once, so the stubbed client plays Route 53's PENDING)."""
    client, stubber = stubbed
    stubber.add_response("list_resource_record_sets", LISTING)
    stubber.add_response("change_resource_record_sets", PENDING)
    stubber.add_response("get_change", PENDING, {"Id": "/change/C1"})
    stubber.add_response("get_change", PENDING, {"Id": "/change/C1"})
    stubber.add_response("get_change", CHANGED, {"Id": "/change/C1"})
    sleeps = Sleeps()
    provider = Route53Provider(client, zone="example.com", hosted_zone_id="Z1", sleep=sleeps)
    assert await provider.apply(Changes(create=(NEW,))) == 5
    assert sleeps == [0.5, 1.0]


async def test_a_change_still_pending_past_the_bound_is_left_unconfirmed_then_confirmed(
    stubbed: tuple[Any, Stubber],
) -> None:
    """A change still PENDING after ``insync_timeout`` does not hold ``apply`` (the zone's next round) any
    longer: it returns with the change listed as unconfirmed, and ``confirmed`` says INSYNC once GetChange
    does (one request per check, no waiting)."""
    client, stubber = stubbed
    stubber.add_response("list_resource_record_sets", LISTING)
    stubber.add_response("change_resource_record_sets", PENDING)
    for _ in range(4):
        stubber.add_response("get_change", PENDING, {"Id": "/change/C1"})
    stubber.add_response("get_change", PENDING, {"Id": "/change/C1"})
    stubber.add_response("get_change", CHANGED, {"Id": "/change/C1"})
    sleeps = Sleeps()
    provider = Route53Provider(
        client, zone="example.com", hosted_zone_id="Z1", sleep=sleeps, insync_timeout=3
    )
    assert await provider.apply(Changes(create=(NEW,))) == 6
    assert sleeps == [0.5, 1.0, 1.5]  # the last wait cut to the bound
    assert provider.unconfirmed() == ("/change/C1",)
    assert await provider.confirmed(["/change/C1"]) == set()
    assert await provider.confirmed(["/change/C1"]) == {"/change/C1"}
    assert sleeps == [0.5, 1.0, 1.5]
    stubber.assert_no_pending_responses()
