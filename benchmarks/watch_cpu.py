"""CPU per watch event on the operator's member path, from the bytes on the wire to the work queue.

In-process; run on demand (no federation needed, a few minutes):
    PYTHONPATH=$PWD:$PWD/hack .venv/bin/python benchmarks/watch_cpu.py [--count 1000] [--members 4]
        [--repeat 5] [--profile]

For N FederatedServices x M members it builds the watch streams a converging federation sends, ~20 events
per FederatedService: per member, the Services watch (each Service ADDED as our create left it, which is
the echo of that create, then MODIFIED when the load balancer fills its ingress) and the EndpointSlices
watch (each slice ADDED with its backend not ready yet, then MODIFIED when it is), with managedFields as the
API server sends them and a BOOKMARK now and then; in the host, each FederatedService ADDED, MODIFIED by our
finalizer and by the two statuses we write (echoes: ``ours`` answers the status each carries). The objects
are those of ``benchmarks/heap_census.py``. Each stream is the raw HTTP/1.1 response (status line, headers,
one chunk per event, as a kube-apiserver flushes them), read through a real ``http.client`` + urllib3
response over an in-memory socket that hands out one chunk per read, ``--spacing-ms`` apart (default 1:
events arriving one by one, the loop idle between them; 0: a burst).

Stages, each CPU time (``time.process_time``: every thread) per event, median of ``--repeat`` rounds:

* read:   urllib3 de-chunking and line splitting (``read_json_lines`` with the JSON parse taken out), in
          one thread per watch, and the wake-ups of those threads when events arrive apart;
* parse:  ``orjson.loads`` of each line;
* apply:  ``MemberWatch``'s dispatch and the ``MemberRegistry`` callback (the member cache under its lock,
          ``observe_service`` / ``trim_*``), with a queue that does nothing; for the host, the
          FederatedService watch's own callback (``FederatedServiceStore.put``, the queue);
* hop:    handing the owners (members) and the events (host) to a running asyncio loop and the real
          ``WorkQueue`` (eight workers taking and finishing keys): the whole path end to end, one thread
          per watch as in the operator, less the stages above.

Then the whole path again over a real loopback socket, from an HTTP server on 127.0.0.1 in a child process
(its CPU is not counted) serving the same responses with the same spacing: read in threads (one per watch,
urllib3, the hop: ``MemberWatch``, as the host's watch is read), and read on the event loop (the members'
and the host's watch as the operator reads them, ``AsyncMemberWatch``: a task each streaming its response
with aiohttp, ``JsonLines`` splitting and parsing each piece, the registry's and the FederatedService
watch's callbacks, the keys added to the ``WorkQueue`` with ``add``: no thread, no hop). Measured 2026-12-05
(1,000 x 4, load average 6-7 from other runs): 1 ms apart, threads 93 (in memory) / 98 (loopback) us per
event, the loop 56 (5 rounds); a burst, threads over loopback 30, the loop 20 (the in-memory threads' burst
swings between ~22 and ~78 from round to round under load: compare the loopback figures).

``--profile`` prints a cProfile top 30 of the end-to-end path (the watch threads and the loop thread);
``--loop-profile`` the same of the path read on the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import http.client
import io
import logging
import multiprocessing
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import urllib3
from kubernetes.client import ApiClient, Configuration

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from heap_census import REGIONS, fsvc_json, service_json, slice_json  # noqa: E402

from federation_operator.controllers.federated_service import FederatedServiceStore  # noqa: E402
from federation_operator.controllers.host_watch import FEDERATED_SERVICES, FederatedServiceWatch  # noqa: E402
from federation_operator.controllers.member_cache import MemberRegistry, _Member  # noqa: E402
from federation_operator.controllers.workqueue import WorkQueue  # noqa: E402
from federation_operator.domain.keys import Key  # noqa: E402
from federation_operator.domain.members import ClusterInfo  # noqa: E402
from federation_operator.kube import informer, transport  # noqa: E402
from federation_operator.kube.async_informer import AsyncMemberWatch  # noqa: E402
from federation_operator.kube.async_transport import AsyncTransport  # noqa: E402
from federation_operator.kube.informer import ENDPOINT_SLICES, SERVICES, MemberWatch  # noqa: E402
from federation_operator.kube.member_services import observe_service  # noqa: E402

WORKERS = 8
STAMP = "2026-12-05T06:00:00Z"


# --- the objects, as a kube-apiserver sends them ----------------------------------------------------------


def _service_fields(labels: dict[str, Any]) -> dict[str, Any]:
    return {
        "f:metadata": {
            "f:annotations": {".": {}, "f:fedop.io/owner-uid": {}},
            "f:labels": {".": {}, **{f"f:{k}": {} for k in labels}},
        },
        "f:spec": {
            "f:allocateLoadBalancerNodePorts": {},
            "f:externalTrafficPolicy": {},
            "f:internalTrafficPolicy": {},
            "f:ports": {
                'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}
            },
            "f:selector": {},
            "f:sessionAffinity": {},
            "f:type": {},
        },
    }


def service_events(ns: str, name: str, member: int, index: int) -> list[dict[str, Any]]:
    """ADDED (as created: no status) and MODIFIED (the load balancer's ingress written)."""
    added = orjson.loads(service_json(ns, name, member, index))
    ingress = added.pop("status")
    added["status"] = {"loadBalancer": {}}
    meta = added["metadata"]
    meta["managedFields"] = [
        {
            "manager": "federation-operator",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": STAMP,
            "fieldsType": "FieldsV1",
            "fieldsV1": _service_fields(meta["labels"]),
        }
    ]
    modified = orjson.loads(orjson.dumps(added))
    modified["status"] = ingress
    modified["metadata"]["resourceVersion"] = str(int(meta["resourceVersion"]) + 400000)
    modified["metadata"]["managedFields"].append(
        {
            "manager": "localfed-lb",
            "operation": "Update",
            "apiVersion": "v1",
            "time": STAMP,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
            "subresource": "status",
        }
    )
    return [{"type": "ADDED", "object": added}, {"type": "MODIFIED", "object": modified}]


def slice_events(ns: str, name: str, member: int, index: int) -> list[dict[str, Any]]:
    """ADDED (its backend not ready yet), MODIFIED (ready)."""
    ready = orjson.loads(slice_json(ns, name, member, index))
    ready["metadata"]["managedFields"] = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "discovery.k8s.io/v1",
            "time": STAMP,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:addressType": {},
                "f:endpoints": {},
                "f:metadata": {
                    "f:generateName": {},
                    "f:labels": {".": {}, **{f"f:{k}": {} for k in ready["metadata"]["labels"]}},
                    "f:ownerReferences": {".": {}, 'k:{"uid":"x"}': {}},
                },
                "f:ports": {},
            },
        }
    ]
    ready["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": name,
            "uid": f"0a1b2c3d-{member:04d}-{index:04d}-9f8e-7d6c5b4a3f2e",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    version = int(ready["metadata"]["resourceVersion"])
    added = orjson.loads(orjson.dumps(ready))
    added["endpoints"][0]["conditions"] = {"ready": False, "serving": False, "terminating": False}
    ready["metadata"]["resourceVersion"] = str(version + 400000)
    return [{"type": "ADDED", "object": added}, {"type": "MODIFIED", "object": ready}]


def host_events(ns: str, name: str, index: int, members: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """A FederatedService's events in the host: ADDED (as the user created it), MODIFIED (our finalizer),
    MODIFIED twice (the statuses we wrote: shards synced, then DNS published); and what ``ours(key)``
    answers at each (the status we last wrote: the one it carries, from our own copy)."""
    full = orjson.loads(fsvc_json(ns, name, index, members))
    meta = full["metadata"]
    version = int(meta["resourceVersion"])
    status = full.pop("status")
    created = orjson.loads(orjson.dumps(full))
    del created["metadata"]["finalizers"]
    created["metadata"]["managedFields"] = [
        {
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": "fedop.io/v1alpha1",
            "time": STAMP,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {".": {}, "f:template": {}}},
        }
    ]
    held = orjson.loads(orjson.dumps(created))
    held["metadata"]["finalizers"] = ["fedop.io/cleanup"]
    held["metadata"]["resourceVersion"] = str(version + 1)
    held["metadata"]["managedFields"].append(
        {
            "manager": "federation-operator",
            "operation": "Update",
            "apiVersion": "fedop.io/v1alpha1",
            "time": STAMP,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:finalizers": {}}},
        }
    )
    pending = orjson.loads(orjson.dumps(status))
    for condition in pending["conditions"]:
        if condition["type"] in ("DNSPublished", "Ready"):
            condition.update(status="False", reason="Pending", message="records submitted")
    events, ours = [{"type": "ADDED", "object": created}, {"type": "MODIFIED", "object": held}], [None, None]
    for n, written in enumerate((pending, status), start=2):
        body = orjson.loads(orjson.dumps(held))
        body["metadata"]["resourceVersion"] = str(version + n)
        body["metadata"]["managedFields"].append(
            {
                "manager": "federation-operator",
                "operation": "Update",
                "apiVersion": "fedop.io/v1alpha1",
                "time": STAMP,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:conditions": {}}},
                "subresource": "status",
            }
        )
        body["status"] = written
        events.append({"type": "MODIFIED", "object": body})
        ours.append(orjson.loads(orjson.dumps(written)))
    return events, ours


def build_host_stream(count: int, members: int) -> tuple[list[bytes], dict[Key, list[Any]]]:
    """The host's FederatedService watch stream, and per key what ``ours`` answers event by event."""
    keys = [(f"ns{i % 10}", f"svc-{i:05d}") for i in range(count)]
    per_key = [host_events(ns, name, i, members) for i, (ns, name) in enumerate(keys)]
    lag, lines = 50, []
    for i in range(count + 3 * lag):
        for step in range(4):  # each write of ours follows the one before a little later
            if 0 <= i - step * lag < count:
                lines.append(orjson.dumps(per_key[i - step * lag][0][step]) + b"\n")
    return lines, {key: ours for key, (_events, ours) in zip(keys, per_key, strict=True)}


def bookmark(kind: str, api_version: str, version: int) -> dict[str, Any]:
    return {
        "type": "BOOKMARK",
        "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(version)}},
    }


def build_streams(count: int, member: int) -> dict[str, list[bytes]]:
    """The two watch streams of one member, as event lines in the order a converging run sends them."""
    keys = [(f"ns{i % 10}", f"svc-{i:05d}") for i in range(count)]
    services: list[dict[str, Any]] = []
    slices: list[dict[str, Any]] = []
    per_service = [service_events(ns, name, member, i) for i, (ns, name) in enumerate(keys)]
    per_slice = [slice_events(ns, name, member, i) for i, (ns, name) in enumerate(keys)]
    # Creates go out in reconcile order; load balancers and backends follow a little behind, interleaved.
    lag = 50
    for i in range(count + 2 * lag):
        if i < count:
            services.append(per_service[i][0])
            slices.append(per_slice[i][0])
        if 0 <= i - lag < count:
            services.append(per_service[i - lag][1])
            slices.append(per_slice[i - lag][1])
        if i % 200 == 199:
            services.append(bookmark("Service", "v1", 900000 + i))
            slices.append(bookmark("EndpointSlice", "discovery.k8s.io/v1", 900000 + i))
    return {
        "services": [orjson.dumps(e) + b"\n" for e in services],
        "endpointslices": [orjson.dumps(e) + b"\n" for e in slices],
    }


# --- a watch response read as the operator reads it --------------------------------------------------------


class _Wire(io.RawIOBase):
    """The socket's side: hands out at most one HTTP chunk per read, as events arriving one by one do."""

    def __init__(self, segments: list[bytes], spacing: float) -> None:
        self._segments = segments
        self._spacing = spacing
        self._next = 0
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._rest:
            if self._next >= len(self._segments):
                return 0
            self._rest = self._segments[self._next]
            self._next += 1
            if self._spacing:
                time.sleep(self._spacing)  # the next event arrives a moment later (a recv, blocking)
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


class _Socket:
    def __init__(self, segments: list[bytes], spacing: float) -> None:
        self._segments = segments
        self._spacing = spacing

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_Wire(self._segments, self._spacing))


HEAD = (
    b"HTTP/1.1 200 OK\r\nAudit-Id: 5f0e\r\nCache-Control: no-cache, private\r\n"
    b"Content-Type: application/json\r\nDate: Sat, 05 Dec 2026 06:00:00 GMT\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def wire_segments(lines: list[bytes]) -> list[bytes]:
    """The response's bytes: the head, then one chunk per event line, then the last chunk."""
    return [HEAD, *(b"%x\r\n%s\r\n" % (len(line), line) for line in lines), b"0\r\n\r\n"]


def open_response(segments: list[bytes], spacing: float = 0.0) -> urllib3.BaseHTTPResponse:
    """A urllib3 response over ``segments`` (``spacing`` seconds apart), built as urllib3's own connection
    builds one."""
    raw = http.client.HTTPResponse(_Socket(segments, spacing), method="GET")  # type: ignore[arg-type]
    raw.begin()
    return urllib3.HTTPResponse(
        body=raw,
        headers=urllib3.HTTPHeaderDict(raw.msg.items()),
        status=raw.status,
        version=raw.version,
        reason=raw.reason,
        preload_content=False,
        decode_content=True,
        original_response=raw,
        enforce_content_length=True,
        request_method="GET",
    )


# --- the stages --------------------------------------------------------------------------------------------


HOST = (-1, "federatedservices")


class Feed:
    """One round's input: every member's two streams and the host's, as wire segments."""

    def __init__(self, count: int, members: int) -> None:
        self.count = count
        self.members = members
        self.lines: dict[tuple[int, str], list[bytes]] = {}
        self.created: list[list[dict[str, Any]]] = []
        for m in range(members):
            for kind, lines in build_streams(count, m).items():
                self.lines[(m, kind)] = lines
            self.created.append(
                [e["object"] for e in map(orjson.loads, self.lines[(m, "services")]) if e["type"] == "ADDED"]
            )
        self.lines[HOST], self.ours = build_host_stream(count, members)
        self.segments = {key: wire_segments(lines) for key, lines in self.lines.items()}
        self.events = sum(
            1 for lines in self.lines.values() for line in lines if not line.startswith(b'{"type":"BOOKMARK"')
        )
        self.lines_total = sum(len(lines) for lines in self.lines.values())


def member_info(m: int) -> ClusterInfo:
    region = REGIONS[m % len(REGIONS)]
    return ClusterInfo(name=f"gce-{region}", region=region, ready=True)


def registry_with_members(feed: Feed, enqueue: Callable[[Key], None]) -> tuple[MemberRegistry, list[_Member]]:
    """A registry holding the feed's members as ``connect`` registers them, without starting watches, and
    each Service our create made noted as written (its ADDED event is the echo of that create)."""
    registry = MemberRegistry("myfederation", enqueue=enqueue, enqueue_all=lambda: None)
    held = []
    for m in range(feed.members):
        member = _Member(info=member_info(m), api=None)  # type: ignore[arg-type]
        registry._members[member.info.name] = member
        held.append(member)
        for created in feed.created[m]:
            registry.note_written(member.info.name, observe_service(member.info.name, created))
    return registry, held


def member_watch(registry: MemberRegistry, member: _Member, kind: str) -> MemberWatch:
    """A MemberWatch wired to the registry's callbacks exactly as ``MemberRegistry.connect`` wires it."""
    resource = SERVICES if kind == "services" else ENDPOINT_SLICES
    return MemberWatch(
        None,  # type: ignore[arg-type]
        resource,
        label_selector="fedop.io/federation=myfederation",
        on_event=registry._event_handler(member, kind),
        on_relist=registry._relist_handler(member, kind),
        on_synced=registry._synced_handler(member, kind),
        cluster=member.info.name,
    )


def host_watch(
    feed: Feed, queue: WorkQueue[Key], api: ApiClient | None = None, transport: AsyncTransport | None = None
) -> FederatedServiceWatch:
    """The host's FederatedService watch as the operator makes it (on the loop), with an empty store and,
    for ``ours``, the status each event carries as our own copy of what we wrote."""
    answered: dict[Key, int] = {}

    def ours(key: Key) -> Any:
        n = answered[key] = answered.get(key, -1) + 1
        return feed.ours[key][min(n, len(feed.ours[key]) - 1)]

    return FederatedServiceWatch(
        api,  # type: ignore[arg-type]
        transport=transport or AsyncTransport(),
        store=FederatedServiceStore(),
        queue=queue,
        ours=ours,
        forget=lambda _key: None,
    )


class ThreadHandOff:
    """Calls made in a watch's thread, run on the event loop in the order they were made: how the host's
    FederatedService watch handed its events over while it ran in a thread (the threads' path here).

    One hop to the loop (a ``call_soon_threadsafe``, which wakes it through its self-pipe) takes every call
    made meanwhile: while the loop is busy, a burst of events costs one hop, not one each. A call that
    raises is logged, and the calls after it run all the same.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._calls: list[tuple[Callable[..., None], tuple[Any, ...]]] = []  # non-empty: a hop is under way

    def on_loop(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback``, called from the watch's thread, run on the event loop."""

        def hand_over(*args: Any) -> None:
            self._hand_over(callback, args)

        return hand_over

    def _hand_over(self, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        with self._lock:
            self._calls.append((callback, args))
            if len(self._calls) > 1:
                return  # the hop under way takes it along
        try:
            self._loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop is closed: nothing will run them, now or later
            with self._lock:
                self._calls.clear()
            raise

    def _run(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for callback, args in calls:
            try:
                callback(*args)
            except Exception:  # as the loop does with a failing callback: logged, the next ones still run
                logging.exception(
                    "FederatedService watch: %s failed", getattr(callback, "__name__", callback)
                )


def threaded_host_watch(feed: Feed, loop: LoopThread) -> MemberWatch:
    """The host's watch as the operator ran it before: a MemberWatch in a thread, its calls handed to the
    FederatedService watch's callbacks on the loop (``ThreadHandOff``)."""

    async def make() -> tuple[FederatedServiceWatch, ThreadHandOff]:
        return host_watch(feed, loop.queue), ThreadHandOff(asyncio.get_running_loop())

    host, hand_off = asyncio.run_coroutine_threadsafe(make(), loop.loop).result()
    return MemberWatch(
        None,  # type: ignore[arg-type]
        FEDERATED_SERVICES,
        label_selector="",
        cluster="the host cluster",
        on_event=hand_off.on_loop(host._event),
        on_relist=hand_off.on_loop(host._relist),
    )


def _never() -> bool:
    return False


def stage_read_parse(feed: Feed, spacing: float) -> tuple[float, float]:
    """(read + parse, parse alone) CPU seconds over every stream: one thread per watch reading its response
    with ``read_json_lines``, the events arriving ``spacing`` apart (the wake-ups that costs are the read's),
    then the lines parsed alone."""
    responses = [open_response(segments, spacing) for segments in feed.segments.values()]

    def read(response: urllib3.BaseHTTPResponse) -> None:
        for _ in transport.read_json_lines(response, _never):
            pass

    threads = [threading.Thread(target=read, args=(response,)) for response in responses]
    started = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = time.process_time() - started
    loads = transport.orjson.loads
    started = time.process_time()
    for lines in feed.lines.values():
        for line in lines:
            loads(line)
    return both, time.process_time() - started


def stage_apply(feed: Feed) -> float:
    """CPU seconds of MemberWatch's dispatch and the registry callbacks, on pre-parsed events; for the host,
    of what the FederatedService watch does on the loop (the store, the queue: nothing hands keys over)."""
    registry, members = registry_with_members(feed, lambda _key: None)
    work = []
    for (m, kind), lines in feed.lines.items():
        if (m, kind) != HOST:
            work.append((member_watch(registry, members[m], kind), [orjson.loads(line) for line in lines]))
    started = time.process_time()
    for watch, events in work:
        version = ""
        for event in events:
            version = watch._handle(event, version)
    spent = time.process_time() - started
    host = [orjson.loads(line) for line in feed.lines[HOST]]

    async def on_the_loop() -> float:
        watch = host_watch(feed, WorkQueue(asyncio.get_running_loop()))
        started = time.process_time()
        for event in host:
            if event["type"] != "BOOKMARK":
                watch._event(event["type"], event["object"])
        return time.process_time() - started

    return spent + asyncio.run(on_the_loop())


class LoopThread:
    """A running asyncio loop in its own thread, as the operator's, with the real work queue and
    ``WORKERS`` workers that take each key and finish it at once."""

    def __init__(self, profile: cProfile.Profile | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue: WorkQueue[Key] = WorkQueue(self.loop)
        self._profile = profile
        self._ready = threading.Event()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="loop")
        self._thread.start()
        self._ready.wait()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            self.queue.done(key)

    async def _serve(self) -> None:
        tasks = [asyncio.create_task(self._worker()) for _ in range(WORKERS)]
        self._ready.set()
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        if self._profile is not None:
            self._profile.enable()
        self.loop.run_until_complete(self._serve())
        if self._profile is not None:
            self._profile.disable()

    def settle(self) -> None:
        """Wait until every key handed over was taken and finished, and nothing is left to run."""
        settled = threading.Event()

        def check() -> None:
            if self.queue.idle and not self.loop._ready:  # type: ignore[attr-defined]
                settled.set()
            else:
                self.loop.call_later(0.001, check)

        self.loop.call_soon_threadsafe(check)
        settled.wait()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self.loop.close()


def stage_end_to_end(feed: Feed, spacing: float, profile: cProfile.Profile | None = None) -> float:
    """CPU seconds of the whole path: one thread per watch reading its response through ``_watch``
    (``open_stream`` hands it the prepared response), the registry, and the hop to a running loop whose
    workers take and finish the keys."""
    loop = LoopThread(profile)
    registry, members = registry_with_members(feed, loop.queue.add_threadsafe)
    responses: dict[str, urllib3.BaseHTTPResponse] = {}
    watches = []
    for (m, kind), segments in feed.segments.items():
        if (m, kind) == HOST:
            watch = threaded_host_watch(feed, loop)
        else:
            watch = member_watch(registry, members[m], kind)
        responses[watch.name] = open_response(segments, spacing)
        watches.append(watch)

    def prepared_response(api: Any, path: str, **_kwargs: Any) -> urllib3.BaseHTTPResponse:
        return responses[threading.current_thread().name.removeprefix("watch:")]

    def read(watch: MemberWatch) -> None:
        if profile is not None:
            profile.enable()
        watch._watch("1")
        if profile is not None:
            profile.disable()

    try:
        return read_in_threads(feed, registry, loop, watches, read=read, opener=prepared_response)
    finally:
        loop.close()


def read_in_threads(
    feed: Feed,
    registry: MemberRegistry,
    loop: LoopThread,
    watches: list[MemberWatch],
    *,
    read: Callable[[MemberWatch], None],
    opener: Callable[..., urllib3.BaseHTTPResponse],
) -> float:
    """CPU seconds of ``read(watch)`` run in one thread per watch, named as the operator names them (the
    ``opener`` in place of ``open_stream`` tells the streams apart by it), until the loop has taken every
    key; every object of ``feed`` must then be in the registry."""
    original = informer.open_stream
    informer.open_stream = opener  # type: ignore[assignment]
    try:
        threads = [threading.Thread(target=read, args=(w,), name=f"watch:{w.name}") for w in watches]
        started = time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        loop.settle()
        spent = time.process_time() - started
        held = registry.held()
        assert held == {"services": feed.count * feed.members, "endpointslices": feed.count * feed.members}, (
            held
        )
        return spent
    finally:
        informer.open_stream = original


# --- the same streams over loopback TCP: read in threads (urllib3) or on the loop (aiohttp) ----------------


def _serve(routes: dict[bytes, list[bytes]], spacing: float, ready: Connection) -> None:
    """In a process of its own (its CPU is not the operator's): an HTTP/1.1 server on 127.0.0.1 answering
    ``GET <path>?<any query>`` with the segments of the stream routed at that path, ``spacing`` seconds
    apart, on keep-alive connections."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].split(b"?", 1)[0]
                for segment in routes[path]:
                    writer.write(segment)
                    if spacing:
                        await writer.drain()
                        await asyncio.sleep(spacing)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


class Server:
    """:func:`_serve` in a child process (forked: it has the feed already), stopped by its PID's handle."""

    def __init__(self, feed: Feed, spacing: float) -> None:
        ours, theirs = multiprocessing.Pipe()
        routes = {self.path(key).encode(): segments for key, segments in feed.segments.items()}
        context = multiprocessing.get_context("fork")
        self._process = context.Process(target=_serve, args=(routes, spacing, theirs), daemon=True)
        self._process.start()
        self.port: int = ours.recv()

    @staticmethod
    def prefix(stream: tuple[int, str]) -> str:
        """The path of the stream's cluster: an API server behind a path of its own, one per member."""
        return "/host" if stream == HOST else f"/m{stream[0]}"

    @classmethod
    def path(cls, stream: tuple[int, str]) -> str:
        """The path a watch of ``stream`` requests (the query aside)."""
        if stream == HOST:
            return cls.prefix(stream) + FEDERATED_SERVICES.path
        return cls.prefix(stream) + (SERVICES if stream[1] == "services" else ENDPOINT_SLICES).path

    def close(self) -> None:
        self._process.terminate()
        self._process.join()


def stage_threads_tcp(feed: Feed, server: Server) -> float:
    """CPU seconds of the operator's path today over a real loopback socket: one thread per watch reading
    its response from the server through ``_watch`` (urllib3), the registry, the hop to a running loop."""
    loop = LoopThread(None)
    registry, members = registry_with_members(feed, loop.queue.add_threadsafe)
    pool = urllib3.HTTPConnectionPool("127.0.0.1", server.port, maxsize=len(feed.segments))
    paths: dict[str, str] = {}
    watches = []
    for m, kind in feed.segments:
        if (m, kind) == HOST:
            watch = threaded_host_watch(feed, loop)
        else:
            watch = member_watch(registry, members[m], kind)
        paths[watch.name] = server.path((m, kind))
        watches.append(watch)

    def open_from_server(api: Any, path: str, **_kwargs: Any) -> urllib3.BaseHTTPResponse:
        name = threading.current_thread().name.removeprefix("watch:")
        return pool.urlopen("GET", paths[name], preload_content=False)

    try:
        return read_in_threads(
            feed, registry, loop, watches, read=lambda w: w._watch("1"), opener=open_from_server
        )
    finally:
        loop.close()
        pool.close()


def async_member_watch(
    registry: MemberRegistry, member: _Member, kind: str, api: ApiClient, transport: AsyncTransport
) -> AsyncMemberWatch:
    """An AsyncMemberWatch wired to the registry's callbacks as ``MemberRegistry.connect`` wires it."""
    return AsyncMemberWatch(
        api,
        SERVICES if kind == "services" else ENDPOINT_SLICES,
        transport=transport,
        label_selector="fedop.io/federation=myfederation",
        on_event=registry._event_handler(member, kind),
        on_relist=registry._relist_handler(member, kind),
        on_synced=registry._synced_handler(member, kind),
        cluster=member.info.name,
    )


def stage_loop_tcp(feed: Feed, server: Server, profile: cProfile.Profile | None = None) -> float:
    """CPU seconds of the same path read on the event loop: the members' watches are the operator's
    (``AsyncMemberWatch._watch``: a task each, its response streamed through ``AsyncTransport``, split and
    parsed by ``JsonLines``, the registry's callbacks), the owners added to the real ``WorkQueue`` directly
    (``add``: no hop), ``WORKERS`` workers taking them; and the host's FederatedService watch, the same
    informer with the FederatedService watch's callbacks."""

    async def run() -> float:
        queue: WorkQueue[Key] = WorkQueue(asyncio.get_running_loop())
        registry, members = registry_with_members(feed, queue.add)
        base = f"http://127.0.0.1:{server.port}"
        transport = AsyncTransport()
        host_api = ApiClient(Configuration(host=base + Server.prefix(HOST)))
        host = host_watch(feed, queue, host_api, transport)
        idle = asyncio.Event()

        async def worker() -> None:
            while True:
                key = await queue.get()
                queue.done(key)
                if queue.idle:
                    idle.set()

        apis = [ApiClient(Configuration(host=base + Server.prefix((m, "")))) for m in range(feed.members)]
        watches = [
            async_member_watch(registry, members[m], kind, apis[m], transport)
            for m, kind in feed.segments
            if (m, kind) != HOST
        ]
        workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        if profile is not None:
            profile.enable()
        started = time.process_time()
        await asyncio.gather(host._watch._watch("1"), *(watch._watch("1") for watch in watches))
        if not queue.idle:
            idle.clear()
            await idle.wait()
        spent = time.process_time() - started
        if profile is not None:
            profile.disable()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await transport.close()
        for api in [*apis, host_api]:
            api.close()
        held = registry.held()
        assert held == {"services": feed.count * feed.members, "endpointslices": feed.count * feed.members}
        return spent

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="FederatedServices")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--spacing-ms",
        type=float,
        default=1.0,
        help="end to end: each watch's events arrive this far apart (0: all at once, a burst)",
    )
    parser.add_argument("--profile", action="store_true", help="a cProfile top 30 of the end-to-end path")
    parser.add_argument(
        "--loop-profile", action="store_true", help="a cProfile top 30 of the path read on the event loop"
    )
    args = parser.parse_args()
    feed = Feed(args.count, args.members)
    # As the operator's GC pacer (gc_pacing.py) runs it: what exists now frozen, CPython's full collection
    # out of reach, its young collections as usual (they are part of what allocating per event costs).
    gc.collect()
    gc.freeze()
    gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], 2**31 - 1)
    per = 1e6 / feed.events
    print(
        f"watch CPU: {args.count} FederatedServices x {args.members} members, {feed.events} events "
        f"({feed.lines_total - feed.events} bookmarks), {args.spacing_ms:g} ms apart per watch, "
        f"{args.repeat} rounds, median CPU us per event"
    )
    if args.profile:
        profile = cProfile.Profile()
        stage_end_to_end(feed, args.spacing_ms / 1000, profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        return
    server = Server(feed, args.spacing_ms / 1000)
    try:
        if args.loop_profile:
            profile = cProfile.Profile()
            stage_loop_tcp(feed, server, profile)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
            return
        reads, parses, applies, totals, threads_tcp, loop_tcp = [], [], [], [], [], []
        for _ in range(args.repeat):
            both, parse = stage_read_parse(feed, args.spacing_ms / 1000)
            reads.append(both - parse)
            parses.append(parse)
            applies.append(stage_apply(feed))
            totals.append(stage_end_to_end(feed, args.spacing_ms / 1000))
            threads_tcp.append(stage_threads_tcp(feed, server))
            loop_tcp.append(stage_loop_tcp(feed, server))
    finally:
        server.close()
    read, parse, apply, total = (statistics.median(x) for x in (reads, parses, applies, totals))
    hop = total - read - parse - apply
    print("threads, in-memory socket (the stages):")
    for label, value in (("read", read), ("parse", parse), ("apply", apply), ("hop", hop)):
        print(f"  {label:6s} {value * per:7.1f} us")
    for label, values in (
        ("threads, in-memory socket", totals),
        ("threads, loopback TCP", threads_tcp),
        ("event loop, loopback TCP", loop_tcp),
    ):
        rounds = ", ".join(f"{t * per:.1f}" for t in values)
        print(
            f"  {label:26s} {statistics.median(values) * per:7.1f} us per event end to end (rounds: {rounds})"
        )


if __name__ == "__main__":
    main()
