"""The process: one task group that owns every task, from informers to bind workers.

Every replica runs the informers (a standby's cache is warm when it takes over) and serves
/metrics, /healthz and /readyz. Only the leader runs the writing half: scheduling, binding and the
cron engine. A leader that loses its lease stops writing at once and the process exits non-zero,
so the Deployment restarts it as a fresh candidate. SIGTERM/SIGINT cancel everything and hand the
lease back, so a standby need not wait out leaseDuration.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
import structlog

from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventWriter
from jobsched.kube.lease import LeaderElector, LeadershipLost, LeaseConfig
from jobsched.runtime import heap, http
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.scheduler import Scheduler
from jobsched.settings import Settings

log = structlog.get_logger(__name__)


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}"


async def _until_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("shutting down", signal=signal.Signals(signum).name)
            scope.cancel()
            return


@contextlib.asynccontextmanager
async def _leadership_lost_unwrapped() -> AsyncIterator[None]:
    """A lost lease ends the process with LeadershipLost itself, not inside a task group's group."""
    try:
        yield
    except BaseExceptionGroup as group:
        lost, rest = group.split(LeadershipLost)
        if lost is None or rest is not None:
            raise
        raise lost.exceptions[0] from None


async def run(settings: Settings, kubeconfig: str | None, identity: str | None = None) -> None:
    identity = identity or default_identity()
    metrics = Metrics()
    async with KubeClient.connect(kubeconfig, connections=settings.api.connections) as client:
        busy_checks: list[Callable[[], bool]] = []

        def busy() -> bool:
            return any(check() for check in busy_checks)

        events = EventWriter(client, identity, busy=busy)
        scheduler = Scheduler(client, settings, metrics, events)
        busy_checks.append(scheduler.busy)
        informer_parts: list[Callable[[], Coroutine[Any, Any, None]]] = [scheduler.run_informers]
        leader_parts: list[Callable[[], Coroutine[Any, Any, None]]] = [scheduler.run_leader]
        if settings.cron.enabled:
            from jobsched.runtime.cron_engine import CronEngine

            engine = CronEngine(client, settings, metrics, events, nodes=scheduler)
            busy_checks.append(engine.busy)
            informer_parts.append(engine.run_informers)
            leader_parts.append(engine.run_leader)

        async def lead() -> None:
            metrics.is_leader.set(1)
            async with anyio.create_task_group() as tg:
                for part in leader_parts:
                    tg.start_soon(part)

        elector: LeaderElector | None = None
        if settings.leader_election.enabled:
            le = settings.leader_election
            elector = LeaderElector(
                client,
                LeaseConfig(
                    le.lease_name,
                    le.lease_namespace,
                    identity,
                    le.lease_duration_s,
                    le.renew_deadline_s,
                    le.retry_period_s,
                ),
            )
        log.info("jobsched starting", identity=identity, scheduler_name=settings.scheduler_name)
        try:
            async with _leadership_lost_unwrapped(), anyio.create_task_group() as tg:
                tg.start_soon(_until_signal, tg.cancel_scope)
                tg.start_soon(
                    http.serve, settings.server.address, settings.server.port, metrics, scheduler.synced
                )
                for part in informer_parts:
                    tg.start_soon(part)
                tg.start_soon(events.run)
                tg.start_soon(heap.trim_while_idle, busy)
                if elector is None:
                    tg.start_soon(lead)
                else:
                    tg.start_soon(elector.run_while_leader, lead)
        finally:
            metrics.is_leader.set(0)
            if elector is not None:
                with anyio.CancelScope(shield=True):
                    await elector.release()
