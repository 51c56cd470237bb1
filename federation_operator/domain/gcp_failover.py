"""Cloud DNS failover (a ``primaryBackup`` routing policy) carried in a ``FAILOVER`` group's set identifiers:
plain data.

Cloud DNS keeps no identifier per share. What it holds besides the addresses is the Compute Engine health
check probing the primary targets (``routingPolicy.healthCheck``) and the Google Cloud region of the backup
item (``backupGeoTargets.items[].location``). Both ride in the set identifiers the planner makes, the way
Route 53's health-check settings do (:mod:`federation_operator.domain.health_checks`): the PRIMARY share's
``<identifier>~gcphc~<project>~<health check>``, the SECONDARY share's ``<identifier>~gcpat~<region>``. The
Cloud DNS adapter writes them into the policy and reads the policy back into the same identifiers, so a second
round plans nothing, and another health check or backup region is a change of the record set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "GCP_COMPUTE_API",
    "GcpFailover",
    "read_gcp_health_check",
    "read_gcp_location",
    "with_gcp_health_check",
    "with_gcp_location",
]

GCP_COMPUTE_API = "https://www.googleapis.com/compute/v1/"
"""The prefix of a Compute Engine resource's URL (its ``selfLink``), as Cloud DNS names a health check."""

_CHECK_SEPARATOR = "~gcphc~"
_LOCATION_SEPARATOR = "~gcpat~"
# Project ids: 6-30 lowercase letters, digits and hyphens, starting with a letter; resource names: RFC 1035
# labels. Neither holds a "~" or a "/".
_CHECK_URL = re.compile(
    r"^https://www\.googleapis\.com/compute/v1/projects/([a-z][-a-z0-9]{4,28}[a-z0-9])"
    r"/global/healthChecks/([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$"
)
_CHECK_TAIL = re.compile(r"^([a-z][-a-z0-9]{4,28}[a-z0-9])~([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$")
_REGION = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]+$")


@dataclass(frozen=True)
class GcpFailover:
    """What a Cloud DNS failover adds to a ``FAILOVER`` group's roles: the Google Cloud region of the backup
    item (``location``) and the Compute Engine ``health_check`` (its URL) probing the primary targets."""

    location: str
    health_check: str


def with_gcp_health_check(identifier: str, url: str) -> str:
    """``identifier`` carrying the global Compute Engine health check at ``url``; :class:`ValueError` for a
    URL of another shape."""
    match = _CHECK_URL.match(url)
    if match is None:
        raise ValueError(f"not a global Compute Engine health check URL: {url!r}")
    project, name = match.groups()
    return f"{identifier}{_CHECK_SEPARATOR}{project}~{name}"


def read_gcp_health_check(identifier: str) -> str | None:
    """The URL of the health check ``identifier`` carries, or None."""
    _, found, tail = identifier.partition(_CHECK_SEPARATOR)
    match = _CHECK_TAIL.match(tail) if found else None
    if match is None:
        return None
    project, name = match.groups()
    return f"{GCP_COMPUTE_API}projects/{project}/global/healthChecks/{name}"


def with_gcp_location(identifier: str, region: str) -> str:
    """``identifier`` carrying Google Cloud ``region``; :class:`ValueError` for a name of another shape."""
    if not _REGION.match(region):
        raise ValueError(f"not a Google Cloud region name: {region!r}")
    return f"{identifier}{_LOCATION_SEPARATOR}{region}"


def read_gcp_location(identifier: str) -> str | None:
    """The Google Cloud region ``identifier`` carries, or None."""
    _, found, tail = identifier.partition(_LOCATION_SEPARATOR)
    return tail if found and _REGION.match(tail) else None
