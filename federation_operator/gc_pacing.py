"""The process's cyclic garbage collector, paced so that it never stops the operator for long.

CPython collects its oldest generation once that has grown by a quarter, and scans all of it each time. At
1,000 FederatedServices x 4 members that is ~350,000 objects (the member cache, the zone index, the stored
FederatedServices, the imported modules) and a 170-350 ms pause, during which no watch event is read and no
DNS change goes out: `benchmarks/failover.py --others 1000` saw a readiness change wait out two of them (390
ms; its median is 22 ms). Nearly all of those objects live as long as the process, or as their
FederatedService, so each full pass scans them again to find a few hundred cyclic objects.

So the pacer takes the oldest generation over. At start every object so far (the modules) is frozen
(`gc.freeze`: no collection scans it again) and CPython's own full collection is put out of reach; then every
`young_seconds` a thread collects what reached the oldest generation since the last pass, if anything did (a
few thousand objects: milliseconds), and freezes what survived. Young objects are collected by CPython (less
often: below). An object frozen and later part of a garbage cycle would stay, so once an hour all of it is
unfrozen and collected (one full pause, as CPython's own: ~0.3 s at 1,000 x 4 on 2 shared cores, but once an
hour instead of every few seconds while objects arrive). Objects without cycles are freed by their reference
count whether frozen or not: deleting FederatedServices frees their memory at once either way. (A full pass
each time the frozen objects doubled was tried: during a bulk creation of 1,000 it ran twice, 0.3-0.4 s each,
and once more in the quiet that followed.)

The youngest generation is collected every `YOUNG_THRESHOLD` net allocations instead of CPython's 700: the
operator allocates in bursts (a watch event's decoded JSON, a reconcile's plans and status), most of it dead
by the end of the burst, and at 700 the collector ran ~1,300 times while 1,000 FederatedServices x 4 members
converged, each pass moving a burst's survivors on to be scanned again one generation up (0.50 CPU-s in the
two young generations, measured with `gc.callbacks` and the collecting thread's CPU time; with 10,000: 67
passes, 0.28 CPU-s). A pass of 10,000 objects stays a pause of a millisecond or two.

The frozen objects are counted by each pass as it freezes them, never by `gc.get_freeze_count()`: that walks
every frozen object (~60 ms for 3 million, on a quiet core), which made each young pass cost as much as the
heap is large (at 10,000 x 4 members the pacer was the operator's largest user of CPU).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

__all__ = ["YOUNG_THRESHOLD", "GcPacer", "Pass"]

# Everything frozen is collected once (unfrozen, collected, frozen again) this often: what died in a cycle
# among them is not kept longer.
FULL_SECONDS = 3600.0
# CPython's full collection is off while the pacer runs: its threshold (gen-1 passes between full ones) out
# of reach. The middle generation keeps CPython's own threshold; the youngest gets YOUNG_THRESHOLD.
_OUT_OF_REACH = 2**31 - 1
# Net allocations of container objects between two collections of the youngest generation (CPython: 700).
YOUNG_THRESHOLD = 10_000


@dataclass(frozen=True)
class Pass:
    """One pass of the pacer: `full` (every object) or young (what reached the oldest generation since the
    last pass); how long it stopped the process, what it freed and how many objects are frozen after it
    (counted at the last full pass, plus what each young pass froze since: frozen objects freed meanwhile,
    by their reference count, are still counted until the next full pass)."""

    full: bool
    seconds: float
    collected: int
    frozen: int


class GcPacer:
    """Runs the passes on a daemon thread (`start`, `stop`); `run_pass` is one pass, for tests."""

    def __init__(
        self,
        young_seconds: float,
        *,
        on_pass: Callable[[Pass], None] | None = None,
        after_pass: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.young_seconds = young_seconds
        self._on_pass = on_pass
        # Run on the pacer's thread every young_seconds, after the pass (or after finding none due): the
        # allocator handing back what the pass freed (allocator.py).
        self._after_pass = after_pass
        self._clock = clock
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._thresholds = gc.get_threshold()
        self._full_at = 0.0
        self._frozen = 0

    def start(self) -> None:
        """Freeze what exists (the modules, the settings) and take the oldest generation over; the youngest
        is collected every `YOUNG_THRESHOLD` allocations (or CPython's own threshold, if that is higher)."""
        self._full()
        young = max(self._thresholds[0], YOUNG_THRESHOLD)
        gc.set_threshold(young, self._thresholds[1], _OUT_OF_REACH)
        self._thread = threading.Thread(target=self._loop, name="gc-pacer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Hand the collector back to CPython as it was (everything unfrozen, its own thresholds)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        gc.set_threshold(*self._thresholds)
        gc.unfreeze()

    def _loop(self) -> None:
        while not self._stopped.wait(self.young_seconds):
            try:
                self.run_pass()
                if self._after_pass is not None:
                    self._after_pass()
            except Exception:  # the pacer must outlive any surprise: without it nothing old is collected
                log.exception("garbage collection pass failed; trying again in %.0fs", self.young_seconds)

    def run_pass(self) -> Pass | None:
        """A full pass when one is due, else a young one when anything reached the oldest generation since
        the last pass (`gc.get_count()[2]`: gen-1 passes since the oldest generation's), else nothing."""
        if self._clock() - self._full_at >= FULL_SECONDS:
            return self._full()
        if gc.get_count()[2] == 0:
            return None
        started = time.perf_counter()
        collected = gc.collect(2)  # the frozen objects are not scanned: only the young part of the oldest
        survivors = len(gc.get_objects(2))  # what the pass left is now in the oldest generation
        gc.freeze()
        self._frozen += survivors
        return self._report(Pass(False, time.perf_counter() - started, collected, self._frozen))

    def _full(self) -> Pass:
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        self._frozen = gc.get_freeze_count()  # the one exact count: this pass walked every object anyway
        self._full_at = self._clock()
        return self._report(Pass(True, time.perf_counter() - started, collected, self._frozen))

    def _report(self, done: Pass) -> Pass:
        log.debug(
            "garbage collection: %s pass, %.1f ms, %d collected, %d objects frozen",
            "full" if done.full else "young",
            done.seconds * 1000,
            done.collected,
            done.frozen,
        )
        if self._on_pass is not None:
            self._on_pass(done)
        return done
