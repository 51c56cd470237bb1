"""Typed, validated specs of the two custom resources: ``MemberCluster`` and ``FederatedService``.

These models are the Python twin of the OpenAPI schemas in ``crds/*.yaml``: the same fields (camelCase
aliases), the same defaults, the same bounds, enums and patterns, and a validator for each CEL rule
(``x-kubernetes-validations``) with the same message. ``tests/unit/test_crd_schema.py`` fails when the two
drift apart. The API server has already enforced the schema on every object it stores, so parsing here is a
second line of defence (objects stored before a schema change, dry runs, tests) and the source of typed
values for the pure planning code.

Use :func:`parse_member_cluster_spec` and :func:`parse_federated_service_spec` on raw ``spec`` mappings:
they validate with JSON semantics (an integer must be a JSON integer, as in the CRD) and raise one
:class:`~federation_operator.domain.errors.InvalidSpecError` naming every failing field path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from federation_operator.domain.gcp_failover import GCP_COMPUTE_API
from federation_operator.domain.health_checks import HEALTH_CHECK_PATH_PATTERN, HealthCheck
from federation_operator.domain.kube_model import KubeModel, ListMap, ListSet, parse_model

__all__ = [
    "DNS_LABEL_PATTERN",
    "DNS_SUBDOMAIN_PATTERN",
    "FQDN_PATTERN",
    "HTTPS_URL_PATTERN",
    "IANA_SVC_NAME_PATTERN",
    "JSON_POINTER_PATTERN",
    "MSG_ALIAS_FORM",
    "POLICY_TYPES",
    "PROTECTED_PATCH_PATHS",
    "Alias",
    "ClusterOverride",
    "ClusterSet",
    "DnsDefaults",
    "DnsPolicy",
    "DnsSettings",
    "FailoverGroup",
    "FederatedServiceSpec",
    "LabelSelector",
    "LabelSelectorRequirement",
    "MemberClusterSpec",
    "PatchOp",
    "Placement",
    "PolicyHealthCheck",
    "PolicyWeight",
    "ProbeSettings",
    "RegionLocation",
    "SecretRef",
    "ServicePort",
    "ServiceSpec",
    "ServiceTemplate",
    "TemplateMetadata",
    "parse_federated_service_spec",
    "parse_member_cluster_spec",
]

# The same regular expressions appear verbatim in the CRDs; they are written for both Go's RE2 (the API
# server) and Rust's regex (pydantic-core), so they use no look-around and no back-references.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label (max 63): regions, zones, namespaces, port names."""
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""RFC 1123 subdomain (max 253): Kubernetes object names such as MemberCluster and Secret names."""
FQDN_PATTERN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.?$"
"""A fully qualified DNS name of at least two labels; the trailing dot is optional."""
HTTPS_URL_PATTERN = r"^https://[^\s/?#]+(/[^\s?#]*)?$"
"""An https URL with a host, an optional port and path, no query or fragment."""
IANA_SVC_NAME_PATTERN = r"^([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$"
"""A named port (max 15): lowercase alphanumerics and single inner hyphens, at least one letter."""
JSON_POINTER_PATTERN = r"^(/([^/~]|~[01])*)+$"
"""A non-empty RFC 6901 JSON pointer."""

PORT_MIN, PORT_MAX = 1, 65535
IANA_SVC_NAME_MAX_LENGTH = 15

PROTECTED_PATCH_PATHS = ("/apiVersion", "/kind", "/metadata", "/metadata/name", "/metadata/namespace")
"""Override paths that would change which object a shard is; the operator would lose track of it."""

# Messages shared with the CEL rules in crds/federatedservice.yaml (the drift test compares them).
MSG_PORTS_REQUIRED = "ports must list at least one port unless type is ExternalName"
MSG_EXTERNAL_NAME_REQUIRED = "externalName is required when type is ExternalName"
MSG_PORT_NAMES_REQUIRED = "every port must have a name when there is more than one port"
MSG_PORT_NAMES_UNIQUE = "port names must be unique"
MSG_PATCH_VALUE_REQUIRED = "value is required when op is add or replace"
MSG_PATCH_PATH_PROTECTED = (
    "path must not target apiVersion, kind, metadata, metadata.name or metadata.namespace"
)
MSG_SELECTOR_VALUES = (
    "values must be non-empty for operators In and NotIn, and empty for Exists and DoesNotExist"
)
MSG_WEIGHTS_ONLY_WEIGHTED = "weights apply to type weighted only"
MSG_GROUPS_ONLY_FAILOVER = "groups apply to type failover only"
MSG_FAILOVER_NEEDS_GROUPS = "type failover needs at least one group"
MSG_LOCATIONS_ONLY_GEO = (
    "locations apply to types latency and geolocation, and to failover with gcpHealthCheck, only"
)
MSG_HEALTH_CHECK_ONLY_ROUTED = "healthCheck applies to types weighted, latency, geolocation and failover only"
MSG_HEALTH_CHECK_PATH_ONLY_HTTP = "healthCheck.path applies to protocols HTTP and HTTPS only"
MSG_GCP_HEALTH_CHECK_ONLY_FAILOVER = "gcpHealthCheck applies to type failover only"
GCP_HEALTH_CHECK_PATTERN = (
    r"^(https://www\.googleapis\.com/compute/v1/)?projects/[a-z][-a-z0-9]{4,28}[a-z0-9]"
    r"/global/healthChecks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)
"""A global Compute Engine health check: ``projects/<project>/global/healthChecks/<name>``, or its
``selfLink`` (the same after ``https://www.googleapis.com/compute/v1/``)."""

POLICY_TYPES = ("tiered", "weighted", "failover", "latency", "geolocation")
"""The values of ``spec.dns.policy.type``; ``tiered`` (today's geo tiers) is the default."""
PolicyType = Literal["tiered", "weighted", "failover", "latency", "geolocation"]
# Route 53's continent codes (GeoLocation.ContinentCode).
Continent = Literal["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
COUNTRY_PATTERN = r"^[A-Z]{2}$"
"""An ISO 3166-1 alpha-2 country code, as Route 53's GeoLocation.CountryCode takes it."""
# Route 53 takes weights 0-255 (0: never answered while another weight is above 0).
WEIGHT_MAX = 255


def _port_number_or_name(value: object) -> int | str:
    # int-or-string cannot be a plain pydantic union: its errors would carry union-branch names in their
    # location, and the CRD keeps both branches' bounds on one node (minimum applies to integers only,
    # pattern to strings only), which this mirrors.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a port number or a port name")
    if isinstance(value, int):
        if not PORT_MIN <= value <= PORT_MAX:
            raise ValueError(f"port number must be between {PORT_MIN} and {PORT_MAX}")
        return value
    if len(value) > IANA_SVC_NAME_MAX_LENGTH or not re.fullmatch(IANA_SVC_NAME_PATTERN, value):
        limit = IANA_SVC_NAME_MAX_LENGTH
        raise ValueError(f"port name must be at most {limit} characters and match {IANA_SVC_NAME_PATTERN}")
    return value


DnsLabel = Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)]
ObjectName = Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
Fqdn = Annotated[str, Field(max_length=254, pattern=FQDN_PATTERN)]
PortNumber = Annotated[int, Field(ge=PORT_MIN, le=PORT_MAX)]
PortNumberOrName = Annotated[
    int | str,
    PlainValidator(_port_number_or_name),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": PORT_MIN,
            "maximum": PORT_MAX,
            "maxLength": IANA_SVC_NAME_MAX_LENGTH,
            "pattern": IANA_SVC_NAME_PATTERN,
        }
    ),
]


@dataclass(frozen=True)
class Alias:
    """One entry of ``spec.dns.aliases``: a name published as a CNAME to one tier of the Service's names:
    the global name (neither ``region`` nor ``zone``), a region's name, or a zone's name. The alias follows
    that tier's fallback, as the tier's name is itself a CNAME up the tiers while it has no healthy shard."""

    name: str
    region: str | None = None
    zone: str | None = None

    @property
    def tier(self) -> str:
        if self.region is not None:
            return f"region {self.region}"
        return f"zone {self.zone}" if self.zone is not None else "the global name"


MSG_ALIAS_FORM = "an alias is a DNS name, or an object with name and at most one of region and zone"
_ALIAS_KEYS = frozenset({"name", "region", "zone"})


def _alias(value: object) -> Alias:
    # A plain string (the global tier: what every alias was before tiers) or {name, region | zone}. The CRD
    # cannot type a list item that is either (a structural schema has one type per node), so the item is
    # untyped there and checked here; a bad one is reported on the object's status.
    if isinstance(value, str):
        return Alias(_alias_name(value))
    if not isinstance(value, dict) or "name" not in value or not set(value) <= _ALIAS_KEYS:
        raise ValueError(MSG_ALIAS_FORM)
    region, zone = value.get("region"), value.get("zone")
    if region is not None and zone is not None:
        raise ValueError(MSG_ALIAS_FORM)
    for label, found in (("region", region), ("zone", zone)):
        if found is not None and not (
            isinstance(found, str) and len(found) <= 63 and re.fullmatch(DNS_LABEL_PATTERN, found)
        ):
            raise ValueError(f"{label} must match {DNS_LABEL_PATTERN} and be at most 63 characters")
    if not isinstance(value["name"], str):
        raise ValueError(MSG_ALIAS_FORM)
    return Alias(_alias_name(value["name"]), region=region, zone=zone)


def _alias_name(name: str) -> str:
    # The messages a typed schema node would give (see kube_model): "must match ...", "must be at most ...".
    if not re.fullmatch(FQDN_PATTERN, name):
        raise ValueError(f"must match {FQDN_PATTERN} (a fully qualified DNS name): {name!r}")
    if len(name) > 254:
        raise ValueError("must be at most 254 characters")
    return name


def _dump_alias(alias: Alias) -> str | dict[str, str]:
    """An alias as it was written: a plain name for the global tier, else the object."""
    if alias.region is None and alias.zone is None:
        return alias.name
    tier = {"region": alias.region} if alias.region is not None else {"zone": alias.zone or ""}
    return {"name": alias.name, **tier}


AliasEntry = Annotated[Alias, PlainValidator(_alias), PlainSerializer(_dump_alias), WithJsonSchema({})]


# --- MemberCluster ------------------------------------------------------------------------------------------


class SecretRef(KubeModel):
    """The Secret in the host cluster holding a member's credentials.

    It holds either a ``kubeconfig`` key, or a ``token`` key and a ``ca.crt`` key. Credentials are read
    from the Secret only and never copied into status, events or logs.
    """

    name: ObjectName
    namespace: DnsLabel


class ProbeSettings(KubeModel):
    """How the member's ``/readyz`` is probed and how many results flip its ``Ready`` condition."""

    period_seconds: int = Field(default=10, ge=1)
    timeout_seconds: int = Field(default=5, ge=1)
    failure_threshold: int = Field(default=3, ge=1)
    success_threshold: int = Field(default=1, ge=1)


class MemberClusterSpec(KubeModel):
    """``MemberCluster.spec``: where a member's API is, how to authenticate, and where it is."""

    api_endpoint: str = Field(max_length=2048, pattern=HTTPS_URL_PATTERN)
    secret_ref: SecretRef
    region: DnsLabel
    zones: Annotated[tuple[DnsLabel, ...], ListSet()] = ()
    probe: ProbeSettings = ProbeSettings()


# --- FederatedService ---------------------------------------------------------------------------------------


class TemplateMetadata(KubeModel):
    """Labels and annotations of every member Service; their name and namespace are the FederatedService's."""

    labels: dict[str, str] = {}  # noqa: RUF012 (pydantic copies defaults)
    annotations: dict[str, str] = {}  # noqa: RUF012 (pydantic copies defaults)


class ServicePort(KubeModel):
    """One port of the member Services, as in core/v1 ``ServicePort``."""

    name: DnsLabel | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    app_protocol: str | None = None
    port: PortNumber
    target_port: PortNumberOrName | None = None
    node_port: PortNumber | None = None


class ServiceSpec(KubeModel):
    """The core/v1 ``ServiceSpec`` propagated to members.

    The fields the operator reasons about are typed; any other ServiceSpec field is kept as given
    (``extra="allow"``, as ``x-kubernetes-preserve-unknown-fields`` in the CRD) and left for the member's API
    server to validate.
    """

    model_config = ConfigDict(extra="allow")

    # LoadBalancer, not ClusterIP as in core/v1: a shard needs an externally reachable address to be
    # published in DNS at all.
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = "LoadBalancer"
    ports: Annotated[tuple[ServicePort, ...], Field(max_length=100), ListMap("port", "protocol")] = ()
    selector: dict[str, str] = {}  # noqa: RUF012 (pydantic copies defaults)
    external_name: str | None = None
    external_traffic_policy: Literal["Cluster", "Local"] | None = None
    internal_traffic_policy: Literal["Cluster", "Local"] | None = None
    ip_family_policy: Literal["SingleStack", "PreferDualStack", "RequireDualStack"] | None = None
    ip_families: Annotated[tuple[Literal["IPv4", "IPv6"], ...], Field(max_length=2)] = ()
    session_affinity: Literal["None", "ClientIP"] | None = None
    load_balancer_class: str | None = None
    load_balancer_source_ranges: tuple[str, ...] = ()
    allocate_load_balancer_node_ports: bool | None = None

    @field_validator("ports")
    @classmethod
    def _ports_named_uniquely(cls, ports: tuple[ServicePort, ...]) -> tuple[ServicePort, ...]:
        if len(ports) > 1 and any(port.name is None for port in ports):
            raise ValueError(MSG_PORT_NAMES_REQUIRED)
        names = [port.name for port in ports if port.name is not None]
        if len(names) != len(set(names)):
            raise ValueError(MSG_PORT_NAMES_UNIQUE)
        return ports

    @model_validator(mode="after")
    def _ports_or_external_name(self) -> ServiceSpec:
        if self.type != "ExternalName" and not self.ports:
            raise ValueError(MSG_PORTS_REQUIRED)
        if self.type == "ExternalName" and not self.external_name:
            raise ValueError(MSG_EXTERNAL_NAME_REQUIRED)
        return self


class ServiceTemplate(KubeModel):
    """What every member Service looks like before per-cluster overrides."""

    metadata: TemplateMetadata = TemplateMetadata()
    spec: ServiceSpec


class LabelSelectorRequirement(KubeModel):
    """One ``matchExpressions`` entry of a standard label selector."""

    key: str = Field(min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(MSG_SELECTOR_VALUES)
        return self


class LabelSelector(KubeModel):
    """A standard label selector over MemberCluster labels; an empty selector matches every cluster."""

    match_labels: dict[str, str] = {}  # noqa: RUF012 (pydantic copies defaults)
    match_expressions: Annotated[tuple[LabelSelectorRequirement, ...], Field(max_length=32)] = ()


class Placement(KubeModel):
    """Which member clusters get a shard.

    Neither field set: every MemberCluster. ``clusters`` only: those named. ``clusterSelector`` only: those
    whose labels match. Both: the named clusters whose labels match.
    """

    clusters: Annotated[tuple[ObjectName, ...], ListSet()] = ()
    cluster_selector: LabelSelector | None = None


class PatchOp(KubeModel):
    """One JSON-patch operation applied to a member's Service manifest (KubeFed style)."""

    op: Literal["add", "remove", "replace"] = "replace"
    path: str = Field(max_length=1024, pattern=JSON_POINTER_PATTERN)
    # Any JSON value. The API server prunes a null ``value`` before validation, so None means "absent".
    value: Any = None

    @model_validator(mode="after")
    def _value_and_path(self) -> PatchOp:
        if self.op != "remove" and self.value is None:
            raise ValueError(MSG_PATCH_VALUE_REQUIRED)
        if self.path in PROTECTED_PATCH_PATHS:
            raise ValueError(MSG_PATCH_PATH_PROTECTED)
        return self


class ClusterOverride(KubeModel):
    """The patches applied to the Service in one member cluster."""

    cluster_name: ObjectName
    cluster_overrides: Annotated[tuple[PatchOp, ...], Field(max_length=64)] = ()


class ClusterSet(KubeModel):
    """Some member clusters: by name, by labels (every ``matchLabels`` pair), or both (the named clusters
    whose labels match); neither field: every cluster."""

    clusters: Annotated[tuple[ObjectName, ...], Field(max_length=128), ListSet()] = ()
    match_labels: dict[str, str] = {}  # noqa: RUF012 (pydantic copies defaults)


class PolicyWeight(ClusterSet):
    """The weight of the clusters an entry of ``policy.weights`` chooses (the first entry choosing a cluster
    wins)."""

    weight: int = Field(ge=0, le=WEIGHT_MAX)


class FailoverGroup(ClusterSet):
    """One group of ``policy.groups``: its clusters answer while they have a healthy shard and no earlier
    group has one (a cluster chosen by several groups belongs to the first)."""


class RegionLocation(KubeModel):
    """Where a member region is, in the provider's terms; overrides the built-in table
    (:data:`~federation_operator.domain.policies.DEFAULT_LOCATIONS`) for that region."""

    region: DnsLabel
    continent: Continent | None = None
    country: str | None = Field(default=None, pattern=COUNTRY_PATTERN)
    aws_region: DnsLabel | None = None
    gcp_region: DnsLabel | None = None


class PolicyHealthCheck(KubeModel):
    """The health check the managed DNS service runs on each share of a routing policy
    (``spec.dns.policy.healthCheck``; Route 53 only in this version)."""

    protocol: Literal["TCP", "HTTP", "HTTPS"]
    port: PortNumber
    path: str | None = Field(default=None, pattern=HEALTH_CHECK_PATH_PATTERN)
    interval_seconds: Literal[10, 30] = 30
    failure_threshold: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _path_for_http(self) -> PolicyHealthCheck:
        if self.protocol == "TCP" and self.path is not None:
            raise ValueError(MSG_HEALTH_CHECK_PATH_ONLY_HTTP)
        return self

    def to_health_check(self) -> HealthCheck:
        return HealthCheck(
            protocol=self.protocol,
            port=self.port,
            path=self.path or "/",
            interval=self.interval_seconds,
            failure_threshold=self.failure_threshold,
        )


class DnsPolicy(KubeModel):
    """How the global name chooses among the healthy shards (``spec.dns.policy``).

    ``tiered``: every healthy shard (today's behaviour, and what an object without a policy gets);
    ``failover``: only the healthy shards of the first group in ``groups`` that has one, computed by the
    operator (any provider), or with ``health_check`` by the managed DNS service (Route 53 failover record
    sets: that group the primary, the next one the standby); ``weighted``, ``latency`` and ``geolocation``:
    answered by the managed DNS service's routing policies. Region and zone names keep their geo meaning
    whatever the policy.
    """

    type: PolicyType = "tiered"
    weights: Annotated[tuple[PolicyWeight, ...], Field(max_length=64)] = ()
    default_weight: int = Field(default=1, ge=0, le=WEIGHT_MAX)
    groups: Annotated[tuple[FailoverGroup, ...], Field(max_length=16)] = ()
    locations: Annotated[tuple[RegionLocation, ...], Field(max_length=256), ListMap("region")] = ()
    health_check: PolicyHealthCheck | None = None
    # Cloud DNS: a Compute Engine health check the user made (the operator manages none), named in a
    # primaryBackup routing policy that probes the first group's addresses.
    gcp_health_check: str | None = Field(default=None, pattern=GCP_HEALTH_CHECK_PATTERN)

    @model_validator(mode="after")
    def _fields_match_type(self) -> DnsPolicy:
        if self.type == "tiered" and self.health_check is not None:
            raise ValueError(MSG_HEALTH_CHECK_ONLY_ROUTED)
        if self.type != "weighted" and self.weights:
            raise ValueError(MSG_WEIGHTS_ONLY_WEIGHTED)
        if self.type != "failover" and self.groups:
            raise ValueError(MSG_GROUPS_ONLY_FAILOVER)
        if self.type == "failover" and not self.groups:
            raise ValueError(MSG_FAILOVER_NEEDS_GROUPS)
        located = self.type in ("latency", "geolocation") or (
            self.type == "failover" and self.gcp_health_check is not None
        )
        if not located and self.locations:
            raise ValueError(MSG_LOCATIONS_ONLY_GEO)
        if self.type != "failover" and self.gcp_health_check is not None:
            raise ValueError(MSG_GCP_HEALTH_CHECK_ONLY_FAILOVER)
        return self

    @property
    def gcp_health_check_url(self) -> str | None:
        """``gcpHealthCheck`` as the Cloud DNS API names it: the health check's full URL (its selfLink)."""
        if self.gcp_health_check is None:
            return None
        path = self.gcp_health_check.removeprefix(GCP_COMPUTE_API)
        return f"{GCP_COMPUTE_API}{path}"


@dataclass(frozen=True)
class DnsDefaults:
    """What a FederatedService gets for the ``spec.dns`` fields it leaves out: the operator's settings.

    180 s is Federation v1's TTL: short enough that clients move off a withdrawn shard within minutes,
    long enough to keep resolver load and provider query costs low.
    """

    ttl: int = 180
    min_ready_endpoints: int = 1


class DnsSettings(KubeModel):
    """How the FederatedService is published in DNS; a field left out takes the operator's default."""

    ttl: int | None = Field(default=None, ge=1, le=86400)
    min_ready_endpoints: int | None = Field(default=None, ge=1)
    aliases: tuple[AliasEntry, ...] = ()
    # None (no policy) publishes exactly as ``tiered``.
    policy: DnsPolicy | None = None

    @field_validator("aliases")
    @classmethod
    def _alias_names_unique(cls, aliases: tuple[Alias, ...]) -> tuple[Alias, ...]:
        names = [alias.name.rstrip(".") for alias in aliases]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate entries: {', '.join(duplicates)}")
        return aliases

    @property
    def alias_names(self) -> tuple[str, ...]:
        return tuple(alias.name for alias in self.aliases)

    def effective_ttl(self, defaults: DnsDefaults) -> int:
        return self.ttl if self.ttl is not None else defaults.ttl

    def effective_min_ready_endpoints(self, defaults: DnsDefaults) -> int:
        return (
            self.min_ready_endpoints if self.min_ready_endpoints is not None else defaults.min_ready_endpoints
        )


class FederatedServiceSpec(KubeModel):
    """``FederatedService.spec``: the Service to propagate, where, with which per-cluster changes, and DNS."""

    template: ServiceTemplate
    placement: Placement = Placement()
    overrides: Annotated[tuple[ClusterOverride, ...], Field(max_length=128), ListMap("clusterName")] = ()
    dns: DnsSettings = DnsSettings()


# --- parsing ------------------------------------------------------------------------------------------------


def parse_member_cluster_spec(raw: Mapping[str, Any]) -> MemberClusterSpec:
    """Parse ``MemberCluster.spec``; raises :class:`InvalidSpecError` naming the failing fields."""
    return parse_model(MemberClusterSpec, raw)


def parse_federated_service_spec(raw: Mapping[str, Any]) -> FederatedServiceSpec:
    """Parse ``FederatedService.spec``; raises :class:`InvalidSpecError` naming the failing fields."""
    return parse_model(FederatedServiceSpec, raw)
