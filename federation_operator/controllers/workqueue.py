"""A work queue of object keys with the semantics of client-go's: coalescing, one worker per key at a time.

Many events about one FederatedService (its own edits, its member Services changing, endpoints flapping)
collapse into one pending key; a key being processed is not handed to a second worker, and if it got dirty
meanwhile it is queued again when the first worker is done. So bursts cost one reconcile, not one per event,
and a reconcile always works from the latest state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["WorkQueue"]

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Call `add` from the event loop's thread (use `add_threadsafe` from others)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_threadsafe(self, key: K) -> None:
        self._loop.call_soon_threadsafe(self.add, key)

    def add_after(self, key: K, delay: float) -> None:
        """Add the key after `delay` seconds (retries with backoff); of two pending timers of one key, the
        one due first wins (a status write put off for a second is not held back by a 40 s grace timer)."""
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
        key = await self._queue.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.put_nowait(key)

    def __len__(self) -> int:
        return len(self._dirty)

    @property
    def idle(self) -> bool:
        return not self._dirty and not self._processing
