"""glibc's allocator, asked now and then to give the memory it holds free back to the system.

glibc serves a request of at least its *mmap threshold* (128 KiB at first) with a mapping of its own,
unmapped when freed. But the threshold moves: freeing such a block raises it to the block's size, so from then
on blocks of that size come from the heap, and freed they stay in it, resident, behind whatever was allocated
after them. Every TLS connection of the event loop reads through a 256 KiB buffer (asyncio's
``SSLProtocol``): a busy spell opens a few dozen connections to the members and the host, and once their pools
closed them (aiohttp closes a connection idle for 15-30 s), their buffers were still resident. So
:func:`release_free_memory` (``malloc_trim``: the free pages of every arena handed back) runs after each
pass of the garbage collector's pacer, every `FEDOP_GC_YOUNG_SECONDS`: ~1 ms when there is little to return.

Fixing the threshold instead (``mallopt(M_MMAP_THRESHOLD)``, as ``MALLOC_MMAP_THRESHOLD_`` does) returned the
same memory, but costs ~8 µs on every read from a socket or a TLS connection: each allocates a 256 KiB
buffer (then shrunk to what was read), which would be a mapping of its own each time.

Anything but glibc (musl, macOS) is left alone.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable

__all__ = ["release_free_memory", "trimmer"]


def trimmer() -> Callable[[], bool] | None:
    """:func:`release_free_memory` where the C library is glibc; None elsewhere."""
    return release_free_memory if _glibc() else None


def release_free_memory() -> bool:
    """Hand the free pages glibc holds back to the system; returns whether any were."""
    return bool(_malloc_trim()(0))


@functools.cache
def _malloc_trim() -> Callable[[int], int]:
    trim = ctypes.CDLL(None).malloc_trim
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return trim


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this system's confstr knows
        return False
