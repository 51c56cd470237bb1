"""Propagation end to end: the operator process, real apiservers, FederatedServices applied with kubectl."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.operator import (
    GROUP,
    REPO,
    VERSION,
    OperatorProcess,
    condition,
    eventually,
    is_member_ready,
    member_cluster,
    register_member,
    unregister_member,
)

from federation_operator.kube.host import build_host_client, fetch_federated_service_uids

pytestmark = pytest.mark.e2e


def fsvc_body(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FederatedService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "metadata": {"labels": {"run": name}},
                "spec": {"selector": {"run": name}, "ports": [{"name": "http", "port": 80}]},
            },
            **spec,
        },
    }


class Host:
    """Small helpers over the host and member APIs for one test namespace."""

    def __init__(self, fed: LocalFederation, namespace: str) -> None:
        self.fed = fed
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(fed.api_client("federation"))

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "federatedservices", body)

    def get(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "federatedservices", name
        )

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "federatedservices", name, patch
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, "federatedservices", name)

    def member_service(self, cluster: str, name: str) -> Any | None:
        try:
            return client.CoreV1Api(self.fed.api_client(cluster)).read_namespaced_service(
                name, self.namespace
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def shards(self, name: str) -> dict[str, dict[str, Any]]:
        return {s["cluster"]: s for s in self.get(name).get("status", {}).get("shards", [])}

    def events(self, name: str) -> list[Any]:
        events = client.CoreV1Api(self.fed.api_client("federation")).list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=FederatedService"
        )
        return list(events.items)


@pytest.fixture
def host(operator: OperatorProcess, registered: LocalFederation) -> Iterator[Host]:
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    yield Host(registered, namespace)
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def members(fed: LocalFederation) -> list[str]:
    return [m.spec.name for m in fed.members]


def test_seed_nginx_example_propagates_to_every_member(
    operator: OperatorProcess, registered: LocalFederation
) -> None:
    applied = registered.kubectl("federation", "apply", "-f", str(REPO / "examples" / "nginx.yaml"))
    assert "federatedservice.fedop.io/nginx" in applied.stdout
    host = Host(registered, "mynamespace")
    for cluster in members(registered):
        svc = eventually(f"nginx in {cluster}", lambda c=cluster: host.member_service(c, "nginx"))
        assert svc.spec.type == "LoadBalancer"
        assert svc.spec.selector == {"run": "nginx"}
        assert svc.metadata.labels["fedop.io/federation"] == "myfederation"
        assert svc.metadata.labels["fedop.io/owner-name"] == "nginx"

    def aggregated() -> list[str] | None:
        status = host.get("nginx").get("status", {})
        ingress = [i["ip"] for i in status.get("loadBalancer", {}).get("ingress", [])]
        return ingress if len(ingress) == len(members(registered)) else None

    ingress = eventually("aggregated LoadBalancer ingress", aggregated)
    expected = set()
    for cluster in members(registered):
        svc = host.member_service(cluster, "nginx")
        expected |= {i.ip for i in svc.status.load_balancer.ingress or []}
    assert set(ingress) == expected
    shards = host.shards("nginx")
    assert set(shards) == set(members(registered))
    assert all(s["synced"] for s in shards.values())
    assert host.get("nginx")["status"]["observedGeneration"] == host.get("nginx")["metadata"]["generation"]
    propagated = condition(host.get("nginx"), "Propagated")
    assert propagated is not None
    assert propagated["status"] == "True"

    described = registered.kubectl("federation", "describe", "fsvc", "nginx", "-n", "mynamespace").stdout
    for cluster in members(registered):
        assert cluster in described
    for ip in expected:
        assert ip in described
    # One event for the Services created, naming every member (not one event per member).
    created = [e for e in host.events("nginx") if e.reason == "Created"]
    assert [e.message for e in created] == [f"Service created in {', '.join(sorted(members(registered)))}"]
    assert created[0].source.component == "federation-operator"  # "From" in kubectl describe


def test_drift_is_repaired(host: Host) -> None:
    host.create(fsvc_body("drift", host.namespace))
    cluster = members(host.fed)[0]
    core = client.CoreV1Api(host.fed.api_client(cluster))
    eventually("propagated", lambda: host.member_service(cluster, "drift"))

    core.patch_namespaced_service(
        "drift",
        host.namespace,
        [{"op": "replace", "path": "/spec/ports/0/port", "value": 8080}],
        _content_type="application/json-patch+json",
    )
    eventually(
        "port restored",
        lambda: [p.port for p in host.member_service(cluster, "drift").spec.ports] == [80],
        timeout=20,
    )
    updated = eventually(
        "repair reported", lambda: [e for e in host.events("drift") if e.reason == "Updated"]
    )
    assert [e.message for e in updated] == [
        f"Service brought in line with the spec (generation 1) in {cluster}"
    ]
    old_uid = host.member_service(cluster, "drift").metadata.uid
    core.delete_namespaced_service("drift", host.namespace)
    restored = eventually(
        "Service re-created",
        lambda: (
            (svc := host.member_service(cluster, "drift")) is not None and svc.metadata.uid != old_uid and svc
        ),
        timeout=20,
    )
    assert restored.metadata.labels["fedop.io/owner-name"] == "drift"


def test_foreign_service_is_never_overwritten(host: Host) -> None:
    cluster = members(host.fed)[1]
    core = client.CoreV1Api(host.fed.api_client(cluster))
    core.create_namespace({"metadata": {"name": host.namespace}})
    core.create_namespaced_service(
        host.namespace,
        {"metadata": {"name": "taken", "labels": {"team": "other"}}, "spec": {"ports": [{"port": 9999}]}},
    )
    host.create(fsvc_body("taken", host.namespace))

    shard = eventually(
        "conflict reported",
        lambda: (s := host.shards("taken").get(cluster)) and s.get("reason") == "Conflict" and s,
    )
    assert shard["synced"] is False
    foreign = host.member_service(cluster, "taken")
    assert [p.port for p in foreign.spec.ports] == [9999]
    assert "fedop.io/federation" not in (foreign.metadata.labels or {})
    # The other members got theirs.
    others = [c for c in members(host.fed) if c != cluster]
    for other in others:
        eventually(f"propagated to {other}", lambda o=other: host.member_service(o, "taken"))
    eventually("a Conflict event", lambda: any(e.reason == "Conflict" for e in host.events("taken")))
    propagated = condition(host.get("taken"), "Propagated")
    assert propagated is not None
    assert propagated["status"] == "False"


def test_placement_change_withdraws_shards(host: Host) -> None:
    all_members = members(host.fed)
    host.create(fsvc_body("placed", host.namespace))
    for cluster in all_members:
        eventually(f"in {cluster}", lambda c=cluster: host.member_service(c, "placed"))

    keep = all_members[:2]
    host.patch("placed", {"spec": {"placement": {"clusters": keep}}})
    eventually("withdrawn", lambda: host.member_service(all_members[2], "placed") is None, timeout=20)
    assert all(host.member_service(c, "placed") is not None for c in keep)
    withdrawn = eventually("reported", lambda: [e for e in host.events("placed") if e.reason == "Withdrawn"])
    assert [e.message for e in withdrawn] == [f"Service removed from {all_members[2]}"]
    eventually("status follows", lambda: set(host.shards("placed")) == set(keep))

    # A label selector over MemberClusters picks by the labels users put on them.
    region = host.fed.clusters[all_members[2]].spec.region
    host.patch(
        "placed",
        {"spec": {"placement": {"clusters": None, "clusterSelector": {"matchLabels": {"region": region}}}}},
    )
    eventually(
        "selected by label", lambda: host.member_service(all_members[2], "placed") is not None, timeout=20
    )
    eventually(
        "others withdrawn", lambda: all(host.member_service(c, "placed") is None for c in keep), timeout=20
    )


def test_deletion_cleans_every_member_and_nothing_else(host: Host) -> None:
    cluster = members(host.fed)[0]
    host.create(fsvc_body("gone", host.namespace))
    for c in members(host.fed):
        eventually(f"in {c}", lambda c=c: host.member_service(c, "gone"))
    client.CoreV1Api(host.fed.api_client(cluster)).create_namespaced_service(
        host.namespace, {"metadata": {"name": "bystander"}, "spec": {"ports": [{"port": 81}]}}
    )
    host.delete("gone")
    for c in members(host.fed):
        eventually(f"removed from {c}", lambda c=c: host.member_service(c, "gone") is None, timeout=30)

    def fsvc_gone() -> bool:
        try:
            host.get("gone")
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually("FederatedService finalized", fsvc_gone, timeout=30)
    assert host.member_service(cluster, "bystander") is not None


SCHEMA_INVALID = {
    # name: (spec changes, the field the API server must name)
    "ttl-zero": ({"dns": {"ttl": 0}}, "spec.dns.ttl"),
    "min-ready-zero": ({"dns": {"minReadyEndpoints": 0}}, "spec.dns.minReadyEndpoints"),
    "bad-type": (
        {"template": {"spec": {"type": "Magic", "ports": [{"port": 80}]}}},
        "spec.template.spec.type",
    ),
    "port-out-of-range": (
        {"template": {"spec": {"ports": [{"port": 70000}]}}},
        "spec.template.spec.ports[0].port",
    ),
    "no-ports": ({"template": {"spec": {"ports": []}}}, "spec.template.spec"),
    "bad-selector-operator": (
        {"placement": {"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}},
        "spec.placement.clusterSelector.matchExpressions[0].operator",
    ),
}


def test_invalid_specs_are_rejected_or_reported_while_valid_ones_work(host: Host) -> None:
    # What the schema can say, the API server refuses at apply time, naming the field.
    for name, (changes, field) in SCHEMA_INVALID.items():
        body = fsvc_body(name, host.namespace)
        body["spec"].update(changes)
        with pytest.raises(ApiException) as refused:
            host.create(body)
        assert refused.value.status == 422, name
        assert field in json.loads(refused.value.body)["message"], (name, refused.value.body)

    # What only the operator can check is reported on the object's status and as an event.
    first = members(host.fed)[0]
    operator_invalid = {
        "missing-path": (
            [{"op": "remove", "path": "/spec/notAField"}],
            "spec.overrides[0].clusterOverrides[0]",
        ),
        "bad-index": ([{"op": "replace", "path": "/spec/ports/7/port", "value": 81}], "spec.overrides[0]"),
    }
    for name, (patches, _) in operator_invalid.items():
        host.create(
            fsvc_body(name, host.namespace, overrides=[{"clusterName": first, "clusterOverrides": patches}])
        )
    host.create(fsvc_body("good", host.namespace))

    for name, (_, field) in operator_invalid.items():
        ready = eventually(
            f"InvalidSpec on {name}",
            lambda n=name: (c := condition(host.get(n), "Ready")) and c["reason"] == "InvalidSpec" and c,
        )
        assert field in ready["message"], ready
        eventually(
            f"InvalidSpec event on {name}",
            lambda n=name: any(e.reason == "InvalidSpec" for e in host.events(n)),
        )
    for cluster in members(host.fed):
        eventually(f"good in {cluster}", lambda c=cluster: host.member_service(c, "good"))
        for name in operator_invalid:
            assert host.member_service(cluster, name) is None

    # Fixing the spec clears the error.
    host.patch("missing-path", {"spec": {"overrides": []}})
    eventually(
        "propagated once fixed",
        lambda: all(host.member_service(c, "missing-path") for c in members(host.fed)),
    )
    ready = eventually(
        "Ready no longer InvalidSpec",
        lambda: (c := condition(host.get("missing-path"), "Ready")) and c["reason"] != "InvalidSpec" and c,
    )
    assert ready["reason"] != "InvalidSpec"


def test_the_orphan_collectors_list_of_uids_reads_every_page(host: Host, registered: LocalFederation) -> None:
    """The orphan collector's authority, every FederatedService's UID, comes in pages (small ones: a
    FederatedService's managedFields are large): the list follows the continue token to the last page."""
    names = [f"paged-{i}" for i in range(5)]
    for name in names:
        host.create(fsvc_body(name, host.namespace))
    api = build_host_client(registered.kubeconfig, "federation")
    try:
        uids = fetch_federated_service_uids(api, page_size=2)
    finally:
        api.close()
    assert {n: uids.get((host.namespace, n)) for n in names} == {
        n: host.get(n)["metadata"]["uid"] for n in names
    }


def test_member_outage_marks_cluster_not_ready_and_back(host: Host, registered: LocalFederation) -> None:
    cluster = members(registered)[2]
    host.create(fsvc_body("outage", host.namespace))
    eventually("propagated", lambda: host.member_service(cluster, "outage"))
    registered.stop_apiserver(cluster)
    try:
        eventually("MemberCluster NotReady", lambda: not is_member_ready(registered, cluster), timeout=30)
        ready = condition(member_cluster(registered, cluster), "Ready")
        assert ready is not None
        assert ready["reason"] == "ProbeFailed"
        eventually(
            "shard follows",
            lambda: (s := host.shards("outage").get(cluster)) and s["healthy"] is False and s,
            timeout=30,
        )
    finally:
        registered.start_apiserver(cluster)
    eventually("MemberCluster Ready again", lambda: is_member_ready(registered, cluster), timeout=60)
    eventually("shard synced again", lambda: host.shards("outage")[cluster]["synced"], timeout=30)


def test_member_removed_and_added_back(host: Host, registered: LocalFederation) -> None:
    cluster = members(registered)[1]
    host.create(fsvc_body("membership", host.namespace))
    eventually("three shards", lambda: len(host.shards("membership")) == 3, timeout=30)

    # The member's Services stay, so that the member joined again adopts them.
    unregister_member(registered, cluster, keep_services=True)
    eventually("shard withdrawn", lambda: cluster not in host.shards("membership"), timeout=30)

    register_member(registered, registered.clusters[cluster])
    eventually("member Ready", lambda: is_member_ready(registered, cluster), timeout=60)
    eventually("shard back", lambda: cluster in host.shards("membership"), timeout=30)


def test_rotated_member_credentials_are_picked_up(host: Host, registered: LocalFederation) -> None:
    """The member's token is revoked and `fedctl join` mints a new one: the operator, refused (401) with the
    old token, re-reads the credentials Secret and reconnects, without any change to the MemberCluster."""
    cluster = members(registered)[-1]
    generation = member_cluster(registered, cluster)["metadata"]["generation"]
    # Deleting a ServiceAccount token Secret revokes its token at once.
    client.CoreV1Api(registered.api_client(cluster)).delete_namespaced_secret(
        "fedop-myfederation-token", "fedop-system"
    )
    eventually(
        f"{cluster} refuses the old token",
        lambda: (c := condition(member_cluster(registered, cluster), "Ready")) and c["status"] == "False",
        timeout=30,
    )
    register_member(registered, registered.clusters[cluster])  # fedctl join again: a new token
    eventually(f"{cluster} Ready again", lambda: is_member_ready(registered, cluster), timeout=60)
    assert member_cluster(registered, cluster)["metadata"]["generation"] == generation
    rotated = client.CoreV1Api(registered.api_client("federation")).list_namespaced_event(
        "default", field_selector=f"involvedObject.name={cluster},reason=CredentialsRotated"
    )
    assert rotated.items

    host.create(fsvc_body("after-rotation", host.namespace))
    eventually(
        f"propagated to {cluster} with the new token", lambda: host.member_service(cluster, "after-rotation")
    )


def test_restarted_operator_converges_without_rewriting(operator: OperatorProcess, host: Host) -> None:
    host.create(fsvc_body("steady", host.namespace))
    for c in members(host.fed):
        eventually(f"in {c}", lambda c=c: host.member_service(c, "steady"))
    eventually("status settled", lambda: condition(host.get("steady"), "DNSPublished"))
    versions = {c: host.member_service(c, "steady").metadata.resource_version for c in members(host.fed)}
    # Every UPDATE that BIND applies bumps the zone's SOA serial.
    serial = eventually("DNS quiet", lambda: quiet_serial(host.fed))

    operator.stop()
    host.create(fsvc_body("while-down", host.namespace))
    operator.start()

    for c in members(host.fed):
        eventually(f"while-down in {c}", lambda c=c: host.member_service(c, "while-down"), timeout=60)
    eventually(
        "while-down's status current",
        lambda: (c := condition(host.get("while-down"), "DNSPublished")) and c["status"] == "True",
        timeout=60,
    )
    # The Services that were already right were not written again, and DNS was not touched.
    assert {
        c: host.member_service(c, "steady").metadata.resource_version for c in members(host.fed)
    } == versions
    assert soa_serial(host.fed) == serial


def soa_serial(fed: LocalFederation) -> int:
    server = fed.dns
    assert server is not None
    response = dns.query.udp(
        dns.message.make_query(f"{server.zone}.", "SOA"), server.address, port=server.port, timeout=3
    )
    return int(response.answer[0][0].serial)


def quiet_serial(fed: LocalFederation) -> int | None:
    """The SOA serial once it has not moved for two seconds (nothing left in flight from earlier tests)."""
    before = soa_serial(fed)
    time.sleep(2)
    return before if soa_serial(fed) == before else None
