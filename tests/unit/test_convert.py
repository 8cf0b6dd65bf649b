"""Raw Kubernetes JSON to core records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jobsched.core.convert import PodRecord, effective_requests, node_from_json, pod_from_json
from jobsched.core.model import NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration

MI = 2**20

NODE: dict[str, Any] = {
    "metadata": {"name": "vk-1", "uid": "u1", "labels": {"type": "virtual-kubelet"}},
    "spec": {
        "taints": [{"key": "virtual-kubelet.io/provider", "value": "tke", "effect": "NoSchedule"}],
        "unschedulable": True,
    },
    "status": {
        "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110", "nvidia.com/gpu": "1"},
        "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
    },
}


def test_node_from_json() -> None:
    converted = node_from_json(NODE)
    assert converted.name == "vk-1"
    assert converted.uid == "u1"
    assert converted.labels == {"type": "virtual-kubelet"}
    assert converted.taints == (Taint("virtual-kubelet.io/provider", "tke", "NoSchedule"),)
    assert converted.allocatable == {"cpu": 3800, "memory": 15 * 2**30, "pods": 110, "nvidia.com/gpu": 1}
    assert converted.unschedulable
    assert converted.ready


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        ([{"type": "Ready", "status": "False"}], False),
        ([{"type": "Ready", "status": "Unknown"}], False),
        ([], False),
    ],
)
def test_node_readiness(conditions: list[dict[str, str]], ready: bool) -> None:
    assert node_from_json({"metadata": {"name": "n"}, "status": {"conditions": conditions}}).ready is ready


def _container(cpu: str, memory: str, **extra: Any) -> dict[str, Any]:
    return {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}, **extra}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"containers": [_container("100m", "64Mi")]}, {"cpu": 100, "memory": 64 * MI}),
        (
            {"containers": [_container("100m", "64Mi"), _container("200m", "64Mi")]},
            {"cpu": 300, "memory": 128 * MI},
        ),
        # an init container bigger than the sum wins, per resource
        (
            {"containers": [_container("100m", "64Mi")], "initContainers": [_container("500m", "32Mi")]},
            {"cpu": 500, "memory": 64 * MI},
        ),
        # overhead is added on top
        (
            {"containers": [_container("100m", "64Mi")], "overhead": {"cpu": "50m", "memory": "10Mi"}},
            {"cpu": 150, "memory": 74 * MI},
        ),
        # a sidecar (restartable init container) runs beside everything after it
        (
            {
                "initContainers": [
                    _container("100m", "10Mi", restartPolicy="Always"),
                    _container("300m", "10Mi"),
                ],
                "containers": [_container("100m", "64Mi")],
            },
            {"cpu": 400, "memory": 74 * MI},
        ),
        ({"containers": [{"name": "c"}]}, {}),
    ],
)
def test_effective_requests(spec: dict[str, Any], expected: dict[str, int]) -> None:
    assert effective_requests(spec) == expected


POD: dict[str, Any] = {
    "metadata": {
        "namespace": "team",
        "name": "cron-1",
        "uid": "p1",
        "annotations": {"jobsched.io/domains": "virtual, regular", "jobsched.io/log-volume": "5Mi"},
    },
    "spec": {
        "schedulerName": "jobsched",
        "priority": 7,
        "containers": [_container("100m", "64Mi")],
        "nodeSelector": {"zone": "a"},
        "tolerations": [
            {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
            {"key": "d", "value": "x"},
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [{"key": "size", "operator": "In", "values": ["l"]}],
                            "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["bad"]}],
                        }
                    ]
                }
            }
        },
    },
    "status": {"phase": "Pending"},
}


def test_pod_from_json() -> None:
    converted = pod_from_json(POD, {"logs": "jobsched.io/log-volume", "absent": "jobsched.io/none"})
    assert (converted.namespace, converted.name, converted.uid) == ("team", "cron-1", "p1")
    assert converted.requests == {"cpu": 100, "memory": 64 * MI}
    assert converted.domain_chain == ("virtual", "regular")
    assert converted.extras == {"logs": 5 * MI}
    assert converted.priority == 7
    assert converted.scheduler_name == "jobsched"
    assert converted.node_selector == {"zone": "a"}
    assert converted.tolerations == (
        Toleration("k", "Exists", "", "NoExecute", 30),
        Toleration("d", "Equal", "x", ""),
    )
    assert converted.required_affinity == (
        NodeSelectorTerm(
            (NodeSelectorRequirement("size", "In", ("l",)),),
            (NodeSelectorRequirement("metadata.name", "NotIn", ("bad",)),),
        ),
    )
    assert converted.node_name is None
    assert not converted.terminal


@pytest.mark.parametrize(("phase", "terminal"), [("Succeeded", True), ("Failed", True), ("Running", False)])
def test_terminal_and_bound(phase: str, terminal: bool) -> None:
    raw = {"metadata": {"name": "p", "uid": "u"}, "spec": {"nodeName": "n1"}, "status": {"phase": phase}}
    converted = pod_from_json(raw, {})
    assert converted.terminal is terminal
    assert converted.node_name == "n1"
    assert converted.domain_chain is None
    assert converted.required_affinity is None


def test_identical_pods_share_a_requirement_key() -> None:
    other = {**POD, "metadata": {**POD["metadata"], "name": "cron-2", "uid": "p2"}}
    first, second = pod_from_json(POD, {}), pod_from_json(other, {})
    assert first.requirement_key == second.requirement_key
    assert first != second
    hash(first.requirement_key)


def test_bad_extra_quantity_is_named() -> None:
    raw = {"metadata": {"name": "p", "annotations": {"a": "lots"}}, "spec": {}}
    with pytest.raises(ValueError, match="'lots'"):
        pod_from_json(raw, {"logs": "a"})


SLOT_POD: dict[str, Any] = {
    "metadata": {
        "name": "crons-report-29000000-abc",
        "namespace": "ns",
        "uid": "u1",
        "labels": {"jobsched.io/entry": "crons.report", "jobsched.io/configmap": "crons"},
        "annotations": {
            "jobsched.io/scheduled-time": "2026-01-01T00:00:00Z",
            "jobsched.io/domains": "virtual,regular",
            "jobsched.io/priority": "7",
        },
        "finalizers": ["jobsched.io/tracking"],
    },
    "spec": {
        "schedulerName": "jobsched",
        "priority": 100,
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}],
    },
    "status": {"phase": "Pending"},
}


def test_a_pod_record_carries_what_scheduler_and_cron_engine_need() -> None:
    record = PodRecord(SLOT_POD, {})
    assert (record.uid, record.namespace, record.name) == ("u1", "ns", "crons-report-29000000-abc")
    assert (record.phase, record.node_name, record.scheduler_name) == ("Pending", "", "jobsched")
    assert record.fire_at == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert record.scheduled == datetime(2026, 1, 1, tzinfo=UTC)
    assert (record.entry_label, record.source_label) == ("crons.report", "crons")
    assert record.tracked
    assert not record.deleting
    assert not record.owned_by_job
    assert not record.terminal
    assert not record.started
    assert record.finished is None
    pod = record.pod
    assert pod.domain_chain == ("virtual", "regular")
    assert pod.priority == 7  # the annotation wins over spec.priority
    assert record.pod is pod  # decoded once


def test_a_pod_record_of_a_finished_pod() -> None:
    finished = {
        **SLOT_POD,
        "spec": {**SLOT_POD["spec"], "nodeName": "v1"},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"state": {"terminated": {"finishedAt": "2026-01-01T00:00:05Z"}}},
                {"state": {"terminated": {"finishedAt": "2026-01-01T00:00:09Z"}}},
            ],
        },
    }
    record = PodRecord(finished, {})
    assert record.terminal
    assert record.started
    assert record.node_name == "v1"
    assert record.finished == datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("annotations", "spec_priority", "expected"),
    [
        ({}, None, 0),
        ({}, 5, 5),
        ({"jobsched.io/priority": "-3"}, 5, -3),
        ({"jobsched.io/priority": "x"}, 5, 5),
    ],
)
def test_priority_comes_from_the_annotation_then_the_spec(
    annotations: dict[str, str], spec_priority: int | None, expected: int
) -> None:
    obj = {"metadata": {"name": "p", "annotations": annotations}, "spec": {"priority": spec_priority}}
    assert pod_from_json(obj, {}).priority == expected


def test_a_pod_without_a_slot_or_labels() -> None:
    record = PodRecord({"metadata": {"name": "p", "ownerReferences": [{"kind": "Job"}]}, "spec": {}}, {})
    assert record.fire_at is None
    assert record.scheduled is None
    assert record.entry_label == ""
    assert record.owned_by_job
    assert record.scheduler_name == "default-scheduler"
    assert record.phase == "Pending"
