"""The MemberCluster status from probe results: pure."""

from __future__ import annotations

import datetime

from federation_operator.domain.status import CONDITION_READY, MemberClusterStatus
from federation_operator.planning.conditions import ConditionStatus, render_condition

__all__ = ["render_member_cluster_status"]


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
) -> MemberClusterStatus:
    """`ready=None` means not known yet (Unknown). The transition time is kept while the status holds."""
    status: ConditionStatus = "Unknown" if ready is None else ("True" if ready else "False")
    condition = render_condition(
        previous.conditions if previous else (),
        CONDITION_READY,
        status,
        reason,
        message,
        generation=generation,
        now=now,
    )
    return MemberClusterStatus(
        observed_generation=generation,
        conditions=(condition,),
        kubernetes_version=kubernetes_version,
        last_probe_time=probe_time,
        region=region,
        zones=tuple(sorted(zones)),
    )
