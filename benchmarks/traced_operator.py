"""The operator under tracemalloc, for `benchmarks/propagation.py --memory-profile`: a benchmark tool only.

`python -m benchmarks.traced_operator [operator args]` starts tracing once the operator's modules are
imported (what importing allocates is the same for any number of objects, and tracing the Kubernetes
client's import alone takes a minute), with `BENCH_TRACE_FRAMES` frames per allocation (default 12), then
runs the operator as usual. SIGUSR2 writes a snapshot of the
memory held at that moment to `BENCH_TRACEMALLOC` (a path), which the benchmark reads and breaks
down. Tracing slows the operator several-fold: figures of a traced run are memory figures only.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from types import FrameType

import kubernetes.client

from federation_operator.__main__ import main


def _dump(_signum: int, _frame: FrameType | None) -> None:
    tracemalloc.take_snapshot().dump(os.environ["BENCH_TRACEMALLOC"])


if __name__ == "__main__":
    # The Kubernetes client imports its API and model modules on first use: import them all untraced.
    for _name in dir(kubernetes.client):
        getattr(kubernetes.client, _name)
    tracemalloc.start(int(os.environ.get("BENCH_TRACE_FRAMES", "12")))
    signal.signal(signal.SIGUSR2, _dump)
    sys.exit(main())
