"""The MemberCluster status from probe results: pure."""

from __future__ import annotations

import datetime
from typing import Literal

from federation_operator.domain.status import CONDITION_READY, Condition, MemberClusterStatus

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
    status: Literal["True", "False", "Unknown"] = (
        "Unknown" if ready is None else ("True" if ready else "False")
    )
    before = next((c for c in (previous.conditions if previous else ()) if c.type == CONDITION_READY), None)
    since = before.last_transition_time if before is not None and before.status == status else now
    condition = Condition(
        type=CONDITION_READY,
        status=status,
        observed_generation=generation,
        last_transition_time=since,
        reason=reason,
        message=message,
    )
    return MemberClusterStatus(
        observed_generation=generation,
        conditions=(condition,),
        kubernetes_version=kubernetes_version,
        last_probe_time=probe_time,
        region=region,
        zones=tuple(sorted(zones)),
    )
