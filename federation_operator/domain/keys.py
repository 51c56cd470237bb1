"""How objects are named and recognised: the API group, object keys, the owner a member Service names, and
a plain copy of the JSON the API server (or kopf's read-only views of it) handed us.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation_operator.domain.members import LABEL_FEDERATION, LABEL_OWNER_NAME, LABEL_OWNER_NAMESPACE

__all__ = ["FINALIZER", "GROUP", "VERSION", "Key", "object_key", "owner_key", "thaw"]

# The custom resources' API group and version (crds/).
GROUP = "fedop.io"
VERSION = "v1alpha1"

# Held on every FederatedService until its member Services and DNS records are removed.
FINALIZER = "fedop.io/cleanup"

# (namespace, name) of an object; the namespace is "" for cluster-scoped ones (a MemberCluster).
Key = tuple[str, str]


def object_key(obj: Mapping[str, Any]) -> Key:
    """The key of a raw object (a FederatedService body, a member's Service or EndpointSlice)."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def owner_key(labels: Mapping[str, Any], federation: str | None = None) -> Key | None:
    """The FederatedService that our owner labels name, when they are there and carry the federation label
    (equal to `federation`, when given); None for anything that is not ours."""
    member_of = labels.get(LABEL_FEDERATION)
    namespace, name = labels.get(LABEL_OWNER_NAMESPACE), labels.get(LABEL_OWNER_NAME)
    if not member_of or (federation is not None and member_of != federation) or not namespace or not name:
        return None
    return str(namespace), str(name)


def thaw(value: Any) -> Any:
    """A deep, mutable JSON copy: read-only mappings (kopf's views) become dicts, tuples become lists."""
    if isinstance(value, Mapping):
        return {str(key): thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value
