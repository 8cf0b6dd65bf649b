"""CPU seconds and peak RSS of the scheduler processes under test, sampled with psutil.

Peak RSS needs sampling (a process's own high-water mark is not visible from outside on every
kernel); the harness samples once a second and once more just before it stops the processes, so the
CPU total covers the whole run. Children (e.g. worker processes) are included.

Every sample is kept as (monotonic time, CPU so far), and the harness samples every 50 ms from just
before the fire instant until the storm is bound, so `cpu_between(fire, last bound)` (the burst's CPU)
is exact to within 0.1 s of window.

The harness keeps two more samplers beside the scheduler's, for the CPU the rest of the machine spent
in the same windows: the control plane (kube-apiserver, etcd, kwok) and the harness's own process
(its watch and, for the raw system, raw's client), both without children (the harness spawns the
others; the control plane has none).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]


@dataclass
class UsageSampler:
    """Tracks a set of PIDs; sample() often, then read cpu_s and peak_rss_mb."""

    pids: list[int] = field(default_factory=list)
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    peak_rss_bytes: int = 0
    series: list[tuple[float, float]] = field(default_factory=list)  # (monotonic time, CPU seconds so far)
    children: bool = True  # count each tracked process's descendants too

    def track(self, pids: Iterable[int]) -> None:
        self.pids.extend(pids)

    def sample(self) -> None:
        at = time.monotonic()
        rss = 0
        for pid in self.pids:
            try:
                proc = psutil.Process(pid)
                family = [proc, *proc.children(recursive=True)] if self.children else [proc]
            except psutil.Error:
                continue
            for member in family:
                with contextlib.suppress(psutil.Error):
                    times = member.cpu_times()
                    self.cpu_by_pid[member.pid] = times.user + times.system
                    rss += member.memory_info().rss
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        if self.cpu_by_pid:
            self.series.append((at, sum(self.cpu_by_pid.values())))

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds spent between two monotonic times: from the last sample at or before `start` to
        the first at or after `end` (so the window holds [start, end], widened by the sampling period)."""
        before = [cpu for at, cpu in self.series if at <= start]
        after = [cpu for at, cpu in self.series if at >= end]
        if not before or not after:
            return None
        return round(after[0] - before[-1], 3)

    def cpu_until(self, end: float) -> float | None:
        """CPU seconds from the processes' start to the last sample at or before `end`."""
        before = [cpu for at, cpu in self.series if at <= end]
        return round(before[-1], 3) if before else None

    @property
    def cpu_s(self) -> float | None:
        return round(sum(self.cpu_by_pid.values()), 2) if self.cpu_by_pid else None

    @property
    def peak_rss_mb(self) -> float | None:
        return round(self.peak_rss_bytes / 2**20, 1) if self.peak_rss_bytes else None
