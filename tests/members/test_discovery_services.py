"""Discovery Services against a real member: written as the operator writes them (server-side apply of the
rendered ExternalName manifest), listed back by federation label with their targets, foreign ones ignored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from localfed import LocalFederation

from federation_operator.kube.client import ClusterClient
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.discovery_services import fetch_discovery_services_exchange
from federation_operator.kube.member_services import apply_service_exchange, delete_service_exchange
from federation_operator.planning.discovery import (
    LABEL_DISCOVERY_FEDERATION,
    DiscoveryAnswer,
    render_discovery_service,
)
from tests.members import MEMBER, Runner, fresh_namespace, kubeconfig_secret, member_spec, service_manifest

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


def manifest(federation: str, namespace: str, key: tuple[str, str], target: str) -> dict[str, object]:
    service = f"{key[1]}--{key[0]}"
    rendered = render_discovery_service(federation, key, service, DiscoveryAnswer(MEMBER, "Local", target))
    rendered["metadata"]["namespace"] = namespace  # type: ignore[index]
    return rendered


def test_written_services_are_listed_back_with_their_targets(
    member_api: ClusterClient, namespace: str, runner: Runner
) -> None:
    fed = f"f{uuid.uuid4().hex[:6]}"
    selector = f"{LABEL_DISCOVERY_FEDERATION}={fed}"
    assert runner(member_api, fetch_discovery_services_exchange(namespace, selector)) == {}

    runner(
        member_api,
        apply_service_exchange(manifest(fed, namespace, ("ns-a", "web"), "web.ns-a.svc.cluster.local")),
    )
    runner(
        member_api,
        apply_service_exchange(
            manifest(fed, namespace, ("ns-b", "api"), "api.ns-b.myfed.svc.zone-a.example.com")
        ),
    )
    # Another federation's, and a foreign Service: not ours to list.
    runner(
        member_api,
        apply_service_exchange(manifest("other", namespace, ("ns-c", "x"), "x.ns-c.svc.cluster.local")),
    )
    runner(member_api, apply_service_exchange(service_manifest(namespace, "foreign")))
    assert runner(member_api, fetch_discovery_services_exchange(namespace, selector)) == {
        "web--ns-a": "web.ns-a.svc.cluster.local",
        "api--ns-b": "api.ns-b.myfed.svc.zone-a.example.com",
    }

    # Switching the answer is one apply of the same Service with another target.
    written = runner(
        member_api,
        apply_service_exchange(manifest(fed, namespace, ("ns-a", "web"), "web.ns-a.myfed.svc.z.example.com")),
    )
    assert written["spec"]["type"] == "ExternalName"
    assert (
        runner(member_api, fetch_discovery_services_exchange(namespace, selector))["web--ns-a"]
        == "web.ns-a.myfed.svc.z.example.com"
    )

    assert runner(member_api, delete_service_exchange(namespace, "api--ns-b", None)) == "deleted"
    assert set(runner(member_api, fetch_discovery_services_exchange(namespace, selector))) == {"web--ns-a"}


def test_a_namespace_that_does_not_exist_holds_none(member_api: ClusterClient, runner: Runner) -> None:
    missing = f"absent-{uuid.uuid4().hex[:6]}"
    assert (
        runner(member_api, fetch_discovery_services_exchange(missing, f"{LABEL_DISCOVERY_FEDERATION}=x"))
        == {}
    )
