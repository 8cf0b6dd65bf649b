"""The hand-over of an adopted CronJob's slots between jobsched and the native CronJob controller, as pure
functions: what a CronJob's status and jobsched's Jobs say, and which writes follow.

Per slot T jobsched writes, before T: the Job (P1, under the native name, its ownerReference not yet the
controller), then the claim (P2: the Job added to `status.active` and `lastScheduleTime: T`, in one
write conditional on the CronJob's resourceVersion), then the ownerReference made the controller (P3).
The native controller skips a slot whose Job is in `active` or whose time is `lastScheduleTime`, so after
P2 it treats T as fired; after P3 it keeps the Job's books as for its own (completion, history). Whoever
creates a slot's Job second gets AlreadyExists, so a slot never gets two. docs/cronjob-migration.md has
the whole protocol and its races; `pending_steps` is what a restarted jobsched (or the periodic check)
finds still to do.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import EntryStatus
from jobsched.core.cronruns import RunState, job_state
from jobsched.core.cronslots import slots_between
from jobsched.core.naming import parse_time, rfc3339
from jobsched.core.podbuild import adjusted_deadline
from jobsched.core.vocabulary import PREVIOUS_SCHEDULE_ANNOTATION, SCHEDULED_TIME_ANNOTATION

_EMPTY: Mapping[str, Any] = {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


@dataclass(frozen=True, slots=True)
class CronJobState:
    """What the hand-over reads of a CronJob: its identity, whether it is suspended, and its status."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    created: datetime | None
    suspended: bool
    active: tuple[Mapping[str, Any], ...]  # status.active as stored: written back unchanged
    last_schedule_time: datetime | None
    last_successful_time: datetime | None

    @property
    def active_uids(self) -> frozenset[str]:
        return frozenset(str(ref.get("uid", "")) for ref in self.active)

    def entry_status(self) -> EntryStatus:
        """The status the planner reads for the entry; creationTimestamp plays trackedSince's part."""
        names = tuple(sorted(str(ref.get("name", "")) for ref in self.active))
        return EntryStatus(self.last_schedule_time, self.last_successful_time, names, self.created)


def cronjob_state(obj: Mapping[str, Any]) -> CronJobState:
    meta, spec, status = (_mapping(obj.get(k)) for k in ("metadata", "spec", "status"))
    active = tuple(ref for ref in status.get("active") or () if isinstance(ref, Mapping))
    return CronJobState(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        created=parse_time(meta.get("creationTimestamp")),
        suspended=spec.get("suspend") is True,
        active=active,
        last_schedule_time=parse_time(status.get("lastScheduleTime")),
        last_successful_time=parse_time(status.get("lastSuccessfulTime")),
    )


@dataclass(frozen=True, slots=True)
class AdoptedJob:
    """A Job jobsched created for an adopted CronJob's slot (it carries jobsched's slot annotation and an
    ownerReference to the CronJob)."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    cronjob: str
    cronjob_uid: str
    slot: datetime
    controller: bool  # the ownerReference is the controller one (P3 done)
    state: RunState
    deleting: bool
    started: datetime | None  # status.startTime: the Job controller's first sync
    deadline_s: int | None  # spec.activeDeadlineSeconds
    previous: datetime | None  # the CronJob's lastScheduleTime before this slot was claimed

    @property
    def ref(self) -> dict[str, str]:
        """The `status.active` entry for this Job, as the native controller writes one (ref.GetReference)."""
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": self.resource_version,
        }

    @property
    def running(self) -> bool:
        return self.state is RunState.ACTIVE and not self.deleting


def adopted_job(obj: Mapping[str, Any]) -> AdoptedJob | None:
    """The adopted-CronJob Job a raw Job is, or None (a ConfigMap entry's Job, a native Job)."""
    meta = _mapping(obj.get("metadata"))
    annotations = _mapping(meta.get("annotations"))
    slot = parse_time(annotations.get(SCHEDULED_TIME_ANNOTATION))
    owner = next((r for r in meta.get("ownerReferences") or () if _mapping(r).get("kind") == "CronJob"), None)
    if slot is None or owner is None or PREVIOUS_SCHEDULE_ANNOTATION not in annotations:
        return None
    deadline = _mapping(obj.get("spec")).get("activeDeadlineSeconds")
    state, _ = job_state(obj)
    return AdoptedJob(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        cronjob=str(owner.get("name", "")),
        cronjob_uid=str(owner.get("uid", "")),
        slot=slot,
        controller=owner.get("controller") is True,
        state=state,
        deleting=bool(meta.get("deletionTimestamp")),
        started=parse_time(_mapping(obj.get("status")).get("startTime")),
        deadline_s=deadline if isinstance(deadline, int) and not isinstance(deadline, bool) else None,
        previous=parse_time(annotations.get(PREVIOUS_SCHEDULE_ANNOTATION)),
    )


# --- the writes -----------------------------------------------------------------------------------


def _status_patch(
    state: CronJobState, active: list[Mapping[str, Any]], last: datetime | None
) -> dict[str, Any]:
    """A JSON merge patch of the status subresource, conditional on the resourceVersion it was computed
    from (without one, a CronJob status update is unconditional and could undo a native write)."""
    return {
        "metadata": {"resourceVersion": state.resource_version},
        "status": {
            "active": [dict(ref) for ref in active],
            "lastScheduleTime": rfc3339(last) if last else None,
        },
    }


def claim_patch(state: CronJobState, job: AdoptedJob) -> dict[str, Any] | None:
    """P2: the Job in `active` (while it runs) and `lastScheduleTime` at its slot, in one write; None when
    the CronJob already shows both (the claim is done)."""
    listed = job.uid in state.active_uids
    last = state.last_schedule_time
    if (listed or not job.running) and last is not None and last >= job.slot:
        return None
    active = list(state.active)
    if job.running and not listed:
        active.append(job.ref)
    return _status_patch(state, active, job.slot if last is None or last < job.slot else last)


def release_patch(state: CronJobState, job: AdoptedJob) -> dict[str, Any] | None:
    """Undoes a claim whose slot was called off before it fired: the Job out of `active`, and
    `lastScheduleTime` back to what it was before (as the Job recorded), unless a later slot moved it."""
    active = [ref for ref in state.active if str(ref.get("uid", "")) != job.uid]
    last = state.last_schedule_time
    if last == job.slot:
        last = job.previous
    if len(active) == len(state.active) and last == state.last_schedule_time:
        return None
    return _status_patch(state, active, last)


def own_patch(job: AdoptedJob) -> list[dict[str, Any]]:
    """P3: a JSON patch that makes the CronJob the Job's controller, only if the reference is still the
    one jobsched wrote (the test ops fail the patch otherwise)."""
    path = "/metadata/ownerReferences/0"
    return [
        {"op": "test", "path": "/metadata/uid", "value": job.uid},
        {"op": "test", "path": f"{path}/uid", "value": job.cronjob_uid},
        {"op": "test", "path": f"{path}/controller", "value": False},
        {"op": "replace", "path": f"{path}/controller", "value": True},
    ]


# --- concurrencyPolicy ------------------------------------------------------------------------------


def forbid_blocks(state: CronJobState, jobs: Iterable[AdoptedJob], slot: datetime) -> bool:
    """Whether Forbid keeps `slot` from starting: an earlier Job still runs. A Job in `active` that
    jobsched knows has finished does not count (the native controller drops it from `active` before it
    looks, too); one it does not know (the native controller's own) is taken to be running."""
    mine = {job.uid: job for job in jobs}
    for uid in state.active_uids:
        job = mine.get(uid)
        if job is None or (job.running and job.slot < slot):
            return True
    return any(job.running and job.slot < slot for job in mine.values())


def replace_candidates(
    state: CronJobState, jobs: Iterable[AdoptedJob], now: datetime
) -> list[Mapping[str, Any]]:
    """Replace: once jobsched's Job for the newest claimed slot has fired, the other Jobs in `active`
    (which the native controller would have deleted before creating it). Those jobsched knows to have
    finished are left out; the caller reads the others before deleting them."""
    newest = state.last_schedule_time
    mine = {job.uid: job for job in jobs}
    current = next((j for j in mine.values() if j.slot == newest and j.running), None)
    if newest is None or current is None or now < newest or current.uid not in state.active_uids:
        return []
    return [
        ref
        for ref in state.active
        if (uid := str(ref.get("uid", ""))) != current.uid and (uid not in mine or mine[uid].running)
    ]


# --- what is left to do -----------------------------------------------------------------------------


class Step(enum.Enum):
    CLAIM = "claim"  # P2 (urgent: the native controller must see it before the slot)
    CANCEL = "cancel"  # delete a pre-staged Job whose slot was called off, release its claim (urgent)
    OWN = "own"  # P3
    DEADLINE = "deadline"  # set activeDeadlineSeconds to count from the slot


URGENT = frozenset({Step.CLAIM, Step.CANCEL})


@dataclass(frozen=True, slots=True)
class Pending:
    step: Step
    job: AdoptedJob
    value: int | None = None  # DEADLINE: the activeDeadlineSeconds to set


def still_a_slot(entry: CronEntry, slot: datetime) -> bool:
    return slot in slots_between(entry, slot - timedelta(minutes=1), slot)


def pending_steps(
    state: CronJobState, jobs: Iterable[AdoptedJob], entry: CronEntry | None, now: datetime
) -> list[Pending]:
    """The writes still owed for jobsched's Jobs of one CronJob, given its status now. `entry` is the
    CronJob's entry while jobsched manages it, None once handed back (then a pre-staged Job still fires:
    jobsched finishes what it started, unless the CronJob was suspended)."""
    steps: list[Pending] = []
    for job in jobs:
        if job.deleting or job.cronjob_uid != state.uid:
            continue
        if job.slot > now and job.running:
            called_off = state.suspended or (
                entry is not None and (entry.suspend or not still_a_slot(entry, job.slot))
            )
            if called_off:
                steps.append(Pending(Step.CANCEL, job))
                continue
        if claim_patch(state, job) is not None:
            steps.append(Pending(Step.CLAIM, job))
            continue
        if not job.controller:
            steps.append(Pending(Step.OWN, job))
        if entry is not None and job.running and job.started is not None and job.deadline_s is not None:
            wanted = adjusted_deadline(entry, job.slot, job.started)
            if wanted is not None and wanted != job.deadline_s and now >= job.slot:
                steps.append(Pending(Step.DEADLINE, job, wanted))
    return steps
