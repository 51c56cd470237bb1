"""``discovery enable|disable CONTEXT``: in-cluster discovery of federated Services on a member's CoreDNS.

``enable`` makes, in order, the three changes discovery needs, each idempotent:

1. in the member, the namespace ``fedop-discovery-<federation>`` (labelled as fedctl's) that will hold the
   operator's ExternalName Services — the operator's member role already covers Services in every namespace,
   so no RBAC is added;
2. in the member's CoreDNS ConfigMap (``kube-system/coredns``), one ``rewrite`` rule, between two marker
   comments, before the ``kubernetes`` plugin line (``planning.discovery.plan_corefile_enable``); CoreDNS's
   ``reload`` plugin picks it up once the kubelet has projected the ConfigMap (up to a minute or so);
3. in the host, the label ``fedop.io/discovery=<cluster domain>`` on the MemberCluster (and
   ``fedop.io/discovery-zone``: ``--zone``, else the zone of the node running the member's first CoreDNS
   Pod): from then on the operator keeps the member's discovery Services current.

``disable`` undoes them the other way round: the label (the operator stops writing), the rule (exactly the
lines ``enable`` added, so the Corefile is the original byte for byte), the namespace. ``unjoin`` restores the
Corefile too (:func:`remove_member_discovery`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from federation_operator.cli.context import Globals, Say, require_context
from federation_operator.cli.errors import EXIT_OK, CliError
from federation_operator.cli.rbac import is_fedctls, render_fedctl_labels
from federation_operator.cli.registration import API_VERSION, check_member_cluster_name
from federation_operator.cli.rest import Cluster
from federation_operator.kube.transport import api_path
from federation_operator.planning.discovery import (
    LABEL_DISCOVERY,
    LABEL_DISCOVERY_ZONE,
    CorefileError,
    discovery_namespace,
    find_cluster_domain,
    plan_cache_warning,
    plan_corefile_disable,
    plan_corefile_enable,
)

__all__ = ["DEFAULT_COREFILE_CONFIGMAP", "DiscoveryRequest", "discovery", "remove_member_discovery"]

MERGE_PATCH = "application/merge-patch+json"
COREFILE_KEY = "Corefile"
DEFAULT_COREFILE_CONFIGMAP = "kube-system/coredns"
COREDNS_PODS = "k8s-app=kube-dns"
ZONE_LABEL = "topology.kubernetes.io/zone"
# A ConfigMap changed between our read and our write (the conflict a resourceVersion detects) is read again.
ATTEMPTS = 3


@dataclass(frozen=True)
class DiscoveryRequest:
    action: str  # "enable" | "disable"
    context: str
    name: str | None = None
    configmap: str = DEFAULT_COREFILE_CONFIGMAP
    cluster_domain: str | None = None
    zone: str | None = None
    timeout: float = 60.0


def discovery(g: Globals, request: DiscoveryRequest, say: Say, warn: Say) -> int:
    """Turn in-cluster discovery on or off for the member behind ``request.context``."""
    require_context(g.kubeconfig, request.context, "CONTEXT")
    name = check_member_cluster_name(request.name or request.context, from_context=request.name is None)
    host = g.connect_host()
    member = g.connect(request.context, "member")
    try:
        if request.action == "enable":
            return _enable(g, request, name, host=host, member=member, say=say, warn=warn)
        return _disable(g, request, name, host=host, member=member, say=say, warn=warn)
    finally:
        host.close()
        member.close()


def _configmap_path(configmap: str) -> tuple[str, str, str]:
    namespace, _, name = configmap.rpartition("/")
    if not namespace or not name:
        raise CliError(f"--configmap {configmap!r}: expected NAMESPACE/NAME")
    return namespace, name, api_path("v1", "configmaps", name, namespace)


def _edit_corefile(member: Cluster, configmap: str, edit: Any) -> str:
    """Apply ``edit`` (Corefile -> Corefile) to the ConfigMap; returns what happened, for the user."""
    namespace, name, path = _configmap_path(configmap)
    what = f"ConfigMap {namespace}/{name}"
    for _ in range(ATTEMPTS):
        obj = member.get(path, f"get {what}")
        if obj is None:
            raise CliError(f"the {member.label} has no {what}: is its cluster DNS CoreDNS? (see --configmap)")
        data = obj.get("data") or {}
        if COREFILE_KEY not in data:
            raise CliError(f"{what} in the {member.label} has no {COREFILE_KEY} key")
        before = str(data[COREFILE_KEY])
        try:
            after = edit(before)
        except CorefileError as exc:
            raise CliError(f"{what} in the {member.label}: {exc}") from None
        if after == before:
            return "unchanged"
        obj["data"] = {**data, COREFILE_KEY: after}
        response = member.request("PUT", path, what=f"update {what}", body=obj)
        if response.status == 409:
            continue  # changed since we read it: read it again
        if response.status not in (200, 201):
            raise member.fail(response, f"update {what}")
        return "updated"
    raise CliError(f"{what} kept changing while it was being updated; try again")


def _ensure_namespace(member: Cluster, namespace: str, federation: str, timeout: float) -> bool:
    """Create the discovery namespace (fedctl's labels); whether it was created. One still terminating (a
    `disable` just deleted it) is waited for first: the operator's writes would fail in it."""
    path = api_path("v1", "namespaces", namespace)
    what = f"get Namespace {namespace}"
    existing = member.get(path, what)
    if existing is not None and (existing.get("metadata") or {}).get("deletionTimestamp"):
        if member.wait_gone(path, what, timeout) is not None:
            raise CliError(
                f"namespace {namespace} of the {member.label} is still being deleted after {timeout:g}s"
            )
        existing = None
    if existing is not None:
        return False
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": render_fedctl_labels(federation)},
    }
    return member.create(api_path("v1", "namespaces"), manifest, f"create Namespace {namespace}") is not None


def _member_cluster(host: Cluster, name: str, g: Globals) -> dict[str, Any] | None:
    return host.get(api_path(API_VERSION, "memberclusters", name), f"get MemberCluster {name}")


def _coredns_zone(member: Cluster, namespace: str) -> str | None:
    """The zone of the node running the member's first CoreDNS Pod (kubeadm, kind, EKS and GKE label them
    ``k8s-app=kube-dns``), None when there is none or its node has no zone label."""
    pods = member.items(
        api_path("v1", "pods", namespace=namespace), f"list Pods in {namespace}", label_selector=COREDNS_PODS
    )
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            continue
        node = member.get(api_path("v1", "nodes", str(node_name)), f"get Node {node_name}")
        zone = ((node or {}).get("metadata") or {}).get("labels", {}).get(ZONE_LABEL)
        if zone:
            return str(zone)
    return None


def _label_member_cluster(host: Cluster, name: str, labels: dict[str, str | None]) -> None:
    path = api_path(API_VERSION, "memberclusters", name)
    what = f"label MemberCluster {name}"
    body = {"metadata": {"labels": labels}}
    response = host.request("PATCH", path, what=what, body=body, content_type=MERGE_PATCH)
    if response.status not in (200, 201):
        raise host.fail(response, what)


def _enable(
    g: Globals, request: DiscoveryRequest, name: str, *, host: Cluster, member: Cluster, say: Say, warn: Say
) -> int:
    mc = _member_cluster(host, name, g)
    if mc is None:
        raise CliError(
            f"no MemberCluster {name} in the {host.label}: run '{g.prog} join {request.context}' first"
        )
    _, _, path = _configmap_path(request.configmap)
    obj = member.get(path, f"get ConfigMap {request.configmap}")
    corefile = str(((obj or {}).get("data") or {}).get(COREFILE_KEY) or "")
    cluster_domain = request.cluster_domain or find_cluster_domain(corefile)
    if cluster_domain is None:
        raise CliError(
            f"ConfigMap {request.configmap} in the {member.label} has no Corefile with the kubernetes plugin"
        )
    say(f"member cluster {request.context} ({member.server}):")
    lag = plan_cache_warning(corefile, cluster_domain)
    if lag is not None:
        warn(f"warning: {request.configmap}: {lag}")
    namespace = discovery_namespace(g.federation)
    created = _ensure_namespace(member, namespace, g.federation, request.timeout)
    say(f"  namespace {namespace}: {'created' if created else 'exists'}")
    outcome = _edit_corefile(
        member, request.configmap, lambda text: plan_corefile_enable(text, g.federation, cluster_domain)
    )
    say(f"  {request.configmap} Corefile: {outcome} (cluster domain {cluster_domain})")
    zone = request.zone or _coredns_zone(member, _configmap_path(request.configmap)[0])
    say(f"host cluster {host.context} ({host.server}):")
    labels: dict[str, str | None] = {LABEL_DISCOVERY: cluster_domain, LABEL_DISCOVERY_ZONE: zone}
    _label_member_cluster(host, name, labels)
    said = f"{LABEL_DISCOVERY}={cluster_domain}" + (f", {LABEL_DISCOVERY_ZONE}={zone}" if zone else "")
    say(f"  MemberCluster {name}: labelled {said}")
    say(
        f"in-cluster discovery is on in {name}: Pods there resolve <service>.<namespace>.{g.federation} "
        "(once CoreDNS has reloaded its Corefile)"
    )
    return EXIT_OK


def _disable(
    g: Globals, request: DiscoveryRequest, name: str, *, host: Cluster, member: Cluster, say: Say, warn: Say
) -> int:
    say(f"host cluster {host.context} ({host.server}):")
    mc = _member_cluster(host, name, g)
    if mc is not None and LABEL_DISCOVERY in ((mc.get("metadata") or {}).get("labels") or {}):
        _label_member_cluster(host, name, {LABEL_DISCOVERY: None, LABEL_DISCOVERY_ZONE: None})
        say(f"  MemberCluster {name}: labels {LABEL_DISCOVERY}, {LABEL_DISCOVERY_ZONE} removed")
    else:
        say(f"  MemberCluster {name}: " + ("not labelled" if mc is not None else "not found"))
    say(f"member cluster {request.context} ({member.server}):")
    remove_member_discovery(g.federation, member, request.configmap, say)
    say(f"in-cluster discovery is off in {name}")
    return EXIT_OK


def remove_member_discovery(federation: str, member: Cluster, configmap: str, say: Say) -> bool:
    """Take the federation's rule out of the member's Corefile and delete fedctl's discovery namespace;
    whether there was anything to remove."""
    path = _configmap_path(configmap)[2]
    removed = False
    if member.get(path, f"get ConfigMap {configmap}") is None:
        say(f"  {configmap}: none")
    else:
        outcome = _edit_corefile(member, configmap, lambda text: plan_corefile_disable(text, federation))
        removed |= outcome == "updated"
        say(
            f"  {configmap} Corefile: "
            + ("discovery rule removed" if outcome == "updated" else "no discovery rule")
        )
    ns = discovery_namespace(federation)
    ns_path = api_path("v1", "namespaces", ns)
    found = member.get(ns_path, f"get Namespace {ns}")
    if found is not None and is_fedctls(found):
        member.delete(ns_path, f"delete Namespace {ns}", uid=(found.get("metadata") or {}).get("uid"))
        removed = True
        say(f"  namespace {ns}: deleted")
    else:
        say(f"  namespace {ns}: " + ("kept (not fedctl's)" if found is not None else "none"))
    return removed
