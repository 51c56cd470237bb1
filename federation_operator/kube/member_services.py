"""Member Services and their EndpointSlices: reading them (pure) and writing them (I/O).

The I/O calls act on one member through its ``ClusterClient`` and speak raw JSON (camelCase dicts, as
``kubectl get -o json``). Each is an exchange (``*_exchange``: its requests as data), made on the event loop
by the operator (``AsyncTransport.run``) or in a thread (``run_exchange``); either way it ends within its
budget of time (all of its requests together: an apply that repairs ports makes up to four), so a member
that accepts connections but never answers (a hung API server) holds its caller for that long at most.
Failures come out as the operator's own errors, mapped here once:

* the member cannot be reached, throttles us (429) or fails (5xx) → the one classification of
  :mod:`federation_operator.kube.errors` (transient, ``delay`` from ``Retry-After`` when the member gives
  one);
* the object changed under us (409 Conflict), or its namespace is being deleted or vanished between two
  calls → :class:`TransientError`: rules of these writes, on top of that classification;
* any other 4xx (invalid manifest, forbidden, unauthorized) → :class:`PermanentError`, with the API server's
  own message; a create that finds the name taken → :class:`ServiceExistsError`.

The pure helpers (:func:`observe_service`, :func:`summarize_endpoints`, :func:`endpoint_slice_service`)
turn raw objects delivered by the shared watches into the values of :mod:`federation_operator.domain.members`;
:func:`trim_service` and :func:`trim_endpoint_slice` cut a watched object down to what those read, so the
member cache holds no more of each than that.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from federation_operator.domain.errors import FederationError, PermanentError, TransientError
from federation_operator.domain.keys import owner_key
from federation_operator.domain.members import (
    ANNOTATION_OWNER_UID,
    FIELD_MANAGER,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    EndpointSummary,
    Ingress,
    ObservedService,
)
from federation_operator.kube.transport import (
    DeleteOutcome,
    Exchange,
    RawResponse,
    Request,
    api_path,
    api_status,
    delete_exchange,
    response_error,
    status_message,
)

__all__ = [
    "LABEL_SERVICE_NAME",
    "ServiceExistsError",
    "apply_service_exchange",
    "check_answering_exchange",
    "create_service_exchange",
    "delete_service_exchange",
    "endpoint_slice_service",
    "ensure_namespace_exchange",
    "fetch_service_exchange",
    "observe_service",
    "summarize_endpoints",
    "trim_endpoint_slice",
    "trim_service",
]

# Set by the EndpointSlice controller on every slice it manages: the Service the slice belongs to.
LABEL_SERVICE_NAME = "kubernetes.io/service-name"


class ServiceExistsError(PermanentError):
    """:func:`create_service` found a Service already at that namespace and name."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(f"Service {namespace}/{name} already exists")
        self.namespace = namespace
        self.name = name


# --- I/O ----------------------------------------------------------------------------------------------------
# Each call is an exchange: its requests as data, made on the event loop by ``AsyncTransport.run`` (or in a
# thread by ``run_exchange``).


def fetch_service_exchange(namespace: str, name: str) -> Exchange[dict[str, Any] | None]:
    what = f"get Service {namespace}/{name}"
    response = yield Request("GET", _service_path(namespace, name), what)
    if response.status == 404:
        return None
    return _object(response, what)


def ensure_namespace_exchange(namespace: str) -> Exchange[bool]:
    """Make sure ``namespace`` exists; returns True when this call created it.

    A namespace we create is labelled ``app.kubernetes.io/managed-by=federation-operator``, so that it is
    recognisable as ours; an existing one is left exactly as it is.
    """
    what = f"get Namespace {namespace}"
    response = yield Request("GET", api_path("v1", "namespaces", namespace), what)
    if response.status == 200:
        return False
    if response.status != 404:
        raise _error(response, what)
    what = f"create Namespace {namespace}"
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
    }
    response = yield Request("POST", api_path("v1", "namespaces"), what, body=manifest)
    if response.status == 409:  # created by someone else since we looked: exists, and is not ours
        return False
    _object(response, what)
    return True


def create_service_exchange(manifest: Mapping[str, Any]) -> Exchange[dict[str, Any]]:
    """Create the Service ``manifest`` describes; returns it as stored.

    Raises :class:`ServiceExistsError` when the name is taken (by an earlier attempt of ours or by someone
    else: look at its owner labels to know).
    """
    namespace, name = _identity(manifest)
    what = f"create Service {namespace}/{name}"
    path = api_path("v1", "services", namespace=namespace)
    response = yield Request("POST", path, what, body=dict(manifest))
    if response.status == 409 and _status_reason(response) == "AlreadyExists":
        raise ServiceExistsError(namespace, name)
    return _object(response, what)


def apply_service_exchange(manifest: Mapping[str, Any]) -> Exchange[dict[str, Any]]:
    """Server-side apply ``manifest`` as field manager ``federation-operator`` (forcing conflicts).

    Applying the same manifest again changes nothing (not even the resourceVersion); fields another manager
    changed are taken back. The manifest must hold ``apiVersion``, ``kind``, ``metadata.name`` and
    ``metadata.namespace``. Returns the Service as stored.

    Ports need more than an apply. ``spec.ports`` is a list keyed by (port, protocol), and an apply never
    removes an entry another manager owns: after ``kubectl edit`` changed port 80 to 81, applying port 80
    back would keep 81 beside it (rejected as two ports with one name, or served as an extra port). So when
    the stored ports are not the manifest's, they are replaced with a JSON patch and the manifest applied
    again.
    """
    namespace, name = _identity(manifest)
    what = f"apply Service {namespace}/{name}"
    apply = _server_side_apply(namespace, name, manifest, what)
    response = yield apply
    desired = _port_keys(manifest)
    if desired is None or response.status not in (200, 201, 422):
        return _object(response, what)
    if response.status != 422:
        live: dict[str, Any] | None = _object(response, what)
    else:
        live = yield from fetch_service_exchange(namespace, name)
    if live is None or _port_keys(live) in (desired, None):
        return _object(response, what)
    patch = [{"op": "add", "path": "/spec/ports", "value": manifest["spec"]["ports"]}]
    repaired = yield Request(
        "PATCH",
        _service_path(namespace, name),
        f"replace ports of Service {namespace}/{name}",
        query=[("fieldManager", FIELD_MANAGER)],
        body=patch,
        content_type="application/json-patch+json",
    )
    _object(repaired, what)
    return _object((yield apply), what)


def _server_side_apply(namespace: str, name: str, manifest: Mapping[str, Any], what: str) -> Request:
    return Request(
        "PATCH",
        _service_path(namespace, name),
        what,
        query=[("fieldManager", FIELD_MANAGER), ("force", True)],
        # JSON is YAML: the client sends the manifest as JSON under the apply content type.
        body=dict(manifest),
        content_type="application/apply-patch+yaml",
    )


def _port_keys(obj: Mapping[str, Any]) -> frozenset[tuple[object, str]] | None:
    """The (port, protocol) keys of ``spec.ports``, or None when the object does not say."""
    spec = obj.get("spec")
    ports = spec.get("ports") if isinstance(spec, Mapping) else None
    if not isinstance(ports, list):
        return None
    return frozenset(
        (port.get("port"), str(port.get("protocol") or "TCP")) for port in ports if isinstance(port, Mapping)
    )


def delete_service_exchange(namespace: str, name: str, uid: str | None) -> Exchange[DeleteOutcome]:
    """Delete the Service ``namespace/name``, only if its UID is ``uid`` (when given).

    ``"uid-mismatch"`` when another Service stands at that name, ``"absent"`` when none does (the rules of
    :func:`~federation_operator.kube.transport.delete_exchange`).
    """
    what = f"delete Service {namespace}/{name}"
    outcome, response = yield from delete_exchange(_service_path(namespace, name), what=what, uid=uid)
    if outcome is None:
        raise _error(response, what)
    return outcome


def check_answering_exchange() -> Exchange[None]:
    """One request (``/readyz``) to learn whether the member answers at all, whatever it answers;
    :class:`~federation_operator.kube.errors.ApiConnectionError` when it does not in time."""
    yield Request("GET", "/readyz", "check that it answers", accept="text/plain")


def _service_path(namespace: str, name: str) -> str:
    return api_path("v1", "services", name, namespace)


def _identity(manifest: Mapping[str, Any]) -> tuple[str, str]:
    metadata = manifest.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    missing = [
        field
        for field, value in (
            ("apiVersion", manifest.get("apiVersion")),
            ("kind", manifest.get("kind")),
            ("metadata.name", name),
            ("metadata.namespace", namespace),
        )
        if not isinstance(value, str) or not value
    ]
    if missing:
        raise PermanentError(f"Service manifest lacks {', '.join(missing)}")
    if manifest["apiVersion"] != "v1" or manifest["kind"] != "Service":
        raise PermanentError(f"not a Service manifest: {manifest['apiVersion']}/{manifest['kind']}")
    return str(namespace), str(name)


def _object(response: RawResponse, what: str) -> dict[str, Any]:
    if not 200 <= response.status <= 299:
        raise _error(response, what)
    try:
        obj = response.json()
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise TransientError(f"{what}: the member answered {response.status} without a JSON object")
    return obj


def _status_reason(response: RawResponse) -> str:
    return str(api_status(response).get("reason") or "")


def _error(response: RawResponse, what: str) -> FederationError:
    """The operator's error for an API error response (a ``metav1.Status``) to a Service write."""
    code = response.status
    message = f"{what}: {status_message(response)}"
    if code == 409 and _status_reason(response) != "AlreadyExists":
        # "the object has been modified; please apply your changes to the latest version and try again".
        return TransientError(message)
    if code == 404:
        # A write finding no namespace: it was deleted since ensure_namespace; the retry re-creates it.
        return TransientError(message)
    causes = (api_status(response).get("details") or {}).get("causes") or []
    if code == 403 and any(cause.get("reason") == "NamespaceTerminating" for cause in causes):
        # The namespace is going away; once it is gone, the retry re-creates it.
        return TransientError(message, delay=5.0)
    return response_error(response, what)


# --- pure: reading raw member objects ----------------------------------------------------------------------


def observe_service(
    cluster: str,
    obj: Mapping[str, Any],
    *,
    federation: str | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> ObservedService:
    """What a raw member Service says: who owns it (from our labels and annotation) and its LB ingress.

    The owner is ``(namespace, name)`` of the FederatedService named by our owner labels, when the Service
    carries the federation label (equal to ``federation``, when given); otherwise None: not ours. The value
    holds ``manifest`` as the Service (``obj`` itself by default; the member cache passes its trimmed copy).
    """
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    labels: Mapping[str, Any] = metadata.get("labels") or {}
    annotations: Mapping[str, Any] = metadata.get("annotations") or {}
    owner = owner_key(labels, federation)
    owner_uid = annotations.get(ANNOTATION_OWNER_UID) if owner else None
    status: Mapping[str, Any] = obj.get("status") or {}
    load_balancer: Mapping[str, Any] = status.get("loadBalancer") or {}
    ingress = tuple(
        Ingress(ip=point.get("ip") or None, hostname=point.get("hostname") or None)
        for point in load_balancer.get("ingress") or ()
        if isinstance(point, Mapping) and (point.get("ip") or point.get("hostname"))
    )
    return ObservedService(
        cluster=cluster,
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        owner=owner,
        owner_uid=str(owner_uid) if owner_uid else None,
        manifest=obj if manifest is None else manifest,
        ingress=ingress,
    )


def endpoint_slice_service(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(namespace, service name)`` an EndpointSlice belongs to, from its ``kubernetes.io/service-name``."""
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    service = (metadata.get("labels") or {}).get(LABEL_SERVICE_NAME)
    namespace = metadata.get("namespace")
    return (str(namespace), str(service)) if service and namespace else None


def trim_service(obj: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the member cache keeps of a watched Service, once :func:`observe_service` has read it: the
    Service without ``metadata.managedFields`` (server-side apply bookkeeping that nothing of ours reads,
    as large as the rest of a small Service) and without ``status`` (its ingress is read into the
    :class:`ObservedService`), its names, labels, annotations and spec holding shared strings: the same
    ``TCP``, ``LoadBalancer``, label values and owner names recur in every member's copy of every Service.

    ``previous`` is what the cache kept of the same Service before this event (or of its copy in another
    member, when it has none yet): a part equal to its counterpart there (the spec, the labels: most events
    change neither; every member's copy has the same labels) is taken from it as it is, already shared,
    instead of being walked again.
    """
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    before: Mapping[str, Any] = previous or {}
    trimmed = {
        key: _kept(value, before.get(key)) for key, value in obj.items() if key not in ("metadata", "status")
    }
    kept_metadata: Mapping[str, Any] = before.get("metadata") or {}
    trimmed["metadata"] = {
        key: _kept(value, kept_metadata.get(key)) if key in _SHARED_METADATA else value
        for key, value in metadata.items()
        if key != "managedFields"
    }
    return trimmed


# Metadata whose values recur across objects (a Service's name is its owner's, in every member); a UID or a
# resourceVersion is unique and is not looked up.
_SHARED_METADATA = frozenset({"name", "namespace", "labels", "annotations"})
# Longer strings (a certificate in an annotation, say) are rarely repeated: not worth a lookup.
_SHARED_MAX_LENGTH = 64


def _kept(value: Any, previous: Any) -> Any:
    """``previous`` when it equals ``value`` (it is shared already), else ``value`` shared."""
    if previous is not None and type(previous) is type(value) and previous == value:
        return previous
    return _shared(value)


def _shared(value: Any) -> Any:
    """``value`` (JSON) with its short strings interned: equal strings become one object. Keys are left:
    the JSON decoder already hands out one object per distinct short key. The interpreter drops an
    interned string once nothing else holds it, so the table follows what is held."""
    kind = type(value)
    if kind is str:
        return sys.intern(value) if len(value) <= _SHARED_MAX_LENGTH else value
    if kind is dict:
        return _shared_dict(value)
    if kind is list:
        return _shared_list(value)
    return value


def _shared_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    # _shared inlined for the leaves (most values are short strings or numbers): a call per container only.
    shared: dict[str, Any] = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            shared[key] = sys.intern(item) if len(item) <= _SHARED_MAX_LENGTH else item
        elif kind is dict:
            shared[key] = _shared_dict(item)
        elif kind is list:
            shared[key] = _shared_list(item)
        else:
            shared[key] = item
    return shared


def _shared_list(value: list[Any]) -> list[Any]:
    shared: list[Any] = []
    for item in value:
        kind = type(item)
        if kind is str:
            shared.append(sys.intern(item) if len(item) <= _SHARED_MAX_LENGTH else item)
        elif kind is dict:
            shared.append(_shared_dict(item))
        elif kind is list:
            shared.append(_shared_list(item))
        else:
            shared.append(item)
    return shared


def trim_endpoint_slice(obj: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What :func:`summarize_endpoints` and the owner lookup read of an EndpointSlice: its name, namespace
    and labels, its address type, and per endpoint the first address, readiness and zone (a slice holds
    up to 100 endpoints, each with targetRef, nodeName, hints and three conditions otherwise).

    ``previous`` is what the cache kept of the same slice before this event: its labels, when equal, are
    taken from it as they are (already shared).
    """
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    endpoints = []
    for endpoint in obj.get("endpoints") or ():
        addresses = endpoint.get("addresses")
        first = addresses[:1] if type(addresses) is list else list(addresses or ())[:1]
        trimmed: dict[str, Any] = {"addresses": first}
        conditions = endpoint.get("conditions")
        if conditions and "ready" in conditions:
            trimmed["conditions"] = {"ready": conditions["ready"]}
        zone = endpoint.get("zone")
        if zone:
            trimmed["zone"] = _shared(zone)
        endpoints.append(trimmed)
    kept: Mapping[str, Any] = (previous or {}).get("metadata") or {}
    return {
        "metadata": {
            "name": metadata.get("name"),
            "namespace": _shared(metadata.get("namespace")),
            "resourceVersion": metadata.get("resourceVersion"),
            "labels": _kept(dict(metadata.get("labels") or {}), kept.get("labels")),
        },
        "addressType": _shared(obj.get("addressType")),
        "endpoints": endpoints,
    }


def summarize_endpoints(slices: Iterable[Mapping[str, Any]]) -> EndpointSummary:
    """Ready endpoints over one Service's EndpointSlices, and the zones they are in.

    An endpoint is ready when ``conditions.ready`` is true or absent (the EndpointSlice API says a missing
    value means ready). An endpoint listed in two slices of one address family (slices are rebalanced
    non-atomically) counts once. A dual-stack Service lists each backend once per family, so the count is
    the largest per-family count, not their sum.
    """
    ready_by_family: dict[str, set[str]] = {}
    zones: set[str] = set()
    for endpoint_slice in slices:
        family = str(endpoint_slice.get("addressType") or "")
        ready = ready_by_family.setdefault(family, set())
        for endpoint in endpoint_slice.get("endpoints") or ():
            addresses = endpoint.get("addresses") or ()
            conditions: Mapping[str, Any] = endpoint.get("conditions") or {}
            if not addresses or conditions.get("ready") is False:
                continue
            # The EndpointSlice controller always writes exactly one address; the first identifies it.
            ready.add(str(addresses[0]))
            if endpoint.get("zone"):
                zones.add(str(endpoint["zone"]))
    count = max((len(addresses) for addresses in ready_by_family.values()), default=0)
    return EndpointSummary(ready=count, zones=frozenset(zones))
