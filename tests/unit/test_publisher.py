"""The per-zone publishing loop over the in-memory provider: coalescing, idempotency, freeze, withdrawal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from federation_operator.controllers.shutdown import ShutdownGate, ShuttingDownError
from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.errors import TransientError
from federation_operator.domain.records import RecordSet

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
        while (result := publisher.result(key)) is None or result.desired != records:  # noqa: ASYNC110
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
