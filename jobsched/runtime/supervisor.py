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
from collections.abc import AsyncIterator

import anyio
import structlog

from jobsched.kube.client import KubeClient
from jobsched.kube.lease import LeaderElector, LeadershipLost, LeaseConfig
from jobsched.runtime import heap, http
from jobsched.runtime.health import Health, LoopWatch
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
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


async def run(
    settings: Settings, kubeconfig: str | None, identity: str | None = None, *, context: str | None = None
) -> None:
    identity = identity or default_identity()
    metrics = Metrics(per_entry=settings.metrics.per_entry)
    async with KubeClient.connect(
        kubeconfig, connections=settings.api.connections, context=context
    ) as client:
        parts = Parts(client, settings, metrics, identity)
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
        loop = LoopWatch()
        health = Health(
            loop,
            parts.watches.informers,
            parts.ready,
            elector,
            loop_blocked_s=settings.server.loop_blocked_s,
            watch_failing_s=settings.server.watch_failing_s,
        )
        log.info("jobsched starting", identity=identity, scheduler_name=settings.scheduler_name)
        try:
            async with _leadership_lost_unwrapped(), anyio.create_task_group() as tg:
                tg.start_soon(_until_signal, tg.cancel_scope)
                tg.start_soon(loop.run)
                tg.start_soon(http.serve, settings.server.address, settings.server.port, metrics, health)
                tg.start_soon(parts.run_standby)
                tg.start_soon(heap.tidy_while_idle, parts.busy)
                if elector is None:
                    tg.start_soon(parts.run_leader)
                else:
                    tg.start_soon(elector.run_while_leader, parts.run_leader)
        finally:
            if elector is not None:
                with anyio.CancelScope(shield=True):
                    await elector.release()
