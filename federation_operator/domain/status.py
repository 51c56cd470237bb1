"""Typed status of the two custom resources, the Python twin of the ``status`` schemas in ``crds/*.yaml``.

The operator builds these values from its plans and writes them with
``model_dump(mode="json", exclude_none=True)``; ``tests/unit/test_crd_schema.py`` keeps them in step with the
CRDs, whose status schemas prune any field not declared here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from federation_operator.domain.kube_model import KubeModel, ListMap, ListSet

__all__ = [
    "CONDITION_DNS_PUBLISHED",
    "CONDITION_HEALTHY",
    "CONDITION_PROPAGATED",
    "CONDITION_READY",
    "CONDITION_REASON_PATTERN",
    "CONDITION_TOPOLOGY_CONSISTENT",
    "CONDITION_TYPE_PATTERN",
    "ClusterCounts",
    "Condition",
    "DiscoveryStatus",
    "DnsMirrorStatus",
    "DnsStatus",
    "FederatedServiceStatus",
    "IngressAddress",
    "LoadBalancerStatus",
    "MemberClusterStatus",
    "ProviderHealthStatus",
    "PublishedRecord",
    "ShardStatus",
]

CONDITION_READY = "Ready"
"""MemberCluster: the API answers ``/readyz`` within the probe thresholds. FederatedService: all is well."""
CONDITION_PROPAGATED = "Propagated"
"""FederatedService: every selected member holds a Service in sync with the desired spec."""
CONDITION_HEALTHY = "Healthy"
"""FederatedService: at least one shard is healthy (the message says how many of how many)."""
CONDITION_DNS_PUBLISHED = "DNSPublished"
"""FederatedService: the DNS provider holds the records planned from the last health snapshot."""
CONDITION_TOPOLOGY_CONSISTENT = "TopologyConsistent"
"""MemberCluster: ``spec.region`` and ``spec.zones`` agree with the member's nodes' topology labels."""

# metav1.Condition's own validation, verbatim.
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(KubeModel):
    """A standard ``metav1.Condition``."""

    type: str = Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = Field(default=None, ge=0)
    last_transition_time: datetime
    reason: str = Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    message: str = Field(max_length=32768)


Conditions = Annotated[tuple[Condition, ...], ListMap("type")]


class MemberClusterStatus(KubeModel):
    """``MemberCluster.status``: what the last probes found."""

    observed_generation: int | None = Field(default=None, ge=0)
    conditions: Conditions = ()
    # The member's kube-system Namespace UID: which real cluster this MemberCluster reaches.
    cluster_id: str | None = Field(default=None, alias="clusterID")
    kubernetes_version: str | None = None
    last_probe_time: datetime | None = None
    region: str | None = None
    zones: Annotated[tuple[str, ...], ListSet()] = ()


class IngressAddress(KubeModel):
    """One LoadBalancer ingress point: an IP address, or a hostname (such as an AWS ELB's)."""

    ip: str | None = None
    hostname: str | None = None


class ProviderHealthStatus(KubeModel):
    """What the DNS provider's own health check of a shard's share says (Route 53, under
    ``spec.dns.policy.healthCheck``): reported beside the operator's own verdict, never mixed into it."""

    state: Literal["Healthy", "Unhealthy", "Unknown"]
    health_check_id: str | None = None
    address: str | None = None
    """The address the health check probes (a share's first; a share of several clusters has one check)."""
    message: str | None = None


class ShardStatus(KubeModel):
    """The Service in one member cluster, as last seen."""

    cluster: str
    region: str | None = None
    zones: Annotated[tuple[str, ...], ListSet()] = ()
    synced: bool
    ingress: tuple[IngressAddress, ...] = ()
    ready_endpoints: int = Field(ge=0)
    healthy: bool
    reason: str | None = None
    message: str | None = None
    # Set under a spec.dns.policy only (an object without one keeps exactly its former status).
    priority: int | None = Field(default=None, ge=1)
    weight: int | None = Field(default=None, ge=0, le=255)
    answering: bool | None = None
    # Under a policy with healthCheck only, for a shard in a share the provider checks.
    provider_health: ProviderHealthStatus | None = None


class DiscoveryStatus(KubeModel):
    """What one member's cluster DNS answers for the FederatedService's in-cluster name (#11)."""

    cluster: str
    state: Literal["Local", "Fallback", "Off"]
    target: str | None = None
    message: str | None = None


class ClusterCounts(KubeModel):
    """How many selected clusters hold a healthy shard."""

    healthy: int = Field(ge=0)
    total: int = Field(ge=0)


class LoadBalancerStatus(KubeModel):
    """The union of every member Service's LoadBalancer ingress."""

    ingress: tuple[IngressAddress, ...] = ()


class PublishedRecord(KubeModel):
    """One DNS name the operator published and what it points to."""

    name: str
    type: Literal["A", "AAAA", "CNAME", "ALIAS", "WEIGHTED", "LATENCY", "GEO", "FAILOVER"]
    targets: tuple[str, ...] = ()
    tier: Literal["global", "region", "zone", "alias"]


class DnsMirrorStatus(KubeModel):
    """How one zone on one provider holds the FederatedService's records (several zones or mirrors)."""

    zone: str
    mirror: str
    provider: str
    state: Literal["Published", "Pending", "Conflict", "Failed"]
    message: str | None = None


class DnsStatus(KubeModel):
    """The DNS names published for the FederatedService."""

    global_name: str | None = None
    policy: Literal["tiered", "weighted", "failover", "latency", "geolocation"] | None = None
    names: Annotated[tuple[PublishedRecord, ...], ListMap("name", "type")] = ()
    mirrors: Annotated[tuple[DnsMirrorStatus, ...], ListMap("zone", "mirror")] = ()


class FederatedServiceStatus(KubeModel):
    """``FederatedService.status``: shards, aggregated ingress, DNS and conditions."""

    observed_generation: int | None = Field(default=None, ge=0)
    conditions: Conditions = ()
    cluster_summary: str | None = None
    clusters: ClusterCounts | None = None
    shards: Annotated[tuple[ShardStatus, ...], ListMap("cluster")] = ()
    load_balancer: LoadBalancerStatus | None = None
    dns: DnsStatus | None = None
    discovery: Annotated[tuple[DiscoveryStatus, ...], ListMap("cluster")] | None = None
