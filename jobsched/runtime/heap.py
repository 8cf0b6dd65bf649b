"""The process's memory between storms: full garbage collections and handing freed heap back to the OS.

A storm parses hundreds of MB of short-lived JSON. CPython frees it, but glibc keeps freed pages
inside its heap: on a soaked process one malloc_trim(0) gave back 53 MB. (A slower creep, OpenSSL's
read buffers on pooled connections, is handled in jobsched/kube/http1.py.) malloc_trim blocks for a few
milliseconds, so it only runs while nothing is busy.

The cyclic collector gets the same treatment. With CPython's thresholds (700, 10, 10) a storm runs a
young collection every few watch events and a full one, which walks all the process's state (10,000
entries, the cluster cache: 0.1-0.2 s each at 10,000 crons, 7 of them in one such storm), whenever the
old generation has grown by a quarter, which a storm's new pods do. Here young collections are rarer
and full ones wait for the idle pass, unless none has run for FULL_AT_LEAST_EVERY_S. What the
watches decode is freed by reference counting, never by the collector, so the wait holds only the
odd cycle (an exception's traceback) a little longer.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable

import anyio
import structlog

log = structlog.get_logger(__name__)

TRIM_PERIOD_S = 30.0
YOUNG_THRESHOLD = 10_000  # net container allocations between young collections (CPython: 700)
MIDDLE_THRESHOLD = 20  # young collections between middle ones (CPython: 10)
FULL_THRESHOLD = 1_000_000  # middle collections before an automatic full one: never, in practice
FULL_AT_LEAST_EVERY_S = 300.0

Trim = Callable[[], bool]
Collect = Callable[[], int]


def old_generation_grew() -> bool:
    """Whether anything has reached the oldest generation since the last full collection: if not, a
    full one would walk 10,000 entries' state to find nothing new."""
    return gc.get_count()[2] > 0


def full_collection() -> int:
    return gc.collect() if old_generation_grew() else 0


def tune_collector() -> None:
    """Young collections rarer, full ones left to `tidy_while_idle`. Call once, at start."""
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, FULL_THRESHOLD)


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


async def tidy_while_idle(
    busy: Callable[[], bool],
    trim: Trim | None = None,
    period_s: float = TRIM_PERIOD_S,
    collect: Collect = full_collection,
    full_every_s: float = FULL_AT_LEAST_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Runs until cancelled: every period_s, unless a storm is near or running, a full collection (if
    the old generation grew) and then a heap trim (the collection frees what the trim can return). A
    process that is never idle still gets a full collection every full_every_s."""
    trim = trim or glibc_trim()
    if trim is None:
        log.info("malloc_trim unavailable; freed heap stays with the process")
    collected_at = clock()
    while True:
        await anyio.sleep(period_s)
        idle = not busy()
        if idle or clock() - collected_at >= full_every_s:
            collect()
            collected_at = clock()
        if idle and trim is not None:
            trim()
