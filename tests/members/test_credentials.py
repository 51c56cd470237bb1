"""API clients from credential Secrets against real members: kubeconfig (files, inline) and token + CA, on
both request paths (a thread's, the event loop's)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from localfed import LocalFederation

from federation_operator.kube import client as client_module
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.host import build_host_client
from federation_operator.kube.probe import fetch_probe
from federation_operator.kube.transport import Exchange, Request
from tests.members import (
    MEMBER,
    Runner,
    admin_client,
    fresh_namespace,
    kubeconfig_secret,
    member_spec,
    write_kubeconfig,
)

pytestmark = pytest.mark.e2e

OTHER_MEMBER = "gce-europe-west1"


@pytest.mark.parametrize("inline", [False, True], ids=["certificate files", "inline data"])
def test_kubeconfig_with_client_certificate(federation: LocalFederation, inline: bool) -> None:
    api = build_api_client(
        member_spec(federation, MEMBER), kubeconfig_secret(federation, MEMBER, inline=inline)
    )
    try:
        result = fetch_probe(api, 5.0)
    finally:
        api.close()
    assert result.ok, result.error
    assert result.regions == {"asia-east1"}


def test_kubeconfig_server_is_ignored_for_the_spec_endpoint(federation: LocalFederation) -> None:
    secret = kubeconfig_secret(federation, MEMBER, server="https://127.0.0.1:1")
    api = build_api_client(member_spec(federation, MEMBER), secret)
    try:
        result = fetch_probe(api, 5.0)
    finally:
        api.close()
    assert result.ok, result.error


def test_another_members_ca_fails_verification(federation: LocalFederation) -> None:
    ca = (federation.clusters[OTHER_MEMBER].dir / "pki" / "ca.crt").read_bytes()
    api = build_api_client(member_spec(federation, MEMBER), {"token": b"whatever", "ca.crt": ca})
    try:
        result = fetch_probe(api, 5.0)
    finally:
        api.close()
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("TLS certificate verification failed"), result.error


@pytest.fixture(scope="module")
def service_account_token(federation: LocalFederation) -> Iterator[str]:
    """A token of a ServiceAccount in the member allowed to read nodes (what a probe needs), minted by
    the TokenRequest API; the ServiceAccount, its namespace and its RBAC are removed afterwards."""
    role = f"fedop-probe-{uuid.uuid4().hex[:8]}"
    with fresh_namespace(federation, MEMBER) as namespace, admin_client(federation, MEMBER) as admin:
        core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
        core.create_namespaced_service_account(namespace, {"metadata": {"name": "fedop"}})
        rbac.create_cluster_role(
            {
                "metadata": {"name": role},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}],
            }
        )
        try:
            rbac.create_cluster_role_binding(
                {
                    "metadata": {"name": role},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": [{"kind": "ServiceAccount", "name": "fedop", "namespace": namespace}],
                }
            )
            minted = core.create_namespaced_service_account_token(
                "fedop", namespace, {"spec": {"expirationSeconds": 3600}}
            )
            yield minted.status.token
        finally:
            rbac.delete_cluster_role(role)
            rbac.delete_cluster_role_binding(role)


def test_token_and_ca(federation: LocalFederation, service_account_token: str) -> None:
    ca = (federation.clusters[MEMBER].dir / "pki" / "ca.crt").read_bytes()
    secret = {"token": f"{service_account_token}\n".encode(), "ca.crt": ca}
    api = build_api_client(member_spec(federation, MEMBER), secret)
    try:
        result = fetch_probe(api, 5.0)
    finally:
        api.close()
    assert result.ok, result.error
    assert not result.credentials_refused
    assert result.zones == {"asia-east1-a", "asia-east1-b"}


def test_wrong_token_is_unauthorized(federation: LocalFederation, service_account_token: str) -> None:
    ca = (federation.clusters[MEMBER].dir / "pki" / "ca.crt").read_bytes()
    secret = {"token": service_account_token[:-4].encode() + b"AAAA", "ca.crt": ca}
    api = build_api_client(member_spec(federation, MEMBER), secret)
    try:
        result = fetch_probe(api, 5.0)
    finally:
        api.close()
    assert not result.ok
    assert result.error == "unauthorized"
    assert result.credentials_refused  # the supervisor then re-reads the Secret


def list_nodes() -> Exchange[int]:
    """The status of a list of the member's nodes (what the probe reads)."""
    response = yield Request("GET", "/api/v1/nodes", "list Nodes", query=[("limit", 1)])
    return response.status


@pytest.mark.parametrize("kind", ["certificate files", "inline certificate", "token", "wrong token"])
def test_each_request_path_sends_the_credentials(
    federation: LocalFederation, service_account_token: str, runner: Runner, kind: str
) -> None:
    ca = (federation.clusters[MEMBER].dir / "pki" / "ca.crt").read_bytes()
    secrets = {
        "certificate files": kubeconfig_secret(federation, MEMBER),
        "inline certificate": kubeconfig_secret(federation, MEMBER, inline=True),
        "token": {"token": service_account_token.encode(), "ca.crt": ca},
        "wrong token": {"token": service_account_token[:-4].encode() + b"AAAA", "ca.crt": ca},
    }
    api = build_api_client(member_spec(federation, MEMBER), secrets[kind])
    try:
        assert runner(api, list_nodes(), timeout=5.0) == (401 if kind == "wrong token" else 200)
    finally:
        api.close()


def test_each_request_path_checks_the_servers_certificate(
    federation: LocalFederation, runner: Runner
) -> None:
    ca = (federation.clusters[OTHER_MEMBER].dir / "pki" / "ca.crt").read_bytes()
    api = build_api_client(member_spec(federation, MEMBER), {"token": b"whatever", "ca.crt": ca})
    try:
        with pytest.raises(ApiConnectionError, match="TLS certificate verification failed"):
            runner(api, list_nodes(), timeout=5.0)
    finally:
        api.close()


# An exec credential plugin whose first answer the server refuses: a token without an expirationTimestamp,
# as a plugin handing out a long-lived token answers.
REFUSED_FIRST_PLUGIN = """#!{python}
import json, pathlib, sys
state = pathlib.Path(sys.argv[1])
calls = int(state.read_text()) + 1 if state.exists() else 1
state.write_text(str(calls))
token = sys.argv[2] if calls == 1 else sys.argv[3]
kind = {{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}}
print(json.dumps({{**kind, "status": {{"token": token}}}}))
"""


@pytest.mark.parametrize("source", ["exec plugin", "token file"])
def test_credentials_the_server_refuses_are_renewed_at_once(
    federation: LocalFederation,
    service_account_token: str,
    runner: Runner,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 401 makes the client take new credentials, as client-go does: the exec plugin is run again (in the
    background: the event loop never waits for it) and a token file read again, without waiting for an
    expiry the plugin never gave or for the file's next periodic read."""
    wrong = service_account_token[:-4] + "AAAA"
    if source == "exec plugin":
        plugin = tmp_path / "plugin"
        plugin.write_text(REFUSED_FIRST_PLUGIN.format(python=sys.executable))
        plugin.chmod(0o755)
        user: dict[str, Any] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": str(plugin),
                "args": [str(tmp_path / "calls"), wrong, service_account_token],
            }
        }
        # The throttle (a plugin runs at most once every EXEC_RETRY_SECONDS) would hold the second run
        # back for 10 s after the first: this test is about the refusal, not the throttle.
        monkeypatch.setattr(client_module, "EXEC_RETRY_SECONDS", 0.0)
    else:
        token_file = tmp_path / "token"
        token_file.write_text(wrong)
        user = {"tokenFile": str(token_file)}
    ca = federation.clusters[MEMBER].dir / "pki" / "ca.crt"
    kubeconfig = write_kubeconfig(
        tmp_path / "config",
        cluster={"server": federation.clusters[MEMBER].server, "certificate-authority": str(ca)},
        user=user,
    )
    api = build_host_client(kubeconfig, None)
    try:
        # The first token taken in this thread, as the operator's first host request takes it: on the event
        # loop, a plugin with no token yet runs in the background, and that request goes without one.
        assert api.headers()["Authorization"] == f"Bearer {wrong}"
        assert runner(api, list_nodes(), timeout=5.0) == 401
        if source == "token file":
            token_file.write_text(service_account_token)  # rotated: read again at the refusal, not in 60 s
            # Still the token read at the first refusal; this refusal reads the file again.
            assert runner(api, list_nodes(), timeout=5.0) == 401
        else:
            # The renewal the refusal started, if it is still under way, waited for (this call starts none).
            renewal = api.credentials_refused(f"Bearer {wrong}")
            if renewal is not None:
                renewal.join(30)
        assert runner(api, list_nodes(), timeout=5.0) == 200
        if source == "exec plugin":
            assert (tmp_path / "calls").read_text() == "2"
    finally:
        api.close()
