"""The DNS provider's own health checks (``spec.dns.policy.healthCheck``), as each shard's status shows them.
Pure code, no I/O.

Route 53 probes one address per share of the global name's routing-policy group (a weighted cluster, a
latency region, a geolocation location or the default ``*``): the share's first. The publisher keeps what
Route 53 last said of each check, by set identifier; :func:`render_provider_health` gives every shard whose
addresses are in a checked share that share's state (``status.shards[].providerHealth``), and
:func:`plan_provider_health_events` a Warning event for each shard whose check fails. This is reported, not
decided on: the Healthy condition and the records follow the operator's own health rules
(:mod:`federation_operator.planning.health`), while Route 53 itself stops answering a share whose check
fails, even with the operator down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from federation_operator.domain.health_checks import ProviderHealth, read_health_check, read_shares
from federation_operator.domain.records import GEO, RecordSet, split_geo_values
from federation_operator.domain.status import ProviderHealthStatus, ShardStatus

__all__ = ["PROVIDER_HEALTH_TOPIC", "plan_provider_health_events", "render_provider_health"]

PROVIDER_HEALTH_TOPIC = "provider-health"
"""Event topic prefix: one topic per cluster (``provider-health/<cluster>``), so each is said once."""


def render_provider_health(
    shards: Sequence[ShardStatus], records: Iterable[RecordSet], health: Mapping[str, ProviderHealth]
) -> tuple[ShardStatus, ...]:
    """``shards`` with ``providerHealth`` set on each one in a checked share of ``records`` (the global
    name's group as planned): the state ``health`` (set identifier → the provider's last word) holds for
    that share, ``Unknown`` until the provider has said anything of it. A shard in several shares (a
    geolocation location and the default ``*``) shows the one whose check probes its own address, else its
    first non-default share."""
    checked: list[tuple[str, tuple[str, ...], bool]] = []  # set identifier, addresses, is the default
    for record in records:
        defaults = (
            {i for i, (location, _) in split_geo_values(record.values).items() if location == "*"}
            if record.type == GEO
            else set()
        )
        for identifier, addresses in read_shares(record).items():
            if addresses and read_health_check(identifier) is not None:
                checked.append((identifier, addresses, identifier in defaults))
    if not checked:
        return tuple(shards)
    rendered: list[ShardStatus] = []
    for shard in shards:
        own = {a.ip for a in shard.ingress if a.ip}
        candidates = sorted(
            (addresses[0] not in own, default, identifier, addresses[0])
            for identifier, addresses, default in checked
            if own.intersection(addresses)
        )
        if not candidates:
            rendered.append(shard)
            continue
        _, _, identifier, probed = candidates[0]
        said = health.get(identifier)
        status = ProviderHealthStatus(
            state=said.state if said is not None else "Unknown",
            health_check_id=said.health_check_id if said is not None else None,
            address=probed,
            message=said.message if said is not None else "the provider has not been asked yet",
        )
        rendered.append(shard.model_copy(update={"provider_health": status}))
    return tuple(rendered)


def plan_provider_health_events(
    shards: Sequence[ShardStatus],
) -> tuple[list[tuple[str, str]], list[str]]:
    """(topic, message) of a Warning for each shard whose provider health check fails, and the topics of
    the others (their failure, if any, is over)."""
    failing: list[tuple[str, str]] = []
    cleared: list[str] = []
    for shard in shards:
        topic = f"{PROVIDER_HEALTH_TOPIC}/{shard.cluster}"
        health = shard.provider_health
        if health is None or health.state != "Unhealthy":
            cleared.append(topic)
            continue
        failing.append(
            (
                topic,
                f"the DNS provider's health check {health.health_check_id} of {health.address} "
                f"(cluster {shard.cluster}) fails: the provider stops answering its share",
            )
        )
    return failing, cleared
