"""`kubectl fed` end to end: join, unjoin and status through kubectl's plugin mechanism (local federation).

The session's members are registered by `fedctl join` already (the `registered` fixture). Here one of them is
taken out with `unjoin` and joined again as a user would (`kubectl fed join`, a real subprocess found by
kubectl on PATH); whatever happens, it is registered again with the tests' settings at the end.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.federation import ClusterState
from localfed.operator import (
    GROUP,
    JOIN_PROBE_FLAGS,
    OPERATOR_NAMESPACE,
    REPO,
    VERSION,
    OperatorProcess,
    condition,
    eventually,
    is_member_ready,
    member_cluster,
    register_member,
)

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

FEDERATION = "myfederation"
SERVICE_ACCOUNT = f"fedop-{FEDERATION}"
TOKEN_SECRET = f"fedop-{FEDERATION}-token"
FEDCTL_SELECTOR = f"app.kubernetes.io/managed-by=fedctl,fedop.io/federation={FEDERATION}"
VENV_BIN = REPO / ".venv" / "bin"


def kubectl_fed(
    fed: LocalFederation, *args: str, kubeconfig_flag: bool = True
) -> subprocess.CompletedProcess[str]:
    """`kubectl fed ARGS`: kubectl finds the plugin `kubectl-fed` on PATH (no flags may come before `fed`)."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["KUBECONFIG"] = str(fed.kubeconfig)  # whose current context is the host, `federation`
    flags = ["--kubeconfig", str(fed.kubeconfig), "--host-context", "federation"] if kubeconfig_flag else []
    # Ours go first: a flag given again in `args` wins (argparse keeps the last).
    return subprocess.run(
        ["kubectl", "fed", *flags, *args], capture_output=True, text=True, env=env, timeout=240, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def failed(result: subprocess.CompletedProcess[str], code: int, *phrases: str) -> str:
    assert result.returncode == code, f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"
    for phrase in phrases:
        assert phrase in result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def fedctl_objects(fed: LocalFederation, cluster: str) -> dict[str, list[str]]:
    """What fedctl created for the federation in `cluster`, found by its labels, as `[namespace/]name`."""
    api = fed.api_client(cluster)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)

    def names(listing: Any) -> list[str]:
        return sorted(
            f"{i.metadata.namespace}/{i.metadata.name}" if i.metadata.namespace else i.metadata.name
            for i in listing.items
        )

    return {
        "clusterroles": names(rbac.list_cluster_role(label_selector=FEDCTL_SELECTOR)),
        "clusterrolebindings": names(rbac.list_cluster_role_binding(label_selector=FEDCTL_SELECTOR)),
        "serviceaccounts": names(
            core.list_service_account_for_all_namespaces(label_selector=FEDCTL_SELECTOR)
        ),
        "secrets": names(core.list_secret_for_all_namespaces(label_selector=FEDCTL_SELECTOR)),
        "namespaces": names(core.list_namespace(label_selector=FEDCTL_SELECTOR)),
    }


NOTHING: dict[str, list[str]] = {
    "clusterroles": [],
    "clusterrolebindings": [],
    "serviceaccounts": [],
    "secrets": [],
    "namespaces": [],
}


def host_secret(fed: LocalFederation, member: str) -> Any | None:
    try:
        return client.CoreV1Api(fed.api_client("federation")).read_namespaced_secret(
            f"{member}-credentials", OPERATOR_NAMESPACE
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def member_cluster_exists(fed: LocalFederation, name: str) -> bool:
    try:
        member_cluster(fed, name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def namespace_phase(fed: LocalFederation, cluster: str, name: str) -> str | None:
    try:
        return str(client.CoreV1Api(fed.api_client(cluster)).read_namespace(name).status.phase)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def service(fed: LocalFederation, cluster: str, namespace: str, name: str) -> Any | None:
    try:
        return client.CoreV1Api(fed.api_client(cluster)).read_namespaced_service(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def lb_address(fed: LocalFederation, cluster: str, namespace: str, name: str) -> str | None:
    svc = service(fed, cluster, namespace, name)
    ingress = svc.status.load_balancer.ingress if svc and svc.status and svc.status.load_balancer else None
    return str(ingress[0].ip) if ingress else None


def token_kubeconfig(fed: LocalFederation, member: ClusterState, path: Path) -> Path:
    """A kubeconfig that authenticates to the member with the token fedctl stored in the host."""
    secret = host_secret(fed, member.spec.name)
    assert secret is not None
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "m",
                        "cluster": {
                            "server": member.server,
                            "certificate-authority-data": secret.data["ca.crt"],
                        },
                    }
                ],
                "users": [{"name": "sa", "user": {"token": base64.b64decode(secret.data["token"]).decode()}}],
                "contexts": [{"name": "m", "context": {"cluster": "m", "user": "sa"}}],
                "current-context": "m",
            }
        )
    )
    return path


def can_i(kubeconfig: Path, *question: str) -> bool:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "auth", "can-i", *question],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"can-i {question}: {result.stdout}{result.stderr}"
    return answer == "yes"


@pytest.fixture(scope="module")
def plugin() -> Path:
    found = shutil.which("kubectl-fed", path=str(VENV_BIN))
    assert found, f"kubectl-fed is not installed in {VENV_BIN}: run .venv/bin/pip install -e '.[dev]'"
    return Path(found)


@pytest.fixture
def member(operator: OperatorProcess, registered: LocalFederation, plugin: Path) -> Iterator[ClusterState]:
    """The member this module takes out of the federation and joins again; registered again at the end."""
    chosen = registered.members[0]
    yield chosen
    registered.start_apiserver(chosen.spec.name)  # a no-op unless a failed test left it stopped
    register_member(registered, registered.clusters[chosen.spec.name])
    eventually("member Ready again", lambda: is_member_ready(registered, chosen.spec.name), timeout=60)
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def test_bad_input_fails_with_a_clear_message(registered: LocalFederation, plugin: Path) -> None:
    # The host holds the members' credentials Secrets; nothing below may add anything.
    host_before = fedctl_objects(registered, "federation")
    failed(kubectl_fed(registered, "join", "no-such-context"), 2, "CONTEXT: no context 'no-such-context'")
    failed(
        kubectl_fed(registered, "join", "no-such-context", "--host-context", "nope"),
        2,
        "--host-context: no context 'nope'",
    )
    failed(
        kubectl_fed(registered, "join", registered.members[0].spec.name, "--label", "no value"), 2, "--label"
    )
    failed(
        kubectl_fed(registered, "join", registered.members[0].spec.name, "--api-endpoint", "http://x:80"),
        2,
        "--api-endpoint",
    )
    # The host cluster's own node carries no topology labels: joining it as a member needs --region, and
    # nothing is written before that is found out.
    failed(kubectl_fed(registered, "join", "federation"), 1, "topology.kubernetes.io/region", "pass --region")
    assert not member_cluster_exists(registered, "federation")
    assert fedctl_objects(registered, "federation") == host_before
    failed(kubectl_fed(registered, "status", "no-such-service", "-n", "default"), 1, "not found")


def test_join_of_a_member_under_another_name_and_url_is_refused(
    operator: OperatorProcess, registered: LocalFederation, plugin: Path
) -> None:
    """The same cluster through another URL (its certificate names localhost too) is recognised by its
    kube-system Namespace UID, which the operator recorded on the MemberCluster; nothing is written."""
    existing = registered.members[-1]
    recorded = eventually(
        f"{existing.spec.name}'s cluster ID recorded",
        lambda: member_cluster(registered, existing.spec.name).get("status", {}).get("clusterID"),
        timeout=60,
    )
    host_before = fedctl_objects(registered, "federation")
    member_before = fedctl_objects(registered, existing.spec.name)
    failed(
        kubectl_fed(
            registered,
            "join",
            existing.spec.name,
            "--name",
            "same-cluster-again",
            "--api-endpoint",
            existing.server.replace("127.0.0.1", "localhost"),
            "--region",
            existing.spec.region or "",
        ),
        1,
        f"kube-system UID {recorded}",
        f"already joined as MemberCluster {existing.spec.name}",
    )
    assert not member_cluster_exists(registered, "same-cluster-again")
    assert fedctl_objects(registered, "federation") == host_before
    assert fedctl_objects(registered, existing.spec.name) == member_before


def test_join_unjoin_status_round_trip(
    member: ClusterState, registered: LocalFederation, tmp_path: Path
) -> None:
    fed, name = registered, member.spec.name
    members = [m.spec.name for m in fed.members]
    host_core = client.CoreV1Api(fed.api_client("federation"))
    member_core = client.CoreV1Api(fed.api_client(name))
    namespace = f"fedctl-{uuid.uuid4().hex[:6]}"
    kept_namespace = f"fedctl-own-{uuid.uuid4().hex[:6]}"
    host_core.create_namespace({"metadata": {"name": namespace}})
    custom = client.CustomObjectsApi(fed.api_client("federation"))
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "federatedservices",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FederatedService",
            "metadata": {"name": "web"},
            "spec": {
                "template": {"spec": {"selector": {"run": "web"}, "ports": [{"name": "http", "port": 80}]}}
            },
        },
    )
    try:
        for cluster in members:
            core = client.CoreV1Api(fed.api_client(cluster))
            eventually(
                f"namespace in {cluster}",
                lambda core=core: core.read_namespaced_service_account("default", namespace),
            )
            core.create_namespaced_pod(
                namespace,
                {
                    "metadata": {"name": "web", "labels": {"run": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.11.1-alpine"}]},
                },
            )
        # A Service of someone else's in the member, and a namespace the user made: unjoin keeps both.
        member_core.create_namespaced_service(
            namespace, {"metadata": {"name": "foreign"}, "spec": {"ports": [{"port": 8080}]}}
        )
        member_core.create_namespace({"metadata": {"name": kept_namespace}})
        eventually(
            "web Ready in every member",
            lambda: (
                (
                    c := condition(
                        custom.get_namespaced_custom_object(
                            GROUP, VERSION, namespace, "federatedservices", "web"
                        ),
                        "Ready",
                    )
                )
                and c["status"] == "True"
            ),
            timeout=60,
        )

        # --- unjoin the session's registration (made by fedctl join in-process) ---
        out = ok(kubectl_fed(fed, "unjoin", name))
        assert f"membercluster {name}: deleted" in out
        deleted = next(
            ln for ln in out.splitlines() if ln.startswith(f"  services of federation {FEDERATION}:")
        )
        assert f"{namespace}/web" in deleted  # with those of the FederatedServices other tests left
        assert f"namespace {OPERATOR_NAMESPACE}: deleted" in out
        assert not member_cluster_exists(fed, name)
        assert host_secret(fed, name) is None
        assert fedctl_objects(fed, name) == NOTHING
        assert namespace_phase(fed, name, OPERATOR_NAMESPACE) is None  # fedctl created it: gone
        assert service(fed, name, namespace, "web") is None
        assert service(fed, name, namespace, "foreign") is not None
        eventually(
            "shard withdrawn",
            lambda: (
                name
                not in {
                    s["cluster"]
                    for s in custom.get_namespaced_custom_object(
                        GROUP, VERSION, namespace, "federatedservices", "web"
                    )
                    .get("status", {})
                    .get("shards", [])
                }
            ),
            timeout=30,
        )

        # Unjoining again: nothing left, still a success.
        again = ok(kubectl_fed(fed, "unjoin", name))
        assert "nothing to do" in again

        # --- join as a user does: the kubeconfig from KUBECONFIG, region and zones from the nodes ---
        out = ok(
            kubectl_fed(
                fed,
                "join",
                name,
                "--member-namespace",
                kept_namespace,
                "--label",
                "continent=asia",
                "--wait",
                *JOIN_PROBE_FLAGS,
                kubeconfig_flag=False,
            )
        )
        assert f"namespace {kept_namespace}: exists (not created by fedctl" in out
        assert "check: the operator's probe succeeds with the token" in out
        assert f"membercluster {name}: created, region {member.spec.region} (from its nodes)" in out
        assert f"MemberCluster {name} is Ready" in out
        mc = member_cluster(fed, name)
        assert mc["spec"]["region"] == member.spec.region
        assert mc["spec"]["zones"] == list(member.spec.zones)
        assert mc["spec"]["apiEndpoint"] == member.server
        assert mc["spec"]["probe"] == {
            "periodSeconds": 2,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
            "successThreshold": 1,
        }
        assert mc["metadata"]["labels"]["region"] == member.spec.region
        assert mc["metadata"]["labels"]["continent"] == "asia"
        secret = host_secret(fed, name)
        assert secret is not None
        assert set(secret.data) == {"token", "ca.crt"}
        assert fedctl_objects(fed, name) == {
            "clusterroles": [SERVICE_ACCOUNT],
            "clusterrolebindings": [SERVICE_ACCOUNT],
            "serviceaccounts": [f"{kept_namespace}/{SERVICE_ACCOUNT}"],
            "secrets": [f"{kept_namespace}/{TOKEN_SECRET}"],
            "namespaces": [],  # the namespace was the user's: not labelled, never deleted
        }

        # --- join again: idempotent, same token ---
        token = secret.data["token"]
        out = ok(
            kubectl_fed(
                fed,
                "join",
                name,
                "--member-namespace",
                kept_namespace,
                "--label",
                "continent=asia",
                *JOIN_PROBE_FLAGS,
            )
        )
        for line in (
            f"serviceaccount {kept_namespace}/{SERVICE_ACCOUNT}: unchanged",
            f"clusterrole {SERVICE_ACCOUNT}: unchanged",
            f"clusterrolebinding {SERVICE_ACCOUNT}: unchanged",
            f"secret {OPERATOR_NAMESPACE}/{name}-credentials: unchanged",
            f"membercluster {name}: unchanged",
        ):
            assert line in out
        assert host_secret(fed, name).data["token"] == token
        assert is_member_ready(fed, name)

        # --- what the minted token may and may not do in the member ---
        as_member = token_kubeconfig(fed, member, tmp_path / "token-kubeconfig")
        who = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(as_member),
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert who.stdout == f"system:serviceaccount:{kept_namespace}:{SERVICE_ACCOUNT}"
        for allowed in (
            ("create", "services", "-n", namespace),
            ("patch", "services", "-n", namespace),
            ("delete", "services", "-n", namespace),
            ("watch", "services", "--all-namespaces"),
            ("watch", "endpointslices.discovery.k8s.io", "--all-namespaces"),
            ("list", "nodes"),
            ("create", "namespaces"),
            ("get", "namespaces/kube-system"),  # its UID says which cluster the operator reached
            ("get", "/readyz"),
            ("get", "/version"),
        ):
            assert can_i(as_member, *allowed), allowed
        for denied in (
            ("get", "secrets", "-n", kept_namespace),
            ("list", "secrets", "--all-namespaces"),
            ("create", "pods", "-n", namespace),
            ("delete", "nodes"),
            ("patch", "nodes"),
            ("delete", "namespaces"),
            ("update", "services", "-n", namespace),
            ("create", "endpointslices.discovery.k8s.io", "-n", namespace),
        ):
            assert not can_i(as_member, *denied), denied

        # --- the operator, with only that token, puts the shard back, healthy ---
        addresses = {
            c: eventually(f"address in {c}", lambda c=c: lb_address(fed, c, namespace, "web"), timeout=60)
            for c in members
        }

        def status_shows_everything() -> str | None:
            assert fed.dns is not None
            result = kubectl_fed(
                fed, "status", "web", "-n", namespace, "--resolve", f"{fed.dns.address}:{fed.dns.port}"
            )
            text = ok(result)
            lines = text.splitlines()
            shard_lines = {c: next((ln for ln in lines if ln.startswith(f"  {c}  ")), "") for c in members}
            healthy = all(line.split()[3:5] == ["yes", "yes"] for line in shard_lines.values() if line)
            global_name = f"web.{namespace}.{FEDERATION}.svc.{fed.dns.zone}."
            live = next((ln for ln in lines if ln.startswith(f"  {global_name}  ")), "")
            # The last column is what BIND answers now: every member's address.
            answered = live.endswith("  A " + ", ".join(sorted(addresses.values())))
            return text if all(shard_lines.values()) and healthy and answered else None

        text = eventually(
            "status shows every healthy shard and the live DNS answers", status_shows_everything, timeout=60
        )
        lines = text.splitlines()
        assert lines[0].split()[:3] == ["MEMBER", "CLUSTER", "READY"]
        assert any(ln.split()[:2] == [name, "True"] for ln in lines)
        summary = next(ln for ln in lines if ln.startswith(namespace))
        assert summary.split()[:4] == [namespace, "web", "3/3", "True"]
        assert "  Propagated=True  Healthy=True  DNSPublished=True  Ready=True" in lines
        dns_header = next(ln for ln in lines if ln.startswith("  DNS NAME"))
        assert fed.dns is not None
        assert dns_header.endswith(f"LIVE ANSWER ({fed.dns.address}:{fed.dns.port})")
        for cluster, address in addresses.items():
            line = next(ln for ln in lines if ln.startswith(f"  {cluster}  "))
            assert address in line.split()
            region = fed.clusters[cluster].spec.region
            region_line = next(
                ln for ln in lines if ln.startswith(f"  web.{namespace}.{FEDERATION}.svc.{region}.")
            )
            assert region_line.split()[1:3] == ["A", "region"]
            assert region_line.endswith(f"  A {address}")
        as_json = json.loads(ok(kubectl_fed(fed, "status", "-A", "-o", "json")))
        ours = next(
            s for s in as_json["federatedServices"] if (s["namespace"], s["name"]) == (namespace, "web")
        )
        assert ours["clusters"] == "3/3"
        assert {s["cluster"] for s in ours["status"]["shards"]} == set(members)

        # --- unjoin while the member is down: the host is cleaned, the member's leftovers are listed ---
        fed.stop_apiserver(name)
        try:
            result = kubectl_fed(fed, "unjoin", name)
            failed(
                result,
                3,
                f"cannot reach the member cluster {name}",
                f"ServiceAccount {kept_namespace}/{SERVICE_ACCOUNT}",
            )
            assert not member_cluster_exists(fed, name)
            assert host_secret(fed, name) is None
        finally:
            fed.start_apiserver(name)
        out = ok(kubectl_fed(fed, "unjoin", name))
        assert f"membercluster {name}: not found" in out
        assert fedctl_objects(fed, name) == NOTHING
        assert namespace_phase(fed, name, kept_namespace) == "Active"  # the user's namespace stays
        assert service(fed, name, namespace, "web") is None
        assert service(fed, name, namespace, "foreign") is not None
    finally:
        try:
            custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "federatedservices", "web")
        except ApiException as exc:
            if exc.status != 404:
                raise
        try:
            member_core.delete_namespace(kept_namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
