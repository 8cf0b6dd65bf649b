"""Adopted batch/v1 CronJobs, with kube-controller-manager's cronjob, job and garbage-collector
controllers running: each slot fires exactly once, with batch/v1 meaning, whoever fires it.

kube-controller-manager's clock cannot be shifted, so every test waits for real minute boundaries
(at least 45 s away, so jobsched can start and pre-stage first), and groups many CronJobs, one per
scenario, on the same slots. jobsched runs as a real `jobsched run` process (killed and restarted
where a test says so) in the test's slice of the cluster (its own scheduler name and node). No
kube-scheduler runs: a Job the native controller makes keeps its pods Pending, which is enough to
tell who fired a slot. Time bounds are hang guards, not timing assertions.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from bench.lib.kubeops import strip_pod_finalizers
from jobsched.core.cronjobspec import parse_cronjob
from jobsched.core.podbuild import build_adopted_job
from jobsched.core.vocabulary import CRONJOB_SCHEDULED_TIMESTAMP, SCHEDULED_TIME_ANNOTATION
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from tests.support.cluster_slice import ClusterSlice
from tests.support.cronjobs import (
    CronJobs,
    coming_slots,
    cronjob_body,
    job_name,
    kubectl_cronjobs,
    made_by_jobsched,
    minute_schedule,
    native_controllers,
    pods_of,
)
from tests.support.processes import JobschedProcess
from tests.support.storm import BIG_NODE, scheduled_condition_time

pytestmark = [pytest.mark.integration, pytest.mark.timeout(480)]

JOBSCHED = "jobsched"
NATIVE = "native"


@pytest.fixture(scope="module")
def kcm(control_plane: ClusterState) -> Iterator[None]:
    with native_controllers(control_plane):
        yield


def config(bed: ClusterSlice) -> dict[str, Any]:
    cron = {"minLeadSeconds": 15, "maxLeadSeconds": 25, "leadMarginSeconds": 5, "claimMarginSeconds": 2}
    return {**bed.config(), "cron": cron}


async def sleep_until(moment: datetime) -> None:
    await anyio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


@contextlib.asynccontextmanager
async def adopted_bed(
    kube: KubeClient, bed: ClusterSlice, jobsched: JobschedProcess
) -> AsyncIterator[CronJobs]:
    """A node for the slice; afterwards CronJobs, Jobs and pods gone (the Job controller's pod
    finalizers too) and every jobsched process stopped."""
    cronjobs = CronJobs(kube, bed.namespace)
    try:
        await bed.add_node("virtual", BIG_NODE)
        yield cronjobs
    finally:
        with anyio.CancelScope(shield=True):
            await jobsched.stop_all()
            await cronjobs.delete_all()
            await strip_pod_finalizers(kube, bed.namespace)
            await kube.request(
                "DELETE", f"/api/v1/namespaces/{bed.namespace}/pods", params={"gracePeriodSeconds": "0"}
            )
            await bed.remove_nodes()


def who_fired(jobs: dict[str, dict[str, Any]], cronjob: str) -> dict[str, str]:
    """{job name: "jobsched" | "native"} of one CronJob's Jobs."""
    return {
        name: JOBSCHED if made_by_jobsched(job) else NATIVE
        for name, job in jobs.items()
        if any(ref.get("name") == cronjob for ref in job["metadata"].get("ownerReferences") or [])
    }


def assert_bound_at_or_after(
    pods: list[dict[str, Any]], job: str, slot: datetime, node: str, count: int = 1
) -> None:
    mine = pods_of(pods, job)
    assert len(mine) >= count, (job, [p["metadata"]["name"] for p in pods])
    for pod in mine:
        assert pod["spec"].get("nodeName") == node, pod["metadata"]["name"]
        assert pod["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] == slot.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        scheduled = scheduled_condition_time(pod)
        assert scheduled is not None
        assert scheduled >= slot, (pod["metadata"]["name"], scheduled)


def reasons(events: list[dict[str, Any]], who: str | None = None) -> list[str]:
    """Event reasons, optionally only jobsched's (`who="jobsched"`) or the native controller's."""

    def source(event: dict[str, Any]) -> str:
        component = event.get("reportingComponent") or (event.get("source") or {}).get("component") or ""
        return JOBSCHED if component.startswith("jobsched") else NATIVE

    return [e["reason"] for e in events if who is None or source(e) == who]


async def test_adopted_cronjobs_fire_each_slot_once_with_batch_v1_meaning(
    kube: KubeClient, namespace: str, control_plane: ClusterState, kcm: None, tmp_path: Path
) -> None:
    """Seven adopted CronJobs on two slots: each concurrencyPolicy, suspend (from the start, and called
    off after its Job was pre-staged), a Job retried under backoffLimit, and Indexed completions."""
    bed = ClusterSlice(kube, namespace)
    t1, t2 = coming_slots(2)
    schedule = minute_schedule([t1, t2])
    indexed_job = {
        "completionMode": "Indexed",
        "completions": 3,
        "parallelism": 3,
        "activeDeadlineSeconds": 600,
    }
    bodies = [
        cronjob_body(bed, "allow", schedule, run_s=80),
        cronjob_body(bed, "forbid", schedule, run_s=70, concurrencyPolicy="Forbid"),
        cronjob_body(bed, "replace", schedule, run_s=80, concurrencyPolicy="Replace"),
        cronjob_body(bed, "paused", schedule, suspend=True, startingDeadlineSeconds=20),
        cronjob_body(bed, "called-off", schedule),
        cronjob_body(bed, "retried", schedule, fail_s=2, job={"backoffLimit": 1}),
        cronjob_body(bed, "indexed", schedule, run_s=5, job=indexed_job),
    ]
    jobsched = JobschedProcess(control_plane, tmp_path, config(bed))
    async with adopted_bed(kube, bed, jobsched) as cronjobs:
        for body in bodies:
            await cronjobs.create(body)
        proc = await jobsched.start()
        await jobsched.wait_ready(proc)
        # Suspended once its slot's Job exists, before the slot: jobsched calls the slot off.
        staged = await cronjobs.wait_job(
            job_name("called-off", t1), within_s=(t1 - datetime.now(UTC)).total_seconds()
        )
        assert datetime.now(UTC) < t1 - timedelta(seconds=5), (
            "the test needs the Job pre-staged well before T1"
        )
        await cronjobs.patch("called-off", {"spec": {"suspend": True}})
        await sleep_until(t1 + timedelta(seconds=8))
        at_t1 = kubectl_cronjobs(control_plane, namespace)
        status_t1 = {
            name: (await cronjobs.get(name))["status"] for name in ("allow", "called-off", "indexed")
        }
        # Resumed after its deadline for T1 passed: T1 stays missed (batch/v1), T2 fires.
        await sleep_until(t1 + timedelta(seconds=25))
        await cronjobs.patch("paused", {"spec": {"suspend": False}})
        await sleep_until(t2 + timedelta(seconds=8))
        at_t2 = kubectl_cronjobs(control_plane, namespace)
        allow_t2 = (await cronjobs.get("allow"))["status"]
        # Forbid: T1's Job ends at T2 + 10 s; the native controller starts T2 then.
        await cronjobs.wait_job(job_name("forbid", t2), within_s=60)
        with anyio.fail_after(60):
            while True:
                retried = (await cronjobs.jobs())[job_name("retried", t1)]
                indexed = (await cronjobs.jobs())[job_name("indexed", t1)]
                conditions = {
                    c["type"] for c in (retried["status"].get("conditions") or []) if c["status"] == "True"
                }
                if "Failed" in conditions and indexed["status"].get("succeeded") == 3:
                    break
                await anyio.sleep(1)
        jobs = await cronjobs.jobs()
        pods = await cronjobs.pods()
        events = {
            body["metadata"]["name"]: await cronjobs.events(body["metadata"]["name"]) for body in bodies
        }
        all_events = await cronjobs.events()
        statuses = {
            body["metadata"]["name"]: (await cronjobs.get(body["metadata"]["name"]))["status"]
            for body in bodies
        }
        left = jobsched.metric('jobsched_cron_fires_total{outcome="left_to_native"}')
        # Cascading deletion through the ownerReference.
        await kube.request(
            "DELETE", f"{cronjobs.base}/cronjobs/indexed", params={"propagationPolicy": "Background"}
        )
        with anyio.fail_after(60):
            while any(name.startswith("indexed-") for name in await cronjobs.jobs()):  # noqa: ASYNC110 - polls the API
                await anyio.sleep(0.5)
    node = bed.nodes[0]
    assert proc.returncode in (None, 0, -signal.SIGTERM)

    # Allow: both slots by jobsched, the second running beside the first.
    assert who_fired(jobs, "allow") == {job_name("allow", t1): JOBSCHED, job_name("allow", t2): JOBSCHED}
    assert_bound_at_or_after(pods, job_name("allow", t1), t1, node)
    assert_bound_at_or_after(pods, job_name("allow", t2), t2, node)
    assert sorted(ref["name"] for ref in allow_t2["active"]) == [job_name("allow", t1), job_name("allow", t2)]
    assert allow_t2["lastScheduleTime"] == t2.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert at_t2["allow"]["ACTIVE"] == "2"
    assert at_t1["allow"]["ACTIVE"] == "1"
    assert at_t1["allow"]["LAST SCHEDULE"] in {f"{s}s" for s in range(7, 12)}, at_t1["allow"]

    # Forbid: T2 was held back while T1's Job ran, then started by the native controller when it ended.
    assert who_fired(jobs, "forbid") == {job_name("forbid", t1): JOBSCHED, job_name("forbid", t2): NATIVE}
    assert "JobAlreadyActive" in reasons(events["forbid"], NATIVE)
    assert left >= 1

    # Replace: T2's Job replaced T1's, which jobsched deleted once T2's pod was bound.
    assert who_fired(jobs, "replace") == {job_name("replace", t2): JOBSCHED}
    assert_bound_at_or_after(pods, job_name("replace", t2), t2, node)
    assert "SuccessfulDelete" in reasons(events["replace"], JOBSCHED)
    assert [ref["name"] for ref in statuses["replace"]["active"]] == [job_name("replace", t2)]

    # Suspended until after T1's deadline: T1 never ran, T2 did.
    assert who_fired(jobs, "paused") == {job_name("paused", t2): JOBSCHED}

    # Called off before T1: its pre-staged Job deleted, the claim released; suspended, T2 never came.
    assert who_fired(jobs, "called-off") == {}
    assert pods_of(pods, staged["metadata"]["name"]) == []
    assert status_t1["called-off"].get("lastScheduleTime") is None
    assert status_t1["called-off"].get("active") in (None, [])
    assert "SuccessfulDelete" in reasons(events["called-off"], JOBSCHED)

    # backoffLimit 1: two pods, both placed by jobsched (the retry at once: its slot has passed), then Failed.
    retried_t1 = jobs[job_name("retried", t1)]
    assert who_fired(jobs, "retried")[job_name("retried", t1)] == JOBSCHED
    assert len(pods_of(pods, job_name("retried", t1))) == 2
    assert_bound_at_or_after(pods, job_name("retried", t1), t1, node, count=2)
    failed = [c for c in retried_t1["status"]["conditions"] if c["type"] == "Failed"]
    assert failed[0]["reason"] == "BackoffLimitExceeded"

    # Indexed: three pods, indexes 0-2, bound at T1; complete; its deadline counts from T1.
    indexed_t1 = jobs[job_name("indexed", t1)]
    indexed_pods = pods_of(pods, job_name("indexed", t1))
    assert sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in indexed_pods
    ) == ["0", "1", "2"]
    assert_bound_at_or_after(pods, job_name("indexed", t1), t1, node, count=3)
    started = datetime.fromisoformat(indexed_t1["status"]["startTime"].replace("Z", "+00:00"))
    assert started < t1, "pre-staged: the Job controller started it before its slot"
    assert indexed_t1["spec"]["activeDeadlineSeconds"] == 600 + int((t1 - started).total_seconds())
    assert indexed_t1["metadata"]["annotations"][CRONJOB_SCHEDULED_TIMESTAMP] == t1.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert indexed_t1["metadata"]["ownerReferences"][0]["controller"] is True
    assert statuses["indexed"]["lastSuccessfulTime"] >= t1.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status_t1["indexed"]["lastScheduleTime"] == t1.strftime("%Y-%m-%dT%H:%M:%SZ")

    # Events on the CronJob, as the native controller's: jobsched's creates, the native bookkeeping.
    assert reasons(events["indexed"], JOBSCHED).count("SuccessfulCreate") == 2
    assert "SawCompletedJob" in reasons(events["indexed"], NATIVE)
    assert "UnexpectedJob" not in reasons(all_events)
    assert "FailedCreate" not in reasons(all_events)


async def test_hand_over_and_back_across_slots_and_restarts_fires_every_slot_once(
    kube: KubeClient, namespace: str, control_plane: ClusterState, kcm: None, tmp_path: Path
) -> None:
    """Six CronJobs over three slots, each handed between jobsched and the native controller in its own
    way, with jobsched killed (SIGKILL) and restarted twice: once with hand-overs done while it was down
    (and a Job it had made but not claimed), once between staging T2 and T2 itself."""
    bed = ClusterSlice(kube, namespace)
    t1, t2, t3 = coming_slots(3)
    schedule = minute_schedule([t1, t2, t3])
    managed = {"into": False, "back": True, "flip": True, "late": False, "restart": True, "crash": True}
    jobsched = JobschedProcess(control_plane, tmp_path, config(bed))
    async with adopted_bed(kube, bed, jobsched) as cronjobs:
        for name, labelled in managed.items():
            await cronjobs.create(cronjob_body(bed, name, schedule, managed=labelled, run_s=5))
        first = await jobsched.start()
        await jobsched.wait_ready(first)
        await sleep_until(t1 + timedelta(seconds=8))
        # Down, and meanwhile: one CronJob handed over, one handed back, and a T2 Job as a jobsched
        # killed between creating it and claiming it would have left.
        first.kill()
        await first.wait()
        await cronjobs.manage("into", True)
        await cronjobs.manage("back", False)
        crash = await cronjobs.get("crash")
        entry, problems = parse_cronjob(crash, bed.scheduler_name)
        assert entry is not None, problems
        half_done = build_adopted_job(entry, t2, bed.scheduler_name, now=datetime.now(UTC), previous=t1)
        resp = await kube.request("POST", f"{cronjobs.base}/jobs", half_done)
        assert resp.status == 201, resp.message()
        await sleep_until(t2 - timedelta(seconds=40))
        second = await jobsched.start()
        await jobsched.wait_ready(second)
        # Handed back after jobsched staged T2 (and before T2): jobsched's Job still runs T2.
        await cronjobs.wait_job(job_name("flip", t2), within_s=(t2 - datetime.now(UTC)).total_seconds())
        assert datetime.now(UTC) < t2 - timedelta(seconds=7)
        await cronjobs.manage("flip", False)
        await sleep_until(t2 - timedelta(seconds=6))
        second.send_signal(signal.SIGKILL)
        await second.wait()
        staged = {name: job["metadata"]["uid"] for name, job in (await cronjobs.jobs()).items()}
        # Handed over too late for jobsched to take T2 (and jobsched is down anyway).
        await sleep_until(t2 - timedelta(seconds=1))
        await cronjobs.manage("late", True)
        await sleep_until(t2 + timedelta(seconds=4))
        third = await jobsched.start()
        await jobsched.wait_ready(third)
        await sleep_until(t3 + timedelta(seconds=10))
        jobs = await cronjobs.jobs()
        pods = await cronjobs.pods()
        statuses = {name: (await cronjobs.get(name))["status"] for name in managed}
        all_events = await cronjobs.events()

    expected = {
        "into": {t1: NATIVE, t2: JOBSCHED, t3: JOBSCHED},
        "back": {t1: JOBSCHED, t2: NATIVE, t3: NATIVE},
        "flip": {t1: JOBSCHED, t2: JOBSCHED, t3: NATIVE},
        "late": {t1: NATIVE, t2: NATIVE, t3: JOBSCHED},
        "restart": {t1: JOBSCHED, t2: JOBSCHED, t3: JOBSCHED},
        "crash": {t1: JOBSCHED, t2: JOBSCHED, t3: JOBSCHED},
    }
    node = bed.nodes[0]
    for name, slots in expected.items():
        assert who_fired(jobs, name) == {job_name(name, t): by for t, by in slots.items()}, name
        assert statuses[name]["lastScheduleTime"] == t3.strftime("%Y-%m-%dT%H:%M:%SZ"), name
        for slot, by in slots.items():
            if by == JOBSCHED:
                assert_bound_at_or_after(pods, job_name(name, slot), slot, node)
    # The T2 Jobs staged before the second kill are the ones that ran: none was made again.
    for name in ("into", "flip", "restart", "crash"):
        assert jobs[job_name(name, t2)]["metadata"]["uid"] == staged[job_name(name, t2)], name
    assert jobs[job_name("crash", t2)]["metadata"]["uid"] == resp.json()["metadata"]["uid"]
    assert all(job["metadata"]["ownerReferences"][0]["controller"] for job in jobs.values())
    assert "UnexpectedJob" not in reasons(all_events)
