"""glibc's mmap threshold, fixed at start-up: large blocks freed go back to the system (allocator.py).

Each scenario runs in a fresh interpreter, whose allocator no earlier test has moved: it frees one 256 KiB
block (as a closed TLS connection frees its read buffer), which raises glibc's threshold unless it is fixed,
then holds 64 more with a small block after each (what a busy process allocates meanwhile), frees the large
ones and reports how much of their memory is still resident.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from federation_operator.allocator import fix_mmap_threshold

GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
pytestmark = pytest.mark.skipif(not GLIBC, reason="the mmap threshold is glibc's")

SCENARIO = """
import sys
from federation_operator.allocator import fix_mmap_threshold

def anon_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))

print(fix_mmap_threshold() if sys.argv[1] == "fixed" else None)
block = bytearray(b"x") * (256 * 1024)
del block  # glibc raises its threshold to this block's size, unless it is fixed
base = anon_kib()
large, small = [], []
for _ in range(64):
    large.append(bytearray(b"x") * (256 * 1024))
    small.append(bytearray(b"x") * 2048)  # after each large block in the heap: none is at its top
held = anon_kib() - base
del large
print(held, anon_kib() - base)
"""


def run(mode: str, **env: str) -> tuple[str, int, int]:
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    fixed, sizes = done.stdout.splitlines()
    held, kept = (int(n) for n in sizes.split())
    return fixed, held, kept


def test_large_blocks_freed_go_back_once_the_threshold_is_fixed() -> None:
    fixed, held, kept = run("fixed")
    assert fixed == "True"
    assert held > 12 * 1024  # 16 MiB of large blocks were resident
    assert kept < 2 * 1024  # and are no longer: only the small blocks stay


def test_without_it_the_same_blocks_stay() -> None:
    # The scenario above would pass for nothing if glibc returned these blocks by itself.
    _, held, kept = run("default")
    assert held > 12 * 1024
    assert kept > held - 2 * 1024


def test_a_threshold_set_in_the_environment_is_left_to_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert fix_mmap_threshold() is False
