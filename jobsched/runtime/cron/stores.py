"""What the cron engine knows of the cluster, kept current by the watches.

Plain in-memory indexes, fed on the event loop by the watches' handlers: the namespaces that opted in,
and the runs (Pods and Jobs) of every entry. Nothing here does I/O or parses tenant input, so a handler
never holds up a watch.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from jobsched.core.convert import PodRecord
from jobsched.core.cronjobclaims import AdoptedJob, adopted_job
from jobsched.core.cronruns import RunRecord, RunState, run_from_job, run_from_pod

Key = tuple[str, str]  # (namespace, name)

# How long a deleted object's UID is remembered: longer than any one request (30 s), so the reply to the
# create that made it cannot outlive the memory of its deletion.
GONE_FOR_S = 120.0


class RecentlyGone:
    """The UIDs the watch has shown deleted in the last `GONE_FOR_S`. A create's reply can be read
    after the watch has shown the object created and deleted; without this, remembering that reply
    would bring back a run that no longer exists, until the next relist."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._order: deque[tuple[float, str]] = deque()  # (when seen deleted, uid), oldest first
        self._uids: set[str] = set()

    def add(self, uid: str) -> None:
        now = self._clock()
        self._expire(now)
        if not uid or uid in self._uids:
            return
        self._order.append((now, uid))
        self._uids.add(uid)

    def __contains__(self, uid: str) -> bool:
        self._expire(self._clock())
        return uid in self._uids

    def __len__(self) -> int:
        return len(self._uids)

    def _expire(self, now: float) -> None:
        while self._order and now - self._order[0][0] >= GONE_FOR_S:
            self._uids.discard(self._order.popleft()[1])


class NamespaceStore:
    """The names of the namespaces that opted in (the watch's label selector does the filtering)."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self.enabled: set[str] = set()
        self.listed = False
        self._changed = changed

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.enabled = {str((item.get("metadata") or {}).get("name")) for item in items}
        self.listed = True
        self._changed()

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        if event_type == "DELETED":
            self.enabled.discard(name)
        else:
            self.enabled.add(name)
        self._changed()


class RunStore:
    """The runs of every entry, by (namespace, entry label), plus tracked pods awaiting the release of
    their finalizer (finished or being deleted, still carrying jobsched.io/tracking)."""

    def __init__(self) -> None:
        self.runs: dict[Key, dict[str, RunRecord]] = {}
        self.changed: set[Key] = set()  # (namespace, entry label) of groups changed since last drained
        self.failed: dict[str, RunRecord] = {}  # uid -> run, the runs that failed (a small index to sweep)
        self.to_release: dict[str, RunRecord] = {}  # uid -> run
        self.listed = False  # its watch has listed once
        self.gone = RecentlyGone()

    def clear(self) -> None:
        """Starts over from a (re)list."""
        self.changed |= self.runs.keys()
        self.runs = {}
        self.failed = {}
        self.to_release = {}
        self.listed = True

    def drain_changed(self) -> set[Key]:
        changed, self.changed = self.changed, set()
        return changed

    def put(self, run: RunRecord) -> None:
        self.runs.setdefault((run.namespace, run.entry_label), {})[run.name] = run
        self.changed.add((run.namespace, run.entry_label))
        if run.state is RunState.FAILED:
            self.failed[run.uid] = run
        else:
            self.failed.pop(run.uid, None)
        if run.tracked and (run.done or run.deleting):
            self.to_release[run.uid] = run
        else:
            self.to_release.pop(run.uid, None)

    def remove(self, run: RunRecord) -> None:
        self.changed.add((run.namespace, run.entry_label))
        self.failed.pop(run.uid, None)
        group = self.runs.get((run.namespace, run.entry_label))
        if group is not None:
            group.pop(run.name, None)
            if not group:
                del self.runs[run.namespace, run.entry_label]
        self.to_release.pop(run.uid, None)

    def change(self, event_type: str, run: RunRecord | None) -> None:
        """One watch event's run (None: not a slot object)."""
        if run is None:
            return
        if event_type == "DELETED":
            self.gone.add(run.uid)
            self.remove(run)
        else:
            self.put(run)

    def remember(self, run: RunRecord) -> None:
        """Adds a run this process just created, unless the watch already has a newer view: the run
        itself, or its deletion."""
        if run.uid not in self.gone and run.name not in self.of(run.namespace, run.entry_label):
            self.put(run)

    def of(self, namespace: str, entry_label: str) -> dict[str, RunRecord]:
        return self.runs.get((namespace, entry_label), {})

    def all(self) -> Iterator[RunRecord]:
        for group in self.runs.values():
            yield from group.values()


class PodRuns(RunStore):
    """The slot pods, from the process's one pod watch (records decoded once, shared). The pods of slot
    Jobs are not runs (the Job is), but when they appear is measured: `job_pod` hears of each."""

    def __init__(self, job_pod: Callable[[str, PodRecord], None] = lambda event, record: None) -> None:
        super().__init__()
        self._job_pod = job_pod

    def pods_replaced(self, records: list[PodRecord]) -> None:
        self.clear()
        for record in records:
            self.pod_changed("ADDED", record)

    def pod_changed(self, event_type: str, record: PodRecord) -> None:
        run = run_from_pod(record)
        if run is None:
            if record.owned_by_job and record.entry_label:
                self._job_pod(event_type, record)
            return
        self.change(event_type, run)


class JobRuns(RunStore):
    """The slot Jobs, from the Job watch; those of adopted CronJobs also by CronJob, as the hand-over
    reads them (`adopted`), with `touched` told which CronJob's Jobs changed."""

    def __init__(self, touched: Callable[[Key], None] = lambda key: None) -> None:
        super().__init__()
        self.adopted: dict[Key, dict[str, AdoptedJob]] = {}  # (namespace, cronjob) -> name -> Job
        self._touched = touched

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.clear()
        before = set(self.adopted)
        self.adopted = {}
        for item in items:
            self.apply("ADDED", item)
        for key in before - self.adopted.keys():
            self._touched(key)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        run = run_from_job(obj)
        if run is None:
            return
        self.change(event_type, run)
        job = adopted_job(obj)
        if job is not None:
            if event_type == "DELETED":
                self._forget(job)
            else:
                self.adopted.setdefault((job.namespace, job.cronjob), {})[job.name] = job
            self._touched((job.namespace, job.cronjob))

    def _forget(self, job: AdoptedJob) -> None:
        group = self.adopted.get((job.namespace, job.cronjob))
        if group is not None and group.get(job.name, job).uid == job.uid:
            group.pop(job.name, None)
            if not group:
                del self.adopted[job.namespace, job.cronjob]

    def adopted_of(self, namespace: str, cronjob: str) -> dict[str, AdoptedJob]:
        return self.adopted.get((namespace, cronjob), {})

    def remember_adopted(self, job: AdoptedJob) -> None:
        """Adds a Job this process just created, unless the watch already has it or has shown it deleted."""
        if job.uid in self.gone:
            return
        group = self.adopted.setdefault((job.namespace, job.cronjob), {})
        group.setdefault(job.name, job)
