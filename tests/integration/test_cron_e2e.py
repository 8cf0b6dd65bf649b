"""The cron engine and the scheduler together, as one real `jobsched run` process.

These are the issue's end-to-end promises: a storm of entries on one instant becomes exactly one pod per
entry, staged before the instant and bound at or after it, never before; and a process killed between
staging and the instant, then restarted, leaves no duplicate and no missing pod.

A separate process cannot have its clock shifted, so each test waits for a real minute boundary (at
least SLOT_AWAY_S away, so the process can start and stage first). The schedule names that one minute
and hour, so no later slot fires while a test is running. Each test has its own scheduler name and node
label (ClusterSlice), and its entries name that scheduler, so nothing else in the session touches them.
Time bounds (anyio.fail_after) are hang guards, not timing assertions.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from anyio.abc import Process

from bench.kubeops import strip_pod_finalizers
from jobsched.core.cronspec import CronEntry, parse_configmap
from jobsched.core.naming import rfc3339, slot_object_name
from jobsched.core.vocabulary import ENTRY_LABEL, SCHEDULED_TIME_ANNOTATION
from jobsched.devcluster.cluster import ClusterState
from jobsched.devcluster.nodes import NodeShape
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer
from tests.integration.scheduling import ClusterSlice
from tests.integration.test_run_process import free_port, http_get

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SLOT_AWAY_S = 35.0  # the slot is the first minute boundary at least this far away
CONTAINER = {"name": "job", "image": "busybox", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
BIG_NODE = NodeShape(cpu="1000", memory="4Ti", pods=1000)


def coming_slot() -> datetime:
    now = datetime.now(UTC)
    slot = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (slot - now).total_seconds() < SLOT_AWAY_S:
        slot += timedelta(minutes=1)
    return slot


def storm_configmap(bed: ClusterSlice, name: str, slot: datetime, names: list[str]) -> dict[str, Any]:
    """One ConfigMap whose entries all fire at `slot` (and then not again for a day)."""
    schedule = f"{slot.minute} {slot.hour} * * *"
    spec = {"schedulerName": bed.scheduler_name, "containers": [CONTAINER]}
    entries = [{"name": n, "schedule": schedule, "template": {"spec": spec}} for n in names]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": bed.namespace, "labels": {"jobsched.io/cron": "true"}},
        "data": {"crons.yaml": yaml.safe_dump({"entries": entries})},
    }


class BindWatch:
    """Our own watch on the namespace's slot pods: the wall time each pod was first seen bound.

    The watch sees a binding after it happened, so a first sighting at or after T does not prove the
    binding was; but one before T proves it was early, which is the failure this is here to catch.
    """

    def __init__(self) -> None:
        self.pods: dict[str, dict[str, Any]] = {}
        self.bound_at: dict[str, float] = {}
        self._changed = anyio.Event()

    def replace(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.apply("ADDED", item)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        self._changed.set()
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self.pods.pop(name, None)
            return
        self.pods[name] = obj
        if obj["spec"].get("nodeName") and name not in self.bound_at:
            self.bound_at[name] = time.time()

    async def wait(self, check: Callable[[], bool], within_s: float) -> None:
        with anyio.fail_after(within_s):
            while not check():
                self._changed = anyio.Event()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def watching(kube: KubeClient, namespace: str) -> AsyncIterator[BindWatch]:
    watch = BindWatch()
    informer = Informer(
        kube, f"/api/v1/namespaces/{namespace}/pods", watch, {"labelSelector": ENTRY_LABEL}, name="test"
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(30):
            await informer.synced.wait()
        yield watch
        tg.cancel_scope.cancel()


class JobschedProcess:
    """Starts `jobsched run` processes (scheduler and cron engine) on one config, logging to tmp_path."""

    def __init__(self, control_plane: ClusterState, tmp_path: Path, config: dict[str, Any]) -> None:
        self.kubeconfig = str(control_plane.kubeconfig)
        self.tmp_path = tmp_path
        self.config = tmp_path / "jobsched.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.started: list[tuple[Process, Path]] = []
        self.port = 0

    async def start(self) -> Process:
        self.port = free_port()
        log = self.tmp_path / f"jobsched-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = await anyio.open_process(
                [sys.executable, "-m", "jobsched", "run", "--config", str(self.config),
                 "--kubeconfig", self.kubeconfig, "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.started.append((proc, log))
        return proc

    async def wait_ready(self, proc: Process) -> None:
        with anyio.fail_after(60):
            while True:
                assert proc.returncode is None, self.started[-1][1].read_text()
                with contextlib.suppress(OSError):
                    if http_get(self.port, "/readyz")[0] == 200:
                        return
                await anyio.sleep(0.2)

    def metric(self, sample: str) -> float:
        """The value of one sample line of the newest process's /metrics (0 if absent)."""
        status, text = http_get(self.port, "/metrics")
        assert status == 200
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        return 0.0

    async def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                with anyio.move_on_after(15):
                    await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def storm_bed(
    kube: KubeClient, namespace: str, bodies: list[dict[str, Any]], bed: ClusterSlice
) -> AsyncIterator[list[CronEntry]]:
    """A node for the slice, the cron ConfigMaps; afterwards all of it gone, pod finalizers included.

    No namespace controller runs here, and the pods keep jobsched.io/tracking once the process is
    stopped, so the test deletes what it made itself.
    """
    entries: list[CronEntry] = []
    try:
        await bed.add_node("virtual", BIG_NODE)
        for body in bodies:
            resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
            assert resp.status == 201, resp.message()
            parsed, problems = parse_configmap(body, bed.scheduler_name)
            assert problems == []
            entries.extend(parsed)
        yield entries
    finally:
        with anyio.CancelScope(shield=True):
            await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps")
            await strip_pod_finalizers(kube, namespace)
            await kube.request(
                "DELETE", f"/api/v1/namespaces/{namespace}/pods", params={"gracePeriodSeconds": "0"}
            )
            await bed.remove_nodes()


def scheduled_condition_time(pod: dict[str, Any]) -> datetime | None:
    for condition in pod["status"].get("conditions") or []:
        if condition["type"] == "PodScheduled" and condition["status"] == "True":
            return datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00"))
    return None


def assert_one_pod_per_entry(
    pods: dict[str, dict[str, Any]], entries: list[CronEntry], slot: datetime
) -> None:
    assert sorted(pods) == sorted(slot_object_name(e, slot) for e in entries)
    labels = [p["metadata"]["labels"][ENTRY_LABEL] for p in pods.values()]
    assert len(set(labels)) == len(entries)
    for pod in pods.values():
        assert pod["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] == rfc3339(slot)


async def test_storm_of_500_entries_binds_exactly_once_never_before_its_slot(
    kube: KubeClient, namespace: str, control_plane: ClusterState, tmp_path: Path
) -> None:
    """500 entries on one instant (two ConfigMaps of 250): 500 pods, created before T, bound at or after T."""
    bed = ClusterSlice(kube, namespace)
    slot = coming_slot()
    bodies = [
        storm_configmap(bed, f"storm-{part}", slot, [f"e{part}-{i:03d}" for i in range(250)]) for part in "ab"
    ]
    config = {**bed.config(), "cron": {"minLeadSeconds": 12, "maxLeadSeconds": 25, "leadMarginSeconds": 5}}
    jobsched = JobschedProcess(control_plane, tmp_path, config)
    async with storm_bed(kube, namespace, bodies, bed) as entries, watching(kube, namespace) as watch:
        try:
            proc = await jobsched.start()
            await jobsched.wait_ready(proc)
            away = (slot - datetime.now(UTC)).total_seconds()
            await watch.wait(lambda: len(watch.pods) >= 500, within_s=away + 60)
            await watch.wait(
                lambda: len(watch.bound_at) >= 500, within_s=(slot - datetime.now(UTC)).total_seconds() + 60
            )
            created = jobsched.metric('jobsched_cron_fires_total{outcome="created"}')
        finally:
            await jobsched.stop_all()
        pods = await bed.pods()
    assert_one_pod_per_entry(pods, entries, slot)
    assert created == 500
    for pod in pods.values():
        stamp = datetime.fromisoformat(pod["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        assert stamp < slot, f"{pod['metadata']['name']} was created at {stamp}, not before {slot}"
        assert pod["spec"]["nodeName"] == bed.nodes[0]
        # The apiserver stamps PodScheduled when it stores the Binding, truncated to the second; T is
        # on a whole second, so a binding before T would show a time before T.
        scheduled = scheduled_condition_time(pod)
        assert scheduled is not None, pod["status"]
        assert scheduled >= slot, (pod["metadata"]["name"], scheduled)
    first_bound = min(watch.bound_at.values())
    assert first_bound >= slot.timestamp(), (
        f"a pod was seen bound {slot.timestamp() - first_bound:.3f}s before T"
    )


async def test_kill_between_staging_and_slot_leaves_no_duplicate_and_no_gap(
    kube: KubeClient, namespace: str, control_plane: ClusterState, tmp_path: Path
) -> None:
    """SIGKILL once every pod is staged, restart at once: the new process binds them, creating none again.

    The restarted engine recovers the slot from the staged pods' scheduled-time annotation, so it does not
    stage the slot again; the restarted scheduler finds the pods pending and binds them at T.
    """
    bed = ClusterSlice(kube, namespace)
    slot = coming_slot()
    count = 100
    bodies = [storm_configmap(bed, "killed", slot, [f"e{i:03d}" for i in range(count)])]
    config = {**bed.config(), "cron": {"minLeadSeconds": 20, "maxLeadSeconds": 25, "leadMarginSeconds": 5}}
    jobsched = JobschedProcess(control_plane, tmp_path, config)
    async with storm_bed(kube, namespace, bodies, bed) as entries, watching(kube, namespace) as watch:
        try:
            first = await jobsched.start()
            await jobsched.wait_ready(first)
            away = (slot - datetime.now(UTC)).total_seconds()
            await watch.wait(lambda: len(watch.pods) >= count, within_s=away + 60)
            assert datetime.now(UTC) < slot, "the test needs the pods staged before T to kill in between"
            first.kill()
            await first.wait()
            assert first.returncode == -signal.SIGKILL
            staged = dict(watch.pods)
            assert watch.bound_at == {}, "nothing is bound before T"
            second = await jobsched.start()
            await watch.wait(
                lambda: len(watch.bound_at) >= count, within_s=(slot - datetime.now(UTC)).total_seconds() + 60
            )
            await jobsched.wait_ready(second)
            # The restarted engine has loaded every entry (and so decided about their slot) by now.
            with anyio.fail_after(30):
                while True:
                    if jobsched.metric("jobsched_cron_entries") >= count:
                        break
                    await anyio.sleep(0.2)
            created_again = jobsched.metric('jobsched_cron_fires_total{outcome="created"}')
        finally:
            await jobsched.stop_all()
        pods = await bed.pods()
    assert len(staged) == count
    assert_one_pod_per_entry(pods, entries, slot)
    assert {name: p["metadata"]["uid"] for name, p in pods.items()} == {
        name: p["metadata"]["uid"] for name, p in staged.items()
    }, "the pods bound are the ones staged before the kill, not new ones"
    assert created_again == 0
    assert all(p["spec"].get("nodeName") for p in pods.values())
    for pod in pods.values():
        scheduled = scheduled_condition_time(pod)
        assert scheduled is not None, pod["status"]
        assert scheduled >= slot, (pod["metadata"]["name"], scheduled)
    assert min(watch.bound_at.values()) >= slot.timestamp()
