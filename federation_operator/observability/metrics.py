"""The operator's Prometheus metrics, on a registry of their own.

One :class:`Metrics` is created at start-up and handed to the parts that do the work (the reconcile
workers, the propagator, the DNS publisher, the member supervisors); `handlers` serves its registry over
HTTP when ``metrics_port`` is set. A dedicated registry, rather than prometheus-client's global one, keeps
several operators in one process (the tests) from sharing or clashing over series. Planning code never sees
this module: metrics are recorded where the effects happen.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from federation_operator.domain.errors import FederationError, PermanentError, StaleChangesError
from federation_operator.domain.keys import Key
from federation_operator.domain.records import Changes

__all__ = ["Metrics", "ShardHealth", "dns_error_kind"]


# Reconciles are mostly in-memory (milliseconds) but can wait on member writes and the status patch, and a
# member near its request timeout (10 s by default) shows up in the top buckets.
# Rounds take milliseconds on RFC 2136; Route 53 and Cloud DNS confirm in seconds to a minute or two.
DNS_PUBLISH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ShardHealth:
    """One shard as the metrics see it: its cluster, whether it is healthy, and its region."""

    cluster: str
    healthy: bool
    region: str = ""


def dns_error_kind(exc: BaseException) -> str:
    """The ``kind`` label of a DNS error: stale (a plan the zone no longer fits), transient, permanent."""
    if isinstance(exc, StaleChangesError):
        return "stale"
    if isinstance(exc, PermanentError):
        return "permanent"
    if isinstance(exc, FederationError):
        return "transient"
    return "unexpected"


class Metrics:
    """Every metric of one operator, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.reconcile_duration = Histogram(
            "fedop_reconcile_duration_seconds",
            "Time to reconcile one FederatedService.",
            ["result"],
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self.dns_publish = Histogram(
            "fedop_dns_publish_seconds",
            "From new records submitted for a FederatedService to the provider having them live (a change "
            "the provider holds pending counts until it confirms it; a refused one until it is published).",
            ["provider"],
            buckets=DNS_PUBLISH_BUCKETS,
            registry=r,
        )
        self.member_writes = Counter(
            "fedop_member_writes",
            "Service writes sent to member clusters.",
            ["cluster", "verb"],
            registry=r,
        )
        self.dns_changes = Counter(
            "fedop_dns_changes", "DNS record-set changes applied.", ["provider"], registry=r
        )
        self.dns_provider_calls = Counter(
            "fedop_dns_provider_calls", "Calls made to the DNS provider.", ["provider"], registry=r
        )
        self.dns_errors = Counter(
            "fedop_dns_errors", "DNS publishing errors.", ["provider", "kind"], registry=r
        )
        self.dns_drift = Counter(
            "fedop_dns_drift",
            "Owners whose records were found changed in the zone by someone else, and republished.",
            ["provider"],
            registry=r,
        )
        self.dns_orphans = Counter(
            "fedop_dns_orphans_collected",
            "Owners (deleted FederatedServices) whose leftover DNS records were deleted.",
            ["provider"],
            registry=r,
        )
        self.shards = Gauge(
            "fedop_shards",
            "Shards of FederatedServices in each member cluster, by health.",
            ["cluster", "healthy"],
            registry=r,
        )
        self.cluster_probes = Counter(
            "fedop_cluster_probe", "Readiness probes of member clusters.", ["cluster", "result"], registry=r
        )
        self.cluster_ready = Gauge(
            "fedop_cluster_ready", "1 when the member cluster is Ready.", ["cluster"], registry=r
        )
        self.dns_frozen = Gauge(
            "fedop_dns_frozen", "1 while the partition guard holds DNS as last published.", registry=r
        )
        self.leader = Gauge(
            "fedop_leader",
            "1 while this replica is the active one (it holds the Lease, or runs without leader election).",
            registry=r,
        )
        self.service_shards = Gauge(
            "fedop_service_shards",
            "Shards of each FederatedService, healthy or not, from its latest status.",
            ["namespace", "name", "healthy"],
            registry=r,
        )
        self.region_shards = Gauge(
            "fedop_region_shards",
            "Shards in each region across all FederatedServices, healthy or not, from their latest status.",
            ["region", "healthy"],
            registry=r,
        )
        self.services_unserved = Gauge(
            "fedop_services_unserved",
            "FederatedServices with shards but not one healthy: their global name has no address record.",
            registry=r,
        )
        self.regions_unserved = Gauge(
            "fedop_regions_unserved",
            "FederatedServices with shards in the region but not one healthy there: the region's names fall "
            "back to the global name.",
            ["region"],
            registry=r,
        )
        self.dns_pending_changes = Gauge(
            "fedop_dns_pending_changes",
            "DNS changes the provider accepted but has not confirmed live yet (Route 53 PENDING, Cloud DNS "
            "pending); their owners' records are not known to be served.",
            registry=r,
        )
        self.dns_oldest_pending = Gauge(
            "fedop_dns_oldest_pending_seconds",
            "How long the oldest DNS change not yet confirmed live has waited so far; 0 when none waits.",
            registry=r,
        )
        self.workqueue_depth = Gauge(
            "fedop_workqueue_depth", "FederatedServices waiting to be reconciled.", registry=r
        )
        self.objects_held = Gauge(
            "fedop_objects_held",
            "Objects the operator holds in memory, by kind: FederatedServices (the host watch's store), and "
            "the Services and EndpointSlices of all members (the member caches). Memory grows with these.",
            ["kind"],
            registry=r,
        )
        self.gc_pause = Histogram(
            "fedop_gc_pause_seconds",
            "How long each pass of the garbage collector's pacer stopped the process "
            "(FEDOP_GC_YOUNG_SECONDS): young (the objects that grew old since the last pass) or full (every "
            "object, rarely).",
            ["pass"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.gc_frozen = Gauge(
            "fedop_gc_frozen_objects",
            "Objects the garbage collector's pacer has frozen (out of every collection until its next full "
            "pass).",
            registry=r,
        )
        # The shards of each FederatedService as last reported, so the gauge is recomputed, never drifts.
        self._shards: dict[Key, tuple[ShardHealth, ...]] = {}
        self._shard_totals: Tally[tuple[str, bool]] = Tally()
        self._region_totals: Tally[tuple[str, bool]] = Tally()
        # How many FederatedServices have no healthy shard at all, and none in each region.
        self._unserved = 0
        self._unserved_regions: Tally[str] = Tally()

    def observe_gc_pass(self, full: bool, seconds: float, frozen: int) -> None:
        self.gc_pause.labels("full" if full else "young").observe(seconds)
        self.gc_frozen.set(frozen)

    # --- reconciles and member writes -----------------------------------------------------------------

    def observe_reconcile(self, seconds: float, *, ok: bool) -> None:
        self.reconcile_duration.labels(result="ok" if ok else "error").observe(seconds)

    def count_member_write(self, cluster: str, verb: str) -> None:
        """`verb` is create, apply or delete."""
        self.member_writes.labels(cluster=cluster, verb=verb).inc()

    def track_workqueue(self, depth: Callable[[], int]) -> None:
        """Read the queue's depth at each scrape, so the gauge is never stale."""
        self.workqueue_depth.set_function(lambda: float(depth()))

    def track_dns_pending(self, ages: Callable[[], Sequence[float]]) -> None:
        """Read at each scrape how long each change the DNS provider accepted has waited to be live."""
        self.dns_pending_changes.set_function(lambda: float(len(ages())))
        self.dns_oldest_pending.set_function(lambda: max(ages(), default=0.0))

    def track_objects(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Read the number of objects held, per kind, at each scrape (the kinds are fixed at start-up)."""

        def held(kind: str) -> Callable[[], float]:
            return lambda: float(counts().get(kind, 0))

        for kind in counts():
            self.objects_held.labels(kind=kind).set_function(held(kind))

    # --- shard health ---------------------------------------------------------------------------------

    def set_shards(self, key: Key, shards: Iterable[ShardHealth]) -> None:
        """The shards `key` has now (from its latest status); replaces what it had before."""
        new = tuple(shards)
        old = self._shards.get(key, ())
        if new == old:
            return
        self._shard_totals.subtract((s.cluster, s.healthy) for s in old)
        self._shard_totals.update((s.cluster, s.healthy) for s in new)
        if new:
            self._shards[key] = new
        else:
            self._shards.pop(key, None)
        self._render_shards({s.cluster for s in (*old, *new)})
        self._render_service(key, new)
        self._region_totals.subtract((s.region, s.healthy) for s in old if s.region)
        self._region_totals.update((s.region, s.healthy) for s in new if s.region)
        for region in {s.region for s in (*old, *new) if s.region}:
            for healthy in (True, False):
                self.region_shards.labels(region=region, healthy=_bool(healthy)).set(
                    self._region_totals[(region, healthy)]
                )
        (was_unserved, old_regions), (is_unserved, new_regions) = _unserved(old), _unserved(new)
        self._unserved += int(is_unserved) - int(was_unserved)
        self.services_unserved.set(self._unserved)
        self._unserved_regions.subtract(old_regions)
        self._unserved_regions.update(new_regions)
        for region in old_regions | new_regions:
            self.regions_unserved.labels(region=region).set(self._unserved_regions[region])

    def forget_shards(self, key: Key) -> None:
        self.set_shards(key, ())

    def _render_service(self, key: Key, shards: tuple[ShardHealth, ...]) -> None:
        namespace, name = key
        if not shards:  # gone (or placed nowhere): its series go too
            for label in ("true", "false"):
                with suppress(KeyError):
                    self.service_shards.remove(namespace, name, label)
            return
        healthy = sum(s.healthy for s in shards)
        self.service_shards.labels(namespace=namespace, name=name, healthy="true").set(healthy)
        self.service_shards.labels(namespace=namespace, name=name, healthy="false").set(len(shards) - healthy)

    def _render_shards(self, clusters: set[str]) -> None:
        for cluster in clusters:
            counts = {healthy: self._shard_totals[(cluster, healthy)] for healthy in (True, False)}
            if not any(counts.values()):
                # A cluster no FederatedService has a shard in any more: drop its series.
                for healthy in counts:
                    del self._shard_totals[(cluster, healthy)]
                    self.shards.remove(cluster, _bool(healthy))
                continue
            for healthy, count in counts.items():
                self.shards.labels(cluster=cluster, healthy=_bool(healthy)).set(count)

    # --- member clusters --------------------------------------------------------------------------------

    def observe_probe(self, cluster: str, *, ok: bool, ready: bool) -> None:
        self.cluster_probes.labels(cluster=cluster, result="success" if ok else "failure").inc()
        self.set_cluster_ready(cluster, ready)

    def set_cluster_ready(self, cluster: str, ready: bool) -> None:
        self.cluster_ready.labels(cluster=cluster).set(1 if ready else 0)

    def forget_cluster(self, cluster: str) -> None:
        """A member no longer managed (its MemberCluster deleted): its readiness series goes away."""
        with suppress(KeyError):  # never probed
            self.cluster_ready.remove(cluster)

    # --- DNS ----------------------------------------------------------------------------------------------

    def track_dns_publish(self, provider: str) -> None:
        """Export the provider's publish-latency series from start-up on, empty until a first observation."""
        self.dns_publish.labels(provider=provider)

    def observe_dns_publish(self, provider: str, seconds: float) -> None:
        self.dns_publish.labels(provider=provider).observe(seconds)

    def count_dns_calls(self, provider: str, calls: int) -> None:
        self.dns_provider_calls.labels(provider=provider).inc(calls)

    def count_dns_changes(self, provider: str, changes: Changes) -> None:
        applied = len(changes.create) + len(changes.update_new) + len(changes.delete)
        self.dns_changes.labels(provider=provider).inc(applied)

    def count_dns_error(self, provider: str, exc: BaseException) -> None:
        self.dns_errors.labels(provider=provider, kind=dns_error_kind(exc)).inc()

    def count_dns_drift(self, provider: str, owners: int) -> None:
        self.dns_drift.labels(provider=provider).inc(owners)

    def count_dns_orphans(self, provider: str, owners: int) -> None:
        self.dns_orphans.labels(provider=provider).inc(owners)

    def set_dns_frozen(self, frozen: bool) -> None:
        self.dns_frozen.set(1 if frozen else 0)


def _unserved(shards: tuple[ShardHealth, ...]) -> tuple[bool, frozenset[str]]:
    """Whether these shards of one FederatedService leave it with no healthy shard, and the regions where
    they leave it none (a shard of unknown region counts only toward the first)."""
    healthy_regions = {s.region for s in shards if s.healthy}
    regions = frozenset(s.region for s in shards if s.region and s.region not in healthy_regions)
    return bool(shards) and not healthy_regions, regions


def _bool(value: bool) -> str:
    return "true" if value else "false"
