"""The Helm chart (deploy/federation-operator) and the Dockerfile: lint, rendering, a real helm install."""

from __future__ import annotations

import os
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from localfed import LocalFederation
from localfed.operator import apply_crds

from federation_operator.settings import ENV_PREFIX, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "federation-operator"
CRDS = REPO / "crds"
NAMESPACE = "fedop-system"
RELEASE = "fedop"
FULLNAME = "fedop-federation-operator"

# DNS publishing through BIND with a credentials Secret, plus metrics and a ServiceMonitor.
ONE_REPLICA = ["--set", "replicaCount=1", "--set", "leaderElection.enabled=false"]
DNS_AND_METRICS = [
    "--set", "dns.provider=rfc2136",
    "--set", "dns.zone=example.com",
    "--set-json", 'dns.options={"server": "127.0.0.1", "port": 5353, "key_name": "fedop"}',
    "--set", "dns.credentialsSecret.name=fedop-dns",
    "--set", "unreachableGraceSeconds=25",
    "--set", "dns.defaultTTL=60",
    "--set", "defaultMinReadyEndpoints=2",
    "--set-json", 'aliasDomains={"prod": ["acme.com"], "*": ["shared.example.com"]}',
    "--set", "orphanCollectionSeconds=120",
    "--set", "dns.healthCheckPollSeconds=15",
    "--set", "metrics.enabled=true",
    "--set", "metrics.serviceMonitor.enabled=true",
]  # fmt: skip

# Several zones and a mirror (dns.zones instead of dns.provider).
DNS_ZONES = [
    "--set", "dns.zone=example.com",
    "--set-json", (
        'dns.zones=[{"zone": "example.com", "provider": "route53", "credentialsSecret": "aws-dns"},'
        ' {"zone": "example.com", "provider": "clouddns", "options": {"project": "p"}, "mirror": "gcp"},'
        ' {"zone": "acme.com", "provider": "rfc2136", "options": {"server": "10.0.0.53", "port": 53}}]'
    ),
]  # fmt: skip

# The one zone of dns.provider, and more zones (and mirrors of it) beside it.
ONE_ZONE_AND_MORE = [*DNS_AND_METRICS, *DNS_ZONES[2:]]

Docs = list[dict[str, Any]]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


def render(helm: list[str], *args: str, crds: bool = False) -> Docs:
    cmd = [*helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args]
    out = run([*cmd, "--include-crds"] if crds else cmd)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def one(docs: Docs, kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} rendered"
    return found[0]


def container(docs: Docs) -> dict[str, Any]:
    containers: Docs = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env(docs: Docs) -> dict[str, str]:
    """The container's plain-valued environment variables."""
    return {e["name"]: e["value"] for e in container(docs)["env"] if "value" in e}


def rules(docs: Docs, kind: str) -> list[dict[str, Any]]:
    return [rule for doc in docs if doc["kind"] == kind for rule in doc["rules"]]


# ----- lint and CRDs ---


@pytest.mark.parametrize("values", [[], DNS_AND_METRICS], ids=["defaults", "dns-and-metrics"])
def test_lint_strict(helm: list[str], values: list[str]) -> None:
    out = run([*helm, "lint", "--strict", str(CHART), *values])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


def test_crds_are_the_repository_crds(helm: list[str], tmp_path: Path) -> None:
    """crds/ is a symlink to the repository's CRDs; helm renders them and packages them byte for byte."""
    link = CHART / "crds"
    assert link.is_symlink()
    assert link.resolve() == CRDS.resolve()
    rendered = [doc for doc in render(helm, crds=True) if doc["kind"] == "CustomResourceDefinition"]
    expected = [yaml.safe_load(path.read_text()) for path in sorted(CRDS.glob("*.yaml"))]
    assert sorted(d["metadata"]["name"] for d in rendered) == [
        "federatedservices.fedop.io",
        "memberclusters.fedop.io",
    ]
    assert sorted(rendered, key=lambda d: d["metadata"]["name"]) == expected

    out = run([*helm, "package", str(CHART), "--destination", str(tmp_path)])
    assert out.returncode == 0, out.stderr
    (archive,) = tmp_path.glob("federation-operator-*.tgz")
    with tarfile.open(archive) as tar:
        packaged = {
            Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.name.startswith("federation-operator/crds/")
        }
    assert packaged == {path.name: path.read_bytes() for path in CRDS.glob("*.yaml")}


# ----- rendering ---


def test_defaults_render_the_expected_objects(helm: list[str]) -> None:
    docs = render(helm)
    assert sorted(doc["kind"] for doc in docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    for doc in docs:
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]

    deployment = one(docs, "Deployment")
    # Two replicas, one active (leader election).
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"] == FULLNAME
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}

    c = container(docs)
    assert c["image"] == "federation-operator:0.1.0.dev0"
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in sc
    assert c["resources"]["requests"]
    assert c["resources"]["limits"]["memory"]

    # /tmp is a writable emptyDir (member credentials are written there).
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]

    assert env(docs) == {
        "FEDOP_FEDERATION_NAME": "myfederation",
        "FEDOP_LEADER_ELECTION": "true",
        "FEDOP_LEADER_ELECTION_NAMESPACE": NAMESPACE,
        "FEDOP_LEADER_ELECTION_LEASE": "federation-operator-myfederation",
        "FEDOP_LEASE_DURATION_SECONDS": "15",
        "FEDOP_RENEW_DEADLINE_SECONDS": "10",
        "FEDOP_RETRY_PERIOD_SECONDS": "2",
        "FEDOP_UNREACHABLE_GRACE_SECONDS": "40",
        "FEDOP_ORPHAN_COLLECTION_SECONDS": "300",
        "FEDOP_DEFAULT_MIN_READY_ENDPOINTS": "1",
        "FEDOP_DEFAULT_TTL": "180",
        "FEDOP_LIVENESS_PORT": "8080",
    }
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert {"name": "healthz", "containerPort": 8080, "protocol": "TCP"} in c["ports"]


def test_two_replicas_elect_one_active_and_have_a_disruption_budget(helm: list[str]) -> None:
    docs = render(helm)
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert env(docs)["FEDOP_LEADER_ELECTION"] == "true"
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_secrets_are_readable_only_through_a_namespaced_role(helm: list[str]) -> None:
    for values in ([], DNS_AND_METRICS):
        docs = render(helm, *values)
        for rule in rules(docs, "ClusterRole"):
            assert "secrets" not in rule["resources"], rule
            assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"], rule
        role = one(docs, "Role")
        assert role["metadata"]["namespace"] == NAMESPACE
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": ["federation-operator-myfederation"],
                "verbs": ["get", "update"],
            },
        ]
        binding = one(docs, "RoleBinding")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
        assert all(b["roleRef"]["kind"] == "ClusterRole" for b in docs if b["kind"] == "ClusterRoleBinding")


def test_cluster_role_grants_what_the_operator_and_kopf_use(helm: list[str]) -> None:
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in rules(render(helm), "ClusterRole")
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == {
        ("fedop.io", "federatedservices"): {"get", "list", "watch", "patch", "update"},
        ("fedop.io", "memberclusters"): {"get", "list", "watch", "patch", "update"},
        ("fedop.io", "federatedservices/status"): {"get", "patch", "update"},
        ("fedop.io", "memberclusters/status"): {"get", "patch", "update"},
        ("", "events"): {"create", "patch"},
        ("events.k8s.io", "events"): {"create", "patch"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    }


def test_one_replica_without_leader_election(helm: list[str]) -> None:
    docs = render(helm, *ONE_REPLICA)
    assert one(docs, "Deployment")["spec"]["replicas"] == 1
    assert not [name for name in env(docs) if "LEADER" in name or "LEASE" in name]
    assert not [doc for doc in docs if doc["kind"] == "PodDisruptionBudget"]
    assert one(docs, "Role")["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]


def test_dns_and_metrics_values(helm: list[str]) -> None:
    docs = render(helm, *DNS_AND_METRICS)
    assert sorted({doc["kind"] for doc in docs}) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    ]
    values = env(docs)
    assert values["FEDOP_DNS_PROVIDER"] == "rfc2136"
    assert values["FEDOP_DNS_ZONE"] == "example.com"
    assert yaml.safe_load(values["FEDOP_DNS_OPTIONS"]) == {
        "server": "127.0.0.1",
        "port": "5353",
        "key_name": "fedop",
    }
    assert values["FEDOP_DNS_CREDENTIALS_SECRET"] == f"{NAMESPACE}/fedop-dns"
    assert values["FEDOP_UNREACHABLE_GRACE_SECONDS"] == "25"
    assert values["FEDOP_DEFAULT_TTL"] == "60"
    assert values["FEDOP_DEFAULT_MIN_READY_ENDPOINTS"] == "2"
    assert values["FEDOP_DNS_HEALTH_CHECK_POLL_SECONDS"] == "15"
    assert values["FEDOP_METRICS_PORT"] == "9090"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container(docs)["ports"]

    service = one(docs, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_rendered_environment_is_accepted_by_the_operator(
    helm: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator parses every FEDOP_* variable the chart sets (it refuses unknown or invalid ones)."""
    for values in ([], DNS_AND_METRICS, ONE_REPLICA, DNS_ZONES, ONE_ZONE_AND_MORE):
        rendered = {k: v for k, v in env(render(helm, *values)).items() if k.startswith(ENV_PREFIX)}
        with monkeypatch.context() as m:
            for name in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
                m.delenv(name)
            for name, value in rendered.items():
                m.setenv(name, value)
            settings = load_settings()
        assert settings.liveness_port == 8080
        assert settings.leader_election is (values != ONE_REPLICA)
        if values == DNS_ZONES:
            assert [(t.zone, t.provider, t.mirror_name) for t in settings.dns_targets] == [
                ("example.com", "route53", "route53"),
                ("example.com", "clouddns", "gcp"),
                ("acme.com", "rfc2136", "rfc2136"),
            ]
            assert settings.dns_targets[0].credentials_secret == f"{NAMESPACE}/aws-dns"
            assert settings.dns_targets[2].options == {"server": "10.0.0.53", "port": "53"}
            assert settings.federation_zone == "example.com"
        if settings.leader_election:
            assert settings.leader_election_namespace == NAMESPACE
            assert settings.lease_name == "federation-operator-myfederation"
        if values == ONE_ZONE_AND_MORE:
            assert [t.label for t in settings.dns_targets] == [
                "example.com (rfc2136)",
                "example.com (route53)",
                "example.com (gcp)",
                "acme.com (rfc2136)",
            ]
            assert settings.dns_credentials_secret == f"{NAMESPACE}/fedop-dns"
        elif values == DNS_AND_METRICS:
            assert settings.dns_options == {"server": "127.0.0.1", "port": "5353", "key_name": "fedop"}
            assert settings.dns_credentials_secret == f"{NAMESPACE}/fedop-dns"
            assert (settings.default_ttl, settings.default_min_ready_endpoints) == (60, 2)
            assert settings.alias_domains == {"prod": ("acme.com",), "*": ("shared.example.com",)}
            assert settings.orphan_collection_seconds == 120
            assert settings.dns_health_check_poll_seconds == 15
        else:
            assert settings.alias_domains == {}
        assert set(rendered) <= {f"{ENV_PREFIX}{f}".upper() for f in Settings.model_fields}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "leaderElection.enabled=false"], "needs leaderElection.enabled=true"),
        (["--set", "dns.provider=route53"], "dns.zone is required"),
        (
            ["--set", "dns.credentialsSecret.name=x", "--set", "dns.credentialsSecret.namespace=kube-system"],
            "must be the release namespace",
        ),
        (["--set", "metrics.serviceMonitor.enabled=true"], "needs metrics.enabled=true"),
        (["--set-json", 'dns.zones=[{"zone": "a.com"}]'], "dns.zones[0] needs zone and provider"),
    ],
    ids=[
        "two-active-replicas",
        "provider-without-zone",
        "secret-elsewhere",
        "monitor-without-metrics",
        "zone-without-provider",
    ],
)
def test_unsafe_values_are_refused(helm: list[str], values: list[str], message: str) -> None:
    out = run([*helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *values])
    assert out.returncode != 0
    assert message in out.stderr


def test_dockerfile_matches_the_chart() -> None:
    lines = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "FROM python:3.11-slim"
    assert lines[-1] == 'ENTRYPOINT ["python", "-m", "federation_operator"]'
    assert 'RUN ["pip", "install", "."]' in lines
    run_as = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert f"USER {run_as['runAsUser']}:{run_as['runAsGroup']}" in lines
    # Everything the image copies is let through .dockerignore (which ignores everything else).
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    copied = [part for line in lines if line.startswith("COPY ") for part in line.split()[1:-1]]
    assert copied == ["pyproject.toml", "README.md", "federation_operator"]
    for source in copied:
        assert (REPO / source).exists()
        assert f"!{source}" in ignore or f"!{source}/" in ignore


# ----- a real install ---


@pytest.mark.e2e
def test_helm_install_into_the_host_cluster(helm: list[str], federation: LocalFederation) -> None:
    """helm install against the real host apiserver; the ServiceAccount's RBAC is what the chart says."""
    suffix = uuid.uuid4().hex[:6]
    namespace, release = f"fedop-chart-{suffix}", f"fedop-{suffix}"
    name = f"{release}-federation-operator"
    target = ["--kubeconfig", str(federation.kubeconfig), "--kube-context", "federation", "--wait=false"]
    # The e2e suite applies crds/ itself: helm must install over existing CRDs (it skips them).
    apply_crds(federation)
    install = run([*helm, "install", release, str(CHART), "-n", namespace, "--create-namespace", *target])
    try:
        assert install.returncode == 0, install.stdout + install.stderr
        assert "kubectl get memberclusters" in install.stdout  # NOTES.txt

        def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
            return federation.kubectl("federation", *args, check=False)

        got = kubectl("get", "crd", "federatedservices.fedop.io", "memberclusters.fedop.io", "-o", "name")
        assert got.returncode == 0, got.stderr
        for obj in (f"deployment/{name}", f"serviceaccount/{name}", f"role/{name}"):
            got = kubectl("get", "-n", namespace, obj, "-o", "name")
            assert got.returncode == 0, got.stderr
        for obj in (f"clusterrole/{name}", f"clusterrolebinding/{name}"):
            got = kubectl("get", obj, "-o", "name")
            assert got.returncode == 0, got.stderr

        # The DNS + metrics objects are valid for the apiserver too (the ServiceMonitor's CRD is not there).
        no_monitor = ["--set", "metrics.serviceMonitor.enabled=false"]
        rendered = run(
            [*helm, "template", f"dry-{suffix}", str(CHART), "-n", namespace, *DNS_AND_METRICS, *no_monitor]
        )
        assert rendered.returncode == 0, rendered.stderr
        kubeconfig = ["--kubeconfig", str(federation.kubeconfig), "--context", "federation"]
        dry_run = subprocess.run(
            ["kubectl", *kubeconfig, "apply", "--dry-run=server", "-n", namespace, "-f", "-"],
            input=rendered.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        assert dry_run.returncode == 0, dry_run.stderr
        assert "service/dry-" in dry_run.stdout

        def can(*args: str) -> bool:
            out = kubectl("auth", "can-i", f"--as=system:serviceaccount:{namespace}:{name}", *args)
            assert out.stdout.strip() in ("yes", "no"), out.stdout + out.stderr
            return out.stdout.strip() == "yes"

        assert can("watch", "federatedservices.fedop.io", "--all-namespaces")
        assert can("patch", "memberclusters.fedop.io", "--subresource=status")
        assert can("patch", "federatedservices.fedop.io", "-n", "default")
        assert can("create", "events", "-n", "default")
        assert can("watch", "customresourcedefinitions.apiextensions.k8s.io")
        assert can("get", "secrets", "-n", namespace)
        assert not can("list", "secrets", "-n", namespace)
        assert can("create", "leases.coordination.k8s.io", "-n", namespace)
        assert can("update", "leases.coordination.k8s.io/federation-operator-myfederation", "-n", namespace)
        assert not can("update", "leases.coordination.k8s.io/kube-scheduler", "-n", namespace)
        assert not can("create", "leases.coordination.k8s.io", "-n", "kube-system")
        assert not can("get", "secrets", "-n", "kube-system")
        assert not can("list", "secrets", "--all-namespaces")
        assert not can("delete", "federatedservices.fedop.io", "-n", "default")
        assert not can("create", "customresourcedefinitions.apiextensions.k8s.io")
        assert not can("list", "namespaces")
    finally:
        uninstall = run([*helm, "uninstall", release, "--namespace", namespace, *target])
        federation.kubectl("federation", "delete", "namespace", namespace, "--wait=false", check=False)
    assert uninstall.returncode == 0, uninstall.stderr
    # helm never deletes crds/ CRDs (the e2e suite relies on them); the rest is gone.
    got = federation.kubectl(
        "federation", "get", "crd", "federatedservices.fedop.io", "memberclusters.fedop.io"
    )
    assert got.returncode == 0
    gone = federation.kubectl("federation", "get", f"clusterrole/{name}", check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr
