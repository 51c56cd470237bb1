"""The seed article's walk-through, checked in real DNS answers from BIND at every step (operator process)."""

from __future__ import annotations

import concurrent.futures
import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.bind import BindServer
from localfed.operator import GROUP, VERSION, OperatorProcess, condition, eventually, is_member_ready

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

FEDERATION = "myfederation"


@dataclass(frozen=True)
class Answer:
    """What BIND answers for a name: the CNAME chain it follows and the addresses at its end."""

    rcode: str
    cnames: tuple[str, ...]
    addresses: frozenset[str]


def ask(fed: LocalFederation, name: str) -> Answer:
    assert fed.dns is not None
    return ask_at(fed.dns, name)


def ask_at(server: BindServer, name: str) -> Answer:
    """What ``server`` answers for ``name`` (A, following CNAMEs it holds)."""
    response = dns.query.udp(dns.message.make_query(name, "A"), server.address, port=server.port, timeout=3)
    cnames: list[str] = []
    addresses: set[str] = set()
    for rrset in response.answer:
        for record in rrset:
            if rrset.rdtype == dns.rdatatype.CNAME:
                cnames.append(record.target.to_text())
            elif rrset.rdtype == dns.rdatatype.A:
                addresses.add(record.address)
    return Answer(dns.rcode.to_text(response.rcode()), tuple(cnames), frozenset(addresses))


class Seed:
    """One FederatedService of the seed article's shape, in its own namespace, and its DNS names."""

    def __init__(self, fed: LocalFederation, name: str, namespace: str) -> None:
        self.fed = fed
        self.name = name
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(fed.api_client("federation"))
        assert fed.dns is not None
        self.domain = fed.dns.zone

    def global_name(self) -> str:
        return f"{self.name}.{self.namespace}.{FEDERATION}.svc.{self.domain}."

    def tier_name(self, label: str) -> str:
        return f"{self.name}.{self.namespace}.{FEDERATION}.svc.{label}.{self.domain}."

    def create(self, **dns: Any) -> None:
        """Create it, with ``dns`` beside a 30 s TTL in spec.dns (aliases, a policy)."""
        self.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "federatedservices",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "FederatedService",
                "metadata": {"name": self.name},
                "spec": {
                    "template": {
                        "spec": {"selector": {"run": self.name}, "ports": [{"name": "http", "port": 80}]}
                    },
                    "dns": {"ttl": 30, **dns},
                },
            },
        )

    def get(self) -> dict:  # type: ignore[type-arg]
        return self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "federatedservices", self.name
        )

    def delete(self) -> None:
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "federatedservices", self.name
        )

    def delete_and_wait(self) -> None:
        """Delete it and wait until it is gone (the operator's finalizer has run)."""
        self.delete()

        def gone() -> bool:
            try:
                self.get()
            except ApiException as exc:
                return exc.status == 404
            return False

        eventually(f"{self.name} deleted (the operator's finalizer ran)", gone, timeout=60)

    def start_backends(self, cluster: str) -> None:
        """The seed article's `kubectl --context=$CLUSTER run nginx --image=nginx:1.11.1-alpine --port=80`."""
        core = client.CoreV1Api(self.fed.api_client(cluster))
        # The operator creates the namespace; Pods are admitted once its default ServiceAccount exists.
        eventually(
            f"namespace in {cluster}",
            lambda: core.read_namespaced_service_account("default", self.namespace),
        )
        core.create_namespaced_pod(
            self.namespace,
            {
                "metadata": {"name": self.name, "labels": {"run": self.name}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.11.1-alpine", "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        )

    def address(self, cluster: str) -> str | None:
        """The member Service's LoadBalancer address, None until the allocator has given it one."""
        svc = client.CoreV1Api(self.fed.api_client(cluster)).read_namespaced_service(
            self.name, self.namespace
        )
        ingress = svc.status.load_balancer.ingress if svc.status and svc.status.load_balancer else None
        return str(ingress[0].ip) if ingress else None


@pytest.fixture
def seed(operator: OperatorProcess, registered: LocalFederation) -> Iterator[Seed]:
    namespace = f"dns-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    yield Seed(registered, "nginx", namespace)
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def member_names(fed: LocalFederation) -> list[str]:
    return [m.spec.name for m in fed.members]


def serve_everywhere(seed: Seed) -> dict[str, str]:
    """The FederatedService with backends in every member; each member's address once DNS has them all."""
    seed.create()
    return start_backends_everywhere(seed)


def start_backends_everywhere(seed: Seed) -> dict[str, str]:
    """Backends in every member; returns each member's LoadBalancer address once DNS has all of them."""
    for cluster in member_names(seed.fed):
        seed.start_backends(cluster)
    addresses = {
        c: eventually(f"address in {c}", lambda c=c: seed.address(c)) for c in member_names(seed.fed)
    }
    eventually(
        "global name answers every member",
        lambda: ask(seed.fed, seed.global_name()).addresses == frozenset(addresses.values()),
        timeout=60,
    )
    return addresses


def test_no_backends_means_no_records_then_every_tier_answers(seed: Seed) -> None:
    seed.create()
    for cluster in member_names(seed.fed):
        eventually(f"Service in {cluster}", lambda c=cluster: seed.address(c))
    published = eventually(
        "DNSPublished evaluated",
        lambda: (c := condition(seed.get(), "DNSPublished")) and c["status"] == "True" and c,
    )
    assert published["reason"] == "NoHealthyShards"
    assert ask(seed.fed, seed.global_name()).rcode == "NXDOMAIN"

    addresses = start_backends_everywhere(seed)
    for member in seed.fed.members:
        region = ask(seed.fed, seed.tier_name(member.spec.region or ""))
        assert region.cnames == ()
        assert region.addresses == {addresses[member.spec.name]}
        for zone in member.spec.zones:
            answer = ask(seed.fed, seed.tier_name(zone))
            # The pod runs in one of the two zones: that zone answers directly, the other via its region.
            assert answer.addresses == {addresses[member.spec.name]}, (zone, answer)
    status = seed.get()["status"]
    assert status["dns"]["globalName"] == seed.global_name()
    # The status is written after the records go out: an answer can come a moment before it.
    eventually(
        "DNSPublished=Published",
        lambda: (c := condition(seed.get(), "DNSPublished")) and c["reason"] == "Published",
    )


def test_backend_failure_falls_back_through_cnames_and_recovers(seed: Seed) -> None:
    addresses = serve_everywhere(seed)
    member = seed.fed.members[0]
    cluster, region = member.spec.name, member.spec.region or ""
    seed.fed.set_backends_ready(cluster, seed.namespace, f"run={seed.name}", ready=False)

    everyone_else = frozenset(a for c, a in addresses.items() if c != cluster)
    eventually(
        "global drops the failed member", lambda: ask(seed.fed, seed.global_name()).addresses == everyone_else
    )
    region_answer = ask(seed.fed, seed.tier_name(region))
    assert region_answer.cnames[0] == seed.global_name()
    assert region_answer.addresses == everyone_else
    for zone in member.spec.zones:
        zone_answer = ask(seed.fed, seed.tier_name(zone))
        assert zone_answer.cnames[:2] == (seed.tier_name(region), seed.global_name())
        assert zone_answer.addresses == everyone_else

    seed.fed.set_backends_ready(cluster, seed.namespace, f"run={seed.name}", ready=True)
    eventually(
        "region answers directly again",
        lambda: (
            ask(seed.fed, seed.tier_name(region)) == Answer("NOERROR", (), frozenset({addresses[cluster]}))
        ),
    )
    assert ask(seed.fed, seed.global_name()).addresses == frozenset(addresses.values())


def test_unreachable_member_keeps_its_records_for_the_grace_period_then_loses_them(
    seed: Seed, operator: OperatorProcess
) -> None:
    addresses = serve_everywhere(seed)
    cluster = seed.fed.members[1].spec.name
    seed.fed.stop_apiserver(cluster)
    try:
        eventually("member NotReady", lambda: not is_member_ready(seed.fed, cluster), timeout=30)
        # Unreachable is not unhealthy at once: right after NotReady the address is still served.
        assert addresses[cluster] in ask(seed.fed, seed.global_name()).addresses
        everyone_else = frozenset(a for c, a in addresses.items() if c != cluster)
        eventually(
            "address withdrawn after the grace period",
            lambda: ask(seed.fed, seed.global_name()).addresses == everyone_else,
            timeout=float(operator.settings["unreachable_grace_seconds"]) + 30,
        )
    finally:
        seed.fed.start_apiserver(cluster)
    eventually(
        "member back in DNS", lambda: addresses[cluster] in ask(seed.fed, seed.global_name()).addresses, 90
    )


def test_every_member_unreachable_freezes_dns(seed: Seed, operator: OperatorProcess) -> None:
    addresses = serve_everywhere(seed)
    before = ask(seed.fed, seed.global_name())
    members = member_names(seed.fed)
    # A second FederatedService, to be deleted while DNS is frozen; one backend, so it has records.
    doomed = Seed(seed.fed, "doomed", seed.namespace)
    doomed.create()
    doomed.start_backends(members[0])
    eventually("doomed published", lambda: ask(seed.fed, doomed.global_name()).addresses)
    # All at once: from the operator's side, every member stops answering in the same moment.
    with concurrent.futures.ThreadPoolExecutor(len(members)) as pool:
        list(pool.map(seed.fed.stop_apiserver, members))
    try:
        guard = eventually(
            "PartitionGuard on status",
            lambda: (c := condition(seed.get(), "DNSPublished")) and c["reason"] == "PartitionGuard" and c,
            timeout=60,
        )
        assert "frozen" in guard["message"]
        # Well past the grace period, DNS is as last published rather than empty.
        grace = float(operator.settings["unreachable_grace_seconds"])
        eventually(
            "still frozen after the grace period",
            lambda: (
                all(not is_member_ready(seed.fed, c) for c in members)
                and (c := condition(seed.get(), "DNSPublished")) is not None
                and c["reason"] == "PartitionGuard"
                and _grace_elapsed(c, grace)
            ),
            timeout=grace + 30,
        )
        assert ask(seed.fed, seed.global_name()) == before
        # Deletion is what a user asked for, not a health signal: its records go even while frozen.
        doomed.delete_and_wait()
        assert ask(seed.fed, doomed.global_name()).rcode == "NXDOMAIN"
        assert ask(seed.fed, seed.global_name()) == before
    finally:
        for cluster in members:
            seed.fed.start_apiserver(cluster)
    eventually("members Ready", lambda: all(is_member_ready(seed.fed, c) for c in members), timeout=90)
    # One status write says both: every shard healthy and those records published. `Published` alone may
    # still be the verdict of the round before the last member came back (the operator reacts to its
    # Ready a moment after the MemberCluster status says so).
    eventually(
        "DNS live again with every member", lambda: _published_with_all(seed.get(), members), timeout=90
    )
    assert ask(seed.fed, seed.global_name()).addresses == frozenset(addresses.values())


def _published_with_all(fsvc: dict, members: list[str]) -> bool:  # type: ignore[type-arg]
    published = condition(fsvc, "DNSPublished")
    counts = fsvc.get("status", {}).get("clusters") or {}
    return (
        published is not None
        and published["reason"] == "Published"
        and counts.get("healthy") == len(members) == counts.get("total")
    )


def _grace_elapsed(cond: dict, grace: float) -> bool:  # type: ignore[type-arg]
    since = datetime.datetime.fromisoformat(cond["lastTransitionTime"].replace("Z", "+00:00"))
    return (datetime.datetime.now(datetime.UTC) - since).total_seconds() > grace + 2


def test_deletion_removes_every_record_and_foreign_records_survive(seed: Seed) -> None:
    server = seed.fed.dns
    assert server is not None
    # Someone else's record sits at one of our zone names before we publish.
    foreign_zone = seed.fed.members[2].spec.zones[0]
    foreign_name = seed.tier_name(foreign_zone)
    keyring = dns.tsigkeyring.from_text({server.key_name: (server.key_algorithm, server.key_secret)})
    update = dns.update.UpdateMessage(server.zone, keyring=keyring, keyalgorithm=server.key_algorithm)
    update.add(foreign_name, 60, "A", "127.8.8.8")
    assert dns.query.tcp(update, server.address, port=server.port, timeout=5).rcode() == dns.rcode.NOERROR

    serve_everywhere(seed)
    conflict = eventually(
        "conflict reported",
        lambda: (c := condition(seed.get(), "DNSPublished")) and c["reason"] == "Conflict" and c,
        timeout=30,
    )
    assert foreign_name in conflict["message"]
    assert ask(seed.fed, foreign_name).addresses == {"127.8.8.8"}

    seed.delete_and_wait()
    assert ask(seed.fed, seed.global_name()).rcode == "NXDOMAIN"
    for member in seed.fed.members:
        assert ask(seed.fed, seed.tier_name(member.spec.region or "")).rcode == "NXDOMAIN"
    assert ask(seed.fed, foreign_name).addresses == {"127.8.8.8"}
    # No ownership record is left behind either.
    xfr = dns.query.xfr(
        server.address, server.zone, port=server.port, keyring=keyring, keyalgorithm=server.key_algorithm
    )
    names = {rrset.name.to_text() for message in xfr for rrset in message.answer}
    assert {n for n in names if seed.namespace in n} == {foreign_name.removesuffix(f".{server.zone}.")}
