"""Benchmark: failover latency, from a member's endpoint readiness change to the changed answer from BIND.

Run on demand, not in the test suite:
    .venv/bin/python benchmarks/failover.py [--trials 30] [--members 3] [--settle 1.0] [--per-change]
        [--poisoned-owner] [--others N]
    .venv/bin/python benchmarks/failover.py --churn [--churn-services 300] [--churn-rate 30]
        [--churn-members N] [--duration 120] [--cpu-profile FILE] [--per-change]

Brings up its own local federation (with BIND) in a temporary directory, applies the CRDs, registers the DNS
credentials and the members, starts the operator as a process with its default settings (RFC 2136 publishing
to the federation's BIND), and creates one FederatedService `nginx` with a backend Pod (`run=nginx`) in every
member. Once the global name answers every member's address, each trial takes one member (round robin):

* **down**: t0 = `time.monotonic()` just before the Pod status patch that makes the backend not Ready
  (one request, on an API client held since set-up; kwok is told to keep its hands off the Pods once they
  are Ready), then BIND is asked for the global name over UDP every 2 ms until the member's address is
  gone;
* **up**: the same with `ready=True`, until the address is back.

Each direction is one change; a trial is one of each, so `--trials 30` measures 60 changes. Between changes
the answer must hold steady for `--settle` seconds (and be every member's addresses before a down flip).

Also reported, per change: where the time goes (the benchmark watches the member's Pods and EndpointSlices
itself, and reads the timestamps of the operator's `DNS zone ...: applying` log lines and of BIND's
`named.log`), and the provider calls it cost (UPDATE messages BIND received, counted in `named.log` as
distinct clients of `signer ... approved` / `updating zone` lines; zone transfers; plans the operator
applied). Before the trials, the floor is measured: an API write seen by a watch, plus one TSIG-signed
UPDATE round trip to BIND. At the end, the operator's peak RSS (VmHWM).

`--poisoned-owner` measures failure containment: the trials run beside a second FederatedService `twin`
with `nginx`'s selector, published; then `twin` is deleted and `poisoned` created, with the same selector
(so every flip changes its records too, and every round holds both owners), whose global name BIND refuses.
Both phases ask the same of Kubernetes (two Services over the same Pods: a flip updates two EndpointSlices)
and of the operator (two owners to reconcile); they differ only in the refusal. BIND refuses `poisoned`:
the benchmark first fills that name with 100 foreign record types (private types TYPE65280..., over one
signed UPDATE), and BIND 9.18's `max-types-per-name` (100) then answers any A added there with SERVFAIL
("too many records"). The publisher then splits each round: the
round's UPDATE fails, `nginx` (the older owner, planned first) goes out in its own UPDATE, then `poisoned`'s
UPDATE fails and its names go one by one (the one refused, the others published). Once `poisoned` reports
DNSPublished=False, the same trials run again, and `nginx`'s latencies are printed for both phases
(p50/p99), with the UPDATEs per change.

The benchmark's own UPDATEs to BIND (the floor's, the poison's) are foreign changes to the operator, which
its next drift check (every 60 s) reads the whole zone for; the trials start after that read has begun (up
to 75 s later) and one untimed warm-up flip, so that no flip is timed across it (with `--others 1000` the
read takes seconds; the warm-up's time is logged).

`--others N` shares the zone with N more FederatedServices (`other-00000`...), created before the trials
(16 creates at a time against the host's API server) with a backend Pod `run=other` in every member that
stays ready, so each of them publishes its own tiers in the same zone; the trials start once every one of
them reports DNSPublished=True. Their records do not change during the trials: every round holds `nginx`
(and `poisoned`), planned against a zone index of N + 1 owners. With `--poisoned-owner`, the containment
phase then runs in that zone of N + 2 owners, one of them refused.

`--churn` measures failover under churn instead of the trials: `--churn-services` FederatedServices
(`churn-00000`...), each with its own backend Pod in every member, all published; then for `--duration`
seconds, every second `--churn-rate` random backends of the first `--churn-members` members flip readiness
(one Pod status patch each, 16 at a time). One flip a second is sampled: its service is not flipped again
until BIND's global answer shows the flip (polled over UDP), and its lag is t0 (just before its patch) → the
answer changed, split at the EndpointSlice change (the benchmark's own watch) and the operator's first
`applying` naming the service. Meanwhile the operator's /metrics are scraped every second (work-queue
depth, reconciles, DNS calls). When the churn stops, every global and region answer of every churning
service and every status (shard health, DNSPublished) must come to match the truth (the last flip of each
backend): nothing lost. `--cpu-profile FILE` attaches py-spy to the operator for the churn.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import gc
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "hack"), str(REPO)]

import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.tsigkeyring  # noqa: E402
import dns.update  # noqa: E402
from kubernetes import client, watch  # noqa: E402
from localfed import FederationConfig, LocalFederation  # noqa: E402
from localfed.bind import BindServer  # noqa: E402
from localfed.federation import KWOK_HANDS_OFF_ANNOTATION as KWOK_HANDS_OFF  # noqa: E402
from localfed.federation import free_port  # noqa: E402
from localfed.operator import (  # noqa: E402
    FEDERATION,
    GROUP,
    VERSION,
    OperatorProcess,
    apply_crds,
    eventually,
    is_member_ready,
    register_dns_credentials,
    register_member,
)
from localfed.processes import memory_bytes  # noqa: E402

from benchmarks.profiles import CpuProfile, summarize_cpu  # noqa: E402

NAMESPACE = "bench-failover"
SERVICE = "nginx"
POISONED = "poisoned"
TWIN = "twin"  # with --poisoned-owner, the `poisoned` owner's healthy stand-in during the first trials
OTHER = "other"  # the others' names start with it, and their backend Pods are `run=other`
OTHERS_DEADLINE_SECONDS = 900.0
# BIND 9.18's max-types-per-name: a name holding this many types takes no other.
POISON_TYPES = 100
POLL_SECONDS = 0.002
SLOW_POLL_SECONDS = 0.01
DEADLINE_SECONDS = 30.0

OPERATOR_APPLY = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO \[federation_operator\.dns\.publisher\] "
    r"DNS zone \S+: applying"
)
BIND_LINE = re.compile(
    r"^(?P<ts>\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\.\d{3}) client @(?P<ptr>0x[0-9a-f]+) "
    r"(?P<peer>[^\s/]+)(?:/key [^:]+)?: (?P<msg>.*)$"
)
UPDATE_MESSAGE = re.compile(r"signer \"[^\"]*\" approved|updating zone|update failed|update .* denied")


def progress(message: str) -> None:
    print(f"[failover] {message}", file=sys.stderr, flush=True)


# --- asking BIND ------------------------------------------------------------------------------------------


def answer(server: BindServer, name: str, timeout: float = 1.0) -> frozenset[str] | None:
    """The A addresses BIND answers for `name` (following CNAMEs in the answer); None on a lost datagram."""
    try:
        response = dns.query.udp(
            dns.message.make_query(name, "A"), server.address, port=server.port, timeout=timeout
        )
    except dns.exception.Timeout:
        return None
    return frozenset(
        record.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for record in rrset
    )


def poll_until(
    server: BindServer,
    name: str,
    done: Callable[[frozenset[str]], bool],
    deadline: float,
    slow_after: float | None = None,
) -> float | None:
    """Ask every POLL_SECONDS until `done(answer)`: the monotonic time it first held (None: `deadline`).
    After `slow_after` seconds, every SLOW_POLL_SECONDS (many polls at once: a lag of seconds needs no
    2 ms resolution, and BIND answers them all)."""
    started = time.monotonic()
    while (now := time.monotonic()) < deadline:
        got = answer(server, name)
        if got is not None and done(got):
            return time.monotonic()
        slow = slow_after is not None and now - started > slow_after
        time.sleep(SLOW_POLL_SECONDS if slow else POLL_SECONDS)
    return None


# --- watching the members ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the watch event arrived here
    member: str
    kind: str
    value: str


@dataclass
class Recorder:
    """Every watch event the benchmark's own watchers saw, for the per-stage breakdown."""

    events: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: Seen) -> None:
        with self.lock:
            self.events.append(event)

    def first(self, member: str, kind: str, value: str, after: float) -> float | None:
        with self.lock:
            return next(
                (
                    e.at
                    for e in self.events
                    if e.member == member and e.kind == kind and e.value == value and e.at >= after
                ),
                None,
            )


def pod_ready(obj: dict[str, Any]) -> str:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return str(any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions))


def slice_ready(obj: dict[str, Any]) -> str:
    endpoints = obj.get("endpoints") or []
    return str(any((e.get("conditions") or {}).get("ready") for e in endpoints))


def configmap_value(obj: dict[str, Any]) -> str:
    return str((obj.get("data") or {}).get("n", ""))


class Watcher(threading.Thread):
    """List+watch of one kind in one member's namespace (resuming from the last resourceVersion)."""

    def __init__(
        self,
        fed: LocalFederation,
        member: str,
        *,
        kind: str,
        list_fn: Callable[[client.ApiClient], Callable[..., Any]],
        classify: Callable[[dict[str, Any]], str],
        recorder: Recorder,
        **selector: str,
    ) -> None:
        super().__init__(name=f"watch-{kind}-{member}", daemon=True)
        self.api = fed.api_client(member)
        self.member, self.kind = member, kind
        self.list_fn = list_fn(self.api)
        self.classify = classify
        self.recorder = recorder
        self.selector = selector
        self.synced = threading.Event()
        self.stopping = threading.Event()
        self.watch = watch.Watch()

    def run(self) -> None:
        resource_version: str | None = None
        while not self.stopping.is_set():
            try:
                if resource_version is None:
                    listed = self.list_fn(NAMESPACE, _request_timeout=10, **self.selector)
                    resource_version = listed.metadata.resource_version
                    self.synced.set()
                for event in self.watch.stream(
                    self.list_fn,
                    NAMESPACE,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=240,
                    deserialize=False,
                    **self.selector,
                ):
                    now = time.monotonic()
                    obj = event["object"]
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.recorder.add(Seen(now, self.member, self.kind, self.classify(obj)))
            except Exception:  # a dropped or expired watch: list again (quietly, also when shutting down)
                resource_version = None
                self.stopping.wait(0.2)

    def stop(self) -> None:
        self.stopping.set()
        self.watch.stop()


def start_watchers(fed: LocalFederation, recorder: Recorder) -> list[Watcher]:
    watchers = []
    for member in fed.members:
        name = member.spec.name
        watchers += [
            Watcher(
                fed,
                name,
                kind="pod",
                list_fn=lambda api: client.CoreV1Api(api).list_namespaced_pod,
                classify=pod_ready,
                recorder=recorder,
                label_selector=f"run={SERVICE}",
            ),
            Watcher(
                fed,
                name,
                kind="slice",
                list_fn=lambda api: client.DiscoveryV1Api(api).list_namespaced_endpoint_slice,
                classify=slice_ready,
                recorder=recorder,
                label_selector=f"kubernetes.io/service-name={SERVICE}",
            ),
        ]
    for w in watchers:
        w.start()
    for w in watchers:
        if not w.synced.wait(30):
            raise RuntimeError(f"{w.name}: no initial list within 30s")
    return watchers


# --- logs -------------------------------------------------------------------------------------------------


class LogTail:
    """The complete lines appended to a file since the last `read`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self) -> list[str]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].decode(errors="replace").splitlines()


def local_epoch(text: str, fmt: str) -> float:
    return datetime.datetime.strptime(text, fmt).timestamp()  # naive: local time, as both logs write it


def operator_applies(lines: list[str]) -> list[float]:
    """Wall-clock times of the operator's `DNS zone ...: applying` lines (one per plan applied)."""
    return [
        local_epoch(m["ts"], "%Y-%m-%d %H:%M:%S,%f") for line in lines if (m := OPERATOR_APPLY.match(line))
    ]


@dataclass(frozen=True)
class BindActivity:
    updates: dict[str, float]  # one entry per UPDATE message (client id → first log time)
    failed: int
    transfers: int


def bind_activity(lines: list[str]) -> BindActivity:
    updates: dict[str, float] = {}
    failed = transfers = 0
    for line in lines:
        if "AXFR started" in line:
            transfers += 1
        m = BIND_LINE.match(line)
        if not m or not UPDATE_MESSAGE.search(m["msg"]):
            continue
        updates.setdefault(f"{m['ptr']} {m['peer']}", local_epoch(m["ts"], "%d-%b-%Y %H:%M:%S.%f"))
        # "adding an RR failed: too many records" is BIND 9.18's line for an UPDATE it answered SERVFAIL.
        failed += "update failed" in m["msg"] or "denied" in m["msg"] or "an RR failed" in m["msg"]
    return BindActivity(updates, failed, transfers)


# --- the floor --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floor:
    watch_event: list[float]
    update_round_trip: list[float]
    query_round_trip: list[float]


def measure_floor(fed: LocalFederation, recorder: Recorder, name: str, samples: int = 20) -> Floor:
    """One API write seen by a watch; one signed UPDATE round trip; one UDP query round trip (seconds)."""
    server = fed.dns
    assert server is not None
    member = fed.members[0].spec.name
    core = client.CoreV1Api(fed.api_client(member))
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "floor-probe"}, "data": {"n": "0"}})
    probe = Watcher(
        fed,
        member,
        kind="configmap",
        list_fn=lambda api: client.CoreV1Api(api).list_namespaced_config_map,
        classify=configmap_value,
        recorder=recorder,
        field_selector="metadata.name=floor-probe",
    )
    probe.start()
    watch_event = []
    try:
        if not probe.synced.wait(30):
            raise RuntimeError("floor probe: no initial list within 30s")
        for i in range(1, samples + 1):
            started = time.monotonic()
            core.patch_namespaced_config_map("floor-probe", NAMESPACE, {"data": {"n": str(i)}})
            seen = eventually(
                "probe event",
                lambda i=i, t=started: recorder.first(member, "configmap", str(i), t),
                timeout=10,
                interval=0.001,
            )
            watch_event.append(seen - started)
    finally:
        probe.stop()
        core.delete_namespaced_config_map("floor-probe", NAMESPACE)

    keyring = dns.tsigkeyring.from_text({server.key_name: (server.key_algorithm, server.key_secret)})
    probe_name = f"floor-probe.{server.zone}."
    update_round_trip = []
    for i in range(samples):
        update = dns.update.UpdateMessage(server.zone, keyring=keyring, keyalgorithm=server.key_algorithm)
        update.replace(probe_name, 60, "TXT", f'"{i}"')
        started = time.monotonic()
        response = dns.query.tcp(update, server.address, port=server.port, timeout=5)
        update_round_trip.append(time.monotonic() - started)
        assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())
    cleanup = dns.update.UpdateMessage(server.zone, keyring=keyring, keyalgorithm=server.key_algorithm)
    cleanup.delete(probe_name)
    dns.query.tcp(cleanup, server.address, port=server.port, timeout=5)

    query_round_trip = []
    for _ in range(samples * 2):
        started = time.monotonic()
        answer(server, name)
        query_round_trip.append(time.monotonic() - started)
    return Floor(watch_event, update_round_trip, query_round_trip)


# --- one change -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    direction: str  # "down" or "up"
    member: str
    latency: float | None  # t0 → answer changed, seconds; None: not within the deadline
    call: float  # t0 → the Pod status patch returned
    stages: dict[str, float | None]  # per-stage seconds (see STAGES)
    updates: int  # UPDATE messages BIND received in this change's window
    failed_updates: int
    transfers: int
    plans: int  # plans the operator applied (its `applying` lines)
    stray_updates: int  # UPDATE messages seen between changes (while settling / checking stability)
    flapped: bool  # the answer changed again during the settle window

    def since(self, *keys: str) -> float | None:
        """Seconds from the end of stage `keys[0]` to the answer changing: the sum of `keys`' stages."""
        parts = [self.stages[k] for k in keys]
        return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


STAGES = (
    ("t0 -> Pod readiness seen on a watch (one Pod status patch)", "pod"),
    ("Pod event -> EndpointSlice event (EndpointSlice controller + watch)", "slice"),
    ("EndpointSlice event -> operator 'applying' (its watch, reconcile, 20 ms coalescing, plan)", "apply"),
    ("'applying' -> BIND received the UPDATE (TCP connect, TSIG)", "bind"),
    ("BIND received -> answer seen here (BIND applies; 2 ms polling)", "seen"),
)


@dataclass
class Bench:
    fed: LocalFederation
    op: OperatorProcess
    recorder: Recorder
    addresses: dict[str, str]
    name: str
    settle: float
    op_log: LogTail
    bind_log: LogTail
    wall_offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    cores: dict[str, client.CoreV1Api] = field(default_factory=dict)  # one API client per member

    @property
    def server(self) -> BindServer:
        assert self.fed.dns is not None
        return self.fed.dns

    def set_ready(self, member: str, ready: bool) -> None:
        """The backend in `member` reports Ready=`ready`: one Pod status patch."""
        if member not in self.cores:
            self.cores[member] = client.CoreV1Api(self.fed.api_client(member))
        self.cores[member].patch_namespaced_pod_status(SERVICE, NAMESPACE, pod_status(ready, "nginx"))

    def everyone(self) -> frozenset[str]:
        return frozenset(self.addresses.values())

    def steady(self, expected: frozenset[str]) -> bool:
        """The answer is `expected` and stays so for `settle` seconds."""
        until = time.monotonic() + self.settle
        while time.monotonic() < until:
            got = answer(self.server, self.name)
            if got is not None and got != expected:
                return False
            time.sleep(0.05)
        return answer(self.server, self.name) == expected

    def flip(self, member: str, ready: bool) -> Change:
        if not self.op.alive():
            raise RuntimeError(f"the operator died:\n{self.op.tail()}")
        address = self.addresses[member]
        stray = len(bind_activity(self.bind_log.read()).updates)
        self.op_log.read()
        expected = self.everyone() if ready else self.everyone() - {address}

        # This process times the change (its watches and its polling): a pause of its own collector in
        # the middle (a full collection here took up to 150 ms) would be counted as the operator's. It
        # collects before the change, and not during it.
        gc.collect()
        gc.disable()
        try:
            t0 = time.monotonic()
            self.set_ready(member, ready)
            call = time.monotonic() - t0
            seen = poll_until(
                self.server,
                self.name,
                (lambda got: address in got) if ready else (lambda got: address not in got),
                t0 + DEADLINE_SECONDS,
            )
        finally:
            gc.enable()
        flapped = seen is not None and not self.steady(expected)

        applies = [t - self.wall_offset for t in operator_applies(self.op_log.read())]
        activity = bind_activity(self.bind_log.read())
        received = sorted(t - self.wall_offset for t in activity.updates.values())
        # Log timestamps are whole milliseconds, truncated: allow for that when matching them to t0.
        apply_at = next((t for t in applies if t >= t0 - 0.001), None)
        bind_at = next((t for t in received if t >= t0 - 0.001), None)
        pod_at = self.recorder.first(member, "pod", str(ready), t0)
        slice_at = self.recorder.first(member, "slice", str(ready), t0)
        points = [t0, pod_at, slice_at, apply_at, bind_at, seen]
        stages = {
            key: (b - a if a is not None and b is not None else None)
            for (_, key), a, b in zip(STAGES, points[:-1], points[1:], strict=True)
        }
        return Change(
            direction="up" if ready else "down",
            member=member,
            latency=None if seen is None else seen - t0,
            call=call,
            stages=stages,
            updates=len(activity.updates),
            failed_updates=activity.failed,
            transfers=activity.transfers,
            plans=len(applies),
            stray_updates=stray,
            flapped=flapped,
        )


# --- set-up -----------------------------------------------------------------------------------------------


def create_federated_service(fed: LocalFederation, name: str = SERVICE, selector: str = SERVICE) -> None:
    host = fed.api_client("federation")
    if name == SERVICE:
        client.CoreV1Api(host).create_namespace({"metadata": {"name": NAMESPACE}})
    client.CustomObjectsApi(host).create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        "federatedservices",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FederatedService",
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "spec": {"selector": {"run": selector}, "ports": [{"name": "http", "port": 80}]}
                },
                "dns": {"ttl": 30},
            },
        },
    )


def create_others(fed: LocalFederation, count: int) -> float:
    """`count` FederatedServices beside `nginx` in the same zone, each with a ready backend in every member;
    returns the seconds until every one of them reported DNSPublished=True."""
    started = time.monotonic()
    names = [f"{OTHER}-{i:05d}" for i in range(count)]
    # Created server-side in parallel, as many clients would: 16 requests in flight against the host.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: create_federated_service(fed, n, selector=OTHER), names))
    progress(f"{count} others created in {time.monotonic() - started:.1f}s; starting their backends")
    for member in fed.members:
        core = client.CoreV1Api(fed.api_client(member.spec.name))
        core.create_namespaced_pod(
            NAMESPACE,
            {
                "metadata": {"name": OTHER, "labels": {"run": OTHER}},
                "spec": {"containers": [{"name": "other", "image": "nginx:1.11.1-alpine"}]},
            },
        )
    custom = client.CustomObjectsApi(fed.api_client("federation"))
    expected = set(names)

    def all_published() -> bool:
        listed = cast(
            dict[str, Any],
            custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices"),
        )
        done = {
            item["metadata"]["name"]
            for item in listed["items"]
            if any(
                (c.get("type"), c.get("status"), c.get("reason")) == ("DNSPublished", "True", "Published")
                for c in (item.get("status") or {}).get("conditions") or []
            )
        }
        progress(f"others published: {len(done & expected)}/{count}")
        return expected <= done

    eventually("every other FederatedService published", all_published, OTHERS_DEADLINE_SECONDS, interval=5)
    return time.monotonic() - started


def add_others(fed: LocalFederation, count: int) -> float | None:
    """`--others`: the seconds :func:`create_others` took, or None when there are none."""
    if not count:
        return None
    progress(f"creating {count} other FederatedServices in the same zone")
    took = create_others(fed, count)
    progress(f"every other FederatedService published after {took:.0f}s")
    return took


def start_backends(fed: LocalFederation) -> dict[str, str]:
    """A Pod `run=nginx` in every member (as the seed article's `kubectl run`); each member's LB address."""
    addresses = {}
    for member in fed.members:
        name = member.spec.name
        core = client.CoreV1Api(fed.api_client(name))
        eventually(f"namespace in {name}", lambda core=core: core.read_namespace(NAMESPACE), 60)
        core.create_namespaced_pod(
            NAMESPACE,
            {
                "metadata": {"name": SERVICE, "labels": {"run": SERVICE}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.11.1-alpine", "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        )

        def lb_address(core: client.CoreV1Api = core) -> str | None:
            status = core.read_namespaced_service(SERVICE, NAMESPACE).status
            ingress = status.load_balancer.ingress if status and status.load_balancer else None
            return str(ingress[0].ip) if ingress else None

        addresses[name] = eventually(f"LoadBalancer address in {name}", lb_address, 60)
    return addresses


def take_over_backends(fed: LocalFederation) -> None:
    """kwok keeps its hands off the `nginx` Pods from now on (they are Ready): a flip is one status patch."""
    for member in fed.members:
        client.CoreV1Api(fed.api_client(member.spec.name)).patch_namespaced_pod(
            SERVICE, NAMESPACE, {"metadata": {"annotations": {KWOK_HANDS_OFF: "custom"}}}
        )


def poison(server: BindServer, name: str) -> None:
    """Fill `name` with POISON_TYPES foreign record types, so that BIND refuses any other type there."""
    keyring = dns.tsigkeyring.from_text({server.key_name: (server.key_algorithm, server.key_secret)})
    update = dns.update.UpdateMessage(f"{server.zone}.", keyring=keyring)
    for i in range(POISON_TYPES):
        update.add(name, 300, f"TYPE{65280 + i}", r"\# 0")
    response = dns.query.tcp(update, server.address, port=server.port, timeout=5)
    if response.rcode() != dns.rcode.NOERROR:
        raise RuntimeError(f"could not fill {name} with foreign types: {dns.rcode.to_text(response.rcode())}")


def dns_condition(fed: LocalFederation, name: str) -> dict[str, Any] | None:
    api = client.CustomObjectsApi(fed.api_client("federation"))
    obj = cast(
        dict[str, Any], api.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices", name)
    )
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "DNSPublished"), None)


def add_twin(fed: LocalFederation) -> None:
    """The FederatedService `twin`, with `nginx`'s selector like `poisoned` and published: the first trials
    run beside it, so that both phases ask the same of Kubernetes and the operator (two Services over the
    same Pods: two EndpointSlices to update a flip, two owners to reconcile) and differ only in the
    refusal."""
    create_federated_service(fed, TWIN)

    def published() -> bool:
        condition = dns_condition(fed, TWIN)
        return bool(condition and condition.get("status") == "True")

    eventually(f"{TWIN} published", published, 120)


def remove_twin(fed: LocalFederation) -> None:
    """Delete `twin` and wait until it is gone (its records withdrawn, its member Services removed)."""
    api = client.CustomObjectsApi(fed.api_client("federation"))
    api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices", TWIN)

    def gone() -> bool:
        try:
            api.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices", TWIN)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    eventually(f"{TWIN} gone", gone, 120)


def add_poisoned_owner(fed: LocalFederation, op: OperatorProcess) -> str:
    """The FederatedService `poisoned`, refused by BIND at its global name; returns its DNSPublished
    message once it reports the refusal."""
    assert fed.dns is not None
    since = LogTail(fed.state_dir / "bind" / "named.log")
    op_log = LogTail(op.log)
    poison(fed.dns, f"{POISONED}.{NAMESPACE}.{FEDERATION}.svc.{fed.dns.zone}.")
    create_federated_service(fed, POISONED)

    def refused() -> str | None:
        condition = dns_condition(fed, POISONED)
        if condition and condition.get("status") == "False" and condition.get("reason") == "ProviderRejected":
            return str(condition.get("message"))
        return None

    message = eventually("the poisoned owner reported as refused", refused, 120)
    digest_own_edit(since, op_log, "the poison's UPDATE")
    return message


def run_poisoned_trials(fed: LocalFederation, bench: Bench, trials: int) -> tuple[list[Change], str]:
    """`twin` out, `poisoned` in, and the trials again: their changes, and the refusal `poisoned` reports."""
    progress(f"removing {TWIN}")
    remove_twin(fed)
    progress("adding the poisoned owner")
    refusal = add_poisoned_owner(fed, bench.op)
    progress(f"{POISONED} refused: {refusal}")
    return run_trials(bench, trials, "poisoned: "), refusal


def digest_own_edit(since: LogTail, op_log: LogTail, what: str) -> None:
    """Wait (at most a drift-check interval and a bit) for the operator's zone transfer after the
    benchmark's own UPDATEs to BIND (`what`): a foreign change, which the next drift check (every 60 s)
    reads the whole zone for, and until the operator has indexed and compared that read (its debug line).
    At 1,000 owners that takes seconds, and it belongs to no flip: the trials start after it. (It is
    reported here, not hidden: the seconds it took.)"""
    started = time.monotonic()
    try:
        eventually(
            f"the operator's zone transfer after {what}",
            lambda: bind_activity(since.read()).transfers > 0,
            timeout=75,
            interval=0.5,
        )
        transferred = time.monotonic()
        eventually(
            f"the operator's read taken in after {what}",
            lambda: any("a drift check's read taken in" in line for line in op_log.read()),
            timeout=60,
            interval=0.2,
        )
    except AssertionError as exc:
        progress(f"{exc}; starting the trials anyway")
        return
    progress(
        f"the operator read the zone after {what} ({transferred - started:.0f}s later) and took it in "
        f"{time.monotonic() - transferred:.1f}s after the transfer"
    )


def warm_up(bench: Bench, label: str) -> None:
    """One down and up flip, not timed: whatever the operator still had to do when the phase began (a
    zone read it started after the benchmark's own UPDATEs, at 1,000 owners seconds of work) is done by
    the time it answers, and no timed flip waits for it."""
    cluster = next(iter(bench.addresses))
    started = time.monotonic()
    for ready in (False, True):
        address = bench.addresses[cluster]
        bench.set_ready(cluster, ready)
        poll_until(
            bench.server,
            bench.name,
            (lambda got, a=address: a in got) if ready else (lambda got, a=address: a not in got),
            time.monotonic() + DEADLINE_SECONDS,
        )
    progress(f"{label}warm-up flip took {(time.monotonic() - started) * 1000:.0f} ms (not counted)")


def run_trials(bench: Bench, trials: int, label: str = "") -> list[Change]:
    warm_up(bench, label)
    clusters = list(bench.addresses)
    changes: list[Change] = []
    for trial in range(trials):
        cluster = clusters[trial % len(clusters)]
        eventually("answer steady with every member", lambda: bench.steady(bench.everyone()), 60)
        for ready in (False, True):
            change = bench.flip(cluster, ready)
            changes.append(change)
            shown = "timeout" if change.latency is None else f"{change.latency * 1000:.0f} ms"
            progress(
                f"{label}trial {trial + 1}/{trials} {change.direction:>4} {cluster}: {shown}, "
                f"{change.updates} UPDATE" + (f", {change.transfers} AXFR" if change.transfers else "")
            )
            if change.latency is None and not ready:
                # The up flip is measured from a steady down state only: restore and go on.
                bench.set_ready(cluster, True)
                break
    return changes


def print_stages(changes: list[Change]) -> None:
    """The stage table: p50 per direction, then p50, p90 and max over all `changes`, ms."""
    down = [c for c in changes if c.direction == "down"]
    up = [c for c in changes if c.direction == "up"]
    print(f"  {'down':>7} {'up':>7} {'p50':>7} {'p90':>7} {'max':>7}  stage")
    for label, key in STAGES:
        columns = []
        for subset, qs in ((down, (0.5,)), (up, (0.5,)), (changes, (0.5, 0.9, 1.0))):
            values = [v for c in subset if (v := c.stages[key]) is not None]
            columns += [ms(percentile(values, q)) if values else f"{'-':>7}" for q in qs]
        missing = sum(c.stages[key] is None for c in changes)
        print(f"  {' '.join(columns)}  {label}" + (f" [{missing} unmatched]" if missing else ""))


def report_containment(clean: list[Change], poisoned: list[Change], refusal: str) -> None:
    print()
    print(f"containment: {SERVICE}'s flips without and with a permanently refused owner in the zone, ms")
    print(f"  ({POISONED}: {refusal})")
    print(f"  {'':<9} {'n':>3} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    print(latency_row("without", [c.latency for c in clean]))
    print(latency_row("with", [c.latency for c in poisoned]))
    for label, subset in (("without", clean), ("with", poisoned)):
        updates = [c.updates for c in subset] or [0]
        print(
            f"  {label}: {mean(updates):.2f} UPDATE messages per change (max {max(updates)}), "
            f"{sum(c.failed_updates for c in subset)} failed, "
            f"{sum(c.transfers for c in subset)} zone transfers"
        )
    for label, subset in (("without", clean), ("with", poisoned)):
        print(f"  where the time goes {label} it, ms:")
        print_stages(subset)


# --- churn ------------------------------------------------------------------------------------------------


CHURN = "churn"  # the churning FederatedServices' names start with it; each has its own backends
CHURN_SAMPLE_DEADLINE = 60.0
CHURN_CONVERGE_SECONDS = 180.0
CHURN_THREADS = 16
NODE_PODS = 110  # what the harness's kwok nodes allow each


def churn_names(count: int) -> list[str]:
    return [f"{CHURN}-{i:05d}" for i in range(count)]


def pod_status(ready: bool, container: str = "app") -> dict[str, Any]:
    """The status patch a flip sends: the Pod's readiness, as the kubelet would report it."""
    status = "True" if ready else "False"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "status": {
            "conditions": [
                {"type": t, "status": status, "lastTransitionTime": now} for t in ("Ready", "ContainersReady")
            ],
            "containerStatuses": [
                {
                    "name": container,
                    "image": "nginx:1.11.1-alpine",
                    "imageID": "",
                    "ready": ready,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        }
    }


class Clients:
    """One API client per member and thread (the client's connection pool is small, its threads many)."""

    def __init__(self, fed: LocalFederation) -> None:
        self.fed = fed
        self.local = threading.local()

    def core(self, member: str) -> client.CoreV1Api:
        apis: dict[str, client.CoreV1Api] = self.local.__dict__.setdefault("apis", {})
        if member not in apis:
            apis[member] = client.CoreV1Api(self.fed.api_client(member))
        return apis[member]


def parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(CHURN_THREADS) as pool:
        return list(pool.map(fn, items))


def create_churn_services(
    fed: LocalFederation, names: list[str], clients: Clients
) -> dict[tuple[str, str], str]:
    """The churning FederatedServices, each with one backend Pod (named after it) in every member, every
    Pod Ready; returns each shard's LoadBalancer address, by (service, member)."""
    assert fed.dns is not None
    server = fed.dns
    client.CoreV1Api(fed.api_client("federation")).create_namespace({"metadata": {"name": NAMESPACE}})
    started = time.monotonic()
    parallel(lambda n: create_federated_service(fed, n, selector=n), names)
    members = [m.spec.name for m in fed.members]
    for member in members:
        eventually(f"namespace in {member}", lambda m=member: clients.core(m).read_namespace(NAMESPACE), 60)

    def create_pod(pair: tuple[str, str]) -> None:
        name, member = pair
        clients.core(member).create_namespaced_pod(
            NAMESPACE,
            {
                "metadata": {"name": name, "labels": {"run": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.11.1-alpine"}]},
            },
        )

    for member in members:
        add_nodes(clients.core(member), len(names))
    pairs = [(n, m) for n in names for m in members]
    parallel(create_pod, pairs)
    progress(
        f"{len(names)} FederatedServices and {len(pairs)} Pods created in {time.monotonic() - started:.0f}s"
    )

    def addresses() -> dict[tuple[str, str], str] | None:
        found = {}
        for member in members:
            for svc in clients.core(member).list_namespaced_service(NAMESPACE).items:
                ingress = svc.status.load_balancer.ingress if svc.status.load_balancer else None
                if ingress:
                    found[(svc.metadata.name, member)] = str(ingress[0].ip)
        return found if len(found) == len(pairs) else None

    lb = eventually("every member Service with a LoadBalancer address", addresses, 300, interval=2)

    def published() -> bool:
        missing = [
            n for n in names if answer(server, global_name(fed, n)) != frozenset(lb[(n, m)] for m in members)
        ]
        progress(f"churn services answering every member: {len(names) - len(missing)}/{len(names)}")
        return not missing

    eventually("every churn service published", published, 600, interval=5)
    progress(f"every churn service published after {time.monotonic() - started:.0f}s; taking over the Pods")

    # From now on kwok leaves the Pods' status alone: a flip is one status patch.
    def hands_off(pair: tuple[str, str]) -> None:
        name, member = pair
        clients.core(member).patch_namespaced_pod(
            name, NAMESPACE, {"metadata": {"annotations": {KWOK_HANDS_OFF: "custom"}}}
        )

    parallel(hands_off, pairs)
    return lb


def add_nodes(core: client.CoreV1Api, pods: int) -> None:
    """More fake nodes, copies of the member's own (same zones), until `pods` more Pods fit beside the
    ones already placed (a kwok node takes NODE_PODS)."""
    nodes = core.list_node().items
    placed = len(core.list_pod_for_all_namespaces().items)
    wanted = -(-(placed + pods) // NODE_PODS)
    for i in range(len(nodes), wanted):
        model = nodes[i % len(nodes)]
        name = f"{model.metadata.name.rsplit('-', 1)[0]}-{i // len(nodes)}"
        resources = model.status.allocatable
        core.create_node(
            {
                "metadata": {
                    "name": name,
                    "labels": {**model.metadata.labels, "kubernetes.io/hostname": name},
                    "annotations": model.metadata.annotations,
                },
                "status": {"allocatable": resources, "capacity": resources},
            }
        )


def global_name(fed: LocalFederation, service: str) -> str:
    assert fed.dns is not None
    return f"{service}.{NAMESPACE}.{FEDERATION}.svc.{fed.dns.zone}."


def region_name(fed: LocalFederation, service: str, region: str) -> str:
    assert fed.dns is not None
    return f"{service}.{NAMESPACE}.{FEDERATION}.svc.{region}.{fed.dns.zone}."


@dataclass
class Sample:
    """One sampled flip: its service is not flipped again until BIND's answer shows it (or its deadline)."""

    service: str
    member: str
    ready: bool
    t0: float
    latency: float | None = None
    slice_at: float | None = None  # the benchmark's own watch saw the EndpointSlice change
    apply_at: float | None = None  # the operator's first `applying` of the flip's global A record set

    @property
    def seen_at(self) -> float | None:
        return None if self.latency is None else self.t0 + self.latency


@dataclass
class MetricsSeries:
    """The operator's work-queue depth and work counters, scraped once a second during the churn."""

    depth: list[float] = field(default_factory=list)
    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)


CHURN_COUNTERS = {
    "reconciles": "fedop_reconcile_duration_seconds_count",
    "reconcile seconds": "fedop_reconcile_duration_seconds_sum",
    "DNS provider calls": "fedop_dns_provider_calls_total",
    "DNS record-set changes": "fedop_dns_changes_total",
}


def scrape(port: int) -> tuple[float, dict[str, float]]:
    """The work-queue depth and the totals of CHURN_COUNTERS, from the operator's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    totals = dict.fromkeys(CHURN_COUNTERS, 0.0)
    depth = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _sep, value = line.rpartition(" ")
        metric = name.split("{", 1)[0]
        if metric == "fedop_workqueue_depth":
            depth = float(value)
        for label, wanted in CHURN_COUNTERS.items():
            if metric == wanted:
                totals[label] += float(value)
    return depth, totals


class Churner:
    """Flips backends for `duration` seconds: every second `rate` random shards of the churning members
    (one status patch each, CHURN_THREADS at a time), one of them sampled for its flip → answer lag."""

    def __init__(
        self,
        fed: LocalFederation,
        clients: Clients,
        lb: dict[tuple[str, str], str],
        members: list[str],
        recorder: Recorder,
    ) -> None:
        self.fed, self.clients, self.lb, self.members = fed, clients, lb, members
        self.recorder = recorder
        self.truth = dict.fromkeys(lb, True)
        self.pair_locks = {pair: threading.Lock() for pair in lb}
        self.lock = threading.Lock()
        self.sampled: set[str] = set()  # services with a sample in flight: not flipped meanwhile
        self.samples: list[Sample] = []
        self.flips = 0
        self.patch_seconds: list[float] = []
        self.pool = concurrent.futures.ThreadPoolExecutor(CHURN_THREADS)
        self.samplers: list[threading.Thread] = []

    def flip(self, pair: tuple[str, str]) -> tuple[bool, float]:
        """Flip one shard's backend; returns its new readiness and t0 (just before the patch)."""
        name, member = pair
        with self.pair_locks[pair]:
            ready = not self.truth[pair]
            self.truth[pair] = ready
            t0 = time.monotonic()
            self.clients.core(member).patch_namespaced_pod_status(name, NAMESPACE, pod_status(ready))
            took = time.monotonic() - t0
        with self.lock:
            self.flips += 1
            self.patch_seconds.append(took)
        return ready, t0

    def sample(self, pair: tuple[str, str]) -> None:
        name, member = pair
        address = self.lb[pair]
        ready, t0 = self.flip(pair)
        sample = Sample(name, member, ready, t0)
        assert self.fed.dns is not None
        seen = poll_until(
            self.fed.dns,
            global_name(self.fed, name),
            (lambda got: address in got) if ready else (lambda got: address not in got),
            t0 + CHURN_SAMPLE_DEADLINE,
            slow_after=0.5,
        )
        sample.latency = None if seen is None else seen - t0
        sample.slice_at = self.recorder.first(member, "slice", f"{name}={ready}", t0)
        with self.lock:
            self.samples.append(sample)
            self.sampled.discard(name)

    def run(self, duration: float, rate: int) -> float:
        """Churn for `duration` seconds; returns the seconds it actually took (the last patches included)."""
        started = time.monotonic()
        pairs = [p for p in self.lb if p[1] in self.members]
        second = 0
        futures: list[concurrent.futures.Future[Any]] = []
        while second < duration:
            time.sleep(max(0.0, started + second - time.monotonic()))
            with self.lock:
                free = [p for p in pairs if p[0] not in self.sampled]
            chosen = random.sample(free, min(rate, len(free)))
            if chosen:
                probe = chosen[0]
                # The sampled service's other shards stay as they are too: the answer then moves only with
                # the sampled flip, and so does the operator's plan naming it.
                rest = [p for p in chosen[1:] if p[0] != probe[0]]
                with self.lock:
                    self.sampled.add(probe[0])
                thread = threading.Thread(target=self.sample, args=(probe,), daemon=True)
                thread.start()
                self.samplers.append(thread)
                futures += [self.pool.submit(self.flip, p) for p in rest]
            second += 1
            if second % 10 == 0:
                with self.lock:
                    lags = [s.latency for s in self.samples if s.latency is not None]
                progress(
                    f"churn {second}/{duration:.0f}s: {self.flips} flips, {len(self.samples)} samples seen, "
                    + (f"lag p50 {percentile(lags, 0.5) * 1000:.0f} ms" if lags else "no lag yet")
                )
        for future in futures:
            future.result()
        took = time.monotonic() - started
        for thread in self.samplers:
            thread.join()
        self.pool.shutdown()
        return took


def churn_mismatches(fed: LocalFederation, churner: Churner, names: list[str]) -> list[str]:
    """Where BIND's answers (global and region tiers) or the statuses differ from the truth; [] when none."""
    assert fed.dns is not None
    server = fed.dns
    regions = {m.spec.name: m.spec.region for m in fed.members}
    found: list[str] = []
    for name in names:
        ready = {m: churner.lb[(name, m)] for m in regions if churner.truth[(name, m)]}
        everyone = frozenset(ready.values())
        if (got := answer(server, global_name(fed, name))) != everyone:
            found.append(f"{name}: global answers {sorted(got or ())}, expected {sorted(everyone)}")
        for member, region in regions.items():
            assert region is not None
            expected = frozenset({ready[member]}) if member in ready else everyone
            if (got := answer(server, region_name(fed, name, region))) != expected:
                found.append(f"{name}: {region} answers {sorted(got or ())}, expected {sorted(expected)}")
    api = client.CustomObjectsApi(fed.api_client("federation"))
    listed = cast(
        dict[str, Any], api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "federatedservices")
    )
    for item in listed["items"]:
        name = item["metadata"]["name"]
        status = item.get("status") or {}
        healthy = {s["cluster"]: s["healthy"] for s in status.get("shards") or []}
        expected_health = {m: churner.truth[(name, m)] for m in regions}
        if healthy != expected_health:
            found.append(f"{name}: status shards healthy {healthy}, expected {expected_health}")
        published = any(
            (c.get("type"), c.get("status")) == ("DNSPublished", "True")
            for c in status.get("conditions") or []
        )
        if not published:
            found.append(f"{name}: status not DNSPublished=True")
    return found


# A line of a printed plan that leaves a churning service's global A record set with these values:
# "  + <name> <ttl> A <values>", "    → <name> <ttl> A <values>" or "  - <name> ..." (then it has none).
PLAN_GLOBAL_A = re.compile(
    rf"^\s+(?P<op>[+→-]) (?P<service>{CHURN}-\d+)\.{NAMESPACE}\.{FEDERATION}\.svc\.(?P<domain>\S+) "
    r"\d+ A(?P<values>.*)$"
)


def applies_naming(
    lines: list[str], wall_offset: float, zone: str
) -> list[tuple[float, dict[str, frozenset[str]]]]:
    """The operator's `applying` blocks: (monotonic time, the global A values each churn service they
    change is left with)."""
    blocks: list[tuple[float, dict[str, frozenset[str]]]] = []
    for line in lines:
        if m := OPERATOR_APPLY.match(line):
            blocks.append((local_epoch(m["ts"], "%Y-%m-%d %H:%M:%S,%f") - wall_offset, {}))
        elif blocks and (m := PLAN_GLOBAL_A.match(line)) and m["domain"] == f"{zone}.":
            values = frozenset() if m["op"] == "-" else frozenset(m["values"].split())
            blocks[-1][1][m["service"]] = values
    return blocks


def watch_slices(fed: LocalFederation, members: list[str], recorder: Recorder) -> list[Watcher]:
    """One watch of the namespace's EndpointSlices per member, recording `<service>=<any ready>`."""
    watchers = [
        Watcher(
            fed,
            member,
            kind="slice",
            list_fn=lambda api: client.DiscoveryV1Api(api).list_namespaced_endpoint_slice,
            classify=lambda obj: (
                f"{obj['metadata']['labels'].get('kubernetes.io/service-name')}={slice_ready(obj)}"
            ),
            recorder=recorder,
        )
        for member in members
    ]
    for w in watchers:
        w.start()
    for w in watchers:
        if not w.synced.wait(30):
            raise RuntimeError(f"{w.name}: no initial list within 30s")
    return watchers


class Scraper(threading.Thread):
    """Scrapes the operator's /metrics once a second until `stop()`."""

    def __init__(self, port: int) -> None:
        super().__init__(name="scraper", daemon=True)
        self.port = port
        self.series = MetricsSeries()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            try:
                depth, totals = scrape(self.port)
            except OSError:
                continue
            self.series.depth.append(depth)
            self.series.first = self.series.first or totals
            self.series.last = totals

    def stop(self) -> None:
        self.stopping.set()
        self.join()


@dataclass
class ChurnRun:
    """What a churn measured, for `report_churn`."""

    churner: Churner
    series: MetricsSeries
    took: float  # seconds of churn, the last patches included
    cpu: float  # the operator's CPU-seconds meanwhile
    settled: float | None  # seconds from the churn's end until everything matched the truth
    remaining: list[str]  # what still did not, when it never did
    plans: int  # plans the operator applied from the churn's start until it settled
    rss: float  # the operator's peak RSS, MiB


def run_churn(args: argparse.Namespace, fed: LocalFederation, op: OperatorProcess, metrics_port: int) -> None:
    names = churn_names(args.churn_services)
    clients = Clients(fed)
    lb = create_churn_services(fed, names, clients)
    members = [m.spec.name for m in fed.members][: args.churn_members]
    recorder = Recorder()
    watchers = watch_slices(fed, members, recorder)
    op_log = LogTail(op.log)
    scraper = Scraper(metrics_port)
    assert op.proc is not None
    cpu_before = process_cpu_seconds(op.proc.pid)
    profile = CpuProfile(op.proc.pid, args.cpu_profile) if args.cpu_profile else None
    scraper.start()
    churner = Churner(fed, clients, lb, members, recorder)
    progress(
        f"churning {len(names)} FederatedServices for {args.duration:.0f}s: {args.churn_rate} flips a second "
        f"in {', '.join(members)}"
    )
    try:
        took = churner.run(args.duration, args.churn_rate)
    finally:
        scraper.stop()
        if profile is not None:
            profile.stop()
        for w in watchers:
            w.stop()
    cpu = process_cpu_seconds(op.proc.pid) - cpu_before
    progress(f"churn over after {took:.0f}s; waiting for DNS and statuses to match the truth")
    settled, remaining = settle(fed, churner, names)
    assert fed.dns is not None
    blocks = applies_naming(op_log.read(), time.time() - time.monotonic(), fed.dns.zone.rstrip("."))
    for sample in churner.samples:
        address = churner.lb[(sample.service, sample.member)]
        sample.apply_at = next(
            (
                t
                for t, planned in blocks
                if t >= sample.t0 - 0.001
                and sample.service in planned
                and (address in planned[sample.service]) == sample.ready
            ),
            None,
        )
    rss = memory_bytes(op.proc.pid, "VmHWM") / 2**20
    report_churn(args, ChurnRun(churner, scraper.series, took, cpu, settled, remaining, len(blocks), rss))
    if args.cpu_profile:
        summarize_cpu(args.cpu_profile)


def settle(fed: LocalFederation, churner: Churner, names: list[str]) -> tuple[float | None, list[str]]:
    """Seconds until every answer and status matched the truth (None: not within CHURN_CONVERGE_SECONDS,
    and what still did not then)."""
    stopped = time.monotonic()
    remaining: list[str] = []

    def converged() -> bool:
        nonlocal remaining
        remaining = churn_mismatches(fed, churner, names)
        return not remaining

    try:
        eventually("DNS and statuses match the truth", converged, CHURN_CONVERGE_SECONDS, interval=1)
    except AssertionError:
        return None, remaining
    return time.monotonic() - stopped, []


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CHURN_STAGES: tuple[tuple[str, Callable[[Sample], float | None]], ...] = (
    ("t0 -> EndpointSlice change seen on a watch", lambda s: _gap(s.t0, s.slice_at)),
    ("EndpointSlice event -> operator 'applying' the change", lambda s: _gap(s.slice_at, s.apply_at)),
    ("'applying' -> BIND's answer changed", lambda s: _gap(s.apply_at, s.seen_at)),
)


def report_churn(args: argparse.Namespace, run: ChurnRun) -> None:
    churner = run.churner
    samples = sorted(churner.samples, key=lambda s: s.t0)
    patches = churner.patch_seconds or [0.0]
    print(
        f"churn: {args.churn_services} FederatedServices x {len(churner.members)} churning members "
        f"(of {args.members}); {churner.flips} flips in {run.took:.0f}s ({churner.flips / run.took:.1f}/s, "
        f"asked {args.churn_rate}/s), each one Pod status patch (p50 {percentile(patches, 0.5) * 1000:.0f} "
        f"ms, max {max(patches) * 1000:.0f} ms); operator defaults"
    )
    print()
    print("lag of sampled flips, t0 (just before the Pod status patch) -> BIND's global answer changed, ms")
    print(f"  {'':<9} {'n':>3} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    print(latency_row("down", [s.latency for s in samples if not s.ready]))
    print(latency_row("up", [s.latency for s in samples if s.ready]))
    print(latency_row("combined", [s.latency for s in samples]))
    print("  by stage:")
    for label, of in CHURN_STAGES:
        print(latency_row("", [of(s) for s in samples]) + f"  {label}")
    print()
    seconds = max(len(run.series.depth), 1)
    work = {k: run.series.last.get(k, 0.0) - run.series.first.get(k, 0.0) for k in CHURN_COUNTERS}
    depth = run.series.depth or [0.0]
    print(
        f"operator during the churn: {run.cpu:.1f} CPU-s ({run.cpu / run.took * 100:.0f}% of a core); work "
        f"queue depth p50 {percentile(depth, 0.5):.0f}, max {max(depth):.0f}; per second: "
        f"{work['reconciles'] / seconds:.1f} reconciles (mean "
        f"{work['reconcile seconds'] / max(work['reconciles'], 1) * 1000:.0f} ms), "
        f"{work['DNS provider calls'] / seconds:.1f} DNS provider calls, "
        f"{work['DNS record-set changes'] / seconds:.1f} record-set changes; {run.plans} plans applied"
    )
    print(f"operator peak RSS (VmHWM): {run.rss:.0f} MiB")
    print()
    lost = sum(s.latency is None for s in samples)
    if run.settled is not None:
        print(
            f"end state: every global and region answer and every status matched the truth "
            f"{run.settled:.1f}s after the churn stopped; {lost} of {len(samples)} sampled flips not seen "
            f"within {CHURN_SAMPLE_DEADLINE:.0f}s"
        )
    else:
        print(
            f"end state: {len(run.remaining)} mismatches {CHURN_CONVERGE_SECONDS:.0f}s after the churn "
            f"stopped (first: {'; '.join(run.remaining[:5])})"
        )
    if args.per_change:
        print()
        print("per sample: t0(s) direction service member total | eps apply bind, ms")
        origin = samples[0].t0 if samples else 0.0
        for s in samples:
            parts = " ".join(_ms_or_dash(of(s)) for _, of in CHURN_STAGES)
            total = "timeout" if s.latency is None else f"{s.latency * 1000:.0f}"
            direction = "up" if s.ready else "down"
            print(f"  {s.t0 - origin:7.1f} {direction:<4} {s.service} {s.member} {total:>7} | {parts}")


def _ms_or_dash(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _gap(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start


# --- figures ----------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def latency_row(label: str, measured: list[float | None]) -> str:
    values = [v for v in measured if v is not None]
    missed = len(measured) - len(values)
    if not values:
        return f"  {label:<9} {len(measured):>3}   (none measured)"
    figures = " ".join(ms(percentile(values, q)) for q in (0.5, 0.9, 0.99, 1.0))
    return f"  {label:<9} {len(values):>3} {figures}" + (f"   ({missed} not measured)" if missed else "")


def mean(values: Iterable[int]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def report(args: argparse.Namespace, bench: Bench, floor: Floor, changes: list[Change], rss: float) -> None:
    down = [c for c in changes if c.direction == "down"]
    up = [c for c in changes if c.direction == "up"]
    watch_p50 = percentile(floor.watch_event, 0.5)
    update_p50 = percentile(floor.update_round_trip, 0.5)
    print(
        f"failover: {args.trials} trials x 2 directions over {len(bench.addresses)} members (round robin); "
        f"operator defaults; rfc2136 to BIND at {bench.server.address}:{bench.server.port}"
    )
    print(f"  name polled: {bench.name} (UDP, every {POLL_SECONDS * 1000:.0f} ms)")
    print()
    print("latency, t0 (just before the Pod status patch) -> BIND's answer changed, ms")
    print(f"  {'':<9} {'n':>3} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    print(latency_row("down", [c.latency for c in down]))
    print(latency_row("up", [c.latency for c in up]))
    print(latency_row("combined", [c.latency for c in changes]))
    print("  the same changes, timed from a later start, ms:")
    tail = ("slice", "apply", "bind", "seen")
    print(latency_row("from Pod", [c.since(*tail) for c in changes]) + "  <- Pod readiness seen on a watch")
    print(
        latency_row("from EPS", [c.since(*tail[1:]) for c in changes])
        + "  <- EndpointSlice change seen on a watch"
    )
    print()
    print(
        "floor (one watch event + one DNS round trip): "
        f"API write -> watch event p50 {watch_p50 * 1000:.1f} ms + signed UPDATE round trip p50 "
        f"{update_p50 * 1000:.1f} ms = {(watch_p50 + update_p50) * 1000:.1f} ms"
    )
    print(
        f"  (a UDP query of BIND: p50 {percentile(floor.query_round_trip, 0.5) * 1000:.2f} ms; "
        "the path measured above has two watch hops, Pod -> EndpointSlice controller -> operator)"
    )
    print()
    print("where the time goes, ms (p50 per direction; p50, p90, max over all changes)")
    print_stages(changes)
    calls = [c.call for c in changes]
    print(
        f"  (the Pod status patch itself returned after p50 {percentile(calls, 0.5) * 1000:.1f} ms, "
        f"p90 {percentile(calls, 0.9) * 1000:.1f} ms; log timestamps are whole ms, and BIND 9.18's can run a "
        "few ms early, so the split between the last two stages is approximate)"
    )
    print()
    updates = [c.updates for c in changes]
    print(
        f"provider calls per change: {mean(updates):.2f} UPDATE messages received by BIND "
        f"(min {min(updates)}, max {max(updates)}; from named.log)"
    )
    print(
        f"  operator plans applied per change: {mean(c.plans for c in changes):.2f}; "
        f"zone transfers (AXFR): {sum(c.transfers for c in changes)}; "
        f"failed UPDATEs: {sum(c.failed_updates for c in changes)}; "
        f"UPDATEs between changes: {sum(c.stray_updates for c in changes)}; "
        f"answers that changed again within {args.settle:.1f}s: {sum(c.flapped for c in changes)}"
    )
    print()
    print(f"operator peak RSS (VmHWM): {rss:.0f} MiB")
    if args.per_change:
        print()
        print("per change, ms: direction member total | " + " ".join(key for _, key in STAGES) + " | UPDATEs")
        for c in changes:
            stages = " ".join(f"{v * 1000:.1f}" if v is not None else "-" for v in c.stages.values())
            total = f"{c.latency * 1000:.1f}" if c.latency is not None else "timeout"
            print(f"  {c.direction:<4} {c.member:<18} {total:>7} | {stages} | {c.updates}")


# --- main -------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=30, help="down+up pairs (default 30)")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds an answer must hold steady")
    parser.add_argument("--per-change", action="store_true", help="also print every change's stages")
    parser.add_argument(
        "--others",
        type=int,
        default=0,
        metavar="N",
        help="N more FederatedServices published in the same zone before the trials (default 0)",
    )
    parser.add_argument(
        "--poisoned-owner",
        action="store_true",
        help="then add a FederatedService BIND refuses and run the trials again (failure containment)",
    )
    parser.add_argument(
        "--churn",
        action="store_true",
        help="instead of the trials: backends of many FederatedServices flip readiness every second",
    )
    parser.add_argument(
        "--churn-services",
        type=int,
        default=300,
        metavar="N",
        help="churning FederatedServices (default 300)",
    )
    parser.add_argument(
        "--churn-rate", type=int, default=30, metavar="N", help="backend flips a second, in all (default 30)"
    )
    parser.add_argument(
        "--churn-members",
        type=int,
        default=None,
        metavar="N",
        help="flip backends in the first N members (default: every member)",
    )
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of churn (default 120)")
    parser.add_argument("--operator-log", type=Path, metavar="FILE", help="keep a copy of the operator's log")
    parser.add_argument(
        "--cpu-profile", type=Path, default=None, metavar="FILE", help="py-spy the operator during the churn"
    )
    args = parser.parse_args()
    if args.trials < 1 or args.members < 2 or args.others < 0:
        parser.error("need at least 1 trial, 2 members and 0 others")
    if args.churn and (args.churn_services < 1 or args.churn_rate < 1 or args.duration <= 0):
        parser.error("--churn needs at least 1 service, 1 flip a second and a positive duration")
    args.churn_members = min(args.churn_members or args.members, args.members)
    return args


def start_operator(fed: LocalFederation, op: OperatorProcess) -> None:
    """CRDs, DNS credentials and members registered, then the operator, until every member is Ready."""
    apply_crds(fed)
    register_dns_credentials(fed)
    for member in fed.members:
        register_member(fed, member)
    op.start()
    eventually(
        "members Ready",
        lambda: op.alive() and all(is_member_ready(fed, m.spec.name) for m in fed.members),
        90,
    )


def main() -> None:
    args = parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        fed = LocalFederation(FederationConfig(Path(tmp) / "fed", members=args.members))
        progress("bringing up the local federation")
        fed.up(log=progress)
        metrics_port = free_port()
        op = OperatorProcess(
            fed, Path(tmp) / "operator.log", metrics_port=str(metrics_port), metrics_address="127.0.0.1"
        )
        watchers: list[Watcher] = []
        try:
            assert fed.dns is not None
            start_operator(fed, op)
            if args.churn:
                run_churn(args, fed, op, metrics_port)
                return
            progress("operator up, members Ready; creating the FederatedService and backends")
            create_federated_service(fed)
            addresses = start_backends(fed)
            name = f"{SERVICE}.{NAMESPACE}.{FEDERATION}.svc.{fed.dns.zone}."
            server = fed.dns
            eventually(
                "global name answers every member",
                lambda: answer(server, name) == frozenset(addresses.values()),
                90,
            )
            take_over_backends(fed)
            others_took = add_others(fed, args.others)
            if args.poisoned_owner:
                progress(f"adding {TWIN}")
                add_twin(fed)
            recorder = Recorder()
            watchers = start_watchers(fed, recorder)
            progress("measuring the floor")
            since, op_log = LogTail(fed.state_dir / "bind" / "named.log"), LogTail(op.log)
            floor = measure_floor(fed, recorder, name)
            digest_own_edit(since, op_log, "the floor's UPDATEs")
            bench = Bench(
                fed,
                op,
                recorder,
                addresses,
                name,
                args.settle,
                LogTail(op.log),
                LogTail(fed.state_dir / "bind" / "named.log"),
            )
            changes = run_trials(bench, args.trials)
            if args.poisoned_owner:
                poisoned, refusal = run_poisoned_trials(fed, bench, args.trials)
            assert op.proc is not None
            rss = memory_bytes(op.proc.pid, "VmHWM") / 2**20
            report(args, bench, floor, changes, rss)
            if others_took is not None:
                print()
                print(
                    f"zone shared with {args.others} other FederatedServices (each published: "
                    f"{others_took:.0f}s from the first create to the last DNSPublished=True)"
                )
            if args.poisoned_owner:
                report_containment(changes, poisoned, refusal)
        except BaseException:
            progress(f"failed; operator log tail:\n{op.tail(30)}")
            raise
        finally:
            tear_down(fed, op, watchers, args.operator_log)


def tear_down(
    fed: LocalFederation, op: OperatorProcess, watchers: list[Watcher], keep_log: Path | None
) -> None:
    for w in watchers:
        w.stop()
    op.stop()
    if keep_log is not None and op.log.exists():
        shutil.copyfile(op.log, keep_log)
    fed.down(log=lambda _m: None)


if __name__ == "__main__":
    main()
