"""The reconcile work queue: coalescing, one worker per key, requeue of keys dirtied while in flight."""

from __future__ import annotations

import asyncio

from federation_operator.controllers.workqueue import WorkQueue


async def test_repeated_adds_coalesce_into_one_item() -> None:
    queue: WorkQueue[str] = WorkQueue(asyncio.get_running_loop())
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    queue.done("a")
    queue.done("b")
    assert queue.idle


async def test_a_key_in_flight_is_not_handed_out_twice_but_requeued_after() -> None:
    queue: WorkQueue[str] = WorkQueue(asyncio.get_running_loop())
    queue.add("a")
    key = await queue.get()
    queue.add("a")  # dirtied while a worker holds it
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.done(key)
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_add_after_fires_once_later_and_threadsafe_add_arrives() -> None:
    loop = asyncio.get_running_loop()
    queue: WorkQueue[str] = WorkQueue(loop)
    queue.add_after("later", 0.05)
    queue.add_after("later", 10)  # an earlier pending timer wins
    await loop.run_in_executor(None, queue.add_threadsafe, "threaded")
    got = {await asyncio.wait_for(queue.get(), 1), await asyncio.wait_for(queue.get(), 1)}
    assert got == {"later", "threaded"}


async def test_of_two_pending_timers_the_one_due_first_wins() -> None:
    loop = asyncio.get_running_loop()
    queue: WorkQueue[str] = WorkQueue(loop)
    queue.add_after("key", 30)  # a long retry, say the end of a grace period
    queue.add_after("key", 0.05)  # then a short one: it must not wait for the long one
    assert await asyncio.wait_for(queue.get(), 1) == "key"
    queue.done("key")
    assert len(queue) == 0, "the long timer was replaced, not kept as well"
    assert not queue._timers
