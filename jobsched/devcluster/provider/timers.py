"""One task that fires many delayed callbacks: pod completions and refusal retries.

A thousand pods each running for a while would otherwise be a thousand sleeping tasks; here they are
entries in a heap, and one loop (owned by the caller's task group) sleeps until the earliest is due.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable

import anyio

IDLE_WAKE_S = 5.0  # an idle loop still wakes now and then: no wait without a bound


class Timers:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._changed = anyio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, due: float, callback: Callable[[], None]) -> None:
        """Calls callback (on the event loop, must not block) once the clock reaches due."""
        seq = next(self._seq)
        heapq.heappush(self._heap, (due, seq, callback))
        if self._heap[0][1] == seq:  # the new earliest: the loop must sleep less
            self._changed.set()

    async def run(self) -> None:
        while True:
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                _, _, callback = heapq.heappop(self._heap)
                callback()
            wait = self._heap[0][0] - now if self._heap else IDLE_WAKE_S
            with anyio.move_on_after(min(wait, IDLE_WAKE_S)):
                await self._changed.wait()
            self._changed = anyio.Event()
