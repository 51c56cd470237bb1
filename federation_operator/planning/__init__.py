"""Pure planning: placement, overrides, member Services and status, as plain functions over frozen values.

Nothing here does I/O or imports kopf, kubernetes, boto3, google or dnspython; ``members/`` and the handlers
feed it what they observed and apply what it returns.
"""

from __future__ import annotations

from federation_operator.planning.overrides import (
    OVERRIDABLE_PATHS,
    apply_overrides,
    escape_pointer_token,
    plan_cluster_overrides,
    render_pointer,
)
from federation_operator.planning.placement import is_selected_by, plan_placement, unknown_clusters
from federation_operator.planning.services import (
    is_in_sync,
    is_owned_by,
    render_member_service,
    render_ownership_labels,
)
from federation_operator.planning.status import (
    diff_status,
    is_status_changed,
    render_condition,
    render_ready_condition,
    render_shard,
    render_status,
)

__all__ = [
    "OVERRIDABLE_PATHS",
    "apply_overrides",
    "diff_status",
    "escape_pointer_token",
    "is_in_sync",
    "is_owned_by",
    "is_selected_by",
    "is_status_changed",
    "plan_cluster_overrides",
    "plan_placement",
    "render_condition",
    "render_member_service",
    "render_ownership_labels",
    "render_pointer",
    "render_ready_condition",
    "render_shard",
    "render_status",
    "unknown_clusters",
]
