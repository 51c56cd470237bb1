"""I/O against the host cluster (other than the watches): Secrets, finalizers and status of our resources.

Blocking calls through the threads' request path (:mod:`.transport`); the async code runs them with
`asyncio.to_thread`. Failures are mapped to our errors by the one classification
(:mod:`federation_operator.kube.errors`): 429, every 5xx and connection trouble are transient, the rest is
permanent.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from federation_operator.domain.errors import PermanentError
from federation_operator.domain.keys import GROUP, VERSION
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.credentials import in_cluster_client, kubeconfig_client
from federation_operator.kube.kubeconfig import KubeconfigNotFoundError, kubeconfig_path, load_kubeconfig
from federation_operator.kube.transport import (
    METADATA_ONLY_LIST,
    Exchange,
    Request,
    api_path,
    response_error,
    run_exchange,
    send_request,
)

__all__ = [
    "build_host_client",
    "federated_service_status_exchange",
    "fetch_member_cluster_names",
    "fetch_secret_data",
    "finalizers_exchange",
    "patch_member_cluster_status",
]

# The client would send a list body as a merge patch; say explicitly that it is a JSON patch.
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
# FederatedServices per page of a list. A FederatedService is large in JSON (~8.5 KB at 4 members: its
# status, and the managedFields of the status writes, more than half of it; a member Service is ~1.6 KB), and
# a page is decoded whole: 500 of them were a 4.2 MB body and ~20 MiB of decoded objects at once, most of it
# dropped a moment later. A restarted operator's peak RSS at 1,000 x 4 went from 228-231 MiB to 205 MiB
# with pages of 100 for its list of the FederatedServices and the orphan collector's list of their UIDs
# (`benchmarks/propagation.py --restart`); 10,000 of them are 100 requests instead of 20.
FEDERATED_SERVICE_PAGE = 100


def build_host_client(kubeconfig: Path | None, context: str | None, *, pool_size: int = 10) -> ClusterClient:
    """A client for the host cluster: from a kubeconfig (and context) if given or found (``$KUBECONFIG``,
    else ``~/.kube/config``), else in-cluster (the chart's way).

    ``pool_size``: connections kept open to the API server. Every reconcile worker may write a status or a
    finalizer at once, beside the event poster, the watch, the orphan collector and the lease: a pool
    smaller than that discards connections under load, and each one reopened costs a TLS handshake.
    """
    explicit = kubeconfig is not None or context is not None
    try:
        found = load_kubeconfig(kubeconfig_path(str(kubeconfig) if kubeconfig else None))
    except KubeconfigNotFoundError:
        if explicit:
            raise
        return in_cluster_client(pool_size=pool_size)
    return kubeconfig_client(found, context, pool_size=pool_size)


def fetch_secret_data(api: ClusterClient, namespace: str, name: str) -> dict[str, bytes]:
    """The decoded `data` of a Secret; its content never appears in errors or logs."""
    what = f"reading Secret {namespace}/{name}"
    response = send_request(api, "GET", api_path("v1", "secrets", name, namespace), what=what)
    if response.status == 404:
        raise PermanentError(f"Secret {namespace}/{name} not found")
    if response.status == 403:
        raise PermanentError(f"Secret {namespace}/{name}: the operator may not read it")
    if response.status != 200:
        raise response_error(response, what)
    data: dict[str, str] = response.json().get("data") or {}
    return {key: base64.b64decode(value) for key, value in data.items()}


def fetch_member_cluster_names(api: ClusterClient) -> set[str]:
    """The names of every MemberCluster in the host cluster."""
    what = "listing MemberClusters"
    response = send_request(
        api, "GET", api_path(f"{GROUP}/{VERSION}", "memberclusters"), what=what, accept=METADATA_ONLY_LIST
    )
    if response.status != 200:
        raise response_error(response, what)
    items: list[dict[str, Any]] = response.json().get("items") or []
    return {str(item["metadata"]["name"]) for item in items}


def fetch_federated_service_uids(
    api: ClusterClient, page_size: int = FEDERATED_SERVICE_PAGE
) -> dict[tuple[str, str], str]:
    """Every FederatedService in the host cluster: (namespace, name) → UID.

    Only their metadata is listed (a ``PartialObjectMetadataList``, in pages): the statuses are not
    transferred or parsed (the managedFields still are: no list leaves them out, hence small pages)."""
    path = api_path(f"{GROUP}/{VERSION}", "federatedservices")
    uids: dict[tuple[str, str], str] = {}
    token = ""
    while True:
        query: list[tuple[str, str | int | bool]] = [("limit", page_size)]
        if token:
            query.append(("continue", token))
        response = send_request(
            api, "GET", path, what="listing FederatedServices", query=query, accept=METADATA_ONLY_LIST
        )
        if response.status != 200:
            raise response_error(response, "listing FederatedServices")
        page = response.json()
        for item in page.get("items") or []:
            meta = item["metadata"]
            uids[(str(meta["namespace"]), str(meta["name"]))] = str(meta["uid"])
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return uids


def finalizers_exchange(
    namespace: str, name: str, finalizers: list[str], resource_version: str
) -> Exchange[dict[str, Any] | None]:
    """Set the FederatedService's finalizers, if it is still at ``resource_version``; returns it as written,
    or None when it changed meanwhile (409) or is gone (404): the caller looks again at the newer version."""
    what = f"updating finalizers of FederatedService {namespace}/{name}"
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}}
    response = yield Request(
        "PATCH",
        api_path(f"{GROUP}/{VERSION}", "federatedservices", name, namespace),
        what,
        body=patch,
        content_type=MERGE_PATCH,
    )
    if response.status in (404, 409):
        return None
    if response.status >= 300:
        raise response_error(response, what)
    written: dict[str, Any] = response.json()
    return written


def federated_service_status_exchange(namespace: str, name: str, status: Mapping[str, Any]) -> Exchange[None]:
    """Replace the FederatedService's status (nothing to do when it is gone)."""
    return _status_exchange(
        api_path(f"{GROUP}/{VERSION}", "federatedservices", name, namespace, sub="status"),
        f"updating status of FederatedService {namespace}/{name}",
        status,
    )


def patch_member_cluster_status(api: ClusterClient, name: str, status: Mapping[str, Any]) -> None:
    run_exchange(
        api,
        _status_exchange(
            api_path(f"{GROUP}/{VERSION}", "memberclusters", name, sub="status"),
            f"updating status of MemberCluster {name}",
            status,
        ),
    )


def _status_exchange(path: str, what: str, status: Mapping[str, Any]) -> Exchange[None]:
    # Raw JSON both ways: the generated client's (de)serialization of a custom object costs more than the
    # request itself, and a status is written for every change of every FederatedService. A JSON patch
    # replacing the whole status: a merge patch could not remove fields that went away.
    body = [{"op": "add", "path": "/status", "value": dict(status)}]
    response = yield Request("PATCH", path, what, body=body, content_type=JSON_PATCH)
    if response.status == 404:
        return  # deleted meanwhile: nothing to report on
    if response.status >= 300:
        raise response_error(response, what)
