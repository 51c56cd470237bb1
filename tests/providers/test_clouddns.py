"""The Cloud DNS provider against the Cloud DNS v1 REST fake, through the real google-cloud-dns client: the
seed article's rounds, zero calls for an unchanged state, atomic A ↔ CNAME switches, deletions exactly as
read, stale plans, foreign records, paging, per-change limits, retries and error mapping, and the builder;
a change polled until "done" within its bound; a publisher round where Cloud DNS refuses one owner and
publishes the other."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import dns
from localfed.federation import free_port

from federation_operator.dns import publisher as publisher_module
from federation_operator.dns.clouddns import ChangeLimits, CloudDnsProvider, build_clouddns
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.errors import PermanentError, StaleChangesError, TransientError
from federation_operator.domain.ownership import parse_ownership_name, render_ownership_value
from federation_operator.domain.records import (
    Changes,
    ProviderLimits,
    PublishResult,
    RecordSet,
)
from federation_operator.planning.records import plan_tiers
from federation_operator.planning.zone_diff import ZoneIndex, plan_zone_changes_into
from tests.dns_fixtures import Sleeps, new_clouddns_client
from tests.fakes.clouddns import FakeCloudDns

from . import (
    ASIA,
    EUROPE,
    FEDERATION,
    NAMESPACE,
    US,
    crowded_shards,
    global_name,
    plan_for,
    publish,
    seed_records,
    service_names,
    tier_name,
    unique_service,
)
from .publisher_round import publish_together

PROJECT = "federation-test"
MANAGED_ZONE = "example-com"
ZONE = "example.com."
PAGE_SIZE = 7  # small, so that every read spans several pages

# The shared Cloud DNS fake (tests/dns_fixtures.py) with small pages, unless a test asks otherwise.
pytestmark = pytest.mark.clouddns_fake(default_page_size=PAGE_SIZE)

State = dict[tuple[str, str], tuple[int, list[str]]]
RawRrset = dict[str, Any]


def state(fake: FakeCloudDns) -> State:
    return {
        (r["name"], r["type"]): (r["ttl"], sorted(r["rrdatas"])) for r in fake.rrsets(PROJECT, MANAGED_ZONE)
    }


def sent_changes(fake: FakeCloudDns) -> list[dict[str, list[RawRrset]]]:
    """The bodies of every changes.create request the fake received since its counters were reset."""
    return [request.body for request in fake.requests if request.route == "changes.create"]


def behind_our_back(
    fake: FakeCloudDns, additions: Sequence[RawRrset] = (), deletions: Sequence[RawRrset] = ()
) -> None:
    """Someone else changes the zone, straight in the fake (not counted in its calls)."""
    fake.apply_change(PROJECT, MANAGED_ZONE, additions=additions, deletions=deletions)


def raw(name: str, rtype: str, ttl: int, *rrdatas: str) -> RawRrset:
    return {"name": name, "type": rtype, "ttl": ttl, "rrdatas": list(rrdatas)}


def owner_value(svc: str) -> str:
    return render_ownership_value(federation=FEDERATION, owner=f"{NAMESPACE}/{svc}")


def about(rrsets: list[RawRrset]) -> set[str]:
    """The names record sets are about, ownership names folded into the names they stand for."""
    names = set()
    for rrset in rrsets:
        target = parse_ownership_name(rrset["name"])
        names.add(target[0] if target else rrset["name"])
    return names


# --- the seed article's rounds ------------------------------------------------------------------------------


async def test_first_round_second_round_then_failover(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    alias = f"{svc}.acme.example.com."
    desired = seed_records(svc, [ASIA, EUROPE, US], aliases=[alias])

    # First round: every tier and its ownership records, in one change.
    changes, conflicts = await plan_for(clouddns_provider, desired, svc)
    assert conflicts == ()
    fake.reset_counters()
    assert await clouddns_provider.apply(changes) == 1
    assert fake.calls == {"changes.create": 1}
    [body] = sent_changes(fake)
    assert len(body["additions"]) == len(changes.create) == 2 * len(desired)
    assert body["deletions"] == []
    held = {r for r in await clouddns_provider.records() if svc in r.name}
    assert held == set(changes.create)
    assert set(desired) <= held
    # TXT data is stored quoted, as Cloud DNS holds it, and read back unquoted.
    owner_txt = f"_fedop-a.{global_name(svc)}"
    assert state(fake)[(owner_txt, "TXT")] == (300, [f'"{owner_value(svc)}"'])
    assert RecordSet(owner_txt, "TXT", 300, (owner_value(svc),)) in held

    # Second round, same state: no change is created.
    fake.reset_counters()
    assert await publish(clouddns_provider, desired, svc) == (0, ())
    assert fake.calls["changes.create"] == 0
    assert fake.changes_applied == 0

    # Europe's backends lose readiness: its region turns A → CNAME in the same single change.
    region = tier_name(svc, "europe-west1")
    fake.reset_counters()
    assert await publish(clouddns_provider, seed_records(svc, [ASIA, US], aliases=[alias]), svc) == (1, ())
    assert fake.changes_applied == 1
    [body] = sent_changes(fake)
    assert raw(region, "A", 180, "127.20.0.1") in body["deletions"]
    assert raw(region, "CNAME", 180, global_name(svc)) in body["additions"]
    at_region = {rtype: data for (name, rtype), data in state(fake).items() if name == region}
    assert at_region == {"CNAME": (180, [global_name(svc)])}
    assert state(fake)[(global_name(svc), "A")] == (180, ["127.10.0.1", "127.30.0.1"])

    # Readiness back: the CNAME turns back into an A, then nothing more to do.
    assert await publish(clouddns_provider, desired, svc) == (1, ())
    assert state(fake)[(region, "A")] == (180, ["127.20.0.1"])
    assert (region, "CNAME") not in state(fake)
    assert await publish(clouddns_provider, desired, svc) == (0, ())


async def test_empty_plan_makes_no_call(clouddns_provider: CloudDnsProvider, fake: FakeCloudDns) -> None:
    fake.reset_counters()
    assert await clouddns_provider.apply(Changes()) == 0
    assert fake.total_calls == 0
    assert clouddns_provider.api_calls == 0


async def test_deletion_removes_every_tier_and_ownership_record(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    await publish(
        clouddns_provider, seed_records(svc, [ASIA, EUROPE, US], aliases=[f"{svc}.acme.example.com."]), svc
    )
    assert await publish(clouddns_provider, (), svc) == (1, ())
    assert [r for r in await clouddns_provider.records() if svc in r.name] == []
    assert set(state(fake)) == {(ZONE, "SOA"), (ZONE, "NS")}


async def test_foreign_records_survive_and_are_reported(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    behind_our_back(fake, additions=[raw(global_name(svc), "A", 60, "192.0.2.1")])

    calls, conflicts = await publish(clouddns_provider, seed_records(svc, [ASIA, US]), svc)
    assert calls == 1
    assert [(c.name, c.type) for c in conflicts] == [(global_name(svc), "A")]
    assert "without an ownership record" in conflicts[0].reason
    assert state(fake)[(global_name(svc), "A")] == (60, ["192.0.2.1"])
    assert state(fake)[(tier_name(svc, "asia-east1"), "A")] == (180, ["127.10.0.1"])
    # Same state again: nothing to send, the conflict is still reported.
    assert await publish(clouddns_provider, seed_records(svc, [ASIA, US]), svc) == (0, conflicts)

    # Deleting the FederatedService removes ours and leaves the foreign record in place.
    assert (await publish(clouddns_provider, (), svc))[0] == 1
    assert [r for r in await clouddns_provider.records() if svc in r.name] == [
        RecordSet(global_name(svc), "A", 60, ("192.0.2.1",))
    ]


# --- exact deletions and stale plans ------------------------------------------------------------------------


async def test_deletions_carry_the_record_sets_exactly_as_read(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    # Written by an earlier version of the operator, or by hand: an expanded IPv6 address, an unquoted TXT.
    stored_aaaa = raw(name, "AAAA", 180, "2001:0db8:0000:0000:0000:0000:0000:0001")
    stored_owner = raw(f"_fedop-aaaa.{name}", "TXT", 300, owner_value(svc))
    behind_our_back(fake, additions=[stored_aaaa, stored_owner])
    assert RecordSet(name, "AAAA", 180, ("2001:db8::1",)) in await clouddns_provider.records()

    fake.reset_counters()
    assert await publish(clouddns_provider, (), svc) == (1, ())
    [body] = sent_changes(fake)
    assert sorted(body["deletions"], key=lambda r: r["type"]) == [stored_aaaa, stored_owner]
    assert set(state(fake)) == {(ZONE, "SOA"), (ZONE, "NS")}


def _stale_changed(fake: FakeCloudDns, svc: str, changes: Changes) -> None:
    behind_our_back(
        fake,
        deletions=[raw(global_name(svc), "A", 180, "127.10.0.1")],
        additions=[raw(global_name(svc), "A", 180, "127.10.0.9")],
    )


def _stale_deleted(fake: FakeCloudDns, svc: str, changes: Changes) -> None:
    behind_our_back(fake, deletions=[raw(global_name(svc), "A", 180, "127.10.0.1")])


def _stale_created(fake: FakeCloudDns, svc: str, changes: Changes) -> None:
    created = next(r for r in changes.create if r.type == "TXT")
    behind_our_back(fake, additions=[raw(created.name, "TXT", 60, '"someone else"')])


@pytest.mark.parametrize(
    ("meanwhile", "reason"),
    [
        pytest.param(_stale_changed, "conditionNotMet", id="updated-record-changed"),
        pytest.param(_stale_deleted, "notFound", id="updated-record-deleted"),
        pytest.param(_stale_created, "alreadyExists", id="created-record-exists"),
    ],
)
async def test_stale_plan_is_refused_and_nothing_is_applied(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns, meanwhile: Any, reason: str
) -> None:
    svc = unique_service()
    await publish(clouddns_provider, seed_records(svc, [ASIA]), svc)
    changes, _ = await plan_for(clouddns_provider, seed_records(svc, [ASIA, US]), svc)
    assert changes.update_old
    assert changes.create
    meanwhile(fake, svc, changes)
    before = state(fake)
    fake.reset_counters()

    with pytest.raises(StaleChangesError, match=reason):
        await clouddns_provider.apply(changes)

    assert state(fake) == before
    assert fake.changes_applied == 0
    assert fake.calls == {"changes.create": 1}  # refused at once, not retried
    # A fresh read and plan go through.
    assert (await publish(clouddns_provider, seed_records(svc, [ASIA, US]), svc))[0] == 1


# --- CNAME exclusivity --------------------------------------------------------------------------------------


async def test_cname_beside_other_data_is_refused_before_sending(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    name = f"{unique_service()}.example.com."
    behind_our_back(fake, additions=[raw(name, "A", 60, "192.0.2.1")])
    await clouddns_provider.records()
    fake.reset_counters()

    cname = RecordSet(name, "CNAME", 60, ("elsewhere.example.net.",))
    with pytest.raises(PermanentError, match=rf"{re.escape(name)} would hold a CNAME beside A"):
        await clouddns_provider.apply(Changes(create=(cname,)))
    # Within one plan too, whatever the zone holds.
    other = f"{unique_service()}.example.com."
    both = Changes(
        create=(RecordSet(other, "TXT", 60, ("x",)), RecordSet(other, "CNAME", 60, ("a.example.net.",)))
    )
    with pytest.raises(PermanentError, match=rf"{re.escape(other)} would hold a CNAME beside TXT"):
        await clouddns_provider.apply(both)
    assert fake.total_calls == 0


async def test_cname_conflict_found_by_the_server_names_the_name(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    name = f"{unique_service()}.example.com."
    await clouddns_provider.records()
    behind_our_back(fake, additions=[raw(name, "A", 60, "192.0.2.1")])  # after our read: we cannot know
    before = state(fake)
    fake.reset_counters()

    first = RecordSet(f"a-{unique_service()}.example.com.", "A", 60, ("192.0.2.2",))
    cname = RecordSet(name, "CNAME", 60, ("elsewhere.example.net.",))
    with pytest.raises(
        PermanentError, match=rf"{re.escape(name)} would hold a CNAME.*cnameResourceRecordSetConflict"
    ):
        await clouddns_provider.apply(Changes(create=(first, cname)))
    assert state(fake) == before
    assert fake.calls == {"changes.create": 1}


# --- reading ------------------------------------------------------------------------------------------------


async def test_records_reads_every_page(clouddns_provider: CloudDnsProvider, fake: FakeCloudDns) -> None:
    names = [f"host{i:02d}.paging.example.com." for i in range(40)]
    behind_our_back(fake, additions=[raw(name, "A", 60, "192.0.2.1") for name in names])
    held = await clouddns_provider.records()  # looks the managed zone up once, too
    fake.reset_counters()

    assert await clouddns_provider.records() == held
    assert [r.name for r in held] == names  # the apex SOA and NS are left out
    assert fake.calls == {"resourceRecordSets.list": math.ceil(42 / PAGE_SIZE)}
    assert all("pageToken" in request.query for request in fake.requests[1:])


async def test_a_failed_page_is_retried_alone(
    clouddns_provider: CloudDnsProvider,
    clouddns: dns.Client,
    fake: FakeCloudDns,
    sleeps: Sleeps,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    behind_our_back(fake, additions=[raw(f"h{i}.example.com.", "A", 60, "192.0.2.1") for i in range(20)])
    await clouddns_provider.records()
    fake.reset_counters()
    request = clouddns._connection.api_request

    def throttle_the_second_page(**kwargs: Any) -> Any:
        if fake.calls["resourceRecordSets.list"] == 1:
            fake.fail_next(429, route="resourceRecordSets.list")
        return request(**kwargs)

    monkeypatch.setattr(clouddns._connection, "api_request", throttle_the_second_page)
    held = await clouddns_provider.records()

    assert len(held) == 20
    pages = math.ceil(22 / PAGE_SIZE)
    assert fake.calls == {"resourceRecordSets.list": pages + 1}
    assert fake.faults_served == 1
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("stored", "value"),
    [
        pytest.param('"plain"', "plain", id="quoted"),
        pytest.param('"part one" "part two"', "part onepart two", id="two-strings"),
        pytest.param("unquoted words", "unquotedwords", id="unquoted"),
        pytest.param(r'"say \"hi\" \\ \065\066"', 'say "hi" \\ AB', id="escapes"),
        pytest.param(r'"caf\195\169"', "café", id="utf8-octets"),
    ],
)
async def test_txt_data_in_presentation_form_is_read_as_one_value(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns, stored: str, value: str
) -> None:
    name = f"{unique_service()}.example.com."
    behind_our_back(fake, additions=[raw(name, "TXT", 60, stored)])
    assert RecordSet(name, "TXT", 60, (value,)) in await clouddns_provider.records()


async def test_txt_values_round_trip(clouddns_provider: CloudDnsProvider, fake: FakeCloudDns) -> None:
    name = f"{unique_service()}.example.com."
    record = RecordSet(name, "TXT", 60, ("x" * 600, 'quote " and backslash \\', "naïve", ""))
    assert await clouddns_provider.apply(Changes(create=(record,))) == 2  # the zone's lookup and the change
    stored = state(fake)[(name, "TXT")][1]
    assert f'"{"x" * 255}" "{"x" * 255}" "{"x" * 90}"' in stored  # at most 255 octets per string
    assert record in await clouddns_provider.records()
    assert await clouddns_provider.apply(Changes(delete=(record,))) == 1
    assert (name, "TXT") not in state(fake)


async def test_record_sets_with_a_routing_policy_are_read_as_foreign_data(
    clouddns_provider: CloudDnsProvider, clouddns: dns.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A routing policy the operator never writes (here geo with fencing) has no rrdatas: the union of its
    # items' stands for it. (A plain geo policy is read as the GEO group it may be: test_clouddns_geo.py.)
    name = f"{unique_service()}.example.com."
    geo = {
        "kind": "dns#resourceRecordSet",
        "name": name,
        "type": "A",
        "ttl": 60,
        "routingPolicy": {
            "geo": {
                "enableFencing": True,
                "items": [
                    {"location": "us-east1", "rrdatas": ["192.0.2.1"]},
                    {"location": "europe-west1", "rrdatas": ["192.0.2.2", "192.0.2.1"]},
                ],
            }
        },
    }
    request = clouddns._connection.api_request

    def with_geo(**kwargs: Any) -> Any:
        response = request(**kwargs)
        if kwargs["path"].endswith("/rrsets") and "pageToken" not in (kwargs.get("query_params") or {}):
            response.setdefault("rrsets", []).append(geo)
        return response

    monkeypatch.setattr(clouddns._connection, "api_request", with_geo)
    assert RecordSet(name, "A", 60, ("192.0.2.1", "192.0.2.2")) in await clouddns_provider.records()


# --- per-change limits --------------------------------------------------------------------------------------


async def test_plans_over_the_limits_are_split_without_splitting_a_name(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    limits = ChangeLimits(additions=6, deletions=6)
    provider = CloudDnsProvider(clouddns, zone=ZONE, limits=limits)
    svc = unique_service()
    await provider.records()

    for healthy in ([ASIA, EUROPE, US], [EUROPE], []):
        fake.reset_counters()
        calls, _ = await publish(provider, seed_records(svc, healthy), svc)
        bodies = sent_changes(fake)
        assert calls == len(bodies) == fake.changes_applied > 1
        assert all(len(b["additions"]) <= 6 and len(b["deletions"]) <= 6 for b in bodies)
        names = [about(b["additions"] + b["deletions"]) for b in bodies]
        for i, these in enumerate(names):
            for later in names[i + 1 :]:
                assert not these & later
        assert {r for r in await provider.records() if svc in r.name} >= set(seed_records(svc, healthy))
        assert await publish(provider, seed_records(svc, healthy), svc) == (0, ())
    assert set(state(fake)) == {(ZONE, "SOA"), (ZONE, "NS")}


async def test_documented_limits_split_a_large_plan(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    fake.default_page_size = 500
    svc = unique_service()
    desired = [
        RecordSet(f"h{i}.{svc}.example.com.", "A", 60, (f"10.{i // 250}.{i % 250}.1", "10.255.0.2"))
        for i in range(900)
    ]
    fake.reset_counters()
    calls, _ = await publish(clouddns_provider, desired, svc)
    bodies = sent_changes(fake)
    assert calls == len(bodies) == 2
    assert sum(len(b["additions"]) for b in bodies) == 1800
    for body in bodies:
        assert len(body["additions"]) <= 1000
        assert sum(len(d) + 1 for r in body["additions"] for d in r["rrdatas"]) <= 100_000
    assert await publish(clouddns_provider, desired, svc) == (0, ())
    fake.reset_counters()
    await publish(clouddns_provider, (), svc)
    assert len(sent_changes(fake)) == 2
    assert all(len(body["deletions"]) <= 1000 for body in sent_changes(fake))


async def test_changes_that_cannot_fit_one_change_are_refused_before_sending(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    provider = CloudDnsProvider(clouddns, zone=ZONE, limits=ChangeLimits(additions=1))
    svc = unique_service()
    with pytest.raises(PermanentError, match=rf"the changes at {re.escape(svc)}\S* exceed what one"):
        await publish(provider, seed_records(svc, [ASIA]), svc)
    many = RecordSet(f"{svc}.example.com.", "A", 60, tuple(f"10.0.0.{i}" for i in range(101)))
    with pytest.raises(PermanentError, match="101 records; Cloud DNS takes at most 100"):
        await CloudDnsProvider(clouddns, zone=ZONE).apply(Changes(create=(many,)))
    assert fake.calls["changes.create"] == 0


# --- retries and errors -------------------------------------------------------------------------------------


def one_record(zone: str = ZONE) -> Changes:
    return Changes(create=(RecordSet(f"{unique_service()}.{zone}", "A", 60, ("192.0.2.1",)),))


async def test_throttling_and_server_errors_are_retried_with_backoff(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns, sleeps: Sleeps
) -> None:
    await clouddns_provider.records()
    fake.fail_next(429, route="changes.create")
    fake.fail_next(503, route="changes.create")
    fake.fail_next(403, "userRateLimitExceeded", route="changes.create")
    fake.reset_counters()

    assert await clouddns_provider.apply(one_record()) == 4
    assert fake.calls == {"changes.create": 4}
    assert fake.changes_applied == 1
    # Exponential, jittered (each a random 50-100 % of 0.2 s * 2**attempt).
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0.1 * 2**attempt <= delay <= 0.2 * 2**attempt


async def test_retry_after_is_honoured(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns, sleeps: Sleeps
) -> None:
    fake.fail_next(429, route="changes.create", retry_after=3)
    # The zone lookup, the throttled attempt, the retry.
    assert await clouddns_provider.apply(one_record()) == 3
    assert sleeps == [3.0]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_retries_run_out_into_a_transient_error(
    clouddns: dns.Client, fake: FakeCloudDns, sleeps: Sleeps, status: int
) -> None:
    provider = CloudDnsProvider(clouddns, zone=ZONE, max_retries=2, sleep=sleeps)
    await provider.records()
    fake.fail_next(status, route="changes.create", count=3)
    fake.reset_counters()

    with pytest.raises(TransientError, match=rf"after 3 attempts: {status}") as caught:
        await provider.apply(one_record())
    assert not isinstance(caught.value, StaleChangesError)
    assert caught.value.delay is not None
    assert fake.calls == {"changes.create": 3}
    assert fake.changes_applied == 0
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "fault",
    [
        # (Anonymous credentials fail in google-auth, which tries to refresh them after a 401.)
        pytest.param((401, "authError", "credentials (were rejected|are unusable)"), id="unauthenticated"),
        pytest.param((403, "forbidden", "permission denied"), id="forbidden"),
        pytest.param((400, "invalid", r"refused \(400 invalid\)"), id="invalid"),
        pytest.param((413, "quotaExceeded", "quota per change"), id="over-quota"),
    ],
)
async def test_permanent_errors_are_not_retried(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns, sleeps: Sleeps, fault: tuple[int, str, str]
) -> None:
    status, reason, message = fault
    await clouddns_provider.records()
    fake.fail_next(status, reason, route="changes.create")
    fake.reset_counters()
    with pytest.raises(PermanentError, match=message):
        await clouddns_provider.apply(one_record())
    assert fake.calls == {"changes.create": 1}
    assert sleeps == []


async def test_unreachable_endpoint_is_transient(sleeps: Sleeps) -> None:
    client = new_clouddns_client(f"http://127.0.0.1:{free_port()}")
    try:
        provider = CloudDnsProvider(client, zone=ZONE, managed_zone=MANAGED_ZONE, max_retries=1, sleep=sleeps)
        with pytest.raises(TransientError, match="after 2 attempts"):
            await provider.records()
        assert len(sleeps) == 1
    finally:
        client.close()


# --- the managed zone ---------------------------------------------------------------------------------------


async def test_managed_zone_is_found_by_dns_name_once(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    fake.seed_zone(PROJECT, "another", "example.org.")
    fake.reset_counters()
    assert clouddns_provider.managed_zone is None
    await clouddns_provider.records()
    await clouddns_provider.records()
    assert clouddns_provider.managed_zone == MANAGED_ZONE
    assert fake.calls["managedZones.list"] == 1
    assert fake.requests[0].query["dnsName"] == ZONE


async def test_given_managed_zone_is_checked_once(clouddns: dns.Client, fake: FakeCloudDns) -> None:
    provider = CloudDnsProvider(clouddns, zone=ZONE, managed_zone=MANAGED_ZONE)
    fake.reset_counters()
    await provider.records()
    await provider.apply(one_record())
    # projects.get: the project's quotas, read once with the zone (the provider's limits).
    assert fake.calls == {
        "managedZones.get": 1,
        "projects.get": 1,
        "resourceRecordSets.list": 1,
        "changes.create": 1,
    }


@pytest.mark.parametrize(
    ("zone", "managed_zone", "message"),
    [
        pytest.param("example.org", None, r"no Cloud DNS managed zone serves example\.org\.", id="absent"),
        pytest.param("example.com", "missing-zone", "not found", id="no-such-managed-zone"),
        pytest.param(
            "example.org", MANAGED_ZONE, r"serves example\.com\., not example\.org\.", id="wrong-zone"
        ),
    ],
)
async def test_zone_problems_are_permanent(
    clouddns: dns.Client, fake: FakeCloudDns, zone: str, managed_zone: str | None, message: str
) -> None:
    provider = CloudDnsProvider(clouddns, zone=zone, managed_zone=managed_zone)
    with pytest.raises(PermanentError, match=message):
        await provider.records()
    with pytest.raises(PermanentError, match=message):
        await provider.apply(one_record(provider.zone))


async def test_several_zones_with_the_name_need_managed_zone(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    fake.seed_zone(PROJECT, "example-com-too", ZONE)
    with pytest.raises(
        PermanentError, match=r"\(example-com, example-com-too\); choose one with the managed_zone"
    ):
        await clouddns_provider.records()


async def test_zone_outside_the_project_is_permanent(fake: FakeCloudDns) -> None:
    client = dns.Client(
        project="no-such-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
    )
    try:
        with pytest.raises(PermanentError, match="no-such-project"):
            await CloudDnsProvider(client, zone=ZONE).records()
    finally:
        client.close()


# --- the factory's builder ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service-account key file, as mounted from a Secret (its key is fresh and signs nothing here)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "project-from-key",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "fedop@project-from-key.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path_factory.mktemp("credentials") / "key.json"
    path.write_text(json.dumps(info))
    return path


async def test_builder_with_anonymous_credentials_talks_to_the_endpoint(fake: FakeCloudDns) -> None:
    provider = build_clouddns(
        "example.com",
        {"project": PROJECT, "endpoint": fake.endpoint + "/", "anonymous": "true", "max_retries": "0"},
    )
    try:
        assert provider.zone == ZONE
        assert await provider.records() == []
        assert provider.managed_zone == MANAGED_ZONE
        assert await provider.apply(one_record()) == 1
    finally:
        provider.close()


def test_builder_reads_a_key_file(key_file: Path) -> None:
    provider = build_clouddns("example.com", {"credentials_file": str(key_file), "managed_zone": "z"})
    try:
        assert (
            repr(provider) == "CloudDnsProvider(project=project-from-key, managed_zone=z, zone=example.com.)"
        )
    finally:
        provider.close()


def test_builder_uses_the_standard_chain(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    for options, project in [({}, "project-from-key"), ({"project": "explicit"}, "explicit")]:
        provider = build_clouddns("example.com", options)
        try:
            assert f"project={project}," in repr(provider)
        finally:
            provider.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"server": "x"}, "unknown option server", id="unknown-option"),
        pytest.param(
            {"anonymous": "yes", "project": "p"}, "anonymous='yes' is not true or false", id="anonymous"
        ),
        pytest.param(
            {"anonymous": "true", "credentials_file": "/k.json"},
            "exclude each other",
            id="anonymous-and-file",
        ),
        pytest.param({"anonymous": "true"}, "option project is required", id="no-project"),
        pytest.param(
            {"anonymous": "true", "project": "p", "endpoint": "dns.local"}, "not an http", id="endpoint"
        ),
        pytest.param(
            {"anonymous": "true", "project": "p", "max_retries": "many"}, "not a number", id="retries"
        ),
        pytest.param(
            {"credentials_file": "/nonexistent/key.json"}, "credentials_file /nonexistent", id="no-file"
        ),
    ],
)
def test_builder_rejects_bad_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        build_clouddns("example.com", options)


async def test_no_serial_and_no_call_for_it(clouddns_provider: CloudDnsProvider, fake: FakeCloudDns) -> None:
    # Drift checks read the zone (records()) instead: no call is made for a serial.
    assert await clouddns_provider.serial() is None
    assert fake.total_calls == 0


async def test_a_round_with_one_owner_cloud_dns_refuses_publishes_the_healthy_one(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    """An alias that is not in ASCII (an IDN not turned into punycode) is refused by Cloud DNS (400
    invalid): the publisher splits the round, the healthy owner is published in it, only the other fails
    with Cloud DNS's words, and its other names are published."""
    bad, good = unique_service(), unique_service()
    alias = f"{bad}-café.acme.example.com."
    publisher, results = await publish_together(
        clouddns_provider,
        {bad: seed_records(bad, [ASIA], aliases=[alias]), good: seed_records(good, [ASIA, EUROPE, US])},
    )
    assert publisher.rounds == 1
    assert results[good].error is None
    assert state(fake)[(global_name(good), "A")] == (180, ["127.10.0.1", "127.20.0.1", "127.30.0.1"])
    error = results[bad].error
    assert error is not None
    assert "400 invalid" in error
    assert alias in error
    assert (global_name(bad), "A") in state(fake)
    assert not any(name == alias for name, _ in state(fake))


# --- limits planned, foreign types seen (issue #10 item 2) -----------------------------------------------


@pytest.mark.clouddns_fake(resource_records_per_rrset=50, rrsets_per_managed_zone=500)
async def test_limits_are_the_projects_quotas_read_with_the_zone(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    provider = CloudDnsProvider(clouddns, zone=ZONE)
    # Cloud DNS's geo items are Google Cloud regions, and a routing policy is one record set.
    cloud = {"geo_by_gcp_region": True, "group_in_one_set": True}
    assert provider.limits == ProviderLimits(
        max_values_per_set=100, max_record_sets=10_000, **cloud
    )  # defaults
    await provider.records()
    assert provider.limits == ProviderLimits(max_values_per_set=50, max_record_sets=500, **cloud)
    await provider.records()
    assert fake.calls["projects.get"] == 1  # read once


async def test_one_owners_changes_over_the_projects_per_change_quotas_go_out_in_several_changes(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    """The per-change quotas are the project's (read with the zone), and the fake refuses a change over
    them: one owner's records, more than one change may add (or later delete), are sent as several changes
    of whole names, and every one is accepted."""
    fake.rrset_additions_per_change = 5
    fake.rrset_deletions_per_change = 5
    provider = CloudDnsProvider(clouddns, zone=ZONE)
    svc = unique_service()
    await provider.records()
    assert (provider.change_limits.additions, provider.change_limits.deletions) == (5, 5)
    records = seed_records(svc, [ASIA, EUROPE, US])
    _, conflicts = await publish(provider, records, svc)
    assert conflicts == ()
    bodies = sent_changes(fake)
    assert len(bodies) > 1
    assert all(len(b["additions"]) <= 5 and len(b["deletions"]) <= 5 for b in bodies)
    assert {r for r in await provider.records() if svc in r.name} >= set(records)
    fake.reset_counters()
    await publish(provider, (), svc)  # and withdrawn the same way
    assert len(sent_changes(fake)) > 1
    assert not any(svc in name for name, _ in state(fake))


async def test_a_foreign_mx_beside_a_planned_cname_is_a_conflict(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    region = tier_name(svc, "europe-west1")
    behind_our_back(fake, additions=[raw(region, "MX", 300, "10 mail.example.net.")])
    assert RecordSet(region, "OTHER", 0, ("MX",)) in await clouddns_provider.records()
    calls, conflicts = await publish(clouddns_provider, seed_records(svc, [ASIA, US]), svc)
    assert calls >= 1
    assert [(c.name, c.type) for c in conflicts] == [(region, "CNAME")]
    assert (region, "CNAME") not in state(fake)
    assert state(fake)[(region, "MX")] == (300, ["10 mail.example.net."])


async def test_a_tier_over_the_rrdata_quota_publishes_a_subset_the_fake_accepts(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    await clouddns_provider.records()
    shards = crowded_shards(140, 55)
    names = service_names(svc)
    tiers = plan_tiers(
        names=names,
        ttl=180,
        aliases=(),
        topology={"us-central1": frozenset({"us-central1-a"})},
        healthy=shards,
        max_values=clouddns_provider.limits.max_values_per_set,
    )
    assert (await publish(clouddns_provider, tiers.records, svc))[1] == ()
    assert len(state(fake)[(global_name(svc), "A")][1]) == 100


@pytest.mark.clouddns_fake(rrsets_per_managed_zone=12)  # the zone's SOA and NS among them
async def test_an_owner_past_the_zone_quota_is_reported_and_the_other_publishes(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    provider = CloudDnsProvider(clouddns, zone=ZONE)
    big, small = unique_service(), unique_service()
    index = ZoneIndex(await provider.records())
    quota = provider.limits.max_record_sets
    assert quota == 12
    changes, conflicts = plan_zone_changes_into(
        index,
        {
            f"{NAMESPACE}/{big}": seed_records(big, [ASIA, EUROPE, US]),
            f"{NAMESPACE}/{small}": [RecordSet(global_name(small), "A", 180, ("127.10.0.1",))],
        },
        federation=FEDERATION,
        zone=ZONE,
        order=[f"{NAMESPACE}/{big}", f"{NAMESPACE}/{small}"],
        max_record_sets=quota,
    )
    assert conflicts[f"{NAMESPACE}/{big}"]
    assert all("quota of 12 record sets" in c.reason for c in conflicts[f"{NAMESPACE}/{big}"])
    assert conflicts[f"{NAMESPACE}/{small}"] == ()
    await provider.apply(changes)  # within the quota: the fake accepts it
    assert (global_name(small), "A") in state(fake)


async def test_apply_returns_once_the_change_is_done(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns, sleeps: Sleeps
) -> None:
    """DNSPublished=True means live: a change answered "pending" is polled until "done"."""
    fake.pending_polls = 2
    svc = unique_service()
    calls, _ = await publish(clouddns_provider, seed_records(svc, [ASIA]), svc)
    assert fake.calls["changes.get"] == 3
    assert sleeps[-2:] == [0.5, 1.0]
    assert calls >= 4  # the change and its three polls (and the zone's lookup)


async def test_a_change_still_pending_past_the_bound_is_left_unconfirmed(
    clouddns: dns.Client, fake: FakeCloudDns, sleeps: Sleeps
) -> None:
    provider = CloudDnsProvider(clouddns, zone="example.com", sleep=sleeps, done_timeout=3)
    fake.pending_polls = 5
    svc = unique_service()
    await publish(provider, seed_records(svc, [ASIA]), svc)  # returns: the zone is not held
    assert sleeps[-3:] == [0.5, 1.0, 1.5]
    (change_id,) = provider.unconfirmed()
    assert await provider.confirmed([change_id]) == set()  # one changes.get, no waiting
    assert await provider.confirmed([change_id]) == {change_id}


async def test_an_owner_stays_pending_until_cloud_dns_says_done_without_holding_later_rounds(
    clouddns: dns.Client, fake: FakeCloudDns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNSPublished=True means live, and waiting for it blocks nothing: a change still pending after the
    adapter's short bound leaves its owner Pending (unconfirmed, with the change's id); another owner's
    round goes out meanwhile; both become Published once the fake says done."""
    monkeypatch.setattr(publisher_module, "CONFIRM_START", 0.1)
    monkeypatch.setattr(publisher_module, "CONFIRM_CAP", 0.2)
    provider = CloudDnsProvider(clouddns, zone="example.com", done_timeout=0.1)
    fake.pending_polls = 8  # 2 polls in apply, then the publisher's checks
    first, second = unique_service(), unique_service()
    publisher = Publisher(provider, federation=FEDERATION, on_result=lambda _key: None, coalesce_seconds=0.01)
    task = asyncio.create_task(publisher.run())

    async def until(what: str, probe: Callable[[], bool]) -> None:
        async with asyncio.timeout(20):
            while not probe():  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # polling the publisher's outcome, with a deadline
        assert probe(), what

    def verdict(svc: str) -> PublishResult | None:
        return publisher.result((NAMESPACE, svc))

    try:
        publisher.submit((NAMESPACE, first), tuple(seed_records(first, [ASIA])))
        await until("first answered", lambda: verdict(first) is not None)
        result = verdict(first)
        assert result is not None
        assert result.error is None
        assert result.unconfirmed is not None
        assert "still pending" in result.unconfirmed
        publisher.submit((NAMESPACE, second), tuple(seed_records(second, [EUROPE])))
        await until("second sent", lambda: fake.changes_applied == 2)
        held = verdict(first)
        assert held is not None
        assert held.unconfirmed is not None  # the second round did not wait for the first change
        await until("first confirmed", lambda: (r := verdict(first)) is not None and r.unconfirmed is None)
        await until("second confirmed", lambda: (r := verdict(second)) is not None and r.unconfirmed is None)
        assert (global_name(first), "A") in state(fake)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
