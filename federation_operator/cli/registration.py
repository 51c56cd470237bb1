"""What ``join`` declares in the host cluster, and the checks on it: pure functions, no I/O.

The MemberCluster (name, labels, ``apiEndpoint``, ``secretRef``, region, zones, probe settings) and the
credentials Secret it refers to. The MemberCluster spec is checked with the operator's own parser before
anything is written, and a problem is reported against the command-line flag it came from; a cluster that is
already registered under another name (same ``apiEndpoint``, or the same ``kube-system`` Namespace UID the
operator recorded as ``status.clusterID``) is refused before anything is written.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from federation_operator.cli.errors import CliError, UsageError
from federation_operator.cli.rbac import render_fedctl_labels
from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.keys import GROUP, VERSION
from federation_operator.domain.specs import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    MemberClusterSpec,
    parse_member_cluster_spec,
)
from federation_operator.kube.credentials import KEY_CA, KEY_TOKEN
from federation_operator.kube.probe import LABEL_REGION, LABEL_ZONE

__all__ = [
    "ANNOTATION_MEMBER_SERVICE_ACCOUNT",
    "API_VERSION",
    "LABEL_MEMBER_CLUSTER",
    "REGION_LABEL",
    "MemberClusterPlan",
    "ProbeFlags",
    "Topology",
    "check_federation_name",
    "check_member_cluster_name",
    "check_not_registered",
    "credentials_secret_name",
    "plan_topology",
    "render_credentials_secret",
    "render_member_cluster",
    "render_member_cluster_labels",
    "validate_member_cluster_spec",
]

# The apiVersion of the federation's own resources (MemberCluster, FederatedService).
API_VERSION = f"{GROUP}/{VERSION}"
# The host Secret names the MemberCluster it holds credentials for.
LABEL_MEMBER_CLUSTER = "fedop.io/member-cluster"
# Where the host Secret records the member's ServiceAccount (`<namespace>/<name>`), for unjoin's messages.
ANNOTATION_MEMBER_SERVICE_ACCOUNT = "fedop.io/member-service-account"
# The label put on every MemberCluster by default, for placement by region (`clusterSelector`).
REGION_LABEL = "region"

# Where a problem with the MemberCluster spec came from on the command line.
_SPEC_FLAGS = {
    "spec.apiEndpoint": "--api-endpoint",
    "spec.region": "--region",
    "spec.zones": "--zones",
    "spec.secretRef.name": "--name",
    "spec.secretRef.namespace": "--namespace",
    "spec.probe.periodSeconds": "--probe-period",
    "spec.probe.timeoutSeconds": "--probe-timeout",
    "spec.probe.failureThreshold": "--failure-threshold",
    "spec.probe.successThreshold": "--success-threshold",
}


def check_member_cluster_name(name: str, *, from_context: bool) -> str:
    """``name`` if it can name a MemberCluster (a DNS subdomain); else a usage error naming ``--name``."""
    if len(name) <= 253 - len("-credentials") and re.fullmatch(DNS_SUBDOMAIN_PATTERN, name):
        return name
    origin = f"the context name {name!r}" if from_context else f"--name {name!r}"
    raise UsageError(
        f"{origin} is not a valid MemberCluster name (lowercase letters, digits, '-' and '.', at most 241 "
        "characters)" + ("; pass --name" if from_context else "")
    )


def check_federation_name(name: str) -> str:
    """``name`` if it can name a federation (a DNS label, short enough for the object names built on it)."""
    if len(name) <= 50 and re.fullmatch(DNS_LABEL_PATTERN, name):
        return name
    raise UsageError(f"--federation {name!r}: must be a lowercase DNS label of at most 50 characters")


def check_not_registered(
    name: str,
    *,
    endpoint: str,
    cluster_id: str | None,
    members: Iterable[Mapping[str, Any]],
) -> None:
    """Refuse to join, as ``name``, a cluster some other MemberCluster already registers.

    The same cluster is recognised by its ``apiEndpoint`` (ignoring a trailing slash) and, whatever URL
    reaches it, by its ``kube-system`` Namespace UID ``cluster_id`` (None when it could not be read),
    which the operator records on every MemberCluster it has connected as ``status.clusterID``. Joining
    again under the same name updates that MemberCluster and is never refused.
    """
    others = sorted(
        (m for m in members if str((m.get("metadata") or {}).get("name")) != name),
        key=lambda m: (str(m["metadata"].get("creationTimestamp") or ""), str(m["metadata"].get("name"))),
    )
    for other in others:
        other_name = str(other["metadata"].get("name"))
        other_endpoint = str((other.get("spec") or {}).get("apiEndpoint") or "")
        if other_endpoint.rstrip("/") == endpoint.rstrip("/"):
            raise CliError(
                f"{endpoint} is already joined as MemberCluster {other_name}: unjoin it first, or pass "
                f"--name {other_name} to update it"
            )
    for other in others:
        other_name = str(other["metadata"].get("name"))
        if cluster_id is not None and (other.get("status") or {}).get("clusterID") == cluster_id:
            other_endpoint = str((other.get("spec") or {}).get("apiEndpoint") or "")
            raise CliError(
                f"this cluster (kube-system UID {cluster_id}) is already joined as MemberCluster "
                f"{other_name} (through {other_endpoint}): one cluster is one member; unjoin {other_name} "
                f"first, or pass --name {other_name} to update it"
            )


def credentials_secret_name(member: str) -> str:
    return f"{member}-credentials"


@dataclass(frozen=True)
class Topology:
    """A member's region and zones, and where they came from (for the messages)."""

    region: str
    zones: tuple[str, ...]
    region_discovered: bool = False
    zones_discovered: bool = False


def plan_topology(
    context: str,
    region: str | None,
    zones: tuple[str, ...] | None,
    node_labels: Iterable[Mapping[str, str]] | None,
) -> Topology:
    """Region and zones from the flags, else from the member's nodes' ``topology.kubernetes.io`` labels.

    ``node_labels`` is None when the nodes were not read (both flags given). A missing or ambiguous region is
    an error naming ``--region``.
    """
    regions: set[str] = set()
    found_zones: set[str] = set()
    for labels in node_labels or ():
        if labels.get(LABEL_REGION):
            regions.add(labels[LABEL_REGION])
        if labels.get(LABEL_ZONE):
            found_zones.add(labels[LABEL_ZONE])
    if region is None:
        if not regions:
            raise CliError(
                f"no node of {context} has a {LABEL_REGION} label, so its region is unknown: pass --region"
            )
        if len(regions) > 1:
            raise CliError(
                f"the nodes of {context} are in several regions ({', '.join(sorted(regions))}): pass --region"
            )
    return Topology(
        region=region if region is not None else next(iter(regions)),
        zones=zones if zones is not None else tuple(sorted(found_zones)),
        region_discovered=region is None,
        zones_discovered=zones is None,
    )


def render_member_cluster_labels(region: str, labels: Mapping[str, str], federation: str) -> dict[str, str]:
    """``region=<region>`` (what placement by region selects on), the ``--label`` values, fedctl's marks.

    A ``--label region=...`` replaces the default one; fedctl's own two labels cannot be replaced.
    """
    return {REGION_LABEL: region, **labels, **render_fedctl_labels(federation)}


@dataclass(frozen=True)
class ProbeFlags:
    """``--probe-period`` and friends; those left out stay out of the spec so the CRD defaults apply."""

    period_seconds: int | None = None
    timeout_seconds: int | None = None
    failure_threshold: int | None = None
    success_threshold: int | None = None

    def render(self) -> dict[str, int]:
        values = {
            "periodSeconds": self.period_seconds,
            "timeoutSeconds": self.timeout_seconds,
            "failureThreshold": self.failure_threshold,
            "successThreshold": self.success_threshold,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class MemberClusterPlan:
    """Everything ``render_member_cluster`` needs."""

    name: str
    federation: str
    api_endpoint: str
    secret_namespace: str
    topology: Topology
    labels: Mapping[str, str] = field(default_factory=dict)
    probe: ProbeFlags = ProbeFlags()


def render_member_cluster(plan: MemberClusterPlan) -> dict[str, Any]:
    """The MemberCluster manifest ``join`` writes (the spec as the user would have written it)."""
    spec: dict[str, Any] = {
        "apiEndpoint": plan.api_endpoint,
        "secretRef": {"name": credentials_secret_name(plan.name), "namespace": plan.secret_namespace},
        "region": plan.topology.region,
    }
    if plan.topology.zones:
        spec["zones"] = list(plan.topology.zones)
    probe = plan.probe.render()
    if probe:
        spec["probe"] = probe
    return {
        "apiVersion": API_VERSION,
        "kind": "MemberCluster",
        "metadata": {
            "name": plan.name,
            "labels": render_member_cluster_labels(plan.topology.region, plan.labels, plan.federation),
        },
        "spec": spec,
    }


def validate_member_cluster_spec(spec: Mapping[str, Any]) -> MemberClusterSpec:
    """The spec parsed by the operator's own parser; a problem is a usage error naming its flag."""
    try:
        return parse_member_cluster_spec(spec)
    except InvalidSpecError as exc:
        problems = []
        for path, message in exc.problems:
            flag = next((f for p, f in _SPEC_FLAGS.items() if path == p or path.startswith(p + "[")), None)
            if flag == "--api-endpoint":
                problems.append(
                    f"{flag}: {spec.get('apiEndpoint')!r} is not an https:// URL (no query or fragment)"
                )
            else:
                problems.append(f"{flag}: {message}" if flag else f"{path}: {message}")
        raise UsageError("; ".join(problems)) from None


def render_credentials_secret(
    *, member: str, namespace: str, federation: str, token: bytes, ca_crt: bytes
) -> dict[str, Any]:
    """The host Secret the MemberCluster's ``secretRef`` names: the member ServiceAccount's token and CA."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": credentials_secret_name(member),
            "namespace": namespace,
            "labels": {**render_fedctl_labels(federation), LABEL_MEMBER_CLUSTER: member},
        },
        "type": "Opaque",
        "data": {
            KEY_TOKEN: base64.b64encode(token).decode("ascii"),
            KEY_CA: base64.b64encode(ca_crt).decode("ascii"),
        },
    }
