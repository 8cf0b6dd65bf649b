"""The gate: placed pods whose cron slot is still ahead wait here, and leave at that instant.

This is what lets a storm cost one write per pod at its fire time: pods are created and placed before
T and held, counted against their nodes, until the clock reaches T. The gate only knows instants and pod
UIDs; what releasing a pod means (re-checking its node, handing it to a bind worker) is the scheduler's.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import structlog

log = structlog.get_logger(__name__)

WAKE_AT_LEAST_S = 1.0  # the gate re-reads the clock at least this often (a clock may be shifted in tests)
WARM_POLL_S = 0.25
RELEASE_CHUNK = 128  # pods released between yields to the bind workers


class Gate:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, str]] = []  # (fire_at, sequence, uid)
        self._seq = 0
        self._wake = anyio.Event()

    def hold(self, uid: str, fire_at: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (fire_at, self._seq, uid))
        self._wake.set()

    def next_instant(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self, release: Callable[[str], None]) -> None:
        """Runs until cancelled: calls release(uid) for every held pod once its instant has come.
        Stale entries (pods gone or placed again since) are the caller's to ignore."""
        while True:
            if not self._heap:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            wait = self._heap[0][0] - self._clock()
            if wait > 0:
                self._wake = anyio.Event()
                with anyio.move_on_after(min(wait, WAKE_AT_LEAST_S)):
                    await self._wake.wait()
                continue
            now = self._clock()
            released = 0
            while self._heap and self._heap[0][0] <= now:
                release(heapq.heappop(self._heap)[2])
                released += 1
                if released % RELEASE_CHUNK == 0:
                    # Thousands of pods leave at one instant: the bind workers start on the first ones
                    # while the rest are still being released.
                    await anyio.lowlevel.checkpoint()

    async def warm_before(self, before_s: float, warm: Callable[[], Awaitable[int]]) -> None:
        """Runs until cancelled: calls `warm` once, `before_s` ahead of each instant the gate holds pods
        for, so the bind workers' connections are open (TLS done) when the burst starts."""
        warmed_for: float | None = None
        while True:
            await anyio.sleep(WARM_POLL_S)
            first = self.next_instant()
            if first is not None and warmed_for != first and 0 < first - self._clock() <= before_s:
                warmed_for = first
                opened = await warm()
                log.debug("connections warmed before a burst", requests=opened)
