"""Which cluster a member's API really is: the UID of its ``kube-system`` Namespace.

Two MemberClusters can reach one cluster through different URLs (an IP and a DNS name, a load balancer and
a node), so the ``apiEndpoint`` string cannot tell clusters apart. Every cluster has a ``kube-system``
Namespace from its first start to its end, and the API server gives each object a UID that is never reused;
the same cluster answers with the same UID whichever URL or credentials reach it, and a re-created cluster
(same name, same URL) answers with a new one. Reading it needs only ``get`` on Namespaces, which the
member's least-privilege role already grants (:mod:`federation_operator.cli.rbac`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation_operator.domain.errors import TransientError
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.transport import Timeout, api_path, response_error, send_request

__all__ = ["IDENTITY_NAMESPACE", "fetch_cluster_id", "read_cluster_id"]

IDENTITY_NAMESPACE = "kube-system"


def read_cluster_id(namespace: Mapping[str, Any]) -> str | None:
    """The cluster ID in a ``kube-system`` Namespace object as the API returns it (None if it has no UID)."""
    uid = (namespace.get("metadata") or {}).get("uid")
    return uid if isinstance(uid, str) and uid else None


def fetch_cluster_id(api: ClusterClient, timeout: Timeout) -> str:
    """The member's cluster ID: its ``kube-system`` Namespace's UID, read within ``timeout`` seconds.

    Raises :class:`~federation_operator.kube.errors.ApiConnectionError` (transient) when the member cannot
    be reached, and the one classification's error for an error status (403: the role lacks ``get`` on
    Namespaces, a permanent error).
    """
    what = f"get Namespace {IDENTITY_NAMESPACE}"
    response = send_request(
        api, "GET", api_path("v1", "namespaces", IDENTITY_NAMESPACE), what=what, timeout=timeout
    )
    if response.status != 200:
        raise response_error(response, what)
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientError(f"{what}: the member answered with malformed JSON") from exc
    uid = read_cluster_id(body) if isinstance(body, dict) else None
    if uid is None:
        raise TransientError(f"{what}: the answer carries no metadata.uid")
    return uid
