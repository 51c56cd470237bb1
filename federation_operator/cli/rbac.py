"""What ``join`` creates in a member cluster, as manifests: the least-privilege access of the operator.

Pure: every function returns a manifest, nothing here talks to a cluster. The rules are derived from what the
operator does in a member, and :data:`MEMBER_RULES` is the one place they are written down:

* Services (``federation_operator.kube.member_services`` and ``.watch``): ``get`` one, ``list`` and ``watch``
  them all (the shared watch), ``create``, ``patch`` (server-side apply, and a JSON patch of the ports),
  ``delete``. The operator never sends a PUT, so no ``update``.
* EndpointSlices (``discovery.k8s.io``, the shared watch): ``list`` and ``watch``.
* Namespaces (``ensure_namespace``): ``get`` and ``create``; ``get`` also reads the ``kube-system``
  Namespace's UID, which tells the operator which cluster it reached (``kube.cluster_identity``).
* Nodes (the probe reads their topology labels, metadata only): ``list``.

The probe's ``/readyz`` and ``/version`` are non-resource URLs that Kubernetes' default ClusterRole
``system:public-info-viewer`` already grants to every authenticated user, so they are not granted again.
Nothing else is granted: no Secrets, no Pods, no writes to Nodes.

The token is a ``kubernetes.io/service-account-token`` Secret that the member's token controller fills with
``token`` and ``ca.crt``. Every object carries ``app.kubernetes.io/managed-by=fedctl`` and
``fedop.io/federation=<federation>``, which is how ``unjoin`` finds them (a namespace fedctl did not create is
never labelled, so it is never deleted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from federation_operator.domain.members import LABEL_FEDERATION, LABEL_MANAGED_BY

__all__ = [
    "ANNOTATION_SERVICE_ACCOUNT",
    "MANAGED_BY_FEDCTL",
    "MEMBER_RULES",
    "MemberAccess",
    "PolicyRule",
    "is_fedctls",
    "render_cluster_role",
    "render_cluster_role_binding",
    "render_fedctl_labels",
    "render_fedctl_selector",
    "render_member_namespace",
    "render_service_account",
    "render_token_secret",
]

MANAGED_BY_FEDCTL = "fedctl"
ANNOTATION_SERVICE_ACCOUNT = "kubernetes.io/service-account.name"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"


class PolicyRule(TypedDict):
    """One rule of an RBAC ClusterRole, as the API spells it."""

    apiGroups: list[str]
    resources: list[str]
    verbs: list[str]


# The whole of what the operator may do in a member. Keep in step with federation_operator/kube/.
MEMBER_RULES: tuple[PolicyRule, ...] = (
    {
        "apiGroups": [""],
        "resources": ["services"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
)


@dataclass(frozen=True)
class MemberAccess:
    """The names of what ``join`` creates in a member for one federation."""

    federation: str
    namespace: str

    @property
    def service_account(self) -> str:
        return f"fedop-{self.federation}"

    @property
    def cluster_role(self) -> str:
        return f"fedop-{self.federation}"

    @property
    def cluster_role_binding(self) -> str:
        return f"fedop-{self.federation}"

    @property
    def token_secret(self) -> str:
        return f"fedop-{self.federation}-token"

    @property
    def username(self) -> str:
        """The user the member's API server sees for the minted token."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def render_fedctl_labels(federation: str) -> dict[str, str]:
    """The labels on everything fedctl creates, in members and in the host."""
    return {LABEL_MANAGED_BY: MANAGED_BY_FEDCTL, LABEL_FEDERATION: federation}


def is_fedctls(obj: Mapping[str, Any]) -> bool:
    """Whether fedctl created ``obj`` (its managed-by label; fedctl never labels what it did not create)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(LABEL_MANAGED_BY) == MANAGED_BY_FEDCTL)


def render_fedctl_selector(federation: str) -> str:
    """A label selector matching exactly what fedctl created for ``federation``."""
    return ",".join(f"{k}={v}" for k, v in render_fedctl_labels(federation).items())


def _metadata(name: str, federation: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": render_fedctl_labels(federation)}
    if namespace is not None:
        metadata["namespace"] = namespace
    return metadata


def render_member_namespace(access: MemberAccess) -> dict[str, Any]:
    """The namespace for the ServiceAccount, when it does not exist yet (its labels mark it as fedctl's)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _metadata(access.namespace, access.federation),
    }


def render_service_account(access: MemberAccess) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(access.service_account, access.federation, access.namespace),
        # The token Secret is created on purpose; nothing should be mounted into Pods with this identity.
        "automountServiceAccountToken": False,
    }


def render_cluster_role(access: MemberAccess) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _metadata(access.cluster_role, access.federation),
        "rules": [
            {"apiGroups": list(r["apiGroups"]), "resources": list(r["resources"]), "verbs": list(r["verbs"])}
            for r in MEMBER_RULES
        ],
    }


def render_cluster_role_binding(access: MemberAccess) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(access.cluster_role_binding, access.federation),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": access.cluster_role,
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": access.service_account, "namespace": access.namespace}
        ],
    }


def render_token_secret(access: MemberAccess) -> dict[str, Any]:
    """The Secret the member's token controller fills with the ServiceAccount's ``token`` and ``ca.crt``."""
    metadata = _metadata(access.token_secret, access.federation, access.namespace)
    metadata["annotations"] = {ANNOTATION_SERVICE_ACCOUNT: access.service_account}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": TOKEN_SECRET_TYPE}
