"""Faults at the edges between tenants and members, against the real federation, BIND and operator process:
a member that refuses our Service, a tenant squatting another's names through aliases, and what deleted
FederatedServices leave behind (a member down during the deletion, a finalizer removed by hand while the
operator was stopped). After each probe the session's control FederatedService must be as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dns.query
import dns.tsigkeyring
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.operator import OperatorProcess, condition, eventually, is_member_ready

from tests.e2e.conftest import Control
from tests.e2e.test_dns import FEDERATION, Seed, ask, start_backends_everywhere
from tests.e2e.test_propagation import Host, fsvc_body, members

pytestmark = [pytest.mark.e2e, pytest.mark.dns]


@pytest.fixture
def host(operator: OperatorProcess, registered: LocalFederation) -> Iterator[Host]:
    namespace = f"fault-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    yield Host(registered, namespace)
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def _gone(host: Host, name: str) -> bool:
    try:
        host.get(name)
    except ApiException as exc:
        return exc.status == 404
    return False


def _zone_names(fed: LocalFederation) -> set[str]:
    """Every name BIND holds in the zone (AXFR), relative to the zone."""
    server = fed.dns
    assert server is not None
    keyring = dns.tsigkeyring.from_text({server.key_name: (server.key_algorithm, server.key_secret)})
    xfr = dns.query.xfr(
        server.address, server.zone, port=server.port, keyring=keyring, keyalgorithm=server.key_algorithm
    )
    return {rrset.name.to_text() for message in xfr for rrset in message.answer}


def test_a_member_refusing_the_service_is_named_with_its_words(host: Host, control: Control) -> None:
    refusing = members(host.fed)[0]
    # A nodePort outside the member's range: the operator's schema cannot know the range, the member can.
    override = {"op": "add", "path": "/spec/ports/0/nodePort", "value": 20000}
    host.create(
        fsvc_body(
            "refused", host.namespace, overrides=[{"clusterName": refusing, "clusterOverrides": [override]}]
        )
    )
    propagated = eventually(
        "Propagated=False Rejected",
        lambda: (c := condition(host.get("refused"), "Propagated")) and c["reason"] == "Rejected" and c,
        timeout=60,
    )
    assert propagated["status"] == "False"
    assert refusing in propagated["message"]
    assert "nodePort" in propagated["message"], propagated  # the API server's own words
    warning = eventually(
        "a Rejected warning event",
        lambda: next((e for e in host.events("refused") if e.reason == "Rejected"), None),
    )
    assert warning.type == "Warning"
    assert "nodePort" in warning.message
    # Every other member got its Service; the refusing one has none.
    for cluster in members(host.fed)[1:]:
        eventually(f"Service in {cluster}", lambda c=cluster: host.member_service(c, "refused"))
    assert host.member_service(refusing, "refused") is None

    # Fixed: the refusal is gone from the status.
    host.patch("refused", {"spec": {"overrides": []}})
    eventually(
        "Propagated=True once fixed",
        lambda: (c := condition(host.get("refused"), "Propagated")) is not None and c["status"] == "True",
        timeout=60,
    )
    control.assert_undisturbed()


def test_an_alias_under_another_tenants_federated_name_is_refused(
    operator: OperatorProcess, registered: LocalFederation, control: Control
) -> None:
    namespaces = {}
    for role in ("evil", "prod"):
        namespaces[role] = f"{role}-{uuid.uuid4().hex[:6]}"
        client.CoreV1Api(registered.api_client("federation")).create_namespace(
            {"metadata": {"name": namespaces[role]}}
        )
    victim = Seed(registered, "victim", namespaces["prod"])
    evil = Host(registered, namespaces["evil"])
    zone = registered.dns.zone if registered.dns else ""
    squatted = victim.global_name()
    # The squatter wants prod/victim's federated name, and prod's own alias subtree.
    body = fsvc_body(
        "squat", evil.namespace, dns={"aliases": [squatted, f"victim.{victim.namespace}.{zone}"]}
    )
    evil.create(body)
    ready = eventually(
        "InvalidSpec on the squatter",
        lambda: (c := condition(evil.get("squat"), "Ready")) and c["reason"] == "InvalidSpec" and c,
        timeout=60,
    )
    assert "spec.dns.aliases[0]" in ready["message"]
    assert f"*.{FEDERATION}.svc" in ready["message"]
    assert "spec.dns.aliases[1]" in ready["message"]
    eventually("InvalidSpec event", lambda: any(e.reason == "InvalidSpec" for e in evil.events("squat")))

    # The victim arrives later and gets its own name.
    victim.create()
    addresses = start_backends_everywhere(victim)
    assert ask(registered, squatted).addresses == frozenset(addresses.values())
    # The status is written after the records go out: an answer can come a moment before it.
    eventually(
        "the victim's DNSPublished=Published",
        lambda: (c := condition(victim.get(), "DNSPublished")) and c["reason"] == "Published",
    )
    # An alias in the namespace's own subtree is fine.
    own = f"www.{victim.namespace}.{zone}."
    victim.custom.patch_namespaced_custom_object(
        "fedop.io",
        "v1alpha1",
        victim.namespace,
        "federatedservices",
        "victim",
        {"spec": {"dns": {"aliases": [own]}}},
    )
    eventually("own alias answers", lambda: ask(registered, own).cnames[:1] == (squatted,), timeout=60)
    control.assert_undisturbed()


def test_a_service_left_on_a_member_that_was_down_is_collected_when_it_returns(
    host: Host, control: Control
) -> None:
    away = members(host.fed)[1]
    host.create(fsvc_body("hang-del", host.namespace))
    for cluster in members(host.fed):
        eventually(f"Service in {cluster}", lambda c=cluster: host.member_service(c, "hang-del"))
    left = host.member_service(away, "hang-del")
    host.fed.stop_apiserver(away)
    try:
        eventually("member NotReady", lambda: not is_member_ready(host.fed, away), timeout=60)
        host.delete("hang-del")
        eventually("finalized without that member", lambda: _gone(host, "hang-del"), timeout=60)
        for cluster in members(host.fed):
            if cluster != away:
                assert host.member_service(cluster, "hang-del") is None
    finally:
        host.fed.start_apiserver(away)
    # It is still there while the member is away; once it is back and listed, the collector removes it.
    eventually("member Ready", lambda: is_member_ready(host.fed, away), timeout=90)
    eventually("orphan collected", lambda: host.member_service(away, "hang-del") is None, timeout=60)

    # A new FederatedService of that name is not in conflict with its predecessor's Service.
    host.create(fsvc_body("hang-del", host.namespace))
    propagated = eventually(
        "the new one propagated everywhere",
        lambda: (c := condition(host.get("hang-del"), "Propagated")) and c["status"] == "True" and c,
        timeout=60,
    )
    assert propagated["reason"] == "InSync"
    assert host.member_service(away, "hang-del").metadata.uid != left.metadata.uid
    control.assert_recovered()


def _drop_finalizers(host: Host, name: str) -> None:
    host.custom.patch_namespaced_custom_object(
        "fedop.io",
        "v1alpha1",
        host.namespace,
        "federatedservices",
        name,
        [{"op": "remove", "path": "/metadata/finalizers"}],
        _content_type="application/json-patch+json",
    )


def test_what_a_finalizer_removed_by_hand_left_is_collected_after_a_restart(
    operator: OperatorProcess, registered: LocalFederation, control: Control
) -> None:
    namespace = f"hand-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    seed = Seed(registered, "handoff", namespace)
    seed.create()
    start_backends_everywhere(seed)
    host = Host(registered, namespace)
    assert any(namespace in n for n in _zone_names(registered))

    operator.stop()
    try:
        host.delete("handoff")
        _drop_finalizers(host, "handoff")
        eventually("deleted without the operator", lambda: _gone(host, "handoff"), timeout=30)
        # Left behind: a Service in every member and the record sets in the zone.
        assert all(host.member_service(c, "handoff") is not None for c in members(registered))
        assert any(namespace in n for n in _zone_names(registered))
    finally:
        operator.start()
    for cluster in members(registered):
        eventually(
            f"orphan collected in {cluster}",
            lambda c=cluster: host.member_service(c, "handoff") is None,
            timeout=90,
        )
    eventually(
        "its records collected", lambda: not any(namespace in n for n in _zone_names(registered)), timeout=90
    )
    assert ask(registered, seed.global_name()).rcode == "NXDOMAIN"
    control.assert_recovered()
