"""The per-zone publishing loop over the in-memory provider: coalescing, idempotency, freeze, withdrawal,
drift checks and repair, freed names handed to the oldest waiter, orphan collection, zone faults on every
owner's result, new credentials used at once, and containment: a refused owner (or name) found by splitting
the refused change, reported alone and retried alone with backoff, while every other owner publishes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from federation_operator.controllers.shutdown import ShutdownGate, ShuttingDownError
from federation_operator.dns import publisher as publisher_module
from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.publisher import QUICK_ROUNDS, Publisher
from federation_operator.domain.errors import (
    FederationError,
    PermanentError,
    RejectedChangeError,
    SuspectChangeError,
    TransientError,
)
from federation_operator.domain.ownership import OWNERSHIP_TTL, ownership_name, render_ownership_value
from federation_operator.domain.records import Changes, RecordSet, RecordType
from federation_operator.observability.metrics import Metrics

ZONE = "example.com"
KEY = ("mynamespace", "nginx")
GLOBAL = "nginx.mynamespace.myfederation.svc.example.com."


def a_record(*addresses: str) -> tuple[RecordSet, ...]:
    return (RecordSet(GLOBAL, "A", 180, addresses),)


Running = tuple[Publisher, InMemoryProvider, list[tuple[str, str]]]


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    provider = InMemoryProvider(ZONE)
    notified: list[tuple[str, str]] = []
    publisher = Publisher(provider, federation="myfederation", on_result=notified.append)
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher, provider, notified
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def settled(publisher: Publisher, key: tuple[str, str], records: tuple[RecordSet, ...]) -> None:
    async with asyncio.timeout(5):
        while (result := publisher.result(key)) is None or result.desired != records or result.error:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the publisher's outcome, with a deadline


async def test_first_round_publishes_and_the_same_state_again_makes_no_call(running: Running) -> None:
    publisher, provider, notified = running
    records = a_record("127.1.1.1", "127.1.2.1")
    publisher.submit(KEY, records)
    await settled(publisher, KEY, records)
    assert provider.calls == 1
    assert {r.type for r in provider.snapshot()} == {"A", "TXT"}  # the record and its ownership TXT
    assert notified == [KEY]

    publisher.submit(KEY, records)
    await asyncio.sleep(0.1)
    assert provider.calls == 1


async def test_a_burst_of_changes_coalesces_into_one_call(running: Running) -> None:
    publisher, provider, _ = running
    for i in range(1, 20):
        publisher.submit(KEY, a_record(*(f"127.1.1.{j}" for j in range(1, i + 1))))
    final = a_record(*(f"127.1.1.{j}" for j in range(1, 20)))
    await settled(publisher, KEY, final)
    assert provider.calls == 1


async def test_frozen_publisher_applies_nothing_until_resumed(running: Running) -> None:
    publisher, provider, _ = running
    publisher.submit(KEY, a_record("127.1.1.1"))
    await settled(publisher, KEY, a_record("127.1.1.1"))
    assert publisher.set_frozen(True)
    publisher.submit(KEY, ())
    await asyncio.sleep(0.2)
    assert provider.calls == 1
    assert any(r.type == "A" for r in provider.snapshot())
    publisher.set_frozen(False)
    publisher.submit(KEY, a_record("127.1.1.2"))
    await settled(publisher, KEY, a_record("127.1.1.2"))
    assert [r.values for r in provider.snapshot() if r.type == "A"] == [("127.1.1.2",)]


async def test_frozen_publisher_still_withdraws_a_deleted_owner(running: Running) -> None:
    """The guard holds back what health says, not what a user asked for: deletion withdraws at once."""
    publisher, provider, _ = running
    other = ("mynamespace", "other")
    other_records = (RecordSet("other.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.1.9.9",)),)
    publisher.submit(KEY, a_record("127.1.1.1"))
    publisher.submit(other, other_records)
    await settled(publisher, KEY, a_record("127.1.1.1"))
    await settled(publisher, other, other_records)
    assert publisher.set_frozen(True)
    publisher.submit(KEY, a_record("127.1.1.2"))  # a health change: held back
    async with asyncio.timeout(5):
        await publisher.withdraw(other)
    names = {r.name for r in provider.snapshot()}
    assert not any("other." in name for name in names)
    assert [r.values for r in provider.snapshot() if r.type == "A"] == [("127.1.1.1",)]
    publisher.set_frozen(False)
    await settled(publisher, KEY, a_record("127.1.1.2"))
    assert [r.values for r in provider.snapshot() if r.type == "A"] == [("127.1.1.2",)]


async def test_transient_errors_are_retried(running: Running) -> None:
    publisher, provider, _ = running
    await asyncio.sleep(0.05)  # the zone is read
    provider.fail_next(TransientError("throttled"))
    publisher.submit(KEY, a_record("127.1.1.1"))
    await settled(publisher, KEY, a_record("127.1.1.1"))
    assert any(r.type == "A" for r in provider.snapshot())


async def test_withdraw_removes_records_and_their_ownership(running: Running) -> None:
    publisher, provider, _ = running
    publisher.submit(KEY, a_record("127.1.1.1"))
    await settled(publisher, KEY, a_record("127.1.1.1"))
    async with asyncio.timeout(5):
        await publisher.withdraw(KEY)
    assert provider.snapshot() == ()
    assert publisher.result(KEY) is None


async def test_a_withdrawal_during_a_round_that_publishes_the_owner_waits_for_its_own_round() -> None:
    """A deletion's withdrawal that arrives while a round is out with the owner's last records (a readiness
    change just before the delete) is not answered by that round: the records it wrote are deleted by the
    next one, before withdraw returns (else the finalizer goes and the records stay, until orphan
    collection)."""

    class Held(InMemoryProvider):
        def __init__(self) -> None:
            super().__init__(ZONE)
            self.hold = False
            self.entered = asyncio.Event()
            self.release = asyncio.Event()

        async def apply(self, changes: Changes) -> int:
            if self.hold:
                self.hold = False
                self.entered.set()
                await self.release.wait()
            return await super().apply(changes)

    provider = Held()
    async with running_publisher(provider) as (publisher, _):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        provider.hold = True
        publisher.submit(KEY, a_record("127.1.1.2"))
        async with asyncio.timeout(5):
            await provider.entered.wait()  # the round with 127.1.1.2 is out
        withdrawal = asyncio.create_task(publisher.withdraw(KEY))
        for _ in range(3):
            await asyncio.sleep(0)
        provider.release.set()
        async with asyncio.timeout(5):
            await withdrawal
        assert provider.snapshot() == ()


def holds(publisher: Publisher, key: tuple[str, str]) -> bool:
    """Whether the publisher still keeps anything of ``key`` (its records to publish, a withdrawal)."""
    return key in publisher._desired or key in publisher._withdrawn


async def withdraw_until_given_up(publisher: Publisher, provider: InMemoryProvider) -> None:
    """KEY published, then its withdrawal refused by the provider and its wait given up (as the cleanup
    bounds it)."""
    publisher.submit(KEY, a_record("127.1.1.1"))
    await settled(publisher, KEY, a_record("127.1.1.1"))
    provider.refuse(GLOBAL)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await publisher.withdraw(KEY)


async def test_a_withdrawal_nobody_waits_for_any_more_is_finished_and_then_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deletion's wait timed out (the provider refused) and the finalizer was then removed by hand: the
    object is gone and nobody waits, but its records must still go, and once they have, the publisher keeps
    nothing of it (no retry, no result)."""
    monkeypatch.setattr(publisher_module, "PERMANENT_RETRY_SECONDS", 0.1)
    provider = InMemoryProvider(ZONE)
    async with running_publisher(provider) as (publisher, _):
        await withdraw_until_given_up(publisher, provider)
        assert any(r.type == "A" for r in provider.snapshot())
        provider.allow(GLOBAL)
        await eventually("the records withdrawn", lambda: provider.snapshot() == ())
        await eventually("the owner forgotten", lambda: not holds(publisher, KEY))
        assert publisher.result(KEY) is None
        calls, rounds = provider.calls, publisher.rounds
        await asyncio.sleep(0.5)  # retries of the owner would have come every 0.1 s
        assert (provider.calls, publisher.rounds) == (calls, rounds)


async def test_a_waited_withdrawal_is_answered_and_forgotten() -> None:
    provider = InMemoryProvider(ZONE)
    async with running_publisher(provider) as (publisher, _):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        async with asyncio.timeout(5):
            await asyncio.gather(publisher.withdraw(KEY), publisher.withdraw(KEY))  # a retried cleanup too
        assert provider.snapshot() == ()
        assert not holds(publisher, KEY)


async def test_an_owner_created_again_after_a_timed_out_withdrawal_is_an_owner_like_any_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The FederatedService deleted (its withdrawal timed out, the finalizer removed by hand) and created
    again under the same name: it publishes its new records, and the partition guard holds back its health
    changes as anyone's (a withdrawal goes through a freeze; it is no withdrawal any more)."""
    monkeypatch.setattr(publisher_module, "PERMANENT_RETRY_SECONDS", 0.1)
    provider = InMemoryProvider(ZONE)
    async with running_publisher(provider) as (publisher, _):
        await withdraw_until_given_up(publisher, provider)
        publisher.submit(KEY, a_record("127.1.1.2"))  # created again
        provider.allow(GLOBAL)
        await settled(publisher, KEY, a_record("127.1.1.2"))
        assert publisher.set_frozen(True)
        publisher.submit(KEY, a_record("127.1.1.3"))  # a health change while partitioned: held back
        await asyncio.sleep(0.3)
        assert [r.values for r in provider.snapshot() if r.type == "A"] == [("127.1.1.2",)]
        publisher.set_frozen(False)
        await settled(publisher, KEY, a_record("127.1.1.3"))


async def test_once_stopping_no_round_is_applied() -> None:
    provider = InMemoryProvider(ZONE)
    gate = ShutdownGate()
    publisher = Publisher(
        provider, federation="myfederation", on_result=lambda _key: None, stopping=gate.is_closed
    )
    task = asyncio.create_task(publisher.run())
    try:
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        calls = provider.calls
        gate.close("test")
        # What a reconcile racing the shutdown would submit: its members look gone.
        publisher.submit(KEY, ())
        async with asyncio.timeout(5):
            await task  # the loop ends by itself once it sees the gate closed
        assert provider.calls == calls
        assert any(r.type == "A" for r in provider.snapshot())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_the_gate_refuses_writes_once_closed() -> None:
    gate = ShutdownGate()
    gate.check("writing")  # open: nothing happens
    gate.close("signal SIGTERM")
    gate.close("a second reason")  # the first reason stays
    with pytest.raises(ShuttingDownError, match=r"not writing: the operator is stopping \(signal SIGTERM\)"):
        gate.check("writing")
    assert issubclass(ShuttingDownError, TransientError)


# --- drift, hand-over, orphans, zone faults ----------------------------------------------------------------

FED = "myfederation"
ALIAS = "nginx.acme.example.com."


def ownership(name: str, rtype: RecordType, owner: str, federation: str = FED) -> RecordSet:
    value = render_ownership_value(federation=federation, owner=owner)
    return RecordSet(ownership_name(name, rtype), "TXT", OWNERSHIP_TTL, (value,))


def alias(target: str) -> tuple[RecordSet, ...]:
    return (RecordSet(ALIAS, "CNAME", 180, (target,)),)


async def eventually(what: str, probe: Callable[[], bool], deadline: float = 5.0) -> None:
    async with asyncio.timeout(deadline):
        while not probe():  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the publisher's outcome, with a deadline
    assert probe(), what


@asynccontextmanager
async def running_publisher(
    provider: InMemoryProvider, **options: Any
) -> AsyncIterator[tuple[Publisher, list[tuple[str, str]]]]:
    notified: list[tuple[str, str]] = []
    publisher = Publisher(provider, federation=FED, on_result=notified.append, **options)
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher, notified
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("with_serial", [True, False], ids=["serial", "full-read"])
async def test_a_record_deleted_by_hand_is_restored_at_the_next_check(with_serial: bool) -> None:
    provider = InMemoryProvider(ZONE, with_serial=with_serial)
    async with running_publisher(provider, resync_seconds=0.2) as (publisher, notified):
        records = a_record("127.1.1.1")
        publisher.submit(KEY, records)
        await settled(publisher, KEY, records)
        provider.edit(Changes(delete=a_record("127.1.1.1")))  # nsupdate ... update delete <name> A
        # The verdict is withdrawn when the drift is found, and given again once republished (at once: the
        # zone was quiet, so polling for the moment in between would race the round).
        await eventually("republished", lambda: provider.calls == 2)
        await settled(publisher, KEY, records)
        assert a_record("127.1.1.1")[0] in provider.snapshot()
        assert provider.calls == 2
        assert notified.count(KEY) >= 3  # published, drift found, republished


async def test_at_rest_a_serial_provider_costs_one_serial_query_per_check() -> None:
    provider = InMemoryProvider(ZONE, with_serial=True)
    async with running_publisher(provider, resync_seconds=0.05) as (publisher, _):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        # Our own write moved the serial: the first check reads the zone once (finding nothing new).
        await eventually("one check after the write", lambda: publisher.checks >= 2)
        reads, calls = provider.reads, provider.calls
        checks = publisher.checks
        await eventually("five more checks", lambda: publisher.checks >= checks + 5)
        assert (provider.reads, provider.calls) == (reads, calls)
        assert provider.serial_reads >= checks + 5


async def test_a_provider_without_serial_is_read_in_full_at_each_check() -> None:
    provider = InMemoryProvider(ZONE)
    async with running_publisher(provider, resync_seconds=0.05) as (publisher, _):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        reads = provider.reads
        # A check while the previous read is still under way (the index is built in a thread) adds none.
        await eventually("three more full reads", lambda: provider.reads >= reads + 3)
        assert provider.calls == 1


async def test_without_resync_the_zone_is_read_once() -> None:
    provider = InMemoryProvider(ZONE, with_serial=True)
    async with running_publisher(provider) as (publisher, _):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        await asyncio.sleep(0.2)
        assert (provider.reads, provider.serial_reads, publisher.checks) == (1, 1, 0)


async def test_a_freed_alias_goes_to_the_waiting_owner() -> None:
    provider = InMemoryProvider(ZONE)
    a_key, b_key = ("ns", "a"), ("ns", "b")
    async with running_publisher(provider) as (publisher, _):
        publisher.submit(a_key, alias("a.example.com."), created="2026-01-01T00:00:00Z")
        await settled(publisher, a_key, alias("a.example.com."))
        publisher.submit(b_key, alias("b.example.com."), created="2026-01-02T00:00:00Z")
        await eventually("b in conflict", lambda: bool((r := publisher.result(b_key)) and r.conflicts))
        publisher.submit(a_key, ())  # A drops the alias; nothing re-submits B
        await eventually("b published", lambda: bool((r := publisher.result(b_key)) and not r.conflicts))
        assert RecordSet(ALIAS, "CNAME", 180, ("b.example.com.",)) in provider.snapshot()
        assert ownership(ALIAS, "CNAME", "ns/b") in provider.snapshot()


async def test_a_freed_name_goes_to_the_oldest_waiter_first() -> None:
    provider = InMemoryProvider(ZONE)
    holder, newer, older = ("z", "holder"), ("a", "newer"), ("b", "older")
    async with running_publisher(provider) as (publisher, _):
        publisher.submit(holder, alias("h.example.com."), created="2026-01-01T00:00:00Z")
        await settled(publisher, holder, alias("h.example.com."))
        # "a/newer" sorts first by name, "b/older" was created first: creation time decides.
        publisher.submit(newer, alias("n.example.com."), created="2026-03-01T00:00:00Z")
        publisher.submit(older, alias("o.example.com."), created="2026-02-01T00:00:00Z")
        for key in (newer, older):
            await eventually(f"{key} waiting", lambda k=key: bool((r := publisher.result(k)) and r.conflicts))
        publisher.submit(holder, ())
        await eventually("older published", lambda: bool((r := publisher.result(older)) and not r.conflicts))
        assert RecordSet(ALIAS, "CNAME", 180, ("o.example.com.",)) in provider.snapshot()
        result = publisher.result(newer)
        assert result is not None
        assert result.conflicts


async def test_a_foreign_record_removed_by_hand_frees_its_name_at_the_next_check() -> None:
    foreign = RecordSet(ALIAS, "CNAME", 300, ("elsewhere.example.net.",))
    provider = InMemoryProvider(ZONE, [foreign], with_serial=True)
    async with running_publisher(provider, resync_seconds=0.1) as (publisher, _):
        publisher.submit(KEY, alias("mine.example.com."))
        await eventually("in conflict", lambda: bool((r := publisher.result(KEY)) and r.conflicts))
        provider.edit(Changes(delete=(foreign,)))
        await eventually("published", lambda: bool((r := publisher.result(KEY)) and not r.conflicts))
        assert RecordSet(ALIAS, "CNAME", 180, ("mine.example.com.",)) in provider.snapshot()


async def test_orphans_of_this_federation_are_collected_and_nothing_else() -> None:
    kept_name = "kept.ns.myfederation.svc.example.com."
    gone_name = "gone.ns.myfederation.svc.example.com."
    other_name = "x.ns.otherfed.svc.example.com."
    zone = [
        RecordSet(kept_name, "A", 180, ("127.0.0.1",)),
        ownership(kept_name, "A", "ns/kept"),
        RecordSet(gone_name, "A", 180, ("127.0.0.2",)),
        ownership(gone_name, "A", "ns/gone"),
        RecordSet(other_name, "A", 180, ("127.0.0.3",)),
        ownership(other_name, "A", "ns/gone", federation="otherfed"),
        RecordSet("foreign.example.com.", "A", 180, ("127.0.0.4",)),
    ]
    provider = InMemoryProvider(ZONE, zone)
    async with running_publisher(provider) as (publisher, _):
        assert publisher.collect_orphans([]) == []  # the zone is not read yet: nothing is known
        await eventually("zone read", lambda: publisher.ready)
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        publisher.set_frozen(True)  # a deleted owner's records go even then
        assert publisher.collect_orphans([("ns", "kept")]) == ["ns/gone"]
        await eventually("orphan deleted", lambda: gone_name not in {r.name for r in provider.snapshot()})
        left = set(provider.snapshot())
        assert set(zone) - left == {zone[2], zone[3]}
        assert publisher.result(("ns", "gone")) is None
        assert publisher.collect_orphans([("ns", "kept")]) == []
        # The submitted owner (KEY) is never collected, though not in `existing`.
        assert publisher.collect_orphans([]) == ["ns/kept"]


async def test_a_collected_owner_submitted_again_is_published() -> None:
    name = "back.ns.myfederation.svc.example.com."
    provider = InMemoryProvider(
        ZONE, [RecordSet(name, "A", 180, ("127.0.0.2",)), ownership(name, "A", "ns/back")]
    )
    async with running_publisher(provider) as (publisher, _):
        await eventually("zone read", lambda: publisher.ready)
        publisher.set_frozen(True)  # keeps the deletion from running before the re-submission
        publisher.set_frozen(False)
        assert publisher.collect_orphans([]) == ["ns/back"]
        records = (RecordSet(name, "A", 180, ("127.0.0.9",)),)
        publisher.submit(("ns", "back"), records)
        await settled(publisher, ("ns", "back"), records)
        assert records[0] in provider.snapshot()


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (TransientError("AXFR timed out"), "cannot be reached: AXFR timed out"),
        (PermanentError("BADSIG, the secret does not match"), "refuses the operator: BADSIG"),
    ],
)
async def test_a_zone_that_cannot_be_read_is_every_owners_error_until_it_can(
    error: FederationError, words: str
) -> None:
    provider = InMemoryProvider(ZONE)
    for _ in range(3):
        provider.fail_next_read(error)
    async with running_publisher(provider) as (publisher, notified):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await eventually("the fault reported", lambda: bool((r := publisher.result(KEY)) and r.error))
        result = publisher.result(KEY)
        assert result is not None
        assert result.error is not None
        assert words in result.error
        assert not result.rejected  # the zone's fault: ProviderError
        assert KEY in notified
        await settled(publisher, KEY, a_record("127.1.1.1"))  # the reads succeed again
        assert publisher.fault is None


async def test_new_credentials_are_used_at_once() -> None:
    refused = InMemoryProvider(ZONE)
    for _ in range(20):  # refuses for much longer than this test waits
        refused.fail_next_read(PermanentError("BADKEY"))
    async with running_publisher(refused) as (publisher, _):
        publisher.submit(KEY, a_record("127.1.1.1"))
        # Let the backoff grow (0.2, 0.4, 0.8, 1.6 s...): a retry on its own would now be seconds away.
        await eventually("four refusals", lambda: refused.serial_reads >= 4, deadline=10)
        fixed = InMemoryProvider(ZONE)
        started = asyncio.get_running_loop().time()
        publisher.replace_provider(fixed)
        await settled(publisher, KEY, a_record("127.1.1.1"))
        assert asyncio.get_running_loop().time() - started < 1.0
        assert publisher.fault is None
        assert fixed.calls == 1


async def test_one_transient_failure_is_not_reported_on_every_owner() -> None:
    provider = InMemoryProvider(ZONE, with_serial=True)
    async with running_publisher(provider, resync_seconds=0.1) as (publisher, notified):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        notified.clear()
        checks = publisher.checks
        provider.fail_next_read(TransientError("timed out"))  # one lost packet at a check
        await eventually("two more checks", lambda: publisher.checks >= checks + 2)
        assert notified == []
        assert publisher.fault is None
        result = publisher.result(KEY)
        assert result is not None
        assert result.error is None


# --- containment: a refused owner does not hold up the others ----------------------------------------------


def service_records(service: str, *, with_alias: bool = False) -> tuple[RecordSet, ...]:
    """A global A record and a region CNAME (and an alias CNAME) for ``service``."""
    global_name = f"{service}.mynamespace.myfederation.svc.example.com."
    records = [
        RecordSet(global_name, "A", 180, ("127.1.1.1",)),
        RecordSet(
            f"{service}.mynamespace.myfederation.svc.us-central1.example.com.", "CNAME", 180, (global_name,)
        ),
    ]
    if with_alias:
        records.append(RecordSet(f"{service}.acme.example.com.", "CNAME", 180, (global_name,)))
    return tuple(records)


def published(publisher: Publisher, key: tuple[str, str]) -> bool:
    result = publisher.result(key)
    return result is not None and result.error is None and result.desired == publisher._desired.get(key)


async def test_one_refused_owner_fails_alone_and_every_other_owner_publishes_in_the_same_round() -> None:
    provider = InMemoryProvider(ZONE)
    provider.refuse(
        "svc-07.acme.example.com.", RejectedChangeError("a foreign MX holds svc-07.acme.example.com")
    )
    keys = [("mynamespace", f"svc-{i:02d}") for i in range(32)]
    async with running_publisher(provider, coalesce_seconds=0.2) as (publisher, notified):
        for key in keys:
            publisher.submit(key, service_records(key[1], with_alias=key[1] == "svc-07"))
        bad = ("mynamespace", "svc-07")
        await eventually("every owner answered", lambda: all(publisher.result(k) is not None for k in keys))
        assert publisher.rounds == 1
        assert all(published(publisher, k) for k in keys if k != bad)
        result = publisher.result(bad)
        assert result is not None
        assert result.error is not None
        assert "svc-07.acme.example.com." in result.error
        assert "a foreign MX holds" in result.error
        assert result.rejected  # the owner's own records, not the zone: ProviderRejected on its status
        # The names of the refused owner that the provider takes are published; the refused one is not.
        names = {r.name for r in provider.snapshot()}
        assert "svc-07.mynamespace.myfederation.svc.example.com." in names
        assert "svc-07.acme.example.com." not in names
        # Halving 32 owners down to one costs a call per level and per half, not one per owner; and the
        # zone is not read again: the refused parts were taken back out of the index.
        assert provider.calls <= 2 * 6 + 3
        assert provider.reads == 1
        # The index holds exactly what was applied: nothing is planned again for the healthy owners.
        calls = provider.calls
        for key in keys:
            if key != bad:
                publisher.submit(key, service_records(key[1]))
        await asyncio.sleep(0.3)
        assert provider.calls == calls
        assert bad in notified


async def test_a_refused_owner_is_retried_alone_with_backoff_and_published_once_fixed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher_module, "PERMANENT_RETRY_SECONDS", 0.2)
    provider = InMemoryProvider(ZONE)
    provider.refuse("bad.acme.example.com.")
    good, bad = ("mynamespace", "good"), ("mynamespace", "bad")
    async with running_publisher(provider) as (publisher, _):
        publisher.submit(good, service_records("good"))
        publisher.submit(bad, service_records("bad", with_alias=True))
        await eventually("the refusal reported", lambda: bool((r := publisher.result(bad)) and r.error))
        await eventually("good published", lambda: published(publisher, good))
        rounds = publisher.rounds
        # Retried after 0.2 s, then 0.4 s, 0.8 s: about three more rounds in 1.6 s, the healthy owner in none.
        await asyncio.sleep(1.6)
        assert 2 <= publisher.rounds - rounds <= 4
        assert published(publisher, good)
        provider.allow("bad.acme.example.com.")
        await eventually("bad published once fixed", lambda: published(publisher, bad), deadline=5)


async def test_a_servfail_that_only_one_owner_gets_is_that_owners_permanent_error() -> None:
    provider = InMemoryProvider(ZONE)
    too_many = "bad.mynamespace.myfederation.svc.example.com."
    provider.refuse(too_many, SuspectChangeError("UPDATE failed: SERVFAIL"))
    good, bad = ("mynamespace", "good"), ("mynamespace", "bad")
    async with running_publisher(provider, coalesce_seconds=0.1) as (publisher, _):
        publisher.submit(good, service_records("good"))
        publisher.submit(bad, service_records("bad"))
        await eventually("the refusal reported", lambda: bool((r := publisher.result(bad)) and r.error))
        result = publisher.result(bad)
        assert result is not None
        assert result.error is not None
        assert "SERVFAIL" in result.error
        assert too_many in result.error
        assert result.rejected
        assert published(publisher, good)
        assert publisher.fault is None


async def test_a_servfail_on_the_only_owner_with_changes_is_that_owners_not_the_zones() -> None:
    # The owners already published; then only one of them changes, to records the server refuses with a
    # SERVFAIL (BIND's "too many records"). Nothing else goes through because nothing else changes: that is
    # no sign of a server failing every change, so it must stay that owner's error (seen in CI: the whole
    # zone was reported as failing, and every other owner's status with it).
    provider = InMemoryProvider(ZONE)
    keys = [("mynamespace", f"svc-{i:02d}") for i in range(20)]
    poisoned = ("mynamespace", "svc-07")
    async with running_publisher(provider, coalesce_seconds=0.05) as (publisher, _):
        for key in keys:
            publisher.submit(key, service_records(key[1]))
        await eventually("all published", lambda: all(published(publisher, k) for k in keys))
        calls = provider.calls
        global_name = "svc-07.mynamespace.myfederation.svc.example.com."
        provider.refuse(global_name, SuspectChangeError("UPDATE failed: SERVFAIL"))
        more = RecordSet(global_name, "A", 180, ("127.1.1.1", "127.1.1.2"))
        changed = (more, *service_records("svc-07")[1:])
        publisher.submit(poisoned, changed)
        await eventually("the refusal reported", lambda: bool((r := publisher.result(poisoned)) and r.error))
        result = publisher.result(poisoned)
        assert result is not None
        assert result.error is not None
        assert global_name in result.error
        assert "SERVFAIL" in result.error
        assert publisher.fault is None
        assert all(published(publisher, k) for k in keys if k != poisoned)
        # One attempt, refused; nothing sent again.
        assert provider.calls - calls == 1
        # Another owner changes meanwhile: it publishes, the zone is still not at fault.
        other = ("mynamespace", "svc-11")
        publisher.submit(other, service_records("svc-11", with_alias=True))
        await eventually("the other owner published", lambda: published(publisher, other))
        assert publisher.fault is None


async def test_a_servfail_on_every_part_is_the_servers_fault_not_an_owners() -> None:
    provider = InMemoryProvider(ZONE)
    keys = [("mynamespace", f"svc-{i}") for i in range(4)]
    for key in keys:
        for record in service_records(key[1]):
            provider.refuse(record.name, SuspectChangeError("UPDATE failed: SERVFAIL"))
    async with running_publisher(provider, coalesce_seconds=0.1) as (publisher, _):
        for key in keys:
            publisher.submit(key, service_records(key[1]))
        await eventually("the zone's fault", lambda: publisher.fault is not None, deadline=10)
        assert publisher.fault is not None
        assert "fails every change" in publisher.fault
        assert "SERVFAIL" in publisher.fault


async def test_a_refusal_of_everything_stops_splitting_and_is_every_owners_error() -> None:
    provider = InMemoryProvider(ZONE)
    keys = [("mynamespace", f"svc-{i:03d}") for i in range(200)]
    for key in keys:
        for record in service_records(key[1]):
            provider.refuse(record.name)
    async with running_publisher(provider, coalesce_seconds=0.2) as (publisher, _):
        for key in keys:
            publisher.submit(key, service_records(key[1]))
        await eventually(
            "every owner refused", lambda: all((r := publisher.result(k)) and r.error for k in keys)
        )
        # Pinned on no owner: every owner hears it as the zone's refusal (ProviderError), not its own.
        assert not any((r := publisher.result(k)) and r.rejected for k in keys)
        assert publisher.rounds == 1
        # log2(200) halvings to the first owner, then a handful of names: far fewer than one call per owner.
        assert provider.calls < 30


async def test_an_unconfirmed_change_leaves_its_owner_pending_until_the_provider_confirms_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher_module, "CONFIRM_START", 0.05)
    monkeypatch.setattr(publisher_module, "CONFIRM_CAP", 0.1)
    provider = InMemoryProvider(ZONE)
    provider.pending_checks = 3
    async with running_publisher(provider) as (publisher, notified):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await eventually("answered", lambda: publisher.result(KEY) is not None)
        result = publisher.result(KEY)
        assert result is not None
        assert result.error is None
        assert result.unconfirmed is not None
        assert "change-1" in result.unconfirmed
        notified.clear()
        await eventually("confirmed", lambda: (r := publisher.result(KEY)) is not None and not r.unconfirmed)
        assert KEY in notified  # the owner is told, so its status turns Published
        assert provider.calls == 1  # confirming sends no change again


async def test_an_owner_refused_before_goes_after_the_others_so_their_change_goes_out_first() -> None:
    """A refused owner whose records change with every health change (it shares its backends) is retried in
    every round: it goes after the others, on its own, so the others' changes are the round's first request
    instead of waiting for a refused request and a split."""
    sent: list[Changes] = []

    class Recording(InMemoryProvider):
        async def apply(self, changes: Changes) -> int:
            sent.append(changes)
            return await super().apply(changes)

    provider = Recording(ZONE)
    provider.refuse("bad.mynamespace.myfederation.svc.example.com.")
    good, bad = ("mynamespace", "good"), ("mynamespace", "bad")
    async with running_publisher(provider, coalesce_seconds=0.05) as (publisher, _):
        publisher.submit(good, service_records("good"))
        publisher.submit(bad, service_records("bad"))
        await eventually("the refusal reported", lambda: bool((r := publisher.result(bad)) and r.error))
        await eventually("good published", lambda: published(publisher, good))
        sent.clear()
        # Both change at once (the same backends flipped).
        moved = RecordSet("good.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.1.1.2",))
        publisher.submit(good, (moved, *service_records("good")[1:]))
        bad_moved = RecordSet("bad.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.1.1.2",))
        publisher.submit(bad, (bad_moved, *service_records("bad")[1:]))
        await eventually("good's change published", lambda: published(publisher, good))
        await eventually("bad refused again", lambda: bool((r := publisher.result(bad)) and r.error))
        first = sent[0]
        assert {r.name for r in (*first.update_new, *first.create)} <= {
            "good.mynamespace.myfederation.svc.example.com.",
            "_fedop-a.good.mynamespace.myfederation.svc.example.com.",
        }
        result = publisher.result(bad)
        assert result is not None
        assert result.rejected
        assert publisher.fault is None


async def test_a_refused_owners_lone_change_waits_the_window_so_another_owners_change_goes_first() -> None:
    """Two FederatedServices on the same backends, one refused by the provider: when the refused one's change
    reaches the publisher first, it is no reason to go out at once (a refused round and its split take
    several calls); the other's change, arriving a moment later, is the round's first request."""
    sent: list[Changes] = []

    class Recording(InMemoryProvider):
        async def apply(self, changes: Changes) -> int:
            sent.append(changes)
            return await super().apply(changes)

    provider = Recording(ZONE)
    provider.refuse("bad.mynamespace.myfederation.svc.example.com.")
    good, bad = ("mynamespace", "good"), ("mynamespace", "bad")
    async with running_publisher(provider, coalesce_seconds=1.0) as (publisher, _):
        publisher.submit(good, service_records("good"))
        publisher.submit(bad, service_records("bad"))
        await eventually("the refusal reported", lambda: bool((r := publisher.result(bad)) and r.error))
        await eventually("good published", lambda: published(publisher, good))
        await asyncio.sleep(1.0)  # the zone quiet again: no round within the window
        sent.clear()
        bad_moved = RecordSet("bad.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.1.1.2",))
        publisher.submit(bad, (bad_moved, *service_records("bad")[1:]))
        for _ in range(3):
            await asyncio.sleep(0)  # the publisher wakes for bad's change alone
        moved = RecordSet("good.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.1.1.2",))
        publisher.submit(good, (moved, *service_records("good")[1:]))
        await eventually("good's change published", lambda: published(publisher, good))
        assert {r.name for r in (*sent[0].update_new, *sent[0].create)} <= {
            "good.mynamespace.myfederation.svc.example.com.",
            "_fedop-a.good.mynamespace.myfederation.svc.example.com.",
        }


async def test_another_owners_change_ends_the_wait_of_a_refused_owners_lone_change() -> None:
    """The window a refused owner's lone change waits is for company: the other owner's change, once it
    arrives, goes out at once (a failover of the healthy owner is not held back by the refused one)."""
    provider = InMemoryProvider(ZONE)
    provider.refuse("bad.mynamespace.myfederation.svc.example.com.")
    good, bad = ("mynamespace", "good"), ("mynamespace", "bad")
    # A window far longer than the test's deadlines: only the company ending it lets good's change out.
    async with running_publisher(provider, coalesce_seconds=3600.0) as (publisher, _):
        publisher.submit(good, service_records("good"))
        publisher.submit(bad, service_records("bad"))
        await eventually("the refusal reported", lambda: bool((r := publisher.result(bad)) and r.error))
        await eventually("good published", lambda: published(publisher, good))
        publisher._round_ended = float("-inf")  # the zone quiet again, as an hour later
        bad_moved = RecordSet("bad.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.1.1.2",))
        publisher.submit(bad, (bad_moved, *service_records("bad")[1:]))
        for _ in range(3):
            await asyncio.sleep(0)  # the publisher wakes for bad's change alone, and waits
        moved = RecordSet("good.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.1.1.2",))
        publisher.submit(good, (moved, *service_records("good")[1:]))
        await eventually("good's change published within the window", lambda: published(publisher, good))


async def test_a_second_owners_change_a_moment_after_the_first_goes_at_once_and_a_third_waits() -> None:
    """One flip often changes two FederatedServices over the same backends, whose reconciles end a few
    milliseconds apart: the second's change goes out at once too, not a coalescing window after the first;
    the zone busy beyond `QUICK_ROUNDS` rounds, the next change waits the window for company."""
    provider = InMemoryProvider(ZONE)
    owners = [("mynamespace", name) for name in ("one", "two", "three")]

    def moved(owner: tuple[str, str]) -> tuple[RecordSet, ...]:
        first, *rest = service_records(owner[1])
        return (RecordSet(first.name, "A", 180, ("127.1.1.2",)), *rest)

    # A window far longer than the test's deadlines: whatever is published within them went at once.
    async with running_publisher(provider, coalesce_seconds=3600.0) as (publisher, _):
        for owner in owners:
            publisher.submit(owner, service_records(owner[1]))
        for owner in owners:
            await eventually(f"{owner} published", lambda owner=owner: published(publisher, owner))
        publisher._round_ended = float("-inf")  # the zone quiet again, as an hour later
        assert QUICK_ROUNDS == 2
        for owner in owners[:2]:
            publisher.submit(owner, moved(owner))
            await eventually(
                f"{owner}'s change published at once", lambda owner=owner: published(publisher, owner)
            )
        calls = provider.calls
        publisher.submit(owners[2], moved(owners[2]))
        await asyncio.sleep(0.2)  # the third waits the (hour-long) window: nothing may go out meanwhile
        assert provider.calls == calls
        assert not published(publisher, owners[2])


class SlowReadProvider(InMemoryProvider):
    """A zone whose transfer takes as long as the test says: what a read returns is the zone as it was
    when the read began (a transfer is a snapshot), released when ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(ZONE, with_serial=True)
        self.hold = False
        self.release = asyncio.Event()
        self.held_reads = 0

    async def records(self) -> list[RecordSet]:
        taken = await super().records()
        if self.hold:
            self.held_reads += 1
            await self.release.wait()
        return taken


async def test_a_drift_check_reading_a_large_zone_holds_no_round_and_keeps_what_went_out_meanwhile() -> None:
    provider = SlowReadProvider()
    other = ("mynamespace", "other")
    other_records = (RecordSet("other.mynamespace.myfederation.svc.example.com.", "A", 180, ("127.2.2.2",)),)
    async with running_publisher(provider, resync_seconds=0.05) as (publisher, notified):
        publisher.submit(other, other_records)
        await settled(publisher, other, other_records)
        provider.hold = True
        provider.edit(Changes(delete=other_records))  # someone deletes a record: the serial moves
        await eventually("a drift check reading the zone", lambda: provider.held_reads == 1)
        calls = provider.calls
        # While the zone is being read, a readiness change goes out at once.
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        assert provider.calls == calls + 1
        provider.hold = False
        provider.release.set()
        # The read began before that round: it misses the round's records, and must not take them for
        # drift; the record deleted by hand before the read is drift, and is restored.
        await settled(publisher, other, other_records)
        await eventually("restored", lambda: other_records[0] in provider.snapshot())
        assert a_record("127.1.1.1")[0] in provider.snapshot()
        assert provider.calls == calls + 2, "one round for the change, one to restore the deleted record"
        published = publisher.result(KEY)
        assert published is not None
        assert not published.error
        assert notified.count(KEY) == 1, "the change that went out during the read was taken for drift"


def publish_latencies(metrics: Metrics) -> tuple[float, float]:
    """(count, sum) of the in-memory provider's fedop_dns_publish_seconds."""
    labels = {"provider": "inmemory"}
    count = metrics.registry.get_sample_value("fedop_dns_publish_seconds_count", labels)
    total = metrics.registry.get_sample_value("fedop_dns_publish_seconds_sum", labels)
    assert count is not None, "the series is exported from start-up on"
    assert total is not None
    return count, total


async def test_publish_latency_is_observed_once_records_are_live_and_not_for_a_resubmission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher_module, "CONFIRM_START", 0.05)
    monkeypatch.setattr(publisher_module, "CONFIRM_CAP", 0.1)
    metrics = Metrics()
    provider = InMemoryProvider(ZONE)
    async with running_publisher(provider, metrics=metrics, provider_name="inmemory") as (publisher, _):
        assert publish_latencies(metrics) == (0, 0)
        publisher.submit(KEY, a_record("127.1.1.1"))
        await settled(publisher, KEY, a_record("127.1.1.1"))
        count, first = publish_latencies(metrics)
        assert count == 1
        assert first > 0

        publisher.submit(KEY, a_record("127.1.1.1"))  # the same records: nothing new to publish
        await asyncio.sleep(0.1)
        assert publish_latencies(metrics)[0] == 1

        # A change the provider holds pending counts once it confirms it, not when it is accepted.
        provider.pending_checks = 3
        publisher.submit(KEY, a_record("127.1.1.2"))
        await eventually("accepted", lambda: (r := publisher.result(KEY)) is not None and bool(r.unconfirmed))
        assert publish_latencies(metrics)[0] == 1
        await eventually("confirmed", lambda: (r := publisher.result(KEY)) is not None and not r.unconfirmed)
        count, total = publish_latencies(metrics)
        assert count == 2
        assert total - first >= 0.05  # at least one confirmation check later


async def test_a_change_the_provider_refuses_for_the_zone_waits_for_its_retry_not_for_the_next_read() -> None:
    """A refusal that is no RejectedChangeError (the provider's credentials lack a permission the change
    needs, say) leaves the index stale: the zone is read again and differs at the refused names. That is
    the refusal, not someone else's drift: the owner keeps its error and waits for its retry timer, instead
    of being republished at once, refused, read, and republished again as fast as the provider answers."""
    provider = InMemoryProvider(ZONE)
    for _ in range(50):
        provider.fail_next(PermanentError("AccessDenied: route53:CreateHealthCheck"))
    async with running_publisher(provider) as (publisher, _):
        publisher.submit(KEY, a_record("127.1.1.1"))
        await eventually("the refusal reported", lambda: bool((r := publisher.result(KEY)) and r.error))
        await eventually("the zone read again", lambda: provider.reads >= 2)
        await asyncio.sleep(0.5)  # room for a loop to show itself: nothing is due for 60 s
        assert (provider.calls, provider.reads) == (1, 2)
        result = publisher.result(KEY)
        assert result is not None
        assert result.error is not None
        assert "AccessDenied" in result.error
