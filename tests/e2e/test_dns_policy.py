"""spec.dns.policy on the local federation against the real BIND: failover answers the first group with a
healthy shard at the global name and fails over and back as backends fail and recover, switching policy on a
live object never leaves the global name without an answer, and the API server and the operator refuse what
the schema or the provider (RFC 2136) cannot take."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.operator import GROUP, VERSION, OperatorProcess, condition, eventually

from tests.e2e.test_dns import Answer, Seed, ask, member_names, start_backends_everywhere

pytestmark = [pytest.mark.e2e, pytest.mark.dns]


class PolicySeed(Seed):
    """A seed-shaped FederatedService created with a ``spec.dns.policy``."""

    def create_with(self, policy: dict[str, Any] | None) -> None:
        self.create(**({"policy": policy} if policy is not None else {}))

    def set_policy(self, policy: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "federatedservices",
            self.name,
            {"spec": {"dns": {"policy": policy}}},
        )


@pytest.fixture
def seed(operator: OperatorProcess, registered: LocalFederation) -> Iterator[PolicySeed]:
    namespace = f"policy-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    yield PolicySeed(registered, "nginx", namespace)
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def failover(*groups: list[str]) -> dict[str, Any]:
    return {"type": "failover", "groups": [{"clusters": g} for g in groups]}


def test_failover_answers_the_first_healthy_group_and_fails_over_and_back(seed: PolicySeed) -> None:
    primary, backup, *rest = member_names(seed.fed)
    seed.create_with(failover([primary], [backup]))
    addresses = start_backends_everywhere_under_failover(seed, primary)
    # Region names keep their geo meaning: every member's region answers its own shard.
    for member in seed.fed.members:
        region = ask(seed.fed, seed.tier_name(member.spec.region or ""))
        assert region == Answer("NOERROR", (), frozenset({addresses[member.spec.name]}))

    seed.fed.set_backends_ready(primary, seed.namespace, f"run={seed.name}", ready=False)
    eventually(
        "global name fails over to the backup group",
        lambda: ask(seed.fed, seed.global_name()).addresses == {addresses[backup]},
    )
    # The primary's region has no healthy shard: a CNAME to the global name, which follows the failover.
    region = seed.fed.members[0].spec.region or ""
    answer = ask(seed.fed, seed.tier_name(region))
    assert answer.cnames[0] == seed.global_name()
    assert answer.addresses == {addresses[backup]}
    published = eventually(
        "DNSPublished says which group answers",
        lambda: (c := condition(seed.get(), "DNSPublished")) and "failover" in c["message"] and c,
    )
    assert f"answers group 2 ({backup})" in published["message"]
    status = seed.get()["status"]
    assert status["dns"]["policy"] == "failover"
    shards = {s["cluster"]: (s["priority"], s.get("answering")) for s in status["shards"]}
    assert shards == {primary: (1, False), backup: (2, True), **{c: (3, False) for c in rest}}

    # The backup fails too: the clusters no group names form the last group.
    seed.fed.set_backends_ready(backup, seed.namespace, f"run={seed.name}", ready=False)
    eventually(
        "global name falls to the implicit last group",
        lambda: ask(seed.fed, seed.global_name()).addresses == {addresses[c] for c in rest},
    )

    seed.fed.set_backends_ready(primary, seed.namespace, f"run={seed.name}", ready=True)
    eventually(
        "global name fails back to the primary",
        lambda: ask(seed.fed, seed.global_name()).addresses == {addresses[primary]},
    )
    seed.fed.set_backends_ready(backup, seed.namespace, f"run={seed.name}", ready=True)
    seed.delete_and_wait()
    assert ask(seed.fed, seed.global_name()).rcode == "NXDOMAIN"


def start_backends_everywhere_under_failover(seed: PolicySeed, primary: str) -> dict[str, str]:
    for cluster in member_names(seed.fed):
        seed.start_backends(cluster)
    addresses = {
        c: eventually(f"address in {c}", lambda c=c: seed.address(c)) for c in member_names(seed.fed)
    }
    eventually(
        "every region answers its own shard",
        lambda: all(
            ask(seed.fed, seed.tier_name(m.spec.region or "")).addresses == {addresses[m.spec.name]}
            for m in seed.fed.members
        ),
        timeout=60,
    )
    # Every shard is healthy (its region answers it), yet the global name answers the primary only.
    assert ask(seed.fed, seed.global_name()).addresses == {addresses[primary]}
    return addresses


def test_switching_policy_on_a_live_object_never_leaves_the_global_name_unanswered(seed: PolicySeed) -> None:
    seed.create_with(None)
    addresses = start_backends_everywhere(seed)
    primary = member_names(seed.fed)[0]
    answers: list[Answer] = []

    def switched(to: frozenset[str]) -> bool:
        answers.append(ask(seed.fed, seed.global_name()))
        return answers[-1].addresses == to

    seed.set_policy(failover([primary]))
    eventually("global name answers the primary only", lambda: switched(frozenset({addresses[primary]})))
    # A merge patch: groups must be removed explicitly, they apply to failover only.
    seed.set_policy({"type": "tiered", "groups": None})
    eventually("global name answers everyone again", lambda: switched(frozenset(addresses.values())))
    # Each switch replaced the A record set in one UPDATE: every answer on the way had addresses.
    assert all(a.rcode == "NOERROR" and a.addresses for a in answers), answers


def test_the_api_server_and_the_operator_refuse_what_they_cannot_take(seed: PolicySeed) -> None:
    with pytest.raises(ApiException) as caught:
        seed.create_with({"type": "failover"})
    assert caught.value.status == 422
    assert "type failover needs at least one group" in str(caught.value.body)

    seed.create_with(
        {"type": "weighted", "weights": [{"clusters": [member_names(seed.fed)[0]], "weight": 5}]}
    )
    propagated = eventually(
        "the policy refused on status",
        lambda: (c := condition(seed.get(), "Propagated")) and c["reason"] == "InvalidSpec" and c,
    )
    assert (
        "spec.dns.policy.type: weighted cannot be published by the rfc2136 provider" in propagated["message"]
    )
    eventually(
        "an InvalidSpec event",
        lambda: any(
            e.reason == "InvalidSpec" and "rfc2136" in (e.message or "")
            for e in client.CoreV1Api(seed.fed.api_client("federation"))
            .list_namespaced_event(seed.namespace, field_selector=f"involvedObject.name={seed.name}")
            .items
        ),
    )
    # Nothing was written for it: no member holds its Service.
    for cluster in member_names(seed.fed):
        with pytest.raises(ApiException) as missing:
            client.CoreV1Api(seed.fed.api_client(cluster)).read_namespaced_service(seed.name, seed.namespace)
        assert missing.value.status == 404


def test_failover_with_health_check_is_taken_by_the_api_server_and_refused_on_rfc2136(
    seed: PolicySeed,
) -> None:
    with pytest.raises(ApiException) as caught:
        seed.create_with({"type": "tiered", "healthCheck": {"protocol": "TCP", "port": 80}})
    assert caught.value.status == 422
    assert "healthCheck applies to types weighted, latency, geolocation and failover only" in str(
        caught.value.body
    )
    # The schema takes healthCheck under failover (Route 53 failover record sets); plain DNS cannot run it.
    primary, *_ = member_names(seed.fed)
    seed.create_with({**failover([primary]), "healthCheck": {"protocol": "TCP", "port": 80}})
    propagated = eventually(
        "the health check refused on status",
        lambda: (c := condition(seed.get(), "Propagated")) and c["reason"] == "InvalidSpec" and c,
    )
    assert (
        "spec.dns.policy.healthCheck: health checks cannot be run by the rfc2136 provider"
        in (propagated["message"])
    )
    assert "route53" in propagated["message"]
