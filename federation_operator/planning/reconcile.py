"""One FederatedService's reconcile, planned: the member writes it needs, then — given what those writes
left behind — its shard health, DNS records, status and events.

The controller (:mod:`federation_operator.controllers.federated_service`) runs it as
observe → :func:`plan_member_writes` → apply the writes → :func:`plan_reconcile` → submit the records and
write the status. The writes' results are observations too (a created Service, a member's refusal), so
health is planned after them: the status then says what the members hold now, in one write.

A FederatedService re-created under its old name (a restore) adopts the member Services its predecessor
left, by their labels (:func:`~federation_operator.planning.services.is_owned_by`): they are planned like
any Service of its own, so one that matches the spec is kept without a write, and an ``Adopted`` event says
so once per member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.health import HealthSnapshot
from federation_operator.domain.health_checks import ProviderHealth
from federation_operator.domain.keys import Key
from federation_operator.domain.members import ClusterInfo, EndpointSummary, ObservedService
from federation_operator.domain.records import (
    ProviderLimits,
    PublishResult,
    RecordSet,
    ServiceNames,
    ShardAddresses,
)
from federation_operator.domain.specs import DnsDefaults, FederatedServiceSpec
from federation_operator.domain.status import CONDITION_DNS_PUBLISHED, FederatedServiceStatus
from federation_operator.planning.health import Partition, ShardObservation, plan_health
from federation_operator.planning.overrides import plan_cluster_overrides
from federation_operator.planning.placement import plan_placement, unknown_clusters
from federation_operator.planning.policy import (
    plan_mirrors_refusal,
    plan_policy_refusal,
    render_policy_shards,
)
from federation_operator.planning.provider_health import (
    plan_provider_health_events,
    render_provider_health,
)
from federation_operator.planning.publication import (
    Share,
    plan_service_tiers,
    plan_shard_addresses,
    plan_shares,
    plan_topology,
    render_dns_status,
)
from federation_operator.planning.records import TierPlan, plan_alias_tier_problems
from federation_operator.planning.services import (
    is_adopted,
    is_in_sync,
    is_owned_by,
    render_member_service,
)
from federation_operator.planning.status import DnsVerdict, render_shard_status, render_status
from federation_operator.planning.tenancy import plan_alias_refusal
from federation_operator.planning.zones import plan_alias_zone_refusal

__all__ = [
    "ADOPTED",
    "CREATED",
    "UPDATED",
    "WITHDRAWN",
    "Federation",
    "MemberPlan",
    "MemberWrite",
    "Observation",
    "PlannedEvent",
    "ReconcileMemo",
    "ReconcilePlan",
    "WriteResult",
    "plan_member_write",
    "plan_member_writes",
    "plan_reconcile",
]

# The writes to member Services a reconcile reports (event reasons).
CREATED, UPDATED, WITHDRAWN = "Created", "Updated", "Withdrawn"
# A member Service left by an earlier FederatedService of the same name, taken over (event reason).
ADOPTED = "Adopted"
# How soon to look again after a member refused a write for a reason that may pass.
TRANSIENT_RETRY_SECONDS = 5.0

Action = Literal["create", "update", "keep", "conflict", "wait", "withdraw"]


@dataclass(frozen=True)
class Federation:
    """What every reconcile of this operator shares: names, defaults, the grace period."""

    name: str
    domain: str | None  # None: DNS publishing is off
    defaults: DnsDefaults = field(default_factory=DnsDefaults)
    grace: float = 40.0
    # Namespace ("*": every namespace) → the domains its aliases may use, beyond its own subtree.
    alias_domains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # What the DNS provider accepts: a tier over its values per record set publishes a subset, said so.
    limits: ProviderLimits = field(default_factory=ProviderLimits)
    # Every zone DNS is published to (aliases must lie in one); empty: ``domain`` alone.
    zones: tuple[str, ...] = ()
    # The DNS providers of the federation's zone (every mirror): which spec.dns.policy types all of them
    # publish. Empty: not known here (only what no provider publishes is refused).
    providers: tuple[str, ...] = ()

    @property
    def managed_zones(self) -> tuple[str, ...]:
        return self.zones or ((self.domain,) if self.domain is not None else ())


@dataclass(frozen=True)
class Observation:
    """Everything one reconcile reads, at one moment: the object, the members' caches, the publisher."""

    key: Key
    generation: int
    uid: str
    spec: FederatedServiceSpec | InvalidSpecError
    previous: FederatedServiceStatus | None
    clusters: tuple[ClusterInfo, ...]
    services: Mapping[str, ObservedService | None]
    endpoints: Mapping[str, EndpointSummary]
    published: PublishResult | None
    expected: frozenset[str]
    started_at: float
    monotonic: float
    now: datetime
    # The latest time every member was unreachable at once (its time does not count toward grace periods).
    partition: Partition = field(default_factory=Partition)
    # What the DNS provider's own health checks last said of the object's shares, by set identifier.
    provider_health: Mapping[str, ProviderHealth] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberWrite:
    """What one member needs: `create`/`update` (to `manifest`), `withdraw`, or nothing (`keep`: in sync;
    `conflict`: a Service we do not own holds the name; `wait`: the member is not ready or not listed)."""

    cluster: str
    action: Action
    manifest: Mapping[str, Any] | None
    observed: ObservedService | None


@dataclass(frozen=True)
class WriteResult:
    """What a member write left behind: the Service now there, whether it is in sync, the write made
    (CREATED / UPDATED / WITHDRAWN or None), and the member's refusal, if any (`transient`: worth a retry;
    `rejected`: the member's API server refused the Service itself, which only the user can fix)."""

    observed: ObservedService | None
    in_sync: bool
    wrote: str | None = None
    problem: str | None = None
    transient: bool = False
    rejected: bool = False


@dataclass(frozen=True)
class PlannedEvent:
    """An event to post: once per distinct message under `topic`, or every time when `topic` is None."""

    topic: str | None
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class ReconcilePlan:
    """The rest of a reconcile once the member writes are made."""

    health: HealthSnapshot | None
    records: tuple[RecordSet, ...] | None  # to submit; None: leave DNS as it is
    status: FederatedServiceStatus
    events: tuple[PlannedEvent, ...] = ()
    cleared: tuple[str, ...] = ()  # event topics whose problem went away
    retry_after: float | None = None


@dataclass(frozen=True)
class MemberPlan:
    """The write each member needs; none when the spec is `invalid` (existing Services stay as they are)."""

    writes: tuple[MemberWrite, ...]
    invalid: InvalidSpecError | None = None


class ReconcileMemo:
    """What the last reconcile of one FederatedService planned, kept to skip planning it again from the same
    inputs (most reconciles follow an event that changed nothing they read, or one shard's endpoints).

    Planning stays pure: each entry is kept with every input it was computed from, and used only when the
    new inputs are the same objects or equal to them, so a hit returns exactly what the call would. The
    controller keeps one per FederatedService and drops it with the object; what it holds is mostly shared
    with what the controller keeps anyway (the parsed spec, the member caches' Services, the records the
    publisher holds).
    """

    __slots__ = ("_manifests", "_shares", "_sync", "_tiers")

    def __init__(self) -> None:
        self._manifests: tuple[tuple[object, ...], dict[str, Any] | InvalidSpecError] | None = None
        # Cluster -> (the Service observed there, the manifest it was compared with, in sync).
        self._sync: dict[str, tuple[ObservedService, Mapping[str, Any], bool]] = {}
        self._tiers: tuple[tuple[object, ...], TierPlan] | None = None
        # The counted shards' shares and their addresses, as last planned (aligned).
        self._shares: tuple[tuple[Share, ...], tuple[ShardAddresses, ...]] = ((), ())

    def manifests(
        self, inputs: tuple[object, ...], compute: Callable[[], dict[str, Any] | InvalidSpecError]
    ) -> dict[str, Any] | InvalidSpecError:
        if self._manifests is None or not _same(self._manifests[0], inputs):
            self._manifests = (inputs, compute())
            self._sync.clear()  # new manifests: nothing was compared with them yet
        return self._manifests[1]

    def in_sync(self, cluster: str, observed: ObservedService, manifest: Mapping[str, Any]) -> bool:
        held = self._sync.get(cluster)
        if held is not None and held[0] is observed and held[1] is manifest:
            return held[2]
        in_sync = is_in_sync(observed.manifest, manifest)
        self._sync[cluster] = (observed, manifest, in_sync)
        return in_sync

    def tiers(
        self, inputs: tuple[object, ...], compute: Callable[[tuple[RecordSet, ...]], TierPlan]
    ) -> TierPlan:
        """The tiers planned from ``inputs``: the last ones when these are the same, else ``compute(last
        records)`` (record sets that did not change are then the same objects, not new equal ones)."""
        if self._tiers is None:
            self._tiers = (inputs, compute(()))
        elif not _same(self._tiers[0], inputs):
            self._tiers = (inputs, compute(self._tiers[1].records))
        return self._tiers[1]

    def addresses(self, shares: tuple[Share, ...]) -> tuple[ShardAddresses, ...]:
        """The shares' addresses: those of a share unchanged since the last plan are the ones made then."""
        held, made = self._shares
        if held != shares:
            made = plan_shard_addresses(shares, dict(zip(held, made, strict=True)))
            self._shares = (shares, made)
        return made


def _same(held: tuple[object, ...], inputs: tuple[object, ...]) -> bool:
    """The same inputs: each the same object or an equal value (a pure function gives the same result)."""
    return len(held) == len(inputs) and all(a is b or a == b for a, b in zip(held, inputs, strict=True))


def plan_member_writes(
    observation: Observation, federation: Federation, memo: ReconcileMemo | None = None
) -> MemberPlan:
    """The Service each selected member should hold, and the write it needs to get there (``memo``: the
    object's :class:`ReconcileMemo`, to skip rendering and comparing again what has not changed)."""
    if memo is None:
        manifests = _plan_manifests(observation, federation)
    else:
        inputs = (observation.spec, observation.key, observation.uid, federation, observation.clusters)
        manifests = memo.manifests(inputs, lambda: _plan_manifests(observation, federation))
    if isinstance(manifests, InvalidSpecError):
        return MemberPlan((), invalid=manifests)
    return MemberPlan(
        tuple(
            plan_member_write(
                observation,
                federation.name,
                c,
                manifests.get(c.name),
                observation.services.get(c.name),
                memo=memo,
            )
            for c in observation.clusters
        )
    )


def plan_reconcile(
    observation: Observation,
    federation: Federation,
    members: MemberPlan,
    results: Mapping[str, WriteResult],
    memo: ReconcileMemo | None = None,
) -> ReconcilePlan:
    """Health, records, status and events, from the observation, the member plan and what its writes left
    behind (`results`, by cluster); ``memo``: the object's :class:`ReconcileMemo` (the records are planned
    again only when what they are planned from changed)."""
    spec = observation.spec
    if members.invalid is not None:
        return _plan_invalid(observation, members.invalid)
    assert not isinstance(spec, InvalidSpecError)
    writes = members.writes
    selected = [w for w in writes if w.action != "withdraw" and w.manifest is not None]
    by_name = {c.name: c for c in observation.clusters}
    shards = [
        _observe_shard(observation, federation, by_name[w.cluster], w, results.get(w.cluster))
        for w in selected
    ]
    health = plan_health(
        shards,
        clusters=observation.clusters,
        min_ready_endpoints=spec.dns.effective_min_ready_endpoints(federation.defaults),
        grace=federation.grace,
        now=observation.monotonic,
        expected=observation.expected,
        started_at=observation.started_at,
        partition=observation.partition,
    )
    events, cleared = _write_events(observation, federation.name, writes, results)
    records: tuple[RecordSet, ...] | None = None
    notes: tuple[str, ...] = ()
    unanswered: frozenset[str] = frozenset()
    dns = None
    if federation.domain is not None:
        names = ServiceNames(
            service=observation.key[1],
            namespace=observation.key[0],
            federation=federation.name,
            domain=federation.domain,
        )
        if health.publishable:
            tiers = _plan_tiers(observation, federation, spec, names, health, memo=memo)
            records, notes, unanswered = tiers.records, tiers.notes, tiers.unanswered
        previous_dns = observation.previous.dns if observation.previous else None
        alias_problems = plan_alias_tier_problems(spec.dns.aliases, plan_topology(observation.clusters))
        said = _dns_verdict_said(observation)
        current = (
            observation.previous is not None
            and observation.previous.observed_generation == observation.generation
        )
        dns = render_dns_status(
            names=names,
            regions=[c.region for c in observation.clusters],
            submitted=records,
            result=observation.published,
            health=health,
            previous=previous_dns,
            notes=notes,
            inherited=said if current else None,
        )
        if alias_problems and dns[1].status == "True":
            # The rest is published; the alias to a tier the federation lacks is not, and Ready says so.
            dns = (
                dns[0],
                DnsVerdict(
                    "False", "InvalidAlias", f"{'; '.join(alias_problems)} (the rest: {dns[1].message})"
                ),
            )
        if spec.dns.policy is not None and dns[0] is not None and dns[0] is not previous_dns:
            dns = (dns[0].model_copy(update={"policy": spec.dns.policy.type}), dns[1])
        more_events, more_cleared = _dns_events(health, dns[1], said)
        events += more_events
        cleared += more_cleared
    shard_status = [render_shard_status(s) for s in health.shards]
    if federation.domain is not None and spec.dns.policy is not None:
        counted = health.counted() if health.publishable else None
        shard_status = list(
            render_policy_shards(
                spec.dns.policy,
                observation.clusters,
                shard_status,
                counted,
                hostname_aliases=federation.limits.hostname_aliases,
                unanswered=unanswered,
            )
        )
        if spec.dns.policy.health_check is not None:
            checked = records if records is not None else _published(observation)
            shard_status = list(render_provider_health(shard_status, checked, observation.provider_health))
            failing, healed = plan_provider_health_events(shard_status)
            events += [PlannedEvent(t, "Warning", "ProviderHealthCheckFailed", m) for t, m in failing]
            cleared += tuple(healed)
    status = render_status(
        generation=observation.generation,
        shards=shard_status,
        unknown_clusters=unknown_clusters(spec.placement, observation.clusters),
        invalid=None,
        previous=observation.previous,
        now=observation.now,
        dns=dns,
    )
    return ReconcilePlan(
        health=health,
        records=records,
        status=status,
        events=(*events,),
        cleared=("spec", *cleared),
        retry_after=_retry_after(health, results, dns_on=federation.domain is not None),
    )


def _plan_tiers(
    observation: Observation,
    federation: Federation,
    spec: FederatedServiceSpec,
    names: ServiceNames,
    health: HealthSnapshot,
    *,
    memo: ReconcileMemo | None,
) -> TierPlan:
    counted = health.counted()
    ttl = spec.dns.effective_ttl(federation.defaults)

    def plan(
        reuse: tuple[RecordSet, ...] = (), addresses: tuple[ShardAddresses, ...] | None = None
    ) -> TierPlan:
        return plan_service_tiers(
            names=names,
            ttl=ttl,
            aliases=spec.dns.aliases,
            clusters=observation.clusters,
            counted=counted,
            limits=federation.limits,
            policy=spec.dns.policy,
            reuse=reuse,
            addresses=addresses,
        )

    if memo is None:
        return plan()
    # Of the counted shards, what the tiers are planned from (plan_service_tiers: their addresses).
    shares = plan_shares(counted)
    inputs = (names, ttl, spec.dns.aliases, observation.clusters, shares, federation.limits, spec.dns.policy)
    return memo.tiers(inputs, lambda reuse: plan(reuse, memo.addresses(shares)))


def _published(observation: Observation) -> tuple[RecordSet, ...]:
    """The records last handed to the publisher (what its health checks are of), while none are planned."""
    return observation.published.desired if observation.published is not None else ()


def _plan_manifests(observation: Observation, federation: Federation) -> dict[str, Any] | InvalidSpecError:
    """The Service each selected member should hold, or why the spec cannot say (an override that does
    not apply, or an alias this namespace may not claim, is only found here, not by the schema)."""
    spec = observation.spec
    if isinstance(spec, InvalidSpecError):
        return spec
    if federation.domain is not None and spec.dns.aliases:
        refusal = plan_alias_zone_refusal(spec.dns.alias_names, zones=federation.managed_zones)
        if refusal is None:
            refusal = plan_alias_refusal(
                spec.dns.alias_names,
                namespace=observation.key[0],
                federation=federation.name,
                domain=federation.domain,
                alias_domains=federation.alias_domains,
                zones=federation.managed_zones,
            )
        if refusal is not None:
            return refusal
    if federation.domain is not None and spec.dns.policy is not None:
        placed = set(plan_placement(spec.placement, observation.clusters))
        regions = [c.region for c in observation.clusters if c.name in placed]
        # Every mirror of the federation's zone publishes the global name: each must be able to.
        for provider in federation.providers or (None,):
            refused = plan_policy_refusal(spec.dns.policy, provider=provider, regions=regions)
            if refused is not None:
                return refused
        refused = plan_mirrors_refusal(spec.dns.policy, federation.providers)
        if refused is not None:
            return refused
    try:
        return _render_manifests(observation, spec, federation.name)
    except InvalidSpecError as err:
        return err


def _render_manifests(
    observation: Observation, spec: FederatedServiceSpec, federation: str
) -> dict[str, Any]:
    namespace, name = observation.key
    manifests: dict[str, Any] = {}
    plain: dict[str, Any] | None = None  # the manifest of every cluster without overrides: rendered once
    for cluster in plan_placement(spec.placement, observation.clusters):
        patches, prefix = plan_cluster_overrides(spec.overrides, cluster)
        if not patches and plain is not None:
            manifests[cluster] = plain
            continue
        manifests[cluster] = render_member_service(
            federation=federation,
            namespace=namespace,
            name=name,
            owner_uid=observation.uid,
            template=spec.template,
            overrides=patches,
            override_field_prefix=prefix,
        )
        if not patches:
            plain = manifests[cluster]
    return manifests


def plan_member_write(
    observation: Observation,
    federation: str,
    cluster: ClusterInfo,
    manifest: Mapping[str, Any] | None,
    observed: ObservedService | None,
    *,
    memo: ReconcileMemo | None = None,
) -> MemberWrite:
    """The write one member needs for `manifest` (None: not selected) given the Service `observed` there."""
    owned = observed is not None and _owned(observation, federation, observed)
    action: Action
    if manifest is None:
        action = "withdraw" if owned and cluster.ready else "keep"
    elif not (cluster.ready and cluster.synced):
        action = "wait"
    elif observed is None:
        action = "create"
    elif not owned:
        action = "conflict"
    else:
        if memo is not None:
            in_sync = memo.in_sync(cluster.name, observed, manifest)
        else:
            in_sync = is_in_sync(observed.manifest, manifest)
        action = "keep" if in_sync else "update"
    return MemberWrite(cluster.name, action, manifest, observed)


def _owned(observation: Observation, federation: str, observed: ObservedService) -> bool:
    namespace, name = observation.key
    return is_owned_by(observed, federation, namespace, name, observation.uid)


def _observe_shard(
    observation: Observation,
    federation: Federation,
    cluster: ClusterInfo,
    write: MemberWrite,
    result: WriteResult | None,
) -> ShardObservation:
    """The shard as the write left it; without a write, as the member's cache shows it."""
    observed = result.observed if result is not None else write.observed
    owned = observed is not None and _owned(observation, federation.name, observed)
    if result is not None:
        in_sync = result.in_sync
    elif write.action in _COMPARED:
        # plan_member_write compared this very Service with this manifest: keep is the one in sync.
        in_sync = write.action == "keep"
    else:
        in_sync = owned and _matches(observed, write.manifest)
    problem = result.problem if result is not None else None
    rejected = result is not None and result.rejected
    if write.action == "wait":
        problem = "cluster not ready" if not cluster.ready else "cluster watches not synced yet"
    elif _is_conflict(observation, federation.name, write, result):
        problem = f"Conflict: {_conflict_message(observation, write.cluster)}"
    return ShardObservation(
        cluster=cluster,
        observed=observed,
        owned=owned,
        in_sync=in_sync,
        endpoints=observation.endpoints.get(cluster.name),
        problem=problem,
        rejected=rejected,
    )


# The actions plan_member_write decides from the Service observed and the manifest (a selected member).
_COMPARED: frozenset[Action] = frozenset({"create", "update", "keep", "conflict"})


def _matches(observed: ObservedService | None, manifest: Mapping[str, Any] | None) -> bool:
    return observed is not None and manifest is not None and is_in_sync(observed.manifest, manifest)


def _is_conflict(
    observation: Observation, federation: str, write: MemberWrite, result: WriteResult | None
) -> bool:
    """A Service we do not own holds our name: seen in the cache (planned), or found by our create (the
    member caches hold only Services carrying our federation label, so a foreign one shows up this way)."""
    if write.action == "conflict":
        return True
    found = result.observed if result is not None else None
    return found is not None and not _owned(observation, federation, found)


def _write_events(
    observation: Observation,
    federation: str,
    writes: tuple[MemberWrite, ...],
    results: Mapping[str, WriteResult],
) -> tuple[list[PlannedEvent], list[str]]:
    """A Conflict warning per member where a foreign Service holds our name, a Rejected warning per member
    whose API server refused our Service (once per distinct message), an Adopted event per member whose
    Service a predecessor of the same name left (once per distinct message), and one event per kind of
    write made, naming the clusters (with many members, an event per cluster would multiply the host's
    event writes for no more information)."""
    events: list[PlannedEvent] = []
    cleared: list[str] = []
    done: dict[str, list[str]] = {}
    for write in writes:
        result = results.get(write.cluster)
        if _is_conflict(observation, federation, write, result):
            message = _conflict_message(observation, write.cluster)
            events.append(PlannedEvent(f"conflict/{write.cluster}", "Warning", "Conflict", message))
        elif result is not None and result.rejected and result.problem:
            events.append(PlannedEvent(f"rejected/{write.cluster}", "Warning", "Rejected", result.problem))
        elif write.action in ("create", "update", "keep") and (result is None or result.problem is None):
            cleared.extend((f"conflict/{write.cluster}", f"rejected/{write.cluster}"))
            if (predecessor := _predecessor(observation, federation, write, result)) is not None:
                message = (
                    f"Service left in {write.cluster} by an earlier FederatedService of this name "
                    f"(uid {predecessor}) adopted"
                )
                events.append(PlannedEvent(f"adopted/{write.cluster}", "Normal", ADOPTED, message))
        if result is not None and result.wrote is not None:
            done.setdefault(result.wrote, []).append(write.cluster)
    phrases = {
        CREATED: "Service created in {}",
        UPDATED: f"Service brought in line with the spec (generation {observation.generation}) in {{}}",
        WITHDRAWN: "Service removed from {}",
    }
    for reason, clusters in done.items():
        events.append(
            PlannedEvent(None, "Normal", reason, phrases[reason].format(", ".join(sorted(clusters))))
        )
    return events, cleared


def _predecessor(
    observation: Observation, federation: str, write: MemberWrite, result: WriteResult | None
) -> str | None:
    """The UID of the earlier FederatedService whose Service this write took over, if it did: the Service as
    it was before any write (planned against the cache, or found by our create)."""
    before = write.observed or (result.observed if result is not None and result.wrote is None else None)
    if before is None or not _owned(observation, federation, before):
        return None
    return before.owner_uid if is_adopted(before, observation.uid) else None


def _conflict_message(observation: Observation, cluster: str) -> str:
    namespace, name = observation.key
    return (
        f"a Service {namespace}/{name} not managed by this FederatedService already exists in {cluster}; "
        "it is left untouched"
    )


def _dns_verdict_said(observation: Observation) -> DnsVerdict | None:
    """The `DNSPublished` verdict the status holds (written by this operator, or by one before it)."""
    if observation.previous is None:
        return None
    for condition in observation.previous.conditions:
        if condition.type == CONDITION_DNS_PUBLISHED:
            return DnsVerdict(condition.status, condition.reason, condition.message)
    return None


def _dns_events(
    health: HealthSnapshot, verdict: DnsVerdict, said: DnsVerdict | None
) -> tuple[list[PlannedEvent], list[str]]:
    """The DNS events of ``verdict``; a `DNSPublished` only when the status does not say so already
    (``said``): once posted, it is in the status, which a restarted operator reads, unlike its memory of
    the events it posted."""
    events: list[PlannedEvent] = []
    cleared: list[str] = []
    if health.frozen:
        text = "every member cluster is unreachable: DNS frozen as last published"
        events.append(PlannedEvent("partition", "Warning", "PartitionGuard", text))
    else:
        cleared.append("partition")
    if verdict.reason in ("ProviderError", "ProviderRejected", "Conflict", "InvalidAlias"):
        events.append(PlannedEvent("dns", "Warning", f"DNS{verdict.reason}", verdict.message))
    elif verdict.reason == "Published" and verdict.status == "True" and verdict != said:
        events.append(PlannedEvent("dns", "Normal", "DNSPublished", verdict.message))
    return events, cleared


def _retry_after(health: HealthSnapshot, results: Mapping[str, WriteResult], *, dns_on: bool) -> float | None:
    retry = TRANSIENT_RETRY_SECONDS if any(r.transient for r in results.values()) else None
    if not dns_on:
        return retry
    # A hold is not polled: what ends it re-plans what waited (a member's first complete lists re-plan
    # everything, a view current again what was planned meanwhile: `MemberRegistry.replan_when_synced`; a
    # probe, every FederatedService); a member not connected yet is waited for until ``recheck_after``.
    dns_retry = health.recheck_after + 0.5 if health.recheck_after is not None else None
    if dns_retry is None:
        return retry
    return dns_retry if retry is None else min(retry, dns_retry)


def _plan_invalid(observation: Observation, error: InvalidSpecError) -> ReconcilePlan:
    """An invalid spec: the previous shards stay reported, nothing is written, the error is on the status."""
    previous = observation.previous
    status = render_status(
        generation=observation.generation,
        shards=previous.shards if previous else (),
        unknown_clusters=(),
        invalid=error,
        previous=previous,
        now=observation.now,
    )
    event = PlannedEvent("spec", "Warning", "InvalidSpec", str(error))
    return ReconcilePlan(health=None, records=None, status=status, events=(event,))
