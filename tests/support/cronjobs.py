"""Adopted-CronJob fixtures: kube-controller-manager beside the test cluster, CronJobs firing at coming
real minute boundaries, the hand-over label flipped, and what the cluster then shows (Jobs by slot, who
made each, the CronJob's status and Events, `kubectl get cronjobs`)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from jobsched.core.vocabulary import MANAGED_CRONJOB_LABEL, PREVIOUS_SCHEDULE_ANNOTATION
from jobsched.devcluster import cluster as devcluster
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from tests.support.cluster_slice import ClusterSlice

RUN_ANNOTATION = "pod-complete.stage.kwok.x-k8s.io/delay"
FAIL_ANNOTATION = "pod-fail.stage.kwok.x-k8s.io/delay"
CONTAINER = {"name": "job", "image": "busybox", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
TOLERATIONS = [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}]


@contextlib.contextmanager
def native_controllers(state: ClusterState) -> Iterator[None]:
    """kube-controller-manager (cronjob, job, garbage-collector, ttl-after-finished) at its default
    client QPS, without kube-scheduler: the native controllers of every CronJob in the cluster."""
    devcluster.start_native(state, scheduler=False)
    try:
        yield
    finally:
        devcluster.stop_native(state)


def coming_slots(count: int, away_s: float = 45.0) -> list[datetime]:
    """`count` consecutive minute boundaries, the first at least `away_s` from now."""
    now = datetime.now(UTC)
    first = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (first - now).total_seconds() < away_s:
        first += timedelta(minutes=1)
    return [first + timedelta(minutes=i) for i in range(count)]


def minute_schedule(slots: list[datetime]) -> str:
    """A schedule firing at those minutes of every hour (the test is over long before the next hour)."""
    return f"{','.join(str(m) for m in sorted({s.minute for s in slots}))} * * * *"


def cronjob_body(
    bed: ClusterSlice,
    name: str,
    schedule: str,
    *,
    managed: bool = True,
    run_s: float = 5,
    fail_s: float | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A CronJob whose pods run `run_s` under kwok (or fail after `fail_s`). Its pod template names no
    scheduler: jobsched replaces it with the slice's for the Jobs it makes."""
    annotations = {FAIL_ANNOTATION: f"{fail_s:g}s"} if fail_s is not None else {RUN_ANNOTATION: f"{run_s:g}s"}
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {
            "metadata": {"annotations": annotations},
            "spec": {"restartPolicy": "Never", "tolerations": TOLERATIONS, "containers": [CONTAINER]},
        },
    }
    job_spec.update(spec.pop("job", {}))
    labels = {MANAGED_CRONJOB_LABEL: "true"} if managed else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": bed.namespace, "labels": labels},
        "spec": {"schedule": schedule, "jobTemplate": {"spec": job_spec}, **spec},
    }


def job_name(cronjob: str, slot: datetime) -> str:
    return f"{cronjob}-{int(slot.timestamp()) // 60}"


class CronJobs:
    """Reads and edits the CronJobs, Jobs, pods and Events of one namespace."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.base = f"/apis/batch/v1/namespaces/{namespace}"

    async def create(self, body: dict[str, Any]) -> None:
        resp = await self.kube.request("POST", f"{self.base}/cronjobs", body)
        assert resp.status == 201, resp.message()

    async def get(self, name: str) -> dict[str, Any]:
        return dict(await self.kube.get_json(f"{self.base}/cronjobs/{name}"))

    async def patch(self, name: str, patch: dict[str, Any]) -> None:
        resp = await self.kube.request(
            "PATCH", f"{self.base}/cronjobs/{name}", patch, content_type="application/merge-patch+json"
        )
        assert resp.ok, resp.message()

    async def manage(self, name: str, managed: bool) -> None:
        """The hand-over as a GitOps user does it: the label, and nothing else."""
        await self.patch(name, {"metadata": {"labels": {MANAGED_CRONJOB_LABEL: "true" if managed else None}}})

    async def jobs(self) -> dict[str, dict[str, Any]]:
        listing = await self.kube.get_json(f"{self.base}/jobs")
        return {j["metadata"]["name"]: j for j in listing["items"]}

    async def pods(self) -> list[dict[str, Any]]:
        listing = await self.kube.get_json(f"/api/v1/namespaces/{self.namespace}/pods")
        return list(listing["items"])

    async def events(self, cronjob: str | None = None) -> list[dict[str, Any]]:
        """core/v1 Events (those written as events.k8s.io/v1 included), oldest first."""
        listing = await self.kube.get_json(f"/api/v1/namespaces/{self.namespace}/events")
        found = [e for e in listing["items"] if cronjob is None or e["involvedObject"].get("name") == cronjob]
        return sorted(found, key=lambda e: e.get("eventTime") or e.get("lastTimestamp") or "")

    async def wait_job(self, name: str, within_s: float) -> dict[str, Any]:
        with anyio.fail_after(within_s):
            while True:
                found = (await self.jobs()).get(name)
                if found is not None:
                    return found
                await anyio.sleep(0.3)

    async def delete_all(self) -> None:
        params = {"propagationPolicy": "Background"}
        await self.kube.request("DELETE", f"{self.base}/cronjobs", params=params)
        await self.kube.request("DELETE", f"{self.base}/jobs", params=params)


def made_by_jobsched(job: dict[str, Any]) -> bool:
    return PREVIOUS_SCHEDULE_ANNOTATION in (job["metadata"].get("annotations") or {})


def pods_of(pods: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    return [p for p in pods if (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") == job]


def kubectl_cronjobs(state: ClusterState, namespace: str) -> dict[str, dict[str, str]]:
    """`kubectl get cronjobs`, as a user sees it: the server-side table, by name and column."""
    out = subprocess.run(
        [state.binaries["kubectl"], f"--kubeconfig={state.kubeconfig}", "-n", namespace, "get", "cronjobs"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert out[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    rows: dict[str, dict[str, str]] = {}
    for line in out[1:]:
        cells = line.split()  # the schedule's own fields sit between the name and the last five
        name, rest = cells[0], cells[-5:]
        rows[name] = dict(zip(("TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"), rest, strict=True))
    return rows
