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

import signal
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from tests.support.cluster_slice import ClusterSlice
from tests.support.processes import JobschedProcess
from tests.support.storm import (
    assert_one_pod_per_entry,
    coming_slot,
    scheduled_condition_time,
    storm_bed,
    storm_configmap,
    watching,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


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
