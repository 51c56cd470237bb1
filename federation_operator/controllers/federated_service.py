"""Reconciling one FederatedService: desired member Services → create / repair / withdraw → status.

The planning is pure (`federation_operator.planning`); this module sequences it with the member I/O
(`federation_operator.kube.member_services`, run in threads) and the host status write. A reconcile reads only
the in-memory index fed by the shared member watches, so a FederatedService that is in sync costs no API
call at all; writes happen only for real differences.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from kubernetes import client
from pydantic import ValidationError

from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.controllers.shutdown import ShutdownGate
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.errors import InvalidSpecError, PermanentError, TransientError
from federation_operator.domain.keys import Key, thaw
from federation_operator.domain.members import ClusterInfo, ObservedService
from federation_operator.domain.records import RecordSet, ServiceNames
from federation_operator.domain.specs import DnsDefaults, FederatedServiceSpec, parse_federated_service_spec
from federation_operator.domain.status import (
    CONDITION_DNS_PUBLISHED,
    CONDITION_HEALTHY,
    CONDITION_PROPAGATED,
    CONDITION_READY,
    FederatedServiceStatus,
    ShardStatus,
)
from federation_operator.kube import host
from federation_operator.kube.member_services import (
    ServiceExistsError,
    apply_service,
    create_service,
    delete_service,
    ensure_namespace,
    fetch_service,
    observe_service,
)
from federation_operator.observability.events import EventReporter, EventSink
from federation_operator.observability.metrics import Metrics, ShardHealth
from federation_operator.planning.overrides import plan_cluster_overrides
from federation_operator.planning.placement import plan_placement, unknown_clusters
from federation_operator.planning.publication import (
    plan_dns_shards,
    plan_service_records,
    render_dns_status,
)
from federation_operator.planning.services import is_in_sync, is_owned_by, render_member_service
from federation_operator.planning.status import (
    render_condition,
    render_ready_condition,
    render_shard,
    render_status,
)

__all__ = ["FederatedServiceStore", "Propagator"]

log = logging.getLogger(__name__)


class FederatedServiceStore:
    """The latest body of every FederatedService, as the host watch delivered it."""

    def __init__(self) -> None:
        self._bodies: dict[Key, dict[str, Any]] = {}

    def put(self, body: Mapping[str, Any]) -> Key:
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        self._bodies[key] = thaw(body)
        return key

    def remove(self, key: Key) -> None:
        self._bodies.pop(key, None)

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def known(self) -> list[Key]:
        return list(self._bodies)


def _previous_status(body: Mapping[str, Any]) -> FederatedServiceStatus | None:
    raw = body.get("status") or {}
    try:
        return FederatedServiceStatus.model_validate(raw)
    except ValidationError:
        return None  # written by an older version or by hand: rebuilt from scratch


# How long a status write may wait for the DNS provider's answer to records just submitted.
STATUS_DEFER_SECONDS = 1.0

# The writes to member Services a reconcile reports (event reasons).
CREATED, UPDATED, WITHDRAWN = "Created", "Updated", "Withdrawn"


class Propagator:
    """Reconciles FederatedServices against the members in the registry."""

    def __init__(
        self,
        *,
        federation: str,
        registry: MemberRegistry,
        store: FederatedServiceStore,
        host_api: client.ApiClient,
        emit: EventSink,
        publisher: Publisher | None = None,
        domain: str | None = None,
        grace_seconds: float = 40.0,
        metrics: Metrics | None = None,
        expected_members: Callable[[], Collection[str]] = frozenset,
        dns_defaults: DnsDefaults | None = None,
        gate: ShutdownGate | None = None,
    ) -> None:
        self.federation = federation
        # Once closed, a reconcile writes nothing: not to members, not to DNS, not to the status.
        self.gate = gate or ShutdownGate()
        self.dns_defaults = dns_defaults or DnsDefaults()
        # Every MemberCluster that exists, connected or not; and when we started: DNS holds while a member
        # that exists has not connected yet (for at most the grace period), so a restart withdraws nothing.
        self.expected_members = expected_members
        self.started_at = time.monotonic()
        self.publisher = publisher
        self.domain = domain
        self.grace_seconds = grace_seconds
        self.registry = registry
        self.store = store
        self.host_api = host_api
        self._written: dict[Key, dict[str, Any]] = {}
        self._namespaces: set[tuple[str, str]] = set()  # (cluster, namespace) seen to exist
        self.events = EventReporter(emit, log)
        self._status_deferred: dict[Key, float] = {}  # when a status write was first put off (monotonic)
        self.member_writes = 0  # creates, applies and deletes sent to members (for tests and benchmarks)
        self.metrics = metrics

    def _count_write(self, cluster: str, verb: str) -> None:
        self.member_writes += 1
        if self.metrics is not None:
            self.metrics.count_member_write(cluster, verb)

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)
        self._status_deferred.pop(key, None)
        if self.publisher is not None:
            self.publisher.forget(key)
        if self.metrics is not None:
            self.metrics.forget_shards(key)
        self.events.forget(key)

    # --- the reconcile ----------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        """Bring members and status in line with the FederatedService; returns a retry delay or None."""
        body = self.store.get(key)
        if body is None or body["metadata"].get("deletionTimestamp") or self.gate.is_closed():
            return None  # gone, or the delete handler is cleaning up, or we are stopping
        namespace, name = key
        meta = body["metadata"]
        generation = int(meta.get("generation") or 0)
        previous = _previous_status(body)
        clusters = {c.name: c for c in self.registry.clusters()}
        now = datetime.datetime.now(datetime.UTC)

        try:
            spec = parse_federated_service_spec(body.get("spec") or {})
            desired = self._plan(spec, body, list(clusters.values()))
        except InvalidSpecError as err:
            status = render_status(
                generation=generation,
                shards=previous.shards if previous else (),
                unknown_clusters=(),
                invalid=err,
                previous=previous,
                now=now,
            )
            await self._write_status(key, body, status)
            self.events.report(body, "spec", "Warning", "InvalidSpec", str(err))
            return None
        self.events.clear(key, "spec")

        retry: float | None = None
        shards: list[ShardStatus] = []
        reachable_view: list[ShardStatus] = []  # shards as they were when their member was last reachable
        done: dict[str, list[str]] = {}  # what was written where: one event per kind of write
        # The members are written to all at once: a reconcile waits for its slowest member, not for the sum
        # of their round trips (members sit in other regions, tens to hundreds of milliseconds away).
        seen = {c: self.registry.service(c, namespace, name) for c in clusters}
        writes: dict[str, Awaitable[Any]] = {}
        for cluster_name, info in clusters.items():
            manifest = desired.get(cluster_name)
            if manifest is None:
                writes[cluster_name] = self._withdraw(body, info, seen[cluster_name])
            elif info.ready and info.synced:
                writes[cluster_name] = self._ensure(body, info, manifest, seen[cluster_name])
        outcomes = dict(
            zip(writes, await asyncio.gather(*writes.values(), return_exceptions=True), strict=True)
        )
        if self.gate.is_closed():
            # Stopping began while the writes were out: members may already be disconnecting, so what
            # follows (shards, DNS, status) would describe our teardown. Nothing below awaits until the
            # status write, so this one check covers the DNS submission too.
            return None
        for cluster_name, info in clusters.items():
            observed = seen[cluster_name]
            manifest = desired.get(cluster_name)
            outcome = outcomes.get(cluster_name)
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, TransientError | PermanentError
            ):
                raise outcome
            if manifest is None:
                if outcome is True:
                    done.setdefault(WITHDRAWN, []).append(cluster_name)
                elif isinstance(outcome, BaseException):
                    raise outcome  # a failed withdrawal: the whole reconcile is retried, as before
                continue
            problem: str | None = None
            in_sync = False
            if not info.ready or not info.synced:
                problem = "cluster not ready" if not info.ready else "cluster watches not synced yet"
            elif isinstance(outcome, TransientError):
                problem, retry = str(outcome), 5.0
            elif isinstance(outcome, PermanentError):
                problem = str(outcome)
            else:
                assert outcome is not None  # a ready, synced member always had its write
                observed, in_sync, problem, wrote = outcome
                if wrote is not None:
                    done.setdefault(wrote, []).append(cluster_name)
            owned = observed is not None and is_owned_by(
                observed, self.federation, namespace, name, str(meta["uid"])
            )
            endpoints = self.registry.endpoints(cluster_name, namespace, name)
            shard = render_shard(
                cluster=info,
                desired_present=True,
                observed=observed,
                in_sync=in_sync,
                endpoints=endpoints,
                min_ready_endpoints=spec.dns.effective_min_ready_endpoints(self.dns_defaults),
                problem=problem,
                owned=owned,
            )
            shards.append(shard)
            if info.ready:
                reachable_view.append(shard)
            else:
                reachable_view.append(
                    render_shard(
                        cluster=replace(info, ready=True),
                        desired_present=True,
                        observed=observed,
                        in_sync=observed is not None and owned and is_in_sync(observed.manifest, manifest),
                        endpoints=endpoints,
                        min_ready_endpoints=spec.dns.effective_min_ready_endpoints(self.dns_defaults),
                        problem=None,
                        owned=owned,
                    )
                )
        self._announce(body, done)
        missing = unknown_clusters(spec.placement, list(clusters.values()))
        status = render_status(
            generation=generation,
            shards=shards,
            unknown_clusters=missing,
            invalid=None,
            previous=previous,
            now=now,
        )
        publishing = False
        if self.publisher is not None and self.domain:
            status, dns_retry, publishing = self._publish(
                key=key,
                body=body,
                spec=spec,
                clusters=list(clusters.values()),
                shards=shards,
                reachable_view=reachable_view,
                status=status,
            )
            if dns_retry is not None:
                retry = dns_retry if retry is None else min(retry, dns_retry)
        if publishing and self._defer_status(key):
            # New records are on their way to the provider, and its answer (milliseconds away, as a rule)
            # re-queues this FederatedService: one status write then says both what changed and what was
            # published, instead of two. Never for longer than STATUS_DEFER_SECONDS.
            return STATUS_DEFER_SECONDS if retry is None else min(retry, STATUS_DEFER_SECONDS)
        self._status_deferred.pop(key, None)
        await self._write_status(key, body, status)
        return retry

    def _defer_status(self, key: Key) -> bool:
        first = self._status_deferred.setdefault(key, time.monotonic())
        return time.monotonic() - first < STATUS_DEFER_SECONDS

    def _publish(
        self,
        *,
        key: Key,
        body: Mapping[str, Any],
        spec: FederatedServiceSpec,
        clusters: list[ClusterInfo],
        shards: list[ShardStatus],
        reachable_view: list[ShardStatus],
        status: FederatedServiceStatus,
    ) -> tuple[FederatedServiceStatus, float | None, bool]:
        """Hand the desired records to the publisher; fold what it last reported into the status. The flag
        says whether records were submitted that the publisher has not reported on yet."""
        assert self.publisher is not None
        assert self.domain is not None
        namespace, name = key
        names = ServiceNames(
            service=name, namespace=namespace, federation=self.federation, domain=self.domain
        )
        # Partition guard: every member unreachable at once means we are the ones cut off.
        frozen = len(clusters) >= 2 and not any(c.ready for c in clusters)
        self.publisher.set_frozen(frozen)
        dns = plan_dns_shards(
            clusters=clusters,
            shards=shards,
            shards_if_reachable=reachable_view,
            grace=self.grace_seconds,
            now=time.monotonic(),
            expected=self.expected_members(),
            started_at=self.started_at,
        )
        submitted: tuple[RecordSet, ...] | None = None
        if not frozen and not dns.hold:
            submitted = plan_service_records(
                names=names,
                ttl=spec.dns.effective_ttl(self.dns_defaults),
                aliases=spec.dns.aliases,
                clusters=clusters,
                healthy=dns.healthy,
            )
            self.publisher.submit(key, submitted)
        if frozen:
            self.events.report(
                body,
                "partition",
                "Warning",
                "PartitionGuard",
                "every member cluster is unreachable: DNS frozen as last published",
            )
        else:
            self.events.clear(key, "partition")
        previous_dns = status.dns
        dns_status, verdict = render_dns_status(
            names=names,
            regions=[c.region for c in clusters],
            submitted=submitted,
            result=self.publisher.result(key),
            frozen=frozen,
            hold_reason=dns.hold_reason,
            previous=previous_dns,
        )
        if verdict.reason in ("ProviderError", "Conflict"):
            self.events.report(body, "dns", "Warning", f"DNS{verdict.reason}", verdict.message)
        elif verdict.reason == "Published":
            self.events.report(body, "dns", "Normal", "DNSPublished", verdict.message)
        now = datetime.datetime.now(datetime.UTC)
        generation = status.observed_generation
        kept = [c for c in status.conditions if c.type not in (CONDITION_DNS_PUBLISHED, CONDITION_READY)]
        published = render_condition(
            status.conditions,
            CONDITION_DNS_PUBLISHED,
            verdict.status,
            verdict.reason,
            verdict.message,
            generation=generation,
            now=now,
        )
        dependencies = [c for c in kept if c.type in (CONDITION_PROPAGATED, CONDITION_HEALTHY)] + [published]
        ready = render_ready_condition(
            dependencies, generation=generation, previous=status.conditions, now=now
        )
        status = status.model_copy(update={"conditions": (*kept, published, ready), "dns": dns_status})
        retry = dns.recheck_after + 0.5 if dns.recheck_after is not None else None
        if dns.hold:
            retry = 2.0  # look again soon: a member's watches are still listing
        result = self.publisher.result(key)
        publishing = submitted is not None and (result is None or result.desired != submitted)
        return status, retry, publishing

    def _plan(
        self, spec: FederatedServiceSpec, body: Mapping[str, Any], clusters: list[ClusterInfo]
    ) -> dict[str, dict[str, Any]]:
        meta = body["metadata"]
        desired: dict[str, dict[str, Any]] = {}
        for cluster in plan_placement(spec.placement, clusters):
            patches, prefix = plan_cluster_overrides(spec.overrides, cluster)
            desired[cluster] = render_member_service(
                federation=self.federation,
                namespace=str(meta["namespace"]),
                name=str(meta["name"]),
                owner_uid=str(meta["uid"]),
                template=spec.template,
                overrides=patches,
                override_field_prefix=prefix,
            )
        return desired

    async def _ensure(
        self,
        body: Mapping[str, Any],
        info: ClusterInfo,
        manifest: dict[str, Any],
        observed: ObservedService | None,
    ) -> tuple[ObservedService | None, bool, str | None, str | None]:
        """Create or repair the member Service; returns (what is there now, in sync?, problem, the write
        made: CREATED, UPDATED or None)."""
        api = self.registry.api(info.name)
        if api is None:
            return observed, False, "cluster no longer registered", None
        meta = body["metadata"]
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        key = (namespace, name)
        if observed is None:
            # Namespaces known to exist are not asked for again: one round trip less per Service created.
            if (info.name, namespace) not in self._namespaces:
                self.gate.check(f"creating namespace {namespace} in {info.name}")
                await asyncio.to_thread(ensure_namespace, api, namespace)
                self._namespaces.add((info.name, namespace))
            try:
                self.gate.check(f"creating Service {namespace}/{name} in {info.name}")
                created = await asyncio.to_thread(create_service, api, manifest)
            except TransientError:
                self._namespaces.discard((info.name, namespace))  # it may have been deleted meanwhile
                raise
            except ServiceExistsError:
                live = await asyncio.to_thread(fetch_service, api, namespace, name)
                if live is None:
                    raise TransientError("Service vanished while being created; retrying") from None
                observed = observe_service(info.name, live)
            else:
                self._count_write(info.name, "create")
                self.events.clear(key, f"conflict/{info.name}")
                return observe_service(info.name, created), True, None, CREATED
        if not is_owned_by(observed, self.federation, namespace, name, uid):
            message = (
                f"a Service {namespace}/{name} not managed by this FederatedService already exists in "
                f"{info.name}; it is left untouched"
            )
            self.events.report(body, f"conflict/{info.name}", "Warning", "Conflict", message)
            return observed, False, f"Conflict: {message}", None
        self.events.clear(key, f"conflict/{info.name}")
        if is_in_sync(observed.manifest, manifest):
            return observed, True, None, None
        self.gate.check(f"updating Service {namespace}/{name} in {info.name}")
        applied = await asyncio.to_thread(apply_service, api, manifest)
        self._count_write(info.name, "apply")
        return observe_service(info.name, applied), True, None, UPDATED

    async def _withdraw(
        self, body: Mapping[str, Any], info: ClusterInfo, observed: ObservedService | None
    ) -> bool:
        """A cluster no longer selected: remove our Service there (only ours, only with the UID we saw).
        True when a deletion was sent."""
        meta = body["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        if observed is None or not is_owned_by(observed, self.federation, namespace, name, str(meta["uid"])):
            return False
        api = self.registry.api(info.name)
        if api is None or not info.ready:
            return False  # done when the cluster is back: it is re-planned then
        uid = observed.manifest.get("metadata", {}).get("uid")
        self.gate.check(f"removing Service {namespace}/{name} from {info.name}")
        await asyncio.to_thread(delete_service, api, namespace, name, uid)
        self._count_write(info.name, "delete")
        return True

    def _announce(self, body: Mapping[str, Any], done: Mapping[str, list[str]]) -> None:
        """One event per kind of member write made by a reconcile, naming the clusters: with many members
        an event per cluster would multiply the host's event writes for no more information."""
        generation = body["metadata"].get("generation")
        phrases = {
            CREATED: "Service created in {}",
            UPDATED: f"Service brought in line with the spec (generation {generation}) in {{}}",
            WITHDRAWN: "Service removed from {}",
        }
        for reason, clusters in done.items():
            self.events.post(body, "Normal", reason, phrases[reason].format(", ".join(sorted(clusters))))

    async def _write_status(self, key: Key, body: Mapping[str, Any], status: FederatedServiceStatus) -> None:
        if self.metrics is not None:
            self.metrics.set_shards(key, (ShardHealth(s.cluster, s.healthy) for s in status.shards))
        rendered = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if rendered == self._written.get(key) or rendered == body.get("status"):
            self._written[key] = rendered
            return
        namespace, name = key
        if self.gate.is_closed():
            return
        await asyncio.to_thread(host.patch_federated_service_status, self.host_api, namespace, name, rendered)
        self._written[key] = rendered

    # --- deletion ----------------------------------------------------------------------------------------

    async def cleanup(self, body: Mapping[str, Any]) -> list[str]:
        """Remove this FederatedService's Services from every member; returns clusters that were skipped.

        Only Services we own (labels naming this object) are deleted, each with a UID precondition. A member
        that is not Ready is skipped with a warning rather than blocking the deletion forever.
        """
        meta = body["metadata"]
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        skipped: list[str] = []
        # A member that our own shutdown disconnected is not "unreachable": keep the finalizer for the next
        # replica rather than skipping it.
        self.gate.check(f"cleaning up {namespace}/{name}")
        for info in self.registry.clusters():
            api = self.registry.api(info.name)
            if api is None:
                continue
            if not info.ready:
                skipped.append(info.name)
                continue
            observed = self.registry.service(info.name, namespace, name)
            if observed is None and not info.synced:
                live = await asyncio.to_thread(fetch_service, api, namespace, name)
                observed = observe_service(info.name, live) if live else None
            if observed is None or not is_owned_by(observed, self.federation, namespace, name, uid):
                continue
            self.gate.check(f"removing Service {namespace}/{name} from {info.name}")
            await asyncio.to_thread(
                delete_service, api, namespace, name, observed.manifest.get("metadata", {}).get("uid")
            )
            self._count_write(info.name, "delete")
        # Members disconnected by a shutdown that began meanwhile were passed over above, not cleaned.
        self.gate.check(f"finishing the cleanup of {namespace}/{name}")
        if self.publisher is not None:
            try:
                async with asyncio.timeout(20):
                    await self.publisher.withdraw((namespace, name))
            except TimeoutError as exc:
                raise TransientError("its DNS records are not removed yet") from exc
        self.forget((namespace, name))
        return skipped
