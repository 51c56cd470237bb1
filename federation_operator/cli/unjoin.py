"""``unjoin``: removing a member cluster from the federation, undoing what ``join`` did.

It goes the other way round from ``join``, host first, so that the operator never holds a MemberCluster
without credentials: the MemberCluster (waiting until the operator has let it go), the credentials Secret
(if fedctl made it), then in the member the federation's Services and what ``join`` created, found by its
labels. A member that cannot be reached leaves the host clean and exits with ``EXIT_PARTIAL``, listing what
is left in the member.
"""

from __future__ import annotations

from dataclasses import dataclass

from federation_operator.cli.context import Globals, Say, require_context
from federation_operator.cli.discovery import DEFAULT_COREFILE_CONFIGMAP, remove_member_discovery
from federation_operator.cli.errors import EXIT_OK, EXIT_PARTIAL, CliError, UsageError
from federation_operator.cli.rbac import MANAGED_BY_FEDCTL, MemberAccess, is_fedctls, render_fedctl_selector
from federation_operator.cli.registration import (
    ANNOTATION_MEMBER_SERVICE_ACCOUNT,
    API_VERSION,
    check_member_cluster_name,
    credentials_secret_name,
)
from federation_operator.cli.rest import Cluster
from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.domain.members import LABEL_FEDERATION, LABEL_MANAGED_BY
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.member_services import observe_service
from federation_operator.kube.transport import api_path

__all__ = ["UnjoinRequest", "unjoin"]


@dataclass(frozen=True)
class UnjoinRequest:
    context: str | None = None
    name: str | None = None
    keep_services: bool = False
    timeout: float = 60.0


def unjoin(g: Globals, request: UnjoinRequest, say: Say, warn: Say) -> int:
    """Remove the member from the federation: host side first, then what ``join`` created in the member."""
    if request.context is None and request.name is None:
        raise UsageError("unjoin needs the member's CONTEXT or --name")
    name = check_member_cluster_name(request.name or str(request.context), from_context=request.name is None)
    if request.context is not None:
        require_context(g.kubeconfig, request.context, "CONTEXT")
    host = g.connect_host()
    try:
        found, endpoint, service_account = _unjoin_host(g, host, name, request.timeout, say)
    finally:
        host.close()

    context = request.context
    if context is None and endpoint:
        candidates = g.kubeconfig.contexts_for_server(endpoint)
        context = candidates[0] if len(candidates) == 1 else None
    leftovers = _expected_leftovers(g.federation, service_account, request.keep_services)
    if context is None:
        if not found:
            say(f"{name} is not joined to the federation {g.federation} in the host cluster")
        why = (
            f"no kubeconfig context given for it, nor one whose server is {endpoint}"
            if endpoint
            else ("no kubeconfig context given for it")
        )
        warn(
            f"the member side was not cleaned: {why}. Left in the member: {leftovers}. "
            f"Run '{g.prog} unjoin CONTEXT --name {name}' to remove them."
        )
        return EXIT_PARTIAL
    member = g.connect(context, "member")
    try:
        say(f"member cluster {context} ({member.server}):")
        removed = _unjoin_member(g, member, request.keep_services, request.timeout, say)
    except ApiConnectionError as exc:
        warn(f"{exc}")
        again = f"{g.prog} unjoin {context}" + ("" if name == context else f" --name {name}")
        warn(
            f"the host side is clean, but the member was not: left in it are {leftovers}. "
            f"Run '{again}' again once it is reachable."
        )
        return EXIT_PARTIAL
    finally:
        member.close()
    if not found and not removed:
        say(f"{name} was not joined (nothing of the federation {g.federation} found): nothing to do")
    else:
        say(f"{name} left the federation {g.federation}")
    return EXIT_OK


def _expected_leftovers(federation: str, service_account: str | None, keep_services: bool) -> str:
    access = MemberAccess(federation, (service_account or "fedop-system/").split("/", 1)[0])
    parts = [] if keep_services else [f"the Services of federation {federation}"]
    parts += [
        f"ClusterRoleBinding and ClusterRole {access.cluster_role}",
        f"ServiceAccount {access.namespace}/{access.service_account} and Secret "
        f"{access.namespace}/{access.token_secret}",
        f"namespace {access.namespace} if join created it",
    ]
    return "; ".join(parts)


def _unjoin_host(
    g: Globals, host: Cluster, name: str, timeout: float, say: Say
) -> tuple[bool, str | None, str | None]:
    """Delete the MemberCluster (and wait until it is gone), then its credentials Secret if fedctl made it.

    Returns whether anything was found, the MemberCluster's apiEndpoint and the member ServiceAccount the
    Secret was minted for (``namespace/name``), when known.
    """
    say(f"host cluster {host.context} ({host.server}):")
    path = api_path(API_VERSION, "memberclusters", name)
    what = f"MemberCluster {name}"
    mc = host.get(path, f"get {what}")
    found = mc is not None
    endpoint: str | None = None
    secret_ref = {"name": credentials_secret_name(name), "namespace": g.operator_namespace}
    if mc is not None:
        spec = mc.get("spec") or {}
        endpoint = str(spec.get("apiEndpoint") or "") or None
        ref = spec.get("secretRef") or {}
        if ref.get("name") and ref.get("namespace"):
            secret_ref = {"name": str(ref["name"]), "namespace": str(ref["namespace"])}
        host.delete(path, f"delete {what}")
        left = host.wait_gone(path, f"get {what}", timeout)
        if left is not None:
            finalizers = ", ".join((left.get("metadata") or {}).get("finalizers") or []) or "none"
            raise CliError(
                f"{what} is still there {timeout:g}s after its deletion (finalizers: {finalizers}): "
                "the operator lets it go: is it running? Nothing else was removed; run unjoin again later"
            )
        say(f"  membercluster {name}: deleted")
    else:
        say(f"  membercluster {name}: not found")

    secret_path = api_path("v1", "secrets", secret_ref["name"], secret_ref["namespace"])
    secret_what = f"Secret {secret_ref['namespace']}/{secret_ref['name']}"
    secret = host.get(secret_path, f"get {secret_what}")
    service_account: str | None = None
    if secret is None:
        say(f"  secret {secret_ref['namespace']}/{secret_ref['name']}: not found")
    elif not is_fedctls(secret):
        found = True
        say(f"  secret {secret_ref['namespace']}/{secret_ref['name']}: kept (not created by fedctl)")
    else:
        found = True
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        service_account = annotations.get(ANNOTATION_MEMBER_SERVICE_ACCOUNT)
        uid = (secret.get("metadata") or {}).get("uid")
        host.delete(secret_path, f"delete {secret_what}", uid=uid)
        say(f"  secret {secret_ref['namespace']}/{secret_ref['name']}: deleted")
    return found, endpoint, service_account


def _remove_discovery(g: Globals, member: Cluster, say: Say) -> bool:
    """In-cluster discovery's rule out of the member's Corefile, and its namespace. A member whose ConfigMap
    fedctl may not read or write still unjoins, and what is left is said (an unreachable member is the
    caller's to report)."""
    try:
        return remove_member_discovery(g.federation, member, DEFAULT_COREFILE_CONFIGMAP, say)
    except ApiConnectionError:
        raise
    except (CliError, PermanentError, TransientError) as exc:
        say(f"  in-cluster discovery: not removed ({exc}); run '{g.prog} discovery disable' once you can")
        return False


def _unjoin_member(g: Globals, member: Cluster, keep_services: bool, timeout: float, say: Say) -> bool:
    """Delete what ``join`` created in the member (and the federation's Services); whether anything was."""
    federation = g.federation
    removed = False
    if keep_services:
        say("  services: kept (--keep-services)")
    else:
        services = member.items(
            api_path("v1", "services"), "list Services", label_selector=f"{LABEL_FEDERATION}={federation}"
        )
        deleted = []
        for service in services:
            observed = observe_service(member.context, service, federation=federation)
            if observed.owner is None:
                continue
            uid = (service.get("metadata") or {}).get("uid")
            path = api_path("v1", "services", observed.name, observed.namespace)
            if member.delete(path, f"delete Service {observed.namespace}/{observed.name}", uid=uid):
                deleted.append(f"{observed.namespace}/{observed.name}")
        removed |= bool(deleted)
        say(
            f"  services of federation {federation}: "
            + (f"deleted {', '.join(deleted)}" if deleted else "none")
        )

    selector = render_fedctl_selector(federation)
    kinds = [
        ("clusterrolebinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
        ("clusterrole", "rbac.authorization.k8s.io/v1", "clusterroles", False),
        ("secret", "v1", "secrets", True),
        ("serviceaccount", "v1", "serviceaccounts", True),
    ]
    for kind, api_version, plural, namespaced in kinds:
        objects = member.items(api_path(api_version, plural), f"list {plural}", label_selector=selector)
        if not objects:
            say(f"  {kind}: none of fedctl's")
        for obj in objects:
            meta = obj.get("metadata") or {}
            ns = str(meta["namespace"]) if namespaced else None
            shown = f"{ns}/{meta['name']}" if ns else str(meta["name"])
            member.delete(
                api_path(api_version, plural, str(meta["name"]), ns),
                f"delete {kind} {shown}",
                uid=meta.get("uid"),
            )
            removed = True
            say(f"  {kind} {shown}: deleted")

    removed |= _remove_discovery(g, member, say)
    for namespace in member.items(api_path("v1", "namespaces"), "list namespaces", label_selector=selector):
        ns = str(namespace["metadata"]["name"])
        others = member.items(
            api_path("v1", "serviceaccounts", namespace=ns),
            f"list ServiceAccounts in {ns}",
            label_selector=f"{LABEL_MANAGED_BY}={MANAGED_BY_FEDCTL}",
        )
        if others:
            say(f"  namespace {ns}: kept (fedctl's ServiceAccounts of other federations are in it)")
            continue
        path = api_path("v1", "namespaces", ns)
        member.delete(path, f"delete Namespace {ns}", uid=namespace["metadata"].get("uid"))
        removed = True
        if member.wait_gone(path, f"get Namespace {ns}", timeout) is not None:
            say(f"  namespace {ns}: deleting (still terminating after {timeout:g}s)")
        else:
            say(f"  namespace {ns}: deleted")
    return removed
