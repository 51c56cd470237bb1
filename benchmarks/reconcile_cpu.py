"""The CPU of one FederatedService reconcile, phase by phase, measured in-process (no federation).

Run on demand (a few seconds to a minute; nothing is started, nothing leaves the process):
    .venv/bin/python benchmarks/reconcile_cpu.py [--count 1000] [--members 4] [--repeat 7] [--profile]

Builds what a converged operator holds for N FederatedServices x M members, shaped as the API servers send
it (the builders of ``benchmarks/heap_census.py``, JSON decoded by orjson as the informers do): a member
cache with each member's Service (LoadBalancer ingress) and EndpointSlice (one ready endpoint, with a zone),
a FederatedServiceStore with the objects' bodies, and a FederatedServiceController whose host status writes
are stubbed in-process (the watch's echo of each write is put into the store between timed phases, as the
host watch would) and whose publisher answers at once (records submitted are "published" as they are: the
DNS publisher's own CPU is not measured here). Every object is reconciled until its status is written and
stable, then two scenarios are timed, each phase over all N objects in a row (time.process_time), repeated:

- ``steady``: the re-reconcile after an event that changes nothing (status already written, as most of the
  ~3 reconciles per object of a converging run are);
- ``changed``: a reconcile whose status changes (the first member's endpoint turned unready, then ready again
  on the next repetition): new shard health, records, conditions, a status write.

Prints microseconds of CPU per reconcile per phase (median of the repetitions) and the whole reconcile
timed on its own; with ``--profile``, a cProfile top 30 (by own time) of whole reconciles of each scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from benchmarks.heap_census import REGIONS, fsvc_json, service_json, slice_json  # noqa: E402
from federation_operator.controllers.federated_service import (  # noqa: E402
    FederatedServiceController,
    FederatedServiceStore,
)
from federation_operator.controllers.member_cache import MemberRegistry, _Member  # noqa: E402
from federation_operator.domain.health_checks import ProviderHealth  # noqa: E402
from federation_operator.domain.keys import Key  # noqa: E402
from federation_operator.domain.members import ClusterInfo  # noqa: E402
from federation_operator.domain.records import ProviderLimits, PublishResult, RecordSet  # noqa: E402
from federation_operator.kube.transport import Call, Exchange, RawResponse  # noqa: E402
from federation_operator.planning.reconcile import (  # noqa: E402
    Federation,
    plan_member_writes,
    plan_reconcile,
)

PHASES = ("observe", "plan_member_writes", "apply_writes", "plan_reconcile", "settle")


class InstantPublisher:
    """The part of a PublisherGroup the controller uses, answering at once: records submitted are published
    as they are (kept as the first equal tuple submitted, as the real publisher keeps its desired records)."""

    limits = ProviderLimits()

    def __init__(self) -> None:
        self._results: dict[Key, PublishResult] = {}

    def submit(self, key: Key, records: tuple[RecordSet, ...], *, created: str = "") -> None:
        held = self._results.get(key)
        if held is None or held.desired != records:
            self._results[key] = PublishResult(desired=records)

    def result(self, key: Key) -> PublishResult | None:
        return self._results.get(key)

    def provider_health(self, key: Key) -> dict[str, ProviderHealth]:
        return {}

    def set_frozen(self, frozen: bool) -> bool:
        return False

    def forget(self, key: Key) -> None:
        self._results.pop(key, None)


class Federation4:
    """N FederatedServices converged over M members, and the controller reconciling them."""

    def __init__(self, count: int, members: int) -> None:
        self.keys: list[Key] = [(f"ns{i % 10}", f"svc-{i:05d}") for i in range(count)]
        self.registry = MemberRegistry("myfederation", enqueue=lambda _k: None, enqueue_all=lambda: None)
        self.store = FederatedServiceStore()
        self.echoes: list[tuple[Key, dict[str, Any]]] = []
        self.members: list[_Member] = []
        # The first member's slice of each object, ready and not (alternated by the "changed" scenario).
        self.slices: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for m in range(members):
            region = REGIONS[m % len(REGIONS)]
            info = ClusterInfo(
                name=f"gce-{region}",
                region=region,
                zones=(f"{region}-a", f"{region}-b"),
                ready=True,
                synced=True,
            )
            member = _Member(info=info, api=cast(Any, None))
            self.registry._members[info.name] = member
            self.members.append(member)
            for i, (ns, name) in enumerate(self.keys):
                self.registry._apply(member, "services", "ADDED", orjson.loads(service_json(ns, name, m, i)))
                ready = orjson.loads(slice_json(ns, name, m, i))
                self.registry._apply(member, "endpointslices", "ADDED", ready)
                if m == 0:
                    unready = orjson.loads(slice_json(ns, name, m, i))
                    unready["endpoints"][0]["conditions"] = {"ready": False, "serving": False}
                    unready["metadata"]["resourceVersion"] += "1"
                    self.slices.append((ready, unready))
        for i, (ns, name) in enumerate(self.keys):
            body = orjson.loads(fsvc_json(ns, name, i, members))
            del body["status"]  # written by the first reconciles, as the controller renders it
            self.store.put(body)
        self.publisher = InstantPublisher()
        self.controller = FederatedServiceController(
            federation=Federation(name="myfederation", domain="example.com"),
            registry=self.registry,
            store=self.store,
            host_api=cast(Any, None),
            emit=lambda *_args: None,
            publisher=cast(Any, self.publisher),
            send=self._send,
        )

    async def _send(self, _api: Any, exchange: Exchange[Any], *, within: float | None = None) -> Any:
        """The host's side of a status write: kept for its echo, answered at once."""
        call = Call(exchange, within)
        request = call.request
        assert request is not None
        namespace, name = request.path.split("/")[5], request.path.split("/")[7]
        self.echoes.append(((namespace, name), request.body[0]["value"]))
        call.answer(RawResponse(200, b"{}", {}))
        assert call.request is None, "a status write is one request"
        return call.result

    def deliver_echoes(self) -> int:
        """The host watch's events of the statuses written: fresh JSON, as the watch decodes it."""
        written = len(self.echoes)
        for key, status in self.echoes:
            body = self.store.get(key)
            assert body is not None
            self.store.put(
                {**body, "status": orjson.loads(orjson.dumps(status))}, self.controller.written_status
            )
        self.echoes.clear()
        return written

    def converge(self) -> None:
        for _ in range(5):
            asyncio.run(self._reconcile_all())
            if not self.deliver_echoes():
                return
        raise RuntimeError("the statuses do not settle")

    def flip(self, unready: bool) -> None:
        """The first member's endpoint of every object turned unready (or ready again)."""
        member = self.members[0]
        for pair in self.slices:
            self.registry._apply(member, "endpointslices", "MODIFIED", pair[1 if unready else 0])

    async def _reconcile_all(self) -> None:
        for key in self.keys:
            await self.controller.reconcile(key)

    async def phases(self) -> dict[str, float]:
        """Each phase of a reconcile, over every object in a row: CPU seconds per phase."""
        controller, keys = self.controller, self.keys
        spent: dict[str, float] = {}
        bodies = [self.store.get(key) for key in keys]
        federation = controller._current_federation()
        # The controller's memo of each object, where it keeps one (not before this benchmark's first cuts).
        memos: dict[Key, Any] = getattr(controller, "_memos", {})
        extra = [(memos[key],) if key in memos else () for key in keys]

        def timed(phase: str, step: Callable[[], list[Any]]) -> list[Any]:
            start = time.process_time()
            out = step()
            spent[phase] = time.process_time() - start
            return out

        async def timed_async(phase: str, steps: list[Awaitable[Any]]) -> list[Any]:
            start = time.process_time()
            out = [await step for step in steps]
            spent[phase] = time.process_time() - start
            return out

        observations = timed(
            "observe", lambda: [controller._observe(k, b) for k, b in zip(keys, bodies, strict=True)]
        )
        plans = timed(
            "plan_member_writes",
            lambda: [plan_member_writes(o, federation, *m) for o, m in zip(observations, extra, strict=True)],
        )
        # Coroutines are created lazily: each is made and awaited inside the timed loop.
        start = time.process_time()
        results = [
            await controller._apply_writes(o, p.writes) for o, p in zip(observations, plans, strict=True)
        ]
        spent["apply_writes"] = time.process_time() - start
        reconciled = timed(
            "plan_reconcile",
            lambda: [
                plan_reconcile(o, federation, p, r, *m)
                for o, p, r, m in zip(observations, plans, results, extra, strict=True)
            ],
        )
        await timed_async(
            "settle",
            [controller._settle(k, b, plan) for k, b, plan in zip(keys, bodies, reconciled, strict=True)],
        )
        return spent

    async def whole(self) -> float:
        start = time.process_time()
        await self._reconcile_all()
        return time.process_time() - start


def measure(fed: Federation4, scenario: str, repeat: int) -> tuple[dict[str, list[float]], list[float]]:
    """Per-phase and whole-reconcile CPU seconds per repetition."""
    per_phase: dict[str, list[float]] = {phase: [] for phase in PHASES}
    wholes: list[float] = []
    unready = False
    for _ in range(repeat):
        for run_whole in (False, True):
            if scenario == "changed":
                unready = not unready
                fed.flip(unready)
            gc.collect()
            gc.disable()  # the operator paces its collections (gc_pacing): none lands inside a phase here
            if run_whole:
                wholes.append(asyncio.run(fed.whole()))
            else:
                spent = asyncio.run(fed.phases())
                for phase, seconds in spent.items():
                    per_phase[phase].append(seconds)
            gc.enable()
            written = fed.deliver_echoes()
            if scenario == "steady" and written:
                raise RuntimeError(f"steady state wrote {written} statuses")
            if scenario == "changed" and written != len(fed.keys):
                raise RuntimeError(f"a changed status was written for {written} of {len(fed.keys)} objects")
    if scenario == "changed" and unready:
        fed.flip(False)
        asyncio.run(fed.whole())
        fed.deliver_echoes()
    return per_phase, wholes


def report(scenario: str, count: int, per_phase: dict[str, list[float]], wholes: list[float]) -> None:
    print(f"{scenario}: µs of CPU per reconcile (median of {len(wholes)} repetitions over {count} objects)")
    total = 0.0
    for phase in PHASES:
        value = statistics.median(per_phase[phase]) / count * 1e6
        total += value
        print(f"  {phase:20s} {value:8.1f}")
    print(f"  {'sum of phases':20s} {total:8.1f}")
    spread = f"min {min(wholes) / count * 1e6:.1f}, max {max(wholes) / count * 1e6:.1f}"
    print(f"  {'whole reconcile':20s} {statistics.median(wholes) / count * 1e6:8.1f}   ({spread})")


def profile(fed: Federation4, scenario: str, top: int, sort: str = "tottime") -> None:
    profiler = cProfile.Profile()
    unready = False
    for _ in range(3):
        if scenario == "changed":
            unready = not unready
            fed.flip(unready)
        profiler.enable()
        asyncio.run(fed._reconcile_all())
        profiler.disable()
        fed.deliver_echoes()
    if unready:
        fed.flip(False)
        asyncio.run(fed._reconcile_all())
        fed.deliver_echoes()
    print(f"\ncProfile, {scenario}: top {top} by own time (3 rounds over {len(fed.keys)} objects)")
    pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(sort).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--scenario", choices=("steady", "changed", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top 30 per scenario")
    args = parser.parse_args()
    fed = Federation4(args.count, args.members)
    fed.converge()
    scenarios = ("steady", "changed") if args.scenario == "both" else (args.scenario,)
    for scenario in scenarios:
        if args.profile:
            profile(fed, scenario, 30)
        else:
            report(scenario, args.count, *measure(fed, scenario, args.repeat))


if __name__ == "__main__":
    main()
