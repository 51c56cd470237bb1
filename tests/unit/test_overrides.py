"""Per-cluster overrides: JSON-patch add/remove/replace on a member Service manifest, and their errors."""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.specs import ClusterOverride, PatchOp
from federation_operator.planning.overrides import (
    apply_overrides,
    escape_pointer_token,
    plan_cluster_overrides,
    render_pointer,
)

PREFIX = "spec.overrides[0].clusterOverrides"
MANIFEST: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "nginx",
        "namespace": "web",
        "labels": {"app": "nginx", "fedop.io/federation": "myfederation", "a/b~c": "x"},
        "annotations": {"fedop.io/owner-uid": "uid-1"},
    },
    "spec": {
        "type": "LoadBalancer",
        "selector": {"app": "nginx"},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443}],
    },
}


def op(op: str, path: str, value: Any = None) -> PatchOp:
    raw: dict[str, Any] = {"op": op, "path": path}
    if value is not None:
        raw["value"] = value
    return PatchOp.model_validate(raw)


def patched(*ops: PatchOp) -> dict[str, Any]:
    return apply_overrides(MANIFEST, ops, PREFIX)


@pytest.mark.parametrize(
    ("ops", "path", "expected"),
    [
        pytest.param(
            [op("replace", "/spec/type", "NodePort")], ("spec", "type"), "NodePort", id="replace-scalar"
        ),
        pytest.param(
            [op("add", "/spec/externalTrafficPolicy", "Local")],
            ("spec", "externalTrafficPolicy"),
            "Local",
            id="add-new-member",
        ),
        pytest.param(
            [op("add", "/spec/type", "ClusterIP")], ("spec", "type"), "ClusterIP", id="add-replaces-member"
        ),
        pytest.param(
            [op("replace", "/spec/ports/1/port", 8443)], ("spec", "ports", 1, "port"), 8443, id="array-index"
        ),
        pytest.param(
            [op("add", "/spec/ports/-", {"name": "dns", "port": 53, "protocol": "UDP"})],
            ("spec", "ports", 2, "name"),
            "dns",
            id="append-with-dash",
        ),
        pytest.param(
            [op("add", "/spec/ports/0", {"name": "first", "port": 1})],
            ("spec", "ports", 0, "name"),
            "first",
            id="insert-at-index",
        ),
        pytest.param(
            [op("add", "/spec/ports/2", {"name": "last", "port": 2})],
            ("spec", "ports", 2, "name"),
            "last",
            id="insert-at-end-index",
        ),
        pytest.param(
            [op("remove", "/spec/ports/0")], ("spec", "ports", 0, "name"), "https", id="remove-array-item"
        ),
        pytest.param(
            [op("replace", "/metadata/labels/a~1b~0c", "y")],
            ("metadata", "labels", "a/b~c"),
            "y",
            id="escaped-tokens",
        ),
        pytest.param(
            [op("add", "/metadata/annotations/service.beta.kubernetes.io~1aws-load-balancer-type", "nlb")],
            ("metadata", "annotations", "service.beta.kubernetes.io/aws-load-balancer-type"),
            "nlb",
            id="add-annotation",
        ),
        pytest.param(
            [
                op("add", "/spec/loadBalancerSourceRanges", ["10.0.0.0/8"]),
                op("add", "/spec/loadBalancerSourceRanges/-", "192.168.0.0/16"),
            ],
            ("spec", "loadBalancerSourceRanges"),
            ["10.0.0.0/8", "192.168.0.0/16"],
            id="ops-apply-in-order",
        ),
        pytest.param(
            [op("replace", "/spec", {"type": "ExternalName", "externalName": "example.com"})],
            ("spec", "type"),
            "ExternalName",
            id="replace-whole-spec",
        ),
    ],
)
def test_apply_overrides(ops: list[PatchOp], path: tuple[str | int, ...], expected: Any) -> None:
    node: Any = patched(*ops)
    for token in path:
        node = node[token]
    assert node == expected


def test_remove_deletes_the_member() -> None:
    assert "selector" not in patched(op("remove", "/spec/selector"))["spec"]


def test_no_overrides_is_an_equal_copy() -> None:
    result = apply_overrides(MANIFEST, (), PREFIX)
    assert result == MANIFEST
    assert result is not MANIFEST
    assert result["spec"]["ports"] is not MANIFEST["spec"]["ports"]


def test_read_only_mappings_are_copied_into_plain_dicts() -> None:
    frozen = MappingProxyType({"spec": MappingProxyType({"type": "LoadBalancer", "ports": ({"port": 80},)})})
    result = apply_overrides(frozen, [op("add", "/spec/ports/-", {"port": 81})], PREFIX)
    assert result == {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 81}]}}


def test_values_are_copied_not_shared() -> None:
    patch = op("add", "/spec/selector", {"app": "nginx", "tier": "web"})
    result = patched(patch)
    result["spec"]["selector"]["tier"] = "changed"
    assert patch.value["tier"] == "web"


@pytest.mark.parametrize(
    ("ops", "field", "message"),
    [
        pytest.param(
            [op("replace", "/spec/type", "NodePort"), op("replace", "/spec/portz", 1)],
            f"{PREFIX}[1].path",
            "/spec/portz does not exist",
            id="replace-missing",
        ),
        pytest.param(
            [op("remove", "/spec/externalName")],
            f"{PREFIX}[0].path",
            "/spec/externalName does not exist",
            id="remove-missing",
        ),
        pytest.param(
            [op("add", "/spec/sessionAffinityConfig/clientIP", {})],
            f"{PREFIX}[0].path",
            "/spec/sessionAffinityConfig does not exist",
            id="add-missing-parent",
        ),
        pytest.param(
            [op("replace", "/spec/ports/2/port", 1)],
            f"{PREFIX}[0].path",
            "/spec/ports/2: index 2 is out of range (the array has 2 items)",
            id="index-out-of-range",
        ),
        pytest.param(
            [op("add", "/spec/ports/3", {})],
            f"{PREFIX}[0].path",
            "/spec/ports/3: index 3 is out of range (the array has 2 items)",
            id="add-index-past-end",
        ),
        pytest.param(
            [op("replace", "/spec/ports/01/port", 1)],
            f"{PREFIX}[0].path",
            "/spec/ports/01: '01' is not an array index",
            id="leading-zero-index",
        ),
        pytest.param(
            [op("replace", "/spec/ports/http", 1)],
            f"{PREFIX}[0].path",
            "/spec/ports/http: 'http' is not an array index",
            id="name-as-index",
        ),
        pytest.param(
            [op("remove", "/spec/ports/-")],
            f"{PREFIX}[0].path",
            "/spec/ports/-: - (past the end of the array) only works with op add",
            id="dash-on-remove",
        ),
        pytest.param(
            [op("add", "/spec/type/x", "y")],
            f"{PREFIX}[0].path",
            "/spec/type/x: /spec/type is not an object or an array",
            id="through-a-scalar",
        ),
        pytest.param(
            [op("replace", "/metadata/labels/fedop.io~1federation", "other")],
            f"{PREFIX}[0].path",
            "/metadata/labels/fedop.io~1federation must not be patched: it is the operator's ownership label "
            "fedop.io/federation",
            id="ownership-label",
        ),
        pytest.param(
            [op("remove", "/metadata/labels/app.kubernetes.io~1managed-by")],
            f"{PREFIX}[0].path",
            "/metadata/labels/app.kubernetes.io~1managed-by must not be patched: "
            "it is the operator's ownership label app.kubernetes.io/managed-by",
            id="managed-by-label",
        ),
        pytest.param(
            [op("remove", "/metadata/annotations/fedop.io~1owner-uid")],
            f"{PREFIX}[0].path",
            "/metadata/annotations/fedop.io~1owner-uid must not be patched: it is the operator's ownership "
            "annotation fedop.io/owner-uid",
            id="owner-uid-annotation",
        ),
        pytest.param(
            [op("replace", "/metadata/labels", {})],
            f"{PREFIX}[0].path",
            "/metadata/labels is not patchable: overrides may change /spec and single labels or annotations",
            id="whole-labels",
        ),
        pytest.param(
            [op("add", "/status", {})],
            f"{PREFIX}[0].path",
            "/status is not patchable: overrides may change /spec and single labels or annotations",
            id="status",
        ),
        pytest.param(
            [op("add", "/metadata/generateName", "x")],
            f"{PREFIX}[0].path",
            "/metadata/generateName is not patchable: "
            "overrides may change /spec and single labels or annotations",
            id="other-metadata",
        ),
    ],
)
def test_apply_overrides_errors(ops: list[PatchOp], field: str, message: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        patched(*ops)
    assert (caught.value.field, caught.value.message) == (field, message)
    assert str(caught.value) == f"{field}: {message}"


@pytest.mark.parametrize(
    "path", ["/apiVersion", "/kind", "/metadata", "/metadata/name", "/metadata/namespace"], ids=str.strip
)
def test_protected_paths_are_refused_even_without_model_validation(path: str) -> None:
    # PatchOp's own validator refuses these too; model_construct skips it, as a hand-built value could.
    patch = PatchOp.model_construct(op="replace", path=path, value="x")
    with pytest.raises(InvalidSpecError, match="it decides which object the shard is"):
        apply_overrides(MANIFEST, [patch], PREFIX)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(
            "spec/type", "'spec/type' is not a JSON pointer: it must start with /", id="no-leading-slash"
        ),
        pytest.param(
            "/spec/a~2b", "/spec/a~2b is not a JSON pointer: ~ must be followed by 0 or 1", id="bad-escape"
        ),
    ],
)
def test_malformed_pointers(path: str, message: str) -> None:
    patch = PatchOp.model_construct(op="add", path=path, value="x")
    with pytest.raises(InvalidSpecError) as caught:
        apply_overrides(MANIFEST, [patch], PREFIX)
    assert caught.value.message == message


def test_failed_patch_leaves_input_alone() -> None:
    before = copy.deepcopy(MANIFEST)
    with pytest.raises(InvalidSpecError):
        patched(op("replace", "/spec/type", "NodePort"), op("remove", "/spec/nothing"))
    assert before == MANIFEST


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        pytest.param(
            "eu",
            ((op("replace", "/spec/type", "NodePort"),), "spec.overrides[1].clusterOverrides"),
            id="found",
        ),
        pytest.param("ap", ((), ""), id="none"),
    ],
)
def test_plan_cluster_overrides(cluster: str, expected: tuple[tuple[PatchOp, ...], str]) -> None:
    overrides = (
        ClusterOverride(cluster_name="us", cluster_overrides=(op("remove", "/spec/selector"),)),
        ClusterOverride(cluster_name="eu", cluster_overrides=(op("replace", "/spec/type", "NodePort"),)),
    )
    assert plan_cluster_overrides(overrides, cluster) == expected


@pytest.mark.parametrize(
    ("tokens", "pointer"),
    [
        pytest.param(("spec", "ports", 0), "/spec/ports/0", id="plain"),
        pytest.param(("metadata", "labels", "a/b~c"), "/metadata/labels/a~1b~0c", id="escapes"),
        pytest.param(("~1",), "/~01", id="tilde-one-literal"),
        pytest.param(("",), "/", id="empty-token"),
    ],
)
def test_render_pointer(tokens: tuple[str | int, ...], pointer: str) -> None:
    assert render_pointer(*tokens) == pointer


# --- properties ---------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=3)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
path_tokens = st.sampled_from(
    ["spec", "metadata", "labels", "ports", "0", "1", "-", "type", "a/b", "x~y", "port"]
)
patch_ops = st.builds(
    lambda kind, tokens, value: PatchOp.model_construct(op=kind, path=render_pointer(*tokens), value=value),
    st.sampled_from(["add", "remove", "replace"]),
    st.lists(path_tokens, min_size=1, max_size=4),
    json_values.filter(lambda value: value is not None),
)


def containers(value: Any) -> list[object]:
    """Every list and dict inside ``value``, ``value`` included."""
    if isinstance(value, dict):
        return [value, *(inner for item in value.values() for inner in containers(item))]
    if isinstance(value, list):
        return [value, *(inner for item in value for inner in containers(item))]
    return []


@settings(deadline=None)
@given(ops=st.lists(patch_ops, max_size=4))
def test_apply_overrides_never_mutates_or_shares_its_input(ops: list[PatchOp]) -> None:
    before = copy.deepcopy(MANIFEST)
    values = copy.deepcopy([patch.value for patch in ops])
    result: Any = None
    error: InvalidSpecError | None = None
    try:
        result = apply_overrides(MANIFEST, ops, PREFIX)
    except InvalidSpecError as err:
        error = err
    assert error is None or error.field.startswith(f"{PREFIX}[")
    assert before == MANIFEST
    assert values == [patch.value for patch in ops]
    inputs = {id(node) for node in containers(MANIFEST) + containers([patch.value for patch in ops])}
    assert not inputs & {id(node) for node in containers(result)}


@settings(deadline=None)
@given(key=st.text(max_size=8), value=json_values.filter(lambda value: value is not None))
def test_add_then_remove_round_trips_any_key(key: str, value: Any) -> None:
    path = f"/spec/{escape_pointer_token(key)}"
    added = apply_overrides({"spec": {}}, [op("add", path, value)], PREFIX)
    assert added == {"spec": {key: value}}
    assert apply_overrides(added, [op("remove", path)], PREFIX) == {"spec": {}}
