"""Benchmark: N FederatedServices over the members: time to converge, operator memory, API calls per object.

Run on demand, not in the test suite:
    .venv/bin/python benchmarks/propagation.py [--count 1000] [--members 3]

Brings up its own local federation, registers the members, starts the operator as a process, creates N
FederatedServices in the host, and measures the time until every member holds every Service and every
FederatedService's status reports all its shards synced for its current generation. API calls are counted
by the apiservers themselves (`apiserver_request_total` deltas), so they are real: writes and reads of
Services in the members, and writes of FederatedService status in the host. Then it watches the operator
at rest for a while and reports the calls it makes while nothing changes (the target is none per object).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import re
import ssl
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "hack"), str(REPO)]

from kubernetes import client  # noqa: E402
from localfed import FederationConfig, LocalFederation  # noqa: E402
from localfed.federation import ClusterState  # noqa: E402
from localfed.operator import (  # noqa: E402
    GROUP,
    VERSION,
    OperatorProcess,
    apply_crds,
    eventually,
    is_member_ready,
    register_member,
)
from localfed.processes import memory_bytes  # noqa: E402

METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")


def request_counts(cluster: ClusterState) -> collections.Counter[tuple[str, str, str]]:
    """(verb, resource, subresource) → requests served so far, from the apiserver's own /metrics."""
    ctx = ssl.create_default_context(cafile=str(cluster.dir / "pki" / "ca.crt"))
    ctx.load_cert_chain(str(cluster.dir / "pki" / "admin.crt"), str(cluster.dir / "pki" / "admin.key"))
    with urllib.request.urlopen(f"{cluster.server}/metrics", context=ctx, timeout=10) as r:
        text = r.read().decode()
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for line in text.splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        counts[(labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))] += int(
            float(m["value"])
        )
    return counts


def delta(
    after: collections.Counter[tuple[str, str, str]],
    before: collections.Counter[tuple[str, str, str]],
    resource: str,
) -> dict[str, int]:
    out: dict[str, int] = collections.defaultdict(int)
    for (verb, res, sub), value in after.items():
        if res == resource:
            diff = value - before.get((verb, res, sub), 0)
            if diff:
                out[f"{verb}{'/' + sub if sub else ''}"] += diff
    return dict(out)


def quiet(custom: client.CustomObjectsApi, seconds: float = 5.0) -> bool:
    """True when no FederatedService in the benchmark namespace changed during `seconds`."""

    def versions() -> dict[str, str]:
        # Per object: a list's own resourceVersion moves with every write to the shared etcd.
        items = custom.list_namespaced_custom_object(GROUP, VERSION, "bench", "federatedservices")["items"]
        return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}

    before = versions()
    time.sleep(seconds)
    return versions() == before


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--rest-seconds", type=float, default=30.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-propagation-") as tmp:
        fed = LocalFederation(FederationConfig(Path(tmp) / "fed", members=args.members, with_dns=False))
        fed.up(log=lambda _m: None)
        op = OperatorProcess(fed, Path(tmp) / "operator.log")
        try:
            apply_crds(fed)
            for member in fed.members:
                register_member(fed, member)
            op.start()
            eventually(
                "members Ready", lambda: all(is_member_ready(fed, m.spec.name) for m in fed.members), 90
            )
            host = fed.api_client("federation")
            client.CoreV1Api(host).create_namespace({"metadata": {"name": "bench"}})
            before = {c.spec.name: request_counts(c) for c in fed.clusters.values()}

            custom = client.CustomObjectsApi(host)
            started = time.monotonic()

            def create(i: int) -> None:
                custom.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    "bench",
                    "federatedservices",
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "FederatedService",
                        "metadata": {"name": f"svc-{i:05d}"},
                        "spec": {
                            "template": {"spec": {"selector": {"app": f"svc-{i}"}, "ports": [{"port": 80}]}}
                        },
                    },
                )

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                list(pool.map(create, range(args.count)))
            created = time.monotonic() - started

            def members_done() -> bool:
                for member in fed.members:
                    services = client.CoreV1Api(fed.api_client(member.spec.name)).list_namespaced_service(
                        "bench", label_selector="fedop.io/federation=myfederation"
                    )
                    if len(services.items) < args.count:
                        return False
                return True

            def status_done() -> bool:
                items = custom.list_namespaced_custom_object(GROUP, VERSION, "bench", "federatedservices")[
                    "items"
                ]
                return len(items) == args.count and all(
                    i.get("status", {}).get("observedGeneration") == i["metadata"]["generation"]
                    and len(i["status"].get("shards", [])) == args.members
                    and all(s.get("synced") for s in i["status"]["shards"])
                    for i in items
                )

            eventually("member Services", members_done, timeout=600, interval=1.0)
            services_at = time.monotonic() - started
            eventually("status current", status_done, timeout=600, interval=1.0)
            converged = time.monotonic() - started
            after = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
            assert op.proc is not None
            rss = memory_bytes(op.proc.pid, "VmHWM") / 2**20

            # "At rest" starts once the trailing updates (LoadBalancer addresses reaching every status) are
            # done: the window opens when no FederatedService changed for a few seconds.
            settle_started = time.monotonic()
            eventually("quiet", lambda: quiet(custom), timeout=600, interval=0.5)
            settled = time.monotonic() - settle_started
            quiet_from = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
            time.sleep(args.rest_seconds)  # the measurement window itself, not a readiness wait
            rest = {c.spec.name: request_counts(c) for c in fed.clusters.values()}

            print(f"{args.count} FederatedServices x {args.members} members")
            print(f"  created in host:            {created:.1f}s")
            print(f"  every member Service exists: {services_at:.1f}s")
            print(f"  every status current:        {converged:.1f}s")
            print(f"  operator peak RSS:           {rss:.0f} MiB")
            for member in fed.members:
                calls = delta(after[member.spec.name], before[member.spec.name], "services")
                per = {k: round(v / args.count, 2) for k, v in calls.items()}
                print(f"  {member.spec.name} services requests per object: {per}")
            host_calls = delta(after["federation"], before["federation"], "federatedservices")
            print(
                f"  host federatedservices requests per object: "
                f"{ {k: round(v / args.count, 2) for k, v in host_calls.items()} }"
            )
            at_rest = {
                name: delta(rest[name], quiet_from[name], "services")
                | delta(rest[name], quiet_from[name], "federatedservices")
                for name in rest
            }
            print(f"  trailing updates settled:    {settled:.1f}s later")
            print(f"  requests during {args.rest_seconds:.0f}s at rest: {at_rest}")
        finally:
            op.stop()
            fed.down(log=lambda _m: None)


if __name__ == "__main__":
    main()
