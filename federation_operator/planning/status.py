"""FederatedService status: shards, conditions and aggregated ingress, rendered from what was observed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.health import (
    REASON_CLUSTER_NOT_READY,
    REASON_CONFLICT,
    REASON_NOT_SELECTED,
    REASON_PENDING,
    REASON_REJECTED,
    ShardHealth,
)
from federation_operator.domain.keys import thaw
from federation_operator.domain.members import Ingress
from federation_operator.domain.status import (
    CONDITION_DNS_PUBLISHED,
    CONDITION_HEALTHY,
    CONDITION_PROPAGATED,
    CONDITION_READY,
    ClusterCounts,
    Condition,
    DnsStatus,
    FederatedServiceStatus,
    IngressAddress,
    LoadBalancerStatus,
    ShardStatus,
)
from federation_operator.planning.conditions import ConditionStatus, render_condition, whole_seconds

__all__ = [
    "REASON_INVALID_SPEC",
    "REASON_UNKNOWN_CLUSTER",
    "ConditionStatus",
    "DnsVerdict",
    "diff_status",
    "is_status_changed",
    "render_shard_status",
    "render_status",
]

# Condition reasons.
REASON_INVALID_SPEC = "InvalidSpec"
REASON_UNKNOWN_CLUSTER = "UnknownCluster"
REASON_NO_CLUSTERS_SELECTED = "NoClustersSelected"
REASON_IN_SYNC = "InSync"
REASON_ALL_SHARDS_HEALTHY = "AllShardsHealthy"
REASON_SOME_SHARDS_HEALTHY = "SomeShardsHealthy"
REASON_NO_HEALTHY_SHARDS = "NoHealthyShards"
REASON_READY = "Ready"

# The conditions render_status computes, in the order they are listed; others (any other controller's) are
# carried over from the previous status untouched, and so is DNSPublished when no DNS verdict is given.
_OWN_CONDITIONS = (CONDITION_PROPAGATED, CONDITION_HEALTHY, CONDITION_READY)
_CONDITION_ORDER = (CONDITION_PROPAGATED, CONDITION_HEALTHY, CONDITION_DNS_PUBLISHED, CONDITION_READY)


@dataclass(frozen=True)
class DnsVerdict:
    """The `DNSPublished` condition's content."""

    status: ConditionStatus
    reason: str
    message: str


def render_shard_status(shard: ShardHealth) -> ShardStatus:
    """A shard as ``status.shards`` lists it."""
    return ShardStatus(
        cluster=shard.cluster,
        region=shard.region or None,
        zones=shard.zones,
        synced=shard.synced,
        ingress=_ingress_addresses(shard.ingress),
        ready_endpoints=shard.ready_endpoints,
        healthy=shard.healthy,
        reason=shard.reason,
        message=shard.message,
    )


def render_status(
    *,
    generation: int,
    shards: Sequence[ShardStatus],
    unknown_clusters: Sequence[str],
    invalid: InvalidSpecError | None,
    previous: FederatedServiceStatus | None,
    now: datetime,
    dns: tuple[DnsStatus | None, DnsVerdict] | None = None,
) -> FederatedServiceStatus:
    """The FederatedService's status from its shards, in any order: the one place every condition, and so
    ``Ready``, is decided.

    ``shards`` holds one shard per selected cluster, plus one per cluster the Service is still being removed
    from (reason ``NotSelected``: listed, but not counted in ``clusters``).

    - ``Propagated``: True when every selected cluster holds an in-sync Service of ours and every named
      cluster is registered. Otherwise False with the most pressing reason (``InvalidSpec``, ``Conflict``,
      ``UnknownCluster``, ``ClusterNotReady``, ``Pending``, or ``NoClustersSelected``) and a message listing
      the clusters behind every reason.
    - ``Healthy``: True when at least one shard is healthy; the message reads "2/3 shards healthy".
    - ``DNSPublished``: from ``dns`` (``status.dns`` and the verdict on what the provider holds); without
      it (no DNS publishing, or an invalid spec) the previous condition and ``dns`` are kept.
    - ``Ready``: True when Propagated and Healthy are, and DNSPublished too when there is one; otherwise
      False with the reason of the first condition that is not True.

    An invalid spec (``invalid``) keeps the previous shards, counts and ingress (nothing observed is lost),
    and sets Propagated and Ready to False with reason ``InvalidSpec`` and a message naming the field.
    Any other condition is carried over from ``previous``. A condition's
    ``lastTransitionTime`` only moves when its status changes. ``now`` is truncated to whole seconds, as the
    API server writes times.
    """
    now = whole_seconds(now)
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
    dns_status = previous.dns if previous is not None else None
    if dns is not None:
        dns_status, verdict = dns
        computed[CONDITION_DNS_PUBLISHED] = condition(
            CONDITION_DNS_PUBLISHED, verdict.status, verdict.reason, verdict.message
        )
    kept = [c for c in previous_conditions if c.type not in (*_OWN_CONDITIONS, *computed)]
    dependencies = [computed[CONDITION_PROPAGATED], computed[CONDITION_HEALTHY]]
    dependencies += [c for c in (*computed.values(), *kept) if c.type == CONDITION_DNS_PUBLISHED]
    computed[CONDITION_READY] = _ready(dependencies, condition)
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
        dns=dns_status,
    )


def _ready(
    dependencies: Sequence[Condition], condition: Callable[[str, ConditionStatus, str, str], Condition]
) -> Condition:
    """``Ready``: True when every one of ``dependencies`` is, else False with the first failing one's
    reason."""
    failing = next((c for c in dependencies if c.status != "True"), None)
    if failing is None:
        summary = next((c.message for c in dependencies if c.type == CONDITION_HEALTHY), "")
        return condition(CONDITION_READY, "True", REASON_READY, summary)
    message = f"{failing.type} is {failing.status}: {failing.message}"
    return condition(CONDITION_READY, "False", failing.reason, message)


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
    # Most pressing first: a conflict, a refusal and an unknown name need the user; the rest may settle by
    # itself. A refusal is listed with the member's own words: they say what to fix.
    groups: dict[str, list[str]] = {
        REASON_CONFLICT: [],
        REASON_REJECTED: [],
        REASON_UNKNOWN_CLUSTER: sorted(set(unknown)),
        REASON_CLUSTER_NOT_READY: [],
        REASON_PENDING: [],
        REASON_NOT_SELECTED: [],
    }
    for shard in shards:
        if shard.synced:
            continue
        reason = shard.reason or REASON_PENDING
        entry = f"{shard.cluster} ({shard.message})" if reason == REASON_REJECTED else shard.cluster
        groups[reason if reason in groups else REASON_PENDING].append(entry)
    labels = {
        REASON_CONFLICT: "a Service not managed by this FederatedService holds its name in",
        REASON_REJECTED: "the member's API server rejected the Service in",
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


def _clusters(count: int) -> str:
    return f"{count} cluster{'' if count == 1 else 's'}"


def _dump(status: FederatedServiceStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", exclude_none=True)
