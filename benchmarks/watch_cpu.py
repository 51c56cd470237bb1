"""CPU per watch event on the operator's member and host path, from the bytes on the wire to the work queue.

In-process; run on demand (no federation needed, under a minute):
    PYTHONPATH=$PWD:$PWD/hack .venv/bin/python benchmarks/watch_cpu.py [--count 1000] [--members 4]
        [--repeat 5] [--spacing-ms 1] [--profile]

For N FederatedServices x M members it builds the watch streams a converging federation sends, ~20 events
per FederatedService: per member, the Services watch (each Service ADDED as our create left it, which is
the echo of that create, then MODIFIED when the load balancer fills its ingress) and the EndpointSlices
watch (each slice ADDED with its backend not ready yet, then MODIFIED when it is), with managedFields as the
API server sends them and a BOOKMARK now and then; in the host, each FederatedService ADDED, MODIFIED by our
finalizer and by the two statuses we write (echoes: ``ours`` answers the status each carries). The objects
are those of ``benchmarks/heap_census.py``. Each stream is the raw HTTP/1.1 response (status line, headers,
one chunk per event, as a kube-apiserver flushes them), served over loopback TCP by an HTTP server on
127.0.0.1 in a child process (its CPU is not counted), the events ``--spacing-ms`` apart (default 1: events
arriving one by one, the loop idle between them; 0: a burst).

The streams are read as the operator reads them, on one event loop: each by the operator's informer
(``AsyncMemberWatch``: a task each streaming its response through ``AsyncTransport``'s aiohttp session,
``JsonLines`` splitting and parsing each piece), its events handed to the ``MemberRegistry``'s callbacks
(members) or the FederatedService watch's (host), the keys they queue added to the real ``WorkQueue``
(``add``) and taken and finished by eight workers. The figure is the CPU time (``time.process_time``) per
event of that whole path, median of ``--repeat`` rounds; beside it, two of its parts measured apart, in
memory:

* parse:  ``orjson.loads`` of each line;
* apply:  the watch's dispatch (``_handle``) and its callbacks (for the members the member cache under its
          lock, ``observe_service`` / ``trim_*``, with a queue that does nothing; for the host
          ``FederatedServiceStore.put`` and the queue);
* rest:   what is left of the whole path: aiohttp's reads, the lines split, the loop's wake-ups, the workers.

Measured 2026-12-05 (session 12; 1,000 x 4, 5 rounds, load average 6-7 from other runs): 56.1 us per event
1 ms apart, 19.6 in a burst. In the same runs the same streams read in threads, as the watches were read
before (urllib3, a thread per watch, the keys handed over to the loop), cost 98.3 and 30.3 us per event: why
the watches moved onto the loop. That path was measured by this benchmark as it was at 8bad1ae (``git show
8bad1ae:benchmarks/watch_cpu.py``: both paths, and the threads' stages in memory), and went with the
threaded watch.

``--profile`` prints a cProfile top 30 of one round of the whole path instead of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import multiprocessing
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from federation_operator.kube.client import ClusterClient, ClusterConfig

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from heap_census import REGIONS, fsvc_json, service_json, slice_json  # noqa: E402

from federation_operator.controllers.federated_service import FederatedServiceStore  # noqa: E402
from federation_operator.controllers.host_watch import FEDERATED_SERVICES, FederatedServiceWatch  # noqa: E402
from federation_operator.controllers.member_cache import MemberRegistry, _Member  # noqa: E402
from federation_operator.controllers.workqueue import WorkQueue  # noqa: E402
from federation_operator.domain.keys import Key  # noqa: E402
from federation_operator.domain.members import ClusterInfo  # noqa: E402
from federation_operator.kube.async_informer import ENDPOINT_SLICES, SERVICES, AsyncMemberWatch  # noqa: E402
from federation_operator.kube.async_transport import AsyncTransport  # noqa: E402
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


# --- the streams, as the server sends them ----------------------------------------------------------------


HEAD = (
    b"HTTP/1.1 200 OK\r\nAudit-Id: 5f0e\r\nCache-Control: no-cache, private\r\n"
    b"Content-Type: application/json\r\nDate: Sat, 05 Dec 2026 06:00:00 GMT\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def wire_segments(lines: list[bytes]) -> list[bytes]:
    """The response's bytes: the head, then one chunk per event line, then the last chunk."""
    return [HEAD, *(b"%x\r\n%s\r\n" % (len(line), line) for line in lines), b"0\r\n\r\n"]


# --- the path, and its parts measured in memory -----------------------------------------------------------


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


def host_watch(
    feed: Feed,
    queue: WorkQueue[Key],
    api: ClusterClient | None = None,
    transport: AsyncTransport | None = None,
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


def member_watch(
    registry: MemberRegistry,
    member: _Member,
    kind: str,
    transport: AsyncTransport,
    api: ClusterClient | None = None,
) -> AsyncMemberWatch:
    """A member's watch wired to the registry's callbacks as ``MemberRegistry.connect`` wires it."""
    return AsyncMemberWatch(
        api,  # type: ignore[arg-type]
        SERVICES if kind == "services" else ENDPOINT_SLICES,
        transport=transport,
        label_selector="fedop.io/federation=myfederation",
        on_event=registry._event_handler(member, kind),
        on_relist=registry._relist_handler(member, kind),
        on_synced=registry._synced_handler(member, kind),
        cluster=member.info.name,
    )


def stage_parse(feed: Feed) -> float:
    """CPU seconds of ``orjson.loads`` of every line of every stream."""
    loads = orjson.loads
    started = time.process_time()
    for lines in feed.lines.values():
        for line in lines:
            loads(line)
    return time.process_time() - started


def stage_apply(feed: Feed) -> float:
    """CPU seconds of the watches' dispatch and callbacks, on events parsed beforehand: the members' into the
    registry (its queue doing nothing), the host's into the FederatedService watch (the store, a work queue
    nothing takes from)."""
    events = {stream: [orjson.loads(line) for line in lines] for stream, lines in feed.lines.items()}

    async def on_the_loop() -> float:
        registry, members = registry_with_members(feed, lambda _key: None)
        transport = AsyncTransport()
        host = host_watch(feed, WorkQueue(asyncio.get_running_loop()), transport=transport)
        watches: list[tuple[AsyncMemberWatch, list[Any]]] = []
        for (m, kind), stream in events.items():
            if (m, kind) == HOST:
                watches.append((host._watch, stream))
            else:
                watches.append((member_watch(registry, members[m], kind, transport), stream))
        started = time.process_time()
        for watch, stream in watches:
            version = ""
            for event in stream:
                version = watch._handle(event, version)
        spent = time.process_time() - started
        await transport.close()
        return spent

    return asyncio.run(on_the_loop())


# --- the streams over loopback TCP, read on the event loop as the operator reads them ---------------------


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


def stage_end_to_end(feed: Feed, server: Server, profile: cProfile.Profile | None = None) -> float:
    """CPU seconds of the whole path, one round, until the work queue is idle: every watch read from
    ``server`` as the operator reads it (``AsyncMemberWatch._watch``: a task each, its response streamed
    through ``AsyncTransport``, split and parsed by ``JsonLines``), the members' events into the registry's
    callbacks, the host's into the FederatedService watch's, the owners added to the real ``WorkQueue``
    (``add``), ``WORKERS`` workers taking them."""

    async def run() -> float:
        queue: WorkQueue[Key] = WorkQueue(asyncio.get_running_loop())
        registry, members = registry_with_members(feed, queue.add)
        base = f"http://127.0.0.1:{server.port}"
        transport = AsyncTransport()
        host_api = ClusterClient(ClusterConfig(server=base + Server.prefix(HOST)))
        host = host_watch(feed, queue, host_api, transport)
        idle = asyncio.Event()

        async def worker() -> None:
            while True:
                key = await queue.get()
                queue.done(key)
                if queue.idle:
                    idle.set()

        apis = [
            ClusterClient(ClusterConfig(server=base + Server.prefix((m, "")))) for m in range(feed.members)
        ]
        watches = [
            member_watch(registry, members[m], kind, transport, apis[m])
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
        help="each watch's events arrive this far apart (0: all at once, a burst)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="a cProfile top 30 of one round of the whole path instead"
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
    server = Server(feed, args.spacing_ms / 1000)
    try:
        if args.profile:
            profile = cProfile.Profile()
            stage_end_to_end(feed, server, profile)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
            return
        parses, applies, totals = [], [], []
        for _ in range(args.repeat):
            parses.append(stage_parse(feed))
            applies.append(stage_apply(feed))
            totals.append(stage_end_to_end(feed, server))
    finally:
        server.close()
    parse, apply, total = (statistics.median(x) for x in (parses, applies, totals))
    for label, value, what in (
        ("parse", parse, "orjson.loads of each line (in memory)"),
        ("apply", apply, "the watches' dispatch and callbacks (in memory)"),
        ("rest", total - parse - apply, "aiohttp's reads, the lines split, the loop's wake-ups, the workers"),
    ):
        print(f"  {label:6s} {value * per:7.1f} us  {what}")
    rounds = ", ".join(f"{t * per:.1f}" for t in totals)
    print(f"  whole path, event loop, loopback TCP: {total * per:.1f} us per event (rounds: {rounds})")


if __name__ == "__main__":
    main()
