"""Reading raw member objects: a Service's owner and ingress, ready endpoints and zones of slices (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from federation_operator.domain.members import (
    ANNOTATION_OWNER_UID,
    LABEL_FEDERATION,
    LABEL_OWNER_NAME,
    LABEL_OWNER_NAMESPACE,
    EndpointSummary,
    Ingress,
)
from federation_operator.kube.member_services import (
    endpoint_slice_service,
    observe_service,
    summarize_endpoints,
    trim_endpoint_slice,
    trim_service,
)


def service(
    labels: dict[str, str], annotations: dict[str, str] | None = None, **status: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "nginx", "namespace": "web", "labels": labels, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer"},
        "status": status,
    }


OURS = {LABEL_FEDERATION: "myfederation", LABEL_OWNER_NAMESPACE: "mynamespace", LABEL_OWNER_NAME: "nginx"}


def test_owned_service_names_its_owner_and_uid() -> None:
    obj = service(OURS, {ANNOTATION_OWNER_UID: "uid-1"})
    observed = observe_service("gce-asia-east1", obj, federation="myfederation")
    assert (observed.cluster, observed.namespace, observed.name) == ("gce-asia-east1", "web", "nginx")
    assert observed.owner == ("mynamespace", "nginx")
    assert observed.owner_uid == "uid-1"
    assert observed.manifest is obj


@pytest.mark.parametrize(
    ("labels", "federation"),
    [
        pytest.param({}, None, id="no labels"),
        pytest.param(
            {k: v for k, v in OURS.items() if k != LABEL_FEDERATION}, None, id="no federation label"
        ),
        pytest.param({k: v for k, v in OURS.items() if k != LABEL_OWNER_NAME}, None, id="no owner name"),
        pytest.param(OURS, "otherfederation", id="another federation's"),
    ],
)
def test_foreign_service_has_no_owner(labels: dict[str, str], federation: str | None) -> None:
    observed = observe_service("c", service(labels, {ANNOTATION_OWNER_UID: "uid-1"}), federation=federation)
    assert observed.owner is None
    assert observed.owner_uid is None


def test_ingress_keeps_ips_and_hostnames_and_skips_empty_points() -> None:
    obj = service(
        OURS,
        loadBalancer={
            "ingress": [
                {"ip": "127.1.1.1"},
                {"hostname": "a1b2.elb.amazonaws.com"},
                {"ipMode": "VIP"},
                {"ip": "2001:db8::1", "ports": [{"port": 80, "protocol": "TCP"}]},
            ]
        },
    )
    assert observe_service("c", obj).ingress == (
        Ingress(ip="127.1.1.1"),
        Ingress(hostname="a1b2.elb.amazonaws.com"),
        Ingress(ip="2001:db8::1"),
    )


def test_service_without_status_has_no_ingress() -> None:
    obj = service(OURS)
    del obj["status"]
    assert observe_service("c", obj).ingress == ()


def endpoint(address: str, *, ready: bool | None = True, zone: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"addresses": [address]}
    if ready is not None:
        result["conditions"] = {"ready": ready}
    if zone:
        result["zone"] = zone
    return result


def slice_of(family: str, *endpoints: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "nginx-x",
            "namespace": "web",
            "labels": {"kubernetes.io/service-name": "nginx"},
        },
        "addressType": family,
        "endpoints": list(endpoints),
    }


@pytest.mark.parametrize(
    ("slices", "expected"),
    [
        pytest.param([], EndpointSummary(), id="no slices"),
        pytest.param([slice_of("IPv4")], EndpointSummary(), id="empty slice"),
        pytest.param(
            [slice_of("IPv4", endpoint("10.0.0.1", zone="a"), endpoint("10.0.0.2", ready=False, zone="b"))],
            EndpointSummary(ready=1, zones=frozenset({"a"})),
            id="not-ready endpoints and their zones do not count",
        ),
        pytest.param(
            [slice_of("IPv4", endpoint("10.0.0.1", ready=None, zone="a"))],
            EndpointSummary(ready=1, zones=frozenset({"a"})),
            id="missing ready condition means ready",
        ),
        pytest.param(
            [slice_of("IPv4", {"addresses": ["10.0.0.1"], "conditions": {"ready": None}})],
            EndpointSummary(ready=1),
            id="null ready condition means ready",
        ),
        pytest.param(
            [
                slice_of("IPv4", endpoint("10.0.0.1", zone="a"), endpoint("10.0.0.2", zone="b")),
                slice_of("IPv4", endpoint("10.0.0.2", zone="b"), endpoint("10.0.0.3", zone="b")),
            ],
            EndpointSummary(ready=3, zones=frozenset({"a", "b"})),
            id="an endpoint in two slices of one family counts once",
        ),
        pytest.param(
            [
                slice_of("IPv4", endpoint("10.0.0.1", zone="a"), endpoint("10.0.0.2", zone="b")),
                slice_of("IPv6", endpoint("fd00::1", zone="a"), endpoint("fd00::2", ready=False, zone="c")),
            ],
            EndpointSummary(ready=2, zones=frozenset({"a", "b"})),
            id="dual stack counts backends once, not once per family",
        ),
        pytest.param(
            [slice_of("IPv4", {"conditions": {"ready": True}}, endpoint("10.0.0.1"))],
            EndpointSummary(ready=1),
            id="an endpoint without addresses is skipped",
        ),
    ],
)
def test_summarize_endpoints(slices: list[dict[str, Any]], expected: EndpointSummary) -> None:
    assert summarize_endpoints(slices) == expected
    # The member cache keeps slices trimmed: what it keeps must summarize the same.
    assert summarize_endpoints([trim_endpoint_slice(s) for s in slices]) == expected


def test_a_trimmed_slice_keeps_what_the_owner_lookup_and_the_summary_read_and_drops_the_rest() -> None:
    full = slice_of(
        "IPv4",
        {
            "addresses": ["10.0.0.1", "10.0.0.9"],
            "conditions": {"ready": False, "serving": True, "terminating": True},
            "zone": "a",
            "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "name": "nginx-1", "namespace": "web", "uid": "u"},
        },
    )
    full["metadata"]["managedFields"] = [{"manager": "endpointslice-controller", "fieldsV1": {"f:x": {}}}]
    trimmed = trim_endpoint_slice(full)
    assert trimmed["metadata"]["labels"] == full["metadata"]["labels"]
    assert endpoint_slice_service(trimmed) == ("web", "nginx")
    assert trimmed["endpoints"] == [{"addresses": ["10.0.0.1"], "conditions": {"ready": False}, "zone": "a"}]
    assert "managedFields" not in trimmed["metadata"]
    assert "ports" not in trimmed


def test_a_trimmed_service_drops_its_managed_fields_and_status_and_shares_its_strings() -> None:
    def service() -> dict[str, Any]:
        # Decoded afresh each time, as each watch event is: equal strings, distinct objects.
        return json.loads(
            '{"metadata": {"name": "nginx", "namespace": "web", "uid": "u",'
            ' "managedFields": [{"manager": "x"}], "labels": {"fedop.io/owner-name": "nginx"}},'
            ' "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},'
            ' "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.9"}]}}}'
        )

    watched = service()
    trimmed = trim_service(watched)
    assert trimmed == {
        "metadata": {
            "name": "nginx",
            "namespace": "web",
            "uid": "u",
            "labels": {"fedop.io/owner-name": "nginx"},
        },
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }
    assert watched == service(), "the watched object was changed"
    again = trim_service(service())
    assert again["spec"]["type"] is trimmed["spec"]["type"]
    assert again["spec"]["ports"][0]["protocol"] is trimmed["spec"]["ports"][0]["protocol"]
    assert again["metadata"]["labels"]["fedop.io/owner-name"] is trimmed["metadata"]["name"]


def test_endpoint_slice_service() -> None:
    assert endpoint_slice_service(slice_of("IPv4")) == ("web", "nginx")
    assert endpoint_slice_service({"metadata": {"namespace": "web", "labels": {}}}) is None


def test_a_trimmed_service_takes_the_parts_that_did_not_change_from_what_was_kept() -> None:
    """An event's Service trimmed against what the cache kept of it: each part equal to the kept one is
    that very object (already shared, not walked again), a changed part is the event's; the result is the
    same as trimming the event alone."""

    def service(port: int, version: str) -> dict[str, Any]:
        return json.loads(
            '{"apiVersion": "v1", "kind": "Service",'
            f' "metadata": {{"name": "nginx", "namespace": "web", "resourceVersion": "{version}",'
            ' "labels": {"fedop.io/owner-name": "nginx"}, "annotations": {"a": "b"}},'
            f' "spec": {{"type": "LoadBalancer", "ports": [{{"port": {port}, "protocol": "TCP"}}]}}}}'
        )

    kept = trim_service(service(80, "1"))
    again = trim_service(service(80, "2"), kept)
    assert again == trim_service(service(80, "2"))
    assert again["spec"] is kept["spec"]
    assert again["metadata"]["labels"] is kept["metadata"]["labels"]
    assert again["metadata"]["resourceVersion"] == "2"
    changed = trim_service(service(81, "3"), kept)
    assert changed == trim_service(service(81, "3"))
    assert changed["spec"] is not kept["spec"]
    assert changed["spec"]["type"] is kept["spec"]["type"], "a changed part's strings are shared all the same"
    assert changed["metadata"]["labels"] is kept["metadata"]["labels"]


def test_a_trimmed_slice_takes_its_unchanged_labels_from_what_was_kept() -> None:
    kept = trim_endpoint_slice(slice_of("IPv4", {"addresses": ["10.0.0.1"], "conditions": {"ready": False}}))
    seen = slice_of("IPv4", {"addresses": ["10.0.0.1"], "conditions": {"ready": True}})
    again = trim_endpoint_slice(seen, kept)
    assert again == trim_endpoint_slice(seen)
    assert again["metadata"]["labels"] is kept["metadata"]["labels"]
