"""What each DNS provider can express of ``spec.dns.policy``, and where cloud regions are: plain data.

- :data:`POLICY_PROVIDERS`: per policy, the providers that publish it in this version. ``tiered`` and
  ``failover`` are computed by the operator and published as plain record sets, so every provider takes
  them; ``weighted``, ``latency`` and ``geolocation`` need the managed DNS service's own routing (Route 53
  routing policies, Cloud DNS ``routingPolicy``), which plain DNS (RFC 2136) cannot express at all. This
  version publishes ``weighted`` on Route 53 (weighted record sets) and Cloud DNS (a weighted round robin
  routing policy), ``latency`` on Route 53 (latency record sets) and ``geolocation`` on Route 53
  (geolocation record sets) and Cloud DNS (a ``geo`` routing policy by Google Cloud region): anything else
  is refused with a message saying so, never silently published as ``tiered``.
- :data:`HEALTH_CHECK_PROVIDERS`: the providers that run ``policy.healthCheck`` themselves (Route 53); under
  ``failover`` it makes the failover the provider's own (Route 53 failover record sets, PRIMARY and
  SECONDARY), so only they take ``failover`` with ``healthCheck``;
  :data:`GCP_HEALTH_CHECK_PROVIDERS`: those that probe with a Compute Engine health check the user names in
  ``policy.gcpHealthCheck`` (Cloud DNS, under ``failover``: a ``primaryBackup`` routing policy).
- :data:`DEFAULT_LOCATIONS`: the built-in table from GKE, EKS and AKS region names to where they are in the
  providers' terms (Route 53 continent and country codes, the nearest AWS region for latency records, the
  nearest Google Cloud region for Cloud DNS geo policies); ``policy.locations`` overrides it per region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_LOCATIONS",
    "GCP_HEALTH_CHECK_PROVIDERS",
    "HEALTH_CHECK_PROVIDERS",
    "OPERATOR_POLICIES",
    "POLICY_PROVIDERS",
    "PROVIDER_ROUTING",
    "Location",
]

ALL_PROVIDERS = ("clouddns", "inmemory", "rfc2136", "route53")

OPERATOR_POLICIES = frozenset({"tiered", "failover"})
"""Policies the operator computes itself: plain record sets, so any provider publishes them."""

POLICY_PROVIDERS: Mapping[str, tuple[str, ...]] = {
    "tiered": ALL_PROVIDERS,
    "failover": ALL_PROVIDERS,
    "weighted": ("clouddns", "route53"),
    "latency": ("route53",),
    "geolocation": ("clouddns", "route53"),
}
"""Policy → the providers that publish it in this version (sorted)."""

HEALTH_CHECK_PROVIDERS = ("route53",)
"""The providers that run ``policy.healthCheck`` (Route 53 health checks on each share) in this version."""

GCP_HEALTH_CHECK_PROVIDERS = ("clouddns",)
"""The providers that take ``policy.gcpHealthCheck`` (a Compute Engine health check named in a Cloud DNS
``primaryBackup`` routing policy, under ``failover``)."""

PROVIDER_ROUTING: Mapping[str, str] = {
    "weighted": "Route 53 weighted record sets or a Cloud DNS wrr routing policy",
    "latency": "Route 53 latency record sets",
    "geolocation": "Route 53 geolocation record sets or a Cloud DNS geo routing policy",
}
"""For a policy the managed DNS service answers, what it maps onto there (said in refusals)."""


@dataclass(frozen=True)
class Location:
    """Where a member region is: Route 53 continent and country codes (geolocation), the nearest AWS region
    (Route 53 latency) and the nearest Google Cloud region (Cloud DNS geo)."""

    continent: str
    country: str
    aws_region: str
    gcp_region: str


def _at(continent: str, country: str, aws: str, gcp: str) -> Location:
    return Location(continent=continent, country=country, aws_region=aws, gcp_region=gcp)


DEFAULT_LOCATIONS: Mapping[str, Location] = {
    # EKS (AWS region names).
    "us-east-1": _at("NA", "US", "us-east-1", "us-east4"),
    "us-east-2": _at("NA", "US", "us-east-2", "us-east5"),
    "us-west-1": _at("NA", "US", "us-west-1", "us-west2"),
    "us-west-2": _at("NA", "US", "us-west-2", "us-west1"),
    "ca-central-1": _at("NA", "CA", "ca-central-1", "northamerica-northeast1"),
    "sa-east-1": _at("SA", "BR", "sa-east-1", "southamerica-east1"),
    "eu-west-1": _at("EU", "IE", "eu-west-1", "europe-west2"),
    "eu-west-2": _at("EU", "GB", "eu-west-2", "europe-west2"),
    "eu-west-3": _at("EU", "FR", "eu-west-3", "europe-west9"),
    "eu-central-1": _at("EU", "DE", "eu-central-1", "europe-west3"),
    "eu-north-1": _at("EU", "SE", "eu-north-1", "europe-north1"),
    "eu-south-1": _at("EU", "IT", "eu-south-1", "europe-west8"),
    "ap-east-1": _at("AS", "HK", "ap-east-1", "asia-east2"),
    "ap-south-1": _at("AS", "IN", "ap-south-1", "asia-south1"),
    "ap-northeast-1": _at("AS", "JP", "ap-northeast-1", "asia-northeast1"),
    "ap-northeast-2": _at("AS", "KR", "ap-northeast-2", "asia-northeast3"),
    "ap-northeast-3": _at("AS", "JP", "ap-northeast-3", "asia-northeast2"),
    "ap-southeast-1": _at("AS", "SG", "ap-southeast-1", "asia-southeast1"),
    "ap-southeast-2": _at("OC", "AU", "ap-southeast-2", "australia-southeast1"),
    "me-south-1": _at("AS", "BH", "me-south-1", "me-central1"),
    "af-south-1": _at("AF", "ZA", "af-south-1", "africa-south1"),
    # GKE (Google Cloud region names).
    "us-central1": _at("NA", "US", "us-east-2", "us-central1"),
    "us-east1": _at("NA", "US", "us-east-1", "us-east1"),
    "us-east4": _at("NA", "US", "us-east-1", "us-east4"),
    "us-east5": _at("NA", "US", "us-east-2", "us-east5"),
    "us-west1": _at("NA", "US", "us-west-2", "us-west1"),
    "us-west2": _at("NA", "US", "us-west-1", "us-west2"),
    "us-west3": _at("NA", "US", "us-west-2", "us-west3"),
    "us-west4": _at("NA", "US", "us-west-1", "us-west4"),
    "northamerica-northeast1": _at("NA", "CA", "ca-central-1", "northamerica-northeast1"),
    "northamerica-northeast2": _at("NA", "CA", "ca-central-1", "northamerica-northeast2"),
    "southamerica-east1": _at("SA", "BR", "sa-east-1", "southamerica-east1"),
    "europe-west1": _at("EU", "BE", "eu-west-3", "europe-west1"),
    "europe-west2": _at("EU", "GB", "eu-west-2", "europe-west2"),
    "europe-west3": _at("EU", "DE", "eu-central-1", "europe-west3"),
    "europe-west4": _at("EU", "NL", "eu-central-1", "europe-west4"),
    "europe-west6": _at("EU", "CH", "eu-central-1", "europe-west6"),
    "europe-west8": _at("EU", "IT", "eu-south-1", "europe-west8"),
    "europe-west9": _at("EU", "FR", "eu-west-3", "europe-west9"),
    "europe-north1": _at("EU", "FI", "eu-north-1", "europe-north1"),
    "europe-central2": _at("EU", "PL", "eu-central-1", "europe-central2"),
    "asia-east1": _at("AS", "TW", "ap-east-1", "asia-east1"),
    "asia-east2": _at("AS", "HK", "ap-east-1", "asia-east2"),
    "asia-northeast1": _at("AS", "JP", "ap-northeast-1", "asia-northeast1"),
    "asia-northeast2": _at("AS", "JP", "ap-northeast-3", "asia-northeast2"),
    "asia-northeast3": _at("AS", "KR", "ap-northeast-2", "asia-northeast3"),
    "asia-south1": _at("AS", "IN", "ap-south-1", "asia-south1"),
    "asia-southeast1": _at("AS", "SG", "ap-southeast-1", "asia-southeast1"),
    "asia-southeast2": _at("AS", "ID", "ap-southeast-1", "asia-southeast2"),
    "australia-southeast1": _at("OC", "AU", "ap-southeast-2", "australia-southeast1"),
    "me-central1": _at("AS", "QA", "me-south-1", "me-central1"),
    "me-west1": _at("AS", "IL", "me-south-1", "me-west1"),
    "africa-south1": _at("AF", "ZA", "af-south-1", "africa-south1"),
    # AKS (Azure region names).
    "eastus": _at("NA", "US", "us-east-1", "us-east4"),
    "eastus2": _at("NA", "US", "us-east-1", "us-east4"),
    "centralus": _at("NA", "US", "us-east-2", "us-central1"),
    "northcentralus": _at("NA", "US", "us-east-2", "us-central1"),
    "southcentralus": _at("NA", "US", "us-east-2", "us-south1"),
    "westus": _at("NA", "US", "us-west-1", "us-west2"),
    "westus2": _at("NA", "US", "us-west-2", "us-west1"),
    "westus3": _at("NA", "US", "us-west-1", "us-west4"),
    "canadacentral": _at("NA", "CA", "ca-central-1", "northamerica-northeast2"),
    "brazilsouth": _at("SA", "BR", "sa-east-1", "southamerica-east1"),
    "northeurope": _at("EU", "IE", "eu-west-1", "europe-west2"),
    "westeurope": _at("EU", "NL", "eu-central-1", "europe-west4"),
    "uksouth": _at("EU", "GB", "eu-west-2", "europe-west2"),
    "francecentral": _at("EU", "FR", "eu-west-3", "europe-west9"),
    "germanywestcentral": _at("EU", "DE", "eu-central-1", "europe-west3"),
    "switzerlandnorth": _at("EU", "CH", "eu-central-1", "europe-west6"),
    "swedencentral": _at("EU", "SE", "eu-north-1", "europe-north1"),
    "norwayeast": _at("EU", "NO", "eu-north-1", "europe-north1"),
    "eastasia": _at("AS", "HK", "ap-east-1", "asia-east2"),
    "southeastasia": _at("AS", "SG", "ap-southeast-1", "asia-southeast1"),
    "japaneast": _at("AS", "JP", "ap-northeast-1", "asia-northeast1"),
    "koreacentral": _at("AS", "KR", "ap-northeast-2", "asia-northeast3"),
    "centralindia": _at("AS", "IN", "ap-south-1", "asia-south1"),
    "australiaeast": _at("OC", "AU", "ap-southeast-2", "australia-southeast1"),
    "southafricanorth": _at("AF", "ZA", "af-south-1", "africa-south1"),
    "uaenorth": _at("AS", "AE", "me-south-1", "me-central1"),
}
"""GKE, EKS and AKS region name → its :class:`Location`. Route 53 files the Middle East under Asia (AS)."""
