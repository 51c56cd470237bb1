"""One publisher round against a real (or faithful) provider: the helper behind each adapter's containment
test (one owner the provider refuses, one healthy owner, submitted together)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from federation_operator.dns.provider import DnsProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.records import PublishResult, RecordSet

from . import FEDERATION, NAMESPACE


async def publish_together(
    provider: DnsProvider, owners: Mapping[str, tuple[RecordSet, ...]], *, deadline: float = 30.0
) -> tuple[Publisher, dict[str, PublishResult]]:
    """Submit every owner (service name → records) to one publisher at once and wait, up to ``deadline``,
    until each has a result; returns the publisher (for its counters) and each owner's result."""
    publisher = Publisher(provider, federation=FEDERATION, on_result=lambda _key: None, coalesce_seconds=0.2)
    task = asyncio.create_task(publisher.run())
    try:
        for service, records in owners.items():
            publisher.submit((NAMESPACE, service), records)
        async with asyncio.timeout(deadline):
            while not all(publisher.result((NAMESPACE, s)) is not None for s in owners):  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # polling the publisher's outcome, with a deadline
        results = {s: publisher.result((NAMESPACE, s)) for s in owners}
        return publisher, {s: r for s, r in results.items() if r is not None}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
