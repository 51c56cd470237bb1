"""Provider health checks of routing-policy shares (``spec.dns.policy.healthCheck``), as plain data.

A share of a routing-policy group (a weighted, latency or geolocation set) that the managed DNS service
should probe carries its health-check settings in its set identifier: ``<identifier>~hc~<protocol>~<port>~
<interval>~<threshold>[~<path>]``. The settings so travel with the record set through the plan, the diff and
the provider's reading of the zone (Route 53 lists the set identifier as written), so a second round plans
nothing, and a change of settings or addresses is a new identifier: the old share (and its health check)
deleted, the new one created, in one change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "HEALTH_CHECK_PATH_PATTERN",
    "HealthCheck",
    "read_health_check",
    "with_health_check",
]

HealthProtocol = Literal["TCP", "HTTP", "HTTPS"]
HEALTH_CHECK_PATH_PATTERN = r"^/[A-Za-z0-9/._-]{0,59}$"
"""Paths the operator puts in a set identifier: no ``~`` (its separator), short enough that the identifier
stays within Route 53's 128 characters."""
_SEPARATOR = "~hc~"
_SETTINGS = re.compile(r"^(TCP|HTTP|HTTPS)~([0-9]{1,5})~(10|30)~([0-9]{1,2})(~(/[A-Za-z0-9/._-]{0,59}))?$")


@dataclass(frozen=True)
class HealthCheck:
    """What the provider probes on a share's first address: ``protocol`` on ``port`` (and ``path`` for
    HTTP and HTTPS) every ``interval`` seconds, unhealthy after ``failure_threshold`` failures in a row."""

    protocol: HealthProtocol
    port: int
    path: str = "/"
    interval: int = 30
    failure_threshold: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"health check port must be 1-65535, got {self.port}")
        if self.interval not in (10, 30):
            raise ValueError(f"health check interval must be 10 or 30 seconds, got {self.interval}")
        if not 1 <= self.failure_threshold <= 10:
            raise ValueError(f"health check failure threshold must be 1-10, got {self.failure_threshold}")
        if not re.match(HEALTH_CHECK_PATH_PATTERN, self.path):
            raise ValueError(f"health check path must match {HEALTH_CHECK_PATH_PATTERN}, got {self.path!r}")

    def render(self) -> str:
        """The settings as the tail of a set identifier."""
        tail = f"{self.protocol}~{self.port}~{self.interval}~{self.failure_threshold}"
        return f"{tail}~{self.path}" if self.protocol != "TCP" else tail


def with_health_check(identifier: str, check: HealthCheck | None) -> str:
    """``identifier`` carrying ``check`` (unchanged without one)."""
    return identifier if check is None else f"{identifier}{_SEPARATOR}{check.render()}"


def read_health_check(identifier: str) -> HealthCheck | None:
    """The health check a set identifier carries, or None (no settings, or settings of another shape)."""
    _, found, tail = identifier.partition(_SEPARATOR)
    match = _SETTINGS.match(tail) if found else None
    if match is None:
        return None
    protocol, port, interval, threshold, _, path = match.groups()
    try:
        return HealthCheck(
            protocol=protocol,  # type: ignore[arg-type]  # the pattern allows only the three
            port=int(port),
            path=path or "/",
            interval=int(interval),
            failure_threshold=int(threshold),
        )
    except ValueError:
        return None
