"""The local federation itself, against its real processes: clusters, pods, LBs, slices, faults, BIND."""

from __future__ import annotations

import ipaddress
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import dns.zone
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.bind import BindServer
from localfed.operator import eventually

pytestmark = pytest.mark.e2e

VERSIONS = dict(
    line.split("=", 1)
    for line in (Path(__file__).parents[2] / "hack" / "versions.env").read_text().splitlines()
    if line and not line.startswith("#")
)


@pytest.fixture
def namespace(federation: LocalFederation) -> Iterator[str]:
    """A fresh namespace in every member, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    for member in federation.members:
        client.CoreV1Api(federation.api_client(member.spec.name)).create_namespace(
            {"metadata": {"name": name}}
        )
    yield name
    for member in federation.members:
        try:
            client.CoreV1Api(federation.api_client(member.spec.name)).delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def deploy_nginx(fed: LocalFederation, cluster: str, namespace: str, replicas: int = 2) -> None:
    """The seed article's backends: an nginx Deployment and a LoadBalancer Service in front of it."""
    labels = {"run": "nginx"}
    client.AppsV1Api(fed.api_client(cluster)).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "nginx", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27-alpine"}]},
                },
            },
        },
    )
    client.CoreV1Api(fed.api_client(cluster)).create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "nginx", "labels": labels},
            "spec": {"type": "LoadBalancer", "selector": labels, "ports": [{"name": "http", "port": 80}]},
        },
    )


def lb_ingress(fed: LocalFederation, cluster: str, namespace: str, name: str) -> list[str]:
    svc = client.CoreV1Api(fed.api_client(cluster)).read_namespaced_service(name, namespace)
    return [i.ip for i in (svc.status.load_balancer.ingress or [])]


def endpoints(fed: LocalFederation, cluster: str, namespace: str, service: str) -> list[Any]:
    slices = client.DiscoveryV1Api(fed.api_client(cluster)).list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}"
    )
    return [e for s in slices.items for e in (s.endpoints or [])]


def test_every_cluster_is_ready_at_the_pinned_version(federation: LocalFederation) -> None:
    rows = federation.status()
    assert [r["cluster"] for r in rows] == [
        "federation",
        "gce-asia-east1",
        "gce-europe-west1",
        "gce-us-central1",
    ]
    for row in rows:
        assert row["ready"] == "True", row
        assert row["version"] == VERSIONS["KUBERNETES_VERSION"], row
        # apiserver, controller-manager, scheduler, kwok; and CoreDNS in members
        assert row["processes"] == (5 if row["role"] == "member" else 4), row


def test_member_nodes_carry_region_and_zone_labels(federation: LocalFederation) -> None:
    for member in federation.members:
        nodes = client.CoreV1Api(federation.api_client(member.spec.name)).list_node().items
        labels = [n.metadata.labels for n in nodes]
        assert {lbl["topology.kubernetes.io/region"] for lbl in labels} == {member.spec.region}
        assert sorted(lbl["topology.kubernetes.io/zone"] for lbl in labels) == sorted(member.spec.zones)


def test_kubectl_works_with_one_context_per_cluster(federation: LocalFederation) -> None:
    out = federation.kubectl("gce-us-central1", "get", "nodes", "-L", "topology.kubernetes.io/zone").stdout
    assert "us-central1-a" in out
    assert "us-central1-b" in out
    contexts = federation.kubectl("federation", "config", "get-contexts", "-o", "name").stdout.split()
    assert sorted(contexts) == sorted(federation.clusters)


def test_each_cluster_has_its_own_ca_and_data(federation: LocalFederation) -> None:
    one, other = federation.members[0], federation.members[1]
    # A client certificate of one member means nothing to another member's apiserver.
    ctx = ssl.create_default_context(cafile=str(other.dir / "pki" / "ca.crt"))
    ctx.load_cert_chain(str(one.dir / "pki" / "admin.crt"), str(one.dir / "pki" / "admin.key"))
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{other.server}/api/v1/namespaces", context=ctx, timeout=5)
    assert denied.value.code == 401
    # Separate etcd prefixes: an object made in one cluster is absent from the other.
    name = f"only-in-{one.spec.name}"
    client.CoreV1Api(federation.api_client(one.spec.name)).create_namespace({"metadata": {"name": name}})
    try:
        with pytest.raises(ApiException) as missing:
            client.CoreV1Api(federation.api_client(other.spec.name)).read_namespace(name)
        assert missing.value.status == 404
    finally:
        client.CoreV1Api(federation.api_client(one.spec.name)).delete_namespace(name)


def test_deployment_pods_become_ready_on_kwok_nodes(federation: LocalFederation, namespace: str) -> None:
    cluster = "gce-europe-west1"
    deploy_nginx(federation, cluster, namespace, replicas=3)
    apps = client.AppsV1Api(federation.api_client(cluster))
    eventually(
        "3 ready replicas",
        lambda: apps.read_namespaced_deployment("nginx", namespace).status.ready_replicas == 3,
    )
    pods = client.CoreV1Api(federation.api_client(cluster)).list_namespaced_pod(namespace).items
    assert {p.spec.node_name.startswith(cluster) for p in pods} == {True}
    assert all(p.status.phase == "Running" and p.status.pod_ip for p in pods)


def test_loadbalancer_services_get_loopback_addresses_from_their_cluster_pool(
    federation: LocalFederation, namespace: str
) -> None:
    core_by_cluster = {
        m.spec.name: client.CoreV1Api(federation.api_client(m.spec.name)) for m in federation.members
    }
    for core in core_by_cluster.values():
        core.create_namespaced_service(
            namespace,
            {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        )
        core.create_namespaced_service(
            namespace, {"metadata": {"name": "internal"}, "spec": {"ports": [{"port": 80}]}}
        )
    seen = {}
    for cluster in core_by_cluster:
        ips = eventually(
            f"ingress of web in {cluster}", lambda c=cluster: lb_ingress(federation, c, namespace, "web")
        )
        assert len(ips) == 1
        address = ipaddress.ip_address(ips[0])
        assert address.is_loopback
        assert address in federation.lb_pool(cluster)
        seen[cluster] = address
        assert lb_ingress(federation, cluster, namespace, "internal") == []
    assert len(set(seen.values())) == len(seen)

    # Turning a LoadBalancer into a ClusterIP Service takes its address back, as a cloud would.
    cluster, core = next(iter(core_by_cluster.items()))
    core.patch_namespaced_service("web", namespace, {"spec": {"type": "ClusterIP"}})
    eventually("ingress cleared", lambda: lb_ingress(federation, cluster, namespace, "web") == [])


def test_endpointslices_list_ready_endpoints_with_their_zone(
    federation: LocalFederation, namespace: str
) -> None:
    cluster = "gce-us-central1"
    deploy_nginx(federation, cluster, namespace, replicas=4)
    ready = eventually(
        "4 ready endpoints",
        lambda: (
            (eps := endpoints(federation, cluster, namespace, "nginx"))
            and len([e for e in eps if e.conditions.ready]) == 4
            and eps
        ),
    )
    nodes = client.CoreV1Api(federation.api_client(cluster)).list_node().items
    zone_of_node = {n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes}
    for endpoint in ready:
        assert endpoint.zone == zone_of_node[endpoint.node_name]
    assert {e.zone for e in ready} <= {"us-central1-a", "us-central1-b"}


def test_backend_failure_hook_flips_endpoint_readiness(federation: LocalFederation, namespace: str) -> None:
    cluster = "gce-asia-east1"
    deploy_nginx(federation, cluster, namespace, replicas=2)

    def readiness() -> list[bool]:
        return sorted(bool(e.conditions.ready) for e in endpoints(federation, cluster, namespace, "nginx"))

    eventually("2 ready endpoints", lambda: readiness() == [True, True])
    assert federation.set_backends_ready(cluster, namespace, "run=nginx", ready=False) == 2
    eventually("endpoints not ready", lambda: readiness() == [False, False])
    assert federation.set_backends_ready(cluster, namespace, "run=nginx", ready=True) == 2
    eventually("endpoints ready again", lambda: readiness() == [True, True])


def test_outage_hook_stops_the_apiserver_and_restart_keeps_its_data(
    federation: LocalFederation, namespace: str
) -> None:
    cluster = "gce-europe-west1"
    member = federation.clusters[cluster]
    core = client.CoreV1Api(federation.api_client(cluster))
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "survivor"}, "data": {"k": "v"}})

    federation.stop_apiserver(cluster)
    try:
        ctx = ssl.create_default_context(cafile=str(member.dir / "pki" / "ca.crt"))
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{member.server}/readyz", context=ctx, timeout=2)
        others = [m.spec.name for m in federation.members if m.spec.name != cluster]
        assert all(r["ready"] == "True" for r in federation.status() if r["cluster"] in others)
    finally:
        federation.start_apiserver(cluster)

    core = client.CoreV1Api(federation.api_client(cluster))
    assert core.read_namespaced_config_map("survivor", namespace).data == {"k": "v"}
    # The rest of the cluster reconnects: a new LoadBalancer Service still gets an address.
    core.create_namespaced_service(
        namespace, {"metadata": {"name": "after"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    )
    ips = eventually("ingress after restart", lambda: lb_ingress(federation, cluster, namespace, "after"), 90)
    assert ipaddress.ip_address(ips[0]) in federation.lb_pool(cluster)


def _keyring(server: BindServer) -> dict[dns.name.Name, dns.tsig.Key]:
    return dns.tsigkeyring.from_text({server.key_name: (server.key_algorithm, server.key_secret)})


def test_bind_accepts_tsig_signed_updates_and_transfers(federation: LocalFederation) -> None:
    server = federation.dns
    assert server is not None
    name = f"probe-{uuid.uuid4().hex[:6]}"
    keyring = _keyring(server)
    update = dns.update.UpdateMessage(server.zone, keyring=keyring, keyalgorithm=server.key_algorithm)
    update.add(name, 60, "A", "127.9.9.9")
    assert dns.query.tcp(update, server.address, port=server.port, timeout=5).rcode() == dns.rcode.NOERROR

    answer = dns.query.udp(
        dns.message.make_query(f"{name}.{server.zone}.", "A"), server.address, port=server.port, timeout=5
    )
    assert [r.to_text() for rrset in answer.answer for r in rrset] == ["127.9.9.9"]

    zone = dns.zone.from_xfr(
        dns.query.xfr(
            server.address, server.zone, port=server.port, keyring=keyring, keyalgorithm=server.key_algorithm
        )
    )
    assert zone.get_rdataset(name, "A") is not None


def test_bind_serves_the_alias_zone_with_the_same_key(federation: LocalFederation) -> None:
    """acme.com, where the seed article's aliases live, is a second zone of the same server and key."""
    server = federation.dns
    assert server is not None
    assert server.zones == (server.zone, "acme.com")
    keyring = _keyring(server)
    update = dns.update.UpdateMessage("acme.com", keyring=keyring, keyalgorithm=server.key_algorithm)
    update.add("probe", 60, "CNAME", f"probe.{server.zone}.")
    assert dns.query.tcp(update, server.address, port=server.port, timeout=5).rcode() == dns.rcode.NOERROR
    answer = dns.query.udp(
        dns.message.make_query("probe.acme.com.", "CNAME"), server.address, port=server.port, timeout=5
    )
    assert answer.rcode() == dns.rcode.NOERROR
    assert [r.to_text() for rrset in answer.answer for r in rrset] == [f"probe.{server.zone}."]
    delete = dns.update.UpdateMessage("acme.com", keyring=keyring, keyalgorithm=server.key_algorithm)
    delete.delete("probe")
    assert dns.query.tcp(delete, server.address, port=server.port, timeout=5).rcode() == dns.rcode.NOERROR


def test_bind_refuses_unsigned_updates(federation: LocalFederation) -> None:
    server = federation.dns
    assert server is not None
    update = dns.update.UpdateMessage(server.zone)
    update.add("intruder", 60, "A", "127.6.6.6")
    assert dns.query.tcp(update, server.address, port=server.port, timeout=5).rcode() == dns.rcode.REFUSED
    answer = dns.query.udp(
        dns.message.make_query(f"intruder.{server.zone}.", "A"), server.address, port=server.port, timeout=5
    )
    assert answer.rcode() == dns.rcode.NXDOMAIN
