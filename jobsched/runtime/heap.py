"""Hands freed heap memory back to the OS between storms.

A storm parses hundreds of MB of short-lived JSON. CPython frees it, but glibc keeps freed pages
inside its heap: on a soaked process one malloc_trim(0) gave back 53 MB. (A slower RSS creep outside
glibc's heap remains; see docs/reliability.md, the soak.) malloc_trim blocks for a few milliseconds, so it
only runs while nothing is busy.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import anyio
import structlog

log = structlog.get_logger(__name__)

TRIM_PERIOD_S = 30.0

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
