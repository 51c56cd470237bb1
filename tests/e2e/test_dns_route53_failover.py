"""Failover with healthCheck on Route 53 through the operator process, against moto's server: the global
name becomes a PRIMARY failover set (the first group) and a SECONDARY (the next), each naming a health check
of ours; both shards say they may be answered; a primary backend failure moves the primary to the next
group and the standby to the one after; deleting the object leaves no record set and no health check."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.operator import OperatorProcess, eventually, is_member_ready

from tests.dns_fixtures import create_zone, new_client, running_moto
from tests.e2e.conftest import Control, in_place_of_the_sessions
from tests.e2e.test_dns import Seed, member_names

pytestmark = [pytest.mark.e2e, pytest.mark.dns]


@pytest.fixture
def moto(fake_aws_credentials: None) -> Iterator[str]:
    """moto's standalone server on loopback for this test alone, and fake AWS keys the operator process
    inherits (tests/dns_fixtures.py)."""
    with running_moto() as url:
        yield url


@pytest.fixture
def route53(
    moto: str,
    operator: OperatorProcess,
    control: Control,
    registered: LocalFederation,
    tmp_path: Path,
) -> Iterator[tuple[Any, str]]:
    """An operator publishing the federation's zone to a Route 53 hosted zone on moto, in place of the
    session's (restored afterwards); the boto3 client and the hosted zone's id."""
    assert registered.dns is not None
    route53_client = new_client(moto)
    zone_id = create_zone(route53_client, registered.dns.zone)
    # The federation without its BIND: the operator's DNS settings are Route 53's alone.
    bare = copy.copy(registered)
    bare.dns = None
    operator.stop()
    own = OperatorProcess(
        bare,
        tmp_path / "operator.log",
        unreachable_grace_seconds="20",
        dns_provider="route53",
        dns_zone=registered.dns.zone,
        dns_options=json.dumps({"endpoint_url": moto, "hosted_zone_id": zone_id, "max_retries": "2"}),
    )
    with in_place_of_the_sessions(own, operator, registered, control):
        eventually(
            "every MemberCluster Ready under the Route 53 operator",
            lambda: own.alive() and all(is_member_ready(registered, m.spec.name) for m in registered.members),
            timeout=90,
        )
        yield route53_client, zone_id


def failover_sets(
    route53_client: Any, zone_id: str, name: str
) -> dict[str, tuple[frozenset[str], str | None]]:
    """The failover A record sets at ``name``: role → (addresses, HealthCheckId)."""
    records = route53_client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {
        r["Failover"]: (frozenset(v["Value"] for v in r["ResourceRecords"]), r.get("HealthCheckId"))
        for r in records
        if r["Name"] == name and r["Type"] == "A" and "Failover" in r
    }


def health_check_ids(route53_client: Any) -> set[str]:
    return {c["Id"] for c in route53_client.list_health_checks()["HealthChecks"]}


def test_route53_fails_over_between_the_primary_and_the_standby_the_operator_plans(
    route53: tuple[Any, str], registered: LocalFederation
) -> None:
    route53_client, zone_id = route53
    namespace = f"r53-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    seed = Seed(registered, "nginx", namespace)
    primary, backup, *rest = member_names(registered)
    seed.create(
        policy={
            "type": "failover",
            "groups": [{"clusters": [primary]}, {"clusters": [backup]}],
            "healthCheck": {"protocol": "TCP", "port": 80, "intervalSeconds": 10},
        }
    )
    for cluster in member_names(registered):
        seed.start_backends(cluster)
    addresses = {
        c: eventually(f"address in {c}", lambda c=c: seed.address(c)) for c in member_names(registered)
    }
    name = seed.global_name()

    def roles() -> dict[str, frozenset[str]]:
        return {role: held for role, (held, _) in failover_sets(route53_client, zone_id, name).items()}

    eventually(
        "PRIMARY is the first group, SECONDARY the next",
        lambda: (
            roles()
            == {"PRIMARY": frozenset({addresses[primary]}), "SECONDARY": frozenset({addresses[backup]})}
        ),
        timeout=60,
    )
    # Each set names a health check of ours, and no other health check exists.
    named = {check for _, check in failover_sets(route53_client, zone_id, name).values()}
    assert None not in named
    assert named == health_check_ids(route53_client)
    status = eventually(
        "status says both may be answered",
        lambda: (s := seed.get().get("status", {})) and len(s.get("shards", [])) == len(addresses) and s,
    )
    shards = {s["cluster"]: (s["priority"], s.get("answering")) for s in status["shards"]}
    assert shards == {primary: (1, True), backup: (2, True), **{c: (3, False) for c in rest}}

    # The primary's backends fail: the backup is the primary, the clusters no group names the standby.
    registered.set_backends_ready(primary, namespace, f"run={seed.name}", ready=False)
    eventually(
        "the primary moves to the next group",
        lambda: (
            roles()
            == {
                "PRIMARY": frozenset({addresses[backup]}),
                "SECONDARY": frozenset(addresses[c] for c in rest),
            }
        ),
        timeout=60,
    )
    eventually(
        "the replaced health checks are gone",
        lambda: (
            {c for _, c in failover_sets(route53_client, zone_id, name).values()}
            == health_check_ids(route53_client)
        ),
    )

    seed.delete_and_wait()
    assert failover_sets(route53_client, zone_id, name) == {}
    assert health_check_ids(route53_client) == set()
