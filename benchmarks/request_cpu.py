"""The operator's CPU per request to a kube-apiserver, on the event loop (``kube/async_transport.py``).

Run on demand (about a minute; starts a local federation of one member, without DNS):
    PYTHONPATH=$PWD:$PWD/hack .venv/bin/python benchmarks/request_cpu.py [--count 1000] [--repeat 5]

Each request is made as the operator makes its writes and status writes: an exchange of one request through
``AsyncTransport.run``, over TLS, with the admin's client certificate (``kube/connections.py``: keep-alive
HTTP/1.1 connections, answers parsed by httptools). Two kinds, each alone (one at a time: every response
wakes the loop on its own, as most do in a converging operator) and several at once (``--concurrency``, 8 by
default: responses arriving together are read in one wake-up):

* ``GET`` of a Namespace (the smallest answer);
* ``PATCH`` of a ConfigMap (a merge patch with a body, as the operator's status and finalizer writes).

Prints the process's CPU time (``time.process_time``: every thread) per request, the median of ``--repeat``
rounds of ``--count`` requests. The kube-apiserver and etcd are other processes: not counted.

Measured on 2 cores, quiet. Session 14 (``kube/connections.py``): GET alone 233 µs, 8 at once 140; PATCH
alone 249, 8 at once 252. Session 13 (through aiohttp's client): GET alone 347 µs, 8 at once 195; PATCH alone
427, 8 at once 393; aiohttp's own options (a shared ``ClientTimeout``, none, no proxy arguments) changed
nothing measurable. At 1,000 FederatedServices x 4 members the operator makes ~9 requests per object (4
member Service creates, the finalizer, 2 status writes, 2 events), most of them alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "hack")]

from localfed.federation import FederationConfig, LocalFederation  # noqa: E402

from federation_operator.kube.async_transport import AsyncTransport  # noqa: E402
from federation_operator.kube.client import ClusterClient  # noqa: E402
from federation_operator.kube.host import build_host_client  # noqa: E402
from federation_operator.kube.transport import Request, request_exchange  # noqa: E402

CONFIGMAP_NAME = "request-cpu"
CONFIGMAP = f"/api/v1/namespaces/default/configmaps/{CONFIGMAP_NAME}"


def _request(kind: str, i: int) -> Request:
    if kind == "GET":
        return Request("GET", "/api/v1/namespaces/default", "read namespace")
    body = {"data": {"i": str(i)}}
    merge = "application/merge-patch+json"
    return Request("PATCH", CONFIGMAP, "patch configmap", body=body, content_type=merge)


async def measure(api: ClusterClient, kind: str, concurrency: int, count: int, repeat: int) -> list[float]:
    """Microseconds of CPU per request, one figure per round."""
    transport = AsyncTransport()
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with slots:
            response = await transport.run(api, request_exchange(_request(kind, i)))
        if response.status != 200:
            raise RuntimeError(f"{kind}: {response.status} {response.body[:200]!r}")

    try:
        await asyncio.gather(*(one(i) for i in range(200)))  # connections made, caches warm
        rounds = []
        for _ in range(repeat):
            started = time.process_time()
            await asyncio.gather(*(one(i) for i in range(count)))
            rounds.append((time.process_time() - started) / count * 1e6)
        return rounds
    finally:
        await transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="request-cpu-") as state:
        fed = LocalFederation(FederationConfig(state_dir=Path(state), members=1, with_dns=False))
        try:
            fed.up(log=lambda _message: None)
            member = fed.members[0].spec.name
            client.CoreV1Api(fed.api_client(member)).create_namespaced_config_map(
                "default", {"metadata": {"name": CONFIGMAP_NAME}, "data": {}}
            )
            api = build_host_client(fed.kubeconfig, member)
            print("µs of CPU per request (median of the rounds; the rounds)")
            for kind in ("GET", "PATCH"):
                for concurrency in (1, args.concurrency):
                    rounds = asyncio.run(measure(api, kind, concurrency, args.count, args.repeat))
                    label = "alone" if concurrency == 1 else f"{concurrency} at once"
                    figures = ", ".join(f"{r:.0f}" for r in rounds)
                    print(f"  {kind:<5} {label:<10} {statistics.median(rounds):6.0f}   ({figures})")
        finally:
            fed.down(log=lambda _message: None)


if __name__ == "__main__":
    main()
