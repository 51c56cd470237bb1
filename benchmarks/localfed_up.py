"""Benchmark: how long the local federation takes to come up, and how much memory it holds once up.

Run on demand, not in the test suite: .venv/bin/python benchmarks/localfed_up.py [--members 3] [--runs 3]
Prints each run's start-up time (binaries already built) and resident memory, then the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))

from localfed import FederationConfig, LocalFederation
from localfed.federation import ensure_binaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_binaries()
    times, memory = [], []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="localfed-bench-") as state:
            fed = LocalFederation(FederationConfig(Path(state), members=args.members))
            started = time.monotonic()
            try:
                fed.up(log=lambda _msg: None)
                elapsed = time.monotonic() - started
                rss = fed.memory_bytes() / 2**20
            finally:
                fed.down(log=lambda _msg: None)
        times.append(elapsed)
        memory.append(rss)
        print(f"run {run}: host + {args.members} members + BIND up in {elapsed:.1f}s, {rss:.0f} MiB RSS")
    print(
        f"median: {statistics.median(times):.1f}s to Ready, {statistics.median(memory):.0f} MiB RSS "
        f"({len(times)} runs, {args.members} members)"
    )


if __name__ == "__main__":
    main()
