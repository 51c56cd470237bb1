"""``join``: registering a member cluster with least-privilege credentials.

``join`` works in this order, so a failure never leaves a MemberCluster pointing at missing credentials:
the member is checked not to be joined already under another name (same apiEndpoint, or the same
``kube-system`` Namespace UID as a MemberCluster's ``status.clusterID``); the MemberCluster spec is planned
and checked (region and zones from the flags or the member's nodes); then in the member the namespace (only
if missing), ServiceAccount, ClusterRole, ClusterRoleBinding and token Secret (server-side applied, so
running ``join`` again updates them); then, once the member's token controller has filled the token, the
operator's own probe is tried with it; then in the host the credentials Secret and the MemberCluster.
``unjoin`` (:mod:`federation_operator.cli.unjoin`) undoes it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from federation_operator.cli.context import Globals, Say, fetch_federation_objects
from federation_operator.cli.errors import EXIT_OK, CliError
from federation_operator.cli.rbac import (
    MEMBER_RULES,
    MemberAccess,
    is_fedctls,
    render_cluster_role,
    render_cluster_role_binding,
    render_fedctl_labels,
    render_member_namespace,
    render_service_account,
    render_token_secret,
)
from federation_operator.cli.registration import (
    ANNOTATION_MEMBER_SERVICE_ACCOUNT,
    API_VERSION,
    MemberClusterPlan,
    ProbeFlags,
    Topology,
    check_member_cluster_name,
    check_not_registered,
    credentials_secret_name,
    plan_topology,
    render_credentials_secret,
    render_member_cluster,
    validate_member_cluster_spec,
)
from federation_operator.cli.rest import Cluster, poll
from federation_operator.domain.errors import FederationError
from federation_operator.domain.specs import parse_member_cluster_spec
from federation_operator.kube.cluster_identity import IDENTITY_NAMESPACE, read_cluster_id
from federation_operator.kube.credentials import KEY_CA, KEY_TOKEN, build_api_client
from federation_operator.kube.probe import fetch_probe
from federation_operator.kube.transport import api_path

__all__ = ["JoinRequest", "join"]

ANNOTATION_SA_UID = "kubernetes.io/service-account.uid"
PROBE_CHECK_SECONDS = 10.0


@dataclass(frozen=True)
class JoinRequest:
    context: str
    name: str | None = None
    api_endpoint: str | None = None
    region: str | None = None
    zones: tuple[str, ...] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    probe: ProbeFlags = field(default_factory=ProbeFlags)
    member_namespace: str = "fedop-system"
    wait: bool = False
    timeout: float = 60.0


def _apply(cluster: Cluster, path: str, body: Mapping[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """Server-side apply; says whether that created, changed or left the object as it was."""
    before = cluster.get(path, what)
    after = cluster.apply(path, body, what)
    if before is None:
        return "created", after
    same = before.get("metadata", {}).get("resourceVersion") == after.get("metadata", {}).get(
        "resourceVersion"
    )
    return ("unchanged" if same else "updated"), after


# --- join ---------------------------------------------------------------------------------------------------


def join(g: Globals, request: JoinRequest, say: Say, warn: Say) -> int:
    """Join the member behind the context ``request.context`` to the federation in the host cluster."""
    name = check_member_cluster_name(request.name or request.context, from_context=request.name is None)
    host = g.connect_host()
    member = g.connect(request.context, "member")
    try:
        return _join(g, request, name, host=host, member=member, say=say, warn=warn)
    finally:
        host.close()
        member.close()


def _join(
    g: Globals, request: JoinRequest, name: str, *, host: Cluster, member: Cluster, say: Say, warn: Say
) -> int:
    endpoint = request.api_endpoint or member.server
    members = fetch_federation_objects(host, "memberclusters", "list MemberClusters")
    identity = member.get(
        api_path("v1", "namespaces", IDENTITY_NAMESPACE), f"get Namespace {IDENTITY_NAMESPACE}"
    )
    cluster_id = read_cluster_id(identity) if identity is not None else None
    if cluster_id is None:
        warn(
            f"warning: {request.context} has no {IDENTITY_NAMESPACE} Namespace UID, so whether it is already "
            "joined under another name cannot be checked"
        )
    check_not_registered(name, endpoint=endpoint, cluster_id=cluster_id, members=members)

    node_labels = None
    if request.region is None or request.zones is None:
        nodes = member.items(api_path("v1", "nodes"), f"list Nodes of {request.context}")
        node_labels = [(n.get("metadata") or {}).get("labels") or {} for n in nodes]
    topology = plan_topology(request.context, request.region, request.zones, node_labels)
    plan = MemberClusterPlan(
        name=name,
        federation=g.federation,
        api_endpoint=endpoint,
        secret_namespace=g.operator_namespace,
        topology=topology,
        labels=dict(request.labels),
        probe=request.probe,
    )
    manifest = render_member_cluster(plan)
    validate_member_cluster_spec(manifest["spec"])

    access = MemberAccess(g.federation, request.member_namespace)
    say(f"member cluster {request.context} ({member.server}):")
    token, ca_crt = _ensure_member_access(member, access, request.timeout, say)
    _check_token(member, topology, token=token, ca_crt=ca_crt, say=say, warn=warn)

    say(f"host cluster {host.context} ({host.server}):")
    _ensure_host_namespace(host, g, say)
    _put_credentials_secret(host, g, name, access=access, token=token, ca_crt=ca_crt, say=say)
    generation = _put_member_cluster(host, manifest, topology, say)
    if request.wait:
        _wait_ready(host, name, generation, request.timeout, g.federation)
        say(f"  MemberCluster {name} is Ready")
    say(f"{name} joined the federation {g.federation}")
    return EXIT_OK


def _ensure_member_access(
    member: Cluster, access: MemberAccess, timeout: float, say: Say
) -> tuple[bytes, bytes]:
    ns = access.namespace
    say(f"  namespace {ns}: {_ensure_member_namespace(member, access, timeout)}")
    sa_path = api_path("v1", "serviceaccounts", access.service_account, ns)
    outcome, account = _apply(
        member, sa_path, render_service_account(access), f"apply ServiceAccount {ns}/{access.service_account}"
    )
    say(f"  serviceaccount {ns}/{access.service_account}: {outcome}")
    role_path = api_path("rbac.authorization.k8s.io/v1", "clusterroles", access.cluster_role)
    outcome, _ = _apply(
        member, role_path, render_cluster_role(access), f"apply ClusterRole {access.cluster_role}"
    )
    granted = "; ".join(f"{','.join(r['resources'])}: {','.join(r['verbs'])}" for r in MEMBER_RULES)
    say(f"  clusterrole {access.cluster_role}: {outcome} ({granted})")
    binding_path = api_path(
        "rbac.authorization.k8s.io/v1", "clusterrolebindings", access.cluster_role_binding
    )
    outcome, _ = _apply(
        member,
        binding_path,
        render_cluster_role_binding(access),
        f"apply ClusterRoleBinding {access.cluster_role_binding}",
    )
    say(f"  clusterrolebinding {access.cluster_role_binding}: {outcome}")
    outcome, token, ca_crt = _mint_token(member, access, str(account["metadata"].get("uid") or ""), timeout)
    say(f"  secret {ns}/{access.token_secret}: {outcome}, token for {access.username}")
    return token, ca_crt


def _ensure_member_namespace(member: Cluster, access: MemberAccess, timeout: float) -> str:
    path = api_path("v1", "namespaces", access.namespace)
    what = f"get Namespace {access.namespace}"
    existing = member.get(path, what)
    if existing is not None and (existing.get("status") or {}).get("phase") == "Terminating":
        # An unjoin just deleted it: wait for it to go, then create it afresh.
        if member.wait_gone(path, what, timeout) is not None:
            raise CliError(
                f"namespace {access.namespace} of the {member.label} is still being deleted after "
                f"{timeout:g}s; try again once it is gone, or pass --member-namespace"
            )
        existing = None
    if existing is None:
        created = member.create(
            api_path("v1", "namespaces"),
            render_member_namespace(access),
            f"create Namespace {access.namespace}",
        )
        return "created" if created is not None else "exists"
    if is_fedctls(existing):
        return "exists (created by fedctl)"
    return "exists (not created by fedctl: unjoin will keep it)"


def _mint_token(
    member: Cluster, access: MemberAccess, account_uid: str, timeout: float
) -> tuple[str, bytes, bytes]:
    """Apply the token Secret and wait until the member's token controller has filled it for this account."""
    path = api_path("v1", "secrets", access.token_secret, access.namespace)
    what = f"Secret {access.namespace}/{access.token_secret}"
    outcome, _ = _apply(member, path, render_token_secret(access), f"apply {what}")

    def filled() -> tuple[bytes, bytes] | None:
        secret = member.get(path, f"get {what}")
        if secret is None:
            # The token controller removes a token Secret of a ServiceAccount that was re-created: again.
            member.apply(path, render_token_secret(access), f"apply {what}")
            return None
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        data = secret.get("data") or {}
        if account_uid and annotations.get(ANNOTATION_SA_UID) not in (None, account_uid):
            return None  # still the token of an earlier ServiceAccount of that name
        if not data.get(KEY_TOKEN) or not data.get(KEY_CA):
            return None
        return base64.b64decode(data[KEY_TOKEN]), base64.b64decode(data[KEY_CA])

    result = poll(filled, timeout)
    if result is None:
        raise CliError(
            f"the token controller of the {member.label} did not fill {what} within {timeout:g}s: does its "
            "kube-controller-manager run with --service-account-private-key-file and --root-ca-file? "
            "(--timeout to wait longer)"
        )
    return outcome, result[0], result[1]


def _check_token(
    member: Cluster, topology: Topology, *, token: bytes, ca_crt: bytes, say: Say, warn: Say
) -> None:
    """Run the operator's own probe (``/readyz``, ``/version``, list Nodes) with the minted credentials."""
    try:
        spec = parse_member_cluster_spec(
            {
                "apiEndpoint": member.server,
                "secretRef": {"name": "fedctl-check", "namespace": "fedctl-check"},
                "region": topology.region,
            }
        )
        api = build_api_client(spec, {KEY_TOKEN: token, KEY_CA: ca_crt})
    except FederationError as exc:
        warn(f"warning: could not check the minted token against {member.server}: {exc}")
        return
    try:
        result = fetch_probe(api, PROBE_CHECK_SECONDS)
    finally:
        api.close()
    if result.ok:
        say(f"  check: the operator's probe succeeds with the token (Kubernetes {result.kubernetes_version})")
    else:
        warn(
            f"warning: the operator's probe of {member.server} with the minted token failed: {result.error} "
            "(the operator retries; check the member's API and the token's rights)"
        )


def _ensure_host_namespace(host: Cluster, g: Globals, say: Say) -> None:
    ns = g.operator_namespace
    if host.get(api_path("v1", "namespaces", ns), f"get Namespace {ns}") is not None:
        return
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": render_fedctl_labels(g.federation)},
    }
    created = host.create(api_path("v1", "namespaces"), body, f"create Namespace {ns}")
    say(f"  namespace {ns}: {'created' if created is not None else 'exists'}")


def _put_credentials_secret(
    host: Cluster, g: Globals, name: str, *, access: MemberAccess, token: bytes, ca_crt: bytes, say: Say
) -> None:
    ns, secret_name = g.operator_namespace, credentials_secret_name(name)
    desired = render_credentials_secret(
        member=name, namespace=ns, federation=g.federation, token=token, ca_crt=ca_crt
    )
    desired["metadata"]["annotations"] = {
        ANNOTATION_MEMBER_SERVICE_ACCOUNT: f"{access.namespace}/{access.service_account}"
    }
    path = api_path("v1", "secrets", secret_name, ns)
    what = f"Secret {ns}/{secret_name}"
    existing = host.get(path, f"get {what}")
    if existing is not None and existing.get("type", "Opaque") != desired["type"]:
        # The type cannot be changed in place.
        host.delete(path, f"delete {what}")
        existing = None
    if existing is None:
        created, existing = _create_or_fetch(
            host, api_path("v1", "secrets", namespace=ns), path, desired, what
        )
        if created:
            say(f"  secret {ns}/{secret_name}: created (keys {KEY_TOKEN}, {KEY_CA})")
            return
    meta = existing.get("metadata") or {}
    if existing.get("data") == desired["data"] and all(
        (meta.get("labels") or {}).get(k) == v for k, v in desired["metadata"]["labels"].items()
    ):
        say(f"  secret {ns}/{secret_name}: unchanged")
        return
    body = dict(desired)
    # Replaced as a whole, so that a key left by an earlier registration (a kubeconfig) goes away.
    body["metadata"] = {
        **desired["metadata"],
        "resourceVersion": meta.get("resourceVersion"),
        "labels": {**(meta.get("labels") or {}), **desired["metadata"]["labels"]},
        "annotations": {**(meta.get("annotations") or {}), **desired["metadata"]["annotations"]},
    }
    host.replace(path, body, f"update {what}")
    say(f"  secret {ns}/{secret_name}: updated (keys {KEY_TOKEN}, {KEY_CA})")


def _create_or_fetch(
    host: Cluster, collection: str, path: str, body: Mapping[str, Any], what: str
) -> tuple[bool, dict[str, Any]]:
    """Create ``body`` in ``collection``; or, when someone created it at ``path`` meanwhile, fetch that.

    Returns whether this call created it, and the object.
    """
    created = host.create(collection, body, f"create {what}")
    if created is not None:
        return True, created
    existing = host.get(path, f"get {what}")
    if existing is None:
        raise CliError(f"create {what} in the {host.label}: it exists and does not; try again")
    return False, existing


def _put_member_cluster(host: Cluster, manifest: dict[str, Any], topology: Topology, say: Say) -> int:
    """Create or update the MemberCluster (spec replaced, labels added to); returns its generation."""
    name = manifest["metadata"]["name"]
    path = api_path(API_VERSION, "memberclusters", name)
    what = f"MemberCluster {name}"
    where = f"region {topology.region}" + (" (from its nodes)" if topology.region_discovered else "")
    if topology.zones:
        where += f", zones {','.join(topology.zones)}" + (
            " (from its nodes)" if topology.zones_discovered else ""
        )
    existing = host.get(path, f"get {what}")
    if existing is None:
        collection = api_path(API_VERSION, "memberclusters")
        created, existing = _create_or_fetch(host, collection, path, manifest, what)
        if created:
            say(f"  membercluster {name}: created, {where}")
            return int(existing.get("metadata", {}).get("generation") or 1)
    meta = existing.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **manifest["metadata"]["labels"]}
    if existing.get("spec") == manifest["spec"] and labels == (meta.get("labels") or {}):
        say(f"  membercluster {name}: unchanged, {where}")
        return int(meta.get("generation") or 1)
    body = {
        **manifest,
        "metadata": {
            **manifest["metadata"],
            "resourceVersion": meta.get("resourceVersion"),
            "labels": labels,
        },
    }
    if meta.get("annotations"):
        body["metadata"]["annotations"] = meta["annotations"]
    updated = host.replace(path, body, f"update {what}")
    say(f"  membercluster {name}: updated, {where}")
    return int(updated.get("metadata", {}).get("generation") or 1)


def _wait_ready(host: Cluster, name: str, generation: int, timeout: float, federation: str) -> None:
    path = api_path(API_VERSION, "memberclusters", name)
    last: dict[str, Any] = {}

    def ready() -> bool:
        obj = host.get(path, f"get MemberCluster {name}")
        if obj is None:
            raise CliError(f"MemberCluster {name} was deleted while waiting for it to be Ready")
        status = obj.get("status") or {}
        condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        last.clear()
        last.update(condition or {})
        observed = status.get("observedGeneration")
        current = observed is None or int(observed) >= generation
        return bool(condition and condition.get("status") == "True" and current)

    if not poll(ready, timeout):
        detail = (
            f"{last.get('reason')}: {last.get('message')}" if last else "the operator has not reported on it"
        )
        raise CliError(
            f"MemberCluster {name} is not Ready after {timeout:g}s ({detail}); is the operator running, with "
            f"FEDOP_FEDERATION_NAME={federation}?"
        )
