"""Storm fixtures for end-to-end tests: a real coming minute boundary, cron ConfigMaps firing at it, a
watch that records when each slot pod was first seen bound, and a bed that cleans up after itself."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import yaml

from bench.lib.kubeops import strip_pod_finalizers
from jobsched.core.cronentry import CronEntry
from jobsched.core.cronspec import parse_configmap
from jobsched.core.naming import rfc3339, slot_object_name
from jobsched.core.vocabulary import ENTRY_LABEL, SCHEDULED_TIME_ANNOTATION
from jobsched.devcluster.nodes import NodeShape
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer
from tests.support.cluster_slice import ClusterSlice

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
