"""The local federation's stand-in for a cloud LoadBalancer controller.

For every `type: LoadBalancer` Service in a member cluster it writes `status.loadBalancer.ingress` with an
address from that cluster's own loopback pool (127.x.y.z), as a cloud's service controller would, and takes
the address back when the Service is deleted or changes type. Loopback addresses keep every test and benchmark
on this machine. Services naming a `loadBalancerClass` belong to some other controller and are left alone,
again as real cloud controllers do.

One process serves every cluster, a thread each, with a list-then-watch loop that survives its apiserver
being stopped and restarted (the outage fault hook does exactly that).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("localfed.lb")

ServiceKey = tuple[str, str]


class PoolExhaustedError(RuntimeError):
    pass


class Allocator:
    """Address bookkeeping and Service status updates for one cluster."""

    def __init__(self, cluster: str, api: client.CoreV1Api, pool: ipaddress.IPv4Network) -> None:
        self.cluster = cluster
        self.api = api
        self.pool = pool
        self.assigned: dict[ServiceKey, str] = {}

    def _free_address(self) -> str:
        taken = set(self.assigned.values())
        for host in self.pool.hosts():
            if str(host) not in taken:
                return str(host)
        raise PoolExhaustedError(f"{self.cluster}: LoadBalancer pool {self.pool} is exhausted")

    def _ours(self, address: str | None) -> bool:
        return address is not None and ipaddress.ip_address(address) in self.pool

    def reconcile(self, svc: Any) -> None:
        key = (svc.metadata.namespace, svc.metadata.name)
        ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
        current = [i.ip for i in ingress]
        wants_lb = svc.spec.type == "LoadBalancer" and not svc.spec.load_balancer_class
        if wants_lb:
            address = self.assigned.get(key)
            if address is None:
                try:
                    address = next((ip for ip in current if self._ours(ip)), None) or self._free_address()
                except PoolExhaustedError as exc:
                    # As a cloud out of capacity: the Service stays pending, the others are served.
                    log.warning("%s", exc)
                    return
                self.assigned[key] = address
            if current != [address]:
                self._patch_ingress(key, [{"ip": address}])
                log.info("%s: %s/%s -> %s", self.cluster, key[0], key[1], address)
        elif key in self.assigned or any(self._ours(ip) for ip in current):
            self.assigned.pop(key, None)
            if current:
                self._patch_ingress(key, [])
                log.info("%s: %s/%s is no longer a LoadBalancer; address released", self.cluster, *key)

    def forget(self, svc: Any) -> None:
        if self.assigned.pop((svc.metadata.namespace, svc.metadata.name), None):
            log.info(
                "%s: %s/%s deleted; address released", self.cluster, svc.metadata.namespace, svc.metadata.name
            )

    def _patch_ingress(self, key: ServiceKey, ingress: list[dict[str, str]]) -> None:
        body = {"status": {"loadBalancer": {"ingress": ingress}}}
        try:
            self.api.patch_namespaced_service_status(key[1], key[0], body)
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile: its DELETED event follows
                raise

    def resync(self) -> str:
        """List every Service, rebuild the bookkeeping from their statuses, reconcile all; returns the RV."""
        listing = self.api.list_service_for_all_namespaces()
        self.assigned = {}
        items = listing.items
        # First adopt addresses already handed out (e.g. before this process restarted), then fill the rest.
        for svc in items:
            for ingress in (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []:
                if svc.spec.type == "LoadBalancer" and self._ours(ingress.ip):
                    self.assigned[(svc.metadata.namespace, svc.metadata.name)] = ingress.ip
        for svc in items:
            self.reconcile(svc)
        return str(listing.metadata.resource_version)

    def events(self, resource_version: str) -> Iterator[dict[str, Any]]:
        stream = watch.Watch().stream(
            self.api.list_service_for_all_namespaces,
            resource_version=resource_version,
            timeout_seconds=300,
            _request_timeout=330,
        )
        yield from stream

    def run(self, stop: threading.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                rv = self.resync()
                backoff = 0.2
                for event in self.events(rv):
                    if stop.is_set():
                        return
                    kind, svc = event["type"], event["object"]
                    if kind == "DELETED":
                        self.forget(svc)
                    elif kind in ("ADDED", "MODIFIED"):
                        self.reconcile(svc)
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


def run_all(clusters: list[tuple[str, client.ApiClient, ipaddress.IPv4Network]]) -> None:
    """Serve every cluster until the process is terminated."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=Allocator(name, client.CoreV1Api(api), pool).run, args=(stop,), name=name, daemon=True
        )
        for name, api, pool in clusters
    ]
    for t in threads:
        t.start()
    log.info("serving LoadBalancer addresses for %s", ", ".join(name for name, _, _ in clusters))
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(1)
    finally:
        stop.set()
