"""In-cluster discovery on a member's real CoreDNS (#11).

A Pod's lookup of `nginx.<ns>.myfederation`, resolved with the Pod's search path against the member's
CoreDNS, answers the member's own ClusterIP while its shard is healthy, a CNAME to the public zone name
(followed through BIND to the other regions' addresses) when its backends go unready, and local again once
they are back; other names answer as before; the status says which; `fedctl discovery disable` restores the
Corefile byte for byte."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.federation import ClusterState
from localfed.operator import (
    FEDERATION,
    JOIN_PROBE_FLAGS,
    OperatorProcess,
    eventually,
    fedctl_flags,
    is_member_ready,
    register_member,
)

from federation_operator.cli import main as fedctl
from federation_operator.planning.discovery import ANSWER_TTL
from tests.e2e.test_dns import Seed, serve_everywhere

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

MEMBER = "gce-us-central1"
POD_NAMESPACE = "default"
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class PodAnswer:
    """What a Pod's stub resolver gets: the name that answered, the CNAME chain, the addresses at its end."""

    name: str
    owner: str  # the owner name of the answer's first record: must be the name asked (or a resolver drops it)
    cnames: tuple[str, ...]
    addresses: frozenset[str]
    ttl: int  # the longest TTL in the answer: how long a cache may keep it


def search_names(name: str, pod_namespace: str, ndots: int = 5) -> list[str]:
    """The names a Pod's resolver tries, in order (resolv.conf: the kubelet's search path, `ndots:5`)."""
    search = [f"{pod_namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
    expanded = [f"{name}.{suffix}." for suffix in search]
    absolute = f"{name.rstrip('.')}."
    return [absolute, *expanded] if name.count(".") >= ndots else [*expanded, absolute]


def resolve_like_pod(member: ClusterState, name: str) -> PodAnswer | None:
    """Resolve ``name`` as a Pod of ``member`` would: each search name in turn until one has an answer."""
    assert member.dns is not None
    for candidate in search_names(name, POD_NAMESPACE):
        query = dns.message.make_query(candidate, "A")
        response = dns.query.udp(query, "127.0.0.1", port=member.dns.dns, timeout=3)
        if response.rcode() != dns.rcode.NOERROR or not response.answer:
            continue  # NXDOMAIN or no data: the resolver goes on with the next search name
        records = [(rrset.rdtype, r) for rrset in response.answer for r in rrset]
        cnames = tuple(r.target.to_text() for kind, r in records if kind == dns.rdatatype.CNAME)
        addresses = frozenset(r.address for kind, r in records if kind == dns.rdatatype.A)
        ttl = max(rrset.ttl for rrset in response.answer)
        return PodAnswer(candidate, response.answer[0].name.to_text(), cnames, addresses, ttl)
    return None


def run_fedctl(fed: LocalFederation, *argv: str) -> None:
    assert fedctl([*fedctl_flags(fed), "--quiet", *argv]) == 0


def corefile(fed: LocalFederation, cluster: str) -> str:
    core = client.CoreV1Api(fed.api_client(cluster))
    return str(core.read_namespaced_config_map("coredns", "kube-system").data["Corefile"])


def member_labels(fed: LocalFederation, cluster: str) -> dict[str, str]:
    mc = client.CustomObjectsApi(fed.api_client("federation")).get_cluster_custom_object(
        "fedop.io", "v1alpha1", "memberclusters", cluster
    )
    return dict(mc["metadata"].get("labels") or {})


def discovery_services(fed: LocalFederation, cluster: str, namespace: str) -> list[str]:
    """The discovery Services in ``cluster`` of FederatedServices in ``namespace`` (the session's other tests
    leave FederatedServices of their own, which get theirs too)."""
    services = client.CoreV1Api(fed.api_client(cluster)).list_namespaced_service(
        f"fedop-discovery-{FEDERATION}"
    )
    return sorted(s.metadata.name for s in services.items if s.metadata.name.endswith(f"--{namespace}"))


@pytest.fixture
def discovery(operator: OperatorProcess, registered: LocalFederation) -> Iterator[ClusterState]:
    """Discovery on in one member for the test; off again at the end, and its Corefile as it was."""
    original = corefile(registered, MEMBER)
    run_fedctl(registered, "discovery", "enable", MEMBER)
    try:
        yield registered.clusters[MEMBER]
    finally:
        run_fedctl(registered, "discovery", "disable", MEMBER)
    assert corefile(registered, MEMBER) == original
    labels = member_labels(registered, MEMBER)
    assert "fedop.io/discovery" not in labels
    assert "fedop.io/discovery-zone" not in labels
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


@pytest.fixture
def seed(operator: OperatorProcess, registered: LocalFederation) -> Iterator[Seed]:
    namespace = f"disc-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    yield Seed(registered, "nginx", namespace)
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def cluster_ip(fed: LocalFederation, cluster: str, namespace: str, name: str) -> str:
    svc = client.CoreV1Api(fed.api_client(cluster)).read_namespaced_service(name, namespace)
    return str(svc.spec.cluster_ip)


def discovery_state(seed: Seed, cluster: str) -> str | None:
    for entry in (seed.get().get("status") or {}).get("discovery") or []:
        if entry["cluster"] == cluster:
            return str(entry["state"])
    return None


def test_pod_lookup_answers_locally_falls_back_to_the_zone_name_and_comes_back(
    discovery: ClusterState, seed: Seed
) -> None:
    fed = seed.fed
    enabled = corefile(fed, MEMBER)
    assert f"fedop.io/discovery {FEDERATION}: begin" in enabled
    assert member_labels(fed, MEMBER)["fedop.io/discovery"] == CLUSTER_DOMAIN

    addresses = serve_everywhere(seed)
    local_ip = cluster_ip(fed, MEMBER, seed.namespace, seed.name)
    short = f"{seed.name}.{seed.namespace}.{FEDERATION}"
    fqdn = f"{short}.svc.{CLUSTER_DOMAIN}"
    local_target = f"{seed.name}.{seed.namespace}.svc.{CLUSTER_DOMAIN}."

    # Healthy: the member's own ClusterIP, by the short name (third search name) and by the full name.
    local = eventually(
        "the member's CoreDNS answers its own ClusterIP",
        lambda: (a := resolve_like_pod(discovery, short)) is not None and a.addresses == {local_ip} and a,
        timeout=60,
    )
    assert local.name == f"{fqdn}."
    assert local.owner == f"{fqdn}."  # the answer is named as asked (rewritten back)
    assert local.cnames == (local_target,)
    assert local.ttl <= ANSWER_TTL  # a cache keeps the answer no longer than that after health changes
    assert resolve_like_pod(discovery, fqdn) == local
    assert discovery_state(seed, MEMBER) == "Local"

    # Names of ordinary Services answer exactly as before.
    ordinary = resolve_like_pod(discovery, f"{seed.name}.{seed.namespace}")
    assert ordinary is not None
    assert ordinary.cnames == ()
    assert ordinary.addresses == {local_ip}
    assert ordinary.ttl == 30  # the kubernetes plugin's own (the harness's Corefile says `ttl 30`): untouched
    kubernetes = resolve_like_pod(discovery, "kubernetes.default")
    assert kubernetes is not None
    assert kubernetes.addresses == {cluster_ip(fed, MEMBER, "default", "kubernetes")}
    # A member without discovery does not know the name.
    other = fed.clusters["gce-asia-east1"]
    assert resolve_like_pod(other, short) is None

    # The local backends go unready: a CNAME to the member's zone name, which BIND chains to the others.
    fed.set_backends_ready(MEMBER, seed.namespace, f"run={seed.name}", ready=False)
    zone = fed.clusters[MEMBER].spec.zones[0]
    zone_name = f"{seed.name}.{seed.namespace}.{FEDERATION}.svc.{zone}.{seed.domain}."
    everyone_else = frozenset(a for c, a in addresses.items() if c != MEMBER)
    fallback = eventually(
        "the member's CoreDNS answers the zone name, resolved through BIND",
        lambda: (
            (a := resolve_like_pod(discovery, short)) is not None
            and a.cnames[:1] == (zone_name,)
            and a.addresses == everyone_else
            and a
        ),
        timeout=30,
    )
    assert fallback.owner == f"{fqdn}."
    assert fallback.ttl <= ANSWER_TTL
    assert local_ip not in fallback.addresses
    eventually("status says Fallback", lambda: discovery_state(seed, MEMBER) == "Fallback")

    # Back to healthy: local again.
    fed.set_backends_ready(MEMBER, seed.namespace, f"run={seed.name}", ready=True)
    eventually(
        "the member's CoreDNS answers its own ClusterIP again",
        lambda: (a := resolve_like_pod(discovery, short)) is not None and a.addresses == {local_ip} and a,
        timeout=30,
    )
    eventually("status says Local", lambda: discovery_state(seed, MEMBER) == "Local")

    # Deleting the FederatedService removes its discovery Service from the member.
    assert discovery_services(fed, MEMBER, seed.namespace) == [f"{seed.name}--{seed.namespace}"]
    seed.delete_and_wait()
    assert discovery_services(fed, MEMBER, seed.namespace) == []
    assert resolve_like_pod(discovery, short) is None


def test_restart_collects_orphans_and_rewrites_what_someone_deleted(
    discovery: ClusterState, seed: Seed, operator: OperatorProcess
) -> None:
    fed = seed.fed
    kept = seed
    gone = Seed(fed, "gone", seed.namespace)
    for each in (kept, gone):
        each.create()
        each.start_backends(MEMBER)
    expected = sorted(f"{s.name}--{s.namespace}" for s in (kept, gone))
    eventually(
        "both discovery Services written", lambda: discovery_services(fed, MEMBER, seed.namespace) == expected
    )

    operator.stop()
    try:
        # While it is stopped: one FederatedService goes without its cleanup (its finalizer removed by hand),
        # and someone deletes the other's discovery Service.
        gone.custom.patch_namespaced_custom_object(
            "fedop.io", "v1alpha1", gone.namespace, "federatedservices", gone.name,
            {"metadata": {"finalizers": None}},
        )  # fmt: skip
        gone.delete()
        client.CoreV1Api(fed.api_client(MEMBER)).delete_namespaced_service(
            f"{kept.name}--{kept.namespace}", f"fedop-discovery-{FEDERATION}"
        )
    finally:
        operator.start()
    # The first orphan pass (when the member has been listed) removes the orphan and lists what is left
    # afresh, so the deleted one is written again.
    eventually(
        "orphan collected and the deleted one written again",
        lambda: discovery_services(fed, MEMBER, seed.namespace) == [f"{kept.name}--{kept.namespace}"],
        timeout=60,
    )
    local_ip = cluster_ip(fed, MEMBER, kept.namespace, kept.name)
    eventually(
        "the kept one answers locally",
        lambda: (
            (a := resolve_like_pod(discovery, f"{kept.name}.{kept.namespace}.{FEDERATION}")) is not None
            and a.addresses == {local_ip}
        ),
        timeout=30,
    )
    assert resolve_like_pod(discovery, f"{gone.name}.{gone.namespace}.{FEDERATION}") is None
    kept.delete_and_wait()


def test_a_name_discovery_cannot_map_is_reported_on_the_object(
    discovery: ClusterState, operator: OperatorProcess, registered: LocalFederation
) -> None:
    namespace = f"d--{uuid.uuid4().hex[:6]}"  # the answer is mapped back at the last '--': ambiguous
    host = client.CoreV1Api(registered.api_client("federation"))
    host.create_namespace({"metadata": {"name": namespace}})
    seed = Seed(registered, "nginx", namespace)
    seed.create()
    try:
        entry = eventually(
            "status.discovery says why",
            lambda: next(iter((seed.get().get("status") or {}).get("discovery") or []), None),
        )
        assert entry["cluster"] == MEMBER
        assert entry["state"] == "Off"
        assert "contains '--'" in entry["message"]
        eventually(
            "a DiscoveryUnavailable Warning event",
            lambda: any(
                e.reason == "DiscoveryUnavailable" and e.type == "Warning"
                for e in host.list_namespaced_event(namespace).items
            ),
        )
        assert discovery_services(registered, MEMBER, namespace) == []
    finally:
        seed.delete_and_wait()


def test_unjoin_removes_the_rule_and_the_namespace(
    discovery: ClusterState, operator: OperatorProcess, registered: LocalFederation
) -> None:
    fed = registered
    assert f"fedop.io/discovery {FEDERATION}: begin" in corefile(fed, MEMBER)
    run_fedctl(fed, "unjoin", MEMBER)
    try:
        assert f"fedop.io/discovery {FEDERATION}" not in corefile(fed, MEMBER)
        core = client.CoreV1Api(fed.api_client(MEMBER))
        names = {n.metadata.name for n in core.list_namespace().items}
        assert f"fedop-discovery-{FEDERATION}" not in names
    except BaseException:
        register_member(fed, fed.clusters[MEMBER])
        raise
    # Joined again with --discovery: the rule and the labels are back in one step.
    spec = fed.clusters[MEMBER].spec
    try:
        run_fedctl(
            fed, "join", MEMBER, "--region", spec.region or "", "--zones", ",".join(spec.zones),
            *JOIN_PROBE_FLAGS, "--discovery",
        )  # fmt: skip
    except BaseException:
        register_member(fed, fed.clusters[MEMBER])  # the session keeps its member, whatever failed
        raise
    eventually("member Ready again", lambda: is_member_ready(fed, MEMBER), timeout=60)
    assert f"fedop.io/discovery {FEDERATION}: begin" in corefile(fed, MEMBER)
    assert member_labels(fed, MEMBER)["fedop.io/discovery"] == CLUSTER_DOMAIN
    # The fixture's disable then restores the Corefile as it was before the first enable.
