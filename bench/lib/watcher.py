"""What the harness sees of each pod, and when: the source of every latency it reports.

Kubernetes timestamps have one-second resolution and come from several processes' clocks, so the
harness keeps its own: one watch on the system's namespace, and for each pod the monotonic arrival
time of the first event showing it at all (created), with spec.nodeName (bound) and running (phase
Running or Succeeded, or Failed after a container started). A pod that failed before any container
started (a provider refused it: reason ProviderFailed) is `refused`: it never ran its slot, so it is
neither a run nor a duplicate; a pod annotated jobsched.io/rerun-of is a re-run of such a slot. The
watcher also keeps what identifies the pod's cron slot, so duplicates (two pods for one slot that
were not refused) and missed slots can be counted afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from jobsched.core.convert import container_ran
from jobsched.core.vocabulary import ENTRY_LABEL, RERUN_OF_ANNOTATION, SCHEDULED_TIME_ANNOTATION

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
RAN_PHASES = frozenset({"Running", "Succeeded"})
STATUS_LISTS = ("initContainerStatuses", "containerStatuses")


@dataclass
class PodRecord:
    name: str
    entry: str  # the cron entry (or CronJob) the pod belongs to
    slot: str  # the entry plus its scheduled time: two pods with one slot are a duplicate
    created: float  # monotonic arrival times; bound/running are None until seen
    bound: float | None = None
    running: float | None = None
    node: str = ""
    refused: bool = False  # failed before any container started (never ran its slot)
    rerun: bool = False  # runs its slot again after such a failure (jobsched.io/rerun-of)


def slot_of(pod: dict[str, Any]) -> tuple[str, str]:
    """(entry, slot) for a pod made by jobsched, by the raw system or by a native CronJob's Job.

    jobsched's pods carry the entry label and the scheduled-time annotation. A native pod carries
    its Job's name, which the CronJob controller derives from the CronJob's name and the scheduled
    minute ("<cronjob>-<minutes since epoch>").
    """
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    name = str(meta.get("name", ""))
    if ENTRY_LABEL in labels:
        entry = str(labels[ENTRY_LABEL])
        return entry, f"{entry}@{annotations.get(SCHEDULED_TIME_ANNOTATION, '')}"
    for key in JOB_NAME_LABELS:
        if key in labels:
            job = str(labels[key])
            return job.rsplit("-", 1)[0], job
    return name, name


class PodWatcher:
    """An informer handler (replace/apply) recording first-seen times; cheap enough for a storm."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.pods: dict[str, PodRecord] = {}  # by uid

    def replace(self, items: list[dict[str, Any]]) -> None:
        # A relist only adds what we had not seen; first-seen times of known pods stay as they were.
        for pod in items:
            self.apply("ADDED", pod)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            return  # deleted pods still count: they were created, maybe bound
        now = self._clock()
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        record = self.pods.get(uid)
        if record is None:
            entry, slot = slot_of(obj)
            record = PodRecord(str(meta.get("name", "")), entry, slot, created=now)
            record.rerun = RERUN_OF_ANNOTATION in (meta.get("annotations") or {})
            self.pods[uid] = record
        node = (obj.get("spec") or {}).get("nodeName")
        if node and record.bound is None:
            record.bound = now
            record.node = str(node)
        status = obj.get("status") or {}
        phase = status.get("phase")
        if record.running is None and (phase in RAN_PHASES or phase == "Failed"):
            ran = phase in RAN_PHASES or any(
                container_ran(cs) for k in STATUS_LISTS for cs in status.get(k) or ()
            )
            if ran:
                record.running = now
                if record.bound is None:  # never happens on a watch, but keep bound <= running
                    record.bound = now
            else:
                record.refused = True

    def counts(self) -> tuple[int, int, int]:
        """(created, bound, running) pods so far, for the progress line."""
        bound = running = 0
        for record in self.pods.values():
            bound += record.bound is not None
            running += record.running is not None
        return len(self.pods), bound, running

    def bound_entries(self) -> int:
        """Entries with a bound pod that was not refused."""
        return len({r.entry for r in self.pods.values() if r.bound is not None and not r.refused})

    def waiting_to_run(self) -> int:
        """Bound pods neither running nor refused yet."""
        return sum(r.bound is not None and r.running is None and not r.refused for r in self.pods.values())

    def refused(self) -> int:
        return sum(r.refused for r in self.pods.values())

    def records(self) -> list[PodRecord]:
        return list(self.pods.values())
