"""Honest health on a real control plane: /healthz fails while the event loop is blocked or a watch keeps
failing, /readyz waits for every watch to list and for an answer about the lease. The side server runs
in its own thread, so it answers (truthfully) while the loop is stuck."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from jobsched.kube.lease import LeaderElector, LeaseConfig
from jobsched.runtime import http
from jobsched.runtime.health import Health, LoopWatch
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
from jobsched.settings import Settings
from tests.support.processes import free_port, http_get

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def serving(health: Health, loop: LoopWatch) -> AsyncIterator[int]:
    port = free_port()
    async with anyio.create_task_group() as tg:
        tg.start_soon(loop.run)
        tg.start_soon(http.serve, "127.0.0.1", port, Metrics(), health)
        with anyio.fail_after(10):
            while True:
                with contextlib.suppress(OSError):
                    await anyio.to_thread.run_sync(http_get, port, "/healthz")
                    break
                await anyio.sleep(0.05)
        yield port
        tg.cancel_scope.cancel()


async def get(port: int, path: str) -> tuple[int, str]:
    return await anyio.to_thread.run_sync(http_get, port, path)


async def test_healthz_fails_while_the_loop_is_blocked_and_recovers(kube: KubeClient) -> None:
    loop = LoopWatch()
    parts = Parts(kube, Settings(), Metrics(), "health", cron=False)
    health = Health(loop, parts.watches.informers, parts.ready, None, loop_blocked_s=0.5, watch_failing_s=60)
    async with serving(health, loop) as port:
        assert (await get(port, "/healthz"))[0] == 200
        answers: list[tuple[int, str]] = []

        def probe_while_blocked() -> None:
            time.sleep(1.2)  # the loop is blocked by now, past the 0.5 s limit
            answers.append(http_get(port, "/healthz"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, probe_while_blocked)
            await anyio.sleep(0.1)
            time.sleep(2.0)  # noqa: ASYNC251 - blocking the event loop on purpose
        [(status, text)] = answers
        assert status == 503
        assert "event loop blocked for" in text
        await anyio.sleep(0.6)
        assert (await get(port, "/healthz"))[0] == 200


async def test_readyz_waits_for_the_watches_and_healthz_sees_a_watch_failing(
    control_plane: ClusterState, tmp_path: Path
) -> None:
    # An apiserver that is not there: a closed port on loopback, with the real cluster's credentials.
    dead = tmp_path / "dead.kubeconfig"
    text = control_plane.kubeconfig.read_text().replace(str(control_plane.apiserver_port), str(free_port()))
    dead.write_text(text)
    async with KubeClient.connect(str(dead)) as client:
        loop = LoopWatch()
        parts = Parts(client, Settings(), Metrics(), "dead", cron=False)
        health = Health(
            loop, parts.watches.informers, parts.ready, None, loop_blocked_s=10, watch_failing_s=1
        )
        async with serving(health, loop) as port, anyio.create_task_group() as tg:
            tg.start_soon(parts.watches.run)
            status, text = await get(port, "/readyz")
            assert status == 503
            assert "watches not synced: nodes, pods" in text
            with anyio.fail_after(20):
                while (answer := await get(port, "/healthz"))[0] == 200:  # noqa: ASYNC110 - a probe polls
                    await anyio.sleep(0.2)
            assert answer[0] == 503
            assert "failing for" in answer[1]
            assert "ConnectionRefusedError" in answer[1]
            tg.cancel_scope.cancel()


async def test_readyz_says_leader_or_standby_and_fails_without_the_lease(kube: KubeClient) -> None:
    loop = LoopWatch()
    parts = Parts(kube, Settings(), Metrics(), "ready", cron=False)
    name = f"health-{free_port()}"
    elector = LeaderElector(kube, LeaseConfig(name, "default", "me", 15, 10, 2))
    health = Health(
        loop, parts.watches.informers, parts.ready, elector, loop_blocked_s=10, watch_failing_s=60
    )
    async with serving(health, loop) as port, anyio.create_task_group() as tg:
        tg.start_soon(parts.run_standby)
        with anyio.fail_after(30):
            while not parts.ready():  # noqa: ASYNC110 - readiness is polled, as a probe does
                await anyio.sleep(0.05)
        status, text = await get(port, "/readyz")
        assert (status, text.strip()) == (503, f"not ready: no answer about lease {name} for over 15 s")
        await elector.acquire()
        assert await get(port, "/readyz") == (200, "ok: leader")
        elector.is_leader = False  # what a standby looks like, while it can read the lease
        assert await get(port, "/readyz") == (200, "ok: standby")
        elector.contact_at = time.monotonic() - 16
        assert (await get(port, "/readyz"))[0] == 503
        tg.cancel_scope.cancel()
    await kube.request("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/default/leases/{name}")
