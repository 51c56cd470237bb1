"""fetch_cluster_id against real members: one stable ID per cluster whatever URL reaches it, distinct between
clusters, and a clear transient error when the member cannot be reached."""

from __future__ import annotations

import socket
import uuid

import pytest
from kubernetes import client
from localfed import LocalFederation

from federation_operator.domain.errors import PermanentError
from federation_operator.kube.cluster_identity import fetch_cluster_id
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.errors import ApiConnectionError
from tests.members import MEMBER, admin_client, fresh_namespace, kubeconfig_secret, member_spec

pytestmark = pytest.mark.e2e


def read(federation: LocalFederation, cluster: str, server: str | None = None) -> str:
    spec = member_spec(federation, cluster, **({"apiEndpoint": server} if server else {}))
    api = build_api_client(spec, kubeconfig_secret(federation, cluster, server=server))
    try:
        return fetch_cluster_id(api, 5.0)
    finally:
        api.close()


def test_cluster_id_is_the_kube_system_namespace_uid(federation: LocalFederation) -> None:
    with admin_client(federation, MEMBER) as api:
        expected = client.CoreV1Api(api).read_namespace("kube-system").metadata.uid
    assert read(federation, MEMBER) == expected


def test_the_same_cluster_through_another_url_has_the_same_id(federation: LocalFederation) -> None:
    server = federation.clusters[MEMBER].server
    assert server.startswith("https://127.0.0.1:"), server
    # The API server's certificate names localhost too: a second registration need not use the same URL.
    again = read(federation, MEMBER, server=server.replace("127.0.0.1", "localhost"))
    assert again == read(federation, MEMBER)


def test_every_cluster_has_its_own_id(federation: LocalFederation) -> None:
    ids = {member.spec.name: read(federation, member.spec.name) for member in federation.members}
    assert len(ids) >= 3
    assert len(set(ids.values())) == len(ids), ids


def test_an_unreachable_member_is_a_transient_error(federation: LocalFederation) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    server = f"https://127.0.0.1:{port}"
    spec = member_spec(federation, MEMBER, apiEndpoint=server)
    api = build_api_client(spec, kubeconfig_secret(federation, MEMBER, server=server))
    try:
        with pytest.raises(ApiConnectionError, match="get Namespace kube-system: connection refused"):
            fetch_cluster_id(api, 2.0)
    finally:
        api.close()


def test_a_role_without_namespaces_is_a_permanent_error(federation: LocalFederation) -> None:
    """Credentials a user made by hand, without fedctl's role (here: none at all): 403, whatever we retry."""
    with fresh_namespace(federation, MEMBER) as namespace, admin_client(federation, MEMBER) as admin:
        core = client.CoreV1Api(admin)
        account = f"reader-{uuid.uuid4().hex[:6]}"  # no role bound: it may read nothing
        core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
        token = core.create_namespaced_service_account_token(
            account, namespace, {"spec": {"expirationSeconds": 600}}
        ).status.token
        ca = (federation.clusters[MEMBER].dir / "pki" / "ca.crt").read_bytes()
        api = build_api_client(member_spec(federation, MEMBER), {"token": token.encode(), "ca.crt": ca})
        try:
            with pytest.raises(PermanentError, match=r"get Namespace kube-system: .*forbidden") as caught:
                fetch_cluster_id(api, 5.0)
        finally:
            api.close()
    assert not isinstance(caught.value, ApiConnectionError)
