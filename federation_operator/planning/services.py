"""Member Services: the manifest each member cluster should hold, whether what it holds matches, and
whether it is ours.

**Ownership is the labels, not the UID.** A member Service belongs to the FederatedService ``namespace/name``
of federation ``F`` when it is that Service (same namespace and name) and carries ``fedop.io/federation=F``
and the owner labels naming ``namespace/name``. The owner's UID, in the ``fedop.io/owner-uid`` annotation,
is only a hint: it tells a Service written by this very object from one its predecessor of the same name
left behind. So a FederatedService re-created from git or a backup (a new UID) adopts its predecessor's
Services as they are, with no write when they already match its spec, the way its DNS records are already
owned by federation and ``namespace/name`` (:mod:`federation_operator.domain.ownership`).

A Service without our labels, or with another federation's or another owner's, is never ours: it is a
conflict, reported and left untouched. To refuse adoption, a user either takes the Service out of the
federation (removes or changes its ``fedop.io/federation`` label: it is then foreign to every object), or
pins it to the one object that wrote it with the annotation ``fedop.io/adopt: "false"`` (set on the member
Service, or in the template so that every member Service of the object carries it): a pinned Service is
owned only by the FederatedService whose UID its ``fedop.io/owner-uid`` annotation names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from federation_operator.domain.members import (
    ANNOTATION_OWNER_UID,
    LABEL_FEDERATION,
    LABEL_MANAGED_BY,
    LABEL_OWNER_NAME,
    LABEL_OWNER_NAMESPACE,
    MANAGED_BY,
    ObservedService,
)
from federation_operator.domain.specs import PatchOp, ServiceTemplate
from federation_operator.planning.overrides import apply_overrides

__all__ = [
    "ANNOTATION_ADOPT",
    "is_adopted",
    "is_in_sync",
    "is_owned_by",
    "render_member_service",
    "render_ownership_labels",
]

# ``"false"`` pins a member Service to the FederatedService whose UID it names: a successor of the same
# name sees a conflict instead of adopting it.
ANNOTATION_ADOPT = "fedop.io/adopt"

# Maps the API treats as one value (``+mapType=atomic``): a key someone added changes what the field means
# (one more selector label selects other Pods), so these must match exactly, not just contain ours.
_ATOMIC_SPEC_MAPS = ("selector",)


def render_ownership_labels(*, federation: str, namespace: str, name: str) -> dict[str, str]:
    """The labels that mark a member Service (and, copied by Kubernetes, its EndpointSlices) as ours."""
    return {
        LABEL_FEDERATION: federation,
        LABEL_OWNER_NAMESPACE: namespace,
        LABEL_OWNER_NAME: name,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def render_member_service(
    *,
    federation: str,
    namespace: str,
    name: str,
    owner_uid: str,
    template: ServiceTemplate,
    overrides: Sequence[PatchOp] = (),
    override_field_prefix: str = "",
) -> dict[str, Any]:
    """The Service manifest a member cluster should hold for the FederatedService ``namespace/name``.

    Name and namespace are the FederatedService's; labels are the template's plus the ownership labels, and
    annotations the template's plus the owner's UID. Where the template uses one of the operator's keys, the
    operator's value wins: without it the operator could not find, adopt or clean up its own Services.

    The spec is the template's in the API's camelCase JSON, ``type`` defaulting to ``LoadBalancer``, without
    null or empty fields (the API server drops those, so sending them would make the shard look forever out
    of sync). ``overrides`` are applied last; their errors name ``{override_field_prefix}[i].path`` (see
    :func:`~federation_operator.planning.overrides.apply_overrides`).
    """
    labels = {
        **template.metadata.labels,
        **render_ownership_labels(federation=federation, namespace=namespace, name=name),
    }
    annotations = {**template.metadata.annotations, ANNOTATION_OWNER_UID: owner_uid}
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": _prune(template.spec.model_dump(mode="json", by_alias=True, exclude_none=True)),
    }
    if not overrides:
        return manifest
    return apply_overrides(manifest, overrides, override_field_prefix)


def is_in_sync(observed: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the live member Service ``observed`` holds every field the operator sets in ``desired``.

    Only the desired labels, annotations and spec are compared, and only the keys the operator sets: what
    the API server or other controllers add (``clusterIP``, allocated ``nodePort`` values, ``ipFamilies``,
    defaulted ``sessionAffinity`` or ``targetPort``, other labels, ``status``) does not count. The one
    exception is ``spec.selector``, which must match exactly: one more key would select other Pods.

    Lists must have the same length and match item by item, each desired object being a subset of the
    observed object at the same index. Scalars must be equal with the same JSON type: ``targetPort: 80`` and
    ``targetPort: "80"`` differ (the string names a container port). A desired empty list or object, or
    null, matches an absent field, since the API server omits empty fields.

    The owner-UID annotation does not count either: it is a hint, and an adopted Service naming its
    predecessor's UID is in sync when everything else matches (the next real write refreshes it).
    """
    desired_meta = desired.get("metadata") or {}
    desired_annotations = {
        key: value
        for key, value in (desired_meta.get("annotations") or {}).items()
        if key != ANNOTATION_OWNER_UID
    }
    observed_meta = observed.get("metadata") or {}
    desired_spec = desired.get("spec") or {}
    observed_spec = observed.get("spec") or {}
    return (
        _is_subset(desired_meta.get("labels") or {}, observed_meta.get("labels") or {})
        and _is_subset(desired_annotations, observed_meta.get("annotations") or {})
        and _is_subset(desired_spec, observed_spec)
        and all(
            _is_subset(observed_spec.get(key) or {}, desired_spec[key] or {})
            for key in _ATOMIC_SPEC_MAPS
            if key in desired_spec
        )
    )


def is_owned_by(observed: ObservedService, federation: str, namespace: str, name: str, uid: str) -> bool:
    """Whether ``observed`` is the member Service of FederatedService ``namespace/name`` (UID ``uid``).

    It must be that Service and carry this federation's label and the owner labels naming ``namespace/name``;
    the owner-UID annotation need not be ``uid`` (a predecessor's Service is adopted, see the module's
    docstring) unless the Service is pinned with ``fedop.io/adopt: "false"``. Anything else (no labels,
    another federation, another owner) is not ours, and the operator reports a conflict rather than
    overwrite it.
    """
    metadata = observed.manifest.get("metadata") or {}
    labels = metadata.get("labels") or {}
    if not (
        observed.owner == (namespace, name)
        and labels.get(LABEL_FEDERATION) == federation
        and (observed.namespace, observed.name) == (namespace, name)
    ):
        return False
    pinned = str((metadata.get("annotations") or {}).get(ANNOTATION_ADOPT, "")).lower() == "false"
    return observed.owner_uid == uid if pinned else True


def is_adopted(observed: ObservedService, uid: str) -> bool:
    """Whether an owned ``observed`` was written by an earlier FederatedService of the same name: its
    owner-UID annotation names another object (a Service written before the annotation existed names none,
    and counts as ours all along)."""
    return observed.owner_uid is not None and observed.owner_uid != uid


def _prune(value: Any) -> Any:
    """``value`` without nulls and empty lists or objects, at any depth (the API server omits them)."""
    if isinstance(value, Mapping):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if not _is_empty(item)}
    if isinstance(value, list | tuple):
        return [_prune(item) for item in value]
    return value


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, Mapping | list | tuple) and not value)


def _is_subset(desired: Any, observed: Any) -> bool:
    if isinstance(desired, Mapping):
        if not isinstance(observed, Mapping):
            return False
        return all(
            _is_empty(value) if key not in observed else _is_subset(value, observed[key])
            for key, value in desired.items()
        )
    if isinstance(desired, list | tuple):
        if not isinstance(observed, list | tuple) or len(desired) != len(observed):
            return False
        return all(_is_subset(want, have) for want, have in zip(desired, observed, strict=True))
    return _same_scalar(desired, observed)


def _same_scalar(desired: Any, observed: Any) -> bool:
    # Python's 1 == True and 80 == 80.0 are not JSON's: keep bool, number and string apart.
    if isinstance(desired, bool) or isinstance(observed, bool):
        return type(desired) is type(observed) and desired == observed
    if isinstance(desired, int | float) and isinstance(observed, int | float):
        return desired == observed
    return type(desired) is type(observed) and bool(desired == observed)
