"""Member-cluster I/O: API clients from credential Secrets, probes, shared watches, Service writes.

Every function here takes the member's ``kubernetes.client.ApiClient`` as a parameter and is synchronous;
the operator's async code calls them through ``asyncio.to_thread``, and each :class:`MemberWatch` runs in
its own thread. What they find is returned as the plain values of :mod:`federation_operator.model.members`
(or raw JSON dicts), and what fails is raised as the operator's own errors.

* :mod:`.credentials` — :func:`build_api_client` from a Secret; the raw request path and its failures.
* :mod:`.probe` — :func:`fetch_probe` (``/readyz``, ``/version``, node topology) and :class:`ProbeTracker`.
* :mod:`.watch` — :class:`MemberWatch`, one list+watch per member per kind, shared by every
  FederatedService.
* :mod:`.services` — fetch / create / apply / delete member Services, ``ensure_namespace``, and the pure
  readers :func:`observe_service` and :func:`summarize_endpoints`.
"""

from __future__ import annotations

from federation_operator.members.credentials import (
    MemberApiClient,
    MemberConnectionError,
    build_api_client,
)
from federation_operator.members.probe import ProbeState, ProbeTracker, fetch_probe
from federation_operator.members.services import (
    DeleteOutcome,
    ServiceExistsError,
    apply_service,
    create_service,
    delete_service,
    endpoint_slice_service,
    ensure_namespace,
    fetch_service,
    observe_service,
    summarize_endpoints,
)
from federation_operator.members.watch import (
    ENDPOINT_SLICES,
    SERVICES,
    MemberWatch,
    WatchCounters,
    WatchedResource,
)

__all__ = [
    "ENDPOINT_SLICES",
    "SERVICES",
    "DeleteOutcome",
    "MemberApiClient",
    "MemberConnectionError",
    "MemberWatch",
    "ProbeState",
    "ProbeTracker",
    "ServiceExistsError",
    "WatchCounters",
    "WatchedResource",
    "apply_service",
    "build_api_client",
    "create_service",
    "delete_service",
    "endpoint_slice_service",
    "ensure_namespace",
    "fetch_probe",
    "fetch_service",
    "observe_service",
    "summarize_endpoints",
]
