"""Provider health checks of routing-policy shares (``spec.dns.policy.healthCheck``), as plain data.

A share of a routing-policy group (a weighted, latency or geolocation set) that the managed DNS service
should probe carries its health-check settings in its set identifier: ``<identifier>~hc~<protocol>~<port>~
<interval>~<threshold>[~<path>]``. The settings so travel with the record set through the plan, the diff and
the provider's reading of the zone (Route 53 lists the set identifier as written), so a second round plans
nothing, and a change of settings or addresses is a new identifier: the old share (and its health check)
deleted, the new one created, in one change.

What the provider makes of its health checks is reported, not decided here: :class:`ProviderHealth` (one
check's state, as the provider last said it) and :func:`read_checker_reports` (Route 53's documented rule
for turning its checkers' reports into one state).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from federation_operator.domain.records import (
    FAILOVER,
    GEO,
    LATENCY,
    WEIGHTED,
    RecordSet,
    split_failover_values,
    split_geo_values,
    split_latency_values,
    split_weighted_values,
)

__all__ = [
    "HEALTHY_CHECKER_SHARE",
    "HEALTH_CHECK_PATH_PATTERN",
    "HealthCheck",
    "ProviderHealth",
    "ProviderHealthState",
    "read_checker_reports",
    "read_health_check",
    "read_shares",
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


def read_shares(record: RecordSet) -> dict[str, tuple[str, ...]]:
    """A routing-policy group's shares as set identifier → addresses (sorted; a share's health check probes
    the first), or ``{}`` for any other record set."""
    if record.type == WEIGHTED:
        return {i: addresses for i, (_, addresses) in split_weighted_values(record.values).items()}
    if record.type == LATENCY:
        return {i: addresses for i, (_, addresses) in split_latency_values(record.values).items()}
    if record.type == GEO:
        return {i: addresses for i, (_, addresses) in split_geo_values(record.values).items()}
    if record.type == FAILOVER:
        return {i: addresses for i, (_, addresses) in split_failover_values(record.values).items()}
    return {}


ProviderHealthState = Literal["Healthy", "Unhealthy", "Unknown"]


@dataclass(frozen=True)
class ProviderHealth:
    """What the provider last said of one of its health checks: ``Healthy`` or ``Unhealthy`` by its own
    probes, ``Unknown`` while it has no verdict (a new check not yet probed, or one the provider no longer
    has). ``message`` says why; the operator's own health rules never read it."""

    state: ProviderHealthState
    health_check_id: str
    message: str = ""

    def same_state(self, other: ProviderHealth | None) -> bool:
        """True when ``other`` says the same of the same check (the message, such as how many checkers
        agree, may move without the state moving: no reason to re-render a status)."""
        return other is not None and (other.state, other.health_check_id) == (
            self.state,
            self.health_check_id,
        )


HEALTHY_CHECKER_SHARE = 0.18
"""Route 53 considers an endpoint healthy when more than 18% of its health checkers report it healthy, and
unhealthy otherwise (Route 53 Developer Guide, "How Amazon Route 53 determines whether a health check is
healthy"): a value chosen so that checkers cut off from the endpoint by the network do not fail it."""


def read_checker_reports(statuses: Sequence[str], health_check_id: str) -> ProviderHealth:
    """One health check's state from its checkers' last reports (Route 53 ``StatusReport.Status`` strings,
    ``Success: ...`` or ``Failure: ...``): Healthy when more than :data:`HEALTHY_CHECKER_SHARE` of them
    succeed, Unknown when there are none yet."""
    if not statuses:
        return ProviderHealth("Unknown", health_check_id, "no health checker has reported yet")
    healthy = sum(1 for status in statuses if status.startswith("Success"))
    if healthy > HEALTHY_CHECKER_SHARE * len(statuses):
        return ProviderHealth("Healthy", health_check_id, f"{healthy} of {len(statuses)} checkers succeed")
    failures = sorted({status for status in statuses if not status.startswith("Success")})
    return ProviderHealth(
        "Unhealthy",
        health_check_id,
        f"{healthy} of {len(statuses)} checkers succeed: {failures[0] if failures else 'no report'}",
    )
