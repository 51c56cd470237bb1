"""The DNS provider's own health checks in status: Route 53's rule for its checkers' reports, each shard's
``providerHealth`` from the state of its share's check (reported, never deciding health or records), the
Warning event when one fails, the ``kubectl fed status`` column, and the publisher's poll, which re-queues
only the owners whose shares changed state and asks nothing while no share has a check."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection
from typing import Any

import pytest

from federation_operator.cli.render import render_service, service_view
from federation_operator.dns import publisher as publisher_module
from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.health_checks import (
    HealthCheck,
    ProviderHealth,
    read_checker_reports,
    read_health_check,
    read_shares,
    with_health_check,
)
from federation_operator.domain.members import EndpointSummary
from federation_operator.domain.records import RecordSet, weighted_set_identifier
from federation_operator.domain.status import ShardStatus
from federation_operator.planning.reconcile import (
    Federation,
    ReconcilePlan,
    plan_member_writes,
    plan_reconcile,
)
from tests.unit.test_cli import FSVC
from tests.unit.test_reconcile import SPEC, manifests, observe, ours

CHECK = {"protocol": "TCP", "port": 80}


@pytest.mark.parametrize(
    ("succeeding", "reports", "state"),
    [
        (0, 0, "Unknown"),
        (3, 16, "Healthy"),  # 18.75 %: more than 18 %
        (9, 50, "Unhealthy"),  # exactly 18 %: not more
        (2, 16, "Unhealthy"),
        (1, 1, "Healthy"),
        (0, 1, "Unhealthy"),
    ],
)
def test_route53_counts_a_check_healthy_when_more_than_18_percent_of_its_checkers_succeed(
    succeeding: int, reports: int, state: str
) -> None:
    statuses = ["Success: HTTP Status Code 200, OK"] * succeeding + ["Failure: Connection timed out."] * (
        reports - succeeding
    )
    health = read_checker_reports(statuses, "hc-1")
    assert (health.state, health.health_check_id) == (state, "hc-1")
    if state == "Unhealthy":
        assert "Connection timed out" in health.message


def test_the_same_state_ignores_the_message() -> None:
    said = ProviderHealth("Healthy", "hc-1", "3 of 16 checkers succeed")
    assert said.same_state(ProviderHealth("Healthy", "hc-1", "16 of 16 checkers succeed"))
    assert not said.same_state(ProviderHealth("Unhealthy", "hc-1"))
    assert not said.same_state(ProviderHealth("Healthy", "hc-2"))
    assert not said.same_state(None)


ROUTE53 = Federation(name="myfederation", domain="example.com", providers=("route53",))


def reconcile(policy: dict[str, Any], health: dict[str, ProviderHealth] | None = None) -> ReconcilePlan:
    spec = {**SPEC, "dns": {"policy": policy}}
    desired = manifests(observe(spec=spec))
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {"us": EndpointSummary(ready=1), "eu": EndpointSummary(ready=1)}
    observation = dataclasses.replace(
        observe(spec=spec, services=services, endpoints=endpoints), provider_health=health or {}
    )
    return plan_reconcile(observation, ROUTE53, plan_member_writes(observation, ROUTE53), {})


def checked_shares(records: tuple[RecordSet, ...] | None) -> dict[str, str]:
    """The first address of each checked share → its set identifier."""
    assert records is not None
    return {
        addresses[0]: identifier
        for record in records
        for identifier, addresses in read_shares(record).items()
        if read_health_check(identifier) is not None
    }


def test_each_shard_shows_its_shares_check_unknown_until_the_provider_said_and_health_stays_ours() -> None:
    policy = {"type": "weighted", "healthCheck": CHECK}
    first = reconcile(policy)
    shares = checked_shares(first.records)
    assert set(shares) == {"127.0.0.10", "127.0.0.20"}
    before = {s.cluster: s.provider_health for s in first.status.shards}
    assert {c: (h.state, h.address) for c, h in before.items() if h is not None} == {
        "us": ("Unknown", "127.0.0.10"),
        "eu": ("Unknown", "127.0.0.20"),
    }
    said = {
        shares["127.0.0.10"]: ProviderHealth("Healthy", "hc-us", "1 of 1 checkers succeed"),
        shares["127.0.0.20"]: ProviderHealth("Unhealthy", "hc-eu", "0 of 1 checkers succeed: Failure"),
    }
    after = reconcile(policy, said)
    shards = {s.cluster: s for s in after.status.shards}
    us, eu = shards["us"].provider_health, shards["eu"].provider_health
    assert us is not None
    assert eu is not None
    assert (us.state, us.health_check_id) == ("Healthy", "hc-us")
    assert (eu.state, eu.health_check_id, eu.address) == ("Unhealthy", "hc-eu", "127.0.0.20")
    # Reported, not decided on: the operator's own verdict and the records are the same either way.
    assert shards["eu"].healthy is True
    assert after.records == first.records
    healthy = {c.type: c.status for c in after.status.conditions}["Healthy"]
    assert healthy == {c.type: c.status for c in first.status.conditions}["Healthy"]
    failed = [e for e in after.events if e.reason == "ProviderHealthCheckFailed"]
    assert [(e.topic, e.type) for e in failed] == [("provider-health/eu", "Warning")]
    assert "hc-eu" in failed[0].message
    assert "127.0.0.20" in failed[0].message
    assert "provider-health/us" in after.cleared
    written = after.status.model_dump(mode="json", exclude_none=True)
    assert {s["cluster"]: s["providerHealth"]["state"] for s in written["shards"]} == {
        "us": "Healthy",
        "eu": "Unhealthy",
    }


def test_without_health_checks_no_shard_carries_provider_health() -> None:
    plan = reconcile({"type": "weighted"})
    assert {s.provider_health for s in plan.status.shards} == {None}
    written = plan.status.model_dump(mode="json", exclude_none=True)
    assert all("providerHealth" not in s for s in written["shards"])


def test_under_geolocation_a_shard_shows_its_locations_check_not_the_defaults() -> None:
    policy = {"type": "geolocation", "healthCheck": CHECK}
    plan = reconcile(policy)
    assert plan.records is not None
    (group,) = [r for r in plan.records if r.type == "GEO"]
    # Each shard is in its location's share and in the default '*', which holds both (its check probes us).
    (default,) = [i for i, addresses in read_shares(group).items() if len(addresses) == 2]
    said = {default: ProviderHealth("Unhealthy", "hc-default")}
    shards = {s.cluster: s.provider_health for s in reconcile(policy, said).status.shards}
    eu, us = shards["eu"], shards["us"]
    assert eu is not None
    assert us is not None
    assert (eu.state, eu.address) == ("Unknown", "127.0.0.20")  # its own location's check, not yet said
    assert (us.state, us.address) == (
        "Unknown",
        "127.0.0.10",
    )  # the default probes it too: its location first


def test_under_failover_the_primary_and_the_secondary_show_their_own_checks() -> None:
    policy = {
        "type": "failover",
        "groups": [{"clusters": ["us"]}, {"clusters": ["eu"]}],
        "healthCheck": CHECK,
    }
    plan = reconcile(policy)
    (group,) = [r for r in (plan.records or ()) if r.type == "FAILOVER"]
    by_address = checked_shares((group,))
    assert set(by_address) == {"127.0.0.10", "127.0.0.20"}  # the PRIMARY (us) and the SECONDARY (eu)
    said = {by_address["127.0.0.20"]: ProviderHealth("Unhealthy", "hc-secondary")}
    shards = {s.cluster: s.provider_health for s in reconcile(policy, said).status.shards}
    us, eu = shards["us"], shards["eu"]
    assert us is not None
    assert eu is not None
    assert (us.state, us.address) == ("Unknown", "127.0.0.10")
    assert (eu.state, eu.health_check_id, eu.address) == ("Unhealthy", "hc-secondary", "127.0.0.20")


def test_fedctl_status_shows_the_provider_health_column_only_when_a_shard_has_one() -> None:
    plain = render_service(service_view(FSVC), None, None)
    assert not any("PROVIDER HEALTH" in line for line in plain)
    status = dict(FSVC["status"])
    status["shards"] = [
        {
            **status["shards"][0],
            "weight": 1,
            "answering": True,
            "providerHealth": {"state": "Unhealthy", "healthCheckId": "hc-1", "address": "127.1.0.1"},
        },
        {**status["shards"][1], "weight": 1, "answering": False},
    ]
    lines = render_service(service_view({**FSVC, "status": status}), None, None)
    header = next(line for line in lines if line.strip().startswith("CLUSTER"))
    assert header.split()[-2:] == ["PROVIDER", "HEALTH"]
    asia = next(line for line in lines if line.startswith("  gce-asia-east1  "))
    assert asia.split()[-2:] == ["Unhealthy", "(hc-1)"]
    ShardStatus.model_validate(status["shards"][0])  # the status model takes what the CRD schema allows


class CheckingProvider(InMemoryProvider):
    """The in-memory provider with health checks of its own: what ``said`` holds, one call per check."""

    def __init__(self, zone: str) -> None:
        super().__init__(zone)
        self.said: dict[str, ProviderHealth] = {}
        self.asked: list[set[str]] = []

    async def health_check_states(self, identifiers: Collection[str]) -> dict[str, ProviderHealth] | None:
        self.asked.append(set(identifiers))
        return {i: self.said[i] for i in identifiers if i in self.said}

    async def collect_health_checks(self) -> None:
        pass


def weighted_records(name: str, address: str, check: bool) -> tuple[RecordSet, ...]:
    check_of = HealthCheck("TCP", 80) if check else None
    identifier = with_health_check(weighted_set_identifier(name, 1, [address]), check_of)
    return (RecordSet(name, "WEIGHTED", 60, (f"{identifier} 1 {address}",)),)


async def test_the_poll_requeues_only_owners_whose_shares_changed_and_asks_nothing_without_checks() -> None:
    provider = CheckingProvider("example.com")
    notified: list[tuple[str, str]] = []
    publisher = Publisher(provider, federation="myfederation", on_result=notified.append)
    plain, checked, other = ("ns", "plain"), ("ns", "checked"), ("ns", "other")
    publisher.submit(plain, weighted_records("plain.example.com.", "127.0.0.1", check=False))
    await publisher.poll_health()
    assert provider.asked == []  # no share asks for a health check: no provider call
    publisher.submit(checked, weighted_records("checked.example.com.", "127.0.0.2", check=True))
    publisher.submit(other, weighted_records("other.example.com.", "127.0.0.3", check=True))
    (mine,) = read_shares(weighted_records("checked.example.com.", "127.0.0.2", check=True)[0])
    (theirs,) = read_shares(weighted_records("other.example.com.", "127.0.0.3", check=True)[0])
    provider.said = {mine: ProviderHealth("Healthy", "hc-1"), theirs: ProviderHealth("Healthy", "hc-2")}
    notified.clear()
    await publisher.poll_health()
    assert provider.asked == [{mine, theirs}]
    assert sorted(notified) == [checked, other]
    assert publisher.provider_health(checked) == {mine: ProviderHealth("Healthy", "hc-1")}
    assert publisher.provider_health(plain) == {}
    # Same states (another message): nobody is re-queued. One turns Unhealthy: only its owner is.
    notified.clear()
    provider.said = {**provider.said, mine: ProviderHealth("Healthy", "hc-1", "16 of 16 checkers succeed")}
    await publisher.poll_health()
    assert notified == []
    provider.said = {**provider.said, theirs: ProviderHealth("Unhealthy", "hc-2")}
    await publisher.poll_health()
    assert notified == [other]
    assert publisher.provider_health(other)[theirs].state == "Unhealthy"


async def test_the_poll_reads_only_the_owners_indexed_with_checked_shares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The index of owners with checked shares follows submit, a resubmission without checks, withdrawal,
    orphan collection and forget; a poll reads only those owners' records (issue 15: not every owner's
    records every 30 s), and asks the provider nothing once none is left."""
    provider = CheckingProvider("example.com")
    publisher = Publisher(provider, federation="myfederation", on_result=lambda _key: None)
    checked, other = ("ns", "checked"), ("ns", "other")
    for i in range(200):  # owners without health checks: the poll must not read their records
        plain = weighted_records(f"p{i}.example.com.", "127.0.1.1", check=False)
        publisher.submit(("ns", f"plain-{i}"), plain)
    publisher.submit(checked, weighted_records("checked.example.com.", "127.0.0.2", check=True))
    publisher.submit(other, weighted_records("other.example.com.", "127.0.0.3", check=True))
    (mine,) = read_shares(weighted_records("checked.example.com.", "127.0.0.2", check=True)[0])
    (theirs,) = read_shares(weighted_records("other.example.com.", "127.0.0.3", check=True)[0])
    assert publisher.checked_owners == {checked, other}

    read: list[RecordSet] = []

    def counting_read_shares(record: RecordSet) -> dict[str, tuple[str, ...]]:
        read.append(record)
        return read_shares(record)

    monkeypatch.setattr(publisher_module, "read_shares", counting_read_shares)
    await publisher.poll_health()
    assert provider.asked == [{mine, theirs}]
    assert {r.name for r in read} <= {"checked.example.com.", "other.example.com."}

    # Resubmitted without checks: out of the index; its shares are not asked about any more.
    publisher.submit(checked, weighted_records("checked.example.com.", "127.0.0.2", check=False))
    assert publisher.checked_owners == {other}
    await publisher.poll_health()
    assert provider.asked[-1] == {theirs}
    # With checks again, then forgotten (a cleanup done), and the other withdrawn: none left, no call.
    publisher.submit(checked, weighted_records("checked.example.com.", "127.0.0.2", check=True))
    assert publisher.checked_owners == {checked, other}
    publisher.forget(checked)
    withdrawal = asyncio.create_task(publisher.withdraw(other))
    await asyncio.sleep(0)  # the withdrawal asked for; no loop runs here, so it stays pending
    assert publisher.checked_owners == set()
    withdrawal.cancel()
    await asyncio.gather(withdrawal, return_exceptions=True)
    asked = len(provider.asked)
    await publisher.poll_health()  # forgets what the provider last said (nothing wanted any more)
    await publisher.poll_health()
    assert len(provider.asked) == asked
