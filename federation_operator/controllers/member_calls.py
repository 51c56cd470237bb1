"""Calls to member clusters from the event loop, bounded so that a hung member holds up only its own work.

A member's API server can hang (a SIGSTOPped process, a black-holed route): the kernel, or a load balancer,
still accepts the connection, but nothing ever answers. Every call made here is bounded three ways:

* **time**: the call, all of its requests together, ends within ``timeout`` seconds (the operator's
  ``member_request_timeout``), answered or not;
* **silence**: a call that got no answer in time marks its member *silent*; from then on calls to it are
  refused at once (a :class:`MemberSilentError`, transient), without waiting, until the member answers
  again. Whether it does is checked in the background — one request at a time, once per ``timeout``, from
  the first call refused (or :meth:`MemberCalls.recheck`) until it answers — never inside a reconcile. So a
  reconcile waits on a hung member only if its call started before the first call to that member timed
  out; the controller plans a silent member as unreachable (no writes, its shards in their grace period);
* **count**: at most ``limit`` calls to one member are in flight at once (more are refused at once), so a
  member that hangs holds no more than that many connections and reconciles.

Calls are exchanges (:mod:`federation_operator.kube.transport`) made on the event loop by ``send``
(:meth:`~federation_operator.kube.async_transport.AsyncTransport.run`).

With ``workers`` reconcile workers, a hung member therefore holds a worker at most ``timeout`` seconds, and
only until ``timeout`` after it stopped answering: another member's change reaches DNS at most
twice ``timeout`` (plus one reconcile and one DNS round) after it happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from federation_operator.domain.errors import TransientError
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.member_services import check_answering_exchange
from federation_operator.kube.transport import Exchange, Send

__all__ = ["MemberCalls", "MemberSilentError"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class MemberSilentError(TransientError):
    """A call refused without being made: its member has not answered lately, or has too many calls
    outstanding."""


@dataclass
class _Member:
    in_flight: int = 0
    silent_since: float | None = None  # monotonic time of the last call that got no answer in time
    checking: bool = False  # a background check of whether it answers is out
    checked_at: float = 0.0
    probe_failed: bool = False  # its probe has called it not ready since it went silent


class MemberCalls:
    """Bounded calls to members, made by ``send``; ``api_of(cluster)`` gives the client the background checks
    use (:func:`check_answering_exchange`)."""

    def __init__(
        self,
        *,
        timeout: float,
        limit: int,
        api_of: Callable[[str], ClusterClient | None],
        send: Send,
        on_answer: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.timeout = timeout
        self.limit = limit
        self._api_of = api_of
        self._send = send
        self._on_answer = on_answer  # a silent member answers again (its objects need planning again)
        self._clock = clock
        self._sleep = sleep
        self._members: dict[str, _Member] = {}
        self._checks: set[asyncio.Task[None]] = set()

    def silent(self, cluster: str) -> bool:
        """Whether calls to ``cluster`` are being refused because it did not answer in time."""
        return self.silent_since(cluster) is not None

    def silent_since(self, cluster: str) -> float | None:
        """When the latest call to a silent ``cluster`` went unanswered (None: it is not silent)."""
        member = self._members.get(cluster)
        return member.silent_since if member is not None else None

    def recheck(self, cluster: str) -> None:
        """A silent member is still wanted: check in the background whether it answers (at most one check at
        a time and one per timeout); ``on_answer`` is called when it does."""
        member = self._members.get(cluster)
        if member is not None and member.silent_since is not None:
            self._check_later(cluster, member)

    async def call(self, cluster: str, api: ClusterClient, exchange: Exchange[T]) -> T:
        """The requests of ``exchange`` to ``cluster`` (through ``api``), within the bounds above."""
        member = self._members.setdefault(cluster, _Member())
        if member.silent_since is not None:
            self._check_later(cluster, member)
            raise MemberSilentError(
                f"{cluster} did not answer within {self.timeout:g}s; no calls are made to it until it "
                "answers again"
            )
        if member.in_flight >= self.limit:
            raise MemberSilentError(f"{cluster} has {member.in_flight} calls outstanding; not adding one")
        member.in_flight += 1
        try:
            result = await self._send(api, exchange, within=self.timeout)
        except ApiConnectionError as exc:
            if exc.timed_out:
                self._mark_silent(cluster, member, str(exc))
            raise
        finally:
            member.in_flight -= 1
        member.silent_since = None
        member.probe_failed = False
        return result

    def _mark_silent(self, cluster: str, member: _Member, reason: str) -> None:
        if member.silent_since is None:
            log.warning("member %s did not answer within %gs: %s", cluster, self.timeout, reason)
        member.silent_since = self._clock()
        # The next check comes a full timeout from now: the member has just been given one.
        member.checked_at = member.silent_since

    def _check_later(self, cluster: str, member: _Member) -> None:
        """Start a background check of a silent member, unless one is out or one ended less than a
        timeout ago."""
        if member.checking or self._clock() - member.checked_at < self.timeout:
            return
        api = self._api_of(cluster)
        if api is None:
            return
        member.checking = True
        task = asyncio.get_running_loop().create_task(self._check(cluster, member, api))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check(self, cluster: str, member: _Member, api: ClusterClient) -> None:
        """Ask the member once per timeout until it answers (or is no longer silent, or forgotten)."""
        try:
            while member.silent_since is not None and self._members.get(cluster) is member:
                try:
                    await self._send(api, check_answering_exchange(), within=self.timeout)
                except ApiConnectionError as exc:
                    log.info("member %s still does not answer: %s", cluster, exc.reason)
                except Exception:  # a bug here must not leave the member refused for good: asked again
                    log.exception("member %s: checking whether it answers failed", cluster)
                else:
                    log.info("member %s answers again", cluster)
                    member.silent_since = None
                    member.probe_failed = False
                    if self._on_answer is not None:
                        self._on_answer(cluster)
                    return
                member.checked_at = self._clock()
                await self._sleep(self.timeout)
        finally:
            member.checking = False
            member.checked_at = self._clock()

    def note_readiness(self, cluster: str, ready: bool) -> None:
        """What the member's probe says now: a silent member whose probe failed and then succeeded again
        answers, so calls to it are made again at once (without waiting for a background check)."""
        member = self._members.get(cluster)
        if member is None or member.silent_since is None:
            return
        if not ready:
            member.probe_failed = True
        elif member.probe_failed:
            member.silent_since = None
            member.probe_failed = False
            if self._on_answer is not None:
                self._on_answer(cluster)
