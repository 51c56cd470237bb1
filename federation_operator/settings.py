"""The operator's settings: parsed and validated once at start-up into one frozen value.

Sources, later ones winning: built-in defaults, a YAML file (``--config`` or ``FEDOP_CONFIG_FILE``),
environment variables ``FEDOP_<FIELD>`` (e.g. ``FEDOP_FEDERATION_NAME``). A bad setting stops the operator
before it touches anything, with a message naming the setting.

DNS is published to one zone (``dns_provider``, ``dns_zone``, ``dns_options``, ``dns_credentials_secret``),
plus the zones listed in ``dns_zones`` (each with its own provider, options and credentials; a zone listed
again with another mirror name is a mirror, published to both), or to ``dns_zones`` alone. Either way the
operator works on :attr:`Settings.dns_targets`, a list of one in the first case.
"""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, SettingsConfigDict

from federation_operator.dns.factory import PROVIDERS
from federation_operator.dns.options import tsig_algorithm
from federation_operator.domain.errors import PermanentError
from federation_operator.domain.specs import DNS_LABEL_PATTERN, FQDN_PATTERN

__all__ = ["ENV_PREFIX", "DnsTarget", "Settings", "SettingsError", "load_settings"]

ENV_PREFIX = "FEDOP_"


class SettingsError(PermanentError):
    """A setting is missing or invalid; the message names it."""


_SECRET_REF_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"


class DnsTarget(BaseModel):
    """One zone on one provider: an entry of ``dns_zones`` (keys in snake_case or camelCase)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    zone: str = Field(pattern=FQDN_PATTERN, description="The DNS zone, e.g. acme.com.")
    provider: str = Field(description="rfc2136, route53, clouddns or inmemory.")
    options: dict[str, str] = Field(default_factory=dict, description="The provider's options.")
    credentials_secret: str | None = Field(
        default=None,
        pattern=_SECRET_REF_PATTERN,
        description="namespace/name of a Secret whose keys are added to the options (credentials).",
    )
    mirror: str | None = Field(
        default=None,
        pattern=DNS_LABEL_PATTERN,
        max_length=63,
        description=(
            "Tells apart two entries of one zone (mirrors: the zone published to both); unset: the provider."
        ),
    )

    @property
    def mirror_name(self) -> str:
        return self.mirror or self.provider

    @property
    def label(self) -> str:
        """How logs, events and the status name it: ``acme.com (route53)``."""
        return f"{self.zone.rstrip('.').lower()} ({self.mirror_name})"


class Settings(BaseSettings):
    """Everything the operator is told at start-up."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    federation_name: str = Field(
        default="myfederation",
        pattern=DNS_LABEL_PATTERN,
        max_length=63,
        description="Name of the federation: labels member Services and appears in DNS names.",
    )
    kubeconfig: Path | None = Field(
        default=None,
        description="Kubeconfig of the host cluster; unset: $KUBECONFIG, ~/.kube/config, or in-cluster.",
    )
    host_context: str | None = Field(
        default=None, description="Context of the host cluster in the kubeconfig."
    )
    workers: int = Field(default=8, ge=1, le=256, description="FederatedServices reconciled concurrently.")
    io_threads: int = Field(
        default=32,
        ge=2,
        le=512,
        description="Threads for blocking calls: member probes, reading Secrets, the Route 53 and Cloud DNS "
        "SDKs (the watches, member writes, status writes and events run on the event loop).",
    )
    member_request_timeout: float = Field(
        default=10.0, gt=0, le=300, description="Seconds before a member API request is abandoned."
    )
    unreachable_grace_seconds: float = Field(
        default=40.0,
        ge=0,
        le=3600,
        description="How long an unreachable member keeps its shards before they are withdrawn.",
    )
    dns_provider: str | None = Field(
        default=None,
        description="DNS provider: rfc2136, route53, clouddns or inmemory; unset: DNS publishing is off.",
    )
    dns_zone: str | None = Field(
        default=None,
        pattern=FQDN_PATTERN,
        description="The DNS domain the records are published in (e.g. example.com): the provider's zone.",
    )
    default_ttl: int = Field(
        default=180,
        ge=1,
        le=86400,
        description="Record TTL of a FederatedService that sets no spec.dns.ttl (Federation v1: 180).",
    )
    default_min_ready_endpoints: int = Field(
        default=1,
        ge=1,
        description="Ready endpoints per shard when a FederatedService sets no spec.dns.minReadyEndpoints.",
    )
    dns_options: dict[str, str] = Field(
        default_factory=dict,
        description="Provider options (JSON object in the environment), e.g. server and port for rfc2136.",
    )
    dns_credentials_secret: str | None = Field(
        default=None,
        pattern=_SECRET_REF_PATTERN,
        description="namespace/name of a Secret whose keys are added to the provider options (credentials).",
    )
    dns_zones: tuple[DnsTarget, ...] = Field(
        default=(),
        description=(
            "More zones, each on its own provider (JSON list in the environment): objects with zone, "
            "provider, options, credentialsSecret and mirror; a zone listed again under another mirror name "
            "is published to both (mirrors). Beside the zone of dns_provider, or alone: dns_zone then names "
            "the zone of the federated names (unset: the first entry's)."
        ),
    )
    orphan_collection_seconds: float = Field(
        default=300.0,
        ge=10,
        le=86400,
        description=(
            "How often member Services and DNS records of FederatedServices that no longer exist are "
            "removed (also whenever a member has just been listed)."
        ),
    )
    gc_young_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description=(
            "How often the garbage collector's pacer collects the objects that grew old since its last pass "
            "and freezes the survivors, instead of CPython scanning every object each time (a pause of "
            "hundreds of milliseconds at 1,000 FederatedServices), and after which glibc hands back the "
            "memory it holds free; 0: CPython's own collector, and no such hand-back."
        ),
    )
    dns_resync_seconds: float | None = Field(
        default=None,
        ge=1,
        le=86400,
        description=(
            "How often the DNS zone is checked for changes made by others (drift), which are then repaired; "
            "unset: 60 for rfc2136 and inmemory (one SOA query; when the serial moved, only what "
            "changed is transferred, by IXFR) and 300 for route53 and clouddns (a full paged read each time)."
        ),
    )
    dns_health_check_poll_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description=(
            "How often each zone's provider is asked what its own health checks (Route 53, "
            "spec.dns.policy.healthCheck) say of the shares, for status.shards[].providerHealth: one request "
            "per health check; none while the zone holds no health check."
        ),
    )
    dns_credentials_poll_seconds: float = Field(
        default=5.0,
        ge=1,
        le=3600,
        description="How often the DNS credentials Secret is read again, so that a changed one is used.",
    )
    alias_domains: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description=(
            "Namespace (or * for every namespace) → DNS domains its FederatedServices may use as aliases, "
            "beyond <namespace>.<dns_zone> (JSON object in the environment)."
        ),
    )
    leader_election: bool = Field(
        default=False,
        description="Run as one of several replicas: only the holder of a Lease is active, the others wait.",
    )
    leader_election_namespace: str | None = Field(
        default=None,
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the Lease (the operator's own namespace); required with leader_election.",
    )
    leader_election_lease: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
        max_length=253,
        description="Name of the Lease; unset: federation-operator-<federation_name>.",
    )
    lease_duration_seconds: float = Field(
        default=15.0,
        ge=1,
        le=300,
        description="How long a standby waits after the active replica's last renewal before taking over.",
    )
    renew_deadline_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="The active replica stops when it could not renew its Lease for this long.",
    )
    retry_period_seconds: float = Field(
        default=2.0, gt=0, le=60, description="How often the Lease is renewed, or tried by a standby."
    )
    liveness_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of kopf's /healthz liveness endpoint; unset: off."
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of the Prometheus /metrics endpoint; unset: off."
    )
    metrics_address: IPvAnyAddress = Field(
        default=IPv4Address("0.0.0.0"),
        description="Address the /metrics endpoint binds to (all interfaces by default, for in-cluster use).",
    )

    @model_validator(mode="after")
    def _dns_zones_valid(self) -> Settings:
        if not self.dns_zones:
            return self
        if self.dns_provider is None:
            for single in ("dns_options", "dns_credentials_secret"):
                if getattr(self, single):
                    raise ValueError(
                        f"{single}: applies to the zone of dns_provider, which is unset; give each entry of "
                        "dns_zones its own options and credentialsSecret"
                    )
        seen: set[tuple[str, str]] = set()
        if self.dns_provider is not None and self.dns_zone is not None:
            seen.add((_zone_key(self.dns_zone), self.dns_provider))
        for index, target in enumerate(self.dns_zones):
            where = f"dns_zones[{index}]"
            if target.provider not in PROVIDERS:
                raise ValueError(
                    f"{where}.provider: unknown provider {target.provider!r} (known: {', '.join(PROVIDERS)})"
                )
            if target.provider == "rfc2136" and "key_algorithm" in target.options:
                try:
                    tsig_algorithm(target.options["key_algorithm"])
                except PermanentError as exc:
                    raise ValueError(f"{where}.options.key_algorithm: {exc}") from exc
            identity = (_zone_key(target.zone), target.mirror_name)
            if identity in seen:
                raise ValueError(
                    f"{where}.mirror: zone {target.zone} is already published as mirror "
                    f"{target.mirror_name!r}; give each mirror of a zone its own mirror name"
                )
            seen.add(identity)
        zones = [_zone_key(t.zone) for t in self.dns_zones]
        if self.dns_provider is None and self.dns_zone is not None and _zone_key(self.dns_zone) not in zones:
            raise ValueError(
                f"dns_zone: {self.dns_zone} is not among dns_zones ({', '.join(dict.fromkeys(zones))}): the "
                "federated names must be published in a zone the operator manages"
            )
        return self

    @model_validator(mode="after")
    def _dns_complete(self) -> Settings:
        if self.dns_provider is not None:
            if self.dns_provider not in PROVIDERS:
                raise ValueError(
                    f"dns_provider: unknown provider {self.dns_provider!r} (known: {', '.join(PROVIDERS)})"
                )
            if not self.dns_zone:
                raise ValueError("dns_zone: required when dns_provider is set")
        if self.dns_provider == "rfc2136" and "key_algorithm" in self.dns_options:
            try:
                tsig_algorithm(self.dns_options["key_algorithm"])
            except PermanentError as exc:
                raise ValueError(f"dns_options.key_algorithm: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _alias_domains_valid(self) -> Settings:
        for namespace, domains in self.alias_domains.items():
            if namespace != "*" and not re.fullmatch(DNS_LABEL_PATTERN, namespace):
                raise ValueError(f"alias_domains: {namespace!r} is neither a namespace name nor *")
            for domain in domains:
                if not re.fullmatch(FQDN_PATTERN, domain):
                    raise ValueError(f"alias_domains[{namespace}]: {domain!r} is not a DNS domain")
        return self

    @model_validator(mode="after")
    def _leader_election_complete(self) -> Settings:
        if self.leader_election and not self.leader_election_namespace:
            raise ValueError("leader_election_namespace: required when leader_election is on")
        if not self.retry_period_seconds < self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError(
                "renew_deadline_seconds: must lie between retry_period_seconds and lease_duration_seconds "
                f"(got {self.retry_period_seconds} < {self.renew_deadline_seconds} < "
                f"{self.lease_duration_seconds})"
            )
        return self

    @property
    def effective_dns_resync_seconds(self) -> float:
        """The drift check interval of the (first) provider: see :meth:`dns_resync_seconds_for`."""
        targets = self.dns_targets
        return self.dns_resync_seconds_for(targets[0].provider if targets else self.dns_provider)

    def dns_resync_seconds_for(self, provider: str | None) -> float:
        """The drift check interval of a zone on ``provider``: set, or the provider's default (see
        `dns_resync_seconds`)."""
        if self.dns_resync_seconds is not None:
            return self.dns_resync_seconds
        # Route 53 and Cloud DNS have no serial that every change moves: each check reads every page of the
        # zone, and their APIs are rate-limited per account or project, shared with every other tool.
        return 300.0 if provider in ("route53", "clouddns") else 60.0

    @property
    def dns_targets(self) -> tuple[DnsTarget, ...]:
        """Every zone and mirror DNS is published to: the zone of ``dns_provider`` (if set), then
        ``dns_zones``; empty when DNS publishing is off."""
        if self.dns_provider is None or self.dns_zone is None:
            return self.dns_zones
        single = DnsTarget(
            zone=self.dns_zone,
            provider=self.dns_provider,
            options=dict(self.dns_options),
            credentials_secret=self.dns_credentials_secret,
        )
        return (single, *self.dns_zones)

    @property
    def federation_zone(self) -> str | None:
        """The zone of the federated names (global, region and zone tiers); None when DNS is off."""
        if self.dns_provider is not None or not self.dns_zones:
            return self.dns_zone if self.dns_provider is not None else None
        return self.dns_zone or self.dns_zones[0].zone

    @property
    def lease_name(self) -> str:
        return self.leader_election_lease or f"federation-operator-{self.federation_name}"


def _zone_key(zone: str) -> str:
    return zone.strip().rstrip(".").lower()


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SettingsError(f"config file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path}: not valid YAML: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(f"config file {path}: must be a mapping of setting names to values")
    # Accept camelCase and kebab-case keys too, as people write YAML both ways.
    return {_snake(str(k)): v for k, v in raw.items()}


def _snake(name: str) -> str:
    out = []
    for ch in name.replace("-", "_"):
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out).lstrip("_")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the config file, the environment and explicit overrides."""
    file_path = config_file or (Path(p) if (p := os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")) else None)
    from_file = _read_config_file(file_path) if file_path else {}
    env_names = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
    # Environment variables win over the file: pass only file keys that the environment does not set.
    values = {k: v for k, v in from_file.items() if f"{ENV_PREFIX}{k}".upper() not in os.environ}
    values.update(overrides)
    unknown_env = sorted(
        k
        for k in os.environ
        if k.startswith(ENV_PREFIX) and k not in env_names and k != f"{ENV_PREFIX}CONFIG_FILE"
    )
    if unknown_env:
        raise SettingsError(f"{unknown_env[0]}: unknown setting (known: {', '.join(sorted(env_names))})")
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
        field = field.lstrip(".")
        if not field and ":" in str(first["msg"]):  # a model-level check names its field itself
            field = str(first["msg"]).split(":", 1)[0].removeprefix("Value error, ")
        # Named as the environment variable that set it, when one did (dns_zones[1].provider: the top name).
        top = re.split(r"[.\[]", field, maxsplit=1)[0]
        env = f"{ENV_PREFIX}{top}".upper()
        source = f"{env}{field[len(top) :]}" if env in os.environ else field
        raise SettingsError(f"setting {source}: {first['msg']}") from exc
