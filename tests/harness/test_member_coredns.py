"""Each member's CoreDNS: it answers for that member's Services, follows its ConfigMap's Corefile (keeping the
last good one when a change does not load), and keeps answering through an apiserver outage; `status` shows
where it listens."""

from __future__ import annotations

import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation, coredns
from localfed.federation import ClusterState
from localfed.operator import eventually

pytestmark = pytest.mark.e2e

CLI = Path(__file__).parents[2] / "hack" / "local-federation"


def ask(member: ClusterState, name: str) -> dns.message.Message:
    """A query to the member's CoreDNS as a Pod's stub resolver sends it: over UDP, sent a second time when
    the first gets no answer (glibc's resolver makes `attempts:2` by default; a datagram may be lost)."""
    assert member.dns is not None
    query = dns.message.make_query(name, "A")
    try:
        return dns.query.udp(query, "127.0.0.1", port=member.dns.dns, timeout=2)
    except dns.exception.Timeout:
        return dns.query.udp(query, "127.0.0.1", port=member.dns.dns, timeout=2)


def addresses(answer: dns.message.Message) -> list[str]:
    return sorted(r.address for rrset in answer.answer if rrset.rdtype == dns.rdatatype.A for r in rrset)


@pytest.fixture
def namespace(federation: LocalFederation) -> Iterator[str]:
    """A fresh namespace in the first member only, deleted afterwards."""
    name = f"dns-{uuid.uuid4().hex[:8]}"
    api = client.CoreV1Api(federation.api_client(federation.members[0].spec.name))
    api.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        api.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def corefile(federation: LocalFederation) -> Iterator[str]:
    """The first member's Corefile as it was; put back afterwards, and CoreDNS seen serving it again."""
    member = federation.members[0]
    api = client.CoreV1Api(federation.api_client(member.spec.name))
    original = api.read_namespaced_config_map(coredns.NAME, coredns.NAMESPACE).data["Corefile"]
    yield original
    api.patch_namespaced_config_map(coredns.NAME, coredns.NAMESPACE, {"data": {"Corefile": original}})
    path = coredns.corefile_path(member.dir)
    eventually("the original Corefile projected again", lambda: path.read_text() == original, timeout=30)


def test_a_member_service_resolves_through_that_members_coredns(
    federation: LocalFederation, namespace: str
) -> None:
    member, other = federation.members[0], federation.members[1]
    svc = client.CoreV1Api(federation.api_client(member.spec.name)).create_namespaced_service(
        namespace, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    )
    name = f"web.{namespace}.svc.cluster.local"
    eventually(
        f"{name} -> {svc.spec.cluster_ip} at {member.spec.name}'s CoreDNS",
        lambda: addresses(ask(member, name)) == [svc.spec.cluster_ip],
        timeout=30,
    )
    # Each member's DNS reads its own API server: the other member has no such Service.
    assert ask(other, name).rcode() == dns.rcode.NXDOMAIN


def test_a_change_of_the_configmaps_corefile_is_picked_up(federation: LocalFederation, corefile: str) -> None:
    member = federation.members[0]
    probe = f"probe-{uuid.uuid4().hex[:8]}.default.svc.cluster.local"
    assert ask(member, probe).rcode() == dns.rcode.NXDOMAIN
    # The smallest visible change: a `hosts` entry in the server block (plugin order is CoreDNS's own, so
    # `hosts` answers before `kubernetes` wherever it is written).
    changed = corefile.replace(
        "    loadbalance\n",
        f"    loadbalance\n    hosts {{\n       10.96.77.77 {probe}\n       fallthrough\n    }}\n",
    )
    assert changed != corefile
    client.CoreV1Api(federation.api_client(member.spec.name)).patch_namespaced_config_map(
        coredns.NAME, coredns.NAMESPACE, {"data": {"Corefile": changed}}
    )
    eventually(f"{probe} answered after the reload", lambda: addresses(ask(member, probe)) == ["10.96.77.77"])
    # The projected file is the ConfigMap's Corefile byte for byte, as a kubelet-mounted ConfigMap is.
    assert coredns.corefile_path(member.dir).read_bytes() == changed.encode()


def reload_failures(member: ClusterState) -> float:
    """CoreDNS's own count of Corefile changes it could not load, from its metrics endpoint."""
    assert member.dns is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{member.dns.metrics}/metrics", timeout=2) as r:
        lines = r.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith("coredns_reload_failed_total"))


def test_a_corefile_that_does_not_load_leaves_the_last_good_one_serving(
    federation: LocalFederation, corefile: str
) -> None:
    member = federation.members[0]
    name = "kubernetes.default.svc.cluster.local"
    failures = reload_failures(member)
    # It parses, so CoreDNS tries it (and counts the failure); `bufsize` then refuses its argument.
    broken = corefile.replace("    loadbalance\n", "    loadbalance\n    bufsize 1\n")
    assert broken != corefile
    client.CoreV1Api(federation.api_client(member.spec.name)).patch_namespaced_config_map(
        coredns.NAME, coredns.NAMESPACE, {"data": {"Corefile": broken}}
    )
    eventually("CoreDNS tried the broken Corefile", lambda: reload_failures(member) > failures)
    assert addresses(ask(member, name)) == ["10.96.0.1"]


def test_coredns_keeps_answering_while_its_apiserver_is_down(federation: LocalFederation) -> None:
    member = federation.members[2]
    name = "kubernetes.default.svc.cluster.local"
    assert addresses(ask(member, name)) == ["10.96.0.1"]
    federation.stop_apiserver(member.spec.name)
    try:
        assert addresses(ask(member, name)) == ["10.96.0.1"]
    finally:
        federation.start_apiserver(member.spec.name)


def test_status_shows_each_members_dns_address(federation: LocalFederation) -> None:
    out = subprocess.run(
        [str(CLI), "--state-dir", str(federation.state_dir), "status"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("gce-")}
    assert sorted(rows) == sorted(m.spec.name for m in federation.members)
    for member in federation.members:
        assert member.dns is not None
        assert f" {member.dns.address} " in rows[member.spec.name]
