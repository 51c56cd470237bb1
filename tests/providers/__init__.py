"""Adapter tests for the DNS providers, and the scenario helpers they share.

Every provider goes through the same rounds as external-dns's provider tests: a first round publishes the seed
article's records, a second round with the same state makes no call, then health changes, foreign records
and deletion. The helpers here drive a provider the way the operator will: read, plan, apply.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from federation_operator.dns.provider import DnsProvider
from federation_operator.domain.records import Changes, Conflict, RecordSet, ServiceNames, ShardAddresses
from federation_operator.planning.records import plan_records
from federation_operator.planning.zone_diff import plan_changes

FEDERATION = "myfederation"
NAMESPACE = "mynamespace"
DOMAIN = "example.com"
TOPOLOGY = {
    "asia-east1": frozenset({"asia-east1-a", "asia-east1-b"}),
    "europe-west1": frozenset({"europe-west1-a", "europe-west1-b"}),
    "us-central1": frozenset({"us-central1-a", "us-central1-b"}),
}
ASIA = ShardAddresses(
    cluster="asia", region="asia-east1", zones=frozenset({"asia-east1-a"}), ipv4=("127.10.0.1",)
)
EUROPE = ShardAddresses(
    cluster="europe", region="europe-west1", zones=frozenset({"europe-west1-a"}), ipv4=("127.20.0.1",)
)
US = ShardAddresses(
    cluster="us", region="us-central1", zones=frozenset({"us-central1-a"}), ipv4=("127.30.0.1",)
)


def unique_service() -> str:
    """A fresh service name, so tests sharing one zone (one BIND per session) never meet."""
    return f"nginx-{secrets.token_hex(4)}"


def global_name(service: str) -> str:
    return f"{service}.{NAMESPACE}.{FEDERATION}.svc.{DOMAIN}."


def tier_name(service: str, label: str) -> str:
    return f"{service}.{NAMESPACE}.{FEDERATION}.svc.{label}.{DOMAIN}."


def service_names(service: str, domain: str = DOMAIN) -> ServiceNames:
    """The names of the FederatedService ``mynamespace/<service>`` of our federation, under ``domain``."""
    return ServiceNames(service=service, namespace=NAMESPACE, federation=FEDERATION, domain=domain)


def crowded_shards(count: int, octet: int) -> list[ShardAddresses]:
    """``count`` shards all in us-central1-a, one IPv4 address each under 127.<octet>.0.0/16 (in order)."""
    return [
        ShardAddresses(
            cluster=f"c{i}",
            region="us-central1",
            zones=frozenset({"us-central1-a"}),
            ipv4=(f"127.{octet}.{i // 200}.{i % 200 + 1}",),
        )
        for i in range(count)
    ]


def seed_records(
    service: str, healthy: Sequence[ShardAddresses], aliases: Sequence[str] = ()
) -> tuple[RecordSet, ...]:
    """The seed article's records for ``service`` with ``healthy`` shards, TTL 180."""
    return plan_records(
        names=service_names(service),
        ttl=180,
        aliases=aliases,
        topology=TOPOLOGY,
        healthy=healthy,
    )


async def plan_for(
    provider: DnsProvider, desired: Sequence[RecordSet], service: str, federation: str = FEDERATION
) -> tuple[Changes, tuple[Conflict, ...]]:
    """Read the provider's zone and plan ``desired`` for the FederatedService ``mynamespace/<service>``."""
    current = await provider.records()
    return plan_changes(
        current, desired, federation=federation, owner=f"{NAMESPACE}/{service}", zone=provider.zone
    )


async def publish(
    provider: DnsProvider, desired: Sequence[RecordSet], service: str, federation: str = FEDERATION
) -> tuple[int, tuple[Conflict, ...]]:
    """Read, plan and apply, as the operator does; returns the provider calls made and the conflicts."""
    changes, conflicts = await plan_for(provider, desired, service, federation)
    return await provider.apply(changes), conflicts
