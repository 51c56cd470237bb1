"""Drift checks by incremental zone transfer against a real BIND 9: what changed since a read (IXFR of
BIND's journal) replayed onto the index gives what a whole read lists; the whole zone when the journal does
not reach back (or holds types the operator does not manage); and a publisher that finds another writer's
change, and repairs it, through either path."""

from __future__ import annotations

import asyncio

import dns.asyncquery
import dns.rcode
import dns.tsig
import dns.update
import pytest
from localfed.bind import BindServer
from localfed.bind import rfc2136_provider as connect

from federation_operator.dns.publisher import Publisher
from federation_operator.dns.rfc2136 import Rfc2136Provider
from federation_operator.domain.records import Changes, RecordSet, ZoneDelta
from federation_operator.planning.zone_diff import ZoneIndex, render_delta

from . import (
    ASIA,
    EUROPE,
    FEDERATION,
    NAMESPACE,
    US,
    global_name,
    plan_for,
    seed_records,
    tier_name,
    unique_service,
)

pytestmark = pytest.mark.dns


async def by_hand(bind: BindServer, build: str, name: str, rtype: str, *values: str) -> None:
    """Another writer's UPDATE: ``build`` is ``add``, ``delete`` or ``replace``."""
    update = dns.update.UpdateMessage(
        f"{bind.zone}.", keyring=dns.tsig.Key(bind.key_name, bind.key_secret, bind.key_algorithm)
    )
    if build == "delete":
        update.delete(name, rtype, *values)
    else:
        getattr(update, build)(name, 60, rtype, *values)
    response = await dns.asyncquery.tcp(update, bind.address, port=bind.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR


async def fill(bind: BindServer, provider: Rfc2136Provider) -> None:
    """Record sets enough that a few changes are much smaller than the zone: BIND answers an IXFR with the
    whole zone when that is smaller (its max-ixfr-ratio)."""
    bulk = unique_service()
    filler = tuple(
        RecordSet(f"h{i}.{bulk}.{bind.zone}.", "A", 60, (f"10.9.{i // 250}.{i % 250}",)) for i in range(400)
    )
    await provider.apply(Changes(create=filler))


async def test_what_changed_replayed_onto_the_index_is_what_a_whole_read_lists(
    bind_server: BindServer,
) -> None:
    provider = connect(bind_server)
    await fill(bind_server, provider)
    index = ZoneIndex(await provider.records())
    mark = provider.read_serial
    assert mark is not None
    # Our own changes (the index holds them, as the publisher's does), then someone else's.
    svc = unique_service()
    changes, _ = await plan_for(provider, seed_records(svc, [ASIA, EUROPE, US]), svc)
    await provider.apply(changes)
    index.apply(changes)
    await by_hand(bind_server, "add", global_name(svc), "A", "127.99.0.1")  # a value added beside ours
    await by_hand(bind_server, "delete", tier_name(svc, "asia-east1"), "A")  # a record set deleted
    await by_hand(bind_server, "replace", tier_name(svc, "us-central1-a"), "A", "127.30.0.1")  # TTL only
    await by_hand(bind_server, "add", f"foreign-{svc}.{bind_server.zone}.", "TXT", "hello")

    delta = await provider.changes_since(mark)
    assert isinstance(delta, ZoneDelta)
    assert provider.transfers == {"AXFR": 0, "IXFR": 1}
    assert provider.read_serial != mark
    drift = index.take(render_delta(index, delta), federation=FEDERATION)
    assert sorted(index.records.values()) == await provider.records()
    # Exactly the names someone else changed, and the owner they belong to.
    assert drift.names == {
        global_name(svc),
        tier_name(svc, "asia-east1"),
        tier_name(svc, "us-central1-a"),
        f"foreign-{svc}.{bind_server.zone}.",
    }
    assert drift.owners == {f"{NAMESPACE}/{svc}"}
    # Nothing since: an empty delta (BIND answers with its SOA alone).
    assert await provider.changes_since(provider.read_serial or 0) == ZoneDelta(())


async def test_a_journal_that_does_not_reach_back_gives_the_whole_zone(bind_server: BindServer) -> None:
    provider = connect(bind_server)
    whole = await provider.records()
    # Serial 0: older than anything BIND's journal holds for the zone (it started at 1 and moved since).
    read = await provider.changes_since(0)
    assert read == whole
    assert provider.transfers == {"AXFR": 1, "IXFR": 0}


async def test_types_the_operator_does_not_manage_make_it_read_the_whole_zone(
    bind_server: BindServer,
) -> None:
    provider = connect(bind_server)
    await provider.records()
    mark = provider.read_serial
    assert mark is not None
    name = f"mail-{unique_service()}.{bind_server.zone}."
    await by_hand(bind_server, "add", name, "MX", "10 mx.example.net.")
    read = await provider.changes_since(mark)
    assert isinstance(read, list)
    assert RecordSet(name, "OTHER", 0, ("MX",)) in read
    assert provider.transfers["AXFR"] == 1


class _JournalGone(Rfc2136Provider):
    """A provider whose reads seem older than BIND's journal: every IXFR is answered with the whole zone."""

    @property
    def read_serial(self) -> int | None:
        return 0 if super().read_serial is not None else None


@pytest.mark.parametrize("provider_type", [Rfc2136Provider, _JournalGone], ids=["ixfr", "axfr-fallback"])
async def test_a_publisher_finds_and_repairs_another_writers_change(
    bind_server: BindServer, provider_type: type[Rfc2136Provider]
) -> None:
    provider = connect(bind_server, provider_type)
    await fill(bind_server, provider)
    svc = unique_service()
    key = (NAMESPACE, svc)
    notified: list[tuple[str, str]] = []
    publisher = Publisher(
        provider, federation=FEDERATION, on_result=notified.append, resync_seconds=0.2, coalesce_seconds=0.01
    )
    task = asyncio.create_task(publisher.run())
    try:
        records = seed_records(svc, [ASIA, EUROPE])
        publisher.submit(key, records)
        async with asyncio.timeout(20):
            while publisher.result(key) is None:  # noqa: ASYNC110 (polling the publisher, with a deadline)
                await asyncio.sleep(0.05)
        wanted = next(r for r in records if r.name == global_name(svc))
        await by_hand(bind_server, "replace", wanted.name, "A", "127.66.66.66")
        async with asyncio.timeout(20):
            while True:
                held = {r.key: r for r in await provider.records()}
                if held.get(wanted.key) == wanted and publisher.result(key) is not None:
                    break
                await asyncio.sleep(0.1)
        assert notified.count(key) >= 3  # published, drift found, republished
        expected = {"AXFR": 0, "IXFR": 1} if provider_type is Rfc2136Provider else {"AXFR": 1, "IXFR": 0}
        assert {k: min(v, 1) for k, v in provider.transfers.items()} == expected
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
