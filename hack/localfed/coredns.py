"""Every member's cluster DNS: a real CoreDNS on loopback, configured the way a cluster's CoreDNS Pod is.

In a cluster, CoreDNS reads `/etc/coredns/Corefile`, a file the kubelet projects from the ConfigMap
`kube-system/coredns` and rewrites (atomically, by a symlink swap) when the ConfigMap changes; CoreDNS's
`reload` plugin notices the new content (it hashes the file every interval) and restarts its servers with
it, keeping the old configuration if the new one does not parse. Here there is no kubelet for CoreDNS, so the
local federation plays that part:

- at start-up each member gets what kubeadm creates: the ServiceAccount `kube-system/coredns`, the ClusterRole
  and ClusterRoleBinding `system:coredns`, and the ConfigMap with kubeadm's Corefile, adapted to a process on
  loopback (see `render_corefile`);
- one `corefile-sync` process watches every member's ConfigMap and writes its `Corefile` key, byte for byte
  and atomically (a temporary file renamed into place), to `<member dir>/coredns/Corefile`: the kubelet's
  projection, minus its sync delay;
- each member's CoreDNS runs with `-conf` on that file; its `reload` plugin does the rest, as in a cluster.

CoreDNS reaches its API server with a client certificate issued to the ServiceAccount's user name, so the
`system:coredns` binding applies to it exactly as to the in-cluster token of a CoreDNS Pod.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("localfed.coredns")

NAMESPACE = "kube-system"
NAME = "coredns"
# The user name of the ServiceAccount kube-system/coredns: a client certificate with this common name (and the
# ServiceAccount groups as organization) is subject to the same RBAC as the ServiceAccount's token.
USER = f"system:serviceaccount:{NAMESPACE}:{NAME}"
GROUP = "system:serviceaccounts"
CLUSTER_ROLE = "system:coredns"
# A name every member's CoreDNS answers once its `kubernetes` plugin has synced: the API server's Service.
READINESS_NAME = "kubernetes.default.svc.cluster.local."


@dataclass(frozen=True)
class CoreDNSPorts:
    """A member's CoreDNS listeners, all on 127.0.0.1: DNS (UDP and TCP), health, ready and metrics."""

    dns: int
    health: int
    ready: int
    metrics: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.dns}"

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CoreDNSPorts:
        return cls(int(raw["dns"]), int(raw["health"]), int(raw["ready"]), int(raw["metrics"]))


def render_corefile(ports: CoreDNSPorts, kubeconfig: Path, context: str, upstream: str | None = None) -> str:
    """kubeadm's default Corefile, changed only where a process on loopback must differ from a Pod.

    - Listeners: `.:53` on the Pod's IP becomes the member's own loopback port (`bind 127.0.0.1`), and
      health, ready and metrics get loopback ports of their own (every member runs on one machine).
    - `kubernetes` reaches the member's API server through `kubeconfig` rather than the Pod's token.
    - `cache` does not cache `cluster.local`, so a Service's answer follows the Service at once.
    - `reload 2s` rather than its 30 s default, so a Corefile change is live within seconds in tests.
    - No `lameduck` on `health`: stopping a member's DNS should not take 5 s.
    - ``upstream`` (the local BIND, ``host:port``) replaces `/etc/resolv.conf` in `forward .`: every name
      outside `cluster.local` goes to BIND, which answers for the federation's zones and refuses the rest.
      In a real cluster `forward . /etc/resolv.conf` reaches resolvers that find the public zone through its
      delegation; here nothing delegates to the local BIND, so it stands in for the Internet (in-cluster
      discovery's fallback names resolve through it). It also keeps every query on loopback: the machine's
      resolver is not, and would get the names the tests ask (a Pod's search path ends with the absolute
      name) and the `loop` plugin's probe at each start and reload, and could hold them for seconds. Without
      a BIND there is no `forward`: such a name gets SERVFAIL.
    """
    forward = (
        f"""\
    forward . {upstream} {{
       max_concurrent 1000
    }}
"""
        if upstream
        else ""
    )
    return f"""\
.:{ports.dns} {{
    bind 127.0.0.1
    errors
    health 127.0.0.1:{ports.health}
    ready 127.0.0.1:{ports.ready}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
       kubeconfig {kubeconfig} {context}
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus 127.0.0.1:{ports.metrics}
{forward}    cache 30 {{
       disable success cluster.local
       disable denial cluster.local
    }}
    loop
    reload 2s
    loadbalance
}}
"""


def _cluster_role() -> dict[str, Any]:
    # kubeadm's rules for CoreDNS: read Services, EndpointSlices (and Endpoints), Pods and Namespaces.
    return {
        "metadata": {"name": CLUSTER_ROLE},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["endpoints", "services", "pods", "namespaces"],
                "verbs": ["list", "watch"],
            },
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ],
    }


def _create(create: Any, *args: Any) -> None:
    """Create an object; one that already exists is kept as it is (bootstrap is idempotent)."""
    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


def apply_bootstrap(api: client.ApiClient, corefile: str) -> None:
    """What kubeadm creates for CoreDNS: its ServiceAccount, RBAC and the ConfigMap holding the Corefile."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    _create(core.create_namespaced_service_account, NAMESPACE, {"metadata": {"name": NAME}})
    _create(rbac.create_cluster_role, _cluster_role())
    _create(
        rbac.create_cluster_role_binding,
        {
            "metadata": {"name": CLUSTER_ROLE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
    )
    config_map = {"metadata": {"name": NAME}, "data": {"Corefile": corefile}}
    try:
        core.create_namespaced_config_map(NAMESPACE, config_map)
    except ApiException as exc:
        if exc.status != 409:
            raise
        # Left in etcd by an earlier run in the same state directory (its data is kept after a failed start
        # or a test session): its Corefile names that run's ports, so this run's replaces it.
        core.patch_namespaced_config_map(NAME, NAMESPACE, {"data": {"Corefile": corefile}})


def write_atomically(path: Path, content: str) -> bool:
    """Replace `path` with `content` in one rename (a reader never sees half a file); False if unchanged."""
    data = content.encode()
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def corefile_path(member_dir: Path) -> Path:
    return member_dir / "coredns" / "Corefile"


def argv(binary: Path, corefile: Path) -> list[str]:
    return [str(binary), "-conf", str(corefile)]


def not_ready(ports: CoreDNSPorts) -> str | None:
    """None once CoreDNS's `ready` plugin answers 200 (every plugin is ready; `kubernetes`: its informers have
    synced) and its DNS port answers a query over UDP; until then what it answered instead (the plugins it
    still waits on, or why it did not answer).

    `ready` alone is not enough: it answers 200 before the DNS listeners are bound (their servers start after
    the plugins' start-up callbacks), so a query sent at once is lost (UDP to a port nobody holds yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.ready}/ready", timeout=2) as r:
            if r.status != 200:
                return f"ready answered {r.status}"
    except urllib.error.HTTPError as exc:
        # 503 until then, naming the plugins not ready. The error holds the response's socket: close it here,
        # not in the garbage collector (whose ResourceWarning fails a test session that happens to be
        # starting the federation).
        with exc:
            return f"ready answered {exc.code}: {exc.read(512).decode(errors='replace').strip()}"
    except OSError as exc:
        return f"ready did not answer: {exc}"
    query = dns.message.make_query(READINESS_NAME, "A")
    try:
        answer = dns.query.udp(query, "127.0.0.1", port=ports.dns, timeout=1)
    except (dns.exception.Timeout, OSError) as exc:
        return f"ready, but {READINESS_NAME} over UDP got no answer ({type(exc).__name__})"
    if answer.rcode() != dns.rcode.NOERROR:
        return f"ready, but {READINESS_NAME} answered {dns.rcode.to_text(answer.rcode())}"
    return None


class CorefileSync:
    """The kubelet's ConfigMap projection for one member: its `kube-system/coredns` Corefile, in a file."""

    def __init__(self, cluster: str, api: client.CoreV1Api, path: Path) -> None:
        self.cluster = cluster
        self.api = api
        self.path = path

    def project(self, config_map: Any) -> None:
        # As the kubelet does for a mounted ConfigMap, a deleted ConfigMap or a missing key leaves the last
        # projected file in place (CoreDNS keeps serving with it).
        corefile = (config_map.data or {}).get("Corefile")
        if corefile is None:
            log.warning("%s: %s/%s has no Corefile; keeping %s", self.cluster, NAMESPACE, NAME, self.path)
        elif write_atomically(self.path, corefile):
            log.info("%s: Corefile written to %s", self.cluster, self.path)

    def run(self, stop: threading.Event) -> None:
        selector = f"metadata.name={NAME}"
        backoff = 0.2
        while not stop.is_set():
            try:
                listing = self.api.list_namespaced_config_map(NAMESPACE, field_selector=selector)
                for config_map in listing.items:
                    self.project(config_map)
                backoff = 0.2
                for event in watch.Watch().stream(
                    self.api.list_namespaced_config_map,
                    NAMESPACE,
                    field_selector=selector,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=300,
                    _request_timeout=330,
                ):
                    if stop.is_set():
                        return
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.project(event["object"])
            except ApiException as exc:
                # 410 Gone: our resourceVersion was compacted away; relisting is the cure.
                if exc.status != 410:
                    log.warning("%s: API error %s; retrying in %.1fs", self.cluster, exc.status, backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 2.0)
            except Exception as exc:  # the apiserver may be down (outage hook): keep trying
                log.warning("%s: %s; retrying in %.1fs", self.cluster, type(exc).__name__, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)


def run_sync(members: list[tuple[str, client.ApiClient, Path]]) -> None:
    """Project every member's Corefile until the process is terminated."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=CorefileSync(name, client.CoreV1Api(api), path).run, args=(stop,), name=name, daemon=True
        )
        for name, api, path in members
    ]
    for t in threads:
        t.start()
    log.info("projecting the Corefile of %s", ", ".join(name for name, _, _ in members))
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(1)
    finally:
        stop.set()
