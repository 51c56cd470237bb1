"""CPU the DNS publisher spends per record set on RFC 2136, measured in-process against a real BIND.

Run on demand (a local BIND, no federation; about a minute at the default size):
    .venv/bin/python benchmarks/publisher_cpu.py [--count 1000] [--burst 20] [--repeat 1] [--profile]

Starts `named` the way the tests do (hack/localfed/bind.py: a fresh zone, a TSIG key) and a publisher
(dns/publisher.py) over the rfc2136 provider. The records of N FederatedServices over 4 members in 4
regions (2 zones each: global, region and zone tiers from planning/records.py, 13 record sets per owner and
as many ownership TXT records) are submitted in bursts of ``--burst`` owners, as reconciles finishing
together would, each burst waiting for its owners' results before the next one goes. Then another writer
changes one record set (an UPDATE of its own, as ``nsupdate`` would) and a drift check is forced: the SOA
serial, the zone read, the index build and the diff, and the round that repairs the drift.

Prints process CPU-seconds (time.process_time; BIND is another process) for each phase, and per 1,000
record sets (ownership records included) for the rounds:
- plan: the zone diff of each round (Publisher._plan);
- apply: building, signing and sending the UPDATEs (Rfc2136Provider.apply, awaiting BIND's answers);
- rounds (total): everything between a burst's submission and its results (the loop's own work too);
- read: the drift check's zone read (AXFR, or IXFR when the provider reads changes), index: building the
  index from a whole read (run in a thread by the publisher), drift: comparing it with the kept index, or
  replaying what changed onto the kept index;
- check (total): the drift check from its trigger until the fresh index is taken in; repair: the round
  that republishes the owner it found changed; 2nd check: another drift check after a second hand edit,
  when the server's journal since the last read is short (BIND answers an IXFR with the whole zone when
  that is smaller, as after the first read of an empty zone; "read" etc. count both checks).
With ``--profile``, a cProfile top 30 (by cumulative time) of plan, apply, and the drift check.
The machine is shared: compare before and after back to back, with several ``--repeat``s (medians shown).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "hack")]

import dns.asyncquery  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.tsig  # noqa: E402
import dns.update  # noqa: E402
from localfed import processes  # noqa: E402
from localfed.bind import BindServer, rfc2136_provider, start_bind  # noqa: E402
from localfed.federation import free_port  # noqa: E402

from federation_operator.dns import publisher as publisher_module  # noqa: E402
from federation_operator.dns.publisher import Publisher  # noqa: E402
from federation_operator.dns.rfc2136 import Rfc2136Provider  # noqa: E402
from federation_operator.domain.keys import Key  # noqa: E402
from federation_operator.domain.records import RecordSet, ServiceNames, ShardAddresses  # noqa: E402
from federation_operator.planning import zone_diff  # noqa: E402
from federation_operator.planning.records import plan_records  # noqa: E402

FEDERATION = "myfederation"
REGIONS = ("us-central1", "us-east1", "europe-west1", "asia-east1")
TOPOLOGY = {region: frozenset({f"{region}-a", f"{region}-b"}) for region in REGIONS}
T = TypeVar("T")


def owner_records(index: int, domain: str) -> tuple[RecordSet, ...]:
    """One FederatedService's records: a healthy shard in each member (one per region, zone -a)."""
    shards = [
        ShardAddresses(
            cluster=f"member-{m}",
            region=region,
            zones=frozenset({f"{region}-a"}),
            ipv4=(f"127.{m + 1}.{index // 250}.{index % 250 + 1}",),
        )
        for m, region in enumerate(REGIONS)
    ]
    names = ServiceNames(service=f"svc-{index}", namespace="bench", federation=FEDERATION, domain=domain)
    return plan_records(names=names, ttl=180, aliases=(), topology=TOPOLOGY, healthy=shards)


class Meter:
    """CPU-seconds and calls per phase, and a profiler per phase when asked."""

    def __init__(self, profile: bool) -> None:
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.profiles: dict[str, cProfile.Profile] = {}
        self._profile = profile

    @contextlib.contextmanager
    def phase(
        self, name: str, clock: Callable[[], float] = time.process_time, *, profiled: bool = True
    ) -> Iterator[None]:
        """Count the CPU of the block as ``name``'s; profile it unless it holds profiled phases (one
        profiler runs at a time)."""
        profiler = self.profiles.setdefault(name, cProfile.Profile()) if self._profile and profiled else None
        start = clock()
        if profiler is not None:
            profiler.enable()
        try:
            yield
        finally:
            if profiler is not None:
                profiler.disable()
            self.cpu[name] = self.cpu.get(name, 0.0) + clock() - start
            self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(
        self, name: str, function: Callable[..., T], clock: Callable[[], float] = time.process_time
    ) -> Callable[..., T]:
        def timed(*args: Any, **kwargs: Any) -> T:
            with self.phase(name, clock):
                return function(*args, **kwargs)

        return timed

    def wrap_async(self, name: str, function: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        # Only the publisher runs while a burst is out, so the process CPU over the await is its own.
        async def timed(*args: Any, **kwargs: Any) -> T:
            with self.phase(name):
                return await function(*args, **kwargs)

        return timed


async def drift_by_hand(bind: BindServer, name: str) -> None:
    """Another writer's change: the A record set at ``name`` replaced by one address of its own."""
    key = dns.tsig.Key(bind.key_name, bind.key_secret, bind.key_algorithm)
    update = dns.update.UpdateMessage(f"{bind.zone}.", keyring=key)
    update.replace(name, 180, dns.rdatatype.A, "127.99.99.99")
    response = await dns.asyncquery.tcp(update, bind.address, port=bind.port, timeout=10)
    assert response.rcode() == 0, response


async def wait_for(condition: Callable[[], bool], news: asyncio.Event) -> None:
    """Wait (up to 10 minutes) until ``condition`` holds, looking again whenever ``news`` is set (and every
    0.1 s, cheaply)."""
    async with asyncio.timeout(600.0):
        while not condition():
            news.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await news.wait()


async def force_check(publisher: Publisher, news: asyncio.Event) -> None:
    """A drift check now, waited for until its read (if any) is taken in."""
    checks = publisher.checks
    publisher._next_check = 0.0
    publisher._wake.set()
    await wait_for(lambda: publisher.checks > checks and publisher._reading is None, news)


def instrument(publisher: Publisher, provider: Rfc2136Provider, meter: Meter) -> None:
    """Count each phase's CPU (see the module's docstring) by wrapping what does it."""
    publisher._plan = meter.wrap("plan", publisher._plan)  # type: ignore[method-assign]
    provider.apply = meter.wrap_async("apply", provider.apply)  # type: ignore[method-assign]
    provider.records = meter.wrap_async("read", provider.records)  # type: ignore[method-assign]
    for reader in ("changes_since",):  # the incremental read, where the provider has one
        if hasattr(provider, reader):
            setattr(provider, reader, meter.wrap_async("read", getattr(provider, reader)))

    # The index is built in a thread: its own CPU is that thread's. (A subclass, so that isinstance holds.)
    class TimedIndex(zone_diff.ZoneIndex):
        def __init__(self, current: Any) -> None:
            with meter.phase("index", time.thread_time):
                super().__init__(current)

        def take(self, replayed: Any, *, federation: str) -> Any:
            with meter.phase("drift"):
                return super().take(replayed, federation=federation)

    publisher_module.ZoneIndex = TimedIndex  # type: ignore[misc]
    publisher_module.plan_drift = meter.wrap("drift", zone_diff.plan_drift)  # type: ignore[assignment]
    if hasattr(zone_diff, "render_delta"):  # (so that the benchmark runs on the code before it too)
        publisher_module.render_delta = meter.wrap("drift", zone_diff.render_delta)  # type: ignore[assignment]


async def run(bind: BindServer, count: int, burst: int, meter: Meter) -> dict[str, float]:
    provider = rfc2136_provider(bind, timeout=30.0)
    news = asyncio.Event()  # set by every result, so that waiting costs no polling
    publisher = Publisher(
        provider, federation=FEDERATION, on_result=lambda _key: news.set(), resync_seconds=3600.0
    )
    instrument(publisher, provider, meter)

    owners: list[tuple[Key, tuple[RecordSet, ...]]] = [
        (("bench", f"svc-{i}"), owner_records(i, bind.zone)) for i in range(count)
    ]
    record_sets = 2 * sum(len(records) for _, records in owners)  # each with its ownership record
    task = asyncio.create_task(publisher.run())
    try:
        await wait_for(lambda: publisher.ready, news)
        meter.cpu.clear()
        meter.calls.clear()
        with meter.phase("rounds", profiled=False):
            for start in range(0, count, burst):
                part = owners[start : start + burst]
                for key, records in part:
                    publisher.submit(key, records, created=f"2026-01-01T00:00:{start:06d}Z")
                await wait_for(lambda part=part: all(publisher.result(k) for k, _ in part), news)
        rounds = publisher.rounds
        messages = provider.messages_sent
        assert all(not (r := publisher.result(k)) or not r.conflicts for k, _ in owners)

        # A check when nobody else wrote: the serial, less this provider's own UPDATEs, has not moved.
        reads = meter.calls.get("read", 0)
        with meter.phase("quiet check", profiled=False):
            await force_check(publisher, news)
        quiet_reads = meter.calls.get("read", 0) - reads
        victim = owners[0][1][0]
        await drift_by_hand(bind, victim.name)
        with meter.phase("check", profiled=False):
            await force_check(publisher, news)
        with meter.phase("repair", profiled=False):
            await wait_for(lambda: publisher.result(owners[0][0]) is not None, news)
        assert publisher._zone is not None
        assert publisher._zone.records[victim.key] == victim
        # Another drift: the journal since the last read now holds a few changes, which an IXFR reads.
        victim = owners[1][1][0]
        await drift_by_hand(bind, victim.name)
        with meter.phase("2nd check", profiled=False):
            await force_check(publisher, news)
        await wait_for(lambda: publisher.result(owners[1][0]) is not None, news)
        assert publisher._zone.records[victim.key] == victim
        figures = dict(meter.cpu)
        figures["record sets"] = record_sets
        figures["round count"] = rounds
        figures["messages"] = messages
        figures["quiet reads"] = quiet_reads
        transfers = getattr(provider, "transfers", {})
        figures["ixfr"] = transfers.get("IXFR", 0)
        return figures
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="FederatedServices (default 1000)")
    parser.add_argument("--burst", type=int, default=20, help="owners submitted together (default 20)")
    parser.add_argument("--repeat", type=int, default=1, help="runs, each on a fresh BIND (default 1)")
    parser.add_argument("--profile", action="store_true", help="cProfile top 30 of each phase")
    args = parser.parse_args()
    # Stopped (timeout, kill): unwind, so that the BIND started here is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    runs: list[dict[str, float]] = []
    meter = Meter(args.profile)
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="publisher-cpu-") as directory:
            bind, record = start_bind(Path(directory), free_port())
            try:
                runs.append(asyncio.run(run(bind, args.count, args.burst, meter)))
            finally:
                processes.stop(record)
    sets = runs[0]["record sets"]
    print(
        f"{args.count} owners, {int(sets)} record sets (ownership records included), bursts of {args.burst}; "
        f"{int(runs[0]['round count'])} rounds, {int(runs[0]['messages'])} UPDATE messages; "
        f"{args.repeat} run(s), medians; the quiet check read the zone {int(runs[0]['quiet reads'])} "
        f"time(s); the drift check read {'what changed (IXFR)' if runs[0]['ixfr'] else 'the zone'}"
    )
    phases = (*("plan", "apply", "rounds", "quiet check"), *("read", "index", "drift", "check", "repair"))
    print(f"{'phase':<16}{'CPU-s':>10}{'per 1,000 sets':>16}   (each run)")
    phases = (
        "plan",
        "apply",
        "rounds",
        "quiet check",
        "read",
        "index",
        "drift",
        "check",
        "repair",
        "2nd check",
    )
    for phase in phases:
        values = [r.get(phase, 0.0) for r in runs]
        median = statistics.median(values)
        each = " ".join(f"{v:.3f}" for v in values)
        per = f"{median / sets * 1000:>16.4f}" if phase in ("plan", "apply", "rounds") else " " * 16
        print(f"{phase:<16}{median:>10.3f}{per}   ({each})")
    for phase, profiler in meter.profiles.items():
        if phase in ("plan", "apply", "read", "index", "drift"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            print(f"\n=== {phase} (all runs) ===")
            print("\n".join(out.getvalue().splitlines()[:50]))


if __name__ == "__main__":
    main()
