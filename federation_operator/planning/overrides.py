"""Per-cluster overrides: KubeFed-style JSON-patch operations applied to a member Service manifest."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.keys import thaw
from federation_operator.domain.members import (
    ANNOTATION_OWNER_UID,
    LABEL_FEDERATION,
    LABEL_MANAGED_BY,
    LABEL_OWNER_NAME,
    LABEL_OWNER_NAMESPACE,
)
from federation_operator.domain.specs import PROTECTED_PATCH_PATHS, ClusterOverride, PatchOp

__all__ = [
    "OVERRIDABLE_PATHS",
    "apply_overrides",
    "escape_pointer_token",
    "plan_cluster_overrides",
    "render_pointer",
]

OVERRIDABLE_PATHS = ("/spec", "/metadata/labels/", "/metadata/annotations/")
"""Where an override may point: the Service's spec, and single labels or annotations.

Anything else in the manifest either decides which object a shard is (name, namespace, kind) or is not ours
to set (status, other metadata): the member's API server would ignore or reject it, and the shard would never
look in sync.
"""


def escape_pointer_token(token: str) -> str:
    """One JSON-pointer reference token, escaped (``a/b~c`` becomes ``a~1b~0c``)."""
    return token.replace("~", "~0").replace("/", "~1")


def render_pointer(*tokens: str | int) -> str:
    """A JSON pointer from unescaped tokens: ``render_pointer("metadata", "labels", "a/b")``."""
    return "".join(f"/{escape_pointer_token(str(token))}" for token in tokens)


_OWNERSHIP_PATHS = {
    render_pointer("metadata", "labels", key): f"the operator's ownership label {key}"
    for key in (LABEL_FEDERATION, LABEL_OWNER_NAMESPACE, LABEL_OWNER_NAME, LABEL_MANAGED_BY)
} | {
    render_pointer("metadata", "annotations", ANNOTATION_OWNER_UID): (
        f"the operator's ownership annotation {ANNOTATION_OWNER_UID}"
    ),
}

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


def plan_cluster_overrides(
    overrides: Sequence[ClusterOverride], cluster: str
) -> tuple[tuple[PatchOp, ...], str]:
    """The patches for ``cluster`` and the field path they are reported under.

    The path is ``spec.overrides[i].clusterOverrides`` for the entry naming the cluster (the CRD keeps one
    entry per cluster), so errors from :func:`apply_overrides` name the exact field the user wrote.
    """
    for index, override in enumerate(overrides):
        if override.cluster_name == cluster:
            return override.cluster_overrides, f"spec.overrides[{index}].clusterOverrides"
    return (), ""


def apply_overrides(
    manifest: Mapping[str, Any], overrides: Sequence[PatchOp], field_prefix: str
) -> dict[str, Any]:
    """A copy of ``manifest`` with ``overrides`` applied in order (RFC 6902 ``add``, ``remove``, ``replace``).

    Paths are RFC 6901 JSON pointers (``~1`` for ``/``, ``~0`` for ``~``; array indices; ``-`` appends on
    ``add``). The input is never changed, and the result shares no mutable value with the input or with the
    operations' values.

    Raises :class:`InvalidSpecError` naming ``{field_prefix}[i].path`` for the first operation that fails:
    a path that does not exist (for ``remove`` and ``replace``, or a missing parent for ``add``), a bad array
    index, a path outside :data:`OVERRIDABLE_PATHS`, or one that would change the operator's ownership labels
    or annotation.
    """
    document: dict[str, Any] = thaw(manifest)
    for index, patch in enumerate(overrides):
        field = f"{field_prefix}[{index}].path"
        tokens = _parse_pointer(patch.path, field)
        _check_allowed(patch.path, field)
        parent = _resolve_parent(document, tokens, patch.path, field)
        _apply_one(parent, tokens[-1], patch, field)
    return document


def _invalid(field: str, message: str) -> InvalidSpecError:
    return InvalidSpecError(((field, message),))


def _check_allowed(path: str, field: str) -> None:
    if path in PROTECTED_PATCH_PATHS:
        raise _invalid(field, f"{path} must not be patched: it decides which object the shard is")
    if path in _OWNERSHIP_PATHS:
        raise _invalid(field, f"{path} must not be patched: it is {_OWNERSHIP_PATHS[path]}")
    if path != "/spec" and not path.startswith(("/spec/", *OVERRIDABLE_PATHS[1:])):
        raise _invalid(
            field, f"{path} is not patchable: overrides may change /spec and single labels or annotations"
        )


def _parse_pointer(path: str, field: str) -> list[str]:
    if not path.startswith("/"):
        raise _invalid(field, f"{path!r} is not a JSON pointer: it must start with /")
    if _BAD_ESCAPE.search(path):
        raise _invalid(field, f"{path} is not a JSON pointer: ~ must be followed by 0 or 1")
    # ~1 first, then ~0: "~01" stands for the two characters "~1", not for "/".
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _resolve_parent(
    document: Any, tokens: Sequence[str], path: str, field: str
) -> dict[str, Any] | list[Any]:
    """The container the last token of ``path`` lives in; every step before it must exist (RFC 6902 4.1)."""
    node = document
    for depth, token in enumerate(tokens[:-1]):
        if isinstance(node, dict):
            if token not in node:
                raise _invalid(field, f"{_prefix(tokens, depth + 1)} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_existing_index(node, token, _prefix(tokens, depth + 1), field)]
        else:
            raise _invalid(field, f"{path}: {_prefix(tokens, depth)} is not an object or an array")
    if not isinstance(node, dict | list):
        raise _invalid(field, f"{path}: {_prefix(tokens, len(tokens) - 1)} is not an object or an array")
    return node


def _apply_one(parent: dict[str, Any] | list[Any], token: str, patch: PatchOp, field: str) -> None:
    path = patch.path
    if isinstance(parent, dict):
        if patch.op != "add" and token not in parent:
            raise _invalid(field, f"{path} does not exist")
        if patch.op == "remove":
            del parent[token]
        else:
            parent[token] = thaw(patch.value)
    elif patch.op == "add":
        index = len(parent) if token == "-" else _index(token, path, field)
        if index > len(parent):
            raise _invalid(field, _out_of_range(path, index, parent))
        parent.insert(index, thaw(patch.value))
    elif patch.op == "remove":
        del parent[_existing_index(parent, token, path, field)]
    else:
        parent[_existing_index(parent, token, path, field)] = thaw(patch.value)


def _existing_index(array: list[Any], token: str, path: str, field: str) -> int:
    index = _index(token, path, field)
    if index >= len(array):
        raise _invalid(field, _out_of_range(path, index, array))
    return index


def _index(token: str, path: str, field: str) -> int:
    if token == "-":
        raise _invalid(field, f"{path}: - (past the end of the array) only works with op add")
    if not _ARRAY_INDEX.fullmatch(token):
        raise _invalid(field, f"{path}: {token!r} is not an array index")
    return int(token)


def _out_of_range(path: str, index: int, array: list[Any]) -> str:
    return f"{path}: index {index} is out of range (the array has {len(array)} items)"


def _prefix(tokens: Sequence[str], length: int) -> str:
    return render_pointer(*tokens[:length]) or "/"
