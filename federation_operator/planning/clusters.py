"""MemberCluster decisions and status: pure.

- :func:`plan_cluster_holder`: of the MemberClusters that reach one real cluster, which one serves it.
- :func:`plan_topology_check`: whether the spec's region and zones agree with the member's nodes.
- :func:`render_member_cluster_status`: the status written on the MemberCluster.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from federation_operator.domain.members import ClusterClaim
from federation_operator.domain.status import (
    CONDITION_READY,
    CONDITION_TOPOLOGY_CONSISTENT,
    MemberClusterStatus,
)
from federation_operator.planning.conditions import ConditionStatus, render_condition

__all__ = [
    "REASON_DUPLICATE_CLUSTER",
    "REASON_REGION_MISMATCH",
    "REASON_TOPOLOGY_CONSISTENT",
    "REASON_TOPOLOGY_UNLABELLED",
    "REASON_ZONE_MISMATCH",
    "TopologyCheck",
    "plan_cluster_holder",
    "plan_topology_check",
    "render_duplicate_message",
    "render_member_cluster_status",
]

REASON_DUPLICATE_CLUSTER = "DuplicateCluster"
REASON_TOPOLOGY_CONSISTENT = "Consistent"
REASON_TOPOLOGY_UNLABELLED = "NodesUnlabelled"
REASON_REGION_MISMATCH = "RegionMismatch"
REASON_ZONE_MISMATCH = "ZoneMismatch"

_REGION_LABEL = "topology.kubernetes.io/region"
_ZONE_LABEL = "topology.kubernetes.io/zone"


def plan_cluster_holder(claims: Iterable[ClusterClaim], cluster_id: str) -> ClusterClaim | None:
    """The claim that holds ``cluster_id``: the oldest MemberCluster claiming it (creation time, then name).

    Oldest first, so the answer does not depend on which supervisor read its cluster's ID first (an
    operator restart connects them in any order), and a MemberCluster created later to the same cluster
    — a mistake, or an attack on the first one's Services — can never take it over while the first exists.
    """
    rivals = [c for c in claims if c.cluster_id == cluster_id]
    return min(rivals, key=lambda c: (c.created, c.name), default=None)


def render_duplicate_message(cluster_id: str, holder: str) -> str:
    """The condition message and event of a MemberCluster refused because ``holder`` holds its cluster."""
    return (
        f"this cluster (kube-system UID {cluster_id}) is already registered as MemberCluster {holder}; "
        "this MemberCluster is not connected and none of its shards count (delete it, or delete "
        f"{holder} to let this one take over)"
    )


@dataclass(frozen=True)
class TopologyCheck:
    """The ``TopologyConsistent`` condition: whether spec.region and spec.zones agree with the nodes."""

    consistent: bool
    reason: str
    message: str


def plan_topology_check(
    spec_region: str,
    spec_zones: Collection[str],
    node_regions: Collection[str],
    node_zones: Collection[str],
) -> TopologyCheck:
    """Compare the MemberCluster's spec with its nodes' ``topology.kubernetes.io`` labels.

    The region is inconsistent when the nodes carry region labels and none is ``spec_region``; the zones
    when the nodes carry zone labels and a zone of ``spec_zones`` is on none of them. Nodes without labels
    contradict nothing. Which value is used is said in the message: for the region the spec's (it is what
    the user declared and what placement selects on), for zones the nodes' (where endpoints really are).
    """
    region_ok = not node_regions or spec_region in node_regions
    missing_zones = sorted(set(spec_zones) - set(node_zones)) if node_zones else []
    parts: list[str] = []
    if not region_ok:
        parts.append(
            f"spec.region {spec_region} contradicts the nodes' {_REGION_LABEL} "
            f"({', '.join(sorted(node_regions))}); DNS publishes this member's shards under spec.region "
            f"{spec_region}"
        )
    if missing_zones:
        parts.append(
            f"spec.zones {', '.join(missing_zones)} {'is' if len(missing_zones) == 1 else 'are'} on no node "
            f"(the nodes' {_ZONE_LABEL}: {', '.join(sorted(node_zones))}); the nodes' zones are used"
        )
    if parts:
        reason = REASON_REGION_MISMATCH if not region_ok else REASON_ZONE_MISMATCH
        return TopologyCheck(False, reason, "; ".join(parts))
    if not node_regions and not node_zones:
        return TopologyCheck(
            True,
            REASON_TOPOLOGY_UNLABELLED,
            f"no node carries {_REGION_LABEL} or {_ZONE_LABEL} labels: spec.region {spec_region} is used",
        )
    return TopologyCheck(
        True,
        REASON_TOPOLOGY_CONSISTENT,
        f"spec.region {spec_region} and spec.zones agree with the nodes' topology labels",
    )


def render_member_cluster_status(
    *,
    generation: int,
    ready: bool | None,
    reason: str,
    message: str,
    kubernetes_version: str | None,
    region: str,
    zones: tuple[str, ...],
    probe_time: datetime.datetime | None,
    previous: MemberClusterStatus | None,
    now: datetime.datetime,
    cluster_id: str | None = None,
    topology: TopologyCheck | None = None,
) -> MemberClusterStatus:
    """`ready=None` means not known yet (Unknown). The transition time is kept while the status holds.

    ``topology`` None (no successful probe of this spec yet) keeps the previous ``TopologyConsistent``
    condition as it was; ``cluster_id`` None (not known) leaves ``clusterID`` out.
    """
    status: ConditionStatus = "Unknown" if ready is None else ("True" if ready else "False")
    earlier = previous.conditions if previous else ()
    conditions = [
        render_condition(earlier, CONDITION_READY, status, reason, message, generation=generation, now=now)
    ]
    if topology is not None:
        conditions.append(
            render_condition(
                earlier,
                CONDITION_TOPOLOGY_CONSISTENT,
                "True" if topology.consistent else "False",
                topology.reason,
                topology.message,
                generation=generation,
                now=now,
            )
        )
    else:
        conditions.extend(c for c in earlier if c.type == CONDITION_TOPOLOGY_CONSISTENT)
    return MemberClusterStatus(
        observed_generation=generation,
        conditions=tuple(conditions),
        clusterID=cluster_id,
        kubernetes_version=kubernetes_version,
        last_probe_time=probe_time,
        region=region,
        zones=tuple(sorted(zones)),
    )
