"""What every command starts from: the global flags resolved (the kubeconfig, the host context, the
federation), connections to the clusters behind contexts, and the host's federation objects.

The kubeconfig and the clusters are reached through :mod:`federation_operator.kube`; here a problem is worded
for the command line, naming the flag or argument at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from federation_operator.cli.errors import CliError, UsageError
from federation_operator.cli.registration import API_VERSION
from federation_operator.cli.rest import Cluster
from federation_operator.cli.rest import connect as connect_context
from federation_operator.domain.keys import GROUP
from federation_operator.kube.kubeconfig import (
    Kubeconfig,
    KubeconfigNotFoundError,
    kubeconfig_path,
    load_kubeconfig,
)
from federation_operator.kube.transport import api_path

__all__ = ["AGENT", "Globals", "Say", "fetch_federation_objects", "open_kubeconfig", "require_context"]

# fedctl's user agent and its field manager for server-side apply.
AGENT = "fedctl"

# Where a command writes a line of progress (or, for warnings, of trouble).
Say = Callable[[str], None]


def open_kubeconfig(flag: str | None) -> Kubeconfig:
    """The kubeconfig ``--kubeconfig`` names, else ``$KUBECONFIG``'s, else ``~/.kube/config``."""
    try:
        return load_kubeconfig(kubeconfig_path(flag))
    except KubeconfigNotFoundError as exc:
        raise UsageError(f"{exc} (pass --kubeconfig or set KUBECONFIG)") from None


def require_context(kubeconfig: Kubeconfig, context: str | None, flag: str) -> str:
    """``context`` (or the current context) if the kubeconfig has it; else an error naming ``flag``."""
    if context is None:
        if not kubeconfig.current_context:
            raise UsageError(f"{kubeconfig.path} has no current-context: pass {flag}")
        context = kubeconfig.current_context
        flag = f"current-context of {kubeconfig.path}"
    if context not in kubeconfig.contexts:
        known = ", ".join(sorted(kubeconfig.contexts)) or "none"
        raise UsageError(f"{flag}: no context {context!r} in {kubeconfig.path} (contexts: {known})")
    return context


@dataclass(frozen=True)
class Globals:
    """The global flags, resolved: the kubeconfig, the host context, the federation and its namespace."""

    kubeconfig: Kubeconfig
    host_context: str
    federation: str
    operator_namespace: str
    prog: str = "fedctl"

    def connect(self, context: str, role: str) -> Cluster:
        """A client for the cluster behind ``context``; ``role`` ("host", "member") names it in messages."""
        return connect_context(self.kubeconfig, context, role, agent=AGENT)

    def connect_host(self) -> Cluster:
        return self.connect(self.host_context, "host")


def fetch_federation_objects(
    host: Cluster, plural: str, what: str, namespace: str | None = None
) -> list[dict[str, Any]]:
    """Every object of the federation's resource ``plural`` (in ``namespace``, when given).

    A host that does not serve it (no CRDs) is an error saying what to install.
    """
    path = api_path(API_VERSION, plural, namespace=namespace)
    response = host.request("GET", path, what=what, query=[("limit", 1)])
    if response.status == 404:
        raise CliError(
            f"the {host.label} does not serve {plural}.{GROUP}: install the CRDs (kubectl apply -f crds/) or "
            "the Helm chart first"
        )
    if response.status != 200:
        raise host.fail(response, what)
    return host.items(path, what)
