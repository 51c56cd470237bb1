"""Drift test: the CRDs in crds/ and the pydantic models in federation_operator.domain describe the same API.

Both sides are reduced to one normal form (kind, properties, required, default, enum, bounds, pattern,
format, list type and keys, whether unknown fields are kept) and compared field by field, for spec and
status. CEL rules cannot be compared as text, so each one is matched, by its message, with a model validator
that rejects the same example at the same field path; the few rules only the model can check are listed.
Names, scope, short names and printer columns are checked against fixed expectations, and a few
structural-schema rules the API server enforces (or that keep CEL within its cost budget) are linted, since
no API server runs in unit tests.

Deliberately not compared: description texts (only their presence in the CRD), CEL rule text, and
nullability (the models accept JSON null for optional fields, which the API server prunes before validating).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.kube_model import parse_model
from federation_operator.domain.specs import MSG_ALIAS_FORM, FederatedServiceSpec, MemberClusterSpec
from federation_operator.domain.status import FederatedServiceStatus, MemberClusterStatus

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"

Schema = dict[str, Any]
Shape = dict[str, Any]

CONSTRAINT_KEYS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)
LIST_KEYS = ("x-kubernetes-list-type", "x-kubernetes-list-map-keys")
CRD_KEYWORDS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "default",
    "enum",
    "anyOf",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-validations",
    *LIST_KEYS,
    *CONSTRAINT_KEYS,
}
MODEL_KEYWORDS = {
    "type",
    "title",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "default",
    "enum",
    "anyOf",
    "$ref",
    *LIST_KEYS,
    *CONSTRAINT_KEYS,
}
INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]

# (file, section) -> the model of that section.
MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("membercluster.yaml", "spec"): MemberClusterSpec,
    ("membercluster.yaml", "status"): MemberClusterStatus,
    ("federatedservice.yaml", "spec"): FederatedServiceSpec,
    ("federatedservice.yaml", "status"): FederatedServiceStatus,
}

# Where a CRD keeps unknown fields on purpose. Everything else is pruned, and its model forbids extras.
PRESERVED_UNKNOWN_FIELDS = {
    "membercluster.yaml": set(),
    "federatedservice.yaml": {
        # The rest of core/v1 ServiceSpec: validated by each member's API server when applied.
        "spec.template.spec",
        # A JSON-patch value is any JSON value.
        "spec.overrides[].clusterOverrides[].value",
        # An alias is a name or {name, region | zone}: one node cannot type both (checked by the model).
        "spec.dns.aliases[]",
    },
}


def load_crd(name: str) -> dict[str, Any]:
    with (CRD_DIR / name).open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    assert isinstance(document, dict), f"{name} must hold one YAML document"
    return document


def root_schema(crd: Mapping[str, Any]) -> Schema:
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


# --- normal form --------------------------------------------------------------------------------------------


def omit_empty(value: Any) -> Any:
    """Drop None and empty lists/maps, recursively: for Kubernetes, absent and empty mean the same."""
    if isinstance(value, dict):
        kept = {key: omit_empty(item) for key, item in value.items()}
        kept = {key: item for key, item in kept.items() if item is not None}
        return kept or None
    if isinstance(value, list):
        items = [omit_empty(item) for item in value]
        return items or None
    return value


def apply_crd_defaults(node: Schema, value: Any) -> Any:
    """What the API server's structural defaulting makes of ``value`` under ``node``."""
    if isinstance(value, dict) and "properties" in node:
        for name, child in node["properties"].items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = apply_crd_defaults(child, value[name])
    elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
        for key, item in value.items():
            value[key] = apply_crd_defaults(node["additionalProperties"], item)
    elif isinstance(value, list) and "items" in node:
        value = [apply_crd_defaults(node["items"], item) for item in value]
    return value


def _common(node: Schema) -> Shape:
    return {
        "constraints": {key: node[key] for key in CONSTRAINT_KEYS if key in node},
        "enum": sorted(node["enum"]) if "enum" in node else None,
    }


def crd_shape(node: Schema, path: str) -> Shape:
    """The normal form of a CRD schema node."""
    unknown = set(node) - CRD_KEYWORDS
    assert not unknown, f"{path}: keywords the drift test does not handle: {sorted(unknown)}"
    shape = _common(node)
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if node.get("x-kubernetes-int-or-string"):
        assert "type" not in node, f"{path}: an int-or-string has no type"
        assert node.get("anyOf", INT_OR_STRING_ANY_OF) == INT_OR_STRING_ANY_OF, f"{path}: unexpected anyOf"
        shape["kind"] = "int-or-string"
    elif "anyOf" in node:
        raise AssertionError(f"{path}: anyOf is only used for int-or-string")
    elif "type" not in node:
        assert preserve, f"{path}: an untyped node must preserve unknown fields"
        shape["kind"] = "any"
    elif node["type"] == "object" and "properties" in node:
        assert "additionalProperties" not in node, f"{path}: properties and additionalProperties together"
        shape["kind"] = "object"
        shape["preserveUnknownFields"] = preserve
        shape["required"] = sorted(node.get("required", []))
        shape["properties"] = {
            name: crd_shape(child, f"{path}.{name}") for name, child in node["properties"].items()
        }
    elif node["type"] == "object":
        assert isinstance(node.get("additionalProperties"), dict), f"{path}: an object needs a schema"
        shape["kind"] = "map"
        shape["values"] = crd_shape(node["additionalProperties"], f"{path}.*")
    elif node["type"] == "array":
        shape["kind"] = "array"
        shape["listType"] = node.get("x-kubernetes-list-type", "atomic")
        shape["listMapKeys"] = node.get("x-kubernetes-list-map-keys")
        shape["items"] = crd_shape(node["items"], f"{path}[]")
    else:
        shape["kind"] = node["type"]
    shape["default"] = (
        omit_empty(apply_crd_defaults(node, copy.deepcopy(node["default"]))) if "default" in node else None
    )
    return shape


def resolve(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    """Inline ``$ref`` and unwrap ``X | None`` (an optional field) in a pydantic JSON schema node."""
    node = dict(node)
    while "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[1]]
        node = {**target, **node}
    if "anyOf" in node:
        branches = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
        if len(branches) == 1 and len(branches) < len(node["anyOf"]):
            outer = {key: value for key, value in node.items() if key != "anyOf"}
            return resolve({**resolve(branches[0], defs), **outer}, defs)
    return node


def model_shape(node: Schema, defs: Mapping[str, Schema], path: str) -> Shape:
    """The normal form of a pydantic JSON schema node (``model_json_schema(by_alias=True)``)."""
    node = resolve(node, defs)
    unknown = set(node) - MODEL_KEYWORDS
    assert not unknown, f"{path}: keywords the drift test does not handle: {sorted(unknown)}"
    shape = _common(node)
    if "anyOf" in node:
        branches = [resolve(branch, defs) for branch in node["anyOf"]]
        assert sorted(branch.get("type", "") for branch in branches) == ["integer", "string"], (
            f"{path}: a union other than int-or-string"
        )
        for branch in branches:
            shape["constraints"].update({key: branch[key] for key in CONSTRAINT_KEYS if key in branch})
        shape["kind"] = "int-or-string"
    elif "type" not in node:
        shape["kind"] = "any"
    elif node["type"] == "object" and "properties" in node:
        extra = node.get("additionalProperties")
        assert extra in (True, False), f"{path}: the model must say extra='forbid' or extra='allow'"
        shape["kind"] = "object"
        shape["preserveUnknownFields"] = extra
        shape["required"] = sorted(node.get("required", []))
        shape["properties"] = {
            name: model_shape(child, defs, f"{path}.{name}") for name, child in node["properties"].items()
        }
    elif node["type"] == "object":
        assert isinstance(node.get("additionalProperties"), dict), f"{path}: a map needs a value schema"
        shape["kind"] = "map"
        shape["values"] = model_shape(node["additionalProperties"], defs, f"{path}.*")
    elif node["type"] == "array":
        shape["kind"] = "array"
        shape["listType"] = node.get("x-kubernetes-list-type", "atomic")
        shape["listMapKeys"] = node.get("x-kubernetes-list-map-keys")
        shape["items"] = model_shape(node["items"], defs, f"{path}[]")
    else:
        shape["kind"] = node["type"]
    shape["default"] = omit_empty(node.get("default"))
    return shape


def model_section_shape(model: type[BaseModel], section: str) -> Shape:
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    return model_shape(schema, defs, section)


def compare(crd: Shape, model: Shape, path: str) -> Iterator[str]:
    """Every difference between two normal forms, as ``path: what differs``."""
    keys = (
        "kind",
        "constraints",
        "enum",
        "default",
        "required",
        "preserveUnknownFields",
        "listType",
        "listMapKeys",
    )
    for key in keys:
        if crd.get(key) != model.get(key):
            yield f"{path}: {key} mismatch: CRD {crd.get(key)!r}, model {model.get(key)!r}"
    crd_props, model_props = crd.get("properties", {}), model.get("properties", {})
    for name in sorted(crd_props.keys() - model_props.keys()):
        yield f"{path}.{name}: in the CRD only"
    for name in sorted(model_props.keys() - crd_props.keys()):
        yield f"{path}.{name}: in the model only"
    for name in sorted(crd_props.keys() & model_props.keys()):
        yield from compare(crd_props[name], model_props[name], f"{path}.{name}")
    for key, suffix in (("items", "[]"), ("values", ".*")):
        if key in crd and key in model:
            yield from compare(crd[key], model[key], f"{path}{suffix}")


def drift(crd_file: str, section: str, schema: Schema | None = None) -> list[str]:
    schema = schema if schema is not None else root_schema(load_crd(crd_file))
    crd = crd_shape(schema["properties"][section], section)
    return list(compare(crd, model_section_shape(MODELS[crd_file, section], section), section))


def walk(node: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    """Every schema node under ``node`` with its path (``[]`` for list items, ``.*`` for map values)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}.*")


# --- the drift test itself ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("crd_file", "section"), sorted(MODELS))
def test_crd_and_model_agree(crd_file: str, section: str) -> None:
    assert drift(crd_file, section) == []


def _mutate(path: str, change: Any) -> Schema:
    schema = root_schema(load_crd("federatedservice.yaml"))
    node = schema
    for name in path.split("."):
        node = node["items"] if name == "[]" else node["properties"][name]
    change(node)
    return schema


# Each case breaks the CRD in one way and names the difference the drift test must report, proving that it
# does not pass vacuously.
DRIFT_CASES = [
    pytest.param(
        "spec.dns.ttl", lambda n: n.update(default=170), "spec.dns.ttl: default mismatch", id="scalar-default"
    ),
    pytest.param(
        "spec.dns.ttl", lambda n: n.update(maximum=3600), "spec.dns.ttl: constraints mismatch", id="maximum"
    ),
    pytest.param(
        "spec.dns", lambda n: n.update(default={"ttl": 60}), "spec.dns: default mismatch", id="object-default"
    ),
    pytest.param(
        "spec.template.spec.type",
        lambda n: n["enum"].remove("NodePort"),
        "spec.template.spec.type: enum mismatch",
        id="enum",
    ),
    pytest.param(
        "spec.template.spec.ports.[]",
        lambda n: n.update(required=["port", "name"]),
        "spec.template.spec.ports[]: required mismatch",
        id="required",
    ),
    pytest.param(
        "spec.dns",
        lambda n: n["properties"].pop("aliases"),
        "spec.dns.aliases: in the model only",
        id="missing",
    ),
    pytest.param(
        "spec.template.spec",
        lambda n: n["properties"].update(clusterIP={"type": "string", "description": "x"}),
        "spec.template.spec.clusterIP: in the CRD only",
        id="extra-in-preserved-object",
    ),
    pytest.param(
        "spec.template.spec",
        lambda n: n.pop("x-kubernetes-preserve-unknown-fields"),
        "spec.template.spec: preserveUnknownFields mismatch",
        id="preserve-unknown-fields",
    ),
    pytest.param(
        "spec.placement.clusters",
        lambda n: n.pop("x-kubernetes-list-type"),
        "spec.placement.clusters: listType mismatch",
        id="list-type",
    ),
    pytest.param(
        "spec.template.spec.ports.[].targetPort",
        lambda n: n.update(maxLength=63),
        "spec.template.spec.ports[].targetPort: constraints mismatch",
        id="int-or-string-bound",
    ),
    pytest.param(
        "spec.template.spec.ports.[].port",
        lambda n: n.update(type="string"),
        "spec.template.spec.ports[].port: kind mismatch",
        id="type",
    ),
]


@pytest.mark.parametrize(("path", "change", "expected"), DRIFT_CASES)
def test_drift_is_detected(path: str, change: Any, expected: str) -> None:
    differences = drift("federatedservice.yaml", "spec", _mutate(path, change))
    assert any(difference.startswith(expected) for difference in differences), differences


@pytest.mark.parametrize("crd_file", sorted(PRESERVED_UNKNOWN_FIELDS))
def test_unknown_fields_are_kept_only_where_intended(crd_file: str) -> None:
    schema = root_schema(load_crd(crd_file))
    preserved = {
        path for path, node in walk(schema, "") if node.get("x-kubernetes-preserve-unknown-fields") is True
    }
    assert preserved == PRESERVED_UNKNOWN_FIELDS[crd_file]


def test_service_spec_keeps_unknown_fields_but_still_types_the_known_ones() -> None:
    crd = crd_shape(root_schema(load_crd("federatedservice.yaml"))["properties"]["spec"], "spec")
    service_spec = crd["properties"]["template"]["properties"]["spec"]
    assert service_spec["preserveUnknownFields"] is True
    assert {"type", "ports", "selector", "externalTrafficPolicy", "ipFamilyPolicy"} <= service_spec[
        "properties"
    ].keys()
    assert service_spec["properties"]["type"]["default"] == "LoadBalancer"
    model = model_section_shape(FederatedServiceSpec, "spec")
    assert model["properties"]["template"]["properties"]["spec"]["properties"].keys() == (
        service_spec["properties"].keys()
    )


# --- CEL rules and their model twins ------------------------------------------------------------------------

SERVICE = {"template": {"spec": {"ports": [{"port": 80}]}}}

# CEL message -> (file, a spec only that rule rejects, the field path both the API server and the model name).
TCP_CHECK = {"protocol": "TCP", "port": 443}
CEL_TWINS: dict[str, tuple[str, dict[str, Any], str]] = {
    "ports must list at least one port unless type is ExternalName": (
        "federatedservice.yaml",
        {"template": {"spec": {"type": "ClusterIP"}}},
        "spec.template.spec",
    ),
    "externalName is required when type is ExternalName": (
        "federatedservice.yaml",
        {"template": {"spec": {"type": "ExternalName"}}},
        "spec.template.spec",
    ),
    "every port must have a name when there is more than one port": (
        "federatedservice.yaml",
        {"template": {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}}},
        "spec.template.spec.ports",
    ),
    "port names must be unique": (
        "federatedservice.yaml",
        {"template": {"spec": {"ports": [{"port": 80, "name": "web"}, {"port": 443, "name": "web"}]}}},
        "spec.template.spec.ports",
    ),
    "values must be non-empty for operators In and NotIn, and empty for Exists and DoesNotExist": (
        "federatedservice.yaml",
        {
            **SERVICE,
            "placement": {"clusterSelector": {"matchExpressions": [{"key": "tier", "operator": "In"}]}},
        },
        "spec.placement.clusterSelector.matchExpressions[0]",
    ),
    "path must not target apiVersion, kind, metadata, metadata.name or metadata.namespace": (
        "federatedservice.yaml",
        {
            **SERVICE,
            "overrides": [
                {"clusterName": "eu", "clusterOverrides": [{"op": "remove", "path": "/metadata/name"}]}
            ],
        },
        "spec.overrides[0].clusterOverrides[0]",
    ),
    "weights apply to type weighted only": (
        "federatedservice.yaml",
        {**SERVICE, "dns": {"policy": {"type": "tiered", "weights": [{"clusters": ["eu"], "weight": 5}]}}},
        "spec.dns.policy",
    ),
    "groups apply to type failover only": (
        "federatedservice.yaml",
        {**SERVICE, "dns": {"policy": {"type": "weighted", "groups": [{"clusters": ["eu"]}]}}},
        "spec.dns.policy",
    ),
    "type failover needs at least one group": (
        "federatedservice.yaml",
        {**SERVICE, "dns": {"policy": {"type": "failover"}}},
        "spec.dns.policy",
    ),
    "locations apply to types latency and geolocation, and to failover with gcpHealthCheck, only": (
        "federatedservice.yaml",
        {**SERVICE, "dns": {"policy": {"type": "tiered", "locations": [{"region": "dc1", "country": "DE"}]}}},
        "spec.dns.policy",
    ),
    "healthCheck applies to types weighted, latency, geolocation and failover only": (
        "federatedservice.yaml",
        {**SERVICE, "dns": {"policy": {"type": "tiered", "healthCheck": TCP_CHECK}}},
        "spec.dns.policy",
    ),
    "gcpHealthCheck applies to type failover only": (
        "federatedservice.yaml",
        {
            **SERVICE,
            "dns": {
                "policy": {
                    "type": "weighted",
                    "gcpHealthCheck": "projects/my-project/global/healthChecks/web",
                }
            },
        },
        "spec.dns.policy",
    ),
    "healthCheck.path applies to protocols HTTP and HTTPS only": (
        "federatedservice.yaml",
        {**SERVICE, "dns": {"policy": {"type": "weighted", "healthCheck": {**TCP_CHECK, "path": "/"}}}},
        "spec.dns.policy.healthCheck",
    ),
}


# Rules the model checks but no schema can state (the operator reports them as a condition and an event).
MODEL_ONLY_RULES: dict[str, tuple[str, dict[str, Any], str]] = {
    # CEL cannot see an untyped (x-kubernetes-preserve-unknown-fields) field such as a patch's value.
    "value is required when op is add or replace": (
        "federatedservice.yaml",
        {**SERVICE, "overrides": [{"clusterName": "eu", "clusterOverrides": [{"path": "/spec/type"}]}]},
        "spec.overrides[0].clusterOverrides[0]",
    ),
    # Nor an alias, which is a string or an object.
    MSG_ALIAS_FORM: (
        "federatedservice.yaml",
        {
            **SERVICE,
            "dns": {"aliases": ["nginx.acme.com", {"name": "eu.acme.com", "region": "eu", "zone": "a"}]},
        },
        "spec.dns.aliases[1]",
    ),
}


def cel_rules(crd_file: str) -> dict[str, tuple[str, Schema]]:
    """CEL message -> (path of the node the rule sits on, the rule)."""
    rules: dict[str, tuple[str, Schema]] = {}
    for path, node in walk(root_schema(load_crd(crd_file)), ""):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"] not in rules, f"{path}: CEL message {rule['message']!r} is used twice"
            rules[rule["message"]] = (path, rule)
    return rules


@pytest.mark.parametrize("crd_file", sorted(PRESERVED_UNKNOWN_FIELDS))
def test_every_cel_rule_has_a_model_twin(crd_file: str) -> None:
    twins = {message for message, (file, _, _) in CEL_TWINS.items() if file == crd_file}
    assert set(cel_rules(crd_file)) == twins


@pytest.mark.parametrize("message", sorted(CEL_TWINS))
def test_model_twin_rejects_like_the_cel_rule(message: str) -> None:
    crd_file, spec, field = CEL_TWINS[message]
    rule_path, rule = cel_rules(crd_file)[message]
    assert "fieldPath" not in rule, "the API server would then report another field than the model"
    assert re.sub(r"\[\d+\]", "[]", field) == rule_path
    model = MODELS[crd_file, "spec"]
    with pytest.raises(InvalidSpecError) as caught:
        parse_model(model, spec)
    assert caught.value.problems == ((field, message),)


@pytest.mark.parametrize("message", sorted(MODEL_ONLY_RULES))
def test_model_only_rules_are_not_in_the_crd(message: str) -> None:
    crd_file, spec, field = MODEL_ONLY_RULES[message]
    assert message not in cel_rules(crd_file)
    with pytest.raises(InvalidSpecError) as caught:
        parse_model(MODELS[crd_file, "spec"], spec)
    assert caught.value.problems == ((field, message),)


# --- names, scope, versions, printer columns ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("crd_file", "scope", "names"),
    [
        ("membercluster.yaml", "Cluster", ("MemberCluster", "memberclusters", "membercluster", ["mc"])),
        (
            "federatedservice.yaml",
            "Namespaced",
            ("FederatedService", "federatedservices", "federatedservice", ["fsvc"]),
        ),
    ],
)
def test_names_scope_and_version(crd_file: str, scope: str, names: tuple[str, str, str, list[str]]) -> None:
    kind, plural, singular, short_names = names
    crd = load_crd(crd_file)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.fedop.io"
    assert crd["spec"]["group"] == "fedop.io"
    assert crd["spec"]["scope"] == scope
    assert crd["spec"]["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
        "shortNames": short_names,
        "categories": ["fedop"],
    }
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert root_schema(crd)["required"] == ["spec"]


READY = '.status.conditions[?(@.type=="Ready")].status'


@pytest.mark.parametrize(
    ("crd_file", "columns"),
    [
        (
            "membercluster.yaml",
            [
                ("READY", "string", READY),
                ("VERSION", "string", ".status.kubernetesVersion"),
                ("REGION", "string", ".spec.region"),
                ("AGE", "date", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "federatedservice.yaml",
            [
                ("CLUSTERS", "string", ".status.clusterSummary"),
                ("DNS", "string", ".status.dns.globalName"),
                ("READY", "string", READY),
                ("AGE", "date", ".metadata.creationTimestamp"),
            ],
        ),
    ],
)
def test_printer_columns(crd_file: str, columns: list[tuple[str, str, str]]) -> None:
    crd = load_crd(crd_file)
    (version,) = crd["spec"]["versions"]
    printed = [
        (column["name"], column["type"], column["jsonPath"]) for column in version["additionalPrinterColumns"]
    ]
    assert printed == columns
    # Each column must point at a field the schema declares (metadata is the API server's own).
    for _, column_type, json_path in columns:
        if json_path.startswith(".metadata."):
            continue
        node = root_schema(crd)
        for segment in re.sub(r"\[\?\(.*?\)\]", "[]", json_path).strip(".").split("."):
            name, is_list = segment.removesuffix("[]"), segment.endswith("[]")
            node = node["properties"][name]
            if is_list:
                node = node["items"]
        assert node["type"] == column_type, json_path


# --- structural-schema lint (what a v1.33 API server would reject or budget) --------------------------------


@pytest.mark.parametrize("crd_file", sorted(PRESERVED_UNKNOWN_FIELDS))
def test_every_field_is_described(crd_file: str) -> None:
    undescribed = []
    for path, node in walk(root_schema(load_crd(crd_file)), ""):
        children = {f"{path}.{name}".lstrip("."): child for name, child in node.get("properties", {}).items()}
        if "properties" in node.get("items", {}):
            children[f"{path}[]"] = node["items"]
        undescribed += [child for child, schema in children.items() if "description" not in schema]
    # metadata is the API server's own ObjectMeta.
    assert undescribed == ["metadata"]


@pytest.mark.parametrize("crd_file", sorted(PRESERVED_UNKNOWN_FIELDS))
def test_list_keys_are_scalars_and_map_keys_always_set(crd_file: str) -> None:
    for path, node in walk(root_schema(load_crd(crd_file)), ""):
        list_type = node.get("x-kubernetes-list-type")
        if list_type == "set":
            assert node["items"]["type"] in ("string", "integer"), path
        if list_type != "map":
            continue
        items = node["items"]
        for key in node["x-kubernetes-list-map-keys"]:
            assert key in items.get("required", []) or "default" in items["properties"][key], f"{path}: {key}"
            assert items["properties"][key]["type"] in ("string", "integer"), f"{path}: {key}"


@pytest.mark.parametrize("crd_file", sorted(PRESERVED_UNKNOWN_FIELDS))
def test_cel_rules_are_well_formed_and_bounded(crd_file: str) -> None:
    schema = root_schema(load_crd(crd_file))
    nodes = dict(walk(schema, ""))
    for path, node in nodes.items():
        for rule in node.get("x-kubernetes-validations", []):
            assert set(rule) <= {"rule", "message", "fieldPath", "reason", "messageExpression"}, path
            assert rule["rule"], path
            assert rule["message"], path
        if "x-kubernetes-validations" not in node:
            continue
        # The API server multiplies a rule's cost by the size of every list it sits in or iterates; an
        # unbounded list makes the estimate exceed the budget and the CRD is rejected.
        prefixes = [path[: match.start()] for match in re.finditer(r"\[\]", path)]
        lists = [*prefixes, *([path] if node.get("type") == "array" else [])]
        for list_path in lists:
            assert "maxItems" in nodes[list_path], f"{path}: list {list_path} needs maxItems"


@pytest.mark.parametrize("crd_file", sorted(PRESERVED_UNKNOWN_FIELDS))
def test_defaults_satisfy_their_own_schema(crd_file: str) -> None:
    for path, node in walk(root_schema(load_crd(crd_file)), ""):
        if "default" not in node:
            continue
        default = node["default"]
        if "enum" in node:
            assert default in node["enum"], path
        if node.get("type") == "integer":
            assert isinstance(default, int), path
            assert node.get("minimum", default) <= default <= node.get("maximum", default), path
        if node.get("type") == "object":
            assert default == {}, f"{path}: object defaults are written as {{}} and filled by field defaults"
