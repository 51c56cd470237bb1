"""What the operator's long-lived structures hold per FederatedService, measured in-process with tracemalloc.

Run on demand (no federation needed, a few seconds):
    .venv/bin/python benchmarks/heap_census.py [--count 1000] [--members 4]

Builds the structures a converged operator keeps for N FederatedServices x M members directly, from
objects shaped as the API servers and the planner make them (JSON decoded by orjson, as the informers do):
the member cache (each member's Services and EndpointSlices), the FederatedService store and the
controller's written statuses, a publisher's desired / planned records, results and zone index after a
round, and the DNS name cache; and prints the bytes each holds per FederatedService. Exact and cheap,
where `propagation.py --memory-profile` measures a real run by allocating line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from federation_operator.controllers.federated_service import FederatedServiceStore  # noqa: E402
from federation_operator.controllers.member_cache import MemberRegistry, _Member  # noqa: E402
from federation_operator.dns.inmemory import InMemoryProvider  # noqa: E402
from federation_operator.dns.publisher import Publisher  # noqa: E402
from federation_operator.domain.members import ClusterInfo  # noqa: E402
from federation_operator.domain.records import RecordSet, normalize_name  # noqa: E402

REGIONS = ("us-central1", "us-east1", "europe-west1", "asia-east1", "us-west1", "europe-north1")


def service_json(ns: str, name: str, member: int, index: int) -> bytes:
    """A member Service as a kube-apiserver returns it (less managedFields, which the cache drops)."""
    return orjson.dumps(
        {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": f"0a1b2c3d-{member:04d}-{index:04d}-9f8e-7d6c5b4a3f2e",
                "resourceVersion": str(100000 + index * 7 + member),
                "creationTimestamp": "2026-12-05T06:00:00Z",
                "labels": {
                    "app": name,
                    "fedop.io/federation": "myfederation",
                    "fedop.io/owner-namespace": ns,
                    "fedop.io/owner-name": name,
                    "app.kubernetes.io/managed-by": "federation-operator",
                },
                "annotations": {"fedop.io/owner-uid": f"5e6f7a8b-0000-{index:04d}-abcd-0123456789ab"},
            },
            "spec": {
                "ports": [
                    {
                        "name": "http",
                        "protocol": "TCP",
                        "port": 80,
                        "targetPort": 80,
                        "nodePort": 30000 + index,
                    }
                ],
                "selector": {"app": name},
                "clusterIP": f"10.96.{index // 250}.{index % 250 + 1}",
                "clusterIPs": [f"10.96.{index // 250}.{index % 250 + 1}"],
                "type": "LoadBalancer",
                "sessionAffinity": "None",
                "externalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "allocateLoadBalancerNodePorts": True,
                "internalTrafficPolicy": "Cluster",
            },
            "status": {
                "loadBalancer": {
                    "ingress": [{"ip": f"127.{member + 1}.{index // 250}.{index % 250 + 1}", "ipMode": "VIP"}]
                }
            },
        }
    )


def slice_json(ns: str, name: str, member: int, index: int) -> bytes:
    """The EndpointSlice the EndpointSlice controller writes for one ready backend."""
    return orjson.dumps(
        {
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": {
                "name": f"{name}-abcde",
                "namespace": ns,
                "uid": f"1a1b2c3d-{member:04d}-{index:04d}-9f8e-7d6c5b4a3f2e",
                "resourceVersion": str(200000 + index * 7 + member),
                "generateName": f"{name}-",
                "labels": {
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    "kubernetes.io/service-name": name,
                    "fedop.io/federation": "myfederation",
                    "fedop.io/owner-namespace": ns,
                    "fedop.io/owner-name": name,
                },
            },
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": [f"10.244.{index // 250}.{index % 250 + 1}"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": f"{name}-0", "uid": "x" * 36},
                    "nodeName": f"node-{member}",
                    "zone": f"{REGIONS[member % len(REGIONS)]}-a",
                }
            ],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
        }
    )


def fsvc_json(ns: str, name: str, index: int, members: int) -> bytes:
    """A FederatedService as the host watch delivers it, with the status the operator wrote."""
    shards = [
        {
            "cluster": f"gce-{REGIONS[m % len(REGIONS)]}",
            "region": REGIONS[m % len(REGIONS)],
            "zones": [f"{REGIONS[m % len(REGIONS)]}-a"],
            "synced": True,
            "ingress": [{"ip": f"127.{m + 1}.{index // 250}.{index % 250 + 1}"}],
            "readyEndpoints": 1,
            "healthy": True,
            "reason": "Healthy",
        }
        for m in range(members)
    ]
    conditions = [
        {
            "type": t,
            "status": "True",
            "reason": t,
            "message": f"{t} ok",
            "lastTransitionTime": "2026-12-05T06:00:00Z",
        }
        for t in ("Propagated", "Healthy", "DNSPublished", "Ready")
    ]
    return orjson.dumps(
        {
            "apiVersion": "fedop.io/v1alpha1",
            "kind": "FederatedService",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": f"5e6f7a8b-0000-{index:04d}-abcd-0123456789ab",
                "resourceVersion": str(300000 + index),
                "generation": 1,
                "creationTimestamp": "2026-12-05T06:00:00Z",
                "finalizers": ["fedop.io/cleanup"],
            },
            "spec": {
                "template": {
                    "spec": {
                        "selector": {"app": name},
                        "ports": [{"name": "http", "port": 80, "targetPort": 80}],
                    }
                }
            },
            "status": {
                "observedGeneration": 1,
                "conditions": conditions,
                "shards": shards,
                "loadBalancer": {"ingress": [s["ingress"][0] for s in shards]},
                "dns": {"names": [f"{name}.{ns}.myfederation.svc.example.com"]},
            },
        }
    )


def owner_records(ns: str, name: str, index: int, members: int) -> tuple[RecordSet, ...]:
    """The geo tiers of one owner with a healthy shard in each member's region and zone, and the other
    other zone's CNAME: as many record sets as the propagation benchmark's federation publishes (26 with
    the ownership records)."""
    base = f"{name}.{ns}.myfederation.svc"
    addresses = [f"127.{m + 1}.{index // 250}.{index % 250 + 1}" for m in range(members)]
    records = [RecordSet(f"{base}.example.com", "A", 180, addresses)]
    for r, region in enumerate(REGIONS[:members]):
        records.append(RecordSet(f"{base}.{region}.example.com", "A", 180, [addresses[r]]))
        records.append(RecordSet(f"{base}.{region}-a.example.com", "A", 180, [addresses[r]]))
        records.append(
            RecordSet(f"{base}.{region}-b.example.com", "CNAME", 180, [f"{base}.{region}.example.com"])
        )
    return tuple(records)


def measure(label: str, build: Callable[[], Any], count: int) -> Any:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    held = build()
    gc.collect()
    size = tracemalloc.get_traced_memory()[0] - before
    print(f"  {label:58s} {size / count:8.0f} B/object  {size / 2**20:7.1f} MiB")
    return held


def main() -> None:  # noqa: PLR0915 (one census, read top to bottom)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--members", type=int, default=4)
    args = parser.parse_args()
    n, members = args.count, args.members
    keys = [(f"ns{i % 10}", f"svc-{i:05d}") for i in range(n)]
    tracemalloc.start(1)
    print(f"heap census: {n} FederatedServices x {members} members (tracemalloc, held after a collection)")

    registry = MemberRegistry("myfederation", enqueue=lambda _k: None, enqueue_all=lambda: None)

    def build_cache() -> list[_Member]:
        held = []
        for m in range(members):
            member = _Member(
                info=ClusterInfo(name=f"gce-{REGIONS[m % len(REGIONS)]}", region=REGIONS[m % len(REGIONS)]),
                api=None,
            )  # type: ignore[arg-type]
            registry._members[member.info.name] = member
            for i, (ns, name) in enumerate(keys):
                registry._apply(member, "services", "ADDED", orjson.loads(service_json(ns, name, m, i)))
                registry._apply(member, "endpointslices", "ADDED", orjson.loads(slice_json(ns, name, m, i)))
            held.append(member)
        return held

    cache = measure("member cache (Services + EndpointSlices, all members)", build_cache, n)

    store = FederatedServiceStore()
    written: dict[tuple[str, str], Any] = {}

    def build_store() -> FederatedServiceStore:
        for i, (ns, name) in enumerate(keys):
            body = orjson.loads(fsvc_json(ns, name, i, members))
            written[(ns, name)] = orjson.loads(orjson.dumps(body["status"]))  # the controller's own copy
            store.put(body, ours=written.get)
        return store

    measure("FederatedService store + the statuses written", build_store, n)

    provider = InMemoryProvider("example.com")
    publisher = Publisher(provider, federation="myfederation", on_result=lambda _key: None)
    records = {key: owner_records(*key, i, members) for i, key in enumerate(keys)}

    async def publish() -> None:
        task = asyncio.create_task(publisher.run())
        for key, owned in records.items():
            publisher.submit(key, owned)
        while any(publisher.result(key) is None for key in keys):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    normalize_name.cache_clear()
    measure("publisher after its rounds (+ the in-memory provider's zone)", lambda: asyncio.run(publish()), n)
    print(
        f"    ({len(provider.snapshot()) / n:.1f} record sets per object in the zone, ownership TXT included;"
    )
    print(f"     normalize_name caches {normalize_name.cache_info().currsize} names)")

    # What each part holds beyond the parts still kept: freed when it is dropped, in this order.
    def freed(label: str, drop: Callable[[], None]) -> None:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        drop()
        gc.collect()
        size = before - tracemalloc.get_traced_memory()[0]
        print(f"    {label:56s} {size / n:8.0f} B/object  {size / 2**20:7.1f} MiB")

    freed("the in-memory provider's zone (BIND's, in production)", lambda: setattr(provider, "_records", ()))
    freed("normalize_name cache", normalize_name.cache_clear)
    freed("publisher: results", publisher._results.clear)
    freed("publisher: zone index", lambda: setattr(publisher, "_zone", None))

    def drop_desired() -> None:
        publisher._desired.clear()
        publisher._planned.clear()
        publisher._created.clear()
        publisher._submitted.clear()
        records.clear()

    freed("publisher: desired + planned records", drop_desired)
    freed("publisher: what is left", lambda: None)
    del cache


if __name__ == "__main__":
    main()
