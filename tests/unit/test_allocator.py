"""glibc's free memory handed back (allocator.py), as the GC pacer does after each pass.

Each scenario runs in a fresh interpreter, whose allocator no earlier test has moved: it frees one 256 KiB
block (as a closed TLS connection frees its read buffer), which raises glibc's mmap threshold, then holds 64
more with a small block after each (what a busy process allocates meanwhile), frees the large ones and
reports how much of their memory is still resident, with or without a trim after.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from federation_operator.allocator import release_free_memory, trimmer

GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
pytestmark = pytest.mark.skipif(not GLIBC, reason="the mmap threshold is glibc's")

SCENARIO = """
import sys
from federation_operator.allocator import release_free_memory, trimmer

def anon_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))

block = bytearray(b"x") * (256 * 1024)
del block  # glibc raises its mmap threshold to this block's size: the next ones come from the heap
base = anon_kib()
large, small = [], []
for _ in range(64):
    large.append(bytearray(b"x") * (256 * 1024))
    small.append(bytearray(b"x") * 2048)  # after each large block in the heap: none is at its top
held = anon_kib() - base
del large
print(release_free_memory() if sys.argv[1] == "trimmed" else None)
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
    released, sizes = done.stdout.splitlines()
    held, kept = (int(n) for n in sizes.split())
    return released, held, kept


def test_large_blocks_freed_go_back_once_trimmed() -> None:
    released, held, kept = run("trimmed")
    assert released == "True"
    assert held > 12 * 1024  # 16 MiB of large blocks were resident
    assert kept < 2 * 1024  # and are no longer: only the small blocks stay


def test_without_a_trim_the_same_blocks_stay() -> None:
    # The scenario above would pass for nothing if glibc returned these blocks by itself.
    _, held, kept = run("untouched")
    assert held > 12 * 1024
    assert kept > held - 2 * 1024


def test_glibc_has_a_trimmer() -> None:
    assert trimmer() is release_free_memory
