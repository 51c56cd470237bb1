"""Benchmark: N FederatedServices over the members: time to converge, operator memory, API calls per object.

Run on demand, not in the test suite:
    .venv/bin/python benchmarks/propagation.py [--count 1000] [--members 4] [--no-dns]
        [--cpu-profile FILE] [--memory-profile]

Brings up its own local federation, registers the members, starts the operator as a process, creates N
FederatedServices in the host and (unless --no-backends) one ready endpoint for each of them in every member,
and measures the time until every member holds every Service and every FederatedService's status reports
all its shards synced and healthy for its current generation and (unless --no-dns) its records published in
the federation's BIND. API calls are counted by the apiservers themselves (`apiserver_request_total` deltas),
so they are real: writes and reads of Services in the members, and writes of FederatedService status in the
host. Then it watches the operator at rest for a while and reports the calls it makes while nothing changes
(the target is none per object). The operator's own work (reconciles, member writes, DNS provider calls)
is read from its /metrics endpoint, and its CPU and memory are also printed per 1,000 objects, so runs of
different sizes compare (`--count 10000` works; on 2 cores it takes a long while).

`--cpu-profile FILE` attaches py-spy to the operator for the run and prints where its CPU went (by layer
and function; the collapsed stacks stay in FILE); `--memory-profile` runs the operator under tracemalloc
(`benchmarks/traced_operator.py`, several times slower: use that run for memory only) and prints what it
holds once converged, by layer and by allocating line (`benchmarks/profiles.py`).

`--restart` then stops the converged operator and starts another over the same objects, as a failover to the
standby replica does: every list and every object read back at once. It prints the new operator's peak RSS,
its CPU and time until every object was reconciled once, and the writes it made (none, nothing changed).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import re
import shutil
import ssl
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "hack"), str(REPO), str(REPO / "benchmarks")]

import lifecycle  # noqa: E402
from kubernetes import client, watch  # noqa: E402
from localfed import FederationConfig, LocalFederation  # noqa: E402
from localfed.federation import ClusterState, free_port  # noqa: E402
from localfed.operator import (  # noqa: E402
    GROUP,
    VERSION,
    OperatorProcess,
    apply_crds,
    condition,
    eventually,
    is_member_ready,
    register_dns_credentials,
    register_member,
)
from localfed.processes import cpu_seconds, memory_bytes  # noqa: E402
from profiles import CpuProfile, dump_memory, summarize_cpu, summarize_memory  # noqa: E402

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


class Progress:
    """Watches that note when the last member Service appeared and when the last FederatedService's status
    became current. One stream per cluster, timed at the event: measuring adds no polling load (listing 1,000
    objects a second per cluster would cost the apiservers a good share of the CPU being measured)."""

    def __init__(self, fed: LocalFederation, count: int, *, dns: bool, healthy: bool) -> None:
        self.fed, self.count, self.dns, self.healthy = fed, count, dns, healthy
        self.services: dict[str, set[str]] = {m.spec.name: set() for m in fed.members}
        self.current: set[str] = set()
        self.latest: dict[str, Any] = {}  # name -> the object as last seen (to say what is not current)
        self.services_done_at: float | None = None
        self.status_done_at: float | None = None
        self.lock = threading.Lock()
        self.watches: list[watch.Watch] = []
        self.stopped = threading.Event()
        for member in fed.members:
            self._start(self._watch_services, member.spec.name)
        self._start(self._watch_status)

    def _start(self, target: Callable[..., None], *args: str) -> None:
        def run() -> None:
            # A stream can end early (a `410 Gone`, a dropped connection: at 3,000 objects the first run
            # of this benchmark lost one and waited out its deadline): start it again, which lists anew
            # (the handlers are idempotent), until stopped. The federation going down ends it mid-read.
            while not self.stopped.is_set():
                w = watch.Watch()
                with self.lock:
                    self.watches.append(w)
                try:
                    target(w, *args)
                except Exception as exc:  # reported, then the stream starts over
                    if not self.stopped.is_set():
                        print(f"{target.__name__}{args}: the stream ended ({exc!r}); again", file=sys.stderr)
                        time.sleep(1)

        threading.Thread(target=run, daemon=True).start()

    def _watch_services(self, w: watch.Watch, cluster: str) -> None:
        core = client.CoreV1Api(self.fed.api_client(cluster))
        selector = "fedop.io/federation=myfederation"
        for event in w.stream(core.list_namespaced_service, "bench", label_selector=selector):
            with self.lock:
                self.services[cluster].add(event["object"].metadata.name)
                done = all(len(names) >= self.count for names in self.services.values())
                if done and self.services_done_at is None:
                    self.services_done_at = time.monotonic()

    def _watch_status(self, w: watch.Watch) -> None:
        custom = client.CustomObjectsApi(self.fed.api_client("federation"))
        members = len(self.fed.members)
        for event in w.stream(
            custom.list_namespaced_custom_object, GROUP, VERSION, "bench", "federatedservices"
        ):
            obj = event["object"]
            status = obj.get("status") or {}
            shards = status.get("shards", [])
            current = (
                status.get("observedGeneration") == obj["metadata"]["generation"]
                and len(shards) == members
                and all(s.get("synced") for s in shards)
                and (not self.healthy or all(s.get("healthy") for s in shards))
                and (not self.dns or dns_published(obj))
            )
            with self.lock:
                self.latest[obj["metadata"]["name"]] = obj
                (self.current.add if current else self.current.discard)(obj["metadata"]["name"])
                if len(self.current) >= self.count and self.status_done_at is None:
                    self.status_done_at = time.monotonic()

    def laggards(self, limit: int = 3) -> list[Any]:
        """A few objects whose status is not current yet, as last seen."""
        with self.lock:
            return [obj for name, obj in sorted(self.latest.items()) if name not in self.current][:limit]

    def stop(self) -> None:
        self.stopped.set()
        with self.lock:
            for w in self.watches:
                w.stop()


def write_endpoints(fed: LocalFederation, count: int) -> None:
    """One ready endpoint for every Service in every member, as the benchmark's stand-in for backend Pods:
    EndpointSlices written directly (the Services have no selector), labelled for the operator's watch. The
    addresses are data only; nothing ever connects to them."""

    def write(args: tuple[ClusterState, int]) -> None:
        member, i = args
        region = member.spec.region
        client.DiscoveryV1Api(fed.api_client(member.spec.name)).create_namespaced_endpoint_slice(
            "bench",
            {
                "metadata": {
                    "name": f"svc-{i:05d}-bench",
                    "labels": {
                        "kubernetes.io/service-name": f"svc-{i:05d}",
                        "fedop.io/federation": "myfederation",
                        "endpointslice.kubernetes.io/managed-by": "benchmark",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": [f"10.244.{i // 250}.{i % 250 + 1}"],
                        "conditions": {"ready": True},
                        "zone": f"{region}-a",
                    }
                ],
                "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
            },
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(write, [(m, i) for i in range(count) for m in fed.members]))


def cpu_by_component(fed: LocalFederation, op: OperatorProcess) -> dict[str, float]:
    """CPU seconds used so far by the operator and by each kind of the federation's processes."""
    totals: collections.Counter[str] = collections.Counter()
    for record in fed.all_processes():
        totals[record.name] += cpu_seconds(record.pid)
    if op.proc is not None:
        totals["operator"] += cpu_seconds(op.proc.pid)
    return dict(totals)


def dns_published(item: dict) -> bool:  # type: ignore[type-arg]
    published = condition(item, "DNSPublished")
    return published is not None and published["status"] == "True"


OPERATOR_COUNTERS = {
    "reconciles": "fedop_reconcile_duration_seconds_count",
    "member writes": "fedop_member_writes_total",
    "DNS provider calls": "fedop_dns_provider_calls_total",
    "DNS changes": "fedop_dns_changes_total",
}


def operator_counters(port: int) -> dict[str, float]:
    """Totals of the operator's own work counters, from its /metrics endpoint (summed over labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    totals = dict.fromkeys(OPERATOR_COUNTERS, 0.0)
    for line in text.splitlines():
        name, _sep, value = line.rpartition(" ")
        metric = name.split("{", 1)[0]
        for label, wanted in OPERATOR_COUNTERS.items():
            if metric == wanted:
                totals[label] += float(value)
    return totals


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--no-dns", action="store_true", help="no BIND, no DNS publishing")
    parser.add_argument(
        "--no-backends", action="store_true", help="no ready endpoints: every shard unhealthy, nothing in DNS"
    )
    parser.add_argument("--rest-seconds", type=float, default=30.0)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--bulk",
        type=int,
        metavar="N",
        help="instead: kubectl apply -f of N FederatedServices, seconds until the last answers in BIND; then "
        "kubectl delete -f, seconds until none is left (use with --members 3)",
    )
    mode.add_argument(
        "--cycle",
        nargs="?",
        const=1,
        type=int,
        metavar="N",
        help="also: RSS at idle, after --count converged, and after deleting them all, N times over (default "
        "once; with --memory-profile: what tracemalloc sees grown between idle and after)",
    )
    mode.add_argument(
        "--relist",
        action="store_true",
        help="also: once converged, cut the operator's connections to every kube-apiserver (every watch "
        "relists) and count the writes the operator makes afterwards (needs root, for ss -K)",
    )
    mode.add_argument(
        "--restart",
        action="store_true",
        help="also: once converged, stop the operator and start another over the same objects (a failover to "
        "the standby replica): its peak RSS, its CPU and time until it has reconciled every object once, "
        "and the writes it makes (none: nothing changed)",
    )
    parser.add_argument(
        "--probe-period",
        type=int,
        metavar="SECONDS",
        help="probe the members this often (default: the MemberCluster's own default, 10 s; the tests' "
        "members are probed every 2 s, each probe 3 requests)",
    )
    parser.add_argument(
        "--operator-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an operator setting (FEDOP_<NAME>), e.g. workers=32; repeatable",
    )
    parser.add_argument("--operator-log", type=Path, metavar="FILE", help="keep a copy of the operator's log")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=30.0,
        help="--cycle: how long the operator is left alone before each RSS reading",
    )
    parser.add_argument(
        "--cpu-profile",
        type=Path,
        metavar="FILE",
        help="attach py-spy to the operator, keep its collapsed stacks in FILE and print where CPU goes",
    )
    parser.add_argument(
        "--memory-profile",
        action="store_true",
        help="run the operator under tracemalloc (slow: memory figures only) and print what it holds",
    )
    return parser.parse_args()


def print_requests(
    fed: LocalFederation,
    count: int,
    before: dict[str, collections.Counter[tuple[str, str, str]]],
    after: dict[str, collections.Counter[tuple[str, str, str]]],
) -> None:
    """Requests per object the run cost, in each member and in the host."""
    for member in fed.members:
        calls = delta(after[member.spec.name], before[member.spec.name], "services")
        per = {k: round(v / count, 2) for k, v in calls.items()}
        print(f"  {member.spec.name} services requests per object: {per}")
    for resource in ("federatedservices", "events"):
        host_calls = delta(after["federation"], before["federation"], resource)
        per_object = {k: round(v / count, 2) for k, v in host_calls.items()}
        print(f"  host {resource} requests per object: {per_object}")
    member_totals = collections.Counter[str]()
    for member in fed.members:
        earlier = before[member.spec.name]
        for (verb, res, sub), value in after[member.spec.name].items():
            member_totals[f"{verb} {res}"] += value - earlier.get((verb, res, sub), 0)
    busiest = {k: round(v / count, 2) for k, v in member_totals.most_common(8) if v}
    print(f"  all members, requests per object (top 8): {busiest}")


def ensure_namespace(api: client.ApiClient) -> None:
    """The benchmark's namespace (left by an earlier round of --cycle, or created now)."""
    try:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "bench"}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def create_all(fed: LocalFederation, custom: client.CustomObjectsApi, count: int, *, healthy: bool) -> float:
    """Create `count` FederatedServices (16 at a time), and their endpoints in every member when `healthy`;
    returns when the last create was answered (time.monotonic())."""
    if healthy:
        for member in fed.members:
            ensure_namespace(fed.api_client(member.spec.name))

    def create(i: int) -> None:
        # With backends: a Service without selector, whose endpoints the benchmark writes itself. No node
        # ports: a member holds at most 2,768 LoadBalancer Services that take them (the default range,
        # 30000-32767), and the 3,000-object run found every later create refused ("failed to allocate a
        # nodePort: range is full"); the local federation's load balancers do not use them.
        template = {"ports": [{"port": 80}], "allocateLoadBalancerNodePorts": False} | (
            {} if healthy else {"selector": {"app": f"svc-{i}"}}
        )
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            "bench",
            "federatedservices",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "FederatedService",
                "metadata": {"name": f"svc-{i:05d}"},
                "spec": {"template": {"spec": template}},
            },
        )

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        backends = [pool.submit(write_endpoints, fed, count)] if healthy else []
        list(pool.map(create, range(count)))
        created = time.monotonic()
        for future in backends:
            future.result()
    return created


def register_all(fed: LocalFederation, probe_period: int | None) -> None:
    """CRDs and DNS credentials in the host, and every member joined with fedctl: probed as a user's member
    is by default (every 10 s), or every ``probe_period`` seconds."""
    apply_crds(fed)
    register_dns_credentials(fed)
    flags = () if probe_period is None else ("--probe-period", str(probe_period))
    for member in fed.members:
        register_member(fed, member, probe_flags=flags)


@dataclass
class Run:
    """What one run measured, from the first create until every status was current."""

    created: float
    services_at: float
    converged: float
    settled: float
    rss_peak: float
    cpu: dict[str, float]
    before: dict[str, collections.Counter[tuple[str, str, str]]]
    after: dict[str, collections.Counter[tuple[str, str, str]]]
    quiet_from: dict[str, collections.Counter[tuple[str, str, str]]]
    rest: dict[str, collections.Counter[tuple[str, str, str]]]
    rest_cpu: float
    work: dict[str, float]


def start_operator(args: argparse.Namespace, fed: LocalFederation, tmp: Path) -> tuple[OperatorProcess, int]:
    """The operator as a process (under tracemalloc with --memory-profile), its metrics on a loopback port."""
    module = "federation_operator"
    if args.memory_profile:
        os.environ["BENCH_TRACEMALLOC"] = str(tmp / "operator.tracemalloc")  # the operator inherits it
        module = "benchmarks.traced_operator"
    metrics_port = free_port()
    settings = dict(s.split("=", 1) for s in args.operator_setting)
    op = OperatorProcess(
        fed,
        tmp / "operator.log",
        module=module,
        metrics_port=str(metrics_port),
        metrics_address="127.0.0.1",
        **settings,
    )
    register_all(fed, args.probe_period)
    op.start()
    # Traced, the operator takes minutes to start on a loaded machine (the Kubernetes client's imports).
    ready_timeout = 600 if args.memory_profile else 90
    eventually(
        "members Ready", lambda: all(is_member_ready(fed, m.spec.name) for m in fed.members), ready_timeout
    )
    return op, metrics_port


def measure(args: argparse.Namespace, fed: LocalFederation, op: OperatorProcess, metrics_port: int) -> Run:
    host = fed.api_client("federation")
    ensure_namespace(host)
    before = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    cpu_before = cpu_by_component(fed, op)
    work_before = operator_counters(metrics_port)  # not zero in a later round of --cycle
    custom = client.CustomObjectsApi(host)
    healthy = not args.no_backends
    assert op.proc is not None
    profile = CpuProfile(op.proc.pid, args.cpu_profile) if args.cpu_profile is not None else None
    progress = Progress(fed, args.count, dns=not args.no_dns, healthy=healthy)
    # Generous: a 10,000-object run on 2 cores takes many minutes, and a timeout here only ends a benchmark.
    deadline = max(600.0, args.count * 0.6)
    started = time.monotonic()
    created = create_all(fed, custom, args.count, healthy=healthy) - started
    eventually("member Services", lambda: progress.services_done_at, timeout=deadline, interval=0.5)
    assert progress.services_done_at is not None
    try:
        eventually("status current", lambda: progress.status_done_at, timeout=deadline, interval=0.5)
    except AssertionError:
        for obj in progress.laggards():
            print(f"not current: {obj['metadata']} {obj.get('status')}", file=sys.stderr)
        raise
    assert progress.status_done_at is not None
    progress.stop()
    after = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    cpu_after = cpu_by_component(fed, op)
    work = {k: v - work_before.get(k, 0.0) for k, v in operator_counters(metrics_port).items()}
    if profile is not None:
        profile.stop()
    rss = memory_bytes(op.proc.pid, "VmHWM") / 2**20
    # "At rest" starts once the trailing updates (LoadBalancer addresses reaching every status) are
    # done: the window opens when no FederatedService changed for a few seconds.
    settle_started = time.monotonic()
    eventually("quiet", lambda: quiet(custom), timeout=deadline, interval=0.5)
    settled = time.monotonic() - settle_started
    quiet_from = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    rest_cpu = cpu_seconds(op.proc.pid)
    time.sleep(args.rest_seconds)  # the measurement window itself, not a readiness wait
    rest = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    return Run(
        created=created,
        services_at=progress.services_done_at - started,
        converged=progress.status_done_at - started,
        settled=settled,
        rss_peak=rss,
        cpu={k: round(v - cpu_before.get(k, 0.0), 1) for k, v in sorted(cpu_after.items())},
        before=before,
        after=after,
        quiet_from=quiet_from,
        rest=rest,
        rest_cpu=cpu_seconds(op.proc.pid) - rest_cpu,
        work=work,
    )


def report(args: argparse.Namespace, fed: LocalFederation, op: OperatorProcess, run: Run) -> None:
    assert op.proc is not None
    per_thousand = 1000 / args.count
    print(f"{args.count} FederatedServices x {args.members} members")
    print(f"  created in host:            {run.created:.1f}s")
    print(f"  every member Service exists: {run.services_at:.1f}s")
    print(f"  every status current{'' if args.no_dns else ', DNS published'}: {run.converged:.1f}s")
    print(f"  operator peak RSS:           {run.rss_peak:.0f} MiB")
    print(f"  CPU seconds until converged: {run.cpu}")
    operator_cpu = run.cpu.get("operator", 0.0)
    print(f"  operator CPU seconds per 1,000 objects: {operator_cpu * per_thousand:.1f}")
    print_requests(fed, args.count, run.before, run.after)
    per_object = {k: round(v / args.count, 2) for k, v in run.work.items()}
    print(f"  operator work per object until converged: {per_object}")
    at_rest = {
        name: delta(run.rest[name], run.quiet_from[name], "services")
        | delta(run.rest[name], run.quiet_from[name], "federatedservices")
        for name in run.rest
    }
    print(f"  trailing updates settled:    {run.settled:.1f}s later")
    print(f"  requests during {args.rest_seconds:.0f}s at rest: {at_rest}")
    print(f"  operator CPU seconds during {args.rest_seconds:.0f}s at rest: {run.rest_cpu:.2f}")
    rss_now = memory_bytes(op.proc.pid, "VmRSS") / 2**20
    print(f"  operator RSS at rest: {rss_now:.0f} MiB ({rss_now * per_thousand:.0f} MiB per 1,000 objects)")
    if args.cpu_profile is not None:
        summarize_cpu(args.cpu_profile)
    if args.memory_profile:
        summarize_memory(dump_memory(op.proc.pid, Path(os.environ["BENCH_TRACEMALLOC"])), args.count)


def cycle(args: argparse.Namespace, fed: LocalFederation, op: OperatorProcess, metrics_port: int) -> None:
    """RSS at idle, at the peak of creating --count, and after deleting them all (item 8 of issue 15); with
    ``--cycle N``, N rounds of it: memory kept by the allocators for the next objects is reused by them, and
    RSS after each round stays where the first left it."""
    assert op.proc is not None
    time.sleep(args.settle_seconds)  # the idle operator's measurement window, not a readiness wait
    idle = lifecycle.rss_mib(op)
    idle_sockets = lifecycle.open_sockets(op)
    idle_snapshot = None
    if args.memory_profile:
        idle_snapshot = dump_memory(op.proc.pid, Path(os.environ["BENCH_TRACEMALLOC"]))
    print(f"cycle: operator RSS at idle {idle:.0f} MiB (load average {lifecycle.load_average()})")
    for round_ in range(1, args.cycle + 1):
        if args.cycle > 1:
            print(f"round {round_} of {args.cycle}:")
        cycle_round(args, fed, op, metrics_port, idle=idle, idle_sockets=idle_sockets)
    held = lifecycle.series(metrics_port, "fedop_objects_held")
    print(f"  objects the operator says it holds after: {held}")
    if idle_snapshot is not None:
        after_snapshot = dump_memory(op.proc.pid, Path(os.environ["BENCH_TRACEMALLOC"]))
        lifecycle.rest_memory_summary(idle_snapshot, after_snapshot)


def cycle_round(
    args: argparse.Namespace,
    fed: LocalFederation,
    op: OperatorProcess,
    metrics_port: int,
    *,
    idle: float,
    idle_sockets: int,
) -> None:
    """One round of --cycle: create --count, converge, delete them all, and read RSS once at rest."""
    run = measure(args, fed, op, metrics_port)
    report(args, fed, op, run)
    converged = lifecycle.rss_mib(op)
    started = time.monotonic()
    lifecycle.delete_all(fed, timeout=max(600.0, args.count * 0.6))
    deleted = time.monotonic() - started
    # The backends go too (a user deleting the services deletes their apps): a member's EndpointSlices
    # carrying the federation label are held by the member cache for as long as they exist.
    lifecycle.delete_endpoints(fed)
    print(f"  all deleted, their members' Services and DNS names gone: {deleted:.1f}s")
    time.sleep(args.settle_seconds)  # the measurement window after the delete, not a readiness wait
    # The connections the busy spell opened hold a 256 KiB TLS buffer each until their pools close them, idle
    # (aiohttp: 15-30 s after their last request): "after" is the operator at rest, once they are gone.
    busy_sockets = lifecycle.open_sockets(op)
    waited = time.monotonic()
    while lifecycle.open_sockets(op) > idle_sockets + 2 and time.monotonic() - waited < 120:
        time.sleep(1)  # polled with a deadline: not every connection need close (a watch may have moved)
    sockets, closed_after = lifecycle.open_sockets(op), time.monotonic() - waited
    # Their buffers, freed, go back to the system with the allocator's next trim, after the GC pacer's next
    # pass: one pacer period more (a measurement window, not a readiness wait).
    period = float(dict(s.split("=", 1) for s in args.operator_setting).get("gc_young_seconds", 10))
    time.sleep(period + 1)
    after = lifecycle.rss_mib(op)
    print(
        f"  open sockets: {idle_sockets} at idle, {busy_sockets} when the window ended, {sockets} "
        f"{closed_after:.0f}s later; RSS read one GC pacer period ({period:.0f}s) after that"
    )
    peak = lifecycle.rss_mib(op, "VmHWM")
    within = after <= idle * 1.2
    print(
        f"  operator RSS: idle {idle:.0f} MiB, peak {peak:.0f} MiB, converged {converged:.0f} MiB, "
        f"after deleting all {after:.0f} MiB ({100 * (after / idle - 1):+.0f}% of idle: "
        f"{'within' if within else 'NOT within'} 20%), load average {lifecycle.load_average()}"
    )


WRITES = {"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"}


def calls_between(
    before: collections.Counter[tuple[str, str, str]],
    after: collections.Counter[tuple[str, str, str]],
    verbs: set[str],
    resources: tuple[str, ...],
) -> dict[str, int]:
    """The calls of ``verbs`` to ``resources`` an apiserver counted between two readings."""
    made = collections.Counter[tuple[str, str, str]]()
    for key, value in after.items():
        made[key] = value - before.get(key, 0)
    return {
        k: v
        for k, v in lifecycle.count_calls(made, verbs).items()
        if k.split(" ", 1)[1].split("/")[0] in resources
    }


def relist(args: argparse.Namespace, fed: LocalFederation, op: OperatorProcess, metrics_port: int) -> None:
    """Break every watch of the operator once converged (each lists again); count the writes that follow
    (item 9 of issue 15)."""
    assert op.proc is not None
    before = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    work_before = operator_counters(metrics_port)
    ports = [int(c.server.rsplit(":", 1)[1]) for c in fed.clusters.values()]
    cut = lifecycle.cut_connections(op.proc.pid, ports)
    print(
        f"relist: cut the operator's {cut} connections to the kube-apiservers "
        f"(load average {lifecycle.load_average()})"
    )
    time.sleep(args.rest_seconds)  # the measurement window after the relists, not a readiness wait
    after = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    work_after = operator_counters(metrics_port)
    print(f"  {args.rest_seconds:.0f}s later:")

    def calls(cluster: str, verbs: set[str], resources: tuple[str, ...]) -> dict[str, int]:
        return calls_between(before[cluster], after[cluster], verbs, resources)

    for member in fed.members:
        name = member.spec.name
        print(
            f"    {name}: Service writes {calls(name, WRITES, ('services',))}; "
            f"lists {calls(name, {'LIST'}, ('services', 'endpointslices'))}"
        )
    print(
        f"    host: writes {calls('federation', WRITES, ('federatedservices', 'events', 'memberclusters'))}; "
        f"lists {calls('federation', {'LIST'}, ('federatedservices', 'memberclusters'))}"
    )
    work = {k: round(v - work_before.get(k, 0.0)) for k, v in work_after.items()}
    print(f"    operator work since: {work} (load average {lifecycle.load_average()})")


def restart(args: argparse.Namespace, fed: LocalFederation, op: OperatorProcess, metrics_port: int) -> None:
    """Stop the converged operator and start another over the same objects, as a failover to the standby
    replica does: what it costs to read everything back (every list at once: the peak RSS of a start over
    --count objects, against the peak of creating them), and that it writes nothing (DESIGN: a restarted
    operator resyncs without any change when nothing changed). With --memory-profile: what the restarted
    operator holds at rest beyond what the original held at rest, by allocating line."""
    before = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    original = None
    if args.memory_profile:
        assert op.proc is not None
        original = dump_memory(op.proc.pid, Path(os.environ["BENCH_TRACEMALLOC"]))
    op.stop()
    started = time.monotonic()
    op.start()
    assert op.proc is not None
    print(f"restart: a new operator started over {args.count} FederatedServices (pid {op.proc.pid})")

    settled: list[tuple[float, float]] = []  # (reconciles, when) of the polls since the queue emptied

    def resynced() -> bool:
        # Every object reconciled once and the queue empty, three polls in a row without a reconcile: the
        # members' syncs each queue every object again (coalesced), so one empty queue is not the end.
        try:
            reconciles = operator_counters(metrics_port)["reconciles"]
            depth = lifecycle.metric(metrics_port, "fedop_workqueue_depth")
        except OSError:
            return False  # not serving its metrics yet
        if reconciles < args.count or depth > 0 or (settled and settled[-1][0] != reconciles):
            settled.clear()
        if reconciles >= args.count and depth == 0:
            settled.append((reconciles, time.monotonic()))
        return len(settled) >= 3

    eventually("the restarted operator reconciled every object", resynced, max(600.0, args.count * 0.6), 1.0)
    took = settled[0][1] - started
    cpu = cpu_seconds(op.proc.pid)
    peak = lifecycle.rss_mib(op, "VmHWM")
    time.sleep(args.rest_seconds)  # the measurement window after the resync, not a readiness wait
    after = {c.spec.name: request_counts(c) for c in fed.clusters.values()}
    work = operator_counters(metrics_port)

    def writes(cluster: str, resources: tuple[str, ...]) -> dict[str, int]:
        return calls_between(before[cluster], after[cluster], WRITES, resources)

    print(f"  every object reconciled once, queue empty: {took:.1f}s after the start, {cpu:.1f} CPU-s")
    rest = lifecycle.rss_mib(op)
    print(f"  its peak RSS: {peak:.0f} MiB; at rest {args.rest_seconds:.0f}s later: {rest:.0f} MiB")
    print(f"  its work: {dict((k, round(v)) for k, v in work.items())}")
    for member in fed.members:
        print(f"    {member.spec.name}: Service writes {writes(member.spec.name, ('services',))}")
    print(f"    host: writes {writes('federation', ('federatedservices', 'events'))}")
    print(f"  (load average {lifecycle.load_average()})")
    if original is not None:
        print("  what the restarted operator holds at rest beyond what the original held at rest:")
        lifecycle.rest_memory_summary(
            original, dump_memory(op.proc.pid, Path(os.environ["BENCH_TRACEMALLOC"]))
        )


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-propagation-") as tmp:
        if args.bulk and args.no_dns:
            raise SystemExit("--bulk measures BIND's answers: it needs DNS")
        config = FederationConfig(Path(tmp) / "fed", members=args.members, with_dns=not args.no_dns)
        fed = LocalFederation(config)
        fed.up(log=lambda _m: None)
        op: OperatorProcess | None = None
        try:
            op, metrics_port = start_operator(args, fed, Path(tmp))
            if args.bulk:
                lifecycle.bulk(
                    args,
                    fed,
                    op,
                    metrics_port,
                    tmp=Path(tmp),
                    write_endpoints=write_endpoints,
                    cpu_by_component=cpu_by_component,
                    operator_counters=operator_counters,
                )
            elif args.cycle:
                cycle(args, fed, op, metrics_port)
            elif args.relist:
                report(args, fed, op, measure(args, fed, op, metrics_port))
                relist(args, fed, op, metrics_port)
            elif args.restart:
                report(args, fed, op, measure(args, fed, op, metrics_port))
                restart(args, fed, op, metrics_port)
            else:
                report(args, fed, op, measure(args, fed, op, metrics_port))
        except BaseException:
            if op is not None:
                print(op.tail(), file=sys.stderr)
            raise
        finally:
            if op is not None:
                op.stop()
                if args.operator_log is not None:
                    shutil.copyfile(op.log, args.operator_log)
            fed.down(log=lambda _m: None)


if __name__ == "__main__":
    main()
