"""The chart installed with helm into the host cluster, and the operator run as local processes with the
chart's environment and its ServiceAccount's token (TokenRequest): the full FederatedService → members → DNS
flow works under that RBAC while what it must not do is denied; two replicas elect one active, a standby
takes over from a killed one without rewriting anything, a clean stop hands over at once, and a replica
that loses its Lease stops.

The session's own operator (admin credentials, no leader election) is stopped for this module and started
again afterwards: two active operators on one federation are exactly what HA must prevent.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.federation import free_port
from localfed.operator import (
    DNS_SECRET,
    OPERATOR_NAMESPACE,
    OperatorProcess,
    condition,
    eventually,
    member_cluster,
)

from federation_operator.kube.lease import replica_identity
from tests.e2e.conftest import wait_serving
from tests.e2e.test_dns import Seed, ask, member_names, serve_everywhere
from tests.e2e.test_metrics import Samples, scrape, value
from tests.e2e.test_propagation import quiet_serial, soa_serial

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "federation-operator"
RELEASE = "fedop"
SERVICE_ACCOUNT = f"{RELEASE}-federation-operator"
LEASE = "federation-operator-myfederation"
# Short, so the takeover test is quick; the rules are the same as with the defaults (15 / 10 / 2).
DEFAULT_TTL = 45  # the chart's dns.defaultTTL here: FederatedServices that set no spec.dns.ttl get it
LEASE_VALUES = {"leaseDurationSeconds": "4", "renewDeadlineSeconds": "3", "retryPeriodSeconds": "0.5"}


@dataclass
class Install:
    """The installed release: the operator's settings as the chart renders them, and its token."""

    fed: LocalFederation
    settings: dict[str, str]
    kubeconfig: Path
    logs: Path
    started: list[OperatorProcess] = field(default_factory=list)

    def start(self, name: str) -> OperatorProcess:
        """One replica: `python -m federation_operator` with the Deployment's environment and the token."""
        op = OperatorProcess(
            self.fed,
            self.logs / f"{name}.log",
            **{
                **self.settings,
                "kubeconfig": str(self.kubeconfig),
                "host_context": "federation",
                # Ports of this process only (several replicas share the machine); metrics on loopback.
                "liveness_port": str(free_port()),
                "metrics_port": str(free_port()),
                "metrics_address": "127.0.0.1",
            },
        )
        op.start()
        self.started.append(op)
        return op

    def api(self) -> client.ApiClient:
        """The host cluster as the chart's ServiceAccount."""
        return config.new_client_from_config(config_file=str(self.kubeconfig), context="federation")


def identity(op: OperatorProcess) -> str:
    """The replica's name in the Lease (the operator's own rule: host name and process id)."""
    assert op.proc is not None
    return replica_identity(op.proc.pid)


def lease(fed: LocalFederation) -> tuple[str, int]:
    """(holder, transitions) of the operator's Lease."""
    spec = (
        client.CoordinationV1Api(fed.api_client("federation"))
        .read_namespaced_lease(LEASE, OPERATOR_NAMESPACE)
        .spec
    )
    return spec.holder_identity or "", spec.lease_transitions or 0


def healthz(op: OperatorProcess) -> dict[str, Any] | None:
    try:
        url = f"http://127.0.0.1:{op.settings['liveness_port']}/healthz"
        with urllib.request.urlopen(url, timeout=3) as response:
            body = response.read().decode()
            return json.loads(body) if response.status == 200 else None
    except OSError:
        return None


def total(samples: Samples, name: str) -> float:
    """A counter summed over all its label values."""
    return sum(v for (metric, _labels), v in samples.items() if metric == name)


def helm_install(helm: list[str], fed: LocalFederation) -> dict[str, str]:
    """helm install with DNS through the federation's BIND; returns the Deployment's FEDOP_* settings."""
    assert fed.dns is not None
    target = ["--kubeconfig", str(fed.kubeconfig), "--kube-context", "federation"]
    options = {"server": fed.dns.address, "port": str(fed.dns.port), "key_algorithm": fed.dns.key_algorithm}
    values = [
        "--set", "dns.provider=rfc2136",
        "--set", f"dns.zone={fed.dns.zone}",
        "--set-json", f"dns.options={json.dumps(options)}",
        "--set", f"dns.credentialsSecret.name={DNS_SECRET}",
        # A second zone (the BIND's acme.com), as the chart's dns.zones renders it, with its own Secret.
        "--set-json", (
            f'dns.zones=[{{"zone": "acme.com", "provider": "rfc2136", "options": {json.dumps(options)},'
            f' "credentialsSecret": "{DNS_SECRET}"}}]'
        ),
        "--set", "unreachableGraceSeconds=20",
        "--set", f"dns.defaultTTL={DEFAULT_TTL}",
        *(arg for key, v in LEASE_VALUES.items() for arg in ("--set", f"leaderElection.{key}={v}")),
    ]  # fmt: skip
    out = subprocess.run(
        [*helm, "install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, *target, *values, "--wait=false"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    manifest = subprocess.run(
        [*helm, "get", "manifest", RELEASE, "-n", OPERATOR_NAMESPACE, *target],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    (deployment,) = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {
        e["name"].removeprefix("FEDOP_").lower(): e["value"]
        for e in container["env"]
        if e["name"].startswith("FEDOP_") and "value" in e
    }


def token_kubeconfig(fed: LocalFederation, path: Path) -> Path:
    """A kubeconfig for the host cluster holding a TokenRequest token of the chart's ServiceAccount."""
    request = client.CoreV1Api(fed.api_client("federation")).create_namespaced_service_account_token(
        SERVICE_ACCOUNT, OPERATOR_NAMESPACE, {"spec": {"expirationSeconds": 3600}}
    )
    host = fed.clusters["federation"]
    ca = base64.b64encode((host.dir / "pki" / "ca.crt").read_bytes()).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "host", "cluster": {"server": host.server, "certificate-authority-data": ca}}],
        "users": [{"name": "operator", "user": {"token": request.status.token}}],
        "contexts": [{"name": "federation", "context": {"cluster": "host", "user": "operator"}}],
        "current-context": "federation",
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def installed(
    helm: list[str],
    registered: LocalFederation,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Install]:
    fed = registered
    tmp = tmp_path_factory.mktemp("installed")
    operator.stop()
    target = ["--kubeconfig", str(fed.kubeconfig), "--kube-context", "federation"]
    install = Install(fed, {}, tmp / "kubeconfig", tmp)
    try:
        install.settings = helm_install(helm, fed)
        token_kubeconfig(fed, install.kubeconfig)
        yield install
    finally:
        for op in install.started:
            op.stop()
        subprocess.run([*helm, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, *target], check=False)
        fed.kubectl("federation", "delete", "lease", "-n", OPERATOR_NAMESPACE, LEASE, "--ignore-not-found")
        operator.start()
        wait_serving(operator, fed, "the session's operator is back and every MemberCluster Ready", 60)


def ttl(fed: LocalFederation, name: str) -> int | None:
    """The TTL BIND answers the name's A records with."""
    assert fed.dns is not None
    response = dns.query.udp(dns.message.make_query(name, "A"), fed.dns.address, port=fed.dns.port, timeout=3)
    return next((rrset.ttl for rrset in response.answer if rrset.rdtype == dns.rdatatype.A), None)


def new_seed(fed: LocalFederation, name: str) -> Seed:
    namespace = f"{name}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(fed.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    return Seed(fed, name, namespace)


def test_full_flow_under_the_chart_service_account(installed: Install) -> None:
    fed = installed.fed
    op = installed.start("sa")
    eventually("the replica holds the Lease", lambda: lease(fed)[0] == identity(op), timeout=30)
    probed_before = {m: member_cluster(fed, m)["status"]["lastProbeTime"] for m in member_names(fed)}

    seed = new_seed(fed, "sa")
    addresses = serve_everywhere(seed)  # FederatedService → member Services → LoadBalancers → DNS
    assert ask(fed, seed.global_name()).addresses == frozenset(addresses.values())
    eventually(
        "the FederatedService Ready",
        lambda: (c := condition(seed.get(), "Ready")) is not None and c["status"] == "True",
    )
    # The MemberClusters' status is this replica's work too (probes with the member credentials it read).
    eventually(
        "MemberCluster status probed again",
        lambda: all(
            member_cluster(fed, m)["status"]["lastProbeTime"] != probed_before[m] for m in probed_before
        ),
    )
    # Both zones of the chart's values are published to, each as one of status.dns.mirrors (read with the
    # ServiceAccount's get on the credentials Secret, in the release namespace).
    mirrors = {(m["zone"], m["state"]) for m in seed.get()["status"]["dns"]["mirrors"]}
    assert mirrors == {(fed.dns.zone if fed.dns else "", "Published"), ("acme.com", "Published")}
    # The seed sets spec.dns.ttl (30); without it, the chart's default applies.
    assert ttl(fed, seed.global_name()) == 30
    seed.custom.patch_namespaced_custom_object(
        "fedop.io",
        "v1alpha1",
        seed.namespace,
        "federatedservices",
        seed.name,
        {"spec": {"dns": {"ttl": None}}},
    )
    eventually(
        "records republished with the default TTL", lambda: ttl(fed, seed.global_name()) == DEFAULT_TTL
    )

    seed.delete_and_wait()
    assert ask(fed, seed.global_name()).rcode == "NXDOMAIN"
    assert op.alive(), op.tail()
    log = op.log.read_text()
    assert "Forbidden" not in log, "the chart's RBAC refused the operator something"
    assert " 403" not in log, "the chart's RBAC refused the operator something"

    # What the operator must not do, tried with the very same token, is refused.
    api = installed.api()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    denied = {
        "read a Secret outside its namespace": lambda: core.read_namespaced_secret("any", "kube-system"),
        "list Secrets in its namespace": lambda: core.list_namespaced_secret(OPERATOR_NAMESPACE),
        "list Secrets everywhere": core.list_secret_for_all_namespaces,
        "list Namespaces": core.list_namespace,
        "create a Pod": lambda: core.create_namespaced_pod(
            "default", {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "x"}]}}
        ),
        "create Services in the host": lambda: core.create_namespaced_service(
            "default", {"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}}
        ),
        "delete a FederatedService": lambda: custom.delete_namespaced_custom_object(
            "fedop.io", "v1alpha1", seed.namespace, "federatedservices", "any"
        ),
        "delete a MemberCluster": lambda: custom.delete_cluster_custom_object(
            "fedop.io", "v1alpha1", "memberclusters", member_names(fed)[0]
        ),
        "take another Lease": lambda: client.CoordinationV1Api(api).read_namespaced_lease(
            "kube-controller-manager", "kube-system"
        ),
    }
    for what, call in denied.items():
        with pytest.raises(ApiException) as refused:
            call()
        assert refused.value.status == 403, f"{what}: {refused.value.status}"
    op.stop()  # releases the Lease for the next test's replicas


def test_standby_takes_over_from_a_killed_replica_without_rewriting(installed: Install) -> None:
    fed = installed.fed
    a = installed.start("a")
    eventually("a holds the Lease", lambda: lease(fed)[0] == identity(a), timeout=30)
    b = installed.start("b")
    eventually("b stands by, alive for the kubelet", lambda: healthz(b) == {"standby": True}, timeout=30)

    seed = new_seed(fed, "ha")
    addresses = serve_everywhere(seed)
    eventually("Ready", lambda: (c := condition(seed.get(), "Ready")) is not None and c["status"] == "True")
    serial = eventually("DNS quiet", lambda: quiet_serial(fed))
    core = {m: client.CoreV1Api(fed.api_client(m)) for m in member_names(fed)}
    versions = {
        m: core[m].read_namespaced_service("ha", seed.namespace).metadata.resource_version for m in core
    }

    # One writer: a did the work; b, alive the whole time, did nothing at all.
    at_a, at_b = scrape(a.settings["metrics_port"]), scrape(b.settings["metrics_port"])
    assert value(at_a, "fedop_leader") == 1
    assert total(at_a, "fedop_member_writes_total") >= len(core)
    assert value(at_b, "fedop_leader") == 0
    for name in (
        "fedop_member_writes_total",
        "fedop_dns_changes_total",
        "fedop_reconcile_duration_seconds_count",
    ):
        assert total(at_b, name) == 0, name
    assert b.alive(), b.tail()

    assert a.proc is not None
    a.proc.kill()  # no clean shutdown: the Lease is not released and must expire
    a.proc.wait(10)
    eventually("b holds the Lease", lambda: lease(fed)[0] == identity(b), timeout=30)

    def b_converged() -> Samples | None:
        samples = scrape(b.settings["metrics_port"])
        reconciled = value(samples, "fedop_reconcile_duration_seconds_count", result="ok") >= 1
        ready = all(value(samples, "fedop_cluster_ready", cluster=m) == 1 for m in core)
        idle = value(samples, "fedop_workqueue_depth") == 0
        return samples if value(samples, "fedop_leader") == 1 and reconciled and ready and idle else None

    at_b = eventually("b reconciled every FederatedService", b_converged, timeout=60)
    # Nothing had changed, so the new active replica wrote nothing: to members or to DNS.
    assert total(at_b, "fedop_member_writes_total") == 0
    assert total(at_b, "fedop_dns_changes_total") == 0
    assert {
        m: core[m].read_namespaced_service("ha", seed.namespace).metadata.resource_version for m in core
    } == versions
    assert soa_serial(fed) == serial

    # ... and it is the active replica now: a backend failure reaches DNS through b.
    first = member_names(fed)[0]
    fed.set_backends_ready(first, seed.namespace, "run=ha", False)
    rest = frozenset(ip for m, ip in addresses.items() if m != first)
    eventually("b withdrew the failed shard", lambda: ask(fed, seed.global_name()).addresses == rest)

    # A clean stop hands over at once: c stands by, b stops and releases, c takes the Lease.
    c = installed.start("c")
    eventually("c stands by", lambda: healthz(c) == {"standby": True}, timeout=30)
    transitions = lease(fed)[1]
    b_proc = b.proc
    b.stop()
    assert b_proc is not None
    assert b_proc.returncode == 0, b.tail()
    assert f"released by {replica_identity(b_proc.pid)}" in b.log.read_text()
    eventually("c holds the Lease", lambda: lease(fed)[0] == identity(c), timeout=30)
    assert lease(fed)[1] == transitions + 1
    fed.set_backends_ready(first, seed.namespace, "run=ha", True)
    eventually(
        "c published the recovered shard",
        lambda: ask(fed, seed.global_name()).addresses == frozenset(addresses.values()),
    )
    seed.delete_and_wait()

    # A replica that finds another holder in its Lease stops writing at once: it exits (status 3).
    fed.kubectl(
        "federation", "patch", "lease", "-n", OPERATOR_NAMESPACE, LEASE, "--type=merge",
        "-p", '{"spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 3600}}',
    )  # fmt: skip
    eventually("c stopped", lambda: not c.alive(), timeout=30)
    assert c.proc is not None
    assert c.proc.returncode == 3
    assert "leadership lost (intruder holds it now)" in c.log.read_text()
