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


async def test_add_after_fires_once_later() -> None:
    loop = asyncio.get_running_loop()
    queue: WorkQueue[str] = WorkQueue(loop)
    queue.add_after("later", 0.05)
    queue.add_after("later", 10)  # an earlier pending timer wins
    queue.add("now")
    got = [await asyncio.wait_for(queue.get(), 1), await asyncio.wait_for(queue.get(), 1)]
    assert got == ["now", "later"]
    queue.done("now")
    queue.done("later")
    assert queue.idle
    assert not queue._timers


async def test_of_two_pending_timers_the_one_due_first_wins() -> None:
    loop = asyncio.get_running_loop()
    queue: WorkQueue[str] = WorkQueue(loop)
    queue.add_after("key", 30)  # a long retry, say the end of a grace period
    queue.add_after("key", 0.05)  # then a short one: it must not wait for the long one
    assert await asyncio.wait_for(queue.get(), 1) == "key"
    queue.done("key")
    assert len(queue) == 0, "the long timer was replaced, not kept as well"
    assert not queue._timers


async def test_urgent_keys_go_before_routine_ones_and_a_routine_key_turning_urgent_moves_up() -> None:
    queue: WorkQueue[str] = WorkQueue(asyncio.get_running_loop())
    queue.add_routine("status-1")
    queue.add_routine("status-2")
    queue.add("flip")
    queue.add("status-2")  # something changed for it too: urgent now
    queue.add_routine("flip")  # already urgent: stays so
    assert len(queue) == 3
    order = []
    for _ in range(3):
        order.append(await asyncio.wait_for(queue.get(), 1))
        queue.done(order[-1])
    assert order == ["flip", "status-2", "status-1"]


async def test_routine_work_leaves_one_idle_worker_for_urgent_work() -> None:
    """Status writes (routine) may occupy every worker but one: a failover's reconcile (urgent) arriving
    while they are slow starts at once instead of waiting for one of them to finish."""
    queue: WorkQueue[str] = WorkQueue(asyncio.get_running_loop())
    for i in range(5):
        queue.add_routine(f"status-{i}")
    workers = [asyncio.ensure_future(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    taken = [w.result() for w in workers if w.done()]
    assert sorted(taken) == ["status-0", "status-1"]
    (idle,) = [w for w in workers if not w.done()]
    queue.add("flip")
    assert await asyncio.wait_for(idle, 1) == "flip"


async def test_a_single_worker_still_does_routine_work() -> None:
    queue: WorkQueue[str] = WorkQueue(asyncio.get_running_loop())
    queue.add_routine("status")
    assert await asyncio.wait_for(queue.get(), 1) == "status"
    queue.done("status")
    assert queue.idle


async def test_a_key_dirtied_in_flight_is_requeued_in_its_lane() -> None:
    queue: WorkQueue[str] = WorkQueue(asyncio.get_running_loop())
    queue.add("a")
    assert await queue.get() == "a"
    queue.add_routine("a")  # the publisher's verdict while "a" is reconciled
    queue.add("b")
    queue.done("a")
    assert await asyncio.wait_for(queue.get(), 1) == "b"
    queue.done("b")
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_taking_a_key_drops_its_pending_timer() -> None:
    """Each reconcile says when it wants to run again (the worker re-arms the timer): a timer from an earlier
    reconcile (a status put off for a second) is stale once the key is taken, and costs no reconcile more."""
    loop = asyncio.get_running_loop()
    queue: WorkQueue[str] = WorkQueue(loop)
    queue.add_after("key", 0.05)
    queue.add_routine("key")
    assert await queue.get() == "key"
    queue.done("key")
    assert not queue._timers
    assert queue.idle
