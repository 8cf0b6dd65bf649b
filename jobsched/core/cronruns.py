"""A run of a cron entry (the Pod or Job created for one slot) as plain data, read from the API.

The cron engine decides concurrency, history pruning and status from the runs an entry has in the
cluster. Reducing each raw object to a small frozen record here keeps those decisions pure and
testable with tables, and means the engine never digs through JSON on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from jobsched.core.convert import PodRecord
from jobsched.core.naming import parse_time
from jobsched.core.vocabulary import ENTRY_LABEL, SCHEDULED_TIME_ANNOTATION


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
    # Read for failed pods only (what a re-run after a provider failure is decided on):
    reason: str = ""  # a Pod's status.reason (ProviderFailed: its provider refused it)
    containers_ran: bool = False  # a container status shows a container started
    chain: tuple[str, ...] | None = None  # a Pod's jobsched.io/domains annotation
    rerun_of: str = ""  # a Pod that re-runs its slot: the name of the pod that failed before starting

    @property
    def done(self) -> bool:
        return self.state is not RunState.ACTIVE


def run_from_pod(record: PodRecord) -> RunRecord | None:
    """The run a pod stands for, or None if it is not a slot pod (or one of a Job's pods: in Job mode
    the Job is the run)."""
    if not record.entry_label or not record.name or record.owned_by_job:
        return None
    state = _POD_STATES.get(record.phase, RunState.ACTIVE)
    failed = state is RunState.FAILED
    return RunRecord(
        "Pod",
        record.namespace,
        record.name,
        record.uid,
        record.entry_label,
        record.scheduled,
        state,
        finished=record.finished,
        deleting=record.deleting,
        tracked=record.tracked,
        node=record.node_name,
        started=record.started,
        reason=record.reason if failed else "",
        containers_ran=record.containers_ran if failed else False,
        chain=record.domain_chain if failed else None,
        rerun_of=record.rerun_of,
    )


_POD_STATES: Final = {"Succeeded": RunState.SUCCEEDED, "Failed": RunState.FAILED}


def job_state(obj: Mapping[str, Any]) -> tuple[RunState, datetime | None]:
    """A raw Job's state from its Complete / Failed conditions, and when it finished."""
    status = obj.get("status")
    status = status if isinstance(status, Mapping) else {}
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
    return state, finished


def run_from_job(obj: Mapping[str, Any]) -> RunRecord | None:
    """The run a raw batch/v1 Job stands for, from its Complete / Failed conditions."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    entry_label = (meta.get("labels") or {}).get(ENTRY_LABEL)
    if not entry_label or not meta.get("name"):
        return None
    annotations = meta.get("annotations") or {}
    state, finished = job_state(obj)
    return RunRecord(
        "Job",
        str(meta.get("namespace", "")),
        str(meta["name"]),
        str(meta.get("uid", "")),
        str(entry_label),
        parse_time(annotations.get(SCHEDULED_TIME_ANNOTATION)),
        state,
        finished=finished,
        deleting=bool(meta.get("deletionTimestamp")),
    )
