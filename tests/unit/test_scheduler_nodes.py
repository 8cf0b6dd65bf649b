"""A node's status heartbeat (a new resourceVersion, nothing placement reads) leaves the scheduler's
cache and its retry pass alone; a change that matters (labels, taints, allocatable, Ready) is applied."""

from __future__ import annotations

import time
from typing import Any

from jobsched.runtime.metrics import Metrics
from jobsched.runtime.scheduling.scheduler import Scheduler
from jobsched.settings import Settings


def node(rv: str, heartbeat: str, zone: str = "a") -> dict[str, Any]:
    return {
        "metadata": {"name": "n1", "uid": "u", "resourceVersion": rv, "labels": {"zone": zone}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat}],
        },
    }


def test_a_heartbeat_changes_nothing_and_a_label_change_is_applied() -> None:
    s = Scheduler(None, Settings(), Metrics(), clock=time.time)  # type: ignore[arg-type]  # no I/O here
    s.replace([node("1", "t1")])
    state = s.cache.node("n1")
    assert state is not None
    version = state.version
    s.queue.due_unschedulable(0.0, flush=True)  # clears the capacity-changed mark
    s.apply("MODIFIED", node("2", "t2"))
    assert state.version == version
    assert not s.queue._capacity_changed
    s.apply("MODIFIED", node("3", "t3", zone="b"))
    assert state.version == version + 1
    assert state.node.labels == {"zone": "b"}
    assert s.queue._capacity_changed
