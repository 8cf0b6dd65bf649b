"""A run of a cron entry (the Pod or Job created for one slot) as plain data, read from raw JSON.

The cron engine decides concurrency, history pruning and status from the runs an entry has in the
cluster. Reducing each raw object to a small frozen record here keeps those decisions pure and
testable with tables, and means the engine never digs through JSON on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobsched.core.vocabulary import ENTRY_LABEL, SCHEDULED_TIME_ANNOTATION, TRACKING_FINALIZER


class RunState(enum.Enum):
    ACTIVE = "active"  # created, not finished (pending, pre-staged, running)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One Pod or Job of an entry."""

    kind: str  # "Pod" or "Job"
    namespace: str
    name: str
    uid: str
    entry_label: str  # the jobsched.io/entry label value
    scheduled: datetime | None  # the slot, from the scheduled-time annotation
    state: RunState
    finished: datetime | None = None  # when it succeeded or failed, if known
    deleting: bool = False  # deletionTimestamp is set
    tracked: bool = False  # still carries the jobsched.io/tracking finalizer
    node: str = ""  # a Pod's spec.nodeName, once bound
    started: bool = False  # a Pod's containers ran (a kubelet reported it Running or finished)

    @property
    def done(self) -> bool:
        return self.state is not RunState.ACTIVE


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from the API (…Z), or None when missing or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _base(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    meta = _meta(obj)
    labels = meta.get("labels") or {}
    entry_label = labels.get(ENTRY_LABEL)
    if not entry_label or not meta.get("name"):
        return None
    annotations = meta.get("annotations") or {}
    return {
        "namespace": str(meta.get("namespace", "")),
        "name": str(meta["name"]),
        "uid": str(meta.get("uid", "")),
        "entry_label": str(entry_label),
        "scheduled": parse_time(annotations.get(SCHEDULED_TIME_ANNOTATION)),
        "deleting": bool(meta.get("deletionTimestamp")),
    }


def owned_by_job(obj: Mapping[str, Any]) -> bool:
    """True for the pods a Job controller made (Job mode); the Job is the run, not its pods."""
    return any(ref.get("kind") == "Job" for ref in _meta(obj).get("ownerReferences") or [])


def run_from_pod(obj: Mapping[str, Any]) -> RunRecord | None:
    """The run a raw Pod stands for, or None if it is not a slot pod."""
    base = _base(obj)
    if base is None or owned_by_job(obj):
        return None
    status = obj.get("status") or {}
    phase = status.get("phase")
    state = {"Succeeded": RunState.SUCCEEDED, "Failed": RunState.FAILED}.get(str(phase), RunState.ACTIVE)
    finished = None
    if state is not RunState.ACTIVE:
        ends = [
            parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
            for cs in status.get("containerStatuses") or []
        ]
        known = [end for end in ends if end is not None]
        finished = max(known) if known else None
    tracked = TRACKING_FINALIZER in (_meta(obj).get("finalizers") or [])
    node = str((obj.get("spec") or {}).get("nodeName") or "")
    states = [(cs.get("state") or {}).keys() for cs in status.get("containerStatuses") or []]
    started = phase in ("Running", "Succeeded", "Failed") or any(
        k & {"running", "terminated"} for k in states
    )
    return RunRecord(
        "Pod", state=state, finished=finished, tracked=tracked, node=node, started=started, **base
    )


def run_from_job(obj: Mapping[str, Any]) -> RunRecord | None:
    """The run a raw batch/v1 Job stands for, from its Complete / Failed conditions."""
    base = _base(obj)
    if base is None:
        return None
    status = obj.get("status") or {}
    state = RunState.ACTIVE
    finished = None
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            state = RunState.SUCCEEDED
        elif condition.get("type") == "Failed":
            state = RunState.FAILED
        else:
            continue
        finished = parse_time(status.get("completionTime")) or parse_time(condition.get("lastTransitionTime"))
    return RunRecord("Job", state=state, finished=finished, **base)
