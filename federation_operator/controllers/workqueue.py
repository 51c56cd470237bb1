"""A work queue of object keys with the semantics of client-go's: coalescing, one worker per key at a time.

Many events about one FederatedService (its own edits, its member Services changing, endpoints flapping)
collapse into one pending key; a key being processed is not handed to a second worker, and if it got dirty
meanwhile it is queued again when the first worker is done. So bursts cost one reconcile, not one per event,
and a reconcile always works from the latest state.

Two lanes. A key added because something changed (an event: a shard's health may have moved, and DNS with
it) is **urgent**; a key added only so that its status catches up with news we made ourselves (the DNS
publisher's verdict on records just submitted) is **routine**. Urgent keys are handed out first, and routine
work never takes the last idle worker: under churn, status writes (a round trip to the host API each, slow
when the API server is loaded) queue among themselves while a failover's reconcile, which only hands records
to the publisher, starts at once. A routine key that turns urgent moves to the urgent lane; the other way it
keeps its place. Without an urgent key pending, routine work uses every worker but that one.

A key's pending timer (`add_after`: a retry, the end of a grace period, a status put off for a moment) is
dropped when a worker takes the key: each reconcile reads the latest state and says when it wants to run
again (the worker re-arms the timer with that), so an earlier reconcile's wish is stale by then.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["WorkQueue"]

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Used from the event loop's thread (the watches' callbacks, the workers, its timers), without a lock;
    only its length is read from elsewhere (the metrics' scrape)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Keys in the order they were queued, per lane. An entry is stale (skipped) once its key moved to the
        # urgent lane, was handed out, or is being processed: `_dirty` says what is pending, and where.
        self._urgent: deque[K] = deque()
        self._routine: deque[K] = deque()
        self._dirty: dict[K, bool] = {}  # pending key → urgent?
        self._processing: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._idle_workers: deque[asyncio.Future[None]] = deque()

    def add(self, key: K, *, routine: bool = False) -> None:
        """Queue ``key`` (urgent: something changed), or with ``routine`` only for its status to catch up."""
        urgent = not routine
        pending = self._dirty.get(key)
        if pending is not None and (pending or not urgent):
            return  # already queued, in this lane or a faster one
        self._dirty[key] = urgent
        if key not in self._processing:
            (self._urgent if urgent else self._routine).append(key)
            self._wake()

    def add_routine(self, key: K) -> None:
        """`add(key, routine=True)`, as a one-argument callback (the DNS publisher's verdicts)."""
        self.add(key, routine=True)

    def add_after(self, key: K, delay: float) -> None:
        """Add the key (urgent) after `delay` seconds unless a worker takes it before (retries with backoff,
        the end of a grace period); of two pending timers of one key, the one due first wins (a status
        write put off for a second is not held back by a 40 s grace timer)."""
        due = self._loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending.when() <= due:
                return
            pending.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = self._loop.call_at(due, fire)

    async def get(self) -> K:
        while (key := self._take()) is None:
            waiter = self._loop.create_future()
            self._idle_workers.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():  # cancelled while idle
                    self._idle_workers.remove(waiter)
        del self._dirty[key]
        self._processing.add(key)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        urgent = self._dirty.get(key)
        if urgent is not None:
            (self._urgent if urgent else self._routine).append(key)
        self._wake()

    def __len__(self) -> int:
        return len(self._dirty)

    @property
    def idle(self) -> bool:
        return not self._dirty and not self._processing

    def _take(self) -> K | None:
        """The next key for a worker with nothing to do: urgent first; routine only if that leaves another
        worker idle for urgent work (or nothing at all is being processed: a single worker)."""
        while self._urgent:
            key = self._urgent.popleft()
            if self._dirty.get(key) is True and key not in self._processing:
                return key
        if self._idle_workers or not self._processing:
            while self._routine:
                key = self._routine.popleft()
                if self._dirty.get(key) is False and key not in self._processing:
                    return key
        return None

    def _wake(self) -> None:
        """Every idle worker looks again (the first to look takes urgent work; routine work goes to all
        but the last idle one, which looks, finds it may not, and waits again)."""
        while self._idle_workers:
            waiter = self._idle_workers.popleft()
            if not waiter.done():
                waiter.set_result(None)
