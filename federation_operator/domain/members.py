"""What the operator knows about member clusters and what it saw in them: plain frozen values.

These are the meeting point of the member-cluster I/O (`federation_operator.members`, which produces them
from watches and probes) and the pure planning code (`federation_operator.planning`, which consumes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "ANNOTATION_OWNER_UID",
    "FIELD_MANAGER",
    "LABEL_FEDERATION",
    "LABEL_MANAGED_BY",
    "LABEL_OWNER_NAME",
    "LABEL_OWNER_NAMESPACE",
    "MANAGED_BY",
    "ClusterClaim",
    "ClusterInfo",
    "EndpointSummary",
    "Ingress",
    "ObservedService",
    "ProbeResult",
]

# Labels on every Service the operator manages in a member. The EndpointSlice controller copies a Service's
# labels onto its slices, so one label selector finds both our Services and their slices.
LABEL_FEDERATION = "fedop.io/federation"
LABEL_OWNER_NAMESPACE = "fedop.io/owner-namespace"
LABEL_OWNER_NAME = "fedop.io/owner-name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "federation-operator"
# The owning FederatedService's UID: a Service re-created under the same name by someone else is not ours.
ANNOTATION_OWNER_UID = "fedop.io/owner-uid"
# Server-side apply field manager for member Services.
FIELD_MANAGER = "federation-operator"


@dataclass(frozen=True)
class ClusterInfo:
    """A registered member cluster as placement and status need it."""

    name: str
    region: str
    zones: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = False
    # True while the member's shared watches hold its current state: both have listed everything, and
    # neither has failed since (a watch that broke is stale until it lists again). While False, "no
    # Service seen" means "not known", not "absent".
    synced: bool = False
    # time.monotonic() when the member stopped answering its probes (None while ready, or not known): the
    # start of its grace period.
    not_ready_since: float | None = None


@dataclass(frozen=True)
class ClusterClaim:
    """A MemberCluster's claim to serve the real cluster ``cluster_id`` (its ``kube-system`` Namespace UID).

    One real cluster is served through one MemberCluster only: of several claims to one cluster the oldest
    (``created``, then ``name``) holds it, whichever supervisor happened to connect first.
    """

    name: str
    cluster_id: str
    created: datetime


@dataclass(frozen=True)
class Ingress:
    """One LoadBalancer ingress point of a member Service."""

    ip: str | None = None
    hostname: str | None = None


@dataclass(frozen=True)
class ObservedService:
    """A Service in a member cluster as the shared watch last saw it (ours or a foreign one at our name)."""

    cluster: str
    namespace: str
    name: str
    # (namespace, name) of the owning FederatedService from our labels, or None for a Service we don't own.
    owner: tuple[str, str] | None
    owner_uid: str | None
    manifest: Mapping[str, Any]  # the raw object (metadata, spec, status) as a JSON-like mapping
    ingress: tuple[Ingress, ...] = ()


@dataclass(frozen=True)
class EndpointSummary:
    """Ready endpoints of one member Service, summed over its EndpointSlices."""

    ready: int = 0
    zones: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ProbeResult:
    """One probe of a member's API: `/readyz`, `/version`, node topology labels."""

    ok: bool
    error: str | None = None
    # The member refused our credentials (401) or their rights (403): worth re-reading the Secret.
    credentials_refused: bool = False
    kubernetes_version: str | None = None
    regions: frozenset[str] = frozenset()
    zones: frozenset[str] = frozenset()
