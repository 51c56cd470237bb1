"""Parsing MemberCluster and FederatedService specs: defaults applied, errors naming the failing field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import ValidationError

from federation_operator.domain.errors import FederationError, InvalidSpecError, PermanentError
from federation_operator.domain.specs import (
    DnsDefaults,
    FederatedServiceSpec,
    MemberClusterSpec,
    PatchOp,
    ProbeSettings,
    SecretRef,
    parse_federated_service_spec,
    parse_member_cluster_spec,
    parse_model,
)
from federation_operator.domain.status import Condition, MemberClusterStatus

MEMBER: dict[str, Any] = {
    "apiEndpoint": "https://203.0.113.10:6443",
    "secretRef": {"name": "member-eu-credentials", "namespace": "fedop-system"},
    "region": "europe-west1",
}
SERVICE: dict[str, Any] = {"template": {"spec": {"selector": {"app": "nginx"}, "ports": [{"port": 80}]}}}


def member(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(MEMBER), **changes}


def service(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SERVICE), **changes}


def service_spec(**fields: Any) -> dict[str, Any]:
    return {"template": {"spec": fields}}


def overrides(*ops: dict[str, Any], cluster: str = "eu") -> dict[str, Any]:
    return service(overrides=[{"clusterName": cluster, "clusterOverrides": list(ops)}])


# --- MemberCluster ------------------------------------------------------------------------------------------


def test_member_cluster_defaults() -> None:
    spec = parse_member_cluster_spec(MEMBER)
    assert spec.api_endpoint == "https://203.0.113.10:6443"
    assert (spec.secret_ref.name, spec.secret_ref.namespace) == ("member-eu-credentials", "fedop-system")
    assert spec.region == "europe-west1"
    assert spec.zones == ()
    assert spec.probe == ProbeSettings(
        period_seconds=10, timeout_seconds=5, failure_threshold=3, success_threshold=1
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(member(zones=["europe-west1-b", "europe-west1-c"]), id="zones"),
        pytest.param(
            member(apiEndpoint="https://rancher.example.com/k8s/clusters/c-7x2"), id="endpoint-with-path"
        ),
        pytest.param(member(apiEndpoint="https://[2001:db8::1]:6443"), id="ipv6-endpoint"),
        pytest.param(member(probe={"periodSeconds": 2, "failureThreshold": 1}), id="partial-probe"),
    ],
)
def test_valid_member_clusters(raw: dict[str, Any]) -> None:
    assert isinstance(parse_member_cluster_spec(raw), MemberClusterSpec)


def test_partial_probe_keeps_the_other_defaults() -> None:
    probe = parse_member_cluster_spec(member(probe={"periodSeconds": 2})).probe
    assert (probe.period_seconds, probe.timeout_seconds, probe.failure_threshold) == (2, 5, 3)


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        pytest.param(
            member(apiEndpoint="http://203.0.113.10:6443"), "spec.apiEndpoint", "must match", id="http"
        ),
        pytest.param(member(apiEndpoint="https://host?x=1"), "spec.apiEndpoint", "must match", id="query"),
        pytest.param(
            {key: value for key, value in MEMBER.items() if key != "region"},
            "spec.region",
            "Required value",
            id="no-region",
        ),
        pytest.param(member(region="Europe West"), "spec.region", "must match", id="region-not-a-label"),
        pytest.param(member(zones=["b", "b"]), "spec.zones", "duplicate entries: 'b'", id="duplicate-zone"),
        pytest.param(member(zones=["B"]), "spec.zones[0]", "must match", id="zone-not-a-label"),
        pytest.param(
            member(secretRef={"name": "creds"}),
            "spec.secretRef.namespace",
            "Required value",
            id="no-namespace",
        ),
        pytest.param(
            member(probe={"periodSeconds": 0}), "spec.probe.periodSeconds", "must be >= 1", id="period"
        ),
        pytest.param(
            member(probe={"timeoutSeconds": "5"}),
            "spec.probe.timeoutSeconds",
            "must be an integer",
            id="string-int",
        ),
        pytest.param(
            member(probe={"successThreshold": True}),
            "spec.probe.successThreshold",
            "must be an integer",
            id="bool",
        ),
        pytest.param(member(kubeconfig="..."), "spec.kubeconfig", "unknown field", id="unknown-field"),
    ],
)
def test_invalid_member_clusters(raw: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_member_cluster_spec(raw)
    assert caught.value.field == field
    assert caught.value.message.startswith(message)


# --- FederatedService ---------------------------------------------------------------------------------------


def test_federated_service_defaults() -> None:
    spec = parse_federated_service_spec(SERVICE)
    assert spec.template.spec.type == "LoadBalancer"
    (port,) = spec.template.spec.ports
    assert (port.port, port.protocol, port.name, port.target_port) == (80, "TCP", None, None)
    assert spec.template.metadata.labels == {}
    assert spec.placement.clusters == ()
    assert spec.placement.cluster_selector is None
    assert spec.overrides == ()
    # Left out: the operator's defaults apply (its settings; Federation v1's 180 s and 1 unless configured).
    assert (spec.dns.ttl, spec.dns.min_ready_endpoints, spec.dns.aliases) == (None, None, ())
    assert spec.dns.effective_ttl(DnsDefaults()) == 180
    assert spec.dns.effective_min_ready_endpoints(DnsDefaults()) == 1
    assert spec.dns.effective_ttl(DnsDefaults(ttl=60, min_ready_endpoints=2)) == 60
    assert spec.dns.effective_min_ready_endpoints(DnsDefaults(ttl=60, min_ready_endpoints=2)) == 2
    explicit = parse_federated_service_spec(service(dns={"ttl": 30, "minReadyEndpoints": 3})).dns
    assert explicit.effective_ttl(DnsDefaults(ttl=60)) == 30
    assert explicit.effective_min_ready_endpoints(DnsDefaults(min_ready_endpoints=2)) == 3


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(service_spec(type="ExternalName", externalName="nginx.example.com"), id="external-name"),
        pytest.param(
            service_spec(
                ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443, "targetPort": 8443}]
            ),
            id="named-ports",
        ),
        pytest.param(
            service_spec(
                ports=[{"name": "dns", "port": 53}, {"name": "dns-tcp", "port": 53, "protocol": "UDP"}]
            ),
            id="same-port-two-protocols",
        ),
        pytest.param(service_spec(ports=[{"port": 80, "targetPort": "http-alt"}]), id="named-target-port"),
        pytest.param(service(dns={"ttl": 30, "aliases": ["nginx.acme.com", "www.acme.com."]}), id="aliases"),
        pytest.param(service(placement={"clusters": ["eu", "us.east"]}), id="placement-by-name"),
        pytest.param(
            service(
                placement={
                    "clusterSelector": {
                        "matchLabels": {"tier": "prod"},
                        "matchExpressions": [
                            {"key": "region", "operator": "NotIn", "values": ["asia"]},
                            {"key": "gpu", "operator": "DoesNotExist"},
                        ],
                    }
                }
            ),
            id="placement-by-selector",
        ),
        pytest.param(
            overrides(
                {"path": "/spec/externalTrafficPolicy", "value": "Local"},
                {"op": "add", "path": "/metadata/annotations/lb~1scheme", "value": "internal"},
                {"op": "remove", "path": "/spec/ports/0/nodePort"},
            ),
            id="overrides",
        ),
    ],
)
def test_valid_federated_services(raw: dict[str, Any]) -> None:
    assert isinstance(parse_federated_service_spec(raw), FederatedServiceSpec)


def test_service_spec_fields_the_schema_does_not_type_are_kept() -> None:
    raw = service_spec(
        ports=[{"port": 80}], publishNotReadyAddresses=True, sessionAffinityConfig={"clientIP": {}}
    )
    spec = parse_federated_service_spec(raw).template.spec
    assert spec.model_extra == {"publishNotReadyAddresses": True, "sessionAffinityConfig": {"clientIP": {}}}
    dumped = spec.model_dump(mode="json", exclude_none=True)
    assert dumped["publishNotReadyAddresses"] is True
    assert dumped["type"] == "LoadBalancer"


def test_patch_op_defaults_to_replace() -> None:
    spec = parse_federated_service_spec(overrides({"path": "/spec/type", "value": "NodePort"}))
    assert spec.overrides[0].cluster_overrides == (
        PatchOp(op="replace", path="/spec/type", value="NodePort"),
    )


def ports(*entries: dict[str, Any]) -> dict[str, Any]:
    return service_spec(ports=list(entries))


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        pytest.param({}, "spec.template", "Required value", id="no-template"),
        pytest.param({"template": {}}, "spec.template.spec", "Required value", id="no-template-spec"),
        pytest.param(service(dns={"ttl": 0}), "spec.dns.ttl", "must be >= 1", id="ttl-zero"),
        pytest.param(service(dns={"ttl": 86401}), "spec.dns.ttl", "must be <= 86400", id="ttl-over-a-day"),
        pytest.param(service(dns={"ttl": "180"}), "spec.dns.ttl", "must be an integer", id="ttl-string"),
        pytest.param(
            service(dns={"minReadyEndpoints": 0}),
            "spec.dns.minReadyEndpoints",
            "must be >= 1",
            id="min-ready",
        ),
        pytest.param(
            service(dns={"aliases": ["nginx"]}), "spec.dns.aliases[0]", "must match", id="alias-one-label"
        ),
        pytest.param(
            service(dns={"aliases": ["Nginx.Acme.com"]}),
            "spec.dns.aliases[0]",
            "must match",
            id="alias-uppercase",
        ),
        pytest.param(
            service(dns={"aliases": ["a.example.com", "a.example.com"]}),
            "spec.dns.aliases",
            "duplicate entries",
            id="alias-twice",
        ),
        pytest.param(
            service_spec(type="Headless", ports=[{"port": 80}]),
            "spec.template.spec.type",
            "must be one of 'ClusterIP', 'NodePort', 'LoadBalancer' or 'ExternalName'",
            id="service-type",
        ),
        pytest.param(
            service_spec(type="LoadBalancer"),
            "spec.template.spec",
            "ports must list at least one port unless type is ExternalName",
            id="no-ports",
        ),
        pytest.param(
            service_spec(type="ExternalName"),
            "spec.template.spec",
            "externalName is required when type is ExternalName",
            id="external-name-missing",
        ),
        pytest.param(
            ports({"port": 80}, {"port": 443}),
            "spec.template.spec.ports",
            "every port must have a name when there is more than one port",
            id="unnamed-ports",
        ),
        pytest.param(
            ports({"name": "web", "port": 80}, {"name": "web", "port": 443}),
            "spec.template.spec.ports",
            "port names must be unique",
            id="duplicate-port-names",
        ),
        pytest.param(
            ports({"name": "a", "port": 80}, {"name": "b", "port": 80}),
            "spec.template.spec.ports",
            "duplicate entry with port=80, protocol='TCP'",
            id="duplicate-port-protocol",
        ),
        pytest.param(ports({"port": 0}), "spec.template.spec.ports[0].port", "must be >= 1", id="port-zero"),
        pytest.param(
            ports({"port": 80, "protocol": "ICMP"}),
            "spec.template.spec.ports[0].protocol",
            "must be one of",
            id="protocol",
        ),
        pytest.param(
            ports({"port": 80, "targetPort": 70000}),
            "spec.template.spec.ports[0].targetPort",
            "port number must be between 1 and 65535",
            id="target-port-number",
        ),
        pytest.param(
            ports({"port": 80, "targetPort": "8080"}),
            "spec.template.spec.ports[0].targetPort",
            "port name must be",
            id="target-port-digits-as-string",
        ),
        pytest.param(
            ports({"port": 80, "targetPort": 80.5}),
            "spec.template.spec.ports[0].targetPort",
            "must be a port number or a port name",
            id="target-port-float",
        ),
        pytest.param(
            service_spec(ports=[{"port": 80}], selector={"app": 1}),
            "spec.template.spec.selector.app",
            "must be a string",
            id="selector-value",
        ),
        pytest.param(
            {"template": {"metadata": {"name": "other"}, "spec": {"ports": [{"port": 80}]}}},
            "spec.template.metadata.name",
            "unknown field",
            id="template-name",
        ),
        pytest.param(
            service(placement={"clusters": ["eu", "eu"]}),
            "spec.placement.clusters",
            "duplicate",
            id="cluster-twice",
        ),
        pytest.param(
            service(placement={"clusters": ["EU"]}),
            "spec.placement.clusters[0]",
            "must match",
            id="cluster-name",
        ),
        pytest.param(
            service(placement={"clusterSelector": {"matchExpressions": [{"key": "k", "operator": "In"}]}}),
            "spec.placement.clusterSelector.matchExpressions[0]",
            "values must be non-empty for operators In and NotIn",
            id="in-without-values",
        ),
        pytest.param(
            service(
                placement={
                    "clusterSelector": {
                        "matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]
                    }
                }
            ),
            "spec.placement.clusterSelector.matchExpressions[0]",
            "values must be non-empty for operators In and NotIn, and empty for Exists",
            id="exists-with-values",
        ),
        pytest.param(
            service(
                placement={"clusterSelector": {"matchExpressions": [{"key": "k", "operator": "Matches"}]}}
            ),
            "spec.placement.clusterSelector.matchExpressions[0].operator",
            "must be one of",
            id="selector-operator",
        ),
        pytest.param(
            overrides({"path": "spec/type", "value": "NodePort"}),
            "spec.overrides[0].clusterOverrides[0].path",
            "must match",
            id="path-without-slash",
        ),
        pytest.param(
            overrides({"op": "move", "path": "/spec/type"}),
            "spec.overrides[0].clusterOverrides[0].op",
            "must be one of 'add', 'remove' or 'replace'",
            id="patch-op",
        ),
        pytest.param(
            overrides({"op": "add", "path": "/spec/loadBalancerClass"}),
            "spec.overrides[0].clusterOverrides[0]",
            "value is required when op is add or replace",
            id="add-without-value",
        ),
        pytest.param(
            overrides({"path": "/metadata/name", "value": "other"}),
            "spec.overrides[0].clusterOverrides[0]",
            "path must not target",
            id="rename",
        ),
        pytest.param(
            service(overrides=[{"clusterName": "eu"}, {"clusterName": "eu"}]),
            "spec.overrides",
            "duplicate entry with clusterName='eu'",
            id="cluster-overridden-twice",
        ),
        pytest.param(
            service(overrides=[{"clusterOverrides": []}]),
            "spec.overrides[0].clusterName",
            "Required value",
            id="override-without-cluster",
        ),
        pytest.param(service(replicas=3), "spec.replicas", "unknown field", id="unknown-field"),
    ],
)
def test_invalid_federated_services(raw: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_federated_service_spec(raw)
    assert caught.value.field == field
    assert caught.value.message.startswith(message)


# --- the error and the parser -------------------------------------------------------------------------------


def test_error_names_every_failing_field() -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_federated_service_spec(service(dns={"ttl": 0, "minReadyEndpoints": 0}))
    error = caught.value
    assert isinstance(error, PermanentError)
    assert isinstance(error, FederationError)
    assert str(error) == "spec.dns.ttl: must be >= 1; spec.dns.minReadyEndpoints: must be >= 1"
    assert error.problems == (
        ("spec.dns.ttl", "must be >= 1"),
        ("spec.dns.minReadyEndpoints", "must be >= 1"),
    )


def test_read_only_mapping_views_are_accepted() -> None:
    # kopf hands bodies over as read-only views, not dicts.
    spec = parse_member_cluster_spec(MappingProxyType(member(probe=MappingProxyType({"periodSeconds": 3}))))
    assert spec.probe.period_seconds == 3


def test_non_json_input_is_an_invalid_spec() -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_member_cluster_spec(member(region=object()))
    assert caught.value.field == "spec"


def test_models_are_frozen() -> None:
    spec = parse_federated_service_spec(SERVICE)
    with pytest.raises(ValidationError):
        spec.dns.ttl = 60  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(SERVICE, id="minimal"),
        pytest.param(
            service(
                template={
                    "metadata": {"labels": {"app": "nginx"}, "annotations": {"a": "b"}},
                    "spec": {
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                        "externalIPs": ["1.2.3.4"],
                    },
                },
                overrides=[
                    {"clusterName": "eu", "clusterOverrides": [{"path": "/spec/x", "value": {"a": [1]}}]}
                ],
                dns={"aliases": ["nginx.acme.com"]},
            ),
            id="full",
        ),
    ],
)
def test_dump_and_parse_round_trip(raw: dict[str, Any]) -> None:
    spec = parse_federated_service_spec(raw)
    assert parse_federated_service_spec(spec.model_dump(mode="json")) == spec
    assert parse_federated_service_spec(spec.model_dump(mode="json", exclude_none=True)) == spec


def test_models_accept_python_names() -> None:
    assert MemberClusterSpec(
        api_endpoint="https://h:6443",
        secret_ref=SecretRef(name="s", namespace="n"),
        region="eu",
    ).model_dump(mode="json", exclude_none=True)["secretRef"] == {"name": "s", "namespace": "n"}


def test_status_round_trips_through_json() -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = MemberClusterStatus(
        observed_generation=2,
        conditions=(
            Condition(type="Ready", status="True", last_transition_time=now, reason="ProbeOK", message=""),
        ),
        kubernetes_version="v1.33.13",
        last_probe_time=now,
    )
    raw = status.model_dump(mode="json", exclude_none=True)
    assert raw["conditions"][0]["lastTransitionTime"] == "2025-01-02T03:04:05Z"
    assert parse_model(MemberClusterStatus, raw, root="status") == status


def test_status_conditions_are_unique_by_type() -> None:
    condition = {
        "type": "Ready",
        "status": "True",
        "lastTransitionTime": "2025-01-02T03:04:05Z",
        "reason": "A",
    }
    with pytest.raises(InvalidSpecError) as caught:
        parse_model(MemberClusterStatus, {"conditions": [{**condition, "message": ""}] * 2}, root="status")
    assert caught.value.problems == (("status.conditions", "duplicate entry with type='Ready'"),)
