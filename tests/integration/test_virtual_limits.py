"""Virtual domains as they really are, on the real control plane with the dev cluster's provider
simulator playing the test's virtual node: a storm beyond the launch rate spills to the regular domain
at placement time, a domain at its pod quota spills too, and a slot pod the provider refused
(ProviderFailed, nothing started) is run again once on the regular domain, never when its containers
had started, and never twice across a restart.

The scheduler and cron engine run in-process; the cron tests shift both clocks to a few seconds before a
minute boundary. Time bounds are hang guards, not timing assertions.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
import yaml

from bench.lib.kubeops import strip_pod_finalizers
from jobsched.core.cronentry import CronEntry
from jobsched.core.cronspec import parse_configmap
from jobsched.core.domains import domains_from_config
from jobsched.core.naming import rerun_object_name, rfc3339, slot_object_name
from jobsched.core.vocabulary import (
    DOMAINS_ANNOTATION,
    ENTRY_LABEL,
    RERUN_OF_ANNOTATION,
    SCHEDULED_TIME_ANNOTATION,
    TRACKING_FINALIZER,
)
from jobsched.devcluster.nodes import NodeShape
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
from jobsched.runtime.scheduling.queue import PodState
from jobsched.settings import ApiSettings, CronSettings, Settings
from tests.support.cluster_slice import ClusterSlice, running_scheduler, tracked
from tests.support.cron import shifted_clock, wait_event
from tests.support.provider import provider_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BIG = NodeShape(cpu="1000", memory="4Ti", pods=1000)
CONTAINER = {"name": "job", "image": "busybox", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
API = ApiSettings(connections=16, bind_in_flight=16, create_in_flight=8)


def settings_for(bed: ClusterSlice, cron: CronSettings | None = None, **virtual: Any) -> Settings:
    """The slice's domains, the virtual one with `virtual`'s provider limits."""
    config = bed.domain_config()
    config[0].update(virtual)
    return Settings(
        scheduler_name=bed.scheduler_name,
        domains=domains_from_config(config),
        api=API,
        cron=cron or CronSettings(min_lead_s=2.0, max_lead_s=20.0, lead_margin_s=2.0),
    )


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def slice_with_provider(
    kube: KubeClient, namespace: str, control_plane: ClusterState, **limits: Any
) -> AsyncIterator[tuple[ClusterSlice, str, str]]:
    """A slice with one virtual node played by the simulator and one regular (kwok) node; afterwards
    its pods (finalizers stripped), nodes and simulator are gone."""
    bed = ClusterSlice(kube, namespace)
    with provider_for(control_plane, bed, **limits):
        try:
            virtual = await bed.add_node("virtual", BIG, by_kwok=False)
            regular = await bed.add_node("regular", BIG)
            yield bed, virtual, regular
        finally:
            with anyio.CancelScope(shield=True):
                await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps")
                await strip_pod_finalizers(kube, namespace)
                await kube.request(
                    "DELETE", f"/api/v1/namespaces/{namespace}/pods", params={"gracePeriodSeconds": "0"}
                )
                await bed.remove_nodes()


def phase(pod: dict[str, Any]) -> str:
    return str(pod["status"].get("phase"))


def all_running(count: int) -> Callable[[dict[str, dict[str, Any]]], bool]:
    return lambda pods: len(pods) == count and all(phase(p) == "Running" for p in pods.values())


async def test_a_storm_beyond_the_launch_rate_spills_to_regular_before_its_fire_time(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    async with slice_with_provider(kube, namespace, control_plane, rate=2.0, burst=3) as (
        bed,
        virtual,
        regular,
    ):
        settings = settings_for(bed, launchRate=2, launchBurst=3, maxStartDelaySeconds=1)
        async with running_scheduler(str(control_plane.kubeconfig), settings) as parts:
            fire = datetime.fromtimestamp(math.ceil(time.time()) + 8, UTC)
            annotations = {SCHEDULED_TIME_ANNOTATION: rfc3339(fire)}
            await bed.create_pods([bed.pod(f"s-{i}", annotations=annotations) for i in range(9)])
            with anyio.fail_after(30):
                while len(tracked(parts, PodState.GATED)) < 9:  # noqa: ASYNC110 - the queue is polled
                    await anyio.sleep(0.05)
            assert time.time() < fire.timestamp(), "placed before the fire time"
            gated = sorted(t.node for t in tracked(parts, PodState.GATED))
            pods = await bed.wait_for(all_running(9), within_s=60)
            metrics = parts.metrics
    # A bucket of 3 refilled at 2/s starts 3 pods at T, then one at T+0.5 and one at T+1.0; the sixth
    # would start at T+1.5, later than the 1 s allowed: it and the rest go to the regular node.
    assert gated == sorted([virtual] * 5 + [regular] * 4)
    assert sorted(p["spec"]["nodeName"] for p in pods.values()) == gated
    assert sample(metrics, "jobsched_domain_spilled_total", domain="virtual", reason="launch_rate") == 4
    assert sample(metrics, "jobsched_fallbacks_total", from_domain="virtual", to_domain="regular") == 4
    assert not any(p["status"].get("reason") for p in pods.values())


async def test_a_domain_at_its_pod_quota_spills_and_its_running_pods_count(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    async with slice_with_provider(kube, namespace, control_plane, rate=100.0, burst=100, quota=3) as (
        bed,
        virtual,
        regular,
    ):
        settings = settings_for(bed, maxPods=3)
        async with running_scheduler(str(control_plane.kubeconfig), settings) as parts:
            await bed.create_pods([bed.pod(f"first-{i}") for i in range(2)])
            first = await bed.wait_for(all_running(2))
            await bed.create_pods([bed.pod(f"then-{i}") for i in range(4)])
            pods = await bed.wait_for(all_running(6))
            metrics = parts.metrics
    assert {p["spec"]["nodeName"] for p in first.values()} == {virtual}
    on = sorted(p["spec"]["nodeName"] for name, p in pods.items() if name.startswith("then-"))
    assert on == sorted([virtual] + [regular] * 3), "2 running + 1 new fill the quota of 3"
    assert sample(metrics, "jobsched_domain_spilled_total", domain="virtual", reason="quota") == 3
    assert not any(p["status"].get("reason") == "ProviderFailed" for p in pods.values())


# --- provider failures of cron slots ----------------------------------------------------------------


def cron_configmap(bed: ClusterSlice, names: list[str]) -> dict[str, Any]:
    spec = {"schedulerName": bed.scheduler_name, "containers": [CONTAINER]}  # they run until deleted
    entries = [{"name": n, "schedule": "* * * * *", "template": {"spec": spec}} for n in names]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "refused", "namespace": bed.namespace, "labels": {"jobsched.io/cron": "true"}},
        "data": {"crons.yaml": yaml.safe_dump({"entries": entries})},
    }


async def create_entries(kube: KubeClient, bed: ClusterSlice, names: list[str]) -> list[CronEntry]:
    body = cron_configmap(bed, names)
    resp = await kube.request("POST", f"/api/v1/namespaces/{bed.namespace}/configmaps", body)
    assert resp.status == 201, resp.message()
    entries, problems = parse_configmap(body, bed.scheduler_name)
    assert problems == []
    return entries


@contextlib.asynccontextmanager
async def jobsched(
    kube: KubeClient, settings: Settings, clock: Callable[[], datetime], *, scheduling: bool = True
) -> AsyncIterator[Parts]:
    """One in-process jobsched (cron engine, and scheduler unless told not), on the shifted clock;
    cancelled at the end of the block, as a killed process would stop."""
    parts = Parts(
        kube,
        settings,
        Metrics(),
        f"test-{id(clock)}",
        scheduling=scheduling,
        cron=True,
        clock=lambda: clock().timestamp(),
        cron_clock=clock,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(parts.run)
        try:
            yield parts
        finally:
            tg.cancel_scope.cancel()


def refused(pods: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(
        n for n, p in pods.items() if phase(p) == "Failed" and p["status"].get("reason") == "ProviderFailed"
    )


def reruns(pods: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: p for n, p in pods.items() if RERUN_OF_ANNOTATION in (p["metadata"].get("annotations") or {})}


def firsts(pods: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The slots' first pods: not re-runs."""
    again = reruns(pods)
    return {n: p for n, p in pods.items() if n not in again}


def ran(pod: dict[str, Any]) -> bool:
    statuses = pod["status"].get("containerStatuses") or []
    return phase(pod) in ("Running", "Succeeded") or any(
        "running" in s["state"] or "terminated" in s["state"] for s in statuses
    )


def assert_each_slot_ran_once(pods: dict[str, dict[str, Any]], entries: list[CronEntry]) -> None:
    runs: dict[str, int] = {}
    for pod in pods.values():
        if ran(pod):
            label = pod["metadata"]["labels"][ENTRY_LABEL]
            runs[label] = runs.get(label, 0) + 1
    assert runs == {f"{e.configmap}.{e.name}": 1 for e in entries}, runs


async def test_a_refused_slot_pod_runs_again_once_on_regular_and_a_started_one_never(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    async with slice_with_provider(kube, namespace, control_plane, rate=100.0, burst=100, quota=2) as (
        bed,
        _,
        regular,
    ):
        entries = await create_entries(kube, bed, [f"e{i}" for i in range(4)])
        clock, slot = shifted_clock(8)
        async with jobsched(kube, settings_for(bed), clock) as parts:
            # Counts the first pods only: the re-runs may already be Running when the poll looks.
            settled = await bed.wait_for(
                lambda p: len(refused(p)) == 2 and sum(phase(x) == "Running" for x in firsts(p).values()) == 2
            )
            # One of the two that started now fails too, with the same reason: its containers had run.
            started = sorted(n for n, p in firsts(settled).items() if phase(p) == "Running")[0]
            container = settled[started]["status"]["containerStatuses"][0]
            ended = {
                **container,
                "ready": False,
                "started": False,
                "state": {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": container["state"]["running"]["startedAt"],
                    }
                },
            }
            patch = {"status": {"phase": "Failed", "reason": "ProviderFailed", "containerStatuses": [ended]}}
            resp = await kube.request(
                "PATCH",
                f"/api/v1/namespaces/{namespace}/pods/{started}/status",
                patch,
                content_type="application/strategic-merge-patch+json",
            )
            assert resp.status == 200, resp.message()
            pods = await bed.wait_for(
                lambda p: len(reruns(p)) == 2 and all(phase(x) == "Running" for x in reruns(p).values())
            )
            await anyio.sleep(2.0)  # four more sweeps: nothing else is re-run
            pods = await bed.pods()
            # Events wait out each minute's storm (they are writes that can wait): a generous guard.
            events = await wait_event(kube, namespace, "RerunAfterProviderFailure", within_s=90, count=2)
            metrics = parts.metrics
    by_slot = {slot_object_name(e, slot): e for e in entries}
    first_refused = refused(settled)
    assert sorted(reruns(pods)) == sorted(rerun_object_name(by_slot[n], slot) for n in first_refused)
    for pod in reruns(pods).values():
        annotations = pod["metadata"]["annotations"]
        assert annotations[RERUN_OF_ANNOTATION] in first_refused
        assert annotations[DOMAINS_ANNOTATION] == "regular"
        assert annotations[SCHEDULED_TIME_ANNOTATION] == rfc3339(slot)
        assert pod["spec"]["nodeName"] == regular
    assert started not in {p["metadata"]["annotations"][RERUN_OF_ANNOTATION] for p in reruns(pods).values()}
    assert sample(metrics, "jobsched_domain_reruns_total", domain="virtual") == 2
    assert_each_slot_ran_once(pods, entries)
    assert {e["regarding"]["name"] for e in events} == {"refused"}


async def test_a_restart_between_the_failure_and_the_rerun_reruns_once(
    kube: KubeClient, namespace: str, control_plane: ClusterState
) -> None:
    async with slice_with_provider(kube, namespace, control_plane, rate=100.0, burst=100, quota=2) as (
        bed,
        _,
        regular,
    ):
        entries = await create_entries(kube, bed, [f"e{i}" for i in range(4)])
        clock, slot = shifted_clock(8)
        never = CronSettings(min_lead_s=2.0, max_lead_s=20.0, lead_margin_s=2.0, rerun_sweep_s=3600.0)
        async with jobsched(kube, settings_for(bed, never), clock):
            await bed.wait_for(lambda p: len(refused(p)) == 2)
            await anyio.sleep(7.0)  # two housekeeping periods past the storm: the failures stay tracked
        stopped = await bed.pods()
        assert reruns(stopped) == {}
        for name in refused(stopped):
            assert TRACKING_FINALIZER in stopped[name]["metadata"]["finalizers"], (
                "kept until the re-run exists"
            )
        # Two instances at once after the restart (one with a scheduler, one cron engine only) race for
        # the same re-runs: the deterministic names let only one create each.
        async with (
            jobsched(kube, settings_for(bed), clock) as first,
            jobsched(kube, settings_for(bed), clock, scheduling=False) as second,
        ):
            await bed.wait_for(
                lambda p: len(reruns(p)) == 2 and all(phase(x) == "Running" for x in reruns(p).values())
            )
            await anyio.sleep(1.0)
            counts = [
                sample(p.metrics, "jobsched_domain_reruns_total", domain="virtual") for p in (first, second)
            ]
        async with jobsched(kube, settings_for(bed), clock, scheduling=False) as third:
            await anyio.sleep(2.0)  # a later restart: the re-runs exist, nothing more is done
            again = sample(third.metrics, "jobsched_domain_reruns_total", domain="virtual")
        pods = await bed.pods()
    assert sum(counts) == 2
    assert again == 0
    assert sorted(reruns(pods)) == sorted(
        rerun_object_name(e, slot) for e in entries if slot_object_name(e, slot) in refused(stopped)
    )
    assert {p["spec"]["nodeName"] for p in reruns(pods).values()} == {regular}
    assert_each_slot_ran_once(pods, entries)
