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
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.member_services import (
    ServiceExistsError,
    apply_service_exchange,
    create_service_exchange,
    delete_service_exchange,
    ensure_namespace_exchange,
    fetch_service_exchange,
)
from tests.members import (
    MEMBER,
    Runner,
    admin_client,
    fresh_namespace,
    kubeconfig_secret,
    member_spec,
    service_manifest,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def member_api(federation: LocalFederation) -> Iterator[ClusterClient]:
    api = build_api_client(member_spec(federation, MEMBER), kubeconfig_secret(federation, MEMBER))
    yield api
    api.close()


@pytest.fixture
def namespace(federation: LocalFederation) -> Iterator[str]:
    with fresh_namespace(federation, MEMBER) as name:
        yield name


def test_ensure_namespace_creates_and_labels_only_its_own(
    federation: LocalFederation, member_api: ClusterClient, namespace: str, runner: Runner
) -> None:
    created = f"t-{uuid.uuid4().hex[:8]}"
    with admin_client(federation, MEMBER) as admin:
        core = client.CoreV1Api(admin)
        try:
            assert runner(member_api, ensure_namespace_exchange(created)) is True
            assert runner(member_api, ensure_namespace_exchange(created)) is False
            labels = core.read_namespace(created).metadata.labels
            assert labels[LABEL_MANAGED_BY] == MANAGED_BY
        finally:
            core.delete_namespace(created)
        assert runner(member_api, ensure_namespace_exchange(namespace)) is False
        assert LABEL_MANAGED_BY not in (core.read_namespace(namespace).metadata.labels or {})


def test_create_then_create_again_is_service_exists(
    member_api: ClusterClient, namespace: str, runner: Runner
) -> None:
    created = runner(member_api, create_service_exchange(service_manifest(namespace, "nginx")))
    assert created["metadata"]["uid"]
    assert created["spec"]["ports"][0]["targetPort"] == 8080
    with pytest.raises(ServiceExistsError) as caught:
        runner(member_api, create_service_exchange(service_manifest(namespace, "nginx")))
    assert isinstance(caught.value, PermanentError)
    assert (caught.value.namespace, caught.value.name) == (namespace, "nginx")
    fetched = runner(member_api, fetch_service_exchange(namespace, "nginx"))
    assert fetched is not None
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
    assert runner(member_api, fetch_service_exchange(namespace, "absent")) is None


def test_apply_is_idempotent(member_api: ClusterClient, namespace: str, runner: Runner) -> None:
    manifest = service_manifest(namespace, "nginx", {"app": "nginx"})
    first = runner(member_api, apply_service_exchange(manifest))
    second = runner(member_api, apply_service_exchange(copy.deepcopy(manifest)))
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    managers = {(m["manager"], m["operation"]) for m in second["metadata"]["managedFields"]}
    assert (FIELD_MANAGER, "Apply") in managers


def test_apply_repairs_a_changed_port_number(
    federation: LocalFederation, member_api: ClusterClient, namespace: str, runner: Runner
) -> None:
    manifest = service_manifest(namespace, "nginx")
    runner(member_api, apply_service_exchange(manifest))
    with admin_client(federation, MEMBER) as admin:
        # What `kubectl edit` does when someone changes the port: the new entry belongs to that manager.
        client.CoreV1Api(admin).patch_namespaced_service(
            "nginx",
            namespace,
            [{"op": "replace", "path": "/spec/ports/0/port", "value": 81}],
            _content_type="application/json-patch+json",
        )
    drifted = runner(member_api, fetch_service_exchange(namespace, "nginx"))
    assert drifted is not None
    assert [p["port"] for p in drifted["spec"]["ports"]] == [81]

    repaired = runner(member_api, apply_service_exchange(manifest))
    assert [(p["name"], p["port"], p["targetPort"]) for p in repaired["spec"]["ports"]] == [
        ("http", 80, 8080)
    ]
    again = runner(member_api, apply_service_exchange(manifest))
    assert again["metadata"]["resourceVersion"] == repaired["metadata"]["resourceVersion"]


def test_apply_repairs_a_changed_target_port_and_an_added_port(
    federation: LocalFederation, member_api: ClusterClient, namespace: str, runner: Runner
) -> None:
    manifest = service_manifest(namespace, "nginx")
    runner(member_api, apply_service_exchange(manifest))
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
    repaired = runner(member_api, apply_service_exchange(manifest))
    assert [(p["name"], p["port"], p["targetPort"]) for p in repaired["spec"]["ports"]] == [
        ("http", 80, 8080)
    ]


def test_delete_only_with_the_right_uid(member_api: ClusterClient, namespace: str, runner: Runner) -> None:
    uid = runner(member_api, create_service_exchange(service_manifest(namespace, "nginx")))["metadata"]["uid"]
    assert (
        runner(member_api, delete_service_exchange(namespace, "nginx", str(uuid.uuid4()))) == "uid-mismatch"
    )
    assert runner(member_api, fetch_service_exchange(namespace, "nginx")) is not None
    assert runner(member_api, delete_service_exchange(namespace, "nginx", uid)) == "deleted"
    assert runner(member_api, fetch_service_exchange(namespace, "nginx")) is None
    assert runner(member_api, delete_service_exchange(namespace, "nginx", uid)) == "absent"
    assert runner(member_api, delete_service_exchange(namespace, "nginx", None)) == "absent"


def test_invalid_manifest_is_permanent_with_the_servers_reason(
    member_api: ClusterClient, namespace: str, runner: Runner
) -> None:
    manifest = service_manifest(namespace, "nginx")
    manifest["spec"]["ports"][0]["port"] = 70000
    with pytest.raises(PermanentError) as caught:
        runner(member_api, apply_service_exchange(manifest))
    assert not isinstance(caught.value, TransientError)
    message = str(caught.value)
    assert message.startswith(f"apply Service {namespace}/nginx: ")
    assert "spec.ports[0].port" in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("kind", "Pod", "not a Service manifest"), ("metadata", {"name": "x"}, "lacks metadata.namespace")],
)
def test_malformed_manifest_is_refused_before_any_request(
    member_api: ClusterClient, field: str, value: object, expected: str, runner: Runner
) -> None:
    manifest = service_manifest("default", "nginx")
    manifest[field] = value
    with pytest.raises(PermanentError, match=expected):
        runner(member_api, apply_service_exchange(manifest))


def test_missing_namespace_is_transient(member_api: ClusterClient, runner: Runner) -> None:
    with pytest.raises(TransientError, match="not found"):
        runner(member_api, create_service_exchange(service_manifest(f"t-{uuid.uuid4().hex[:8]}", "nginx")))


def test_unreachable_member_is_transient(federation: LocalFederation, runner: Runner) -> None:
    spec = member_spec(federation, MEMBER, apiEndpoint=f"https://127.0.0.1:{free_port()}")
    api = build_api_client(spec, kubeconfig_secret(federation, MEMBER))
    try:
        with pytest.raises(ApiConnectionError) as caught:
            runner(api, apply_service_exchange(service_manifest("default", "nginx")))
    finally:
        api.close()
    assert isinstance(caught.value, TransientError)
    assert str(caught.value) == "apply Service default/nginx: connection refused"
    assert caught.value.reason == "connection refused"
