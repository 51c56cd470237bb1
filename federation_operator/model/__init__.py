"""Typed values of the operator: the custom resources' specs and status (more values join as planning grows).

Everything here is pure data: frozen pydantic models with no I/O and no kopf or kubernetes imports.
"""

from __future__ import annotations

from federation_operator.model.specs import (
    ClusterOverride,
    DnsDefaults,
    DnsSettings,
    FederatedServiceSpec,
    LabelSelector,
    LabelSelectorRequirement,
    MemberClusterSpec,
    PatchOp,
    Placement,
    ProbeSettings,
    SecretRef,
    ServicePort,
    ServiceSpec,
    ServiceTemplate,
    TemplateMetadata,
    parse_federated_service_spec,
    parse_member_cluster_spec,
    parse_model,
)
from federation_operator.model.status import (
    ClusterCounts,
    Condition,
    DnsStatus,
    FederatedServiceStatus,
    IngressAddress,
    LoadBalancerStatus,
    MemberClusterStatus,
    PublishedRecord,
    ShardStatus,
)

__all__ = [
    "ClusterCounts",
    "ClusterOverride",
    "Condition",
    "DnsDefaults",
    "DnsSettings",
    "DnsStatus",
    "FederatedServiceSpec",
    "FederatedServiceStatus",
    "IngressAddress",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LoadBalancerStatus",
    "MemberClusterSpec",
    "MemberClusterStatus",
    "PatchOp",
    "Placement",
    "ProbeSettings",
    "PublishedRecord",
    "SecretRef",
    "ServicePort",
    "ServiceSpec",
    "ServiceTemplate",
    "ShardStatus",
    "TemplateMetadata",
    "parse_federated_service_spec",
    "parse_member_cluster_spec",
    "parse_model",
]
