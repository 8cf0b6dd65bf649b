"""Honest health: what /healthz and /readyz answer, judged from outside the event loop.

- Live (/healthz) unless the event loop has been blocked, or a watch has kept failing, for longer than
  its threshold (server.loopBlockedSeconds, server.watchFailingSeconds): a scheduler that cannot run its
  loop or cannot see the cluster is not doing its job, and a restart is the remedy.
- Ready (/readyz) once every watch has listed (the cache is filled), and, under leader election, while
  the lease can be read: a replica cut off from the lease is neither a useful leader nor standby. The
  body says whether it leads.

The answers are computed in the HTTP server's thread from plain attributes the loop keeps current (a
heartbeat time, each watch's failing_since, the elector's last contact), so they stay true while the
loop is stuck, which is exactly when they matter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from jobsched.kube.informer import Informer
from jobsched.kube.lease import LeaderElector

BEAT_S = 0.25  # the loop's heartbeat period


class LoopWatch:
    """A heartbeat on the event loop; `blocked_for()` can be read from any thread."""

    def __init__(self) -> None:
        self._beat = time.monotonic()

    async def run(self) -> None:
        while True:
            self._beat = time.monotonic()
            await anyio.sleep(BEAT_S)

    def blocked_for(self) -> float:
        """How long the loop has not beaten beyond its period (0 when it runs on time)."""
        return max(0.0, time.monotonic() - self._beat - BEAT_S)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str


class Health:
    def __init__(
        self,
        loop: LoopWatch,
        informers: Sequence[Informer],
        synced: Callable[[], bool],
        elector: LeaderElector | None,
        *,
        loop_blocked_s: float,
        watch_failing_s: float,
    ) -> None:
        self._loop = loop
        self._informers = informers
        self._synced = synced
        self._elector = elector
        self._loop_blocked_s = loop_blocked_s
        self._watch_failing_s = watch_failing_s

    def live(self) -> Verdict:
        problems = []
        blocked = self._loop.blocked_for()
        if blocked > self._loop_blocked_s:
            problems.append(f"event loop blocked for {blocked:.1f} s (limit {self._loop_blocked_s:g} s)")
        now = time.monotonic()
        for informer in self._informers:
            since = informer.failing_since
            if since is not None and now - since > self._watch_failing_s:
                problems.append(
                    f"watch on {informer.name} failing for {now - since:.0f} s: {informer.stats.last_error[:200]}"
                )
        return Verdict(not problems, "; ".join(problems) or "ok")

    def ready(self) -> Verdict:
        waiting = [i.name for i in self._informers if not i.synced.is_set()]
        if waiting or not self._synced():
            return Verdict(False, f"not ready: watches not synced: {', '.join(waiting) or 'cache filling'}")
        elector = self._elector
        if elector is None:
            return Verdict(True, "ok: leader (no election)")
        contact = elector.contact_at
        limit = elector.config.lease_duration_s
        if contact is None or time.monotonic() - contact > limit:
            return Verdict(
                False, f"not ready: no answer about lease {elector.config.name} for over {limit:g} s"
            )
        return Verdict(True, "ok: leader" if elector.is_leader else "ok: standby")
