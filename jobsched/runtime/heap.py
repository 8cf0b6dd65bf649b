"""The process's memory between storms: full garbage collections and handing freed heap back to the OS.

A storm parses hundreds of MB of short-lived JSON. CPython frees it, but glibc keeps freed pages
inside its heap: on a soaked process one malloc_trim(0) gave back 53 MB. (A slower creep, OpenSSL's
read buffers on pooled connections, is handled in jobsched/kube/http1.py.) malloc_trim blocks for a few
milliseconds, so it only runs while nothing is busy.

The cyclic collector gets the same treatment. With CPython's thresholds (700, 10, 10) a storm runs a
young collection every few watch events and a full one, which walks all the process's state (10,000
entries, the cluster cache: 0.1-0.2 s each at 10,000 crons, 7 of them in one such storm), whenever the
old generation has grown by a quarter, which a storm's new pods do. Here young collections are rarer
and full ones wait for the idle pass. What the watches decode is freed by reference counting, never by
the collector, so the wait holds only the odd cycle (an exception's traceback) a little longer.

Even idle, a full collection every period would walk that state again to find it still alive. So each
one ends with gc.freeze(): what survived is set aside, and the next walks only what came since. Objects
set aside are still freed by reference counting; only a cycle through one of them waits for the
thorough collection (unfreeze, collect, freeze), which walks everything (78 ms with 10,000 parsed entries):
it runs at the first idle pass once FULL_AT_LEAST_EVERY_S have passed, so it does not stall a storm's
binds, and in a process that is never idle once twice that has passed.
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


class _Collector:
    set_aside = False  # whether collections set survivors aside: only once tune_collector has run


def full_collection() -> int:
    """A full collection of what is not set aside, if anything reached the old generation; then (in a
    tuned process) sets the survivors aside (gc.freeze) so that the next one skips them."""
    if not old_generation_grew():
        return 0
    found = gc.collect()
    if _Collector.set_aside:
        gc.freeze()
    return found


def thorough_collection() -> int:
    """A full collection of everything, including what earlier ones set aside; then sets it aside again."""
    gc.unfreeze()
    found = gc.collect()
    if _Collector.set_aside:
        gc.freeze()
    return found


def tune_collector() -> None:
    """Young collections rarer, full ones left to `tidy_while_idle` and their survivors set aside. Call
    once, at start, in the scheduler's own process (not in one that runs it, such as a test's)."""
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, FULL_THRESHOLD)
    _Collector.set_aside = True


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
    thorough: Collect = thorough_collection,
) -> None:
    """Runs until cancelled: every period_s, unless a storm is near or running, a full collection (if
    the old generation grew) and then a heap trim (the collection frees what the trim can return).
    Once full_every_s have passed, the next idle collection is a thorough one; once twice that has
    passed, it runs busy or not."""
    trim = trim or glibc_trim()
    if trim is None:
        log.info("malloc_trim unavailable; freed heap stays with the process")
    thorough_at = clock()
    while True:
        await anyio.sleep(period_s)
        idle = not busy()
        since = clock() - thorough_at
        if since >= full_every_s and (idle or since >= 2 * full_every_s):
            thorough()
            thorough_at = clock()
        elif idle:
            collect()
        if idle and trim is not None:
            trim()
