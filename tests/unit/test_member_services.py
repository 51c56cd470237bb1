"""Member Services: the rendered manifest, drift detection against the live object, and ownership."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation_operator.domain.errors import InvalidSpecError
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
from federation_operator.planning.services import (
    ANNOTATION_ADOPT,
    is_adopted,
    is_in_sync,
    is_owned_by,
    render_member_service,
)

OURS = {
    LABEL_FEDERATION: "myfederation",
    LABEL_OWNER_NAMESPACE: "mynamespace",
    LABEL_OWNER_NAME: "nginx",
    LABEL_MANAGED_BY: MANAGED_BY,
}


def template(spec: dict[str, Any] | None = None, **metadata: Any) -> ServiceTemplate:
    return ServiceTemplate.model_validate(
        {
            "metadata": metadata,
            "spec": spec if spec is not None else {"selector": {"app": "nginx"}, "ports": [{"port": 80}]},
        }
    )


def render(tmpl: ServiceTemplate | None = None, overrides: tuple[PatchOp, ...] = ()) -> dict[str, Any]:
    return render_member_service(
        federation="myfederation",
        namespace="mynamespace",
        name="nginx",
        owner_uid="uid-1",
        template=tmpl or template(),
        overrides=overrides,
        override_field_prefix="spec.overrides[0].clusterOverrides",
    )


def test_render_member_service_seed_example() -> None:
    assert render(template(labels={"app": "nginx"}, annotations={"team": "web"})) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "nginx",
            "namespace": "mynamespace",
            "labels": {"app": "nginx", **OURS},
            "annotations": {"team": "web", ANNOTATION_OWNER_UID: "uid-1"},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "nginx"},
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {
                "type": "NodePort",
                "ports": [{"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080}],
            },
            {
                "type": "NodePort",
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080, "protocol": "TCP"}
                ],
            },
            id="camel-case-and-explicit-type",
        ),
        pytest.param(
            {"type": "ExternalName", "externalName": "example.com"},
            {"type": "ExternalName", "externalName": "example.com"},
            id="no-empty-ports-or-selector",
        ),
        pytest.param(
            {
                "ports": [{"port": 53, "protocol": "UDP"}],
                "externalTrafficPolicy": "Local",
                "loadBalancerSourceRanges": ["10.0.0.0/8"],
                "ipFamilies": ["IPv4", "IPv6"],
                "ipFamilyPolicy": "PreferDualStack",
            },
            {
                "type": "LoadBalancer",
                "ports": [{"port": 53, "protocol": "UDP"}],
                "externalTrafficPolicy": "Local",
                "loadBalancerSourceRanges": ["10.0.0.0/8"],
                "ipFamilies": ["IPv4", "IPv6"],
                "ipFamilyPolicy": "PreferDualStack",
            },
            id="typed-fields",
        ),
        pytest.param(
            {
                "ports": [{"port": 80}],
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60, "unset": None}},
                "externalIPs": [],
            },
            {
                "type": "LoadBalancer",
                "ports": [{"port": 80, "protocol": "TCP"}],
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            },
            id="untyped-fields-kept-without-nulls-or-empties",
        ),
    ],
)
def test_render_member_service_spec(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    assert render(template(spec))["spec"] == expected


def test_ownership_labels_win_over_the_template() -> None:
    tmpl = template(
        labels={LABEL_FEDERATION: "other", LABEL_MANAGED_BY: "helm"}, annotations={ANNOTATION_OWNER_UID: "x"}
    )
    rendered = render(tmpl)
    assert rendered["metadata"]["labels"] == OURS
    assert rendered["metadata"]["annotations"] == {ANNOTATION_OWNER_UID: "uid-1"}


def test_overrides_are_applied_last() -> None:
    ops = (
        PatchOp(op="replace", path="/spec/type", value="NodePort"),
        PatchOp(op="add", path="/metadata/labels/tier", value="edge"),
    )
    rendered = render(overrides=ops)
    assert rendered["spec"]["type"] == "NodePort"
    assert rendered["metadata"]["labels"] == {**OURS, "tier": "edge"}


def test_override_errors_name_the_field() -> None:
    with pytest.raises(InvalidSpecError) as caught:
        render(overrides=(PatchOp(op="replace", path="/spec/portz", value=1),))
    assert str(caught.value) == "spec.overrides[0].clusterOverrides[0].path: /spec/portz does not exist"


# --- is_in_sync ---------------------------------------------------------------------------------------------

DESIRED = render(
    template(
        {"selector": {"app": "nginx"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        labels={"app": "nginx"},
    )
)


_DELETE = object()


def live(*changes: tuple[tuple[str | int, ...], Any]) -> dict[str, Any]:
    """DESIRED as the API server returns it (defaults and status added), then ``(path, value)`` changes."""
    observed = copy.deepcopy(DESIRED)
    observed["metadata"].update(uid="live-uid", resourceVersion="42")
    observed["metadata"]["labels"]["extra"] = "added-by-someone"
    observed["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    observed["spec"].update(
        clusterIP="10.0.0.12",
        clusterIPs=["10.0.0.12"],
        ipFamilies=["IPv4"],
        ipFamilyPolicy="SingleStack",
        sessionAffinity="None",
        externalTrafficPolicy="Cluster",
        internalTrafficPolicy="Cluster",
        allocateLoadBalancerNodePorts=True,
    )
    observed["spec"]["ports"][0]["nodePort"] = 31234
    observed["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.1.1"}]}}
    for (*parents, leaf), value in changes:
        node: Any = observed
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[leaf]
        elif isinstance(node, list) and leaf == len(node):
            node.append(value)
        else:
            node[leaf] = value
    return observed


@pytest.mark.parametrize(
    ("observed", "in_sync"),
    [
        pytest.param(DESIRED, True, id="identical"),
        pytest.param(live(), True, id="server-defaults-ignored"),
        pytest.param(live((("spec", "type"), "NodePort")), False, id="type-changed"),
        pytest.param(live((("spec", "selector"), {"app": "other"})), False, id="selector-changed"),
        pytest.param(live((("spec", "selector"), {"app": "nginx", "more": "x"})), False, id="selector-grew"),
        pytest.param(
            live((("spec", "ports", 0, "targetPort"), "8080")), False, id="target-port-int-vs-string"
        ),
        pytest.param(live((("spec", "ports", 0, "port"), 81)), False, id="port-changed"),
        pytest.param(
            live((("spec", "ports", 1), {"port": 81})),
            False,
            id="extra-port",
        ),
        pytest.param(live((("metadata", "labels", "app"), "other")), False, id="label-changed"),
        pytest.param(
            live((("metadata", "labels", LABEL_OWNER_NAME), _DELETE)), False, id="ownership-label-removed"
        ),
        # The owner-UID annotation is a hint (ownership is the labels): its absence or a predecessor's UID is
        # no reason to write.
        pytest.param(live((("metadata", "annotations"), _DELETE)), True, id="owner-uid-hint-gone"),
        pytest.param(
            live((("metadata", "annotations", ANNOTATION_OWNER_UID), "uid-0")), True, id="predecessors-uid"
        ),
        pytest.param(live((("spec",), _DELETE)), False, id="spec-gone"),
    ],
)
def test_is_in_sync(observed: dict[str, Any], in_sync: bool) -> None:
    assert is_in_sync(observed, DESIRED) is in_sync


@pytest.mark.parametrize(
    ("desired_spec", "observed_spec", "in_sync"),
    [
        pytest.param({"externalIPs": []}, {}, True, id="empty-list-matches-absent"),
        pytest.param({"selector": {}}, {}, True, id="empty-object-matches-absent"),
        pytest.param({"externalIPs": ["1.2.3.4"]}, {}, False, id="non-empty-must-exist"),
        pytest.param(
            {"allocateLoadBalancerNodePorts": True},
            {"allocateLoadBalancerNodePorts": 1},
            False,
            id="bool-vs-int",
        ),
        pytest.param(
            {"healthCheckNodePort": 30000}, {"healthCheckNodePort": 30000.0}, True, id="json-numbers"
        ),
        pytest.param(
            {"ipFamilies": ["IPv4"]}, {"ipFamilies": ["IPv4", "IPv6"]}, False, id="scalar-list-length"
        ),
        pytest.param(
            {"ipFamilies": ["IPv4", "IPv6"]}, {"ipFamilies": ["IPv6", "IPv4"]}, False, id="list-order"
        ),
        pytest.param({"selector": {"app": "x"}}, {"selector": "app=x"}, False, id="object-vs-string"),
        pytest.param({"ports": [{"port": 80}]}, {"ports": {"port": 80}}, False, id="list-vs-object"),
    ],
)
def test_is_in_sync_json_semantics(
    desired_spec: dict[str, Any], observed_spec: dict[str, Any], in_sync: bool
) -> None:
    assert is_in_sync({"spec": observed_spec}, {"spec": desired_spec}) is in_sync


# --- is_owned_by --------------------------------------------------------------------------------------------


def observed_service(
    owner: tuple[str, str] | None = ("mynamespace", "nginx"),
    uid: str | None = "uid-1",
    federation: str = "myfederation",
    name: str = "nginx",
    adopt: str | None = None,
) -> ObservedService:
    annotations = {ANNOTATION_ADOPT: adopt} if adopt is not None else {}
    return ObservedService(
        cluster="us-east",
        namespace="mynamespace",
        name=name,
        owner=owner,
        owner_uid=uid,
        manifest={"metadata": {"labels": {**OURS, LABEL_FEDERATION: federation}, "annotations": annotations}},
    )


@pytest.mark.parametrize(
    ("observed", "owned"),
    [
        pytest.param(observed_service(), True, id="ours"),
        pytest.param(observed_service(owner=None, uid=None), False, id="foreign"),
        pytest.param(observed_service(owner=("mynamespace", "other")), False, id="another-owner"),
        # A restore re-creates the FederatedService under a new UID: the labels prove the Service is its.
        pytest.param(observed_service(uid="uid-0"), True, id="earlier-incarnation-adopted"),
        pytest.param(observed_service(uid=None), True, id="written-before-uid-annotations"),
        pytest.param(observed_service(uid="uid-0", adopt="false"), False, id="pinned-to-earlier-incarnation"),
        pytest.param(observed_service(uid="uid-0", adopt="False"), False, id="pinned-any-case"),
        pytest.param(observed_service(adopt="false"), True, id="pinned-to-this-incarnation"),
        pytest.param(observed_service(uid="uid-0", adopt="true"), True, id="adopt-true-is-the-default"),
        pytest.param(observed_service(uid=None, adopt="false"), False, id="pinned-to-no-one"),
        pytest.param(observed_service(federation="elsewhere"), False, id="another-federation"),
        pytest.param(
            observed_service(federation="elsewhere", uid="uid-0"), False, id="another-federation-old"
        ),
        pytest.param(observed_service(owner=None, uid="uid-1"), False, id="uid-alone-proves-nothing"),
        pytest.param(observed_service(owner=("mynamespace", "other"), uid="uid-0"), False, id="other-old"),
        pytest.param(observed_service(name="nginx2"), False, id="another-name"),
    ],
)
def test_is_owned_by(observed: ObservedService, owned: bool) -> None:
    assert is_owned_by(observed, "myfederation", "mynamespace", "nginx", "uid-1") is owned


@pytest.mark.parametrize(
    ("uid", "adopted"),
    [("uid-1", False), ("uid-0", True), (None, False)],
    ids=["written-by-this-object", "left-by-a-predecessor", "no-uid-annotation"],
)
def test_is_adopted_reads_the_uid_hint(uid: str | None, adopted: bool) -> None:
    assert is_adopted(observed_service(uid=uid), "uid-1") is adopted


def test_a_predecessors_service_is_in_sync_though_its_uid_annotation_differs() -> None:
    # What the predecessor (uid-0) wrote, as the member holds it, against what the successor (uid-1) renders.
    left = render_member_service(
        federation="myfederation",
        namespace="mynamespace",
        name="nginx",
        owner_uid="uid-0",
        template=template(),
    )
    assert left["metadata"]["annotations"][ANNOTATION_OWNER_UID] == "uid-0"
    assert is_in_sync(left, render())
    # Any other difference still counts.
    changed = copy.deepcopy(left)
    changed["spec"]["ports"][0]["port"] = 8080
    assert not is_in_sync(changed, render())


# --- properties ---------------------------------------------------------------------------------------------

label_keys = st.sampled_from([*OURS, "app", "tier", "example.com/x"])
label_values = st.text(alphabet="abc-", max_size=5)


@settings(deadline=None)
@given(
    labels=st.dictionaries(label_keys, label_values),
    annotations=st.dictionaries(st.sampled_from([ANNOTATION_OWNER_UID, "note"]), label_values),
)
def test_rendered_service_always_carries_ownership(
    labels: dict[str, str], annotations: dict[str, str]
) -> None:
    rendered = render(template(labels=labels, annotations=annotations))
    assert rendered["metadata"]["labels"].items() >= OURS.items()
    assert rendered["metadata"]["annotations"][ANNOTATION_OWNER_UID] == "uid-1"
    assert {k: v for k, v in rendered["metadata"]["labels"].items() if k not in OURS} == {
        k: v for k, v in labels.items() if k not in OURS
    }
    assert is_in_sync(rendered, rendered)


@settings(deadline=None)
@given(
    extra_spec=st.dictionaries(
        st.sampled_from(["clusterIP", "ipFamilies", "sessionAffinity", "healthCheckNodePort"]),
        st.integers() | st.text(max_size=3),
    ),
    node_port=st.integers(30000, 32767),
)
def test_server_additions_never_break_sync(extra_spec: dict[str, Any], node_port: int) -> None:
    observed = copy.deepcopy(DESIRED)
    observed["spec"].update(extra_spec)
    observed["spec"]["ports"][0]["nodePort"] = node_port
    assert is_in_sync(observed, DESIRED)
