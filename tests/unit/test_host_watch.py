"""The host watch's hand-off to the event loop: calls from the watch's thread run on the loop, in order,
one hop per burst; a call that fails is logged and the next ones run."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any
from unittest import mock

import pytest

from federation_operator.controllers.host_watch import _HandOff


async def test_calls_from_the_watch_thread_run_on_the_loop_in_order_one_hop_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    hand_off = _HandOff(loop)
    ran: list[tuple[str, Any]] = []
    on_loop: list[bool] = []

    def record(kind: str, value: Any) -> None:
        on_loop.append(threading.current_thread() is threading.main_thread())
        ran.append((kind, value))

    def fail(*_args: Any) -> None:
        raise RuntimeError("a consumer's bug")

    event, relist, broken = hand_off.on_loop(record), hand_off.on_loop(record), hand_off.on_loop(fail)
    hops = 0
    original = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
        nonlocal hops
        hops += 1
        return original(callback, *args, **kwargs)

    def burst() -> None:  # the loop waits for the thread here: it is busy for the whole burst
        event("ADDED", 1)
        broken("MODIFIED", 2)
        relist("relist", [3])
        event("DELETED", 4)

    with mock.patch.object(loop, "call_soon_threadsafe", counting):
        thread = threading.Thread(target=burst)
        thread.start()
        thread.join()
    assert hops == 1
    assert ran == []
    with caplog.at_level(logging.ERROR):
        await asyncio.sleep(0)
    assert ran == [("ADDED", 1), ("relist", [3]), ("DELETED", 4)]
    assert all(on_loop)
    assert "a consumer's bug" in caplog.text
    await loop.run_in_executor(None, event, "MODIFIED", 5)  # the next burst
    await asyncio.sleep(0)
    assert ran[-1] == ("MODIFIED", 5)
