"""The parts of a jobsched process, wired together: the scheduler, the cron engine, their watches and the
event writer. `jobsched run` runs them under leader election (runtime.supervisor); tests run the same
parts in-process, with or without one of them.

Every replica runs the standby half (watches, parsing, capacity gauges, the event writer); only the
leader runs the writing half (placement, binding, staging, housekeeping).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import anyio

from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventWriter
from jobsched.runtime.cron.engine import CronEngine
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.scheduling.scheduler import Scheduler
from jobsched.runtime.watches import Watches
from jobsched.settings import Settings


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Parts:
    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        metrics: Metrics,
        identity: str,
        *,
        scheduling: bool = True,
        cron: bool | None = None,
        clock: Callable[[], float] = time.time,
        cron_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.metrics = metrics
        self.events = EventWriter(client, identity, busy=self.busy, on_drop=metrics.events_dropped.inc)
        self.scheduler = Scheduler(client, settings, metrics, self.events, clock) if scheduling else None
        run_cron = settings.cron.enabled if cron is None else cron
        self.engine = (
            CronEngine(
                client,
                settings,
                metrics,
                self.events,
                cron_clock,
                nodes=self.scheduler,
                burst=self.scheduler.busy if self.scheduler is not None else lambda: False,
            )
            if run_cron
            else None
        )
        self.watches = Watches(client, settings, self.scheduler, self.engine)

    def busy(self) -> bool:
        """A storm is near or binding: writes that can wait, wait."""
        return (self.scheduler is not None and self.scheduler.busy()) or (
            self.engine is not None and self.engine.busy()
        )

    def ready(self) -> bool:
        """Every watch has listed (and the scheduler's cache is filled)."""
        return self.watches.synced() and (self.scheduler is None or self.scheduler.synced())

    async def run_standby(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.watches.run)
            tg.start_soon(self.events.run)
            if self.scheduler is not None:
                tg.start_soon(self.scheduler.run_standby)
            if self.engine is not None:
                tg.start_soon(self.engine.run_standby)

    async def run_leader(self) -> None:
        self.metrics.is_leader.set(1)
        try:
            async with anyio.create_task_group() as tg:
                if self.scheduler is not None:
                    tg.start_soon(self.scheduler.run_leader)
                if self.engine is not None:
                    tg.start_soon(self.engine.run_leader)
        finally:
            self.metrics.is_leader.set(0)

    async def run(self) -> None:
        """Both halves, without leader election (one replica, or a test)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.run_standby)
            tg.start_soon(self.run_leader)
