"""Probing a member cluster's API (I/O), and turning a run of probe results into readiness (pure).

:func:`fetch_probe` asks the member three things within one deadline: is it ready (``/readyz``), which
Kubernetes it runs (``/version``), and where its nodes are (``topology.kubernetes.io/region`` and ``/zone``
labels). It never raises for a member that is down or refuses us: the answer is a :class:`ProbeResult` with
``ok=False`` and a short reason fit for a condition message.

:class:`ProbeTracker` applies the MemberCluster's ``probe`` thresholds to successive results, as a kubelet
does for its probes: ``failureThreshold`` failures in a row make a Ready cluster not ready,
``successThreshold`` successes in a row make a not-ready cluster Ready.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation_operator.domain.members import ProbeResult
from federation_operator.domain.specs import ProbeSettings
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.transport import METADATA_ONLY_LIST, RawResponse, send_request

__all__ = ["LABEL_REGION", "LABEL_ZONE", "NODE_PAGE_SIZE", "ProbeState", "ProbeTracker", "fetch_probe"]

LABEL_REGION = "topology.kubernetes.io/region"
LABEL_ZONE = "topology.kubernetes.io/zone"
NODE_PAGE_SIZE = 500
# Only node metadata is needed: asking for PartialObjectMetadata spares the member from sending (and us from
# parsing) every node's status, which lists its images and can run to tens of kilobytes a node.


class _ProbeFailed(Exception):
    def __init__(self, reason: str, *, credentials_refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.credentials_refused = credentials_refused


def fetch_probe(api: ClusterClient, timeout: float) -> ProbeResult:
    """Probe the member behind ``api``; every request shares one deadline ``timeout`` seconds away.

    ``ok`` is True when ``/readyz`` answers 200 with the body ``ok``, ``/version`` answers, and the nodes can
    be listed. Otherwise ``error`` says why, briefly and without credentials: "connection refused",
    "timed out", "unauthorized", "readyz returned 500", ...
    """
    deadline = time.monotonic() + timeout
    try:
        ready = _get(api, "/readyz", "readyz", deadline, accept="text/plain")
        if ready.body.strip() != b"ok":
            return ProbeResult(ok=False, error="readyz did not answer ok")
        version = _get(api, "/version", "version", deadline).json()
        git_version = version.get("gitVersion") if isinstance(version, dict) else None
        if not isinstance(git_version, str):
            return ProbeResult(ok=False, error="version answered without gitVersion")
        regions, zones = _node_topology(api, deadline)
    except _ProbeFailed as exc:
        return ProbeResult(ok=False, error=exc.reason, credentials_refused=exc.credentials_refused)
    except ApiConnectionError as exc:
        return ProbeResult(ok=False, error=exc.reason)
    except ValueError:
        return ProbeResult(ok=False, error="member answered with malformed JSON")
    return ProbeResult(ok=True, kubernetes_version=git_version, regions=regions, zones=zones)


def _node_topology(api: ClusterClient, deadline: float) -> tuple[frozenset[str], frozenset[str]]:
    regions: set[str] = set()
    zones: set[str] = set()
    token = ""
    while True:
        query: list[tuple[str, str | int | bool]] = [("limit", NODE_PAGE_SIZE)]
        if token:
            query.append(("continue", token))
        page = _get(
            api, "/api/v1/nodes", "list nodes", deadline, accept=METADATA_ONLY_LIST, query=query
        ).json()
        if not isinstance(page, dict):
            raise ValueError("not a list")
        for node in page.get("items") or []:
            labels: dict[str, Any] = (node.get("metadata") or {}).get("labels") or {}
            if labels.get(LABEL_REGION):
                regions.add(labels[LABEL_REGION])
            if labels.get(LABEL_ZONE):
                zones.add(labels[LABEL_ZONE])
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return frozenset(regions), frozenset(zones)


def _get(
    api: ClusterClient,
    path: str,
    what: str,
    deadline: float,
    *,
    accept: str = "application/json",
    query: list[tuple[str, str | int | bool]] | None = None,
) -> RawResponse:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _ProbeFailed("timed out")
    response = send_request(api, "GET", path, what=what, query=query or (), accept=accept, timeout=remaining)
    if response.status == 401:
        raise _ProbeFailed("unauthorized", credentials_refused=True)
    if response.status == 403:
        raise _ProbeFailed(f"forbidden to {what}", credentials_refused=True)
    if response.status != 200:
        raise _ProbeFailed(f"{what} returned {response.status}")
    return response


@dataclass(frozen=True)
class ProbeState:
    """Where a member's readiness stands after the latest probe result."""

    ready: bool = False
    # Whether the latest result flipped ``ready``.
    changed: bool = False
    # When ``ready`` last flipped (None: not since the tracker started).
    last_transition: datetime | None = None
    # The error of the latest failed probe; cleared by a success.
    last_error: str | None = None
    consecutive_successes: int = 0
    consecutive_failures: int = 0


class ProbeTracker:
    """Readiness of one member from its successive probe results (pure: the caller supplies the time).

    A tracker starts not ready, or ``ready`` as given (from the MemberCluster's stored condition, so that an
    operator restart does not flap a healthy member). Each :meth:`observe` adds the result to the current
    run of successes or failures and flips readiness once that run reaches its threshold in ``settings``
    (which the caller may replace when the MemberCluster's spec changes; the runs carry over).
    """

    def __init__(
        self, settings: ProbeSettings, *, ready: bool = False, last_transition: datetime | None = None
    ) -> None:
        self.settings = settings
        self.state = ProbeState(ready=ready, last_transition=last_transition)

    @property
    def ready(self) -> bool:
        return self.state.ready

    def observe(self, result: ProbeResult, now: datetime) -> ProbeState:
        """Count ``result``, taken at ``now``; returns (and keeps) the new :class:`ProbeState`."""
        previous = self.state
        if result.ok:
            successes, failures = previous.consecutive_successes + 1, 0
            flip = not previous.ready and successes >= self.settings.success_threshold
            error = None
        else:
            successes, failures = 0, previous.consecutive_failures + 1
            flip = previous.ready and failures >= self.settings.failure_threshold
            error = result.error or "probe failed"
        self.state = ProbeState(
            ready=previous.ready != flip,
            changed=flip,
            last_transition=now if flip else previous.last_transition,
            last_error=error,
            consecutive_successes=successes,
            consecutive_failures=failures,
        )
        return self.state
