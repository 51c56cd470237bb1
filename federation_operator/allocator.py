"""glibc's allocator, told to give large freed blocks back to the system at once.

glibc serves a request of at least its *mmap threshold* (128 KiB) with a mapping of its own, unmapped when
freed. But the threshold moves: freeing such a block raises it to the block's size, so from then on blocks
of that size come from the heap, and freed they stay in it, behind whatever was allocated after them. Every
TLS connection of the event loop reads through a 256 KiB buffer (asyncio's ``SSLProtocol``): a busy spell
opens a few dozen connections to the members and the host, and once they closed, idle, their buffers were
still held. `benchmarks/propagation.py --cycle --count 300 --members 3`: RSS after creating and deleting
them all 134 MiB against 107 at idle (+25 %); with the threshold fixed, 124 against 105 (+18 %), the ~8 MiB
coming back as the connections close (`aiohttp` closes one idle for 15-30 s). Setting the threshold once
(`mallopt(M_MMAP_THRESHOLD)`) is what glibc's own ``MALLOC_MMAP_THRESHOLD_`` variable does; set, that
variable is left to decide.

Blocks under the threshold (most of the operator's: CPython's objects come from its own arenas) are served
as before. Anything but glibc (musl, macOS) is left alone.
"""

from __future__ import annotations

import ctypes
import logging
import os

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

log = logging.getLogger(__name__)

# glibc's initial threshold, kept from now on.
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # <malloc.h>
_ENVIRONMENT = "MALLOC_MMAP_THRESHOLD_"


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; returns whether it was set (False: not glibc, or
    the threshold is already fixed by ``MALLOC_MMAP_THRESHOLD_``)."""
    if _ENVIRONMENT in os.environ or not _glibc():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, threshold) != 1:
        log.warning("glibc refused an mmap threshold of %d bytes; large freed blocks may stay", threshold)
        return False
    return True


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this system's confstr knows
        return False
