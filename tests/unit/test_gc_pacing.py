"""The garbage collector's pacer: what it freezes, what its passes collect, and that it hands CPython's
collector back as it found it. These run on the test process's own collector, so each test stops its pacer."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterator

import pytest

from federation_operator import gc_pacing
from federation_operator.gc_pacing import YOUNG_THRESHOLD, GcPacer, Pass


class Node:
    """An object in a reference cycle, so only the cyclic collector can free it; weakly referenceable."""

    def __init__(self) -> None:
        self.me = self


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pacer(clock: Clock) -> Iterator[GcPacer]:
    """A started pacer whose thread never runs a pass by itself (the tests call `run_pass`)."""
    pacer = GcPacer(3600, clock=clock)
    pacer.start()
    try:
        yield pacer
    finally:
        pacer.stop()


def old_cycle() -> weakref.ref[Node]:
    """A garbage cycle that has reached the oldest generation (a gen-1 pass moves survivors there)."""
    node = Node()
    gc.collect(1)
    return weakref.ref(node)  # `node` goes out of scope here: the cycle is garbage from now on


def test_start_freezes_what_exists_and_stop_hands_the_collector_back() -> None:
    before = gc.get_threshold()
    pacer = GcPacer(3600)
    pacer.start()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        assert gc.get_threshold()[1] == before[1]
        assert gc.get_threshold()[2] > 10**9  # CPython's own full collection is out of reach
    finally:
        pacer.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_young_pass_collects_a_cycle_that_grew_old_since_the_last_pass(pacer: GcPacer) -> None:
    dead = old_cycle()
    assert gc.get_count()[2] > 0
    done = pacer.run_pass()
    assert done is not None
    assert not done.full
    assert done.collected >= 1
    assert dead() is None


def test_nothing_grew_old_no_pass(pacer: GcPacer) -> None:
    pacer.run_pass()  # whatever the fixture's start left
    gc.collect(0)  # a young collection does not reach the oldest generation
    assert gc.get_count()[2] == 0
    assert pacer.run_pass() is None


def test_a_young_pass_counts_what_it_froze_without_walking_every_frozen_object(
    pacer: GcPacer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pacer.run_pass()  # whatever the fixture's start left
    before = first.frozen if first is not None else gc.get_freeze_count()
    kept = [Node() for _ in range(1000)]
    gc.collect(1)  # they reach the oldest generation

    def walk() -> int:
        raise AssertionError("a young pass must not walk every frozen object (gc.get_freeze_count)")

    with monkeypatch.context() as patched:
        patched.setattr(gc, "get_freeze_count", walk)
        done = pacer.run_pass()
    assert done is not None
    assert not done.full
    # Counted as frozen: the objects kept, and at most those frozen objects freed since were (still counted).
    assert done.frozen >= before + len(kept)
    assert done.frozen >= gc.get_freeze_count()
    assert done.frozen - gc.get_freeze_count() < len(kept)


def test_a_cycle_frozen_while_alive_is_collected_by_the_next_full_pass(pacer: GcPacer, clock: Clock) -> None:
    node = Node()
    gc.collect(1)
    pacer.run_pass()  # a young pass: `node` is alive, so it is frozen
    dead = weakref.ref(node)
    del node
    gc.collect(1)
    young = pacer.run_pass()
    assert young is None or not young.full
    assert dead() is not None  # frozen: no young pass sees it

    clock.now += gc_pacing.FULL_SECONDS
    full = pacer.run_pass()
    assert full is not None
    assert full.full
    assert dead() is None


def test_the_thread_runs_young_passes_and_reports_them() -> None:
    passes: list[Pass] = []
    ran = threading.Event()

    def on_pass(done: Pass) -> None:
        passes.append(done)
        if not done.full and done.collected:
            ran.set()

    pacer = GcPacer(0.05, on_pass=on_pass)
    pacer.start()
    try:
        assert passes[0].full  # the start freezes everything: one full pass
        deadline = time.monotonic() + 30
        while not ran.wait(0.05) and time.monotonic() < deadline:
            old_cycle()  # garbage for the thread's next pass
        assert ran.is_set(), passes
    finally:
        pacer.stop()


def test_after_each_period_the_thread_runs_the_after_pass_hook_even_with_no_pass_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    periods = threading.Semaphore(0)
    pacer = GcPacer(0.05, after_pass=periods.release)
    pacer.start()
    try:
        monkeypatch.setattr(pacer, "run_pass", lambda: None)  # no pass due, ever
        for _ in range(3):
            assert periods.acquire(timeout=30)
    finally:
        pacer.stop()
