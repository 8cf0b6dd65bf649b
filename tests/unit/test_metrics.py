"""The metrics registry: process and Python collectors, the scheduling SLI with upstream's meaning, the
slowest pod of the last storm, dropped events counted, and queue gauges reported by the leader only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from kubernetes_asyncio.client import Configuration
from prometheus_client import generate_latest

from jobsched.core.convert import PodRecord
from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventRecord, ObjectRef
from jobsched.runtime.metrics import Metrics, attempts_label
from jobsched.runtime.parts import Parts
from jobsched.runtime.scheduling.scheduler import Scheduler
from jobsched.settings import Settings

FIRE = datetime(2030, 1, 1, tzinfo=UTC).timestamp()


def _client() -> KubeClient:
    """A client that is never connected: these parts only keep it."""
    return KubeClient(Configuration(host="https://127.0.0.1:9"), 1)


def _node(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": {}},
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def _pod(name: str, scheduled: str | None) -> dict[str, Any]:
    annotations = {"jobsched.io/scheduled-time": scheduled} if scheduled else {}
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "annotations": annotations},
        "spec": {
            "schedulerName": "jobsched",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
        },
        "status": {"phase": "Pending"},
    }


def _sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    return metrics.registry.get_sample_value(name, labels or {})


def test_process_and_python_collectors_are_registered() -> None:
    text = generate_latest(Metrics().registry).decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"):
        assert f"\n{name}" in text, name
    assert "python_gc_objects_collected_total" in text


@pytest.mark.parametrize(("attempts", "label"), [(0, "0"), (1, "1"), (14, "14"), (15, "15+"), (99, "15+")])
def test_attempts_label_is_capped_like_kube_scheduler(attempts: int, label: str) -> None:
    assert attempts_label(attempts) == label


def test_storm_max_is_the_slowest_pod_of_the_latest_instant() -> None:
    metrics = Metrics()
    gauge = "jobsched_storm_fire_to_bound_max_seconds"
    metrics.observe_fire_to_bound(FIRE, 0.4)
    metrics.observe_fire_to_bound(FIRE, 1.7)
    metrics.observe_fire_to_bound(FIRE, 0.9)
    assert _sample(metrics, gauge) == 1.7
    metrics.observe_fire_to_bound(FIRE + 60, 0.3)  # the next storm starts afresh
    assert _sample(metrics, gauge) == 0.3
    metrics.observe_fire_to_bound(FIRE, 9.0)  # a straggler of the older storm changes nothing
    assert _sample(metrics, gauge) == 0.3
    assert _sample(metrics, "jobsched_fire_to_bound_seconds_count") == 5


def _scheduler(now: list[float]) -> tuple[Scheduler, Metrics]:
    metrics = Metrics()
    scheduler = Scheduler(_client(), Settings(), metrics, clock=lambda: now[0])
    scheduler.replace([_node("regular-1")])
    scheduler.pods_replaced([])
    return scheduler, metrics


def test_sli_of_a_pre_staged_cron_pod_starts_at_its_fire_time() -> None:
    now = [FIRE - 30.0]  # seen and placed 30 s ahead of its slot
    scheduler, metrics = _scheduler(now)
    scheduler.pod_changed("ADDED", PodRecord(_pod("slot", "2030-01-01T00:00:00Z"), {}))
    scheduler.place_inbox("virtual")  # no virtual node: the chain moves on
    scheduler.place_inbox("regular")
    tracked = scheduler.queue.tracked["uid-slot"]
    assert (tracked.state.value, tracked.node, tracked.attempts) == ("gated", "regular-1", 2)
    now[0] = FIRE + 0.75
    scheduler.binder._bound(tracked)
    count = "scheduler_pod_scheduling_sli_duration_seconds_count"
    assert _sample(metrics, count, {"attempts": "2"}) == 1
    assert _sample(metrics, "scheduler_pod_scheduling_sli_duration_seconds_sum", {"attempts": "2"}) == 0.75
    assert _sample(metrics, "jobsched_storm_fire_to_bound_max_seconds") == 0.75


def test_sli_of_an_ordinary_pod_starts_when_it_is_first_seen() -> None:
    now = [1000.0]
    scheduler, metrics = _scheduler(now)
    scheduler.pod_changed("ADDED", PodRecord(_pod("plain", None), {}))
    now[0] = 1002.5
    scheduler.place_inbox("virtual")
    scheduler.place_inbox("regular")
    scheduler.binder._bound(scheduler.queue.tracked["uid-plain"])
    assert _sample(metrics, "scheduler_pod_scheduling_sli_duration_seconds_sum", {"attempts": "2"}) == 2.5
    assert _sample(metrics, "jobsched_fire_to_bound_seconds_count") == 0  # not a cron pod


async def test_a_standby_reports_capacity_but_not_the_queue() -> None:
    now = [1000.0]
    scheduler, metrics = _scheduler(now)
    scheduler.pod_changed("ADDED", PodRecord(_pod("waiting", None), {}))
    with anyio.move_on_after(0.2):
        await scheduler.run_standby()
    assert _sample(metrics, "jobsched_domain_nodes", {"domain": "regular"}) == 1
    assert "scheduler_pending_pods{" not in generate_latest(metrics.registry).decode()
    scheduler.update_queue_gauges()  # what the leader's gauges loop runs
    assert _sample(metrics, "scheduler_pending_pods", {"queue": "active"}) == 1


def test_dropped_events_are_counted() -> None:
    metrics = Metrics()
    parts = Parts(_client(), Settings(), metrics, "test", scheduling=False, cron=False)
    overflow = 3
    for index in range(50_000 + overflow):  # the writer keeps 50,000 distinct events
        ref = ObjectRef("Pod", "ns", f"p-{index}")
        parts.events.emit(EventRecord(ref, "Normal", "Scheduled", "Binding", "assigned"))
    assert parts.events.pending == 50_000
    assert _sample(metrics, "jobsched_events_dropped_total") == overflow
