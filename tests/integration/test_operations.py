"""Day-2 commands on the real control plane, run as a user runs them (`python -m jobsched ...`):

- `status` lists every entry of the cluster's cron ConfigMaps, fired, never fired and refused, with
  the status the engine recorded (and the engine's per-entry metrics agree);
- `trigger` creates exactly one run per invocation, even when the reply to its POST is lost, and the
  scheduler binds that run at once on the entry's domain chain;
- `release` takes jobsched's finalizer off every slot pod: pods left Terminating are then deleted.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import yaml

from jobsched.core.cronslots import next_slot
from jobsched.core.naming import rfc3339, slot_object_name
from jobsched.core.vocabulary import (
    ENTRY_LABEL,
    MANUAL_ANNOTATION,
    SCHEDULED_TIME_ANNOTATION,
    TRACKING_FINALIZER,
)
from jobsched.devcluster.nodes import NodeShape
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from tests.support.cluster_slice import ClusterSlice, node_of, running_scheduler
from tests.support.cron import (
    configmap,
    cron_configmap,
    entry,
    running,
    shifted_clock,
    slot_pods,
    wait_pods,
)
from tests.support.exposition import sample_value
from tests.support.faultproxy import FaultPlan
from tests.support.proxy_process import ProxyProcess

pytestmark = pytest.mark.integration


async def jobsched(kubeconfig: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jobsched", *args, "--kubeconfig", str(kubeconfig)]
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    )


# --- status --------------------------------------------------------------------------------------


async def test_status_lists_fired_never_fired_and_refused_entries(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    clock, slot = shifted_clock(6)
    entries = [
        entry("every-minute"),
        entry("new-year", schedule="0 0 1 1 *", timeZone="Asia/Tokyo"),
        entry("broken", schedule="0 0 30 2 *"),
    ]
    async with configmap(kube, cron_configmap(namespace, "ops", entries)) as valid:
        async with running(kube, clock) as [(engine, metrics)]:
            [pod] = await wait_pods(kube, namespace, 1)
            with anyio.fail_after(60):  # the housekeeper records the slot, then the metrics follow
                while True:
                    reply = await kube.get_json(
                        f"/api/v1/namespaces/{namespace}/configmaps/ops-jobsched-status"
                    )
                    recorded = json.loads(reply["data"]["status.json"])["entries"]
                    labels = {"namespace": namespace, "source": "ConfigMap/ops", "entry": "every-minute"}
                    published = sample_value(
                        metrics.exposition(), "jobsched_cron_entry_last_schedule_time_seconds", labels
                    )
                    if recorded.get("every-minute", {}).get("lastScheduleTime") and published:
                        break
                    await anyio.sleep(0.5)
            assert published == slot.timestamp()
            assert sample_value(metrics.exposition(), "jobsched_cron_entry_active_runs", labels) == 1
            assert engine.entries  # the engine ran the two valid entries
        done = await jobsched(control_plane.kubeconfig, "status", "-n", namespace, "-o", "json")
        assert done.returncode == 0, done.stderr
        items = {item["entry"]: item for item in json.loads(done.stdout)["items"]}
        table = await jobsched(control_plane.kubeconfig, "status", "-A")
    assert set(items) == {"every-minute", "new-year", "broken"}
    fired = items["every-minute"]
    assert fired["lastScheduleTime"] == rfc3339(slot)
    assert fired["active"] == [pod["metadata"]["name"]]
    assert (fired["valid"], fired["namespaceEnabled"], fired["source"]) == (
        True,
        True,
        {"kind": "ConfigMap", "name": "ops"},
    )
    never = items["new-year"]
    assert (never["lastScheduleTime"], never["timeZone"]) == (None, "Asia/Tokyo")
    new_year = next(e for e in valid if e.name == "new-year")
    assert never["nextScheduleTime"] == rfc3339(next_slot(new_year, datetime.now(UTC)))
    broken = items["broken"]
    assert (broken["valid"], broken["schedule"], broken["nextScheduleTime"]) == (False, "0 0 30 2 *", None)
    assert broken["problems"][0]["field"].endswith("entries[2].schedule")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.split("\n\nProblems:")[0].splitlines()
    assert header.split()[:3] == ["NAMESPACE", "SOURCE", "SCHEDULE"]
    mine = [row.split() for row in rows if row.startswith(namespace)]
    assert [row[1] for row in mine] == ["ops/broken", "ops/every-minute", "ops/new-year"]
    assert mine[0][-1] == "<invalid>"  # broken
    assert mine[2][-2] == "in"  # new-year: "in 123d"
    assert f"{namespace}/ops/broken: field data[crons.yaml].entries[2].schedule: never fires" in table.stdout


# --- trigger -------------------------------------------------------------------------------------


def _seed_losing_only_the_first_post(rate: float) -> int:
    """A proxy seed whose first POST loses its reply and whose second goes through (one draw each)."""
    for seed in range(1000):
        draws = random.Random(seed)
        if draws.random() < rate <= draws.random():
            return seed
    raise AssertionError("no such seed")


async def _manual_pods(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    return [p for p in await slot_pods(kube, namespace) if MANUAL_ANNOTATION in p["metadata"]["annotations"]]


async def test_trigger_creates_one_run_through_a_lost_reply_and_it_binds_on_the_chain(
    kube: KubeClient, namespace: str, control_plane: ClusterState, tmp_path: Path
) -> None:
    bed = ClusterSlice(kube, namespace)
    await bed.add_node("virtual", NodeShape(cpu="1000", memory="4Ti", pods=100))
    regular = await bed.add_node("regular", NodeShape(cpu="32", memory="128Gi", pods=110))
    config = tmp_path / "jobsched.yaml"
    config.write_text(yaml.safe_dump(bed.config()))
    # The default chain starts with virtual; this entry asks for regular only.
    body = cron_configmap(namespace, "ops", [entry("report", schedule="0 0 1 1 *", domains=["regular"])])
    rate = 0.5
    proxy = ProxyProcess(
        control_plane,
        FaultPlan(rate_lost_reply=rate, methods=frozenset({"POST"})),
        tmp_path,
        seed=_seed_losing_only_the_first_post(rate),
    )
    try:
        async with configmap(kube, body):
            proxy.start()
            try:
                done = await jobsched(
                    proxy.kubeconfig, "trigger", f"{namespace}/ops/report", "--config", str(config)
                )
            finally:
                counts = proxy.stop()
            assert done.returncode == 0, done.stderr
            assert counts.get("lost_reply") == 1  # the first POST was carried out, its reply dropped
            [manual] = await _manual_pods(kube, namespace)
            name = manual["metadata"]["name"]
            assert f"pod/{name} created" in done.stdout
            assert name.startswith("ops-report-manual-")
            assert SCHEDULED_TIME_ANNOTATION not in manual["metadata"]["annotations"]
            assert manual["metadata"]["finalizers"] == [TRACKING_FINALIZER]
            assert manual["metadata"]["labels"][ENTRY_LABEL] == "ops.report"
            async with running_scheduler(str(control_plane.kubeconfig), bed.settings()):
                bound = await bed.wait_for(lambda pods: bool(pods.get(name) and node_of(pods[name])))
            assert node_of(bound[name]) == regular
            again = await jobsched(
                control_plane.kubeconfig, "trigger", f"{namespace}/ops/report", "--config", str(config)
            )
            assert again.returncode == 0, again.stderr
            names = sorted(p["metadata"]["name"] for p in await _manual_pods(kube, namespace))
            assert len(names) == 2
            assert name in names
    finally:
        await bed.remove_nodes()


async def test_trigger_refuses_what_the_engine_would_not_run(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    entries = [
        entry("bad-zone", timeZone="Mars/Olympus_Mons"),
        entry(
            "as-stranger",
            template={
                "spec": {"serviceAccountName": "nobody", "containers": [{"name": "c", "image": "busybox"}]}
            },
        ),
    ]
    other = f"t-off-{uuid.uuid4().hex[:8]}"
    created = await kube.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}}
    )
    assert created.status == 201, created.message()
    try:
        async with (
            configmap(kube, cron_configmap(namespace, "ops", entries)),
            configmap(kube, cron_configmap(other, "ops", [entry("fine")])),
        ):
            cases = {
                f"{namespace}/ops/bad-zone": "field data[crons.yaml].entries[0].timeZone: unknown time zone",
                f"{namespace}/ops/as-stranger": "service account 'nobody' cannot be used",
                f"{namespace}/ops/missing": "has no entry 'missing' (valid entries: as-stranger)",
                f"{namespace}/nope/x": f"ConfigMap {namespace}/nope not found",
                f"{other}/ops/fine": f"namespace {other} has not opted in",
            }
            for target, message in cases.items():
                done = await jobsched(control_plane.kubeconfig, "trigger", target)
                assert done.returncode == 1, (target, done.stdout)
                assert message in done.stderr, (target, done.stderr)
                assert "Traceback" not in done.stderr
            assert await slot_pods(kube, namespace) == []
            assert await slot_pods(kube, other) == []
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{other}")


async def test_trigger_runs_an_adopted_cronjob_once_as_its_job_and_status_lists_it(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    """`NAMESPACE/CronJob/NAME`: a Job owned by the CronJob (not as its controller, so the native
    controller leaves it be), through jobsched's scheduler, no slot; a CronJob without the managed label is
    refused; `status` shows the adopted CronJob's row with its own status."""
    pod = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    template = {"spec": {"template": {"spec": pod}}}

    def cronjob(name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": name, "labels": labels},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": template},
        }

    cronjobs = f"/apis/batch/v1/namespaces/{namespace}/cronjobs"
    for body in (cronjob("adopted", {"jobsched.io/managed": "true"}), cronjob("native", {})):
        resp = await kube.request("POST", cronjobs, body)
        assert resp.status == 201, resp.message()
    try:
        done = await jobsched(control_plane.kubeconfig, "trigger", f"{namespace}/CronJob/adopted")
        assert done.returncode == 0, done.stderr
        assert "job.batch/adopted-manual-" in done.stdout
        refused = await jobsched(control_plane.kubeconfig, "trigger", f"{namespace}/CronJob/native")
        assert refused.returncode == 1
        assert "is not adopted by jobsched" in refused.stderr
        jobs = (await kube.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs"))["items"]
        assert len(jobs) == 1
        [job] = jobs
        assert job["metadata"]["ownerReferences"][0]["name"] == "adopted"
        assert job["metadata"]["ownerReferences"][0]["controller"] is False
        assert MANUAL_ANNOTATION in job["spec"]["template"]["metadata"]["annotations"]
        assert SCHEDULED_TIME_ANNOTATION not in job["spec"]["template"]["metadata"]["annotations"]
        status = await jobsched(control_plane.kubeconfig, "status", "-n", namespace, "-o", "json")
        assert status.returncode == 0, status.stderr
        [row] = [item for item in json.loads(status.stdout)["items"] if item["source"]["kind"] == "CronJob"]
        assert (row["source"]["name"], row["schedule"], row["valid"]) == ("adopted", "0 3 * * *", True)
    finally:
        await kube.request("DELETE", f"{cronjobs}/adopted", {"propagationPolicy": "Background"})
        await kube.request("DELETE", f"{cronjobs}/native")
        await kube.request(
            "DELETE",
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            params={"propagationPolicy": "Background"},
        )


# --- release -------------------------------------------------------------------------------------


def _slot_pod(namespace: str, name: str, finalizers: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {ENTRY_LABEL: "ops.report"},
            "finalizers": finalizers,
        },
        "spec": {"schedulerName": "nobody-here", "containers": [{"name": "c", "image": "busybox"}]},
    }


async def test_release_lets_terminating_pods_go(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    names = [f"slot-{i}" for i in range(12)]
    for name in names:
        extra = ["example.com/keep"] if name == "slot-0" else []
        resp = await kube.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/pods",
            _slot_pod(namespace, name, [TRACKING_FINALIZER, *extra]),
        )
        assert resp.status == 201, resp.message()
    deleted = names[:6]
    for name in deleted:  # uninstalled jobsched: these would stay Terminating for ever
        resp = await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")
        assert resp.ok, resp.message()
    dry = await jobsched(control_plane.kubeconfig, "release", "-n", namespace, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert sorted(dry.stdout.splitlines()[:-1]) == sorted(f"pod/{namespace}/{n}" for n in names)
    assert "12 of 12 slot pods" in dry.stdout
    assert len(await slot_pods(kube, namespace)) == 12  # nothing changed

    done = await jobsched(control_plane.kubeconfig, "release", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert f"12 of 12 slot pods carrying {TRACKING_FINALIZER} released" in done.stdout
    with anyio.fail_after(30):
        while True:
            left = {p["metadata"]["name"]: p for p in await slot_pods(kube, namespace)}
            if set(left) == {"slot-0", *names[6:]}:
                break
            await anyio.sleep(0.2)
    assert all(TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or []) for p in left.values())
    assert left["slot-0"]["metadata"]["finalizers"] == ["example.com/keep"]  # not ours: kept
    assert left["slot-0"]["metadata"].get("deletionTimestamp")

    again = await jobsched(control_plane.kubeconfig, "release", "-n", namespace)
    assert again.returncode == 0, again.stderr
    assert "0 of 0 slot pods carrying" in again.stdout
    patch = {"metadata": {"finalizers": None}}
    await kube.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/slot-0",
        patch,
        content_type="application/merge-patch+json",
    )


async def test_release_after_a_real_engine_stopped(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    """The slot pods a stopped engine left (its finalizer on each), deleted, are gone after release."""
    clock, slot = shifted_clock(5)
    async with configmap(
        kube, cron_configmap(namespace, "left", [entry(f"e{i}") for i in range(5)])
    ) as entries:
        async with running(kube, clock):
            await wait_pods(kube, namespace, 5)
        names = [slot_object_name(e, slot) for e in entries]
        for name in names:
            await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")
        await anyio.sleep(1)
        stuck = await slot_pods(kube, namespace)
        assert sorted(p["metadata"]["name"] for p in stuck) == sorted(names)
        assert all(p["metadata"].get("deletionTimestamp") for p in stuck)
        done = await jobsched(control_plane.kubeconfig, "release", "-n", namespace)
        assert done.returncode == 0, done.stderr
        with anyio.fail_after(30):
            while await slot_pods(kube, namespace):  # noqa: ASYNC110 - the apiserver deletes them
                await anyio.sleep(0.2)
