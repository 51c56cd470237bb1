"""Bounded member calls: a member that did not answer in time is refused at once (never waited on again)
until a background check finds it answering, calls to one member are capped, and a quick failure is not
silence."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import pytest

from federation_operator.controllers.member_calls import MemberCalls, MemberSilentError
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.transport import Call, Exchange, RawResponse, Request

T = TypeVar("T")

HUNG, OTHER = "gce-asia-east1", "gce-europe-west1"
API, OTHER_API = object(), object()  # the clients of HUNG and OTHER


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(value: str) -> Exchange[str]:
    """A call of one request that returns ``value`` once answered."""
    yield Request("PATCH", "/write", "apply Service ns/name")
    return value


def refused(value: str) -> Exchange[str]:
    yield Request("PATCH", "/refuse", "apply Service ns/name")
    return value


def blocked(value: str) -> Exchange[str]:
    yield Request("PATCH", "/block", "apply Service ns/name")
    return value


class Member:
    """A fake member behind ``send``: answers, or times out, or refuses (``refused``), or holds a call until
    ``release`` (``blocked``); counts the calls that reached it and its checks."""

    def __init__(self) -> None:
        self.answers = True
        self.calls = 0
        self.checks = 0
        self.timeouts: list[float | None] = []
        self.release = asyncio.Event()

    async def send(self, api: Any, exchange: Exchange[T], *, within: float | None = None) -> T:
        call = Call(exchange, within)
        request = call.request
        assert request is not None
        if request.path == "/readyz":
            self.checks += 1
        else:
            self.calls += 1
            self.timeouts.append(within)
        if request.path == "/refuse":
            raise ApiConnectionError(request.what, "connection refused")
        if request.path == "/block":
            await self.release.wait()
        elif not self.answers:
            raise ApiConnectionError(request.what, "timed out")
        call.answer(RawResponse(200, b"{}", {}))
        assert call.request is None, "the exchange made more than one request"
        return call.result


class Ticker:
    """The checks' sleep between two attempts, ended by the test."""

    def __init__(self) -> None:
        self._tick = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self._tick.wait()
        self._tick.clear()

    def tick(self) -> None:
        self._tick.set()


def make(
    member: Member, clock: Clock, limit: int = 8, ticker: Ticker | None = None, other: Member | None = None
) -> MemberCalls:
    """Calls to ``member`` (through API) and ``other`` (through OTHER_API)."""

    async def send(api: Any, exchange: Exchange[T], *, within: float | None = None) -> T:
        return await (member if api is API or other is None else other).send(api, exchange, within=within)

    return MemberCalls(
        timeout=7.0,
        limit=limit,
        api_of=lambda cluster: API if cluster == HUNG else OTHER_API,
        send=send,
        clock=clock,
        sleep=(ticker or Ticker()).sleep,
    )


async def settle() -> None:
    """Let background checks run until they wait again."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_call_gets_the_whole_timeout_and_its_result() -> None:
    member = Member()
    calls = make(member, Clock())
    assert await calls.call(HUNG, API, write("done")) == "done"
    assert member.timeouts == [7.0]
    assert not calls.silent(HUNG)


async def test_a_member_that_did_not_answer_is_refused_at_once_until_it_answers_again() -> None:
    member, other, clock, ticker = Member(), Member(), Clock(), Ticker()
    calls = make(member, clock, ticker=ticker, other=other)
    member.answers = False
    with pytest.raises(ApiConnectionError):
        await calls.call(HUNG, API, write("x"))
    assert calls.silent(HUNG)
    # Refused without being made: no reconcile waits on it again.
    for _ in range(3):
        with pytest.raises(MemberSilentError, match="did not answer within 7s"):
            await calls.call(HUNG, API, write("x"))
    assert member.calls == 1
    # Other members are not affected.
    assert await calls.call(OTHER, OTHER_API, write("y")) == "y"
    # No background check before a whole timeout has passed since it was given one.
    await settle()
    assert member.checks == 0
    clock.now += 7.0
    with pytest.raises(MemberSilentError):
        await calls.call(HUNG, API, write("x"))
    await settle()
    assert member.checks == 1
    assert calls.silent(HUNG)
    # One check at a time: more refusals start none while one waits for its next attempt.
    clock.now += 60.0
    for _ in range(5):
        with pytest.raises(MemberSilentError):
            await calls.call(HUNG, API, write("x"))
    await settle()
    assert member.checks == 1
    # Back: the next attempt (one timeout later) finds it answering, and calls are made again.
    member.answers = True
    ticker.tick()
    await settle()
    assert member.checks == 2
    assert not calls.silent(HUNG)
    assert await calls.call(HUNG, API, write("x")) == "x"


async def test_a_failure_that_came_back_at_once_is_not_silence() -> None:
    member = Member()
    calls = make(member, Clock())
    with pytest.raises(ApiConnectionError, match="connection refused"):
        await calls.call(HUNG, API, refused("x"))
    assert not calls.silent(HUNG)
    assert await calls.call(HUNG, API, write("x")) == "x"


async def test_calls_to_one_member_are_capped() -> None:
    member = Member()
    calls = make(member, Clock(), limit=2)
    pending = [asyncio.create_task(calls.call(HUNG, API, blocked(str(i)))) for i in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(MemberSilentError, match="2 calls outstanding"):
        await calls.call(HUNG, API, blocked("third"))
    # Another member still has its own share.
    other = asyncio.create_task(calls.call(OTHER, OTHER_API, blocked("other")))
    await asyncio.sleep(0.05)
    member.release.set()
    assert await asyncio.gather(*pending, other) == ["0", "1", "other"]


async def test_a_probe_that_failed_and_then_succeeded_ends_the_silence_at_once() -> None:
    member = Member()
    calls = make(member, Clock())
    member.answers = False
    with pytest.raises(ApiConnectionError):
        await calls.call(HUNG, API, write("x"))
    calls.note_readiness(HUNG, True)  # still Ready by its probe's thresholds: nothing learned
    assert calls.silent(HUNG)
    calls.note_readiness(HUNG, False)
    assert calls.silent(HUNG)
    calls.note_readiness(HUNG, True)
    assert not calls.silent(HUNG)
    member.answers = True
    assert await calls.call(HUNG, API, write("x")) == "x"


async def test_a_silent_member_still_wanted_is_checked_until_it_answers() -> None:
    member, clock, ticker, answered = Member(), Clock(), Ticker(), []
    calls = MemberCalls(
        timeout=7.0,
        limit=8,
        api_of=lambda _: API,
        send=member.send,
        on_answer=answered.append,
        clock=clock,
        sleep=ticker.sleep,
    )
    member.answers = False
    with pytest.raises(ApiConnectionError):
        await calls.call(HUNG, API, write("x"))
    assert calls.silent_since(HUNG) == clock.now
    calls.recheck(HUNG)  # too soon: it was just given a whole timeout
    await settle()
    assert member.checks == 0
    clock.now += 7.0
    calls.recheck(HUNG)
    await settle()
    assert (member.checks, answered) == (1, [])
    # It keeps being asked, once per timeout, until it answers: nobody needs to call recheck again.
    ticker.tick()
    await settle()
    assert member.checks == 2
    member.answers = True
    ticker.tick()
    await settle()
    assert (member.checks, answered, calls.silent_since(HUNG)) == (3, [HUNG], None)
    calls.recheck(HUNG)  # not silent: nothing to check
    await settle()
    assert member.checks == 3
