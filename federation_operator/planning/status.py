"""FederatedService status: shards, conditions and aggregated ingress, rendered from what was observed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.keys import thaw
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress, ObservedService
from federation_operator.domain.status import (
    CONDITION_DNS_PUBLISHED,
    CONDITION_HEALTHY,
    CONDITION_PROPAGATED,
    CONDITION_READY,
    ClusterCounts,
    Condition,
    FederatedServiceStatus,
    IngressAddress,
    LoadBalancerStatus,
    ShardStatus,
)

__all__ = [
    "REASON_CLUSTER_NOT_READY",
    "REASON_CONFLICT",
    "REASON_HEALTHY",
    "REASON_INVALID_SPEC",
    "REASON_NOT_ENOUGH_READY_ENDPOINTS",
    "REASON_NOT_SELECTED",
    "REASON_NO_LOAD_BALANCER_INGRESS",
    "REASON_OUT_OF_SYNC",
    "REASON_PENDING",
    "REASON_SERVICE_MISSING",
    "REASON_UNKNOWN_CLUSTER",
    "ConditionStatus",
    "diff_status",
    "is_status_changed",
    "render_condition",
    "render_ready_condition",
    "render_shard",
    "render_status",
]

ConditionStatus = Literal["True", "False", "Unknown"]

# Shard reasons, in the order render_shard checks the health rules; the first rule that fails names the
# shard's reason. Some double as condition reasons.
REASON_NOT_SELECTED = "NotSelected"
REASON_CLUSTER_NOT_READY = "ClusterNotReady"
REASON_PENDING = "Pending"
REASON_SERVICE_MISSING = "ServiceMissing"
REASON_CONFLICT = "Conflict"
REASON_OUT_OF_SYNC = "OutOfSync"
REASON_NO_LOAD_BALANCER_INGRESS = "NoLoadBalancerIngress"
REASON_NOT_ENOUGH_READY_ENDPOINTS = "NotEnoughReadyEndpoints"
REASON_HEALTHY = "Healthy"

# Condition reasons.
REASON_INVALID_SPEC = "InvalidSpec"
REASON_UNKNOWN_CLUSTER = "UnknownCluster"
REASON_NO_CLUSTERS_SELECTED = "NoClustersSelected"
REASON_IN_SYNC = "InSync"
REASON_ALL_SHARDS_HEALTHY = "AllShardsHealthy"
REASON_SOME_SHARDS_HEALTHY = "SomeShardsHealthy"
REASON_NO_HEALTHY_SHARDS = "NoHealthyShards"
REASON_READY = "Ready"

# The conditions render_status computes, in the order they are listed; others (DNSPublished, set by the DNS
# work, or any another controller's) are carried over from the previous status untouched.
_OWN_CONDITIONS = (CONDITION_PROPAGATED, CONDITION_HEALTHY, CONDITION_READY)
# metav1.Condition's limit; lists of clusters and spec errors are cut there rather than fail validation.
_MAX_MESSAGE = 32768
_CONDITION_ORDER = (CONDITION_PROPAGATED, CONDITION_HEALTHY, CONDITION_DNS_PUBLISHED, CONDITION_READY)


def render_shard(
    *,
    cluster: ClusterInfo,
    desired_present: bool,
    observed: ObservedService | None,
    in_sync: bool,
    endpoints: EndpointSummary | None,
    min_ready_endpoints: int,
    problem: str | None,
    owned: bool,
) -> ShardStatus:
    """The status of the shard in ``cluster``, healthy only when every health rule holds.

    ``desired_present`` says whether the cluster should hold the Service (False while it is being removed
    from a cluster placement no longer selects); ``observed`` is the Service at our name, if any, and
    ``owned`` whether it is ours (:func:`~federation_operator.planning.services.is_owned_by`); ``in_sync``
    compares it with the desired manifest (:func:`~federation_operator.planning.services.is_in_sync`);
    ``problem`` is the last error applying it, if any, and is added to the message.

    The reason names the first rule that fails, in this order: ``NotSelected``, ``ClusterNotReady``,
    ``Pending`` (the cluster's watches have not listed its Services yet), ``ServiceMissing``, ``Conflict`` (a
    Service we do not own holds our name), ``OutOfSync``, ``NoLoadBalancerIngress``,
    ``NotEnoughReadyEndpoints``; else ``Healthy``. A foreign Service's ingress and endpoints are never
    reported as the shard's.
    """
    ours = observed is not None and owned
    ingress = _ingress_addresses(observed.ingress) if ours and observed is not None else ()
    ready = endpoints.ready if ours and endpoints is not None else 0
    synced = desired_present and ours and in_sync
    if ready > 0 and endpoints is not None and endpoints.zones:
        zones = tuple(sorted(endpoints.zones))
    else:
        zones = tuple(sorted(set(cluster.zones)))

    reason, message = _shard_verdict(
        cluster=cluster,
        desired_present=desired_present,
        observed=observed,
        ours=ours,
        in_sync=in_sync,
        has_ingress=bool(ingress),
        ready=ready,
        min_ready_endpoints=min_ready_endpoints,
    )
    if problem:
        message = f"{message}; {problem}"
    return ShardStatus(
        cluster=cluster.name,
        region=cluster.region or None,
        zones=zones,
        synced=synced,
        ingress=ingress,
        ready_endpoints=ready,
        healthy=reason == REASON_HEALTHY,
        reason=reason,
        message=message,
    )


def _shard_verdict(
    *,
    cluster: ClusterInfo,
    desired_present: bool,
    observed: ObservedService | None,
    ours: bool,
    in_sync: bool,
    has_ingress: bool,
    ready: int,
    min_ready_endpoints: int,
) -> tuple[str, str]:
    where = f"in cluster {cluster.name}"
    if not desired_present:
        return (
            REASON_NOT_SELECTED,
            f"cluster {cluster.name} is no longer selected; its Service is being removed",
        )
    if not cluster.ready:
        return REASON_CLUSTER_NOT_READY, f"cluster {cluster.name} is not Ready"
    if observed is None:
        if not cluster.synced:
            return REASON_PENDING, f"waiting for the first list of Services {where}"
        return REASON_SERVICE_MISSING, f"the Service does not exist {where} yet"
    if not ours:
        return REASON_CONFLICT, (
            f"Service {observed.namespace}/{observed.name} {where} is not managed by this FederatedService"
        )
    if not in_sync:
        return REASON_OUT_OF_SYNC, f"the Service {where} differs from the desired spec"
    if not has_ingress:
        return REASON_NO_LOAD_BALANCER_INGRESS, f"the Service {where} has no LoadBalancer ingress yet"
    counted = _ready_endpoints(ready)
    if ready < min_ready_endpoints:
        return REASON_NOT_ENOUGH_READY_ENDPOINTS, f"{counted}, {min_ready_endpoints} required"
    return REASON_HEALTHY, counted


def render_status(
    *,
    generation: int,
    shards: Sequence[ShardStatus],
    unknown_clusters: Sequence[str],
    invalid: InvalidSpecError | None,
    previous: FederatedServiceStatus | None,
    now: datetime,
) -> FederatedServiceStatus:
    """The FederatedService's status from its shards, in any order.

    ``shards`` holds one shard per selected cluster, plus one per cluster the Service is still being removed
    from (reason ``NotSelected``: listed, but not counted in ``clusters``).

    - ``Propagated``: True when every selected cluster holds an in-sync Service of ours and every named
      cluster is registered. Otherwise False with the most pressing reason (``InvalidSpec``, ``Conflict``,
      ``UnknownCluster``, ``ClusterNotReady``, ``Pending``, or ``NoClustersSelected``) and a message listing
      the clusters behind every reason.
    - ``Healthy``: True when at least one shard is healthy; the message reads "2/3 shards healthy".
    - ``Ready``: True when Propagated and Healthy are, and DNSPublished too once the DNS work has set it;
      otherwise False with the reason of the first condition that is not True.

    An invalid spec (``invalid``) keeps the previous shards, counts and ingress (nothing observed is lost),
    and sets Propagated and Ready to False with reason ``InvalidSpec`` and a message naming the field.
    ``DNSPublished``, any other condition, and ``dns`` are carried over from ``previous``. A condition's
    ``lastTransitionTime`` only moves when its status changes. ``now`` is truncated to whole seconds, as the
    API server writes times.
    """
    now = _whole_seconds(now)
    if invalid is not None and previous is not None:
        shards = previous.shards
    ordered = tuple(sorted(shards, key=lambda shard: shard.cluster))
    selected = [shard for shard in ordered if shard.reason != REASON_NOT_SELECTED]
    healthy = sum(1 for shard in selected if shard.healthy)
    previous_conditions = previous.conditions if previous is not None else ()

    def condition(type_: str, status: ConditionStatus, reason: str, message: str) -> Condition:
        return render_condition(
            previous_conditions, type_, status, reason, message, generation=generation, now=now
        )

    if invalid is not None:
        why = f"invalid spec: {invalid}"
        propagated = condition(CONDITION_PROPAGATED, "False", REASON_INVALID_SPEC, why)
    else:
        propagated = condition(CONDITION_PROPAGATED, *_propagation(ordered, unknown_clusters))
    computed = {
        CONDITION_PROPAGATED: propagated,
        CONDITION_HEALTHY: condition(CONDITION_HEALTHY, *_health(selected, healthy)),
    }
    kept = [c for c in previous_conditions if c.type not in _OWN_CONDITIONS]
    dependencies = [computed[CONDITION_PROPAGATED], computed[CONDITION_HEALTHY]]
    dependencies += [c for c in kept if c.type == CONDITION_DNS_PUBLISHED]
    computed[CONDITION_READY] = render_ready_condition(
        dependencies, generation=generation, previous=previous_conditions, now=now
    )
    conditions = [*computed.values(), *kept]
    conditions.sort(
        key=lambda c: _CONDITION_ORDER.index(c.type) if c.type in _CONDITION_ORDER else len(_CONDITION_ORDER)
    )

    return FederatedServiceStatus(
        observed_generation=generation,
        conditions=tuple(conditions),
        cluster_summary=f"{healthy}/{len(selected)}",
        clusters=ClusterCounts(healthy=healthy, total=len(selected)),
        shards=ordered,
        load_balancer=LoadBalancerStatus(ingress=_union_ingress(ordered)),
        dns=previous.dns if previous is not None else None,
    )


def render_condition(
    previous: Iterable[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
) -> Condition:
    """A condition whose ``lastTransitionTime`` is kept from ``previous`` unless its status changed."""
    last = next((c for c in previous if c.type == type_), None)
    since = last.last_transition_time if last is not None and last.status == status else _whole_seconds(now)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return Condition(
        type=type_,
        status=status,
        observed_generation=generation,
        last_transition_time=since,
        reason=reason,
        message=message,
    )


def render_ready_condition(
    dependencies: Sequence[Condition],
    *,
    generation: int | None,
    previous: Iterable[Condition],
    now: datetime,
) -> Condition:
    """``Ready``: True when every one of ``dependencies`` is, else False with the first failing one's reason.

    For the DNS work to recompute Ready after setting ``DNSPublished``: pass Propagated, Healthy and
    DNSPublished, in that order.
    """
    failing = next((c for c in dependencies if c.status != "True"), None)
    if failing is None:
        summary = next((c.message for c in dependencies if c.type == CONDITION_HEALTHY), "")
        return render_condition(
            previous, CONDITION_READY, "True", REASON_READY, summary, generation=generation, now=now
        )
    message = f"{failing.type} is {failing.status}: {failing.message}"
    return render_condition(
        previous, CONDITION_READY, "False", failing.reason, message, generation=generation, now=now
    )


def is_status_changed(old: Mapping[str, Any] | None, new: FederatedServiceStatus) -> bool:
    """Whether writing ``new`` would change the stored status ``old`` (raw JSON), by exact JSON equality."""
    return bool(thaw(old or {}) != _dump(new))


def diff_status(old: Mapping[str, Any] | None, new: FederatedServiceStatus) -> dict[str, Any] | None:
    """A JSON merge patch turning the stored status ``old`` into ``new``, or None when they are equal.

    Top-level fields that ``new`` no longer has are set to null, so that the merge patch removes them.
    """
    before, after = thaw(old or {}), _dump(new)
    if before == after:
        return None
    patch: dict[str, Any] = {key: value for key, value in after.items() if before.get(key) != value}
    patch.update({key: None for key in before if key not in after})
    return patch


# --- helpers ------------------------------------------------------------------------------------------------


def _propagation(shards: Sequence[ShardStatus], unknown: Sequence[str]) -> tuple[ConditionStatus, str, str]:
    # Most pressing first: a conflict and an unknown name need the user; the rest may settle by itself.
    groups: dict[str, list[str]] = {
        REASON_CONFLICT: [],
        REASON_UNKNOWN_CLUSTER: sorted(set(unknown)),
        REASON_CLUSTER_NOT_READY: [],
        REASON_PENDING: [],
        REASON_NOT_SELECTED: [],
    }
    for shard in shards:
        if shard.synced:
            continue
        reason = shard.reason or REASON_PENDING
        groups[reason if reason in groups else REASON_PENDING].append(shard.cluster)
    labels = {
        REASON_CONFLICT: "a Service not managed by this FederatedService holds its name in",
        REASON_UNKNOWN_CLUSTER: "not registered as MemberClusters",
        REASON_CLUSTER_NOT_READY: "not Ready",
        REASON_PENDING: "not in sync yet",
        REASON_NOT_SELECTED: "being removed from",
    }
    problems = [(reason, names) for reason, names in groups.items() if names]
    if problems:
        message = "; ".join(f"{labels[reason]}: {', '.join(names)}" for reason, names in problems)
        reason = problems[0][0]
        return "False", REASON_PENDING if reason == REASON_NOT_SELECTED else reason, message
    selected = [shard.cluster for shard in shards if shard.reason != REASON_NOT_SELECTED]
    if not selected:
        return "False", REASON_NO_CLUSTERS_SELECTED, "placement selects no registered MemberCluster"
    return "True", REASON_IN_SYNC, f"in sync in {_clusters(len(selected))}: {', '.join(selected)}"


def _health(selected: Sequence[ShardStatus], healthy: int) -> tuple[ConditionStatus, str, str]:
    message = f"{healthy}/{len(selected)} shards healthy"
    unhealthy = [f"{shard.cluster}: {shard.reason}" for shard in selected if not shard.healthy]
    if unhealthy:
        message += f" ({'; '.join(unhealthy)})"
    if healthy == 0:
        return "False", REASON_NO_HEALTHY_SHARDS, message
    if unhealthy:
        return "True", REASON_SOME_SHARDS_HEALTHY, message
    return "True", REASON_ALL_SHARDS_HEALTHY, message


def _ingress_addresses(ingress: Iterable[Ingress]) -> tuple[IngressAddress, ...]:
    unique = {(point.ip, point.hostname) for point in ingress if point.ip or point.hostname}
    return tuple(
        IngressAddress(ip=ip, hostname=hostname) for ip, hostname in sorted(unique, key=_address_key)
    )


def _address_key(address: tuple[str | None, str | None]) -> tuple[str, str]:
    return address[0] or "", address[1] or ""


def _union_ingress(shards: Sequence[ShardStatus]) -> tuple[IngressAddress, ...]:
    seen: set[IngressAddress] = set()
    union: list[IngressAddress] = []
    for shard in shards:
        for address in shard.ingress:
            if address not in seen:
                seen.add(address)
                union.append(address)
    return tuple(union)


def _ready_endpoints(count: int) -> str:
    return f"{count} ready endpoint{'' if count == 1 else 's'}"


def _clusters(count: int) -> str:
    return f"{count} cluster{'' if count == 1 else 's'}"


def _whole_seconds(moment: datetime) -> datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def _dump(status: FederatedServiceStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", exclude_none=True)
