"""Bounded member calls: a member that did not answer in time is refused at once (never waited on again)
until a background check finds it answering, calls to one member are capped, and a quick failure is not
silence."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from federation_operator.controllers.member_calls import MemberCalls, MemberSilentError
from federation_operator.kube.errors import ApiConnectionError

HUNG, OTHER = "gce-asia-east1", "gce-europe-west1"
API = object()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Member:
    """A fake member: answers, or times out, or refuses; counts the calls that reached it."""

    def __init__(self) -> None:
        self.answers = True
        self.calls = 0
        self.checks = 0
        self.timeouts: list[float] = []

    def write(self, value: str, *, timeout: float) -> str:
        self.calls += 1
        self.timeouts.append(timeout)
        if not self.answers:
            raise ApiConnectionError("apply Service ns/name", "timed out")
        return value

    def refuse(self, value: str, *, timeout: float) -> str:
        self.calls += 1
        raise ApiConnectionError("apply Service ns/name", "connection refused")

    def check(self, api: Any, *, timeout: float) -> None:
        self.checks += 1
        if not self.answers:
            raise ApiConnectionError("check that it answers", "timed out")


def make(member: Member, clock: Clock, limit: int = 8) -> MemberCalls:
    return MemberCalls(timeout=7.0, limit=limit, api_of=lambda _: API, check=member.check, clock=clock)


async def settle(calls: MemberCalls) -> None:
    """Let background checks finish."""
    for _ in range(50):
        await asyncio.sleep(0.01)
        if not calls._checks:
            return


async def test_a_call_gets_the_whole_timeout_and_its_result() -> None:
    member = Member()
    calls = make(member, Clock())
    assert await calls.call(HUNG, member.write, "done") == "done"
    assert member.timeouts == [7.0]
    assert not calls.silent(HUNG)


async def test_a_member_that_did_not_answer_is_refused_at_once_until_it_answers_again() -> None:
    member, other, clock = Member(), Member(), Clock()
    calls = make(member, clock)
    member.answers = False
    with pytest.raises(ApiConnectionError):
        await calls.call(HUNG, member.write, "x")
    assert calls.silent(HUNG)
    # Refused without being made: no reconcile waits on it again.
    for _ in range(3):
        with pytest.raises(MemberSilentError, match="did not answer within 7s"):
            await calls.call(HUNG, member.write, "x")
    assert member.calls == 1
    # Other members are not affected.
    assert await calls.call(OTHER, other.write, "y") == "y"
    # No background check before a whole timeout has passed since it was given one.
    await settle(calls)
    assert member.checks == 0
    clock.now += 7.0
    with pytest.raises(MemberSilentError):
        await calls.call(HUNG, member.write, "x")
    await settle(calls)
    assert member.checks == 1
    assert calls.silent(HUNG)
    # Back: the next check finds it answering, and calls are made again.
    member.answers = True
    clock.now += 7.0
    with pytest.raises(MemberSilentError):
        await calls.call(HUNG, member.write, "x")
    await settle(calls)
    assert member.checks == 2
    assert not calls.silent(HUNG)
    assert await calls.call(HUNG, member.write, "x") == "x"


async def test_one_background_check_at_a_time() -> None:
    member, clock = Member(), Clock()
    calls = make(member, clock)
    member.answers = False
    with pytest.raises(ApiConnectionError):
        await calls.call(HUNG, member.write, "x")
    clock.now += 60.0
    for _ in range(5):
        with pytest.raises(MemberSilentError):
            await calls.call(HUNG, member.write, "x")
    await settle(calls)
    assert member.checks == 1


async def test_a_failure_that_came_back_at_once_is_not_silence() -> None:
    member = Member()
    calls = make(member, Clock())
    with pytest.raises(ApiConnectionError, match="connection refused"):
        await calls.call(HUNG, member.refuse, "x")
    assert not calls.silent(HUNG)
    assert await calls.call(HUNG, member.write, "x") == "x"


async def test_calls_to_one_member_are_capped() -> None:
    release = threading.Event()

    def blocked(value: str, *, timeout: float) -> str:
        release.wait(5)
        return value

    calls = make(Member(), Clock(), limit=2)
    pending = [asyncio.create_task(calls.call(HUNG, blocked, str(i))) for i in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(MemberSilentError, match="2 calls outstanding"):
        await calls.call(HUNG, blocked, "third")
    # Another member still has its own share.
    other = asyncio.create_task(calls.call(OTHER, blocked, "other"))
    await asyncio.sleep(0.05)
    release.set()
    assert await asyncio.gather(*pending, other) == ["0", "1", "other"]


async def test_a_probe_that_failed_and_then_succeeded_ends_the_silence_at_once() -> None:
    member = Member()
    calls = make(member, Clock())
    member.answers = False
    with pytest.raises(ApiConnectionError):
        await calls.call(HUNG, member.write, "x")
    calls.note_readiness(HUNG, True)  # still Ready by its probe's thresholds: nothing learned
    assert calls.silent(HUNG)
    calls.note_readiness(HUNG, False)
    assert calls.silent(HUNG)
    calls.note_readiness(HUNG, True)
    assert not calls.silent(HUNG)
    member.answers = True
    assert await calls.call(HUNG, member.write, "x") == "x"
