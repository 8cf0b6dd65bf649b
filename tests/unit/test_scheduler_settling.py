"""Writes that can wait hold back until a burst's pods run: the scheduler's `busy()` stays true from a
slot pod's bind request until the pod watch shows it started (or gone), and at most settleSeconds. No
I/O: the scheduler is fed records as its pod watch would feed them, and bind requests are taken off the
bind workers' stream by hand."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import anyio

from jobsched.core.convert import PodRecord
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
from jobsched.runtime.scheduling.queue import Tracked
from jobsched.runtime.scheduling.scheduler import Scheduler
from jobsched.settings import SchedulingSettings, Settings


def record(phase: str, node: str = "v1", **meta: Any) -> PodRecord:
    obj = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", **meta},
        "spec": {"schedulerName": "jobsched", "nodeName": node, "containers": [{"name": "c"}]},
        "status": {"phase": phase},
    }
    return PodRecord(obj, {})


def scheduler(settle_s: float = 120.0) -> Scheduler:
    settings = dataclasses.replace(Settings(), scheduling=SchedulingSettings(settle_s=settle_s))
    s = Scheduler(None, settings, Metrics(), clock=time.time)  # type: ignore[arg-type]  # no I/O here
    s.replace([])
    s.pods_replaced([])
    return s


def send_to_bind(s: Scheduler, t: Tracked) -> None:
    """As the scheduler sends a placed pod at its fire time; a bind worker then takes it (its request is
    in flight, which `busy()` does not count here)."""
    s._submit(t)
    assert s.binder._receive.receive_nowait() is t


async def test_busy_from_a_slot_pods_binding_until_it_runs() -> None:
    s = scheduler()
    pod = record("Pending", node="").pod
    t = s.queue.add(pod, ("virtual",), fire_at=time.time() - 1)
    assert not s.busy()
    send_to_bind(s, t)
    assert s.busy()
    s.pod_changed("MODIFIED", record("Pending"))  # bound, not started yet
    assert s.busy()
    s.pod_changed("MODIFIED", record("Running"))
    assert not s.busy()


async def test_a_pod_without_a_slot_does_not_hold_writes_and_a_deleted_one_settles() -> None:
    s = scheduler()
    plain = s.queue.add(record("Pending", node="").pod, ("virtual",), fire_at=None)
    send_to_bind(s, plain)
    assert not s.busy()
    slot = s.queue.add(record("Pending", node="").pod, ("virtual",), fire_at=time.time())
    send_to_bind(s, slot)
    assert s.busy()
    s.pod_changed("DELETED", record("Pending"))
    assert not s.busy()


async def test_a_pod_seen_running_or_failed_before_its_bind_reply_does_not_hold_writes() -> None:
    """A provider can start or refuse a pod within milliseconds of its Binding, so the watch may report
    it before the bind worker reads the reply; the reply must not mark it unsettled again."""
    for phase in ("Running", "Failed"):
        s = scheduler()
        t = s.queue.add(record("Pending", node="").pod, ("virtual",), fire_at=time.time() - 1)
        send_to_bind(s, t)
        assert s.busy()
        s.pod_changed("MODIFIED", record(phase))
        assert not s.busy(), phase
        s.binder._bound(t)  # the bind's reply, read after the watch event
        assert not s.busy(), phase


async def test_a_slot_pod_whose_bind_fails_does_not_hold_writes() -> None:
    """Its bind was sent, but the reply refused it (or its node went away first): the pod goes back to
    the queue unbound and, however often that repeats, holds nothing while it waits."""
    s = scheduler()
    t = s.queue.add(record("Pending", node="").pod, ("virtual",), fire_at=time.time() - 1)
    for _ in range(3):
        send_to_bind(s, t)
        assert s.busy()
        s._park(t)  # what the bind worker does with a failed bind
        assert not s.busy()
    send_to_bind(s, t)
    s._route(t, 0)  # what it does when the pod's node is gone before the bind
    assert not s.busy()


async def test_a_pod_that_never_starts_holds_writes_at_most_settle_seconds() -> None:
    s = scheduler(settle_s=0.2)
    t = s.queue.add(record("Pending", node="").pod, ("virtual",), fire_at=time.time())
    send_to_bind(s, t)
    assert s.busy()
    await anyio.sleep(0.25)
    assert not s.busy()


async def test_the_cron_engines_deferred_writes_wait_for_the_schedulers_burst_too() -> None:
    """Status writes, finalizer release and pruning (the housekeeper), hand-over clean-up and per-entry
    metrics ask `CronEngine.holding`, which is the engine's own busy window or the scheduler's burst."""
    parts = Parts(None, Settings(), Metrics(), "test")  # type: ignore[arg-type]  # no I/O here
    assert parts.scheduler is not None
    assert parts.engine is not None
    parts.scheduler.replace([])
    parts.scheduler.pods_replaced([])
    assert not parts.engine.holding()
    t = parts.scheduler.queue.add(record("Pending", node="").pod, ("virtual",), fire_at=time.time() - 1)
    send_to_bind(parts.scheduler, t)
    assert not parts.engine.busy()  # no storm of its own near
    assert parts.engine.holding()
    parts.scheduler.pod_changed("MODIFIED", record("Running"))
    assert not parts.engine.holding()
