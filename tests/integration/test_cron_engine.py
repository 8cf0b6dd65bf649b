"""The cron engine on the real control plane: pre-staging, exactly once, bad input, tracking.

The engine runs with a clock shifted to a few seconds before a minute boundary, so a test waits
seconds rather than up to a minute for its "* * * * *" slot. Only the engine's clock is shifted;
every sleep is real. The scheduler is not running, so pods stay Pending unless a test binds them.
Time bounds (anyio.fail_after) are hang guards, not timing assertions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest
import yaml

from bench.lib.kubeops import strip_pod_finalizers
from jobsched.core.cronentry import CronEntry
from jobsched.core.naming import rfc3339, slot_object_name
from jobsched.core.podbuild import build_slot_object
from jobsched.core.vocabulary import ENTRY_LABEL, SCHEDULED_TIME_ANNOTATION, TRACKING_FINALIZER
from jobsched.devcluster import nodes
from jobsched.kube import pods as kube_pods
from jobsched.kube.client import KubeClient
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
from tests.support.cron import (
    CONTAINER,
    SETTINGS,
    configmap,
    cron_configmap,
    entry,
    fires,
    running,
    shifted_clock,
    slot_pods,
    wait_event,
    wait_pods,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_storm_is_prestaged_before_its_slot(kube: KubeClient, namespace: str) -> None:
    clock, slot = shifted_clock(8)
    body = cron_configmap(namespace, "storm", [entry(f"e{i}") for i in range(20)])
    async with configmap(kube, body) as entries, running(kube, clock) as [(_, metrics)]:
        found = await wait_pods(kube, namespace, 20)
        assert clock() < slot, "all 20 pods exist before the slot"
    assert {p["metadata"]["name"] for p in found} == {slot_object_name(e, slot) for e in entries}
    for pod in found:
        assert pod["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] == rfc3339(slot)
        assert pod["metadata"]["finalizers"] == [TRACKING_FINALIZER]
        assert pod["spec"]["schedulerName"] == "jobsched"
        assert "nodeName" not in pod["spec"]
    assert fires(metrics, "created") == 20


async def test_replicas_and_restart_create_each_slot_once(kube: KubeClient, namespace: str) -> None:
    clock, slot = shifted_clock(8)
    body = cron_configmap(namespace, "once", [entry(f"e{i}") for i in range(20)])
    async with configmap(kube, body) as entries:
        # A predecessor killed half-way through staging left 10 of the 20 pods behind.
        for item in entries[:10]:
            result = await kube_pods.create(kube, build_slot_object(item, slot))
            assert result.outcome is kube_pods.CreateOutcome.CREATED
        async with running(kube, clock, count=2) as replicas:
            await wait_pods(kube, namespace, 20)
            await wait_until(clock, slot + timedelta(seconds=1))
        # Each replica recovers the 10 slots already taken from the pods' scheduled-time annotation and
        # stages only the other 10; racing each other, what one creates the other gets AlreadyExists for.
        for _, metrics in replicas:
            assert fires(metrics, "created") + fires(metrics, "exists") == 10
        assert sum(fires(metrics, "created") for _, metrics in replicas) == 10
        # A restart after the slot creates nothing and fires nothing retroactively.
        async with running(kube, clock) as [(_, metrics)]:
            await wait_until(clock, slot + timedelta(seconds=4))
        assert fires(metrics, "created") == 0
        found = await slot_pods(kube, namespace)
    assert sorted(p["metadata"]["name"] for p in found) == sorted(slot_object_name(e, slot) for e in entries)


async def test_standby_is_warm_and_writes_nothing_until_it_leads(kube: KubeClient, namespace: str) -> None:
    """A standby runs only the informers: it knows every entry and writes nothing; leading, it stages."""
    clock, slot = shifted_clock(10)
    body = cron_configmap(namespace, "standby", [entry(f"e{i}") for i in range(10)])
    async with configmap(kube, body) as entries, anyio.create_task_group() as tg:
        parts = Parts(kube, SETTINGS, Metrics(), "standby", scheduling=False, cron=True, cron_clock=clock)
        engine = parts.engine
        assert engine is not None
        tg.start_soon(parts.run_standby)
        with anyio.fail_after(30):
            while engine.configmaps.document(namespace, "standby") is None:  # noqa: ASYNC110 - a store has no event
                await anyio.sleep(0.1)
        await anyio.sleep(3)  # within the lead: a leader would have staged by now
        assert await slot_pods(kube, namespace) == []
        tg.start_soon(parts.run_leader)  # takes over with its caches already filled
        found = await wait_pods(kube, namespace, 10)
        assert clock() < slot
        tg.cancel_scope.cancel()
    assert sorted(p["metadata"]["name"] for p in found) == sorted(slot_object_name(e, slot) for e in entries)


async def test_bad_entry_is_reported_and_good_ones_fire(kube: KubeClient, namespace: str) -> None:
    clock, _ = shifted_clock(6)
    entries = [entry("good-a"), entry("mars", timeZone="Mars/Olympus_Mons"), entry("good-b")]
    async with configmap(kube, cron_configmap(namespace, "mixed", entries)), running(kube, clock) as [(_, m)]:
        found = await wait_pods(kube, namespace, 2)
        events = await wait_event(kube, namespace, "InvalidCronEntry")
    assert len(found) == 2
    assert {p["metadata"]["labels"][ENTRY_LABEL] for p in found} == {"mixed.good-a", "mixed.good-b"}
    assert any("entry mars" in e["note"] and "timeZone" in e["note"] for e in events), events
    assert events[0]["type"] == "Warning"
    assert events[0]["regarding"]["name"] == "mixed"
    assert m.registry.get_sample_value("jobsched_cron_invalid_entries_total", {"field": "timeZone"}) == 1


async def test_namespace_not_opted_in_creates_nothing(kube: KubeClient, namespace: str) -> None:
    other = f"t-off-{uuid.uuid4().hex[:8]}"
    resp = await kube.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}}
    )
    assert resp.status == 201, resp.message()
    clock, slot = shifted_clock(5)
    try:
        async with (
            configmap(kube, cron_configmap(other, "sneaky", [entry("a"), entry("b")])),
            running(kube, clock) as [(_, metrics)],
        ):
            events = await wait_event(kube, other, "NamespaceNotEnabled")
            await wait_until(clock, slot + timedelta(seconds=1))
            assert await slot_pods(kube, other) == []
        assert fires(metrics, "created") == 0
        assert "has not opted in" in events[0]["note"]
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{other}")


async def test_rejected_template_is_reported_and_others_fire(kube: KubeClient, namespace: str) -> None:
    clock, _ = shifted_clock(6)
    bad = entry("upper")
    bad["template"] = {"spec": {"containers": [{**CONTAINER, "name": "Not_A_DNS_Label"}]}}
    body = cron_configmap(namespace, "rejects", [entry("fine-a"), bad, entry("fine-b")])
    async with configmap(kube, body), running(kube, clock) as [(_, metrics)]:
        found = await wait_pods(kube, namespace, 2)
        events = await wait_event(kube, namespace, "InvalidCronEntry")
    assert {p["metadata"]["labels"][ENTRY_LABEL] for p in found} == {"rejects.fine-a", "rejects.fine-b"}
    note = events[0]["note"]
    assert "entry upper" in note, note
    assert "field template" in note, note
    assert "Not_A_DNS_Label" in note, note
    assert fires(metrics, "rejected") == 1
    assert fires(metrics, "created") == 2


async def test_job_mode_creates_a_job(kube: KubeClient, namespace: str) -> None:
    clock, slot = shifted_clock(5)
    job = entry("batchy", kind="Job")
    job["template"] = {"spec": {"backoffLimit": 2, "template": {"spec": {"containers": [CONTAINER]}}}}
    async with configmap(kube, cron_configmap(namespace, "jobs", [job])) as [parsed], running(kube, clock):
        with anyio.fail_after(30):
            while True:
                reply = await kube.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs")
                if reply["items"]:
                    break
                await anyio.sleep(0.2)
    [created] = reply["items"]
    assert created["metadata"]["name"] == slot_object_name(parsed, slot)
    assert created["spec"]["backoffLimit"] == 2
    pod_template = created["spec"]["template"]
    assert pod_template["spec"]["schedulerName"] == "jobsched"
    assert pod_template["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] == rfc3339(slot)
    assert "finalizers" not in created["metadata"]


async def test_finalizer_released_after_success_and_status_written(kube: KubeClient, namespace: str) -> None:
    node = f"v-{uuid.uuid4().hex[:6]}"
    resp = await kube.request("POST", "/api/v1/nodes", nodes.node_body(node, "virtual", nodes.VIRTUAL_SHAPE))
    assert resp.status == 201, resp.message()
    quick = entry("quick")
    quick["template"] = {
        "metadata": {"annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "1s"}},
        "spec": {
            "containers": [CONTAINER],
            "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}],
        },
    }
    clock, slot = shifted_clock(5)
    try:
        async with configmap(kube, cron_configmap(namespace, "track", [quick])), running(kube, clock):
            [pod] = await wait_pods(kube, namespace, 1)
            name = pod["metadata"]["name"]
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": name, "uid": pod["metadata"]["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            }
            resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", binding)
            assert resp.status == 201, resp.message()
            with anyio.fail_after(60):
                while True:
                    pod = await kube.get_json(f"/api/v1/namespaces/{namespace}/pods/{name}")
                    if pod["status"].get("phase") == "Succeeded" and not pod["metadata"].get("finalizers"):
                        break
                    await anyio.sleep(0.3)
            status = await kube.get_json(f"/api/v1/namespaces/{namespace}/configmaps/track-jobsched-status")
    finally:
        await kube.request("DELETE", f"/api/v1/nodes/{node}")
    assert status["metadata"]["labels"]["jobsched.io/status-for"] == "track"
    recorded = yaml.safe_load(status["data"]["status.json"])["entries"]["quick"]
    assert recorded["lastScheduleTime"] == rfc3339(slot)
    assert recorded["lastSuccessfulTime"] is not None
    assert recorded["active"] == []


@pytest.fixture
async def pods_cleaned(kube: KubeClient, namespace: str) -> AsyncIterator[None]:
    """Strips and deletes the namespace's pods afterwards: jobsched.io/tracking outlives a stopped engine,
    and no namespace controller runs here to delete them."""
    yield
    await strip_pod_finalizers(kube, namespace)
    await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods", params={"gracePeriodSeconds": "0"})


async def previous_run(kube: KubeClient, item: CronEntry, slot: datetime) -> dict[str, Any]:
    """The run of the slot before `slot`, still Pending (no scheduler runs here), so still active."""
    result = await kube_pods.create(kube, build_slot_object(item, slot - timedelta(minutes=1)))
    assert result.outcome is kube_pods.CreateOutcome.CREATED
    assert result.obj is not None
    return result.obj


@pytest.mark.usefixtures("pods_cleaned")
async def test_forbid_skips_the_slot_while_the_previous_run_is_active(
    kube: KubeClient, namespace: str
) -> None:
    clock, slot = shifted_clock(5)
    body = cron_configmap(namespace, "forbid", [entry("solo", concurrencyPolicy="Forbid")])
    async with configmap(kube, body) as [parsed]:
        old = await previous_run(kube, parsed, slot)
        async with running(kube, clock) as [(_, metrics)]:
            events = await wait_event(kube, namespace, "JobAlreadyActive")
            await wait_until(clock, slot + timedelta(seconds=1))
            found = await slot_pods(kube, namespace)
    assert [p["metadata"]["name"] for p in found] == [old["metadata"]["name"]]
    assert "deletionTimestamp" not in found[0]["metadata"]
    assert fires(metrics, "skipped") == 1
    assert fires(metrics, "created") == 0
    note = events[0]["note"]
    assert rfc3339(slot) in note, note
    assert old["metadata"]["name"] in note, note


@pytest.mark.usefixtures("pods_cleaned")
async def test_replace_deletes_the_active_previous_run_and_creates_the_slot(
    kube: KubeClient, namespace: str
) -> None:
    """The previous run carries jobsched.io/tracking, so the engine's delete only marks it; the engine then
    records its outcome and releases the finalizer, and the pod is really gone."""
    clock, slot = shifted_clock(5)
    body = cron_configmap(namespace, "replace", [entry("solo", concurrencyPolicy="Replace")])
    async with configmap(kube, body) as [parsed]:
        old = await previous_run(kube, parsed, slot)
        new_name = slot_object_name(parsed, slot)
        async with running(kube, clock) as [(_, metrics)]:
            with anyio.fail_after(60):
                while True:
                    names = {p["metadata"]["name"] for p in await slot_pods(kube, namespace)}
                    if names == {new_name}:
                        break
                    await anyio.sleep(0.3)
    assert fires(metrics, "replaced") == 1
    assert fires(metrics, "created") == 1
    resp = await kube.request("GET", f"/api/v1/namespaces/{namespace}/pods/{old['metadata']['name']}")
    assert resp.status == 404


@pytest.mark.usefixtures("pods_cleaned")
async def test_suspended_entry_creates_nothing(kube: KubeClient, namespace: str) -> None:
    """A sibling entry that is not suspended fires in the same slot, so the engine demonstrably ran it."""
    clock, slot = shifted_clock(5)
    body = cron_configmap(namespace, "susp", [entry("paused", suspend=True), entry("awake")])
    async with configmap(kube, body), running(kube, clock) as [(_, metrics)]:
        await wait_pods(kube, namespace, 1)
        await wait_until(clock, slot + timedelta(seconds=3))
        found = await slot_pods(kube, namespace)
    assert [p["metadata"]["labels"][ENTRY_LABEL] for p in found] == ["susp.awake"]
    assert fires(metrics, "created") == 1


def status_configmap(namespace: str, source: str, recorded: dict[str, Any]) -> dict[str, Any]:
    """A status ConfigMap as an earlier leader would have written it for ConfigMap `source`."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{source}-jobsched-status",
            "namespace": namespace,
            "labels": {"jobsched.io/status-for": source, "jobsched.io/cron": "status"},
        },
        "data": {"status.json": json.dumps({"entries": recorded})},
    }


@pytest.mark.usefixtures("pods_cleaned")
async def test_starting_deadline_fires_only_the_latest_missed_slot_within_it(
    kube: KubeClient, namespace: str
) -> None:
    """After downtime (status says both entries last fired 3 minutes before the latest slot, and the
    engine starts 30 s after that slot), "within" (deadline 90 s) fires the latest slot once and
    reports the 2 older ones; "beyond" (deadline 10 s) fires nothing and reports all 3."""
    clock, slot = shifted_clock(-30)
    last = rfc3339(slot - timedelta(minutes=3))
    recorded: dict[str, Any] = {
        n: {"lastScheduleTime": last, "lastSuccessfulTime": None, "active": []} for n in ("within", "beyond")
    }
    status = status_configmap(namespace, "late", recorded)
    resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", status)
    assert resp.status == 201, resp.message()
    body = cron_configmap(
        namespace,
        "late",
        [entry("within", startingDeadlineSeconds=90), entry("beyond", startingDeadlineSeconds=10)],
    )
    try:
        async with configmap(kube, body) as [within, beyond], running(kube, clock) as [(_, metrics)]:
            await wait_pods(kube, namespace, 1)
            events = await wait_event(kube, namespace, "MissedSchedules", count=2)
            found = await slot_pods(kube, namespace)
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/late-jobsched-status")
    # Filtered by slot: had the test been slow, the next slot (a minute later) may have been staged too.
    at_slot = [p for p in found if p["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] <= rfc3339(slot)]
    assert [p["metadata"]["name"] for p in at_slot] == [slot_object_name(within, slot)]
    notes = {e["note"].split(":")[0]: e["note"] for e in events}
    assert set(notes) == {"entry within", "entry beyond"}
    assert "2 slots missed" in notes["entry within"], notes
    assert "past startingDeadlineSeconds" not in notes["entry within"], notes
    assert "3 slots missed" in notes["entry beyond"], notes
    assert f"the latest, {rfc3339(slot)}, is past startingDeadlineSeconds" in notes["entry beyond"], notes
    assert beyond.name == "beyond"
    assert metrics.registry.get_sample_value("jobsched_cron_missed_slots_total") == 5


@pytest.mark.usefixtures("pods_cleaned")
async def test_a_new_leader_fires_a_recorded_entry_whose_slot_its_predecessor_never_created(
    kube: KubeClient, namespace: str
) -> None:
    """A leader died while pre-staging: the status records "orphaned" (trackedSince well before the
    slot) but no pod exists for the slot. A new leader, starting 30 s after the slot, fires it; an
    entry no leader ever recorded ("fresh") waits for its next slot instead."""
    clock, slot = shifted_clock(-30)
    recorded: dict[str, Any] = {
        "orphaned": {
            "lastScheduleTime": None,
            "lastSuccessfulTime": None,
            "active": [],
            "trackedSince": rfc3339(slot - timedelta(minutes=10)),
        }
    }
    status = status_configmap(namespace, "died", recorded)
    resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", status)
    assert resp.status == 201, resp.message()
    body = cron_configmap(namespace, "died", [entry("orphaned"), entry("fresh")])
    try:
        async with configmap(kube, body) as [orphaned, _], running(kube, clock):
            await wait_pods(kube, namespace, 1)
            found = await slot_pods(kube, namespace)
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/died-jobsched-status")
    at_slot = [p for p in found if p["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] <= rfc3339(slot)]
    assert [p["metadata"]["name"] for p in at_slot] == [slot_object_name(orphaned, slot)]
