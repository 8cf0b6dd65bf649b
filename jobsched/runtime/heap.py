"""Keeps glibc's heap from holding memory the process no longer uses.

A storm parses hundreds of MB of short-lived JSON. CPython frees it, but glibc keeps freed pages
inside its heap: on a soaked process one malloc_trim(0) gave back 53 MB. malloc_trim blocks for a few
milliseconds, so it only runs while nothing is busy.

And glibc's mmap threshold is pinned at its starting 128 KiB (`pin_mmap_threshold`). Left dynamic, it
rises to the size of every big block freed (up to 32 MiB): after the first large transient (a list page,
a status document), such blocks come from the heap, zeroed (so wholly resident) and fragmenting it,
and uvloop's 256 KiB TLS read buffer per connection (tracemalloc: 24 MB for the client's ~100
connections) is then resident too. Pinned, a big block gets its own mapping, given back when freed, and
a buffer's untouched pages are never resident.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Final

import anyio
import structlog

log = structlog.get_logger(__name__)

TRIM_PERIOD_S = 30.0
M_MMAP_THRESHOLD: Final = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES: Final = 128 * 1024  # glibc's own starting value, kept from then on

Trim = Callable[[], bool]


def glibc_trim() -> Trim | None:
    """malloc_trim(0) of this process's C library, or None where there is none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(None)
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int

    def trim() -> bool:
        return bool(malloc_trim(0))

    return trim


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """mallopt(M_MMAP_THRESHOLD, threshold) in this process's C library; False where there is none."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


async def trim_while_idle(
    busy: Callable[[], bool], trim: Trim | None = None, period_s: float = TRIM_PERIOD_S
) -> None:
    """Runs until cancelled: every period_s, trims the heap unless a storm is near or running."""
    trim = trim or glibc_trim()
    if trim is None:
        log.info("malloc_trim unavailable; freed heap stays with the process")
        return
    while True:
        await anyio.sleep(period_s)
        if not busy():
            trim()
