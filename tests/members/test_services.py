"""Service and namespace I/O against a real member: create, apply, repair, delete by UID, error mapping."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.federation import free_port

from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.domain.members import FIELD_MANAGER, LABEL_MANAGED_BY, MANAGED_BY
from federation_operator.kube.credentials import MemberApiClient, build_api_client
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.member_services import (
    ServiceExistsError,
    apply_service,
    create_service,
    delete_service,
    ensure_namespace,
    fetch_service,
)
from tests.members import (
    MEMBER,
    admin_client,
    fresh_namespace,
    kubeconfig_secret,
    member_spec,
    service_manifest,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def member_api(federation: LocalFederation) -> Iterator[MemberApiClient]:
    api = build_api_client(member_spec(federation, MEMBER), kubeconfig_secret(federation, MEMBER))
    yield api
    api.close()


@pytest.fixture
def namespace(federation: LocalFederation) -> Iterator[str]:
    with fresh_namespace(federation, MEMBER) as name:
        yield name


def test_ensure_namespace_creates_and_labels_only_its_own(
    federation: LocalFederation, member_api: MemberApiClient, namespace: str
) -> None:
    created = f"t-{uuid.uuid4().hex[:8]}"
    with admin_client(federation, MEMBER) as admin:
        core = client.CoreV1Api(admin)
        try:
            assert ensure_namespace(member_api, created) is True
            assert ensure_namespace(member_api, created) is False
            labels = core.read_namespace(created).metadata.labels
            assert labels[LABEL_MANAGED_BY] == MANAGED_BY
        finally:
            core.delete_namespace(created)
        assert ensure_namespace(member_api, namespace) is False
        assert LABEL_MANAGED_BY not in (core.read_namespace(namespace).metadata.labels or {})


def test_create_then_create_again_is_service_exists(member_api: MemberApiClient, namespace: str) -> None:
    created = create_service(member_api, service_manifest(namespace, "nginx"))
    assert created["metadata"]["uid"]
    assert created["spec"]["ports"][0]["targetPort"] == 8080
    with pytest.raises(ServiceExistsError) as caught:
        create_service(member_api, service_manifest(namespace, "nginx"))
    assert isinstance(caught.value, PermanentError)
    assert (caught.value.namespace, caught.value.name) == (namespace, "nginx")
    fetched = fetch_service(member_api, namespace, "nginx")
    assert fetched is not None
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
    assert fetch_service(member_api, namespace, "absent") is None


def test_apply_is_idempotent(member_api: MemberApiClient, namespace: str) -> None:
    manifest = service_manifest(namespace, "nginx", {"app": "nginx"})
    first = apply_service(member_api, manifest)
    second = apply_service(member_api, copy.deepcopy(manifest))
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    managers = {(m["manager"], m["operation"]) for m in second["metadata"]["managedFields"]}
    assert (FIELD_MANAGER, "Apply") in managers


def test_apply_repairs_a_changed_port_number(
    federation: LocalFederation, member_api: MemberApiClient, namespace: str
) -> None:
    manifest = service_manifest(namespace, "nginx")
    apply_service(member_api, manifest)
    with admin_client(federation, MEMBER) as admin:
        # What `kubectl edit` does when someone changes the port: the new entry belongs to that manager.
        client.CoreV1Api(admin).patch_namespaced_service(
            "nginx",
            namespace,
            [{"op": "replace", "path": "/spec/ports/0/port", "value": 81}],
            _content_type="application/json-patch+json",
        )
    drifted = fetch_service(member_api, namespace, "nginx")
    assert drifted is not None
    assert [p["port"] for p in drifted["spec"]["ports"]] == [81]

    repaired = apply_service(member_api, manifest)
    assert [(p["name"], p["port"], p["targetPort"]) for p in repaired["spec"]["ports"]] == [
        ("http", 80, 8080)
    ]
    again = apply_service(member_api, manifest)
    assert again["metadata"]["resourceVersion"] == repaired["metadata"]["resourceVersion"]


def test_apply_repairs_a_changed_target_port_and_an_added_port(
    federation: LocalFederation, member_api: MemberApiClient, namespace: str
) -> None:
    manifest = service_manifest(namespace, "nginx")
    apply_service(member_api, manifest)
    with admin_client(federation, MEMBER) as admin:
        client.CoreV1Api(admin).patch_namespaced_service(
            "nginx",
            namespace,
            {
                "spec": {
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": 9090},
                        {"name": "admin", "port": 9000, "targetPort": 9000},
                    ]
                }
            },
        )
    repaired = apply_service(member_api, manifest)
    assert [(p["name"], p["port"], p["targetPort"]) for p in repaired["spec"]["ports"]] == [
        ("http", 80, 8080)
    ]


def test_delete_only_with_the_right_uid(member_api: MemberApiClient, namespace: str) -> None:
    uid = create_service(member_api, service_manifest(namespace, "nginx"))["metadata"]["uid"]
    assert delete_service(member_api, namespace, "nginx", str(uuid.uuid4())) == "uid-mismatch"
    assert fetch_service(member_api, namespace, "nginx") is not None
    assert delete_service(member_api, namespace, "nginx", uid) == "deleted"
    assert fetch_service(member_api, namespace, "nginx") is None
    assert delete_service(member_api, namespace, "nginx", uid) == "absent"
    assert delete_service(member_api, namespace, "nginx", None) == "absent"


def test_invalid_manifest_is_permanent_with_the_servers_reason(
    member_api: MemberApiClient, namespace: str
) -> None:
    manifest = service_manifest(namespace, "nginx")
    manifest["spec"]["ports"][0]["port"] = 70000
    with pytest.raises(PermanentError) as caught:
        apply_service(member_api, manifest)
    assert not isinstance(caught.value, TransientError)
    message = str(caught.value)
    assert message.startswith(f"apply Service {namespace}/nginx: ")
    assert "spec.ports[0].port" in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("kind", "Pod", "not a Service manifest"), ("metadata", {"name": "x"}, "lacks metadata.namespace")],
)
def test_malformed_manifest_is_refused_before_any_request(
    member_api: MemberApiClient, field: str, value: object, expected: str
) -> None:
    manifest = service_manifest("default", "nginx")
    manifest[field] = value
    with pytest.raises(PermanentError, match=expected):
        apply_service(member_api, manifest)


def test_missing_namespace_is_transient(member_api: MemberApiClient) -> None:
    with pytest.raises(TransientError, match="not found"):
        create_service(member_api, service_manifest(f"t-{uuid.uuid4().hex[:8]}", "nginx"))


def test_unreachable_member_is_transient(federation: LocalFederation) -> None:
    spec = member_spec(federation, MEMBER, apiEndpoint=f"https://127.0.0.1:{free_port()}")
    api = build_api_client(spec, kubeconfig_secret(federation, MEMBER))
    try:
        with pytest.raises(ApiConnectionError) as caught:
            apply_service(api, service_manifest("default", "nginx"))
    finally:
        api.close()
    assert isinstance(caught.value, TransientError)
    assert str(caught.value) == "apply Service default/nginx: connection refused"
    assert caught.value.reason == "connection refused"
