"""The local federation: real Kubernetes control planes as local processes, plus a local BIND.

One etcd is shared (each cluster stores under its own `--etcd-prefix`). Every cluster, the host
(`federation`) and each member, is a real kube-apiserver with its own CA, client-certificate authentication
and RBAC, a kube-controller-manager, a kube-scheduler, and kwok acting as the kubelets of fake nodes labelled
with their region and zone, so Pods get scheduled and become Ready and real EndpointSlices appear. Each member
has a real CoreDNS as its cluster DNS on a loopback port, configured from its `kube-system/coredns`
ConfigMap (`coredns.py`). A small allocator plays the cloud's LoadBalancer controller from per-member
loopback pools, and BIND serves the DNS zone. Everything is recorded in `<state dir>/state.json` and
stopped by PID.

Also here: the fault hooks the tests need (stop and restart a member's apiserver; make a member's backends
lose and regain readiness).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from . import bind, coredns, pki, processes

HACK_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = HACK_DIR.parent
HOST_CLUSTER = "federation"
# The seed article's regions, in its order; members take the first N.
SEED_REGIONS = ("asia-east1", "europe-west1", "us-central1", "us-east1")
ZONE_SUFFIXES = ("a", "b")
SERVICE_CIDR = "10.96.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# Pods carrying this annotation are ignored by kwok, so their readiness can be set by hand (backend failure).
KWOK_HANDS_OFF_ANNOTATION = "kwok.x-k8s.io/status"


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster of the local federation."""

    name: str
    index: int
    region: str | None = None
    zones: tuple[str, ...] = ()
    lb_pool: str | None = None

    @property
    def is_member(self) -> bool:
        return self.region is not None


def member_specs(count: int) -> list[ClusterSpec]:
    """Members named after the seed article's regions (`gce-<region>`), two zones each, own loopback pool."""
    if not 1 <= count <= 20:
        raise ValueError(f"members: must be between 1 and 20, got {count}")
    specs = []
    for i in range(count):
        base = SEED_REGIONS[i % len(SEED_REGIONS)]
        region = base if i < len(SEED_REGIONS) else f"{base}-{i // len(SEED_REGIONS)}"
        specs.append(
            ClusterSpec(
                name=f"gce-{region}",
                index=i + 1,
                region=region,
                zones=tuple(f"{region}-{s}" for s in ZONE_SUFFIXES),
                # 127.<i>.0.0/16: every member's LoadBalancer addresses are loopback and distinguishable,
                # and there are enough of them for benchmarks with thousands of Services.
                lb_pool=f"127.{i + 1}.0.0/16",
            )
        )
    return specs


@dataclass(frozen=True)
class FederationConfig:
    state_dir: Path
    members: int = 3
    dns_zone: str = "example.com"
    # The zone aliases such as nginx.acme.com live in: the same BIND serves it (the seed article's own).
    alias_zone: str | None = "acme.com"
    dns_port: int = 0  # 0: any free loopback port
    with_dns: bool = True

    @property
    def clusters(self) -> list[ClusterSpec]:
        return [ClusterSpec(HOST_CLUSTER, 0), *member_specs(self.members)]


def binaries_dir() -> Path:
    """The version-keyed cache directory of hack/build-binaries.sh (building there is that script's job)."""
    out = subprocess.run(
        ["bash", str(HACK_DIR / "build-binaries.sh"), "--print-dir"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def pinned_versions() -> dict[str, str]:
    """hack/versions.env, the versions hack/build-binaries.sh builds, as NAME -> version."""
    lines = (HACK_DIR / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def coredns_binary(directory: Path) -> Path:
    """CoreDNS is cached as coredns-<version> (a bump builds just that binary)."""
    return directory / f"coredns-{pinned_versions()['COREDNS_VERSION']}"


def ensure_binaries() -> Path:
    """Build whatever binary is missing (a no-op, in about a second, once they are cached)."""
    directory = binaries_dir()
    needed = (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        coredns_binary(directory).name,
    )
    if not all((directory / name).exists() for name in needed):
        subprocess.run(["bash", str(HACK_DIR / "build-binaries.sh")], check=True)
    return directory


# The lowest port free_port hands out; from there up to the kernel's ephemeral range.
_LOWEST_PORT = 10000
# Ports this process handed out: never twice (the server given one may not have bound it yet).
_HANDED_OUT: set[int] = set()


def _ephemeral_ports() -> tuple[int, int]:
    """The range the kernel takes ports from for outgoing connections and for binding port 0."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, udp: bool = False) -> int:
    """A loopback port nothing is bound to (with ``udp``: for UDP too), picked at random below the kernel's
    ephemeral range. A port found by binding port 0 comes from that range, where any outgoing connection
    (thousands of them while control planes start) may take it before the server it was meant for binds it:
    CoreDNS once failed to start so ("bind: address already in use"). Where that range leaves too few ports
    below it, the kernel picks."""
    low, _ = _ephemeral_ports()
    for _ in range(1000):
        if low - _LOWEST_PORT >= 1000:
            port = random.randrange(_LOWEST_PORT, low)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        if port in _HANDED_OUT or not _bindable(port, socket.SOCK_STREAM):
            continue
        if udp and not _bindable(port, socket.SOCK_DGRAM):
            continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free loopback port found in 1,000 tries")


def free_dns_port() -> int:
    """A loopback port free for both TCP and UDP (a DNS server listens on both)."""
    return free_port(udp=True)


def _wait(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # readiness checks fail in many ways before they succeed
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f}s" + (f" (last error: {last})" if last else ""))


@dataclass
class ClusterState:
    spec: ClusterSpec
    port: int
    dir: Path
    processes: dict[str, processes.ProcessRecord] = field(default_factory=dict)
    dns: coredns.CoreDNSPorts | None = None  # the member's CoreDNS (members only)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "index": self.spec.index,
            "region": self.spec.region,
            "zones": list(self.spec.zones),
            "lb_pool": self.spec.lb_pool,
            "port": self.port,
            "dir": str(self.dir),
            "processes": {k: v.to_json() for k, v in self.processes.items()},
            "dns": self.dns.to_json() if self.dns else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ClusterState:
        spec = ClusterSpec(raw["name"], raw["index"], raw["region"], tuple(raw["zones"]), raw["lb_pool"])
        procs = {k: processes.ProcessRecord.from_json(v) for k, v in raw["processes"].items()}
        dns = coredns.CoreDNSPorts.from_json(raw["dns"]) if raw.get("dns") else None
        return cls(spec, int(raw["port"]), Path(raw["dir"]), procs, dns)


class LocalFederation:
    """Bring the federation up and down, inspect it, and inject faults. State lives in `state_dir`."""

    def __init__(self, cfg: FederationConfig) -> None:
        self.cfg = cfg
        self.state_dir = cfg.state_dir.resolve()
        self.state_file = self.state_dir / "state.json"
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.clusters: dict[str, ClusterState] = {}
        self.shared: dict[str, processes.ProcessRecord] = {}
        self.dns: bind.BindServer | None = None
        self.etcd_port = 0
        self.startup_seconds: float | None = None
        if self.state_file.exists():
            self._load()

    # ----- state ---

    def _load(self) -> None:
        raw = json.loads(self.state_file.read_text())
        self.etcd_port = raw["etcd_port"]
        self.clusters = {c["name"]: ClusterState.from_json(c) for c in raw["clusters"]}
        self.shared = {k: processes.ProcessRecord.from_json(v) for k, v in raw["shared"].items()}
        self.dns = bind.BindServer.from_json(raw["dns"]) if raw.get("dns") else None
        self.startup_seconds = raw.get("startup_seconds")

    def save(self) -> None:
        raw = {
            "etcd_port": self.etcd_port,
            "clusters": [c.to_json() for c in self.clusters.values()],
            "shared": {k: v.to_json() for k, v in self.shared.items()},
            "dns": self.dns.to_json() if self.dns else None,
            "startup_seconds": self.startup_seconds,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw, indent=2))
        tmp.replace(self.state_file)

    def all_processes(self) -> Iterator[processes.ProcessRecord]:
        yield from self.shared.values()
        for cluster in self.clusters.values():
            yield from cluster.processes.values()

    @property
    def members(self) -> list[ClusterState]:
        return [c for c in self.clusters.values() if c.spec.is_member]

    def is_up(self) -> bool:
        return bool(self.clusters) and all(processes.is_running(p) for p in self.all_processes())

    # ----- up / down ---

    def up(self, log: Callable[[str], None] = print) -> None:
        """Start everything and wait until every cluster is Ready. A running federation is kept as it is."""
        if self.is_up():
            log(f"local federation already up (state in {self.state_dir})")
            return
        if self.state_file.exists():
            log("cleaning up a partly running federation first")
            self.down(log=lambda _msg: None)
        bins = ensure_binaries()
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._up(bins, log)
        except BaseException:
            log("start-up failed; stopping what was started")
            self.down(log=lambda _msg: None, keep_logs=True)
            raise
        self.startup_seconds = round(time.monotonic() - started, 1)
        self.save()
        log(
            f"local federation up in {self.startup_seconds}s; "
            f"memory {self.memory_bytes() / 2**20:.0f} MiB RSS"
        )

    def _up(self, bins: Path, log: Callable[[str], None]) -> None:
        self.etcd_port = free_port()
        self.clusters = {}
        for spec in self.cfg.clusters:
            directory = self.state_dir / spec.name
            self.clusters[spec.name] = ClusterState(spec, free_port(), directory)
            if spec.is_member:
                self.clusters[spec.name].dns = coredns.CoreDNSPorts(
                    free_dns_port(), free_port(), free_port(), free_port()
                )
            self._write_pki(self.clusters[spec.name])
        self._write_kubeconfig()
        self.save()

        log(f"starting etcd on 127.0.0.1:{self.etcd_port}")
        self._start_etcd(bins)
        log(f"starting {len(self.clusters)} kube-apiservers")
        for cluster in self.clusters.values():
            cluster.processes["kube-apiserver"] = processes.start(
                "kube-apiserver", self._apiserver_argv(bins, cluster), cluster.dir / "kube-apiserver.log"
            )
            self.save()
        with concurrent.futures.ThreadPoolExecutor(len(self.clusters)) as pool:
            list(pool.map(self._wait_apiserver, self.clusters.values()))
        log("apiservers ready; starting controller-managers, schedulers and kwok")
        for cluster in self.clusters.values():
            for name, argv in self._component_argvs(bins, cluster).items():
                cluster.processes[name] = processes.start(name, argv, cluster.dir / f"{name}.log")
            self.save()
        self._start_lb_allocator()
        if self.cfg.with_dns:
            self._start_dns()
        with concurrent.futures.ThreadPoolExecutor(len(self.clusters)) as pool:
            list(pool.map(self._bootstrap_cluster, self.clusters.values()))
        log("starting the members' CoreDNS")
        self._start_member_dns(bins)

    def down(self, log: Callable[[str], None] = print, keep_logs: bool = False) -> None:
        """Stop every recorded process (dependents first) and remove the state. Safe to repeat."""
        if not self.state_file.exists():
            log("local federation is not running")
            return
        components = [p for p in self.shared.values() if p.name != "etcd"]
        apiservers = []
        for cluster in self.clusters.values():
            components += [p for n, p in cluster.processes.items() if n != "kube-apiserver"]
            apiservers += [p for n, p in cluster.processes.items() if n == "kube-apiserver"]
        etcd = [p for p in self.shared.values() if p.name == "etcd"]
        # Components first, then apiservers, then etcd, so nothing logs storms about a vanished backend.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for group in (components, apiservers, etcd):
                list(pool.map(processes.stop, group))
        left = [p for p in self.all_processes() if processes.is_running(p)]
        if left:
            raise RuntimeError("still running: " + ", ".join(f"{p.name}[{p.pid}]" for p in left))
        if keep_logs:
            self.state_file.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self.clusters, self.shared, self.dns = {}, {}, None
        log("local federation stopped")

    # ----- pieces ---

    def _write_pki(self, cluster: ClusterState) -> None:
        pki_dir = cluster.dir / "pki"
        ca = pki.CertificateAuthority(pki_dir, f"{cluster.spec.name}-ca")
        ca.issue(
            "apiserver",
            "kube-apiserver",
            server_names=(
                "127.0.0.1",
                "localhost",
                "10.96.0.1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
        )
        ca.issue("admin", "admin", organization="system:masters")
        ca.issue("kube-controller-manager", "system:kube-controller-manager")
        ca.issue("kube-scheduler", "system:kube-scheduler")
        # kwok plays every kubelet of the cluster (node status, leases, pod status): it gets cluster-admin.
        ca.issue("kwok", "kwok", organization="system:masters")
        pki.write_signing_key(pki_dir)
        users = ["admin", "kube-controller-manager", "kube-scheduler", "kwok"]
        if cluster.spec.is_member:
            ca.issue("coredns", coredns.USER, organization=coredns.GROUP)
            users.append("coredns")
        for user in users:
            self._write_component_kubeconfig(cluster, user)

    def _kubeconfig_doc(self, entries: list[tuple[ClusterState, str]]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": c.spec.name,
                    "cluster": {"server": c.server, "certificate-authority": str(c.dir / "pki" / "ca.crt")},
                }
                for c, _ in entries
            ],
            "users": [
                {
                    "name": f"{c.spec.name}-{user}",
                    "user": {
                        "client-certificate": str(c.dir / "pki" / f"{user}.crt"),
                        "client-key": str(c.dir / "pki" / f"{user}.key"),
                    },
                }
                for c, user in entries
            ],
            "contexts": [
                {"name": c.spec.name, "context": {"cluster": c.spec.name, "user": f"{c.spec.name}-{user}"}}
                for c, user in entries
            ],
            "current-context": entries[0][0].spec.name,
        }

    def _write_component_kubeconfig(self, cluster: ClusterState, user: str) -> None:
        path = cluster.dir / f"{user}.kubeconfig"
        path.write_text(yaml.safe_dump(self._kubeconfig_doc([(cluster, user)]), sort_keys=False))

    def _write_kubeconfig(self) -> None:
        doc = self._kubeconfig_doc([(c, "admin") for c in self.clusters.values()])
        self.kubeconfig.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _start_etcd(self, bins: Path) -> None:
        peer = free_port()
        data = self.state_dir / "etcd"
        argv = [
            str(bins / "etcd"),
            "--name=localfed",
            f"--data-dir={data}",
            f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=localfed=http://127.0.0.1:{peer}",
            # A throwaway development store: skipping fsync makes it fast on slow shared disks.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        self.shared["etcd"] = processes.start("etcd", argv, self.state_dir / "etcd.log")
        self.save()

        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.etcd_port}/health", timeout=1) as r:
                return bool(json.load(r).get("health") == "true")

        _wait("etcd", healthy, 30)

    def _apiserver_argv(self, bins: Path, cluster: ClusterState) -> list[str]:
        p = cluster.dir / "pki"
        return [
            str(bins / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--etcd-prefix=/clusters/{cluster.spec.name}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={cluster.port}",
            f"--cert-dir={p}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # The kubernetes Service's endpoints would be 127.0.0.1, which Endpoints validation rejects as
            # loopback; nothing here needs them.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ]

    def _wait_apiserver(self, cluster: ClusterState, timeout: float = 120) -> None:
        ctx = ssl.create_default_context(cafile=str(cluster.dir / "pki" / "ca.crt"))
        record = cluster.processes["kube-apiserver"]

        def ready() -> bool:
            if not processes.is_running(record):
                raise RuntimeError(f"kube-apiserver of {cluster.spec.name} exited; see {record.log}")
            try:
                with urllib.request.urlopen(f"{cluster.server}/readyz", timeout=2, context=ctx) as r:
                    return bool(r.status == 200)
            except urllib.error.HTTPError:
                return False

        _wait(f"kube-apiserver of {cluster.spec.name}", ready, timeout)

    def _component_argvs(self, bins: Path, cluster: ClusterState) -> dict[str, list[str]]:
        d, p = cluster.dir, cluster.dir / "pki"
        index = cluster.spec.index
        return {
            "kube-controller-manager": [
                str(bins / "kube-controller-manager"),
                f"--kubeconfig={d / 'kube-controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                f"--cluster-name={cluster.spec.name}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                # Each controller acts as its own ServiceAccount, as on kubeadm clusters: the bootstrap RBAC
                # policy grants those, not the controller-manager user, what the controllers need.
                "--use-service-account-credentials=true",
                "--v=1",
            ],
            "kube-scheduler": [
                str(bins / "kube-scheduler"),
                f"--kubeconfig={d / 'kube-scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--v=1",
            ],
            "kwok": [
                str(bins / "kwok"),
                f"--kubeconfig={d / 'kwok.kubeconfig'}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--disregard-status-with-annotation-selector={KWOK_HANDS_OFF_ANNOTATION}=custom",
                # Pod IPs are only data (EndpointSlices reject loopback addresses); nothing is sent to them.
                f"--cidr=10.{100 + index}.0.1/16",
                "--node-ip=127.0.0.1",
                # Heartbeats through Leases (renewed every quarter of this), as kubelets do.
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{free_port()}",
            ],
        }

    def _start_lb_allocator(self) -> None:
        argv = [sys.executable, "-m", "localfed", "--state-dir", str(self.state_dir), "lb-allocator"]
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HACK_DIR), os.environ.get("PYTHONPATH")]))}
        self.shared["lb-allocator"] = processes.start(
            "lb-allocator", argv, self.state_dir / "lb-allocator.log", env=env
        )
        self.save()

    def _start_dns(self) -> None:
        port = self.cfg.dns_port or free_port()
        extra = (self.cfg.alias_zone,) if self.cfg.alias_zone else ()
        self.dns, self.shared["named"] = bind.start_bind(
            self.state_dir / "bind", port, self.cfg.dns_zone, extra_zones=extra
        )
        self.save()

    def _nodes(self, cluster: ClusterState) -> list[dict[str, Any]]:
        zones: tuple[str | None, ...] = cluster.spec.zones or (None,)
        nodes = []
        for zone in zones:
            name = f"{cluster.spec.name}-{zone or 'node'}-0"
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            }
            if cluster.spec.region:
                labels["topology.kubernetes.io/region"] = cluster.spec.region
            if zone:
                labels["topology.kubernetes.io/zone"] = zone
            resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "labels": labels,
                        "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    },
                    "status": {"allocatable": resources, "capacity": resources},
                }
            )
        return nodes

    def bootstrap(self, name: str) -> None:
        """Create the cluster's nodes (and a member's CoreDNS objects) and wait for them and its controllers:
        again, after a test wiped every object of the cluster (idempotent)."""
        self._bootstrap_cluster(self.clusters[name])

    def _bootstrap_cluster(self, cluster: ClusterState) -> None:
        api = client.CoreV1Api(self.api_client(cluster.spec.name))
        names = []
        for node in self._nodes(cluster):
            names.append(node["metadata"]["name"])
            try:
                api.create_node(node)
            except ApiException as exc:
                if exc.status != 409:
                    raise

        def nodes_ready() -> bool:
            for name in names:
                conditions = api.read_node(name).status.conditions or []
                if not any(c.type == "Ready" and c.status == "True" for c in conditions):
                    return False
            return True

        def controllers_running() -> bool:
            # The ServiceAccount controller creates `default` in each namespace: proof that KCM is working.
            api.read_namespaced_service_account("default", "default")
            return True

        _wait(f"nodes of {cluster.spec.name}", nodes_ready, 60)
        _wait(f"kube-controller-manager of {cluster.spec.name}", controllers_running, 60)
        if cluster.dns:
            kubeconfig = cluster.dir / "coredns.kubeconfig"
            upstream = f"{self.dns.address}:{self.dns.port}" if self.dns else None
            corefile = coredns.render_corefile(cluster.dns, kubeconfig, cluster.spec.name, upstream)
            coredns.apply_bootstrap(self.api_client(cluster.spec.name), corefile)

    def _start_member_dns(self, bins: Path) -> None:
        """The Corefile projection first (CoreDNS needs its file to start), then each member's CoreDNS."""
        members = [c for c in self.members if c.dns]
        for cluster in members:
            # One left by an earlier run names that run's ports: wait for this run's projection instead.
            coredns.corefile_path(cluster.dir).unlink(missing_ok=True)
        argv = [sys.executable, "-m", "localfed", "--state-dir", str(self.state_dir), "corefile-sync"]
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HACK_DIR), os.environ.get("PYTHONPATH")]))}
        self.shared["corefile-sync"] = processes.start(
            "corefile-sync", argv, self.state_dir / "corefile-sync.log", env=env
        )
        self.save()
        for cluster in members:
            path = coredns.corefile_path(cluster.dir)
            _wait(f"Corefile of {cluster.spec.name} ({path})", path.exists, 60)
            cluster.processes["coredns"] = processes.start(
                "coredns", coredns.argv(coredns_binary(bins), path), cluster.dir / "coredns.log"
            )
            self.save()
        with concurrent.futures.ThreadPoolExecutor(max(len(members), 1)) as pool:
            list(pool.map(self._wait_dns, members))

    def _wait_dns(self, cluster: ClusterState, timeout: float = 60) -> None:
        record, ports = cluster.processes["coredns"], cluster.dns
        assert ports is not None

        last = ["not asked yet"]

        def ready() -> bool:
            if not processes.is_running(record):
                raise RuntimeError(f"CoreDNS of {cluster.spec.name} exited; see {record.log}")
            answer = coredns.not_ready(ports)
            last[0] = answer or "ready"
            return answer is None

        try:
            _wait(f"CoreDNS of {cluster.spec.name}", ready, timeout)
        except TimeoutError as exc:
            # Seen twice, each right after another federation's benchmark ended: CoreDNS up, never ready, and
            # its log silent on why. The ready plugin's last answer names the plugins it still waits on.
            log = Path(record.log)
            tail = log.read_text(errors="replace").splitlines()[-8:] if log.exists() else []
            raise TimeoutError(f"{exc}; last: {last[0]}; {log} ends: {' | '.join(tail)}") from exc

    # ----- access ---

    def api_client(self, cluster: str) -> client.ApiClient:
        """An admin API client for one cluster (context name = cluster name)."""
        return config.new_client_from_config(config_file=str(self.kubeconfig), context=cluster)

    def kubectl(self, cluster: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "--context", cluster, *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def memory_bytes(self) -> int:
        return sum(processes.rss_bytes(p) for p in self.all_processes())

    def status(self) -> list[dict[str, Any]]:
        """One row per cluster: reachability, version, Ready nodes, processes alive."""
        rows = []
        for cluster in self.clusters.values():
            row: dict[str, Any] = {
                "cluster": cluster.spec.name,
                "role": "member" if cluster.spec.is_member else "host",
                "region": cluster.spec.region or "-",
                "zones": ",".join(cluster.spec.zones) or "-",
                "server": cluster.server,
                "lb_pool": cluster.spec.lb_pool or "-",
                "dns": self._dns_status(cluster),
                "processes": sum(processes.is_running(p) for p in cluster.processes.values()),
                "version": "-",
                "ready": "False",
                "nodes": "-",
            }
            try:
                api = self.api_client(cluster.spec.name)
                row["version"] = client.VersionApi(api).get_code(_request_timeout=3).git_version
                nodes = client.CoreV1Api(api).list_node(_request_timeout=3).items
                ready = sum(
                    any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
                    for n in nodes
                )
                row["nodes"] = f"{ready}/{len(nodes)}"
                row["ready"] = str(ready == len(nodes) and len(nodes) > 0)
            except Exception as exc:  # an unreachable cluster is a status, not a failure of `status`
                row["ready"] = f"False ({type(exc).__name__})"
            rows.append(row)
        return rows

    @staticmethod
    def _dns_status(cluster: ClusterState) -> str:
        if cluster.dns is None:
            return "-"
        record = cluster.processes.get("coredns")
        return (
            cluster.dns.address
            if record and processes.is_running(record)
            else f"{cluster.dns.address} (down)"
        )

    # ----- fault hooks ---

    def stop_apiserver(self, cluster: str) -> None:
        """Cluster outage: the member's control plane stops (apiserver, and with it the controllers, scheduler
        and kwok that depend on it); its data stays in etcd.

        The dependents go down too because that is what a control-plane outage is, and because client-go
        informers left running would retry with a backoff of up to half a minute after the apiserver
        returns, leaving the member half-working for a while after every outage. CoreDNS is the exception:
        it is a workload, not part of the control plane, and in a cluster it keeps answering from what it
        last read while the apiserver is away.
        """
        state = self.clusters[cluster]
        # An outage is abrupt: a second to exit, then SIGKILL (a draining apiserver would otherwise keep its
        # watch connections open for many seconds, which is not what an outage looks like).
        for name, record in state.processes.items():
            if name not in ("kube-apiserver", "coredns"):
                processes.stop(record, timeout=1.0)
        processes.stop(state.processes["kube-apiserver"], timeout=1.0)

    def start_apiserver(self, cluster: str) -> None:
        """End of the outage: the same apiserver starts again, then its dependents; waits until it serves."""
        state = self.clusters[cluster]
        record = state.processes["kube-apiserver"]
        if not processes.is_running(record):
            state.processes["kube-apiserver"] = processes.restart(record)
            self.save()
        self._wait_apiserver(state)
        for name, record in state.processes.items():
            if not processes.is_running(record):
                state.processes[name] = processes.restart(record)
        self.save()

    def pause_apiserver(self, cluster: str) -> None:
        """Hung member: the member's apiserver is frozen with SIGSTOP. Unlike a stopped one, its port still
        accepts connections (the kernel completes the handshakes) but nothing is ever answered, so only a
        client's own timeouts notice. Always pair with :meth:`resume_apiserver` (in a ``finally``)."""
        record = self.clusters[cluster].processes["kube-apiserver"]
        if not processes.is_running(record):
            raise RuntimeError(f"kube-apiserver of {cluster} is not running")
        os.kill(record.pid, signal.SIGSTOP)
        # kill() returns once the signal is sent, not once every thread has stopped: wait for that, so that
        # what the caller sends next meets a frozen process.
        deadline = time.monotonic() + 10
        while (states := processes.thread_states(record)) and set(states.values()) != {"T"}:
            if time.monotonic() > deadline:
                raise RuntimeError(f"kube-apiserver of {cluster} did not stop on SIGSTOP: threads {states}")
            time.sleep(0.01)

    def resume_apiserver(self, cluster: str) -> None:
        """End of the hang: SIGCONT to the member's apiserver (harmless when it was not paused)."""
        record = self.clusters[cluster].processes["kube-apiserver"]
        if processes.is_running(record):
            os.kill(record.pid, signal.SIGCONT)

    def set_backends_ready(self, cluster: str, namespace: str, label_selector: str, ready: bool) -> int:
        """Backend failure: the selected Pods report Ready=`ready` (kwok is told to keep its hands off).

        Returns how many Pods were changed. Their EndpointSlice endpoints follow, through the real
        EndpointSlice controller.
        """
        api = client.CoreV1Api(self.api_client(cluster))
        pods = api.list_namespaced_pod(namespace, label_selector=label_selector).items
        status = "True" if ready else "False"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for pod in pods:
            api.patch_namespaced_pod(
                pod.metadata.name,
                namespace,
                {"metadata": {"annotations": {KWOK_HANDS_OFF_ANNOTATION: "custom"}}},
            )
            conditions = [
                {"type": t, "status": status, "lastTransitionTime": now} for t in ("Ready", "ContainersReady")
            ]
            containers = [
                {
                    "name": c.name,
                    "image": c.image,
                    "imageID": "",
                    "ready": ready,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }
                for c in pod.spec.containers
            ]
            api.patch_namespaced_pod_status(
                pod.metadata.name,
                namespace,
                {"status": {"conditions": conditions, "containerStatuses": containers}},
            )
        return len(pods)

    def lb_pool(self, cluster: str) -> ipaddress.IPv4Network:
        pool = self.clusters[cluster].spec.lb_pool
        if pool is None:
            raise ValueError(f"{cluster} has no LoadBalancer pool (it is not a member)")
        return ipaddress.IPv4Network(pool)
