"""Fuzzing the live cron engine on the real control plane.

Each example puts a few generated ConfigMaps in the namespace: good entries that all fire at the
slot, entries jobsched refuses, and entries only the apiserver refuses (see `strategies`). The engine
runs in-process on a clock shifted to just before the slot. Afterwards: it is still running, each
good entry made exactly one object for the slot, each bad entry and bad key has a Warning Event
naming its entry and field, and jobsched_cron_invalid_entries_total counts every one of them.

The slot comes from the real clock, so a replayed example draws the same shapes, not the same
minutes and hours. Time bounds (anyio.fail_after) are hang guards, not timing assertions.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st

from bench.lib.kubeops import strip_pod_finalizers
from jobsched.core.cronspec import parse_configmap
from jobsched.core.naming import rfc3339, slot_object_name
from jobsched.core.vocabulary import CONFIGMAP_LABEL, ENTRY_LABEL, SCHEDULED_TIME_ANNOTATION
from jobsched.kube.client import KubeClient
from jobsched.runtime.metrics import Metrics
from tests.fuzz.strategies import LIVE_ACCOUNT, CronMap, cron_configmaps, fuzz_settings
from tests.support.cron import fires, running, shifted_clock, wait_until

pytestmark = pytest.mark.integration

SECONDS_BEFORE = 12  # creating the ConfigMaps and staging their slot fit well inside this


async def objects_at(kube: KubeClient, ns: str, slot_text: str, names: set[str]) -> list[str]:
    """Names of the pods and jobs of ConfigMaps `names` for the slot."""
    found = []
    for path in (f"/api/v1/namespaces/{ns}/pods", f"/apis/batch/v1/namespaces/{ns}/jobs"):
        reply = await kube.get_json(path, {"labelSelector": ENTRY_LABEL})
        for item in reply["items"]:
            meta = item["metadata"]
            if (
                meta["labels"].get(CONFIGMAP_LABEL) in names
                and meta["annotations"].get(SCHEDULED_TIME_ANNOTATION) == slot_text
            ):
                found.append(meta["name"])
    return found


async def warnings(kube: KubeClient, ns: str, names: set[str]) -> list[dict[str, Any]]:
    reply = await kube.get_json(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")
    return [
        e
        for e in reply["items"]
        if e.get("reason") == "InvalidCronEntry"
        and e["regarding"]["name"] in names
        and e["type"] == "Warning"
    ]


def expected_notes(cm: CronMap) -> list[str]:
    """The start of the Event note each bad entry, refused entry and bad key must get."""
    notes = [f"entry {p.label}: field {p.field_path()}: " for p in cm.bads()]
    notes += [f"entry {r.name}: field {r.field}: " for r in cm.rejected()]
    return notes + [f"field {field}: " for field in cm.key_problems]


def invalid_total(metrics: Metrics) -> float:
    return sum(
        sample.value
        for family in metrics.registry.collect()
        if family.name == "jobsched_cron_invalid_entries"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def clean(kube: KubeClient, ns: str) -> None:
    """No namespace controller runs here: pods keep jobsched.io/tracking until it is stripped."""
    await strip_pod_finalizers(kube, ns)
    await kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods", params={"gracePeriodSeconds": "0"})
    await kube.request("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs")
    await kube.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps")


@fuzz_settings(
    0.04,
    # Each example waits for a real slot; shrinking would repeat that hundreds of times.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
async def test_engine_survives_fuzzed_configmaps(
    kube: KubeClient, namespace: str, data: st.DataObject
) -> None:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": LIVE_ACCOUNT}}
    resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", account)
    assert resp.status in (201, 409), resp.message()
    clock, slot = shifted_clock(SECONDS_BEFORE)
    run = uuid.uuid4().hex[:6]
    count = data.draw(st.integers(2, 4), label="configmaps")
    cms = [
        data.draw(
            cron_configmaps(namespace, f"fz-{run}-{i}", max_entries=6, slot=slot), label=f"configmap {i}"
        )
        for i in range(count)
    ]
    names = {cm.body["metadata"]["name"] for cm in cms}
    wanted_objects: set[str] = set()
    wanted_notes: dict[str, list[str]] = {}
    invalid = 0
    for cm in cms:
        entries, problems = parse_configmap(cm.body)
        goods = {g.name for g in cm.goods()}
        wanted_objects |= {slot_object_name(e, slot) for e in entries if e.name in goods}
        wanted_notes[cm.body["metadata"]["name"]] = expected_notes(cm)
        invalid += len(problems) + len(cm.rejected())
    rejected = sum(len(cm.rejected()) for cm in cms)
    try:
        for cm in cms:
            resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", cm.body)
            assert resp.status == 201, resp.message()
        async with running(kube, clock) as [(engine, metrics)]:
            with anyio.move_on_after(90) as guard:
                while True:
                    found = await objects_at(kube, namespace, rfc3339(slot), names)
                    events = await warnings(kube, namespace, names)
                    missing = [
                        note
                        for cm_name, notes in wanted_notes.items()
                        for note in notes
                        if not any(
                            e["regarding"]["name"] == cm_name and e["note"].startswith(note) for e in events
                        )
                    ]
                    if set(found) >= wanted_objects and not missing and clock() > slot + timedelta(seconds=2):
                        break
                    await anyio.sleep(0.5)
            if guard.cancelled_caught:
                pytest.fail(
                    f"hang guard: objects missing {wanted_objects - set(found)}, notes missing {missing}"
                )
            await wait_until(clock, slot + timedelta(seconds=3))
            found = await objects_at(kube, namespace, rfc3339(slot), names)
            # No exception has left the engine (it would have cancelled this block); it still plans.
            accepted = {e.key for cm in cms for e in parse_configmap(cm.body)[0]}
            assert accepted <= set(engine.entries)
    finally:
        await clean(kube, namespace)
    assert sorted(found) == sorted(wanted_objects), "exactly one object per good entry, none for bad ones"
    assert fires(metrics, "created") == len(wanted_objects)
    assert fires(metrics, "rejected") == rejected
    assert invalid_total(metrics) == invalid
