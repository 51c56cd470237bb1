"""Shard health: one verdict per shard, and the federation-wide snapshot DNS is planned from.

A :class:`ShardHealth` is made once per reconcile by :func:`federation_operator.planning.health.plan_health`
— which also applies the unreachable grace period and the partition guard — and both the CRD status
(``status.shards``, the conditions) and the DNS records are rendered from it, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from federation_operator.domain.members import Ingress

__all__ = [
    "REASON_CLUSTER_NOT_READY",
    "REASON_CONFLICT",
    "REASON_HEALTHY",
    "REASON_NOT_ENOUGH_READY_ENDPOINTS",
    "REASON_NOT_SELECTED",
    "REASON_NO_LOAD_BALANCER_INGRESS",
    "REASON_OUT_OF_SYNC",
    "REASON_PENDING",
    "REASON_REJECTED",
    "REASON_SERVICE_MISSING",
    "HealthSnapshot",
    "ShardHealth",
]

# Shard reasons, in the order the health rules are checked; the first rule that fails names the shard's
# reason. Some double as condition reasons.
REASON_NOT_SELECTED = "NotSelected"
REASON_CLUSTER_NOT_READY = "ClusterNotReady"
REASON_PENDING = "Pending"
# The member's API server refused our write (a 4xx other than a conflict: an invalid manifest for that
# member, a quota, an admission webhook); it needs the user, like a conflict.
REASON_REJECTED = "Rejected"
REASON_SERVICE_MISSING = "ServiceMissing"
REASON_CONFLICT = "Conflict"
REASON_OUT_OF_SYNC = "OutOfSync"
REASON_NO_LOAD_BALANCER_INGRESS = "NoLoadBalancerIngress"
REASON_NOT_ENOUGH_READY_ENDPOINTS = "NotEnoughReadyEndpoints"
REASON_HEALTHY = "Healthy"


@dataclass(frozen=True)
class ShardHealth:
    """The Service in one member cluster: what was seen of it, whether it is healthy now, and whether DNS
    counts it.

    ``healthy`` is the verdict of the health rules now (an unreachable member's shard is not healthy);
    ``counted`` says whether DNS publishes it: when healthy, or — its member unreachable for less than the
    grace period — when it was healthy as last seen. ``ingress`` and ``zones`` are what was last seen of a
    Service of ours (nothing of a foreign Service at our name), so they are the last-known-healthy addresses
    of a counted shard whose member stopped answering.
    """

    cluster: str
    region: str
    zones: tuple[str, ...]
    selected: bool
    synced: bool
    ingress: tuple[Ingress, ...]
    ready_endpoints: int
    healthy: bool
    reason: str
    message: str
    counted: bool


@dataclass(frozen=True)
class HealthSnapshot:
    """Every shard of one FederatedService, and whether DNS may be planned from them now.

    ``frozen``: the partition guard holds (every member unreachable at once: the operator is the one cut
    off), so DNS stays as last published. ``hold_reason``: DNS must wait (a member has not connected, been
    listed or been probed yet), since publishing now could withdraw shards that are fine.
    ``recheck_after``: seconds until a grace period ends and the verdict may change without any event.
    """

    shards: tuple[ShardHealth, ...]
    frozen: bool = False
    hold_reason: str = ""
    recheck_after: float | None = None

    @property
    def hold(self) -> bool:
        return bool(self.hold_reason)

    @property
    def publishable(self) -> bool:
        return not self.frozen and not self.hold

    def counted(self) -> tuple[ShardHealth, ...]:
        return tuple(shard for shard in self.shards if shard.counted)
