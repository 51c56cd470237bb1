"""``status``: the member clusters, then every FederatedService with its shards, health and DNS names.

Everything shown comes from the host cluster's objects (the operator's status), read with the host context;
``--resolve`` adds what a DNS server answers live for each published name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from federation_operator.cli.context import Globals, fetch_federation_objects
from federation_operator.cli.errors import EXIT_OK, CliError, UsageError
from federation_operator.cli.registration import API_VERSION
from federation_operator.cli.render import (
    LiveAnswer,
    ServiceView,
    member_view,
    published_names,
    render_json,
    render_status,
    service_view,
)
from federation_operator.cli.resolve import fetch_answers, resolve_server_address
from federation_operator.cli.rest import Cluster
from federation_operator.kube.transport import api_path

__all__ = ["StatusRequest", "status"]


@dataclass(frozen=True)
class StatusRequest:
    name: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    resolve: tuple[str, int] | None = None
    output: str = "table"


def status(g: Globals, request: StatusRequest, out: Callable[[str], None]) -> int:
    if request.name and request.all_namespaces:
        raise UsageError("a NAME is looked up in one namespace: drop -A, or give -n NAMESPACE")
    namespace = request.namespace or g.kubeconfig.namespace(g.host_context) or "default"
    host = g.connect_host()
    try:
        members = [
            member_view(m) for m in fetch_federation_objects(host, "memberclusters", "list MemberClusters")
        ]
        services = _fetch_services(host, request, namespace)
    finally:
        host.close()
    members.sort(key=lambda m: m.name)
    services.sort(key=lambda v: (v.namespace, v.name))
    answers: dict[str, LiveAnswer] | None = None
    server_text = None
    if request.resolve is not None:
        host_name, port = request.resolve
        address = resolve_server_address(host_name)
        server_text = f"{host_name}:{port}"
        answers = fetch_answers([name for view in services for name in published_names(view)], address, port)
    if request.output == "json":
        out(json.dumps(render_json(members, services, answers), indent=2, sort_keys=False))
        return EXIT_OK
    scope = "in any namespace" if request.all_namespaces else f"in namespace {namespace}"
    if request.name:
        scope = f"named {request.name} in namespace {namespace}"
    out(render_status(members, services, scope=scope, answers=answers, server=server_text))
    return EXIT_OK


def _fetch_services(host: Cluster, request: StatusRequest, namespace: str) -> list[ServiceView]:
    if request.name:
        what = f"get FederatedService {namespace}/{request.name}"
        obj = host.get(api_path(API_VERSION, "federatedservices", request.name, namespace), what)
        if obj is None:
            raise CliError(f"FederatedService {namespace}/{request.name} not found in the {host.label}")
        return [service_view(obj)]
    in_namespace = None if request.all_namespaces else namespace
    listed = fetch_federation_objects(host, "federatedservices", "list FederatedServices", in_namespace)
    return [service_view(obj) for obj in listed]
