"""The lifecycle modes of `benchmarks/propagation.py`: `--bulk`, `--cycle` and `--relist`.

* **bulk**: `kubectl apply -f` of one file of N FederatedServices on a running operator (each with a ready
  backend endpoint in every member, written before the apply), then the seconds from the apply's return
  until the last of them answers in BIND with every member's address at its global name; then
  `kubectl delete -f` of the same file and the seconds from its return until BIND holds none of their
  names and the members none of their Services. While it waits it samples the operator's work queue depth
  and counts its reconciles and DNS rounds, and it prints the CPU every process used, so the time can be
  placed.
* **cycle**: the operator's RSS at idle (members registered, no FederatedService), at its peak while N
  are created and converge, and after all are deleted and gone and the operator has settled; with
  `--memory-profile`, tracemalloc snapshots at idle and after, and what grew between them.
* **relist**: once N have converged and the federation is quiet, every TCP connection of the operator to
  the members' and the host's kube-apiservers is aborted (`ss -K`, as root), so every watch of the
  operator breaks mid-stream and lists again (after a broken connection the watch relists, the same path
  as a `410 Gone`), while the members stay Ready (their probes answer); then the writes the operator
  makes afterwards are counted (member Service writes, status writes, events, DNS changes), from the
  apiservers' own `apiserver_request_total` and the operator's /metrics. Unchanged objects should cost
  none. (Restarting an apiserver instead is an outage: the member turns NotReady, rightly rewriting every
  status twice.)

The DNS answers are read with dnspython from the federation's BIND (UDP queries, and an AXFR to check that
a deleted owner left no name behind).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.zone
from kubernetes import client
from localfed import LocalFederation, processes
from localfed.bind import BindServer
from localfed.operator import FEDERATION, GROUP, VERSION, OperatorProcess, eventually

NAMESPACE = "bench"


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def global_name(server: BindServer, name: str) -> str:
    return f"{name}.{NAMESPACE}.{FEDERATION}.svc.{server.zone}."


def addresses_at(server: BindServer, name: str) -> frozenset[str] | None:
    """The A addresses BIND answers for `name` (None when it has none: NXDOMAIN or no A record)."""
    try:
        response = dns.query.udp(
            dns.message.make_query(name, "A"), server.address, port=server.port, timeout=2
        )
    except dns.exception.Timeout:
        return None
    found = {
        record.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for record in rrset
    }
    return frozenset(found) or None


def names_left(server: BindServer, owners: Iterable[str]) -> int:
    """How many names of the zone (any tier, TXT ownership records too) still belong to `owners`: one AXFR."""
    labels = {f"{o}.{NAMESPACE}.{FEDERATION}." for o in owners}
    keyring = dns.tsigkeyring.from_text({server.key_name: server.key_secret})
    zone = dns.zone.from_xfr(
        dns.query.xfr(
            server.address,
            server.zone,
            port=server.port,
            keyring=keyring,
            keyalgorithm=server.key_algorithm,
            lifetime=60,
        )
    )
    left = 0
    for node_name in zone.nodes:
        text = node_name.to_text()
        # Tier names are <name>.<ns>.<federation>.svc[.<region|zone>]; ownership TXT names carry a prefix.
        if any(label in f"{text}." or f".{label}" in f".{text}." for label in labels):
            left += 1
    return left


class WorkSampler:
    """Samples the operator's work queue depth and work counters (its /metrics) every `interval` seconds in
    a thread: the timeline shows whether the queue waits on the operator or on what it calls."""

    COUNTERS = (
        ("reconciles", "fedop_reconcile_duration_seconds_count"),
        ("member writes", "fedop_member_writes_total"),
        ("DNS calls", "fedop_dns_provider_calls_total"),
    )

    def __init__(self, port: int, pid: int, interval: float = 0.5) -> None:
        self.port, self.pid, self.interval = port, pid, interval
        self.started = time.monotonic()
        self.samples: list[tuple[float, float, dict[str, float], float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(OSError, ValueError):
                values = series_sums(self.port)
                self.samples.append(
                    (
                        time.monotonic() - self.started,
                        values.get("fedop_workqueue_depth", 0.0),
                        {label: values.get(name, 0.0) for label, name in self.COUNTERS},
                        processes.cpu_seconds(self.pid),
                    )
                )

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(5)
        depths = sorted(d for _t, d, _c, _cpu in self.samples) or [0.0]
        return {"p50": depths[len(depths) // 2], "max": depths[-1], "samples": float(len(self.samples))}

    def timeline(self, every: float = 2.0) -> list[str]:
        """One line per `every` seconds: queue depth, and the work and operator CPU since the line before."""
        lines: list[str] = []
        last: tuple[float, float, dict[str, float], float] | None = None
        for sample in self.samples:
            if last is not None and sample[0] - last[0] < every:
                continue
            at, depth, counters, cpu = sample
            if last is None:
                last = sample
                continue
            work = ", ".join(f"{k} +{v - last[2][k]:.0f}" for k, v in counters.items())
            lines.append(f"t={at:5.1f}s depth {depth:4.0f}  {work}, operator CPU {cpu - last[3]:.1f}s")
            last = sample
        return lines


def series_sums(port: int) -> dict[str, float]:
    """Every metric of the operator summed over its labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    totals: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _sep, value = line.rpartition(" ")
        totals[series.split("{", 1)[0]] += float(value)
    return dict(totals)


def metric(port: int, name: str) -> float:
    """One of the operator's metrics, summed over its labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        series, _sep, value = line.rpartition(" ")
        if series.split("{", 1)[0] == name:
            total += float(value)
    return total


def series(port: int, name: str) -> dict[str, float]:
    """Every series of one of the operator's metrics: its labels → value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = {}
    for line in text.splitlines():
        name_labels, _sep, value = line.rpartition(" ")
        metric_name, _brace, labels = name_labels.partition("{")
        if metric_name == name:
            found[labels.rstrip("}")] = float(value)
    return found


def manifest(path: Path, names: list[str]) -> Path:
    """One file of FederatedServices as a user would write it (JSON documents are YAML too)."""
    docs = [
        json.dumps(
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "FederatedService",
                "metadata": {"name": name, "namespace": NAMESPACE},
                # No selector: the benchmark writes each shard's EndpointSlice itself.
                "spec": {"template": {"spec": {"ports": [{"port": 80}]}}},
            }
        )
        for name in names
    ]
    path.write_text("\n---\n".join(docs) + "\n")
    return path


def kubectl(fed: LocalFederation, *args: str) -> float:
    """Run kubectl against the host; returns when it returned (time.monotonic())."""
    result = fed.kubectl("federation", *args, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr[-2000:]}")
    return time.monotonic()


def wait_answering(server: BindServer, names: list[str], members: int, timeout: float) -> float:
    """Poll BIND until each name's global record holds `members` addresses; returns when the last did.
    Only the names still missing are asked again, so the polling shrinks as they arrive."""
    pending = [global_name(server, n) for n in names]
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} names not answering, e.g. {pending[:3]}")
        still = []
        for name in pending:
            found = addresses_at(server, name)
            if found is None or len(found) < members:
                still.append(name)
        pending = still
        if pending:
            time.sleep(0.1)  # between polling rounds: the rounds themselves take a while at 500 names
    return time.monotonic()


def wait_withdrawn(server: BindServer, names: list[str], timeout: float) -> float:
    """Poll BIND until no global name answers, then check with a zone transfer until no name of theirs is
    left in any tier; returns when that was first seen."""
    pending = [global_name(server, n) for n in names]
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} names still answer, e.g. {pending[:3]}")
        pending = [name for name in pending if addresses_at(server, name) is not None]
        if not pending and names_left(server, names) == 0:
            return time.monotonic()
        time.sleep(0.1)


def member_services_left(fed: LocalFederation) -> int:
    selector = f"fedop.io/federation={FEDERATION}"
    return sum(
        len(
            client.CoreV1Api(fed.api_client(m.spec.name))
            .list_namespaced_service(NAMESPACE, label_selector=selector)
            .items
        )
        for m in fed.members
    )


def fsvcs_left(fed: LocalFederation) -> int:
    custom = client.CustomObjectsApi(fed.api_client("federation"))
    return len(custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices")["items"])


def ensure_namespaces(fed: LocalFederation) -> None:
    for cluster in fed.clusters.values():
        with contextlib.suppress(client.ApiException):  # already there
            client.CoreV1Api(fed.api_client(cluster.spec.name)).create_namespace(
                {"metadata": {"name": NAMESPACE}}
            )


@dataclass
class Phase:
    """What one timed phase cost: seconds, CPU per process kind, the operator's work, queue depth."""

    seconds: float
    cpu: dict[str, float]
    work: dict[str, float]
    depth: dict[str, float]
    extra: dict[str, float] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)


def run_phase(
    fed: LocalFederation,
    op: OperatorProcess,
    port: int,
    *,
    action: Callable[[], float],
    until: Callable[[], float],
    cpu_by_component: Callable[[LocalFederation, OperatorProcess], dict[str, float]],
    operator_counters: Callable[[int], dict[str, float]],
) -> Phase:
    """`action` returns when the user's command returned; `until` when the outcome was seen."""
    cpu_before = cpu_by_component(fed, op)
    work_before = operator_counters(port)
    assert op.proc is not None
    sampler = WorkSampler(port, op.proc.pid)
    started = time.monotonic()
    returned = action()
    done = until()
    depth = sampler.stop()
    cpu_after = cpu_by_component(fed, op)
    work_after = operator_counters(port)
    return Phase(
        seconds=done - returned,
        cpu={k: round(v - cpu_before.get(k, 0.0), 1) for k, v in sorted(cpu_after.items())},
        work={k: round(v - work_before.get(k, 0.0)) for k, v in work_after.items()},
        depth=depth,
        extra={"command seconds": round(returned - started, 1)},
        timeline=sampler.timeline(),
    )


def print_phase(title: str, phase: Phase) -> None:
    print(f"  {title}: {phase.seconds:.1f}s after the command returned ({phase.extra})")
    print(f"    CPU seconds meanwhile: {phase.cpu}")
    print(f"    operator work meanwhile: {phase.work}")
    print(f"    work queue depth (sampled every 0.5s): {phase.depth}; from the command's start:")
    for line in phase.timeline:
        print(f"      {line}")


def bulk(
    args: Any,
    fed: LocalFederation,
    op: OperatorProcess,
    port: int,
    *,
    tmp: Path,
    write_endpoints: Callable[[LocalFederation, int], None],
    cpu_by_component: Callable[[LocalFederation, OperatorProcess], dict[str, float]],
    operator_counters: Callable[[int], dict[str, float]],
) -> None:
    """`kubectl apply -f` / `kubectl delete -f` of N FederatedServices: time until BIND answers / forgets."""
    assert fed.dns is not None
    server = fed.dns
    count = args.bulk
    names = [f"svc-{i:05d}" for i in range(count)]
    ensure_namespaces(fed)
    write_endpoints(fed, count)  # the backends are ready before the user applies the file
    path = manifest(tmp / "bulk.yaml", names)
    members = len(fed.members)
    timeout = max(600.0, count * 2.0)
    print(f"bulk: {count} FederatedServices x {members} members, load average {load_average()}")
    created = run_phase(
        fed,
        op,
        port,
        action=lambda: kubectl(fed, "apply", "-f", str(path)),
        until=lambda: wait_answering(server, names, members, timeout),
        cpu_by_component=cpu_by_component,
        operator_counters=operator_counters,
    )
    print_phase("last global name answering with every member's address", created)
    print(f"    load average after: {load_average()}")
    # Let the trailing status writes (the publisher's verdicts) finish, so the delete is measured alone.
    eventually("statuses settled", lambda: metric(port, "fedop_workqueue_depth") == 0 or None, timeout)

    def gone() -> float:
        at = wait_withdrawn(server, names, timeout)
        eventually("member Services gone", lambda: member_services_left(fed) == 0 or None, timeout, 0.5)
        eventually("FederatedServices gone", lambda: fsvcs_left(fed) == 0 or None, timeout, 0.5)
        return max(at, time.monotonic() if member_services_left(fed) else at)

    deleted = run_phase(
        fed,
        op,
        port,
        # --wait=false: the command returns once the deletes are accepted (as a delete of objects without
        # finalizers would); the operator's clean-up is what is timed.
        action=lambda: kubectl(fed, "delete", "--wait=false", "-f", str(path)),
        until=gone,
        cpu_by_component=cpu_by_component,
        operator_counters=operator_counters,
    )
    print_phase("no name left in BIND, no member Service, no FederatedService", deleted)
    print(f"    load average after: {load_average()}")


def rss_mib(op: OperatorProcess, field_name: str = "VmRSS") -> float:
    assert op.proc is not None
    return processes.memory_bytes(op.proc.pid, field_name) / 2**20


def open_sockets(op: OperatorProcess) -> int:
    """The operator's open sockets: its watches and probes at rest, plus the connections a busy spell opened
    (closed by their pools once idle for 15-30 s)."""
    assert op.proc is not None
    fds = Path(f"/proc/{op.proc.pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def delete_all(fed: LocalFederation, timeout: float) -> float:
    """Delete every FederatedService of the benchmark namespace; returns once they, their member Services
    and their DNS names are gone."""
    custom = client.CustomObjectsApi(fed.api_client("federation"))
    names = [
        i["metadata"]["name"]
        for i in custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices")["items"]
    ]

    def delete(name: str) -> None:
        # One by one (8 at a time), as a user's tooling would: a DELETE of the whole collection is answered
        # only once the apiserver has marked every object, which at 1,000 outlasts its own request timeout.
        with contextlib.suppress(client.ApiException):  # 404: gone already
            custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices", name)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(delete, names))
    eventually("FederatedServices gone", lambda: fsvcs_left(fed) == 0 or None, timeout, 0.5)
    eventually("member Services gone", lambda: member_services_left(fed) == 0 or None, timeout, 0.5)
    if fed.dns is not None:
        wait_withdrawn(fed.dns, names, timeout)
    return time.monotonic()


def delete_endpoints(fed: LocalFederation) -> None:
    for member in fed.members:
        client.DiscoveryV1Api(fed.api_client(member.spec.name)).delete_collection_namespaced_endpoint_slice(
            NAMESPACE
        )


def cut_connections(pid: int, ports: Iterable[int]) -> int:
    """Abort every TCP connection process `pid` holds to 127.0.0.1 on one of `ports` (`ss -K`, as root):
    its watches there break mid-stream, as when a load balancer or a NAT drops them, and the apiservers
    and everyone else's connections are left alone. Returns how many were cut."""
    wanted = {str(port) for port in ports}
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established"], capture_output=True, text=True, check=True
    )
    cut = 0
    for line in listing.stdout.splitlines():
        if f"pid={pid}," not in line:
            continue
        fields = line.split()
        local, peer = fields[2], fields[3]
        peer_host, _sep, peer_port = peer.rpartition(":")
        if peer_host != "127.0.0.1" or peer_port not in wanted:
            continue
        local_port = local.rpartition(":")[2]
        subprocess.run(
            ["ss", "-K", "src", "127.0.0.1", "sport", "=", f":{local_port}", "dport", "=", f":{peer_port}"],
            capture_output=True,
            check=False,
        )
        cut += 1
    return cut


def rest_memory_summary(before: Any, after: Any, top: int = 20) -> None:
    """What tracemalloc sees grown between two snapshots, by allocating line (innermost operator frame)."""
    stats = after.compare_to(before, "traceback")
    grown = [s for s in stats if s.size_diff > 0]
    total = sum(s.size_diff for s in stats)
    print(f"  traced memory, after minus idle: {total / 2**20:+.1f} MiB")
    print("  largest growths, with their stacks (most recent call first):")
    for stat in grown[:top]:
        frames = " < ".join(
            f"{f.filename.rsplit('site-packages/', 1)[-1].rsplit('wt-15b/', 1)[-1]}:{f.lineno}"
            for f in list(reversed(stat.traceback))[:6]  # a Traceback lists its frames oldest first
        )
        print(f"    {stat.size_diff / 2**20:+7.2f} MiB ({stat.count_diff:+d} blocks)  {frames}")


def count_calls(counts: collections.Counter[tuple[str, str, str]], verbs: set[str]) -> dict[str, int]:
    """Requests by "verb resource[/subresource]" for the write verbs."""
    out: collections.Counter[str] = collections.Counter()
    for (verb, resource, sub), value in counts.items():
        if verb in verbs and value:
            out[f"{verb} {resource}{'/' + sub if sub else ''}"] += value
    return dict(out)
